/*
 * ringside — virtio network device "net" (virtio-v1.2 5.1).
 *
 * Shape (as every device here): ops table, config layout, request handling
 * (tx and rx here, the control queue in ctrl.c), backends (backend_*.c,
 * reached only through world_io()), tests in tests/test_net.c, options and
 * decisions in docs/devices/net.md.
 *
 * Transmit: a tx chain is the virtio-net header and one Ethernet frame, all
 * device-readable. The header is checked (no checksum or segmentation
 * offload is offered, so NEEDS_CSUM and any gso_type but NONE are driver
 * errors), runts are padded to 60 bytes, frames above the limit are dropped,
 * and the frame goes to the capture backend (pcap=) and the packet backend
 * (loop, slirp; none drops it). Every tx chain completes with used length 0.
 *
 * Receive: frames arrive as WEV_NET_RX host events. Each passes the rx
 * filter (promiscuous and the other rx modes, own MAC, MAC tables,
 * broadcast, multicast, VLAN table; as Plan 9 vmx filters in its device) and
 * the MTU check, then goes into the receiveq of its pair: one buffer per
 * frame, or with VIRTIO_NET_F_MRG_RXBUF as many as it needs (num_buffers).
 * Frames that find no buffers wait in a bounded FIFO per pair and are
 * placed when the driver adds buffers (rx queue notify). The guest is
 * hostile: every buffer is checked, every loop is bounded by the queue
 * size, a malformed buffer is a diagnostic and a defined outcome.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringside/vdev.h"
#include "../devices.h"
#include "net.h"

/* --- config layout --------------------------------------------------------------------- */

/* mac is six byte fields (drivers read it byte by byte); writable only on
 * the legacy interface (virtio-v1.2 5.1.4.3), which net_config_write
 * enforces. status, max_virtqueue_pairs and mtu are read-only. */
static const struct vdev_cfg_field net_cfg_fields[] = {
	{ NET_CFG_MAC + 0, 1, 1 },
	{ NET_CFG_MAC + 1, 1, 1 },
	{ NET_CFG_MAC + 2, 1, 1 },
	{ NET_CFG_MAC + 3, 1, 1 },
	{ NET_CFG_MAC + 4, 1, 1 },
	{ NET_CFG_MAC + 5, 1, 1 },
	{ NET_CFG_STATUS, 2, 0 },
	{ NET_CFG_MAX_PAIRS, 2, 0 },
	{ NET_CFG_MTU, 2, 0 },
};

/* Fill the whole config space from the device state. */
static void net_fill_config(struct vdev *d)
{
	struct net *n = d->priv;

	memcpy(d->config + NET_CFG_MAC, n->mac, NET_ETH_ALEN);
	rs_st16(d->config + NET_CFG_STATUS, n->link_up ? VIRTIO_NET_S_LINK_UP : 0);
	rs_st16(d->config + NET_CFG_MAX_PAIRS, (uint16_t)n->max_pairs);
	rs_st16(d->config + NET_CFG_MTU, n->mtu);
}

/* A mac byte was written (already stored in d->config; the mac bytes are
 * the only writable fields). Legacy drivers may set the MAC this way
 * (virtio-v1.2 5.1.4.3); on the 1.x interface every field is read-only
 * (5.1.4.2): the byte is put back and reported. */
static void net_config_write(struct vdev *d, uint32_t off, uint32_t len)
{
	struct net *n = d->priv;

	if (d->legacy) {
		n->mac[off - NET_CFG_MAC] = d->config[off];
		return;
	}
	d->config[off] = n->mac[off - NET_CFG_MAC];
	diag_report(&d->log, DIAG_CONFIG_READONLY,
		    "mac byte %u written on the 1.x interface (read-only there, "
		    "virtio-v1.2 5.1.4.2); ignored", off);
}

/* --- features ---------------------------------------------------------------------------- */

/* Features that need the control queue (virtio-v1.2 5.1.3.1). */
static const unsigned net_ctrl_features[] = {
	VIRTIO_NET_F_CTRL_RX, VIRTIO_NET_F_CTRL_VLAN, VIRTIO_NET_F_CTRL_RX_EXTRA,
	VIRTIO_NET_F_MQ, VIRTIO_NET_F_CTRL_MAC_ADDR,
};

static const char *net_feature_name(unsigned bit)
{
	switch (bit) {
	case VIRTIO_NET_F_CTRL_RX: return "CTRL_RX";
	case VIRTIO_NET_F_CTRL_VLAN: return "CTRL_VLAN";
	case VIRTIO_NET_F_CTRL_RX_EXTRA: return "CTRL_RX_EXTRA";
	case VIRTIO_NET_F_MQ: return "MQ";
	default: return "CTRL_MAC_ADDR";
	}
}

/* 1.x FEATURES_OK: every control feature needs CTRL_VQ (virtio-v1.2
 * 5.1.3.1). Legacy drivers are not validated; net_has() covers them. */
static int net_validate_features(struct vdev *d, uint64_t f)
{
	if (f & VIRTIO_BIT(VIRTIO_NET_F_CTRL_VQ))
		return 0;
	for (unsigned i = 0; i < RS_ARRAY_SIZE(net_ctrl_features); i++) {
		if (f & VIRTIO_BIT(net_ctrl_features[i])) {
			diag_report(&d->log, DIAG_FEATURES_INVALID,
				    "VIRTIO_NET_F_%s without VIRTIO_NET_F_CTRL_VQ "
				    "(virtio-v1.2 5.1.3.1); FEATURES_OK refused",
				    net_feature_name(net_ctrl_features[i]));
			return -EINVAL;
		}
	}
	return 0;
}

/* A control feature (net_ctrl_features) negotiated and usable: only
 * together with CTRL_VQ (a legacy driver may accept one without it). */
