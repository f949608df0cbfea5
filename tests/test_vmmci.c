/*
 * ringside tests — "vmmci", OpenBSD's VMM control interface
 * (devices/vmmci/vmmci.c), driven by the reference driver the way
 * OpenBSD's vmmci(4) drives vmd's device: PCI IDs from conf1, features,
 * the time registers served from a deterministic test world, host-initiated
 * shutdown / reboot / RTC sync with the guest's acknowledgement and its
 * timeouts in virtual time (the test world's MONOTONIC clock is moved by
 * hand), the guest's own shutdown notice, bad command writes, reset, options
 * and every transport.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ringside/guest_machine.h"
#include "ringside/ringside.h"
#include "ringside/virtio.h"
#include "ringside/vmmci.h"

#define F(b) VIRTIO_BIT(b)
#define F_VMMCI (F(VMMCI_F_TIMESYNC) | F(VMMCI_F_ACK) | F(VMMCI_F_SYNCRTC))
#define DRV_MEM_BASE 0x100000ull
#define DRV_MEM_SIZE (1ull << 20)
#define MS 1000000ull
#define SEC 1000000000ull
#define REALTIME0 1700000000123456789ull /* 2023-11-14T22:13:20.123456789Z */

/* ---- a test world: hand-moved clocks, the live world's event queue ---------------------- */

struct tw {
	struct world w;
	struct world *events;      /* a live world, for post / next_event only */
	uint64_t mono, real;
	unsigned mono_reads, real_reads;
};

static int tw_entropy(struct world *w, unsigned dev, void *buf, size_t len)
{
	memset(buf, 0, len);
	return 0;
}

static uint64_t tw_clock(struct world *w, enum world_clock c)
{
	struct tw *t = w->impl;

	if (c == WORLD_CLOCK_MONOTONIC) {
		t->mono_reads++;
		return t->mono;
	}
	t->real_reads++;
	return t->real;
}

static int tw_next(struct world *w, struct world_event *ev)
{
	struct tw *t = w->impl;

	return world_next_event(t->events, ev);
}

static int tw_post(struct world *w, const struct world_event *ev)
{
	struct tw *t = w->impl;

	return world_post(t->events, ev);
}

static void tw_destroy(struct world *w)
{
	struct tw *t = w->impl;

	world_destroy(t->events);
	free(t);
}

static const struct world_ops tw_ops = {
	.name = "vmmci-test",
	.entropy = tw_entropy,
	.clock_ns = tw_clock,
	.next_event = tw_next,
	.post = tw_post,
	.destroy = tw_destroy,
};

static struct tw *tw_new(void)
{
	struct tw *t = calloc(1, sizeof *t);

	t->w.ops = &tw_ops;
	t->w.impl = t;
	t->events = world_live_new();
	t->real = REALTIME0;
	t->mono = 5 * SEC;
	return t;
}

/* ---- environment ---------------------------------------------------------------------------- */

struct env {
	struct machine *m;
	struct tw *t;
	struct gdrv_io io;
	struct gdrv_mem mem;
	struct gdrv_dev *d;
	struct vdev *dev;
	unsigned gsi;
	uint64_t hash0;  /* state hash at creation */
};

