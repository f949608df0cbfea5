/*
 * ringside — virtqueue engine, layout-independent part: setup and reset,
 * dispatch to the split (vq_split.c) and packed (vq_packed.c) rings with the
 * ready/broken checks and statistics, in-flight bookkeeping, chain building
 * and the chain cursor.
 *
 * Every function reached from the guest side is bounded: chain building is
 * limited by the caller's descriptor count (at most the queue size), the
 * cursor by the segments of one chain.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vq_priv.h"

void vq_init(struct vq *vq, struct gm *gm, struct diag_log *log, unsigned qidx,
	     vq_error_fn on_error, void *err_ctx)
{
	memset(vq, 0, sizeof(*vq));
	vq->gm = gm;
	vq->log = log;
	vq->qidx = qidx;
	vq->on_error = on_error;
	vq->err_ctx = err_ctx;
}

void vq_set_observer(struct vq *vq, const struct vq_observer *obs, void *ctx)
{
	vq->obs = obs;
	vq->obs_ctx = obs ? ctx : NULL;
}

/* Drop configuration, ring state and the in-flight bitmap; keeps the
 * attachment (arena, log, hooks, observer) and the statistics. Tells the
 * observer every chain in flight is forgotten. */
static void vq_forget(struct vq *vq)
{
	struct gm *gm = vq->gm;
	struct diag_log *log = vq->log;
	unsigned qidx = vq->qidx;
	vq_error_fn on_error = vq->on_error;
	void *err_ctx = vq->err_ctx;
	const struct vq_observer *obs = vq->obs;
	void *obs_ctx = vq->obs_ctx;
	struct vq_stats stats = vq->stats;

	free(vq->inflight_bits);
	vq_init(vq, gm, log, qidx, on_error, err_ctx);
	vq->obs = obs;
	vq->obs_ctx = obs_ctx;
	vq->stats = stats;
	if (obs && obs->reset)
		obs->reset(obs_ctx, vq);
}

int vq_setup(struct vq *vq, const struct vq_config *cfg)
{
	int err;

	vq_forget(vq);
	if (cfg->layout != VQ_SPLIT && cfg->layout != VQ_PACKED)
		return -EINVAL; /* host bug: the transport picks the layout */

	/* virtio-v1.2 2.7: split queue size is a power of 2, at most 32768;
	 * 2.8: packed queue size is any value up to 32768. */
	if (cfg->num == 0 || cfg->num > VIRTQ_MAX_SIZE ||
	    (cfg->layout == VQ_SPLIT && !rs_is_pow2(cfg->num))) {
		diag_report(vq->log, DIAG_VQ_SIZE, "q%u: %s queue size %u rejected", vq->qidx,
			    cfg->layout == VQ_SPLIT ? "split" : "packed", cfg->num);
		return -EINVAL;
	}

	vq->layout = cfg->layout;
	vq->num = cfg->num;
	vq->desc = cfg->desc;
	vq->driver = cfg->driver;
	vq->device = cfg->device;
	vq->features = cfg->features;

	err = cfg->layout == VQ_SPLIT ? vq_split_check_setup(vq) : vq_packed_check_setup(vq);
	if (err) {
		vq_forget(vq);
		return err;
	}

	/* vq_forget left inflight_small zero; a larger queue gets a heap bitmap */
	if (cfg->num > VQ_INFLIGHT_SMALL) {
		vq->inflight_bits = calloc(((size_t)cfg->num + 63) / 64, sizeof(uint64_t));
		if (!vq->inflight_bits) {
			vq_forget(vq);
			return -ENOMEM;
		}
	}
	/* virtio-v1.2 2.8.1: both packed ring wrap counters start at 1. */
	vq->avail_wrap = true;
	vq->used_wrap = true;
	vq->ready = true;
	return 0;
}

void vq_reset(struct vq *vq)
{
	vq_forget(vq);
	memset(&vq->stats, 0, sizeof(vq->stats));
}

void vq_legacy_layout(struct vq_config *cfg, uint64_t base, uint16_t num, uint64_t align)
{
	/* virtio-v1.2 2.7.2: desc[num], avail, padding to the next multiple of
	 * the queue alignment, used. align comes from the guest on MMIO v1, so
	 * any value is defined here: 0 counts as 1, a non power of two rounds
	 * up to a multiple of it, and address overflow saturates (vq_setup then
	 * rejects the ring). */
	uint64_t end = 16ull * num + virtq_avail_size(num);
	uint64_t used_off = end;

	if (align > 1 && end % align)
		used_off = rs_satadd_u64(end, align - end % align);
	cfg->layout = VQ_SPLIT;
	cfg->num = num;
	cfg->desc = base;
	cfg->driver = rs_satadd_u64(base, 16ull * num);
	cfg->device = rs_satadd_u64(base, used_off);
}

