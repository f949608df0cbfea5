/*
 * ringside — private: a generic PCI type-0 function (configuration space,
 * BARs, capability list, INTx, MSI-X) on a struct machine.
 *
 * The function owns a 256-byte config space with a write mask and a
 * write-1-to-clear mask per byte, so read-only IDs, reserved bits and BAR
 * sizing all fall out of one store rule. BAR placement follows the guest:
 * whenever a BAR value or the command decode bits change, the old range is
 * unmapped and the new one mapped into the machine's port or memory map.
 * A placement outside the machine's PCI windows or over another range is
 * reported (DIAG_PCI_BAR) and left unmapped; moving it somewhere valid maps
 * it again.
 *
 * MSI-X (PCI Local Bus 3.0, 6.8.2): capability with table size, function
 * mask and enable; table and PBA in one memory BAR that the function owns.
 *
 * The owner (virtio-pci) embeds a struct pci_func, fills IDs, declares BARs
 * and capabilities, calls pci_place_bars() as firmware would, and registers
 * &pci_func_dev_ops with ctx = the function via machine_pci_add().
 */
#ifndef RINGSIDE_TRANSPORTS_PCI_H
#define RINGSIDE_TRANSPORTS_PCI_H

#include "ringside/machine.h"
#include "ringside/virtio.h"

#define PCI_CFG_SIZE 256u
#define PCI_NUM_BARS 6
#define PCI_CAP_START 0x40u       /* first byte after the type-0 header */
#define PCI_MSIX_MAX 64u          /* table entries this implementation holds */

/* Offsets used here that virtio.h does not name (PCI Local Bus 3.0, 6.1). */
#define PCI_CLASS_REVISION 0x08
#define PCI_CACHE_LINE_SIZE 0x0c
#define PCI_ROM_ADDRESS 0x30
#define PCI_INTERRUPT_PIN_INTA 1
/* Status bits that are write-1-to-clear: parity, SERR, aborts (15:11, 8). */
#define PCI_STATUS_RW1C 0xf900u
#define PCI_STATUS_SIG_TARGET_ABORT 0x0800u
#define PCI_COMMAND_WMASK                                                                 \
	(PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_INTX_DISABLE)

enum pci_bar_kind {
	PCI_BAR_KIND_NONE = 0,   /* not implemented: reads 0, writes dropped */
	PCI_BAR_KIND_IO,         /* 32-bit I/O space BAR */
	PCI_BAR_KIND_MEM32,      /* 32-bit memory BAR */
	PCI_BAR_KIND_MEM64,      /* low dword of a 64-bit memory BAR */
	PCI_BAR_KIND_MEM64_HI,   /* high dword of the 64-bit BAR below it */
};

struct pci_bar {
	enum pci_bar_kind kind;
	uint64_t size;              /* power of two (I/O >= 4, memory >= 16) */
	const struct io_ops *ops;   /* region handlers, offsets inside the BAR */
	void *ctx;
	uint64_t placed;            /* address last decoded (0: none) */
	bool mapped;                /* in the machine map at placed */
};

/* Hooks of the function's owner, called with pci_func.owner. All optional. */
struct pci_func_hooks {
	/* Before a config read of [off, off+size): refresh those bytes. */
	void (*cfg_pre_read)(void *owner, unsigned off, unsigned size);
	/* After a config write of [off, off+size) was stored under the masks. */
	void (*cfg_post_write)(void *owner, unsigned off, unsigned size);
};

struct pci_msix_entry {
	uint32_t addr_lo, addr_hi, data, ctrl;
};

struct pci_msix {
	uint16_t nvec;              /* table entries; 0: no MSI-X capability */
	uint8_t cap;                /* config offset of the capability */
	uint8_t bar;                /* BAR holding table and PBA */
	uint32_t table_off, pba_off;
	struct pci_msix_entry table[PCI_MSIX_MAX];
	uint64_t pba;               /* pending bit per entry (PCI_MSIX_MAX <= 64) */
};

struct pci_func {
	struct machine *m;
	struct diag_log *log;       /* where this function's diagnostics go */
	char name[12];              /* prefix of the map range names */
	uint8_t cfg[PCI_CFG_SIZE];
	uint8_t wmask[PCI_CFG_SIZE];   /* bits the guest may write */
	uint8_t w1cmask[PCI_CFG_SIZE]; /* bits a guest 1 clears */
	struct pci_bar bar[PCI_NUM_BARS];
	uint8_t cap_last;           /* offset of the last capability, 0: none */
	uint8_t cap_end;            /* first free byte for the next capability */
	unsigned gsi;               /* INTx routing (also the initial line register) */
	bool intx;                  /* the function's interrupt condition */
	bool intx_pin;              /* level last driven on gsi */
	struct pci_msix msix;
	const struct pci_func_hooks *hooks;
	void *owner;
	/* power-on state for pci_func_reset (pci_func_snapshot) */
	uint8_t cfg_init[PCI_CFG_SIZE];
	bool reset_pending;         /* a BAR waits for pci_func_reset_finish */
};

/* The conf1 handlers; register with ctx = the struct pci_func. */
extern const struct pci_dev_ops pci_func_dev_ops;

/* All-ones of an access size (1, 2, 4 or 8 bytes). */
static inline uint64_t pci_ones(unsigned size)
{
	return size >= 8 ? UINT64_MAX : (1ull << (size * 8)) - 1;
}

