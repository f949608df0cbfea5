/*
 * One million inputs through one fuzz target, in-process: the heap stays
 * flat (no leak, no growth per input) and a fixed input gives the same
 * result hash before and after the million.
 *
 * The count is 1,000,000 by default. Under a sanitizer (the asan and fuzz
 * presets) it is 100,000, because ASan and UBSan make every input about ten
 * times slower; RS_FUZZ_MILLION=N (or a first argument N) sets any count.
 */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "fuzz.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RS_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define RS_ASAN 1
#endif

#ifdef RS_ASAN
#include <sanitizer/allocator_interface.h>
#define DEFAULT_INPUTS 100000ul
#else
#define DEFAULT_INPUTS 1000000ul
#endif

static unsigned long count = DEFAULT_INPUTS;

/* Live heap bytes (ASan: its allocator's count; else glibc's). */
static size_t heap_bytes(void)
{
#ifdef RS_ASAN
	return __sanitizer_get_current_allocated_bytes();
#else
	return mallinfo2().uordblks;
#endif
}

/* Resident set size in bytes. */
static size_t rss_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long pages = 0, rss = 0;

	if (f) {
		if (fscanf(f, "%lu %lu", &pages, &rss) != 2)
			rss = 0;
		fclose(f);
	}
	return rss * 4096;
}

static uint64_t state = 0x2545f4914f6cdd1dull;

static uint64_t rnd(void)
{
	state ^= state << 13;
	state ^= state >> 7;
	state ^= state << 17;
	return state;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void test_million(void)
{
	const struct fuzz_target t = { "echo_mmio", FUZZ_DEVICE, "echo", "mmio" };
	static struct fuzz_builder b;
	static uint8_t fixed[4096];
	uint8_t in[128];
	size_t fixed_len, heap0, heap1, rss0, rss1;
	uint64_t hash0, hash1;
	char err[256];
	struct fuzz_harness *h = fuzz_harness_new(&t, err, sizeof(err));
	double t0, secs;

	CHECK(h != NULL);
	if (!h) {
		fprintf(stderr, "%s\n", err);
		return;
	}
	/* the fixed input: a driver session with I/O on both queues */
	memset(&b, 0, sizeof(b));
	b.set = fuzz_harness_opset(h);
	b.prefix = -1;
	b.info = fuzz_device_info("echo");
	{
		uint32_t l[] = { 24 };

		fb_init(&b, ~0ull, 32, FUZZ_INIT_MSIX);
		fb_chain(&b, 0, l, 1, l, 1, "fixed input for the million", 24, FUZZ_SUB_COLLECT);
		fb_chain(&b, 1, l, 1, l, 1, "and the other queue.....", 24,
			 FUZZ_SUB_COLLECT | FUZZ_SUB_INDIRECT);
		fb_op(&b, FOP_MEM_WRITE, 0, 0, 255, 0x1234, 0, 0);
		fb_data(&b, NULL, 256);
	}
	fixed_len = fb_finish(&b, fixed, sizeof(fixed));
	CHECK(fixed_len > 0);
	hash0 = fuzz_harness_run(h, fixed, fixed_len);

	/* warm up: whatever the harness keeps for reuse is allocated by now */
	for (unsigned i = 0; i < 20000; i++) {
		size_t n = (1 + rnd() % 6) * FUZZ_OP_SIZE + rnd() % 32;

		for (size_t k = 0; k < n; k++)
			in[k] = (uint8_t)rnd();
		(void)fuzz_harness_run(h, in, n);
	}
	heap0 = heap_bytes();
	rss0 = rss_bytes();
	t0 = now();
	for (unsigned long i = 0; i < count; i++) {
		size_t n = (1 + rnd() % 6) * FUZZ_OP_SIZE + rnd() % 32;

		for (size_t k = 0; k < n; k += 8) {
			uint64_t r = rnd();

			memcpy(in + k, &r, 8);
		}
		(void)fuzz_harness_run(h, in, n);
	}
	secs = now() - t0;
	heap1 = heap_bytes();
	rss1 = rss_bytes();
	hash1 = fuzz_harness_run(h, fixed, fixed_len);
	printf("%lu inputs in %.2f s (%.0f/s); heap %zu -> %zu bytes, rss %zu -> %zu KiB\n", count,
	       secs, count / (secs > 0 ? secs : 1), heap0, heap1, rss0 >> 10, rss1 >> 10);
	CHECK_EQ(hash1, hash0);
	/* flat: no more than a few reused buffers of slack */
	CHECK(heap1 <= heap0 + 64 * 1024);
#ifndef RS_ASAN
	CHECK(rss1 <= rss0 + 16 * 1024 * 1024);
#endif
	fuzz_harness_free(h);
}

int main(int argc, char **argv)
{
	const char *env = getenv("RS_FUZZ_MILLION");

	if (argc > 1)
		count = strtoul(argv[1], NULL, 0);
	else if (env && *env)
		count = strtoul(env, NULL, 0);
	RUN(test_million);
	return check_done();
}
