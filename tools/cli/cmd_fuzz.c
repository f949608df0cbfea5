/*
 * ringside fuzz — run a fuzz target with its corpus and dictionary.
 *
 *   ringside fuzz --list
 *   ringside fuzz TARGET [--engine libfuzzer|afl] [--time SECONDS] [--jobs N]
 *                        [--build-dir DIR] [--no-build] [--keep-going] [-v]
 *                        [-- ENGINE-ARGS...]
 *
 * Builds the target if needed (the fuzz preset for libFuzzer, the afl preset
 * for AFL++; or --build-dir), copies the seeds (committed, generated and
 * regression inputs) into <build>/work/<target>/ so the committed corpus is
 * never written, runs the engine there with the target's dictionary, shows
 * progress and prints a summary: executions, exec/s, coverage, and every
 * crash with the path of its reproducer.
 *
 * Also the helpers the other fuzzing commands share (cli.h): finding the
 * source tree and build directories, the target list a build writes
 * (<build>/fuzz-targets.txt, harnesses/CMakeLists.txt), building, running
 * a child process, and reading libFuzzer's output. docs/fuzzing.md.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

/* ---- paths -------------------------------------------------------------------------- */

bool cli_is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

bool cli_is_file(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

bool cli_path(char *out, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, CLI_PATH, fmt, ap);
	va_end(ap);
	return n >= 0 && n < CLI_PATH;
}

/* mkdir -p. 0 or -errno. */
int cli_mkdirs(const char *path)
{
	char buf[CLI_PATH];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(buf, 0777) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0777) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* The build directory this program was built in (<build>/bin/ringside ->
 * <build>), when it has a CMakeCache.txt. */
bool cli_self_build_dir(char *out)
{
	char exe[CLI_PATH], cache[CLI_PATH];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;

	if (n <= 0)
		return false;
	exe[n] = 0;
	for (int up = 0; up < 2; up++) {
		slash = strrchr(exe, '/');
		if (!slash || slash == exe)
			return false;
		*slash = 0;
	}
	if (!cli_path(cache, "%s/CMakeCache.txt", exe) || !cli_is_file(cache))
		return false;
	memcpy(out, exe, strlen(exe) + 1);
	return true;
}

/* A ringside source tree: the top CMakeLists.txt, the presets and harnesses/. */
static bool is_source_tree(const char *dir)
{
	char p[CLI_PATH];

	return cli_path(p, "%s/CMakePresets.json", dir) && cli_is_file(p) &&
	       cli_path(p, "%s/harnesses/CMakeLists.txt", dir) && cli_is_file(p);
}

/* Value of KEY:TYPE=value in a CMakeCache.txt, into out. */
static bool cache_value(const char *build, const char *key, char *out)
{
	char path[CLI_PATH], line[CLI_PATH + 256];
	size_t klen = strlen(key);
	bool found = false;
	FILE *f;

	if (!cli_path(path, "%s/CMakeCache.txt", build) || !(f = fopen(path, "r")))
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		char *eq = strchr(line, '=');

		if (strncmp(line, key, klen) || line[klen] != ':' || !eq)
			continue;
		eq[strcspn(eq, "\r\n")] = 0;
		if (strlen(eq + 1) < CLI_PATH) {
			memcpy(out, eq + 1, strlen(eq + 1) + 1);
			found = true;
		}
	}
	fclose(f);
	return found;
}

int cli_source_dir(char *out)
{
	char buf[CLI_PATH], build[CLI_PATH];
	const char *env = getenv("RS_SOURCE_DIR");

	if (env && *env) {
		if (!is_source_tree(env))
			return cli_error("RS_SOURCE_DIR=%s is not a ringside source tree", env);
		snprintf(out, CLI_PATH, "%s", env);
		return 0;
	}
#ifdef RS_SOURCE_DIR
	if (is_source_tree(RS_SOURCE_DIR)) {
		snprintf(out, CLI_PATH, "%s", RS_SOURCE_DIR);
		return 0;
	}
#endif
	if (cli_self_build_dir(build) && cache_value(build, "CMAKE_HOME_DIRECTORY", buf) &&
	    is_source_tree(buf)) {
		memcpy(out, buf, strlen(buf) + 1);
		return 0;
	}
	/* the current directory or one above it */
	if (getcwd(buf, sizeof(buf))) {
		for (;;) {
			char *slash;

			if (is_source_tree(buf)) {
				memcpy(out, buf, strlen(buf) + 1);
				return 0;
			}
			slash = strrchr(buf, '/');
			if (!slash || slash == buf)
				break;
			*slash = 0;
		}
	}
	return cli_error("cannot find the ringside source tree (set RS_SOURCE_DIR)");
}

const char *cli_engine_name(enum cli_engine e)
{
	return e == CLI_ENGINE_AFL ? "AFL++" : "libFuzzer";
}

bool cli_default_build_dir(const char *src, enum cli_engine e, char *out)
{
	return cli_path(out, "%s/%s", src, e == CLI_ENGINE_AFL ? "build-afl" : "build-fuzz");
}

/* ---- child processes ---------------------------------------------------------------- */

pid_t cli_spawn(char *const argv[], const char *const env[], const char *cwd, int out_fd,
		int err_fd, bool own_group)
{
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	if (own_group)
		setpgid(0, 0);
	for (unsigned i = 0; env && env[i]; i++)
		putenv((char *)env[i]);
	if (out_fd >= 0 && out_fd != STDOUT_FILENO)
		dup2(out_fd, STDOUT_FILENO);
	if (err_fd >= 0 && err_fd != STDERR_FILENO)
		dup2(err_fd, STDERR_FILENO);
	if (cwd && chdir(cwd) < 0)
		_exit(127);
	signal(SIGINT, SIG_DFL);
	signal(SIGPIPE, SIG_DFL);
	execvp(argv[0], argv);
	fprintf(stderr, "ringside: cannot run %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

int cli_wait(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR)
			return -1;
	}
	return st;
}

