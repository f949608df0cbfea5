/*
 * ringside tests — helpers shared by the replay tests (test_replay.c,
 * test_replay_tools.c): a scratch directory for the traces a test writes,
 * recording an in-process session into one, and finding events in a loaded
 * trace.
 */
#ifndef RS_TESTS_REPLAY_UTIL_H
#define RS_TESTS_REPLAY_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "ringside/replay.h"
#include "../replay/inproc.h"
#include "../replay/replay_priv.h"

static char tmpdir[256];

/* Make the scratch directory $TMPDIR/<prefix>_XXXXXX. false on failure (said). */
static inline bool scratch_open(const char *prefix)
{
	const char *base = getenv("TMPDIR");

	snprintf(tmpdir, sizeof tmpdir, "%s/%s_XXXXXX", base ? base : "/tmp", prefix);
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return false;
	}
	return true;
}

/* Remove the scratch directory and everything in it. */
static inline void scratch_close(void)
{
	char cmd[300];

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
}

/* Path of name in the scratch directory (the last eight stay valid). */
static inline const char *tmp(const char *name)
{
	static char buf[8][320];
	static unsigned n;
	char *b = buf[n++ % 8];

	snprintf(b, sizeof buf[0], "%s/%s", tmpdir, name);
	return b;
}

/*
 * Record an in-process session of spec (NULL: every device) with requests
 * requests per device into path, with or without checkpoint events; the
 * session must succeed and record something.
 */
static inline void record(const char *spec, const char *path, unsigned requests,
			  bool checkpoints)
{
	struct inproc_opts o = { .spec = spec, .requests = requests, .checkpoints = checkpoints };
	struct inproc_result r;
	char err[300];

	CHECK_EQ(inproc_run(&o, path, &r, err, sizeof err), 0);
	if (r.failed)
		fprintf(stderr, "%s: %s\n", spec ? spec : "default", r.failure);
	CHECK_EQ(r.failed, 0);
	CHECK(r.events > 0);
	CHECK(r.sessions > 0);
}

/* Index of the n-th (from 0) event of type t at or after from, or SIZE_MAX. */
static inline size_t find(const struct rp_list *l, enum trace_ev t, size_t from, unsigned n)
{
	for (size_t i = from; i < l->n; i++)
		if (l->ev[i].type == t && n-- == 0)
			return i;
	return SIZE_MAX;
}

#endif
