/*
 * ringside — the replay world: every nondeterministic input served from a
 * trace (see ringside/world.h, docs/world.md, docs/replay.md).
 *
 * While the machine is built (before rp_world_attach) inputs come from the
 * trace header's initial world state, in order: that is what the recorded
 * machine consumed while it was built (e.g. a blk image's size). After, every
 * input comes from the trace's TEV_WORLD events, in order, and the request
 * must match the recorded one (same input kind, device, op, offset, length
 * and clock); a mismatch is a divergence. Reads get the recorded bytes,
 * writes and sends the recorded result: no backend is ever called, so no
 * file, socket or terminal is touched (world_is_live() is false, and devices
 * do not open host resources in such a world). Host events are handed out
 * by next_event only while the replayer delivers a recorded one; posting is
 * not an input and is dropped.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replay_priv.h"

struct replay_world {
	struct world w;                 /* first: the dispatchers' handle */
	const struct rec_wb_entry *wb;  /* creation-time inputs */
	size_t nwb, wb_i;
	unsigned build_bad;             /* creation-time mismatches */
	char build_msg[200];
	struct rp *p;                   /* NULL while the machine is built */
};

static const struct world_ops replay_world_ops;

/* The implementation behind w. */
static struct replay_world *rw_of(struct world *w)
{
	return (struct replay_world *)w->impl;
}

static const char *const io_op_names[] = { "read",	   "write", "flush", "discard",
					   "write-zeroes", "size",  "send" };

/* Name of a world_io op for messages. */
static const char *op_name(unsigned op)
{
	return op < RS_ARRAY_SIZE(io_op_names) ? io_op_names[op] : "?";
}

/* A negative errno as a world result: anything else recorded becomes -EIO. */
static int as_errno(uint64_t v)
{
	int64_t s = (int64_t)v;

	return s == 0 ? 0 : s < 0 && s >= -4095 ? (int)s : -EIO;
}

/* ---- creation phase ------------------------------------------------------------------ */

/* Count a creation-time mismatch; the first one is described. */
static void build_mismatch(struct replay_world *rw, const char *fmt, unsigned a, uint64_t b)
{
	if (rw->build_bad++ == 0)
		snprintf(rw->build_msg, sizeof rw->build_msg, fmt, a, (unsigned long long)b);
}

/* The next creation-time entry if it is of kind input, else NULL. */
static const struct rec_wb_entry *build_next(struct replay_world *rw, enum world_input input)
{
	if (rw->wb_i >= rw->nwb || rw->wb[rw->wb_i].input != input)
		return NULL;
	return &rw->wb[rw->wb_i];
}

/* Creation phase: entropy from the initial world state. */
static int build_entropy(struct replay_world *rw, unsigned dev, void *buf, size_t len)
{
	const struct rec_wb_entry *e = build_next(rw, WIN_ENTROPY);

	if (!e || e->dev != dev || e->len != len ||
	    (as_errno(e->value) == 0 && e->data_len != len)) {
		build_mismatch(rw, "device %u asked for %llu bytes of entropy, not recorded", dev,
			       len);
		memset(buf, 0, len);
		return 0;
	}
	rw->wb_i++;
	if (as_errno(e->value) == 0)
		memcpy(buf, e->data, len);
	return as_errno(e->value);
}

/* Creation phase: a clock reading from the initial world state. */
static uint64_t build_clock(struct replay_world *rw, enum world_clock c)
{
	const struct rec_wb_entry *e = build_next(rw, WIN_CLOCK);

	if (!e || e->sub != (unsigned)c) {
		build_mismatch(rw, "a device read clock %u (%llu), not recorded", c, 0);
		return 0;
	}
	rw->wb_i++;
	return e->value;
}