static bool env_open(struct env *e, const char *spec, bool use_legacy)
{
	char err[256];
	struct machine_devinfo *di;

	memset(e, 0, sizeof *e);
	e->t = tw_new();
	if (rs_machine_new_world(spec, &e->t->w, &e->m, err, sizeof err) < 0) {
		fprintf(stderr, "rs_machine_new_world(%s): %s\n", spec, err);
		CHECK(!"machine");
		tw_destroy(&e->t->w);
		return false;
	}
	e->dev = e->m->devs[0];
	e->hash0 = vdev_state_hash(e->dev);
	di = &e->m->devinfo[0];
	e->gsi = di->gsi;
	gdrv_machine_io(&e->io, e->m);
	e->mem.next = DRV_MEM_BASE;
	e->mem.end = DRV_MEM_BASE + DRV_MEM_SIZE;
	e->d = calloc(1, sizeof *e->d);
	if (di->transport == MSPEC_MMIO || di->transport == MSPEC_MMIO_LEGACY) {
		CHECK_EQ(gdrv_open_mmio(e->d, &e->io, &e->mem, di->base), 0);
	} else {
		struct gdrv_pci_info info[2];
		unsigned slot = (unsigned)di->slot, n;
		bool modern_only = di->transport == MSPEC_PCI_MODERN;

		/* OpenBSD's identity, read straight from conf1 */
		CHECK_EQ(gdrv_pci_cfg_read(&e->io, slot, 0x00, 2), VMMCI_PCI_VENDOR);
		CHECK_EQ(gdrv_pci_cfg_read(&e->io, slot, 0x02, 2), VMMCI_PCI_DEVICE);
		CHECK_EQ(gdrv_pci_cfg_read(&e->io, slot, 0x08, 1), modern_only ? 1 : 0);
		CHECK_EQ(gdrv_pci_cfg_read(&e->io, slot, 0x0a, 2), VMMCI_PCI_CLASS);
		CHECK_EQ(gdrv_pci_cfg_read(&e->io, slot, 0x2e, 2), VMMCI_VIRTIO_ID);
		/* the reference driver's scan knows OpenBSD's IDs and takes the
		 * virtio type from the subsystem ID, as OpenBSD's virtio_pci */
		n = gdrv_pci_scan(&e->io, info, 2);
		CHECK_EQ(n, 1);
		if (n != 1)
			return false;
		CHECK_EQ(info[0].slot, slot);
		CHECK_EQ(info[0].virtio_id, VMMCI_VIRTIO_ID);
		CHECK_EQ(info[0].vendor, VMMCI_PCI_VENDOR);
		CHECK_EQ(info[0].device, VMMCI_PCI_DEVICE);
		if (modern_only)
			CHECK(!info[0].has_legacy);
		CHECK_EQ(gdrv_open_pci(e->d, &e->io, &e->mem, &info[0], use_legacy), 0);
	}
	CHECK_EQ(e->d->device_id, VMMCI_VIRTIO_ID);
	return true;
}

/* Driver up with the wanted device features (as vmmci(4): all three). */
static void env_up(struct env *e, uint64_t want)
{
	CHECK_EQ(gdrv_init(e->d, want), 0);
	gdrv_driver_ok(e->d);
	CHECK(gdrv_get_status(e->d) & VIRTIO_STATUS_DRIVER_OK);
}

static void env_close(struct env *e)
{
	rs_machine_free(e->m);
	free(e->d);
	memset(e, 0, sizeof *e);
}

/* Post a host event and deliver it. */
static void host(struct env *e, enum world_event_kind kind, uint64_t arg)
{
	struct world_event ev = { .kind = kind, .dev = 0, .arg = arg };

	CHECK_EQ(world_post(e->m->world, &ev), 0);
	CHECK_EQ(rs_machine_poll_events(e->m, 8), 1);
}

static uint32_t cmd_reg(struct env *e)
{
	return (uint32_t)gdrv_config_read(e->d, VMMCI_CFG_COMMAND, 4);
}

static void ack(struct env *e, uint32_t cmd)
{
	gdrv_config_write(e->d, VMMCI_CFG_COMMAND, 4, cmd);
}

static struct vmmci_status status(struct env *e)
{
	struct vmmci_status st;

	CHECK_EQ(vmmci_status(e->dev, &st), 0);
	return st;
}

static unsigned diags(struct env *e, enum diag_code c)
{
	return diag_count(&e->dev->log, c);
}

/* ---- tests ---------------------------------------------------------------------------------- */

/* IDs (checked in env_open), features, no queues, config layout. */
static void test_identity_features(void)
{
	struct env e;

	if (!env_open(&e, "mem=16M pci-legacy:vmmci", true))
		return;
	CHECK_EQ(gdrv_device_features(e.d) & 0xffffff, F_VMMCI);
	env_up(&e, F_VMMCI);
	CHECK_EQ(e.d->features & F_VMMCI, F_VMMCI);
	CHECK_EQ(gdrv_queue_max(e.d, 0), 0); /* vmd: no virtqueue */
	CHECK_EQ(e.dev->nqueues, 0);
	CHECK_EQ(cmd_reg(&e), VMMCI_NONE);
	CHECK_EQ(vmmci_state(e.dev), VMMCI_STATE_IDLE);
	CHECK(strcmp(e.dev->ops->name, "vmmci") == 0);
	CHECK_EQ(e.dev->log.total, 0);
	env_close(&e);
}

