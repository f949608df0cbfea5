/*
 * ringside tests — traces (replay/trace.c): the building blocks (CRC32C,
 * varints, zigzag), a round trip of every event type with edge values,
 * frame cuts by event count, by bytes and by flush, the frame index and
 * seeking, reading a trace while it is being written, the text form of
 * events, determinism, and every writer error (bad arguments, unwritable
 * directory, write/fsync/rename failures, file size limit) and abort.
 * Damaged and hostile files are tests/test_trace_damage.c.
 *
 * write, fsync and pread are interposed below (this program's definitions
 * win over libc's at link time) so their failures can be provoked; by
 * default each passes straight through to the kernel.
 *
 * Also the generator of the golden trace and of the reader's seed corpus:
 *   test_trace --golden FILE     the trace of tests/golden/trace_*.ok
 *   test_trace --seeds DIR       corpus/trace_reader/ seeds
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "check.h"
#include "ringside/trace.h"
#include "ringside/world.h"
#include "../replay/trace_priv.h"
#include "../replay/varint.h"

/* ---- interposed system calls ---------------------------------------------------------------- */

enum fake_io {
	IO_REAL = 0,
	IO_EINTR_ONCE,  /* first call EINTR, then real */
	IO_SHORT,       /* every write moves at most 7 bytes */
	IO_ZERO,        /* write returns 0 */
	IO_FAIL,        /* -1, EIO */
};
static enum fake_io g_write_mode, g_fsync_mode, g_pread_mode;
static unsigned g_pread_fail_in; /* > 0: the g_pread_fail_in-th pread from now fails */

ssize_t write(int fd, const void *buf, size_t len)
{
	switch (g_write_mode) {
	case IO_EINTR_ONCE:
		g_write_mode = IO_REAL;
		errno = EINTR;
		return -1;
	case IO_SHORT:
		len = len > 7 ? 7 : len;
		break;
	case IO_ZERO:
		return 0;
	case IO_FAIL:
		errno = EIO;
		return -1;
	default:
		break;
	}
	return syscall(SYS_write, fd, buf, len);
}

int fsync(int fd)
{
	if (g_fsync_mode == IO_FAIL) {
		errno = EIO;
		return -1;
	}
	return (int)syscall(SYS_fsync, fd);
}

ssize_t pread(int fd, void *buf, size_t len, off_t off)
{
	if (g_pread_mode == IO_FAIL || (g_pread_fail_in && !--g_pread_fail_in)) {
		errno = EIO;
		return -1;
	}
	return syscall(SYS_pread64, fd, buf, len, off);
}

/* ---- helpers -------------------------------------------------------------------------------- */

static char g_dir[64];

/* path of name in the test's scratch directory (rotating static buffers) */
static const char *tpath(const char *name)
{
	static char buf[8][256];
	static unsigned i;
	char *p = buf[i++ % 8];
	snprintf(p, 256, "%s/%s", g_dir, name);
	return p;
}

static bool exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *b = NULL;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	b = malloc(n ? (size_t)n : 1);
	if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
		free(b);
		b = NULL;
	}
	fclose(f);
	*len = (size_t)n;
	return b;
}

static void header_init(struct trace_header *h, const char *spec, const char *rec,
			const char *build)
{
	memset(h, 0, sizeof(*h));
	snprintf(h->machine_spec, sizeof(h->machine_spec), "%s", spec);
	snprintf(h->recorder, sizeof(h->recorder), "%s", rec);
	snprintf(h->build, sizeof(h->build), "%s", build);
}

/* A deep copy of the events of a trace. */
struct evlist {
	struct trace_event *ev;
	size_t n, cap;
};

static void evlist_add(struct evlist *l, const struct trace_event *ev)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		l->ev = realloc(l->ev, l->cap * sizeof(*l->ev));
	}
	struct trace_event *c = &l->ev[l->n++];
	*c = *ev;
	if (ev->len) {
		uint8_t *d = malloc(ev->len);
		memcpy(d, ev->data, ev->len);
		c->data = d;
	} else {
		c->data = NULL;
	}
}

static void evlist_free(struct evlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free((void *)l->ev[i].data);
	free(l->ev);
	memset(l, 0, sizeof(*l));
}

static bool ev_equal(const struct trace_event *a, const struct trace_event *b)
{
	return a->type == b->type && a->size == b->size && a->addr == b->addr &&
	       a->value == b->value && a->dev == b->dev && a->kind == b->kind &&
	       a->len == b->len && (!a->len || !memcmp(a->data, b->data, a->len));
}

/* Read every event of r into l; returns trace_read's last result. */
static int read_all(struct trace_reader *r, struct evlist *l, struct trace_error *err)
{
	struct trace_event ev;
	int rc;

	while ((rc = trace_read(r, &ev, err)) == 1)
		evlist_add(l, &ev);
	return rc;
}

/* Write events to path (closed). 0 or -1. */
static int write_trace(const char *path, const struct trace_header *h,
		       const struct trace_event *evs, size_t n)
{
	struct trace_error err;
	struct trace_writer *w = trace_writer_open(path, h, &err);

	if (!w)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (trace_write(w, &evs[i], &err)) {
			trace_writer_abort(w);
			return -1;
		}
	return trace_writer_close(w, &err);
}

static struct trace_event ev_make(enum trace_ev t, uint32_t size, uint64_t addr, uint64_t value)
{
	return (struct trace_event){ .type = t, .size = size, .addr = addr, .value = value };
}

/* Frame counts from the file's index (parsed here independently of the
 * reader). Returns the number of frames, or -1 without a valid footer. */
static long index_counts(const uint8_t *b, size_t len, uint32_t *counts, size_t max)
{
	if (len < TRACE_FOOTER || memcmp(b + len - 4, TRACE_FOOTER_MAGIC, 4))
		return -1;
	const uint8_t *f = b + len - TRACE_FOOTER;
	uint64_t ioff = rs_le64(f), n = rs_le64(f + 8);
	for (uint64_t i = 0; i < n && i < max; i++)
		counts[i] = rs_le32(b + ioff + TRACE_INDEX_HDR + i * TRACE_INDEX_ENTRY + 16);
	return (long)n;
}

/* ---- building blocks ------------------------------------------------------------------------ */

static void test_crc32c(void)
{
	CHECK_EQ(trace_crc32c("123456789", 9), 0xe3069283u);
	CHECK_EQ(trace_crc32c("", 0), 0);
	uint8_t zeros[32] = { 0 };
	CHECK_EQ(trace_crc32c(zeros, 32), 0x8a9136aau); /* RFC 3720 B.4 */
}

