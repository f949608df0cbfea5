/*
 * ringside — virtio-pci modern interface (virtio-v1.2 4.1.4): the vendor
 * capabilities in config space and the structures behind memory BAR 4.
 *
 *   VPCI_BAR_COMMON  common configuration (4.1.4.3), 60 bytes
 *   VPCI_BAR_ISR     ISR status (4.1.4.5), 1 byte
 *   VPCI_BAR_DEVICE  device configuration (4.1.4.6), config_size bytes
 *   VPCI_BAR_NOTIFY  notifications (4.1.4.4): queue q at q * VPCI_NOTIFY_MULT
 *
 * plus the PCI configuration access capability (4.1.4.9), which reaches
 * the same structures through config space.
 */
#include <errno.h>

#include "virtio_pci.h"

/* ---- common configuration ------------------------------------------------------------ */

/* Fields of struct virtio_pci_common_cfg: offset, width, read-only. */
struct cfield {
	uint8_t off, width;
	bool ro;
};

static const struct cfield cfields[] = {
	{ VIRTIO_PCI_COMMON_DFSELECT, 4, false },
	{ VIRTIO_PCI_COMMON_DF, 4, true },
	{ VIRTIO_PCI_COMMON_GFSELECT, 4, false },
	{ VIRTIO_PCI_COMMON_GF, 4, false },
	{ VIRTIO_PCI_COMMON_MSIX, 2, false },
	{ VIRTIO_PCI_COMMON_NUMQ, 2, true },
	{ VIRTIO_PCI_COMMON_STATUS, 1, false },
	{ VIRTIO_PCI_COMMON_CFGGENERATION, 1, true },
	{ VIRTIO_PCI_COMMON_Q_SELECT, 2, false },
	{ VIRTIO_PCI_COMMON_Q_SIZE, 2, false },
	{ VIRTIO_PCI_COMMON_Q_MSIX, 2, false },
	{ VIRTIO_PCI_COMMON_Q_ENABLE, 2, false },
	{ VIRTIO_PCI_COMMON_Q_NOFF, 2, true },
	{ VIRTIO_PCI_COMMON_Q_DESCLO, 8, false },
	{ VIRTIO_PCI_COMMON_Q_AVAILLO, 8, false },
	{ VIRTIO_PCI_COMMON_Q_USEDLO, 8, false },
	{ VIRTIO_PCI_COMMON_Q_NDATA, 2, true },
	{ VIRTIO_PCI_COMMON_Q_RESET, 2, false },
};
_Static_assert(VIRTIO_PCI_COMMON_Q_RESET + 2 == VIRTIO_PCI_COMMON_SIZE,
	       "cfields[] and field_at[] cover the whole common configuration");

/* Index in cfields[] of the field holding each byte of the structure: the
 * fields cover it without gaps. One load per access instead of a search
 * (every register access of a modern driver comes through here). */
static const uint8_t field_at[VIRTIO_PCI_COMMON_SIZE] = {
	0,  0,  0,  0,  1,  1,  1,  1,  2,  2,  2,  2,  3,  3,  3,  3,  /* 0x00 */
	4,  4,  5,  5,  6,  7,  8,  8,  9,  9,  10, 10, 11, 11, 12, 12, /* 0x10 */
	13, 13, 13, 13, 13, 13, 13, 13, 14, 14, 14, 14, 14, 14, 14, 14, /* 0x20 */
	15, 15, 15, 15, 15, 15, 15, 15, 16, 16, 17, 17,                 /* 0x30 */
};

/*
 * The field an access at off targets, or NULL (reported DIAG_REG_WIDTH):
 * every field is accessed with its own width at its offset, and the 64-bit
 * ones also as two aligned 32-bit halves (virtio-v1.2 4.1.3.1).
 */
