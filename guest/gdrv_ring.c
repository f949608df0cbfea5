/*
 * ringside — reference driver: the driver side of the virtqueues. Split
 * ring (virtio-v1.2 2.7; legacy contiguous layout or separate 1.x areas)
 * and packed ring (2.8): ring memory, making chains available (direct or
 * indirect), notification suppression both ways, and collecting used
 * buffers (in or out of order).
 *
 * Every barrier names the device-side one it pairs with; the device side is
 * the virtqueue engine (vq_pop, vq_push, vq_should_notify, vq_set_notify in
 * engine/), or any other implementation of the same spec rules.
 *
 * No libc here (see gdrv_priv.h).
 */
#include "gdrv_priv.h"

/* Offsets inside ring structures (virtio-v1.2 2.7.5, 2.7.6, 2.7.8, 2.8.10). */
#define SPLIT_FLAGS 0
#define SPLIT_IDX 2
#define SPLIT_RING 4
#define PACKED_DESC_LEN 8
#define PACKED_DESC_ID 12
#define PACKED_DESC_FLAGS 14
#define PACKED_EVENT_OFF_WRAP 0
#define PACKED_EVENT_FLAGS 2
#define PACKED_EVENT_FLAGS_MASK 3

/*
 * Split ring memory the device may read before the driver writes it: the
 * avail ring's flags and idx and its used_event, the used ring's flags and
 * idx and its avail_event. The descriptor table and ring entries are
 * written before they are made available (virtio-v1.2 2.7.13), so they
 * keep whatever they held.
 */
static void gdrv_split_ring_clear(struct gdrv_vq *vq)
{
	const struct gdrv_io *io = vq->dev->io;

	if (!vq->desc || !vq->avail || !vq->used)
		return;
	gdrv_zero(io, vq->avail, SPLIT_RING);
	gdrv_zero(io, vq->avail + SPLIT_RING + 2ull * vq->num, 2);
	gdrv_zero(io, vq->used, SPLIT_RING);
	gdrv_zero(io, vq->used + SPLIT_RING + (uint64_t)VIRTQ_USED_ELEM_SIZE * vq->num, 2);
}

void gdrv_ring_init_state(struct gdrv_vq *vq)
{
	uint16_t num = vq->num;

	/* Bookkeeping: every descriptor (split) or buffer id (packed) free.
	 * Only [0, num) is ever used (num <= GDRV_MAX_QSIZE; ids from the
	 * device are checked against num), so only that much is reset.
	 * token[] needs none: it is written when a chain is added and read
	 * only while chain_len[] says the chain is in flight. */
	if (num > GDRV_MAX_QSIZE)
		num = GDRV_MAX_QSIZE;
	for (unsigned i = 0; i < num; i++)
		vq->next[i] = (uint16_t)(i + 1);
	for (unsigned i = 0; i < num; i++)
		vq->chain_len[i] = 0;
	for (unsigned i = 0; i < num; i++)
		vq->indirect[i] = 0;
	vq->free_head = 0;
	vq->num_free = num;
	vq->avail_idx = 0;
	vq->last_used = 0;
	vq->kicked_avail = 0;
	/* virtio-v1.2 2.8.1: both wrap counters start at 1. */
	vq->next_avail = 0;
	vq->avail_wrap = true;
	vq->next_used = 0;
	vq->used_wrap = true;
	vq->kicks = 0;
	vq->kicks_suppressed = 0;
	vq->cb_disabled = false;
	vq->broken = false;
}

