/*
 * ringside tests — the chain cursor (engine/vq.c): reading the readable part
 * and writing the writable part of a chain as one byte stream across
 * segments of awkward sizes, skipping, running out, and arena failures in
 * the middle of a transfer.
 */
#include <errno.h>
#include <string.h>

#include "check.h"
#include "ringside/gm.h"
#include "ringside/vq.h"

#define RAM_SIZE 0x100000ull /* 1 MiB at 0 */
#define HOLE 0x100000ull     /* MMIO right after it */
#define HOLE_SIZE 0x10000ull

static struct gm G;
static struct diag_log L;

static void arena_open(void)
{
	gm_init(&G);
	diag_init(&L, "gm");
	G.log = &L;
	CHECK_EQ(gm_add_ram(&G, 0, RAM_SIZE, NULL, "ram"), 0);
	CHECK_EQ(gm_add_mmio(&G, HOLE, HOLE_SIZE, "hole"), 0);
}

static void arena_close(void)
{
	gm_destroy(&G);
}

/* Build a chain by hand: nr readable segments then nw writable ones. */
static void chain_make(struct vq_chain *c, const struct vq_seg *segs, uint32_t n)
{
	memset(c, 0, sizeof(*c));
	CHECK(n <= VQ_CHAIN_INLINE);
	for (uint32_t i = 0; i < n; i++) {
		c->inl[i] = segs[i];
		if (segs[i].write) {
			c->write_len += segs[i].len;
		} else {
			c->nread++;
			c->read_len += segs[i].len;
		}
	}
	c->nsegs = n;
}

/* Fill [gpa, gpa+len) with bytes derived from the address. */
static void fill(uint64_t gpa, uint32_t len)
{
	uint8_t b[256];

	for (uint32_t i = 0; i < len; i++) {
		uint32_t k = i % sizeof(b);

		b[k] = (uint8_t)((gpa + i) * 7 + 1);
		if (k == sizeof(b) - 1 || i + 1 == len)
			CHECK_EQ(gm_guest_write(&G, gpa + i - k, b, k + 1), 0);
	}
}

static uint8_t pattern(uint64_t gpa)
{
	return (uint8_t)(gpa * 7 + 1);
}

/* Readable A(3) B(1) C(0) D(7) E(5), writable F(4) G(9): odd sizes, an
 * empty segment, gaps between them. */
static const struct vq_seg odd[] = {
	{ 0x1000, 3, 0 }, { 0x2001, 1, 0 }, { 0x3000, 0, 0 }, { 0x4005, 7, 0 },
	{ 0x50ff, 5, 0 }, { 0x6003, 4, 1 }, { 0x7000, 9, 1 },
};

/* The bytes of the readable part, in order. */
static uint32_t expected_read(uint8_t *out)
{
	uint32_t n = 0;

	for (unsigned i = 0; i < RS_ARRAY_SIZE(odd); i++)
		for (uint32_t k = 0; !odd[i].write && k < odd[i].len; k++)
			out[n++] = pattern(odd[i].gpa + k);
	return n;
}

static void test_read_across_segments(void)
{
	struct vq_chain c;
	struct vq_cursor cur;
	uint8_t want[64], got[64];
	uint32_t total;

	arena_open();
	for (unsigned i = 0; i < RS_ARRAY_SIZE(odd); i++)
		fill(odd[i].gpa, odd[i].len);
	chain_make(&c, odd, RS_ARRAY_SIZE(odd));
	total = expected_read(want);
	CHECK_EQ(total, 16);
	CHECK_EQ(c.read_len, 16);

	/* every chunk size gives the same stream */
	for (size_t chunk = 1; chunk <= 17; chunk++) {
		size_t at = 0, n;

		memset(got, 0, sizeof(got));
		vq_cursor_init_read(&cur, &G, &c);
		CHECK_EQ(vq_cursor_remaining(&cur), 16);
		while ((n = vq_cursor_read(&cur, got + at, chunk)) > 0) {
			CHECK(n <= chunk);
			at += n;
			CHECK_EQ(cur.done, at);
			CHECK_EQ(vq_cursor_remaining(&cur), total - at);
			if (at < total)
				CHECK_EQ(n, chunk); /* short only at the end */
		}
		CHECK_EQ(at, total);
		CHECK(memcmp(got, want, total) == 0);
		CHECK_EQ(cur.error, 0);
		/* exhausted: stays at zero, never reaches the writable part */
		CHECK_EQ(vq_cursor_read(&cur, got, 1), 0);
		CHECK_EQ(vq_cursor_skip(&cur, 1), 0);
		CHECK_EQ(vq_cursor_remaining(&cur), 0);
	}

	/* one big read asks for more than there is */
	vq_cursor_init_read(&cur, &G, &c);
	CHECK_EQ(vq_cursor_read(&cur, got, sizeof(got)), 16);
	CHECK(memcmp(got, want, 16) == 0);
	/* a zero-length request moves nothing */
	vq_cursor_init_read(&cur, &G, &c);
	CHECK_EQ(vq_cursor_read(&cur, got, 0), 0);
	CHECK_EQ(vq_cursor_remaining(&cur), 16);
	CHECK_EQ(L.total, 0);
	arena_close();
}