static void test_varint(void)
{
	static const uint64_t vals[] = { 0, 1, 127, 128, 300, 16383, 16384, UINT32_MAX,
					 (1ull << 63) - 1, 1ull << 63, UINT64_MAX };
	static const size_t lens[] = { 1, 1, 1, 2, 2, 2, 3, 5, 9, 10, 10 };
	uint8_t b[16];

	for (size_t i = 0; i < RS_ARRAY_SIZE(vals); i++) {
		size_t n = varint_put(b, vals[i]);
		const uint8_t *p = b;
		uint64_t v = 0;
		CHECK_EQ(n, lens[i]);
		CHECK_EQ(varint_get(&p, b + n, &v), VARINT_OK);
		CHECK_EQ(v, vals[i]);
		CHECK(p == b + n);
		/* every strict prefix is short, and leaves p and v alone */
		for (size_t k = 0; k < n; k++) {
			p = b;
			v = 7;
			CHECK_EQ(varint_get(&p, b + k, &v), VARINT_SHORT);
			CHECK(p == b && v == 7);
		}
	}
	/* ten bytes whose last holds more than bit 63; eleven bytes */
	memset(b, 0x80, sizeof(b));
	b[9] = 0x02;
	const uint8_t *p = b;
	uint64_t v;
	CHECK_EQ(varint_get(&p, b + 16, &v), VARINT_LONG);
	b[9] = 0x81;
	CHECK_EQ(varint_get(&p, b + 16, &v), VARINT_LONG);
	CHECK(p == b);
	/* zigzag */
	CHECK_EQ(zigzag_enc(0), 0);
	CHECK_EQ(zigzag_enc(UINT64_MAX), 1); /* -1 */
	CHECK_EQ(zigzag_enc(1), 2);
	CHECK_EQ(zigzag_enc(1ull << 63), UINT64_MAX); /* INT64_MIN */
	CHECK_EQ(zigzag_enc((1ull << 63) - 1), UINT64_MAX - 1);
	for (size_t i = 0; i < RS_ARRAY_SIZE(vals); i++)
		CHECK_EQ(zigzag_dec(zigzag_enc(vals[i])), vals[i]);
}

static void test_names(void)
{
	CHECK(!strcmp(trace_err_name(TRACE_OK), "TRACE_OK"));
	CHECK(!strcmp(trace_err_name(TRACE_E_TRUNCATED), "TRACE_E_TRUNCATED"));
	CHECK(!strcmp(trace_err_name(TRACE_E_USAGE), "TRACE_E_USAGE"));
	CHECK(!strcmp(trace_err_name((enum trace_err)99), "TRACE_E_UNKNOWN"));
	CHECK(!strcmp(trace_err_name((enum trace_err)-1), "TRACE_E_UNKNOWN"));
	/* the numbers are stable: files and scripts outlive builds */
	CHECK_EQ(TRACE_E_IO, 1);
	CHECK_EQ(TRACE_E_TRUNCATED, 5);
	CHECK_EQ(TRACE_E_INDEX, 11);
	CHECK_EQ(TRACE_E_USAGE, 12);
	CHECK(!strcmp(trace_ev_name(TEV_PIO_READ), "pio-read"));
	CHECK(!strcmp(trace_ev_name(TEV_PCI_CFG_WRITE), "pci-cfg-write"));
	CHECK(!strcmp(trace_ev_name(TEV_CHECKPOINT), "checkpoint"));
	CHECK(!strcmp(trace_ev_name((enum trace_ev)0), "unknown"));
	CHECK(!strcmp(trace_ev_name(TEV__MAX), "unknown"));
}

/* ---- round trips ---------------------------------------------------------------------------- */

static uint8_t g_big[TRACE_MAX_DATA];

/* Every event type with edge values, deltas both ways and across wraps. */
static size_t edge_events(struct trace_event *e)
{
	static uint8_t d16[16], d60[60], d32[32];
	size_t n = 0;

	for (unsigned i = 0; i < sizeof(d16); i++)
		d16[i] = (uint8_t)(i * 17);
	for (unsigned i = 0; i < sizeof(d60); i++)
		d60[i] = (uint8_t)(255 - i);
	for (unsigned i = 0; i < sizeof(d32); i++)
		d32[i] = (uint8_t)(i ^ 0xa5);
	for (size_t i = 0; i < sizeof(g_big); i++)
		g_big[i] = (uint8_t)(i * 2654435761u >> 13);

	e[n++] = ev_make(TEV_PIO_READ, 1, 0, 0xff);
	e[n++] = ev_make(TEV_PIO_WRITE, 4, 0xffff, 0xffffffff);
	e[n++] = ev_make(TEV_PIO_READ, 2, 0xcf8, 0);
	e[n++] = ev_make(TEV_PIO_WRITE, 8, 0x10, UINT64_MAX);
	e[n++] = ev_make(TEV_MMIO_READ, 8, UINT64_MAX - 7, UINT64_MAX);
	e[n++] = ev_make(TEV_MMIO_WRITE, 8, 0, 1ull << 63);
	e[n++] = ev_make(TEV_MMIO_WRITE, 2, 0xe0003000, 0x1234);
	e[n++] = ev_make(TEV_MMIO_READ, 1, 0xe0003000, 0);
	e[n] = ev_make(TEV_PCI_CFG_READ, 4, 0xcfc, 0x10001af4);
	e[n].dev = 3;
	n++;
	e[n] = ev_make(TEV_PCI_CFG_WRITE, 2, 0xcfe, 0xffff);
	e[n].dev = UINT32_MAX;
	e[n].kind = 0xfff;
	n++;
	e[n++] = ev_make(TEV_DMA_READ, 0, 0x1000, 0);
	e[n] = ev_make(TEV_DMA_READ, 0, 0x1000, 0);
	e[n].len = sizeof(d16);
	e[n].data = d16;
	n++;
	e[n] = ev_make(TEV_DMA_WRITE, 0, 0x1010, 0);
	e[n].len = TRACE_MAX_DATA;
	e[n].data = g_big;
	n++;
	e[n] = ev_make(TEV_DMA_WRITE, 0, UINT64_MAX, 0);
	e[n].len = 1;
	e[n].data = d16 + 5;
	e[n].dev = 4;
	n++;
	e[n++] = ev_make(TEV_DMA_READ, 0, 0, 0);
	e[n++] = ev_make(TEV_IRQ, 0, 10, 1);
	e[n++] = ev_make(TEV_IRQ, 0, 10, 0);
	e[n] = ev_make(TEV_MSI, 0, 0xfee00000, 0x4021);
	e[n].dev = 2;
	n++;
	/* world: entropy, clock, io read with error, io send, the continuation of a
	 * long io read, event, unknown kind (kind layout: trace.h, TEV_WORLD) */
	e[n] = ev_make(TEV_WORLD, 32, 0, 0);
	e[n].kind = 0;
	e[n].dev = 1;
	e[n].len = sizeof(d32);
	e[n].data = d32;
	n++;
	e[n] = ev_make(TEV_WORLD, 0, 1, UINT64_MAX);
	e[n].kind = 1;
	n++;
	e[n] = ev_make(TEV_WORLD, 512, 0x1000, (uint64_t)-5);
	e[n].kind = WIN_IO | WIO_READ << 8;
	n++;
	e[n] = ev_make(TEV_WORLD, 60, 0, 60);
	e[n].kind = WIN_IO | WIO_SEND << 8;
	e[n].dev = 5;
	n++;
	e[n] = ev_make(TEV_WORLD, 0, 0x101000, 0);
	e[n].kind = WIN_IO | WIO_READ << 8 | 0x10000;
	e[n].len = sizeof(d16);
	e[n].data = d16;
	n++;
	e[n] = ev_make(TEV_WORLD, 0, 1, 1);
	e[n].kind = 3;
	e[n].dev = 5;
	e[n].len = sizeof(d60);
	e[n].data = d60;
	n++;
	e[n] = ev_make(TEV_WORLD, UINT32_MAX, UINT64_MAX, 1ull << 63);
	e[n].kind = 99;
	e[n].dev = UINT32_MAX;
	n++;
	e[n] = ev_make(TEV_CHECKPOINT, 0, 0, 0xdeadbeefcafef00dull);
	n++;
	e[n] = ev_make(TEV_CHECKPOINT, 3, 7, UINT64_MAX);
	e[n].dev = UINT32_MAX;
	e[n].kind = 7;
	n++;
	return n;
}

