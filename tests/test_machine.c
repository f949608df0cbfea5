/*
 * ringside tests — machine: address maps, RAM layout, entry points, the
 * conf1 host bridge, PCI slots, BAR allocators, the interrupt sink and parts.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ringside/machine.h"

#define MiB (1ull << 20)
#define GiB (1ull << 30)

/* ---- a fake device range that records what reaches it ------------------- */

struct fake {
	unsigned reads, writes;
	uint64_t off, val;
	unsigned size;
	uint64_t ret;
};

static uint64_t fake_read(void *ctx, uint64_t off, unsigned size)
{
	struct fake *f = ctx;

	f->reads++;
	f->off = off;
	f->size = size;
	return f->ret;
}

static void fake_write(void *ctx, uint64_t off, unsigned size, uint64_t val)
{
	struct fake *f = ctx;

	f->writes++;
	f->off = off;
	f->size = size;
	f->val = val;
}

static const struct io_ops fake_ops = { .read = fake_read, .write = fake_write };
static const struct io_ops null_ops = { 0 };

static struct machine *new_machine(uint64_t mem)
{
	struct machine *m = calloc(1, sizeof(*m));

	CHECK(m != NULL);
	CHECK_EQ(machine_init(m, mem), 0);
	return m;
}

static void free_machine(struct machine *m)
{
	machine_destroy(m);
	free(m);
}

/* ---- io map ------------------------------------------------------------- */

static void test_io_map_add_overlap(void)
{
	struct io_map map = { 0 };
	int a, b;

	CHECK_EQ(io_map_add(&map, 0x100, 0x10, &fake_ops, &a, "a"), 0);
	CHECK_EQ(io_map_add(&map, 0x40, 0x10, &fake_ops, &b, "b"), 0);
	CHECK_EQ(map.n, 2);
	CHECK_EQ(map.r[0].base, 0x40);           /* kept sorted */
	CHECK_EQ(map.r[1].base, 0x100);
	CHECK(strcmp(map.r[1].name, "a") == 0);
	CHECK(map.r[1].ctx == &a);

	/* overlaps on each side, containing, contained, identical */
	CHECK_EQ(io_map_add(&map, 0xf8, 0x10, &fake_ops, NULL, "lo"), -EEXIST);
	CHECK_EQ(io_map_add(&map, 0x10f, 0x10, &fake_ops, NULL, "hi"), -EEXIST);
	CHECK_EQ(io_map_add(&map, 0xf0, 0x40, &fake_ops, NULL, "over"), -EEXIST);
	CHECK_EQ(io_map_add(&map, 0x104, 0x4, &fake_ops, NULL, "in"), -EEXIST);
	CHECK_EQ(io_map_add(&map, 0x100, 0x10, &fake_ops, NULL, "same"), -EEXIST);
	CHECK_EQ(io_map_add(&map, 0x4f, 0x1, &fake_ops, NULL, "lastb"), -EEXIST);
	CHECK_EQ(map.n, 2);

	/* exact adjacency on both sides is fine */
	CHECK_EQ(io_map_add(&map, 0xf0, 0x10, &fake_ops, NULL, "below"), 0);
	CHECK_EQ(io_map_add(&map, 0x110, 0x10, &fake_ops, NULL, "above"), 0);
	CHECK_EQ(io_map_add(&map, 0x50, 0xa0, &fake_ops, NULL, "gap"), 0);
	CHECK_EQ(map.n, 5);
	for (unsigned i = 1; i < map.n; i++)
		CHECK_EQ(map.r[i - 1].base + map.r[i - 1].len <= map.r[i].base, 1);

	/* bad ranges */
	CHECK_EQ(io_map_add(&map, 0x1000, 0, &fake_ops, NULL, "empty"), -EINVAL);
	CHECK_EQ(io_map_add(&map, UINT64_MAX - 0xf, 0x11, &fake_ops, NULL, "wrap"), -EINVAL);
	CHECK_EQ(io_map_add(&map, 0x1000, 0x10, NULL, NULL, "noops"), -EINVAL);
	/* a range may end exactly at 2^64 */
	CHECK_EQ(io_map_add(&map, UINT64_MAX - 0xf, 0x10, &fake_ops, NULL,
			    "a-very-long-name-that-is-cut"), 0);
	CHECK(strcmp(map.r[map.n - 1].name, "a-very-long-nam") == 0);
	CHECK(io_map_find(&map, UINT64_MAX, 1) == &map.r[map.n - 1]);
	CHECK(io_map_find(&map, UINT64_MAX, 2) == NULL);
	CHECK(io_map_find(&map, UINT64_MAX - 0xf, 0x10) == &map.r[map.n - 1]);
	CHECK_EQ(io_map_add(&map, UINT64_MAX, 1, &fake_ops, NULL, "top"), -EEXIST);

	io_map_free(&map);
	CHECK(map.r == NULL);
	CHECK_EQ(map.n, 0);
	CHECK_EQ(map.cap, 0);
}

static void test_io_map_find_remove(void)
{
	struct io_map map = { 0 };
	int a, b;
	const struct io_range *r;

	CHECK(io_map_find(&map, 0, 1) == NULL);
	CHECK_EQ(io_map_add(&map, 0x100, 0x10, &fake_ops, &a, NULL), 0);
	CHECK_EQ(io_map_add(&map, 0x110, 0x10, &fake_ops, &b, "b"), 0);
	CHECK_EQ(map.r[0].name[0], '\0');

	r = io_map_find(&map, 0x100, 1);
	CHECK(r && r->ctx == &a);
	r = io_map_find(&map, 0x10f, 1);        /* last byte */
	CHECK(r && r->ctx == &a);
	r = io_map_find(&map, 0x10c, 4);        /* ends exactly at the end */
	CHECK(r && r->ctx == &a);
	r = io_map_find(&map, 0x110, 4);        /* first byte of the next one */
	CHECK(r && r->ctx == &b);
	CHECK(io_map_find(&map, 0x10e, 4) == NULL); /* straddles two ranges */
	CHECK(io_map_find(&map, 0x11f, 2) == NULL); /* runs past the last range */
	CHECK(io_map_find(&map, 0xff, 1) == NULL);  /* just below */
	CHECK(io_map_find(&map, 0xff, 2) == NULL);  /* starts below, ends inside */
	CHECK(io_map_find(&map, 0x120, 1) == NULL); /* just above */
	CHECK(io_map_find(&map, 0x100, 0) == NULL); /* empty access */
	CHECK(io_map_find(&map, 0x108, UINT64_MAX) == NULL);

	CHECK_EQ(io_map_remove(&map, 0x100, &b), -ENOENT); /* wrong owner */
	CHECK_EQ(io_map_remove(&map, 0x104, &a), -ENOENT); /* not a base */
	CHECK_EQ(io_map_remove(&map, 0x50, &a), -ENOENT);  /* below everything */
	CHECK_EQ(io_map_remove(&map, 0x100, &a), 0);
	CHECK_EQ(map.n, 1);
	CHECK(io_map_find(&map, 0x100, 1) == NULL);
	r = io_map_find(&map, 0x115, 1);
	CHECK(r && r->ctx == &b);
	CHECK_EQ(io_map_remove(&map, 0x100, &a), -ENOENT);
	CHECK_EQ(io_map_remove(&map, 0x110, &b), 0);
	CHECK_EQ(map.n, 0);
	io_map_free(&map);
}

