/*
 * ringside — transports: a device core (struct vdev) exposed on a machine
 * through virtio-pci (legacy 0.9.5, modern 1.x, transitional) or
 * virtio-mmio (version 1 legacy, version 2).
 *
 * Each create call validates its options, maps the transport's registers
 * into the machine's address maps, binds itself to the vdev (interrupt
 * delivery) and registers its teardown with machine_add_part(). Transports
 * validate every guest-chosen index (queue select, notify value, feature
 * page, MSI-X vector) before the device core sees it.
 */
#ifndef RINGSIDE_TRANSPORT_H
#define RINGSIDE_TRANSPORT_H

#include "ringside/machine.h"
#include "ringside/vdev.h"

enum vpci_mode {
	VPCI_LEGACY = 0,       /* I/O BAR 0 with the 0.9.5 register layout only */
	VPCI_MODERN = 1,       /* vendor capabilities, memory BAR, device ID 0x1040+id */
	VPCI_TRANSITIONAL = 2, /* both: I/O BAR 0 legacy + modern capabilities */
};

struct vpci_opts {
	enum vpci_mode mode;
	int slot;              /* 1..31, or -1 for the first free slot */
	int gsi;               /* INTx GSI, -1: default (16 + slot % 8) */
	bool msix;             /* MSI-X capability */
	unsigned vectors;      /* MSI-X table size, 0: nqueues + 1 */
	uint64_t disable;      /* generic feature bits not to offer */
};

/* Layout of the modern memory BAR (BAR 4, 64-bit), offsets inside it. */
#define VPCI_BAR_COMMON 0x0000
#define VPCI_BAR_ISR 0x1000
#define VPCI_BAR_DEVICE 0x2000
#define VPCI_BAR_NOTIFY 0x3000
#define VPCI_NOTIFY_MULT 4
#define VPCI_BAR_SIZE 0x4000
/* MSI-X table and PBA live in BAR 1 (32-bit memory). */
#define VPCI_MSIX_BAR 1
#define VPCI_MSIX_TABLE_OFF 0x000
#define VPCI_MSIX_PBA_OFF 0x800
#define VPCI_MSIX_BAR_SIZE 0x1000
#define VPCI_MSIX_MAX_VECTORS 64
#define VPCI_MODERN_BAR 4
#define VPCI_LEGACY_BAR 0

/*
 * Expose d over virtio-pci on m. Returns the slot (>= 1), or -errno with a
 * one-line message in err (-EEXIST slot taken or the BAR addresses firmware
 * would assign are already mapped, -ENOSPC no slot, BAR space or machine
 * part left, -EINVAL bad options or a device the mode cannot express,
 * -ENOMEM). BARs are placed and decode enabled as firmware would; the guest
 * may move them. With MSI-X enabled, an event whose vector is NO_VECTOR
 * raises no interrupt (virtio-v1.2 4.1.5.3/4.1.5.4); without it, INTx.
 */
int vpci_create(struct machine *m, struct vdev *d, const struct vpci_opts *o, char *err,
		size_t errlen);

struct vmmio_opts {
	unsigned version;      /* 1 (legacy) or 2 */
	uint64_t base;         /* 0: next free slot in the virtio-mmio window */
	int gsi;               /* -1: default (5 + index) */
	uint64_t disable;      /* generic feature bits not to offer */
};

/*
 * Expose d over virtio-mmio on m (VIRTIO_MMIO_SIZE bytes at base). Returns 0
 * or -errno with a one-line message in err (-EEXIST overlap, -EINVAL bad
 * version or misaligned base, -ENOMEM). *base_out (may be NULL) receives the
 * base and *gsi_out (may be NULL) the GSI used.
 */
int vmmio_create(struct machine *m, struct vdev *d, const struct vmmio_opts *o,
		 uint64_t *base_out, unsigned *gsi_out, char *err, size_t errlen);

#endif
