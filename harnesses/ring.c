/*
 * ringside — the ring target: the virtqueue engine alone, on a bare arena
 * with the fuzz source, no transport and no device model. The input lays
 * out rings directly (RING_SETUP, RING_WRITE, MEM_WRITE, and SUBMIT through
 * the reference driver's ring code) and the harness plays the device: POP,
 * PUSH, PUSH_N, NOTIFY_CHECK, SET_NOTIFY. A raw RING_SETUP leaves the ring
 * memory untouched, so every byte the engine reads of it (avail index, ring
 * entries, descriptors, indirect tables) is lazy DMA from the input.
 *
 * Layout of the 4 MiB arena (an MMIO hole follows it, to catch DMA there):
 *   0x100000 descriptor table / packed ring (up to 32768 * 16 bytes)
 *   0x180000 driver area (split avail ring / packed driver event)
 *   0x1a0000 device area (split used ring / packed device event)
 *   0x1f0000 the driver's indirect tables
 *   0x200000 chain buffers, to the end of RAM
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

#define RING_RAM 0x400000ull
#define RING_HOLE_SIZE 0x10000ull
#define RING_DESC 0x100000ull
#define RING_DRIVER 0x180000ull
#define RING_DEVICE 0x1a0000ull
#define RING_IND 0x1f0000ull
#define RING_BUF 0x200000ull
#define RING_HELD 32
#define RING_PEEK 64

struct fuzz_ring {
	struct gm gm;
	struct diag_log log;
	struct fuzz_source *src;
	struct vq vq;
	uint64_t base[3], size[3];   /* areas of the last setup (RING_WRITE) */
	struct gdrv_io io;
	struct gdrv_mem mem;         /* indirect tables */
	struct gdrv_dev drv;         /* driver side: vq[0] when driver-managed */
	struct fuzz_bufs bufs;
	struct fuzz_chain_rec recs[FUZZ_RECS];
	struct vq_chain held[RING_HELD];
	uint32_t written[RING_HELD];
	unsigned nheld;
	uint64_t errors;             /* on_error calls */
};

static void ring_on_error(void *ctx, unsigned qidx, enum diag_code code)
{
	struct fuzz_ring *r = ctx;

	r->errors++;
}

/* The driver side reaches memory only through the guest accessors; it
 * never kicks (the harness is the device), so port and MMIO are unused. */
static void rio_mem_read(void *ctx, uint64_t gpa, void *buf, size_t len)
{
	(void)gm_guest_read(ctx, gpa, buf, len);
}

static void rio_mem_write(void *ctx, uint64_t gpa, const void *buf, size_t len)
{
	(void)gm_guest_write(ctx, gpa, buf, len);
}

static uint32_t rio_pio_read(void *ctx, uint16_t port, unsigned size)
{
	return 0;
}

static void rio_pio_write(void *ctx, uint16_t port, unsigned size, uint32_t val)
{
}

static uint64_t rio_mmio_read(void *ctx, uint64_t addr, unsigned size)
{
	return 0;
}

static void rio_mmio_write(void *ctx, uint64_t addr, unsigned size, uint64_t val)
{
}

struct fuzz_ring *fuzz_ring_new(char *err, size_t errlen)
{
	struct fuzz_ring *r = calloc(1, sizeof(*r));

	if (!r) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	gm_init(&r->gm);
	diag_init(&r->log, "ring");
	r->gm.log = &r->log;
	if (gm_add_ram(&r->gm, 0, RING_RAM, NULL, "ram") < 0 ||
	    gm_add_mmio(&r->gm, RING_RAM, RING_HOLE_SIZE, "hole") < 0 ||
	    !(r->src = fuzz_source_new(&r->gm))) {
		snprintf(err, errlen, "cannot set up the ring arena");
		fuzz_ring_free(r);
		return NULL;
	}
	gm_set_source(&r->gm, &fuzz_source_ops, r->src);
	vq_init(&r->vq, &r->gm, &r->log, 0, ring_on_error, r);
	r->io = (struct gdrv_io){
		.ctx = &r->gm,
		.pio_read = rio_pio_read,
		.pio_write = rio_pio_write,
		.mmio_read = rio_mmio_read,
		.mmio_write = rio_mmio_write,
		.mem_read = rio_mem_read,
		.mem_write = rio_mem_write,
	};
	fuzz_ring_reset(r);
	return r;
}

static void release_held(struct fuzz_ring *r)
{
	for (unsigned i = 0; i < r->nheld; i++)
		vq_chain_release(&r->held[i]);
	r->nheld = 0;
}

void fuzz_ring_free(struct fuzz_ring *r)
{
	if (!r)
		return;
	release_held(r);
	vq_reset(&r->vq);
	gm_set_source(&r->gm, NULL, NULL);
	gm_destroy(&r->gm);
	fuzz_source_free(r->src);
	free(r);
}

