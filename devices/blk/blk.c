/*
 * ringside — virtio block device "blk" (virtio-v1.2 5.2, device ID 2).
 *
 * Shape (as every device here): ops table, config layout, request
 * handling; the image lives in a backend (backend_mem.c, backend_file.c,
 * backend_fault.c) reached only through world_io(), so recording, replay
 * and fuzzing see (and may supply) every backend result. Options and
 * behaviour are documented in docs/devices/blk.md.
 *
 * Requests are parsed with chain cursors, whatever way the driver split
 * them into descriptors: the header is the first 16 readable bytes, the
 * status the last writable byte, data whatever lies between. Legacy drivers
 * that did not negotiate VIRTIO_F_ANY_LAYOUT must frame the header and the
 * status in descriptors of their own (virtio-v1.2 5.2.6.4); that rule binds
 * the driver, and the device accepts any framing from everyone.
 *
 * Every request ends with a status byte: a malformed one (short header,
 * data in the wrong direction, length not a sector multiple, range outside
 * the disk or past 2^64, too many or too large segments) gets
 * VIRTIO_BLK_S_IOERR, an unknown or unnegotiated one VIRTIO_BLK_S_UNSUPP,
 * and the device goes on serving. A chain without a writable byte cannot
 * carry a status: it is completed with used length 0. Requests complete
 * synchronously inside the notify, so nothing is ever in flight across a
 * reset.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringside/blk.h"
#include "ringside/vdev.h"
#include "../devices.h"
#include "blk.h"

#define BLK_DEFAULT_SIZE (8ull << 20)
#define BLK_SIZE_LIMIT (1ull << 50)          /* largest image: 1 PiB */
#define BLK_DEFAULT_SIZE_MAX (4u << 20)
#define BLK_DEFAULT_SEG_MAX (BLK_QUEUE_MAX - 2) /* room for header and status */
#define BLK_DEFAULT_DWZ_SECTORS (1u << 22)   /* 2 GiB per segment */
#define BLK_DEFAULT_DWZ_SEG 32
#define BLK_MAX_DWZ_SEG 1024
#define BLK_BOUNCE (64u << 10)               /* staging when guest memory is not direct */
#define BLK_PHYS_BLOCK 4096u                 /* backends work in 4 KiB blocks */

/* Options as parsed (see docs/devices/blk.md). */
struct blk_params {
	uint64_t size;           /* size=, 0 when not given */
	char file[104];
	char fault[104];
	char serial[VIRTIO_BLK_ID_BYTES + 1];
	bool ro, cow, discard, write_zeroes;
	uint8_t writeback;       /* cache=: 1 writeback (default), 0 writethrough */
	unsigned queues;
	uint32_t seg_max, size_max, blk_size;
	uint32_t discard_max, discard_seg, wz_max, wz_seg;
};

struct blk {
	struct blk_params p;
	struct world_backend *backend;
	uint64_t capacity;       /* bytes, a multiple of 512 */
	uint8_t writeback;       /* cache mode now (mirrors config writeback) */
	uint8_t *bounce;         /* BLK_BOUNCE bytes */
	uint8_t *segs;           /* one request's DISCARD / WRITE_ZEROES segments */
	struct blk_stats stats;
};

/* --- options ---------------------------------------------------------------------------- */

/* A numeric option in [lo, hi]; 0 or -EINVAL with a message. */
static int blk_arg_u32(struct vdev_args *a, const char *key, uint32_t dflt, uint64_t lo,
		       uint64_t hi, uint32_t *out, char *err, size_t errlen)
{
	uint64_t v;
	int r = vdev_arg_size(a, key, dflt, &v, err, errlen);

	if (r < 0)
		return r;
	if (v < lo || v > hi) {
		snprintf(err, errlen, "blk: %s=%llu out of range (%llu..%llu)", key,
			 (unsigned long long)v, (unsigned long long)lo, (unsigned long long)hi);
		return -EINVAL;
	}
	*out = (uint32_t)v;
	return 0;
}

/* Copy a string option into dst (cap bytes with the NUL). */
static int blk_arg_str(struct vdev_args *a, const char *key, char *dst, size_t cap, char *err,
		       size_t errlen)
{
	const char *v = vdev_arg(a, key);

	if (!v)
		return 0;
	if (!v[0] || strlen(v) >= cap) {
		snprintf(err, errlen, "blk: %s= needs 1 to %zu characters", key, cap - 1);
		return -EINVAL;
	}
	memcpy(dst, v, strlen(v) + 1);
	return 0;
}