static const struct cfield *common_field(struct vpci *v, uint64_t off, unsigned size,
					 const char *what)
{
	if (off < VIRTIO_PCI_COMMON_SIZE) {
		const struct cfield *c = &cfields[field_at[off]];

		if ((off == c->off && size == c->width) ||
		    (c->width == 8 && size == 4 && (off - c->off) % 4 == 0))
			return c;
	}
	diag_report(&v->d->log, DIAG_REG_WIDTH,
		    "common cfg %s of %u byte(s) at offset 0x%llx is not "
		    "a field with its natural width",
		    what, size, (unsigned long long)off);
	return NULL;
}

/* Queue fields of an invalid queue_select read 0 (vectors NO_VECTOR). */
static uint64_t queue_field_read(struct vpci *v, unsigned field, uint64_t off, unsigned size)
{
	struct vdev *d = v->d;
	struct vdev_queue *q = vdev_selected(d);
	uint64_t val;

	if (!q)
		return field == VIRTIO_PCI_COMMON_Q_MSIX ? VIRTIO_MSI_NO_VECTOR : 0;
	switch (field) {
	case VIRTIO_PCI_COMMON_Q_SIZE:
		return q->size;
	case VIRTIO_PCI_COMMON_Q_MSIX:
		return q->msix_vector;
	case VIRTIO_PCI_COMMON_Q_ENABLE:
		return q->enabled ? 1 : 0;
	case VIRTIO_PCI_COMMON_Q_NOFF:
		return d->queue_select; /* queue_notify_off = queue index */
	case VIRTIO_PCI_COMMON_Q_DESCLO:
		val = q->desc;
		break;
	case VIRTIO_PCI_COMMON_Q_AVAILLO:
		val = q->driver;
		break;
	default: /* VIRTIO_PCI_COMMON_Q_USEDLO */
		val = q->device;
		break;
	}
	return (val >> ((off - field) * 8)) & pci_ones(size);
}

static uint64_t common_read(struct vpci *v, uint64_t off, unsigned size)
{
	struct vdev *d = v->d;
	const struct cfield *c = common_field(v, off, size, "read");

	if (!c)
		return pci_ones(size);
	switch (c->off) {
	case VIRTIO_PCI_COMMON_DFSELECT:
		return d->dfselect;
	case VIRTIO_PCI_COMMON_DF:
		return vdev_device_features(d, d->dfselect);
	case VIRTIO_PCI_COMMON_GFSELECT:
		return d->gfselect;
	case VIRTIO_PCI_COMMON_GF:
		return vdev_driver_features_window(d, d->gfselect);
	case VIRTIO_PCI_COMMON_MSIX:
		return d->msix_config;
	case VIRTIO_PCI_COMMON_NUMQ:
		return d->nqueues;
	case VIRTIO_PCI_COMMON_STATUS:
		return vdev_get_status(d);
	case VIRTIO_PCI_COMMON_CFGGENERATION:
		return (uint8_t)d->config_generation;
	case VIRTIO_PCI_COMMON_Q_SELECT:
		return d->queue_select;
	case VIRTIO_PCI_COMMON_Q_NDATA:
	case VIRTIO_PCI_COMMON_Q_RESET:
		/* VIRTIO_F_NOTIF_CONFIG_DATA and VIRTIO_F_RING_RESET are not offered */
		return 0;
	default:
		return queue_field_read(v, c->off, off, size);
	}
}

/* Store the written part of a 64-bit queue address (whole, or one half). */
static void addr_store(uint64_t *dst, uint64_t off, unsigned field, unsigned size, uint64_t val)
{
	unsigned shift = (unsigned)(off - field) * 8;
	uint64_t mask = pci_ones(size) << shift;

	*dst = (*dst & ~mask) | ((val << shift) & mask);
}

