/*
 * ringside — fuzz harness internals shared by every target (harnesses/).
 *
 * One op-stream format (docs/op-stream.md) and one decoder (opstream.c);
 * the arena's fuzz source (lazy DMA, fuzz_source.c); the fuzz world
 * (fuzz_world.c); the executor that plays the ops against a machine built
 * from a machine spec, or against a bare virtqueue (exec.c, ring.c); the
 * target table (targets.c); the oracle hook points (oracles.c); and one
 * main (main.c) built three ways: libFuzzer, AFL++ persistent mode and a
 * standalone regression driver.
 *
 * Life of an input (fuzz_harness_run):
 *   fuzz_input_init -> world and source attached to the input ->
 *   oracles' begin_input -> for each op: execute, oracles' after_op ->
 *   oracles' end_input -> machine_reset (or the ring target's reset) ->
 *   oracles' after_reset -> result hash returned.
 * Nothing is allocated per input that is not freed before it returns.
 */
#ifndef RINGSIDE_HARNESS_FUZZ_H
#define RINGSIDE_HARNESS_FUZZ_H

#include <stdio.h>

#include "ringside/guest.h"
#include "ringside/ringside.h"
#include "ringside/vq.h"

/* ---- the input: op records from the front, data from the back ------------------------ */

#define FUZZ_OP_SIZE 16

/* Opcodes. Stable numbers (they appear in listings and docs); a target maps
 * byte 0 of a record onto its own op set modulo its size (fuzz_opset). */
enum fuzz_opcode {
	FOP_NONE = 0,
	/* register level: any target with a machine */
	FOP_REG_READ = 1,     /* transport register/region read, device-relative */
	FOP_REG_WRITE = 2,
	FOP_CFG_READ = 3,     /* PCI configuration space through conf1 */
	FOP_CFG_WRITE = 4,
	FOP_IO_RAW = 5,       /* port I/O or MMIO at a raw address */
	/* guest memory */
	FOP_MEM_WRITE = 6,    /* guest writes RAM (inline value or data bytes) */
	FOP_RING_WRITE = 7,   /* guest writes into a queue's ring areas */
	/* structured: the reference driver */
	FOP_DRIVER_INIT = 8,  /* reset, negotiate, queues, MSI-X, DRIVER_OK */
	FOP_SUBMIT = 9,       /* lay out a chain, make it available, kick */
	FOP_KICK = 10,
	FOP_COLLECT = 11,     /* take completions from the used ring */
	FOP_IRQ_ACK = 12,
	FOP_SET_INTERRUPTS = 13,
	FOP_RESET = 14,       /* driver writes status 0 */
	FOP_STATUS = 15,      /* driver writes a status value */
	FOP_DEVCFG = 16,      /* device config read/write through the driver */
	/* world inputs */
	FOP_WORLD_FAULT = 17, /* the next backend I/O / entropy calls fail or go short */
	FOP_WORLD_EVENT = 18, /* post a host event (rx frame, console input, ...) */
	FOP_WORLD_CLOCK = 19, /* advance the virtual clocks */
	/* the ring target (a bare virtqueue; the harness plays the device) */
	FOP_RING_SETUP = 20,
	FOP_POP = 21,
	FOP_PUSH = 22,
	FOP_PUSH_N = 23,
	FOP_NOTIFY_CHECK = 24,
	FOP_SET_NOTIFY = 25,
	FOP_RING_RESET = 26,
	FOP__COUNT
};

/* One decoded 16-byte record (layout in docs/op-stream.md). */
struct fuzz_op {
	uint8_t code;      /* enum fuzz_opcode after mapping byte 0 */
	uint8_t raw;       /* byte 0 as in the input */
	uint8_t dev;       /* byte 1: device (index modulo the machine's devices) */
	uint8_t p0, p1;    /* bytes 2, 3 */
	uint16_t p2, p3;   /* bytes 4-5, 6-7, little-endian */
	uint64_t val;      /* bytes 8-15, little-endian */
	size_t offset;     /* where the record starts in the input */
	unsigned index;    /* op number in the input, from 0 */
};

