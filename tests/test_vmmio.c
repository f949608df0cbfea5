/*
 * ringside tests — virtio-mmio transport, version 2 and version 1 (legacy).
 *
 * A local test device (two queues, config fields of every width, read-only
 * and writable) sits behind vmmio_create() on a real machine; the tests play
 * the guest through machine_mmio_read/write: the full register map of each
 * version, bring-up by hand, notifies, interrupts, config space, every kind
 * of invalid access, and the creation options.
 */
#include <errno.h>
#include <string.h>

#include "check.h"
#include "ringside/echo.h"
#include "ringside/guest_machine.h"
#include "ringside/ringside.h"
#include "ringside/transport.h"

/* --- the test device ------------------------------------------------------------------- */

#define TDEV_ID 0x21
#define TDEV_QMAX 64
#define TDEV_FEATURES                                                                       \
	(VIRTIO_BIT(0) | VIRTIO_BIT(5) | VIRTIO_BIT(VIRTIO_F_NOTIFICATION_DATA) |         \
	 VIRTIO_BIT(VIRTIO_F_RING_RESET))

/* Config layout: one read-write and one read-only field of each width. */
#define TCFG_U8_RW 0
#define TCFG_U8_RO 1
#define TCFG_U16_RW 2
#define TCFG_U16_RO 4
#define TCFG_U32_RW 8
#define TCFG_U32_RO 12
#define TCFG_U64_RW 16
#define TCFG_U64_RO 24
#define TCFG_SIZE 32

static const struct vdev_cfg_field tdev_fields[] = {
	{ TCFG_U8_RW, 1, 1 },  { TCFG_U8_RO, 1, 0 },  { TCFG_U16_RW, 2, 1 },
	{ TCFG_U16_RO, 2, 0 }, { TCFG_U32_RW, 4, 1 }, { TCFG_U32_RO, 4, 0 },
	{ TCFG_U64_RW, 8, 1 }, { TCFG_U64_RO, 8, 0 },
};

struct tdev {
	unsigned notifies[2];
	unsigned popped;
	unsigned config_writes;
};

/* Read-only config values (the writable ones start at 0). */
static void tdev_fill(struct vdev *d)
{
	d->config[TCFG_U8_RO] = 0x11;
	rs_st16(d->config + TCFG_U16_RO, 0x2222);
	rs_st32(d->config + TCFG_U32_RO, 0x44444444);
	rs_st64(d->config + TCFG_U64_RO, 0x8888888877777777ull);
}

static int tdev_create(struct vdev *d, struct vdev_args *args, char *err, size_t errlen)
{
	tdev_fill(d);
	return 0;
}

static void tdev_reset(struct vdev *d)
{
	tdev_fill(d);
}

static void tdev_config_write(struct vdev *d, uint32_t off, uint32_t len)
{
	((struct tdev *)d->priv)->config_writes++;
}

/* Record the notify, complete every available chain with length 0 and
 * interrupt the driver if the ring asks for it. */
static void tdev_queue_notify(struct vdev *d, unsigned q)
{
	struct tdev *t = d->priv;
	struct vq_chain c;

	t->notifies[q]++;
	while (vq_pop(&d->queues[q].vq, &c) == 1) {
		t->popped++;
		vq_push(&d->queues[q].vq, &c, 0);
	}
	vdev_queue_interrupt(d, q);
}

static unsigned host_resets;

/* Host-side state back to create time (machine_reset calls it). */
static void tdev_host_reset(struct vdev *d)
{
	host_resets++;
}

static const struct vdev_ops tdev_ops = {
	.name = "tdev",
	.device_id = TDEV_ID,
	.num_queues = 2,
	.queue_max = TDEV_QMAX,
	.features = TDEV_FEATURES,
	.config_size = TCFG_SIZE,
	.cfg_fields = tdev_fields,
	.ncfg_fields = RS_ARRAY_SIZE(tdev_fields),
	.priv_size = sizeof(struct tdev),
	.create = tdev_create,
	.config_write = tdev_config_write,
	.queue_notify = tdev_queue_notify,
	.reset = tdev_reset,
	.host_reset = tdev_host_reset,
};

/* --- environment ----------------------------------------------------------------------- */

#define MEM (16u << 20)

struct env {
	struct machine m;
	struct vdev *d;
	uint64_t base;
	unsigned gsi;
};

static void destroy_vdev(void *ctx)
{
	vdev_destroy(ctx);
}

/* A device with its destruction registered on m (before any transport, so
 * the transport part goes first). */
static struct vdev *new_vdev(struct machine *m, const char *name)
{
	char err[128] = "";
	struct vdev *d = NULL;

	CHECK_EQ(vdev_create(&tdev_ops, &m->gm, name, NULL, &d, err, sizeof err), 0);
	if (d)
		CHECK_EQ(machine_add_part(m, destroy_vdev, d), 0);
	return d;
}

static void env_init(struct env *e, unsigned version)
{
	struct vmmio_opts o = { .version = version, .base = 0, .gsi = -1 };
	char err[128] = "";

	CHECK_EQ(machine_init(&e->m, MEM), 0);
	e->d = new_vdev(&e->m, "t0");
	CHECK_EQ(vmmio_create(&e->m, e->d, &o, &e->base, &e->gsi, err, sizeof err), 0);
	CHECK_EQ(e->base, MACHINE_VMMIO_BASE);
	CHECK_EQ(e->gsi, 5);
}

static void env_fini(struct env *e)
{
	machine_destroy(&e->m);
}

static uint32_t rd(struct env *e, unsigned off)
{
	return (uint32_t)machine_mmio_read(&e->m, e->base + off, 4);
}

static void wr(struct env *e, unsigned off, uint32_t val)
{
	machine_mmio_write(&e->m, e->base + off, 4, val);
}

static bool line(struct env *e)
{
	return (e->m.intx_level >> e->gsi) & 1;
}

static struct tdev *tdev(struct env *e)
{
	return e->d->priv;
}

/* Run stmt and check it reported exactly one diagnostic, of code c. */
#define EXPECT_DIAG(e, c, stmt)                                                             \
	do {                                                                                \
		uint64_t total_ = (e)->d->log.total;                                        \
		uint32_t count_ = diag_count(&(e)->d->log, (c));                            \
		stmt;                                                                       \
		CHECK_EQ(diag_count(&(e)->d->log, (c)), count_ + 1);                        \
		CHECK_EQ((e)->d->log.total, total_ + 1);                                    \
	} while (0)

/* Run stmt and check it reported code c once, maybe among others. */
#define EXPECT_DIAG_AMONG(e, c, stmt)                                                       \
	do {                                                                                \
		uint32_t count_ = diag_count(&(e)->d->log, (c));                            \
		stmt;                                                                       \
		CHECK_EQ(diag_count(&(e)->d->log, (c)), count_ + 1);                        \
	} while (0)

/* Run stmt and check it reported nothing. */
#define EXPECT_QUIET(e, stmt)                                                               \
	do {                                                                                \
		uint64_t total_ = (e)->d->log.total;                                        \
		stmt;                                                                       \
		CHECK_EQ((e)->d->log.total, total_);                                        \
	} while (0)

/* --- register maps from the spec (virtio-v1.2 4.2.2, 4.2.4) --------------------------- */

static const unsigned v2_readable[] = { 0x000, 0x004, 0x008, 0x00c, 0x010, 0x034, 0x044, 0x060,
					0x070, 0x0b0, 0x0b4, 0x0b8, 0x0bc, 0x0c0, 0x0fc };
static const unsigned v2_writable[] = { 0x014, 0x020, 0x024, 0x030, 0x038, 0x044,
					0x050, 0x064, 0x070, 0x080, 0x084, 0x090,
					0x094, 0x0a0, 0x0a4, 0x0ac, 0x0c0 };
static const unsigned v1_readable[] = { 0x000, 0x004, 0x008, 0x00c, 0x010,
					0x034, 0x040, 0x060, 0x070 };
static const unsigned v1_writable[] = { 0x014, 0x020, 0x024, 0x028, 0x030, 0x038,
					0x03c, 0x040, 0x050, 0x064, 0x070 };

