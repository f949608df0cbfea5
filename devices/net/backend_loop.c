/*
 * ringside — net backend "loop": every transmitted frame comes back as a
 * received one.
 *
 * The frame does not go straight back into the device: the backend posts it
 * as a WEV_NET_RX event (world_post), so it returns through the world like
 * any frame from outside, and a recording sees it as an input. The event
 * names the pair the frame was sent on (req->off), so loopback keeps flows
 * on their pair.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "net.h"

struct net_loop {
	struct world_backend b;
	struct world *w;
};

/* WIO_SEND: post the frame back. Returns len, or world_post's error
 * (-ENOSPC when the event queue is full); other ops are not supported. */
static int64_t loop_io(struct world_backend *b, struct world_io *req)
{
	struct net_loop *l = b->ctx;
	struct world_event ev = {
		.kind = WEV_NET_RX,
		.dev = b->dev,
		.port = req->off > UINT32_MAX ? UINT32_MAX : (uint32_t)req->off,
		.len = (uint32_t)req->len,
		.data = req->buf,
	};
	int r;

	if (req->op != WIO_SEND)
		return -EOPNOTSUPP;
	if (req->len > WORLD_EVENT_MAX_DATA)
		return -EMSGSIZE;
	r = world_post(l->w, &ev);
	return r < 0 ? r : (int64_t)req->len;
}

static void loop_destroy(struct world_backend *b)
{
	free(b->ctx);
}

static const struct world_backend_ops loop_ops = {
	.name = "loop",
	.io = loop_io,
	.destroy = loop_destroy,
};

struct world_backend *net_loop_new(struct world *w, unsigned dev)
{
	struct net_loop *l = calloc(1, sizeof *l);

	if (!l)
		return NULL;
	l->w = w;
	l->b.ops = &loop_ops;
	l->b.ctx = l;
	l->b.dev = dev;
	snprintf(l->b.name, sizeof l->b.name, "net%u-loop", dev);
	return &l->b;
}
