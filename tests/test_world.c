/*
 * ringside tests — the world: the dispatchers (engine/world.c) against a
 * scripted test world, and the live world (engine/world_live.c): getrandom
 * entropy with short reads and EINTR, clocks, backend io, the bounded event
 * FIFO and its copy semantics, poll over pipe-backed backends, and that the
 * tap sees exactly what the caller got, in order.
 *
 * getrandom, clock_gettime and poll are interposed below (this program's
 * definitions win over libc's at link time) so their failures can be
 * provoked; by default each passes straight through to the kernel.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "ringside/world.h"

/* ---- interposed system calls ---------------------------------------------------------------- */

enum fake_rand {
	RAND_REAL = 0,
	RAND_EINTR_ONCE,  /* first call EINTR, then real */
	RAND_SHORT,       /* every call returns at most 3 bytes */
	RAND_EINTR_ALWAYS,
	RAND_ENOSYS,
	RAND_ZERO,        /* returns 0 (never done by the kernel) */
	RAND_TOO_MUCH,    /* claims more than asked */
	RAND_ERRNO0,      /* -1 without errno */
};
static enum fake_rand g_rand_mode;
static unsigned g_rand_calls;

ssize_t getrandom(void *buf, size_t len, unsigned int flags)
{
	g_rand_calls++;
	switch (g_rand_mode) {
	case RAND_EINTR_ONCE:
		g_rand_mode = RAND_REAL;
		errno = EINTR;
		return -1;
	case RAND_SHORT:
		if (len > 3)
			len = 3;
		break;
	case RAND_EINTR_ALWAYS:
		errno = EINTR;
		return -1;
	case RAND_ENOSYS:
		errno = ENOSYS;
		return -1;
	case RAND_ZERO:
		return 0;
	case RAND_TOO_MUCH:
		return (ssize_t)len + 1;
	case RAND_ERRNO0:
		errno = 0;
		return -1;
	case RAND_REAL:
		break;
	}
	return syscall(SYS_getrandom, buf, len, flags);
}

static bool g_clock_fail;

int clock_gettime(clockid_t id, struct timespec *ts)
{
	if (g_clock_fail) {
		errno = EINVAL;
		return -1;
	}
	return (int)syscall(SYS_clock_gettime, id, ts);
}

static int g_poll_errno; /* non-zero: poll fails with it once */

int poll(struct pollfd *fds, nfds_t n, int timeout)
{
	if (g_poll_errno) {
		errno = g_poll_errno == -1 ? 0 : g_poll_errno;
		g_poll_errno = 0;
		return -1;
	}
	struct timespec ts = { timeout / 1000, (long)(timeout % 1000) * 1000000L };
	return ppoll(fds, n, timeout < 0 ? NULL : &ts, NULL);
}

/* ---- tap recorder ------------------------------------------------------------------------------ */

struct tap_rec {
	enum world_input kind;
	int64_t value;
	bool has_ev, has_io;
	struct world_event ev; /* data pointer not kept */
	struct world_io io;
	uint8_t data[256];
	size_t len;
	bool data_null;
};

#define TAP_MAX 64
static struct tap_rec g_tap[TAP_MAX];
static unsigned g_ntap;

static void tap_fn(void *ctx, enum world_input kind, const struct world_event *ev,
		   const struct world_io *io, int64_t value, const void *data, size_t len)
{
	CHECK(ctx == &g_ntap);
	if (g_ntap == TAP_MAX)
		return;
	struct tap_rec *t = &g_tap[g_ntap++];
	memset(t, 0, sizeof *t);
	t->kind = kind;
	t->value = value;
	if (ev) {
		t->has_ev = true;
		t->ev = *ev;
		t->ev.data = NULL;
	}
	if (io) {
		t->has_io = true;
		t->io = *io;
	}
	t->len = len;
	t->data_null = data == NULL;
	if (data)
		memcpy(t->data, data, RS_MIN(len, sizeof t->data));
}

static void tap_reset(void)
{
	g_ntap = 0;
	memset(g_tap, 0, sizeof g_tap);
}

/* ---- a scripted test world ------------------------------------------------------------------ */

struct script {
	struct world w;
	int entropy_ret;       /* 0: fill with seed++ pattern */
	uint8_t seed;
	unsigned entropy_calls;
	uint64_t clock;
	unsigned clock_calls;
	int64_t io_ret;        /* INT64_MIN: return req->len and fill READ buffers */
	unsigned io_calls;
	int next_ret;          /* what next_event returns */
	struct world_event next_ev;
	unsigned next_calls;
	int post_ret;
	unsigned post_calls;
	unsigned destroys;
};

static int sc_entropy(struct world *w, unsigned dev, void *buf, size_t len)
{
	struct script *s = w->impl;

	s->entropy_calls++;
	memset(buf, 0xee, len); /* the dispatcher must clear this on error */
	if (s->entropy_ret)
		return s->entropy_ret;
	for (size_t i = 0; i < len; i++)
		((uint8_t *)buf)[i] = (uint8_t)(s->seed + i);
	s->seed++;
	return 0;
}

static uint64_t sc_clock(struct world *w, enum world_clock c)
{
	struct script *s = w->impl;

	s->clock_calls++;
	return s->clock + (uint64_t)c;
}

static int64_t sc_io(struct world *w, struct world_backend *b, struct world_io *req)
{
	struct script *s = w->impl;

	s->io_calls++;
	if (s->io_ret != INT64_MIN)
		return s->io_ret;
	if (req->op == WIO_READ)
		for (size_t i = 0; i < req->len; i++)
			((uint8_t *)req->buf)[i] = (uint8_t)(0x40 + i);
	return (int64_t)req->len;
}

static int sc_next(struct world *w, struct world_event *ev)
{
	struct script *s = w->impl;

	s->next_calls++;
	*ev = s->next_ev;
	return s->next_ret;
}

static int sc_post(struct world *w, const struct world_event *ev)
{
	struct script *s = w->impl;

	s->post_calls++;
	return s->post_ret;
}

static void sc_destroy(struct world *w)
{
	struct script *s = w->impl;

	s->destroys++;
}

