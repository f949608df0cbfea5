/*
 * ringside test-guest firmware — the scripted workload.
 *
 * Every device of the machine is driven over every interface its transport
 * offers (transitional PCI: the 1.x and the legacy interface, one after the
 * other), one "session" each: open, negotiate, set up queues, DRIVER_OK,
 * the device type's step, reset. The steps are a table keyed by virtio
 * device id (fw_steps[] below); a device type without an entry gets the
 * generic bring-up, so a new device joins the workload by adding one entry.
 *
 * Completions are polled, never waited for with interrupts: every ringside
 * device completes a request inside the notify that made it available, and
 * host events (loopback frames, console input, balloon targets) are
 * delivered by the VMM before the OUT or MMIO access that caused them
 * returns. So the workload runs identically under KVM and Unicorn, and what
 * it observes is hashed into the result (fw_abi.h).
 */
#include "fw.h"
#include "ringside/balloon.h"
#include "ringside/blk.h"
#include "ringside/echo.h"
#include "ringside/virtio.h"
#include "ringside/vmmci.h"

#define QSIZE 64
#define POLL_TRIES 1000

/* enum mspec_transport values (the VMM passes them in fw_bidev.transport). */
enum {
	TR_PCI = 0,
	TR_PCI_MODERN = 1,
	TR_PCI_LEGACY = 2,
	TR_MMIO = 3,
	TR_MMIO_LEGACY = 4,
};

/* Facts of device types whose headers are private to the device model. */
#define NET_F_MAC 5               /* virtio-v1.2 5.1.3 */
#define NET_HDR_MODERN 12         /* struct virtio_net_hdr with num_buffers (5.1.6) */
#define NET_HDR_LEGACY 10         /* legacy without MRG_RXBUF */
#define NET_RXBUF 1526            /* 5.1.6.3.1: header + 1514 */
#define SCSI_CFG_SENSE_SIZE 20    /* virtio-v1.2 5.6.4 */
#define SCSI_CFG_CDB_SIZE 24
#define SCSI_S_OK 0
#define SCSI_GOOD 0
#define SCSI_CHECK_CONDITION 2

struct fw_sess {
	struct fw_ctx *c;
	struct gdrv_dev *d;
	struct gdrv_mem mem;
	unsigned index;               /* device index in the machine */
	unsigned serial;              /* session number */
	uint64_t tokens;              /* last token handed out */
	const struct fw_bidev *bd;
	char why[120];
};

struct fw_step {
	uint16_t virtio_id;
	const char *name;
	uint64_t want;                /* device-type features to accept if offered */
	/* 0 pass, -1 fail (s->why says why), 1 skipped */
	int (*run)(struct fw_sess *s);
};

static struct gdrv_dev dev_state; /* one session at a time */

/* ---- helpers ---------------------------------------------------------------------------- */

static int fail(struct fw_sess *s, const char *what, uint64_t a, uint64_t b)
{
	fw_snprintf(s->why, sizeof s->why, "%s (%lx, %lx)", what, (unsigned long)a,
		    (unsigned long)b);
	return -1;
}

static void obs(struct fw_sess *s, uint64_t v)
{
	fw_hash_u64(&s->c->hash, v);
	s->c->steps++;
}

static void obs_bytes(struct fw_sess *s, const void *p, size_t n)
{
	fw_hash_bytes(&s->c->hash, p, n);
	s->c->steps++;
}

static uint64_t alloc(struct fw_sess *s, uint64_t len, uint64_t align)
{
	return gdrv_alloc(&fw_io, &s->mem, len, align);
}

static void *ptr(uint64_t gpa)
{
	return (void *)(uintptr_t)gpa;
}

static uint8_t pattern(unsigned seed, unsigned i)
{
	return (uint8_t)(seed * 131u + i * 7u + (i >> 8) + 1);
}

/* Set up queues 0..n-1 and set DRIVER_OK; 0, or -1 with why. */
static int start(struct fw_sess *s, unsigned n, uint16_t size)
{
	for (unsigned q = 0; q < n; q++)
		if (gdrv_setup_vq(s->d, q, size))
			return fail(s, "queue setup refused", q, gdrv_queue_max(s->d, q));
	gdrv_driver_ok(s->d);
	uint8_t st = gdrv_get_status(s->d);
	if (st & (VIRTIO_STATUS_NEEDS_RESET | VIRTIO_STATUS_FAILED) ||
	    !(st & VIRTIO_STATUS_DRIVER_OK))
		return fail(s, "device status after DRIVER_OK", st, 0);
	return 0;
}

/* Make a chain available, notify, and collect its completion. */
static int xfer(struct fw_sess *s, unsigned q, const struct gdrv_buf *b, unsigned nout,
		unsigned nin, bool indirect, uint32_t *len)
{
	struct gdrv_vq *vq = &s->d->vq[q];
	uint64_t token = 0x1000 + ++s->tokens, got;
	int r;

	if (gdrv_submit(vq, b, nout, nin, token, indirect))
		return fail(s, "submit refused on queue", q, nout + nin);
	gdrv_kick(vq);
	for (unsigned i = 0; i < POLL_TRIES; i++) {
		r = gdrv_get_used(vq, &got, len);
		if (r == 1) {
			if (got != token)
				return fail(s, "completion token", got, token);
			return 0;
		}
		if (r < 0)
			return fail(s, "device broke the ring on queue", q, 0);
		__asm__ volatile("pause");
	}
	return fail(s, "no completion on queue", q, token);
}

