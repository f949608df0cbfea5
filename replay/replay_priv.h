/*
 * ringside — recorder and replayer internals shared by recorder.c,
 * replayer.c, replay_source.c, replay_world.c, minimize.c, convert.c and
 * their tests. How the recorder maps what it sees onto trace events is
 * documented in docs/trace-format.md (section "What the recorder writes")
 * and docs/replay.md.
 */
#ifndef RINGSIDE_REPLAY_PRIV_H
#define RINGSIDE_REPLAY_PRIV_H

#include <unistd.h>

#include "ringside/replay.h"
#include "ringside/ringside.h"
#include "ringside/world.h"

/* ---- how world inputs become TEV_WORLD events ---------------------------------------
 *
 * kind, bits 0-7: enum world_input. For WIN_IO bits 8-15 hold the enum
 * world_io_op; bit 16 (REC_WK_CONT) marks a continuation event carrying the
 * next TRACE_MAX_DATA bytes of the previous WIN_IO event's data (only a read
 * of more than TRACE_MAX_DATA bytes has them). The other fields:
 *   WIN_ENTROPY  dev: device; size: bytes asked for; value: 0 or -errno;
 *                data: the bytes (none on error)
 *   WIN_CLOCK    addr: enum world_clock; value: ns
 *   WIN_IO       dev: device (req->dev); addr: offset; size: length asked
 *                for (UINT32_MAX when above); value: result (bytes, size or
 *                -errno); data: the bytes read (WIO_READ), else none
 *   WIN_EVENT    dev: device; addr: enum world_event_kind; size: port;
 *                value: arg; data: the event's data
 */
#define REC_WK_INPUT_MASK 0xffu
#define REC_WK_OP_SHIFT 8
#define REC_WK_CONT 0x10000u

static inline uint32_t rec_wk_io(enum world_io_op op)
{
	return (uint32_t)WIN_IO | (uint32_t)op << REC_WK_OP_SHIFT;
}

/* True for the event types that start a group in a trace: an access, a
 * host event delivery or a checkpoint. Every other event was caused by the
 * group it follows. */
static inline bool rec_is_top(const struct trace_event *ev)
{
	switch (ev->type) {
	case TEV_PIO_READ:
	case TEV_PIO_WRITE:
	case TEV_MMIO_READ:
	case TEV_MMIO_WRITE:
	case TEV_PCI_CFG_READ:
	case TEV_PCI_CFG_WRITE:
	case TEV_CHECKPOINT:
		return true;
	case TEV_WORLD:
		return (ev->kind & REC_WK_INPUT_MASK) == WIN_EVENT && !(ev->kind & REC_WK_CONT);
	default:
		return false;
	}
}

static inline bool rec_is_access(enum trace_ev t)
{
	return t >= TEV_PIO_READ && t <= TEV_PCI_CFG_WRITE;
}

static inline bool rec_is_read(enum trace_ev t)
{
	return t == TEV_PIO_READ || t == TEV_MMIO_READ || t == TEV_PCI_CFG_READ;
}

/* ---- initial world state (trace header's world blob) --------------------------------
 *
 * The world inputs a machine consumed while it was built (rs_machine_new_world:
 * e.g. every blk image's WIO_SIZE), in order. Little-endian:
 *   0  "RSWI"   4  u16 version (1)   6  u16 0   8  u32 count
 *   then count entries of REC_WB_ENTRY bytes plus their data:
 *   0 u8 input (enum world_input)  1 u8 op or clock  2 u16 0  4 u32 dev
 *   8 u64 offset  16 u64 length asked for  24 u64 value  32 u32 data length
 *   36 data
 */
#define REC_WB_MAGIC "RSWI"
#define REC_WB_HDR 12
#define REC_WB_ENTRY 36
#define REC_WB_MAX_ENTRIES 4096

struct rec_wb_entry {
	enum world_input input;
	uint8_t sub;             /* WIN_IO: op; WIN_CLOCK: clock */
	uint32_t dev;
	uint64_t off, len;
	uint64_t value;
	uint32_t data_len;
	const uint8_t *data;     /* into the blob */
};

/* Parse a blob into at most max entries. Returns the entry count or -1 with a
 * reason in why (never reads outside [blob, blob+len)). len 0 is 0 entries. */
long rec_wb_parse(const uint8_t *blob, size_t len, struct rec_wb_entry *out, size_t max,
		  const char **why);