/* The op set of a target: byte 0 of a record selects ops[byte % n]. */
struct fuzz_opset {
	const uint8_t *ops;
	unsigned n;
};

extern const struct fuzz_opset fuzz_opset_device; /* device and machine targets */
extern const struct fuzz_opset fuzz_opset_ring;   /* the ring target */

struct fuzz_input {
	const uint8_t *data;
	size_t size;
	size_t front;      /* start of the next op record */
	size_t back;       /* data is handed out from [front, back), back first */
	uint64_t taken;    /* data bytes handed out from the input */
	uint64_t zeros;    /* bytes asked for after the data ran out (served as 0) */
	unsigned nops;     /* records decoded so far */
};

void fuzz_input_init(struct fuzz_input *in, const uint8_t *data, size_t size);
/* Decode the next record. Returns 1 with *op, 0 when fewer than
 * FUZZ_OP_SIZE bytes remain between front and back. */
int fuzz_next_op(struct fuzz_input *in, const struct fuzz_opset *set, struct fuzz_op *op);
/* Hand out n data bytes into dst (dst may be NULL to skip them): the last
 * unused bytes of the input, in file order; once the data is used up the
 * rest is zeroes. Returns how many came from the input. */
size_t fuzz_take(struct fuzz_input *in, void *dst, size_t n);
/* Name of an opcode ("SUBMIT"), "?" for none. */
const char *fuzz_op_name(unsigned code);
/* One line (no newline) describing op, as the executor will read it. */
void fuzz_op_format(const struct fuzz_op *op, char *buf, size_t len);
/* Print the op listing of a whole input, one op per line, to out. Data
 * that ops take from the back is not shown (it depends on execution). */
void fuzz_list(const struct fuzz_opset *set, const uint8_t *data, size_t size, FILE *out);

/* Record encoder (corpus generator, tests). */
void fuzz_op_encode(uint8_t out[FUZZ_OP_SIZE], unsigned code_byte, uint8_t dev, uint8_t p0,
		    uint8_t p1, uint16_t p2, uint16_t p3, uint64_t val);
/* The byte 0 that a target with op set `set` maps to opcode code (the first
 * one), or -1 when the set does not have it. */
int fuzz_opset_byte(const struct fuzz_opset *set, unsigned code);

/* ---- field encodings shared by decoder, executor and generator ---------------------- */

/* Access size from 2 bits: 1, 2, 4, 8. */
static inline unsigned fuzz_size4(unsigned bits)
{
	return 1u << (bits & 3);
}

/* FOP_SUBMIT p0 bits (queue in bits 0-2). */
#define FUZZ_SUB_INDIRECT 0x08   /* chain in an indirect table */
#define FUZZ_SUB_NO_KICK 0x10    /* make it available, do not notify */
#define FUZZ_SUB_FILL 0x20       /* fill readable segments from the data bytes */
#define FUZZ_SUB_COLLECT 0x40    /* collect completions after the kick */
/* FOP_SUBMIT p1: nout in bits 0-3, nin in bits 4-7; at most this many
 * segments in all (the reference driver's indirect table size). */
#define FUZZ_MAX_SEGS GDRV_MAX_INDIRECT

/* FOP_DRIVER_INIT p0 bits. */
#define FUZZ_INIT_MSIX 0x01      /* enable MSI-X (PCI with a table) */
#define FUZZ_INIT_NO_OK 0x02     /* stop before DRIVER_OK */
#define FUZZ_INIT_NO_QUEUES 0x04 /* set up no queue */

/* FOP_WORLD_FAULT p0 % 4. */
enum fuzz_fault_kind {
	FUZZ_FAULT_IO = 0,       /* backend I/O calls whose bit is set fail */
	FUZZ_FAULT_ENTROPY = 1,  /* entropy calls whose bit is set fail */
	FUZZ_FAULT_SHORT = 2,    /* READ/WRITE/SEND calls whose bit is set move half */
	FUZZ_FAULT_CLEAR = 3,
};

/* ---- the arena's fuzz source (lazy DMA) ---------------------------------------------- */

struct fuzz_source;

