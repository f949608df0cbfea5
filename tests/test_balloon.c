/*
 * ringside tests — the traditional virtio memory balloon "balloon"
 * (devices/balloon/balloon.c) through the reference driver over PCI modern,
 * PCI legacy, PCI transitional, MMIO v2 and MMIO v1: host target change ->
 * config interrupt -> the guest inflates PFNs whose pages it filled with a
 * pattern -> the pages read zero, actual and the device's count follow;
 * deflate; hostile PFN lists (outside RAM, in the MMIO hole, duplicates,
 * partial entries, writable buffers, more than the per-chain limit) with
 * diagnostics and a device that keeps working; the stats round trip; a
 * free page hinting round with stale command IDs; queue numbering by
 * negotiated features; poison_val; options; reset.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ringside/balloon.h"
#include "ringside/guest_machine.h"
#include "ringside/ringside.h"
#include "ringside/virtio.h"

#define F(b) VIRTIO_BIT(b)
#define F_BALLOON                                                                                 \
	(F(VIRTIO_BALLOON_F_MUST_TELL_HOST) | F(VIRTIO_BALLOON_F_STATS_VQ) |                      \
	 F(VIRTIO_BALLOON_F_DEFLATE_ON_OOM) | F(VIRTIO_BALLOON_F_FREE_PAGE_HINT) |                \
	 F(VIRTIO_BALLOON_F_PAGE_POISON))
#define F_ALL (~0ull)
#define DRV_MEM_BASE 0x100000ull
#define DRV_MEM_SIZE (3ull << 20)
#define SCRATCH_SIZE (128u << 10)
#define PAGES_BASE 0x400000ull /* pages the guest gives to the balloon: 4..12 MiB */
#define PFN(i) ((uint32_t)((PAGES_BASE >> 12) + (i)))
#define MEM_PFNS (16u << 8)     /* mem=16M */

/* ---- environment ---------------------------------------------------------------------------- */

struct env {
	struct machine *m;
	struct gdrv_io io;
	struct gdrv_mem mem;
	struct gdrv_dev *d;
	struct vdev *dev;
	uint64_t scratch, scratch_off; /* ring of buffer space for requests */
	uint64_t stats_buf;            /* the stats buffer (held by the device) */
	uint64_t token;
	uint64_t hash0;
};

static bool env_open(struct env *e, const char *spec, bool use_legacy)
{
	char err[256];
	struct machine_devinfo *di;

	memset(e, 0, sizeof *e);
	if (rs_machine_new(spec, &e->m, err, sizeof err) < 0) {
		fprintf(stderr, "rs_machine_new(%s): %s\n", spec, err);
		CHECK(!"machine");
		return false;
	}
	e->dev = e->m->devs[0];
	e->hash0 = vdev_state_hash(e->dev);
	di = &e->m->devinfo[0];
	gdrv_machine_io(&e->io, e->m);
	e->mem.next = DRV_MEM_BASE;
	e->mem.end = DRV_MEM_BASE + DRV_MEM_SIZE;
	e->d = calloc(1, sizeof *e->d);
	e->scratch = gdrv_alloc(&e->io, &e->mem, SCRATCH_SIZE, 4096);
	e->stats_buf = gdrv_alloc(&e->io, &e->mem, 4096, 4096);
	CHECK(e->scratch && e->stats_buf);
	if (di->transport == MSPEC_MMIO || di->transport == MSPEC_MMIO_LEGACY) {
		CHECK_EQ(gdrv_open_mmio(e->d, &e->io, &e->mem, di->base), 0);
	} else {
		struct gdrv_pci_info info[2];
		unsigned n = gdrv_pci_scan(&e->io, info, 2);

		CHECK_EQ(n, 1);
		if (n != 1)
			return false;
		/* virtio-v1.2 4.1.2.1: 0x1040 + 5 modern-only, 0x1002 otherwise */
		CHECK_EQ(info[0].device, di->transport == MSPEC_PCI_MODERN ? 0x1045 : 0x1002);
		CHECK_EQ(gdrv_open_pci(e->d, &e->io, &e->mem, &info[0], use_legacy), 0);
	}
	CHECK_EQ(e->d->device_id, VIRTIO_ID_BALLOON);
	return true;
}

static void env_close(struct env *e)
{
	rs_machine_free(e->m);
	free(e->d);
	memset(e, 0, sizeof *e);
}

/* Queue index of role under the negotiated features (-1: absent). */
static int qidx(struct env *e, enum balloon_queue role)
{
	return balloon_queue_index(e->d->features, role);
}

static struct gdrv_vq *vq_of(struct env *e, enum balloon_queue role)
{
	int q = qidx(e, role);

	return q < 0 ? NULL : &e->d->vq[q];
}

/* Copy data into scratch space; returns its gpa. */
static uint64_t put(struct env *e, const void *data, uint32_t len)
{
	uint64_t gpa;

	if (e->scratch_off + len > SCRATCH_SIZE)
		e->scratch_off = 0;
	gpa = e->scratch + e->scratch_off;
	e->scratch_off = (e->scratch_off + len + 15) & ~15ull;
	if (len)
		CHECK_EQ(gm_guest_write(&e->m->gm, gpa, data, len), 0);
	return gpa;
}

/* Submit bufs on queue vq, kick, and collect the completion (the device
 * works synchronously). Returns the used length, or -1 when nothing came. */
static int64_t xfer(struct env *e, struct gdrv_vq *vq, const struct gdrv_buf *bufs, unsigned nout,
		    unsigned nin)
{
	uint64_t tok = ++e->token, got;
	uint32_t len;

	CHECK_EQ(gdrv_submit(vq, bufs, nout, nin, tok, false), 0);
	gdrv_kick(vq);
	if (gdrv_get_used(vq, &got, &len) != 1)
		return -1;
	CHECK_EQ(got, tok);
	return len;
}

