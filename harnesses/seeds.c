/*
 * ringside — what the harness knows about each device model, and the seed
 * sessions the corpus generator (corpus_gen.c) turns into op streams.
 *
 * A seed session is a reference-driver session written with the builder:
 * fb_init (driver init), fb_chain (a request: readable segments with their
 * contents, writable segments, submit, kick, collect), fb_data (data the
 * device will take from the world at that point: entropy, backend read
 * data), fb_op (anything else). The generator runs every session through
 * the real target and checks that it used exactly the ops and data it
 * wrote, so a seed cannot silently drift from what the device does.
 *
 * To add a device: one entry in fuzz_device_table[] with its feature mask,
 * the world events it takes, its seed sessions (every request type) and
 * dictionary lines. Wire facts come from the virtio spec sections cited.
 */
#include <string.h>

#include "fuzz.h"
#include "ringside/balloon.h"
#include "ringside/blk.h"
#include "ringside/echo.h"
#include "ringside/vmmci.h"

/* Generic features the seeds ask for besides the device's own. */
#define GENERIC_F (VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX))

/* ---- builder ------------------------------------------------------------------------ */

void fb_reset(struct fuzz_builder *b)
{
	b->nops_bytes = 0;
	b->ndata = 0;
	b->nblocks = 0;
	b->overflow = false;
}

void fb_op(struct fuzz_builder *b, unsigned code, uint8_t dev, uint8_t p0, uint8_t p1,
	   uint16_t p2, uint16_t p3, uint64_t val)
{
	int byte = fuzz_opset_byte(b->set, code);

	if (byte < 0 || b->nops_bytes + FUZZ_OP_SIZE > sizeof(b->ops)) {
		b->overflow = true;
		return;
	}
	fuzz_op_encode(b->ops + b->nops_bytes, (unsigned)byte, dev, p0, p1, p2, p3, val);
	b->nops_bytes += FUZZ_OP_SIZE;
}

void fb_data(struct fuzz_builder *b, const void *data, size_t len)
{
	if (b->ndata + len > sizeof(b->data) || b->nblocks == RS_ARRAY_SIZE(b->block)) {
		b->overflow = true;
		return;
	}
	if (data)
		memcpy(b->data + b->ndata, data, len);
	else
		memset(b->data + b->ndata, 0, len);
	b->ndata += len;
	b->block[b->nblocks++] = (uint32_t)len;
}

void fb_init(struct fuzz_builder *b, uint64_t features, uint16_t qsize, uint8_t flags)
{
	fb_op(b, FOP_DRIVER_INIT, (uint8_t)b->dev, flags, 0, qsize, 0, features);
}

void fb_chain(struct fuzz_builder *b, unsigned q, const uint32_t *out_lens, unsigned nout,
	      const uint32_t *in_lens, unsigned nin, const void *out, size_t fill, uint8_t flags)
{
	uint64_t lens = 0;
	size_t pos = 0;

	for (unsigned i = 0; i < 4 && i < nout + nin; i++) {
		uint32_t len = i < nout ? out_lens[i] : in_lens[i - nout];

		lens |= (uint64_t)(len & 0xffff) << (16 * i);
	}
	if (nout)
		flags |= FUZZ_SUB_FILL;
	fb_op(b, FOP_SUBMIT, (uint8_t)b->dev, (uint8_t)((q & 7) | flags),
	      (uint8_t)(nout | nin << 4), 0, 0, lens);
	/* the executor takes each readable segment's contents in order */
	for (unsigned i = 0; i < nout; i++) {
		uint32_t len = out_lens[RS_MIN(i, 3u)];
		uint8_t seg[4096];
		size_t n = RS_MIN((size_t)len, sizeof(seg));

		memset(seg, 0, n);
		if (out && pos < fill)
			memcpy(seg, (const uint8_t *)out + pos, RS_MIN(n, fill - pos));
		pos += len;
		fb_data(b, seg, n);
	}
}

