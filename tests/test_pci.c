/*
 * ringside tests — the generic PCI function (transports/pci.c): config
 * space masks, command/status, BAR sizing and placement by the guest,
 * capability list, INTx and MSI-X. Driven through conf1 ports and the
 * machine's address maps, as a guest would.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "../transports/pci.h"

#define SLOT 3
#define GSI 20

/* ---- a recording BAR region ---------------------------------------------------------- */

struct rec {
	unsigned reads, writes;
	uint64_t off, val;
	unsigned size;
};

static uint64_t rec_read(void *ctx, uint64_t off, unsigned size)
{
	struct rec *r = ctx;

	r->reads++;
	r->off = off;
	r->size = size;
	return 0x5a00 + off;
}

static void rec_write(void *ctx, uint64_t off, unsigned size, uint64_t val)
{
	struct rec *r = ctx;

	r->writes++;
	r->off = off;
	r->size = size;
	r->val = val;
}

static const struct io_ops rec_ops = { .read = rec_read, .write = rec_write };

/* One function: BAR0 I/O 0x20, BAR1 mem32 4K, BAR2/3 mem64 16K, BAR4 none,
 * BAR5 MSI-X (4 vectors, table 0, PBA 0x800). */
struct fx {
	struct machine m;
	struct diag_log log;
	struct pci_func f;
	struct rec io, m32, m64;
	int msix_cap;
};

static struct fx *fx_new(void)
{
	struct fx *x = calloc(1, sizeof(*x));

	CHECK_EQ(machine_init(&x->m, 16u << 20), 0);
	diag_init(&x->log, "pcitest");
	pci_func_init(&x->f, &x->m, &x->log, "t");
	pci_set_gsi(&x->f, GSI);
	pci_set_ids(&x->f, 0x1234, 0x5678, 7, 0x0200, 0xabcd, 0x0042);
	CHECK_EQ(pci_set_bar(&x->f, 0, PCI_BAR_KIND_IO, 0x20, &rec_ops, &x->io), 0);
	CHECK_EQ(pci_set_bar(&x->f, 1, PCI_BAR_KIND_MEM32, 0x1000, &rec_ops, &x->m32), 0);
	CHECK_EQ(pci_set_bar(&x->f, 2, PCI_BAR_KIND_MEM64, 0x4000, &rec_ops, &x->m64), 0);
	x->msix_cap = pci_msix_init(&x->f, 4, 5, 0x1000, 0, 0x800);
	CHECK(x->msix_cap >= 0x40);
	CHECK_EQ(pci_place_bars(&x->f), 0);
	CHECK_EQ(machine_pci_add(&x->m, SLOT, &pci_func_dev_ops, &x->f), SLOT);
	return x;
}

static void fx_free(struct fx *x)
{
	pci_unmap_all(&x->f);
	machine_destroy(&x->m);
	free(x);
}

/* conf1 accesses through the ports, as a guest makes them */
static uint32_t cfg_rd(struct machine *m, unsigned slot, unsigned off, unsigned size)
{
	machine_pio_write(m, PCI_CONF1_ADDR_PORT, 4, PCI_CONF1_ENABLE | slot << 11 | (off & 0xfc));
	return (uint32_t)machine_pio_read(m, (uint16_t)(PCI_CONF1_DATA_PORT + (off & 3)), size);
}

static void cfg_wr(struct machine *m, unsigned slot, unsigned off, unsigned size, uint32_t val)
{
	machine_pio_write(m, PCI_CONF1_ADDR_PORT, 4, PCI_CONF1_ENABLE | slot << 11 | (off & 0xfc));
	machine_pio_write(m, (uint16_t)(PCI_CONF1_DATA_PORT + (off & 3)), size, val);
}

static uint32_t rd(struct fx *x, unsigned off, unsigned size)
{
	return cfg_rd(&x->m, SLOT, off, size);
}

static void wr(struct fx *x, unsigned off, unsigned size, uint32_t val)
{
	cfg_wr(&x->m, SLOT, off, size, val);
}

static uint32_t bar_lo(struct fx *x, unsigned i)
{
	return rd(x, PCI_BAR0 + 4 * i, 4);
}

/* ---- header ------------------------------------------------------------------------------ */

static void test_header_readonly_ids(void)
{
	struct fx *x = fx_new();

	CHECK_EQ(rd(x, PCI_VENDOR_ID, 2), 0x1234);
	CHECK_EQ(rd(x, PCI_DEVICE_ID, 2), 0x5678);
	CHECK_EQ(rd(x, 0, 4), 0x56781234);
	CHECK_EQ(rd(x, PCI_REVISION_ID, 1), 7);
	CHECK_EQ(rd(x, PCI_CLASS_PROG, 1), 0);
	CHECK_EQ(rd(x, PCI_CLASS_DEVICE, 2), 0x0200);
	CHECK_EQ(rd(x, PCI_HEADER_TYPE, 1), 0);
	CHECK_EQ(rd(x, PCI_SUBSYSTEM_VENDOR_ID, 2), 0xabcd);
	CHECK_EQ(rd(x, PCI_SUBSYSTEM_ID, 2), 0x0042);
	CHECK_EQ(rd(x, PCI_INTERRUPT_PIN, 1), PCI_INTERRUPT_PIN_INTA);
	CHECK_EQ(rd(x, PCI_INTERRUPT_LINE, 1), GSI);

	/* writes to read-only bytes change nothing and are no violation */
	wr(x, 0, 4, 0xffffffff);
	wr(x, PCI_CLASS_REVISION, 4, 0);
	wr(x, PCI_SUBSYSTEM_VENDOR_ID, 4, 0);
	wr(x, PCI_CACHE_LINE_SIZE, 4, 0xffffffff);
	wr(x, PCI_INTERRUPT_PIN, 1, 4);
	CHECK_EQ(rd(x, 0, 4), 0x56781234);
	CHECK_EQ(rd(x, PCI_CLASS_REVISION, 4), 0x02000007);
	CHECK_EQ(rd(x, PCI_SUBSYSTEM_VENDOR_ID, 4), 0x0042abcd);
	CHECK_EQ(rd(x, PCI_CACHE_LINE_SIZE, 4), 0);
	CHECK_EQ(rd(x, PCI_INTERRUPT_PIN, 1), 1);
	/* the line register is firmware's scratch: writable */
	wr(x, PCI_INTERRUPT_LINE, 1, 11);
	CHECK_EQ(rd(x, PCI_INTERRUPT_LINE, 1), 11);
	/* no expansion ROM: sizing reads 0 */
	wr(x, PCI_ROM_ADDRESS, 4, 0xffffffff);
	CHECK_EQ(rd(x, PCI_ROM_ADDRESS, 4), 0);
	/* a 2-byte access across a dword's middle (split by the bridge) */
	CHECK_EQ(rd(x, 1, 2), 0x7812);
	CHECK_EQ(diag_count_class(&x->log, DIAG_CLASS_DRIVER), 0);
	fx_free(x);
}

