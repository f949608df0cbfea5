/*
 * ringside — reference driver: virtio over PCI. Configuration mechanism #1
 * (ports 0xCF8/0xCFC), the bus scan (BARs, command register, capability
 * list), and the two register interfaces of virtio-pci: legacy (I/O BAR 0,
 * virtio-v1.2 4.1.4.8) and modern (vendor capabilities, 4.1.4), plus MSI-X.
 *
 * No libc here (see gdrv_priv.h).
 */
#include "gdrv_priv.h"

#define GDRV_PCI_DEVICE_MODERN_END 0x1080 /* 0x1040 + 64 device types */
#define GDRV_PCI_VENDOR_OPENBSD 0x0b5d /* OpenBSD sys/dev/pci/pcidevs */
#define GDRV_PCI_DEVICE_VMMCI 0x0777   /* PCI_PRODUCT_OPENBSD_CONTROL */

/* --- configuration mechanism #1 ----------------------------------------------------------- */

/* True for a naturally aligned access of size 1, 2 or 4 inside the 256-byte
 * configuration space of slot 0..31. */
static bool gdrv_cfg_ok(unsigned slot, unsigned off, unsigned size)
{
	if (slot >= 32 || off >= 256)
		return false;
	if (size != 1 && size != 2 && size != 4)
		return false;
	return (off & (size - 1)) == 0;
}

/* Select bus 0, slot, function 0, register off & ~3 in CONFIG_ADDRESS. */
static void gdrv_conf1_select(const struct gdrv_io *io, unsigned slot, unsigned off)
{
	io->pio_write(io->ctx, PCI_CONF1_ADDR_PORT, 4,
		      PCI_CONF1_ENABLE | ((uint32_t)slot << 11) | (off & 0xfcu));
}

uint32_t gdrv_pci_cfg_read(const struct gdrv_io *io, unsigned slot, unsigned off, unsigned size)
{
	if (!gdrv_cfg_ok(slot, off, size))
		return 0xffffffffu;
	gdrv_conf1_select(io, slot, off);
	return io->pio_read(io->ctx, (uint16_t)(PCI_CONF1_DATA_PORT + (off & 3)), size);
}

void gdrv_pci_cfg_write(const struct gdrv_io *io, unsigned slot, unsigned off, unsigned size,
			uint32_t val)
{
	if (!gdrv_cfg_ok(slot, off, size))
		return;
	gdrv_conf1_select(io, slot, off);
	io->pio_write(io->ctx, (uint16_t)(PCI_CONF1_DATA_PORT + (off & 3)), size, val);
}

/* --- scan --------------------------------------------------------------------------------- */

/* What the BAR decode learnt, for the capability walk. */
struct gdrv_bars {
	bool mem[6]; /* memory BAR with a non-zero base */
	bool io0;    /* BAR 0 is an I/O BAR */
};

/* Decode the six BARs without sizing them (the machine placed them):
 * I/O BARs give a port, 64-bit memory BARs take the next slot as the high
 * half (that slot then reads as absent). */
static void gdrv_scan_bars(const struct gdrv_io *io, unsigned slot, struct gdrv_pci_info *info,
			   struct gdrv_bars *bars)
{
	bars->io0 = false;
	for (unsigned i = 0; i < 6; i++) {
		uint32_t v = gdrv_pci_cfg_read(io, slot, PCI_BAR0 + 4 * i, 4);

		info->bar[i] = 0;
		bars->mem[i] = false;
		if (v & PCI_BAR_IO) {
			info->bar[i] = v & ~3u;
			bars->io0 |= i == 0;
			continue;
		}
		if ((v & 0x6u) == PCI_BAR_MEM64) {
			uint32_t hi;

			if (i == 5)
				break; /* no slot left for the high half: malformed */
			hi = gdrv_pci_cfg_read(io, slot, PCI_BAR0 + 4 * (i + 1), 4);
			info->bar[i] = (v & ~0xfull) | ((uint64_t)hi << 32);
			bars->mem[i] = info->bar[i] != 0;
			i++;
			info->bar[i] = 0;
			bars->mem[i] = false;
			continue;
		}
		info->bar[i] = v & ~0xfu;
		bars->mem[i] = info->bar[i] != 0;
	}
}