static void test_roundtrip(void)
{
	struct trace_event evs[64];
	size_t n = edge_events(evs);
	struct trace_header h, *hp = &h;
	static uint8_t world[1000];
	struct trace_error err;
	const char *path = tpath("edge.trace");

	/* longest strings each field holds */
	memset(&h, 0, sizeof(h));
	memset(h.machine_spec, 'm', TRACE_MAX_SPEC);
	memset(h.recorder, 'r', sizeof(h.recorder) - 1);
	memset(h.build, 'b', sizeof(h.build) - 1);
	for (unsigned i = 0; i < sizeof(world); i++)
		world[i] = (uint8_t)i;
	h.world = world;
	h.world_len = sizeof(world);
	CHECK_EQ(write_trace(path, hp, evs, n), 0);
	CHECK(exists(path));
	CHECK(!exists(tpath("edge.trace.tmp")));

	size_t len;
	uint8_t *file = slurp(path, &len);
	for (int mem = 0; mem < 2; mem++) {
		struct trace_reader *r = mem ? trace_reader_open_mem(file, len, &err)
					     : trace_reader_open(path, &err);
		CHECK(r != NULL);
		if (!r)
			continue;
		const struct trace_header *g = trace_reader_header(r);
		CHECK_EQ(g->version, TRACE_FORMAT_VERSION);
		CHECK(!strcmp(g->machine_spec, h.machine_spec));
		CHECK(!strcmp(g->recorder, h.recorder));
		CHECK(!strcmp(g->build, h.build));
		CHECK_EQ(g->world_len, sizeof(world));
		CHECK(!memcmp(g->world, world, sizeof(world)));
		struct evlist l = { 0 };
		CHECK_EQ(read_all(r, &l, &err), 0);
		CHECK_EQ(err.code, TRACE_OK);
		CHECK_EQ(l.n, n);
		for (size_t i = 0; i < n && i < l.n; i++)
			if (!ev_equal(&l.ev[i], &evs[i]))
				check_fail(__FILE__, __LINE__, "event differs after round trip");
		/* after the end: 0 again */
		struct trace_event ev;
		CHECK_EQ(trace_read(r, &ev, &err), 0);
		struct trace_info in;
		trace_reader_info(r, &in);
		CHECK_EQ(in.events, n);
		CHECK_EQ(in.file_bytes, len);
		CHECK(in.indexed);
		CHECK_EQ(in.index_events, n);
		/* the 1 MiB event closed a frame in the middle: deltas restart */
		CHECK_EQ(in.frames, 2);
		CHECK_EQ(in.index_frames, 2);
		CHECK(in.raw_bytes > TRACE_MAX_DATA);
		CHECK(in.zstd_bytes < in.raw_bytes);
		CHECK_EQ(in.header_bytes, TRACE_HDR_MIN + TRACE_MAX_SPEC + 31 + 63 + 1000);
		evlist_free(&l);
		trace_reader_close(r);
	}
	free(file);
}

/* The same events give the same bytes. */
static void test_deterministic(void)
{
	struct trace_event evs[64];
	size_t n = edge_events(evs), la, lb;
	struct trace_header h;

	header_init(&h, "mem=64M pci:blk", "inproc", "test");
	CHECK_EQ(write_trace(tpath("det-a"), &h, evs, n), 0);
	CHECK_EQ(write_trace(tpath("det-b"), &h, evs, n), 0);
	uint8_t *a = slurp(tpath("det-a"), &la), *b = slurp(tpath("det-b"), &lb);
	CHECK(a && b && la == lb && !memcmp(a, b, la));
	free(a);
	free(b);
}

/* Frames are cut every TRACE_FRAME_EVENTS events. */
static void test_frames_by_events(void)
{
	struct trace_header h;
	struct trace_error err;
	const char *path = tpath("many.trace");
	const unsigned total = 2 * TRACE_FRAME_EVENTS + 1808;

	header_init(&h, "mem=1M", "test", "test");
	struct trace_writer *w = trace_writer_open(path, &h, &err);
	CHECK(w != NULL);
	if (!w)
		return;
	for (unsigned i = 0; i < total; i++) {
		struct trace_event ev = ev_make(i % 3 ? TEV_MMIO_WRITE : TEV_PIO_READ, 4,
						i % 3 ? 0xe0000000 + (i % 64) * 4 : 0xc000 + i % 32,
						i);
		CHECK_EQ(trace_write(w, &ev, &err), 0);
	}
	CHECK_EQ(trace_writer_events(w), total);
	CHECK_EQ(trace_writer_close(w, &err), 0);

	size_t len;
	uint8_t *b = slurp(path, &len);
	uint32_t counts[8];
	CHECK_EQ(index_counts(b, len, counts, 8), 3);
	CHECK_EQ(counts[0], TRACE_FRAME_EVENTS);
	CHECK_EQ(counts[1], TRACE_FRAME_EVENTS);
	CHECK_EQ(counts[2], 1808);
	free(b);

	struct trace_reader *r = trace_reader_open(path, &err);
	struct trace_event ev;
	unsigned i = 0;
	int rc;
	while ((rc = trace_read(r, &ev, &err)) == 1) {
		if (ev.value != i || ev.size != 4)
			check_fail(__FILE__, __LINE__, "event out of order");
		i++;
	}
	CHECK_EQ(rc, 0);
	CHECK_EQ(i, total);

	/* seeking: frame starts, frame ends, the end, beyond */
	static const uint64_t at[] = { 0, 1, 4095, 4096, 4097, 8191, 8192, 9998, 3 };
	for (size_t k = 0; k < RS_ARRAY_SIZE(at); k++) {
		CHECK_EQ(trace_reader_seek_event(r, at[k], &err), 0);
		CHECK_EQ(trace_read(r, &ev, &err), 1);
		CHECK_EQ(ev.value, at[k]);
		CHECK_EQ(trace_read(r, &ev, &err), 1);
		CHECK_EQ(ev.value, at[k] + 1);
	}
	CHECK_EQ(trace_reader_seek_event(r, total, &err), 0);
	CHECK_EQ(trace_read(r, &ev, &err), 0);
	CHECK_EQ(trace_reader_seek_event(r, total + 1, &err), -1);
	CHECK_EQ(err.code, TRACE_E_USAGE);
	CHECK_EQ(trace_reader_seek_event(r, total - 1, &err), 0);
	CHECK_EQ(trace_read(r, &ev, &err), 1);
	CHECK_EQ(ev.value, total - 1);
	CHECK_EQ(trace_read(r, &ev, &err), 0);
	trace_reader_close(r);
}

