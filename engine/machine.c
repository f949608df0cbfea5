/*
 * ringside — the machine: guest RAM laid out by the address plan in
 * machine.h, port-I/O and MMIO address maps, the PCI host bridge with
 * configuration mechanism #1, the interrupt sink, and the list of parts torn
 * down with it.
 *
 * machine_pio_* and machine_mmio_* are the hot path of every fuzz run: one
 * size check, one binary search, one indirect call. Everything unusual
 * (unmapped ports, bad sizes) leaves through a cold helper.
 */
#include <errno.h>
#include <string.h>

#include "ringside/machine.h"

/* PCI configuration mechanism #1 (PCI Local Bus 3.0, 3.2.2.3.2). */
#define CONF1_ADDR_PORT 0xcf8u
#define CONF1_DATA_PORT 0xcfcu
#define CONF1_ENABLE 0x80000000u
#define CONF1_BUS_SHIFT 16
#define CONF1_DEV_SHIFT 11
#define CONF1_FN_SHIFT 8
/* Writable bits of CONFIG_ADDRESS: enable, bus, device, function, register
 * 7:2. Bits 30:24 are reserved and bits 1:0 read back as 0. */
#define CONF1_ADDR_MASK 0x80fffffcu

#define PCI_CFG_SPACE 256u

/* Host bridge identity: an Intel 440FX, as QEMU's and most VMMs' pc machine. */
#define HOSTBRIDGE_VENDOR 0x8086u
#define HOSTBRIDGE_DEVICE 0x1237u
#define HOSTBRIDGE_CLASS 0x0600u /* bridge / host bridge */

/* All-ones of an access size (1, 2, 4 or 8 bytes; others give all 64 bits). */
static inline uint64_t ones(unsigned size)
{
	return size >= 8 ? UINT64_MAX : (1ull << (size * 8)) - 1;
}

/* Report an access nobody handles. Cold: fuzzers hit it, but rarely matters. */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((cold, noinline))
#endif
static void unmapped(struct machine *m, const char *what, uint64_t addr, unsigned size)
{
	diag_report(&m->log, DIAG_IO_UNMAPPED, "%s of %u byte(s) at 0x%llx: no device there", what,
		    size, (unsigned long long)addr);
}

/* ---- interrupt sink ---------------------------------------------------- */

/* Default sink: keep INTx levels and count 0->1 edges. ctx is the machine. */
static void default_set_level(void *ctx, unsigned gsi, bool level)
{
	struct machine *m = ctx;
	uint32_t bit = 1u << gsi;

	if (level) {
		if (!(m->intx_level & bit))
			m->intx_raised++;
		m->intx_level |= bit;
	} else {
		m->intx_level &= ~bit;
	}
}

/* Default sink: count MSI messages and keep the last MACHINE_MSI_LOG. */
static void default_msi(void *ctx, uint64_t addr, uint32_t data)
{
	struct machine *m = ctx;
	struct machine_msi *e = &m->msi_log[m->msi_count % MACHINE_MSI_LOG];

	e->addr = addr;
	e->data = data;
	m->msi_count++;
}

static const struct irq_sink_ops default_sink = {
	.set_level = default_set_level,
	.msi = default_msi,
};

/*
 * Install an interrupt sink; ops NULL restores the default sink (which
 * records into m). Levels already recorded by the default sink are kept.
 */
void machine_set_irq_sink(struct machine *m, const struct irq_sink_ops *ops, void *ctx)
{
	if (!ops) {
		ops = &default_sink;
		ctx = m;
	}
	m->irq = ops;
	m->irq_ctx = ctx;
}

/* Drive INTx line gsi. A gsi outside the interrupt plan is a host-side bug
 * (the spec parser and transports bound it): reported and ignored.
 * Lines are level-triggered and shared (wired-OR, as PCI INTx is): each
 * source calls only when its own level changes, the machine counts the
 * sources holding a line high, and the sink sees the line's level change
 * only when the first source raises it or the last one lowers it. */
