/*
 * ringside — guest-memory arena (see include/ringside/gm.h).
 *
 * Every range check here is done on (gpa, len) pairs without forming an end
 * address that could wrap (rs_range_within, or "len > UINT64_MAX - gpa" for
 * the wrap test itself). Regions never end at or beyond 2^64: gm_add_* refuse
 * them, so a range that reaches 2^64 is always a wrap.
 *
 * Hot path: gm_read/gm_write check the region the previous lookup found
 * (regions[last_hit]) and, for the plain source without a tap, do nothing
 * but memcpy. Everything else (other regions, faults, sources, the tap) is
 * in the out-of-line slow path.
 *
 * Dirty tracking: one bit per RAM page, numbered across all RAM regions
 * (region.page_base is a region's first page), plus dirty_list, the dirty
 * page numbers in first-touch order. Each page enters the list once (the
 * bit is tested first), so ndirty <= npages and gm_dirty_reset walks only
 * the pages that were touched.
 */
#include "ringside/gm.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define GM_PAGE_MASK ((uint64_t)GM_PAGE_SIZE - 1)

static int plain_read(void *ctx, struct gm *gm, uint64_t gpa, uint8_t *host, void *dst,
		      size_t len)
{
	memcpy(dst, host, len);
	return 0;
}

static int plain_write(void *ctx, struct gm *gm, uint64_t gpa, uint8_t *host, const void *src,
		       size_t len)
{
	memcpy(host, src, len);
	return 0;
}

const struct gm_source_ops gm_source_plain = {
	.name = "plain",
	.read = plain_read,
	.write = plain_write,
	.direct = true,
};

void gm_init(struct gm *gm)
{
	memset(gm, 0, sizeof(*gm));
	gm->src = &gm_source_plain;
	gm->track_dirty = true;
}

void gm_destroy(struct gm *gm)
{
	for (unsigned i = 0; i < gm->nregions; i++) {
		struct gm_region *r = &gm->regions[i];

		if (r->kind == GM_RAM && !r->external && r->host)
			munmap(r->host, (size_t)r->size);
	}
	free(gm->dirty_bits);
	free(gm->dirty_list);
	memset(gm, 0, sizeof(*gm));
}

/* True when [a, a+alen) and [b, b+blen) share a byte; both non-empty, neither wraps. */
static bool gm_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a <= b + (blen - 1) && b <= a + (alen - 1);
}

/* Common checks of gm_add_ram/gm_add_mmio: 0 or the error to return. */
static int gm_check_new(const struct gm *gm, uint64_t gpa, uint64_t size)
{
	if (size == 0 || ((gpa | size) & GM_PAGE_MASK))
		return -EINVAL;
	/* the region must end below 2^64 (see the top of this file) */
	if (size > UINT64_MAX - gpa)
		return -EINVAL;
	if (gm->nregions >= GM_MAX_REGIONS)
		return -ENOSPC;
	for (unsigned i = 0; i < gm->nregions; i++)
		if (gm_overlap(gpa, size, gm->regions[i].gpa, gm->regions[i].size))
			return -EEXIST;
	return 0;
}

/* Fill in the next region slot (checks done by the caller). */
static struct gm_region *gm_new_region(struct gm *gm, uint64_t gpa, uint64_t size,
				       enum gm_region_kind kind, const char *name)
{
	struct gm_region *r = &gm->regions[gm->nregions];
	size_t n = name ? strnlen(name, sizeof(r->name) - 1) : 0;

	memset(r, 0, sizeof(*r));
	r->gpa = gpa;
	r->size = size;
	r->kind = kind;
	if (n)
		memcpy(r->name, name, n);
	r->name[n] = '\0';
	return r;
}

