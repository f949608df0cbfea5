/*
 * ringside replay — feed a trace back through the device stack and check
 * every output against the recording.
 *
 *   ringside replay FILE [--continue] [--context N] [--quiet]
 *
 * Prints the first divergence (event index, recorded and replayed side, the
 * events before it; docs/replay.md explains how to read it) and a summary:
 * events, divergences, time, digest. A progress bar on stderr when it is a
 * terminal. Exit status: 0 clean, 1 divergence, 2 bad command line or a
 * trace that cannot be read (damage is reported with the frame and offset,
 * after replaying every intact event before it).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ringside/replay.h"
#include "cli.h"

/* The --help text. */
static void replay_usage(FILE *f)
{
	fputs("usage: ringside replay FILE [--continue] [--context N] [--quiet]\n"
	      "  replay a trace with no guest CPU and check every output against it\n"
	      "  --continue   count every divergence instead of stopping at the first\n"
	      "  --context N  events shown before the first divergence (1..64, default 8)\n"
	      "  --quiet      no progress bar\n"
	      "exit status: 0 clean, 1 divergence, 2 bad input\n",
	      f);
}

int cmd_replay(int argc, char **argv)
{
	struct replay_opts o = { .context = 8 };
	static struct replay_result res;
	const char *path = NULL;
	double t0, t;
	int r;

	for (int a = 1; a < argc; a++) {
		if (!strcmp(argv[a], "--help")) {
			replay_usage(stdout);
			return 0;
		} else if (!strcmp(argv[a], "--continue")) {
			o.keep_going = true;
		} else if (!strcmp(argv[a], "--quiet")) {
			o.quiet = true;
		} else if (!strcmp(argv[a], "--context")) {
			char *end;
			unsigned long v;

			if (a + 1 >= argc)
				return cli_error("replay: --context wants a number from 1 to 64");
			v = strtoul(argv[++a], &end, 10);
			if (*end || v < 1 || v > 64)
				return cli_error("replay: --context wants a number from 1 to 64, not "
						 "'%s'",
						 argv[a]);
			o.context = (unsigned)v;
		} else if (argv[a][0] == '-' && argv[a][1]) {
			return cli_error("replay: unknown option '%s' (try 'ringside replay --help')",
					 argv[a]);
		} else if (path) {
			return cli_error("replay: one trace at a time ('%s' and '%s')", path, argv[a]);
		} else {
			path = argv[a];
		}
	}
	if (!path)
		return cli_error("replay: which trace? (usage: ringside replay FILE)");
	if (!isatty(STDERR_FILENO))
		o.quiet = true;
	t0 = cli_now();
	r = replay_file(path, &o, &res);
	t = cli_now() - t0;
	if (res.divergences)
		fputs(res.report, stdout);
	if (r < 0 && res.events == 0 && res.divergences == 0) {
		/* nothing replayed: the file is no usable trace */
		cli_trace_failed(path, &res.err, true);
		return 2;
	}
	printf("replay: %" PRIu64 " events in %.3f s (%.0f events/s), ", res.events, t,
	       t > 0 ? (double)res.events / t : 0.0);
	if (res.divergences)
		printf("%" PRIu64 " divergence%s (first at event %" PRIu64 ")%s", res.divergences,
		       res.divergences == 1 ? "" : "s", res.first_divergence,
		       o.keep_going ? "" : ", stopped there (--continue counts all)");
	else
		printf("no divergence");
	printf(", digest %016" PRIx64 "\n", res.digest);
	fflush(stdout);
	if (res.err.code != TRACE_OK) {
		cli_trace_failed(path, &res.err, false);
		if (!res.divergences)
			return 2;
	}
	return res.divergences ? 1 : 0;
}
