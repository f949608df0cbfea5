/*
 * ringside tests — split virtqueue engine (engine/vq.c, engine/vq_split.c).
 *
 * A small in-file driver lays rings out in a guest-memory arena with
 * gm_guest_write and plays the guest, honest or hostile; the device side is
 * the engine under test. Every validation rule is triggered by a hostile ring
 * and checked for its return code, its diagnostic, the broken state, one
 * on_error call, and recovery through vq_reset + vq_setup.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ringside/gm.h"
#include "ringside/vq.h"

/* Guest memory map: RAM, an MMIO hole right after it, then two adjacent
 * RAM regions. */
#define RAM0 0x0ull
#define RAM0_SIZE 0x400000ull /* 4 MiB */
#define MMIO_BASE 0x400000ull
#define MMIO_SIZE 0x10000ull
#define RAM1 0x410000ull
#define RAM1_SIZE 0xf0000ull
#define RAM2 0x500000ull /* adjacent to the end of RAM1 */
#define RAM2_SIZE 0x100000ull

/* Default ring placement (room for num = 32768) and buffers. */
#define DESC 0x10000ull
#define AVAIL 0x90000ull
#define USED 0xa1000ull
#define BUF 0x100000ull

struct fx {
	struct gm gm;
	struct diag_log log;   /* the queue's */
	struct diag_log gmlog; /* the arena's */
	struct vq vq;
	struct vq_config cfg;
	uint16_t avail_idx;    /* driver's next avail idx */
	unsigned errors;       /* on_error calls */
	enum diag_code last_code;
	unsigned last_q;
};

static struct fx F;

static void on_error(void *ctx, unsigned qidx, enum diag_code code)
{
	struct fx *f = ctx;

	f->errors++;
	f->last_code = code;
	f->last_q = qidx;
}

/* ---- guest-side helpers ---- */

static void w16(struct fx *f, uint64_t gpa, uint16_t v)
{
	uint8_t b[2];

	rs_st16(b, v);
	CHECK_EQ(gm_guest_write(&f->gm, gpa, b, 2), 0);
}

static uint16_t r16(struct fx *f, uint64_t gpa)
{
	uint8_t b[2] = { 0, 0 };

	CHECK_EQ(gm_guest_read(&f->gm, gpa, b, 2), 0);
	return rs_le16(b);
}

static uint32_t r32(struct fx *f, uint64_t gpa)
{
	uint8_t b[4] = { 0 };

	CHECK_EQ(gm_guest_read(&f->gm, gpa, b, 4), 0);
	return rs_le32(b);
}

/* Write descriptor i of the table at table. */
static void put_desc_at(struct fx *f, uint64_t table, uint32_t i, uint64_t addr, uint32_t len,
			uint16_t flags, uint16_t next)
{
	uint8_t d[16];

	rs_st64(d, addr);
	rs_st32(d + 8, len);
	rs_st16(d + 12, flags);
	rs_st16(d + 14, next);
	CHECK_EQ(gm_guest_write(&f->gm, table + 16ull * i, d, 16), 0);
}

static void put_desc(struct fx *f, uint32_t i, uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	put_desc_at(f, f->cfg.desc, i, addr, len, flags, next);
}

/* Put head in the next avail slot without publishing it. */
static void stage(struct fx *f, uint16_t head)
{
	w16(f, f->cfg.driver + 4 + 2ull * (f->avail_idx % f->cfg.num), head);
	f->avail_idx++;
}

static void publish(struct fx *f)
{
	w16(f, f->cfg.driver + 2, f->avail_idx);
}

static void offer(struct fx *f, uint16_t head)
{
	stage(f, head);
	publish(f);
}

static uint16_t used_idx(struct fx *f)
{
	return r16(f, f->cfg.device + 2);
}

static uint32_t used_id(struct fx *f, uint16_t slot)
{
	return r32(f, f->cfg.device + 4 + 8ull * (slot % f->cfg.num));
}

static uint32_t used_len(struct fx *f, uint16_t slot)
{
	return r32(f, f->cfg.device + 8 + 8ull * (slot % f->cfg.num));
}

static uint64_t used_event_gpa(struct fx *f)
{
	return f->cfg.driver + 4 + 2ull * f->cfg.num;
}

static uint64_t avail_event_gpa(struct fx *f)
{
	return f->cfg.device + 4 + 8ull * f->cfg.num;
}

/* Zero the ring areas the way a driver initialises a fresh queue. */
static void clear_rings(struct fx *f)
{
	static uint8_t zero[0x80000];
	uint16_t num = f->cfg.num;

	CHECK_EQ(gm_guest_write(&f->gm, f->cfg.desc, zero, 16ull * num), 0);
	CHECK_EQ(gm_guest_write(&f->gm, f->cfg.driver, zero, virtq_avail_size(num)), 0);
	CHECK_EQ(gm_guest_write(&f->gm, f->cfg.device, zero, virtq_used_size(num)), 0);
	f->avail_idx = 0;
}

/* ---- fixture ---- */

static void fx_arena(struct fx *f)
{
	memset(f, 0, sizeof(*f));
	gm_init(&f->gm);
	diag_init(&f->log, "vqtest");
	diag_init(&f->gmlog, "gm");
	f->gm.log = &f->gmlog;
	CHECK_EQ(gm_add_ram(&f->gm, RAM0, RAM0_SIZE, NULL, "ram0"), 0);
	CHECK_EQ(gm_add_mmio(&f->gm, MMIO_BASE, MMIO_SIZE, "hole"), 0);
	CHECK_EQ(gm_add_ram(&f->gm, RAM1, RAM1_SIZE, NULL, "ram1"), 0);
	CHECK_EQ(gm_add_ram(&f->gm, RAM2, RAM2_SIZE, NULL, "ram2"), 0);
	vq_init(&f->vq, &f->gm, &f->log, 3, on_error, f);
}

/* Arena plus a ready split queue of num entries at the default places. */
static struct fx *fx_open(uint16_t num, uint64_t features)
{
	struct fx *f = &F;

	fx_arena(f);
	f->cfg = (struct vq_config){ VQ_SPLIT, num, DESC, AVAIL, USED, features };
	clear_rings(f);
	CHECK_EQ(vq_setup(&f->vq, &f->cfg), 0);
	CHECK(f->vq.ready);
	return f;
}

static void fx_close(struct fx *f)
{
	vq_reset(&f->vq);
	CHECK(f->vq.inflight_bits == NULL);
	gm_destroy(&f->gm);
}

/* Pop, push with len and check the used entry the driver sees. */
static void pop_push(struct fx *f, uint16_t want_id, uint32_t len)
{
	struct vq_chain c;
	uint16_t u = used_idx(f);

	CHECK_EQ(vq_pop(&f->vq, &c), 1);
	CHECK_EQ(c.id, want_id);
	CHECK_EQ(vq_push(&f->vq, &c, len), 0);
	CHECK_EQ(used_idx(f), (uint16_t)(u + 1));
	CHECK_EQ(used_id(f, u), want_id);
	CHECK_EQ(used_len(f, u), len);
}

/*
 * The guest error just returned by an operation (ret) must be exactly one
 * report of code, a broken queue and one on_error call; the queue then
 * refuses work without re-reporting, and vq_reset + vq_setup brings it back.
 */
static void expect_broken_at(struct fx *f, int ret, int want, enum diag_code code, int line)
{
	unsigned before = check_failures;
	struct vq_chain c;

	CHECK_EQ(ret, want);
	CHECK_EQ(diag_count(&f->log, code), 1);
	CHECK_EQ(f->log.total, 1);
	CHECK(f->vq.broken);
	CHECK_EQ(f->errors, 1);
	CHECK_EQ(f->last_code, code);
	CHECK_EQ(f->last_q, 3);
	CHECK_EQ(f->vq.stats.errors, 1);

	/* broken: nothing more, no second report or hook call */
	CHECK_EQ(vq_pop(&f->vq, &c), -EIO);
	CHECK_EQ(c.nsegs, 0);
	CHECK(c.heap == NULL);
	CHECK(!vq_pending(&f->vq));
	CHECK(!vq_should_notify(&f->vq));
	CHECK(!vq_set_notify(&f->vq, true));
	CHECK_EQ(f->errors, 1);
	CHECK_EQ(f->log.total, 1);

	/* recovery: the driver resets and lays out a sane ring again */
	vq_reset(&f->vq);
	CHECK(!f->vq.ready && !f->vq.broken);
	CHECK_EQ(f->vq.stats.errors, 0);
	gm_set_source(&f->gm, NULL, NULL);
	clear_rings(f);
	CHECK_EQ(vq_setup(&f->vq, &f->cfg), 0);
	CHECK(f->vq.ready && !f->vq.broken);
	put_desc(f, 0, BUF, 64, 0, 0);
	offer(f, 0);
	pop_push(f, 0, 0);
	CHECK_EQ(f->errors, 1);
	if (check_failures != before)
		fprintf(stderr, "  (expect_broken called from line %d)\n", line);
}
#define expect_broken(f, ret, want, code) expect_broken_at(f, ret, want, code, __LINE__)

/* Pop once and expect the guest error. */
#define expect_pop_error(f, want, code)                                                   \
	do {                                                                              \
		struct vq_chain c_;                                                       \
		expect_broken(f, vq_pop(&(f)->vq, &c_), want, code);                      \
	} while (0)

/* A source that fails accesses to one guest range (ring memory that the
 * arena refuses after setup); otherwise plain memory. */
static struct {
	uint64_t lo, hi; /* [lo, hi) */
	unsigned access; /* GM_ACCESS_READ / WRITE bits that fail */
} fault;

static bool fault_hit(uint64_t gpa, size_t len, unsigned access)
{
	return (fault.access & access) && gpa < fault.hi && gpa + len > fault.lo;
}

static int fault_read(void *ctx, struct gm *gm, uint64_t gpa, uint8_t *host, void *dst,
		      size_t len)
{
	if (fault_hit(gpa, len, GM_ACCESS_READ))
		return -EFAULT;
	memcpy(dst, host, len);
	return 0;
}

static int fault_write(void *ctx, struct gm *gm, uint64_t gpa, uint8_t *host, const void *src,
		       size_t len)
{
	if (fault_hit(gpa, len, GM_ACCESS_WRITE))
		return -EFAULT;
	memcpy(host, src, len);
	return 0;
}

static const struct gm_source_ops fault_source = {
	.name = "fault",
	.read = fault_read,
	.write = fault_write,
	.direct = false,
};