int vq_guest_error(struct vq *vq, enum diag_code code, int err, const char *fmt, ...)
{
	char msg[128] = "";
	va_list ap;

	if (diag_wants_text(code)) {
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
	}
	diag_report(vq->log, code, "q%u: %s", vq->qidx, msg);
	vq->broken = true;
	vq->stats.errors++;
	if (vq->on_error)
		vq->on_error(vq->err_ctx, vq->qidx, code);
	return err;
}

/* ---- chains ---- */

void vq_chain_clear(struct vq_chain *c)
{
	c->id = 0;
	c->ndesc = 0;
	c->nsegs = 0;
	c->nread = 0;
	c->read_len = 0;
	c->write_len = 0;
	c->heap = NULL;
}

void vq_chain_release(struct vq_chain *c)
{
	free(c->heap);
	vq_chain_clear(c);
}

/* Make room for segment number c->nsegs. The heap array's capacity is
 * implicit: the smallest power of two >= nsegs (at least 2 * inline), so it
 * grows exactly when nsegs reaches the inline size or a power of two. */
static int vq_chain_grow(struct vq_chain *c)
{
	uint32_t n = c->nsegs;
	struct vq_seg *p;

	if (n < VQ_CHAIN_INLINE || (n > VQ_CHAIN_INLINE && !rs_is_pow2(n)))
		return 0;
	if (n == VQ_CHAIN_INLINE) {
		p = malloc(2 * VQ_CHAIN_INLINE * sizeof(*p));
		if (!p)
			return -ENOMEM;
		memcpy(p, c->inl, sizeof(c->inl));
	} else {
		/* n is bounded by the caller's descriptor limit (<= 32768), so
		 * 2 * n * sizeof(seg) cannot overflow. */
		p = realloc(c->heap, 2 * (size_t)n * sizeof(*p));
		if (!p)
			return -ENOMEM;
	}
	c->heap = p;
	return 0;
}

int vq_chain_add(struct vq *vq, struct vq_chain *c, uint64_t gpa, uint32_t len, bool write)
{
	struct vq_seg *s;
	int err;

	/* virtio-v1.2 2.7.5: addr is a guest-physical address; the whole
	 * buffer must be RAM we can reach, a zero-length one a valid start. */
	if (!gm_range_ok(vq->gm, gpa, len ? len : 1))
		return vq_guest_error(vq, DIAG_VQ_DESC_ADDR, -EINVAL,
				      "buffer 0x%" PRIx64 "+%" PRIu32 " is not guest RAM", gpa,
				      len);
	if (write) {
		if (len > UINT32_MAX - c->write_len)
			return vq_guest_error(vq, DIAG_VQ_LEN_OVERFLOW, -EOVERFLOW,
					      "writable length above 2^32-1");
	} else {
		/* virtio-v1.2 2.7.4.2: device-writable after device-readable. */
		if (c->nsegs > c->nread)
			return vq_guest_error(vq, DIAG_VQ_WRITE_ORDER, -EINVAL,
					      "readable descriptor after a writable one");
		if (len > UINT32_MAX - c->read_len)
			return vq_guest_error(vq, DIAG_VQ_LEN_OVERFLOW, -EOVERFLOW,
					      "readable length above 2^32-1");
	}
	err = vq_chain_grow(c);
	if (err)
		return err; /* host out of memory: not the guest's fault */

	s = vq_chain_segs(c) + c->nsegs++;
	s->gpa = gpa;
	s->len = len;
	s->write = write;
	if (write) {
		c->write_len += len;
	} else {
		c->nread++;
		c->read_len += len;
	}
	return 0;
}

/* ---- dispatch ---- */

static bool vq_usable(const struct vq *vq)
{
	return vq->ready && !vq->broken;
}

int vq_pop(struct vq *vq, struct vq_chain *c)
{
	int ret;

	vq_chain_clear(c);
	if (!vq_usable(vq))
		return -EIO; /* the error that broke it was reported already */
	ret = vq->layout == VQ_SPLIT ? vq_split_pop(vq, c) : vq_packed_pop(vq, c);
	if (ret == 1) {
		vq->stats.popped++;
		vq->inflight++;
		if (vq->obs && vq->obs->popped)
			vq->obs->popped(vq->obs_ctx, vq, c);
	} else if (ret < 0) {
		vq_chain_release(c);
	}
	return ret;
}

