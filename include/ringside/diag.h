/*
 * ringside — diagnostics.
 *
 * Misbehaviour is a state, not a crash. Every guest (driver) violation and
 * every device-side error found at run time is reported here with a stable
 * code; each code carries its class (who misbehaved) and the virtio spec
 * section the rule comes from. A log counts reports per code, keeps the most
 * recent messages, optionally prints them rate-limited to stderr, and can
 * call a hook (the oracles and the recorder use it). Nothing here is fatal.
 */
#ifndef RINGSIDE_DIAG_H
#define RINGSIDE_DIAG_H

#include "ringside/base.h"

/* Who misbehaved. The fuzz oracles report DEVICE codes as bugs
 * (docs/oracles.md); DRIVER codes are the hostile guest's and are never bugs
 * of the device stack; HOST codes are backend failures, which fuzzing
 * injects on purpose (a live VMM may still want to alert on them). */
enum diag_class {
	DIAG_CLASS_DRIVER = 0, /* the guest driver broke a rule */
	DIAG_CLASS_DEVICE = 1, /* a device model broke a rule (a bug) */
	DIAG_CLASS_HOST = 2,   /* host-side failure: backend I/O error, OOM */
};

/* Stable codes. Append only: numbers appear in traces and test expectations. */
enum diag_code {
	DIAG_NONE = 0,
	/* guest memory arena */
	DIAG_GM_OUT_OF_RANGE,     /* DMA outside every RAM region or across two */
	DIAG_GM_WRAP,             /* gpa + len wraps at 2^64 */
	DIAG_GM_MMIO_DMA,         /* DMA lands on an MMIO region */
	/* virtqueue engine */
	DIAG_VQ_SIZE,             /* queue size zero, not a power of 2 (split) or above max */
	DIAG_VQ_RING_ADDR,        /* ring area misaligned or not in RAM */
	DIAG_VQ_AVAIL_JUMP,       /* avail idx moved by more than the queue size */
	DIAG_VQ_HEAD_RANGE,       /* head index >= queue size */
	DIAG_VQ_NEXT_RANGE,       /* next index >= queue (or indirect table) size; packed:
				   * NEXT into a descriptor not made available */
	DIAG_VQ_LOOP,             /* chain longer than the queue size: loop */
	DIAG_VQ_INDIRECT_LEN,     /* indirect table len 0, not a multiple of 16, too big */
	DIAG_VQ_INDIRECT_NESTED,  /* indirect descriptor inside an indirect table */
	DIAG_VQ_INDIRECT_NEXT,    /* INDIRECT together with NEXT */
	DIAG_VQ_INDIRECT_FEATURE, /* INDIRECT used but VIRTIO_F_INDIRECT_DESC not negotiated */
	DIAG_VQ_WRITE_ORDER,      /* device-readable descriptor after a device-writable one */
	DIAG_VQ_LEN_OVERFLOW,     /* chain length sum exceeds 32 bits */
	DIAG_VQ_DESC_ADDR,        /* buffer outside guest RAM */
	DIAG_VQ_BUFFER_ID,        /* buffer id (split head, packed id) already in flight,
				   * or (packed) id >= queue size */
	DIAG_VQ_BROKEN,           /* queue used after it was marked broken */
	DIAG_VQ_USED_LEN,         /* DEVICE: used len larger than the writable space */
	DIAG_VQ_PUSH_INVALID,     /* DEVICE: completing a chain that is not in flight */
	/* device core */
	DIAG_STATUS_CLEAR,        /* driver cleared a status bit without reset */
	DIAG_STATUS_ORDER,        /* status bits set out of order */
	DIAG_STATUS_NEEDS_RESET,  /* driver wrote DEVICE_NEEDS_RESET */
	DIAG_FEATURES_NOT_OFFERED,/* driver accepted a feature the device did not offer */
	DIAG_FEATURES_VERSION_1,  /* modern interface without VIRTIO_F_VERSION_1 */
	DIAG_FEATURES_LATE,       /* features written after FEATURES_OK */
	DIAG_FEATURES_INVALID,    /* device-specific feature dependency broken */
	DIAG_CONFIG_WIDTH,        /* config field accessed with the wrong width/alignment */
	DIAG_CONFIG_RANGE,        /* config access beyond the config space */
	DIAG_CONFIG_READONLY,     /* write to a read-only config field */
	DIAG_QUEUE_SELECT,        /* queue index out of range */
	DIAG_QUEUE_SIZE,          /* queue size rejected */
	DIAG_QUEUE_ENABLED,       /* queue register changed while the queue is enabled */
	DIAG_QUEUE_NOT_READY,     /* notify for a queue that is not enabled */
	DIAG_NOTIFY_EARLY,        /* notify before DRIVER_OK */
	DIAG_MSIX_VECTOR,         /* MSI-X vector out of range */
	DIAG_NEEDS_RESET,         /* device entered DEVICE_NEEDS_RESET */
	DIAG_DEVICE_ERROR,        /* DEVICE: a device model reported an internal error */
	DIAG_BACKEND_ERROR,       /* HOST: backend I/O failed */
	/* transports and machine */
	DIAG_REG_WIDTH,           /* register accessed with an unsupported width */
	DIAG_REG_ALIGN,           /* register access not naturally aligned */
	DIAG_REG_UNKNOWN,         /* access to an undefined register offset */
	DIAG_REG_READONLY,        /* write to a read-only register */
	DIAG_LEGACY_PFN,          /* legacy queue PFN places the ring outside RAM */
	DIAG_MMIO_PAGE_SIZE,      /* MMIO v1 GuestPageSize not a power of two */
	DIAG_PCI_CFG,             /* malformed PCI configuration access */
	DIAG_PCI_BAR,             /* BAR placed over another range or outside the bus */
	DIAG_MSIX_TABLE,          /* malformed MSI-X table or PBA access */
	DIAG_IO_UNMAPPED,         /* access to an unmapped port or address */
	/* console (virtio-v1.2 5.3) */
	DIAG_CONSOLE_CTRL,        /* control message short, unknown, unexpected from the driver,
				   * out of order, or naming a port out of range */
	DIAG_CONSOLE_BUFFER,      /* data or control buffer of the wrong direction, or too
				   * small for a control message */
	/* net (virtio-v1.2 5.1) */
	DIAG_NET_TX,              /* tx buffer malformed: header short or with offloads not
				   * negotiated, wrong direction, runt or oversized frame */
	DIAG_NET_RX_BUFFER,       /* rx buffer of the wrong direction or too small */
	DIAG_NET_CTRL,            /* control command malformed, unknown, or of a feature not
				   * negotiated */
	/* vmmci (OpenBSD's VMM control interface) */
	DIAG_VMMCI_CMD,           /* command register written with a value that is no command
				   * or does not answer the pending request */
	/* balloon (virtio-v1.2 5.5) */
	DIAG_BALLOON_PFN,         /* inflate/deflate entry outside RAM, already (not) inflated,
				   * partial, in a writable buffer, or beyond the per-chain limit */
	DIAG_BALLOON_STATS,       /* stats buffer of the wrong direction, partial entry, too long,
				   * or more than one buffer outstanding */
	DIAG_BALLOON_HINT,        /* free page hint: command ID buffer not 4 bytes, hinted range
				   * outside RAM or not page aligned */
	/* any device */
	DIAG_REQ_MALFORMED,       /* a device request is malformed (short header, buffers of
				   * the wrong direction, ...): answered with an error status */
	/* scsi (virtio-v1.2 5.6) */
	DIAG_SCSI_REQUEST,        /* request, control or event buffer too short for its header,
				   * response or event, of the wrong direction, bidirectional
				   * without INOUT, or of an unknown control type */
	DIAG_SCSI_CONFIG,         /* sense_size or cdb_size written with a value the device
				   * cannot honour (kept its previous value) */
	DIAG_HOST_EVENT,          /* HOST: a host event names no device, or one that takes none */
	DIAG__COUNT
};