/* Collect one completion already expected on q (rx paths). */
static int collect(struct fw_sess *s, unsigned q, uint64_t *token, uint32_t *len)
{
	for (unsigned i = 0; i < POLL_TRIES; i++) {
		int r = gdrv_get_used(&s->d->vq[q], token, len);
		if (r == 1)
			return 0;
		if (r < 0)
			return fail(s, "device broke the ring on queue", q, 0);
		__asm__ volatile("pause");
	}
	return fail(s, "nothing received on queue", q, 0);
}

static bool is_modern(const struct fw_sess *s)
{
	return s->d->transport == GDRV_PCI_MODERN || s->d->transport == GDRV_MMIO_V2;
}

/* ---- echo ------------------------------------------------------------------------------- */

static int step_echo(struct fw_sess *s)
{
	struct gdrv_dev *d = s->d;
	unsigned nq = gdrv_queue_max(d, 1) ? 2 : 1;
	uint8_t key = (d->features >> ECHO_F_XOR) & 1 ? 0x5a : 0;
	bool indirect_ok = (d->features >> VIRTIO_F_INDIRECT_DESC) & 1;
	uint64_t out = alloc(s, 4 * 1024, 64), in = alloc(s, 4 * 1024, 64);
	uint32_t len;

	if (!out || !in)
		return fail(s, "out of guest memory", 0, 0);
	if (start(s, nq, QSIZE))
		return -1;
	if (key) {
		gdrv_config_write(d, ECHO_CFG_KEY, 1, key);
		if (gdrv_config_read(d, ECHO_CFG_KEY, 1) != key)
			return fail(s, "echo key did not stick", 0, key);
		gdrv_ack_isr(d);
	}
	for (unsigned q = 0; q < nq; q++) {
		for (unsigned i = 0; i < 6; i++) {
			unsigned nseg = 1 + (i + s->serial) % 4;
			unsigned seglen = 1 + (i * 211 + q * 37 + s->serial * 13) % 1024;
			struct gdrv_buf b[8];

			for (unsigned k = 0; k < nseg; k++) {
				uint8_t *o = ptr(out + k * 1024);
				for (unsigned j = 0; j < seglen; j++)
					o[j] = pattern(i + q, k * seglen + j);
				fw_memset(ptr(in + k * 1024), 0, seglen);
				b[k] = (struct gdrv_buf){ out + k * 1024, seglen };
				b[nseg + k] = (struct gdrv_buf){ in + k * 1024, seglen };
			}
			if (xfer(s, q, b, nseg, nseg, indirect_ok && i % 3 == 0, &len))
				return -1;
			if (len != nseg * seglen)
				return fail(s, "echo used length", len, nseg * seglen);
			for (unsigned k = 0; k < nseg; k++) {
				const uint8_t *o = ptr(out + k * 1024), *n = ptr(in + k * 1024);
				for (unsigned j = 0; j < seglen; j++)
					if (n[j] != (uint8_t)(o[j] ^ key))
						return fail(s, "echoed byte wrong", k * seglen + j,
							    n[j]);
				obs_bytes(s, n, seglen);
			}
			obs(s, len);
			gdrv_ack_isr(d);
		}
	}
	obs(s, gdrv_config_read(d, ECHO_CFG_REQUESTS, 4));
	obs(s, gdrv_config_read(d, ECHO_CFG_BYTES, 4));
	return 0;
}

/* ---- blk -------------------------------------------------------------------------------- */

/* One request: header, data (out or in), status. Returns the status byte
 * or -1 with why. */
static int blk_req(struct fw_sess *s, uint32_t type, uint64_t sector, uint64_t data,
		   uint32_t dlen, bool data_in, uint64_t hdr, uint32_t *used)
{
	uint8_t *h = ptr(hdr);
	struct gdrv_buf b[4];
	unsigned nout = 0, nin = 0, n = 0;

	fw_memset(h, 0, VIRTIO_BLK_REQ_HDR_SIZE + 1);
	h[0] = (uint8_t)type;
	h[1] = (uint8_t)(type >> 8);
	h[2] = (uint8_t)(type >> 16);
	h[3] = (uint8_t)(type >> 24);
	for (unsigned i = 0; i < 8; i++)
		h[8 + i] = (uint8_t)(sector >> (8 * i));
	h[VIRTIO_BLK_REQ_HDR_SIZE] = 0xee;
	b[n++] = (struct gdrv_buf){ hdr, VIRTIO_BLK_REQ_HDR_SIZE };
	nout++;
	if (dlen && !data_in) {
		/* two descriptors, to exercise chains */
		b[n++] = (struct gdrv_buf){ data, dlen / 2 };
		b[n++] = (struct gdrv_buf){ data + dlen / 2, dlen - dlen / 2 };
		nout += 2;
	}
	if (dlen && data_in) {
		b[n++] = (struct gdrv_buf){ data, dlen };
		nin++;
	}
	b[n++] = (struct gdrv_buf){ hdr + VIRTIO_BLK_REQ_HDR_SIZE, 1 };
	nin++;
	if (xfer(s, 0, b, nout, nin, false, used))
		return -1;
	return h[VIRTIO_BLK_REQ_HDR_SIZE];
}

