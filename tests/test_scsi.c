/*
 * ringside tests — the virtio SCSI host "scsi" (devices/scsi/) through the
 * reference driver: PCI modern (split and packed rings), PCI legacy, PCI
 * transitional through both interfaces, MMIO v2 and v1.
 *
 * Every command of the device is issued with its data checked: INQUIRY and
 * its VPD pages, READ CAPACITY(10/16), READ/WRITE(6/10/12/16) round trips on
 * in-memory and file-backed disks (the file compared afterwards), READ on a
 * CD-ROM backed by an ISO image made here (sectors compared with the file),
 * READ TOC, GET CONFIGURATION, GET EVENT STATUS NOTIFICATION, MECHANISM
 * STATUS, MODE SENSE(6/10), PREVENT ALLOW MEDIUM REMOVAL, START STOP UNIT,
 * SYNCHRONIZE CACHE, REQUEST SENSE, REPORT LUNS (and the well-known LUs).
 * Then what a hostile driver does: unknown opcodes, bad fields, LBA ranges
 * at 2^64, bad LUN addresses and targets, allocation lengths, malformed
 * framing (short header, response that does not fit, bidirectional
 * buffers, bad event buffers, short control requests), config writes out
 * of range; each followed by a request that must still succeed. Task
 * management, asynchronous notification, media and parameter change events
 * from the world, lost events, hotplug, several targets and LUNs, several
 * request queues, backend failures, reset.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "ringside/guest_machine.h"
#include "ringside/ringside.h"
#include "ringside/transport.h"
#include "ringside/virtio.h"

#define F(b) VIRTIO_BIT(b)
#define F_ALL (~0ull)
#define F_SPLIT (~F(VIRTIO_F_RING_PACKED))
#define F_HOTPLUG F(1)
#define F_CHANGE F(2)
#define DRV_MEM_BASE 0x100000ull
#define DRV_MEM_END (16ull << 20)
#define QSIZE 64

/* virtio-scsi constants (virtio-v1.2 5.6) as the driver sees them */
#define CFG_NUM_QUEUES 0
#define CFG_SEG_MAX 4
#define CFG_MAX_SECTORS 8
#define CFG_CMD_PER_LUN 12
#define CFG_EVENT_INFO_SIZE 16
#define CFG_SENSE_SIZE 20
#define CFG_CDB_SIZE 24
#define CFG_MAX_CHANNEL 28
#define CFG_MAX_TARGET 30
#define CFG_MAX_LUN 32
#define S_OK 0
#define S_OVERRUN 1
#define S_BAD_TARGET 3
#define S_FAILURE 9
#define S_FUNCTION_COMPLETE 0
#define S_FUNCTION_REJECTED 11
#define S_INCORRECT_LUN 12
#define T_TMF 0
#define T_AN_QUERY 1
#define T_AN_SUBSCRIBE 2
#define EVT_MEDIA_CHANGE 16
#define T_NO_EVENT 0
#define T_TRANSPORT_RESET 1
#define T_ASYNC_NOTIFY 2
#define T_PARAM_CHANGE 3
#define T_EVENTS_MISSED 0x80000000u

#define GOOD 0
#define CHECK_CONDITION 2

/* ---- images made by the test ---------------------------------------------------------------- */

#define ISO_BLOCKS 100
#define ISO_TAIL 100 /* bytes after the last whole block: not part of the medium */

static char g_iso[64], g_iso2[64], g_img[64], g_roimg[64], g_tiny[64];

static uint8_t iso_byte(uint64_t block, uint32_t i)
{
	if (i < 4)
		return (uint8_t)(block >> (8 * i));
	return (uint8_t)(block * 7 + i * 13 + 1);
}

static uint8_t img_byte(uint64_t off)
{
	return (uint8_t)(off * 31 + (off >> 9) + 5);
}

/* Create a temporary file of len bytes from byte(block, i) or img_byte. */
static void make_file(char *path, const char *tmpl, uint64_t len, bool iso, uint32_t salt)
{
	uint8_t buf[2048];
	int fd;

	snprintf(path, 64, "%s", tmpl);
	fd = mkstemp(path);
	CHECK(fd >= 0);
	for (uint64_t off = 0; off < len; off += sizeof buf) {
		size_t n = (size_t)RS_MIN((uint64_t)sizeof buf, len - off);
		for (size_t i = 0; i < n; i++)
			buf[i] = (uint8_t)((iso ? iso_byte(off / 2048, (uint32_t)i)
						: img_byte(off + i)) ^ salt);
		CHECK_EQ(pwrite(fd, buf, n, (off_t)off), (ssize_t)n);
	}
	close(fd);
}

static void make_images(void)
{
	make_file(g_iso, "/tmp/rs-scsi-iso-XXXXXX", ISO_BLOCKS * 2048ull + ISO_TAIL, true, 0);
	make_file(g_iso2, "/tmp/rs-scsi-iso2-XXXXXX", 40 * 2048ull, true, 0x5a);
	make_file(g_img, "/tmp/rs-scsi-img-XXXXXX", 256 * 512ull, false, 0);
	make_file(g_roimg, "/tmp/rs-scsi-ro-XXXXXX", 64 * 512ull, false, 0);
	make_file(g_tiny, "/tmp/rs-scsi-tiny-XXXXXX", 1000, false, 0);
}

static void remove_images(void)
{
	unlink(g_iso);
	unlink(g_iso2);
	unlink(g_img);
	unlink(g_roimg);
	unlink(g_tiny);
}

/* ---- a world that can fail backend I/O -------------------------------------------------------- */

struct faultw {
	struct world w;
	struct world *inner;         /* the live world: events, real files */
	int fail_op;                 /* fail the next I/O of this op (-1: none)... */
	unsigned fail_skip;          /* ...after letting this many pass */
	int64_t fail_result;         /* with this result */
	unsigned ios;                /* I/O requests seen */
};

static int fw_entropy(struct world *w, unsigned dev, void *buf, size_t len)
{
	struct faultw *f = w->impl;
	return f->inner->ops->entropy(f->inner, dev, buf, len);
}

static uint64_t fw_clock(struct world *w, enum world_clock c)
{
	struct faultw *f = w->impl;
	return f->inner->ops->clock_ns(f->inner, c);
}

static int64_t fw_io(struct world *w, struct world_backend *b, struct world_io *req)
{
	struct faultw *f = w->impl;

	f->ios++;
	if ((int)req->op == f->fail_op) {
		if (f->fail_skip == 0) {
			f->fail_op = -1;
			return f->fail_result;
		}
		f->fail_skip--;
	}
	return f->inner->ops->io(f->inner, b, req);
}

static int fw_next(struct world *w, struct world_event *ev)
{
	struct faultw *f = w->impl;
	return f->inner->ops->next_event(f->inner, ev);
}

static int fw_post(struct world *w, const struct world_event *ev)
{
	struct faultw *f = w->impl;
	return f->inner->ops->post(f->inner, ev);
}

static void fw_destroy(struct world *w)
{
	struct faultw *f = w->impl;

	world_destroy(f->inner);
	free(f);
}

static const struct world_ops fw_ops = {
	.name = "fault",
	.entropy = fw_entropy,
	.clock_ns = fw_clock,
	.io = fw_io,
	.next_event = fw_next,
	.post = fw_post,
	.destroy = fw_destroy,
};

/* ---- environment ------------------------------------------------------------------------------ */

struct env {
	struct machine *m;
	struct faultw *fw;
	struct vdev *dev;
	struct gdrv_io io;
	struct gdrv_mem mem;
	struct gdrv_dev *d;
	uint64_t req, resp, out, in, evbuf;  /* guest buffers */
	uint32_t cdb_size, sense_size;       /* as the driver set them */
	uint64_t token;
	unsigned nreq;                       /* request queues set up */
};

#define REQ_BYTES 4096u
#define RESP_BYTES (72u << 10)
#define DATA_BYTES (1u << 20)
#define EV_BYTES 64u
#define EV_BUFS 16u

static uint8_t g_data[DATA_BYTES];

static bool env_open(struct env *e, const char *spec, bool use_legacy)
{
	char err[256];

	memset(e, 0, sizeof *e);
	e->fw = calloc(1, sizeof *e->fw);
	e->fw->inner = world_live_new();
	e->fw->w.ops = &fw_ops;
	e->fw->w.impl = e->fw;
	e->fw->fail_op = -1;
	if (rs_machine_new_world(spec, &e->fw->w, &e->m, err, sizeof err) < 0) {
		fprintf(stderr, "rs_machine_new_world(%s): %s\n", spec, err);
		CHECK(!"machine");
		fw_destroy(&e->fw->w);
		return false;
	}
	e->dev = e->m->devs[0];
	gdrv_machine_io(&e->io, e->m);
	e->mem.next = DRV_MEM_BASE;
	e->mem.end = DRV_MEM_END;
	e->d = calloc(1, sizeof *e->d);
	e->req = gdrv_alloc(&e->io, &e->mem, REQ_BYTES, 4096);
	e->resp = gdrv_alloc(&e->io, &e->mem, RESP_BYTES, 4096);
	e->out = gdrv_alloc(&e->io, &e->mem, DATA_BYTES, 4096);
	e->in = gdrv_alloc(&e->io, &e->mem, DATA_BYTES, 4096);
	e->evbuf = gdrv_alloc(&e->io, &e->mem, EV_BUFS * EV_BYTES, 4096);
	CHECK(e->req && e->resp && e->out && e->in && e->evbuf);
	e->cdb_size = 32;
	e->sense_size = 96;

	struct machine_devinfo *di = &e->m->devinfo[0];
	if (di->transport == MSPEC_MMIO || di->transport == MSPEC_MMIO_LEGACY) {
		CHECK_EQ(gdrv_open_mmio(e->d, &e->io, &e->mem, di->base), 0);
	} else {
		struct gdrv_pci_info info[4];
		unsigned n = gdrv_pci_scan(&e->io, info, 4);

		CHECK_EQ(n, 1);
		if (n != 1)
			return false;
		CHECK_EQ(gdrv_open_pci(e->d, &e->io, &e->mem, &info[0], use_legacy), 0);
		/* virtio-v1.2 4.1.2.1: 0x1040 + 8 modern-only, 0x1004 transitional */
		CHECK_EQ(info[0].device, di->transport == MSPEC_PCI_MODERN ? 0x1048 : 0x1004);
		CHECK_EQ(info[0].vendor, 0x1af4);
	}
	CHECK_EQ(e->d->device_id, 8);
	return true;
}

/* init, controlq, eventq, nreq request queues, DRIVER_OK. */
static bool env_up(struct env *e, uint64_t want, unsigned nreq)
{
	CHECK_EQ(gdrv_init(e->d, want), 0);
	for (unsigned q = 0; q < 2 + nreq; q++)
		CHECK_EQ(gdrv_setup_vq(e->d, q, QSIZE), 0);
	gdrv_driver_ok(e->d);
	CHECK(gdrv_get_status(e->d) & VIRTIO_STATUS_DRIVER_OK);
	e->nreq = nreq;
	e->cdb_size = 32;
	e->sense_size = 96;
	return e->d->nqueues == 2 + nreq;
}

static void env_close(struct env *e)
{
	rs_machine_free(e->m);
	free(e->d);
	memset(e, 0, sizeof *e);
}

/* Nothing the well-behaved driver did may have been reported. */
static void env_check_clean(struct env *e)
{
	CHECK_EQ(e->dev->log.total, 0);
	if (e->dev->log.total)
		fprintf(stderr, "scsi: %s\n", diag_last(&e->dev->log)->msg);
	CHECK_EQ(e->m->log.total, 0);
}

static void lun_of(uint8_t *l, unsigned target, unsigned lun)
{
	memset(l, 0, 8);
	l[0] = 1;
	l[1] = (uint8_t)target;
	l[2] = (uint8_t)(lun >> 8 | 0x40); /* flat space addressing, as Linux */
	l[3] = (uint8_t)lun;
}

/* Submit one chain on queue q, kick, collect it. Returns the used length,
 * UINT32_MAX when nothing completed. */
static uint32_t roundtrip(struct env *e, unsigned q, const struct gdrv_buf *b, unsigned nout,
			  unsigned nin)
{
	struct gdrv_vq *vq = &e->d->vq[q];
	uint64_t tok = 0, want = ++e->token;
	uint32_t len = 0;

	CHECK_EQ(gdrv_submit(vq, b, nout, nin, want, false), 0);
	gdrv_kick(vq);
	if (gdrv_get_used(vq, &tok, &len) != 1)
		return UINT32_MAX;
	CHECK_EQ(tok, want);
	return len;
}

struct resp {
	uint32_t used;
	uint32_t sense_len, resid;
	uint16_t qualifier;
	uint8_t status, response;
	uint8_t sense[128];
};

/* One SCSI command to lun (8 bytes) on request queue rq with cdb (zero
 * padded to cdb_size), out_len bytes of dataout from `out` and in_len bytes
 * of datain (read back into g_data). */
static void cmdq(struct env *e, unsigned rq, const uint8_t *lun, const uint8_t *cdb, size_t cdb_len,
		 const void *out, uint32_t out_len, uint32_t in_len, struct resp *r)
{
	uint8_t hdr[19 + 256], rb[12 + 128];
	struct gdrv_buf b[4];
	unsigned nout = 0, nin = 0;

	memset(hdr, 0, sizeof hdr);
	memcpy(hdr, lun, 8);
	rs_st64(hdr + 8, e->token + 1);
	memcpy(hdr + 19, cdb, RS_MIN(cdb_len, (size_t)e->cdb_size));
	e->io.mem_write(e->io.ctx, e->req, hdr, 19 + e->cdb_size);
	b[nout++] = (struct gdrv_buf){ e->req, 19 + e->cdb_size };
	if (out_len) {
		e->io.mem_write(e->io.ctx, e->out, out, out_len);
		b[nout++] = (struct gdrv_buf){ e->out, out_len };
	}
	memset(rb, 0xee, sizeof rb);
	e->io.mem_write(e->io.ctx, e->resp, rb, sizeof rb);
	b[nout + nin++] = (struct gdrv_buf){ e->resp, 12 + e->sense_size };
	if (in_len) {
		memset(g_data, 0xcd, in_len);
		e->io.mem_write(e->io.ctx, e->in, g_data, in_len);
		b[nout + nin++] = (struct gdrv_buf){ e->in, in_len };
	}
	memset(r, 0, sizeof *r);
	r->used = roundtrip(e, 2 + rq, b, nout, nin);
	e->io.mem_read(e->io.ctx, e->resp, rb, 12 + RS_MIN(e->sense_size, 128u));
	r->sense_len = rs_le32(rb);
	r->resid = rs_le32(rb + 4);
	r->qualifier = rs_le16(rb + 8);
	r->status = rb[10];
	r->response = rb[11];
	memcpy(r->sense, rb + 12, RS_MIN(e->sense_size, 128u));
	if (in_len)
		e->io.mem_read(e->io.ctx, e->in, g_data, in_len);
}

static void cmd(struct env *e, unsigned t, unsigned l, const uint8_t *cdb, size_t cdb_len,
		const void *out, uint32_t out_len, uint32_t in_len, struct resp *r)
{
	uint8_t lun[8];

	lun_of(lun, t, l);
	cmdq(e, 0, lun, cdb, cdb_len, out, out_len, in_len, r);
}

#define C(...) (const uint8_t[]){ __VA_ARGS__ }, sizeof((const uint8_t[]){ __VA_ARGS__ })

static unsigned asc_of(const uint8_t *s)
{
	return (unsigned)s[12] << 8 | s[13];
}

/* A CHECK CONDITION with this sense key and asc << 8 | ascq. */
#define CHECK_SENSE(r, key, asc)                                                  \
	do {                                                                      \
		CHECK_EQ((r).response, S_OK);                                     \
		CHECK_EQ((r).status, CHECK_CONDITION);                            \
		CHECK_EQ((r).sense_len, 18);                                      \
		CHECK_EQ((r).sense[0] & 0x7f, 0x70);                              \
		CHECK_EQ((r).sense[2] & 0xf, key);                                \
		CHECK_EQ(asc_of((r).sense), asc);                                 \
	} while (0)

#define CHECK_GOOD(r)                                                             \
	do {                                                                      \
		CHECK_EQ((r).response, S_OK);                                     \
		CHECK_EQ((r).status, GOOD);                                       \
		CHECK_EQ((r).sense_len, 0);                                       \
	} while (0)

/* TEST UNIT READY must end in CHECK CONDITION with this sense. */
#define TUR_SENSE(e, t, l, key, asc)                                              \
	do {                                                                      \
		struct resp tr_;                                                  \
		tur(e, t, l, &tr_);                                               \
		CHECK_SENSE(tr_, key, asc);                                       \
	} while (0)

/* Consume the power-on unit attention of a unit: the first TEST UNIT READY
 * reports it, the second is GOOD (or NOT READY for an empty drive). */
static void clear_ua(struct env *e, unsigned t, unsigned l)
{
	struct resp r;

	cmd(e, t, l, C(0x00, 0, 0, 0, 0, 0), NULL, 0, 0, &r);
	CHECK_SENSE(r, 6, 0x2900);
}

static uint8_t tur(struct env *e, unsigned t, unsigned l, struct resp *r)
{
	cmd(e, t, l, C(0x00, 0, 0, 0, 0, 0), NULL, 0, 0, r);
	return r->status;
}