/* Parse every option of the device into p. Returns 0 or -EINVAL with err. */
static int blk_parse(struct vdev_args *a, unsigned index, struct blk_params *p, char *err,
		     size_t errlen)
{
	const char *cache, *serial;
	uint32_t queues;
	int r;

	memset(p, 0, sizeof *p);
	if ((r = vdev_arg_size(a, "size", 0, &p->size, err, errlen)) < 0 ||
	    (r = blk_arg_str(a, "file", p->file, sizeof p->file, err, errlen)) < 0 ||
	    (r = blk_arg_str(a, "fault", p->fault, sizeof p->fault, err, errlen)) < 0 ||
	    (r = vdev_arg_bool(a, "ro", false, &p->ro, err, errlen)) < 0 ||
	    (r = vdev_arg_bool(a, "cow", false, &p->cow, err, errlen)) < 0 ||
	    (r = vdev_arg_bool(a, "discard", true, &p->discard, err, errlen)) < 0 ||
	    (r = vdev_arg_bool(a, "write-zeroes", true, &p->write_zeroes, err, errlen)) < 0 ||
	    (r = blk_arg_u32(a, "queues", 1, 1, BLK_MAX_QUEUES, &queues, err, errlen)) < 0 ||
	    (r = blk_arg_u32(a, "seg-max", BLK_DEFAULT_SEG_MAX, 1, VIRTQ_MAX_SIZE, &p->seg_max,
			     err, errlen)) < 0 ||
	    (r = blk_arg_u32(a, "size-max", BLK_DEFAULT_SIZE_MAX, VIRTIO_BLK_SECTOR_SIZE,
			     UINT32_MAX, &p->size_max, err, errlen)) < 0 ||
	    (r = blk_arg_u32(a, "blk-size", VIRTIO_BLK_SECTOR_SIZE, VIRTIO_BLK_SECTOR_SIZE,
			     65536, &p->blk_size, err, errlen)) < 0 ||
	    (r = blk_arg_u32(a, "discard-max", BLK_DEFAULT_DWZ_SECTORS, 1, UINT32_MAX,
			     &p->discard_max, err, errlen)) < 0 ||
	    (r = blk_arg_u32(a, "discard-seg", BLK_DEFAULT_DWZ_SEG, 1, BLK_MAX_DWZ_SEG,
			     &p->discard_seg, err, errlen)) < 0 ||
	    (r = blk_arg_u32(a, "write-zeroes-max", BLK_DEFAULT_DWZ_SECTORS, 1, UINT32_MAX,
			     &p->wz_max, err, errlen)) < 0 ||
	    (r = blk_arg_u32(a, "write-zeroes-seg", BLK_DEFAULT_DWZ_SEG, 1, BLK_MAX_DWZ_SEG,
			     &p->wz_seg, err, errlen)) < 0)
		return r;
	p->queues = queues;
	if (!rs_is_pow2(p->blk_size)) {
		snprintf(err, errlen, "blk: blk-size=%u is not a power of two", p->blk_size);
		return -EINVAL;
	}
	if (p->size % VIRTIO_BLK_SECTOR_SIZE || p->size > BLK_SIZE_LIMIT ||
	    (a && vdev_arg(a, "size") && p->size == 0)) {
		snprintf(err, errlen, "blk: size=%llu must be a non-zero multiple of 512, at most 1P",
			 (unsigned long long)p->size);
		return -EINVAL;
	}
	if (!p->file[0] && !p->size)
		p->size = BLK_DEFAULT_SIZE;
	cache = vdev_arg(a, "cache");
	if (!cache || strcmp(cache, "writeback") == 0) {
		p->writeback = 1;
	} else if (strcmp(cache, "writethrough") == 0) {
		p->writeback = 0;
	} else {
		snprintf(err, errlen, "blk: cache=%s: expected writeback or writethrough", cache);
		return -EINVAL;
	}
	serial = vdev_arg(a, "serial");
	if (serial) {
		if (strlen(serial) > VIRTIO_BLK_ID_BYTES) {
			snprintf(err, errlen, "blk: serial=%s is longer than %d characters", serial,
				 VIRTIO_BLK_ID_BYTES);
			return -EINVAL;
		}
		for (const char *s = serial; *s; s++) {
			if (*s < 0x21 || *s > 0x7e) {
				snprintf(err, errlen, "blk: serial= takes printable ASCII only");
				return -EINVAL;
			}
		}
		memcpy(p->serial, serial, strlen(serial) + 1);
	} else {
		snprintf(p->serial, sizeof p->serial, "ringside-blk%u", index % 100000u);
	}
	return 0;
}

/* --- backend access ----------------------------------------------------------------------- */

/* One backend call through the world. A failure or short transfer is
 * reported (DIAG_BACKEND_ERROR) and returns -EIO; otherwise 0. */
static int blk_io(struct vdev *d, enum world_io_op op, uint64_t off, void *buf, size_t len)
{
	static const char *const names[] = { "read", "write", "flush", "discard", "write-zeroes" };
	struct blk *b = d->priv;
	struct world_io io = { .op = op, .dev = d->index, .off = off, .buf = buf, .len = len };
	int64_t r = world_io(d->world, b->backend, &io);
	bool data = op == WIO_READ || op == WIO_WRITE;

	if (r >= 0 && (!data || (uint64_t)r == len))
		return 0;
	b->stats.backend_errors++;
	diag_report(&d->log, DIAG_BACKEND_ERROR, "backend %s: %s of %zu bytes at %llu: %s",
		    b->backend->name, (unsigned)op < RS_ARRAY_SIZE(names) ? names[op] : "?", len,
		    (unsigned long long)off, r < 0 ? strerror((int)-r) : "short transfer");
	return -EIO;
}

/* Backend size through the world, rounded down to whole sectors. Returns
 * 0 with *bytes or -errno. */
static int blk_backend_size(struct vdev *d, struct world_backend *be, uint64_t *bytes)
{
	struct world_io io = { .op = WIO_SIZE, .dev = d->index };
	int64_t r = world_io(d->world, be, &io);

	if (r < 0)
		return (int)r;
	*bytes = (uint64_t)r & ~(uint64_t)(VIRTIO_BLK_SECTOR_SIZE - 1);
	return *bytes ? 0 : -EINVAL;
}

