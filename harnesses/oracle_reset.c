/*
 * ringside — the reset oracle ("reset", docs/oracles.md).
 *
 * 1. Power-on state: when the harness attaches, every device's state
 *    (vdev_save_state: the device core with its config space and queues,
 *    then the model's own state) is saved; after every machine_reset it
 *    must be byte for byte the same again. machine_reset calls the model's
 *    host_reset op first, so host-owned state (what host events and
 *    backends set) is back at its value after create() as well.
 *    A model without host_reset whose host-owned state host events change
 *    (it has a host_event op; the balloon's target, console sizes) cannot
 *    be put back: after an input with world ops, such a device's state
 *    after reset becomes its new reference (documented, so it is checked
 *    strictly again on every input without world ops).
 * 2. Not wedged: after the reset, every device the input touched (the
 *    input reached its model: world ops ran, or its status, notifies,
 *    resets, interrupts, config generation or config space moved) gets
 *    the canary request of its model (oracle_canary.c) from the
 *    reference driver, which must complete correctly; then the machine is
 *    reset again for the next input. Once world ops ran, a model without
 *    host_reset that takes host events may answer differently for good (a
 *    SCSI LUN the host removed stays removed): from then on its canary
 *    only has to initialise and complete within the writable space.
 */
#include <stdlib.h>
#include <string.h>

#include "oracle.h"

#define ORACLE "reset"

struct reset_dev {
	uint8_t *power;          /* reference state (power-on, see above) */
	size_t power_len, power_cap;
	uint8_t *config;         /* config space at power-on */
	bool hostside;           /* host_event without host_reset */
	bool host_moved;         /* hostside, and world ops ran since the harness began */
	bool touched;            /* this input used it */
};

struct reset_machine {
	struct fuzz_machine *fm;
	struct reset_dev *devs;
};

struct reset_oracle {
	struct reset_machine m[FUZZ_MAX_MACHINES];
	unsigned n;
	uint8_t *scratch;
	size_t scratch_cap;
	struct gdrv_dev *g;      /* the canary's driver (large: not on the stack) */
	bool world_ops;          /* this input had world ops */
};

/* Take vd's current state as its reference. Returns 0 or -1 (no memory). */
static int reset_reference(struct reset_oracle *o, struct reset_dev *rd, const struct vdev *vd)
{
	size_t n = oracle_save_state(vd, &rd->power, &rd->power_cap);

	if (!n)
		return -1;
	if (vd->ops->config_size)
		memcpy(rd->config, vd->config, vd->ops->config_size);
	rd->power_len = n;
	return 0;
}

/* Where two snapshots of vd first differ, in words. */
static void reset_diff(const struct vdev *vd, const uint8_t *a, size_t alen, const uint8_t *b,
		       size_t blen, char *out, size_t len)
{
	size_t i = 0, model = vd->ops->save ? vd->ops->save(vd, NULL, 0) : 0;

	while (i < alen && i < blen && a[i] == b[i])
		i++;
	if (alen != blen)
		snprintf(out, len, "%zu bytes instead of %zu (first difference at byte %zu)", blen,
			 alen, i);
	else
		snprintf(out, len, "byte %zu of %zu differs (0x%02x instead of 0x%02x), in %s", i,
			 alen, b[i], a[i],
			 i + model >= alen ? "the model's own state (ops->save)"
					   : "the device core (status, features, config, queues)");
}

/* Every device of rm against its reference, after `when`: the snapshot
 * compared byte for byte (a copy and a memcmp cost less than hashing it). */
static void reset_check(struct reset_oracle *o, struct reset_machine *rm, struct fuzz_exec *x,
			const char *when)
{
	for (unsigned i = 0; i < rm->fm->ndevs; i++) {
		const struct vdev *vd = rm->fm->devs[i].vd;
		struct reset_dev *rd = &rm->devs[i];
		size_t n;
		char why[160];

		n = oracle_save_state(vd, &o->scratch, &o->scratch_cap);
		if (!n || (n == rd->power_len && memcmp(o->scratch, rd->power, n) == 0))
			continue;
		if (rd->hostside && o->world_ops) {
			/* host-owned state moved and the model cannot put it back */
			(void)reset_reference(o, rd, vd);
			continue;
		}
		reset_diff(vd, rd->power, rd->power_len, o->scratch, n, why, sizeof(why));
		fuzz_bug(x, ORACLE, "%s (%s): state after %s is not its power-on state: %s",
			 vd->name, mspec_transport_name(rm->fm->devs[i].transport), when, why);
	}
}

static struct reset_machine *reset_machine_of(struct reset_oracle *o, const struct fuzz_exec *x)
{
	for (unsigned i = 0; i < o->n; i++)
		if (o->m[i].fm == x->fm)
			return &o->m[i];
	return NULL;
}

/* ---- hooks -------------------------------------------------------------------------- */

static void reset_detach(void *state)
{
	struct reset_oracle *o = state;

	if (!o)
		return;
	for (unsigned i = 0; i < o->n; i++) {
		for (unsigned d = 0; o->m[i].devs && d < o->m[i].fm->ndevs; d++) {
			free(o->m[i].devs[d].power);
			free(o->m[i].devs[d].config);
		}
		free(o->m[i].devs);
	}
	free(o->scratch);
	free(o->g);
	free(o);
}