/* Creation phase: a backend answer from the initial world state. */
static int64_t build_io(struct replay_world *rw, struct world_backend *b, struct world_io *req)
{
	const struct rec_wb_entry *e = build_next(rw, WIN_IO);
	int64_t v;

	if (rw->nwb == 0 && req->op == WIO_SIZE) {
		/* A trace without initial world state (a recorder that did not use
		 * rec_machine_new): ask the backend, which in a replay world is a
		 * memory image or a proxy that knows nothing (devices open no host
		 * file here), never a host resource. */
		return b->ops && b->ops->io ? b->ops->io(b, req) : -ENODEV;
	}
	if (!e || e->sub != (unsigned)req->op || e->dev != req->dev || e->off != req->off ||
	    e->len != (uint64_t)req->len) {
		build_mismatch(rw, "device %u made a backend request (op %llu) not recorded",
			       req->dev, (uint64_t)req->op);
		return -EIO;
	}
	rw->wb_i++;
	v = (int64_t)e->value;
	if (req->op == WIO_READ && v > 0) {
		if ((uint64_t)v > req->len || e->data_len != (uint64_t)v)
			return -EIO;
		memcpy(req->buf, e->data, e->data_len);
	}
	return v;
}

/* ---- trace phase --------------------------------------------------------------------- */

/* The next caused event if it is a world input of kind input, else NULL. */
static const struct trace_event *trace_next(struct rp *p, enum world_input input)
{
	const struct trace_event *ev = rp_peek(p);

	if (!ev || ev->type != TEV_WORLD || (ev->kind & REC_WK_INPUT_MASK) != input ||
	    (ev->kind & REC_WK_CONT))
		return NULL;
	return ev;
}

/* world_ops.entropy: the next recorded entropy input. */
static int rw_entropy(struct world *w, unsigned dev, void *buf, size_t len)
{
	struct replay_world *rw = rw_of(w);
	struct rp *p = rw->p;
	const struct trace_event *ev;
	int r;

	if (!p)
		return build_entropy(rw, dev, buf, len);
	rp_mix(p, 0xe0);
	rp_mix(p, dev);
	rp_mix(p, len);
	ev = trace_next(p, WIN_ENTROPY);
	if (!ev || ev->dev != dev || ev->size != len) {
		rp_diverge(p, ev ? RP_DIV_WORLD : RP_DIV_EXTRA, ev ? ev : rp_peek(p),
			   "device %u asked for %zu bytes of entropy", dev, len);
		if (ev)
			rp_consume(p);
		memset(buf, 0, len);
		return 0;
	}
	r = as_errno(ev->value);
	if (r == 0 && ev->len != len) {
		rp_diverge(p, RP_DIV_WORLD, ev,
			   "device %u asked for %zu bytes of entropy; the trace holds %u", dev,
			   len, ev->len);
		memset(buf, 0, len);
	} else if (r == 0) {
		memcpy(buf, ev->data, len);
	}
	rp_consume(p);
	return r;
}

/* world_ops.clock_ns: the next recorded clock reading. */
static uint64_t rw_clock(struct world *w, enum world_clock c)
{
	struct replay_world *rw = rw_of(w);
	struct rp *p = rw->p;
	const struct trace_event *ev;
	uint64_t ns;

	if (!p)
		return build_clock(rw, c);
	rp_mix(p, 0xc1);
	rp_mix(p, (uint64_t)c);
	ev = trace_next(p, WIN_CLOCK);
	if (!ev || ev->addr != (uint64_t)c) {
		rp_diverge(p, ev ? RP_DIV_WORLD : RP_DIV_EXTRA, ev ? ev : rp_peek(p),
			   "a device read the %s clock",
			   c == WORLD_CLOCK_REALTIME ? "realtime" : "monotonic");
		if (!ev)
			return 0;
	}
	ns = ev->value;
	rp_consume(p);
	return ns;
}

/* Serve a read's recorded bytes: the event's data and its continuations.
 * Every piece is consumed; false when they do not add up to n bytes. */
static bool serve_read(struct rp *p, const struct trace_event *ev, struct world_io *req,
		       uint64_t n)
{
	uint8_t *dst = req->buf;
	uint64_t done = 0;
	bool ok = n <= req->len;

	for (;;) {
		uint32_t len = ev->len;

		if (len > n - done || (len < n - done && len != TRACE_MAX_DATA))
			ok = false;
		if (ok) {
			memcpy(dst + done, ev->data, len);
			done += len;
		}
		rp_consume(p);
		ev = rp_peek(p);
		if (!ev || ev->type != TEV_WORLD || !(ev->kind & REC_WK_CONT))
			return ok && done == n;
	}
}

