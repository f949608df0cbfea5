/*
 * ringside tests — the virtio block device "blk" (devices/blk/) through the
 * reference driver over PCI modern (split and packed rings), PCI legacy, PCI
 * transitional through both interfaces, MMIO v2 and MMIO v1: data written
 * and read back and compared (with the backend's own bytes, and with the
 * image file for the file backend); headers split across descriptors in
 * odd ways; FLUSH, GET_ID, DISCARD and WRITE_ZEROES; every malformed request
 * with its status and a good request after it; read-only mode; the
 * copy-on-write overlay; fault injection; multiqueue; config fields and
 * cache mode; reset; options.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "ringside/blk.h"
#include "ringside/guest_machine.h"
#include "ringside/ringside.h"
#include "ringside/virtio.h"

#define F(b) VIRTIO_BIT(b)
#define F_ALL (~0ull)
#define F_SPLIT (~F(VIRTIO_F_RING_PACKED))
#define DRV_MEM_BASE 0x100000ull
#define DRV_MEM_SIZE (12ull << 20)
#define BUF_SIZE (2u << 20)
#define GAP 64u
#define FILL 0xee
#define SECTOR 512u
#define HDR VIRTIO_BLK_REQ_HDR_SIZE

/* ---- environment ---------------------------------------------------------------------------- */

struct env {
	struct machine *m;
	struct gdrv_io io;
	struct gdrv_mem mem;
	struct gdrv_dev *d;
	struct vdev *dev;
	uint64_t rbuf, wbuf;   /* readable / writable staging areas, BUF_SIZE each */
	uint64_t token;
};

/* Build spec (one blk device) and open it (PCI: through the legacy
 * interface when use_legacy). */
static bool env_open(struct env *e, const char *spec, bool use_legacy)
{
	char err[256];

	memset(e, 0, sizeof *e);
	if (rs_machine_new(spec, &e->m, err, sizeof err) < 0) {
		fprintf(stderr, "rs_machine_new(%s): %s\n", spec, err);
		CHECK(!"machine");
		return false;
	}
	CHECK_EQ(e->m->ndevs, 1);
	e->dev = e->m->devs[0];
	CHECK(blk_is(e->dev));
	gdrv_machine_io(&e->io, e->m);
	e->mem.next = DRV_MEM_BASE;
	e->mem.end = DRV_MEM_BASE + DRV_MEM_SIZE;
	e->d = calloc(1, sizeof *e->d);
	e->rbuf = gdrv_alloc(&e->io, &e->mem, BUF_SIZE, 4096);
	e->wbuf = gdrv_alloc(&e->io, &e->mem, BUF_SIZE, 4096);
	CHECK(e->rbuf && e->wbuf);

	struct machine_devinfo *di = &e->m->devinfo[0];
	if (di->transport == MSPEC_MMIO || di->transport == MSPEC_MMIO_LEGACY) {
		CHECK_EQ(gdrv_open_mmio(e->d, &e->io, &e->mem, di->base), 0);
	} else {
		struct gdrv_pci_info info[4];
		unsigned n = gdrv_pci_scan(&e->io, info, 4);

		CHECK_EQ(n, 1);
		if (n != 1)
			return false;
		CHECK_EQ(gdrv_open_pci(e->d, &e->io, &e->mem, &info[0], use_legacy), 0);
		/* virtio-v1.2 4.1.2.1: 0x1040 + 2 modern-only, 0x1001 transitional */
		CHECK_EQ(info[0].device, di->transport == MSPEC_PCI_MODERN ? 0x1042 : 0x1001);
		CHECK_EQ(info[0].vendor, 0x1af4);
	}
	CHECK_EQ(e->d->device_id, VIRTIO_ID_BLOCK);
	return true;
}

/* Negotiate want, set up nq queues of qsize, DRIVER_OK. */
static bool env_up(struct env *e, uint64_t want, unsigned nq, uint16_t qsize)
{
	if (gdrv_init(e->d, want) != 0) {
		CHECK(!"gdrv_init");
		return false;
	}
	for (unsigned q = 0; q < nq; q++)
		CHECK_EQ(gdrv_setup_vq(e->d, q, qsize), 0);
	gdrv_driver_ok(e->d);
	CHECK(gdrv_get_status(e->d) & VIRTIO_STATUS_DRIVER_OK);
	return e->d->nqueues == nq;
}

static bool env_start(struct env *e, const char *spec, bool use_legacy, uint64_t want)
{
	if (!env_open(e, spec, use_legacy))
		return false;
	return env_up(e, want, 1, 64);
}

static void env_close(struct env *e)
{
	rs_machine_free(e->m);
	free(e->d);
	memset(e, 0, sizeof *e);
}

/* The device never needed a reset and nothing but what is expected was
 * reported. */
static void env_check_healthy(struct env *e)
{
	CHECK(!(gdrv_get_status(e->d) & VIRTIO_STATUS_NEEDS_RESET));
	CHECK_EQ(diag_count(&e->dev->log, DIAG_NEEDS_RESET), 0);
	CHECK_EQ(diag_count_class(&e->dev->log, DIAG_CLASS_DEVICE), 0);
}

static const struct blk_stats *stats(struct env *e)
{
	return blk_get_stats(e->dev);
}

/* Byte i of test pattern seed. */
static uint8_t pat(unsigned seed, uint64_t i)
{
	return (uint8_t)(seed * 131u + i * 7u + (i >> 9) * 13u + 1u);
}

static void pattern(uint8_t *buf, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = pat(seed, i);
}

/* ---- one request ---------------------------------------------------------------------------- */

/*
 * A request: header (type, ioprio, sector), readable data after it and
 * writable data before the status. rs/ws give the descriptor lengths of the
 * readable part (header + out) and of the writable part (in + status);
 * NULL means one descriptor for the header, one for data (if any), one for
 * the status. Pieces are placed GAP bytes apart so nothing can rely on
 * contiguity. hdr_len < 16 sends a truncated header (and no data).
 */
struct rq {
	uint32_t type;
	uint32_t ioprio;
	uint64_t sector;
	const void *out;
	uint32_t out_len;
	uint32_t in_len;
	const uint32_t *rs;
	unsigned nrs;
	const uint32_t *ws;
	unsigned nws;
	unsigned q;
	bool indirect;
	int hdr_len;          /* 0: 16 */
	/* results */
	uint32_t used;
	void *in;             /* if set: receives the in_len data bytes */
};

static uint8_t rq_run(struct env *e, struct rq *r)
{
	uint32_t hl = r->hdr_len ? (uint32_t)r->hdr_len : HDR;
	uint32_t rlen = hl + (hl == HDR ? r->out_len : 0), wlen = r->in_len + 1;
	uint32_t rdef[2] = { hl, rlen - hl }, wdef[2] = { r->in_len, 1 };
	const uint32_t *rs = r->rs ? r->rs : rdef, *ws = r->ws ? r->ws : wdef;
	unsigned nrs = r->rs ? r->nrs : (rdef[1] ? 2 : 1), nws = r->ws ? r->nws : 2;
	struct gdrv_buf b[40];
	unsigned nb = 0, nout;
	uint8_t *rb = malloc(rlen + HDR), *wb = malloc(wlen);
	uint32_t sum = 0, pos = 0;
	struct gdrv_vq *vq = &e->d->vq[r->q];
	uint64_t tok = 0, want = ++e->token;
	uint8_t status = 0xff;

	if (!r->ws && !r->in_len) {
		ws = &wdef[1];
		nws = 1;
	}
	uint8_t full[HDR];
	rs_st32(full, r->type);
	rs_st32(full + 4, r->ioprio);
	rs_st64(full + 8, r->sector);
	memcpy(rb, full, hl);
	if (hl == HDR && r->out_len)
		memcpy(rb + HDR, r->out, r->out_len);
	for (unsigned i = 0; i < nrs; i++) {
		uint64_t gpa = e->rbuf + pos + (uint64_t)i * GAP;
		e->io.mem_write(e->io.ctx, gpa, rb + sum, rs[i]);
		b[nb].gpa = gpa;
		b[nb++].len = rs[i];
		sum += rs[i];
		pos += rs[i];
	}
	CHECK_EQ(sum, rlen);
	nout = nb;
	memset(wb, FILL, wlen);
	sum = pos = 0;
	for (unsigned i = 0; i < nws; i++) {
		uint64_t gpa = e->wbuf + pos + (uint64_t)i * GAP;
		e->io.mem_write(e->io.ctx, gpa, wb, ws[i]);
		b[nb].gpa = gpa;
		b[nb++].len = ws[i];
		sum += ws[i];
		pos += ws[i];
	}
	CHECK_EQ(sum, wlen);
	CHECK_EQ(gdrv_submit(vq, b, nout, nb - nout, want, r->indirect), 0);
	gdrv_kick(vq);
	r->used = UINT32_MAX;
	if (gdrv_get_used(vq, &tok, &r->used) == 1) {
		CHECK_EQ(tok, want);
		sum = 0;
		for (unsigned i = nout; i < nb; i++) {
			e->io.mem_read(e->io.ctx, b[i].gpa, wb + sum, b[i].len);
			sum += b[i].len;
		}
		status = wb[wlen - 1];
		if (r->in)
			memcpy(r->in, wb, r->in_len);
	} else {
		CHECK(!"request not completed");
	}
	free(rb);
	free(wb);
	return status;
}

static uint8_t blk_write_q(struct env *e, unsigned q, uint64_t sector, const void *data,
			   uint32_t len)
{
	struct rq r = { .type = VIRTIO_BLK_T_OUT, .sector = sector, .out = data, .out_len = len,
			.q = q };
	uint8_t s = rq_run(e, &r);

	CHECK_EQ(r.used, 1);
	return s;
}

static uint8_t blk_read_q(struct env *e, unsigned q, uint64_t sector, void *data, uint32_t len)
{
	struct rq r = { .type = VIRTIO_BLK_T_IN, .sector = sector, .in_len = len, .in = data,
			.q = q };
	uint8_t s = rq_run(e, &r);

	if (s == VIRTIO_BLK_S_OK)
		CHECK_EQ(r.used, len + 1);
	return s;
}

static uint8_t blk_write(struct env *e, uint64_t sector, const void *data, uint32_t len)
{
	return blk_write_q(e, 0, sector, data, len);
}

static uint8_t blk_read(struct env *e, uint64_t sector, void *data, uint32_t len)
{
	return blk_read_q(e, 0, sector, data, len);
}

static uint8_t blk_simple(struct env *e, uint32_t type, uint64_t sector)
{
	struct rq r = { .type = type, .sector = sector };
	uint8_t s = rq_run(e, &r);

	CHECK_EQ(r.used, 1);
	return s;
}

/* A good write + read round trip of one sector at sector s must work. */
static void still_serving(struct env *e, uint64_t s)
{
	uint8_t a[SECTOR], b[SECTOR];

	pattern(a, sizeof a, (unsigned)s + 77);
	CHECK_EQ(blk_write(e, s, a, sizeof a), VIRTIO_BLK_S_OK);
	memset(b, 0, sizeof b);
	CHECK_EQ(blk_read(e, s, b, sizeof b), VIRTIO_BLK_S_OK);
	CHECK(memcmp(a, b, sizeof a) == 0);
}

/* Read len bytes at byte off straight from the device's backend (through
 * the machine's world, as the device would). */
static void backend_read(struct env *e, uint64_t off, void *buf, size_t len)
{
	struct world_io io = { .op = WIO_READ, .off = off, .buf = buf, .len = len };

	CHECK_EQ(world_io(e->m->world, blk_backend(e->dev), &io), (int64_t)len);
}

/* A discard / write-zeroes request with n segments {sector, num, flags}. */
static uint8_t dwz(struct env *e, uint32_t type, const uint64_t (*segs)[3], unsigned n)
{
	uint8_t buf[64 * VIRTIO_BLK_DWZ_SEG_SIZE];
	struct rq r = { .type = type, .out = buf, .out_len = n * VIRTIO_BLK_DWZ_SEG_SIZE };

	for (unsigned i = 0; i < n; i++) {
		rs_st64(buf + 16 * i, segs[i][0]);
		rs_st32(buf + 16 * i + 8, (uint32_t)segs[i][1]);
		rs_st32(buf + 16 * i + 12, (uint32_t)segs[i][2]);
	}
	uint8_t s = rq_run(e, &r);

	CHECK_EQ(r.used, 1);
	return s;
}

/* A mem backend over a fresh 1 MiB all-zero base. */
static int mem_zero(struct world_backend **out)
{
	struct blk_mem_base *base;
	char err[128];
	int r = blk_mem_base_new(NULL, 1 << 20, &base, err, sizeof err);

	if (r < 0)
		return r;
	r = blk_mem_new(base, out);
	blk_mem_base_put(base);
	return r;
}

