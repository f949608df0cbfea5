/*
 * ringside tests — damaged and hostile traces (replay/trace.c).
 *
 * A small multi-frame trace is cut at every byte offset and has every bit
 * of every byte flipped; each result must be a clean error naming the right
 * code, frame and offset after every event of the frames before the damage
 * (compared with the intact trace), or — a cut at a frame boundary — fewer
 * events and a clean end. Each damaged copy lives in a heap block of exactly
 * its size so ASan catches any read past the end. Then hand-made hostile
 * headers, frames, events, indexes and footers (with valid checksums, so
 * they reach the checks behind them) each give their documented error, and
 * the fuzzing mode that ignores checksums reads a trace whose every checksum
 * is wrong.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#include "check.h"
#include "ringside/trace.h"
#include "ringside/world.h"
#include "../replay/trace_priv.h"

/* ---- helpers -------------------------------------------------------------------------------- */

struct evlist {
	struct trace_event ev[64];
	uint8_t data[64][64];
	size_t n;
};

/* Read every event (copies, data up to 64 bytes) into l. */
static int read_all(struct trace_reader *r, struct evlist *l, struct trace_error *err)
{
	struct trace_event ev;
	int rc;

	l->n = 0;
	while ((rc = trace_read(r, &ev, err)) == 1) {
		if (l->n == 64 || ev.len > 64)
			return -2;
		l->ev[l->n] = ev;
		if (ev.len)
			memcpy(l->data[l->n], ev.data, ev.len);
		l->ev[l->n].data = l->data[l->n];
		l->n++;
	}
	return rc;
}

static bool same_prefix(const struct evlist *a, const struct evlist *b, size_t n)
{
	if (a->n < n || b->n < n)
		return false;
	for (size_t i = 0; i < n; i++) {
		const struct trace_event *x = &a->ev[i], *y = &b->ev[i];
		if (x->type != y->type || x->size != y->size || x->addr != y->addr ||
		    x->value != y->value || x->dev != y->dev || x->kind != y->kind ||
		    x->len != y->len || (x->len && memcmp(x->data, y->data, x->len)))
			return false;
	}
	return true;
}

/* A heap copy of exactly len bytes (ASan sees any read beyond). */
static uint8_t *dup_exact(const uint8_t *b, size_t len)
{
	uint8_t *c = malloc(len ? len : 1);
	memcpy(c, b, len);
	return c;
}

/* The sample: a header with a world blob, frames of 3, 5, 1 and 4 events
 * (every kind of event, with data), index and footer. */
struct sample {
	uint8_t *buf;
	size_t len;
	uint64_t hdr;
	unsigned nframes;
	uint64_t off[8];        /* frame offsets, off[nframes] = index offset */
	uint64_t first[9];      /* first event of each frame, first[nframes] = total */
	struct evlist ref;
};

static char g_path[64];