/* A source for arena gm (sized from gm->npages). NULL on allocation failure. */
struct fuzz_source *fuzz_source_new(struct gm *gm);
void fuzz_source_free(struct fuzz_source *s);
/* Serve untouched memory from in (NULL: untouched memory reads as zero). */
void fuzz_source_begin(struct fuzz_source *s, struct fuzz_input *in);
/* Pages with a touched-byte bitmap right now (for tests: reset cost). */
uint64_t fuzz_source_pages(const struct fuzz_source *s);
extern const struct gm_source_ops fuzz_source_ops;

/* ---- the fuzz world ----------------------------------------------------------------- */

#define FUZZ_WORLD_EVENTS 16       /* queued host events */
#define FUZZ_WORLD_EVENT_DATA 4096 /* bytes of data per queued event */
#define FUZZ_CLOCK_STEP_NS 1000    /* every clock read advances virtual time this much */
#define FUZZ_REALTIME_BASE_NS 1700000000000000000ull /* realtime = this + monotonic */

/* The fuzz world (owned by the machine it is given to). NULL on failure. */
struct world *fuzz_world_new(void);
/* True when w is a fuzz world. */
bool fuzz_world_is(const struct world *w);
/* Start an input: clocks to 0, no faults, empty queue, inputs from in.
 * in NULL (between inputs, while a machine is built): entropy reads zero,
 * backend I/O goes to the real backend. */
void fuzz_world_begin(struct world *w, struct fuzz_input *in);
void fuzz_world_fault(struct world *w, enum fuzz_fault_kind kind, uint64_t mask, int err);
void fuzz_world_advance(struct world *w, uint64_t ns);

/* ---- targets ------------------------------------------------------------------------ */

enum fuzz_kind {
	FUZZ_DEVICE = 0,   /* one device on one transport */
	FUZZ_RING = 1,     /* the virtqueue engine alone */
	FUZZ_MACHINE = 2,  /* byte 0 of the input picks a machine from a table */
};

struct fuzz_target {
	const char *name;       /* "echo_pci_modern": binary fuzz_<name>, corpus/<name>/ */
	enum fuzz_kind kind;
	const char *device;     /* FUZZ_DEVICE: model name in rs_devices[], optionally
				 * followed by ",key=value" device options (tests:
				 * the oracles' "test-broken,bug=hang") */
	const char *transport;  /* FUZZ_DEVICE: machine-spec transport ("pci-modern") */
};

/* What the harness knows about a device model, for machine specs, driver
 * init, world events, seeds and dictionaries (seeds.c: extend it when a
 * device lands). */
struct fuzz_builder;
struct fuzz_device_info {
	const char *device;      /* rs_devices[] name */
	const char *spec_opts;   /* appended to "TRANSPORT:DEVICE" (e.g. ",size=1M") */
	const char *only_transport; /* the one transport the device exists on (vmmci:
				     * "pci-legacy"), NULL: every transport; keep
				     * harnesses/targets.cmake in step */
	uint64_t features;       /* feature mask seeds ask for at driver init */
	uint32_t event_kinds;    /* bit per enum world_event_kind the device takes;
				  * 0: every kind */
	/* Seed sessions: write reference-driver sessions as ops (seeds.c). */
	void (*seeds)(struct fuzz_builder *b);
	const char *dict;        /* extra dictionary lines (libFuzzer/AFL format) */
};

/* Entry for name, or NULL (the harness then uses defaults). */
const struct fuzz_device_info *fuzz_device_info(const char *device);
extern const struct fuzz_device_info fuzz_device_table[];
extern const unsigned fuzz_device_table_len;

/* ---- executor state, visible to oracles --------------------------------------------- */

#define FUZZ_MEM_DEFAULT (8ull << 20)  /* machine RAM (env RS_FUZZ_MEM overrides) */
#define FUZZ_DRV_BASE 0x100000ull       /* reference driver rings from here... */
#define FUZZ_BUF_OFFSET 0x300000ull     /* ...chain buffers from DRV_BASE + this */
#define FUZZ_MSI_ADDR 0xfee00000ull
#define FUZZ_RECS 64                    /* submitted chains remembered per queue */
#define FUZZ_MAX_MACHINES 12

