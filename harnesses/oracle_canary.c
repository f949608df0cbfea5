/*
 * ringside — the canary requests of the reset oracle (oracle_reset.c,
 * docs/oracles.md): after every input, once the machine is reset, the
 * reference driver initialises each device the input touched and sends it
 * one well-formed request; a device that cannot complete it was left
 * wedged by the input, which is a bug however the input misbehaved.
 *
 * To add a device: one entry in fuzz_canaries[] (struct fuzz_canary in
 * oracle.h). Wire formats come from the virtio spec sections cited.
 */
#include <string.h>

#include "oracle.h"
#include "ringside/balloon.h"
#include "ringside/blk.h"
#include "ringside/vmmci.h"

/* ---- per-device pieces -------------------------------------------------------------- */

/* echo (ringside/echo.h): the writable part is the readable part. */
static const char *echo_check(const uint8_t *out, const uint8_t *in, uint32_t used)
{
	return memcmp(out, in, used) ? "the echoed bytes differ from the request" : NULL;
}

/* blk (virtio-v1.2 5.2.6): the status byte ends the writable part. */
static const char *blk_check(const uint8_t *out, const uint8_t *in, uint32_t used)
{
	return in[512] == VIRTIO_BLK_S_OK ? NULL : "status is not VIRTIO_BLK_S_OK";
}

/* net (virtio-v1.2 5.1.6): virtio_net_hdr is 12 bytes with VERSION_1 or
 * MRG_RXBUF, else 10 (legacy); then a minimal Ethernet frame. */
static void net_prepare(uint64_t features, uint8_t *out, uint32_t *out_len)
{
	uint32_t hdr = features & (VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(15)) ? 12 : 10;

	memset(out, 0, hdr + 60);
	memset(out + hdr, 0xff, 6);  /* broadcast destination */
	out[hdr + 6] = 0x02;         /* locally administered source */
	out[hdr + 11] = 0x01;
	out[hdr + 12] = 0x08;        /* EtherType IPv4 */
	*out_len = hdr + 60;
}

/* scsi (virtio-v1.2 5.6.6.1): virtio_scsi_cmd_resp {le32 sense_len, le32
 * residual, le16 status_qualifier, u8 status, u8 response, sense[96]}. */
static const char *scsi_check(const uint8_t *out, const uint8_t *in, uint32_t used)
{
	if (in[11] != 0)
		return "response is not VIRTIO_SCSI_S_OK";
	if (in[10] != 0)
		return "SCSI status is not GOOD";
	return NULL;
}

/* ---- the table ---------------------------------------------------------------------- */

