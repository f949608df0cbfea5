/*
 * ringside test-guest firmware — the reference driver's I/O table on real
 * (virtual) hardware: IN/OUT instructions, MMIO loads and stores, and guest
 * memory through the identity map.
 */
#include "fw.h"

static uint32_t io_pio_read(void *ctx, uint16_t port, unsigned size)
{
	(void)ctx;
	switch (size) {
	case 1: return fw_inb(port);
	case 2: return fw_inw(port);
	default: return fw_inl(port);
	}
}

static void io_pio_write(void *ctx, uint16_t port, unsigned size, uint32_t val)
{
	(void)ctx;
	switch (size) {
	case 1: fw_outb(port, (uint8_t)val); break;
	case 2: fw_outw(port, (uint16_t)val); break;
	default: fw_outl(port, val); break;
	}
}

static uint64_t io_mmio_read(void *ctx, uint64_t addr, unsigned size)
{
	(void)ctx;
	return fw_mmio_read(addr, size);
}

static void io_mmio_write(void *ctx, uint64_t addr, unsigned size, uint64_t val)
{
	(void)ctx;
	fw_mmio_write(addr, size, val);
}

/* Guest memory is identity-mapped: the driver only passes addresses it
 * allocated from the pool, inside RAM. */
static void io_mem_read(void *ctx, uint64_t gpa, void *buf, size_t len)
{
	(void)ctx;
	fw_memcpy(buf, (const void *)(uintptr_t)gpa, len);
}

static void io_mem_write(void *ctx, uint64_t gpa, const void *buf, size_t len)
{
	(void)ctx;
	fw_memcpy((void *)(uintptr_t)gpa, buf, len);
}

const struct gdrv_io fw_io = {
	.ctx = 0,
	.pio_read = io_pio_read,
	.pio_write = io_pio_write,
	.mmio_read = io_mmio_read,
	.mmio_write = io_mmio_write,
	.mem_read = io_mem_read,
	.mem_write = io_mem_write,
};
