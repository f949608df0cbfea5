/*
 * ringside — reference driver: transport-independent part. Memory
 * allocation, the initialisation sequence (virtio-v1.2 3.1.1), feature
 * negotiation, queue setup, config access with the generation counter
 * (2.5.1) and dispatch to the PCI or MMIO primitives.
 *
 * No libc here (see gdrv_priv.h).
 */
#include "gdrv_priv.h"

/* Generic feature bits this driver implements (everything else in 24..49
 * is never accepted, whatever the caller wants). */
#define GDRV_GENERIC_OK                                                                   \
	(VIRTIO_BIT(VIRTIO_F_NOTIFY_ON_EMPTY) | VIRTIO_BIT(VIRTIO_F_ANY_LAYOUT) |          \
	 VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX) |            \
	 VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_F_RING_PACKED) |              \
	 VIRTIO_BIT(VIRTIO_F_ORDER_PLATFORM))
/* Device-type bits: 0..23 and 50..63 (virtio-v1.2 6). */
#define GDRV_DEVICE_BITS (0x00ffffffull | (~0ull << 50))

uint64_t gdrv_alloc_raw(struct gdrv_mem *mem, uint64_t len, uint64_t align)
{
	uint64_t start, base;

	if (align == 0 || (align & (align - 1)))
		return 0;
	/* gpa 0 means failure, so never hand it out. */
	start = mem->next ? mem->next : 1;
	base = start + (align - 1);
	if (base < start)
		return 0;
	base &= ~(align - 1);
	if (base > mem->end || len > mem->end - base)
		return 0;
	mem->next = base + len;
	return base;
}

void gdrv_zero(const struct gdrv_io *io, uint64_t gpa, uint64_t len)
{
	uint8_t zero[256];

	gdrv_memzero(zero, len < sizeof zero ? (size_t)len : sizeof zero);
	for (uint64_t off = 0; off < len;) {
		size_t n = len - off < sizeof zero ? (size_t)(len - off) : sizeof zero;

		io->mem_write(io->ctx, gpa + off, zero, n);
		off += n;
	}
}

uint64_t gdrv_alloc(const struct gdrv_io *io, struct gdrv_mem *mem, uint64_t len, uint64_t align)
{
	uint64_t base = gdrv_alloc_raw(mem, len, align);

	if (base)
		gdrv_zero(io, base, len);
	return base;
}

uint8_t gdrv_get_status(struct gdrv_dev *d)
{
	return gdrv_is_pci(d) ? gdrv_pci_get_status(d) : gdrv_mmio_get_status(d);
}

void gdrv_set_status(struct gdrv_dev *d, uint8_t status)
{
	if (gdrv_is_pci(d))
		gdrv_pci_set_status(d, status);
	else
		gdrv_mmio_set_status(d, status);
}

/* OR bits into the device status (virtio-v1.2 3.1.1: the driver sets one
 * more bit at each step and never clears any). */
static void gdrv_add_status(struct gdrv_dev *d, uint8_t bits)
{
	gdrv_set_status(d, (uint8_t)(gdrv_get_status(d) | bits));
}

void gdrv_reset(struct gdrv_dev *d)
{
	/* virtio-v1.2 2.4.2: after writing 0 the driver waits for the status
	 * to read back 0 before reinitialising. Bounded, in case the device
	 * never finishes. */
	gdrv_set_status(d, 0);
	for (unsigned i = 0; i < d->reset_polls && gdrv_get_status(d) != 0; i++)
		;
	d->features = 0;
	d->nqueues = 0;
	for (unsigned q = 0; q < GDRV_MAX_QUEUES; q++)
		d->vq[q].num = 0;
}

uint64_t gdrv_device_features(struct gdrv_dev *d)
{
	return gdrv_is_pci(d) ? gdrv_pci_device_features(d) : gdrv_mmio_device_features(d);
}

int gdrv_init(struct gdrv_dev *d, uint64_t want)
{
	uint64_t offered, accept;

	/* virtio-v1.2 3.1.1 steps 1-3: reset, ACKNOWLEDGE, DRIVER. */
	gdrv_reset(d);
	gdrv_add_status(d, VIRTIO_STATUS_ACKNOWLEDGE);
	gdrv_add_status(d, VIRTIO_STATUS_DRIVER);

	/* Step 4: read the offered features, accept a subset. */
	offered = gdrv_device_features(d);
	accept = offered & want & (GDRV_DEVICE_BITS | GDRV_GENERIC_OK);
	if (gdrv_is_legacy(d)) {
		/* Legacy interfaces carry 32 bits; VERSION_1 and above do not
		 * exist there (virtio-v1.2 6.3). */
		accept &= 0xffffffffull;
	} else {
		/* virtio-v1.2 6.1: a modern driver MUST accept VERSION_1; a
		 * device that does not offer it is not a 1.x device. */
		if (!(offered & VIRTIO_BIT(VIRTIO_F_VERSION_1))) {
			gdrv_add_status(d, VIRTIO_STATUS_FAILED);
			return -1;
		}
		accept |= VIRTIO_BIT(VIRTIO_F_VERSION_1);
	}
	if (gdrv_is_pci(d))
		gdrv_pci_set_features(d, accept);
	else
		gdrv_mmio_set_features(d, accept);
	d->features = accept;

	/* Steps 5-6 (not on legacy interfaces): FEATURES_OK, then re-read
	 * to see the device kept it. */
	if (!gdrv_is_legacy(d)) {
		gdrv_add_status(d, VIRTIO_STATUS_FEATURES_OK);
		if (!(gdrv_get_status(d) & VIRTIO_STATUS_FEATURES_OK)) {
			gdrv_add_status(d, VIRTIO_STATUS_FAILED);
			return -1;
		}
	}
	return 0;
}

