/*
 * ringside repro — the crash workflow.
 *
 *   ringside repro FILE [--target T] [--build-dir DIR] [--no-build] [--full]
 *                       [--timeout SECONDS]
 *   ringside repro --minimize FILE -o OUT [--target T] [--time SECONDS] [--ddmin]
 *                       [--build-dir DIR] [--no-build]
 *
 * Replays a crash input through the target's standalone driver (the fuzz
 * preset's, built with ASan + UBSan, so sanitizer reports reproduce), prints
 * what executed, one op per line, and the oracle or sanitizer report; the
 * exit status says whether it still crashes (0: runs clean, 1: crashes or
 * hangs, 2: bad command line or input).
 *
 * The target is --target, or guessed from the path: a directory named after
 * a target (corpus/<t>/, corpus/regression/<t>/, <build>/work/<t>/...), or a
 * target name inside the file name (OSS-Fuzz's
 * clusterfuzz-testcase-minimized-<t>-<id>).
 *
 * --minimize writes a smaller input that still crashes: libFuzzer's
 * -minimize_crash=1 on the target's libFuzzer binary, or (--ddmin, or no
 * libFuzzer binary in the build) a built-in delta debugging over 16-byte op
 * records that keeps the crash's signature (oracle, sanitizer error kind and
 * place), each candidate run by the standalone driver in a child process.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"

#define REPRO_RECORD 16          /* op record size (docs/op-stream.md) */
#define REPRO_MAX_INPUT (64u << 20)

struct repro_opts {
	const char *file;
	const char *target;
	const char *build_dir;
	const char *out;
	bool no_build, full, minimize, ddmin;
	unsigned timeout_s;      /* one run */
	unsigned time_s;         /* whole minimization */
};

/* ---- guessing the target ------------------------------------------------------------ */

static bool name_char(char c)
{
	return isalnum((unsigned char)c) || c == '_';
}

/* The target a crash file belongs to, from its path; NULL if none. */
static const struct cli_fuzz_target *guess_target(const char *path,
						  const struct cli_fuzz_target *t, unsigned n)
{
	const struct cli_fuzz_target *best = NULL;
	const char *base = strrchr(path, '/');
	size_t best_len = 0;

	/* a directory component that is a target name (the last one wins) */
	for (const char *p = path; *p;) {
		const char *e = strchr(p, '/');
		size_t len;

		if (!e)
			break;
		len = (size_t)(e - p);
		for (unsigned i = 0; i < n; i++) {
			if (strlen(t[i].name) == len && !strncmp(p, t[i].name, len))
				best = &t[i];
		}
		p = e + 1;
	}
	if (best)
		return best;
	/* the longest target name inside the file name, as a whole word */
	base = base ? base + 1 : path;
	for (unsigned i = 0; i < n; i++) {
		size_t len = strlen(t[i].name);

		for (const char *h = strstr(base, t[i].name); h; h = strstr(h + 1, t[i].name)) {
			if ((h == base || !name_char(h[-1])) && !name_char(h[len]) && len > best_len) {
				best = &t[i];
				best_len = len;
			}
		}
	}
	return best;
}

/* ---- running one input -------------------------------------------------------------- */

static int read_input(const char *path, uint8_t **buf, size_t *len)
{
	struct stat st;
	FILE *f;

	if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
		return -ENOENT;
	if ((uint64_t)st.st_size > REPRO_MAX_INPUT)
		return -EFBIG;
	f = fopen(path, "rb");
	if (!f)
		return -errno;
	*len = (size_t)st.st_size;
	*buf = malloc(*len ? *len : 1);
	if (!*buf || fread(*buf, 1, *len, f) != *len) {
		free(*buf);
		fclose(f);
		return -EIO;
	}
	fclose(f);
	return 0;
}

static int write_file(const char *path, const uint8_t *buf, size_t len)
{
	FILE *f = fopen(path, "wb");
	int r = 0;

	if (!f)
		return -errno;
	if (len && fwrite(buf, 1, len, f) != len)
		r = -EIO;
	if (fclose(f) != 0)
		r = -EIO;
	return r;
}

/* Outcome of one run of the standalone driver. */
struct run_result {
	int status;           /* wait status */
	bool timed_out;
	bool crashed;         /* died, failed, or timed out */
	char sig[256];        /* crash signature ("" when clean) */
};

static volatile sig_atomic_t alarm_fired;

static void on_alarm(int sig)
{
	(void)sig;
	alarm_fired = 1;
}

