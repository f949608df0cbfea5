/*
 * ringside tests — the virtio entropy device "rng" (devices/rng/rng.c)
 * through the reference driver over every transport: PCI modern, PCI legacy,
 * PCI transitional through both interfaces, MMIO v2 and MMIO v1. The
 * machine gets a deterministic test world, so the bytes the guest finds
 * are checked against exactly the bytes the world handed out (and that its
 * tap saw). Hostile chains: huge descriptors (1 GiB, and four overlapping
 * ones close to 4 GiB) clipped to max-bytes, chains longer than 2^32-1
 * (queue error, NEEDS_RESET, recovery by reset), readable-only, mixed and
 * zero-length chains; entropy failures; options; config space; reset.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ringside/guest_machine.h"
#include "ringside/ringside.h"
#include "ringside/virtio.h"

#define F(b) VIRTIO_BIT(b)
#define F_ALL (~0ull)
#define F_SPLIT (~F(VIRTIO_F_RING_PACKED))
#define DRV_MEM_BASE 0x100000ull
#define DRV_MEM_SIZE (8ull << 20)
#define DEFAULT_CAP (64u << 10)
#define FILL 0xee

/* ---- a deterministic world ------------------------------------------------------------------ */

/* Byte k of the world's entropy stream. */
static uint8_t stream_byte(uint64_t k)
{
	uint64_t x = (k + 1) * 0x9e3779b97f4a7c15ull;

	x ^= x >> 29;
	return (uint8_t)(x ^ (x >> 11));
}

struct detw {
	struct world w;
	uint64_t pos;      /* next stream position */
	unsigned calls;    /* entropy calls (successful or not) */
	size_t last_len;
	unsigned last_dev;
	unsigned fail;     /* fail this many coming calls with -EIO */
	unsigned fail_call;/* and the call with this number (1-based; 0 none) */
};

static int detw_entropy(struct world *w, unsigned dev, void *buf, size_t len)
{
	struct detw *t = w->impl;

	t->calls++;
	t->last_len = len;
	t->last_dev = dev;
	if (t->fail_call == t->calls)
		return -EIO;
	if (t->fail) {
		t->fail--;
		return -EIO;
	}
	for (size_t i = 0; i < len; i++)
		((uint8_t *)buf)[i] = stream_byte(t->pos + i);
	t->pos += len;
	return 0;
}

static uint64_t detw_clock(struct world *w, enum world_clock c)
{
	return 0;
}

static int detw_next(struct world *w, struct world_event *ev)
{
	return 0;
}

static int detw_post(struct world *w, const struct world_event *ev)
{
	return -ENOSPC;
}

static void detw_destroy(struct world *w)
{
	free(w->impl);
}

static const struct world_ops detw_ops = {
	.name = "det",
	.entropy = detw_entropy,
	.clock_ns = detw_clock,
	.next_event = detw_next,
	.post = detw_post,
	.destroy = detw_destroy,
};

/* The tap keeps every entropy byte it was shown, in order. */
#define TAP_BYTES (4u << 20)
static uint8_t *g_tap_bytes;
static size_t g_tap_len;
static unsigned g_tap_entropy, g_tap_errors, g_tap_other;

static void tap_fn(void *ctx, enum world_input kind, const struct world_event *ev,
		   const struct world_io *io, int64_t value, const void *data, size_t len)
{
	if (kind != WIN_ENTROPY) {
		g_tap_other++;
		return;
	}
	g_tap_entropy++;
	if (value < 0) {
		g_tap_errors++;
		return;
	}
	CHECK_EQ(ev->arg, len);
	if (g_tap_len + len <= TAP_BYTES) {
		memcpy(g_tap_bytes + g_tap_len, data, len);
		g_tap_len += len;
	}
}

/* ---- environment ---------------------------------------------------------------------------- */

struct env {
	struct machine *m;
	struct detw *w;         /* NULL: the live world */
	struct gdrv_io io;
	struct gdrv_mem mem;
	struct gdrv_dev *d;
	struct vdev *dev;
	uint64_t buf;           /* DRV_MEM_SIZE / 2 bytes of driver buffers */
	uint64_t token;
};

/* Build spec with a deterministic world (det) or the live one, open device
 * 0 (PCI: through the legacy interface when use_legacy). */