/* Build the backend the options ask for. 0 or -errno with err. An image
 * file is opened unless the world answers every request itself (replay,
 * world_serves_io): a replay must not need, or touch, the file. */
static int blk_open_backend(struct blk *b, bool open_files, char *err, size_t errlen)
{
	const struct blk_params *p = &b->p;
	struct world_backend *be;
	int r;

	if (p->file[0] && !open_files) {
		r = blk_proxy_new(p->file, &be, err, errlen);
	} else if (p->file[0] && !p->cow) {
		r = blk_file_new(p->file, p->ro, &be, err, errlen);
	} else {
		struct blk_mem_base *base;

		r = blk_mem_base_new(p->file[0] ? p->file : NULL, p->size, &base, err, errlen);
		if (r < 0)
			return r;
		r = blk_mem_new(base, &be);
		blk_mem_base_put(base);
		if (r < 0)
			snprintf(err, errlen, "blk: out of memory");
	}
	if (r < 0)
		return r;
	if (p->fault[0]) {
		struct world_backend *f;

		r = blk_fault_new(be, p->fault, &f, err, errlen);
		if (r < 0) {
			blk_backend_destroy(be);
			return r;
		}
		be = f;
	}
	b->backend = be;
	return 0;
}

/* --- config layout --------------------------------------------------------------------------- */

static const struct vdev_cfg_field blk_cfg_fields[] = {
	{ VIRTIO_BLK_CFG_CAPACITY, 8, 0 },
	{ VIRTIO_BLK_CFG_SIZE_MAX, 4, 0 },
	{ VIRTIO_BLK_CFG_SEG_MAX, 4, 0 },
	{ VIRTIO_BLK_CFG_CYLINDERS, 2, 0 },
	{ VIRTIO_BLK_CFG_HEADS, 1, 0 },
	{ VIRTIO_BLK_CFG_SECTORS, 1, 0 },
	{ VIRTIO_BLK_CFG_BLK_SIZE, 4, 0 },
	{ VIRTIO_BLK_CFG_PHYSICAL_BLOCK_EXP, 1, 0 },
	{ VIRTIO_BLK_CFG_ALIGNMENT_OFFSET, 1, 0 },
	{ VIRTIO_BLK_CFG_MIN_IO_SIZE, 2, 0 },
	{ VIRTIO_BLK_CFG_OPT_IO_SIZE, 4, 0 },
	{ VIRTIO_BLK_CFG_WRITEBACK, 1, 1 },
	{ VIRTIO_BLK_CFG_UNUSED0, 1, 0 },
	{ VIRTIO_BLK_CFG_NUM_QUEUES, 2, 0 },
	{ VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS, 4, 0 },
	{ VIRTIO_BLK_CFG_MAX_DISCARD_SEG, 4, 0 },
	{ VIRTIO_BLK_CFG_DISCARD_SECTOR_ALIGNMENT, 4, 0 },
	{ VIRTIO_BLK_CFG_MAX_WRITE_ZEROES_SECTORS, 4, 0 },
	{ VIRTIO_BLK_CFG_MAX_WRITE_ZEROES_SEG, 4, 0 },
	{ VIRTIO_BLK_CFG_WRITE_ZEROES_MAY_UNMAP, 1, 0 },
	{ VIRTIO_BLK_CFG_UNUSED1, 1, 0 },
	{ VIRTIO_BLK_CFG_UNUSED1 + 1, 1, 0 },
	{ VIRTIO_BLK_CFG_UNUSED1 + 2, 1, 0 },
};

/* Fill d->config from the device state (virtio-v1.2 5.2.4). The padding
 * stays zero (5.2.5.2: unused0 and unused1 MUST be 0). */
static void blk_fill_config(struct vdev *d)
{
	struct blk *b = d->priv;
	const struct blk_params *p = &b->p;
	uint8_t *c = d->config;
	uint64_t sectors = b->capacity >> VIRTIO_BLK_SECTOR_SHIFT;
	uint32_t phys = RS_MAX(p->blk_size, BLK_PHYS_BLOCK);
	uint8_t exp = 0;

	while ((p->blk_size << exp) < phys)
		exp++;
	memset(c, 0, VIRTIO_BLK_CFG_SIZE);
	rs_st64(c + VIRTIO_BLK_CFG_CAPACITY, sectors);
	rs_st32(c + VIRTIO_BLK_CFG_SIZE_MAX, p->size_max);
	rs_st32(c + VIRTIO_BLK_CFG_SEG_MAX, p->seg_max);
	/* the classic translation: 16 heads, 63 sectors per track */
	rs_st16(c + VIRTIO_BLK_CFG_CYLINDERS, (uint16_t)RS_MIN(sectors / (16 * 63), 65535u));
	c[VIRTIO_BLK_CFG_HEADS] = 16;
	c[VIRTIO_BLK_CFG_SECTORS] = 63;
	rs_st32(c + VIRTIO_BLK_CFG_BLK_SIZE, p->blk_size);
	c[VIRTIO_BLK_CFG_PHYSICAL_BLOCK_EXP] = exp;
	c[VIRTIO_BLK_CFG_ALIGNMENT_OFFSET] = 0;
	rs_st16(c + VIRTIO_BLK_CFG_MIN_IO_SIZE, (uint16_t)(1u << exp));
	rs_st32(c + VIRTIO_BLK_CFG_OPT_IO_SIZE, 0);
	c[VIRTIO_BLK_CFG_WRITEBACK] = b->writeback;
	rs_st16(c + VIRTIO_BLK_CFG_NUM_QUEUES, (uint16_t)d->nqueues);
	if (p->discard) {
		rs_st32(c + VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS, p->discard_max);
		rs_st32(c + VIRTIO_BLK_CFG_MAX_DISCARD_SEG, p->discard_seg);
		rs_st32(c + VIRTIO_BLK_CFG_DISCARD_SECTOR_ALIGNMENT,
			phys / VIRTIO_BLK_SECTOR_SIZE);
	}
	if (p->write_zeroes) {
		rs_st32(c + VIRTIO_BLK_CFG_MAX_WRITE_ZEROES_SECTORS, p->wz_max);
		rs_st32(c + VIRTIO_BLK_CFG_MAX_WRITE_ZEROES_SEG, p->wz_seg);
		/* write zeroes never deallocates here (UNMAP is accepted and
		 * ignored), so the field is 0 (5.2.6.2) */
		c[VIRTIO_BLK_CFG_WRITE_ZEROES_MAY_UNMAP] = 0;
	}
}