/* Make n event buffers of len bytes available on the eventq (and kick). */
static void ev_post(struct env *e, unsigned n, uint32_t len, bool kick)
{
	struct gdrv_vq *vq = &e->d->vq[1];

	for (unsigned i = 0; i < n; i++) {
		struct gdrv_buf b = { e->evbuf + (uint64_t)i * EV_BYTES, len };
		uint8_t junk[EV_BYTES];

		memset(junk, 0xee, sizeof junk);
		e->io.mem_write(e->io.ctx, b.gpa, junk, sizeof junk);
		CHECK_EQ(gdrv_submit(vq, &b, 0, 1, 1000 + i, false), 0);
	}
	if (kick)
		gdrv_kick(vq);
}

/* Collect one event: 1 with its fields, 0 when none. */
static int ev_get(struct env *e, uint32_t *event, uint8_t *lun, uint32_t *reason, uint32_t *used)
{
	uint64_t tok;
	uint32_t len;
	uint8_t b[16];

	if (gdrv_get_used(&e->d->vq[1], &tok, &len) != 1)
		return 0;
	CHECK(tok >= 1000 && tok < 1000 + EV_BUFS);
	e->io.mem_read(e->io.ctx, e->evbuf + (tok - 1000) * EV_BYTES, b, sizeof b);
	*event = rs_le32(b);
	memcpy(lun, b + 4, 8);
	*reason = rs_le32(b + 12);
	*used = len;
	return 1;
}

/* Post a host event through the world and let the machine deliver it. */
static void host_event(struct env *e, enum world_event_kind kind, unsigned t, unsigned l,
		       uint64_t arg)
{
	struct world_event ev = { .kind = kind, .dev = 0, .port = t << 16 | l, .arg = arg };

	CHECK_EQ(world_post(e->m->world, &ev), 0);
	CHECK_EQ(rs_machine_poll_events(e->m, 8), 1);
}

/* A task management function; returns the response byte (0xee: none). */
static uint8_t tmf(struct env *e, uint32_t subtype, const uint8_t *lun, uint32_t *used)
{
	uint8_t req[24], resp = 0xee;
	struct gdrv_buf b[2];

	memset(req, 0, sizeof req);
	rs_st32(req, T_TMF);
	rs_st32(req + 4, subtype);
	memcpy(req + 8, lun, 8);
	rs_st64(req + 16, 77);
	e->io.mem_write(e->io.ctx, e->req, req, sizeof req);
	e->io.mem_write(e->io.ctx, e->resp, &resp, 1);
	b[0] = (struct gdrv_buf){ e->req, sizeof req };
	b[1] = (struct gdrv_buf){ e->resp, 1 };
	*used = roundtrip(e, 0, b, 1, 1);
	e->io.mem_read(e->io.ctx, e->resp, &resp, 1);
	return resp;
}

/* Asynchronous notification query/subscribe; returns the response byte. */
static uint8_t an(struct env *e, uint32_t type, const uint8_t *lun, uint32_t requested,
		  uint32_t *actual)
{
	uint8_t req[16], resp[5];
	struct gdrv_buf b[2];

	rs_st32(req, type);
	memcpy(req + 4, lun, 8);
	rs_st32(req + 12, requested);
	memset(resp, 0xee, sizeof resp);
	e->io.mem_write(e->io.ctx, e->req, req, sizeof req);
	e->io.mem_write(e->io.ctx, e->resp, resp, sizeof resp);
	b[0] = (struct gdrv_buf){ e->req, sizeof req };
	b[1] = (struct gdrv_buf){ e->resp, sizeof resp };
	CHECK_EQ(roundtrip(e, 0, b, 1, 1), 5);
	e->io.mem_read(e->io.ctx, e->resp, resp, sizeof resp);
	*actual = rs_le32(resp);
	return resp[4];
}

/* Read n blocks at lba from a CD-ROM with READ(10) and compare with the ISO. */
static unsigned cd_read_check(struct env *e, unsigned t, unsigned l, uint32_t lba, uint16_t n,
			      uint32_t salt)
{
	struct resp r;
	unsigned bad = 0;

	cmd(e, t, l, C(0x28, 0, (uint8_t)(lba >> 24), (uint8_t)(lba >> 16), (uint8_t)(lba >> 8),
		       (uint8_t)lba, 0, (uint8_t)(n >> 8), (uint8_t)n, 0),
	    NULL, 0, n * 2048u, &r);
	CHECK_GOOD(r);
	CHECK_EQ(r.resid, 0);
	CHECK_EQ(r.used, 12 + 96 + n * 2048u);
	for (uint32_t b = 0; b < n; b++)
		for (uint32_t i = 0; i < 2048; i++)
			bad += g_data[b * 2048 + i] != (uint8_t)(iso_byte(lba + b, i) ^ salt);
	return bad;
}

/* Fill buf with a pattern for writes. */
static void pattern(uint8_t *buf, size_t len, uint32_t seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 9));
}

/* READ(10)/WRITE(10) CDB. */
static void rw10(uint8_t *cdb, uint8_t op, uint32_t lba, uint16_t n)
{
	memset(cdb, 0, 10);
	cdb[0] = op;
	cdb[2] = (uint8_t)(lba >> 24);
	cdb[3] = (uint8_t)(lba >> 16);
	cdb[4] = (uint8_t)(lba >> 8);
	cdb[5] = (uint8_t)lba;
	cdb[7] = (uint8_t)(n >> 8);
	cdb[8] = (uint8_t)n;
}

static void rw16(uint8_t *cdb, uint8_t op, uint64_t lba, uint32_t n)
{
	memset(cdb, 0, 16);
	cdb[0] = op;
	for (int i = 0; i < 8; i++)
		cdb[2 + i] = (uint8_t)(lba >> (56 - 8 * i));
	for (int i = 0; i < 4; i++)
		cdb[10 + i] = (uint8_t)(n >> (24 - 8 * i));
}

/* ======================================================================================== */
/* Over every transport                                                                      */
/* ======================================================================================== */

struct tcase {
	const char *transport;
	bool legacy;
	uint64_t want;
};

static const struct tcase tcases[] = {
	{ "pci-modern", false, F_ALL },
	{ "pci-modern", false, F_SPLIT },
	{ "pci-legacy", true, F_ALL },
	{ "pci", true, F_ALL },
	{ "pci", false, F_ALL },
	{ "mmio", false, F_ALL },
	{ "mmio-legacy", false, F_ALL },
};

/* The essentials on each transport: identify, capacity, disk round trip,
 * CD-ROM sectors compared with the ISO, an event. */
static void test_transports(void)
{
	for (unsigned k = 0; k < RS_ARRAY_SIZE(tcases); k++) {
		const struct tcase *tc = &tcases[k];
		char spec[256];
		struct env e;
		struct resp r;
		uint8_t wbuf[8 * 512], cdb[16], lun[8];
		uint32_t ev, reason, used, actual;

		snprintf(spec, sizeof spec, "mem=16M %s:scsi,disk0=8M,cd1=%s", tc->transport, g_iso);
		if (!env_open(&e, spec, tc->legacy))
			continue;
		CHECK(env_up(&e, tc->want, 1));
		if (tc->want == F_ALL && !tc->legacy && strcmp(tc->transport, "mmio-legacy"))
			CHECK(e.d->features & F(VIRTIO_F_RING_PACKED));
		/* legacy drivers see the low 32 feature bits: HOTPLUG and CHANGE */
		CHECK_EQ(e.d->features & (F_HOTPLUG | F_CHANGE), F_HOTPLUG | F_CHANGE);
		CHECK_EQ(gdrv_config_read(e.d, CFG_NUM_QUEUES, 4), 1);
		CHECK_EQ(gdrv_config_read(e.d, CFG_SENSE_SIZE, 4), 96);
		CHECK_EQ(gdrv_config_read(e.d, CFG_CDB_SIZE, 4), 32);

		/* INQUIRY runs under the power-on unit attention */
		cmd(&e, 0, 0, C(0x12, 0, 0, 0, 36, 0), NULL, 0, 36, &r);
		CHECK_GOOD(r);
		CHECK_EQ(g_data[0], 0x00);
		CHECK_EQ(memcmp(g_data + 8, "RINGSIDE", 8), 0);
		cmd(&e, 1, 0, C(0x12, 0, 0, 0, 36, 0), NULL, 0, 36, &r);
		CHECK_EQ(g_data[0], 0x05);
		CHECK_EQ(g_data[1], 0x80);
		clear_ua(&e, 0, 0);
		clear_ua(&e, 1, 0);

		cmd(&e, 0, 0, C(0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0), NULL, 0, 8, &r);
		CHECK_GOOD(r);
		CHECK_EQ(rs_le32(g_data) , 0xff3f0000u); /* big-endian 16383 */
		CHECK_EQ(g_data[6], 0x02);

		pattern(wbuf, sizeof wbuf, k);
		rw10(cdb, 0x2a, 100, 8);
		cmd(&e, 0, 0, cdb, 10, wbuf, sizeof wbuf, 0, &r);
		CHECK_GOOD(r);
		CHECK_EQ(r.used, 12);
		rw10(cdb, 0x28, 100, 8);
		cmd(&e, 0, 0, cdb, 10, NULL, 0, sizeof wbuf, &r);
		CHECK_GOOD(r);
		CHECK_EQ(memcmp(g_data, wbuf, sizeof wbuf), 0);

		CHECK_EQ(cd_read_check(&e, 1, 0, 0, 4, 0), 0);
		CHECK_EQ(cd_read_check(&e, 1, 0, ISO_BLOCKS - 3, 3, 0), 0);

		/* a media change reaches a subscribed driver as an event */
		lun_of(lun, 1, 0);
		CHECK_EQ(an(&e, T_AN_SUBSCRIBE, lun, EVT_MEDIA_CHANGE | 4, &actual), S_OK);
		CHECK_EQ(actual, EVT_MEDIA_CHANGE);
		ev_post(&e, 2, 16, true);
		host_event(&e, WEV_SCSI_MEDIA, 1, 0, 0);
		CHECK_EQ(ev_get(&e, &ev, lun, &reason, &used), 1);
		CHECK_EQ(ev, T_ASYNC_NOTIFY);
		CHECK_EQ(lun[0], 1);
		CHECK_EQ(lun[1], 1);
		CHECK_EQ(reason, EVT_MEDIA_CHANGE);
		CHECK_EQ(used, 16);
		env_check_clean(&e);
		env_close(&e);
	}
}

/* ======================================================================================== */
/* SPC: INQUIRY, VPD, REQUEST SENSE, REPORT LUNS, MODE SENSE                                 */
/* ======================================================================================== */

static void test_inquiry(void)
{
	char spec[256];
	struct env e;
	struct resp r;

	snprintf(spec, sizeof spec, "mem=16M pci-modern:scsi,disk0=8M,cd0-3=%s", g_iso);
	if (!env_open(&e, spec, false))
		return;
	env_up(&e, F_ALL, 1);

	cmd(&e, 0, 0, C(0x12, 0, 0, 0, 96, 0), NULL, 0, 96, &r);
	CHECK_GOOD(r);
	CHECK_EQ(r.resid, 96 - 36);
	CHECK_EQ(r.used, 12 + 96 + 36);
	CHECK_EQ(g_data[0], 0x00);
	CHECK_EQ(g_data[1], 0x00);
	CHECK_EQ(g_data[2], 0x05);
	CHECK_EQ(g_data[3], 0x12);
	CHECK_EQ(g_data[4], 31);
	CHECK_EQ(g_data[7], 0x02);
	CHECK_EQ(memcmp(g_data + 8, "RINGSIDEVIRTUAL DISK    0.1 ", 28), 0);
	CHECK_EQ(g_data[36], 0xcd); /* untouched */

	cmd(&e, 0, 3, C(0x12, 0, 0, 0, 36, 0), NULL, 0, 36, &r);
	CHECK_GOOD(r);
	CHECK_EQ(g_data[0], 0x05);
	CHECK_EQ(g_data[1], 0x80);
	CHECK_EQ(memcmp(g_data + 16, "VIRTUAL CD-ROM  ", 16), 0);

	/* allocation length truncates: 5 bytes of a 64-byte buffer */
	cmd(&e, 0, 0, C(0x12, 0, 0, 0, 5, 0), NULL, 0, 64, &r);
	CHECK_GOOD(r);
	CHECK_EQ(r.resid, 59);
	CHECK_EQ(g_data[4], 31);
	CHECK_EQ(g_data[5], 0xcd);
	/* allocation length 0: nothing, not an error */
	cmd(&e, 0, 0, C(0x12, 0, 0, 0, 0, 0), NULL, 0, 0, &r);
	CHECK_GOOD(r);
	CHECK_EQ(r.resid, 0);
	/* allocation length above the datain buffer: OVERRUN (5.6.6.1.1) */
	cmd(&e, 0, 0, C(0x12, 0, 0, 0, 255, 0), NULL, 0, 36, &r);
	CHECK_EQ(r.response, S_OVERRUN);
	CHECK_EQ(r.resid, 36);
	CHECK_EQ(g_data[0], 0xcd);
	/* 16-bit allocation length */
	cmd(&e, 0, 0, C(0x12, 0, 0, 0x01, 0x00, 0), NULL, 0, 300, &r);
	CHECK_GOOD(r);
	CHECK_EQ(r.resid, 300 - 36);

	/* VPD 00h */
	cmd(&e, 0, 0, C(0x12, 1, 0x00, 0, 64, 0), NULL, 0, 64, &r);
	CHECK_GOOD(r);
	CHECK_EQ(g_data[1], 0x00);
	CHECK_EQ(g_data[2] << 8 | g_data[3], 3);
	CHECK_EQ(g_data[4], 0x00);
	CHECK_EQ(g_data[5], 0x80);
	CHECK_EQ(g_data[6], 0x83);
	CHECK_EQ(r.resid, 64 - 7);
	/* VPD 80h: serial from device index, target, LUN */
	cmd(&e, 0, 3, C(0x12, 1, 0x80, 0, 64, 0), NULL, 0, 64, &r);
	CHECK_GOOD(r);
	CHECK_EQ(g_data[0], 0x05);
	CHECK_EQ(g_data[1], 0x80);
	CHECK_EQ(g_data[3], 10);
	CHECK_EQ(memcmp(g_data + 4, "RS00000003", 10), 0);
	/* VPD 83h: T10 vendor ID designator, then NAA 3 */
	cmd(&e, 0, 3, C(0x12, 1, 0x83, 0, 128, 0), NULL, 0, 128, &r);
	CHECK_GOOD(r);
	CHECK_EQ(g_data[1], 0x83);
	CHECK_EQ(g_data[2] << 8 | g_data[3], 50);
	CHECK_EQ(g_data[4], 0x02);
	CHECK_EQ(g_data[5], 0x01);
	CHECK_EQ(g_data[7], 34);
	CHECK_EQ(memcmp(g_data + 8, "RINGSIDEVIRTUAL CD-ROM  RS00000003", 34), 0);
	CHECK_EQ(g_data[42], 0x01);
	CHECK_EQ(g_data[43], 0x03);
	CHECK_EQ(g_data[45], 8);
	CHECK_EQ(g_data[46], 0x30);
	CHECK_EQ(g_data[53], 3);
	CHECK_EQ(r.resid, 128 - 54);
	/* unknown VPD page, page code without EVPD, CMDDT: INVALID FIELD IN CDB
	 * with the field pointer */
	cmd(&e, 0, 0, C(0x12, 1, 0xb0, 0, 64, 0), NULL, 0, 64, &r);
	CHECK_SENSE(r, 5, 0x2400);
	CHECK_EQ(r.sense[15], 0xc0);
	CHECK_EQ(r.sense[17], 2);
	cmd(&e, 0, 0, C(0x12, 0, 0x80, 0, 64, 0), NULL, 0, 64, &r);
	CHECK_SENSE(r, 5, 0x2400);
	cmd(&e, 0, 0, C(0x12, 2, 0, 0, 64, 0), NULL, 0, 64, &r);
	CHECK_SENSE(r, 5, 0x2400);
	CHECK_EQ(r.sense[17], 1);
	env_check_clean(&e);
	env_close(&e);
}