static void test_io_map_many(void)
{
	struct io_map map = { 0 };
	unsigned ok = 0;

	/* inserted in a scrambled order, found by binary search */
	for (unsigned i = 0; i < 500; i++) {
		uint64_t slot = (i * 7919u) % 500u;

		CHECK_EQ(io_map_add(&map, slot * 0x100, 0x80, &fake_ops, (void *)(uintptr_t)slot,
				    "r"),
			 0);
	}
	CHECK_EQ(map.n, 500);
	for (unsigned i = 0; i < 500; i++) {
		const struct io_range *r = io_map_find(&map, i * 0x100 + 0x7f, 1);

		ok += r && r->ctx == (void *)(uintptr_t)i;
		CHECK(io_map_find(&map, i * 0x100 + 0x80, 1) == NULL);
	}
	CHECK_EQ(ok, 500);
	for (unsigned i = 0; i < 500; i += 2)
		CHECK_EQ(io_map_remove(&map, i * 0x100, (void *)(uintptr_t)i), 0);
	CHECK_EQ(map.n, 250);
	CHECK(io_map_find(&map, 0x200, 1) == NULL);
	CHECK(io_map_find(&map, 0x300, 1) != NULL);
	io_map_free(&map);
}

/* ---- machine_init ------------------------------------------------------- */

static void test_init_sizes(void)
{
	struct machine *m = calloc(1, sizeof(*m));
	const struct gm_region *r;

	CHECK_EQ(machine_init(m, 0), -EINVAL);
	CHECK_EQ(machine_init(m, 64 * MiB + 1), -EINVAL);
	CHECK_EQ(machine_init(m, 4096 + 2048), -EINVAL);
	CHECK_EQ(machine_init(m, MACHINE_MEM_MAX + GM_PAGE_SIZE), -EINVAL);
	CHECK_EQ(MACHINE_MEM_MAX, 64 * GiB);

	/* one page is enough */
	CHECK_EQ(machine_init(m, GM_PAGE_SIZE), 0);
	CHECK(gm_range_ok(&m->gm, 0, GM_PAGE_SIZE));
	CHECK(!gm_range_ok(&m->gm, GM_PAGE_SIZE, 1));
	machine_destroy(m);

	CHECK_EQ(machine_init(m, 64 * MiB), 0);
	CHECK_EQ(m->mem_size, 64 * MiB);
	CHECK(gm_range_ok(&m->gm, 0, 64 * MiB));
	CHECK(!gm_range_ok(&m->gm, 64 * MiB - 1, 2));
	CHECK(!gm_range_ok(&m->gm, MACHINE_RAM_HIGH_BASE, 1));
	/* the MMIO windows are arena holes: DMA there is caught */
	r = gm_lookup(&m->gm, MACHINE_VMMIO_BASE, 4);
	CHECK(r && r->kind == GM_MMIO);
	r = gm_lookup(&m->gm, MACHINE_VMMIO_END - 4, 4);
	CHECK(r && r->kind == GM_MMIO);
	r = gm_lookup(&m->gm, MACHINE_PCI_MEM_BASE, 4);
	CHECK(r && r->kind == GM_MMIO);
	r = gm_lookup(&m->gm, MACHINE_PCI_MEM_END - 4, 4);
	CHECK(r && r->kind == GM_MMIO);
	CHECK(gm_lookup(&m->gm, MACHINE_PCI_MEM_END, 4) == NULL);
	CHECK(m->gm.log == &m->log);
	CHECK(strcmp(m->log.source, "machine") == 0);
	{
		uint32_t v;
		CHECK_EQ(gm_read32(&m->gm, MACHINE_VMMIO_BASE, &v), -EFAULT);
		CHECK_EQ(diag_count(&m->log, DIAG_GM_MMIO_DMA), 1);
	}
	/* allocators, host bridge and sink are set up */
	CHECK_EQ(m->pci_mem_next, MACHINE_PCI_MEM_BASE);
	CHECK_EQ(m->pci_io_next, MACHINE_PCI_IO_BASE);
	CHECK_EQ(m->vmmio_next, MACHINE_VMMIO_BASE);
	CHECK(m->pci[0].ops != NULL);
	CHECK(m->irq != NULL);
	machine_destroy(m);
	CHECK_EQ(m->nparts, 0);
	CHECK(m->pio.r == NULL);

	/* exactly 3 GiB: all low */
	CHECK_EQ(machine_init(m, MACHINE_RAM_LOW_MAX), 0);
	CHECK(gm_range_ok(&m->gm, MACHINE_RAM_LOW_MAX - GM_PAGE_SIZE, GM_PAGE_SIZE));
	CHECK(!gm_range_ok(&m->gm, MACHINE_RAM_LOW_MAX, 1));
	CHECK(!gm_range_ok(&m->gm, MACHINE_RAM_HIGH_BASE, 1));
	machine_destroy(m);

	/* 3 GiB + 1 page: the extra page sits at 4 GiB */
	CHECK_EQ(machine_init(m, MACHINE_RAM_LOW_MAX + GM_PAGE_SIZE), 0);
	CHECK(gm_range_ok(&m->gm, 0, MACHINE_RAM_LOW_MAX));
	CHECK(!gm_range_ok(&m->gm, MACHINE_RAM_LOW_MAX, 1));
	CHECK(gm_range_ok(&m->gm, MACHINE_RAM_HIGH_BASE, GM_PAGE_SIZE));
	CHECK(!gm_range_ok(&m->gm, MACHINE_RAM_HIGH_BASE + GM_PAGE_SIZE, 1));
	CHECK(!gm_range_ok(&m->gm, MACHINE_RAM_HIGH_BASE - 1, 2));
	{
		uint32_t v = 0xabcd1234, back = 0;
		CHECK_EQ(gm_guest_write(&m->gm, MACHINE_RAM_HIGH_BASE + 8, &v, 4), 0);
		CHECK_EQ(gm_read32(&m->gm, MACHINE_RAM_HIGH_BASE + 8, &back), 0);
		CHECK_EQ(back, 0xabcd1234);
	}
	machine_destroy(m);
	free(m);
}

/* ---- entry points ------------------------------------------------------- */

