/*
 * ringside — virtio-net control queue (virtio-v1.2 5.1.6.5): rx modes, MAC
 * table and address, VLAN filter, number of queue pairs.
 *
 * A command is {u8 class, u8 command, data...} device-readable, then the
 * ack byte device-writable (struct virtio_net_ctrl). The data is read as a
 * stream across descriptors, so any framing works (the legacy framing of
 * 5.1.6.6 included). Every command checks its data length exactly and its
 * values; anything malformed, unknown, or of a feature the driver did not
 * negotiate leaves the state untouched and answers VIRTIO_NET_ERR, with a
 * DIAG_NET_CTRL report. A command without a writable byte cannot be
 * answered: it is reported, not executed, and completed with length 0.
 */
#include <string.h>

#include "ringside/vdev.h"
#include "net.h"

/* One command being served. */
struct ctrl_cmd {
	struct vdev *d;
	struct net *n;
	struct vq_cursor cur;  /* positioned after class and command */
	uint32_t len;          /* bytes of command-specific data */
	uint8_t cls, cmd;
};

/* Report a malformed command; returns VIRTIO_NET_ERR for the ack. */
static uint8_t ctrl_err(struct ctrl_cmd *c, const char *why)
{
	diag_report(&c->d->log, DIAG_NET_CTRL, "control class %u command %u: %s; answered ERR",
		    c->cls, c->cmd, why);
	return VIRTIO_NET_ERR;
}

/* Negotiated and usable (control features need CTRL_VQ, which we are
 * serving, so vdev_has is enough here). */
static bool ctrl_has(const struct ctrl_cmd *c, unsigned bit)
{
	return vdev_has(c->d, bit);
}

/* Read exactly len bytes of data into buf; false when the arena refused. */
static bool ctrl_read(struct ctrl_cmd *c, void *buf, uint32_t len)
{
	return vq_cursor_read(&c->cur, buf, len) == len;
}

/* Data must be exactly want bytes, read into buf. NULL on success, else
 * the reason. */
static const char *ctrl_data(struct ctrl_cmd *c, void *buf, uint32_t want)
{
	if (c->len != want)
		return "wrong data length";
	if (!ctrl_read(c, buf, want))
		return "data unreadable";
	return NULL;
}

/* VIRTIO_NET_CTRL_RX: one byte, 0 (off) or 1 (on) (5.1.6.5.1). PROMISC
 * and ALLMULTI come with CTRL_RX, the others with CTRL_RX_EXTRA. */
static uint8_t ctrl_rx(struct ctrl_cmd *c)
{
	struct net *n = c->n;
	bool *const flag[] = {
		[VIRTIO_NET_CTRL_RX_PROMISC] = &n->promisc,
		[VIRTIO_NET_CTRL_RX_ALLMULTI] = &n->allmulti,
		[VIRTIO_NET_CTRL_RX_ALLUNI] = &n->alluni,
		[VIRTIO_NET_CTRL_RX_NOMULTI] = &n->nomulti,
		[VIRTIO_NET_CTRL_RX_NOUNI] = &n->nouni,
		[VIRTIO_NET_CTRL_RX_NOBCAST] = &n->nobcast,
	};
	const char *why;
	uint8_t v;

	if (c->cmd >= RS_ARRAY_SIZE(flag))
		return ctrl_err(c, "unknown rx mode command");
	if (c->cmd <= VIRTIO_NET_CTRL_RX_ALLMULTI && !ctrl_has(c, VIRTIO_NET_F_CTRL_RX))
		return ctrl_err(c, "VIRTIO_NET_F_CTRL_RX not negotiated");
	if (c->cmd > VIRTIO_NET_CTRL_RX_ALLMULTI && !ctrl_has(c, VIRTIO_NET_F_CTRL_RX_EXTRA))
		return ctrl_err(c, "VIRTIO_NET_F_CTRL_RX_EXTRA not negotiated");
	if ((why = ctrl_data(c, &v, 1)))
		return ctrl_err(c, why);
	if (v > 1)
		return ctrl_err(c, "value neither 0 nor 1");
	*flag[c->cmd] = v;
	return VIRTIO_NET_OK;
}

/* One table of MAC_TABLE_SET: le32 entries, then entries * 6 bytes. Up to
 * NET_MAC_TABLE_MAX entries are kept; more set *overflow (accept every
 * address of the kind, as the spec's footnote to 5.1.6.5.2 allows) and are
 * skipped. Consumes from *left. NULL on success, else the reason. */