static void test_write_across_segments(void)
{
	struct vq_chain c;
	struct vq_cursor cur;
	uint8_t src[13], back[16];

	arena_open();
	chain_make(&c, odd, RS_ARRAY_SIZE(odd));
	CHECK_EQ(c.write_len, 13);
	for (unsigned i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)(0xa0 + i);
	/* guard bytes around the writable segments */
	memset(back, 0x55, sizeof(back));
	CHECK_EQ(gm_guest_write(&G, 0x6003 - 1, back, 6), 0);
	CHECK_EQ(gm_guest_write(&G, 0x7000 - 1, back, 11), 0);
	fill(0x1000, 3);

	vq_cursor_init_write(&cur, &G, &c);
	CHECK_EQ(vq_cursor_remaining(&cur), 13);
	CHECK_EQ(vq_cursor_write(&cur, src, 5), 5);     /* F(4) + 1 of G */
	CHECK_EQ(vq_cursor_remaining(&cur), 8);
	CHECK_EQ(vq_cursor_write(&cur, src + 5, 5), 5);
	CHECK_EQ(vq_cursor_write(&cur, src + 10, 5), 3); /* short: part exhausted */
	CHECK_EQ(vq_cursor_write(&cur, src, 1), 0);
	CHECK_EQ(cur.done, 13);
	CHECK_EQ(vq_cursor_remaining(&cur), 0);
	CHECK_EQ(cur.error, 0);

	CHECK_EQ(gm_guest_read(&G, 0x6003 - 1, back, 6), 0);
	CHECK_EQ(back[0], 0x55);
	CHECK(memcmp(back + 1, src, 4) == 0);
	CHECK_EQ(back[5], 0x55);
	CHECK_EQ(gm_guest_read(&G, 0x7000 - 1, back, 11), 0);
	CHECK_EQ(back[0], 0x55);
	CHECK(memcmp(back + 1, src + 4, 9) == 0);
	CHECK_EQ(back[10], 0x55);
	/* the readable part is left alone */
	CHECK_EQ(gm_guest_read(&G, 0x1000, back, 3), 0);
	CHECK_EQ(back[0], pattern(0x1000));
	CHECK_EQ(back[2], pattern(0x1002));
	arena_close();
}

static void test_skip(void)
{
	struct vq_chain c;
	struct vq_cursor cur;
	uint8_t want[64], got[8];

	arena_open();
	for (unsigned i = 0; i < RS_ARRAY_SIZE(odd); i++)
		fill(odd[i].gpa, odd[i].len);
	chain_make(&c, odd, RS_ARRAY_SIZE(odd));
	expected_read(want);

	vq_cursor_init_read(&cur, &G, &c);
	CHECK_EQ(vq_cursor_skip(&cur, 4), 4); /* A and B, lands on D */
	CHECK_EQ(vq_cursor_read(&cur, got, 3), 3);
	CHECK(memcmp(got, want + 4, 3) == 0);
	CHECK_EQ(vq_cursor_skip(&cur, 5), 5); /* rest of D and E's first byte */
	CHECK_EQ(vq_cursor_read(&cur, got, 2), 2);
	CHECK(memcmp(got, want + 12, 2) == 0);
	CHECK_EQ(vq_cursor_remaining(&cur), 2);
	CHECK_EQ(vq_cursor_skip(&cur, 1000), 2);
	CHECK_EQ(vq_cursor_remaining(&cur), 0);
	CHECK_EQ(cur.done, 16);

	/* skipping in the writable part leaves the skipped bytes untouched */
	memset(got, 0x33, sizeof(got));
	CHECK_EQ(gm_guest_write(&G, 0x6003, got, 4), 0);
	vq_cursor_init_write(&cur, &G, &c);
	CHECK_EQ(vq_cursor_skip(&cur, 3), 3);
	CHECK_EQ(vq_cursor_write(&cur, "xy", 2), 2);
	CHECK_EQ(gm_guest_read(&G, 0x6003, got, 4), 0);
	CHECK_EQ(got[2], 0x33);
	CHECK_EQ(got[3], 'x');
	CHECK_EQ(gm_guest_read(&G, 0x7000, got, 1), 0);
	CHECK_EQ(got[0], 'y');
	CHECK_EQ(vq_cursor_remaining(&cur), 8);
	arena_close();
}

