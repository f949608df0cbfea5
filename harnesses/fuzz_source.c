/*
 * ringside — the arena's fuzz source: lazy DMA.
 *
 * A device-side read of guest memory that no one has written yet is served
 * from the fuzz input: the bytes are taken from the input's data stream
 * (fuzz_take, from the back), stored into the backing memory and marked
 * touched, so a second read, the guest side and the dirty-page reset all
 * see the same bytes. Memory the guest side wrote (guest_wrote) and memory
 * the device wrote counts as touched. Once the input's data is used up,
 * untouched memory reads as zero, deterministically.
 *
 * Touched bytes are kept in one 4096-bit bitmap per page, allocated on the
 * first touch of that page and listed; the reset (called by
 * gm_dirty_reset) clears only the listed bitmaps, so its cost is
 * proportional to the pages the input touched, not to the arena size.
 * Bitmaps are kept for reuse, so a warm harness allocates nothing per input.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

#define WORDS_PER_PAGE (GM_PAGE_SIZE / 64)
/* Bitmaps come from one slab of SPARES, allocated with the source, and go
 * back to it at reset; an input touching more pages than that gets the rest
 * from the heap, freed at reset. */
#define SPARES 1024

struct fuzz_source {
	struct fuzz_input *in;
	uint64_t npages;
	uint64_t **page;      /* npages pointers: bitmap of a touched page, or NULL */
	uint64_t *used;       /* page numbers with a bitmap, in first-touch order */
	uint64_t nused;
	uint64_t *slab;          /* SPARES bitmaps */
	uint64_t *spare[SPARES]; /* cleared slab bitmaps ready for use */
	unsigned nspare;
};

static bool in_slab(const struct fuzz_source *s, const uint64_t *bm)
{
	return bm >= s->slab && bm < s->slab + (size_t)SPARES * WORDS_PER_PAGE;
}

struct fuzz_source *fuzz_source_new(struct gm *gm)
{
	struct fuzz_source *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->npages = gm->npages;
	s->page = calloc(s->npages ? s->npages : 1, sizeof(*s->page));
	s->used = calloc(s->npages ? s->npages : 1, sizeof(*s->used));
	s->slab = calloc((size_t)SPARES * WORDS_PER_PAGE, sizeof(uint64_t));
	if (!s->page || !s->used || !s->slab) {
		fuzz_source_free(s);
		return NULL;
	}
	for (unsigned i = 0; i < SPARES; i++)
		s->spare[i] = s->slab + (size_t)(SPARES - 1 - i) * WORDS_PER_PAGE;
	s->nspare = SPARES;
	return s;
}

void fuzz_source_free(struct fuzz_source *s)
{
	if (!s)
		return;
	for (uint64_t i = 0; s->page && i < s->nused; i++)
		if (!in_slab(s, s->page[s->used[i]]))
			free(s->page[s->used[i]]);
	free(s->slab);
	free(s->page);
	free(s->used);
	free(s);
}

void fuzz_source_begin(struct fuzz_source *s, struct fuzz_input *in)
{
	s->in = in;
}

uint64_t fuzz_source_pages(const struct fuzz_source *s)
{
	return s->nused;
}

/* Page number (in the arena's dirty numbering) of gpa, which lies in a RAM
 * region (the arena checked the access). */
static uint64_t page_of(struct gm *gm, uint64_t gpa)
{
	const struct gm_region *r = gm_lookup(gm, gpa, 1);

	return r->page_base + ((gpa - r->gpa) >> GM_PAGE_SHIFT);
}

/* The bitmap of page p, allocated (cleared) on first use; NULL on OOM. */
static uint64_t *page_bits(struct fuzz_source *s, uint64_t p)
{
	uint64_t *bm = s->page[p];

	if (bm)
		return bm;
	if (s->nspare) {
		bm = s->spare[--s->nspare];
	} else {
		bm = calloc(WORDS_PER_PAGE, sizeof(uint64_t));
		if (!bm)
			return NULL; /* the caller serves the backing memory as it is */
	}
	s->page[p] = bm;
	s->used[s->nused++] = p;
	return bm;
}

/* Mask of bits [lo, hi) of one word, 0 <= lo < hi <= 64. */
static inline uint64_t word_mask(unsigned lo, unsigned hi)
{
	uint64_t m = hi == 64 ? ~0ull : (1ull << hi) - 1;

	return m & ~((1ull << lo) - 1);
}

