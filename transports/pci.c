/*
 * ringside — a generic PCI type-0 function: config space with per-byte
 * write masks, command/status, BAR sizing and placement, capability list,
 * INTx and MSI-X. See pci.h.
 *
 * Everything the guest writes lands in cfg[] through one rule,
 *   new = (old & ~wmask) | (val & wmask), then clear (val & w1cmask),
 * and the side effects (decode, INTx pin, MSI-X control) are derived from
 * cfg[] afterwards, so no guest value is trusted before it is masked.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "pci.h"

/* ---- config space helpers ------------------------------------------------------------ */

void pci_set8(struct pci_func *f, unsigned off, uint8_t v)
{
	f->cfg[off] = v;
}

void pci_set16(struct pci_func *f, unsigned off, uint16_t v)
{
	rs_st16(&f->cfg[off], v);
}

void pci_set32(struct pci_func *f, unsigned off, uint32_t v)
{
	rs_st32(&f->cfg[off], v);
}

void pci_set_wmask(struct pci_func *f, unsigned off, unsigned len, uint8_t mask)
{
	memset(&f->wmask[off], mask, len);
}

static inline uint16_t cfg16(const struct pci_func *f, unsigned off)
{
	return rs_le16(&f->cfg[off]);
}

static inline uint32_t cfg32(const struct pci_func *f, unsigned off)
{
	return rs_le32(&f->cfg[off]);
}

/* True when [off, off+size) and [lo, lo+len) share a byte. */
static inline bool overlaps(unsigned off, unsigned size, unsigned lo, unsigned len)
{
	return off < lo + len && lo < off + size;
}

void pci_func_init(struct pci_func *f, struct machine *m, struct diag_log *log,
		   const char *name)
{
	memset(f, 0, sizeof(*f));
	f->m = m;
	f->log = log;
	snprintf(f->name, sizeof(f->name), "%s", name ? name : "pci");
	f->cap_end = PCI_CAP_START;
	/* header type 0, single function: cfg[PCI_HEADER_TYPE] stays 0 */
	pci_set16(f, PCI_COMMAND, 0);
	rs_st16(&f->wmask[PCI_COMMAND], PCI_COMMAND_WMASK);
	rs_st16(&f->w1cmask[PCI_STATUS], PCI_STATUS_RW1C);
	/* interrupt line: a scratch register firmware fills in; pin INTA. */
	f->wmask[PCI_INTERRUPT_LINE] = 0xff;
	pci_set8(f, PCI_INTERRUPT_PIN, PCI_INTERRUPT_PIN_INTA);
}

void pci_set_gsi(struct pci_func *f, unsigned gsi)
{
	f->gsi = gsi;
	pci_set8(f, PCI_INTERRUPT_LINE, (uint8_t)gsi);
}

void pci_set_ids(struct pci_func *f, uint16_t vendor, uint16_t device, uint8_t rev,
		 uint16_t class16, uint16_t subsys_vendor, uint16_t subsys_id)
{
	pci_set16(f, PCI_VENDOR_ID, vendor);
	pci_set16(f, PCI_DEVICE_ID, device);
	pci_set8(f, PCI_REVISION_ID, rev);
	pci_set8(f, PCI_CLASS_PROG, 0);
	pci_set16(f, PCI_CLASS_DEVICE, class16);
	pci_set16(f, PCI_SUBSYSTEM_VENDOR_ID, subsys_vendor);
	pci_set16(f, PCI_SUBSYSTEM_ID, subsys_id);
}

/* ---- BARs ------------------------------------------------------------------------------ */

static inline unsigned bar_reg(unsigned idx)
{
	return PCI_BAR0 + 4 * idx;
}

