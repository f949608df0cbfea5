/*
 * ringside — diagnostics (see include/ringside/diag.h).
 *
 * One static table gives every code its short name, its class and the virtio
 * spec section its rule comes from. A report is formatted into the log's
 * ring of recent entries, counted, shown to the hook and, if the process
 * asked for it, printed to stderr with a per-code rate limit.
 *
 * Section numbers are those of virtio-v1.2 (cs01). Codes whose rule is
 * ringside's own (or comes from the PCI specification rather than virtio)
 * carry "".
 */
#include "ringside/diag.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Lines printed per code per log at verbosity 1 before suppression. */
#define DIAG_PRINT_LIMIT 8

struct diag_info {
	const char *name;
	enum diag_class cls;
	const char *spec;
};

#define V12 "virtio-v1.2 "
#define DIAG_DEF(code, c, s) [DIAG_##code] = { #code, DIAG_CLASS_##c, s }

static const struct diag_info diag_table[] = {
	DIAG_DEF(NONE, DRIVER, ""),
	/* guest memory arena: guest-chosen addresses, checked by ringside */
	DIAG_DEF(GM_OUT_OF_RANGE, DRIVER, ""),
	DIAG_DEF(GM_WRAP, DRIVER, ""),
	DIAG_DEF(GM_MMIO_DMA, DRIVER, ""),
	/* virtqueue engine */
	DIAG_DEF(VQ_SIZE, DRIVER, V12 "2.7"),            /* power of 2, at most 32768 */
	DIAG_DEF(VQ_RING_ADDR, DRIVER, V12 "2.7.1"),     /* part alignment */
	DIAG_DEF(VQ_AVAIL_JUMP, DRIVER, V12 "2.7.6.1"),  /* avail idx never goes back */
	DIAG_DEF(VQ_HEAD_RANGE, DRIVER, V12 "2.7.5"),    /* table holds queue size entries */
	DIAG_DEF(VQ_NEXT_RANGE, DRIVER, V12 "2.7.5"),
	DIAG_DEF(VQ_LOOP, DRIVER, V12 "2.7.5.3.1"),      /* chain <= queue size */
	DIAG_DEF(VQ_INDIRECT_LEN, DRIVER, V12 "2.7.5.3"),
	DIAG_DEF(VQ_INDIRECT_NESTED, DRIVER, V12 "2.7.5.3.1"),
	DIAG_DEF(VQ_INDIRECT_NEXT, DRIVER, V12 "2.7.5.3.1"),
	DIAG_DEF(VQ_INDIRECT_FEATURE, DRIVER, V12 "2.7.5.3.1"),
	DIAG_DEF(VQ_WRITE_ORDER, DRIVER, V12 "2.7.4.2"), /* writable after readable */
	DIAG_DEF(VQ_LEN_OVERFLOW, DRIVER, V12 "2.7.5.2"),/* chain < 2^32 bytes */
	DIAG_DEF(VQ_DESC_ADDR, DRIVER, ""),
	DIAG_DEF(VQ_BUFFER_ID, DRIVER, ""),
	DIAG_DEF(VQ_BROKEN, DRIVER, ""),
	DIAG_DEF(VQ_USED_LEN, DEVICE, V12 "2.7.8.2"),    /* at least len bytes written */
	DIAG_DEF(VQ_PUSH_INVALID, DEVICE, V12 "2.7.8"),  /* used id is an avail head */
	/* device core */
	DIAG_DEF(STATUS_CLEAR, DRIVER, V12 "2.1.1"),
	DIAG_DEF(STATUS_ORDER, DRIVER, V12 "3.1.1"),
	DIAG_DEF(STATUS_NEEDS_RESET, DRIVER, V12 "2.1.1"),
	DIAG_DEF(FEATURES_NOT_OFFERED, DRIVER, V12 "2.2.1"),
	DIAG_DEF(FEATURES_VERSION_1, DRIVER, V12 "6.1"), /* reserved feature bits */
	DIAG_DEF(FEATURES_LATE, DRIVER, V12 "3.1.1"),    /* no new features after FEATURES_OK */
	DIAG_DEF(FEATURES_INVALID, DRIVER, V12 "2.2.1"),
	DIAG_DEF(CONFIG_WIDTH, DRIVER, V12 "4.1.3.1"),
	DIAG_DEF(CONFIG_RANGE, DRIVER, V12 "2.5.1"),
	DIAG_DEF(CONFIG_READONLY, DRIVER, V12 "2.5"),
	DIAG_DEF(QUEUE_SELECT, DRIVER, V12 "4.1.4.3"),
	DIAG_DEF(QUEUE_SIZE, DRIVER, V12 "4.1.4.3.2"),
	DIAG_DEF(QUEUE_ENABLED, DRIVER, V12 "4.1.4.3.2"),
	DIAG_DEF(QUEUE_NOT_READY, DRIVER, ""),
	DIAG_DEF(NOTIFY_EARLY, DRIVER, V12 "3.1.1"),     /* no notify before DRIVER_OK */
	DIAG_DEF(MSIX_VECTOR, DRIVER, V12 "4.1.5.1.2.2"),
	DIAG_DEF(NEEDS_RESET, DRIVER, V12 "2.1.2"),
	DIAG_DEF(DEVICE_ERROR, DEVICE, ""),
	DIAG_DEF(BACKEND_ERROR, HOST, ""),
	/* transports and machine */
	DIAG_DEF(REG_WIDTH, DRIVER, V12 "4.1.3.1"),
	DIAG_DEF(REG_ALIGN, DRIVER, V12 "4.1.3.1"),
	DIAG_DEF(REG_UNKNOWN, DRIVER, V12 "4.2.2.2"),
	DIAG_DEF(REG_READONLY, DRIVER, V12 "4.2.2.2"),
	DIAG_DEF(LEGACY_PFN, DRIVER, V12 "4.2.4"),
	DIAG_DEF(MMIO_PAGE_SIZE, DRIVER, V12 "4.2.4"),
	DIAG_DEF(PCI_CFG, DRIVER, ""),                   /* PCI spec, configuration mechanism #1 */
	DIAG_DEF(PCI_BAR, DRIVER, ""),                   /* PCI spec, BAR placement */
	DIAG_DEF(MSIX_TABLE, DRIVER, ""),                /* PCI spec, MSI-X table access */
	DIAG_DEF(IO_UNMAPPED, DRIVER, ""),
	/* console */
	DIAG_DEF(CONSOLE_CTRL, DRIVER, V12 "5.3.6.2"),   /* multiport device operation */
	DIAG_DEF(CONSOLE_BUFFER, DRIVER, V12 "5.3.6.1"), /* buffer directions */
	DIAG_DEF(NET_TX, DRIVER, V12 "5.1.6.2"),         /* packet transmission */
	DIAG_DEF(NET_RX_BUFFER, DRIVER, V12 "5.1.6.3"),  /* setting up receive buffers */
	DIAG_DEF(NET_CTRL, DRIVER, V12 "5.1.6.5"),       /* control virtqueue */
	DIAG_DEF(VMMCI_CMD, DRIVER, ""),                 /* OpenBSD vmmci(4) / vmd(8) */
	DIAG_DEF(BALLOON_PFN, DRIVER, V12 "5.5.6.1"),    /* balloon device operation */
	DIAG_DEF(BALLOON_STATS, DRIVER, V12 "5.5.6.3.1"),/* memory statistics */
	DIAG_DEF(BALLOON_HINT, DRIVER, V12 "5.5.6.4.1"), /* free page hinting */
	DIAG_DEF(REQ_MALFORMED, DRIVER, ""),             /* the device type's request rules */
	DIAG_DEF(SCSI_REQUEST, DRIVER, V12 "5.6.6"),     /* scsi device operation */
	DIAG_DEF(SCSI_CONFIG, DRIVER, V12 "5.6.4"),      /* scsi device configuration layout */
	DIAG_DEF(HOST_EVENT, HOST, ""),
};

