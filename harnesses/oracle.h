/*
 * ringside — what the oracles share (harnesses/oracle_*.c, docs/oracles.md).
 *
 * The watch: one per fuzz machine, shared by every oracle that looks at it.
 * It installs the arena tap (every device-side access that succeeded) and
 * an observer on every virtqueue of every device (chains popped, completed,
 * dropped, queues reset), keeps the per-queue view of the chains each
 * device has in flight, and hands every event on to the oracles subscribed
 * to it. The first owatch_get() installs it, the last owatch_put() removes
 * it; a tap that was there before (a recorder) keeps being called.
 *
 * The canary table: one well-formed request per device model, run by the
 * reset oracle after every input that touched the device.
 */
#ifndef RINGSIDE_HARNESS_ORACLE_H
#define RINGSIDE_HARNESS_ORACLE_H

#include "fuzz.h"

/* ---- the watch ---------------------------------------------------------------------- */

struct owatch;

/* A chain a device has in flight (popped, not yet completed or dropped). */
struct owatch_chain {
	uint16_t dev;             /* device index in the machine */
	uint16_t q;               /* queue */
	uint16_t id;              /* buffer id (split head, packed id) */
	uint32_t pos;             /* index in owatch.live */
	uint32_t nsegs, nread;    /* segments; [0, nread) device-readable */
	uint32_t read_len, write_len;
	struct vq_seg *segs;      /* inl, or the heap for a longer chain */
	struct vq_seg inl[VQ_CHAIN_INLINE];
};

/* One queue of one device, as the watch sees it. */
struct owatch_queue {
	uint32_t inflight;
	uint64_t completed;       /* chains completed since the queue was set up */
	/* the chain completed last (the used entry the engine writes next) */
	bool last_valid;
	uint16_t last_id;
	uint32_t last_len, last_write_len;
};

struct owatch_dev {
	struct owatch *w;
	struct vdev *vd;
	unsigned index;
	struct owatch_queue *q;   /* vd->nqueues entries */
};

/* What a subscriber is told. Every hook is optional. dev is the device's
 * index in the machine. */
struct owatch_ops {
	/* A device-side arena access that succeeded (data: the bytes read or
	 * written). */
	void (*access)(void *ctx, struct owatch *w, enum gm_access dir, uint64_t gpa,
		       const void *data, size_t len);
	/* c was popped (already in the chain view). */
	void (*popped)(void *ctx, struct owatch *w, unsigned dev, const struct vq *vq,
		       const struct vq_chain *c);
	/* c leaves the in-flight set (see struct vq_observer; still in the
	 * chain view while this runs). */
	void (*retired)(void *ctx, struct owatch *w, unsigned dev, const struct vq *vq,
			const struct vq_chain *c, uint32_t len, bool used);
};

#define OWATCH_MAX_SUBS 8

struct owatch {
	struct fuzz_machine *fm;
	struct gm *gm;
	unsigned refs;
	gm_tap_fn prev_tap;       /* the tap installed before the watch, if any */
	void *prev_ctx;
	struct owatch_dev *devs;  /* fm->ndevs entries */
	unsigned ndevs;
	struct owatch_chain **live; /* every chain in flight in the machine */
	uint32_t nlive;
	struct owatch_chain **spare; /* records for reuse */
	uint32_t nspare, cap;       /* cap: room in live and in spare */
	struct {
		const struct owatch_ops *ops;
		void *ctx;
	} subs[OWATCH_MAX_SUBS];
	unsigned nsubs;
	/* what the machine is doing, for messages: NULL while the input's ops
	 * run, else a phrase such as " during machine_reset" (owatch_phase) */
	const char *phase;
	bool degraded;            /* out of memory once: the chain view is incomplete */
};

