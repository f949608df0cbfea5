/*
 * ringside convert — traces, fuzz op streams and C reproducers.
 *
 *   ringside convert FILE --to ops -o OUT            trace -> fuzz op stream
 *   ringside convert FILE --to c -o OUT.c            trace -> C reproducer
 *   ringside convert FILE --from ops --target NAME -o OUT
 *                                                    op stream -> trace
 *
 * Nothing is left at OUT on failure. Exit status: 0 written (also for a
 * crash input whose trace ends at the crash), 2 bad command line or input.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <signal.h>

#include "../../replay/replay_priv.h"
#include "cli.h"

/* The --help text. */
static void convert_usage(FILE *f)
{
	fputs("usage: ringside convert FILE --to ops -o OUT\n"
	      "       ringside convert FILE --to c -o OUT.c\n"
	      "       ringside convert FILE --from ops --target NAME -o OUT\n"
	      "  --to ops     a trace as a fuzz op stream (seeds the corpus of the fuzz\n"
	      "               target whose machine the trace has)\n"
	      "  --to c       a trace as a stand-alone C program replaying it through the\n"
	      "               machine's entry points (builds against the library)\n"
	      "  --from ops   an op stream (a fuzzer's crash input) as a trace, recorded on\n"
	      "               the machine of fuzz target NAME (blk_pci_modern, ..., machine)\n",
	      f);
}

int cmd_convert(int argc, char **argv)
{
	const char *in = NULL, *out = NULL, *to = NULL, *from = NULL, *target = NULL;
	struct conv_result r;
	char err[400];

	for (int a = 1; a < argc; a++) {
		const char *arg = argv[a];

		if (!strcmp(arg, "--help")) {
			convert_usage(stdout);
			return 0;
		} else if (!strcmp(arg, "-o") || !strcmp(arg, "--to") || !strcmp(arg, "--from") ||
			   !strcmp(arg, "--target")) {
			const char *v = a + 1 < argc ? argv[++a] : NULL;

			if (!v)
				return cli_error("convert: %s needs a value (try 'ringside convert "
						 "--help')",
						 arg);
			if (!strcmp(arg, "-o"))
				out = v;
			else if (!strcmp(arg, "--to"))
				to = v;
			else if (!strcmp(arg, "--from"))
				from = v;
			else
				target = v;
		} else if (arg[0] == '-' && arg[1]) {
			return cli_error("convert: unknown option '%s' (try 'ringside convert --help')",
					 arg);
		} else if (in) {
			return cli_error("convert: one input at a time ('%s' and '%s')", in, arg);
		} else {
			in = arg;
		}
	}
	if (!in || !out)
		return cli_error("convert: usage: ringside convert FILE (--to ops|c | --from ops "
				 "--target NAME) -o OUT");
	if (!!to == !!from)
		return cli_error("convert: say --to ops, --to c or --from ops");
	if (from) {
		if (strcmp(from, "ops"))
			return cli_error("convert: --from wants ops, not '%s'", from);
		if (!target)
			return cli_error("convert: --from ops needs --target NAME (the fuzz target "
					 "the input is for, e.g. blk_pci_modern)");
		if (convert_ops_to_trace(in, target, out, &r, err, sizeof err) < 0)
			return cli_error("%s", err);
		printf("convert: %" PRIu64 " ops -> %" PRIu64 " events in %s\n", r.ops, r.events,
		       out);
		if (r.crashed) {
			if (r.crash_signal)
				printf("convert: the input crashed the device stack (signal %d, %s): "
				       "the trace ends at the crash\n",
				       r.crash_signal, strsignal(r.crash_signal));
			else
				printf("convert: the input crashed the device stack (exit status %d): "
				       "the trace ends at the crash\n",
				       r.crash_status);
		}
		if (r.unrecorded)
			printf("convert: warning: %" PRIu64 " register op(s) (REG_*, CFG_*, forced "
			       "KICK) ran past the recorder; the trace misses their accesses\n",
			       r.unrecorded);
		return 0;
	}
	if (target)
		return cli_error("convert: --target goes with --from ops");
	if (!strcmp(to, "ops")) {
		if (convert_trace_to_ops(in, out, &r, err, sizeof err) < 0)
			return cli_error("%s", err);
		printf("convert: %" PRIu64 " events -> %" PRIu64 " ops and %" PRIu64
		       " data bytes in %s\n",
		       r.events, r.ops, r.data_bytes, out);
		if (r.target[0])
			printf("convert: the trace's machine is fuzz target %s's\n", r.target);
		else
			printf("convert: no fuzz target builds the trace's machine: run it with one "
			       "whose machine spec matches\n");
		if (r.lossy)
			printf("convert: %" PRIu64 " input(s) the op stream cannot carry exactly "
			       "(clock values, backend errors, long events)\n",
			       r.lossy);
		return 0;
	}
	if (!strcmp(to, "c")) {
		if (convert_trace_to_c(in, out, &r, err, sizeof err) < 0)
			return cli_error("%s", err);
		printf("convert: %" PRIu64 " events -> %s\n", r.events, out);
		return 0;
	}
	return cli_error("convert: --to wants ops or c, not '%s'", to);
}