static int step_blk(struct fw_sess *s)
{
	struct gdrv_dev *d = s->d;
	uint64_t hdr = alloc(s, 64, 16), wbuf = alloc(s, 4096, 512), rbuf = alloc(s, 4096, 512);
	uint64_t cap, sector = 8 + 16 * (uint64_t)s->serial;
	uint32_t used;
	int st;

	if (!hdr || !wbuf || !rbuf)
		return fail(s, "out of guest memory", 0, 0);
	if (start(s, 1, QSIZE))
		return -1;
	cap = gdrv_config_read(d, VIRTIO_BLK_CFG_CAPACITY, 8);
	obs(s, cap);
	if (cap < sector + 16)
		return fail(s, "disk too small for the workload", cap, sector + 16);
	for (unsigned i = 0; i < 4096; i++)
		((uint8_t *)ptr(wbuf))[i] = pattern(s->serial, i);
	st = blk_req(s, VIRTIO_BLK_T_OUT, sector, wbuf, 4096, false, hdr, &used);
	if (st != VIRTIO_BLK_S_OK)
		return st < 0 ? -1 : fail(s, "write status", (unsigned)st, used);
	obs(s, used);
	st = blk_req(s, VIRTIO_BLK_T_IN, sector, rbuf, 4096, true, hdr, &used);
	if (st != VIRTIO_BLK_S_OK)
		return st < 0 ? -1 : fail(s, "read status", (unsigned)st, used);
	if (used != 4096 + 1)
		return fail(s, "read used length", used, 4096 + 1);
	if (fw_memcmp(ptr(rbuf), ptr(wbuf), 4096))
		return fail(s, "read back differs from what was written", sector, 0);
	obs_bytes(s, ptr(rbuf), 4096);
	/* a sector nobody wrote reads as zeroes */
	st = blk_req(s, VIRTIO_BLK_T_IN, cap - 1, rbuf, 512, true, hdr, &used);
	if (st != VIRTIO_BLK_S_OK)
		return st < 0 ? -1 : fail(s, "read of the last sector", (unsigned)st, used);
	obs_bytes(s, ptr(rbuf), 512);
	/* beyond the end: IOERR, and the device goes on */
	st = blk_req(s, VIRTIO_BLK_T_IN, cap, rbuf, 512, true, hdr, &used);
	if (st != VIRTIO_BLK_S_IOERR)
		return st < 0 ? -1 : fail(s, "read past the end", (unsigned)st, used);
	obs(s, (unsigned)st);
	fw_memset(ptr(rbuf), 0, VIRTIO_BLK_ID_BYTES);
	st = blk_req(s, VIRTIO_BLK_T_GET_ID, 0, rbuf, VIRTIO_BLK_ID_BYTES, true, hdr, &used);
	if (st != VIRTIO_BLK_S_OK)
		return st < 0 ? -1 : fail(s, "GET_ID status", (unsigned)st, used);
	obs_bytes(s, ptr(rbuf), VIRTIO_BLK_ID_BYTES);
	if ((d->features >> VIRTIO_BLK_F_FLUSH) & 1) {
		st = blk_req(s, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, hdr, &used);
		if (st != VIRTIO_BLK_S_OK)
			return st < 0 ? -1 : fail(s, "FLUSH status", (unsigned)st, used);
		obs(s, (unsigned)st);
	}
	return 0;
}

/* ---- net -------------------------------------------------------------------------------- */