static const char *ctrl_mac_table(struct ctrl_cmd *c, uint32_t *left,
				  uint8_t (*t)[NET_ETH_ALEN], unsigned *nt, bool *overflow)
{
	uint8_t b[4];
	uint64_t bytes;
	uint32_t entries;

	if (*left < 4)
		return "table shorter than its entry count";
	if (!ctrl_read(c, b, 4))
		return "data unreadable";
	*left -= 4;
	/* legacy: guest-native endian, little-endian on every guest we model */
	entries = rs_le32(b);
	bytes = (uint64_t)entries * NET_ETH_ALEN;
	if (bytes > *left)
		return "table entries run past the data";
	*left -= (uint32_t)bytes;
	if (entries > NET_MAC_TABLE_MAX) {
		*overflow = true;
		*nt = 0;
		return vq_cursor_skip(&c->cur, (size_t)bytes) == bytes ? NULL : "data unreadable";
	}
	*overflow = false;
	*nt = entries;
	return ctrl_read(c, t, (uint32_t)bytes) ? NULL : "data unreadable";
}

/* VIRTIO_NET_CTRL_MAC (5.1.6.5.2). */
static uint8_t ctrl_mac(struct ctrl_cmd *c)
{
	struct net *n = c->n;
	const char *why;

	if (c->cmd == VIRTIO_NET_CTRL_MAC_TABLE_SET) {
		uint8_t uni[NET_MAC_TABLE_MAX][NET_ETH_ALEN];
		uint8_t multi[NET_MAC_TABLE_MAX][NET_ETH_ALEN];
		unsigned nuni, nmulti;
		bool uni_of, multi_of;
		uint32_t left = c->len;

		if (!ctrl_has(c, VIRTIO_NET_F_CTRL_RX))
			return ctrl_err(c, "VIRTIO_NET_F_CTRL_RX not negotiated");
		/* Parse both tables before touching the filter: a malformed
		 * command changes nothing. */
		if ((why = ctrl_mac_table(c, &left, uni, &nuni, &uni_of)) ||
		    (why = ctrl_mac_table(c, &left, multi, &nmulti, &multi_of)))
			return ctrl_err(c, why);
		if (left)
			return ctrl_err(c, "data left over after the two tables");
		memcpy(n->uni, uni, (size_t)nuni * NET_ETH_ALEN);
		memcpy(n->multi, multi, (size_t)nmulti * NET_ETH_ALEN);
		n->nuni = nuni;
		n->nmulti = nmulti;
		n->uni_overflow = uni_of;
		n->multi_overflow = multi_of;
		return VIRTIO_NET_OK;
	}
	if (c->cmd == VIRTIO_NET_CTRL_MAC_ADDR_SET) {
		uint8_t mac[NET_ETH_ALEN];

		if (!ctrl_has(c, VIRTIO_NET_F_CTRL_MAC_ADDR))
			return ctrl_err(c, "VIRTIO_NET_F_CTRL_MAC_ADDR not negotiated");
		if ((why = ctrl_data(c, mac, NET_ETH_ALEN)))
			return ctrl_err(c, why);
		if (mac[0] & 1)
			return ctrl_err(c, "multicast address as the device address");
		/* "MUST update mac in config space before it consumes the
		 * command": config first, then the ack. */
		memcpy(n->mac, mac, NET_ETH_ALEN);
		memcpy(c->d->config + NET_CFG_MAC, mac, NET_ETH_ALEN);
		return VIRTIO_NET_OK;
	}
	return ctrl_err(c, "unknown MAC command");
}

/* VIRTIO_NET_CTRL_VLAN: le16 VLAN id (5.1.6.5.3). */
static uint8_t ctrl_vlan(struct ctrl_cmd *c)
{
	struct net *n = c->n;
	const char *why;
	uint8_t b[2];
	unsigned vid;

	if (c->cmd != VIRTIO_NET_CTRL_VLAN_ADD && c->cmd != VIRTIO_NET_CTRL_VLAN_DEL)
		return ctrl_err(c, "unknown VLAN command");
	if (!ctrl_has(c, VIRTIO_NET_F_CTRL_VLAN))
		return ctrl_err(c, "VIRTIO_NET_F_CTRL_VLAN not negotiated");
	if ((why = ctrl_data(c, b, 2)))
		return ctrl_err(c, why);
	vid = rs_le16(b);
	if (vid >= NET_VLAN_COUNT)
		return ctrl_err(c, "VLAN id above 4095");
	if (c->cmd == VIRTIO_NET_CTRL_VLAN_ADD)
		n->vlans[vid / 64] |= 1ull << (vid % 64);
	else
		n->vlans[vid / 64] &= ~(1ull << (vid % 64));
	return VIRTIO_NET_OK;
}

