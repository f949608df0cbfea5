/*
 * ringside — the oracles' watch over one fuzz machine (see oracle.h): the
 * arena tap and the virtqueue observers, the per-queue view of the chains
 * every device has in flight, and the fan-out of events to the oracles.
 * Also the small helpers several oracles use.
 *
 * Chain records are kept for reuse (as many as were ever in flight at
 * once); only a chain longer than VQ_CHAIN_INLINE segments takes memory
 * of its own, given back when it leaves flight. Memory stays flat over a
 * long fuzzing run.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "oracle.h"

/* ---- chain view ------------------------------------------------------------------- */

/* The live chain of queue q of device dev with buffer id, or NULL. Linear:
 * devices complete most chains in the notify that popped them, so few are
 * ever in flight at once. */
static struct owatch_chain *owatch_lookup(const struct owatch *w, unsigned dev, unsigned q,
					  uint16_t id)
{
	for (uint32_t i = 0; i < w->nlive; i++) {
		struct owatch_chain *ch = w->live[i];

		if (ch->id == id && ch->q == q && ch->dev == dev)
			return ch;
	}
	return NULL;
}

/* Drop live chain ch; its record goes back to the spares. */
static void owatch_untrack(struct owatch *w, struct owatch_chain *ch)
{
	struct owatch_chain *last = w->live[--w->nlive];

	w->live[ch->pos] = last;
	last->pos = ch->pos;
	w->devs[ch->dev].q[ch->q].inflight--;
	if (ch->segs != ch->inl) {
		free(ch->segs);
		ch->segs = ch->inl;
	}
	w->spare[w->nspare++] = ch;
}

/* A record for a new live chain (room in live[] guaranteed), or NULL. */
static struct owatch_chain *owatch_record(struct owatch *w)
{
	struct owatch_chain *ch;

	if (w->nlive + w->nspare == w->cap) {
		uint32_t cap = w->cap ? 2 * w->cap : 32;
		struct owatch_chain **l = realloc(w->live, (size_t)cap * sizeof(*l));

		if (!l)
			return NULL;
		w->live = l;
		l = realloc(w->spare, (size_t)cap * sizeof(*l));
		if (!l)
			return NULL;
		w->spare = l;
		w->cap = cap;
	}
	if (w->nspare)
		return w->spare[--w->nspare];
	ch = calloc(1, sizeof(*ch));
	if (ch)
		ch->segs = ch->inl;
	return ch;
}

/* Record c as in flight on queue q of od. Returns 0 or -ENOMEM. */
static int owatch_track(struct owatch_dev *od, unsigned q, const struct vq_chain *c)
{
	struct owatch *w = od->w;
	struct owatch_chain *ch = owatch_lookup(w, od->index, q, c->id);

	if (ch) /* the engine never hands out an id in flight; be safe */
		owatch_untrack(w, ch);
	ch = owatch_record(w);
	if (!ch)
		return -ENOMEM;
	if (c->nsegs > VQ_CHAIN_INLINE) {
		ch->segs = malloc((size_t)c->nsegs * sizeof(*ch->segs));
		if (!ch->segs) {
			ch->segs = ch->inl;
			w->spare[w->nspare++] = ch;
			return -ENOMEM;
		}
	}
	if (c->nsegs)
		memcpy(ch->segs, vq_chain_csegs(c), (size_t)c->nsegs * sizeof(*ch->segs));
	ch->dev = (uint16_t)od->index;
	ch->q = (uint16_t)q;
	ch->id = c->id;
	ch->nsegs = c->nsegs;
	ch->nread = c->nread;
	ch->read_len = c->read_len;
	ch->write_len = c->write_len;
	ch->pos = w->nlive;
	w->live[w->nlive++] = ch;
	od->q[q].inflight++;
	return 0;
}

/* ---- hooks -------------------------------------------------------------------------- */

static void owatch_tap(void *ctx, enum gm_access dir, uint64_t gpa, const void *data, size_t len)
{
	struct owatch *w = ctx;

	if (w->prev_tap)
		w->prev_tap(w->prev_ctx, dir, gpa, data, len);
	for (unsigned i = 0; i < w->nsubs; i++)
		if (w->subs[i].ops->access)
			w->subs[i].ops->access(w->subs[i].ctx, w, dir, gpa, data, len);
}

static void owatch_popped(void *ctx, const struct vq *vq, const struct vq_chain *c)
{
	struct owatch_dev *od = ctx;
	struct owatch *w = od->w;

	if (vq->qidx >= od->vd->nqueues)
		return; /* not one of the device's queues: cannot happen */
	if (owatch_track(od, vq->qidx, c) < 0)
		w->degraded = true;
	for (unsigned i = 0; i < w->nsubs; i++)
		if (w->subs[i].ops->popped)
			w->subs[i].ops->popped(w->subs[i].ctx, w, od->index, vq, c);
}

static void owatch_retired(void *ctx, const struct vq *vq, const struct vq_chain *c,
			   uint32_t len, bool used)
{
	struct owatch_dev *od = ctx;
	struct owatch *w = od->w;
	struct owatch_queue *oq;

	if (vq->qidx >= od->vd->nqueues)
		return;
	for (unsigned i = 0; i < w->nsubs; i++)
		if (w->subs[i].ops->retired)
			w->subs[i].ops->retired(w->subs[i].ctx, w, od->index, vq, c, len, used);
	oq = &od->q[vq->qidx];
	if (used) {
		oq->completed++;
		oq->last_valid = true;
		oq->last_id = c->id;
		oq->last_len = len;
		oq->last_write_len = c->write_len;
	}
	if (oq->inflight) {
		struct owatch_chain *ch = owatch_lookup(w, od->index, vq->qidx, c->id);

		if (ch)
			owatch_untrack(w, ch);
	}
}