static int step_net(struct fw_sess *s)
{
	struct gdrv_dev *d = s->d;
	unsigned hlen = is_modern(s) ? NET_HDR_MODERN : NET_HDR_LEGACY;
	uint64_t rx = alloc(s, 2 * NET_RXBUF, 64), tx = alloc(s, 2048, 64);
	uint8_t mac[6];

	if (!rx || !tx)
		return fail(s, "out of guest memory", 0, 0);
	if (start(s, 2, QSIZE))
		return -1;
	for (unsigned i = 0; i < 6; i++)
		mac[i] = (d->features >> NET_F_MAC) & 1 ? (uint8_t)gdrv_config_read(d, i, 1) : 0;
	obs_bytes(s, mac, sizeof mac);
	/* two receive buffers, made available before anything is sent */
	for (unsigned k = 0; k < 2; k++) {
		struct gdrv_buf b = { rx + k * NET_RXBUF, NET_RXBUF };
		if (gdrv_submit(&d->vq[0], &b, 0, 1, 0x100 + k, false))
			return fail(s, "rx submit refused", k, 0);
	}
	gdrv_kick(&d->vq[0]);
	for (unsigned k = 0; k < 2; k++) {
		unsigned flen = k ? 300 : 64;
		uint8_t *t = ptr(tx);
		uint32_t len;
		uint64_t token;

		fw_memset(t, 0, hlen);
		/* the device's own address (passes the receive filter), from a locally
		 * administered address; ethertype 0x88b5 (IEEE local experimental) */
		fw_memcpy(t + hlen, mac, 6);
		t[hlen + 6] = 0x02;
		for (unsigned i = 1; i < 6; i++)
			t[hlen + 6 + i] = (uint8_t)(0x10 + i + s->serial);
		t[hlen + 12] = 0x88;
		t[hlen + 13] = 0xb5;
		for (unsigned i = 14; i < flen; i++)
			t[hlen + i] = pattern(s->serial + k, i);
		struct gdrv_buf hb[2] = { { tx, hlen }, { tx + hlen, flen } };
		if (xfer(s, 1, hb, 2, 0, false, &len))
			return -1;
		/* the loopback backend's frame came back through the world before
		 * the kick returned */
		if (collect(s, 0, &token, &len))
			return -1;
		if (token != 0x100 + k || len != hlen + flen)
			return fail(s, "looped frame: token / length", token, len);
		const uint8_t *r = ptr(rx + k * NET_RXBUF);
		if (fw_memcmp(r + hlen, t + hlen, flen))
			return fail(s, "looped frame differs from the one sent", k, flen);
		obs(s, len);
		obs_bytes(s, r + hlen, flen);
		gdrv_ack_isr(d);
	}
	return 0;
}

/* ---- rng -------------------------------------------------------------------------------- */

static int step_rng(struct fw_sess *s)
{
	uint64_t buf = alloc(s, 256, 64);
	uint32_t len;

	if (!buf)
		return fail(s, "out of guest memory", 0, 0);
	if (start(s, 1, QSIZE))
		return -1;
	for (unsigned i = 0; i < 3; i++) {
		unsigned n = 16 << i;
		struct gdrv_buf b[2] = { { buf, n / 2 }, { buf + 128, n - n / 2 } };

		if (xfer(s, 0, b, 0, 2, false, &len))
			return -1;
		if (len != n)
			return fail(s, "entropy used length", len, n);
		obs(s, len); /* the bytes themselves are the world's, not hashed */
		gdrv_ack_isr(s->d);
	}
	return 0;
}

/* ---- console ---------------------------------------------------------------------------- */

static int step_console(struct fw_sess *s)
{
	struct gdrv_dev *d = s->d;
	uint64_t rx = alloc(s, 128, 64), tx = alloc(s, 128, 64);
	char text[96];
	uint64_t token;
	uint32_t len;

	if (!rx || !tx)
		return fail(s, "out of guest memory", 0, 0);
	if (start(s, 2, QSIZE))
		return -1;
	obs(s, gdrv_config_read(d, 4, 4)); /* max_nr_ports */
	struct gdrv_buf rb = { rx, 128 };
	if (gdrv_submit(&d->vq[0], &rb, 0, 1, 0x200, false))
		return fail(s, "rx submit refused", 0, 0);
	gdrv_kick(&d->vq[0]);
	fw_snprintf(text, sizeof text, "console %u: hello from the ringside firmware\n",
		    s->index);
	fw_memcpy(ptr(tx), text, fw_strlen(text));
	struct gdrv_buf tb = { tx, (uint32_t)fw_strlen(text) };
	if (xfer(s, 1, &tb, 1, 0, false, &len))
		return -1;
	obs(s, len);
	/* input from the host, through the world */
	fw_outl(FW_PORT_HOST, FW_HOST_REQ(FW_HOST_CONSOLE_IN, s->index, 0));
	if (collect(s, 0, &token, &len))
		return -1;
	if (token != 0x200 || len != FW_CONSOLE_IN_LEN ||
	    fw_memcmp(ptr(rx), FW_CONSOLE_IN_TEXT, FW_CONSOLE_IN_LEN))
		return fail(s, "console input: token / length", token, len);
	obs_bytes(s, ptr(rx), len);
	gdrv_ack_isr(d);
	return 0;
}

/* ---- scsi ------------------------------------------------------------------------------- */

struct scsi_io {
	uint64_t req, resp, data;
	uint32_t cdb_size, sense_size;
	uint8_t status, response;
	uint32_t residual;
};

/* One command to target 0 LUN 0: cdb (up to 16 bytes), data in (din bytes)
 * or out (dout bytes) at io->data. 0 or -1 with why. */
static int scsi_cmd(struct fw_sess *s, struct scsi_io *io, const uint8_t *cdb, unsigned cdblen,
		    uint32_t dout, uint32_t din, uint32_t *used)
{
	uint8_t *rq = ptr(io->req), *rs = ptr(io->resp);
	struct gdrv_buf b[3];
	unsigned n = 0, nout = 0, nin = 0;

	fw_memset(rq, 0, 19 + io->cdb_size);
	rq[0] = 1;            /* lun[0]: 1; lun[1]: target 0; lun[2..3]: LUN 0 */
	rq[8] = (uint8_t)s->serial; /* id: any tag */
	fw_memcpy(rq + 19, cdb, cdblen);
	fw_memset(rs, 0xaa, 12 + io->sense_size);
	b[n++] = (struct gdrv_buf){ io->req, 19 + io->cdb_size };
	nout++;
	if (dout) {
		b[n++] = (struct gdrv_buf){ io->data, dout };
		nout++;
	}
	b[n++] = (struct gdrv_buf){ io->resp, 12 + io->sense_size };
	nin++;
	if (din) {
		b[n++] = (struct gdrv_buf){ io->data, din };
		nin++;
	}
	if (xfer(s, 2, b, nout, nin, false, used))
		return -1;
	io->residual = (uint32_t)rs[4] | (uint32_t)rs[5] << 8 | (uint32_t)rs[6] << 16 |
		       (uint32_t)rs[7] << 24;
	io->status = rs[10];
	io->response = rs[11];
	return 0;
}

