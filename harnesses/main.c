/*
 * ringside — one main for every fuzz target, built three ways
 * (harnesses/CMakeLists.txt):
 *
 *   RS_FUZZ_ENGINE=0  standalone regression driver (every preset):
 *                     runs files or directories through the entry point,
 *                     no fuzzer runtime                  -> bin/fuzz_<target>
 *   RS_FUZZ_ENGINE=1  libFuzzer (RS_FUZZ=ON, -fsanitize=fuzzer)
 *                                                         -> bin/fuzz_<target>_libfuzzer
 *   RS_FUZZ_ENGINE=2  AFL++ persistent mode with shared-memory test cases
 *                     (built with afl-clang-fast/-lto; cmplog: build with
 *                     AFL_LLVM_CMPLOG=1)                    -> bin/fuzz_<target>_afl
 *
 * The target comes from compile definitions: RS_FUZZ_TARGET (name),
 * RS_FUZZ_KIND (enum fuzz_kind), RS_FUZZ_DEVICE and RS_FUZZ_TRANSPORT.
 * All three call the same entry point, LLVMFuzzerTestOneInput.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

#ifndef RS_FUZZ_ENGINE
#define RS_FUZZ_ENGINE 0
#endif
#ifndef RS_FUZZ_DEVICE
#define RS_FUZZ_DEVICE NULL
#endif
#ifndef RS_FUZZ_TRANSPORT
#define RS_FUZZ_TRANSPORT NULL
#endif

static const struct fuzz_target target = {
	.name = RS_FUZZ_TARGET,
	.kind = RS_FUZZ_KIND,
	.device = RS_FUZZ_DEVICE,
	.transport = RS_FUZZ_TRANSPORT,
};

static struct fuzz_harness *harness;

/* Build the target once; a target that cannot be built is fatal. */
static struct fuzz_harness *get_harness(void)
{
	char err[256];

	if (!harness) {
		harness = fuzz_harness_new(&target, err, sizeof(err));
		if (!harness) {
			fprintf(stderr, "fuzz_%s: %s\n", target.name, err);
			exit(2);
		}
	}
	return harness;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Under a fuzzing engine the driver's misbehaviour is counted, not described
 * (diag_set_brief): the standalone driver keeps every message. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	diag_set_brief(true);
	(void)get_harness();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	(void)fuzz_harness_run(get_harness(), data, size);
	return 0;
}

#if RS_FUZZ_ENGINE != 1

/* ---- the standalone driver (also what the AFL build does with arguments) ------------ */

struct opts {
	bool list, trace, hash, missing_ok;
	unsigned repeat;
	unsigned long inputs, ops;
	int failures;
};

static int read_file(const char *path, uint8_t **buf, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *b = NULL;
	size_t cap = 0, n = 0;

	if (!f)
		return -errno;
	for (;;) {
		if (n == cap) {
			uint8_t *nb = realloc(b, cap ? cap * 2 : 4096);

			if (!nb) {
				free(b);
				fclose(f);
				return -ENOMEM;
			}
			b = nb;
			cap = cap ? cap * 2 : 4096;
		}
		size_t got = fread(b + n, 1, cap - n, f);

		n += got;
		if (got == 0)
			break;
	}
	fclose(f);
	*buf = b;
	*len = n;
	return 0;
}

static void run_one(struct opts *o, const char *path)
{
	struct fuzz_harness *h = get_harness();
	uint8_t *buf = NULL;
	size_t len = 0;
	uint64_t first = 0;
	unsigned nops = 0;
	int r = read_file(path, &buf, &len);

	if (r < 0) {
		fprintf(stderr, "fuzz_%s: %s: %s\n", target.name, path, strerror(-r));
		o->failures++;
		return;
	}
	if (o->list) {
		printf("== %s\n", path);
		if (target.kind == FUZZ_MACHINE && len)
			printf("# machine %u\n", buf[0]);
		fuzz_list(fuzz_harness_opset(h), buf + (target.kind == FUZZ_MACHINE && len),
			  len - (target.kind == FUZZ_MACHINE && len), stdout);
	}
	if (o->trace) {
		printf("== %s (execution)\n", path);
		fuzz_harness_trace(h, stdout);
	}
	for (unsigned i = 0; i < o->repeat; i++) {
		uint64_t hash;

		/* the same entry point libFuzzer and AFL++ use */
		if (!o->hash && i == 0 && o->repeat == 1) {
			LLVMFuzzerTestOneInput(buf, len);
			break;
		}
		hash = fuzz_harness_run(h, buf, len);
		if (i == 0)
			first = hash;
		else if (hash != first) {
			fprintf(stderr, "fuzz_%s: %s: run %u gave hash %016llx, run 1 %016llx\n",
				target.name, path, i + 1, (unsigned long long)hash,
				(unsigned long long)first);
			o->failures++;
			break;
		}
	}
	fuzz_harness_trace(h, NULL);
	fuzz_harness_stats(h, &nops, NULL, NULL);
	if (o->hash)
		printf("%016llx %s\n", (unsigned long long)first, path);
	o->inputs++;
	o->ops += nops;
	free(buf);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every regular file of dir (not those starting with '.'), sorted by name. */
static void run_dir(struct opts *o, const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **names = NULL;
	size_t n = 0, cap = 0;

	if (!d) {
		fprintf(stderr, "fuzz_%s: %s: %s\n", target.name, dir, strerror(errno));
		o->failures++;
		return;
	}
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		if (n == cap) {
			char **nn = realloc(names, (cap ? cap * 2 : 64) * sizeof(*nn));

			if (!nn)
				break;
			names = nn;
			cap = cap ? cap * 2 : 64;
		}
		names[n] = malloc(strlen(dir) + strlen(e->d_name) + 2);
		if (!names[n])
			break;
		sprintf(names[n], "%s/%s", dir, e->d_name);
		n++;
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; i < n; i++) {
		struct stat st;

		if (stat(names[i], &st) == 0 && S_ISREG(st.st_mode))
			run_one(o, names[i]);
		free(names[i]);
	}
	free(names);
}