static const struct world_ops script_ops = {
	.name = "script",
	.entropy = sc_entropy,
	.clock_ns = sc_clock,
	.io = sc_io,
	.next_event = sc_next,
	.post = sc_post,
	.destroy = sc_destroy,
};

static void script_init(struct script *s)
{
	memset(s, 0, sizeof *s);
	s->w.ops = &script_ops;
	s->w.impl = s;
	s->io_ret = INT64_MIN;
	tap_reset();
	world_set_tap(&s->w, tap_fn, &g_ntap);
}

static const struct world_backend_ops null_backend_ops = { .name = "null" };

/* ---- dispatchers ------------------------------------------------------------------------------ */

static void test_entropy_dispatch(void)
{
	struct script s;
	uint8_t buf[32];

	script_init(&s);
	/* argument errors: no implementation call, no tap */
	CHECK_EQ(world_entropy(NULL, 0, buf, 4), -EINVAL);
	CHECK_EQ(world_entropy(&s.w, 0, NULL, 4), -EINVAL);
	CHECK_EQ(world_entropy(&s.w, 0, NULL, 0), -EINVAL);
	CHECK_EQ(world_entropy(&s.w, 0, buf, WORLD_ENTROPY_MAX + 1), -EINVAL);
	CHECK_EQ(world_entropy(&s.w, 0, buf, 0), 0);
	CHECK_EQ(s.entropy_calls, 0);
	CHECK_EQ(g_ntap, 0);

	/* success: the tap sees the very bytes, the device and the size */
	s.seed = 0x10;
	CHECK_EQ(world_entropy(&s.w, 7, buf, sizeof buf), 0);
	for (unsigned i = 0; i < sizeof buf; i++)
		CHECK_EQ(buf[i], 0x10 + i);
	CHECK_EQ(g_ntap, 1);
	CHECK_EQ(g_tap[0].kind, WIN_ENTROPY);
	CHECK_EQ(g_tap[0].value, 0);
	CHECK(g_tap[0].has_ev && !g_tap[0].has_io);
	CHECK_EQ(g_tap[0].ev.kind, WEV_NONE);
	CHECK_EQ(g_tap[0].ev.dev, 7);
	CHECK_EQ(g_tap[0].ev.arg, sizeof buf);
	CHECK_EQ(g_tap[0].len, sizeof buf);
	CHECK(memcmp(g_tap[0].data, buf, sizeof buf) == 0);

	/* failure: buffer zeroed (never stale), the tap sees the error */
	s.entropy_ret = -EAGAIN;
	memset(buf, 0x55, sizeof buf);
	CHECK_EQ(world_entropy(&s.w, 3, buf, 16), -EAGAIN);
	for (unsigned i = 0; i < 16; i++)
		CHECK_EQ(buf[i], 0);
	CHECK_EQ(buf[16], 0x55);
	CHECK_EQ(g_ntap, 2);
	CHECK_EQ(g_tap[1].kind, WIN_ENTROPY);
	CHECK_EQ(g_tap[1].value, -EAGAIN);
	CHECK(g_tap[1].data_null);
	CHECK_EQ(g_tap[1].len, 0);
	CHECK_EQ(g_tap[1].ev.dev, 3);

	/* a positive result is no documented answer: -EIO, zeroed */
	s.entropy_ret = 5;
	CHECK_EQ(world_entropy(&s.w, 0, buf, 8), -EIO);
	CHECK_EQ(buf[0], 0);
	CHECK_EQ(g_tap[2].value, -EIO);

	/* an implementation without entropy */
	struct world_ops noent = script_ops;
	noent.entropy = NULL;
	s.w.ops = &noent;
	CHECK_EQ(world_entropy(&s.w, 0, buf, 8), -EINVAL);
	s.w.ops = NULL;
	CHECK_EQ(world_entropy(&s.w, 0, buf, 8), -EINVAL);
	CHECK_EQ(g_ntap, 3);
}

static void test_clock_dispatch(void)
{
	struct script s;

	script_init(&s);
	CHECK_EQ(world_clock_ns(NULL, WORLD_CLOCK_REALTIME), 0);
	CHECK_EQ(world_clock_ns(&s.w, (enum world_clock)2), 0);
	CHECK_EQ(world_clock_ns(&s.w, (enum world_clock)-1), 0);
	CHECK_EQ(s.clock_calls, 0);
	CHECK_EQ(g_ntap, 0);

	s.clock = 1000;
	CHECK_EQ(world_clock_ns(&s.w, WORLD_CLOCK_REALTIME), 1000);
	CHECK_EQ(world_clock_ns(&s.w, WORLD_CLOCK_MONOTONIC), 1001);
	CHECK_EQ(g_ntap, 2);
	CHECK_EQ(g_tap[0].kind, WIN_CLOCK);
	CHECK_EQ(g_tap[0].value, 1000);
	CHECK_EQ(g_tap[0].ev.port, WORLD_CLOCK_REALTIME);
	CHECK_EQ(g_tap[0].ev.arg, 1000);
	CHECK(g_tap[0].data_null && !g_tap[0].has_io);
	CHECK_EQ(g_tap[1].value, 1001);
	CHECK_EQ(g_tap[1].ev.port, WORLD_CLOCK_MONOTONIC);

	/* the full 64 bits pass, above INT64_MAX too */
	s.clock = UINT64_MAX - 1;
	CHECK_EQ(world_clock_ns(&s.w, WORLD_CLOCK_MONOTONIC), UINT64_MAX);
	CHECK_EQ((uint64_t)g_tap[2].value, UINT64_MAX);

	struct world_ops noclk = script_ops;
	noclk.clock_ns = NULL;
	s.w.ops = &noclk;
	CHECK_EQ(world_clock_ns(&s.w, WORLD_CLOCK_REALTIME), 0);
	s.w.ops = NULL;
	CHECK_EQ(world_clock_ns(&s.w, WORLD_CLOCK_REALTIME), 0);
	CHECK_EQ(g_ntap, 3);
}

