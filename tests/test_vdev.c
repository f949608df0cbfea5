/*
 * ringside tests — device core (engine/vdev.c) and option helpers
 * (engine/vdev_args.c), against a local test device and a fake transport:
 * every illegal status transition, feature negotiation on the legacy and
 * 1.x interfaces, config width rules, generation counter, ISR, MSI-X
 * vectors, queue placement by addresses and by PFN, notify rules,
 * NEEDS_RESET, and reset returning the device byte for byte to its
 * power-on snapshot.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ringside/gm.h"
#include "ringside/vdev.h"

/* Huge allocations must fail with NULL (the -ENOMEM path), not abort. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "allocator_may_return_null=1";
}

/* ---- the test device ------------------------------------------------------------------------ */

#define TDEV_F_A 0
#define TDEV_F_B 1 /* needs A: refused with a report by the device */
#define TDEV_F_C 2 /* not with B: refused silently by the device */
#define TDEV_NQ 3
#define TDEV_QMAX 16

#define TCFG_RW8 0
#define TCFG_RO8 1
#define TCFG_RW16 2
#define TCFG_RO32 4
#define TCFG_RW64 8
#define TCFG_RO64 16
#define TCFG_SIZE 28 /* bytes 24..27 belong to no field */

static const struct vdev_cfg_field tdev_fields[] = {
	{ TCFG_RW8, 1, 1 },  { TCFG_RO8, 1, 0 },  { TCFG_RW16, 2, 1 },
	{ TCFG_RO32, 4, 0 }, { TCFG_RW64, 8, 1 }, { TCFG_RO64, 8, 0 },
};

struct tpriv {
	uint32_t chains; /* device state (saved): chains completed */
	uint32_t live;   /* when non-zero, config_read copies it into RO32 */
	/* recording only */
	unsigned notifies[TDEV_NQ];
	unsigned last_notify;
	unsigned cfg_reads, cfg_writes;
	uint32_t last_roff, last_rlen, last_woff, last_wlen;
	unsigned driver_oks, resets;
	unsigned create_index;      /* d->index as create() saw it */
	struct world *create_world; /* d->world as create() saw it */
};

static unsigned g_destroys;
static size_t g_save_extra; /* extra bytes the device saves (hash scratch path) */

static void tdev_fill(struct vdev *d)
{
	d->config[TCFG_RO8] = 0x5a;
	rs_st32(d->config + TCFG_RO32, 0x11223344);
	rs_st64(d->config + TCFG_RO64, 0x0102030405060708ull);
}

static int tdev_create(struct vdev *d, struct vdev_args *args, char *err, size_t errlen)
{
	const char *fail = vdev_arg(args, "fail");
	uint64_t nq;
	int r = vdev_arg_size(args, "queues", TDEV_NQ, &nq, err, errlen);

	if (r < 0)
		return r;
	if (fail) {
		if (strcmp(fail, "msg") == 0) {
			snprintf(err, errlen, "tdev: asked to fail");
			return -EIO;
		}
		if (strcmp(fail, "quiet") == 0)
			return -EIO;
		return 1; /* a model bug: positive return */
	}
	d->nqueues = (unsigned)nq;
	((struct tpriv *)d->priv)->create_index = d->index;
	((struct tpriv *)d->priv)->create_world = d->world;
	tdev_fill(d);
	return 0;
}

static void tdev_destroy(struct vdev *d)
{
	g_destroys++;
}

static void tdev_config_read(struct vdev *d, uint32_t off, uint32_t len)
{
	struct tpriv *p = d->priv;

	p->cfg_reads++;
	p->last_roff = off;
	p->last_rlen = len;
	if (p->live)
		rs_st32(d->config + TCFG_RO32, p->live);
}

static void tdev_config_write(struct vdev *d, uint32_t off, uint32_t len)
{
	struct tpriv *p = d->priv;

	p->cfg_writes++;
	p->last_woff = off;
	p->last_wlen = len;
}

static int tdev_validate(struct vdev *d, uint64_t f)
{
	if ((f & VIRTIO_BIT(TDEV_F_B)) && !(f & VIRTIO_BIT(TDEV_F_A))) {
		diag_report(&d->log, DIAG_FEATURES_INVALID, "tdev: B needs A");
		return -EINVAL;
	}
	if ((f & VIRTIO_BIT(TDEV_F_B)) && (f & VIRTIO_BIT(TDEV_F_C)))
		return -EINVAL;
	return 0;
}

static void tdev_driver_ok(struct vdev *d)
{
	((struct tpriv *)d->priv)->driver_oks++;
}

/* Record the kick, then complete every available chain with 0 bytes and
 * interrupt when something was completed. */
static void tdev_queue_notify(struct vdev *d, unsigned q)
{
	struct tpriv *p = d->priv;
	struct vdev_queue *vq = vdev_queue(d, q);
	struct vq_chain c;
	unsigned done = 0;

	p->notifies[q]++;
	p->last_notify = q;
	while (vq_pop(&vq->vq, &c) > 0) {
		if (vq_push(&vq->vq, &c, 0) < 0)
			break;
		done++;
	}
	p->chains += done;
	if (done)
		vdev_queue_interrupt(d, q);
}

static void tdev_reset(struct vdev *d)
{
	struct tpriv *p = d->priv;

	p->chains = 0;
	p->live = 0;
	p->resets++;
	tdev_fill(d);
}

static size_t tdev_save(const struct vdev *d, uint8_t *buf, size_t cap)
{
	const struct tpriv *p = d->priv;
	size_t n = 4 + g_save_extra;

	if (buf && cap >= n) {
		rs_st32(buf, p->chains);
		for (size_t i = 0; i < g_save_extra; i++)
			buf[4 + i] = (uint8_t)(i * 7 + p->chains);
	}
	return n;
}

static const struct vdev_ops tdev_ops = {
	.name = "tdev",
	.device_id = 42,
	.num_queues = TDEV_NQ,
	.queue_max = TDEV_QMAX,
	.features = VIRTIO_BIT(TDEV_F_A) | VIRTIO_BIT(TDEV_F_B) | VIRTIO_BIT(TDEV_F_C),
	.config_size = TCFG_SIZE,
	.cfg_fields = tdev_fields,
	.ncfg_fields = RS_ARRAY_SIZE(tdev_fields),
	.priv_size = sizeof(struct tpriv),
	.create = tdev_create,
	.destroy = tdev_destroy,
	.config_read = tdev_config_read,
	.config_write = tdev_config_write,
	.validate_features = tdev_validate,
	.driver_ok = tdev_driver_ok,
	.queue_notify = tdev_queue_notify,
	.reset = tdev_reset,
	.save = tdev_save,
};

/* A bare model: no callbacks but queue_notify, config without a field table. */
static const struct vdev_ops bare_ops = {
	.name = "bare",
	.num_queues = 1,
	.queue_max = 8,
	.config_size = 8,
	.queue_notify = tdev_queue_notify, /* never reached: no DRIVER_OK in its tests */
};

/* ---- fake transport and helpers ------------------------------------------------------------- */

struct ttrans {
	unsigned config, queue;
	unsigned last_q;
	struct vdev *last_d;
};

static void tt_notify(void *ctx, struct vdev *d, bool config, unsigned q)
{
	struct ttrans *t = ctx;

	if (config)
		t->config++;
	else
		t->queue++;
	t->last_q = q;
	t->last_d = d;
}

static const struct vdev_transport_ops tt_ops = { .notify = tt_notify };

static struct gm g_gm;
static struct ttrans g_tt;

#define ST_ACK VIRTIO_STATUS_ACKNOWLEDGE
#define ST_DRV VIRTIO_STATUS_DRIVER
#define ST_FOK VIRTIO_STATUS_FEATURES_OK
#define ST_DOK VIRTIO_STATUS_DRIVER_OK
#define ST_NR VIRTIO_STATUS_NEEDS_RESET
#define ST_FAIL VIRTIO_STATUS_FAILED
#define F_V1 VIRTIO_BIT(VIRTIO_F_VERSION_1)

enum iface { MODERN, LEGACY, TRANSITIONAL };

static struct vdev *new_dev(enum iface i)
{
	struct vdev *d = NULL;
	char err[160];
	int r = vdev_create(&tdev_ops, &g_gm, "tdev0", NULL, &d, err, sizeof err);

	CHECK_EQ(r, 0);
	if (!d)
		abort();
	memset(&g_tt, 0, sizeof g_tt);
	vdev_bind_transport(d, &tt_ops, &g_tt, i != LEGACY, i != MODERN, 0);
	return d;
}

static struct tpriv *tp(struct vdev *d)
{
	return d->priv;
}

static void write_features(struct vdev *d, uint64_t f)
{
	vdev_set_driver_features(d, 0, (uint32_t)f);
	vdev_set_driver_features(d, 1, (uint32_t)(f >> 32));
}

/* The 1.x initialisation sequence of virtio-v1.2 3.1.1 up to DRIVER_OK. */
static void modern_up(struct vdev *d, uint64_t f)
{
	vdev_set_status(d, ST_ACK);
	vdev_set_status(d, ST_ACK | ST_DRV);
	write_features(d, f);
	vdev_set_status(d, ST_ACK | ST_DRV | ST_FOK);
	vdev_set_status(d, ST_ACK | ST_DRV | ST_FOK | ST_DOK);
}

/* Guest-side split ring at fixed addresses: desc, avail, used. */
#define R_DESC 0x10000ull
#define R_AVAIL 0x11000ull
#define R_USED 0x12000ull
#define R_BUF 0x20000ull

static void place_split(struct vdev *d, unsigned q)
{
	struct vdev_queue *vq = vdev_queue(d, q);

	vq->desc = R_DESC + q * 0x4000ull;
	vq->driver = R_AVAIL + q * 0x4000ull;
	vq->device = R_USED + q * 0x4000ull;
}

/* Make one chain (a single writable buffer at descriptor head) available
 * in slot idx of the split ring at desc/avail; avail_flags goes to the
 * avail flags word. */
static void offer_chain(uint64_t desc, uint64_t avail, uint16_t num, uint16_t head, uint16_t idx,
			uint16_t avail_flags)
{
	uint8_t dsc[16], w[2];

	rs_st64(dsc, R_BUF);
	rs_st32(dsc + 8, 64);
	rs_st16(dsc + 12, VIRTQ_DESC_F_WRITE);
	rs_st16(dsc + 14, 0);
	CHECK_EQ(gm_guest_write(&g_gm, desc + 16ull * (head % num), dsc, 16), 0);
	rs_st16(w, head);
	CHECK_EQ(gm_guest_write(&g_gm, avail + 4 + 2ull * (idx % num), w, 2), 0);
	rs_st16(w, avail_flags);
	CHECK_EQ(gm_guest_write(&g_gm, avail, w, 2), 0);
	rs_st16(w, (uint16_t)(idx + 1));
	CHECK_EQ(gm_guest_write(&g_gm, avail + 2, w, 2), 0);
}

