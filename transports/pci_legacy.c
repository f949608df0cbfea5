/*
 * ringside — virtio-pci legacy interface: the virtio 0.9.5 register file in
 * I/O BAR 0 (virtio-v1.2 4.1.4.8), used by legacy and transitional devices.
 *
 *   0  host features   le32 ro   (feature bits 0..31 only)
 *   4  guest features  le32 rw
 *   8  queue PFN       le32 rw   (page 4096, ring alignment 4096)
 *  12  queue num       le16 ro   (max size of the selected queue)
 *  14  queue select    le16 rw
 *  16  queue notify    le16 rw
 *  18  status          u8   rw
 *  19  ISR             u8   ro   (read clears, lowers INTx)
 *  20  config vector   le16 rw   } only while MSI-X is enabled
 *  22  queue vector    le16 rw   }
 *  20 or 24: device config
 *
 * Each register is accessed at its offset with its own width; anything else
 * is DIAG_REG_WIDTH (read all-ones, write dropped).
 */
#include "virtio_pci.h"

enum {
	LREG_NONE = 0,
	LREG_HOST_FEATURES,
	LREG_GUEST_FEATURES,
	LREG_QUEUE_PFN,
	LREG_QUEUE_NUM,
	LREG_QUEUE_SEL,
	LREG_QUEUE_NOTIFY,
	LREG_STATUS,
	LREG_ISR,
	LREG_MSIX_CONFIG,
	LREG_MSIX_QUEUE,
};

struct lreg {
	uint8_t off, width;
};

static const struct lreg lregs[] = {
	[LREG_HOST_FEATURES] = { VIRTIO_PCI_LEGACY_HOST_FEATURES, 4 },
	[LREG_GUEST_FEATURES] = { VIRTIO_PCI_LEGACY_GUEST_FEATURES, 4 },
	[LREG_QUEUE_PFN] = { VIRTIO_PCI_LEGACY_QUEUE_PFN, 4 },
	[LREG_QUEUE_NUM] = { VIRTIO_PCI_LEGACY_QUEUE_NUM, 2 },
	[LREG_QUEUE_SEL] = { VIRTIO_PCI_LEGACY_QUEUE_SEL, 2 },
	[LREG_QUEUE_NOTIFY] = { VIRTIO_PCI_LEGACY_QUEUE_NOTIFY, 2 },
	[LREG_STATUS] = { VIRTIO_PCI_LEGACY_STATUS, 1 },
	[LREG_ISR] = { VIRTIO_PCI_LEGACY_ISR, 1 },
	[LREG_MSIX_CONFIG] = { VIRTIO_PCI_LEGACY_MSIX_CONFIG, 2 },
	[LREG_MSIX_QUEUE] = { VIRTIO_PCI_LEGACY_MSIX_QUEUE, 2 },
};

uint32_t vpci_legacy_bar_size(uint32_t config_size)
{
	uint64_t need = (uint64_t)VIRTIO_PCI_LEGACY_CONFIG_MSIX + config_size;
	uint32_t size = 32;

	while (size < need && size < VPCI_LEGACY_BAR_MAX * 2)
		size *= 2;
	return size;
}

/* Device config starts after the vectors only while MSI-X is enabled
 * (virtio-v1.2 4.1.4.8). */
static unsigned legacy_cfg_off(const struct vpci *v)
{
	return pci_msix_enabled(&v->pf) ? VIRTIO_PCI_LEGACY_CONFIG_MSIX
					: VIRTIO_PCI_LEGACY_CONFIG_NOMSIX;
}

/* The register an access at off (below the config offset) targets, or
 * LREG_NONE (reported) when the access does not cover exactly one
 * register at its offset with its width. */
static unsigned legacy_reg(struct vpci *v, uint64_t off, unsigned size, unsigned cfg,
			   const char *what)
{
	for (unsigned r = LREG_HOST_FEATURES; r < RS_ARRAY_SIZE(lregs); r++) {
		if (lregs[r].off >= cfg)
			break;
		if (off == lregs[r].off && size == lregs[r].width)
			return r;
	}
	diag_report(&v->d->log, DIAG_REG_WIDTH,
		    "legacy %s of %u byte(s) at I/O BAR offset 0x%llx: registers take their "
		    "own width at their own offset (virtio-v1.2 4.1.4.8)",
		    what, size, (unsigned long long)off);
	return LREG_NONE;
}

