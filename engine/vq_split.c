/*
 * ringside — split virtqueue, device side (virtio-v1.2 2.7).
 *
 * Three areas, all little-endian (legacy: guest-native, LE on every guest
 * ringside models):
 *   descriptor table  desc[num] of {le64 addr, le32 len, le16 flags, le16 next}
 *   available ring    le16 flags, le16 idx, le16 ring[num], le16 used_event
 *   used ring         le16 flags, le16 idx, {le32 id, le32 len}[num], le16 avail_event
 * Indices are free-running 16-bit counters; slot = idx & (num - 1).
 *
 * Rules enforced by vq_split_pop(), each a guest error that breaks the queue
 * (vq_guest_error):
 *  - avail idx never runs more than num entries ahead of what we consumed
 *    (2.7.13: the ring holds num heads; DIAG_VQ_AVAIL_JUMP);
 *  - head and every next below num (DIAG_VQ_HEAD_RANGE, DIAG_VQ_NEXT_RANGE);
 *  - the head is not a chain still in flight (DIAG_VQ_BUFFER_ID);
 *  - a chain is at most num buffer descriptors, those of an indirect table
 *    included (2.7.5.3.1: "A driver MUST NOT create a descriptor chain
 *    longer than the Queue Size"; DIAG_VQ_LOOP, -ELOOP). The INDIRECT
 *    descriptor itself only points at a table and is not counted, so one
 *    pop reads at most num + 1 descriptors; this bound also ends loops;
 *  - INDIRECT needs VIRTIO_F_INDIRECT_DESC, never goes with NEXT, never
 *    appears inside a table (2.7.5.3.1); a table is 16 * k bytes with
 *    1 <= k <= num (our limit: more entries than a chain may have make no
 *    sense), lies wholly in RAM, and its next indices are below k;
 *    its WRITE flag is ignored (2.7.5.3.2);
 *  - buffers in RAM, readable before writable, sums within 32 bits
 *    (vq_chain_add, 2.7.4.2, 2.7.5.2).
 * Ring memory the arena refuses after setup (the arena changed or a source
 * failed) is a guest error too (DIAG_VQ_RING_ADDR, the arena's errno).
 *
 * Ring memory is reached through gm_ptr when the arena allows raw pointers
 * (plain source, no tap) and through gm_read/gm_write otherwise, so the
 * recorder and the replayer see every access. Each descriptor is copied
 * once into a local buffer before it is looked at, so a guest rewriting it
 * meanwhile cannot make a checked value differ from a used one.
 */
#include <inttypes.h>
#include <stdatomic.h>
#include <string.h>

#include "vq_priv.h"

/* struct virtq_desc, virtio-v1.2 2.7.5 */
#define DESC_ADDR 0u
#define DESC_LEN 8u
#define DESC_FLAGS 12u
#define DESC_NEXT 14u

/* struct virtq_avail, 2.7.6 */
#define AVAIL_FLAGS 0u
#define AVAIL_IDX 2u
#define AVAIL_RING 4u

/* struct virtq_used, 2.7.8 */
#define USED_FLAGS 0u
#define USED_IDX 2u
#define USED_RING 4u

/* used_event sits after avail->ring[num], avail_event after used->ring[num]. */
static uint64_t used_event_gpa(const struct vq *vq)
{
	return vq->driver + AVAIL_RING + 2ull * vq->num;
}

static uint64_t avail_event_gpa(const struct vq *vq)
{
	return vq->device + USED_RING + (uint64_t)VIRTQ_USED_ELEM_SIZE * vq->num;
}

/* Ring memory at gpa failed: the guest error that breaks the queue. */
static int ring_fault(struct vq *vq, const char *what, uint64_t gpa, int err)
{
	return vq_guest_error(vq, DIAG_VQ_RING_ADDR, err,
			      "split ring: %s at 0x%" PRIx64 " not accessible", what, gpa);
}

/* Load a 16-bit ring field (gpa 2-byte aligned). Returns 0 or the arena's
 * errno (not reported here). */