static void test_entry_points(void)
{
	struct machine *m = new_machine(16 * MiB);
	struct fake pf = { .ret = 0x1122334455667788ull }, mf = { .ret = 0x1122334455667788ull };
	uint32_t base_unmapped;

	CHECK_EQ(machine_map_pio(m, 0x1000, 0x10, &fake_ops, &pf, "fake"), 0);
	CHECK_EQ(machine_map_mmio(m, 0xd0000000, 0x200, &fake_ops, &mf, "fake"), 0);

	/* port I/O: offset and size reach the device, values masked to size */
	CHECK_EQ(machine_pio_read(m, 0x1004, 1), 0x88);
	CHECK_EQ(pf.off, 4);
	CHECK_EQ(pf.size, 1);
	CHECK_EQ(machine_pio_read(m, 0x1002, 2), 0x7788);
	CHECK_EQ(machine_pio_read(m, 0x100c, 4), 0x55667788);
	CHECK_EQ(pf.off, 0xc);
	CHECK_EQ(pf.reads, 3);
	machine_pio_write(m, 0x100e, 2, 0xdead0000beefull);
	CHECK_EQ(pf.writes, 1);
	CHECK_EQ(pf.off, 0xe);
	CHECK_EQ(pf.size, 2);
	CHECK_EQ(pf.val, 0xbeef);
	machine_pio_write(m, 0x1000, 1, 0x1ff);
	CHECK_EQ(pf.val, 0xff);
	machine_pio_write(m, 0x1000, 4, 0x123456789ull);
	CHECK_EQ(pf.val, 0x23456789);
	CHECK_EQ(diag_count(&m->log, DIAG_IO_UNMAPPED), 0);

	/* MMIO, 8-byte accesses included */
	CHECK_EQ(machine_mmio_read(m, 0xd0000008, 8), 0x1122334455667788ull);
	CHECK_EQ(mf.off, 8);
	CHECK_EQ(mf.size, 8);
	CHECK_EQ(machine_mmio_read(m, 0xd00001fc, 4), 0x55667788);
	CHECK_EQ(machine_mmio_read(m, 0xd0000001, 1), 0x88);
	CHECK_EQ(machine_mmio_read(m, 0xd0000002, 2), 0x7788);
	machine_mmio_write(m, 0xd0000010, 8, 0x0102030405060708ull);
	CHECK_EQ(mf.val, 0x0102030405060708ull);
	CHECK_EQ(mf.off, 0x10);
	machine_mmio_write(m, 0xd0000010, 2, 0x0102030405060708ull);
	CHECK_EQ(mf.val, 0x0708);
	CHECK_EQ(mf.reads, 4);
	CHECK_EQ(mf.writes, 2);
	CHECK_EQ(diag_count(&m->log, DIAG_IO_UNMAPPED), 0);

	/* unmapped, straddling, bad sizes: all-ones, nothing reaches the device */
	base_unmapped = 0;
	CHECK_EQ(machine_pio_read(m, 0x2000, 4), 0xffffffff);
	CHECK_EQ(machine_pio_read(m, 0x0fff, 2), 0xffff);  /* starts below */
	CHECK_EQ(machine_pio_read(m, 0x100f, 2), 0xffff);  /* runs past the end */
	CHECK_EQ(machine_pio_read(m, 0x1000, 8), UINT64_MAX); /* no 8-byte port I/O */
	CHECK_EQ(machine_pio_read(m, 0x1000, 3), 0xffffff);
	CHECK_EQ(machine_pio_read(m, 0x1000, 0), 0);
	CHECK_EQ(machine_pio_read(m, 0xffff, 2), 0xffff);
	machine_pio_write(m, 0x100d, 4, 1);
	machine_pio_write(m, 0x1000, 5, 1);
	machine_pio_write(m, 0x3000, 1, 1);
	base_unmapped += 10;
	CHECK_EQ(pf.reads, 3);
	CHECK_EQ(pf.writes, 3);
	CHECK_EQ(machine_mmio_read(m, 0xd0000200, 1), 0xff);
	CHECK_EQ(machine_mmio_read(m, 0xd00001fc, 8), UINT64_MAX);
	CHECK_EQ(machine_mmio_read(m, 0xd0000000, 16), UINT64_MAX);
	CHECK_EQ(machine_mmio_read(m, 0xd0000000, 6), UINT64_MAX >> 16);
	CHECK_EQ(machine_mmio_read(m, UINT64_MAX, 4), 0xffffffff);
	CHECK_EQ(machine_mmio_read(m, 0x1000, 4), 0xffffffff); /* RAM is not MMIO */
	machine_mmio_write(m, 0xcfffffff, 2, 0);
	machine_mmio_write(m, 0xd0000000, 7, 0);
	base_unmapped += 8;
	CHECK_EQ(mf.reads, 4);
	CHECK_EQ(mf.writes, 2);
	CHECK_EQ(diag_count(&m->log, DIAG_IO_UNMAPPED), base_unmapped);
	CHECK_EQ(diag_last(&m->log)->code, DIAG_IO_UNMAPPED);

	/* mapping rules through the machine */
	CHECK_EQ(machine_map_pio(m, 0xfff0, 0x20, &fake_ops, &pf, "past"), -EINVAL);
	CHECK_EQ(machine_map_pio(m, 0x10000, 1, &fake_ops, &pf, "past"), -EINVAL);
	CHECK_EQ(machine_map_pio(m, 0xfff0, 0x10, &fake_ops, &pf, "top"), 0);
	CHECK_EQ(machine_map_pio(m, 0x1008, 0x10, &fake_ops, &pf, "over"), -EEXIST);
	CHECK_EQ(machine_map_pio(m, 0xcf8, 1, &fake_ops, &pf, "conf1"), -EEXIST);
	CHECK_EQ(machine_map_mmio(m, 0xd0000100, 0x1000, &fake_ops, &mf, "over"), -EEXIST);
	CHECK_EQ(machine_map_mmio(m, 0xd0000000, 0, &fake_ops, &mf, "empty"), -EINVAL);
	CHECK_EQ(machine_pio_read(m, 0xffff, 1), 0x88);
	CHECK_EQ(pf.off, 0xf);

	/* unmap: wrong owner refused, then the range is gone */
	CHECK_EQ(machine_unmap_pio(m, 0x1000, &mf), -ENOENT);
	CHECK_EQ(machine_unmap_pio(m, 0x1000, &pf), 0);
	CHECK_EQ(machine_pio_read(m, 0x1000, 1), 0xff);
	CHECK_EQ(pf.reads, 4);
	CHECK_EQ(machine_unmap_mmio(m, 0xd0000000, &pf), -ENOENT);
	CHECK_EQ(machine_unmap_mmio(m, 0xd0000000, &mf), 0);
	CHECK_EQ(machine_unmap_mmio(m, 0xd0000000, &mf), -ENOENT);
	CHECK_EQ(machine_mmio_read(m, 0xd0000000, 4), 0xffffffff);
	CHECK_EQ(mf.reads, 4);
	CHECK_EQ(diag_count(&m->log, DIAG_IO_UNMAPPED), base_unmapped + 2);

	/* ranges without handlers: read all-ones, drop writes, not "unmapped" */
	CHECK_EQ(machine_map_pio(m, 0x2000, 4, &null_ops, NULL, "null"), 0);
	CHECK_EQ(machine_map_mmio(m, 0xd0001000, 4, &null_ops, NULL, "null"), 0);
	CHECK_EQ(machine_pio_read(m, 0x2000, 2), 0xffff);
	machine_pio_write(m, 0x2000, 2, 0);
	CHECK_EQ(machine_mmio_read(m, 0xd0001000, 4), 0xffffffff);
	machine_mmio_write(m, 0xd0001000, 4, 0);
	CHECK_EQ(diag_count(&m->log, DIAG_IO_UNMAPPED), base_unmapped + 2);
	free_machine(m);
}

/* ---- conf1 and the host bridge ------------------------------------------ */

/* A PCI function with a 256-byte config space that logs accesses. */
struct fake_pci {
	uint8_t cfg[256];
	unsigned reads, writes;
	unsigned off[8], size[8];  /* last accesses, newest last */
	unsigned nlog;
};