/* Time registers: wall clock of the world, taken when offset 4 is read. */
static void test_time_registers(void)
{
	struct env e;
	unsigned reads;

	if (!env_open(&e, "mem=16M pci-legacy:vmmci", true))
		return;
	env_up(&e, F_VMMCI);
	reads = e.t->real_reads;
	CHECK_EQ(gdrv_config_read(e.d, VMMCI_CFG_TIME_SEC, 4), (uint32_t)(REALTIME0 / SEC));
	CHECK_EQ(e.t->real_reads, reads + 1);
	CHECK_EQ(gdrv_config_read(e.d, VMMCI_CFG_TIME_SEC + 4, 4), 0);
	CHECK_EQ(gdrv_config_read(e.d, VMMCI_CFG_TIME_USEC, 4), 123456);
	CHECK_EQ(gdrv_config_read(e.d, VMMCI_CFG_TIME_USEC + 4, 4), 0);
	CHECK_EQ(e.t->real_reads, reads + 1); /* the halves after offset 4 are latched */

	/* the clock moves: nothing changes until offset 4 is read again */
	e.t->real = (uint64_t)0x123456789ull * SEC + 999999999ull;
	CHECK_EQ(gdrv_config_read(e.d, VMMCI_CFG_TIME_USEC, 4), 123456);
	CHECK_EQ(gdrv_config_read(e.d, VMMCI_CFG_TIME_SEC, 4), 0x23456789u);
	CHECK_EQ(gdrv_config_read(e.d, VMMCI_CFG_TIME_SEC + 4, 4), 0x1);
	CHECK_EQ(gdrv_config_read(e.d, VMMCI_CFG_TIME_USEC, 4), 999999);

	/* writes to the time registers are dropped; a command read reads no clock */
	reads = e.t->real_reads;
	gdrv_config_write(e.d, VMMCI_CFG_TIME_SEC, 4, 7);
	CHECK_EQ(diags(&e, DIAG_CONFIG_READONLY), 1);
	CHECK_EQ(cmd_reg(&e), 0);
	CHECK_EQ(e.t->real_reads, reads);
	CHECK_EQ(gdrv_config_read(e.d, VMMCI_CFG_TIME_SEC, 4), 0x23456789u);
	/* a 2-byte read of the command register is a width violation, still served */
	CHECK_EQ(gdrv_config_read(e.d, VMMCI_CFG_COMMAND, 2), 0);
	CHECK_EQ(diags(&e, DIAG_CONFIG_WIDTH), 1);
	/* an idle device never reads the MONOTONIC clock on config access */
	CHECK_EQ(e.t->mono_reads, 0);
	env_close(&e);
}

/* Host shutdown -> config interrupt -> guest ack -> ACKED -> grace runs out. */
static void test_shutdown_ack(void)
{
	struct env e;
	struct vmmci_status st;
	uint64_t raised;

	if (!env_open(&e, "mem=16M pci-legacy:vmmci", true))
		return;
	env_up(&e, F_VMMCI);
	raised = e.m->intx_raised;
	host(&e, WEV_VMMCI, VMMCI_SHUTDOWN);
	CHECK_EQ(e.m->intx_raised, raised + 1);
	CHECK(e.m->intx_level & (1u << e.gsi));
	CHECK_EQ(gdrv_ack_isr(e.d), VIRTIO_ISR_CONFIG);
	CHECK(!(e.m->intx_level & (1u << e.gsi)));
	st = status(&e);
	CHECK_EQ(st.state, VMMCI_STATE_REQUESTED);
	CHECK_EQ(st.cmd, VMMCI_SHUTDOWN);
	CHECK_EQ(st.since_ns, 5 * SEC);
	CHECK_EQ(st.deadline_ns, 5 * SEC + VMMCI_DEFAULT_TIMEOUT_MS * MS);
	CHECK_EQ(st.requests, 1);

	/* vmmci(4): read the command on the config interrupt, write it back */
	e.t->mono += 2 * SEC;
	CHECK_EQ(cmd_reg(&e), VMMCI_SHUTDOWN);
	ack(&e, VMMCI_SHUTDOWN);
	st = status(&e);
	CHECK_EQ(st.state, VMMCI_STATE_ACKED);
	CHECK_EQ(st.acks, 1);
	CHECK_EQ(st.since_ns, 7 * SEC);
	CHECK_EQ(st.deadline_ns, 7 * SEC + VMMCI_DEFAULT_GRACE_MS * MS);
	CHECK(!st.guest_initiated);
	CHECK_EQ(cmd_reg(&e), VMMCI_SHUTDOWN); /* the register keeps the host's command */
	/* a repeated acknowledgement changes nothing */
	e.t->mono += SEC;
	ack(&e, VMMCI_SHUTDOWN);
	CHECK_EQ(status(&e).deadline_ns, 7 * SEC + VMMCI_DEFAULT_GRACE_MS * MS);
	CHECK_EQ(status(&e).acks, 1);

	/* the guest takes too long to go down: vmmci_poll notices */
	e.t->mono = 7 * SEC + VMMCI_DEFAULT_GRACE_MS * MS - 1;
	CHECK_EQ(vmmci_poll(e.dev), VMMCI_STATE_ACKED);
	e.t->mono++;
	CHECK_EQ(vmmci_poll(e.dev), VMMCI_STATE_TIMED_OUT);
	st = status(&e);
	CHECK_EQ(st.timeouts, 1);
	CHECK_EQ(st.since_ns, 7 * SEC + VMMCI_DEFAULT_GRACE_MS * MS);
	CHECK_EQ(st.cmd, VMMCI_SHUTDOWN);
	CHECK_EQ(e.dev->log.total, 0);
	env_close(&e);
}

