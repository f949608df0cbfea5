/*
 * ringside — device core (vdev): status state machine, feature negotiation,
 * config space, ISR and MSI-X vectors, queue registers, reset, snapshots.
 *
 * Transports map their registers onto these calls; device models plug in
 * through const struct vdev_ops. Every driver violation is a diagnostic in
 * d->log (the spec section is prefixed by diag_report) and leaves a defined
 * state; nothing guest-controlled reaches an assert.
 *
 * Decisions the spec leaves open, in one place (each is repeated at the code
 * that implements it):
 *  - Status writes are checked against the value being written, so a driver
 *    may set ACKNOWLEDGE|DRIVER in one write (the order rule is about the
 *    resulting state, virtio-v1.2 3.1.1).
 *  - NEEDS_RESET is device-owned: a write that carries it while it is set
 *    (read-modify-write) is fine, one that tries to set it is reported, one
 *    that omits it does not clear it.
 *  - FEATURES_OK does not exist on the legacy interface (3.1.2): written
 *    there it is reported as DIAG_STATUS_ORDER and not stored.
 *  - After FAILED or NEEDS_RESET, queue notifies are dropped.
 *  - Legacy feature writes take effect at once and are accepted until
 *    DRIVER_OK (DIAG_FEATURES_LATE after it); there is no validate step.
 *  - Config writes are applied byte by byte: bytes of writable fields are
 *    stored, others dropped (one DIAG_CONFIG_READONLY per access), and the
 *    device hears config_write once per writable field touched, for the
 *    whole field.
 *  - A failed queue enable (modern or legacy PFN) leaves the queue disabled
 *    and sets NEEDS_RESET.
 *  - Reset restores the generation counter to 0, so a reset device is
 *    byte-identical (vdev_save_state) to a freshly created one.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringside/vdev.h"

#define VDEV_STATE_MAGIC 0x76656476u /* "vdev" little-endian */
#define VDEV_STATE_VERSION 1

/* ---- helpers ------------------------------------------------------------------------- */

/* A vq broke on a guest error: the device needs a reset (virtio-v1.2 2.1.2). */
static void vdev_vq_error(void *ctx, unsigned qidx, enum diag_code code)
{
	vdev_needs_reset(ctx, code);
}

/* Set the ISR config bit and, once the driver is up, raise a config-change
 * interrupt through the transport (virtio-v1.2 2.1.2, 4.1.4.5). */
static void vdev_raise_config(struct vdev *d)
{
	d->isr |= VIRTIO_ISR_CONFIG;
	if (!(d->status & VIRTIO_STATUS_DRIVER_OK) || !d->tops || !d->tops->notify)
		return;
	d->stats.irqs++;
	d->tops->notify(d->tctx, d, true, 0);
}

/* Queue q, or NULL after reporting DIAG_QUEUE_SELECT (what names the access). */
static struct vdev_queue *vdev_queue_checked(struct vdev *d, unsigned q, const char *what)
{
	struct vdev_queue *vq = vdev_queue(d, q);

	if (!vq)
		diag_report(&d->log, DIAG_QUEUE_SELECT, "%s: queue %u does not exist (%u queues)",
			    what, q, d->nqueues);
	return vq;
}

/* Queue registers and ring state to their power-on values. */
static void vdev_queue_power_on(struct vdev_queue *vq, unsigned idx)
{
	vq_reset(&vq->vq);
	vq->size = vq->max;
	vq->msix_vector = VIRTIO_MSI_NO_VECTOR;
	vq->enabled = false;
	vq->desc = vq->driver = vq->device = 0;
	vq->legacy_pfn = 0;
	vq->notify_off = (uint16_t)idx;
}

/* Every transport-visible field to its power-on value; the config space is
 * zeroed (ops->reset refills it). Stats, log and bindings are kept. */
static void vdev_power_on(struct vdev *d)
{
	d->status = 0;
	d->isr = 0;
	d->driver_features = 0;
	d->dfselect = d->gfselect = 0;
	d->queue_select = 0;
	d->msix_config = VIRTIO_MSI_NO_VECTOR;
	/* Our choice: the generation restarts at 0, so that reset returns the
	 * device to exactly its power-on state. The driver re-reads all of the
	 * config after a reset anyway (virtio-v1.2 3.1.1). */
	d->config_generation = 0;
	/* A legacy-only transport always speaks the legacy interface; a
	 * transitional one learns it again from the driver's first access. */
	d->legacy = d->legacy_capable && !d->modern_capable;
	for (unsigned i = 0; i < d->nqueues; i++)
		vdev_queue_power_on(&d->queues[i], i);
	if (d->config)
		memset(d->config, 0, d->ops->config_size);
}