static uint16_t used_idx(uint64_t used)
{
	uint8_t w[2] = { 0, 0 };

	gm_guest_read(&g_gm, used + 2, w, 2);
	return rs_le16(w);
}

/* Snapshot into a fresh heap buffer (caller frees); *len gets its size. */
static uint8_t *snapshot(const struct vdev *d, size_t *len)
{
	size_t n = vdev_save_state(d, NULL, 0);
	uint8_t *b = malloc(n);

	if (!b)
		abort();
	CHECK_EQ(vdev_save_state(d, b, n), n);
	*len = n;
	return b;
}

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

/* Append key=val to a. */
static void set_arg(struct vdev_args *a, const char *k, const char *v)
{
	snprintf(a->kv[a->n].key, sizeof a->kv[a->n].key, "%s", k);
	snprintf(a->kv[a->n].val, sizeof a->kv[a->n].val, "%s", v);
	a->kv[a->n].used = false;
	a->n++;
}

/* ---- create, bind --------------------------------------------------------------------------- */

static void test_create_power_on(void)
{
	struct vdev *d = new_dev(MODERN);

	CHECK(strcmp(d->name, "tdev0") == 0);
	CHECK_EQ(d->status, 0);
	CHECK_EQ(d->isr, 0);
	CHECK_EQ(d->driver_features, 0);
	CHECK_EQ(d->msix_config, VIRTIO_MSI_NO_VECTOR);
	CHECK_EQ(d->config_generation, 0);
	CHECK_EQ(d->nqueues, TDEV_NQ);
	CHECK(d->gm == &g_gm);
	for (unsigned i = 0; i < TDEV_NQ; i++) {
		struct vdev_queue *q = vdev_queue(d, i);

		CHECK_EQ(q->size, TDEV_QMAX);
		CHECK_EQ(q->max, TDEV_QMAX);
		CHECK_EQ(q->msix_vector, VIRTIO_MSI_NO_VECTOR);
		CHECK(!q->enabled);
		CHECK_EQ(q->notify_off, i);
		CHECK(!q->vq.ready);
		CHECK_EQ(q->vq.qidx, i);
	}
	CHECK(vdev_queue(d, TDEV_NQ) == NULL);
	d->queue_select = 7;
	CHECK(vdev_selected(d) == NULL);
	d->queue_select = 1;
	CHECK(vdev_selected(d) == &d->queues[1]);
	CHECK_EQ(d->config[TCFG_RO8], 0x5a);
	CHECK_EQ(rs_le64(d->config + TCFG_RO64), 0x0102030405060708ull);
	CHECK_EQ(tp(d)->chains, 0);
	CHECK_EQ(d->log.total, 0);
	CHECK_EQ(d->stats.resets, 0);
	CHECK(strcmp(d->log.source, "tdev0") == 0);
	g_destroys = 0;
	vdev_destroy(d);
	CHECK_EQ(g_destroys, 1);
	vdev_destroy(NULL);

	/* inside a machine: world and index are there before create() runs */
	struct vdev_args a;
	char err[160];
	memset(&a, 0, sizeof a);
	set_arg(&a, "queues", "1");
	struct world *w = (struct world *)&g_tt; /* only compared, never used */
	CHECK_EQ(vdev_create_ex(&tdev_ops, &g_gm, w, 5, "tdev5", &a, &d, err, sizeof err), 0);
	CHECK(d->world == w);
	CHECK_EQ(d->index, 5);
	CHECK_EQ(tp(d)->create_index, 5);
	CHECK(tp(d)->create_world == w);
	CHECK_EQ(d->nqueues, 1);
	vdev_destroy(d);
	d = new_dev(MODERN);
	CHECK(d->world == NULL);
	CHECK_EQ(d->index, 0);
	vdev_destroy(d);

	/* no name: the model's */
	CHECK_EQ(vdev_create(&bare_ops, &g_gm, NULL, NULL, &d, err, sizeof err), 0);
	CHECK(strcmp(d->name, "bare") == 0);
	CHECK(d->priv == NULL);
	vdev_destroy(d);
}

/* vdev_create with the given options must fail with r and an error containing want. */
static void expect_create_error(const struct vdev_ops *ops, struct vdev_args *a, int want_r,
				const char *want)
{
	struct vdev *d = (struct vdev *)1;
	char err[160] = "garbage";
	int r = vdev_create(ops, &g_gm, "x0", a, &d, err, sizeof err);

	CHECK_EQ(r, want_r);
	CHECK(d == NULL);
	CHECK(strchr(err, '\n') == NULL);
	if (!strstr(err, want)) {
		fprintf(stderr, "error '%s' lacks '%s'\n", err, want);
		CHECK(0);
	}
}

static void test_create_options(void)
{
	struct vdev_args a;
	struct vdev *d;
	char err[160];

	memset(&a, 0, sizeof a);
	set_arg(&a, "queues", "2");
	CHECK_EQ(vdev_create(&tdev_ops, &g_gm, "t", &a, &d, err, sizeof err), 0);
	CHECK_EQ(d->nqueues, 2);
	CHECK(a.kv[0].used);
	vdev_reset(d);
	CHECK_EQ(d->nqueues, 2); /* a model's choice survives reset */
	vdev_destroy(d);

	/* an option nobody reads: refused, and the model is destroyed again */
	memset(&a, 0, sizeof a);
	set_arg(&a, "queues", "1");
	set_arg(&a, "bogus", "1");
	g_destroys = 0;
	expect_create_error(&tdev_ops, &a, -EINVAL, "unknown option 'bogus' for device tdev");
	CHECK_EQ(g_destroys, 1);

	/* entries beyond VDEV_MAX_ARGS do not exist, whatever n says */
	memset(&a, 0, sizeof a);
	for (unsigned i = 0; i < VDEV_MAX_ARGS; i++)
		set_arg(&a, "queues", "1");
	a.n = 1000;
	CHECK_EQ(vdev_create(&tdev_ops, &g_gm, "t", &a, &d, err, sizeof err), -EINVAL);
	CHECK(strstr(err, "unknown option 'queues'") != NULL); /* the 2nd one: unread */
	for (unsigned i = 0; i < VDEV_MAX_ARGS; i++)
		a.kv[i].used = true;
	a.kv[0].used = false;
	CHECK_EQ(vdev_create(&tdev_ops, &g_gm, "t", &a, &d, err, sizeof err), 0);
	vdev_destroy(d);

	/* create() errors: with its message, without one, positive return */
	memset(&a, 0, sizeof a);
	set_arg(&a, "fail", "msg");
	g_destroys = 0;
	expect_create_error(&tdev_ops, &a, -EIO, "tdev: asked to fail");
	CHECK_EQ(g_destroys, 0); /* create failed: its own cleanup */
	memset(&a, 0, sizeof a);
	set_arg(&a, "fail", "quiet");
	expect_create_error(&tdev_ops, &a, -EIO, "device tdev: create failed");
	memset(&a, 0, sizeof a);
	set_arg(&a, "fail", "positive");
	expect_create_error(&tdev_ops, &a, -EINVAL, "device tdev: create failed");
	/* an option error from a helper inside create() */
	memset(&a, 0, sizeof a);
	set_arg(&a, "queues", "lots");
	expect_create_error(&tdev_ops, &a, -EINVAL, "option 'queues': expected a size");
	/* a model raising its queue count is refused */
	memset(&a, 0, sizeof a);
	set_arg(&a, "queues", "9");
	g_destroys = 0;
	expect_create_error(&tdev_ops, &a, -EINVAL, "raised the queue count");
	CHECK_EQ(g_destroys, 1);
	/* no room for an error message is fine too */
	memset(&a, 0, sizeof a);
	set_arg(&a, "zzz", "1");
	CHECK_EQ(vdev_create(&tdev_ops, &g_gm, "t", &a, &d, NULL, 0), -EINVAL);
}

static void test_create_bad_models(void)
{
	static const struct vdev_cfg_field f_size3[] = { { 0, 3, 0 } };
	static const struct vdev_cfg_field f_beyond[] = { { 4, 8, 0 } };
	static const struct vdev_cfg_field f_overlap[] = { { 0, 4, 0 }, { 2, 2, 1 } };
	struct vdev_ops o;

	o = bare_ops;
	o.queue_max = 0;
	expect_create_error(&o, NULL, -EINVAL, "device model bare: queue_max must be 1..32768");
	o.queue_max = VIRTQ_MAX_SIZE + 1;
	expect_create_error(&o, NULL, -EINVAL, "queue_max");
	o = bare_ops;
	o.queue_notify = NULL;
	expect_create_error(&o, NULL, -EINVAL, "no queue_notify");
	o = bare_ops;
	o.ncfg_fields = 1;
	expect_create_error(&o, NULL, -EINVAL, "ncfg_fields without cfg_fields");
	o.cfg_fields = f_size3;
	expect_create_error(&o, NULL, -EINVAL, "size not 1, 2, 4 or 8");
	o.cfg_fields = f_beyond;
	expect_create_error(&o, NULL, -EINVAL, "beyond config_size");
	o.cfg_fields = f_overlap;
	o.ncfg_fields = 2;
	expect_create_error(&o, NULL, -EINVAL, "config fields overlap");
	/* a model without queues needs no queue_notify */
	o = bare_ops;
	o.num_queues = 0;
	o.queue_notify = NULL;
	struct vdev *d;
	char err[160];
	CHECK_EQ(vdev_create(&o, &g_gm, "q", NULL, &d, err, sizeof err), 0);
	CHECK_EQ(d->nqueues, 0);
	vdev_destroy(d);
	/* out of memory (the private state cannot be allocated) */
	o = bare_ops;
	o.priv_size = SIZE_MAX / 2;
	expect_create_error(&o, NULL, -ENOMEM, "device bare: out of memory");
}