/* Copy the "file:line" that precedes ": runtime error:" in line into out
 * (only the file's last path component). */
static void ubsan_place(const char *line, char *out, size_t len)
{
	const char *re = strstr(line, ": runtime error:");
	const char *start = line, *slash;
	int colons = 0;
	const char *end = re;

	/* "path/file.c:LINE:COL: runtime error:" -> "file.c:LINE" */
	for (const char *p = re; p > line; p--) {
		if (p[-1] == ':' && ++colons == 1)
			end = p - 1;
		if (p[-1] == ' ') {
			start = p;
			break;
		}
	}
	slash = memrchr(start, '/', (size_t)(end - start));
	if (slash)
		start = slash + 1;
	snprintf(out, len, "%.*s", (int)(end - start), start);
}

/* The crash signature of a run from its stderr: the oracle's name, the
 * sanitizer error kind (with the function of the top frame) or the UBSan
 * place; else the signal or exit status. */
static void crash_signature(FILE *err, int status, bool timed_out, char *sig, size_t len)
{
	char line[2048];
	bool asan = false;

	sig[0] = 0;
	if (timed_out) {
		snprintf(sig, len, "timeout");
		return;
	}
	rewind(err);
	while (fgets(line, sizeof(line), err)) {
		char *p;

		if ((p = strstr(line, "BUG found by oracle '"))) {
			char name[64] = "";

			sscanf(p + strlen("BUG found by oracle '"), "%63[^']", name);
			snprintf(sig, len, "oracle %s", name);
			return;
		}
		if ((p = strstr(line, "ERROR: AddressSanitizer: ")) ||
		    (p = strstr(line, "ERROR: MemorySanitizer: "))) {
			char kind[64] = "";

			sscanf(strchr(p, ':') + 1, " %*s %63s", kind);
			snprintf(sig, len, "%s %s", strstr(p, "Memory") ? "msan" : "asan", kind);
			asan = true;
			continue;
		}
		if (asan && (p = strstr(line, "#0 ")) && strstr(p, " in ")) {
			char fn[128] = "";

			sscanf(strstr(p, " in ") + 4, "%127s", fn);
			size_t used = strlen(sig);
			snprintf(sig + used, len - used, " in %s", fn);
			return;
		}
		if (!asan && strstr(line, ": runtime error:")) {
			char place[200];

			ubsan_place(line, place, sizeof(place));
			snprintf(sig, len, "ubsan %s", place);
			return;
		}
		if (!asan && strstr(line, "ERROR: LeakSanitizer")) {
			snprintf(sig, len, "leak");
			return;
		}
	}
	if (sig[0])
		return;
	if (WIFSIGNALED(status))
		snprintf(sig, len, "signal %d", WTERMSIG(status));
	else if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
		snprintf(sig, len, "exit %d", WEXITSTATUS(status));
}

/* Run argv with stdout to out_path and stderr to the stream *err (a temp
 * file, rewound), killing it after timeout_s. */
static int run_driver(char *const argv[], const char *out_path, FILE *err, unsigned timeout_s,
		      struct run_result *r)
{
	static const char *const env[] = {
		"UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1",
		NULL,
	};
	struct sigaction sa, old;
	int out_fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0666);
	pid_t pid;

	memset(r, 0, sizeof(*r));
	if (out_fd < 0)
		return -errno;
	if (ftruncate(fileno(err), 0) < 0)
		return -errno;
	rewind(err);
	pid = cli_spawn(argv, env, NULL, out_fd, fileno(err), true);
	close(out_fd);
	if (pid < 0)
		return -errno;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, &old);
	alarm_fired = 0;
	alarm(timeout_s);
	for (;;) {
		int st;
		pid_t w = waitpid(pid, &st, 0);

		if (w == pid) {
			r->status = st;
			break;
		}
		if (w < 0 && errno == EINTR && alarm_fired) {
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			r->timed_out = true;
			alarm_fired = 0;
		} else if (w < 0 && errno != EINTR) {
			break;
		}
	}
	alarm(0);
	sigaction(SIGALRM, &old, NULL);
	r->crashed = r->timed_out || WIFSIGNALED(r->status) ||
		     (WIFEXITED(r->status) && WEXITSTATUS(r->status) != 0);
	if (r->crashed)
		crash_signature(err, r->status, r->timed_out, r->sig, sizeof(r->sig));
	return 0;
}