/* A chain the harness submitted (for hashing what the device wrote). */
struct fuzz_chain_rec {
	uint64_t token;
	uint64_t in_gpa;        /* first device-writable segment, 0 if none */
	uint32_t in_len;
};

/* Guest-visible regions of a device, relative to which register ops
 * address (recomputed from the BARs when the guest moves them). */
#define FUZZ_MAX_REGIONS 6
struct fuzz_region {
	bool pio;
	uint64_t base, len;
	const char *name;
};

struct fuzz_dev {
	struct vdev *vd;
	unsigned index;            /* in the machine */
	int transport;             /* enum mspec_transport */
	int slot;                  /* PCI slot or -1 */
	uint64_t mmio_base;
	struct gdrv_pci_info pci;  /* where the driver finds it now */
	struct gdrv_pci_info pci0; /* found by the scan at setup */
	uint32_t pci_key[7];       /* BAR0-5 and COMMAND when pci was last valid */
	uint32_t pci_key0[7];      /* the same for pci0, just built */
	bool found;                /* the driver can open it */
	struct gdrv_dev tmpl;      /* driver state right after open (header only) */
	struct gdrv_dev drv;       /* the reference driver, valid once opened */
	bool opened;               /* drv set up in this input */
	struct fuzz_region reg[FUZZ_MAX_REGIONS];
	unsigned nreg;
	struct fuzz_chain_rec recs[GDRV_MAX_QUEUES][FUZZ_RECS];
};

/* A window of guest RAM chain buffers come from, wrapping round. */
struct fuzz_bufs {
	uint64_t lo, hi, next;
};

struct fuzz_machine {
	struct machine *m;
	char spec[512];
	struct world *world;        /* owned by m */
	struct fuzz_source *src;
	struct gdrv_io io;
	struct gdrv_mem mem;        /* driver ring memory (reset per input) */
	struct fuzz_bufs bufs;      /* chain buffers */
	uint64_t ram_low;           /* RAM below the PCI hole */
	unsigned ndevs;
	struct fuzz_dev *devs;
	bool bars_moved;            /* a config write may have moved BARs this input */
};

struct fuzz_ring;   /* the ring target's state (ring.c) */

/* Per-input execution state. Oracles get it on every hook. */
struct fuzz_exec {
	const struct fuzz_target *target;
	struct fuzz_machine *fm;    /* machine targets: the machine of this input */
	struct fuzz_ring *ring;     /* ring target */
	struct fuzz_input in;
	struct fuzz_op op;          /* the op being (or last) executed */
	uint64_t hash;              /* result hash so far (fuzz_mix) */
	uint64_t inputs;            /* inputs run by this harness before this one */
	FILE *trace;                /* fuzz_harness_trace's stream, or NULL */
};

/* Mix a value into the result hash (FNV-1a over its 8 bytes). */
static inline void fuzz_mix(struct fuzz_exec *x, uint64_t v)
{
	for (unsigned i = 0; i < 8; i++) {
		x->hash ^= (uint8_t)(v >> (8 * i));
		x->hash *= 0x100000001b3ull;
	}
}
#define FUZZ_HASH_INIT 0xcbf29ce484222325ull

/* Executors (exec.c, ring.c): run one op. */
void fuzz_exec_op(struct fuzz_exec *x, const struct fuzz_op *op);
void fuzz_ring_op(struct fuzz_exec *x, const struct fuzz_op *op);

/* Pieces both executors use (exec.c). */
/* Take len data bytes into guest RAM at gpa, written by the guest side. */
void fuzz_guest_fill(struct fuzz_exec *x, struct gm *gm, uint64_t gpa, size_t len);
/* FOP_MEM_WRITE on an arena with ram bytes of RAM from 0. */
void fuzz_mem_write(struct fuzz_exec *x, struct gm *gm, uint64_t ram, const struct fuzz_op *op);
/* FOP_RING_WRITE: value into area p1 % 3 of the three (base, size). */
void fuzz_ring_poke(struct gm *gm, const uint64_t base[3], const uint64_t size[3],
		    const struct fuzz_op *op);
