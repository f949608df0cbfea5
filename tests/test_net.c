/*
 * ringside tests — the virtio network device (devices/net) driven by the
 * reference driver over every transport: loopback round trips with the
 * frame compared byte for byte (split and packed rings, the legacy 10-byte
 * and the 12-byte header), MRG_RXBUF frames spanning buffers, rx buffers
 * too small, runt padding, oversized drops, malformed tx chains, every
 * control command and its malformed forms, the rx filter table (each rx
 * mode x unicast / multicast / broadcast x MAC table), the VLAN filter,
 * two queue pairs, link events, the bounded rx queue, reset, options, the
 * pcap file parsed back (and read by tcpdump/tshark when installed), and
 * libslirp (ARP, and UDP to a socket on the host's loopback) when built in.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "ringside/guest_machine.h"
#include "ringside/ringside.h"
#include "ringside/virtio.h"
#include "../devices/devices.h"
#include "../devices/net/net.h"

#define DRV_MEM_BASE 0x100000ull
#define DRV_MEM_END (16ull << 20)
#define SLOT 2048u            /* bytes per rx / tx slot */
#define RX_SLOTS 64u          /* per pair */
#define TX_SLOTS 64u
#define MAX_PAIRS 3u          /* what fits the driver's 8 queues */
#define BIG 70000u            /* a buffer for the largest frames */

#define F(b) VIRTIO_BIT(b)
#define F_CTRL (F(VIRTIO_NET_F_CTRL_VQ) | F(VIRTIO_NET_F_CTRL_RX) | F(VIRTIO_NET_F_CTRL_VLAN) | \
		F(VIRTIO_NET_F_CTRL_RX_EXTRA) | F(VIRTIO_NET_F_MQ) | F(VIRTIO_NET_F_CTRL_MAC_ADDR))
#define F_BASE (F(VIRTIO_NET_F_MAC) | F(VIRTIO_NET_F_STATUS) | F(VIRTIO_F_INDIRECT_DESC) | \
		F(VIRTIO_F_EVENT_IDX))
#define F_ALL (F_BASE | F_CTRL | F(VIRTIO_NET_F_MTU) | F(VIRTIO_NET_F_MRG_RXBUF) | \
	       F(VIRTIO_F_RING_PACKED))