/* A line of the driver's stderr worth showing in the report. */
static bool report_line(const char *line)
{
	static const char *const keys[] = {
		"==ringside-fuzz==", "ERROR: ", "runtime error:", "SUMMARY: ", " of size ",
		"is located", "freed by thread", "previously allocated", "allocated by thread",
		"Direct leak", "Indirect leak",
	};

	for (unsigned i = 0; i < RS_ARRAY_SIZE(keys); i++) {
		if (strstr(line, keys[i]))
			return true;
	}
	return false;
}

/* Print the report part of a crashed run: key lines and the first frames
 * of each stack (all of it with full). */
static void print_report(FILE *err, bool full)
{
	char line[2048];
	unsigned frames = 0;

	rewind(err);
	while (fgets(line, sizeof(line), err)) {
		const char *p = line;

		if (full) {
			fputs(line, stdout);
			continue;
		}
		while (*p == ' ')
			p++;
		if (p[0] == '#' && isdigit((unsigned char)p[1])) {
			if (frames++ < 6)
				printf("  %s", line);
			continue;
		}
		if (report_line(line)) {
			frames = 0;
			printf("  %s", line);
		}
	}
}

/* ---- the command's pieces ------------------------------------------------------------ */

/* The binary to replay with: the standalone driver, or (trace reader in a
 * libFuzzer build) the libFuzzer binary, which runs files given to it. */
static const char *replay_binary(const struct cli_fuzz_target *t)
{
	return t->bin_standalone[0] ? t->bin_standalone : t->bin_libfuzzer;
}

/* Harness targets take -v (print each op as it executes). */
static bool has_trace(const struct cli_fuzz_target *t)
{
	return t->bin_standalone[0] && strcmp(t->name, "trace_reader");
}

struct repro_env {
	struct cli_fuzz_ctx c;
	const struct cli_fuzz_target *t;
	char bin[CLI_PATH];
	char scratch[CLI_PATH];   /* <build>/work/repro */
	FILE *err;
};

/* Resolve the target, build what is needed, open the scratch space. 0, or
 * the exit status after an error. */
static int repro_setup(struct repro_env *e, const struct repro_opts *o, bool need_libfuzzer)
{
	const char *tg[2];
	unsigned ntg = 0;
	char bin_lf[160];

	memset(e, 0, sizeof(*e));
	if (access(o->file, R_OK) < 0)
		return cli_error("repro: %s: %s", o->file, strerror(errno));
	if (cli_fuzz_context(&e->c, CLI_ENGINE_LIBFUZZER, o->build_dir))
		return 2;
	if (!e->c.n) {
		/* no target list anywhere yet: configure the build for one */
		if (!o->no_build &&
		    cli_fuzz_build(e->c.src, e->c.build, CLI_ENGINE_LIBFUZZER, NULL, 0))
			return 1;
		if (cli_fuzz_reload(&e->c))
			return 1;
	}
	if (o->target) {
		e->t = cli_fuzz_find(e->c.t, e->c.n, o->target);
		if (!e->t)
			return cli_fuzz_unknown("repro", o->target, e->c.t, e->c.n);
	} else {
		e->t = guess_target(o->file, e->c.t, e->c.n);
		if (!e->t)
			return cli_error("repro: cannot tell the target of %s from its path; "
					 "give --target ('ringside fuzz --list')", o->file);
	}
	if (!o->no_build) {
		char bin_sa[160];

		if (!strcmp(e->t->name, "trace_reader")) {
			snprintf(bin_sa, sizeof(bin_sa), "fuzz_trace_reader");
		} else {
			snprintf(bin_sa, sizeof(bin_sa), "fuzz_%s", e->t->name);
			snprintf(bin_lf, sizeof(bin_lf), "fuzz_%s_libfuzzer", e->t->name);
		}
		tg[ntg++] = bin_sa;
		if (need_libfuzzer && strcmp(e->t->name, "trace_reader"))
			tg[ntg++] = bin_lf;
		if (cli_fuzz_build(e->c.src, e->c.build, CLI_ENGINE_LIBFUZZER, tg, ntg))
			return 1;
	}
	char name[64];

	snprintf(name, sizeof(name), "%s", e->t->name);
	if (cli_fuzz_reload(&e->c))
		return 1;
	e->t = cli_fuzz_find(e->c.t, e->c.n, name);
	if (!e->t)
		return cli_fuzz_unknown("repro", name, e->c.t, e->c.n);
	if (!replay_binary(e->t)[0] ||
	    !cli_path(e->bin, "%s/bin/%s", e->c.build, replay_binary(e->t)) ||
	    access(e->bin, X_OK) < 0)
		return cli_error("repro: no driver for %s in %s (build it, or drop --no-build)",
				 e->t->name, e->c.build);
	if (!cli_path(e->scratch, "%s/work/repro", e->c.build) || cli_mkdirs(e->scratch) < 0)
		return cli_error("repro: cannot create %s/work/repro", e->c.build);
	e->err = tmpfile();
	if (!e->err)
		return cli_error("repro: no temporary file: %s", strerror(errno));
	return 0;
}