static int ring_load16(struct gm *gm, uint64_t gpa, uint16_t *v)
{
	const uint16_t *p = gm_ptr(gm, gpa, 2, GM_ACCESS_READ);
	uint16_t raw;
	int err;

	if (RS_LIKELY(p != NULL)) {
		/* SAFETY: regions are page aligned in guest and host space, so an
		 * even gpa is an aligned host address; one load, never torn. */
		raw = __atomic_load_n(p, __ATOMIC_RELAXED);
		*v = rs_le16(&raw);
		return 0;
	}
	err = gm_read(gm, gpa, &raw, 2);
	*v = rs_le16(&raw);
	return err;
}

/* Store a 16-bit ring field (gpa 2-byte aligned) in one access, so the
 * driver never sees half of a new index. Returns 0 or the arena's errno. */
static int ring_store16(struct gm *gm, uint64_t gpa, uint16_t v)
{
	uint16_t *p = gm_ptr(gm, gpa, 2, GM_ACCESS_WRITE);
	uint16_t raw;

	rs_st16(&raw, v);
	if (RS_LIKELY(p != NULL)) {
		/* SAFETY: aligned as in ring_load16. */
		__atomic_store_n(p, raw, __ATOMIC_RELAXED);
		return 0;
	}
	return gm_write(gm, gpa, &raw, 2);
}

/* A descriptor table: host pointer when the arena hands one out, else read
 * entry by entry through the arena. n entries. */
struct desc_table {
	const uint8_t *host;
	uint64_t gpa;
	uint32_t n;
};

static void desc_table_open(struct gm *gm, struct desc_table *t, uint64_t gpa, uint32_t n)
{
	t->gpa = gpa;
	t->n = n;
	t->host = gm_ptr(gm, gpa, (size_t)n * VIRTQ_DESC_SIZE, GM_ACCESS_READ);
}

/* Copy entry i (< t->n) into d. Returns 0 or the arena's errno. */
static int desc_fetch(struct gm *gm, const struct desc_table *t, uint32_t i, uint8_t *d)
{
	if (RS_LIKELY(t->host != NULL)) {
		memcpy(d, t->host + (size_t)i * VIRTQ_DESC_SIZE, VIRTQ_DESC_SIZE);
		return 0;
	}
	return gm_read(gm, t->gpa + (uint64_t)i * VIRTQ_DESC_SIZE, d, VIRTQ_DESC_SIZE);
}

/*
 * Expand the indirect table described by descriptor d into c (2.7.5.3).
 * *count is the number of buffer descriptors in the chain so far and is
 * advanced. Returns 0 or a negative errno (reported; -ENOMEM is a host
 * failure).
 */
static int split_indirect(struct vq *vq, struct vq_chain *c, const uint8_t *d, uint32_t *count)
{
	uint64_t addr = rs_le64(d + DESC_ADDR);
	uint32_t len = rs_le32(d + DESC_LEN);
	uint16_t flags = rs_le16(d + DESC_FLAGS);
	struct desc_table t;
	uint8_t e[VIRTQ_DESC_SIZE];
	uint32_t j = 0;
	int err;

	if (!(vq->features & VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC)))
		return vq_guest_error(vq, DIAG_VQ_INDIRECT_FEATURE, -EINVAL,
				      "INDIRECT without VIRTIO_F_INDIRECT_DESC");
	if (flags & VIRTQ_DESC_F_NEXT)
		return vq_guest_error(vq, DIAG_VQ_INDIRECT_NEXT, -EINVAL,
				      "INDIRECT together with NEXT");
	if (len == 0 || len % VIRTQ_DESC_SIZE || len / VIRTQ_DESC_SIZE > vq->num)
		return vq_guest_error(vq, DIAG_VQ_INDIRECT_LEN, -EINVAL,
				      "indirect table len %" PRIu32 " (16 * 1..%u allowed)", len,
				      vq->num);
	if (!gm_range_ok(vq->gm, addr, len))
		return vq_guest_error(vq, DIAG_VQ_DESC_ADDR, -EINVAL,
				      "indirect table 0x%" PRIx64 "+%" PRIu32 " is not guest RAM",
				      addr, len);

	desc_table_open(vq->gm, &t, addr, len / VIRTQ_DESC_SIZE);
	for (;;) {
		if (*count == vq->num)
			return vq_guest_error(vq, DIAG_VQ_LOOP, -ELOOP,
					      "chain longer than %u descriptors", vq->num);
		err = desc_fetch(vq->gm, &t, j, e);
		if (err)
			return vq_guest_error(vq, DIAG_VQ_DESC_ADDR, err,
					      "indirect table 0x%" PRIx64 " not accessible", addr);
		(*count)++;
		flags = rs_le16(e + DESC_FLAGS);
		if (flags & VIRTQ_DESC_F_INDIRECT)
			return vq_guest_error(vq, DIAG_VQ_INDIRECT_NESTED, -EINVAL,
					      "INDIRECT inside an indirect table");
		err = vq_chain_add(vq, c, rs_le64(e + DESC_ADDR), rs_le32(e + DESC_LEN),
				   (flags & VIRTQ_DESC_F_WRITE) != 0);
		if (err)
			return err;
		if (!(flags & VIRTQ_DESC_F_NEXT))
			return 0;
		j = rs_le16(e + DESC_NEXT);
		if (j >= t.n)
			return vq_guest_error(vq, DIAG_VQ_NEXT_RANGE, -EINVAL,
					      "indirect next %" PRIu32 " >= table size %" PRIu32, j,
					      t.n);
	}
}

