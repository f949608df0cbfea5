/*
 * ringside — "vmmci", OpenBSD's VMM control interface (ringside/vmmci.h,
 * docs/devices/vmmci.md).
 *
 * Facts from OpenBSD: the guest driver (sys/dev/pv/vmmci.c) negotiates
 * TIMESYNC, ACK and SYNCRTC, uses no virtqueue, reads the command register
 * on every config interrupt and, with ACK, writes the command back; on its
 * own power-down it writes SHUTDOWN. vmd (usr.sbin/vmd/virtio.c) refuses a
 * request while DRIVER_OK is clear, ignores a repeated command, arms a short
 * timeout (3 s) for a shutdown or reboot and a long one (120 s) once the
 * guest acknowledged it, sends an RTC sync only to a guest that negotiated
 * SYNCRTC, and takes the time of day when the first time register (offset
 * 4) is read.
 *
 * Here nothing ticks: every deadline is a MONOTONIC time of the device's
 * world, checked whenever the device is touched (config access, host event,
 * vmmci_poll). The clock is read only while a deadline is pending or when a
 * request or acknowledgement needs the time, so an idle device adds no
 * clock inputs to a trace.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ringside/vdev.h"
#include "ringside/vmmci.h"
#include "../devices.h"

#define NS_PER_MS 1000000ull
#define NS_PER_SEC 1000000000ull
#define NS_PER_USEC 1000ull

struct vmmci {
	uint64_t timeout_ns;   /* option timeout=: wait for an acknowledgement */
	uint64_t grace_ns;     /* option grace=: an acknowledged guest goes down */
	uint32_t reg_cmd;      /* the command register as the guest reads it */
	uint64_t time_sec;     /* wall clock latched by a read of offset 4 */
	uint64_t time_usec;
	struct vmmci_status st;
};

/* --- config layout --------------------------------------------------------------------- */

static const struct vdev_cfg_field vmmci_cfg_fields[] = {
	{ VMMCI_CFG_COMMAND, 4, 1 },
	{ VMMCI_CFG_TIME_SEC, 8, 0 },
	{ VMMCI_CFG_TIME_USEC, 8, 0 },
};

/* Our private state, or NULL when d is not a vmmci device. */
static struct vmmci *vmmci_of(const struct vdev *d)
{
	return d && d->ops == &vmmci_ops ? d->priv : NULL;
}

/* Rewrite the whole config space from the device state. */
static void vmmci_fill_config(struct vdev *d)
{
	struct vmmci *v = d->priv;

	rs_st32(d->config + VMMCI_CFG_COMMAND, v->reg_cmd);
	rs_st64(d->config + VMMCI_CFG_TIME_SEC, v->time_sec);
	rs_st64(d->config + VMMCI_CFG_TIME_USEC, v->time_usec);
}

/* --- the episode ------------------------------------------------------------------------ */

static uint64_t vmmci_now(struct vdev *d)
{
	return world_clock_ns(d->world, WORLD_CLOCK_MONOTONIC);
}

/* Enter state s at now with deadline (0: none). */
static void vmmci_enter(struct vmmci *v, enum vmmci_state s, uint64_t now, uint64_t deadline)
{
	v->st.state = s;
	v->st.since_ns = now;
	v->st.deadline_ns = deadline;
}

static bool vmmci_deadline_pending(const struct vmmci *v)
{
	return (v->st.state == VMMCI_STATE_REQUESTED || v->st.state == VMMCI_STATE_ACKED) &&
	       v->st.deadline_ns != 0;
}

/* A deadline that passed by now ends the wait: TIMED_OUT, as of the deadline. */
static void vmmci_expire(struct vmmci *v, uint64_t now)
{
	if (!vmmci_deadline_pending(v) || now < v->st.deadline_ns)
		return;
	v->st.state = VMMCI_STATE_TIMED_OUT;
	v->st.since_ns = v->st.deadline_ns;
	v->st.timeouts++;
}

/* Check the deadline; reads the clock only when one is pending. */
static void vmmci_check(struct vdev *d)
{
	struct vmmci *v = d->priv;

	if (vmmci_deadline_pending(v))
		vmmci_expire(v, vmmci_now(d));
}

/* now + ns, saturating (a deadline never wraps into the past). */
static uint64_t vmmci_after(uint64_t now, uint64_t ns)
{
	return rs_satadd_u64(now, ns);
}

