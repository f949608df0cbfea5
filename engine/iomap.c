/*
 * ringside — address maps: sorted, non-overlapping ranges of port-I/O or
 * MMIO space, each with its handlers. Lookups are one binary search, since
 * every guest register access of the fuzz harnesses, recorders and replayer
 * goes through io_map_find().
 *
 * Ranges are kept by their last byte rather than their end, so a range may
 * reach the very top of the 64-bit space without base + len wrapping to 0.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ringside/machine.h"

#define IO_MAP_MIN_CAP 8u

/* Last byte of a range; the caller has checked len > 0 and no wrap. */
static inline uint64_t io_range_last(const struct io_range *r)
{
	return r->base + (r->len - 1);
}

/* Index of the first range whose base is above addr (0..n). */
static unsigned io_map_upper(const struct io_map *map, uint64_t addr)
{
	unsigned lo = 0, hi = map->n;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;

		if (map->r[mid].base <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Make room for one more range. Returns 0 or -ENOMEM (map unchanged). */
static int io_map_grow(struct io_map *map)
{
	struct io_range *nr;
	unsigned ncap;

	if (map->n < map->cap)
		return 0;
	if (map->cap > UINT32_MAX / 2 / sizeof(*map->r))
		return -ENOMEM;
	ncap = map->cap ? map->cap * 2 : IO_MAP_MIN_CAP;
	nr = realloc(map->r, (size_t)ncap * sizeof(*nr));
	if (!nr)
		return -ENOMEM;
	map->r = nr;
	map->cap = ncap;
	return 0;
}

/*
 * Insert [base, base+len) with its handlers. Returns 0; -EINVAL when len is
 * 0, the range wraps past 2^64 or ops is NULL; -EEXIST when it overlaps a
 * range already in the map (nothing inserted); -ENOMEM.
 */
int io_map_add(struct io_map *map, uint64_t base, uint64_t len, const struct io_ops *ops,
	       void *ctx, const char *name)
{
	struct io_range *r;
	uint64_t last;
	unsigned i;
	int err;

	if (len == 0 || len - 1 > UINT64_MAX - base || !ops)
		return -EINVAL;
	last = base + (len - 1);
	i = io_map_upper(map, base);
	/* The range just below may run into ours, and ours into the one above. */
	if (i > 0 && io_range_last(&map->r[i - 1]) >= base)
		return -EEXIST;
	if (i < map->n && map->r[i].base <= last)
		return -EEXIST;
	err = io_map_grow(map);
	if (err)
		return err;
	memmove(&map->r[i + 1], &map->r[i], (size_t)(map->n - i) * sizeof(*map->r));
	r = &map->r[i];
	memset(r, 0, sizeof(*r));
	r->base = base;
	r->len = len;
	r->ops = ops;
	r->ctx = ctx;
	if (name) {
		strncpy(r->name, name, sizeof(r->name) - 1);
		r->name[sizeof(r->name) - 1] = '\0';
	}
	map->n++;
	return 0;
}

/*
 * Remove the range that starts at base and belongs to ctx.
 * Returns 0 or -ENOENT (no such range; the map is unchanged).
 */
int io_map_remove(struct io_map *map, uint64_t base, void *ctx)
{
	unsigned i = io_map_upper(map, base);

	if (i == 0 || map->r[i - 1].base != base || map->r[i - 1].ctx != ctx)
		return -ENOENT;
	i--;
	memmove(&map->r[i], &map->r[i + 1], (size_t)(map->n - i - 1) * sizeof(*map->r));
	map->n--;
	return 0;
}

/*
 * The range holding all of [addr, addr+size), or NULL when no range does
 * (size 0, a hole, or an access that runs past a range's end or past 2^64).
 */
const struct io_range *io_map_find(const struct io_map *map, uint64_t addr, uint64_t size)
{
	unsigned i = io_map_upper(map, addr);
	const struct io_range *r;

	if (RS_UNLIKELY(i == 0 || size == 0))
		return NULL;
	r = &map->r[i - 1];
	/* r->base <= addr by the search; the access must end inside r. */
	if (RS_UNLIKELY(!rs_range_within(addr, size, r->base, r->len)))
		return NULL;
	return r;
}

/* Free the range array; the map is empty and reusable afterwards. */
void io_map_free(struct io_map *map)
{
	free(map->r);
	map->r = NULL;
	map->n = 0;
	map->cap = 0;
}