/* A virtio vendor capability at ptr (virtio-v1.2 4.1.4): record the first
 * structure of each type whose BAR is a placed memory BAR (this driver uses
 * MMIO for the modern interface). */
static void gdrv_scan_vndr(const struct gdrv_io *io, unsigned slot, unsigned ptr,
			   struct gdrv_pci_info *info, const struct gdrv_bars *bars)
{
	unsigned cap_len = gdrv_pci_cfg_read(io, slot, ptr + 2, 1);
	unsigned type = gdrv_pci_cfg_read(io, slot, ptr + 3, 1);
	unsigned bar = gdrv_pci_cfg_read(io, slot, ptr + 4, 1);
	uint32_t offset, length;
	uint64_t addr;

	if (cap_len < VIRTIO_PCI_CAP_LEN)
		return;
	if (type == VIRTIO_PCI_CAP_PCI_CFG) {
		/* Its bar/offset are a window selector, not a location. */
		if (!info->pcicfg_cap && cap_len >= VIRTIO_PCI_CFG_CAP_LEN)
			info->pcicfg_cap = (uint8_t)ptr;
		return;
	}
	if (bar > 5 || !bars->mem[bar])
		return;
	offset = gdrv_pci_cfg_read(io, slot, ptr + 8, 4);
	length = gdrv_pci_cfg_read(io, slot, ptr + 12, 4);
	addr = info->bar[bar] + offset;
	switch (type) {
	case VIRTIO_PCI_CAP_COMMON_CFG:
		/* The 1.0 fields (through queue_used) must all be there. */
		if (!info->common && length >= VIRTIO_PCI_COMMON_Q_NDATA)
			info->common = addr;
		break;
	case VIRTIO_PCI_CAP_NOTIFY_CFG:
		if (!info->notify && length >= 2 && cap_len >= VIRTIO_PCI_NOTIFY_CAP_LEN) {
			info->notify = addr;
			info->notify_mult = gdrv_pci_cfg_read(io, slot, ptr + 16, 4);
		}
		break;
	case VIRTIO_PCI_CAP_ISR_CFG:
		if (!info->isr && length >= 1)
			info->isr = addr;
		break;
	case VIRTIO_PCI_CAP_DEVICE_CFG:
		if (!info->devcfg && length >= 1)
			info->devcfg = addr;
		break;
	default:
		break; /* shared memory, vendor-specific: not used */
	}
}

/* The MSI-X capability at ptr: table size, table and PBA locations (BIR in
 * the low three bits of each offset). Ignored unless both sit in placed
 * memory BARs. */
static void gdrv_scan_msix(const struct gdrv_io *io, unsigned slot, unsigned ptr,
			   struct gdrv_pci_info *info, const struct gdrv_bars *bars)
{
	uint32_t ctrl = gdrv_pci_cfg_read(io, slot, ptr + PCI_MSIX_FLAGS, 2);
	uint32_t table = gdrv_pci_cfg_read(io, slot, ptr + PCI_MSIX_TABLE, 4);
	uint32_t pba = gdrv_pci_cfg_read(io, slot, ptr + PCI_MSIX_PBA, 4);
	unsigned tbir = table & 7, pbir = pba & 7;

	if (info->msix_cap || tbir > 5 || pbir > 5 || !bars->mem[tbir] || !bars->mem[pbir])
		return;
	info->msix_cap = (uint8_t)ptr;
	info->msix_size = (uint16_t)((ctrl & PCI_MSIX_FLAGS_QSIZE) + 1);
	info->msix_table = info->bar[tbir] + (table & ~7u);
	info->msix_pba = info->bar[pbir] + (pba & ~7u);
}