static bool env_open(struct env *e, const char *spec, bool det, bool use_legacy)
{
	char err[256];
	struct world *w = NULL;

	memset(e, 0, sizeof *e);
	if (det) {
		e->w = calloc(1, sizeof *e->w);
		e->w->w.ops = &detw_ops;
		e->w->w.impl = e->w;
		w = &e->w->w;
		g_tap_len = 0;
		g_tap_entropy = g_tap_errors = g_tap_other = 0;
		world_set_tap(w, tap_fn, NULL);
	}
	if (rs_machine_new_world(spec, w, &e->m, err, sizeof err) < 0) {
		fprintf(stderr, "rs_machine_new_world(%s): %s\n", spec, err);
		CHECK(!"machine");
		free(e->w);
		return false;
	}
	CHECK_EQ(e->m->ndevs, 1);
	e->dev = e->m->devs[0];
	gdrv_machine_io(&e->io, e->m);
	e->mem.next = DRV_MEM_BASE;
	e->mem.end = DRV_MEM_BASE + DRV_MEM_SIZE;
	e->d = calloc(1, sizeof *e->d);
	e->buf = gdrv_alloc(&e->io, &e->mem, DRV_MEM_SIZE / 2, 4096);
	CHECK(e->buf != 0);

	struct machine_devinfo *di = &e->m->devinfo[0];
	if (di->transport == MSPEC_MMIO || di->transport == MSPEC_MMIO_LEGACY) {
		CHECK_EQ(gdrv_open_mmio(e->d, &e->io, &e->mem, di->base), 0);
	} else {
		struct gdrv_pci_info info[4];
		unsigned n = gdrv_pci_scan(&e->io, info, 4);
		CHECK_EQ(n, 1);
		if (n != 1)
			return false;
		CHECK_EQ(info[0].slot, (unsigned)di->slot);
		CHECK_EQ(gdrv_open_pci(e->d, &e->io, &e->mem, &info[0], use_legacy), 0);
		/* virtio-v1.2 4.1.2.1: 0x1040 + 4 modern-only, 0x1005 otherwise */
		CHECK_EQ(info[0].device, di->transport == MSPEC_PCI_MODERN ? 0x1044 : 0x1005);
		CHECK_EQ(info[0].vendor, 0x1af4);
	}
	CHECK_EQ(e->d->device_id, VIRTIO_ID_RNG);
	return true;
}

static bool env_up(struct env *e, uint64_t want, uint16_t qsize)
{
	CHECK_EQ(gdrv_init(e->d, want), 0);
	CHECK_EQ(gdrv_setup_vq(e->d, 0, qsize), 0);
	gdrv_driver_ok(e->d);
	CHECK(gdrv_get_status(e->d) & VIRTIO_STATUS_DRIVER_OK);
	return e->d->nqueues == 1;
}

static void env_close(struct env *e)
{
	rs_machine_free(e->m); /* frees the world too */
	free(e->d);
	memset(e, 0, sizeof *e);
}

/* Nothing the reference driver did may have been reported. */
static void env_check_clean(struct env *e)
{
	CHECK_EQ(e->dev->log.total, 0);
	if (e->dev->log.total)
		fprintf(stderr, "rng: %s\n", diag_last(&e->dev->log)->msg);
	CHECK_EQ(e->m->log.total, 0);
}

/* The device's counters from its snapshot (docs/devices/rng.md). */
enum { ST_REQUESTS, ST_BYTES, ST_CLIPPED, ST_EMPTY, ST_READABLE, ST_ERRORS, ST_N };

static uint64_t stat_of(struct env *e, unsigned which)
{
	uint8_t b[8 * ST_N];

	CHECK_EQ(e->dev->ops->save(e->dev, b, sizeof b), sizeof b);
	return rs_le64(b + 8 * which);
}

static void fill(struct env *e, uint64_t gpa, uint32_t len, uint8_t v)
{
	uint8_t b[4096];

	memset(b, v, sizeof b);
	for (uint32_t off = 0; off < len; off += sizeof b)
		e->io.mem_write(e->io.ctx, gpa + off, b, RS_MIN(sizeof b, (size_t)(len - off)));
}

/* Submit one chain, kick, collect it. Returns the used length (or
 * UINT32_MAX when nothing completed). */
static uint32_t roundtrip(struct env *e, const struct gdrv_buf *b, unsigned nout, unsigned nin,
			  bool indirect)
{
	struct gdrv_vq *vq = &e->d->vq[0];
	uint64_t tok = 0, want = ++e->token;
	uint32_t len = 0;

	CHECK_EQ(gdrv_submit(vq, b, nout, nin, want, indirect), 0);
	gdrv_kick(vq);
	if (gdrv_get_used(vq, &tok, &len) != 1)
		return UINT32_MAX;
	CHECK_EQ(tok, want);
	CHECK_EQ(gdrv_get_used(vq, &tok, &len), 0);
	return len;
}

