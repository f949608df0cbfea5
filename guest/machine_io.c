/*
 * ringside — reference driver I/O over an in-process machine (the one part
 * of guest/ that uses the host side: it is not linked into firmware).
 */
#include "ringside/guest_machine.h"

#include <string.h>

#include "ringside/gm.h"
#include "ringside/mspec.h"

static uint32_t mio_pio_read(void *ctx, uint16_t port, unsigned size)
{
	return (uint32_t)machine_pio_read(ctx, port, size);
}

static void mio_pio_write(void *ctx, uint16_t port, unsigned size, uint32_t val)
{
	machine_pio_write(ctx, port, size, val);
}

static uint64_t mio_mmio_read(void *ctx, uint64_t addr, unsigned size)
{
	return machine_mmio_read(ctx, addr, size);
}

static void mio_mmio_write(void *ctx, uint64_t addr, unsigned size, uint64_t val)
{
	machine_mmio_write(ctx, addr, size, val);
}

/* The driver only touches memory it allocated inside RAM; a failure here
 * is a driver bug, and reads then see zeroes (gm_guest_read zero-fills). */
static void mio_mem_read(void *ctx, uint64_t gpa, void *buf, size_t len)
{
	struct machine *m = ctx;
	(void)gm_guest_read(&m->gm, gpa, buf, len);
}

static void mio_mem_write(void *ctx, uint64_t gpa, const void *buf, size_t len)
{
	struct machine *m = ctx;
	(void)gm_guest_write(&m->gm, gpa, buf, len);
}

void gdrv_machine_io(struct gdrv_io *io, struct machine *m)
{
	io->ctx = m;
	io->pio_read = mio_pio_read;
	io->pio_write = mio_pio_write;
	io->mmio_read = mio_mmio_read;
	io->mmio_write = mio_mmio_write;
	io->mem_read = mio_mem_read;
	io->mem_write = mio_mem_write;
}

unsigned gdrv_machine_ifaces(const struct machine *m, unsigned i,
			     const struct gdrv_pci_info *pci, unsigned npci,
			     enum gdrv_transport out[2], const struct gdrv_pci_info **found)
{
	const struct machine_devinfo *info = &m->devinfo[i];
	unsigned n = 0;

	*found = NULL;
	for (unsigned k = 0; k < npci; k++)
		if ((int)pci[k].slot == info->slot)
			*found = &pci[k];
	switch (info->transport) {
	case MSPEC_PCI:
		out[n++] = GDRV_PCI_MODERN;
		out[n++] = GDRV_PCI_LEGACY;
		break;
	case MSPEC_PCI_MODERN: out[n++] = GDRV_PCI_MODERN; break;
	case MSPEC_PCI_LEGACY: out[n++] = GDRV_PCI_LEGACY; break;
	case MSPEC_MMIO: out[n++] = GDRV_MMIO_V2; break;
	default: out[n++] = GDRV_MMIO_V1; break;
	}
	return n;
}

int gdrv_machine_open(struct gdrv_dev *d, const struct gdrv_io *io, struct gdrv_mem *mem,
		      const struct machine *m, unsigned i, bool use_legacy,
		      struct gdrv_pci_info *info)
{
	const struct machine_devinfo *di;
	struct gdrv_pci_info pci[MACHINE_PCI_SLOTS];
	unsigned n;

	if (info)
		memset(info, 0, sizeof *info);
	if (i >= m->ndevs)
		return -1;
	di = &m->devinfo[i];
	if (di->transport == MSPEC_MMIO || di->transport == MSPEC_MMIO_LEGACY)
		return gdrv_open_mmio(d, io, mem, di->base);
	n = gdrv_pci_scan(io, pci, MACHINE_PCI_SLOTS);
	for (unsigned k = 0; k < n; k++) {
		if ((int)pci[k].slot != di->slot)
			continue;
		if (info)
			*info = pci[k];
		return gdrv_open_pci(d, io, mem, &pci[k], use_legacy);
	}
	return -1;
}
