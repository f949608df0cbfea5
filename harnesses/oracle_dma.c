/*
 * ringside — the DMA discipline oracle ("dma", docs/oracles.md).
 *
 * A device may write guest memory in two places only: the device-writable
 * segments of a chain it has in flight (popped, not yet completed), and
 * the ring areas the engine writes for it (split: the used ring with its
 * flags, entries, idx and avail_event; packed: used descriptors in the
 * descriptor ring and the device event suppression area). Every other
 * device-side write is a bug: into a device-readable buffer, past the end
 * of a writable segment, or outside every chain. Within the ring areas the
 * values are checked too: split used idx must equal the number of chains
 * the queue completed since it was set up (the used index moves by exactly
 * the chains completed), and every used entry must name the chain just
 * completed with the length it was completed with, no more than its
 * writable space.
 *
 * After every op: no device-side access may have reached an MMIO region
 * (the arena's mmio_dma count: every address a guest hands a device is
 * checked against RAM before use, so only a device can get there), and no
 * device may have reported a DEVICE-class diagnostic (DIAG_VQ_USED_LEN,
 * DIAG_VQ_PUSH_INVALID, DIAG_DEVICE_ERROR). Driver-class diagnostics are
 * the hostile guest's and never a bug; host-class ones (backend failures)
 * are what the fuzz world injects.
 *
 * Device attribution: the device core names the device whose model code is
 * running (the arena's actor, owatch_actor), and a write must land in that
 * device's own chains or rings. A write made outside every device call (no
 * actor: a live backend's callback, say) is accepted in any device's.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "oracle.h"

#define ORACLE "dma"

struct dma_oracle;

struct dma_machine {
	struct dma_oracle *o;
	struct fuzz_machine *fm;
	struct owatch *w;
	uint64_t mmio_seen;      /* arena mmio_dma count already checked */
	uint64_t *dev_seen;      /* DEVICE-class diagnostics already checked, per device */
	uint64_t *total_seen;    /* and all diagnostics (a cheap test for news) */
};

struct dma_oracle {
	const struct fuzz_target *t;
	struct fuzz_exec *x;     /* the harness's execution state (begin_input) */
	struct fuzz_exec idle;   /* stands in for it before the first input */
	struct dma_machine m[FUZZ_MAX_MACHINES];
	unsigned n;
};

/* ---- where a write may land --------------------------------------------------------- */

/* [a, a + alen) lies inside [b, b + blen). Both ranges are inside guest RAM
 * (the arena checked them), so nothing wraps. */
static bool within(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a >= b && a - b <= blen && alen <= blen - (a - b);
}

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

/* What the write hit when it is not allowed (for the message). */
struct dma_hit {
	const struct owatch_chain *readable;  /* overlaps a readable segment of it */
	const struct owatch_chain *writable;  /* overlaps (not inside) a writable one */
	const struct owatch_chain *foreign;   /* inside a writable one of another device */
	const struct vq_seg *foreign_seg;
	const struct vq_seg *seg;
	const char *ring_why;                 /* inside a ring area with a bad value */
	char ring_msg[160];
};

/* Inside a writable segment of a chain device dev (-1: any device) has in
 * flight? Notes near misses, in any device's chains, in hit. */
static bool in_chain(const struct owatch *w, int dev, uint64_t gpa, size_t len,
		     struct dma_hit *hit)
{
	for (uint32_t i = 0; i < w->nlive; i++) {
		const struct owatch_chain *ch = w->live[i];
		bool own = dev < 0 || ch->dev == (unsigned)dev;

		for (uint32_t k = 0; k < ch->nsegs; k++) {
			const struct vq_seg *s = &ch->segs[k];

			if (!s->len || !overlaps(gpa, len, s->gpa, s->len))
				continue;
			if (s->write && within(gpa, len, s->gpa, s->len)) {
				if (own)
					return true;
				if (!hit->foreign) {
					hit->foreign = ch;
					hit->foreign_seg = s;
				}
			} else if (!s->write && !hit->readable) {
				hit->readable = ch;
				hit->seg = s;
			} else if (s->write && !hit->writable && !hit->readable) {
				hit->writable = ch;
				hit->seg = s;
			}
		}
	}
	return false;
}

/* A used element {id, used} the device wrote (kind: "entry" of a split used
 * ring, "descriptor" of a packed ring) must be the last completion the
 * queue made, within that chain's writable bytes. */