/* Frames are cut once TRACE_FRAME_BYTES of events are buffered. */
static void test_frames_by_bytes(void)
{
	static uint8_t data[100 * 1024];
	struct trace_event evs[25];
	struct trace_header h;

	header_init(&h, "mem=1M", "test", "test");
	for (unsigned i = 0; i < 25; i++) {
		evs[i] = ev_make(TEV_DMA_WRITE, 0, 0x100000 + i * sizeof(data), 0);
		evs[i].len = sizeof(data);
		evs[i].data = data;
	}
	CHECK_EQ(write_trace(tpath("bytes.trace"), &h, evs, 25), 0);
	size_t len;
	uint8_t *b = slurp(tpath("bytes.trace"), &len);
	uint32_t counts[8];
	/* 10 * 100 KiB < 1 MiB <= 11 * 100 KiB */
	CHECK_EQ(index_counts(b, len, counts, 8), 3);
	CHECK_EQ(counts[0], 11);
	CHECK_EQ(counts[1], 11);
	CHECK_EQ(counts[2], 3);
	/* zeros compress: the file is far smaller than the data */
	CHECK(len < 25 * sizeof(data) / 50);
	free(b);
}

/* flush cuts a frame; the temporary file reads back while the writer is
 * still open (a recorder killed now leaves exactly this). */
static void test_flush_and_unclosed(void)
{
	struct trace_header h;
	struct trace_error err;
	struct trace_event ev;
	const char *path = tpath("flush.trace"), *tmp = tpath("flush.trace.tmp");

	header_init(&h, "mem=1M", "test", "test");
	struct trace_writer *w = trace_writer_open(path, &h, &err);
	CHECK(w != NULL);
	CHECK(exists(tmp) && !exists(path));
	for (unsigned i = 0; i < 5; i++) {
		ev = ev_make(TEV_IRQ, 0, 5, i & 1);
		CHECK_EQ(trace_write(w, &ev, &err), 0);
	}
	/* nothing flushed yet: the file is a header and reads as empty */
	struct trace_reader *r = trace_reader_open(tmp, &err);
	CHECK(r != NULL);
	CHECK_EQ(trace_read(r, &ev, &err), 0);
	trace_reader_close(r);

	CHECK_EQ(trace_writer_flush(w, &err), 0);
	CHECK_EQ(trace_writer_flush(w, &err), 0); /* empty: no frame */
	ev = ev_make(TEV_MSI, 0, 0xfee00000, 0x41);
	CHECK_EQ(trace_write(w, &ev, &err), 0);
	CHECK_EQ(trace_writer_flush(w, &err), 0);

	r = trace_reader_open(tmp, &err);
	struct evlist l = { 0 };
	CHECK_EQ(read_all(r, &l, &err), 0);
	CHECK_EQ(l.n, 6);
	struct trace_info in;
	trace_reader_info(r, &in);
	CHECK_EQ(in.frames, 2);
	CHECK(!in.indexed);
	/* no index: no seeking */
	CHECK_EQ(trace_reader_seek_event(r, 0, &err), -1);
	CHECK_EQ(err.code, TRACE_E_INDEX);
	CHECK(strstr(err.msg, "not closed") != NULL);
	trace_reader_close(r);
	evlist_free(&l);

	ev = ev_make(TEV_IRQ, 0, 5, 1);
	CHECK_EQ(trace_write(w, &ev, &err), 0);
	CHECK_EQ(trace_writer_close(w, &err), 0);
	CHECK(exists(path) && !exists(tmp));
	size_t len;
	uint8_t *b = slurp(path, &len);
	uint32_t counts[4];
	CHECK_EQ(index_counts(b, len, counts, 4), 3);
	CHECK_EQ(counts[0], 5);
	CHECK_EQ(counts[1], 1);
	CHECK_EQ(counts[2], 1);
	free(b);
}

/* A trace without events: header, empty index, footer. */
static void test_empty(void)
{
	struct trace_header h;
	struct trace_error err;
	struct trace_event ev;

	header_init(&h, "", "", "");
	CHECK_EQ(write_trace(tpath("empty.trace"), &h, NULL, 0), 0);
	struct trace_reader *r = trace_reader_open(tpath("empty.trace"), &err);
	CHECK(r != NULL);
	CHECK(!strcmp(trace_reader_header(r)->machine_spec, ""));
	CHECK_EQ(trace_read(r, &ev, &err), 0);
	CHECK_EQ(trace_reader_seek_event(r, 0, &err), 0);
	CHECK_EQ(trace_read(r, &ev, &err), 0);
	CHECK_EQ(trace_reader_seek_event(r, 1, &err), -1);
	struct trace_info in;
	trace_reader_info(r, &in);
	CHECK(in.indexed);
	CHECK_EQ(in.frames, 0);
	CHECK_EQ(in.header_bytes, TRACE_HDR_MIN);
	CHECK_EQ(in.file_bytes, TRACE_HDR_MIN + TRACE_INDEX_HDR + 4 + TRACE_FOOTER);
	trace_reader_close(r);
}

/* ---- text ----------------------------------------------------------------------------------- */

static void check_str(const struct trace_event *ev, const char *want, int line)
{
	char buf[512];
	size_t n = trace_event_str(buf, sizeof(buf), ev);

	if (strcmp(buf, want) || n != strlen(want)) {
		fprintf(stderr, "  got  '%s'\n  want '%s'\n", buf, want);
		check_fail(__FILE__, line, "trace_event_str");
	}
}

