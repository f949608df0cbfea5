/*
 * ringside — packed virtqueue, device side (virtio-v1.2 2.8).
 *
 * One descriptor ring of 16-byte descriptors {le64 addr, le32 len, le16 id,
 * le16 flags} that both sides write, plus two event suppression structures
 * {le16 off_wrap, le16 flags}: the driver's at vq->driver (read here) and
 * ours at vq->device (written here). Availability is told by the AVAIL and
 * USED flag bits against single-bit wrap counters that start at 1 and flip
 * each time a side passes the end of the ring (2.8.1).
 *
 * Rules enforced by vq_packed_pop(), each a guest error that breaks the
 * queue (vq_guest_error):
 *  - a chain is at most num descriptors (2.8.17; DIAG_VQ_LOOP);
 *  - every descriptor of a NEXT chain is available (the driver makes the
 *    first one available last, 2.8.17). A later descriptor that is not is a
 *    broken chain, not "not yet": the head's flags are published after the
 *    rest, so a well-behaved driver can never show us a half chain
 *    (DIAG_VQ_NEXT_RANGE: NEXT points past what was made available);
 *  - INDIRECT needs VIRTIO_F_INDIRECT_DESC, never goes with NEXT and never
 *    sits in a NEXT list (2.8.19); the table is a non-zero multiple of 16
 *    bytes of at most num entries (our limit: the queue size, as for
 *    a direct list, 2.8.5), wholly in RAM; its entries are read in
 *    sequence, only WRITE is honoured (NEXT, id and the ring flags are
 *    reserved there and ignored, 2.8.7), and INDIRECT inside is rejected;
 *  - the buffer id, taken from the last descriptor of the list (2.8.6), is
 *    below num and not in flight (DIAG_VQ_BUFFER_ID);
 *  - buffers in RAM, readable before writable, sums within 32 bits
 *    (vq_chain_add).
 * Ring memory that the arena refuses after setup (a source failure) is a
 * guest error too (DIAG_VQ_RING_ADDR, -EFAULT).
 *
 * Positions: a ring slot plus a wrap counter is mapped onto one cyclic
 * counter modulo 2 * num (slot, or slot + num while the counter is 0), so
 * "has the used position passed the driver's event position" is a plain
 * modular interval test like vring_need_event, wrap bit included.
 *
 * Notification decisions (2.8.10): the driver's DISABLE suppresses, ENABLE
 * interrupts; DESC (with EVENT_IDX) interrupts when a used descriptor was
 * written at (off, wrap) or the batch since the last decision skipped over
 * it. Anything the spec leaves undefined — DESC without EVENT_IDX, the
 * reserved value 3, an offset >= num, no earlier decision to measure from —
 * interrupts: a spurious interrupt is harmless, a missing one hangs the
 * driver. vq_packed_set_notify(true) writes ENABLE, or DESC naming
 * (next_avail, avail_wrap) with EVENT_IDX, and reports chains already made
 * available.
 */
#include <inttypes.h>
#include <stdatomic.h>

#include "vq_priv.h"

/* struct pvirtq_desc, virtio-v1.2 2.8.13 */
#define PDESC_SIZE 16u
#define PDESC_ADDR 0u
#define PDESC_LEN 8u
#define PDESC_ID 12u
#define PDESC_FLAGS 14u

/* struct pvirtq_event_suppress, virtio-v1.2 2.8.14 */
#define PEVENT_SIZE 4u
#define PEVENT_OFF_WRAP 0u
#define PEVENT_FLAGS 2u
#define PEVENT_FLAGS_MASK 3u
#define PEVENT_OFF_MASK 0x7fffu

/* Guest address of ring slot idx (idx < num, so no overflow: checked at setup). */
static uint64_t pdesc_gpa(const struct vq *vq, uint16_t idx)
{
	return vq->desc + (uint64_t)idx * PDESC_SIZE;
}

/* True when flags mark a descriptor available for a driver whose wrap counter
 * is wrap: AVAIL equals it and USED does not (2.8.1). */
static bool pdesc_avail(uint16_t flags, bool wrap)
{
	bool avail = (flags & VIRTQ_DESC_F_AVAIL) != 0;
	bool used = (flags & VIRTQ_DESC_F_USED) != 0;

	return avail == wrap && used != wrap;
}