int pci_set_bar(struct pci_func *f, unsigned idx, enum pci_bar_kind kind, uint64_t size,
		const struct io_ops *ops, void *ctx)
{
	uint32_t type, mask;

	if (idx >= PCI_NUM_BARS || f->bar[idx].kind != PCI_BAR_KIND_NONE || !ops ||
	    !rs_is_pow2(size))
		return -EINVAL;
	switch (kind) {
	case PCI_BAR_KIND_IO:
		if (size < 4 || size > 0x10000)
			return -EINVAL;
		type = PCI_BAR_IO;
		break;
	case PCI_BAR_KIND_MEM32:
		if (size < 16 || size > 0x80000000ull)
			return -EINVAL;
		type = 0;
		break;
	case PCI_BAR_KIND_MEM64:
		if (size < 16 || idx + 1 >= PCI_NUM_BARS ||
		    f->bar[idx + 1].kind != PCI_BAR_KIND_NONE)
			return -EINVAL;
		type = PCI_BAR_MEM64;
		break;
	default:
		return -EINVAL;
	}
	f->bar[idx].kind = kind;
	f->bar[idx].size = size;
	f->bar[idx].ops = ops;
	f->bar[idx].ctx = ctx;
	/* The address bits at and above the size are writable; the type bits
	 * and the bits below the size read back as they are, so writing
	 * all-ones reads back the size mask (PCI Local Bus 3.0, 6.2.5.1). */
	mask = (uint32_t)~(size - 1) & (kind == PCI_BAR_KIND_IO ? ~3u : ~0xfu);
	pci_set32(f, bar_reg(idx), type);
	rs_st32(&f->wmask[bar_reg(idx)], mask);
	if (kind == PCI_BAR_KIND_MEM64) {
		f->bar[idx + 1].kind = PCI_BAR_KIND_MEM64_HI;
		pci_set32(f, bar_reg(idx + 1), 0);
		rs_st32(&f->wmask[bar_reg(idx + 1)], (uint32_t)~((size - 1) >> 32));
	}
	return 0;
}

uint64_t pci_bar_addr(const struct pci_func *f, unsigned idx)
{
	if (idx >= PCI_NUM_BARS)
		return 0;
	uint32_t lo = cfg32(f, bar_reg(idx));

	switch (f->bar[idx].kind) {
	case PCI_BAR_KIND_IO:
		return lo & ~3u;
	case PCI_BAR_KIND_MEM32:
		return lo & ~0xfu;
	case PCI_BAR_KIND_MEM64:
		return (lo & ~0xfu) | (uint64_t)cfg32(f, bar_reg(idx + 1)) << 32;
	default:
		return 0;
	}
}

/* True while the guest is sizing BAR idx: every writable address bit of a
 * dword is set. Such a value is no placement and is not reported. */
static bool bar_sizing(const struct pci_func *f, unsigned idx)
{
	uint32_t mask = rs_le32(&f->wmask[bar_reg(idx)]);

	if ((cfg32(f, bar_reg(idx)) & mask) == mask)
		return true;
	return f->bar[idx].kind == PCI_BAR_KIND_MEM64 && cfg32(f, bar_reg(idx + 1)) == UINT32_MAX;
}

static void bar_unmap(struct pci_func *f, struct pci_bar *b)
{
	if (!b->mapped)
		return;
	if (b->kind == PCI_BAR_KIND_IO)
		(void)machine_unmap_pio(f->m, b->placed, b->ctx);
	else
		(void)machine_unmap_mmio(f->m, b->placed, b->ctx);
	b->mapped = false;
}

/* Map BAR idx at addr (non-zero). Returns 0, -ERANGE when addr lies outside
 * the machine's window for the BAR's kind, or the machine's map error. */
