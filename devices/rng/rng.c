/*
 * ringside — "rng", the virtio entropy device (virtio-v1.2 5.4).
 *
 * Device ID 4, one queue (requestq), no device features, no config space.
 * Every device-writable buffer of a chain is filled with bytes from the
 * world (world_entropy), so a recorded run replays with the very same bytes
 * and a fuzzer chooses them. Options, limits and behaviour on malformed
 * chains: docs/devices/rng.md.
 *
 * Work per chain is bounded by the max-bytes option (default 64 KiB): a
 * chain offering more writable space, up to the 4 GiB a descriptor chain
 * can describe, is served its first max-bytes bytes and completed with that
 * length; nothing the guest writes into a descriptor is fatal (OpenBSD
 * vmd's viornd fatalx()s on a large descriptor, which is what not to do).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringside/vdev.h"
#include "../devices.h"

#define RNG_QUEUE_MAX 64
#define RNG_MAX_BYTES_DEFAULT (64u << 10)
#define RNG_MAX_BYTES_LIMIT WORLD_ENTROPY_MAX /* one world_entropy call per chain */

/* Counters (the device's state as snapshots see it; zeroed by reset). */
struct rng_stats {
	uint64_t requests;   /* chains completed */
	uint64_t bytes;      /* entropy bytes written to the guest */
	uint64_t clipped;    /* chains with more writable space than max-bytes */
	uint64_t empty;      /* chains completed with 0: no writable space */
	uint64_t readable;   /* chains with driver-readable buffers (5.4.6.1) */
	uint64_t errors;     /* chains completed with 0: the world had no entropy */
};

struct rng {
	uint32_t max_bytes;  /* per-chain cap (option max-bytes) */
	uint8_t *buf;        /* max_bytes of entropy staging */
	struct rng_stats st;
};

/* --- request handling ------------------------------------------------------------------- */

/* Serve one chain: fill the first min(write_len, max_bytes) bytes of its
 * writable part with one world_entropy() call. Returns the bytes written,
 * the length the chain completes with. */
static uint32_t rng_serve(struct vdev *d, const struct vq_chain *c)
{
	struct rng *r = d->priv;
	struct vq_cursor cur;
	uint32_t n;
	int err;

	r->st.requests++;
	/* virtio-v1.2 5.4.6.1: the driver MUST NOT place driver-readable
	 * buffers in the queue. They are harmless to us (never read), so the
	 * chain's writable part is still served; the violation is counted. */
	if (c->nread)
		r->st.readable++;
	n = RS_MIN(c->write_len, r->max_bytes);
	if (c->write_len > r->max_bytes)
		r->st.clipped++; /* 5.4.6.2: the device MAY use less than the whole buffer */
	if (n == 0) {
		r->st.empty++;
		return 0;
	}
	err = world_entropy(d->world, d->index, r->buf, n);
	if (err < 0) {
		/* Host-side failure: the guest gets nothing this time (it sees
		 * len 0 and asks again); the device keeps serving. */
		r->st.errors++;
		diag_report(&d->log, DIAG_BACKEND_ERROR,
			    "no entropy from the world (%d): chain %u completed with 0 bytes",
			    err, c->id);
		return 0;
	}
	vq_cursor_init_write(&cur, d->gm, c);
	/* A short write means the arena refused (reported by gm); the chain
	 * completes with what really reached guest memory. */
	vq_cursor_write(&cur, r->buf, n);
	r->st.bytes += cur.done;
	return cur.done;
}

static void rng_queue_notify(struct vdev *d, unsigned q)
{
	struct vdev_queue *vqs = vdev_queue(d, q);
	struct vq_chain c;

	if (!vqs)
		return;
	/* Bounded: a queue never holds more than num available chains (a
	 * larger avail jump is an error of vq_pop), so num pops drain it. */
	for (unsigned i = 0; i < vqs->vq.num; i++) {
		if (vq_pop(&vqs->vq, &c) <= 0)
			break; /* empty, or a guest error: reported, queue broken */
		uint32_t n = rng_serve(d, &c);
		if (vq_push(&vqs->vq, &c, n) < 0)
			break;
	}
	vdev_queue_interrupt(d, q);
}

/* --- ops -------------------------------------------------------------------------------- */

static int rng_create(struct vdev *d, struct vdev_args *args, char *err, size_t errlen)
{
	struct rng *r = d->priv;
	uint64_t max;
	int e;

	e = vdev_arg_size(args, "max-bytes", RNG_MAX_BYTES_DEFAULT, &max, err, errlen);
	if (e < 0)
		return e;
	if (max < 1 || max > RNG_MAX_BYTES_LIMIT) {
		snprintf(err, errlen, "rng: max-bytes=%llu out of range (1..%u)",
			 (unsigned long long)max, RNG_MAX_BYTES_LIMIT);
		return -EINVAL;
	}
	r->max_bytes = (uint32_t)max;
	r->buf = malloc(r->max_bytes);
	if (!r->buf) {
		snprintf(err, errlen, "rng: out of memory for max-bytes=%u", r->max_bytes);
		return -ENOMEM;
	}
	return 0;
}

static void rng_destroy(struct vdev *d)
{
	struct rng *r = d->priv;

	free(r->buf);
	r->buf = NULL;
}

/* Nothing is ever in flight across calls (each chain is completed in the
 * notify that popped it); reset only clears the counters. */
static void rng_reset(struct vdev *d)
{
	struct rng *r = d->priv;

	memset(&r->st, 0, sizeof r->st);
}

/* Snapshot: the six counters of struct rng_stats, little-endian u64, in
 * declaration order (docs/devices/rng.md). */
static size_t rng_save(const struct vdev *d, uint8_t *buf, size_t cap)
{
	const struct rng *r = d->priv;
	const uint64_t v[] = { r->st.requests, r->st.bytes,    r->st.clipped,
			       r->st.empty,    r->st.readable, r->st.errors };

	if (buf && cap >= sizeof v)
		for (unsigned i = 0; i < RS_ARRAY_SIZE(v); i++)
			rs_st64(buf + 8 * i, v[i]);
	return sizeof v;
}

const struct vdev_ops rng_ops = {
	.name = "rng",
	.device_id = VIRTIO_ID_RNG,
	.pci_class = 0xff00, /* unclassified device, as other VMMs expose it */
	.num_queues = 1,
	.queue_max = RNG_QUEUE_MAX,
	.features = 0,       /* virtio-v1.2 5.4.3: none */
	.config_size = 0,    /* virtio-v1.2 5.4.4: none */
	.priv_size = sizeof(struct rng),
	.create = rng_create,
	.destroy = rng_destroy,
	.queue_notify = rng_queue_notify,
	.reset = rng_reset,
	.save = rng_save,
};