static bool completion_ok(const struct owatch_queue *oq, const struct vq *vq, const char *kind,
			  uint32_t id, uint32_t used, struct dma_hit *hit)
{
	if (oq->last_valid && id == oq->last_id && used == oq->last_len &&
	    used <= oq->last_write_len)
		return true;
	snprintf(hit->ring_msg, sizeof(hit->ring_msg),
		 "used %s {id %u, len %u} written to q%u, but the last completion "
		 "was %s{id %u, len %u} of a chain with %u writable bytes",
		 kind, id, used, vq->qidx, oq->last_valid ? "" : "(none) ", oq->last_id,
		 oq->last_len, oq->last_write_len);
	hit->ring_why = hit->ring_msg;
	return false;
}

/* A write inside the split used ring of queue q: flags and avail_event take
 * any value; used idx must count the completed chains; a used entry must be
 * the completion just made. Returns true when the write is one the engine
 * makes; else false with why in hit. */
static bool split_used_ok(const struct owatch_queue *oq, const struct vq *vq, uint64_t gpa,
			  const uint8_t *data, size_t len, struct dma_hit *hit)
{
	uint64_t idx = vq->device + 2, ring = vq->device + 4;
	uint64_t ring_len = (uint64_t)VIRTQ_USED_ELEM_SIZE * vq->num;

	if (overlaps(gpa, len, idx, 2)) {
		uint16_t v;

		if (!within(idx, 2, gpa, len)) {
			hit->ring_why = "part of used idx";
			return false;
		}
		v = rs_le16(data + (idx - gpa));
		if (v != (uint16_t)oq->completed) {
			snprintf(hit->ring_msg, sizeof(hit->ring_msg),
				 "used idx of q%u written as %u, but the device completed %" PRIu64
				 " chains since the queue was set up", vq->qidx, v, oq->completed);
			hit->ring_why = hit->ring_msg;
			return false;
		}
	}
	if (overlaps(gpa, len, ring, ring_len)) {
		uint32_t id, used;

		if (len != VIRTQ_USED_ELEM_SIZE || (gpa - ring) % VIRTQ_USED_ELEM_SIZE) {
			hit->ring_why = "a partial used ring entry";
			return false;
		}
		id = rs_le32(data);
		used = rs_le32(data + 4);
		return completion_ok(oq, vq, "entry", id, used, hit);
	}
	return true;
}

/* The same for the packed descriptor ring: the engine writes {len, id} at
 * offset 8 of a slot, then the flags at offset 14; nothing else. */
static bool packed_used_ok(const struct owatch_queue *oq, const struct vq *vq, uint64_t gpa,
			   const uint8_t *data, size_t len, struct dma_hit *hit)
{
	uint64_t off = (gpa - vq->desc) % VIRTQ_DESC_SIZE;
	uint32_t id, used;

	if (off == 14 && len == 2)
		return true;
	if (off != 8 || len != 6) {
		hit->ring_why = "a part of a packed descriptor the device never writes";
		return false;
	}
	used = rs_le32(data);
	id = rs_le16(data + 4);
	return completion_ok(oq, vq, "descriptor", id, used, hit);
}

/* Inside the ring areas of a ready queue of device dev (-1: any device),
 * with a value the engine writes? Rings of different queues may overlap
 * (the guest places them): one queue that accepts the write is enough. */
static bool in_ring(const struct owatch *w, int dev, uint64_t gpa, const void *data, size_t len,
		    struct dma_hit *hit)
{
	for (unsigned i = 0; i < w->ndevs; i++) {
		const struct owatch_dev *od = &w->devs[i];

		if (dev >= 0 && i != (unsigned)dev)
			continue;

		for (unsigned q = 0; q < od->vd->nqueues; q++) {
			const struct vq *vq = &od->vd->queues[q].vq;

			if (!vq->ready)
				continue;
			if (vq->layout == VQ_SPLIT) {
				if (within(gpa, len, vq->device, virtq_used_size(vq->num)) &&
				    split_used_ok(&od->q[q], vq, gpa, data, len, hit))
					return true;
			} else {
				if (within(gpa, len, vq->device, 4))
					return true;
				if (within(gpa, len, vq->desc, (uint64_t)VIRTQ_DESC_SIZE * vq->num) &&
				    packed_used_ok(&od->q[q], vq, gpa, data, len, hit))
					return true;
			}
		}
	}
	return false;
}

static const char *plural(uint64_t n)
{
	return n == 1 ? "" : "s";
}

static const char *dev_name(const struct owatch *w, unsigned dev)
{
	return dev < w->ndevs ? w->devs[dev].vd->name : "?";
}

