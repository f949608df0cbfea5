/*
 * ringside — machine spec: the one-line description of a machine, e.g.
 *   mem=64M pci:blk,size=8M mmio:rng pci-legacy:net
 * parsed into a struct with one clear error line for every mistake, and
 * printed back in canonical form (stored in every trace header). The syntax
 * is documented in docs/machine-spec.md.
 */
#ifndef RINGSIDE_MSPEC_H
#define RINGSIDE_MSPEC_H

#include "ringside/base.h"
#include "ringside/vdev.h"

enum mspec_transport {
	MSPEC_PCI = 0,        /* "pci": transitional (legacy + modern), as QEMU's default */
	MSPEC_PCI_MODERN,     /* "pci-modern": virtio 1.x only */
	MSPEC_PCI_LEGACY,     /* "pci-legacy": virtio 0.9.5 I/O BAR only */
	MSPEC_MMIO,           /* "mmio": virtio-mmio version 2 */
	MSPEC_MMIO_LEGACY,    /* "mmio-legacy": virtio-mmio version 1 */
	MSPEC__COUNT
};

/* "pci", "pci-modern", ...; NULL for a value outside the enum. */
const char *mspec_transport_name(enum mspec_transport t);

#define MSPEC_MAX_DEVICES 24
#define MSPEC_DEFAULT_MEM (64ull << 20)
#define MSPEC_MAX_MEM (64ull << 30)

struct mspec_dev {
	enum mspec_transport transport;
	char device[16];        /* device model name, checked by the builder */
	int slot;               /* pci: 1..31, -1 = next free */
	uint64_t addr;          /* mmio: base address, 0 = next free */
	int irq;                /* GSI, -1 = default */
	bool msix;              /* pci: MSI-X capability (default on; legacy too) */
	unsigned vectors;       /* pci: MSI-X vectors (default queues + 1) , 0 = default */
	uint64_t disable;       /* generic feature bits turned off (packed=off, ...) */
	struct vdev_args args;  /* remaining key=value options, for the device */
};

struct mspec {
	uint64_t mem;           /* bytes of RAM */
	unsigned ndev;
	struct mspec_dev dev[MSPEC_MAX_DEVICES];
};

/*
 * Parse a spec. Tokens are separated by spaces. Returns 0, or -EINVAL with a
 * single line in err naming the token and what is wrong (unknown transport,
 * bad size, bad number, duplicate slot, overlapping or misaligned mmio
 * address, too many devices, option repeated, spec too long). On error *out
 * holds the empty spec. text NULL is the empty spec. Device names are only
 * checked for spelling here (the builder knows the device table).
 */
int mspec_parse(const char *text, struct mspec *out, char *err, size_t errlen);

/* Canonical text of a spec (explicit mem, options in a fixed order).
 * Returns the length it needs (not counting the NUL); truncates to buflen. */
size_t mspec_format(const struct mspec *s, char *buf, size_t buflen);

#endif