static void fake_pci_log(struct fake_pci *f, unsigned off, unsigned size)
{
	if (f->nlog == 8) {
		memmove(f->off, f->off + 1, sizeof(f->off) - sizeof(f->off[0]));
		memmove(f->size, f->size + 1, sizeof(f->size) - sizeof(f->size[0]));
		f->nlog--;
	}
	f->off[f->nlog] = off;
	f->size[f->nlog] = size;
	f->nlog++;
}

static uint32_t fake_pci_read(void *ctx, unsigned off, unsigned size)
{
	struct fake_pci *f = ctx;
	uint32_t v = 0;

	f->reads++;
	fake_pci_log(f, off, size);
	CHECK(off < 256 && off % size == 0);
	for (unsigned i = 0; i < size && off + i < 256; i++)
		v |= (uint32_t)f->cfg[off + i] << (8 * i);
	return v;
}

static void fake_pci_write(void *ctx, unsigned off, unsigned size, uint32_t val)
{
	struct fake_pci *f = ctx;

	f->writes++;
	fake_pci_log(f, off, size);
	CHECK(off < 256 && off % size == 0);
	for (unsigned i = 0; i < size && off + i < 256; i++)
		f->cfg[off + i] = (uint8_t)(val >> (8 * i));
}

static const struct pci_dev_ops fake_pci_ops = {
	.cfg_read = fake_pci_read,
	.cfg_write = fake_pci_write,
};

static uint32_t conf1(unsigned bus, unsigned dev, unsigned fn, unsigned reg)
{
	return 0x80000000u | bus << 16 | dev << 11 | fn << 8 | reg;
}

static void test_conf1_address(void)
{
	struct machine *m = new_machine(16 * MiB);

	CHECK_EQ(machine_pio_read(m, 0xcf8, 4), 0);
	machine_pio_write(m, 0xcf8, 4, 0x80001234);
	CHECK_EQ(machine_pio_read(m, 0xcf8, 4), 0x80001234);
	CHECK_EQ(m->conf1_addr, 0x80001234);
	/* reserved bits 30:24 and 1:0 read back as zero */
	machine_pio_write(m, 0xcf8, 4, 0xffffffff);
	CHECK_EQ(machine_pio_read(m, 0xcf8, 4), 0x80fffffc);
	CHECK_EQ(diag_count(&m->log, DIAG_IO_UNMAPPED), 0);

	/* only dword accesses at 0xCF8 reach CONFIG_ADDRESS; the rest are
	 * ordinary I/O nobody claims */
	machine_pio_write(m, 0xcf8, 4, 0x80000000);
	machine_pio_write(m, 0xcf8, 1, 0x12);
	machine_pio_write(m, 0xcf9, 1, 0x06);        /* PIIX reset control: not here */
	machine_pio_write(m, 0xcfa, 2, 0x1234);
	machine_pio_write(m, 0xcf8, 2, 0x1234);
	CHECK_EQ(m->conf1_addr, 0x80000000);
	CHECK_EQ(machine_pio_read(m, 0xcf8, 1), 0xff);
	CHECK_EQ(machine_pio_read(m, 0xcfb, 1), 0xff);
	CHECK_EQ(machine_pio_read(m, 0xcf8, 2), 0xffff);
	CHECK_EQ(machine_pio_read(m, 0xcfa, 2), 0xffff);
	CHECK_EQ(machine_pio_read(m, 0xcf9, 4), 0xffffffff); /* straddles into 0xCFC */
	CHECK_EQ(diag_count(&m->log, DIAG_IO_UNMAPPED), 9);
	CHECK_EQ(m->conf1_addr, 0x80000000);
	free_machine(m);
}

static void test_conf1_host_bridge(void)
{
	struct machine *m = new_machine(16 * MiB);
	static const uint8_t id[4] = { 0x86, 0x80, 0x37, 0x12 };

	machine_pio_write(m, 0xcf8, 4, conf1(0, 0, 0, 0));
	CHECK_EQ(machine_pio_read(m, 0xcfc, 4), 0x12378086);
	CHECK_EQ(machine_pio_read(m, 0xcfc, 2), 0x8086);
	CHECK_EQ(machine_pio_read(m, 0xcfe, 2), 0x1237);
	CHECK_EQ(machine_pio_read(m, 0xcfd, 2), 0x3780); /* unaligned inside the dword */
	for (unsigned i = 0; i < 4; i++)
		CHECK_EQ(machine_pio_read(m, (uint16_t)(0xcfc + i), 1), id[i]);

	machine_pio_write(m, 0xcf8, 4, conf1(0, 0, 0, 0x08));
	CHECK_EQ(machine_pio_read(m, 0xcfc, 4), 0x06000000); /* class 06/00, rev 0 */
	CHECK_EQ(machine_pio_read(m, 0xcfe, 2), 0x0600);
	CHECK_EQ(machine_pio_read(m, 0xcff, 1), 0x06);
	CHECK_EQ(machine_pio_read(m, 0xcfe, 1), 0x00);
	machine_pio_write(m, 0xcf8, 4, conf1(0, 0, 0, 0x0c));
	CHECK_EQ(machine_pio_read(m, 0xcfe, 1), 0x00); /* header type 0, single function */
	machine_pio_write(m, 0xcf8, 4, conf1(0, 0, 0, 0x10));
	CHECK_EQ(machine_pio_read(m, 0xcfc, 4), 0);    /* no BARs */

	/* read-only: writes are dropped, without a report */
	machine_pio_write(m, 0xcf8, 4, conf1(0, 0, 0, 0));
	machine_pio_write(m, 0xcfc, 4, 0xdeadbeef);
	machine_pio_write(m, 0xcfe, 2, 0xbeef);
	CHECK_EQ(machine_pio_read(m, 0xcfc, 4), 0x12378086);
	machine_pio_write(m, 0xcf8, 4, conf1(0, 0, 0, 0x04));
	machine_pio_write(m, 0xcfc, 2, 0x0007);
	CHECK_EQ(machine_pio_read(m, 0xcfc, 4), 0);
	machine_pio_write(m, 0xcf8, 4, conf1(0, 0, 0, 0x10));
	machine_pio_write(m, 0xcfc, 4, 0xffffffff);        /* BAR sizing */
	CHECK_EQ(machine_pio_read(m, 0xcfc, 4), 0);
	CHECK_EQ(machine_pci_cfg_read(m, 0, 0, 4), 0x12378086);
	CHECK_EQ(m->log.total, 0);
	free_machine(m);
}