/* The watch of fm, installed by the first call. NULL when out of memory. */
struct owatch *owatch_get(struct fuzz_machine *fm);
/* The watch of fm if one is installed (no reference taken), else NULL. */
struct owatch *owatch_find(struct fuzz_machine *fm);
/* Drop a reference; the last one removes the tap and observers. */
void owatch_put(struct owatch *w);
/* Subscribe (0, or -ENOSPC) / unsubscribe ops with ctx. */
int owatch_subscribe(struct owatch *w, const struct owatch_ops *ops, void *ctx);
void owatch_unsubscribe(struct owatch *w, const struct owatch_ops *ops, void *ctx);
/* The phase phrase for messages ("" while the input's ops run). */
const char *owatch_phase(const struct owatch *w);
/* The index of the device whose model code is running (the arena's actor,
 * struct gm), or -1 outside every device call or for a device the watch
 * does not know. */
int owatch_actor(const struct owatch *w);

/* ---- shared helpers ----------------------------------------------------------------- */

/* True when code is a register-level op (raw offsets: REG, CFG, IO_RAW). */
bool oracle_op_is_register(unsigned code);
/* Snapshot of vdev_save_state(vd) into *buf (grown as needed, *cap its
 * size). Returns the length, or 0 when out of memory. */
size_t oracle_save_state(const struct vdev *vd, uint8_t **buf, size_t *cap);

/* ---- the canary (oracle_canary.c) --------------------------------------------------- */

#define CANARY_MAX_OUT 512
#define CANARY_MAX_IN 1024

/*
 * A well-formed request the reference driver sends to a device after an
 * input, once the machine was reset: a device that cannot complete it was
 * left wedged. Add an entry when a device lands (the reset oracle still
 * checks a device without one: driver init and DRIVER_OK must work).
 */
struct fuzz_canary {
	const char *device;     /* model name (rs_device_find) */
	const char *what;       /* what the request is, for messages */
	uint64_t features;      /* asked for at driver init (gdrv_init's want) */
	unsigned nqueues;       /* queues set up (0: none, no request) */
	unsigned queue;         /* the queue the request goes to */
	/* the request: out_len readable bytes (out), then in_len writable */
	uint8_t out[CANARY_MAX_OUT];
	uint32_t out_len, in_len;
	/* Optional: rewrite out/out_len for the negotiated features (e.g. the
	 * net header is 10 or 12 bytes). */
	void (*prepare)(uint64_t features, uint8_t *out, uint32_t *out_len);
	uint32_t used_min, used_max; /* accepted used lengths */
	/* Optional: check the completed request (in: in_len bytes, the ones the
	 * device did not write still hold CANARY_FILL). NULL or why it is wrong. */
	const char *(*check)(const uint8_t *out, const uint8_t *in, uint32_t used);
	/* Optional config check after DRIVER_OK: cfg_size bytes at cfg_off read
	 * through the driver must equal cfg_value (cfg_size 0: none). */
	uint16_t cfg_off;
	uint8_t cfg_size;
	uint64_t cfg_value;
};

#define CANARY_FILL 0x5a

extern const struct fuzz_canary fuzz_canaries[];
extern const unsigned fuzz_canaries_len;

/* Entry for a model name, or NULL. */
const struct fuzz_canary *fuzz_canary_find(const char *device);

/*
 * Run the canary of device fd of fm (the machine just reset, no input
 * attached) with driver scratch g. strict: check the used length range,
 * the content and the config as the table says; else (a device whose
 * host-owned state may have moved, so what it answers may differ) only
 * that it initialises and completes the request within its writable space.
 * Returns 0 when the device passed, or -1 with why in why[len]. Leaves the
 * machine dirty: reset it after.
 */
int fuzz_canary_run(struct fuzz_machine *fm, struct fuzz_dev *fd, struct gdrv_dev *g,
		    bool strict, char *why, size_t len);
/* The same with canary c (NULL: driver init only) instead of the table's. */
int fuzz_canary_exec(const struct fuzz_canary *c, struct fuzz_machine *fm, struct fuzz_dev *fd,
		     struct gdrv_dev *g, bool strict, char *why, size_t len);

#endif