static void set_fault(struct fx *f, uint64_t gpa, uint64_t len, unsigned access)
{
	fault.lo = gpa;
	fault.hi = gpa + len;
	fault.access = access;
	gm_set_source(&f->gm, &fault_source, NULL);
}

/* A tap makes gm_ptr refuse, so the engine takes its gm_read/gm_write path
 * (the one the recorder and the replayer see). */
static uint64_t tap_reads, tap_writes;

static void count_tap(void *ctx, enum gm_access dir, uint64_t gpa, const void *data, size_t len)
{
	if (dir == GM_ACCESS_READ)
		tap_reads++;
	else
		tap_writes++;
}

/* ---- setup ---- */

static void test_setup_sizes(void)
{
	static const uint16_t good[] = { 1, 2, 256, 32768 };
	static const uint16_t bad[] = { 0, 3, 6, 255, 32767, 32769, 65535 };
	struct fx *f = &F;
	unsigned i;

	fx_arena(f);
	for (i = 0; i < RS_ARRAY_SIZE(good); i++) {
		f->cfg = (struct vq_config){ VQ_SPLIT, good[i], DESC, AVAIL, USED, 0 };
		clear_rings(f);
		CHECK_EQ(vq_setup(&f->vq, &f->cfg), 0);
		CHECK(f->vq.ready);
		CHECK_EQ(f->vq.num, good[i]);
		/* one full round of the ring works at every size */
		put_desc(f, good[i] - 1, BUF, 8, 0, 0);
		offer(f, good[i] - 1);
		pop_push(f, good[i] - 1, 0);
		CHECK(!vq_pending(&f->vq));
	}
	CHECK_EQ(diag_count(&f->log, DIAG_VQ_SIZE), 0);
	for (i = 0; i < RS_ARRAY_SIZE(bad); i++) {
		f->cfg = (struct vq_config){ VQ_SPLIT, bad[i], DESC, AVAIL, USED, 0 };
		CHECK_EQ(vq_setup(&f->vq, &f->cfg), -EINVAL);
		CHECK(!f->vq.ready);
		CHECK(f->vq.inflight_bits == NULL);
		CHECK_EQ(diag_count(&f->log, DIAG_VQ_SIZE), i + 1);
	}
	/* setup errors are not guest errors that break a running queue */
	CHECK_EQ(f->errors, 0);
	CHECK(!f->vq.broken);

	/* packed sizes need no power of two; 0 and > 32768 are still wrong */
	f->cfg = (struct vq_config){ VQ_PACKED, 3, DESC, AVAIL, USED, 0 };
	CHECK_EQ(vq_setup(&f->vq, &f->cfg), 0);
	CHECK(f->vq.ready);
	f->cfg.num = 0;
	CHECK_EQ(vq_setup(&f->vq, &f->cfg), -EINVAL);
	CHECK(!f->vq.ready);
	f->cfg.num = 32769;
	CHECK_EQ(vq_setup(&f->vq, &f->cfg), -EINVAL);
	CHECK_EQ(diag_count(&f->log, DIAG_VQ_SIZE), RS_ARRAY_SIZE(bad) + 2);

	/* an unknown layout is a host bug: refused, not reported */
	f->cfg = (struct vq_config){ (enum vq_layout)7, 4, DESC, AVAIL, USED, 0 };
	CHECK_EQ(vq_setup(&f->vq, &f->cfg), -EINVAL);
	CHECK(!f->vq.ready);
	CHECK_EQ(f->log.total, RS_ARRAY_SIZE(bad) + 2);
	fx_close(f);
}

static void test_setup_not_ready(void)
{
	struct fx *f = &F;
	struct vq_chain c;

	fx_arena(f);
	CHECK_EQ(vq_pop(&f->vq, &c), -EIO);
	CHECK_EQ(c.nsegs, 0);
	c.id = 0;
	CHECK_EQ(vq_push(&f->vq, &c, 0), -EIO);
	CHECK_EQ(vq_push_n(&f->vq, &c, (uint32_t[]){ 0 }, 1), -EIO);
	CHECK(!vq_pending(&f->vq));
	CHECK(!vq_should_notify(&f->vq));
	CHECK(!vq_set_notify(&f->vq, true));
	CHECK_EQ(f->log.total, 0);
	CHECK_EQ(f->errors, 0);
	fx_close(f);
}

/* Setup with one area changed must fail with DIAG_VQ_RING_ADDR. */
static void expect_bad_area(struct fx *f, uint64_t desc, uint64_t driver, uint64_t device, int line)
{
	struct vq_config cfg = { VQ_SPLIT, 256, desc, driver, device, 0 };
	uint32_t before = diag_count(&f->log, DIAG_VQ_RING_ADDR);

	CHECK_EQ(vq_setup(&f->vq, &cfg), -EINVAL);
	CHECK(!f->vq.ready);
	CHECK_EQ(diag_count(&f->log, DIAG_VQ_RING_ADDR), before + 1);
	if (diag_count(&f->log, DIAG_VQ_RING_ADDR) != before + 1)
		fprintf(stderr, "  (from line %d)\n", line);
}

static void test_setup_areas(void)
{
	struct fx *f = &F;
	struct vq_config cfg;
	uint64_t end_desc, end_avail, end_used;

	fx_arena(f);
	/* alignment: desc 16, avail 2, used 4 (virtio-v1.2 2.7) */
	expect_bad_area(f, DESC + 8, AVAIL, USED, __LINE__);
	expect_bad_area(f, DESC + 1, AVAIL, USED, __LINE__);
	expect_bad_area(f, DESC, AVAIL + 1, USED, __LINE__);
	expect_bad_area(f, DESC, AVAIL, USED + 2, __LINE__);
	/* minimal alignments are fine */
	cfg = (struct vq_config){ VQ_SPLIT, 256, DESC + 16, AVAIL + 2, USED + 4, 0 };
	CHECK_EQ(vq_setup(&f->vq, &cfg), 0);
	/* outside RAM, in the MMIO hole, across the RAM/MMIO edge, across two
	 * adjacent RAM regions, wrapping at 2^64 */
	expect_bad_area(f, 0x10000000, AVAIL, USED, __LINE__);
	expect_bad_area(f, DESC, MMIO_BASE, USED, __LINE__);
	expect_bad_area(f, DESC, AVAIL, MMIO_BASE - 0x800, __LINE__);
	expect_bad_area(f, RAM2 - 0x800, AVAIL, USED, __LINE__);
	expect_bad_area(f, DESC, AVAIL, UINT64_MAX - 3, __LINE__);
	expect_bad_area(f, UINT64_MAX - 15, AVAIL, USED, __LINE__);
	/* each area just one byte too long for the end of RAM */
	expect_bad_area(f, RAM0_SIZE - 16 * 256 + 16, AVAIL, USED, __LINE__);
	expect_bad_area(f, DESC, RAM0_SIZE - virtq_avail_size(256) + 2, USED, __LINE__);
	expect_bad_area(f, DESC, AVAIL, RAM0_SIZE - virtq_used_size(256) + 2, __LINE__);
	CHECK_EQ(f->errors, 0);

	/* awkward but legal: every area ends exactly where RAM ends (at the
	 * MMIO hole, and at the end of the last region) */
	end_desc = RAM1 + RAM1_SIZE - 16 * 256;
	end_avail = RAM0_SIZE - virtq_avail_size(256);       /* 2-aligned */
	end_used = RAM2 + RAM2_SIZE - virtq_used_size(256) - 2; /* 4-aligned */
	CHECK_EQ(end_used % 4, 0);
	f->cfg = (struct vq_config){ VQ_SPLIT, 256, end_desc, end_avail, end_used, 0 };
	CHECK_EQ(vq_setup(&f->vq, &f->cfg), 0);
	clear_rings(f);
	put_desc(f, 255, BUF, 100, VIRTQ_DESC_F_WRITE, 0);
	offer(f, 255);
	pop_push(f, 255, 100);
	/* rings in three different regions, driven past their ends */
	for (unsigned i = 0; i < 600; i++) {
		put_desc(f, i % 256, BUF + i, 1, 0, 0);
		offer(f, i % 256);
		pop_push(f, i % 256, 0);
	}
	CHECK_EQ(f->log.total - diag_count(&f->log, DIAG_VQ_RING_ADDR), 0);
	fx_close(f);
}

static void test_legacy_layout(void)
{
	static const uint64_t aligns[] = { 4096, 4, 64, 16384, 65536 };
	struct fx *f = &F;
	struct vq_config cfg;
	uint64_t base = 0x200000;
	unsigned i;

	fx_arena(f);
	/* virtio-v1.2 2.7.2 with Queue Align 4096, num 256: avail right after
	 * the 4 KiB table, used at the next 4 KiB boundary */
	memset(&cfg, 0xff, sizeof(cfg));
	cfg.features = VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC);
	vq_legacy_layout(&cfg, base, 256, 4096);
	CHECK_EQ(cfg.layout, VQ_SPLIT);
	CHECK_EQ(cfg.num, 256);
	CHECK_EQ(cfg.desc, base);
	CHECK_EQ(cfg.driver, base + 4096);
	CHECK_EQ(cfg.device, base + 8192);
	CHECK_EQ(cfg.features, VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC)); /* untouched */
	vq_legacy_layout(&cfg, base, 128, 4096);
	CHECK_EQ(cfg.driver, base + 2048);
	CHECK_EQ(cfg.device, base + 4096);
	vq_legacy_layout(&cfg, base, 1, 4096);
	CHECK_EQ(cfg.driver, base + 16);
	CHECK_EQ(cfg.device, base + 4096);

	for (i = 0; i < RS_ARRAY_SIZE(aligns); i++) {
		uint64_t a = aligns[i];

		vq_legacy_layout(&cfg, base, 256, a);
		CHECK_EQ(cfg.device, base + virtq_legacy_used_off(256, a));
		CHECK_EQ((cfg.device - base) % a, 0);
		CHECK(cfg.device - base >= 16 * 256 + virtq_avail_size(256));
		CHECK(cfg.device - base < 16 * 256 + virtq_avail_size(256) + a);
		/* the engine finds the rings where a legacy driver puts them */
		cfg.features = 0;
		f->cfg = cfg;
		clear_rings(f);
		CHECK_EQ(vq_setup(&f->vq, &f->cfg), 0);
		put_desc(f, 7, BUF, 32, VIRTQ_DESC_F_WRITE, 0);
		w16(f, base + 16 * 256 + 4, 7);    /* avail->ring[0] */
		w16(f, base + 16 * 256 + 2, 1);    /* avail->idx */
		pop_push(f, 7, 20);
		CHECK_EQ(r16(f, cfg.device + 2), 1);
		CHECK_EQ(r32(f, cfg.device + 4), 7);
		CHECK_EQ(r32(f, cfg.device + 8), 20);
	}

	/* guest-chosen odd alignments are defined: a non power of two rounds
	 * up to a multiple, 0 means none (used then lands 2-aligned only) */
	vq_legacy_layout(&cfg, base, 256, 100);
	CHECK_EQ(cfg.device, base + 4700);
	vq_legacy_layout(&cfg, base, 256, 0);
	CHECK_EQ(cfg.device, base + 16 * 256 + virtq_avail_size(256));
	cfg.features = 0;
	CHECK_EQ(vq_setup(&f->vq, &cfg), -EINVAL); /* used ring 2-aligned only */
	CHECK_EQ(diag_count(&f->log, DIAG_VQ_RING_ADDR), 1);
	vq_legacy_layout(&cfg, base, 256, 1);
	CHECK_EQ(cfg.device, base + 16 * 256 + virtq_avail_size(256));
	/* huge alignments and bases saturate instead of wrapping */
	vq_legacy_layout(&cfg, base, 256, 1ull << 63);
	CHECK_EQ(cfg.device, base + (1ull << 63));
	vq_legacy_layout(&cfg, UINT64_MAX - 4095, 256, 4096);
	CHECK_EQ(cfg.driver, UINT64_MAX);
	CHECK_EQ(cfg.device, UINT64_MAX);
	CHECK_EQ(vq_setup(&f->vq, &cfg), -EINVAL);
	vq_legacy_layout(&cfg, 0x3ff000, 256, 4096); /* avail ring in the hole */
	CHECK_EQ(vq_setup(&f->vq, &cfg), -EINVAL);
	CHECK_EQ(diag_count(&f->log, DIAG_VQ_RING_ADDR), 3);
	fx_close(f);
}