static void test_event_str(void)
{
	struct trace_event evs[64];
	size_t n = edge_events(evs);
	static const char *const want[] = {
		"pio-read 0x0000 1 0xff",
		"pio-write 0xffff 4 0xffffffff",
		"pio-read 0x0cf8 2 0x0000",
		"pio-write 0x0010 8 0xffffffffffffffff",
		"mmio-read 0xfffffffffffffff8 8 0xffffffffffffffff",
		"mmio-write 0x00000000 8 0x8000000000000000",
		"mmio-write 0xe0003000 2 0x1234",
		"mmio-read 0xe0003000 1 0x00",
		"pci-cfg-read 0x0cfc 4 0x10001af4 slot 3 off 0x000",
		"pci-cfg-write 0x0cfe 2 0xffff slot 4294967295 off 0xfff",
		"dma-read 0x00001000 len 0",
		"dma-read 0x00001000 len 16: 00 11 22 33 44 55 66 77 88 99 aa bb cc dd ee ff",
		NULL, /* 1 MiB: checked below */
		"dma-write 0xffffffffffffffff len 1 dev=4: 55",
		"dma-read 0x00000000 len 0",
		"irq gsi 10 level 1",
		"irq gsi 10 level 0",
		"msi 0xfee00000 data 0x4021 dev=2",
		"world entropy dev 1 len 32 -> 0 data 32: a5 a4 a7 a6 a1 a0 a3 a2 ad ac af ae a9 "
		"a8 ab aa ...",
		"world clock monotonic 18446744073709551615 ns",
		"world io dev 0 read at 0x1000 len 512 -> -5",
		"world io dev 5 send at 0x0 len 60 -> 60",
		"world io dev 0 continued at 0x101000 data 16: 00 11 22 33 44 55 66 77 88 99 aa bb "
		"cc dd ee ff",
		"world event dev 5 net-rx port 0 arg 1 data 60: ff fe fd fc fb fa f9 f8 f7 f6 f5 "
		"f4 f3 f2 f1 f0 ...",
		"world kind 0x63 size=4294967295 addr=0xffffffffffffffff value=0x8000000000000000 "
		"dev=4294967295",
		"checkpoint dev 0 hash 0xdeadbeefcafef00d",
		"checkpoint dev 4294967295 hash 0xffffffffffffffff size=3 addr=0x7 kind=7",
	};
	CHECK_EQ(n, RS_ARRAY_SIZE(want));
	for (size_t i = 0; i < n && i < RS_ARRAY_SIZE(want); i++)
		if (want[i])
			check_str(&evs[i], want[i], __LINE__);
	char buf[512];
	trace_event_str(buf, sizeof(buf), &evs[12]);
	CHECK(!strncmp(buf, "dma-write 0x00001010 len 1048576: ", 34));
	CHECK(strstr(buf, " ...") != NULL);

	/* world inputs whose op, clock or event kind is out of range: raw */
	struct trace_event e = ev_make(TEV_WORLD, 0, 9, 5);
	e.kind = WIN_CLOCK;
	check_str(&e, "world kind 0x1 addr=0x9 value=0x5", __LINE__);
	e.kind = WIN_IO | 9 << 8;
	check_str(&e, "world kind 0x902 addr=0x9 value=0x5", __LINE__);
	e.kind = WIN_EVENT;
	check_str(&e, "world kind 0x3 addr=0x9 value=0x5", __LINE__);
	e.kind = WIN_ENTROPY | 1 << 8; /* an io op on another input */
	check_str(&e, "world kind 0x100 addr=0x9 value=0x5", __LINE__);
	e.kind = WIN_IO | 0x20000; /* bits nobody defined */
	check_str(&e, "world kind 0x20002 addr=0x9 value=0x5", __LINE__);
	e.kind = WIN_EVENT | 0x10000;
	check_str(&e, "world input dev 0 continued at 0x9 value=0x5", __LINE__);
	e = ev_make((enum trace_ev)77, 1, 2, 3);
	check_str(&e, "unknown(77) size=1 addr=0x2 value=0x3", __LINE__);

	/* snprintf semantics: the full length, a truncated NUL-terminated text */
	e = ev_make(TEV_IRQ, 0, 10, 1);
	CHECK_EQ(trace_event_str(buf, 8, &e), strlen("irq gsi 10 level 1"));
	CHECK(!strcmp(buf, "irq gsi"));
	CHECK_EQ(trace_event_str(NULL, 0, &e), strlen("irq gsi 10 level 1"));
	e = evs[11];
	CHECK_EQ(trace_event_str(buf, 30, &e), strlen(want[11]));
	CHECK_EQ(strlen(buf), 29);
}

/* ---- writer errors -------------------------------------------------------------------------- */

static void test_writer_usage(void)
{
	struct trace_header h;
	struct trace_error err;
	struct trace_event ev;
	const char *path = tpath("usage.trace");

	header_init(&h, "mem=1M", "test", "test");
	CHECK(trace_writer_open(NULL, &h, &err) == NULL);
	CHECK_EQ(err.code, TRACE_E_USAGE);
	CHECK(trace_writer_open("", &h, &err) == NULL);
	CHECK(trace_writer_open(path, NULL, &err) == NULL);
	CHECK(trace_writer_open(path, NULL, NULL) == NULL); /* err is optional */
	memset(h.recorder, 'x', sizeof(h.recorder));
	CHECK(trace_writer_open(path, &h, &err) == NULL);
	CHECK_EQ(err.code, TRACE_E_USAGE);
	header_init(&h, "mem=1M", "test", "test");
	memset(h.machine_spec, 'x', sizeof(h.machine_spec));
	CHECK(trace_writer_open(path, &h, &err) == NULL);
	header_init(&h, "mem=1M", "test", "test");
	memset(h.build, 'x', sizeof(h.build));
	CHECK(trace_writer_open(path, &h, &err) == NULL);
	header_init(&h, "mem=1M", "test", "test");
	h.world_len = TRACE_MAX_WORLD + 1;
	h.world = g_big;
	CHECK(trace_writer_open(path, &h, &err) == NULL);
	CHECK_EQ(err.code, TRACE_E_LIMIT);
	h.world_len = 4;
	h.world = NULL;
	CHECK(trace_writer_open(path, &h, &err) == NULL);
	CHECK_EQ(err.code, TRACE_E_USAGE);
	CHECK(!exists(path) && !exists(tpath("usage.trace.tmp")));

	header_init(&h, "mem=1M", "test", "test");
	struct trace_writer *w = trace_writer_open(path, &h, &err);
	CHECK(w != NULL);
	CHECK_EQ(err.code, TRACE_OK);
	/* bad events are refused one by one; the writer stays usable */
	struct {
		struct trace_event ev;
		enum trace_err code;
		const char *why;
	} bad[] = {
		{ ev_make((enum trace_ev)0, 1, 0, 0), TRACE_E_USAGE, "unknown event type 0" },
		{ ev_make(TEV__MAX, 1, 0, 0), TRACE_E_USAGE, "unknown event type 13" },
		{ ev_make(TEV_PIO_READ, 3, 0, 0), TRACE_E_USAGE, "access size" },
		{ ev_make(TEV_MMIO_READ, 0, 0, 0), TRACE_E_USAGE, "access size" },
		{ ev_make(TEV_PIO_WRITE, 1, 0, 0x100), TRACE_E_USAGE, "wider" },
		{ ev_make(TEV_MMIO_WRITE, 4, 0, 1ull << 32), TRACE_E_USAGE, "wider" },
		{ ev_make(TEV_PCI_CFG_READ, 4, 0x10000, 0), TRACE_E_USAGE, "port" },
		{ ev_make(TEV_DMA_READ, 0, 0, 0), TRACE_E_USAGE, "no data" },
		{ ev_make(TEV_DMA_READ, 0, 0, 0), TRACE_E_LIMIT, "TRACE_MAX_DATA" },
	};
	bad[7].ev.len = 4;
	bad[8].ev.len = TRACE_MAX_DATA + 1;
	bad[8].ev.data = g_big;
	for (size_t i = 0; i < RS_ARRAY_SIZE(bad); i++) {
		CHECK_EQ(trace_write(w, &bad[i].ev, &err), -1);
		CHECK_EQ(err.code, bad[i].code);
		if (!strstr(err.msg, bad[i].why)) {
			fprintf(stderr, "  '%s' lacks '%s'\n", err.msg, bad[i].why);
			check_fail(__FILE__, __LINE__, "error message");
		}
		CHECK(!strncmp(err.msg, trace_err_name(bad[i].code),
			       strlen(trace_err_name(bad[i].code))));
	}
	ev = ev_make(TEV_MMIO_WRITE, 8, 0, UINT64_MAX);
	CHECK_EQ(trace_write(w, &ev, &err), 0);
	CHECK_EQ(trace_write(w, NULL, &err), -1);
	CHECK_EQ(err.code, TRACE_E_USAGE);
	CHECK_EQ(trace_write(NULL, &ev, &err), -1);
	CHECK_EQ(trace_writer_flush(NULL, &err), -1);
	CHECK_EQ(trace_writer_close(NULL, &err), -1);
	CHECK_EQ(err.code, TRACE_E_USAGE);
	CHECK_EQ(trace_writer_events(NULL), 0);
	CHECK_EQ(trace_writer_events(w), 1);
	CHECK_EQ(trace_writer_close(w, NULL), 0);
	trace_writer_abort(NULL);

	struct trace_reader *r = trace_reader_open(path, &err);
	CHECK_EQ(trace_read(r, &ev, &err), 1);
	CHECK_EQ(ev.value, UINT64_MAX);
	CHECK_EQ(trace_read(r, &ev, &err), 0);
	trace_reader_close(r);
}