/* Host-side sanity of a model's table; one line in err when it is unusable. */
static int vdev_check_ops(const struct vdev_ops *ops, char *err, size_t errlen)
{
	const char *why = NULL;

	if (ops->num_queues && (ops->queue_max == 0 || ops->queue_max > VIRTQ_MAX_SIZE))
		why = "queue_max must be 1..32768";
	else if (ops->num_queues && !ops->queue_notify)
		why = "queues but no queue_notify";
	else if (ops->ncfg_fields && !ops->cfg_fields)
		why = "ncfg_fields without cfg_fields";
	for (unsigned i = 0; !why && i < ops->ncfg_fields; i++) {
		const struct vdev_cfg_field *f = &ops->cfg_fields[i];

		if (f->size != 1 && f->size != 2 && f->size != 4 && f->size != 8)
			why = "config field size not 1, 2, 4 or 8";
		else if ((uint32_t)f->off + f->size > ops->config_size)
			why = "config field beyond config_size";
		for (unsigned j = 0; !why && j < i; j++) {
			const struct vdev_cfg_field *g = &ops->cfg_fields[j];

			if (f->off < g->off + g->size && g->off < f->off + f->size)
				why = "config fields overlap";
		}
	}
	if (!why)
		return 0;
	if (err && errlen)
		snprintf(err, errlen, "device model %s: %s", ops->name, why);
	return -EINVAL;
}

/* ---- life cycle ---------------------------------------------------------------------- */

/* A device outside a machine: no world, index 0. */
int vdev_create(const struct vdev_ops *ops, struct gm *gm, const char *name,
		struct vdev_args *args, struct vdev **out, char *err, size_t errlen)
{
	return vdev_create_ex(ops, gm, NULL, 0, name, args, out, err, errlen);
}

/*
 * Allocate the device, its private state, config space and queues, bring
 * them to power-on, attach world and index, run ops->create and refuse
 * options nobody read. Returns 0, -EINVAL (bad model table, bad or unknown
 * option), -ENOMEM, or what create() returned; err holds one line on
 * failure and *out is NULL.
 */
int vdev_create_ex(const struct vdev_ops *ops, struct gm *gm, struct world *world,
		   unsigned index, const char *name, struct vdev_args *args, struct vdev **out,
		   char *err, size_t errlen)
{
	struct vdev *d;
	bool created = false;
	int r;

	*out = NULL;
	if (err && errlen)
		err[0] = '\0';
	r = vdev_check_ops(ops, err, errlen);
	if (r < 0)
		return r;
	d = calloc(1, sizeof *d);
	if (!d)
		goto nomem;
	d->ops = ops;
	d->gm = gm;
	d->world = world;
	d->index = index;
	snprintf(d->name, sizeof d->name, "%s", name ? name : ops->name);
	diag_init(&d->log, d->name);
	if (ops->priv_size && !(d->priv = calloc(1, ops->priv_size)))
		goto nomem;
	if (ops->config_size && !(d->config = calloc(1, ops->config_size)))
		goto nomem;
	if (ops->num_queues && !(d->queues = calloc(ops->num_queues, sizeof *d->queues)))
		goto nomem;
	d->nqueues = ops->num_queues;
	for (unsigned i = 0; i < d->nqueues; i++) {
		d->queues[i].max = ops->queue_max;
		vq_init(&d->queues[i].vq, gm, &d->log, i, vdev_vq_error, d);
	}
	vdev_power_on(d);
	d->model_features = ops->features;

	if (ops->create) {
		r = ops->create(d, args, err, errlen);
		if (r != 0) {
			r = r < 0 ? r : -EINVAL;
			if (err && errlen && !err[0])
				snprintf(err, errlen, "device %s: create failed (%d)", ops->name,
					 r);
			goto fail;
		}
	}
	created = true;
	if (d->nqueues > ops->num_queues) {
		if (err && errlen)
			snprintf(err, errlen, "device %s: create() raised the queue count",
				 ops->name);
		r = -EINVAL;
		goto fail;
	}
	for (unsigned i = 0; args && i < RS_MIN(args->n, (unsigned)VDEV_MAX_ARGS); i++) {
		if (!args->kv[i].used) {
			if (err && errlen)
				snprintf(err, errlen, "unknown option '%s' for device %s",
					 args->kv[i].key, ops->name);
			r = -EINVAL;
			goto fail;
		}
	}
	*out = d;
	return 0;

nomem:
	if (err && errlen)
		snprintf(err, errlen, "device %s: out of memory", ops->name);
	r = -ENOMEM;
fail:
	if (d && created && ops->destroy)
		ops->destroy(d);
	if (d) {
		for (unsigned i = 0; d->queues && i < ops->num_queues; i++)
			vq_reset(&d->queues[i].vq);
		free(d->queues);
		free(d->config);
		free(d->priv);
		free(d);
	}
	return r;
}

/* Free a device (NULL is fine): ops->destroy, ring state, memory. */
void vdev_destroy(struct vdev *d)
{
	if (!d)
		return;
	if (d->ops->destroy)
		d->ops->destroy(d);
	for (unsigned i = 0; i < d->ops->num_queues; i++)
		vq_reset(&d->queues[i].vq);
	free(d->queues);
	free(d->config);
	free(d->priv);
	free(d);
}

/*
 * Offered features: the model's own plus the engine's generic ones
 * (virtio-v1.2 6). VERSION_1, RING_PACKED and IN_ORDER only exist on the
 * 1.x interface; ANY_LAYOUT and NOTIFY_ON_EMPTY are legacy-only bits (6.3)
 * offered only when no 1.x interface is. A legacy-only transport cannot
 * show bits above 31, so they are not offered at all.
 */
