/*
 * ringside — the virtio block device "blk" (virtio-v1.2 5.2): wire format
 * constants shared by the device model, tests, fuzz dictionaries and
 * drivers, and the small host-side API of the device and its backends.
 *
 * Backends are struct world_backend objects (ringside/world.h). The device
 * reaches them only through world_io(), so a record, replay or fuzz world
 * can stand in for them. Three are provided:
 *   mem    an in-memory image: a shared read-only base (zeroes, or a file
 *          mapped read-only) plus a per-instance copy-on-write overlay of
 *          4 KiB blocks; blk_mem_overlay_reset() returns it to the base at a
 *          cost proportional to the blocks written;
 *   file   a raw image file (pread/pwrite, fdatasync on flush, punch-hole
 *          or zero-range for discard / write-zeroes), optionally read-only;
 *   fault  a wrapper around any backend that fails chosen I/Os with -EIO.
 * Options and behaviour: docs/devices/blk.md.
 */
#ifndef RINGSIDE_BLK_H
#define RINGSIDE_BLK_H

#include "ringside/base.h"
#include "ringside/world.h"

struct vdev;

/* Feature bits, virtio-v1.2 5.2.3 */
#define VIRTIO_BLK_F_BARRIER 0       /* legacy: request barriers (never offered) */
#define VIRTIO_BLK_F_SIZE_MAX 1
#define VIRTIO_BLK_F_SEG_MAX 2
#define VIRTIO_BLK_F_GEOMETRY 4
#define VIRTIO_BLK_F_RO 5
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_SCSI 7          /* legacy: SCSI packet commands (never offered) */
#define VIRTIO_BLK_F_FLUSH 9         /* legacy name: VIRTIO_BLK_F_WCE */
#define VIRTIO_BLK_F_TOPOLOGY 10
#define VIRTIO_BLK_F_CONFIG_WCE 11
#define VIRTIO_BLK_F_MQ 12
#define VIRTIO_BLK_F_DISCARD 13
#define VIRTIO_BLK_F_WRITE_ZEROES 14
#define VIRTIO_BLK_F_LIFETIME 15
#define VIRTIO_BLK_F_SECURE_ERASE 16
#define VIRTIO_BLK_F_ZONED 17

/* Request types, virtio-v1.2 5.2.6 (and its legacy subsection) */
#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_SCSI_CMD 2      /* legacy */
#define VIRTIO_BLK_T_SCSI_CMD_OUT 3  /* legacy */
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_T_FLUSH_OUT 5     /* legacy synonym of FLUSH */
#define VIRTIO_BLK_T_GET_ID 8
#define VIRTIO_BLK_T_GET_LIFETIME 10
#define VIRTIO_BLK_T_DISCARD 11
#define VIRTIO_BLK_T_WRITE_ZEROES 13
#define VIRTIO_BLK_T_SECURE_ERASE 14
#define VIRTIO_BLK_T_BARRIER 0x80000000u /* legacy flag in type */

/* Status byte, the last device-writable byte of a request */
#define VIRTIO_BLK_S_OK 0
#define VIRTIO_BLK_S_IOERR 1
#define VIRTIO_BLK_S_UNSUPP 2

#define VIRTIO_BLK_SECTOR_SIZE 512u
#define VIRTIO_BLK_SECTOR_SHIFT 9
#define VIRTIO_BLK_ID_BYTES 20       /* GET_ID: NUL-padded ASCII, no NUL when 20 long */
/* struct virtio_blk_req header: le32 type, le32 reserved (legacy: ioprio), le64 sector */
#define VIRTIO_BLK_REQ_HDR_SIZE 16
/* struct virtio_blk_discard_write_zeroes: le64 sector, le32 num_sectors, le32 flags */
#define VIRTIO_BLK_DWZ_SEG_SIZE 16
#define VIRTIO_BLK_DWZ_F_UNMAP 1u

/* struct virtio_blk_config offsets (virtio-v1.2 5.2.4), little-endian */
#define VIRTIO_BLK_CFG_CAPACITY 0                 /* le64, 512-byte sectors */
#define VIRTIO_BLK_CFG_SIZE_MAX 8                 /* le32 */
#define VIRTIO_BLK_CFG_SEG_MAX 12                 /* le32 */
#define VIRTIO_BLK_CFG_CYLINDERS 16               /* le16 */
#define VIRTIO_BLK_CFG_HEADS 18                   /* u8 */
#define VIRTIO_BLK_CFG_SECTORS 19                 /* u8 */
#define VIRTIO_BLK_CFG_BLK_SIZE 20                /* le32 */
#define VIRTIO_BLK_CFG_PHYSICAL_BLOCK_EXP 24      /* u8 */
#define VIRTIO_BLK_CFG_ALIGNMENT_OFFSET 25        /* u8 */
#define VIRTIO_BLK_CFG_MIN_IO_SIZE 26             /* le16, blocks */
#define VIRTIO_BLK_CFG_OPT_IO_SIZE 28             /* le32, blocks */
#define VIRTIO_BLK_CFG_WRITEBACK 32               /* u8, writable with CONFIG_WCE */
#define VIRTIO_BLK_CFG_UNUSED0 33                 /* u8 */
#define VIRTIO_BLK_CFG_NUM_QUEUES 34              /* le16 */
#define VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS 36     /* le32 */
#define VIRTIO_BLK_CFG_MAX_DISCARD_SEG 40         /* le32 */
#define VIRTIO_BLK_CFG_DISCARD_SECTOR_ALIGNMENT 44 /* le32 */
#define VIRTIO_BLK_CFG_MAX_WRITE_ZEROES_SECTORS 48 /* le32 */
#define VIRTIO_BLK_CFG_MAX_WRITE_ZEROES_SEG 52    /* le32 */
#define VIRTIO_BLK_CFG_WRITE_ZEROES_MAY_UNMAP 56  /* u8 */
#define VIRTIO_BLK_CFG_UNUSED1 57                 /* u8[3] */
#define VIRTIO_BLK_CFG_SIZE 60                    /* config bytes this device exposes */