static void test_writer_abort(void)
{
	struct trace_header h;
	struct trace_error err;
	const char *path = tpath("abort.trace");

	header_init(&h, "mem=1M", "test", "test");
	struct trace_writer *w = trace_writer_open(path, &h, &err);
	struct trace_event ev = ev_make(TEV_IRQ, 0, 1, 1);
	CHECK_EQ(trace_write(w, &ev, &err), 0);
	CHECK_EQ(trace_writer_flush(w, &err), 0);
	CHECK(exists(tpath("abort.trace.tmp")));
	trace_writer_abort(w);
	CHECK(!exists(path) && !exists(tpath("abort.trace.tmp")));
}

static void test_writer_io_errors(void)
{
	struct trace_header h;
	struct trace_error err;
	struct trace_event ev = ev_make(TEV_IRQ, 0, 1, 1);
	const char *path = tpath("io.trace"), *tmp = tpath("io.trace.tmp");

	header_init(&h, "mem=1M", "test", "test");
	/* no such directory */
	CHECK(trace_writer_open(tpath("nodir/x.trace"), &h, &err) == NULL);
	CHECK_EQ(err.code, TRACE_E_IO);
	CHECK(strstr(err.msg, "cannot create") != NULL);
	/* a directory we may not write (root may: then only the above) */
	mkdir(tpath("ro"), 0500);
	if (geteuid() != 0) {
		CHECK(trace_writer_open(tpath("ro/x.trace"), &h, &err) == NULL);
		CHECK_EQ(err.code, TRACE_E_IO);
		CHECK(strstr(err.msg, "ro/x.trace.tmp") != NULL);
	}

	/* interrupted and short writes are retried */
	g_write_mode = IO_EINTR_ONCE;
	struct trace_writer *w = trace_writer_open(path, &h, &err);
	CHECK(w != NULL);
	g_write_mode = IO_SHORT;
	CHECK_EQ(trace_write(w, &ev, &err), 0);
	CHECK_EQ(trace_writer_close(w, &err), 0);
	g_write_mode = IO_REAL;
	struct trace_reader *r = trace_reader_open(path, &err);
	CHECK_EQ(trace_read(r, &ev, &err), 1);
	CHECK_EQ(trace_read(r, &ev, &err), 0);
	trace_reader_close(r);

	/* the header cannot be written: nothing is left behind */
	g_write_mode = IO_FAIL;
	CHECK(trace_writer_open(path, &h, &err) == NULL);
	CHECK_EQ(err.code, TRACE_E_IO);
	CHECK(!exists(tmp));
	g_write_mode = IO_ZERO;
	CHECK(trace_writer_open(path, &h, &err) == NULL);
	CHECK_EQ(err.code, TRACE_E_IO);
	g_write_mode = IO_REAL;

	/* a frame cannot be written: sticky error, close fails and cleans up */
	w = trace_writer_open(tpath("io2.trace"), &h, &err);
	CHECK_EQ(trace_write(w, &ev, &err), 0);
	g_write_mode = IO_FAIL;
	CHECK_EQ(trace_writer_flush(w, &err), -1);
	CHECK_EQ(err.code, TRACE_E_IO);
	CHECK(strstr(err.msg, "frame") != NULL);
	g_write_mode = IO_REAL;
	CHECK_EQ(trace_write(w, &ev, &err), -1);
	CHECK_EQ(err.code, TRACE_E_IO);
	CHECK_EQ(trace_writer_flush(w, &err), -1);
	CHECK_EQ(trace_writer_close(w, &err), -1);
	CHECK_EQ(err.code, TRACE_E_IO);
	CHECK(!exists(tpath("io2.trace")) && !exists(tpath("io2.trace.tmp")));

	/* the index cannot be written */
	w = trace_writer_open(tpath("io3.trace"), &h, &err);
	CHECK_EQ(trace_write(w, &ev, &err), 0);
	CHECK_EQ(trace_writer_flush(w, &err), 0);
	g_write_mode = IO_FAIL;
	CHECK_EQ(trace_writer_close(w, &err), -1);
	g_write_mode = IO_REAL;
	CHECK(strstr(err.msg, "frame index") != NULL);
	CHECK(!exists(tpath("io3.trace")) && !exists(tpath("io3.trace.tmp")));

	/* fsync fails */
	w = trace_writer_open(tpath("io4.trace"), &h, &err);
	g_fsync_mode = IO_FAIL;
	CHECK_EQ(trace_writer_close(w, &err), -1);
	g_fsync_mode = IO_REAL;
	CHECK_EQ(err.code, TRACE_E_IO);
	CHECK(strstr(err.msg, "sync") != NULL);
	CHECK(!exists(tpath("io4.trace")) && !exists(tpath("io4.trace.tmp")));

	/* rename fails: the final name is a directory */
	mkdir(tpath("isdir.trace"), 0700);
	w = trace_writer_open(tpath("isdir.trace"), &h, &err);
	CHECK(w != NULL);
	CHECK_EQ(trace_writer_close(w, &err), -1);
	CHECK_EQ(err.code, TRACE_E_IO);
	CHECK(strstr(err.msg, "rename") != NULL);
	CHECK(!exists(tpath("isdir.trace.tmp")));

	/* the file size limit: write fails with EFBIG part-way through */
	struct rlimit old, lim;
	getrlimit(RLIMIT_FSIZE, &old);
	lim = old;
	lim.rlim_cur = 4096;
	signal(SIGXFSZ, SIG_IGN);
	w = trace_writer_open(tpath("big.trace"), &h, &err);
	CHECK(w != NULL);
	setrlimit(RLIMIT_FSIZE, &lim);
	static uint8_t noise[8192];
	uint32_t x = 2463534242u; /* xorshift32: incompressible bytes */
	for (unsigned i = 0; i < sizeof(noise); i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		noise[i] = (uint8_t)x;
	}
	ev = ev_make(TEV_DMA_READ, 0, 0, 0);
	ev.len = sizeof(noise);
	ev.data = noise;
	CHECK_EQ(trace_write(w, &ev, &err), 0);
	CHECK_EQ(trace_writer_flush(w, &err), -1);
	CHECK_EQ(err.code, TRACE_E_IO);
	setrlimit(RLIMIT_FSIZE, &old);
	signal(SIGXFSZ, SIG_DFL);
	trace_writer_abort(w);
	CHECK(!exists(tpath("big.trace.tmp")));

	/* a final name without a directory part: the trace lands in the cwd */
	char cwd[512];
	CHECK(getcwd(cwd, sizeof(cwd)) != NULL);
	CHECK_EQ(chdir(g_dir), 0);
	CHECK_EQ(write_trace("cwd.trace", &h, &ev, 1), 0);
	CHECK(exists("cwd.trace"));
	CHECK_EQ(chdir(cwd), 0);
}