static void test_bind_features(void)
{
	const uint64_t dev = VIRTIO_BIT(TDEV_F_A) | VIRTIO_BIT(TDEV_F_B) | VIRTIO_BIT(TDEV_F_C);
	const uint64_t both = VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX);
	const uint64_t modern = F_V1 | VIRTIO_BIT(VIRTIO_F_RING_PACKED) |
				VIRTIO_BIT(VIRTIO_F_IN_ORDER);
	const uint64_t legacy = VIRTIO_BIT(VIRTIO_F_ANY_LAYOUT) |
				VIRTIO_BIT(VIRTIO_F_NOTIFY_ON_EMPTY);
	struct vdev *d = new_dev(MODERN);

	CHECK_EQ(d->host_features, dev | both | modern);
	CHECK_EQ(d->generic_features, both | modern);
	CHECK(d->modern_capable && !d->legacy_capable && !d->legacy);
	CHECK(d->tops == &tt_ops && d->tctx == &g_tt);
	CHECK_EQ(vdev_device_features(d, 0), (uint32_t)(dev | both));
	CHECK_EQ(vdev_device_features(d, 1), (uint32_t)(modern >> 32));
	CHECK_EQ(vdev_device_features(d, 2), 0);
	CHECK_EQ(vdev_device_features(d, 0xffffffffu), 0);

	/* legacy only: the legacy-only bits, never VERSION_1 or anything above 31 */
	vdev_bind_transport(d, &tt_ops, &g_tt, false, true, 0);
	CHECK_EQ(d->host_features, dev | both | legacy);
	CHECK(d->legacy);
	CHECK_EQ(vdev_device_features(d, 0), (uint32_t)(dev | both | legacy));
	CHECK_EQ(vdev_device_features(d, 1), 0);

	/* transitional: the 1.x set; the legacy interface sees window 0 only */
	vdev_bind_transport(d, &tt_ops, &g_tt, true, true, 0);
	CHECK_EQ(d->host_features, dev | both | modern);
	CHECK(!d->legacy);
	CHECK_EQ(vdev_device_features(d, 1), (uint32_t)(modern >> 32));
	d->legacy = true; /* the driver used the legacy registers */
	CHECK_EQ(vdev_device_features(d, 0), (uint32_t)(dev | both));
	CHECK_EQ(vdev_device_features(d, 1), 0);
	d->legacy = false;

	/* disable mask: generic and device bits alike */
	vdev_bind_transport(d, &tt_ops, &g_tt, true, false,
			    VIRTIO_BIT(VIRTIO_F_RING_PACKED) | VIRTIO_BIT(TDEV_F_C));
	CHECK_EQ(d->host_features, (dev | both | modern) & ~VIRTIO_BIT(VIRTIO_F_RING_PACKED) &
					   ~VIRTIO_BIT(TDEV_F_C));
	CHECK_EQ(d->generic_features, (both | modern) & ~VIRTIO_BIT(VIRTIO_F_RING_PACKED));
	CHECK_EQ(d->log.total, 0);
	vdev_destroy(d);
}

/* ---- status --------------------------------------------------------------------------------- */

static void test_status_happy_modern(void)
{
	struct vdev *d = new_dev(MODERN);
	uint64_t f = F_V1 | VIRTIO_BIT(TDEV_F_A) | VIRTIO_BIT(TDEV_F_B) |
		     VIRTIO_BIT(VIRTIO_F_EVENT_IDX);

	vdev_set_status(d, ST_ACK);
	CHECK_EQ(vdev_get_status(d), ST_ACK);
	vdev_set_status(d, ST_ACK | ST_DRV);
	write_features(d, f);
	CHECK_EQ(d->driver_features, f);
	CHECK_EQ(vdev_driver_features_window(d, 0), (uint32_t)f);
	CHECK_EQ(vdev_driver_features_window(d, 1), (uint32_t)(f >> 32));
	CHECK_EQ(vdev_driver_features_window(d, 2), 0);
	vdev_set_status(d, ST_ACK | ST_DRV | ST_FOK);
	CHECK_EQ(vdev_get_status(d), ST_ACK | ST_DRV | ST_FOK);
	CHECK_EQ(tp(d)->driver_oks, 0);
	vdev_set_status(d, ST_ACK | ST_DRV | ST_FOK | ST_DOK);
	CHECK_EQ(vdev_get_status(d), ST_ACK | ST_DRV | ST_FOK | ST_DOK);
	CHECK_EQ(tp(d)->driver_oks, 1);
	/* writing the same value again changes nothing, driver_ok only once */
	vdev_set_status(d, ST_ACK | ST_DRV | ST_FOK | ST_DOK);
	CHECK_EQ(tp(d)->driver_oks, 1);
	CHECK(vdev_has(d, VIRTIO_F_VERSION_1));
	CHECK(vdev_has(d, TDEV_F_B));
	CHECK(!vdev_has(d, TDEV_F_C));
	CHECK(!vdev_has(d, 64));
	CHECK(!vdev_has(d, 1000));
	/* bits may be set together when the result is in order */
	vdev_set_status(d, 0);
	CHECK_EQ(vdev_get_status(d), 0);
	CHECK_EQ(d->driver_features, 0);
	CHECK_EQ(d->stats.resets, 1);
	vdev_set_status(d, ST_ACK | ST_DRV);
	write_features(d, F_V1);
	vdev_set_status(d, ST_ACK | ST_DRV | ST_FOK | ST_DOK);
	CHECK_EQ(vdev_get_status(d), ST_ACK | ST_DRV | ST_FOK | ST_DOK);
	CHECK_EQ(tp(d)->driver_oks, 2);
	/* FAILED may be set at any time */
	vdev_set_status(d, ST_ACK | ST_DRV | ST_FOK | ST_DOK | ST_FAIL);
	CHECK(vdev_get_status(d) & ST_FAIL);
	CHECK_EQ(d->log.total, 0);
	vdev_destroy(d);
}

static void test_status_happy_legacy(void)
{
	struct vdev *d = new_dev(LEGACY);
	uint32_t f = (uint32_t)(VIRTIO_BIT(TDEV_F_A) | VIRTIO_BIT(VIRTIO_F_ANY_LAYOUT));

	CHECK(d->legacy);
	vdev_set_status(d, ST_ACK);
	vdev_set_status(d, ST_ACK | ST_DRV);
	vdev_set_driver_features(d, 0, f);
	/* legacy: in effect at once, no FEATURES_OK step, no validation */
	CHECK_EQ(d->driver_features, f);
	CHECK(vdev_has(d, VIRTIO_F_ANY_LAYOUT));
	/* and may still change until DRIVER_OK: even a set the device would refuse */
	vdev_set_driver_features(d, 0, (uint32_t)VIRTIO_BIT(TDEV_F_B));
	CHECK_EQ(d->driver_features, VIRTIO_BIT(TDEV_F_B));
	vdev_set_driver_features(d, 0, f);
	vdev_set_status(d, ST_ACK | ST_DRV | ST_DOK);
	CHECK_EQ(vdev_get_status(d), ST_ACK | ST_DRV | ST_DOK);
	CHECK_EQ(tp(d)->driver_oks, 1);
	CHECK_EQ(d->log.total, 0);
	/* after DRIVER_OK: late, ignored */
	vdev_set_driver_features(d, 0, 0);
	CHECK_EQ(diag_count(&d->log, DIAG_FEATURES_LATE), 1);
	CHECK_EQ(d->driver_features, f);
	/* reset keeps a legacy-only device on the legacy interface */
	vdev_reset(d);
	CHECK(d->legacy);
	vdev_destroy(d);
}

/* Fresh 1.x device at ACK|DRIVER with features f written. */
static struct vdev *at_driver(enum iface i, uint64_t f)
{
	struct vdev *d = new_dev(i);

	vdev_set_status(d, ST_ACK | ST_DRV);
	write_features(d, f);
	CHECK_EQ(d->log.total, 0);
	return d;
}