void vdev_bind_transport(struct vdev *d, const struct vdev_transport_ops *tops, void *tctx,
			 bool modern, bool legacy, uint64_t disable_mask)
{
	uint64_t generic = VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX);
	uint64_t offered;

	if (modern)
		generic |= VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_F_RING_PACKED) |
			   VIRTIO_BIT(VIRTIO_F_IN_ORDER);
	else if (legacy)
		generic |= VIRTIO_BIT(VIRTIO_F_ANY_LAYOUT) | VIRTIO_BIT(VIRTIO_F_NOTIFY_ON_EMPTY);
	offered = ((d->model_features & d->ops->features) | generic) & ~disable_mask;
	if (!modern)
		offered &= 0xffffffffull;
	d->tops = tops;
	d->tctx = tctx;
	d->modern_capable = modern;
	d->legacy_capable = legacy;
	d->generic_features = generic & ~disable_mask;
	d->host_features = offered;
	d->legacy = legacy && !modern;
}

/*
 * Calls into the model run with the device as the arena's actor (struct
 * gm), so the fuzz oracles can tell which device wrote guest memory. The
 * previous actor comes back after the call: calls nest.
 */
static const void *actor_enter(struct vdev *d)
{
	const void *prev = d->gm ? d->gm->actor : NULL;

	if (d->gm)
		d->gm->actor = d;
	return prev;
}

static void actor_leave(struct vdev *d, const void *prev)
{
	if (d->gm)
		d->gm->actor = prev;
}

/* Power-on state again (see vdev_power_on), then the model's own reset. */
void vdev_reset(struct vdev *d)
{
	vdev_power_on(d);
	if (d->ops->reset) {
		const void *prev = actor_enter(d);

		d->ops->reset(d);
		actor_leave(d, prev);
	}
	d->stats.resets++;
}

void vdev_host_reset(struct vdev *d)
{
	if (d->ops->host_reset) {
		const void *prev = actor_enter(d);

		d->ops->host_reset(d);
		actor_leave(d, prev);
	}
}

bool vdev_host_event(struct vdev *d, const struct world_event *ev)
{
	const void *prev;

	if (!d->ops->host_event)
		return false;
	d->stats.host_events++;
	prev = actor_enter(d);
	d->ops->host_event(d, ev);
	actor_leave(d, prev);
	return true;
}

/* ---- status -------------------------------------------------------------------------- */

/*
 * FEATURES_OK is being set on the 1.x interface: may the device accept
 * driver_features? Reports the reason when not (virtio-v1.2 2.2.2: the
 * device MUST refuse FEATURES_OK for a subset it cannot accept).
 */
static bool vdev_features_acceptable(struct vdev *d)
{
	uint64_t f = d->driver_features;

	if (f & ~d->host_features) {
		diag_report(&d->log, DIAG_FEATURES_NOT_OFFERED,
			    "FEATURES_OK with features 0x%llx never offered; refused",
			    (unsigned long long)(f & ~d->host_features));
		return false;
	}
	/* 6.1: a 1.x driver MUST accept VERSION_1. This also covers RING_PACKED
	 * and IN_ORDER, which are defined only with VERSION_1. */
	if (!(f & VIRTIO_BIT(VIRTIO_F_VERSION_1))) {
		diag_report(&d->log, DIAG_FEATURES_VERSION_1,
			    "FEATURES_OK on the 1.x interface without VERSION_1 (features 0x%llx); "
			    "refused", (unsigned long long)f);
		return false;
	}
	if (d->ops->validate_features) {
		uint32_t before = diag_count(&d->log, DIAG_FEATURES_INVALID);

		if (d->ops->validate_features(d, f) != 0) {
			/* The model should have said why; make sure something is said. */
			if (diag_count(&d->log, DIAG_FEATURES_INVALID) == before)
				diag_report(&d->log, DIAG_FEATURES_INVALID,
					    "device %s refuses features 0x%llx", d->ops->name,
					    (unsigned long long)f);
			return false;
		}
	}
	return true;
}

/*
 * Status register write (virtio-v1.2 2.1, 3.1.1). See vdev.h for the rules;
 * each newly set bit is checked against the value written, so bits may be
 * set together in one write as long as the result is in order.
 */
