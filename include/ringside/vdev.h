/*
 * ringside — device core (vdev).
 *
 * Transport-independent state of one virtio device: status state machine,
 * 64-bit feature negotiation, config space with generation counter and
 * per-field width rules, ISR bits, MSI-X vectors, queues. A device model is
 * a const ops table (struct vdev_ops); a transport (PCI legacy/modern, MMIO
 * v1/v2) maps its registers onto the vdev_* calls below and delivers
 * interrupts through its own const ops (struct vdev_transport_ops).
 *
 * Driver violations are diagnostics (with the spec section) in d->log,
 * counted and queryable; none is fatal.
 */
#ifndef RINGSIDE_VDEV_H
#define RINGSIDE_VDEV_H

#include "ringside/base.h"
#include "ringside/diag.h"
#include "ringside/gm.h"
#include "ringside/virtio.h"
#include "ringside/vq.h"
#include "ringside/world.h"

struct vdev;

/* One field of a device config layout, for the width rules: an access must
 * cover exactly one field, at its offset and with its size (virtio-v1.2
 * 4.1.3.1, 4.2.2.2). 8-byte fields may also be accessed as two aligned
 * 4-byte halves. */
struct vdev_cfg_field {
	uint16_t off;
	uint8_t size;      /* 1, 2, 4 or 8 */
	uint8_t writable;  /* driver may write it */
};

/* key=value options from the machine spec for one device. A device's
 * create() reads what it knows with vdev_arg_*; vdev_create() fails on any
 * key nobody read. */
#define VDEV_MAX_ARGS 16
struct vdev_args {
	unsigned n;
	struct {
		char key[24];
		char val[104];
		bool used;
	} kv[VDEV_MAX_ARGS];
};

/* Look up an option. Returns its value (marks it used) or NULL. */
const char *vdev_arg(struct vdev_args *a, const char *key);
/* Parse a size ("4096", "8M", "1G", "0x1000") option. Returns 0 (with *out
 * = dflt when absent) or -EINVAL with a message in err. */
int vdev_arg_size(struct vdev_args *a, const char *key, uint64_t dflt, uint64_t *out, char *err,
		  size_t errlen);
/* Parse a boolean (on/off/yes/no/1/0/true/false; a bare key means on). */
int vdev_arg_bool(struct vdev_args *a, const char *key, bool dflt, bool *out, char *err,
		  size_t errlen);

/*
 * A device model. Every callback but queue_notify is optional.
 */
struct vdev_ops {
	const char *name;            /* "blk", "echo" (machine spec name) */
	uint16_t device_id;          /* VIRTIO_ID_* */
	uint16_t pci_class;          /* PCI class << 8 | subclass, for PCI transports */
	uint16_t pci_vendor;         /* 0: VIRTIO_PCI_VENDOR; else this vendor ID... */
	uint16_t pci_device;         /* ...and this device ID (e.g. OpenBSD vmmci) */
	uint16_t num_queues;         /* queues exposed (a create() may lower d->nqueues) */
	uint16_t queue_max;          /* largest queue size offered */
	uint64_t features;           /* device-type features offered (generic ones are
				      * added by vdev_bind_transport) */
	uint32_t config_size;        /* bytes of device config space */
	const struct vdev_cfg_field *cfg_fields;
	unsigned ncfg_fields;
	size_t priv_size;            /* bytes zero-allocated at d->priv */

