/*
 * ringside — virtio-mmio transport: version 2 (virtio-v1.2 4.2.2) and
 * version 1, the legacy register layout (virtio-v1.2 4.2.4).
 *
 * VIRTIO_MMIO_SIZE bytes at a base in the machine's virtio-mmio window:
 * 32-bit control registers below VIRTIO_MMIO_CONFIG, the device config
 * space from there on. One interrupt line (a GSI) is held high while the
 * device's interrupt status (d->isr) is non-zero (virtio-v1.2 4.2.3.4).
 *
 * Every guest access is checked here before the device core sees it:
 * width and alignment of control registers, offsets that name no register
 * of this version, writes to read-only and reads of write-only registers,
 * the queue selector, the notify value, the legacy page size and ring
 * alignment. A violation is a diagnostic in the device's log with a
 * defined outcome (the read returns 0, the write is dropped).
 *
 * Default placement (keep docs/machine-spec.md in step with this):
 *  - base 0 takes the first free 4 KiB slot from m->vmmio_next upwards in
 *    [MACHINE_VMMIO_BASE, MACHINE_VMMIO_END); an explicit base must be
 *    4 KiB aligned and inside that window;
 *  - gsi -1 takes 5 + slot index, where slot index = (base -
 *    MACHINE_VMMIO_BASE) / MACHINE_VMMIO_STRIDE. Only slots 0..10 have a
 *    default (GSIs 5..15, the ISA range a PC guest can use for a
 *    "virtio_mmio.device=" line); a device in a higher slot needs an
 *    explicit irq= option, else vmmio_create() fails with -EINVAL.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringside/transport.h"

#define VMMIO_GSI_FIRST 5        /* default GSI of slot 0 */
#define VMMIO_GSI_LAST 15        /* highest default GSI */
#define VMMIO_PAGE_SIZE 4096     /* v1 GuestPageSize before the driver writes it */
#define VMMIO_QUEUE_ALIGN 4096   /* v1 QueueAlign before the driver writes it */

/* Register directions (virtio-v1.2 4.2.2 table, "Direction"). */
enum { VMMIO_R = 1, VMMIO_W = 2, VMMIO_RW = 3 };
/* Which register layouts have a register: bit (version - 1). */
enum { VMMIO_V1 = 1, VMMIO_V2 = 2, VMMIO_V12 = 3 };

struct vmmio_reg {
	const char *name; /* NULL: no register at this offset */
	uint8_t dir;
	uint8_t versions;
};

#define VMMIO_REG(off, n, dir, v) [(off) / 4] = { n, dir, v }

/* The control registers, indexed by offset / 4 (virtio-v1.2 4.2.2 and the
 * legacy table in 4.2.4; names are the version 2 ones). */