_Static_assert(RS_ARRAY_SIZE(diag_table) == DIAG__COUNT,
	       "diag_table must have one entry per enum diag_code");

static int diag_level;
static bool diag_brief;

/* Table entry for code, or NULL when code is out of range. */
static const struct diag_info *diag_info_of(enum diag_code code)
{
	return (unsigned)code < DIAG__COUNT ? &diag_table[code] : NULL;
}

/* Copy a NUL-terminated string into dst[size], truncating; src may be NULL. */
static void diag_copy(char *dst, size_t size, const char *src)
{
	size_t n = src ? strnlen(src, size - 1) : 0;

	if (n)
		memcpy(dst, src, n);
	dst[n] = '\0';
}

void diag_init(struct diag_log *log, const char *source)
{
	memset(log, 0, sizeof(*log));
	diag_copy(log->source, sizeof(log->source), source);
}

void diag_clear(struct diag_log *log)
{
	memset(log->count, 0, sizeof(log->count));
	memset(log->recent, 0, sizeof(log->recent));
	log->total = 0;
	memset(log->class_total, 0, sizeof(log->class_total));
	log->recent_head = 0;
}

void diag_set_verbosity(int level)
{
	diag_level = RS_MAX(0, RS_MIN(level, 2));
}

int diag_verbosity(void)
{
	return diag_level;
}