static bool net_has(const struct vdev *d, unsigned bit)
{
	return vdev_has(d, bit) && vdev_has(d, VIRTIO_NET_F_CTRL_VQ);
}

unsigned net_hdr_len(const struct vdev *d)
{
	/* virtio-v1.2 5.1.6.1: the legacy header has num_buffers only with
	 * MRG_RXBUF; the 1.x header always has it. */
	if (vdev_has(d, VIRTIO_F_VERSION_1) || vdev_has(d, VIRTIO_NET_F_MRG_RXBUF))
		return NET_HDR_LEN;
	return NET_HDR_LEN_LEGACY;
}

unsigned net_ctrl_queue(const struct vdev *d)
{
	const struct net *n = d->priv;

	/* virtio-v1.2 5.1.2: controlq is queue 2N, N = max_virtqueue_pairs
	 * with MQ, else 1. */
	return net_has(d, VIRTIO_NET_F_MQ) ? 2 * n->max_pairs : 2;
}

const struct net_stats *net_get_stats(const struct vdev *d)
{
	const struct net *n = d->priv;

	return &n->stats;
}

/* --- backends ---------------------------------------------------------------------------- */

/* Show frame f to the capture backend, time-stamped by the world's
 * wall clock (an input like any other: a replay gets the same stamps). */
static void net_capture(struct vdev *d, const uint8_t *f, uint32_t len)
{
	struct net *n = d->priv;
	struct world_io io = {
		.op = WIO_SEND,
		.dev = d->index,
		.off = world_clock_ns(d->world, WORLD_CLOCK_REALTIME),
		.buf = (void *)(uintptr_t)f, /* SEND only reads it */
		.len = len,
	};
	int64_t r = world_io(d->world, n->cap, &io);

	if (r != (int64_t)len) {
		diag_report(&d->log, DIAG_BACKEND_ERROR,
			    "capture backend %s: frame of %u bytes: %s", n->cap->name, len,
			    r < 0 ? strerror((int)-r) : "short write");
		return;
	}
	n->stats.captured++;
}

/* Hand the len-byte frame in n->txbuf, sent on pair, to the backends. A
 * full event queue (loopback flooded faster than events are polled) is a
 * drop, not an error; anything else is reported. */
static void net_send(struct vdev *d, unsigned pair, uint32_t len)
{
	struct net *n = d->priv;
	struct world_io io = {
		.op = WIO_SEND, .dev = d->index, .off = pair, .buf = n->txbuf, .len = len,
	};
	int64_t r;

	if (n->cap)
		net_capture(d, n->txbuf, len);
	n->stats.tx_frames++;
	n->stats.tx_bytes += len;
	if (!n->out)
		return; /* backend=none */
	r = world_io(d->world, n->out, &io);
	if (r == (int64_t)len)
		return;
	n->stats.tx_backend_err++;
	if (r != -ENOSPC)
		diag_report(&d->log, DIAG_BACKEND_ERROR, "backend %s: frame of %u bytes: %s",
			    n->out->name, len, r < 0 ? strerror((int)-r) : "short write");
}

/* Complete c with len bytes written; on failure (queue broken or gone) the
 * chain is released here. Returns vq_push's result. */
static int net_push(struct vq *vq, struct vq_chain *c, uint32_t len)
{
	int r = vq_push(vq, c, len);

	if (r < 0)
		vq_chain_release(c);
	return r;
}

/* --- transmit ---------------------------------------------------------------------------- */

/* True when the frame carries an 802.1Q tag. */
static bool net_tagged(const uint8_t *f, uint32_t len)
{
	return len >= NET_ETH_HLEN + NET_VLAN_HLEN &&
	       (uint16_t)(f[12] << 8 | f[13]) == NET_ETH_P_8021Q;
}

/* Largest frame the MTU allows (virtio-v1.2 5.1.4.1: mtu plus the
 * Ethernet header, and the 802.1Q tag when the frame has one). */
static uint32_t net_mtu_frame(const struct net *n, const uint8_t *f, uint32_t len)
{
	return (uint32_t)n->mtu + NET_ETH_HLEN + (net_tagged(f, len) ? NET_VLAN_HLEN : 0);
}

/* Check and send the frame of tx chain c (virtio-v1.2 5.1.6.2). Every
 * failure drops the frame (counted, reported); the caller completes the
 * chain either way. */
static void net_tx_one(struct vdev *d, unsigned pair, const struct vq_chain *c)
{
	struct net *n = d->priv;
	const unsigned hlen = net_hdr_len(d);
	uint8_t hdr[NET_HDR_LEN];
	struct vq_cursor cur;
	uint32_t len;

	if (c->write_len) {
		diag_report(&d->log, DIAG_NET_TX,
			    "tx chain %u has %u device-writable bytes (tx buffers are "
			    "device-readable); dropped", c->id, c->write_len);
		goto malformed;
	}
	if (c->read_len < hlen) {
		diag_report(&d->log, DIAG_NET_TX,
			    "tx chain %u: %u bytes, shorter than the %u-byte virtio-net header; "
			    "dropped", c->id, c->read_len, hlen);
		goto malformed;
	}
	vq_cursor_init_read(&cur, d->gm, c);
	if (vq_cursor_read(&cur, hdr, hlen) != hlen)
		goto malformed; /* the arena reported the bad address */
	if (hdr[0] & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
		diag_report(&d->log, DIAG_NET_TX,
			    "tx chain %u: NEEDS_CSUM without VIRTIO_NET_F_CSUM; dropped", c->id);
		goto malformed;
	}
	if (hdr[1] != VIRTIO_NET_HDR_GSO_NONE) {
		diag_report(&d->log, DIAG_NET_TX,
			    "tx chain %u: gso_type %u, but no segmentation offload was "
			    "negotiated; dropped", c->id, hdr[1]);
		goto malformed;
	}
	len = c->read_len - hlen;
	if (len < NET_ETH_HLEN) {
		diag_report(&d->log, DIAG_NET_TX,
			    "tx chain %u: frame of %u bytes, shorter than an Ethernet header; "
			    "dropped", c->id, len);
		goto malformed;
	}
	if (len > NET_FRAME_MAX) {
		diag_report(&d->log, DIAG_NET_TX,
			    "tx chain %u: frame of %u bytes above %u; dropped", c->id, len,
			    NET_FRAME_MAX);
		n->stats.tx_oversize++;
		return;
	}
	if (vq_cursor_read(&cur, n->txbuf, len) != len)
		goto malformed;
	if (vdev_has(d, VIRTIO_NET_F_MTU) && len > net_mtu_frame(n, n->txbuf, len)) {
		diag_report(&d->log, DIAG_NET_TX,
			    "tx chain %u: frame of %u bytes above mtu %u plus header "
			    "(VIRTIO_NET_F_MTU negotiated, 5.1.4.2); dropped", c->id, len, n->mtu);
		n->stats.tx_oversize++;
		return;
	}
	if (!n->link_up) {
		n->stats.tx_link_down++;
		return;
	}
	if (len < NET_FRAME_MIN) {
		/* A runt: pad with zeroes to the Ethernet minimum, as a NIC does. */
		memset(n->txbuf + len, 0, NET_FRAME_MIN - len);
		len = NET_FRAME_MIN;
		n->stats.tx_padded++;
	}
	net_send(d, pair, len);
	return;
malformed:
	n->stats.tx_malformed++;
}

