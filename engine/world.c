/*
 * ringside — the world dispatchers (see include/ringside/world.h).
 *
 * Every nondeterministic input a device consumes passes through one of the
 * functions below. Each validates its arguments (a bad argument is a bug of
 * the caller, answered without touching the implementation), calls the
 * world implementation (live, record, replay, fuzz), checks what came back
 * where an implementation could hand a device something unsafe, and shows
 * the result to the tap, in the order the device got it. The recorder's tap
 * writes those into the trace; replay serves them back in the same order.
 */
#include "ringside/world.h"

#include <errno.h>
#include <string.h>

/* Show one input to the tap, if any. */
static void world_show(struct world *w, enum world_input kind, const struct world_event *ev,
		       const struct world_io *io, int64_t value, const void *data, size_t len)
{
	if (w->tap)
		w->tap(w->tap_ctx, kind, ev, io, value, data, len);
}

int world_entropy(struct world *w, unsigned dev, void *buf, size_t len)
{
	struct world_event desc = { .kind = WEV_NONE, .dev = dev, .arg = len };
	int r;

	if (!w || !w->ops || !w->ops->entropy || !buf || len > WORLD_ENTROPY_MAX)
		return -EINVAL;
	if (len == 0)
		return 0;
	r = w->ops->entropy(w, dev, buf, len);
	if (r > 0)
		r = -EIO; /* not a documented result: an implementation bug */
	if (r < 0) {
		/* Never hand the device stale bytes it might use anyway. */
		memset(buf, 0, len);
		world_show(w, WIN_ENTROPY, &desc, NULL, r, NULL, 0);
		return r;
	}
	world_show(w, WIN_ENTROPY, &desc, NULL, 0, buf, len);
	return 0;
}

uint64_t world_clock_ns(struct world *w, enum world_clock c)
{
	struct world_event desc = { .kind = WEV_NONE, .port = (uint32_t)c };
	uint64_t ns;

	if (!w || !w->ops || !w->ops->clock_ns)
		return 0;
	if (c != WORLD_CLOCK_REALTIME && c != WORLD_CLOCK_MONOTONIC)
		return 0;
	ns = w->ops->clock_ns(w, c);
	desc.arg = ns;
	/* The tap's value is signed; the trace keeps the 64 bits as they are. */
	world_show(w, WIN_CLOCK, &desc, NULL, (int64_t)ns, NULL, 0);
	return ns;
}

/* True for the ops that carry data in req->buf. */
static bool wio_has_data(enum world_io_op op)
{
	return op == WIO_READ || op == WIO_WRITE || op == WIO_SEND;
}

/* True for the ops that address [off, off+len) of the backend. */
static bool wio_has_range(enum world_io_op op)
{
	return op == WIO_READ || op == WIO_WRITE || op == WIO_DISCARD ||
	       op == WIO_WRITE_ZEROES;
}

int64_t world_io(struct world *w, struct world_backend *b, struct world_io *req)
{
	int64_t r;

	if (!w || !w->ops || !w->ops->io || !req)
		return -EINVAL;
	if ((unsigned)req->op > WIO_SEND)
		return -EINVAL;
	if (wio_has_data(req->op) && req->len && !req->buf)
		return -EINVAL;
	if (wio_has_range(req->op) && (uint64_t)req->len > UINT64_MAX - req->off)
		return -EINVAL; /* [off, off+len) would reach 2^64 */
	if (!b)
		return -ENODEV;
	r = w->ops->io(w, b, req);
	/* A backend may never claim to have moved more than it was given:
	 * the device would trust that count against its own buffers. */
	if (wio_has_data(req->op) && r > 0 && (uint64_t)r > req->len)
		r = -EIO;
	if (req->op == WIO_READ && r > 0)
		world_show(w, WIN_IO, NULL, req, r, req->buf, (size_t)r);
	else
		world_show(w, WIN_IO, NULL, req, r, NULL, 0);
	return r;
}

/* True when ev is a well-formed event (kind known, data consistent). */
static bool world_event_ok(const struct world_event *ev)
{
	if (ev->kind <= WEV_NONE || ev->kind > WEV_HOST)
		return false;
	if (ev->len > WORLD_EVENT_MAX_DATA)
		return false;
	return ev->len == 0 || ev->data != NULL;
}

int world_next_event(struct world *w, struct world_event *ev)
{
	int r;

	if (!w || !w->ops || !w->ops->next_event || !ev)
		return -EINVAL;
	memset(ev, 0, sizeof *ev);
	r = w->ops->next_event(w, ev);
	if (r <= 0) {
		memset(ev, 0, sizeof *ev);
		return r < 0 ? r : 0;
	}
	if (r != 1 || !world_event_ok(ev)) {
		memset(ev, 0, sizeof *ev);
		return -EIO;
	}
	world_show(w, WIN_EVENT, ev, NULL, 1, ev->data, ev->len);
	return 1;
}

int world_post(struct world *w, const struct world_event *ev)
{
	if (!w || !w->ops || !w->ops->post || !ev || !world_event_ok(ev))
		return -EINVAL;
	return w->ops->post(w, ev);
}

void world_set_tap(struct world *w, world_tap_fn tap, void *ctx)
{
	if (!w)
		return;
	w->tap = tap;
	w->tap_ctx = tap ? ctx : NULL;
}

void world_destroy(struct world *w)
{
	if (w && w->ops && w->ops->destroy)
		w->ops->destroy(w);
}

bool world_serves_io(const struct world *w)
{
	return w && w->ops && w->ops->serves_io;
}