static void test_status_illegal(void)
{
	struct vdev *d;

	/* clearing a bit: ignored, reported */
	d = at_driver(MODERN, F_V1);
	vdev_set_status(d, ST_ACK);
	CHECK_EQ(diag_count(&d->log, DIAG_STATUS_CLEAR), 1);
	CHECK_EQ(vdev_get_status(d), ST_ACK | ST_DRV);
	CHECK_EQ(d->log.total, 1);
	CHECK_EQ(diag_last(&d->log)->code, DIAG_STATUS_CLEAR);
	vdev_destroy(d);

	/* DRIVER without ACKNOWLEDGE: reported, taken */
	d = new_dev(MODERN);
	vdev_set_status(d, ST_DRV);
	CHECK_EQ(diag_count(&d->log, DIAG_STATUS_ORDER), 1);
	CHECK_EQ(vdev_get_status(d), ST_DRV);
	CHECK_EQ(d->log.total, 1);
	vdev_destroy(d);

	/* FEATURES_OK without DRIVER: reported, taken when the features are fine */
	d = new_dev(MODERN);
	vdev_set_status(d, ST_ACK);
	write_features(d, F_V1);
	vdev_set_status(d, ST_ACK | ST_FOK);
	CHECK_EQ(diag_count(&d->log, DIAG_STATUS_ORDER), 1);
	CHECK_EQ(vdev_get_status(d), ST_ACK | ST_FOK);
	CHECK_EQ(d->log.total, 1);
	vdev_destroy(d);

	/* DRIVER_OK without FEATURES_OK (1.x): reported, taken, device started */
	d = at_driver(MODERN, F_V1);
	vdev_set_status(d, ST_ACK | ST_DRV | ST_DOK);
	CHECK_EQ(diag_count(&d->log, DIAG_STATUS_ORDER), 1);
	CHECK_EQ(vdev_get_status(d), ST_ACK | ST_DRV | ST_DOK);
	CHECK_EQ(tp(d)->driver_oks, 1);
	CHECK_EQ(d->log.total, 1);
	/* features are closed by DRIVER_OK even without FEATURES_OK */
	vdev_set_driver_features(d, 0, 0);
	CHECK_EQ(diag_count(&d->log, DIAG_FEATURES_LATE), 1);
	CHECK_EQ(d->driver_features, F_V1);
	vdev_destroy(d);

	/* DRIVER_OK without DRIVER on the legacy interface */
	d = new_dev(LEGACY);
	vdev_set_status(d, ST_ACK | ST_DOK);
	CHECK_EQ(diag_count(&d->log, DIAG_STATUS_ORDER), 1);
	CHECK_EQ(vdev_get_status(d), ST_ACK | ST_DOK);
	CHECK_EQ(d->log.total, 1);
	vdev_destroy(d);

	/* the driver writing NEEDS_RESET: reported, not taken */
	d = at_driver(MODERN, F_V1);
	vdev_set_status(d, ST_ACK | ST_DRV | ST_NR);
	CHECK_EQ(diag_count(&d->log, DIAG_STATUS_NEEDS_RESET), 1);
	CHECK_EQ(vdev_get_status(d), ST_ACK | ST_DRV);
	CHECK_EQ(d->log.total, 1);
	/* once the device set it, writing it back or leaving it out is fine */
	vdev_needs_reset(d, DIAG_NONE);
	CHECK_EQ(vdev_get_status(d), ST_ACK | ST_DRV | ST_NR);
	vdev_set_status(d, ST_ACK | ST_DRV | ST_NR | ST_FAIL);
	CHECK_EQ(vdev_get_status(d), ST_ACK | ST_DRV | ST_NR | ST_FAIL);
	vdev_set_status(d, ST_ACK | ST_DRV | ST_FAIL);
	CHECK_EQ(vdev_get_status(d), ST_ACK | ST_DRV | ST_NR | ST_FAIL);
	CHECK_EQ(diag_count(&d->log, DIAG_STATUS_NEEDS_RESET), 1);
	CHECK_EQ(diag_count(&d->log, DIAG_STATUS_CLEAR), 0);
	CHECK_EQ(diag_count(&d->log, DIAG_NEEDS_RESET), 1);
	CHECK_EQ(d->log.total, 2);
	vdev_destroy(d);

	/* FEATURES_OK on 1.x without VERSION_1: refused */
	d = at_driver(MODERN, VIRTIO_BIT(TDEV_F_A));
	vdev_set_status(d, ST_ACK | ST_DRV | ST_FOK);
	CHECK_EQ(diag_count(&d->log, DIAG_FEATURES_VERSION_1), 1);
	CHECK_EQ(vdev_get_status(d), ST_ACK | ST_DRV);
	CHECK_EQ(d->log.total, 1);
	/* the driver may try again with a valid set: accepted */
	write_features(d, F_V1 | VIRTIO_BIT(TDEV_F_A));
	vdev_set_status(d, ST_ACK | ST_DRV | ST_FOK);
	CHECK_EQ(vdev_get_status(d), ST_ACK | ST_DRV | ST_FOK);
	CHECK_EQ(d->log.total, 1);
	vdev_destroy(d);

	/* FEATURES_OK with a bit no longer offered (offer shrank after the write) */
	d = at_driver(MODERN, F_V1 | VIRTIO_BIT(VIRTIO_F_EVENT_IDX));
	vdev_bind_transport(d, &tt_ops, &g_tt, true, false, VIRTIO_BIT(VIRTIO_F_EVENT_IDX));
	vdev_set_status(d, ST_ACK | ST_DRV | ST_FOK);
	CHECK_EQ(diag_count(&d->log, DIAG_FEATURES_NOT_OFFERED), 1);
	CHECK_EQ(vdev_get_status(d), ST_ACK | ST_DRV);
	CHECK_EQ(d->log.total, 1);
	vdev_destroy(d);

	/* FEATURES_OK with a set the device rejects (it says why) */
	d = at_driver(MODERN, F_V1 | VIRTIO_BIT(TDEV_F_B));
	vdev_set_status(d, ST_ACK | ST_DRV | ST_FOK);
	CHECK_EQ(diag_count(&d->log, DIAG_FEATURES_INVALID), 1);
	CHECK_EQ(vdev_get_status(d), ST_ACK | ST_DRV);
	CHECK_EQ(d->log.total, 1);
	/* DRIVER_OK after a refused FEATURES_OK: out of order */
	vdev_set_status(d, ST_ACK | ST_DRV | ST_FOK | ST_DOK);
	CHECK_EQ(diag_count(&d->log, DIAG_FEATURES_INVALID), 2);
	CHECK_EQ(diag_count(&d->log, DIAG_STATUS_ORDER), 1);
	CHECK_EQ(vdev_get_status(d), ST_ACK | ST_DRV | ST_DOK);
	vdev_destroy(d);

	/* ... and one it rejects silently: the core reports for it */
	d = at_driver(MODERN, F_V1 | VIRTIO_BIT(TDEV_F_A) | VIRTIO_BIT(TDEV_F_B) |
				      VIRTIO_BIT(TDEV_F_C));
	vdev_set_status(d, ST_ACK | ST_DRV | ST_FOK);
	CHECK_EQ(diag_count(&d->log, DIAG_FEATURES_INVALID), 1);
	CHECK(strstr(diag_last(&d->log)->msg, "device tdev refuses features") != NULL);
	CHECK_EQ(vdev_get_status(d), ST_ACK | ST_DRV);
	CHECK_EQ(d->log.total, 1);
	vdev_destroy(d);

	/* FEATURES_OK on the legacy interface: it has none; reported, not stored */
	d = new_dev(TRANSITIONAL);
	d->legacy = true;
	vdev_set_status(d, ST_ACK | ST_DRV);
	vdev_set_driver_features(d, 0, (uint32_t)VIRTIO_BIT(TDEV_F_A));
	vdev_set_status(d, ST_ACK | ST_DRV | ST_FOK);
	CHECK_EQ(diag_count(&d->log, DIAG_STATUS_ORDER), 1);
	CHECK_EQ(vdev_get_status(d), ST_ACK | ST_DRV);
	CHECK(vdev_has(d, TDEV_F_A));
	vdev_set_status(d, ST_ACK | ST_DRV | ST_DOK);
	CHECK_EQ(vdev_get_status(d), ST_ACK | ST_DRV | ST_DOK);
	CHECK_EQ(d->log.total, 1);
	vdev_destroy(d);

	/* a device without validate_features accepts any offered 1.x set */
	struct vdev_ops o = bare_ops;
	char err[160];
	CHECK_EQ(vdev_create(&o, &g_gm, "b", NULL, &d, err, sizeof err), 0);
	vdev_bind_transport(d, NULL, NULL, true, false, 0);
	modern_up(d, F_V1 | VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC));
	CHECK_EQ(vdev_get_status(d), ST_ACK | ST_DRV | ST_FOK | ST_DOK);
	CHECK_EQ(d->log.total, 0);
	vdev_set_status(d, 0); /* no ops->reset */
	CHECK_EQ(d->stats.resets, 1);
	vdev_destroy(d);
}

/* ---- features ------------------------------------------------------------------------------- */

static void test_feature_windows(void)
{
	struct vdev *d = new_dev(TRANSITIONAL);

	vdev_set_status(d, ST_ACK | ST_DRV);
	/* bits never offered are dropped and reported */
	vdev_set_driver_features(d, 0, 0x80000000u | (uint32_t)VIRTIO_BIT(TDEV_F_A));
	CHECK_EQ(diag_count(&d->log, DIAG_FEATURES_NOT_OFFERED), 1);
	CHECK_EQ(d->driver_features, VIRTIO_BIT(TDEV_F_A));
	vdev_set_driver_features(d, 1, 0x1u | 0x40000000u);
	CHECK_EQ(diag_count(&d->log, DIAG_FEATURES_NOT_OFFERED), 2);
	CHECK_EQ(d->driver_features, VIRTIO_BIT(TDEV_F_A) | F_V1);
	/* each window replaces only its half */
	vdev_set_driver_features(d, 0, (uint32_t)VIRTIO_BIT(TDEV_F_C));
	CHECK_EQ(d->driver_features, VIRTIO_BIT(TDEV_F_C) | F_V1);
	vdev_set_driver_features(d, 1, (uint32_t)(VIRTIO_BIT(VIRTIO_F_RING_PACKED) >> 32));
	CHECK_EQ(d->driver_features, VIRTIO_BIT(TDEV_F_C) | VIRTIO_BIT(VIRTIO_F_RING_PACKED));
	/* windows beyond 1: zero is harmless, anything else reported */
	vdev_set_driver_features(d, 2, 0);
	CHECK_EQ(diag_count(&d->log, DIAG_FEATURES_NOT_OFFERED), 2);
	vdev_set_driver_features(d, 7, 1);
	CHECK_EQ(diag_count(&d->log, DIAG_FEATURES_NOT_OFFERED), 3);
	CHECK_EQ(d->driver_features, VIRTIO_BIT(TDEV_F_C) | VIRTIO_BIT(VIRTIO_F_RING_PACKED));

	/* the driver switches to the legacy registers: one window, the whole set */
	d->legacy = true;
	CHECK_EQ(vdev_driver_features_window(d, 1), 0);
	vdev_set_driver_features(d, 1, 1);
	CHECK_EQ(diag_count(&d->log, DIAG_FEATURES_NOT_OFFERED), 4);
	vdev_set_driver_features(d, 1, 0);
	CHECK_EQ(diag_count(&d->log, DIAG_FEATURES_NOT_OFFERED), 4);
	vdev_set_driver_features(d, 0, (uint32_t)VIRTIO_BIT(TDEV_F_A));
	CHECK_EQ(d->driver_features, VIRTIO_BIT(TDEV_F_A)); /* high half gone */
	d->legacy = false;

	/* after FEATURES_OK: late */
	write_features(d, F_V1);
	vdev_set_status(d, ST_ACK | ST_DRV | ST_FOK);
	CHECK(vdev_get_status(d) & ST_FOK);
	vdev_set_driver_features(d, 0, (uint32_t)VIRTIO_BIT(TDEV_F_A));
	vdev_set_driver_features(d, 1, 0);
	CHECK_EQ(diag_count(&d->log, DIAG_FEATURES_LATE), 2);
	CHECK_EQ(d->driver_features, F_V1);
	CHECK(strstr(diag_last(&d->log)->msg, "after FEATURES_OK") != NULL);
	vdev_destroy(d);
}

/* ---- config space --------------------------------------------------------------------------- */

static void test_config_reads(void)
{
	struct vdev *d = new_dev(MODERN);
	struct tpriv *p = tp(d);

	/* every field at its width: no report */
	CHECK_EQ(vdev_config_read(d, TCFG_RO8, 1), 0x5a);
	CHECK_EQ(vdev_config_read(d, TCFG_RW8, 1), 0);
	CHECK_EQ(vdev_config_read(d, TCFG_RW16, 2), 0);
	CHECK_EQ(vdev_config_read(d, TCFG_RO32, 4), 0x11223344);
	CHECK_EQ(vdev_config_read(d, TCFG_RO64, 8), 0x0102030405060708ull);
	/* 8-byte fields as two aligned 4-byte halves */
	CHECK_EQ(vdev_config_read(d, TCFG_RO64, 4), 0x05060708);
	CHECK_EQ(vdev_config_read(d, TCFG_RO64 + 4, 4), 0x01020304);
	CHECK_EQ(d->log.total, 0);
	CHECK_EQ(p->cfg_reads, 7);
	CHECK_EQ(p->last_roff, TCFG_RO64 + 4);
	CHECK_EQ(p->last_rlen, 4);

	/* the model refreshes before the bytes are served */
	p->live = 0xdeadbeef;
	CHECK_EQ(vdev_config_read(d, TCFG_RO32, 4), 0xdeadbeef);
	p->live = 0;

	/* wrong widths: reported, served byte-wise, little-endian */
	CHECK_EQ(vdev_config_read(d, TCFG_RO32, 2), 0xbeef);        /* narrow */
	CHECK_EQ(vdev_config_read(d, TCFG_RO32 + 1, 1), 0xbe);      /* inside a field */
	CHECK_EQ(vdev_config_read(d, TCFG_RW8, 2), 0x5a00);         /* two fields */
	CHECK_EQ(vdev_config_read(d, TCFG_RO64 + 2, 4), 0x03040506); /* unaligned half */
	CHECK_EQ(vdev_config_read(d, TCFG_RO64, 2), 0x0708);        /* 2 of an 8 */
	CHECK_EQ(vdev_config_read(d, TCFG_RW16, 4), 0xbeef0000);    /* two fields */
	CHECK_EQ(vdev_config_read(d, 24, 4), 0);                    /* no field there */
	CHECK_EQ(vdev_config_read(d, 24, 1), 0);
	CHECK_EQ(diag_count(&d->log, DIAG_CONFIG_WIDTH), 8);
	CHECK_EQ(d->log.total, 8);
	/* sizes other than 1/2/4/8: reported, read 0, not served */
	unsigned reads = p->cfg_reads;
	CHECK_EQ(vdev_config_read(d, TCFG_RO32, 3), 0);
	CHECK_EQ(vdev_config_read(d, TCFG_RO32, 0), 0);
	CHECK_EQ(diag_count(&d->log, DIAG_CONFIG_WIDTH), 10);
	CHECK_EQ(p->cfg_reads, reads);

	/* out of range, partly out of range, and offsets that would wrap */
	CHECK_EQ(vdev_config_read(d, TCFG_SIZE, 1), 0);
	CHECK_EQ(vdev_config_read(d, TCFG_SIZE - 2, 4), 0);
	CHECK_EQ(vdev_config_read(d, 0xffffffffu, 8), 0);
	CHECK_EQ(vdev_config_read(d, 0xfffffffcu, 4), 0);
	CHECK_EQ(diag_count(&d->log, DIAG_CONFIG_RANGE), 4);
	CHECK_EQ(p->cfg_reads, reads);
	/* the last bytes are in range */
	CHECK_EQ(vdev_config_read(d, TCFG_SIZE - 4, 4), 0);
	CHECK_EQ(diag_count(&d->log, DIAG_CONFIG_RANGE), 4);
	vdev_destroy(d);
}