size_t fb_finish(struct fuzz_builder *b, uint8_t *out, size_t cap)
{
	size_t need = (b->prefix >= 0) + b->nops_bytes + b->ndata, pos = 0, end = b->ndata;

	if (need > cap)
		return 0;
	if (b->prefix >= 0)
		out[pos++] = (uint8_t)b->prefix;
	memcpy(out + pos, b->ops, b->nops_bytes);
	pos += b->nops_bytes;
	/* data is taken from the back: the first block taken is the last one
	 * in the file */
	for (unsigned i = b->nblocks; i-- > 0;) {
		size_t start = end - b->block[i];

		memcpy(out + pos, b->data + start, b->block[i]);
		pos += b->block[i];
		end = start;
	}
	return pos;
}

void fb_emit(struct fuzz_builder *b, const char *name)
{
	static uint8_t buf[2 * FUZZ_BUILD_MAX + 1];
	size_t n;

	if (b->overflow)
		return;
	n = fb_finish(b, buf, sizeof(buf));
	if (n && b->emit)
		b->emit(b->emit_ctx, name, buf, n);
	fb_reset(b);
}

/* ---- generic sessions (every device) ------------------------------------------------ */

static uint64_t want(const struct fuzz_builder *b)
{
	return (b->info ? b->info->features : ~0ull) | GENERIC_F;
}

/* Driver init, then every config field read as the driver would. */
static void seed_generic(struct fuzz_builder *b)
{
	fb_init(b, want(b), 64, 0);
	for (unsigned off = 0; off < RS_MIN(b->cfg_size, 64u); off += 4)
		fb_op(b, FOP_DEVCFG, (uint8_t)b->dev, 0, 2, (uint16_t)off, 0, 0);
	fb_op(b, FOP_IRQ_ACK, (uint8_t)b->dev, 0, 0, 0, 0, 0);
	fb_emit(b, "init");

	fb_init(b, want(b) | VIRTIO_BIT(VIRTIO_F_RING_PACKED), 32, 0);
	fb_op(b, FOP_COLLECT, (uint8_t)b->dev, 0x80, 0, 0, 0, 0);
	fb_emit(b, "init-packed");

	fb_init(b, want(b), 16, FUZZ_INIT_MSIX);
	fb_op(b, FOP_SET_INTERRUPTS, (uint8_t)b->dev, 0, 0, 0, 0, 0);
	fb_op(b, FOP_RESET, (uint8_t)b->dev, 0, 0, 0, 0, 0);
	fb_init(b, 0, 8, FUZZ_INIT_NO_OK);
	fb_op(b, FOP_STATUS, (uint8_t)b->dev, 1, VIRTIO_STATUS_DRIVER_OK, 0, 0, 0);
	fb_emit(b, "msix-reset");

	/* every register region, first words, as a prober would */
	for (unsigned r = 0; r < FUZZ_MAX_REGIONS; r++)
		for (unsigned off = 0; off < 0x20; off += 4)
			fb_op(b, FOP_REG_READ, (uint8_t)b->dev, (uint8_t)r, 2, (uint16_t)off, 0, 0);
	for (unsigned off = 0; off < 0x40; off += 4)
		fb_op(b, FOP_CFG_READ, (uint8_t)b->dev, 0, 2, (uint16_t)off, 0, 0);
	fb_emit(b, "probe");

	/* host events the device takes, one each, with a little data */
	fb_init(b, want(b), 64, 0);
	for (unsigned k = 0; k < 8; k++) {
		uint8_t data[16] = { 0x52, 0x53, 0x49, 0x44, 0x45 };

		fb_op(b, FOP_WORLD_EVENT, (uint8_t)b->dev, (uint8_t)k, 0, sizeof(data), 0, 1);
		fb_data(b, data, sizeof(data));
	}
	fb_op(b, FOP_WORLD_CLOCK, (uint8_t)b->dev, 0, 0, 0, 0, 5000000000ull);
	fb_op(b, FOP_COLLECT, (uint8_t)b->dev, 0x80, 0, 0, 0, 0);
	fb_emit(b, "events");
}