const struct fuzz_canary fuzz_canaries[] = {
	{
		.device = "echo",
		.what = "echo of 16 bytes on q0",
		.nqueues = 1,
		.out = "ringside canary!",
		.out_len = 16,
		.in_len = 16,
		.used_min = 16,
		.used_max = 16,
		.check = echo_check,
	},
	{
		/* the oracles' broken device is an echo device; its content may
		 * differ by transport (bug=transport-diff), so only lengths */
		.device = "test-broken",
		.what = "echo of 16 bytes on q0",
		.nqueues = 1,
		.out = "ringside canary!",
		.out_len = 16,
		.in_len = 16,
		.used_min = 16,
		.used_max = 16,
	},
	{
		.device = "rng",
		.what = "read of 16 bytes of entropy",
		.nqueues = 1,
		.in_len = 16,
		.used_min = 1,
		.used_max = 16,
	},
	{
		/* VIRTIO_BLK_T_IN of sector 0: header, 512 data bytes, status */
		.device = "blk",
		.what = "read of sector 0",
		.nqueues = 1,
		.out = { VIRTIO_BLK_T_IN },
		.out_len = VIRTIO_BLK_REQ_HDR_SIZE,
		.in_len = 513,
		.used_min = 513,
		.used_max = 513,
		.check = blk_check,
	},
	{
		/* port 0's transmitq without MULTIPORT (virtio-v1.2 5.3.2) */
		.device = "console",
		.what = "output of one line on port 0",
		.nqueues = 2,
		.queue = 1,
		.out = "canary\n",
		.out_len = 7,
		.used_min = 0,
		.used_max = 0,
	},
	{
		/* transmitq1 (virtio-v1.2 5.1.2) */
		.device = "net",
		.what = "transmit of one broadcast frame",
		.nqueues = 2,
		.queue = 1,
		.prepare = net_prepare,
		.used_min = 0,
		.used_max = 0,
	},
	{
		/* inflateq with one PFN, page 16 (64 KiB: RAM the harness does not
		 * use for rings or buffers) */
		.device = "balloon",
		.what = "inflate of one page",
		.nqueues = 1,
		.out = { 16, 0, 0, 0 },
		.out_len = 4,
		.used_min = 0,
		.used_max = 0,
	},
	{
		/* request queue: INQUIRY (SPC 0x12, 36 bytes) of target 0 LUN 0,
		 * cdb_size 32 */
		.device = "scsi",
		.what = "INQUIRY of target 0 LUN 0",
		.nqueues = 3,
		.queue = 2,
		.out = { 1, 0, 0x40, 0, [19] = 0x12, [23] = 36 },
		.out_len = 51,
		.in_len = 108 + 36,
		.used_min = 108 + 36,
		.used_max = 108 + 36,
		.check = scsi_check,
	},
	{
		/* no queues: after reset no command is pending (vmmci.h) */
		.device = "vmmci",
		.what = "read of the command register",
		.cfg_off = VMMCI_CFG_COMMAND,
		.cfg_size = 4,
		.cfg_value = VMMCI_NONE,
	},
};

const unsigned fuzz_canaries_len = RS_ARRAY_SIZE(fuzz_canaries);

const struct fuzz_canary *fuzz_canary_find(const char *device)
{
	for (unsigned i = 0; i < fuzz_canaries_len; i++)
		if (strcmp(fuzz_canaries[i].device, device) == 0)
			return &fuzz_canaries[i];
	return NULL;
}

/* ---- running one -------------------------------------------------------------------- */

#define CANARY_TOKEN 0xca4a27ull
#define CANARY_QSIZE 4 /* small rings: the driver zeroes them */
#define CANARY_ROUNDS 4

/* Send the request of c on g's queue and check its completion. */
static int canary_request(struct fuzz_machine *fm, const struct fuzz_canary *c,
			  struct gdrv_dev *g, bool strict, char *why, size_t len)
{
	struct gm *gm = &fm->m->gm;
	struct gdrv_vq *vq = &g->vq[c->queue];
	uint8_t out[CANARY_MAX_OUT], in[CANARY_MAX_IN];
	uint32_t out_len = c->out_len, used = 0;
	uint64_t token = 0;
	struct gdrv_buf bufs[2];
	unsigned n = 0;
	int r = 0;

