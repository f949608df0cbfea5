/*
 * ringside tests — bit-identical replay: the committed fixture
 * corpus/traces/inproc-every-device.trace (an in-process session on every
 * device type) replays without divergence and to the digest committed next
 * to it, whatever compiler, optimisation level or sanitizer built the
 * library. A second replay in the same process gives the same digest.
 *
 *   test_replay_golden                    check (ctest)
 *   test_replay_golden --record FILE      record a new fixture
 *   test_replay_golden --tamper IN OUT    IN with its 41st MMIO read value
 *                                         changed (for the CLI tests)
 *   RS_GOLDEN_UPDATE=1 test_replay_golden rewrite the .digest file
 *
 * docs/replay.md says when and how to re-record.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ringside/replay.h"
#include "../replay/inproc.h"
#include "../replay/replay_priv.h"

#define FIXTURE "inproc-every-device"

static char trace_path[1024], digest_path[1024];

/* <source>/corpus/traces/NAME.ext from this file's path. */
static void fixture_paths(void)
{
	const char *f = __FILE__, *slash = strrchr(f, '/');
	int n = slash ? (int)(slash - f) : 1;

	snprintf(trace_path, sizeof trace_path, "%.*s/../corpus/traces/%s.trace", n,
		 slash ? f : ".", FIXTURE);
	snprintf(digest_path, sizeof digest_path, "%.*s/../corpus/traces/%s.digest", n,
		 slash ? f : ".", FIXTURE);
}

static void test_fixture_digest(void)
{
	static struct replay_result res;
	const struct replay_opts o = { .quiet = true };
	char line[128];
	uint64_t want = 0, want_events = 0, digest;
	FILE *f;

	CHECK_EQ(replay_file(trace_path, &o, &res), 0);
	if (res.divergences || res.err.code)
		fprintf(stderr, "%s%s\n", res.report, res.err.msg);
	CHECK_EQ(res.divergences, 0);
	digest = res.digest;
	if (getenv("RS_GOLDEN_UPDATE")) {
		f = fopen(digest_path, "w");
		CHECK(f != NULL);
		if (f) {
			fprintf(f, "digest %016" PRIx64 "\nevents %" PRIu64 "\n", digest, res.events);
			fclose(f);
		}
		printf("wrote %s\n", digest_path);
		return;
	}
	f = fopen(digest_path, "r");
	CHECK(f != NULL);
	while (f && fgets(line, sizeof line, f)) {
		if (!strncmp(line, "digest ", 7))
			want = strtoull(line + 7, NULL, 16);
		else if (!strncmp(line, "events ", 7))
			want_events = strtoull(line + 7, NULL, 10);
	}
	if (f)
		fclose(f);
	printf("digest %016" PRIx64 " (committed %016" PRIx64 "), %" PRIu64 " events\n", digest,
	       want, res.events);
	CHECK_EQ(res.events, want_events);
	CHECK_EQ(digest, want);
	/* and again: nothing carried over from the first replay */
	CHECK_EQ(replay_file(trace_path, &o, &res), 0);
	CHECK_EQ(res.digest, digest);
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "--record")) {
		struct inproc_opts o = { .requests = 4, .checkpoints = true };
		struct inproc_result r;
		char err[300];

		if (inproc_run(&o, argv[2], &r, err, sizeof err) < 0 || r.failed) {
			fprintf(stderr, "record: %s%s\n", err, r.failure);
			return 1;
		}
		printf("recorded %" PRIu64 " events, %u sessions into %s\n", r.events, r.sessions,
		       argv[2]);
		return 0;
	}
	if (argc == 4 && !strcmp(argv[1], "--tamper")) {
		struct rp_list l = { 0 };
		struct trace_header h;
		struct trace_error err;
		unsigned n = 0;
		int r;

		if (rp_list_load(argv[2], &l, &h, &err) < 0) {
			fprintf(stderr, "%s\n", err.msg);
			return 1;
		}
		for (size_t i = 0; i < l.n; i++)
			if (l.ev[i].type == TEV_MMIO_READ && n++ == 40)
				l.ev[i].value ^= 4;
		r = rp_list_write(argv[3], &h, &l, NULL, &err);
		rp_list_free(&l);
		free(h.world);
		return r < 0 ? 1 : 0;
	}
	fixture_paths();
	RUN(test_fixture_digest);
	return check_done();
}