/* ---- echo (ringside/echo.h) --------------------------------------------------------- */

static void seed_echo(struct fuzz_builder *b)
{
	static const char msg[] = "ringside echo seed: hello, device";
	uint32_t one[] = { 16 }, three[] = { 8, 8, 17 };
	uint8_t key = 0x5a;

	fb_init(b, want(b), 64, 0);
	fb_chain(b, 0, one, 1, one, 1, msg, 16, FUZZ_SUB_COLLECT);
	fb_emit(b, "echo-one");

	fb_init(b, want(b), 64, 0);
	fb_chain(b, 1, three, 3, three, 3, msg, sizeof(msg), FUZZ_SUB_COLLECT);
	fb_chain(b, 0, three, 3, three, 3, msg, sizeof(msg), FUZZ_SUB_COLLECT | FUZZ_SUB_INDIRECT);
	fb_emit(b, "echo-segments");

	fb_init(b, want(b) | VIRTIO_BIT(VIRTIO_F_RING_PACKED), 16, 0);
	for (unsigned i = 0; i < 4; i++)
		fb_chain(b, i & 1, one, 1, one, 1, msg + i, 16, FUZZ_SUB_NO_KICK);
	fb_op(b, FOP_KICK, (uint8_t)b->dev, 0, 0, 0, 0, 0);
	fb_op(b, FOP_KICK, (uint8_t)b->dev, 1, 1, 0, 0, 0);
	fb_op(b, FOP_COLLECT, (uint8_t)b->dev, 0x80, 0, 0, 0, 0);
	fb_emit(b, "echo-packed-batch");

	fb_init(b, want(b), 64, FUZZ_INIT_MSIX);
	fb_op(b, FOP_DEVCFG, (uint8_t)b->dev, 1, 0, ECHO_CFG_KEY, 0, key);
	fb_chain(b, 0, one, 1, one, 1, msg, 16, FUZZ_SUB_COLLECT);
	fb_op(b, FOP_DEVCFG, (uint8_t)b->dev, 0, 3, ECHO_CFG_BYTES, 0, 0);
	fb_emit(b, "echo-xor-key");
}

/* ---- rng (virtio-v1.2 5.4) ---------------------------------------------------------- */

static void seed_rng(struct fuzz_builder *b)
{
	uint32_t in[] = { 32, 32 };
	uint8_t entropy[64];

	for (unsigned i = 0; i < sizeof(entropy); i++)
		entropy[i] = (uint8_t)(i * 37 + 11);
	fb_init(b, want(b), 64, 0);
	fb_chain(b, 0, NULL, 0, in, 1, NULL, 0, FUZZ_SUB_COLLECT);
	fb_data(b, entropy, 32); /* world_entropy for the chain */
	fb_emit(b, "rng-one");

	fb_init(b, want(b) | VIRTIO_BIT(VIRTIO_F_RING_PACKED), 64, 0);
	fb_chain(b, 0, NULL, 0, in, 2, NULL, 0, FUZZ_SUB_COLLECT | FUZZ_SUB_INDIRECT);
	fb_data(b, entropy, 64);
	fb_emit(b, "rng-two-segments");

	fb_init(b, want(b), 64, 0);
	fb_op(b, FOP_WORLD_FAULT, (uint8_t)b->dev, FUZZ_FAULT_ENTROPY, 0, 0, 0, 1);
	fb_chain(b, 0, NULL, 0, in, 1, NULL, 0, FUZZ_SUB_COLLECT);
	fb_emit(b, "rng-entropy-fails");
}

/* ---- blk (virtio-v1.2 5.2, ringside/blk.h) ------------------------------------------ */