/* Run argv to completion, output to stderr. Returns its wait status. */
static int run_to_stderr(char *const argv[], const char *cwd)
{
	pid_t pid = cli_spawn(argv, NULL, cwd, STDERR_FILENO, STDERR_FILENO, false);

	return pid < 0 ? -1 : cli_wait(pid);
}

/* ---- configure and build ------------------------------------------------------------ */

int cli_fuzz_build(const char *src, const char *build, enum cli_engine e,
		   const char *const *targets, unsigned n)
{
	char cache[CLI_PATH];
	const char *preset = e == CLI_ENGINE_AFL ? "afl" : "fuzz";
	char *argv[64];
	unsigned a = 0;
	int st;

	if (!cli_path(cache, "%s/CMakeCache.txt", build))
		return cli_error("build directory path too long");
	if (!cli_is_file(cache)) {
		char *conf[] = { "cmake", "-S", (char *)src, "--preset", (char *)preset,
				 "-B", (char *)build, NULL };

		fprintf(stderr, "ringside: configuring %s (cmake --preset %s)\n", build, preset);
		st = run_to_stderr(conf, src);
		if (st != 0)
			return cli_error("configuring %s failed (cmake --preset %s -B %s)", build,
					 preset, build);
	}
	if (n == 0)
		return 0;
	argv[a++] = "cmake";
	argv[a++] = "--build";
	argv[a++] = (char *)build;
	argv[a++] = "--target";
	for (unsigned i = 0; i < n && a < RS_ARRAY_SIZE(argv) - 1; i++)
		argv[a++] = (char *)targets[i];
	argv[a] = NULL;
	st = run_to_stderr(argv, NULL);
	if (st != 0)
		return cli_error("building in %s failed", build);
	return 0;
}

/* ---- the target list ---------------------------------------------------------------- */

/* Split s at sep in place into at most max fields; returns how many. */
static unsigned split(char *s, char sep, char **fields, unsigned max)
{
	unsigned n = 0;

	while (n < max) {
		char *e = strchr(s, sep);

		fields[n++] = s;
		if (!e)
			break;
		*e = 0;
		s = e + 1;
	}
	return n;
}

/* Copy a binary-name field ("-": none) into out. */
static void bin_field(char *out, size_t len, const char *f)
{
	snprintf(out, len, "%s", strcmp(f, "-") ? f : "");
}

int cli_fuzz_targets(const char *build, struct cli_fuzz_target **out, unsigned *count)
{
	char path[CLI_PATH], line[8192];
	struct cli_fuzz_target *t = NULL;
	unsigned n = 0, cap = 0;
	FILE *f;

	*out = NULL;
	*count = 0;
	if (!cli_path(path, "%s/fuzz-targets.txt", build) || !(f = fopen(path, "r")))
		return -ENOENT;
	while (fgets(line, sizeof(line), f)) {
		char *fld[6], *dl[8];
		struct cli_fuzz_target *x;
		unsigned nd;

		line[strcspn(line, "\r\n")] = 0;
		if (split(line, '\t', fld, 6) != 6 || !*fld[0])
			continue;
		if (n == cap) {
			struct cli_fuzz_target *nt = realloc(t, (cap ? cap * 2 : 32) * sizeof(*t));

			if (!nt) {
				fclose(f);
				free(t);
				return -ENOMEM;
			}
			t = nt;
			cap = cap ? cap * 2 : 32;
		}
		x = &t[n++];
		memset(x, 0, sizeof(*x));
		snprintf(x->name, sizeof(x->name), "%.63s", fld[0]);
		bin_field(x->bin_libfuzzer, sizeof(x->bin_libfuzzer), fld[1]);
		bin_field(x->bin_standalone, sizeof(x->bin_standalone), fld[2]);
		bin_field(x->bin_afl, sizeof(x->bin_afl), fld[3]);
		nd = split(fld[4], ';', dl, RS_ARRAY_SIZE(dl));
		for (unsigned i = 0; i < nd && !x->dict[0]; i++) {
			if (*dl[i] && cli_is_file(dl[i]))
				snprintf(x->dict, sizeof(x->dict), "%s", dl[i]);
		}
		nd = split(fld[5], ';', dl, RS_ARRAY_SIZE(dl));
		for (unsigned i = 0; i < nd && x->nseeds < CLI_SEED_DIRS; i++) {
			if (*dl[i])
				snprintf(x->seeds[x->nseeds++], CLI_PATH, "%s", dl[i]);
		}
	}
	fclose(f);
	*out = t;
	*count = n;
	return 0;
}

const struct cli_fuzz_target *cli_fuzz_find(const struct cli_fuzz_target *t, unsigned n,
					    const char *name)
{
	for (unsigned i = 0; i < n; i++) {
		if (!strcmp(t[i].name, name))
			return &t[i];
	}
	return NULL;
}

/* Edit distance between a and b (both short), capped at 99. */
static unsigned edit_distance(const char *a, const char *b)
{
	unsigned la = (unsigned)strlen(a), lb = (unsigned)strlen(b);
	unsigned row[65], prev;

	if (la > 64 || lb > 64)
		return 99;
	for (unsigned j = 0; j <= lb; j++)
		row[j] = j;
	for (unsigned i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = i;
		for (unsigned j = 1; j <= lb; j++) {
			unsigned cur = row[j];
			unsigned best = prev + (a[i - 1] != b[j - 1]);

			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			prev = cur;
		}
	}
	return row[lb];
}

int cli_fuzz_unknown(const char *cmd, const char *name, const struct cli_fuzz_target *t,
		     unsigned n)
{
	char close[512] = "";
	size_t used = 0;
	unsigned shown = 0;

	/* closest first: names starting with it, then edit distance 1..3, then
	 * names containing it or contained in it */
	for (unsigned pass = 0; pass <= 4 && shown < 6; pass++) {
		for (unsigned i = 0; i < n && shown < 6; i++) {
			size_t len = strlen(name);
			bool prefix = len && !strncmp(t[i].name, name, len);
			unsigned dist = prefix ? 0 : edit_distance(name, t[i].name);
			bool part = len && (strstr(t[i].name, name) || strstr(name, t[i].name));
			bool want;

			if (pass == 0)
				want = prefix;
			else if (pass < 4)
				want = !prefix && dist == pass;
			else
				want = !prefix && dist > 3 && part;
			if (!want)
				continue;
			used += (size_t)snprintf(close + used, sizeof(close) - used, "%s%s",
						 shown ? ", " : "", t[i].name);
			shown++;
			if (used >= sizeof(close))
				break;
		}
	}
	if (shown)
		return cli_error("%s: unknown target '%s' (close: %s; 'ringside fuzz --list')",
				 cmd, name, close);
	return cli_error("%s: unknown target '%s' ('ringside fuzz --list' lists them)", cmd,
			 name);
}