void vdev_set_status(struct vdev *d, uint8_t val)
{
	const uint8_t old = d->status;
	uint8_t set, cleared;

	if (val == 0) {
		vdev_reset(d); /* 2.4: writing 0 resets the device */
		return;
	}
	/* NEEDS_RESET belongs to the device (2.1): only an attempt to set it is
	 * a violation; writing it back as read, or leaving it out, changes
	 * nothing. */
	if ((val & VIRTIO_STATUS_NEEDS_RESET) && !(old & VIRTIO_STATUS_NEEDS_RESET))
		diag_report(&d->log, DIAG_STATUS_NEEDS_RESET,
			    "driver wrote DEVICE_NEEDS_RESET (status 0x%02x); ignored", val);
	val = (uint8_t)((val & ~VIRTIO_STATUS_NEEDS_RESET) | (old & VIRTIO_STATUS_NEEDS_RESET));

	/* 2.1.1: the driver MUST NOT clear a status bit (only reset does). */
	cleared = old & (uint8_t)~val;
	if (cleared) {
		diag_report(&d->log, DIAG_STATUS_CLEAR,
			    "status 0x%02x -> 0x%02x clears 0x%02x without reset; bits kept", old,
			    val, cleared);
		val |= cleared;
	}
	set = val & (uint8_t)~old;

	/* 3.1.2: legacy devices have no FEATURES_OK; the features written took
	 * effect already. Our choice: report and do not store the bit. */
	if (d->legacy && (set & VIRTIO_STATUS_FEATURES_OK)) {
		diag_report(&d->log, DIAG_STATUS_ORDER,
			    "FEATURES_OK on the legacy interface (it has none); ignored");
		val &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK;
		set &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK;
	}

	/* 3.1.1 order: ACKNOWLEDGE, DRIVER, FEATURES_OK (1.x), DRIVER_OK. An
	 * out-of-order bit is reported and still taken, as real devices do. */
	if ((set & VIRTIO_STATUS_DRIVER) && !(val & VIRTIO_STATUS_ACKNOWLEDGE))
		diag_report(&d->log, DIAG_STATUS_ORDER, "DRIVER set without ACKNOWLEDGE");
	if (set & VIRTIO_STATUS_FEATURES_OK) {
		if (!(val & VIRTIO_STATUS_DRIVER))
			diag_report(&d->log, DIAG_STATUS_ORDER, "FEATURES_OK set without DRIVER");
		/* 2.2.2: FEATURES_OK stays clear unless the subset is acceptable;
		 * the driver finds out by reading the status back (3.1.1 step 6). */
		if (!vdev_features_acceptable(d)) {
			val &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK;
			set &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK;
		}
	}
	if (set & VIRTIO_STATUS_DRIVER_OK) {
		if (!d->legacy && !(val & VIRTIO_STATUS_FEATURES_OK))
			diag_report(&d->log, DIAG_STATUS_ORDER,
				    "DRIVER_OK set without FEATURES_OK (status 0x%02x)", val);
		else if (d->legacy && !(val & VIRTIO_STATUS_DRIVER))
			diag_report(&d->log, DIAG_STATUS_ORDER,
				    "DRIVER_OK set without DRIVER (status 0x%02x)", val);
	}
	d->status = val;
	if ((set & VIRTIO_STATUS_DRIVER_OK) && d->ops->driver_ok) {
		const void *prev = actor_enter(d);

		d->ops->driver_ok(d);
		actor_leave(d, prev);
	}
}

/* ---- features ------------------------------------------------------------------------ */

/* Offered features, window sel (virtio-v1.2 4.1.4.3 device_feature_select;
 * the legacy interface has one 32-bit window, 4.1.4.8). */
uint32_t vdev_device_features(const struct vdev *d, uint32_t sel)
{
	if (sel == 0)
		return (uint32_t)d->host_features;
	if (sel == 1 && !d->legacy)
		return (uint32_t)(d->host_features >> 32);
	return 0;
}

/*
 * Driver feature window write (virtio-v1.2 2.2.1, 3.1.1 step 4). 1.x: until
 * FEATURES_OK (or DRIVER_OK, when the driver skipped FEATURES_OK). Legacy:
 * the single 32-bit window is the whole accepted set, effective at once;
 * our choice is to take it until DRIVER_OK. There is no negotiation step on
 * legacy, so ops->validate_features is not consulted there (2.2.3); queues
 * use the features in effect when they are enabled.
 */
void vdev_set_driver_features(struct vdev *d, uint32_t sel, uint32_t val)
{
	uint8_t closed = d->legacy ? VIRTIO_STATUS_DRIVER_OK
				   : VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK;
	uint32_t offered;

	if (d->status & closed) {
		diag_report(&d->log, DIAG_FEATURES_LATE,
			    "driver features window %u = 0x%08x written after %s; ignored", sel,
			    val,
			    d->status & VIRTIO_STATUS_FEATURES_OK ? "FEATURES_OK" : "DRIVER_OK");
		return;
	}
	if (sel > 1 || (sel == 1 && d->legacy)) {
		if (val)
			diag_report(&d->log, DIAG_FEATURES_NOT_OFFERED,
				    "driver features window %u = 0x%08x does not exist; ignored",
				    sel, val);
		return;
	}
	offered = vdev_device_features(d, sel);
	if (val & ~offered)
		diag_report(&d->log, DIAG_FEATURES_NOT_OFFERED,
			    "driver accepted 0x%08x in window %u, never offered; dropped",
			    val & ~offered, sel);
	val &= offered;
	if (d->legacy) {
		d->driver_features = val;
		return;
	}
	if (sel == 0)
		d->driver_features = (d->driver_features & ~0xffffffffull) | val;
	else
		d->driver_features = (d->driver_features & 0xffffffffull) | ((uint64_t)val << 32);
}

/* Accepted features, window sel (0 outside the windows the interface has). */
uint32_t vdev_driver_features_window(const struct vdev *d, uint32_t sel)
{
	if (sel == 0)
		return (uint32_t)d->driver_features;
	if (sel == 1 && !d->legacy)
		return (uint32_t)(d->driver_features >> 32);
	return 0;
}