static void test_empty_parts(void)
{
	static const struct vq_seg ro[] = { { 0x1000, 4, 0 } };
	static const struct vq_seg wo[] = { { 0x1000, 0, 1 }, { 0x2000, 0, 1 }, { 0x3000, 2, 1 } };
	static const struct vq_seg zeros[] = { { 0x1000, 0, 0 }, { 0x2000, 0, 1 } };
	struct vq_chain c;
	struct vq_cursor cur;
	uint8_t b[4];

	arena_open();
	chain_make(&c, NULL, 0);
	vq_cursor_init_read(&cur, &G, &c);
	CHECK_EQ(vq_cursor_read(&cur, b, 4), 0);
	vq_cursor_init_write(&cur, &G, &c);
	CHECK_EQ(vq_cursor_write(&cur, b, 4), 0);
	CHECK_EQ(vq_cursor_remaining(&cur), 0);

	/* read-only chain: nothing to write */
	chain_make(&c, ro, 1);
	vq_cursor_init_write(&cur, &G, &c);
	CHECK_EQ(vq_cursor_remaining(&cur), 0);
	CHECK_EQ(vq_cursor_write(&cur, b, 4), 0);

	/* write-only chain: nothing to read; leading empty segments skipped */
	chain_make(&c, wo, 3);
	vq_cursor_init_read(&cur, &G, &c);
	CHECK_EQ(vq_cursor_read(&cur, b, 4), 0);
	vq_cursor_init_write(&cur, &G, &c);
	CHECK_EQ(vq_cursor_write(&cur, "ab", 4), 2);
	CHECK_EQ(gm_guest_read(&G, 0x3000, b, 2), 0);
	CHECK(memcmp(b, "ab", 2) == 0);

	/* only empty segments */
	chain_make(&c, zeros, 2);
	vq_cursor_init_read(&cur, &G, &c);
	CHECK_EQ(vq_cursor_read(&cur, b, 4), 0);
	CHECK_EQ(cur.seg, cur.end);
	vq_cursor_init_write(&cur, &G, &c);
	CHECK_EQ(vq_cursor_write(&cur, b, 4), 0);
	CHECK_EQ(L.total, 0);
	arena_close();
}

static void test_fault_in_the_middle(void)
{
	/* the second segment of each part is not RAM any more (the arena
	 * changed after the chain was popped) */
	static const struct vq_seg segs[] = {
		{ 0x1000, 4, 0 }, { HOLE + 0x10, 8, 0 }, { 0x2000, 4, 0 },
		{ 0x3000, 3, 1 }, { RAM_SIZE - 2, 5, 1 }, { 0x4000, 2, 1 },
	};
	struct vq_chain c;
	struct vq_cursor cur;
	uint8_t b[32];

	arena_open();
	fill(0x1000, 4);
	chain_make(&c, segs, RS_ARRAY_SIZE(segs));

	vq_cursor_init_read(&cur, &G, &c);
	CHECK_EQ(vq_cursor_read(&cur, b, 2), 2);
	CHECK_EQ(vq_cursor_read(&cur, b + 2, sizeof(b)), 2); /* stops at the hole */
	CHECK_EQ(b[3], pattern(0x1003));
	CHECK_EQ(cur.error, -EFAULT);
	CHECK_EQ(cur.done, 4);
	CHECK_EQ(vq_cursor_remaining(&cur), 12); /* exact: the failed bytes are left */
	/* stuck: no further transfer of any kind */
	CHECK_EQ(vq_cursor_read(&cur, b, 1), 0);
	CHECK_EQ(vq_cursor_skip(&cur, 1), 0);
	CHECK_EQ(vq_cursor_remaining(&cur), 12);
	CHECK_EQ(diag_count(&L, DIAG_GM_MMIO_DMA), 1);

	vq_cursor_init_write(&cur, &G, &c);
	CHECK_EQ(vq_cursor_write(&cur, "0123456789", 10), 3); /* then crosses RAM's end */
	CHECK_EQ(cur.error, -EFAULT);
	CHECK_EQ(vq_cursor_remaining(&cur), 7);
	CHECK_EQ(vq_cursor_write(&cur, "x", 1), 0);
	CHECK_EQ(gm_guest_read(&G, 0x3000, b, 3), 0);
	CHECK(memcmp(b, "012", 3) == 0);
	CHECK_EQ(gm_guest_read(&G, 0x4000, b, 2), 0);
	CHECK_EQ(b[0], 0);
	CHECK_EQ(diag_count(&L, DIAG_GM_MMIO_DMA), 2); /* the write ran into the hole */
	/* skip does not touch memory, so it passes the bad segment */
	vq_cursor_init_write(&cur, &G, &c);
	CHECK_EQ(vq_cursor_skip(&cur, 8), 8);
	CHECK_EQ(vq_cursor_write(&cur, "zz", 2), 2);
	CHECK_EQ(cur.error, 0);
	CHECK_EQ(gm_guest_read(&G, 0x4000, b, 2), 0);
	CHECK(memcmp(b, "zz", 2) == 0);
	arena_close();
}