static void test_request_sense(void)
{
	struct env e;
	struct resp r;

	if (!env_open(&e, "mem=16M pci-modern:scsi,disk0=1M", false))
		return;
	env_up(&e, F_ALL, 1);
	/* power-on unit attention: reported by REQUEST SENSE as data, GOOD */
	cmd(&e, 0, 0, C(0x03, 0, 0, 0, 18, 0), NULL, 0, 18, &r);
	CHECK_GOOD(r);
	CHECK_EQ(g_data[0], 0x70);
	CHECK_EQ(g_data[2], 6);
	CHECK_EQ(g_data[7], 10);
	CHECK_EQ(asc_of(g_data), 0x2900);
	/* ...and cleared */
	CHECK_EQ(tur(&e, 0, 0, &r), GOOD);
	cmd(&e, 0, 0, C(0x03, 0, 0, 0, 18, 0), NULL, 0, 18, &r);
	CHECK_GOOD(r);
	CHECK_EQ(g_data[2], 0);
	CHECK_EQ(asc_of(g_data), 0);

	/* an unknown opcode: CHECK CONDITION with sense; REQUEST SENSE then
	 * returns the same sense, once */
	cmd(&e, 0, 0, C(0xc0, 0, 0, 0, 0, 0), NULL, 0, 0, &r);
	CHECK_SENSE(r, 5, 0x2000);
	CHECK_EQ(r.used, 12 + 18);
	cmd(&e, 0, 0, C(0x03, 0, 0, 0, 252, 0), NULL, 0, 252, &r);
	CHECK_GOOD(r);
	CHECK_EQ(r.resid, 252 - 18);
	CHECK_EQ(g_data[2], 5);
	CHECK_EQ(asc_of(g_data), 0x2000);
	cmd(&e, 0, 0, C(0x03, 0, 0, 0, 18, 0), NULL, 0, 18, &r);
	CHECK_EQ(g_data[2], 0);
	/* any other command in between drops the kept sense */
	cmd(&e, 0, 0, C(0xc0, 0, 0, 0, 0, 0), NULL, 0, 0, &r);
	CHECK_EQ(tur(&e, 0, 0, &r), GOOD);
	cmd(&e, 0, 0, C(0x03, 0, 0, 0, 18, 0), NULL, 0, 18, &r);
	CHECK_EQ(g_data[2], 0);

	/* descriptor format (DESC=1) with the INFORMATION field of a failed read */
	uint8_t cdb[16];
	rw16(cdb, 0x88, 1ull << 40, 1);
	cmd(&e, 0, 0, cdb, 16, NULL, 0, 512, &r);
	CHECK_SENSE(r, 5, 0x2100);
	cmd(&e, 0, 0, C(0x03, 1, 0, 0, 64, 0), NULL, 0, 64, &r);
	CHECK_GOOD(r);
	CHECK_EQ(g_data[0], 0x72);
	CHECK_EQ(g_data[1], 5);
	CHECK_EQ(g_data[2], 0x21);
	CHECK_EQ(g_data[3], 0x00);
	CHECK_EQ(g_data[7], 0);
	CHECK_EQ(r.resid, 64 - 8);
	/* a sense with INFORMATION: truncated write to a disk whose backend fails */
	e.fw->fail_op = WIO_READ;
	e.fw->fail_result = -EIO;
	rw10(cdb, 0x28, 7, 1);
	cmd(&e, 0, 0, cdb, 10, NULL, 0, 512, &r);
	CHECK_SENSE(r, 3, 0x1100);
	CHECK_EQ(r.sense[0], 0xf0);              /* VALID */
	CHECK_EQ(rs_le32(r.sense + 3), 7u << 24); /* big-endian LBA 7 */
	CHECK_EQ(diag_count(&e.dev->log, DIAG_BACKEND_ERROR), 1);
	cmd(&e, 0, 0, C(0x03, 1, 0, 0, 64, 0), NULL, 0, 64, &r);
	CHECK_GOOD(r);
	CHECK_EQ(g_data[0], 0x72);
	CHECK_EQ(g_data[1], 3);
	CHECK_EQ(g_data[7], 12);
	CHECK_EQ(g_data[8], 0x00);
	CHECK_EQ(g_data[9], 0x0a);
	CHECK_EQ(g_data[10], 0x80);
	CHECK_EQ(g_data[19], 7);
	CHECK_EQ(r.resid, 64 - 20);
	/* the next read works */
	cmd(&e, 0, 0, cdb, 10, NULL, 0, 512, &r);
	CHECK_GOOD(r);
	/* allocation length 4 truncates, 0 sends nothing */
	cmd(&e, 0, 0, C(0xc0, 0, 0, 0, 0, 0), NULL, 0, 0, &r);
	cmd(&e, 0, 0, C(0x03, 0, 0, 0, 4, 0), NULL, 0, 18, &r);
	CHECK_GOOD(r);
	CHECK_EQ(r.resid, 14);
	CHECK_EQ(g_data[2], 5);
	CHECK_EQ(g_data[4], 0xcd);
	env_close(&e);
}

static void test_report_luns(void)
{
	char spec[256];
	struct env e;
	struct resp r;
	uint8_t wl[8] = { 0xc1, 0x01 }, lun[8];

	snprintf(spec, sizeof spec,
		 "mem=16M pci-modern:scsi,disk0=1M,disk0-1=1M,cd0-300=%s,disk5=1M,disk7-2=1M", g_iso);
	if (!env_open(&e, spec, false))
		return;
	env_up(&e, F_ALL, 1);
	CHECK_EQ(gdrv_config_read(e.d, CFG_MAX_TARGET, 2), 7);
	CHECK_EQ(gdrv_config_read(e.d, CFG_MAX_LUN, 4), 300);
	CHECK_EQ(gdrv_config_read(e.d, CFG_MAX_CHANNEL, 2), 0);

	/* target 0: LUNs 0, 1 and 300 (flat addressing) */
	cmd(&e, 0, 0, C(0xa0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0), NULL, 0, 256, &r);
	CHECK_GOOD(r);
	CHECK_EQ(rs_le32(g_data), 24u << 24);
	CHECK_EQ(g_data[8], 0);
	CHECK_EQ(g_data[9], 0);
	CHECK_EQ(g_data[16], 0);
	CHECK_EQ(g_data[17], 1);
	CHECK_EQ(g_data[24], 0x41);
	CHECK_EQ(g_data[25], 300 & 0xff);
	CHECK_EQ(r.resid, 256 - 32);
	/* the LUN of the report is addressable as given */
	cmd(&e, 0, 300, C(0x12, 0, 0, 0, 36, 0), NULL, 0, 36, &r);
	CHECK_GOOD(r);
	CHECK_EQ(g_data[0], 0x05);
	/* select report 1: the W-LUN only; 2: all and the W-LUN */
	cmd(&e, 0, 1, C(0xa0, 0, 1, 0, 0, 0, 0, 0, 0, 64, 0, 0), NULL, 0, 64, &r);
	CHECK_GOOD(r);
	CHECK_EQ(g_data[3], 8);
	CHECK_EQ(g_data[8], 0xc1);
	CHECK_EQ(g_data[9], 0x01);
	cmd(&e, 7, 2, C(0xa0, 0, 2, 0, 0, 0, 0, 0, 0, 64, 0, 0), NULL, 0, 64, &r);
	CHECK_GOOD(r);
	CHECK_EQ(g_data[3], 16);
	CHECK_EQ(g_data[9], 2);
	CHECK_EQ(g_data[16], 0xc1);
	/* bad select report, allocation length below 16 */
	cmd(&e, 0, 0, C(0xa0, 0, 3, 0, 0, 0, 0, 0, 0, 64, 0, 0), NULL, 0, 64, &r);
	CHECK_SENSE(r, 5, 0x2400);
	cmd(&e, 0, 0, C(0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 15, 0, 0), NULL, 0, 64, &r);
	CHECK_SENSE(r, 5, 0x2400);
	CHECK_EQ(r.sense[17], 6);
	/* truncated to 16 bytes: the length field still says 24 */
	cmd(&e, 0, 0, C(0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0), NULL, 0, 16, &r);
	CHECK_GOOD(r);
	CHECK_EQ(g_data[3], 24);
	CHECK_EQ(r.resid, 0);

	/* the domain's REPORT LUNS well-known LU: every unit as a virtio lun */
	cmdq(&e, 0, wl, C(0xa0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0), NULL, 0, 256, &r);
	CHECK_GOOD(r);
	CHECK_EQ(g_data[3], 5 * 8);
	static const uint8_t want[5][4] = {
		{ 1, 0, 0, 0 }, { 1, 0, 0, 1 }, { 1, 0, 0x41, 300 & 0xff }, { 1, 5, 0, 0 },
		{ 1, 7, 0, 2 },
	};
	for (unsigned i = 0; i < 5; i++)
		CHECK_EQ(memcmp(g_data + 8 + 8 * i, want[i], 4), 0);
	cmdq(&e, 0, wl, C(0xa0, 0, 2, 0, 0, 0, 0, 0, 1, 0, 0, 0), NULL, 0, 256, &r);
	CHECK_EQ(g_data[3], 6 * 8);
	CHECK_EQ(g_data[48], 0xc1);
	/* the W-LUN: INQUIRY (type 1Eh), TEST UNIT READY, REQUEST SENSE, and
	 * nothing else; no VPD */
	cmdq(&e, 0, wl, C(0x12, 0, 0, 0, 36, 0), NULL, 0, 36, &r);
	CHECK_GOOD(r);
	CHECK_EQ(g_data[0], 0x1e);
	cmdq(&e, 0, wl, C(0x12, 1, 0, 0, 36, 0), NULL, 0, 36, &r);
	CHECK_SENSE(r, 5, 0x2400);
	cmdq(&e, 0, wl, C(0x00, 0, 0, 0, 0, 0), NULL, 0, 0, &r);
	CHECK_GOOD(r);
	cmdq(&e, 0, wl, C(0x03, 0, 0, 0, 18, 0), NULL, 0, 18, &r);
	CHECK_GOOD(r);
	CHECK_EQ(g_data[2], 0);
	cmdq(&e, 0, wl, C(0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0), NULL, 0, 8, &r);
	CHECK_SENSE(r, 5, 0x2000);
	/* a target's W-LUN (01 tt C1 01): that target's LUNs */
	lun_of(lun, 5, 0);
	lun[2] = 0xc1;
	lun[3] = 0x01;
	cmdq(&e, 0, lun, C(0xa0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0), NULL, 0, 256, &r);
	CHECK_GOOD(r);
	CHECK_EQ(g_data[3], 8);
	/* ...of a target that does not exist: BAD_TARGET */
	lun[1] = 6;
	cmdq(&e, 0, lun, C(0xa0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0), NULL, 0, 256, &r);
	CHECK_EQ(r.response, S_BAD_TARGET);
	env_check_clean(&e);
	env_close(&e);
}

/* Bad addresses and missing logical units (virtio-v1.2 5.6.6.1, SPC-4
 * incorrect logical unit selection). */
static void test_lun_addressing(void)
{
	struct env e;
	struct resp r;
	uint8_t lun[8];

	if (!env_open(&e, "mem=16M mmio:scsi,disk2=1M,disk2-256=1M", false))
		return;
	env_up(&e, F_ALL, 1);
	/* nonexistent target: BAD_TARGET, nothing else written */
	cmd(&e, 3, 0, C(0x12, 0, 0, 0, 36, 0), NULL, 0, 36, &r);
	CHECK_EQ(r.response, S_BAD_TARGET);
	CHECK_EQ(r.sense_len, 0);
	CHECK_EQ(r.resid, 36);
	CHECK_EQ(r.used, 12);
	CHECK_EQ(g_data[0], 0xcd);
	/* lun[0] != 1, non-zero bytes 4..7 */
	lun_of(lun, 2, 0);
	lun[0] = 2;
	cmdq(&e, 0, lun, C(0x00, 0, 0, 0, 0, 0), NULL, 0, 0, &r);
	CHECK_EQ(r.response, S_BAD_TARGET);
	lun_of(lun, 2, 0);
	lun[6] = 1;
	cmdq(&e, 0, lun, C(0x00, 0, 0, 0, 0, 0), NULL, 0, 0, &r);
	CHECK_EQ(r.response, S_BAD_TARGET);
	/* nonexistent LUN on an existing target: INQUIRY qualifier 011b, type
	 * 1Fh; REQUEST SENSE: LOGICAL UNIT NOT SUPPORTED as data; others: CHECK
	 * CONDITION; VPD: CHECK CONDITION */
	cmd(&e, 2, 1, C(0x12, 0, 0, 0, 36, 0), NULL, 0, 36, &r);
	CHECK_GOOD(r);
	CHECK_EQ(g_data[0], 0x7f);
	cmd(&e, 2, 1, C(0x12, 1, 0, 0, 36, 0), NULL, 0, 36, &r);
	CHECK_SENSE(r, 5, 0x2500);
	cmd(&e, 2, 1, C(0x03, 0, 0, 0, 18, 0), NULL, 0, 18, &r);
	CHECK_GOOD(r);
	CHECK_EQ(g_data[2], 5);
	CHECK_EQ(asc_of(g_data), 0x2500);
	cmd(&e, 2, 1, C(0x00, 0, 0, 0, 0, 0), NULL, 0, 0, &r);
	CHECK_SENSE(r, 5, 0x2500);
	cmd(&e, 2, 1, C(0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 64, 0, 0), NULL, 0, 64, &r);
	CHECK_GOOD(r);
	CHECK_EQ(g_data[3], 16);
	/* peripheral addressing of LUN 0 (00 00) and flat (40 00) are the same
	 * unit; peripheral with a bus number and the logical unit addressing
	 * method address no unit */
	lun_of(lun, 2, 0);
	lun[2] = 0;
	cmdq(&e, 0, lun, C(0x00, 0, 0, 0, 0, 0), NULL, 0, 0, &r);
	CHECK_SENSE(r, 6, 0x2900);
	lun[2] = 0x01;
	cmdq(&e, 0, lun, C(0x00, 0, 0, 0, 0, 0), NULL, 0, 0, &r);
	CHECK_SENSE(r, 5, 0x2500);
	lun[2] = 0x80;
	cmdq(&e, 0, lun, C(0x00, 0, 0, 0, 0, 0), NULL, 0, 0, &r);
	CHECK_SENSE(r, 5, 0x2500);
	lun[2] = 0xc2;
	cmdq(&e, 0, lun, C(0x00, 0, 0, 0, 0, 0), NULL, 0, 0, &r);
	CHECK_SENSE(r, 5, 0x2500);
	/* LUN 256 by flat addressing */
	cmd(&e, 2, 256, C(0x00, 0, 0, 0, 0, 0), NULL, 0, 0, &r);
	CHECK_SENSE(r, 6, 0x2900);
	CHECK_EQ(tur(&e, 2, 256, &r), GOOD);
	env_check_clean(&e);
	env_close(&e);
}

static void test_mode_sense(void)
{
	char spec[256];
	struct env e;
	struct resp r;

	snprintf(spec, sizeof spec, "mem=16M pci:scsi,disk0=8M,cd1=%s,disk2=ro:%s", g_iso,
		 g_roimg);
	if (!env_open(&e, spec, false))
		return;
	env_up(&e, F_ALL, 1);
	clear_ua(&e, 0, 0);
	clear_ua(&e, 1, 0);
	clear_ua(&e, 2, 0);

	/* MODE SENSE(6), caching page with the block descriptor */
	cmd(&e, 0, 0, C(0x1a, 0, 0x08, 0, 255, 0), NULL, 0, 255, &r);
	CHECK_GOOD(r);
	CHECK_EQ(g_data[0], 3 + 8 + 20);
	CHECK_EQ(g_data[2], 0x00);           /* not write protected */
	CHECK_EQ(g_data[3], 8);
	CHECK_EQ(g_data[5] << 16 | g_data[6] << 8 | g_data[7], 16384);
	CHECK_EQ(g_data[9] << 16 | g_data[10] << 8 | g_data[11], 512);
	CHECK_EQ(g_data[12], 0x08);
	CHECK_EQ(g_data[13], 0x12);
	CHECK_EQ(g_data[14], 0x04);          /* WCE */
	CHECK_EQ(r.resid, 255 - 32);
	/* DBD, changeable values */
	cmd(&e, 0, 0, C(0x1a, 0x08, 0x48, 0, 255, 0), NULL, 0, 255, &r);
	CHECK_GOOD(r);
	CHECK_EQ(g_data[3], 0);
	CHECK_EQ(g_data[4], 0x08);
	CHECK_EQ(g_data[6], 0x00);
	/* default values = current */
	cmd(&e, 0, 0, C(0x1a, 0x08, 0x88, 0, 255, 0), NULL, 0, 255, &r);
	CHECK_EQ(g_data[6], 0x04);
	/* all pages: 01h, 08h, 0Ah in order; subpage FFh accepted with 3Fh */
	cmd(&e, 0, 0, C(0x1a, 0x08, 0x3f, 0xff, 255, 0), NULL, 0, 255, &r);
	CHECK_GOOD(r);
	CHECK_EQ(g_data[0], 3 + 12 + 20 + 12);
	CHECK_EQ(g_data[4], 0x01);
	CHECK_EQ(g_data[16], 0x08);
	CHECK_EQ(g_data[36], 0x0a);
	/* MODE SENSE(10), long LBA block descriptor */
	cmd(&e, 0, 0, C(0x5a, 0x10, 0x08, 0, 0, 0, 0, 0, 255, 0), NULL, 0, 255, &r);
	CHECK_GOOD(r);
	CHECK_EQ(g_data[0] << 8 | g_data[1], 6 + 16 + 20);
	CHECK_EQ(g_data[4], 0x01);           /* LONGLBA */
	CHECK_EQ(g_data[6] << 8 | g_data[7], 16);
	CHECK_EQ(g_data[8 + 6] << 8 | g_data[8 + 7], 16384);
	CHECK_EQ(g_data[8 + 14] << 8 | g_data[8 + 15], 512);
	CHECK_EQ(g_data[24], 0x08);
	cmd(&e, 0, 0, C(0x5a, 0x00, 0x0a, 0, 0, 0, 0, 0, 255, 0), NULL, 0, 255, &r);
	CHECK_EQ(g_data[7], 8);
	CHECK_EQ(g_data[16], 0x0a);
	CHECK_EQ(g_data[19], 0x10);
	/* saved values, unknown page, unknown subpage */
	cmd(&e, 0, 0, C(0x1a, 0, 0xc8, 0, 255, 0), NULL, 0, 255, &r);
	CHECK_SENSE(r, 5, 0x3900);
	cmd(&e, 0, 0, C(0x1a, 0, 0x2a, 0, 255, 0), NULL, 0, 255, &r);
	CHECK_SENSE(r, 5, 0x2400);
	CHECK_EQ(r.sense[17], 2);
	cmd(&e, 0, 0, C(0x1a, 0, 0x08, 1, 255, 0), NULL, 0, 255, &r);
	CHECK_SENSE(r, 5, 0x2400);
	CHECK_EQ(r.sense[17], 3);
	/* read-only disk: WP */
	cmd(&e, 2, 0, C(0x1a, 0, 0x3f, 0, 255, 0), NULL, 0, 255, &r);
	CHECK_EQ(g_data[2], 0x80);
	cmd(&e, 2, 0, C(0x5a, 0, 0x3f, 0, 0, 0, 0, 0, 255, 0), NULL, 0, 255, &r);
	CHECK_EQ(g_data[3], 0x80);
	/* CD-ROM: no block descriptor, capabilities page 2Ah with lock state */
	cmd(&e, 1, 0, C(0x1a, 0, 0x2a, 0, 255, 0), NULL, 0, 255, &r);
	CHECK_GOOD(r);
	CHECK_EQ(g_data[3], 0);
	CHECK_EQ(g_data[4], 0x2a);
	CHECK_EQ(g_data[5], 20);
	CHECK_EQ(g_data[6], 0x03);
	CHECK_EQ(g_data[10], 0x29);
	cmd(&e, 1, 0, C(0x1e, 0, 0, 0, 1, 0), NULL, 0, 0, &r);
	CHECK_GOOD(r);
	cmd(&e, 1, 0, C(0x5a, 0, 0x3f, 0, 0, 0, 0, 0, 255, 0), NULL, 0, 255, &r);
	CHECK_GOOD(r);
	CHECK_EQ(g_data[0] << 8 | g_data[1], 6 + 12 + 22);
	CHECK_EQ(g_data[8], 0x01);
	CHECK_EQ(g_data[20], 0x2a);
	CHECK_EQ(g_data[26], 0x2b);
	cmd(&e, 1, 0, C(0x1a, 0, 0x08, 0, 255, 0), NULL, 0, 255, &r);
	CHECK_SENSE(r, 5, 0x2400);
	/* allocation length truncation */
	cmd(&e, 0, 0, C(0x1a, 0, 0x3f, 0, 4, 0), NULL, 0, 64, &r);
	CHECK_GOOD(r);
	CHECK_EQ(r.resid, 60);
	env_check_clean(&e);
	env_close(&e);
}