static void sample_make(struct sample *s)
{
	static const unsigned per_frame[] = { 3, 5, 1, 4 };
	static const uint8_t world[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	static uint8_t data[48];
	struct trace_header h;
	struct trace_error err;
	unsigned k = 0;

	memset(s, 0, sizeof(*s));
	for (unsigned i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + 1);
	memset(&h, 0, sizeof(h));
	strcpy(h.machine_spec, "mem=64M pci:blk");
	strcpy(h.recorder, "test");
	strcpy(h.build, "test");
	h.world = (uint8_t *)world;
	h.world_len = sizeof(world);
	snprintf(g_path, sizeof(g_path), "/tmp/rs-trace-damage-%d", (int)getpid());
	struct trace_writer *w = trace_writer_open(g_path, &h, &err);
	CHECK(w != NULL);
	for (unsigned f = 0; f < RS_ARRAY_SIZE(per_frame); f++) {
		for (unsigned i = 0; i < per_frame[f]; i++, k++) {
			struct trace_event ev = { .type = (enum trace_ev)(1 + k % 12) };
			if (ev.type <= TEV_PCI_CFG_WRITE) {
				ev.size = 4;
				ev.addr = 0xcf8 + k;
				ev.value = 0x1000 + k;
			} else {
				ev.addr = 0x10000 * k;
				ev.value = k;
				ev.dev = k & 3;
				ev.len = 8 + 3 * k;
				ev.data = data;
			}
			CHECK_EQ(trace_write(w, &ev, &err), 0);
		}
		CHECK_EQ(trace_writer_flush(w, &err), 0);
	}
	CHECK_EQ(trace_writer_close(w, &err), 0);

	FILE *f = fopen(g_path, "rb");
	fseek(f, 0, SEEK_END);
	s->len = (size_t)ftell(f);
	fseek(f, 0, SEEK_SET);
	s->buf = malloc(s->len);
	CHECK_EQ(fread(s->buf, 1, s->len, f), s->len);
	fclose(f);

	/* frame offsets and first events from the index, parsed here */
	const uint8_t *foot = s->buf + s->len - TRACE_FOOTER;
	uint64_t ioff = rs_le64(foot);
	s->nframes = (unsigned)rs_le64(foot + 8);
	s->hdr = rs_le32(s->buf + 12);
	CHECK_EQ(s->nframes, 4);
	for (unsigned i = 0; i < s->nframes; i++) {
		const uint8_t *e = s->buf + ioff + TRACE_INDEX_HDR + i * TRACE_INDEX_ENTRY;
		s->off[i] = rs_le64(e);
		s->first[i] = rs_le64(e + 8);
		CHECK_EQ(rs_le32(e + 16), per_frame[i]);
	}
	s->off[s->nframes] = ioff;
	s->first[s->nframes] = k;
	CHECK_EQ(s->off[0], s->hdr);

	struct trace_reader *r = trace_reader_open_mem(s->buf, s->len, &err);
	CHECK_EQ(read_all(r, &s->ref, &err), 0);
	CHECK_EQ(s->ref.n, k);
	trace_reader_close(r);
}

/* Frame holding file offset at (nframes for the index and footer). */
static unsigned frame_at(const struct sample *s, uint64_t at)
{
	unsigned k = 0;

	while (k < s->nframes && at >= s->off[k + 1])
		k++;
	return k;
}

/* ---- every cut, every bit ------------------------------------------------------------------- */

/* The trace cut to its first cut bytes, read by r (NULL: open failed with
 * err): the right events, then the right end. */
static void check_cut(const struct sample *s, size_t cut, struct trace_reader *r,
		      struct trace_error *err)
{
	struct evlist got;

	if (cut < s->hdr) {
		if (r || err->code != TRACE_E_TRUNCATED || err->frame != 0) {
			fprintf(stderr, "  cut %zu: %s\n", cut, r ? "opened" : err->msg);
			check_fail(__FILE__, __LINE__, "cut inside the header");
		}
		trace_reader_close(r);
		return;
	}
	int rc = read_all(r, &got, err);
	unsigned k = frame_at(s, cut);
	bool boundary = cut == s->off[k];
	size_t want_n = k < s->nframes ? s->first[k] : s->first[s->nframes];
	bool ok;

	if (cut == s->len)
		ok = rc == 0 && got.n == s->ref.n;
	else if (boundary)
		ok = rc == 0 && got.n == want_n;
	else
		ok = rc == -1 && err->code == TRACE_E_TRUNCATED && err->frame == k &&
		     err->offset == s->off[k] && got.n == want_n;
	ok = ok && same_prefix(&got, &s->ref, got.n);
	if (!ok) {
		fprintf(stderr, "  cut %zu (frame %u): rc %d, %zu events, %s\n", cut, k, rc, got.n,
			rc < 0 ? err->msg : "");
		check_fail(__FILE__, __LINE__, "truncated trace");
	}
	/* the message names the frame and the offset */
	if (rc < 0) {
		char want[64];
		snprintf(want, sizeof(want), "at offset %llu", (unsigned long long)err->offset);
		CHECK(strstr(err->msg, want) != NULL);
		CHECK(!strncmp(err->msg, "TRACE_E_TRUNCATED: ", 19));
	}
	trace_reader_close(r);
}

static void test_truncated_everywhere(void)
{
	struct sample s;
	struct trace_error err;
	char path[80];

	sample_make(&s);
	snprintf(path, sizeof(path), "%s.cut", g_path);
	for (size_t cut = 0; cut <= s.len; cut++) {
		uint8_t *c = dup_exact(s.buf, cut);
		check_cut(&s, cut, trace_reader_open_mem(c, cut, &err), &err);
		free(c);
		/* the same through the file reader */
		FILE *f = fopen(path, "wb");
		CHECK(f && fwrite(s.buf, 1, cut, f) == cut);
		fclose(f);
		check_cut(&s, cut, trace_reader_open(path, &err), &err);
	}
	unlink(path);
	free(s.buf);
}

static void test_bitflip_everywhere(void)
{
	struct sample s;
	struct trace_error err;
	unsigned silent = 0, runs = 0;

	sample_make(&s);
	for (size_t i = 0; i < s.len; i++) {
		for (unsigned bit = 0; bit < 8; bit++) {
			uint8_t *c = dup_exact(s.buf, s.len);
			c[i] ^= (uint8_t)(1u << bit);
			struct trace_reader *r = trace_reader_open_mem(c, s.len, &err);
			struct evlist got = { .n = 0 };
			int rc = r ? read_all(r, &got, &err) : -1;
			unsigned k = frame_at(&s, i);
			bool ok;

			runs++;
			if (i < 8)
				ok = !r && err.code == TRACE_E_MAGIC;
			else if (i < 12)
				ok = !r && err.code == TRACE_E_VERSION;
			else if (i < 16)
				ok = !r && (err.code == TRACE_E_HEADER ||
					    err.code == TRACE_E_LIMIT ||
					    err.code == TRACE_E_TRUNCATED ||
					    err.code == TRACE_E_CHECKSUM);
			else if (i < s.hdr)
				ok = !r && err.code == TRACE_E_CHECKSUM;
			else if (k < s.nframes && rc == 0)
				/* zstd ignored the bit (an unused bit of its encoding) */
				ok = got.n == s.ref.n && same_prefix(&got, &s.ref, got.n) &&
				     ++silent;
			else if (k < s.nframes)
				ok = rc == -1 && err.frame == k && err.offset == s.off[k] &&
				     got.n == s.first[k] && same_prefix(&got, &s.ref, got.n) &&
				     (i - s.off[k] < 4 ? err.code == TRACE_E_FRAME
						       : err.code == TRACE_E_CHECKSUM ||
								 err.code == TRACE_E_FRAME);
			else
				ok = rc == -1 && err.frame == s.nframes && got.n == s.ref.n &&
				     same_prefix(&got, &s.ref, got.n) &&
				     (i - s.off[k] < 4 ? err.code == TRACE_E_FRAME
						       : err.code == TRACE_E_INDEX);
			if (!ok) {
				fprintf(stderr, "  byte %zu bit %u (frame %u): rc %d, %zu events, "
					"%s\n", i, bit, k, rc, got.n, err.msg);
				check_fail(__FILE__, __LINE__, "bit flip");
			}
			/* seeking a damaged file is safe, whatever it answers */
			if (r && !trace_reader_seek_event(r, 1, &err))
				read_all(r, &got, &err);
			trace_reader_close(r);
			free(c);
		}
	}
	printf("     %u flips, %u left the events intact (zstd bits it ignores)\n", runs, silent);
	CHECK(silent < runs / 100);
	free(s.buf);
}

/* ---- hostile headers ------------------------------------------------------------------------ */

struct body {
	uint8_t b[8192];
	size_t n;
};

static void put16(struct body *d, uint16_t v)
{
	rs_st16(d->b + d->n, v);
	d->n += 2;
}

static void put32(struct body *d, uint32_t v)
{
	rs_st32(d->b + d->n, v);
	d->n += 4;
}

static void putn(struct body *d, const void *p, size_t n)
{
	memcpy(d->b + d->n, p, n);
	d->n += n;
}

/* The four fields with the given length fields and that many bytes of
 * 'x' after each (world: wbytes bytes). */
static void body_fields(struct body *d, uint16_t s, uint16_t r, uint16_t b, uint32_t w,
			uint32_t wbytes)
{
	static uint8_t x[8192];
	memset(x, 'x', sizeof(x));
	d->n = 0;
	put16(d, s);
	putn(d, x, s);
	put16(d, r);
	putn(d, x, r);
	put16(d, b);
	putn(d, x, b);
	put32(d, w);
	putn(d, x, wbytes);
}

/* A header around body: magic, version, length (0: the right one), body,
 * CRC32C. Returns its size. */
static size_t hdr_make(uint8_t *out, uint32_t version, uint32_t hlen, const struct body *d)
{
	memcpy(out, TRACE_MAGIC, TRACE_MAGIC_LEN);
	rs_st32(out + 8, version);
	rs_st32(out + 12, hlen ? hlen : (uint32_t)(TRACE_HDR_FIXED + d->n + 4));
	memcpy(out + TRACE_HDR_FIXED, d->b, d->n);
	rs_st32(out + TRACE_HDR_FIXED + d->n, trace_crc32c(out, TRACE_HDR_FIXED + d->n));
	return TRACE_HDR_FIXED + d->n + 4;
}

/* Open len bytes of buf (an exact heap copy); expect failure with code and
 * a message containing what. */
static void expect_open(const uint8_t *buf, size_t len, enum trace_err code, const char *what,
			int line)
{
	struct trace_error err;
	uint8_t *c = dup_exact(buf, len);
	struct trace_reader *r = trace_reader_open_mem(c, len, &err);

	if (r || err.code != code || !strstr(err.msg, what)) {
		fprintf(stderr, "  got %s, want %s with '%s'\n", r ? "success" : err.msg,
			trace_err_name(code), what);
		check_fail(__FILE__, line, "hostile header");
	}
	trace_reader_close(r);
	free(c);
}

static void test_hostile_headers(void)
{
	static uint8_t b[1 << 16];
	struct body d;
	struct trace_error err;
	size_t n;

	/* the smallest valid header: opens, no events */
	body_fields(&d, 0, 0, 0, 0, 0);
	n = hdr_make(b, 1, 0, &d);
	CHECK_EQ(n, TRACE_HDR_MIN);
	struct trace_reader *r = trace_reader_open_mem(b, n, &err);
	struct trace_event ev;
	CHECK(r != NULL);
	CHECK_EQ(trace_read(r, &ev, &err), 0);
	trace_reader_close(r);

	expect_open((const uint8_t *)"abc", 3, TRACE_E_MAGIC, "not a ringside trace", __LINE__);
	expect_open((const uint8_t *)"\x7f" "ELF\2\1\1\0\0\0\0\0\0\0\0\0\0\0", 18, TRACE_E_MAGIC,
		    "bad magic", __LINE__);
	expect_open((const uint8_t *)"RST", 3, TRACE_E_TRUNCATED, "after 3 bytes", __LINE__);
	expect_open(b, 12, TRACE_E_TRUNCATED, "after 12 bytes", __LINE__);
	memcpy(b, "RSTRACX", 8);
	expect_open(b, n, TRACE_E_MAGIC, "bad magic", __LINE__);

	hdr_make(b, 0, 0, &d);
	expect_open(b, n, TRACE_E_VERSION, "format version 0", __LINE__);
	hdr_make(b, 2, 0, &d);
	expect_open(b, n, TRACE_E_VERSION, "format version 2, this build reads 1", __LINE__);
	hdr_make(b, 1, TRACE_HDR_MIN - 1, &d);
	expect_open(b, n, TRACE_E_HEADER, "below the minimum", __LINE__);
	hdr_make(b, 1, UINT32_MAX, &d);
	expect_open(b, n, TRACE_E_LIMIT, "above the limit", __LINE__);
	hdr_make(b, 1, 5000, &d);
	expect_open(b, n, TRACE_E_TRUNCATED, "file ends after 30 of the 5000", __LINE__);
	hdr_make(b, 1, 0, &d);
	b[n - 1] ^= 1;
	expect_open(b, n, TRACE_E_CHECKSUM, "header checksum", __LINE__);
	/* the fuzzing mode ignores it */
	r = trace_reader_open_mem_flags(b, n, TRACE_RD_NO_CHECKSUM, &err);
	CHECK(r != NULL);
	trace_reader_close(r);

	/* field lengths above the limits */
	body_fields(&d, TRACE_MAX_SPEC + 1, 0, 0, 0, 0);
	n = hdr_make(b, 1, 0, &d);
	expect_open(b, n, TRACE_E_LIMIT, "machine spec of 4096 bytes, the limit is 4095",
		    __LINE__);
	body_fields(&d, 0, 32, 0, 0, 0);
	n = hdr_make(b, 1, 0, &d);
	expect_open(b, n, TRACE_E_LIMIT, "recorder of 32 bytes", __LINE__);
	body_fields(&d, 0, 0, 64, 0, 0);
	n = hdr_make(b, 1, 0, &d);
	expect_open(b, n, TRACE_E_LIMIT, "build identity of 64 bytes", __LINE__);
	body_fields(&d, 0, 0, 0, UINT32_MAX, 0);
	n = hdr_make(b, 1, 0, &d);
	expect_open(b, n, TRACE_E_LIMIT, "world state of 4294967295 bytes", __LINE__);
	body_fields(&d, 0, 0, 0, TRACE_MAX_WORLD + 1, 0);
	n = hdr_make(b, 1, 0, &d);
	expect_open(b, n, TRACE_E_LIMIT, "world state", __LINE__);
	/* a huge spec length in a tiny header */
	d.n = 0;
	put16(&d, 0xffff);
	put16(&d, 0);
	put16(&d, 0);
	put32(&d, 0);
	n = hdr_make(b, 1, 0, &d);
	expect_open(b, n, TRACE_E_LIMIT, "machine spec of 65535 bytes", __LINE__);

	/* lengths that do not add up */
	body_fields(&d, 0, 0, 0, 100, 10);
	n = hdr_make(b, 1, 0, &d);
	expect_open(b, n, TRACE_E_HEADER, "do not fill", __LINE__);
	body_fields(&d, 0, 0, 0, 0, 3); /* three bytes after the world */
	n = hdr_make(b, 1, 0, &d);
	expect_open(b, n, TRACE_E_HEADER, "do not fill", __LINE__);
	d.n = 0;
	put16(&d, 20);
	putn(&d, "0123456789", 8); /* spec runs past the end */
	n = hdr_make(b, 1, 0, &d);
	expect_open(b, n, TRACE_E_HEADER, "machine spec of 20 bytes runs past", __LINE__);
	d.n = 0;
	put16(&d, 8);
	putn(&d, "01234567", 8); /* no room for the recorder's length */
	n = hdr_make(b, 1, 0, &d);
	expect_open(b, n, TRACE_E_HEADER, "recorder length runs past", __LINE__);
	d.n = 0;
	put16(&d, 0);
	put16(&d, 0);
	put16(&d, 4);
	putn(&d, "abcd", 4); /* no room for the world length */
	n = hdr_make(b, 1, 0, &d);
	expect_open(b, n, TRACE_E_HEADER, "world length runs past", __LINE__);
	d.n = 0;
	put16(&d, 4);
	putn(&d, "a\0bc", 4);
	put16(&d, 0);
	put16(&d, 0);
	put32(&d, 0);
	n = hdr_make(b, 1, 0, &d);
	expect_open(b, n, TRACE_E_HEADER, "NUL byte inside the machine spec", __LINE__);
}

/* ---- hostile frames and events -------------------------------------------------------------- */

static uint8_t g_file[1 << 17];

/* Our frame header at out (CRC32C computed) followed by payload. */
static size_t frame_raw(uint8_t *out, const char *magic, uint32_t csize, uint32_t rsize,
			uint32_t count, uint64_t first, uint32_t resv, const void *payload,
			size_t plen)
{
	memcpy(out, magic, 4);
	rs_st32(out + 4, csize);
	rs_st32(out + 8, rsize);
	rs_st32(out + 12, count);
	rs_st64(out + 16, first);
	rs_st32(out + 24, resv);
	rs_st32(out + 28, trace_crc32c(out, 28));
	if (plen)
		memcpy(out + TRACE_FRAME_HDR, payload, plen);
	return TRACE_FRAME_HDR + plen;
}

/* zstd frame of raw (checksummed; content size stored unless no_size). */
static size_t zframe(uint8_t *out, size_t cap, const void *raw, size_t len, bool no_size)
{
	ZSTD_CCtx *c = ZSTD_createCCtx();
	ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1);
	ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, !no_size);
	size_t z;
	if (no_size) {
		ZSTD_outBuffer o = { out, cap, 0 };
		ZSTD_inBuffer in = { raw, len, 0 };
		ZSTD_compressStream2(c, &o, &in, ZSTD_e_end);
		z = o.pos;
	} else {
		z = ZSTD_compress2(c, out, cap, raw, len);
	}
	ZSTD_freeCCtx(c);
	CHECK(!ZSTD_isError(z));
	return z;
}