static void owatch_qreset(void *ctx, const struct vq *vq)
{
	struct owatch_dev *od = ctx;
	struct owatch_queue *oq;

	if (vq->qidx >= od->vd->nqueues)
		return;
	oq = &od->q[vq->qidx];
	for (uint32_t i = od->w->nlive; oq->inflight && i-- > 0;) {
		struct owatch_chain *ch = od->w->live[i];

		if (ch->dev == od->index && ch->q == vq->qidx)
			owatch_untrack(od->w, ch);
	}
	oq->completed = 0;
	oq->last_valid = false;
}

static const struct vq_observer owatch_vq_observer = {
	.popped = owatch_popped,
	.retired = owatch_retired,
	.reset = owatch_qreset,
};

/* ---- life cycle --------------------------------------------------------------------- */

static void owatch_free(struct owatch *w)
{
	for (unsigned i = 0; w->devs && i < w->ndevs; i++) {
		struct owatch_dev *od = &w->devs[i];

		for (unsigned q = 0; od->q && q < od->vd->nqueues; q++)
			vq_set_observer(&od->vd->queues[q].vq, NULL, NULL);
	}
	while (w->nlive)
		owatch_untrack(w, w->live[w->nlive - 1]);
	for (uint32_t i = 0; i < w->nspare; i++)
		free(w->spare[i]);
	for (unsigned i = 0; w->devs && i < w->ndevs; i++)
		free(w->devs[i].q);
	free(w->devs);
	free(w->live);
	free(w->spare);
	free(w);
}

struct owatch *owatch_get(struct fuzz_machine *fm)
{
	struct gm *gm = &fm->m->gm;
	struct owatch *w;

	if (gm->tap == owatch_tap) {
		w = gm->tap_ctx;
		w->refs++;
		return w;
	}
	w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->fm = fm;
	w->gm = gm;
	w->refs = 1;
	w->ndevs = fm->ndevs;
	w->devs = calloc(RS_MAX(w->ndevs, 1u), sizeof(*w->devs));
	if (!w->devs) {
		owatch_free(w);
		return NULL;
	}
	for (unsigned i = 0; i < w->ndevs; i++) {
		struct owatch_dev *od = &w->devs[i];

		od->w = w;
		od->vd = fm->devs[i].vd;
		od->index = i;
		od->q = calloc(RS_MAX(od->vd->nqueues, 1u), sizeof(*od->q));
		if (!od->q) {
			owatch_free(w);
			return NULL;
		}
	}
	for (unsigned i = 0; i < w->ndevs; i++)
		for (unsigned q = 0; q < w->devs[i].vd->nqueues; q++)
			vq_set_observer(&w->devs[i].vd->queues[q].vq, &owatch_vq_observer,
					&w->devs[i]);
	w->prev_tap = gm->tap;
	w->prev_ctx = gm->tap_ctx;
	gm_set_tap(gm, owatch_tap, w);
	return w;
}

struct owatch *owatch_find(struct fuzz_machine *fm)
{
	return fm->m->gm.tap == owatch_tap ? fm->m->gm.tap_ctx : NULL;
}

void owatch_put(struct owatch *w)
{
	if (!w || --w->refs)
		return;
	gm_set_tap(w->gm, w->prev_tap, w->prev_ctx);
	owatch_free(w);
}

int owatch_subscribe(struct owatch *w, const struct owatch_ops *ops, void *ctx)
{
	if (w->nsubs == OWATCH_MAX_SUBS)
		return -ENOSPC;
	w->subs[w->nsubs].ops = ops;
	w->subs[w->nsubs++].ctx = ctx;
	return 0;
}

void owatch_unsubscribe(struct owatch *w, const struct owatch_ops *ops, void *ctx)
{
	for (unsigned i = 0; i < w->nsubs; i++) {
		if (w->subs[i].ops == ops && w->subs[i].ctx == ctx) {
			memmove(&w->subs[i], &w->subs[i + 1],
				(w->nsubs - i - 1) * sizeof(w->subs[0]));
			w->nsubs--;
			return;
		}
	}
}

const char *owatch_phase(const struct owatch *w)
{
	return w->phase ? w->phase : "";
}

int owatch_actor(const struct owatch *w)
{
	/* the machine's device i is the watch's device i (vdev.index) */
	const struct vdev *vd = w->gm->actor;

	if (vd && vd->index < w->ndevs && w->devs[vd->index].vd == vd)
		return (int)vd->index;
	return -1;
}

/* ---- helpers ------------------------------------------------------------------------ */

bool oracle_op_is_register(unsigned code)
{
	return code == FOP_REG_READ || code == FOP_REG_WRITE || code == FOP_CFG_READ ||
	       code == FOP_CFG_WRITE || code == FOP_IO_RAW;
}

size_t oracle_save_state(const struct vdev *vd, uint8_t **buf, size_t *cap)
{
	/* one pass when the buffer is big enough, as it is after the first */
	size_t n = vdev_save_state(vd, *buf, *cap);

	if (n > *cap) {
		uint8_t *b = realloc(*buf, n);

		if (!b)
			return 0;
		*buf = b;
		*cap = n;
		n = vdev_save_state(vd, *buf, n);
	}
	return n;
}