/* The writable buffers b[0..n) hold stream bytes [pos, pos+used) and FILL
 * after them; returns the number of mismatching bytes. With the test world,
 * also checks that the tap saw the same bytes: it keeps every byte served,
 * so stream position and tap offset are the same. */
static unsigned verify(struct env *e, const struct gdrv_buf *b, unsigned n, uint32_t used,
		       uint64_t pos)
{
	unsigned bad = 0;
	uint32_t k = 0;
	uint8_t chunk[4096];

	for (unsigned i = 0; i < n; i++) {
		for (uint32_t off = 0; off < b[i].len; off += sizeof chunk) {
			uint32_t m = RS_MIN((uint32_t)sizeof chunk, b[i].len - off);
			e->io.mem_read(e->io.ctx, b[i].gpa + off, chunk, m);
			for (uint32_t j = 0; j < m; j++, k++) {
				uint8_t want = k < used ? stream_byte(pos + k) : FILL;
				bad += chunk[j] != want;
				if (k < used && e->w)
					bad += pos + k >= g_tap_len || g_tap_bytes[pos + k] != chunk[j];
			}
			if (k > used + 64)
				return bad; /* the rest of a huge buffer: checked enough */
		}
	}
	return bad;
}

/* ---- I/O over every transport --------------------------------------------------------------- */

struct shape {
	unsigned nin;
	uint32_t len[4];
};

static const struct shape shapes[] = {
	{ 1, { 1 } },
	{ 1, { 16 } },
	{ 1, { 4096 } },
	{ 2, { 7, 9 } },
	{ 3, { 1000, 1, 3000 } },
	{ 4, { 512, 512, 512, 512 } },
	{ 1, { DEFAULT_CAP } },
};

/* Each shape, direct and (when negotiated) indirect; bytes checked against
 * the world's stream and the tap. */
static void io_suite(struct env *e)
{
	bool ind = e->d->features & F(VIRTIO_F_INDIRECT_DESC);
	uint64_t requests = 0, bytes = 0;

	for (unsigned s = 0; s < RS_ARRAY_SIZE(shapes); s++) {
		for (unsigned i = 0; i < (ind ? 2u : 1u); i++) {
			struct gdrv_buf b[4];
			uint64_t a = e->buf;
			uint32_t total = 0;

			for (unsigned k = 0; k < shapes[s].nin; k++) {
				b[k].gpa = a;
				b[k].len = shapes[s].len[k];
				fill(e, a, b[k].len, FILL);
				a += b[k].len + 64;
				total += b[k].len;
			}
			uint64_t pos = e->w->pos;
			size_t tap_off = g_tap_len;
			unsigned calls = e->w->calls;
			uint32_t len = roundtrip(e, b, 0, shapes[s].nin, i == 1);
			CHECK_EQ(len, total);
			CHECK_EQ(e->w->calls, calls + 1); /* one world call per chain */
			CHECK_EQ(e->w->last_len, total);
			CHECK_EQ(e->w->last_dev, 0);
			CHECK_EQ(e->w->pos, pos + total);
			CHECK_EQ(g_tap_len, tap_off + total);
			CHECK_EQ(verify(e, b, shapes[s].nin, len, pos), 0);
			requests++;
			bytes += total;
		}
	}

	/* A batch filling the whole queue: one kick, every chain served, in
	 * order, each from the next part of the stream. */
	struct gdrv_vq *vq = &e->d->vq[0];
	unsigned n = vq->num;
	uint64_t pos = e->w->pos;
	for (unsigned i = 0; i < n; i++) {
		struct gdrv_buf b = { e->buf + i * 128ull, 100 + i % 7 };
		CHECK_EQ(gdrv_submit(vq, &b, 0, 1, 1000 + i, false), 0);
	}
	gdrv_kick(vq);
	for (unsigned i = 0; i < n; i++) {
		uint64_t tok = 0;
		uint32_t len = 0;
		struct gdrv_buf b = { e->buf + i * 128ull, 100 + i % 7 };

		CHECK_EQ(gdrv_get_used(vq, &tok, &len), 1);
		CHECK_EQ(tok, 1000 + i);
		CHECK_EQ(len, b.len);
		CHECK_EQ(verify(e, &b, 1, len, pos), 0);
		pos += len;
		requests++;
		bytes += len;
	}
	CHECK_EQ(pos, e->w->pos);
	CHECK_EQ(stat_of(e, ST_REQUESTS), requests);
	CHECK_EQ(stat_of(e, ST_BYTES), bytes);
	CHECK_EQ(g_tap_other, 0);
	CHECK_EQ(g_tap_errors, 0);
}

