/*
 * ringside — machine: guest memory, port-I/O and MMIO address maps, the PCI
 * host bridge (configuration mechanism #1 at 0xCF8/0xCFC) and the interrupt
 * sink. Fuzz harnesses, recorders and the replayer all enter the device
 * stack through machine_pio_* / machine_mmio_*, so all three exercise one
 * code path.
 *
 * Fixed address plan (documented in docs/machine-spec.md):
 *   RAM        [0, min(mem, 3 GiB)) and the rest from 4 GiB
 *   MMIO       virtio-mmio devices from 0xd0000000, 0x1000 apart
 *   PCI MEM    BARs from 0xe0000000 to 0xfec00000
 *   PCI I/O    BARs from port 0xc000 to 0xffff
 */
#ifndef RINGSIDE_MACHINE_H
#define RINGSIDE_MACHINE_H

#include "ringside/base.h"
#include "ringside/diag.h"
#include "ringside/gm.h"

#define MACHINE_RAM_LOW_MAX 0xc0000000ull
#define MACHINE_RAM_HIGH_BASE 0x100000000ull
#define MACHINE_VMMIO_BASE 0xd0000000ull
#define MACHINE_VMMIO_STRIDE 0x1000ull
#define MACHINE_VMMIO_END 0xe0000000ull
#define MACHINE_PCI_MEM_BASE 0xe0000000ull
#define MACHINE_PCI_MEM_END 0xfec00000ull
#define MACHINE_PCI_IO_BASE 0xc000u
#define MACHINE_PCI_IO_END 0x10000u
#define MACHINE_PCI_SLOTS 32
#define MACHINE_MAX_DEVICES 24
#define MACHINE_GSI_COUNT 24
#define MACHINE_MEM_MAX (64ull << 30) /* largest RAM size machine_init takes */

/* Handlers of one address range. off is the offset inside the range, size
 * 1, 2, 4 or 8 (the machine only passes accesses wholly inside the range).
 * The machine masks read results and written values to size bytes. A NULL
 * read makes the range read all-ones; a NULL write drops writes. */
struct io_ops {
	uint64_t (*read)(void *ctx, uint64_t off, unsigned size);
	void (*write)(void *ctx, uint64_t off, unsigned size, uint64_t val);
};

struct io_range {
	uint64_t base, len;
	const struct io_ops *ops;
	void *ctx;
	char name[16];
};

/* Sorted, non-overlapping ranges; lookups are binary searches. */
struct io_map {
	struct io_range *r;
	unsigned n, cap;
};

/* Interrupt sink: INTx levels per GSI and MSI messages. The default sink
 * records them in the machine (intx_level, msi_log); recorders install their
 * own (KVM: KVM_IRQ_LINE / KVM_SIGNAL_MSI). */
struct irq_sink_ops {
	void (*set_level)(void *ctx, unsigned gsi, bool level);
	void (*msi)(void *ctx, uint64_t addr, uint32_t data);
};

/* One PCI function on bus 0 (function 0 of a slot). off is a config space
 * offset < 256; size 1, 2 or 4; accesses are naturally aligned (the bridge
 * checks). */
struct pci_dev_ops {
	uint32_t (*cfg_read)(void *ctx, unsigned off, unsigned size);
	void (*cfg_write)(void *ctx, unsigned off, unsigned size, uint32_t val);
};

#define MACHINE_MSI_LOG 64

struct machine_msi {
	uint64_t addr;
	uint32_t data;
};

/* Where a device sits, for the builder's report and the reference driver. */
struct machine_devinfo {
	int transport;   /* enum mspec_transport */
	int slot;        /* PCI slot, or -1 */
	uint64_t base;   /* virtio-mmio base, or 0 */
	unsigned gsi;    /* INTx / MMIO interrupt line */
};

/* Things torn down with the machine (transports, devices), in reverse.
 * reset (optional) returns the part to its just-built state (machine_reset):
 * it returns 0 when done, or 1 to be called once more after every other
 * part's first call (e.g. a BAR whose original place another part's moved
 * BAR still held); that second call must finish the job. */
struct machine_part {
	void (*destroy)(void *ctx);
	void *ctx;
	int (*reset)(void *ctx);
};

struct machine {
	struct gm gm;
	struct world *world;        /* set by the builder; NULL in bare machines */
	struct diag_log log;        /* machine-level diagnostics (unmapped I/O, PCI) */
	uint64_t mem_size;
	struct io_map pio, mmio;
	struct {
		const struct pci_dev_ops *ops;
		void *ctx;
	} pci[MACHINE_PCI_SLOTS];
	uint32_t conf1_addr;        /* last dword written to 0xCF8, reserved bits
				     * 30:24 and 1:0 cleared */
	/* address allocators for the builder */
	uint64_t pci_mem_next;
	uint32_t pci_io_next;
	uint64_t vmmio_next;
	/* interrupt sink */
	const struct irq_sink_ops *irq;
	void *irq_ctx;
	uint16_t intx_sources[MACHINE_GSI_COUNT]; /* sources holding each line high */
	uint32_t intx_level;        /* default sink: bit per GSI */
	uint64_t intx_raised;       /* default sink: low->high transitions */
	uint64_t msi_count;         /* default sink: messages seen */
	struct machine_msi msi_log[MACHINE_MSI_LOG]; /* ring, newest at (msi_count-1) % LOG */
	/* parts */
	struct machine_part parts[MACHINE_MAX_DEVICES * 2];
	unsigned nparts;
	/* devices, in spec order, and where each one lives */
	struct vdev *devs[MACHINE_MAX_DEVICES];
	struct machine_devinfo devinfo[MACHINE_MAX_DEVICES];
	unsigned ndevs;
	char spec[4096];            /* canonical machine spec */
};

