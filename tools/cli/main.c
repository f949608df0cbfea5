/*
 * ringside — the command-line program.
 *
 *   ringside demo [--machine SPEC] [--requests N]
 *   ringside bench ring [--quick]
 *
 * Later issues add record, replay, fuzz and friends here.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"

#ifndef RS_VERSION
#define RS_VERSION "0.1.0"
#endif

int cli_error(const char *fmt, ...)
{
	va_list ap;

	fputs("ringside: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 2;
}

double cli_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void usage(FILE *f)
{
	fputs("usage: ringside COMMAND [OPTIONS]\n"
	      "\n"
	      "commands:\n"
	      "  demo [--machine SPEC] [--requests N]\n"
	      "        build a machine (default: echo on every transport, every device once),\n"
	      "        bring every device up with the reference driver, do real I/O, report\n"
	      "  bench ring [--quick]\n"
	      "        virtqueue throughput: split/packed, direct/indirect, 1/4 segments,\n"
	      "        against memcpy bandwidth; last line 'ring: ratio=<x>'\n"
	      "  dump FILE [--json]\n"
	      "        print a trace: header, then one event per line (--json: JSON Lines)\n"
	      "  stat FILE\n"
	      "        event counts and data bytes by type, frames, sizes, compression ratio\n"
	      "  record [--kvm|--unicorn] [--machine SPEC] [--timeout S] -o FILE\n"
	      "        run the test-guest firmware under KVM (or Unicorn) and record a trace\n"
	      "  replay FILE [--continue] [--context N]\n"
	      "        replay a trace without a guest CPU, check every output against it;\n"
	      "        exit 0 clean, 1 divergence, 2 bad input\n"
	      "  minimize FILE -o OUT [--keep divergence|crash]\n"
	      "        shrink a trace (delta debugging), keeping its divergence or crash\n"
	      "  convert FILE (--to ops|c | --from ops --target NAME) -o OUT\n"
	      "        trace -> fuzz op stream or C reproducer; crash input -> trace\n"
	      "  bench replay [--quick]\n"
	      "        replay throughput, replay / zstd time, recording overhead, bytes per\n"
	      "        event; last line 'replay: ratio=<x> record_overhead=<y> ...'\n"
	      "  fuzz TARGET [--engine libfuzzer|afl] [--time SECONDS] [--jobs N]\n"
	      "        build if needed and fuzz a target with its corpus and dictionary;\n"
	      "        summary of executions, exec/s, coverage and crashes ('fuzz --list')\n"
	      "  repro FILE [--target T]      replay a crash input, op listing + report\n"
	      "  repro --minimize FILE -o OUT minimize a crash input\n"
	      "  bench fuzz [--time SECONDS]\n"
	      "        exec/s of every fuzz target vs an empty libFuzzer target;\n"
	      "        last line 'fuzz: median_ratio=<x>'\n"
	      "  help | --help        this text\n"
	      "  version | --version  print the version\n"
	      "\n"
	      "Machine specs are described in docs/machine-spec.md.\n",
	      f);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[1];
	if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
		printf("ringside %s\n", RS_VERSION);
		return 0;
	}
	static const struct {
		const char *name;
		int (*run)(int argc, char **argv);
	} cmds[] = {
		{ "demo", cmd_demo },         { "bench", cmd_bench },   { "dump", cmd_dump },
		{ "stat", cmd_stat },         { "fuzz", cmd_fuzz },     { "repro", cmd_repro },
		{ "record", cmd_record },     { "replay", cmd_replay }, { "minimize", cmd_minimize },
		{ "convert", cmd_convert },
	};
	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
		if (!strcmp(cmd, cmds[i].name))
			return cmds[i].run(argc - 1, argv + 1);
	return cli_error("unknown command '%s' (try 'ringside help')", cmd);
}