/* The stats buffer: entries (tag, val) into e->stats_buf, submitted. */
static void stats_submit(struct env *e, const uint16_t *tags, const uint64_t *vals, unsigned n,
			 uint32_t len_override, bool kick)
{
	uint8_t b[BALLOON_STAT_SIZE * 16];
	struct gdrv_buf buf;

	for (unsigned i = 0; i < n; i++) {
		rs_st16(b + i * BALLOON_STAT_SIZE, tags[i]);
		rs_st64(b + i * BALLOON_STAT_SIZE + 2, vals[i]);
	}
	CHECK_EQ(gm_guest_write(&e->m->gm, e->stats_buf, b, n * BALLOON_STAT_SIZE), 0);
	buf.gpa = e->stats_buf;
	buf.len = len_override ? len_override : n * BALLOON_STAT_SIZE;
	CHECK_EQ(gdrv_submit(vq_of(e, BALLOON_VQ_STATS), &buf, 1, 0, ++e->token, false), 0);
	if (kick)
		gdrv_kick(vq_of(e, BALLOON_VQ_STATS));
}

/*
 * The driver's start-up (virtio-v1.2 5.5.5): features, the queues of the
 * negotiated features, with STATS_VQ one buffer in the statsq (given
 * before DRIVER_OK, notified after), poison_val before DRIVER_OK.
 */
static void env_up(struct env *e, uint64_t want)
{
	static const uint16_t tags[] = { VIRTIO_BALLOON_S_MEMFREE, VIRTIO_BALLOON_S_MEMTOT };
	static const uint64_t vals[] = { 1000, 2000 };

	CHECK_EQ(gdrv_init(e->d, want), 0);
	for (int role = BALLOON_VQ_INFLATE; role <= BALLOON_VQ_FREE_PAGE; role++) {
		int q = qidx(e, (enum balloon_queue)role);

		if (q >= 0)
			CHECK_EQ(gdrv_setup_vq(e->d, (unsigned)q, 64), 0);
	}
	if (qidx(e, BALLOON_VQ_STATS) >= 0)
		stats_submit(e, tags, vals, 2, 0, false);
	if (e->d->features & F(VIRTIO_BALLOON_F_PAGE_POISON))
		gdrv_config_write(e->d, BALLOON_CFG_POISON_VAL, 4, 0xaa);
	gdrv_driver_ok(e->d);
	CHECK(gdrv_get_status(e->d) & VIRTIO_STATUS_DRIVER_OK);
	if (qidx(e, BALLOON_VQ_STATS) >= 0)
		gdrv_kick(vq_of(e, BALLOON_VQ_STATS));
}

static void host(struct env *e, enum world_event_kind kind, uint64_t arg)
{
	struct world_event ev = { .kind = kind, .dev = 0, .arg = arg };

	CHECK_EQ(world_post(e->m->world, &ev), 0);
	CHECK_EQ(rs_machine_poll_events(e->m, 8), 1);
}

static struct balloon_status status(struct env *e)
{
	struct balloon_status st;

	CHECK_EQ(balloon_status(e->dev, &st), 0);
	return st;
}

static unsigned diags(struct env *e, enum diag_code c)
{
	return diag_count(&e->dev->log, c);
}

/* Fill page pfn with a pattern (the guest uses it). */
static void fill_page(struct env *e, uint32_t pfn, uint8_t v)
{
	uint8_t b[4096];

	memset(b, v, sizeof b);
	CHECK_EQ(gm_guest_write(&e->m->gm, (uint64_t)pfn << 12, b, sizeof b), 0);
}

/* True when every byte of page pfn is v. */
static bool page_is(struct env *e, uint32_t pfn, uint8_t v)
{
	uint8_t b[4096];

	CHECK_EQ(gm_guest_read(&e->m->gm, (uint64_t)pfn << 12, b, sizeof b), 0);
	for (unsigned i = 0; i < sizeof b; i++)
		if (b[i] != v)
			return false;
	return true;
}

/* Send a PFN array (n entries, len bytes of it: 0 means n * 4) on role. */
static int64_t send_pfns(struct env *e, enum balloon_queue role, const uint32_t *pfns, unsigned n,
			 uint32_t len)
{
	uint8_t *b = malloc((size_t)n * 4 + 4);
	struct gdrv_buf buf;
	int64_t r;

	for (unsigned i = 0; i < n; i++)
		rs_st32(b + 4 * i, pfns[i]);
	buf.len = len ? len : n * 4;
	buf.gpa = put(e, b, buf.len);
	r = xfer(e, vq_of(e, role), &buf, 1, 0);
	free(b);
	return r;
}

/* PFN(first) .. PFN(first + n - 1). */
static int64_t send_range(struct env *e, enum balloon_queue role, unsigned first, unsigned n)
{
	uint32_t *p = malloc(n * sizeof *p);
	int64_t r;

	for (unsigned i = 0; i < n; i++)
		p[i] = PFN(first + i);
	r = send_pfns(e, role, p, n, 0);
	free(p);
	return r;
}

/* ---- tests ---------------------------------------------------------------------------------- */

/* Target -> config interrupt -> inflate -> pages zero, actual -> deflate,
 * over each transport. */
