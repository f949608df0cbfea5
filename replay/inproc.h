/*
 * ringside — in-process recording: reference-driver sessions on every device
 * of a machine, played by the host program itself (no guest CPU), through
 * the recorder's access entry points. Tests, trace fixtures, the converter
 * and `ringside bench replay` use it; a recording from it replays exactly
 * like one from the KVM or Unicorn recorder.
 */
#ifndef RINGSIDE_REPLAY_INPROC_H
#define RINGSIDE_REPLAY_INPROC_H

#include "ringside/guest.h"
#include "ringside/replay.h"

struct inproc_opts {
	const char *spec;        /* machine; NULL: inproc_default_spec() */
	unsigned requests;       /* I/O requests per session; 0: 8 */
	bool no_record;          /* run the workload without a recorder (benchmarks) */
	bool checkpoints;        /* a checkpoint after every session (one at the end always) */
};

struct inproc_result {
	uint64_t events;         /* events recorded */
	uint64_t accesses;       /* register accesses made */
	unsigned sessions;       /* device sessions run */
	unsigned failed;         /* sessions that did not complete */
	double seconds;          /* host time of the workload alone */
	char failure[200];       /* the first failed session, "" when none */
};

/*
 * The default machine: every model in rs_devices[] once, spread over every
 * transport, with 32 MiB of RAM. Like snprintf: returns the length needed.
 */
size_t inproc_default_spec(char *buf, size_t len);

/*
 * Build the machine, run the workload (inproc_workload) and, unless
 * o->no_record, record it into path (trace header recorder "inproc").
 * Returns 0 (sessions that failed are counted in res, not an error), or
 * -errno with one line in err (bad spec, trace not writable: nothing left
 * at path).
 */
int inproc_run(const struct inproc_opts *o, const char *path, struct inproc_result *res,
	       char *err, size_t errlen);

/* The driver's register and memory access over machine m: through recorder
 * r (NULL: straight to the machine's entry points); guest memory through
 * the arena's guest side. */
struct inproc_io {
	struct machine *m;
	struct recorder *r;
	uint64_t accesses;
};
void inproc_gdrv_io(struct gdrv_io *io, struct inproc_io *ctx);

/*
 * The workload on machine m: for every device and every interface its
 * transport offers (transitional PCI: modern and legacy), a reference-driver
 * session (reset, negotiate, queues, MSI-X on PCI, DRIVER_OK) with I/O the
 * device understands — echo requests, rng reads, blk writes read back and a
 * flush, console output and input, net frames through the loop backend,
 * scsi INQUIRY / READ CAPACITY / WRITE / READ, a vmmci shutdown request
 * acknowledged, balloon inflate and deflate — then a reset. Host events
 * (console input, balloon target, vmmci request) are posted to the world
 * and delivered with rs_machine_poll_events between accesses. When r is
 * not NULL, checkpoints are recorded (o->checkpoints) and frames flushed.
 */
void inproc_workload(struct machine *m, struct inproc_io *ctx, const struct inproc_opts *o,
		     struct inproc_result *res);

#endif
