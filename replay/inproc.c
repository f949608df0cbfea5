/*
 * ringside — in-process recording (see inproc.h): the reference driver plays
 * the guest of a machine from the host program, and every register access
 * goes through the recorder's entry points, so the trace is what a VMM
 * recording a guest running the same driver would write.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ringside/balloon.h"
#include "ringside/blk.h"
#include "ringside/echo.h"
#include "ringside/guest_machine.h"
#include "ringside/ringside.h"
#include "ringside/vmmci.h"
#include "inproc.h"
#include "replay_priv.h"

#define IP_MEM_BASE (1ull << 20)   /* driver allocations from 1 MiB */
#define IP_MSI_ADDR 0xfee00000ull
#define IP_QSIZE 64
#define IP_DEFAULT_REQUESTS 8

/* Where each known model goes in the default machine; others: pci-modern. */
static const struct {
	const char *name;
	const char *where;
} ip_places[] = {
	{ "echo", "pci:echo" },
	{ "console", "pci-modern:console" },
	{ "rng", "mmio-legacy:rng" },
	{ "blk", "pci:blk,size=1M" },
	{ "vmmci", "pci-legacy:vmmci" },
	{ "balloon", "pci-legacy:balloon" },
	{ "net", "mmio:net" },
	{ "scsi", "pci-modern:scsi,disk0=1M" },
};

size_t inproc_default_spec(char *buf, size_t len)
{
	size_t n = 0;
	int k = snprintf(buf, len, "mem=32M");

	n = k > 0 ? (size_t)k : 0;
	for (unsigned i = 0; rs_devices[i]; i++) {
		const char *name = rs_devices[i]->name;
		char one[64];

		snprintf(one, sizeof one, "pci-modern:%s", name);
		for (unsigned j = 0; j < RS_ARRAY_SIZE(ip_places); j++)
			if (!strcmp(ip_places[j].name, name))
				snprintf(one, sizeof one, "%s", ip_places[j].where);
		k = snprintf(n < len ? buf + n : NULL, n < len ? len - n : 0, " %s", one);
		n += k > 0 ? (size_t)k : 0;
	}
	return n;
}

/* ---- driver I/O through the recorder ------------------------------------------------- */

/* gdrv_io: a port read, through the recorder when there is one. */
static uint32_t ip_pio_read(void *ctx, uint16_t port, unsigned size)
{
	struct inproc_io *c = ctx;

	c->accesses++;
	return (uint32_t)(c->r ? rec_pio_read(c->r, port, size)
			       : machine_pio_read(c->m, port, size));
}

/* gdrv_io: a port write, through the recorder when there is one. */
static void ip_pio_write(void *ctx, uint16_t port, unsigned size, uint32_t val)
{
	struct inproc_io *c = ctx;

	c->accesses++;
	if (c->r)
		rec_pio_write(c->r, port, size, val);
	else
		machine_pio_write(c->m, port, size, val);
}

/* gdrv_io: an MMIO read, through the recorder when there is one. */
static uint64_t ip_mmio_read(void *ctx, uint64_t addr, unsigned size)
{
	struct inproc_io *c = ctx;

	c->accesses++;
	return c->r ? rec_mmio_read(c->r, addr, size) : machine_mmio_read(c->m, addr, size);
}

/* gdrv_io: an MMIO write, through the recorder when there is one. */
static void ip_mmio_write(void *ctx, uint64_t addr, unsigned size, uint64_t val)
{
	struct inproc_io *c = ctx;

	c->accesses++;
	if (c->r)
		rec_mmio_write(c->r, addr, size, val);
	else
		machine_mmio_write(c->m, addr, size, val);
}

/* The guest's own memory accesses are not device events: not recorded. */
static void ip_mem_read(void *ctx, uint64_t gpa, void *buf, size_t len)
{
	struct inproc_io *c = ctx;

	(void)gm_guest_read(&c->m->gm, gpa, buf, len);
}

/* gdrv_io: a guest memory write (not a device event: not recorded). */
static void ip_mem_write(void *ctx, uint64_t gpa, const void *buf, size_t len)
{
	struct inproc_io *c = ctx;

	(void)gm_guest_write(&c->m->gm, gpa, buf, len);
}