/* world_ops.io: the next recorded backend answer, the request checked. */
static int64_t rw_io(struct world *w, struct world_backend *b, struct world_io *req)
{
	struct replay_world *rw = rw_of(w);
	struct rp *p = rw->p;
	const struct trace_event *ev;
	uint32_t want_len = req->len > UINT32_MAX ? UINT32_MAX : (uint32_t)req->len;
	int64_t v;

	if (!p)
		return build_io(rw, b, req);
	rp_mix(p, 0x10 + (uint64_t)req->op);
	rp_mix(p, req->dev);
	rp_mix(p, req->off);
	rp_mix(p, req->len);
	if ((req->op == WIO_WRITE || req->op == WIO_SEND) && req->len)
		rp_mix_bytes(p, req->buf, req->len); /* what goes to the host */
	ev = trace_next(p, WIN_IO);
	if (!ev || ev->kind != rec_wk_io(req->op) || ev->dev != req->dev ||
	    ev->addr != req->off || ev->size != want_len) {
		rp_diverge(p, ev ? RP_DIV_WORLD : RP_DIV_EXTRA, ev ? ev : rp_peek(p),
			   "device %u asked its backend: %s of %zu bytes at offset %llu", req->dev,
			   op_name(req->op), req->len, (unsigned long long)req->off);
		if (ev)
			rp_consume(p);
		return -EIO;
	}
	v = (int64_t)ev->value;
	if (v < -4095)
		v = -EIO; /* no errno: a hostile trace */
	if (req->op == WIO_READ && v > 0) {
		if (!serve_read(p, ev, req, (uint64_t)v)) {
			rp_diverge(p, RP_DIV_WORLD, NULL,
				   "device %u: the recorded %s of %zu bytes at offset %llu does not "
				   "carry %lld bytes of data",
				   req->dev, op_name(req->op), req->len,
				   (unsigned long long)req->off, (long long)v);
			return -EIO;
		}
		return v;
	}
	rp_consume(p);
	return v;
}

/* world_ops.next_event: the host event the replayer is delivering, if any. */
static int rw_next_event(struct world *w, struct world_event *ev)
{
	struct rp *p = rw_of(w)->p;

	if (!p || !p->event_pending)
		return 0;
	*ev = p->pending;
	p->event_pending = false;
	return 1;
}

/* Posting is not an input (docs/world.md): what a backend or host code
 * posts during a replay is dropped; deliveries come from the trace. */
static int rw_post(struct world *w, const struct world_event *ev)
{
	return 0;
}

/* world_ops.destroy. */
static void rw_destroy(struct world *w)
{
	free(rw_of(w));
}

static const struct world_ops replay_world_ops = {
	.name = "replay",
	.entropy = rw_entropy,
	.clock_ns = rw_clock,
	.io = rw_io,
	.next_event = rw_next_event,
	.post = rw_post,
	.destroy = rw_destroy,
	.serves_io = true,
};

struct world *rp_world_new(const struct rec_wb_entry *wb, size_t nwb)
{
	struct replay_world *rw = calloc(1, sizeof(*rw));

	if (!rw)
		return NULL;
	rw->w.ops = &replay_world_ops;
	rw->w.impl = rw;
	rw->wb = wb;
	rw->nwb = nwb;
	return &rw->w;
}

unsigned rp_world_attach(struct world *w, struct rp *p, char *msg, size_t msglen)
{
	struct replay_world *rw = rw_of(w);

	if (rw->wb_i < rw->nwb)
		build_mismatch(rw, "%u recorded creation-time input(s) the machine did not ask "
				   "for (first: input kind %llu)",
			       (unsigned)(rw->nwb - rw->wb_i), (uint64_t)rw->wb[rw->wb_i].input);
	rw->p = p;
	rw->wb = NULL;
	rw->nwb = rw->wb_i = 0;
	if (msglen)
		snprintf(msg, msglen, "%s", rw->build_msg);
	return rw->build_bad;
}