struct diag_entry {
	enum diag_code code;
	char source[24];  /* device or module name */
	char msg[160];    /* formatted text, spec section first */
};

#define DIAG_KEEP 16 /* recent entries kept per log */

typedef void (*diag_hook_fn)(void *ctx, const struct diag_entry *e);

struct diag_log {
	uint32_t count[DIAG__COUNT];
	uint64_t total;
	uint64_t class_total[3];  /* total by enum diag_class */
	struct diag_entry recent[DIAG_KEEP];
	unsigned recent_head;   /* next slot in recent[] */
	char source[24];        /* copied into every entry */
	diag_hook_fn hook;
	void *hook_ctx;
};

/* Initialise a log; source names the reporter (e.g. "blk0"). */
void diag_init(struct diag_log *log, const char *source);

/* Forget counts and recent entries; keeps source and hook. */
void diag_clear(struct diag_log *log);

/*
 * Report a diagnostic. log may be NULL (the report is then dropped). The
 * message is prefixed with the code's spec section. Prints to stderr only when
 * diag_set_verbosity() > 0, at most 8 lines per code per log, then a single
 * "further reports suppressed" line. Never fails, never aborts.
 */
void diag_report(struct diag_log *log, enum diag_code code, const char *fmt, ...)
	RS_PRINTF(3, 4);

/* 0: silent (default, library use); 1: rate-limited stderr; 2: every report. */
void diag_set_verbosity(int level);
int diag_verbosity(void);

/*
 * Brief messages (process-wide, off by default): a DRIVER- or HOST-class
 * report keeps the code's name as its message instead of formatting one, so
 * a hostile guest that misbehaves on every access costs a count, not a
 * vsnprintf. DEVICE-class reports (the bugs an oracle prints) and every
 * report at verbosity > 0 are still formatted in full. The fuzzing engines
 * turn it on; the standalone regression driver and `ringside repro` leave it
 * off, so a finding is reproduced with every message.
 */
void diag_set_brief(bool brief);

/* Whether a report of code would format its message now: for reporters
 * that build part of the text themselves before diag_report. */
bool diag_wants_text(enum diag_code code);

/* Code metadata: short name ("VQ_LOOP"), class, and the spec section the rule
 * comes from (e.g. "virtio-v1.2 2.7.5.3.1"); "" where the rule is ours. */
const char *diag_name(enum diag_code code);
enum diag_class diag_class_of(enum diag_code code);
const char *diag_spec(enum diag_code code);

/* Count of reports with the given code, or of all codes of one class. */
static inline uint32_t diag_count(const struct diag_log *log, enum diag_code code)
{
	return (unsigned)code < DIAG__COUNT ? log->count[code] : 0;
}
uint64_t diag_count_class(const struct diag_log *log, enum diag_class cls);

/* Most recent entry, or NULL if none was reported. */
const struct diag_entry *diag_last(const struct diag_log *log);

#endif
