/*
 * ringside — "test-broken", a deliberately broken device for TESTS ONLY.
 *
 * It proves that the fuzz oracles (docs/oracles.md) fire: without a bug it
 * is an echo device (every chain's readable bytes are copied into its
 * writable part, the used length is the bytes written), and the machine
 * spec option bug=NAME makes it misbehave in exactly one way:
 *
 *   write-readable     writes into a device-readable segment of the chain
 *   write-outside      writes one byte past the end of the chain's last segment
 *   overlong-used-len  completes with a used length one above the writable space
 *   push-twice         completes every chain twice
 *   used-idx           (split) writes used idx one above the chains completed
 *   used-entry         rewrites each used entry with a length above the writable space
 *   mmio-dma           writes by DMA into the PCI MMIO window
 *   hang               re-reads the avail ring BROKEN_HANG_READS times per notify
 *   spin               burns BROKEN_SPIN_LOOPS iterations per notify, no DMA at all
 *   no-reset           keeps its request counter across a reset
 *   wedge              never completes anything after a reset that followed work
 *   wedge-features     after such a reset, refuses every feature set (FEATURES_OK)
 *   wedge-needs-reset  after such a reset, sets DEVICE_NEEDS_RESET on every notify
 *   transport-diff     flips a bit of every echoed byte on virtio-pci
 *   heap-overflow      reads one byte past its private state (for ASan)
 *   signed-overflow    overflows a signed integer per chain (for UBSan)
 *
 * and bug=hold is no bug: it pops every chain and keeps it in flight
 * until a reset (as a device waiting for input does), so tests can act
 * on chains in flight.
 *
 * Host-owned state, as a balloon's target: a WEV_HOST event sets a tag
 * that survives a guest reset (there is no host_reset op, on purpose) and,
 * while it is not zero, every used length is one byte short of what was
 * echoed. Tests use it to check that the oracles tell host-owned state
 * from a bug.
 *
 * It is not in rs_devices[]: a machine spec reaches it only by its "test-"
 * name through rs_test_devices[] (devices/registry.c), so no user, target
 * or generic machine ever builds it by accident.
 *
 * transport-diff needs to know which transport it sits on, which a correct
 * device never does: the model offers VIRTIO_F_RING_RESET with that bug,
 * virtio-mmio masks that bit (transports/mmio.c), so host_features tells
 * the two apart. The reference driver never negotiates RING_RESET.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "ringside/machine.h"
#include "ringside/vdev.h"
#include "../devices.h"

#define BROKEN_NUM_QUEUES 2
#define BROKEN_QUEUE_MAX 256
#define BROKEN_CFG_REQUESTS 0 /* le32, ro: chains completed since reset */
#define BROKEN_CFG_SIZE 4
#define BROKEN_HANG_READS (1ull << 24)  /* far beyond the work oracle's bound */
#define BROKEN_SPIN_LOOPS (1ull << 34)  /* seconds of CPU, far beyond a watchdog */
#define BROKEN_CHUNK 256

enum broken_bug {
	BUG_NONE = 0,
	BUG_WRITE_READABLE,
	BUG_WRITE_OUTSIDE,
	BUG_OVERLONG_USED_LEN,
	BUG_PUSH_TWICE,
	BUG_USED_IDX,
	BUG_USED_ENTRY,
	BUG_MMIO_DMA,
	BUG_HANG,
	BUG_SPIN,
	BUG_NO_RESET,
	BUG_WEDGE,
	BUG_WEDGE_FEATURES,
	BUG_WEDGE_NEEDS_RESET,
	BUG_TRANSPORT_DIFF,
	BUG_HEAP_OVERFLOW,
	BUG_SIGNED_OVERFLOW,
	BUG_HOLD,
	BUG__COUNT
};