/* Walk the chain starting at head (< num) into c. Returns 0 or a negative
 * errno (reported; -ENOMEM is a host failure). */
static int split_walk(struct vq *vq, struct vq_chain *c, uint16_t head)
{
	struct desc_table t;
	uint8_t d[VIRTQ_DESC_SIZE];
	uint32_t count = 0; /* buffer descriptors so far, indirect ones included */
	uint32_t i = head;
	uint16_t flags;
	int err;

	desc_table_open(vq->gm, &t, vq->desc, vq->num);
	for (;;) {
		if (count == vq->num)
			return vq_guest_error(vq, DIAG_VQ_LOOP, -ELOOP,
					      "chain longer than %u descriptors", vq->num);
		err = desc_fetch(vq->gm, &t, i, d);
		if (err)
			return ring_fault(vq, "descriptor", t.gpa + (uint64_t)i * VIRTQ_DESC_SIZE,
					  err);
		c->ndesc++;
		flags = rs_le16(d + DESC_FLAGS);
		/* 2.7.5.3.2: zero or more direct descriptors, then at most
		 * one INDIRECT, which ends the main-table part. */
		if (flags & VIRTQ_DESC_F_INDIRECT)
			return split_indirect(vq, c, d, &count);
		count++;
		err = vq_chain_add(vq, c, rs_le64(d + DESC_ADDR), rs_le32(d + DESC_LEN),
				   (flags & VIRTQ_DESC_F_WRITE) != 0);
		if (err)
			return err;
		if (!(flags & VIRTQ_DESC_F_NEXT))
			return 0;
		i = rs_le16(d + DESC_NEXT);
		if (i >= vq->num)
			return vq_guest_error(vq, DIAG_VQ_NEXT_RANGE, -EINVAL,
					      "next %" PRIu32 " >= queue size %u", i, vq->num);
	}
}