static int bar_map(struct pci_func *f, unsigned idx, uint64_t addr)
{
	struct pci_bar *b = &f->bar[idx];
	char name[16];
	int r;

	snprintf(name, sizeof(name), "%s.b%u", f->name, idx);
	if (b->kind == PCI_BAR_KIND_IO) {
		if (!rs_range_within(addr, b->size, MACHINE_PCI_IO_BASE,
				     MACHINE_PCI_IO_END - MACHINE_PCI_IO_BASE))
			return -ERANGE;
		r = machine_map_pio(f->m, addr, b->size, b->ops, b->ctx, name);
	} else {
		if (!rs_range_within(addr, b->size, MACHINE_PCI_MEM_BASE,
				     MACHINE_PCI_MEM_END - MACHINE_PCI_MEM_BASE))
			return -ERANGE;
		r = machine_map_mmio(f->m, addr, b->size, b->ops, b->ctx, name);
	}
	if (r == 0) {
		b->placed = addr;
		b->mapped = true;
	}
	return r;
}

/*
 * Bring the machine's maps in line with BARs in mask (bit per BAR index)
 * and the command decode bits. A BAR whose decoded address did not change
 * and is mapped is left alone; one that is misplaced is retried (and
 * reported again) because the guest wrote it or the command register.
 */
static void bars_update(struct pci_func *f, unsigned mask)
{
	uint16_t cmd = cfg16(f, PCI_COMMAND);

	for (unsigned i = 0; i < PCI_NUM_BARS; i++) {
		struct pci_bar *b = &f->bar[i];
		uint64_t target;
		bool decode;
		int r;

		if (!(mask & (1u << i)) || b->kind == PCI_BAR_KIND_NONE ||
		    b->kind == PCI_BAR_KIND_MEM64_HI)
			continue;
		decode = cmd & (b->kind == PCI_BAR_KIND_IO ? PCI_COMMAND_IO : PCI_COMMAND_MEMORY);
		target = decode && !bar_sizing(f, i) ? pci_bar_addr(f, i) : 0;
		if (b->mapped && target == b->placed)
			continue;
		bar_unmap(f, b);
		b->placed = target;
		if (!target)
			continue;
		r = bar_map(f, i, target);
		if (r == -ERANGE)
			diag_report(f->log, DIAG_PCI_BAR,
				    "%s BAR%u at 0x%llx+0x%llx lies outside the PCI %s window; "
				    "left unmapped",
				    f->name, i, (unsigned long long)target,
				    (unsigned long long)b->size,
				    b->kind == PCI_BAR_KIND_IO ? "I/O" : "memory");
		else if (r < 0)
			diag_report(f->log, DIAG_PCI_BAR,
				    "%s BAR%u at 0x%llx+0x%llx overlaps another range; "
				    "left unmapped",
				    f->name, i, (unsigned long long)target,
				    (unsigned long long)b->size);
	}
}

int pci_place_bars(struct pci_func *f)
{
	uint16_t cmd = 0;
	int r;

	for (unsigned i = 0; i < PCI_NUM_BARS; i++) {
		struct pci_bar *b = &f->bar[i];
		uint64_t addr;

		if (b->kind == PCI_BAR_KIND_NONE || b->kind == PCI_BAR_KIND_MEM64_HI)
			continue;
		if (b->kind == PCI_BAR_KIND_IO) {
			addr = machine_alloc_pci_io(f->m, (uint32_t)b->size);
			cmd |= PCI_COMMAND_IO;
		} else {
			addr = machine_alloc_pci_mem(f->m, b->size);
			cmd |= PCI_COMMAND_MEMORY;
		}
		if (!addr) {
			pci_unmap_all(f);
			return -ENOSPC;
		}
		pci_set32(f, bar_reg(i), (cfg32(f, bar_reg(i)) & ~rs_le32(&f->wmask[bar_reg(i)])) |
						 (uint32_t)addr);
		if (b->kind == PCI_BAR_KIND_MEM64)
			pci_set32(f, bar_reg(i + 1), (uint32_t)(addr >> 32));
		r = bar_map(f, i, addr);
		if (r < 0) {
			pci_unmap_all(f);
			return r == -ERANGE ? -ENOSPC : r;
		}
	}
	pci_set16(f, PCI_COMMAND, cfg16(f, PCI_COMMAND) | cmd);
	return 0;
}