/* ---- ISR, config space ----------------------------------------------------------------- */

/* ISR read clears it (virtio-v1.2 4.1.4.5.1, 4.2.2 InterruptStatus/ACK). */
uint8_t vdev_read_isr(struct vdev *d)
{
	uint8_t v = d->isr;

	d->isr = 0;
	return v;
}

/* Declared field holding config byte off, or NULL. */
static const struct vdev_cfg_field *vdev_cfg_field_at(const struct vdev *d, uint32_t off)
{
	for (unsigned i = 0; i < d->ops->ncfg_fields; i++) {
		const struct vdev_cfg_field *f = &d->ops->cfg_fields[i];

		if (off >= f->off && off - f->off < f->size)
			return f;
	}
	return NULL;
}

/* True when [off, off+size) is exactly one declared field, or an aligned
 * 4-byte half of an 8-byte one (virtio-v1.2 4.1.3.1, 4.2.2.2). Without a
 * field table there is nothing to check against. */
static bool vdev_cfg_width_ok(const struct vdev *d, uint32_t off, unsigned size)
{
	const struct vdev_cfg_field *f;

	if (!d->ops->ncfg_fields)
		return true;
	f = vdev_cfg_field_at(d, off);
	if (!f)
		return false;
	if (off == f->off && size == f->size)
		return true;
	return f->size == 8 && size == 4 && (off - f->off) % 4 == 0;
}

/* Common checks of a config access: size 1/2/4/8 and wholly inside the
 * config space (computed in 64 bits, no wrap); then the width rules, which
 * only report. Returns false when the access must not be served. */
static bool vdev_cfg_access(struct vdev *d, uint32_t off, unsigned size, const char *what)
{
	if (size != 1 && size != 2 && size != 4 && size != 8) {
		diag_report(&d->log, DIAG_CONFIG_WIDTH, "config %s of %u bytes at 0x%x; %s", what,
			    size, off, what[0] == 'r' ? "reads 0" : "dropped");
		return false;
	}
	if ((uint64_t)off + size > d->ops->config_size) {
		diag_report(&d->log, DIAG_CONFIG_RANGE,
			    "config %s of %u bytes at 0x%x beyond the %u-byte config space; %s",
			    what, size, off, d->ops->config_size,
			    what[0] == 'r' ? "reads 0" : "dropped");
		return false;
	}
	if (!vdev_cfg_width_ok(d, off, size))
		diag_report(&d->log, DIAG_CONFIG_WIDTH,
			    "config %s of %u bytes at 0x%x does not match a field; served bytewise",
			    what, size, off);
	return true;
}

/* Config read (virtio-v1.2 2.5): the model refreshes first, then the bytes
 * are returned little-endian. Out of range reads 0. */
uint64_t vdev_config_read(struct vdev *d, uint32_t off, unsigned size)
{
	if (!vdev_cfg_access(d, off, size, "read"))
		return 0;
	if (d->ops->config_read) {
		const void *prev = actor_enter(d);

		d->ops->config_read(d, off, size);
		actor_leave(d, prev);
	}
	return rs_ldn(d->config + off, size);
}

/*
 * Config write (virtio-v1.2 2.5). Byte by byte: bytes of writable fields
 * are stored, the rest dropped with one DIAG_CONFIG_READONLY. A write that
 * covers part of a writable field (a width violation, reported) updates the
 * bytes it covers. ops->config_write then hears once per writable field
 * touched, with that field's offset and size.
 */
void vdev_config_write(struct vdev *d, uint32_t off, unsigned size, uint64_t val)
{
	const struct vdev_cfg_field *touched[8];
	unsigned ntouched = 0;
	uint8_t bytes[8];
	bool dropped = false;

	if (!vdev_cfg_access(d, off, size, "write"))
		return;
	rs_stn(bytes, size, val);
	for (unsigned i = 0; i < size; i++) {
		const struct vdev_cfg_field *f = vdev_cfg_field_at(d, off + i);

		if (!f || !f->writable) {
			dropped = true;
			continue;
		}
		d->config[off + i] = bytes[i];
		/* A field's bytes are contiguous: a new field starts a new entry. */
		if (!ntouched || touched[ntouched - 1] != f)
			touched[ntouched++] = f;
	}
	if (dropped)
		diag_report(&d->log, DIAG_CONFIG_READONLY,
			    "config write of %u bytes at 0x%x touches read-only bytes; dropped",
			    size, off);
	if (ntouched && d->ops->config_write) {
		const void *prev = actor_enter(d);

		for (unsigned i = 0; i < ntouched; i++)
			d->ops->config_write(d, touched[i]->off, touched[i]->size);
		actor_leave(d, prev);
	}
}

/* The device changed its config (virtio-v1.2 2.5.2: the generation changes,
 * 4.1.4.5: ISR bit 1, a config notification once the driver is up). */
void vdev_config_changed(struct vdev *d)
{
	d->config_generation++;
	vdev_raise_config(d);
}

/* ---- queues ---------------------------------------------------------------------------- */

