/*
 * ringside — recording and replaying a machine's device boundary.
 *
 * Recording: a recorder wraps a machine built from a spec. The VMM (KVM or
 * Unicorn, replay/kvm and replay/unicorn) sends every guest port-I/O and
 * MMIO exit through rec_pio_* / rec_mmio_*, which call the machine's entry
 * points and log the access; the recorder's arena tap logs every device DMA
 * (with the bytes), its interrupt sink logs INTx and MSI (and forwards them
 * to the VMM's own sink), and its world tap logs every world input.
 *
 * Replay: the replayer builds the machine from the trace header, installs
 * the arena's replay source (a device read is served the recorded bytes; a
 * read at another address or length is a divergence) and a replay world
 * (serves recorded inputs), drives every recorded access through the same
 * machine entry points, and checks every output — read values, DMA writes,
 * interrupts, checkpoints — against the recording. No guest CPU.
 */
#ifndef RINGSIDE_REPLAY_H
#define RINGSIDE_REPLAY_H

#include "ringside/machine.h"
#include "ringside/trace.h"

struct recorder;
struct world;

/*
 * Start recording machine m (built with rs_machine_new_world from h's
 * machine spec) into w. Installs taps on m's arena, world and interrupt
 * sink; the previous interrupt sink keeps receiving every interrupt.
 * Returns NULL on allocation failure.
 */
struct recorder *recorder_new(struct machine *m, struct trace_writer *w);

/*
 * Build the machine to record from spec with world (NULL: a live world; the
 * machine owns it either way on success) and fill *h for trace_writer_open:
 * version, the canonical machine spec, recorder (e.g. "kvm"), the build
 * identity, and as initial world state every world input the machine
 * consumed while it was built (e.g. each blk image's size), which a replay
 * serves back while it builds its machine (format: docs/trace-format.md).
 * Returns 0, or -errno with one line in err (nothing allocated; a world
 * passed in stays the caller's). Release h with rec_header_release.
 */
int rec_machine_new(const char *spec, struct world *world, const char *recorder,
		    struct machine **out, struct trace_header *h, char *err, size_t errlen);
/* Free what rec_machine_new put in h (the world blob). NULL is fine. */
void rec_header_release(struct trace_header *h);

/* The VMM's exits. Each calls the machine entry point and records it. */
uint64_t rec_pio_read(struct recorder *r, uint16_t port, unsigned size);
void rec_pio_write(struct recorder *r, uint16_t port, unsigned size, uint64_t val);
uint64_t rec_mmio_read(struct recorder *r, uint64_t gpa, unsigned size);
void rec_mmio_write(struct recorder *r, uint64_t gpa, unsigned size, uint64_t val);

/* Record a checkpoint (vdev_state_hash of every device). */
void rec_checkpoint(struct recorder *r);

/* Flush the current frame if 100 ms passed since the last flush (call from
 * the VMM loop); and the first error the recorder hit, if any (0 / -1). */
int rec_tick(struct recorder *r, struct trace_error *err);

/* Detach from the machine (restoring its taps and sink) and free. Does not
 * close the writer. Returns the number of events recorded. */
uint64_t recorder_free(struct recorder *r);

struct replay_opts {
	bool keep_going;        /* --continue: count all divergences */
	unsigned context;       /* events shown before a divergence (0: the default,
				 * 8; at most 64) */
	bool quiet;             /* no progress bar (it is only ever drawn on stderr
				 * when stderr is a terminal) */
};

struct replay_result {
	uint64_t events;        /* events replayed */
	uint64_t divergences;
	uint64_t first_divergence;   /* event index, valid if divergences > 0 */
	char report[4096];      /* first divergence: expected, got, context */
	struct trace_error err; /* trace damage, if any */
	uint64_t digest;        /* hash of every output the replayed devices produced
				 * and of their final state (docs/replay.md): equal
				 * across runs, compilers and flags */
};

/*
 * Replay the trace at path. Returns 0 when it replayed with no divergence,
 * 1 on divergence (res->report says where and what; res->err is also set
 * when the trace turned out damaged after it), -1 when the trace could not
 * be read (res->err; every intact event before the damage was replayed and
 * compared).
 */
int replay_file(const char *path, const struct replay_opts *o, struct replay_result *res);
/* The same for a trace of len bytes at buf. */
int replay_mem(const void *buf, size_t len, const struct replay_opts *o, struct replay_result *res);

/*
 * Step by step, for stand-alone reproducers (`ringside convert --to c`):
 * replayer_open_mem builds the trace's machine with the replay source, world
 * and interrupt sink installed (NULL with res->err on failure);
 * replayer_machine is that machine; replayer_next takes the next top-level
 * event, which must be number index: 1 when it is an access, which the
 * caller then performs on the machine (machine_pio_* / machine_mmio_*) and
 * finishes with replayer_access_done(value read, 0 for a write); 0 when it
 * was a host event or a checkpoint, performed by replayer_next; -1 at the
 * end, on damage or when the trace is not at index. replayer_close frees
 * everything and returns as replay_file.
 */
struct replayer;
struct replayer *replayer_open_mem(const void *buf, size_t len, const struct replay_opts *o,
				   struct replay_result *res);
struct machine *replayer_machine(struct replayer *rp);
int replayer_next(struct replayer *rp, uint64_t index);
void replayer_access_done(struct replayer *rp, uint64_t value);
int replayer_close(struct replayer *rp);

#endif