int gdrv_ring_alloc(struct gdrv_vq *vq)
{
	struct gdrv_dev *d = vq->dev;
	const struct gdrv_io *io = d->io;
	uint16_t num = vq->num;

	gdrv_ring_init_state(vq);
	if (vq->packed) {
		/* virtio-v1.2 2.8.10, 2.8.11: ring 16-aligned, event
		 * structures 4-aligned. Zeroed: no descriptor available, both
		 * event structures ENABLE. */
		vq->desc = gdrv_alloc(io, d->mem, (uint64_t)VIRTQ_DESC_SIZE * num, 16);
		vq->avail = gdrv_alloc(io, d->mem, 4, 4);
		vq->used = gdrv_alloc(io, d->mem, 4, 4);
	} else if (gdrv_is_legacy(d)) {
		/* virtio-v1.2 2.7.2 (legacy): one contiguous area, used ring
		 * at the next 4096 boundary, placed by page frame number. */
		uint64_t base = gdrv_alloc_raw(d->mem,
					       virtq_legacy_size(num, VIRTIO_PCI_LEGACY_ALIGN),
					       VIRTIO_PCI_LEGACY_ALIGN);

		vq->desc = base;
		vq->avail = base ? base + (uint64_t)VIRTQ_DESC_SIZE * num : 0;
		vq->used = base ? base + virtq_legacy_used_off(num, VIRTIO_PCI_LEGACY_ALIGN) : 0;
		gdrv_split_ring_clear(vq);
	} else {
		/* virtio-v1.2 2.7: desc 16, avail 2, used 4 byte alignment,
		 * three separate areas. */
		vq->desc = gdrv_alloc_raw(d->mem, (uint64_t)VIRTQ_DESC_SIZE * num, 16);
		vq->avail = gdrv_alloc_raw(d->mem, virtq_avail_size(num), 2);
		vq->used = gdrv_alloc_raw(d->mem, virtq_used_size(num), 4);
		gdrv_split_ring_clear(vq);
	}
	return vq->desc && vq->avail && vq->used ? 0 : -1;
}

/* Store one 16-byte descriptor image: split (addr, len, flags, next) and
 * packed (addr, len, id, flags) share the layout of the first 12 bytes. */
static void gdrv_desc_image(uint8_t *b, uint64_t addr, uint32_t len, uint16_t w12, uint16_t w14)
{
	gdrv_put64(b, addr);
	gdrv_put32(b + 8, len);
	gdrv_put16(b + 12, w12);
	gdrv_put16(b + 14, w14);
}

/* The indirect table of head/id slot (allocated on first use, reused after).
 * Returns its gpa or 0 when memory is exhausted. */
static uint64_t gdrv_indirect_table(struct gdrv_vq *vq, uint16_t slot)
{
	if (!vq->indirect[slot])
		vq->indirect[slot] = gdrv_alloc(vq->dev->io, vq->dev->mem,
						(uint64_t)VIRTQ_DESC_SIZE * GDRV_MAX_INDIRECT, 16);
	return vq->indirect[slot];
}

/* Fill the indirect table at table with the n buffers (readable first).
 * Split entries chain with NEXT; packed entries carry only WRITE
 * (virtio-v1.2 2.7.5.3.1, 2.8.16). */
static void gdrv_write_indirect(struct gdrv_vq *vq, uint64_t table, const struct gdrv_buf *bufs,
				unsigned nout, unsigned n)
{
	uint8_t t[VIRTQ_DESC_SIZE * GDRV_MAX_INDIRECT];

	for (unsigned i = 0; i < n; i++) {
		uint16_t flags = i < nout ? 0 : VIRTQ_DESC_F_WRITE;

		if (vq->packed) {
			gdrv_desc_image(t + VIRTQ_DESC_SIZE * i, bufs[i].gpa, bufs[i].len, 0,
					flags);
			continue;
		}
		if (i + 1 < n)
			flags |= VIRTQ_DESC_F_NEXT;
		gdrv_desc_image(t + VIRTQ_DESC_SIZE * i, bufs[i].gpa, bufs[i].len, flags,
				(uint16_t)(i + 1 < n ? i + 1 : 0));
	}
	vq->dev->io->mem_write(vq->dev->io->ctx, table, t, (size_t)VIRTQ_DESC_SIZE * n);
}

/* --- split ring --------------------------------------------------------------------------- */