static void test_io_dispatch(void)
{
	struct script s;
	struct world_backend b = { .ops = &null_backend_ops, .dev = 2 };
	uint8_t buf[16];
	struct world_io req = { .op = WIO_READ, .dev = 2, .off = 512, .buf = buf, .len = 8 };

	script_init(&s);
	/* argument errors */
	CHECK_EQ(world_io(NULL, &b, &req), -EINVAL);
	CHECK_EQ(world_io(&s.w, &b, NULL), -EINVAL);
	CHECK_EQ(world_io(&s.w, NULL, &req), -ENODEV);
	struct world_io bad = req;
	bad.op = (enum world_io_op)7;
	CHECK_EQ(world_io(&s.w, &b, &bad), -EINVAL);
	bad = req;
	bad.buf = NULL;
	CHECK_EQ(world_io(&s.w, &b, &bad), -EINVAL);
	bad.op = WIO_WRITE;
	CHECK_EQ(world_io(&s.w, &b, &bad), -EINVAL);
	bad.op = WIO_SEND;
	CHECK_EQ(world_io(&s.w, &b, &bad), -EINVAL);
	bad = req;
	bad.off = UINT64_MAX - 4; /* [off, off+8) wraps */
	CHECK_EQ(world_io(&s.w, &b, &bad), -EINVAL);
	bad.op = WIO_DISCARD;
	bad.buf = NULL;
	CHECK_EQ(world_io(&s.w, &b, &bad), -EINVAL);
	bad.op = WIO_WRITE_ZEROES;
	CHECK_EQ(world_io(&s.w, &b, &bad), -EINVAL);
	CHECK_EQ(s.io_calls, 0);
	CHECK_EQ(g_ntap, 0);

	/* legal edge cases: a range ending just below 2^64, len 0 without a
	 * buffer, FLUSH/SIZE with any offset */
	bad = req;
	bad.off = UINT64_MAX - 8;
	CHECK_EQ(world_io(&s.w, &b, &bad), 8);
	bad.buf = NULL;
	bad.len = 0;
	bad.off = UINT64_MAX;
	CHECK_EQ(world_io(&s.w, &b, &bad), 0);
	struct world_io fl = { .op = WIO_FLUSH, .off = UINT64_MAX, .len = 0 };
	s.io_ret = 0;
	CHECK_EQ(world_io(&s.w, &b, &fl), 0);
	CHECK_EQ(s.io_calls, 3);
	tap_reset();

	/* READ: the tap sees the request, the result and the bytes read */
	s.io_ret = INT64_MIN;
	memset(buf, 0, sizeof buf);
	CHECK_EQ(world_io(&s.w, &b, &req), 8);
	CHECK_EQ(buf[0], 0x40);
	CHECK_EQ(buf[7], 0x47);
	CHECK_EQ(buf[8], 0);
	CHECK_EQ(g_ntap, 1);
	CHECK_EQ(g_tap[0].kind, WIN_IO);
	CHECK_EQ(g_tap[0].value, 8);
	CHECK(g_tap[0].has_io && !g_tap[0].has_ev);
	CHECK_EQ(g_tap[0].io.op, WIO_READ);
	CHECK_EQ(g_tap[0].io.off, 512);
	CHECK_EQ(g_tap[0].io.dev, 2);
	CHECK_EQ(g_tap[0].len, 8);
	CHECK(memcmp(g_tap[0].data, buf, 8) == 0);

	/* a short READ shows only the bytes read */
	s.io_ret = 3;
	CHECK_EQ(world_io(&s.w, &b, &req), 3);
	CHECK_EQ(g_tap[1].len, 3);
	/* a READ error shows no data */
	s.io_ret = -EIO;
	CHECK_EQ(world_io(&s.w, &b, &req), -EIO);
	CHECK_EQ(g_tap[2].value, -EIO);
	CHECK(g_tap[2].data_null);
	/* a backend claiming more than asked is turned into -EIO, for every
	 * data op */
	s.io_ret = 9;
	CHECK_EQ(world_io(&s.w, &b, &req), -EIO);
	CHECK_EQ(g_tap[3].value, -EIO);
	struct world_io wr = { .op = WIO_WRITE, .buf = buf, .len = 4 };
	CHECK_EQ(world_io(&s.w, &b, &wr), -EIO);
	wr.op = WIO_SEND;
	CHECK_EQ(world_io(&s.w, &b, &wr), -EIO);
	/* WRITE: result only, no data */
	s.io_ret = 4;
	wr.op = WIO_WRITE;
	CHECK_EQ(world_io(&s.w, &b, &wr), 4);
	CHECK_EQ(g_tap[6].value, 4);
	CHECK(g_tap[6].data_null);
	CHECK_EQ(g_tap[6].io.op, WIO_WRITE);
	/* SIZE: the size is the result, above len */
	struct world_io sz = { .op = WIO_SIZE };
	s.io_ret = 1ll << 40;
	CHECK_EQ(world_io(&s.w, &b, &sz), 1ll << 40);
	CHECK_EQ(g_tap[7].value, 1ll << 40);
	CHECK(g_tap[7].data_null);
	CHECK_EQ(g_ntap, 8);

	struct world_ops noio = script_ops;
	noio.io = NULL;
	s.w.ops = &noio;
	CHECK_EQ(world_io(&s.w, &b, &req), -EINVAL);
	s.w.ops = NULL;
	CHECK_EQ(world_io(&s.w, &b, &req), -EINVAL);
}