/* Move (*idx, *wrap) forward by n slots, flipping the wrap counter each time
 * the end of the ring is passed (2.8.1). num > 0 (setup checked it). */
static void ring_advance(uint16_t num, uint16_t *idx, bool *wrap, uint64_t n)
{
	uint64_t pos = (uint64_t)*idx + n;

	*idx = (uint16_t)(pos % num);
	if ((pos / num) & 1)
		*wrap = !*wrap;
}

/* Cyclic position (0 .. 2*num-1) of slot idx in the lap with wrap counter wrap. */
static uint32_t ring_pos(const struct vq *vq, uint16_t idx, bool wrap)
{
	return (uint32_t)idx + (wrap ? 0u : vq->num);
}

/* (a - b) modulo 2*num, for positions a, b < 2*num. */
static uint32_t pos_dist(const struct vq *vq, uint32_t a, uint32_t b)
{
	uint32_t period = 2u * vq->num;

	return (a + period - b) % period;
}

/* Report that ring memory at gpa could not be accessed; breaks the queue. */
static int ring_fault(struct vq *vq, const char *what, uint64_t gpa)
{
	return vq_guest_error(vq, DIAG_VQ_RING_ADDR, -EFAULT,
			      "packed ring (2.8.10.1): %s at 0x%" PRIx64 " not accessible",
			      what, gpa);
}

/*
 * Read the flags of slot idx into *flags. Returns 0, or -EFAULT after
 * breaking the queue.
 */
static int read_flags(struct vq *vq, uint16_t idx, uint16_t *flags)
{
	uint64_t gpa = pdesc_gpa(vq, idx) + PDESC_FLAGS;

	if (gm_read16(vq->gm, gpa, flags) < 0)
		return ring_fault(vq, "descriptor flags", gpa);
	return 0;
}

/*
 * Expand the indirect table [table, table + len) into c (2.8.7). Returns 0
 * or a negative errno (reported, queue broken; -ENOMEM from vq_chain_add is
 * a host failure).
 */
static int pop_indirect(struct vq *vq, struct vq_chain *c, uint64_t table, uint32_t len)
{
	uint32_t n = len / PDESC_SIZE;
	uint8_t raw[PDESC_SIZE];
	int err;

	if (len == 0 || len % PDESC_SIZE != 0 || n > vq->num)
		return vq_guest_error(vq, DIAG_VQ_INDIRECT_LEN, -EINVAL,
				      "packed indirect table (2.8.7) len %" PRIu32
				      " not a non-zero multiple of 16 of at most %u entries",
				      len, (unsigned)vq->num);
	if (!gm_range_ok(vq->gm, table, len))
		return vq_guest_error(vq, DIAG_VQ_DESC_ADDR, -EINVAL,
				      "packed indirect table (2.8.7) 0x%" PRIx64 "+%" PRIu32
				      " not in guest RAM", table, len);

	/* n <= num: the loop is bounded by the queue size. */
	for (uint32_t i = 0; i < n; i++) {
		uint64_t gpa = table + (uint64_t)i * PDESC_SIZE;
		uint16_t flags;

		if (gm_read(vq->gm, gpa, raw, sizeof(raw)) < 0)
			return ring_fault(vq, "indirect descriptor", gpa);
		flags = rs_le16(raw + PDESC_FLAGS);
		if (flags & VIRTQ_DESC_F_INDIRECT)
			return vq_guest_error(vq, DIAG_VQ_INDIRECT_NESTED, -EINVAL,
					      "packed indirect table 0x%" PRIx64
					      " entry %" PRIu32 " is itself indirect (2.8.19)",
					      table, i);
		/* Only WRITE is valid in a table entry; NEXT, AVAIL/USED and the
		 * id are reserved and ignored (2.8.7). */
		err = vq_chain_add(vq, c, rs_le64(raw + PDESC_ADDR), rs_le32(raw + PDESC_LEN),
				   (flags & VIRTQ_DESC_F_WRITE) != 0);
		if (err < 0)
			return err;
	}
	return 0;
}

/*
 * Walk the list starting at next_avail (already seen available, its flags in
 * head_flags) into c. On success stores the buffer id in *id and the slots
 * consumed in *nslots. Returns 0 or a negative errno (reported).
 */