/* ---- the replayer ------------------------------------------------------------------- */

/* Where replayed events come from: a trace reader or an in-memory list. next
 * returns 1 with *ev (data valid until the next call), 0 at the end, -1 with
 * *err on damage. */
struct rp_events {
	int (*next)(void *ctx, struct trace_event *ev, struct trace_error *err);
	void *ctx;
};

/* Kinds of divergence, for reports and for minimize's signature. */
enum rp_div {
	RP_DIV_NONE = 0,
	RP_DIV_VALUE,       /* a read returned another value */
	RP_DIV_DMA_READ,    /* a device read at another address or length */
	RP_DIV_DMA_WRITE,   /* a device write at another place or with other bytes */
	RP_DIV_IRQ,         /* an INTx level change differs */
	RP_DIV_MSI,         /* an MSI message differs */
	RP_DIV_WORLD,       /* a world request differs */
	RP_DIV_EXTRA,       /* the device did something the trace does not have */
	RP_DIV_MISSING,     /* the trace has an output the device did not produce */
	RP_DIV_CHECKPOINT,  /* a device's state hash differs */
	RP_DIV_STRAY,       /* a caused event outside any group (a malformed trace) */
	RP_DIV_BUILD,       /* the machine's creation-time inputs differ */
	RP_DIV__COUNT
};

const char *rp_div_name(enum rp_div d);

/* What a divergence is, independent of where: minimize keeps a candidate
 * when its first divergence has the same signature. */
struct rp_sig {
	enum rp_div kind;
	enum trace_ev type;     /* the recorded event involved (0: none) */
	uint64_t addr;
	uint32_t size;
	enum trace_ev group;    /* type of the group's top-level event */
	uint64_t group_addr;
	uint64_t what;          /* hash of the replayed side's description */
};

#define RP_CTX_MAX 64
#define RP_CTX_DATA 16

/* One event remembered for the "last events" of a report. */
struct rp_ctx_ev {
	uint64_t index;
	struct trace_event ev;  /* data points at bytes[] when shown */
	uint8_t bytes[RP_CTX_DATA];
};

struct replay_world;

struct rp {
	struct machine *m;
	struct rp_events src;
	struct replay_opts opts;
	struct replay_result *res;
	struct world *world;        /* the replay world (owned by m) */

	/* the event stream: cur is the next event not consumed yet */
	struct trace_event cur;
	int have;                   /* 1: cur valid; 0: end; -1: damage (res->err) */
	uint64_t idx;               /* index of cur */
	uint64_t total;             /* events in the trace, 0 when unknown */

	/* the group being replayed */
	bool in_group;
	bool group_diverged;
	uint64_t group_idx;
	struct trace_event group_ev; /* the top-level event (no data) */

	/* an access handed out by rp_step and not finished yet */
	bool access_open;

	/* a host event being delivered (the replay world hands it out) */
	bool event_pending;
	struct world_event pending;
	uint8_t *event_data;        /* WORLD_EVENT_MAX_DATA bytes */

	/* the first divergence */
	struct rp_sig sig;
	bool report_done;

	/* context: the last events consumed */
	struct rp_ctx_ev ring[RP_CTX_MAX];
	uint64_t ring_n;

	/* digest of every output (see docs/replay.md) */
	uint64_t digest;
	uint64_t steps;             /* top-level events taken (progress pacing) */
	double t_last_progress;
	bool progress_shown;
};

/* Set up p over machine m (built with p->world), events from src. Reads the
 * first event. */
void rp_init(struct rp *p, struct machine *m, struct world *world, struct rp_events src,
	     const struct replay_opts *o, struct replay_result *res);

/*
 * Take the next top-level event. index, when not UINT64_MAX, must be its
 * index (stand-alone reproducers check they are in step). An access is
 * returned in *acc (1): the caller performs it and calls rp_access_done; a
 * host event or a checkpoint is performed here (0). Returns -1 at the end of
 * the trace, on damage, or when the trace is not at index.
 */
int rp_step(struct rp *p, uint64_t index, struct trace_event *acc);
/* Finish the access rp_step handed out; value is what a read returned. */
void rp_access_done(struct rp *p, uint64_t value);
/* Perform a recorded access on the machine (the entry points). */
uint64_t rp_perform(struct machine *m, const struct trace_event *acc);
/* After the last step: the final digest, the report's tail. Returns 0 (clean),
 * 1 (divergence) or -1 (damage). */