void diag_set_brief(bool brief)
{
	diag_brief = brief;
}

bool diag_wants_text(enum diag_code code)
{
	const struct diag_info *d = diag_info_of(code);

	return !diag_brief || diag_level > 0 || !d || d->cls == DIAG_CLASS_DEVICE;
}

const char *diag_name(enum diag_code code)
{
	const struct diag_info *d = diag_info_of(code);

	return d ? d->name : "UNKNOWN";
}

/* An out-of-range code can only come from a bug in the device stack itself. */
enum diag_class diag_class_of(enum diag_code code)
{
	const struct diag_info *d = diag_info_of(code);

	return d ? d->cls : DIAG_CLASS_DEVICE;
}

const char *diag_spec(enum diag_code code)
{
	const struct diag_info *d = diag_info_of(code);

	return d ? d->spec : "";
}

uint64_t diag_count_class(const struct diag_log *log, enum diag_class cls)
{
	/* kept by diag_report: the sum of count[] over the class's codes */
	if (!log || (unsigned)cls >= RS_ARRAY_SIZE(log->class_total))
		return 0;
	return log->class_total[cls];
}

/* An entry that was ever written has a non-empty msg (diag_report makes sure
 * of it); a cleared or zero-initialised slot has an empty one. */
const struct diag_entry *diag_last(const struct diag_log *log)
{
	const struct diag_entry *e;

	if (!log)
		return NULL;
	e = &log->recent[(log->recent_head % DIAG_KEEP + DIAG_KEEP - 1) % DIAG_KEEP];
	return e->msg[0] ? e : NULL;
}

/* Format "<spec>: <message>" into e->msg, truncating; never leaves it empty. */
static void diag_format(struct diag_entry *e, const char *spec, const char *name, const char *fmt,
			va_list ap)
{
	size_t n = 0;
	int k;

	if (spec[0]) {
		k = snprintf(e->msg, sizeof(e->msg), "%s: ", spec);
		n = k < 0 ? 0 : RS_MIN((size_t)k, sizeof(e->msg) - 1);
	}
	e->msg[n] = '\0';
	if (fmt) {
		k = vsnprintf(e->msg + n, sizeof(e->msg) - n, fmt, ap);
		if (k < 0)
			e->msg[n] = '\0';
	}
	if (!e->msg[0])
		diag_copy(e->msg, sizeof(e->msg), name);
}

/* Print one report to stderr as the verbosity level and the per-code limit allow. */
static void diag_print(const struct diag_log *log, const struct diag_entry *e, const char *name,
		       uint32_t nth)
{
	const char *src = log->source[0] ? log->source : "-";

	if (diag_level <= 0)
		return;
	/* nth == 0: out-of-range code, nothing counted, so nothing to limit by */
	if (diag_level == 1 && nth > DIAG_PRINT_LIMIT) {
		if (nth == DIAG_PRINT_LIMIT + 1)
			fprintf(stderr, "ringside: %s: %s: further reports suppressed\n", src,
				name);
		return;
	}
	fprintf(stderr, "ringside: %s: %s: %s\n", src, name, e->msg);
}

/*
 * Out-of-range codes (a bug of the caller) are stored and shown to the hook
 * under their raw number, so an oracle sees them (class DEVICE), but they are
 * not counted: count[] has no slot for them and total stays the sum of it.
 */
void diag_report(struct diag_log *log, enum diag_code code, const char *fmt, ...)
{
	const struct diag_info *d = diag_info_of(code);
	const char *name = d ? d->name : "UNKNOWN";
	struct diag_entry *e;
	uint32_t nth = 0;
	va_list ap;

	if (!log)
		return;
	e = &log->recent[log->recent_head % DIAG_KEEP];
	log->recent_head = (log->recent_head % DIAG_KEEP + 1) % DIAG_KEEP;
	e->code = code;
	memcpy(e->source, log->source, sizeof(e->source));
	e->source[sizeof(e->source) - 1] = '\0';
	if (!diag_wants_text(code)) {
		diag_copy(e->msg, sizeof(e->msg), name);
	} else {
		va_start(ap, fmt);
		diag_format(e, d ? d->spec : "", name, fmt, ap);
		va_end(ap);
	}

	if (d) {
		/* saturate: a hostile guest may report more than 2^32 times */
		if (log->count[code] != UINT32_MAX) {
			log->count[code]++;
			log->class_total[d->cls]++;
		}
		nth = log->count[code];
		log->total++;
	}
	diag_print(log, e, name, nth);
	if (log->hook)
		log->hook(log->hook_ctx, e);
}