/* No acknowledgement: TIMED_OUT once the virtual deadline passes, noticed by
 * a config access; a late ack is counted and changes nothing. */
static void test_shutdown_timeout(void)
{
	struct env e;
	struct vmmci_status st;
	unsigned reads;

	if (!env_open(&e, "mem=16M pci-legacy:vmmci,timeout=500", true))
		return;
	env_up(&e, F_VMMCI);
	host(&e, WEV_VMMCI, VMMCI_SHUTDOWN);
	CHECK_EQ(status(&e).deadline_ns, 5 * SEC + 500 * MS);
	e.t->mono = 5 * SEC + 499 * MS;
	CHECK_EQ(cmd_reg(&e), VMMCI_SHUTDOWN);
	CHECK_EQ(vmmci_state(e.dev), VMMCI_STATE_REQUESTED);
	e.t->mono = 9 * SEC;
	reads = e.t->mono_reads;
	CHECK_EQ(vmmci_state(e.dev), VMMCI_STATE_REQUESTED); /* a pure query */
	CHECK_EQ(e.t->mono_reads, reads);
	CHECK_EQ(cmd_reg(&e), VMMCI_SHUTDOWN);
	CHECK_EQ(e.t->mono_reads, reads + 1);
	st = status(&e);
	CHECK_EQ(st.state, VMMCI_STATE_TIMED_OUT);
	CHECK_EQ(st.since_ns, 5 * SEC + 500 * MS);
	CHECK_EQ(st.timeouts, 1);
	/* no more clock reads once nothing is pending */
	reads = e.t->mono_reads;
	CHECK_EQ(cmd_reg(&e), VMMCI_SHUTDOWN);
	CHECK_EQ(vmmci_poll(e.dev), VMMCI_STATE_TIMED_OUT);
	CHECK_EQ(e.t->mono_reads, reads);
	ack(&e, VMMCI_SHUTDOWN);
	st = status(&e);
	CHECK_EQ(st.state, VMMCI_STATE_TIMED_OUT);
	CHECK_EQ(st.late_acks, 1);
	CHECK_EQ(st.acks, 0);
	/* the same request again changes nothing (vmd ignores a repeated command) */
	host(&e, WEV_VMMCI, VMMCI_SHUTDOWN);
	CHECK_EQ(status(&e).skipped, 1);
	CHECK_EQ(vmmci_state(e.dev), VMMCI_STATE_TIMED_OUT);
	CHECK_EQ(e.dev->log.total, 0);
	env_close(&e);
}

/* Reboot: a SHUTDOWN notice meanwhile changes nothing, the REBOOT ack
 * counts; a tick (WEV_HOST) notices the grace deadline. */
static void test_reboot(void)
{
	struct env e;
	struct vmmci_status st;

	if (!env_open(&e, "mem=16M pci-legacy:vmmci,grace=2000", true))
		return;
	env_up(&e, F_VMMCI);
	host(&e, WEV_VMMCI, VMMCI_REBOOT);
	CHECK_EQ(gdrv_ack_isr(e.d), VIRTIO_ISR_CONFIG);
	CHECK_EQ(cmd_reg(&e), VMMCI_REBOOT);
	ack(&e, VMMCI_SHUTDOWN); /* the guest's own power-down notice: no change */
	CHECK_EQ(vmmci_state(e.dev), VMMCI_STATE_REQUESTED);
	CHECK_EQ(status(&e).cmd, VMMCI_REBOOT);
	e.t->mono += SEC;
	ack(&e, VMMCI_REBOOT);
	st = status(&e);
	CHECK_EQ(st.state, VMMCI_STATE_ACKED);
	CHECK_EQ(st.deadline_ns, 6 * SEC + 2 * SEC);
	ack(&e, VMMCI_SHUTDOWN); /* going down: still nothing */
	CHECK_EQ(vmmci_state(e.dev), VMMCI_STATE_ACKED);
	e.t->mono += 2 * SEC;
	host(&e, WEV_HOST, VMMCI_HOST_TICK);
	CHECK_EQ(vmmci_state(e.dev), VMMCI_STATE_TIMED_OUT);
	CHECK_EQ(status(&e).cmd, VMMCI_REBOOT);
	CHECK_EQ(diags(&e, DIAG_VMMCI_CMD), 0);
	env_close(&e);
}