int cli_fuzz_context(struct cli_fuzz_ctx *c, enum cli_engine e, const char *build_dir)
{
	char self[CLI_PATH];
	int r;

	memset(c, 0, sizeof(*c));
	if (cli_source_dir(c->src))
		return 2;
	if (build_dir) {
		if (build_dir[0] == '/' || !getcwd(self, sizeof(self)))
			snprintf(c->build, sizeof(c->build), "%s", build_dir);
		else if (!cli_path(c->build, "%s/%s", self, build_dir))
			return cli_error("build directory path too long");
	} else if (!cli_default_build_dir(c->src, e, c->build)) {
		return cli_error("build directory path too long");
	}
	/* The names come from the fuzz build's list, or, before it exists,
	 * from this program's own build (every build writes the list). */
	r = cli_fuzz_targets(c->build, &c->t, &c->n);
	if (r == -ENOENT && cli_self_build_dir(self))
		r = cli_fuzz_targets(self, &c->t, &c->n);
	if (r == -ENOMEM)
		return cli_error("out of memory");
	return 0;
}

int cli_fuzz_reload(struct cli_fuzz_ctx *c)
{
	free(c->t);
	c->t = NULL;
	c->n = 0;
	if (cli_fuzz_targets(c->build, &c->t, &c->n) < 0)
		return cli_error("%s/fuzz-targets.txt missing: is %s a ringside build?", c->build,
				 c->build);
	return 0;
}

void cli_fuzz_context_free(struct cli_fuzz_ctx *c)
{
	free(c->t);
	c->t = NULL;
	c->n = 0;
}

/* ---- seeds -------------------------------------------------------------------------- */

/* FNV-1a of a file's bytes; false when it cannot be read. */
static bool file_hash(const char *path, uint64_t *h)
{
	uint8_t buf[8192];
	size_t got;
	FILE *f = fopen(path, "rb");

	if (!f)
		return false;
	*h = 0xcbf29ce484222325ull;
	while ((got = fread(buf, 1, sizeof(buf), f)) > 0) {
		for (size_t i = 0; i < got; i++) {
			*h ^= buf[i];
			*h *= 0x100000001b3ull;
		}
	}
	fclose(f);
	return true;
}

/* Copy src to dst (creating it). 0 or -errno. */
static int copy_file(const char *src, const char *dst)
{
	uint8_t buf[8192];
	size_t got;
	int r = 0;
	FILE *in = fopen(src, "rb"), *out;

	if (!in)
		return -errno;
	out = fopen(dst, "wb");
	if (!out) {
		r = -errno;
		fclose(in);
		return r;
	}
	while ((got = fread(buf, 1, sizeof(buf), in)) > 0) {
		if (fwrite(buf, 1, got, out) != got) {
			r = -EIO;
			break;
		}
	}
	fclose(in);
	if (fclose(out) != 0 && r == 0)
		r = -EIO;
	return r;
}

int cli_count_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char p[CLI_PATH];
	int n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d))) {
		if (e->d_name[0] != '.' && cli_path(p, "%s/%s", dir, e->d_name) && cli_is_file(p))
			n++;
	}
	closedir(d);
	return n;
}

int cli_copy_seeds(const struct cli_fuzz_target *t, const char *dst, unsigned *copied)
{
	unsigned n = 0;
	int r;

	r = cli_mkdirs(dst);
	if (r < 0)
		return r;
	for (unsigned s = 0; s < t->nseeds; s++) {
		DIR *d = opendir(t->seeds[s]);
		struct dirent *e;

		if (!d)
			continue;
		while ((e = readdir(d))) {
			char from[CLI_PATH], to[CLI_PATH];
			uint64_t h;

			if (e->d_name[0] == '.' || !cli_path(from, "%s/%s", t->seeds[s], e->d_name) ||
			    !cli_is_file(from) || !file_hash(from, &h))
				continue;
			/* named by content: a seed in two directories is copied once */
			if (!cli_path(to, "%s/seed-%016llx", dst, (unsigned long long)h) ||
			    cli_is_file(to))
				continue;
			r = copy_file(from, to);
			if (r < 0) {
				closedir(d);
				return r;
			}
			n++;
		}
		closedir(d);
	}
	if (copied)
		*copied = n;
	return 0;
}

/* ---- libFuzzer's output ------------------------------------------------------------- */

/* Unsigned number after `key` in line (key includes its separator), or
 * false. */
static bool num_after(const char *line, const char *key, uint64_t *v)
{
	const char *p = strstr(line, key);

	if (!p)
		return false;
	p += strlen(key);
	while (*p == ' ')
		p++;
	if (!isdigit((unsigned char)*p))
		return false;
	*v = strtoull(p, NULL, 10);
	return true;
}