/* Grow the dirty bitmap and list to cover npages pages; new bits are clear. */
static int gm_dirty_grow(struct gm *gm, uint64_t npages)
{
	uint64_t old_words = (gm->npages + 63) / 64, words = (npages + 63) / 64;
	uint64_t *bits, *list;

	if (words > SIZE_MAX / sizeof(uint64_t) || npages > SIZE_MAX / sizeof(uint64_t))
		return -ENOMEM;
	bits = realloc(gm->dirty_bits, (size_t)words * sizeof(uint64_t));
	if (!bits)
		return -ENOMEM;
	gm->dirty_bits = bits;
	memset(bits + old_words, 0, (size_t)(words - old_words) * sizeof(uint64_t));
	list = realloc(gm->dirty_list, (size_t)npages * sizeof(uint64_t));
	if (!list)
		return -ENOMEM;
	gm->dirty_list = list;
	return 0;
}

int gm_add_ram(struct gm *gm, uint64_t gpa, uint64_t size, void *host, const char *name)
{
	struct gm_region *r;
	void *mem = host;
	int err = gm_check_new(gm, gpa, size);

	if (err)
		return err;
#if SIZE_MAX < UINT64_MAX
	if (size > SIZE_MAX)
		return -ENOMEM;
#endif
	/* grow first: a larger bitmap than needed is harmless if mmap fails */
	err = gm_dirty_grow(gm, gm->npages + (size >> GM_PAGE_SHIFT));
	if (err)
		return err;
	if (!mem) {
		/* MAP_NORESERVE: a large arena costs nothing until pages are touched */
		mem = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (mem == MAP_FAILED)
			return -ENOMEM;
	}
	r = gm_new_region(gm, gpa, size, GM_RAM, name);
	r->host = mem;
	r->external = host != NULL;
	r->page_base = gm->npages;
	gm->npages += size >> GM_PAGE_SHIFT;
	gm->nregions++;
	return 0;
}

int gm_add_mmio(struct gm *gm, uint64_t gpa, uint64_t size, const char *name)
{
	int err = gm_check_new(gm, gpa, size);

	if (err)
		return err;
	gm_new_region(gm, gpa, size, GM_MMIO, name);
	gm->nregions++;
	return 0;
}

void gm_set_source(struct gm *gm, const struct gm_source_ops *ops, void *ctx)
{
	gm->src = ops ? ops : &gm_source_plain;
	gm->src_ctx = ops ? ctx : NULL;
}

void gm_set_tap(struct gm *gm, gm_tap_fn tap, void *ctx)
{
	gm->tap = tap;
	gm->tap_ctx = tap ? ctx : NULL;
}

/*
 * The cached region when it is RAM and holds all of [gpa, gpa+len), else NULL.
 * A never-filled slot (no regions yet) has host == NULL, as MMIO regions do.
 */
static inline const struct gm_region *gm_hit(const struct gm *gm, uint64_t gpa, uint64_t len)
{
	const struct gm_region *r = &gm->regions[gm->last_hit];

	if (RS_LIKELY(r->host && rs_range_within(gpa, len, r->gpa, r->size)))
		return r;
	return NULL;
}

/* The RAM region holding all of [gpa, gpa+len) (len 0: gpa inside or at its
 * end), caching it in last_hit; NULL if there is none. */
static const struct gm_region *gm_find_ram(struct gm *gm, uint64_t gpa, uint64_t len)
{
	const struct gm_region *r = gm_hit(gm, gpa, len);

	if (r)
		return r;
	for (unsigned i = 0; i < gm->nregions; i++) {
		r = &gm->regions[i];
		if (r->kind == GM_RAM && rs_range_within(gpa, len, r->gpa, r->size)) {
			gm->last_hit = i;
			return r;
		}
	}
	return NULL;
}

/* First MMIO region sharing a byte with [gpa, gpa+len) (len 0: holding gpa);
 * the range must not wrap. */
static const struct gm_region *gm_mmio_overlap(const struct gm *gm, uint64_t gpa, uint64_t len)
{
	for (unsigned i = 0; i < gm->nregions; i++) {
		const struct gm_region *r = &gm->regions[i];

		if (r->kind == GM_MMIO && gm_overlap(gpa, len ? len : 1, r->gpa, r->size))
			return r;
	}
	return NULL;
}

/*
 * Slow-path check of a device-side access. Returns the RAM region, or NULL
 * after counting and reporting why the range was rejected.
 */