/* FOP_SUBMIT's chain: buffers from b, contents per the op, gdrv_submit
 * (no kick). Returns gdrv_submit's result. */
int fuzz_submit(struct fuzz_exec *x, struct gm *gm, struct fuzz_bufs *b, struct gdrv_vq *vq,
		struct fuzz_chain_rec *recs, const struct fuzz_op *op);
/* Take every completion of vq into the hash. */
void fuzz_collect(struct fuzz_exec *x, struct gm *gm, struct gdrv_vq *vq,
		  const struct fuzz_chain_rec *recs);

/* Machine set-up for a spec: build, attach source and world, scan PCI, open
 * every device with the driver once, reset. Returns 0 or -errno with err. */
int fuzz_machine_init(struct fuzz_machine *fm, const char *spec, char *err, size_t errlen);
void fuzz_machine_fini(struct fuzz_machine *fm);
/* Between inputs: machine_reset plus the harness's own per-input state. */
void fuzz_machine_reset(struct fuzz_machine *fm);
/* Fold the machine's end-of-input state into the hash (interrupts, diags). */
void fuzz_machine_digest(struct fuzz_exec *x);

struct fuzz_ring *fuzz_ring_new(char *err, size_t errlen);
void fuzz_ring_free(struct fuzz_ring *r);
void fuzz_ring_reset(struct fuzz_ring *r);
/* Serve lazy DMA from in (NULL: between inputs). */
void fuzz_ring_begin(struct fuzz_ring *r, struct fuzz_input *in);
void fuzz_ring_digest(struct fuzz_exec *x);
/* The ring target's arena, queue and driver-side view (for oracles). */
struct gm *fuzz_ring_gm(struct fuzz_ring *r);
struct vq *fuzz_ring_vq(struct fuzz_ring *r);

/* ---- harness ------------------------------------------------------------------------ */

struct fuzz_harness;

/* Build the target's machine(s) once. NULL with a message in err. */
struct fuzz_harness *fuzz_harness_new(const struct fuzz_target *t, char *err, size_t errlen);
/* Run one input through the target and reset. Returns its result hash: a
 * digest of every value the guest side observed (register reads,
 * completions and the bytes written into them, interrupts, diagnostics),
 * identical for identical inputs whatever ran before. */
uint64_t fuzz_harness_run(struct fuzz_harness *h, const uint8_t *data, size_t size);
void fuzz_harness_free(struct fuzz_harness *h);
const struct fuzz_opset *fuzz_harness_opset(const struct fuzz_harness *h);
/* Print every op as it executes (with the data bytes it took) to f; NULL
 * stops. For `ringside repro` and the standalone driver's -v. */
void fuzz_harness_trace(struct fuzz_harness *h, FILE *f);
/* What the last input used: ops executed, data bytes taken, bytes served
 * as zeroes after the data ran out. Any pointer may be NULL. */
void fuzz_harness_stats(const struct fuzz_harness *h, unsigned *nops, uint64_t *taken,
			uint64_t *zeros);
/* Machine specs the generic target chooses from (byte 0 of the input). */
unsigned fuzz_machine_specs(char specs[][512], unsigned max);

/* ---- oracle hook points (oracles.c) ------------------------------------------------- */

/*
 * An oracle watches executions and reports device misbehaviour with
 * fuzz_bug(). Every hook is optional. state is what attach stored.
 *   attach       once per harness, after the machines are built
 *   begin_input  after the input is attached, before the first op
 *   after_op     after every op (x->op is the op)
 *   end_input    after the last op, before the reset
 *   after_reset  after machine_reset (compare against power-on state)
 *   detach       when the harness is freed
 * Driver misbehaviour (DIAG_CLASS_DRIVER) is never a bug.
 */
struct fuzz_oracle {
	const char *name;
	int (*attach)(struct fuzz_harness *h, void **state);
	void (*begin_input)(void *state, struct fuzz_exec *x);
	void (*after_op)(void *state, struct fuzz_exec *x);
	void (*end_input)(void *state, struct fuzz_exec *x);
	void (*after_reset)(void *state, struct fuzz_exec *x);
	void (*detach)(void *state);
};