void cli_lf_line(struct cli_lf_stats *s, const char *line)
{
	uint64_t v;

	if (line[0] == '#' && isdigit((unsigned char)line[1])) {
		/* "#N\tNEW    cov: .. ft: .. corp: N/..b .. exec/s: E" or fork mode's
		 * "#N: cov: .. ft: .. corp: N exec/s E oom/timeout/crash: a/b/c" */
		s->execs = strtoull(line + 1, NULL, 10);
		if (num_after(line, "cov:", &v))
			s->cov = v;
		if (num_after(line, "ft:", &v))
			s->ft = v;
		if (num_after(line, "corp:", &v))
			s->corp = v;
		if (num_after(line, "exec/s:", &v) || num_after(line, "exec/s", &v))
			s->exec_s = v;
		s->status_lines++;
		const char *c = strstr(line, "oom/timeout/crash:");
		if (c) {
			unsigned long a = 0, b = 0, d = 0;

			if (sscanf(c + 18, " %lu/%lu/%lu", &a, &b, &d) == 3)
				s->fork_failures = a + b + d;
		}
		return;
	}
	if (num_after(line, "stat::number_of_executed_units:", &v)) {
		s->final_execs = v;
		s->have_final = true;
	} else if (num_after(line, "stat::average_exec_per_sec:", &v)) {
		s->final_exec_s = v;
	} else if (num_after(line, "stat::peak_rss_mb:", &v)) {
		s->peak_rss_mb = v;
	} else if (num_after(line, "Done ", &v) && strstr(line, " runs in ")) {
		s->final_execs = s->final_execs ? s->final_execs : v;
	}
	const char *w = strstr(line, "Test unit written to ");
	if (w && s->nartifacts < CLI_MAX_ARTIFACTS) {
		w += strlen("Test unit written to ");
		snprintf(s->artifacts[s->nartifacts], CLI_PATH, "%s", w);
		s->artifacts[s->nartifacts][strcspn(s->artifacts[s->nartifacts], "\r\n")] = 0;
		s->nartifacts++;
	}
	if (strstr(line, "==ringside-fuzz== BUG") || strstr(line, "ERROR: AddressSanitizer") ||
	    strstr(line, "ERROR: LeakSanitizer") || strstr(line, "runtime error:") ||
	    strstr(line, "ERROR: libFuzzer:") || strstr(line, "ERROR: MemorySanitizer")) {
		if (!s->first_error[0])
			snprintf(s->first_error, sizeof(s->first_error), "%s", line);
	}
}

/* ---- progress ----------------------------------------------------------------------- */

static volatile sig_atomic_t got_signal;
static pid_t children[CLI_MAX_JOBS];
static unsigned nchildren;

/* SIGINT/SIGTERM while an engine runs: pass it on (the engines print their
 * final statistics and stop), then summarise. */
static void on_signal(int sig)
{
	got_signal = sig;
	for (unsigned i = 0; i < nchildren; i++) {
		if (children[i] > 0)
			kill(children[i], sig);
	}
}

static void catch_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

static void release_signals(void)
{
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	nchildren = 0;
}

/* The compact one-line status: on a terminal rewritten in place once a
 * second, otherwise a line every ten seconds. */
struct progress {
	bool tty;
	double start, last;
};

static void progress_line(struct progress *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void progress_line(struct progress *p, const char *fmt, ...)
{
	double now = cli_now();
	char line[256];
	va_list ap;

	if (now - p->last < (p->tty ? 1.0 : 10.0))
		return;
	p->last = now;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (p->tty)
		fprintf(stderr, "\r\033[K[%5.0fs] %s", now - p->start, line);
	else
		fprintf(stderr, "[%5.0fs] %s\n", now - p->start, line);
	fflush(stderr);
}

static void progress_end(struct progress *p)
{
	if (p->tty && p->last > 0) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
	}
}

/* ---- listing crashes ---------------------------------------------------------------- */

static bool is_artifact(const char *name)
{
	static const char *const kinds[] = { "crash-", "leak-", "timeout-", "oom-", "slow-unit-",
					     "id:" };

	for (unsigned i = 0; i < RS_ARRAY_SIZE(kinds); i++) {
		if (!strncmp(name, kinds[i], strlen(kinds[i])))
			return strncmp(name, "slow-unit-", 10) != 0;
	}
	return false;
}

/* Print every crash file of dir modified at or after since; returns how
 * many. */
static unsigned list_crashes(const char *dir, double since_wall, const char *target)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	unsigned n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d))) {
		char p[CLI_PATH];
		struct stat st;

		if (!is_artifact(e->d_name) || !cli_path(p, "%s/%s", dir, e->d_name) ||
		    stat(p, &st) < 0 || !S_ISREG(st.st_mode) || (double)st.st_mtime < since_wall)
			continue;
		printf("    %s\n        reproduce: ringside repro %s --target %s\n", p, p, target);
		n++;
	}
	closedir(d);
	return n;
}

/* ---- libFuzzer ---------------------------------------------------------------------- */

struct fuzz_opts {
	enum cli_engine engine;
	unsigned time_s;     /* 0: until interrupted */
	unsigned jobs;
	bool keep_going;
	bool verbose;
	char **extra;        /* after "--" */
	int nextra;
};

/* Lines of a file that grows while it is read (a worker's log). */
struct log_tail {
	FILE *f;
	char path[CLI_PATH];
	struct cli_lf_stats *s;
};

/* Feed the new complete lines of tl's file to its statistics. */
static void tail_poll(struct log_tail *tl)
{
	char line[4096];

	if (!tl->f)
		tl->f = fopen(tl->path, "r");
	if (!tl->f)
		return;
	for (;;) {
		long pos = ftell(tl->f);

		if (!fgets(line, sizeof(line), tl->f))
			break;
		if (!strchr(line, '\n')) {
			/* a line still being written: read it again next time */
			fseek(tl->f, pos, SEEK_SET);
			break;
		}
		cli_lf_line(tl->s, line);
	}
	clearerr(tl->f);
}