/* ringside's model */
#define BLK_MAX_QUEUES 16     /* queues= at most this */
#define BLK_QUEUE_MAX 256     /* largest queue size offered */
#define BLK_MEM_BLOCK 4096u   /* COW overlay granule */

/* ---- backends ---------------------------------------------------------------------------- */

/* A read-only base image shared by any number of mem backends. */
struct blk_mem_base;

/*
 * Create a base of size bytes (a multiple of 512, > 0). path NULL: all
 * zeroes (no memory used). Otherwise the first size bytes of the file at
 * path, mapped read-only (size 0: the whole file, rounded down to 512; the
 * file must not change while mapped). Returns 0 with *out (one reference),
 * or -errno with one line in err.
 */
int blk_mem_base_new(const char *path, uint64_t size, struct blk_mem_base **out, char *err,
		     size_t errlen);
/* Take / drop a reference; the last put unmaps. NULL is fine for put. */
struct blk_mem_base *blk_mem_base_get(struct blk_mem_base *base);
void blk_mem_base_put(struct blk_mem_base *base);
uint64_t blk_mem_base_size(const struct blk_mem_base *base);

/*
 * A mem backend over base (takes its own reference) with an empty overlay.
 * Its size is the base's. Discard and write-zeroes leave zeroes. Returns 0
 * with *out or -ENOMEM.
 */
int blk_mem_new(struct blk_mem_base *base, struct world_backend **out);

/* Forget every block written since creation or the last reset, so the image
 * reads as its base again. Cost is proportional to the blocks in the overlay.
 * b may also be a fault wrapper around a mem backend (and its counters are
 * then reset too). Returns 0, or -EINVAL when b holds no mem backend. */
int blk_mem_overlay_reset(struct world_backend *b);
/* Blocks in the overlay (written or zeroed), or 0 for a backend that is not
 * a mem backend. */
uint64_t blk_mem_overlay_blocks(const struct world_backend *b);

/*
 * A raw image file: pread/pwrite, fdatasync on FLUSH, fallocate punch-hole
 * (DISCARD) or zero-range (WRITE_ZEROES) with a fallback that writes
 * zeroes. ro opens O_RDONLY and fails writes with -EROFS. path must be a
 * regular file or a block device. Returns 0 with *out, or -errno with one
 * line in err.
 */
int blk_file_new(const char *path, bool ro, struct world_backend **out, char *err,
		 size_t errlen);

/*
 * Stand-in for the image at path in a world that answers every request
 * itself (world_serves_io: a replay from the trace): nothing is opened; the backend only names the image and
 * answers every request it still gets with -ENXIO. Returns 0 with *out, or
 * -ENOMEM with one line in err.
 */
int blk_proxy_new(const char *path, struct world_backend **out, char *err, size_t errlen);

/*
 * Fault injection around inner (which the wrapper then owns). spec lists
 * rules separated by '+' (or ','): OP:WHICH, OP one of read, write, flush,
 * discard, write-zeroes, size or any (every call but size), WHICH "*" (all),
 * "N" (the N-th call of that op, from 1), "N-M" or "N-" (from N on). A
 * matching call fails with -EIO without reaching inner; every call counts.
 * Example: "read:3+write:5-7+flush:*". Returns 0 with *out, or -EINVAL
 * with one line in err (inner is then still the caller's), -ENOMEM.
 */
int blk_fault_new(struct world_backend *inner, const char *spec, struct world_backend **out,
		  char *err, size_t errlen);
/* Restart the call counters (and the injected count) of a fault wrapper;
 * a no-op for other backends. */
void blk_fault_reset(struct world_backend *b);
/* Calls a fault wrapper has failed so far (0 for other backends). */
uint64_t blk_fault_injected(const struct world_backend *b);
/* The backend a fault wrapper wraps, or b itself for any other backend. */
struct world_backend *blk_backend_unwrap(struct world_backend *b);

/* Destroy a backend (NULL is fine). */
void blk_backend_destroy(struct world_backend *b);

/* ---- the device ---------------------------------------------------------------------------- */

struct blk_stats {
	uint64_t requests;       /* chains completed */
	uint64_t ok, ioerr, unsupp;
	uint64_t no_status;      /* chains without a writable status byte (used len 0) */
	uint64_t malformed;      /* requests refused for their shape or range */
	uint64_t backend_errors; /* backend calls that failed */
	uint64_t read_bytes, write_bytes;
	uint64_t flushes;        /* backend flushes issued (FLUSH and write-through) */
	uint64_t discards, write_zeroes; /* segments executed */
};

/* True when d is a blk device. */
bool blk_is(const struct vdev *d);
/* The device's backend (possibly a fault wrapper), NULL if d is not blk. */
struct world_backend *blk_backend(struct vdev *d);
/* Counters since creation (kept over resets), NULL if d is not blk. */
const struct blk_stats *blk_get_stats(const struct vdev *d);

/*
 * Replace the backend of d (the device owns b from then on and destroys
 * the old one): the capacity is re-read through the world (WIO_SIZE) and a
 * config change is signalled. Returns 0, -EINVAL (d not blk, size not
 * usable; b stays the caller's) or the backend's size error.
 */
int blk_attach_backend(struct vdev *d, struct world_backend *b);

#endif
