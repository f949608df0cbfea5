/*
 * ringside — top-level API: build a whole machine from a machine spec.
 */
#ifndef RINGSIDE_RINGSIDE_H
#define RINGSIDE_RINGSIDE_H

#include "ringside/machine.h"
#include "ringside/mspec.h"
#include "ringside/transport.h"
#include "ringside/vdev.h"

/* The device table: every model a machine spec can name, in one explicit
 * static list (no constructor registration). NULL-terminated. */
extern const struct vdev_ops *const rs_devices[];

/* Model by machine-spec name, or NULL. */
const struct vdev_ops *rs_device_find(const char *name);

/*
 * Build a machine from spec text: parse, create every device and its
 * transport, record the canonical spec in m->spec. Returns 0 with *out set,
 * or -errno with one line in err naming what is wrong (parse errors, unknown
 * device, device option errors, address or slot conflicts). Nothing is
 * left allocated on failure.
 */
int rs_machine_new(const char *spec, struct machine **out, char *err, size_t errlen);
void rs_machine_free(struct machine *m);

#endif