/* Serve transmitq of pair: every available chain is sent and completed
 * with used length 0 (nothing is written to tx buffers). */
static void net_tx(struct vdev *d, unsigned pair)
{
	const unsigned q = 2 * pair + 1;
	struct vq *vq = &d->queues[q].vq;
	struct vq_chain c;

	/* Bounded: every pop consumes an entry the driver made available. */
	while (vq_pop(vq, &c) > 0) {
		net_tx_one(d, pair, &c);
		if (net_push(vq, &c, 0) < 0)
			break;
	}
	vdev_queue_interrupt(d, q);
}

/* --- receive: filter --------------------------------------------------------------------- */

static bool net_mac_eq(const uint8_t *a, const uint8_t *b)
{
	return memcmp(a, b, NET_ETH_ALEN) == 0;
}

static bool net_in_table(const uint8_t (*t)[NET_ETH_ALEN], unsigned nt, const uint8_t *mac)
{
	for (unsigned i = 0; i < nt; i++)
		if (net_mac_eq(t[i], mac))
			return true;
	return false;
}

/* VLAN filter (virtio-v1.2 5.1.6.5.3): only with CTRL_VLAN, and only for
 * tagged frames, whose VID must be in the table. */
static bool net_vlan_pass(const struct vdev *d, const uint8_t *f, uint32_t len)
{
	const struct net *n = d->priv;
	unsigned vid;

	if (!net_has(d, VIRTIO_NET_F_CTRL_VLAN) || !net_tagged(f, len))
		return true;
	vid = (unsigned)(f[14] << 8 | f[15]) & (NET_VLAN_COUNT - 1);
	return (n->vlans[vid / 64] >> (vid % 64)) & 1;
}

/*
 * The rx filter (virtio-v1.2 5.1.6.5.1, 5.1.6.5.2). Promiscuous mode takes
 * every frame. Otherwise: VLAN table; broadcast unless NOBCAST; multicast
 * unless NOMULTI, then with ALLMULTI, a MAC table overflow or a table hit;
 * unicast unless NOUNI, then to our MAC, with ALLUNI, a table overflow or a
 * table hit. Without CTRL_RX the driver cannot program the filter, so all
 * multicast is taken and unicast only to our MAC.
 */
bool net_rx_accept(const struct vdev *d, const uint8_t *f, uint32_t len)
{
	const struct net *n = d->priv;
	const bool ctrl_rx = net_has(d, VIRTIO_NET_F_CTRL_RX);
	static const uint8_t bcast[NET_ETH_ALEN] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

	if (len < NET_ETH_HLEN)
		return false;
	if (n->promisc)
		return true;
	if (!net_vlan_pass(d, f, len))
		return false;
	if (net_mac_eq(f, bcast))
		return !n->nobcast;
	if (f[0] & 1) {
		if (!ctrl_rx)
			return true;
		if (n->nomulti)
			return false;
		return n->allmulti || n->multi_overflow || net_in_table(n->multi, n->nmulti, f);
	}
	if (n->nouni)
		return false;
	if (net_mac_eq(f, n->mac))
		return true;
	return n->alluni || n->uni_overflow || net_in_table(n->uni, n->nuni, f);
}

/* --- receive: buffers -------------------------------------------------------------------- */

/* The header of a received frame: no offload, num_buffers where the header
 * has the field (virtio-v1.2 5.1.6.4.1: 1 without MRG_RXBUF). */
static void net_rx_hdr(uint8_t *h, unsigned hlen, uint16_t num_buffers)
{
	memset(h, 0, NET_HDR_LEN);
	if (hlen >= NET_HDR_LEN)
		rs_st16(h + NET_HDR_NUM_BUFFERS, num_buffers);
}

/* Held chains of pair p are stale when their queue was reset (legacy PFN 0
 * and a new PFN) since we popped them: forget them without completing. */
static void net_rx_check_held(struct net_pair *p, const struct vq *vq)
{
	if (!p->nheld || vq->stats.popped == p->popped_at)
		return;
	for (unsigned i = 0; i < p->nheld; i++)
		vq_chain_release(&p->held[i]);
	p->nheld = 0;
	p->held_space = 0;
}

/* Report and return an rx chain that cannot take data (device-readable
 * parts, or too small for the header). */