int vq_split_pop(struct vq *vq, struct vq_chain *c)
{
	uint16_t idx, head, next_avail;
	uint64_t gpa;
	int err;

	if (vq->last_avail == vq->shadow_avail) {
		gpa = vq->driver + AVAIL_IDX;
		err = ring_load16(vq->gm, gpa, &idx);
		if (err)
			return ring_fault(vq, "avail idx", gpa, err);
		/* 2.7.13: the ring holds num heads, so a driver can be at most
		 * num entries ahead of us; more is a corrupt index. */
		if ((uint16_t)(idx - vq->last_avail) > vq->num)
			return vq_guest_error(vq, DIAG_VQ_AVAIL_JUMP, -EINVAL,
					      "avail idx %u is %u entries past %u (queue size %u)",
					      idx, (uint16_t)(idx - vq->last_avail), vq->last_avail,
					      vq->num);
		if (idx == vq->last_avail)
			return 0;
		/* Acquire: the ring entries and descriptors read below are at
		 * least as new as idx. Pairs with the write barrier the driver
		 * performs before it publishes avail idx (2.7.13.3.1). */
		atomic_thread_fence(memory_order_acquire);
		vq->shadow_avail = idx;
	}

	gpa = vq->driver + AVAIL_RING + 2ull * (vq->last_avail & (vq->num - 1));
	err = ring_load16(vq->gm, gpa, &head);
	if (err)
		return ring_fault(vq, "avail ring entry", gpa, err);
	if (head >= vq->num)
		return vq_guest_error(vq, DIAG_VQ_HEAD_RANGE, -EINVAL,
				      "avail[%u] head %u >= queue size %u", vq->last_avail, head,
				      vq->num);
	if (vq_inflight_test(vq, head))
		return vq_guest_error(vq, DIAG_VQ_BUFFER_ID, -EINVAL,
				      "head %u made available again while in flight", head);
	err = split_walk(vq, c, head);
	if (err)
		return err;

	next_avail = (uint16_t)(vq->last_avail + 1);
	if ((vq->features & VIRTIO_BIT(VIRTIO_F_EVENT_IDX)) && !vq->no_notify) {
		/* 2.7.10: ask to be notified when the driver publishes the
		 * entry after the ones we have consumed. */
		gpa = avail_event_gpa(vq);
		err = ring_store16(vq->gm, gpa, next_avail);
		if (err)
			return ring_fault(vq, "avail_event", gpa, err);
	}
	vq->last_avail = next_avail;
	c->id = head;
	vq_inflight_set(vq, head);
	return 1;
}

/* Write one used element {id, len} at used idx, then advance used idx by n
 * (n > 1: IN_ORDER batch, the skipped entries are not written, 2.7.9). */
static int split_used(struct vq *vq, uint16_t id, uint32_t len, unsigned n)
{
	uint64_t gpa = vq->device + USED_RING +
		       (uint64_t)VIRTQ_USED_ELEM_SIZE * (vq->used_idx & (vq->num - 1));
	uint16_t new_idx = (uint16_t)(vq->used_idx + n);
	uint8_t elem[VIRTQ_USED_ELEM_SIZE];
	uint8_t *p;
	int err;

	rs_st32(elem, id);
	rs_st32(elem + 4, len);
	p = gm_ptr(vq->gm, gpa, sizeof(elem), GM_ACCESS_WRITE);
	if (RS_LIKELY(p != NULL))
		memcpy(p, elem, sizeof(elem));
	else if ((err = gm_write(vq->gm, gpa, elem, sizeof(elem))) != 0)
		return ring_fault(vq, "used ring entry", gpa, err);

	/* Release: the used element and the buffer contents written before it
	 * are visible before the new used idx (2.7.8.2: len before idx). Pairs
	 * with the driver's read barrier between reading used idx and reading
	 * the used ring entry (2.7.14). */
	atomic_thread_fence(memory_order_release);
	gpa = vq->device + USED_IDX;
	err = ring_store16(vq->gm, gpa, new_idx);
	if (err)
		return ring_fault(vq, "used idx", gpa, err);
	vq->used_idx = new_idx;
	return 0;
}

int vq_split_push(struct vq *vq, const struct vq_chain *c, uint32_t len)
{
	return split_used(vq, c->id, len, 1);
}

int vq_split_push_batch(struct vq *vq, const struct vq_chain *last, uint32_t len, unsigned n)
{
	return split_used(vq, last->id, len, n);
}