static int step_scsi(struct fw_sess *s)
{
	struct gdrv_dev *d = s->d;
	struct scsi_io io;
	uint32_t used;
	uint8_t cdb[16];
	uint8_t *data;

	io.req = alloc(s, 512, 64);
	io.resp = alloc(s, 512, 64);
	io.data = alloc(s, 8192, 512);
	if (!io.req || !io.resp || !io.data)
		return fail(s, "out of guest memory", 0, 0);
	data = ptr(io.data);
	if (start(s, 3, QSIZE))
		return -1;
	io.cdb_size = (uint32_t)gdrv_config_read(d, SCSI_CFG_CDB_SIZE, 4);
	io.sense_size = (uint32_t)gdrv_config_read(d, SCSI_CFG_SENSE_SIZE, 4);
	if (io.cdb_size < 16 || io.cdb_size > 256 || io.sense_size > 256)
		return fail(s, "scsi config cdb_size / sense_size", io.cdb_size, io.sense_size);
	obs(s, io.cdb_size);
	obs(s, io.sense_size);

	/* INQUIRY (no unit attention for it) */
	fw_memset(cdb, 0, sizeof cdb);
	cdb[0] = 0x12;
	cdb[4] = 36;
	if (scsi_cmd(s, &io, cdb, 6, 0, 36, &used))
		return -1;
	if (io.response != SCSI_S_OK || io.status != SCSI_GOOD)
		return fail(s, "INQUIRY response / status", io.response, io.status);
	obs_bytes(s, data, 36);

	/* TEST UNIT READY until the power-on unit attention is consumed */
	fw_memset(cdb, 0, sizeof cdb);
	for (unsigned i = 0;; i++) {
		if (scsi_cmd(s, &io, cdb, 6, 0, 0, &used))
			return -1;
		obs(s, io.status);
		if (io.status == SCSI_GOOD)
			break;
		if (i == 3)
			return fail(s, "TEST UNIT READY never GOOD", io.response, io.status);
	}

	/* READ CAPACITY(10) */
	fw_memset(cdb, 0, sizeof cdb);
	cdb[0] = 0x25;
	if (scsi_cmd(s, &io, cdb, 10, 0, 8, &used))
		return -1;
	if (io.response != SCSI_S_OK || io.status != SCSI_GOOD)
		return fail(s, "READ CAPACITY response / status", io.response, io.status);
	uint32_t last = (uint32_t)data[0] << 24 | (uint32_t)data[1] << 16 |
			(uint32_t)data[2] << 8 | data[3];
	uint32_t blen = (uint32_t)data[4] << 24 | (uint32_t)data[5] << 16 |
			(uint32_t)data[6] << 8 | data[7];
	obs(s, last);
	obs(s, blen);
	if (blen != 512 || last < 64)
		return fail(s, "unexpected disk geometry", last, blen);

	/* WRITE(10) 8 blocks, READ(10) them back */
	uint32_t lba = 16 + 8 * s->serial;
	for (unsigned i = 0; i < 4096; i++)
		data[i] = pattern(s->serial + 7, i);
	fw_memset(cdb, 0, sizeof cdb);
	cdb[0] = 0x2a;
	cdb[2] = (uint8_t)(lba >> 24);
	cdb[3] = (uint8_t)(lba >> 16);
	cdb[4] = (uint8_t)(lba >> 8);
	cdb[5] = (uint8_t)lba;
	cdb[8] = 8;
	if (scsi_cmd(s, &io, cdb, 10, 4096, 0, &used))
		return -1;
	if (io.response != SCSI_S_OK || io.status != SCSI_GOOD)
		return fail(s, "WRITE(10) response / status", io.response, io.status);
	fw_memset(data + 4096, 0, 4096);
	cdb[0] = 0x28;
	io.data += 4096;
	int r = scsi_cmd(s, &io, cdb, 10, 0, 4096, &used);
	io.data -= 4096;
	if (r)
		return -1;
	if (io.response != SCSI_S_OK || io.status != SCSI_GOOD || io.residual)
		return fail(s, "READ(10) response / status", io.response, io.status);
	if (fw_memcmp(data, data + 4096, 4096))
		return fail(s, "READ(10) data differs from what was written", lba, 0);
	obs_bytes(s, data + 4096, 4096);
	obs(s, used);
	return 0;
}

/* ---- vmmci ------------------------------------------------------------------------------ */

