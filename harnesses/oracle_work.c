/*
 * ringside — the bounded-work oracle ("work", docs/oracles.md): no hang.
 *
 * Counts the work the devices do through the machine's watch and checks it
 * against generous bounds derived from the queue sizes, while it happens,
 * so a device stuck in a loop that touches guest memory is reported at the
 * first access beyond its bound instead of when it would end:
 *
 *   work      every device-side arena access costs WORK_PER_ACCESS units
 *             plus its length in bytes
 *   per op    an op (a notify, a world event, a register write...) may cost
 *             base = WORK_BASE + WORK_PER_SLOT x (the sum of the largest
 *             sizes of every queue of every device in the machine), plus,
 *             for every chain popped during the op, WORK_PER_BYTE x its
 *             length and WORK_PER_SEG x (its segments and descriptors + 4);
 *             and it may pop at most POPS_FACTOR x that sum of queue sizes
 *             + POPS_BASE chains
 *   reset     machine_reset and what runs after it before the next input
 *             (the canary) together get the per-op bounds once more
 *   input     4 x base, plus base / 8 per op executed and the reset phase,
 *             plus the allowance of every chain popped; and 4 x the
 *             per-op pops, plus a quarter of it per op: so a loop spread
 *             thin over many ops is caught too
 *
 * A correct device reads every descriptor once per pop and moves each
 * byte of a chain a small number of times, so these bounds are orders of
 * magnitude above what it needs, while a loop is caught within milliseconds.
 *
 * A loop that never touches guest memory is invisible to this count. For
 * that, RS_FUZZ_WATCHDOG=SECONDS arms an alarm per input (for the
 * standalone driver; libFuzzer's -timeout and AFL++'s -t do the same job
 * under a fuzzer, and libFuzzer uses SIGALRM itself, so do not combine).
 */
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "oracle.h"

#define ORACLE "work"

#define WORK_PER_ACCESS 64ull
#define WORK_BASE (1ull << 22)
#define WORK_PER_SLOT 2048ull
#define WORK_PER_BYTE 4ull
#define WORK_PER_SEG 1024ull
#define POPS_FACTOR 4ull
#define POPS_BASE 64ull

struct work_oracle;

struct work_machine {
	struct work_oracle *o;
	struct fuzz_machine *fm;
	struct owatch *w;
	uint64_t slots;        /* sum of every queue's largest size */
	uint64_t base;         /* work bound of an op with no chain popped */
	uint64_t pops_max;     /* chains an op may pop */
	/* this op (or the reset phase) */
	uint64_t op_work, op_allow, op_pops;
	/* this input */
	uint64_t in_work, in_allow, in_pops, in_pops_allow;
};

struct work_oracle {
	struct fuzz_exec *x;
	struct fuzz_exec idle;
	struct work_machine m[FUZZ_MAX_MACHINES];
	unsigned n;
	unsigned watchdog;     /* seconds, 0: off */
};

/* ---- the count ---------------------------------------------------------------------- */

static struct fuzz_exec *work_exec(struct work_machine *wm)
{
	return wm->o->x ? wm->o->x : &wm->o->idle;
}

/* Start a new op (or the reset phase). */
static void work_op_start(struct work_machine *wm)
{
	wm->op_work = 0;
	wm->op_pops = 0;
	wm->op_allow = wm->base;
	wm->in_allow = rs_satadd_u64(wm->in_allow, wm->base / 8);
	wm->in_pops_allow = rs_satadd_u64(wm->in_pops_allow, wm->pops_max / 4);
}

/* Start an input. */
static void work_input_start(struct work_machine *wm)
{
	wm->in_work = 0;
	wm->in_pops = 0;
	wm->in_allow = 4 * wm->base;
	wm->in_pops_allow = 4 * wm->pops_max;
	work_op_start(wm);
}

static void work_over(struct work_machine *wm, const char *what, uint64_t n, uint64_t bound)
{
	fuzz_bug(work_exec(wm), ORACLE,
		 "%s: %" PRIu64 " above the bound of %" PRIu64 "%s (the device loops, or does "
		 "far more than the chains it was given need)",
		 what, n, bound, owatch_phase(wm->w));
}

static void work_access(void *ctx, struct owatch *w, enum gm_access dir, uint64_t gpa,
			const void *data, size_t len)
{
	struct work_machine *wm = ctx;
	uint64_t cost = WORK_PER_ACCESS + len;

	wm->op_work = rs_satadd_u64(wm->op_work, cost);
	wm->in_work = rs_satadd_u64(wm->in_work, cost);
	if (wm->op_work > wm->op_allow)
		work_over(wm, "device-side memory work in one op", wm->op_work, wm->op_allow);
	if (wm->in_work > wm->in_allow)
		work_over(wm, "device-side memory work in one input", wm->in_work, wm->in_allow);
}

static void work_popped(void *ctx, struct owatch *w, unsigned dev, const struct vq *vq,
			const struct vq_chain *c)
{
	struct work_machine *wm = ctx;
	uint64_t allow = WORK_PER_BYTE * ((uint64_t)c->read_len + c->write_len) +
			 WORK_PER_SEG * ((uint64_t)c->nsegs + c->ndesc + 4);

	wm->op_allow = rs_satadd_u64(wm->op_allow, allow);
	wm->in_allow = rs_satadd_u64(wm->in_allow, allow);
	wm->op_pops++;
	wm->in_pops++;
	if (wm->op_pops > wm->pops_max)
		work_over(wm, "chains popped in one op", wm->op_pops, wm->pops_max);
	if (wm->in_pops > wm->in_pops_allow)
		work_over(wm, "chains popped in one input", wm->in_pops, wm->in_pops_allow);
}

