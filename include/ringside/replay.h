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

/*
 * Start recording machine m (built with rs_machine_new_world from h's
 * machine spec) into w. Installs taps on m's arena, world and interrupt
 * sink; the previous interrupt sink keeps receiving every interrupt.
 * Returns NULL on allocation failure.
 */
struct recorder *recorder_new(struct machine *m, struct trace_writer *w);

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
	unsigned context;       /* events shown before a divergence (default 8) */
	bool quiet;             /* no progress output */
};

struct replay_result {
	uint64_t events;        /* events replayed */
	uint64_t divergences;
	uint64_t first_divergence;   /* event index, valid if divergences > 0 */
	char report[4096];      /* first divergence: expected, got, context */
	struct trace_error err; /* trace damage, if any */
};

/*
 * Replay the trace at path. Returns 0 when it replayed with no divergence,
 * 1 on divergence (res->report says where and what), -1 when the trace
 * could not be read (res->err).
 */
int replay_file(const char *path, const struct replay_opts *o, struct replay_result *res);

#endif