void fuzz_ring_reset(struct fuzz_ring *r)
{
	release_held(r);
	vq_reset(&r->vq);
	memset(&r->vq.stats, 0, sizeof(r->vq.stats));
	r->drv.vq[0].num = 0;
	memset(r->base, 0, sizeof(r->base));
	memset(r->size, 0, sizeof(r->size));
	gm_dirty_reset(&r->gm);
	memset(&r->gm.stats, 0, sizeof(r->gm.stats));
	diag_clear(&r->log);
	r->errors = 0;
	r->mem = (struct gdrv_mem){ RING_IND, RING_BUF };
	r->bufs = (struct fuzz_bufs){ RING_BUF, RING_RAM, RING_BUF };
}

void fuzz_ring_begin(struct fuzz_ring *r, struct fuzz_input *in)
{
	fuzz_source_begin(r->src, in);
}

struct gm *fuzz_ring_gm(struct fuzz_ring *r)
{
	return &r->gm;
}

struct vq *fuzz_ring_vq(struct fuzz_ring *r)
{
	return &r->vq;
}

void fuzz_ring_digest(struct fuzz_exec *x)
{
	struct fuzz_ring *r = x->ring;
	const struct vq_stats *st = &r->vq.stats;

	fuzz_mix(x, st->popped);
	fuzz_mix(x, st->pushed);
	fuzz_mix(x, st->notified);
	fuzz_mix(x, st->suppressed);
	fuzz_mix(x, st->errors);
	fuzz_mix(x, r->errors);
	fuzz_mix(x, r->vq.broken);
	for (unsigned c = 0; c < DIAG__COUNT; c++)
		if (r->log.count[c])
			fuzz_mix(x, (uint64_t)c << 48 ^ r->log.count[c]);
}

/* Driver-side bookkeeping of a fresh queue, as the reference driver sets
 * it up (every descriptor / id free, wrap counters 1). */
static void drv_queue(struct fuzz_ring *r, const struct vq_config *cfg)
{
	struct gdrv_vq *dq = &r->drv.vq[0];

	r->drv.io = &r->io;
	r->drv.mem = &r->mem;
	r->drv.transport = GDRV_MMIO_V2; /* a 1.x interface: separate areas */
	r->drv.features = cfg->features;
	dq->dev = &r->drv;
	dq->idx = 0;
	dq->num = cfg->num;
	dq->packed = cfg->layout == VQ_PACKED;
	dq->event_idx = (cfg->features >> VIRTIO_F_EVENT_IDX) & 1;
	dq->desc = cfg->desc;
	dq->avail = cfg->driver;
	dq->used = cfg->device;
	gdrv_ring_init_state(dq);
}

static void op_setup(struct fuzz_exec *x, struct fuzz_ring *r, const struct fuzz_op *op)
{
	unsigned skew = op->p3 & 0x3f;
	struct vq_config cfg = {
		.layout = op->p0 & 1 ? VQ_PACKED : VQ_SPLIT,
		.num = op->p2,
		.desc = RING_DESC + skew,
		.driver = RING_DRIVER + skew,
		.device = RING_DEVICE + skew,
		.features = op->val,
	};
	int rc;

	release_held(r);
	vq_reset(&r->vq);
	r->drv.vq[0].num = 0;
	rc = vq_setup(&r->vq, &cfg);
	fuzz_mix(x, (uint64_t)(int64_t)rc);
	r->base[0] = cfg.desc;
	r->base[1] = cfg.driver;
	r->base[2] = cfg.device;
	r->size[0] = (uint64_t)VIRTQ_DESC_SIZE * cfg.num;
	r->size[1] = cfg.layout == VQ_PACKED ? 4 : virtq_avail_size(cfg.num);
	r->size[2] = cfg.layout == VQ_PACKED ? 4 : virtq_used_size(cfg.num);
	/* p0 bit 1: the driver owns the ring (zeroed, SUBMIT and COLLECT work);
	 * else the ring memory stays untouched: lazy DMA. */
	if (rc == 0 && (op->p0 & 2) && cfg.num <= GDRV_MAX_QSIZE) {
		static const uint8_t zero[4096];

		for (unsigned a = 0; a < 3; a++)
			for (uint64_t off = 0; off < r->size[a]; off += sizeof(zero))
				(void)gm_guest_write(&r->gm, r->base[a] + off, zero,
						     (size_t)RS_MIN(r->size[a] - off,
								    (uint64_t)sizeof(zero)));
		drv_queue(r, &cfg);
	}
}

