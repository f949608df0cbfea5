/*
 * ringside — the reference driver's I/O table over an in-process machine:
 * port I/O and MMIO go to machine_pio_* / machine_mmio_*, guest memory to
 * the arena's guest-side accessors (gm_guest_read / gm_guest_write).
 */
#ifndef RINGSIDE_GUEST_MACHINE_H
#define RINGSIDE_GUEST_MACHINE_H

#include "ringside/guest.h"
#include "ringside/machine.h"

/* Fill io so the reference driver plays the guest of machine m. */
void gdrv_machine_io(struct gdrv_io *io, struct machine *m);

#endif
