/*
 * ringside — guest-memory arena (gm).
 *
 * Every device access to guest memory goes through here. The arena is a set
 * of regions at guest-physical addresses: RAM regions (with host backing)
 * and MMIO holes (no backing; a DMA into one is caught). A range is valid
 * only if it lies wholly inside one RAM region, computed without overflow.
 *
 * Two kinds of accessor:
 *  - device side: gm_read / gm_write / gm_ptr. These are what device models
 *    and the virtqueue engine use. Reads are served by the arena's *source*
 *    (plain memory, replayed trace bytes, fuzz-fed bytes), every access is
 *    shown to the tap (the recorder), writes are dirty-tracked.
 *  - guest side: gm_guest_read / gm_guest_write. The in-process reference
 *    driver and fuzz harness use these to play the guest. They bypass the
 *    source and the tap, but are dirty-tracked and tell the source that the
 *    guest initialised that memory.
 *
 * Dirty tracking keeps a bitmap and a list of touched pages, so
 * gm_dirty_reset() costs O(pages touched), not O(arena size).
 */
#ifndef RINGSIDE_GM_H
#define RINGSIDE_GM_H

#include "ringside/base.h"
#include "ringside/diag.h"

#define GM_PAGE_SHIFT 12
#define GM_PAGE_SIZE (1u << GM_PAGE_SHIFT)
#define GM_MAX_REGIONS 16

enum gm_region_kind {
	GM_RAM = 0,
	GM_MMIO = 1,
};

struct gm_region {
	uint64_t gpa;       /* first guest-physical address */
	uint64_t size;      /* bytes, > 0 */
	uint8_t *host;      /* host backing (RAM only), size bytes */
	enum gm_region_kind kind;
	bool external;      /* host memory owned by the caller (e.g. KVM mmap) */
	uint64_t page_base; /* index of this region's first page in the dirty bitmap */
	char name[16];
};

struct gm;

/*
 * A source decides what a device-side read sees and what a device-side write
 * does. The plain source (gm_source_plain) reads and writes the backing
 * memory. Others: replay (serve recorded bytes, flag divergence) and fuzz
 * (fill untouched memory from the fuzz input on first read).
 *
 * `host` always points at the backing memory of [gpa, gpa+len), already
 * bounds-checked and inside one RAM region. Callbacks return 0 or -errno;
 * a failing read leaves dst zero-filled by the arena. After a successful
 * read through a source other than gm_source_plain the arena marks the range
 * dirty, since such a source may fill the backing memory (lazy DMA).
 */
struct gm_source_ops {
	const char *name;
	int (*read)(void *ctx, struct gm *gm, uint64_t gpa, uint8_t *host, void *dst, size_t len);
	int (*write)(void *ctx, struct gm *gm, uint64_t gpa, uint8_t *host, const void *src, size_t len);
	/* Optional: the guest side initialised [gpa, gpa+len) (fuzz source uses it). */
	void (*guest_wrote)(void *ctx, struct gm *gm, uint64_t gpa, size_t len);
	/* Optional: dirty state was reset (fuzz source forgets what it served). */
	void (*reset)(void *ctx, struct gm *gm);
	/* True when gm_ptr may hand out raw host pointers under this source. */
	bool direct;
};

extern const struct gm_source_ops gm_source_plain;

enum gm_access {
	GM_ACCESS_READ = 1,
	GM_ACCESS_WRITE = 2,
};

/* Tap: called after every device-side access that succeeded, with the bytes
 * seen (read) or written (write). The recorder uses it. */
typedef void (*gm_tap_fn)(void *ctx, enum gm_access dir, uint64_t gpa, const void *data, size_t len);

struct gm_stats {
	uint64_t reads, writes;        /* successful device-side accesses */
	uint64_t read_bytes, write_bytes;
	uint64_t faults;               /* device-side accesses rejected (range, wrap, MMIO) */
	uint64_t mmio_dma;             /* device-side accesses that hit an MMIO region */
};

struct gm {
	struct gm_region regions[GM_MAX_REGIONS];
	unsigned nregions;
	unsigned last_hit;             /* index of the region the last lookup found */
	const struct gm_source_ops *src;
	void *src_ctx;
	gm_tap_fn tap;
	void *tap_ctx;
	/* dirty tracking over all RAM pages */
	uint64_t npages;
	uint64_t *dirty_bits;          /* npages bits */
	uint64_t *dirty_list;          /* page indices, in first-touch order */
	uint64_t ndirty;
	bool track_dirty;
	struct diag_log *log;          /* where faults are reported; may be NULL */
	struct gm_stats stats;
	/* The device whose model code is running (a struct vdev *), set by
	 * the device core around every call into a model and NULL between
	 * them, so a tap can tell which device made a device-side access. */
	const void *actor;
};

/* Initialise an empty arena with the plain source, dirty tracking on. */
void gm_init(struct gm *gm);