static void repro_free(struct repro_env *e)
{
	if (e->err)
		fclose(e->err);
	cli_fuzz_context_free(&e->c);
}

/* Run path through the driver (with the op trace when it has one). */
static int run_input(struct repro_env *e, const char *path, bool trace, unsigned timeout_s,
		     struct run_result *r)
{
	char out[CLI_PATH];
	char *argv[4];
	unsigned a = 0;

	if (!cli_path(out, "%s/stdout", e->scratch))
		return -ENAMETOOLONG;
	argv[a++] = e->bin;
	if (trace && has_trace(e->t))
		argv[a++] = "-v";
	argv[a++] = (char *)path;
	argv[a] = NULL;
	return run_driver(argv, out, e->err, timeout_s, r);
}

/* The op trace from the driver's stdout, without its header and footer. */
static unsigned print_trace(struct repro_env *e, const char *target)
{
	char path[CLI_PATH], line[4096], footer[128];
	unsigned ops = 0;
	FILE *f;

	if (!cli_path(path, "%s/stdout", e->scratch))
		return 0;
	snprintf(footer, sizeof(footer), "fuzz_%s: ", target);
	f = fopen(path, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "== ", 3) || !strncmp(line, footer, strlen(footer)))
			continue;
		fputs(line, stdout);
		if (isdigit((unsigned char)line[strspn(line, " ")]))
			ops++;
	}
	fclose(f);
	return ops;
}

/* ---- replay ------------------------------------------------------------------------- */

static int repro_replay(const struct repro_opts *o)
{
	struct repro_env e;
	struct run_result r;
	struct stat st;
	int rc = repro_setup(&e, o, false);

	if (rc) {
		repro_free(&e);
		return rc;
	}
	stat(o->file, &st);
	printf("ringside repro: %s (%lld bytes), target %s\n  driver %s\n\n", o->file,
	       (long long)st.st_size, e.t->name, e.bin);
	fflush(stdout);
	if (run_input(&e, o->file, true, o->timeout_s, &r) < 0) {
		repro_free(&e);
		return cli_error("repro: cannot run %s", e.bin);
	}
	if (has_trace(e.t)) {
		printf("ops as executed (op number, offset in the input, op, fields):\n");
		print_trace(&e, e.t->name);
	}
	if (r.crashed) {
		printf("\nresult: CRASH (%s)%s\n", r.sig[0] ? r.sig : "?",
		       r.timed_out ? ": still running after the time limit" : "");
		print_report(e.err, o->full);
		printf("\nstill crashes: yes\n");
		rc = 1;
	} else {
		printf("\nresult: no crash, no oracle report: the input runs clean\n");
		printf("still crashes: no\n");
		rc = 0;
	}
	repro_free(&e);
	return rc;
}

/* ---- minimization ------------------------------------------------------------------- */

/* libFuzzer's crash minimizer, output to o->out. 0 when it wrote it. */
static int minimize_libfuzzer(struct repro_env *e, const struct repro_opts *o)
{
	char bin[CLI_PATH], a_time[48], a_out[CLI_PATH + 32];
	char *argv[8];
	unsigned a = 0;
	int st;

	if (!cli_path(bin, "%s/bin/%s", e->c.build, e->t->bin_libfuzzer))
		return -1;
	snprintf(a_time, sizeof(a_time), "-max_total_time=%u", o->time_s);
	snprintf(a_out, sizeof(a_out), "-exact_artifact_path=%s", o->out);
	argv[a++] = bin;
	argv[a++] = "-minimize_crash=1";
	argv[a++] = a_time;
	argv[a++] = a_out;
	argv[a++] = (char *)o->file;
	argv[a] = NULL;
	unlink(o->out);
	printf("minimizing with libFuzzer (-minimize_crash=1, %u s); its log follows on stderr\n",
	       o->time_s);
	fflush(stdout);
	pid_t pid = cli_spawn(argv, NULL, e->scratch, STDERR_FILENO, STDERR_FILENO, false);

	st = pid < 0 ? -1 : cli_wait(pid);
	(void)st;
	return cli_is_file(o->out) ? 0 : -1;
}