static void test_inflate_deflate_transports(void)
{
	static const struct {
		const char *spec;
		bool legacy;
	} cases[] = {
		{ "mem=16M pci-modern:balloon", false },
		{ "mem=16M pci-legacy:balloon", true },
		{ "mem=16M pci:balloon", false },
		{ "mem=16M pci:balloon", true },
		{ "mem=16M mmio:balloon", false },
		{ "mem=16M mmio-legacy:balloon", true },
		{ "mem=16M pci-modern:balloon,msix=on", false },
	};

	for (unsigned i = 0; i < RS_ARRAY_SIZE(cases); i++) {
		struct env e;
		struct balloon_status st;
		uint32_t gen, target;

		if (!env_open(&e, cases[i].spec, cases[i].legacy))
			continue;
		CHECK_EQ(gdrv_device_features(e.d) & 0xffffff, F_BALLOON);
		env_up(&e, F_ALL);
		CHECK_EQ(e.d->features & F_BALLOON, F_BALLOON);
		CHECK_EQ(!!(e.d->features & F(VIRTIO_F_VERSION_1)), !cases[i].legacy);
		for (unsigned p = 0; p < 32; p++)
			fill_page(&e, PFN(p), (uint8_t)(0x10 + p));

		gen = gdrv_config_generation(&*e.d);
		host(&e, WEV_BALLOON_TARGET, 24);
		if (!e.d->msix)
			CHECK_EQ(gdrv_ack_isr(e.d) & VIRTIO_ISR_CONFIG, VIRTIO_ISR_CONFIG);
		else
			CHECK(e.m->msi_count > 0);
		if (!cases[i].legacy)
			CHECK(gdrv_config_generation(e.d) != gen);
		target = (uint32_t)gdrv_config_read(e.d, BALLOON_CFG_NUM_PAGES, 4);
		CHECK_EQ(target, 24);

		/* the guest inflates in two arrays, then tells the host */
		CHECK_EQ(send_range(&e, BALLOON_VQ_INFLATE, 0, 16), 0);
		CHECK_EQ(send_range(&e, BALLOON_VQ_INFLATE, 16, target - 16), 0);
		gdrv_config_write(e.d, BALLOON_CFG_ACTUAL, 4, target);
		st = status(&e);
		CHECK_EQ(st.inflated, 24);
		CHECK_EQ(st.pages_inflated, 24);
		CHECK_EQ(st.actual, 24);
		CHECK_EQ(gdrv_config_read(e.d, BALLOON_CFG_ACTUAL, 4), 24);
		for (unsigned p = 0; p < 32; p++) {
			CHECK_EQ(page_is(&e, PFN(p), p < 24 ? 0 : (uint8_t)(0x10 + p)), true);
			CHECK_EQ(balloon_page_inflated(e.dev, PFN(p)), p < 24);
		}

		/* the host wants 8 back: deflate 16, the pages are the guest's again */
		host(&e, WEV_BALLOON_TARGET, 8);
		CHECK_EQ(gdrv_config_read(e.d, BALLOON_CFG_NUM_PAGES, 4), 8);
		CHECK_EQ(send_range(&e, BALLOON_VQ_DEFLATE, 8, 16), 0);
		gdrv_config_write(e.d, BALLOON_CFG_ACTUAL, 4, 8);
		st = status(&e);
		CHECK_EQ(st.inflated, 8);
		CHECK_EQ(st.pages_deflated, 16);
		CHECK_EQ(st.actual, 8);
		fill_page(&e, PFN(10), 0x77);
		CHECK(page_is(&e, PFN(10), 0x77));
		CHECK(!balloon_page_inflated(e.dev, PFN(10)));
		CHECK(balloon_page_inflated(e.dev, PFN(7)));
		/* and can be inflated again */
		CHECK_EQ(send_range(&e, BALLOON_VQ_INFLATE, 10, 1), 0);
		CHECK(page_is(&e, PFN(10), 0));
		CHECK_EQ(e.dev->log.total, 0);
		env_close(&e);
	}
}

/* Hostile PFN lists: each reported, the bad entries skipped, the good ones
 * taken, and the next well-formed request works. */
static void test_malformed_pfns(void)
{
	struct env e;
	struct balloon_status st;
	struct gdrv_buf bufs[2];
	uint32_t pfns[8];
	uint8_t raw[16];

	if (!env_open(&e, "mem=16M pci-modern:balloon", false))
		return;
	env_up(&e, F_ALL);

	/* outside RAM (past 16M, above 4 GiB, the MMIO window, 2^32-1) */
	pfns[0] = MEM_PFNS;
	pfns[1] = PFN(0);
	pfns[2] = 0x100000;
	pfns[3] = 0xd0000;     /* 0xd0000000: virtio-mmio window */
	pfns[4] = 0xffffffffu;
	pfns[5] = PFN(1);
	fill_page(&e, PFN(0), 0x55);
	CHECK_EQ(send_pfns(&e, BALLOON_VQ_INFLATE, pfns, 6, 0), 0);
	CHECK_EQ(diags(&e, DIAG_BALLOON_PFN), 1); /* once per chain and kind */
	st = status(&e);
	CHECK_EQ(st.inflated, 2);
	CHECK_EQ(st.bad_entries, 4);
	CHECK(page_is(&e, PFN(0), 0));

	/* duplicates: inside one array and of pages already inflated */
	pfns[0] = PFN(2);
	pfns[1] = PFN(2);
	pfns[2] = PFN(0);
	pfns[3] = PFN(3);
	CHECK_EQ(send_pfns(&e, BALLOON_VQ_INFLATE, pfns, 4, 0), 0);
	CHECK_EQ(diags(&e, DIAG_BALLOON_PFN), 2);
	st = status(&e);
	CHECK_EQ(st.inflated, 4);
	CHECK_EQ(st.bad_entries, 6);

	/* deflating pages that are not in the balloon */
	pfns[0] = PFN(3);
	pfns[1] = PFN(3);
	pfns[2] = PFN(30);
	CHECK_EQ(send_pfns(&e, BALLOON_VQ_DEFLATE, pfns, 3, 0), 0);
	CHECK_EQ(diags(&e, DIAG_BALLOON_PFN), 3);
	CHECK_EQ(status(&e).inflated, 3);
	CHECK(!balloon_page_inflated(e.dev, PFN(3)));

	/* a partial trailing entry: 2 whole PFNs and 2 bytes */
	pfns[0] = PFN(4);
	pfns[1] = PFN(5);
	pfns[2] = PFN(6);
	CHECK_EQ(send_pfns(&e, BALLOON_VQ_INFLATE, pfns, 3, 10), 0);
	CHECK_EQ(diags(&e, DIAG_BALLOON_PFN), 4);
	CHECK(balloon_page_inflated(e.dev, PFN(5)));
	CHECK(!balloon_page_inflated(e.dev, PFN(6)));
	/* only 3 bytes: no whole entry at all */
	CHECK_EQ(send_pfns(&e, BALLOON_VQ_INFLATE, pfns, 1, 3), 0);
	CHECK_EQ(diags(&e, DIAG_BALLOON_PFN), 5);

	/* the wrong direction: a device-writable PFN array is not read */
	rs_st32(raw, PFN(7));
	bufs[0].gpa = put(&e, raw, 4);
	bufs[0].len = 4;
	CHECK_EQ(xfer(&e, vq_of(&e, BALLOON_VQ_INFLATE), bufs, 0, 1), 0);
	CHECK_EQ(diags(&e, DIAG_BALLOON_PFN), 6);
	CHECK(!balloon_page_inflated(e.dev, PFN(7)));
	/* readable + writable: the readable part counts */
	bufs[1].gpa = put(&e, raw, 8);
	bufs[1].len = 8;
	CHECK_EQ(xfer(&e, vq_of(&e, BALLOON_VQ_INFLATE), bufs, 1, 1), 0);
	CHECK_EQ(diags(&e, DIAG_BALLOON_PFN), 7);
	CHECK(balloon_page_inflated(e.dev, PFN(7)));

	/* an array split over two readable descriptors is one array */
	rs_st32(raw, PFN(8));
	rs_st32(raw + 4, PFN(9));
	bufs[0].gpa = put(&e, raw, 6);
	bufs[0].len = 6;
	bufs[1].gpa = put(&e, raw + 6, 2);
	bufs[1].len = 2;
	CHECK_EQ(xfer(&e, vq_of(&e, BALLOON_VQ_INFLATE), bufs, 2, 0), 0);
	CHECK(balloon_page_inflated(e.dev, PFN(8)));
	CHECK(balloon_page_inflated(e.dev, PFN(9)));
	CHECK_EQ(diags(&e, DIAG_BALLOON_PFN), 7);

	/* still serving */
	CHECK_EQ(send_range(&e, BALLOON_VQ_INFLATE, 20, 4), 0);
	CHECK(balloon_page_inflated(e.dev, PFN(23)));
	CHECK_EQ(vdev_get_status(e.dev) & VIRTIO_STATUS_NEEDS_RESET, 0);
	env_close(&e);
}