static int gdrv_submit_split(struct gdrv_vq *vq, const struct gdrv_buf *bufs, unsigned nout,
			     unsigned n, uint64_t token, bool indirect)
{
	const struct gdrv_io *io = vq->dev->io;
	uint8_t b[VIRTQ_DESC_SIZE];
	uint16_t head = vq->free_head, used_desc;

	if (indirect) {
		uint64_t table;

		if (vq->num_free < 1)
			return -1;
		table = gdrv_indirect_table(vq, head);
		if (!table)
			return -1;
		gdrv_write_indirect(vq, table, bufs, nout, n);
		gdrv_desc_image(b, table, (uint32_t)(VIRTQ_DESC_SIZE * n), VIRTQ_DESC_F_INDIRECT,
				0);
		io->mem_write(io->ctx, vq->desc + (uint64_t)VIRTQ_DESC_SIZE * head, b, sizeof b);
		vq->free_head = vq->next[head];
		used_desc = 1;
	} else {
		uint16_t cur = head;

		if (vq->num_free < n)
			return -1;
		/* The chain takes the first n free descriptors; next[] keeps
		 * linking them, which is how the chain is freed later. */
		for (unsigned i = 0; i < n; i++) {
			uint16_t flags = i < nout ? 0 : VIRTQ_DESC_F_WRITE;
			uint16_t nxt = vq->next[cur];

			if (i + 1 < n)
				flags |= VIRTQ_DESC_F_NEXT;
			gdrv_desc_image(b, bufs[i].gpa, bufs[i].len, flags,
					(uint16_t)(i + 1 < n ? nxt : 0));
			io->mem_write(io->ctx, vq->desc + (uint64_t)VIRTQ_DESC_SIZE * cur, b,
				      sizeof b);
			cur = nxt;
		}
		vq->free_head = cur;
		used_desc = (uint16_t)n;
	}
	vq->num_free = (uint16_t)(vq->num_free - used_desc);
	vq->chain_len[head] = used_desc;
	vq->token[head] = token;

	/* virtio-v1.2 2.7.13: ring entry, then the index that publishes it. */
	gdrv_mem_wr16(io, vq->avail + SPLIT_RING + 2u * (vq->avail_idx & (vq->num - 1)), head);
	/* Descriptors and ring entry before the idx store; pairs with the
	 * acquire fence vq_pop() issues after reading avail->idx. */
	gdrv_wmb();
	vq->avail_idx++;
	gdrv_mem_wr16(io, vq->avail + SPLIT_IDX, vq->avail_idx);
	return 0;
}

/* Return the chain at head to the free list. */
static void gdrv_free_split(struct gdrv_vq *vq, uint16_t head)
{
	uint16_t last = head;

	for (unsigned i = 1; i < vq->chain_len[head]; i++)
		last = vq->next[last];
	vq->next[last] = vq->free_head;
	vq->free_head = head;
	vq->num_free = (uint16_t)(vq->num_free + vq->chain_len[head]);
	vq->chain_len[head] = 0;
}

/* The device broke the ring: stop collecting (see gdrv_get_used). */
static int gdrv_mark_broken(struct gdrv_vq *vq)
{
	vq->broken = true;
	return -1;
}

static int gdrv_get_used_split(struct gdrv_vq *vq, uint64_t *token, uint32_t *len)
{
	const struct gdrv_io *io = vq->dev->io;
	uint16_t used_idx = gdrv_mem_rd16(io, vq->used + SPLIT_IDX);
	uint64_t elem;
	uint32_t id;

	if (used_idx == vq->last_used)
		return 0;
	/* The idx load before the element loads; pairs with the release
	 * fence vq_push() issues before storing used->idx. */
	gdrv_rmb();
	if ((uint16_t)(used_idx - vq->last_used) > vq->num)
		return gdrv_mark_broken(vq);
	elem = vq->used + SPLIT_RING + 8ull * (vq->last_used & (vq->num - 1));
	id = gdrv_mem_rd32(io, elem);
	if (id >= vq->num || vq->chain_len[id] == 0)
		return gdrv_mark_broken(vq);
	*token = vq->token[id];
	*len = gdrv_mem_rd32(io, elem + 4);
	vq->last_used++;
	gdrv_free_split(vq, (uint16_t)id);
	if (vq->event_idx && !vq->cb_disabled) {
		/* virtio-v1.2 2.7.10: ask for an interrupt at the next used
		 * entry. Store, then a full barrier before any later look at
		 * used->idx; pairs with the device's barrier between storing
		 * used->idx and reading used_event (vq_should_notify). */
		gdrv_mem_wr16(io, vq->avail + SPLIT_RING + 2u * vq->num, vq->last_used);
		gdrv_mb();
	}
	return 1;
}