void inproc_gdrv_io(struct gdrv_io *io, struct inproc_io *ctx)
{
	io->ctx = ctx;
	io->pio_read = ip_pio_read;
	io->pio_write = ip_pio_write;
	io->mmio_read = ip_mmio_read;
	io->mmio_write = ip_mmio_write;
	io->mem_read = ip_mem_read;
	io->mem_write = ip_mem_write;
}

/* ---- sessions ------------------------------------------------------------------------ */

struct sess {
	struct machine *m;
	struct inproc_io *c;
	const struct gdrv_io *io;
	struct gdrv_dev *gd;
	struct gdrv_mem mem;
	unsigned dev;
	unsigned requests;
	uint64_t token;
	char why[160];
};

/* Why the session failed, into s->why; returns -1. */
static int RS_PRINTF(2, 3) fail(struct sess *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->why, sizeof s->why, fmt, ap);
	va_end(ap);
	return -1;
}

/* Host events are delivered between accesses, as a VMM loop does. */
static void poll_events(struct sess *s)
{
	rs_machine_poll_events(s->m, 64);
}

/* Post a host event for the session's device and deliver it. */
static int post(struct sess *s, enum world_event_kind kind, uint32_t port, uint64_t arg,
		const void *data, uint32_t len)
{
	struct world_event ev = {
		.kind = kind, .dev = s->dev, .port = port, .arg = arg, .len = len, .data = data,
	};

	if (world_post(s->m->world, &ev) < 0)
		return fail(s, "cannot post host event %d", kind);
	poll_events(s);
	return 0;
}

/* Guest memory for the session (zeroed), or 0. */
static uint64_t alloc(struct sess *s, uint64_t len, uint64_t align)
{
	return gdrv_alloc(s->io, &s->mem, len, align);
}

/* One chain on queue q, kicked and completed; *len the used length. */
static int xfer(struct sess *s, unsigned q, const struct gdrv_buf *b, unsigned nout,
		unsigned nin, uint32_t *len)
{
	struct gdrv_vq *vq = &s->gd->vq[q];
	bool indirect = (s->gd->features >> VIRTIO_F_INDIRECT_DESC) & 1 && s->token % 3 == 1;
	uint64_t token = ++s->token, got = 0;
	uint32_t used = 0;

	if (gdrv_submit(vq, b, nout, nin, token, indirect) < 0)
		return fail(s, "queue %u: submit refused", q);
	gdrv_kick(vq);
	if (gdrv_get_used(vq, &got, &used) != 1 || got != token)
		return fail(s, "queue %u: request %llu not completed", q,
			    (unsigned long long)token);
	gdrv_ack_isr(s->gd);
	if (len)
		*len = used;
	return 0;
}

/* Test pattern byte j of buffer i. */
static uint8_t pattern(uint64_t i, size_t j)
{
	return (uint8_t)(i * 131u + j * 7u + (j >> 8));
}

/* Fill guest memory with pattern seed. */
static void fill(struct sess *s, uint64_t gpa, size_t len, uint64_t seed)
{
	uint8_t buf[512];

	for (size_t done = 0; done < len;) {
		size_t n = RS_MIN(len - done, sizeof buf);

		for (size_t j = 0; j < n; j++)
			buf[j] = pattern(seed, done + j);
		s->io->mem_write(s->io->ctx, gpa + done, buf, n);
		done += n;
	}
}

/* True when guest memory holds pattern seed. */
static bool check(struct sess *s, uint64_t gpa, size_t len, uint64_t seed)
{
	uint8_t buf[512];

	for (size_t done = 0; done < len;) {
		size_t n = RS_MIN(len - done, sizeof buf);

		s->io->mem_read(s->io->ctx, gpa + done, buf, n);
		for (size_t j = 0; j < n; j++)
			if (buf[j] != pattern(seed, done + j))
				return false;
		done += n;
	}
	return true;
}

/* One guest memory byte. */
static uint8_t peek8(struct sess *s, uint64_t gpa)
{
	uint8_t v = 0xff;

	s->io->mem_read(s->io->ctx, gpa, &v, 1);
	return v;
}