	/* Parse options, fill initial config. Return 0 or -errno with err set. */
	int (*create)(struct vdev *d, struct vdev_args *args, char *err, size_t errlen);
	void (*destroy)(struct vdev *d);
	/* Refresh d->config before the driver reads [off, off+len). */
	void (*config_read)(struct vdev *d, uint32_t off, uint32_t len);
	/* The driver wrote a writable field (already stored in d->config). */
	void (*config_write)(struct vdev *d, uint32_t off, uint32_t len);
	/* Device-specific check of the features the driver accepted; 0 to accept,
	 * -EINVAL to refuse FEATURES_OK (report DIAG_FEATURES_INVALID first). */
	int (*validate_features)(struct vdev *d, uint64_t features);
	/* The driver set DRIVER_OK. */
	void (*driver_ok)(struct vdev *d);
	/* The driver notified queue q (q < d->nqueues, queue ready, checked). */
	void (*queue_notify)(struct vdev *d, unsigned q);
	/* Return device-specific state to its power-on value (config included:
	 * the core re-zeroes d->config and calls create-time init via reset). */
	void (*reset)(struct vdev *d);
	/* Serialise device-specific state for snapshots; returns bytes needed. */
	size_t (*save)(const struct vdev *d, uint8_t *buf, size_t cap);
	/* A host event for this device arrived through the world (rx frame,
	 * console input, balloon target, ...). */
	void (*host_event)(struct vdev *d, const struct world_event *ev);
	/* Return host-side state that a guest reset keeps (what host events
	 * and backends set: terminal size, balloon target, link state, media,
	 * pending host requests, counters) to its value right after create().
	 * machine_reset() calls it, then vdev_reset(), so ops->reset refills
	 * the config from the restored state. A model that keeps such state
	 * and lacks this op makes in-process fuzzing nondeterministic. */
	void (*host_reset)(struct vdev *d);
};

/* Interrupt delivery, implemented by the transport. */
struct vdev_transport_ops {
	/* Raise an interrupt: config change (config=true) or queue q. The
	 * transport chooses MSI-X (vector) or INTx (level, lowered when the ISR
	 * is read). */
	void (*notify)(void *tctx, struct vdev *d, bool config, unsigned q);
};

struct vdev_queue {
	uint16_t size;         /* driver-chosen size (power-on: max) */
	uint16_t max;          /* largest size offered */
	uint16_t msix_vector;  /* VIRTIO_MSI_NO_VECTOR at power-on */
	bool enabled;          /* driver enabled it (queue_enable / PFN / QueueReady) */
	uint64_t desc, driver, device; /* addresses the driver wrote */
	uint32_t legacy_pfn;   /* legacy PFN as written */
	uint16_t notify_off;   /* modern PCI notify offset (= queue index) */
	struct vq vq;
};

struct vdev_stats {
	uint64_t notifies;     /* queue notifies delivered to the device */
	uint64_t irqs;         /* interrupts raised */
	uint64_t resets;
	uint64_t host_events;  /* host events delivered to its host_event op */
};

struct vdev {
	const struct vdev_ops *ops;
	void *priv;
	char name[16];
	struct gm *gm;
	struct world *world;       /* nondeterministic inputs; set by the builder */
	unsigned index;            /* position in the machine (world events, traces) */
	struct diag_log log;
	/* transport-visible state */
	uint8_t status;
	uint8_t isr;
	uint64_t host_features;    /* offered */
	uint64_t model_features;   /* device-type features this instance offers:
				    * ops->features before ops->create, which may
				    * clear bits its options turn off (e.g. a
				    * single-port console without MULTIPORT);
				    * vdev_bind_transport offers these */
	uint64_t driver_features;  /* accepted (masked to offered) */
	uint32_t dfselect, gfselect;
	uint16_t queue_select;
	uint16_t msix_config;
	uint32_t config_generation;
	uint8_t *config;           /* ops->config_size bytes */
	bool legacy;               /* driver uses the legacy interface */
	bool modern_capable;       /* transport offers the 1.x interface */
	bool legacy_capable;       /* transport offers the legacy interface */
	unsigned nqueues;
	struct vdev_queue *queues;
	uint64_t generic_features; /* engine features the transport allows */
	const struct vdev_transport_ops *tops;
	void *tctx;
	struct vdev_stats stats;
};

/*
 * Create a device of model ops on arena gm. args may be NULL. On failure
 * returns -errno with a one-line message in err (unknown option, bad value,
 * -ENOMEM). On success *out is a device at its power-on state.
 */