static int usage(void)
{
	fprintf(stderr,
		"usage: fuzz_%s [-l] [-v] [-H] [-m] [-n N] PATH...\n"
		"  runs each file (a directory: each file in it) through the target once\n"
		"  -l    print each input's op listing\n"
		"  -v    trace: print every op as it executes, with the data it took\n"
		"  -H    print each input's result hash\n"
		"  -m    skip paths that do not exist\n"
		"  -b    brief diagnostics, as under a fuzzing engine (for timing)\n"
		"  -n N  run each input N times and check the hash never changes\n",
		target.name);
	return 1;
}

static int standalone(int argc, char **argv)
{
	struct opts o = { .repeat = 1 };
	int i;

	for (i = 1; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
		if (strcmp(argv[i], "-l") == 0)
			o.list = true;
		else if (strcmp(argv[i], "-v") == 0)
			o.trace = true;
		else if (strcmp(argv[i], "-H") == 0)
			o.hash = true;
		else if (strcmp(argv[i], "-m") == 0)
			o.missing_ok = true;
		else if (strcmp(argv[i], "-b") == 0)
			diag_set_brief(true);
		else if (strcmp(argv[i], "-n") == 0 && i + 1 < argc && atoi(argv[i + 1]) > 0)
			o.repeat = (unsigned)atoi(argv[++i]);
		else
			return usage();
	}
	if (i == argc)
		return usage();
	for (; i < argc; i++) {
		struct stat st;

		if (stat(argv[i], &st) < 0 && o.missing_ok && errno == ENOENT) {
			continue;
		} else if (stat(argv[i], &st) < 0) {
			fprintf(stderr, "fuzz_%s: %s: %s\n", target.name, argv[i], strerror(errno));
			o.failures++;
		} else if (S_ISDIR(st.st_mode)) {
			run_dir(&o, argv[i]);
		} else {
			run_one(&o, argv[i]);
		}
	}
	printf("fuzz_%s: %lu inputs, %lu ops, %d errors\n", target.name, o.inputs, o.ops,
	       o.failures);
	fuzz_harness_free(harness);
	harness = NULL;
	return o.failures ? 1 : 0;
}

#endif /* RS_FUZZ_ENGINE != 1 */

#if RS_FUZZ_ENGINE == 0

int main(int argc, char **argv)
{
	return standalone(argc, argv);
}

#elif RS_FUZZ_ENGINE == 2

#include <unistd.h> /* the AFL++ macros read(2) the fork server's pipe */

#ifdef __AFL_FUZZ_TESTCASE_LEN
__AFL_FUZZ_INIT();
#endif

/* AFL++ persistent mode: the machine is built before the fork server
 * starts (deferred init), then each test case arrives in shared memory and
 * runs in-process; the harness resets after each one. With arguments it is
 * the standalone driver. */
int main(int argc, char **argv)
{
	if (argc > 1)
		return standalone(argc, argv);
	diag_set_brief(true);
	(void)get_harness();
#ifdef __AFL_FUZZ_TESTCASE_LEN
	__AFL_INIT();
	{
		unsigned char *buf = __AFL_FUZZ_TESTCASE_BUF;

		while (__AFL_LOOP(100000))
			LLVMFuzzerTestOneInput(buf, (size_t)__AFL_FUZZ_TESTCASE_LEN);
	}
#else
	{
		/* not built by afl-clang: one input from stdin */
		static uint8_t buf[1 << 20];
		size_t n = fread(buf, 1, sizeof(buf), stdin);

		LLVMFuzzerTestOneInput(buf, n);
	}
#endif
	return 0;
}

#endif