void pci_unmap_all(struct pci_func *f)
{
	for (unsigned i = 0; i < PCI_NUM_BARS; i++) {
		bar_unmap(f, &f->bar[i]);
		f->bar[i].placed = 0;
	}
}

/* ---- reset ------------------------------------------------------------------------------ */

void pci_func_snapshot(struct pci_func *f)
{
	memcpy(f->cfg_init, f->cfg, sizeof(f->cfg_init));
	f->reset_pending = false;
}

int pci_func_reset(struct pci_func *f)
{
	const unsigned all = (1u << PCI_NUM_BARS) - 1;

	f->intx = false;
	if (f->intx_pin) {
		f->intx_pin = false;
		machine_set_intx(f->m, f->gsi, false);
	}
	memcpy(f->cfg, f->cfg_init, sizeof(f->cfg));
	for (unsigned v = 0; v < f->msix.nvec; v++) {
		memset(&f->msix.table[v], 0, sizeof(f->msix.table[v]));
		f->msix.table[v].ctrl = PCI_MSIX_ENTRY_CTRL_MASKBIT;
	}
	f->msix.pba = 0;
	/* First take every moved BAR out of the map, so that BARs of this
	 * function that swapped places can both go home. */
	for (unsigned i = 0; i < PCI_NUM_BARS; i++) {
		struct pci_bar *b = &f->bar[i];

		if (b->mapped && b->placed != pci_bar_addr(f, i))
			bar_unmap(f, b);
	}
	f->reset_pending = false;
	for (unsigned i = 0; i < PCI_NUM_BARS; i++) {
		struct pci_bar *b = &f->bar[i];
		uint64_t addr = pci_bar_addr(f, i);
		bool decode = cfg16(f, PCI_COMMAND) &
			      (b->kind == PCI_BAR_KIND_IO ? PCI_COMMAND_IO : PCI_COMMAND_MEMORY);

		if (b->kind == PCI_BAR_KIND_NONE || b->kind == PCI_BAR_KIND_MEM64_HI || b->mapped)
			continue;
		b->placed = 0;
		if (!decode || !addr)
			continue;
		/* another function's moved BAR may still sit there: retry later */
		if (bar_map(f, i, addr) < 0)
			f->reset_pending = true;
	}
	if (!f->reset_pending)
		bars_update(f, all); /* nothing left to do but keep the invariant */
	return f->reset_pending ? 1 : 0;
}

int pci_func_reset_finish(struct pci_func *f)
{
	f->reset_pending = false;
	bars_update(f, (1u << PCI_NUM_BARS) - 1);
	return 0;
}

/* ---- capabilities -------------------------------------------------------------------- */

int pci_add_cap(struct pci_func *f, uint8_t id, unsigned len)
{
	unsigned off = (f->cap_end + 3u) & ~3u;

	if (len < 2 || off + len > PCI_CFG_SIZE)
		return -ENOSPC;
	memset(&f->cfg[off], 0, len);
	memset(&f->wmask[off], 0, len);
	f->cfg[off] = id;
	if (f->cap_last)
		f->cfg[f->cap_last + 1] = (uint8_t)off;
	else
		f->cfg[PCI_CAPABILITY_LIST] = (uint8_t)off;
	pci_set16(f, PCI_STATUS, cfg16(f, PCI_STATUS) | PCI_STATUS_CAP_LIST);
	f->cap_last = (uint8_t)off;
	f->cap_end = (uint8_t)RS_MIN(off + len, 0xffu);
	return (int)off;
}

/* ---- INTx ---------------------------------------------------------------------------- */