/* One request: header {le32 type, le32 reserved, le64 sector}, then data
 * (readable for writes, writable for reads) and the status byte. */
static void blk_req(struct fuzz_builder *b, uint32_t type, uint64_t sector, uint32_t out_data,
		    const void *payload, uint32_t in_data, const void *world_data, uint8_t flags)
{
	uint8_t hdr[VIRTIO_BLK_REQ_HDR_SIZE + 512] = { 0 };
	uint32_t out_lens[2] = { VIRTIO_BLK_REQ_HDR_SIZE, out_data };
	uint32_t in_lens[2] = { in_data, 1 };

	rs_st32(hdr, type);
	rs_st64(hdr + 8, sector);
	if (payload && out_data <= 512)
		memcpy(hdr + VIRTIO_BLK_REQ_HDR_SIZE, payload, out_data);
	if (in_data)
		fb_chain(b, 0, out_lens, out_data ? 2 : 1, in_lens, 2, hdr,
			 VIRTIO_BLK_REQ_HDR_SIZE + out_data, flags);
	else
		fb_chain(b, 0, out_lens, out_data ? 2 : 1, in_lens + 1, 1, hdr,
			 VIRTIO_BLK_REQ_HDR_SIZE + out_data, flags);
	if (world_data)
		fb_data(b, world_data, in_data); /* backend READ data */
}

static void seed_blk(struct fuzz_builder *b)
{
	uint8_t sector[512], dwz[VIRTIO_BLK_DWZ_SEG_SIZE] = { 0 };

	for (unsigned i = 0; i < sizeof(sector); i++)
		sector[i] = (uint8_t)(i ^ 0xa5);
	rs_st64(dwz, 8);
	rs_st32(dwz + 8, 8);

	fb_init(b, want(b), 64, 0);
	blk_req(b, VIRTIO_BLK_T_IN, 0, 0, NULL, 512, sector, FUZZ_SUB_COLLECT);
	fb_emit(b, "blk-read");

	fb_init(b, want(b), 64, 0);
	blk_req(b, VIRTIO_BLK_T_OUT, 1, 512, sector, 0, NULL, FUZZ_SUB_COLLECT);
	blk_req(b, VIRTIO_BLK_T_FLUSH, 0, 0, NULL, 0, NULL, FUZZ_SUB_COLLECT);
	fb_emit(b, "blk-write-flush");

	fb_init(b, want(b) | VIRTIO_BIT(VIRTIO_F_RING_PACKED), 64, 0);
	blk_req(b, VIRTIO_BLK_T_GET_ID, 0, 0, NULL, VIRTIO_BLK_ID_BYTES, NULL,
		FUZZ_SUB_COLLECT | FUZZ_SUB_INDIRECT);
	fb_emit(b, "blk-get-id");

	fb_init(b, want(b), 64, 0);
	blk_req(b, VIRTIO_BLK_T_DISCARD, 0, VIRTIO_BLK_DWZ_SEG_SIZE, dwz, 0, NULL,
		FUZZ_SUB_COLLECT);
	blk_req(b, VIRTIO_BLK_T_WRITE_ZEROES, 0, VIRTIO_BLK_DWZ_SEG_SIZE, dwz, 0, NULL,
		FUZZ_SUB_COLLECT);
	fb_emit(b, "blk-discard-write-zeroes");

	fb_init(b, want(b), 64, 0);
	blk_req(b, VIRTIO_BLK_T_GET_LIFETIME, 0, 0, NULL, 8, NULL, FUZZ_SUB_COLLECT);
	blk_req(b, VIRTIO_BLK_T_SECURE_ERASE, 0, VIRTIO_BLK_DWZ_SEG_SIZE, dwz, 0, NULL,
		FUZZ_SUB_COLLECT);
	blk_req(b, 0x55, 0, 0, NULL, 0, NULL, FUZZ_SUB_COLLECT); /* unknown type */
	fb_emit(b, "blk-other-types");

	fb_init(b, want(b), 64, 0);
	fb_op(b, FOP_WORLD_FAULT, (uint8_t)b->dev, FUZZ_FAULT_IO, 0, 0, 0, 1);
	blk_req(b, VIRTIO_BLK_T_IN, 2, 0, NULL, 512, NULL, FUZZ_SUB_COLLECT);
	fb_op(b, FOP_WORLD_FAULT, (uint8_t)b->dev, FUZZ_FAULT_SHORT, 0, 0, 0, 1);
	blk_req(b, VIRTIO_BLK_T_OUT, 2, 512, sector, 0, NULL, FUZZ_SUB_COLLECT);
	fb_emit(b, "blk-backend-errors");
}