static const struct gm_region *gm_device_check(struct gm *gm, uint64_t gpa, uint64_t len,
					       enum gm_access dir)
{
	const struct gm_region *r, *io;
	const char *what = dir == GM_ACCESS_WRITE ? "write" : "read";

	if (len > UINT64_MAX - gpa) {
		gm->stats.faults++;
		diag_report(gm->log, DIAG_GM_WRAP,
			    "device %s of %" PRIu64 " bytes at 0x%" PRIx64 " wraps at 2^64", what,
			    len, gpa);
		return NULL;
	}
	r = gm_find_ram(gm, gpa, len);
	if (r)
		return r;
	gm->stats.faults++;
	io = gm_mmio_overlap(gm, gpa, len);
	if (io) {
		gm->stats.mmio_dma++;
		diag_report(gm->log, DIAG_GM_MMIO_DMA,
			    "device %s of %" PRIu64 " bytes at 0x%" PRIx64 " hits MMIO region %s",
			    what, len, gpa, io->name);
		return NULL;
	}
	diag_report(gm->log, DIAG_GM_OUT_OF_RANGE,
		    "device %s of %" PRIu64 " bytes at 0x%" PRIx64
		    " is not inside one RAM region",
		    what, len, gpa);
	return NULL;
}

const struct gm_region *gm_lookup(struct gm *gm, uint64_t gpa, uint64_t len)
{
	/* an empty range is looked up as the byte at gpa */
	uint64_t n = len ? len : 1;

	if (n > UINT64_MAX - gpa)
		return NULL;
	for (unsigned i = 0; i < gm->nregions; i++) {
		const struct gm_region *r = &gm->regions[i];

		if (rs_range_within(gpa, n, r->gpa, r->size)) {
			if (r->kind == GM_RAM)
				gm->last_hit = i;
			return r;
		}
	}
	return NULL;
}

bool gm_range_ok(struct gm *gm, uint64_t gpa, uint64_t len)
{
	return gm_find_ram(gm, gpa, len) != NULL;
}

/* Set the dirty bit of every page of [gpa, gpa+len) inside RAM region r,
 * appending newly dirty pages to the list. */
static inline void gm_dirty_mark(struct gm *gm, const struct gm_region *r, uint64_t gpa,
				 uint64_t len)
{
	uint64_t off = gpa - r->gpa, p, last;

	if (!gm->track_dirty || len == 0)
		return;
	p = r->page_base + (off >> GM_PAGE_SHIFT);
	last = r->page_base + ((off + len - 1) >> GM_PAGE_SHIFT);
	for (; p <= last; p++) {
		uint64_t bit = 1ull << (p & 63);
		uint64_t *w = &gm->dirty_bits[p >> 6];

		if (!(*w & bit)) {
			*w |= bit;
			gm->dirty_list[gm->ndirty++] = p;
		}
	}
}

static int gm_read_slow(struct gm *gm, uint64_t gpa, void *dst, size_t len)
{
	const struct gm_region *r = gm_device_check(gm, gpa, len, GM_ACCESS_READ);
	uint8_t *host;
	int err;

	if (!r) {
		if (len)
			memset(dst, 0, len);
		return -EFAULT;
	}
	if (len == 0)
		return 0;
	host = r->host + (gpa - r->gpa);
	if (gm->src == &gm_source_plain) {
		memcpy(dst, host, len);
	} else {
		err = gm->src->read(gm->src_ctx, gm, gpa, host, dst, len);
		if (err) {
			memset(dst, 0, len);
			return err;
		}
		/* the source may have filled the backing memory (lazy DMA) */
		gm_dirty_mark(gm, r, gpa, len);
	}
	gm->stats.reads++;
	gm->stats.read_bytes += len;
	if (gm->tap)
		gm->tap(gm->tap_ctx, GM_ACCESS_READ, gpa, dst, len);
	return 0;
}