static void queue_field_write(struct vpci *v, unsigned field, uint64_t off, unsigned size,
			      uint64_t val)
{
	struct vdev *d = v->d;
	struct vdev_queue *q = vdev_selected(d);

	if (!q) {
		diag_report(&d->log, DIAG_QUEUE_SELECT,
			    "write to queue field 0x%x with "
			    "queue_select %u, device has %u queues",
			    field, d->queue_select, d->nqueues);
		return;
	}
	switch (field) {
	case VIRTIO_PCI_COMMON_Q_SIZE:
		vdev_queue_set_size(d, d->queue_select, (uint16_t)val);
		return;
	case VIRTIO_PCI_COMMON_Q_MSIX:
		vdev_set_msix_vector(d, d->queue_select, (uint16_t)val, vpci_nvectors(v));
		return;
	case VIRTIO_PCI_COMMON_Q_ENABLE:
		if (val != 1) {
			diag_report(&d->log, DIAG_QUEUE_ENABLED,
				    "driver wrote %u to queue_enable of "
				    "queue %u; only 1 may be written (reset disables queues)",
				    (unsigned)val, d->queue_select);
			return;
		}
		(void)vdev_queue_enable(d, d->queue_select);
		return;
	default:
		break;
	}
	/* queue_desc, queue_driver, queue_device */
	if (q->enabled) {
		diag_report(&d->log, DIAG_QUEUE_ENABLED,
			    "queue %u address at 0x%x written while enabled",
			    d->queue_select, field);
		return;
	}
	if (field == VIRTIO_PCI_COMMON_Q_DESCLO)
		addr_store(&q->desc, off, field, size, val);
	else if (field == VIRTIO_PCI_COMMON_Q_AVAILLO)
		addr_store(&q->driver, off, field, size, val);
	else
		addr_store(&q->device, off, field, size, val);
}

static void common_write(struct vpci *v, uint64_t off, unsigned size, uint64_t val)
{
	struct vdev *d = v->d;
	const struct cfield *c = common_field(v, off, size, "write");

	if (!c)
		return;
	if (c->ro) {
		diag_report(&d->log, DIAG_REG_READONLY,
			    "write of 0x%llx to read-only common cfg field at "
			    "offset %u (virtio-v1.2 4.1.4.3)",
			    (unsigned long long)val, c->off);
		return;
	}
	/* Every writable common cfg field configures the device through the
	 * modern interface. */
	d->legacy = false;
	switch (c->off) {
	case VIRTIO_PCI_COMMON_DFSELECT:
		d->dfselect = (uint32_t)val;
		break;
	case VIRTIO_PCI_COMMON_GFSELECT:
		d->gfselect = (uint32_t)val;
		break;
	case VIRTIO_PCI_COMMON_GF:
		vdev_set_driver_features(d, d->gfselect, (uint32_t)val);
		break;
	case VIRTIO_PCI_COMMON_MSIX:
		vdev_set_msix_vector(d, -1, (uint16_t)val, vpci_nvectors(v));
		break;
	case VIRTIO_PCI_COMMON_STATUS:
		vdev_set_status(d, (uint8_t)val);
		vpci_isr_sync(v);
		break;
	case VIRTIO_PCI_COMMON_Q_SELECT:
		d->queue_select = (uint16_t)val; /* any value; checked where it is used */
		break;
	case VIRTIO_PCI_COMMON_Q_RESET:
		diag_report(&d->log, DIAG_REG_UNKNOWN,
			    "queue_reset written but VIRTIO_F_RING_RESET is "
			    "not offered (virtio-v1.2 4.1.4.3)");
		break;
	default:
		queue_field_write(v, c->off, off, size, val);
		break;
	}
}

/* ---- ISR, device config, notify ------------------------------------------------------- */

static uint64_t isr_read(struct vpci *v, uint64_t off, unsigned size)
{
	uint8_t isr;

	if (off != 0) {
		diag_report(&v->d->log, DIAG_REG_UNKNOWN,
			    "read at ISR offset 0x%llx, the ISR is one byte (virtio-v1.2 4.1.4.5)",
			    (unsigned long long)off);
		return 0;
	}
	if (size != 1) {
		diag_report(&v->d->log, DIAG_REG_WIDTH,
			    "ISR read with %u bytes, it is one byte (virtio-v1.2 4.1.4.5)", size);
		return pci_ones(size);
	}
	isr = vdev_read_isr(v->d);
	vpci_isr_sync(v);
	return isr;
}