/* Set bits [off, off+len) of one page's bitmap. */
static void bits_set(uint64_t *bm, unsigned off, unsigned len)
{
	unsigned end = off + len;

	while (off < end) {
		unsigned w = off / 64, lo = off % 64, hi = RS_MIN(64u, end - w * 64);

		bm[w] |= word_mask(lo, hi);
		off = w * 64 + hi;
	}
}

/* Mark [gpa, gpa+len) touched; the range lies in one RAM region. */
static void touch(struct fuzz_source *s, struct gm *gm, uint64_t gpa, size_t len)
{
	while (len) {
		unsigned off = (unsigned)(gpa & (GM_PAGE_SIZE - 1));
		unsigned n = (unsigned)RS_MIN((size_t)(GM_PAGE_SIZE - off), len);
		uint64_t *bm = page_bits(s, page_of(gm, gpa));

		if (bm)
			bits_set(bm, off, n);
		gpa += n;
		len -= n;
	}
}

/*
 * Serve one page's part of a read: bytes already touched come from host,
 * untouched runs are filled from the input (into host too) and marked.
 */
static void serve_page(struct fuzz_source *s, uint64_t *bm, uint8_t *host, uint8_t *dst,
		       unsigned off, unsigned len)
{
	unsigned i = 0;

	while (i < len) {
		unsigned b = off + i, w = b / 64, lo = b % 64;
		unsigned hi = RS_MIN(64u, lo + (len - i));
		uint64_t m = word_mask(lo, hi), have = bm[w] & m;
		unsigned n = hi - lo;

		if (have == m) {
			/* all touched: copy the run */
			memcpy(dst + i, host + i, n);
		} else if (have == 0) {
			/* none touched: one run from the input */
			if (s->in)
				fuzz_take(s->in, host + i, n);
			memcpy(dst + i, host + i, n);
			bm[w] |= m;
		} else {
			/* mixed: each run of untouched bytes is one take, in order */
			for (unsigned k = 0; k < n;) {
				unsigned e = k;

				if (bm[w] & (1ull << (lo + k))) {
					dst[i + k] = host[i + k];
					k++;
					continue;
				}
				while (e < n && !(bm[w] & (1ull << (lo + e))))
					e++;
				if (s->in)
					fuzz_take(s->in, host + i + k, e - k);
				bm[w] |= word_mask(lo + k, lo + e);
				memcpy(dst + i + k, host + i + k, e - k);
				k = e;
			}
		}
		i += n;
	}
}

static int fsrc_read(void *ctx, struct gm *gm, uint64_t gpa, uint8_t *host, void *dst,
		     size_t len)
{
	struct fuzz_source *s = ctx;
	uint8_t *out = dst;

	while (len) {
		unsigned off = (unsigned)(gpa & (GM_PAGE_SIZE - 1));
		unsigned n = (unsigned)RS_MIN((size_t)(GM_PAGE_SIZE - off), len);
		uint64_t *bm = page_bits(s, page_of(gm, gpa));

		if (bm)
			serve_page(s, bm, host, out, off, n);
		else
			memcpy(out, host, n); /* out of memory: serve what is there */
		gpa += n;
		host += n;
		out += n;
		len -= n;
	}
	return 0;
}

static int fsrc_write(void *ctx, struct gm *gm, uint64_t gpa, uint8_t *host, const void *src,
		      size_t len)
{
	memcpy(host, src, len);
	touch(ctx, gm, gpa, len);
	return 0;
}

static void fsrc_guest_wrote(void *ctx, struct gm *gm, uint64_t gpa, size_t len)
{
	touch(ctx, gm, gpa, len);
}

/* Forget every touched byte: clear the listed bitmaps and keep up to
 * SPARES of them (so the heap after a reset is bounded whatever the input
 * touched). */
static void fsrc_reset(void *ctx, struct gm *gm)
{
	struct fuzz_source *s = ctx;

	for (uint64_t i = 0; i < s->nused; i++) {
		uint64_t *bm = s->page[s->used[i]];

		s->page[s->used[i]] = NULL;
		if (in_slab(s, bm)) {
			memset(bm, 0, WORDS_PER_PAGE * sizeof(uint64_t));
			s->spare[s->nspare++] = bm;
		} else {
			free(bm);
		}
	}
	s->nused = 0;
}

const struct gm_source_ops fuzz_source_ops = {
	.name = "fuzz",
	.read = fsrc_read,
	.write = fsrc_write,
	.guest_wrote = fsrc_guest_wrote,
	.reset = fsrc_reset,
	.direct = false,
};