bool vq_split_should_notify(struct vq *vq)
{
	uint16_t old = vq->signalled_used, new_idx = vq->used_idx, v;
	bool valid = vq->signalled_valid;
	uint64_t gpa;
	int err;

	if (valid && new_idx == old)
		return false; /* nothing completed since the last decision */
	vq->signalled_used = new_idx;
	vq->signalled_valid = true;

	/* Full barrier: our used idx store is visible before we read flags or
	 * used_event. Pairs with the barrier the driver performs between
	 * writing flags / used_event and re-reading used idx (2.7.14), so
	 * either it sees our entries or we see its request. */
	atomic_thread_fence(memory_order_seq_cst);
	if (!(vq->features & VIRTIO_BIT(VIRTIO_F_EVENT_IDX))) {
		/* 2.7.7.2: flags 1 means SHOULD NOT notify, 0 MUST. */
		gpa = vq->driver + AVAIL_FLAGS;
		err = ring_load16(vq->gm, gpa, &v);
		if (err) {
			/* the entries we pushed are published: do not withhold
			 * their interrupt on top of breaking the queue */
			ring_fault(vq, "avail flags", gpa, err);
			return true;
		}
		return !(v & VIRTQ_AVAIL_F_NO_INTERRUPT);
	}
	/* 2.7.7.2: notify when used idx passes used_event (modulo 2^16). */
	gpa = used_event_gpa(vq);
	err = ring_load16(vq->gm, gpa, &v);
	if (err) {
		ring_fault(vq, "used_event", gpa, err);
		return true; /* as above */
	}
	/* First decision since setup: we cannot tell how far used idx moved
	 * (it may have wrapped), so notify; drivers accept spurious ones. */
	if (!valid)
		return true;
	return virtq_need_event(v, new_idx, old);
}

bool vq_split_set_notify(struct vq *vq, bool enable)
{
	uint64_t gpa;
	int err;

	vq->no_notify = !enable;
	if (vq->features & VIRTIO_BIT(VIRTIO_F_EVENT_IDX)) {
		/* 2.7.10.2: flags stay 0; disabling means we stop moving
		 * avail_event, enabling asks for the next entry. */
		if (!enable)
			return false;
		gpa = avail_event_gpa(vq);
		err = ring_store16(vq->gm, gpa, vq->last_avail);
	} else {
		gpa = vq->device + USED_FLAGS;
		err = ring_store16(vq->gm, gpa, enable ? 0 : VIRTQ_USED_F_NO_NOTIFY);
	}
	if (err) {
		ring_fault(vq, "notification suppression field", gpa, err);
		return false;
	}
	if (!enable)
		return false;
	/* Full barrier: the flags / avail_event store is visible before we
	 * re-read avail idx. Pairs with the barrier the driver performs between
	 * publishing avail idx and reading flags / avail_event (2.7.13.4.1):
	 * a chain published meanwhile is seen here or notified there. */
	atomic_thread_fence(memory_order_seq_cst);
	return vq_split_pending(vq);
}

bool vq_split_pending(struct vq *vq)
{
	uint64_t gpa = vq->driver + AVAIL_IDX;
	uint16_t idx;
	int err;

	if (vq->shadow_avail != vq->last_avail)
		return true;
	err = ring_load16(vq->gm, gpa, &idx);
	if (err) {
		ring_fault(vq, "avail idx", gpa, err);
		return false;
	}
	return idx != vq->last_avail;
}

int vq_split_check_setup(struct vq *vq)
{
	/* 2.7: alignment and size of each part. */
	const struct {
		const char *name;
		uint64_t gpa, align, size;
	} part[3] = {
		{ "descriptor table", vq->desc, 16, (uint64_t)VIRTQ_DESC_SIZE * vq->num },
		{ "available ring", vq->driver, 2, virtq_avail_size(vq->num) },
		{ "used ring", vq->device, 4, virtq_used_size(vq->num) },
	};
	unsigned i;

	for (i = 0; i < RS_ARRAY_SIZE(part); i++) {
		if (part[i].gpa & (part[i].align - 1)) {
			diag_report(vq->log, DIAG_VQ_RING_ADDR,
				    "q%u: %s at 0x%" PRIx64 " not %" PRIu64 "-byte aligned",
				    vq->qidx, part[i].name, part[i].gpa, part[i].align);
			return -EINVAL;
		}
		if (!gm_range_ok(vq->gm, part[i].gpa, part[i].size)) {
			diag_report(vq->log, DIAG_VQ_RING_ADDR,
				    "q%u: %s 0x%" PRIx64 "+%" PRIu64 " is not guest RAM", vq->qidx,
				    part[i].name, part[i].gpa, part[i].size);
			return -EINVAL;
		}
	}
	return 0;
}