/* Set the cache mode (and its config mirror). */
static void blk_set_writeback(struct vdev *d, uint8_t wb)
{
	struct blk *b = d->priv;

	b->writeback = wb ? 1 : 0;
	d->config[VIRTIO_BLK_CFG_WRITEBACK] = b->writeback;
}

/* The driver wrote writeback (the only writable field). 5.2.5: it is the
 * driver's to set with VIRTIO_BLK_F_CONFIG_WCE (0 writethrough, 1
 * writeback; we read any non-zero value as 1); 5.2.5.1: a legacy driver
 * may write it before negotiating. */
static void blk_config_write(struct vdev *d, uint32_t off, uint32_t len)
{
	struct blk *b = d->priv;

	if (off != VIRTIO_BLK_CFG_WRITEBACK)
		return;
	if (!d->legacy && !vdev_has(d, VIRTIO_BLK_F_CONFIG_WCE)) {
		d->config[off] = b->writeback;
		diag_report(&d->log, DIAG_CONFIG_READONLY,
			    "virtio-blk writeback written without VIRTIO_BLK_F_CONFIG_WCE; ignored");
		return;
	}
	blk_set_writeback(d, d->config[off]);
}

/* FEATURES_OK on the 1.x interface. 5.2.5.2: with CONFIG_WCE but not FLUSH
 * the device MUST start in writethrough mode. Never refuses. */
static int blk_validate_features(struct vdev *d, uint64_t f)
{
	if ((f & VIRTIO_BIT(VIRTIO_BLK_F_CONFIG_WCE)) && !(f & VIRTIO_BIT(VIRTIO_BLK_F_FLUSH)))
		blk_set_writeback(d, 0);
	return 0;
}

/* DRIVER_OK. 5.2.5.1 (legacy): only now, and only when the driver did not
 * set CONFIG_WCE, may the cache mode change: a driver that cannot flush gets
 * writethrough. */
static void blk_driver_ok(struct vdev *d)
{
	if (d->legacy && !vdev_has(d, VIRTIO_BLK_F_CONFIG_WCE) &&
	    !vdev_has(d, VIRTIO_BLK_F_FLUSH))
		blk_set_writeback(d, 0);
}

/* Must each write be made durable before it completes? 5.2.6.2: yes when
 * FLUSH was not negotiated (the driver could never flush) or the cache is
 * in writethrough mode. */
static bool blk_writethrough(struct vdev *d)
{
	struct blk *b = d->priv;

	return !vdev_has(d, VIRTIO_BLK_F_FLUSH) || !b->writeback;
}

/* --- request handling ---------------------------------------------------------------------- */

/* One request being served. */
struct blk_req {
	struct vdev *d;
	struct blk *b;
	const struct vq_chain *c;
	struct vq_cursor rd;     /* readable part; after the header once parsed */
	struct vq_cursor wr;     /* writable part */
	bool parsed;             /* the header was read: type and sector are valid */
	uint32_t type;
	uint64_t sector;
	uint32_t data_in;        /* readable bytes after the header */
	uint32_t data_out;       /* writable bytes before the status byte */
	uint32_t written;        /* data bytes written into the driver's buffers */
};

/* The driver broke a request rule (virtio-v1.2 5.2.6.1): count and report
 * it; returns status (IOERR, or UNSUPP where the spec says). */
static uint8_t blk_bad(struct blk_req *r, uint8_t status, const char *why)
{
	r->b->stats.malformed++;
	if (r->parsed)
		diag_report(&r->d->log, DIAG_REQ_MALFORMED,
			    "virtio-v1.2 5.2.6: request type %u sector %llu: %s; status %s",
			    r->type, (unsigned long long)r->sector, why,
			    status == VIRTIO_BLK_S_UNSUPP ? "UNSUPP" : "IOERR");
	else
		diag_report(&r->d->log, DIAG_REQ_MALFORMED,
			    "virtio-v1.2 5.2.6: chain %u: %s; status IOERR", r->c->id, why);
	return status;
}

/* Byte offset of [sector, +len) when it lies inside the disk, computed
 * without overflow (sector * 512 + len past 2^64 or past the capacity is
 * outside). */