/* Free backing memory the arena allocated and the dirty bitmap. */
void gm_destroy(struct gm *gm);

/*
 * Add a RAM region. host == NULL: the arena allocates zeroed backing memory
 * (mmap, so untouched pages cost nothing). Otherwise the caller owns host
 * (size bytes) and must keep it alive.
 * Returns 0, -EINVAL (size 0, reaches 2^64, or not page aligned), -EEXIST (overlaps
 * another region), -ENOSPC (GM_MAX_REGIONS reached), -ENOMEM.
 */
int gm_add_ram(struct gm *gm, uint64_t gpa, uint64_t size, void *host, const char *name);

/* Add an MMIO hole: device DMA into it is reported (DIAG_GM_MMIO_DMA) and
 * rejected. Returns as gm_add_ram (no -ENOMEM). */
int gm_add_mmio(struct gm *gm, uint64_t gpa, uint64_t size, const char *name);

/* Switch the source; NULL ops restores the plain source. */
void gm_set_source(struct gm *gm, const struct gm_source_ops *ops, void *ctx);

/* Install (or with NULL remove) the access tap. */
void gm_set_tap(struct gm *gm, gm_tap_fn tap, void *ctx);

/*
 * Find the region holding all of [gpa, gpa+len). Returns the region, or NULL
 * when the range is empty-at-end, wraps at 2^64, crosses a region boundary or
 * touches no region. Does not report.
 */
const struct gm_region *gm_lookup(struct gm *gm, uint64_t gpa, uint64_t len);

/* True when [gpa, gpa+len) lies wholly inside one RAM region. */
bool gm_range_ok(struct gm *gm, uint64_t gpa, uint64_t len);

/*
 * Device-side read of len bytes at gpa into dst, served by the source.
 * Returns 0; -EFAULT if the range is not wholly inside one RAM region (also
 * on wrap; reported as DIAG_GM_OUT_OF_RANGE / DIAG_GM_WRAP / DIAG_GM_MMIO_DMA,
 * dst zero-filled); or the source's error (dst zero-filled).
 */
int gm_read(struct gm *gm, uint64_t gpa, void *dst, size_t len);

/* Device-side write; same checks and returns as gm_read. Marks pages dirty. */
int gm_write(struct gm *gm, uint64_t gpa, const void *src, size_t len);

/* Convenience fixed-width little-endian device-side accessors. On failure
 * the read ones store 0 in *v and return what gm_read returned (-EFAULT or
 * the source's error). */
int gm_read16(struct gm *gm, uint64_t gpa, uint16_t *v);
int gm_read32(struct gm *gm, uint64_t gpa, uint32_t *v);
int gm_read64(struct gm *gm, uint64_t gpa, uint64_t *v);
int gm_write16(struct gm *gm, uint64_t gpa, uint16_t v);
int gm_write32(struct gm *gm, uint64_t gpa, uint32_t v);

/*
 * Checked pointer: host address of [gpa, gpa+len) when it lies wholly inside
 * one RAM region, the source is direct and no tap is installed; else NULL
 * (the caller then falls back to gm_read/gm_write). access = GM_ACCESS_WRITE
 * marks the pages dirty. Does not report: NULL is not an error by itself.
 */
void *gm_ptr(struct gm *gm, uint64_t gpa, size_t len, unsigned access);

/* Guest-side accessors (the in-process guest): bypass source and tap, dirty
 * tracked. Return 0 or -EFAULT (not reported: the guest is not the device). */
int gm_guest_read(struct gm *gm, uint64_t gpa, void *dst, size_t len);
int gm_guest_write(struct gm *gm, uint64_t gpa, const void *src, size_t len);

/* Host pointer for the guest side (e.g. KVM's view), no source or tap, NULL
 * if the range is not inside one RAM region. Not dirty-tracked: callers that
 * write through it call gm_mark_dirty. */
void *gm_guest_ptr(struct gm *gm, uint64_t gpa, size_t len);

/* Mark [gpa, gpa+len) dirty (for writers that bypass the arena, e.g. KVM).
 * The range may span regions; parts outside RAM are ignored. */
void gm_mark_dirty(struct gm *gm, uint64_t gpa, uint64_t len);

/* Zero every dirty RAM page and clear the dirty set; calls the source's
 * reset. Cost is proportional to the number of dirty pages. */
void gm_dirty_reset(struct gm *gm);

/* Number of dirty pages; gpa of the i-th dirty page in first-touch order
 * (i < count; UINT64_MAX otherwise). */
uint64_t gm_dirty_count(const struct gm *gm);
uint64_t gm_dirty_page_gpa(const struct gm *gm, uint64_t i);

/* Release the backing of [gpa, gpa+len) (page aligned, inside one RAM region):
 * its contents read as zero afterwards (the balloon discards pages with it).
 * Returns 0, -EINVAL (not page aligned) or -EFAULT. */
int gm_discard(struct gm *gm, uint64_t gpa, uint64_t len);

#endif