/* A good frame of raw events at out. */
static size_t frame_good(uint8_t *out, const void *raw, size_t len, uint32_t count,
			 uint64_t first)
{
	static uint8_t z[1 << 16];
	size_t zl = zframe(z, sizeof(z), raw, len, false);
	return frame_raw(out, TRACE_FRAME_MAGIC, (uint32_t)zl, (uint32_t)len, count, first, 0, z,
			 zl);
}

/* The minimal header at g_file; returns its size. */
static size_t file_start(void)
{
	struct body d;
	body_fields(&d, 0, 0, 0, 0, 0);
	return hdr_make(g_file, 1, 0, &d);
}

/* Read g_file[0, len): want `events` events, then an error with code,
 * frame and a message containing what (code TRACE_OK: a clean end). */
static void expect_read(size_t len, size_t events, enum trace_err code, uint64_t frame,
			const char *what, int line)
{
	struct trace_error err;
	struct evlist got;
	uint8_t *c = dup_exact(g_file, len);
	struct trace_reader *r = trace_reader_open_mem(c, len, &err);
	int rc = r ? read_all(r, &got, &err) : -3;
	bool ok = r && got.n == events &&
		  (code == TRACE_OK ? rc == 0
				    : rc == -1 && err.code == code && err.frame == frame &&
					      strstr(err.msg, what));

	if (!ok) {
		fprintf(stderr, "  rc %d, %zu events, '%s'; want %zu events, %s frame %llu '%s'\n",
			rc, r ? got.n : 0, err.msg, events, trace_err_name(code),
			(unsigned long long)frame, what);
		check_fail(__FILE__, line, "hostile frame");
	}
	if (r && rc == -1) {
		/* the error sticks */
		struct trace_event ev;
		struct trace_error again;
		CHECK_EQ(trace_read(r, &ev, &again), -1);
		CHECK_EQ(again.code, err.code);
		CHECK(!strcmp(again.msg, err.msg));
	}
	trace_reader_close(r);
	free(c);
}