/* VIRTIO_NET_CTRL_MQ: VQ_PAIRS_SET with le16 1..max_virtqueue_pairs
 * (5.1.6.5, automatic receive steering). RSS and hash configuration are
 * not offered. */
static uint8_t ctrl_mq(struct ctrl_cmd *c)
{
	const char *why;
	uint8_t b[2];
	unsigned pairs;

	if (c->cmd != VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET)
		return ctrl_err(c, "unknown or not offered multiqueue command");
	if (!ctrl_has(c, VIRTIO_NET_F_MQ))
		return ctrl_err(c, "VIRTIO_NET_F_MQ not negotiated");
	if ((why = ctrl_data(c, b, 2)))
		return ctrl_err(c, why);
	pairs = rs_le16(b);
	if (pairs < VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MIN || pairs > c->n->max_pairs)
		return ctrl_err(c, "virtqueue_pairs outside 1..max_virtqueue_pairs");
	net_set_active_pairs(c->d, pairs);
	return VIRTIO_NET_OK;
}

/* Serve one command whose readable part is at least two bytes. */
static uint8_t ctrl_one(struct vdev *d, const struct vq_chain *ch)
{
	struct ctrl_cmd c = { .d = d, .n = d->priv, .len = ch->read_len - 2 };
	uint8_t hdr[2];

	vq_cursor_init_read(&c.cur, d->gm, ch);
	if (vq_cursor_read(&c.cur, hdr, 2) != 2)
		return ctrl_err(&c, "header unreadable");
	c.cls = hdr[0];
	c.cmd = hdr[1];
	switch (c.cls) {
	case VIRTIO_NET_CTRL_RX: return ctrl_rx(&c);
	case VIRTIO_NET_CTRL_MAC: return ctrl_mac(&c);
	case VIRTIO_NET_CTRL_VLAN: return ctrl_vlan(&c);
	case VIRTIO_NET_CTRL_MQ: return ctrl_mq(&c);
	case VIRTIO_NET_CTRL_ANNOUNCE:
		return ctrl_err(&c, "VIRTIO_NET_F_GUEST_ANNOUNCE not offered");
	case VIRTIO_NET_CTRL_GUEST_OFFLOADS:
		return ctrl_err(&c, "VIRTIO_NET_F_CTRL_GUEST_OFFLOADS not offered");
	default: return ctrl_err(&c, "unknown class");
	}
}

void net_ctrl_notify(struct vdev *d, unsigned q)
{
	struct net *n = d->priv;
	struct vq *vq = &d->queues[q].vq;
	struct vq_chain ch;

	/* Bounded: every pop consumes an entry the driver made available. */
	while (vq_pop(vq, &ch) > 0) {
		uint32_t used = 0;
		uint8_t ack;

		if (ch.write_len == 0) {
			diag_report(&d->log, DIAG_NET_CTRL,
				    "control chain %u has no device-writable ack byte; "
				    "not executed", ch.id);
			n->stats.ctrl_err++;
		} else {
			struct vq_cursor out;

			if (ch.read_len < 2) {
				diag_report(&d->log, DIAG_NET_CTRL,
					    "control chain %u: %u readable bytes, no class and "
					    "command; answered ERR", ch.id, ch.read_len);
				ack = VIRTIO_NET_ERR;
			} else {
				ack = ctrl_one(d, &ch);
			}
			if (ack == VIRTIO_NET_OK)
				n->stats.ctrl_ok++;
			else
				n->stats.ctrl_err++;
			/* The ack is the first device-writable byte. */
			vq_cursor_init_write(&out, d->gm, &ch);
			used = (uint32_t)vq_cursor_write(&out, &ack, 1);
		}
		if (vq_push(vq, &ch, used) < 0) {
			vq_chain_release(&ch);
			break;
		}
	}
	vdev_queue_interrupt(d, q);
}

void net_ctrl_reset(struct net *n)
{
	n->promisc = n->allmulti = n->alluni = false;
	n->nomulti = n->nouni = n->nobcast = false;
	n->uni_overflow = n->multi_overflow = false;
	n->nuni = n->nmulti = 0;
	memset(n->uni, 0, sizeof n->uni);
	memset(n->multi, 0, sizeof n->multi);
	memset(n->vlans, 0, sizeof n->vlans);
}
