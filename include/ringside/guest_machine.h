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

/*
 * The driver interfaces through which device i of m can be reached: a
 * transitional PCI device twice (modern first, then legacy), any other
 * once. Fills out[] (room for 2) and returns how many. *pci is set to the
 * scan entry of the device's slot among pci[0..npci) (NULL for MMIO
 * devices or when the scan did not find it).
 */
unsigned gdrv_machine_ifaces(const struct machine *m, unsigned i,
			     const struct gdrv_pci_info *pci, unsigned npci,
			     enum gdrv_transport out[2], const struct gdrv_pci_info **found);

/*
 * Open device i of m with the driver d over its transport: MMIO at its base,
 * PCI through the slot's scan entry, using the legacy interface when
 * use_legacy. *info (may be NULL) receives the PCI scan entry (zeroed for
 * MMIO). Returns 0, or -1 when the device is not found or the interface is
 * absent.
 */
int gdrv_machine_open(struct gdrv_dev *d, const struct gdrv_io *io, struct gdrv_mem *mem,
		      const struct machine *m, unsigned i, bool use_legacy,
		      struct gdrv_pci_info *info);

#endif