/* A huge array: only BALLOON_MAX_PFNS entries are taken, quickly. */
static void test_huge_array(void)
{
	struct env e;
	unsigned n = BALLOON_MAX_PFNS + 1000;
	uint32_t *p;
	struct gdrv_buf buf;
	uint8_t *b;

	if (!env_open(&e, "mem=64M pci-legacy:balloon", true))
		return;
	env_up(&e, F_ALL);
	p = malloc(n * sizeof *p);
	b = malloc((size_t)n * 4);
	for (unsigned i = 0; i < n; i++) {
		p[i] = PFN(i);
		rs_st32(b + 4 * i, p[i]);
	}
	/* 20 KiB array in its own place (scratch is 128 KiB) */
	buf.gpa = 0x3000000; /* 48 MiB, free RAM */
	buf.len = n * 4;
	CHECK_EQ(gm_guest_write(&e.m->gm, buf.gpa, b, buf.len), 0);
	CHECK_EQ(xfer(&e, vq_of(&e, BALLOON_VQ_INFLATE), &buf, 1, 0), 0);
	CHECK_EQ(diags(&e, DIAG_BALLOON_PFN), 1);
	CHECK_EQ(status(&e).inflated, BALLOON_MAX_PFNS);
	CHECK_EQ(status(&e).bad_entries, 1000);
	CHECK(balloon_page_inflated(e.dev, PFN(BALLOON_MAX_PFNS - 1)));
	CHECK(!balloon_page_inflated(e.dev, PFN(BALLOON_MAX_PFNS)));
	/* a descriptor covering 32 MiB of RAM (8M PFN entries): capped too */
	buf.gpa = 0x2000000;
	buf.len = 32u << 20;
	CHECK_EQ(xfer(&e, vq_of(&e, BALLOON_VQ_DEFLATE), &buf, 1, 0), 0);
	CHECK_EQ(diags(&e, DIAG_BALLOON_PFN), 3); /* too many + not inflated */
	CHECK_EQ(send_range(&e, BALLOON_VQ_DEFLATE, 0, 4), 0);
	CHECK_EQ(status(&e).inflated, BALLOON_MAX_PFNS - 4);
	free(p);
	free(b);
	env_close(&e);
}

/* Stats: the first buffer (modern: taken; legacy: ignored), a host request
 * returns it, the refilled one is consumed; malformed buffers. */