/* Drive the pin from the condition, INTX_DISABLE and MSI-X enable. */
static void intx_update(struct pci_func *f)
{
	bool pin = f->intx && !(cfg16(f, PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE) &&
		   !pci_msix_enabled(f);

	if (pin != f->intx_pin) {
		f->intx_pin = pin;
		machine_set_intx(f->m, f->gsi, pin);
	}
}

void pci_set_intx(struct pci_func *f, bool level)
{
	uint16_t st = cfg16(f, PCI_STATUS);

	f->intx = level;
	/* The status bit shows the condition whatever INTX_DISABLE says
	 * (PCI Local Bus 3.0, 6.2.3). */
	pci_set16(f, PCI_STATUS,
		  level ? (st | PCI_STATUS_INTERRUPT) : (st & (uint16_t)~PCI_STATUS_INTERRUPT));
	intx_update(f);
}

/* ---- MSI-X ----------------------------------------------------------------------------- */

static inline uint16_t msix_ctrl(const struct pci_func *f)
{
	return cfg16(f, f->msix.cap + PCI_MSIX_FLAGS);
}

static inline bool msix_fn_masked(const struct pci_func *f)
{
	return msix_ctrl(f) & PCI_MSIX_FLAGS_MASKALL;
}

/* Send vector v (< nvec) now, clearing its pending bit. */
static void msix_send(struct pci_func *f, unsigned v)
{
	const struct pci_msix_entry *e = &f->msix.table[v];

	f->msix.pba &= ~(1ull << v);
	machine_msi(f->m, (uint64_t)e->addr_hi << 32 | e->addr_lo, e->data);
}

/* Send every pending vector whose masks are clear (after an unmask or an
 * enable; PCI Local Bus 3.0, 6.8.2.9). */
static void msix_flush(struct pci_func *f)
{
	if (!pci_msix_enabled(f) || msix_fn_masked(f))
		return;
	for (unsigned v = 0; v < f->msix.nvec; v++)
		if ((f->msix.pba >> v & 1) &&
		    !(f->msix.table[v].ctrl & PCI_MSIX_ENTRY_CTRL_MASKBIT))
			msix_send(f, v);
}

bool pci_msix_notify(struct pci_func *f, unsigned vec)
{
	if (!pci_msix_enabled(f) || vec >= f->msix.nvec)
		return false;
	if (msix_fn_masked(f) || (f->msix.table[vec].ctrl & PCI_MSIX_ENTRY_CTRL_MASKBIT))
		f->msix.pba |= 1ull << vec;
	else
		msix_send(f, vec);
	return true;
}

/* Bytes of the PBA: one bit per entry, in whole qwords. */
static inline uint32_t msix_pba_len(const struct pci_func *f)
{
	return (f->msix.nvec + 63u) / 64u * 8u;
}

/* Read one dword of an entry (field index 0..3). */
static uint32_t msix_entry_dw(const struct pci_msix_entry *e, unsigned field)
{
	switch (field) {
	case 0: return e->addr_lo;
	case 1: return e->addr_hi;
	case 2: return e->data;
	default: return e->ctrl;
	}
}

/* Write one dword of entry v (field index 0..3). */
static void msix_entry_set(struct pci_func *f, unsigned v, unsigned field, uint32_t val)
{
	struct pci_msix_entry *e = &f->msix.table[v];

	switch (field) {
	case 0:
		e->addr_lo = val & ~3u; /* message address is dword aligned */
		break;
	case 1:
		e->addr_hi = val;
		break;
	case 2:
		e->data = val;
		break;
	default:
		/* only the mask bit is implemented; reserved bits read 0 */
		e->ctrl = val & PCI_MSIX_ENTRY_CTRL_MASKBIT;
		if (!e->ctrl && (f->msix.pba >> v & 1) && pci_msix_enabled(f) && !msix_fn_masked(f))
			msix_send(f, v);
		break;
	}
}

/*
 * Where an access to the MSI-X BAR lands. Returns 1 for the table (entry
 * in *v, dword field in *field), 2 for the PBA (qword-relative byte in
 * *field), or 0 (reported) for anything malformed: not an aligned dword or
 * qword, or outside table and PBA.
 */
static int msix_decode(struct pci_func *f, uint64_t off, unsigned size, unsigned *v,
		       unsigned *field, const char *what)
{
	const struct pci_msix *x = &f->msix;

	if ((size == 4 || size == 8) && off % size == 0) {
		if (off >= x->table_off &&
		    off - x->table_off < (uint64_t)x->nvec * PCI_MSIX_ENTRY_SIZE) {
			*v = (unsigned)((off - x->table_off) / PCI_MSIX_ENTRY_SIZE);
			*field = (unsigned)((off - x->table_off) % PCI_MSIX_ENTRY_SIZE) / 4;
			return 1;
		}
		if (off >= x->pba_off && off - x->pba_off < msix_pba_len(f)) {
			*field = (unsigned)(off - x->pba_off);
			return 2;
		}
	}
	diag_report(f->log, DIAG_MSIX_TABLE,
		    "PCI 6.8.2: %s %s of %u byte(s) at MSI-X BAR offset 0x%llx: not an aligned "
		    "dword/qword of the table or PBA",
		    f->name, what, size, (unsigned long long)off);
	return 0;
}

static uint64_t msix_bar_read(void *ctx, uint64_t off, unsigned size)
{
	struct pci_func *f = ctx;
	unsigned v = 0, field = 0;
	uint64_t val;

	switch (msix_decode(f, off, size, &v, &field, "read")) {
	case 1:
		val = msix_entry_dw(&f->msix.table[v], field);
		if (size == 8)
			val |= (uint64_t)msix_entry_dw(&f->msix.table[v], field + 1) << 32;
		return val;
	case 2:
		/* PCI_MSIX_MAX is 64: the PBA is one qword, field is 0 or 4 */
		return (f->msix.pba >> (field * 8)) & pci_ones(size);
	default:
		return 0;
	}
}

static void msix_bar_write(void *ctx, uint64_t off, unsigned size, uint64_t val)
{
	struct pci_func *f = ctx;
	unsigned v = 0, field = 0;

	switch (msix_decode(f, off, size, &v, &field, "write")) {
	case 1:
		msix_entry_set(f, v, field, (uint32_t)val);
		if (size == 8)
			msix_entry_set(f, v, field + 1, (uint32_t)(val >> 32));
		break;
	case 2:
		diag_report(f->log, DIAG_MSIX_TABLE,
			    "PCI 6.8.2.10: %s write to the read-only MSI-X PBA at offset 0x%llx",
			    f->name, (unsigned long long)off);
		break;
	default:
		break;
	}
}

static const struct io_ops msix_bar_ops = {
	.read = msix_bar_read,
	.write = msix_bar_write,
};

int pci_msix_init(struct pci_func *f, unsigned nvec, unsigned bar, uint32_t bar_size,
		  uint32_t table_off, uint32_t pba_off)
{
	struct pci_msix *x = &f->msix;
	uint64_t tlen = (uint64_t)nvec * PCI_MSIX_ENTRY_SIZE;
	int off, r;

	if (nvec < 1 || nvec > PCI_MSIX_MAX || x->nvec || table_off % 8 || pba_off % 8 ||
	    !rs_range_within(table_off, tlen, 0, bar_size) ||
	    !rs_range_within(pba_off, (nvec + 63u) / 64u * 8u, 0, bar_size) ||
	    (table_off < pba_off + 8u && pba_off < table_off + tlen))
		return -EINVAL;
	r = pci_set_bar(f, bar, PCI_BAR_KIND_MEM32, bar_size, &msix_bar_ops, f);
	if (r < 0)
		return r;
	off = pci_add_cap(f, PCI_CAP_ID_MSIX, PCI_MSIX_CAP_LEN);
	if (off < 0) {
		memset(&f->bar[bar], 0, sizeof(f->bar[bar]));
		pci_set32(f, bar_reg(bar), 0);
		rs_st32(&f->wmask[bar_reg(bar)], 0);
		return off;
	}
	x->nvec = (uint16_t)nvec;
	x->cap = (uint8_t)off;
	x->bar = (uint8_t)bar;
	x->table_off = table_off;
	x->pba_off = pba_off;
	x->pba = 0;
	for (unsigned v = 0; v < nvec; v++) {
		memset(&x->table[v], 0, sizeof(x->table[v]));
		x->table[v].ctrl = PCI_MSIX_ENTRY_CTRL_MASKBIT;
	}
	pci_set16(f, off + PCI_MSIX_FLAGS, (uint16_t)(nvec - 1));
	rs_st16(&f->wmask[off + PCI_MSIX_FLAGS], PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
	pci_set32(f, off + PCI_MSIX_TABLE, table_off | bar);
	pci_set32(f, off + PCI_MSIX_PBA, pba_off | bar);
	return off;
}

/* ---- config access ------------------------------------------------------------------- */

/* Size 1, 2 or 4, naturally aligned, inside the 256 bytes. */
static bool cfg_access_ok(struct pci_func *f, unsigned off, unsigned size, const char *what)
{
	if ((size == 1 || size == 2 || size == 4) && off % size == 0 && off < PCI_CFG_SIZE)
		return true;
	diag_report(f->log, DIAG_PCI_CFG, "%s config %s of %u byte(s) at 0x%x: not naturally "
		    "aligned in the 256-byte space", f->name, what, size, off);
	return false;
}

uint32_t pci_cfg_read(struct pci_func *f, unsigned off, unsigned size)
{
	uint32_t val = 0;

	if (!cfg_access_ok(f, off, size, "read"))
		return (uint32_t)pci_ones(size);
	if (f->hooks && f->hooks->cfg_pre_read)
		f->hooks->cfg_pre_read(f->owner, off, size);
	for (unsigned i = 0; i < size; i++)
		val |= (uint32_t)f->cfg[off + i] << (8 * i);
	return val;
}

void pci_cfg_write(struct pci_func *f, unsigned off, unsigned size, uint32_t val)
{
	bool msix_was_on = pci_msix_enabled(f);
	bool fn_was_masked = f->msix.nvec && msix_fn_masked(f);
	unsigned bars = 0;

	if (!cfg_access_ok(f, off, size, "write"))
		return;
	for (unsigned i = 0; i < size; i++) {
		uint8_t b = (uint8_t)(val >> (8 * i));
		unsigned o = off + i;

		f->cfg[o] = (uint8_t)(((f->cfg[o] & ~f->wmask[o]) | (b & f->wmask[o])) &
				      ~(b & f->w1cmask[o]));
	}

	if (overlaps(off, size, PCI_COMMAND, 2)) {
		bars = (1u << PCI_NUM_BARS) - 1;
		intx_update(f);
	}
	for (unsigned i = 0; i < PCI_NUM_BARS; i++) {
		if (!overlaps(off, size, bar_reg(i), 4))
			continue;
		/* the high dword of a 64-bit BAR moves the BAR below it */
		bars |= 1u << (f->bar[i].kind == PCI_BAR_KIND_MEM64_HI ? i - 1 : i);
	}
	if (bars)
		bars_update(f, bars);

	if (f->msix.nvec && overlaps(off, size, f->msix.cap + PCI_MSIX_FLAGS, 2)) {
		bool on = pci_msix_enabled(f);

		if (on != msix_was_on)
			intx_update(f);
		if ((on && !msix_was_on) || (fn_was_masked && !msix_fn_masked(f)))
			msix_flush(f);
	}
	if (f->hooks && f->hooks->cfg_post_write)
		f->hooks->cfg_post_write(f->owner, off, size);
}

static uint32_t func_cfg_read(void *ctx, unsigned off, unsigned size)
{
	return pci_cfg_read(ctx, off, size);
}

static void func_cfg_write(void *ctx, unsigned off, unsigned size, uint32_t val)
{
	pci_cfg_write(ctx, off, size, val);
}

const struct pci_dev_ops pci_func_dev_ops = {
	.cfg_read = func_cfg_read,
	.cfg_write = func_cfg_write,
};