static const struct vmmio_reg vmmio_regs[VIRTIO_MMIO_CONFIG / 4] = {
	VMMIO_REG(VIRTIO_MMIO_MAGIC_VALUE, "MagicValue", VMMIO_R, VMMIO_V12),
	VMMIO_REG(VIRTIO_MMIO_VERSION, "Version", VMMIO_R, VMMIO_V12),
	VMMIO_REG(VIRTIO_MMIO_DEVICE_ID, "DeviceID", VMMIO_R, VMMIO_V12),
	VMMIO_REG(VIRTIO_MMIO_VENDOR_ID, "VendorID", VMMIO_R, VMMIO_V12),
	VMMIO_REG(VIRTIO_MMIO_DEVICE_FEATURES, "DeviceFeatures", VMMIO_R, VMMIO_V12),
	VMMIO_REG(VIRTIO_MMIO_DEVICE_FEATURES_SEL, "DeviceFeaturesSel", VMMIO_W, VMMIO_V12),
	VMMIO_REG(VIRTIO_MMIO_DRIVER_FEATURES, "DriverFeatures", VMMIO_W, VMMIO_V12),
	VMMIO_REG(VIRTIO_MMIO_DRIVER_FEATURES_SEL, "DriverFeaturesSel", VMMIO_W, VMMIO_V12),
	VMMIO_REG(VIRTIO_MMIO_GUEST_PAGE_SIZE, "GuestPageSize", VMMIO_W, VMMIO_V1),
	VMMIO_REG(VIRTIO_MMIO_QUEUE_SEL, "QueueSel", VMMIO_W, VMMIO_V12),
	VMMIO_REG(VIRTIO_MMIO_QUEUE_NUM_MAX, "QueueNumMax", VMMIO_R, VMMIO_V12),
	VMMIO_REG(VIRTIO_MMIO_QUEUE_NUM, "QueueNum", VMMIO_W, VMMIO_V12),
	VMMIO_REG(VIRTIO_MMIO_QUEUE_ALIGN, "QueueAlign", VMMIO_W, VMMIO_V1),
	VMMIO_REG(VIRTIO_MMIO_QUEUE_PFN, "QueuePFN", VMMIO_RW, VMMIO_V1),
	VMMIO_REG(VIRTIO_MMIO_QUEUE_READY, "QueueReady", VMMIO_RW, VMMIO_V2),
	VMMIO_REG(VIRTIO_MMIO_QUEUE_NOTIFY, "QueueNotify", VMMIO_W, VMMIO_V12),
	VMMIO_REG(VIRTIO_MMIO_INTERRUPT_STATUS, "InterruptStatus", VMMIO_R, VMMIO_V12),
	VMMIO_REG(VIRTIO_MMIO_INTERRUPT_ACK, "InterruptACK", VMMIO_W, VMMIO_V12),
	VMMIO_REG(VIRTIO_MMIO_STATUS, "Status", VMMIO_RW, VMMIO_V12),
	VMMIO_REG(VIRTIO_MMIO_QUEUE_DESC_LOW, "QueueDescLow", VMMIO_W, VMMIO_V2),
	VMMIO_REG(VIRTIO_MMIO_QUEUE_DESC_HIGH, "QueueDescHigh", VMMIO_W, VMMIO_V2),
	VMMIO_REG(VIRTIO_MMIO_QUEUE_DRIVER_LOW, "QueueDriverLow", VMMIO_W, VMMIO_V2),
	VMMIO_REG(VIRTIO_MMIO_QUEUE_DRIVER_HIGH, "QueueDriverHigh", VMMIO_W, VMMIO_V2),
	VMMIO_REG(VIRTIO_MMIO_QUEUE_DEVICE_LOW, "QueueDeviceLow", VMMIO_W, VMMIO_V2),
	VMMIO_REG(VIRTIO_MMIO_QUEUE_DEVICE_HIGH, "QueueDeviceHigh", VMMIO_W, VMMIO_V2),
	VMMIO_REG(VIRTIO_MMIO_SHM_SEL, "SHMSel", VMMIO_W, VMMIO_V2),
	VMMIO_REG(VIRTIO_MMIO_SHM_LEN_LOW, "SHMLenLow", VMMIO_R, VMMIO_V2),
	VMMIO_REG(VIRTIO_MMIO_SHM_LEN_HIGH, "SHMLenHigh", VMMIO_R, VMMIO_V2),
	VMMIO_REG(VIRTIO_MMIO_SHM_BASE_LOW, "SHMBaseLow", VMMIO_R, VMMIO_V2),
	VMMIO_REG(VIRTIO_MMIO_SHM_BASE_HIGH, "SHMBaseHigh", VMMIO_R, VMMIO_V2),
	VMMIO_REG(VIRTIO_MMIO_QUEUE_RESET, "QueueReset", VMMIO_RW, VMMIO_V2),
	VMMIO_REG(VIRTIO_MMIO_CONFIG_GENERATION, "ConfigGeneration", VMMIO_R, VMMIO_V2),
};

struct vmmio {
	struct machine *m;
	struct vdev *d;
	uint64_t base;
	unsigned gsi;
	unsigned version;    /* 1 (legacy) or 2 */
	bool line;           /* level last driven on gsi */
	uint32_t shm_sel;    /* SHMSel as written; no shared memory region exists */
	uint32_t page_size;  /* v1 GuestPageSize */
	uint32_t *align;     /* v1 QueueAlign, one per queue */
	unsigned nalign;
};

/* --- interrupts ------------------------------------------------------------------------ */

/*
 * The line is high while InterruptStatus is non-zero (virtio-v1.2 4.2.3.4).
 * It is raised only from the notify op, so the core decides when an event
 * becomes an interrupt (e.g. not before DRIVER_OK, although the ISR bit is
 * already visible), and lowered here once the bits are gone (ACK, reset).
 * The machine is called only on a change of level.
 */