static int net_rx_bad_buffer(struct vdev *d, struct vq *vq, struct vq_chain *c, unsigned hlen)
{
	struct net *n = d->priv;

	if (c->nread)
		diag_report(&d->log, DIAG_NET_RX_BUFFER,
			    "rx chain %u has %u device-readable bytes (rx buffers are "
			    "device-writable); returned unused", c->id, c->read_len);
	else
		diag_report(&d->log, DIAG_NET_RX_BUFFER,
			    "rx chain %u: %u bytes, smaller than the %u-byte header; returned "
			    "unused", c->id, c->write_len, hlen);
	n->stats.rx_bad_buffer++;
	return net_push(vq, c, 0);
}

/* Without MRG_RXBUF: header and frame in one chain (virtio-v1.2 5.1.6.3.2).
 * Returns 1 when the frame is consumed (placed, or dropped because the
 * buffer is too small), 0 when no buffer is available, -1 when the queue is
 * unusable. */
static int net_rx_place_one(struct vdev *d, struct vq *vq, const uint8_t *f, uint32_t len)
{
	struct net *n = d->priv;
	const unsigned hlen = net_hdr_len(d);
	const uint32_t need = hlen + len;
	uint8_t hdr[NET_HDR_LEN];
	struct vq_cursor cur;
	struct vq_chain c;

	/* Bounded by the queue size: each pass completes one chain. */
	for (unsigned i = 0; i < vq->num; i++) {
		int r = vq_pop(vq, &c);
		if (r == 0 || r == -ENOMEM)
			return 0;
		if (r < 0)
			return -1;
		if (c.nread) {
			if (net_rx_bad_buffer(d, vq, &c, hlen) < 0)
				return -1;
			continue;
		}
		if (c.write_len < need) {
			diag_report(&d->log, DIAG_NET_RX_BUFFER,
				    "rx chain %u: %u bytes cannot hold the %u-byte header and a "
				    "%u-byte frame (no VIRTIO_NET_F_MRG_RXBUF); frame dropped",
				    c.id, c.write_len, hlen, len);
			n->stats.rx_too_small++;
			return net_push(vq, &c, 0) < 0 ? -1 : 1;
		}
		net_rx_hdr(hdr, hlen, 1);
		vq_cursor_init_write(&cur, d->gm, &c);
		if (vq_cursor_write(&cur, hdr, hlen) != hlen ||
		    vq_cursor_write(&cur, f, len) != len) {
			/* the arena reported the bad address; nothing valid was written */
			n->stats.rx_bad_buffer++;
			return net_push(vq, &c, 0) < 0 ? -1 : 1;
		}
		n->stats.rx_frames++;
		n->stats.rx_bytes += len;
		return net_push(vq, &c, need) < 0 ? -1 : 1;
	}
	return 0;
}

/* Write the frame across the first held chains of p that hold it (the
 * first starts with the header), complete them in order (virtio-v1.2
 * 5.1.6.4.1: all buffers but the last used completely, num_buffers says how
 * many), and keep the rest held for the next frame. If the arena refuses a
 * write, the frame is lost and all its buffers complete empty. Returns 1,
 * or -1 when the queue broke. */
static int net_rx_fill_held(struct vdev *d, struct vq *vq, struct net_pair *p, const uint8_t *f,
			    uint32_t len)
{
	struct net *n = d->priv;
	const unsigned hlen = net_hdr_len(d);
	const uint64_t need = (uint64_t)hlen + len;
	uint32_t used[NET_QUEUE_MAX];
	uint8_t hdr[NET_HDR_LEN];
	unsigned use = 0;
	uint64_t space = 0;
	uint32_t off = 0;
	bool fault = false;
	int r = 1;

	while (space < need) /* bounded: the caller made held_space >= need */
		space += p->held[use++].write_len;
	net_rx_hdr(hdr, hlen, (uint16_t)use);
	for (unsigned i = 0; i < use && !fault; i++) {
		struct vq_cursor cur;
		uint32_t chunk;

		vq_cursor_init_write(&cur, d->gm, &p->held[i]);
		if (i == 0 && vq_cursor_write(&cur, hdr, hlen) != hlen)
			fault = true;
		chunk = RS_MIN(vq_cursor_remaining(&cur), len - off);
		if (!fault && vq_cursor_write(&cur, f + off, chunk) != chunk)
			fault = true;
		off += chunk;
		used[i] = cur.done;
	}
	for (unsigned i = 0; i < use; i++) {
		p->held_space -= p->held[i].write_len;
		/* Once the queue broke, the remaining chains are only released. */
		if (r < 0)
			vq_chain_release(&p->held[i]);
		else if (net_push(vq, &p->held[i], fault ? 0 : used[i]) < 0)
			r = -1;
	}
	p->nheld -= use;
	memmove(p->held, p->held + use, p->nheld * sizeof *p->held);
	if (fault) {
		n->stats.rx_bad_buffer++;
	} else {
		n->stats.rx_frames++;
		n->stats.rx_bytes += len;
	}
	return r;
}

/* With MRG_RXBUF: collect chains until they hold header + frame, then fill
 * them (virtio-v1.2 5.1.6.4). Chains collected so far stay held when the
 * queue runs dry. Returns as net_rx_place_one. */