/* ======================================================================================== */
/* SBC: disks                                                                                */
/* ======================================================================================== */

static void test_disk_rw(void)
{
	static uint8_t wbuf[256 * 512];
	char spec[256];
	struct env e;
	struct resp r;
	uint8_t cdb[16], fbuf[512];
	int fd;

	snprintf(spec, sizeof spec, "mem=16M pci-modern:scsi,disk0=8M,disk1=file:%s,disk2=ro:%s",
		 g_img, g_roimg);
	if (!env_open(&e, spec, false))
		return;
	env_up(&e, F_SPLIT, 1);
	clear_ua(&e, 0, 0);
	clear_ua(&e, 1, 0);
	clear_ua(&e, 2, 0);

	/* READ CAPACITY(10) and (16) */
	cmd(&e, 1, 0, C(0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0), NULL, 0, 8, &r);
	CHECK_GOOD(r);
	CHECK_EQ(g_data[3], 255);
	CHECK_EQ(g_data[6], 2);
	cmd(&e, 0, 0, C(0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0), NULL, 0, 32, &r);
	CHECK_GOOD(r);
	CHECK_EQ(g_data[6] << 8 | g_data[7], 16383);
	CHECK_EQ(g_data[10], 2);
	CHECK_EQ(g_data[12], 0);
	CHECK_EQ(g_data[13], 0);
	cmd(&e, 0, 0, C(0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 12, 0, 0), NULL, 0, 32, &r);
	CHECK_GOOD(r);
	CHECK_EQ(r.resid, 20);
	cmd(&e, 0, 0, C(0x9e, 0x11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0), NULL, 0, 32, &r);
	CHECK_SENSE(r, 5, 0x2400);
	/* READ CAPACITY(10): LBA without PMI is invalid; with PMI accepted */
	cmd(&e, 0, 0, C(0x25, 0, 0, 0, 0, 1, 0, 0, 0, 0), NULL, 0, 8, &r);
	CHECK_SENSE(r, 5, 0x2400);
	cmd(&e, 0, 0, C(0x25, 0, 0, 0, 0, 1, 0, 0, 1, 0), NULL, 0, 8, &r);
	CHECK_GOOD(r);
	cmd(&e, 0, 0, C(0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0), NULL, 0, 4, &r);
	CHECK_EQ(r.response, S_OVERRUN);

	/* WRITE(10)/READ(10) round trip of 256 blocks (128 KiB: several chunks) */
	pattern(wbuf, sizeof wbuf, 1);
	rw10(cdb, 0x2a, 1000, 256);
	cmd(&e, 0, 0, cdb, 10, wbuf, sizeof wbuf, 0, &r);
	CHECK_GOOD(r);
	CHECK_EQ(r.resid, 0);
	rw10(cdb, 0x28, 1000, 256);
	cmd(&e, 0, 0, cdb, 10, NULL, 0, sizeof wbuf, &r);
	CHECK_GOOD(r);
	CHECK_EQ(memcmp(g_data, wbuf, sizeof wbuf), 0);
	/* READ(6): LBA 1000, length 0 means 256 blocks */
	cmd(&e, 0, 0, C(0x08, 0x00, 0x03, 0xe8, 0, 0), NULL, 0, sizeof wbuf, &r);
	CHECK_GOOD(r);
	CHECK_EQ(memcmp(g_data, wbuf, sizeof wbuf), 0);
	/* WRITE(6) 1 block at 5, READ(12) it back */
	pattern(wbuf, 512, 6);
	cmd(&e, 0, 0, C(0x0a, 0, 0, 5, 1, 0), wbuf, 512, 0, &r);
	CHECK_GOOD(r);
	cmd(&e, 0, 0, C(0xa8, 0, 0, 0, 0, 5, 0, 0, 0, 1, 0, 0), NULL, 0, 512, &r);
	CHECK_GOOD(r);
	CHECK_EQ(memcmp(g_data, wbuf, 512), 0);
	/* WRITE(12), WRITE(16), READ(16) at the last blocks */
	pattern(wbuf, 1024, 12);
	cmd(&e, 0, 0, C(0xaa, 0, 0, 0, 0x3f, 0xfe, 0, 0, 0, 2, 0, 0), wbuf, 1024, 0, &r);
	CHECK_GOOD(r);
	rw16(cdb, 0x88, 16382, 2);
	cmd(&e, 0, 0, cdb, 16, NULL, 0, 1024, &r);
	CHECK_GOOD(r);
	CHECK_EQ(memcmp(g_data, wbuf, 1024), 0);
	pattern(wbuf, 512, 16);
	rw16(cdb, 0x8a, 16383, 1);
	cmd(&e, 0, 0, cdb, 16, wbuf, 512, 0, &r);
	CHECK_GOOD(r);
	rw16(cdb, 0x88, 16383, 1);
	cmd(&e, 0, 0, cdb, 16, NULL, 0, 512, &r);
	CHECK_EQ(memcmp(g_data, wbuf, 512), 0);
	/* transfer length 0: nothing moved, GOOD; at the capacity too */
	rw10(cdb, 0x28, 16384, 0);
	cmd(&e, 0, 0, cdb, 10, NULL, 0, 0, &r);
	CHECK_GOOD(r);

	/* LBA ranges: one past the end, lengths crossing it, 2^64 wrap */
	rw16(cdb, 0x88, 16383, 2);
	cmd(&e, 0, 0, cdb, 16, NULL, 0, 1024, &r);
	CHECK_SENSE(r, 5, 0x2100);
	CHECK_EQ(g_data[0], 0xcd);
	rw16(cdb, 0x88, 16385, 0);
	cmd(&e, 0, 0, cdb, 16, NULL, 0, 0, &r);
	CHECK_SENSE(r, 5, 0x2100);
	rw16(cdb, 0x88, UINT64_MAX, 2);
	cmd(&e, 0, 0, cdb, 16, NULL, 0, 1024, &r);
	CHECK_SENSE(r, 5, 0x2100);
	rw16(cdb, 0x8a, UINT64_MAX - 1, 4);
	cmd(&e, 0, 0, cdb, 16, wbuf, 2048, 0, &r);
	CHECK_SENSE(r, 5, 0x2100);
	rw16(cdb, 0x88, 0, UINT32_MAX);
	cmd(&e, 0, 0, cdb, 16, NULL, 0, 512, &r);
	CHECK_SENSE(r, 5, 0x2100);
	/* data buffer smaller than the transfer: OVERRUN, nothing written */
	rw10(cdb, 0x28, 0, 4);
	cmd(&e, 0, 0, cdb, 10, NULL, 0, 1024, &r);
	CHECK_EQ(r.response, S_OVERRUN);
	CHECK_EQ(r.resid, 1024);
	CHECK_EQ(g_data[0], 0xcd);
	rw10(cdb, 0x2a, 0, 4);
	cmd(&e, 0, 0, cdb, 10, wbuf, 1024, 0, &r);
	CHECK_EQ(r.response, S_OVERRUN);
	/* RDPROTECT / WRPROTECT: no protection information */
	rw10(cdb, 0x28, 0, 1);
	cdb[1] = 0x20;
	cmd(&e, 0, 0, cdb, 10, NULL, 0, 512, &r);
	CHECK_SENSE(r, 5, 0x2400);
	CHECK_EQ(r.sense[17], 1);
	/* larger datain than needed: residual */
	rw10(cdb, 0x28, 1000, 1);
	cmd(&e, 0, 0, cdb, 10, NULL, 0, 4096, &r);
	CHECK_GOOD(r);
	CHECK_EQ(r.resid, 4096 - 512);
	CHECK_EQ(r.used, 12 + 96 + 512);

	/* file-backed disk: written blocks land in the file */
	pattern(wbuf, 1024, 99);
	rw10(cdb, 0x2a, 3, 2);
	cmd(&e, 1, 0, cdb, 10, wbuf, 1024, 0, &r);
	CHECK_GOOD(r);
	cmd(&e, 1, 0, C(0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0), NULL, 0, 0, &r);
	CHECK_GOOD(r);
	fd = open(g_img, O_RDONLY);
	CHECK(fd >= 0);
	CHECK_EQ(pread(fd, fbuf, 512, 3 * 512), 512);
	CHECK_EQ(memcmp(fbuf, wbuf, 512), 0);
	CHECK_EQ(pread(fd, fbuf, 512, 5 * 512), 512);
	CHECK_EQ(fbuf[0], img_byte(5 * 512));
	close(fd);
	rw10(cdb, 0x28, 200, 1);
	cmd(&e, 1, 0, cdb, 10, NULL, 0, 512, &r);
	CHECK_GOOD(r);
	CHECK_EQ(g_data[17], img_byte(200 * 512 + 17));
	/* SYNCHRONIZE CACHE(16) and ranges */
	cmd(&e, 1, 0, C(0x91, 0, 0, 0, 0, 0, 0, 0, 0, 250, 0, 0, 0, 6, 0, 0), NULL, 0, 0, &r);
	CHECK_GOOD(r);
	cmd(&e, 1, 0, C(0x91, 0, 0, 0, 0, 0, 0, 0, 0, 250, 0, 0, 0, 7, 0, 0), NULL, 0, 0, &r);
	CHECK_SENSE(r, 5, 0x2100);
	cmd(&e, 1, 0, C(0x35, 0, 0, 0, 1, 1, 0, 0, 0, 0), NULL, 0, 0, &r);
	CHECK_SENSE(r, 5, 0x2100);

	/* read-only disk: reads work, writes are DATA PROTECT */
	rw10(cdb, 0x28, 63, 1);
	cmd(&e, 2, 0, cdb, 10, NULL, 0, 512, &r);
	CHECK_GOOD(r);
	CHECK_EQ(g_data[0], img_byte(63 * 512));
	rw10(cdb, 0x2a, 0, 1);
	cmd(&e, 2, 0, cdb, 10, wbuf, 512, 0, &r);
	CHECK_SENSE(r, 7, 0x2700);
	cmd(&e, 2, 0, C(0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0), NULL, 0, 0, &r);
	CHECK_GOOD(r);
	/* a disk has no MMC commands, and PREVENT / START STOP do nothing */
	cmd(&e, 0, 0, C(0x43, 0, 0, 0, 0, 0, 0, 0, 12, 0), NULL, 0, 12, &r);
	CHECK_SENSE(r, 5, 0x2000);
	cmd(&e, 0, 0, C(0x1e, 0, 0, 0, 1, 0), NULL, 0, 0, &r);
	CHECK_GOOD(r);
	cmd(&e, 0, 0, C(0x1b, 0, 0, 0, 2, 0), NULL, 0, 0, &r);
	CHECK_GOOD(r);
	CHECK_EQ(tur(&e, 0, 0, &r), GOOD);
	env_check_clean(&e);
	env_close(&e);
}

/* Backend failures through the world: reads, writes, flushes, sizes. */
static void test_backend_errors(void)
{
	static uint8_t wbuf[128 << 10];
	char spec[256];
	struct env e;
	struct resp r;
	uint8_t cdb[16];
	uint32_t ev, reason, used;
	uint8_t lun[8];

	snprintf(spec, sizeof spec, "mem=16M pci-modern:scsi,disk0=8M,disk1=file:%s,cd2=%s",
		 g_img, g_iso);
	if (!env_open(&e, spec, false))
		return;
	env_up(&e, F_ALL, 1);
	clear_ua(&e, 0, 0);
	clear_ua(&e, 1, 0);
	clear_ua(&e, 2, 0);

	/* a write whose second chunk fails: MEDIUM ERROR / WRITE ERROR, LBA
	 * of the failed chunk */
	pattern(wbuf, sizeof wbuf, 3);
	e.fw->fail_op = WIO_WRITE;
	e.fw->fail_skip = 1;
	e.fw->fail_result = 100; /* short */
	rw10(cdb, 0x2a, 10, 256);
	cmd(&e, 0, 0, cdb, 10, wbuf, sizeof wbuf, 0, &r);
	CHECK_SENSE(r, 3, 0x0c00);
	CHECK_EQ(r.sense[6], 10 + 128);
	CHECK_EQ(r.resid, 0);
	/* the next good write and read */
	cmd(&e, 0, 0, cdb, 10, wbuf, sizeof wbuf, 0, &r);
	CHECK_GOOD(r);
	/* a read whose second chunk fails: data of the first chunk delivered */
	e.fw->fail_op = WIO_READ;
	e.fw->fail_skip = 1;
	e.fw->fail_result = -EIO;
	rw10(cdb, 0x28, 10, 256);
	cmd(&e, 0, 0, cdb, 10, NULL, 0, sizeof wbuf, &r);
	CHECK_SENSE(r, 3, 0x1100);
	CHECK_EQ(r.resid, 64 << 10);
	CHECK_EQ(r.used, 12 + 96 + (64 << 10));
	CHECK_EQ(memcmp(g_data, wbuf, 64 << 10), 0);
	cmd(&e, 0, 0, cdb, 10, NULL, 0, sizeof wbuf, &r);
	CHECK_GOOD(r);
	CHECK_EQ(memcmp(g_data, wbuf, sizeof wbuf), 0);
	/* a flush failure */
	e.fw->fail_op = WIO_FLUSH;
	e.fw->fail_result = -EIO;
	cmd(&e, 1, 0, C(0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0), NULL, 0, 0, &r);
	CHECK_SENSE(r, 3, 0x0c00);
	cmd(&e, 1, 0, C(0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0), NULL, 0, 0, &r);
	CHECK_GOOD(r);
	CHECK_EQ(diag_count(&e.dev->log, DIAG_BACKEND_ERROR), 3);

	/* capacity change from the host: the file grew; the size query fails
	 * once (capacity 0: NOT READY), then succeeds */
	int fd = open(g_img, O_RDWR);
	CHECK_EQ(ftruncate(fd, 512 * 512), 0);
	close(fd);
	ev_post(&e, 4, 16, true);
	e.fw->fail_op = WIO_SIZE;
	e.fw->fail_result = -EIO;
	host_event(&e, WEV_SCSI_PARAMS, 1, 0, 0);
	CHECK_EQ(ev_get(&e, &ev, lun, &reason, &used), 1);
	CHECK_EQ(ev, T_PARAM_CHANGE);
	CHECK_EQ(reason, 0x092a);
	CHECK_EQ(lun[1], 1);
	cmd(&e, 1, 0, C(0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0), NULL, 0, 8, &r);
	CHECK_SENSE(r, 6, 0x2a09);
	cmd(&e, 1, 0, C(0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0), NULL, 0, 8, &r);
	CHECK_SENSE(r, 2, 0x3a00);
	host_event(&e, WEV_SCSI_PARAMS, 1, 0, 0);
	CHECK_EQ(ev_get(&e, &ev, lun, &reason, &used), 1);
	cmd(&e, 1, 0, C(0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0), NULL, 0, 8, &r);
	CHECK_SENSE(r, 6, 0x2a09);
	cmd(&e, 1, 0, C(0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0), NULL, 0, 8, &r);
	CHECK_GOOD(r);
	CHECK_EQ(g_data[2] << 8 | g_data[3], 511);
	fd = open(g_img, O_RDWR);
	CHECK_EQ(ftruncate(fd, 256 * 512), 0);
	close(fd);
	/* a short read from the image (a file that shrank behind the device's
	 * back): a medium error, then the next read works */
	e.fw->fail_op = WIO_READ;
	e.fw->fail_result = 0;
	rw10(cdb, 0x28, 0, 1);
	cmd(&e, 2, 0, cdb, 10, NULL, 0, 2048, &r);
	CHECK_SENSE(r, 3, 0x1100);
	CHECK_EQ(r.resid, 2048);
	cmd(&e, 2, 0, C(0x03, 0, 0, 0, 18, 0), NULL, 0, 18, &r);
	CHECK_EQ(g_data[2], 3);
	CHECK_EQ(cd_read_check(&e, 2, 0, 0, 1, 0), 0);
	CHECK_EQ(e.dev->status & VIRTIO_STATUS_NEEDS_RESET, 0);
	env_close(&e);
}