/* Pop up to n chains, read a little of each, write the device's bytes. */
static void op_pop(struct fuzz_exec *x, struct fuzz_ring *r, const struct fuzz_op *op)
{
	unsigned n = 1 + op->p0 % 8u;
	uint8_t fill = (uint8_t)op->val, buf[RING_PEEK];

	memset(buf, fill, sizeof(buf));
	while (n-- && r->nheld < RING_HELD) {
		struct vq_chain *c = &r->held[r->nheld];
		struct vq_cursor cur;
		size_t got, left;
		int rc = vq_pop(&r->vq, c);

		fuzz_mix(x, (uint64_t)(int64_t)rc);
		if (rc != 1)
			return;
		fuzz_mix(x, (uint64_t)c->id << 32 | c->nsegs);
		fuzz_mix(x, (uint64_t)c->read_len << 32 | c->write_len);
		vq_cursor_init_read(&cur, &r->gm, c);
		got = vq_cursor_read(&cur, buf, sizeof(buf));
		for (size_t i = 0; i < got; i++)
			fuzz_mix(x, buf[i]);
		memset(buf, fill, sizeof(buf));
		vq_cursor_init_write(&cur, &r->gm, c);
		left = RS_MIN((size_t)op->p2, (size_t)c->write_len);
		while (left) {
			size_t k = vq_cursor_write(&cur, buf, RS_MIN(left, sizeof(buf)));

			if (!k)
				break;
			left -= k;
		}
		r->written[r->nheld++] = cur.done;
	}
}

/* Drop held chains [0, n) from the table (their segments released: a chain
 * the engine completed is already released, releasing again is a no-op). */
static void drop_held(struct fuzz_ring *r, unsigned first, unsigned n)
{
	for (unsigned i = first; i < first + n; i++)
		vq_chain_release(&r->held[i]);
	memmove(&r->held[first], &r->held[first + n], (r->nheld - first - n) * sizeof(r->held[0]));
	memmove(&r->written[first], &r->written[first + n],
		(r->nheld - first - n) * sizeof(r->written[0]));
	r->nheld -= n;
}

static void op_push(struct fuzz_exec *x, struct fuzz_ring *r, const struct fuzz_op *op)
{
	unsigned k;
	uint32_t len;

	if (!r->nheld)
		return;
	k = op->p0 % r->nheld;
	/* the harness is a correct device: never more than the writable space */
	len = op->p1 & 1 ? (uint32_t)(op->val % ((uint64_t)r->held[k].write_len + 1))
			 : r->written[k];
	fuzz_mix(x, (uint64_t)(int64_t)vq_push(&r->vq, &r->held[k], len));
	drop_held(r, k, 1);
}

static void op_push_n(struct fuzz_exec *x, struct fuzz_ring *r, const struct fuzz_op *op)
{
	unsigned n = RS_MIN(1u + op->p0 % 8u, r->nheld);

	if (!n)
		return;
	fuzz_mix(x, (uint64_t)(int64_t)vq_push_n(&r->vq, r->held, r->written, n));
	drop_held(r, 0, n);
}

void fuzz_ring_op(struct fuzz_exec *x, const struct fuzz_op *op)
{
	struct fuzz_ring *r = x->ring;
	struct gdrv_vq *dq = r->drv.vq[0].num ? &r->drv.vq[0] : NULL;

	switch (op->code) {
	case FOP_RING_SETUP:
		op_setup(x, r, op);
		break;
	case FOP_RING_WRITE:
		if (r->vq.ready)
			fuzz_ring_poke(&r->gm, r->base, r->size, op);
		break;
	case FOP_MEM_WRITE:
		fuzz_mem_write(x, &r->gm, RING_RAM, op);
		break;
	case FOP_SUBMIT:
		if (dq)
			(void)fuzz_submit(x, &r->gm, &r->bufs, dq, r->recs, op);
		break;
	case FOP_POP:
		op_pop(x, r, op);
		break;
	case FOP_PUSH:
		op_push(x, r, op);
		break;
	case FOP_PUSH_N:
		op_push_n(x, r, op);
		break;
	case FOP_NOTIFY_CHECK:
		fuzz_mix(x, vq_should_notify(&r->vq));
		break;
	case FOP_SET_NOTIFY:
		fuzz_mix(x, vq_set_notify(&r->vq, op->p0 & 1));
		fuzz_mix(x, vq_pending(&r->vq));
		break;
	case FOP_COLLECT:
		if (dq)
			fuzz_collect(x, &r->gm, dq, r->recs);
		break;
	case FOP_SET_INTERRUPTS:
		if (dq)
			gdrv_set_interrupts(dq, op->p1 & 1);
		break;
	case FOP_RING_RESET:
		release_held(r);
		vq_reset(&r->vq);
		r->drv.vq[0].num = 0;
		break;
	default:
		break;
	}
}