static void test_hostile_frames(void)
{
	static const uint8_t irq[] = { TEV_IRQ, 0 }; /* one event: irq gsi 0 level 0 */
	static uint8_t z[1 << 12];
	size_t h = file_start(), n, zl;

	/* good, then each kind of bad second frame */
	size_t f0 = frame_good(g_file + h, irq, sizeof(irq), 1, 0);
	size_t at = h + f0;
	expect_read(at, 1, TRACE_OK, 0, "", __LINE__);

	n = frame_raw(g_file + at, "XXXX", 0, 0, 0, 0, 0, NULL, 0);
	expect_read(at + n, 1, TRACE_E_FRAME, 1, "no frame magic (58 58 58 58)", __LINE__);
	expect_read(at + 3, 1, TRACE_E_TRUNCATED, 1, "inside the frame header", __LINE__);
	n = frame_raw(g_file + at, TRACE_FRAME_MAGIC, 0, 0, 0, 0, 0, NULL, 0);
	expect_read(at + 20, 1, TRACE_E_TRUNCATED, 1, "inside the frame header", __LINE__);
	g_file[at + 28] ^= 0x40;
	expect_read(at + n, 1, TRACE_E_CHECKSUM, 1, "frame header checksum", __LINE__);

	zl = zframe(z, sizeof(z), irq, sizeof(irq), false);
	n = frame_raw(g_file + at, TRACE_FRAME_MAGIC, (uint32_t)zl, 2, 1, 1, 7, z, zl);
	expect_read(at + n, 1, TRACE_E_FRAME, 1, "reserved field not zero", __LINE__);
	n = frame_raw(g_file + at, TRACE_FRAME_MAGIC, (uint32_t)zl, TRACE_MAX_FRAME_RAW + 1, 1, 1,
		      0, z, zl);
	expect_read(at + n, 1, TRACE_E_LIMIT, 1, "exceed the limits", __LINE__);
	n = frame_raw(g_file + at, TRACE_FRAME_MAGIC, UINT32_MAX, 2, 1, 1, 0, z, zl);
	expect_read(at + n, 1, TRACE_E_LIMIT, 1, "exceed the limits", __LINE__);
	n = frame_raw(g_file + at, TRACE_FRAME_MAGIC, (uint32_t)zl, 1 << 20,
		      TRACE_MAX_FRAME_EVENTS + 1, 1, 0, z, zl);
	expect_read(at + n, 1, TRACE_E_LIMIT, 1, "exceed the limits", __LINE__);
	n = frame_raw(g_file + at, TRACE_FRAME_MAGIC, (uint32_t)zl, 2, 0, 1, 0, z, zl);
	expect_read(at + n, 1, TRACE_E_FRAME, 1, "0 events from event 1", __LINE__);
	n = frame_raw(g_file + at, TRACE_FRAME_MAGIC, (uint32_t)zl, 2, 2, 1, 0, z, zl);
	expect_read(at + n, 1, TRACE_E_FRAME, 1, "two bytes each", __LINE__);
	n = frame_raw(g_file + at, TRACE_FRAME_MAGIC, (uint32_t)zl, 2, 1, 0, 0, z, zl);
	expect_read(at + n, 1, TRACE_E_FRAME, 1, "expected events from 1", __LINE__);
	n = frame_raw(g_file + at, TRACE_FRAME_MAGIC, (uint32_t)zl + 100, 2, 1, 1, 0, z, zl);
	expect_read(at + n, 1, TRACE_E_TRUNCATED, 1, "into the", __LINE__);

	/* payloads zstd or our checks refuse */
	n = frame_raw(g_file + at, TRACE_FRAME_MAGIC, 8, 2, 1, 1, 0, "notzstd!", 8);
	expect_read(at + n, 1, TRACE_E_FRAME, 1, "not a zstd frame", __LINE__);
	n = frame_raw(g_file + at, TRACE_FRAME_MAGIC, (uint32_t)zl, 4, 1, 1, 0, z, zl);
	expect_read(at + n, 1, TRACE_E_FRAME, 1, "holding 2, the header says", __LINE__);
	memcpy(z + zl, "abc", 3);
	n = frame_raw(g_file + at, TRACE_FRAME_MAGIC, (uint32_t)zl + 3, 2, 1, 1, 0, z, zl + 3);
	expect_read(at + n, 1, TRACE_E_FRAME, 1, "zstd frame of", __LINE__);
	size_t zn = zframe(z, sizeof(z), irq, sizeof(irq), true);
	n = frame_raw(g_file + at, TRACE_FRAME_MAGIC, (uint32_t)zn, 2, 1, 1, 0, z, zn);
	expect_read(at + n, 1, TRACE_E_FRAME, 1, "holding -1", __LINE__);
	zl = zframe(z, sizeof(z), irq, sizeof(irq), false);
	z[zl - 1] ^= 0x10; /* zstd's content checksum */
	n = frame_raw(g_file + at, TRACE_FRAME_MAGIC, (uint32_t)zl, 2, 1, 1, 0, z, zl);
	expect_read(at + n, 1, TRACE_E_CHECKSUM, 1, "zstd", __LINE__);
	/* ... which the fuzzing mode ignores */
	struct trace_error err;
	struct evlist got;
	struct trace_reader *r =
		trace_reader_open_mem_flags(g_file, at + n, TRACE_RD_NO_CHECKSUM, &err);
	CHECK_EQ(read_all(r, &got, &err), 0);
	CHECK_EQ(got.n, 2);
	trace_reader_close(r);

	/* the frame index magic without anything after it */
	memcpy(g_file + at, TRACE_INDEX_MAGIC, 4);
	expect_read(at + 4, 1, TRACE_E_TRUNCATED, 1, "inside the index or footer", __LINE__);
}