static void test_event_dispatch(void)
{
	struct script s;
	struct world_event ev;
	static const uint8_t payload[5] = { 1, 2, 3, 4, 5 };

	script_init(&s);
	CHECK_EQ(world_next_event(NULL, &ev), -EINVAL);
	CHECK_EQ(world_next_event(&s.w, NULL), -EINVAL);
	CHECK_EQ(s.next_calls, 0);

	/* none */
	s.next_ret = 0;
	s.next_ev.kind = WEV_HOST; /* garbage left by the implementation */
	CHECK_EQ(world_next_event(&s.w, &ev), 0);
	CHECK_EQ(ev.kind, WEV_NONE);
	/* an implementation error passes through */
	s.next_ret = -ENOMEM;
	CHECK_EQ(world_next_event(&s.w, &ev), -ENOMEM);
	CHECK_EQ(ev.kind, WEV_NONE);
	CHECK_EQ(g_ntap, 0);

	/* one event: the tap sees it with its data */
	s.next_ret = 1;
	s.next_ev = (struct world_event){ .kind = WEV_CONSOLE_IN, .dev = 4, .port = 1, .arg = 9,
					  .len = sizeof payload, .data = payload };
	CHECK_EQ(world_next_event(&s.w, &ev), 1);
	CHECK_EQ(ev.kind, WEV_CONSOLE_IN);
	CHECK_EQ(ev.dev, 4);
	CHECK_EQ(ev.len, 5);
	CHECK(ev.data == payload);
	CHECK_EQ(g_ntap, 1);
	CHECK_EQ(g_tap[0].kind, WIN_EVENT);
	CHECK_EQ(g_tap[0].value, 1);
	CHECK_EQ(g_tap[0].ev.kind, WEV_CONSOLE_IN);
	CHECK_EQ(g_tap[0].ev.port, 1);
	CHECK_EQ(g_tap[0].ev.arg, 9);
	CHECK_EQ(g_tap[0].len, 5);
	CHECK(memcmp(g_tap[0].data, payload, 5) == 0);

	/* malformed events from an implementation are dropped: -EIO */
	struct world_event bad[] = {
		{ .kind = WEV_NONE },
		{ .kind = (enum world_event_kind)9 },
		{ .kind = WEV_NET_RX, .len = 4, .data = NULL },
		{ .kind = WEV_NET_RX, .len = WORLD_EVENT_MAX_DATA + 1, .data = payload },
	};
	for (unsigned i = 0; i < RS_ARRAY_SIZE(bad); i++) {
		s.next_ev = bad[i];
		CHECK_EQ(world_next_event(&s.w, &ev), -EIO);
		CHECK_EQ(ev.kind, WEV_NONE);
		CHECK(ev.data == NULL);
	}
	/* a result other than 0, 1 or -errno */
	s.next_ret = 2;
	s.next_ev = (struct world_event){ .kind = WEV_VMMCI, .arg = 1 };
	CHECK_EQ(world_next_event(&s.w, &ev), -EIO);
	CHECK_EQ(g_ntap, 1);

	/* post: validated, not shown to the tap */
	struct world_event good = { .kind = WEV_NET_RX, .len = 5, .data = payload };
	CHECK_EQ(world_post(NULL, &good), -EINVAL);
	CHECK_EQ(world_post(&s.w, NULL), -EINVAL);
	for (unsigned i = 0; i < RS_ARRAY_SIZE(bad); i++)
		CHECK_EQ(world_post(&s.w, &bad[i]), -EINVAL);
	CHECK_EQ(s.post_calls, 0);
	s.post_ret = -ENOSPC;
	CHECK_EQ(world_post(&s.w, &good), -ENOSPC);
	s.post_ret = 0;
	CHECK_EQ(world_post(&s.w, &good), 0);
	struct world_event maxev = { .kind = WEV_HOST, .len = WORLD_EVENT_MAX_DATA,
				     .data = payload };
	CHECK_EQ(world_post(&s.w, &maxev), 0); /* len only checked, never read here */
	CHECK_EQ(s.post_calls, 3);
	CHECK_EQ(g_ntap, 1);

	struct world_ops none = { .name = "none" };
	s.w.ops = &none;
	CHECK_EQ(world_next_event(&s.w, &ev), -EINVAL);
	CHECK_EQ(world_post(&s.w, &good), -EINVAL);
	s.w.ops = NULL;
	CHECK_EQ(world_next_event(&s.w, &ev), -EINVAL);
	CHECK_EQ(world_post(&s.w, &good), -EINVAL);
}

static void test_tap_and_destroy(void)
{
	struct script s;
	uint8_t b[4];
	int ctx;

	script_init(&s);
	/* removing the tap: nothing shown, the context is forgotten */
	world_set_tap(&s.w, NULL, &ctx);
	CHECK(s.w.tap == NULL && s.w.tap_ctx == NULL);
	CHECK_EQ(world_entropy(&s.w, 0, b, sizeof b), 0);
	CHECK_EQ(g_ntap, 0);
	world_set_tap(NULL, tap_fn, &g_ntap); /* ignored, no crash */

	/* destroy is NULL-safe and calls the implementation once */
	world_destroy(NULL);
	world_destroy(&s.w);
	CHECK_EQ(s.destroys, 1);
	struct world_ops nod = script_ops;
	nod.destroy = NULL;
	s.w.ops = &nod;
	world_destroy(&s.w);
	s.w.ops = NULL;
	world_destroy(&s.w);
	CHECK_EQ(s.destroys, 1);
	CHECK(!world_is_live(&s.w));
	CHECK(!world_is_live(NULL));
}

/* ---- live world ----------------------------------------------------------------------------- */