static const uint8_t MAC0[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 }; /* device 0 default */
static const uint8_t PEER[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x01 };
static const uint8_t OTHER[6] = { 0x02, 0xaa, 0x00, 0x00, 0x00, 0x01 };
static const uint8_t UTAB[6] = { 0x02, 0xbb, 0x00, 0x00, 0x00, 0x02 };
static const uint8_t MTAB[6] = { 0x01, 0x00, 0x5e, 0x00, 0x00, 0x01 };
static const uint8_t MOTHER[6] = { 0x01, 0x00, 0x5e, 0x00, 0x00, 0x02 };
static const uint8_t BCAST[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

struct nenv {
	struct machine *m;
	struct gdrv_io io;
	struct gdrv_mem mem;
	struct gdrv_dev *g;
	struct vdev *dev;
	uint64_t rxpool, txpool, ctrlbuf, big;
	unsigned hlen;        /* virtio-net header the driver uses */
	unsigned pairs;       /* pairs set up */
	int ctrlq;            /* control queue, -1 without CTRL_VQ */
	unsigned txn;         /* next tx slot */
};

/* ---- environment ------------------------------------------------------------------------ */

/* Build the machine of spec and open device 0 (PCI: through its legacy
 * interface when use_legacy). */
static bool env_open(struct nenv *e, const char *spec, bool use_legacy)
{
	char err[256];
	memset(e, 0, sizeof *e);
	if (rs_machine_new(spec, &e->m, err, sizeof err) < 0) {
		fprintf(stderr, "rs_machine_new(%s): %s\n", spec, err);
		CHECK(!"machine");
		return false;
	}
	gdrv_machine_io(&e->io, e->m);
	e->mem.next = DRV_MEM_BASE;
	e->mem.end = DRV_MEM_END;
	e->g = calloc(1, sizeof *e->g);
	e->dev = e->m->devs[0];
	e->rxpool = gdrv_alloc(&e->io, &e->mem, (uint64_t)MAX_PAIRS * RX_SLOTS * SLOT, 4096);
	e->txpool = gdrv_alloc(&e->io, &e->mem, (uint64_t)TX_SLOTS * SLOT, 4096);
	e->ctrlbuf = gdrv_alloc(&e->io, &e->mem, 4096, 4096);
	e->big = gdrv_alloc(&e->io, &e->mem, 2 * BIG, 4096);
	CHECK(e->g && e->rxpool && e->txpool && e->ctrlbuf && e->big);
	if (gdrv_machine_open(e->g, &e->io, &e->mem, e->m, 0, use_legacy, NULL) != 0) {
		CHECK(!"device not found on its transport");
		return false;
	}
	CHECK_EQ(e->g->device_id, VIRTIO_ID_NET);
	return true;
}

static void env_close(struct nenv *e)
{
	rs_machine_free(e->m);
	free(e->g);
	memset(e, 0, sizeof *e);
}

static bool drv_legacy(const struct nenv *e)
{
	return e->g->transport == GDRV_PCI_LEGACY || e->g->transport == GDRV_MMIO_V1;
}

/* Negotiate want, set up every queue the features call for (qsize
 * entries, rx queues rxsize), DRIVER_OK. */
static bool env_up_sizes(struct nenv *e, uint64_t want, uint16_t qsize, uint16_t rxsize)
{
	uint64_t f;
	unsigned nq;

	if (gdrv_init(e->g, want) != 0) {
		CHECK(!"gdrv_init");
		return false;
	}
	f = e->g->features;
	e->hlen = (!drv_legacy(e) || (f & F(VIRTIO_NET_F_MRG_RXBUF))) ? 12 : 10;
	e->pairs = 1;
	if ((f & F(VIRTIO_NET_F_CTRL_VQ)) && (f & F(VIRTIO_NET_F_MQ)))
		e->pairs = (unsigned)gdrv_config_read(e->g, NET_CFG_MAX_PAIRS, 2);
	CHECK(e->pairs >= 1 && e->pairs <= MAX_PAIRS);
	e->ctrlq = (f & F(VIRTIO_NET_F_CTRL_VQ)) ? (int)(2 * e->pairs) : -1;
	nq = 2 * e->pairs + (e->ctrlq >= 0);
	for (unsigned q = 0; q < nq; q++)
		CHECK_EQ(gdrv_setup_vq(e->g, q, (q & 1) || (int)q == e->ctrlq ? qsize : rxsize), 0);
	gdrv_driver_ok(e->g);
	CHECK(gdrv_get_status(e->g) & VIRTIO_STATUS_DRIVER_OK);
	return true;
}

static bool env_up(struct nenv *e, uint64_t want)
{
	return env_up_sizes(e, want, 64, 64);
}

static const struct net_stats *st(const struct nenv *e)
{
	return net_get_stats(e->dev);
}

static unsigned poll_ev(struct nenv *e)
{
	return (unsigned)rs_machine_poll_events(e->m, 100000);
}

/* ---- frames ----------------------------------------------------------------------------- */

static uint8_t pat(uint32_t seed, uint32_t i)
{
	return (uint8_t)(seed * 131u + i * 7u + (i >> 8) + 1u);
}

/* An Ethernet frame of len bytes to dst: our test peer as source, type
 * 0x88b5 (local experimental), payload pattern seed. */
static void mkframe(uint8_t *f, const uint8_t *dst, uint32_t len, uint32_t seed)
{
	memcpy(f, dst, 6);
	memcpy(f + 6, PEER, 6);
	f[12] = 0x88;
	f[13] = 0xb5;
	for (uint32_t i = 14; i < len; i++)
		f[i] = pat(seed, i);
}

/* The same with an 802.1Q tag for vid. */
static void mkframe_vlan(uint8_t *f, const uint8_t *dst, uint32_t len, unsigned vid)
{
	mkframe(f, dst, len, vid);
	f[12] = 0x81;
	f[13] = 0x00;
	f[14] = (uint8_t)(vid >> 8);
	f[15] = (uint8_t)vid;
	f[16] = 0x88;
	f[17] = 0xb5;
}

/* A frame from the host side: WEV_NET_RX through the world, delivered. */
static void host_frame(struct nenv *e, uint32_t port, const uint8_t *f, uint32_t len)
{
	struct world_event ev = {
		.kind = WEV_NET_RX, .dev = 0, .port = port, .len = len, .data = f,
	};

	CHECK_EQ(world_post(e->m->world, &ev), 0);
	CHECK_EQ(poll_ev(e), 1);
}

static void host_event(struct nenv *e, enum world_event_kind kind, uint64_t arg)
{
	struct world_event ev = { .kind = kind, .dev = 0, .arg = arg };

	CHECK_EQ(world_post(e->m->world, &ev), 0);
	CHECK_EQ(poll_ev(e), 1);
}

/* ---- rx and tx through the driver ------------------------------------------------------- */

static uint64_t rx_slot(const struct nenv *e, unsigned pair, unsigned i)
{
	return e->rxpool + ((uint64_t)pair * RX_SLOTS + i) * SLOT;
}

/* Offer rx slot i of pair (len bytes, device-writable); no kick. */
static void rx_add(struct nenv *e, unsigned pair, unsigned i, uint32_t len)
{
	struct gdrv_buf b = { rx_slot(e, pair, i), len };

	CHECK_EQ(gdrv_submit(&e->g->vq[2 * pair], &b, 0, 1, i, false), 0);
}

static void rx_kick(struct nenv *e, unsigned pair)
{
	gdrv_kick(&e->g->vq[2 * pair]);
}

/* Offer n slots of len bytes, kick. */
static void rx_fill(struct nenv *e, unsigned pair, unsigned n, uint32_t len)
{
	for (unsigned i = 0; i < n; i++)
		rx_add(e, pair, i, len);
	rx_kick(e, pair);
}

static int rx_get(struct nenv *e, unsigned pair, uint64_t *tok, uint32_t *len)
{
	return gdrv_get_used(&e->g->vq[2 * pair], tok, len);
}

/* Transmit hdr (hlen bytes; NULL: zeroes) + frame on pair as one readable
 * buffer; check the chain completes with used length 0. */
static void tx_raw(struct nenv *e, unsigned pair, const uint8_t *hdr, const uint8_t *f,
		   uint32_t flen)
{
	uint8_t zero[12] = { 0 };
	unsigned slot = e->txn++ % TX_SLOTS;
	uint64_t gpa = flen + e->hlen > SLOT ? e->big : e->txpool + (uint64_t)slot * SLOT;
	struct gdrv_buf b = { gpa, e->hlen + flen };
	uint64_t tok;
	uint32_t len;

	e->io.mem_write(e->io.ctx, gpa, hdr ? hdr : zero, e->hlen);
	e->io.mem_write(e->io.ctx, gpa + e->hlen, f, flen);
	CHECK_EQ(gdrv_submit(&e->g->vq[2 * pair + 1], &b, 1, 0, 1000 + slot, false), 0);
	gdrv_kick(&e->g->vq[2 * pair + 1]);
	CHECK_EQ(gdrv_get_used(&e->g->vq[2 * pair + 1], &tok, &len), 1);
	CHECK_EQ(tok, 1000 + slot);
	CHECK_EQ(len, 0);
}

static void tx(struct nenv *e, unsigned pair, const uint8_t *f, uint32_t flen)
{
	tx_raw(e, pair, NULL, f, flen);
}

/* Expect one received frame in pair's rx slot (single buffer): compare it
 * with want[0, wlen), check the header; give the slot back when repost.
 * Returns the slot. */
static unsigned rx_check(struct nenv *e, unsigned pair, const uint8_t *want, uint32_t wlen,
			 bool repost)
{
	uint8_t hdr[12], got[SLOT];
	uint64_t tok;
	uint32_t len;

	if (rx_get(e, pair, &tok, &len) != 1) {
		CHECK(!"no frame received");
		return ~0u;
	}
	CHECK_EQ(len, e->hlen + wlen);
	if (tok >= RX_SLOTS || len != e->hlen + wlen || len > SLOT)
		return ~0u;
	e->io.mem_read(e->io.ctx, rx_slot(e, pair, (unsigned)tok), hdr, e->hlen);
	e->io.mem_read(e->io.ctx, rx_slot(e, pair, (unsigned)tok) + e->hlen, got, wlen);
	CHECK_EQ(hdr[0], 0);  /* flags: no checksum offload */
	CHECK_EQ(hdr[1], VIRTIO_NET_HDR_GSO_NONE);
	if (e->hlen == 12)
		CHECK_EQ(rs_le16(hdr + 10), 1); /* num_buffers */
	CHECK(memcmp(got, want, wlen) == 0);
	if (repost) {
		rx_add(e, pair, (unsigned)tok, SLOT);
		rx_kick(e, pair);
	}
	return (unsigned)tok;
}

static void rx_expect(struct nenv *e, unsigned pair, const uint8_t *want, uint32_t wlen)
{
	rx_check(e, pair, want, wlen, true);
}

static void rx_none(struct nenv *e, unsigned pair)
{
	uint64_t tok;
	uint32_t len;

	CHECK_EQ(rx_get(e, pair, &tok, &len), 0);
}

/* Send a control command: [cls, cmd, data] readable (split in two
 * descriptors when split2), nack writable bytes. Returns the ack, or -1
 * when the used length was 0; *used gets the used length. */
static int ctrl_full(struct nenv *e, uint8_t cls, uint8_t cmd, const void *data, uint32_t dlen,
		     unsigned nack, bool split2, uint32_t *used)
{
	struct gdrv_vq *vq = &e->g->vq[e->ctrlq];
	uint8_t buf[1024];
	struct gdrv_buf b[3];
	unsigned nb = 0;
	uint64_t tok;
	uint32_t len = 0;
	uint8_t ack = 0xee;

	CHECK(e->ctrlq >= 0 && dlen + 2 <= sizeof buf);
	buf[0] = cls;
	buf[1] = cmd;
	if (dlen)
		memcpy(buf + 2, data, dlen);
	e->io.mem_write(e->io.ctx, e->ctrlbuf, buf, 2 + dlen);
	e->io.mem_write(e->io.ctx, e->ctrlbuf + 2048, &ack, 1);
	if (split2) {
		b[nb++] = (struct gdrv_buf){ e->ctrlbuf, 2 };
		if (dlen)
			b[nb++] = (struct gdrv_buf){ e->ctrlbuf + 2, dlen };
	} else {
		b[nb++] = (struct gdrv_buf){ e->ctrlbuf, 2 + dlen };
	}
	if (nack)
		b[nb] = (struct gdrv_buf){ e->ctrlbuf + 2048, nack };
	CHECK_EQ(gdrv_submit(vq, b, nb, nack ? 1 : 0, 77, false), 0);
	gdrv_kick(vq);
	CHECK_EQ(gdrv_get_used(vq, &tok, &len), 1);
	CHECK_EQ(tok, 77);
	if (used)
		*used = len;
	if (len == 0)
		return -1;
	e->io.mem_read(e->io.ctx, e->ctrlbuf + 2048, &ack, 1);
	return ack;
}

/* A command whose readable part is a single byte. Returns the ack. */
static int ctrl_short(struct nenv *e)
{
	struct gdrv_vq *vq = &e->g->vq[e->ctrlq];
	struct gdrv_buf b[2] = { { e->ctrlbuf, 1 }, { e->ctrlbuf + 2048, 1 } };
	uint8_t ack = 0xee;
	uint64_t tok;
	uint32_t len;

	e->io.mem_write(e->io.ctx, e->ctrlbuf + 2048, &ack, 1);
	CHECK_EQ(gdrv_submit(vq, b, 1, 1, 78, false), 0);
	gdrv_kick(vq);
	CHECK_EQ(gdrv_get_used(vq, &tok, &len), 1);
	CHECK_EQ(len, 1);
	e->io.mem_read(e->io.ctx, e->ctrlbuf + 2048, &ack, 1);
	return ack;
}

static int ctrl(struct nenv *e, uint8_t cls, uint8_t cmd, const void *data, uint32_t dlen)
{
	uint32_t used;
	int ack = ctrl_full(e, cls, cmd, data, dlen, 1, false, &used);

	CHECK_EQ(used, 1);
	return ack;
}

static int ctrl_u8(struct nenv *e, uint8_t cls, uint8_t cmd, uint8_t v)
{
	return ctrl(e, cls, cmd, &v, 1);
}

static int ctrl_u16(struct nenv *e, uint8_t cls, uint8_t cmd, uint16_t v)
{
	uint8_t b[2];

	rs_st16(b, v);
	return ctrl(e, cls, cmd, b, 2);
}

static int set_pairs(struct nenv *e, uint16_t n)
{
	return ctrl_u16(e, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, n);
}

/* MAC_TABLE_SET with nu unicast and nm multicast entries. */
static int ctrl_table(struct nenv *e, const uint8_t (*u)[6], uint32_t nu, const uint8_t (*m)[6],
		      uint32_t nm)
{
	uint8_t buf[1000];
	uint32_t off = 0;

	rs_st32(buf + off, nu);
	off += 4;
	if (nu)
		memcpy(buf + off, u, (size_t)nu * 6);
	off += nu * 6;
	rs_st32(buf + off, nm);
	off += 4;
	if (nm)
		memcpy(buf + off, m, (size_t)nm * 6);
	off += nm * 6;
	return ctrl(e, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, buf, off);
}

/* No device diagnostics, no machine diagnostics. */
static void env_check_clean(struct nenv *e)
{
	CHECK_EQ(e->dev->log.total, 0);
	if (e->dev->log.total)
		fprintf(stderr, "  last: %s\n", diag_last(&e->dev->log)->msg);
	CHECK_EQ(e->m->log.total, 0);
}

/* ---- round trips ------------------------------------------------------------------------ */

/* tx -> loopback -> rx over spec, frames of several sizes, compared. */
static void roundtrip(const char *spec, bool use_legacy, uint64_t want, unsigned hlen)
{
	static const uint32_t lens[] = { 60, 61, 100, 1514, 64, 999 };
	struct nenv e;
	uint8_t f[1600];

	if (!env_open(&e, spec, use_legacy))
		return;
	if (!env_up(&e, want))
		goto out;
	CHECK_EQ(e.hlen, hlen);
	if (!drv_legacy(&e)) /* legacy interfaces have no packed ring */
		CHECK_EQ(e.g->features & F(VIRTIO_F_RING_PACKED), want & F(VIRTIO_F_RING_PACKED));
	rx_fill(&e, 0, 16, SLOT);
	for (unsigned k = 0; k < RS_ARRAY_SIZE(lens); k++) {
		mkframe(f, MAC0, lens[k], k);
		tx(&e, 0, f, lens[k]);
		rx_none(&e, 0); /* nothing until the world delivers the event */
		CHECK_EQ(poll_ev(&e), 1);
		rx_expect(&e, 0, f, lens[k]);
	}
	CHECK_EQ(st(&e)->tx_frames, RS_ARRAY_SIZE(lens));
	CHECK_EQ(st(&e)->rx_frames, RS_ARRAY_SIZE(lens));
	CHECK_EQ(st(&e)->tx_padded, 0);
	env_check_clean(&e);
out:
	env_close(&e);
}

static void test_roundtrip_pci_modern_split(void)
{
	roundtrip("mem=16M pci-modern:net", false, F_ALL & ~F(VIRTIO_F_RING_PACKED), 12);
}

static void test_roundtrip_pci_modern_packed(void)
{
	roundtrip("mem=16M pci-modern:net", false, F_ALL, 12);
}

static void test_roundtrip_pci_legacy(void)
{
	/* legacy without MRG_RXBUF: the 10-byte header (5.1.6.1) */
	roundtrip("mem=16M pci-legacy:net", true, F_ALL & ~F(VIRTIO_NET_F_MRG_RXBUF), 10);
	/* legacy with MRG_RXBUF: num_buffers is there */
	roundtrip("mem=16M pci-legacy:net", true, F_ALL, 12);
}

static void test_roundtrip_transitional(void)
{
	roundtrip("mem=16M pci:net", true, F_BASE, 10);
	roundtrip("mem=16M pci:net", false, F_BASE, 12);
}

static void test_roundtrip_mmio(void)
{
	roundtrip("mem=16M mmio:net", false, F_ALL, 12);
	roundtrip("mem=16M mmio:net", false, F_BASE, 12);
	roundtrip("mem=16M mmio-legacy:net", false, F_BASE, 10);
}

/* ---- config ----------------------------------------------------------------------------- */

static void check_config(const char *spec, bool use_legacy, const uint8_t *mac, unsigned pairs,
			 unsigned mtu, unsigned status)
{
	struct nenv e;

	if (!env_open(&e, spec, use_legacy))
		return;
	CHECK_EQ(gdrv_init(e.g, F_ALL), 0);
	for (unsigned i = 0; i < 6; i++)
		CHECK_EQ(gdrv_config_read(e.g, NET_CFG_MAC + i, 1), mac[i]);
	CHECK_EQ(gdrv_config_read(e.g, NET_CFG_STATUS, 2), status);
	CHECK_EQ(gdrv_config_read(e.g, NET_CFG_MAX_PAIRS, 2), pairs);
	CHECK_EQ(gdrv_config_read(e.g, NET_CFG_MTU, 2), mtu);
	CHECK_EQ(e.dev->log.total, 0);
	/* width rules: a 2-byte read across mac bytes, a 4-byte read of status */
	(void)gdrv_config_read(e.g, NET_CFG_MAC, 2);
	CHECK_EQ(diag_count(&e.dev->log, DIAG_CONFIG_WIDTH), 1);
	(void)gdrv_config_read(e.g, NET_CFG_STATUS, 4);
	CHECK_EQ(diag_count(&e.dev->log, DIAG_CONFIG_WIDTH), 2);
	/* beyond the config space */
	CHECK_EQ(gdrv_config_read(e.g, NET_CFG_SIZE, 1), 0);
	CHECK_EQ(diag_count(&e.dev->log, DIAG_CONFIG_RANGE), 1);
	/* status is read-only everywhere */
	gdrv_config_write(e.g, NET_CFG_STATUS, 2, 0);
	CHECK_EQ(diag_count(&e.dev->log, DIAG_CONFIG_READONLY), 1);
	CHECK_EQ(gdrv_config_read(e.g, NET_CFG_STATUS, 2), status);
	env_close(&e);
}

static void test_config_fields(void)
{
	static const uint8_t m2[6] = { 0x02, 0x11, 0x22, 0x33, 0x44, 0x55 };
	static const uint8_t dflt1[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x57 };

	check_config("mem=16M pci-modern:net", false, MAC0, 1, 1500, VIRTIO_NET_S_LINK_UP);
	check_config("mem=16M pci-legacy:net", true, MAC0, 1, 1500, VIRTIO_NET_S_LINK_UP);
	check_config("mem=16M mmio:net,mac=02:11:22:33:44:55,queues=3,mtu=9000,link=down", false,
		     m2, 3, 9000, 0);
	check_config("mem=16M mmio-legacy:net,mtu=68", false, MAC0, 1, 68, VIRTIO_NET_S_LINK_UP);

	/* the default MAC follows the device index */
	struct machine *m;
	char err[200];

	CHECK_EQ(rs_machine_new("mem=16M pci:net mmio:net", &m, err, sizeof err), 0);
	for (unsigned i = 0; i < 6; i++) {
		CHECK_EQ(m->devs[0]->config[i], MAC0[i]);
		CHECK_EQ(m->devs[1]->config[i], dflt1[i]);
	}
	rs_machine_free(m);
}

/* mac is writable on the legacy interface only (5.1.4.3). */
static void test_config_mac_write(void)
{
	static const uint8_t nm[6] = { 0x02, 0x77, 0x66, 0x55, 0x44, 0x33 };
	struct nenv e;
	uint8_t f[100];

	/* legacy: the MAC changes and the filter follows it */
	if (!env_open(&e, "mem=16M pci-legacy:net", true))
		return;
	CHECK(env_up(&e, F_BASE));
	for (unsigned i = 0; i < 6; i++)
		gdrv_config_write(e.g, NET_CFG_MAC + i, 1, nm[i]);
	for (unsigned i = 0; i < 6; i++)
		CHECK_EQ(gdrv_config_read(e.g, NET_CFG_MAC + i, 1), nm[i]);
	rx_fill(&e, 0, 4, SLOT);
	mkframe(f, nm, 100, 1);
	host_frame(&e, 0, f, 100);
	rx_expect(&e, 0, f, 100);
	mkframe(f, MAC0, 100, 2);
	host_frame(&e, 0, f, 100);
	rx_none(&e, 0);
	CHECK_EQ(st(&e)->rx_filtered, 1);
	env_check_clean(&e);
	env_close(&e);

	/* modern: read-only, reported, unchanged */
	if (!env_open(&e, "mem=16M pci-modern:net", false))
		return;
	CHECK(env_up(&e, F_BASE));
	gdrv_config_write(e.g, NET_CFG_MAC + 2, 1, 0x99);
	CHECK_EQ(gdrv_config_read(e.g, NET_CFG_MAC + 2, 1), MAC0[2]);
	CHECK_EQ(diag_count(&e.dev->log, DIAG_CONFIG_READONLY), 1);
	env_close(&e);
}

/* ---- MRG_RXBUF -------------------------------------------------------------------------- */

/* Read a frame that spans the used buffers (tokens are rx slots of pair 0,
 * each len bytes): returns the frame length, the header's num_buffers in
 * *nb. */
static uint32_t rx_gather(struct nenv *e, uint8_t *out, uint32_t cap, unsigned *nb)
{
	uint64_t tok;
	uint32_t len, got = 0;
	uint8_t hdr[12];
	unsigned n = 0, want = 1;

	while (n < want && rx_get(e, 0, &tok, &len) == 1) {
		uint64_t gpa = rx_slot(e, 0, (unsigned)tok);
		uint32_t skip = 0;

		if (n == 0) {
			e->io.mem_read(e->io.ctx, gpa, hdr, 12);
			want = rs_le16(hdr + 10);
			*nb = want;
			skip = 12;
		}
		if (len >= skip && got + len - skip <= cap)
			e->io.mem_read(e->io.ctx, gpa + skip, out + got, len - skip);
		got += len - skip;
		n++;
	}
	return got;
}

static void mrg_case(const char *spec, bool use_legacy, uint64_t want)
{
	struct nenv e;
	uint8_t f[3000], got[3000];
	uint64_t tok;
	uint32_t len;
	unsigned nb = 0;

	if (!env_open(&e, spec, use_legacy))
		return;
	if (!env_up(&e, want))
		goto out;
	CHECK_EQ(e.hlen, 12);
	/* 256-byte buffers: 12 + 1000 bytes take 4 of them */
	rx_fill(&e, 0, 8, 256);
	mkframe(f, MAC0, 1000, 3);
	tx(&e, 0, f, 1000);
	poll_ev(&e);
	CHECK_EQ(rx_gather(&e, got, sizeof got, &nb), 1000);
	CHECK_EQ(nb, 4);
	CHECK(memcmp(got, f, 1000) == 0);
	rx_none(&e, 0);

	/* 4 buffers are left from before, 4 more: a 2000-byte frame needs
	 * exactly these 8 */
	for (unsigned i = 0; i < 4; i++)
		rx_add(&e, 0, 8 + i, 256);
	rx_kick(&e, 0);
	mkframe(f, MAC0, 2000, 4);
	tx(&e, 0, f, 2000);
	poll_ev(&e);
	CHECK_EQ(rx_gather(&e, got, sizeof got, &nb), 2000);
	CHECK_EQ(nb, 8);
	CHECK(memcmp(got, f, 2000) == 0);

	/* A frame that needs more buffers than there are waits for the
	 * driver to add some. */
	rx_add(&e, 0, 20, 256);
	rx_add(&e, 0, 21, 256);
	rx_kick(&e, 0);
	mkframe(f, MAC0, 700, 5); /* 712 bytes: 3 buffers */
	tx(&e, 0, f, 700);
	poll_ev(&e);
	CHECK_EQ(rx_get(&e, 0, &tok, &len), 0);
	rx_add(&e, 0, 22, 256);
	rx_kick(&e, 0); /* the notify places the waiting frame */
	CHECK_EQ(rx_gather(&e, got, sizeof got, &nb), 700);
	CHECK_EQ(nb, 3);
	CHECK(memcmp(got, f, 700) == 0);
	env_check_clean(&e);
out:
	env_close(&e);
}

static void test_mrg_rxbuf(void)
{
	mrg_case("mem=16M pci-modern:net,mtu=9000", false, F_ALL & ~F(VIRTIO_F_RING_PACKED));
	mrg_case("mem=16M pci-modern:net,mtu=9000", false, F_ALL);
	mrg_case("mem=16M pci-legacy:net", true, F_ALL & ~F(VIRTIO_NET_F_MTU));
	mrg_case("mem=16M mmio:net", false, F_ALL & ~F(VIRTIO_NET_F_MTU));
}

/* Malformed rx buffers with MRG_RXBUF: readable parts and buffers smaller
 * than the header are returned unused; a frame larger than the whole ring
 * is dropped and the held buffers serve the next frame. */
static void test_mrg_bad_buffers(void)
{
	struct nenv e;
	uint8_t f[1200], got[1200];
	struct gdrv_buf b[2];
	uint64_t tok;
	uint32_t len;
	unsigned nb = 0;

	if (!env_open(&e, "mem=16M pci-modern:net", false))
		return;
	if (!env_up_sizes(&e, F_ALL & ~F(VIRTIO_F_RING_PACKED), 64, 8))
		goto out;
	rx_add(&e, 0, 0, 256);
	b[0] = (struct gdrv_buf){ rx_slot(&e, 0, 1), 16 };
	b[1] = (struct gdrv_buf){ rx_slot(&e, 0, 1) + 16, 256 };
	CHECK_EQ(gdrv_submit(&e.g->vq[0], b, 1, 1, 1, false), 0); /* readable part */
	rx_add(&e, 0, 2, 8);                                      /* below the header */
	rx_add(&e, 0, 3, 256);
	rx_add(&e, 0, 4, 256);
	rx_kick(&e, 0);
	mkframe(f, MAC0, 400, 9); /* 412 bytes: slots 0 and 3 */
	host_frame(&e, 0, f, 400);
	/* the bad ones come back first, unused */
	CHECK_EQ(rx_get(&e, 0, &tok, &len), 1);
	CHECK_EQ(tok, 1);
	CHECK_EQ(len, 0);
	CHECK_EQ(rx_get(&e, 0, &tok, &len), 1);
	CHECK_EQ(tok, 2);
	CHECK_EQ(len, 0);
	CHECK_EQ(rx_gather(&e, got, sizeof got, &nb), 400);
	CHECK_EQ(nb, 2);
	CHECK(memcmp(got, f, 400) == 0);
	CHECK_EQ(diag_count(&e.dev->log, DIAG_NET_RX_BUFFER), 2);
	CHECK_EQ(st(&e)->rx_bad_buffer, 2);

	/* ring of 8: slot 4 is held already; 7 more 64-byte buffers... */
	for (unsigned i = 0; i < 7; i++)
		rx_add(&e, 0, 10 + i, 64);
	rx_kick(&e, 0);
	/* ...cannot hold 1000 bytes: dropped, reported */
	mkframe(f, MAC0, 1000, 10);
	host_frame(&e, 0, f, 1000);
	CHECK_EQ(rx_get(&e, 0, &tok, &len), 0);
	CHECK_EQ(st(&e)->rx_too_small, 1);
	CHECK_EQ(diag_count(&e.dev->log, DIAG_NET_RX_BUFFER), 3);
	/* the held buffers take the next frame: 12 + 250 -> slot 4 (256) + 1 more */
	mkframe(f, MAC0, 250, 11);
	host_frame(&e, 0, f, 250);
	CHECK_EQ(rx_get(&e, 0, &tok, &len), 1);
	CHECK_EQ(tok, 4);
	CHECK_EQ(len, 256);
	CHECK_EQ(rx_get(&e, 0, &tok, &len), 1);
	CHECK_EQ(tok, 10);
	CHECK_EQ(len, 6);
	CHECK_EQ(rx_get(&e, 0, &tok, &len), 0); /* the other 6 stay held */
	CHECK_EQ(st(&e)->rx_frames, 2);
	/* the next frame continues with them: 12 + 100 in slots 11 and 12 */
	mkframe(f, MAC0, 100, 12);
	host_frame(&e, 0, f, 100);
	CHECK_EQ(rx_gather(&e, got, sizeof got, &nb), 100);
	CHECK_EQ(nb, 2);
	CHECK(memcmp(got, f, 100) == 0);
out:
	env_close(&e);
}

/* ---- rx buffers too small, wrong direction (no MRG_RXBUF) ------------------------------- */

static void test_rx_too_small(void)
{
	struct nenv e;
	uint8_t f[300];
	struct gdrv_buf b[2];
	uint64_t tok;
	uint32_t len;

	if (!env_open(&e, "mem=16M pci-modern:net", false))
		return;
	if (!env_up(&e, F_BASE))
		goto out;
	/* exactly header + frame fits */
	mkframe(f, MAC0, 200, 1);
	rx_add(&e, 0, 3, 12 + 200);
	rx_kick(&e, 0);
	host_frame(&e, 0, f, 200);
	CHECK_EQ(rx_check(&e, 0, f, 200, false), 3);
	rx_add(&e, 0, 0, 100); /* too small for 12 + 200 */
	rx_kick(&e, 0);
	host_frame(&e, 0, f, 200);
	CHECK_EQ(rx_get(&e, 0, &tok, &len), 1);
	CHECK_EQ(tok, 0);
	CHECK_EQ(len, 0);
	CHECK_EQ(st(&e)->rx_too_small, 1);
	CHECK_EQ(st(&e)->rx_frames, 1);
	CHECK_EQ(diag_count(&e.dev->log, DIAG_NET_RX_BUFFER), 1);

	/* a chain with a readable part is skipped, the next one is used */
	b[0] = (struct gdrv_buf){ rx_slot(&e, 0, 1), 8 };
	b[1] = (struct gdrv_buf){ rx_slot(&e, 0, 1) + 8, 1000 };
	CHECK_EQ(gdrv_submit(&e.g->vq[0], b, 1, 1, 1, false), 0);
	rx_add(&e, 0, 2, SLOT);
	rx_kick(&e, 0);
	host_frame(&e, 0, f, 200);
	CHECK_EQ(rx_get(&e, 0, &tok, &len), 1);
	CHECK_EQ(tok, 1);
	CHECK_EQ(len, 0);
	rx_expect(&e, 0, f, 200);
	CHECK_EQ(st(&e)->rx_bad_buffer, 1);
	CHECK_EQ(st(&e)->rx_frames, 2);
out:
	env_close(&e);
}

/* ---- tx rules --------------------------------------------------------------------------- */

static void test_runt_padding(void)
{
	struct nenv e;
	uint8_t f[64], want[60];

	if (!env_open(&e, "mem=16M pci-modern:net", false))
		return;
	if (!env_up(&e, F_BASE))
		goto out;
	rx_fill(&e, 0, 4, SLOT);
	for (uint32_t n = 14; n < 60; n += 45) {
		mkframe(f, MAC0, n, n);
		tx(&e, 0, f, n);
		poll_ev(&e);
		memset(want, 0, sizeof want);
		memcpy(want, f, n);
		rx_expect(&e, 0, want, 60);
	}
	CHECK_EQ(st(&e)->tx_padded, 2);
	/* shorter than an Ethernet header: dropped, reported */
	tx(&e, 0, f, 13);
	CHECK_EQ(poll_ev(&e), 0);
	CHECK_EQ(st(&e)->tx_malformed, 1);
	CHECK_EQ(diag_count(&e.dev->log, DIAG_NET_TX), 1);
out:
	env_close(&e);
}

static void test_oversize(void)
{
	struct nenv e;
	static uint8_t f[NET_FRAME_MAX + 2];

	/* MTU negotiated: mtu + 14 (+ 4 tagged) passes, one more byte does not */
	if (!env_open(&e, "mem=16M pci-modern:net,mtu=1500", false))
		return;
	if (!env_up(&e, F_BASE | F(VIRTIO_NET_F_MTU)))
		goto out;
	rx_fill(&e, 0, 8, SLOT);
	mkframe(f, MAC0, 1514, 1);
	tx(&e, 0, f, 1514);
	poll_ev(&e);
	rx_expect(&e, 0, f, 1514);
	mkframe_vlan(f, MAC0, 1518, 7);
	tx(&e, 0, f, 1518);
	poll_ev(&e);
	rx_expect(&e, 0, f, 1518);
	mkframe(f, MAC0, 1515, 2);
	tx(&e, 0, f, 1515);
	CHECK_EQ(poll_ev(&e), 0);
	CHECK_EQ(st(&e)->tx_oversize, 1);
	CHECK_EQ(diag_count(&e.dev->log, DIAG_NET_TX), 1);
	/* rx side: a host frame above the mtu is not passed (5.1.4.1) */
	host_frame(&e, 0, f, 1515);
	rx_none(&e, 0);
	CHECK_EQ(st(&e)->rx_oversize, 1);
	env_close(&e);

	/* MTU not negotiated: the limit is NET_FRAME_MAX */
	if (!env_open(&e, "mem=16M pci-modern:net,backend=none", false))
		return;
	if (!env_up(&e, F_BASE))
		goto out;
	mkframe(f, MAC0, NET_FRAME_MAX + 1, 3);
	tx(&e, 0, f, NET_FRAME_MAX + 1);
	CHECK_EQ(st(&e)->tx_oversize, 1);
	tx(&e, 0, f, NET_FRAME_MAX);
	CHECK_EQ(st(&e)->tx_frames, 1);
	CHECK_EQ(st(&e)->tx_bytes, NET_FRAME_MAX);
out:
	env_close(&e);
}

/* Malformed tx chains: each dropped with a diagnostic and completed with
 * length 0; the next good frame goes through. */
static void test_tx_malformed(void)
{
	struct nenv e;
	uint8_t f[200], hdr[12];
	struct gdrv_buf b[2];
	uint64_t tok;
	uint32_t len;

	if (!env_open(&e, "mem=16M pci-modern:net", false))
		return;
	if (!env_up(&e, F_BASE))
		goto out;
	rx_fill(&e, 0, 4, SLOT);
	mkframe(f, MAC0, 200, 1);
	/* NEEDS_CSUM without VIRTIO_NET_F_CSUM */
	memset(hdr, 0, sizeof hdr);
	hdr[0] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	tx_raw(&e, 0, hdr, f, 200);
	/* gso_type TCPV4 without HOST_TSO4 */
	memset(hdr, 0, sizeof hdr);
	hdr[1] = 1;
	tx_raw(&e, 0, hdr, f, 200);
	CHECK_EQ(st(&e)->tx_malformed, 2);
	/* shorter than the header */
	b[0] = (struct gdrv_buf){ e.txpool, 8 };
	CHECK_EQ(gdrv_submit(&e.g->vq[1], b, 1, 0, 5, false), 0);
	/* a device-writable part in a tx chain */
	b[0] = (struct gdrv_buf){ e.txpool + SLOT, 12 + 100 };
	b[1] = (struct gdrv_buf){ e.txpool + 2 * SLOT, 64 };
	CHECK_EQ(gdrv_submit(&e.g->vq[1], b, 1, 1, 6, false), 0);
	gdrv_kick(&e.g->vq[1]);
	for (unsigned i = 0; i < 2; i++) {
		CHECK_EQ(gdrv_get_used(&e.g->vq[1], &tok, &len), 1);
		CHECK_EQ(len, 0);
	}
	CHECK_EQ(st(&e)->tx_malformed, 4);
	CHECK_EQ(diag_count(&e.dev->log, DIAG_NET_TX), 4);
	CHECK_EQ(poll_ev(&e), 0);
	/* header and frame in separate descriptors (any layout) is fine; the
	 * DATA_VALID flag is ignored on tx */
	memset(hdr, 0, sizeof hdr);
	hdr[0] = VIRTIO_NET_HDR_F_DATA_VALID;
	e.io.mem_write(e.io.ctx, e.txpool, hdr, 12);
	e.io.mem_write(e.io.ctx, e.txpool + SLOT, f, 200);
	b[0] = (struct gdrv_buf){ e.txpool, 12 };
	b[1] = (struct gdrv_buf){ e.txpool + SLOT, 200 };
	CHECK_EQ(gdrv_submit(&e.g->vq[1], b, 2, 0, 7, true), 0);
	gdrv_kick(&e.g->vq[1]);
	CHECK_EQ(gdrv_get_used(&e.g->vq[1], &tok, &len), 1);
	CHECK_EQ(tok, 7);
	CHECK_EQ(poll_ev(&e), 1);
	rx_expect(&e, 0, f, 200);
	CHECK_EQ(st(&e)->tx_frames, 1);
out:
	env_close(&e);
}

/* ---- control queue ---------------------------------------------------------------------- */

static void test_ctrl_commands(void)
{
	struct nenv e;
	uint32_t used;
	static const uint8_t nm[6] = { 0x02, 0x01, 0x02, 0x03, 0x04, 0x05 };

	if (!env_open(&e, "mem=16M pci-modern:net,queues=2", false))
		return;
	if (!env_up(&e, F_ALL))
		goto out;
	CHECK_EQ(e.ctrlq, 4);
	/* every rx mode on and off */
	for (uint8_t cmd = 0; cmd <= VIRTIO_NET_CTRL_RX_NOBCAST; cmd++) {
		CHECK_EQ(ctrl_u8(&e, VIRTIO_NET_CTRL_RX, cmd, 1), VIRTIO_NET_OK);
		CHECK_EQ(ctrl_u8(&e, VIRTIO_NET_CTRL_RX, cmd, 0), VIRTIO_NET_OK);
	}
	CHECK_EQ(ctrl_table(&e, &UTAB, 1, &MTAB, 1), VIRTIO_NET_OK);
	CHECK_EQ(ctrl_table(&e, NULL, 0, NULL, 0), VIRTIO_NET_OK);
	CHECK_EQ(ctrl(&e, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET, nm, 6), VIRTIO_NET_OK);
	for (unsigned i = 0; i < 6; i++)
		CHECK_EQ(gdrv_config_read(e.g, NET_CFG_MAC + i, 1), nm[i]);
	CHECK_EQ(ctrl_u16(&e, VIRTIO_NET_CTRL_VLAN, VIRTIO_NET_CTRL_VLAN_ADD, 4095), VIRTIO_NET_OK);
	CHECK_EQ(ctrl_u16(&e, VIRTIO_NET_CTRL_VLAN, VIRTIO_NET_CTRL_VLAN_DEL, 4095), VIRTIO_NET_OK);
	CHECK_EQ(set_pairs(&e, 2), VIRTIO_NET_OK);
	CHECK_EQ(set_pairs(&e, 1), VIRTIO_NET_OK);
	/* legacy framing: class+command and data in separate descriptors */
	CHECK_EQ(ctrl_full(&e, VIRTIO_NET_CTRL_RX, 0, "\x01", 1, 1, true, &used), VIRTIO_NET_OK);
	CHECK_EQ(used, 1);
	CHECK_EQ(st(&e)->ctrl_ok, 20);
	CHECK_EQ(st(&e)->ctrl_err, 0);
	env_check_clean(&e);
out:
	env_close(&e);
}

/* Every malformed command answers ERR (or, without an ack byte, is not
 * executed), is reported, changes nothing, and the next good one works. */
static void test_ctrl_malformed(void)
{
	struct nenv e;
	uint8_t d[1000];
	uint32_t used, n = 0;
	static const uint8_t mc[6] = { 0x03, 0x01, 0x02, 0x03, 0x04, 0x05 };

	if (!env_open(&e, "mem=16M pci-modern:net,queues=2", false))
		return;
	if (!env_up(&e, F_ALL))
		goto out;
	memset(d, 0, sizeof d);
#define BAD(expr)                                                                 \
	do {                                                                      \
		CHECK_EQ((expr), VIRTIO_NET_ERR);                                 \
		n++;                                                              \
		CHECK_EQ(diag_count(&e.dev->log, DIAG_NET_CTRL), n);              \
		CHECK_EQ(ctrl_u8(&e, VIRTIO_NET_CTRL_RX, 0, 0), VIRTIO_NET_OK);   \
	} while (0)
	/* header: one byte only; class and command without data */
	BAD(ctrl_short(&e));
	BAD(ctrl(&e, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, NULL, 0));
	/* unknown class, unknown commands */
	BAD(ctrl_u8(&e, 200, 0, 0));
	BAD(ctrl_u8(&e, VIRTIO_NET_CTRL_RX, 6, 1));
	BAD(ctrl_u8(&e, VIRTIO_NET_CTRL_MAC, 2, 1));
	BAD(ctrl_u16(&e, VIRTIO_NET_CTRL_VLAN, 2, 1));
	BAD(ctrl_u16(&e, VIRTIO_NET_CTRL_MQ, 1, 1)); /* RSS_CONFIG: not offered */
	BAD(ctrl_u8(&e, VIRTIO_NET_CTRL_ANNOUNCE, 0, 0));
	BAD(ctrl(&e, VIRTIO_NET_CTRL_GUEST_OFFLOADS, 0, d, 8));
	/* rx modes: wrong length, value */
	BAD(ctrl(&e, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, d, 0));
	BAD(ctrl(&e, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, d, 2));
	BAD(ctrl_u8(&e, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_NOBCAST, 2));
	/* MAC_TABLE_SET: count missing, entries past the data, leftovers,
	 * second count missing, huge count */
	BAD(ctrl(&e, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, d, 3));
	memset(d, 0, sizeof d);
	rs_st32(d, 2);
	BAD(ctrl(&e, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, d, 4 + 6 + 4));
	rs_st32(d, 0);
	rs_st32(d + 4, 0);
	BAD(ctrl(&e, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, d, 9));
	BAD(ctrl(&e, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, d, 4));
	rs_st32(d, 0xffffffffu);
	BAD(ctrl(&e, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, d, 8));
	rs_st32(d, 0);
	rs_st32(d + 4, 0x80000000u);
	BAD(ctrl(&e, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, d, 8));
	/* MAC_ADDR_SET: length, multicast */
	BAD(ctrl(&e, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET, d, 5));
	BAD(ctrl(&e, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET, mc, 6));
	for (unsigned i = 0; i < 6; i++)
		CHECK_EQ(gdrv_config_read(e.g, NET_CFG_MAC + i, 1), MAC0[i]);
	/* VLAN: length, id */
	BAD(ctrl(&e, VIRTIO_NET_CTRL_VLAN, VIRTIO_NET_CTRL_VLAN_ADD, d, 1));
	BAD(ctrl_u16(&e, VIRTIO_NET_CTRL_VLAN, VIRTIO_NET_CTRL_VLAN_ADD, 4096));
	/* MQ: 0 pairs, more than max, length */
	BAD(ctrl_u16(&e, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, 0));
	BAD(ctrl_u16(&e, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, 3));
	BAD(ctrl(&e, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, d, 3));
	/* no ack byte: not executed, used length 0 */
	CHECK_EQ(ctrl_full(&e, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, "\x01", 1, 0, false,
			   &used), -1);
	CHECK_EQ(used, 0);
	n++;
	CHECK_EQ(diag_count(&e.dev->log, DIAG_NET_CTRL), n);
	CHECK(!((struct net *)e.dev->priv)->promisc);
	/* a larger writable part: only the ack is written */
	CHECK_EQ(ctrl_full(&e, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, "\x01", 1, 16, false,
			   &used), VIRTIO_NET_OK);
	CHECK_EQ(used, 1);
	CHECK(((struct net *)e.dev->priv)->promisc);
	/* nothing broke the device */
	CHECK(!(gdrv_get_status(e.g) & VIRTIO_STATUS_NEEDS_RESET));
#undef BAD
out:
	env_close(&e);
}

/* Commands of features the driver did not negotiate answer ERR. */
static void test_ctrl_not_negotiated(void)
{
	struct nenv e;

	if (!env_open(&e, "mem=16M pci-modern:net,queues=2", false))
		return;
	if (!env_up(&e, F_BASE | F(VIRTIO_NET_F_CTRL_VQ)))
		goto out;
	CHECK_EQ(e.ctrlq, 2); /* no MQ: controlq follows one pair (5.1.2) */
	CHECK_EQ(ctrl_u8(&e, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, 1), VIRTIO_NET_ERR);
	CHECK_EQ(ctrl_u8(&e, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_NOUNI, 1), VIRTIO_NET_ERR);
	CHECK_EQ(ctrl_table(&e, NULL, 0, NULL, 0), VIRTIO_NET_ERR);
	CHECK_EQ(ctrl(&e, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET, OTHER, 6),
		 VIRTIO_NET_ERR);
	CHECK_EQ(ctrl_u16(&e, VIRTIO_NET_CTRL_VLAN, VIRTIO_NET_CTRL_VLAN_ADD, 1), VIRTIO_NET_ERR);
	CHECK_EQ(ctrl_u16(&e, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, 1),
		 VIRTIO_NET_ERR);
	CHECK_EQ(diag_count(&e.dev->log, DIAG_NET_CTRL), 6);
	CHECK_EQ(st(&e)->ctrl_err, 6);
out:
	env_close(&e);

	/* 1.x: control features without CTRL_VQ are refused at FEATURES_OK */
	if (!env_open(&e, "mem=16M pci-modern:net", false))
		return;
	CHECK(gdrv_init(e.g, F_BASE | F(VIRTIO_NET_F_CTRL_RX)) != 0);
	CHECK_EQ(diag_count(&e.dev->log, DIAG_FEATURES_INVALID), 1);
	env_close(&e);

	/* legacy has no FEATURES_OK: MQ without CTRL_VQ just does nothing, and
	 * queue 2 is no queue then */
	if (!env_open(&e, "mem=16M pci-legacy:net,queues=2", true))
		return;
	CHECK_EQ(gdrv_init(e.g, F_BASE | F(VIRTIO_NET_F_MQ)), 0);
	for (unsigned q = 0; q < 3; q++)
		CHECK_EQ(gdrv_setup_vq(e.g, q, 16), 0);
	gdrv_driver_ok(e.g);
	{
		struct gdrv_buf b = { e.txpool, 16 };
		CHECK_EQ(gdrv_submit(&e.g->vq[2], &b, 1, 0, 1, false), 0);
		gdrv_kick(&e.g->vq[2]);
	}
	CHECK_EQ(diag_count(&e.dev->log, DIAG_QUEUE_SELECT), 1);
	env_close(&e);
}

/* ---- rx filter -------------------------------------------------------------------------- */

enum { FR_OWN, FR_OTHER, FR_UTAB, FR_MTAB, FR_MOTHER, FR_BCAST, FR_N };
static const uint8_t *const fr_dst[FR_N] = { MAC0, OTHER, UTAB, MTAB, MOTHER, BCAST };

/* Deliver one frame to each destination; returns a bit mask of those the
 * device passed. */
static unsigned filter_probe(struct nenv *e)
{
	uint8_t f[80];
	unsigned got = 0;

	for (unsigned k = 0; k < FR_N; k++) {
		uint64_t tok;
		uint32_t len;

		mkframe(f, fr_dst[k], 80, k);
		host_frame(e, 0, f, 80);
		if (rx_get(e, 0, &tok, &len) == 1) {
			got |= 1u << k;
			CHECK_EQ(len, e->hlen + 80);
			rx_add(e, 0, (unsigned)tok, SLOT);
			rx_kick(e, 0);
		}
	}
	return got;
}

#define B(k) (1u << (k))
#define ALL_FR (B(FR_N) - 1)

/* rx mode bits for set_modes() */
#define M_PROMISC B(VIRTIO_NET_CTRL_RX_PROMISC)
#define M_ALLMULTI B(VIRTIO_NET_CTRL_RX_ALLMULTI)
#define M_ALLUNI B(VIRTIO_NET_CTRL_RX_ALLUNI)
#define M_NOMULTI B(VIRTIO_NET_CTRL_RX_NOMULTI)
#define M_NOUNI B(VIRTIO_NET_CTRL_RX_NOUNI)
#define M_NOBCAST B(VIRTIO_NET_CTRL_RX_NOBCAST)

static void set_modes(struct nenv *e, unsigned modes)
{
	for (uint8_t cmd = 0; cmd <= VIRTIO_NET_CTRL_RX_NOBCAST; cmd++)
		CHECK_EQ(ctrl_u8(e, VIRTIO_NET_CTRL_RX, cmd, (modes >> cmd) & 1), VIRTIO_NET_OK);
}

static void test_filter_table(void)
{
	static const struct {
		unsigned modes;
		bool table;
		unsigned pass;
	} cases[] = {
		/* no table: own MAC and broadcast */
		{ 0, false, B(FR_OWN) | B(FR_BCAST) },
		{ 0, true, B(FR_OWN) | B(FR_UTAB) | B(FR_MTAB) | B(FR_BCAST) },
		{ M_PROMISC, false, ALL_FR },
		{ M_PROMISC, true, ALL_FR },
		{ M_PROMISC | M_NOUNI | M_NOMULTI | M_NOBCAST, false, ALL_FR },
		{ M_ALLMULTI, false, B(FR_OWN) | B(FR_MTAB) | B(FR_MOTHER) | B(FR_BCAST) },
		{ M_ALLMULTI, true,
		  B(FR_OWN) | B(FR_UTAB) | B(FR_MTAB) | B(FR_MOTHER) | B(FR_BCAST) },
		{ M_ALLUNI, false, B(FR_OWN) | B(FR_OTHER) | B(FR_UTAB) | B(FR_BCAST) },
		{ M_ALLUNI, true, B(FR_OWN) | B(FR_OTHER) | B(FR_UTAB) | B(FR_MTAB) | B(FR_BCAST) },
		{ M_NOMULTI, true, B(FR_OWN) | B(FR_UTAB) | B(FR_BCAST) },
		{ M_NOMULTI | M_ALLMULTI, true, B(FR_OWN) | B(FR_UTAB) | B(FR_BCAST) },
		{ M_NOUNI, true, B(FR_MTAB) | B(FR_BCAST) },
		{ M_NOUNI | M_ALLUNI, true, B(FR_MTAB) | B(FR_BCAST) },
		{ M_NOBCAST, true, B(FR_OWN) | B(FR_UTAB) | B(FR_MTAB) },
		{ M_NOBCAST | M_ALLMULTI, false, B(FR_OWN) | B(FR_MTAB) | B(FR_MOTHER) },
		{ M_NOUNI | M_NOMULTI | M_NOBCAST, true, 0 },
	};
	struct nenv e;

	if (!env_open(&e, "mem=16M pci-modern:net", false))
		return;
	if (!env_up(&e, F_ALL))
		goto out;
	rx_fill(&e, 0, 16, SLOT);
	CHECK_EQ(filter_probe(&e), B(FR_OWN) | B(FR_BCAST)); /* power-on state */
	for (unsigned i = 0; i < RS_ARRAY_SIZE(cases); i++) {
		set_modes(&e, cases[i].modes);
		if (cases[i].table)
			CHECK_EQ(ctrl_table(&e, &UTAB, 1, &MTAB, 1), VIRTIO_NET_OK);
		else
			CHECK_EQ(ctrl_table(&e, NULL, 0, NULL, 0), VIRTIO_NET_OK);
		unsigned got = filter_probe(&e);
		CHECK_EQ(got, cases[i].pass);
		if (got != cases[i].pass)
			fprintf(stderr, "  filter case %u (modes 0x%x, table %d)\n", i,
				cases[i].modes, cases[i].table);
	}
	/* a table too big for the device: every address of that kind passes
	 * (the spec's footnote to 5.1.6.5.2) */
	set_modes(&e, 0);
	{
		static uint8_t many[NET_MAC_TABLE_MAX + 1][6];
		for (unsigned i = 0; i <= NET_MAC_TABLE_MAX; i++) {
			many[i][0] = 0x02;
			many[i][5] = (uint8_t)i;
		}
		CHECK_EQ(ctrl_table(&e, many, NET_MAC_TABLE_MAX + 1, NULL, 0), VIRTIO_NET_OK);
		CHECK_EQ(filter_probe(&e), B(FR_OWN) | B(FR_OTHER) | B(FR_UTAB) | B(FR_BCAST));
		for (unsigned i = 0; i <= NET_MAC_TABLE_MAX; i++)
			many[i][0] = 0x01;
		CHECK_EQ(ctrl_table(&e, &UTAB, 1, many, NET_MAC_TABLE_MAX + 1), VIRTIO_NET_OK);
		CHECK_EQ(filter_probe(&e),
			 B(FR_OWN) | B(FR_UTAB) | B(FR_MTAB) | B(FR_MOTHER) | B(FR_BCAST));
		/* exactly the limit is kept as a table */
		CHECK_EQ(ctrl_table(&e, many, NET_MAC_TABLE_MAX, NULL, 0), VIRTIO_NET_OK);
		CHECK_EQ(filter_probe(&e), B(FR_OWN) | B(FR_BCAST));
	}
	/* MAC_ADDR_SET moves the unicast filter */
	CHECK_EQ(ctrl(&e, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET, OTHER, 6),
		 VIRTIO_NET_OK);
	CHECK_EQ(filter_probe(&e), B(FR_OTHER) | B(FR_BCAST));
	env_check_clean(&e);
out:
	env_close(&e);

	/* without CTRL_RX nothing can be programmed: all multicast passes */
	if (!env_open(&e, "mem=16M mmio:net", false))
		return;
	if (!env_up(&e, F_BASE))
		goto out2;
	rx_fill(&e, 0, 16, SLOT);
	CHECK_EQ(filter_probe(&e), B(FR_OWN) | B(FR_MTAB) | B(FR_MOTHER) | B(FR_BCAST));
	CHECK_EQ(st(&e)->rx_filtered, 2);
out2:
	env_close(&e);
}

static void test_vlan_filter(void)
{
	struct nenv e;
	uint8_t f[100], u[100];
	uint64_t tok;
	uint32_t len;

	if (!env_open(&e, "mem=16M pci-modern:net", false))
		return;
	if (!env_up(&e, F_ALL))
		goto out;
	rx_fill(&e, 0, 8, SLOT);
	mkframe_vlan(f, MAC0, 100, 5);
	mkframe(u, MAC0, 100, 1);
	host_frame(&e, 0, f, 100);
	rx_none(&e, 0); /* empty VLAN table: tagged frames dropped */
	host_frame(&e, 0, u, 100);
	rx_expect(&e, 0, u, 100); /* untagged ones pass */
	CHECK_EQ(ctrl_u16(&e, VIRTIO_NET_CTRL_VLAN, VIRTIO_NET_CTRL_VLAN_ADD, 5), VIRTIO_NET_OK);
	host_frame(&e, 0, f, 100);
	rx_expect(&e, 0, f, 100);
	mkframe_vlan(f, MAC0, 100, 6);
	host_frame(&e, 0, f, 100);
	rx_none(&e, 0);
	/* the VID is the low 12 bits of the TCI (PCP and DEI ignored) */
	mkframe_vlan(f, MAC0, 100, 5 | 0xf000); /* PCP 7, DEI 1 */
	host_frame(&e, 0, f, 100);
	rx_expect(&e, 0, f, 100);
	CHECK_EQ(ctrl_u16(&e, VIRTIO_NET_CTRL_VLAN, VIRTIO_NET_CTRL_VLAN_DEL, 5), VIRTIO_NET_OK);
	mkframe_vlan(f, MAC0, 100, 5);
	host_frame(&e, 0, f, 100);
	rx_none(&e, 0);
	/* promiscuous mode takes tagged frames too */
	CHECK_EQ(ctrl_u8(&e, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, 1), VIRTIO_NET_OK);
	host_frame(&e, 0, f, 100);
	CHECK_EQ(rx_get(&e, 0, &tok, &len), 1);
	CHECK_EQ(st(&e)->rx_filtered, 3);
out:
	env_close(&e);

	/* without CTRL_VLAN every tagged frame passes (5.1.6.5.3) */
	if (!env_open(&e, "mem=16M pci-modern:net", false))
		return;
	if (!env_up(&e, F_ALL & ~F(VIRTIO_NET_F_CTRL_VLAN)))
		goto out2;
	rx_fill(&e, 0, 8, SLOT);
	mkframe_vlan(f, MAC0, 100, 77);
	host_frame(&e, 0, f, 100);
	rx_expect(&e, 0, f, 100);
out2:
	env_close(&e);
}

/* ---- multiqueue ------------------------------------------------------------------------- */

static void test_mq_two_pairs(void)
{
	struct nenv e;
	uint8_t f[200];

	if (!env_open(&e, "mem=16M pci-modern:net,queues=2", false))
		return;
	if (!env_up(&e, F_ALL))
		goto out;
	CHECK_EQ(e.pairs, 2);
	CHECK_EQ(e.ctrlq, 4);
	rx_fill(&e, 0, 8, SLOT);
	rx_fill(&e, 1, 8, SLOT);
	/* before VQ_PAIRS_SET only receiveq1 is used (5.1.6.5, automatic receive steering) */
	mkframe(f, MAC0, 200, 1);
	host_frame(&e, 1, f, 200);
	rx_expect(&e, 0, f, 200);
	rx_none(&e, 1);
	CHECK_EQ(set_pairs(&e, 2), VIRTIO_NET_OK);
	/* a frame sent on transmitq2 loops back to receiveq2 */
	mkframe(f, MAC0, 150, 2);
	tx(&e, 1, f, 150);
	poll_ev(&e);
	rx_expect(&e, 1, f, 150);
	rx_none(&e, 0);
	/* and transmitq1 to receiveq1 */
	mkframe(f, MAC0, 160, 3);
	tx(&e, 0, f, 160);
	poll_ev(&e);
	rx_expect(&e, 0, f, 160);
	rx_none(&e, 1);
	/* port 3 steers to pair 3 % 2 */
	host_frame(&e, 3, f, 160);
	rx_expect(&e, 1, f, 160);
	/* frames waiting on pair 2 are dropped when it is switched off */
	for (unsigned i = 0; i < 8; i++) {
		uint64_t tok;
		uint32_t len;
		host_frame(&e, 1, f, 160);
		CHECK_EQ(rx_get(&e, 1, &tok, &len), 1);
	}
	host_frame(&e, 1, f, 160); /* no buffer left: waits */
	host_frame(&e, 1, f, 160);
	CHECK_EQ(set_pairs(&e, 1), VIRTIO_NET_OK);
	CHECK_EQ(st(&e)->rx_pair_dropped, 2);
	rx_fill(&e, 1, 2, SLOT);
	rx_none(&e, 1);
	host_frame(&e, 1, f, 160);
	rx_expect(&e, 0, f, 160);
	env_check_clean(&e);
out:
	env_close(&e);
}

/* ---- link, readiness, bounded queue ----------------------------------------------------- */

static void test_link_events(void)
{
	struct nenv e;
	uint8_t f[100];
	uint32_t gen;

	if (!env_open(&e, "mem=16M pci-modern:net,link=down", false))
		return;
	/* before DRIVER_OK frames are not taken */
	mkframe(f, MAC0, 100, 1);
	host_frame(&e, 0, f, 100);
	CHECK_EQ(st(&e)->rx_not_ready, 1);
	if (!env_up(&e, F_BASE))
		goto out;
	rx_fill(&e, 0, 4, SLOT);
	CHECK_EQ(gdrv_config_read(e.g, NET_CFG_STATUS, 2), 0);
	tx(&e, 0, f, 100);
	CHECK_EQ(st(&e)->tx_link_down, 1);
	CHECK_EQ(poll_ev(&e), 0);
	host_frame(&e, 0, f, 100);
	rx_none(&e, 0);
	CHECK_EQ(st(&e)->rx_not_ready, 2);
	gen = gdrv_config_generation(e.g);
	(void)gdrv_ack_isr(e.g);
	host_event(&e, WEV_HOST, NET_HOST_LINK_UP);
	CHECK_EQ(gdrv_config_read(e.g, NET_CFG_STATUS, 2), VIRTIO_NET_S_LINK_UP);
	CHECK(gdrv_config_generation(e.g) != gen);
	CHECK(gdrv_ack_isr(e.g) & VIRTIO_ISR_CONFIG);
	tx(&e, 0, f, 100);
	poll_ev(&e);
	rx_expect(&e, 0, f, 100);
	/* same state again: no change; unknown arg and kinds: ignored */
	gen = gdrv_config_generation(e.g);
	host_event(&e, WEV_HOST, NET_HOST_LINK_UP);
	host_event(&e, WEV_HOST, 7);
	host_event(&e, WEV_CONSOLE_RESIZE, 1);
	CHECK_EQ(gdrv_config_generation(e.g), gen);
	host_event(&e, WEV_HOST, NET_HOST_LINK_DOWN);
	CHECK_EQ(gdrv_config_read(e.g, NET_CFG_STATUS, 2), 0);
	/* a runt from the host is dropped */
	host_frame(&e, 0, f, 10);
	CHECK_EQ(st(&e)->rx_runt, 1);
	env_check_clean(&e);
out:
	env_close(&e);
}

static void test_rx_queue_bounded(void)
{
	struct nenv e;
	static uint8_t f[60000];
	uint64_t tok;
	uint32_t len;
	unsigned got = 0;

	if (!env_open(&e, "mem=16M pci-modern:net", false))
		return;
	if (!env_up(&e, F_BASE | F(VIRTIO_NET_F_MRG_RXBUF)))
		goto out;
	/* no rx buffers: frames wait, up to NET_RX_QUEUE_FRAMES */
	for (unsigned i = 0; i < NET_RX_QUEUE_FRAMES + 10; i++) {
		mkframe(f, MAC0, 60, i);
		host_frame(&e, 0, f, 60);
	}
	CHECK_EQ(st(&e)->rx_queue_full, 10);
	/* buffers come: the oldest frames first */
	for (unsigned round = 0; round < 8; round++) {
		rx_fill(&e, 0, 32, 128);
		while (rx_get(&e, 0, &tok, &len) == 1) {
			uint8_t b[60];
			e.io.mem_read(e.io.ctx, rx_slot(&e, 0, (unsigned)tok) + 12, b, 60);
			mkframe(f, MAC0, 60, got);
			CHECK(memcmp(b, f, 60) == 0);
			CHECK_EQ(len, 72);
			got++;
		}
	}
	CHECK_EQ(got, NET_RX_QUEUE_FRAMES);
	/* and bytes: NET_RX_QUEUE_BYTES */
	mkframe(f, MAC0, 60000, 1);
	for (unsigned i = 0; i < 20; i++)
		host_frame(&e, 0, f, 60000);
	CHECK_EQ(st(&e)->rx_queue_full, 10 + 20 - NET_RX_QUEUE_BYTES / 60000);
out:
	env_close(&e);
}

/* ---- reset ------------------------------------------------------------------------------ */

static void test_reset(void)
{
	struct nenv e, fresh;
	uint8_t f[100];
	uint64_t busy;
	static const uint8_t nm[6] = { 0x02, 0x01, 0x02, 0x03, 0x04, 0x05 };

	if (!env_open(&e, "mem=16M pci-modern:net,queues=2", false))
		return;
	if (!env_up(&e, F_ALL))
		goto out;
	CHECK_EQ(ctrl_u8(&e, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, 1), VIRTIO_NET_OK);
	CHECK_EQ(ctrl_table(&e, &UTAB, 1, &MTAB, 1), VIRTIO_NET_OK);
	CHECK_EQ(ctrl_u16(&e, VIRTIO_NET_CTRL_VLAN, VIRTIO_NET_CTRL_VLAN_ADD, 9), VIRTIO_NET_OK);
	CHECK_EQ(ctrl(&e, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET, nm, 6), VIRTIO_NET_OK);
	CHECK_EQ(set_pairs(&e, 2), VIRTIO_NET_OK);
	/* frames waiting (no rx buffers) and held buffers (MRG) */
	mkframe(f, MAC0, 100, 1);
	host_frame(&e, 0, f, 100);
	host_frame(&e, 1, f, 100);
	rx_add(&e, 1, 0, 64);
	rx_kick(&e, 1);
	host_frame(&e, 1, f, 100);
	busy = vdev_state_hash(e.dev);
	gdrv_reset(e.g);
	CHECK_EQ(gdrv_get_status(e.g), 0);
	/* back to the power-on state: same snapshot as a new device */
	if (env_open(&fresh, "mem=16M pci-modern:net,queues=2", false)) {
		CHECK_EQ(vdev_state_hash(e.dev), vdev_state_hash(fresh.dev));
		CHECK(busy != vdev_state_hash(fresh.dev));
		env_close(&fresh);
	}
	for (unsigned i = 0; i < 6; i++)
		CHECK_EQ(e.dev->config[i], MAC0[i]);
	/* and it works again, with empty filters and nothing stale */
	if (!env_up(&e, F_ALL))
		goto out;
	rx_fill(&e, 0, 8, SLOT);
	rx_none(&e, 0);
	CHECK_EQ(filter_probe(&e), B(FR_OWN) | B(FR_BCAST));
	tx(&e, 0, f, 100);
	poll_ev(&e);
	rx_expect(&e, 0, f, 100);
out:
	env_close(&e);
}

/* ---- options ---------------------------------------------------------------------------- */

static void test_options(void)
{
	static const struct {
		const char *spec;
		const char *msg;
	} bad[] = {
		{ "pci:net,queues=0", "option 'queues'" },
		{ "pci:net,queues=9", "option 'queues'" },
		{ "pci:net,queues=x", "option 'queues'" },
		{ "pci:net,mtu=67", "option 'mtu'" },
		{ "pci:net,mtu=65519", "option 'mtu'" },
		{ "pci:net,mtu=1k5", "option 'mtu'" },
		{ "pci:net,mac=52:54:00:12:34", "option 'mac'" },
		{ "pci:net,mac=52:54:00:12:34:5g", "option 'mac'" },
		{ "pci:net,mac=52-54-00-12-34-56", "option 'mac'" },
		{ "pci:net,mac=52:54:00:12:34:567", "option 'mac'" },
		{ "pci:net,mac=01:00:5e:00:00:01", "multicast" },
		{ "pci:net,link=sideways", "option 'link'" },
		{ "pci:net,backend=tap", "option 'backend'" },
		{ "pci:net,hostfwd=tcp::1-:2", "option 'hostfwd'" },
		{ "pci:net,pcap=/nonexistent-dir/x.pcap", "option 'pcap'" },
		{ "pci:net,pcap", "option 'pcap'" },
		{ "pci:net,color=blue", "unknown option 'color'" },
	};
	char err[256];
	struct machine *m;

	for (unsigned i = 0; i < RS_ARRAY_SIZE(bad); i++) {
		err[0] = '\0';
		CHECK(rs_machine_new(bad[i].spec, &m, err, sizeof err) < 0);
		CHECK(strstr(err, bad[i].msg) != NULL);
		if (!strstr(err, bad[i].msg))
			fprintf(stderr, "  %s: %s\n", bad[i].spec, err);
	}
	CHECK_EQ(rs_machine_new("pci:net,mac=0A:bC:00:12:34:56,queues=8,mtu=65518,backend=none,"
				"link=up", &m, err, sizeof err), 0);
	CHECK_EQ(m->devs[0]->config[0], 0x0a);
	CHECK_EQ(m->devs[0]->config[1], 0xbc);
	CHECK_EQ(m->devs[0]->nqueues, 17);
	rs_machine_free(m);

	/* what each instance offers */
	{
		static const struct {
			const char *spec;
			uint64_t on, off;
			unsigned nq;
		} feat[] = {
			{ "mem=16M pci-modern:net",
			  F(VIRTIO_NET_F_MRG_RXBUF) | F(VIRTIO_NET_F_CTRL_VQ) |
			  F(VIRTIO_NET_F_CTRL_RX) | F(VIRTIO_NET_F_MAC) | F(VIRTIO_NET_F_STATUS),
			  F(VIRTIO_NET_F_MTU) | F(VIRTIO_NET_F_MQ) | F(VIRTIO_NET_F_CSUM) |
			  F(VIRTIO_NET_F_GUEST_CSUM) | F(VIRTIO_NET_F_GUEST_ANNOUNCE), 3 },
			{ "mem=16M pci-modern:net,mtu=1500,queues=2",
			  F(VIRTIO_NET_F_MTU) | F(VIRTIO_NET_F_MQ), 0, 5 },
			{ "mem=16M pci-modern:net,mrg_rxbuf=off,ctrl=off", F(VIRTIO_NET_F_MAC),
			  F(VIRTIO_NET_F_MRG_RXBUF) | F_CTRL, 2 },
		};
		for (unsigned i = 0; i < RS_ARRAY_SIZE(feat); i++) {
			struct nenv e;
			uint64_t f;

			if (!env_open(&e, feat[i].spec, false))
				continue;
			f = gdrv_device_features(e.g);
			CHECK_EQ(f & feat[i].on, feat[i].on);
			CHECK_EQ(f & feat[i].off, 0);
			CHECK_EQ(e.dev->nqueues, feat[i].nq);
			env_close(&e);
		}
		CHECK(rs_machine_new("pci:net,ctrl=off,queues=2", &m, err, sizeof err) < 0);
		CHECK(strstr(err, "option 'ctrl'") != NULL);
		CHECK(rs_machine_new("pci:net,mrg_rxbuf=maybe", &m, err, sizeof err) < 0);
		CHECK(strstr(err, "option 'mrg_rxbuf'") != NULL);
	}

	/* a bare device (no world): tx frames go nowhere, loop is refused */
	{
		struct gm gm;
		struct vdev *d;
		struct vdev_args a = { 0 };

		gm_init(&gm);
		CHECK_EQ(vdev_create(&net_ops, &gm, "n", NULL, &d, err, sizeof err), 0);
		vdev_destroy(d);
		a.n = 1;
		snprintf(a.kv[0].key, sizeof a.kv[0].key, "backend");
		snprintf(a.kv[0].val, sizeof a.kv[0].val, "loop");
		CHECK(vdev_create(&net_ops, &gm, "n", &a, &d, err, sizeof err) < 0);
		CHECK(strstr(err, "needs a world") != NULL);
		gm_destroy(&gm);
	}
}

/* ---- pcap ------------------------------------------------------------------------------- */

/* Find tcpdump or tshark on PATH; NULL when neither is installed. */
static const char *find_reader(char *path, size_t len)
{
	static const char *const dirs[] = { "/usr/bin", "/usr/sbin", "/bin", "/sbin",
					    "/usr/local/bin" };
	static const char *const tools[] = { "tcpdump", "tshark" };

	for (unsigned t = 0; t < 2; t++)
		for (unsigned i = 0; i < RS_ARRAY_SIZE(dirs); i++) {
			snprintf(path, len, "%s/%s", dirs[i], tools[t]);
			if (access(path, X_OK) == 0)
				return tools[t];
		}
	return NULL;
}

static void test_pcap(void)
{
	char path[64], spec[160], tool[64];
	struct nenv e;
	uint8_t f[300], *file;
	static const uint32_t lens[] = { 100, 30, 300 };
	FILE *fp;
	long size;

	snprintf(path, sizeof path, "/tmp/ringside-net-%d.pcap", (int)getpid());
	snprintf(spec, sizeof spec, "mem=16M pci-modern:net,pcap=%s", path);
	if (!env_open(&e, spec, false))
		return;
	if (!env_up(&e, F_BASE))
		goto out;
	rx_fill(&e, 0, 8, SLOT);
	for (unsigned k = 0; k < 3; k++) {
		mkframe(f, MAC0, lens[k], k);
		tx(&e, 0, f, lens[k]);
		poll_ev(&e);
	}
	CHECK_EQ(st(&e)->captured, 6);
out:
	env_close(&e);

	fp = fopen(path, "rb");
	CHECK(fp != NULL);
	if (!fp)
		return;
	fseek(fp, 0, SEEK_END);
	size = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	file = malloc((size_t)size);
	CHECK(file && fread(file, 1, (size_t)size, fp) == (size_t)size);
	fclose(fp);
	/* global header */
	CHECK_EQ(rs_le32(file), 0xa1b2c3d4u);
	CHECK_EQ(rs_le16(file + 4), 2);
	CHECK_EQ(rs_le16(file + 6), 4);
	CHECK_EQ(rs_le32(file + 16), NET_PCAP_SNAPLEN);
	CHECK_EQ(rs_le32(file + 20), 1);
	/* each frame twice: as sent (tx) and as looped back (rx) */
	long off = 24;
	uint64_t last = 0;
	for (unsigned r = 0; r < 6 && off + 16 <= size; r++) {
		uint32_t want = lens[r / 2] < 60 ? 60 : lens[r / 2];
		uint64_t ts = (uint64_t)rs_le32(file + off) * 1000000 + rs_le32(file + off + 4);

		CHECK(rs_le32(file + off + 4) < 1000000);
		CHECK(ts >= last);
		CHECK(ts > 1500000000ull * 1000000); /* a wall-clock stamp */
		last = ts;
		CHECK_EQ(rs_le32(file + off + 8), want);
		CHECK_EQ(rs_le32(file + off + 12), want);
		mkframe(f, MAC0, lens[r / 2], r / 2);
		if (lens[r / 2] < 60)
			memset(f + lens[r / 2], 0, 60 - lens[r / 2]);
		CHECK(off + 16 + (long)want <= size && memcmp(file + off + 16, f, want) == 0);
		off += 16 + (long)want;
	}
	CHECK_EQ(off, size);
	free(file);

	/* tcpdump or tshark, when installed, must read it */
	if (find_reader(tool, sizeof tool)) {
		char cmd[300];
		snprintf(cmd, sizeof cmd, "%s -r %s > /dev/null 2>&1", tool, path);
		CHECK_EQ(system(cmd), 0);
	}
	unlink(path);
}

/* ---- slirp ------------------------------------------------------------------------------ */

static uint16_t ip_csum(const uint8_t *p, unsigned len)
{
	uint32_t s = 0;

	for (unsigned i = 0; i + 1 < len; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static const uint8_t GUEST_IP[4] = { 10, 0, 2, 15 };
static const uint8_t HOST_IP[4] = { 10, 0, 2, 2 };

/* A UDP datagram from the guest (10.0.2.15:12345) to 10.0.2.2:dport via
 * the gateway gw, no UDP checksum. Returns the frame length. */
static uint32_t udp_frame(uint8_t *u, const uint8_t *gw, uint16_t dport, const void *msg,
			  uint16_t mlen)
{
	uint8_t *ip = u + 14;
	uint16_t c;

	memcpy(u, gw, 6);
	memcpy(u + 6, MAC0, 6);
	u[12] = 0x08;
	u[13] = 0x00;
	memset(ip, 0, 28);
	ip[0] = 0x45;
	ip[2] = (uint8_t)((28 + mlen) >> 8);
	ip[3] = (uint8_t)(28 + mlen);
	ip[8] = 64;
	ip[9] = 17;
	memcpy(ip + 12, GUEST_IP, 4);
	memcpy(ip + 16, HOST_IP, 4);
	c = ip_csum(ip, 20);
	ip[10] = (uint8_t)(c >> 8);
	ip[11] = (uint8_t)c;
	ip[20] = 0x30;
	ip[21] = 0x39;
	ip[22] = (uint8_t)(dport >> 8);
	ip[23] = (uint8_t)dport;
	ip[24] = (uint8_t)((8 + mlen) >> 8);
	ip[25] = (uint8_t)(8 + mlen);
	memcpy(u + 42, msg, mlen);
	return 42u + mlen;
}

/* Wait (bounded) for a received frame of ethertype type on pair 0; copy it
 * to out. Polls the live world so slirp's sockets are served. */
static uint32_t slirp_wait(struct nenv *e, uint16_t type, uint8_t *out, uint32_t cap)
{
	for (unsigned i = 0; i < 200; i++) {
		uint64_t tok;
		uint32_t len;

		world_live_poll(e->m->world, 10);
		poll_ev(e);
		while (rx_get(e, 0, &tok, &len) == 1) {
			uint32_t fl = len - e->hlen;
			uint8_t *p = out;

			if (fl > cap)
				fl = cap;
			e->io.mem_read(e->io.ctx, rx_slot(e, 0, (unsigned)tok) + e->hlen, p, fl);
			rx_add(e, 0, (unsigned)tok, SLOT);
			rx_kick(e, 0);
			if ((uint16_t)(p[12] << 8 | p[13]) == type)
				return fl;
		}
	}
	return 0;
}

static void test_slirp(void)
{
	struct nenv e;
	uint8_t f[600], r[2048];
	int s;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof sa;
	uint16_t port;
	uint32_t n;

	if (!net_slirp_available()) {
		char err[200];
		struct machine *m;
		CHECK(rs_machine_new("pci:net,backend=slirp", &m, err, sizeof err) < 0);
		CHECK(strstr(err, "not available") != NULL);
		printf("     (slirp not built in: backend=slirp refused, as documented)\n");
		return;
	}
	if (!env_open(&e, "mem=16M pci-modern:net,backend=slirp", false))
		return;
	if (!env_up(&e, F_BASE))
		goto out;
	rx_fill(&e, 0, 16, SLOT);

	/* ARP: who has 10.0.2.2? */
	{
		static const uint8_t arp_hdr[8] = { 0, 1, 8, 0, 6, 4, 0, 1 };

		memcpy(f, BCAST, 6);
		memcpy(f + 6, MAC0, 6);
		f[12] = 0x08;
		f[13] = 0x06;
		memcpy(f + 14, arp_hdr, 8);
		memcpy(f + 22, MAC0, 6);
		memcpy(f + 28, GUEST_IP, 4);
		memset(f + 32, 0, 6);
		memcpy(f + 38, HOST_IP, 4);
	}
	tx(&e, 0, f, 42);
	n = slirp_wait(&e, 0x0806, r, sizeof r);
	CHECK(n >= 42);
	CHECK(memcmp(r, MAC0, 6) == 0);            /* to us */
	CHECK(r[20] == 0 && r[21] == 2);           /* ARP reply */
	CHECK(memcmp(r + 28, HOST_IP, 4) == 0);    /* sender: the host */
	CHECK(memcmp(r + 32, MAC0, 6) == 0);       /* target: us */

	/* UDP to a socket on the host's loopback, via 10.0.2.2 */
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	CHECK(s >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK_EQ(bind(s, (struct sockaddr *)&sa, sizeof sa), 0);
	CHECK_EQ(getsockname(s, (struct sockaddr *)&sa, &sl), 0);
	port = ntohs(sa.sin_port);
	{
		static const char msg[] = "ping from the guest";
		uint8_t *ip = f + 14, *udp = f + 34;
		uint16_t ulen = (uint16_t)(8 + sizeof msg);

		memcpy(f, r + 6, 6); /* the gateway's MAC from the ARP reply */
		memcpy(f + 6, MAC0, 6);
		f[12] = 0x08;
		f[13] = 0x00;
		memset(ip, 0, 20);
		ip[0] = 0x45;
		ip[2] = (uint8_t)((20 + ulen) >> 8);
		ip[3] = (uint8_t)(20 + ulen);
		ip[8] = 64;
		ip[9] = 17;
		memcpy(ip + 12, GUEST_IP, 4);
		memcpy(ip + 16, HOST_IP, 4);
		uint16_t c = ip_csum(ip, 20);
		ip[10] = (uint8_t)(c >> 8);
		ip[11] = (uint8_t)c;
		udp[0] = 0x15;
		udp[1] = 0xb3; /* 5555 */
		udp[2] = (uint8_t)(port >> 8);
		udp[3] = (uint8_t)port;
		udp[4] = (uint8_t)(ulen >> 8);
		udp[5] = (uint8_t)ulen;
		udp[6] = udp[7] = 0; /* no checksum */
		memcpy(udp + 8, msg, sizeof msg);
		tx(&e, 0, f, 34 + ulen);

		struct pollfd pfd = { .fd = s, .events = POLLIN };
		char got[64];
		struct sockaddr_in from;
		socklen_t fl = sizeof from;
		ssize_t k = -1;

		if (poll(&pfd, 1, 2000) == 1)
			k = recvfrom(s, got, sizeof got, 0, (struct sockaddr *)&from, &fl);
		CHECK_EQ(k, (ssize_t)sizeof msg);
		CHECK(k == (ssize_t)sizeof msg && memcmp(got, msg, sizeof msg) == 0);
		if (k > 0) {
			static const char pong[] = "pong from the host";
			CHECK_EQ(sendto(s, pong, sizeof pong, 0, (struct sockaddr *)&from, fl),
				 (ssize_t)sizeof pong);
			n = slirp_wait(&e, 0x0800, r, sizeof r);
			CHECK(n >= 34 + 8 + sizeof pong);
			CHECK(memcmp(r, MAC0, 6) == 0);
			CHECK_EQ(r[14 + 9], 17);
			CHECK(memcmp(r + 14 + 12, HOST_IP, 4) == 0);
			CHECK_EQ(r[34 + 2] << 8 | r[34 + 3], 5555);
			CHECK(n >= 42 + sizeof pong && memcmp(r + 42, pong, sizeof pong) == 0);
		}
	}
	close(s);
out:
	env_close(&e);
}

/* ---- a test world: fixed clocks, chosen backend results, a small FIFO --------------------- */

#define TW_QUEUE 64

struct tworld {
	struct world w;
	uint64_t mono, real;       /* clock values */
	bool override;             /* io returns io_result instead of calling the backend */
	int64_t io_result;
	unsigned posts, post_fail; /* events posted / refused */
	struct {
		struct world_event ev;
		uint8_t *buf;
	} q[TW_QUEUE];
	unsigned head, count;
	uint8_t *delivered;
	uint8_t last[2048];        /* data of the last event posted */
	uint32_t last_len;
};

static int tw_entropy(struct world *w, unsigned dev, void *buf, size_t len)
{
	memset(buf, 0x5a, len);
	return 0;
}

static uint64_t tw_clock(struct world *w, enum world_clock c)
{
	struct tworld *t = w->impl;

	return c == WORLD_CLOCK_REALTIME ? t->real : t->mono;
}

static int64_t tw_io(struct world *w, struct world_backend *b, struct world_io *req)
{
	struct tworld *t = w->impl;

	if (t->override)
		return t->io_result;
	return b->ops->io(b, req);
}

static int tw_next(struct world *w, struct world_event *ev)
{
	struct tworld *t = w->impl;

	free(t->delivered);
	t->delivered = NULL;
	if (!t->count)
		return 0;
	*ev = t->q[t->head].ev;
	t->delivered = t->q[t->head].buf;
	t->head = (t->head + 1) % TW_QUEUE;
	t->count--;
	return 1;
}

static int tw_post(struct world *w, const struct world_event *ev)
{
	struct tworld *t = w->impl;
	unsigned slot;

	if (t->count == TW_QUEUE) {
		t->post_fail++;
		return -ENOSPC;
	}
	slot = (t->head + t->count++) % TW_QUEUE;
	t->q[slot].ev = *ev;
	t->q[slot].buf = malloc(ev->len ? ev->len : 1);
	if (ev->len)
		memcpy(t->q[slot].buf, ev->data, ev->len);
	t->q[slot].ev.data = t->q[slot].buf;
	t->posts++;
	t->last_len = RS_MIN(ev->len, (uint32_t)sizeof t->last);
	if (t->last_len)
		memcpy(t->last, ev->data, t->last_len);
	return 0;
}

static void tw_destroy(struct world *w)
{
	struct tworld *t = w->impl;

	while (t->count) {
		free(t->q[t->head].buf);
		t->head = (t->head + 1) % TW_QUEUE;
		t->count--;
	}
	free(t->delivered);
	free(t);
}

static const struct world_ops tw_ops = {
	.name = "test", .entropy = tw_entropy, .clock_ns = tw_clock, .io = tw_io,
	.next_event = tw_next, .post = tw_post, .destroy = tw_destroy,
};

static struct tworld *tw_new(void)
{
	struct tworld *t = calloc(1, sizeof *t);

	t->w.ops = &tw_ops;
	t->w.impl = t;
	t->real = 1700000000ull * 1000000000ull + 123456789ull;
	t->mono = 5000000000ull;
	return t;
}

/* env_open on a machine with a test world (the machine owns it). */
static struct tworld *env_open_tw(struct nenv *e, const char *spec)
{
	struct tworld *t = tw_new();
	char err[200];
	struct machine_devinfo *di;

	memset(e, 0, sizeof *e);
	if (rs_machine_new_world(spec, &t->w, &e->m, err, sizeof err) < 0) {
		fprintf(stderr, "%s: %s\n", spec, err);
		CHECK(!"machine");
		tw_destroy(&t->w);
		return NULL;
	}
	gdrv_machine_io(&e->io, e->m);
	e->mem.next = DRV_MEM_BASE;
	e->mem.end = DRV_MEM_END;
	e->g = calloc(1, sizeof *e->g);
	e->dev = e->m->devs[0];
	e->rxpool = gdrv_alloc(&e->io, &e->mem, (uint64_t)MAX_PAIRS * RX_SLOTS * SLOT, 4096);
	e->txpool = gdrv_alloc(&e->io, &e->mem, (uint64_t)TX_SLOTS * SLOT, 4096);
	e->ctrlbuf = gdrv_alloc(&e->io, &e->mem, 4096, 4096);
	e->big = gdrv_alloc(&e->io, &e->mem, 2 * BIG, 4096);
	di = &e->m->devinfo[0];
	CHECK_EQ(gdrv_open_mmio(e->g, &e->io, &e->mem, di->base), 0);
	return t;
}

/* Backend failures reach the device as results through the world: counted,
 * reported (a full event queue is a drop, not an error), never fatal. */
static void test_backend_errors(void)
{
	struct nenv e;
	struct tworld *t;
	uint8_t f[100];

	if (!(t = env_open_tw(&e, "mem=16M mmio:net")))
		return;
	if (!env_up(&e, F_BASE))
		goto out;
	rx_fill(&e, 0, 4, SLOT);
	mkframe(f, MAC0, 100, 1);
	/* through the test world the loopback still works */
	tx(&e, 0, f, 100);
	CHECK_EQ(poll_ev(&e), 1);
	rx_expect(&e, 0, f, 100);
	t->override = true;
	t->io_result = -EIO;
	tx(&e, 0, f, 100);
	CHECK_EQ(st(&e)->tx_backend_err, 1);
	CHECK_EQ(diag_count(&e.dev->log, DIAG_BACKEND_ERROR), 1);
	t->io_result = -ENOSPC;
	tx(&e, 0, f, 100);
	CHECK_EQ(st(&e)->tx_backend_err, 2);
	CHECK_EQ(diag_count(&e.dev->log, DIAG_BACKEND_ERROR), 1);
	t->io_result = 50; /* short */
	tx(&e, 0, f, 100);
	CHECK_EQ(diag_count(&e.dev->log, DIAG_BACKEND_ERROR), 2);
	CHECK_EQ(diag_class_of(DIAG_BACKEND_ERROR), DIAG_CLASS_HOST);
	t->override = false;
	/* the loopback's event queue is full: dropped and counted */
	for (unsigned i = 0; i < TW_QUEUE + 3; i++)
		tx(&e, 0, f, 100);
	CHECK_EQ(st(&e)->tx_backend_err, 3 + 3);
	CHECK_EQ(t->post_fail, 3);
	CHECK_EQ(diag_count(&e.dev->log, DIAG_BACKEND_ERROR), 2);
	CHECK(!(gdrv_get_status(e.g) & VIRTIO_STATUS_NEEDS_RESET));
out:
	env_close(&e);
}

/* The capture file in a world that is not live: created at the first frame,
 * stamped with the world's wall clock. */
static void test_pcap_world(void)
{
	char path[64], spec[160];
	struct nenv e;
	struct tworld *t;
	uint8_t f[100], file[256];
	FILE *fp;
	size_t got;

	snprintf(path, sizeof path, "/tmp/ringside-net-w%d.pcap", (int)getpid());
	unlink(path);
	snprintf(spec, sizeof spec, "mem=16M mmio:net,backend=none,pcap=%s", path);
	if (!(t = env_open_tw(&e, spec)))
		return;
	CHECK(access(path, F_OK) != 0); /* not yet */
	if (!env_up(&e, F_BASE))
		goto out;
	mkframe(f, MAC0, 100, 1);
	tx(&e, 0, f, 100);
	CHECK_EQ(st(&e)->captured, 1);
	CHECK_EQ(poll_ev(&e), 0); /* backend=none: nothing comes back */
out:
	env_close(&e);
	fp = fopen(path, "rb");
	CHECK(fp != NULL);
	if (!fp)
		return;
	got = fread(file, 1, sizeof file, fp);
	fclose(fp);
	CHECK_EQ(got, 24 + 16 + 100);
	CHECK_EQ(rs_le32(file + 24), 1700000000u);
	CHECK_EQ(rs_le32(file + 28), 123456u);
	CHECK(memcmp(file + 40, f, 100) == 0);
	unlink(path);

	/* a capture that cannot be written: reported, the frame still goes */
	if (!(t = env_open_tw(&e, "mem=16M mmio:net,pcap=/dev/full")))
		return;
	if (!env_up(&e, F_BASE))
		goto out2;
	rx_fill(&e, 0, 4, SLOT);
	tx(&e, 0, f, 100);
	CHECK_EQ(diag_count(&e.dev->log, DIAG_BACKEND_ERROR), 1);
	CHECK_EQ(st(&e)->captured, 0);
	CHECK_EQ(poll_ev(&e), 1);
	rx_expect(&e, 0, f, 100);
out2:
	env_close(&e);

	/* in a live world the file is created at once: errors are spec errors */
	{
		char err[200];
		struct machine *m;
		CHECK(rs_machine_new("pci:net,pcap=/dev/full", &m, err, sizeof err) < 0);
		CHECK(strstr(err, "cannot create /dev/full") != NULL);
	}
}

/* The backends' own contracts, called through world_io as a device would. */
static void test_backend_units(void)
{
	struct tworld *t = tw_new();
	struct world_backend *b;
	static uint8_t big[NET_FRAME_MAX + 1];
	struct world_io io = { .op = WIO_READ, .buf = big, .len = 10 };
	char err[200], path[300];

	/* loop */
	b = net_loop_new(&t->w, 3);
	CHECK(b != NULL);
	CHECK_EQ(world_io(&t->w, b, &io), -EOPNOTSUPP);
	io.op = WIO_SEND;
	io.len = NET_FRAME_MAX + 1;
	CHECK_EQ(world_io(&t->w, b, &io), -EMSGSIZE);
	io.len = 60;
	io.off = 2;
	CHECK_EQ(world_io(&t->w, b, &io), 60);
	CHECK_EQ(t->q[t->head].ev.port, 2);
	CHECK_EQ(t->q[t->head].ev.dev, 3);
	b->ops->destroy(b);

	/* pcap */
	memset(path, 'x', sizeof path);
	path[sizeof path - 1] = '\0';
	CHECK(net_pcap_new(path, 0, true, err, sizeof err) == NULL);
	CHECK(strstr(err, "option 'pcap'") != NULL);
	snprintf(path, sizeof path, "/tmp/ringside-net-u%d.pcap", (int)getpid());
	b = net_pcap_new(path, 0, false, err, sizeof err);
	CHECK(b != NULL);
	io.op = WIO_FLUSH;
	CHECK_EQ(world_io(&t->w, b, &io), 0); /* nothing open yet */
	io.op = WIO_READ;
	CHECK_EQ(world_io(&t->w, b, &io), -EOPNOTSUPP);
	io.op = WIO_SEND;
	io.len = NET_FRAME_MAX;
	CHECK_EQ(world_io(&t->w, b, &io), NET_FRAME_MAX);
	io.op = WIO_FLUSH;
	CHECK_EQ(world_io(&t->w, b, &io), 0);
	b->ops->destroy(b);
	unlink(path);
	tw_destroy(&t->w);
}

/* libslirp from a world that is not live: started by the first frame, its
 * timers run on the world's clock (a router advertisement when the RA timer
 * expires). */
static void test_slirp_unit(void)
{
	struct tworld *t;
	struct world_backend *b;
	uint8_t f[60];
	static const uint8_t arp_hdr[8] = { 0, 1, 8, 0, 6, 4, 0, 1 };
	struct world_io io = { .op = WIO_READ, .buf = f, .len = 42 };
	char err[200];

	if (!net_slirp_available()) {
		t = tw_new();
		CHECK(net_slirp_new(&t->w, 0, NULL, err, sizeof err) == NULL);
		tw_destroy(&t->w);
		return;
	}
	t = tw_new();
	b = net_slirp_new(&t->w, 0, NULL, err, sizeof err);
	CHECK(b != NULL);
	if (!b)
		return;
	CHECK_EQ(b->ops->poll_fd(b), -1); /* not started */
	b->ops->on_readable(b, &t->w);     /* nothing to do */
	CHECK_EQ(world_io(&t->w, b, &io), -EOPNOTSUPP);
	io.op = WIO_SEND;
	io.len = (size_t)INT_MAX + 1;
	CHECK_EQ(b->ops->io(b, &io), -EMSGSIZE);
	memcpy(f, BCAST, 6);
	memcpy(f + 6, MAC0, 6);
	f[12] = 0x08;
	f[13] = 0x06;
	memcpy(f + 14, arp_hdr, 8);
	memcpy(f + 22, MAC0, 6);
	memcpy(f + 28, GUEST_IP, 4);
	memset(f + 32, 0, 6);
	memcpy(f + 38, HOST_IP, 4);
	io.len = 42;
	CHECK_EQ(world_io(&t->w, b, &io), 42);
	CHECK(b->ops->poll_fd(b) >= 0);
	CHECK_EQ(t->posts, 1); /* the ARP reply */
	CHECK(t->last_len >= 42 && t->last[12] == 0x08 && t->last[13] == 0x06);
	/* ten minutes later the router advertisement timer is due */
	t->mono += 700ull * 1000000000ull;
	CHECK_EQ(world_io(&t->w, b, &io), 42); /* re-arms the timerfd: overdue */
	CHECK_EQ(t->posts, 2);
	b->ops->on_readable(b, &t->w);
	CHECK_EQ(t->posts, 3);
	CHECK(t->last_len >= 54 && t->last[12] == 0x86 && t->last[13] == 0xdd); /* IPv6 */
	CHECK_EQ(t->last[14 + 40], 134); /* ICMPv6 router advertisement */
	/* a guest that sends a router advertisement itself: slirp complains
	 * (guest_error), nothing else happens */
	{
		uint8_t v6[14 + 40 + 16] = { 0 };
		uint8_t *ip = v6 + 14, *icmp = v6 + 54, ph[40 + 16];
		uint32_t sum = 0;

		memcpy(v6, "\x33\x33\x00\x00\x00\x01", 6);
		memcpy(v6 + 6, MAC0, 6);
		v6[12] = 0x86;
		v6[13] = 0xdd;
		ip[0] = 0x60;
		ip[5] = 16;  /* payload length */
		ip[6] = 58;  /* ICMPv6 */
		ip[7] = 255; /* hop limit */
		ip[8] = 0xfe;
		ip[9] = 0x80;
		ip[23] = 1;  /* fe80::1 */
		ip[24] = 0xff;
		ip[25] = 0x02;
		ip[39] = 1;  /* ff02::1 */
		icmp[0] = 134;
		icmp[4] = 64;
		/* checksum over the pseudo header and the message */
		memcpy(ph, ip + 8, 32);
		memset(ph + 32, 0, 8);
		ph[35] = 16;
		ph[39] = 58;
		memcpy(ph + 40, icmp, 16);
		for (unsigned i = 0; i < sizeof ph; i += 2)
			sum += (uint32_t)(ph[i] << 8 | ph[i + 1]);
		while (sum >> 16)
			sum = (sum & 0xffff) + (sum >> 16);
		icmp[2] = (uint8_t)(~sum >> 8);
		icmp[3] = (uint8_t)~sum;
		io.buf = v6;
		io.len = sizeof v6;
		CHECK_EQ(world_io(&t->w, b, &io), (int64_t)sizeof v6);
		CHECK_EQ(t->posts, 3);
		io.buf = f;
		io.len = 42;
	}
	/* UDP to the host makes slirp open a socket; when it expires (slirp
	 * times UDP sockets out after minutes) it leaves the epoll set */
	{
		uint8_t u[64];

		io.buf = u;
		io.len = udp_frame(u, t->q[t->head].buf + 6, 9, "ping", 4);
		CHECK_EQ(world_io(&t->w, b, &io), 46);
		t->mono += 3600ull * 1000000000ull;
		b->ops->on_readable(b, &t->w);
		b->ops->on_readable(b, &t->w);
		io.buf = f;
		io.len = 42;
	}
	/* the event queue is full: slirp's frames are dropped, nothing breaks */
	{
		struct world_event ev = { .kind = WEV_HOST, .dev = 0 };
		while (t->count < TW_QUEUE)
			CHECK_EQ(world_post(&t->w, &ev), 0);
		unsigned before = t->posts;
		CHECK_EQ(world_io(&t->w, b, &io), 42); /* ARP again: the reply is lost */
		CHECK_EQ(t->posts, before);
		CHECK(t->post_fail >= 1);
	}
	b->ops->destroy(b);
	/* malformed forwards */
	CHECK(net_slirp_new(&t->w, 0, "tcp:80-:22", err, sizeof err) == NULL);
	CHECK(net_slirp_new(&t->w, 0, "tcp::80-22", err, sizeof err) == NULL);
	CHECK(net_slirp_new(&t->w, 0, "tcp::-:22", err, sizeof err) == NULL);
	CHECK(net_slirp_new(&t->w, 0, "tcp::80-:22x", err, sizeof err) == NULL);
	{
		char longfwd[200];
		memset(longfwd, '1', sizeof longfwd);
		memcpy(longfwd, "tcp::", 5);
		longfwd[sizeof longfwd - 1] = '\0';
		CHECK(net_slirp_new(&t->w, 0, longfwd, err, sizeof err) == NULL);
	}

	/* a forward that cannot be set up fails the first frame, and the next */
	{
		struct sockaddr_in sa = { .sin_family = AF_INET };
		socklen_t sl = sizeof sa;
		char fwd[64];
		int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		CHECK(s >= 0 && bind(s, (struct sockaddr *)&sa, sizeof sa) == 0);
		CHECK_EQ(getsockname(s, (struct sockaddr *)&sa, &sl), 0);
		CHECK_EQ(listen(s, 1), 0);
		snprintf(fwd, sizeof fwd, "tcp::%u-10.0.2.15:22", ntohs(sa.sin_port));
		b = net_slirp_new(&t->w, 0, fwd, err, sizeof err);
		CHECK(b != NULL);
		if (b) {
			CHECK(world_io(&t->w, b, &io) < 0);
			CHECK(world_io(&t->w, b, &io) < 0);
			CHECK_EQ(b->ops->poll_fd(b), -1);
			b->ops->destroy(b);
		}
		close(s);
	}
	tw_destroy(&t->w);
}

/* ---- guest memory faults (a source that refuses some addresses) ----------------------- */

static uint64_t poison_lo, poison_hi;

static bool poisoned(uint64_t gpa, size_t len)
{
	return gpa < poison_hi && gpa + len > poison_lo;
}

static int poison_read(void *ctx, struct gm *gm, uint64_t gpa, uint8_t *host, void *dst,
		       size_t len)
{
	if (poisoned(gpa, len))
		return -EIO;
	memcpy(dst, host, len);
	return 0;
}

static int poison_write(void *ctx, struct gm *gm, uint64_t gpa, uint8_t *host, const void *src,
			size_t len)
{
	if (poisoned(gpa, len))
		return -EIO;
	memcpy(host, src, len);
	return 0;
}

static const struct gm_source_ops poison_src = {
	.name = "poison", .read = poison_read, .write = poison_write,
};

/* Buffers the arena refuses mid-request: the request fails in a defined
 * way (frame dropped, buffer returned empty, ERR) and the next one works. */
static void test_memory_faults(void)
{
	struct nenv e;
	uint8_t f[600], got[600], hdr[12] = { 0 };
	struct gdrv_buf b[3];
	uint64_t tok, bad;
	uint32_t len;
	unsigned nb;

	if (!env_open(&e, "mem=16M pci-modern:net", false))
		return;
	if (!env_up(&e, F_ALL & ~F(VIRTIO_F_RING_PACKED)))
		goto out;
	bad = e.txpool + 63 * SLOT;
	poison_lo = bad;
	poison_hi = bad + SLOT;
	gm_set_source(&e.m->gm, &poison_src, NULL);
	mkframe(f, MAC0, 500, 1);
	/* tx: header unreadable; frame unreadable */
	b[0] = (struct gdrv_buf){ bad, 12 + 100 };
	CHECK_EQ(gdrv_submit(&e.g->vq[1], b, 1, 0, 1, false), 0);
	e.io.mem_write(e.io.ctx, e.txpool, hdr, 12);
	b[0] = (struct gdrv_buf){ e.txpool, 12 };
	b[1] = (struct gdrv_buf){ bad, 100 };
	CHECK_EQ(gdrv_submit(&e.g->vq[1], b, 2, 0, 2, false), 0);
	gdrv_kick(&e.g->vq[1]);
	for (unsigned i = 0; i < 2; i++) {
		CHECK_EQ(gdrv_get_used(&e.g->vq[1], &tok, &len), 1);
		CHECK_EQ(len, 0);
	}
	CHECK_EQ(st(&e)->tx_malformed, 2);
	CHECK_EQ(poll_ev(&e), 0);
	/* rx (MRG_RXBUF): header buffer unwritable; second buffer unwritable */
	b[0] = (struct gdrv_buf){ bad, 256 };
	CHECK_EQ(gdrv_submit(&e.g->vq[0], b, 0, 1, 40, false), 0);
	host_frame(&e, 0, f, 100);
	CHECK_EQ(rx_get(&e, 0, &tok, &len), 1);
	CHECK_EQ(tok, 40);
	CHECK_EQ(len, 0);
	rx_add(&e, 0, 0, 256);
	b[0] = (struct gdrv_buf){ bad, 512 };
	CHECK_EQ(gdrv_submit(&e.g->vq[0], b, 0, 1, 41, false), 0);
	rx_kick(&e, 0);
	host_frame(&e, 0, f, 500);
	CHECK_EQ(rx_get(&e, 0, &tok, &len), 1);
	CHECK_EQ(tok, 0);
	CHECK_EQ(len, 0); /* the frame is lost: its buffers come back empty */
	CHECK_EQ(rx_get(&e, 0, &tok, &len), 1);
	CHECK_EQ(tok, 41);
	CHECK_EQ(len, 0);
	CHECK_EQ(st(&e)->rx_bad_buffer, 2);
	/* control: header unreadable, data unreadable, table unreadable */
	e.io.mem_write(e.io.ctx, e.ctrlbuf + 2048, "\xee\xee\xee\xee\xee\xee\xee\xee\xee"
		       "\xee\xee\xee\xee\xee\xee\xee\xee\xee\xee\xee\xee\xee\xee\xee"
		       "\xee\xee\xee\xee\xee\xee\xee\xee\xee\xee\xee\xee\xee\xee\xee"
		       "\xee\xee\xee\xee\xee\xee\xee\xee\xee", 48);
	b[0] = (struct gdrv_buf){ bad, 3 };
	b[1] = (struct gdrv_buf){ e.ctrlbuf + 2048, 1 };
	CHECK_EQ(gdrv_submit(&e.g->vq[e.ctrlq], b, 1, 1, 50, false), 0);
	e.io.mem_write(e.io.ctx, e.ctrlbuf, "\x00\x00", 2);
	b[0] = (struct gdrv_buf){ e.ctrlbuf, 2 };
	b[1] = (struct gdrv_buf){ bad, 1 };
	b[2] = (struct gdrv_buf){ e.ctrlbuf + 2056, 1 };
	CHECK_EQ(gdrv_submit(&e.g->vq[e.ctrlq], b, 2, 1, 51, false), 0);
	gdrv_kick(&e.g->vq[e.ctrlq]);
	for (unsigned i = 0; i < 2; i++) {
		uint8_t ack = 0;
		CHECK_EQ(gdrv_get_used(&e.g->vq[e.ctrlq], &tok, &len), 1);
		CHECK_EQ(tok, 50 + i);
		CHECK_EQ(len, 1);
		e.io.mem_read(e.io.ctx, e.ctrlbuf + 2048 + 8 * i, &ack, 1);
		CHECK_EQ(ack, VIRTIO_NET_ERR);
	}
	e.io.mem_write(e.io.ctx, e.ctrlbuf, "\x01\x00", 2); /* MAC_TABLE_SET */
	for (unsigned k = 0; k < 3; k++) {
		/* count unreadable; unicast entries unreadable; an overflowing
		 * table that cannot be skipped */
		struct gdrv_buf c[4];
		unsigned nout = 0;
		uint8_t cnt[4];

		rs_st32(cnt, k == 2 ? 100 : 1);
		e.io.mem_write(e.io.ctx, e.ctrlbuf + 16 + 8 * k, cnt, 4);
		c[nout++] = (struct gdrv_buf){ e.ctrlbuf, 2 };
		if (k == 0) {
			c[nout++] = (struct gdrv_buf){ bad, 12 };
		} else {
			c[nout++] = (struct gdrv_buf){ e.ctrlbuf + 16 + 8 * k, 4 };
			c[nout++] = (struct gdrv_buf){ bad, k == 2 ? 604 : 10 };
		}
		c[nout] = (struct gdrv_buf){ e.ctrlbuf + 2072 + 8 * k, 1 };
		CHECK_EQ(gdrv_submit(&e.g->vq[e.ctrlq], c, nout, 1, 60 + k, false), 0);
	}
	gdrv_kick(&e.g->vq[e.ctrlq]);
	for (unsigned i = 0; i < 3; i++) {
		uint8_t ack = 0;
		CHECK_EQ(gdrv_get_used(&e.g->vq[e.ctrlq], &tok, &len), 1);
		CHECK_EQ(tok, 60 + i);
		CHECK_EQ(len, 1);
		e.io.mem_read(e.io.ctx, e.ctrlbuf + 2072 + 8 * i, &ack, 1);
		CHECK_EQ(ack, VIRTIO_NET_ERR);
	}
	CHECK_EQ(diag_count(&e.dev->log, DIAG_NET_CTRL), 5);
	gm_set_source(&e.m->gm, NULL, NULL);
	/* and everything works again */
	CHECK_EQ(ctrl_u8(&e, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, 0), VIRTIO_NET_OK);
	rx_fill(&e, 0, 8, SLOT);
	tx(&e, 0, f, 500);
	poll_ev(&e);
	CHECK_EQ(rx_gather(&e, got, sizeof got, &nb), 500);
	CHECK(memcmp(got, f, 500) == 0);
	CHECK(!(gdrv_get_status(e.g) & VIRTIO_STATUS_NEEDS_RESET));
	env_close(&e);

	/* without MRG_RXBUF: the one buffer cannot be written */
	if (!env_open(&e, "mem=16M pci-modern:net", false))
		return;
	if (!env_up(&e, F_BASE))
		goto out;
	gm_set_source(&e.m->gm, &poison_src, NULL);
	poison_lo = rx_slot(&e, 0, 5);
	poison_hi = poison_lo + SLOT;
	rx_add(&e, 0, 5, SLOT);
	rx_add(&e, 0, 6, SLOT);
	rx_kick(&e, 0);
	host_frame(&e, 0, f, 100);
	CHECK_EQ(rx_get(&e, 0, &tok, &len), 1);
	CHECK_EQ(tok, 5);
	CHECK_EQ(len, 0);
	CHECK_EQ(st(&e)->rx_bad_buffer, 1);
	host_frame(&e, 0, f, 100);
	rx_expect(&e, 0, f, 100);
out:
	env_close(&e);
}

/* ---- hostile rings, queues that are not there ------------------------------------------ */

/* Corrupt the split avail index of queue q so the next pop breaks it. */
static void break_avail(struct nenv *e, unsigned q)
{
	uint16_t idx = (uint16_t)(e->g->vq[q].avail_idx + 1000);

	e->io.mem_write(e->io.ctx, e->g->vq[q].avail + 2, &idx, 2);
}

static void test_rx_hostile_queues(void)
{
	struct nenv e;
	uint8_t f[100];
	uint64_t tok;
	uint32_t len;
	struct gdrv_buf b[2];

	mkframe(f, MAC0, 100, 1);
	for (unsigned mrg = 0; mrg < 2; mrg++) {
		/* a frame waits; the queue breaks when the driver kicks */
		if (!env_open(&e, "mem=16M pci-modern:net", false))
			return;
		if (!env_up(&e, F_BASE | (mrg ? F(VIRTIO_NET_F_MRG_RXBUF) : 0)))
			goto next;
		host_frame(&e, 0, f, 100);
		break_avail(&e, 0);
		vdev_queue_notify(e.dev, 0); /* as the transport would on a kick */
		CHECK(gdrv_get_status(e.g) & VIRTIO_STATUS_NEEDS_RESET);
		CHECK_EQ(diag_count(&e.dev->log, DIAG_VQ_AVAIL_JUMP), 1);
		host_frame(&e, 0, f, 100);
		CHECK_EQ(st(&e)->rx_not_ready, 1);
		env_close(&e);
		/* the queue breaks when a frame arrives */
		if (!env_open(&e, "mem=16M pci-modern:net", false))
			return;
		if (!env_up(&e, F_BASE | (mrg ? F(VIRTIO_NET_F_MRG_RXBUF) : 0)))
			goto next;
		break_avail(&e, 0);
		host_frame(&e, 0, f, 100);
		CHECK(gdrv_get_status(e.g) & VIRTIO_STATUS_NEEDS_RESET);
		CHECK_EQ(st(&e)->rx_not_ready, 1);
		/* a reset brings it back */
		if (env_up(&e, F_BASE)) {
			rx_fill(&e, 0, 4, SLOT);
			host_frame(&e, 0, f, 100);
			rx_expect(&e, 0, f, 100);
		}
next:
		env_close(&e);
	}

	/* without MRG_RXBUF: no buffer, the frame waits; a ring of nothing but
	 * bad buffers is used up and the frame waits on */
	if (!env_open(&e, "mem=16M pci-modern:net", false))
		return;
	if (!env_up_sizes(&e, F_BASE, 64, 4))
		goto out;
	host_frame(&e, 0, f, 100);
	rx_none(&e, 0);
	for (unsigned i = 0; i < 4; i++) {
		b[0] = (struct gdrv_buf){ rx_slot(&e, 0, i), 8 };
		b[1] = (struct gdrv_buf){ rx_slot(&e, 0, i) + 8, 500 };
		CHECK_EQ(gdrv_submit(&e.g->vq[0], b, 1, 1, i, true), 0);
	}
	rx_kick(&e, 0);
	for (unsigned i = 0; i < 4; i++) {
		CHECK_EQ(rx_get(&e, 0, &tok, &len), 1);
		CHECK_EQ(len, 0);
	}
	CHECK_EQ(st(&e)->rx_bad_buffer, 4);
	rx_fill(&e, 0, 1, SLOT);
	rx_expect(&e, 0, f, 100);
out:
	env_close(&e);

	/* the rx queue was never enabled: frames are not taken */
	if (!env_open(&e, "mem=16M pci-modern:net", false))
		return;
	CHECK_EQ(gdrv_init(e.g, F_BASE), 0);
	CHECK_EQ(gdrv_setup_vq(e.g, 1, 16), 0);
	gdrv_driver_ok(e.g);
	host_frame(&e, 0, f, 100);
	CHECK_EQ(st(&e)->rx_not_ready, 1);
	CHECK(!net_rx_accept(e.dev, f, 13)); /* no Ethernet header: never */
	env_close(&e);
}

/* Legacy: a queue moved (PFN 0, then a new PFN) while MRG buffers were held
 * for a waiting frame: the old buffers are forgotten, not completed. */
static void test_legacy_queue_moved(void)
{
	struct nenv e;
	uint8_t f[300];
	uint16_t io;

	if (!env_open(&e, "mem=16M pci-legacy:net", true))
		return;
	if (!env_up(&e, F_BASE | F(VIRTIO_NET_F_MRG_RXBUF)))
		goto out;
	rx_add(&e, 0, 0, 64);
	rx_kick(&e, 0);
	mkframe(f, MAC0, 300, 1);
	host_frame(&e, 0, f, 300); /* needs 312 bytes: one buffer held, waits */
	rx_none(&e, 0);
	io = (uint16_t)e.g->pci.bar[0];
	machine_pio_write(e.m, io + VIRTIO_PCI_LEGACY_QUEUE_SEL, 2, 0);
	machine_pio_write(e.m, io + VIRTIO_PCI_LEGACY_QUEUE_PFN, 4, 0);
	CHECK_EQ(gdrv_setup_vq(e.g, 0, 64), 0);
	rx_fill(&e, 0, 4, SLOT);
	rx_expect(&e, 0, f, 300);
	CHECK_EQ(diag_count(&e.dev->log, DIAG_VQ_PUSH_INVALID), 0);
	CHECK_EQ(e.dev->log.total, 0);
out:
	env_close(&e);
}

/* 1.x FEATURES_OK refuses every control feature without CTRL_VQ. */
static void test_feature_dependencies(void)
{
	static const unsigned deps[] = {
		VIRTIO_NET_F_CTRL_RX, VIRTIO_NET_F_CTRL_VLAN, VIRTIO_NET_F_CTRL_RX_EXTRA,
		VIRTIO_NET_F_MQ, VIRTIO_NET_F_CTRL_MAC_ADDR,
	};
	struct nenv e;

	if (!env_open(&e, "mem=16M mmio:net,queues=2", false))
		return;
	for (unsigned i = 0; i < RS_ARRAY_SIZE(deps); i++) {
		CHECK(gdrv_init(e.g, F_BASE | F(deps[i])) != 0);
		CHECK_EQ(diag_count(&e.dev->log, DIAG_FEATURES_INVALID), i + 1);
		CHECK_EQ(gdrv_init(e.g, F_BASE | F(deps[i]) | F(VIRTIO_NET_F_CTRL_VQ)), 0);
	}
	env_close(&e);
}

/* Send the ARP request for 10.0.2.2 (so slirp learns our MAC); returns
 * the gateway's MAC in gw. */
static void slirp_arp(struct nenv *e, uint8_t *gw)
{
	static const uint8_t arp_hdr[8] = { 0, 1, 8, 0, 6, 4, 0, 1 };
	uint8_t f[60], r[2048];

	memcpy(f, BCAST, 6);
	memcpy(f + 6, MAC0, 6);
	f[12] = 0x08;
	f[13] = 0x06;
	memcpy(f + 14, arp_hdr, 8);
	memcpy(f + 22, MAC0, 6);
	memcpy(f + 28, GUEST_IP, 4);
	memset(f + 32, 0, 6);
	memcpy(f + 38, HOST_IP, 4);
	tx(e, 0, f, 42);
	CHECK(slirp_wait(e, 0x0806, r, sizeof r) >= 42);
	memcpy(gw, r + 6, 6);
}

/* hostfwd: a connection to the forwarded host port arrives at the guest
 * as a TCP SYN to the guest port. */
static void test_slirp_hostfwd(void)
{
	struct nenv e;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof sa;
	char spec[160], err[200];
	uint8_t gw[6], r[2048];
	struct machine *m;
	uint16_t port;
	uint32_t n;
	int s;

	if (!net_slirp_available())
		return;
	CHECK(rs_machine_new("pci:net,backend=slirp,hostfwd=bogus", &m, err, sizeof err) < 0);
	CHECK(strstr(err, "option 'hostfwd'") != NULL);
	CHECK(rs_machine_new("pci:net,backend=slirp,hostfwd=udp:1.2.3.4.5:1-:2", &m, err,
			     sizeof err) < 0);
	CHECK(rs_machine_new("pci:net,backend=slirp,hostfwd=tcp:127.0.0.1:99999-:2", &m, err,
			     sizeof err) < 0);
	CHECK(rs_machine_new("pci:net,backend=slirp,hostfwd=tcp:127.0.0.1:80", &m, err,
			     sizeof err) < 0);
	/* a free port: bind to 0, read it back, let go */
	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK(s >= 0 && bind(s, (struct sockaddr *)&sa, sizeof sa) == 0);
	CHECK_EQ(getsockname(s, (struct sockaddr *)&sa, &sl), 0);
	port = ntohs(sa.sin_port);
	close(s);
	snprintf(spec, sizeof spec,
		 "mem=16M pci-modern:net,backend=slirp,hostfwd=tcp:127.0.0.1:%u-:22", port);
	if (!env_open(&e, spec, false))
		return;
	if (!env_up(&e, F_BASE))
		goto out;
	rx_fill(&e, 0, 16, SLOT);
	slirp_arp(&e, gw);
	/* a UDP socket next to the forward's listening one */
	{
		uint8_t u[64];
		uint32_t ul = udp_frame(u, gw, 9, "ping", 4);
		tx(&e, 0, u, ul);
	}
	/* the port is taken by slirp now: a second forward of it fails */
	{
		char spec2[160];
		snprintf(spec2, sizeof spec2, "pci:net,backend=slirp,hostfwd=tcp::%u-:22", port);
		CHECK(rs_machine_new(spec2, &m, err, sizeof err) < 0);
		CHECK(strstr(err, "cannot forward") != NULL);
	}
	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	CHECK(s >= 0);
	int c = connect(s, (struct sockaddr *)&sa, sizeof sa);
	CHECK(c == 0 || errno == EINPROGRESS);
	n = slirp_wait(&e, 0x0800, r, sizeof r);
	CHECK(n >= 54);
	CHECK_EQ(r[14 + 9], 6);                      /* TCP */
	CHECK(memcmp(r + 14 + 16, GUEST_IP, 4) == 0); /* to the guest */
	CHECK_EQ(r[34 + 2] << 8 | r[34 + 3], 22);     /* port 22 */
	CHECK(r[34 + 13] & 0x02);                     /* SYN */
	close(s);
out:
	env_close(&e);
}

int main(void)
{
	RUN(test_roundtrip_pci_modern_split);
	RUN(test_roundtrip_pci_modern_packed);
	RUN(test_roundtrip_pci_legacy);
	RUN(test_roundtrip_transitional);
	RUN(test_roundtrip_mmio);
	RUN(test_config_fields);
	RUN(test_config_mac_write);
	RUN(test_mrg_rxbuf);
	RUN(test_mrg_bad_buffers);
	RUN(test_rx_too_small);
	RUN(test_runt_padding);
	RUN(test_oversize);
	RUN(test_tx_malformed);
	RUN(test_ctrl_commands);
	RUN(test_ctrl_malformed);
	RUN(test_ctrl_not_negotiated);
	RUN(test_filter_table);
	RUN(test_vlan_filter);
	RUN(test_mq_two_pairs);
	RUN(test_link_events);
	RUN(test_rx_queue_bounded);
	RUN(test_reset);
	RUN(test_options);
	RUN(test_pcap);
	RUN(test_slirp);
	RUN(test_slirp_hostfwd);
	RUN(test_backend_errors);
	RUN(test_pcap_world);
	RUN(test_backend_units);
	RUN(test_slirp_unit);
	RUN(test_memory_faults);
	RUN(test_rx_hostile_queues);
	RUN(test_legacy_queue_moved);
	RUN(test_feature_dependencies);
	return check_done();
}