/* --- packed ring -------------------------------------------------------------------------- */

/* off_wrap naming the next used slot and its wrap counter (2.8.10). */
static uint16_t gdrv_used_off_wrap(const struct gdrv_vq *vq)
{
	return (uint16_t)(vq->next_used | ((unsigned)vq->used_wrap << VIRTQ_EVENT_WRAP_SHIFT));
}

/* AVAIL/USED bits that mark a descriptor available in the current lap:
 * AVAIL equal to the driver's wrap counter, USED its inverse (2.8.1). */
static uint16_t gdrv_avail_bits(const struct gdrv_vq *vq)
{
	return vq->avail_wrap ? VIRTQ_DESC_F_AVAIL : VIRTQ_DESC_F_USED;
}

/* Step the driver's ring position, flipping the wrap counter at the end. */
static void gdrv_advance_avail(struct gdrv_vq *vq)
{
	if (++vq->next_avail >= vq->num) {
		vq->next_avail = 0;
		vq->avail_wrap = !vq->avail_wrap;
	}
}

static int gdrv_submit_packed(struct gdrv_vq *vq, const struct gdrv_buf *bufs, unsigned nout,
			      unsigned n, uint64_t token, bool indirect)
{
	const struct gdrv_io *io = vq->dev->io;
	uint16_t need = indirect ? 1 : (uint16_t)n;
	uint16_t id = vq->free_head;
	uint16_t head_slot = vq->next_avail, head_flags = 0;
	uint8_t b[VIRTQ_DESC_SIZE];

	/* Free ids >= free descriptors, so this also guarantees an id. */
	if (vq->num_free < need)
		return -1;
	if (indirect) {
		uint64_t table = gdrv_indirect_table(vq, id);

		if (!table)
			return -1;
		gdrv_write_indirect(vq, table, bufs, nout, n);
		head_flags = (uint16_t)(VIRTQ_DESC_F_INDIRECT | gdrv_avail_bits(vq));
		gdrv_desc_image(b, table, (uint32_t)(VIRTQ_DESC_SIZE * n), id, 0);
		io->mem_write(io->ctx, vq->desc + (uint64_t)VIRTQ_DESC_SIZE * head_slot, b,
			      PACKED_DESC_FLAGS);
		gdrv_advance_avail(vq);
	} else {
		for (unsigned i = 0; i < n; i++) {
			uint16_t slot = vq->next_avail;
			uint16_t flags = (uint16_t)((i < nout ? 0 : VIRTQ_DESC_F_WRITE) |
						    gdrv_avail_bits(vq));

			if (i + 1 < n)
				flags |= VIRTQ_DESC_F_NEXT;
			gdrv_desc_image(b, bufs[i].gpa, bufs[i].len, id, flags);
			/* The head's flags are stored last, below. */
			if (i == 0)
				head_flags = flags;
			io->mem_write(io->ctx, vq->desc + (uint64_t)VIRTQ_DESC_SIZE * slot, b,
				      i == 0 ? PACKED_DESC_FLAGS : sizeof b);
			gdrv_advance_avail(vq);
		}
	}
	vq->num_free = (uint16_t)(vq->num_free - need);
	vq->free_head = vq->next[id];
	vq->chain_len[id] = need;
	vq->token[id] = token;
	vq->avail_idx = (uint16_t)(vq->avail_idx + need);

	/* virtio-v1.2 2.8.6, 2.8.21: the rest of the chain before the head's
	 * flags make it available; pairs with the acquire fence vq_pop()
	 * issues after seeing the head's AVAIL/USED bits. */
	gdrv_wmb();
	gdrv_mem_wr16(io, vq->desc + (uint64_t)VIRTQ_DESC_SIZE * head_slot + PACKED_DESC_FLAGS,
		      head_flags);
	return 0;
}

