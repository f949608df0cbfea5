/*
 * ringside stat — what a trace holds and how well it compresses.
 *
 *   ringside stat FILE
 *
 * Prints the header, events and data bytes per event type, then frames (and
 * whether the frame index is present), file size, encoded and compressed
 * bytes, compression ratio (encoded ÷ compressed) and file bytes per event.
 * A damaged trace: the figures of what was read, then one error line on
 * stderr, exit 1. Bad command line or a file that is no trace: exit 2.
 * Shows progress on stderr for large files when stderr is a terminal.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ringside/trace.h"
#include "cli.h"

/* Files above this size get a progress line (on a terminal). */
#define STAT_PROGRESS_BYTES (64u << 20)

/* Bytes of the file read so far, roughly: header, frame headers, payloads. */
static uint64_t position(const struct trace_info *in)
{
	return in->header_bytes + in->frames * 32 + in->zstd_bytes;
}

static double ratio(uint64_t a, uint64_t b)
{
	return b ? (double)a / (double)b : 0.0;
}

int cmd_stat(int argc, char **argv)
{
	const char *path = NULL;
	uint64_t count[TEV__MAX] = { 0 }, bytes[TEV__MAX] = { 0 }, total_bytes = 0;
	struct trace_error err;
	struct trace_event ev;
	struct trace_info in;
	struct trace_reader *r;
	int rc;

	for (int a = 1; a < argc; a++) {
		if (!strcmp(argv[a], "--help")) {
			puts("usage: ringside stat FILE\n"
			     "  event counts and data bytes by type, frames, sizes, compression "
			     "ratio");
			return 0;
		} else if (argv[a][0] == '-' && argv[a][1]) {
			return cli_error("stat: unknown option '%s' (try 'ringside stat --help')",
					 argv[a]);
		} else if (path) {
			return cli_error("stat: one trace file at a time ('%s' and '%s')", path,
					 argv[a]);
		} else {
			path = argv[a];
		}
	}
	if (!path)
		return cli_error("stat: which trace? (usage: ringside stat FILE)");
	r = trace_reader_open(path, &err);
	if (!r)
		return cli_trace_failed(path, &err, true);
	trace_reader_info(r, &in);
	bool progress = isatty(STDERR_FILENO) && in.file_bytes > STAT_PROGRESS_BYTES;
	uint64_t frames_shown = 0;
	while ((rc = trace_read(r, &ev, &err)) == 1) {
		count[ev.type]++; /* the reader only returns known types */
		bytes[ev.type] += ev.len;
		total_bytes += ev.len;
		if (progress) {
			trace_reader_info(r, &in);
			if (in.frames >= frames_shown + 64) {
				frames_shown = in.frames;
				fprintf(stderr, "\rstat: %3.0f%%",
					100.0 * ratio(position(&in), in.file_bytes));
			}
		}
	}
	if (progress)
		fputs("\r           \r", stderr);
	trace_reader_info(r, &in);

	const struct trace_header *h = trace_reader_header(r);
	printf("format version  %u\nmachine         ", h->version);
	cli_print_text(stdout, h->machine_spec);
	printf("\nrecorder        ");
	cli_print_text(stdout, h->recorder);
	printf("\nbuild           ");
	cli_print_text(stdout, h->build);
	printf("\nworld state     %u bytes\nheader          %" PRIu64 " bytes\n\n", h->world_len,
	       in.header_bytes);
	printf("%-16s %12s %14s\n", "type", "events", "data bytes");
	for (unsigned t = TEV_PIO_READ; t < TEV__MAX; t++)
		printf("%-16s %12" PRIu64 " %14" PRIu64 "\n", trace_ev_name((enum trace_ev)t),
		       count[t], bytes[t]);
	printf("%-16s %12" PRIu64 " %14" PRIu64 "\n\n", "total", in.events, total_bytes);
	printf("frames          %" PRIu64 "%s\n", in.frames,
	       in.indexed ? " (indexed)" : rc < 0 ? "" : " (no index: not closed)");
	printf("file size       %" PRIu64 " bytes\n", in.file_bytes);
	printf("uncompressed    %" PRIu64 " bytes of encoded events\n", in.raw_bytes);
	printf("compressed      %" PRIu64 " bytes of zstd frames\n", in.zstd_bytes);
	printf("ratio           %.2f\n", ratio(in.raw_bytes, in.zstd_bytes));
	printf("bytes/event     %.2f\n", ratio(in.file_bytes, in.events));
	trace_reader_close(r);
	fflush(stdout);
	return rc < 0 ? cli_trace_failed(path, &err, false) : 0;
}