static bool blk_range(const struct blk *b, uint64_t sector, uint64_t len, uint64_t *off)
{
	if (sector > (UINT64_MAX >> VIRTIO_BLK_SECTOR_SHIFT))
		return false;
	*off = sector << VIRTIO_BLK_SECTOR_SHIFT;
	return rs_range_within(*off, len, 0, b->capacity);
}

/* gpa of the status byte: the last byte of the last non-empty writable
 * segment. False when the chain has no writable byte. */
static bool blk_status_gpa(const struct vq_chain *c, uint64_t *gpa)
{
	const struct vq_seg *s = vq_chain_csegs(c);

	for (uint32_t i = c->nsegs; i > c->nread; i--) {
		if (s[i - 1].len) {
			/* SAFETY: gpa + len was checked inside RAM when popped. */
			*gpa = s[i - 1].gpa + s[i - 1].len - 1;
			return true;
		}
	}
	return false;
}

/* Limits the driver accepted (5.2.3): at most seg_max data segments (plus
 * header and status) with SEG_MAX, no segment above size_max with SIZE_MAX. */
static bool blk_limits_ok(struct vdev *d, const struct vq_chain *c)
{
	const struct blk *b = d->priv;
	const struct vq_seg *s = vq_chain_csegs(c);

	if (vdev_has(d, VIRTIO_BLK_F_SEG_MAX) && c->nsegs > (uint64_t)b->p.seg_max + 2)
		return false;
	if (vdev_has(d, VIRTIO_BLK_F_SIZE_MAX))
		for (uint32_t i = 0; i < c->nsegs; i++)
			if (s[i].len > b->p.size_max)
				return false;
	return true;
}

/*
 * Move len bytes between the backend at byte off and the driver's buffers
 * under cur: WIO_READ fills the writable part, WIO_WRITE drains the readable
 * part, one backend call per piece of a buffer of at most BLK_BOUNCE bytes.
 * Guest memory is handed to the backend directly where the arena allows it
 * (gm_ptr), else staged through the bounce buffer; the pieces are the same
 * either way, so live, recorded, replayed and fuzzed runs make the same
 * sequence of world_io() calls. Advances cur; *moved counts the bytes
 * completed. Returns 0, -EIO (backend, reported) or -EFAULT (the arena
 * refused, reported by it).
 */
static int blk_xfer(struct vdev *d, struct vq_cursor *cur, enum world_io_op op, uint64_t off,
		    uint32_t len, uint32_t *moved)
{
	struct blk *b = d->priv;
	const struct vq_seg *segs = vq_chain_csegs(cur->c);
	unsigned access = op == WIO_READ ? GM_ACCESS_WRITE : GM_ACCESS_READ;

	*moved = 0;
	/* Bounded: each pass moves at least one byte or leaves a segment. */
	while (*moved < len && cur->seg < cur->end) {
		const struct vq_seg *s = &segs[cur->seg];
		uint32_t n = RS_MIN(RS_MIN(s->len - cur->off, len - *moved), BLK_BOUNCE);
		/* SAFETY: gpa + len of every segment was checked when popped. */
		uint64_t gpa = s->gpa + cur->off;
		void *p;
		int r;

		if (n == 0) {
			cur->seg++;
			cur->off = 0;
			continue;
		}
		p = gm_ptr(d->gm, gpa, n, access);
		if (p) {
			r = blk_io(d, op, off + *moved, p, n);
		} else {
			if (op == WIO_WRITE) {
				if (gm_read(d->gm, gpa, b->bounce, n) < 0)
					return -EFAULT;
				r = blk_io(d, op, off + *moved, b->bounce, n);
			} else {
				r = blk_io(d, op, off + *moved, b->bounce, n);
				if (r == 0 && gm_write(d->gm, gpa, b->bounce, n) < 0)
					return -EFAULT;
			}
		}
		if (r < 0)
			return r;
		cur->off += n;
		cur->done += n;
		cur->left -= n;
		*moved += n;
	}
	return *moved == len ? 0 : -EFAULT;
}

/* A write reached the backend: in writethrough mode make it durable now. */
static uint8_t blk_after_write(struct blk_req *r)
{
	if (!blk_writethrough(r->d))
		return VIRTIO_BLK_S_OK;
	r->b->stats.flushes++;
	return blk_io(r->d, WIO_FLUSH, 0, NULL, 0) < 0 ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK;
}

/* VIRTIO_BLK_T_IN / OUT (5.2.6): data in multiples of 512 bytes, inside the
 * disk; a write to a read-only device fails without writing (5.2.6.2). */
static uint8_t blk_rw(struct blk_req *r, bool out)
{
	struct blk *b = r->b;
	uint32_t len = out ? r->data_in : r->data_out;
	uint32_t moved;
	uint64_t off;
	int rc;

	if (out && b->p.ro)
		return blk_bad(r, VIRTIO_BLK_S_IOERR, "write to a read-only device");
	if (out ? r->data_out != 0 : r->data_in != 0)
		return blk_bad(r, VIRTIO_BLK_S_IOERR, "data in the wrong direction");
	if (len % VIRTIO_BLK_SECTOR_SIZE)
		return blk_bad(r, VIRTIO_BLK_S_IOERR, "data length not a multiple of 512");
	if (!blk_range(b, r->sector, len, &off))
		return blk_bad(r, VIRTIO_BLK_S_IOERR, "range beyond the capacity");
	if (out) {
		rc = blk_xfer(r->d, &r->rd, WIO_WRITE, off, len, &moved);
		b->stats.write_bytes += moved;
	} else {
		rc = blk_xfer(r->d, &r->wr, WIO_READ, off, len, &moved);
		b->stats.read_bytes += moved;
		r->written = moved;
	}
	if (rc < 0)
		return VIRTIO_BLK_S_IOERR;
	return out ? blk_after_write(r) : VIRTIO_BLK_S_OK;
}