static int pop_list(struct vq *vq, struct vq_chain *c, uint16_t head_flags, uint16_t *id,
		    uint16_t *nslots)
{
	uint16_t idx = vq->next_avail;
	bool wrap = vq->avail_wrap;
	uint16_t flags = head_flags;
	uint8_t raw[PDESC_SIZE];
	int err;

	/* n counts the descriptors taken so far: at most num (2.8.17). */
	for (uint32_t n = 0;; n++) {
		uint64_t gpa = pdesc_gpa(vq, idx);
		uint64_t addr;
		uint32_t len;

		if (n == vq->num)
			return vq_guest_error(vq, DIAG_VQ_LOOP, -ELOOP,
					      "packed descriptor list at slot %u longer than "
					      "the queue size %u (2.8.17)",
					      (unsigned)vq->next_avail, (unsigned)vq->num);
		if (n == 0) {
			/* The head's flags were read before the acquire fence;
			 * read the rest of it now. */
			if (gm_read(vq->gm, gpa, raw, PDESC_FLAGS) < 0)
				return ring_fault(vq, "descriptor", gpa);
		} else {
			/* Written before the head's flags were published: the
			 * acquire fence in vq_packed_pop covers these too. */
			if (gm_read(vq->gm, gpa, raw, PDESC_SIZE) < 0)
				return ring_fault(vq, "descriptor", gpa);
			flags = rs_le16(raw + PDESC_FLAGS);
			if (!pdesc_avail(flags, wrap))
				return vq_guest_error(vq, DIAG_VQ_NEXT_RANGE, -EINVAL,
						      "packed list from slot %u: NEXT into "
						      "slot %u, which is not available (2.8.17)",
						      (unsigned)vq->next_avail, (unsigned)idx);
		}
		addr = rs_le64(raw + PDESC_ADDR);
		len = rs_le32(raw + PDESC_LEN);
		*id = rs_le16(raw + PDESC_ID);

		if (flags & VIRTQ_DESC_F_INDIRECT) {
			if (!(vq->features & VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC)))
				return vq_guest_error(vq, DIAG_VQ_INDIRECT_FEATURE, -EINVAL,
						      "packed slot %u: INDIRECT without "
						      "VIRTIO_F_INDIRECT_DESC (2.8.19)",
						      (unsigned)idx);
			if ((flags & VIRTQ_DESC_F_NEXT) || n > 0)
				return vq_guest_error(vq, DIAG_VQ_INDIRECT_NEXT, -EINVAL,
						      "packed slot %u: INDIRECT inside a NEXT "
						      "list (2.8.19)",
						      (unsigned)idx);
			/* WRITE is reserved on the indirect descriptor itself (2.8.7). */
			err = pop_indirect(vq, c, addr, len);
		} else {
			err = vq_chain_add(vq, c, addr, len, (flags & VIRTQ_DESC_F_WRITE) != 0);
		}
		if (err < 0)
			return err;

		ring_advance(vq->num, &idx, &wrap, 1);
		if (!(flags & VIRTQ_DESC_F_NEXT)) {
			*nslots = (uint16_t)(n + 1);
			return 0;
		}
	}
}

int vq_packed_pop(struct vq *vq, struct vq_chain *c)
{
	uint16_t head_flags, id = 0, nslots = 0;
	int err;

	vq_chain_clear(c);
	err = read_flags(vq, vq->next_avail, &head_flags);
	if (err < 0)
		return err;
	if (!pdesc_avail(head_flags, vq->avail_wrap))
		return 0;
	/* Pairs with the driver's write barrier before it stores the first
	 * descriptor's flags (2.8.21.1.1): the list it wrote before is visible. */
	atomic_thread_fence(memory_order_acquire);

	err = pop_list(vq, c, head_flags, &id, &nslots);
	if (err == 0 && id >= vq->num)
		err = vq_guest_error(vq, DIAG_VQ_BUFFER_ID, -EINVAL,
				     "packed slot %u: buffer id %u out of range "
				     "(queue size %u, 2.8.6)",
				     (unsigned)vq->next_avail, (unsigned)id, (unsigned)vq->num);
	else if (err == 0 && vq_inflight_test(vq, id))
		err = vq_guest_error(vq, DIAG_VQ_BUFFER_ID, -EINVAL,
				     "packed slot %u: buffer id %u already in flight",
				     (unsigned)vq->next_avail, (unsigned)id);
	if (err < 0) {
		vq_chain_release(c); /* frees any heap segments and empties c */
		return err;
	}

	vq_inflight_set(vq, id);
	c->id = id;
	c->ndesc = nslots;
	ring_advance(vq->num, &vq->next_avail, &vq->avail_wrap, nslots);
	return 1;
}