static int run_libfuzzer(const struct cli_fuzz_ctx *c, const struct cli_fuzz_target *t,
			 const struct fuzz_opts *o, const char *work)
{
	char bin[CLI_PATH], corpus[CLI_PATH], crashes[CLI_PATH], logp[CLI_PATH];
	char a_dict[CLI_PATH + 8], a_art[CLI_PATH + 24], a_time[48], a_jobs[32], a_workers[32];
	char *argv[64];
	struct cli_lf_stats *s = calloc(1, sizeof(*s));
	struct log_tail *tails = NULL;
	struct progress pr = { .tty = isatty(STDERR_FILENO) };
	bool workers = o->jobs > 1 && !o->keep_going;
	unsigned a = 0, seeds = 0, ncrash;
	int pfd[2], st, rc = 0;
	double start_wall = (double)time(NULL), elapsed;
	uint64_t execs = 0, cov = 0, ft = 0;
	char pending[4096];
	size_t plen = 0;
	FILE *logf;
	pid_t pid;

	if (!s || (workers && !(tails = calloc(o->jobs, sizeof(*tails))))) {
		free(s);
		return cli_error("out of memory");
	}
	if (!cli_path(bin, "%s/bin/%s", c->build, t->bin_libfuzzer) ||
	    !cli_path(corpus, "%s/corpus", work) || !cli_path(crashes, "%s/crashes/", work) ||
	    !cli_path(logp, "%s/fuzz.log", work)) {
		rc = cli_error("path too long");
		goto out;
	}
	if (cli_mkdirs(crashes) < 0 || cli_copy_seeds(t, corpus, &seeds) < 0) {
		rc = cli_error("fuzz: cannot prepare %s: %s", work, strerror(errno));
		goto out;
	}
	argv[a++] = bin;
	if (t->dict[0]) {
		snprintf(a_dict, sizeof(a_dict), "-dict=%s", t->dict);
		argv[a++] = a_dict;
	}
	snprintf(a_art, sizeof(a_art), "-artifact_prefix=%s", crashes);
	argv[a++] = a_art;
	argv[a++] = "-print_final_stats=1";
	if (o->time_s) {
		snprintf(a_time, sizeof(a_time), "-max_total_time=%u", o->time_s);
		argv[a++] = a_time;
	}
	if (o->keep_going) {
		/* fork mode: N workers under one parent that records crashes,
		 * timeouts and OOMs and goes on */
		snprintf(a_jobs, sizeof(a_jobs), "-fork=%u", o->jobs);
		argv[a++] = a_jobs;
		argv[a++] = "-ignore_crashes=1";
		argv[a++] = "-ignore_timeouts=1";
		argv[a++] = "-ignore_ooms=1";
	} else if (workers) {
		/* N independent fuzzers sharing the corpus, logs fuzz-<i>.log */
		snprintf(a_jobs, sizeof(a_jobs), "-jobs=%u", o->jobs);
		snprintf(a_workers, sizeof(a_workers), "-workers=%u", o->jobs);
		argv[a++] = a_jobs;
		argv[a++] = a_workers;
		for (unsigned j = 0; j < o->jobs; j++) {
			tails[j].s = calloc(1, sizeof(*tails[j].s));
			if (!tails[j].s || !cli_path(tails[j].path, "%s/fuzz-%u.log", work, j)) {
				rc = cli_error("out of memory");
				goto out;
			}
			unlink(tails[j].path);
		}
	}
	for (int i = 0; i < o->nextra && a < RS_ARRAY_SIZE(argv) - 2; i++)
		argv[a++] = o->extra[i];
	argv[a++] = corpus;
	argv[a] = NULL;

	printf("ringside fuzz: %s with %s, %u job%s, ", t->name, cli_engine_name(o->engine),
	       o->jobs, o->jobs == 1 ? "" : "s");
	if (o->time_s)
		printf("%u s\n", o->time_s);
	else
		printf("until interrupted\n");
	printf("  corpus     %s (%d inputs, %u seeds added)\n", corpus, cli_count_files(corpus),
	       seeds);
	printf("  dictionary %s\n", t->dict[0] ? t->dict : "(none)");
	fflush(stdout);

	logf = fopen(logp, "w");
	if (!logf || pipe(pfd) < 0) {
		if (logf)
			fclose(logf);
		rc = cli_error("fuzz: cannot write %s", logp);
		goto out;
	}
	catch_signals();
	pr.start = cli_now();
	pid = cli_spawn(argv, NULL, work, pfd[1], pfd[1], true);
	close(pfd[1]);
	if (pid < 0) {
		fclose(logf);
		close(pfd[0]);
		release_signals();
		rc = cli_error("fuzz: cannot start %s", bin);
		goto out;
	}
	children[0] = pid;
	nchildren = 1;
	for (;;) {
		struct pollfd pf = { .fd = pfd[0], .events = POLLIN };
		ssize_t got = 0;
		int pr_n = poll(&pf, 1, 1000);

		if (pr_n > 0) {
			got = read(pfd[0], pending + plen, sizeof(pending) - 1 - plen);
			if (got == 0)
				break;
			if (got < 0 && errno != EINTR)
				break;
		}
		if (got > 0) {
			char *nl;

			fwrite(pending + plen, 1, (size_t)got, logf);
			if (o->verbose)
				fwrite(pending + plen, 1, (size_t)got, stderr);
			plen += (size_t)got;
			pending[plen] = 0;
			while ((nl = strchr(pending, '\n'))) {
				*nl = 0;
				cli_lf_line(s, pending);
				memmove(pending, nl + 1, plen - (size_t)(nl + 1 - pending) + 1);
				plen -= (size_t)(nl + 1 - pending);
			}
			if (plen == sizeof(pending) - 1) {
				cli_lf_line(s, pending);   /* an overlong line: take it as is */
				plen = 0;
			}
		}
		execs = s->execs;
		cov = s->cov;
		ft = s->ft;
		if (workers) {
			execs = 0;
			for (unsigned j = 0; j < o->jobs; j++) {
				tail_poll(&tails[j]);
				execs += tails[j].s->have_final ? tails[j].s->final_execs
								: tails[j].s->execs;
				cov = tails[j].s->cov > cov ? tails[j].s->cov : cov;
				ft = tails[j].s->ft > ft ? tails[j].s->ft : ft;
			}
		}
		if (!o->verbose) {
			double now = cli_now() - pr.start;

			progress_line(&pr, "execs %llu  exec/s %.0f  cov %llu  ft %llu  corpus %d  "
				      "crashes %d", (unsigned long long)execs,
				      now > 0 ? (double)execs / now : 0.0,
				      (unsigned long long)cov, (unsigned long long)ft,
				      cli_count_files(corpus), cli_count_files(crashes));
		}
	}
	close(pfd[0]);
	fclose(logf);
	st = cli_wait(pid);
	elapsed = cli_now() - pr.start;
	release_signals();
	progress_end(&pr);

	execs = s->have_final ? s->final_execs : s->execs;
	cov = s->cov;
	ft = s->ft;
	if (workers) {
		execs = 0;
		for (unsigned j = 0; j < o->jobs; j++) {
			tail_poll(&tails[j]);
			execs += tails[j].s->have_final ? tails[j].s->final_execs : tails[j].s->execs;
			cov = tails[j].s->cov > cov ? tails[j].s->cov : cov;
			ft = tails[j].s->ft > ft ? tails[j].s->ft : ft;
			if (!s->first_error[0] && tails[j].s->first_error[0])
				memcpy(s->first_error, tails[j].s->first_error, sizeof(s->first_error));
		}
	}
	printf("\nsummary: %s (%s)\n", t->name, cli_engine_name(o->engine));
	printf("  time         %.1f s%s\n", elapsed, got_signal ? " (interrupted)" : "");
	printf("  executions   %llu\n", (unsigned long long)execs);
	printf("  exec/s       %.0f\n", elapsed > 0 ? (double)execs / elapsed : 0.0);
	printf("  coverage     cov %llu  ft %llu  (libFuzzer: edges covered, features)\n",
	       (unsigned long long)cov, (unsigned long long)ft);
	printf("  corpus       %d inputs in %s\n", cli_count_files(corpus), corpus);
	if (workers)
		printf("  logs         %s, %s/fuzz-<job>.log\n", logp, work);
	else
		printf("  log          %s\n", logp);
	if (s->first_error[0])
		printf("  first report %s%s", s->first_error,
		       strchr(s->first_error, '\n') ? "" : "\n");
	printf("  crashes:\n");
	ncrash = list_crashes(crashes, start_wall - 1, t->name);
	if (!ncrash)
		printf("    none\n");
	fflush(stdout);
	if (ncrash || (WIFEXITED(st) && WEXITSTATUS(st) != 0 && !got_signal) ||
	    (WIFSIGNALED(st) && !got_signal))
		rc = 1;
out:
	for (unsigned j = 0; tails && j < o->jobs; j++) {
		if (tails[j].f)
			fclose(tails[j].f);
		free(tails[j].s);
	}
	free(tails);
	free(s);
	return rc;
}