int rp_finish(struct rp *p);
/* Free what rp_init allocated (not the machine). */
void rp_fini(struct rp *p);

/* The next event caused by the current group, or NULL when the group has no
 * more (the next event is top-level, the trace ended or is damaged). */
const struct trace_event *rp_peek(struct rp *p);
/* Consume cur (it goes to the context ring). */
void rp_consume(struct rp *p);
/* Record a divergence: what was expected (may be NULL: nothing recorded) and
 * what happened (printf). Counts once per group; the first is reported. */
void rp_diverge(struct rp *p, enum rp_div kind, const struct trace_event *expected,
		const char *fmt, ...) RS_PRINTF(4, 5);
/* Mix v into the output digest. */
void rp_mix(struct rp *p, uint64_t v);
void rp_mix_bytes(struct rp *p, const void *buf, size_t len);

/* The replay world: serves recorded inputs (see replay_world.c). Creation-time
 * inputs come from the header's world blob (entries parsed from it, which
 * must stay valid while the machine is built). */
struct world *rp_world_new(const struct rec_wb_entry *wb, size_t nwb);
/* Switch from the creation phase to serving p's trace. Returns the number of
 * creation-time mismatches (and leftovers) and describes the first in msg. */
unsigned rp_world_attach(struct world *w, struct rp *p, char *msg, size_t msglen);

/* The arena's replay source (replay_source.c); ctx is the struct rp. */
extern const struct gm_source_ops rp_source_ops;

/*
 * Build the replay of a trace: header checks, machine with a replay world,
 * replay source and interrupt sink. Returns 0, or -1 with res->err filled
 * (TRACE_E_HEADER for a spec the machine builder refuses).
 */
int rp_open(struct rp *p, const struct trace_header *h, struct rp_events src,
	    const struct replay_opts *o, struct replay_result *res);
/* Tear down what rp_open built. */
void rp_close(struct rp *p);

/* Replay every event of src against header h (the core of replay_file,
 * minimize and the tests). Returns as replay_file; *sig gets the first
 * divergence's signature when sig is not NULL. */
int rp_replay(const struct trace_header *h, struct rp_events src, const struct replay_opts *o,
	      struct replay_result *res, struct rp_sig *sig);

/* An in-memory event list (minimize, convert, tests). */
struct rp_list {
	struct trace_event *ev;
	size_t n, cap;
	uint8_t **chunks;       /* data copies */
	size_t nchunks, chunk_cap;
	size_t chunk_used;      /* bytes used in the last chunk */
	size_t chunk_size;
};

/* Append a copy of ev (its data copied). 0 or -ENOMEM. */
int rp_list_add(struct rp_list *l, const struct trace_event *ev);
void rp_list_free(struct rp_list *l);
/* Read a whole trace into l (and a copy of its header into h, whose world
 * blob the caller frees). 0, or -1 with err. */
int rp_list_load(const char *path, struct rp_list *l, struct trace_header *h,
		 struct trace_error *err);
/* Events of l in order, selecting the ones keep[i] is true for (keep NULL:
 * all). */
struct rp_list_cursor {
	const struct rp_list *l;
	const bool *keep;
	size_t i;
};
struct rp_events rp_list_events(struct rp_list_cursor *c, const struct rp_list *l,
				const bool *keep);
/* Write the selected events of l under header h to path. 0 or -1 with err. */
int rp_list_write(const char *path, const struct trace_header *h, const struct rp_list *l,
		  const bool *keep, struct trace_error *err);

/* Events of a trace reader. */
struct rp_events rp_reader_events(struct trace_reader *r);

/* Cut a frame after every event, so a process killed at any point leaves
 * every event written before it in the file (converting crash inputs). */
void rec_set_sync(struct recorder *r, bool on);

/* _exit for forked children (minimize, convert). In coverage builds the
 * child's profile is written first: _exit skips the atexit handler that
 * would write it, and exit would run the parent's handlers (a sanitizer's
 * leak check among them) in the child. */
extern int __llvm_profile_write_file(void) __attribute__((weak));
__attribute__((noreturn)) static inline void rp_child_exit(int status)
{
	if (__llvm_profile_write_file)
		(void)__llvm_profile_write_file();
	_exit(status);
}

/* "ringside <version> <compiler> <version>" for trace headers. */
void rec_build_id(char *buf, size_t len);