/*
 * Write one used descriptor for buffer id with len bytes written at
 * next_used, then skip nslots slots. Returns 0 or -EFAULT (queue broken).
 */
static int push_used(struct vq *vq, uint16_t id, uint32_t len, uint64_t nslots)
{
	uint64_t gpa = pdesc_gpa(vq, vq->next_used);
	uint8_t raw[PDESC_FLAGS - PDESC_LEN];
	uint16_t flags = 0;

	/* addr is unused in a used descriptor (2.8.4): left as the driver wrote it. */
	rs_st32(raw, len);
	rs_st16(raw + (PDESC_ID - PDESC_LEN), id);
	if (gm_write(vq->gm, gpa + PDESC_LEN, raw, sizeof(raw)) < 0)
		return ring_fault(vq, "used descriptor", gpa);

	/* AVAIL and USED both equal to our wrap counter mark it used (2.8.1);
	 * WRITE tells the driver that len bytes were written (2.8.3). */
	if (vq->used_wrap)
		flags |= VIRTQ_DESC_F_AVAIL | VIRTQ_DESC_F_USED;
	if (len)
		flags |= VIRTQ_DESC_F_WRITE;
	/* Pairs with the driver's read barrier after it sees the used flags
	 * (2.8.22): id and len are visible before the flags publish them. */
	atomic_thread_fence(memory_order_release);
	if (gm_write16(vq->gm, gpa + PDESC_FLAGS, flags) < 0)
		return ring_fault(vq, "used descriptor flags", gpa + PDESC_FLAGS);

	ring_advance(vq->num, &vq->next_used, &vq->used_wrap, nslots);
	return 0;
}

int vq_packed_push(struct vq *vq, const struct vq_chain *c, uint32_t len)
{
	/* One used descriptor for the whole list, then skip its slots (2.8.6). */
	return push_used(vq, c->id, len, c->ndesc);
}

int vq_packed_push_batch(struct vq *vq, const struct vq_chain *last, uint32_t len,
			 unsigned total_ndesc)
{
	/* IN_ORDER: one used descriptor with the last buffer's id, skipping the
	 * slots of the whole batch (2.8.8). */
	return push_used(vq, last->id, len, total_ndesc);
}

bool vq_packed_should_notify(struct vq *vq)
{
	uint32_t now = ring_pos(vq, vq->next_used, vq->used_wrap);
	uint32_t old = vq->signalled_used;
	bool valid = vq->signalled_valid;
	uint8_t raw[PEVENT_SIZE];
	uint16_t off_wrap, off;

	/* Our used descriptor stores before the load of the driver's event
	 * structure; pairs with the driver's full barrier between enabling
	 * events and re-checking the next used descriptor (2.8.22). */
	atomic_thread_fence(memory_order_seq_cst);
	if (gm_read(vq->gm, vq->driver, raw, sizeof(raw)) < 0) {
		ring_fault(vq, "driver event suppression", vq->driver);
		return true; /* never withhold an interrupt on our account */
	}
	vq->signalled_used = (uint16_t)now;
	vq->signalled_valid = true;

	switch (rs_le16(raw + PEVENT_FLAGS) & PEVENT_FLAGS_MASK) {
	case VIRTQ_EVENT_F_DISABLE:
		return false;
	case VIRTQ_EVENT_F_DESC:
		/* Only valid with EVENT_IDX (2.8.10); without it, and for the
		 * reserved value 3, we fall back to ENABLE: a spurious interrupt
		 * is harmless, a missing one hangs the driver. */
		if (!(vq->features & VIRTIO_BIT(VIRTIO_F_EVENT_IDX)))
			return true;
		if (!valid)
			return true; /* no earlier decision to measure from */
		off_wrap = rs_le16(raw + PEVENT_OFF_WRAP);
		off = off_wrap & PEVENT_OFF_MASK;
		if (off >= vq->num)
			return true; /* names no slot: treat as ENABLE */
		/* Interrupt when the slot named by (off, wrap) was used since the
		 * last decision: event in [old, now) on the 2*num cycle. */
		return pos_dist(vq, ring_pos(vq, off, off_wrap >> VIRTQ_EVENT_WRAP_SHIFT), old) <
		       pos_dist(vq, now, old);
	default:
		return true;
	}
}