static int net_rx_place_merged(struct vdev *d, unsigned pair, const uint8_t *f, uint32_t len)
{
	struct net *n = d->priv;
	struct net_pair *p = &n->pair[pair];
	struct vq *vq = &d->queues[2 * pair].vq;
	const unsigned hlen = net_hdr_len(d);
	const uint64_t need = (uint64_t)hlen + len;
	struct vq_chain c;

	if (!p->held && !(p->held = calloc(NET_QUEUE_MAX, sizeof *p->held))) {
		n->stats.rx_queue_full++;
		return 1; /* host out of memory: the frame is lost */
	}
	/* Bounded: each pass pops one chain; at most num can be in flight. */
	for (unsigned i = 0; p->held_space < need; i++) {
		if (p->nheld >= vq->num || i >= 2u * vq->num) {
			diag_report(&d->log, DIAG_NET_RX_BUFFER,
				    "rx queue %u: all %u buffers (%llu bytes) cannot hold the "
				    "%u-byte header and a %u-byte frame; frame dropped",
				    2 * pair, p->nheld, (unsigned long long)p->held_space, hlen,
				    len);
			n->stats.rx_too_small++;
			return 1;
		}
		int r = vq_pop(vq, &c);
		if (r == 0 || r == -ENOMEM)
			return 0;
		if (r < 0)
			return -1;
		p->popped_at = vq->stats.popped;
		if (c.nread || c.write_len < hlen) {
			if (net_rx_bad_buffer(d, vq, &c, hlen) < 0)
				return -1;
			continue;
		}
		p->held[p->nheld++] = c;
		p->held_space += c.write_len;
	}
	return net_rx_fill_held(d, vq, p, f, len);
}

/* Place one frame into the receiveq of pair. Returns as net_rx_place_one. */
static int net_rx_place(struct vdev *d, unsigned pair, const uint8_t *f, uint32_t len)
{
	struct net *n = d->priv;
	struct vdev_queue *q = &d->queues[2 * pair];

	/* Callers checked that the queue is enabled; a broken one makes
	 * vq_pop fail, which ends here as -1. */
	net_rx_check_held(&n->pair[pair], &q->vq);
	if (vdev_has(d, VIRTIO_NET_F_MRG_RXBUF))
		return net_rx_place_merged(d, pair, f, len);
	return net_rx_place_one(d, &q->vq, f, len);
}

/* --- receive: waiting frames ------------------------------------------------------------- */

/* Queue a copy of the frame at the tail of p. A full queue drops the new
 * frame (tail drop, as a NIC whose ring is full). */
static void net_rx_enqueue(struct net *n, struct net_pair *p, const uint8_t *f, uint32_t len)
{
	struct net_frame *fr;

	if (n->queued_frames >= NET_RX_QUEUE_FRAMES || len > NET_RX_QUEUE_BYTES - n->queued_bytes ||
	    !(fr = malloc(sizeof *fr + len))) {
		n->stats.rx_queue_full++;
		return;
	}
	fr->next = NULL;
	fr->len = len;
	memcpy(fr->data, f, len);
	if (p->tail)
		p->tail->next = fr;
	else
		p->head = fr;
	p->tail = fr;
	p->nframes++;
	n->queued_frames++;
	n->queued_bytes += len;
}

/* Remove and free the frame at the head of p. */
static void net_rx_dequeue(struct net *n, struct net_pair *p)
{
	struct net_frame *fr = p->head;

	p->head = fr->next;
	if (!p->head)
		p->tail = NULL;
	p->nframes--;
	n->queued_frames--;
	n->queued_bytes -= fr->len;
	free(fr);
}

/* Drop every waiting frame of p; returns how many. */
static unsigned net_rx_drop_all(struct net *n, struct net_pair *p)
{
	unsigned k = 0;

	while (p->head) {
		net_rx_dequeue(n, p);
		k++;
	}
	return k;
}

/* Place waiting frames of pair, oldest first, while buffers last; then
 * interrupt if the ring says so. */
static void net_rx_flush(struct vdev *d, unsigned pair)
{
	struct net *n = d->priv;
	struct net_pair *p = &n->pair[pair];

	/* Bounded: every pass consumes a frame or stops. */
	while (p->head) {
		int r = net_rx_place(d, pair, p->head->data, p->head->len);
		if (r <= 0)
			break;
		net_rx_dequeue(n, p);
	}
	vdev_queue_interrupt(d, 2 * pair);
}

void net_set_active_pairs(struct vdev *d, unsigned cnt)
{
	struct net *n = d->priv;

	/* virtio-v1.2 5.1.6.5, automatic receive steering: no frames on
	 * receive queues above the count once the command is used. Held
	 * buffers stay with their queue. */
	for (unsigned i = cnt; i < n->max_pairs; i++)
		n->stats.rx_pair_dropped += net_rx_drop_all(n, &n->pair[i]);
	n->active_pairs = cnt;
}

/* A frame arrived from the host side (WEV_NET_RX). port: the pair it was
 * sent to (loopback: the pair it was sent on); reduced modulo the active
 * pairs, so a flow keeps its pair (virtio-v1.2 5.1.6.5, automatic receive
 * steering). */
static void net_rx_event(struct vdev *d, uint32_t port, const uint8_t *f, uint32_t len)
{
	struct net *n = d->priv;
	unsigned pair;
	struct net_pair *p;
	int r;

	if (n->cap && len) {
		/* The event's data is only valid until the next world call. */
		memcpy(n->rxcopy, f, len);
		f = n->rxcopy;
		net_capture(d, f, len);
	}
	if (len < NET_ETH_HLEN) {
		n->stats.rx_runt++;
		return;
	}
	if (!(d->status & VIRTIO_STATUS_DRIVER_OK) ||
	    (d->status & (VIRTIO_STATUS_NEEDS_RESET | VIRTIO_STATUS_FAILED)) || !n->link_up) {
		n->stats.rx_not_ready++;
		return;
	}
	if (!net_rx_accept(d, f, len)) {
		n->stats.rx_filtered++;
		return;
	}
	if (vdev_has(d, VIRTIO_NET_F_MTU) && len > net_mtu_frame(n, f, len)) {
		/* virtio-v1.2 5.1.4.1: nothing above mtu once MTU is negotiated */
		n->stats.rx_oversize++;
		return;
	}
	pair = port % n->active_pairs;
	p = &n->pair[pair];
	if (!d->queues[2 * pair].enabled) {
		n->stats.rx_not_ready++;
		return;
	}
	if (p->head) {
		/* frames are waiting: this one queues behind them */
		net_rx_enqueue(n, p, f, len);
		net_rx_flush(d, pair);
		return;
	}
	r = net_rx_place(d, pair, f, len);
	if (r < 0)
		n->stats.rx_not_ready++; /* the queue broke: NEEDS_RESET */
	else if (r == 0)
		net_rx_enqueue(n, p, f, len); /* no buffer: wait for the driver */
	vdev_queue_interrupt(d, 2 * pair); /* buffers may have been used */
}