/*
 * Initialise a machine with mem bytes of RAM (page multiple, > 0) laid out
 * by the address plan, the MMIO windows registered as arena MMIO holes, the
 * host bridge at slot 0 and the default interrupt sink.
 * Returns 0, -EINVAL (bad size) or -ENOMEM.
 */
int machine_init(struct machine *m, uint64_t mem);
/* Destroy parts in reverse order, then the maps and the arena. */
void machine_destroy(struct machine *m);

/* Register something to destroy with the machine. Returns 0, -EINVAL
 * (destroy NULL) or -ENOSPC. */
int machine_add_part(struct machine *m, void (*destroy)(void *), void *ctx);
/* The same with a reset hook (may be NULL) that machine_reset() calls. */
int machine_add_part_reset(struct machine *m, void (*destroy)(void *), int (*reset)(void *),
			   void *ctx);

/*
 * Return the machine to its just-built state, in-process (the fuzz harnesses
 * call it between inputs): every part's reset hook in creation order, then
 * the second calls the hooks asked for (see struct machine_part; the
 * transports put config space, BARs, MSI-X and interrupt lines back and reset
 * their device: its host_reset op, then vdev_reset, the device's log and
 * stats), then the
 * machine's own state: dirty guest RAM zeroed (gm_dirty_reset, which also
 * resets the arena's source), arena statistics, CONFIG_ADDRESS, the
 * interrupt sink's recorded state (INTx levels and sources, edge and MSI
 * counts, MSI log) and the machine log. The interrupt sink and the world
 * stay installed. Cost is proportional to what was touched since the last
 * reset (dirty pages, used MSI log entries, the parts), not to the arena size.
 */
void machine_reset(struct machine *m);

/* Map a range. Returns 0, -EINVAL (len 0, wraps, ops NULL, or for PIO a
 * range past port 0xffff), -EEXIST (overlaps another range; nothing
 * mapped), -ENOMEM. */
int machine_map_pio(struct machine *m, uint64_t base, uint64_t len, const struct io_ops *ops,
		    void *ctx, const char *name);
int machine_map_mmio(struct machine *m, uint64_t base, uint64_t len, const struct io_ops *ops,
		     void *ctx, const char *name);
/* Unmap the range starting at base with this ctx. Returns 0 or -ENOENT. */
int machine_unmap_pio(struct machine *m, uint64_t base, void *ctx);
int machine_unmap_mmio(struct machine *m, uint64_t base, void *ctx);

/* Put a PCI function in slot (1..31), or the first free slot if slot < 0.
 * Returns the slot, -EEXIST (taken), -ENOSPC, -EINVAL. */
int machine_pci_add(struct machine *m, int slot, const struct pci_dev_ops *ops, void *ctx);
/* Empty slot again if ctx occupies it (undoing a failed create). Returns 0
 * or -ENOENT. The host bridge in slot 0 cannot be removed. */
int machine_pci_remove(struct machine *m, unsigned slot, void *ctx);

/* Allocate aligned PCI BAR space (size a power of two). Returns the base or
 * 0 when the window is full. */
uint64_t machine_alloc_pci_mem(struct machine *m, uint64_t size);
uint32_t machine_alloc_pci_io(struct machine *m, uint32_t size);
/* Lowest MACHINE_VMMIO_STRIDE slot of the virtio-mmio window at or above
 * vmmio_next that no mmio range overlaps; vmmio_next moves past it. Returns
 * its base or 0 when the window is full. */
uint64_t machine_alloc_vmmio(struct machine *m);

/*
 * The entry points. size is 1, 2, 4 (PIO) or 1, 2, 4, 8 (MMIO); other sizes
 * and accesses that fall outside every range (or straddle a range's end)
 * report DIAG_IO_UNMAPPED and read all-ones / are dropped.
 */
uint64_t machine_pio_read(struct machine *m, uint16_t port, unsigned size);
void machine_pio_write(struct machine *m, uint16_t port, unsigned size, uint64_t val);
uint64_t machine_mmio_read(struct machine *m, uint64_t gpa, unsigned size);
void machine_mmio_write(struct machine *m, uint64_t gpa, unsigned size, uint64_t val);

/* PCI configuration access as conf1 would do it (also used by transports'
 * PCI configuration access capability tests): size 1, 2 or 4 inside one
 * dword of the 256-byte space, else DIAG_PCI_CFG (reads all-ones); an empty
 * slot reads all-ones and drops writes. */
uint32_t machine_pci_cfg_read(struct machine *m, unsigned slot, unsigned off, unsigned size);
void machine_pci_cfg_write(struct machine *m, unsigned slot, unsigned off, unsigned size,
			   uint32_t val);

/* Interrupts from transports. A NULL ops restores the default sink. A gsi
 * >= MACHINE_GSI_COUNT is reported (DIAG_DEVICE_ERROR) and ignored. */
void machine_set_irq_sink(struct machine *m, const struct irq_sink_ops *ops, void *ctx);
/* INTx lines are shared and level-triggered: call only when this source's
 * own level changes; the line is high while any source holds it high. */
void machine_set_intx(struct machine *m, unsigned gsi, bool level);
void machine_msi(struct machine *m, uint64_t addr, uint32_t data);

/* Low-level address map (exposed for tests). */
int io_map_add(struct io_map *map, uint64_t base, uint64_t len, const struct io_ops *ops,
	       void *ctx, const char *name);
int io_map_remove(struct io_map *map, uint64_t base, void *ctx);
/* Range wholly containing [addr, addr+size), or NULL. */
const struct io_range *io_map_find(const struct io_map *map, uint64_t addr, uint64_t size);
void io_map_free(struct io_map *map);

#endif