/* One frame holding raw (count events) after the minimal header: expect
 * code (TRACE_OK: success) with what in the message. */
static void expect_events(const void *raw, size_t len, uint32_t count, enum trace_err code,
			  const char *what, int line)
{
	size_t h = file_start();
	size_t n = frame_good(g_file + h, raw, len, count, 0);
	expect_read(h + n, code == TRACE_OK ? count : 0, code, 0, what, line);

	/* the block decoder the fuzz target uses says the same */
	struct trace_event evs[4];
	struct trace_error err;
	size_t used;
	long k = trace_block_decode(raw, len, evs, count, &used, &err);
	if (code == TRACE_E_EVENT || code == TRACE_E_LIMIT) {
		if (k >= 0 && (uint32_t)k == count && used == len)
			check_fail(__FILE__, line, "block decoder accepted a bad block");
	}
}

static void test_hostile_events(void)
{
	static const struct {
		uint8_t raw[16];
		uint8_t len;
		uint8_t count;
		enum trace_err code;
		const char *what;
	} t[] = {
		{ { 0x00, 0x00 }, 2, 1, TRACE_E_EVENT, "unknown event type 0" },
		{ { 0x0d, 0x00 }, 2, 1, TRACE_E_EVENT, "unknown event type 13" },
		{ { 0x1f, 0x00 }, 2, 1, TRACE_E_EVENT, "unknown event type 31" },
		{ { 0xcb, 0x00 }, 2, 1, TRACE_E_EVENT, "unknown size code" },
		{ { 0xeb, 0x00 }, 2, 1, TRACE_E_EVENT, "unknown size code" },
		{ { 0x09, 0x20 }, 2, 1, TRACE_E_EVENT, "reserved field bits" },
		{ { 0x09, 0x80 }, 2, 1, TRACE_E_EVENT, "reserved field bits" },
		{ { 0x01, 0x00 }, 2, 1, TRACE_E_EVENT, "access size not 1, 2, 4 or 8" },
		{ { 0xa3, 0x00, 0x03 }, 3, 1, TRACE_E_EVENT, "access size not" },
		{ { 0x21, 0x02, 0x80, 0x02 }, 4, 1, TRACE_E_EVENT, "value wider" },
		{ { 0x61, 0x01, 0x80, 0x80, 0x08 }, 5, 1, TRACE_E_EVENT, "port above 0xffff" },
		{ { 0x09, 0x01, 0x80, 0x80 }, 4, 1, TRACE_E_EVENT, "cut short" },
		{ { 0x09, 0x01, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01 },
		  13, 1, TRACE_E_EVENT, "varint longer than 10 bytes" },
		{ { 0x09, 0x02, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02 }, 12, 1,
		  TRACE_E_EVENT, "varint longer" },
		{ { 0xab, 0x00, 0x80, 0x80, 0x80, 0x80, 0x10 }, 7, 1, TRACE_E_EVENT,
		  "size above 32 bits" },
		{ { 0x0c, 0x04, 0x80, 0x80, 0x80, 0x80, 0x10 }, 7, 1, TRACE_E_EVENT,
		  "dev above 32 bits" },
		{ { 0x0c, 0x08, 0x80, 0x80, 0x80, 0x80, 0x10 }, 7, 1, TRACE_E_EVENT,
		  "kind above 32 bits" },
		{ { 0x0c, 0x04, 0x80 }, 3, 1, TRACE_E_EVENT, "cut short" },
		{ { 0x07, 0x10, 0x81, 0x80, 0x40 }, 5, 1, TRACE_E_LIMIT, "TRACE_MAX_DATA" },
		{ { 0x07, 0x10, 0x05, 0x01, 0x02 }, 5, 1, TRACE_E_EVENT, "data runs past" },
		{ { 0x07, 0x10, 0x80 }, 3, 1, TRACE_E_EVENT, "cut short" },
		{ { 0x0c, 0x02, 0x05, 0x09 }, 4, 2, TRACE_E_EVENT, "event 1 (byte 3" },
		{ { 0x0c, 0x02, 0x80, 0x01 }, 4, 2, TRACE_E_EVENT, "1 events in 4 of 4 bytes" },
		{ { 0x09, 0x00, 0x09, 0x00 }, 4, 1, TRACE_E_EVENT, "1 events in 2 of 4 bytes" },
		{ { 0x09, 0x00, 0x00, 0x00 }, 4, 2, TRACE_E_EVENT, "event 1 (byte 2 of" },
		/* and good ones: size code 5 with a small size, every field */
		{ { 0xab, 0x1f, 0x03, 0x01, 0x03, 0x02, 0x03, 0x01, 0xee }, 9, 1, TRACE_OK, "" },
		{ { 0x69, 0x00 }, 2, 1, TRACE_OK, "" }, /* irq with a size of 4 */
	};
	for (size_t i = 0; i < RS_ARRAY_SIZE(t); i++)
		expect_events(t[i].raw, t[i].len, t[i].count, t[i].code, t[i].what, __LINE__);

	/* good frames before a bad one are delivered whole */
	static const uint8_t irq[] = { TEV_IRQ, 0, TEV_IRQ, 0x02, 0x01 };
	size_t at = file_start();
	at += frame_good(g_file + at, irq, sizeof(irq), 2, 0);
	size_t off1 = at;
	at += frame_good(g_file + at, irq, sizeof(irq), 2, 2);
	size_t off2 = at;
	at += frame_good(g_file + at, "\x09\x00\x0e\x00", 4, 2, 4);
	expect_read(at, 4, TRACE_E_EVENT, 2, "unknown event type 14", __LINE__);
	char want[64];
	snprintf(want, sizeof(want), "frame 2 at offset %zu: event 5", off2);
	expect_read(at, 4, TRACE_E_EVENT, 2, want, __LINE__);
	(void)off1;
}