static const char *const broken_bug_names[BUG__COUNT] = {
	[BUG_NONE] = "none",
	[BUG_WRITE_READABLE] = "write-readable",
	[BUG_WRITE_OUTSIDE] = "write-outside",
	[BUG_OVERLONG_USED_LEN] = "overlong-used-len",
	[BUG_PUSH_TWICE] = "push-twice",
	[BUG_USED_IDX] = "used-idx",
	[BUG_USED_ENTRY] = "used-entry",
	[BUG_MMIO_DMA] = "mmio-dma",
	[BUG_HANG] = "hang",
	[BUG_SPIN] = "spin",
	[BUG_NO_RESET] = "no-reset",
	[BUG_WEDGE] = "wedge",
	[BUG_WEDGE_FEATURES] = "wedge-features",
	[BUG_WEDGE_NEEDS_RESET] = "wedge-needs-reset",
	[BUG_TRANSPORT_DIFF] = "transport-diff",
	[BUG_HEAP_OVERFLOW] = "heap-overflow",
	[BUG_SIGNED_OVERFLOW] = "signed-overflow",
	[BUG_HOLD] = "hold",
};

struct broken {
	enum broken_bug bug;  /* create-time option, kept by reset */
	uint32_t requests;    /* chains completed since reset (config, save) */
	bool wedged;          /* BUG_WEDGE*: set by a reset after work, never
			       * cleared, deliberately not in save() */
	uint8_t host_tag;     /* host-owned (WEV_HOST arg), kept by reset */
};

static const struct vdev_cfg_field broken_cfg_fields[] = {
	{ BROKEN_CFG_REQUESTS, 4, 0 },
};

static void broken_config_read(struct vdev *d, uint32_t off, uint32_t len)
{
	const struct broken *b = d->priv;

	rs_st32(d->config + BROKEN_CFG_REQUESTS, b->requests);
}

/* True on a transport that offers VIRTIO_F_RING_RESET (virtio-pci; see the
 * file comment: only BUG_TRANSPORT_DIFF ever offers it). */
static bool broken_on_pci(const struct vdev *d)
{
	return d->host_features & VIRTIO_BIT(VIRTIO_F_RING_RESET);
}

/* Echo the readable part of c into its writable part. Returns bytes written. */
static uint32_t broken_echo(struct vdev *d, const struct vq_chain *c)
{
	const struct broken *b = d->priv;
	uint8_t flip = b->bug == BUG_TRANSPORT_DIFF && broken_on_pci(d) ? 0x20 : 0;
	struct vq_cursor in, out;
	uint8_t buf[BROKEN_CHUNK];

	vq_cursor_init_read(&in, d->gm, c);
	vq_cursor_init_write(&out, d->gm, c);
	/* Bounded: each pass moves at least one byte of a 32-bit total. */
	while (vq_cursor_remaining(&in) && vq_cursor_remaining(&out)) {
		size_t n = RS_MIN(sizeof(buf), RS_MIN(vq_cursor_remaining(&in),
						      vq_cursor_remaining(&out)));
		size_t got = vq_cursor_read(&in, buf, n);

		for (size_t i = 0; i < got; i++)
			buf[i] ^= flip;
		if (vq_cursor_write(&out, buf, got) != n)
			break;
	}
	return out.done;
}

/* The per-chain DMA misbehaviours, after the echo. */
static void broken_dma(struct vdev *d, const struct vq_chain *c)
{
	const struct broken *b = d->priv;
	const struct vq_seg *s = vq_chain_csegs(c);
	uint8_t v = 0xbd;

	switch (b->bug) {
	case BUG_WRITE_READABLE:
		if (c->nread)
			(void)gm_write(d->gm, s[0].gpa, &v, 1);
		break;
	case BUG_WRITE_OUTSIDE:
		if (c->nsegs)
			(void)gm_write(d->gm, s[c->nsegs - 1].gpa + s[c->nsegs - 1].len, &v, 1);
		break;
	case BUG_MMIO_DMA:
		(void)gm_write(d->gm, MACHINE_PCI_MEM_BASE, &v, 1);
		break;
	case BUG_HEAP_OVERFLOW: {
		/* one byte past the private state: ASan's heap-buffer-overflow */
		const volatile uint8_t *p = d->priv;

		v = p[sizeof(struct broken) + (c->nsegs & 1)];
		(void)v;
		break;
	}
	case BUG_SIGNED_OVERFLOW: {
		/* UBSan's signed-integer-overflow */
		volatile int32_t x = INT32_MAX;

		x = x + (int32_t)(c->nsegs | 1);
		(void)x;
		break;
	}
	default:
		break;
	}
}