static int gdrv_get_used_packed(struct gdrv_vq *vq, uint64_t *token, uint32_t *len)
{
	const struct gdrv_io *io = vq->dev->io;
	uint64_t desc = vq->desc + (uint64_t)VIRTQ_DESC_SIZE * vq->next_used;
	uint16_t flags = gdrv_mem_rd16(io, desc + PACKED_DESC_FLAGS);
	bool avail = (flags & VIRTQ_DESC_F_AVAIL) != 0, used = (flags & VIRTQ_DESC_F_USED) != 0;
	uint16_t id, n;

	/* virtio-v1.2 2.8.1: used when AVAIL == USED == our used wrap counter. */
	if (avail != used || used != vq->used_wrap)
		return 0;
	/* The flags load before the id/len loads; pairs with the release
	 * fence vq_push() issues before storing the used descriptor's flags. */
	gdrv_rmb();
	id = gdrv_mem_rd16(io, desc + PACKED_DESC_ID);
	if (id >= vq->num || vq->chain_len[id] == 0)
		return gdrv_mark_broken(vq);
	*token = vq->token[id];
	*len = gdrv_mem_rd32(io, desc + PACKED_DESC_LEN);
	/* virtio-v1.2 2.8.7: the device skips as many ring slots as the
	 * buffer took; completions may come in any order, matched by id. */
	n = vq->chain_len[id];
	vq->next_used = (uint16_t)(vq->next_used + n);
	if (vq->next_used >= vq->num) {
		vq->next_used = (uint16_t)(vq->next_used - vq->num);
		vq->used_wrap = !vq->used_wrap;
	}
	vq->num_free = (uint16_t)(vq->num_free + n);
	vq->chain_len[id] = 0;
	vq->next[id] = vq->free_head;
	vq->free_head = id;
	if (vq->event_idx && !vq->cb_disabled) {
		/* virtio-v1.2 2.8.14: with EVENT_IDX, the interrupt is wanted
		 * at the next used slot (the device reads this only while the
		 * flags say DESC). Full barrier; pairs with the device's
		 * barrier between writing a used descriptor and reading the
		 * driver event structure (vq_should_notify). */
		gdrv_mem_wr16(io, vq->avail + PACKED_EVENT_OFF_WRAP, gdrv_used_off_wrap(vq));
		gdrv_mb();
	}
	return 1;
}

/* Packed kick decision from the device event structure (2.8.10, 2.8.14). */
static bool gdrv_packed_need_kick(struct gdrv_vq *vq, uint16_t old, uint16_t new_idx)
{
	const struct gdrv_io *io = vq->dev->io;
	uint16_t flags = gdrv_mem_rd16(io, vq->used + PACKED_EVENT_FLAGS) & PACKED_EVENT_FLAGS_MASK;
	uint16_t off_wrap, off, back, event;
	bool wrap;

	if (flags == VIRTQ_EVENT_F_DISABLE)
		return false;
	if (flags != VIRTQ_EVENT_F_DESC || !vq->event_idx)
		return true; /* ENABLE, or a value we cannot honour: notify */
	off_wrap = gdrv_mem_rd16(io, vq->used + PACKED_EVENT_OFF_WRAP);
	off = off_wrap & 0x7fff;
	wrap = (off_wrap >> VIRTQ_EVENT_WRAP_SHIFT) & 1;
	/* Turn (offset, wrap) into our running count of descriptors made
	 * available: it lies `back` slots before the current position, one
	 * lap further back when the wrap counter differs. */
	back = (uint16_t)(vq->next_avail - off + (wrap != vq->avail_wrap ? vq->num : 0));
	event = (uint16_t)(new_idx - back);
	return virtq_need_event(event, new_idx, old);
}

/* --- entry points ------------------------------------------------------------------------- */

