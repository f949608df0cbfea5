/*
 * ringside — the live world (see include/ringside/world.h).
 *
 * The one place in the device stack that asks the host for nondeterministic
 * input: getrandom(2) for entropy, clock_gettime(2) for the clocks, the
 * backends' own io for disk and network data, poll(2) over the backends'
 * file descriptors for input that arrives by itself (rx frames, console
 * input). Host events wait in a bounded FIFO until the machine loop asks
 * for them. There are no threads and no signals: input is taken only when
 * the caller polls, so the order of inputs is the caller's order.
 *
 * Arguments arrive validated by the dispatchers in engine/world.c.
 */
#include "ringside/world.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

/* getrandom(2) calls one entropy request may take (short reads, EINTR)
 * before it gives up with -EIO. */
#define LIVE_ENTROPY_TRIES 64

struct live_slot {
	struct world_event ev;  /* ev.data points at buf */
	uint8_t *buf;           /* owned copy of the data, NULL when len 0 */
};

struct world_live {
	struct world w;                           /* first: w.impl == this */
	uint64_t mono_start;                      /* CLOCK_MONOTONIC ns at creation */
	/* event FIFO: slots [head, head+count) mod WORLD_LIVE_QUEUE_MAX */
	struct live_slot q[WORLD_LIVE_QUEUE_MAX];
	unsigned head, count;
	size_t qbytes;                            /* data bytes queued */
	uint8_t *delivered;                       /* data of the last delivered event */
	/* backends world_live_poll watches */
	struct world_backend *watch[WORLD_LIVE_WATCH_MAX];
	unsigned nwatch;
};

static const struct world_ops world_live_ops;

/* The live state behind w, or NULL when w is not a live world. */
static struct world_live *live_of(const struct world *w)
{
	if (!w || w->ops != &world_live_ops)
		return NULL;
	return w->impl;
}