/* gm_read with the fast path inlined into every caller in this file. */
static inline int gm_read_inl(struct gm *gm, uint64_t gpa, void *dst, size_t len)
{
	const struct gm_region *r = gm_hit(gm, gpa, len);

	if (RS_LIKELY(r && len && gm->src == &gm_source_plain && !gm->tap)) {
		memcpy(dst, r->host + (gpa - r->gpa), len);
		gm->stats.reads++;
		gm->stats.read_bytes += len;
		return 0;
	}
	return gm_read_slow(gm, gpa, dst, len);
}

int gm_read(struct gm *gm, uint64_t gpa, void *dst, size_t len)
{
	return gm_read_inl(gm, gpa, dst, len);
}

static int gm_write_slow(struct gm *gm, uint64_t gpa, const void *src, size_t len)
{
	const struct gm_region *r = gm_device_check(gm, gpa, len, GM_ACCESS_WRITE);
	uint8_t *host;
	int err;

	if (!r)
		return -EFAULT;
	if (len == 0)
		return 0;
	host = r->host + (gpa - r->gpa);
	if (gm->src == &gm_source_plain) {
		memcpy(host, src, len);
	} else {
		err = gm->src->write(gm->src_ctx, gm, gpa, host, src, len);
		if (err)
			return err;
	}
	gm_dirty_mark(gm, r, gpa, len);
	gm->stats.writes++;
	gm->stats.write_bytes += len;
	if (gm->tap)
		gm->tap(gm->tap_ctx, GM_ACCESS_WRITE, gpa, src, len);
	return 0;
}

static inline int gm_write_inl(struct gm *gm, uint64_t gpa, const void *src, size_t len)
{
	const struct gm_region *r = gm_hit(gm, gpa, len);

	if (RS_LIKELY(r && len && gm->src == &gm_source_plain && !gm->tap)) {
		memcpy(r->host + (gpa - r->gpa), src, len);
		gm_dirty_mark(gm, r, gpa, len);
		gm->stats.writes++;
		gm->stats.write_bytes += len;
		return 0;
	}
	return gm_write_slow(gm, gpa, src, len);
}

int gm_write(struct gm *gm, uint64_t gpa, const void *src, size_t len)
{
	return gm_write_inl(gm, gpa, src, len);
}

int gm_read16(struct gm *gm, uint64_t gpa, uint16_t *v)
{
	uint8_t b[2];
	int err = gm_read_inl(gm, gpa, b, sizeof(b));

	*v = err ? 0 : rs_le16(b);
	return err;
}

int gm_read32(struct gm *gm, uint64_t gpa, uint32_t *v)
{
	uint8_t b[4];
	int err = gm_read_inl(gm, gpa, b, sizeof(b));

	*v = err ? 0 : rs_le32(b);
	return err;
}

int gm_read64(struct gm *gm, uint64_t gpa, uint64_t *v)
{
	uint8_t b[8];
	int err = gm_read_inl(gm, gpa, b, sizeof(b));

	*v = err ? 0 : rs_le64(b);
	return err;
}

int gm_write16(struct gm *gm, uint64_t gpa, uint16_t v)
{
	uint8_t b[2];

	rs_st16(b, v);
	return gm_write_inl(gm, gpa, b, sizeof(b));
}

int gm_write32(struct gm *gm, uint64_t gpa, uint32_t v)
{
	uint8_t b[4];

	rs_st32(b, v);
	return gm_write_inl(gm, gpa, b, sizeof(b));
}

void *gm_ptr(struct gm *gm, uint64_t gpa, size_t len, unsigned access)
{
	const struct gm_region *r;

	if (!gm->src->direct || gm->tap)
		return NULL;
	r = gm_find_ram(gm, gpa, len);
	if (!r)
		return NULL;
	if (access & GM_ACCESS_WRITE)
		gm_dirty_mark(gm, r, gpa, len);
	return r->host + (gpa - r->gpa);
}

int gm_guest_read(struct gm *gm, uint64_t gpa, void *dst, size_t len)
{
	const struct gm_region *r = gm_find_ram(gm, gpa, len);

	if (!r) {
		if (len)
			memset(dst, 0, len);
		return -EFAULT;
	}
	if (len)
		memcpy(dst, r->host + (gpa - r->gpa), len);
	return 0;
}