static void transport_case(const char *spec, bool use_legacy, uint64_t want, bool expect_legacy)
{
	struct env e;

	if (!env_open(&e, spec, true, use_legacy))
		return;
	/* virtio-v1.2 5.4.3: no device-type features */
	uint64_t offered = gdrv_device_features(e.d);
	CHECK_EQ(offered & 0xffffffull, 0);
	CHECK(env_up(&e, want, 64));
	CHECK_EQ(e.dev->legacy, expect_legacy);
	CHECK_EQ(e.d->vq[0].num, 64); /* the device's maximum */
	io_suite(&e);
	/* interrupts were raised (INTx or MSI, whichever the transport used) */
	CHECK(e.m->intx_raised + e.m->msi_count > 0);
	env_check_clean(&e);
	env_close(&e);
}

static void test_pci_modern(void)
{
	transport_case("mem=16M pci-modern:rng", false, F_SPLIT, false);
}

static void test_pci_modern_packed(void)
{
	transport_case("mem=16M pci-modern:rng", false, F_ALL, false);
}

static void test_pci_legacy(void)
{
	transport_case("mem=16M pci-legacy:rng", true, F_ALL, true);
}

static void test_pci_transitional(void)
{
	transport_case("mem=16M pci:rng", false, F_ALL, false);
	transport_case("mem=16M pci:rng", true, F_ALL, true);
}

static void test_mmio(void)
{
	transport_case("mem=16M mmio:rng", false, F_SPLIT, false);
	transport_case("mem=16M mmio:rng", false, F_ALL, false);
}

static void test_mmio_legacy(void)
{
	transport_case("mem=16M mmio-legacy:rng", false, F_ALL, true);
}

/* The live world: real entropy, the right length, nothing reported. */
static void test_live_world(void)
{
	struct env e;
	uint8_t got[256], zero[256] = { 0 };

	if (!env_open(&e, "mem=16M pci-modern:rng", false, false))
		return;
	CHECK(env_up(&e, F_ALL, 8));
	struct gdrv_buf b = { e.buf, sizeof got };
	fill(&e, e.buf, sizeof got, 0);
	CHECK_EQ(roundtrip(&e, &b, 0, 1, false), sizeof got);
	e.io.mem_read(e.io.ctx, e.buf, got, sizeof got);
	CHECK(memcmp(got, zero, sizeof got) != 0); /* 2^-2048 chance of a false failure */
	env_check_clean(&e);
	env_close(&e);
}

/* ---- hostile chains ------------------------------------------------------------------------- */

/* A 1 GiB writable descriptor (4 GiB cannot be described by one: len is 32
 * bits; four overlapping ones come close): clipped to the cap, never fatal;
 * a chain above 2^32-1 bytes is a queue error the device survives a reset. */