static void vmmio_set_line(struct vmmio *t, bool level)
{
	if (level == t->line)
		return;
	t->line = level;
	machine_set_intx(t->m, t->gsi, level);
}

/* Transport notify op: the core has an event for the driver. MMIO has a
 * single interrupt whose cause is InterruptStatus (virtio-v1.2 4.2.3.4), so
 * the matching bit is set (the core normally set it already) and the line
 * goes high until the driver acknowledges every bit. */
static void vmmio_irq_notify(void *tctx, struct vdev *d, bool config, unsigned q)
{
	struct vmmio *t = tctx;

	d->isr |= config ? VIRTIO_ISR_CONFIG : VIRTIO_ISR_QUEUE;
	vmmio_set_line(t, true);
}

static const struct vdev_transport_ops vmmio_tops = {
	.notify = vmmio_irq_notify,
};

/* --- queue registers ------------------------------------------------------------------- */

/* Queue chosen by QueueSel for a write to reg, or NULL after reporting
 * DIAG_QUEUE_SELECT (the write is then dropped). */
static struct vdev_queue *vmmio_wqueue(struct vmmio *t, const char *reg)
{
	struct vdev_queue *q = vdev_selected(t->d);

	if (!q)
		diag_report(&t->d->log, DIAG_QUEUE_SELECT, "mmio: %s for queue %u, device has %u",
			    reg, t->d->queue_select, t->d->nqueues);
	return q;
}

/* Ring alignment the driver chose for queue qi (v1). */
static uint32_t vmmio_align(const struct vmmio *t, unsigned qi)
{
	return qi < t->nalign ? t->align[qi] : VMMIO_QUEUE_ALIGN;
}

/*
 * Stop queue q: the driver wrote 0 to QueueReady, which is how a version 2
 * driver gives a queue up (virtio-v1.2 4.2.2.2). The core has no call
 * for it, so the queue is taken out of service here: not enabled, ring
 * state forgotten (chains still in flight then fail to complete with -EIO).
 * The addresses and size stay as written, for a later re-enable.
 */
static void vmmio_queue_stop(struct vdev_queue *q)
{
	q->enabled = false;
	vq_reset(&q->vq);
}

/* Write half of a 64-bit queue address (v2 QueueDesc/Driver/Device). The
 * driver must not change them while the queue is ready (4.2.2.2). */
static void vmmio_queue_addr(struct vmmio *t, uint64_t off, uint32_t val)
{
	const char *reg = vmmio_regs[off / 4].name;
	struct vdev_queue *q = vmmio_wqueue(t, reg);
	uint64_t *addr;

	if (!q)
		return;
	if (q->enabled) {
		diag_report(&t->d->log, DIAG_QUEUE_ENABLED, "mmio: %s written while queue %u is ready",
			    reg, t->d->queue_select);
		return;
	}
	if (off < VIRTIO_MMIO_QUEUE_DRIVER_LOW)
		addr = &q->desc;
	else if (off < VIRTIO_MMIO_QUEUE_DEVICE_LOW)
		addr = &q->driver;
	else
		addr = &q->device;
	if (off & 4) /* the High register of each pair sits 4 above the Low one */
		*addr = (*addr & 0xffffffffull) | ((uint64_t)val << 32);
	else
		*addr = (*addr & ~0xffffffffull) | val;
}

/* QueueReady (v2): 1 enables the selected queue with the addresses written
 * so far, 0 stops it (4.2.2, 4.2.2.2). Any non-zero value counts as 1. */
static void vmmio_queue_ready(struct vmmio *t, uint32_t val)
{
	struct vdev_queue *q = vmmio_wqueue(t, "QueueReady");

	if (!q)
		return;
	if (val && !q->enabled)
		(void)vdev_queue_enable(t->d, t->d->queue_select); /* reported by the core */
	else if (!val && q->enabled)
		vmmio_queue_stop(q);
}

/* QueueNum: the size the driver will use (v1: also the ring size that
 * QueuePFN places). The register is 32 bits, sizes are 16. */
static void vmmio_queue_num(struct vmmio *t, uint32_t val)
{
	struct vdev_queue *q = vmmio_wqueue(t, "QueueNum");

	if (!q)
		return;
	if (val > UINT16_MAX) {
		diag_report(&t->d->log, DIAG_QUEUE_SIZE, "mmio: QueueNum %" PRIu32
			    " above the largest queue size", val);
		return;
	}
	vdev_queue_set_size(t->d, t->d->queue_select, (uint16_t)val);
}

