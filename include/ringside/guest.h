/*
 * ringside — guest-side reference driver (gdrv).
 *
 * Drives any device over any transport the way a real guest driver does:
 * through the register interface (port I/O, MMIO, PCI conf1) and rings laid
 * out in guest memory. Its core uses no libc (only <stdint.h>, <stddef.h>,
 * <stdbool.h> and compiler builtins), so the same code links into
 * freestanding test-guest firmware; register and memory access go through
 * struct gdrv_io, which in-process tests implement over a struct machine.
 *
 * The driver is not hostile: it follows the spec, so tests can tell device
 * bugs from driver bugs. It keeps all its bookkeeping in fixed-size arrays.
 */
#ifndef RINGSIDE_GUEST_H
#define RINGSIDE_GUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct gdrv_io {
	void *ctx;
	uint32_t (*pio_read)(void *ctx, uint16_t port, unsigned size);
	void (*pio_write)(void *ctx, uint16_t port, unsigned size, uint32_t val);
	uint64_t (*mmio_read)(void *ctx, uint64_t addr, unsigned size);
	void (*mmio_write)(void *ctx, uint64_t addr, unsigned size, uint64_t val);
	void (*mem_read)(void *ctx, uint64_t gpa, void *buf, size_t len);
	void (*mem_write)(void *ctx, uint64_t gpa, const void *buf, size_t len);
};

/* Bump allocator over a guest-physical range the driver may use for rings,
 * indirect tables and buffers. */
struct gdrv_mem {
	uint64_t next, end;
};

/* Returns a gpa aligned to align (power of two) with len bytes, zeroed
 * through io, or 0 when the range is exhausted. */
uint64_t gdrv_alloc(const struct gdrv_io *io, struct gdrv_mem *mem, uint64_t len, uint64_t align);

/* As gdrv_alloc, but the bytes keep whatever they held (the driver writes
 * them before the device may read them). */
uint64_t gdrv_alloc_raw(struct gdrv_mem *mem, uint64_t len, uint64_t align);

/* Zero len bytes of guest memory at gpa through io. */
void gdrv_zero(const struct gdrv_io *io, uint64_t gpa, uint64_t len);

enum gdrv_transport {
	GDRV_PCI_LEGACY = 0,
	GDRV_PCI_MODERN = 1,
	GDRV_MMIO_V1 = 2,
	GDRV_MMIO_V2 = 3,
};

#define GDRV_MAX_QUEUES 34   /* console with 16 ports: 2 + 2 + 2 * 15 */
#define GDRV_MAX_QSIZE 256   /* the driver never uses a larger queue */
#define GDRV_RESET_POLLS 1000 /* default gdrv_dev.reset_polls */
#define GDRV_MAX_VECTORS 16
#define GDRV_MAX_INDIRECT 16 /* entries in one indirect table (allocated once per head/id) */

/* What a PCI scan found in one slot. */
struct gdrv_pci_info {
	unsigned slot;
	uint16_t vendor, device;
	uint16_t virtio_id;        /* from the device ID (transitional table or 0x1040+id) */
	bool has_legacy;           /* I/O BAR 0 present */
	bool has_modern;           /* common, notify and ISR capabilities found (device
				    * config is optional: devcfg 0 when absent) */
	uint64_t bar[6];           /* decoded BAR base addresses (I/O: port) */
	/* modern capability locations: absolute addresses */
	uint64_t common, notify, isr, devcfg;
	uint32_t notify_mult;
	uint8_t pcicfg_cap;        /* config offset of the PCI cfg access cap, 0 if none */
	uint8_t msix_cap;          /* config offset of the MSI-X capability, 0 if none */
	uint16_t msix_size;        /* table entries */
	uint64_t msix_table, msix_pba;
	uint8_t irq_line;
};

struct gdrv_buf {
	uint64_t gpa;
	uint32_t len;
};

struct gdrv_dev;

