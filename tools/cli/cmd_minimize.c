/*
 * ringside minimize — shrink a trace and keep what makes it interesting.
 *
 *   ringside minimize FILE -o OUT [--keep divergence|crash] [--max-runs N]
 *                     [--timeout S]
 *
 * Delta debugging over the trace's groups (an access with what it caused):
 * the result keeps the first divergence (--keep divergence, the default) or
 * the crash its replay causes (--keep crash; each candidate runs in a child
 * process). OUT is a valid trace with the same header, written only on
 * success. Exit status: 0 written, 2 bad command line, unreadable input, or
 * nothing to keep.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../replay/replay_priv.h"
#include "cli.h"

/* The --help text. */
static void minimize_usage(FILE *f)
{
	fputs("usage: ringside minimize FILE -o OUT [--keep divergence|crash] [--max-runs N]\n"
	      "                         [--timeout S]\n"
	      "  delta debugging over the trace's accesses (each with the events it caused)\n"
	      "  --keep divergence  keep the first divergence of its replay (default)\n"
	      "  --keep crash       keep the crash of its replay (signal or abnormal exit)\n"
	      "  --max-runs N       replays tried at most (default 20000)\n"
	      "  --timeout S        crash mode: a replay running longer is a crash (default 60)\n",
	      f);
}

/* Parse option opt's value s (1..max) into *out; 0, or 2 after an error line. */
static int number(const char *opt, const char *s, unsigned long max, unsigned *out)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);

	if (!*s || *end || v < 1 || v > max)
		return cli_error("minimize: %s wants a number from 1 to %lu, not '%s'", opt, max, s);
	*out = (unsigned)v;
	return 0;
}

int cmd_minimize(int argc, char **argv)
{
	struct min_opts o = { .keep = MIN_KEEP_DIVERGENCE };
	struct min_result r;
	const char *in = NULL, *out = NULL;
	char err[400];
	double t0;

	for (int a = 1; a < argc; a++) {
		const char *arg = argv[a];

		if (!strcmp(arg, "--help")) {
			minimize_usage(stdout);
			return 0;
		} else if (!strcmp(arg, "-o") || !strcmp(arg, "--keep") || !strcmp(arg, "--max-runs") ||
			   !strcmp(arg, "--timeout")) {
			const char *v = a + 1 < argc ? argv[++a] : NULL;

			if (!v)
				return cli_error("minimize: %s needs a value (try 'ringside minimize "
						 "--help')",
						 arg);
			if (!strcmp(arg, "-o")) {
				out = v;
			} else if (!strcmp(arg, "--keep")) {
				if (!strcmp(v, "divergence"))
					o.keep = MIN_KEEP_DIVERGENCE;
				else if (!strcmp(v, "crash"))
					o.keep = MIN_KEEP_CRASH;
				else
					return cli_error("minimize: --keep wants divergence or crash, "
							 "not '%s'",
							 v);
			} else if (!strcmp(arg, "--max-runs")) {
				if (number(arg, v, 10000000, &o.max_runs))
					return 2;
			} else if (number(arg, v, 86400, &o.timeout_s)) {
				return 2;
			}
		} else if (arg[0] == '-' && arg[1]) {
			return cli_error("minimize: unknown option '%s' (try 'ringside minimize --help')",
					 arg);
		} else if (in) {
			return cli_error("minimize: one trace at a time ('%s' and '%s')", in, arg);
		} else {
			in = arg;
		}
	}
	if (!in || !out)
		return cli_error("minimize: usage: ringside minimize FILE -o OUT");
	o.quiet = !isatty(STDERR_FILENO);
	t0 = cli_now();
	if (minimize_file(in, out, &o, &r, err, sizeof err) < 0)
		return cli_error("%s", err);
	printf("minimize: kept %s\n", r.signature);
	printf("minimize: %" PRIu64 " -> %" PRIu64 " events, %" PRIu64 " -> %" PRIu64
	       " groups, %u replays in %.1f s%s\n",
	       r.events_in, r.events_out, r.groups_in, r.groups_out, r.runs, cli_now() - t0,
	       r.exhausted ? " (stopped at --max-runs: may shrink further)" : "");
	printf("minimize: wrote %s\n", out);
	return 0;
}
