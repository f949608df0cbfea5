/*
 * ringside — the device table and the machine builder: machine spec text in,
 * a machine with every device on its transport out.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringside/ringside.h"
#include "devices.h"

/* Every model a machine spec can name, in one explicit list. */
const struct vdev_ops *const rs_devices[] = {
	&echo_ops,
	&console_ops,
	&rng_ops,
	&blk_ops,
	&vmmci_ops,
	&balloon_ops,
	&net_ops,
	&scsi_ops,
	NULL,
};

/* Test-only models (the oracles' deliberately broken device). Not in
 * rs_devices[], so no listing, target or generic machine includes them; a
 * machine spec reaches one only by its "test-" name. */
const struct vdev_ops *const rs_test_devices[] = {
	&broken_ops,
	NULL,
};

const struct vdev_ops *rs_device_find(const char *name)
{
	const struct vdev_ops *const *table =
		strncmp(name, "test-", 5) == 0 ? rs_test_devices : rs_devices;

	for (unsigned i = 0; table[i]; i++)
		if (strcmp(table[i]->name, name) == 0)
			return table[i];
	return NULL;
}

static void builder_destroy_vdev(void *ctx)
{
	vdev_destroy(ctx);
}

/* "echo, blk, ..." for error messages. */
static void device_names(char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (unsigned i = 0; rs_devices[i] && used < len; i++)
		used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? ", " : "",
					 rs_devices[i]->name);
}

/* Create device i of the spec and its transport on m. */
static int build_one(struct machine *m, struct mspec_dev *sd, unsigned i, char *err,
		     size_t errlen)
{
	const struct vdev_ops *ops = rs_device_find(sd->device);
	struct machine_devinfo *info = &m->devinfo[i];
	char name[16], inner[200];
	struct vdev *d;
	int r;

	if (!ops) {
		char names[160];
		device_names(names, sizeof names);
		snprintf(err, errlen, "machine spec: device %u: unknown device '%s' (known: %s)",
			 i + 1, sd->device, names);
		return -EINVAL;
	}
	snprintf(name, sizeof name, "%s%u", ops->name, i);
	r = vdev_create_ex(ops, &m->gm, m->world, i, name, &sd->args, &d, inner, sizeof inner);
	if (r < 0) {
		snprintf(err, errlen, "machine spec: device %u (%s): %s", i + 1, sd->device, inner);
		return r;
	}
	r = machine_add_part(m, builder_destroy_vdev, d);
	if (r < 0) {
		vdev_destroy(d);
		snprintf(err, errlen, "machine spec: too many devices");
		return r;
	}
	info->transport = (int)sd->transport;
	info->slot = -1;
	info->base = 0;
	switch (sd->transport) {
	case MSPEC_PCI:
	case MSPEC_PCI_MODERN:
	case MSPEC_PCI_LEGACY: {
		struct vpci_opts o = {
			.mode = sd->transport == MSPEC_PCI	   ? VPCI_TRANSITIONAL
				: sd->transport == MSPEC_PCI_MODERN ? VPCI_MODERN
								    : VPCI_LEGACY,
			.slot = sd->slot,
			.gsi = sd->irq,
			.msix = sd->msix,
			.vectors = sd->vectors,
			.disable = sd->disable,
		};
		r = vpci_create(m, d, &o, inner, sizeof inner);
		if (r >= 0) {
			info->slot = r;
			info->gsi = o.gsi >= 0 ? (unsigned)o.gsi : 16u + (unsigned)r % 8u;
		}
		break;
	}
	case MSPEC_MMIO:
	case MSPEC_MMIO_LEGACY: {
		struct vmmio_opts o = {
			.version = sd->transport == MSPEC_MMIO ? 2 : 1,
			.base = sd->addr,
			.gsi = sd->irq,
			.disable = sd->disable,
		};
		r = vmmio_create(m, d, &o, &info->base, &info->gsi, inner, sizeof inner);
		break;
	}
	default:
		snprintf(inner, sizeof inner, "bad transport");
		r = -EINVAL;
		break;
	}
	if (r < 0) {
		snprintf(err, errlen, "machine spec: device %u (%s:%s): %s", i + 1,
			 mspec_transport_name(sd->transport), sd->device, inner);
		return r;
	}
	m->devs[i] = d;
	return 0;
}

int rs_machine_new(const char *spec, struct machine **out, char *err, size_t errlen)
{
	return rs_machine_new_world(spec, NULL, out, err, errlen);
}

int rs_machine_new_world(const char *spec, struct world *world, struct machine **out, char *err,
			 size_t errlen)
{
	struct mspec *s = calloc(1, sizeof *s);
	struct machine *m = NULL;
	int r;

	*out = NULL;
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	r = mspec_parse(spec, s, err, errlen);
	if (r < 0)
		goto fail;
	m = calloc(1, sizeof *m);
	if (!m) {
		snprintf(err, errlen, "out of memory");
		r = -ENOMEM;
		goto fail;
	}
	r = machine_init(m, s->mem);
	if (r < 0) {
		snprintf(err, errlen, "machine spec: cannot set up %llu bytes of guest memory",
			 (unsigned long long)s->mem);
		free(m);
		m = NULL;
		goto fail;
	}
	m->world = world ? world : world_live_new();
	if (!m->world) {
		snprintf(err, errlen, "out of memory");
		r = -ENOMEM;
		goto fail;
	}
	/* Two passes: devices the spec places explicitly (slot=, addr=) first,
	 * so a device placed automatically never takes a place named later in
	 * the spec. Device indices stay in spec order. */
	for (unsigned pass = 0; pass < 2; pass++) {
		for (unsigned i = 0; i < s->ndev; i++) {
			const struct mspec_dev *sd = &s->dev[i];
			bool placed = sd->slot >= 0 || sd->addr != 0;
			if (placed != (pass == 0))
				continue;
			r = build_one(m, &s->dev[i], i, err, errlen);
			if (r < 0)
				goto fail;
		}
	}
	m->ndevs = s->ndev;
	mspec_format(s, m->spec, sizeof m->spec);
	free(s);
	*out = m;
	return 0;
fail:
	if (m) {
		struct world *w = m->world;
		machine_destroy(m);
		if (w && w != world)
			world_destroy(w);
		free(m);
	}
	free(s);
	return r;
}

void rs_machine_free(struct machine *m)
{
	if (!m)
		return;
	struct world *w = m->world;
	machine_destroy(m);
	world_destroy(w);
	free(m);
}

int rs_machine_poll_events(struct machine *m, unsigned max)
{
	struct world_event ev;
	unsigned n = 0;

	if (!m->world)
		return 0;
	while (n < max && world_next_event(m->world, &ev) == 1) {
		n++;
		if (ev.dev >= m->ndevs) {
			diag_report(&m->log, DIAG_HOST_EVENT,
				    "host event kind %d for device %u: no such device", ev.kind,
				    ev.dev);
			continue;
		}
		vdev_host_event(m->devs[ev.dev], &ev);
	}
	return (int)n;
}