static void test_command_status(void)
{
	struct fx *x = fx_new();

	/* firmware enabled decode for the BARs it placed */
	CHECK_EQ(rd(x, PCI_COMMAND, 2), PCI_COMMAND_IO | PCI_COMMAND_MEMORY);
	wr(x, PCI_COMMAND, 2, 0xffff);
	CHECK_EQ(rd(x, PCI_COMMAND, 2), PCI_COMMAND_WMASK);
	wr(x, PCI_COMMAND, 2, PCI_COMMAND_MASTER);
	CHECK_EQ(rd(x, PCI_COMMAND, 2), PCI_COMMAND_MASTER);

	/* status: CAP_LIST (there is the MSI-X cap), read-only */
	CHECK_EQ(rd(x, PCI_STATUS, 2), PCI_STATUS_CAP_LIST);
	wr(x, PCI_STATUS, 2, 0);
	CHECK_EQ(rd(x, PCI_STATUS, 2), PCI_STATUS_CAP_LIST);
	/* RW1C: an error bit the function set is cleared by writing 1 only */
	x->f.cfg[PCI_STATUS + 1] |= PCI_STATUS_SIG_TARGET_ABORT >> 8;
	wr(x, PCI_STATUS, 2, 0x0000);
	CHECK_EQ(rd(x, PCI_STATUS, 2), PCI_STATUS_CAP_LIST | PCI_STATUS_SIG_TARGET_ABORT);
	wr(x, PCI_STATUS, 2, 0x8000); /* another RW1C bit: nothing to clear */
	CHECK_EQ(rd(x, PCI_STATUS, 2), PCI_STATUS_CAP_LIST | PCI_STATUS_SIG_TARGET_ABORT);
	wr(x, PCI_STATUS, 2, PCI_STATUS_SIG_TARGET_ABORT | PCI_STATUS_CAP_LIST);
	CHECK_EQ(rd(x, PCI_STATUS, 2), PCI_STATUS_CAP_LIST);
	/* a dword write of command+status: command taken, status bits RW1C */
	x->f.cfg[PCI_STATUS + 1] |= PCI_STATUS_SIG_TARGET_ABORT >> 8;
	wr(x, PCI_COMMAND, 4, (uint32_t)PCI_STATUS_SIG_TARGET_ABORT << 16 | PCI_COMMAND_IO);
	CHECK_EQ(rd(x, PCI_COMMAND, 4), (uint32_t)PCI_STATUS_CAP_LIST << 16 | PCI_COMMAND_IO);
	fx_free(x);
}

static void test_cfg_access_checks(void)
{
	struct fx *x = fx_new();

	/* the function checks what reaches it directly, too */
	CHECK_EQ(pci_cfg_read(&x->f, 1, 2), 0xffff);
	CHECK_EQ(pci_cfg_read(&x->f, 0, 3), 0xffffff);
	CHECK_EQ(pci_cfg_read(&x->f, 256, 1), 0xff);
	CHECK_EQ(diag_count(&x->log, DIAG_PCI_CFG), 3);
	pci_cfg_write(&x->f, 2, 4, 0);
	pci_cfg_write(&x->f, PCI_INTERRUPT_LINE, 8, 0);
	CHECK_EQ(diag_count(&x->log, DIAG_PCI_CFG), 5);
	CHECK_EQ(rd(x, PCI_INTERRUPT_LINE, 1), GSI);
	CHECK_EQ(pci_cfg_read(&x->f, 0, 4), 0x56781234);
	fx_free(x);
}

/* ---- BARs -------------------------------------------------------------------------------- */

static void test_bar_initial_placement(void)
{
	struct fx *x = fx_new();
	uint64_t io = pci_bar_addr(&x->f, 0), m32 = pci_bar_addr(&x->f, 1);
	uint64_t m64 = pci_bar_addr(&x->f, 2);

	CHECK(io >= MACHINE_PCI_IO_BASE && io + 0x20 <= MACHINE_PCI_IO_END);
	CHECK_EQ(io % 0x20, 0);
	CHECK(m32 >= MACHINE_PCI_MEM_BASE && m32 + 0x1000 <= MACHINE_PCI_MEM_END);
	CHECK_EQ(m32 % 0x1000, 0);
	CHECK(m64 >= MACHINE_PCI_MEM_BASE && m64 % 0x4000 == 0);
	CHECK_EQ(bar_lo(x, 0), io | PCI_BAR_IO);
	CHECK_EQ(bar_lo(x, 1), m32);
	CHECK_EQ(bar_lo(x, 2), m64 | PCI_BAR_MEM64);
	CHECK_EQ(bar_lo(x, 3), 0);
	CHECK_EQ(bar_lo(x, 4), 0);
	CHECK_EQ(pci_bar_addr(&x->f, 4), 0);
	CHECK_EQ(pci_bar_addr(&x->f, 3), 0);
	CHECK_EQ(pci_bar_addr(&x->f, 9), 0);

	/* the regions answer at their addresses with offsets inside the BAR */
	CHECK_EQ(machine_pio_read(&x->m, (uint16_t)(io + 6), 2), 0x5a06);
	CHECK_EQ(x->io.off, 6);
	CHECK_EQ(x->io.size, 2);
	machine_mmio_write(&x->m, m32 + 0x10, 4, 0xdead);
	CHECK_EQ(x->m32.writes, 1);
	CHECK_EQ(x->m32.off, 0x10);
	CHECK_EQ(x->m32.val, 0xdead);
	CHECK_EQ(machine_mmio_read(&x->m, m64 + 0x3ff8, 8), 0x5a00 + 0x3ff8);
	CHECK_EQ(x->m64.size, 8);
	CHECK_EQ(diag_count(&x->m.log, DIAG_IO_UNMAPPED), 0);
	fx_free(x);
}