/* ---- console (virtio-v1.2 5.3) ------------------------------------------------------ */

/* Control message {le32 id, le16 event, le16 value} (5.3.6.2). */
static void console_ctrl(struct fuzz_builder *b, uint32_t id, uint16_t event, uint16_t value)
{
	uint8_t msg[8];
	uint32_t len = sizeof(msg);

	rs_st32(msg, id);
	rs_st16(msg + 4, event);
	rs_st16(msg + 6, value);
	fb_chain(b, 3, &len, 1, NULL, 0, msg, sizeof(msg), 0); /* control transmitq */
}

static void seed_console(struct fuzz_builder *b)
{
	static const char hello[] = "hello from the console seed\n";
	uint32_t tx = sizeof(hello) - 1, rx = 64, ctrl_rx = 64;

	/* port 0: transmit a line, post a receive buffer, input arrives */
	fb_init(b, want(b), 32, 0);
	fb_chain(b, 1, &tx, 1, NULL, 0, hello, tx, FUZZ_SUB_COLLECT);
	fb_chain(b, 0, NULL, 0, &rx, 1, NULL, 0, 0);
	fb_op(b, FOP_WORLD_EVENT, (uint8_t)b->dev, WEV_CONSOLE_IN - 1, 0, 5, 0, 0);
	fb_data(b, "input", 5);
	fb_op(b, FOP_COLLECT, (uint8_t)b->dev, 0, 0, 0, 0, 0);
	fb_emit(b, "console-io");

	/* multiport bring-up: receive buffers on the control queue, then
	 * DEVICE_READY, PORT_READY for ports 0 and 1, PORT_OPEN (5.3.6.2) */
	fb_init(b, want(b), 32, 0);
	for (unsigned i = 0; i < 4; i++)
		fb_chain(b, 2, NULL, 0, &ctrl_rx, 1, NULL, 0, 0);
	console_ctrl(b, 0, 0 /* DEVICE_READY */, 1);
	console_ctrl(b, 0, 3 /* PORT_READY */, 1);
	console_ctrl(b, 1, 3 /* PORT_READY */, 1);
	console_ctrl(b, 1, 6 /* PORT_OPEN */, 1);
	fb_op(b, FOP_COLLECT, (uint8_t)b->dev, 0x80, 0, 0, 0, 0);
	fb_op(b, FOP_WORLD_EVENT, (uint8_t)b->dev, WEV_CONSOLE_RESIZE - 1, 0, 0, 0,
	      (uint64_t)132 << 16 | 43);
	fb_op(b, FOP_DEVCFG, (uint8_t)b->dev, 1, 2, 8 /* emerg_wr */, 0, 'x');
	fb_emit(b, "console-multiport");
}

/* ---- net (virtio-v1.2 5.1) ---------------------------------------------------------- */