static void test_stats(void)
{
	static const uint16_t tags[] = { VIRTIO_BALLOON_S_MEMFREE, VIRTIO_BALLOON_S_AVAIL, 99,
					 VIRTIO_BALLOON_S_DIRECT_RECLAIM };
	static const uint64_t vals[] = { 1500, 0x1122334455667788ull, 5, 7 };
	static const bool legacy[] = { false, true };

	for (unsigned k = 0; k < 2; k++) {
		struct env e;
		struct balloon_status st;
		struct gdrv_vq *vq;
		uint64_t v, tok;
		uint32_t len;

		if (!env_open(&e, legacy[k] ? "mem=16M pci-legacy:balloon" : "mem=16M mmio:balloon",
			      legacy[k]))
			continue;
		env_up(&e, F_ALL);
		vq = vq_of(&e, BALLOON_VQ_STATS);
		CHECK_EQ(qidx(&e, BALLOON_VQ_STATS), 2);
		st = status(&e);
		CHECK(st.stats_held);
		if (legacy[k]) {
			/* 5.5.6.3.3: the first buffer's values are ignored */
			CHECK_EQ(balloon_stat(e.dev, VIRTIO_BALLOON_S_MEMFREE, &v), -ENOENT);
			CHECK_EQ(st.stats_updates, 0);
		} else {
			CHECK_EQ(balloon_stat(e.dev, VIRTIO_BALLOON_S_MEMFREE, &v), 0);
			CHECK_EQ(v, 1000);
			CHECK_EQ(balloon_stat(e.dev, VIRTIO_BALLOON_S_MEMTOT, &v), 0);
			CHECK_EQ(v, 2000);
			CHECK_EQ(st.stats_updates, 1);
		}
		CHECK_EQ(gdrv_get_used(vq, &tok, &len), 0); /* held, not returned */

		/* the host asks: the buffer comes back, the guest refills it */
		host(&e, WEV_HOST, BALLOON_HOST_STATS_REQUEST);
		CHECK_EQ(gdrv_get_used(vq, &tok, &len), 1);
		CHECK_EQ(len, 0);
		CHECK_EQ(status(&e).stats_requests, 1);
		CHECK(!status(&e).stats_held);
		host(&e, WEV_HOST, BALLOON_HOST_STATS_REQUEST); /* nothing held */
		CHECK_EQ(status(&e).stats_missed, 1);
		stats_submit(&e, tags, vals, 4, 0, true);
		CHECK_EQ(balloon_stat(e.dev, VIRTIO_BALLOON_S_MEMFREE, &v), 0);
		CHECK_EQ(v, 1500);
		CHECK_EQ(balloon_stat(e.dev, VIRTIO_BALLOON_S_AVAIL, &v), 0);
		CHECK_EQ(v, 0x1122334455667788ull);
		CHECK_EQ(balloon_stat(e.dev, VIRTIO_BALLOON_S_DIRECT_RECLAIM, &v), 0);
		CHECK_EQ(v, 7);
		CHECK_EQ(balloon_stat(e.dev, VIRTIO_BALLOON_S_SWAP_IN, &v), -ENOENT);
		CHECK_EQ(balloon_stat(e.dev, 99, &v), -EINVAL); /* unknown tag ignored */
		CHECK_EQ(e.dev->log.total, 0);

		/* a second buffer while one is held: reported, the older returned */
		stats_submit(&e, tags, vals, 1, 0, true);
		CHECK_EQ(diags(&e, DIAG_BALLOON_STATS), 1);
		CHECK_EQ(gdrv_get_used(vq, &tok, &len), 1);
		CHECK(status(&e).stats_held);
		/* a partial entry and a writable buffer (after a request) */
		host(&e, WEV_HOST, BALLOON_HOST_STATS_REQUEST);
		CHECK_EQ(gdrv_get_used(vq, &tok, &len), 1);
		stats_submit(&e, tags, vals, 2, 15, true);
		CHECK_EQ(diags(&e, DIAG_BALLOON_STATS), 2);
		CHECK_EQ(balloon_stat(e.dev, VIRTIO_BALLOON_S_MEMFREE, &v), 0);
		CHECK_EQ(v, 1500);
		host(&e, WEV_HOST, BALLOON_HOST_STATS_REQUEST);
		CHECK_EQ(gdrv_get_used(vq, &tok, &len), 1);
		{
			struct gdrv_buf wb = { e.stats_buf, 20 };

			CHECK_EQ(gdrv_submit(vq, &wb, 0, 1, ++e.token, false), 0);
			gdrv_kick(vq);
		}
		CHECK_EQ(diags(&e, DIAG_BALLOON_STATS), 3);
		/* more than BALLOON_MAX_STATS entries */
		host(&e, WEV_HOST, BALLOON_HOST_STATS_REQUEST);
		CHECK_EQ(gdrv_get_used(vq, &tok, &len), 1);
		stats_submit(&e, tags, vals, 1, (BALLOON_MAX_STATS + 1) * BALLOON_STAT_SIZE, true);
		CHECK_EQ(diags(&e, DIAG_BALLOON_STATS), 4);
		CHECK_EQ(balloon_stat(e.dev, VIRTIO_BALLOON_S_MEMFREE, &v), 0);
		CHECK_EQ(v, 1500);
		CHECK_EQ(vdev_get_status(e.dev) & VIRTIO_STATUS_NEEDS_RESET, 0);
		env_close(&e);
	}
}

/* Send one command ID buffer on the free page queue. */
static void hint_id(struct env *e, uint32_t id, uint32_t len)
{
	uint8_t b[8] = { 0 };
	struct gdrv_buf buf;

	rs_st32(b, id);
	buf.gpa = put(e, b, sizeof b);
	buf.len = len;
	CHECK_EQ(xfer(e, vq_of(e, BALLOON_VQ_FREE_PAGE), &buf, 1, 0), 0);
}

/* Hint [gpa, gpa+len) as one device-writable buffer. */
static void hint_pages(struct env *e, uint64_t gpa, uint32_t len)
{
	struct gdrv_buf buf = { gpa, len };

	CHECK_EQ(xfer(e, vq_of(e, BALLOON_VQ_FREE_PAGE), &buf, 0, 1), 0);
}

/* A free page hinting round (virtio-v1.2 5.5.6.4), with the free page
 * queue at index 2 (no STATS_VQ), stale IDs, STOP and DONE. */