static int step_vmmci(struct fw_sess *s)
{
	struct gdrv_dev *d = s->d;
	static const uint32_t cmds[2] = { VMMCI_SYNCRTC, VMMCI_SHUTDOWN };

	if (start(s, 0, 0))
		return -1;
	obs(s, d->features & 0xff);
	for (unsigned i = 0; i < 2; i++) {
		uint32_t want = cmds[i];

		if (want == VMMCI_SYNCRTC && !((d->features >> VMMCI_F_SYNCRTC) & 1))
			continue;
		fw_outl(FW_PORT_HOST, FW_HOST_REQ(FW_HOST_VMMCI, s->index, want));
		uint8_t isr = gdrv_ack_isr(d);
		uint32_t cmd = (uint32_t)gdrv_config_read(d, VMMCI_CFG_COMMAND, 4);
		if (cmd != want)
			return fail(s, "vmmci request not seen: command", cmd, want);
		obs(s, isr);
		obs(s, cmd);
		/* the time registers (read, not hashed: they are the wall clock) */
		(void)gdrv_config_read(d, VMMCI_CFG_TIME_SEC, 4);
		(void)gdrv_config_read(d, VMMCI_CFG_TIME_USEC, 4);
		/* acknowledge by writing the command back */
		if ((d->features >> VMMCI_F_ACK) & 1)
			gdrv_config_write(d, VMMCI_CFG_COMMAND, 4, cmd);
		obs(s, gdrv_config_read(d, VMMCI_CFG_COMMAND, 4));
	}
	return 0;
}

/* ---- balloon ---------------------------------------------------------------------------- */

#define BALLOON_PAGES 16

static int step_balloon(struct fw_sess *s)
{
	struct gdrv_dev *d = s->d;
	uint64_t pages = alloc(s, BALLOON_PAGES * 4096ull, 4096);
	uint64_t pfns = alloc(s, BALLOON_PAGES * 4, 64);
	uint32_t len, num;

	if (!pages || !pfns)
		return fail(s, "out of guest memory", 0, 0);
	if (start(s, 2, QSIZE))
		return -1;
	for (unsigned i = 0; i < BALLOON_PAGES; i++) {
		uint64_t pfn = (pages >> VIRTIO_BALLOON_PFN_SHIFT) + i;
		uint8_t *e = (uint8_t *)ptr(pfns) + 4 * i;
		e[0] = (uint8_t)pfn;
		e[1] = (uint8_t)(pfn >> 8);
		e[2] = (uint8_t)(pfn >> 16);
		e[3] = (uint8_t)(pfn >> 24);
		fw_memset(ptr(pages + 4096ull * i), 0x5a, 4096);
	}
	/* the host asks for BALLOON_PAGES pages */
	fw_outl(FW_PORT_HOST, FW_HOST_REQ(FW_HOST_BALLOON_TARGET, s->index, BALLOON_PAGES));
	obs(s, gdrv_ack_isr(d) & VIRTIO_ISR_CONFIG);
	num = (uint32_t)gdrv_config_read(d, BALLOON_CFG_NUM_PAGES, 4);
	if (num != BALLOON_PAGES)
		return fail(s, "num_pages after the host's request", num, BALLOON_PAGES);
	obs(s, num);
	struct gdrv_buf b = { pfns, BALLOON_PAGES * 4 };
	if (xfer(s, 0, &b, 1, 0, false, &len))
		return -1;
	obs(s, len);
	gdrv_config_write(d, BALLOON_CFG_ACTUAL, 4, BALLOON_PAGES);
	obs(s, gdrv_config_read(d, BALLOON_CFG_ACTUAL, 4));
	/* the host gives them back */
	fw_outl(FW_PORT_HOST, FW_HOST_REQ(FW_HOST_BALLOON_TARGET, s->index, 0));
	num = (uint32_t)gdrv_config_read(d, BALLOON_CFG_NUM_PAGES, 4);
	if (num != 0)
		return fail(s, "num_pages after the host's release", num, 0);
	if (xfer(s, 1, &b, 1, 0, false, &len))
		return -1;
	obs(s, len);
	gdrv_config_write(d, BALLOON_CFG_ACTUAL, 4, 0);
	gdrv_ack_isr(d);
	/* inflated pages were discarded by the host: they read as zero now */
	uint32_t nonzero = 0;
	for (unsigned i = 0; i < BALLOON_PAGES; i++) {
		const uint8_t *p = ptr(pages + 4096ull * i);
		for (unsigned j = 0; j < 4096; j += 64)
			nonzero += p[j] != 0;
	}
	obs(s, nonzero);
	if (nonzero)
		return fail(s, "inflated pages still hold the guest's data", nonzero, 0);
	return 0;
}

/* ---- any other device: bring-up only ------------------------------------------------------ */

static int step_generic(struct fw_sess *s)
{
	unsigned nq = 0;

	while (nq < GDRV_MAX_QUEUES && gdrv_queue_max(s->d, nq))
		nq++;
	obs(s, nq);
	return start(s, nq, QSIZE);
}