/* True when c names a buffer id this queue has in flight. */
static bool vq_chain_inflight(const struct vq *vq, const struct vq_chain *c)
{
	return c->id < vq->num && vq_inflight_test(vq, c->id);
}

/* Tell the observer (if any) that c leaves the in-flight set: completed
 * with len (used) or dropped. */
static void vq_observe_retired(struct vq *vq, const struct vq_chain *c, uint32_t len, bool used)
{
	if (vq->obs && vq->obs->retired)
		vq->obs->retired(vq->obs_ctx, vq, c, len, used);
}

/* Forget an in-flight chain: id no longer in flight, segments freed. */
static void vq_chain_retire(struct vq *vq, struct vq_chain *c)
{
	vq_inflight_clear(vq, c->id);
	vq->inflight--;
	vq_chain_release(c);
}

/* The device asked to complete a chain we do not have in flight. */
static int vq_push_invalid(struct vq *vq, const struct vq_chain *c)
{
	diag_report(vq->log, DIAG_VQ_PUSH_INVALID, "q%u: completing id %u that is not in flight",
		    vq->qidx, c->id);
	return -EINVAL;
}

/* len clamped to the chain's writable space (a larger one is a device bug). */
static uint32_t vq_used_len(struct vq *vq, const struct vq_chain *c, uint32_t len)
{
	if (len <= c->write_len)
		return len;
	diag_report(vq->log, DIAG_VQ_USED_LEN, "q%u: id %u used len %" PRIu32
		    " above writable %" PRIu32 ", clamped", vq->qidx, c->id, len, c->write_len);
	return c->write_len;
}

int vq_push(struct vq *vq, struct vq_chain *c, uint32_t len)
{
	int err;

	if (!vq->ready)
		return -EIO;
	if (!vq_chain_inflight(vq, c))
		return vq->broken ? -EIO : vq_push_invalid(vq, c);
	if (vq->broken) {
		vq_observe_retired(vq, c, 0, false);
		vq_chain_retire(vq, c);
		return -EIO;
	}
	len = vq_used_len(vq, c, len);
	vq_observe_retired(vq, c, len, true);
	err = vq->layout == VQ_SPLIT ? vq_split_push(vq, c, len) : vq_packed_push(vq, c, len);
	vq_chain_retire(vq, c);
	if (err)
		return err;
	vq->stats.pushed++;
	return 0;
}

/*
 * Complete chains[first..last] (already out of the in-flight set) with one
 * used entry for the last one, then free their segments. The skipped chains
 * are wholly used (virtio-v1.2 2.7.9).
 */
static int vq_push_run(struct vq *vq, struct vq_chain *chains, unsigned first, unsigned last,
		       uint32_t len)
{
	unsigned i, count = last - first + 1;
	unsigned total_ndesc = 0;
	int err;

	for (i = first; i <= last; i++) {
		total_ndesc += chains[i].ndesc;
		vq_observe_retired(vq, &chains[i], i == last ? len : chains[i].write_len, true);
	}
	if (vq->layout == VQ_SPLIT)
		err = count == 1 ? vq_split_push(vq, &chains[last], len)
				 : vq_split_push_batch(vq, &chains[last], len, count);
	else
		err = count == 1 ? vq_packed_push(vq, &chains[last], len)
				 : vq_packed_push_batch(vq, &chains[last], len, total_ndesc);
	for (i = first; i <= last; i++)
		vq_chain_release(&chains[i]);
	vq->inflight -= count;
	if (err)
		return err;
	vq->stats.pushed += count;
	return 0;
}

/* The queue broke during a batch: drop the in-flight chains from i on. */
static void vq_push_drop(struct vq *vq, struct vq_chain *chains, unsigned i, unsigned n)
{
	for (; i < n; i++) {
		if (vq_chain_inflight(vq, &chains[i])) {
			vq_observe_retired(vq, &chains[i], 0, false);
			vq_chain_retire(vq, &chains[i]);
		}
	}
}