static void test_config_writes(void)
{
	struct vdev *d = new_dev(MODERN);
	struct tpriv *p = tp(d);

	/* writable fields at their widths: stored, model told, no report */
	vdev_config_write(d, TCFG_RW8, 1, 0xab);
	CHECK_EQ(d->config[TCFG_RW8], 0xab);
	CHECK_EQ(p->cfg_writes, 1);
	CHECK_EQ(p->last_woff, TCFG_RW8);
	CHECK_EQ(p->last_wlen, 1);
	vdev_config_write(d, TCFG_RW16, 2, 0xbeef);
	CHECK_EQ(vdev_config_read(d, TCFG_RW16, 2), 0xbeef);
	vdev_config_write(d, TCFG_RW64, 8, 0x1122334455667788ull);
	CHECK_EQ(vdev_config_read(d, TCFG_RW64, 8), 0x1122334455667788ull);
	/* 8-byte field in two halves: two callbacks, each for the whole field */
	vdev_config_write(d, TCFG_RW64, 4, 0xaaaaaaaa);
	CHECK_EQ(p->last_woff, TCFG_RW64);
	CHECK_EQ(p->last_wlen, 8);
	vdev_config_write(d, TCFG_RW64 + 4, 4, 0xbbbbbbbb);
	CHECK_EQ(p->last_woff, TCFG_RW64);
	CHECK_EQ(p->last_wlen, 8);
	CHECK_EQ(vdev_config_read(d, TCFG_RW64, 8), 0xbbbbbbbbaaaaaaaaull);
	CHECK_EQ(p->cfg_writes, 5);
	CHECK_EQ(d->log.total, 0);

	/* read-only fields: dropped, reported, model not told */
	vdev_config_write(d, TCFG_RO8, 1, 0);
	vdev_config_write(d, TCFG_RO32, 4, 0);
	vdev_config_write(d, TCFG_RO64, 8, 0);
	CHECK_EQ(diag_count(&d->log, DIAG_CONFIG_READONLY), 3);
	CHECK_EQ(d->log.total, 3);
	CHECK_EQ(p->cfg_writes, 5);
	CHECK_EQ(vdev_config_read(d, TCFG_RO8, 1), 0x5a);
	CHECK_EQ(vdev_config_read(d, TCFG_RO64, 8), 0x0102030405060708ull);
	/* undeclared bytes are read-only too */
	vdev_config_write(d, 24, 4, 0xffffffff);
	CHECK_EQ(vdev_config_read(d, 24, 4), 0);
	CHECK_EQ(diag_count(&d->log, DIAG_CONFIG_READONLY), 4);

	/* a write across a writable and a read-only byte: width + read-only,
	 * the writable byte is stored and its field reported to the model */
	diag_clear(&d->log);
	vdev_config_write(d, TCFG_RW8, 2, 0x7766);
	CHECK_EQ(diag_count(&d->log, DIAG_CONFIG_WIDTH), 1);
	CHECK_EQ(diag_count(&d->log, DIAG_CONFIG_READONLY), 1);
	CHECK_EQ(d->config[TCFG_RW8], 0x66);
	CHECK_EQ(d->config[TCFG_RO8], 0x5a);
	CHECK_EQ(p->cfg_writes, 6);
	CHECK_EQ(p->last_woff, TCFG_RW8);
	CHECK_EQ(p->last_wlen, 1);
	/* one byte of a writable 2-byte field: width, stored, whole field reported */
	vdev_config_write(d, TCFG_RW16 + 1, 1, 0x12);
	CHECK_EQ(diag_count(&d->log, DIAG_CONFIG_WIDTH), 2);
	CHECK_EQ(diag_count(&d->log, DIAG_CONFIG_READONLY), 1);
	CHECK_EQ(vdev_config_read(d, TCFG_RW16, 2), 0x12ef);
	CHECK_EQ(p->last_woff, TCFG_RW16);
	CHECK_EQ(p->last_wlen, 2);
	/* 4 bytes over RW8, RO8, RW16: two writable fields, two callbacks */
	unsigned w = p->cfg_writes;
	vdev_config_write(d, 0, 4, 0x44332211);
	CHECK_EQ(p->cfg_writes, w + 2);
	CHECK_EQ(d->config[0], 0x11);
	CHECK_EQ(d->config[1], 0x5a);
	CHECK_EQ(rs_le16(d->config + 2), 0x4433);
	CHECK_EQ(p->last_woff, TCFG_RW16);

	/* out of range and bad sizes: dropped, model not told */
	diag_clear(&d->log);
	w = p->cfg_writes;
	vdev_config_write(d, TCFG_SIZE, 1, 1);
	vdev_config_write(d, TCFG_SIZE - 1, 2, 1);
	vdev_config_write(d, 0xfffffff9u, 8, 1);
	CHECK_EQ(diag_count(&d->log, DIAG_CONFIG_RANGE), 3);
	vdev_config_write(d, TCFG_RW8, 5, 1);
	CHECK_EQ(diag_count(&d->log, DIAG_CONFIG_WIDTH), 1);
	CHECK_EQ(d->log.total, 4);
	CHECK_EQ(p->cfg_writes, w);
	CHECK_EQ(d->config[TCFG_RW8], 0x11);
	vdev_destroy(d);

	/* a model without a field table: no width rules, nothing writable */
	char err[160];
	CHECK_EQ(vdev_create(&bare_ops, &g_gm, "b", NULL, &d, err, sizeof err), 0);
	CHECK_EQ(vdev_config_read(d, 1, 4), 0);
	CHECK_EQ(vdev_config_read(d, 0, 8), 0);
	CHECK_EQ(d->log.total, 0);
	vdev_config_write(d, 0, 4, 0xffffffff);
	CHECK_EQ(diag_count(&d->log, DIAG_CONFIG_READONLY), 1);
	CHECK_EQ(vdev_config_read(d, 0, 4), 0);
	vdev_destroy(d);

	/* a model with no config space at all */
	struct vdev_ops o = bare_ops;
	o.config_size = 0;
	CHECK_EQ(vdev_create(&o, &g_gm, "b", NULL, &d, err, sizeof err), 0);
	CHECK(d->config == NULL);
	CHECK_EQ(vdev_config_read(d, 0, 1), 0);
	vdev_config_write(d, 0, 1, 1);
	CHECK_EQ(diag_count(&d->log, DIAG_CONFIG_RANGE), 2);
	vdev_reset(d);
	vdev_destroy(d);
}

static void test_generation_isr(void)
{
	struct vdev *d = new_dev(MODERN);

	/* before DRIVER_OK: generation and ISR change, no interrupt */
	vdev_config_changed(d);
	CHECK_EQ(d->config_generation, 1);
	CHECK_EQ(d->isr, VIRTIO_ISR_CONFIG);
	CHECK_EQ(g_tt.config, 0);
	CHECK_EQ(d->stats.irqs, 0);
	CHECK_EQ(vdev_read_isr(d), VIRTIO_ISR_CONFIG);
	CHECK_EQ(vdev_read_isr(d), 0); /* read clears */

	modern_up(d, F_V1);
	vdev_config_changed(d);
	vdev_config_changed(d);
	CHECK_EQ(d->config_generation, 3);
	CHECK_EQ(g_tt.config, 2);
	CHECK_EQ(g_tt.queue, 0);
	CHECK(g_tt.last_d == d);
	CHECK_EQ(d->stats.irqs, 2);
	CHECK_EQ(vdev_read_isr(d), VIRTIO_ISR_CONFIG);
	CHECK_EQ(d->isr, 0);

	/* generation is 32 bits and wraps */
	d->config_generation = 0xffffffffu;
	vdev_config_changed(d);
	CHECK_EQ(d->config_generation, 0);

	/* reset: generation back to 0 (our documented choice), ISR clear */
	vdev_config_changed(d);
	vdev_reset(d);
	CHECK_EQ(d->config_generation, 0);
	CHECK_EQ(d->isr, 0);

	CHECK_EQ(d->stats.irqs, 4);
	CHECK_EQ(g_tt.config, 4);

	/* no transport bound: no interrupt, no crash */
	vdev_bind_transport(d, NULL, NULL, true, false, 0);
	modern_up(d, F_V1);
	vdev_config_changed(d);
	CHECK_EQ(d->isr, VIRTIO_ISR_CONFIG);
	CHECK_EQ(d->stats.irqs, 4);
	CHECK_EQ(d->log.total, 0);
	vdev_destroy(d);
}

static void test_msix_vectors(void)
{
	struct vdev *d = new_dev(MODERN);

	vdev_set_msix_vector(d, -1, 0, 4);
	CHECK_EQ(d->msix_config, 0);
	vdev_set_msix_vector(d, 2, 3, 4);
	CHECK_EQ(d->queues[2].msix_vector, 3);
	vdev_set_msix_vector(d, 0, VIRTIO_MSI_NO_VECTOR, 4);
	CHECK_EQ(d->queues[0].msix_vector, VIRTIO_MSI_NO_VECTOR);
	CHECK_EQ(d->log.total, 0);
	/* beyond the table: stored as NO_VECTOR, reported */
	vdev_set_msix_vector(d, -1, 4, 4);
	CHECK_EQ(d->msix_config, VIRTIO_MSI_NO_VECTOR);
	vdev_set_msix_vector(d, 2, 0xfffe, 4);
	CHECK_EQ(d->queues[2].msix_vector, VIRTIO_MSI_NO_VECTOR);
	/* no MSI-X at all: every vector but NO_VECTOR is out of range */
	vdev_set_msix_vector(d, 1, 0, 0);
	CHECK_EQ(d->queues[1].msix_vector, VIRTIO_MSI_NO_VECTOR);
	vdev_set_msix_vector(d, 1, VIRTIO_MSI_NO_VECTOR, 0);
	CHECK_EQ(diag_count(&d->log, DIAG_MSIX_VECTOR), 3);
	/* queues that do not exist */
	vdev_set_msix_vector(d, TDEV_NQ, 0, 4);
	vdev_set_msix_vector(d, -2, 0, 4);
	CHECK_EQ(diag_count(&d->log, DIAG_QUEUE_SELECT), 2);
	CHECK_EQ(d->log.total, 5);
	/* reset: NO_VECTOR everywhere */
	vdev_set_msix_vector(d, -1, 1, 4);
	vdev_set_msix_vector(d, 1, 1, 4);
	vdev_reset(d);
	CHECK_EQ(d->msix_config, VIRTIO_MSI_NO_VECTOR);
	CHECK_EQ(d->queues[1].msix_vector, VIRTIO_MSI_NO_VECTOR);
	vdev_destroy(d);
}