void machine_set_intx(struct machine *m, unsigned gsi, bool level)
{
	if (gsi >= MACHINE_GSI_COUNT) {
		diag_report(&m->log, DIAG_DEVICE_ERROR, "INTx on GSI %u, only %u exist", gsi,
			    MACHINE_GSI_COUNT);
		return;
	}
	if (level) {
		if (m->intx_sources[gsi]++ != 0)
			return;
	} else {
		if (m->intx_sources[gsi] == 0) {
			diag_report(&m->log, DIAG_DEVICE_ERROR,
				    "INTx GSI %u lowered by a source that did not raise it", gsi);
			return;
		}
		if (--m->intx_sources[gsi] != 0)
			return;
	}
	if (m->irq->set_level)
		m->irq->set_level(m->irq_ctx, gsi, level);
}

/* Deliver one MSI message (address/data as the device's MSI-X table holds). */
void machine_msi(struct machine *m, uint64_t addr, uint32_t data)
{
	if (m->irq->msi)
		m->irq->msi(m->irq_ctx, addr, data);
}

/* ---- PCI ---------------------------------------------------------------- */

/* Host bridge config space: IDs and class, everything else 0, read-only. */
static uint32_t hostbridge_cfg_read(void *ctx, unsigned off, unsigned size)
{
	uint32_t dw;

	switch (off & ~3u) {
	case 0x00:
		dw = HOSTBRIDGE_DEVICE << 16 | HOSTBRIDGE_VENDOR;
		break;
	case 0x08: /* class code 23:8 (class, subclass, prog-if 0), revision 0 */
		dw = (uint32_t)HOSTBRIDGE_CLASS << 16;
		break;
	default: /* command, status, header type 0, no BARs, no capabilities */
		dw = 0;
		break;
	}
	return (uint32_t)((dw >> ((off & 3) * 8)) & ones(size));
}

/* Writes to the host bridge are dropped, as to the read-only registers of
 * any device (BAR sizing by a guest writes here too: it is not an error). */
static void hostbridge_cfg_write(void *ctx, unsigned off, unsigned size, uint32_t val)
{
}

static const struct pci_dev_ops hostbridge_ops = {
	.cfg_read = hostbridge_cfg_read,
	.cfg_write = hostbridge_cfg_write,
};

/* Check a config access. Returns the device ops of slot, or NULL when the
 * access is malformed (reported as DIAG_PCI_CFG) or the slot is empty. */
static const struct pci_dev_ops *pci_cfg_target(struct machine *m, unsigned slot, unsigned off,
						 unsigned size, const char *what)
{
	if ((size != 1 && size != 2 && size != 4) || off >= PCI_CFG_SPACE ||
	    (off & 3) + size > 4) {
		diag_report(&m->log, DIAG_PCI_CFG,
			    "config %s of %u byte(s) at 0x%x: not within one dword of the "
			    "256-byte space",
			    what, size, off);
		return NULL;
	}
	if (slot >= MACHINE_PCI_SLOTS) {
		diag_report(&m->log, DIAG_PCI_CFG, "config %s of slot %u: bus 0 has %u slots",
			    what, slot, MACHINE_PCI_SLOTS);
		return NULL;
	}
	return m->pci[slot].ops;
}

/*
 * Config read as conf1 does it: size 1, 2 or 4 within one dword of the
 * 256-byte space (else DIAG_PCI_CFG and all-ones). An empty slot reads
 * all-ones, as an absent device on a real bus (the guest probes this way).
 * A 2-byte access at byte 1 of a dword reaches the device as two byte
 * accesses, keeping the device's naturally-aligned contract.
 */