static void test_free_page_hint(void)
{
	struct env e;
	struct balloon_status st;
	uint32_t id;

	if (!env_open(&e, "mem=16M pci-modern:balloon", false))
		return;
	env_up(&e, F_ALL & ~F(VIRTIO_BALLOON_F_STATS_VQ));
	CHECK_EQ(qidx(&e, BALLOON_VQ_FREE_PAGE), 2);
	CHECK_EQ(gdrv_config_read(e.d, BALLOON_CFG_HINT_CMD_ID, 4), VIRTIO_BALLOON_CMD_ID_STOP);
	for (unsigned p = 0; p < 8; p++)
		fill_page(&e, PFN(p), 0xc3);

	/* pages hinted before any round are ignored */
	hint_pages(&e, (uint64_t)PFN(0) << 12, 4096);
	CHECK(page_is(&e, PFN(0), 0xc3));
	CHECK_EQ(status(&e).hint_ignored, 1);

	host(&e, WEV_HOST, BALLOON_HOST_HINT_START);
	CHECK_EQ(gdrv_ack_isr(e.d) & VIRTIO_ISR_CONFIG, VIRTIO_ISR_CONFIG);
	id = (uint32_t)gdrv_config_read(e.d, BALLOON_CFG_HINT_CMD_ID, 4);
	CHECK_EQ(id, BALLOON_HINT_FIRST_ID);
	hint_id(&e, id, 4);
	hint_pages(&e, (uint64_t)PFN(0) << 12, 2 * 4096);
	hint_pages(&e, (uint64_t)PFN(4) << 12, 4096);
	CHECK(page_is(&e, PFN(0), 0));
	CHECK(page_is(&e, PFN(1), 0));
	CHECK(page_is(&e, PFN(2), 0xc3));
	CHECK(page_is(&e, PFN(4), 0));
	st = status(&e);
	CHECK_EQ(st.hinted_pages, 3);
	CHECK_EQ(st.hint_driver_id, id);
	CHECK_EQ(st.inflated, 0); /* hinted pages are not in the balloon */
	/* a range not page aligned: only its whole page is taken */
	hint_pages(&e, ((uint64_t)PFN(5) << 12) + 100, 2 * 4096);
	CHECK_EQ(diags(&e, DIAG_BALLOON_HINT), 1);
	CHECK(page_is(&e, PFN(5), 0xc3));
	CHECK(page_is(&e, PFN(6), 0));
	CHECK(page_is(&e, PFN(7), 0xc3));
	CHECK_EQ(status(&e).hinted_pages, 4);
	/* less than a page: reported, nothing taken */
	hint_pages(&e, ((uint64_t)PFN(7) << 12) + 100, 100);
	CHECK_EQ(diags(&e, DIAG_BALLOON_HINT), 2);
	CHECK(page_is(&e, PFN(7), 0xc3));
	CHECK_EQ(status(&e).hinted_pages, 4);
	/* the driver runs out of pages: STOP */
	hint_id(&e, VIRTIO_BALLOON_CMD_ID_STOP, 4);
	CHECK_EQ(status(&e).hint_driver_id, VIRTIO_BALLOON_CMD_ID_STOP);
	fill_page(&e, PFN(0), 0xc3);
	hint_pages(&e, (uint64_t)PFN(0) << 12, 4096);
	CHECK(page_is(&e, PFN(0), 0xc3));

	/* a new round: a new ID; pages under the old one are ignored */
	host(&e, WEV_HOST, BALLOON_HOST_HINT_START);
	CHECK_EQ(gdrv_config_read(e.d, BALLOON_CFG_HINT_CMD_ID, 4), id + 1);
	hint_id(&e, id, 4);
	hint_pages(&e, (uint64_t)PFN(0) << 12, 4096);
	CHECK(page_is(&e, PFN(0), 0xc3));
	hint_id(&e, id + 1, 4);
	hint_pages(&e, (uint64_t)PFN(0) << 12, 4096);
	CHECK(page_is(&e, PFN(0), 0));
	/* command ID buffers of the wrong size */
	hint_id(&e, id + 1, 8); /* reported, the first 4 bytes taken */
	CHECK_EQ(diags(&e, DIAG_BALLOON_HINT), 3);
	CHECK_EQ(status(&e).hint_driver_id, id + 1);
	hint_id(&e, VIRTIO_BALLOON_CMD_ID_STOP, 2); /* reported, ignored */
	CHECK_EQ(diags(&e, DIAG_BALLOON_HINT), 4);
	CHECK_EQ(status(&e).hint_driver_id, id + 1);
	/* command ID and pages in one chain */
	{
		uint8_t b[4];
		struct gdrv_buf bufs[2];

		fill_page(&e, PFN(1), 0xc3);
		rs_st32(b, id + 1);
		bufs[0].gpa = put(&e, b, 4);
		bufs[0].len = 4;
		bufs[1].gpa = (uint64_t)PFN(1) << 12;
		bufs[1].len = 4096;
		CHECK_EQ(xfer(&e, vq_of(&e, BALLOON_VQ_FREE_PAGE), bufs, 1, 1), 0);
		CHECK(page_is(&e, PFN(1), 0));
	}
	/* the host ends the round: STOP, then DONE */
	host(&e, WEV_HOST, BALLOON_HOST_HINT_STOP);
	CHECK_EQ(gdrv_config_read(e.d, BALLOON_CFG_HINT_CMD_ID, 4), VIRTIO_BALLOON_CMD_ID_STOP);
	fill_page(&e, PFN(1), 0xc3);
	hint_pages(&e, (uint64_t)PFN(1) << 12, 4096);
	CHECK(page_is(&e, PFN(1), 0xc3));
	host(&e, WEV_HOST, BALLOON_HOST_HINT_DONE);
	CHECK_EQ(gdrv_config_read(e.d, BALLOON_CFG_HINT_CMD_ID, 4), VIRTIO_BALLOON_CMD_ID_DONE);
	gdrv_ack_isr(e.d);
	host(&e, WEV_HOST, BALLOON_HOST_HINT_DONE); /* unchanged: no interrupt */
	CHECK_EQ(gdrv_ack_isr(e.d), 0);
	CHECK_EQ(vdev_get_status(e.dev) & VIRTIO_STATUS_NEEDS_RESET, 0);
	env_close(&e);
}

/* Hinting without FREE_PAGE_HINT negotiated does nothing; with
 * discard_hints=off the pages are counted, not discarded. */
static void test_hint_options(void)
{
	struct env e;

	if (!env_open(&e, "mem=16M pci-modern:balloon", false))
		return;
	env_up(&e, F_ALL & ~F(VIRTIO_BALLOON_F_FREE_PAGE_HINT));
	host(&e, WEV_HOST, BALLOON_HOST_HINT_START);
	host(&e, WEV_HOST, BALLOON_HOST_HINT_DONE);
	host(&e, WEV_HOST, BALLOON_HOST_HINT_STOP);
	host(&e, WEV_HOST, 77); /* not an arg */
	CHECK_EQ(gdrv_config_read(e.d, BALLOON_CFG_HINT_CMD_ID, 4), 0);
	CHECK_EQ(gdrv_ack_isr(e.d), 0);
	env_close(&e);

	if (!env_open(&e, "mem=16M pci-modern:balloon,discard_hints=off", false))
		return;
	env_up(&e, F_ALL);
	fill_page(&e, PFN(0), 0x99);
	host(&e, WEV_HOST, BALLOON_HOST_HINT_START);
	hint_id(&e, BALLOON_HINT_FIRST_ID, 4);
	hint_pages(&e, (uint64_t)PFN(0) << 12, 4096);
	CHECK(page_is(&e, PFN(0), 0x99));
	CHECK_EQ(status(&e).hinted_pages, 1);
	env_close(&e);
}

/* Queue roles follow the negotiated features; a queue with no role has its
 * chains returned with a report. */