/* VIRTIO_BLK_T_FLUSH: sector and any data are ignored (the driver MUST send
 * sector 0 and SHOULD NOT send data; neither harms us). */
static uint8_t blk_flush(struct blk_req *r)
{
	r->b->stats.flushes++;
	return blk_io(r->d, WIO_FLUSH, 0, NULL, 0) < 0 ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK;
}

/* VIRTIO_BLK_T_GET_ID: the serial, NUL-padded to 20 bytes (no NUL when 20
 * long); a shorter buffer gets what fits. */
static uint8_t blk_get_id(struct blk_req *r)
{
	uint8_t id[VIRTIO_BLK_ID_BYTES] = { 0 };
	uint32_t n = RS_MIN(r->data_out, (uint32_t)VIRTIO_BLK_ID_BYTES);

	if (r->data_in)
		return blk_bad(r, VIRTIO_BLK_S_IOERR, "data in the wrong direction");
	memcpy(id, r->b->p.serial, strlen(r->b->p.serial));
	r->written = (uint32_t)vq_cursor_write(&r->wr, id, n);
	return r->written == n ? VIRTIO_BLK_S_OK : VIRTIO_BLK_S_IOERR;
}

/*
 * VIRTIO_BLK_T_DISCARD / WRITE_ZEROES (5.2.6): data is 1..max_*_seg
 * segments {le64 sector, le32 num_sectors, le32 flags}. Every segment is
 * checked before any is executed: unknown flags, and UNMAP on a discard,
 * are UNSUPP (5.2.6.2 MUST); too many segments UNSUPP; more sectors than
 * max_*_sectors, a discard not aligned to discard_sector_alignment, or a
 * range outside the disk IOERR.
 */
static uint8_t blk_dwz(struct blk_req *r)
{
	struct blk *b = r->b;
	bool wz = r->type == VIRTIO_BLK_T_WRITE_ZEROES;
	uint32_t max_seg = wz ? b->p.wz_seg : b->p.discard_seg;
	uint32_t max_sectors = wz ? b->p.wz_max : b->p.discard_max;
	uint32_t align = RS_MAX(b->p.blk_size, BLK_PHYS_BLOCK) / VIRTIO_BLK_SECTOR_SIZE;
	uint32_t n;

	if (!vdev_has(r->d, wz ? VIRTIO_BLK_F_WRITE_ZEROES : VIRTIO_BLK_F_DISCARD))
		return VIRTIO_BLK_S_UNSUPP;
	if (b->p.ro)
		return blk_bad(r, VIRTIO_BLK_S_IOERR, "write to a read-only device");
	if (r->data_out != 0)
		return blk_bad(r, VIRTIO_BLK_S_IOERR, "data in the wrong direction");
	if (r->data_in == 0 || r->data_in % VIRTIO_BLK_DWZ_SEG_SIZE)
		return blk_bad(r, VIRTIO_BLK_S_IOERR, "data not whole 16-byte segments");
	n = r->data_in / VIRTIO_BLK_DWZ_SEG_SIZE;
	if (n > max_seg)
		return blk_bad(r, VIRTIO_BLK_S_UNSUPP, "more segments than max_*_seg");
	if (vq_cursor_read(&r->rd, b->segs, (size_t)n * VIRTIO_BLK_DWZ_SEG_SIZE) !=
	    (size_t)n * VIRTIO_BLK_DWZ_SEG_SIZE)
		return VIRTIO_BLK_S_IOERR; /* the arena refused (reported there) */
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *s = b->segs + (size_t)i * VIRTIO_BLK_DWZ_SEG_SIZE;
		uint64_t sector = rs_le64(s), off;
		uint32_t num = rs_le32(s + 8), flags = rs_le32(s + 12);

		if ((flags & ~VIRTIO_BLK_DWZ_F_UNMAP) || (!wz && (flags & VIRTIO_BLK_DWZ_F_UNMAP)))
			return blk_bad(r, VIRTIO_BLK_S_UNSUPP, "unknown flag, or UNMAP on a discard");
		if (num > max_sectors)
			return blk_bad(r, VIRTIO_BLK_S_IOERR, "segment above max_*_sectors");
		if (!wz && sector % align)
			return blk_bad(r, VIRTIO_BLK_S_IOERR, "discard not aligned");
		if (!blk_range(b, sector, (uint64_t)num << VIRTIO_BLK_SECTOR_SHIFT, &off))
			return blk_bad(r, VIRTIO_BLK_S_IOERR, "segment beyond the capacity");
	}
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *s = b->segs + (size_t)i * VIRTIO_BLK_DWZ_SEG_SIZE;
		uint64_t off = rs_le64(s) << VIRTIO_BLK_SECTOR_SHIFT; /* checked above */
		uint64_t len = (uint64_t)rs_le32(s + 8) << VIRTIO_BLK_SECTOR_SHIFT;

		if (len == 0)
			continue;
		if (blk_io(r->d, wz ? WIO_WRITE_ZEROES : WIO_DISCARD, off, NULL, (size_t)len) < 0)
			return VIRTIO_BLK_S_IOERR; /* segments' state indeterminate (5.2.6) */
		if (wz)
			b->stats.write_zeroes++;
		else
			b->stats.discards++;
	}
	return blk_after_write(r);
}