/* ---- AFL++ -------------------------------------------------------------------------- */

/* Read "key : value" pairs of an AFL++ fuzzer_stats file. */
struct afl_stats {
	uint64_t execs, crashes, hangs, edges, total_edges, corpus;
	double exec_s;
	bool ok;
};

static void afl_read_stats(const char *path, struct afl_stats *s)
{
	char line[512];
	FILE *f = fopen(path, "r");

	memset(s, 0, sizeof(*s));
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char key[64];
		double v;

		if (sscanf(line, "%63s : %lf", key, &v) != 2)
			continue;
		if (!strcmp(key, "execs_done"))
			s->execs = (uint64_t)v;
		else if (!strcmp(key, "execs_per_sec"))
			s->exec_s = v;
		else if (!strcmp(key, "saved_crashes") || !strcmp(key, "unique_crashes"))
			s->crashes = (uint64_t)v;
		else if (!strcmp(key, "saved_hangs") || !strcmp(key, "unique_hangs"))
			s->hangs = (uint64_t)v;
		else if (!strcmp(key, "edges_found"))
			s->edges = (uint64_t)v;
		else if (!strcmp(key, "total_edges"))
			s->total_edges = (uint64_t)v;
		else if (!strcmp(key, "corpus_count") || !strcmp(key, "paths_total"))
			s->corpus = (uint64_t)v;
	}
	fclose(f);
	s->ok = true;
}