/* ======================================================================================== */
/* MMC: CD-ROM                                                                               */
/* ======================================================================================== */

static void test_cdrom(void)
{
	char spec[256];
	struct env e;
	struct resp r;
	uint8_t cdb[16];

	snprintf(spec, sizeof spec, "mem=16M pci-legacy:scsi,cd0=%s,cd1=empty", g_iso);
	if (!env_open(&e, spec, true))
		return;
	env_up(&e, F_ALL, 1);
	/* GET CONFIGURATION and GET EVENT STATUS run under unit attention */
	cmd(&e, 0, 0, C(0x46, 0, 0, 0, 0, 0, 0, 0, 255, 0), NULL, 0, 255, &r);
	CHECK_GOOD(r);
	clear_ua(&e, 0, 0);
	clear_ua(&e, 1, 0);

	/* capacity: 100 whole blocks (the tail is not part of the medium) */
	cmd(&e, 0, 0, C(0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0), NULL, 0, 8, &r);
	CHECK_GOOD(r);
	CHECK_EQ(g_data[3], ISO_BLOCKS - 1);
	CHECK_EQ(g_data[6] << 8 | g_data[7], 2048);
	cmd(&e, 0, 0, C(0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0), NULL, 0, 32, &r);
	CHECK_EQ(g_data[7], ISO_BLOCKS - 1);
	/* every sector compared with the ISO; READ(6/12/16) too */
	CHECK_EQ(cd_read_check(&e, 0, 0, 0, ISO_BLOCKS, 0), 0);
	cmd(&e, 0, 0, C(0x08, 0, 0, 7, 2, 0), NULL, 0, 4096, &r);
	CHECK_GOOD(r);
	CHECK_EQ(g_data[0], 7);
	CHECK_EQ(g_data[2048], 8);
	CHECK_EQ(g_data[100], iso_byte(7, 100));
	cmd(&e, 0, 0, C(0xa8, 0, 0, 0, 0, 99, 0, 0, 0, 1, 0, 0), NULL, 0, 2048, &r);
	CHECK_GOOD(r);
	CHECK_EQ(g_data[0], 99);
	rw16(cdb, 0x88, 98, 1);
	cmd(&e, 0, 0, cdb, 16, NULL, 0, 2048, &r);
	CHECK_EQ(g_data[2047], iso_byte(98, 2047));
	rw10(cdb, 0x28, 99, 2);
	cmd(&e, 0, 0, cdb, 10, NULL, 0, 4096, &r);
	CHECK_SENSE(r, 5, 0x2100);
	/* writes: DATA PROTECT / WRITE PROTECTED; SYNCHRONIZE CACHE: GOOD */
	rw10(cdb, 0x2a, 0, 1);
	cmd(&e, 0, 0, cdb, 10, g_data, 2048, 0, &r);
	CHECK_SENSE(r, 7, 0x2700);
	cmd(&e, 0, 0, C(0x0a, 0, 0, 0, 1, 0), g_data, 2048, 0, &r);
	CHECK_SENSE(r, 7, 0x2700);
	cmd(&e, 0, 0, C(0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0), NULL, 0, 0, &r);
	CHECK_GOOD(r);

	/* READ TOC format 0, LBA: track 1 at 0, lead-out at 100 */
	cmd(&e, 0, 0, C(0x43, 0, 0, 0, 0, 0, 0, 0, 64, 0), NULL, 0, 64, &r);
	CHECK_GOOD(r);
	CHECK_EQ(g_data[0] << 8 | g_data[1], 18);
	CHECK_EQ(g_data[2], 1);
	CHECK_EQ(g_data[3], 1);
	CHECK_EQ(g_data[5], 0x14);
	CHECK_EQ(g_data[6], 1);
	CHECK_EQ(rs_le32(g_data + 8), 0);
	CHECK_EQ(g_data[13], 0x14);
	CHECK_EQ(g_data[14], 0xaa);
	CHECK_EQ(g_data[19], ISO_BLOCKS);
	CHECK_EQ(r.resid, 64 - 20);
	/* MSF: 00:02:00 and LBA 100 + 150 = 00:03:25 */
	cmd(&e, 0, 0, C(0x43, 2, 0, 0, 0, 0, 0, 0, 64, 0), NULL, 0, 64, &r);
	CHECK_GOOD(r);
	CHECK_EQ(g_data[9], 0);
	CHECK_EQ(g_data[10], 2);
	CHECK_EQ(g_data[11], 0);
	CHECK_EQ(g_data[17], 0);
	CHECK_EQ(g_data[18], 3);
	CHECK_EQ(g_data[19], 25);
	/* starting at the lead-out; a track that does not exist */
	cmd(&e, 0, 0, C(0x43, 0, 0, 0, 0, 0, 0xaa, 0, 64, 0), NULL, 0, 64, &r);
	CHECK_GOOD(r);
	CHECK_EQ(g_data[1], 10);
	CHECK_EQ(g_data[6], 0xaa);
	cmd(&e, 0, 0, C(0x43, 0, 0, 0, 0, 0, 2, 0, 64, 0), NULL, 0, 64, &r);
	CHECK_SENSE(r, 5, 0x2400);
	CHECK_EQ(r.sense[17], 6);
	/* format 1 (session information), the SFF-8020 format field, format 2 */
	cmd(&e, 0, 0, C(0x43, 0, 1, 0, 0, 0, 0, 0, 12, 0), NULL, 0, 12, &r);
	CHECK_GOOD(r);
	CHECK_EQ(g_data[1], 10);
	CHECK_EQ(g_data[5], 0x14);
	CHECK_EQ(g_data[6], 1);
	cmd(&e, 0, 0, C(0x43, 0, 0, 0, 0, 0, 0, 0, 12, 0x40), NULL, 0, 12, &r);
	CHECK_GOOD(r);
	CHECK_EQ(g_data[1], 10);
	cmd(&e, 0, 0, C(0x43, 0, 2, 0, 0, 0, 0, 0, 12, 0), NULL, 0, 12, &r);
	CHECK_SENSE(r, 5, 0x2400);
	/* truncated TOC */
	cmd(&e, 0, 0, C(0x43, 0, 0, 0, 0, 0, 0, 0, 4, 0), NULL, 0, 20, &r);
	CHECK_GOOD(r);
	CHECK_EQ(r.resid, 16);

	/* GET CONFIGURATION: profile list (CD-ROM current), core, removable
	 * medium, random readable, CD read */
	cmd(&e, 0, 0, C(0x46, 0, 0, 0, 0, 0, 0, 0, 255, 0), NULL, 0, 255, &r);
	CHECK_GOOD(r);
	CHECK_EQ(rs_le32(g_data), 52u << 24);
	CHECK_EQ(g_data[6] << 8 | g_data[7], 0x0008);
	CHECK_EQ(g_data[8] << 8 | g_data[9], 0x0000);
	CHECK_EQ(g_data[10], 0x03);
	CHECK_EQ(g_data[11], 4);
	CHECK_EQ(g_data[12] << 8 | g_data[13], 0x0008);
	CHECK_EQ(g_data[14], 1);
	CHECK_EQ(g_data[17], 0x01);           /* core */
	CHECK_EQ(g_data[18], 0x0b);
	CHECK_EQ(g_data[23], 1);              /* SCSI */
	CHECK_EQ(g_data[29], 0x03);           /* removable medium */
	CHECK_EQ(g_data[32], 0x39);
	CHECK_EQ(g_data[37], 0x10);           /* random readable */
	CHECK_EQ(g_data[38], 0x01);
	CHECK_EQ(g_data[42] << 8 | g_data[43], 2048);
	CHECK_EQ(g_data[49], 0x1e);           /* CD read */
	CHECK_EQ(g_data[50], 0x09);
	/* RT 2: one feature; RT 1 from 0x0010; RT 3 invalid */
	cmd(&e, 0, 0, C(0x46, 2, 0, 3, 0, 0, 0, 0, 255, 0), NULL, 0, 255, &r);
	CHECK_GOOD(r);
	CHECK_EQ(g_data[3], 12);
	CHECK_EQ(g_data[9], 3);
	cmd(&e, 0, 0, C(0x46, 1, 0, 0x10, 0, 0, 0, 0, 255, 0), NULL, 0, 255, &r);
	CHECK_EQ(g_data[3], 4 + 12 + 8);
	cmd(&e, 0, 0, C(0x46, 3, 0, 0, 0, 0, 0, 0, 255, 0), NULL, 0, 255, &r);
	CHECK_SENSE(r, 5, 0x2400);
	/* an empty drive: no current profile, RT 1 leaves out what needs media */
	cmd(&e, 1, 0, C(0x46, 0, 0, 0, 0, 0, 0, 0, 255, 0), NULL, 0, 255, &r);
	CHECK_GOOD(r);
	CHECK_EQ(g_data[6] << 8 | g_data[7], 0);
	CHECK_EQ(g_data[14], 0);
	CHECK_EQ(g_data[38], 0x00);
	cmd(&e, 1, 0, C(0x46, 1, 0, 0, 0, 0, 0, 0, 255, 0), NULL, 0, 255, &r);
	CHECK_EQ(g_data[3], 4 + 8 + 12 + 8);

	/* an empty drive: NOT READY / MEDIUM NOT PRESENT - TRAY CLOSED */
	CHECK_EQ(tur(&e, 1, 0, &r), CHECK_CONDITION);
	CHECK_SENSE(r, 2, 0x3a01);
	cmd(&e, 1, 0, C(0x43, 0, 0, 0, 0, 0, 0, 0, 64, 0), NULL, 0, 64, &r);
	CHECK_SENSE(r, 2, 0x3a01);
	cmd(&e, 1, 0, C(0x03, 0, 0, 0, 18, 0), NULL, 0, 18, &r);
	CHECK_GOOD(r);
	CHECK_EQ(g_data[2], 2);
	CHECK_EQ(asc_of(g_data), 0x3a01);
	cmd(&e, 1, 0, C(0x03, 0, 0, 0, 18, 0), NULL, 0, 18, &r);
	CHECK_EQ(asc_of(g_data), 0x3a01);
	/* loading an empty drive closes the tray, nothing more */
	cmd(&e, 1, 0, C(0x1b, 0, 0, 0, 3, 0), NULL, 0, 0, &r);
	CHECK_GOOD(r);
	TUR_SENSE(&e, 1, 0, 2, 0x3a01);

	/* MECHANISM STATUS: closed, then open */
	cmd(&e, 0, 0, C(0xbd, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0), NULL, 0, 8, &r);
	CHECK_GOOD(r);
	CHECK_EQ(g_data[1], 0);
	CHECK_EQ(g_data[5], 0);
	/* PREVENT: eject refused (ILLEGAL REQUEST / MEDIUM REMOVAL PREVENTED) */
	cmd(&e, 0, 0, C(0x1e, 0, 0, 0, 1, 0), NULL, 0, 0, &r);
	CHECK_GOOD(r);
	cmd(&e, 0, 0, C(0x1b, 0, 0, 0, 2, 0), NULL, 0, 0, &r);
	CHECK_SENSE(r, 5, 0x5302);
	CHECK_EQ(tur(&e, 0, 0, &r), GOOD);
	/* power condition set: no load/eject at all */
	cmd(&e, 0, 0, C(0x1b, 0, 0, 0, 0x32, 0), NULL, 0, 0, &r);
	CHECK_GOOD(r);
	/* ALLOW: eject works, the tray is open */
	cmd(&e, 0, 0, C(0x1e, 0, 0, 0, 0, 0), NULL, 0, 0, &r);
	cmd(&e, 0, 0, C(0x1b, 1, 0, 0, 2, 0), NULL, 0, 0, &r);
	CHECK_GOOD(r);
	TUR_SENSE(&e, 0, 0, 2, 0x3a02);
	cmd(&e, 0, 0, C(0xbd, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0), NULL, 0, 8, &r);
	CHECK_EQ(g_data[1], 0x10);
	rw10(cdb, 0x28, 0, 1);
	cmd(&e, 0, 0, cdb, 10, NULL, 0, 2048, &r);
	CHECK_SENSE(r, 2, 0x3a02);
	/* GESN: media removal event, tray open, no media */
	cmd(&e, 0, 0, C(0x4a, 1, 0, 0, 0x10, 0, 0, 0, 8, 0), NULL, 0, 8, &r);
	CHECK_GOOD(r);
	CHECK_EQ(g_data[1], 4);
	CHECK_EQ(g_data[2], 4);
	CHECK_EQ(g_data[3], 0x10);
	CHECK_EQ(g_data[4], 3);
	CHECK_EQ(g_data[5], 0x01);
	/* eject an ejected drive: nothing; PREVENT with no medium: NOT READY */
	cmd(&e, 0, 0, C(0x1b, 0, 0, 0, 2, 0), NULL, 0, 0, &r);
	CHECK_GOOD(r);
	cmd(&e, 0, 0, C(0x1e, 0, 0, 0, 1, 0), NULL, 0, 0, &r);
	cmd(&e, 0, 0, C(0x1b, 0, 0, 0, 2, 0), NULL, 0, 0, &r);
	CHECK_SENSE(r, 2, 0x5302);
	cmd(&e, 0, 0, C(0x1e, 0, 0, 0, 0, 0), NULL, 0, 0, &r);
	/* load: medium back, GESN new media once, then no change */
	cmd(&e, 0, 0, C(0x1b, 0, 0, 0, 3, 0), NULL, 0, 0, &r);
	CHECK_GOOD(r);
	CHECK_EQ(tur(&e, 0, 0, &r), GOOD);
	cmd(&e, 0, 0, C(0x4a, 1, 0, 0, 0x10, 0, 0, 0, 8, 0), NULL, 0, 8, &r);
	CHECK_EQ(g_data[4], 2);
	CHECK_EQ(g_data[5], 0x02);
	cmd(&e, 0, 0, C(0x4a, 1, 0, 0, 0x10, 0, 0, 0, 8, 0), NULL, 0, 8, &r);
	CHECK_EQ(g_data[4], 0);
	CHECK_EQ(cd_read_check(&e, 0, 0, 50, 2, 0), 0);
	/* GESN: no supported class requested (NEA), asynchronous mode */
	cmd(&e, 0, 0, C(0x4a, 1, 0, 0, 0x02, 0, 0, 0, 8, 0), NULL, 0, 8, &r);
	CHECK_GOOD(r);
	CHECK_EQ(g_data[1], 0);
	CHECK_EQ(g_data[2], 0x80);
	CHECK_EQ(r.resid, 4);
	cmd(&e, 0, 0, C(0x4a, 0, 0, 0, 0x10, 0, 0, 0, 8, 0), NULL, 0, 8, &r);
	CHECK_SENSE(r, 5, 0x2400);
	env_check_clean(&e);
	env_close(&e);
}

/* ======================================================================================== */
/* Events from the world                                                                     */
/* ======================================================================================== */