static void test_conf1_routing(void)
{
	struct machine *m = new_machine(16 * MiB);
	struct fake_pci f = { 0 };

	for (unsigned i = 0; i < 256; i++)
		f.cfg[i] = (uint8_t)i;
	CHECK_EQ(machine_pci_add(m, 3, &fake_pci_ops, &f), 3);

	/* enable bit clear: the data ports are plain, unclaimed I/O */
	machine_pio_write(m, 0xcf8, 4, conf1(0, 3, 0, 0) & 0x7fffffff);
	CHECK_EQ(machine_pio_read(m, 0xcfc, 4), 0xffffffff);
	machine_pio_write(m, 0xcfc, 4, 0);
	CHECK_EQ(f.reads + f.writes, 0);
	CHECK_EQ(diag_count(&m->log, DIAG_IO_UNMAPPED), 2);

	/* bus != 0, function != 0, empty slot: nothing answers, no report */
	machine_pio_write(m, 0xcf8, 4, conf1(1, 3, 0, 0));
	CHECK_EQ(machine_pio_read(m, 0xcfc, 4), 0xffffffff);
	machine_pio_write(m, 0xcfc, 4, 0);
	machine_pio_write(m, 0xcf8, 4, conf1(0, 3, 1, 0));
	CHECK_EQ(machine_pio_read(m, 0xcfc, 2), 0xffff);
	machine_pio_write(m, 0xcfc, 1, 0);
	machine_pio_write(m, 0xcf8, 4, conf1(0, 5, 0, 0));
	CHECK_EQ(machine_pio_read(m, 0xcfc, 4), 0xffffffff);
	CHECK_EQ(machine_pio_read(m, 0xcfd, 1), 0xff);
	machine_pio_write(m, 0xcfc, 4, 0);
	CHECK_EQ(f.reads + f.writes, 0);
	CHECK_EQ(diag_count(&m->log, DIAG_IO_UNMAPPED), 2);
	CHECK_EQ(diag_count(&m->log, DIAG_PCI_CFG), 0);

	/* register = bits 7:2 of CONFIG_ADDRESS plus the data port's low bits */
	machine_pio_write(m, 0xcf8, 4, conf1(0, 3, 0, 0x40));
	CHECK_EQ(machine_pio_read(m, 0xcfc, 4), 0x43424140);
	CHECK_EQ(f.off[f.nlog - 1], 0x40);
	CHECK_EQ(f.size[f.nlog - 1], 4);
	CHECK_EQ(machine_pio_read(m, 0xcfd, 1), 0x41);
	CHECK_EQ(f.off[f.nlog - 1], 0x41);
	CHECK_EQ(machine_pio_read(m, 0xcfe, 2), 0x4342);
	CHECK_EQ(f.off[f.nlog - 1], 0x42);
	CHECK_EQ(f.size[f.nlog - 1], 2);
	CHECK_EQ(machine_pio_read(m, 0xcff, 1), 0x43);
	/* word at byte 1: two byte accesses keep the device's alignment rule */
	f.nlog = 0;
	CHECK_EQ(machine_pio_read(m, 0xcfd, 2), 0x4241);
	CHECK_EQ(f.nlog, 2);
	CHECK_EQ(f.off[0], 0x41);
	CHECK_EQ(f.off[1], 0x42);
	CHECK_EQ(f.size[0], 1);
	CHECK_EQ(f.size[1], 1);

	machine_pio_write(m, 0xcfc, 4, 0xa3a2a1a0);
	CHECK_EQ(f.cfg[0x40], 0xa0);
	CHECK_EQ(f.cfg[0x43], 0xa3);
	machine_pio_write(m, 0xcfd, 1, 0x1b1);      /* masked to a byte */
	CHECK_EQ(f.cfg[0x41], 0xb1);
	CHECK_EQ(f.cfg[0x42], 0xa2);
	machine_pio_write(m, 0xcfe, 2, 0xc3c2);
	CHECK_EQ(f.cfg[0x42], 0xc2);
	CHECK_EQ(f.cfg[0x43], 0xc3);
	f.nlog = 0;
	machine_pio_write(m, 0xcfd, 2, 0xd2d1);
	CHECK_EQ(f.nlog, 2);
	CHECK_EQ(f.cfg[0x41], 0xd1);
	CHECK_EQ(f.cfg[0x42], 0xd2);
	CHECK_EQ(f.cfg[0x40], 0xa0);
	CHECK_EQ(f.cfg[0x43], 0xc3);

	/* the last dword of config space */
	machine_pio_write(m, 0xcf8, 4, conf1(0, 3, 0, 0xfc));
	CHECK_EQ(machine_pio_read(m, 0xcff, 1), 0xff);
	CHECK_EQ(f.off[f.nlog - 1], 0xff);
	CHECK_EQ(machine_pio_read(m, 0xcfc, 4), 0xfffefdfc);

	/* beyond the data ports: unmapped, the device sees nothing */
	{
		unsigned before = f.reads + f.writes;

		CHECK_EQ(machine_pio_read(m, 0xcff, 2), 0xffff);
		CHECK_EQ(machine_pio_read(m, 0xcfe, 4), 0xffffffff);
		machine_pio_write(m, 0xcfd, 4, 0);
		CHECK_EQ(f.reads + f.writes, before);
		CHECK_EQ(diag_count(&m->log, DIAG_IO_UNMAPPED), 5);
	}
	free_machine(m);
}

static void test_pci_cfg_direct(void)
{
	struct machine *m = new_machine(16 * MiB);
	struct fake_pci f = { 0 };

	for (unsigned i = 0; i < 256; i++)
		f.cfg[i] = (uint8_t)i;
	CHECK_EQ(machine_pci_add(m, 7, &fake_pci_ops, &f), 7);
	CHECK_EQ(machine_pci_cfg_read(m, 7, 0x10, 4), 0x13121110);
	CHECK_EQ(machine_pci_cfg_read(m, 7, 0x12, 2), 0x1312);
	CHECK_EQ(machine_pci_cfg_read(m, 7, 0x11, 2), 0x1211);
	CHECK_EQ(machine_pci_cfg_read(m, 7, 0x13, 1), 0x13);
	CHECK_EQ(machine_pci_cfg_read(m, 8, 0x10, 4), 0xffffffff); /* empty */
	CHECK_EQ(machine_pci_cfg_read(m, 8, 0x10, 1), 0xff);
	machine_pci_cfg_write(m, 8, 0x10, 4, 0);
	CHECK_EQ(diag_count(&m->log, DIAG_PCI_CFG), 0);

	/* malformed: reported, all-ones, nothing reaches the device */
	f.reads = f.writes = 0;
	CHECK_EQ(machine_pci_cfg_read(m, 7, 0x100, 1), 0xff);
	CHECK_EQ(machine_pci_cfg_read(m, 7, 0xfe, 4), 0xffffffff);
	CHECK_EQ(machine_pci_cfg_read(m, 7, 0x13, 2), 0xffff);  /* crosses the dword */
	CHECK_EQ(machine_pci_cfg_read(m, 7, 0x11, 4), 0xffffffff);
	CHECK_EQ(machine_pci_cfg_read(m, 7, 0x10, 3), 0xffffff);
	CHECK_EQ(machine_pci_cfg_read(m, 7, 0x10, 8), 0xffffffff);
	CHECK_EQ(machine_pci_cfg_read(m, 7, 0x10, 0), 0);
	CHECK_EQ(machine_pci_cfg_read(m, 32, 0x10, 4), 0xffffffff);
	CHECK_EQ(machine_pci_cfg_read(m, UINT32_MAX, 0, 4), 0xffffffff);
	machine_pci_cfg_write(m, 7, 0x100, 4, 0);
	machine_pci_cfg_write(m, 7, 0x13, 2, 0);
	machine_pci_cfg_write(m, 7, 0x10, 3, 0);
	machine_pci_cfg_write(m, 40, 0x10, 4, 0);
	CHECK_EQ(f.reads + f.writes, 0);
	CHECK_EQ(diag_count(&m->log, DIAG_PCI_CFG), 13);
	CHECK_EQ(f.cfg[0x13], 0x13);

	machine_pci_cfg_write(m, 7, 0x10, 2, 0xffffbeef);
	CHECK_EQ(f.cfg[0x10], 0xef);
	CHECK_EQ(f.cfg[0x11], 0xbe);
	CHECK_EQ(f.cfg[0x12], 0x12);
	free_machine(m);
}

