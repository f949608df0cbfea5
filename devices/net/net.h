/*
 * ringside — virtio network device (virtio-v1.2 5.1), private declarations
 * shared by the model (net.c), its control queue (ctrl.c), its backends
 * (backend_*.c) and its tests.
 *
 * Queues: receiveq1, transmitq1, ..., receiveqN, transmitqN, controlq
 * (virtio-v1.2 5.1.2). The control queue sits at 2 * max_virtqueue_pairs
 * when VIRTIO_NET_F_MQ is negotiated and at 2 otherwise.
 *
 * Backends are struct world_backend and are only ever driven through
 * world_io(). For the net backends WIO_SEND carries one Ethernet frame:
 *   packet backends (loop, slirp): req->off is the queue pair the frame was
 *     sent on (loopback returns it on the same pair);
 *   capture backend (pcap): req->off is the record time stamp in ns since
 *     the Unix epoch, taken by the device from world_clock_ns(REALTIME), so
 *     a replay writes the same file.
 * Received frames enter as WEV_NET_RX events (port: queue pair hint).
 */
#ifndef RINGSIDE_DEVICES_NET_H
#define RINGSIDE_DEVICES_NET_H

#include "ringside/vdev.h"
#include "ringside/world.h"

/* Feature bits, virtio-v1.2 5.1.3 */
#define VIRTIO_NET_F_CSUM 0
#define VIRTIO_NET_F_GUEST_CSUM 1
#define VIRTIO_NET_F_CTRL_GUEST_OFFLOADS 2
#define VIRTIO_NET_F_MTU 3
#define VIRTIO_NET_F_MAC 5
#define VIRTIO_NET_F_MRG_RXBUF 15
#define VIRTIO_NET_F_STATUS 16
#define VIRTIO_NET_F_CTRL_VQ 17
#define VIRTIO_NET_F_CTRL_RX 18
#define VIRTIO_NET_F_CTRL_VLAN 19
#define VIRTIO_NET_F_CTRL_RX_EXTRA 20
#define VIRTIO_NET_F_GUEST_ANNOUNCE 21
#define VIRTIO_NET_F_MQ 22
#define VIRTIO_NET_F_CTRL_MAC_ADDR 23

/* Config layout, virtio-v1.2 5.1.4 (struct virtio_net_config up to mtu) */
#define NET_CFG_MAC 0
#define NET_CFG_STATUS 6
#define NET_CFG_MAX_PAIRS 8
#define NET_CFG_MTU 10
#define NET_CFG_SIZE 12
#define VIRTIO_NET_S_LINK_UP 1
#define VIRTIO_NET_S_ANNOUNCE 2

/* struct virtio_net_hdr, virtio-v1.2 5.1.6 */
#define VIRTIO_NET_HDR_F_NEEDS_CSUM 1
#define VIRTIO_NET_HDR_F_DATA_VALID 2
#define VIRTIO_NET_HDR_F_RSC_INFO 4
#define VIRTIO_NET_HDR_GSO_NONE 0
#define NET_HDR_LEN 12          /* 1.x, or legacy with MRG_RXBUF (num_buffers) */
#define NET_HDR_LEN_LEGACY 10   /* legacy without MRG_RXBUF (5.1.6.1) */
#define NET_HDR_NUM_BUFFERS 10  /* offset of num_buffers */