static const struct owatch_ops work_watch_ops = {
	.access = work_access,
	.popped = work_popped,
};

/* ---- the watchdog ------------------------------------------------------------------- */

static char watchdog_msg[256];
static size_t watchdog_len;

/* SIGALRM: only async-signal-safe calls. */
static void watchdog_fire(int sig)
{
	(void)sig;
	if (write(STDERR_FILENO, watchdog_msg, watchdog_len) < 0)
		_exit(3);
	abort();
}

static void watchdog_arm(const struct fuzz_target *t, unsigned secs)
{
	struct sigaction sa;
	int n = snprintf(watchdog_msg, sizeof(watchdog_msg),
			 "==ringside-fuzz== BUG found by oracle '" ORACLE "' in target %s: an "
			 "input ran longer than %u s (RS_FUZZ_WATCHDOG)\n",
			 t && t->name ? t->name : "?", secs);

	watchdog_len = n > 0 ? RS_MIN((size_t)n, sizeof(watchdog_msg) - 1) : 0;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = watchdog_fire;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
}

/* ---- hooks -------------------------------------------------------------------------- */

static struct work_machine *work_machine_of(struct work_oracle *o, const struct fuzz_exec *x)
{
	for (unsigned i = 0; i < o->n; i++)
		if (o->m[i].fm == x->fm)
			return &o->m[i];
	return NULL;
}

static void work_detach(void *state)
{
	struct work_oracle *o = state;

	if (!o)
		return;
	for (unsigned i = 0; i < o->n; i++) {
		if (o->m[i].w) {
			owatch_unsubscribe(o->m[i].w, &work_watch_ops, &o->m[i]);
			owatch_put(o->m[i].w);
		}
	}
	if (o->watchdog)
		alarm(0);
	free(o);
}

static int work_attach(struct fuzz_harness *h, void **state)
{
	struct fuzz_machine *fms[FUZZ_MAX_MACHINES];
	unsigned n = fuzz_harness_machines(h, fms, FUZZ_MAX_MACHINES);
	const char *wd = getenv("RS_FUZZ_WATCHDOG");
	struct work_oracle *o;

	*state = NULL;
	if (!n)
		return 0;
	o = calloc(1, sizeof(*o));
	if (!o)
		return -1;
	o->idle.target = fuzz_harness_target(h);
	for (unsigned i = 0; i < n; i++) {
		struct work_machine *wm = &o->m[o->n++];

		wm->o = o;
		wm->fm = fms[i];
		for (unsigned d = 0; d < fms[i]->ndevs; d++) {
			const struct vdev *vd = fms[i]->devs[d].vd;

			for (unsigned q = 0; q < vd->nqueues; q++)
				wm->slots += vd->queues[q].max;
		}
		wm->base = WORK_BASE + WORK_PER_SLOT * wm->slots;
		wm->pops_max = POPS_BASE + POPS_FACTOR * wm->slots;
		wm->w = owatch_get(fms[i]);
		if (!wm->w || owatch_subscribe(wm->w, &work_watch_ops, wm) < 0) {
			if (wm->w)
				owatch_put(wm->w);
			wm->w = NULL;
			work_detach(o);
			return -1;
		}
		work_input_start(wm);
	}
	if (wd && *wd && atoi(wd) > 0) {
		o->watchdog = (unsigned)atoi(wd);
		watchdog_arm(o->idle.target, o->watchdog);
	}
	*state = o;
	return 0;
}

static void work_begin_input(void *state, struct fuzz_exec *x)
{
	struct work_oracle *o = state;
	struct work_machine *wm;

	if (!o)
		return;
	o->x = x;
	if (o->watchdog)
		alarm(o->watchdog);
	wm = work_machine_of(o, x);
	if (!wm)
		return;
	wm->w->phase = NULL;
	work_input_start(wm);
}

static void work_after_op(void *state, struct fuzz_exec *x)
{
	struct work_oracle *o = state;
	struct work_machine *wm = o ? work_machine_of(o, x) : NULL;

	if (wm)
		work_op_start(wm);
}

static void work_end_input(void *state, struct fuzz_exec *x)
{
	struct work_oracle *o = state;
	struct work_machine *wm = o ? work_machine_of(o, x) : NULL;

	if (!wm)
		return;
	/* the reset and whatever other oracles run after it (the canary) */
	wm->w->phase = " during machine_reset";
	work_op_start(wm);
}

static void work_after_reset(void *state, struct fuzz_exec *x)
{
	struct work_oracle *o = state;

	if (o && o->watchdog)
		alarm(0);
}

const struct fuzz_oracle fuzz_oracle_work = {
	.name = ORACLE,
	.attach = work_attach,
	.begin_input = work_begin_input,
	.after_op = work_after_op,
	.end_input = work_end_input,
	.after_reset = work_after_reset,
	.detach = work_detach,
};