/* Built-in ddmin over REPRO_RECORD-byte units after the prefix byte of the
 * machine target. Keeps a candidate when it crashes with sig. */
static int minimize_ddmin(struct repro_env *e, const struct repro_opts *o, const uint8_t *in,
			  size_t len, const char *sig)
{
	size_t pre = !strcmp(e->t->name, "machine") && len ? 1 : 0;
	size_t nunits = (len - pre + REPRO_RECORD - 1) / REPRO_RECORD;
	unsigned *keep = malloc((nunits ? nunits : 1) * sizeof(*keep));
	unsigned *cand = malloc((nunits ? nunits : 1) * sizeof(*cand));
	uint8_t *buf = malloc(len ? len : 1);
	size_t nkeep = nunits, n = 2;
	unsigned runs = 0;
	double start = cli_now();
	char path[CLI_PATH];
	bool out_of_time = false;
	int rc = 0;

	if (!keep || !cand || !buf) {
		free(keep);
		free(cand);
		free(buf);
		return cli_error("repro: out of memory");
	}
	if (!cli_path(path, "%s/candidate", e->scratch)) {
		nkeep = 0;
		rc = cli_error("repro: path too long");
		goto out;
	}
	for (size_t i = 0; i < nunits; i++)
		keep[i] = (unsigned)i;
	printf("minimizing with ddmin over %zu %u-byte records (signature: %s, %u s)\n", nunits,
	       REPRO_RECORD, sig, o->time_s);
	fflush(stdout);
	while (nkeep >= 2 && !out_of_time) {
		size_t chunk = (nkeep + n - 1) / n;
		bool reduced = false;

		for (size_t c0 = 0; c0 < nkeep && !out_of_time; c0 += chunk) {
			size_t nc = 0, blen = pre;
			struct run_result r;

			/* the complement of chunk [c0, c0 + chunk) */
			for (size_t i = 0; i < nkeep; i++) {
				if (i < c0 || i >= c0 + chunk)
					cand[nc++] = keep[i];
			}
			memcpy(buf, in, pre);
			for (size_t i = 0; i < nc; i++) {
				size_t off = pre + (size_t)cand[i] * REPRO_RECORD;
				size_t ul = len - off < REPRO_RECORD ? len - off : REPRO_RECORD;

				memcpy(buf + blen, in + off, ul);
				blen += ul;
			}
			if (write_file(path, buf, blen) < 0 ||
			    run_input(e, path, false, o->timeout_s, &r) < 0) {
				rc = cli_error("repro: cannot run candidates in %s", e->scratch);
				goto out;
			}
			runs++;
			if (r.crashed && !strcmp(r.sig, sig)) {
				memcpy(keep, cand, nc * sizeof(*keep));
				nkeep = nc;
				n = n > 2 ? n - 1 : 2;
				reduced = true;
				break;
			}
			out_of_time = cli_now() - start > o->time_s;
		}
		if (!reduced) {
			if (n >= nkeep)
				break;
			n = n * 2 < nkeep ? n * 2 : nkeep;
		}
	}
	/* the result */
	{
		size_t blen = pre;

		memcpy(buf, in, pre);
		for (size_t i = 0; i < nkeep; i++) {
			size_t off = pre + (size_t)keep[i] * REPRO_RECORD;
			size_t ul = len - off < REPRO_RECORD ? len - off : REPRO_RECORD;

			memcpy(buf + blen, in + off, ul);
			blen += ul;
		}
		if (write_file(o->out, buf, blen) < 0)
			rc = cli_error("repro: cannot write %s", o->out);
		printf("ddmin: %u runs, %zu of %zu records kept%s\n", runs, nkeep, nunits,
		       out_of_time ? " (time limit reached)" : "");
	}
out:
	free(keep);
	free(cand);
	free(buf);
	return rc;
}