/* ---- chains ---- */

static void test_chain_shapes(void)
{
	struct fx *f = fx_open(8, 0);
	const struct vq_seg *s;
	struct vq_chain c;
	unsigned i;

	/* one descriptor */
	put_desc(f, 5, BUF + 3, 77, 0, 0);
	offer(f, 5);
	CHECK_EQ(vq_pop(&f->vq, &c), 1);
	CHECK_EQ(c.id, 5);
	CHECK_EQ(c.ndesc, 1);
	CHECK_EQ(c.nsegs, 1);
	CHECK_EQ(c.nread, 1);
	CHECK_EQ(c.read_len, 77);
	CHECK_EQ(c.write_len, 0);
	CHECK(c.heap == NULL);
	s = vq_chain_csegs(&c);
	CHECK_EQ(s[0].gpa, BUF + 3);
	CHECK_EQ(s[0].len, 77);
	CHECK_EQ(s[0].write, 0);
	CHECK_EQ(f->vq.inflight, 1);
	CHECK_EQ(vq_push(&f->vq, &c, 0), 0);
	CHECK_EQ(f->vq.inflight, 0);

	/* four: 2 readable, 2 writable, scattered indices */
	put_desc(f, 2, BUF + 0x100, 10, VIRTQ_DESC_F_NEXT, 6);
	put_desc(f, 6, BUF + 0x200, 20, VIRTQ_DESC_F_NEXT, 0);
	put_desc(f, 0, BUF + 0x300, 30, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 7);
	put_desc(f, 7, BUF + 0x400, 0, VIRTQ_DESC_F_WRITE, 3); /* next ignored without NEXT */
	offer(f, 2);
	CHECK_EQ(vq_pop(&f->vq, &c), 1);
	CHECK_EQ(c.id, 2);
	CHECK_EQ(c.ndesc, 4);
	CHECK_EQ(c.nsegs, 4);
	CHECK_EQ(c.nread, 2);
	CHECK_EQ(c.read_len, 30);
	CHECK_EQ(c.write_len, 30);
	s = vq_chain_csegs(&c);
	CHECK_EQ(s[1].gpa, BUF + 0x200);
	CHECK_EQ(s[2].write, 1);
	CHECK_EQ(s[3].len, 0);
	CHECK_EQ(vq_push(&f->vq, &c, 30), 0);

	/* num descriptors, the longest legal chain, visiting the table in the
	 * order 0 3 6 1 4 7 2 5 */
	for (i = 0; i < 8; i++) {
		uint16_t at = (uint16_t)((3 * i) % 8), nx = (uint16_t)((3 * (i + 1)) % 8);

		put_desc(f, at, BUF + 16 * i, 16,
			 (i < 7 ? VIRTQ_DESC_F_NEXT : 0) | (i >= 4 ? VIRTQ_DESC_F_WRITE : 0), nx);
	}
	offer(f, 0);
	CHECK_EQ(vq_pop(&f->vq, &c), 1);
	CHECK_EQ(c.nsegs, 8);
	CHECK_EQ(c.ndesc, 8);
	CHECK_EQ(c.nread, 4);
	CHECK_EQ(c.read_len, 64);
	CHECK_EQ(c.write_len, 64);
	s = vq_chain_csegs(&c);
	for (i = 0; i < 8; i++)
		CHECK_EQ(s[i].gpa, BUF + 16 * i);
	CHECK_EQ(vq_push(&f->vq, &c, 64), 0);
	CHECK_EQ(f->vq.stats.popped, 3);
	CHECK_EQ(f->vq.stats.pushed, 3);
	CHECK_EQ(f->log.total, 0);
	fx_close(f);
}

static void test_indirect(void)
{
	struct fx *f = fx_open(4, VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC));
	const uint64_t table = 0x300000;
	const struct vq_seg *s;
	struct vq_chain c;

	/* a single INDIRECT head with a table of 4 (= num); WRITE on the
	 * pointer is ignored (virtio-v1.2 2.7.5.3.2) */
	put_desc_at(f, table, 0, BUF, 100, VIRTQ_DESC_F_NEXT, 2);
	put_desc_at(f, table, 2, BUF + 100, 200, VIRTQ_DESC_F_NEXT, 1);
	put_desc_at(f, table, 1, BUF + 300, 300, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 3);
	put_desc_at(f, table, 3, BUF + 600, 400, VIRTQ_DESC_F_WRITE, 0);
	put_desc(f, 1, table, 64, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_WRITE, 0);
	offer(f, 1);
	CHECK_EQ(vq_pop(&f->vq, &c), 1);
	CHECK_EQ(c.id, 1);
	CHECK_EQ(c.ndesc, 1);
	CHECK_EQ(c.nsegs, 4);
	CHECK_EQ(c.nread, 2);
	CHECK_EQ(c.read_len, 300);
	CHECK_EQ(c.write_len, 700);
	s = vq_chain_csegs(&c);
	CHECK_EQ(s[0].gpa, BUF);
	CHECK_EQ(s[1].gpa, BUF + 100);
	CHECK_EQ(s[2].gpa, BUF + 300);
	CHECK_EQ(s[3].gpa, BUF + 600);
	CHECK_EQ(vq_push(&f->vq, &c, 700), 0);

	/* direct descriptors followed by one INDIRECT (2.7.5.3.2 MUST handle) */
	put_desc(f, 0, BUF + 0x1000, 12, VIRTQ_DESC_F_NEXT, 3);
	put_desc(f, 3, table + 0x100, 32, VIRTQ_DESC_F_INDIRECT, 0);
	put_desc_at(f, table + 0x100, 0, BUF + 0x2000, 8, VIRTQ_DESC_F_NEXT, 1);
	put_desc_at(f, table + 0x100, 1, BUF + 0x3000, 16, VIRTQ_DESC_F_WRITE, 0);
	offer(f, 0);
	CHECK_EQ(vq_pop(&f->vq, &c), 1);
	CHECK_EQ(c.id, 0);
	CHECK_EQ(c.ndesc, 2);
	CHECK_EQ(c.nsegs, 3);
	CHECK_EQ(c.nread, 2);
	CHECK_EQ(c.read_len, 20);
	CHECK_EQ(c.write_len, 16);
	CHECK_EQ(vq_push(&f->vq, &c, 16), 0);

	/* a table longer than the chain it holds is fine */
	put_desc_at(f, table + 0x200, 0, BUF, 1, 0, 0);
	put_desc(f, 2, table + 0x200, 64, VIRTQ_DESC_F_INDIRECT, 0);
	offer(f, 2);
	CHECK_EQ(vq_pop(&f->vq, &c), 1);
	CHECK_EQ(c.nsegs, 1);
	CHECK_EQ(vq_push(&f->vq, &c, 0), 0);
	CHECK_EQ(f->log.total, 0);
	fx_close(f);
}

static void test_heap_growth(void)
{
	struct fx *f = fx_open(128, VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC));
	const uint64_t table = 0x300000;
	const struct vq_seg *s;
	struct vq_chain c, copy;
	unsigned i, n;

	/* 17 direct descriptors: one past the inline array */
	for (i = 0; i < 17; i++)
		put_desc(f, i, BUF + i * 10, i + 1, i < 16 ? VIRTQ_DESC_F_NEXT : VIRTQ_DESC_F_WRITE,
			 (uint16_t)(i + 1));
	offer(f, 0);
	CHECK_EQ(vq_pop(&f->vq, &c), 1);
	CHECK_EQ(c.nsegs, 17);
	CHECK(c.heap != NULL);
	CHECK(vq_chain_segs(&c) == c.heap);
	s = vq_chain_csegs(&c);
	for (i = 0; i < 17; i++) {
		CHECK_EQ(s[i].gpa, BUF + i * 10);
		CHECK_EQ(s[i].len, i + 1);
	}
	CHECK_EQ(c.nread, 16);
	CHECK_EQ(c.write_len, 17);
	CHECK_EQ(vq_push(&f->vq, &c, 17), 0);
	CHECK(c.heap == NULL); /* push released the segments */

	/* through several doublings (16 -> 32 -> 64 -> 128) via an indirect
	 * table of num entries: all of them, the largest legal chain */
	for (n = 33; n <= 128; n += 95) {
		for (i = 0; i < n; i++)
			put_desc_at(f, table, i, BUF + i, 1, i + 1 < n ? VIRTQ_DESC_F_NEXT : 0,
				    (uint16_t)(i + 1));
		put_desc(f, 20, table, 16 * n, VIRTQ_DESC_F_INDIRECT, 0);
		offer(f, 20);
		CHECK_EQ(vq_pop(&f->vq, &c), 1);
		CHECK_EQ(c.nsegs, n);
		CHECK_EQ(c.read_len, n);
		s = vq_chain_csegs(&c);
		for (i = 0; i < n; i++)
			CHECK_EQ(s[i].gpa, BUF + i);
		/* a copy is the same chain; exactly one copy is completed */
		copy = c;
		CHECK(vq_chain_csegs(&copy) == s);
		CHECK_EQ(vq_push(&f->vq, &copy, 0), 0);
		CHECK(copy.heap == NULL);
	}
	CHECK_EQ(f->log.total, 0);
	CHECK_EQ(f->vq.inflight, 0);
	fx_close(f);
}