uint32_t machine_pci_cfg_read(struct machine *m, unsigned slot, unsigned off, unsigned size)
{
	const struct pci_dev_ops *ops = pci_cfg_target(m, slot, off, size, "read");
	void *ctx;

	if (!ops)
		return (uint32_t)ones(size);
	ctx = m->pci[slot].ctx;
	if (off % size == 0)
		return ops->cfg_read(ctx, off, size) & (uint32_t)ones(size);
	/* only size 2 at off % 4 == 1 is left */
	return (ops->cfg_read(ctx, off, 1) & 0xff) | (ops->cfg_read(ctx, off + 1, 1) & 0xff) << 8;
}

/* Config write; same checks as machine_pci_cfg_read. Writes to an empty
 * slot or a malformed access are dropped. */
void machine_pci_cfg_write(struct machine *m, unsigned slot, unsigned off, unsigned size,
			   uint32_t val)
{
	const struct pci_dev_ops *ops = pci_cfg_target(m, slot, off, size, "write");
	void *ctx;

	if (!ops)
		return;
	ctx = m->pci[slot].ctx;
	val &= (uint32_t)ones(size);
	if (off % size == 0) {
		ops->cfg_write(ctx, off, size, val);
		return;
	}
	ops->cfg_write(ctx, off, 1, val & 0xff);
	ops->cfg_write(ctx, off + 1, 1, val >> 8);
}

/*
 * Put a PCI function in slot 1..31, or the lowest free one when slot < 0.
 * Returns the slot; -EINVAL (slot 0 is the host bridge, slot > 31, ops or
 * one of its callbacks NULL); -EEXIST (slot taken); -ENOSPC (no free slot).
 */
int machine_pci_add(struct machine *m, int slot, const struct pci_dev_ops *ops, void *ctx)
{
	if (!ops || !ops->cfg_read || !ops->cfg_write || slot == 0 ||
	    slot >= MACHINE_PCI_SLOTS)
		return -EINVAL;
	if (slot < 0) {
		for (slot = 1; slot < MACHINE_PCI_SLOTS; slot++)
			if (!m->pci[slot].ops)
				break;
		if (slot == MACHINE_PCI_SLOTS)
			return -ENOSPC;
	} else if (m->pci[slot].ops) {
		return -EEXIST;
	}
	m->pci[slot].ops = ops;
	m->pci[slot].ctx = ctx;
	return slot;
}

/* Empty slot (1..31) again if ctx is in it (a transport undoing a failed
 * create). Returns 0 or -ENOENT. */
int machine_pci_remove(struct machine *m, unsigned slot, void *ctx)
{
	if (slot == 0 || slot >= MACHINE_PCI_SLOTS || !m->pci[slot].ops || m->pci[slot].ctx != ctx)
		return -ENOENT;
	m->pci[slot].ops = NULL;
	m->pci[slot].ctx = NULL;
	return 0;
}

/* ---- conf1 ports -------------------------------------------------------- */

/* 0xCF8..0xCFB. Only a 4-byte access at 0xCF8 reaches CONFIG_ADDRESS; any
 * other access there is "an ordinary I/O transaction" (PCI Local Bus 3.0,
 * 3.2.2.3.2) that nothing else on our bus claims: unmapped. */
static uint64_t conf1_addr_read(void *ctx, uint64_t off, unsigned size)
{
	struct machine *m = ctx;

	if (off != 0 || size != 4) {
		unmapped(m, "pio read", CONF1_ADDR_PORT + off, size);
		return ones(size);
	}
	return m->conf1_addr;
}

static void conf1_addr_write(void *ctx, uint64_t off, unsigned size, uint64_t val)
{
	struct machine *m = ctx;

	if (off != 0 || size != 4) {
		unmapped(m, "pio write", CONF1_ADDR_PORT + off, size);
		return;
	}
	m->conf1_addr = (uint32_t)val & CONF1_ADDR_MASK;
}

/* Decode CONFIG_ADDRESS for a data port access at byte off (0..3). Returns
 * the slot, or -1 when the cycle reaches no function (bus or function not 0:
 * nothing there, as on a one-bus, single-function machine). *reg receives
 * the config offset. Without the enable bit, the data ports are ordinary
 * I/O ports: -2. */