static bool in_list(const unsigned *l, size_t n, unsigned off)
{
	for (size_t i = 0; i < n; i++)
		if (l[i] == off)
			return true;
	return false;
}

static bool readable(unsigned version, unsigned off)
{
	return version == 2 ? in_list(v2_readable, RS_ARRAY_SIZE(v2_readable), off)
			    : in_list(v1_readable, RS_ARRAY_SIZE(v1_readable), off);
}

static bool writable(unsigned version, unsigned off)
{
	return version == 2 ? in_list(v2_writable, RS_ARRAY_SIZE(v2_writable), off)
			    : in_list(v1_writable, RS_ARRAY_SIZE(v1_writable), off);
}

/* Power-on value of a readable register. */
static uint32_t power_on_value(struct env *e, unsigned version, unsigned off)
{
	switch (off) {
	case 0x000: return VIRTIO_MMIO_MAGIC;
	case 0x004: return version;
	case 0x008: return TDEV_ID;
	case 0x00c: return VIRTIO_MMIO_VENDOR;
	case 0x010: return (uint32_t)e->d->host_features;
	case 0x034: return TDEV_QMAX;
	case 0x0b0: case 0x0b4: case 0x0b8: case 0x0bc: return 0xffffffffu;
	default: return 0; /* QueueReady, ISR, Status, QueuePFN, QueueReset, generation */
	}
}

/* Every 32-bit offset below the config space: readable registers give their
 * power-on value quietly, everything else 0 with DIAG_REG_UNKNOWN. */
static void check_read_map(unsigned version)
{
	struct env e;

	env_init(&e, version);
	for (unsigned off = 0; off < VIRTIO_MMIO_CONFIG; off += 4) {
		uint32_t v = 0;

		if (readable(version, off)) {
			EXPECT_QUIET(&e, v = rd(&e, off));
			CHECK_EQ(v, power_on_value(&e, version, off));
		} else {
			EXPECT_DIAG(&e, DIAG_REG_UNKNOWN, v = rd(&e, off));
			CHECK_EQ(v, 0);
		}
		if (check_failures) {
			fprintf(stderr, "  at offset %#x, version %u\n", off, version);
			break;
		}
	}
	env_fini(&e);
}

/* Every 32-bit offset that is not writable: read-only registers give
 * DIAG_REG_READONLY, others DIAG_REG_UNKNOWN; the device does not change. */
static void check_write_map(unsigned version)
{
	struct env e;
	uint64_t h;

	env_init(&e, version);
	h = vdev_state_hash(e.d);
	for (unsigned off = 0; off < VIRTIO_MMIO_CONFIG; off += 4) {
		if (writable(version, off))
			continue;
		if (readable(version, off))
			EXPECT_DIAG(&e, DIAG_REG_READONLY, wr(&e, off, 0xffffffffu));
		else
			EXPECT_DIAG(&e, DIAG_REG_UNKNOWN, wr(&e, off, 0xffffffffu));
		CHECK_EQ(vdev_state_hash(e.d), h);
		if (check_failures) {
			fprintf(stderr, "  at offset %#x, version %u\n", off, version);
			break;
		}
	}
	CHECK(!line(&e));
	env_fini(&e);
}

static void test_v2_read_map(void)
{
	check_read_map(2);
}

static void test_v1_read_map(void)
{
	check_read_map(1);
}

static void test_v2_write_map(void)
{
	check_write_map(2);
}

static void test_v1_write_map(void)
{
	check_write_map(1);
}

/* Offered features: generic ones by version, RING_RESET masked, the high
 * window only on version 2. */
