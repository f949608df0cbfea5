/*
 * ringside — virtqueue engine (device side).
 *
 * One engine for the split ring (legacy contiguous layout and 1.x separate
 * areas; virtio-v1.2 2.7) and the packed ring (2.8). All ring and buffer
 * memory is reached through the guest-memory arena, so the same code runs
 * over plain, replayed and fuzz-fed memory.
 *
 * The guest is hostile. vq_pop() yields one validated chain or an error;
 * every rule it checks is listed at vq_pop(). A guest error reports a
 * diagnostic, marks the queue broken (it pops nothing more until
 * vq_reset/vq_setup) and calls the on_error hook, through which the device
 * core sets DEVICE_NEEDS_RESET. Nothing here aborts; every loop is bounded
 * by the queue size.
 */
#ifndef RINGSIDE_VQ_H
#define RINGSIDE_VQ_H

#include "ringside/base.h"
#include "ringside/diag.h"
#include "ringside/gm.h"
#include "ringside/virtio.h"

enum vq_layout {
	VQ_SPLIT = 0,
	VQ_PACKED = 1,
};

/* One flattened buffer segment of a chain (indirect tables expanded). */
struct vq_seg {
	uint64_t gpa;
	uint32_t len;
	uint32_t write; /* 1: device-writable, 0: device-readable */
};

#define VQ_CHAIN_INLINE 16
#define VQ_INFLIGHT_SMALL 256 /* in-flight bitmap kept in struct vq up to this size */

/*
 * A popped chain. Segments are inline for short chains and on the heap for
 * longer ones; always reach them through vq_chain_segs(). A chain owns its
 * heap segments until vq_push() or vq_chain_release().
 * The struct may be copied (no self pointers) but only one copy released.
 */
struct vq_chain {
	uint16_t id;        /* split: head descriptor index; packed: buffer id */
	uint16_t ndesc;     /* ring slots the chain occupies (packed), 1+ (split) */
	uint32_t nsegs;     /* total segments */
	uint32_t nread;     /* segs [0, nread) are readable, [nread, nsegs) writable */
	uint32_t read_len;  /* sum of readable lengths */
	uint32_t write_len; /* sum of writable lengths */
	struct vq_seg *heap;                   /* non-NULL when nsegs > VQ_CHAIN_INLINE */
	struct vq_seg inl[VQ_CHAIN_INLINE];
};

static inline struct vq_seg *vq_chain_segs(struct vq_chain *c)
{
	return c->heap ? c->heap : c->inl;
}

static inline const struct vq_seg *vq_chain_csegs(const struct vq_chain *c)
{
	return c->heap ? c->heap : c->inl;
}

/* Where and how a queue lives; filled by the transport at enable time. */
struct vq_config {
	enum vq_layout layout;
	uint16_t num;       /* queue size: split 1..32768 power of 2; packed 1..32768 */
	uint64_t desc;      /* descriptor table / packed descriptor ring */
	uint64_t driver;    /* split: avail ring; packed: driver event suppression */
	uint64_t device;    /* split: used ring; packed: device event suppression */
	uint64_t features;  /* negotiated features (INDIRECT_DESC, EVENT_IDX, IN_ORDER...) */
};

typedef void (*vq_error_fn)(void *ctx, unsigned qidx, enum diag_code code);

struct vq;

/*
 * Observer of the chains a queue hands out and takes back, for checkers (the
 * fuzz oracles keep a per-queue view of the chains in flight with it). Every
 * hook is optional; none may call back into the queue.
 *   popped   c left vq_pop and is now in flight
 *   retired  c leaves the in-flight set. used: the engine is about to write
 *            the used entry that completes it, with len (already clamped to
 *            c->write_len); in an IN_ORDER batch every chain the one entry
 *            completes is reported, the skipped ones with their write_len.
 *            !used: the queue broke and c is dropped without a used entry
 *            (len 0)
 *   reset    the queue forgot its configuration and every chain in flight
 *            (vq_setup, vq_reset)
 */
struct vq_observer {
	void (*popped)(void *ctx, const struct vq *vq, const struct vq_chain *c);
	void (*retired)(void *ctx, const struct vq *vq, const struct vq_chain *c, uint32_t len,
			bool used);
	void (*reset)(void *ctx, const struct vq *vq);
};

struct vq_stats {
	uint64_t popped;      /* chains popped */
	uint64_t pushed;      /* chains completed */
	uint64_t notified;    /* vq_should_notify() said yes */
	uint64_t suppressed;  /* vq_should_notify() said no */
	uint64_t errors;      /* guest errors that broke the queue */
};