/* The host pulled or plugged the cable: status changes, config interrupt
 * (virtio-v1.2 5.1.4: the driver re-reads status on a config change). */
static void net_set_link(struct vdev *d, bool up)
{
	struct net *n = d->priv;

	if (n->link_up == up)
		return;
	n->link_up = up;
	rs_st16(d->config + NET_CFG_STATUS, up ? VIRTIO_NET_S_LINK_UP : 0);
	vdev_config_changed(d);
}

static void net_host_event(struct vdev *d, const struct world_event *ev)
{
	switch (ev->kind) {
	case WEV_NET_RX:
		net_rx_event(d, ev->port, ev->data, ev->len);
		break;
	case WEV_HOST:
		if (ev->arg == NET_HOST_LINK_UP || ev->arg == NET_HOST_LINK_DOWN)
			net_set_link(d, ev->arg == NET_HOST_LINK_UP);
		break;
	default:
		break; /* not for a network device */
	}
}

/* --- notify ------------------------------------------------------------------------------ */

static void net_queue_notify(struct vdev *d, unsigned q)
{
	struct net *n = d->priv;
	unsigned npairs = net_has(d, VIRTIO_NET_F_MQ) ? n->max_pairs : 1;

	if (vdev_has(d, VIRTIO_NET_F_CTRL_VQ) && q == net_ctrl_queue(d)) {
		net_ctrl_notify(d, q);
		return;
	}
	if (q / 2 >= npairs) {
		diag_report(&d->log, DIAG_QUEUE_SELECT,
			    "notify for queue %u, which is no net queue under the negotiated "
			    "features (virtio-v1.2 5.1.2); ignored", q);
		return;
	}
	if (q & 1)
		net_tx(d, q / 2);
	else if (q / 2 < n->active_pairs)
		net_rx_flush(d, q / 2);
}

/* --- life cycle -------------------------------------------------------------------------- */

/* Forget every waiting frame and held buffer (reset, destroy). */
static void net_rx_clear(struct net *n)
{
	for (unsigned i = 0; i < NET_MAX_PAIRS; i++) {
		struct net_pair *p = &n->pair[i];

		net_rx_drop_all(n, p);
		for (unsigned k = 0; k < p->nheld; k++)
			vq_chain_release(&p->held[k]);
		p->nheld = 0;
		p->held_space = 0;
		p->popped_at = 0;
	}
}

/* Device-side state to its power-on value: no waiting frames, empty
 * filters (virtio-v1.2 5.1.6.5.2: empty MAC table on reset), the option
 * MAC, one pair. The link is the host's and stays as it is. */
static void net_reset(struct vdev *d)
{
	struct net *n = d->priv;

	net_rx_clear(n);
	memcpy(n->mac, n->perm_mac, NET_ETH_ALEN);
	net_ctrl_reset(n);
	n->active_pairs = 1;
	net_fill_config(d);
}

/* Host-side state back to what create() set: the link state of link=
 * (host events may have changed it; machine_reset gives a fresh machine). */
static void net_host_reset(struct vdev *d)
{
	struct net *n = d->priv;

	n->link_up = n->link_up0;
}

/* Free buffers and backends (destroy, failed create). */
static void net_free(struct vdev *d)
{
	struct net *n = d->priv;

	net_rx_clear(n);
	for (unsigned i = 0; i < NET_MAX_PAIRS; i++) {
		free(n->pair[i].held);
		n->pair[i].held = NULL;
	}
	if (n->out) {
		if (n->out_watched)
			world_live_unwatch(d->world, n->out);
		n->out->ops->destroy(n->out);
		n->out = NULL;
	}
	if (n->cap) {
		n->cap->ops->destroy(n->cap);
		n->cap = NULL;
	}
	free(n->txbuf);
	free(n->rxcopy);
	n->txbuf = n->rxcopy = NULL;
}

static void net_destroy(struct vdev *d)
{
	net_free(d);
}

/* Parse "52:54:00:12:34:56" (two hex digits per byte). */
static bool net_parse_mac(const char *s, uint8_t *mac)
{
	for (unsigned i = 0; i < NET_ETH_ALEN; i++) {
		unsigned v = 0;

		for (unsigned k = 0; k < 2; k++) {
			char ch = *s++;
			if (ch >= '0' && ch <= '9')
				v = v * 16 + (unsigned)(ch - '0');
			else if (ch >= 'a' && ch <= 'f')
				v = v * 16 + (unsigned)(ch - 'a' + 10);
			else if (ch >= 'A' && ch <= 'F')
				v = v * 16 + (unsigned)(ch - 'A' + 10);
			else
				return false;
		}
		mac[i] = (uint8_t)v;
		if (*s != (i + 1 < NET_ETH_ALEN ? ':' : '\0'))
			return false;
		s++;
	}
	return true;
}

/* Which device features this instance offers (d->model_features):
 * MTU only with mtu=, MQ only with queues > 1 (as QEMU), MRG_RXBUF and the
 * control queue with everything that needs it unless turned off. */