static int reset_attach(struct fuzz_harness *h, void **state)
{
	struct fuzz_machine *fms[FUZZ_MAX_MACHINES];
	unsigned n = fuzz_harness_machines(h, fms, FUZZ_MAX_MACHINES);
	struct reset_oracle *o;

	*state = NULL;
	if (!n)
		return 0;
	o = calloc(1, sizeof(*o));
	if (!o || !(o->g = calloc(1, sizeof(*o->g)))) {
		free(o);
		return -1;
	}
	for (unsigned i = 0; i < n; i++) {
		struct reset_machine *rm = &o->m[o->n++];

		rm->fm = fms[i];
		rm->devs = calloc(RS_MAX(fms[i]->ndevs, 1u), sizeof(*rm->devs));
		if (!rm->devs) {
			reset_detach(o);
			return -1;
		}
		for (unsigned d = 0; d < fms[i]->ndevs; d++) {
			const struct vdev *vd = fms[i]->devs[d].vd;

			rm->devs[d].hostside = vd->ops->host_event && !vd->ops->host_reset;
			rm->devs[d].config = malloc(RS_MAX(vd->ops->config_size, 1u));
			if (!rm->devs[d].config || reset_reference(o, &rm->devs[d], vd) < 0) {
				reset_detach(o);
				return -1;
			}
		}
	}
	*state = o;
	return 0;
}

static void reset_begin_input(void *state, struct fuzz_exec *x)
{
	struct reset_oracle *o = state;

	if (o)
		o->world_ops = false;
}

static void reset_after_op(void *state, struct fuzz_exec *x)
{
	struct reset_oracle *o = state;

	if (o && (x->op.code == FOP_WORLD_EVENT || x->op.code == FOP_WORLD_FAULT ||
		  x->op.code == FOP_WORLD_CLOCK))
		o->world_ops = true;
}

static void reset_end_input(void *state, struct fuzz_exec *x)
{
	struct reset_oracle *o = state;
	struct reset_machine *rm = o ? reset_machine_of(o, x) : NULL;

	if (!rm)
		return;
	/* Whatever reached the device model leaves a trace here: host events
	 * delivered to it, status (features, DRIVER_OK), notifies, resets,
	 * interrupts, config changes and writes. Register reads alone do not
	 * count (the driver only read what the device shows), nor do world
	 * inputs that never reached it: backend answers, faults and entropy
	 * are only consulted for requests (notifies), the clock only by a
	 * model the input reached some other way. */
	for (unsigned i = 0; i < rm->fm->ndevs; i++) {
		const struct fuzz_dev *fd = &rm->fm->devs[i];
		const struct vdev *vd = fd->vd;

		rm->devs[i].touched = vd->stats.host_events || vd->status || vd->stats.notifies ||
				      vd->stats.resets || vd->stats.irqs || vd->config_generation ||
				      (vd->ops->config_size &&
				       memcmp(vd->config, rm->devs[i].config, vd->ops->config_size));
	}
}

/* The canary of device i of rm; a failure is a bug. */
static void reset_canary(struct reset_oracle *o, struct reset_machine *rm, unsigned i,
			 struct fuzz_exec *x)
{
	struct fuzz_dev *fd = &rm->fm->devs[i];
	const struct fuzz_canary *c = fuzz_canary_find(fd->vd->ops->name);
	char why[160];

	if (fuzz_canary_run(rm->fm, fd, o->g, !rm->devs[i].host_moved, why, sizeof(why)) == 0) {
		if (!diag_count_class(&fd->vd->log, DIAG_CLASS_DEVICE))
			return;
		snprintf(why, sizeof(why), "it reported a DEVICE-class diagnostic");
	}
	fuzz_bug(x, ORACLE, "%s (%s) is wedged after machine_reset: the canary (%s) failed: %s",
		 fd->vd->name, mspec_transport_name(fd->transport), c ? c->what : "driver init only",
		 why);
}

static void reset_after_reset(void *state, struct fuzz_exec *x)
{
	struct reset_oracle *o = state;
	struct reset_machine *rm = o ? reset_machine_of(o, x) : NULL;
	struct owatch *w;
	const char *phase = NULL;
	bool ran = false;

	if (!rm)
		return;
	reset_check(o, rm, x, "machine_reset");
	/* the watch (if another oracle installed one) names the phase */
	w = owatch_find(rm->fm);
	if (w) {
		phase = w->phase;
		w->phase = " during the reset oracle's canary request";
	}
	for (unsigned i = 0; i < rm->fm->ndevs; i++) {
		if (!rm->devs[i].touched)
			continue;
		ran = true;
		if (rm->devs[i].hostside && o->world_ops)
			rm->devs[i].host_moved = true;
		reset_canary(o, rm, i, x);
	}
	if (w)
		w->phase = phase;
	/* Back to power-on for the next input. Not checked again: state the
	 * canary left behind that this reset does not clear is still there
	 * after the next input's reset, and reported then. */
	if (ran)
		fuzz_machine_reset(rm->fm);
}

const struct fuzz_oracle fuzz_oracle_reset = {
	.name = ORACLE,
	.attach = reset_attach,
	.begin_input = reset_begin_input,
	.after_op = reset_after_op,
	.end_input = reset_end_input,
	.after_reset = reset_after_reset,
	.detach = reset_detach,
};
