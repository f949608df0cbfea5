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
	      "        build a machine (default: the echo device on every transport), bring\n"
	      "        every device up with the reference driver, do real I/O, print a report\n"
	      "  bench ring [--quick]\n"
	      "        virtqueue throughput: split/packed, direct/indirect, 1/4 segments,\n"
	      "        against memcpy bandwidth; last line 'ring: ratio=<x>'\n"
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
	if (!strcmp(cmd, "demo"))
		return cmd_demo(argc - 1, argv + 1);
	if (!strcmp(cmd, "bench"))
		return cmd_bench(argc - 1, argv + 1);
	return cli_error("unknown command '%s' (try 'ringside help')", cmd);
}