struct vq {
	/* setup (vq_config copied) */
	enum vq_layout layout;
	uint16_t num;
	uint64_t desc, driver, device;
	uint64_t features;
	unsigned qidx;           /* queue index, for diagnostics */
	bool ready;              /* set up and usable */
	bool broken;             /* a guest error stopped it */
	struct gm *gm;
	struct diag_log *log;
	vq_error_fn on_error;
	void *err_ctx;
	const struct vq_observer *obs; /* optional (vq_set_observer) */
	void *obs_ctx;
	/* split state */
	uint16_t last_avail;     /* next avail->ring entry to consume (free-running) */
	uint16_t used_idx;       /* our copy of used->idx (free-running) */
	uint16_t signalled_used; /* used idx when the driver was last notified */
	bool signalled_valid;    /* signalled_used is meaningful */
	uint16_t shadow_avail;   /* avail->idx as last read (and checked); ring entries
				  * [last_avail, shadow_avail) are known published */
	bool no_notify;          /* vq_set_notify(false) in effect (split) */
	/* packed state */
	uint16_t next_avail;     /* next ring slot to look at */
	bool avail_wrap;         /* driver's wrap counter expected at next_avail */
	uint16_t next_used;      /* next ring slot to write a used descriptor */
	bool used_wrap;          /* device's used wrap counter */
	/* in-flight buffer ids (split heads or packed ids): num bits, in
	 * inflight_small for queues of up to VQ_INFLIGHT_SMALL ids (no
	 * allocation per setup), else in inflight_bits (heap) */
	uint64_t inflight_small[VQ_INFLIGHT_SMALL / 64];
	uint64_t *inflight_bits;
	uint32_t inflight;       /* chains popped and not yet pushed */
	struct vq_stats stats;
};

/* Word w (< (num + 63) / 64) of the in-flight bitmap of a set-up queue. */
static inline uint64_t vq_inflight_word(const struct vq *vq, unsigned w)
{
	return vq->inflight_bits ? vq->inflight_bits[w] : vq->inflight_small[w];
}

/* Zero a queue and attach it to an arena and a diag log. on_error (may be
 * NULL) is called after every guest error that breaks the queue. */
void vq_init(struct vq *vq, struct gm *gm, struct diag_log *log, unsigned qidx,
	     vq_error_fn on_error, void *err_ctx);

/* Install an observer (obs NULL removes it). It stays across vq_setup and
 * vq_reset, like the arena, log and error hook. */
void vq_set_observer(struct vq *vq, const struct vq_observer *obs, void *ctx);

/*
 * Validate a configuration and make the queue ready.
 * Checks: num in range (power of two for split), areas aligned (split: desc
 * 16, avail 2, used 4; packed: desc 16, event areas 4) and wholly inside
 * guest RAM. Returns 0; -EINVAL on a bad config (reported as DIAG_VQ_SIZE or
 * DIAG_VQ_RING_ADDR, queue stays not ready); -ENOMEM.
 */
int vq_setup(struct vq *vq, const struct vq_config *cfg);

/* Forget the configuration and all state; frees the in-flight bitmap. The
 * queue keeps its arena, log, error hook and observer. */
void vq_reset(struct vq *vq);

/* Compute split legacy-layout addresses from a ring base and alignment. */
void vq_legacy_layout(struct vq_config *cfg, uint64_t base, uint16_t num, uint64_t align);

/*
 * Pop the next available chain into *c.
 * Returns 1 with a chain, 0 when nothing is available, or a negative errno
 * on a guest error (queue broken, on_error called, *c empty):
 *   -EIO    queue not ready or already broken (DIAG_VQ_BROKEN, not re-reported)
 *   -EINVAL avail idx moved by more than num (DIAG_VQ_AVAIL_JUMP)
 *           head >= num (DIAG_VQ_HEAD_RANGE), next >= num (DIAG_VQ_NEXT_RANGE)
 *           INDIRECT without the feature, with NEXT, nested, or a table whose
 *           len is 0, not a multiple of 16, or above num entries
 *           readable segment after a writable one (DIAG_VQ_WRITE_ORDER)
 *           buffer outside RAM (DIAG_VQ_DESC_ADDR), id in flight (DIAG_VQ_BUFFER_ID)
 *   -ELOOP  more descriptors than the queue size, indirect ones included
 *           (split: the INDIRECT descriptor that points at a table is not
 *           counted, its entries are)
 *   -EOVERFLOW readable or writable length sum above 2^32-1
 *   -EFAULT ring memory unreadable
 *   -ENOMEM no memory for a long chain's segments (host error, not broken)
 * Uses an acquire fence after reading the avail index (pairs with the
 * driver's write barrier before publishing it).
 */