/* ---- reader basics -------------------------------------------------------------------------- */

static void test_reader_usage(void)
{
	struct trace_error err;
	struct trace_event ev;
	struct trace_info in;

	CHECK(trace_reader_open(NULL, &err) == NULL);
	CHECK_EQ(err.code, TRACE_E_USAGE);
	CHECK(trace_reader_open(tpath("missing.trace"), &err) == NULL);
	CHECK_EQ(err.code, TRACE_E_IO);
	CHECK(strstr(err.msg, "missing.trace") != NULL);
	CHECK(trace_reader_open(g_dir, &err) == NULL);
	CHECK_EQ(err.code, TRACE_E_IO);
	CHECK(strstr(err.msg, "not a regular file") != NULL);
	/* the message stays one line whatever the path holds */
	CHECK(trace_reader_open(tpath("new\nline\x7f"), &err) == NULL);
	CHECK(strstr(err.msg, "new?line?: ") != NULL);
	CHECK(trace_reader_open_mem(NULL, 5, &err) == NULL);
	CHECK_EQ(err.code, TRACE_E_USAGE);
	CHECK(trace_reader_open_mem(NULL, 0, &err) == NULL);
	CHECK_EQ(err.code, TRACE_E_TRUNCATED);
	CHECK_EQ(trace_read(NULL, &ev, &err), -1);
	CHECK_EQ(err.code, TRACE_E_USAGE);
	CHECK_EQ(trace_reader_seek_event(NULL, 0, &err), -1);
	CHECK(trace_reader_header(NULL) == NULL);
	memset(&in, 0xff, sizeof(in));
	trace_reader_info(NULL, &in);
	CHECK_EQ(in.events, 0);
	CHECK(!in.indexed);
	trace_reader_close(NULL);

	struct trace_header h;
	header_init(&h, "mem=1M", "test", "test");
	ev = ev_make(TEV_IRQ, 0, 1, 1);
	CHECK_EQ(write_trace(tpath("basic.trace"), &h, &ev, 1), 0);
	struct trace_reader *r = trace_reader_open(tpath("basic.trace"), NULL);
	CHECK_EQ(trace_read(r, NULL, &err), -1);
	CHECK_EQ(err.code, TRACE_E_USAGE);
	CHECK_EQ(trace_read(r, &ev, NULL), 1);
	CHECK_EQ(trace_read(r, &ev, NULL), 0);
	trace_reader_close(r);

	/* block decoder arguments */
	size_t used;
	CHECK_EQ(trace_block_decode(NULL, 3, &ev, 1, &used, &err), -1);
	CHECK_EQ(err.code, TRACE_E_USAGE);
	CHECK_EQ(trace_block_decode((const uint8_t *)"", 0, NULL, 1, &used, &err), -1);
	CHECK_EQ(trace_block_decode((const uint8_t *)"", 0, &ev, 1, NULL, &err), -1);
	CHECK_EQ(trace_block_decode(NULL, 0, NULL, 0, &used, &err), 0);
}

/* A read fails (EIO), and the file shrinks under an open reader. */
static void test_reader_io_errors(void)
{
	struct trace_header h;
	struct trace_error err;
	struct trace_event ev = ev_make(TEV_IRQ, 0, 1, 1);
	const char *path = tpath("shrink.trace");

	header_init(&h, "mem=1M", "test", "test");
	CHECK_EQ(write_trace(path, &h, &ev, 1), 0);
	g_pread_mode = IO_FAIL;
	CHECK(trace_reader_open(path, &err) == NULL);
	g_pread_mode = IO_REAL;
	CHECK_EQ(err.code, TRACE_E_IO);
	CHECK(strstr(err.msg, "read at offset 0") != NULL);

	/* every read of the reader fails in turn: frame header, footer, index,
	 * the index magic of a trace without footer */
	struct trace_reader *r = trace_reader_open(path, &err);
	g_pread_fail_in = 1;
	CHECK_EQ(trace_read(r, &ev, &err), -1);
	CHECK_EQ(err.code, TRACE_E_IO);
	CHECK_EQ(err.frame, 0);
	g_pread_fail_in = 1;
	CHECK_EQ(trace_reader_seek_event(r, 0, &err), -1);
	CHECK_EQ(err.code, TRACE_E_IO);
	g_pread_fail_in = 2;
	CHECK_EQ(trace_reader_seek_event(r, 0, &err), -1);
	CHECK_EQ(err.code, TRACE_E_IO);
	CHECK_EQ(trace_reader_seek_event(r, 0, &err), -1); /* the verdict is kept */
	CHECK_EQ(err.code, TRACE_E_IO);
	trace_reader_close(r);
	struct trace_writer *w = trace_writer_open(tpath("nofoot.trace"), &h, &err);
	CHECK_EQ(trace_write(w, &ev, &err), 0);
	CHECK_EQ(trace_writer_close(w, &err), 0);
	struct stat st;
	CHECK_EQ(stat(tpath("nofoot.trace"), &st), 0);
	CHECK_EQ(truncate(tpath("nofoot.trace"), st.st_size - TRACE_FOOTER), 0);
	r = trace_reader_open(tpath("nofoot.trace"), &err);
	CHECK_EQ(trace_read(r, &ev, &err), 1);
	g_pread_fail_in = 3; /* index magic, footer, then the index header */
	CHECK_EQ(trace_read(r, &ev, &err), -1);
	CHECK_EQ(err.code, TRACE_E_IO);
	trace_reader_close(r);
	g_pread_fail_in = 0;

	r = trace_reader_open(path, &err);
	CHECK(r != NULL);
	CHECK_EQ(truncate(path, TRACE_HDR_MIN + 50), 0);
	CHECK_EQ(trace_read(r, &ev, &err), -1);
	CHECK_EQ(err.code, TRACE_E_IO);
	CHECK(strstr(err.msg, "shrank") != NULL);
	/* the error sticks */
	CHECK_EQ(trace_read(r, &ev, &err), -1);
	CHECK_EQ(err.code, TRACE_E_IO);
	trace_reader_close(r);
}

/* ---- generators ----------------------------------------------------------------------------- */

/* The trace behind tests/golden/trace_*.ok: fixed build identity, two
 * frames, every event type, strings that need escaping. */