/* echo: readable segments come back in the writable ones. */
static int wl_echo(struct sess *s)
{
	unsigned nq = s->gd->nqueues ? s->gd->nqueues : 1;
	uint64_t out = alloc(s, 2048, 64), in = alloc(s, 2048, 64);

	if (!out || !in)
		return fail(s, "out of guest memory");
	for (unsigned i = 0; i < s->requests; i++) {
		uint32_t len = 1 + (i * 97u) % 2048, got = 0;
		struct gdrv_buf b[2] = { { out, len }, { in, len } };

		fill(s, out, len, i);
		if (xfer(s, i % nq, b, 1, 1, &got) < 0)
			return -1;
		if (got != len || !check(s, in, len, i))
			return fail(s, "echo request %u came back wrong", i);
	}
	return 0;
}

/* rng: writable buffers filled with entropy. */
static int wl_rng(struct sess *s)
{
	uint64_t buf = alloc(s, 256, 16);

	if (!buf)
		return fail(s, "out of guest memory");
	for (unsigned i = 0; i < s->requests; i++) {
		struct gdrv_buf b = { buf, 16 + i * 8 % 240 };
		uint32_t got = 0;

		if (xfer(s, 0, &b, 0, 1, &got) < 0)
			return -1;
		if (got != b.len)
			return fail(s, "rng gave %u of %u bytes", got, b.len);
	}
	return 0;
}

/* blk: one request (header, data, status); returns the status byte. */
static int blk_req(struct sess *s, uint32_t type, uint64_t sector, uint64_t data, uint32_t len,
		   bool write, uint64_t hdr, uint8_t *status)
{
	uint8_t h[VIRTIO_BLK_REQ_HDR_SIZE] = { 0 };
	struct gdrv_buf b[3];
	unsigned n = 0;

	rs_st32(h, type);
	rs_st64(h + 8, sector);
	s->io->mem_write(s->io->ctx, hdr, h, sizeof h);
	b[n++] = (struct gdrv_buf){ hdr, sizeof h };
	if (len)
		b[n++] = (struct gdrv_buf){ data, len };
	b[n++] = (struct gdrv_buf){ hdr + 32, 1 };
	if (xfer(s, 0, b, write ? n - 1 : 1, write ? 1 : n - 1, NULL) < 0)
		return -1;
	*status = peek8(s, hdr + 32);
	return 0;
}

/* blk: sector writes read back, a flush, GET_ID. */
static int wl_blk(struct sess *s)
{
	uint64_t hdr = alloc(s, 64, 16), data = alloc(s, 8192, 512);
	uint8_t st = 0xff;

	if (!hdr || !data)
		return fail(s, "out of guest memory");
	for (unsigned i = 0; i < s->requests; i++) {
		uint32_t len = 512u * (1 + i % 8);
		uint64_t sector = (uint64_t)i * 16;

		fill(s, data, len, 1000 + i);
		if (blk_req(s, VIRTIO_BLK_T_OUT, sector, data, len, true, hdr, &st) < 0)
			return -1;
		if (st != VIRTIO_BLK_S_OK)
			return fail(s, "blk write %u: status %u", i, st);
		s->io->mem_write(s->io->ctx, data, "\0\0\0\0", 4);
		if (blk_req(s, VIRTIO_BLK_T_IN, sector, data, len, false, hdr, &st) < 0)
			return -1;
		if (st != VIRTIO_BLK_S_OK || !check(s, data, len, 1000 + i))
			return fail(s, "blk read %u: status %u or data differ", i, st);
	}
	if ((s->gd->features >> VIRTIO_BLK_F_FLUSH) & 1) {
		if (blk_req(s, VIRTIO_BLK_T_FLUSH, 0, 0, 0, true, hdr, &st) < 0)
			return -1;
		if (st != VIRTIO_BLK_S_OK)
			return fail(s, "blk flush: status %u", st);
	}
	if (blk_req(s, VIRTIO_BLK_T_GET_ID, 0, data, VIRTIO_BLK_ID_BYTES, false, hdr, &st) < 0)
		return -1;
	return 0;
}