/* ---- hostile indexes and footers ------------------------------------------------------------ */

/* Replace the index and footer of s (copied into g_file) by the given
 * entries; returns the new length. events/ioff_delta let the footer lie. */
static size_t reindex(const struct sample *s, const uint64_t *off, const uint64_t *first,
		      const uint32_t *count, unsigned n, uint64_t events, int64_t ioff_delta)
{
	uint64_t ioff = s->off[s->nframes];
	uint8_t *b = g_file + ioff;
	size_t blen = TRACE_INDEX_HDR + n * TRACE_INDEX_ENTRY + 4;

	memcpy(g_file, s->buf, ioff);
	memcpy(b, TRACE_INDEX_MAGIC, 4);
	rs_st32(b + 4, 0);
	rs_st64(b + 8, n);
	for (unsigned i = 0; i < n; i++) {
		uint8_t *e = b + TRACE_INDEX_HDR + i * TRACE_INDEX_ENTRY;
		rs_st64(e, off[i]);
		rs_st64(e + 8, first[i]);
		rs_st32(e + 16, count[i]);
		rs_st32(e + 20, 100);
	}
	rs_st32(b + blen - 4, trace_crc32c(b, blen - 4));
	uint8_t *f = b + blen;
	rs_st64(f, ioff + (uint64_t)ioff_delta);
	rs_st64(f + 8, n);
	rs_st64(f + 16, events);
	rs_st32(f + 24, trace_crc32c(f, 24));
	memcpy(f + 28, TRACE_FOOTER_MAGIC, 4);
	return ioff + blen + TRACE_FOOTER;
}

