/*
 * ringside — "balloon", the traditional virtio memory balloon (virtio-v1.2
 * 5.5, device ID 5): inflate and deflate queues carrying arrays of 4 KiB page
 * frame numbers, a statistics queue, free page hinting, page poison.
 *
 * Inflated pages are discarded through the guest-memory arena (gm_discard:
 * they read as zero afterwards) and tracked in a bitmap over the arena's RAM
 * pages. Host requests arrive through the world: WEV_BALLOON_TARGET (arg: the
 * new num_pages) and WEV_HOST with one of the BALLOON_HOST_* args below. The
 * host reads the outcome with balloon_status() / balloon_stat(). See
 * docs/devices/balloon.md.
 */
#ifndef RINGSIDE_BALLOON_H
#define RINGSIDE_BALLOON_H

#include "ringside/base.h"

struct vdev;

/* Feature bits (virtio-v1.2 5.5.3). PAGE_REPORTING (5) is not offered. */
#define VIRTIO_BALLOON_F_MUST_TELL_HOST 0 /* tell the host before using deflated pages */
#define VIRTIO_BALLOON_F_STATS_VQ 1       /* statistics queue present */
#define VIRTIO_BALLOON_F_DEFLATE_ON_OOM 2 /* the guest may deflate on OOM */
#define VIRTIO_BALLOON_F_FREE_PAGE_HINT 3 /* free page hinting queue, cmd id config */
#define VIRTIO_BALLOON_F_PAGE_POISON 4    /* poison_val config */

/* Device config layout (virtio-v1.2 5.5.4; little-endian also on the legacy
 * interface). */
#define BALLOON_CFG_NUM_PAGES 0      /* le32 ro: the host's target, in 4 KiB pages */
#define BALLOON_CFG_ACTUAL 4         /* le32 rw: pages the driver has in the balloon */
#define BALLOON_CFG_HINT_CMD_ID 8    /* le32 ro: free_page_hint_cmd_id */
#define BALLOON_CFG_POISON_VAL 12    /* le32 rw: poison_val */
#define BALLOON_CFG_SIZE 16

#define VIRTIO_BALLOON_PFN_SHIFT 12  /* PFNs count 4 KiB pages whatever the guest's page size */
#define VIRTIO_BALLOON_CMD_ID_STOP 0 /* free page hinting: stop, keep hinted pages */
#define VIRTIO_BALLOON_CMD_ID_DONE 1 /* free page hinting: done, release hinted pages */

/* Memory statistics tags (virtio-v1.2 5.5.6.3; 10..15 as Linux defines them). */
enum balloon_stat_tag {
	VIRTIO_BALLOON_S_SWAP_IN = 0,
	VIRTIO_BALLOON_S_SWAP_OUT = 1,
	VIRTIO_BALLOON_S_MAJFLT = 2,
	VIRTIO_BALLOON_S_MINFLT = 3,
	VIRTIO_BALLOON_S_MEMFREE = 4,
	VIRTIO_BALLOON_S_MEMTOT = 5,
	VIRTIO_BALLOON_S_AVAIL = 6,
	VIRTIO_BALLOON_S_CACHES = 7,
	VIRTIO_BALLOON_S_HTLB_PGALLOC = 8,
	VIRTIO_BALLOON_S_HTLB_PGFAIL = 9,
	VIRTIO_BALLOON_S_OOM_KILL = 10,
	VIRTIO_BALLOON_S_ALLOC_STALL = 11,
	VIRTIO_BALLOON_S_ASYNC_SCAN = 12,
	VIRTIO_BALLOON_S_DIRECT_SCAN = 13,
	VIRTIO_BALLOON_S_ASYNC_RECLAIM = 14,
	VIRTIO_BALLOON_S_DIRECT_RECLAIM = 15,
};
#define BALLOON_S_NR 16
#define BALLOON_STAT_SIZE 10 /* packed { le16 tag; le64 val; } */

/*
 * Queue roles. Queues that exist are numbered in this order, a queue whose
 * feature was not negotiated taking no index (as Linux numbers them; with
 * every feature negotiated this is the spec's 0 inflateq, 1 deflateq, 2
 * statsq, 3 free_page_vq). The device always exposes BALLOON_NUM_QUEUES
 * queues; the roles follow the negotiated features.
 */
enum balloon_queue {
	BALLOON_VQ_INFLATE = 0,
	BALLOON_VQ_DEFLATE = 1,
	BALLOON_VQ_STATS = 2,
	BALLOON_VQ_FREE_PAGE = 3,
};
#define BALLOON_NUM_QUEUES 4
#define BALLOON_QUEUE_MAX 128

/* Queue index of role under features (only the balloon bits matter), or -1
 * when that queue does not exist (its feature is not in features, or role is
 * not a role). */
int balloon_queue_index(uint64_t features, enum balloon_queue role);

/* WEV_HOST args for a balloon device. */
#define BALLOON_HOST_STATS_REQUEST 1 /* return the held stats buffer: ask for fresh stats */
#define BALLOON_HOST_HINT_START 2    /* start a hinting round: a new free_page_hint_cmd_id */
#define BALLOON_HOST_HINT_STOP 3     /* free_page_hint_cmd_id = STOP */
#define BALLOON_HOST_HINT_DONE 4     /* free_page_hint_cmd_id = DONE */

/* Limits on what one chain may ask for (more is reported and skipped). */
#define BALLOON_MAX_PFNS 4096   /* entries per inflate/deflate chain (Linux sends 256) */
#define BALLOON_MAX_STATS 64    /* entries per stats buffer */

/* First command ID of the hinting rounds (ids then count up, never 0 or 1). */
#define BALLOON_HINT_FIRST_ID 2

struct balloon_status {
	uint32_t num_pages;       /* target (host-owned, kept across device reset) */
	uint32_t actual;          /* as the driver last wrote it */
	uint32_t poison_val;      /* as the driver wrote it (PAGE_POISON) */
	uint32_t hint_cmd_id;     /* free_page_hint_cmd_id now */
	uint32_t hint_driver_id;  /* last command ID the driver sent (STOP: round over) */
	uint64_t inflated;        /* pages in the balloon now, as the device counts */
	/* totals since the last device reset */
	uint64_t pages_inflated;  /* PFN entries taken into the balloon */
	uint64_t pages_deflated;  /* PFN entries taken out */
	uint64_t bad_entries;     /* PFN entries skipped (range, duplicate, beyond limit) */
	uint64_t hinted_pages;    /* pages discarded by free page hints */
	uint64_t hint_ignored;    /* hinted pages ignored (stale or no command ID) */
	uint64_t stats_updates;   /* stats buffers consumed */
	uint64_t stats_requests;  /* host requests that returned the held buffer */
	uint64_t stats_missed;    /* host requests with no buffer held */
	bool stats_held;          /* a stats buffer is held, a request can be made */
	uint32_t stats_valid;     /* bit per tag that has a value */
	uint64_t stats[BALLOON_S_NR];
};

/* Copy d's balloon state into *out. 0, or -EINVAL when d is not a balloon. */
int balloon_status(const struct vdev *d, struct balloon_status *out);

/* Latest value of a statistic. 0, -ENOENT (the driver never sent that tag
 * since the last reset), -EINVAL (not a balloon, tag >= BALLOON_S_NR). */
int balloon_stat(const struct vdev *d, unsigned tag, uint64_t *val);

/* True when the 4 KiB page pfn is in the balloon. */
bool balloon_page_inflated(const struct vdev *d, uint64_t pfn);

#endif