static void notify_write(struct vpci *v, uint64_t off, unsigned size, uint64_t val)
{
	struct vdev *d = v->d;
	uint64_t q = off / VPCI_NOTIFY_MULT;

	/* virtio-v1.2 4.1.5.2: without VIRTIO_F_NOTIFICATION_DATA the driver
	 * writes the 16-bit queue index at the queue's notify address. */
	if (size != 2) {
		diag_report(&d->log, DIAG_REG_WIDTH,
			    "notify write of %u bytes, must be 2 (virtio-v1.2 4.1.5.2)", size);
		return;
	}
	if (off % VPCI_NOTIFY_MULT) {
		diag_report(&d->log, DIAG_REG_UNKNOWN,
			    "notify write at offset 0x%llx, not a queue's "
			    "notify address (virtio-v1.2 4.1.4.4)",
			    (unsigned long long)off);
		return;
	}
	if (q >= d->nqueues) {
		diag_report(&d->log, DIAG_QUEUE_SELECT,
			    "notify address of queue %llu, device has %u "
			    "queues (virtio-v1.2 4.1.4.4)",
			    (unsigned long long)q, d->nqueues);
		return;
	}
	/* The address selects the queue, as on real hardware; a different
	 * value is the driver's error, reported, and the notify still goes to
	 * the queue the address names. */
	if (val != q)
		diag_report(&d->log, DIAG_QUEUE_SELECT,
			    "value %u written at the notify address of "
			    "queue %llu (virtio-v1.2 4.1.5.2)",
			    (unsigned)val, (unsigned long long)q);
	vdev_queue_notify(d, (unsigned)q);
}

/* ---- BAR 4 dispatch ------------------------------------------------------------------ */

static uint64_t modern_read(void *ctx, uint64_t off, unsigned size)
{
	struct vpci *v = ctx;

	if (off >= VPCI_BAR_NOTIFY) {
		diag_report(&v->d->log, DIAG_REG_UNKNOWN,
			    "read of %u byte(s) in the write-only notify "
			    "region at 0x%llx (virtio-v1.2 4.1.4.4)",
			    size, (unsigned long long)off);
		return 0;
	}
	if (off >= VPCI_BAR_DEVICE)
		return vdev_config_read(v->d, (uint32_t)(off - VPCI_BAR_DEVICE), size);
	if (off >= VPCI_BAR_ISR)
		return isr_read(v, off - VPCI_BAR_ISR, size);
	if (off >= VIRTIO_PCI_COMMON_SIZE) {
		diag_report(&v->d->log, DIAG_REG_UNKNOWN,
			    "read at 0x%llx past the common cfg structure (virtio-v1.2 4.1.4.3)",
			    (unsigned long long)off);
		return 0;
	}
	return common_read(v, off, size);
}

static void modern_write(void *ctx, uint64_t off, unsigned size, uint64_t val)
{
	struct vpci *v = ctx;

	if (off >= VPCI_BAR_NOTIFY) {
		notify_write(v, off - VPCI_BAR_NOTIFY, size, val);
	} else if (off >= VPCI_BAR_DEVICE) {
		vdev_config_write(v->d, (uint32_t)(off - VPCI_BAR_DEVICE), size, val);
	} else if (off >= VPCI_BAR_ISR) {
		diag_report(&v->d->log, off == VPCI_BAR_ISR ? DIAG_REG_READONLY : DIAG_REG_UNKNOWN,
			    "write at ISR region offset 0x%llx; the ISR is "
			    "read-only (virtio-v1.2 4.1.4.5)",
			    (unsigned long long)(off - VPCI_BAR_ISR));
	} else if (off >= VIRTIO_PCI_COMMON_SIZE) {
		diag_report(&v->d->log, DIAG_REG_UNKNOWN,
			    "write at 0x%llx past the common cfg structure (virtio-v1.2 4.1.4.3)",
			    (unsigned long long)off);
	} else {
		common_write(v, off, size, val);
	}
}