static void test_pci_add(void)
{
	struct machine *m = new_machine(16 * MiB);
	struct fake_pci f = { 0 };
	static const struct pci_dev_ops half = { .cfg_read = fake_pci_read };
	int got[32];

	CHECK_EQ(machine_pci_add(m, 0, &fake_pci_ops, &f), -EINVAL); /* host bridge */
	CHECK_EQ(machine_pci_add(m, 32, &fake_pci_ops, &f), -EINVAL);
	CHECK_EQ(machine_pci_add(m, 1000, &fake_pci_ops, &f), -EINVAL);
	CHECK_EQ(machine_pci_add(m, 1, NULL, &f), -EINVAL);
	CHECK_EQ(machine_pci_add(m, 1, &half, &f), -EINVAL);
	CHECK_EQ(machine_pci_add(m, 5, &fake_pci_ops, &f), 5);
	CHECK_EQ(machine_pci_add(m, 5, &fake_pci_ops, &f), -EEXIST);
	CHECK_EQ(machine_pci_add(m, -1, &fake_pci_ops, &f), 1);
	CHECK_EQ(machine_pci_add(m, -7, &fake_pci_ops, &f), 2);
	CHECK_EQ(machine_pci_add(m, 31, &fake_pci_ops, &f), 31);
	/* fill the bus: automatic slots skip taken ones */
	for (unsigned i = 0; i < 27; i++)
		got[i] = machine_pci_add(m, -1, &fake_pci_ops, &f);
	CHECK_EQ(got[0], 3);
	CHECK_EQ(got[1], 4);
	CHECK_EQ(got[2], 6);
	CHECK_EQ(got[26], 30);
	CHECK_EQ(machine_pci_add(m, -1, &fake_pci_ops, &f), -ENOSPC);
	CHECK_EQ(machine_pci_add(m, 9, &fake_pci_ops, &f), -EEXIST);

	/* remove: only the owner, never the host bridge */
	CHECK_EQ(machine_pci_remove(m, 9, NULL), -ENOENT);
	CHECK_EQ(machine_pci_remove(m, 0, m), -ENOENT);
	CHECK_EQ(machine_pci_remove(m, 32, &f), -ENOENT);
	CHECK_EQ(machine_pci_remove(m, 9, &f), 0);
	CHECK_EQ(machine_pci_remove(m, 9, &f), -ENOENT);
	CHECK_EQ(machine_pci_cfg_read(m, 9, 0, 4), 0xffffffff);
	CHECK_EQ(machine_pci_add(m, -1, &fake_pci_ops, &f), 9);
	CHECK_EQ(machine_pci_cfg_read(m, 0, 0, 2), 0x8086);
	free_machine(m);
}

/* ---- allocators --------------------------------------------------------- */

static void test_alloc_pci_mem(void)
{
	struct machine *m = new_machine(16 * MiB);
	uint64_t a;

	CHECK_EQ(machine_alloc_pci_mem(m, 0x1000), MACHINE_PCI_MEM_BASE);
	CHECK_EQ(machine_alloc_pci_mem(m, 0x4000), MACHINE_PCI_MEM_BASE + 0x4000);
	CHECK_EQ(machine_alloc_pci_mem(m, 0x10), MACHINE_PCI_MEM_BASE + 0x8000);
	CHECK_EQ(machine_alloc_pci_mem(m, 0x10), MACHINE_PCI_MEM_BASE + 0x8010);
	CHECK_EQ(machine_alloc_pci_mem(m, 0), 0);
	CHECK_EQ(machine_alloc_pci_mem(m, 0x3000), 0);       /* not a power of two */
	CHECK_EQ(machine_alloc_pci_mem(m, 1ull << 40), 0);   /* bigger than 4 GiB */
	CHECK_EQ(machine_alloc_pci_mem(m, 1ull << 63), 0);
	/* 1 GiB would need 0x1_0000_0000: does not fit, nothing consumed */
	CHECK_EQ(machine_alloc_pci_mem(m, 1ull << 30), 0);
	CHECK_EQ(m->pci_mem_next, MACHINE_PCI_MEM_BASE + 0x8020);
	a = machine_alloc_pci_mem(m, 128 * MiB);
	CHECK_EQ(a, 0xe8000000ull);                      /* aligned up to 128 MiB */
	CHECK_EQ(machine_alloc_pci_mem(m, 256 * MiB), 0); /* 0xf0000000 + 256M is past the end */
	CHECK_EQ(m->pci_mem_next, 0xf0000000ull);
	CHECK_EQ(machine_alloc_pci_mem(m, 4 * MiB), 0xf0000000ull);
	/* 232 MiB are left, but a 128 MiB block would have to start at 0xf8000000 */
	CHECK_EQ(machine_alloc_pci_mem(m, 128 * MiB), 0);
	CHECK_EQ(machine_alloc_pci_mem(m, 64 * MiB), 0xf4000000ull);
	free_machine(m);

	/* fill the window exactly, then it is full */
	m = new_machine(16 * MiB);
	{
		uint64_t n = 0, last = 0;

		while ((a = machine_alloc_pci_mem(m, 4 * MiB)) != 0) {
			CHECK_EQ(a % (4 * MiB), 0);
			CHECK(a > last);
			last = a;
			n++;
		}
		CHECK_EQ(n, (MACHINE_PCI_MEM_END - MACHINE_PCI_MEM_BASE) / (4 * MiB));
		CHECK_EQ(last + 4 * MiB, MACHINE_PCI_MEM_END);
		CHECK_EQ(machine_alloc_pci_mem(m, 16), 0);
	}
	/* a corrupt cursor does not wrap around into the window */
	m->pci_mem_next = UINT64_MAX - 5;
	CHECK_EQ(machine_alloc_pci_mem(m, 16), 0);
	CHECK_EQ(m->pci_mem_next, UINT64_MAX - 5);
	free_machine(m);
}

static void test_alloc_pci_io(void)
{
	struct machine *m = new_machine(16 * MiB);

	CHECK_EQ(machine_alloc_pci_io(m, 0x100), 0xc000);
	CHECK_EQ(machine_alloc_pci_io(m, 0x40), 0xc100);
	CHECK_EQ(machine_alloc_pci_io(m, 0x1000), 0xd000);
	CHECK_EQ(machine_alloc_pci_io(m, 0x10000), 0);       /* bigger than the window */
	CHECK_EQ(machine_alloc_pci_io(m, 0x4000), 0);        /* would end past 0xffff */
	CHECK_EQ(machine_alloc_pci_io(m, 6), 0);
	CHECK_EQ(machine_alloc_pci_io(m, 0), 0);
	CHECK_EQ(machine_alloc_pci_io(m, 0x80000000u), 0);
	CHECK_EQ(m->pci_io_next, 0xe000);
	CHECK_EQ(machine_alloc_pci_io(m, 0x2000), 0xe000);
	CHECK_EQ(m->pci_io_next, 0x10000);
	CHECK_EQ(machine_alloc_pci_io(m, 1), 0);
	free_machine(m);
}