static int conf1_decode(const struct machine *m, uint64_t off, unsigned *reg)
{
	uint32_t a = m->conf1_addr;

	if (!(a & CONF1_ENABLE))
		return -2;
	*reg = (a & 0xfcu) | (unsigned)off;
	if (((a >> CONF1_BUS_SHIFT) & 0xff) != 0 || ((a >> CONF1_FN_SHIFT) & 7) != 0)
		return -1;
	return (int)((a >> CONF1_DEV_SHIFT) & 0x1f);
}

/* 0xCFC..0xCFF: CONFIG_DATA, byte off of the selected dword. */
static uint64_t conf1_data_read(void *ctx, uint64_t off, unsigned size)
{
	struct machine *m = ctx;
	unsigned reg = 0;
	int slot = conf1_decode(m, off, &reg);

	if (slot == -2) {
		unmapped(m, "pio read (conf1 disabled)", CONF1_DATA_PORT + off, size);
		return ones(size);
	}
	if (slot < 0)
		return ones(size);
	return machine_pci_cfg_read(m, (unsigned)slot, reg, size);
}

static void conf1_data_write(void *ctx, uint64_t off, unsigned size, uint64_t val)
{
	struct machine *m = ctx;
	unsigned reg = 0;
	int slot = conf1_decode(m, off, &reg);

	if (slot == -2) {
		unmapped(m, "pio write (conf1 disabled)", CONF1_DATA_PORT + off, size);
		return;
	}
	if (slot >= 0)
		machine_pci_cfg_write(m, (unsigned)slot, reg, size, (uint32_t)val);
}

static const struct io_ops conf1_addr_ops = {
	.read = conf1_addr_read,
	.write = conf1_addr_write,
};

static const struct io_ops conf1_data_ops = {
	.read = conf1_data_read,
	.write = conf1_data_write,
};

/* ---- address maps ------------------------------------------------------- */

/* Port ranges must lie inside the 64 KiB port space. */
int machine_map_pio(struct machine *m, uint64_t base, uint64_t len, const struct io_ops *ops,
		    void *ctx, const char *name)
{
	if (!rs_range_within(base, len, 0, 0x10000))
		return -EINVAL;
	return io_map_add(&m->pio, base, len, ops, ctx, name);
}

int machine_map_mmio(struct machine *m, uint64_t base, uint64_t len, const struct io_ops *ops,
		     void *ctx, const char *name)
{
	return io_map_add(&m->mmio, base, len, ops, ctx, name);
}

int machine_unmap_pio(struct machine *m, uint64_t base, void *ctx)
{
	return io_map_remove(&m->pio, base, ctx);
}

int machine_unmap_mmio(struct machine *m, uint64_t base, void *ctx)
{
	return io_map_remove(&m->mmio, base, ctx);
}

/* ---- entry points ------------------------------------------------------- */

/* size is 1, 2 or 4 (bits 1, 2, 4 of 0x16) */
static inline bool pio_size_ok(unsigned size)
{
	return size <= 4 && ((0x16u >> size) & 1);
}

/* size is 1, 2, 4 or 8 (bits 1, 2, 4, 8 of 0x116) */
static inline bool mmio_size_ok(unsigned size)
{
	return size <= 8 && ((0x116u >> size) & 1);
}

/* One access through map: find the range wholly holding it and call its
 * handler. size_ok says the size is one the bus carries. Reads of nothing
 * (no range, bad size, no handler) give all-ones; unhandled writes drop. */
static inline uint64_t map_access(struct machine *m, const struct io_map *map, bool size_ok,
				  bool write, uint64_t addr, unsigned size, uint64_t val,
				  const char *what)
{
	const struct io_range *r = size_ok ? io_map_find(map, addr, size) : NULL;

	if (RS_UNLIKELY(!r)) {
		unmapped(m, what, addr, size);
		return ones(size);
	}
	if (write) {
		if (r->ops->write)
			r->ops->write(r->ctx, addr - r->base, size, val & ones(size));
		return 0;
	}
	if (!r->ops->read)
		return ones(size);
	return r->ops->read(r->ctx, addr - r->base, size) & ones(size);
}

