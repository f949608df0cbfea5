/*
 * ringside — trace minimisation: delta debugging (Zeller's ddmin) over the
 * groups of a trace, keeping what makes it interesting: its first
 * divergence, or the crash its replay causes.
 *
 * The unit is a group — a top-level event (an access, a host event, a
 * checkpoint) with the events it caused — so a candidate is always a
 * well-formed trace: dropping an access drops its DMA, interrupts and world
 * inputs with it. A candidate keeps the divergence when its replay's first
 * divergence has the same signature (kind, recorded event, group kind and
 * the replayed side's description), wherever it now is; it keeps the crash
 * when its replay, run in a child process, dies the same way (signal or
 * exit status) in the same kind of access. Groups after the one that
 * diverges (or crashes) are dropped first, in one step.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "replay_priv.h"

#define MIN_DEFAULT_RUNS 20000
#define MIN_DEFAULT_TIMEOUT 60

/* Child exit statuses of a crash-mode run that did not crash. */
#define MIN_EXIT_CLEAN 0
#define MIN_EXIT_DIVERGED 10
#define MIN_EXIT_FAILED 11

/* What a candidate did. */
struct outcome {
	bool interesting;       /* has a divergence / crashed */
	struct rp_sig sig;      /* divergence mode */
	int how;                /* crash mode: 1 signal, 2 exit status, 3 timeout */
	int code;
	enum trace_ev at_type;  /* crash mode: top-level event running at the crash */
	uint64_t at_addr;
	uint64_t at_index;      /* position in the candidate (not compared) */
};

struct mini {
	const struct min_opts *o;
	struct trace_header h;
	struct rp_list l;
	size_t *gstart;         /* first event of each group */
	size_t ngroups;
	bool *keep;             /* per event, for the candidate being run */
	bool *gkeep;            /* per group */
	struct outcome want;
	unsigned runs, max_runs;
	volatile struct trace_event *shared; /* crash mode: the child's position */
	double t_progress;
};

static struct replay_result min_res;

/* ---- running a candidate ------------------------------------------------------------ */

/* Per-event keep[] of the candidate whose groups gkeep selects. */
static void keep_from_groups(struct mini *mn, const bool *gkeep)
{
	for (size_t g = 0; g < mn->ngroups; g++) {
		size_t end = g + 1 < mn->ngroups ? mn->gstart[g + 1] : mn->l.n;

		for (size_t i = mn->gstart[g]; i < end; i++)
			mn->keep[i] = gkeep[g];
	}
}

/* Replay the candidate in process; its first divergence. */
static void run_divergence(struct mini *mn, struct outcome *out)
{
	static const struct replay_opts o = { .quiet = true };
	struct rp_list_cursor c;
	int r;

	memset(out, 0, sizeof(*out));
	r = rp_replay(&mn->h, rp_list_events(&c, &mn->l, mn->keep), &o, &min_res, &out->sig);
	out->interesting = r == 1;
}

/* The default crash-mode child: replay, telling the parent where it is. */
static void child_replay(void *ctx, const struct trace_header *h, const struct rp_list *l,
			 const bool *keep, volatile struct trace_event *cur)
{
	static const struct replay_opts o = { .quiet = true };
	struct rp_list_cursor c;
	struct trace_event acc;
	struct rp *p = calloc(1, sizeof(*p));
	int r;

	if (!p || rp_open(p, h, rp_list_events(&c, l, keep), &o, &min_res) < 0)
		rp_child_exit(MIN_EXIT_FAILED);
	for (;;) {
		if (p->have == 1) {
			cur->type = p->cur.type;
			cur->addr = p->cur.addr;
			cur->size = p->cur.size;
			cur->value = p->idx;
		}
		r = rp_step(p, UINT64_MAX, &acc);
		if (r < 0)
			break;
		if (r == 1)
			rp_access_done(p, rp_perform(p->m, &acc));
	}
	r = rp_finish(p);
	rp_child_exit(r == 0 ? MIN_EXIT_CLEAN : r == 1 ? MIN_EXIT_DIVERGED : MIN_EXIT_FAILED);
}

/* Replay the candidate in a child; how (and where) it died. */
static void run_crash(struct mini *mn, struct outcome *out)
{
	unsigned timeout = mn->o->timeout_s ? mn->o->timeout_s : MIN_DEFAULT_TIMEOUT;
	min_child_fn child = mn->o->child ? mn->o->child : child_replay;
	pid_t pid, w;
	int st = 0;

	memset(out, 0, sizeof(*out));
	memset((void *)mn->shared, 0, sizeof(*mn->shared));
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		out->how = -1;
		return;
	}
	if (pid == 0) {
		alarm(timeout);
		child(mn->o->child_ctx, &mn->h, &mn->l, mn->keep, mn->shared);
		rp_child_exit(MIN_EXIT_CLEAN);
	}
	do
		w = waitpid(pid, &st, 0);
	while (w < 0 && errno == EINTR);
	if (w < 0) {
		out->how = -1;
		return;
	}
	if (WIFSIGNALED(st)) {
		out->how = WTERMSIG(st) == SIGALRM ? 3 : 1;
		out->code = WTERMSIG(st);
	} else if (WIFEXITED(st) && WEXITSTATUS(st) != MIN_EXIT_CLEAN &&
		   WEXITSTATUS(st) != MIN_EXIT_DIVERGED && WEXITSTATUS(st) != MIN_EXIT_FAILED) {
		out->how = 2;
		out->code = WEXITSTATUS(st);
	}
	out->interesting = out->how > 0;
	out->at_type = mn->shared->type;
	out->at_addr = mn->shared->addr;
	out->at_index = mn->shared->value;
}