static void test_alloc_vmmio(void)
{
	struct machine *m = new_machine(16 * MiB);
	struct fake f = { 0 };

	CHECK_EQ(machine_alloc_vmmio(m), MACHINE_VMMIO_BASE);
	CHECK_EQ(machine_map_mmio(m, MACHINE_VMMIO_BASE + 0x1000, 0x200, &fake_ops, &f, "x"), 0);
	CHECK_EQ(machine_map_mmio(m, MACHINE_VMMIO_BASE + 0x3100, 0x10, &fake_ops, &f, "y"), 0);
	CHECK_EQ(machine_alloc_vmmio(m), MACHINE_VMMIO_BASE + 0x2000);
	CHECK_EQ(machine_alloc_vmmio(m), MACHINE_VMMIO_BASE + 0x4000); /* 0x3000 is busy */
	/* a range reaching into the next slot from below makes it busy too */
	CHECK_EQ(machine_map_mmio(m, MACHINE_VMMIO_BASE + 0x4f00, 0x200, &fake_ops, &f, "z"), 0);
	CHECK_EQ(machine_alloc_vmmio(m), MACHINE_VMMIO_BASE + 0x6000);
	m->vmmio_next = MACHINE_VMMIO_END - MACHINE_VMMIO_STRIDE;
	CHECK_EQ(machine_alloc_vmmio(m), MACHINE_VMMIO_END - MACHINE_VMMIO_STRIDE);
	CHECK_EQ(machine_alloc_vmmio(m), 0);
	CHECK_EQ(m->vmmio_next, MACHINE_VMMIO_END);
	free_machine(m);
}

/* ---- interrupts --------------------------------------------------------- */

static void test_irq_default_sink(void)
{
	struct machine *m = new_machine(16 * MiB);

	machine_set_intx(m, 3, true);
	CHECK_EQ(m->intx_level, 1u << 3);
	CHECK_EQ(m->intx_raised, 1);
	machine_set_intx(m, 3, true);            /* a second source shares the line */
	CHECK_EQ(m->intx_raised, 1);             /* already high: not an edge */
	CHECK_EQ(m->intx_sources[3], 2);
	machine_set_intx(m, 23, true);
	CHECK_EQ(m->intx_level, 1u << 3 | 1u << 23);
	CHECK_EQ(m->intx_raised, 2);
	machine_set_intx(m, 3, false);           /* one source lowers: still held */
	CHECK_EQ(m->intx_level, 1u << 3 | 1u << 23);
	machine_set_intx(m, 3, false);           /* the last one lowers: line low */
	CHECK_EQ(m->intx_level, 1u << 23);
	machine_set_intx(m, 3, false);           /* nobody held it: host bug, reported */
	CHECK_EQ(m->intx_level, 1u << 23);
	CHECK_EQ(diag_count(&m->log, DIAG_DEVICE_ERROR), 1);
	machine_set_intx(m, 3, true);
	CHECK_EQ(m->intx_raised, 3);

	/* out of the interrupt plan: reported, ignored */
	machine_set_intx(m, MACHINE_GSI_COUNT, true);
	machine_set_intx(m, UINT32_MAX, true);
	CHECK_EQ(m->intx_level, 1u << 3 | 1u << 23);
	CHECK_EQ(m->intx_raised, 3);
	CHECK_EQ(diag_count(&m->log, DIAG_DEVICE_ERROR), 3);

	/* MSI ring: newest at (count - 1) % MACHINE_MSI_LOG */
	for (uint32_t i = 0; i < 70; i++)
		machine_msi(m, 0xfee00000ull + i, 0x4000 + i);
	CHECK_EQ(m->msi_count, 70);
	CHECK_EQ(m->msi_log[(70 - 1) % MACHINE_MSI_LOG].data, 0x4000 + 69);
	CHECK_EQ(m->msi_log[(70 - 1) % MACHINE_MSI_LOG].addr, 0xfee00000ull + 69);
	CHECK_EQ(m->msi_log[70 % MACHINE_MSI_LOG].data, 0x4000 + 70 - MACHINE_MSI_LOG);
	free_machine(m);
}

struct sink_rec {
	unsigned levels, msis;
	unsigned gsi;
	bool level;
	uint64_t addr;
	uint32_t data;
};

static void rec_set_level(void *ctx, unsigned gsi, bool level)
{
	struct sink_rec *r = ctx;

	r->levels++;
	r->gsi = gsi;
	r->level = level;
}

static void rec_msi(void *ctx, uint64_t addr, uint32_t data)
{
	struct sink_rec *r = ctx;

	r->msis++;
	r->addr = addr;
	r->data = data;
}

static void test_irq_custom_sink(void)
{
	struct machine *m = new_machine(16 * MiB);
	static const struct irq_sink_ops rec_ops = { .set_level = rec_set_level, .msi = rec_msi };
	static const struct irq_sink_ops empty_ops = { 0 };
	struct sink_rec r = { 0 };

	machine_set_irq_sink(m, &rec_ops, &r);
	machine_set_intx(m, 9, true);
	CHECK_EQ(r.levels, 1);
	CHECK_EQ(r.gsi, 9);
	CHECK_EQ(r.level, true);
	machine_set_intx(m, 9, false);
	CHECK_EQ(r.level, false);
	machine_set_intx(m, 24, true);             /* filtered before the sink */
	CHECK_EQ(r.levels, 2);
	machine_msi(m, 0xfee01000, 0x31);
	CHECK_EQ(r.msis, 1);
	CHECK_EQ(r.addr, 0xfee01000);
	CHECK_EQ(r.data, 0x31);
	CHECK_EQ(m->intx_level, 0);                /* the default sink saw nothing */
	CHECK_EQ(m->intx_raised, 0);
	CHECK_EQ(m->msi_count, 0);

	/* a sink without callbacks drops everything */
	machine_set_irq_sink(m, &empty_ops, NULL);
	machine_set_intx(m, 1, true);
	machine_msi(m, 1, 2);

	/* NULL restores the default sink */
	machine_set_irq_sink(m, NULL, &r);
	machine_set_intx(m, 4, true);
	machine_msi(m, 0xfee00000, 7);
	CHECK_EQ(m->intx_level, 1u << 4);
	CHECK_EQ(m->msi_count, 1);
	CHECK_EQ(m->msi_log[0].data, 7);
	CHECK_EQ(r.levels, 2);
	CHECK_EQ(r.msis, 1);
	free_machine(m);
}

/* ---- parts -------------------------------------------------------------- */

static int destroyed[64];
static unsigned ndestroyed;

static void part_destroy(void *ctx)
{
	destroyed[ndestroyed++] = (int)(intptr_t)ctx;
}

struct mapped_part {
	struct machine *m;
	int unmap_result;
	void *heap;
};

