/*
 * ringside — top-level API: build a whole machine from a machine spec.
 */
#ifndef RINGSIDE_RINGSIDE_H
#define RINGSIDE_RINGSIDE_H

#include "ringside/machine.h"
#include "ringside/mspec.h"
#include "ringside/transport.h"
#include "ringside/vdev.h"
#include "ringside/world.h"

/* The device table: every model a machine spec can name, in one explicit
 * static list (no constructor registration). NULL-terminated. */
extern const struct vdev_ops *const rs_devices[];

/* Model by machine-spec name, or NULL. A name starting with "test-" is
 * looked up in a separate table of test-only models (the fuzz oracles'
 * deliberately broken "test-broken", docs/oracles.md), never in rs_devices[]. */
const struct vdev_ops *rs_device_find(const char *name);

/*
 * Build a machine from spec text: parse, create every device and its
 * transport, record the canonical spec in m->spec. Returns 0 with *out set,
 * or -errno with one line in err naming what is wrong (parse errors, unknown
 * device, device option errors, address or slot conflicts). Nothing is
 * left allocated on failure.
 */
int rs_machine_new(const char *spec, struct machine **out, char *err, size_t errlen);
/* The same with a given world (record, replay, fuzz), which the machine then
 * owns (rs_machine_free destroys it; on failure the caller keeps it). */
int rs_machine_new_world(const char *spec, struct world *world, struct machine **out, char *err,
			 size_t errlen);
/* Destroy the machine, its devices and its world. NULL is fine. */
void rs_machine_free(struct machine *m);

/* Deliver up to max queued host events (world_next_event) to their devices'
 * host_event ops. Returns the number delivered. Events naming no device are
 * reported on m->log and dropped. */
int rs_machine_poll_events(struct machine *m, unsigned max);

#endif
