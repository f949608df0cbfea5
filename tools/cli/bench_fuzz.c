/*
 * ringside bench fuzz — fuzzing throughput.
 *
 *   ringside bench fuzz [--time SECONDS] [--targets T1,T2,...] [--mem-targets LIST|all]
 *                       [--coverage-times S1,S2,...] [--oracles LIST]
 *                       [--build-dir DIR] [--no-build]
 *
 * Every target's libFuzzer binary (fuzz preset: ASan + UBSan) fuzzes for
 * --time seconds (default 5) from its seeds with its dictionary, one process
 * at a time (one core each, nothing else of ours running); exec/s is the
 * executions libFuzzer reports (-print_final_stats=1) after the seeds were
 * loaded (its INITED line) over the time from there to its final
 * statistics: the steady fuzzing rate, without process start-up, seed
 * loading and exit. In the same run the empty target (harnesses/empty_target.c),
 * built the same way, gives the floor of libFuzzer itself. The table shows
 * each target's exec/s and its ratio to the floor; the last line is
 *   fuzz: median_ratio=<x>
 * (median over targets of target exec/s / empty-target exec/s).
 *
 * Arena size: a few targets (--mem-targets; "all" for every one) run again
 * with the machine's RAM at 1 MiB and at 1 GiB (RS_FUZZ_MEM); the reset
 * costs what an input touched, so exec/s must not drop with arena size. The
 * line before the last is `fuzz: arena_1g_over_1m=<median ratio>`.
 *
 * --coverage-times 60,600 (expensive: the longest time per target) reports
 * the edge coverage (libFuzzer's cov:) after loading the seeds and at each
 * of those times.
 *
 * --oracles LIST runs every target (the empty one has none) with
 * RS_FUZZ_ORACLES=LIST instead of every oracle, to see what they cost.
 */
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"

#define BENCH_MAX_TIMES 8
#define BENCH_DEFAULT_MEM_TARGETS "blk_pci_modern,net_pci_modern,machine"

struct bench_run {
	double secs;          /* wall time of the process */
	uint64_t execs;
	double exec_s;
	uint64_t cov_seeds;   /* cov: once the seeds were loaded (INITED) */
	uint64_t cov_at[BENCH_MAX_TIMES];
	uint64_t cov_end;
	bool crashed;         /* stopped early: a crash, leak or oracle report */
	char error[256];
};

struct bench_opts {
	unsigned time_s;
	const char *targets;      /* comma list or NULL: all */
	const char *mem_targets;  /* comma list, "all", or "" for none */
	unsigned cov_times[BENCH_MAX_TIMES];
	unsigned ncov;
	const char *oracles;      /* RS_FUZZ_ORACLES for the targets, NULL: all */
};

/* name in a comma-separated list. */
static bool in_list(const char *list, const char *name)
{
	size_t len = strlen(name);

	for (const char *p = list; p && *p;) {
		const char *e = strchr(p, ',');
		size_t n = e ? (size_t)(e - p) : strlen(p);

		if (n == len && !strncmp(p, name, len))
			return true;
		p += n + (e ? 1 : 0);
	}
	return false;
}

/*
 * Run the libFuzzer binary bin for secs seconds with the seeds of t (NULL:
 * none) in a fresh scratch corpus, with env entries added (NULL-terminated,
 * may be NULL). Coverage is sampled at the times in cov_times. 0 or -errno.
 */