/* A new command replaces the pending one (new deadline, new interrupt);
 * a repeated one raises nothing. */
static void test_replace_and_repeat(void)
{
	struct env e;
	uint64_t raised;

	if (!env_open(&e, "mem=16M pci-legacy:vmmci", true))
		return;
	env_up(&e, F_VMMCI);
	host(&e, WEV_VMMCI, VMMCI_SHUTDOWN);
	gdrv_ack_isr(e.d);
	raised = e.m->intx_raised;
	host(&e, WEV_VMMCI, VMMCI_SHUTDOWN);
	CHECK_EQ(e.m->intx_raised, raised);
	CHECK_EQ(status(&e).skipped, 1);
	e.t->mono += SEC;
	host(&e, WEV_VMMCI, VMMCI_REBOOT);
	CHECK_EQ(e.m->intx_raised, raised + 1);
	CHECK_EQ(cmd_reg(&e), VMMCI_REBOOT);
	CHECK_EQ(status(&e).deadline_ns, 6 * SEC + VMMCI_DEFAULT_TIMEOUT_MS * MS);
	CHECK_EQ(status(&e).requests, 2);
	/* an RTC sync does not pre-empt a pending reboot */
	host(&e, WEV_VMMCI, VMMCI_SYNCRTC);
	CHECK_EQ(cmd_reg(&e), VMMCI_REBOOT);
	CHECK_EQ(status(&e).skipped, 2);
	/* unknown host commands and other event kinds are ignored */
	host(&e, WEV_VMMCI, 9);
	host(&e, WEV_VMMCI, 1ull << 40);
	host(&e, WEV_BALLOON_TARGET, 5);
	CHECK_EQ(status(&e).skipped, 5);
	CHECK_EQ(cmd_reg(&e), VMMCI_REBOOT);
	/* NONE is a tick */
	host(&e, WEV_VMMCI, VMMCI_NONE);
	CHECK_EQ(vmmci_state(e.dev), VMMCI_STATE_REQUESTED);
	CHECK_EQ(e.dev->log.total, 0);
	env_close(&e);
}

/* RTC sync: only with SYNCRTC negotiated, no deadline, acked back to idle. */
static void test_syncrtc(void)
{
	struct env e;
	struct vmmci_status st;

	if (!env_open(&e, "mem=16M pci-legacy:vmmci", true))
		return;
	env_up(&e, F(VMMCI_F_TIMESYNC) | F(VMMCI_F_ACK));
	host(&e, WEV_VMMCI, VMMCI_SYNCRTC);
	CHECK_EQ(status(&e).skipped, 1);
	CHECK_EQ(cmd_reg(&e), VMMCI_NONE);
	CHECK_EQ(gdrv_ack_isr(e.d), 0);

	gdrv_reset(e.d);
	env_up(&e, F_VMMCI);
	host(&e, WEV_VMMCI, VMMCI_SYNCRTC);
	CHECK_EQ(gdrv_ack_isr(e.d), VIRTIO_ISR_CONFIG);
	st = status(&e);
	CHECK_EQ(st.state, VMMCI_STATE_REQUESTED);
	CHECK_EQ(st.deadline_ns, 0);
	CHECK_EQ(cmd_reg(&e), VMMCI_SYNCRTC);
	e.t->mono += 3600 * SEC;
	CHECK_EQ(vmmci_poll(e.dev), VMMCI_STATE_REQUESTED); /* never times out */
	host(&e, WEV_VMMCI, VMMCI_SYNCRTC);                /* repeated */
	CHECK_EQ(status(&e).skipped, 2);
	ack(&e, VMMCI_SYNCRTC);
	st = status(&e);
	CHECK_EQ(st.state, VMMCI_STATE_IDLE);
	CHECK_EQ(st.cmd, VMMCI_NONE);
	CHECK_EQ(st.acks, 1);
	CHECK_EQ(cmd_reg(&e), VMMCI_NONE);
	/* a shutdown is then asked as usual */
	host(&e, WEV_VMMCI, VMMCI_SHUTDOWN);
	CHECK_EQ(cmd_reg(&e), VMMCI_SHUTDOWN);
	CHECK_EQ(e.dev->log.total, 0);
	env_close(&e);
}