/* QueueNotify: the value is the queue index, or with NOTIFICATION_DATA a
 * le32 whose low 16 bits are the index (virtio-v1.2 4.2.3.3). Validated
 * here before the core sees it. */
static void vmmio_queue_notify(struct vmmio *t, uint32_t val)
{
	uint32_t qi = val;

	if (vdev_has(t->d, VIRTIO_F_NOTIFICATION_DATA))
		qi = val & 0xffff;
	if (qi >= t->d->nqueues) {
		diag_report(&t->d->log, DIAG_QUEUE_SELECT,
			    "mmio: QueueNotify %#" PRIx32 " names queue %" PRIu32 ", device has %u",
			    val, qi, t->d->nqueues);
		return;
	}
	vdev_queue_notify(t->d, qi);
}

/* Legacy GuestPageSize: the unit of QueuePFN, a power of two (4.2.4). It is
 * transport state, not device state: Linux writes it once at probe, before
 * the reset that starts initialisation, so a device reset keeps it. */
static void vmmio_guest_page_size(struct vmmio *t, uint32_t val)
{
	if (!rs_is_pow2(val)) {
		diag_report(&t->d->log, DIAG_MMIO_PAGE_SIZE,
			    "mmio: GuestPageSize %#" PRIx32 " is not a power of two", val);
		return;
	}
	t->page_size = val;
}

/* Legacy QueueAlign: used ring alignment of the selected queue, a power of
 * two (4.2.4); takes effect at the next QueuePFN write. */
static void vmmio_queue_align(struct vmmio *t, uint32_t val)
{
	if (!vmmio_wqueue(t, "QueueAlign"))
		return;
	if (!rs_is_pow2(val)) {
		diag_report(&t->d->log, DIAG_MMIO_PAGE_SIZE,
			    "mmio: QueueAlign %#" PRIx32 " is not a power of two", val);
		return;
	}
	if (t->d->queue_select < t->nalign)
		t->align[t->d->queue_select] = val;
}

/* Legacy QueuePFN: place (non-zero) or stop (zero) the selected queue. */
static void vmmio_queue_pfn(struct vmmio *t, uint32_t val)
{
	unsigned qi = t->d->queue_select;

	if (!vmmio_wqueue(t, "QueuePFN"))
		return;
	(void)vdev_queue_set_pfn(t->d, qi, val, t->page_size, vmmio_align(t, qi)); /* reports */
}

/* Status: 0 resets the device (and so clears InterruptStatus, lowering the
 * line below); other values go through the core's state machine. Only the
 * low 8 bits exist (virtio-v1.2 2.1); the rest are ignored. */
static void vmmio_status(struct vmmio *t, uint32_t val)
{
	uint8_t status = (uint8_t)val;

	vdev_set_status(t->d, status);
	if (status == 0)
		for (unsigned i = 0; i < t->nalign; i++)
			t->align[i] = VMMIO_QUEUE_ALIGN;
}

/* --- register access ------------------------------------------------------------------- */

/*
 * Check an access of size bytes at control offset off (< VIRTIO_MMIO_CONFIG).
 * Returns the register, or NULL after reporting why the access is refused:
 * not 32 bits wide (DIAG_REG_WIDTH) or not aligned (DIAG_REG_ALIGN), both
 * per virtio-v1.2 4.2.2.2; no such register in this version, or a read of a
 * write-only one (DIAG_REG_UNKNOWN); a write to a read-only one
 * (DIAG_REG_READONLY).
 */
static const struct vmmio_reg *vmmio_check(struct vmmio *t, uint64_t off, unsigned size,
					   bool write)
{
	struct diag_log *log = &t->d->log;
	const char *op = write ? "write" : "read";
	const struct vmmio_reg *r;

	if (size != 4) {
		diag_report(log, DIAG_REG_WIDTH, "mmio: %u-byte %s at %#" PRIx64
			    ", control registers are 32-bit", size, op, off);
		return NULL;
	}
	if (off & 3) {
		diag_report(log, DIAG_REG_ALIGN, "mmio: %s at %#" PRIx64 " not 32-bit aligned",
			    op, off);
		return NULL;
	}
	r = &vmmio_regs[off / 4];
	if (!r->name) {
		diag_report(log, DIAG_REG_UNKNOWN, "mmio: %s at %#" PRIx64 ": no register there",
			    op, off);
		return NULL;
	}
	if (!(r->versions & (1u << (t->version - 1)))) {
		diag_report(log, DIAG_REG_UNKNOWN, "mmio: %s of %s, not a version %u register", op,
			    r->name, t->version);
		return NULL;
	}
	if (!write && !(r->dir & VMMIO_R)) {
		diag_report(log, DIAG_REG_UNKNOWN, "mmio: read of write-only %s", r->name);
		return NULL;
	}
	if (write && !(r->dir & VMMIO_W)) {
		diag_report(log, DIAG_REG_READONLY, "mmio: write of read-only %s", r->name);
		return NULL;
	}
	return r;
}

