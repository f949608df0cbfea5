/*
 * ringside — blk "mem" backend: an in-memory disk image with a copy-on-write
 * overlay (see ringside/blk.h).
 *
 * The base is shared and never written: all zeroes (no memory at all) or a
 * file mapped read-only. Every instance keeps its own overlay of 4 KiB
 * blocks in an open-addressing hash table keyed by block number. A block is
 * either a data block (4 KiB copy, written over) or a zero block (reads as
 * zeroes, no data needed). Resetting the overlay clears exactly the table
 * slots in use and keeps the block buffers for reuse, so a fuzz or replay
 * run restarts from the base image at a cost proportional to the blocks it
 * wrote, whatever the disk size.
 *
 * Only ever invoked through world_io().
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ringside/blk.h"
#include "blk.h"

struct blk_mem_base {
	const uint8_t *data;  /* NULL: all zeroes */
	uint64_t size;
	size_t map_len;       /* bytes mapped (data != NULL) */
	unsigned refs;
};

#define MEM_EMPTY UINT64_MAX  /* free slot key (block numbers are < 2^52) */

struct mem_slot {
	uint64_t key;         /* block number, or MEM_EMPTY */
	uint32_t ent;         /* index into entries */
};

struct mem_entry {
	uint64_t key;
	uint32_t slot;        /* where it sits in the table */
	bool zero;            /* reads as zeroes; data unused */
	uint8_t *data;        /* BLK_MEM_BLOCK bytes, kept across resets */
};

struct blk_mem {
	struct world_backend be;
	struct blk_mem_base *base;
	struct mem_slot *slots;
	uint32_t nslots;      /* power of two */
	struct mem_entry *ents;
	uint32_t nents;       /* entries in use */
	uint32_t cap;         /* entries allocated (their buffers may be reused) */
};

/* ---- base ------------------------------------------------------------------------------ */

/* One line in err; returns r. */
static int mem_fail(char *err, size_t errlen, int r, const char *fmt, const char *arg)
{
	if (err && errlen)
		snprintf(err, errlen, fmt, arg, strerror(-r));
	return r;
}

int blk_mem_base_new(const char *path, uint64_t size, struct blk_mem_base **out, char *err,
		     size_t errlen)
{
	struct blk_mem_base *base;
	int fd;

	*out = NULL;
	if (!path && (size == 0 || size % VIRTIO_BLK_SECTOR_SIZE)) {
		if (err && errlen)
			snprintf(err, errlen, "blk: image size must be a non-zero multiple of 512");
		return -EINVAL;
	}
	base = calloc(1, sizeof *base);
	if (!base)
		return mem_fail(err, errlen, -ENOMEM, "blk: base image: %s%s", "");
	base->refs = 1;
	base->size = size;
	if (!path) {
		*out = base;
		return 0;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int r = -errno;
		free(base);
		return mem_fail(err, errlen, r, "blk: file=%s: %s", path);
	}
	struct stat st;

	if (fstat(fd, &st) < 0 || (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))) {
		if (err && errlen)
			snprintf(err, errlen, "blk: file=%s: not a regular file or block device",
				 path);
		close(fd);
		free(base);
		return -EINVAL;
	}
	off_t end = lseek(fd, 0, SEEK_END);
	uint64_t fsize = end > 0 ? (uint64_t)end & ~(uint64_t)(VIRTIO_BLK_SECTOR_SIZE - 1) : 0;

	if (size == 0)
		size = fsize;
	if (size == 0 || size > fsize || size % VIRTIO_BLK_SECTOR_SIZE || size > SIZE_MAX) {
		if (err && errlen)
			snprintf(err, errlen,
				 "blk: file=%s: image of %llu bytes cannot supply %llu bytes (a "
				 "non-zero multiple of 512)",
				 path, (unsigned long long)fsize, (unsigned long long)size);
		close(fd);
		free(base);
		return -EINVAL;
	}
	void *p = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
	int r = p == MAP_FAILED ? -errno : 0;

	close(fd);
	if (r < 0) {
		free(base);
		return mem_fail(err, errlen, r, "blk: file=%s: cannot map: %s", path);
	}
	base->data = p;
	base->map_len = (size_t)size;
	base->size = size;
	*out = base;
	return 0;
}

struct blk_mem_base *blk_mem_base_get(struct blk_mem_base *base)
{
	base->refs++;
	return base;
}

void blk_mem_base_put(struct blk_mem_base *base)
{
	if (!base || --base->refs)
		return;
	if (base->data)
		munmap((void *)base->data, base->map_len);
	free(base);
}

uint64_t blk_mem_base_size(const struct blk_mem_base *base)
{
	return base->size;
}

