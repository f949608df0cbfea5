/*
 * ringside — reference driver I/O over an in-process machine (the one part
 * of guest/ that uses the host side: it is not linked into firmware).
 */
#include "ringside/guest_machine.h"

#include "ringside/gm.h"

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