/* Drive a ring of num entries through ops chains in batches, checking every
 * chain and every used entry. */
static void drive(struct fx *f, unsigned ops)
{
	uint16_t num = f->cfg.num, u = 0;
	unsigned done = 0, batch = 1;
	struct vq_chain c[8], extra;

	while (done < ops) {
		unsigned n = RS_MIN(RS_MIN(batch, num), 8u), k;

		for (k = 0; k < n; k++) {
			uint16_t head = (uint16_t)((done + k) % num);
			uint32_t len = (uint32_t)((done + k) % 997) + 1;

			put_desc(f, head, BUF + (done + k) % 4096, len,
				 (done + k) & 1 ? VIRTQ_DESC_F_WRITE : 0, 0);
			stage(f, head);
		}
		publish(f);
		for (k = 0; k < n; k++) {
			uint32_t len = (uint32_t)((done + k) % 997) + 1;

			CHECK_EQ(vq_pop(&f->vq, &c[k]), 1);
			CHECK_EQ(c[k].id, (done + k) % num);
			CHECK_EQ(c[k].nsegs, 1);
			CHECK_EQ((done + k) & 1 ? c[k].write_len : c[k].read_len, len);
		}
		CHECK_EQ(vq_pop(&f->vq, &extra), 0);
		/* complete in reverse order: out-of-order completion is legal */
		for (k = n; k-- > 0;) {
			uint32_t wl = c[k].write_len;

			CHECK_EQ(vq_push(&f->vq, &c[k], wl), 0);
			CHECK_EQ(used_id(f, u), (done + k) % num);
			CHECK_EQ(used_len(f, u), wl);
			u++;
		}
		CHECK_EQ(used_idx(f), u);
		done += n;
		batch = batch % 7 + 1;
		if (check_failures)
			break; /* one broken round says enough */
	}
	CHECK_EQ(f->vq.last_avail, (uint16_t)done);
	CHECK_EQ(f->vq.used_idx, (uint16_t)done);
}

static void test_wrap(void)
{
	struct fx *f = fx_open(4, 0);

	drive(f, 70000);
	CHECK_EQ(f->vq.stats.popped, 70000);
	CHECK_EQ(f->vq.stats.pushed, 70000);
	CHECK_EQ(f->log.total, 0);
	fx_close(f);

	/* the same through gm_read/gm_write (what record and replay see) */
	f = fx_open(8, 0);
	tap_reads = tap_writes = 0;
	gm_set_tap(&f->gm, count_tap, NULL);
	drive(f, 66000);
	CHECK(tap_reads >= 2 * 66000);
	CHECK(tap_writes >= 2 * 66000);
	gm_set_tap(&f->gm, NULL, NULL);
	CHECK_EQ(f->log.total, 0);
	fx_close(f);

	/* a ring of one */
	f = fx_open(1, 0);
	drive(f, 66000);
	CHECK_EQ(f->log.total, 0);
	fx_close(f);
}

static void test_avail_full_ring(void)
{
	struct fx *f = fx_open(4, 0);
	struct vq_chain c[4];
	unsigned i;

	/* exactly num entries ahead is a full ring, not a jump */
	for (i = 0; i < 4; i++) {
		put_desc(f, i, BUF, 4, 0, 0);
		stage(f, (uint16_t)i);
	}
	publish(f);
	CHECK(vq_pending(&f->vq));
	for (i = 0; i < 4; i++)
		CHECK_EQ(vq_pop(&f->vq, &c[i]), 1);
	CHECK_EQ(vq_pop(&f->vq, &c[0]), 0);
	CHECK(!vq_pending(&f->vq));
	for (i = 0; i < 4; i++)
		CHECK_EQ(vq_push(&f->vq, &c[i], 0), 0);
	CHECK_EQ(f->log.total, 0);
	fx_close(f);
}

/* ---- hostile rings ---- */

static void reset_counts(struct fx *f)
{
	diag_clear(&f->log);
	f->errors = 0;
	f->last_code = DIAG_NONE;
}

static void test_bad_avail_jump(void)
{
	struct fx *f = fx_open(4, 0);

	w16(f, AVAIL + 2, 5);
	expect_pop_error(f, -EINVAL, DIAG_VQ_AVAIL_JUMP);
	/* backwards (a decrement looks like a jump of nearly 2^16) */
	put_desc(f, 0, BUF, 1, 0, 0);
	offer(f, 0);
	pop_push(f, 0, 0);
	reset_counts(f);
	w16(f, AVAIL + 2, 0);
	expect_pop_error(f, -EINVAL, DIAG_VQ_AVAIL_JUMP);
	fx_close(f);
}

static void test_bad_head_next(void)
{
	struct fx *f = fx_open(8, 0);

	offer(f, 8);
	expect_pop_error(f, -EINVAL, DIAG_VQ_HEAD_RANGE);
	reset_counts(f);
	offer(f, 0xffff);
	expect_pop_error(f, -EINVAL, DIAG_VQ_HEAD_RANGE);

	reset_counts(f);
	put_desc(f, 1, BUF, 1, VIRTQ_DESC_F_NEXT, 8);
	offer(f, 1);
	expect_pop_error(f, -EINVAL, DIAG_VQ_NEXT_RANGE);
	fx_close(f);
}

static void test_bad_loop(void)
{
	struct fx *f = fx_open(8, VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC));
	const uint64_t table = 0x300000;
	unsigned i;

	/* 0 -> 1 -> 0 ... */
	put_desc(f, 0, BUF, 1, VIRTQ_DESC_F_NEXT, 1);
	put_desc(f, 1, BUF, 1, VIRTQ_DESC_F_NEXT, 0);
	offer(f, 0);
	expect_pop_error(f, -ELOOP, DIAG_VQ_LOOP);

	/* a descriptor pointing at itself */
	reset_counts(f);
	put_desc(f, 4, BUF, 1, VIRTQ_DESC_F_NEXT, 4);
	offer(f, 4);
	expect_pop_error(f, -ELOOP, DIAG_VQ_LOOP);

	/* a loop inside an indirect table */
	reset_counts(f);
	put_desc_at(f, table, 0, BUF, 1, VIRTQ_DESC_F_NEXT, 1);
	put_desc_at(f, table, 1, BUF, 1, VIRTQ_DESC_F_NEXT, 0);
	put_desc(f, 2, table, 32, VIRTQ_DESC_F_INDIRECT, 0);
	offer(f, 2);
	expect_pop_error(f, -ELOOP, DIAG_VQ_LOOP);

	/* no loop, but more than num descriptors in total: 5 direct + a
	 * table of 4 */
	reset_counts(f);
	for (i = 0; i < 5; i++)
		put_desc(f, i, BUF, 1, VIRTQ_DESC_F_NEXT, (uint16_t)(i + 1));
	put_desc(f, 5, table, 64, VIRTQ_DESC_F_INDIRECT, 0);
	for (i = 0; i < 4; i++)
		put_desc_at(f, table, i, BUF, 1, i < 3 ? VIRTQ_DESC_F_NEXT : 0, (uint16_t)(i + 1));
	offer(f, 0);
	expect_pop_error(f, -ELOOP, DIAG_VQ_LOOP);

	/* 4 direct + 4 indirect = 8 = num is still legal */
	reset_counts(f);
	for (i = 0; i < 4; i++)
		put_desc(f, i, BUF, 1, VIRTQ_DESC_F_NEXT, (uint16_t)(i + 1));
	put_desc(f, 4, table, 64, VIRTQ_DESC_F_INDIRECT, 0);
	for (i = 0; i < 4; i++)
		put_desc_at(f, table, i, BUF, 1, i < 3 ? VIRTQ_DESC_F_NEXT : 0, (uint16_t)(i + 1));
	offer(f, 0);
	{
		struct vq_chain c;

		CHECK_EQ(vq_pop(&f->vq, &c), 1);
		CHECK_EQ(c.nsegs, 8);
		CHECK_EQ(c.ndesc, 5);
		CHECK_EQ(vq_push(&f->vq, &c, 0), 0);
	}
	CHECK_EQ(f->log.total, 0);

	/* num direct descriptors, the last pointing on with NEXT to an INDIRECT */
	for (i = 0; i < 8; i++)
		put_desc(f, i, BUF, 1, VIRTQ_DESC_F_NEXT, (uint16_t)((i + 1) % 8));
	offer(f, 0);
	expect_pop_error(f, -ELOOP, DIAG_VQ_LOOP);
	fx_close(f);
}