/* The guest announces its own shutdown (vmmci(4) on DVACT_POWERDOWN). */
static void test_guest_shutdown(void)
{
	struct env e;
	struct vmmci_status st;

	if (!env_open(&e, "mem=16M pci-legacy:vmmci", true))
		return;
	env_up(&e, F_VMMCI);
	ack(&e, VMMCI_SHUTDOWN);
	st = status(&e);
	CHECK_EQ(st.state, VMMCI_STATE_ACKED);
	CHECK(st.guest_initiated);
	CHECK_EQ(st.cmd, VMMCI_SHUTDOWN);
	CHECK_EQ(st.guest_shutdowns, 1);
	CHECK_EQ(st.deadline_ns, 5 * SEC + VMMCI_DEFAULT_TIMEOUT_MS * MS);
	CHECK_EQ(cmd_reg(&e), VMMCI_NONE); /* vmd: the register stays as the host set it */
	ack(&e, VMMCI_SHUTDOWN);           /* a second notice changes nothing */
	CHECK_EQ(status(&e).guest_shutdowns, 1);
	e.t->mono += 3 * SEC;
	CHECK_EQ(vmmci_poll(e.dev), VMMCI_STATE_TIMED_OUT);

	/* an RTC sync pending: the notice still starts a guest shutdown */
	gdrv_reset(e.d);
	env_up(&e, F_VMMCI);
	host(&e, WEV_VMMCI, VMMCI_SYNCRTC);
	ack(&e, VMMCI_SHUTDOWN);
	st = status(&e);
	CHECK_EQ(st.state, VMMCI_STATE_ACKED);
	CHECK(st.guest_initiated);
	CHECK_EQ(cmd_reg(&e), VMMCI_NONE);
	/* the host may still ask for the shutdown itself */
	host(&e, WEV_VMMCI, VMMCI_SHUTDOWN);
	st = status(&e);
	CHECK_EQ(st.state, VMMCI_STATE_REQUESTED);
	CHECK(!st.guest_initiated);
	CHECK_EQ(cmd_reg(&e), VMMCI_SHUTDOWN);
	CHECK_EQ(e.dev->log.total, 0);
	env_close(&e);
}

/* Writes that answer nothing: reported, ignored, and the device goes on. */
static void test_bad_writes(void)
{
	struct env e;

	if (!env_open(&e, "mem=16M pci-legacy:vmmci", true))
		return;
	env_up(&e, F_VMMCI);
	ack(&e, 7);
	ack(&e, 0xffffffffu);
	CHECK_EQ(diags(&e, DIAG_VMMCI_CMD), 2);
	ack(&e, VMMCI_REBOOT);  /* nothing asked */
	ack(&e, VMMCI_SYNCRTC); /* nothing asked */
	CHECK_EQ(diags(&e, DIAG_VMMCI_CMD), 4);
	ack(&e, VMMCI_NONE);    /* harmless */
	CHECK_EQ(diags(&e, DIAG_VMMCI_CMD), 4);
	CHECK_EQ(status(&e).bad_writes, 4);
	CHECK_EQ(vmmci_state(e.dev), VMMCI_STATE_IDLE);
	CHECK_EQ(cmd_reg(&e), VMMCI_NONE);
	/* a shutdown asked: REBOOT and SYNCRTC do not answer it */
	host(&e, WEV_VMMCI, VMMCI_SHUTDOWN);
	ack(&e, VMMCI_REBOOT);
	ack(&e, VMMCI_SYNCRTC);
	CHECK_EQ(diags(&e, DIAG_VMMCI_CMD), 6);
	CHECK_EQ(vmmci_state(e.dev), VMMCI_STATE_REQUESTED);
	CHECK_EQ(cmd_reg(&e), VMMCI_SHUTDOWN);
	/* byte-wise writes: the low byte carries the command, the rest NONE */
	gdrv_config_write(e.d, VMMCI_CFG_COMMAND + 1, 1, 1);
	CHECK_EQ(diags(&e, DIAG_CONFIG_WIDTH), 1);
	CHECK_EQ(diags(&e, DIAG_VMMCI_CMD), 7); /* 0x100 is no command */
	ack(&e, VMMCI_SHUTDOWN);
	CHECK_EQ(vmmci_state(e.dev), VMMCI_STATE_ACKED);
	env_close(&e);
}

/* Requests without a driver: a shutdown cannot be asked (TIMED_OUT at once),
 * an RTC sync is skipped; no interrupt. */