static void test_live_entropy(void)
{
	struct world *w = world_live_new();
	uint8_t a[64], b[64], zero[64] = { 0 };

	CHECK(w != NULL);
	CHECK(world_is_live(w));
	tap_reset();
	world_set_tap(w, tap_fn, &g_ntap);
	g_rand_mode = RAND_REAL;
	CHECK_EQ(world_entropy(w, 1, a, sizeof a), 0);
	CHECK_EQ(world_entropy(w, 1, b, sizeof b), 0);
	/* 2^-512 chance of a false failure */
	CHECK(memcmp(a, b, sizeof a) != 0);
	CHECK(memcmp(a, zero, sizeof a) != 0);
	CHECK_EQ(g_ntap, 2);
	CHECK(memcmp(g_tap[0].data, a, sizeof a) == 0);
	CHECK(memcmp(g_tap[1].data, b, sizeof b) == 0);

	/* the largest request */
	uint8_t *big = malloc(WORLD_ENTROPY_MAX);
	CHECK(big != NULL);
	g_rand_calls = 0;
	CHECK_EQ(world_entropy(w, 0, big, WORLD_ENTROPY_MAX), 0);
	CHECK(g_rand_calls >= 1);
	free(big);

	/* EINTR is retried */
	g_rand_mode = RAND_EINTR_ONCE;
	g_rand_calls = 0;
	CHECK_EQ(world_entropy(w, 0, a, sizeof a), 0);
	CHECK_EQ(g_rand_calls, 2);
	/* short reads are continued where they stopped */
	g_rand_mode = RAND_SHORT;
	g_rand_calls = 0;
	memset(a, 0, sizeof a);
	CHECK_EQ(world_entropy(w, 0, a, 10), 0);
	CHECK_EQ(g_rand_calls, 4); /* 3 + 3 + 3 + 1 */
	/* ... but bounded: 64 tries at most (300 bytes would need 100) */
	uint8_t c[300];
	g_rand_calls = 0;
	CHECK_EQ(world_entropy(w, 0, c, sizeof c), -EIO);
	CHECK_EQ(g_rand_calls, 64);
	g_rand_mode = RAND_EINTR_ALWAYS;
	g_rand_calls = 0;
	CHECK_EQ(world_entropy(w, 0, a, 8), -EIO);
	CHECK_EQ(g_rand_calls, 64);
	/* hard errors and impossible answers end at once */
	g_rand_mode = RAND_ENOSYS;
	g_rand_calls = 0;
	CHECK_EQ(world_entropy(w, 0, a, 8), -ENOSYS);
	CHECK_EQ(g_rand_calls, 1);
	g_rand_mode = RAND_ZERO;
	CHECK_EQ(world_entropy(w, 0, a, 8), -EIO);
	g_rand_mode = RAND_TOO_MUCH;
	CHECK_EQ(world_entropy(w, 0, a, 8), -EIO);
	g_rand_mode = RAND_ERRNO0;
	CHECK_EQ(world_entropy(w, 0, a, 8), -EIO);
	for (unsigned i = 0; i < 8; i++)
		CHECK_EQ(a[i], 0);
	g_rand_mode = RAND_REAL;
	/* the failures reached the tap, in order */
	CHECK_EQ(g_tap[g_ntap - 1].kind, WIN_ENTROPY);
	CHECK_EQ(g_tap[g_ntap - 1].value, -EIO);
	CHECK_EQ(g_tap[g_ntap - 4].value, -ENOSYS);
	world_destroy(w);
}

static void test_live_clock(void)
{
	struct world *w = world_live_new();
	struct timespec ts;

	CHECK(w != NULL);
	tap_reset();
	world_set_tap(w, tap_fn, &g_ntap);
	uint64_t m1 = world_clock_ns(w, WORLD_CLOCK_MONOTONIC);
	uint64_t rt = world_clock_ns(w, WORLD_CLOCK_REALTIME);
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	CHECK(rt <= now && now - rt < 5000000000ull);
	CHECK(rt > 1600000000ull * 1000000000ull); /* after 2020 */
	/* monotonic counts from creation: small, and never goes back */
	CHECK(m1 < 60000000000ull);
	struct timespec nap = { 0, 2000000 };
	nanosleep(&nap, NULL);
	uint64_t m2 = world_clock_ns(w, WORLD_CLOCK_MONOTONIC);
	CHECK(m2 >= m1 + 2000000);
	CHECK_EQ(g_ntap, 3);
	CHECK_EQ(g_tap[0].value, (int64_t)m1);
	CHECK_EQ(g_tap[1].value, (int64_t)rt);
	CHECK_EQ(g_tap[1].ev.port, WORLD_CLOCK_REALTIME);
	CHECK_EQ(g_tap[2].value, (int64_t)m2);

	/* a host clock that cannot be read gives 0, not garbage */
	g_clock_fail = true;
	CHECK_EQ(world_clock_ns(w, WORLD_CLOCK_REALTIME), 0);
	CHECK_EQ(world_clock_ns(w, WORLD_CLOCK_MONOTONIC), 0);
	g_clock_fail = false;
	world_destroy(w);

	/* a world created while the clock failed starts at 0 */
	g_clock_fail = true;
	w = world_live_new();
	g_clock_fail = false;
	CHECK(world_clock_ns(w, WORLD_CLOCK_MONOTONIC) > 1000); /* host uptime */
	world_destroy(w);
}

/* A memory-backed test backend. */
struct membe {
	struct world_backend b;
	uint8_t data[64];
	unsigned calls;
	struct world_io last;
};

static int64_t membe_io(struct world_backend *b, struct world_io *req)
{
	struct membe *m = b->ctx;

	m->calls++;
	m->last = *req;
	switch (req->op) {
	case WIO_READ:
		if (req->off >= sizeof m->data)
			return 0;
		size_t n = RS_MIN(req->len, sizeof m->data - req->off);
		memcpy(req->buf, m->data + req->off, n);
		return (int64_t)n;
	case WIO_WRITE:
		if (req->off > sizeof m->data || req->len > sizeof m->data - req->off)
			return -ENOSPC;
		memcpy(m->data + req->off, req->buf, req->len);
		return (int64_t)req->len;
	case WIO_SIZE:
		return sizeof m->data;
	default:
		return -EOPNOTSUPP;
	}
}

static const struct world_backend_ops membe_ops = { .name = "mem", .io = membe_io };

static void test_live_io(void)
{
	struct world *w = world_live_new();
	struct membe m = { .b = { .ops = &membe_ops, .dev = 1, .name = "mem" } };
	uint8_t buf[8] = { 1, 2, 3, 4, 5, 6, 7, 8 }, rd[16];

	m.b.ctx = &m;
	tap_reset();
	world_set_tap(w, tap_fn, &g_ntap);
	struct world_io wr = { .op = WIO_WRITE, .dev = 1, .off = 60, .buf = buf, .len = 4 };
	CHECK_EQ(world_io(w, &m.b, &wr), 4);
	CHECK_EQ(m.data[63], 4);
	struct world_io rq = { .op = WIO_READ, .dev = 1, .off = 58, .buf = rd, .len = 16 };
	memset(rd, 0xaa, sizeof rd);
	CHECK_EQ(world_io(w, &m.b, &rq), 6); /* short: end of the backend */
	CHECK_EQ(rd[2], 1);
	CHECK_EQ(rd[6], 0xaa);
	struct world_io sz = { .op = WIO_SIZE };
	CHECK_EQ(world_io(w, &m.b, &sz), 64);
	struct world_io fl = { .op = WIO_FLUSH };
	CHECK_EQ(world_io(w, &m.b, &fl), -EOPNOTSUPP);
	wr.off = 62;
	CHECK_EQ(world_io(w, &m.b, &wr), -ENOSPC);
	CHECK_EQ(m.calls, 5);
	CHECK_EQ(g_ntap, 5);
	CHECK_EQ(g_tap[1].len, 6);
	CHECK(memcmp(g_tap[1].data, rd, 6) == 0);
	CHECK_EQ(g_tap[4].value, -ENOSPC);

	/* backends without an io op: -ENODEV, shown to the tap as a result */
	struct world_backend nob = { .ops = &null_backend_ops };
	CHECK_EQ(world_io(w, &nob, &sz), -ENODEV);
	nob.ops = NULL;
	CHECK_EQ(world_io(w, &nob, &sz), -ENODEV);
	CHECK_EQ(g_tap[6].value, -ENODEV);
	/* the implementation defends itself even when called directly */
	CHECK_EQ(w->ops->io(w, NULL, &sz), -ENODEV);
	world_destroy(w);
}