const struct io_ops vpci_modern_ops = {
	.read = modern_read,
	.write = modern_write,
};

/* ---- capabilities ---------------------------------------------------------------------- */

/* Offsets inside struct virtio_pci_cap (virtio-v1.2 4.1.4). */
#define VCAP_CFG_TYPE 3
#define VCAP_BAR 4
#define VCAP_ID 5
#define VCAP_OFFSET 8
#define VCAP_LENGTH 12
#define VCAP_NOTIFY_MULT 16
#define VCAP_PCI_CFG_DATA 16

/* Append one vendor capability describing [offset, offset+length) of BAR 4.
 * Returns its config offset, or 0 when config space is full. */
static uint8_t add_vcap(struct vpci *v, uint8_t type, unsigned len, uint32_t offset,
			uint32_t length)
{
	int c = pci_add_cap(&v->pf, PCI_CAP_ID_VNDR, len);

	if (c < 0)
		return 0;
	pci_set8(&v->pf, c + 2, (uint8_t)len); /* cap_len */
	pci_set8(&v->pf, c + VCAP_CFG_TYPE, type);
	pci_set8(&v->pf, c + VCAP_BAR, VPCI_MODERN_BAR);
	pci_set8(&v->pf, c + VCAP_ID, 0);
	pci_set32(&v->pf, c + VCAP_OFFSET, offset);
	pci_set32(&v->pf, c + VCAP_LENGTH, length);
	return (uint8_t)c;
}

int vpci_modern_add_caps(struct vpci *v)
{
	uint32_t cfg_size = v->d->ops->config_size;

	v->cap_common = add_vcap(v, VIRTIO_PCI_CAP_COMMON_CFG, VIRTIO_PCI_CAP_LEN,
				 VPCI_BAR_COMMON, VIRTIO_PCI_COMMON_SIZE);
	/* virtio-v1.2 4.1.4.4.1: cap.length >= queue_notify_off * mult + 2 */
	v->cap_notify = add_vcap(v, VIRTIO_PCI_CAP_NOTIFY_CFG, VIRTIO_PCI_NOTIFY_CAP_LEN,
				 VPCI_BAR_NOTIFY, RS_MAX(v->d->nqueues, 1u) * VPCI_NOTIFY_MULT);
	if (v->cap_notify)
		pci_set32(&v->pf, v->cap_notify + VCAP_NOTIFY_MULT, VPCI_NOTIFY_MULT);
	v->cap_isr = add_vcap(v, VIRTIO_PCI_CAP_ISR_CFG, VIRTIO_PCI_CAP_LEN, VPCI_BAR_ISR,
			      VPCI_ISR_LEN);
	/* virtio-v1.2 4.1.4.6: the device cfg capability is there only when
	 * the device has config space */
	v->cap_device = cfg_size ? add_vcap(v, VIRTIO_PCI_CAP_DEVICE_CFG, VIRTIO_PCI_CAP_LEN,
					    VPCI_BAR_DEVICE, cfg_size)
				 : 0;
	/* virtio-v1.2 4.1.4.9: bar, offset, length and pci_cfg_data are
	 * read-write for the driver; the window starts empty. */
	v->cap_pcicfg = add_vcap(v, VIRTIO_PCI_CAP_PCI_CFG, VIRTIO_PCI_CFG_CAP_LEN, 0, 0);
	if (v->cap_pcicfg) {
		pci_set8(&v->pf, v->cap_pcicfg + VCAP_BAR, 0);
		pci_set_wmask(&v->pf, v->cap_pcicfg + VCAP_BAR, 1, 0xff);
		pci_set_wmask(&v->pf, v->cap_pcicfg + VCAP_OFFSET, 4, 0xff);
		pci_set_wmask(&v->pf, v->cap_pcicfg + VCAP_LENGTH, 4, 0xff);
		pci_set_wmask(&v->pf, v->cap_pcicfg + VCAP_PCI_CFG_DATA, 4, 0xff);
	}
	if (!v->cap_common || !v->cap_notify || !v->cap_isr || (cfg_size && !v->cap_device) ||
	    !v->cap_pcicfg)
		return -ENOSPC;
	return 0;
}

