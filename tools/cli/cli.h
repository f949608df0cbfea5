/*
 * ringside CLI — shared declarations of the subcommands.
 */
#ifndef RINGSIDE_CLI_H
#define RINGSIDE_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "ringside/guest.h"
#include "ringside/machine.h"

/* The machine the demonstration runs when none is given: the echo test
 * device on every transport (the split ring forced on one modern device so
 * both ring kinds run), and every device model once. */
#define CLI_DEFAULT_DEMO_SPEC                                                             \
	"mem=64M pci:echo pci-modern:echo pci-legacy:echo mmio:echo mmio-legacy:echo "     \
	"pci-modern:echo,packed=off,msix=off pci:blk mmio:blk,size=1M pci-legacy:rng "     \
	"mmio:rng pci:net pci-modern:console mmio:scsi pci-legacy:vmmci pci:balloon"

int cmd_demo(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_dump(int argc, char **argv);
int cmd_stat(int argc, char **argv);
int cmd_fuzz(int argc, char **argv);
int cmd_repro(int argc, char **argv);
/* `ringside bench fuzz` (bench_fuzz.c; argv[0] is "fuzz"). */
int cmd_bench_fuzz(int argc, char **argv);
int cmd_record(int argc, char **argv);
int cmd_replay(int argc, char **argv);
int cmd_minimize(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_bench_replay(int argc, char **argv);

/* Print "ringside: <msg>" to stderr; returns 2 (usage/input error status). */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

struct trace_error;
/* Report a trace error as one line on stderr ("ringside: FILE: <msg>");
 * returns the exit status: 2 when the file could not be opened as a trace
 * at all (at_open and TRACE_E_IO, _MAGIC, _VERSION, _USAGE), else 1. */
int cli_trace_failed(const char *path, const struct trace_error *err, bool at_open);
/* Print s with bytes outside printable ASCII (and '\') as \xNN. */
void cli_print_text(FILE *f, const char *s);

/* Monotonic seconds, for benchmarks only (never inside the device stack). */
double cli_now(void);

/* One reference-driver session: which interface of device i to use. */
struct demo_iface {
	enum gdrv_transport transport;
	const char *label;
};


/* ---- the fuzzing commands (cmd_fuzz.c; docs/fuzzing.md) ---------------------------- */

#define CLI_PATH 4096
#define CLI_SEED_DIRS 4
#define CLI_MAX_JOBS 64
#define CLI_MAX_ARTIFACTS 16

enum cli_engine { CLI_ENGINE_LIBFUZZER, CLI_ENGINE_AFL };

/* One line of <build>/fuzz-targets.txt (harnesses/CMakeLists.txt). Binary
 * names are in <build>/bin; "" when this build has none of that kind. */
struct cli_fuzz_target {
	char name[64];
	char bin_libfuzzer[128];
	char bin_standalone[128];
	char bin_afl[128];
	char dict[CLI_PATH];                   /* first existing dictionary, or "" */
	char seeds[CLI_SEED_DIRS][CLI_PATH];   /* seed directories (may not exist) */
	unsigned nseeds;
};

/* Source tree, the build directory a command works in, and its targets. */
struct cli_fuzz_ctx {
	char src[CLI_PATH];
	char build[CLI_PATH];
	struct cli_fuzz_target *t;
	unsigned n;
};

/* snprintf into a CLI_PATH buffer; false when it did not fit. */
bool cli_path(char *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool cli_is_dir(const char *path);
bool cli_is_file(const char *path);
/* mkdir -p; 0 or -errno. */
int cli_mkdirs(const char *path);
/* Regular files (not dot files) directly in dir; 0 if it cannot be read. */
int cli_count_files(const char *dir);
/* The build directory of this program (<build>/bin/ringside). */
bool cli_self_build_dir(char *out);
/* The source tree: $RS_SOURCE_DIR, RS_SOURCE_DIR compiled in, this
 * program's build's CMAKE_HOME_DIRECTORY, or the current directory or one
 * above. 0, or 2 after printing an error. */
int cli_source_dir(char *out);
const char *cli_engine_name(enum cli_engine e);
/* <src>/build-fuzz or <src>/build-afl (the presets' directories). */
bool cli_default_build_dir(const char *src, enum cli_engine e, char *out);
/* Source tree, build directory (build_dir, or the engine's preset
 * directory) and the target list (the build's, or before it exists this
 * program's own). 0, or 2 after printing an error. */
int cli_fuzz_context(struct cli_fuzz_ctx *c, enum cli_engine e, const char *build_dir);
/* Re-read the target list from c->build (after building). 0 or 1 with an error. */
int cli_fuzz_reload(struct cli_fuzz_ctx *c);
void cli_fuzz_context_free(struct cli_fuzz_ctx *c);
/* Configure build with the engine's preset if it has no CMakeCache.txt,
 * then build the n targets (n 0: configure only). 0, or 1 after an error. */
int cli_fuzz_build(const char *src, const char *build, enum cli_engine e,
		   const char *const *targets, unsigned n);
/* Read <build>/fuzz-targets.txt into a malloc'd array. 0, -ENOENT, -ENOMEM. */
int cli_fuzz_targets(const char *build, struct cli_fuzz_target **out, unsigned *count);
const struct cli_fuzz_target *cli_fuzz_find(const struct cli_fuzz_target *t, unsigned n,
					    const char *name);
/* One error line naming the unknown target and the close names; returns 2. */
int cli_fuzz_unknown(const char *cmd, const char *name, const struct cli_fuzz_target *t,
		     unsigned n);
/* Copy every seed file of t into dst (created), named by content, skipping
 * those already there. 0 or -errno; *copied: how many were new. */
int cli_copy_seeds(const struct cli_fuzz_target *t, const char *dst, unsigned *copied);
/* fork + exec argv (PATH searched) with env entries added ("K=V"), in cwd
 * (NULL: here), stdout/stderr to out_fd/err_fd (-1: inherited), in a
 * process group of its own if asked. The pid, or -1. */
pid_t cli_spawn(char *const argv[], const char *const env[], const char *cwd, int out_fd,
		int err_fd, bool own_group);
/* waitpid through EINTR: the wait status, or -1. */
int cli_wait(pid_t pid);

/* What libFuzzer's output said so far (cli_lf_line, one line at a time). */
struct cli_lf_stats {
	uint64_t execs, cov, ft, corp, exec_s;   /* last status line */
	uint64_t final_execs, final_exec_s, peak_rss_mb;   /* -print_final_stats */
	bool have_final;
	uint64_t fork_failures;                  /* fork mode: oom + timeout + crash */
	unsigned status_lines;
	char artifacts[CLI_MAX_ARTIFACTS][CLI_PATH]; /* "Test unit written to" */
	unsigned nartifacts;
	char first_error[512];                   /* first sanitizer/oracle/libFuzzer error */
};
void cli_lf_line(struct cli_lf_stats *s, const char *line);

#endif