static int write_golden(const char *path)
{
	static const uint8_t world[8] = { 'd', 'i', 's', 'k', 0, 0, 0x80, 0 };
	static uint8_t desc[16], blk[40], rnd[8], frame[42];
	struct trace_header h;
	struct trace_error err;
	struct trace_writer *w;

	for (unsigned i = 0; i < sizeof(desc); i++)
		desc[i] = (uint8_t)(i * 3);
	for (unsigned i = 0; i < sizeof(blk); i++)
		blk[i] = (uint8_t)(0x40 + i);
	for (unsigned i = 0; i < sizeof(rnd); i++)
		rnd[i] = (uint8_t)(0xf0 | i);
	for (unsigned i = 0; i < sizeof(frame); i++)
		frame[i] = (uint8_t)(i < 6 ? 0xff : i);
	header_init(&h, "mem=64M pci:blk,size=8M mmio:rng", "inproc",
		    "ringside-golden \"test\"\tbuild");
	h.world = (uint8_t *)world;
	h.world_len = sizeof(world);
	w = trace_writer_open(path, &h, &err);
	if (!w) {
		fprintf(stderr, "%s\n", err.msg);
		return -1;
	}
	struct trace_event e[32];
	unsigned n = 0;
	e[n++] = ev_make(TEV_PIO_WRITE, 4, 0xcf8, 0x80000800);
	e[n] = ev_make(TEV_PCI_CFG_READ, 4, 0xcfc, 0x10421af4);
	e[n++].dev = 1;
	e[n] = ev_make(TEV_PCI_CFG_WRITE, 2, 0xcfe, 0x0007);
	e[n].dev = 1;
	e[n++].kind = 0x04;
	e[n++] = ev_make(TEV_PIO_READ, 1, 0xc012, 0x00);
	e[n++] = ev_make(TEV_MMIO_READ, 4, 0xe0003000, 0x74726976);
	e[n++] = ev_make(TEV_MMIO_WRITE, 2, 0xe0003000, 0x0000);
	e[n++] = ev_make(TEV_MMIO_WRITE, 8, 0xfebf1010, 0x123456789abcdef0);
	e[n] = ev_make(TEV_DMA_READ, 0, 0x00100000, 0);
	e[n].len = sizeof(desc);
	e[n++].data = desc;
	e[n] = ev_make(TEV_DMA_READ, 0, 0x00100010, 0);
	e[n].len = 4;
	e[n++].data = desc + 4;
	e[n] = ev_make(TEV_WORLD, 40, 0x1000, 40);
	e[n].kind = WIN_IO | WIO_READ << 8;
	e[n].len = sizeof(blk);
	e[n++].data = blk;
	e[n] = ev_make(TEV_DMA_WRITE, 0, 0x00200000, 0);
	e[n].len = sizeof(blk);
	e[n++].data = blk;
	e[n++] = ev_make(TEV_IRQ, 0, 11, 1);
	e[n++] = ev_make(TEV_PIO_READ, 1, 0xc013, 0x01);
	e[n++] = ev_make(TEV_IRQ, 0, 11, 0);
	e[n] = ev_make(TEV_WORLD, 8, 0, 0);
	e[n].kind = WIN_ENTROPY;
	e[n].dev = 1;
	e[n].len = sizeof(rnd);
	e[n++].data = rnd;
	e[n] = ev_make(TEV_WORLD, 0, WORLD_CLOCK_REALTIME, 1700000000123456789ull);
	e[n++].kind = WIN_CLOCK;
	e[n] = ev_make(TEV_WORLD, 0, WEV_NET_RX, 1);
	e[n].kind = WIN_EVENT;
	e[n].dev = 2;
	e[n].len = sizeof(frame);
	e[n++].data = frame;
	e[n] = ev_make(TEV_WORLD, 512, 0x2000, (uint64_t)-5);
	e[n++].kind = WIN_IO | WIO_WRITE << 8;
	e[n++] = ev_make(TEV_MSI, 0, 0xfee00000, 0x4022);
	e[n] = ev_make(TEV_CHECKPOINT, 0, 0, 0x0123456789abcdefull);
	e[n++].dev = 1;
	int rc = 0;
	for (unsigned i = 0; i < n && !rc; i++) {
		rc = trace_write(w, &e[i], &err);
		if (!rc && i == 9)
			rc = trace_writer_flush(w, &err);
	}
	if (rc || trace_writer_close(w, &err)) {
		fprintf(stderr, "%s\n", err.msg);
		if (rc)
			trace_writer_abort(w);
		return -1;
	}
	return 0;
}

/* Seeds for the reader's fuzz target (corpus/trace_reader/). */
static int write_seeds(const char *dir)
{
	char path[512], tmp[520];
	struct trace_event evs[64];
	size_t n = edge_events(evs);
	struct trace_header h;
	struct trace_error err;
	static uint8_t world[64], small[24];
	int rc = 0;

	header_init(&h, "mem=64M pci:blk mmio:rng", "inproc", "ringside-seed");
	snprintf(path, sizeof(path), "%s/empty.trace", dir);
	rc |= write_trace(path, &h, NULL, 0);

	/* every event type once, data shortened to keep the seed small */
	for (size_t i = 0; i < n; i++)
		if (evs[i].len > sizeof(small)) {
			evs[i].len = sizeof(small);
			evs[i].data = small;
		}
	snprintf(path, sizeof(path), "%s/all_types.trace", dir);
	rc |= write_trace(path, &h, evs, n);

	/* three frames, then a copy taken before close: no index */
	snprintf(path, sizeof(path), "%s/frames.trace", dir);
	struct trace_writer *w = trace_writer_open(path, &h, &err);
	if (!w)
		return -1;
	for (size_t i = 0; i < 12; i++) {
		rc |= trace_write(w, &evs[i % n], &err);
		if (i % 4 == 3)
			rc |= trace_writer_flush(w, &err);
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	size_t len;
	uint8_t *b = slurp(tmp, &len);
	rc |= trace_writer_close(w, &err);
	snprintf(path, sizeof(path), "%s/unclosed.trace", dir);
	FILE *f = fopen(path, "wb");
	if (!b || !f || fwrite(b, 1, len, f) != len)
		rc = -1;
	if (f)
		fclose(f);
	free(b);

	/* a world blob and world inputs */
	for (unsigned i = 0; i < sizeof(world); i++)
		world[i] = (uint8_t)i;
	h.world = world;
	h.world_len = sizeof(world);
	snprintf(path, sizeof(path), "%s/world.trace", dir);
	rc |= write_trace(path, &h, evs + 18, 6);
	if (rc)
		fprintf(stderr, "test_trace --seeds: failed: %s\n", err.msg);
	return rc ? -1 : 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	chmod(path, 0700);
	return remove(path);
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "--golden"))
		return write_golden(argv[2]) ? 1 : 0;
	if (argc == 3 && !strcmp(argv[1], "--seeds"))
		return write_seeds(argv[2]) ? 1 : 0;
	snprintf(g_dir, sizeof(g_dir), "/tmp/rs-trace-XXXXXX");
	if (!mkdtemp(g_dir)) {
		perror("mkdtemp");
		return 1;
	}
	RUN(test_crc32c);
	RUN(test_varint);
	RUN(test_names);
	RUN(test_roundtrip);
	RUN(test_deterministic);
	RUN(test_frames_by_events);
	RUN(test_frames_by_bytes);
	RUN(test_flush_and_unclosed);
	RUN(test_empty);
	RUN(test_event_str);
	RUN(test_writer_usage);
	RUN(test_writer_abort);
	RUN(test_writer_io_errors);
	RUN(test_reader_usage);
	RUN(test_reader_io_errors);
	nftw(g_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return check_done();
}