/* Value of a readable register of this version at off (checked). */
static uint32_t vmmio_reg_read(struct vmmio *t, uint64_t off)
{
	struct vdev *d = t->d;
	struct vdev_queue *q = vdev_selected(d); /* out of range: queue registers read 0 */

	switch (off) {
	case VIRTIO_MMIO_MAGIC_VALUE:
		return VIRTIO_MMIO_MAGIC;
	case VIRTIO_MMIO_VERSION:
		return t->version;
	case VIRTIO_MMIO_DEVICE_ID:
		return d->ops->device_id;
	case VIRTIO_MMIO_VENDOR_ID:
		return VIRTIO_MMIO_VENDOR;
	case VIRTIO_MMIO_DEVICE_FEATURES:
		return vdev_device_features(d, d->dfselect);
	case VIRTIO_MMIO_QUEUE_NUM_MAX:
		return q ? q->max : 0; /* 0: "the queue is not available" */
	case VIRTIO_MMIO_QUEUE_PFN:
		return q ? q->legacy_pfn : 0;
	case VIRTIO_MMIO_QUEUE_READY:
		return q && q->enabled;
	case VIRTIO_MMIO_INTERRUPT_STATUS:
		return d->isr;
	case VIRTIO_MMIO_STATUS:
		return d->status;
	case VIRTIO_MMIO_SHM_LEN_LOW:
	case VIRTIO_MMIO_SHM_LEN_HIGH:
	case VIRTIO_MMIO_SHM_BASE_LOW:
	case VIRTIO_MMIO_SHM_BASE_HIGH:
		/* No shared memory regions: every SHMSel names a non-existent one,
		 * whose length and base read as -1 (virtio-v1.2 4.2.2). */
		return 0xffffffffu;
	case VIRTIO_MMIO_CONFIG_GENERATION:
		return d->config_generation;
	default:
		/* QueueReset: VIRTIO_F_RING_RESET is never offered, nothing to
		 * report but 0. */
		return 0;
	}
}

/* Write a writable register of this version at off (checked). */
static void vmmio_reg_write(struct vmmio *t, uint64_t off, uint32_t val)
{
	struct vdev *d = t->d;

	switch (off) {
	case VIRTIO_MMIO_DEVICE_FEATURES_SEL:
		d->dfselect = val;
		break;
	case VIRTIO_MMIO_DRIVER_FEATURES:
		vdev_set_driver_features(d, d->gfselect, val);
		break;
	case VIRTIO_MMIO_DRIVER_FEATURES_SEL:
		d->gfselect = val;
		break;
	case VIRTIO_MMIO_GUEST_PAGE_SIZE:
		vmmio_guest_page_size(t, val);
		break;
	case VIRTIO_MMIO_QUEUE_SEL:
		/* Any value may be selected; queue registers then check it. Values
		 * past 16 bits stay out of range instead of wrapping onto a queue. */
		d->queue_select = val > UINT16_MAX ? UINT16_MAX : (uint16_t)val;
		break;
	case VIRTIO_MMIO_QUEUE_NUM:
		vmmio_queue_num(t, val);
		break;
	case VIRTIO_MMIO_QUEUE_ALIGN:
		vmmio_queue_align(t, val);
		break;
	case VIRTIO_MMIO_QUEUE_PFN:
		vmmio_queue_pfn(t, val);
		break;
	case VIRTIO_MMIO_QUEUE_READY:
		vmmio_queue_ready(t, val);
		break;
	case VIRTIO_MMIO_QUEUE_NOTIFY:
		vmmio_queue_notify(t, val);
		break;
	case VIRTIO_MMIO_INTERRUPT_ACK:
		/* Clear the acknowledged events (4.2.2); undefined bits clear
		 * nothing because they are never set. */
		d->isr &= (uint8_t)~val;
		break;
	case VIRTIO_MMIO_STATUS:
		vmmio_status(t, val);
		break;
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
	case VIRTIO_MMIO_QUEUE_DRIVER_LOW:
	case VIRTIO_MMIO_QUEUE_DRIVER_HIGH:
	case VIRTIO_MMIO_QUEUE_DEVICE_LOW:
	case VIRTIO_MMIO_QUEUE_DEVICE_HIGH:
		vmmio_queue_addr(t, off, val);
		break;
	case VIRTIO_MMIO_SHM_SEL:
		t->shm_sel = val;
		break;
	default: /* VIRTIO_MMIO_QUEUE_RESET, the only other writable register */
		diag_report(&d->log, DIAG_FEATURES_NOT_OFFERED,
			    "mmio: QueueReset written, VIRTIO_F_RING_RESET is not offered");
		break;
	}
}