uint64_t machine_pio_read(struct machine *m, uint16_t port, unsigned size)
{
	return map_access(m, &m->pio, pio_size_ok(size), false, port, size, 0, "pio read");
}

void machine_pio_write(struct machine *m, uint16_t port, unsigned size, uint64_t val)
{
	map_access(m, &m->pio, pio_size_ok(size), true, port, size, val, "pio write");
}

uint64_t machine_mmio_read(struct machine *m, uint64_t gpa, unsigned size)
{
	return map_access(m, &m->mmio, mmio_size_ok(size), false, gpa, size, 0, "mmio read");
}

void machine_mmio_write(struct machine *m, uint64_t gpa, unsigned size, uint64_t val)
{
	map_access(m, &m->mmio, mmio_size_ok(size), true, gpa, size, val, "mmio write");
}

/* ---- allocators --------------------------------------------------------- */

/* Naturally aligned power-of-two block from [*next, end). Returns its base
 * and advances *next, or 0 (and *next unchanged) when it does not fit. */
static uint64_t window_alloc(uint64_t *next, uint64_t end, uint64_t size)
{
	uint64_t base;

	if (!rs_is_pow2(size) || size > end || *next > end)
		return 0;
	base = (*next + (size - 1)) & ~(size - 1); /* no wrap: *next, size <= end <= 2^32 */
	if (base > end || size > end - base)
		return 0;
	*next = base + size;
	return base;
}

uint64_t machine_alloc_pci_mem(struct machine *m, uint64_t size)
{
	return window_alloc(&m->pci_mem_next, MACHINE_PCI_MEM_END, size);
}

uint32_t machine_alloc_pci_io(struct machine *m, uint32_t size)
{
	uint64_t next = m->pci_io_next;
	uint64_t base = window_alloc(&next, MACHINE_PCI_IO_END, size);

	m->pci_io_next = (uint32_t)next;
	return (uint32_t)base;
}

/* True when some mmio range overlaps [base, base + len) (len > 0, no wrap). */
static bool mmio_busy(const struct machine *m, uint64_t base, uint64_t len)
{
	for (unsigned i = 0; i < m->mmio.n && m->mmio.r[i].base < base + len; i++) {
		const struct io_range *r = &m->mmio.r[i];

		if (r->base + (r->len - 1) >= base)
			return true;
	}
	return false;
}

/*
 * Lowest MACHINE_VMMIO_STRIDE slot of the virtio-mmio window at or above
 * m->vmmio_next that no mmio range touches; vmmio_next moves past it.
 * Returns its base, or 0 when the window is full.
 */
uint64_t machine_alloc_vmmio(struct machine *m)
{
	for (uint64_t b = m->vmmio_next; b + MACHINE_VMMIO_STRIDE <= MACHINE_VMMIO_END;
	     b += MACHINE_VMMIO_STRIDE) {
		if (!mmio_busy(m, b, MACHINE_VMMIO_STRIDE)) {
			m->vmmio_next = b + MACHINE_VMMIO_STRIDE;
			return b;
		}
	}
	return 0;
}

/* ---- life cycle --------------------------------------------------------- */

int machine_add_part_reset(struct machine *m, void (*destroy)(void *), int (*reset)(void *),
			   void *ctx)
{
	if (!destroy)
		return -EINVAL;
	if (m->nparts >= RS_ARRAY_SIZE(m->parts))
		return -ENOSPC;
	m->parts[m->nparts].destroy = destroy;
	m->parts[m->nparts].reset = reset;
	m->parts[m->nparts].ctx = ctx;
	m->nparts++;
	return 0;
}

int machine_add_part(struct machine *m, void (*destroy)(void *), void *ctx)
{
	return machine_add_part_reset(m, destroy, NULL, ctx);
}

_Static_assert(MACHINE_MAX_DEVICES * 2 <= 64, "machine_reset keeps one bit per part");