static void test_bad_indirect(void)
{
	struct fx *f = fx_open(8, VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC));
	const uint64_t table = 0x300000;

	/* INDIRECT with NEXT */
	put_desc_at(f, table, 0, BUF, 1, 0, 0);
	put_desc(f, 0, table, 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 1);
	put_desc(f, 1, BUF, 1, 0, 0);
	offer(f, 0);
	expect_pop_error(f, -EINVAL, DIAG_VQ_INDIRECT_NEXT);

	/* nested INDIRECT */
	reset_counts(f);
	put_desc_at(f, table, 0, BUF, 1, VIRTQ_DESC_F_NEXT, 1);
	put_desc_at(f, table, 1, table + 0x100, 16, VIRTQ_DESC_F_INDIRECT, 0);
	put_desc(f, 0, table, 32, VIRTQ_DESC_F_INDIRECT, 0);
	offer(f, 0);
	expect_pop_error(f, -EINVAL, DIAG_VQ_INDIRECT_NESTED);

	/* table len 0, not a multiple of 16, more than num entries */
	static const uint32_t bad_len[] = { 0, 8, 24, 17, 16 * 9, 0xfffffff0 };
	for (unsigned i = 0; i < RS_ARRAY_SIZE(bad_len); i++) {
		reset_counts(f);
		put_desc(f, 0, table, bad_len[i], VIRTQ_DESC_F_INDIRECT, 0);
		offer(f, 0);
		expect_pop_error(f, -EINVAL, DIAG_VQ_INDIRECT_LEN);
	}

	/* table not wholly in RAM: in the MMIO hole, across its edge, wrapping */
	static const uint64_t bad_addr[] = { MMIO_BASE, MMIO_BASE - 16, UINT64_MAX - 15,
					     0x10000000 };
	for (unsigned i = 0; i < RS_ARRAY_SIZE(bad_addr); i++) {
		reset_counts(f);
		put_desc(f, 0, bad_addr[i], 32, VIRTQ_DESC_F_INDIRECT, 0);
		offer(f, 0);
		expect_pop_error(f, -EINVAL, DIAG_VQ_DESC_ADDR);
	}

	/* next inside a table beyond the table */
	reset_counts(f);
	put_desc_at(f, table, 0, BUF, 1, VIRTQ_DESC_F_NEXT, 2);
	put_desc(f, 0, table, 32, VIRTQ_DESC_F_INDIRECT, 0);
	offer(f, 0);
	expect_pop_error(f, -EINVAL, DIAG_VQ_NEXT_RANGE);
	fx_close(f);

	/* INDIRECT without VIRTIO_F_INDIRECT_DESC */
	f = fx_open(8, 0);
	put_desc_at(f, table, 0, BUF, 1, 0, 0);
	put_desc(f, 0, table, 16, VIRTQ_DESC_F_INDIRECT, 0);
	offer(f, 0);
	expect_pop_error(f, -EINVAL, DIAG_VQ_INDIRECT_FEATURE);
	fx_close(f);
}

static void test_bad_order_and_addr(void)
{
	struct fx *f = fx_open(8, VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC));
	const uint64_t table = 0x300000;

	/* readable after writable, directly ... */
	put_desc(f, 0, BUF, 4, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	put_desc(f, 1, BUF, 4, 0, 0);
	offer(f, 0);
	expect_pop_error(f, -EINVAL, DIAG_VQ_WRITE_ORDER);
	/* ... and across the switch into an indirect table */
	reset_counts(f);
	put_desc(f, 0, BUF, 4, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	put_desc(f, 1, table, 16, VIRTQ_DESC_F_INDIRECT, 0);
	put_desc_at(f, table, 0, BUF, 4, 0, 0);
	offer(f, 0);
	expect_pop_error(f, -EINVAL, DIAG_VQ_WRITE_ORDER);

	/* buffers outside RAM: beyond it, in the MMIO hole, crossing from RAM
	 * into the hole, across two adjacent RAM regions, wrapping at 2^64,
	 * and a zero-length buffer at an address that is not RAM */
	static const struct {
		uint64_t gpa;
		uint32_t len;
	} bad[] = {
		{ 0x10000000, 16 }, { MMIO_BASE + 64, 16 }, { MMIO_BASE - 8, 16 },
		{ RAM2 - 8, 16 }, { UINT64_MAX - 7, 16 }, { MMIO_BASE, 0 }, { UINT64_MAX, 0 },
		{ 0x10000, 0xffffffff },
	};
	for (unsigned i = 0; i < RS_ARRAY_SIZE(bad); i++) {
		reset_counts(f);
		put_desc(f, 0, BUF, 4, VIRTQ_DESC_F_NEXT, 1);
		put_desc(f, 1, bad[i].gpa, bad[i].len, VIRTQ_DESC_F_WRITE, 0);
		offer(f, 0);
		expect_pop_error(f, -EINVAL, DIAG_VQ_DESC_ADDR);
	}
	/* inside an indirect table too */
	reset_counts(f);
	put_desc(f, 0, table, 16, VIRTQ_DESC_F_INDIRECT, 0);
	put_desc_at(f, table, 0, MMIO_BASE - 1, 2, 0, 0);
	offer(f, 0);
	expect_pop_error(f, -EINVAL, DIAG_VQ_DESC_ADDR);

	/* a buffer ending exactly at the hole, and a zero-length one there,
	 * are fine */
	reset_counts(f);
	put_desc(f, 0, MMIO_BASE - 16, 16, VIRTQ_DESC_F_NEXT, 1);
	put_desc(f, 1, RAM0_SIZE - 1, 0, VIRTQ_DESC_F_WRITE, 0);
	offer(f, 0);
	pop_push(f, 0, 0);
	CHECK_EQ(f->log.total, 0);
	fx_close(f);
}

static void test_bad_len_overflow(void)
{
	struct fx *f = fx_open(8, 0);
	const uint64_t big = 0x100000000ull; /* 4 GiB region at 4 GiB, lazily backed */

	if (gm_add_ram(&f->gm, big, 0x80001000ull, NULL, "big") != 0) {
		fx_close(f);
		printf("     (skipped: no 2 GiB mapping)\n");
		return;
	}
	/* readable sum 2^31 + 2^31 = 2^32 */
	put_desc(f, 0, big, 0x80000000u, VIRTQ_DESC_F_NEXT, 1);
	put_desc(f, 1, big + 0x1000, 0x80000000u, 0, 0);
	offer(f, 0);
	expect_pop_error(f, -EOVERFLOW, DIAG_VQ_LEN_OVERFLOW);

	/* writable sum */
	reset_counts(f);
	put_desc(f, 0, BUF, 1, VIRTQ_DESC_F_NEXT, 1);
	put_desc(f, 1, big, 0x80000000u, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 2);
	put_desc(f, 2, big, 0x80000000u, VIRTQ_DESC_F_WRITE, 0);
	offer(f, 0);
	expect_pop_error(f, -EOVERFLOW, DIAG_VQ_LEN_OVERFLOW);

	/* exactly 2^32 - 1 readable is allowed */
	reset_counts(f);
	put_desc(f, 0, big, 0x80000000u, VIRTQ_DESC_F_NEXT, 1);
	put_desc(f, 1, big, 0x7fffffffu, 0, 0);
	offer(f, 0);
	{
		struct vq_chain c;

		CHECK_EQ(vq_pop(&f->vq, &c), 1);
		CHECK_EQ(c.read_len, 0xffffffffu);
		CHECK_EQ(vq_push(&f->vq, &c, 0), 0);
	}
	CHECK_EQ(f->log.total, 0);
	fx_close(f);
}

static void test_bad_buffer_id(void)
{
	struct fx *f = fx_open(8, 0);
	struct vq_chain c;

	put_desc(f, 3, BUF, 4, 0, 0);
	offer(f, 3);
	CHECK_EQ(vq_pop(&f->vq, &c), 1);
	offer(f, 3); /* again, while in flight */
	{
		struct vq_chain c2;

		expect_broken(f, vq_pop(&f->vq, &c2), -EINVAL, DIAG_VQ_BUFFER_ID);
	}
	/* after the reset the old chain is gone: pushing it is a device bug */
	CHECK_EQ(vq_push(&f->vq, &c, 0), -EINVAL);
	CHECK_EQ(diag_count(&f->log, DIAG_VQ_PUSH_INVALID), 1);
	vq_chain_release(&c);
	fx_close(f);
}

/* Ring memory refused after setup is a guest error (DIAG_VQ_RING_ADDR). */
static void test_bad_ring_memory(void)
{
	struct fx *f;
	struct vq_chain c;
	const uint64_t table = 0x300000;
	uint16_t u;
	int ret;

	/* avail idx */
	f = fx_open(8, 0);
	set_fault(f, AVAIL + 2, 2, GM_ACCESS_READ);
	expect_pop_error(f, -EFAULT, DIAG_VQ_RING_ADDR);
	/* avail ring entry */
	reset_counts(f);
	put_desc(f, 0, BUF, 4, 0, 0);
	offer(f, 0);
	set_fault(f, AVAIL + 4 + 2 * ((f->avail_idx - 1) % 8), 2, GM_ACCESS_READ);
	expect_pop_error(f, -EFAULT, DIAG_VQ_RING_ADDR);
	/* a descriptor */
	reset_counts(f);
	put_desc(f, 0, BUF, 4, VIRTQ_DESC_F_NEXT, 5);
	offer(f, 0);
	set_fault(f, DESC + 16 * 5, 16, GM_ACCESS_READ);
	expect_pop_error(f, -EFAULT, DIAG_VQ_RING_ADDR);
	/* vq_pending's read of avail idx */
	reset_counts(f);
	set_fault(f, AVAIL + 2, 2, GM_ACCESS_READ);
	CHECK(!vq_pending(&f->vq));
	expect_broken(f, -EFAULT, -EFAULT, DIAG_VQ_RING_ADDR);
	/* used element write, then used idx write */
	reset_counts(f);
	put_desc(f, 0, BUF, 4, 0, 0);
	offer(f, 0);
	CHECK_EQ(vq_pop(&f->vq, &c), 1);
	u = used_idx(f);
	set_fault(f, USED + 4 + 8 * (u % 8), 8, GM_ACCESS_WRITE);
	ret = vq_push(&f->vq, &c, 0);
	CHECK_EQ(f->vq.inflight, 0);
	CHECK_EQ(used_idx(f), u);
	expect_broken(f, ret, -EFAULT, DIAG_VQ_RING_ADDR);
	reset_counts(f);
	put_desc(f, 0, BUF, 4, 0, 0);
	offer(f, 0);
	CHECK_EQ(vq_pop(&f->vq, &c), 1);
	u = used_idx(f);
	w16(f, USED + 4 + 8 * (u % 8), 0xeeee);
	set_fault(f, USED + 2, 2, GM_ACCESS_WRITE);
	ret = vq_push(&f->vq, &c, 0);
	CHECK_EQ(used_idx(f), u); /* entry written, index not moved */
	CHECK_EQ(used_id(f, u), 0);
	expect_broken(f, ret, -EFAULT, DIAG_VQ_RING_ADDR);
	/* avail flags read when deciding on an interrupt */
	reset_counts(f);
	put_desc(f, 0, BUF, 4, 0, 0);
	offer(f, 0);
	pop_push(f, 0, 0);
	set_fault(f, AVAIL, 2, GM_ACCESS_READ);
	CHECK(vq_should_notify(&f->vq)); /* the pushed entry still deserves one */
	expect_broken(f, -EFAULT, -EFAULT, DIAG_VQ_RING_ADDR);
	/* used flags write */
	reset_counts(f);
	set_fault(f, USED, 2, GM_ACCESS_WRITE);
	CHECK(!vq_set_notify(&f->vq, false));
	expect_broken(f, -EFAULT, -EFAULT, DIAG_VQ_RING_ADDR);
	fx_close(f);

	/* indirect table entry (the table range is RAM, the source refuses) */
	f = fx_open(8, VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC));
	put_desc(f, 0, table, 32, VIRTQ_DESC_F_INDIRECT, 0);
	put_desc_at(f, table, 0, BUF, 4, VIRTQ_DESC_F_NEXT, 1);
	offer(f, 0);
	set_fault(f, table + 16, 16, GM_ACCESS_READ);
	expect_pop_error(f, -EFAULT, DIAG_VQ_DESC_ADDR);
	fx_close(f);

	/* EVENT_IDX fields: avail_event write on pop, used_event read, avail_event
	 * write on enable */
	f = fx_open(8, VIRTIO_BIT(VIRTIO_F_EVENT_IDX));
	put_desc(f, 0, BUF, 4, 0, 0);
	offer(f, 0);
	set_fault(f, avail_event_gpa(f), 2, GM_ACCESS_WRITE);
	expect_pop_error(f, -EFAULT, DIAG_VQ_RING_ADDR);
	CHECK_EQ(f->vq.inflight, 0);
	reset_counts(f);
	put_desc(f, 0, BUF, 4, 0, 0);
	offer(f, 0);
	pop_push(f, 0, 0);
	set_fault(f, used_event_gpa(f), 2, GM_ACCESS_READ);
	CHECK(vq_should_notify(&f->vq));
	expect_broken(f, -EFAULT, -EFAULT, DIAG_VQ_RING_ADDR);
	reset_counts(f);
	set_fault(f, avail_event_gpa(f), 2, GM_ACCESS_WRITE);
	CHECK(!vq_set_notify(&f->vq, true));
	expect_broken(f, -EFAULT, -EFAULT, DIAG_VQ_RING_ADDR);
	fx_close(f);
}