/* console: output on port 0's transmit queue, input through a host event. */
static int wl_console(struct sess *s)
{
	static const char input[] = "ringside console input\n";
	uint64_t rx = alloc(s, 256, 16), tx = alloc(s, 256, 16);
	struct gdrv_buf rb = { rx, 256 };
	struct gdrv_vq *rxq = &s->gd->vq[0];
	uint64_t token = 0;
	uint32_t got = 0;
	char line[64];

	if (!rx || !tx)
		return fail(s, "out of guest memory");
	if (gdrv_submit(rxq, &rb, 0, 1, 0x7e57, false) < 0)
		return fail(s, "console: receive buffer refused");
	gdrv_kick(rxq);
	for (unsigned i = 0; i < s->requests; i++) {
		int n = snprintf(line, sizeof line, "console line %u\n", i);
		struct gdrv_buf b = { tx, (uint32_t)n };

		s->io->mem_write(s->io->ctx, tx, line, (size_t)n);
		if (xfer(s, 1, &b, 1, 0, NULL) < 0)
			return -1;
	}
	if (post(s, WEV_CONSOLE_IN, 0, 0, input, sizeof input - 1) < 0)
		return -1;
	if (gdrv_get_used(rxq, &token, &got) != 1 || token != 0x7e57 || got != sizeof input - 1)
		return fail(s, "console input not received");
	gdrv_ack_isr(s->gd);
	return 0;
}

/* net: frames sent on pair 0 come back through the loop backend. */
static int wl_net(struct sess *s)
{
	bool v1 = (s->gd->features >> VIRTIO_F_VERSION_1) & 1;
	uint32_t hlen = v1 ? 12 : 10, flen = 60;
	uint64_t rx = alloc(s, 2048, 64), tx = alloc(s, 2048, 64);
	struct gdrv_vq *rxq = &s->gd->vq[0];
	uint8_t frame[60];

	if (!rx || !tx)
		return fail(s, "out of guest memory");
	for (unsigned i = 0; i < s->requests; i++) {
		struct gdrv_buf rb = { rx, 2048 }, tb = { tx, hlen + flen };
		uint64_t token = 0;
		uint32_t got = 0;

		if (gdrv_submit(rxq, &rb, 0, 1, 0x4e0000u + i, false) < 0)
			return fail(s, "net: receive buffer refused");
		gdrv_kick(rxq);
		memset(frame, 0xff, 6); /* broadcast */
		for (unsigned j = 6; j < sizeof frame; j++)
			frame[j] = pattern(i, j);
		frame[12] = 0x88;
		frame[13] = 0xb5; /* local experimental ethertype */
		s->io->mem_write(s->io->ctx, tx, "\0\0\0\0\0\0\0\0\0\0\0\0", hlen);
		s->io->mem_write(s->io->ctx, tx + hlen, frame, flen);
		if (xfer(s, 1, &tb, 1, 0, NULL) < 0)
			return -1;
		poll_events(s);
		if (gdrv_get_used(rxq, &token, &got) != 1 || token != 0x4e0000u + i ||
		    got != hlen + flen)
			return fail(s, "net: frame %u did not come back", i);
		gdrv_ack_isr(s->gd);
	}
	return 0;
}

/* scsi: one command on the first request queue; returns the SCSI status. */
static int scsi_cmd(struct sess *s, const uint8_t *cdb, unsigned cdb_len, uint64_t req,
		    uint64_t data, uint32_t len, bool write, uint8_t *status)
{
	uint8_t r[19 + 32] = { 0 };
	uint8_t resp[12];
	struct gdrv_buf b[3];
	unsigned n = 0;

	r[0] = 1;      /* lun: target 0, LUN 0 */
	r[2] = 0x40;
	rs_st64(r + 8, ++s->token);
	memcpy(r + 19, cdb, cdb_len);
	s->io->mem_write(s->io->ctx, req, r, sizeof r);
	b[n++] = (struct gdrv_buf){ req, sizeof r };
	if (write && len)
		b[n++] = (struct gdrv_buf){ data, len };
	b[n++] = (struct gdrv_buf){ req + 64, 12 + 96 };
	if (!write && len)
		b[n++] = (struct gdrv_buf){ data, len };
	if (xfer(s, 2, b, write && len ? 2 : 1, write || !len ? 1 : 2, NULL) < 0)
		return -1;
	s->io->mem_read(s->io->ctx, req + 64, resp, sizeof resp);
	if (resp[11] != 0) /* response: VIRTIO_SCSI_S_OK */
		return fail(s, "scsi: command 0x%02x: response %u", cdb[0], resp[11]);
	*status = resp[10];
	return 0;
}