/* ---- with chains popped from a real ring ---- */

#define DESC 0x10000ull
#define AVAIL 0x20000ull
#define USED 0x30000ull

static void put_desc(uint32_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	uint8_t d[16];

	rs_st64(d, addr);
	rs_st32(d + 8, len);
	rs_st16(d + 12, flags);
	rs_st16(d + 14, next);
	CHECK_EQ(gm_guest_write(&G, DESC + 16ull * i, d, 16), 0);
}

static void put16(uint64_t gpa, uint16_t v)
{
	uint8_t b[2];

	rs_st16(b, v);
	CHECK_EQ(gm_guest_write(&G, gpa, b, 2), 0);
}

/* A request/response device: copies the readable part, byte-reversed, into
 * the writable part; 20 + 21 segments of 1..7 bytes (heap segments). */
static void test_echo_popped_chain(void)
{
	struct diag_log vlog;
	struct vq vq;
	struct vq_config cfg = { VQ_SPLIT, 64, DESC, AVAIL, USED, 0 };
	struct vq_chain c;
	struct vq_cursor rd, wr;
	uint8_t in[256], out[256], back[256];
	uint32_t nin = 0, nout = 0, i;
	uint64_t at = 0x40000;

	arena_open();
	diag_init(&vlog, "vq");
	vq_init(&vq, &G, &vlog, 0, NULL, NULL);
	CHECK_EQ(vq_setup(&vq, &cfg), 0);
	for (i = 0; i < 41; i++) {
		uint32_t len = i % 7 + 1;
		bool w = i >= 20;
		uint16_t flags = (i < 40 ? VIRTQ_DESC_F_NEXT : 0) | (w ? VIRTQ_DESC_F_WRITE : 0);

		put_desc(i, at, len, flags, (uint16_t)(i + 1));
		if (w) {
			nout += len;
		} else {
			fill(at, len);
			for (uint32_t k = 0; k < len; k++)
				in[nin++] = pattern(at + k);
		}
		at += len + 3;
	}
	put16(AVAIL + 4, 0);
	put16(AVAIL + 2, 1);
	CHECK_EQ(vq_pop(&vq, &c), 1);
	CHECK(c.heap != NULL);
	CHECK_EQ(c.read_len, nin);
	CHECK_EQ(c.write_len, nout);

	vq_cursor_init_read(&rd, &G, &c);
	CHECK_EQ(vq_cursor_read(&rd, back, sizeof(back)), nin);
	CHECK(memcmp(back, in, nin) == 0);
	for (i = 0; i < nin; i++)
		out[i] = back[nin - 1 - i];
	vq_cursor_init_write(&wr, &G, &c);
	CHECK_EQ(vq_cursor_write(&wr, out, RS_MIN(nin, nout)), RS_MIN(nin, nout));
	CHECK_EQ(vq_push(&vq, &c, wr.done), 0);
	CHECK_EQ(vlog.total, 0);

	/* the driver finds the reversed bytes across its writable buffers */
	{
		uint8_t u[8];
		uint32_t got = 0;

		CHECK_EQ(gm_guest_read(&G, USED + 2, u, 2), 0);
		CHECK_EQ(rs_le16(u), 1);
		CHECK_EQ(gm_guest_read(&G, USED + 8, u, 4), 0);
		CHECK_EQ(rs_le32(u), RS_MIN(nin, nout));
		at = 0x40000;
		for (i = 0; i < 41; i++) {
			uint32_t len = i % 7 + 1;

			if (i >= 20 && got < RS_MIN(nin, nout)) {
				uint32_t n = RS_MIN(len, RS_MIN(nin, nout) - got);

				CHECK_EQ(gm_guest_read(&G, at, back, n), 0);
				CHECK(memcmp(back, out + got, n) == 0);
				got += n;
			}
			at += len + 3;
		}
		CHECK_EQ(got, RS_MIN(nin, nout));
	}
	vq_reset(&vq);
	arena_close();
}

int main(void)
{
	RUN(test_read_across_segments);
	RUN(test_write_across_segments);
	RUN(test_skip);
	RUN(test_empty_parts);
	RUN(test_fault_in_the_middle);
	RUN(test_echo_popped_chain);
	return check_done();
}