/* Queue size register (virtio-v1.2 4.1.4.3 queue_size, 4.2.2 QueueNum). */
void vdev_queue_set_size(struct vdev *d, unsigned q, uint16_t size)
{
	struct vdev_queue *vq = vdev_queue_checked(d, q, "queue size");

	if (!vq)
		return;
	if (vq->enabled) {
		diag_report(&d->log, DIAG_QUEUE_ENABLED,
			    "queue %u size written while enabled; ignored", q);
		return;
	}
	if (size == 0 || size > vq->max) {
		diag_report(&d->log, DIAG_QUEUE_SIZE, "queue %u size %u (max %u); ignored", q,
			    size, vq->max);
		return;
	}
	vq->size = size;
}

/* Hand cfg to the ring engine. On failure (vq_setup reported why) the queue
 * stays disabled and the device needs a reset (virtio-v1.2 2.1.2). */
static int vdev_queue_start(struct vdev *d, struct vdev_queue *vq, const struct vq_config *cfg)
{
	uint64_t reports = d->log.total;
	int r = vq_setup(&vq->vq, cfg);

	if (r < 0) {
		const struct diag_entry *e = diag_last(&d->log);
		enum diag_code why = e && d->log.total != reports ? e->code : DIAG_NONE;

		vq->enabled = false;
		vdev_needs_reset(d, why);
		return r;
	}
	vq->enabled = true;
	return 0;
}

/* Disable a queue and forget where it was (legacy PFN 0). */
static void vdev_queue_stop(struct vdev_queue *vq)
{
	vq_reset(&vq->vq);
	vq->enabled = false;
	vq->desc = vq->driver = vq->device = 0;
	vq->legacy_pfn = 0;
}

/*
 * 1.x queue enable (virtio-v1.2 4.1.4.3 queue_enable, 4.2.2 QueueReady):
 * split or packed by the negotiated RING_PACKED, at the addresses written.
 * Returns 0 (also when already enabled: reported, nothing changes), -EINVAL
 * (bad queue, or vq_setup refused: disabled, NEEDS_RESET) or -ENOMEM.
 */
int vdev_queue_enable(struct vdev *d, unsigned q)
{
	struct vdev_queue *vq = vdev_queue_checked(d, q, "queue enable");
	struct vq_config cfg;

	if (!vq)
		return -EINVAL;
	if (vq->enabled) {
		diag_report(&d->log, DIAG_QUEUE_ENABLED, "queue %u enabled twice; ignored", q);
		return 0;
	}
	memset(&cfg, 0, sizeof cfg);
	cfg.layout = vdev_has(d, VIRTIO_F_RING_PACKED) ? VQ_PACKED : VQ_SPLIT;
	cfg.num = vq->size;
	cfg.desc = vq->desc;
	cfg.driver = vq->driver;
	cfg.device = vq->device;
	cfg.features = d->driver_features;
	return vdev_queue_start(d, vq, &cfg);
}

/*
 * Legacy queue placement (virtio-v1.2 4.1.4.8 QueueAddress, 4.2.4 QueuePFN):
 * the split ring lives contiguously at pfn * page_size with the used ring at
 * the next multiple of align. The queue size is whatever QueueNum holds
 * (legacy PCI: the maximum; MMIO v1: what the driver wrote). pfn 0 stops
 * the queue. A placement outside RAM, a bad page size or alignment is
 * DIAG_LEGACY_PFN: the queue stays disabled and the device needs a reset.
 * Placing an enabled queue again is DIAG_QUEUE_ENABLED and ignored.
 * Returns 0, -EINVAL or -ENOMEM.
 */
int vdev_queue_set_pfn(struct vdev *d, unsigned q, uint32_t pfn, uint32_t page_size,
		       uint32_t align)
{
	struct vdev_queue *vq = vdev_queue_checked(d, q, "queue PFN");
	struct vq_config cfg;
	uint64_t base, len;
	int r;

	if (!vq)
		return -EINVAL;
	if (pfn == 0) {
		vdev_queue_stop(vq);
		return 0;
	}
	if (vq->enabled) {
		diag_report(&d->log, DIAG_QUEUE_ENABLED,
			    "queue %u PFN 0x%x written while placed; ignored", q, pfn);
		return -EINVAL;
	}
	if (!rs_is_pow2(page_size) || !rs_is_pow2(align)) {
		diag_report(&d->log, DIAG_LEGACY_PFN,
			    "queue %u: page size %u / alignment %u not a power of two", q,
			    page_size, align);
		goto bad;
	}
	/* Both factors are below 2^32, so the product fits 64 bits; the end of
	 * the ring is computed saturating and checked against RAM. */
	base = (uint64_t)pfn * page_size;
	len = virtq_legacy_size(vq->size, align);
	if (rs_satadd_u64(base, len) == UINT64_MAX || !gm_range_ok(d->gm, base, len)) {
		diag_report(&d->log, DIAG_LEGACY_PFN,
			    "queue %u: PFN 0x%x puts the %llu-byte ring at 0x%llx, outside RAM", q,
			    pfn, (unsigned long long)len, (unsigned long long)base);
		goto bad;
	}
	memset(&cfg, 0, sizeof cfg);
	vq_legacy_layout(&cfg, base, vq->size, align);
	cfg.layout = VQ_SPLIT;
	cfg.num = vq->size;
	cfg.features = d->driver_features;
	r = vdev_queue_start(d, vq, &cfg);
	if (r < 0)
		return r;
	vq->desc = cfg.desc;
	vq->driver = cfg.driver;
	vq->device = cfg.device;
	vq->legacy_pfn = pfn;
	return 0;
bad:
	vdev_needs_reset(d, DIAG_LEGACY_PFN);
	return -EINVAL;
}