/*
 * A host request (WEV_VMMCI) at now, as vmd's vmmci_ctl: a shutdown or
 * reboot needs a driver (DRIVER_OK; without one nobody can be asked, and
 * vmd stops the VM at once: TIMED_OUT now), repeats of the pending command
 * change nothing, a new one replaces the pending one and raises a config
 * interrupt with the ack deadline armed. An RTC sync goes only to a driver
 * that negotiated SYNCRTC and only when nothing else is pending; it has no
 * deadline. cmd is SHUTDOWN, REBOOT or SYNCRTC.
 */
static void vmmci_request(struct vdev *d, uint64_t cmd, uint64_t now)
{
	struct vmmci *v = d->priv;
	bool driver = (d->status & VIRTIO_STATUS_DRIVER_OK) != 0;

	vmmci_expire(v, now);
	switch (cmd) {
	case VMMCI_SHUTDOWN:
	case VMMCI_REBOOT:
		if (v->st.state != VMMCI_STATE_IDLE && v->st.cmd == cmd && !v->st.guest_initiated) {
			v->st.skipped++;
			return;
		}
		v->st.cmd = (uint32_t)cmd;
		v->st.guest_initiated = false;
		if (!driver) {
			v->st.refused++;
			vmmci_enter(v, VMMCI_STATE_TIMED_OUT, now, now);
			return;
		}
		v->reg_cmd = (uint32_t)cmd;
		vmmci_enter(v, VMMCI_STATE_REQUESTED, now, vmmci_after(now, v->timeout_ns));
		v->st.requests++;
		vdev_config_changed(d);
		return;
	case VMMCI_SYNCRTC:
		if (!driver || !vdev_has(d, VMMCI_F_SYNCRTC) || v->st.state != VMMCI_STATE_IDLE) {
			v->st.skipped++;
			return;
		}
		v->reg_cmd = VMMCI_SYNCRTC;
		v->st.cmd = VMMCI_SYNCRTC;
		v->st.guest_initiated = false;
		vmmci_enter(v, VMMCI_STATE_REQUESTED, now, 0);
		v->st.requests++;
		vdev_config_changed(d);
		return;
	}
}

/* The guest wrote something that answers nothing: reported, ignored. */
static void vmmci_bad_write(struct vdev *d, uint32_t val, const char *why)
{
	struct vmmci *v = d->priv;

	v->st.bad_writes++;
	diag_report(&d->log, DIAG_VMMCI_CMD, "command register write %u %s (pending: %s %u); ignored",
		    val, why, vmmci_state_name(v->st.state), v->st.cmd);
}

/* An acknowledgement of the host's own pending command: REQUESTED becomes
 * ACKED with the grace deadline; after the deadline it is late (counted,
 * TIMED_OUT stays); while ACKED it is a repeat and changes nothing. */
static void vmmci_ack_mine(struct vmmci *v, uint64_t now)
{
	if (v->st.state == VMMCI_STATE_REQUESTED) {
		v->st.acks++;
		vmmci_enter(v, VMMCI_STATE_ACKED, now, vmmci_after(now, v->grace_ns));
	} else if (v->st.state == VMMCI_STATE_TIMED_OUT) {
		v->st.late_acks++;
	}
}

/*
 * The guest wrote val to the command register at now (vmd's vmmci_ack):
 *  SHUTDOWN  acknowledges a requested shutdown; with nothing pending (or only
 *            an RTC sync) it is the guest's own power-down notice (ACKED,
 *            guest_initiated, timeout= deadline); during another shutdown
 *            or reboot episode it is that guest going down: no change.
 *  REBOOT    acknowledges a requested reboot.
 *  SYNCRTC   acknowledges a requested RTC sync: back to IDLE.
 * A REBOOT or SYNCRTC that answers nothing is reported (DIAG_VMMCI_CMD) and
 * ignored. val is SHUTDOWN, REBOOT or SYNCRTC.
 */
