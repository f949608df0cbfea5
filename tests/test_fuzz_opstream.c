/*
 * Tests of the fuzz harness's building blocks: the op-stream decoder (front
 * records, back data, modulo mapping, listing), the arena's fuzz source
 * (lazy DMA, touched bytes, reset cost), the fuzz world and the seed
 * builder.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "fuzz.h"

/* ---- decoder ------------------------------------------------------------------------ */

static void test_decode_front_back(void)
{
	uint8_t in[2 * FUZZ_OP_SIZE + 5];
	struct fuzz_input fi;
	struct fuzz_op op;
	uint8_t d[8];

	fuzz_op_encode(in, 8, 3, 0x11, 0x22, 0x3344, 0x5566, 0x0102030405060708ull);
	fuzz_op_encode(in + FUZZ_OP_SIZE, 0, 0, 0, 0, 0, 0, 0);
	memcpy(in + 2 * FUZZ_OP_SIZE, "ABCDE", 5);
	fuzz_input_init(&fi, in, sizeof(in));

	CHECK_EQ(fuzz_next_op(&fi, &fuzz_opset_device, &op), 1);
	CHECK_EQ(op.code, fuzz_opset_device.ops[8]);
	CHECK_EQ(op.raw, 8);
	CHECK_EQ(op.dev, 3);
	CHECK_EQ(op.p0, 0x11);
	CHECK_EQ(op.p1, 0x22);
	CHECK_EQ(op.p2, 0x3344);
	CHECK_EQ(op.p3, 0x5566);
	CHECK_EQ(op.val, 0x0102030405060708ull);
	CHECK_EQ(op.offset, 0);
	CHECK_EQ(op.index, 0);
	/* data from the back, in file order */
	CHECK_EQ(fuzz_take(&fi, d, 2), 2);
	CHECK(memcmp(d, "DE", 2) == 0);
	CHECK_EQ(fuzz_take(&fi, NULL, 1), 1); /* skipped: 'C' */
	CHECK_EQ(fi.taken, 3);
	/* the second record is still whole */
	CHECK_EQ(fuzz_next_op(&fi, &fuzz_opset_device, &op), 1);
	CHECK_EQ(op.index, 1);
	CHECK_EQ(op.offset, FUZZ_OP_SIZE);
	CHECK_EQ(op.code, fuzz_opset_device.ops[0]);
	/* two data bytes left, then zeroes */
	memset(d, 0xee, sizeof(d));
	CHECK_EQ(fuzz_take(&fi, d, 4), 2);
	CHECK(memcmp(d, "AB\0\0", 4) == 0);
	CHECK_EQ(fi.zeros, 2);
	CHECK_EQ(fuzz_next_op(&fi, &fuzz_opset_device, &op), 0);
	CHECK_EQ(fuzz_take(&fi, d, 1), 0);

	/* data taken early eats into the records: a partial record is no op */
	fuzz_input_init(&fi, in, 2 * FUZZ_OP_SIZE);
	CHECK_EQ(fuzz_next_op(&fi, &fuzz_opset_device, &op), 1);
	CHECK_EQ(fuzz_take(&fi, NULL, 1), 1);
	CHECK_EQ(fuzz_next_op(&fi, &fuzz_opset_device, &op), 0);

	/* empty and NULL inputs */
	fuzz_input_init(&fi, NULL, 100);
	CHECK_EQ(fi.size, 0);
	CHECK_EQ(fuzz_next_op(&fi, &fuzz_opset_ring, &op), 0);
	CHECK_EQ(fuzz_take(&fi, d, 3), 0);
	CHECK_EQ(d[0], 0);
}

