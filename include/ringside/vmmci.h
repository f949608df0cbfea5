/*
 * ringside — "vmmci", OpenBSD's VMM control interface (vmmci(4) in the
 * guest, vmd(8) on the host): a virtio device with no virtqueues through
 * which the host asks the guest to shut down, reboot or resynchronise its
 * RTC, and which serves the host's wall-clock time for the guest's time
 * delta sensor.
 *
 * It is a legacy (0.9.5) virtio device on PCI with OpenBSD's own IDs:
 * vendor 0x0b5d (PCI_VENDOR_OPENBSD), device 0x0777
 * (PCI_PRODUCT_OPENBSD_CONTROL), class "communications, other"; the virtio
 * device id, in the subsystem ID, is OpenBSD's private 0xffff
 * (PCI_PRODUCT_VIRTIO_VMMCI). See docs/devices/vmmci.md.
 *
 * Host requests arrive as WEV_VMMCI world events. The guest's
 * acknowledgement and its timeouts are modelled in virtual time
 * (WORLD_CLOCK_MONOTONIC of the device's world): nothing ticks inside the
 * device, deadlines are checked whenever the device is touched (config
 * access, host event, vmmci_poll()). What became of a request is visible
 * to the host code through vmmci_status(); the host (a VMM) decides what to
 * do with a request that timed out (vmd powers the VM off).
 */
#ifndef RINGSIDE_VMMCI_H
#define RINGSIDE_VMMCI_H

#include "ringside/base.h"

struct vdev;

/* PCI identity (OpenBSD sys/dev/pci/pcidevs, sys/dev/pv/virtioreg.h). */
#define VMMCI_PCI_VENDOR 0x0b5d /* PCI_VENDOR_OPENBSD */
#define VMMCI_PCI_DEVICE 0x0777 /* PCI_PRODUCT_OPENBSD_CONTROL */
#define VMMCI_PCI_CLASS 0x0780  /* communications (0x07), other (0x80) */
#define VMMCI_VIRTIO_ID 0xffff  /* PCI_PRODUCT_VIRTIO_VMMCI, OpenBSD's private id */

/* Feature bits. */
#define VMMCI_F_TIMESYNC 0 /* time registers are served */
#define VMMCI_F_ACK 1      /* the guest acknowledges commands by writing them back */
#define VMMCI_F_SYNCRTC 2  /* the guest takes VMMCI_SYNCRTC requests */

/* Device config layout (little-endian). The time fields are 64-bit values at
 * 4-byte alignment; drivers read them as two 4-byte halves. */
#define VMMCI_CFG_COMMAND 0    /* le32 rw: pending command; the guest writes acks */
#define VMMCI_CFG_TIME_SEC 4   /* le64 ro: host wall clock, seconds */
#define VMMCI_CFG_TIME_USEC 12 /* le64 ro: host wall clock, microseconds */
#define VMMCI_CFG_SIZE 20

/* Commands (register values and WEV_VMMCI event args). */
enum vmmci_cmd {
	VMMCI_NONE = 0,
	VMMCI_SHUTDOWN = 1,
	VMMCI_REBOOT = 2,
	VMMCI_SYNCRTC = 3,
};

/* WEV_HOST event args for a vmmci device. */
#define VMMCI_HOST_TICK 0 /* check deadlines now (the only one) */

/* Defaults of the timeout= and grace= options, ms (vmd's VMMCI_TIMEOUT_SHORT
 * and VMMCI_TIMEOUT_LONG). */
#define VMMCI_DEFAULT_TIMEOUT_MS 3000u
#define VMMCI_DEFAULT_GRACE_MS 120000u
#define VMMCI_MAX_TIMEOUT_MS 86400000u /* one day */

/*
 * Where a shutdown, reboot or RTC sync stands.
 *   IDLE       nothing pending.
 *   REQUESTED  the host asked (command register set, config interrupt sent);
 *              waiting for the guest's acknowledgement until the deadline
 *              (timeout=; an RTC sync has no deadline).
 *   ACKED      the guest acknowledged a shutdown or reboot, or announced a
 *              shutdown of its own (guest_initiated); it has until the
 *              deadline (grace=; own shutdown: timeout=) to go down.
 *   TIMED_OUT  a deadline passed (or nobody could be asked: no driver). The
 *              host should force the power-off or reset now.
 */
enum vmmci_state {
	VMMCI_STATE_IDLE = 0,
	VMMCI_STATE_REQUESTED = 1,
	VMMCI_STATE_ACKED = 2,
	VMMCI_STATE_TIMED_OUT = 3,
};

struct vmmci_status {
	enum vmmci_state state;
	uint32_t cmd;            /* the episode's command (enum vmmci_cmd); NONE when idle */
	bool guest_initiated;    /* the guest announced its own shutdown */
	uint64_t since_ns;       /* MONOTONIC ns when state was entered */
	uint64_t deadline_ns;    /* MONOTONIC ns deadline of REQUESTED / ACKED; 0: none */
	/* counters since creation; kept across device reset */
	uint64_t requests;       /* host requests that reached the guest */
	uint64_t acks;           /* acknowledgements taken */
	uint64_t guest_shutdowns;/* shutdowns the guest announced on its own */
	uint64_t timeouts;       /* deadlines that passed */
	uint64_t refused;        /* shutdown/reboot with no driver: TIMED_OUT at once */
	uint64_t skipped;        /* RTC syncs not sent (SYNCRTC not negotiated, or a
				  * shutdown/reboot pending), repeated requests */
	uint64_t late_acks;      /* acknowledgements after the deadline */
	uint64_t bad_writes;     /* command writes reported as DIAG_VMMCI_CMD */
	uint64_t ended_by_reset; /* episodes ended by a device reset */
};

/*
 * Copy d's vmmci state into *out without touching the device (no clock is
 * read: a deadline that has passed shows only after the device was touched
 * or vmmci_poll() ran). Returns 0, or -EINVAL when d is not a vmmci device.
 */
int vmmci_status(const struct vdev *d, struct vmmci_status *out);

/* The state alone; VMMCI_STATE_IDLE when d is not a vmmci device. */
enum vmmci_state vmmci_state(const struct vdev *d);

/*
 * Check the deadline against the device world's MONOTONIC clock (one clock
 * read, an input like any other, only while a deadline is pending) and
 * return the resulting state. Host loops call this (or post a WEV_HOST
 * VMMCI_HOST_TICK event) when they want timeouts noticed without the guest
 * touching the device. VMMCI_STATE_IDLE when d is not a vmmci device.
 */
enum vmmci_state vmmci_poll(struct vdev *d);

/* Name of a state ("idle", "requested", "acked", "timed-out"). */
const char *vmmci_state_name(enum vmmci_state s);

#endif