/* ---- queues --------------------------------------------------------------------------------- */

static void test_queue_size(void)
{
	struct vdev *d = new_dev(MODERN);

	vdev_queue_set_size(d, 0, 8);
	CHECK_EQ(d->queues[0].size, 8);
	vdev_queue_set_size(d, 0, TDEV_QMAX);
	CHECK_EQ(d->queues[0].size, TDEV_QMAX);
	vdev_queue_set_size(d, 0, 6); /* not a power of 2: taken, checked at enable */
	CHECK_EQ(d->queues[0].size, 6);
	CHECK_EQ(d->log.total, 0);
	vdev_queue_set_size(d, 0, 0);
	vdev_queue_set_size(d, 0, TDEV_QMAX + 1);
	CHECK_EQ(diag_count(&d->log, DIAG_QUEUE_SIZE), 2);
	CHECK_EQ(d->queues[0].size, 6);
	vdev_queue_set_size(d, TDEV_NQ, 8);
	vdev_queue_set_size(d, 0xffffffffu, 8);
	CHECK_EQ(diag_count(&d->log, DIAG_QUEUE_SELECT), 2);
	vdev_reset(d);
	CHECK_EQ(d->queues[0].size, TDEV_QMAX);
	vdev_destroy(d);
}

static void test_queue_enable_modern(void)
{
	struct vdev *d = new_dev(MODERN);
	struct vdev_queue *q0 = vdev_queue(d, 0);

	gm_dirty_reset(&g_gm);
	modern_up(d, F_V1 | VIRTIO_BIT(VIRTIO_F_EVENT_IDX));
	place_split(d, 0);
	vdev_queue_set_size(d, 0, 8);
	CHECK_EQ(vdev_queue_enable(d, 0), 0);
	CHECK(q0->enabled);
	CHECK(q0->vq.ready);
	CHECK_EQ(q0->vq.layout, VQ_SPLIT);
	CHECK_EQ(q0->vq.num, 8);
	CHECK_EQ(q0->vq.desc, R_DESC);
	CHECK_EQ(q0->vq.driver, R_AVAIL);
	CHECK_EQ(q0->vq.device, R_USED);
	CHECK_EQ(q0->vq.features, F_V1 | VIRTIO_BIT(VIRTIO_F_EVENT_IDX));
	CHECK_EQ(d->log.total, 0);
	/* enabled: size changes and a second enable are refused */
	vdev_queue_set_size(d, 0, 4);
	CHECK_EQ(q0->size, 8);
	CHECK_EQ(vdev_queue_enable(d, 0), 0);
	CHECK_EQ(diag_count(&d->log, DIAG_QUEUE_ENABLED), 2);
	CHECK(q0->vq.ready);
	CHECK_EQ(vdev_queue_enable(d, TDEV_NQ), -EINVAL);
	CHECK_EQ(diag_count(&d->log, DIAG_QUEUE_SELECT), 1);
	CHECK(!(vdev_get_status(d) & ST_NR));

	/* a bad ring: disabled, the ring engine's report, NEEDS_RESET with a
	 * config interrupt (DRIVER_OK is set) */
	struct vdev_queue *q1 = vdev_queue(d, 1);
	q1->desc = 0x40000000ull; /* no RAM there */
	q1->driver = R_AVAIL;
	q1->device = R_USED;
	CHECK_EQ(vdev_queue_enable(d, 1), -EINVAL);
	CHECK(!q1->enabled);
	CHECK(!q1->vq.ready);
	CHECK_EQ(diag_count(&d->log, DIAG_VQ_RING_ADDR), 1);
	CHECK_EQ(diag_count(&d->log, DIAG_NEEDS_RESET), 1);
	CHECK(strstr(diag_last(&d->log)->msg, "VQ_RING_ADDR") != NULL);
	CHECK(vdev_get_status(d) & ST_NR);
	CHECK_EQ(g_tt.config, 1);
	CHECK(d->isr & VIRTIO_ISR_CONFIG);
	vdev_destroy(d);

	/* packed layout when RING_PACKED was negotiated; any size up to max */
	d = new_dev(MODERN);
	modern_up(d, F_V1 | VIRTIO_BIT(VIRTIO_F_RING_PACKED));
	place_split(d, 2);
	vdev_queue_set_size(d, 2, 6);
	CHECK_EQ(vdev_queue_enable(d, 2), 0);
	CHECK_EQ(d->queues[2].vq.layout, VQ_PACKED);
	CHECK_EQ(d->queues[2].vq.num, 6);
	CHECK_EQ(d->log.total, 0);
	vdev_destroy(d);

	/* split with a size that is not a power of 2: refused by the engine */
	d = new_dev(MODERN);
	modern_up(d, F_V1);
	place_split(d, 0);
	vdev_queue_set_size(d, 0, 6);
	CHECK_EQ(vdev_queue_enable(d, 0), -EINVAL);
	CHECK_EQ(diag_count(&d->log, DIAG_VQ_SIZE), 1);
	CHECK_EQ(diag_count(&d->log, DIAG_NEEDS_RESET), 1);
	CHECK(!d->queues[0].enabled);
	/* NEEDS_RESET is reported once per episode */
	CHECK_EQ(vdev_queue_enable(d, 0), -EINVAL);
	CHECK_EQ(diag_count(&d->log, DIAG_VQ_SIZE), 2);
	CHECK_EQ(diag_count(&d->log, DIAG_NEEDS_RESET), 1);
	CHECK_EQ(g_tt.config, 1);
	vdev_destroy(d);
}

static void test_queue_pfn(void)
{
	struct vdev *d = new_dev(LEGACY);
	struct vdev_queue *q0 = vdev_queue(d, 0);
	const uint32_t pg = VIRTIO_PCI_LEGACY_ALIGN;

	/* legacy PCI: size is the maximum, ring at pfn * 4096, used 4096-aligned */
	CHECK_EQ(vdev_queue_set_pfn(d, 0, 0x10, pg, VIRTIO_PCI_LEGACY_ALIGN), 0);
	CHECK(q0->enabled);
	CHECK_EQ(q0->legacy_pfn, 0x10);
	CHECK_EQ(q0->desc, 0x10000);
	CHECK_EQ(q0->driver, 0x10000 + 16 * TDEV_QMAX);
	CHECK_EQ(q0->device, 0x10000 + virtq_legacy_used_off(TDEV_QMAX, 4096));
	CHECK_EQ(q0->device, 0x11000);
	CHECK_EQ(q0->vq.layout, VQ_SPLIT);
	CHECK_EQ(q0->vq.num, TDEV_QMAX);
	CHECK_EQ(q0->vq.desc, 0x10000);
	CHECK_EQ(q0->vq.device, 0x11000);
	CHECK_EQ(d->log.total, 0);
	/* placed again while placed: refused */
	CHECK_EQ(vdev_queue_set_pfn(d, 0, 0x20, pg, 4096), -EINVAL);
	CHECK_EQ(diag_count(&d->log, DIAG_QUEUE_ENABLED), 1);
	CHECK_EQ(q0->legacy_pfn, 0x10);
	/* PFN 0 stops the queue and forgets where it was */
	CHECK_EQ(vdev_queue_set_pfn(d, 0, 0, pg, 4096), 0);
	CHECK(!q0->enabled);
	CHECK(!q0->vq.ready);
	CHECK_EQ(q0->legacy_pfn, 0);
	CHECK_EQ(q0->desc, 0);
	CHECK_EQ(q0->device, 0);
	/* MMIO v1: the driver's QueueNum, its page size and alignment */
	vdev_queue_set_size(d, 1, 8);
	CHECK_EQ(vdev_queue_set_pfn(d, 1, 0x40, 1024, 64), 0);
	CHECK_EQ(d->queues[1].desc, 0x10000);
	CHECK_EQ(d->queues[1].driver, 0x10000 + 128);
	CHECK_EQ(d->queues[1].device, 0x10000 + 192);
	CHECK_EQ(d->queues[1].vq.num, 8);
	CHECK_EQ(d->log.total, 1);
	CHECK(!(vdev_get_status(d) & ST_NR));
	/* queue that does not exist */
	CHECK_EQ(vdev_queue_set_pfn(d, TDEV_NQ, 0x10, pg, 4096), -EINVAL);
	CHECK_EQ(diag_count(&d->log, DIAG_QUEUE_SELECT), 1);
	vdev_destroy(d);

	/* hostile placements: outside RAM, at the very top, bad page size or
	 * alignment. Each is DIAG_LEGACY_PFN, the queue stays off, NEEDS_RESET. */
	static const struct {
		uint32_t pfn, page, align;
	} bad[] = {
		{ 0x40000, 4096, 4096 },           /* 1 GiB: no RAM */
		{ 0xffff, 16, 4096 },              /* ring runs past the end of RAM */
		{ 0xffffffffu, 0x80000000u, 4096 }, /* near 2^63 */
		{ 0x10, 0, 4096 },
		{ 0x10, 3000, 4096 },
		{ 0x10, 4096, 0 },
		{ 0x10, 4096, 100 },
	};
	for (unsigned i = 0; i < RS_ARRAY_SIZE(bad); i++) {
		d = new_dev(LEGACY);
		CHECK_EQ(vdev_queue_set_pfn(d, 0, bad[i].pfn, bad[i].page, bad[i].align), -EINVAL);
		CHECK_EQ(diag_count(&d->log, DIAG_LEGACY_PFN), 1);
		CHECK_EQ(diag_count(&d->log, DIAG_NEEDS_RESET), 1);
		CHECK(!d->queues[0].enabled);
		CHECK_EQ(d->queues[0].legacy_pfn, 0);
		CHECK(vdev_get_status(d) & ST_NR);
		CHECK_EQ(g_tt.config, 0); /* not DRIVER_OK: no interrupt */
		vdev_destroy(d);
	}

	/* MMIO v1 with a QueueNum that is not a power of 2: the engine refuses */
	d = new_dev(LEGACY);
	vdev_queue_set_size(d, 0, 3);
	CHECK_EQ(vdev_queue_set_pfn(d, 0, 0x10, 4096, 4096), -EINVAL);
	CHECK_EQ(diag_count(&d->log, DIAG_VQ_SIZE), 1);
	CHECK_EQ(diag_count(&d->log, DIAG_LEGACY_PFN), 0);
	CHECK(!d->queues[0].enabled);
	CHECK_EQ(d->queues[0].legacy_pfn, 0);
	CHECK(vdev_get_status(d) & ST_NR);
	vdev_destroy(d);
}