/* Every byte value of byte 0 is an op of the set, modulo its size. */
static void test_modulo_mapping(void)
{
	const struct fuzz_opset *sets[] = { &fuzz_opset_device, &fuzz_opset_ring };

	for (unsigned s = 0; s < 2; s++) {
		const struct fuzz_opset *set = sets[s];

		for (unsigned b = 0; b < 256; b++) {
			uint8_t rec[FUZZ_OP_SIZE] = { (uint8_t)b };
			struct fuzz_input fi;
			struct fuzz_op op;

			fuzz_input_init(&fi, rec, sizeof(rec));
			CHECK_EQ(fuzz_next_op(&fi, set, &op), 1);
			CHECK_EQ(op.code, set->ops[b % set->n]);
			CHECK(op.code > FOP_NONE && op.code < FOP__COUNT);
			CHECK(strcmp(fuzz_op_name(op.code), "?") != 0);
		}
		for (unsigned i = 0; i < set->n; i++)
			CHECK_EQ(fuzz_opset_byte(set, set->ops[i]), (int)i);
	}
	CHECK_EQ(fuzz_opset_byte(&fuzz_opset_ring, FOP_CFG_WRITE), -1);
	CHECK_EQ(fuzz_opset_byte(&fuzz_opset_device, FOP_POP), -1);
	CHECK(strcmp(fuzz_op_name(0), "?") == 0);
	CHECK(strcmp(fuzz_op_name(FOP__COUNT), "?") == 0);
	CHECK(strcmp(fuzz_op_name(FOP_SUBMIT), "SUBMIT") == 0);
}

/* Every op formats to one line naming it; a listing has one line per op. */
static void test_format_and_list(void)
{
	char line[256];
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	uint8_t in[FOP__COUNT * FUZZ_OP_SIZE];
	unsigned lines = 0;

	for (unsigned code = 1; code < FOP__COUNT; code++) {
		for (unsigned v = 0; v < 4; v++) {
			struct fuzz_op op = { .code = (uint8_t)code, .p0 = (uint8_t)(v * 0x45),
					      .p1 = (uint8_t)(v * 0x33), .p2 = 0x1234,
					      .val = 0xffffffffffffull * v };

			fuzz_op_format(&op, line, sizeof(line));
			CHECK(strstr(line, fuzz_op_name(code)) != NULL);
			CHECK(strchr(line, '\n') == NULL);
		}
	}
	/* a tiny buffer is never overrun */
	{
		struct fuzz_op op = { .code = FOP_SUBMIT };
		char tiny[8];

		memset(tiny, 'x', sizeof(tiny));
		fuzz_op_format(&op, tiny, 6);
		CHECK_EQ(tiny[6], 'x');
	}
	for (unsigned i = 0; i < FOP__COUNT; i++)
		fuzz_op_encode(in + i * FUZZ_OP_SIZE, i, 0, 0, 0, 0, 0, 0);
	f = open_memstream(&buf, &len);
	fuzz_list(&fuzz_opset_device, in, sizeof(in), f);
	fclose(f);
	for (size_t i = 0; i < len; i++)
		lines += buf[i] == '\n';
	CHECK_EQ(lines, FOP__COUNT + 1); /* a header line, then one per op */
	CHECK(strstr(buf, "DRIVER_INIT") != NULL);
	free(buf);
}

/* ---- the fuzz source ---------------------------------------------------------------- */

struct src_env {
	struct gm gm;
	struct diag_log log;
	struct fuzz_source *s;
	struct fuzz_input in;
};

static void src_init(struct src_env *e, const uint8_t *data, size_t len)
{
	gm_init(&e->gm);
	diag_init(&e->log, "t");
	e->gm.log = &e->log;
	CHECK_EQ(gm_add_ram(&e->gm, 0, 4 * GM_PAGE_SIZE, NULL, "ram"), 0);
	CHECK_EQ(gm_add_ram(&e->gm, 0x100000, GM_PAGE_SIZE, NULL, "ram2"), 0);
	e->s = fuzz_source_new(&e->gm);
	CHECK(e->s != NULL);
	gm_set_source(&e->gm, &fuzz_source_ops, e->s);
	fuzz_input_init(&e->in, data, len);
	fuzz_source_begin(e->s, &e->in);
}

static void src_fini(struct src_env *e)
{
	gm_set_source(&e->gm, NULL, NULL);
	fuzz_source_free(e->s);
	gm_destroy(&e->gm);
}