static void seed_net(struct fuzz_builder *b)
{
	/* 5.1.6: virtio_net_hdr (12 bytes with VERSION_1), then an Ethernet
	 * frame: broadcast destination, a locally administered source,
	 * EtherType 0x0800 */
	uint8_t frame[12 + 60] = { 0 };
	uint32_t tx = sizeof(frame), rx = 1526;

	memset(frame + 12, 0xff, 6);
	frame[18] = 0x02;
	frame[24] = 0x08;
	fb_init(b, want(b), 64, 0);
	fb_chain(b, 0, NULL, 0, &rx, 1, NULL, 0, 0);             /* receiveq1 */
	fb_chain(b, 1, &tx, 1, NULL, 0, frame, tx, FUZZ_SUB_COLLECT); /* transmitq1 */
	fb_op(b, FOP_WORLD_EVENT, (uint8_t)b->dev, WEV_NET_RX - 1, 0, 60, 0, 0);
	fb_data(b, frame + 12, 60);
	fb_op(b, FOP_COLLECT, (uint8_t)b->dev, 0, 0, 0, 0, 0);
	fb_emit(b, "net-tx-rx");
}

/* ---- balloon (virtio-v1.2 5.5, ringside/balloon.h) ---------------------------------- */

static void seed_balloon(struct fuzz_builder *b)
{
	uint8_t pfns[8];
	uint32_t len = sizeof(pfns);

	rs_st32(pfns, 0x300);      /* two 4 KiB pages inside RAM */
	rs_st32(pfns + 4, 0x301);
	fb_init(b, want(b), 64, 0);
	fb_op(b, FOP_WORLD_EVENT, (uint8_t)b->dev, WEV_BALLOON_TARGET - 1, 0, 0, 0, 2);
	fb_chain(b, 0, &len, 1, NULL, 0, pfns, len, FUZZ_SUB_COLLECT); /* inflateq */
	fb_op(b, FOP_DEVCFG, (uint8_t)b->dev, 1, 2, BALLOON_CFG_ACTUAL, 0, 2);
	fb_chain(b, 1, &len, 1, NULL, 0, pfns, len, FUZZ_SUB_COLLECT); /* deflateq */
	fb_emit(b, "balloon-inflate-deflate");
}

/* ---- vmmci (OpenBSD's VMM control interface, ringside/vmmci.h) ---------------------- */

static void seed_vmmci(struct fuzz_builder *b)
{
	fb_init(b, want(b), 64, 0);
	fb_op(b, FOP_WORLD_EVENT, (uint8_t)b->dev, WEV_VMMCI - 1, 0, 0, 0, 1 /* shutdown */);
	fb_op(b, FOP_IRQ_ACK, (uint8_t)b->dev, 0, 0, 0, 0, 0);
	fb_op(b, FOP_DEVCFG, (uint8_t)b->dev, 0, 2, VMMCI_CFG_COMMAND, 0, 0);
	fb_op(b, FOP_DEVCFG, (uint8_t)b->dev, 1, 2, VMMCI_CFG_COMMAND, 0, 1);
	fb_op(b, FOP_DEVCFG, (uint8_t)b->dev, 0, 2, VMMCI_CFG_TIME_SEC, 0, 0);
	fb_emit(b, "vmmci-shutdown-ack");
}

/* ---- scsi (virtio-v1.2 5.6) --------------------------------------------------------- */

static void seed_scsi(struct fuzz_builder *b)
{
	/* 5.6.6.1 virtio_scsi_req_cmd: lun[8] = {1, target, lun >> 8 | 0x40,
	 * lun}, id le64, task_attr, prio, crn, cdb[32]; response 108 bytes
	 * (sense 96) then data. INQUIRY (SPC 0x12) with 36 bytes. */
	uint8_t req[51] = { 1, 0, 0x40, 0 };
	uint32_t out = sizeof(req), in[] = { 108, 36 };

	req[19] = 0x12;
	req[23] = 36;
	fb_init(b, want(b), 64, 0);
	fb_chain(b, 2, &out, 1, in, 2, req, sizeof(req), FUZZ_SUB_COLLECT); /* request q */
	req[19] = 0x00; /* TEST UNIT READY */
	req[23] = 0;
	fb_chain(b, 2, &out, 1, in, 1, req, sizeof(req), FUZZ_SUB_COLLECT);
	fb_emit(b, "scsi-inquiry");
}