/* A part that unmaps its range and frees memory when destroyed. */
static void mapped_part_destroy(void *ctx)
{
	struct mapped_part *p = ctx;

	p->unmap_result = machine_unmap_mmio(p->m, 0xd0000000, p);
	free(p->heap);
	destroyed[ndestroyed++] = 100;
}

static void test_parts(void)
{
	struct machine *m = new_machine(16 * MiB);
	struct mapped_part mp = { .m = m, .unmap_result = 1 };

	ndestroyed = 0;
	mp.heap = malloc(64);
	CHECK_EQ(machine_add_part(m, NULL, NULL), -EINVAL);
	CHECK_EQ(machine_add_part(m, part_destroy, (void *)(intptr_t)1), 0);
	CHECK_EQ(machine_add_part(m, mapped_part_destroy, &mp), 0);
	CHECK_EQ(machine_map_mmio(m, 0xd0000000, 0x200, &fake_ops, &mp, "mp"), 0);
	CHECK_EQ(machine_add_part(m, part_destroy, (void *)(intptr_t)2), 0);
	CHECK_EQ(machine_add_part(m, part_destroy, (void *)(intptr_t)3), 0);
	CHECK_EQ(m->nparts, 4);
	CHECK_EQ(ndestroyed, 0);
	free_machine(m);
	CHECK_EQ(ndestroyed, 4);
	CHECK_EQ(destroyed[0], 3);
	CHECK_EQ(destroyed[1], 2);
	CHECK_EQ(destroyed[2], 100);
	CHECK_EQ(destroyed[3], 1);
	CHECK_EQ(mp.unmap_result, 0);               /* maps still alive for parts */

	/* the part list is bounded */
	m = new_machine(16 * MiB);
	ndestroyed = 0;
	for (unsigned i = 0; i < RS_ARRAY_SIZE(m->parts); i++)
		CHECK_EQ(machine_add_part(m, part_destroy, (void *)(intptr_t)i), 0);
	CHECK_EQ(machine_add_part(m, part_destroy, NULL), -ENOSPC);
	free_machine(m);
	CHECK_EQ(ndestroyed, RS_ARRAY_SIZE(m->parts));
	CHECK_EQ(destroyed[0], (int)RS_ARRAY_SIZE(m->parts) - 1);
}

/* machine_reset: hooks in creation order, a second round for those that
 * ask, then the machine's own state back to just-built. */
static unsigned reset_calls[8], nreset;
static int reset_again[8];

static int part_reset(void *ctx)
{
	unsigned i = (unsigned)(intptr_t)ctx;

	reset_calls[nreset++ % 8] = i;
	return reset_again[i]-- > 0 ? 1 : 0;
}

static void test_reset(void)
{
	struct machine *m = new_machine(16 * MiB);
	uint8_t b = 0x5a, z = 0;
	struct gm_stats zero_stats = { 0 };

	nreset = 0;
	memset(reset_again, 0, sizeof(reset_again));
	CHECK_EQ(machine_add_part_reset(m, NULL, part_reset, NULL), -EINVAL);
	CHECK_EQ(machine_add_part_reset(m, part_destroy, part_reset, (void *)(intptr_t)1), 0);
	CHECK_EQ(machine_add_part(m, part_destroy, (void *)(intptr_t)2), 0); /* no hook */
	CHECK_EQ(machine_add_part_reset(m, part_destroy, part_reset, (void *)(intptr_t)3), 0);
	CHECK(m->parts[1].reset == NULL);
	reset_again[1] = 1; /* part 1 asks for a second call */

	/* dirty everything the reset puts back */
	CHECK_EQ(gm_write(&m->gm, 0x3000, &b, 1), 0);
	CHECK_EQ(gm_guest_write(&m->gm, 0x9000, &b, 1), 0);
	machine_pio_write(m, 0xcf8, 4, 0x80000800);
	machine_set_intx(m, 5, true);
	machine_set_intx(m, 6, true);
	machine_set_intx(m, 6, true);
	for (unsigned i = 0; i < MACHINE_MSI_LOG + 3; i++)
		machine_msi(m, 0xfee00000, i);
	(void)machine_pio_read(m, 0x80, 1); /* unmapped: a machine diagnostic */
	CHECK(m->log.total > 0);
	CHECK_EQ(gm_dirty_count(&m->gm), 2);

	machine_reset(m);
	CHECK_EQ(nreset, 3);
	CHECK_EQ(reset_calls[0], 1);
	CHECK_EQ(reset_calls[1], 3);
	CHECK_EQ(reset_calls[2], 1); /* the second round */
	CHECK_EQ(gm_dirty_count(&m->gm), 0);
	CHECK_EQ(gm_guest_read(&m->gm, 0x3000, &z, 1), 0);
	CHECK_EQ(z, 0);
	CHECK_EQ(gm_guest_read(&m->gm, 0x9000, &z, 1), 0);
	CHECK_EQ(z, 0);
	CHECK(memcmp(&m->gm.stats, &zero_stats, sizeof(zero_stats)) == 0);
	CHECK_EQ(m->conf1_addr, 0);
	CHECK_EQ(m->intx_level, 0);
	CHECK_EQ(m->intx_raised, 0);
	CHECK_EQ(m->intx_sources[6], 0);
	CHECK_EQ(m->msi_count, 0);
	CHECK_EQ(m->msi_log[0].data, 0);
	CHECK_EQ(m->msi_log[MACHINE_MSI_LOG - 1].addr, 0);
	CHECK_EQ(m->log.total, 0);
	CHECK_EQ(diag_count(&m->log, DIAG_IO_UNMAPPED), 0);
	/* the machine works as before */
	machine_set_intx(m, 6, true);
	CHECK_EQ(m->intx_level, 1u << 6);
	CHECK_EQ(m->intx_raised, 1);
	/* a reset with nothing dirty calls each hook once */
	nreset = 0;
	machine_reset(m);
	CHECK_EQ(nreset, 2);
	ndestroyed = 0;
	free_machine(m);
	CHECK_EQ(ndestroyed, 3);
}

/* Destroying twice, or a failed init, leaves nothing behind. */
static void test_destroy_twice(void)
{
	struct machine *m = new_machine(8 * MiB);
	struct fake f = { 0 };

	CHECK_EQ(machine_map_pio(m, 0x10, 4, &fake_ops, &f, "x"), 0);
	machine_destroy(m);
	CHECK_EQ(m->pio.n, 0);
	CHECK_EQ(m->gm.nregions, 0);
	machine_destroy(m);
	CHECK_EQ(machine_init(m, 3), -EINVAL);
	CHECK_EQ(m->gm.nregions, 0);
	free(m);
}

int main(void)
{
	RUN(test_io_map_add_overlap);
	RUN(test_io_map_find_remove);
	RUN(test_io_map_many);
	RUN(test_init_sizes);
	RUN(test_entry_points);
	RUN(test_conf1_address);
	RUN(test_conf1_host_bridge);
	RUN(test_conf1_routing);
	RUN(test_pci_cfg_direct);
	RUN(test_pci_add);
	RUN(test_alloc_pci_mem);
	RUN(test_alloc_pci_io);
	RUN(test_alloc_vmmio);
	RUN(test_irq_default_sink);
	RUN(test_irq_custom_sink);
	RUN(test_parts);
	RUN(test_reset);
	RUN(test_destroy_twice);
	return check_done();
}