/* Walk the capability list: bounded to GDRV_CAP_STEPS entries, pointers
 * below 0x40 end it, and a pointer seen before (a loop) ends it. */
static void gdrv_scan_caps(const struct gdrv_io *io, unsigned slot, struct gdrv_pci_info *info,
			   const struct gdrv_bars *bars)
{
	uint64_t seen = 0; /* one bit per dword of configuration space */
	unsigned ptr;

	if (!(gdrv_pci_cfg_read(io, slot, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST))
		return;
	ptr = gdrv_pci_cfg_read(io, slot, PCI_CAPABILITY_LIST, 1) & 0xfc;
	for (unsigned step = 0; step < GDRV_CAP_STEPS && ptr >= 0x40; step++) {
		uint64_t bit = 1ull << (ptr >> 2);
		unsigned id;

		if (seen & bit)
			break;
		seen |= bit;
		id = gdrv_pci_cfg_read(io, slot, ptr, 1);
		if (id == PCI_CAP_ID_VNDR)
			gdrv_scan_vndr(io, slot, ptr, info, bars);
		else if (id == PCI_CAP_ID_MSIX)
			gdrv_scan_msix(io, slot, ptr, info, bars);
		ptr = gdrv_pci_cfg_read(io, slot, ptr + 1, 1) & 0xfc;
	}
}

bool gdrv_pci_probe(const struct gdrv_io *io, unsigned slot, struct gdrv_pci_info *info)
{
	uint32_t vendor = gdrv_pci_cfg_read(io, slot, PCI_VENDOR_ID, 2);
	uint32_t device, cmd;
	struct gdrv_bars bars;

	device = gdrv_pci_cfg_read(io, slot, PCI_DEVICE_ID, 2);
	if (vendor == GDRV_PCI_VENDOR_OPENBSD && device == GDRV_PCI_DEVICE_VMMCI) {
		/* OpenBSD's vmmci: a legacy virtio function under OpenBSD's own
		 * IDs; like OpenBSD's virtio_pci, take the type from the
		 * subsystem ID below. */
	} else if (vendor != VIRTIO_PCI_VENDOR) {
		return false;
	} else if (device < VIRTIO_PCI_DEVICE_LEGACY_BASE ||
		   device >= GDRV_PCI_DEVICE_MODERN_END) {
		return false; /* 0x1af4 but not virtio (virtio-v1.2 4.1.2) */
	}
	if ((gdrv_pci_cfg_read(io, slot, PCI_HEADER_TYPE, 1) & 0x7f) != 0)
		return false; /* only type 0 (endpoint) headers */

	gdrv_memzero(info, sizeof *info);
	info->slot = slot;
	info->vendor = (uint16_t)vendor;
	info->device = (uint16_t)device;
	/* virtio-v1.2 4.1.2.1: modern IDs are 0x1040 + device type;
	 * transitional ones (0x1000..0x103f) carry the type in the
	 * subsystem device ID. */
	if (vendor == VIRTIO_PCI_VENDOR && device >= VIRTIO_PCI_DEVICE_MODERN_BASE)
		info->virtio_id = (uint16_t)(device - VIRTIO_PCI_DEVICE_MODERN_BASE);
	else
		info->virtio_id = (uint16_t)gdrv_pci_cfg_read(io, slot, PCI_SUBSYSTEM_ID, 2);

	gdrv_scan_bars(io, slot, info, &bars);
	cmd = gdrv_pci_cfg_read(io, slot, PCI_COMMAND, 2);
	gdrv_pci_cfg_write(io, slot, PCI_COMMAND, 2,
			   cmd | PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	info->irq_line = (uint8_t)gdrv_pci_cfg_read(io, slot, PCI_INTERRUPT_LINE, 1);
	gdrv_scan_caps(io, slot, info, &bars);

	/* Legacy interface: transitional (or pre-1.0) ID and I/O BAR 0. */
	info->has_legacy = device < VIRTIO_PCI_DEVICE_MODERN_BASE && bars.io0 &&
			   info->bar[0] != 0;
	info->has_modern = info->common && info->notify && info->isr;
	return true;
}

unsigned gdrv_pci_scan(const struct gdrv_io *io, struct gdrv_pci_info *out, unsigned max)
{
	unsigned n = 0;

	for (unsigned slot = 0; slot < 32 && n < max; slot++)
		if (gdrv_pci_probe(io, slot, &out[n]))
			n++;
	return n;
}

int gdrv_open_pci(struct gdrv_dev *d, const struct gdrv_io *io, struct gdrv_mem *mem,
		  const struct gdrv_pci_info *info, bool use_legacy)
{
	if (use_legacy ? !info->has_legacy : !info->has_modern)
		return -1;
	gdrv_memzero(d, sizeof *d);
	d->io = io;
	d->mem = mem;
	d->transport = use_legacy ? GDRV_PCI_LEGACY : GDRV_PCI_MODERN;
	d->reset_polls = GDRV_RESET_POLLS;
	gdrv_memcpy(&d->pci, info, sizeof d->pci);
	d->device_id = info->virtio_id;
	/* MSI-X may still be on from an earlier driver: the legacy config
	 * offset depends on it. */
	if (info->msix_cap)
		d->msix = (gdrv_pci_cfg_read(io, info->slot, info->msix_cap + PCI_MSIX_FLAGS, 2) &
			   PCI_MSIX_FLAGS_ENABLE) != 0;
	return 0;
}

/* --- register access ---------------------------------------------------------------------- */

/* Legacy register at off in I/O BAR 0. */
static uint32_t gdrv_lreg_read(struct gdrv_dev *d, unsigned off, unsigned size)
{
	return d->io->pio_read(d->io->ctx, (uint16_t)(d->pci.bar[0] + off), size);
}

static void gdrv_lreg_write(struct gdrv_dev *d, unsigned off, unsigned size, uint32_t v)
{
	d->io->pio_write(d->io->ctx, (uint16_t)(d->pci.bar[0] + off), size, v);
}

/* Modern common configuration field at off. */
static uint32_t gdrv_creg_read(struct gdrv_dev *d, unsigned off, unsigned size)
{
	return (uint32_t)d->io->mmio_read(d->io->ctx, d->pci.common + off, size);
}

static void gdrv_creg_write(struct gdrv_dev *d, unsigned off, unsigned size, uint32_t v)
{
	d->io->mmio_write(d->io->ctx, d->pci.common + off, size, v);
}

static bool gdrv_pci_legacy(const struct gdrv_dev *d)
{
	return d->transport == GDRV_PCI_LEGACY;
}

uint8_t gdrv_pci_get_status(struct gdrv_dev *d)
{
	if (gdrv_pci_legacy(d))
		return (uint8_t)gdrv_lreg_read(d, VIRTIO_PCI_LEGACY_STATUS, 1);
	return (uint8_t)gdrv_creg_read(d, VIRTIO_PCI_COMMON_STATUS, 1);
}

void gdrv_pci_set_status(struct gdrv_dev *d, uint8_t v)
{
	if (gdrv_pci_legacy(d))
		gdrv_lreg_write(d, VIRTIO_PCI_LEGACY_STATUS, 1, v);
	else
		gdrv_creg_write(d, VIRTIO_PCI_COMMON_STATUS, 1, v);
}

uint64_t gdrv_pci_device_features(struct gdrv_dev *d)
{
	uint64_t f;

	if (gdrv_pci_legacy(d))
		return gdrv_lreg_read(d, VIRTIO_PCI_LEGACY_HOST_FEATURES, 4);
	gdrv_creg_write(d, VIRTIO_PCI_COMMON_DFSELECT, 4, 0);
	f = gdrv_creg_read(d, VIRTIO_PCI_COMMON_DF, 4);
	gdrv_creg_write(d, VIRTIO_PCI_COMMON_DFSELECT, 4, 1);
	f |= (uint64_t)gdrv_creg_read(d, VIRTIO_PCI_COMMON_DF, 4) << 32;
	return f;
}

void gdrv_pci_set_features(struct gdrv_dev *d, uint64_t f)
{
	if (gdrv_pci_legacy(d)) {
		gdrv_lreg_write(d, VIRTIO_PCI_LEGACY_GUEST_FEATURES, 4, (uint32_t)f);
		return;
	}
	gdrv_creg_write(d, VIRTIO_PCI_COMMON_GFSELECT, 4, 0);
	gdrv_creg_write(d, VIRTIO_PCI_COMMON_GF, 4, (uint32_t)f);
	gdrv_creg_write(d, VIRTIO_PCI_COMMON_GFSELECT, 4, 1);
	gdrv_creg_write(d, VIRTIO_PCI_COMMON_GF, 4, (uint32_t)(f >> 32));
}

uint16_t gdrv_pci_queue_max(struct gdrv_dev *d, unsigned q)
{
	if (gdrv_pci_legacy(d)) {
		/* No queue count on the legacy interface: an absent queue
		 * reads size 0 (virtio-v1.2 4.1.4.8). */
		if (q > 0xffff)
			return 0;
		gdrv_lreg_write(d, VIRTIO_PCI_LEGACY_QUEUE_SEL, 2, q);
		return (uint16_t)gdrv_lreg_read(d, VIRTIO_PCI_LEGACY_QUEUE_NUM, 2);
	}
	if (q >= gdrv_creg_read(d, VIRTIO_PCI_COMMON_NUMQ, 2))
		return 0;
	gdrv_creg_write(d, VIRTIO_PCI_COMMON_Q_SELECT, 2, q);
	return (uint16_t)gdrv_creg_read(d, VIRTIO_PCI_COMMON_Q_SIZE, 2);
}

/* MSI-X vector for queue q: q + 1, clipped to the table (virtio-v1.2
 * 4.1.4.3: any vector below the table size is valid). */
static uint16_t gdrv_queue_vector(const struct gdrv_dev *d, unsigned q)
{
	unsigned v = q + 1;

	return (uint16_t)(v < d->pci.msix_size ? v : d->pci.msix_size - 1u);
}

/* Write the selected queue's MSI-X vector and check it reads back (a
 * device out of vectors answers NO_VECTOR, virtio-v1.2 4.1.5.1.2).
 * Returns 0 or -1. */
static int gdrv_pci_set_queue_vector(struct gdrv_dev *d, unsigned q)
{
	uint16_t vec = gdrv_queue_vector(d, q);

	if (gdrv_pci_legacy(d)) {
		gdrv_lreg_write(d, VIRTIO_PCI_LEGACY_QUEUE_SEL, 2, q);
		gdrv_lreg_write(d, VIRTIO_PCI_LEGACY_MSIX_QUEUE, 2, vec);
		return gdrv_lreg_read(d, VIRTIO_PCI_LEGACY_MSIX_QUEUE, 2) == vec ? 0 : -1;
	}
	gdrv_creg_write(d, VIRTIO_PCI_COMMON_Q_SELECT, 2, q);
	gdrv_creg_write(d, VIRTIO_PCI_COMMON_Q_MSIX, 2, vec);
	return gdrv_creg_read(d, VIRTIO_PCI_COMMON_Q_MSIX, 2) == vec ? 0 : -1;
}

int gdrv_pci_queue_program(struct gdrv_vq *vq)
{
	struct gdrv_dev *d = vq->dev;
	uint32_t noff;

	if (gdrv_pci_legacy(d)) {
		/* virtio-v1.2 4.1.4.8: the ring is placed by its page frame
		 * number (4096-byte pages, 4096 alignment); a non-zero PFN
		 * means the queue is already live. */
		uint64_t pfn = vq->desc >> VIRTIO_PCI_LEGACY_PFN_SHIFT;

		if (pfn > 0xffffffffu)
			return -1;
		gdrv_lreg_write(d, VIRTIO_PCI_LEGACY_QUEUE_SEL, 2, vq->idx);
		if (gdrv_lreg_read(d, VIRTIO_PCI_LEGACY_QUEUE_PFN, 4) != 0)
			return -1;
		if (d->msix && gdrv_pci_set_queue_vector(d, vq->idx) < 0)
			return -1;
		gdrv_lreg_write(d, VIRTIO_PCI_LEGACY_QUEUE_PFN, 4, (uint32_t)pfn);
		if (gdrv_lreg_read(d, VIRTIO_PCI_LEGACY_QUEUE_PFN, 4) != pfn)
			return -1;
		vq->notify_addr = d->pci.bar[0] + VIRTIO_PCI_LEGACY_QUEUE_NOTIFY;
		return 0;
	}
	/* virtio-v1.2 4.1.5.1.3: select, check the queue is not live, size,
	 * vector, areas, then enable. */
	gdrv_creg_write(d, VIRTIO_PCI_COMMON_Q_SELECT, 2, vq->idx);
	if (gdrv_creg_read(d, VIRTIO_PCI_COMMON_Q_ENABLE, 2) != 0)
		return -1;
	gdrv_creg_write(d, VIRTIO_PCI_COMMON_Q_SIZE, 2, vq->num);
	if (d->msix && gdrv_pci_set_queue_vector(d, vq->idx) < 0)
		return -1;
	gdrv_creg_write(d, VIRTIO_PCI_COMMON_Q_DESCLO, 4, (uint32_t)vq->desc);
	gdrv_creg_write(d, VIRTIO_PCI_COMMON_Q_DESCHI, 4, (uint32_t)(vq->desc >> 32));
	gdrv_creg_write(d, VIRTIO_PCI_COMMON_Q_AVAILLO, 4, (uint32_t)vq->avail);
	gdrv_creg_write(d, VIRTIO_PCI_COMMON_Q_AVAILHI, 4, (uint32_t)(vq->avail >> 32));
	gdrv_creg_write(d, VIRTIO_PCI_COMMON_Q_USEDLO, 4, (uint32_t)vq->used);
	gdrv_creg_write(d, VIRTIO_PCI_COMMON_Q_USEDHI, 4, (uint32_t)(vq->used >> 32));
	noff = gdrv_creg_read(d, VIRTIO_PCI_COMMON_Q_NOFF, 2);
	/* virtio-v1.2 4.1.4.4: cap.offset + queue_notify_off * multiplier. */
	vq->notify_addr = d->pci.notify + (uint64_t)noff * d->pci.notify_mult;
	gdrv_creg_write(d, VIRTIO_PCI_COMMON_Q_ENABLE, 2, 1);
	return gdrv_creg_read(d, VIRTIO_PCI_COMMON_Q_ENABLE, 2) == 1 ? 0 : -1;
}

void gdrv_pci_notify(struct gdrv_vq *vq)
{
	const struct gdrv_io *io = vq->dev->io;

	/* Both interfaces take the 16-bit queue index (virtio-v1.2 4.1.5.2). */
	if (gdrv_pci_legacy(vq->dev))
		io->pio_write(io->ctx, (uint16_t)vq->notify_addr, 2, vq->idx);
	else
		io->mmio_write(io->ctx, vq->notify_addr, 2, vq->idx);
}

uint8_t gdrv_pci_isr(struct gdrv_dev *d)
{
	/* Reading the ISR clears it and deasserts INTx (virtio-v1.2 4.1.4.5). */
	if (gdrv_pci_legacy(d))
		return (uint8_t)gdrv_lreg_read(d, VIRTIO_PCI_LEGACY_ISR, 1);
	return (uint8_t)d->io->mmio_read(d->io->ctx, d->pci.isr, 1);
}

/* Legacy device config starts after the MSI-X vector registers when MSI-X
 * is enabled (virtio-v1.2 4.1.4.8). */
static unsigned gdrv_legacy_cfg_base(const struct gdrv_dev *d)
{
	return d->msix ? VIRTIO_PCI_LEGACY_CONFIG_MSIX : VIRTIO_PCI_LEGACY_CONFIG_NOMSIX;
}

uint32_t gdrv_pci_cfg_get(struct gdrv_dev *d, unsigned off, unsigned size)
{
	if (gdrv_pci_legacy(d))
		return gdrv_lreg_read(d, gdrv_legacy_cfg_base(d) + off, size);
	if (!d->pci.devcfg)
		return 0;
	return (uint32_t)d->io->mmio_read(d->io->ctx, d->pci.devcfg + off, size);
}

void gdrv_pci_cfg_set(struct gdrv_dev *d, unsigned off, unsigned size, uint32_t v)
{
	if (gdrv_pci_legacy(d))
		gdrv_lreg_write(d, gdrv_legacy_cfg_base(d) + off, size, v);
	else if (d->pci.devcfg)
		d->io->mmio_write(d->io->ctx, d->pci.devcfg + off, size, v);
}

uint32_t gdrv_pci_generation(struct gdrv_dev *d)
{
	return gdrv_creg_read(d, VIRTIO_PCI_COMMON_CFGGENERATION, 1);
}

int gdrv_pci_enable_msix(struct gdrv_dev *d, uint64_t addr, uint32_t data_base)
{
	const struct gdrv_io *io = d->io;
	unsigned slot = d->pci.slot, cap = d->pci.msix_cap;
	uint32_t ctrl;

	if (!cap || d->pci.msix_size == 0)
		return -1;
	/* Table entries: address low/high, data, vector control (unmasked). */
	for (unsigned i = 0; i < d->pci.msix_size; i++) {
		uint64_t e = d->pci.msix_table + (uint64_t)i * PCI_MSIX_ENTRY_SIZE;

		io->mmio_write(io->ctx, e, 4, (uint32_t)addr);
		io->mmio_write(io->ctx, e + 4, 4, (uint32_t)(addr >> 32));
		io->mmio_write(io->ctx, e + 8, 4, data_base + i);
		io->mmio_write(io->ctx, e + 12, 4, 0);
	}
	ctrl = gdrv_pci_cfg_read(io, slot, cap + PCI_MSIX_FLAGS, 2);
	ctrl = (ctrl | PCI_MSIX_FLAGS_ENABLE) & ~(uint32_t)PCI_MSIX_FLAGS_MASKALL;
	gdrv_pci_cfg_write(io, slot, cap + PCI_MSIX_FLAGS, 2, ctrl);
	if (!(gdrv_pci_cfg_read(io, slot, cap + PCI_MSIX_FLAGS, 2) & PCI_MSIX_FLAGS_ENABLE))
		return -1;
	/* From here on the legacy layout has the vector registers at 20/22
	 * and config at 24. */
	d->msix = true;
	if (gdrv_pci_legacy(d)) {
		gdrv_lreg_write(d, VIRTIO_PCI_LEGACY_MSIX_CONFIG, 2, 0);
		if (gdrv_lreg_read(d, VIRTIO_PCI_LEGACY_MSIX_CONFIG, 2) != 0)
			return -1;
	} else {
		gdrv_creg_write(d, VIRTIO_PCI_COMMON_MSIX, 2, 0);
		if (gdrv_creg_read(d, VIRTIO_PCI_COMMON_MSIX, 2) != 0)
			return -1;
	}
	/* Queues already set up get their vectors now. */
	for (unsigned q = 0; q < d->nqueues; q++)
		if (d->vq[q].num && gdrv_pci_set_queue_vector(d, q) < 0)
			return -1;
	return 0;
}