static void test_bar_sizing(void)
{
	struct fx *x = fx_new();
	uint32_t io = bar_lo(x, 0), m32 = bar_lo(x, 1), m64 = bar_lo(x, 2);

	/* sizing with decode still enabled (not every guest turns it off):
	 * quiet, and the BAR works again once restored */
	wr(x, PCI_BAR0, 4, 0xffffffff);
	CHECK_EQ(bar_lo(x, 0), 0xffffffe0u | PCI_BAR_IO);
	wr(x, PCI_BAR0 + 4, 4, 0xffffffff);
	CHECK_EQ(bar_lo(x, 1), 0xfffff000u);
	wr(x, PCI_BAR0 + 8, 4, 0xffffffff);
	CHECK_EQ(bar_lo(x, 2), 0xffffc000u | PCI_BAR_MEM64);
	wr(x, PCI_BAR0 + 12, 4, 0xffffffff);
	CHECK_EQ(bar_lo(x, 3), 0xffffffffu);
	wr(x, PCI_BAR0 + 16, 4, 0xffffffff);
	CHECK_EQ(bar_lo(x, 4), 0);
	wr(x, PCI_BAR0 + 20, 4, 0xffffffff);
	CHECK_EQ(bar_lo(x, 5), 0xfffff000u);

	/* restore the low dword first: the high one still sizes, quiet */
	wr(x, PCI_BAR0 + 8, 4, m64);
	CHECK_EQ(x->f.bar[2].mapped, false);
	wr(x, PCI_BAR0 + 12, 4, 0);
	CHECK_EQ(x->f.bar[2].mapped, true);
	wr(x, PCI_BAR0, 4, io);
	wr(x, PCI_BAR0 + 4, 4, m32);
	CHECK_EQ(diag_count(&x->log, DIAG_PCI_BAR), 0);
	CHECK_EQ(machine_pio_read(&x->m, (uint16_t)((io & ~3u) + 2), 2), 0x5a02);
	CHECK_EQ(machine_mmio_read(&x->m, m32 + 4, 4), 0x5a04);
	CHECK_EQ(machine_mmio_read(&x->m, (m64 & ~0xfu) + 8, 4), 0x5a08);
	/* type bits are read-only */
	wr(x, PCI_BAR0 + 4, 4, m32 | 0xf);
	CHECK_EQ(bar_lo(x, 1), m32);
	fx_free(x);
}