static void test_notify_rules(void)
{
	struct vdev *d = new_dev(MODERN);
	struct tpriv *p = tp(d);

	gm_dirty_reset(&g_gm);
	/* queue out of range, queue not enabled */
	vdev_queue_notify(d, TDEV_NQ);
	vdev_queue_notify(d, 0xffffffffu);
	CHECK_EQ(diag_count(&d->log, DIAG_QUEUE_SELECT), 2);
	vdev_queue_notify(d, 0);
	CHECK_EQ(diag_count(&d->log, DIAG_QUEUE_NOT_READY), 1);
	CHECK_EQ(p->notifies[0], 0);

	/* 1.x before DRIVER_OK: reported and dropped */
	vdev_set_status(d, ST_ACK | ST_DRV);
	write_features(d, F_V1);
	vdev_set_status(d, ST_ACK | ST_DRV | ST_FOK);
	place_split(d, 0);
	CHECK_EQ(vdev_queue_enable(d, 0), 0);
	vdev_queue_notify(d, 0);
	CHECK_EQ(diag_count(&d->log, DIAG_NOTIFY_EARLY), 1);
	CHECK(strstr(diag_last(&d->log)->msg, "dropped") != NULL);
	CHECK_EQ(p->notifies[0], 0);
	CHECK_EQ(d->stats.notifies, 0);
	/* after DRIVER_OK: delivered */
	vdev_set_status(d, ST_ACK | ST_DRV | ST_FOK | ST_DOK);
	vdev_queue_notify(d, 0);
	CHECK_EQ(p->notifies[0], 1);
	CHECK_EQ(p->last_notify, 0);
	CHECK_EQ(d->stats.notifies, 1);
	CHECK_EQ(d->log.total, 4);
	/* FAILED: dropped without a report */
	vdev_set_status(d, ST_ACK | ST_DRV | ST_FOK | ST_DOK | ST_FAIL);
	vdev_queue_notify(d, 0);
	CHECK_EQ(p->notifies[0], 1);
	CHECK_EQ(d->stats.notifies, 1);
	CHECK_EQ(d->log.total, 4);
	vdev_destroy(d);

	/* NEEDS_RESET: dropped */
	d = new_dev(MODERN);
	p = tp(d);
	modern_up(d, F_V1);
	place_split(d, 1);
	CHECK_EQ(vdev_queue_enable(d, 1), 0);
	vdev_queue_notify(d, 1);
	CHECK_EQ(p->notifies[1], 1);
	vdev_needs_reset(d, DIAG_DEVICE_ERROR);
	vdev_queue_notify(d, 1);
	CHECK_EQ(p->notifies[1], 1);
	CHECK_EQ(d->stats.notifies, 1);
	vdev_destroy(d);

	/* legacy before DRIVER_OK: reported and still delivered */
	d = new_dev(LEGACY);
	p = tp(d);
	vdev_set_status(d, ST_ACK | ST_DRV);
	CHECK_EQ(vdev_queue_set_pfn(d, 2, 0x30, 4096, 4096), 0);
	vdev_queue_notify(d, 2);
	CHECK_EQ(diag_count(&d->log, DIAG_NOTIFY_EARLY), 1);
	CHECK(strstr(diag_last(&d->log)->msg, "delivered") != NULL);
	CHECK_EQ(p->notifies[2], 1);
	CHECK_EQ(d->stats.notifies, 1);
	vdev_set_status(d, ST_ACK | ST_DRV | ST_DOK);
	vdev_queue_notify(d, 2);
	CHECK_EQ(p->notifies[2], 2);
	CHECK_EQ(diag_count(&d->log, DIAG_NOTIFY_EARLY), 1);
	CHECK_EQ(d->log.total, 1);
	vdev_destroy(d);
}

static void test_queue_interrupt(void)
{
	struct vdev *d = new_dev(MODERN);
	struct tpriv *p = tp(d);

	gm_dirty_reset(&g_gm);
	modern_up(d, F_V1);
	place_split(d, 1);
	vdev_queue_set_size(d, 1, 8);
	CHECK_EQ(vdev_queue_enable(d, 1), 0);
	uint64_t desc = d->queues[1].desc, avail = d->queues[1].driver;
	uint64_t used = d->queues[1].device;

	/* a chain completed: ISR queue bit and a queue interrupt */
	offer_chain(desc, avail, 8, 0, 0, 0);
	vdev_queue_notify(d, 1);
	CHECK_EQ(p->chains, 1);
	CHECK_EQ(used_idx(used), 1);
	CHECK_EQ(g_tt.queue, 1);
	CHECK_EQ(g_tt.last_q, 1);
	CHECK_EQ(d->isr, VIRTIO_ISR_QUEUE);
	CHECK_EQ(d->stats.irqs, 1);
	CHECK_EQ(vdev_read_isr(d), VIRTIO_ISR_QUEUE);
	/* the driver asked for no interrupts: none */
	offer_chain(desc, avail, 8, 1, 1, VIRTQ_AVAIL_F_NO_INTERRUPT);
	vdev_queue_notify(d, 1);
	CHECK_EQ(p->chains, 2);
	CHECK_EQ(g_tt.queue, 1);
	CHECK_EQ(d->isr, 0);
	/* nothing new: nothing to say; bad or disabled queues: nothing */
	vdev_queue_interrupt(d, TDEV_NQ);
	vdev_queue_interrupt(d, 0);
	CHECK_EQ(g_tt.queue, 1);
	CHECK_EQ(d->stats.irqs, 1);
	CHECK_EQ(d->log.total, 0);

	/* without a transport the ISR still records it */
	vdev_bind_transport(d, NULL, NULL, true, false, 0);
	offer_chain(desc, avail, 8, 2, 2, 0);
	vdev_queue_notify(d, 1);
	CHECK_EQ(p->chains, 3);
	CHECK_EQ(d->isr, VIRTIO_ISR_QUEUE);
	CHECK_EQ(d->stats.irqs, 2);
	vdev_destroy(d);
}

static void test_needs_reset(void)
{
	struct vdev *d = new_dev(MODERN);

	/* before DRIVER_OK: the bit, one report, no interrupt */
	vdev_needs_reset(d, DIAG_VQ_LOOP);
	CHECK(vdev_get_status(d) & ST_NR);
	CHECK_EQ(diag_count(&d->log, DIAG_NEEDS_RESET), 1);
	CHECK(strstr(diag_last(&d->log)->msg, "VQ_LOOP") != NULL);
	CHECK_EQ(g_tt.config, 0);
	vdev_needs_reset(d, DIAG_VQ_LOOP);
	CHECK_EQ(diag_count(&d->log, DIAG_NEEDS_RESET), 1);
	/* reset ends the episode */
	vdev_set_status(d, 0);
	CHECK_EQ(vdev_get_status(d), 0);

	/* after DRIVER_OK: a config interrupt (virtio-v1.2 2.1.2), generation unchanged */
	modern_up(d, F_V1);
	vdev_needs_reset(d, DIAG_DEVICE_ERROR);
	CHECK_EQ(diag_count(&d->log, DIAG_NEEDS_RESET), 2);
	CHECK_EQ(g_tt.config, 1);
	CHECK_EQ(d->isr, VIRTIO_ISR_CONFIG);
	CHECK_EQ(d->config_generation, 0);
	vdev_needs_reset(d, DIAG_DEVICE_ERROR);
	CHECK_EQ(g_tt.config, 1);
	vdev_reset(d);

	/* a guest error in a ring (head out of range) breaks the queue and,
	 * through the engine's hook, puts the device into NEEDS_RESET */
	gm_dirty_reset(&g_gm);
	modern_up(d, F_V1);
	place_split(d, 0);
	vdev_queue_set_size(d, 0, 4);
	CHECK_EQ(vdev_queue_enable(d, 0), 0);
	offer_chain(d->queues[0].desc, d->queues[0].driver, 4, 9, 0, 0);
	vdev_queue_notify(d, 0);
	CHECK_EQ(diag_count(&d->log, DIAG_VQ_HEAD_RANGE), 1);
	CHECK(d->queues[0].vq.broken);
	CHECK(vdev_get_status(d) & ST_NR);
	CHECK_EQ(diag_count(&d->log, DIAG_NEEDS_RESET), 3);
	CHECK_EQ(g_tt.config, 2);
	vdev_destroy(d);
}

/* ---- reset and snapshots -------------------------------------------------------------------- */

/* Drive d through a long 1.x session touching every piece of state. */
static void heavy_modern_session(struct vdev *d)
{
	gm_dirty_reset(&g_gm);
	modern_up(d, F_V1 | VIRTIO_BIT(VIRTIO_F_EVENT_IDX) | VIRTIO_BIT(TDEV_F_A));
	d->dfselect = 1;
	d->gfselect = 1;
	d->queue_select = 2;
	vdev_set_msix_vector(d, -1, 0, 4);
	vdev_set_msix_vector(d, 0, 1, 4);
	vdev_set_msix_vector(d, 2, 9, 4);
	vdev_config_write(d, TCFG_RW8, 1, 0x77);
	vdev_config_write(d, TCFG_RW64, 8, 0x0123456789abcdefull);
	tp(d)->live = 0xcafef00d;
	(void)vdev_config_read(d, TCFG_RO32, 4);
	vdev_config_changed(d);
	for (unsigned q = 0; q < 2; q++) {
		place_split(d, q);
		vdev_queue_set_size(d, q, 8);
		CHECK_EQ(vdev_queue_enable(d, q), 0);
		for (uint16_t i = 0; i < 5; i++) {
			offer_chain(d->queues[q].desc, d->queues[q].driver, 8, i, i, 0);
			vdev_queue_notify(d, q);
		}
	}
	/* leave one chain in flight on queue 0 */
	struct vq_chain c;
	offer_chain(d->queues[0].desc, d->queues[0].driver, 8, 5, 5, 0);
	CHECK_EQ(vq_pop(&d->queues[0].vq, &c), 1);
	vq_chain_release(&c);
	CHECK_EQ(d->queues[0].vq.inflight, 1);
	vdev_needs_reset(d, DIAG_DEVICE_ERROR);
}