/* ---- the table ---------------------------------------------------------------------- */

#define EV(k) (1u << (k))

const struct fuzz_device_info fuzz_device_table[] = {
	{
		.device = "echo",
		.features = VIRTIO_BIT(ECHO_F_XOR) | VIRTIO_BIT(ECHO_F_NOTIFY_KEY),
		.event_kinds = EV(WEV_HOST),
		.seeds = seed_echo,
		.dict = "echo_key_off=\"\\x04\\x00\"\necho_bytes_off=\"\\x08\\x00\"\n"
			"echo_xor=\"\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\"\n",
	},
	{
		.device = "rng",
		.event_kinds = EV(WEV_HOST),
		.seeds = seed_rng,
		.dict = "rng_id=\"\\x04\\x00\"\n",
	},
	{
		.device = "blk",
		.features = VIRTIO_BIT(VIRTIO_BLK_F_SIZE_MAX) | VIRTIO_BIT(VIRTIO_BLK_F_SEG_MAX) |
			    VIRTIO_BIT(VIRTIO_BLK_F_GEOMETRY) | VIRTIO_BIT(VIRTIO_BLK_F_BLK_SIZE) |
			    VIRTIO_BIT(VIRTIO_BLK_F_FLUSH) | VIRTIO_BIT(VIRTIO_BLK_F_TOPOLOGY) |
			    VIRTIO_BIT(VIRTIO_BLK_F_CONFIG_WCE) | VIRTIO_BIT(VIRTIO_BLK_F_MQ) |
			    VIRTIO_BIT(VIRTIO_BLK_F_DISCARD) | VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES) |
			    VIRTIO_BIT(VIRTIO_BLK_F_LIFETIME) | VIRTIO_BIT(VIRTIO_BLK_F_SECURE_ERASE),
		.event_kinds = EV(WEV_HOST),
		.seeds = seed_blk,
		.dict = "blk_t_in=\"\\x00\\x00\\x00\\x00\"\nblk_t_out=\"\\x01\\x00\\x00\\x00\"\n"
			"blk_t_flush=\"\\x04\\x00\\x00\\x00\"\nblk_t_get_id=\"\\x08\\x00\\x00\\x00\"\n"
			"blk_t_lifetime=\"\\x0a\\x00\\x00\\x00\"\n"
			"blk_t_discard=\"\\x0b\\x00\\x00\\x00\"\n"
			"blk_t_write_zeroes=\"\\x0d\\x00\\x00\\x00\"\n"
			"blk_t_secure_erase=\"\\x0e\\x00\\x00\\x00\"\n"
			"blk_t_scsi=\"\\x02\\x00\\x00\\x00\"\nblk_barrier=\"\\x00\\x00\\x00\\x80\"\n"
			"blk_sector_max=\"\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\"\n"
			"blk_wce_off=\"\\x20\\x00\"\n",
	},
	{
		.device = "console",
		.spec_opts = ",ports=2,size=80x25",
		.features = 0x7, /* SIZE, MULTIPORT, EMERG_WRITE (5.3.3) */
		.event_kinds = EV(WEV_CONSOLE_IN) | EV(WEV_CONSOLE_RESIZE) | EV(WEV_HOST),
		.seeds = seed_console,
		.dict = "con_device_ready=\"\\x00\\x00\\x00\\x00\\x00\\x00\\x01\\x00\"\n"
			"con_port_ready=\"\\x03\\x00\\x01\\x00\"\ncon_port_open=\"\\x06\\x00\\x01\\x00\"\n"
			"con_console_port=\"\\x04\\x00\\x01\\x00\"\ncon_resize=\"\\x05\\x00\"\n"
			"con_port_name=\"\\x07\\x00\"\ncon_device_add=\"\\x01\\x00\"\n"
			"con_emerg_off=\"\\x08\\x00\"\n",
	},
	{
		.device = "net",
		.features = 0xffffffull & ~(VIRTIO_BIT(6) | VIRTIO_BIT(22)),
		.event_kinds = EV(WEV_NET_RX) | EV(WEV_HOST),
		.seeds = seed_net,
		.dict = "net_ctrl_rx_promisc=\"\\x00\\x00\"\nnet_ctrl_mac_table=\"\\x01\\x00\"\n"
			"net_ctrl_mac_addr=\"\\x01\\x01\"\nnet_ctrl_vlan_add=\"\\x02\\x00\"\n"
			"net_ctrl_announce=\"\\x03\\x00\"\nnet_ctrl_mq=\"\\x04\\x00\"\n"
			"net_ctrl_offloads=\"\\x05\\x00\"\nnet_ethertype_ip=\"\\x08\\x00\"\n"
			"net_ethertype_vlan=\"\\x81\\x00\"\nnet_bcast=\"\\xff\\xff\\xff\\xff\\xff\\xff\"\n"
			"net_hdr_csum=\"\\x01\"\nnet_gso_tcpv4=\"\\x01\"\n",
	},
	{
		.device = "balloon",
		.features = 0x1f,
		.event_kinds = EV(WEV_BALLOON_TARGET) | EV(WEV_HOST),
		.seeds = seed_balloon,
		.dict = "balloon_actual_off=\"\\x04\\x00\"\nballoon_poison_off=\"\\x0c\\x00\"\n"
			"balloon_cmd_stop=\"\\x00\\x00\\x00\\x00\"\nballoon_cmd_done=\"\\x01\\x00\\x00\\x00\"\n",
	},
	{
		.device = "vmmci",
		.only_transport = "pci-legacy",
		.features = 0x7,
		.event_kinds = EV(WEV_VMMCI) | EV(WEV_HOST),
		.seeds = seed_vmmci,
		.dict = "vmmci_shutdown=\"\\x01\\x00\\x00\\x00\"\nvmmci_reboot=\"\\x02\\x00\\x00\\x00\"\n"
			"vmmci_syncrtc=\"\\x03\\x00\\x00\\x00\"\n",
	},
	{
		.device = "scsi",
		.event_kinds = EV(WEV_SCSI_MEDIA) | EV(WEV_SCSI_PARAMS) | EV(WEV_HOST),
		.seeds = seed_scsi,
		.dict = "scsi_lun=\"\\x01\\x00\\x40\\x00\"\nscsi_inquiry=\"\\x12\"\n"
			"scsi_tur=\"\\x00\"\nscsi_request_sense=\"\\x03\"\nscsi_read10=\"\\x28\"\n"
			"scsi_write10=\"\\x2a\"\nscsi_read_capacity10=\"\\x25\"\n"
			"scsi_read_capacity16=\"\\x9e\\x10\"\nscsi_report_luns=\"\\xa0\"\n"
			"scsi_read_toc=\"\\x43\"\nscsi_get_configuration=\"\\x46\"\n"
			"scsi_get_event_status=\"\\x4a\"\nscsi_mode_sense6=\"\\x1a\"\n"
			"scsi_vpd=\"\\x01\"\n",
	},
};

const unsigned fuzz_device_table_len = RS_ARRAY_SIZE(fuzz_device_table);

const struct fuzz_device_info *fuzz_device_info(const char *device)
{
	for (unsigned i = 0; i < fuzz_device_table_len; i++)
		if (strcmp(fuzz_device_table[i].device, device) == 0)
			return &fuzz_device_table[i];
	return NULL;
}

void fuzz_seed_sessions(struct fuzz_builder *b)
{
	seed_generic(b);
	if (b->info && b->info->seeds)
		b->info->seeds(b);
}