static void test_media_events(void)
{
	char spec[256];
	struct env e;
	struct resp r;
	uint8_t lun[8];
	uint32_t ev, reason, used, actual;

	snprintf(spec, sizeof spec, "mem=16M pci-modern:scsi,cd0=%s,disk1=1M,cd2=empty", g_iso);
	if (!env_open(&e, spec, false))
		return;
	env_up(&e, F_ALL, 1);
	clear_ua(&e, 0, 0);
	lun_of(lun, 0, 0);
	/* AN query: CD-ROM units report media class events only */
	CHECK_EQ(an(&e, T_AN_QUERY, lun, 0xfe, &actual), S_OK);
	CHECK_EQ(actual, EVT_MEDIA_CHANGE);
	lun_of(lun, 1, 0);
	CHECK_EQ(an(&e, T_AN_QUERY, lun, 0xfe, &actual), S_OK);
	CHECK_EQ(actual, 0);
	/* without a subscription no event goes to the eventq; GESN and UA do */
	ev_post(&e, 8, 16, true);
	host_event(&e, WEV_SCSI_MEDIA, 0, 0, 0);
	CHECK_EQ(ev_get(&e, &ev, lun, &reason, &used), 0);
	cmd(&e, 0, 0, C(0x4a, 1, 0, 0, 0x10, 0, 0, 0, 8, 0), NULL, 0, 8, &r);
	CHECK_GOOD(r);
	CHECK_EQ(g_data[4], 3);
	CHECK_EQ(tur(&e, 0, 0, &r), CHECK_CONDITION);
	CHECK_SENSE(r, 6, 0x3a00);
	TUR_SENSE(&e, 0, 0, 2, 0x3a02);
	/* subscribed: insert a medium, an ASYNC_NOTIFY event */
	lun_of(lun, 0, 0);
	CHECK_EQ(an(&e, T_AN_SUBSCRIBE, lun, EVT_MEDIA_CHANGE, &actual), S_OK);
	host_event(&e, WEV_SCSI_MEDIA, 0, 0, 1);
	CHECK_EQ(ev_get(&e, &ev, lun, &reason, &used), 1);
	CHECK_EQ(ev, T_ASYNC_NOTIFY);
	CHECK_EQ(memcmp(lun, (uint8_t[8]){ 1, 0, 0, 0 }, 8), 0);
	CHECK_EQ(reason, EVT_MEDIA_CHANGE);
	TUR_SENSE(&e, 0, 0, 6, 0x2800);
	CHECK_EQ(tur(&e, 0, 0, &r), GOOD);
	cmd(&e, 0, 0, C(0x4a, 1, 0, 0, 0x10, 0, 0, 0, 8, 0), NULL, 0, 8, &r);
	CHECK_EQ(g_data[4], 2);
	/* the host replaces the medium while one is loaded: reloaded */
	host_event(&e, WEV_SCSI_MEDIA, 0, 0, 1);
	CHECK_EQ(ev_get(&e, &ev, lun, &reason, &used), 1);
	TUR_SENSE(&e, 0, 0, 6, 0x2800);
	/* the eject button of a locked drive: EjectRequest, medium stays */
	cmd(&e, 0, 0, C(0x1e, 0, 0, 0, 1, 0), NULL, 0, 0, &r);
	host_event(&e, WEV_SCSI_MEDIA, 0, 0, 0);
	CHECK_EQ(ev_get(&e, &ev, lun, &reason, &used), 1);
	CHECK_EQ(tur(&e, 0, 0, &r), GOOD);
	cmd(&e, 0, 0, C(0x4a, 1, 0, 0, 0x10, 0, 0, 0, 8, 0), NULL, 0, 8, &r);
	CHECK_EQ(g_data[4], 1);
	CHECK_EQ(g_data[5], 0x02);
	/* GESN with an allocation length that stops at the header: the event
	 * stays pending */
	host_event(&e, WEV_SCSI_MEDIA, 0, 0, 0);
	CHECK_EQ(ev_get(&e, &ev, lun, &reason, &used), 1);
	cmd(&e, 0, 0, C(0x4a, 1, 0, 0, 0x10, 0, 0, 0, 4, 0), NULL, 0, 4, &r);
	CHECK_GOOD(r);
	cmd(&e, 0, 0, C(0x4a, 1, 0, 0, 0x10, 0, 0, 0, 8, 0), NULL, 0, 8, &r);
	CHECK_EQ(g_data[4], 1);
	/* parameter change on a CD-ROM: unit attention, never an event (5.6.6.3) */
	host_event(&e, WEV_SCSI_PARAMS, 0, 0, 0x0129);
	CHECK_EQ(ev_get(&e, &ev, lun, &reason, &used), 0);
	TUR_SENSE(&e, 0, 0, 6, 0x2901);
	/* parameter change on a disk: PARAM_CHANGE with asc | ascq << 8 */
	clear_ua(&e, 1, 0);
	host_event(&e, WEV_SCSI_PARAMS, 1, 0, 0x012a);
	CHECK_EQ(ev_get(&e, &ev, lun, &reason, &used), 1);
	CHECK_EQ(ev, T_PARAM_CHANGE);
	CHECK_EQ(lun[1], 1);
	CHECK_EQ(reason, 0x012a);
	TUR_SENSE(&e, 1, 0, 6, 0x2a01);
	/* media events for a disk, an empty drive without image, units that do
	 * not exist, other kinds: ignored */
	host_event(&e, WEV_SCSI_MEDIA, 1, 0, 0);
	host_event(&e, WEV_SCSI_MEDIA, 2, 0, 1);
	host_event(&e, WEV_SCSI_MEDIA, 9, 0, 1);
	host_event(&e, WEV_CONSOLE_RESIZE, 1, 0, 1);
	CHECK_EQ(ev_get(&e, &ev, lun, &reason, &used), 0);
	CHECK_EQ(tur(&e, 1, 0, &r), GOOD);
	clear_ua(&e, 2, 0);
	TUR_SENSE(&e, 2, 0, 2, 0x3a01);
	env_check_clean(&e);
	env_close(&e);
}

/* Lost events, bad event buffers, features not negotiated. */
static void test_event_queue(void)
{
	char spec[256];
	struct env e;
	struct resp r;
	uint8_t lun[8];
	uint32_t ev, reason, used, actual;

	snprintf(spec, sizeof spec, "mem=16M mmio:scsi,cd0=%s,disk1=1M", g_iso);
	if (!env_open(&e, spec, false))
		return;
	/* an event before DRIVER_OK is lost and reported at DRIVER_OK (the
	 * buffers are made available, not kicked: no notify before DRIVER_OK) */
	CHECK_EQ(gdrv_init(e.d, F_ALL), 0);
	for (unsigned q = 0; q < 3; q++)
		CHECK_EQ(gdrv_setup_vq(e.d, q, QSIZE), 0);
	e.nreq = 1;
	ev_post(&e, 2, 16, false);
	host_event(&e, WEV_SCSI_PARAMS, 1, 0, 0);
	CHECK_EQ(ev_get(&e, &ev, lun, &reason, &used), 0);
	gdrv_driver_ok(e.d);
	CHECK_EQ(ev_get(&e, &ev, lun, &reason, &used), 1);
	CHECK_EQ(ev, T_NO_EVENT | T_EVENTS_MISSED);
	CHECK_EQ(used, 16);
	CHECK_EQ(ev_get(&e, &ev, lun, &reason, &used), 0);
	/* an event into the second buffer, without the flag */
	lun_of(lun, 0, 0);
	CHECK_EQ(an(&e, T_AN_SUBSCRIBE, lun, EVT_MEDIA_CHANGE, &actual), S_OK);
	host_event(&e, WEV_SCSI_PARAMS, 1, 0, 0);
	CHECK_EQ(ev_get(&e, &ev, lun, &reason, &used), 1);
	CHECK_EQ(ev, T_PARAM_CHANGE);
	/* no buffer: two events lost; the next buffer brings NO_EVENT | MISSED
	 * as soon as it is kicked */
	host_event(&e, WEV_SCSI_MEDIA, 0, 0, 0);
	host_event(&e, WEV_SCSI_MEDIA, 0, 0, 1);
	CHECK_EQ(ev_get(&e, &ev, lun, &reason, &used), 0);
	ev_post(&e, 1, 16, true);
	CHECK_EQ(ev_get(&e, &ev, lun, &reason, &used), 1);
	CHECK_EQ(ev, T_NO_EVENT | T_EVENTS_MISSED);
	/* lose one more; a kind of host event the device does not handle */
	host_event(&e, WEV_SCSI_MEDIA, 0, 0, 0);
	CHECK_EQ(ev_get(&e, &ev, lun, &reason, &used), 0);
	e.dev->ops->host_event(e.dev, &(struct world_event){ .kind = WEV_NONE });
	/* a short buffer (8 bytes: NO_EVENT in its first 4) and one with a
	 * readable part (its writable part gets NO_EVENT) are returned at once
	 * and reported; the event, with the lost-events flag, lands in the
	 * next good buffer */
	{
		struct gdrv_buf b[3] = { { e.evbuf, 8 }, { e.evbuf + EV_BYTES, 8 },
					 { e.evbuf + 3 * EV_BYTES, 16 } };
		struct gdrv_buf good = { e.evbuf + 2 * EV_BYTES, 16 };
		uint64_t tok;
		uint32_t len;
		uint8_t raw[8];

		memset(g_data, 0xee, 4 * EV_BYTES);
		e.io.mem_write(e.io.ctx, e.evbuf, g_data, 4 * EV_BYTES);
		CHECK_EQ(gdrv_submit(&e.d->vq[1], &b[0], 0, 1, 1000, false), 0);
		CHECK_EQ(gdrv_submit(&e.d->vq[1], &b[1], 1, 1, 1001, false), 0);
		CHECK_EQ(gdrv_submit(&e.d->vq[1], &good, 0, 1, 1002, false), 0);
		host_event(&e, WEV_SCSI_MEDIA, 0, 0, 1);
		CHECK_EQ(gdrv_get_used(&e.d->vq[1], &tok, &len), 1);
		CHECK_EQ(tok, 1000);
		CHECK_EQ(len, 4);
		e.io.mem_read(e.io.ctx, e.evbuf, raw, 8);
		CHECK_EQ(rs_le32(raw), T_NO_EVENT);
		CHECK_EQ(raw[4], 0xee);
		CHECK_EQ(gdrv_get_used(&e.d->vq[1], &tok, &len), 1);
		CHECK_EQ(tok, 1001);
		CHECK_EQ(len, 4);
		CHECK_EQ(ev_get(&e, &ev, lun, &reason, &used), 1);
		CHECK_EQ(ev, T_ASYNC_NOTIFY | T_EVENTS_MISSED);
		CHECK_EQ(reason, EVT_MEDIA_CHANGE);
		CHECK_EQ(diag_count(&e.dev->log, DIAG_SCSI_REQUEST), 2);
	}
	/* a 3-byte buffer: returned with nothing written */
	{
		struct gdrv_buf tiny = { e.evbuf, 3 };
		uint64_t tok;
		uint32_t len;

		CHECK_EQ(gdrv_submit(&e.d->vq[1], &tiny, 0, 1, 1000, false), 0);
		host_event(&e, WEV_SCSI_MEDIA, 0, 0, 0);
		CHECK_EQ(gdrv_get_used(&e.d->vq[1], &tok, &len), 1);
		CHECK_EQ(len, 0);
		CHECK_EQ(diag_count(&e.dev->log, DIAG_SCSI_REQUEST), 3);
	}
	/* requests still work */
	clear_ua(&e, 1, 0);
	TUR_SENSE(&e, 1, 0, 6, 0x2a09);
	CHECK_EQ(tur(&e, 1, 0, &r), GOOD);
	env_close(&e);

	/* CHANGE and HOTPLUG not negotiated: no PARAM_CHANGE, no TRANSPORT_RESET */
	if (!env_open(&e, "mem=16M pci-modern:scsi,disk0=1M,disk0-1=1M", false))
		return;
	env_up(&e, F_ALL & ~(F_CHANGE | F_HOTPLUG), 1);
	ev_post(&e, 2, 16, true);
	host_event(&e, WEV_SCSI_PARAMS, 0, 0, 0);
	host_event(&e, WEV_HOST, 0, 1, 0);
	CHECK_EQ(ev_get(&e, &ev, lun, &reason, &used), 0);
	TUR_SENSE(&e, 0, 0, 6, 0x2900);
	TUR_SENSE(&e, 0, 0, 6, 0x2a09);
	TUR_SENSE(&e, 0, 0, 6, 0x3f0e);
	CHECK_EQ(tur(&e, 0, 0, &r), GOOD);
	env_check_clean(&e);
	env_close(&e);
}

/* Hot-unplug and replug through WEV_HOST (VIRTIO_SCSI_F_HOTPLUG). */
static void test_hotplug(void)
{
	struct env e;
	struct resp r;
	uint8_t lun[8];
	uint32_t ev, reason, used;

	if (!env_open(&e, "mem=16M pci:scsi,disk0=1M,disk0-1=1M,disk3=1M,disk3-300=1M", false))
		return;
	env_up(&e, F_ALL, 1);
	clear_ua(&e, 0, 0);
	clear_ua(&e, 0, 1);
	clear_ua(&e, 3, 0);
	ev_post(&e, 8, 16, true);
	/* LUN 300: the event's lun field in flat space addressing */
	host_event(&e, WEV_HOST, 3, 300, 0);
	CHECK_EQ(ev_get(&e, &ev, lun, &reason, &used), 1);
	CHECK_EQ(ev, T_TRANSPORT_RESET);
	CHECK_EQ(memcmp(lun, (uint8_t[8]){ 1, 3, 0x41, 300 & 0xff }, 8), 0);
	host_event(&e, WEV_HOST, 0, 1, 0);
	CHECK_EQ(ev_get(&e, &ev, lun, &reason, &used), 1);
	CHECK_EQ(ev, T_TRANSPORT_RESET);
	CHECK_EQ(reason, 2); /* REMOVED */
	CHECK_EQ(lun[3], 1);
	cmd(&e, 0, 1, C(0x00, 0, 0, 0, 0, 0), NULL, 0, 0, &r);
	CHECK_SENSE(r, 5, 0x2500);
	TUR_SENSE(&e, 0, 0, 6, 0x3f0e);
	cmd(&e, 0, 0, C(0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 64, 0, 0), NULL, 0, 64, &r);
	CHECK_EQ(g_data[3], 8);
	/* the last unit of a target: the target is gone */
	host_event(&e, WEV_HOST, 3, 0, 0);
	CHECK_EQ(ev_get(&e, &ev, lun, &reason, &used), 1);
	CHECK_EQ(lun[1], 3);
	CHECK_EQ(tur(&e, 3, 0, &r), 0);
	CHECK_EQ(r.response, S_BAD_TARGET);
	/* twice: nothing */
	host_event(&e, WEV_HOST, 3, 0, 0);
	CHECK_EQ(ev_get(&e, &ev, lun, &reason, &used), 0);
	/* back: RESCAN, power-on unit attention on the new unit */
	host_event(&e, WEV_HOST, 0, 1, 1);
	CHECK_EQ(ev_get(&e, &ev, lun, &reason, &used), 1);
	CHECK_EQ(ev, T_TRANSPORT_RESET);
	CHECK_EQ(reason, 1);
	clear_ua(&e, 0, 1);
	CHECK_EQ(tur(&e, 0, 1, &r), GOOD);
	TUR_SENSE(&e, 0, 0, 6, 0x3f0e);
	/* REPORT LUNS clears REPORTED LUNS DATA HAS CHANGED */
	host_event(&e, WEV_HOST, 0, 1, 0);
	host_event(&e, WEV_HOST, 0, 1, 1);
	CHECK_EQ(ev_get(&e, &ev, lun, &reason, &used), 1);
	CHECK_EQ(ev_get(&e, &ev, lun, &reason, &used), 1);
	cmd(&e, 0, 0, C(0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 64, 0, 0), NULL, 0, 64, &r);
	CHECK_GOOD(r);
	CHECK_EQ(tur(&e, 0, 0, &r), GOOD);
	/* host events for a detached unit: ignored */
	host_event(&e, WEV_SCSI_PARAMS, 3, 0, 0);
	CHECK_EQ(ev_get(&e, &ev, lun, &reason, &used), 0);
	env_check_clean(&e);
	env_close(&e);
}

/* ======================================================================================== */
/* controlq                                                                                  */
/* ======================================================================================== */