/* ---- completion ---- */

static void test_push_len_clamp(void)
{
	struct fx *f = fx_open(8, 0);
	struct vq_chain c;

	put_desc(f, 0, BUF, 10, VIRTQ_DESC_F_NEXT, 1);
	put_desc(f, 1, BUF + 100, 50, VIRTQ_DESC_F_WRITE, 0);
	offer(f, 0);
	CHECK_EQ(vq_pop(&f->vq, &c), 1);
	CHECK_EQ(vq_push(&f->vq, &c, 51), 0);
	CHECK_EQ(used_len(f, 0), 50);
	CHECK_EQ(diag_count(&f->log, DIAG_VQ_USED_LEN), 1);
	CHECK_EQ(diag_class_of(DIAG_VQ_USED_LEN), DIAG_CLASS_DEVICE);
	CHECK(!f->vq.broken);
	CHECK_EQ(f->errors, 0);

	/* a read-only chain: any len is clamped to 0 */
	put_desc(f, 2, BUF, 10, 0, 0);
	offer(f, 2);
	CHECK_EQ(vq_pop(&f->vq, &c), 1);
	CHECK_EQ(vq_push(&f->vq, &c, 0xffffffff), 0);
	CHECK_EQ(used_len(f, 1), 0);
	CHECK_EQ(diag_count(&f->log, DIAG_VQ_USED_LEN), 2);
	CHECK_EQ(f->vq.stats.pushed, 2);
	fx_close(f);
}

static void test_push_invalid(void)
{
	struct fx *f = fx_open(8, 0);
	struct vq_chain c, copy;

	put_desc(f, 4, BUF, 10, VIRTQ_DESC_F_WRITE, 0);
	offer(f, 4);
	CHECK_EQ(vq_pop(&f->vq, &c), 1);
	copy = c;
	CHECK_EQ(vq_push(&f->vq, &c, 10), 0);
	/* the same chain again */
	CHECK_EQ(vq_push(&f->vq, &copy, 10), -EINVAL);
	CHECK_EQ(diag_count(&f->log, DIAG_VQ_PUSH_INVALID), 1);
	CHECK_EQ(diag_class_of(DIAG_VQ_PUSH_INVALID), DIAG_CLASS_DEVICE);
	/* an id beyond the queue, never popped */
	copy.id = 8;
	CHECK_EQ(vq_push(&f->vq, &copy, 0), -EINVAL);
	copy.id = 0xffff;
	CHECK_EQ(vq_push(&f->vq, &copy, 0), -EINVAL);
	CHECK_EQ(diag_count(&f->log, DIAG_VQ_PUSH_INVALID), 3);
	CHECK_EQ(used_idx(f), 1);
	CHECK_EQ(f->vq.stats.pushed, 1);
	/* a device bug does not break the queue */
	CHECK(!f->vq.broken);
	CHECK_EQ(f->errors, 0);
	put_desc(f, 4, BUF, 10, 0, 0);
	offer(f, 4);
	pop_push(f, 4, 0);
	fx_close(f);
}

static void test_push_broken(void)
{
	struct fx *f = fx_open(64, 0);
	struct vq_chain c, big, stale;
	unsigned i;

	put_desc(f, 0, BUF, 10, 0, 0);
	offer(f, 0);
	for (i = 0; i < 20; i++)
		put_desc(f, 10 + i, BUF, 1, i < 19 ? VIRTQ_DESC_F_NEXT : 0, (uint16_t)(11 + i));
	offer(f, 10);
	CHECK_EQ(vq_pop(&f->vq, &c), 1);
	CHECK_EQ(vq_pop(&f->vq, &big), 1);
	CHECK(big.heap != NULL);
	stale = c;
	stale.id = 1; /* not in flight */
	/* the guest breaks the queue */
	offer(f, 64);
	{
		struct vq_chain x;

		CHECK_EQ(vq_pop(&f->vq, &x), -EINVAL);
	}
	CHECK(f->vq.broken);
	/* completing in-flight chains on a broken queue: -EIO, segments freed
	 * (ASan would report the leak otherwise), nothing written */
	CHECK_EQ(vq_push(&f->vq, &c, 0), -EIO);
	CHECK_EQ(vq_push(&f->vq, &big, 0), -EIO);
	CHECK(big.heap == NULL);
	CHECK_EQ(vq_push(&f->vq, &stale, 0), -EIO);
	CHECK_EQ(f->vq.inflight, 0);
	CHECK_EQ(used_idx(f), 0);
	CHECK_EQ(diag_count(&f->log, DIAG_VQ_PUSH_INVALID), 0);
	fx_close(f);
}

static void test_release_and_reset(void)
{
	struct fx *f = fx_open(32, 0);
	struct vq_chain c;
	unsigned i;

	for (i = 0; i < 20; i++)
		put_desc(f, i, BUF, 1, i < 19 ? VIRTQ_DESC_F_NEXT : 0, (uint16_t)(i + 1));
	offer(f, 0);
	CHECK_EQ(vq_pop(&f->vq, &c), 1);
	CHECK(c.heap != NULL);
	/* a device reset drops chains it holds */
	vq_chain_release(&c);
	CHECK(c.heap == NULL);
	CHECK_EQ(c.nsegs, 0);
	vq_chain_release(&c); /* harmless twice */
	vq_reset(&f->vq);
	CHECK(!f->vq.ready);
	CHECK_EQ(f->vq.inflight, 0);
	CHECK_EQ(f->vq.stats.popped, 0);
	CHECK(f->vq.gm == &f->gm && f->vq.log == &f->log && f->vq.qidx == 3);
	CHECK_EQ(vq_pop(&f->vq, &c), -EIO);
	/* the queue comes back from index 0 */
	clear_rings(f);
	CHECK_EQ(vq_setup(&f->vq, &f->cfg), 0);
	put_desc(f, 0, BUF, 1, 0, 0);
	offer(f, 0);
	pop_push(f, 0, 0);
	/* setup over a ready queue starts it afresh too */
	CHECK_EQ(vq_setup(&f->vq, &f->cfg), 0);
	CHECK_EQ(f->vq.last_avail, 0);
	CHECK_EQ(f->vq.used_idx, 0);
	CHECK_EQ(f->vq.stats.popped, 1); /* statistics survive setup */
	fx_close(f);
}

/* ---- notifications ---- */

static void test_no_interrupt(void)
{
	struct fx *f = fx_open(8, 0);

	/* nothing completed yet: first decision follows flags */
	put_desc(f, 0, BUF, 1, 0, 0);
	offer(f, 0);
	pop_push(f, 0, 0);
	CHECK(vq_should_notify(&f->vq));
	/* nothing new since the last decision */
	CHECK(!vq_should_notify(&f->vq));
	w16(f, AVAIL, VIRTQ_AVAIL_F_NO_INTERRUPT);
	offer(f, 0);
	pop_push(f, 0, 0);
	CHECK(!vq_should_notify(&f->vq));
	w16(f, AVAIL, 0);
	offer(f, 0);
	pop_push(f, 0, 0);
	CHECK(vq_should_notify(&f->vq));
	/* without EVENT_IDX, used_event is ignored */
	w16(f, used_event_gpa(f), 100);
	offer(f, 0);
	pop_push(f, 0, 0);
	CHECK(vq_should_notify(&f->vq));
	CHECK_EQ(f->vq.stats.notified, 3);
	CHECK_EQ(f->vq.stats.suppressed, 2);
	fx_close(f);
}