static void test_queue_roles(void)
{
	struct env e;
	uint8_t raw[4];
	struct gdrv_buf buf;

	CHECK_EQ(balloon_queue_index(0, BALLOON_VQ_INFLATE), 0);
	CHECK_EQ(balloon_queue_index(0, BALLOON_VQ_DEFLATE), 1);
	CHECK_EQ(balloon_queue_index(0, BALLOON_VQ_STATS), -1);
	CHECK_EQ(balloon_queue_index(0, BALLOON_VQ_FREE_PAGE), -1);
	CHECK_EQ(balloon_queue_index(F(VIRTIO_BALLOON_F_STATS_VQ), BALLOON_VQ_STATS), 2);
	CHECK_EQ(balloon_queue_index(F(VIRTIO_BALLOON_F_FREE_PAGE_HINT), BALLOON_VQ_FREE_PAGE), 2);
	CHECK_EQ(balloon_queue_index(F_BALLOON, BALLOON_VQ_FREE_PAGE), 3);
	CHECK_EQ(balloon_queue_index(F_BALLOON, (enum balloon_queue)7), -1);

	if (!env_open(&e, "mem=16M pci-modern:balloon", false))
		return;
	CHECK_EQ(gdrv_init(e.d, F(VIRTIO_BALLOON_F_MUST_TELL_HOST)), 0);
	CHECK_EQ(gdrv_setup_vq(e.d, 0, 8), 0);
	CHECK_EQ(gdrv_setup_vq(e.d, 1, 8), 0);
	CHECK_EQ(gdrv_setup_vq(e.d, 3, 8), 0);
	gdrv_driver_ok(e.d);
	rs_st32(raw, PFN(0));
	buf.gpa = put(&e, raw, 4);
	buf.len = 4;
	CHECK_EQ(xfer(&e, &e.d->vq[3], &buf, 1, 0), 0);
	CHECK_EQ(diags(&e, DIAG_QUEUE_SELECT), 1);
	CHECK(!balloon_page_inflated(e.dev, PFN(0)));
	CHECK_EQ(send_range(&e, BALLOON_VQ_INFLATE, 0, 1), 0);
	CHECK(balloon_page_inflated(e.dev, PFN(0)));
	/* no statsq: a stats request is missed */
	host(&e, WEV_HOST, BALLOON_HOST_STATS_REQUEST);
	CHECK_EQ(status(&e).stats_missed, 1);
	env_close(&e);
}

/* Config space: field widths and who may write what; poison_val. */
static void test_config(void)
{
	struct env e;

	if (!env_open(&e, "mem=16M pci-modern:balloon,target=7", false))
		return;
	CHECK_EQ(gdrv_config_read(e.d, BALLOON_CFG_NUM_PAGES, 4), 7);
	env_up(&e, F_ALL);
	CHECK_EQ(status(&e).poison_val, 0xaa); /* written before DRIVER_OK */
	CHECK_EQ(gdrv_config_read(e.d, BALLOON_CFG_POISON_VAL, 4), 0xaa);
	gdrv_config_write(e.d, BALLOON_CFG_POISON_VAL, 4, 0x55);
	CHECK_EQ(diags(&e, DIAG_CONFIG_READONLY), 1);
	CHECK_EQ(gdrv_config_read(e.d, BALLOON_CFG_POISON_VAL, 4), 0xaa);
	gdrv_config_write(e.d, BALLOON_CFG_NUM_PAGES, 4, 99);
	gdrv_config_write(e.d, BALLOON_CFG_HINT_CMD_ID, 4, 99);
	CHECK_EQ(diags(&e, DIAG_CONFIG_READONLY), 3);
	CHECK_EQ(gdrv_config_read(e.d, BALLOON_CFG_NUM_PAGES, 4), 7);
	CHECK_EQ(gdrv_config_read(e.d, BALLOON_CFG_HINT_CMD_ID, 4), 0);
	/* a 2-byte read is a width violation, still served */
	CHECK_EQ(gdrv_config_read(e.d, BALLOON_CFG_NUM_PAGES, 2), 7);
	CHECK_EQ(diags(&e, DIAG_CONFIG_WIDTH), 1);
	/* the target is clipped to 32 bits; the same target raises nothing */
	host(&e, WEV_BALLOON_TARGET, 1ull << 40);
	CHECK_EQ(gdrv_config_read(e.d, BALLOON_CFG_NUM_PAGES, 4), 0xffffffffu);
	gdrv_ack_isr(e.d);
	host(&e, WEV_BALLOON_TARGET, 0xffffffffu);
	CHECK_EQ(gdrv_ack_isr(e.d), 0);
	host(&e, WEV_VMMCI, 1); /* not for a balloon */
	CHECK_EQ(gdrv_config_read(e.d, BALLOON_CFG_NUM_PAGES, 4), 0xffffffffu);
	env_close(&e);

	/* legacy drivers historically write actual byte by byte (5.5.6.2.1) */
	if (!env_open(&e, "mem=16M pci-legacy:balloon", true))
		return;
	env_up(&e, F_ALL);
	for (unsigned i = 0; i < 4; i++)
		gdrv_config_write(e.d, BALLOON_CFG_ACTUAL + i, 1, (0x04030201u >> (8 * i)) & 0xff);
	CHECK_EQ(status(&e).actual, 0x04030201u);
	CHECK_EQ(gdrv_config_read(e.d, BALLOON_CFG_ACTUAL, 4), 0x04030201u);
	env_close(&e);
}

/* Reset: the balloon empties, stats and hinting return to power-on, the
 * held stats buffer is dropped; num_pages (the host's) stays. */