static const struct fw_step fw_steps[] = {
	{ VIRTIO_ID_RS_ECHO, "echo", VIRTIO_BIT(ECHO_F_XOR) | VIRTIO_BIT(ECHO_F_NOTIFY_KEY),
	  step_echo },
	{ VIRTIO_ID_BLOCK, "blk",
	  VIRTIO_BIT(VIRTIO_BLK_F_FLUSH) | VIRTIO_BIT(VIRTIO_BLK_F_BLK_SIZE) |
		  VIRTIO_BIT(VIRTIO_BLK_F_SEG_MAX),
	  step_blk },
	{ VIRTIO_ID_NET, "net", VIRTIO_BIT(NET_F_MAC), step_net },
	{ VIRTIO_ID_RNG, "rng", 0, step_rng },
	{ VIRTIO_ID_CONSOLE, "console", 0, step_console },
	{ VIRTIO_ID_SCSI, "scsi", 0, step_scsi },
	{ VMMCI_VIRTIO_ID, "vmmci",
	  VIRTIO_BIT(VMMCI_F_TIMESYNC) | VIRTIO_BIT(VMMCI_F_ACK) | VIRTIO_BIT(VMMCI_F_SYNCRTC),
	  step_vmmci },
	{ VIRTIO_ID_BALLOON, "balloon", 0, step_balloon },
};

static const struct fw_step generic_step = { 0, "generic", 0, step_generic };

static const struct fw_step *find_step(uint16_t id)
{
	for (unsigned i = 0; i < sizeof fw_steps / sizeof fw_steps[0]; i++)
		if (fw_steps[i].virtio_id == id)
			return &fw_steps[i];
	return &generic_step;
}

/* ---- sessions --------------------------------------------------------------------------- */

static const char *iface_name(enum gdrv_transport t)
{
	switch (t) {
	case GDRV_PCI_LEGACY: return "pci legacy";
	case GDRV_PCI_MODERN: return "pci modern";
	case GDRV_MMIO_V1: return "mmio v1";
	default: return "mmio v2";
	}
}

/* Open device i over interface t. 0, or -1 with why. */
static int sess_open(struct fw_sess *s, const struct gdrv_pci_info *pci, enum gdrv_transport t)
{
	fw_memset(s->d, 0, sizeof *s->d);
	if (t == GDRV_PCI_LEGACY || t == GDRV_PCI_MODERN) {
		if (!pci)
			return fail(s, "not found by the PCI scan", s->index, 0);
		if (gdrv_open_pci(s->d, &fw_io, &s->mem, pci, t == GDRV_PCI_LEGACY))
			return fail(s, "interface absent", s->index, t);
	} else if (gdrv_open_mmio(s->d, &fw_io, &s->mem, s->bd->mmio_base)) {
		return fail(s, "no virtio-mmio device at", s->bd->mmio_base, 0);
	}
	if (s->d->device_id != s->bd->virtio_id)
		return fail(s, "device id differs from the boot information", s->d->device_id,
			    s->bd->virtio_id);
	return 0;
}

static void run_session(struct fw_ctx *c, unsigned i, const struct gdrv_pci_info *pci,
			enum gdrv_transport t)
{
	struct fw_sess s = {
		.c = c,
		.d = &dev_state,
		.mem = { c->pool_base, c->pool_end },
		.index = i,
		.serial = c->sessions,
		.bd = &c->bi->dev[i],
	};
	const struct fw_step *step = find_step(s.bd->virtio_id);
	/* rings: indirect and event index when offered; packed on every other
	 * 1.x session so both ring layouts run */
	uint64_t want = step->want | VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC) |
			VIRTIO_BIT(VIRTIO_F_EVENT_IDX) |
			(s.serial % 2 ? 0 : VIRTIO_BIT(VIRTIO_F_RING_PACKED));
	int r = -1;

	c->sessions++;
	fw_hash_u64(&c->hash, ((uint64_t)s.bd->virtio_id << 32) | ((uint64_t)i << 8) | t);
	if (sess_open(&s, pci, t) == 0) {
		if (gdrv_init(s.d, want)) {
			fail(&s, "feature negotiation refused", gdrv_device_features(s.d), want);
		} else {
			fw_hash_u64(&c->hash, s.d->features);
			if (t == GDRV_PCI_LEGACY || t == GDRV_PCI_MODERN)
				(void)gdrv_enable_msix(s.d, FW_MSI_ADDR,
						       FW_VEC_MSI_BASE + 8 * (s.serial % 16));
			r = step->run(&s);
		}
		gdrv_reset(s.d);
		if (r >= 0 && gdrv_get_status(s.d) != 0)
			r = fail(&s, "status after reset", gdrv_get_status(s.d), 0);
	}
	fw_hash_u64(&c->hash, (uint64_t)(r < 0 ? 0xfa11 : r));
	if (r == 0) {
		c->passed++;
	} else if (r > 0) {
		c->skipped++;
	} else {
		c->failed++;
		if (!c->msg[0])
			fw_snprintf(c->msg, sizeof c->msg, "device %u (%s, %s): %s", i, step->name,
				    iface_name(t), s.why);
	}
	fw_printf("fw: device %u %-8s %-11s %s%s%s\n", i, s.bd->name, iface_name(t),
		  r == 0 ? "ok" : r > 0 ? "skipped" : "FAILED", r < 0 ? ": " : "",
		  r < 0 ? s.why : "");
}