/* scsi: INQUIRY, READ CAPACITY, WRITE(10) and READ(10) on target 0. */
static int wl_scsi(struct sess *s)
{
	static const uint8_t inquiry[6] = { 0x12, 0, 0, 0, 36, 0 };
	static const uint8_t capacity[10] = { 0x25 };
	uint64_t req = alloc(s, 256, 16), data = alloc(s, 4096, 512);
	uint8_t st = 0xff;

	if (!req || !data)
		return fail(s, "out of guest memory");
	if (scsi_cmd(s, inquiry, sizeof inquiry, req, data, 36, false, &st) < 0)
		return -1;
	if (scsi_cmd(s, capacity, sizeof capacity, req, data, 8, false, &st) < 0)
		return -1;
	for (unsigned i = 0; i < s->requests; i++) {
		uint8_t rw[10] = { 0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0 };

		rs_st32(rw + 2, 0); /* big-endian LBA below */
		rw[5] = (uint8_t)i;
		fill(s, data, 512, 2000 + i);
		if (scsi_cmd(s, rw, sizeof rw, req, data, 512, true, &st) < 0)
			return -1;
		if (st != 0)
			return fail(s, "scsi WRITE(10) %u: status 0x%02x", i, st);
		rw[0] = 0x28;
		s->io->mem_write(s->io->ctx, data, "\0\0\0\0", 4);
		if (scsi_cmd(s, rw, sizeof rw, req, data, 512, false, &st) < 0)
			return -1;
		if (st != 0 || !check(s, data, 512, 2000 + i))
			return fail(s, "scsi READ(10) %u: status 0x%02x or data differ", i, st);
	}
	return 0;
}

/* vmmci: the wall clock, then a shutdown request acknowledged. */
static int wl_vmmci(struct sess *s)
{
	uint64_t cmd;

	(void)gdrv_config_read(s->gd, VMMCI_CFG_TIME_SEC, 4);
	(void)gdrv_config_read(s->gd, VMMCI_CFG_TIME_USEC, 4);
	if (post(s, WEV_VMMCI, 0, 1 /* VMMCI_SHUTDOWN */, NULL, 0) < 0)
		return -1;
	gdrv_ack_isr(s->gd);
	cmd = gdrv_config_read(s->gd, VMMCI_CFG_COMMAND, 4);
	if (cmd != 1)
		return fail(s, "vmmci: command reads %llu, want 1", (unsigned long long)cmd);
	gdrv_config_write(s->gd, VMMCI_CFG_COMMAND, 4, cmd);
	return post(s, WEV_HOST, 0, VMMCI_HOST_TICK, NULL, 0);
}

/* balloon: the host asks for pages, the driver gives and takes them back. */
static int balloon_move(struct sess *s, unsigned q, uint64_t pfns, uint32_t n)
{
	struct gdrv_buf b = { pfns, 4 * n };

	return xfer(s, q, &b, 1, 0, NULL);
}

/* balloon: inflate to the host's target, then deflate back to 0. */
static int wl_balloon(struct sess *s)
{
	uint32_t n = RS_MIN(s->requests, 64u);
	uint64_t pfns = alloc(s, 4 * 64, 16), pages = alloc(s, (uint64_t)n * 4096, 4096);
	uint8_t le[4];

	if (!pfns || !pages)
		return fail(s, "out of guest memory");
	for (uint32_t i = 0; i < n; i++) {
		rs_st32(le, (uint32_t)((pages >> VIRTIO_BALLOON_PFN_SHIFT) + i));
		s->io->mem_write(s->io->ctx, pfns + 4 * i, le, 4);
	}
	if (post(s, WEV_BALLOON_TARGET, 0, n, NULL, 0) < 0)
		return -1;
	gdrv_ack_isr(s->gd);
	if (gdrv_config_read(s->gd, BALLOON_CFG_NUM_PAGES, 4) != n)
		return fail(s, "balloon: target not seen");
	if (balloon_move(s, 0, pfns, n) < 0)
		return -1;
	gdrv_config_write(s->gd, BALLOON_CFG_ACTUAL, 4, n);
	if (post(s, WEV_BALLOON_TARGET, 0, 0, NULL, 0) < 0)
		return -1;
	gdrv_ack_isr(s->gd);
	if (balloon_move(s, 1, pfns, n) < 0)
		return -1;
	gdrv_config_write(s->gd, BALLOON_CFG_ACTUAL, 4, 0);
	return 0;
}