static int net_parse_features(struct vdev *d, struct vdev_args *a, uint64_t queues, char *err,
			      size_t errlen)
{
	bool mrg, ctrl;
	int r;

	if ((r = vdev_arg_bool(a, "mrg_rxbuf", true, &mrg, err, errlen)) < 0 ||
	    (r = vdev_arg_bool(a, "ctrl", true, &ctrl, err, errlen)) < 0)
		return r;
	if (!vdev_arg(a, "mtu"))
		d->model_features &= ~VIRTIO_BIT(VIRTIO_NET_F_MTU);
	if (queues == 1)
		d->model_features &= ~VIRTIO_BIT(VIRTIO_NET_F_MQ);
	if (!mrg)
		d->model_features &= ~VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF);
	if (!ctrl) {
		if (queues > 1) {
			snprintf(err, errlen, "option 'ctrl': queues=%llu needs the control queue "
				 "(VIRTIO_NET_F_MQ depends on it)", (unsigned long long)queues);
			return -EINVAL;
		}
		d->model_features &= ~VIRTIO_BIT(VIRTIO_NET_F_CTRL_VQ);
		for (unsigned i = 0; i < RS_ARRAY_SIZE(net_ctrl_features); i++)
			d->model_features &= ~VIRTIO_BIT(net_ctrl_features[i]);
	}
	return 0;
}

/* Options (docs/devices/net.md): queues, mtu, mac, link, backend, hostfwd,
 * pcap, mrg_rxbuf, ctrl. */
static int net_parse_options(struct vdev *d, struct vdev_args *a, const char **backend,
			     const char **hostfwd, const char **pcap, char *err, size_t errlen)
{
	struct net *n = d->priv;
	uint64_t queues, mtu;
	const char *v;
	int r;

	if ((r = vdev_arg_size(a, "queues", 1, &queues, err, errlen)) < 0)
		return r;
	if (queues < 1 || queues > NET_MAX_PAIRS) {
		snprintf(err, errlen, "option 'queues': %llu queue pairs, expected 1..%u",
			 (unsigned long long)queues, NET_MAX_PAIRS);
		return -EINVAL;
	}
	if ((r = net_parse_features(d, a, queues, err, errlen)) < 0)
		return r;
	if ((r = vdev_arg_size(a, "mtu", NET_DEFAULT_MTU, &mtu, err, errlen)) < 0)
		return r;
	/* virtio-v1.2 5.1.4.1: 68..65535; ours: the largest frame must fit an
	 * event (NET_FRAME_MAX) with header and VLAN tag. */
	if (mtu < 68 || mtu > NET_FRAME_MAX - NET_ETH_HLEN - NET_VLAN_HLEN) {
		snprintf(err, errlen, "option 'mtu': %llu, expected 68..%u",
			 (unsigned long long)mtu, NET_FRAME_MAX - NET_ETH_HLEN - NET_VLAN_HLEN);
		return -EINVAL;
	}
	n->max_pairs = (unsigned)queues;
	n->mtu = (uint16_t)mtu;
	if ((v = vdev_arg(a, "mac"))) {
		if (!net_parse_mac(v, n->perm_mac)) {
			snprintf(err, errlen, "option 'mac': expected six hex bytes such as "
				 "52:54:00:12:34:56, got '%s'", v);
			return -EINVAL;
		}
		if (n->perm_mac[0] & 1) {
			snprintf(err, errlen, "option 'mac': %s is a multicast address", v);
			return -EINVAL;
		}
	} else {
		/* QEMU's prefix; the low 24 bits count up from 12:34:56 with the
		 * device index, so every machine spec gives the same MACs. */
		uint32_t low = 0x123456u + d->index;
		const uint8_t dflt[NET_ETH_ALEN] = { 0x52, 0x54, 0x00, (uint8_t)(low >> 16),
						      (uint8_t)(low >> 8), (uint8_t)low };
		memcpy(n->perm_mac, dflt, NET_ETH_ALEN);
	}
	v = vdev_arg(a, "link");
	if (!v || strcmp(v, "up") == 0) {
		n->link_up = true;
	} else if (strcmp(v, "down") == 0) {
		n->link_up = false;
	} else {
		snprintf(err, errlen, "option 'link': expected up or down, got '%s'", v);
		return -EINVAL;
	}
	n->link_up0 = n->link_up;
	*backend = vdev_arg(a, "backend");
	if (!*backend)
		*backend = "loop";
	if (strcmp(*backend, "loop") && strcmp(*backend, "slirp") && strcmp(*backend, "none")) {
		snprintf(err, errlen, "option 'backend': expected loop, slirp or none, got '%s'",
			 *backend);
		return -EINVAL;
	}
	*hostfwd = vdev_arg(a, "hostfwd");
	if (*hostfwd && strcmp(*backend, "slirp")) {
		snprintf(err, errlen, "option 'hostfwd' needs backend=slirp");
		return -EINVAL;
	}
	*pcap = vdev_arg(a, "pcap");
	return 0;
}

/* Create the backends the options name. */
static int net_open_backends(struct vdev *d, const char *backend, const char *hostfwd,
			     const char *pcap, char *err, size_t errlen)
{
	struct net *n = d->priv;

	/* Only the live world (or none) performs backend I/O for real; in any
	 * other the capture file is created when a frame reaches it. */
	bool live = !d->world || world_is_live(d->world);

	if (pcap && !(n->cap = net_pcap_new(pcap, d->index, live, err, errlen)))
		return -EINVAL;
	if (strcmp(backend, "none") == 0)
		return 0;
	if (!d->world) {
		snprintf(err, errlen, "option 'backend': backend=%s needs a world (a machine)",
			 backend);
		return -EINVAL;
	}
	if (strcmp(backend, "loop") == 0) {
		if (!(n->out = net_loop_new(d->world, d->index))) {
			snprintf(err, errlen, "backend=loop: out of memory");
			return -ENOMEM;
		}
		return 0;
	}
	if (!(n->out = net_slirp_new(d->world, d->index, hostfwd, err, errlen)))
		return -EINVAL;
	if (world_is_live(d->world) && n->out->ops->poll_fd) {
		int r = world_live_watch(d->world, n->out);
		if (r < 0) {
			snprintf(err, errlen, "backend=slirp: cannot watch its sockets (%s)",
				 strerror(-r));
			return r;
		}
		n->out_watched = true;
	}
	return 0;
}