static void test_huge_descriptors(void)
{
	const char *specs[] = { "mem=1280M pci-modern:rng", "mem=1280M mmio-legacy:rng" };

	for (unsigned t = 0; t < RS_ARRAY_SIZE(specs); t++) {
		struct env e;
		const uint64_t big = 256ull << 20; /* RAM [256M, 1280M): 1 GiB */

		if (!env_open(&e, specs[t], true, false))
			continue;
		CHECK(env_up(&e, F_ALL, 16));

		struct gdrv_buf b = { big, 1u << 30 };
		struct gdrv_buf head = { big, DEFAULT_CAP + 4096 };
		fill(&e, big, head.len, FILL);
		uint64_t pos = e.w->pos;
		CHECK_EQ(roundtrip(&e, &b, 0, 1, false), DEFAULT_CAP);
		CHECK_EQ(e.w->last_len, DEFAULT_CAP);
		CHECK_EQ(verify(&e, &head, 1, DEFAULT_CAP, pos), 0); /* the rest untouched */

		/* four overlapping descriptors of 1 GiB - 1: 4 GiB - 4 in total */
		struct gdrv_buf four[4];
		for (unsigned i = 0; i < 4; i++)
			four[i] = (struct gdrv_buf){ big, (1u << 30) - 1 };
		pos = e.w->pos;
		CHECK_EQ(roundtrip(&e, four, 0, 4, false), DEFAULT_CAP);
		CHECK_EQ(e.w->pos, pos + DEFAULT_CAP);
		/* the same through an indirect table (legacy drivers too) */
		if (e.d->features & F(VIRTIO_F_INDIRECT_DESC))
			CHECK_EQ(roundtrip(&e, four, 0, 4, true), DEFAULT_CAP);
		CHECK_EQ(stat_of(&e, ST_CLIPPED), 2 + !!(e.d->features &
							 F(VIRTIO_F_INDIRECT_DESC)));
		env_check_clean(&e);

		/* five: the sum passes 2^32-1, which no used length could
		 * report: the engine refuses the chain (virtio-v1.2 2.7.5.2),
		 * the device needs a reset and does not crash */
		struct gdrv_buf five[5];
		for (unsigned i = 0; i < 5; i++)
			five[i] = (struct gdrv_buf){ big, 1u << 30 };
		unsigned calls = e.w->calls;
		CHECK_EQ(roundtrip(&e, five, 0, 5, false), UINT32_MAX);
		CHECK_EQ(e.w->calls, calls);
		CHECK_EQ(diag_count(&e.dev->log, DIAG_VQ_LEN_OVERFLOW), 1);
		CHECK(gdrv_get_status(e.d) & VIRTIO_STATUS_NEEDS_RESET);

		/* reset, start again: served as before */
		gdrv_reset(e.d);
		CHECK(env_up(&e, F_ALL, 16));
		struct gdrv_buf small = { e.buf, 32 };
		fill(&e, e.buf, 32, FILL);
		pos = e.w->pos;
		CHECK_EQ(roundtrip(&e, &small, 0, 1, false), 32);
		CHECK_EQ(verify(&e, &small, 1, 32, pos), 0);
		env_close(&e);
	}
}

/* max-bytes: the cap, and chains across it */
static void test_max_bytes(void)
{
	struct env e;

	if (!env_open(&e, "mem=16M mmio:rng,max-bytes=100", true, false))
		return;
	CHECK(env_up(&e, F_ALL, 8));
	struct gdrv_buf b[3] = { { e.buf, 60 }, { e.buf + 4096, 30 }, { e.buf + 8192, 50 } };
	for (unsigned i = 0; i < 3; i++)
		fill(&e, b[i].gpa, b[i].len, FILL);
	uint64_t pos = e.w->pos;
	CHECK_EQ(roundtrip(&e, b, 0, 3, false), 100);
	CHECK_EQ(e.w->last_len, 100);
	CHECK_EQ(verify(&e, b, 3, 100, pos), 0); /* 60 + 30 + 10, then FILL */
	struct gdrv_buf exact = { e.buf, 100 };
	CHECK_EQ(roundtrip(&e, &exact, 0, 1, false), 100);
	CHECK_EQ(stat_of(&e, ST_CLIPPED), 1);
	env_check_clean(&e);
	env_close(&e);

	/* the largest cap: 1 MiB out of a 1 GiB buffer */
	if (!env_open(&e, "mem=1280M pci-legacy:rng,max-bytes=1M", true, true))
		return;
	CHECK(env_up(&e, F_ALL, 8));
	struct gdrv_buf huge = { 256ull << 20, 1u << 30 };
	struct gdrv_buf head = { 256ull << 20, (1u << 20) + 4096 };
	fill(&e, head.gpa, head.len, FILL);
	pos = e.w->pos;
	CHECK_EQ(roundtrip(&e, &huge, 0, 1, false), 1u << 20);
	CHECK_EQ(verify(&e, &head, 1, 1u << 20, pos), 0);
	env_close(&e);

	/* and the smallest */
	if (!env_open(&e, "mem=16M pci-modern:rng,max-bytes=1", true, false))
		return;
	CHECK(env_up(&e, F_ALL, 8));
	struct gdrv_buf one = { e.buf, 4096 };
	CHECK_EQ(roundtrip(&e, &one, 0, 1, false), 1);
	env_close(&e);
}

/* Driver-readable buffers (virtio-v1.2 5.4.6.1: the driver MUST NOT):
 * never read or written, a readable-only chain completes with 0, a mixed
 * one gets its writable part served; zero-length writable buffers give 0.
 * After each, a good request is served. */