/* What the workload does with a model: features asked for, queues set up
 * (those of the first `queues` the device has), the I/O. */
struct wl {
	const char *name;
	uint64_t features;
	unsigned queues;
	int (*run)(struct sess *s);
};

static const struct wl workloads[] = {
	{ "echo", 0, 2, wl_echo },
	{ "rng", 0, 1, wl_rng },
	{ "blk", VIRTIO_BIT(VIRTIO_BLK_F_FLUSH) | VIRTIO_BIT(VIRTIO_BLK_F_SEG_MAX) |
			 VIRTIO_BIT(VIRTIO_BLK_F_BLK_SIZE), 1, wl_blk },
	{ "console", 0, 2, wl_console },
	{ "net", VIRTIO_BIT(5) /* MAC */ | VIRTIO_BIT(16) /* STATUS */, 2, wl_net },
	{ "scsi", 0, 3, wl_scsi },
	{ "vmmci", VIRTIO_BIT(VMMCI_F_TIMESYNC) | VIRTIO_BIT(VMMCI_F_ACK) |
			   VIRTIO_BIT(VMMCI_F_SYNCRTC), 0, wl_vmmci },
	{ "balloon", 0, 2, wl_balloon },
};

/* The workload of model name, or NULL (bring-up only). */
static const struct wl *workload_of(const char *name)
{
	for (unsigned i = 0; i < RS_ARRAY_SIZE(workloads); i++)
		if (!strcmp(workloads[i].name, name))
			return &workloads[i];
	return NULL;
}

/* Bring the opened device up and run its I/O. Returns 0 or -1 with s->why. */
static int session_body(struct sess *s, const struct wl *w, bool pci_if, unsigned variant,
			uint64_t want)
{
	struct vdev *d = s->m->devs[s->dev];
	unsigned nq = w ? w->queues : RS_MIN(d->nqueues, 2u);

	if (gdrv_init(s->gd, want) < 0)
		return fail(s, "feature negotiation refused");
	if (pci_if && variant % 2 == 0 && s->gd->pci.msix_cap)
		(void)gdrv_enable_msix(s->gd, IP_MSI_ADDR, 0x40 + 16 * s->dev);
	for (unsigned q = 0; q < nq; q++)
		if (gdrv_queue_max(s->gd, q) && gdrv_setup_vq(s->gd, q, IP_QSIZE) < 0)
			return fail(s, "queue %u setup failed", q);
	gdrv_driver_ok(s->gd);
	if (gdrv_get_status(s->gd) & (VIRTIO_STATUS_NEEDS_RESET | VIRTIO_STATUS_FAILED))
		return fail(s, "device status 0x%02x after DRIVER_OK", gdrv_get_status(s->gd));
	return w ? w->run(s) : 0;
}

/* One session over one interface, ending in a reset. Returns 0 or -1 with
 * s->why. */
static int session(struct sess *s, const struct gdrv_pci_info *pci, enum gdrv_transport t,
		   unsigned variant)
{
	const struct wl *w = workload_of(s->m->devs[s->dev]->ops->name);
	uint64_t want = VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX);
	bool pci_if = t == GDRV_PCI_LEGACY || t == GDRV_PCI_MODERN;
	int r;

	if (pci_if && !pci)
		return fail(s, "not found by the PCI scan");
	if (variant % 2 == 0)
		want |= VIRTIO_BIT(VIRTIO_F_RING_PACKED);
	if (w)
		want |= w->features;
	r = pci_if ? gdrv_open_pci(s->gd, s->io, &s->mem, pci, t == GDRV_PCI_LEGACY)
		   : gdrv_open_mmio(s->gd, s->io, &s->mem, s->m->devinfo[s->dev].base);
	if (r < 0)
		return fail(s, "device not found on its transport");
	r = session_body(s, w, pci_if, variant, want);
	gdrv_reset(s->gd);
	return r;
}