static bool all_zero(const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

/* ---- I/O over every transport ---------------------------------------------------------------- */

/* Round trips of several shapes, data compared with what was written and
 * with the backend's bytes; GET_ID; FLUSH. */
static void io_suite(struct env *e)
{
	static const uint32_t lens[] = { 512, 4096, 3 * 512, 64 << 10, 200 << 10 };
	bool ind = e->d->features & F(VIRTIO_F_INDIRECT_DESC);
	uint8_t *a = malloc(256 << 10), *b = malloc(256 << 10);
	uint64_t sector = 8;

	for (unsigned i = 0; i < RS_ARRAY_SIZE(lens); i++) {
		pattern(a, lens[i], i + 1);
		CHECK_EQ(blk_write(e, sector, a, lens[i]), VIRTIO_BLK_S_OK);
		memset(b, 0, lens[i]);
		CHECK_EQ(blk_read(e, sector, b, lens[i]), VIRTIO_BLK_S_OK);
		CHECK(memcmp(a, b, lens[i]) == 0);
		memset(b, 0, lens[i]);
		backend_read(e, sector * SECTOR, b, lens[i]);
		CHECK(memcmp(a, b, lens[i]) == 0);
		sector += lens[i] / SECTOR + 3;
	}

	/* multi-segment requests, direct and indirect */
	for (unsigned k = 0; k < (ind ? 2u : 1u); k++) {
		static const uint32_t rs[] = { HDR, 512, 1024, 512 };
		static const uint32_t ws[] = { 1024, 512, 2048, 512, 1 };
		pattern(a, 2048, 40 + k);
		struct rq w = { .type = VIRTIO_BLK_T_OUT, .sector = 100, .out = a, .out_len = 2048,
				.rs = rs, .nrs = 4, .indirect = k == 1 };
		CHECK_EQ(rq_run(e, &w), VIRTIO_BLK_S_OK);
		CHECK_EQ(w.used, 1);
		pattern(a + 2048, 2048, 50 + k);
		CHECK_EQ(blk_write(e, 104, a + 2048, 2048), VIRTIO_BLK_S_OK);
		memset(b, 0, 4096);
		struct rq rd = { .type = VIRTIO_BLK_T_IN, .sector = 100, .in_len = 4096, .in = b,
				 .ws = ws, .nws = 5, .indirect = k == 1 };
		CHECK_EQ(rq_run(e, &rd), VIRTIO_BLK_S_OK);
		CHECK_EQ(rd.used, 4097);
		CHECK(memcmp(a, b, 4096) == 0);
	}

	/* GET_ID: the default serial, NUL padded */
	char id[VIRTIO_BLK_ID_BYTES + 1] = { 0 };
	struct rq g = { .type = VIRTIO_BLK_T_GET_ID, .in_len = VIRTIO_BLK_ID_BYTES, .in = id };
	CHECK_EQ(rq_run(e, &g), VIRTIO_BLK_S_OK);
	CHECK_EQ(g.used, VIRTIO_BLK_ID_BYTES + 1);
	CHECK(strcmp(id, "ringside-blk0") == 0);
	CHECK(all_zero((uint8_t *)id + 13, 7));

	uint64_t fl = stats(e)->flushes;
	CHECK_EQ(blk_simple(e, VIRTIO_BLK_T_FLUSH, 0), VIRTIO_BLK_S_OK);
	CHECK_EQ(stats(e)->flushes, fl + 1);
	free(a);
	free(b);
}

static void transport_case(const char *spec, bool use_legacy, uint64_t want, bool expect_legacy)
{
	struct env e;

	if (!env_open(&e, spec, use_legacy))
		return;
	uint64_t offered = gdrv_device_features(e.d);
	uint64_t f = F(VIRTIO_BLK_F_SIZE_MAX) | F(VIRTIO_BLK_F_SEG_MAX) |
		     F(VIRTIO_BLK_F_GEOMETRY) | F(VIRTIO_BLK_F_BLK_SIZE) | F(VIRTIO_BLK_F_FLUSH) |
		     F(VIRTIO_BLK_F_TOPOLOGY) | F(VIRTIO_BLK_F_CONFIG_WCE) | F(VIRTIO_BLK_F_MQ) |
		     F(VIRTIO_BLK_F_DISCARD) | F(VIRTIO_BLK_F_WRITE_ZEROES);
	/* the default options: everything but RO; never the legacy BARRIER/SCSI */
	CHECK_EQ(offered & 0xffffffull, f);
	CHECK(env_up(&e, want, 1, 64));
	CHECK_EQ(e.dev->legacy, expect_legacy);
	CHECK_EQ(gdrv_config_read(e.d, VIRTIO_BLK_CFG_CAPACITY, 8), (8u << 20) / SECTOR);
	io_suite(&e);
	CHECK(e.m->intx_raised + e.m->msi_count > 0);
	CHECK_EQ(e.dev->log.total, 0);
	if (e.dev->log.total)
		fprintf(stderr, "blk: %s\n", diag_last(&e.dev->log)->msg);
	CHECK_EQ(stats(&e)->ioerr + stats(&e)->unsupp, 0);
	env_close(&e);
}

static void test_pci_modern(void)
{
	transport_case("mem=16M pci-modern:blk", false, F_SPLIT, false);
}

static void test_pci_modern_packed(void)
{
	transport_case("mem=16M pci-modern:blk", false, F_ALL, false);
}

static void test_pci_legacy(void)
{
	transport_case("mem=16M pci-legacy:blk", true, F_ALL, true);
}

static void test_pci_transitional(void)
{
	transport_case("mem=16M pci:blk", false, F_ALL, false);
	transport_case("mem=16M pci:blk", true, F_ALL, true);
}

static void test_mmio(void)
{
	transport_case("mem=16M mmio:blk", false, F_SPLIT, false);
	transport_case("mem=16M mmio:blk", false, F_ALL, false);
	transport_case("mem=16M mmio-legacy:blk", false, F_ALL, true);
}

/* Without INDIRECT_DESC and EVENT_IDX, no ANY_LAYOUT either (legacy). */
static void test_minimal_features(void)
{
	transport_case("mem=16M pci-legacy:blk", true, 0, true);
	transport_case("mem=16M pci-modern:blk", false, 0, false);
}

/* ---- framing ------------------------------------------------------------------------------------ */

/* The header, data and status split across descriptors in odd ways: the
 * device parses by cursor, whatever the framing. */
static void test_odd_framing(void)
{
	struct env e;
	uint8_t a[2048], b[2048];

	if (!env_start(&e, "mem=16M pci-modern:blk", false, F_ALL))
		return;
	static const uint32_t r1[] = { 1, 15, 1024 };           /* header 1 + 15 */
	static const uint32_t r2[] = { 3, 5, 8, 1024 };         /* header 3 + 5 + 8 */
	static const uint32_t r3[] = { HDR + 1024 };            /* header and data together */
	static const uint32_t r4[] = { 7, 9 + 100, 924 };       /* data starts mid-descriptor */
	static const uint32_t r5[] = { 0, HDR, 0, 1024, 0 };    /* empty descriptors */
	static const uint32_t r6[] = { 2, 2, 2, 2, 2, 2, 2, 2, 512, 1, 511 };
	static const struct {
		const uint32_t *rs;
		unsigned n;
	} rcase[] = { { r1, 3 }, { r2, 4 }, { r3, 1 }, { r4, 3 }, { r5, 5 }, { r6, 11 } };
	static const uint32_t w1[] = { 1025 };                  /* data and status together */
	static const uint32_t w2[] = { 511, 514 };              /* status at the end of data */
	static const uint32_t w3[] = { 1024, 1, 0 };            /* empty descriptor after status */
	static const uint32_t w4[] = { 1, 1, 1, 1021, 1 };
	static const struct {
		const uint32_t *ws;
		unsigned n;
	} wcase[] = { { w1, 1 }, { w2, 2 }, { w3, 3 }, { w4, 5 } };

	for (unsigned i = 0; i < RS_ARRAY_SIZE(rcase); i++) {
		for (unsigned ind = 0; ind < 2; ind++) {
			pattern(a, 1024, 60 + i);
			struct rq w = { .type = VIRTIO_BLK_T_OUT, .sector = 16 + i * 2, .out = a,
					.out_len = 1024, .rs = rcase[i].rs, .nrs = rcase[i].n,
					.indirect = ind && rcase[i].n <= GDRV_MAX_INDIRECT - 1 };
			CHECK_EQ(rq_run(&e, &w), VIRTIO_BLK_S_OK);
			memset(b, 0, 1024);
			CHECK_EQ(blk_read(&e, 16 + i * 2, b, 1024), VIRTIO_BLK_S_OK);
			CHECK(memcmp(a, b, 1024) == 0);
		}
	}
	for (unsigned i = 0; i < RS_ARRAY_SIZE(wcase); i++) {
		pattern(a, 1024, 70 + i);
		CHECK_EQ(blk_write(&e, 40, a, 1024), VIRTIO_BLK_S_OK);
		memset(b, 0, 1024);
		struct rq rd = { .type = VIRTIO_BLK_T_IN, .sector = 40, .in_len = 1024, .in = b,
				 .ws = wcase[i].ws, .nws = wcase[i].n };
		CHECK_EQ(rq_run(&e, &rd), VIRTIO_BLK_S_OK);
		CHECK_EQ(rd.used, 1025);
		CHECK(memcmp(a, b, 1024) == 0);
	}
	/* ioprio (legacy) / reserved is ignored */
	struct rq io = { .type = VIRTIO_BLK_T_IN, .ioprio = 0xdeadbeef, .sector = 40,
			 .in_len = 512, .in = b };
	CHECK_EQ(rq_run(&e, &io), VIRTIO_BLK_S_OK);
	CHECK(memcmp(a, b, 512) == 0);
	CHECK_EQ(e.dev->log.total, 0);
	env_close(&e);
}

/* ---- malformed requests --------------------------------------------------------------------------- */

static void test_malformed(void)
{
	struct env e;
	uint8_t a[8192], b[8192];
	uint64_t cap = (8u << 20) / SECTOR;

	if (!env_start(&e, "mem=16M pci-modern:blk,seg-max=6,size-max=4096", false, F_ALL))
		return;
	pattern(a, sizeof a, 3);
	CHECK_EQ(gdrv_config_read(e.d, VIRTIO_BLK_CFG_SEG_MAX, 4), 6);
	CHECK_EQ(gdrv_config_read(e.d, VIRTIO_BLK_CFG_SIZE_MAX, 4), 4096);

	/* header shorter than 16 bytes */
	for (int hl = 1; hl < (int)HDR; hl += 7) {
		struct rq r = { .type = VIRTIO_BLK_T_IN, .hdr_len = hl };
		CHECK_EQ(rq_run(&e, &r), VIRTIO_BLK_S_IOERR);
		CHECK_EQ(r.used, 1);
		still_serving(&e, 1);
	}
	/* no readable part at all */
	{
		struct gdrv_buf st = { e.wbuf, 1 };
		uint64_t tok;
		uint32_t len = 99;
		uint8_t s = FILL;
		e.io.mem_write(e.io.ctx, e.wbuf, &s, 1);
		CHECK_EQ(gdrv_submit(&e.d->vq[0], &st, 0, 1, 7, false), 0);
		gdrv_kick(&e.d->vq[0]);
		CHECK_EQ(gdrv_get_used(&e.d->vq[0], &tok, &len), 1);
		CHECK_EQ(len, 1);
		e.io.mem_read(e.io.ctx, e.wbuf, &s, 1);
		CHECK_EQ(s, VIRTIO_BLK_S_IOERR);
		still_serving(&e, 2);
	}
	/* no writable status byte: completed with used length 0 */
	{
		uint8_t hdr[HDR] = { 0 };
		struct gdrv_buf bb[2] = { { e.rbuf, HDR }, { e.rbuf + 4096, 512 } };
		uint64_t tok;
		uint32_t len = 99;
		uint64_t ns = stats(&e)->no_status;
		e.io.mem_write(e.io.ctx, e.rbuf, hdr, HDR);
		CHECK_EQ(gdrv_submit(&e.d->vq[0], bb, 2, 0, 8, false), 0);
		gdrv_kick(&e.d->vq[0]);
		CHECK_EQ(gdrv_get_used(&e.d->vq[0], &tok, &len), 1);
		CHECK_EQ(len, 0);
		CHECK_EQ(stats(&e)->no_status, ns + 1);
		/* only zero-length writable descriptors: no status byte either */
		struct gdrv_buf bz[2] = { { e.rbuf, HDR }, { e.wbuf, 0 } };
		CHECK_EQ(gdrv_submit(&e.d->vq[0], bz, 1, 1, 9, false), 0);
		gdrv_kick(&e.d->vq[0]);
		CHECK_EQ(gdrv_get_used(&e.d->vq[0], &tok, &len), 1);
		CHECK_EQ(len, 0);
		CHECK_EQ(stats(&e)->no_status, ns + 2);
		still_serving(&e, 3);
	}
	/* data in the wrong direction */
	{
		struct rq r = { .type = VIRTIO_BLK_T_IN, .sector = 4, .out = a, .out_len = 512,
				.in_len = 512, .in = b };
		CHECK_EQ(rq_run(&e, &r), VIRTIO_BLK_S_IOERR);
		CHECK_EQ(r.used, 1);
		struct rq w = { .type = VIRTIO_BLK_T_OUT, .sector = 4, .out = a, .out_len = 512,
				.in_len = 512 };
		CHECK_EQ(rq_run(&e, &w), VIRTIO_BLK_S_IOERR);
		/* nothing was written */
		backend_read(&e, 4 * SECTOR, b, 512);
		CHECK(all_zero(b, 512));
		struct rq w2 = { .type = VIRTIO_BLK_T_OUT, .sector = 4, .in_len = 512 };
		CHECK_EQ(rq_run(&e, &w2), VIRTIO_BLK_S_IOERR);
		struct rq g = { .type = VIRTIO_BLK_T_GET_ID, .out = a, .out_len = 20, .in_len = 20 };
		CHECK_EQ(rq_run(&e, &g), VIRTIO_BLK_S_IOERR);
		still_serving(&e, 4);
	}
	/* lengths that are not whole sectors */
	{
		static const uint32_t bad[] = { 1, 511, 513, 1000 };
		for (unsigned i = 0; i < RS_ARRAY_SIZE(bad); i++) {
			CHECK_EQ(blk_write(&e, 5, a, bad[i]), VIRTIO_BLK_S_IOERR);
			struct rq r = { .type = VIRTIO_BLK_T_IN, .sector = 5, .in_len = bad[i] };
			CHECK_EQ(rq_run(&e, &r), VIRTIO_BLK_S_IOERR);
			CHECK_EQ(r.used, 1);
		}
		still_serving(&e, 5);
	}
	/* sector ranges: inside, at the end, past it, past 2^64 */
	{
		CHECK_EQ(blk_write(&e, cap - 2, a, 1024), VIRTIO_BLK_S_OK);
		CHECK_EQ(blk_read(&e, cap - 2, b, 1024), VIRTIO_BLK_S_OK);
		CHECK(memcmp(a, b, 1024) == 0);
		CHECK_EQ(blk_write(&e, cap - 1, a, 1024), VIRTIO_BLK_S_IOERR);
		CHECK_EQ(blk_read(&e, cap - 1, b, 1024), VIRTIO_BLK_S_IOERR);
		CHECK_EQ(blk_read(&e, cap, b, 512), VIRTIO_BLK_S_IOERR);
		CHECK_EQ(blk_read(&e, cap, b, 0), VIRTIO_BLK_S_OK); /* empty, at the end */
		CHECK_EQ(blk_read(&e, cap + 1, b, 0), VIRTIO_BLK_S_IOERR);
		static const uint64_t huge[] = {
			1ull << 55,                /* sector * 512 = 2^64 */
			(1ull << 55) - 1,          /* 2^64 - 512: + 1024 wraps */
			UINT64_MAX,
			UINT64_MAX / SECTOR,
			1ull << 54,
		};
		for (unsigned i = 0; i < RS_ARRAY_SIZE(huge); i++) {
			CHECK_EQ(blk_write(&e, huge[i], a, 1024), VIRTIO_BLK_S_IOERR);
			CHECK_EQ(blk_read(&e, huge[i], b, 1024), VIRTIO_BLK_S_IOERR);
		}
		still_serving(&e, 6);
	}
	/* unknown and unoffered types: UNSUPP */
	{
		static const uint32_t types[] = {
			VIRTIO_BLK_T_SCSI_CMD, VIRTIO_BLK_T_SCSI_CMD_OUT, VIRTIO_BLK_T_FLUSH_OUT,
			VIRTIO_BLK_T_GET_LIFETIME, VIRTIO_BLK_T_SECURE_ERASE, 15, 16, 26, 99,
			VIRTIO_BLK_T_BARRIER | VIRTIO_BLK_T_OUT, VIRTIO_BLK_T_BARRIER, UINT32_MAX,
		};
		uint64_t u = stats(&e)->unsupp;
		for (unsigned i = 0; i < RS_ARRAY_SIZE(types); i++) {
			struct rq r = { .type = types[i], .in_len = 20 };
			CHECK_EQ(rq_run(&e, &r), VIRTIO_BLK_S_UNSUPP);
			CHECK_EQ(r.used, 1);
		}
		CHECK_EQ(stats(&e)->unsupp, u + RS_ARRAY_SIZE(types));
		still_serving(&e, 7);
	}
	/* more segments than seg_max (6 data + header + status = 8 is fine, 9 is not) */
	{
		static const uint32_t ok[] = { HDR, 512, 512, 512, 512, 512, 512 };
		static const uint32_t over[] = { HDR, 512, 512, 512, 512, 512, 512, 512 };
		struct rq r = { .type = VIRTIO_BLK_T_OUT, .sector = 8, .out = a, .out_len = 3072,
				.rs = ok, .nrs = 7 };
		CHECK_EQ(rq_run(&e, &r), VIRTIO_BLK_S_OK);
		struct rq r2 = { .type = VIRTIO_BLK_T_OUT, .sector = 8, .out = a, .out_len = 3584,
				 .rs = over, .nrs = 8 };
		CHECK_EQ(rq_run(&e, &r2), VIRTIO_BLK_S_IOERR);
		still_serving(&e, 8);
	}
	/* a segment above size_max */
	{
		CHECK_EQ(blk_write(&e, 10, a, 4096), VIRTIO_BLK_S_OK);
		CHECK_EQ(blk_write(&e, 10, a, 8192), VIRTIO_BLK_S_IOERR);
		CHECK_EQ(blk_read(&e, 10, b, 8192), VIRTIO_BLK_S_IOERR);
		static const uint32_t split[] = { 4096, 4096, 1 };
		struct rq r = { .type = VIRTIO_BLK_T_IN, .sector = 10, .in_len = 8192, .in = b,
				.ws = split, .nws = 3 };
		CHECK_EQ(rq_run(&e, &r), VIRTIO_BLK_S_OK);
		CHECK_EQ(r.used, 8193);
		still_serving(&e, 9);
	}
	/* GET_ID into a short buffer gets what fits */
	{
		char id[8];
		struct rq g = { .type = VIRTIO_BLK_T_GET_ID, .in_len = 8, .in = id };
		CHECK_EQ(rq_run(&e, &g), VIRTIO_BLK_S_OK);
		CHECK_EQ(g.used, 9);
		CHECK(memcmp(id, "ringside", 8) == 0);
		struct rq g0 = { .type = VIRTIO_BLK_T_GET_ID };
		CHECK_EQ(rq_run(&e, &g0), VIRTIO_BLK_S_OK);
		CHECK_EQ(g0.used, 1);
	}
	/* FLUSH with a sector and data: tolerated */
	{
		struct rq f = { .type = VIRTIO_BLK_T_FLUSH, .sector = 99, .out = a, .out_len = 512,
				.in_len = 4 };
		CHECK_EQ(rq_run(&e, &f), VIRTIO_BLK_S_OK);
	}
	CHECK(stats(&e)->malformed > 20);
	/* every broken rule was reported as the driver's (never the device's) */
	CHECK_EQ(diag_count(&e.dev->log, DIAG_REQ_MALFORMED), stats(&e)->malformed);
	CHECK_EQ(diag_class_of(DIAG_REQ_MALFORMED), DIAG_CLASS_DRIVER);
	env_check_healthy(&e);
	env_close(&e);
}

/* Without SEG_MAX / SIZE_MAX negotiated the limits do not bind. */
static void test_limits_not_negotiated(void)
{
	struct env e;
	uint8_t a[8192], b[8192];
	uint64_t want = F_ALL & ~F(VIRTIO_BLK_F_SEG_MAX) & ~F(VIRTIO_BLK_F_SIZE_MAX);

	if (!env_start(&e, "mem=16M pci-modern:blk,seg-max=1,size-max=512", false, want))
		return;
	pattern(a, sizeof a, 9);
	CHECK_EQ(blk_write(&e, 0, a, 8192), VIRTIO_BLK_S_OK);
	static const uint32_t rs[] = { HDR, 512, 512, 512, 512 };
	struct rq r = { .type = VIRTIO_BLK_T_OUT, .sector = 16, .out = a, .out_len = 2048,
			.rs = rs, .nrs = 5 };
	CHECK_EQ(rq_run(&e, &r), VIRTIO_BLK_S_OK);
	CHECK_EQ(blk_read(&e, 0, b, 8192), VIRTIO_BLK_S_OK);
	CHECK(memcmp(a, b, 8192) == 0);
	env_close(&e);
}

/* ---- discard and write zeroes ------------------------------------------------------------------- */

static void test_discard_write_zeroes(void)
{
	struct env e;
	uint8_t *a = malloc(64 << 10), *b = malloc(64 << 10);
	const char *spec = "mem=16M pci-modern:blk,discard-max=64,discard-seg=4,"
			   "write-zeroes-max=128,write-zeroes-seg=3";

	if (!env_start(&e, spec, false, F_ALL))
		goto out;
	CHECK_EQ(gdrv_config_read(e.d, VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS, 4), 64);
	CHECK_EQ(gdrv_config_read(e.d, VIRTIO_BLK_CFG_MAX_DISCARD_SEG, 4), 4);
	CHECK_EQ(gdrv_config_read(e.d, VIRTIO_BLK_CFG_DISCARD_SECTOR_ALIGNMENT, 4), 8);
	CHECK_EQ(gdrv_config_read(e.d, VIRTIO_BLK_CFG_MAX_WRITE_ZEROES_SECTORS, 4), 128);
	CHECK_EQ(gdrv_config_read(e.d, VIRTIO_BLK_CFG_MAX_WRITE_ZEROES_SEG, 4), 3);
	CHECK_EQ(gdrv_config_read(e.d, VIRTIO_BLK_CFG_WRITE_ZEROES_MAY_UNMAP, 1), 0);

	/* write zeroes, with and without UNMAP, several segments, unaligned */
	pattern(a, 64 << 10, 5);
	CHECK_EQ(blk_write(&e, 0, a, 64 << 10), VIRTIO_BLK_S_OK);
	const uint64_t wz[3][3] = { { 1, 3, 0 }, { 10, 5, VIRTIO_BLK_DWZ_F_UNMAP }, { 40, 0, 0 } };
	CHECK_EQ(dwz(&e, VIRTIO_BLK_T_WRITE_ZEROES, wz, 3), VIRTIO_BLK_S_OK);
	CHECK_EQ(blk_read(&e, 0, b, 64 << 10), VIRTIO_BLK_S_OK);
	for (uint32_t s = 0; s < 128; s++) {
		bool zero = (s >= 1 && s < 4) || (s >= 10 && s < 15);
		if (zero)
			CHECK(all_zero(b + s * SECTOR, SECTOR));
		else
			CHECK(memcmp(a + s * SECTOR, b + s * SECTOR, SECTOR) == 0);
	}
	CHECK_EQ(stats(&e)->write_zeroes, 2); /* the empty segment did nothing */

	/* discard: aligned ranges read back as zeroes here */
	const uint64_t dc[2][3] = { { 16, 8, 0 }, { 32, 16, 0 } };
	CHECK_EQ(dwz(&e, VIRTIO_BLK_T_DISCARD, dc, 2), VIRTIO_BLK_S_OK);
	CHECK_EQ(blk_read(&e, 0, b, 64 << 10), VIRTIO_BLK_S_OK);
	CHECK(all_zero(b + 16 * SECTOR, 8 * SECTOR));
	CHECK(all_zero(b + 32 * SECTOR, 16 * SECTOR));
	CHECK(memcmp(a + 24 * SECTOR, b + 24 * SECTOR, 8 * SECTOR) == 0);
	CHECK_EQ(stats(&e)->discards, 2);

	/* every refusal leaves the data alone */
	pattern(a, 64 << 10, 6);
	CHECK_EQ(blk_write(&e, 0, a, 64 << 10), VIRTIO_BLK_S_OK);
	const uint64_t d_unmap[1][3] = { { 0, 8, VIRTIO_BLK_DWZ_F_UNMAP } };
	CHECK_EQ(dwz(&e, VIRTIO_BLK_T_DISCARD, d_unmap, 1), VIRTIO_BLK_S_UNSUPP);
	const uint64_t d_flag[2][3] = { { 0, 8, 0 }, { 8, 8, 2 } };
	CHECK_EQ(dwz(&e, VIRTIO_BLK_T_DISCARD, d_flag, 2), VIRTIO_BLK_S_UNSUPP);
	const uint64_t w_flag[1][3] = { { 0, 8, 0x80000001u } };
	CHECK_EQ(dwz(&e, VIRTIO_BLK_T_WRITE_ZEROES, w_flag, 1), VIRTIO_BLK_S_UNSUPP);
	const uint64_t d_many[5][3] = { { 0, 8, 0 }, { 8, 8, 0 }, { 16, 8, 0 }, { 24, 8, 0 },
					{ 32, 8, 0 } };
	CHECK_EQ(dwz(&e, VIRTIO_BLK_T_DISCARD, d_many, 5), VIRTIO_BLK_S_UNSUPP);
	CHECK_EQ(dwz(&e, VIRTIO_BLK_T_WRITE_ZEROES, d_many, 4), VIRTIO_BLK_S_UNSUPP);
	const uint64_t d_misal[1][3] = { { 4, 8, 0 } };
	CHECK_EQ(dwz(&e, VIRTIO_BLK_T_DISCARD, d_misal, 1), VIRTIO_BLK_S_IOERR);
	const uint64_t d_big[1][3] = { { 0, 72, 0 } };
	CHECK_EQ(dwz(&e, VIRTIO_BLK_T_DISCARD, d_big, 1), VIRTIO_BLK_S_IOERR);
	const uint64_t w_big[1][3] = { { 0, 129, 0 } };
	CHECK_EQ(dwz(&e, VIRTIO_BLK_T_WRITE_ZEROES, w_big, 1), VIRTIO_BLK_S_IOERR);
	uint64_t cap = (8u << 20) / SECTOR;
	const uint64_t w_end[2][3] = { { 0, 8, 0 }, { cap - 4, 8, 0 } };
	CHECK_EQ(dwz(&e, VIRTIO_BLK_T_WRITE_ZEROES, w_end, 2), VIRTIO_BLK_S_IOERR);
	const uint64_t w_wrap[1][3] = { { (1ull << 55) - 1, 8, 0 } };
	CHECK_EQ(dwz(&e, VIRTIO_BLK_T_WRITE_ZEROES, w_wrap, 1), VIRTIO_BLK_S_IOERR);
	const uint64_t w_max[1][3] = { { UINT64_MAX, 1, 0 } };
	CHECK_EQ(dwz(&e, VIRTIO_BLK_T_WRITE_ZEROES, w_max, 1), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(dwz(&e, VIRTIO_BLK_T_DISCARD, d_big, 0), VIRTIO_BLK_S_IOERR); /* no segment */
	struct rq odd = { .type = VIRTIO_BLK_T_WRITE_ZEROES, .out = a, .out_len = 24 };
	CHECK_EQ(rq_run(&e, &odd), VIRTIO_BLK_S_IOERR);
	struct rq wr = { .type = VIRTIO_BLK_T_WRITE_ZEROES, .out = a, .out_len = 16, .in_len = 8 };
	CHECK_EQ(rq_run(&e, &wr), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(blk_read(&e, 0, b, 64 << 10), VIRTIO_BLK_S_OK);
	CHECK(memcmp(a, b, 64 << 10) == 0);
	/* a segment list split across descriptors */
	const uint64_t two[2][3] = { { 0, 1, 0 }, { 2, 1, VIRTIO_BLK_DWZ_F_UNMAP } };
	uint8_t segs[32];
	for (unsigned i = 0; i < 2; i++) {
		rs_st64(segs + 16 * i, two[i][0]);
		rs_st32(segs + 16 * i + 8, (uint32_t)two[i][1]);
		rs_st32(segs + 16 * i + 12, (uint32_t)two[i][2]);
	}
	static const uint32_t rs[] = { 10, 6 + 5, 20, 7 };
	struct rq sp = { .type = VIRTIO_BLK_T_WRITE_ZEROES, .out = segs, .out_len = 32, .rs = rs,
			 .nrs = 4 };
	CHECK_EQ(rq_run(&e, &sp), VIRTIO_BLK_S_OK);
	CHECK_EQ(blk_read(&e, 0, b, 4 * SECTOR), VIRTIO_BLK_S_OK);
	CHECK(all_zero(b, SECTOR));
	CHECK(memcmp(a + SECTOR, b + SECTOR, SECTOR) == 0);
	CHECK(all_zero(b + 2 * SECTOR, SECTOR));
	env_check_healthy(&e);
	env_close(&e);

	/* not negotiated: UNSUPP */
	if (!env_start(&e, "mem=16M pci-modern:blk", false,
		       F_ALL & ~F(VIRTIO_BLK_F_DISCARD) & ~F(VIRTIO_BLK_F_WRITE_ZEROES)))
		goto out;
	CHECK_EQ(dwz(&e, VIRTIO_BLK_T_DISCARD, dc, 1), VIRTIO_BLK_S_UNSUPP);
	CHECK_EQ(dwz(&e, VIRTIO_BLK_T_WRITE_ZEROES, wz, 1), VIRTIO_BLK_S_UNSUPP);
	env_close(&e);

	/* switched off: not offered, config fields zero */
	if (!env_open(&e, "mem=16M pci-modern:blk,discard=off,write-zeroes=off", false))
		goto out;
	CHECK_EQ(gdrv_device_features(e.d) &
			 (F(VIRTIO_BLK_F_DISCARD) | F(VIRTIO_BLK_F_WRITE_ZEROES) | F(VIRTIO_BLK_F_RO)),
		 0);
	CHECK(env_up(&e, F_ALL, 1, 64));
	CHECK_EQ(gdrv_config_read(e.d, VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS, 4), 0);
	CHECK_EQ(gdrv_config_read(e.d, VIRTIO_BLK_CFG_MAX_WRITE_ZEROES_SEG, 4), 0);
	CHECK_EQ(dwz(&e, VIRTIO_BLK_T_DISCARD, dc, 1), VIRTIO_BLK_S_UNSUPP);
	CHECK_EQ(dwz(&e, VIRTIO_BLK_T_WRITE_ZEROES, wz, 1), VIRTIO_BLK_S_UNSUPP);
	env_close(&e);

	/* only one of them */
	if (!env_open(&e, "mem=16M pci-modern:blk,discard=off", false))
		goto out;
	CHECK_EQ(gdrv_device_features(e.d) &
			 (F(VIRTIO_BLK_F_DISCARD) | F(VIRTIO_BLK_F_WRITE_ZEROES)),
		 F(VIRTIO_BLK_F_WRITE_ZEROES));
	env_close(&e);
	if (!env_open(&e, "mem=16M pci-modern:blk,write-zeroes=off", false))
		goto out;
	CHECK_EQ(gdrv_device_features(e.d) &
			 (F(VIRTIO_BLK_F_DISCARD) | F(VIRTIO_BLK_F_WRITE_ZEROES)),
		 F(VIRTIO_BLK_F_DISCARD));
	env_close(&e);
out:
	free(a);
	free(b);
}

/* ---- read-only ------------------------------------------------------------------------------------ */

static void test_read_only(void)
{
	struct env e;
	uint8_t a[1024], b[1024];

	if (!env_open(&e, "mem=16M pci-modern:blk,ro", false))
		return;
	CHECK(gdrv_device_features(e.d) & F(VIRTIO_BLK_F_RO));
	CHECK(env_up(&e, F_ALL, 1, 64));
	CHECK(e.d->features & F(VIRTIO_BLK_F_RO));
	pattern(a, sizeof a, 1);
	CHECK_EQ(blk_write(&e, 0, a, sizeof a), VIRTIO_BLK_S_IOERR);
	const uint64_t seg[1][3] = { { 0, 8, 0 } };
	CHECK_EQ(dwz(&e, VIRTIO_BLK_T_DISCARD, seg, 1), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(dwz(&e, VIRTIO_BLK_T_WRITE_ZEROES, seg, 1), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(blk_read(&e, 0, b, sizeof b), VIRTIO_BLK_S_OK);
	CHECK(all_zero(b, sizeof b));
	CHECK_EQ(blk_simple(&e, VIRTIO_BLK_T_FLUSH, 0), VIRTIO_BLK_S_OK);
	CHECK_EQ(blk_mem_overlay_blocks(blk_backend(e.dev)), 0); /* nothing was written */
	CHECK_EQ(stats(&e)->write_bytes, 0);
	env_check_healthy(&e);
	env_close(&e);

	/* through the legacy interface too, with and without discard offered */
	if (!env_start(&e, "mem=16M pci-legacy:blk,ro,discard=off", true, F_ALL))
		return;
	CHECK(e.d->features & F(VIRTIO_BLK_F_RO));
	CHECK(!(e.d->features & F(VIRTIO_BLK_F_DISCARD)));
	CHECK_EQ(blk_write(&e, 0, a, sizeof a), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(blk_read(&e, 0, b, sizeof b), VIRTIO_BLK_S_OK);
	env_close(&e);
	if (!env_open(&e, "mem=16M pci-modern:blk,ro,write-zeroes=off", false))
		return;
	CHECK_EQ(gdrv_device_features(e.d) & (F(VIRTIO_BLK_F_RO) | F(VIRTIO_BLK_F_DISCARD) |
					      F(VIRTIO_BLK_F_WRITE_ZEROES)),
		 F(VIRTIO_BLK_F_RO) | F(VIRTIO_BLK_F_DISCARD));
	env_close(&e);
	if (!env_open(&e, "mem=16M pci-modern:blk,ro,discard=off,write-zeroes=off", false))
		return;
	CHECK_EQ(gdrv_device_features(e.d) & (F(VIRTIO_BLK_F_RO) | F(VIRTIO_BLK_F_DISCARD) |
					      F(VIRTIO_BLK_F_WRITE_ZEROES)),
		 F(VIRTIO_BLK_F_RO));
	env_close(&e);
}

/* ---- file backend --------------------------------------------------------------------------------- */

#define IMG_SIZE (256u << 10)

/* A temporary image of IMG_SIZE bytes with pattern seed; path in p. */
static int make_image(char *p, size_t len, unsigned seed, size_t size)
{
	uint8_t *buf = malloc(size);
	int fd;

	snprintf(p, len, "/tmp/ringside-blk-XXXXXX");
	fd = mkstemp(p);
	CHECK(fd >= 0);
	if (fd < 0) {
		free(buf);
		return -1;
	}
	pattern(buf, size, seed);
	CHECK_EQ(write(fd, buf, size), (ssize_t)size);
	close(fd);
	free(buf);
	return 0;
}

static void file_bytes(const char *p, uint64_t off, void *buf, size_t len)
{
	int fd = open(p, O_RDONLY);

	CHECK(fd >= 0);
	CHECK_EQ(pread(fd, buf, len, (off_t)off), (ssize_t)len);
	close(fd);
}

/* The file backend's answers to requests the device never makes; huge:
 * the file system refuses offsets around 2^62 (ext4 does, tmpfs does not). */
static void file_errors(struct env *e, bool huge)
{
	uint8_t a[512] = { 0 };
	struct world_io io = { .op = WIO_DISCARD, .off = 0, .len = 0 };

	CHECK_EQ(world_io(e->m->world, blk_backend(e->dev), &io), 0);
	io.op = WIO_WRITE_ZEROES;
	CHECK_EQ(world_io(e->m->world, blk_backend(e->dev), &io), 0);
	if (!huge)
		return;
	io = (struct world_io){ .op = WIO_WRITE, .off = 1ull << 62, .buf = a, .len = 512 };
	CHECK(world_io(e->m->world, blk_backend(e->dev), &io) < 0);
	io = (struct world_io){ .op = WIO_WRITE_ZEROES, .off = 1ull << 62, .len = 4096 };
	CHECK(world_io(e->m->world, blk_backend(e->dev), &io) < 0);
	io = (struct world_io){ .op = WIO_DISCARD, .off = 1ull << 62, .len = 4096 };
	CHECK(world_io(e->m->world, blk_backend(e->dev), &io) < 0);
}

static void test_file_backend(void)
{
	char path[64], spec[256];
	uint8_t *a = malloc(IMG_SIZE), *b = malloc(IMG_SIZE), *f = malloc(IMG_SIZE);
	struct env e;

	if (make_image(path, sizeof path, 11, IMG_SIZE) < 0)
		goto out;
	for (unsigned t = 0; t < 3; t++) {
		static const char *const tr[] = { "pci-modern", "pci-legacy", "mmio" };
		snprintf(spec, sizeof spec, "mem=16M %s:blk,file=%s", tr[t], path);
		if (!env_start(&e, spec, t == 1, F_ALL))
			goto out;
		CHECK_EQ(gdrv_config_read(e.d, VIRTIO_BLK_CFG_CAPACITY, 8), IMG_SIZE / SECTOR);
		/* the image as the file holds it */
		pattern(a, IMG_SIZE, 11 + t);
		CHECK_EQ(blk_read(&e, 0, b, 64 << 10), VIRTIO_BLK_S_OK);
		file_bytes(path, 0, f, 64 << 10);
		CHECK(memcmp(b, f, 64 << 10) == 0);
		/* writes land in the file */
		pattern(a, 32 << 10, 20 + t);
		CHECK_EQ(blk_write(&e, 64, a, 32 << 10), VIRTIO_BLK_S_OK);
		CHECK_EQ(blk_simple(&e, VIRTIO_BLK_T_FLUSH, 0), VIRTIO_BLK_S_OK);
		file_bytes(path, 64 * SECTOR, f, 32 << 10);
		CHECK(memcmp(a, f, 32 << 10) == 0);
		/* discard and write zeroes zero the file's bytes */
		const uint64_t wz[1][3] = { { 65, 2, t == 2 ? VIRTIO_BLK_DWZ_F_UNMAP : 0 } };
		CHECK_EQ(dwz(&e, VIRTIO_BLK_T_WRITE_ZEROES, wz, 1), VIRTIO_BLK_S_OK);
		const uint64_t dc[1][3] = { { 72, 8, 0 } };
		CHECK_EQ(dwz(&e, VIRTIO_BLK_T_DISCARD, dc, 1), VIRTIO_BLK_S_OK);
		file_bytes(path, 64 * SECTOR, f, 32 << 10);
		CHECK(memcmp(a, f, SECTOR) == 0);
		CHECK(all_zero(f + SECTOR, 2 * SECTOR));
		CHECK(memcmp(a + 3 * SECTOR, f + 3 * SECTOR, 5 * SECTOR) == 0);
		CHECK(all_zero(f + 8 * SECTOR, 8 * SECTOR));
		CHECK(memcmp(a + 16 * SECTOR, f + 16 * SECTOR, 16 * SECTOR) == 0);
		CHECK_EQ(blk_read(&e, 64, b, 32 << 10), VIRTIO_BLK_S_OK);
		CHECK(memcmp(b, f, 32 << 10) == 0);
		/* the end of the file is the end of the disk */
		CHECK_EQ(blk_read(&e, IMG_SIZE / SECTOR - 1, b, 1024), VIRTIO_BLK_S_IOERR);
		env_check_healthy(&e);
		env_close(&e);
	}

	/* cache=writethrough: every write is flushed */
	snprintf(spec, sizeof spec, "mem=16M pci-modern:blk,file=%s,cache=writethrough", path);
	if (!env_start(&e, spec, false, F_ALL))
		goto out;
	uint64_t fl = stats(&e)->flushes;
	CHECK_EQ(blk_write(&e, 0, a, 4096), VIRTIO_BLK_S_OK);
	CHECK_EQ(stats(&e)->flushes, fl + 1);
	env_close(&e);

	/* read-only file: writes fail and the file is untouched */
	file_bytes(path, 0, f, IMG_SIZE);
	snprintf(spec, sizeof spec, "mem=16M pci-modern:blk,file=%s,ro", path);
	if (!env_start(&e, spec, false, F_ALL))
		goto out;
	CHECK(e.d->features & F(VIRTIO_BLK_F_RO));
	pattern(a, 4096, 99);
	CHECK_EQ(blk_write(&e, 0, a, 4096), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(blk_read(&e, 0, b, 4096), VIRTIO_BLK_S_OK);
	CHECK(memcmp(b, f, 4096) == 0);
	CHECK_EQ(blk_simple(&e, VIRTIO_BLK_T_FLUSH, 0), VIRTIO_BLK_S_OK);
	/* the backend itself refuses modifications */
	struct world_io io = { .op = WIO_WRITE, .off = 0, .buf = a, .len = 512 };
	CHECK_EQ(world_io(e.m->world, blk_backend(e.dev), &io), -EROFS);
	io.op = WIO_DISCARD;
	CHECK_EQ(world_io(e.m->world, blk_backend(e.dev), &io), -EROFS);
	io.op = WIO_SEND;
	CHECK_EQ(world_io(e.m->world, blk_backend(e.dev), &io), -EOPNOTSUPP);
	io.op = WIO_READ;
	io.off = UINT64_MAX - 100;
	io.len = 50;
	CHECK_EQ(world_io(e.m->world, blk_backend(e.dev), &io), -EINVAL);
	io.off = IMG_SIZE - 256; /* past the end of the file */
	io.len = 512;
	CHECK_EQ(world_io(e.m->world, blk_backend(e.dev), &io), -EIO);
	env_close(&e);
	/* host errors of a writable file: far beyond any file size limit */
	snprintf(spec, sizeof spec, "mem=16M pci-modern:blk,file=%s", path);
	if (!env_start(&e, spec, false, F_ALL))
		goto out;
	file_errors(&e, true);
	env_close(&e);
	CHECK(memcmp(b, f, 4096) == 0);
	file_bytes(path, 0, b, IMG_SIZE);
	CHECK(memcmp(b, f, IMG_SIZE) == 0);

	/* size= takes the first part of the file; more than the file is an error */
	snprintf(spec, sizeof spec, "mem=16M pci-modern:blk,file=%s,size=64K", path);
	if (!env_start(&e, spec, false, F_ALL))
		goto out;
	CHECK_EQ(gdrv_config_read(e.d, VIRTIO_BLK_CFG_CAPACITY, 8), 128);
	CHECK_EQ(blk_read(&e, 128, b, 512), VIRTIO_BLK_S_IOERR);
	env_close(&e);
	struct machine *m;
	char err[256];
	snprintf(spec, sizeof spec, "mem=16M pci-modern:blk,file=%s,size=1M", path);
	CHECK(rs_machine_new(spec, &m, err, sizeof err) < 0);
	CHECK(strstr(err, "larger") != NULL);
	snprintf(spec, sizeof spec, "mem=16M pci-modern:blk,file=%s,size=1M,cow", path);
	CHECK(rs_machine_new(spec, &m, err, sizeof err) < 0);
	CHECK(strstr(err, "file=") != NULL);
	CHECK(rs_machine_new("pci:blk,file=/nonexistent/ringside.img", &m, err, sizeof err) < 0);
	CHECK(strstr(err, "/nonexistent/ringside.img") != NULL);
	CHECK(rs_machine_new("pci:blk,file=/nonexistent/x.img,cow", &m, err, sizeof err) < 0);
	CHECK(strstr(err, "/nonexistent/x.img") != NULL);
	/* a directory is no disk either */
	CHECK(rs_machine_new("pci:blk,file=/tmp,ro", &m, err, sizeof err) < 0);
	CHECK(strstr(err, "not a regular file") != NULL);
	CHECK(rs_machine_new("pci:blk,file=/tmp,cow", &m, err, sizeof err) < 0);
	CHECK(strstr(err, "not a regular file") != NULL);
	/* an empty file is no disk */
	int fd = open(path, O_WRONLY | O_TRUNC);
	CHECK(fd >= 0);
	close(fd);
	snprintf(spec, sizeof spec, "mem=16M pci:blk,file=%s", path);
	CHECK(rs_machine_new(spec, &m, err, sizeof err) < 0);
	CHECK(strstr(err, "size") != NULL);
	snprintf(spec, sizeof spec, "mem=16M pci:blk,file=%s,cow", path);
	CHECK(rs_machine_new(spec, &m, err, sizeof err) < 0);
	unlink(path);
out:
	free(a);
	free(b);
	free(f);
}

/* On a file system without FALLOC_FL_ZERO_RANGE (tmpfs), write zeroes
 * falls back to writing zeroes. */
static void test_file_zero_fallback(void)
{
	char path[64], spec[160];
	uint8_t *a = malloc(IMG_SIZE), *f = malloc(IMG_SIZE);
	struct env e;
	int fd;

	snprintf(path, sizeof path, "/dev/shm/ringside-blk-XXXXXX");
	fd = mkstemp(path);
	if (fd < 0) {
		printf("  (no /dev/shm: skipped)\n");
		goto out;
	}
	pattern(a, IMG_SIZE, 90);
	CHECK_EQ(write(fd, a, IMG_SIZE), (ssize_t)IMG_SIZE);
	close(fd);
	snprintf(spec, sizeof spec, "mem=16M pci-modern:blk,file=%s,write-zeroes-max=1024", path);
	if (!env_start(&e, spec, false, F_ALL))
		goto out;
	/* 300 KiB of zeroes: more than one 64 KiB chunk of the fallback */
	const uint64_t wz[2][3] = { { 1, 3, 0 }, { 100, 300, VIRTIO_BLK_DWZ_F_UNMAP } };
	CHECK_EQ(dwz(&e, VIRTIO_BLK_T_WRITE_ZEROES, wz, 2), VIRTIO_BLK_S_OK);
	const uint64_t dc[1][3] = { { 8, 16, 0 } };
	CHECK_EQ(dwz(&e, VIRTIO_BLK_T_DISCARD, dc, 1), VIRTIO_BLK_S_OK);
	file_bytes(path, 0, f, IMG_SIZE);
	for (uint32_t s = 0; s < IMG_SIZE / SECTOR; s++) {
		bool zero = (s >= 1 && s < 4) || (s >= 8 && s < 24) || (s >= 100 && s < 400);
		if (zero)
			CHECK(all_zero(f + s * SECTOR, SECTOR));
		else
			CHECK(memcmp(a + s * SECTOR, f + s * SECTOR, SECTOR) == 0);
	}
	env_check_healthy(&e);
	file_errors(&e, false);
	env_close(&e);
	unlink(path);
out:
	free(a);
	free(f);
}

/* ---- copy-on-write overlay ----------------------------------------------------------------------- */

static void test_cow_overlay(void)
{
	char path[64], spec[256];
	uint8_t *a = malloc(IMG_SIZE), *b = malloc(IMG_SIZE), *f = malloc(IMG_SIZE);
	struct env e;

	/* an image file whose size is not a 4 KiB multiple: the last block is partial */
	if (make_image(path, sizeof path, 31, IMG_SIZE - 1536) < 0)
		goto out;
	file_bytes(path, 0, f, IMG_SIZE - 1536);
	snprintf(spec, sizeof spec, "mem=16M pci-modern:blk,file=%s,cow=on", path);
	if (!env_start(&e, spec, false, F_ALL))
		goto out;
	uint64_t cap = (IMG_SIZE - 1536) / SECTOR;
	CHECK_EQ(gdrv_config_read(e.d, VIRTIO_BLK_CFG_CAPACITY, 8), cap);
	struct world_backend *be = blk_backend(e.dev);
	CHECK_EQ(blk_mem_overlay_blocks(be), 0);
	CHECK_EQ(blk_read(&e, 0, b, IMG_SIZE - 1536), VIRTIO_BLK_S_OK);
	CHECK(memcmp(b, f, IMG_SIZE - 1536) == 0);
	/* writes go to the overlay, never to the file */
	pattern(a, IMG_SIZE, 32);
	CHECK_EQ(blk_write(&e, 1, a, 1024), VIRTIO_BLK_S_OK);            /* inside block 0 */
	CHECK_EQ(blk_write(&e, 7, a + 1024, 1024), VIRTIO_BLK_S_OK);     /* blocks 0 and 1 */
	CHECK_EQ(blk_write(&e, cap - 1, a + 2048, 512), VIRTIO_BLK_S_OK); /* partial last block */
	CHECK_EQ(blk_mem_overlay_blocks(be), 3);
	CHECK_EQ(blk_read(&e, 0, b, 9 * SECTOR), VIRTIO_BLK_S_OK);
	CHECK(memcmp(b, f, SECTOR) == 0);
	CHECK(memcmp(b + SECTOR, a, 1024) == 0);
	CHECK(memcmp(b + 3 * SECTOR, f + 3 * SECTOR, 4 * SECTOR) == 0);
	CHECK(memcmp(b + 7 * SECTOR, a + 1024, 1024) == 0);
	CHECK_EQ(blk_read(&e, cap - 2, b, 1024), VIRTIO_BLK_S_OK);
	CHECK(memcmp(b, f + (cap - 2) * SECTOR, 512) == 0);
	CHECK(memcmp(b + 512, a + 2048, 512) == 0);
	/* zeroes: whole blocks become zero entries, partial ones are zeroed in place */
	const uint64_t wz[3][3] = { { 16, 8, 0 }, { 26, 2, 0 }, { cap - 5, 5, 0 } };
	CHECK_EQ(dwz(&e, VIRTIO_BLK_T_WRITE_ZEROES, wz, 3), VIRTIO_BLK_S_OK);
	CHECK_EQ(blk_read(&e, 16, b, 16 * SECTOR), VIRTIO_BLK_S_OK);
	CHECK(all_zero(b, 8 * SECTOR));
	CHECK(memcmp(b + 8 * SECTOR, f + 24 * SECTOR, 2 * SECTOR) == 0);
	CHECK(all_zero(b + 10 * SECTOR, 2 * SECTOR));
	CHECK(memcmp(b + 12 * SECTOR, f + 28 * SECTOR, 4 * SECTOR) == 0);
	CHECK_EQ(blk_read(&e, cap - 3, b, 3 * SECTOR), VIRTIO_BLK_S_OK);
	CHECK(all_zero(b, 3 * SECTOR));
	/* a write into a zero block, zeroes over a data block, zeroes over zeroes */
	CHECK_EQ(blk_write(&e, 17, a, 512), VIRTIO_BLK_S_OK);
	const uint64_t wz2[4][3] = { { 0, 8, 0 }, { 8, 8, 0 }, { 18, 1, 0 }, { 16, 8, 0 } };
	CHECK_EQ(dwz(&e, VIRTIO_BLK_T_WRITE_ZEROES, wz2, 4), VIRTIO_BLK_S_OK);
	CHECK_EQ(blk_read(&e, 0, b, 24 * SECTOR), VIRTIO_BLK_S_OK);
	CHECK(all_zero(b, 24 * SECTOR));
	const uint64_t wz3[1][3] = { { 17, 1, 0 } };
	CHECK_EQ(dwz(&e, VIRTIO_BLK_T_WRITE_ZEROES, wz3, 1), VIRTIO_BLK_S_OK);
	uint64_t blocks = blk_mem_overlay_blocks(be);
	CHECK(blocks >= 5);
	/* reset: the base again, at once */
	CHECK_EQ(blk_mem_overlay_reset(be), 0);
	CHECK_EQ(blk_mem_overlay_blocks(be), 0);
	CHECK_EQ(blk_read(&e, 0, b, IMG_SIZE - 1536), VIRTIO_BLK_S_OK);
	CHECK(memcmp(b, f, IMG_SIZE - 1536) == 0);
	/* many blocks (the table grows), reset, reuse */
	for (unsigned round = 0; round < 2; round++) {
		pattern(a, IMG_SIZE, 40 + round);
		CHECK_EQ(blk_write(&e, 0, a, 200 << 10), VIRTIO_BLK_S_OK);
		CHECK_EQ(blk_mem_overlay_blocks(be), 50);
		CHECK_EQ(blk_read(&e, 0, b, 200 << 10), VIRTIO_BLK_S_OK);
		CHECK(memcmp(a, b, 200 << 10) == 0);
		CHECK_EQ(blk_mem_overlay_reset(be), 0);
		CHECK_EQ(blk_read(&e, 0, b, IMG_SIZE - 1536), VIRTIO_BLK_S_OK);
		CHECK(memcmp(b, f, IMG_SIZE - 1536) == 0);
	}
	env_check_healthy(&e);
	env_close(&e);
	/* the file never changed */
	file_bytes(path, 0, b, IMG_SIZE - 1536);
	CHECK(memcmp(b, f, IMG_SIZE - 1536) == 0);

	/* size= below the file size, ro: reads from the base only */
	snprintf(spec, sizeof spec, "mem=16M mmio:blk,file=%s,cow,ro,size=64K", path);
	if (!env_start(&e, spec, false, F_ALL))
		goto out;
	CHECK_EQ(gdrv_config_read(e.d, VIRTIO_BLK_CFG_CAPACITY, 8), 128);
	CHECK_EQ(blk_read(&e, 0, b, 64 << 10), VIRTIO_BLK_S_OK);
	CHECK(memcmp(b, f, 64 << 10) == 0);
	env_close(&e);
	unlink(path);

	/* the default all-zero base */
	if (!env_start(&e, "mem=16M pci-modern:blk,size=1M", false, F_ALL))
		goto out;
	be = blk_backend(e.dev);
	pattern(a, 8192, 50);
	CHECK_EQ(blk_write(&e, 8, a, 8192), VIRTIO_BLK_S_OK);
	const uint64_t z[2][3] = { { 9, 1, 0 }, { 200, 8, 0 } }; /* partial in data; over nothing */
	CHECK_EQ(dwz(&e, VIRTIO_BLK_T_WRITE_ZEROES, z, 2), VIRTIO_BLK_S_OK);
	CHECK_EQ(blk_mem_overlay_blocks(be), 2);
	const uint64_t z2[1][3] = { { 300, 1, 0 } }; /* partial over nothing */
	CHECK_EQ(dwz(&e, VIRTIO_BLK_T_WRITE_ZEROES, z2, 1), VIRTIO_BLK_S_OK);
	CHECK_EQ(blk_mem_overlay_blocks(be), 2);
	CHECK_EQ(blk_read(&e, 8, b, 8192), VIRTIO_BLK_S_OK);
	CHECK(memcmp(a, b, 512) == 0);
	CHECK(all_zero(b + 512, 512));
	CHECK(memcmp(a + 1024, b + 1024, 8192 - 1024) == 0);
	CHECK_EQ(blk_mem_overlay_reset(be), 0);
	CHECK_EQ(blk_read(&e, 8, b, 8192), VIRTIO_BLK_S_OK);
	CHECK(all_zero(b, 8192));
	env_close(&e);
out:
	free(a);
	free(b);
	free(f);
}

/* The backend API on its own: bases shared by two backends, overlays
 * independent; bad arguments. */
static void test_backend_api(void)
{
	struct blk_mem_base *base;
	struct world_backend *m1, *m2, *fw;
	struct world *w = world_live_new();
	char err[200];
	uint8_t a[8192], b[8192];

	CHECK(w != NULL);
	CHECK_EQ(blk_mem_base_new(NULL, 0, &base, err, sizeof err), -EINVAL);
	CHECK_EQ(blk_mem_base_new(NULL, 1000, &base, err, sizeof err), -EINVAL);
	CHECK(strstr(err, "512") != NULL);
	CHECK_EQ(blk_mem_base_new(NULL, 1 << 20, &base, err, sizeof err), 0);
	CHECK_EQ(blk_mem_base_size(base), 1 << 20);
	CHECK_EQ(blk_mem_new(base, &m1), 0);
	CHECK_EQ(blk_mem_new(base, &m2), 0);
	blk_mem_base_put(base); /* the backends keep it alive */
	blk_mem_base_put(NULL);

	pattern(a, sizeof a, 3);
	/* unaligned writes and zeroes inside and across blocks */
	struct world_io io = { .op = WIO_WRITE, .off = 100, .buf = a, .len = 5000 };
	CHECK_EQ(world_io(w, m1, &io), 5000);
	io = (struct world_io){ .op = WIO_WRITE_ZEROES, .off = 200, .len = 10 };
	CHECK_EQ(world_io(w, m1, &io), 0);
	io = (struct world_io){ .op = WIO_READ, .off = 0, .buf = b, .len = 8192 };
	CHECK_EQ(world_io(w, m1, &io), 8192);
	CHECK(all_zero(b, 100));
	CHECK(memcmp(b + 100, a, 100) == 0);
	CHECK(all_zero(b + 200, 10));
	CHECK(memcmp(b + 210, a + 110, 4890) == 0);
	CHECK(all_zero(b + 5100, 8192 - 5100));
	CHECK_EQ(world_io(w, m2, &io), 8192);
	CHECK(all_zero(b, 8192)); /* the other overlay is its own */
	/* range and op checks */
	io = (struct world_io){ .op = WIO_READ, .off = (1 << 20) - 10, .buf = b, .len = 20 };
	CHECK_EQ(world_io(w, m1, &io), -EINVAL);
	io = (struct world_io){ .op = WIO_SEND, .buf = b, .len = 20 };
	CHECK_EQ(world_io(w, m1, &io), -EOPNOTSUPP);
	io = (struct world_io){ .op = WIO_FLUSH };
	CHECK_EQ(world_io(w, m1, &io), 0);
	io = (struct world_io){ .op = WIO_SIZE };
	CHECK_EQ(world_io(w, m1, &io), 1 << 20);
	CHECK_EQ(blk_mem_overlay_blocks(m1), 2);
	CHECK_EQ(blk_mem_overlay_blocks(m2), 0);

	/* a fault wrapper: rules, counting, reset, unwrap */
	CHECK_EQ(blk_fault_new(m1, "read:2+any:5-6,size:1", &fw, err, sizeof err), 0);
	CHECK(blk_backend_unwrap(fw) == m1);
	CHECK(blk_backend_unwrap(m1) == m1);
	io = (struct world_io){ .op = WIO_SIZE };
	CHECK_EQ(world_io(w, fw, &io), -EIO);
	CHECK_EQ(world_io(w, fw, &io), 1 << 20);
	io = (struct world_io){ .op = WIO_READ, .off = 0, .buf = b, .len = 512 };
	CHECK_EQ(world_io(w, fw, &io), 512);          /* read 1, any 1 */
	CHECK_EQ(world_io(w, fw, &io), -EIO);         /* read 2 */
	CHECK_EQ(world_io(w, fw, &io), 512);          /* any 3 */
	io.op = WIO_FLUSH;
	CHECK_EQ(world_io(w, fw, &io), 0);            /* any 4 */
	CHECK_EQ(world_io(w, fw, &io), -EIO);         /* any 5 */
	io.op = WIO_DISCARD;
	io.len = 4096;
	CHECK_EQ(world_io(w, fw, &io), -EIO);         /* any 6 */
	CHECK_EQ(world_io(w, fw, &io), 0);            /* any 7 */
	io.op = WIO_SEND;
	CHECK_EQ(world_io(w, fw, &io), -EOPNOTSUPP);  /* not counted, passed on */
	CHECK_EQ(blk_fault_injected(fw), 4);
	CHECK_EQ(blk_fault_injected(m1), 0);
	CHECK_EQ(blk_mem_overlay_blocks(fw), 2);
	CHECK_EQ(blk_mem_overlay_reset(fw), 0);       /* resets the counters too */
	CHECK_EQ(blk_mem_overlay_blocks(fw), 0);
	CHECK_EQ(blk_fault_injected(fw), 0);
	io = (struct world_io){ .op = WIO_READ, .off = 0, .buf = b, .len = 512 };
	CHECK_EQ(world_io(w, fw, &io), 512);
	CHECK_EQ(world_io(w, fw, &io), -EIO);
	blk_fault_reset(fw);
	blk_fault_reset(m2); /* no-op */
	CHECK_EQ(world_io(w, fw, &io), 512);
	CHECK_EQ(world_io(w, fw, &io), -EIO);

	/* rule syntax */
	static const char *const bad[] = {
		"", "read", "read:", "read:0", "read:x", "reed:1", "read:3-2", "read:1-x",
		"read:1++write:2", "read:*x", ":1", "read:99999999999999999999", "read:1 ",
		"read:1-2-3", "write-zero:1", "any:*-",
	};
	struct world_backend *x;
	for (unsigned i = 0; i < RS_ARRAY_SIZE(bad); i++) {
		CHECK_EQ(blk_fault_new(m2, bad[i], &x, err, sizeof err), -EINVAL);
		CHECK(x == NULL);
	}
	char many[400] = "";
	for (unsigned i = 0; i < 33; i++)
		strcat(many, i ? "+read:1" : "read:1");
	CHECK_EQ(blk_fault_new(m2, many, &x, err, sizeof err), -EINVAL);
	CHECK(strstr(err, "at most 32") != NULL);
	many[strlen(many) - 7] = '\0'; /* 32 rules */
	const char *const good[] = {
		"read:1", "write:5-7", "flush:*", "discard:2-", "write-zeroes:1,size:3",
		"any:1+read:2,write:3+", many,
	};
	for (unsigned i = 0; i < RS_ARRAY_SIZE(good); i++) {
		struct world_backend *in;
		CHECK_EQ(mem_zero(&in), 0);
		if (blk_fault_new(in, good[i], &x, err, sizeof err) != 0) {
			fprintf(stderr, "fault spec '%s': %s\n", good[i], err);
			CHECK(0);
			blk_backend_destroy(in);
			continue;
		}
		blk_backend_destroy(x);
	}
	/* not mem backends */
	CHECK_EQ(blk_mem_overlay_reset(NULL), -EINVAL);
	CHECK_EQ(blk_mem_overlay_blocks(NULL), 0);
	blk_backend_destroy(NULL);
	CHECK_EQ(blk_fault_injected(NULL), 0);
	CHECK(blk_backend_unwrap(NULL) == NULL);
	struct world_backend *fb;
	CHECK_EQ(blk_file_new("/nonexistent/ringside", false, &fb, err, sizeof err), -ENOENT);
	CHECK(fb == NULL);
	CHECK(blk_backend(NULL) == NULL);
	CHECK(blk_get_stats(NULL) == NULL);
	CHECK(!blk_is(NULL));

	blk_backend_destroy(fw);
	blk_backend_destroy(m2);
	world_destroy(w);
}

/* ---- fault injection ------------------------------------------------------------------------------ */

static void test_fault_injection(void)
{
	struct env e;
	uint8_t a[4096], b[4096];

	/* reads: the 2nd and 4th calls; writes 2..3; every flush */
	if (!env_start(&e, "mem=16M pci-modern:blk,fault=read:2+read:4+write:2-3+flush:*", false,
		       F_ALL))
		return;
	struct world_backend *be = blk_backend(e.dev);
	pattern(a, sizeof a, 4);
	CHECK_EQ(blk_write(&e, 0, a, 4096), VIRTIO_BLK_S_OK);                /* write 1 */
	CHECK_EQ(blk_write(&e, 8, a, 4096), VIRTIO_BLK_S_IOERR);             /* write 2 */
	CHECK_EQ(blk_write(&e, 8, a, 4096), VIRTIO_BLK_S_IOERR);             /* write 3 */
	CHECK_EQ(blk_write(&e, 8, a, 4096), VIRTIO_BLK_S_OK);                /* write 4 */
	CHECK_EQ(blk_read(&e, 0, b, 4096), VIRTIO_BLK_S_OK);                 /* read 1 */
	CHECK(memcmp(a, b, 4096) == 0);
	struct rq r = { .type = VIRTIO_BLK_T_IN, .sector = 0, .in_len = 4096, .in = b };
	CHECK_EQ(rq_run(&e, &r), VIRTIO_BLK_S_IOERR);                        /* read 2 */
	CHECK_EQ(r.used, 1); /* no data counted as written */
	CHECK_EQ(blk_read(&e, 8, b, 4096), VIRTIO_BLK_S_OK);                 /* read 3 */
	CHECK(memcmp(a, b, 4096) == 0);
	/* a read in two descriptors is two backend reads: the second fails */
	static const uint32_t ws[] = { 2048, 2048, 1 };
	struct rq r2 = { .type = VIRTIO_BLK_T_IN, .sector = 0, .in_len = 4096, .in = b, .ws = ws,
			 .nws = 3 };
	CHECK_EQ(rq_run(&e, &r2), VIRTIO_BLK_S_IOERR);                       /* read 4 */
	CHECK_EQ(r2.used, 1);
	struct rq r3 = r2;
	CHECK_EQ(rq_run(&e, &r3), VIRTIO_BLK_S_OK);                          /* reads 5, 6 */
	CHECK_EQ(r3.used, 4097);
	CHECK(memcmp(a, b, 4096) == 0);
	CHECK_EQ(blk_simple(&e, VIRTIO_BLK_T_FLUSH, 0), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(blk_simple(&e, VIRTIO_BLK_T_FLUSH, 0), VIRTIO_BLK_S_IOERR);
	CHECK(diag_count(&e.dev->log, DIAG_BACKEND_ERROR) >= 5);
	CHECK_EQ(stats(&e)->backend_errors, blk_fault_injected(be));
	still_serving(&e, 20);
	env_check_healthy(&e);
	env_close(&e);

	/* a failing write-through flush fails the write; a failing discard too */
	if (!env_start(&e, "mem=16M pci-modern:blk,cache=writethrough,fault=flush:1+discard:1+"
			   "write-zeroes:2",
		       false, F_ALL))
		return;
	CHECK_EQ(blk_write(&e, 0, a, 4096), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(blk_write(&e, 0, a, 4096), VIRTIO_BLK_S_OK);
	const uint64_t seg[2][3] = { { 0, 8, 0 }, { 8, 8, 0 } };
	CHECK_EQ(dwz(&e, VIRTIO_BLK_T_DISCARD, seg, 1), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(dwz(&e, VIRTIO_BLK_T_DISCARD, seg, 1), VIRTIO_BLK_S_OK);
	CHECK_EQ(dwz(&e, VIRTIO_BLK_T_WRITE_ZEROES, seg, 2), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(dwz(&e, VIRTIO_BLK_T_WRITE_ZEROES, seg, 2), VIRTIO_BLK_S_OK);
	CHECK_EQ(blk_fault_injected(blk_backend(e.dev)), 3);
	env_check_healthy(&e);
	env_close(&e);

	/* the size query fails: no device */
	struct machine *m;
	char err[256];
	CHECK(rs_machine_new("pci:blk,fault=size:1", &m, err, sizeof err) < 0);
	CHECK(strstr(err, "size") != NULL);
	CHECK(rs_machine_new("pci:blk,fault=bogus:1", &m, err, sizeof err) < 0);
	CHECK(strstr(err, "fault=") != NULL);
}

/* ---- multiqueue ----------------------------------------------------------------------------------- */

static void test_multiqueue(void)
{
	static const char *const specs[] = { "mem=16M pci-modern:blk,queues=4",
					     "mem=16M mmio:blk,queues=4",
					     "mem=16M pci-legacy:blk,queues=4" };
	uint8_t a[4][2048], b[2048];

	for (unsigned s = 0; s < RS_ARRAY_SIZE(specs); s++) {
		struct env e;

		if (!env_open(&e, specs[s], s == 2))
			return;
		CHECK(gdrv_device_features(e.d) & F(VIRTIO_BLK_F_MQ));
		CHECK_EQ(gdrv_queue_max(e.d, 3), BLK_QUEUE_MAX);
		CHECK_EQ(gdrv_queue_max(e.d, 4), 0);
		if (!env_up(&e, F_ALL, 4, 32))
			return;
		CHECK_EQ(gdrv_config_read(e.d, VIRTIO_BLK_CFG_NUM_QUEUES, 2), 4);
		/* each queue writes its own sectors; every queue reads them all */
		for (unsigned q = 0; q < 4; q++) {
			pattern(a[q], sizeof a[q], 80 + q);
			CHECK_EQ(blk_write_q(&e, q, q * 4, a[q], sizeof a[q]), VIRTIO_BLK_S_OK);
		}
		for (unsigned q = 0; q < 4; q++)
			for (unsigned k = 0; k < 4; k++) {
				CHECK_EQ(blk_read_q(&e, q, k * 4, b, sizeof b), VIRTIO_BLK_S_OK);
				CHECK(memcmp(a[k], b, sizeof b) == 0);
			}
		/* several requests in flight on two queues, one kick each */
		for (unsigned q = 1; q < 3; q++) {
			struct gdrv_vq *vq = &e.d->vq[q];
			uint8_t hdr[HDR];
			for (unsigned i = 0; i < 8; i++) {
				uint64_t base = e.rbuf + (q * 8 + i) * 64ull;
				rs_st32(hdr, VIRTIO_BLK_T_IN);
				rs_st32(hdr + 4, 0);
				rs_st64(hdr + 8, (i % 4) * 4);
				e.io.mem_write(e.io.ctx, base, hdr, HDR);
				struct gdrv_buf bb[2] = { { base, HDR },
							  { e.wbuf + (q * 8 + i) * 4096ull, 2049 } };
				CHECK_EQ(gdrv_submit(vq, bb, 1, 1, 500 + i, false), 0);
			}
			gdrv_kick(vq);
			for (unsigned i = 0; i < 8; i++) {
				uint64_t tok;
				uint32_t len;
				CHECK_EQ(gdrv_get_used(vq, &tok, &len), 1);
				CHECK_EQ(tok, 500 + i);
				CHECK_EQ(len, 2049);
				e.io.mem_read(e.io.ctx, e.wbuf + (q * 8 + i) * 4096ull, b, 2048);
				CHECK(memcmp(a[i % 4], b, 2048) == 0);
			}
		}
		env_check_healthy(&e);
		env_close(&e);
	}
}

/* ---- config space and cache mode ----------------------------------------------------------------- */

static void test_config(void)
{
	struct env e;

	if (!env_start(&e, "mem=16M pci-modern:blk,size=64M,blk-size=4096,queues=2,seg-max=100,"
			   "size-max=64K",
		       false, F_ALL))
		return;
	struct gdrv_dev *d = e.d;
	uint64_t sectors = (64u << 20) / SECTOR;
	CHECK_EQ(gdrv_config_read(d, VIRTIO_BLK_CFG_CAPACITY, 8), sectors);
	CHECK_EQ(gdrv_config_read(d, VIRTIO_BLK_CFG_CAPACITY, 4), sectors & 0xffffffff);
	CHECK_EQ(gdrv_config_read(d, VIRTIO_BLK_CFG_CAPACITY + 4, 4), sectors >> 32);
	CHECK_EQ(gdrv_config_read(d, VIRTIO_BLK_CFG_SIZE_MAX, 4), 64 << 10);
	CHECK_EQ(gdrv_config_read(d, VIRTIO_BLK_CFG_SEG_MAX, 4), 100);
	CHECK_EQ(gdrv_config_read(d, VIRTIO_BLK_CFG_CYLINDERS, 2), sectors / (16 * 63));
	CHECK_EQ(gdrv_config_read(d, VIRTIO_BLK_CFG_HEADS, 1), 16);
	CHECK_EQ(gdrv_config_read(d, VIRTIO_BLK_CFG_SECTORS, 1), 63);
	CHECK_EQ(gdrv_config_read(d, VIRTIO_BLK_CFG_BLK_SIZE, 4), 4096);
	CHECK_EQ(gdrv_config_read(d, VIRTIO_BLK_CFG_PHYSICAL_BLOCK_EXP, 1), 0);
	CHECK_EQ(gdrv_config_read(d, VIRTIO_BLK_CFG_ALIGNMENT_OFFSET, 1), 0);
	CHECK_EQ(gdrv_config_read(d, VIRTIO_BLK_CFG_MIN_IO_SIZE, 2), 1);
	CHECK_EQ(gdrv_config_read(d, VIRTIO_BLK_CFG_OPT_IO_SIZE, 4), 0);
	CHECK_EQ(gdrv_config_read(d, VIRTIO_BLK_CFG_WRITEBACK, 1), 1);
	CHECK_EQ(gdrv_config_read(d, VIRTIO_BLK_CFG_UNUSED0, 1), 0);
	CHECK_EQ(gdrv_config_read(d, VIRTIO_BLK_CFG_NUM_QUEUES, 2), 2);
	CHECK_EQ(gdrv_config_read(d, VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS, 4), 1u << 22);
	CHECK_EQ(gdrv_config_read(d, VIRTIO_BLK_CFG_MAX_DISCARD_SEG, 4), 32);
	CHECK_EQ(gdrv_config_read(d, VIRTIO_BLK_CFG_DISCARD_SECTOR_ALIGNMENT, 4), 8);
	CHECK_EQ(gdrv_config_read(d, VIRTIO_BLK_CFG_MAX_WRITE_ZEROES_SECTORS, 4), 1u << 22);
	CHECK_EQ(gdrv_config_read(d, VIRTIO_BLK_CFG_MAX_WRITE_ZEROES_SEG, 4), 32);
	for (unsigned i = 0; i < 3; i++)
		CHECK_EQ(gdrv_config_read(d, VIRTIO_BLK_CFG_UNUSED1 + i, 1), 0);
	CHECK_EQ(e.dev->log.total, 0);
	/* width rules: a 4-byte read across heads/sectors is reported, served bytewise */
	CHECK_EQ(vdev_config_read(e.dev, VIRTIO_BLK_CFG_CYLINDERS, 4),
		 (sectors / (16 * 63)) | (16u << 16) | (63u << 24));
	CHECK_EQ(diag_count(&e.dev->log, DIAG_CONFIG_WIDTH), 1);
	/* read-only fields stay */
	gdrv_config_write(d, VIRTIO_BLK_CFG_CAPACITY, 8, 1);
	CHECK_EQ(gdrv_config_read(d, VIRTIO_BLK_CFG_CAPACITY, 8), sectors);
	CHECK(diag_count(&e.dev->log, DIAG_CONFIG_READONLY) >= 1);
	gdrv_config_write(d, VIRTIO_BLK_CFG_BLK_SIZE, 4, 512);
	CHECK_EQ(gdrv_config_read(d, VIRTIO_BLK_CFG_BLK_SIZE, 4), 4096);

	/* cache mode: writeback by default, no flush per write; writethrough
	 * flushes after every write; any non-zero value means writeback */
	uint8_t a[4096];
	pattern(a, sizeof a, 1);
	uint64_t fl = stats(&e)->flushes;
	CHECK_EQ(blk_write(&e, 0, a, 4096), VIRTIO_BLK_S_OK);
	CHECK_EQ(stats(&e)->flushes, fl);
	gdrv_config_write(d, VIRTIO_BLK_CFG_WRITEBACK, 1, 0);
	CHECK_EQ(gdrv_config_read(d, VIRTIO_BLK_CFG_WRITEBACK, 1), 0);
	CHECK_EQ(blk_write(&e, 0, a, 4096), VIRTIO_BLK_S_OK);
	CHECK_EQ(stats(&e)->flushes, fl + 1);
	const uint64_t seg[1][3] = { { 0, 8, 0 } };
	CHECK_EQ(dwz(&e, VIRTIO_BLK_T_WRITE_ZEROES, seg, 1), VIRTIO_BLK_S_OK);
	CHECK_EQ(stats(&e)->flushes, fl + 2);
	gdrv_config_write(d, VIRTIO_BLK_CFG_WRITEBACK, 1, 7);
	CHECK_EQ(gdrv_config_read(d, VIRTIO_BLK_CFG_WRITEBACK, 1), 1);
	CHECK_EQ(blk_write(&e, 0, a, 4096), VIRTIO_BLK_S_OK);
	CHECK_EQ(stats(&e)->flushes, fl + 2);

	/* reset: writeback back to the option's default, the data stays */
	gdrv_config_write(d, VIRTIO_BLK_CFG_WRITEBACK, 1, 0);
	gdrv_reset(d);
	CHECK_EQ(vdev_config_read(e.dev, VIRTIO_BLK_CFG_WRITEBACK, 1), 1);
	CHECK(env_up(&e, F_ALL, 2, 16));
	CHECK_EQ(gdrv_config_read(d, VIRTIO_BLK_CFG_WRITEBACK, 1), 1);
	CHECK_EQ(gdrv_config_read(d, VIRTIO_BLK_CFG_CAPACITY, 8), sectors);
	uint8_t b[4096];
	CHECK_EQ(blk_read_q(&e, 1, 0, b, 4096), VIRTIO_BLK_S_OK);
	CHECK(memcmp(a, b, 4096) == 0);
	uint8_t snap[16];
	CHECK_EQ(e.dev->ops->save(e.dev, snap, sizeof snap), 9);
	CHECK_EQ(snap[0], 1);
	CHECK_EQ(rs_le64(snap + 1), 64u << 20);
	CHECK_EQ(e.dev->ops->save(e.dev, NULL, 0), 9);
	env_close(&e);

	/* without CONFIG_WCE the driver may not change the mode */
	if (!env_start(&e, "mem=16M pci-modern:blk", false, F_ALL & ~F(VIRTIO_BLK_F_CONFIG_WCE)))
		return;
	gdrv_config_write(e.d, VIRTIO_BLK_CFG_WRITEBACK, 1, 0);
	CHECK_EQ(gdrv_config_read(e.d, VIRTIO_BLK_CFG_WRITEBACK, 1), 1);
	CHECK_EQ(diag_count(&e.dev->log, DIAG_CONFIG_READONLY), 1);
	fl = stats(&e)->flushes;
	CHECK_EQ(blk_write(&e, 0, a, 4096), VIRTIO_BLK_S_OK);
	CHECK_EQ(stats(&e)->flushes, fl); /* FLUSH negotiated: writeback */
	env_close(&e);

	/* CONFIG_WCE without FLUSH: writeback starts at 0 (5.2.5.2) */
	if (!env_start(&e, "mem=16M pci-modern:blk", false, F_ALL & ~F(VIRTIO_BLK_F_FLUSH)))
		return;
	CHECK_EQ(gdrv_config_read(e.d, VIRTIO_BLK_CFG_WRITEBACK, 1), 0);
	fl = stats(&e)->flushes;
	CHECK_EQ(blk_write(&e, 0, a, 4096), VIRTIO_BLK_S_OK);
	CHECK_EQ(stats(&e)->flushes, fl + 1);
	gdrv_config_write(e.d, VIRTIO_BLK_CFG_WRITEBACK, 1, 1);
	CHECK_EQ(blk_write(&e, 0, a, 4096), VIRTIO_BLK_S_OK);
	CHECK_EQ(stats(&e)->flushes, fl + 2); /* no FLUSH: still write-through */
	env_close(&e);

	/* neither: every write is stable */
	if (!env_start(&e, "mem=16M pci-modern:blk", false,
		       F_ALL & ~F(VIRTIO_BLK_F_FLUSH) & ~F(VIRTIO_BLK_F_CONFIG_WCE)))
		return;
	fl = stats(&e)->flushes;
	CHECK_EQ(blk_write(&e, 0, a, 4096), VIRTIO_BLK_S_OK);
	CHECK_EQ(stats(&e)->flushes, fl + 1);
	env_close(&e);

	/* legacy: writeback may be written before features are negotiated; at
	 * DRIVER_OK a driver without FLUSH and CONFIG_WCE gets writethrough */
	if (!env_open(&e, "mem=16M pci-legacy:blk", true))
		return;
	CHECK_EQ(gdrv_init(e.d, F_ALL & ~F(VIRTIO_BLK_F_FLUSH) & ~F(VIRTIO_BLK_F_CONFIG_WCE)), 0);
	CHECK_EQ(gdrv_config_read(e.d, VIRTIO_BLK_CFG_WRITEBACK, 1), 1);
	CHECK_EQ(gdrv_setup_vq(e.d, 0, 16), 0);
	gdrv_driver_ok(e.d);
	CHECK_EQ(gdrv_config_read(e.d, VIRTIO_BLK_CFG_WRITEBACK, 1), 0);
	gdrv_reset(e.d);
	CHECK_EQ(gdrv_config_read(e.d, VIRTIO_BLK_CFG_WRITEBACK, 1), 1);
	gdrv_config_write(e.d, VIRTIO_BLK_CFG_WRITEBACK, 1, 0);
	CHECK_EQ(gdrv_config_read(e.d, VIRTIO_BLK_CFG_WRITEBACK, 1), 0);
	CHECK_EQ(gdrv_init(e.d, F_ALL), 0); /* resets: writeback again */
	CHECK_EQ(gdrv_config_read(e.d, VIRTIO_BLK_CFG_WRITEBACK, 1), 1);
	gdrv_config_write(e.d, VIRTIO_BLK_CFG_WRITEBACK, 1, 0);
	CHECK_EQ(gdrv_setup_vq(e.d, 0, 16), 0);
	gdrv_driver_ok(e.d);
	CHECK_EQ(gdrv_config_read(e.d, VIRTIO_BLK_CFG_WRITEBACK, 1), 0);
	/* FLUSH_OUT is FLUSH on the legacy interface */
	fl = stats(&e)->flushes;
	CHECK_EQ(blk_simple(&e, VIRTIO_BLK_T_FLUSH_OUT, 0), VIRTIO_BLK_S_OK);
	CHECK_EQ(stats(&e)->flushes, fl + 1);
	env_close(&e);

	/* cache=writethrough */
	if (!env_start(&e, "mem=16M mmio:blk,cache=writethrough", false, F_ALL))
		return;
	CHECK_EQ(gdrv_config_read(e.d, VIRTIO_BLK_CFG_WRITEBACK, 1), 0);
	env_close(&e);
}

/* Reset mid-session: queues and cache mode start over, the disk keeps
 * its data, requests work again. */
static void test_reset(void)
{
	struct env e;
	uint8_t a[4096], b[4096];

	if (!env_open(&e, "mem=16M pci-modern:blk", false))
		return;
	uint64_t power_on = vdev_state_hash(e.dev);
	CHECK(env_up(&e, F_ALL, 1, 64));
	gdrv_config_write(e.d, VIRTIO_BLK_CFG_WRITEBACK, 1, 0);
	pattern(a, sizeof a, 12);
	CHECK_EQ(blk_write(&e, 0, a, 4096), VIRTIO_BLK_S_OK);
	uint64_t before = vdev_state_hash(e.dev);
	/* chains made available but never kicked are dropped by the reset */
	struct gdrv_buf bb[2] = { { e.rbuf, HDR }, { e.wbuf, 513 } };
	CHECK_EQ(gdrv_submit(&e.d->vq[0], bb, 1, 1, 1, false), 0);
	gdrv_reset(e.d);
	CHECK_EQ(gdrv_get_status(e.d), 0);
	CHECK_EQ(e.dev->queues[0].enabled, false);
	CHECK(vdev_state_hash(e.dev) != before);
	CHECK_EQ(vdev_state_hash(e.dev), power_on);
	for (unsigned round = 0; round < 3; round++) {
		CHECK(env_up(&e, round == 1 ? F_SPLIT : F_ALL, 1, 32));
		CHECK_EQ(blk_read(&e, 0, b, 4096), VIRTIO_BLK_S_OK);
		CHECK(memcmp(a, b, 4096) == 0);
		gdrv_reset(e.d);
	}
	/* two resets in a row land in the same state */
	uint64_t h = vdev_state_hash(e.dev);
	gdrv_reset(e.d);
	CHECK_EQ(vdev_state_hash(e.dev), h);
	env_check_healthy(&e);
	env_close(&e);
}

/* ---- staged transfers (guest memory not direct) --------------------------------------------------- */

static uint64_t g_tap_writes, g_tap_reads;

static void count_tap(void *ctx, enum gm_access dir, uint64_t gpa, const void *data, size_t len)
{
	if (dir == GM_ACCESS_WRITE)
		g_tap_writes += len;
	else
		g_tap_reads += len;
}

static unsigned g_world_io;

static void count_world(void *ctx, enum world_input kind, const struct world_event *ev,
			const struct world_io *io, int64_t value, const void *data, size_t len)
{
	if (kind == WIN_IO)
		g_world_io++;
}

/* With a tap on the arena (a recorder), data is staged through the bounce
 * buffer and every byte is seen by the tap; the backend calls are the same
 * as without it. */
static void test_bounce(void)
{
	struct env e;
	uint8_t *a = malloc(300 << 10), *b = malloc(300 << 10);

	if (!env_start(&e, "mem=16M pci-modern:blk", false, F_ALL))
		goto out;
	world_set_tap(e.m->world, count_world, NULL);
	for (unsigned t = 0; t < 2; t++) {
		gm_set_tap(&e.m->gm, t ? count_tap : NULL, NULL);
		g_world_io = 0;
		CHECK_EQ(blk_read(&e, 0, b, 200 << 10), VIRTIO_BLK_S_OK);
		CHECK_EQ(g_world_io, 4); /* 64K + 64K + 64K + 8K */
	}
	world_set_tap(e.m->world, NULL, NULL);
	gm_set_tap(&e.m->gm, count_tap, NULL);
	g_tap_reads = g_tap_writes = 0;
	pattern(a, 300 << 10, 13);
	CHECK_EQ(blk_write(&e, 3, a, 300 << 10), VIRTIO_BLK_S_OK);
	CHECK(g_tap_reads >= (300 << 10));
	CHECK_EQ(blk_read(&e, 3, b, 300 << 10), VIRTIO_BLK_S_OK);
	CHECK(g_tap_writes >= (300 << 10) + 1);
	CHECK(memcmp(a, b, 300 << 10) == 0);
	gm_set_tap(&e.m->gm, NULL, NULL);
	CHECK_EQ(blk_read(&e, 3, b, 300 << 10), VIRTIO_BLK_S_OK);
	CHECK(memcmp(a, b, 300 << 10) == 0);
	env_check_healthy(&e);
	env_close(&e);
out:
	free(a);
	free(b);
}

/* An arena source that refuses device accesses to [g_fail_lo, g_fail_hi), as a
 * replay source does on divergence: the request fails, the device goes on. */
static uint64_t g_fail_lo, g_fail_hi;

static bool fails(uint64_t gpa, size_t len)
{
	return gpa < g_fail_hi && gpa + len > g_fail_lo;
}

static int fsrc_read(void *ctx, struct gm *gm, uint64_t gpa, uint8_t *host, void *dst, size_t len)
{
	if (fails(gpa, len))
		return -EIO;
	memcpy(dst, host, len);
	return 0;
}

static int fsrc_write(void *ctx, struct gm *gm, uint64_t gpa, uint8_t *host, const void *src,
		      size_t len)
{
	if (fails(gpa, len))
		return -EIO;
	memcpy(host, src, len);
	return 0;
}

static const struct gm_source_ops failing_source = {
	.name = "failing",
	.read = fsrc_read,
	.write = fsrc_write,
	.direct = false,
};

static void test_arena_refuses(void)
{
	struct env e;
	uint8_t a[1024], b[1024];

	if (!env_start(&e, "mem=16M pci-modern:blk", false, F_ALL))
		return;
	gm_set_source(&e.m->gm, &failing_source, NULL);
	pattern(a, sizeof a, 16);
	/* the header cannot be read */
	g_fail_lo = e.rbuf;
	g_fail_hi = e.rbuf + 1;
	CHECK_EQ(blk_write(&e, 0, a, 1024), VIRTIO_BLK_S_IOERR);
	/* the data to write cannot be read (it follows the header, GAP apart) */
	g_fail_lo = e.rbuf + HDR + GAP + 512;
	g_fail_hi = e.rbuf + BUF_SIZE;
	CHECK_EQ(blk_write(&e, 0, a, 1024), VIRTIO_BLK_S_IOERR);
	const uint64_t seg[1][3] = { { 0, 8, 0 } };
	g_fail_lo = e.rbuf + HDR + GAP;
	CHECK_EQ(dwz(&e, VIRTIO_BLK_T_DISCARD, seg, 1), VIRTIO_BLK_S_IOERR);
	/* read data cannot be stored: the second half fails */
	g_fail_lo = 0;
	g_fail_hi = 0;
	CHECK_EQ(blk_write(&e, 0, a, 1024), VIRTIO_BLK_S_OK);
	static const uint32_t ws[] = { 512, 512, 1 };
	g_fail_lo = e.wbuf + 512 + GAP;
	g_fail_hi = g_fail_lo + 512;
	struct rq r = { .type = VIRTIO_BLK_T_IN, .in_len = 1024, .in = b, .ws = ws, .nws = 3 };
	CHECK_EQ(rq_run(&e, &r), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(r.used, 513); /* the first half arrived */
	CHECK(memcmp(a, b, 512) == 0);
	/* the status cannot be stored: used length counts the data only */
	g_fail_lo = e.wbuf + 1024 + GAP;
	g_fail_hi = g_fail_lo + 1;
	struct rq r2 = { .type = VIRTIO_BLK_T_IN, .in_len = 1024, .in = b };
	CHECK_EQ(rq_run(&e, &r2), FILL);
	CHECK_EQ(r2.used, 1024);
	CHECK(memcmp(a, b, 1024) == 0);
	/* and then everything works again */
	g_fail_lo = g_fail_hi = 0;
	still_serving(&e, 30);
	gm_set_source(&e.m->gm, NULL, NULL);
	still_serving(&e, 31);
	env_check_healthy(&e);
	env_close(&e);
}

/* A world that answers backend calls itself, as a fuzz world would:
 * odd sizes, short reads and writes. */
static int64_t g_size_answer;
static bool g_short;

static int64_t hw_io(struct world *w, struct world_backend *b, struct world_io *req)
{
	if (req->op == WIO_SIZE && g_size_answer)
		return g_size_answer;
	if (g_short && (req->op == WIO_READ || req->op == WIO_WRITE))
		return (int64_t)req->len / 2;
	return b->ops->io(b, req);
}

static uint64_t hw_clock(struct world *w, enum world_clock c)
{
	return 0;
}

static int hw_next(struct world *w, struct world_event *ev)
{
	return 0;
}

static void hw_destroy(struct world *w)
{
	free(w);
}

static const struct world_ops hostile_world_ops = {
	.name = "hostile",
	.clock_ns = hw_clock,
	.io = hw_io,
	.next_event = hw_next,
	.destroy = hw_destroy,
};

static void test_hostile_world(void)
{
	struct machine *m;
	struct world *w = calloc(1, sizeof *w);
	char err[256];
	uint8_t a[1024], b[1024];

	w->ops = &hostile_world_ops;
	/* a size that is no whole number of sectors: rounded down */
	g_size_answer = 1000 * 1000 + 3;
	g_short = false;
	if (rs_machine_new_world("mem=16M pci-modern:blk,size=8M", w, &m, err, sizeof err) == 0) {
		CHECK(!"size above the world's answer accepted");
		rs_machine_free(m);
		return;
	}
	CHECK(strstr(err, "larger") != NULL);
	char path[64], spec[128];
	if (make_image(path, sizeof path, 1, 4096) < 0) {
		free(w);
		return;
	}
	snprintf(spec, sizeof spec, "mem=16M pci-modern:blk,file=%s", path);
	CHECK_EQ(rs_machine_new_world(spec, w, &m, err, sizeof err), 0);
	unlink(path);
	if (!m) {
		free(w);
		return;
	}
	CHECK_EQ(vdev_config_read(m->devs[0], VIRTIO_BLK_CFG_CAPACITY, 8), 1953);
	rs_machine_free(m);

	/* short transfers are I/O errors */
	struct env e;
	w = calloc(1, sizeof *w);
	w->ops = &hostile_world_ops;
	g_size_answer = 0;
	memset(&e, 0, sizeof e);
	CHECK_EQ(rs_machine_new_world("mem=16M pci-modern:blk", w, &e.m, err, sizeof err), 0);
	if (!e.m)
		return;
	e.dev = e.m->devs[0];
	gdrv_machine_io(&e.io, e.m);
	e.mem = (struct gdrv_mem){ DRV_MEM_BASE, DRV_MEM_BASE + DRV_MEM_SIZE };
	e.d = calloc(1, sizeof *e.d);
	e.rbuf = gdrv_alloc(&e.io, &e.mem, BUF_SIZE, 4096);
	e.wbuf = gdrv_alloc(&e.io, &e.mem, BUF_SIZE, 4096);
	struct gdrv_pci_info info;
	CHECK_EQ(gdrv_pci_scan(&e.io, &info, 1), 1);
	CHECK_EQ(gdrv_open_pci(e.d, &e.io, &e.mem, &info, false), 0);
	CHECK(env_up(&e, F_ALL, 1, 16));
	pattern(a, sizeof a, 17);
	CHECK_EQ(blk_write(&e, 0, a, 1024), VIRTIO_BLK_S_OK);
	g_short = true;
	CHECK_EQ(blk_write(&e, 0, a, 1024), VIRTIO_BLK_S_IOERR);
	struct rq r = { .type = VIRTIO_BLK_T_IN, .in_len = 1024, .in = b };
	CHECK_EQ(rq_run(&e, &r), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(r.used, 1);
	CHECK_EQ(stats(&e)->backend_errors, 2);
	CHECK_EQ(diag_count(&e.dev->log, DIAG_BACKEND_ERROR), 2);
	g_short = false;
	CHECK_EQ(blk_read(&e, 0, b, 1024), VIRTIO_BLK_S_OK);
	CHECK(memcmp(a, b, 1024) == 0);
	env_check_healthy(&e);
	env_close(&e);
}

/* ---- backend replacement -------------------------------------------------------------------------- */

static void test_attach(void)
{
	struct env e;
	struct blk_mem_base *base;
	struct world_backend *nb;
	char err[128];
	uint8_t a[1024], b[1024];

	if (!env_start(&e, "mem=16M pci-modern:blk", false, F_ALL))
		return;
	CHECK_EQ(blk_mem_base_new(NULL, 2 << 20, &base, err, sizeof err), 0);
	CHECK_EQ(blk_mem_new(base, &nb), 0);
	blk_mem_base_put(base);
	uint32_t gen = gdrv_config_generation(e.d);
	CHECK_EQ(blk_attach_backend(e.dev, nb), 0);
	CHECK(gdrv_config_generation(e.d) != gen);
	CHECK(gdrv_ack_isr(e.d) & VIRTIO_ISR_CONFIG);
	CHECK_EQ(gdrv_config_read(e.d, VIRTIO_BLK_CFG_CAPACITY, 8), (2u << 20) / SECTOR);
	CHECK(blk_backend(e.dev) == nb);
	pattern(a, sizeof a, 14);
	CHECK_EQ(blk_write(&e, 4000, a, 1024), VIRTIO_BLK_S_OK);
	CHECK_EQ(blk_read(&e, 4000, b, 1024), VIRTIO_BLK_S_OK);
	CHECK(memcmp(a, b, 1024) == 0);
	CHECK_EQ(blk_read(&e, 4096, b, 512), VIRTIO_BLK_S_IOERR);
	/* refused: not blk, no backend, a backend that cannot be sized */
	CHECK_EQ(blk_attach_backend(NULL, nb), -EINVAL);
	CHECK_EQ(blk_attach_backend(e.dev, NULL), -EINVAL);
	struct world_backend *m2, *f;
	CHECK_EQ(mem_zero(&m2), 0);
	CHECK_EQ(blk_fault_new(m2, "size:*", &f, err, sizeof err), 0);
	CHECK_EQ(blk_attach_backend(e.dev, f), -EIO);
	blk_backend_destroy(f);
	CHECK(blk_backend(e.dev) == nb);
	env_close(&e);
}

/* ---- options -------------------------------------------------------------------------------------- */

static void expect_error(const char *spec, const char *want)
{
	struct machine *m = NULL;
	char err[512] = "";

	CHECK(rs_machine_new(spec, &m, err, sizeof err) < 0);
	CHECK(m == NULL);
	CHECK(strchr(err, '\n') == NULL);
	if (!strstr(err, want)) {
		fprintf(stderr, "spec '%s': error '%s' lacks '%s'\n", spec, err, want);
		CHECK(0);
	}
}

static void test_options(void)
{
	expect_error("pci:blk,size=1000", "size=");
	expect_error("pci:blk,size=0", "size=");
	expect_error("pci:blk,size=0x8000000000000000", "size=");
	expect_error("pci:blk,size=lots", "size");
	expect_error("pci:blk,queues=0", "queues");
	expect_error("pci:blk,queues=many", "queues");
	expect_error("pci:blk,queues=17", "queues");
	expect_error("pci:blk,seg-max=0", "seg-max");
	expect_error("pci:blk,size-max=100", "size-max");
	expect_error("pci:blk,size-max=4G", "size-max");
	expect_error("pci:blk,blk-size=1000", "blk-size");
	expect_error("pci:blk,blk-size=256", "blk-size");
	expect_error("pci:blk,blk-size=128K", "blk-size");
	expect_error("pci:blk,discard-max=0", "discard-max");
	expect_error("pci:blk,discard-seg=1025", "discard-seg");
	expect_error("pci:blk,write-zeroes-max=0", "write-zeroes-max");
	expect_error("pci:blk,write-zeroes-seg=0", "write-zeroes-seg");
	expect_error("pci:blk,cache=none", "cache=none");
	expect_error("pci:blk,serial=123456789012345678901", "serial");
	expect_error("pci:blk,serial=\x01", "serial");
	expect_error("pci:blk,ro=maybe", "ro");
	expect_error("pci:blk,discard=maybe", "discard");
	expect_error("pci:blk,cow=maybe", "cow");
	expect_error("pci:blk,write-zeroes=2", "write-zeroes");
	expect_error("pci:blk,file", "file=");
	expect_error("pci:blk,fault", "fault=");
	expect_error("pci:blk,fault=read:0", "bad rule 'read:0'");
	expect_error("pci:blk,sise=8M", "sise");

	/* a serial of exactly 20 characters has no NUL */
	struct env e;
	if (!env_start(&e, "mem=16M pci-modern:blk,serial=ABCDEFGHIJ0123456789,size=64G,queues=16",
		       false, F_ALL))
		return;
	char id[VIRTIO_BLK_ID_BYTES];
	struct rq g = { .type = VIRTIO_BLK_T_GET_ID, .in_len = VIRTIO_BLK_ID_BYTES, .in = id };
	CHECK_EQ(rq_run(&e, &g), VIRTIO_BLK_S_OK);
	CHECK(memcmp(id, "ABCDEFGHIJ0123456789", 20) == 0);
	CHECK_EQ(gdrv_config_read(e.d, VIRTIO_BLK_CFG_CAPACITY, 8), (64ull << 30) / SECTOR);
	CHECK_EQ(gdrv_config_read(e.d, VIRTIO_BLK_CFG_NUM_QUEUES, 2), 16);
	CHECK_EQ(gdrv_config_read(e.d, VIRTIO_BLK_CFG_CYLINDERS, 2), 65535);
	/* the far end of a 64 GiB sparse image */
	uint8_t a[512], b[512];
	pattern(a, sizeof a, 15);
	CHECK_EQ(blk_write(&e, (64ull << 30) / SECTOR - 1, a, 512), VIRTIO_BLK_S_OK);
	CHECK_EQ(blk_read(&e, (64ull << 30) / SECTOR - 1, b, 512), VIRTIO_BLK_S_OK);
	CHECK(memcmp(a, b, 512) == 0);
	env_close(&e);

	/* every documented option at once */
	if (!env_start(&e, "mem=16M pci:blk,size=1M,ro=off,serial=x,queues=2,seg-max=8,"
			   "size-max=8K,blk-size=512,discard=on,write-zeroes=on,"
			   "cache=writeback,cow=off",
		       false, F_ALL))
		return;
	CHECK_EQ(gdrv_config_read(e.d, VIRTIO_BLK_CFG_SEG_MAX, 4), 8);
	CHECK_EQ(gdrv_config_read(e.d, VIRTIO_BLK_CFG_PHYSICAL_BLOCK_EXP, 1), 3);
	CHECK_EQ(gdrv_config_read(e.d, VIRTIO_BLK_CFG_MIN_IO_SIZE, 2), 8);
	env_close(&e);
}

/* A device outside a machine has no world to reach a backend through. */
static void test_no_world(void)
{
	struct gm gm;
	struct vdev *d = (struct vdev *)1;
	char err[200];

	gm_init(&gm);
	CHECK(vdev_create(rs_device_find("blk"), &gm, "blk0", NULL, &d, err, sizeof err) < 0);
	CHECK(d == NULL);
	CHECK(strstr(err, "world") != NULL);
	gm_destroy(&gm);
}

int main(void)
{
	RUN(test_pci_modern);
	RUN(test_pci_modern_packed);
	RUN(test_pci_legacy);
	RUN(test_pci_transitional);
	RUN(test_mmio);
	RUN(test_minimal_features);
	RUN(test_odd_framing);
	RUN(test_malformed);
	RUN(test_limits_not_negotiated);
	RUN(test_discard_write_zeroes);
	RUN(test_read_only);
	RUN(test_file_backend);
	RUN(test_file_zero_fallback);
	RUN(test_cow_overlay);
	RUN(test_backend_api);
	RUN(test_fault_injection);
	RUN(test_multiqueue);
	RUN(test_config);
	RUN(test_reset);
	RUN(test_bounce);
	RUN(test_arena_refuses);
	RUN(test_hostile_world);
	RUN(test_attach);
	RUN(test_options);
	RUN(test_no_world);
	return check_done();
}