/* Seek to event `to` in g_file[0, len): want code (TRACE_OK: success). */
static void expect_seek(size_t len, uint64_t to, enum trace_err code, const char *what,
			int line)
{
	struct trace_error err;
	uint8_t *c = dup_exact(g_file, len);
	struct trace_reader *r = trace_reader_open_mem(c, len, &err);
	int rc = r ? trace_reader_seek_event(r, to, &err) : -3;
	bool ok = code == TRACE_OK ? rc == 0
				   : rc == -1 && err.code == code && strstr(err.msg, what);

	if (!ok) {
		fprintf(stderr, "  seek %llu: rc %d '%s'; want %s '%s'\n", (unsigned long long)to,
			rc, err.msg, trace_err_name(code), what);
		check_fail(__FILE__, line, "seek");
	}
	trace_reader_close(r);
	free(c);
}

static void test_hostile_index(void)
{
	struct sample s;
	uint64_t off[8], first[8];
	uint32_t count[8];
	size_t len;
	const unsigned nf = 4;
	const uint64_t total = 13;

	sample_make(&s);
	for (unsigned i = 0; i < nf; i++) {
		off[i] = s.off[i];
		first[i] = s.first[i];
		count[i] = (uint32_t)(s.first[i + 1] - s.first[i]);
	}
	/* the index rebuilt as it was: fine */
	len = reindex(&s, off, first, count, nf, total, 0);
	CHECK_EQ(len, s.len);
	expect_read(len, total, TRACE_OK, 0, "", __LINE__);
	expect_seek(len, 9, TRACE_OK, "", __LINE__);

	/* footer checksum */
	g_file[len - 8] ^= 1;
	expect_read(len, total, TRACE_E_INDEX, nf, "footer at offset", __LINE__);
	expect_seek(len, 0, TRACE_E_INDEX, "footer at offset", __LINE__);
	/* a footer whose sizes do not fit */
	len = reindex(&s, off, first, count, nf, total, -1);
	expect_read(len, total, TRACE_E_INDEX, nf, "do not fit", __LINE__);
	/* index checksum, magic */
	len = reindex(&s, off, first, count, nf, total, 0);
	g_file[s.off[nf] + 20] ^= 1;
	expect_read(len, total, TRACE_E_INDEX, nf, "bad magic, count or checksum", __LINE__);
	/* entries that disagree with each other */
	first[2]++;
	len = reindex(&s, off, first, count, nf, total, 0);
	expect_read(len, total, TRACE_E_INDEX, nf, "entry 2 is inconsistent", __LINE__);
	expect_seek(len, 0, TRACE_E_INDEX, "entry 2 is inconsistent", __LINE__);
	first[2]--;
	off[0]++;
	len = reindex(&s, off, first, count, nf, total, 0);
	expect_seek(len, 0, TRACE_E_INDEX, "entry 0 is inconsistent", __LINE__);
	off[0]--;
	off[3] = s.off[nf] - 10; /* no room for a frame header before the index */
	len = reindex(&s, off, first, count, nf, total, 0);
	expect_seek(len, 0, TRACE_E_INDEX, "entry 3 is inconsistent", __LINE__);
	off[3] = s.off[3];
	/* events listed differ from the footer's */
	len = reindex(&s, off, first, count, nf, total + 1, 0);
	expect_read(len, total, TRACE_E_INDEX, nf, "events listed, the footer says 14",
		    __LINE__);
	/* consistent, but not the frames the file has */
	len = reindex(&s, off, first, count, nf - 1, first[3], 0);
	expect_read(len, total, TRACE_E_INDEX, nf, "lists 3 frames", __LINE__);
	count[1]++;
	for (unsigned i = 2; i < nf; i++)
		first[i]++;
	len = reindex(&s, off, first, count, nf, total + 1, 0);
	expect_seek(len, first[1] + 1, TRACE_E_INDEX, "no frame of 6 events", __LINE__);
	expect_read(len, total, TRACE_E_INDEX, nf, "lists 4 frames, 14 events", __LINE__);
	count[1]--;
	for (unsigned i = 2; i < nf; i++)
		first[i]--;
	/* an entry pointing into the middle of a frame */
	off[2] += 5;
	len = reindex(&s, off, first, count, nf, total, 0);
	expect_seek(len, first[2], TRACE_E_FRAME, "no frame magic", __LINE__);
	expect_seek(len, first[1], TRACE_OK, "", __LINE__);
	off[2] -= 5;
	/* no frames listed, but the index is not right after the header */
	len = reindex(&s, off, first, count, 0, 0, 0);
	expect_read(len, total, TRACE_E_INDEX, nf, "0 events listed, the footer says 0",
		    __LINE__);
	/* bytes after the footer: no footer at the end any more */
	len = reindex(&s, off, first, count, nf, total, 0);
	memcpy(g_file + len, "xyz", 3);
	expect_read(len + 3, total, TRACE_E_INDEX, nf, "no footer", __LINE__);
	/* ... or a count that runs past the end */
	len = reindex(&s, off, first, count, nf, total, 0);
	g_file[len - 4] = 'X';
	rs_st64(g_file + s.off[nf] + 8, 1ull << 60);
	expect_read(len, total, TRACE_E_TRUNCATED, nf, "inside the index or footer", __LINE__);
	/* seeking a file without index */
	expect_seek(s.off[nf], 0, TRACE_E_INDEX, "not closed", __LINE__);
	/* a file too small for an index: an empty trace cut after its header */
	expect_seek(s.hdr, 0, TRACE_E_INDEX, "not closed", __LINE__);
	free(s.buf);
}