/*
 * Driver notification (virtio-v1.2 2.9, 4.1.4.4). Checked in order: queue
 * exists, queue enabled, DRIVER_OK (2.1.2: the device MUST NOT consume
 * buffers before it; legacy drivers may kick early, 2.1.4 / 3.1.2, so on
 * the legacy interface the kick is reported and still delivered), and no
 * FAILED / NEEDS_RESET (the device has stopped: dropped, not reported).
 */
void vdev_queue_notify(struct vdev *d, unsigned q)
{
	struct vdev_queue *vq = vdev_queue_checked(d, q, "notify");

	if (!vq)
		return;
	if (!vq->enabled) {
		diag_report(&d->log, DIAG_QUEUE_NOT_READY, "notify for queue %u, not enabled", q);
		return;
	}
	if (!(d->status & VIRTIO_STATUS_DRIVER_OK)) {
		diag_report(&d->log, DIAG_NOTIFY_EARLY, "notify for queue %u before DRIVER_OK; %s",
			    q, d->legacy ? "delivered (legacy)" : "dropped");
		if (!d->legacy)
			return;
	}
	if (d->status & (VIRTIO_STATUS_FAILED | VIRTIO_STATUS_NEEDS_RESET))
		return;
	d->stats.notifies++;
	if (d->ops->queue_notify) {
		const void *prev = actor_enter(d);

		d->ops->queue_notify(d, q);
		actor_leave(d, prev);
	}
}

/* Used-buffer notification for queue q when the ring says one is due
 * (virtio-v1.2 2.7.10, 2.8.10). A bad q (a model bug) does nothing. */
void vdev_queue_interrupt(struct vdev *d, unsigned q)
{
	struct vdev_queue *vq = vdev_queue(d, q);

	if (!vq || !vq->enabled || !vq_should_notify(&vq->vq))
		return;
	d->isr |= VIRTIO_ISR_QUEUE;
	d->stats.irqs++;
	if (d->tops && d->tops->notify)
		d->tops->notify(d->tctx, d, false, q);
}

/* Enter DEVICE_NEEDS_RESET (virtio-v1.2 2.1.2): once per episode, with a
 * config notification when DRIVER_OK is set. */
void vdev_needs_reset(struct vdev *d, enum diag_code why)
{
	if (d->status & VIRTIO_STATUS_NEEDS_RESET)
		return;
	d->status |= VIRTIO_STATUS_NEEDS_RESET;
	diag_report(&d->log, DIAG_NEEDS_RESET, "device %s needs reset (cause: %s)", d->name,
		    diag_name(why));
	vdev_raise_config(d);
}

/* MSI-X vector of the config change (q = -1) or of queue q (virtio-v1.2
 * 4.1.4.3 msix_config / queue_msix_vector, 4.1.5.1.2: a vector the device
 * cannot use reads back as NO_VECTOR). */
void vdev_set_msix_vector(struct vdev *d, int q, uint16_t vec, unsigned nvectors)
{
	uint16_t *slot;

	if (q == -1) {
		slot = &d->msix_config;
	} else if (q >= 0 && (unsigned)q < d->nqueues) {
		slot = &d->queues[q].msix_vector;
	} else {
		diag_report(&d->log, DIAG_QUEUE_SELECT, "MSI-X vector for queue %d (%u queues)", q,
			    d->nqueues);
		return;
	}
	if (vec != VIRTIO_MSI_NO_VECTOR && vec >= nvectors) {
		diag_report(&d->log, DIAG_MSIX_VECTOR,
			    "MSI-X vector %u for %s%d, only %u vectors; NO_VECTOR", vec,
			    q < 0 ? "config" : "queue ", q < 0 ? 0 : q, nvectors);
		vec = VIRTIO_MSI_NO_VECTOR;
	}
	*slot = vec;
}

/* ---- snapshots -------------------------------------------------------------------------- */

/* Snapshot writer: copies what fits into buf and, in hash mode, folds every
 * byte into an FNV-1a 64 hash; pos always counts the bytes of the whole
 * snapshot. */
struct vdev_snap {
	uint8_t *buf;
	size_t cap;
	size_t pos;
	bool hashing;
	uint64_t hash;
};

#define FNV64_OFFSET 0xcbf29ce484222325ull
#define FNV64_PRIME 0x100000001b3ull

static void snap_bytes(struct vdev_snap *s, const uint8_t *p, size_t n)
{
	if (s->hashing) {
		for (size_t i = 0; i < n; i++) {
			s->hash ^= p[i];
			s->hash *= FNV64_PRIME;
		}
	} else if (s->buf && n <= s->cap && s->pos <= s->cap - n) {
		memcpy(s->buf + s->pos, p, n);
	}
	s->pos += n;
}