/*
 * Initialise f for machine m: zeroed header, header type 0, command bits
 * IO/MEMORY/MASTER/INTX_DISABLE writable, status RW1C error bits, interrupt
 * pin INTA on GSI 0, no BARs, no capabilities. Diagnostics go to log (may
 * be NULL).
 */
void pci_func_init(struct pci_func *f, struct machine *m, struct diag_log *log,
		   const char *name);

/* Route INTx to gsi (< MACHINE_GSI_COUNT) and preset the interrupt line
 * register to it (writable: firmware's scratch value). Call before the
 * function is in use. */
void pci_set_gsi(struct pci_func *f, unsigned gsi);

/* Host-side stores into config space (IDs, capability bodies), ignoring
 * the write masks. off + width must be <= PCI_CFG_SIZE. */
void pci_set8(struct pci_func *f, unsigned off, uint8_t v);
void pci_set16(struct pci_func *f, unsigned off, uint16_t v);
void pci_set32(struct pci_func *f, unsigned off, uint32_t v);
/* Make [off, off+len) guest-writable (mask bits 1) or read-only (0). */
void pci_set_wmask(struct pci_func *f, unsigned off, unsigned len, uint8_t mask);

/* Vendor, device, revision, 16-bit class (class << 8 | subclass, prog-if 0)
 * and subsystem IDs. */
void pci_set_ids(struct pci_func *f, uint16_t vendor, uint16_t device, uint8_t rev,
		 uint16_t class16, uint16_t subsys_vendor, uint16_t subsys_id);

/*
 * Declare BAR idx of the given kind and size served by ops/ctx. A 64-bit
 * BAR takes idx and idx + 1. Returns 0, or -EINVAL (index taken or out of
 * range, size not a power of two or too small, 32-bit BAR above 4 GiB).
 */
int pci_set_bar(struct pci_func *f, unsigned idx, enum pci_bar_kind kind, uint64_t size,
		const struct io_ops *ops, void *ctx);

/*
 * Append a capability with ID id and len bytes (len >= 2) at the next
 * dword-aligned free offset, link it into the list (cap_next of the last
 * one, or the capabilities pointer) and set PCI_STATUS_CAP_LIST. The body
 * is zero and read-only. Returns the offset, or -ENOSPC.
 */
int pci_add_cap(struct pci_func *f, uint8_t id, unsigned len);

/*
 * Add an MSI-X capability with nvec entries (1..PCI_MSIX_MAX) whose table
 * and PBA live in memory BAR bar (declared here as a 32-bit BAR of
 * bar_size bytes) at table_off and pba_off (8-byte aligned, inside the BAR,
 * not overlapping). Entries start masked. Returns the capability offset, or
 * -EINVAL / -ENOSPC.
 */
int pci_msix_init(struct pci_func *f, unsigned nvec, unsigned bar, uint32_t bar_size,
		  uint32_t table_off, uint32_t pba_off);

/*
 * Firmware's part: give every declared BAR an address from the machine's
 * PCI windows, enable I/O and memory decode, and map the ranges. Returns 0,
 * -ENOSPC (a window is full) or the mapping error (nothing left mapped).
 */
int pci_place_bars(struct pci_func *f);

/* Unmap every mapped BAR (teardown). */
void pci_unmap_all(struct pci_func *f);

/* Remember the current config space (and so the BAR placement and decode
 * bits) as the function's power-on state. Call once it is built and placed. */
void pci_func_snapshot(struct pci_func *f);

/*
 * Back to the snapshot (machine_reset): INTx condition and pin low, config
 * space as snapshotted, MSI-X table entries zero and masked, PBA clear, and
 * every BAR mapped where the snapshot has it (a moved BAR is unmapped and
 * mapped back; cost: the BARs that moved). Returns 0, or 1 when a BAR's
 * place is still held by another function's moved BAR: call
 * pci_func_reset_finish() once every other part has reset.
 */
int pci_func_reset(struct pci_func *f);
/* Map the BARs pci_func_reset could not (reported as DIAG_PCI_BAR if it
 * still fails). Returns 0. */
int pci_func_reset_finish(struct pci_func *f);

/* Address currently programmed in BAR idx (type bits stripped); 0 for an
 * unimplemented BAR. */
uint64_t pci_bar_addr(const struct pci_func *f, unsigned idx);

/* Config space access as the host bridge makes it (size 1, 2, 4, naturally
 * aligned; anything else is DIAG_PCI_CFG, all-ones / dropped). */
uint32_t pci_cfg_read(struct pci_func *f, unsigned off, unsigned size);
void pci_cfg_write(struct pci_func *f, unsigned off, unsigned size, uint32_t val);

/* Set the function's INTx condition. The status interrupt bit follows it;
 * the pin is driven while it holds, INTX_DISABLE is clear and MSI-X is
 * disabled (PCI Local Bus 3.0, 6.2.2 and 6.8.2.3). */
void pci_set_intx(struct pci_func *f, bool level);

static inline bool pci_msix_enabled(const struct pci_func *f)
{
	return f->msix.nvec &&
	       (rs_le16(&f->cfg[f->msix.cap + PCI_MSIX_FLAGS]) & PCI_MSIX_FLAGS_ENABLE);
}

/*
 * Signal MSI-X vector vec: with the function or the entry masked the
 * pending bit is set (and the message sent when both masks clear), else
 * machine_msi() with the entry's address and data. Returns false when
 * MSI-X is disabled or vec is not in the table (nothing happens).
 */
bool pci_msix_notify(struct pci_func *f, unsigned vec);

#endif