/* The index lets a reader skip a damaged frame. */
static void test_seek_past_damage(void)
{
	struct sample s;
	struct trace_error err;
	struct evlist got;
	struct trace_event ev;

	sample_make(&s);
	uint8_t *c = dup_exact(s.buf, s.len);
	c[s.off[1] + TRACE_FRAME_HDR + 3] ^= 0x20; /* frame 1's zstd data */
	struct trace_reader *r = trace_reader_open_mem(c, s.len, &err);
	CHECK_EQ(read_all(r, &got, &err), -1);
	CHECK_EQ(got.n, s.first[1]);
	CHECK_EQ(err.frame, 1);
	CHECK_EQ(trace_reader_seek_event(r, s.first[1] + 1, &err), -1);
	CHECK_EQ(err.frame, 1);
	CHECK_EQ(trace_read(r, &ev, &err), -1); /* sticky after a failed seek */
	CHECK_EQ(err.frame, 1);
	CHECK_EQ(trace_reader_seek_event(r, s.first[2], &err), 0);
	CHECK_EQ(read_all(r, &got, &err), 0);
	CHECK_EQ(got.n, s.ref.n - s.first[2]);
	for (size_t i = 0; i < got.n; i++)
		CHECK(got.ev[i].value == s.ref.ev[s.first[2] + i].value);
	struct trace_info in;
	trace_reader_info(r, &in);
	CHECK(in.indexed);
	CHECK_EQ(in.index_frames, 4);
	trace_reader_close(r);
	free(c);
	free(s.buf);
}

/* With TRACE_RD_NO_CHECKSUM (fuzzing), a trace whose every checksum is
 * wrong reads whole; without, the first one stops it. */
static void test_no_checksum_mode(void)
{
	struct sample s;
	struct trace_error err;
	struct evlist got;

	sample_make(&s);
	uint8_t *c = dup_exact(s.buf, s.len);
	c[s.hdr - 1] ^= 1;
	for (unsigned k = 0; k < s.nframes; k++) {
		c[s.off[k] + 28] ^= 1;                  /* frame header CRC */
		c[s.off[k + 1] - 1] ^= 1;               /* zstd content checksum */
	}
	c[s.len - TRACE_FOOTER - 1] ^= 1;               /* index CRC */
	c[s.len - 5] ^= 1;                              /* footer CRC */
	struct trace_reader *r = trace_reader_open_mem(c, s.len, &err);
	CHECK(r == NULL);
	CHECK_EQ(err.code, TRACE_E_CHECKSUM);
	r = trace_reader_open_mem_flags(c, s.len, TRACE_RD_NO_CHECKSUM, &err);
	CHECK_EQ(read_all(r, &got, &err), 0);
	CHECK_EQ(got.n, s.ref.n);
	CHECK(same_prefix(&got, &s.ref, s.ref.n));
	CHECK_EQ(trace_reader_seek_event(r, 5, &err), 0);
	trace_reader_close(r);
	free(c);
	free(s.buf);
}

int main(void)
{
	RUN(test_truncated_everywhere);
	RUN(test_bitflip_everywhere);
	RUN(test_hostile_headers);
	RUN(test_hostile_frames);
	RUN(test_hostile_events);
	RUN(test_hostile_index);
	RUN(test_seek_past_damage);
	RUN(test_no_checksum_mode);
	unlink(g_path);
	return check_done();
}