struct gdrv_vq {
	struct gdrv_dev *dev;
	unsigned idx;
	uint16_t num;
	bool packed;
	bool event_idx;
	uint64_t desc, avail, used;     /* split: rings; packed: desc, driver, device areas */
	uint64_t notify_addr;           /* modern PCI / MMIO: address to write */
	/* descriptor bookkeeping */
	uint16_t free_head, num_free;
	uint16_t next[GDRV_MAX_QSIZE];  /* split free list / packed id free list */
	uint16_t chain_len[GDRV_MAX_QSIZE]; /* descriptors used by chain with this head/id */
	uint64_t token[GDRV_MAX_QSIZE];
	uint64_t indirect[GDRV_MAX_QSIZE]; /* gpa of the indirect table per head/id, 0 if none */
	/* split */
	uint16_t avail_idx, last_used;
	uint16_t kicked_avail;          /* avail idx at last notify decision */
	/* packed */
	uint16_t next_avail;            /* next ring slot */
	bool avail_wrap;
	uint16_t next_used;
	bool used_wrap;
	/* stats */
	uint32_t kicks, kicks_suppressed;
	/* interrupt suppression as last asked by gdrv_set_interrupts (false:
	 * interrupts wanted, the power-on state) */
	bool cb_disabled;
	/* the device completed an id that was not in flight, or moved the used
	 * index by more than the queue size: nothing more is collected */
	bool broken;
};

struct gdrv_dev {
	const struct gdrv_io *io;
	struct gdrv_mem *mem;
	enum gdrv_transport transport;
	uint16_t device_id;
	struct gdrv_pci_info pci;       /* PCI transports */
	uint64_t mmio_base;             /* MMIO transports */
	uint64_t features;              /* negotiated */
	bool msix;                      /* MSI-X enabled */
	unsigned nqueues;               /* queues set up */
	/* status reads gdrv_reset waits for 0 after writing it (gdrv_open_*:
	 * GDRV_RESET_POLLS; an in-process user whose devices reset
	 * synchronously may set 1) */
	unsigned reset_polls;
	struct gdrv_vq vq[GDRV_MAX_QUEUES];
};

/* conf1 accesses. */
uint32_t gdrv_pci_cfg_read(const struct gdrv_io *io, unsigned slot, unsigned off, unsigned size);
void gdrv_pci_cfg_write(const struct gdrv_io *io, unsigned slot, unsigned off, unsigned size,
			uint32_t val);

/*
 * Scan bus 0 for virtio functions (vendor 0x1af4). Fills up to max entries
 * of out, in slot order; returns how many were found. Reads BARs (enabling
 * I/O, memory and bus-master decode) and walks the capability list.
 */
unsigned gdrv_pci_scan(const struct gdrv_io *io, struct gdrv_pci_info *out, unsigned max);

/* Probe one slot as gdrv_pci_scan does each: true and *info filled for a
 * virtio function, false (and *info untouched) for anything else. */
bool gdrv_pci_probe(const struct gdrv_io *io, unsigned slot, struct gdrv_pci_info *info);

/* Open a PCI function over its legacy (use_legacy) or modern interface.
 * Returns 0, or -1 when that interface is absent. */
int gdrv_open_pci(struct gdrv_dev *d, const struct gdrv_io *io, struct gdrv_mem *mem,
		  const struct gdrv_pci_info *info, bool use_legacy);

/* Open a virtio-mmio device at base (checks magic, version 1 or 2, device
 * ID != 0). Returns 0 or -1. */
int gdrv_open_mmio(struct gdrv_dev *d, const struct gdrv_io *io, struct gdrv_mem *mem,
		   uint64_t base);

/*
 * Reset, ACKNOWLEDGE, DRIVER, negotiate (offered & want; VERSION_1 added on
 * modern interfaces), FEATURES_OK and check it stuck (modern). want is
 * limited to what the driver implements: device-type bits (0-23, 50-63) and
 * of the reserved ones NOTIFY_ON_EMPTY, ANY_LAYOUT, INDIRECT_DESC,
 * EVENT_IDX, VERSION_1, RING_PACKED and ORDER_PLATFORM (never IN_ORDER,
 * NOTIFICATION_DATA, RING_RESET, ACCESS_PLATFORM, SR_IOV or BAD_FEATURE).
 * Returns 0, or -1 (device refused, or a modern interface without
 * VERSION_1: status FAILED set).
 */