/* io_ops read: control register or device config. The machine passes only
 * accesses wholly inside the VIRTIO_MMIO_SIZE range. */
static uint64_t vmmio_read(void *ctx, uint64_t off, unsigned size)
{
	struct vmmio *t = ctx;

	if (off >= VIRTIO_MMIO_CONFIG) /* width rules: the core, per config field */
		return vdev_config_read(t->d, (uint32_t)(off - VIRTIO_MMIO_CONFIG), size);
	if (!vmmio_check(t, off, size, false))
		return 0;
	return vmmio_reg_read(t, off);
}

/* io_ops write: control register or device config; then the line drops if
 * the write (an ACK, a reset) left no interrupt status. */
static void vmmio_write(void *ctx, uint64_t off, unsigned size, uint64_t val)
{
	struct vmmio *t = ctx;

	if (off >= VIRTIO_MMIO_CONFIG)
		vdev_config_write(t->d, (uint32_t)(off - VIRTIO_MMIO_CONFIG), size, val);
	else if (vmmio_check(t, off, size, true))
		vmmio_reg_write(t, off, (uint32_t)val);
	if (!t->d->isr)
		vmmio_set_line(t, false);
}

static const struct io_ops vmmio_io = {
	.read = vmmio_read,
	.write = vmmio_write,
};

/* --- creation -------------------------------------------------------------------------- */

/* machine part: unmap and free. The vdev is not touched (it may already be
 * gone when the owner destroys devices first). */
static void vmmio_destroy(void *ctx)
{
	struct vmmio *t = ctx;

	(void)machine_unmap_mmio(t->m, t->base, t);
	free(t->align);
	free(t);
}

/*
 * machine_reset hook: transport state as vmmio_create left it (legacy page
 * size and ring alignments, SHMSel), the device at power-on (its host_reset
 * op if any, then vdev_reset)
 * with its log and counters cleared, and the line low.
 */
static int vmmio_reset(void *ctx)
{
	struct vmmio *t = ctx;

	t->page_size = VMMIO_PAGE_SIZE;
	for (unsigned i = 0; i < t->nalign; i++)
		t->align[i] = VMMIO_QUEUE_ALIGN;
	t->shm_sel = 0;
	vdev_host_reset(t->d);
	vdev_reset(t->d);
	t->d->legacy = t->version == 1;
	diag_clear(&t->d->log);
	memset(&t->d->stats, 0, sizeof(t->d->stats));
	vmmio_set_line(t, false);
	return 0;
}

/* Format a one-line error into err (may be NULL) and return rc. */
static int RS_PRINTF(4, 5) vmmio_fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

/*
 * Expose d over virtio-mmio on m (see transport.h). Placement and default
 * GSI rules are in the comment at the top of this file. Errors (one line in
 * err): -EINVAL for a missing argument, a version other than 1 or 2, a base
 * not 4 KiB aligned or outside the window, an irq outside 0..23 or no
 * default irq for the slot; -EEXIST when the range overlaps another one;
 * -ENOSPC when the window or the machine's part table is full; -ENOMEM.
 */