static int net_create(struct vdev *d, struct vdev_args *a, char *err, size_t errlen)
{
	struct net *n = d->priv;
	const char *backend = NULL, *hostfwd = NULL, *pcap = NULL;
	int r;

	r = net_parse_options(d, a, &backend, &hostfwd, &pcap, err, errlen);
	if (r < 0)
		return r;
	/* Without a world (a bare device) the default is to drop tx frames. */
	if (!d->world && !vdev_arg(a, "backend"))
		backend = "none";
	/* receiveq/transmitq pairs, then controlq when offered (5.1.2) */
	d->nqueues = 2 * n->max_pairs +
		     ((d->model_features & VIRTIO_BIT(VIRTIO_NET_F_CTRL_VQ)) ? 1 : 0);
	n->txbuf = malloc(NET_FRAME_MAX);
	n->rxcopy = malloc(NET_FRAME_MAX);
	if (!n->txbuf || !n->rxcopy) {
		snprintf(err, errlen, "out of memory");
		r = -ENOMEM;
		goto fail;
	}
	r = net_open_backends(d, backend, hostfwd, pcap, err, errlen);
	if (r < 0)
		goto fail;
	memcpy(n->mac, n->perm_mac, NET_ETH_ALEN);
	net_ctrl_reset(n);
	n->active_pairs = 1;
	net_fill_config(d);
	return 0;
fail:
	net_free(d);
	return r;
}

/* --- snapshot ---------------------------------------------------------------------------- */

struct net_snap {
	uint8_t *buf;
	size_t cap, len;
};

static void snap_put(struct net_snap *s, const void *p, size_t n)
{
	if (s->len <= s->cap && n <= s->cap - s->len)
		memcpy(s->buf + s->len, p, n);
	s->len += n;
}

static void snap_u32(struct net_snap *s, uint32_t v)
{
	uint8_t b[4];

	rs_st32(b, v);
	snap_put(s, b, 4);
}

/* FNV-1a 64 over the frames waiting on p. */
static uint64_t net_pair_hash(const struct net_pair *p)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (const struct net_frame *fr = p->head; fr; fr = fr->next)
		for (uint32_t i = 0; i < fr->len; i++)
			h = (h ^ fr->data[i]) * 0x100000001b3ull;
	return h;
}

static size_t net_save(const struct vdev *d, uint8_t *buf, size_t cap)
{
	const struct net *n = d->priv;
	struct net_snap s = { buf, buf ? cap : 0, 0 };
	uint8_t b[8];

	snap_put(&s, n->perm_mac, NET_ETH_ALEN);
	snap_put(&s, n->mac, NET_ETH_ALEN);
	snap_u32(&s, (uint32_t)n->link_up | (uint32_t)n->promisc << 1 | (uint32_t)n->allmulti << 2 |
			     (uint32_t)n->alluni << 3 | (uint32_t)n->nomulti << 4 |
			     (uint32_t)n->nouni << 5 | (uint32_t)n->nobcast << 6 |
			     (uint32_t)n->uni_overflow << 7 | (uint32_t)n->multi_overflow << 8);
	snap_u32(&s, n->mtu);
	snap_u32(&s, n->max_pairs);
	snap_u32(&s, n->active_pairs);
	snap_u32(&s, n->nuni);
	snap_put(&s, n->uni, (size_t)n->nuni * NET_ETH_ALEN);
	snap_u32(&s, n->nmulti);
	snap_put(&s, n->multi, (size_t)n->nmulti * NET_ETH_ALEN);
	for (unsigned i = 0; i < RS_ARRAY_SIZE(n->vlans); i++) {
		rs_st64(b, n->vlans[i]);
		snap_put(&s, b, 8);
	}
	for (unsigned i = 0; i < n->max_pairs; i++) {
		const struct net_pair *p = &n->pair[i];

		snap_u32(&s, p->nframes);
		snap_u32(&s, p->nheld);
		rs_st64(b, net_pair_hash(p));
		snap_put(&s, b, 8);
	}
	return s.len;
}

/* --- ops --------------------------------------------------------------------------------- */

const struct vdev_ops net_ops = {
	.name = "net",
	.device_id = VIRTIO_ID_NET,
	.pci_class = 0x0200, /* network controller, Ethernet */
	.num_queues = 2 * NET_MAX_PAIRS + 1,
	.queue_max = NET_QUEUE_MAX,
	.features = VIRTIO_BIT(VIRTIO_NET_F_MTU) | VIRTIO_BIT(VIRTIO_NET_F_MAC) |
		    VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF) | VIRTIO_BIT(VIRTIO_NET_F_STATUS) |
		    VIRTIO_BIT(VIRTIO_NET_F_CTRL_VQ) | VIRTIO_BIT(VIRTIO_NET_F_CTRL_RX) |
		    VIRTIO_BIT(VIRTIO_NET_F_CTRL_VLAN) | VIRTIO_BIT(VIRTIO_NET_F_CTRL_RX_EXTRA) |
		    VIRTIO_BIT(VIRTIO_NET_F_MQ) | VIRTIO_BIT(VIRTIO_NET_F_CTRL_MAC_ADDR),
	.config_size = NET_CFG_SIZE,
	.cfg_fields = net_cfg_fields,
	.ncfg_fields = RS_ARRAY_SIZE(net_cfg_fields),
	.priv_size = sizeof(struct net),
	.create = net_create,
	.destroy = net_destroy,
	.config_write = net_config_write,
	.validate_features = net_validate_features,
	.queue_notify = net_queue_notify,
	.reset = net_reset,
	.host_reset = net_host_reset,
	.save = net_save,
	.host_event = net_host_event,
};