static void test_tmf(void)
{
	char spec[256];
	struct env e;
	struct resp r;
	uint8_t lun[8], wl[8] = { 0xc1, 0x01 };
	uint32_t used, actual;

	snprintf(spec, sizeof spec, "mem=16M pci-modern:scsi,cd0=%s,disk0-1=1M,disk1=1M", g_iso);
	if (!env_open(&e, spec, false))
		return;
	env_up(&e, F_ALL, 1);
	clear_ua(&e, 0, 0);
	clear_ua(&e, 0, 1);
	clear_ua(&e, 1, 0);
	lun_of(lun, 0, 1);
	/* nothing is ever in flight: FUNCTION COMPLETE, no side effect */
	for (uint32_t st = 0; st <= 7; st++) {
		if (st == 2 || st == 4 || st == 5)
			continue;
		CHECK_EQ(tmf(&e, st, lun, &used), S_FUNCTION_COMPLETE);
		CHECK_EQ(used, 1);
	}
	CHECK_EQ(tur(&e, 0, 1, &r), GOOD);
	/* CLEAR ACA and unknown functions: rejected */
	CHECK_EQ(tmf(&e, 2, lun, &used), S_FUNCTION_REJECTED);
	CHECK_EQ(tmf(&e, 8, lun, &used), S_FUNCTION_REJECTED);
	CHECK_EQ(tmf(&e, 0xffffffff, lun, &used), S_FUNCTION_REJECTED);
	/* LOGICAL UNIT RESET: unit attention 29/03 on that unit, prevent and
	 * kept sense cleared */
	lun_of(lun, 0, 0);
	cmd(&e, 0, 0, C(0x1e, 0, 0, 0, 1, 0), NULL, 0, 0, &r);
	CHECK_EQ(tmf(&e, 5, lun, &used), S_FUNCTION_COMPLETE);
	TUR_SENSE(&e, 0, 0, 6, 0x2903);
	CHECK_EQ(tur(&e, 0, 1, &r), GOOD);
	cmd(&e, 0, 0, C(0x1b, 0, 0, 0, 2, 0), NULL, 0, 0, &r);
	CHECK_GOOD(r);
	cmd(&e, 0, 0, C(0x1b, 0, 0, 0, 3, 0), NULL, 0, 0, &r);
	/* I_T NEXUS RESET: every unit of the target (LUN ignored), 29/07 */
	lun_of(lun, 0, 77);
	CHECK_EQ(tmf(&e, 4, lun, &used), S_FUNCTION_COMPLETE);
	TUR_SENSE(&e, 0, 1, 6, 0x2907);
	TUR_SENSE(&e, 0, 0, 6, 0x2907);
	CHECK_EQ(tur(&e, 1, 0, &r), GOOD);
	/* ...through the domain W-LUN: every target */
	CHECK_EQ(tmf(&e, 4, wl, &used), S_FUNCTION_COMPLETE);
	TUR_SENSE(&e, 1, 0, 6, 0x2907);
	/* W-LUN: LU functions complete, nothing to reset */
	CHECK_EQ(tmf(&e, 5, wl, &used), S_FUNCTION_COMPLETE);
	lun_of(lun, 1, 0);
	lun[2] = 0xc1;
	lun[3] = 0x01;
	CHECK_EQ(tmf(&e, 0, lun, &used), S_FUNCTION_COMPLETE);
	/* bad target, nonexistent LUN, unsupported address method */
	lun_of(lun, 9, 0);
	CHECK_EQ(tmf(&e, 5, lun, &used), 3);
	lun[0] = 0;
	CHECK_EQ(tmf(&e, 0, lun, &used), 3);
	lun_of(lun, 1, 1);
	CHECK_EQ(tmf(&e, 5, lun, &used), S_INCORRECT_LUN);
	lun[2] = 0x80;
	CHECK_EQ(tmf(&e, 0, lun, &used), S_INCORRECT_LUN);

	/* AN: bad target, nonexistent LUN, W-LUNs, disks */
	lun_of(lun, 9, 0);
	CHECK_EQ(an(&e, T_AN_QUERY, lun, 0xff, &actual), 3);
	lun_of(lun, 1, 5);
	CHECK_EQ(an(&e, T_AN_SUBSCRIBE, lun, 0xff, &actual), S_INCORRECT_LUN);
	CHECK_EQ(an(&e, T_AN_QUERY, wl, 0xff, &actual), S_OK);
	CHECK_EQ(actual, 0);
	lun_of(lun, 1, 0);
	CHECK_EQ(an(&e, T_AN_SUBSCRIBE, lun, 0xff, &actual), S_OK);
	CHECK_EQ(actual, 0);
	lun_of(lun, 0, 0);
	CHECK_EQ(an(&e, T_AN_QUERY, lun, 0x04, &actual), S_OK);
	CHECK_EQ(actual, 0);
	env_check_clean(&e);
	env_close(&e);
}

/* ======================================================================================== */
/* Malformed framing and config                                                              */
/* ======================================================================================== */

/* A good command after each malformed one: INQUIRY on target 0. */
static void still_works(struct env *e)
{
	struct resp r;

	cmd(e, 0, 0, C(0x12, 0, 0, 0, 36, 0), NULL, 0, 36, &r);
	CHECK_GOOD(r);
	CHECK_EQ(g_data[0], 0);
	CHECK_EQ(r.used, 12 + e->sense_size + 36);
}

static void test_malformed(void)
{
	struct env e;
	struct gdrv_buf b[4];
	uint8_t hdr[51], rb[12];
	uint32_t used;
	unsigned errs = 0;

	if (!env_open(&e, "mem=16M pci-modern:scsi,disk0=1M", false))
		return;
	env_up(&e, F_ALL, 1);
	memset(hdr, 0, sizeof hdr);
	lun_of(hdr, 0, 0);
	hdr[19] = 0x12;
	hdr[23] = 36;
	e.io.mem_write(e.io.ctx, e.req, hdr, sizeof hdr);

	/* header shorter than 19 + cdb_size: VIRTIO_SCSI_S_FAILURE */
	b[0] = (struct gdrv_buf){ e.req, 50 };
	b[1] = (struct gdrv_buf){ e.resp, 108 };
	memset(rb, 0xee, sizeof rb);
	e.io.mem_write(e.io.ctx, e.resp, rb, sizeof rb);
	CHECK_EQ(roundtrip(&e, 2, b, 1, 1), 12);
	e.io.mem_read(e.io.ctx, e.resp, rb, sizeof rb);
	CHECK_EQ(rb[11], S_FAILURE);
	CHECK_EQ(rs_le32(rb), 0);
	CHECK_EQ(diag_count(&e.dev->log, DIAG_SCSI_REQUEST), ++errs);
	still_works(&e);
	/* no readable part at all */
	CHECK_EQ(roundtrip(&e, 2, &b[1], 0, 1), 12);
	CHECK_EQ(diag_count(&e.dev->log, DIAG_SCSI_REQUEST), ++errs);
	/* response does not fit (12 of 108 bytes): FAILURE in the header */
	b[0].len = 51;
	b[1].len = 12;
	CHECK_EQ(roundtrip(&e, 2, b, 1, 1), 12);
	e.io.mem_read(e.io.ctx, e.resp, rb, sizeof rb);
	CHECK_EQ(rb[11], S_FAILURE);
	CHECK_EQ(diag_count(&e.dev->log, DIAG_SCSI_REQUEST), ++errs);
	/* not even a response header (11 bytes), no writable part: used 0 */
	b[1].len = 11;
	CHECK_EQ(roundtrip(&e, 2, b, 1, 1), 0);
	CHECK_EQ(roundtrip(&e, 2, b, 1, 0), 0);
	errs += 2;
	CHECK_EQ(diag_count(&e.dev->log, DIAG_SCSI_REQUEST), errs);
	still_works(&e);
	/* header split over three descriptors, response over two: fine */
	b[0] = (struct gdrv_buf){ e.req, 5 };
	b[1] = (struct gdrv_buf){ e.req + 5, 40 };
	b[2] = (struct gdrv_buf){ e.req + 45, 6 };
	{
		struct gdrv_buf bb[6] = { b[0], b[1], b[2], { e.resp, 7 }, { e.resp + 7, 101 },
					  { e.in, 36 } };
		CHECK_EQ(roundtrip(&e, 2, bb, 3, 3), 12 + 96 + 36);
		e.io.mem_read(e.io.ctx, e.resp, rb, sizeof rb);
		CHECK_EQ(rb[11], S_OK);
		CHECK_EQ(rb[10], GOOD);            /* INQUIRY: no unit attention */
		e.io.mem_read(e.io.ctx, e.in, g_data, 36);
		CHECK_EQ(memcmp(g_data + 8, "RINGSIDE", 8), 0);
	}
	/* both dataout and datain without INOUT: FAILURE */
	{
		struct gdrv_buf bb[4] = { { e.req, 51 }, { e.out, 512 }, { e.resp, 108 },
					  { e.in, 512 } };
		CHECK_EQ(roundtrip(&e, 2, bb, 2, 2), 12);
		e.io.mem_read(e.io.ctx, e.resp, rb, sizeof rb);
		CHECK_EQ(rb[11], S_FAILURE);
		CHECK_EQ(rs_le32(rb + 4), 512);
		CHECK_EQ(diag_count(&e.dev->log, DIAG_SCSI_REQUEST), ++errs);
	}
	still_works(&e);

	/* controlq: no type, short TMF, short AN, AN response too short, unknown
	 * type, nothing writable */
	{
		uint8_t req[24], resp[5];

		memset(req, 0, sizeof req);
		lun_of(req + 8, 0, 0);
		e.io.mem_write(e.io.ctx, e.req, req, sizeof req);
		memset(resp, 0xee, sizeof resp);
		e.io.mem_write(e.io.ctx, e.resp, resp, sizeof resp);
		struct gdrv_buf bb[2] = { { e.req, 3 }, { e.resp, 1 } };
		CHECK_EQ(roundtrip(&e, 0, bb, 1, 1), 1);
		e.io.mem_read(e.io.ctx, e.resp, resp, 1);
		CHECK_EQ(resp[0], S_FAILURE);
		bb[0].len = 23;
		CHECK_EQ(roundtrip(&e, 0, bb, 1, 1), 1);
		bb[0].len = 24;
		CHECK_EQ(roundtrip(&e, 0, bb, 1, 0), 0);
		rs_st32(req, T_AN_QUERY);
		e.io.mem_write(e.io.ctx, e.req, req, sizeof req);
		bb[0].len = 15;
		bb[1].len = 5;
		CHECK_EQ(roundtrip(&e, 0, bb, 1, 1), 5);
		e.io.mem_read(e.io.ctx, e.resp, resp, 5);
		CHECK_EQ(resp[4], S_FAILURE);
		CHECK_EQ(rs_le32(resp), 0);
		bb[0].len = 16;
		bb[1].len = 4;
		CHECK_EQ(roundtrip(&e, 0, bb, 1, 1), 0);
		rs_st32(req, 3);
		e.io.mem_write(e.io.ctx, e.req, req, sizeof req);
		bb[1].len = 1;
		CHECK_EQ(roundtrip(&e, 0, bb, 1, 1), 1);
		e.io.mem_read(e.io.ctx, e.resp, resp, 1);
		CHECK_EQ(resp[0], S_FAILURE);
		errs += 6;
		CHECK_EQ(diag_count(&e.dev->log, DIAG_SCSI_REQUEST), errs);
		lun_of(req, 0, 0);
		CHECK_EQ(tmf(&e, 0, req, &used), S_FUNCTION_COMPLETE);
	}
	still_works(&e);
	CHECK_EQ(e.dev->status & VIRTIO_STATUS_NEEDS_RESET, 0);
	env_close(&e);
}

/* Zero-length and oversized segments, and a response buffer of the wrong
 * direction. */
static void test_segments(void)
{
	struct env e;
	uint8_t hdr[51], rb[12];

	if (!env_open(&e, "mem=16M pci-modern:scsi,disk0=1M", false))
		return;
	env_up(&e, F_SPLIT, 1);
	clear_ua(&e, 0, 0);
	memset(hdr, 0, sizeof hdr);
	lun_of(hdr, 0, 0);
	hdr[19] = 0x28;                     /* READ(10) of 16 blocks at 0 */
	hdr[27] = 16;
	e.io.mem_write(e.io.ctx, e.req, hdr, sizeof hdr);
	/* zero-length descriptors anywhere: ignored */
	{
		struct gdrv_buf b[6] = { { e.req, 0 }, { e.req, 51 }, { e.out, 0 },
					 { e.resp, 108 }, { e.in, 0 }, { e.in, 8192 } };
		CHECK_EQ(roundtrip(&e, 2, b, 3, 3), 12 + 96 + 8192);
		e.io.mem_read(e.io.ctx, e.resp, rb, sizeof rb);
		CHECK_EQ(rb[10], GOOD);
		CHECK_EQ(rb[11], S_OK);
		CHECK_EQ(rs_le32(rb + 4), 0);
	}
	/* an 8 MiB datain for 8 KiB of data: residual, nothing written past */
	{
		struct gdrv_buf b[3] = { { e.req, 51 }, { e.resp, 108 }, { e.out, 8u << 20 } };
		uint8_t probe;

		memset(&probe, 0xab, 1);
		e.io.mem_write(e.io.ctx, e.out + 8192, &probe, 1);
		CHECK_EQ(roundtrip(&e, 2, b, 1, 2), 12 + 96 + 8192);
		e.io.mem_read(e.io.ctx, e.resp, rb, sizeof rb);
		CHECK_EQ(rs_le32(rb + 4), (8u << 20) - 8192);
		e.io.mem_read(e.io.ctx, e.out + 8192, &probe, 1);
		CHECK_EQ(probe, 0xab);
	}
	/* the response in a device-readable buffer: no room for it, used 0 */
	{
		struct gdrv_buf b[2] = { { e.req, 51 }, { e.resp, 108 } };
		CHECK_EQ(roundtrip(&e, 2, b, 2, 0), 0);
		CHECK_EQ(diag_count(&e.dev->log, DIAG_SCSI_REQUEST), 1);
	}
	still_works(&e);
	env_close(&e);
}

/* CDB checks: cdb_size the driver chose, NACA, unit attention order. */
static void test_cdb_rules(void)
{
	struct env e;
	struct resp r;
	uint8_t cdb[16];

	if (!env_open(&e, "mem=16M pci-modern:scsi,disk0=1M", false))
		return;
	env_up(&e, F_ALL, 1);
	/* unit attention comes before an unknown opcode, once */
	cmd(&e, 0, 0, C(0xff, 0, 0, 0, 0, 0), NULL, 0, 0, &r);
	CHECK_SENSE(r, 6, 0x2900);
	cmd(&e, 0, 0, C(0xff, 0, 0, 0, 0, 0), NULL, 0, 0, &r);
	CHECK_SENSE(r, 5, 0x2000);
	/* NACA set in the CONTROL byte */
	cmd(&e, 0, 0, C(0x00, 0, 0, 0, 0, 0x04), NULL, 0, 0, &r);
	CHECK_SENSE(r, 5, 0x2400);
	CHECK_EQ(r.sense[17], 5);
	/* the driver shrinks cdb_size to 6: 6-byte CDBs work, a READ(10) is
	 * INVALID FIELD IN CDB; the framing follows the new size */
	gdrv_config_write(e.d, CFG_CDB_SIZE, 4, 6);
	CHECK_EQ(gdrv_config_read(e.d, CFG_CDB_SIZE, 4), 6);
	e.cdb_size = 6;
	CHECK_EQ(tur(&e, 0, 0, &r), GOOD);
	rw10(cdb, 0x28, 0, 1);
	cmd(&e, 0, 0, cdb, 10, NULL, 0, 512, &r);
	CHECK_SENSE(r, 5, 0x2400);
	CHECK_EQ(r.sense[17], 6);
	/* larger: 200 bytes, the device reads the first 32 */
	gdrv_config_write(e.d, CFG_CDB_SIZE, 4, 200);
	e.cdb_size = 200;
	rw16(cdb, 0x88, 2, 1);
	cmd(&e, 0, 0, cdb, 16, NULL, 0, 512, &r);
	CHECK_GOOD(r);
	/* out of range: kept, reported */
	gdrv_config_write(e.d, CFG_CDB_SIZE, 4, 5);
	gdrv_config_write(e.d, CFG_CDB_SIZE, 4, 256);
	CHECK_EQ(gdrv_config_read(e.d, CFG_CDB_SIZE, 4), 200);
	gdrv_config_write(e.d, CFG_SENSE_SIZE, 4, 65536);
	CHECK_EQ(gdrv_config_read(e.d, CFG_SENSE_SIZE, 4), 96);
	CHECK_EQ(diag_count(&e.dev->log, DIAG_SCSI_CONFIG), 3);
	/* sense_size 8: sense truncated to 8 bytes, datain after 12 + 8 */
	gdrv_config_write(e.d, CFG_SENSE_SIZE, 4, 8);
	e.sense_size = 8;
	cmd(&e, 0, 0, C(0xc1, 0, 0, 0, 0, 0), NULL, 0, 0, &r);
	CHECK_EQ(r.status, CHECK_CONDITION);
	CHECK_EQ(r.sense_len, 8);
	CHECK_EQ(r.used, 20);
	cmd(&e, 0, 0, C(0x03, 0, 0, 0, 18, 0), NULL, 0, 18, &r);
	CHECK_GOOD(r);
	CHECK_EQ(r.used, 12 + 8 + 18);
	CHECK_EQ(asc_of(g_data), 0x2000);
	/* sense_size 0 and 1000: datain offset moves along */
	gdrv_config_write(e.d, CFG_SENSE_SIZE, 4, 0);
	e.sense_size = 0;
	cmd(&e, 0, 0, C(0x12, 0, 0, 0, 36, 0), NULL, 0, 36, &r);
	CHECK_EQ(r.used, 12 + 36);
	CHECK_EQ(memcmp(g_data + 8, "RINGSIDE", 8), 0);
	gdrv_config_write(e.d, CFG_SENSE_SIZE, 4, 1000);
	e.sense_size = 1000;
	cmd(&e, 0, 0, C(0x12, 0, 0, 0, 36, 0), NULL, 0, 36, &r);
	CHECK_EQ(r.used, 12 + 1000 + 36);
	CHECK_EQ(memcmp(g_data + 8, "RINGSIDE", 8), 0);
	/* read-only fields: writes dropped and reported by the core */
	gdrv_config_write(e.d, CFG_NUM_QUEUES, 4, 5);
	CHECK_EQ(gdrv_config_read(e.d, CFG_NUM_QUEUES, 4), 1);
	/* reset restores 32 / 96 (5.6.4.2) and the power-on unit attention */
	gdrv_reset(e.d);
	CHECK_EQ(gdrv_config_read(e.d, CFG_CDB_SIZE, 4), 32);
	CHECK_EQ(gdrv_config_read(e.d, CFG_SENSE_SIZE, 4), 96);
	env_up(&e, F_ALL, 1);
	clear_ua(&e, 0, 0);
	env_close(&e);
}