/* True when b is interesting the way a is (signatures equal). */
static bool same(const struct mini *mn, const struct outcome *a, const struct outcome *b)
{
	if (!a->interesting || !b->interesting)
		return false;
	if (mn->o->keep == MIN_KEEP_CRASH)
		return a->how == b->how && a->code == b->code && a->at_type == b->at_type &&
		       a->at_addr == b->at_addr;
	if (a->sig.kind != b->sig.kind || a->sig.what != b->sig.what ||
	    a->sig.group != b->sig.group || a->sig.group_addr != b->sig.group_addr)
		return false;
	/* an unrecorded output has no recorded event of its own: what follows
	 * it in the trace depends on the candidate */
	return a->sig.kind == RP_DIV_EXTRA ||
	       (a->sig.type == b->sig.type && a->sig.addr == b->sig.addr &&
		a->sig.size == b->sig.size);
}

/* A progress line on a terminal, at most five times a second. */
static void progress(struct mini *mn, size_t groups)
{
	struct timespec ts;
	double t;

	if (mn->o->quiet || !isatty(STDERR_FILENO))
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	t = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
	if (t - mn->t_progress < 0.2)
		return;
	mn->t_progress = t;
	fprintf(stderr, "\rminimize: %zu of %zu groups left, %u runs   ", groups, mn->ngroups,
		mn->runs);
}

/* Run the candidate gkeep; true when it keeps what we want. */
static bool test(struct mini *mn, const bool *gkeep, struct outcome *got)
{
	struct outcome tmp;

	if (!got)
		got = &tmp;
	if (mn->runs >= mn->max_runs)
		return false;
	mn->runs++;
	keep_from_groups(mn, gkeep);
	if (mn->o->keep == MIN_KEEP_CRASH)
		run_crash(mn, got);
	else
		run_divergence(mn, got);
	return same(mn, got, &mn->want);
}

/* The group holding event index i of the candidate gkeep selects. */
static size_t group_of_kept(const struct mini *mn, const bool *gkeep, uint64_t i)
{
	uint64_t seen = 0;

	for (size_t g = 0; g < mn->ngroups; g++) {
		size_t end = g + 1 < mn->ngroups ? mn->gstart[g + 1] : mn->l.n;

		if (!gkeep[g])
			continue;
		if (i < seen + (end - mn->gstart[g]))
			return g;
		seen += end - mn->gstart[g];
	}
	return mn->ngroups - 1;
}

/* ddmin over the groups set in gkeep. */
static void ddmin(struct mini *mn, bool *gkeep)
{
	size_t *c = malloc(mn->ngroups * sizeof(*c));
	bool *cand = malloc(mn->ngroups);
	size_t nc = 0, n = 2;

	if (!c || !cand)
		goto out;
	for (size_t g = 0; g < mn->ngroups; g++)
		if (gkeep[g])
			c[nc++] = g;
	while (nc >= 2 && mn->runs < mn->max_runs) {
		bool reduced = false;
		size_t chunk = (nc + n - 1) / n;

		progress(mn, nc);
		/* complements first: removing a chunk is what usually works here */
		for (size_t k = 0; k * chunk < nc && !reduced; k++) {
			size_t lo = k * chunk, hi = RS_MIN(nc, lo + chunk);

			memset(cand, 0, mn->ngroups);
			for (size_t j = 0; j < nc; j++)
				cand[c[j]] = j < lo || j >= hi;
			if (test(mn, cand, NULL)) {
				memmove(c + lo, c + hi, (nc - hi) * sizeof(*c));
				nc -= hi - lo;
				n = RS_MAX(n - 1, (size_t)2);
				reduced = true;
			}
		}
		for (size_t k = 0; k * chunk < nc && !reduced && n > 2; k++) {
			size_t lo = k * chunk, hi = RS_MIN(nc, lo + chunk);

			memset(cand, 0, mn->ngroups);
			for (size_t j = lo; j < hi; j++)
				cand[c[j]] = true;
			if (test(mn, cand, NULL)) {
				memmove(c, c + lo, (hi - lo) * sizeof(*c));
				nc = hi - lo;
				n = 2;
				reduced = true;
			}
		}
		if (reduced)
			continue;
		if (n >= nc)
			break;
		n = RS_MIN(2 * n, nc);
	}
	memset(gkeep, 0, mn->ngroups);
	for (size_t j = 0; j < nc; j++)
		gkeep[c[j]] = true;
out:
	free(c);
	free(cand);
}