bool vq_packed_set_notify(struct vq *vq, bool enable)
{
	uint16_t flags = enable ? VIRTQ_EVENT_F_ENABLE : VIRTQ_EVENT_F_DISABLE;
	uint8_t raw[PEVENT_SIZE];

	/* With EVENT_IDX, ask for a notification exactly when the driver makes
	 * the descriptor at next_avail available (2.8.10); off_wrap is written
	 * in every mode, the driver consults it only with DESC. */
	if (enable && (vq->features & VIRTIO_BIT(VIRTIO_F_EVENT_IDX)))
		flags = VIRTQ_EVENT_F_DESC;
	rs_st16(raw + PEVENT_OFF_WRAP,
		(uint16_t)(vq->next_avail |
			   (vq->avail_wrap ? 1u << VIRTQ_EVENT_WRAP_SHIFT : 0u)));
	rs_st16(raw + PEVENT_FLAGS, flags);
	if (gm_write(vq->gm, vq->device, raw, sizeof(raw)) < 0) {
		ring_fault(vq, "device event suppression", vq->device);
		return false;
	}
	if (!enable)
		return false;
	/* Our event structure store before the re-check of the next descriptor;
	 * pairs with the driver's barrier between making descriptors available
	 * and reading the device event suppression structure (2.8.21.3.1). A
	 * descriptor made available before the driver could see ENABLE/DESC
	 * may never be notified: report it so the caller processes it. */
	atomic_thread_fence(memory_order_seq_cst);
	return vq_packed_pending(vq);
}

bool vq_packed_pending(struct vq *vq)
{
	uint16_t flags;

	if (read_flags(vq, vq->next_avail, &flags) < 0)
		return false;
	return pdesc_avail(flags, vq->avail_wrap);
}

int vq_packed_check_setup(struct vq *vq)
{
	uint64_t ring_len = (uint64_t)vq->num * PDESC_SIZE;

	if (vq->num == 0 || vq->num > VIRTQ_MAX_SIZE) {
		diag_report(vq->log, DIAG_VQ_SIZE, "packed queue size %u not in 1..%u",
			    (unsigned)vq->num, (unsigned)VIRTQ_MAX_SIZE);
		return -EINVAL;
	}
	/* Alignment and size per part: ring 16 / 16*num, event areas 4 / 4
	 * (2.8.10.1), each wholly inside one RAM region. */
	if ((vq->desc & (PDESC_SIZE - 1)) || !gm_range_ok(vq->gm, vq->desc, ring_len)) {
		diag_report(vq->log, DIAG_VQ_RING_ADDR,
			    "packed descriptor ring 0x%" PRIx64 "+%" PRIu64
			    " misaligned or not in RAM", vq->desc, ring_len);
		return -EINVAL;
	}
	if ((vq->driver & (PEVENT_SIZE - 1)) || !gm_range_ok(vq->gm, vq->driver, PEVENT_SIZE)) {
		diag_report(vq->log, DIAG_VQ_RING_ADDR,
			    "packed driver event area 0x%" PRIx64 " misaligned or not in RAM",
			    vq->driver);
		return -EINVAL;
	}
	if ((vq->device & (PEVENT_SIZE - 1)) || !gm_range_ok(vq->gm, vq->device, PEVENT_SIZE)) {
		diag_report(vq->log, DIAG_VQ_RING_ADDR,
			    "packed device event area 0x%" PRIx64 " misaligned or not in RAM",
			    vq->device);
		return -EINVAL;
	}

	/* Both wrap counters start at 1 (2.8.1). */
	vq->next_avail = 0;
	vq->avail_wrap = true;
	vq->next_used = 0;
	vq->used_wrap = true;
	vq->signalled_used = 0;
	vq->signalled_valid = false;
	return 0;
}