/* The selected queue, or NULL (reported) when queue_select is out of range. */
static struct vdev_queue *legacy_queue(struct vpci *v, const char *what)
{
	struct vdev_queue *q = vdev_selected(v->d);

	if (!q)
		diag_report(&v->d->log, DIAG_QUEUE_SELECT,
			    "legacy %s with queue select %u, device has %u queues", what,
			    v->d->queue_select, v->d->nqueues);
	return q;
}

static uint64_t legacy_read(void *ctx, uint64_t off, unsigned size)
{
	struct vpci *v = ctx;
	struct vdev *d = v->d;
	unsigned cfg = legacy_cfg_off(v);
	struct vdev_queue *q;
	uint8_t isr;

	if (off >= cfg)
		return vdev_config_read(d, (uint32_t)(off - cfg), size);
	switch (legacy_reg(v, off, size, cfg, "read")) {
	case LREG_HOST_FEATURES:
		return vdev_device_features(d, 0);
	case LREG_GUEST_FEATURES:
		return vdev_driver_features_window(d, 0);
	case LREG_QUEUE_PFN:
		q = vdev_selected(d);
		return q ? q->legacy_pfn : 0;
	case LREG_QUEUE_NUM:
		q = vdev_selected(d);
		return q ? q->max : 0;
	case LREG_QUEUE_SEL:
		return d->queue_select;
	case LREG_QUEUE_NOTIFY:
		return 0; /* R+W in the legacy layout, but nothing to read back */
	case LREG_STATUS:
		return vdev_get_status(d);
	case LREG_ISR:
		isr = vdev_read_isr(d);
		vpci_isr_sync(v);
		return isr;
	case LREG_MSIX_CONFIG:
		return d->msix_config;
	case LREG_MSIX_QUEUE:
		q = vdev_selected(d);
		return q ? q->msix_vector : VIRTIO_MSI_NO_VECTOR;
	default:
		return pci_ones(size);
	}
}

static void legacy_write(void *ctx, uint64_t off, unsigned size, uint64_t val)
{
	struct vpci *v = ctx;
	struct vdev *d = v->d;
	unsigned cfg = legacy_cfg_off(v);
	struct vdev_queue *q;
	unsigned r;

	if (off >= cfg) {
		vdev_config_write(d, (uint32_t)(off - cfg), size, val);
		return;
	}
	r = legacy_reg(v, off, size, cfg, "write");
	switch (r) {
	case LREG_GUEST_FEATURES:
		d->legacy = true;
		vdev_set_driver_features(d, 0, (uint32_t)val);
		break;
	case LREG_QUEUE_PFN:
		q = legacy_queue(v, "queue PFN write");
		if (!q)
			break;
		d->legacy = true;
		(void)vdev_queue_set_pfn(d, d->queue_select, (uint32_t)val,
					 1u << VIRTIO_PCI_LEGACY_PFN_SHIFT,
					 VIRTIO_PCI_LEGACY_ALIGN);
		break;
	case LREG_QUEUE_SEL:
		d->queue_select = (uint16_t)val;
		break;
	case LREG_QUEUE_NOTIFY:
		if (val >= d->nqueues) {
			diag_report(&d->log, DIAG_QUEUE_SELECT,
				    "legacy notify of queue %u, device has %u queues",
				    (unsigned)val, d->nqueues);
			break;
		}
		vdev_queue_notify(d, (unsigned)val);
		break;
	case LREG_STATUS:
		d->legacy = true;
		vdev_set_status(d, (uint8_t)val);
		vpci_isr_sync(v);
		break;
	case LREG_MSIX_CONFIG:
		vdev_set_msix_vector(d, -1, (uint16_t)val, vpci_nvectors(v));
		break;
	case LREG_MSIX_QUEUE:
		if (legacy_queue(v, "queue vector write"))
			vdev_set_msix_vector(d, d->queue_select, (uint16_t)val, vpci_nvectors(v));
		break;
	case LREG_NONE:
		break;
	default: /* host features, queue num, ISR */
		diag_report(&d->log, DIAG_REG_READONLY,
			    "legacy write of 0x%llx to read-only register at offset %u "
			    "(virtio-v1.2 4.1.4.8)",
			    (unsigned long long)val, lregs[r].off);
		break;
	}
}

const struct io_ops vpci_legacy_ops = {
	.read = legacy_read,
	.write = legacy_write,
};