static void vmmci_ack(struct vdev *d, uint32_t val, uint64_t now)
{
	struct vmmci *v = d->priv;
	struct vmmci_status *st = &v->st;
	bool mine = st->state != VMMCI_STATE_IDLE && st->cmd == val && !st->guest_initiated;

	vmmci_expire(v, now);
	switch (val) {
	case VMMCI_SHUTDOWN:
		if (st->state == VMMCI_STATE_IDLE ||
		    (st->state == VMMCI_STATE_REQUESTED && st->cmd == VMMCI_SYNCRTC)) {
			v->reg_cmd = VMMCI_NONE;
			st->cmd = VMMCI_SHUTDOWN;
			st->guest_initiated = true;
			st->guest_shutdowns++;
			vmmci_enter(v, VMMCI_STATE_ACKED, now, vmmci_after(now, v->timeout_ns));
			return;
		}
		if (mine)
			vmmci_ack_mine(v, now);
		return;
	case VMMCI_REBOOT:
		if (!mine) {
			vmmci_bad_write(d, val, "answers no pending request");
			return;
		}
		vmmci_ack_mine(v, now);
		return;
	default: /* VMMCI_SYNCRTC */
		if (st->state != VMMCI_STATE_REQUESTED || st->cmd != VMMCI_SYNCRTC) {
			vmmci_bad_write(d, val, "answers no pending request");
			return;
		}
		st->acks++;
		v->reg_cmd = VMMCI_NONE;
		st->cmd = VMMCI_NONE;
		vmmci_enter(v, VMMCI_STATE_IDLE, now, 0);
		return;
	}
}

/* --- config access ----------------------------------------------------------------------- */

/* Before a read: deadlines, the command register, and the wall clock when the
 * read covers offset 4 (vmd takes the time of day there, so the two halves
 * and the microseconds that follow belong together). */
static void vmmci_config_read(struct vdev *d, uint32_t off, uint32_t len)
{
	struct vmmci *v = d->priv;

	vmmci_check(d);
	if (off <= VMMCI_CFG_TIME_SEC && VMMCI_CFG_TIME_SEC < (uint64_t)off + len) {
		uint64_t ns = world_clock_ns(d->world, WORLD_CLOCK_REALTIME);

		v->time_sec = ns / NS_PER_SEC;
		v->time_usec = (ns % NS_PER_SEC) / NS_PER_USEC;
	}
	vmmci_fill_config(d);
}

/* The guest wrote the command register (the only writable field): the value
 * is an acknowledgement, not a new register value. */
static void vmmci_config_write(struct vdev *d, uint32_t off, uint32_t len)
{
	struct vmmci *v = d->priv;
	uint32_t val = rs_le32(d->config + VMMCI_CFG_COMMAND);

	rs_st32(d->config + VMMCI_CFG_COMMAND, v->reg_cmd);
	if (val == VMMCI_NONE || val > VMMCI_SYNCRTC) {
		vmmci_check(d);
		if (val != VMMCI_NONE)
			vmmci_bad_write(d, val, "is no vmmci command");
		return;
	}
	vmmci_ack(d, val, vmmci_now(d));
	vmmci_fill_config(d);
}

/* --- host events ------------------------------------------------------------------------- */

/* WEV_VMMCI: a request (arg: enum vmmci_cmd). WEV_HOST: a tick (any arg;
 * VMMCI_HOST_TICK is the documented one). Other kinds are not ours. */
static void vmmci_host_event(struct vdev *d, const struct world_event *ev)
{
	struct vmmci *v = d->priv;

	switch (ev->kind) {
	case WEV_VMMCI:
		if (ev->arg == VMMCI_NONE || ev->arg > VMMCI_SYNCRTC) {
			/* a tick, or no such command (a host input, not the guest's) */
			vmmci_check(d);
			v->st.skipped += ev->arg != VMMCI_NONE;
			break;
		}
		vmmci_request(d, ev->arg, vmmci_now(d));
		vmmci_fill_config(d);
		break;
	case WEV_HOST:
		vmmci_check(d);
		break;
	default:
		v->st.skipped++;
		break;
	}
}

/* --- public queries ----------------------------------------------------------------------- */

int vmmci_status(const struct vdev *d, struct vmmci_status *out)
{
	const struct vmmci *v = vmmci_of(d);

	if (!v || !out)
		return -EINVAL;
	*out = v->st;
	return 0;
}

enum vmmci_state vmmci_state(const struct vdev *d)
{
	const struct vmmci *v = vmmci_of(d);

	return v ? v->st.state : VMMCI_STATE_IDLE;
}

enum vmmci_state vmmci_poll(struct vdev *d)
{
	const struct vmmci *v = vmmci_of(d);

	if (!v)
		return VMMCI_STATE_IDLE;
	vmmci_check(d);
	return v->st.state;
}

const char *vmmci_state_name(enum vmmci_state s)
{
	switch (s) {
	case VMMCI_STATE_IDLE:
		return "idle";
	case VMMCI_STATE_REQUESTED:
		return "requested";
	case VMMCI_STATE_ACKED:
		return "acked";
	case VMMCI_STATE_TIMED_OUT:
		return "timed-out";
	}
	return "?";
}

/* --- ops -------------------------------------------------------------------------------- */