static void test_bad_directions(void)
{
	const char *specs[] = { "mem=16M pci-modern:rng", "mem=16M mmio-legacy:rng" };

	for (unsigned t = 0; t < RS_ARRAY_SIZE(specs); t++) {
		struct env e;
		uint8_t rd[64];

		if (!env_open(&e, specs[t], true, false))
			continue;
		CHECK(env_up(&e, F_ALL, 8));
		struct gdrv_buf ro = { e.buf, 64 };
		fill(&e, e.buf, 64, 0x11);
		unsigned calls = e.w->calls;
		CHECK_EQ(roundtrip(&e, &ro, 1, 0, false), 0);
		CHECK_EQ(e.w->calls, calls); /* no entropy wasted */
		e.io.mem_read(e.io.ctx, e.buf, rd, sizeof rd);
		for (unsigned i = 0; i < sizeof rd; i++)
			CHECK_EQ(rd[i], 0x11);
		/* two readable buffers */
		struct gdrv_buf ro2[2] = { { e.buf, 64 }, { e.buf + 128, 8 } };
		CHECK_EQ(roundtrip(&e, ro2, 2, 0, false), 0);

		/* readable then writable: the writable part is served */
		struct gdrv_buf mixed[2] = { { e.buf, 64 }, { e.buf + 4096, 48 } };
		fill(&e, e.buf + 4096, 48, FILL);
		uint64_t pos = e.w->pos;
		CHECK_EQ(roundtrip(&e, mixed, 1, 1, false), 48);
		CHECK_EQ(verify(&e, &mixed[1], 1, 48, pos), 0);
		e.io.mem_read(e.io.ctx, e.buf, rd, sizeof rd);
		CHECK_EQ(rd[0], 0x11);
		CHECK_EQ(rd[63], 0x11);

		/* a zero-length writable buffer */
		struct gdrv_buf z = { e.buf + 4096, 0 };
		calls = e.w->calls;
		CHECK_EQ(roundtrip(&e, &z, 0, 1, false), 0);
		CHECK_EQ(e.w->calls, calls);

		/* readable-only through an indirect table */
		if (e.d->features & F(VIRTIO_F_INDIRECT_DESC))
			CHECK_EQ(roundtrip(&e, ro2, 2, 0, true), 0);

		CHECK_EQ(stat_of(&e, ST_READABLE),
			 3 + !!(e.d->features & F(VIRTIO_F_INDIRECT_DESC)));
		CHECK_EQ(stat_of(&e, ST_EMPTY), 3 + !!(e.d->features & F(VIRTIO_F_INDIRECT_DESC)));
		/* harmless to the device: counted, not reported, no reset */
		env_check_clean(&e);
		CHECK(!(gdrv_get_status(e.d) & VIRTIO_STATUS_NEEDS_RESET));

		struct gdrv_buf good = { e.buf + 8192, 200 };
		fill(&e, good.gpa, 200, FILL);
		pos = e.w->pos;
		CHECK_EQ(roundtrip(&e, &good, 0, 1, false), 200);
		CHECK_EQ(verify(&e, &good, 1, 200, pos), 0);
		env_close(&e);
	}
}

/* The world fails: the chain completes with 0 and a host diagnostic, the
 * guest buffer keeps its old contents, and the device keeps serving. */