static struct gdrv_pci_info pci_found[32];
static unsigned npci;

void fw_workload_run(struct fw_ctx *c)
{
	npci = gdrv_pci_scan(&fw_io, pci_found, 32);

	for (unsigned i = 0; i < c->bi->ndev; i++) {
		const struct fw_bidev *bd = &c->bi->dev[i];
		const struct gdrv_pci_info *pci = 0;

		for (unsigned k = 0; k < npci; k++)
			if ((int)pci_found[k].slot == bd->slot)
				pci = &pci_found[k];
		switch (bd->transport) {
		case TR_PCI:
			run_session(c, i, pci, GDRV_PCI_MODERN);
			run_session(c, i, pci, GDRV_PCI_LEGACY);
			break;
		case TR_PCI_MODERN: run_session(c, i, pci, GDRV_PCI_MODERN); break;
		case TR_PCI_LEGACY: run_session(c, i, pci, GDRV_PCI_LEGACY); break;
		case TR_MMIO: run_session(c, i, pci, GDRV_MMIO_V2); break;
		case TR_MMIO_LEGACY: run_session(c, i, pci, GDRV_MMIO_V1); break;
		default:
			c->sessions++;
			c->skipped++;
			break;
		}
	}
}

/* ---- interrupt checks (KVM's in-kernel irqchip) ------------------------------------------- */

/* One echo request with interrupts on; true once vector fired. */
static bool irq_request(struct fw_sess *s, unsigned vector)
{
	uint64_t out = alloc(s, 64, 64), in = alloc(s, 64, 64);
	struct gdrv_buf b[2] = { { out, 64 }, { in, 64 } };
	uint64_t token;
	uint32_t len;
	bool seen = false;

	if (!out || !in || gdrv_submit(&s->d->vq[0], b, 1, 1, 0x77, false))
		return false;
	fw_irq_clear();
	fw_irq_enable(true);
	gdrv_kick(&s->d->vq[0]);
	for (unsigned i = 0; i < 100000 && !seen; i++) {
		seen = fw_irq_count(vector) != 0;
		__asm__ volatile("pause");
	}
	fw_irq_enable(false);
	(void)gdrv_get_used(&s->d->vq[0], &token, &len);
	return seen;
}

/* Let interrupts left pending by the workload (MSI-X messages while
 * interrupts were off) drain, then forget them. */
static void irq_drain(void)
{
	fw_irq_enable(true);
	for (unsigned i = 0; i < 1000; i++)
		__asm__ volatile("pause");
	fw_irq_enable(false);
	fw_irq_clear();
}

void fw_irq_checks(struct fw_ctx *c)
{
	const struct fw_bootinfo *bi = c->bi;

	for (unsigned i = 0; i < bi->ndev; i++) {
		const struct fw_bidev *bd = &bi->dev[i];
		struct fw_sess s = { .c = c, .d = &dev_state, .mem = { c->pool_base, c->pool_end },
				     .index = i, .bd = bd };
		const struct gdrv_pci_info *pci = 0;
		bool msi = !c->irq_msi && (bd->transport == TR_PCI ||
					  bd->transport == TR_PCI_MODERN);
		bool intx = !c->irq_intx && (bd->transport == TR_MMIO ||
					    bd->transport == TR_MMIO_LEGACY);

		if (bd->virtio_id != VIRTIO_ID_RS_ECHO || (!msi && !intx))
			continue;
		for (unsigned k = 0; k < npci; k++)
			if ((int)pci_found[k].slot == bd->slot)
				pci = &pci_found[k];
		if (sess_open(&s, pci, msi ? GDRV_PCI_MODERN :
				      bd->transport == TR_MMIO ? GDRV_MMIO_V2 : GDRV_MMIO_V1) ||
		    gdrv_init(s.d, 0))
			continue;
		if (msi && gdrv_enable_msix(s.d, FW_MSI_ADDR, FW_VEC_MSI_BASE)) {
			gdrv_reset(s.d);
			continue;
		}
		if (start(&s, 1, 16)) {
			gdrv_reset(s.d);
			continue;
		}
		irq_drain();
		if (msi) {
			/* queue 0 has MSI-X table entry 1: vector base + 1 */
			c->irq_msi = irq_request(&s, FW_VEC_MSI_BASE + 1) ? FW_IRQ_OK
									  : FW_IRQ_FAILED;
		} else {
			fw_irq_set_intx_dev(s.d);
			fw_ioapic_route(bd->gsi, true);
			irq_drain();
			c->irq_intx = irq_request(&s, FW_VEC_INTX) ? FW_IRQ_OK : FW_IRQ_FAILED;
			fw_ioapic_route(bd->gsi, false);
			fw_irq_set_intx_dev(0);
		}
		gdrv_reset(s.d);
		fw_printf("fw: interrupt check: %s on device %u: %s\n", msi ? "MSI-X" : "INTx", i,
			  (msi ? c->irq_msi : c->irq_intx) == FW_IRQ_OK ? "delivered" : "MISSING");
	}
}