int gdrv_init(struct gdrv_dev *d, uint64_t want);

/* Offered features as the interface shows them (legacy: low 32 bits). */
uint64_t gdrv_device_features(struct gdrv_dev *d);

/*
 * Enable MSI-X: table entry i gets address addr and data data_base + i,
 * vectors: config -> 0, queue q -> q + 1 (clipped to the table size). Call
 * after gdrv_init, before gdrv_setup_vq (queues already set up get their
 * vectors too). Returns 0, or -1 (not PCI, no MSI-X capability, the enable
 * bit or a vector did not read back).
 */
int gdrv_enable_msix(struct gdrv_dev *d, uint64_t addr, uint32_t data_base);

/* Set up queue q with up to size entries (clipped to the device maximum and
 * GDRV_MAX_QSIZE, rounded down to a power of two for split rings; legacy
 * PCI always uses the device's size; packed when RING_PACKED was
 * negotiated). Ring memory comes from d->mem. Returns 0, or -1 (q beyond
 * GDRV_MAX_QUEUES, size 0, queue absent or already live, out of memory,
 * or the device did not take the setup: the queue is then unusable until
 * the next gdrv_init). */
int gdrv_setup_vq(struct gdrv_dev *d, unsigned q, uint16_t size);

/* Driver-side bookkeeping of a fresh queue of vq->num (<= GDRV_MAX_QSIZE)
 * entries: every descriptor or buffer id free, indices 0, both wrap
 * counters 1, interrupts wanted. gdrv_setup_vq does it; a user that lays
 * out the rings itself (the ring fuzz target) calls it directly. */
void gdrv_ring_init_state(struct gdrv_vq *vq);

/* Set DRIVER_OK. */
void gdrv_driver_ok(struct gdrv_dev *d);

/* Full reset (status 0) and wait (bounded) for it to read back 0. The
 * driver forgets its features and queues: gdrv_init and gdrv_setup_vq
 * again. MSI-X stays enabled in the PCI capability. */
void gdrv_reset(struct gdrv_dev *d);

uint8_t gdrv_get_status(struct gdrv_dev *d);
void gdrv_set_status(struct gdrv_dev *d, uint8_t status);

/*
 * Make a chain available: nout device-readable buffers then nin
 * device-writable ones, with token returned at completion. indirect: put
 * the chain in an indirect table (needs INDIRECT_DESC). Returns 0, or -1
 * when the queue is full or the chain does not fit.
 */
int gdrv_submit(struct gdrv_vq *vq, const struct gdrv_buf *bufs, unsigned nout, unsigned nin,
		uint64_t token, bool indirect);

/* Notify the device unless it suppressed notifications (NO_NOTIFY flag,
 * avail_event, or packed device event structure). Returns true if it
 * notified. */
bool gdrv_kick(struct gdrv_vq *vq);

/* Collect one completion: 1 with *token and *len, 0 when none. -1 once
 * when the device broke the ring (completed an id not in flight, used index
 * moved by more than the queue size): vq->broken is set, and from then on
 * it returns 0 and gdrv_submit refuses. */
int gdrv_get_used(struct gdrv_vq *vq, uint64_t *token, uint32_t *len);

/* Ask for (enable) or suppress interrupts on this queue (split flags or
 * used_event; packed driver event structure). */
void gdrv_set_interrupts(struct gdrv_vq *vq, bool enable);

/* Read (and thereby acknowledge) the ISR; MMIO: read InterruptStatus and
 * write InterruptACK. */
uint8_t gdrv_ack_isr(struct gdrv_dev *d);

/* Device config access at off. Modern: retries until config_generation is
 * stable. */
uint64_t gdrv_config_read(struct gdrv_dev *d, unsigned off, unsigned size);
void gdrv_config_write(struct gdrv_dev *d, unsigned off, unsigned size, uint64_t val);
uint32_t gdrv_config_generation(struct gdrv_dev *d);

/* Highest queue size the device offers for q (0: queue absent). */
uint16_t gdrv_queue_max(struct gdrv_dev *d, unsigned q);

#endif