static void test_event_idx_wrap(void)
{
	struct fx *f = fx_open(2, VIRTIO_BIT(VIRTIO_F_EVENT_IDX));
	unsigned i;

	put_desc(f, 0, BUF, 1, 0, 0);
	w16(f, used_event_gpa(f), 65535);
	for (i = 0; i < 65534; i++) {
		offer(f, 0);
		pop_push(f, 0, 0);
		if (check_failures)
			break;
	}
	CHECK_EQ(f->vq.used_idx, 65534);
	/* first decision: the old index is unknown, so notify */
	CHECK(vq_should_notify(&f->vq));
	/* 65534 -> 65535: entry 65534 written, used_event 65535 not reached */
	offer(f, 0);
	pop_push(f, 0, 0);
	CHECK(!vq_should_notify(&f->vq));
	/* 65535 -> 0: entry 65535 = used_event written (virtio-v1.2 2.7.7.2) */
	offer(f, 0);
	pop_push(f, 0, 0);
	CHECK_EQ(f->vq.used_idx, 0);
	CHECK(vq_should_notify(&f->vq));
	/* 0 -> 1 with the same used_event: no */
	offer(f, 0);
	pop_push(f, 0, 0);
	CHECK(!vq_should_notify(&f->vq));
	/* used_event 0 lies behind us now: no until 2^16 more */
	w16(f, used_event_gpa(f), 0);
	offer(f, 0);
	pop_push(f, 0, 0);
	CHECK(!vq_should_notify(&f->vq));
	/* a batch crossing used_event: 2 -> 4 with used_event 3 */
	w16(f, used_event_gpa(f), 3);
	offer(f, 0);
	pop_push(f, 0, 0);
	offer(f, 0);
	pop_push(f, 0, 0);
	CHECK_EQ(f->vq.used_idx, 4);
	CHECK(vq_should_notify(&f->vq));
	/* a batch stopping short of it: 4 -> 6 with used_event 6 */
	w16(f, used_event_gpa(f), 6);
	offer(f, 0);
	pop_push(f, 0, 0);
	offer(f, 0);
	pop_push(f, 0, 0);
	CHECK(!vq_should_notify(&f->vq));
	CHECK(!vq_should_notify(&f->vq)); /* nothing new */
	/* EVENT_IDX ignores NO_INTERRUPT (2.7.7.2) */
	w16(f, AVAIL, VIRTQ_AVAIL_F_NO_INTERRUPT);
	offer(f, 0);
	pop_push(f, 0, 0);
	CHECK(vq_should_notify(&f->vq)); /* 6 -> 7 passes 6 */
	CHECK_EQ(f->log.total, 0);
	fx_close(f);

	/* the same arithmetic across the wrap with a batch: 65534 -> 1 */
	f = fx_open(4, VIRTIO_BIT(VIRTIO_F_EVENT_IDX));
	for (i = 0; i < 4; i++)
		put_desc(f, i, BUF, 1, 0, 0);
	for (i = 0; i < 65534; i++) {
		offer(f, (uint16_t)(i % 4));
		pop_push(f, (uint16_t)(i % 4), 0);
		if (check_failures)
			break;
	}
	CHECK(vq_should_notify(&f->vq));
	w16(f, used_event_gpa(f), 0);
	for (i = 0; i < 3; i++) {
		offer(f, (uint16_t)i);
		pop_push(f, (uint16_t)i, 0);
	}
	CHECK_EQ(f->vq.used_idx, 1);
	CHECK(vq_should_notify(&f->vq)); /* entry 0 was written */
	w16(f, used_event_gpa(f), 65535);
	for (i = 0; i < 3; i++) {
		offer(f, (uint16_t)i);
		pop_push(f, (uint16_t)i, 0);
	}
	CHECK(!vq_should_notify(&f->vq)); /* 1 -> 4 does not reach 65535 */
	fx_close(f);
}

static void test_set_notify(void)
{
	struct fx *f = fx_open(8, 0);

	/* without EVENT_IDX: used->flags */
	CHECK(!vq_set_notify(&f->vq, false));
	CHECK_EQ(r16(f, USED), VIRTQ_USED_F_NO_NOTIFY);
	CHECK(!vq_set_notify(&f->vq, true));
	CHECK_EQ(r16(f, USED), 0);
	/* enabling reports chains published meanwhile */
	CHECK(!vq_set_notify(&f->vq, false));
	put_desc(f, 0, BUF, 1, 0, 0);
	offer(f, 0);
	CHECK(vq_set_notify(&f->vq, true));
	CHECK_EQ(r16(f, USED), 0);
	CHECK_EQ(r16(f, avail_event_gpa(f)), 0); /* untouched without EVENT_IDX */
	pop_push(f, 0, 0);
	CHECK(!vq_set_notify(&f->vq, true));
	fx_close(f);

	/* with EVENT_IDX: avail_event, flags stay 0 */
	f = fx_open(8, VIRTIO_BIT(VIRTIO_F_EVENT_IDX));
	put_desc(f, 0, BUF, 1, 0, 0);
	put_desc(f, 1, BUF, 1, 0, 0);
	offer(f, 0);
	pop_push(f, 0, 0);
	CHECK_EQ(r16(f, avail_event_gpa(f)), 1); /* maintained by pop */
	CHECK(!vq_set_notify(&f->vq, false));
	CHECK_EQ(r16(f, USED), 0);
	offer(f, 1);
	offer(f, 0);
	pop_push(f, 1, 0);
	CHECK_EQ(r16(f, avail_event_gpa(f)), 1); /* frozen while disabled */
	CHECK(vq_set_notify(&f->vq, true));       /* one still pending */
	CHECK_EQ(r16(f, avail_event_gpa(f)), 2);
	pop_push(f, 0, 0);
	CHECK_EQ(r16(f, avail_event_gpa(f)), 3);
	CHECK(!vq_set_notify(&f->vq, true));
	CHECK_EQ(r16(f, USED), 0);
	CHECK_EQ(f->log.total, 0);
	fx_close(f);
}

static void test_pending(void)
{
	struct fx *f = fx_open(8, 0);
	struct vq_chain c;

	CHECK(!vq_pending(&f->vq));
	put_desc(f, 0, BUF, 1, 0, 0);
	put_desc(f, 1, BUF, 1, 0, 0);
	offer(f, 0);
	CHECK(vq_pending(&f->vq));
	offer(f, 1);
	CHECK_EQ(vq_pop(&f->vq, &c), 1);
	CHECK(vq_pending(&f->vq)); /* known from the index read by pop */
	CHECK_EQ(vq_push(&f->vq, &c, 0), 0);
	CHECK_EQ(vq_pop(&f->vq, &c), 1);
	CHECK(!vq_pending(&f->vq));
	CHECK_EQ(vq_push(&f->vq, &c, 0), 0);
	fx_close(f);
}

/* ---- IN_ORDER ---- */

static void test_in_order_batch(void)
{
	struct fx *f = fx_open(8, VIRTIO_BIT(VIRTIO_F_IN_ORDER));
	struct vq_chain c[5];
	uint32_t lens[5];
	unsigned i;

	/* in-order driver: heads 0, 1, 2 */
	for (i = 0; i < 8; i++)
		put_desc(f, i, BUF + 64 * i, 64, VIRTQ_DESC_F_WRITE, 0);
	for (i = 0; i < 3; i++)
		stage(f, (uint16_t)i);
	publish(f);
	for (i = 0; i < 3; i++) {
		CHECK_EQ(vq_pop(&f->vq, &c[i]), 1);
		lens[i] = 64;
	}
	CHECK_EQ(vq_push_n(&f->vq, c, lens, 3), 0);
	/* one entry at the batch's first slot: id of the last, used idx += 3
	 * (virtio-v1.2 2.7.9) */
	CHECK_EQ(used_idx(f), 3);
	CHECK_EQ(used_id(f, 0), 2);
	CHECK_EQ(used_len(f, 0), 64);
	CHECK_EQ(used_id(f, 1), 0); /* skipped slots are not written */
	CHECK_EQ(used_len(f, 1), 0);
	CHECK_EQ(f->vq.stats.pushed, 3);
	CHECK_EQ(f->vq.inflight, 0);

	/* a chain not wholly used ends its run: 3,4 | 5 6 7 -> entries for 4
	 * (len 10) and 7 (clamped 64) */
	for (i = 3; i < 8; i++)
		stage(f, (uint16_t)i);
	publish(f);
	for (i = 0; i < 5; i++)
		CHECK_EQ(vq_pop(&f->vq, &c[i]), 1);
	lens[0] = 64;
	lens[1] = 10;
	lens[2] = 64;
	lens[3] = 64;
	lens[4] = 1000;
	CHECK_EQ(vq_push_n(&f->vq, c, lens, 5), 0);
	CHECK_EQ(used_idx(f), 8);
	CHECK_EQ(used_id(f, 3), 4);
	CHECK_EQ(used_len(f, 3), 10);
	CHECK_EQ(used_id(f, 5), 7);
	CHECK_EQ(used_len(f, 5), 64);
	CHECK_EQ(diag_count(&f->log, DIAG_VQ_USED_LEN), 1);

	/* a chain not in flight in the middle: the run before it completes,
	 * the rest stays in flight; a chain given twice is caught too */
	for (i = 0; i < 4; i++)
		stage(f, (uint16_t)i);
	publish(f);
	for (i = 0; i < 4; i++) {
		CHECK_EQ(vq_pop(&f->vq, &c[i]), 1);
		lens[i] = 64;
	}
	c[4] = c[1];
	c[4].id = 6; /* never popped */
	{
		struct vq_chain b[4] = { c[0], c[1], c[4], c[2] };

		CHECK_EQ(vq_push_n(&f->vq, b, lens, 4), -EINVAL);
	}
	CHECK_EQ(diag_count(&f->log, DIAG_VQ_PUSH_INVALID), 1);
	CHECK_EQ(used_idx(f), 10);
	CHECK_EQ(used_id(f, 8), 1);
	CHECK_EQ(f->vq.inflight, 2);
	{
		struct vq_chain b[3] = { c[2], c[2], c[3] };

		CHECK_EQ(vq_push_n(&f->vq, b, lens, 3), -EINVAL); /* c[2] twice */
		CHECK_EQ(used_idx(f), 11);
		CHECK_EQ(used_id(f, 10), 2);
		CHECK_EQ(vq_push_n(&f->vq, &b[2], lens, 1), 0);
		CHECK_EQ(used_idx(f), 12);
	}
	CHECK_EQ(diag_count(&f->log, DIAG_VQ_PUSH_INVALID), 2);
	/* first chain invalid: nothing written */
	CHECK_EQ(vq_push_n(&f->vq, c, lens, 2), -EINVAL);
	CHECK_EQ(used_idx(f), 12);
	CHECK_EQ(vq_push_n(&f->vq, c, lens, 0), 0);
	CHECK_EQ(f->vq.inflight, 0);
	CHECK(!f->vq.broken);
	fx_close(f);
}

static void test_push_n_plain(void)
{
	struct fx *f = fx_open(8, 0);
	struct vq_chain c[3];
	uint32_t lens[3] = { 1, 2, 3 };
	unsigned i;

	for (i = 0; i < 3; i++) {
		put_desc(f, i, BUF, 8, VIRTQ_DESC_F_WRITE, 0);
		stage(f, (uint16_t)i);
	}
	publish(f);
	for (i = 0; i < 3; i++)
		CHECK_EQ(vq_pop(&f->vq, &c[i]), 1);
	/* without IN_ORDER: one entry per chain */
	CHECK_EQ(vq_push_n(&f->vq, c, lens, 3), 0);
	CHECK_EQ(used_idx(f), 3);
	for (i = 0; i < 3; i++) {
		CHECK_EQ(used_id(f, (uint16_t)i), i);
		CHECK_EQ(used_len(f, (uint16_t)i), i + 1);
	}
	/* stops at the first failure */
	CHECK_EQ(vq_push_n(&f->vq, c, lens, 3), -EINVAL);
	CHECK_EQ(diag_count(&f->log, DIAG_VQ_PUSH_INVALID), 1);
	fx_close(f);
}