int vdev_create(const struct vdev_ops *ops, struct gm *gm, const char *name,
		struct vdev_args *args, struct vdev **out, char *err, size_t errlen);
/* The same, for a device that lives in a machine: world (may be NULL for a
 * device that needs no nondeterministic input) and index are set before
 * ops->create runs, so create may already query backends through the world.
 * vdev_create(...) is vdev_create_ex(ops, gm, NULL, 0, ...). */
int vdev_create_ex(const struct vdev_ops *ops, struct gm *gm, struct world *world,
		   unsigned index, const char *name, struct vdev_args *args, struct vdev **out,
		   char *err, size_t errlen);
void vdev_destroy(struct vdev *d);

/*
 * Attach a transport. modern/legacy say which interfaces it offers
 * (transitional: both). Offered features become d->model_features plus the
 * engine's generic ones (INDIRECT_DESC, EVENT_IDX, and with modern:
 * VERSION_1, RING_PACKED, IN_ORDER; with legacy only: ANY_LAYOUT,
 * NOTIFY_ON_EMPTY), minus any bit in disable_mask.
 */
void vdev_bind_transport(struct vdev *d, const struct vdev_transport_ops *tops, void *tctx,
			 bool modern, bool legacy, uint64_t disable_mask);

/* Return every field to its power-on value (status 0, features, selects,
 * ISR, vectors, queues, config, generation) and call ops->reset. The config
 * space is zeroed first, so ops->reset must refill it. d->legacy returns to
 * true only on a legacy-only transport. Stats and the log are kept. */
void vdev_reset(struct vdev *d);

/* ops->host_reset, if the model has one (machine and transport resets). */
void vdev_host_reset(struct vdev *d);

/* Deliver a host event to ops->host_event (counted in stats.host_events);
 * false when the model takes none. */
bool vdev_host_event(struct vdev *d, const struct world_event *ev);

/* Status register (virtio-v1.2 2.1, 3.1.1). Writing 0 resets. Rules:
 * clearing a bit is ignored (DIAG_STATUS_CLEAR); NEEDS_RESET is device-owned
 * (DIAG_STATUS_NEEDS_RESET); DRIVER needs ACKNOWLEDGE, FEATURES_OK needs
 * DRIVER, DRIVER_OK needs FEATURES_OK on the modern interface
 * (DIAG_STATUS_ORDER, the bit is still taken, as real devices do);
 * FEATURES_OK is kept clear unless the accepted features are a valid subset.
 * On the legacy interface FEATURES_OK does not exist: DIAG_STATUS_ORDER and
 * the bit is not stored; DRIVER_OK needs DRIVER there. */
void vdev_set_status(struct vdev *d, uint8_t val);
static inline uint8_t vdev_get_status(const struct vdev *d)
{
	return d->status;
}

/* 32-bit window of offered features selected by sel (0 or 1; others read 0;
 * the legacy interface sees window 0 only). */
uint32_t vdev_device_features(const struct vdev *d, uint32_t sel);
/* Driver writes a 32-bit window of accepted features. Bits not offered are
 * dropped (DIAG_FEATURES_NOT_OFFERED); writes after FEATURES_OK are ignored
 * (DIAG_FEATURES_LATE); sel > 1 is ignored (DIAG_FEATURES_NOT_OFFERED if
 * non-zero). */
void vdev_set_driver_features(struct vdev *d, uint32_t sel, uint32_t val);
uint32_t vdev_driver_features_window(const struct vdev *d, uint32_t sel);
/* Negotiated feature test (driver_features & bit). */
static inline bool vdev_has(const struct vdev *d, unsigned bit)
{
	return bit < 64 && (d->driver_features >> bit) & 1;
}

/* Read and clear the ISR (the transport lowers INTx after this). */
uint8_t vdev_read_isr(struct vdev *d);