	memcpy(out, c->out, sizeof(out));
	if (c->prepare)
		c->prepare(g->features, out, &out_len);
	memset(in, CANARY_FILL, sizeof(in));
	/* buffers at the start of the harness's buffer window */
	if (out_len) {
		bufs[n++] = (struct gdrv_buf){ fm->bufs.lo, out_len };
		(void)gm_guest_write(gm, fm->bufs.lo, out, out_len);
	}
	if (c->in_len) {
		bufs[n++] = (struct gdrv_buf){ fm->bufs.lo + 4096, c->in_len };
		(void)gm_guest_write(gm, fm->bufs.lo + 4096, in, c->in_len);
	}
	if (gdrv_submit(vq, bufs, out_len ? 1 : 0, c->in_len ? 1 : 0, CANARY_TOKEN, false) < 0) {
		snprintf(why, len, "the driver could not make the request available");
		return -1;
	}
	/* Bounded: a few rounds of kick, host events and a clock step for a
	 * device that completes from its backend's side. */
	for (unsigned i = 0; i < CANARY_ROUNDS && r == 0; i++) {
		(void)gdrv_kick(vq);
		r = gdrv_get_used(vq, &token, &used);
		if (r == 0) {
			(void)rs_machine_poll_events(fm->m, FUZZ_WORLD_EVENTS);
			fuzz_world_advance(fm->world, 1000000);
			r = gdrv_get_used(vq, &token, &used);
		}
	}
	if (r < 0) {
		snprintf(why, len, "the device broke the used ring of q%u", c->queue);
		return -1;
	}
	if (r == 0) {
		snprintf(why, len, "no completion on q%u", c->queue);
		return -1;
	}
	if (token != CANARY_TOKEN) {
		snprintf(why, len, "q%u completed token 0x%llx, not the request's", c->queue,
			 (unsigned long long)token);
		return -1;
	}
	if (strict ? used < c->used_min || used > c->used_max : used > c->in_len) {
		snprintf(why, len, "used length %u outside [%u, %u]", used,
			 strict ? c->used_min : 0, strict ? c->used_max : c->in_len);
		return -1;
	}
	if (strict && c->check) {
		const char *bad;

		(void)gm_guest_read(gm, fm->bufs.lo + 4096, in, c->in_len);
		if ((bad = c->check(out, in, used))) {
			snprintf(why, len, "%s", bad);
			return -1;
		}
	}
	return 0;
}

int fuzz_canary_run(struct fuzz_machine *fm, struct fuzz_dev *fd, struct gdrv_dev *g,
		    bool strict, char *why, size_t len)
{
	return fuzz_canary_exec(fuzz_canary_find(fd->vd->ops->name), fm, fd, g, strict, why, len);
}

int fuzz_canary_exec(const struct fuzz_canary *c, struct fuzz_machine *fm, struct fuzz_dev *fd,
		     struct gdrv_dev *g, bool strict, char *why, size_t len)
{
	unsigned nq = c ? RS_MIN(c->nqueues, (unsigned)GDRV_MAX_QUEUES) : 0;
	uint8_t status;

	if (!fd->found) {
		snprintf(why, len, "the driver cannot open it");
		return 0; /* nothing to drive it with: not the device's fault */
	}
	/* a fresh driver, as the executor makes one (exec.c: drv()) */
	memcpy(g, &fd->tmpl, offsetof(struct gdrv_dev, vq));
	g->io = &fm->io;
	g->mem = &fm->mem;
	for (unsigned q = 0; q < GDRV_MAX_QUEUES; q++)
		g->vq[q].num = 0;
	if (gdrv_init(g, c ? c->features : 0) < 0) {
		snprintf(why, len, "driver init failed (status 0x%02x)", gdrv_get_status(g));
		return -1;
	}
	for (unsigned q = 0; q < nq; q++) {
		if (gdrv_setup_vq(g, q, CANARY_QSIZE) < 0) {
			snprintf(why, len, "setting up q%u failed (status 0x%02x)", q,
				 gdrv_get_status(g));
			return -1;
		}
	}
	gdrv_driver_ok(g);
	status = gdrv_get_status(g);
	if (!(status & VIRTIO_STATUS_DRIVER_OK) ||
	    (status & (VIRTIO_STATUS_NEEDS_RESET | VIRTIO_STATUS_FAILED))) {
		snprintf(why, len, "status 0x%02x after DRIVER_OK", status);
		return -1;
	}
	if (strict && c && c->cfg_size) {
		uint64_t v = gdrv_config_read(g, c->cfg_off, c->cfg_size);

		if (v != c->cfg_value) {
			snprintf(why, len, "config offset %u reads 0x%llx, not 0x%llx", c->cfg_off,
				 (unsigned long long)v, (unsigned long long)c->cfg_value);
			return -1;
		}
	}
	if (c && nq > c->queue && canary_request(fm, c, g, strict, why, len) < 0)
		return -1;
	status = gdrv_get_status(g);
	if (status & VIRTIO_STATUS_NEEDS_RESET) {
		snprintf(why, len, "the device set DEVICE_NEEDS_RESET (status 0x%02x)", status);
		return -1;
	}
	return 0;
}