static void snap_u8(struct vdev_snap *s, uint8_t v)
{
	snap_bytes(s, &v, 1);
}

static void snap_u16(struct vdev_snap *s, uint16_t v)
{
	uint8_t b[2];

	rs_st16(b, v);
	snap_bytes(s, b, sizeof b);
}

static void snap_u32(struct vdev_snap *s, uint32_t v)
{
	uint8_t b[4];

	rs_st32(b, v);
	snap_bytes(s, b, sizeof b);
}

static void snap_u64(struct vdev_snap *s, uint64_t v)
{
	uint8_t b[8];

	rs_st64(b, v);
	snap_bytes(s, b, sizeof b);
}

/* One queue: registers, then the ring engine's state (the ring contents
 * themselves live in guest memory, not here). */
static void snap_queue(struct vdev_snap *s, const struct vdev_queue *q)
{
	const struct vq *v = &q->vq;

	snap_u16(s, q->size);
	snap_u16(s, q->max);
	snap_u16(s, q->msix_vector);
	snap_u8(s, q->enabled);
	snap_u64(s, q->desc);
	snap_u64(s, q->driver);
	snap_u64(s, q->device);
	snap_u32(s, q->legacy_pfn);
	snap_u16(s, q->notify_off);

	snap_u8(s, (uint8_t)v->layout);
	snap_u16(s, v->num);
	snap_u64(s, v->desc);
	snap_u64(s, v->driver);
	snap_u64(s, v->device);
	snap_u64(s, v->features);
	snap_u8(s, v->ready);
	snap_u8(s, v->broken);
	snap_u16(s, v->last_avail);
	snap_u16(s, v->used_idx);
	snap_u16(s, v->signalled_used);
	snap_u8(s, v->signalled_valid);
	snap_u16(s, v->next_avail);
	snap_u8(s, v->avail_wrap);
	snap_u16(s, v->next_used);
	snap_u8(s, v->used_wrap);
	snap_u32(s, v->inflight);
	/* Which ids are in flight: num bits, only while the queue is set up. */
	if (v->ready) {
		snap_u8(s, 1);
		for (unsigned w = 0; w < ((unsigned)v->num + 63) / 64; w++)
			snap_u64(s, vq_inflight_word(v, w));
	} else {
		snap_u8(s, 0);
	}
}

/* Model-specific state, length-prefixed. The model is asked for its size
 * first and writes only when its bytes fit (hash mode: into a scratch
 * buffer; if that cannot be allocated the bytes are left out of the hash). */
static void snap_model(struct vdev_snap *s, const struct vdev *d)
{
	size_t n = d->ops->save ? d->ops->save(d, NULL, 0) : 0;

	snap_u32(s, (uint32_t)n);
	if (!n)
		return;
	if (s->hashing) {
		uint8_t small[256];
		uint8_t *tmp = n <= sizeof small ? small : malloc(n);

		if (tmp) {
			d->ops->save(d, tmp, n);
			snap_bytes(s, tmp, n);
			if (tmp != small)
				free(tmp);
		} else {
			s->pos += n;
		}
		return;
	}
	if (s->buf && n <= s->cap && s->pos <= s->cap - n)
		d->ops->save(d, s->buf + s->pos, n);
	s->pos += n;
}

/* Serialise, field by field, everything reset restores (see vdev.h). */
static void snap_device(struct vdev_snap *s, const struct vdev *d)
{
	snap_u32(s, VDEV_STATE_MAGIC);
	snap_u16(s, VDEV_STATE_VERSION);
	snap_u16(s, d->ops->device_id);
	snap_u8(s, d->status);
	snap_u8(s, d->isr);
	snap_u64(s, d->host_features);
	snap_u64(s, d->driver_features);
	snap_u32(s, d->dfselect);
	snap_u32(s, d->gfselect);
	snap_u16(s, d->queue_select);
	snap_u16(s, d->msix_config);
	snap_u32(s, d->config_generation);
	snap_u8(s, d->legacy);
	snap_u8(s, d->modern_capable);
	snap_u8(s, d->legacy_capable);
	snap_u64(s, d->generic_features);
	snap_u32(s, d->ops->config_size);
	if (d->ops->config_size)
		snap_bytes(s, d->config, d->ops->config_size);
	snap_u32(s, d->nqueues);
	for (unsigned i = 0; i < d->nqueues; i++)
		snap_queue(s, &d->queues[i]);
	snap_model(s, d);
}

/*
 * Deterministic little-endian snapshot. Returns the bytes the whole
 * snapshot needs; when cap is smaller only the leading fields that fit are
 * written (buf may be NULL with cap 0 to ask the size).
 */
size_t vdev_save_state(const struct vdev *d, uint8_t *buf, size_t cap)
{
	struct vdev_snap s = { .buf = buf, .cap = cap };

	snap_device(&s, d);
	return s.pos;
}

/* FNV-1a 64 over the bytes vdev_save_state() would produce. */
uint64_t vdev_state_hash(const struct vdev *d)
{
	struct vdev_snap s = { .hashing = true, .hash = FNV64_OFFSET };

	snap_device(&s, d);
	return s.hash;
}