/* ns of a host clock; 0 if the host cannot tell (never for these ids). */
static uint64_t host_clock_ns(clockid_t id)
{
	struct timespec ts;

	if (clock_gettime(id, &ts) != 0 || ts.tv_sec < 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* --- world_ops ------------------------------------------------------------------------- */

/* Fill buf from getrandom(2): loops over short reads and EINTR, at most
 * LIVE_ENTROPY_TRIES calls. */
static int live_entropy(struct world *w, unsigned dev, void *buf, size_t len)
{
	uint8_t *p = buf;
	size_t done = 0;

	for (unsigned tries = 0; done < len; tries++) {
		if (tries == LIVE_ENTROPY_TRIES)
			return -EIO;
		ssize_t r = getrandom(p + done, len - done, 0);
		if (r < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return errno ? -errno : -EIO;
		}
		if (r == 0 || (size_t)r > len - done)
			return -EIO; /* getrandom never does this: do not loop on it */
		done += (size_t)r;
	}
	return 0;
}

/* REALTIME: ns since the Unix epoch; MONOTONIC: ns since world_live_new. */
static uint64_t live_clock_ns(struct world *w, enum world_clock c)
{
	struct world_live *l = w->impl;

	if (c == WORLD_CLOCK_REALTIME)
		return host_clock_ns(CLOCK_REALTIME);
	uint64_t now = host_clock_ns(CLOCK_MONOTONIC);
	return now > l->mono_start ? now - l->mono_start : 0;
}

/* Perform the request on the real backend. */
static int64_t live_io(struct world *w, struct world_backend *b, struct world_io *req)
{
	if (!b || !b->ops || !b->ops->io)
		return -ENODEV;
	return b->ops->io(b, req);
}

/* Hand out the oldest queued event; its data stays valid until the next
 * delivery (or destroy). */
static int live_next_event(struct world *w, struct world_event *ev)
{
	struct world_live *l = w->impl;

	free(l->delivered);
	l->delivered = NULL;
	if (l->count == 0)
		return 0;
	struct live_slot *s = &l->q[l->head];
	*ev = s->ev;
	l->delivered = s->buf;
	l->qbytes -= s->ev.len;
	memset(s, 0, sizeof *s);
	l->head = (l->head + 1) % WORLD_LIVE_QUEUE_MAX;
	l->count--;
	return 1;
}

/* Queue a copy of ev. -ENOSPC when the slots or the byte budget are used
 * up, -ENOMEM. */
static int live_post(struct world *w, const struct world_event *ev)
{
	struct world_live *l = w->impl;
	uint8_t *buf = NULL;

	if (l->count == WORLD_LIVE_QUEUE_MAX || ev->len > WORLD_LIVE_QUEUE_BYTES - l->qbytes)
		return -ENOSPC;
	if (ev->len) {
		buf = malloc(ev->len);
		if (!buf)
			return -ENOMEM;
		memcpy(buf, ev->data, ev->len);
	}
	struct live_slot *s = &l->q[(l->head + l->count) % WORLD_LIVE_QUEUE_MAX];
	s->ev = *ev;
	s->ev.data = buf;
	s->buf = buf;
	l->qbytes += ev->len;
	l->count++;
	return 0;
}

/* Free queued data and the world. Watched backends belong to their devices. */
static void live_destroy(struct world *w)
{
	struct world_live *l = w->impl;

	while (l->count) {
		free(l->q[l->head].buf);
		l->head = (l->head + 1) % WORLD_LIVE_QUEUE_MAX;
		l->count--;
	}
	free(l->delivered);
	free(l);
}

static const struct world_ops world_live_ops = {
	.name = "live",
	.entropy = live_entropy,
	.clock_ns = live_clock_ns,
	.io = live_io,
	.next_event = live_next_event,
	.post = live_post,
	.destroy = live_destroy,
};

/* --- public ---------------------------------------------------------------------------- */

struct world *world_live_new(void)
{
	struct world_live *l = calloc(1, sizeof *l);

	if (!l)
		return NULL;
	l->w.ops = &world_live_ops;
	l->w.impl = l;
	l->mono_start = host_clock_ns(CLOCK_MONOTONIC);
	return &l->w;
}

bool world_is_live(const struct world *w)
{
	return live_of(w) != NULL;
}

/* Index of b in the watch list, or -1. */
static int watch_find(const struct world_live *l, const struct world_backend *b)
{
	for (unsigned i = 0; i < l->nwatch; i++)
		if (l->watch[i] == b)
			return (int)i;
	return -1;
}

int world_live_watch(struct world *w, struct world_backend *b)
{
	struct world_live *l = live_of(w);

	if (!l || !b || !b->ops || !b->ops->poll_fd || !b->ops->on_readable)
		return -EINVAL;
	if (watch_find(l, b) >= 0)
		return 0;
	if (l->nwatch == WORLD_LIVE_WATCH_MAX)
		return -ENOSPC;
	l->watch[l->nwatch++] = b;
	return 0;
}

void world_live_unwatch(struct world *w, struct world_backend *b)
{
	struct world_live *l = live_of(w);
	int i;

	if (!l || (i = watch_find(l, b)) < 0)
		return;
	/* Keep registration order: the order callbacks run in is the order
	 * their events are queued in. */
	memmove(&l->watch[i], &l->watch[i + 1],
		(l->nwatch - (unsigned)i - 1) * sizeof l->watch[0]);
	l->nwatch--;
}

int world_live_poll(struct world *w, int timeout_ms)
{
	struct world_live *l = live_of(w);
	struct pollfd fds[WORLD_LIVE_WATCH_MAX];
	struct world_backend *who[WORLD_LIVE_WATCH_MAX];
	unsigned n = 0;
	int r, had = 0;

	if (!l)
		return -EINVAL;
	for (unsigned i = 0; i < l->nwatch; i++) {
		int fd = l->watch[i]->ops->poll_fd(l->watch[i]);
		if (fd < 0)
			continue;
		fds[n].fd = fd;
		fds[n].events = POLLIN;
		fds[n].revents = 0;
		who[n++] = l->watch[i];
	}
	if (n == 0)
		return 0;
	r = poll(fds, n, timeout_ms < 0 ? -1 : timeout_ms);
	if (r < 0)
		return errno ? -errno : -EIO;
	/* who[] is a snapshot: a callback may unwatch itself or another
	 * backend, so each is checked against the live list before its call. */
	for (unsigned i = 0; i < n && r > 0; i++) {
		if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		if (watch_find(l, who[i]) < 0)
			continue;
		who[i]->ops->on_readable(who[i], w);
		had++;
	}
	return had;
}