/* Control queue, virtio-v1.2 5.1.6.5 */
#define VIRTIO_NET_OK 0
#define VIRTIO_NET_ERR 1
#define VIRTIO_NET_CTRL_RX 0
#define VIRTIO_NET_CTRL_RX_PROMISC 0
#define VIRTIO_NET_CTRL_RX_ALLMULTI 1
#define VIRTIO_NET_CTRL_RX_ALLUNI 2
#define VIRTIO_NET_CTRL_RX_NOMULTI 3
#define VIRTIO_NET_CTRL_RX_NOUNI 4
#define VIRTIO_NET_CTRL_RX_NOBCAST 5
#define VIRTIO_NET_CTRL_MAC 1
#define VIRTIO_NET_CTRL_MAC_TABLE_SET 0
#define VIRTIO_NET_CTRL_MAC_ADDR_SET 1
#define VIRTIO_NET_CTRL_VLAN 2
#define VIRTIO_NET_CTRL_VLAN_ADD 0
#define VIRTIO_NET_CTRL_VLAN_DEL 1
#define VIRTIO_NET_CTRL_ANNOUNCE 3
#define VIRTIO_NET_CTRL_MQ 4
#define VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET 0
#define VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MIN 1
#define VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MAX 0x8000
#define VIRTIO_NET_CTRL_GUEST_OFFLOADS 5

/* Ethernet */
#define NET_ETH_ALEN 6
#define NET_ETH_HLEN 14
#define NET_ETH_P_8021Q 0x8100
#define NET_VLAN_HLEN 4
#define NET_VLAN_COUNT 4096

/* ringside's limits (docs/devices/net.md) */
#define NET_MAX_PAIRS 8              /* queues=1..8 */
#define NET_QUEUE_MAX 256            /* largest queue offered */
#define NET_FRAME_MIN 60             /* runts are padded to this on tx */
#define NET_FRAME_MAX WORLD_EVENT_MAX_DATA /* largest frame either way */
#define NET_DEFAULT_MTU 1500
#define NET_MAC_TABLE_MAX 64         /* entries per MAC_TABLE_SET table */
#define NET_RX_QUEUE_FRAMES 256      /* received frames waiting for rx buffers... */
#define NET_RX_QUEUE_BYTES (1u << 20) /* ...and their bytes, per device */
#define NET_PCAP_SNAPLEN NET_FRAME_MAX

/* WEV_HOST events for a net device: arg says what the host did. */
enum net_host_event {
	NET_HOST_LINK_DOWN = 0, /* cable pulled: status LINK_UP clear, config change */
	NET_HOST_LINK_UP = 1,   /* cable back */
};

/* Counters (never reset by a device reset; the tests read them). */
struct net_stats {
	uint64_t tx_frames;        /* frames handed to the backends */
	uint64_t tx_bytes;
	uint64_t tx_padded;        /* runts padded to NET_FRAME_MIN */
	uint64_t tx_malformed;     /* dropped: bad header, direction, length, flags */
	uint64_t tx_oversize;      /* dropped: above NET_FRAME_MAX or mtu */
	uint64_t tx_link_down;     /* dropped: link down */
	uint64_t tx_backend_err;   /* a backend refused the frame */
	uint64_t rx_frames;        /* frames placed in rx buffers */
	uint64_t rx_bytes;
	uint64_t rx_filtered;      /* dropped by the rx filter */
	uint64_t rx_not_ready;     /* dropped: driver not up, queue not enabled, link down */
	uint64_t rx_oversize;      /* dropped: above mtu (MTU negotiated) */
	uint64_t rx_runt;          /* dropped: shorter than an Ethernet header */
	uint64_t rx_queue_full;    /* dropped: too many frames waiting for buffers */
	uint64_t rx_too_small;     /* dropped: rx buffers cannot hold the frame */
	uint64_t rx_bad_buffer;    /* rx buffers returned unused (malformed) */
	uint64_t rx_pair_dropped;  /* waiting frames dropped when their pair was disabled */
	uint64_t ctrl_ok, ctrl_err;
	uint64_t captured;         /* frames written to the capture backend */
};

/* A received frame waiting for rx buffers. */
struct net_frame {
	struct net_frame *next;
	uint32_t len;
	uint8_t data[];
};

/* One receiveq/transmitq pair. */
struct net_pair {
	struct net_frame *head, *tail; /* FIFO of frames waiting for rx buffers */
	unsigned nframes;
	/* MRG_RXBUF: rx chains popped for the frame at the head, kept until
	 * they hold it (virtio-v1.2 5.1.6.4: a frame spans num_buffers). */
	struct vq_chain *held;         /* NET_QUEUE_MAX entries, allocated on first use */
	unsigned nheld;
	uint64_t held_space;           /* sum of their writable lengths */
	uint64_t popped_at;            /* rx vq stats.popped after our last pop: a
					* different value means the queue was reset */
};