int gdrv_submit(struct gdrv_vq *vq, const struct gdrv_buf *bufs, unsigned nout, unsigned nin,
		uint64_t token, bool indirect)
{
	unsigned n = nout + nin;

	/* virtio-v1.2 2.7.5.3.1 (and the packed ring's scatter-gather rule
	 * in 2.8): no chain longer than the queue size, indirect entries
	 * included. */
	if (vq->num == 0 || vq->broken || n == 0 || n < nout || n > vq->num)
		return -1;
	if (indirect && (n > GDRV_MAX_INDIRECT || !gdrv_has(vq->dev, VIRTIO_F_INDIRECT_DESC)))
		return -1;
	if (vq->packed)
		return gdrv_submit_packed(vq, bufs, nout, n, token, indirect);
	return gdrv_submit_split(vq, bufs, nout, n, token, indirect);
}

bool gdrv_kick(struct gdrv_vq *vq)
{
	const struct gdrv_io *io;
	uint16_t old = vq->kicked_avail, new_idx = vq->avail_idx;
	bool notify;

	if (vq->num == 0)
		return false;
	io = vq->dev->io;
	/* The avail idx / head flags stores before the load of the device's
	 * suppression state; pairs with the full barrier vq_set_notify()
	 * issues between re-enabling notifications and re-checking the ring. */
	gdrv_mb();
	vq->kicked_avail = new_idx;
	if (vq->packed) {
		notify = gdrv_packed_need_kick(vq, old, new_idx);
	} else if (vq->event_idx) {
		/* virtio-v1.2 2.7.10: avail_event follows the used ring. */
		uint16_t avail_event = gdrv_mem_rd16(io, vq->used + SPLIT_RING + 8ull * vq->num);
		notify = virtq_need_event(avail_event, new_idx, old);
	} else {
		notify = !(gdrv_mem_rd16(io, vq->used + SPLIT_FLAGS) & VIRTQ_USED_F_NO_NOTIFY);
	}
	if (notify) {
		gdrv_notify(vq);
		vq->kicks++;
	} else {
		vq->kicks_suppressed++;
	}
	return notify;
}

int gdrv_get_used(struct gdrv_vq *vq, uint64_t *token, uint32_t *len)
{
	if (vq->num == 0 || vq->broken)
		return 0;
	if (vq->packed)
		return gdrv_get_used_packed(vq, token, len);
	return gdrv_get_used_split(vq, token, len);
}

void gdrv_set_interrupts(struct gdrv_vq *vq, bool enable)
{
	const struct gdrv_io *io;

	if (vq->num == 0)
		return;
	io = vq->dev->io;
	vq->cb_disabled = !enable;
	if (vq->packed) {
		/* virtio-v1.2 2.8.10: DESC (with EVENT_IDX: interrupt at the
		 * next used slot), ENABLE, or DISABLE. */
		uint16_t flags = VIRTQ_EVENT_F_DISABLE;

		if (enable && vq->event_idx) {
			uint16_t off_wrap = gdrv_used_off_wrap(vq);

			gdrv_mem_wr16(io, vq->avail + PACKED_EVENT_OFF_WRAP, off_wrap);
			/* The offset before the flags that make it count;
			 * pairs with the full barrier vq_should_notify()
			 * issues before reading the structure. */
			gdrv_wmb();
			flags = VIRTQ_EVENT_F_DESC;
		} else if (enable) {
			flags = VIRTQ_EVENT_F_ENABLE;
		}
		gdrv_mem_wr16(io, vq->avail + PACKED_EVENT_FLAGS, flags);
	} else if (vq->event_idx) {
		/* virtio-v1.2 2.7.10: with EVENT_IDX the flags are not used;
		 * used_event = last_used asks for the next completion, one
		 * behind it for none until the index comes round 2^16 later. */
		gdrv_mem_wr16(io, vq->avail + SPLIT_RING + 2u * vq->num,
			      (uint16_t)(enable ? vq->last_used : vq->last_used - 1));
	} else {
		gdrv_mem_wr16(io, vq->avail + SPLIT_FLAGS, enable ? 0 : VIRTQ_AVAIL_F_NO_INTERRUPT);
	}
	/* The suppression store before the caller looks at the used ring
	 * again; pairs with the device's barrier between publishing used
	 * entries and reading the driver's suppression state
	 * (vq_should_notify). */
	gdrv_mb();
}
