/*
 * ringside — fuzz target: the trace reader.
 *
 * The input is a trace file. It is read twice through the memory reader —
 * once as a user would (every checksum tested), once with the checksums
 * ignored so mutated headers, frame headers and indexes reach the checks
 * behind them — with every event drained and printed, and seeks through the
 * frame index when there is one. Then the input is fed to the event decoder
 * directly as a frame body, so the fuzzer reaches event decoding without
 * having to produce zstd frames.
 *
 * Oracle besides the sanitizers: a failed open, read or seek always
 * carries an error code and a message.
 *
 * One source, three builds (replay/CMakeLists.txt):
 *   libFuzzer (RS_FUZZ_LIBFUZZER): LLVMFuzzerTestOneInput only;
 *   AFL++ (afl-clang-fast defines __AFL_FUZZ_TESTCASE_LEN): persistent mode
 *     with shared-memory test cases; given paths, runs them like the driver;
 *   otherwise a standalone regression driver: fuzz_trace_reader PATH...
 *     runs every file (directories: every file in them) once, exit 0.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "trace_priv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Largest file the standalone driver reads. */
#define DRIVER_MAX_INPUT (64u << 20)

static volatile uint64_t sink;

/* An error must say what it is. */
static void check_error(const struct trace_error *err)
{
	if (err->code == TRACE_OK || !err->msg[0]) {
		fprintf(stderr, "fuzz_trace_reader: error without code or message\n");
		abort();
	}
}

/* Read every event left; touch every byte handed out. */
static void drain(struct trace_reader *r)
{
	struct trace_event ev;
	struct trace_error err;
	char line[160];
	int rc;

	while ((rc = trace_read(r, &ev, &err)) == 1) {
		uint64_t h = ev.addr ^ ev.value ^ ev.size ^ ev.dev ^ ev.kind;
		for (uint32_t i = 0; i < ev.len; i++)
			h = h * 31 + ev.data[i];
		sink += h + trace_event_str(line, sizeof(line), &ev);
	}
	if (rc < 0)
		check_error(&err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct trace_event evs[256];
	struct trace_error err;
	struct trace_info info;
	size_t used;

	for (unsigned pass = 0; pass < 2; pass++) {
		unsigned flags = pass ? TRACE_RD_NO_CHECKSUM : 0;
		struct trace_reader *r = trace_reader_open_mem_flags(data, size, flags, &err);
		if (!r) {
			check_error(&err);
			continue;
		}
		sink += trace_reader_header(r)->world_len;
		drain(r);
		trace_reader_info(r, &info);
		if (!trace_reader_seek_event(r, info.index_events / 2, &err))
			drain(r);
		else
			check_error(&err);
		trace_reader_close(r);
	}
	if (trace_block_decode(data, size, evs, RS_ARRAY_SIZE(evs), &used, &err) < 0)
		check_error(&err);
	return 0;
}

#ifndef RS_FUZZ_LIBFUZZER

/* Run one file through the target. 0, or -1 when it cannot be read. */
static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t n = 0;

	if (!f) {
		perror(path);
		return -1;
	}
	buf = malloc(DRIVER_MAX_INPUT);
	if (buf)
		n = fread(buf, 1, DRIVER_MAX_INPUT, f);
	fclose(f);
	if (!buf) {
		fprintf(stderr, "%s: out of memory\n", path);
		return -1;
	}
	LLVMFuzzerTestOneInput(buf, n);
	free(buf);
	return 0;
}

/* Run a file, or every regular file of a directory (sorted). Adds to *count.
 * 0 or -1. */
static int run_path(const char *path, unsigned *count)
{
	struct dirent **names;
	struct stat st;
	int rc = 0;

	if (stat(path, &st)) {
		perror(path);
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		*count += 1;
		return run_file(path);
	}
	int n = scandir(path, &names, NULL, alphasort);
	if (n < 0) {
		perror(path);
		return -1;
	}
	for (int i = 0; i < n; i++) {
		char full[4096];
		snprintf(full, sizeof(full), "%s/%s", path, names[i]->d_name);
		if (names[i]->d_name[0] != '.' && !stat(full, &st) && S_ISREG(st.st_mode)) {
			*count += 1;
			rc |= run_file(full);
		}
		free(names[i]);
	}
	free(names);
	return rc;
}

/* The regression driver: every path given. Exit 0, or 1 when a path could
 * not be read, 2 without paths. */
static int run_paths(int argc, char **argv)
{
	unsigned count = 0;
	int rc = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
		return 2;
	}
	for (int i = 1; i < argc; i++)
		rc |= run_path(argv[i], &count);
	printf("fuzz_trace_reader: %u inputs run%s\n", count, rc ? ", some unreadable" : "");
	return rc ? 1 : 0;
}

#ifdef __AFL_FUZZ_TESTCASE_LEN
__AFL_FUZZ_INIT();

int main(int argc, char **argv)
{
	if (argc > 1)
		return run_paths(argc, argv);
	__AFL_INIT();
	const unsigned char *buf = __AFL_FUZZ_TESTCASE_BUF;
	while (__AFL_LOOP(100000))
		LLVMFuzzerTestOneInput(buf, (size_t)__AFL_FUZZ_TESTCASE_LEN);
	return 0;
}
#else
int main(int argc, char **argv)
{
	return run_paths(argc, argv);
}
#endif

#endif /* !RS_FUZZ_LIBFUZZER */