/* The reference driver's name of an interface, for messages. */
static const char *iface_name(enum gdrv_transport t)
{
	return t == GDRV_PCI_LEGACY   ? "pci legacy"
	       : t == GDRV_PCI_MODERN ? "pci modern"
	       : t == GDRV_MMIO_V1    ? "mmio v1"
				      : "mmio v2";
}

/* Host monotonic seconds (the workload's timing). */
static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void inproc_workload(struct machine *m, struct inproc_io *c, const struct inproc_opts *o,
		     struct inproc_result *res)
{
	struct gdrv_pci_info pci[MACHINE_PCI_SLOTS];
	struct gdrv_io io;
	struct sess s = { 0 };
	unsigned npci, variant = 0;

	inproc_gdrv_io(&io, c);
	s.m = m;
	s.c = c;
	s.io = &io;
	s.requests = o && o->requests ? o->requests : IP_DEFAULT_REQUESTS;
	s.gd = calloc(1, sizeof(*s.gd));
	if (!s.gd) {
		res->failed++;
		snprintf(res->failure, sizeof res->failure, "out of memory");
		return;
	}
	npci = gdrv_pci_scan(&io, pci, MACHINE_PCI_SLOTS);
	for (unsigned i = 0; i < m->ndevs; i++) {
		const struct gdrv_pci_info *p;
		enum gdrv_transport ifs[2];
		unsigned nif = gdrv_machine_ifaces(m, i, pci, npci, ifs, &p);

		for (unsigned k = 0; k < nif; k++) {
			s.dev = i;
			s.why[0] = '\0';
			s.mem.next = IP_MEM_BASE;
			s.mem.end = RS_MIN(m->mem_size, MACHINE_RAM_LOW_MAX);
			res->sessions++;
			if (session(&s, p, ifs[k], variant++) < 0) {
				if (!res->failed++)
					snprintf(res->failure, sizeof res->failure,
						 "device %u (%.15s) over %s: %.140s", i,
						 m->devs[i]->name, iface_name(ifs[k]), s.why);
			}
			if (c->r) {
				if (o && o->checkpoints)
					rec_checkpoint(c->r);
				(void)rec_tick(c->r, NULL);
			}
		}
	}
	if (c->r)
		rec_checkpoint(c->r);
	free(s.gd);
}

int inproc_run(const struct inproc_opts *o, const char *path, struct inproc_result *res,
	       char *err, size_t errlen)
{
	static const struct inproc_opts dflt;
	struct trace_header h = { 0 };
	struct trace_writer *w = NULL;
	struct trace_error terr;
	struct inproc_io c = { 0 };
	struct machine *m = NULL;
	char spec[1024];
	double t0;
	int r;

	memset(res, 0, sizeof(*res));
	if (!o)
		o = &dflt;
	if (o->spec)
		snprintf(spec, sizeof spec, "%s", o->spec);
	else
		inproc_default_spec(spec, sizeof spec);
	if (o->no_record) {
		r = rs_machine_new(spec, &m, err, errlen);
		if (r < 0)
			return r;
	} else {
		r = rec_machine_new(spec, NULL, "inproc", &m, &h, err, errlen);
		if (r < 0)
			return r;
		w = trace_writer_open(path, &h, &terr);
		if (!w) {
			snprintf(err, errlen, "%s", terr.msg);
			rec_header_release(&h);
			rs_machine_free(m);
			return -EIO;
		}
		c.r = recorder_new(m, w);
		if (!c.r) {
			snprintf(err, errlen, "out of memory");
			trace_writer_abort(w);
			rec_header_release(&h);
			rs_machine_free(m);
			return -ENOMEM;
		}
	}
	c.m = m;
	t0 = now_s();
	inproc_workload(m, &c, o, res);
	res->seconds = now_s() - t0;
	res->accesses = c.accesses;
	r = 0;
	if (c.r) {
		if (rec_tick(c.r, &terr) < 0) {
			snprintf(err, errlen, "recording failed: %s", terr.msg);
			r = -EIO;
		}
		res->events = recorder_free(c.r);
		if (r == 0 && trace_writer_close(w, &terr) < 0) {
			snprintf(err, errlen, "%s", terr.msg);
			r = -EIO;
		} else if (r < 0) {
			trace_writer_abort(w);
		}
	}
	rec_header_release(&h);
	rs_machine_free(m);
	return r;
}