struct net {
	/* addresses */
	uint8_t perm_mac[NET_ETH_ALEN]; /* option / default: restored by reset */
	uint8_t mac[NET_ETH_ALEN];      /* current (MAC_ADDR_SET, legacy config writes) */
	bool link_up;                   /* host side: survives reset */
	bool link_up0;                  /* link= at create (host_reset) */
	uint16_t mtu;
	unsigned max_pairs;             /* queues= */
	unsigned active_pairs;          /* VQ_PAIRS_SET; 1 after reset */
	/* rx filter (virtio-v1.2 5.1.6.5.1, 5.1.6.5.2, 5.1.6.5.3) */
	bool promisc, allmulti, alluni, nomulti, nouni, nobcast;
	bool uni_overflow, multi_overflow; /* table too big: accept all of the kind */
	unsigned nuni, nmulti;
	uint8_t uni[NET_MAC_TABLE_MAX][NET_ETH_ALEN];
	uint8_t multi[NET_MAC_TABLE_MAX][NET_ETH_ALEN];
	uint64_t vlans[NET_VLAN_COUNT / 64];
	/* rx */
	struct net_pair pair[NET_MAX_PAIRS];
	unsigned queued_frames;
	size_t queued_bytes;
	uint8_t *rxcopy;                /* NET_FRAME_MAX: event data copied before capture */
	/* tx */
	uint8_t *txbuf;                 /* NET_FRAME_MAX */
	/* backends */
	struct world_backend *out;      /* loop, slirp, or NULL (none) */
	struct world_backend *cap;      /* pcap, or NULL */
	bool out_watched;
	struct net_stats stats;
};

/* net.c */
/* Header size the driver uses: 12 with VERSION_1 or MRG_RXBUF, else 10. */
unsigned net_hdr_len(const struct vdev *d);
/* Index of the control queue under the negotiated features. */
unsigned net_ctrl_queue(const struct vdev *d);
/* Enable pairs [0, n): frames waiting on pairs >= n are dropped. */
void net_set_active_pairs(struct vdev *d, unsigned n);
/* Counters of a net device (d must be a net device). */
const struct net_stats *net_get_stats(const struct vdev *d);
/* Filter decision for a frame of len bytes (len >= NET_ETH_HLEN). */
bool net_rx_accept(const struct vdev *d, const uint8_t *frame, uint32_t len);

/* ctrl.c: serve the control queue q. */
void net_ctrl_notify(struct vdev *d, unsigned q);
/* ctrl.c: clear the filters (reset). */
void net_ctrl_reset(struct net *n);

/* backend_loop.c: every WIO_SEND frame comes back as a WEV_NET_RX event for
 * device dev on the same pair. NULL on allocation failure. */
struct world_backend *net_loop_new(struct world *w, unsigned dev);

/* backend_pcap.c: append every WIO_SEND frame to a classic pcap file at
 * path, created (or truncated) with its global header now when open_now,
 * else at the first frame. NULL with a one-line message in err when the
 * file cannot be created or the path is unusable. */
struct world_backend *net_pcap_new(const char *path, unsigned dev, bool open_now, char *err,
				   size_t errlen);

/* backend_slirp.c: libslirp user-mode network (10.0.2.0/24, host 10.0.2.2,
 * DNS 10.0.2.3, guest 10.0.2.15 by DHCP). hostfwd may be NULL or
 * "tcp|udp:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT" (host address default
 * 127.0.0.1). NULL with a message in err when slirp is not built in or
 * cannot start. */
struct world_backend *net_slirp_new(struct world *w, unsigned dev, const char *hostfwd, char *err,
				    size_t errlen);
/* True when the slirp backend is built in. */
bool net_slirp_available(void);

#endif