static void test_reset_restores_power_on(void)
{
	struct vdev *d = new_dev(TRANSITIONAL);
	size_t n0, n1, n2;
	uint8_t *s0 = snapshot(d, &n0);
	uint64_t h0 = vdev_state_hash(d);

	CHECK_EQ(h0, fnv1a(s0, n0));
	heavy_modern_session(d);
	CHECK_EQ(tp(d)->chains, 10);
	uint8_t *s1 = snapshot(d, &n1);
	CHECK(n1 != n0 || memcmp(s0, s1, n0) != 0);
	CHECK(vdev_state_hash(d) != h0);
	CHECK_EQ(vdev_state_hash(d), fnv1a(s1, n1));

	vdev_set_status(d, 0);
	uint8_t *s2 = snapshot(d, &n2);
	CHECK_EQ(n2, n0);
	CHECK(n2 == n0 && memcmp(s0, s2, n0) == 0);
	CHECK_EQ(vdev_state_hash(d), h0);
	CHECK_EQ(d->stats.resets, 1);
	free(s1);
	free(s2);

	/* a legacy session on the same transitional device: PFN placement */
	gm_dirty_reset(&g_gm);
	d->legacy = true;
	vdev_set_status(d, ST_ACK | ST_DRV);
	vdev_set_driver_features(d, 0, (uint32_t)VIRTIO_BIT(TDEV_F_A));
	CHECK_EQ(vdev_queue_set_pfn(d, 1, 0x10, 4096, 4096), 0);
	vdev_set_status(d, ST_ACK | ST_DRV | ST_DOK);
	offer_chain(d->queues[1].desc, d->queues[1].driver, TDEV_QMAX, 0, 0, 0);
	vdev_queue_notify(d, 1);
	CHECK_EQ(tp(d)->chains, 1);
	CHECK(vdev_state_hash(d) != h0);
	vdev_reset(d);
	CHECK(!d->legacy);
	s2 = snapshot(d, &n2);
	CHECK(n2 == n0 && memcmp(s0, s2, n0) == 0);
	free(s2);

	/* two devices in the same state snapshot identically */
	struct vdev *e = new_dev(TRANSITIONAL);
	CHECK_EQ(vdev_state_hash(e), h0);
	heavy_modern_session(d);
	heavy_modern_session(e);
	CHECK_EQ(vdev_state_hash(d), vdev_state_hash(e));
	vdev_destroy(e);

	/* a short buffer: the size is still reported, nothing written past cap */
	uint8_t small[16];
	memset(small, 0xee, sizeof small);
	CHECK_EQ(vdev_save_state(d, small, 10), vdev_save_state(d, NULL, 0));
	CHECK_EQ(small[10], 0xee);
	CHECK_EQ(rs_le32(small), 0x76656476u); /* "vdev" */
	free(s0);
	vdev_destroy(d);
}

static void test_snapshot_model_blob(void)
{
	struct vdev *d = new_dev(MODERN);
	size_t n, n_small;

	n_small = vdev_save_state(d, NULL, 0);
	g_save_extra = 1000; /* above the hash's stack scratch */
	uint8_t *s = snapshot(d, &n);
	CHECK_EQ(n, n_small + 1000);
	CHECK_EQ(vdev_state_hash(d), fnv1a(s, n));
	CHECK_EQ(s[n - 1000 + 5], 35); /* the model's bytes are at the end */
	/* room for the core but not for the model's bytes */
	uint8_t *t = calloc(1, n);
	CHECK_EQ(vdev_save_state(d, t, n - 1), n);
	CHECK_EQ(t[n - 2], 0);
	free(t);
	free(s);
	g_save_extra = 0;
	vdev_destroy(d);

	/* a model with no save: the length prefix says 0 */
	char err[160];
	CHECK_EQ(vdev_create(&bare_ops, &g_gm, "b", NULL, &d, err, sizeof err), 0);
	s = snapshot(d, &n);
	CHECK_EQ(rs_le32(s + n - 4), 0);
	CHECK_EQ(vdev_state_hash(d), fnv1a(s, n));
	free(s);
	vdev_destroy(d);
}

/* ---- option helpers ------------------------------------------------------------------------- */

static void test_arg_lookup(void)
{
	struct vdev_args a;

	memset(&a, 0, sizeof a);
	set_arg(&a, "size", "8M");
	set_arg(&a, "ro", "");
	CHECK(vdev_arg(NULL, "size") == NULL);
	CHECK(vdev_arg(&a, NULL) == NULL);
	CHECK(vdev_arg(&a, "nope") == NULL);
	CHECK(!a.kv[0].used);
	CHECK(strcmp(vdev_arg(&a, "size"), "8M") == 0);
	CHECK(a.kv[0].used);
	CHECK(!a.kv[1].used);
	CHECK(strcmp(vdev_arg(&a, "ro"), "") == 0);
	CHECK(a.kv[1].used);
	/* only the first VDEV_MAX_ARGS entries exist */
	a.n = VDEV_MAX_ARGS + 5;
	CHECK(vdev_arg(&a, "ro") != NULL);
	a.n = 1;
	CHECK(vdev_arg(&a, "ro") == NULL);
}

/* Parse one size value: returns r, *out. */
static int size_of(const char *val, uint64_t *out, char *err, size_t errlen)
{
	struct vdev_args a;

	memset(&a, 0, sizeof a);
	set_arg(&a, "size", val);
	return vdev_arg_size(&a, "size", 77, out, err, errlen);
}

static void test_arg_size(void)
{
	static const struct {
		const char *in;
		uint64_t want;
	} good[] = {
		{ "0", 0 },
		{ "4096", 4096 },
		{ "0x1000", 0x1000 },
		{ "0X1f", 0x1f },
		{ "0xABCdef", 0xabcdef },
		{ "64K", 64 << 10 },
		{ "64k", 64 << 10 },
		{ "8M", 8 << 20 },
		{ "8m", 8 << 20 },
		{ "1G", 1ull << 30 },
		{ "3g", 3ull << 30 },
		{ "0x10M", 16ull << 20 },
		{ "18446744073709551615", UINT64_MAX },
		{ "0xffffffffffffffff", UINT64_MAX },
		{ "17179869183G", 17179869183ull << 30 },
		{ "007", 7 },
	};
	static const char *const bad[] = { "", "abc", "12Q", "0x", "0xg", "-1", "+1", " 1",
					   "1 ", "1KB", "1.5M", "K", "0b101", "12a" };
	static const char *const big[] = { "18446744073709551616", "0x10000000000000000",
					   "17179869184G", "99999999999999999999999",
					   "18014398509481984K" };
	char err[160];
	uint64_t v;

	for (unsigned i = 0; i < RS_ARRAY_SIZE(good); i++) {
		v = 12345;
		CHECK_EQ(size_of(good[i].in, &v, err, sizeof err), 0);
		if (v != good[i].want)
			fprintf(stderr, "size '%s' parsed as %llu\n", good[i].in,
				(unsigned long long)v);
		CHECK_EQ(v, good[i].want);
	}
	for (unsigned i = 0; i < RS_ARRAY_SIZE(bad); i++) {
		char want[200];

		v = 12345;
		err[0] = '\0';
		CHECK_EQ(size_of(bad[i], &v, err, sizeof err), -EINVAL);
		CHECK_EQ(v, 12345);
		snprintf(want, sizeof want,
			 "option 'size': expected a size such as 4096, 64K, 8M, 1G or 0x1000, "
			 "got '%s'", bad[i]);
		if (strcmp(err, want) != 0)
			fprintf(stderr, "size '%s': error '%s'\n", bad[i], err);
		CHECK(strcmp(err, want) == 0);
	}
	for (unsigned i = 0; i < RS_ARRAY_SIZE(big); i++) {
		v = 12345;
		err[0] = '\0';
		CHECK_EQ(size_of(big[i], &v, err, sizeof err), -EINVAL);
		CHECK_EQ(v, 12345);
		if (strcmp(err, "option 'size': value too large") != 0)
			fprintf(stderr, "size '%s': error '%s'\n", big[i], err);
		CHECK(strcmp(err, "option 'size': value too large") == 0);
	}
	/* absent: the default; no error buffer: still an error code */
	struct vdev_args a;
	memset(&a, 0, sizeof a);
	CHECK_EQ(vdev_arg_size(&a, "size", 77, &v, err, sizeof err), 0);
	CHECK_EQ(v, 77);
	CHECK_EQ(vdev_arg_size(NULL, "size", 78, &v, err, sizeof err), 0);
	CHECK_EQ(v, 78);
	CHECK_EQ(size_of("zz", &v, NULL, 0), -EINVAL);
	CHECK_EQ(size_of("0x10000000000000000", &v, NULL, 0), -EINVAL);
	/* truncated error buffer stays terminated */
	char tiny[8];
	CHECK_EQ(size_of("zz", &v, tiny, sizeof tiny), -EINVAL);
	CHECK(strcmp(tiny, "option ") == 0);
}

static void test_arg_bool(void)
{
	static const char *const yes[] = { "", "on", "ON", "yes", "Yes", "1", "true", "TRUE" };
	static const char *const no[] = { "off", "Off", "no", "NO", "0", "false", "False" };
	static const char *const bad[] = { "maybe", "2", "onn", "y", "n", "t", " on", "00" };
	struct vdev_args a;
	char err[160];
	bool b;

	for (unsigned i = 0; i < RS_ARRAY_SIZE(yes); i++) {
		memset(&a, 0, sizeof a);
		set_arg(&a, "flag", yes[i]);
		b = false;
		CHECK_EQ(vdev_arg_bool(&a, "flag", false, &b, err, sizeof err), 0);
		CHECK(b);
		CHECK(a.kv[0].used);
	}
	for (unsigned i = 0; i < RS_ARRAY_SIZE(no); i++) {
		memset(&a, 0, sizeof a);
		set_arg(&a, "flag", no[i]);
		b = true;
		CHECK_EQ(vdev_arg_bool(&a, "flag", true, &b, err, sizeof err), 0);
		CHECK(!b);
	}
	for (unsigned i = 0; i < RS_ARRAY_SIZE(bad); i++) {
		char want[200];

		memset(&a, 0, sizeof a);
		set_arg(&a, "flag", bad[i]);
		b = true;
		CHECK_EQ(vdev_arg_bool(&a, "flag", true, &b, err, sizeof err), -EINVAL);
		CHECK(b);
		snprintf(want, sizeof want,
			 "option 'flag': expected on/off, yes/no, true/false or 1/0, got '%s'",
			 bad[i]);
		CHECK(strcmp(err, want) == 0);
	}
	memset(&a, 0, sizeof a);
	CHECK_EQ(vdev_arg_bool(&a, "flag", true, &b, err, sizeof err), 0);
	CHECK(b);
	CHECK_EQ(vdev_arg_bool(&a, "flag", false, &b, err, sizeof err), 0);
	CHECK(!b);
	set_arg(&a, "flag", "perhaps");
	CHECK_EQ(vdev_arg_bool(&a, "flag", false, &b, NULL, 0), -EINVAL);
}

int main(void)
{
	gm_init(&g_gm);
	if (gm_add_ram(&g_gm, 0, 1u << 20, NULL, "ram") != 0) {
		fprintf(stderr, "cannot set up guest RAM\n");
		return 1;
	}
	RUN(test_create_power_on);
	RUN(test_create_options);
	RUN(test_create_bad_models);
	RUN(test_bind_features);
	RUN(test_status_happy_modern);
	RUN(test_status_happy_legacy);
	RUN(test_status_illegal);
	RUN(test_feature_windows);
	RUN(test_config_reads);
	RUN(test_config_writes);
	RUN(test_generation_isr);
	RUN(test_msix_vectors);
	RUN(test_queue_size);
	RUN(test_queue_enable_modern);
	RUN(test_queue_pfn);
	RUN(test_notify_rules);
	RUN(test_queue_interrupt);
	RUN(test_needs_reset);
	RUN(test_reset_restores_power_on);
	RUN(test_snapshot_model_blob);
	RUN(test_arg_lookup);
	RUN(test_arg_size);
	RUN(test_arg_bool);
	gm_destroy(&g_gm);
	return check_done();
}
