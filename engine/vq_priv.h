/*
 * ringside — virtqueue engine internals shared by vq.c (common code, chain
 * building, cursor), vq_split.c and vq_packed.c.
 */
#ifndef RINGSIDE_VQ_PRIV_H
#define RINGSIDE_VQ_PRIV_H

#include <errno.h>

#include "ringside/vq.h"

/*
 * Report a guest error on vq: diagnostic `code` with the formatted message,
 * mark the queue broken, count it, call vq->on_error. Returns err (a negative
 * errno) so callers can `return vq_guest_error(...)`.
 */
int vq_guest_error(struct vq *vq, enum diag_code code, int err, const char *fmt, ...)
	RS_PRINTF(4, 5);

/* Empty a chain struct for filling (keeps no heap). */
void vq_chain_clear(struct vq_chain *c);

/*
 * Append one descriptor's buffer to c. Checks (reporting through
 * vq_guest_error): buffer wholly inside guest RAM (DIAG_VQ_DESC_ADDR; a
 * zero-length buffer needs only a valid start), readable after writable
 * (DIAG_VQ_WRITE_ORDER), read/write sums fit 32 bits (DIAG_VQ_LEN_OVERFLOW).
 * Grows the heap segment array when the inline one is full (bounded by the
 * caller's descriptor limit). Returns 0 or a negative errno (-ENOMEM is a
 * host failure: reported as DIAG_DEVICE_ERROR-free, queue not broken).
 */
int vq_chain_add(struct vq *vq, struct vq_chain *c, uint64_t gpa, uint32_t len, bool write);

/* In-flight buffer ids (bit per id < vq->num). */
static inline uint64_t *vq_inflight_words(struct vq *vq)
{
	return vq->inflight_bits ? vq->inflight_bits : vq->inflight_small;
}

static inline bool vq_inflight_test(const struct vq *vq, uint16_t id)
{
	return (vq_inflight_word(vq, id >> 6) >> (id & 63)) & 1;
}

static inline void vq_inflight_set(struct vq *vq, uint16_t id)
{
	vq_inflight_words(vq)[id >> 6] |= 1ull << (id & 63);
}

static inline void vq_inflight_clear(struct vq *vq, uint16_t id)
{
	vq_inflight_words(vq)[id >> 6] &= ~(1ull << (id & 63));
}

/* Layout-specific halves; vq.c checks ready/broken before calling them and
 * keeps the stats. A layout pop rejects a buffer id already in flight
 * (DIAG_VQ_BUFFER_ID) and marks the id it returns in flight; vq.c counts
 * vq->inflight and clears the mark when the chain is pushed (layout push and
 * push_batch only write the ring). */
int vq_split_pop(struct vq *vq, struct vq_chain *c);
int vq_split_push(struct vq *vq, const struct vq_chain *c, uint32_t len);
/* IN_ORDER batch: one used entry for the last chain, used idx += n. */
int vq_split_push_batch(struct vq *vq, const struct vq_chain *last, uint32_t len, unsigned n);
bool vq_split_should_notify(struct vq *vq);
bool vq_split_set_notify(struct vq *vq, bool enable);
bool vq_split_pending(struct vq *vq);
int vq_split_check_setup(struct vq *vq);   /* alignment / RAM checks, reports */

int vq_packed_pop(struct vq *vq, struct vq_chain *c);
int vq_packed_push(struct vq *vq, const struct vq_chain *c, uint32_t len);
/* IN_ORDER batch: one used descriptor (id of the last chain) skipping the
 * slots of all n chains. total_ndesc: ring slots the n chains occupy. */
int vq_packed_push_batch(struct vq *vq, const struct vq_chain *last, uint32_t len,
			 unsigned total_ndesc);
bool vq_packed_should_notify(struct vq *vq);
bool vq_packed_set_notify(struct vq *vq, bool enable);
bool vq_packed_pending(struct vq *vq);
int vq_packed_check_setup(struct vq *vq);

#endif