/* Serve a parsed request by type (5.2.6). */
static uint8_t blk_dispatch(struct blk_req *r)
{
	switch (r->type) {
	case VIRTIO_BLK_T_IN:
		return blk_rw(r, false);
	case VIRTIO_BLK_T_OUT:
		return blk_rw(r, true);
	case VIRTIO_BLK_T_FLUSH:
		return blk_flush(r);
	case VIRTIO_BLK_T_FLUSH_OUT:
		/* 5.2.6.3: a legacy synonym of FLUSH; unknown to 1.x */
		return r->d->legacy ? blk_flush(r) : VIRTIO_BLK_S_UNSUPP;
	case VIRTIO_BLK_T_GET_ID:
		return blk_get_id(r);
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		return blk_dwz(r);
	default:
		/* SCSI commands, BARRIER, GET_LIFETIME, SECURE_ERASE, zone
		 * operations and unknown types: nothing we offered */
		return VIRTIO_BLK_S_UNSUPP;
	}
}

/* Serve one chain; returns the used length (data bytes written + the
 * status byte, or 0 when there is nowhere to put a status). */
static uint32_t blk_request(struct vdev *d, const struct vq_chain *c)
{
	struct blk *b = d->priv;
	struct blk_req r = { .d = d, .b = b, .c = c };
	uint8_t hdr[VIRTIO_BLK_REQ_HDR_SIZE];
	uint64_t status_gpa;
	uint8_t status;

	b->stats.requests++;
	if (!blk_status_gpa(c, &status_gpa)) {
		b->stats.no_status++;
		b->stats.malformed++;
		diag_report(&d->log, DIAG_REQ_MALFORMED,
			    "virtio-v1.2 5.2.6: chain %u has no writable status byte; used length 0",
			    c->id);
		return 0;
	}
	vq_cursor_init_read(&r.rd, d->gm, c);
	vq_cursor_init_write(&r.wr, d->gm, c);
	r.data_out = c->write_len - 1;
	if (c->read_len < VIRTIO_BLK_REQ_HDR_SIZE) {
		status = blk_bad(&r, VIRTIO_BLK_S_IOERR, "header shorter than 16 bytes");
	} else if (!blk_limits_ok(d, c)) {
		status = blk_bad(&r, VIRTIO_BLK_S_IOERR, "more than seg_max segments, or one "
			       "above size_max");
	} else if (vq_cursor_read(&r.rd, hdr, sizeof hdr) != sizeof hdr) {
		status = VIRTIO_BLK_S_IOERR; /* the arena refused (reported there) */
	} else {
		/* le32 type, le32 reserved (legacy ioprio: a hint we ignore), le64 sector */
		r.parsed = true;
		r.type = rs_le32(hdr);
		r.sector = rs_le64(hdr + 8);
		r.data_in = c->read_len - VIRTIO_BLK_REQ_HDR_SIZE;
		status = blk_dispatch(&r);
	}
	if (status == VIRTIO_BLK_S_OK)
		b->stats.ok++;
	else if (status == VIRTIO_BLK_S_UNSUPP)
		b->stats.unsupp++;
	else
		b->stats.ioerr++;
	if (gm_write(d->gm, status_gpa, &status, 1) < 0)
		return r.written;
	return r.written + 1;
}

/* Serve every chain the driver made available on queue q. Bounded by the
 * queue size: a driver cannot have more chains outstanding than that, and
 * requests complete before the next pop. */
static void blk_queue_notify(struct vdev *d, unsigned q)
{
	struct vq *vq = &d->queues[q].vq;
	struct vq_chain c;

	for (uint32_t i = 0; i < vq->num; i++) {
		if (vq_pop(vq, &c) <= 0)
			break; /* nothing more, or the ring broke (NEEDS_RESET set) */
		if (vq_push(vq, &c, blk_request(d, &c)) < 0)
			break;
	}
	vdev_queue_interrupt(d, q);
}

/* --- ops ------------------------------------------------------------------------------------ */

/* Free what create() allocated (the core frees d->priv itself). */
static void blk_destroy(struct vdev *d)
{
	struct blk *b = d->priv;

	blk_backend_destroy(b->backend);
	b->backend = NULL;
	free(b->bounce);
	free(b->segs);
	b->bounce = b->segs = NULL;
}