/* ---- overlay table ------------------------------------------------------------------------ */

/* Fibonacci hashing of a block number into [0, nslots). */
static uint32_t mem_hash(const struct blk_mem *m, uint64_t key)
{
	return (uint32_t)((key * 0x9e3779b97f4a7c15ull) >> 32) & (m->nslots - 1);
}

/* Entry for block key, or NULL. Bounded: the table is never full. */
static struct mem_entry *mem_find(struct blk_mem *m, uint64_t key)
{
	for (uint32_t i = mem_hash(m, key);; i = (i + 1) & (m->nslots - 1)) {
		if (m->slots[i].key == MEM_EMPTY)
			return NULL;
		if (m->slots[i].key == key)
			return &m->ents[m->slots[i].ent];
	}
}

/* Put entry e into the table (its key is absent). */
static void mem_place(struct blk_mem *m, uint32_t e)
{
	uint32_t i = mem_hash(m, m->ents[e].key);

	while (m->slots[i].key != MEM_EMPTY)
		i = (i + 1) & (m->nslots - 1);
	m->slots[i].key = m->ents[e].key;
	m->slots[i].ent = e;
	m->ents[e].slot = i;
}

/* Double the table and re-place every entry. 0 or -ENOMEM. */
static int mem_grow_table(struct blk_mem *m)
{
	uint32_t n = m->nslots * 2;
	struct mem_slot *s;

	if (n < m->nslots)
		return -ENOMEM;
	s = malloc((size_t)n * sizeof *s);
	if (!s)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++)
		s[i].key = MEM_EMPTY;
	free(m->slots);
	m->slots = s;
	m->nslots = n;
	for (uint32_t e = 0; e < m->nents; e++)
		mem_place(m, e);
	return 0;
}

/* New entry for block key (absent), zero or with a data buffer ready to be
 * filled. NULL on -ENOMEM. */
static struct mem_entry *mem_add(struct blk_mem *m, uint64_t key, bool zero)
{
	struct mem_entry *e;

	/* load factor at most 1/2 keeps probes short and a free slot certain */
	if ((uint64_t)(m->nents + 1) * 2 > m->nslots && mem_grow_table(m) < 0)
		return NULL;
	if (m->nents == m->cap) {
		uint32_t cap = m->cap ? m->cap * 2 : 64;
		struct mem_entry *p = cap > m->cap ? realloc(m->ents, (size_t)cap * sizeof *p) : NULL;

		if (!p)
			return NULL;
		memset(p + m->cap, 0, (size_t)(cap - m->cap) * sizeof *p);
		m->ents = p;
		m->cap = cap;
	}
	e = &m->ents[m->nents];
	if (!zero && !e->data && !(e->data = malloc(BLK_MEM_BLOCK)))
		return NULL;
	e->key = key;
	e->zero = zero;
	mem_place(m, m->nents++);
	return e;
}

/* Make e a data block holding the block's current contents (zeroes). */
static int mem_unzero(struct mem_entry *e)
{
	if (!e->data && !(e->data = malloc(BLK_MEM_BLOCK)))
		return -ENOMEM;
	memset(e->data, 0, BLK_MEM_BLOCK);
	e->zero = false;
	return 0;
}

int blk_mem_overlay_reset(struct world_backend *b)
{
	struct world_backend *inner = blk_backend_unwrap(b);
	struct blk_mem *m;

	if (!inner || inner->ops != &blk_mem_ops)
		return -EINVAL;
	blk_fault_reset(b); /* a no-op unless b is a fault wrapper */
	m = inner->ctx;

	for (uint32_t e = 0; e < m->nents; e++)
		m->slots[m->ents[e].slot].key = MEM_EMPTY;
	m->nents = 0;
	return 0;
}

uint64_t blk_mem_overlay_blocks(const struct world_backend *b)
{
	b = blk_backend_unwrap((struct world_backend *)b);
	if (!b || b->ops != &blk_mem_ops)
		return 0;
	return ((const struct blk_mem *)b->ctx)->nents;
}

/* ---- io -------------------------------------------------------------------------------- */

/* Copy block bytes [boff, boff+n) of block blk as they read now into dst. */
static void mem_read_block(struct blk_mem *m, uint64_t blk, uint32_t boff, uint8_t *dst,
			   uint32_t n)
{
	struct mem_entry *e = mem_find(m, blk);
	uint64_t off = blk * BLK_MEM_BLOCK + boff;

	if (e && e->zero)
		memset(dst, 0, n);
	else if (e)
		memcpy(dst, e->data + boff, n);
	else if (m->base->data)
		memcpy(dst, m->base->data + off, n); /* off + n <= size: checked by caller */
	else
		memset(dst, 0, n);
}