/* ---- minimize (minimize.c) ---------------------------------------------------------- */

enum min_keep {
	MIN_KEEP_DIVERGENCE = 0,  /* the first divergence (its signature) */
	MIN_KEEP_CRASH = 1,       /* the replay's crash: signal or abnormal exit, same group */
};

/* A crash-mode run of a candidate, in a child process. It replays the
 * selected events and reports the top-level event about to run through
 * *cur (shared with the parent). Tests install their own. */
typedef void (*min_child_fn)(void *ctx, const struct trace_header *h, const struct rp_list *l,
			     const bool *keep, volatile struct trace_event *cur);

struct min_opts {
	enum min_keep keep;
	unsigned max_runs;        /* candidates tried at most; 0: 20000 */
	unsigned timeout_s;       /* crash mode: a run killed after this; 0: 60 */
	bool quiet;               /* no progress line on stderr */
	min_child_fn child;       /* crash mode; NULL: replay */
	void *child_ctx;
};

struct min_result {
	uint64_t events_in, events_out;
	uint64_t groups_in, groups_out;
	unsigned runs;
	bool exhausted;           /* max_runs reached before ddmin finished */
	char signature[240];      /* what was kept, one line */
};

/*
 * Delta debugging (ddmin) over the groups of the trace at in (a top-level
 * event with the events it caused stays together), keeping the first
 * divergence (same kind, recorded event and replayed output) or the crash
 * (same signal or exit status, in the same kind of access). Writes the
 * smallest trace found to out (a valid trace, same header). Returns 0, or
 * -1 with one line in err (unreadable input, nothing to keep, out not
 * writable).
 */
int minimize_file(const char *in, const char *out, const struct min_opts *o,
		  struct min_result *r, char *err, size_t errlen);

/* ---- converters (convert.c, library ringside_replay_tools) ---------------------------- */

struct conv_result {
	uint64_t events;          /* trace events read or written */
	uint64_t ops;             /* op records written or run */
	uint64_t data_bytes;      /* op stream data bytes */
	uint64_t lossy;           /* inputs an op stream cannot carry exactly (clocks,
				   * backend errors, entropy failures, long events) */
	uint64_t unrecorded;      /* ops run past the recorder (see convert_ops_to_trace) */
	bool crashed;             /* the input killed the converting child */
	int crash_signal;         /* its signal, or 0 with crash_status */
	int crash_status;
	char target[64];          /* fuzz target whose machine the trace has, "" if none */
};

/*
 * Trace -> fuzz op stream (docs/op-stream.md): every access becomes an
 * IO_RAW op, the guest memory the devices read a MEM_WRITE before the access
 * (bytes not already in place), host events WORLD_EVENT ops, recorded clocks
 * WORLD_CLOCK advances, and entropy and backend read data the data stream in
 * the order the fuzz world takes it. The result replays the session on the
 * fuzz target whose machine the trace has (r->target). 0, or -1 with err.
 */
int convert_trace_to_ops(const char *in, const char *out, struct conv_result *r, char *err,
			 size_t errlen);

/*
 * Op stream (e.g. a fuzzer's crash input) -> trace: the input is run on the
 * machine of fuzz target `target` ("blk_pci_modern", "machine", ...) by the
 * fuzz executor, in a child process, with the recorder in front of the
 * machine (a frame per event, so a crash leaves every event before it).
 * Register ops the executor performs without going through its I/O table
 * (REG_*, CFG_*, forced KICK) are run but cannot be recorded: counted in
 * r->unrecorded. 0 (also when the input crashed: r->crashed, the trace ends
 * at the crash), or -1 with err.
 */
int convert_ops_to_trace(const char *in, const char *target, const char *out,
			 struct conv_result *r, char *err, size_t errlen);

/* A recording killed mid-way left out.tmp: write every event of its complete
 * frames to out (indexed) and remove out.tmp. 0, or -1 with err. */
int convert_salvage(const char *out, uint64_t *events, char *err, size_t errlen);

/*
 * Trace -> a stand-alone C program that builds against the library
 * (ringside/replay.h) and replays the trace, embedded, one top-level event
 * per line: every access is a machine_pio_* / machine_mmio_* call with the
 * recorded address, size and value, so a debugger can stop at any of them.
 * 0, or -1 with err.
 */
int convert_trace_to_c(const char *in, const char *out, struct conv_result *r, char *err,
		       size_t errlen);

#endif
