/*
 * ringside dump — a trace as text, one event per line, header first.
 *
 *   ringside dump FILE [--json]
 *
 * Text: "# key: value" header lines, then "#<index> <event>" (the form of
 * trace_event_str: DMA and world data as a hexdump of their first bytes).
 * --json: JSON Lines, one object per line: {"record":"header",...} then
 * {"record":"event",...} with every field; 64-bit fields as "0x..." strings
 * (exact in every JSON reader), data as a full hex string.
 *
 * A damaged trace: everything before the damage is printed, then one error
 * line on stderr, exit 1. A file that is no trace at all (missing,
 * unreadable, bad magic or version) or a bad command line: one error line,
 * exit 2.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringside/trace.h"
#include "cli.h"

int cli_trace_failed(const char *path, const struct trace_error *err, bool at_open)
{
	/* open errors of the file itself already name it */
	if (strstr(err->msg, path))
		fprintf(stderr, "ringside: %s\n", err->msg);
	else
		fprintf(stderr, "ringside: %s: %s\n", path, err->msg);
	if (at_open && (err->code == TRACE_E_IO || err->code == TRACE_E_MAGIC ||
			err->code == TRACE_E_VERSION || err->code == TRACE_E_USAGE))
		return 2;
	return 1;
}

void cli_print_text(FILE *f, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c >= 0x20 && c < 0x7f && c != '\\')
			fputc(c, f);
		else
			fprintf(f, "\\x%02x", c);
	}
}

/* A JSON string: quotes, backslashes and every byte outside printable ASCII
 * escaped, so the output is valid JSON (and ASCII) whatever the trace holds. */
static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c >= 0x20 && c < 0x7f)
			fputc(c, f);
		else
			fprintf(f, "\\u%04x", c);
	}
	fputc('"', f);
}

static void json_hex(FILE *f, const uint8_t *p, size_t n)
{
	fputc('"', f);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%02x", p[i]);
	fputc('"', f);
}

static void print_header(FILE *f, const struct trace_header *h, bool json)
{
	if (json) {
		fprintf(f, "{\"record\":\"header\",\"version\":%u,\"machine_spec\":", h->version);
		json_str(f, h->machine_spec);
		fputs(",\"recorder\":", f);
		json_str(f, h->recorder);
		fputs(",\"build\":", f);
		json_str(f, h->build);
		fprintf(f, ",\"world_len\":%u,\"world\":", h->world_len);
		json_hex(f, h->world, h->world_len);
		fputs("}\n", f);
		return;
	}
	fprintf(f, "# ringside trace, format version %u\n# machine: ", h->version);
	cli_print_text(f, h->machine_spec);
	fputs("\n# recorder: ", f);
	cli_print_text(f, h->recorder);
	fputs("\n# build: ", f);
	cli_print_text(f, h->build);
	fprintf(f, "\n# world: %u bytes", h->world_len);
	for (uint32_t i = 0; i < h->world_len && i < 16; i++)
		fprintf(f, "%s%02x", i ? " " : ": ", h->world[i]);
	fputs(h->world_len > 16 ? " ...\n" : "\n", f);
}

static void print_event(FILE *f, uint64_t i, const struct trace_event *ev, bool json)
{
	char line[512];

	trace_event_str(line, sizeof(line), ev);
	if (!json) {
		fprintf(f, "#%" PRIu64 " %s\n", i, line);
		return;
	}
	fprintf(f,
		"{\"record\":\"event\",\"index\":%" PRIu64 ",\"type\":\"%s\",\"size\":%" PRIu32
		",\"addr\":\"0x%" PRIx64 "\",\"value\":\"0x%" PRIx64 "\",\"dev\":%" PRIu32
		",\"kind\":%" PRIu32 ",\"len\":%" PRIu32 ",\"data\":",
		i, trace_ev_name(ev->type), ev->size, ev->addr, ev->value, ev->dev, ev->kind,
		ev->len);
	json_hex(f, ev->data, ev->len);
	fputs(",\"text\":", f);
	json_str(f, line);
	fputs("}\n", f);
}

int cmd_dump(int argc, char **argv)
{
	const char *path = NULL;
	bool json = false;
	struct trace_error err;
	struct trace_event ev;
	struct trace_reader *r;
	uint64_t i = 0;
	int rc;

	for (int a = 1; a < argc; a++) {
		if (!strcmp(argv[a], "--json")) {
			json = true;
		} else if (!strcmp(argv[a], "--help")) {
			puts("usage: ringside dump FILE [--json]\n"
			     "  print a trace: header, then one event per line;\n"
			     "  --json: JSON Lines, one object per line");
			return 0;
		} else if (argv[a][0] == '-' && argv[a][1]) {
			return cli_error("dump: unknown option '%s' (try 'ringside dump --help')",
					 argv[a]);
		} else if (path) {
			return cli_error("dump: one trace file at a time ('%s' and '%s')", path,
					 argv[a]);
		} else {
			path = argv[a];
		}
	}
	if (!path)
		return cli_error("dump: which trace? (usage: ringside dump FILE [--json])");
	r = trace_reader_open(path, &err);
	if (!r)
		return cli_trace_failed(path, &err, true);
	print_header(stdout, trace_reader_header(r), json);
	while ((rc = trace_read(r, &ev, &err)) == 1)
		print_event(stdout, i++, &ev, json);
	trace_reader_close(r);
	fflush(stdout);
	return rc < 0 ? cli_trace_failed(path, &err, false) : 0;
}