static void test_no_driver(void)
{
	struct env e;
	struct vmmci_status st;

	if (!env_open(&e, "mem=16M pci-legacy:vmmci", true))
		return;
	host(&e, WEV_VMMCI, VMMCI_SHUTDOWN);
	st = status(&e);
	CHECK_EQ(st.state, VMMCI_STATE_TIMED_OUT);
	CHECK_EQ(st.refused, 1);
	CHECK_EQ(st.requests, 0);
	CHECK_EQ(st.since_ns, 5 * SEC);
	CHECK_EQ(e.m->intx_raised, 0);
	host(&e, WEV_VMMCI, VMMCI_SYNCRTC);
	CHECK_EQ(status(&e).skipped, 1);
	/* the driver coming up resets the device: the episode ends */
	env_up(&e, F_VMMCI);
	st = status(&e);
	CHECK_EQ(st.state, VMMCI_STATE_IDLE);
	CHECK_EQ(st.ended_by_reset, 1);
	host(&e, WEV_VMMCI, VMMCI_SHUTDOWN);
	CHECK_EQ(vmmci_state(e.dev), VMMCI_STATE_REQUESTED);
	env_close(&e);
}

/* Reset: command register, latched time and the episode return to power-on
 * (state hash equal to the fresh device's); counters stay. */
static void test_reset(void)
{
	struct env e;
	struct vmmci_status st;

	if (!env_open(&e, "mem=16M pci-legacy:vmmci", true))
		return;
	env_up(&e, F_VMMCI);
	CHECK(gdrv_config_read(e.d, VMMCI_CFG_TIME_SEC, 4) != 0);
	host(&e, WEV_VMMCI, VMMCI_REBOOT);
	ack(&e, VMMCI_REBOOT);
	gdrv_reset(e.d);
	st = status(&e);
	CHECK_EQ(st.state, VMMCI_STATE_IDLE);
	CHECK_EQ(st.cmd, VMMCI_NONE);
	CHECK_EQ(st.deadline_ns, 0);
	CHECK_EQ(st.ended_by_reset, 1);
	CHECK_EQ(st.acks, 1);
	CHECK_EQ(vdev_state_hash(e.dev), e.hash0);
	CHECK_EQ(vdev_config_read(e.dev, VMMCI_CFG_COMMAND, 4), 0);
	/* reset while idle does not count an episode */
	gdrv_reset(e.d);
	CHECK_EQ(status(&e).ended_by_reset, 1);
	env_up(&e, F_VMMCI);
	host(&e, WEV_VMMCI, VMMCI_SHUTDOWN);
	CHECK_EQ(cmd_reg(&e), VMMCI_SHUTDOWN);
	env_close(&e);
}

/* The shutdown sequence over every transport, and the config generation
 * moving on the 1.x interfaces. */
static void test_transports(void)
{
	static const struct {
		const char *spec;
		bool legacy;
	} cases[] = {
		{ "mem=16M pci-legacy:vmmci", true },
		{ "mem=16M pci:vmmci", true },
		{ "mem=16M pci:vmmci", false },
		{ "mem=16M pci-modern:vmmci", false },
		{ "mem=16M pci-modern:vmmci,msix=on", false },
		{ "mem=16M mmio:vmmci", false },
		{ "mem=16M mmio-legacy:vmmci", true },
	};

	for (unsigned i = 0; i < RS_ARRAY_SIZE(cases); i++) {
		struct env e;
		uint32_t gen;

		if (!env_open(&e, cases[i].spec, cases[i].legacy))
			continue;
		env_up(&e, F_VMMCI);
		CHECK_EQ(e.d->features & F_VMMCI, F_VMMCI);
		CHECK_EQ(!!(e.d->features & F(VIRTIO_F_VERSION_1)), !cases[i].legacy);
		CHECK_EQ(gdrv_config_read(e.d, VMMCI_CFG_TIME_USEC, 4), 0); /* not latched yet */
		CHECK_EQ(gdrv_config_read(e.d, VMMCI_CFG_TIME_SEC, 4), (uint32_t)(REALTIME0 / SEC));
		CHECK_EQ(gdrv_config_read(e.d, VMMCI_CFG_TIME_USEC, 4), 123456);
		gen = gdrv_config_generation(e.d);
		host(&e, WEV_VMMCI, VMMCI_SHUTDOWN);
		if (!cases[i].legacy)
			CHECK(gdrv_config_generation(e.d) != gen);
		if (!e.d->msix)
			CHECK_EQ(gdrv_ack_isr(e.d) & VIRTIO_ISR_CONFIG, VIRTIO_ISR_CONFIG);
		CHECK_EQ(cmd_reg(&e), VMMCI_SHUTDOWN);
		ack(&e, VMMCI_SHUTDOWN);
		CHECK_EQ(vmmci_state(e.dev), VMMCI_STATE_ACKED);
		CHECK_EQ(diags(&e, DIAG_VMMCI_CMD), 0);
		env_close(&e);
	}
}