static void test_live_queue(void)
{
	struct world *w = world_live_new();
	struct world_event ev;
	uint8_t data[32];

	tap_reset();
	world_set_tap(w, tap_fn, &g_ntap);
	CHECK_EQ(world_next_event(w, &ev), 0); /* empty */

	/* FIFO, data copied at post */
	for (unsigned i = 0; i < 3; i++) {
		memset(data, (int)(0x30 + i), sizeof data);
		struct world_event p = { .kind = WEV_CONSOLE_IN, .dev = i, .port = 10 + i,
					 .arg = 100 + i, .len = 8 + i, .data = data };
		CHECK_EQ(world_post(w, &p), 0);
	}
	struct world_event noda = { .kind = WEV_BALLOON_TARGET, .dev = 5, .arg = 4096 };
	CHECK_EQ(world_post(w, &noda), 0);
	memset(data, 0xff, sizeof data); /* the caller's buffer changes: queue unaffected */
	for (unsigned i = 0; i < 3; i++) {
		CHECK_EQ(world_next_event(w, &ev), 1);
		CHECK_EQ(ev.kind, WEV_CONSOLE_IN);
		CHECK_EQ(ev.dev, i);
		CHECK_EQ(ev.port, 10 + i);
		CHECK_EQ(ev.arg, 100 + i);
		CHECK_EQ(ev.len, 8 + i);
		CHECK(ev.data != NULL && ev.data != data);
		for (unsigned k = 0; k < ev.len; k++)
			CHECK_EQ(ev.data[k], 0x30 + i);
		CHECK_EQ(g_tap[i].kind, WIN_EVENT);
		CHECK_EQ(g_tap[i].ev.dev, i);
		CHECK_EQ(g_tap[i].len, 8 + i);
		CHECK_EQ(g_tap[i].data[0], 0x30 + i);
	}
	CHECK_EQ(world_next_event(w, &ev), 1);
	CHECK_EQ(ev.kind, WEV_BALLOON_TARGET);
	CHECK_EQ(ev.arg, 4096);
	CHECK_EQ(ev.len, 0);
	CHECK(ev.data == NULL);
	CHECK_EQ(world_next_event(w, &ev), 0);
	CHECK_EQ(g_ntap, 4);

	/* full at WORLD_LIVE_QUEUE_MAX events; the order survives wrap-around */
	world_set_tap(w, NULL, NULL);
	for (unsigned i = 0; i < WORLD_LIVE_QUEUE_MAX; i++) {
		struct world_event p = { .kind = WEV_HOST, .arg = i, .len = 1, .data = data };
		data[0] = (uint8_t)i;
		CHECK_EQ(world_post(w, &p), 0);
	}
	struct world_event extra = { .kind = WEV_HOST, .arg = 9999 };
	CHECK_EQ(world_post(w, &extra), -ENOSPC);
	for (unsigned i = 0; i < WORLD_LIVE_QUEUE_MAX / 2; i++) {
		CHECK_EQ(world_next_event(w, &ev), 1);
		CHECK_EQ(ev.arg, i);
		CHECK_EQ(ev.data[0], (uint8_t)i);
	}
	for (unsigned i = 0; i < WORLD_LIVE_QUEUE_MAX / 2; i++) {
		struct world_event p = { .kind = WEV_HOST, .arg = WORLD_LIVE_QUEUE_MAX + i };
		CHECK_EQ(world_post(w, &p), 0);
	}
	CHECK_EQ(world_post(w, &extra), -ENOSPC);
	for (unsigned i = WORLD_LIVE_QUEUE_MAX / 2; i < WORLD_LIVE_QUEUE_MAX * 3 / 2; i++) {
		CHECK_EQ(world_next_event(w, &ev), 1);
		CHECK_EQ(ev.arg, i);
	}
	CHECK_EQ(world_next_event(w, &ev), 0);

	/* the byte budget: WORLD_LIVE_QUEUE_BYTES of data, then -ENOSPC for
	 * data but not for events without data */
	uint8_t *big = calloc(1, WORLD_EVENT_MAX_DATA);
	unsigned fit = WORLD_LIVE_QUEUE_BYTES / WORLD_EVENT_MAX_DATA;
	for (unsigned i = 0; i < fit; i++) {
		struct world_event p = { .kind = WEV_NET_RX, .arg = i, .len = WORLD_EVENT_MAX_DATA,
					 .data = big };
		big[0] = (uint8_t)i;
		CHECK_EQ(world_post(w, &p), 0);
	}
	struct world_event one = { .kind = WEV_NET_RX, .len = 1, .data = big };
	CHECK_EQ(world_post(w, &one), -ENOSPC);
	CHECK_EQ(world_post(w, &noda), 0);
	CHECK_EQ(world_next_event(w, &ev), 1);
	CHECK_EQ(ev.len, WORLD_EVENT_MAX_DATA);
	CHECK_EQ(ev.data[0], 0);
	/* delivery frees the event's share of the budget: a full-size event
	 * fits again, and only that one */
	struct world_event p = { .kind = WEV_NET_RX, .len = WORLD_EVENT_MAX_DATA, .data = big };
	CHECK_EQ(world_post(w, &p), 0);
	CHECK_EQ(world_post(w, &one), -ENOSPC);
	CHECK_EQ(world_next_event(w, &ev), 1);
	CHECK_EQ(ev.data[0], 1);
	free(big);
	/* destroy with events still queued (and one delivered): no leak (ASan) */
	world_destroy(w);
}