/* Parse a timeout option in ms (1..VMMCI_MAX_TIMEOUT_MS) into ns. */
static int vmmci_arg_ms(struct vdev_args *args, const char *key, uint64_t dflt, uint64_t *ns,
			char *err, size_t errlen)
{
	uint64_t ms;
	int r = vdev_arg_size(args, key, dflt, &ms, err, errlen);

	if (r < 0)
		return r;
	if (ms < 1 || ms > VMMCI_MAX_TIMEOUT_MS) {
		snprintf(err, errlen, "vmmci: %s=%llu out of range (1..%u ms)", key,
			 (unsigned long long)ms, VMMCI_MAX_TIMEOUT_MS);
		return -EINVAL;
	}
	*ns = ms * NS_PER_MS;
	return 0;
}

static int vmmci_create(struct vdev *d, struct vdev_args *args, char *err, size_t errlen)
{
	struct vmmci *v = d->priv;
	int r;

	r = vmmci_arg_ms(args, "timeout", VMMCI_DEFAULT_TIMEOUT_MS, &v->timeout_ns, err, errlen);
	if (r < 0)
		return r;
	r = vmmci_arg_ms(args, "grace", VMMCI_DEFAULT_GRACE_MS, &v->grace_ns, err, errlen);
	if (r < 0)
		return r;
	vmmci_fill_config(d);
	return 0;
}

/* Device reset: the command register, the latched time and any episode go
 * back to power-on (a rebooting guest resets its devices; the episode is
 * counted in ended_by_reset). Options and counters stay. */
static void vmmci_reset(struct vdev *d)
{
	struct vmmci *v = d->priv;

	if (v->st.state != VMMCI_STATE_IDLE)
		v->st.ended_by_reset++;
	v->reg_cmd = VMMCI_NONE;
	v->time_sec = v->time_usec = 0;
	v->st.state = VMMCI_STATE_IDLE;
	v->st.cmd = VMMCI_NONE;
	v->st.guest_initiated = false;
	v->st.since_ns = 0;
	v->st.deadline_ns = 0;
	vmmci_fill_config(d);
}

/* Host-side state that a guest reset keeps: none. Host requests and their
 * deadlines are part of the episode vmmci_reset ends (as vmd drops a
 * pending request when the guest resets the device), so a reset device is
 * a fresh one. The op says so to machine_reset and the fuzz oracles. */
static void vmmci_host_reset(struct vdev *d)
{
	(void)d;
}

#define VMMCI_SAVE_SIZE 62

/* Options, register and episode (counters are statistics, not state). */
static size_t vmmci_save(const struct vdev *d, uint8_t *buf, size_t cap)
{
	const struct vmmci *v = d->priv;

	if (cap < VMMCI_SAVE_SIZE)
		return VMMCI_SAVE_SIZE;
	rs_st64(buf, v->timeout_ns);
	rs_st64(buf + 8, v->grace_ns);
	rs_st32(buf + 16, v->reg_cmd);
	rs_st64(buf + 20, v->time_sec);
	rs_st64(buf + 28, v->time_usec);
	buf[36] = (uint8_t)v->st.state;
	buf[37] = v->st.guest_initiated;
	rs_st32(buf + 38, v->st.cmd);
	rs_st64(buf + 42, v->st.since_ns);
	rs_st64(buf + 50, v->st.deadline_ns);
	rs_st32(buf + 58, 0); /* reserved */
	return VMMCI_SAVE_SIZE;
}

const struct vdev_ops vmmci_ops = {
	.name = "vmmci",
	.device_id = VMMCI_VIRTIO_ID,
	.pci_class = VMMCI_PCI_CLASS,
	.pci_vendor = VMMCI_PCI_VENDOR,
	.pci_device = VMMCI_PCI_DEVICE,
	.num_queues = 0, /* vmd: "Does not use a virtqueue" */
	.features = VIRTIO_BIT(VMMCI_F_TIMESYNC) | VIRTIO_BIT(VMMCI_F_ACK) |
		    VIRTIO_BIT(VMMCI_F_SYNCRTC),
	.config_size = VMMCI_CFG_SIZE,
	.cfg_fields = vmmci_cfg_fields,
	.ncfg_fields = RS_ARRAY_SIZE(vmmci_cfg_fields),
	.priv_size = sizeof(struct vmmci),
	.create = vmmci_create,
	.config_read = vmmci_config_read,
	.config_write = vmmci_config_write,
	.reset = vmmci_reset,
	.host_reset = vmmci_host_reset,
	.save = vmmci_save,
	.host_event = vmmci_host_event,
};