int gdrv_enable_msix(struct gdrv_dev *d, uint64_t addr, uint32_t data_base)
{
	if (!gdrv_is_pci(d))
		return -1;
	return gdrv_pci_enable_msix(d, addr, data_base);
}

uint16_t gdrv_queue_max(struct gdrv_dev *d, unsigned q)
{
	return gdrv_is_pci(d) ? gdrv_pci_queue_max(d, q) : gdrv_mmio_queue_max(d, q);
}

/* Largest power of two <= v (v > 0). */
static uint16_t gdrv_pow2_floor(uint16_t v)
{
	uint16_t p = 1;

	while (p <= v / 2)
		p = (uint16_t)(p * 2);
	return p;
}

int gdrv_setup_vq(struct gdrv_dev *d, unsigned q, uint16_t size)
{
	struct gdrv_vq *vq;
	uint16_t max, num;

	if (q >= GDRV_MAX_QUEUES || size == 0)
		return -1;
	max = gdrv_queue_max(d, q);
	if (max == 0)
		return -1;
	vq = &d->vq[q];
	vq->packed = gdrv_has(d, VIRTIO_F_RING_PACKED);
	if (d->transport == GDRV_PCI_LEGACY) {
		/* virtio-v1.2 4.1.4.8: the legacy PCI queue size is read-only;
		 * the driver must use the device's. */
		if (max > GDRV_MAX_QSIZE)
			return -1;
		num = max;
	} else {
		num = size < max ? size : max;
		if (num > GDRV_MAX_QSIZE)
			num = GDRV_MAX_QSIZE;
		/* virtio-v1.2 2.7: split queue sizes are powers of two. */
		if (!vq->packed)
			num = gdrv_pow2_floor(num);
	}
	vq->dev = d;
	vq->idx = q;
	vq->num = num;
	vq->event_idx = gdrv_has(d, VIRTIO_F_EVENT_IDX);
	if (gdrv_ring_alloc(vq) < 0)
		goto fail;
	if ((gdrv_is_pci(d) ? gdrv_pci_queue_program(vq) : gdrv_mmio_queue_program(vq)) < 0)
		goto fail;
	if (d->nqueues < q + 1)
		d->nqueues = q + 1;
	return 0;
fail:
	vq->num = 0;
	return -1;
}

void gdrv_driver_ok(struct gdrv_dev *d)
{
	gdrv_add_status(d, VIRTIO_STATUS_DRIVER_OK);
}

uint8_t gdrv_ack_isr(struct gdrv_dev *d)
{
	return gdrv_is_pci(d) ? gdrv_pci_isr(d) : gdrv_mmio_isr(d);
}

void gdrv_notify(struct gdrv_vq *vq)
{
	if (gdrv_is_pci(vq->dev))
		gdrv_pci_notify(vq);
	else
		gdrv_mmio_notify(vq);
}

uint32_t gdrv_config_generation(struct gdrv_dev *d)
{
	if (gdrv_is_legacy(d))
		return 0; /* legacy interfaces have no generation counter */
	return gdrv_is_pci(d) ? gdrv_pci_generation(d) : gdrv_mmio_generation(d);
}

/* One config access of size 1, 2 or 4 through the transport. */
static uint32_t gdrv_cfg_get(struct gdrv_dev *d, unsigned off, unsigned size)
{
	return gdrv_is_pci(d) ? gdrv_pci_cfg_get(d, off, size) : gdrv_mmio_cfg_get(d, off, size);
}

static void gdrv_cfg_set(struct gdrv_dev *d, unsigned off, unsigned size, uint32_t v)
{
	if (gdrv_is_pci(d))
		gdrv_pci_cfg_set(d, off, size, v);
	else
		gdrv_mmio_cfg_set(d, off, size, v);
}

/* A config read of size 1, 2, 4 or 8; 64-bit fields are read as two 32-bit
 * halves, low first (virtio-v1.2 4.1.3.1, 4.2.2.2). */
static uint64_t gdrv_cfg_read_once(struct gdrv_dev *d, unsigned off, unsigned size)
{
	if (size == 8)
		return gdrv_cfg_get(d, off, 4) | ((uint64_t)gdrv_cfg_get(d, off + 4, 4) << 32);
	return gdrv_cfg_get(d, off, size);
}

uint64_t gdrv_config_read(struct gdrv_dev *d, unsigned off, unsigned size)
{
	uint64_t v;
	uint32_t before, after;

	if (gdrv_is_legacy(d))
		return gdrv_cfg_read_once(d, off, size);
	/* virtio-v1.2 2.5.1: re-read until config_generation is the same
	 * before and after, so a multi-access read is consistent. Bounded: a
	 * device that keeps changing gets the last value read. */
	for (unsigned i = 0;; i++) {
		before = gdrv_config_generation(d);
		v = gdrv_cfg_read_once(d, off, size);
		after = gdrv_config_generation(d);
		if (before == after || i + 1 >= GDRV_GEN_TRIES)
			return v;
	}
}

void gdrv_config_write(struct gdrv_dev *d, unsigned off, unsigned size, uint64_t val)
{
	if (size == 8) {
		gdrv_cfg_set(d, off, 4, (uint32_t)val);
		gdrv_cfg_set(d, off + 4, 4, (uint32_t)(val >> 32));
		return;
	}
	gdrv_cfg_set(d, off, size, (uint32_t)val);
}