/* ---- PCI configuration access capability ---------------------------------------------- */

/*
 * Check the window the driver set up in the PCI cfg capability (virtio-v1.2
 * 4.1.4.9.1): length 1, 2 or 4, offset a multiple of it, and the bytes
 * inside one structure another capability describes (all in BAR 4).
 * Returns true with the BAR offset and length, else reports DIAG_PCI_CFG.
 */
static bool pcicfg_window(struct vpci *v, const char *what, uint32_t *off, unsigned *len)
{
	const uint8_t *cap = &v->pf.cfg[v->cap_pcicfg];
	uint8_t bar = cap[VCAP_BAR];
	uint32_t o = rs_le32(cap + VCAP_OFFSET), l = rs_le32(cap + VCAP_LENGTH);
	struct {
		uint32_t base, len;
	} ranges[] = {
		{ VPCI_BAR_COMMON, VIRTIO_PCI_COMMON_SIZE },
		{ VPCI_BAR_ISR, VPCI_ISR_LEN },
		{ VPCI_BAR_DEVICE, v->d->ops->config_size },
		{ VPCI_BAR_NOTIFY, RS_MAX(v->d->nqueues, 1u) * VPCI_NOTIFY_MULT },
	};

	if (bar == VPCI_MODERN_BAR && (l == 1 || l == 2 || l == 4) && o % l == 0) {
		for (unsigned i = 0; i < RS_ARRAY_SIZE(ranges); i++) {
			if (rs_range_within(o, l, ranges[i].base, ranges[i].len)) {
				*off = o;
				*len = l;
				return true;
			}
		}
	}
	diag_report(&v->d->log, DIAG_PCI_CFG,
		    "virtio-v1.2 4.1.4.9.1: pci_cfg_data %s with bar %u offset 0x%x length %u: "
		    "not an aligned 1/2/4-byte window of a virtio structure",
		    what, bar, o, l);
	return false;
}

/* True when a config access of [off, off+size) touches the first byte of
 * pci_cfg_data, which is what starts a BAR access. */
static bool pcicfg_hit(const struct vpci *v, unsigned off, unsigned size)
{
	unsigned data = v->cap_pcicfg + VCAP_PCI_CFG_DATA;

	return v->cap_pcicfg && off <= data && data < off + size;
}

/* Read through the window: the BAR bytes land in pci_cfg_data before the
 * config read returns them (0 when the window is invalid). */
static void pcicfg_pre_read(void *owner, unsigned off, unsigned size)
{
	struct vpci *v = owner;
	uint8_t *data = &v->pf.cfg[v->cap_pcicfg + VCAP_PCI_CFG_DATA];
	uint32_t boff = 0;
	unsigned len = 0;

	if (!pcicfg_hit(v, off, size))
		return;
	if (!pcicfg_window(v, "read", &boff, &len)) {
		rs_st32(data, 0);
		return;
	}
	rs_stn(data, len, modern_read(v, boff, len));
}

/* Write through the window: the first length bytes of pci_cfg_data go to
 * the BAR. */
static void pcicfg_post_write(void *owner, unsigned off, unsigned size)
{
	struct vpci *v = owner;
	const uint8_t *data = &v->pf.cfg[v->cap_pcicfg + VCAP_PCI_CFG_DATA];
	uint32_t boff = 0;
	unsigned len = 0;

	if (!pcicfg_hit(v, off, size) || !pcicfg_window(v, "write", &boff, &len))
		return;
	modern_write(v, boff, len, rs_ldn(data, len));
}

const struct pci_func_hooks vpci_modern_hooks = {
	.cfg_pre_read = pcicfg_pre_read,
	.cfg_post_write = pcicfg_post_write,
};