/* A pipe-backed backend: input on the read end becomes WEV_CONSOLE_IN. */
struct pipebe {
	struct world_backend b;
	int fds[2];
	unsigned readable_calls;
	struct world_backend *unwatch_other; /* unwatch this in on_readable */
	bool unwatch_self;
	int post_ret;
};

static int pipebe_fd(struct world_backend *b)
{
	struct pipebe *p = b->ctx;

	return p->fds[0];
}

static void pipebe_readable(struct world_backend *b, struct world *w)
{
	struct pipebe *p = b->ctx;
	uint8_t buf[256];

	p->readable_calls++;
	ssize_t n = read(p->fds[0], buf, sizeof buf);
	if (n > 0) {
		struct world_event ev = { .kind = WEV_CONSOLE_IN, .dev = b->dev,
					  .len = (uint32_t)n, .data = buf };
		p->post_ret = world_post(w, &ev);
	} else {
		world_live_unwatch(w, b); /* hung up */
	}
	if (p->unwatch_other)
		world_live_unwatch(w, p->unwatch_other);
	if (p->unwatch_self)
		world_live_unwatch(w, b);
}

static const struct world_backend_ops pipebe_ops = {
	.name = "pipe", .poll_fd = pipebe_fd, .on_readable = pipebe_readable,
};

static void pipebe_init(struct pipebe *p, unsigned dev)
{
	memset(p, 0, sizeof *p);
	p->b.ops = &pipebe_ops;
	p->b.ctx = p;
	p->b.dev = dev;
	CHECK_EQ(pipe(p->fds), 0);
}

static void pipebe_fini(struct pipebe *p)
{
	close(p->fds[0]);
	if (p->fds[1] >= 0)
		close(p->fds[1]);
}

static int nofd(struct world_backend *b)
{
	return -1;
}

static void test_live_poll(void)
{
	struct world *w = world_live_new();
	struct pipebe a, b;
	struct world_event ev;
	struct script s;

	pipebe_init(&a, 3);
	pipebe_init(&b, 4);
	/* nothing watched: returns at once, even with no time limit */
	CHECK_EQ(world_live_poll(w, -1), 0);

	/* watch validation */
	script_init(&s);
	CHECK_EQ(world_live_watch(&s.w, &a.b), -EINVAL); /* not a live world */
	CHECK_EQ(world_live_poll(&s.w, 0), -EINVAL);
	world_live_unwatch(&s.w, &a.b);                  /* ignored */
	CHECK_EQ(world_live_watch(NULL, &a.b), -EINVAL);
	CHECK_EQ(world_live_poll(NULL, 0), -EINVAL);
	CHECK_EQ(world_live_watch(w, NULL), -EINVAL);
	struct world_backend bare = { .ops = NULL };
	CHECK_EQ(world_live_watch(w, &bare), -EINVAL);
	bare.ops = &null_backend_ops;
	CHECK_EQ(world_live_watch(w, &bare), -EINVAL);
	struct world_backend_ops half = { .name = "half", .poll_fd = pipebe_fd };
	bare.ops = &half;
	CHECK_EQ(world_live_watch(w, &bare), -EINVAL);
	world_live_unwatch(w, &bare);                    /* not watched: no-op */
	world_live_unwatch(w, NULL);

	CHECK_EQ(world_live_watch(w, &a.b), 0);
	CHECK_EQ(world_live_watch(w, &a.b), 0);          /* idempotent */
	CHECK_EQ(world_live_watch(w, &b.b), 0);
	/* a backend without an fd right now is skipped */
	struct world_backend_ops nofd_ops = pipebe_ops;
	nofd_ops.poll_fd = nofd;
	struct pipebe c;
	pipebe_init(&c, 5);
	c.b.ops = &nofd_ops;
	CHECK_EQ(world_live_watch(w, &c.b), 0);

	/* no input: timeout */
	CHECK_EQ(world_live_poll(w, 0), 0);
	CHECK_EQ(a.readable_calls + b.readable_calls, 0);

	/* input on b only */
	CHECK_EQ(write(b.fds[1], "hello", 5), 5);
	CHECK_EQ(world_live_poll(w, 1000), 1);
	CHECK_EQ(b.readable_calls, 1);
	CHECK_EQ(a.readable_calls, 0);
	CHECK_EQ(b.post_ret, 0);
	CHECK_EQ(world_next_event(w, &ev), 1);
	CHECK_EQ(ev.kind, WEV_CONSOLE_IN);
	CHECK_EQ(ev.dev, 4);
	CHECK_EQ(ev.len, 5);
	CHECK(memcmp(ev.data, "hello", 5) == 0);
	CHECK_EQ(world_next_event(w, &ev), 0);

	/* input on both: callbacks in registration order, events in that order */
	CHECK_EQ(write(b.fds[1], "B", 1), 1);
	CHECK_EQ(write(a.fds[1], "A", 1), 1);
	CHECK_EQ(world_live_poll(w, 1000), 2);
	CHECK_EQ(world_next_event(w, &ev), 1);
	CHECK_EQ(ev.dev, 3);
	CHECK_EQ(ev.data[0], 'A');
	CHECK_EQ(world_next_event(w, &ev), 1);
	CHECK_EQ(ev.dev, 4);

	/* a callback that unwatches a later backend: that one is not called */
	CHECK_EQ(write(b.fds[1], "B", 1), 1);
	CHECK_EQ(write(a.fds[1], "A", 1), 1);
	a.unwatch_other = &b.b;
	CHECK_EQ(world_live_poll(w, 1000), 1);
	CHECK_EQ(a.readable_calls, 2);
	CHECK_EQ(b.readable_calls, 2);
	a.unwatch_other = NULL;
	CHECK_EQ(world_next_event(w, &ev), 1);
	CHECK_EQ(ev.dev, 3);
	CHECK_EQ(world_next_event(w, &ev), 0);
	/* b's byte is still in its pipe, but b is no longer watched */
	CHECK_EQ(world_live_poll(w, 0), 0);
	CHECK_EQ(world_live_watch(w, &b.b), 0);
	CHECK_EQ(world_live_poll(w, 0), 1);
	CHECK_EQ(b.readable_calls, 3);
	CHECK_EQ(world_next_event(w, &ev), 1);

	/* a callback that unwatches itself */
	a.unwatch_self = true;
	CHECK_EQ(write(a.fds[1], "x", 1), 1);
	CHECK_EQ(world_live_poll(w, 1000), 1);
	CHECK_EQ(world_next_event(w, &ev), 1);
	a.unwatch_self = false;
	CHECK_EQ(write(a.fds[1], "y", 1), 1);
	CHECK_EQ(world_live_poll(w, 0), 0);
	CHECK_EQ(a.readable_calls, 3);
	CHECK_EQ(world_live_watch(w, &a.b), 0);
	CHECK_EQ(world_live_poll(w, 0), 1);
	CHECK_EQ(world_next_event(w, &ev), 1);
	CHECK_EQ(ev.data[0], 'y');

	/* hang-up counts as input: the backend sees EOF and unwatches itself */
	close(b.fds[1]);
	b.fds[1] = -1;
	CHECK_EQ(world_live_poll(w, 1000), 1);
	CHECK_EQ(b.readable_calls, 4);
	CHECK_EQ(world_next_event(w, &ev), 0);
	CHECK_EQ(world_live_poll(w, 0), 0);

	/* poll(2) errors come back as -errno */
	g_poll_errno = EINTR;
	CHECK_EQ(world_live_poll(w, 0), -EINTR);
	g_poll_errno = -1; /* failure without errno */
	CHECK_EQ(world_live_poll(w, 0), -EIO);

	/* the watch list is bounded */
	world_live_unwatch(w, &a.b);
	world_live_unwatch(w, &c.b);
	static struct pipebe many[WORLD_LIVE_WATCH_MAX + 1];
	for (unsigned i = 0; i <= WORLD_LIVE_WATCH_MAX; i++) {
		many[i].b.ops = &nofd_ops;
		many[i].b.ctx = &many[i];
		CHECK_EQ(world_live_watch(w, &many[i].b), i < WORLD_LIVE_WATCH_MAX ? 0 : -ENOSPC);
	}
	CHECK_EQ(world_live_poll(w, 0), 0);
	world_live_unwatch(w, &many[0].b);
	CHECK_EQ(world_live_watch(w, &a.b), 0);
	CHECK_EQ(write(a.fds[1], "z", 1), 1);
	CHECK_EQ(world_live_poll(w, 1000), 1);
	CHECK_EQ(world_next_event(w, &ev), 1);
	CHECK_EQ(ev.data[0], 'z');

	/* a full queue refuses the callback's event; nothing is lost silently:
	 * the backend sees -ENOSPC */
	for (unsigned i = 0; i < WORLD_LIVE_QUEUE_MAX; i++) {
		struct world_event p = { .kind = WEV_HOST };
		CHECK_EQ(world_post(w, &p), 0);
	}
	CHECK_EQ(write(a.fds[1], "q", 1), 1);
	CHECK_EQ(world_live_poll(w, 1000), 1);
	CHECK_EQ(a.post_ret, -ENOSPC);

	pipebe_fini(&a);
	pipebe_fini(&b);
	pipebe_fini(&c);
	world_destroy(w);
}