static void test_features(void)
{
	struct env e;

	env_init(&e, 2);
	CHECK(e.d->host_features & VIRTIO_BIT(VIRTIO_F_VERSION_1));
	CHECK(!(e.d->host_features & VIRTIO_BIT(VIRTIO_F_RING_RESET)));
	CHECK(e.d->host_features & VIRTIO_BIT(VIRTIO_F_NOTIFICATION_DATA));
	CHECK(!e.d->legacy);
	wr(&e, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	CHECK_EQ(rd(&e, VIRTIO_MMIO_DEVICE_FEATURES), (uint32_t)(e.d->host_features >> 32));
	CHECK(rd(&e, VIRTIO_MMIO_DEVICE_FEATURES) & 1); /* VERSION_1 is bit 32 */
	wr(&e, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	CHECK_EQ(rd(&e, VIRTIO_MMIO_DEVICE_FEATURES), (uint32_t)e.d->host_features);
	CHECK(rd(&e, VIRTIO_MMIO_DEVICE_FEATURES) & VIRTIO_BIT(5));
	/* driver features by window */
	wr(&e, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	wr(&e, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr(&e, VIRTIO_MMIO_DRIVER_FEATURES, VIRTIO_BIT(5));
	wr(&e, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(&e, VIRTIO_MMIO_DRIVER_FEATURES, 1);
	CHECK_EQ(e.d->driver_features, VIRTIO_BIT(5) | VIRTIO_BIT(VIRTIO_F_VERSION_1));
	env_fini(&e);

	env_init(&e, 1);
	CHECK(e.d->legacy);
	CHECK(!(e.d->host_features & VIRTIO_BIT(VIRTIO_F_VERSION_1)));
	CHECK_EQ(e.d->host_features >> 32, 0);
	CHECK_EQ(rd(&e, VIRTIO_MMIO_DEVICE_FEATURES), (uint32_t)e.d->host_features);
	env_fini(&e);
}

/* --- bring-up -------------------------------------------------------------------------- */

#define RING 0x10000ull
#define BUF 0x20000ull

static void gw16(struct env *e, uint64_t gpa, uint16_t v)
{
	uint8_t b[2];

	rs_st16(b, v);
	CHECK_EQ(gm_guest_write(&e->m.gm, gpa, b, 2), 0);
}

static uint16_t gr16(struct env *e, uint64_t gpa)
{
	uint8_t b[2] = { 0, 0 };

	CHECK_EQ(gm_guest_read(&e->m.gm, gpa, b, 2), 0);
	return rs_le16(b);
}

/* Put a one-descriptor chain (head 0, device-writable) in the split ring at
 * desc/avail as the avail entry number idx, and publish idx + 1. */
static void post_chain(struct env *e, uint64_t desc, uint64_t avail, uint16_t idx)
{
	uint8_t dsc[16];

	rs_st64(dsc, BUF);
	rs_st32(dsc + 8, 64);
	rs_st16(dsc + 12, VIRTQ_DESC_F_WRITE);
	rs_st16(dsc + 14, 0);
	CHECK_EQ(gm_guest_write(&e->m.gm, desc, dsc, sizeof dsc), 0);
	gw16(e, avail + 4 + 2u * (idx % 16), 0);
	gw16(e, avail + 2, (uint16_t)(idx + 1));
}

/* Version 2 by hand: status, features, queue 0 by address + QueueReady. */
static void v2_bringup(struct env *e, uint32_t features_hi)
{
	wr(e, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	wr(e, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	wr(e, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr(e, VIRTIO_MMIO_DRIVER_FEATURES, VIRTIO_BIT(0));
	wr(e, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(e, VIRTIO_MMIO_DRIVER_FEATURES, features_hi);
	wr(e, VIRTIO_MMIO_STATUS, 0x0b);
	CHECK_EQ(rd(e, VIRTIO_MMIO_STATUS), 0x0b);

	wr(e, VIRTIO_MMIO_QUEUE_SEL, 0);
	CHECK_EQ(rd(e, VIRTIO_MMIO_QUEUE_READY), 0);
	CHECK_EQ(rd(e, VIRTIO_MMIO_QUEUE_NUM_MAX), TDEV_QMAX);
	wr(e, VIRTIO_MMIO_QUEUE_NUM, 16);
	wr(e, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)RING);
	wr(e, VIRTIO_MMIO_QUEUE_DESC_HIGH, 0);
	wr(e, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)RING + 0x1000);
	wr(e, VIRTIO_MMIO_QUEUE_DRIVER_HIGH, 0);
	wr(e, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)RING + 0x2000);
	wr(e, VIRTIO_MMIO_QUEUE_DEVICE_HIGH, 0);
	wr(e, VIRTIO_MMIO_QUEUE_READY, 1);
	CHECK_EQ(rd(e, VIRTIO_MMIO_QUEUE_READY), 1);
	wr(e, VIRTIO_MMIO_STATUS, 0x0f);
	CHECK_EQ(rd(e, VIRTIO_MMIO_STATUS), 0x0f);
}

static void test_v2_bringup(void)
{
	struct env e;
	struct vdev_queue *q;
	uint64_t irqs;

	env_init(&e, 2);
	EXPECT_QUIET(&e, v2_bringup(&e, 1));
	q = &e.d->queues[0];
	CHECK(q->enabled);
	CHECK_EQ(q->desc, RING);
	CHECK_EQ(q->driver, RING + 0x1000);
	CHECK_EQ(q->device, RING + 0x2000);
	CHECK_EQ(q->vq.num, 16);
	CHECK(q->vq.ready);

	/* a chain, a notify reaching the device, a used buffer interrupt */
	post_chain(&e, RING, RING + 0x1000, 0);
	irqs = e.m.intx_raised;
	EXPECT_QUIET(&e, wr(&e, VIRTIO_MMIO_QUEUE_NOTIFY, 0));
	CHECK_EQ(tdev(&e)->notifies[0], 1);
	CHECK_EQ(tdev(&e)->notifies[1], 0);
	CHECK_EQ(tdev(&e)->popped, 1);
	CHECK_EQ(gr16(&e, RING + 0x2000 + 2), 1); /* used idx */
	CHECK(line(&e));
	CHECK_EQ(e.m.intx_raised, irqs + 1);
	CHECK_EQ(rd(&e, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_ISR_QUEUE);
	CHECK(line(&e)); /* reading the status does not acknowledge it */
	wr(&e, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_ISR_QUEUE);
	CHECK(!line(&e));
	CHECK_EQ(rd(&e, VIRTIO_MMIO_INTERRUPT_STATUS), 0);

	/* queue registers are frozen while the queue is ready */
	EXPECT_DIAG(&e, DIAG_QUEUE_ENABLED, wr(&e, VIRTIO_MMIO_QUEUE_DESC_LOW, 0x30000));
	EXPECT_DIAG(&e, DIAG_QUEUE_ENABLED, wr(&e, VIRTIO_MMIO_QUEUE_DESC_HIGH, 1));
	EXPECT_DIAG(&e, DIAG_QUEUE_ENABLED, wr(&e, VIRTIO_MMIO_QUEUE_DRIVER_LOW, 0x30000));
	EXPECT_DIAG(&e, DIAG_QUEUE_ENABLED, wr(&e, VIRTIO_MMIO_QUEUE_DEVICE_HIGH, 1));
	EXPECT_DIAG(&e, DIAG_QUEUE_ENABLED, wr(&e, VIRTIO_MMIO_QUEUE_NUM, 8));
	CHECK_EQ(q->desc, RING);
	CHECK_EQ(q->driver, RING + 0x1000);
	CHECK_EQ(q->device, RING + 0x2000);
	CHECK_EQ(q->size, 16);
	/* writing 1 again changes nothing */
	EXPECT_QUIET(&e, wr(&e, VIRTIO_MMIO_QUEUE_READY, 1));
	CHECK(q->enabled);

	/* QueueReady 0 stops the queue; a notify then does not reach the device */
	EXPECT_QUIET(&e, wr(&e, VIRTIO_MMIO_QUEUE_READY, 0));
	CHECK_EQ(rd(&e, VIRTIO_MMIO_QUEUE_READY), 0);
	CHECK(!q->enabled);
	CHECK(!q->vq.ready);
	EXPECT_QUIET(&e, wr(&e, VIRTIO_MMIO_QUEUE_READY, 0));
	EXPECT_DIAG(&e, DIAG_QUEUE_NOT_READY, wr(&e, VIRTIO_MMIO_QUEUE_NOTIFY, 0));
	CHECK_EQ(tdev(&e)->notifies[0], 1);

	/* re-enable it elsewhere, using both address halves' storage */
	wr(&e, VIRTIO_MMIO_QUEUE_DESC_LOW, 0x40000);
	wr(&e, VIRTIO_MMIO_QUEUE_DRIVER_LOW, 0x41000);
	wr(&e, VIRTIO_MMIO_QUEUE_DEVICE_LOW, 0x42000);
	wr(&e, VIRTIO_MMIO_QUEUE_NUM, 8);
	EXPECT_QUIET(&e, wr(&e, VIRTIO_MMIO_QUEUE_READY, 1));
	CHECK(q->enabled);
	CHECK_EQ(q->vq.desc, 0x40000);
	CHECK_EQ(q->vq.num, 8);
	post_chain(&e, 0x40000, 0x41000, 0);
	wr(&e, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	CHECK_EQ(tdev(&e)->notifies[0], 2);
	CHECK_EQ(gr16(&e, 0x42000 + 2), 1);
	CHECK(line(&e));

	/* reset: everything back, the line drops */
	EXPECT_QUIET(&e, wr(&e, VIRTIO_MMIO_STATUS, 0));
	CHECK(!line(&e));
	CHECK_EQ(rd(&e, VIRTIO_MMIO_STATUS), 0);
	CHECK_EQ(rd(&e, VIRTIO_MMIO_QUEUE_READY), 0);
	CHECK_EQ(rd(&e, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	CHECK(!q->enabled);
	env_fini(&e);
}

/* The high halves of the queue addresses and the selected queue: queue 1
 * set up with addresses above 4 GiB (with 5 GiB of RAM). */
static void test_v2_high_addresses(void)
{
	struct env e;
	struct vmmio_opts o = { .version = 2, .gsi = -1 };
	char err[128];
	struct vdev_queue *q;

	CHECK_EQ(machine_init(&e.m, 5ull << 30), 0);
	e.d = new_vdev(&e.m, "hi");
	CHECK_EQ(vmmio_create(&e.m, e.d, &o, &e.base, &e.gsi, err, sizeof err), 0);
	wr(&e, VIRTIO_MMIO_STATUS, 3);
	wr(&e, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(&e, VIRTIO_MMIO_DRIVER_FEATURES, 1);
	wr(&e, VIRTIO_MMIO_STATUS, 0x0b);
	wr(&e, VIRTIO_MMIO_QUEUE_SEL, 1);
	wr(&e, VIRTIO_MMIO_QUEUE_NUM, 4);
	wr(&e, VIRTIO_MMIO_QUEUE_DESC_LOW, 0x1000);
	wr(&e, VIRTIO_MMIO_QUEUE_DESC_HIGH, 1);
	wr(&e, VIRTIO_MMIO_QUEUE_DRIVER_LOW, 0x2000);
	wr(&e, VIRTIO_MMIO_QUEUE_DRIVER_HIGH, 1);
	wr(&e, VIRTIO_MMIO_QUEUE_DEVICE_LOW, 0x3000);
	wr(&e, VIRTIO_MMIO_QUEUE_DEVICE_HIGH, 1);
	/* rewriting a low half keeps the high half */
	wr(&e, VIRTIO_MMIO_QUEUE_DEVICE_LOW, 0x4000);
	q = &e.d->queues[1];
	CHECK_EQ(q->desc, 0x100001000ull);
	CHECK_EQ(q->driver, 0x100002000ull);
	CHECK_EQ(q->device, 0x100004000ull);
	CHECK_EQ(e.d->queues[0].desc, 0);
	EXPECT_QUIET(&e, wr(&e, VIRTIO_MMIO_QUEUE_READY, 1));
	CHECK(q->enabled);
	CHECK_EQ(q->vq.device, 0x100004000ull);
	CHECK_EQ(rd(&e, VIRTIO_MMIO_QUEUE_READY), 1);
	wr(&e, VIRTIO_MMIO_QUEUE_SEL, 0);
	CHECK_EQ(rd(&e, VIRTIO_MMIO_QUEUE_READY), 0);
	env_fini(&e);
}

/* QueueReady with a ring outside RAM: the core refuses, the register reads
 * back 0 and the device needs a reset. */
static void test_v2_bad_ring(void)
{
	struct env e;

	env_init(&e, 2);
	wr(&e, VIRTIO_MMIO_STATUS, 3);
	wr(&e, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(&e, VIRTIO_MMIO_DRIVER_FEATURES, 1);
	wr(&e, VIRTIO_MMIO_STATUS, 0x0b);
	wr(&e, VIRTIO_MMIO_QUEUE_NUM, 16);
	wr(&e, VIRTIO_MMIO_QUEUE_DESC_LOW, 0);
	wr(&e, VIRTIO_MMIO_QUEUE_DESC_HIGH, 0x80);
	wr(&e, VIRTIO_MMIO_QUEUE_DRIVER_LOW, 0x1000);
	wr(&e, VIRTIO_MMIO_QUEUE_DEVICE_LOW, 0x2000);
	uint64_t total = e.d->log.total;
	wr(&e, VIRTIO_MMIO_QUEUE_READY, 1);
	CHECK(e.d->log.total > total);
	CHECK_EQ(rd(&e, VIRTIO_MMIO_QUEUE_READY), 0);
	CHECK(rd(&e, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
	env_fini(&e);
}

/* Version 1 by hand: GuestPageSize, QueueNum, QueueAlign, QueuePFN. */
static void v1_bringup(struct env *e)
{
	wr(e, VIRTIO_MMIO_GUEST_PAGE_SIZE, 4096);
	wr(e, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	wr(e, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	wr(e, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr(e, VIRTIO_MMIO_DRIVER_FEATURES, VIRTIO_BIT(0));
	wr(e, VIRTIO_MMIO_QUEUE_SEL, 0);
	CHECK_EQ(rd(e, VIRTIO_MMIO_QUEUE_PFN), 0);
	CHECK_EQ(rd(e, VIRTIO_MMIO_QUEUE_NUM_MAX), TDEV_QMAX);
	wr(e, VIRTIO_MMIO_QUEUE_NUM, 16);
	wr(e, VIRTIO_MMIO_QUEUE_ALIGN, 4096);
	wr(e, VIRTIO_MMIO_QUEUE_PFN, (uint32_t)(RING >> 12));
	CHECK_EQ(rd(e, VIRTIO_MMIO_QUEUE_PFN), RING >> 12);
	wr(e, VIRTIO_MMIO_STATUS, 0x07);
	CHECK_EQ(rd(e, VIRTIO_MMIO_STATUS), 0x07);
}

static void test_v1_bringup(void)
{
	struct env e;
	struct vdev_queue *q;

	env_init(&e, 1);
	EXPECT_QUIET(&e, v1_bringup(&e));
	q = &e.d->queues[0];
	CHECK(q->enabled);
	CHECK_EQ(q->legacy_pfn, RING >> 12);
	CHECK_EQ(q->vq.num, 16);
	CHECK_EQ(q->vq.desc, RING);
	CHECK_EQ(q->vq.driver, RING + 16 * 16);
	CHECK_EQ(q->vq.device, RING + 0x1000); /* used ring at the 4 KiB alignment */
	CHECK_EQ(e.d->driver_features, VIRTIO_BIT(0));

	post_chain(&e, RING, RING + 16 * 16, 0);
	EXPECT_QUIET(&e, wr(&e, VIRTIO_MMIO_QUEUE_NOTIFY, 0));
	CHECK_EQ(tdev(&e)->notifies[0], 1);
	CHECK_EQ(tdev(&e)->popped, 1);
	CHECK_EQ(gr16(&e, RING + 0x1000 + 2), 1);
	CHECK(line(&e));
	CHECK_EQ(rd(&e, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_ISR_QUEUE);
	wr(&e, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_ISR_QUEUE);
	CHECK(!line(&e));

	/* QueueNum while placed is refused; PFN 0 stops the queue */
	EXPECT_DIAG(&e, DIAG_QUEUE_ENABLED, wr(&e, VIRTIO_MMIO_QUEUE_NUM, 8));
	EXPECT_QUIET(&e, wr(&e, VIRTIO_MMIO_QUEUE_PFN, 0));
	CHECK_EQ(rd(&e, VIRTIO_MMIO_QUEUE_PFN), 0);
	CHECK(!q->enabled);

	/* another page size and alignment: the PFN unit and the used ring move */
	wr(&e, VIRTIO_MMIO_GUEST_PAGE_SIZE, 0x2000);
	wr(&e, VIRTIO_MMIO_QUEUE_NUM, 8);
	wr(&e, VIRTIO_MMIO_QUEUE_ALIGN, 0x100);
	EXPECT_QUIET(&e, wr(&e, VIRTIO_MMIO_QUEUE_PFN, 0x30000 / 0x2000));
	CHECK(q->enabled);
	CHECK_EQ(rd(&e, VIRTIO_MMIO_QUEUE_PFN), 0x30000 / 0x2000);
	CHECK_EQ(q->vq.desc, 0x30000);
	CHECK_EQ(q->vq.driver, 0x30000 + 8 * 16);
	CHECK_EQ(q->vq.device, 0x30000 + 0x100); /* 128 + 22 bytes, up to 0x100 */

	/* queue 1 still has the default alignment */
	wr(&e, VIRTIO_MMIO_QUEUE_SEL, 1);
	wr(&e, VIRTIO_MMIO_QUEUE_NUM, 8);
	wr(&e, VIRTIO_MMIO_QUEUE_PFN, 0x40000 / 0x2000);
	CHECK_EQ(e.d->queues[1].vq.device, 0x40000 + 0x1000);

	/* a ring outside RAM: the core refuses it, the PFN reads 0 */
	wr(&e, VIRTIO_MMIO_QUEUE_PFN, 0);
	EXPECT_DIAG_AMONG(&e, DIAG_LEGACY_PFN, wr(&e, VIRTIO_MMIO_QUEUE_PFN, 0xfffff));
	CHECK(rd(&e, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
	CHECK_EQ(rd(&e, VIRTIO_MMIO_QUEUE_PFN), 0);

	/* reset: PFNs read 0, page size survives, alignment back to 4 KiB */
	wr(&e, VIRTIO_MMIO_STATUS, 0);
	wr(&e, VIRTIO_MMIO_QUEUE_SEL, 0);
	CHECK_EQ(rd(&e, VIRTIO_MMIO_QUEUE_PFN), 0);
	CHECK(!q->enabled);
	CHECK(e.d->legacy);
	wr(&e, VIRTIO_MMIO_STATUS, 3);
	wr(&e, VIRTIO_MMIO_QUEUE_NUM, 8);
	wr(&e, VIRTIO_MMIO_QUEUE_PFN, 0x50000 / 0x2000);
	CHECK_EQ(q->vq.desc, 0x50000);
	CHECK_EQ(q->vq.device, 0x50000 + 0x1000);
	env_fini(&e);
}

/* --- interrupts ------------------------------------------------------------------------ */

static void test_interrupts(void)
{
	struct env e;
	uint32_t gen;

	env_init(&e, 2);
	/* before DRIVER_OK a config change sets the bit but raises nothing */
	vdev_config_changed(e.d);
	CHECK(!line(&e));
	CHECK_EQ(rd(&e, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_ISR_CONFIG);
	wr(&e, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_ISR_CONFIG);
	CHECK_EQ(rd(&e, VIRTIO_MMIO_INTERRUPT_STATUS), 0);

	v2_bringup(&e, 1);
	gen = rd(&e, VIRTIO_MMIO_CONFIG_GENERATION);
	vdev_config_changed(e.d);
	CHECK(line(&e));
	CHECK_EQ(rd(&e, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_ISR_CONFIG);
	CHECK(rd(&e, VIRTIO_MMIO_CONFIG_GENERATION) != gen);

	/* a used-buffer event on top: both bits, still one line */
	e.d->tops->notify(e.d->tctx, e.d, false, 1);
	CHECK_EQ(rd(&e, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_ISR_CONFIG | VIRTIO_ISR_QUEUE);
	CHECK(line(&e));

	/* acknowledging one bit keeps the line up; undefined bits do nothing */
	wr(&e, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_ISR_QUEUE | 0xfffffff0u);
	CHECK(line(&e));
	CHECK_EQ(rd(&e, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_ISR_CONFIG);
	wr(&e, VIRTIO_MMIO_INTERRUPT_ACK, 0);
	CHECK(line(&e));
	wr(&e, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_ISR_CONFIG);
	CHECK(!line(&e));
	CHECK_EQ(rd(&e, VIRTIO_MMIO_INTERRUPT_STATUS), 0);

	/* a reset lowers a raised line */
	e.d->tops->notify(e.d->tctx, e.d, true, 0);
	CHECK(line(&e));
	wr(&e, VIRTIO_MMIO_STATUS, 0);
	CHECK(!line(&e));
	CHECK_EQ(rd(&e, VIRTIO_MMIO_INTERRUPT_STATUS), 0);

	/* the line is driven once per change: a second event does not re-raise */
	uint64_t raised = e.m.intx_raised;
	e.d->tops->notify(e.d->tctx, e.d, false, 0);
	e.d->tops->notify(e.d->tctx, e.d, true, 0);
	CHECK_EQ(e.m.intx_raised, raised + 1);
	env_fini(&e);
}

/* An explicit GSI is the line that moves. */
static void test_interrupt_gsi(void)
{
	struct machine m;
	struct vmmio_opts o = { .version = 1, .gsi = 20 };
	char err[128];
	struct vdev *d;
	unsigned gsi = 0;

	CHECK_EQ(machine_init(&m, MEM), 0);
	d = new_vdev(&m, "g");
	CHECK_EQ(vmmio_create(&m, d, &o, NULL, &gsi, err, sizeof err), 0);
	CHECK_EQ(gsi, 20);
	d->tops->notify(d->tctx, d, false, 0);
	CHECK_EQ(m.intx_level, 1u << 20);
	machine_mmio_write(&m, MACHINE_VMMIO_BASE + VIRTIO_MMIO_INTERRUPT_ACK, 4, 1);
	CHECK_EQ(m.intx_level, 0);
	machine_destroy(&m);
}

/* --- config space ---------------------------------------------------------------------- */

static void check_config(unsigned version)
{
	struct env e;
	uint64_t v = 0;

	env_init(&e, version);
#define CFG(off) (e.base + VIRTIO_MMIO_CONFIG + (off))
	/* read-only fields of each width */
	EXPECT_QUIET(&e, v = machine_mmio_read(&e.m, CFG(TCFG_U8_RO), 1));
	CHECK_EQ(v, 0x11);
	EXPECT_QUIET(&e, v = machine_mmio_read(&e.m, CFG(TCFG_U16_RO), 2));
	CHECK_EQ(v, 0x2222);
	EXPECT_QUIET(&e, v = machine_mmio_read(&e.m, CFG(TCFG_U32_RO), 4));
	CHECK_EQ(v, 0x44444444);
	EXPECT_QUIET(&e, v = machine_mmio_read(&e.m, CFG(TCFG_U64_RO), 8));
	CHECK_EQ(v, 0x8888888877777777ull);
	EXPECT_QUIET(&e, v = machine_mmio_read(&e.m, CFG(TCFG_U64_RO + 4), 4));
	CHECK_EQ(v, 0x88888888);

	/* writable fields of each width */
	EXPECT_QUIET(&e, machine_mmio_write(&e.m, CFG(TCFG_U8_RW), 1, 0xa1));
	EXPECT_QUIET(&e, machine_mmio_write(&e.m, CFG(TCFG_U16_RW), 2, 0xb2b2));
	EXPECT_QUIET(&e, machine_mmio_write(&e.m, CFG(TCFG_U32_RW), 4, 0xc3c3c3c3));
	EXPECT_QUIET(&e, machine_mmio_write(&e.m, CFG(TCFG_U64_RW), 8, 0xd4d4d4d4e5e5e5e5ull));
	CHECK_EQ(tdev(&e)->config_writes, 4);
	CHECK_EQ(machine_mmio_read(&e.m, CFG(TCFG_U8_RW), 1), 0xa1);
	CHECK_EQ(machine_mmio_read(&e.m, CFG(TCFG_U16_RW), 2), 0xb2b2);
	CHECK_EQ(machine_mmio_read(&e.m, CFG(TCFG_U32_RW), 4), 0xc3c3c3c3);
	CHECK_EQ(machine_mmio_read(&e.m, CFG(TCFG_U64_RW), 8), 0xd4d4d4d4e5e5e5e5ull);
	CHECK_EQ(rs_le64(e.d->config + TCFG_U64_RW), 0xd4d4d4d4e5e5e5e5ull);

	/* the core's rules reach the driver through the transport */
	EXPECT_DIAG(&e, DIAG_CONFIG_READONLY, machine_mmio_write(&e.m, CFG(TCFG_U32_RO), 4, 0));
	CHECK_EQ(machine_mmio_read(&e.m, CFG(TCFG_U32_RO), 4), 0x44444444);
	EXPECT_DIAG(&e, DIAG_CONFIG_WIDTH, v = machine_mmio_read(&e.m, CFG(TCFG_U32_RO), 2));
	CHECK_EQ(v, 0x4444);
	EXPECT_DIAG(&e, DIAG_CONFIG_RANGE, v = machine_mmio_read(&e.m, CFG(TCFG_SIZE), 4));
	CHECK_EQ(v, 0);
	EXPECT_DIAG(&e, DIAG_CONFIG_RANGE, v = machine_mmio_read(&e.m, CFG(0xfc), 4));
	CHECK_EQ(v, 0);
	EXPECT_DIAG(&e, DIAG_CONFIG_RANGE, machine_mmio_write(&e.m, CFG(0xf8), 8, ~0ull));

	/* generation (version 2 only): moves with a device-side change */
	if (version == 2) {
		uint32_t gen = rd(&e, VIRTIO_MMIO_CONFIG_GENERATION);

		CHECK_EQ(gen, e.d->config_generation);
		vdev_config_changed(e.d);
		CHECK_EQ(rd(&e, VIRTIO_MMIO_CONFIG_GENERATION), gen + 1);
	} else {
		EXPECT_DIAG(&e, DIAG_REG_UNKNOWN, v = rd(&e, VIRTIO_MMIO_CONFIG_GENERATION));
		CHECK_EQ(v, 0);
	}
#undef CFG
	env_fini(&e);
}

static void test_v2_config(void)
{
	check_config(2);
}

static void test_v1_config(void)
{
	check_config(1);
}

/* --- invalid accesses ------------------------------------------------------------------ */

/* Control registers are 32-bit and aligned (virtio-v1.2 4.2.2.2). */
static void check_width_align(unsigned version)
{
	struct env e;
	uint64_t v = 1, h;

	env_init(&e, version);
	h = vdev_state_hash(e.d);
	static const unsigned sizes[] = { 1, 2, 8 };
	for (unsigned i = 0; i < RS_ARRAY_SIZE(sizes); i++) {
		EXPECT_DIAG(&e, DIAG_REG_WIDTH,
			    v = machine_mmio_read(&e.m, e.base + VIRTIO_MMIO_MAGIC_VALUE, sizes[i]));
		CHECK_EQ(v, 0);
		EXPECT_DIAG(&e, DIAG_REG_WIDTH,
			    machine_mmio_write(&e.m, e.base + VIRTIO_MMIO_STATUS, sizes[i], 1));
	}
	/* an 8-byte access that reaches into the config space is still a control one */
	EXPECT_DIAG(&e, DIAG_REG_WIDTH, v = machine_mmio_read(&e.m, e.base + 0xfc, 8));
	CHECK_EQ(v, 0);
	EXPECT_DIAG(&e, DIAG_REG_ALIGN, v = machine_mmio_read(&e.m, e.base + 2, 4));
	CHECK_EQ(v, 0);
	EXPECT_DIAG(&e, DIAG_REG_ALIGN,
		    machine_mmio_write(&e.m, e.base + VIRTIO_MMIO_STATUS + 1, 4, 1));
	EXPECT_DIAG(&e, DIAG_REG_ALIGN, v = machine_mmio_read(&e.m, e.base + 0xfe, 4));
	CHECK_EQ(vdev_state_hash(e.d), h);
	CHECK_EQ(rd(&e, VIRTIO_MMIO_STATUS), 0);
	env_fini(&e);
}

static void test_width_align(void)
{
	check_width_align(2);
	check_width_align(1);
}

/* Out-of-range QueueSel: queue reads give 0, queue writes DIAG_QUEUE_SELECT. */
static void check_queue_select(unsigned version)
{
	struct env e;
	uint64_t h;

	env_init(&e, version);
	static const uint32_t sels[] = { 2, 0xffff, 0x10000 /* must not wrap to queue 0 */ };
	for (unsigned i = 0; i < RS_ARRAY_SIZE(sels); i++) {
		EXPECT_QUIET(&e, wr(&e, VIRTIO_MMIO_QUEUE_SEL, sels[i]));
		h = vdev_state_hash(e.d);
		EXPECT_QUIET(&e, CHECK_EQ(rd(&e, VIRTIO_MMIO_QUEUE_NUM_MAX), 0));
		EXPECT_DIAG(&e, DIAG_QUEUE_SELECT, wr(&e, VIRTIO_MMIO_QUEUE_NUM, 8));
		if (version == 2) {
			EXPECT_QUIET(&e, CHECK_EQ(rd(&e, VIRTIO_MMIO_QUEUE_READY), 0));
			EXPECT_DIAG(&e, DIAG_QUEUE_SELECT, wr(&e, VIRTIO_MMIO_QUEUE_READY, 1));
			EXPECT_DIAG(&e, DIAG_QUEUE_SELECT, wr(&e, VIRTIO_MMIO_QUEUE_READY, 0));
			EXPECT_DIAG(&e, DIAG_QUEUE_SELECT, wr(&e, VIRTIO_MMIO_QUEUE_DESC_LOW, 0x1000));
			EXPECT_DIAG(&e, DIAG_QUEUE_SELECT, wr(&e, VIRTIO_MMIO_QUEUE_DRIVER_HIGH, 1));
			EXPECT_DIAG(&e, DIAG_QUEUE_SELECT, wr(&e, VIRTIO_MMIO_QUEUE_DEVICE_LOW, 0));
		} else {
			EXPECT_QUIET(&e, CHECK_EQ(rd(&e, VIRTIO_MMIO_QUEUE_PFN), 0));
			EXPECT_DIAG(&e, DIAG_QUEUE_SELECT, wr(&e, VIRTIO_MMIO_QUEUE_PFN, 0x10));
			EXPECT_DIAG(&e, DIAG_QUEUE_SELECT, wr(&e, VIRTIO_MMIO_QUEUE_ALIGN, 4096));
		}
		CHECK_EQ(vdev_state_hash(e.d), h);
	}
	CHECK(!e.d->queues[0].enabled);
	CHECK_EQ(e.d->queues[0].size, TDEV_QMAX);
	env_fini(&e);
}

static void test_queue_select(void)
{
	check_queue_select(2);
	check_queue_select(1);
}

/* QueueNotify carries a queue index, checked before the device sees it. */
static void test_notify_index(void)
{
	struct env e;

	env_init(&e, 2);
	v2_bringup(&e, 1);
	EXPECT_DIAG(&e, DIAG_QUEUE_SELECT, wr(&e, VIRTIO_MMIO_QUEUE_NOTIFY, 2));
	EXPECT_DIAG(&e, DIAG_QUEUE_SELECT, wr(&e, VIRTIO_MMIO_QUEUE_NOTIFY, 0xffffffffu));
	/* without NOTIFICATION_DATA the upper bits are part of the index */
	EXPECT_DIAG(&e, DIAG_QUEUE_SELECT, wr(&e, VIRTIO_MMIO_QUEUE_NOTIFY, 0x10000));
	CHECK_EQ(tdev(&e)->notifies[0] + tdev(&e)->notifies[1], 0);
	EXPECT_QUIET(&e, wr(&e, VIRTIO_MMIO_QUEUE_NOTIFY, 0));
	CHECK_EQ(tdev(&e)->notifies[0], 1);
	env_fini(&e);

	/* with NOTIFICATION_DATA: vqn in bits 0..15, next_off/next_wrap above */
	env_init(&e, 2);
	v2_bringup(&e, 1 | VIRTIO_BIT(VIRTIO_F_NOTIFICATION_DATA - 32));
	CHECK(vdev_has(e.d, VIRTIO_F_NOTIFICATION_DATA));
	EXPECT_QUIET(&e, wr(&e, VIRTIO_MMIO_QUEUE_NOTIFY, 0x80050000u));
	CHECK_EQ(tdev(&e)->notifies[0], 1);
	EXPECT_DIAG(&e, DIAG_QUEUE_SELECT, wr(&e, VIRTIO_MMIO_QUEUE_NOTIFY, 0x00050002u));
	CHECK_EQ(tdev(&e)->notifies[0] + tdev(&e)->notifies[1], 1);
	env_fini(&e);

	env_init(&e, 1);
	v1_bringup(&e);
	EXPECT_DIAG(&e, DIAG_QUEUE_SELECT, wr(&e, VIRTIO_MMIO_QUEUE_NOTIFY, 7));
	EXPECT_QUIET(&e, wr(&e, VIRTIO_MMIO_QUEUE_NOTIFY, 0));
	CHECK_EQ(tdev(&e)->notifies[0], 1);
	env_fini(&e);
}

/* Legacy GuestPageSize and QueueAlign must be powers of two. */
static void test_v1_page_size_align(void)
{
	struct env e;

	env_init(&e, 1);
	static const uint32_t bad[] = { 0, 3, 0x3000, 0xffffffffu };
	for (unsigned i = 0; i < RS_ARRAY_SIZE(bad); i++) {
		EXPECT_DIAG(&e, DIAG_MMIO_PAGE_SIZE, wr(&e, VIRTIO_MMIO_GUEST_PAGE_SIZE, bad[i]));
		EXPECT_DIAG(&e, DIAG_MMIO_PAGE_SIZE, wr(&e, VIRTIO_MMIO_QUEUE_ALIGN, bad[i]));
	}
	/* both kept their defaults: PFN in 4 KiB pages, used ring 4 KiB aligned */
	wr(&e, VIRTIO_MMIO_STATUS, 3);
	wr(&e, VIRTIO_MMIO_QUEUE_NUM, 4);
	EXPECT_QUIET(&e, wr(&e, VIRTIO_MMIO_QUEUE_PFN, 0x10));
	CHECK_EQ(e.d->queues[0].vq.desc, 0x10000);
	CHECK_EQ(e.d->queues[0].vq.device, 0x11000);
	/* a good page size after a bad one takes effect */
	wr(&e, VIRTIO_MMIO_GUEST_PAGE_SIZE, 1);
	wr(&e, VIRTIO_MMIO_QUEUE_SEL, 1);
	wr(&e, VIRTIO_MMIO_QUEUE_NUM, 4);
	wr(&e, VIRTIO_MMIO_QUEUE_ALIGN, 16);
	EXPECT_QUIET(&e, wr(&e, VIRTIO_MMIO_QUEUE_PFN, 0x20000));
	CHECK_EQ(e.d->queues[1].vq.desc, 0x20000);
	CHECK_EQ(e.d->queues[1].vq.device, 0x20000 + 0x50); /* 64 + 14 -> 80 */
	env_fini(&e);
}

/* Other queue and status edge cases. */
static void test_queue_misc(void)
{
	struct env e;

	env_init(&e, 2);
	/* QueueNum beyond 16 bits does not wrap into a valid size */
	EXPECT_DIAG(&e, DIAG_QUEUE_SIZE, wr(&e, VIRTIO_MMIO_QUEUE_NUM, 0x10010));
	CHECK_EQ(e.d->queues[0].size, TDEV_QMAX);
	EXPECT_DIAG(&e, DIAG_QUEUE_SIZE, wr(&e, VIRTIO_MMIO_QUEUE_NUM, TDEV_QMAX + 1));
	EXPECT_DIAG(&e, DIAG_QUEUE_SIZE, wr(&e, VIRTIO_MMIO_QUEUE_NUM, 0));
	EXPECT_QUIET(&e, wr(&e, VIRTIO_MMIO_QUEUE_NUM, 32));
	CHECK_EQ(e.d->queues[0].size, 32);
	/* QueueReset is not offered: reads 0, a write is reported and ignored */
	EXPECT_QUIET(&e, CHECK_EQ(rd(&e, VIRTIO_MMIO_QUEUE_RESET), 0));
	EXPECT_DIAG(&e, DIAG_FEATURES_NOT_OFFERED, wr(&e, VIRTIO_MMIO_QUEUE_RESET, 1));
	CHECK_EQ(rd(&e, VIRTIO_MMIO_QUEUE_RESET), 0);
	/* no shared memory region, whatever SHMSel says */
	EXPECT_QUIET(&e, wr(&e, VIRTIO_MMIO_SHM_SEL, 3));
	CHECK_EQ(rd(&e, VIRTIO_MMIO_SHM_LEN_LOW), 0xffffffffu);
	CHECK_EQ(rd(&e, VIRTIO_MMIO_SHM_LEN_HIGH), 0xffffffffu);
	CHECK_EQ(rd(&e, VIRTIO_MMIO_SHM_BASE_LOW), 0xffffffffu);
	CHECK_EQ(rd(&e, VIRTIO_MMIO_SHM_BASE_HIGH), 0xffffffffu);
	/* Status takes the low 8 bits */
	wr(&e, VIRTIO_MMIO_STATUS, 0x101);
	CHECK_EQ(rd(&e, VIRTIO_MMIO_STATUS), 1);
	/* driver features beyond the offered ones are the core's business */
	wr(&e, VIRTIO_MMIO_STATUS, 3);
	EXPECT_DIAG(&e, DIAG_FEATURES_NOT_OFFERED, wr(&e, VIRTIO_MMIO_DRIVER_FEATURES, 1u << 20));
	env_fini(&e);
}

/* --- options --------------------------------------------------------------------------- */

static unsigned mapped(struct machine *m)
{
	return m->mmio.n;
}

static void noop_part(void *ctx)
{
}

static void test_options(void)
{
	struct machine m;
	struct vmmio_opts o;
	char err[160];
	uint64_t base = 0;
	unsigned gsi = 0;
	struct vdev *d[6];

	CHECK_EQ(machine_init(&m, MEM), 0);
	for (unsigned i = 0; i < RS_ARRAY_SIZE(d); i++)
		d[i] = new_vdev(&m, "opt");

	/* bad version */
	o = (struct vmmio_opts){ .version = 0, .gsi = -1 };
	err[0] = 0;
	CHECK_EQ(vmmio_create(&m, d[0], &o, &base, &gsi, err, sizeof err), -EINVAL);
	CHECK(strstr(err, "version") != NULL);
	CHECK(strchr(err, '\n') == NULL);
	o.version = 3;
	CHECK_EQ(vmmio_create(&m, d[0], &o, &base, &gsi, err, sizeof err), -EINVAL);
	CHECK_EQ(mapped(&m), 0);
	CHECK(d[0]->tops == NULL);

	/* missing arguments; err may be NULL */
	o.version = 2;
	CHECK_EQ(vmmio_create(NULL, d[0], &o, NULL, NULL, err, sizeof err), -EINVAL);
	CHECK_EQ(vmmio_create(&m, NULL, &o, NULL, NULL, NULL, 0), -EINVAL);
	CHECK_EQ(vmmio_create(&m, d[0], NULL, NULL, NULL, NULL, 0), -EINVAL);

	/* base: alignment and window */
	o.base = MACHINE_VMMIO_BASE + 0x800;
	err[0] = 0;
	CHECK_EQ(vmmio_create(&m, d[0], &o, &base, &gsi, err, sizeof err), -EINVAL);
	CHECK(strstr(err, "aligned") != NULL);
	o.base = MACHINE_VMMIO_BASE - MACHINE_VMMIO_STRIDE;
	err[0] = 0;
	CHECK_EQ(vmmio_create(&m, d[0], &o, &base, &gsi, err, sizeof err), -EINVAL);
	CHECK(strstr(err, "window") != NULL);
	o.base = MACHINE_VMMIO_END;
	CHECK_EQ(vmmio_create(&m, d[0], &o, &base, &gsi, err, sizeof err), -EINVAL);
	o.base = 0xfffffffffffff000ull;
	CHECK_EQ(vmmio_create(&m, d[0], &o, &base, &gsi, err, sizeof err), -EINVAL);
	CHECK_EQ(mapped(&m), 0);

	/* gsi range */
	o.base = 0;
	o.gsi = MACHINE_GSI_COUNT;
	err[0] = 0;
	CHECK_EQ(vmmio_create(&m, d[0], &o, &base, &gsi, err, sizeof err), -EINVAL);
	CHECK(strstr(err, "irq") != NULL);
	o.gsi = -2;
	CHECK_EQ(vmmio_create(&m, d[0], &o, &base, &gsi, err, sizeof err), -EINVAL);
	CHECK_EQ(mapped(&m), 0);

	/* explicit base at slot 1, then auto placement skips it */
	o = (struct vmmio_opts){ .version = 2, .base = MACHINE_VMMIO_BASE + 0x1000, .gsi = -1 };
	CHECK_EQ(vmmio_create(&m, d[0], &o, &base, &gsi, err, sizeof err), 0);
	CHECK_EQ(base, MACHINE_VMMIO_BASE + 0x1000);
	CHECK_EQ(gsi, 6);
	CHECK(io_map_find(&m.mmio, base, VIRTIO_MMIO_SIZE) != NULL);
	CHECK(d[0]->tops != NULL);
	/* the same base again overlaps */
	err[0] = 0;
	CHECK_EQ(vmmio_create(&m, d[1], &o, &base, &gsi, err, sizeof err), -EEXIST);
	CHECK(strstr(err, "overlaps") != NULL);
	CHECK(d[1]->tops == NULL);
	CHECK_EQ(mapped(&m), 1);

	o.base = 0;
	CHECK_EQ(vmmio_create(&m, d[1], &o, &base, &gsi, err, sizeof err), 0);
	CHECK_EQ(base, MACHINE_VMMIO_BASE);
	CHECK_EQ(gsi, 5);
	CHECK_EQ(vmmio_create(&m, d[2], &o, &base, NULL, err, sizeof err), 0);
	CHECK_EQ(base, MACHINE_VMMIO_BASE + 0x2000);

	/* the last slot with a default GSI, and the first without */
	o.base = MACHINE_VMMIO_BASE + 10 * MACHINE_VMMIO_STRIDE;
	CHECK_EQ(vmmio_create(&m, d[3], &o, NULL, &gsi, err, sizeof err), 0);
	CHECK_EQ(gsi, 15);
	o.base = MACHINE_VMMIO_BASE + 11 * MACHINE_VMMIO_STRIDE;
	err[0] = 0;
	CHECK_EQ(vmmio_create(&m, d[4], &o, &base, &gsi, err, sizeof err), -EINVAL);
	CHECK(strstr(err, "irq=") != NULL);
	CHECK(io_map_find(&m.mmio, o.base, VIRTIO_MMIO_SIZE) == NULL);
	CHECK(d[4]->tops == NULL);
	o.gsi = 3;
	CHECK_EQ(vmmio_create(&m, d[4], &o, &base, &gsi, err, sizeof err), 0);
	CHECK_EQ(gsi, 3);
	CHECK_EQ(base, o.base);

	/* the last slot of the window, explicit GSI */
	o = (struct vmmio_opts){ .version = 1, .base = MACHINE_VMMIO_END - MACHINE_VMMIO_STRIDE,
				 .gsi = 23 };
	CHECK_EQ(vmmio_create(&m, d[5], &o, &base, &gsi, err, sizeof err), 0);
	CHECK_EQ(machine_mmio_read(&m, base + VIRTIO_MMIO_VERSION, 4), 1);
	CHECK_EQ(mapped(&m), 6);

	/* window full */
	m.vmmio_next = MACHINE_VMMIO_END;
	o = (struct vmmio_opts){ .version = 2, .gsi = 9 };
	err[0] = 0;
	CHECK_EQ(vmmio_create(&m, d[0], &o, &base, &gsi, err, sizeof err), -ENOSPC);
	CHECK(strstr(err, "full") != NULL);
	machine_destroy(&m);
}

/* The part table full: nothing stays mapped. Destroying the part unmaps. */
static void test_parts(void)
{
	struct machine m;
	struct vmmio_opts o = { .version = 2, .gsi = -1 };
	char err[160] = "";
	struct vdev *d;
	uint64_t base;

	CHECK_EQ(machine_init(&m, MEM), 0);
	d = new_vdev(&m, "p");
	CHECK_EQ(vmmio_create(&m, d, &o, &base, NULL, err, sizeof err), 0);
	/* run the transport's own part by hand: the range goes away */
	struct machine_part p = m.parts[m.nparts - 1];
	m.nparts--;
	p.destroy(p.ctx);
	CHECK(io_map_find(&m.mmio, base, VIRTIO_MMIO_SIZE) == NULL);
	CHECK_EQ(mapped(&m), 0);

	while (machine_add_part(&m, noop_part, NULL) == 0)
		;
	d->tops = NULL;
	CHECK_EQ(vmmio_create(&m, d, &o, &base, NULL, err, sizeof err), -ENOSPC);
	CHECK(strstr(err, "part") != NULL);
	CHECK_EQ(mapped(&m), 0);
	CHECK(d->tops == NULL);
	machine_destroy(&m);
}


/* --- the reference driver against the echo device ------------------------------------- */

/* The spec-following driver brings up echo over each version through the
 * machine builder, echoes data on both queues, takes the interrupt and
 * resets, and the device log holds no driver violation. */
static void test_reference_driver(void)
{
	struct machine *m = NULL;
	char err[256] = "";
	struct gdrv_io io;
	static struct gdrv_dev gd;

	if (rs_machine_new("mem=16M mmio:echo mmio-legacy:echo", &m, err, sizeof err) < 0) {
		fprintf(stderr, "%s\n", err);
		CHECK(0);
		return;
	}
	gdrv_machine_io(&io, m);
	for (unsigned i = 0; i < 2; i++) {
		struct gdrv_mem mem = { (1u + 4u * i) << 20, (5u + 4u * i) << 20 };
		struct vdev *d = m->devs[i];
		unsigned gsi = m->devinfo[i].gsi;

		CHECK_EQ(gdrv_open_mmio(&gd, &io, &mem, m->devinfo[i].base), 0);
		CHECK_EQ(gd.transport, i == 0 ? GDRV_MMIO_V2 : GDRV_MMIO_V1);
		CHECK_EQ(gd.device_id, VIRTIO_ID_RS_ECHO);
		CHECK_EQ(gdrv_init(&gd, ~0ull), 0);
		CHECK_EQ(gdrv_queue_max(&gd, 2), 0);
		for (unsigned q = 0; q < ECHO_NUM_QUEUES; q++)
			CHECK_EQ(gdrv_setup_vq(&gd, q, 16), 0);
		gdrv_driver_ok(&gd);
		CHECK(gdrv_get_status(&gd) & VIRTIO_STATUS_DRIVER_OK);

		for (unsigned q = 0; q < ECHO_NUM_QUEUES; q++) {
			uint8_t out[32], in[32] = { 0 };
			struct gdrv_buf bufs[2];
			uint64_t token = 0;
			uint32_t len = 0;

			for (unsigned j = 0; j < sizeof out; j++)
				out[j] = (uint8_t)(j * 7 + q);
			bufs[0].gpa = gdrv_alloc(&io, &mem, sizeof out, 16);
			bufs[0].len = sizeof out;
			bufs[1].gpa = gdrv_alloc(&io, &mem, sizeof in, 16);
			bufs[1].len = sizeof in;
			CHECK(bufs[0].gpa && bufs[1].gpa);
			CHECK_EQ(gm_guest_write(&m->gm, bufs[0].gpa, out, sizeof out), 0);
			CHECK_EQ(gdrv_submit(&gd.vq[q], bufs, 1, 1, 100 + q, false), 0);
			gdrv_kick(&gd.vq[q]);
			CHECK_EQ(gdrv_get_used(&gd.vq[q], &token, &len), 1);
			CHECK_EQ(token, 100 + q);
			CHECK_EQ(len, sizeof in);
			CHECK_EQ(gm_guest_read(&m->gm, bufs[1].gpa, in, sizeof in), 0);
			CHECK(memcmp(in, out, sizeof in) == 0);
			CHECK((m->intx_level >> gsi) & 1);
			CHECK_EQ(gdrv_ack_isr(&gd), VIRTIO_ISR_QUEUE);
			CHECK(!((m->intx_level >> gsi) & 1));
		}
		gdrv_reset(&gd);
		CHECK_EQ(gdrv_get_status(&gd), 0);
		CHECK_EQ(diag_count_class(&d->log, DIAG_CLASS_DRIVER), 0);
		CHECK_EQ(diag_count_class(&d->log, DIAG_CLASS_DEVICE), 0);
	}
	rs_machine_free(m);
}

/* machine_reset: the transport and its device as vmmio_create left them. */
static void test_machine_reset(void)
{
	for (unsigned version = 1; version <= 2; version++) {
		struct env e;
		struct vdev_queue *q;
		uint64_t h0;

		env_init(&e, version);
		q = &e.d->queues[0];
		h0 = vdev_state_hash(e.d);
		host_resets = 0;
		if (version == 1) {
			wr(&e, VIRTIO_MMIO_GUEST_PAGE_SIZE, 0x2000);
			wr(&e, VIRTIO_MMIO_QUEUE_ALIGN, 0x100);
			wr(&e, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
		} else {
			wr(&e, VIRTIO_MMIO_SHM_SEL, 3);
			wr(&e, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
			wr(&e, VIRTIO_MMIO_DRIVER_FEATURES, 1); /* VERSION_1 */
			wr(&e, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
							   VIRTIO_STATUS_FEATURES_OK);
		}
		wr(&e, VIRTIO_MMIO_STATUS, rd(&e, VIRTIO_MMIO_STATUS) | VIRTIO_STATUS_DRIVER_OK);
		vdev_config_changed(e.d);
		CHECK(line(&e));
		wr(&e, 0x0f0, 0); /* no register there: a diagnostic */
		CHECK(e.d->log.total > 0);
		CHECK(vdev_state_hash(e.d) != h0);

		machine_reset(&e.m);
		CHECK(!line(&e));
		CHECK_EQ(e.m.intx_sources[e.gsi], 0);
		CHECK_EQ(host_resets, 1);
		CHECK_EQ(rd(&e, VIRTIO_MMIO_STATUS), 0);
		CHECK_EQ(rd(&e, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
		CHECK_EQ(vdev_state_hash(e.d), h0);
		CHECK_EQ(e.d->legacy, version == 1);
		CHECK_EQ(e.d->log.total, 0);
		CHECK_EQ(e.d->stats.resets, 0);
		if (version == 1) {
			/* page size and alignment are 4 KiB again */
			wr(&e, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
			wr(&e, VIRTIO_MMIO_QUEUE_NUM, 8);
			wr(&e, VIRTIO_MMIO_QUEUE_PFN, 0x30);
			CHECK(q->enabled);
			CHECK_EQ(q->vq.desc, 0x30000);
			CHECK_EQ(q->vq.device, 0x30000 + 0x1000);
		}
		env_fini(&e);
	}
}

int main(void)
{
	RUN(test_v2_read_map);
	RUN(test_v1_read_map);
	RUN(test_v2_write_map);
	RUN(test_v1_write_map);
	RUN(test_features);
	RUN(test_v2_bringup);
	RUN(test_v2_high_addresses);
	RUN(test_v2_bad_ring);
	RUN(test_v1_bringup);
	RUN(test_interrupts);
	RUN(test_interrupt_gsi);
	RUN(test_v2_config);
	RUN(test_v1_config);
	RUN(test_width_align);
	RUN(test_queue_select);
	RUN(test_notify_index);
	RUN(test_v1_page_size_align);
	RUN(test_queue_misc);
	RUN(test_options);
	RUN(test_parts);
	RUN(test_reference_driver);
	RUN(test_machine_reset);
	return check_done();
}