/*
 * Config space access at off with size 1, 2, 4 or 8. Width rules are
 * checked against ops->cfg_fields (DIAG_CONFIG_WIDTH, access still served
 * byte-wise); beyond config_size reads give 0 and writes are dropped
 * (DIAG_CONFIG_RANGE); writes to read-only bytes are dropped
 * (DIAG_CONFIG_READONLY). Values are little-endian (legacy: guest-native,
 * also little-endian here).
 */
uint64_t vdev_config_read(struct vdev *d, uint32_t off, unsigned size);
void vdev_config_write(struct vdev *d, uint32_t off, unsigned size, uint64_t val);

/* The device changed its config: generation++, ISR config bit, interrupt
 * (when DRIVER_OK). */
void vdev_config_changed(struct vdev *d);

/* Queue by index, or NULL when q >= nqueues. */
static inline struct vdev_queue *vdev_queue(struct vdev *d, unsigned q)
{
	return q < d->nqueues ? &d->queues[q] : NULL;
}
/* Currently selected queue, or NULL when queue_select is out of range. */
static inline struct vdev_queue *vdev_selected(struct vdev *d)
{
	return vdev_queue(d, d->queue_select);
}

/* Set the selected queue's size (modern: any value up to max, power of two
 * unless packed; checked at enable). Ignored with DIAG_QUEUE_ENABLED while
 * enabled, DIAG_QUEUE_SIZE when above max or zero. */
void vdev_queue_set_size(struct vdev *d, unsigned q, uint16_t size);

/* Enable queue q with the addresses in its vdev_queue (modern interface:
 * layout split or packed by RING_PACKED). Returns 0 (also when already
 * enabled: DIAG_QUEUE_ENABLED, nothing changes), or -EINVAL / -ENOMEM after
 * reporting (queue stays disabled, device NEEDS_RESET). */
int vdev_queue_enable(struct vdev *d, unsigned q);

/* Legacy: place queue q by PFN (pfn 0 disables it) with the given page size
 * and ring alignment. Returns 0 or -EINVAL (DIAG_LEGACY_PFN: ring outside
 * RAM, page size or alignment not a power of two; queue stays disabled,
 * device NEEDS_RESET; DIAG_QUEUE_ENABLED when the queue is already placed). */
int vdev_queue_set_pfn(struct vdev *d, unsigned q, uint32_t pfn, uint32_t page_size,
		       uint32_t align);

/* Driver notified queue q. Validates q, readiness and DRIVER_OK (legacy
 * drivers may notify before DRIVER_OK: reported, still delivered), then calls
 * ops->queue_notify. */
void vdev_queue_notify(struct vdev *d, unsigned q);

/* Device helper: after pushing to queue q, interrupt the driver if
 * vq_should_notify() says so (ISR queue bit + transport notify). */
void vdev_queue_interrupt(struct vdev *d, unsigned q);

/* A guest error made the device unusable: set DEVICE_NEEDS_RESET and send a
 * config interrupt if DRIVER_OK (virtio-v1.2 2.1.2). Reports DIAG_NEEDS_RESET
 * once per episode. */
void vdev_needs_reset(struct vdev *d, enum diag_code why);

/* Set an MSI-X vector (config: q = -1). Values >= nvectors and not
 * NO_VECTOR are stored as NO_VECTOR (virtio-v1.2 4.1.5.1.2) with
 * DIAG_MSIX_VECTOR. */
void vdev_set_msix_vector(struct vdev *d, int q, uint16_t vec, unsigned nvectors);

/*
 * Deterministic serialisation of every field that reset restores, queue and
 * ring state included, plus ops->save. Returns the bytes needed (buf may be
 * NULL with cap 0 to ask). Snapshots of two devices in the same state
 * compare equal byte for byte.
 */
size_t vdev_save_state(const struct vdev *d, uint8_t *buf, size_t cap);
/* FNV-1a 64 over vdev_save_state(). */
uint64_t vdev_state_hash(const struct vdev *d);

#endif