static void test_source_lazy_dma(void)
{
	static const uint8_t data[] = "0123456789abcdefghijklmnopqrstuvwxyz";
	struct src_env e;
	uint8_t b[128], w[4] = { 'W', 'X', 'Y', 'Z' };

	src_init(&e, data, sizeof(data) - 1); /* 36 bytes */
	CHECK(!fuzz_source_ops.direct);
	/* first read of untouched memory: the last input bytes */
	CHECK_EQ(gm_read(&e.gm, 0x100, b, 4), 0);
	CHECK(memcmp(b, "wxyz", 4) == 0);
	CHECK_EQ(e.in.taken, 4);
	/* again: the same bytes, nothing taken */
	CHECK_EQ(gm_read(&e.gm, 0x100, b, 4), 0);
	CHECK(memcmp(b, "wxyz", 4) == 0);
	CHECK_EQ(e.in.taken, 4);
	/* overlapping: touched bytes kept, new ones taken */
	CHECK_EQ(gm_read(&e.gm, 0x102, b, 4), 0);
	CHECK(memcmp(b, "yzuv", 4) == 0);
	/* the guest side sees what the device saw */
	CHECK_EQ(gm_guest_read(&e.gm, 0x100, b, 6), 0);
	CHECK(memcmp(b, "wxyzuv", 6) == 0);
	/* guest-written memory is served as written */
	CHECK_EQ(gm_guest_write(&e.gm, 0x200, w, 4), 0);
	CHECK_EQ(gm_read(&e.gm, 0x1fe, b, 8), 0);
	CHECK(memcmp(b + 2, "WXYZ", 4) == 0);
	CHECK(memcmp(b, "st", 2) == 0);
	CHECK(memcmp(b + 6, "qr", 2) == 0); /* one run of untouched bytes: one take */
	/* device writes too */
	CHECK_EQ(gm_write(&e.gm, 0x300, w, 4), 0);
	CHECK_EQ(gm_read(&e.gm, 0x300, b, 4), 0);
	CHECK(memcmp(b, "WXYZ", 4) == 0);
	CHECK_EQ(e.in.taken, 10);
	/* across a page boundary and a whole word of fresh bytes */
	CHECK_EQ(gm_read(&e.gm, GM_PAGE_SIZE - 3, b, 70), 0);
	CHECK_EQ(e.in.taken, 36);
	CHECK_EQ(e.in.zeros, 70 - 26);
	CHECK(memcmp(b, "nop0123456789", 13) == 0);
	CHECK_EQ(b[69], 0); /* past the data: zeroes */
	/* the second RAM region */
	CHECK_EQ(gm_read(&e.gm, 0x100000, b, 2), 0);
	CHECK_EQ(b[0], 0);
	CHECK_EQ(fuzz_source_pages(e.s), 3);
	CHECK_EQ(gm_dirty_count(&e.gm), 3);

	/* reset: touched pages forgotten and zeroed; a new input serves again */
	gm_dirty_reset(&e.gm);
	CHECK_EQ(fuzz_source_pages(e.s), 0);
	CHECK_EQ(gm_guest_read(&e.gm, 0x100, b, 4), 0);
	CHECK(memcmp(b, "\0\0\0\0", 4) == 0);
	fuzz_input_init(&e.in, data, 10);
	CHECK_EQ(gm_read(&e.gm, 0x100, b, 4), 0);
	CHECK(memcmp(b, "6789", 4) == 0);
	CHECK_EQ(fuzz_source_pages(e.s), 1);
	/* no input attached: untouched memory reads zero */
	fuzz_source_begin(e.s, NULL);
	CHECK_EQ(gm_read(&e.gm, 0x2000, b, 4), 0);
	CHECK(memcmp(b, "\0\0\0\0", 4) == 0);
	/* a bitmap page is reused after reset (no growth per input) */
	gm_dirty_reset(&e.gm);
	for (unsigned i = 0; i < 100; i++) {
		fuzz_input_init(&e.in, data, sizeof(data) - 1);
		fuzz_source_begin(e.s, &e.in);
		CHECK_EQ(gm_read(&e.gm, 0x10, b, 1), 0);
		CHECK_EQ(b[0], 'z');
		gm_dirty_reset(&e.gm);
	}
	src_fini(&e);
}