/*
 * Just-built state again (see machine.h). Parts first, oldest first (a
 * device before its transport, as they were created): their hooks lower the
 * interrupt lines they hold through machine_set_intx, so the sink sees every
 * line go low before the recorded state is cleared below.
 */
void machine_reset(struct machine *m)
{
	uint64_t used_msi = RS_MIN(m->msi_count, (uint64_t)MACHINE_MSI_LOG);
	uint64_t again = 0; /* bit per part that asked for a second call */

	for (unsigned i = 0; i < m->nparts; i++)
		if (m->parts[i].reset && m->parts[i].reset(m->parts[i].ctx) > 0)
			again |= 1ull << i;
	for (unsigned i = 0; again && i < m->nparts; i++)
		if (again >> i & 1)
			(void)m->parts[i].reset(m->parts[i].ctx);
	gm_dirty_reset(&m->gm);
	memset(&m->gm.stats, 0, sizeof(m->gm.stats));
	m->conf1_addr = 0;
	memset(m->intx_sources, 0, sizeof(m->intx_sources));
	m->intx_level = 0;
	m->intx_raised = 0;
	/* the log is a ring: the first used_msi slots are the ones ever written */
	memset(m->msi_log, 0, (size_t)used_msi * sizeof(m->msi_log[0]));
	m->msi_count = 0;
	diag_clear(&m->log);
}

int machine_init(struct machine *m, uint64_t mem)
{
	uint64_t low;
	int err;

	memset(m, 0, sizeof(*m));
	if (mem == 0 || mem % GM_PAGE_SIZE != 0 || mem > MACHINE_MEM_MAX)
		return -EINVAL;
	diag_init(&m->log, "machine");
	gm_init(&m->gm);
	m->gm.log = &m->log;
	m->mem_size = mem;

	low = RS_MIN(mem, MACHINE_RAM_LOW_MAX);
	err = gm_add_ram(&m->gm, 0, low, NULL, "ram-low");
	if (!err && mem > low)
		err = gm_add_ram(&m->gm, MACHINE_RAM_HIGH_BASE, mem - low, NULL, "ram-high");
	if (!err)
		err = gm_add_mmio(&m->gm, MACHINE_VMMIO_BASE, MACHINE_VMMIO_END - MACHINE_VMMIO_BASE,
				  "virtio-mmio");
	if (!err)
		err = gm_add_mmio(&m->gm, MACHINE_PCI_MEM_BASE,
				  MACHINE_PCI_MEM_END - MACHINE_PCI_MEM_BASE, "pci-mem");
	if (!err)
		err = io_map_add(&m->pio, CONF1_ADDR_PORT, 4, &conf1_addr_ops, m, "conf1-addr");
	if (!err)
		err = io_map_add(&m->pio, CONF1_DATA_PORT, 4, &conf1_data_ops, m, "conf1-data");
	if (err) {
		io_map_free(&m->pio);
		gm_destroy(&m->gm);
		memset(m, 0, sizeof(*m));
		return err == -ENOMEM ? -ENOMEM : -EINVAL;
	}

	m->pci[0].ops = &hostbridge_ops;
	m->pci[0].ctx = m;
	m->pci_mem_next = MACHINE_PCI_MEM_BASE;
	m->pci_io_next = MACHINE_PCI_IO_BASE;
	m->vmmio_next = MACHINE_VMMIO_BASE;
	machine_set_irq_sink(m, NULL, NULL);
	return 0;
}

void machine_destroy(struct machine *m)
{
	/* Parts go first and newest first: a transport may still unmap its
	 * ranges or leave its PCI slot while the maps exist. */
	while (m->nparts > 0) {
		struct machine_part *p = &m->parts[--m->nparts];

		p->destroy(p->ctx);
	}
	io_map_free(&m->pio);
	io_map_free(&m->mmio);
	gm_destroy(&m->gm);
	memset(m, 0, sizeof(*m));
}