int vmmio_create(struct machine *m, struct vdev *d, const struct vmmio_opts *o,
		 uint64_t *base_out, unsigned *gsi_out, char *err, size_t errlen)
{
	const uint64_t win = MACHINE_VMMIO_END - MACHINE_VMMIO_BASE;
	struct vmmio *t;
	char name[16];
	uint64_t slot;
	int rc;

	if (!m || !d || !o)
		return vmmio_fail(err, errlen, -EINVAL, "vmmio: machine, device and options needed");
	if (o->version != 1 && o->version != 2)
		return vmmio_fail(err, errlen, -EINVAL, "vmmio: version %u unsupported, use 1 or 2",
				  o->version);
	if (o->gsi < -1 || o->gsi >= MACHINE_GSI_COUNT)
		return vmmio_fail(err, errlen, -EINVAL, "vmmio: irq %d out of range 0..%d", o->gsi,
				  MACHINE_GSI_COUNT - 1);
	if (o->base & (MACHINE_VMMIO_STRIDE - 1))
		return vmmio_fail(err, errlen, -EINVAL, "vmmio: base %#" PRIx64
				  " is not 4 KiB aligned", o->base);
	if (o->base && !rs_range_within(o->base, VIRTIO_MMIO_SIZE, MACHINE_VMMIO_BASE, win))
		return vmmio_fail(err, errlen, -EINVAL, "vmmio: base %#" PRIx64
				  " outside the virtio-mmio window %#llx-%#llx", o->base,
				  MACHINE_VMMIO_BASE, MACHINE_VMMIO_END - 1);

	t = calloc(1, sizeof(*t));
	if (t)
		t->align = calloc(d->nqueues ? d->nqueues : 1, sizeof(*t->align));
	if (!t || !t->align) {
		free(t);
		return vmmio_fail(err, errlen, -ENOMEM, "vmmio: out of memory");
	}
	t->m = m;
	t->d = d;
	t->version = o->version;
	t->page_size = VMMIO_PAGE_SIZE;
	t->nalign = d->nqueues;
	for (unsigned i = 0; i < t->nalign; i++)
		t->align[i] = VMMIO_QUEUE_ALIGN;
	snprintf(name, sizeof(name), "mmio-%.10s", d->name); /* range name, may be cut */

	/* base 0: the machine's allocator gives the lowest free slot at or
	 * above m->vmmio_next and moves vmmio_next past it. */
	t->base = o->base ? o->base : machine_alloc_vmmio(m);
	rc = t->base ? machine_map_mmio(m, t->base, VIRTIO_MMIO_SIZE, &vmmio_io, t, name) : -ENOSPC;
	if (rc) {
		uint64_t at = t->base;

		free(t->align);
		free(t);
		if (rc == -EEXIST)
			return vmmio_fail(err, errlen, rc, "vmmio: %#" PRIx64
					  " overlaps another device", at);
		if (rc == -ENOSPC)
			return vmmio_fail(err, errlen, rc, "vmmio: virtio-mmio window full");
		return vmmio_fail(err, errlen, rc, "vmmio: cannot map %#" PRIx64 ": %s", at,
				  strerror(-rc));
	}

	slot = (t->base - MACHINE_VMMIO_BASE) / MACHINE_VMMIO_STRIDE;
	if (o->gsi >= 0) {
		t->gsi = (unsigned)o->gsi;
	} else if (slot <= VMMIO_GSI_LAST - VMMIO_GSI_FIRST) {
		t->gsi = VMMIO_GSI_FIRST + (unsigned)slot;
	} else {
		rc = vmmio_fail(err, errlen, -EINVAL, "vmmio: no default irq for slot %" PRIu64
				" at %#" PRIx64 " (only slots 0..%d); give irq=", slot, t->base,
				VMMIO_GSI_LAST - VMMIO_GSI_FIRST);
		goto unmap;
	}

	rc = machine_add_part_reset(m, vmmio_destroy, vmmio_reset, t);
	if (rc) {
		rc = vmmio_fail(err, errlen, rc, "vmmio: machine has no room for another part");
		goto unmap;
	}

	/* RING_RESET is masked: QueueReset is not implemented. */
	vdev_bind_transport(d, &vmmio_tops, t, o->version == 2, o->version == 1,
			    o->disable | VIRTIO_BIT(VIRTIO_F_RING_RESET));
	d->legacy = o->version == 1; /* fixed by the version (the core keeps it over resets) */
	if (base_out)
		*base_out = t->base;
	if (gsi_out)
		*gsi_out = t->gsi;
	return 0;

unmap:
	(void)machine_unmap_mmio(m, t->base, t);
	free(t->align);
	free(t);
	return rc;
}