int vq_pop(struct vq *vq, struct vq_chain *c);

/*
 * Complete a chain: write the used element (split) or used descriptor
 * (packed) with len bytes written, publish it (release fence before the
 * used idx / flags store, pairs with the driver's read barrier), and release
 * the chain. len above c->write_len is a device bug: reported as
 * DIAG_VQ_USED_LEN and clamped. Returns 0; -EINVAL if the chain is not in
 * flight (DIAG_VQ_PUSH_INVALID); -EIO if the queue is broken or not ready;
 * -EFAULT if the ring cannot be written (a guest error: queue broken).
 * A chain that was in flight is released whatever the result (so a device
 * may push everything it holds after the queue broke); one that was not is
 * left alone (it may be a stale copy).
 */
int vq_push(struct vq *vq, struct vq_chain *c, uint32_t len);

/*
 * Complete n chains popped in order. With VIRTIO_F_IN_ORDER negotiated and
 * n > 1, writes a single used entry/descriptor for the batch (virtio-v1.2
 * 2.7.9 / 2.8.8): the driver takes the skipped chains as wholly used, so a
 * chain whose len is below its write_len closes a sub-batch (it gets its own
 * entry with its len). Otherwise the same as n vq_push calls. Returns as
 * vq_push (stops at the first failure; the chains before it are completed).
 */
int vq_push_n(struct vq *vq, struct vq_chain *chains, const uint32_t *lens, unsigned n);

/* Release a chain's heap segments without completing it (e.g. on reset). */
void vq_chain_release(struct vq_chain *c);

/*
 * After one or more pushes: must the driver be interrupted? Honours
 * VIRTQ_AVAIL_F_NO_INTERRUPT, EVENT_IDX used_event (with 2^16 wrap) and the
 * packed driver event suppression structure. Call once per batch; it
 * remembers the used index it decided at. Split: no when nothing was
 * completed since the last decision; with EVENT_IDX the first decision
 * after setup is yes (how far used idx moved before it is unknown; drivers
 * accept spurious interrupts, virtio-v1.2 2.7.7.1). Ring memory that cannot
 * be read breaks the queue and the answer is yes.
 */
bool vq_should_notify(struct vq *vq);

/*
 * Ask the driver to stop (enable=false) or resume (true) notifying us:
 * split VIRTQ_USED_F_NO_NOTIFY or avail_event with EVENT_IDX; packed device
 * event suppression structure. Returns true when, after enabling, chains are
 * already pending (the caller must then process them: the driver may not
 * notify for those). Split with EVENT_IDX: enabling writes avail_event =
 * last_avail and every pop then moves it along; disabling stops moving it
 * (flags stay 0, virtio-v1.2 2.7.10.2). Notifications start enabled.
 */
bool vq_set_notify(struct vq *vq, bool enable);

/* True when the driver has made a chain available that was not popped yet. */
bool vq_pending(struct vq *vq);

/*
 * Chain cursor: reads the readable part or writes the writable part of a
 * chain as one byte stream across segments (like Plan 9 vmx's
 * vioqread/vioqwrite). Short counts mean the part is exhausted or the
 * arena refused (error then holds -EFAULT).
 */
struct vq_cursor {
	struct gm *gm;
	const struct vq_chain *c;
	uint32_t seg;      /* current segment index */
	uint32_t off;      /* offset inside it */
	uint32_t end;      /* one past the last segment of this part */
	uint32_t done;     /* bytes moved so far */
	uint32_t left;     /* bytes remaining in this part */
	int error;         /* 0 or -EFAULT */
};

void vq_cursor_init_read(struct vq_cursor *cur, struct gm *gm, const struct vq_chain *c);
void vq_cursor_init_write(struct vq_cursor *cur, struct gm *gm, const struct vq_chain *c);
/* Returns bytes copied, <= len. */
size_t vq_cursor_read(struct vq_cursor *cur, void *dst, size_t len);
size_t vq_cursor_write(struct vq_cursor *cur, const void *src, size_t len);
/* Advance without copying; returns bytes skipped. */
size_t vq_cursor_skip(struct vq_cursor *cur, size_t len);
static inline uint32_t vq_cursor_remaining(const struct vq_cursor *cur)
{
	return cur->left;
}

#endif