static int run_afl(const struct cli_fuzz_ctx *c, const struct cli_fuzz_target *t,
		   const struct fuzz_opts *o, const char *work)
{
	char bin[CLI_PATH], in_dir[CLI_PATH], out_dir[CLI_PATH], a_time[32];
	char ids[CLI_MAX_JOBS][16], logs[CLI_MAX_JOBS][CLI_PATH];
	struct progress pr = { .tty = isatty(STDERR_FILENO) };
	bool ui = o->jobs == 1 && pr.tty && !o->verbose;
	unsigned seeds = 0, ncrash = 0;
	double start_wall = (double)time(NULL), elapsed;
	/* afl-fuzz refuses sanitizer options it cannot work with (a test
	 * environment's ASAN_OPTIONS, say): give it the ones it asks for. */
#define AFL_SAN_ENV                                                                       \
	"ASAN_OPTIONS=abort_on_error=1:symbolize=0:detect_leaks=0",                       \
		"UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:symbolize=0"
	static const char *const env_common[] = {
		"AFL_SKIP_CPUFREQ=1", "AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1",
		"AFL_AUTORESUME=1", "AFL_NO_UI=1", AFL_SAN_ENV, NULL
	};
	static const char *const env_ui[] = {
		"AFL_SKIP_CPUFREQ=1", "AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1",
		"AFL_AUTORESUME=1", AFL_SAN_ENV, NULL
	};
#undef AFL_SAN_ENV
	bool failed = false;

	if (!cli_path(bin, "%s/bin/%s", c->build, t->bin_afl) ||
	    !cli_path(in_dir, "%s/afl-in", work) || !cli_path(out_dir, "%s/afl-out", work))
		return cli_error("path too long");
	if (cli_copy_seeds(t, in_dir, &seeds) < 0 || cli_mkdirs(out_dir) < 0)
		return cli_error("fuzz: cannot prepare %s: %s", work, strerror(errno));
	if (cli_count_files(in_dir) == 0)
		return cli_error("fuzz: %s has no seeds (AFL++ needs at least one)", t->name);
	printf("ringside fuzz: %s with %s, %u job%s, ", t->name, cli_engine_name(o->engine),
	       o->jobs, o->jobs == 1 ? "" : "s");
	if (o->time_s)
		printf("%u s\n", o->time_s);
	else
		printf("until interrupted\n");
	printf("  seeds      %s (%d inputs, %u added)\n  output     %s\n", in_dir,
	       cli_count_files(in_dir), seeds, out_dir);
	printf("  dictionary %s\n", t->dict[0] ? t->dict : "(none)");
	fflush(stdout);

	catch_signals();
	pr.start = cli_now();
	for (unsigned j = 0; j < o->jobs; j++) {
		char *argv[64];
		unsigned a = 0;
		int fd = -1;

		snprintf(ids[j], sizeof(ids[j]), j ? "s%u" : "main", j);
		if (!cli_path(logs[j], "%s/afl-%s.log", work, ids[j]))
			return cli_error("path too long");
		argv[a++] = "afl-fuzz";
		argv[a++] = "-i";
		argv[a++] = in_dir;
		argv[a++] = "-o";
		argv[a++] = out_dir;
		if (t->dict[0]) {
			argv[a++] = "-x";
			argv[a++] = (char *)t->dict;
		}
		if (o->time_s) {
			snprintf(a_time, sizeof(a_time), "%u", o->time_s);
			argv[a++] = "-V";
			argv[a++] = a_time;
		}
		argv[a++] = j ? "-S" : "-M";
		argv[a++] = ids[j];
		for (int i = 0; i < o->nextra && a < RS_ARRAY_SIZE(argv) - 3; i++)
			argv[a++] = o->extra[i];
		argv[a++] = "--";
		argv[a++] = bin;
		argv[a] = NULL;
		if (!(ui && j == 0)) {
			fd = open(logs[j], O_WRONLY | O_CREAT | O_TRUNC, 0666);
			if (fd < 0)
				return cli_error("fuzz: cannot write %s", logs[j]);
		}
		children[j] = cli_spawn(argv, ui && j == 0 ? env_ui : env_common, work,
					fd >= 0 ? fd : -1, fd >= 0 ? fd : -1, !(ui && j == 0));
		if (fd >= 0)
			close(fd);
		nchildren = j + 1;
	}

	/* wait for all; meanwhile the compact status from the stats files */
	for (;;) {
		unsigned running = 0;
		uint64_t execs = 0, crashes = 0, edges = 0;

		for (unsigned j = 0; j < nchildren; j++) {
			int st;

			if (children[j] <= 0)
				continue;
			pid_t r = waitpid(children[j], &st, WNOHANG);

			if (r == children[j]) {
				children[j] = 0;
				if (WIFEXITED(st) && WEXITSTATUS(st) != 0 && !got_signal) {
					fprintf(stderr, "ringside: afl-fuzz %s exited with %d (log %s)\n",
						ids[j], WEXITSTATUS(st), logs[j]);
					failed = true;
				}
			} else {
				running++;
			}
		}
		if (!running)
			break;
		if (!ui) {
			for (unsigned j = 0; j < nchildren; j++) {
				char sp[CLI_PATH];
				struct afl_stats as;

				if (!cli_path(sp, "%s/%s/fuzzer_stats", out_dir, ids[j]))
					continue;
				afl_read_stats(sp, &as);
				execs += as.execs;
				crashes += as.crashes;
				edges = as.edges > edges ? as.edges : edges;
			}
			progress_line(&pr, "%u running  execs %llu  edges %llu  crashes %llu",
				      running, (unsigned long long)execs,
				      (unsigned long long)edges, (unsigned long long)crashes);
		}
		poll(NULL, 0, 200);
	}
	elapsed = cli_now() - pr.start;
	release_signals();
	progress_end(&pr);

	uint64_t execs = 0, edges = 0, total = 0, crashes = 0, hangs = 0;
	double rate = 0;

	for (unsigned j = 0; j < o->jobs; j++) {
		char sp[CLI_PATH];
		struct afl_stats as;

		if (!cli_path(sp, "%s/%s/fuzzer_stats", out_dir, ids[j]))
			continue;
		afl_read_stats(sp, &as);
		execs += as.execs;
		rate += as.exec_s;
		crashes += as.crashes;
		hangs += as.hangs;
		if (as.edges > edges)
			edges = as.edges;
		if (as.total_edges > total)
			total = as.total_edges;
	}
	printf("\nsummary: %s (%s)\n", t->name, cli_engine_name(o->engine));
	printf("  time         %.1f s%s\n", elapsed, got_signal ? " (interrupted)" : "");
	printf("  executions   %llu\n", (unsigned long long)execs);
	printf("  exec/s       %.0f\n", elapsed > 0 ? (double)execs / elapsed : rate);
	printf("  coverage     %llu edges found of %llu instrumented (AFL++)\n",
	       (unsigned long long)edges, (unsigned long long)total);
	printf("  hangs        %llu\n", (unsigned long long)hangs);
	printf("  output       %s\n", out_dir);
	printf("  crashes:\n");
	for (unsigned j = 0; j < o->jobs; j++) {
		char cd[CLI_PATH];

		if (cli_path(cd, "%s/%s/crashes", out_dir, ids[j]))
			ncrash += list_crashes(cd, start_wall - 1, t->name);
	}
	if (!ncrash)
		printf("    none\n");
	fflush(stdout);
	return ncrash || crashes || failed ? 1 : 0;
}

/* ---- the command -------------------------------------------------------------------- */

static int fuzz_usage(FILE *f)
{
	fputs("usage: ringside fuzz TARGET [--engine libfuzzer|afl] [--time SECONDS] [--jobs N]\n"
	      "                     [--build-dir DIR] [--no-build] [--keep-going] [-v]\n"
	      "                     [-- ENGINE-ARGS...]\n"
	      "       ringside fuzz --list [--build-dir DIR]\n"
	      "  Builds the target if needed (fuzz or afl preset), fuzzes it with its seeds\n"
	      "  and dictionary in <build>/work/<target>/, prints a summary. docs/fuzzing.md\n",
	      f);
	return f == stdout ? 0 : 2;
}

/* Parse an unsigned option value in [lo, hi]. */
static bool parse_uint(const char *s, unsigned lo, unsigned hi, unsigned *out)
{
	char *end;
	unsigned long v;

	if (!s || !isdigit((unsigned char)*s))
		return false;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return false;
	*out = (unsigned)v;
	return true;
}