static int repro_minimize(const struct repro_opts *o)
{
	struct repro_env e;
	struct run_result r;
	uint8_t *in = NULL;
	size_t len = 0;
	int rc = repro_setup(&e, o, !o->ddmin);
	bool use_lf;

	if (rc) {
		repro_free(&e);
		return rc;
	}
	if (read_input(o->file, &in, &len) < 0) {
		repro_free(&e);
		return cli_error("repro: cannot read %s", o->file);
	}
	/* it must crash to begin with */
	if (run_input(&e, o->file, false, o->timeout_s, &r) < 0 || !r.crashed) {
		rc = cli_error("repro: %s does not crash %s: nothing to minimize", o->file,
			       e.t->name);
		free(in);
		repro_free(&e);
		return rc;
	}
	printf("ringside repro --minimize: %s (%zu bytes), target %s, crash: %s\n", o->file, len,
	       e.t->name, r.sig);
	use_lf = !o->ddmin && e.t->bin_libfuzzer[0];
	if (use_lf)
		rc = minimize_libfuzzer(&e, o) ? cli_error("repro: libFuzzer wrote no %s", o->out)
					       : 0;
	else
		rc = minimize_ddmin(&e, o, in, len, r.sig);
	free(in);
	if (rc) {
		repro_free(&e);
		return 1;
	}
	/* check the result with the standalone driver */
	struct stat st;

	stat(o->out, &st);
	if (run_input(&e, o->out, false, o->timeout_s, &r) < 0) {
		repro_free(&e);
		return cli_error("repro: cannot run %s", e.bin);
	}
	printf("minimized: %s -> %s: %zu -> %lld bytes; %s\n", o->file, o->out, len,
	       (long long)st.st_size, r.crashed ? r.sig : "NO LONGER CRASHES");
	repro_free(&e);
	return r.crashed ? 0 : 1;
}

/* ---- the command -------------------------------------------------------------------- */

static int repro_usage(FILE *f)
{
	fputs("usage: ringside repro FILE [--target T] [--build-dir DIR] [--no-build] [--full]\n"
	      "                           [--timeout SECONDS]\n"
	      "       ringside repro --minimize FILE -o OUT [--target T] [--time SECONDS]\n"
	      "                           [--ddmin] [--build-dir DIR] [--no-build]\n"
	      "  Replays a crash input through the target's standalone driver (fuzz preset:\n"
	      "  ASan + UBSan), prints the ops as executed and the report; exit 0 when it\n"
	      "  runs clean, 1 when it still crashes. docs/fuzzing.md\n",
	      f);
	return f == stdout ? 0 : 2;
}

static bool parse_secs(const char *s, unsigned *out)
{
	char *end;
	unsigned long v;

	if (!s || !isdigit((unsigned char)*s))
		return false;
	v = strtoul(s, &end, 10);
	if (*end || v < 1 || v > 86400)
		return false;
	*out = (unsigned)v;
	return true;
}

int cmd_repro(int argc, char **argv)
{
	struct repro_opts o = { .timeout_s = 60, .time_s = 60 };

	for (int a = 1; a < argc; a++) {
		const char *arg = argv[a];
		const char *val = a + 1 < argc ? argv[a + 1] : NULL;

		if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
			return repro_usage(stdout);
		} else if (!strcmp(arg, "--target")) {
			if (!val)
				return cli_error("repro: --target wants a target name");
			o.target = val;
			a++;
		} else if (!strcmp(arg, "--build-dir")) {
			if (!val)
				return cli_error("repro: --build-dir wants a directory");
			o.build_dir = val;
			a++;
		} else if (!strcmp(arg, "-o")) {
			if (!val)
				return cli_error("repro: -o wants a file");
			o.out = val;
			a++;
		} else if (!strcmp(arg, "--time")) {
			if (!parse_secs(val, &o.time_s))
				return cli_error("repro: --time wants seconds (1..86400)");
			a++;
		} else if (!strcmp(arg, "--timeout")) {
			if (!parse_secs(val, &o.timeout_s))
				return cli_error("repro: --timeout wants seconds (1..86400)");
			a++;
		} else if (!strcmp(arg, "--minimize")) {
			o.minimize = true;
		} else if (!strcmp(arg, "--ddmin")) {
			o.ddmin = true;
		} else if (!strcmp(arg, "--no-build")) {
			o.no_build = true;
		} else if (!strcmp(arg, "--full")) {
			o.full = true;
		} else if (arg[0] == '-' && arg[1]) {
			return cli_error("repro: unknown option '%s'", arg);
		} else if (!o.file) {
			o.file = arg;
		} else {
			return cli_error("repro: one input at a time ('%s' and '%s')", o.file, arg);
		}
	}
	if (!o.file)
		return repro_usage(stderr);
	if (o.minimize && !o.out)
		return cli_error("repro: --minimize needs -o OUT");
	if (!o.minimize && (o.out || o.ddmin))
		return cli_error("repro: -o and --ddmin go with --minimize");
	return o.minimize ? repro_minimize(&o) : repro_replay(&o);
}