static void test_reset(void)
{
	struct env e;
	struct balloon_status st;
	uint64_t v;

	if (!env_open(&e, "mem=16M pci:balloon,target=9", false))
		return;
	env_up(&e, F_ALL);
	CHECK_EQ(send_range(&e, BALLOON_VQ_INFLATE, 0, 9), 0);
	gdrv_config_write(e.d, BALLOON_CFG_ACTUAL, 4, 9);
	host(&e, WEV_HOST, BALLOON_HOST_HINT_START);
	CHECK(status(&e).stats_held);
	gdrv_reset(e.d);
	st = status(&e);
	CHECK_EQ(st.inflated, 0);
	CHECK_EQ(st.actual, 0);
	CHECK_EQ(st.poison_val, 0);
	CHECK_EQ(st.hint_cmd_id, 0);
	CHECK_EQ(st.num_pages, 9);
	CHECK(!st.stats_held);
	CHECK_EQ(balloon_stat(e.dev, VIRTIO_BALLOON_S_MEMFREE, &v), -ENOENT);
	CHECK(!balloon_page_inflated(e.dev, PFN(0)));
	CHECK_EQ(vdev_state_hash(e.dev), e.hash0);
	/* and everything works again */
	env_up(&e, F_ALL);
	CHECK_EQ(send_range(&e, BALLOON_VQ_INFLATE, 0, 9), 0);
	CHECK_EQ(status(&e).inflated, 9);
	host(&e, WEV_HOST, BALLOON_HOST_HINT_START);
	CHECK_EQ(gdrv_config_read(e.d, BALLOON_CFG_HINT_CMD_ID, 4), BALLOON_HINT_FIRST_ID);
	/* a reset with a held stats buffer and nothing inflated */
	gdrv_reset(e.d);
	env_up(&e, F_ALL);
	gdrv_reset(e.d);
	CHECK_EQ(vdev_state_hash(e.dev), e.hash0);
	env_close(&e);
}

/* Options. */
static void test_options(void)
{
	static const char *bad[] = {
		"pci:balloon,stats=maybe",
		"pci:balloon,target=0x100000000",
		"pci:balloon,target=lots",
		"pci:balloon,discard_hints=2",
		"pci:balloon,queues=2",
	};
	char err[256];
	struct env e;

	for (unsigned i = 0; i < RS_ARRAY_SIZE(bad); i++) {
		struct machine *m;

		CHECK(rs_machine_new(bad[i], &m, err, sizeof err) < 0);
		CHECK(strstr(err, "balloon") != NULL);
	}
	if (!env_open(&e,
		      "mem=16M pci-modern:balloon,stats=off,free_page_hint=off,page_poison=off,"
		      "must_tell_host=off,deflate_on_oom=off",
		      false))
		return;
	CHECK_EQ(gdrv_device_features(e.d) & 0xffffff, 0);
	env_close(&e);
	if (!env_open(&e, "mem=16M pci-modern:balloon,stats=off,target=0xffffffff", false))
		return;
	CHECK_EQ(gdrv_device_features(e.d) & 0xffffff, F_BALLOON & ~F(VIRTIO_BALLOON_F_STATS_VQ));
	CHECK_EQ(gdrv_config_read(e.d, BALLOON_CFG_NUM_PAGES, 4), 0xffffffffu);
	env_close(&e);
}

/* The queries on a device that is no balloon, and a balloon over RAM that
 * spans two regions (above 3 GiB the machine puts RAM at 4 GiB). */
static void test_queries_and_regions(void)
{
	struct machine *m;
	char err[256];
	struct balloon_status st;
	uint64_t v;
	struct vdev *d;
	struct gm gm;

	CHECK_EQ(rs_machine_new("pci:echo", &m, err, sizeof err), 0);
	CHECK_EQ(balloon_status(m->devs[0], &st), -EINVAL);
	CHECK_EQ(balloon_stat(m->devs[0], 0, &v), -EINVAL);
	CHECK(!balloon_page_inflated(m->devs[0], 0));
	rs_machine_free(m);

	gm_init(&gm);
	CHECK_EQ(gm_add_ram(&gm, 0, 1 << 20, NULL, "lo"), 0);
	CHECK_EQ(gm_add_ram(&gm, 1ull << 32, 1 << 20, NULL, "hi"), 0);
	CHECK_EQ(vdev_create(rs_device_find("balloon"), &gm, "b", NULL, &d, err, sizeof err), 0);
	CHECK_EQ(balloon_status(d, NULL), -EINVAL);
	CHECK_EQ(balloon_stat(d, BALLOON_S_NR, &v), -EINVAL);
	CHECK_EQ(balloon_stat(d, 0, NULL), -EINVAL);
	CHECK(!balloon_page_inflated(d, 1ull << 32));
	CHECK(!balloon_page_inflated(d, 0x100000)); /* RAM "hi", not inflated */
	vdev_destroy(d);
	gm_destroy(&gm);

	/* an arena without RAM: no bitmap, every PFN is outside */
	gm_init(&gm);
	CHECK_EQ(vdev_create(rs_device_find("balloon"), &gm, "b", NULL, &d, err, sizeof err), 0);
	CHECK(!balloon_page_inflated(d, 0));
	vdev_destroy(d);
	gm_destroy(&gm);
}

/* Inflation across the two RAM regions of a 4 GiB+ machine: runs break at
 * the region boundary. */
static void test_high_ram(void)
{
	struct env e;
	uint32_t pfns[4];

	if (!env_open(&e, "mem=3076M pci-modern:balloon", false))
		return;
	env_up(&e, F_ALL);
	pfns[0] = 0xbffff;   /* last page below 3 GiB */
	pfns[1] = 0xc0000;   /* the PCI hole: outside */
	pfns[2] = 0x100000;  /* first page at 4 GiB */
	pfns[3] = 0x100001;
	fill_page(&e, 0x100000, 0x42);
	fill_page(&e, 0xbffff, 0x42);
	CHECK_EQ(send_pfns(&e, BALLOON_VQ_INFLATE, pfns, 4, 0), 0);
	CHECK_EQ(status(&e).inflated, 3);
	CHECK_EQ(diags(&e, DIAG_BALLOON_PFN), 1);
	CHECK(page_is(&e, 0x100000, 0));
	CHECK(page_is(&e, 0xbffff, 0));
	CHECK(balloon_page_inflated(e.dev, 0x100001));
	env_close(&e);
}

int main(void)
{
	RUN(test_inflate_deflate_transports);
	RUN(test_malformed_pfns);
	RUN(test_huge_array);
	RUN(test_stats);
	RUN(test_free_page_hint);
	RUN(test_hint_options);
	RUN(test_queue_roles);
	RUN(test_config);
	RUN(test_reset);
	RUN(test_options);
	RUN(test_queries_and_regions);
	RUN(test_high_ram);
	return check_done();
}