int cmd_fuzz(int argc, char **argv)
{
	struct fuzz_opts o = { .engine = CLI_ENGINE_LIBFUZZER, .jobs = 1 };
	const char *target = NULL, *build_dir = NULL;
	bool list = false, no_build = false;
	struct cli_fuzz_ctx c;
	const struct cli_fuzz_target *t;
	char work[CLI_PATH];
	int rc;

	for (int a = 1; a < argc; a++) {
		const char *arg = argv[a];
		const char *val = a + 1 < argc ? argv[a + 1] : NULL;

		if (!strcmp(arg, "--")) {
			o.extra = argv + a + 1;
			o.nextra = argc - a - 1;
			break;
		} else if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
			return fuzz_usage(stdout);
		} else if (!strcmp(arg, "--list")) {
			list = true;
		} else if (!strcmp(arg, "--engine")) {
			if (val && !strcmp(val, "libfuzzer"))
				o.engine = CLI_ENGINE_LIBFUZZER;
			else if (val && !strcmp(val, "afl"))
				o.engine = CLI_ENGINE_AFL;
			else
				return cli_error("fuzz: --engine wants libfuzzer or afl");
			a++;
		} else if (!strcmp(arg, "--time")) {
			if (!parse_uint(val, 0, 31u * 24 * 3600, &o.time_s))
				return cli_error("fuzz: --time wants seconds (0: until interrupted)");
			a++;
		} else if (!strcmp(arg, "--jobs")) {
			if (!parse_uint(val, 1, CLI_MAX_JOBS, &o.jobs))
				return cli_error("fuzz: --jobs wants 1..%d", CLI_MAX_JOBS);
			a++;
		} else if (!strcmp(arg, "--build-dir")) {
			if (!val)
				return cli_error("fuzz: --build-dir wants a directory");
			build_dir = val;
			a++;
		} else if (!strcmp(arg, "--no-build")) {
			no_build = true;
		} else if (!strcmp(arg, "--keep-going")) {
			o.keep_going = true;
		} else if (!strcmp(arg, "-v") || !strcmp(arg, "--verbose")) {
			o.verbose = true;
		} else if (arg[0] == '-') {
			return cli_error("fuzz: unknown option '%s'", arg);
		} else if (!target) {
			target = arg;
		} else {
			return cli_error("fuzz: one target at a time ('%s' and '%s')", target, arg);
		}
	}
	if (!list && !target) {
		fuzz_usage(stderr);
		return 2;
	}
	if (cli_fuzz_context(&c, o.engine, build_dir))
		return 2;
	if (list) {
		if (!c.n && !no_build) {
			/* nothing configured yet: configure (no build) for the list */
			char cache[CLI_PATH];

			if (cli_path(cache, "%s/CMakeCache.txt", c.build) && !cli_is_file(cache) &&
			    cli_fuzz_build(c.src, c.build, o.engine, NULL, 0)) {
				cli_fuzz_context_free(&c);
				return 1;
			}
			if (cli_fuzz_reload(&c)) {
				cli_fuzz_context_free(&c);
				return 1;
			}
		}
		for (unsigned i = 0; i < c.n; i++)
			printf("%s\n", c.t[i].name);
		cli_fuzz_context_free(&c);
		return 0;
	}
	if (c.n && !cli_fuzz_find(c.t, c.n, target)) {
		rc = cli_fuzz_unknown("fuzz", target, c.t, c.n);
		cli_fuzz_context_free(&c);
		return rc;
	}
	if (!no_build) {
		/* the binary, and the generated seeds and dictionaries */
		char bin[160];
		const char *tg[2] = { bin, "fuzz_corpus_build" };

		t = cli_fuzz_find(c.t, c.n, target);
		if (t && o.engine == CLI_ENGINE_LIBFUZZER && t->bin_libfuzzer[0])
			snprintf(bin, sizeof(bin), "%s", t->bin_libfuzzer);
		else if (t && o.engine == CLI_ENGINE_AFL && t->bin_afl[0])
			snprintf(bin, sizeof(bin), "%s", t->bin_afl);
		else if (!strcmp(target, "trace_reader"))
			snprintf(bin, sizeof(bin), "fuzz_trace_reader");
		else
			snprintf(bin, sizeof(bin), "fuzz_%s_%s", target,
				 o.engine == CLI_ENGINE_AFL ? "afl" : "libfuzzer");
		if (cli_fuzz_build(c.src, c.build, o.engine, tg, 1)) {
			cli_fuzz_context_free(&c);
			return 1;
		}
		/* seeds from the generator: a failure there costs only those */
		if (cli_fuzz_build(c.src, c.build, o.engine, tg + 1, 1))
			fprintf(stderr, "ringside: warning: generated seeds not refreshed; "
				"fuzzing with the seeds at hand\n");
	}
	if (cli_fuzz_reload(&c)) {
		cli_fuzz_context_free(&c);
		return 1;
	}
	t = cli_fuzz_find(c.t, c.n, target);
	if (!t) {
		rc = cli_fuzz_unknown("fuzz", target, c.t, c.n);
		cli_fuzz_context_free(&c);
		return rc;
	}
	if (o.engine == CLI_ENGINE_LIBFUZZER && !t->bin_libfuzzer[0]) {
		rc = cli_error("fuzz: %s is not a libFuzzer build (configure it with --preset fuzz)",
			       c.build);
	} else if (o.engine == CLI_ENGINE_AFL && !t->bin_afl[0]) {
		rc = cli_error("fuzz: %s is not an AFL++ build (configure it with --preset afl)",
			       c.build);
	} else if (!cli_path(work, "%s/work/%s", c.build, t->name)) {
		rc = cli_error("path too long");
	} else if (o.engine == CLI_ENGINE_AFL) {
		rc = run_afl(&c, t, &o, work);
	} else {
		rc = run_libfuzzer(&c, t, &o, work);
	}
	cli_fuzz_context_free(&c);
	return rc;
}