/* Data block for blk holding its current contents (created on first write). */
static struct mem_entry *mem_cow(struct blk_mem *m, uint64_t blk)
{
	struct mem_entry *e = mem_find(m, blk);
	uint64_t off = blk * BLK_MEM_BLOCK;

	if (e) {
		if (e->zero && mem_unzero(e) < 0)
			return NULL;
		return e;
	}
	e = mem_add(m, blk, false);
	if (!e)
		return NULL;
	/* The last block of an image whose size is not a 4 KiB multiple is
	 * partly outside the base: that part is never read or written. */
	uint64_t have = RS_MIN((uint64_t)BLK_MEM_BLOCK, m->base->size - off);

	memset(e->data, 0, BLK_MEM_BLOCK);
	if (m->base->data)
		memcpy(e->data, m->base->data + off, (size_t)have);
	return e;
}

/* Zero bytes [boff, boff+n) of block blk. */
static int mem_zero_block(struct blk_mem *m, uint64_t blk, uint32_t boff, uint32_t n)
{
	struct mem_entry *e = mem_find(m, blk);

	if (boff == 0 && (n == BLK_MEM_BLOCK || blk * BLK_MEM_BLOCK + n == m->base->size)) {
		/* whole block: a zero entry, or nothing over an all-zero base */
		if (e)
			e->zero = true;
		else if (m->base->data && !mem_add(m, blk, true))
			return -ENOMEM;
		return 0;
	}
	if (!e && !m->base->data)
		return 0; /* already zero */
	if (e && e->zero)
		return 0;
	e = mem_cow(m, blk);
	if (!e)
		return -ENOMEM;
	memset(e->data + boff, 0, n);
	return 0;
}

static int64_t mem_io(struct world_backend *b, struct world_io *req)
{
	struct blk_mem *m = b->ctx;
	uint8_t *buf = req->buf;
	size_t done = 0;

	switch (req->op) {
	case WIO_SIZE:
		return (int64_t)m->base->size;
	case WIO_FLUSH:
		return 0;
	case WIO_READ:
	case WIO_WRITE:
	case WIO_DISCARD:
	case WIO_WRITE_ZEROES:
		break;
	default:
		return -EOPNOTSUPP;
	}
	/* world_io() guarantees buf for READ and WRITE with len > 0 */
	if (!rs_range_within(req->off, req->len, 0, m->base->size))
		return -EINVAL;
	/* Bounded: every pass moves at least one byte of len. */
	while (done < req->len) {
		uint64_t off = req->off + done;
		uint64_t blk = off / BLK_MEM_BLOCK;
		uint32_t boff = (uint32_t)(off % BLK_MEM_BLOCK);
		uint32_t n = (uint32_t)RS_MIN((uint64_t)(BLK_MEM_BLOCK - boff), req->len - done);
		struct mem_entry *e;

		switch (req->op) {
		case WIO_READ:
			mem_read_block(m, blk, boff, buf + done, n);
			break;
		case WIO_WRITE:
			e = mem_cow(m, blk);
			if (!e)
				return -ENOMEM;
			memcpy(e->data + boff, buf + done, n);
			break;
		default: /* discard and write-zeroes both leave zeroes */
			if (mem_zero_block(m, blk, boff, n) < 0)
				return -ENOMEM;
			break;
		}
		done += n;
	}
	return req->op == WIO_READ || req->op == WIO_WRITE ? (int64_t)done : 0;
}

static void mem_destroy(struct world_backend *b)
{
	struct blk_mem *m = b->ctx;

	for (uint32_t e = 0; e < m->cap; e++)
		free(m->ents[e].data);
	free(m->ents);
	free(m->slots);
	blk_mem_base_put(m->base);
	free(m);
}

const struct world_backend_ops blk_mem_ops = {
	.name = "blk-mem",
	.io = mem_io,
	.destroy = mem_destroy,
};

int blk_mem_new(struct blk_mem_base *base, struct world_backend **out)
{
	struct blk_mem *m = calloc(1, sizeof *m);

	*out = NULL;
	if (!m)
		return -ENOMEM;
	m->nslots = 64;
	m->slots = malloc(m->nslots * sizeof *m->slots);
	if (!m->slots) {
		free(m);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < m->nslots; i++)
		m->slots[i].key = MEM_EMPTY;
	m->base = blk_mem_base_get(base);
	m->be.ops = &blk_mem_ops;
	m->be.ctx = m;
	snprintf(m->be.name, sizeof m->be.name, "mem");
	*out = &m->be;
	return 0;
}