static int bench_one(const struct cli_fuzz_ctx *c, const char *bin,
		     const struct cli_fuzz_target *t, unsigned secs, const char *const *env,
		     const unsigned *cov_times, unsigned ncov, struct bench_run *r)
{
	char scratch[CLI_PATH], corpus[CLI_PATH], a_time[32], a_dict[CLI_PATH + 8];
	char a_art[CLI_PATH + 24], line[4096];
	char *argv[16];
	unsigned a = 0, next_t = 0;
	struct cli_lf_stats *s = calloc(1, sizeof(*s));
	int pfd[2];
	FILE *in;
	pid_t pid;
	double start, t_inited = 0, t_final = 0;
	uint64_t e_inited = 0;
	int st;

	memset(r, 0, sizeof(*r));
	if (!s)
		return -ENOMEM;
	/* a fresh corpus for every run: nothing learnt in one run helps the next */
	if (!cli_path(scratch, "%s/work/bench", c->build) ||
	    !cli_path(corpus, "%s/corpus-%d", scratch, (int)getpid())) {
		free(s);
		return -ENAMETOOLONG;
	}
	{
		char *rm[] = { "rm", "-rf", corpus, NULL };
		pid_t p = cli_spawn(rm, NULL, NULL, -1, -1, false);

		if (p > 0)
			cli_wait(p);
	}
	if (cli_mkdirs(corpus) < 0 || (t && cli_copy_seeds(t, corpus, NULL) < 0)) {
		free(s);
		return -EIO;
	}
	snprintf(a_time, sizeof(a_time), "-max_total_time=%u", secs);
	snprintf(a_art, sizeof(a_art), "-artifact_prefix=%s/", scratch);
	argv[a++] = (char *)bin;
	argv[a++] = a_time;
	argv[a++] = "-print_final_stats=1";
	argv[a++] = a_art;
	if (t && t->dict[0]) {
		snprintf(a_dict, sizeof(a_dict), "-dict=%s", t->dict);
		argv[a++] = a_dict;
	}
	argv[a++] = corpus;
	argv[a] = NULL;
	if (pipe(pfd) < 0) {
		free(s);
		return -errno;
	}
	start = cli_now();
	pid = cli_spawn(argv, env, NULL, pfd[1], pfd[1], false);
	close(pfd[1]);
	if (pid < 0) {
		close(pfd[0]);
		free(s);
		return -errno;
	}
	in = fdopen(pfd[0], "r");
	while (in && fgets(line, sizeof(line), in)) {
		double now = cli_now() - start;

		/* coverage at time T: the last status line before T */
		while (next_t < ncov && now >= cov_times[next_t])
			r->cov_at[next_t++] = s->cov;
		cli_lf_line(s, line);
		if (strstr(line, "INITED")) {
			/* the seeds are in: fuzzing proper starts here */
			r->cov_seeds = s->cov;
			t_inited = now;
			e_inited = s->execs;
		}
		if (!t_final && s->have_final)
			t_final = now;
	}
	if (in)
		fclose(in);
	st = cli_wait(pid);
	r->secs = cli_now() - start;
	while (next_t < ncov)
		r->cov_at[next_t++] = s->cov;
	r->execs = s->have_final ? s->final_execs : s->execs;
	/* exec/s while fuzzing: from INITED to the final statistics (process
	 * start-up, seed loading and exit are not the engine's steady rate) */
	if (!t_final)
		t_final = r->secs;
	if (t_final > t_inited && r->execs > e_inited)
		r->exec_s = (double)(r->execs - e_inited) / (t_final - t_inited);
	else
		r->exec_s = r->secs > 0 ? (double)r->execs / r->secs : 0;
	r->cov_end = s->cov;
	r->crashed = !(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	if (r->crashed)
		snprintf(r->error, sizeof(r->error), "%.255s", s->first_error);
	r->error[strcspn(r->error, "\n")] = 0;
	{
		char *rm[] = { "rm", "-rf", corpus, NULL };
		pid_t p = cli_spawn(rm, NULL, NULL, -1, -1, false);

		if (p > 0)
			cli_wait(p);
	}
	free(s);
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, unsigned n)
{
	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int bench_usage(FILE *f)
{
	fputs("usage: ringside bench fuzz [--time SECONDS] [--targets T1,T2,...]\n"
	      "                           [--mem-targets LIST|all|none]\n"
	      "                           [--coverage-times S1,S2,...] [--oracles LIST]\n"
	      "                           [--build-dir DIR] [--no-build]\n"
	      "  exec/s of every fuzz target (libFuzzer, fuzz preset), one at a time, against\n"
	      "  an empty libFuzzer target; arena 1 MiB vs 1 GiB; optional coverage at\n"
	      "  given times; --oracles: only those oracles (RS_FUZZ_ORACLES).\n"
	      "  Last line: fuzz: median_ratio=<x>\n",
	      f);
	return f == stdout ? 0 : 2;
}

/* "60,600" -> times (each 1..86400, increasing). */
static bool parse_times(const char *s, struct bench_opts *o)
{
	o->ncov = 0;
	while (s && *s) {
		char *end;
		unsigned long v;

		if (!isdigit((unsigned char)*s) || o->ncov == BENCH_MAX_TIMES)
			return false;
		v = strtoul(s, &end, 10);
		if (v < 1 || v > 86400 || (o->ncov && v <= o->cov_times[o->ncov - 1]))
			return false;
		o->cov_times[o->ncov++] = (unsigned)v;
		if (*end == ',')
			end++;
		else if (*end)
			return false;
		s = end;
	}
	return o->ncov > 0;
}

int cmd_bench_fuzz(int argc, char **argv)
{
	struct bench_opts o = { .time_s = 5, .mem_targets = BENCH_DEFAULT_MEM_TARGETS };
	const char *build_dir = NULL;
	bool no_build = false;
	struct cli_fuzz_ctx c;
	char bin[CLI_PATH];
	struct bench_run empty, r;
	double *ratios = NULL, *mem_ratios = NULL;
	unsigned nratios = 0, nmem = 0, ntargets = 0;
	char oracle_env[128];
	const char *env_list[] = { oracle_env, NULL };
	const char *const *env;
	int rc = 0;

	for (int a = 1; a < argc; a++) {
		const char *arg = argv[a];
		const char *val = a + 1 < argc ? argv[a + 1] : NULL;

		if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
			return bench_usage(stdout);
		} else if (!strcmp(arg, "--time")) {
			char *end;
			unsigned long v = val && isdigit((unsigned char)*val) ? strtoul(val, &end, 10)
									      : 0;

			if (!v || *end || v > 3600)
				return cli_error("bench fuzz: --time wants seconds (1..3600)");
			o.time_s = (unsigned)v;
			a++;
		} else if (!strcmp(arg, "--targets")) {
			if (!val || !*val)
				return cli_error("bench fuzz: --targets wants a comma list");
			o.targets = val;
			a++;
		} else if (!strcmp(arg, "--mem-targets")) {
			if (!val)
				return cli_error("bench fuzz: --mem-targets wants a list, all or none");
			o.mem_targets = strcmp(val, "none") ? val : "";
			a++;
		} else if (!strcmp(arg, "--coverage-times")) {
			if (!parse_times(val, &o))
				return cli_error("bench fuzz: --coverage-times wants increasing "
						 "seconds, e.g. 60,600");
			a++;
		} else if (!strcmp(arg, "--oracles")) {
			if (!val || !*val || strlen(val) > 100 || strpbrk(val, " \t\n="))
				return cli_error("bench fuzz: --oracles wants a comma list of "
						 "oracles, all or none");
			o.oracles = val;
			a++;
		} else if (!strcmp(arg, "--build-dir")) {
			if (!val)
				return cli_error("bench fuzz: --build-dir wants a directory");
			build_dir = val;
			a++;
		} else if (!strcmp(arg, "--no-build")) {
			no_build = true;
		} else {
			return cli_error("bench fuzz: unknown option '%s'", arg);
		}
	}
	if (cli_fuzz_context(&c, CLI_ENGINE_LIBFUZZER, build_dir))
		return 2;
	/* every name given must be a target */
	for (unsigned pass = 0; pass < 2 && c.n; pass++) {
		const char *list = pass ? o.mem_targets : o.targets;

		for (const char *p = list; p && *p && strcmp(list, "all");) {
			char name[64];
			const char *e = strchr(p, ',');
			size_t n = e ? (size_t)(e - p) : strlen(p);

			snprintf(name, sizeof(name), "%.*s", (int)(n < 63 ? n : 63), p);
			if (!cli_fuzz_find(c.t, c.n, name)) {
				rc = cli_fuzz_unknown("bench fuzz", name, c.t, c.n);
				cli_fuzz_context_free(&c);
				return rc;
			}
			p += n + (e ? 1 : 0);
		}
	}
	if (!no_build) {
		/* the whole fuzz preset: every libFuzzer binary, seeds, dictionaries */
		const char *tg[] = { "all" };

		if (cli_fuzz_build(c.src, c.build, CLI_ENGINE_LIBFUZZER, tg, 1)) {
			cli_fuzz_context_free(&c);
			return 1;
		}
	}
	if (cli_fuzz_reload(&c)) {
		cli_fuzz_context_free(&c);
		return 1;
	}
	if (!cli_path(bin, "%s/bin/fuzz_empty_libfuzzer", c.build) || access(bin, X_OK) < 0) {
		rc = cli_error("bench fuzz: %s missing: %s is not a fuzz-preset build", bin, c.build);
		cli_fuzz_context_free(&c);
		return rc;
	}
	ratios = calloc(c.n + 1, sizeof(*ratios));
	mem_ratios = calloc(c.n + 1, sizeof(*mem_ratios));
	if (!ratios || !mem_ratios) {
		free(ratios);
		free(mem_ratios);
		cli_fuzz_context_free(&c);
		return cli_error("out of memory");
	}

	snprintf(oracle_env, sizeof(oracle_env), "RS_FUZZ_ORACLES=%s", o.oracles ? o.oracles : "");
	env = o.oracles ? env_list : NULL;
	printf("ringside bench fuzz: libFuzzer exec/s per target, %u s each, one process at a "
	       "time\n  build %s\n  oracles: %s\n\n", o.time_s, c.build,
	       o.oracles ? o.oracles : "all");
	printf("%-22s %10s %10s %8s %7s\n", "target", "execs", "exec/s", "ratio", "cov");
	fflush(stdout);
	if (bench_one(&c, bin, NULL, o.time_s, NULL, NULL, 0, &empty) < 0 || empty.exec_s <= 0) {
		free(ratios);
		free(mem_ratios);
		cli_fuzz_context_free(&c);
		return cli_error("bench fuzz: the empty target did not run");
	}
	printf("%-22s %10llu %10.0f %8.3f %7s\n", "(empty target)",
	       (unsigned long long)empty.execs, empty.exec_s, 1.0, "-");
	fflush(stdout);
	for (unsigned i = 0; i < c.n; i++) {
		const struct cli_fuzz_target *t = &c.t[i];

		if (!t->bin_libfuzzer[0] || (o.targets && !in_list(o.targets, t->name)))
			continue;
		if (!cli_path(bin, "%s/bin/%s", c.build, t->bin_libfuzzer))
			continue;
		if (bench_one(&c, bin, t, o.time_s, env, NULL, 0, &r) < 0) {
			printf("%-22s %10s\n", t->name, "(did not run)");
			rc = 1;
			continue;
		}
		ntargets++;
		ratios[nratios++] = r.exec_s / empty.exec_s;
		printf("%-22s %10llu %10.0f %8.3f %7llu%s%s\n", t->name,
		       (unsigned long long)r.execs, r.exec_s, r.exec_s / empty.exec_s,
		       (unsigned long long)r.cov_end, r.crashed ? "  STOPPED: " : "",
		       r.crashed ? (r.error[0] ? r.error : "crash") : "");
		if (r.crashed)
			rc = 1;
		fflush(stdout);
	}

	/* arena size */
	if (o.mem_targets && *o.mem_targets) {
		const char *const env_1m[] = { "RS_FUZZ_MEM=1M", env ? env[0] : NULL, NULL };
		const char *const env_1g[] = { "RS_FUZZ_MEM=1G", env ? env[0] : NULL, NULL };

		printf("\narena size (RS_FUZZ_MEM): exec/s with 1 MiB and 1 GiB of guest RAM\n");
		printf("%-22s %12s %12s %8s\n", "target", "1 MiB", "1 GiB", "1G/1M");
		for (unsigned i = 0; i < c.n; i++) {
			const struct cli_fuzz_target *t = &c.t[i];
			struct bench_run small, big;

			if (!t->bin_libfuzzer[0] || !strcmp(t->name, "trace_reader") ||
			    !strcmp(t->name, "ring") ||
			    (strcmp(o.mem_targets, "all") && !in_list(o.mem_targets, t->name)))
				continue;
			if (!cli_path(bin, "%s/bin/%s", c.build, t->bin_libfuzzer))
				continue;
			if (bench_one(&c, bin, t, o.time_s, env_1m, NULL, 0, &small) < 0 ||
			    bench_one(&c, bin, t, o.time_s, env_1g, NULL, 0, &big) < 0 ||
			    small.exec_s <= 0) {
				printf("%-22s %12s\n", t->name, "(did not run)");
				rc = 1;
				continue;
			}
			mem_ratios[nmem++] = big.exec_s / small.exec_s;
			printf("%-22s %12.0f %12.0f %8.3f%s\n", t->name, small.exec_s, big.exec_s,
			       big.exec_s / small.exec_s,
			       small.crashed || big.crashed ? "  STOPPED (crash)" : "");
			fflush(stdout);
		}
	}

	/* coverage over time */
	if (o.ncov) {
		unsigned longest = o.cov_times[o.ncov - 1];

		printf("\nedge coverage (libFuzzer cov:) after the seeds and at");
		for (unsigned k = 0; k < o.ncov; k++)
			printf(" %u s", o.cov_times[k]);
		printf("\n%-22s %8s", "target", "seeds");
		for (unsigned k = 0; k < o.ncov; k++) {
			char h[16];

			snprintf(h, sizeof(h), "%us", o.cov_times[k]);
			printf(" %8s", h);
		}
		printf("\n");
		fflush(stdout);
		for (unsigned i = 0; i < c.n; i++) {
			const struct cli_fuzz_target *t = &c.t[i];

			if (!t->bin_libfuzzer[0] || (o.targets && !in_list(o.targets, t->name)))
				continue;
			if (!cli_path(bin, "%s/bin/%s", c.build, t->bin_libfuzzer))
				continue;
			if (bench_one(&c, bin, t, longest, env, o.cov_times, o.ncov, &r) < 0)
				continue;
			printf("%-22s %8llu", t->name, (unsigned long long)r.cov_seeds);
			for (unsigned k = 0; k < o.ncov; k++)
				printf(" %8llu", (unsigned long long)r.cov_at[k]);
			printf("%s\n", r.crashed ? "  STOPPED (crash)" : "");
			fflush(stdout);
		}
	}

	printf("\n%u targets; empty target %.0f exec/s\n", ntargets, empty.exec_s);
	if (nmem)
		printf("fuzz: arena_1g_over_1m=%.3f\n", median(mem_ratios, nmem));
	printf("fuzz: median_ratio=%.4f\n", median(ratios, nratios));
	free(ratios);
	free(mem_ratios);
	cli_fuzz_context_free(&c);
	return rc;
}