static void test_push_n_broken(void)
{
	struct fx *f = fx_open(8, VIRTIO_BIT(VIRTIO_F_IN_ORDER));
	struct vq_chain c[4];
	uint32_t lens[4] = { 8, 8, 8, 8 };
	unsigned i;

	for (i = 0; i < 4; i++) {
		put_desc(f, i, BUF, 8, VIRTQ_DESC_F_WRITE, 0);
		stage(f, (uint16_t)i);
	}
	publish(f);
	for (i = 0; i < 4; i++)
		CHECK_EQ(vq_pop(&f->vq, &c[i]), 1);
	/* the used idx store fails during the first run: the whole batch is
	 * dropped, the queue is broken */
	lens[1] = 1;
	set_fault(f, USED + 2, 2, GM_ACCESS_WRITE);
	CHECK_EQ(vq_push_n(&f->vq, c, lens, 4), -EFAULT);
	CHECK(f->vq.broken);
	CHECK_EQ(f->errors, 1);
	CHECK_EQ(f->vq.inflight, 0);
	gm_set_source(&f->gm, NULL, NULL);
	fx_close(f);

	/* the same when the failing run comes before a chain not in flight */
	f = fx_open(8, VIRTIO_BIT(VIRTIO_F_IN_ORDER));
	for (i = 0; i < 4; i++) {
		put_desc(f, i, BUF, 8, VIRTQ_DESC_F_WRITE, 0);
		stage(f, (uint16_t)i);
	}
	publish(f);
	for (i = 0; i < 3; i++)
		CHECK_EQ(vq_pop(&f->vq, &c[i]), 1);
	c[3] = c[0];
	c[3].id = 7;
	{
		struct vq_chain b[4] = { c[0], c[1], c[3], c[2] };

		lens[1] = 8;
		set_fault(f, USED + 4, 8, GM_ACCESS_WRITE);
		CHECK_EQ(vq_push_n(&f->vq, b, lens, 4), -EFAULT);
	}
	CHECK_EQ(f->vq.inflight, 0);
	CHECK_EQ(diag_count(&f->log, DIAG_VQ_PUSH_INVALID), 0);
	gm_set_source(&f->gm, NULL, NULL);
	fx_close(f);

	/* already broken, or broken by a plain push in the middle of n */
	for (int in_order = 0; in_order < 2; in_order++) {
		f = fx_open(8, in_order ? VIRTIO_BIT(VIRTIO_F_IN_ORDER) : 0);
		for (i = 0; i < 4; i++) {
			put_desc(f, i, BUF, 8, VIRTQ_DESC_F_WRITE, 0);
			stage(f, (uint16_t)i);
		}
		publish(f);
		for (i = 0; i < 4; i++)
			CHECK_EQ(vq_pop(&f->vq, &c[i]), 1);
		if (in_order) {
			struct vq_chain x;

			offer(f, 9);
			CHECK_EQ(vq_pop(&f->vq, &x), -EINVAL);
			CHECK(f->vq.broken);
		} else {
			set_fault(f, USED + 4 + 8, 8, GM_ACCESS_WRITE); /* second entry */
		}
		CHECK_EQ(vq_push_n(&f->vq, c, lens, 4), in_order ? -EIO : -EFAULT);
		CHECK_EQ(f->vq.inflight, 0);
		gm_set_source(&f->gm, NULL, NULL);
		fx_close(f);
	}
}

/* vq.c hands IN_ORDER batches of a packed ring to the packed half: one used
 * descriptor (id of the last chain) covering the slots of the whole batch
 * (virtio-v1.2 2.8.1, 2.8.8). */
static void test_push_n_packed(void)
{
	struct fx *f = &F;
	struct vq_chain c[3];
	uint32_t lens[3] = { 0, 0, 0 };
	uint8_t d[16];
	unsigned i;

	fx_arena(f);
	f->cfg = (struct vq_config){ VQ_PACKED, 8, DESC, AVAIL, USED,
				     VIRTIO_BIT(VIRTIO_F_IN_ORDER) };
	clear_rings(f);
	CHECK_EQ(vq_setup(&f->vq, &f->cfg), 0);
	for (i = 0; i < 3; i++) {
		/* {addr, len, id, flags}: available in the first lap (AVAIL = 1,
		 * USED = 0) */
		rs_st64(d, BUF + 16 * i);
		rs_st32(d + 8, 16);
		rs_st16(d + 12, (uint16_t)(10 + i) % 8);
		rs_st16(d + 14, VIRTQ_DESC_F_AVAIL);
		CHECK_EQ(gm_guest_write(&f->gm, DESC + 16 * i, d, 16), 0);
	}
	for (i = 0; i < 3; i++) {
		CHECK_EQ(vq_pop(&f->vq, &c[i]), 1);
		CHECK_EQ(c[i].id, (10 + i) % 8);
	}
	CHECK_EQ(vq_push_n(&f->vq, c, lens, 3), 0);
	CHECK_EQ(f->vq.stats.pushed, 3);
	CHECK_EQ(f->vq.inflight, 0);
	CHECK_EQ(gm_guest_read(&f->gm, DESC, d, 16), 0);
	CHECK_EQ(rs_le16(d + 12), (10 + 2) % 8);
	CHECK_EQ(rs_le16(d + 14) & (VIRTQ_DESC_F_AVAIL | VIRTQ_DESC_F_USED),
		 VIRTQ_DESC_F_AVAIL | VIRTQ_DESC_F_USED);
	CHECK_EQ(f->vq.next_used, 3);
	CHECK_EQ(f->log.total, 0);
	fx_close(f);
}

/* ---- awkward memory layouts ---- */

static void test_awkward_layouts(void)
{
	struct fx *f = &F;
	const uint64_t table = RAM1 + RAM1_SIZE - 32; /* table ends at RAM1's end */
	struct vq_chain c;
	uint16_t num = 16;

	/* whole ring packed against the end of RAM, right before the MMIO
	 * hole: used_event is the last two bytes of RAM, the used ring ends
	 * where the avail ring starts */
	fx_arena(f);
	f->cfg = (struct vq_config){ VQ_SPLIT, num, RAM0_SIZE - 0x1000, 0, 0,
				     VIRTIO_BIT(VIRTIO_F_EVENT_IDX) |
					     VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC) };
	f->cfg.driver = RAM0_SIZE - virtq_avail_size(num);
	f->cfg.device = f->cfg.driver - virtq_used_size(num);
	CHECK_EQ(f->cfg.device % 4, 0);
	CHECK_EQ(used_event_gpa(f), RAM0_SIZE - 2);
	clear_rings(f);
	CHECK_EQ(vq_setup(&f->vq, &f->cfg), 0);
	put_desc(f, 15, BUF, 8, VIRTQ_DESC_F_NEXT, 14);
	put_desc(f, 14, table, 32, VIRTQ_DESC_F_INDIRECT, 0);
	put_desc_at(f, table, 0, RAM2 - 40, 8, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
	put_desc_at(f, table, 1, RAM2, 8, VIRTQ_DESC_F_WRITE, 0); /* next region */
	for (unsigned i = 0; i < 40; i++) {
		offer(f, 15);
		CHECK_EQ(vq_pop(&f->vq, &c), 1);
		CHECK_EQ(c.nsegs, 3);
		CHECK_EQ(vq_push(&f->vq, &c, 16), 0);
		CHECK(vq_should_notify(&f->vq) == (i == 0));
	}
	CHECK_EQ(r16(f, avail_event_gpa(f)), 40);
	CHECK_EQ(f->log.total, 0);

	/* descriptors crossing into the MMIO hole are rejected, as is a
	 * buffer straddling two adjacent RAM regions */
	put_desc(f, 3, MMIO_BASE - 4, 8, 0, 0);
	offer(f, 3);
	expect_pop_error(f, -EINVAL, DIAG_VQ_DESC_ADDR);
	CHECK_EQ(f->gm.stats.mmio_dma, 0); /* rejected before any DMA */
	reset_counts(f);
	put_desc(f, 3, RAM2 - 4, 8, VIRTQ_DESC_F_WRITE, 0);
	offer(f, 3);
	expect_pop_error(f, -EINVAL, DIAG_VQ_DESC_ADDR);
	/* an indirect table running off the end of RAM1 into RAM2 */
	reset_counts(f);
	put_desc(f, 3, table, 48, VIRTQ_DESC_F_INDIRECT, 0);
	offer(f, 3);
	expect_pop_error(f, -EINVAL, DIAG_VQ_DESC_ADDR);
	fx_close(f);

	/* the descriptor table itself running into the hole is refused at
	 * setup; ending right at it is fine */
	fx_arena(f);
	f->cfg = (struct vq_config){ VQ_SPLIT, num, MMIO_BASE - 16 * num + 16, AVAIL, USED, 0 };
	CHECK_EQ(vq_setup(&f->vq, &f->cfg), -EINVAL);
	f->cfg.desc = MMIO_BASE - 16 * num;
	CHECK_EQ(vq_setup(&f->vq, &f->cfg), 0);
	CHECK_EQ(diag_count(&f->log, DIAG_VQ_RING_ADDR), 1);
	fx_close(f);
}

int main(void)
{
	RUN(test_setup_sizes);
	RUN(test_setup_not_ready);
	RUN(test_setup_areas);
	RUN(test_legacy_layout);
	RUN(test_chain_shapes);
	RUN(test_indirect);
	RUN(test_heap_growth);
	RUN(test_wrap);
	RUN(test_avail_full_ring);
	RUN(test_bad_avail_jump);
	RUN(test_bad_head_next);
	RUN(test_bad_loop);
	RUN(test_bad_indirect);
	RUN(test_bad_order_and_addr);
	RUN(test_bad_len_overflow);
	RUN(test_bad_buffer_id);
	RUN(test_bad_ring_memory);
	RUN(test_push_len_clamp);
	RUN(test_push_invalid);
	RUN(test_push_broken);
	RUN(test_release_and_reset);
	RUN(test_no_interrupt);
	RUN(test_event_idx_wrap);
	RUN(test_set_notify);
	RUN(test_pending);
	RUN(test_in_order_batch);
	RUN(test_push_n_plain);
	RUN(test_push_n_broken);
	RUN(test_push_n_packed);
	RUN(test_awkward_layouts);
	return check_done();
}