static void test_entropy_failure(void)
{
	struct env e;

	if (!env_open(&e, "mem=16M pci-legacy:rng", true, true))
		return;
	CHECK(env_up(&e, F_ALL, 8));
	struct gdrv_buf b = { e.buf, 256 };
	fill(&e, e.buf, 256, FILL);
	e.w->fail = 1;
	CHECK_EQ(roundtrip(&e, &b, 0, 1, false), 0);
	CHECK_EQ(verify(&e, &b, 1, 0, 0), 0); /* all FILL */
	CHECK_EQ(diag_count(&e.dev->log, DIAG_BACKEND_ERROR), 1);
	CHECK_EQ(diag_class_of(DIAG_BACKEND_ERROR), DIAG_CLASS_HOST);
	CHECK_EQ(g_tap_errors, 1); /* the recorder sees the failure too */
	CHECK_EQ(stat_of(&e, ST_ERRORS), 1);
	CHECK(!(gdrv_get_status(e.d) & VIRTIO_STATUS_NEEDS_RESET));

	/* three chains in one kick, the middle one failing */
	struct gdrv_vq *vq = &e.d->vq[0];
	struct gdrv_buf c[3] = { { e.buf, 10 }, { e.buf + 1024, 20 }, { e.buf + 2048, 30 } };
	for (unsigned i = 0; i < 3; i++) {
		fill(&e, c[i].gpa, c[i].len, FILL);
		CHECK_EQ(gdrv_submit(vq, &c[i], 0, 1, 50 + i, false), 0);
	}
	uint64_t pos = e.w->pos;
	e.w->fail_call = e.w->calls + 2;
	gdrv_kick(vq);
	uint32_t lens[3] = { 0, 0, 0 };
	for (unsigned i = 0; i < 3; i++) {
		uint64_t tok = 0;
		CHECK_EQ(gdrv_get_used(vq, &tok, &lens[i]), 1);
		CHECK_EQ(tok, 50 + i);
	}
	CHECK_EQ(lens[0], 10);
	CHECK_EQ(lens[1], 0);
	CHECK_EQ(lens[2], 30);
	CHECK_EQ(verify(&e, &c[0], 1, 10, pos), 0);
	CHECK_EQ(verify(&e, &c[1], 1, 0, 0), 0);
	CHECK_EQ(verify(&e, &c[2], 1, 30, pos + 10), 0);
	CHECK_EQ(g_tap_errors, 2);

	/* the world failing every time: each chain answered with 0 */
	e.w->fail = 1000;
	for (unsigned i = 0; i < 5; i++)
		CHECK_EQ(roundtrip(&e, &b, 0, 1, false), 0);
	CHECK_EQ(diag_count(&e.dev->log, DIAG_BACKEND_ERROR), 7);
	CHECK_EQ(stat_of(&e, ST_ERRORS), 7);
	e.w->fail = 0;
	pos = e.w->pos;
	CHECK_EQ(roundtrip(&e, &b, 0, 1, false), 256);
	CHECK_EQ(verify(&e, &b, 1, 256, pos), 0);

	/* no world at all (a device made without one): the same */
	struct world *saved = e.dev->world;
	e.dev->world = NULL;
	CHECK_EQ(roundtrip(&e, &b, 0, 1, false), 0);
	CHECK_EQ(diag_count(&e.dev->log, DIAG_BACKEND_ERROR), 8);
	e.dev->world = saved;
	CHECK_EQ(roundtrip(&e, &b, 0, 1, false), 256);
	CHECK(!(gdrv_get_status(e.d) & VIRTIO_STATUS_NEEDS_RESET));
	env_close(&e);
}

/* Options: max-bytes in range, as a size; anything else is refused with a
 * message naming the option. */
static void test_options(void)
{
	static const struct {
		const char *spec;
		const char *msg; /* NULL: accepted */
	} cases[] = {
		{ "mmio:rng,max-bytes=4096", NULL },
		{ "mmio:rng,max-bytes=1M", NULL },
		{ "mmio:rng,max-bytes=0x10", NULL },
		{ "mmio:rng,max-bytes=1", NULL },
		{ "mmio:rng,max-bytes=0", "max-bytes" },
		{ "mmio:rng,max-bytes=1048577", "max-bytes" },
		{ "mmio:rng,max-bytes=4G", "max-bytes" },
		{ "mmio:rng,max-bytes=lots", "max-bytes" },
		{ "mmio:rng,max-bytes=99999999999999999999999", "max-bytes" },
		{ "mmio:rng,rate=100", "rate" },
		{ "mmio:rng,bogus", "bogus" },
	};

	for (unsigned i = 0; i < RS_ARRAY_SIZE(cases); i++) {
		struct machine *m = NULL;
		char err[256] = "";
		int r = rs_machine_new(cases[i].spec, &m, err, sizeof err);

		if (!cases[i].msg) {
			CHECK_EQ(r, 0);
			rs_machine_free(m);
			continue;
		}
		CHECK(r < 0);
		CHECK(m == NULL);
		CHECK(strstr(err, cases[i].msg) != NULL);
		CHECK(strchr(err, '\n') == NULL);
		if (!strstr(err, cases[i].msg))
			fprintf(stderr, "spec %s: %s\n", cases[i].spec, err);
	}
}

/* The model as the table lists it, and its empty config space. */
static void test_model_and_config(void)
{
	const struct vdev_ops *ops = rs_device_find("rng");
	struct env e;

	CHECK(ops != NULL);
	if (!ops)
		return;
	CHECK_EQ(ops->device_id, VIRTIO_ID_RNG);
	CHECK_EQ(ops->num_queues, 1);
	CHECK_EQ(ops->features, 0);
	CHECK_EQ(ops->config_size, 0);
	CHECK(ops->host_event == NULL);

	if (!env_open(&e, "mem=16M pci-modern:rng", true, false))
		return;
	/* the only queue is 0 */
	CHECK_EQ(gdrv_queue_max(e.d, 0), 64);
	CHECK_EQ(gdrv_queue_max(e.d, 1), 0);
	CHECK(env_up(&e, F_ALL, 8));
	CHECK_EQ(e.dev->nqueues, 1);
	/* virtio-v1.2 5.4.4: no config space: reads are 0, writes dropped,
	 * both reported as out of range */
	CHECK_EQ(vdev_config_read(e.dev, 0, 4), 0);
	CHECK_EQ(vdev_config_read(e.dev, 0, 1), 0);
	vdev_config_write(e.dev, 0, 4, 0x12345678);
	CHECK_EQ(vdev_config_read(e.dev, 0, 4), 0);
	CHECK_EQ(diag_count(&e.dev->log, DIAG_CONFIG_RANGE), 4);
	/* a snapshot is 48 bytes: six counters */
	CHECK_EQ(ops->save(e.dev, NULL, 0), 48);
	env_close(&e);
}