/* BUG_USED_IDX / BUG_USED_ENTRY, right after the engine completed chain
 * id (write_len writable bytes) whose used entry it wrote at slot (split:
 * used ring index, packed: descriptor ring slot). */
static void broken_used(struct vdev *d, const struct vq *vq, uint16_t id, uint32_t write_len,
			uint16_t slot)
{
	const struct broken *b = d->priv;
	uint8_t e[8];

	if (b->bug == BUG_USED_IDX && vq->layout == VQ_SPLIT) {
		(void)gm_write16(d->gm, vq->device + 2, (uint16_t)(vq->used_idx + 1));
	} else if (b->bug == BUG_USED_ENTRY && vq->layout == VQ_SPLIT) {
		rs_st32(e, id);
		rs_st32(e + 4, write_len + 1);
		(void)gm_write(d->gm, vq->device + 4 + 8ull * (slot & (vq->num - 1)), e, 8);
	} else if (b->bug == BUG_USED_ENTRY) {
		rs_st32(e, write_len + 1);
		rs_st16(e + 4, id);
		(void)gm_write(d->gm, vq->desc + 16ull * slot + 8, e, 6);
	}
}

/* BUG_HANG: re-read the avail ring far more often than any notify needs. */
static void broken_hang(struct vdev *d, struct vq *vq)
{
	uint16_t idx;

	for (uint64_t i = 0; i < BROKEN_HANG_READS; i++)
		(void)gm_read16(d->gm, vq->driver, &idx);
}

/* BUG_SPIN: burn CPU without touching guest memory. */
static void broken_spin(void)
{
	for (volatile uint64_t i = 0; i < BROKEN_SPIN_LOOPS; i++)
		;
}

static void broken_queue_notify(struct vdev *d, unsigned q)
{
	struct broken *b = d->priv;
	struct vdev_queue *vqs = vdev_queue(d, q);
	struct vq_chain c;

	if (b->wedged && b->bug == BUG_WEDGE)
		return; /* takes nothing any more */
	if (b->bug == BUG_HANG)
		broken_hang(d, &vqs->vq);
	if (b->bug == BUG_SPIN)
		broken_spin();
	/* Bounded: every pop consumes an avail entry and the engine refuses
	 * more than the queue size outstanding. */
	while (vq_pop(&vqs->vq, &c) > 0) {
		uint32_t n;

		if (b->bug == BUG_HOLD) {
			/* in flight until the queue resets; the engine keeps the id */
			vq_chain_release(&c);
			continue;
		}
		n = broken_echo(d, &c);
		if (b->host_tag && n)
			n--;

		broken_dma(d, &c);
		if (b->bug == BUG_OVERLONG_USED_LEN)
			n = c.write_len + 1;
		if (b->bug == BUG_USED_IDX || b->bug == BUG_USED_ENTRY) {
			uint16_t id = c.id, slot = vqs->vq.layout == VQ_SPLIT ? vqs->vq.used_idx
									      : vqs->vq.next_used;
			uint32_t wl = c.write_len;

			if (vq_push(&vqs->vq, &c, n) < 0)
				break;
			broken_used(d, &vqs->vq, id, wl, slot);
		} else if (b->bug == BUG_PUSH_TWICE) {
			/* the copy still names the id, which is no longer in
			 * flight after the first push: the engine refuses it
			 * without touching its (freed) segments */
			struct vq_chain again = c;

			if (vq_push(&vqs->vq, &c, n) < 0)
				break;
			(void)vq_push(&vqs->vq, &again, n);
		} else if (vq_push(&vqs->vq, &c, n) < 0) {
			break;
		}
		b->requests++;
		if (b->wedged && b->bug == BUG_WEDGE_NEEDS_RESET)
			vdev_needs_reset(d, DIAG_DEVICE_ERROR);
	}
	vdev_queue_interrupt(d, q);
}