/* Config space layout and widths (virtio-v1.2 5.6.4). */
static void test_config(void)
{
	struct env e;

	if (!env_open(&e, "mem=16M pci-modern:scsi,queues=3,disk4-9=1M,cd2=empty", false))
		return;
	CHECK_EQ(gdrv_queue_max(e.d, 0), 128);
	CHECK_EQ(gdrv_queue_max(e.d, 4), 128);
	CHECK_EQ(gdrv_queue_max(e.d, 5), 0);
	env_up(&e, F_ALL, 3);
	CHECK_EQ(gdrv_config_read(e.d, CFG_NUM_QUEUES, 4), 3);
	CHECK_EQ(gdrv_config_read(e.d, CFG_SEG_MAX, 4), 126);
	CHECK_EQ(gdrv_config_read(e.d, CFG_MAX_SECTORS, 4), 0xffff);
	CHECK_EQ(gdrv_config_read(e.d, CFG_CMD_PER_LUN, 4), 128);
	CHECK_EQ(gdrv_config_read(e.d, CFG_EVENT_INFO_SIZE, 4), 16);
	CHECK_EQ(gdrv_config_read(e.d, CFG_SENSE_SIZE, 4), 96);
	CHECK_EQ(gdrv_config_read(e.d, CFG_CDB_SIZE, 4), 32);
	CHECK_EQ(gdrv_config_read(e.d, CFG_MAX_CHANNEL, 2), 0);
	CHECK_EQ(gdrv_config_read(e.d, CFG_MAX_TARGET, 2), 4);
	CHECK_EQ(gdrv_config_read(e.d, CFG_MAX_LUN, 4), 9);
	env_check_clean(&e);
	/* a 2-byte read of a 4-byte field: reported by the core */
	vdev_config_read(e.dev, CFG_NUM_QUEUES, 2);
	CHECK_EQ(diag_count(&e.dev->log, DIAG_CONFIG_WIDTH), 1);
	env_close(&e);
}

/* Several request queues: the same unit from each. */
static void test_multiqueue(void)
{
	struct env e;
	struct resp r;
	uint8_t lun[8], wbuf[512], cdb[10];

	if (!env_open(&e, "mem=16M mmio:scsi,queues=4,disk0=1M", false))
		return;
	env_up(&e, F_ALL, 4);
	lun_of(lun, 0, 0);
	cmdq(&e, 3, lun, C(0x00, 0, 0, 0, 0, 0), NULL, 0, 0, &r);
	CHECK_SENSE(r, 6, 0x2900);
	for (unsigned q = 0; q < 4; q++) {
		pattern(wbuf, sizeof wbuf, q);
		rw10(cdb, 0x2a, q, 1);
		cmdq(&e, q, lun, cdb, 10, wbuf, sizeof wbuf, 0, &r);
		CHECK_GOOD(r);
	}
	for (unsigned q = 0; q < 4; q++) {
		pattern(wbuf, sizeof wbuf, q);
		rw10(cdb, 0x28, q, 1);
		cmdq(&e, 3 - q, lun, cdb, 10, NULL, 0, sizeof wbuf, &r);
		CHECK_GOOD(r);
		CHECK_EQ(memcmp(g_data, wbuf, sizeof wbuf), 0);
	}
	env_check_clean(&e);
	env_close(&e);
}

/* ======================================================================================== */
/* Options, reset                                                                            */
/* ======================================================================================== */

static void expect_error(const char *spec, const char *needle)
{
	struct machine *m = NULL;
	char err[256];

	err[0] = 0;
	CHECK(rs_machine_new(spec, &m, err, sizeof err) < 0);
	CHECK(m == NULL);
	if (!strstr(err, needle)) {
		fprintf(stderr, "spec '%s': error '%s' lacks '%s'\n", spec, err, needle);
		CHECK(!"error message");
	}
	rs_machine_free(m);
}

static void test_options(void)
{
	char spec[256];
	struct env e;
	struct resp r;

	expect_error("pci:scsi,disk0=0", "multiple of 512");
	expect_error("pci:scsi,disk0=513", "multiple of 512");
	expect_error("pci:scsi,disk0=/nonexistent/x.img", "No such file");
	expect_error("pci:scsi,disk0=ro:/nonexistent/x.img", "No such file");
	expect_error("pci:scsi,cd0=/nonexistent.iso", "No such file");
	expect_error("pci:scsi,cd0=/tmp", "not a regular file");
	expect_error("pci:scsi,disk0=1M,cd0=empty", "taken by disk0");
	expect_error("pci:scsi,disk0", "needs a value");
	expect_error("pci:scsi,queues=0", "queues=0");
	expect_error("pci:scsi,queues=17", "queues=17");
	expect_error("pci:scsi,queues=x", "queues");
	expect_error("pci:scsi,disk256=1M", "unknown option 'disk256'");
	expect_error("pci:scsi,disk0-16384=1M", "unknown option");
	expect_error("pci:scsi,diskx=1M", "unknown option");
	expect_error("pci:scsi,disk1-=1M", "unknown option");
	expect_error("pci:scsi,disk1-2x=1M", "unknown option");
	expect_error("pci:scsi,tape0=1M", "unknown option");
	snprintf(spec, sizeof spec, "pci:scsi,cd0=%s", g_tiny);
	expect_error(spec, "less than one 2048-byte block");

	/* default units: an 8 MiB disk at target 0, an empty CD-ROM at 1 */
	if (env_open(&e, "mem=16M pci-modern:scsi", false)) {
		env_up(&e, F_ALL, 1);
		clear_ua(&e, 0, 0);
		cmd(&e, 0, 0, C(0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0), NULL, 0, 8, &r);
		CHECK_EQ(g_data[2] << 8 | g_data[3], 16383);
		cmd(&e, 1, 0, C(0x12, 0, 0, 0, 36, 0), NULL, 0, 36, &r);
		CHECK_EQ(g_data[0], 5);
		clear_ua(&e, 1, 0);
		TUR_SENSE(&e, 1, 0, 2, 0x3a01);
		env_check_clean(&e);
		env_close(&e);
	}
	/* shorthand keys take the lowest free targets, disk before cd; a
	 * plain path is a read-write image; file: on a CD */
	snprintf(spec, sizeof spec, "mem=16M pci-modern:scsi,cd=file:%s,disk=%s,disk0=1M", g_iso,
		 g_img);
	if (env_open(&e, spec, false)) {
		env_up(&e, F_ALL, 1);
		cmd(&e, 1, 0, C(0x12, 0, 0, 0, 36, 0), NULL, 0, 36, &r);
		CHECK_EQ(g_data[0], 0);
		cmd(&e, 2, 0, C(0x12, 0, 0, 0, 36, 0), NULL, 0, 36, &r);
		CHECK_EQ(g_data[0], 5);
		clear_ua(&e, 1, 0);
		cmd(&e, 1, 0, C(0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0), NULL, 0, 8, &r);
		CHECK_EQ(g_data[3], 255);
		clear_ua(&e, 2, 0);
		CHECK_EQ(cd_read_check(&e, 2, 0, 10, 1, 0), 0);
		env_close(&e);
	}
	/* a second ISO with a different pattern; hex size */
	snprintf(spec, sizeof spec, "mem=16M mmio-legacy:scsi,cd3-7=%s,disk9=0x100000", g_iso2);
	if (env_open(&e, spec, false)) {
		env_up(&e, F_ALL, 1);
		clear_ua(&e, 3, 7);
		CHECK_EQ(cd_read_check(&e, 3, 7, 0, 40, 0x5a), 0);
		env_check_clean(&e);
		env_close(&e);
	}
}

/* Reset returns every piece of SCSI state to power-on: the state snapshot
 * of a used and reset device equals a fresh one's. */
static void test_reset(void)
{
	char spec[256];
	struct env e, f;
	struct resp r;
	uint8_t lun[8];
	uint32_t actual;

	snprintf(spec, sizeof spec, "mem=16M pci-modern:scsi,cd0=%s,disk1=1M", g_iso);
	if (!env_open(&e, spec, false) || !env_open(&f, spec, false))
		return;
	uint64_t fresh = vdev_state_hash(f.dev);
	CHECK_EQ(vdev_state_hash(e.dev), fresh);
	env_up(&e, F_ALL, 1);
	clear_ua(&e, 0, 0);
	cmd(&e, 0, 0, C(0x1e, 0, 0, 0, 1, 0), NULL, 0, 0, &r);
	cmd(&e, 1, 0, C(0xc0, 0, 0, 0, 0, 0), NULL, 0, 0, &r);
	lun_of(lun, 0, 0);
	CHECK_EQ(an(&e, T_AN_SUBSCRIBE, lun, EVT_MEDIA_CHANGE, &actual), S_OK);
	host_event(&e, WEV_SCSI_PARAMS, 1, 0, 0); /* lost: no buffer */
	gdrv_config_write(e.d, CFG_CDB_SIZE, 4, 16);
	CHECK(vdev_state_hash(e.dev) != fresh);
	gdrv_reset(e.d);
	CHECK_EQ(vdev_state_hash(e.dev), fresh);
	/* and works again: the prevent is gone, eject allowed */
	env_up(&e, F_ALL, 1);
	clear_ua(&e, 0, 0);
	cmd(&e, 0, 0, C(0x1b, 0, 0, 0, 2, 0), NULL, 0, 0, &r);
	CHECK_GOOD(r);
	env_close(&e);
	env_close(&f);
}

/* Images past 32-bit block numbers and past 255 minutes of MSF, as sparse
 * files: capacity fields saturate, LBA math stays exact. */
static void test_huge(void)
{
	char disk[64], iso[64], spec[256];
	struct env e;
	struct resp r;
	uint8_t cdb[16], wbuf[512];
	int fd;

	make_file(disk, "/tmp/rs-scsi-huge-XXXXXX", 0, false, 0);
	make_file(iso, "/tmp/rs-scsi-hugeiso-XXXXXX", 0, true, 0);
	fd = open(disk, O_RDWR);
	int big = ftruncate(fd, 3ll << 40);      /* 3 TiB: 6442450944 blocks */
	close(fd);
	fd = open(iso, O_RDWR);
	big |= ftruncate(fd, 1200000ll * 2048);
	close(fd);
	if (big) {
		fprintf(stderr, "test_huge: no sparse files of 3 TiB in /tmp, skipped\n");
		goto out;
	}
	snprintf(spec, sizeof spec, "mem=16M pci-modern:scsi,disk0=file:%s,cd1=%s", disk, iso);
	if (!env_open(&e, spec, false))
		goto out;
	env_up(&e, F_ALL, 1);
	clear_ua(&e, 0, 0);
	clear_ua(&e, 1, 0);
	cmd(&e, 0, 0, C(0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0), NULL, 0, 8, &r);
	CHECK_GOOD(r);
	CHECK_EQ(rs_le32(g_data), 0xffffffffu);
	cmd(&e, 0, 0, C(0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0), NULL, 0, 32, &r);
	CHECK_EQ(g_data[3], 1);
	CHECK_EQ(g_data[4] << 24 | g_data[5] << 16 | g_data[6] << 8 | g_data[7], 0x7fffffff);
	cmd(&e, 0, 0, C(0x1a, 0, 0x08, 0, 255, 0), NULL, 0, 255, &r);
	CHECK_EQ(g_data[5] << 16 | g_data[6] << 8 | g_data[7], 0xffffff);
	/* a write and read far beyond 2^32 blocks */
	pattern(wbuf, sizeof wbuf, 33);
	rw16(cdb, 0x8a, 5000000000ull, 1);
	cmd(&e, 0, 0, cdb, 16, wbuf, 512, 0, &r);
	CHECK_GOOD(r);
	rw16(cdb, 0x88, 5000000000ull, 1);
	cmd(&e, 0, 0, cdb, 16, NULL, 0, 512, &r);
	CHECK_GOOD(r);
	CHECK_EQ(memcmp(g_data, wbuf, 512), 0);
	rw16(cdb, 0x88, 6442450943ull, 2);
	cmd(&e, 0, 0, cdb, 16, NULL, 0, 1024, &r);
	CHECK_SENSE(r, 5, 0x2100);
	/* a failed read there: the LBA does not fit INFORMATION, VALID is 0 */
	e.fw->fail_op = WIO_READ;
	e.fw->fail_result = -EIO;
	rw16(cdb, 0x88, 5000000000ull, 1);
	cmd(&e, 0, 0, cdb, 16, NULL, 0, 512, &r);
	CHECK_SENSE(r, 3, 0x1100);
	CHECK_EQ(r.sense[0], 0x70);
	/* the lead-out at 1200000 blocks: 266 minutes, clipped to FF:59:74 */
	cmd(&e, 1, 0, C(0x43, 0, 0, 0, 0, 0, 0, 0, 20, 0), NULL, 0, 20, &r);
	CHECK_EQ(g_data[16] << 24 | g_data[17] << 16 | g_data[18] << 8 | g_data[19], 1200000);
	cmd(&e, 1, 0, C(0x43, 2, 0, 0, 0, 0, 0, 0, 20, 0), NULL, 0, 20, &r);
	CHECK_EQ(g_data[17], 0xff);
	CHECK_EQ(g_data[18], 59);
	CHECK_EQ(g_data[19], 74);
	env_close(&e);
out:
	unlink(disk);
	unlink(iso);
}

/* Image options on blk's backends: copy-on-write over a file, fault
 * injection; and a device created without a world. */
static void test_image_options(void)
{
	char spec[256], err[256];
	struct env e;
	struct resp r;
	uint8_t cdb[10], wbuf[512], fbuf[512];
	struct machine *m;
	struct vdev *d;
	int fd;

	snprintf(spec, sizeof spec,
		 "mem=16M pci-modern:scsi,disk0=cow:%s,disk1=1M,fault1=read:2+write:1", g_img);
	if (env_open(&e, spec, false)) {
		env_up(&e, F_ALL, 1);
		clear_ua(&e, 0, 0);
		clear_ua(&e, 1, 0);
		/* copy-on-write: the guest sees its writes, the file does not */
		pattern(wbuf, sizeof wbuf, 44);
		rw10(cdb, 0x2a, 100, 1);
		cmd(&e, 0, 0, cdb, 10, wbuf, 512, 0, &r);
		CHECK_GOOD(r);
		rw10(cdb, 0x28, 100, 1);
		cmd(&e, 0, 0, cdb, 10, NULL, 0, 512, &r);
		CHECK_EQ(memcmp(g_data, wbuf, 512), 0);
		rw10(cdb, 0x28, 101, 1);
		cmd(&e, 0, 0, cdb, 10, NULL, 0, 512, &r);
		CHECK_EQ(g_data[9], img_byte(101 * 512 + 9));
		fd = open(g_img, O_RDONLY);
		CHECK_EQ(pread(fd, fbuf, 512, 100 * 512), 512);
		close(fd);
		CHECK_EQ(fbuf[0], img_byte(100 * 512));
		/* fault injection: the second read and the first write fail */
		rw10(cdb, 0x28, 0, 1);
		cmd(&e, 1, 0, cdb, 10, NULL, 0, 512, &r);
		CHECK_GOOD(r);
		cmd(&e, 1, 0, cdb, 10, NULL, 0, 512, &r);
		CHECK_SENSE(r, 3, 0x1100);
		cmd(&e, 1, 0, cdb, 10, NULL, 0, 512, &r);
		CHECK_GOOD(r);
		rw10(cdb, 0x2a, 0, 1);
		cmd(&e, 1, 0, cdb, 10, wbuf, 512, 0, &r);
		CHECK_SENSE(r, 3, 0x0c00);
		cmd(&e, 1, 0, cdb, 10, wbuf, 512, 0, &r);
		CHECK_GOOD(r);
		CHECK_EQ(diag_count(&e.dev->log, DIAG_BACKEND_ERROR), 2);
		env_close(&e);
	}
	expect_error("pci:scsi,disk0=1M,fault1=read:1", "no image at target 1 LUN 0");
	expect_error("pci:scsi,cd0-2=empty,fault0-2=read:1", "fault0-2: no image");
	expect_error("pci:scsi,disk0=1M,fault0=bogus", "fault0=bogus");
	expect_error("pci:scsi,disk0=cow:/nonexistent/img", "disk0");
	expect_error("pci:scsi,disk0=1M,faultx=read:1", "unknown option 'faultx'");
	expect_error("pci:scsi,disk0=1M,fault=read:1", "unknown option 'fault'");

	/* the device needs a world for its images */
	CHECK_EQ(rs_machine_new("mem=16M", &m, err, sizeof err), 0);
	CHECK_EQ(vdev_create(rs_device_find("scsi"), &m->gm, "scsi", NULL, &d, err, sizeof err),
		 -EINVAL);
	CHECK(strstr(err, "needs a world") != NULL);
	rs_machine_free(m);
}

int main(void)
{
	make_images();
	RUN(test_transports);
	RUN(test_inquiry);
	RUN(test_request_sense);
	RUN(test_report_luns);
	RUN(test_lun_addressing);
	RUN(test_mode_sense);
	RUN(test_disk_rw);
	RUN(test_backend_errors);
	RUN(test_cdrom);
	RUN(test_media_events);
	RUN(test_event_queue);
	RUN(test_hotplug);
	RUN(test_tmf);
	RUN(test_malformed);
	RUN(test_segments);
	RUN(test_cdb_rules);
	RUN(test_config);
	RUN(test_multiqueue);
	RUN(test_options);
	RUN(test_reset);
	RUN(test_huge);
	RUN(test_image_options);
	remove_images();
	return check_done();
}