/* The tap sees a mixed sequence of inputs exactly in the order consumed. */
static void test_live_tap_order(void)
{
	struct world *w = world_live_new();
	struct membe m = { .b = { .ops = &membe_ops, .dev = 2 } };
	struct world_event ev;
	uint8_t e1[4], e2[6], rd[4];

	m.b.ctx = &m;
	memcpy(m.data, "ABCD", 4);
	tap_reset();
	world_set_tap(w, tap_fn, &g_ntap);
	struct world_event p = { .kind = WEV_VMMCI, .dev = 1, .arg = 2 };
	CHECK_EQ(world_post(w, &p), 0); /* not an input yet */
	CHECK_EQ(g_ntap, 0);
	CHECK_EQ(world_entropy(w, 0, e1, sizeof e1), 0);
	uint64_t t = world_clock_ns(w, WORLD_CLOCK_MONOTONIC);
	struct world_io rq = { .op = WIO_READ, .dev = 2, .buf = rd, .len = 4 };
	CHECK_EQ(world_io(w, &m.b, &rq), 4);
	CHECK_EQ(world_next_event(w, &ev), 1);
	CHECK_EQ(world_entropy(w, 9, e2, sizeof e2), 0);
	CHECK_EQ(world_next_event(w, &ev), 0); /* nothing delivered: not shown */

	CHECK_EQ(g_ntap, 5);
	CHECK_EQ(g_tap[0].kind, WIN_ENTROPY);
	CHECK(memcmp(g_tap[0].data, e1, 4) == 0);
	CHECK_EQ(g_tap[1].kind, WIN_CLOCK);
	CHECK_EQ(g_tap[1].value, (int64_t)t);
	CHECK_EQ(g_tap[2].kind, WIN_IO);
	CHECK(memcmp(g_tap[2].data, "ABCD", 4) == 0);
	CHECK_EQ(g_tap[3].kind, WIN_EVENT);
	CHECK_EQ(g_tap[3].ev.kind, WEV_VMMCI);
	CHECK_EQ(g_tap[3].ev.arg, 2);
	CHECK_EQ(g_tap[4].kind, WIN_ENTROPY);
	CHECK_EQ(g_tap[4].ev.dev, 9);
	CHECK_EQ(g_tap[4].len, 6);
	CHECK(memcmp(g_tap[4].data, e2, 6) == 0);
	world_destroy(w);
}

int main(void)
{
	RUN(test_entropy_dispatch);
	RUN(test_clock_dispatch);
	RUN(test_io_dispatch);
	RUN(test_event_dispatch);
	RUN(test_tap_and_destroy);
	RUN(test_live_entropy);
	RUN(test_live_clock);
	RUN(test_live_io);
	RUN(test_live_queue);
	RUN(test_live_poll);
	RUN(test_live_tap_order);
	return check_done();
}