int gm_guest_write(struct gm *gm, uint64_t gpa, const void *src, size_t len)
{
	const struct gm_region *r = gm_find_ram(gm, gpa, len);

	if (!r)
		return -EFAULT;
	if (len == 0)
		return 0;
	memcpy(r->host + (gpa - r->gpa), src, len);
	gm_dirty_mark(gm, r, gpa, len);
	if (gm->src->guest_wrote)
		gm->src->guest_wrote(gm->src_ctx, gm, gpa, len);
	return 0;
}

/* Callers that write through this pointer mark the pages with gm_mark_dirty. */
void *gm_guest_ptr(struct gm *gm, uint64_t gpa, size_t len)
{
	const struct gm_region *r = gm_find_ram(gm, gpa, len);

	return r ? r->host + (gpa - r->gpa) : NULL;
}

/* Parts of the range outside RAM are ignored; a range reaching 2^64 is cut there. */
void gm_mark_dirty(struct gm *gm, uint64_t gpa, uint64_t len)
{
	uint64_t end = rs_satadd_u64(gpa, len); /* exclusive; UINT64_MAX if clipped */

	for (unsigned i = 0; i < gm->nregions && gpa < end; i++) {
		const struct gm_region *r = &gm->regions[i];
		uint64_t lo, hi;

		if (r->kind != GM_RAM)
			continue;
		lo = RS_MAX(gpa, r->gpa);
		hi = RS_MIN(end, r->gpa + r->size); /* no wrap: regions end below 2^64 */
		if (lo < hi)
			gm_dirty_mark(gm, r, lo, hi - lo);
	}
}

/* The RAM region owning dirty-bitmap page p, trying *hint first; NULL if none. */
static const struct gm_region *gm_page_region(const struct gm *gm, uint64_t p, unsigned *hint)
{
	for (unsigned k = 0; k < gm->nregions; k++) {
		unsigned i = (*hint + k) % gm->nregions;
		const struct gm_region *r = &gm->regions[i];

		if (r->kind == GM_RAM && p >= r->page_base &&
		    p - r->page_base < r->size >> GM_PAGE_SHIFT) {
			*hint = i;
			return r;
		}
	}
	return NULL;
}

void gm_dirty_reset(struct gm *gm)
{
	unsigned hint = 0;

	for (uint64_t i = 0; i < gm->ndirty; i++) {
		uint64_t p = gm->dirty_list[i];
		const struct gm_region *r = gm_page_region(gm, p, &hint);

		/* every listed page belongs to a region: pages are only ever added */
		if (r)
			memset(r->host + ((p - r->page_base) << GM_PAGE_SHIFT), 0, GM_PAGE_SIZE);
		gm->dirty_bits[p >> 6] &= ~(1ull << (p & 63));
	}
	gm->ndirty = 0;
	if (gm->src->reset)
		gm->src->reset(gm->src_ctx, gm);
}

uint64_t gm_dirty_count(const struct gm *gm)
{
	return gm->ndirty;
}

uint64_t gm_dirty_page_gpa(const struct gm *gm, uint64_t i)
{
	unsigned hint = 0;
	const struct gm_region *r;
	uint64_t p;

	if (i >= gm->ndirty)
		return UINT64_MAX;
	p = gm->dirty_list[i];
	r = gm_page_region(gm, p, &hint);
	return r ? r->gpa + ((p - r->page_base) << GM_PAGE_SHIFT) : UINT64_MAX;
}

int gm_discard(struct gm *gm, uint64_t gpa, uint64_t len)
{
	const struct gm_region *r;
	uint8_t *host;

	if ((gpa | len) & GM_PAGE_MASK)
		return -EINVAL;
	r = gm_find_ram(gm, gpa, len);
	if (!r)
		return -EFAULT;
	if (len == 0)
		return 0;
	host = r->host + (gpa - r->gpa);
	/* private anonymous memory reads back as zero after MADV_DONTNEED */
	if (r->external || madvise(host, (size_t)len, MADV_DONTNEED) != 0)
		memset(host, 0, (size_t)len);
	return 0;
}