int vq_push_n(struct vq *vq, struct vq_chain *chains, const uint32_t *lens, unsigned n)
{
	unsigned i, first = 0;
	uint32_t len;
	int err;

	if (!vq->ready)
		return -EIO;
	if (!(vq->features & VIRTIO_BIT(VIRTIO_F_IN_ORDER)) || n < 2 || vq->broken) {
		for (i = 0; i < n; i++) {
			err = vq_push(vq, &chains[i], lens[i]);
			if (err) {
				if (vq->broken)
					vq_push_drop(vq, chains, i + 1, n);
				return err;
			}
		}
		return 0;
	}

	/* virtio-v1.2 2.7.9 / 2.8: one used entry per run of wholly used chains.
	 * Each chain leaves the in-flight set as it joins a run, so a chain
	 * given twice is caught as not in flight. */
	for (i = 0; i < n; i++) {
		struct vq_chain *c = &chains[i];

		if (!vq_chain_inflight(vq, c)) {
			/* complete the run before it, as n vq_push calls would */
			err = 0;
			if (i > first)
				err = vq_push_run(vq, chains, first, i - 1,
						  chains[i - 1].write_len);
			if (err) {
				vq_push_drop(vq, chains, i + 1, n);
				return err;
			}
			return vq_push_invalid(vq, c);
		}
		vq_inflight_clear(vq, c->id);
		len = vq_used_len(vq, c, lens[i]);
		if (i + 1 < n && len == c->write_len)
			continue;
		err = vq_push_run(vq, chains, first, i, len);
		if (err) {
			vq_push_drop(vq, chains, i + 1, n);
			return err;
		}
		first = i + 1;
	}
	return 0;
}

bool vq_should_notify(struct vq *vq)
{
	bool yes;

	if (!vq_usable(vq))
		return false;
	yes = vq->layout == VQ_SPLIT ? vq_split_should_notify(vq) : vq_packed_should_notify(vq);
	if (yes)
		vq->stats.notified++;
	else
		vq->stats.suppressed++;
	return yes;
}

bool vq_set_notify(struct vq *vq, bool enable)
{
	if (!vq_usable(vq))
		return false;
	return vq->layout == VQ_SPLIT ? vq_split_set_notify(vq, enable)
				      : vq_packed_set_notify(vq, enable);
}

bool vq_pending(struct vq *vq)
{
	if (!vq_usable(vq))
		return false;
	return vq->layout == VQ_SPLIT ? vq_split_pending(vq) : vq_packed_pending(vq);
}

/* ---- chain cursor ---- */

void vq_cursor_init_read(struct vq_cursor *cur, struct gm *gm, const struct vq_chain *c)
{
	cur->gm = gm;
	cur->c = c;
	cur->seg = 0;
	cur->off = 0;
	cur->end = c->nread;
	cur->done = 0;
	cur->left = c->read_len;
	cur->error = 0;
}

void vq_cursor_init_write(struct vq_cursor *cur, struct gm *gm, const struct vq_chain *c)
{
	cur->gm = gm;
	cur->c = c;
	cur->seg = c->nread;
	cur->off = 0;
	cur->end = c->nsegs;
	cur->done = 0;
	cur->left = c->write_len;
	cur->error = 0;
}

enum vq_cursor_op {
	VQ_CURSOR_READ,
	VQ_CURSOR_WRITE,
	VQ_CURSOR_SKIP,
};

/* Move up to len bytes across segments; stops at the end of the part or at
 * the first arena failure (recorded in cur->error). Returns bytes moved. */
static size_t vq_cursor_move(struct vq_cursor *cur, enum vq_cursor_op op, void *dst,
			     const void *src, size_t len)
{
	const struct vq_seg *segs = vq_chain_csegs(cur->c);
	size_t moved = 0;

	if (cur->error)
		return 0;
	while (moved < len && cur->seg < cur->end) {
		const struct vq_seg *s = &segs[cur->seg];
		size_t n = s->len - cur->off;
		int err = 0;

		if (n == 0) {
			cur->seg++;
			cur->off = 0;
			continue;
		}
		n = RS_MIN(n, len - moved);
		/* SAFETY: s->gpa + s->len was checked not to wrap when the chain
		 * was popped, and off < len. */
		if (op == VQ_CURSOR_READ)
			err = gm_read(cur->gm, s->gpa + cur->off, (uint8_t *)dst + moved, n);
		else if (op == VQ_CURSOR_WRITE)
			err = gm_write(cur->gm, s->gpa + cur->off, (const uint8_t *)src + moved, n);
		if (err) {
			cur->error = err;
			break;
		}
		moved += n;
		cur->off += (uint32_t)n;
		cur->done += (uint32_t)n;
		cur->left -= (uint32_t)n;
	}
	return moved;
}

size_t vq_cursor_read(struct vq_cursor *cur, void *dst, size_t len)
{
	return vq_cursor_move(cur, VQ_CURSOR_READ, dst, NULL, len);
}

size_t vq_cursor_write(struct vq_cursor *cur, const void *src, size_t len)
{
	return vq_cursor_move(cur, VQ_CURSOR_WRITE, NULL, src, len);
}

size_t vq_cursor_skip(struct vq_cursor *cur, size_t len)
{
	return vq_cursor_move(cur, VQ_CURSOR_SKIP, NULL, NULL, len);
}