static void dma_access(void *ctx, struct owatch *w, enum gm_access dir, uint64_t gpa,
		       const void *data, size_t len)
{
	struct dma_machine *mm = ctx;
	struct fuzz_exec *x = mm->o->x ? mm->o->x : &mm->o->idle;
	struct dma_hit hit;
	int dev;
	const char *who;

	if (dir != GM_ACCESS_WRITE || !len || w->degraded)
		return;
	dev = owatch_actor(w);
	memset(&hit, 0, sizeof(hit));
	if (in_chain(w, dev, gpa, len, &hit) || in_ring(w, dev, gpa, data, len, &hit))
		return;
	who = dev >= 0 ? w->devs[dev].vd->name : w->ndevs == 1 ? w->devs[0].vd->name : "a device";
	if (hit.foreign)
		fuzz_bug(x, ORACLE,
			 "%s wrote %zu byte%s at 0x%" PRIx64 "%s into writable segment "
			 "0x%" PRIx64 "+%u of chain id %u on q%u of another device, %s",
			 who, len, plural(len), gpa, owatch_phase(w), hit.foreign_seg->gpa,
			 hit.foreign_seg->len, hit.foreign->id, hit.foreign->q,
			 dev_name(w, hit.foreign->dev));
	if (hit.ring_why)
		fuzz_bug(x, ORACLE, "%s wrote %zu byte%s at 0x%" PRIx64 " in a ring area%s: %s", who,
			 len, plural(len), gpa, owatch_phase(w), hit.ring_why);
	if (hit.readable)
		fuzz_bug(x, ORACLE,
			 "%s wrote %zu byte%s at 0x%" PRIx64 "%s into device-readable buffer "
			 "0x%" PRIx64 "+%u of chain id %u on q%u of %s",
			 who, len, plural(len), gpa, owatch_phase(w), hit.seg->gpa, hit.seg->len,
			 hit.readable->id, hit.readable->q, dev_name(w, hit.readable->dev));
	if (hit.writable)
		fuzz_bug(x, ORACLE,
			 "%s wrote %zu byte%s at 0x%" PRIx64 "%s, beyond writable segment "
			 "0x%" PRIx64 "+%u of chain id %u on q%u of %s",
			 who, len, plural(len), gpa, owatch_phase(w), hit.seg->gpa, hit.seg->len,
			 hit.writable->id, hit.writable->q, dev_name(w, hit.writable->dev));
	fuzz_bug(x, ORACLE,
		 "%s wrote %zu byte%s at 0x%" PRIx64 "%s, outside every chain in flight "
		 "(%u in flight) and every ring area",
		 who, len, plural(len), gpa, owatch_phase(w), w->nlive);
}

static const struct owatch_ops dma_watch_ops = {
	.access = dma_access,
};

/* ---- after every op: MMIO DMA and DEVICE-class diagnostics --------------------------- */

/* Newest entry of log whose code satisfies code (== or, with code
 * DIAG_NONE, DEVICE class); NULL when none is kept. */
static const struct diag_entry *recent_entry(const struct diag_log *log, enum diag_code code)
{
	for (unsigned i = 1; i <= DIAG_KEEP; i++) {
		unsigned k = (log->recent_head + DIAG_KEEP - i) % DIAG_KEEP;
		const struct diag_entry *e = &log->recent[k];

		if (e->code == DIAG_NONE)
			continue;
		if (code == DIAG_NONE ? diag_class_of(e->code) == DIAG_CLASS_DEVICE : e->code == code)
			return e;
	}
	return NULL;
}

static void dma_baseline(struct dma_machine *mm)
{
	mm->mmio_seen = mm->fm->m->gm.stats.mmio_dma;
	for (unsigned i = 0; i < mm->fm->ndevs; i++) {
		const struct diag_log *log = &mm->fm->devs[i].vd->log;

		if (log->total == mm->total_seen[i])
			continue;
		mm->total_seen[i] = log->total;
		mm->dev_seen[i] = diag_count_class(log, DIAG_CLASS_DEVICE);
	}
}