/* Options. */
static void test_options(void)
{
	static const char *bad[] = {
		"pci-legacy:vmmci,timeout=0",
		"pci-legacy:vmmci,timeout=86400001",
		"pci-legacy:vmmci,grace=0",
		"pci-legacy:vmmci,grace=soon",
		"pci-legacy:vmmci,queues=1",
	};
	char err[256];
	struct machine *m;

	for (unsigned i = 0; i < RS_ARRAY_SIZE(bad); i++) {
		CHECK(rs_machine_new(bad[i], &m, err, sizeof err) < 0);
		CHECK(strstr(err, "vmmci") != NULL);
	}
	CHECK(strstr(err, "queues") != NULL);
	CHECK_EQ(rs_machine_new("pci-legacy:vmmci,timeout=1,grace=86400000", &m, err, sizeof err),
		 0);
	rs_machine_free(m);
}

/* The public queries on something that is not a vmmci device, and a vmmci
 * device outside a machine (no world: every clock reads 0). */
static void test_queries_and_bare_device(void)
{
	struct machine *m;
	char err[256];
	struct vmmci_status st;
	struct vdev *d;
	struct gm gm;
	struct world_event ev = { .kind = WEV_VMMCI, .arg = VMMCI_SHUTDOWN };

	CHECK_EQ(rs_machine_new("pci:echo", &m, err, sizeof err), 0);
	CHECK_EQ(vmmci_status(m->devs[0], &st), -EINVAL);
	CHECK_EQ(vmmci_status(NULL, &st), -EINVAL);
	CHECK_EQ(vmmci_state(m->devs[0]), VMMCI_STATE_IDLE);
	CHECK_EQ(vmmci_poll(m->devs[0]), VMMCI_STATE_IDLE);
	rs_machine_free(m);
	CHECK(strcmp(vmmci_state_name(VMMCI_STATE_IDLE), "idle") == 0);
	CHECK(strcmp(vmmci_state_name(VMMCI_STATE_REQUESTED), "requested") == 0);
	CHECK(strcmp(vmmci_state_name(VMMCI_STATE_ACKED), "acked") == 0);
	CHECK(strcmp(vmmci_state_name(VMMCI_STATE_TIMED_OUT), "timed-out") == 0);
	CHECK(strcmp(vmmci_state_name((enum vmmci_state)9), "?") == 0);

	gm_init(&gm);
	CHECK_EQ(gm_add_ram(&gm, 0, 1 << 20, NULL, "ram"), 0);
	CHECK_EQ(vdev_create(rs_device_find("vmmci"), &gm, "vmmci", NULL, &d, err, sizeof err), 0);
	CHECK_EQ(vmmci_status(d, NULL), -EINVAL);
	d->status = VIRTIO_STATUS_DRIVER_OK;
	d->ops->host_event(d, &ev);
	CHECK_EQ(vmmci_status(d, &st), 0);
	CHECK_EQ(st.state, VMMCI_STATE_REQUESTED);
	CHECK_EQ(st.deadline_ns, VMMCI_DEFAULT_TIMEOUT_MS * MS);
	CHECK_EQ(vdev_config_read(d, VMMCI_CFG_TIME_SEC, 4), 0);
	CHECK_EQ(vdev_config_read(d, VMMCI_CFG_COMMAND, 4), VMMCI_SHUTDOWN);
	CHECK_EQ(vdev_save_state(d, NULL, 0), vdev_save_state(d, NULL, 0));
	vdev_destroy(d);
	gm_destroy(&gm);
}

int main(void)
{
	RUN(test_identity_features);
	RUN(test_time_registers);
	RUN(test_shutdown_ack);
	RUN(test_shutdown_timeout);
	RUN(test_reboot);
	RUN(test_replace_and_repeat);
	RUN(test_syncrtc);
	RUN(test_guest_shutdown);
	RUN(test_bad_writes);
	RUN(test_no_driver);
	RUN(test_reset);
	RUN(test_transports);
	RUN(test_options);
	RUN(test_queries_and_bare_device);
	return check_done();
}
