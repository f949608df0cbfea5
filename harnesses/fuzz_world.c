/*
 * ringside — the fuzz world: every nondeterministic input of the device
 * stack taken from the fuzz input (see ringside/world.h, docs/world.md).
 *
 *   entropy   bytes from the input's data stream (zeroes once it is used
 *             up); a FOP_WORLD_FAULT can make chosen calls fail
 *   clocks    virtual: monotonic starts at 0 with each input and advances
 *             FUZZ_CLOCK_STEP_NS per reading plus what FOP_WORLD_CLOCK
 *             adds; realtime is FUZZ_REALTIME_BASE_NS + monotonic
 *   io        READ data comes from the data stream; writes, flushes,
 *             discards and sends succeed without touching the backend (so
 *             no backend state outlives an input); a fault plan makes
 *             chosen calls fail with a chosen errno or move half the bytes;
 *             SIZE is answered by the real backend (the image's size is
 *             part of the machine, not of the input)
 *   events    a bounded queue filled by FOP_WORLD_EVENT (and by anything
 *             else that posts), emptied by rs_machine_poll_events
 *
 * Outside an input (while the machine is built) entropy reads zero and
 * backend I/O goes to the real backend.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

struct fw_event {
	struct world_event ev;
	uint8_t data[FUZZ_WORLD_EVENT_DATA];
};

struct fuzz_world {
	struct world w;             /* first: the dispatchers' handle */
	struct fuzz_input *in;
	uint64_t mono_ns;
	/* fault plans: bit 0 is the next call; the mask shifts on every call */
	uint64_t io_fail, entropy_fail, io_short;
	int io_err, entropy_err;
	struct fw_event q[FUZZ_WORLD_EVENTS];
	unsigned head, count;
};

static const struct world_ops fuzz_world_ops;

static struct fuzz_world *fw(struct world *w)
{
	return (struct fuzz_world *)w->impl;
}

/* Next bit of a fault plan (and shift it). */
static bool plan_next(uint64_t *mask)
{
	bool hit = *mask & 1;

	*mask >>= 1;
	return hit;
}

static int fw_entropy(struct world *w, unsigned dev, void *buf, size_t len)
{
	struct fuzz_world *f = fw(w);

	if (plan_next(&f->entropy_fail))
		return f->entropy_err;
	if (f->in)
		fuzz_take(f->in, buf, len);
	else
		memset(buf, 0, len);
	return 0;
}

static uint64_t fw_clock(struct world *w, enum world_clock c)
{
	struct fuzz_world *f = fw(w);

	f->mono_ns = rs_satadd_u64(f->mono_ns, FUZZ_CLOCK_STEP_NS);
	return c == WORLD_CLOCK_REALTIME ? rs_satadd_u64(FUZZ_REALTIME_BASE_NS, f->mono_ns)
					 : f->mono_ns;
}

/* The real backend's answer (outside inputs, and for SIZE). */
static int64_t fw_real(struct world_backend *b, struct world_io *req)
{
	if (!b->ops || !b->ops->io)
		return -ENODEV;
	return b->ops->io(b, req);
}

static int64_t fw_io(struct world *w, struct world_backend *b, struct world_io *req)
{
	struct fuzz_world *f = fw(w);
	bool fail, half;

	if (!f->in || req->op == WIO_SIZE)
		return fw_real(b, req);
	fail = plan_next(&f->io_fail);
	half = plan_next(&f->io_short);
	if (fail)
		return f->io_err;
	switch (req->op) {
	case WIO_READ: {
		size_t n = half ? req->len / 2 : req->len;

		fuzz_take(f->in, req->buf, n);
		return (int64_t)n;
	}
	case WIO_WRITE:
	case WIO_SEND:
		return (int64_t)(half ? req->len / 2 : req->len);
	default: /* FLUSH, DISCARD, WRITE_ZEROES */
		return 0;
	}
}

static int fw_next_event(struct world *w, struct world_event *ev)
{
	struct fuzz_world *f = fw(w);
	struct fw_event *e;

	if (!f->count)
		return 0;
	e = &f->q[f->head];
	*ev = e->ev;
	ev->data = e->ev.len ? e->data : NULL;
	f->head = (f->head + 1) % FUZZ_WORLD_EVENTS;
	f->count--;
	return 1;
}

static int fw_post(struct world *w, const struct world_event *ev)
{
	struct fuzz_world *f = fw(w);
	struct fw_event *e;

	if (f->count == FUZZ_WORLD_EVENTS || ev->len > FUZZ_WORLD_EVENT_DATA)
		return -ENOSPC;
	e = &f->q[(f->head + f->count) % FUZZ_WORLD_EVENTS];
	e->ev = *ev;
	if (ev->len)
		memcpy(e->data, ev->data, ev->len);
	e->ev.data = NULL;
	f->count++;
	return 0;
}

static void fw_destroy(struct world *w)
{
	free(fw(w));
}

static const struct world_ops fuzz_world_ops = {
	.name = "fuzz",
	.entropy = fw_entropy,
	.clock_ns = fw_clock,
	.io = fw_io,
	.next_event = fw_next_event,
	.post = fw_post,
	.destroy = fw_destroy,
};

struct world *fuzz_world_new(void)
{
	struct fuzz_world *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	f->w.ops = &fuzz_world_ops;
	f->w.impl = f;
	f->io_err = -EIO;
	f->entropy_err = -EIO;
	return &f->w;
}

bool fuzz_world_is(const struct world *w)
{
	return w && w->ops == &fuzz_world_ops;
}

void fuzz_world_begin(struct world *w, struct fuzz_input *in)
{
	struct fuzz_world *f = fw(w);

	f->in = in;
	f->mono_ns = 0;
	f->io_fail = f->entropy_fail = f->io_short = 0;
	f->io_err = f->entropy_err = -EIO;
	f->head = f->count = 0;
}

void fuzz_world_fault(struct world *w, enum fuzz_fault_kind kind, uint64_t mask, int err)
{
	struct fuzz_world *f = fw(w);

	switch (kind) {
	case FUZZ_FAULT_IO:
		f->io_fail = mask;
		f->io_err = err;
		break;
	case FUZZ_FAULT_ENTROPY:
		f->entropy_fail = mask;
		f->entropy_err = err;
		break;
	case FUZZ_FAULT_SHORT:
		f->io_short = mask;
		break;
	default:
		f->io_fail = f->entropy_fail = f->io_short = 0;
		break;
	}
}

void fuzz_world_advance(struct world *w, uint64_t ns)
{
	struct fuzz_world *f = fw(w);

	f->mono_ns = rs_satadd_u64(f->mono_ns, ns);
}