/* The kept signature in words. */
static void describe(const struct mini *mn, char *buf, size_t len)
{
	const struct outcome *w = &mn->want;

	if (mn->o->keep == MIN_KEEP_CRASH)
		snprintf(buf, len, "%s %d in a %s at 0x%llx",
			 w->how == 1 ? "signal" : w->how == 2 ? "exit status" : "timeout (signal)",
			 w->code, trace_ev_name(w->at_type), (unsigned long long)w->at_addr);
	else
		snprintf(buf, len, "%s divergence at a %s (in a %s at 0x%llx)",
			 rp_div_name(w->sig.kind), w->sig.type ? trace_ev_name(w->sig.type) : "-",
			 w->sig.group ? trace_ev_name(w->sig.group) : "-",
			 (unsigned long long)w->sig.group_addr);
}

int minimize_file(const char *in, const char *out, const struct min_opts *o,
		  struct min_result *r, char *err, size_t errlen)
{
	static const struct min_opts dflt;
	struct mini mn = { 0 };
	struct trace_error terr;
	struct outcome first;
	bool *all = NULL;
	size_t cut;
	int rc = -1;

	memset(r, 0, sizeof(*r));
	mn.o = o ? o : &dflt;
	mn.max_runs = mn.o->max_runs ? mn.o->max_runs : MIN_DEFAULT_RUNS;
	if (rp_list_load(in, &mn.l, &mn.h, &terr) < 0) {
		snprintf(err, errlen, "%s: %s", in, terr.msg);
		return -1;
	}
	mn.gstart = malloc((mn.l.n + 1) * sizeof(*mn.gstart));
	mn.keep = malloc(mn.l.n + 1);
	mn.gkeep = malloc(mn.l.n + 1);
	all = malloc(mn.l.n + 1);
	if (mn.o->keep == MIN_KEEP_CRASH) {
		mn.shared = mmap(NULL, sizeof(struct trace_event), PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		if (mn.shared == MAP_FAILED)
			mn.shared = NULL;
	}
	if (!mn.gstart || !mn.keep || !mn.gkeep || !all ||
	    (mn.o->keep == MIN_KEEP_CRASH && !mn.shared)) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < mn.l.n; i++)
		if (i == 0 || rec_is_top(&mn.l.ev[i]))
			mn.gstart[mn.ngroups++] = i;
	r->events_in = mn.l.n;
	r->groups_in = mn.ngroups;
	if (!mn.ngroups) {
		snprintf(err, errlen, "%s: the trace has no events", in);
		goto out;
	}
	memset(all, 1, mn.ngroups);
	if (!test(&mn, all, &first) && !first.interesting) {
		snprintf(err, errlen, "%s: %s", in,
			 mn.o->keep == MIN_KEEP_CRASH ? "its replay does not crash: nothing to keep"
						      : "it replays without divergence: nothing to "
							"keep");
		goto out;
	}
	mn.want = first;
	describe(&mn, r->signature, sizeof r->signature);
	/* what comes after the interesting group cannot matter */
	cut = mn.o->keep == MIN_KEEP_CRASH ? group_of_kept(&mn, all, first.at_index)
					   : group_of_kept(&mn, all, min_res.first_divergence);
	memcpy(mn.gkeep, all, mn.ngroups);
	for (size_t g = cut + 1; g < mn.ngroups; g++)
		mn.gkeep[g] = false;
	if (cut + 1 < mn.ngroups && !test(&mn, mn.gkeep, NULL))
		memcpy(mn.gkeep, all, mn.ngroups);
	ddmin(&mn, mn.gkeep);
	if (!mn.o->quiet && isatty(STDERR_FILENO))
		fprintf(stderr, "\r%70s\r", "");
	r->exhausted = mn.runs >= mn.max_runs;
	keep_from_groups(&mn, mn.gkeep);
	for (size_t i = 0; i < mn.l.n; i++)
		r->events_out += mn.keep[i];
	for (size_t g = 0; g < mn.ngroups; g++)
		r->groups_out += mn.gkeep[g];
	if (rp_list_write(out, &mn.h, &mn.l, mn.keep, &terr) < 0) {
		snprintf(err, errlen, "%s: %s", out, terr.msg);
		goto out;
	}
	rc = 0;
out:
	r->runs = mn.runs;
	if (mn.shared)
		munmap((void *)mn.shared, sizeof(struct trace_event));
	free(all);
	free(mn.gstart);
	free(mn.keep);
	free(mn.gkeep);
	rp_list_free(&mn.l);
	free(mn.h.world);
	return rc;
}