/* Partly touched words take byte by byte. */
static void test_source_mixed_words(void)
{
	uint8_t data[64], b[64], one = 0xaa;
	struct src_env e;

	for (unsigned i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)i;
	src_init(&e, data, sizeof(data));
	for (unsigned i = 0; i < 64; i += 2)
		CHECK_EQ(gm_guest_write(&e.gm, 0x1000 + i, &one, 1), 0);
	CHECK_EQ(gm_read(&e.gm, 0x1000, b, 64), 0);
	for (unsigned i = 0; i < 64; i++)
		CHECK_EQ(b[i], i % 2 ? 63 - i / 2 : 0xaa);
	CHECK_EQ(e.in.taken, 32);
	src_fini(&e);
}

/* ---- the fuzz world ----------------------------------------------------------------- */

static int64_t fake_io(struct world_backend *b, struct world_io *req)
{
	(*(unsigned *)b->ctx)++;
	return req->op == WIO_SIZE ? 1 << 20 : (int64_t)req->len;
}

static const struct world_backend_ops fake_backend_ops = { .name = "fake", .io = fake_io };

static void test_world(void)
{
	struct world *w = fuzz_world_new();
	unsigned real = 0;
	struct world_backend be = { .ops = &fake_backend_ops, .ctx = &real };
	struct world_backend none = { 0 };
	static const uint8_t data[] = "entropy+data";
	struct fuzz_input in;
	uint8_t b[16];
	struct world_io rd = { .op = WIO_READ, .buf = b, .len = 4 };
	struct world_io wrq = { .op = WIO_WRITE, .buf = b, .len = 8 };
	struct world_io sz = { .op = WIO_SIZE };
	struct world_io fl = { .op = WIO_FLUSH };
	struct world_event ev = { .kind = WEV_NET_RX, .dev = 1, .len = 3, .data = data };
	struct world_event got;

	CHECK(w != NULL);
	CHECK(fuzz_world_is(w));
	CHECK(!fuzz_world_is(NULL));
	/* between inputs: zero entropy, the real backend */
	fuzz_world_begin(w, NULL);
	memset(b, 1, sizeof(b));
	CHECK_EQ(world_entropy(w, 0, b, 4), 0);
	CHECK(memcmp(b, "\0\0\0\0", 4) == 0);
	CHECK_EQ(world_io(w, &be, &wrq), 8);
	CHECK_EQ(real, 1);
	CHECK_EQ(world_io(w, &none, &wrq), -ENODEV);

	/* during an input */
	fuzz_input_init(&in, data, sizeof(data) - 1);
	fuzz_world_begin(w, &in);
	CHECK_EQ(world_entropy(w, 0, b, 4), 0);
	CHECK(memcmp(b, "data", 4) == 0);
	CHECK_EQ(world_io(w, &be, &rd), 4);
	CHECK(memcmp(b, "opy+", 4) == 0);
	CHECK_EQ(world_io(w, &be, &wrq), 8);
	CHECK_EQ(world_io(w, &be, &fl), 0);
	CHECK_EQ(real, 1); /* never reached the backend */
	CHECK_EQ(world_io(w, &be, &sz), 1 << 20);
	CHECK_EQ(real, 2); /* SIZE is the image's */
	/* faults: bit 0 is the next call */
	fuzz_world_fault(w, FUZZ_FAULT_IO, 0x5, -ENOSPC);
	CHECK_EQ(world_io(w, &be, &wrq), -ENOSPC);
	CHECK_EQ(world_io(w, &be, &wrq), 8);
	CHECK_EQ(world_io(w, &be, &fl), -ENOSPC);
	CHECK_EQ(world_io(w, &be, &fl), 0);
	fuzz_world_fault(w, FUZZ_FAULT_SHORT, 0x3, 0);
	CHECK_EQ(world_io(w, &be, &wrq), 4);
	CHECK_EQ(world_io(w, &be, &rd), 2);
	CHECK_EQ(world_io(w, &be, &rd), 4);
	fuzz_world_fault(w, FUZZ_FAULT_ENTROPY, 1, -EAGAIN);
	memset(b, 1, sizeof(b));
	CHECK_EQ(world_entropy(w, 0, b, 4), -EAGAIN);
	CHECK_EQ(b[0], 0);
	fuzz_world_fault(w, FUZZ_FAULT_IO, ~0ull, -EIO);
	fuzz_world_fault(w, FUZZ_FAULT_CLEAR, 0, 0);
	CHECK_EQ(world_io(w, &be, &wrq), 8);
	/* clocks: virtual, advancing by a fixed step and on request */
	CHECK_EQ(world_clock_ns(w, WORLD_CLOCK_MONOTONIC), FUZZ_CLOCK_STEP_NS);
	CHECK_EQ(world_clock_ns(w, WORLD_CLOCK_REALTIME),
		 FUZZ_REALTIME_BASE_NS + 2 * FUZZ_CLOCK_STEP_NS);
	fuzz_world_advance(w, 1000000);
	CHECK_EQ(world_clock_ns(w, WORLD_CLOCK_MONOTONIC), 1000000 + 3 * FUZZ_CLOCK_STEP_NS);
	fuzz_world_advance(w, ~0ull);
	CHECK_EQ(world_clock_ns(w, WORLD_CLOCK_MONOTONIC), ~0ull);
	/* events: FIFO, copied, bounded */
	CHECK_EQ(world_next_event(w, &got), 0);
	for (unsigned i = 0; i < FUZZ_WORLD_EVENTS; i++) {
		ev.port = i;
		CHECK_EQ(world_post(w, &ev), 0);
	}
	CHECK_EQ(world_post(w, &ev), -ENOSPC);
	CHECK_EQ(world_next_event(w, &got), 1);
	CHECK_EQ(got.kind, WEV_NET_RX);
	CHECK_EQ(got.dev, 1);
	CHECK_EQ(got.port, 0);
	CHECK_EQ(got.len, 3);
	CHECK(got.data && memcmp(got.data, "ent", 3) == 0);
	ev.len = FUZZ_WORLD_EVENT_DATA + 1;
	ev.data = malloc(ev.len);
	memset((void *)ev.data, 0, ev.len);
	CHECK_EQ(world_post(w, &ev), -ENOSPC);
	free((void *)ev.data);
	ev = (struct world_event){ .kind = WEV_VMMCI, .arg = 1 };
	CHECK_EQ(world_post(w, &ev), 0);
	for (unsigned i = 1; i < FUZZ_WORLD_EVENTS; i++)
		CHECK_EQ(world_next_event(w, &got), 1);
	CHECK_EQ(world_next_event(w, &got), 1);
	CHECK_EQ(got.kind, WEV_VMMCI);
	CHECK(got.data == NULL);
	CHECK_EQ(world_next_event(w, &got), 0);
	/* a new input starts clean */
	CHECK_EQ(world_post(w, &ev), 0);
	fuzz_world_begin(w, &in);
	CHECK_EQ(world_next_event(w, &got), 0);
	CHECK_EQ(world_clock_ns(w, WORLD_CLOCK_MONOTONIC), FUZZ_CLOCK_STEP_NS);
	world_destroy(w);
}