static int blk_create(struct vdev *d, struct vdev_args *args, char *err, size_t errlen)
{
	struct blk *b = d->priv;
	struct blk_params *p = &b->p;
	uint64_t size = 0;
	int r;

	r = blk_parse(args, d->index, p, err, errlen);
	if (r < 0)
		return r;
	if (!d->world) {
		snprintf(err, errlen, "blk: needs a world for its backend (create it in a machine)");
		return -EINVAL;
	}
	r = blk_open_backend(b, !world_serves_io(d->world), err, errlen);
	if (r < 0)
		return r;
	b->backend->dev = d->index;
	blk_backend_unwrap(b->backend)->dev = d->index;
	r = blk_backend_size(d, b->backend, &size);
	if (r < 0) {
		snprintf(err, errlen, "blk: cannot size the image (%s)",
			 r == -EINVAL ? "smaller than one sector" : strerror(-r));
		goto fail;
	}
	if (p->size && p->size > size) {
		snprintf(err, errlen, "blk: size=%llu is larger than the %llu-byte image",
			 (unsigned long long)p->size, (unsigned long long)size);
		r = -EINVAL;
		goto fail;
	}
	b->capacity = p->size ? p->size : RS_MIN(size, BLK_SIZE_LIMIT);
	b->bounce = malloc(BLK_BOUNCE);
	b->segs = malloc((size_t)RS_MAX(p->discard_seg, p->wz_seg) * VIRTIO_BLK_DWZ_SEG_SIZE);
	if (!b->bounce || !b->segs) {
		snprintf(err, errlen, "blk: out of memory");
		r = -ENOMEM;
		goto fail;
	}
	d->nqueues = p->queues;
	if (!p->ro)
		d->model_features &= ~VIRTIO_BIT(VIRTIO_BLK_F_RO);
	if (!p->discard)
		d->model_features &= ~VIRTIO_BIT(VIRTIO_BLK_F_DISCARD);
	if (!p->write_zeroes)
		d->model_features &= ~VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES);
	b->writeback = p->writeback;
	blk_fill_config(d);
	return 0;
fail:
	blk_destroy(d);
	return r;
}

/* Power-on state: the cache mode the options chose, config rebuilt. The
 * image keeps its contents (a disk does not forget on reset). */
static void blk_reset(struct vdev *d)
{
	struct blk *b = d->priv;

	b->writeback = b->p.writeback;
	blk_fill_config(d);
}

/* writeback (1 byte) and capacity (le64). */
static size_t blk_save(const struct vdev *d, uint8_t *buf, size_t cap)
{
	const struct blk *b = d->priv;

	if (cap >= 9) {
		buf[0] = b->writeback;
		rs_st64(buf + 1, b->capacity);
	}
	return 9;
}

/* Every device-type feature the model can offer (virtio-v1.2 5.2.3); create()
 * clears from d->model_features those its options turn off: RO unless ro,
 * DISCARD and WRITE_ZEROES when switched off. Never the legacy BARRIER and
 * SCSI, nor LIFETIME, SECURE_ERASE or ZONED. */
#define BLK_FEATURES                                                                         \
	(VIRTIO_BIT(VIRTIO_BLK_F_SIZE_MAX) | VIRTIO_BIT(VIRTIO_BLK_F_SEG_MAX) |               \
	 VIRTIO_BIT(VIRTIO_BLK_F_GEOMETRY) | VIRTIO_BIT(VIRTIO_BLK_F_RO) |                    \
	 VIRTIO_BIT(VIRTIO_BLK_F_BLK_SIZE) | VIRTIO_BIT(VIRTIO_BLK_F_FLUSH) |                 \
	 VIRTIO_BIT(VIRTIO_BLK_F_TOPOLOGY) | VIRTIO_BIT(VIRTIO_BLK_F_CONFIG_WCE) |            \
	 VIRTIO_BIT(VIRTIO_BLK_F_MQ) | VIRTIO_BIT(VIRTIO_BLK_F_DISCARD) |                     \
	 VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES))

const struct vdev_ops blk_ops = {
	.name = "blk",
	.device_id = VIRTIO_ID_BLOCK,
	.pci_class = 0x0100, /* mass storage, SCSI controller (as QEMU) */
	.num_queues = BLK_MAX_QUEUES,
	.queue_max = BLK_QUEUE_MAX,
	.features = BLK_FEATURES,
	.config_size = VIRTIO_BLK_CFG_SIZE,
	.cfg_fields = blk_cfg_fields,
	.ncfg_fields = RS_ARRAY_SIZE(blk_cfg_fields),
	.priv_size = sizeof(struct blk),
	.create = blk_create,
	.destroy = blk_destroy,
	.config_write = blk_config_write,
	.validate_features = blk_validate_features,
	.driver_ok = blk_driver_ok,
	.queue_notify = blk_queue_notify,
	.reset = blk_reset,
	.save = blk_save,
};

/* --- host-side API (ringside/blk.h) ---------------------------------------------------------- */

bool blk_is(const struct vdev *d)
{
	return d && d->ops && d->ops->queue_notify == blk_queue_notify;
}

struct world_backend *blk_backend(struct vdev *d)
{
	return blk_is(d) ? ((struct blk *)d->priv)->backend : NULL;
}

const struct blk_stats *blk_get_stats(const struct vdev *d)
{
	return blk_is(d) ? &((const struct blk *)d->priv)->stats : NULL;
}

int blk_attach_backend(struct vdev *d, struct world_backend *be)
{
	struct blk *b;
	uint64_t size = 0;
	int r;

	if (!blk_is(d) || !be)
		return -EINVAL;
	b = d->priv;
	be->dev = d->index;
	blk_backend_unwrap(be)->dev = d->index;
	r = blk_backend_size(d, be, &size);
	if (r < 0)
		return r;
	blk_backend_destroy(b->backend);
	b->backend = be;
	b->capacity = RS_MIN(size, BLK_SIZE_LIMIT);
	blk_fill_config(d);
	/* 5.2.6.2: a capacity change SHOULD be signalled */
	vdev_config_changed(d);
	return 0;
}