static int broken_create(struct vdev *d, struct vdev_args *args, char *err, size_t errlen)
{
	struct broken *b = d->priv;
	const char *bug = vdev_arg(args, "bug");

	b->bug = BUG_NONE;
	if (bug) {
		unsigned i;

		for (i = 0; i < BUG__COUNT; i++)
			if (strcmp(bug, broken_bug_names[i]) == 0)
				break;
		if (i == BUG__COUNT) {
			size_t n = (size_t)snprintf(err, errlen, "test-broken: unknown bug '%s' (",
						    bug);

			for (unsigned k = 0; k < BUG__COUNT && n < errlen; k++)
				n += (size_t)snprintf(err + n, errlen - n, "%s%s", k ? ", " : "",
						      broken_bug_names[k]);
			if (n < errlen)
				snprintf(err + n, errlen - n, ")");
			return -EINVAL;
		}
		b->bug = (enum broken_bug)i;
	}
	if (b->bug != BUG_TRANSPORT_DIFF)
		d->model_features &= ~VIRTIO_BIT(VIRTIO_F_RING_RESET);
	d->nqueues = BROKEN_NUM_QUEUES;
	return 0;
}

/* BUG_WEDGE_FEATURES: nothing is good enough once wedged. */
static int broken_validate_features(struct vdev *d, uint64_t features)
{
	const struct broken *b = d->priv;

	if (!b->wedged || b->bug != BUG_WEDGE_FEATURES)
		return 0;
	diag_report(&d->log, DIAG_FEATURES_INVALID, "test-broken: refusing 0x%llx",
		    (unsigned long long)features);
	return -EINVAL;
}

static void broken_reset(struct vdev *d)
{
	struct broken *b = d->priv;

	if ((b->bug == BUG_WEDGE || b->bug == BUG_WEDGE_FEATURES ||
	     b->bug == BUG_WEDGE_NEEDS_RESET) && b->requests)
		b->wedged = true;
	if (b->bug != BUG_NO_RESET)
		b->requests = 0;
}

static size_t broken_save(const struct vdev *d, uint8_t *buf, size_t cap)
{
	const struct broken *b = d->priv;

	if (cap >= 6) {
		buf[0] = (uint8_t)b->bug;
		rs_st32(buf + 1, b->requests);
		buf[5] = b->host_tag;
	}
	return 6;
}

static void broken_host_event(struct vdev *d, const struct world_event *ev)
{
	struct broken *b = d->priv;

	if (ev->kind == WEV_HOST)
		b->host_tag = (uint8_t)ev->arg;
}

const struct vdev_ops broken_ops = {
	.name = "test-broken",
	.device_id = VIRTIO_ID_RS_ECHO,
	.pci_class = 0xff00, /* unclassified device */
	.num_queues = BROKEN_NUM_QUEUES,
	.queue_max = BROKEN_QUEUE_MAX,
	.features = VIRTIO_BIT(VIRTIO_F_RING_RESET),
	.config_size = BROKEN_CFG_SIZE,
	.cfg_fields = broken_cfg_fields,
	.ncfg_fields = RS_ARRAY_SIZE(broken_cfg_fields),
	.priv_size = sizeof(struct broken),
	.create = broken_create,
	.config_read = broken_config_read,
	.validate_features = broken_validate_features,
	.queue_notify = broken_queue_notify,
	.reset = broken_reset,
	.save = broken_save,
	.host_event = broken_host_event,
};
