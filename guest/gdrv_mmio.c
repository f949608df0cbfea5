/*
 * ringside — reference driver: virtio over MMIO, version 2 (virtio-v1.2
 * 4.2.2) and the legacy version 1 (4.2.4). Control registers are 32 bits
 * wide and accessed with 32-bit accesses only (4.2.2.2).
 *
 * No libc here (see gdrv_priv.h).
 */
#include "gdrv_priv.h"

#define GDRV_MMIO_PAGE 4096u /* GuestPageSize and QueueAlign on version 1 */

static uint32_t gdrv_mreg_read(struct gdrv_dev *d, unsigned off)
{
	return (uint32_t)d->io->mmio_read(d->io->ctx, d->mmio_base + off, 4);
}

static void gdrv_mreg_write(struct gdrv_dev *d, unsigned off, uint32_t v)
{
	d->io->mmio_write(d->io->ctx, d->mmio_base + off, 4, v);
}

int gdrv_open_mmio(struct gdrv_dev *d, const struct gdrv_io *io, struct gdrv_mem *mem,
		   uint64_t base)
{
	uint32_t version, id;

	gdrv_memzero(d, sizeof *d);
	d->io = io;
	d->mem = mem;
	d->mmio_base = base;
	d->reset_polls = GDRV_RESET_POLLS;
	/* virtio-v1.2 4.2.3.1.1: check magic and version, and skip a device
	 * ID of 0 (a placeholder slot). */
	if (gdrv_mreg_read(d, VIRTIO_MMIO_MAGIC_VALUE) != VIRTIO_MMIO_MAGIC)
		return -1;
	version = gdrv_mreg_read(d, VIRTIO_MMIO_VERSION);
	if (version != 1 && version != 2)
		return -1;
	id = gdrv_mreg_read(d, VIRTIO_MMIO_DEVICE_ID);
	if (id == 0 || id > 0xffff)
		return -1;
	d->transport = version == 1 ? GDRV_MMIO_V1 : GDRV_MMIO_V2;
	d->device_id = (uint16_t)id;
	return 0;
}

uint8_t gdrv_mmio_get_status(struct gdrv_dev *d)
{
	return (uint8_t)gdrv_mreg_read(d, VIRTIO_MMIO_STATUS);
}

void gdrv_mmio_set_status(struct gdrv_dev *d, uint8_t v)
{
	gdrv_mreg_write(d, VIRTIO_MMIO_STATUS, v);
}

uint64_t gdrv_mmio_device_features(struct gdrv_dev *d)
{
	uint64_t f;

	gdrv_mreg_write(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	f = gdrv_mreg_read(d, VIRTIO_MMIO_DEVICE_FEATURES);
	if (d->transport == GDRV_MMIO_V1)
		return f; /* the legacy interface has 32 feature bits */
	gdrv_mreg_write(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	f |= (uint64_t)gdrv_mreg_read(d, VIRTIO_MMIO_DEVICE_FEATURES) << 32;
	return f;
}

void gdrv_mmio_set_features(struct gdrv_dev *d, uint64_t f)
{
	gdrv_mreg_write(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	gdrv_mreg_write(d, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)f);
	if (d->transport == GDRV_MMIO_V1)
		return;
	gdrv_mreg_write(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	gdrv_mreg_write(d, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(f >> 32));
}

uint16_t gdrv_mmio_queue_max(struct gdrv_dev *d, unsigned q)
{
	uint32_t max;

	gdrv_mreg_write(d, VIRTIO_MMIO_QUEUE_SEL, q);
	max = gdrv_mreg_read(d, VIRTIO_MMIO_QUEUE_NUM_MAX);
	return max > 0xffff ? 0xffff : (uint16_t)max;
}

int gdrv_mmio_queue_program(struct gdrv_vq *vq)
{
	struct gdrv_dev *d = vq->dev;

	vq->notify_addr = d->mmio_base + VIRTIO_MMIO_QUEUE_NOTIFY;
	if (d->transport == GDRV_MMIO_V1) {
		/* virtio-v1.2 4.2.4.2: page size, select, size, alignment,
		 * then the ring's page frame number. */
		uint64_t pfn = vq->desc / GDRV_MMIO_PAGE;

		if (pfn > 0xffffffffu)
			return -1;
		gdrv_mreg_write(d, VIRTIO_MMIO_GUEST_PAGE_SIZE, GDRV_MMIO_PAGE);
		gdrv_mreg_write(d, VIRTIO_MMIO_QUEUE_SEL, vq->idx);
		gdrv_mreg_write(d, VIRTIO_MMIO_QUEUE_NUM, vq->num);
		gdrv_mreg_write(d, VIRTIO_MMIO_QUEUE_ALIGN, GDRV_MMIO_PAGE);
		gdrv_mreg_write(d, VIRTIO_MMIO_QUEUE_PFN, (uint32_t)pfn);
		return gdrv_mreg_read(d, VIRTIO_MMIO_QUEUE_PFN) == pfn ? 0 : -1;
	}
	/* virtio-v1.2 4.2.3.2: select, check not ready, size, the three
	 * areas, then QueueReady. */
	gdrv_mreg_write(d, VIRTIO_MMIO_QUEUE_SEL, vq->idx);
	if (gdrv_mreg_read(d, VIRTIO_MMIO_QUEUE_READY) != 0)
		return -1;
	gdrv_mreg_write(d, VIRTIO_MMIO_QUEUE_NUM, vq->num);
	gdrv_mreg_write(d, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)vq->desc);
	gdrv_mreg_write(d, VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(vq->desc >> 32));
	gdrv_mreg_write(d, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)vq->avail);
	gdrv_mreg_write(d, VIRTIO_MMIO_QUEUE_DRIVER_HIGH, (uint32_t)(vq->avail >> 32));
	gdrv_mreg_write(d, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)vq->used);
	gdrv_mreg_write(d, VIRTIO_MMIO_QUEUE_DEVICE_HIGH, (uint32_t)(vq->used >> 32));
	gdrv_mreg_write(d, VIRTIO_MMIO_QUEUE_READY, 1);
	return gdrv_mreg_read(d, VIRTIO_MMIO_QUEUE_READY) == 1 ? 0 : -1;
}

void gdrv_mmio_notify(struct gdrv_vq *vq)
{
	gdrv_mreg_write(vq->dev, VIRTIO_MMIO_QUEUE_NOTIFY, vq->idx);
}

uint8_t gdrv_mmio_isr(struct gdrv_dev *d)
{
	/* virtio-v1.2 4.2.2: read InterruptStatus, acknowledge the same bits
	 * through InterruptACK (which lowers the line). */
	uint32_t isr = gdrv_mreg_read(d, VIRTIO_MMIO_INTERRUPT_STATUS);

	if (isr)
		gdrv_mreg_write(d, VIRTIO_MMIO_INTERRUPT_ACK, isr);
	return (uint8_t)isr;
}

uint32_t gdrv_mmio_cfg_get(struct gdrv_dev *d, unsigned off, unsigned size)
{
	return (uint32_t)d->io->mmio_read(d->io->ctx, d->mmio_base + VIRTIO_MMIO_CONFIG + off,
					  size);
}

void gdrv_mmio_cfg_set(struct gdrv_dev *d, unsigned off, unsigned size, uint32_t v)
{
	d->io->mmio_write(d->io->ctx, d->mmio_base + VIRTIO_MMIO_CONFIG + off, size, v);
}

uint32_t gdrv_mmio_generation(struct gdrv_dev *d)
{
	return gdrv_mreg_read(d, VIRTIO_MMIO_CONFIG_GENERATION);
}