/* Reset returns the device to its power-on state (counters included) and
 * it serves again afterwards (rng keeps nothing in flight between notifies:
 * every chain is completed in the notify that pops it). */
static void test_reset(void)
{
	const char *specs[] = { "mem=16M pci-modern:rng", "mem=16M pci-legacy:rng",
				"mem=16M mmio:rng", "mem=16M mmio-legacy:rng" };

	for (unsigned t = 0; t < RS_ARRAY_SIZE(specs); t++) {
		struct env e;
		bool legacy = strstr(specs[t], "pci-legacy") != NULL;

		if (!env_open(&e, specs[t], true, legacy))
			continue;
		uint64_t power_on = vdev_state_hash(e.dev);
		CHECK(env_up(&e, F_ALL, 8));
		struct gdrv_buf b = { e.buf, 300 }, ro = { e.buf + 4096, 8 };
		CHECK_EQ(roundtrip(&e, &b, 0, 1, false), 300);
		CHECK_EQ(roundtrip(&e, &ro, 1, 0, false), 0);
		CHECK_EQ(stat_of(&e, ST_REQUESTS), 2);
		CHECK_EQ(stat_of(&e, ST_BYTES), 300);
		CHECK(vdev_state_hash(e.dev) != power_on);

		gdrv_reset(e.d);
		CHECK_EQ(gdrv_get_status(e.d), 0);
		for (unsigned k = 0; k < ST_N; k++)
			CHECK_EQ(stat_of(&e, k), 0);
		CHECK_EQ(vdev_state_hash(e.dev), power_on);

		CHECK(env_up(&e, F_ALL, 8));
		fill(&e, e.buf, 300, FILL);
		uint64_t pos = e.w->pos;
		CHECK_EQ(roundtrip(&e, &b, 0, 1, false), 300);
		CHECK_EQ(verify(&e, &b, 1, 300, pos), 0);
		CHECK_EQ(stat_of(&e, ST_REQUESTS), 1);
		env_check_clean(&e);
		env_close(&e);
	}
}

/* Same guest sessions over PCI and MMIO end in the same device state. */
static void test_same_state_across_transports(void)
{
	const char *specs[] = { "mem=16M pci-modern:rng", "mem=16M mmio:rng" };
	uint8_t snap[2][48];

	for (unsigned t = 0; t < 2; t++) {
		struct env e;

		if (!env_open(&e, specs[t], true, false))
			return;
		CHECK(env_up(&e, F_SPLIT, 8));
		struct gdrv_buf b = { e.buf, 1000 }, big = { e.buf, DEFAULT_CAP + 10 },
				ro = { e.buf, 4 };
		CHECK_EQ(roundtrip(&e, &b, 0, 1, false), 1000);
		CHECK_EQ(roundtrip(&e, &big, 0, 1, false), DEFAULT_CAP);
		CHECK_EQ(roundtrip(&e, &ro, 1, 0, false), 0);
		CHECK_EQ(e.dev->ops->save(e.dev, snap[t], sizeof snap[t]), 48);
		env_close(&e);
	}
	CHECK(memcmp(snap[0], snap[1], sizeof snap[0]) == 0);
}

int main(void)
{
	g_tap_bytes = malloc(TAP_BYTES);
	RUN(test_pci_modern);
	RUN(test_pci_modern_packed);
	RUN(test_pci_legacy);
	RUN(test_pci_transitional);
	RUN(test_mmio);
	RUN(test_mmio_legacy);
	RUN(test_live_world);
	RUN(test_huge_descriptors);
	RUN(test_max_bytes);
	RUN(test_bad_directions);
	RUN(test_entropy_failure);
	RUN(test_options);
	RUN(test_model_and_config);
	RUN(test_reset);
	RUN(test_same_state_across_transports);
	free(g_tap_bytes);
	return check_done();
}