/* ---- builder ------------------------------------------------------------------------ */

static unsigned emitted;
static uint8_t last_seed[256];
static size_t last_len;

static void count_emit(void *ctx, const char *name, const uint8_t *buf, size_t len)
{
	emitted++;
	last_len = RS_MIN(len, sizeof(last_seed));
	memcpy(last_seed, buf, last_len);
}

static void test_builder(void)
{
	static struct fuzz_builder b;
	uint8_t out[128];
	struct fuzz_input fi;
	struct fuzz_op op;
	uint8_t d[4];
	size_t n;

	memset(&b, 0, sizeof(b));
	b.set = &fuzz_opset_device;
	b.prefix = -1;
	b.emit = count_emit;
	fb_op(&b, FOP_MEM_WRITE, 0, 0, 3, 0x100, 0, 0);
	fb_data(&b, "AAAA", 4);
	fb_op(&b, FOP_WORLD_EVENT, 0, 0, 0, 2, 0, 0);
	fb_data(&b, "BB", 2);
	n = fb_finish(&b, out, sizeof(out));
	CHECK_EQ(n, 2 * FUZZ_OP_SIZE + 6);
	/* the executor takes "AAAA" first, so it is last in the file */
	CHECK(memcmp(out + 2 * FUZZ_OP_SIZE, "BBAAAA", 6) == 0);
	fuzz_input_init(&fi, out, n);
	CHECK_EQ(fuzz_next_op(&fi, b.set, &op), 1);
	CHECK_EQ(op.code, FOP_MEM_WRITE);
	CHECK_EQ(fuzz_take(&fi, d, 4), 4);
	CHECK(memcmp(d, "AAAA", 4) == 0);
	CHECK_EQ(fuzz_next_op(&fi, b.set, &op), 1);
	CHECK_EQ(op.code, FOP_WORLD_EVENT);
	CHECK_EQ(fuzz_take(&fi, d, 2), 2);
	CHECK(memcmp(d, "BB", 2) == 0);
	/* too small an output, prefix byte, emit */
	CHECK_EQ(fb_finish(&b, out, 10), 0);
	b.prefix = 7;
	fb_emit(&b, "x");
	CHECK_EQ(emitted, 1);
	CHECK_EQ(last_len, 1 + 2 * FUZZ_OP_SIZE + 6);
	CHECK_EQ(last_seed[0], 7);
	CHECK_EQ(b.nops_bytes, 0); /* a new seed starts */
	/* an op the set does not have, or too much data: nothing emitted */
	fb_op(&b, FOP_POP, 0, 0, 0, 0, 0, 0);
	CHECK(b.overflow);
	fb_emit(&b, "y");
	CHECK_EQ(emitted, 1);
	fb_reset(&b);
	fb_data(&b, NULL, FUZZ_BUILD_MAX + 1);
	CHECK(b.overflow);
	fb_reset(&b);
	b.prefix = -1;
	/* chains: lens packed four to the op, contents in segment order */
	{
		uint32_t outl[] = { 3, 2 }, inl[] = { 9 };

		fb_chain(&b, 2, outl, 2, inl, 1, "abcd", 4, FUZZ_SUB_COLLECT);
		n = fb_finish(&b, out, sizeof(out));
		CHECK_EQ(n, FUZZ_OP_SIZE + 5);
		fuzz_input_init(&fi, out, n);
		CHECK_EQ(fuzz_next_op(&fi, b.set, &op), 1);
		CHECK_EQ(op.code, FOP_SUBMIT);
		CHECK_EQ(op.p0, 2 | FUZZ_SUB_COLLECT | FUZZ_SUB_FILL);
		CHECK_EQ(op.p1, 2 | 1 << 4);
		CHECK_EQ(op.val, 3 | 2ull << 16 | 9ull << 32);
		CHECK_EQ(fuzz_take(&fi, d, 3), 3);
		CHECK(memcmp(d, "abc", 3) == 0);
		CHECK_EQ(fuzz_take(&fi, d, 2), 2);
		CHECK(memcmp(d, "d\0", 2) == 0);
	}
}

int main(void)
{
	RUN(test_decode_front_back);
	RUN(test_modulo_mapping);
	RUN(test_format_and_list);
	RUN(test_source_lazy_dma);
	RUN(test_source_mixed_words);
	RUN(test_world);
	RUN(test_builder);
	return check_done();
}