static void dma_check(struct dma_machine *mm, struct fuzz_exec *x)
{
	struct machine *m = mm->fm->m;

	if (m->gm.stats.mmio_dma > mm->mmio_seen) {
		const struct diag_entry *e = recent_entry(&m->log, DIAG_GM_MMIO_DMA);

		uint64_t n = m->gm.stats.mmio_dma - mm->mmio_seen;

		fuzz_bug(x, ORACLE, "a device reached an MMIO region by DMA (%" PRIu64
			 " access%s)%s: %s", n, n == 1 ? "" : "es", owatch_phase(mm->w),
			 e ? e->msg : "(no diagnostic kept)");
	}
	for (unsigned i = 0; i < mm->fm->ndevs; i++) {
		const struct vdev *vd = mm->fm->devs[i].vd;
		uint64_t n;

		if (vd->log.total == mm->total_seen[i])
			continue;
		n = diag_count_class(&vd->log, DIAG_CLASS_DEVICE);
		if (n > mm->dev_seen[i]) {
			const struct diag_entry *e = recent_entry(&vd->log, DIAG_NONE);

			fuzz_bug(x, ORACLE, "%s reported a DEVICE-class diagnostic%s: %s %s",
				 vd->name, owatch_phase(mm->w), e ? diag_name(e->code) : "",
				 e ? e->msg : "(no entry kept)");
		}
	}
}

static struct dma_machine *dma_machine_of(struct dma_oracle *o, const struct fuzz_exec *x)
{
	for (unsigned i = 0; i < o->n; i++)
		if (o->m[i].fm == x->fm)
			return &o->m[i];
	return NULL;
}

/* ---- hooks -------------------------------------------------------------------------- */

static void dma_detach(void *state)
{
	struct dma_oracle *o = state;

	if (!o)
		return;
	for (unsigned i = 0; i < o->n; i++) {
		if (o->m[i].w) {
			owatch_unsubscribe(o->m[i].w, &dma_watch_ops, &o->m[i]);
			owatch_put(o->m[i].w);
		}
		free(o->m[i].dev_seen);
		free(o->m[i].total_seen);
	}
	free(o);
}

static int dma_attach(struct fuzz_harness *h, void **state)
{
	struct fuzz_machine *fms[FUZZ_MAX_MACHINES];
	unsigned n = fuzz_harness_machines(h, fms, FUZZ_MAX_MACHINES);
	struct dma_oracle *o;

	*state = NULL;
	if (!n)
		return 0; /* the ring target: the harness is the device there */
	o = calloc(1, sizeof(*o));
	if (!o)
		return -1;
	o->t = fuzz_harness_target(h);
	o->idle.target = o->t;
	for (unsigned i = 0; i < n; i++) {
		struct dma_machine *mm = &o->m[o->n++];

		mm->o = o;
		mm->fm = fms[i];
		mm->dev_seen = calloc(RS_MAX(fms[i]->ndevs, 1u), sizeof(*mm->dev_seen));
		mm->total_seen = calloc(RS_MAX(fms[i]->ndevs, 1u), sizeof(*mm->total_seen));
		mm->w = owatch_get(fms[i]);
		if (!mm->dev_seen || !mm->total_seen || !mm->w ||
		    owatch_subscribe(mm->w, &dma_watch_ops, mm) < 0) {
			if (mm->w)
				owatch_put(mm->w);
			mm->w = NULL;
			dma_detach(o);
			return -1;
		}
		dma_baseline(mm);
	}
	*state = o;
	return 0;
}

static void dma_begin_input(void *state, struct fuzz_exec *x)
{
	struct dma_oracle *o = state;
	struct dma_machine *mm;

	if (!o)
		return;
	o->x = x;
	mm = dma_machine_of(o, x);
	if (mm) {
		mm->w->phase = NULL;
		dma_baseline(mm);
	}
}

static void dma_end_input(void *state, struct fuzz_exec *x)
{
	struct dma_oracle *o = state;
	struct dma_machine *mm = o ? dma_machine_of(o, x) : NULL;

	if (mm)
		mm->w->phase = " during machine_reset";
}

static void dma_after_op(void *state, struct fuzz_exec *x)
{
	struct dma_oracle *o = state;
	struct dma_machine *mm = o ? dma_machine_of(o, x) : NULL;

	if (mm) {
		dma_check(mm, x);
		dma_baseline(mm);
	}
}

static void dma_after_reset(void *state, struct fuzz_exec *x)
{
	struct dma_oracle *o = state;
	struct dma_machine *mm = o ? dma_machine_of(o, x) : NULL;

	if (mm)
		dma_baseline(mm);
}

const struct fuzz_oracle fuzz_oracle_dma = {
	.name = ORACLE,
	.attach = dma_attach,
	.begin_input = dma_begin_input,
	.after_op = dma_after_op,
	.end_input = dma_end_input,
	.after_reset = dma_after_reset,
	.detach = dma_detach,
};