static void test_bar_move_and_decode(void)
{
	struct fx *x = fx_new();
	uint64_t old = pci_bar_addr(&x->f, 1), neu = 0xf0000000;

	wr(x, PCI_BAR0 + 4, 4, (uint32_t)neu);
	CHECK_EQ(pci_bar_addr(&x->f, 1), neu);
	CHECK_EQ(machine_mmio_read(&x->m, neu + 0x20, 4), 0x5a20);
	CHECK_EQ(machine_mmio_read(&x->m, old + 0x20, 4), 0xffffffff);
	CHECK_EQ(diag_count(&x->m.log, DIAG_IO_UNMAPPED), 1);

	/* memory decode off: every memory BAR leaves the map, I/O stays */
	uint64_t io = pci_bar_addr(&x->f, 0), m64 = pci_bar_addr(&x->f, 2);
	wr(x, PCI_COMMAND, 2, PCI_COMMAND_IO);
	CHECK_EQ(machine_mmio_read(&x->m, neu, 4), 0xffffffff);
	CHECK_EQ(machine_mmio_read(&x->m, m64, 4), 0xffffffff);
	CHECK_EQ(machine_pio_read(&x->m, (uint16_t)io, 1), 0x00);
	CHECK_EQ(x->io.reads, 1);
	/* moving a BAR while decode is off maps nothing */
	wr(x, PCI_BAR0 + 4, 4, 0xf0100000);
	CHECK_EQ(x->f.bar[1].mapped, false);
	wr(x, PCI_COMMAND, 2, PCI_COMMAND_IO | PCI_COMMAND_MEMORY);
	CHECK_EQ(machine_mmio_read(&x->m, 0xf0100000 + 8, 4), 0x5a08);
	CHECK_EQ(machine_mmio_read(&x->m, m64 + 8, 4), 0x5a08);
	/* I/O decode off */
	wr(x, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	uint64_t unmapped = diag_count(&x->m.log, DIAG_IO_UNMAPPED);
	CHECK_EQ(machine_pio_read(&x->m, (uint16_t)io, 1), 0xff);
	CHECK_EQ(diag_count(&x->m.log, DIAG_IO_UNMAPPED), unmapped + 1);
	wr(x, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_IO);
	/* move the I/O BAR */
	wr(x, PCI_BAR0, 4, 0xd000);
	CHECK_EQ(machine_pio_read(&x->m, 0xd004, 4), 0x5a04);
	/* address 0 unmaps quietly */
	wr(x, PCI_BAR0, 4, 0);
	CHECK_EQ(x->f.bar[0].mapped, false);
	CHECK_EQ(diag_count(&x->log, DIAG_PCI_BAR), 0);
	/* rewriting the same address keeps the mapping */
	wr(x, PCI_BAR0, 4, 0xd000);
	wr(x, PCI_BAR0, 4, 0xd000);
	CHECK_EQ(x->f.bar[0].mapped, true);
	CHECK_EQ(x->f.bar[0].placed, 0xd000);
	/* byte-wise reprogramming: each write remaps */
	wr(x, PCI_BAR0 + 1, 1, 0xe0);
	CHECK_EQ(pci_bar_addr(&x->f, 0), 0xe000);
	CHECK_EQ(machine_pio_read(&x->m, 0xe000, 1), 0x00);
	CHECK_EQ(x->io.off, 0);
	CHECK_EQ(diag_count(&x->log, DIAG_PCI_BAR), 0);
	fx_free(x);
}

static void test_bar_bad_placement(void)
{
	struct fx *x = fx_new();
	uint64_t m32 = pci_bar_addr(&x->f, 1), m64 = pci_bar_addr(&x->f, 2);
	uint32_t io = (uint32_t)pci_bar_addr(&x->f, 0);

	/* memory BAR in RAM, below the window */
	wr(x, PCI_BAR0 + 4, 4, 0x100000);
	CHECK_EQ(diag_count(&x->log, DIAG_PCI_BAR), 1);
	CHECK_EQ(diag_last(&x->log)->code, DIAG_PCI_BAR);
	CHECK_EQ(x->f.bar[1].mapped, false);
	CHECK_EQ(machine_mmio_read(&x->m, m32, 4), 0xffffffff);
	/* the last page of the window is fine, the first page after it is not */
	wr(x, PCI_BAR0 + 4, 4, (uint32_t)MACHINE_PCI_MEM_END - 0x1000);
	CHECK_EQ(x->f.bar[1].mapped, true);
	CHECK_EQ(machine_mmio_read(&x->m, MACHINE_PCI_MEM_END - 0x1000 + 4, 4), 0x5a04);
	wr(x, PCI_BAR0 + 4, 4, (uint32_t)MACHINE_PCI_MEM_END);
	CHECK_EQ(x->f.bar[1].mapped, false);
	CHECK_EQ(diag_count(&x->log, DIAG_PCI_BAR), 2);
	/* a command write retries (and reports) the misplaced BAR */
	wr(x, PCI_COMMAND, 2, PCI_COMMAND_IO | PCI_COMMAND_MEMORY);
	CHECK_EQ(diag_count(&x->log, DIAG_PCI_BAR), 3);
	/* over another BAR of the same function */
	wr(x, PCI_BAR0 + 4, 4, (uint32_t)m64 + 0x1000);
	CHECK_EQ(diag_count(&x->log, DIAG_PCI_BAR), 4);
	CHECK_EQ(x->f.bar[1].mapped, false);
	CHECK_EQ(machine_mmio_read(&x->m, m64 + 0x1000, 4), 0x5a00 + 0x1000); /* BAR2 kept */
	/* moved back: works again */
	wr(x, PCI_BAR0 + 4, 4, (uint32_t)m32);
	CHECK_EQ(x->f.bar[1].mapped, true);
	CHECK_EQ(machine_mmio_read(&x->m, m32 + 0x40, 4), 0x5a40);

	/* 64-bit BAR above 4 GiB: outside the window */
	wr(x, PCI_BAR0 + 12, 4, 1);
	CHECK_EQ(pci_bar_addr(&x->f, 2), (1ull << 32) | m64);
	CHECK_EQ(x->f.bar[2].mapped, false);
	CHECK_EQ(diag_count(&x->log, DIAG_PCI_BAR), 5);
	wr(x, PCI_BAR0 + 12, 4, 0);
	CHECK_EQ(x->f.bar[2].mapped, true);

	/* I/O BAR below the window (over conf1), above 64 KiB */
	wr(x, PCI_BAR0, 4, 0xce0);
	CHECK_EQ(diag_count(&x->log, DIAG_PCI_BAR), 6);
	CHECK_EQ(machine_pio_read(&x->m, PCI_CONF1_ADDR_PORT, 4) & PCI_CONF1_ENABLE,
		 PCI_CONF1_ENABLE);
	wr(x, PCI_BAR0, 4, 0x12000);
	CHECK_EQ(diag_count(&x->log, DIAG_PCI_BAR), 7);
	CHECK_EQ(x->f.bar[0].mapped, false);
	/* over another I/O range inside the window */
	struct rec squat;
	CHECK_EQ(machine_map_pio(&x->m, 0xf000, 0x10, &rec_ops, &squat, "squat"), 0);
	wr(x, PCI_BAR0, 4, 0xf000);
	CHECK_EQ(diag_count(&x->log, DIAG_PCI_BAR), 8);
	CHECK_EQ(x->f.bar[0].mapped, false);
	wr(x, PCI_BAR0, 4, io);
	CHECK_EQ(x->f.bar[0].mapped, true);
	CHECK_EQ(machine_pio_read(&x->m, (uint16_t)(io + 1), 1), 0x01);
	fx_free(x);
}

static void test_bar_overlap_two_functions(void)
{
	struct fx *x = fx_new();
	struct pci_func *g = calloc(1, sizeof(*g));
	struct diag_log glog;
	struct rec gr = { 0 };
	uint64_t m32 = pci_bar_addr(&x->f, 1);

	diag_init(&glog, "g");
	pci_func_init(g, &x->m, &glog, NULL);
	CHECK_EQ(pci_set_bar(g, 0, PCI_BAR_KIND_MEM32, 0x1000, &rec_ops, &gr), 0);
	CHECK_EQ(pci_place_bars(g), 0);
	CHECK_EQ(machine_pci_add(&x->m, 4, &pci_func_dev_ops, g), 4);
	CHECK(strncmp(g->name, "pci", 3) == 0);

	cfg_wr(&x->m, 4, PCI_BAR0, 4, (uint32_t)m32);
	CHECK_EQ(diag_count(&glog, DIAG_PCI_BAR), 1);
	CHECK_EQ(diag_count(&x->log, DIAG_PCI_BAR), 0);
	CHECK_EQ(machine_mmio_read(&x->m, m32 + 8, 4), 0x5a08);
	CHECK_EQ(x->m32.reads, 1);
	CHECK_EQ(gr.reads, 0);
	/* the first function moves away; the second must be rewritten */
	wr(x, PCI_BAR0 + 4, 4, 0xf8000000);
	cfg_wr(&x->m, 4, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	CHECK_EQ(machine_mmio_read(&x->m, m32 + 8, 4), 0x5a08);
	CHECK_EQ(gr.reads, 1);

	pci_unmap_all(g);
	CHECK_EQ(machine_mmio_read(&x->m, m32 + 8, 4), 0xffffffff);
	CHECK_EQ(machine_pci_remove(&x->m, 4, g), 0);
	free(g);
	fx_free(x);
}

static void test_set_bar_invalid(void)
{
	struct machine m;
	struct pci_func f;
	struct rec r;

	CHECK_EQ(machine_init(&m, 1u << 20), 0);
	pci_func_init(&f, &m, NULL, "inv");
	CHECK_EQ(pci_set_bar(&f, 6, PCI_BAR_KIND_IO, 16, &rec_ops, &r), -EINVAL);
	CHECK_EQ(pci_set_bar(&f, 0, PCI_BAR_KIND_IO, 24, &rec_ops, &r), -EINVAL);
	CHECK_EQ(pci_set_bar(&f, 0, PCI_BAR_KIND_IO, 2, &rec_ops, &r), -EINVAL);
	CHECK_EQ(pci_set_bar(&f, 0, PCI_BAR_KIND_IO, 0x20000, &rec_ops, &r), -EINVAL);
	CHECK_EQ(pci_set_bar(&f, 0, PCI_BAR_KIND_IO, 16, NULL, &r), -EINVAL);
	CHECK_EQ(pci_set_bar(&f, 0, PCI_BAR_KIND_MEM32, 8, &rec_ops, &r), -EINVAL);
	CHECK_EQ(pci_set_bar(&f, 0, PCI_BAR_KIND_MEM32, 1ull << 32, &rec_ops, &r), -EINVAL);
	CHECK_EQ(pci_set_bar(&f, 0, PCI_BAR_KIND_MEM64, 8, &rec_ops, &r), -EINVAL);
	CHECK_EQ(pci_set_bar(&f, 5, PCI_BAR_KIND_MEM64, 0x1000, &rec_ops, &r), -EINVAL);
	CHECK_EQ(pci_set_bar(&f, 0, PCI_BAR_KIND_NONE, 0x1000, &rec_ops, &r), -EINVAL);
	CHECK_EQ(pci_set_bar(&f, 0, PCI_BAR_KIND_MEM64_HI, 0x1000, &rec_ops, &r), -EINVAL);
	CHECK_EQ(pci_set_bar(&f, 1, PCI_BAR_KIND_IO, 16, &rec_ops, &r), 0);
	CHECK_EQ(pci_set_bar(&f, 1, PCI_BAR_KIND_IO, 16, &rec_ops, &r), -EINVAL);
	CHECK_EQ(pci_set_bar(&f, 0, PCI_BAR_KIND_MEM64, 0x1000, &rec_ops, &r), -EINVAL);
	/* a large 64-bit BAR: the high dword's low bits size it */
	CHECK_EQ(pci_set_bar(&f, 2, PCI_BAR_KIND_MEM64, 1ull << 33, &rec_ops, &r), 0);
	CHECK_EQ(rs_le32(&f.wmask[PCI_BAR0 + 12]), 0xfffffffeu);
	CHECK_EQ(rs_le32(&f.wmask[PCI_BAR0 + 8]), 0);
	/* no room for it in the machine */
	CHECK_EQ(pci_place_bars(&f), -ENOSPC);
	CHECK_EQ(m.pio.n, 2); /* only conf1: the I/O BAR was undone */
	machine_destroy(&m);
}

static void test_place_bars_failures(void)
{
	struct machine m;
	struct pci_func f;
	struct rec r;
	struct rec other;

	CHECK_EQ(machine_init(&m, 1u << 20), 0);
	/* I/O window full */
	pci_func_init(&f, &m, NULL, "io");
	CHECK_EQ(pci_set_bar(&f, 0, PCI_BAR_KIND_IO, 0x100, &rec_ops, &r), 0);
	CHECK(machine_alloc_pci_io(&m, 0x2000) != 0);
	CHECK(machine_alloc_pci_io(&m, 0x1000) != 0);
	CHECK(machine_alloc_pci_io(&m, 0x800) != 0);
	while (machine_alloc_pci_io(&m, 0x100))
		;
	CHECK_EQ(pci_place_bars(&f), -ENOSPC);

	/* the next memory address is taken by someone else's range */
	pci_func_init(&f, &m, NULL, "busy");
	CHECK_EQ(pci_set_bar(&f, 1, PCI_BAR_KIND_MEM32, 0x1000, &rec_ops, &r), 0);
	CHECK_EQ(machine_map_mmio(&m, m.pci_mem_next, 0x1000, &rec_ops, &other, "squat"), 0);
	CHECK_EQ(pci_place_bars(&f), -EEXIST);
	CHECK_EQ(f.bar[1].mapped, false);
	CHECK_EQ(m.mmio.n, 1);
	machine_destroy(&m);
}

/* ---- capabilities ---------------------------------------------------------------------- */

static void test_cap_list(void)
{
	struct machine m;
	struct pci_func f;
	int a, b, c, n = 0;
	unsigned p;

	CHECK_EQ(machine_init(&m, 1u << 20), 0);
	pci_func_init(&f, &m, NULL, "caps");
	CHECK_EQ(machine_pci_add(&m, 2, &pci_func_dev_ops, &f), 2);
	CHECK_EQ(cfg_rd(&m, 2, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST, 0);
	CHECK_EQ(cfg_rd(&m, 2, PCI_CAPABILITY_LIST, 1), 0);
	CHECK_EQ(pci_add_cap(&f, 0x09, 1), -ENOSPC);
	a = pci_add_cap(&f, 0x09, 7);
	b = pci_add_cap(&f, 0x05, 10);
	c = pci_add_cap(&f, 0x10, 2);
	CHECK_EQ(a, 0x40);
	CHECK_EQ(b, 0x48); /* dword aligned */
	CHECK_EQ(c, 0x54);
	CHECK(cfg_rd(&m, 2, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
	/* walk it as a guest does */
	unsigned ids[3] = { 0x09, 0x05, 0x10 }, offs[3] = { 0x40, 0x48, 0x54 };
	for (p = cfg_rd(&m, 2, PCI_CAPABILITY_LIST, 1); p && n < 8; n++) {
		CHECK_EQ(p % 4, 0);
		if (n < 3) {
			CHECK_EQ(p, offs[n]);
			CHECK_EQ(cfg_rd(&m, 2, p, 1), ids[n]);
		}
		p = cfg_rd(&m, 2, p + 1, 1);
	}
	CHECK_EQ(n, 3);
	/* capability headers are read-only */
	cfg_wr(&m, 2, 0x40, 4, 0);
	CHECK_EQ(cfg_rd(&m, 2, 0x40, 2), 0x4809);
	/* fill config space */
	while (pci_add_cap(&f, 0x09, 16) > 0 && n < 64)
		n++;
	CHECK(f.cap_last >= 0xe0);
	CHECK_EQ(pci_add_cap(&f, 0x09, 16), -ENOSPC);
	CHECK_EQ(pci_add_cap(&f, 0x09, 300), -ENOSPC);
	machine_destroy(&m);
}

/* ---- INTx -------------------------------------------------------------------------------- */

static void test_intx(void)
{
	struct fx *x = fx_new();
	uint32_t bit = 1u << GSI;

	CHECK_EQ(x->m.intx_level & bit, 0);
	pci_set_intx(&x->f, true);
	CHECK_EQ(x->m.intx_level & bit, bit);
	CHECK(rd(x, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
	CHECK_EQ(x->m.intx_raised, 1);
	/* INTX_DISABLE lowers the pin; the status bit still shows the condition */
	wr(x, PCI_COMMAND, 2, PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_INTX_DISABLE);
	CHECK_EQ(x->m.intx_level & bit, 0);
	CHECK(rd(x, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
	pci_set_intx(&x->f, true);
	CHECK_EQ(x->m.intx_level & bit, 0);
	wr(x, PCI_COMMAND, 2, PCI_COMMAND_IO | PCI_COMMAND_MEMORY);
	CHECK_EQ(x->m.intx_level & bit, bit);
	CHECK_EQ(x->m.intx_raised, 2);
	/* the interrupt status bit is read-only for the guest */
	wr(x, PCI_STATUS, 2, PCI_STATUS_INTERRUPT);
	CHECK(rd(x, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
	pci_set_intx(&x->f, false);
	CHECK_EQ(x->m.intx_level & bit, 0);
	CHECK_EQ(rd(x, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT, 0);
	/* with MSI-X enabled the pin stays low (PCI 6.8.2.3) */
	pci_set_intx(&x->f, true);
	CHECK_EQ(x->m.intx_level & bit, bit);
	wr(x, x->msix_cap + PCI_MSIX_FLAGS, 2, PCI_MSIX_FLAGS_ENABLE);
	CHECK_EQ(x->m.intx_level & bit, 0);
	CHECK(rd(x, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
	wr(x, x->msix_cap + PCI_MSIX_FLAGS, 2, 0);
	CHECK_EQ(x->m.intx_level & bit, bit);
	fx_free(x);
}

/* ---- MSI-X ------------------------------------------------------------------------------- */

static uint64_t msix_base(struct fx *x)
{
	return pci_bar_addr(&x->f, 5);
}

static const struct machine_msi *last_msi(struct fx *x)
{
	return &x->m.msi_log[(x->m.msi_count - 1) % MACHINE_MSI_LOG];
}

static void test_msix_cap_fields(void)
{
	struct fx *x = fx_new();
	unsigned c = (unsigned)x->msix_cap;

	CHECK_EQ(rd(x, c, 1), PCI_CAP_ID_MSIX);
	CHECK_EQ(rd(x, c + 1, 1), 0);
	CHECK_EQ(rd(x, c + PCI_MSIX_FLAGS, 2), 3); /* table size - 1, disabled, unmasked */
	CHECK_EQ(rd(x, c + PCI_MSIX_TABLE, 4), 0x000 | 5);
	CHECK_EQ(rd(x, c + PCI_MSIX_PBA, 4), 0x800 | 5);
	/* only enable and function mask are writable */
	wr(x, c + PCI_MSIX_FLAGS, 2, 0xffff);
	CHECK_EQ(rd(x, c + PCI_MSIX_FLAGS, 2), PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL | 3);
	CHECK(pci_msix_enabled(&x->f));
	wr(x, c, 4, 0);
	CHECK_EQ(rd(x, c, 4), 3u << 16 | PCI_CAP_ID_MSIX);
	CHECK(!pci_msix_enabled(&x->f));
	wr(x, c + PCI_MSIX_TABLE, 4, 0x12345678);
	wr(x, c + PCI_MSIX_PBA, 4, 0);
	CHECK_EQ(rd(x, c + PCI_MSIX_TABLE, 4), 5);
	CHECK_EQ(rd(x, c + PCI_MSIX_PBA, 4), 0x805);
	fx_free(x);
}

static void test_msix_table_access(void)
{
	struct fx *x = fx_new();
	uint64_t t = msix_base(x), pba = t + 0x800;

	/* power-on: every entry masked, zero address and data */
	for (unsigned v = 0; v < 4; v++) {
		CHECK_EQ(machine_mmio_read(&x->m, t + v * 16 + 0, 4), 0);
		CHECK_EQ(machine_mmio_read(&x->m, t + v * 16 + 4, 4), 0);
		CHECK_EQ(machine_mmio_read(&x->m, t + v * 16 + 8, 4), 0);
		CHECK_EQ(machine_mmio_read(&x->m, t + v * 16 + 12, 4), 1);
	}
	machine_mmio_write(&x->m, t + 16, 4, 0xfee00003); /* low bits are not stored */
	machine_mmio_write(&x->m, t + 20, 4, 0x1);
	machine_mmio_write(&x->m, t + 24, 4, 0x4041);
	machine_mmio_write(&x->m, t + 28, 4, 0xfffffffe); /* reserved bits read 0 */
	CHECK_EQ(machine_mmio_read(&x->m, t + 16, 4), 0xfee00000);
	CHECK_EQ(machine_mmio_read(&x->m, t + 20, 4), 1);
	CHECK_EQ(machine_mmio_read(&x->m, t + 24, 4), 0x4041);
	CHECK_EQ(machine_mmio_read(&x->m, t + 28, 4), 0);
	CHECK_EQ(machine_mmio_read(&x->m, t + 16, 8), 0x1fee00000ull);
	CHECK_EQ(machine_mmio_read(&x->m, t + 24, 8), 0x4041);
	/* qword writes: address, then data + control */
	machine_mmio_write(&x->m, t + 32, 8, 0x00000002fee01000ull);
	machine_mmio_write(&x->m, t + 40, 8, 0x0000000100000055ull);
	CHECK_EQ(machine_mmio_read(&x->m, t + 32, 4), 0xfee01000);
	CHECK_EQ(machine_mmio_read(&x->m, t + 36, 4), 2);
	CHECK_EQ(machine_mmio_read(&x->m, t + 40, 4), 0x55);
	CHECK_EQ(machine_mmio_read(&x->m, t + 44, 4), 1);
	CHECK_EQ(diag_count(&x->log, DIAG_MSIX_TABLE), 0);

	/* malformed: byte and word accesses, misaligned dword and qword, the
	 * gap after the table, past the PBA */
	CHECK_EQ(machine_mmio_read(&x->m, t + 16, 1), 0);
	CHECK_EQ(machine_mmio_read(&x->m, t + 16, 2), 0);
	CHECK_EQ(machine_mmio_read(&x->m, t + 18, 4), 0);
	CHECK_EQ(machine_mmio_read(&x->m, t + 20, 8), 0);
	CHECK_EQ(machine_mmio_read(&x->m, t + 64, 4), 0);
	CHECK_EQ(machine_mmio_read(&x->m, pba + 8, 4), 0);
	CHECK_EQ(diag_count(&x->log, DIAG_MSIX_TABLE), 6);
	machine_mmio_write(&x->m, t + 24, 2, 0xffff);
	machine_mmio_write(&x->m, t + 26, 4, 0xffffffff);
	machine_mmio_write(&x->m, t + 0x100, 4, 0xffffffff);
	CHECK_EQ(machine_mmio_read(&x->m, t + 24, 4), 0x4041);
	CHECK_EQ(diag_count(&x->log, DIAG_MSIX_TABLE), 9);
	/* PBA: readable as dword/qword, read-only */
	CHECK_EQ(machine_mmio_read(&x->m, pba, 8), 0);
	CHECK_EQ(machine_mmio_read(&x->m, pba + 4, 4), 0);
	machine_mmio_write(&x->m, pba, 8, 0xf);
	CHECK_EQ(diag_count(&x->log, DIAG_MSIX_TABLE), 10);
	CHECK_EQ(machine_mmio_read(&x->m, pba, 4), 0);
	fx_free(x);
}

static void program_entry(struct fx *x, unsigned v, uint32_t addr, uint32_t data, bool masked)
{
	uint64_t e = msix_base(x) + v * 16;

	machine_mmio_write(&x->m, e, 4, addr);
	machine_mmio_write(&x->m, e + 4, 4, 0);
	machine_mmio_write(&x->m, e + 8, 4, data);
	machine_mmio_write(&x->m, e + 12, 4, masked);
}

static void test_msix_delivery(void)
{
	struct fx *x = fx_new();
	unsigned c = (unsigned)x->msix_cap;
	uint64_t pba = msix_base(x) + 0x800;

	program_entry(x, 0, 0xfee00000, 0x30, false);
	program_entry(x, 1, 0xfee01000, 0x31, true);
	program_entry(x, 2, 0xfee02000, 0x32, false);
	/* disabled: nothing happens, nothing pends */
	CHECK(!pci_msix_notify(&x->f, 0));
	CHECK_EQ(x->m.msi_count, 0);
	CHECK_EQ(machine_mmio_read(&x->m, pba, 4), 0);

	wr(x, c + PCI_MSIX_FLAGS, 2, PCI_MSIX_FLAGS_ENABLE);
	CHECK(pci_msix_notify(&x->f, 0));
	CHECK_EQ(x->m.msi_count, 1);
	CHECK_EQ(last_msi(x)->addr, 0xfee00000);
	CHECK_EQ(last_msi(x)->data, 0x30);
	CHECK(!pci_msix_notify(&x->f, 4)); /* not in the table */
	CHECK(!pci_msix_notify(&x->f, 1000));

	/* entry masked: pending, delivered on unmask */
	CHECK(pci_msix_notify(&x->f, 1));
	CHECK_EQ(x->m.msi_count, 1);
	CHECK_EQ(machine_mmio_read(&x->m, pba, 4), 0x2);
	machine_mmio_write(&x->m, msix_base(x) + 16 + 12, 4, 0);
	CHECK_EQ(x->m.msi_count, 2);
	CHECK_EQ(last_msi(x)->addr, 0xfee01000);
	CHECK_EQ(last_msi(x)->data, 0x31);
	CHECK_EQ(machine_mmio_read(&x->m, pba, 4), 0);
	/* unmasking with nothing pending sends nothing */
	machine_mmio_write(&x->m, msix_base(x) + 16 + 12, 4, 1);
	machine_mmio_write(&x->m, msix_base(x) + 16 + 12, 4, 0);
	CHECK_EQ(x->m.msi_count, 2);

	/* function mask: everything pends, sent in order on unmask */
	wr(x, c + PCI_MSIX_FLAGS, 2, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
	CHECK(pci_msix_notify(&x->f, 2));
	CHECK(pci_msix_notify(&x->f, 0));
	CHECK_EQ(x->m.msi_count, 2);
	CHECK_EQ(machine_mmio_read(&x->m, pba, 8), 0x5);
	/* an entry unmask while the function is masked sends nothing */
	machine_mmio_write(&x->m, msix_base(x) + 12, 4, 1);
	machine_mmio_write(&x->m, msix_base(x) + 12, 4, 0);
	CHECK_EQ(x->m.msi_count, 2);
	wr(x, c + PCI_MSIX_FLAGS, 2, PCI_MSIX_FLAGS_ENABLE);
	CHECK_EQ(x->m.msi_count, 4);
	CHECK_EQ(x->m.msi_log[2].data, 0x30);
	CHECK_EQ(x->m.msi_log[3].data, 0x32);
	CHECK_EQ(machine_mmio_read(&x->m, pba, 8), 0);

	/* pending while function-masked, then disabled and re-enabled unmasked:
	 * the enable flushes it */
	wr(x, c + PCI_MSIX_FLAGS, 2, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
	CHECK(pci_msix_notify(&x->f, 2));
	wr(x, c + PCI_MSIX_FLAGS, 2, 0);
	CHECK_EQ(x->m.msi_count, 4);
	CHECK_EQ(machine_mmio_read(&x->m, pba, 4), 0x4);
	wr(x, c + PCI_MSIX_FLAGS, 2, PCI_MSIX_FLAGS_ENABLE);
	CHECK_EQ(x->m.msi_count, 5);
	CHECK_EQ(last_msi(x)->data, 0x32);
	/* a masked entry stays pending across a function unmask */
	program_entry(x, 3, 0xfee03000, 0x33, true);
	CHECK(pci_msix_notify(&x->f, 3));
	wr(x, c + PCI_MSIX_FLAGS, 2, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
	wr(x, c + PCI_MSIX_FLAGS, 2, PCI_MSIX_FLAGS_ENABLE);
	CHECK_EQ(x->m.msi_count, 5);
	CHECK_EQ(machine_mmio_read(&x->m, pba, 4), 0x8);
	/* an unmask while MSI-X is disabled keeps it pending too */
	wr(x, c + PCI_MSIX_FLAGS, 2, 0);
	machine_mmio_write(&x->m, msix_base(x) + 3 * 16 + 12, 4, 0);
	CHECK_EQ(x->m.msi_count, 5);
	wr(x, c + PCI_MSIX_FLAGS, 2, PCI_MSIX_FLAGS_ENABLE);
	CHECK_EQ(x->m.msi_count, 6);
	CHECK_EQ(last_msi(x)->addr, 0xfee03000);
	/* writing other bytes of the capability does not touch MSI-X state */
	wr(x, c + PCI_MSIX_TABLE, 4, 0);
	CHECK(pci_msix_enabled(&x->f));
	CHECK_EQ(diag_count_class(&x->log, DIAG_CLASS_DRIVER), 0);
	fx_free(x);
}

static void test_msix_init_invalid(void)
{
	struct machine m;
	struct pci_func f;
	struct rec r;

	CHECK_EQ(machine_init(&m, 1u << 20), 0);
	pci_func_init(&f, &m, NULL, "mx");
	CHECK_EQ(pci_msix_init(&f, 0, 1, 0x1000, 0, 0x800), -EINVAL);
	CHECK_EQ(pci_msix_init(&f, PCI_MSIX_MAX + 1, 1, 0x1000, 0, 0x800), -EINVAL);
	CHECK_EQ(pci_msix_init(&f, 4, 1, 0x1000, 4, 0x800), -EINVAL);
	CHECK_EQ(pci_msix_init(&f, 4, 1, 0x1000, 0, 0x804), -EINVAL);
	CHECK_EQ(pci_msix_init(&f, 4, 1, 0x1000, 0xff8, 0x800), -EINVAL);
	CHECK_EQ(pci_msix_init(&f, 4, 1, 0x1000, 0, 0x1000), -EINVAL);
	CHECK_EQ(pci_msix_init(&f, 4, 1, 0x1000, 0, 0x30), -EINVAL); /* PBA in the table */
	CHECK_EQ(pci_msix_init(&f, 4, 1, 0x1000, 0x800, 0x808), -EINVAL);
	CHECK_EQ(pci_set_bar(&f, 1, PCI_BAR_KIND_IO, 16, &rec_ops, &r), 0);
	CHECK_EQ(pci_msix_init(&f, 4, 1, 0x1000, 0, 0x800), -EINVAL); /* BAR taken */
	CHECK_EQ(pci_msix_init(&f, 64, 2, 0x1000, 0, 0x800), 0x40);
	CHECK_EQ(pci_msix_init(&f, 4, 3, 0x1000, 0, 0x800), -EINVAL); /* twice */
	/* no room for the capability: the BAR is given back */
	pci_func_init(&f, &m, NULL, "mx2");
	f.cap_end = 0xf8;
	CHECK_EQ(pci_msix_init(&f, 4, 1, 0x1000, 0, 0x800), -ENOSPC);
	CHECK_EQ(f.bar[1].kind, PCI_BAR_KIND_NONE);
	CHECK_EQ(rs_le32(&f.wmask[PCI_BAR0 + 4]), 0);
	CHECK_EQ(f.msix.nvec, 0);
	CHECK(!pci_msix_notify(&f, 0));
	machine_destroy(&m);
}

/* ---- owner hooks ------------------------------------------------------------------------- */

static unsigned hook_reads, hook_writes, hook_off, hook_size;

static void hook_pre_read(void *owner, unsigned off, unsigned size)
{
	struct pci_func *f = owner;

	hook_reads++;
	hook_off = off;
	hook_size = size;
	f->cfg[0xf0] = (uint8_t)hook_reads;
}

static void hook_post_write(void *owner, unsigned off, unsigned size)
{
	hook_writes++;
	hook_off = off;
	hook_size = size;
}

static const struct pci_func_hooks test_hooks = {
	.cfg_pre_read = hook_pre_read,
	.cfg_post_write = hook_post_write,
};

static void test_hooks_called(void)
{
	struct fx *x = fx_new();

	x->f.hooks = &test_hooks;
	x->f.owner = &x->f;
	hook_reads = hook_writes = 0;
	CHECK_EQ(rd(x, 0xf0, 1), 1);
	CHECK_EQ(rd(x, 0xf0, 4), 2);
	CHECK_EQ(hook_off, 0xf0);
	CHECK_EQ(hook_size, 4);
	wr(x, 0xf2, 2, 0x1234);
	CHECK_EQ(hook_writes, 1);
	CHECK_EQ(hook_off, 0xf2);
	CHECK_EQ(hook_size, 2);
	CHECK_EQ(rd(x, 0xf2, 2), 0); /* stored under the (read-only) mask */
	/* malformed accesses never reach the hooks */
	(void)pci_cfg_read(&x->f, 3, 2);
	pci_cfg_write(&x->f, 3, 2, 0);
	CHECK_EQ(hook_reads, 3);
	CHECK_EQ(hook_writes, 1);
	fx_free(x);
}

int main(void)
{
	RUN(test_header_readonly_ids);
	RUN(test_command_status);
	RUN(test_cfg_access_checks);
	RUN(test_bar_initial_placement);
	RUN(test_bar_sizing);
	RUN(test_bar_move_and_decode);
	RUN(test_bar_bad_placement);
	RUN(test_bar_overlap_two_functions);
	RUN(test_set_bar_invalid);
	RUN(test_place_bars_failures);
	RUN(test_cap_list);
	RUN(test_intx);
	RUN(test_msix_cap_fields);
	RUN(test_msix_table_access);
	RUN(test_msix_delivery);
	RUN(test_msix_init_invalid);
	RUN(test_hooks_called);
	return check_done();
}