/* Every oracle, NULL-terminated (oracles.c). Env RS_FUZZ_ORACLES selects:
 * unset or "all": every one; "none": sanitizers only; else a comma list. */
extern const struct fuzz_oracle *const fuzz_oracles[];

/* Report a bug found by an oracle: prints the oracle, the message, the op
 * being executed and the input's op listing to stderr, then aborts (so
 * every fuzzer sees a crash). */
void fuzz_bug(const struct fuzz_exec *x, const char *oracle, const char *fmt, ...)
	RS_PRINTF(3, 4);

/* Attach one more oracle to a harness (tests of oracles use it with
 * RS_FUZZ_ORACLES=none). Returns 0, -ENOSPC, or -EINVAL when its attach
 * failed. */
int fuzz_harness_add_oracle(struct fuzz_harness *h, const struct fuzz_oracle *o);

/* Attach every oracle of a NULL-terminated table that sel selects (sel as
 * RS_FUZZ_ORACLES: NULL, "" or "all": all; "none": none; else a comma list
 * of names). Returns 0 or the first failure of fuzz_harness_add_oracle. */
int fuzz_harness_add_oracles(struct fuzz_harness *h, const struct fuzz_oracle *const *table,
			     const char *sel);
/* True when selection sel picks the oracle called name. */
bool fuzz_oracle_selected(const char *sel, const char *name);

/* The machines of a harness (oracles iterate them at attach). */
unsigned fuzz_harness_machines(struct fuzz_harness *h, struct fuzz_machine **out, unsigned max);
const struct fuzz_target *fuzz_harness_target(const struct fuzz_harness *h);

/* ---- seed builder (seeds.c, corpus_gen.c) ------------------------------------------ */

#define FUZZ_BUILD_MAX (64u << 10)

/* Builds one input: op records grow from the front, data from the back in
 * the order the executor takes it. */
struct fuzz_builder {
	const struct fuzz_opset *set;
	int prefix;                 /* byte put before the ops (machine target), -1: none */
	const struct fuzz_device_info *info;
	unsigned ndevs;             /* devices in the machine */
	unsigned dev;               /* device the session drives */
	uint16_t nqueues;           /* queues of that device */
	uint32_t cfg_size;          /* bytes of its config space */
	uint8_t ops[FUZZ_BUILD_MAX];
	size_t nops_bytes;
	uint8_t data[FUZZ_BUILD_MAX];
	size_t ndata;               /* data[0..ndata) in consumption order */
	uint32_t block[1024];       /* lengths of the data blocks, in that order */
	unsigned nblocks;
	bool overflow;
	/* output: a seed is finished with fb_emit */
	void (*emit)(void *ctx, const char *name, const uint8_t *buf, size_t len);
	void *emit_ctx;
};

void fb_reset(struct fuzz_builder *b);
void fb_op(struct fuzz_builder *b, unsigned code, uint8_t dev, uint8_t p0, uint8_t p1,
	   uint16_t p2, uint16_t p3, uint64_t val);
void fb_data(struct fuzz_builder *b, const void *data, size_t len);
/* Driver init of the session's device with its table features. */
void fb_init(struct fuzz_builder *b, uint64_t features, uint16_t qsize, uint8_t flags);
/* A chain: nout readable segments (lens, contents: the first `fill`
 * bytes of out, rest zero), nin writable ones; submit, kick, collect. */
void fb_chain(struct fuzz_builder *b, unsigned q, const uint32_t *out_lens, unsigned nout,
	      const uint32_t *in_lens, unsigned nin, const void *out, size_t fill, uint8_t flags);
/* Finish: the input is the prefix byte (if any), the ops, then the data
 * blocks last-taken first (data is taken from the back). fb_emit hands the
 * input to b->emit under name and starts a new one; fb_finish writes it to
 * out and returns its length (0 when it does not fit). */
void fb_emit(struct fuzz_builder *b, const char *name);
size_t fb_finish(struct fuzz_builder *b, uint8_t *out, size_t cap);
/* Every seed session for b's device: the generic ones (init, packed,
 * MSI-X and reset, register probe, host events) and the device's own. */
void fuzz_seed_sessions(struct fuzz_builder *b);

#endif
