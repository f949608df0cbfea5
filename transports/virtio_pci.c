/*
 * ringside — virtio-pci: a device core exposed as a PCI function in legacy
 * (0.9.5 I/O BAR), modern (1.x capabilities) or transitional (both, as
 * QEMU's default virtio-*-pci devices) form. This file builds the function
 * (IDs, BARs, capabilities, MSI-X), places it as firmware would, and
 * delivers the device's interrupts; the register files are in
 * pci_legacy.c and pci_modern.c, the PCI function itself in pci.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "virtio_pci.h"

/* Transitional PCI device IDs (virtio-v1.2 4.1.2.3, "Legacy Interfaces"). */
static const struct {
	uint16_t virtio_id, pci_id;
} transitional_ids[] = {
	{ VIRTIO_ID_NET, 0x1000 },     { VIRTIO_ID_BLOCK, 0x1001 }, { VIRTIO_ID_BALLOON, 0x1002 },
	{ VIRTIO_ID_CONSOLE, 0x1003 }, { VIRTIO_ID_SCSI, 0x1004 },  { VIRTIO_ID_RNG, 0x1005 },
	{ 9 /* 9P transport */, 0x1009 },
};

#define VPCI_LEGACY_DEVICE_LAST 0x103f
#define VPCI_DEFAULT_CLASS 0xff00 /* "device does not fit any defined class" */

/*
 * PCI device ID for virtio device id in mode: modern-only devices use
 * 0x1040 + id (virtio-v1.2 4.1.2.1); legacy and transitional ones the
 * table above, other ids 0x1000 + id while that stays in 0x1000..0x103f
 * (legacy drivers read the virtio id from the subsystem ID). Returns 0
 * when no ID exists.
 */
static uint16_t vpci_device_id(uint16_t id, enum vpci_mode mode)
{
	if (id == 0)
		return 0;
	if (mode == VPCI_MODERN)
		return id <= 0xffff - VIRTIO_PCI_DEVICE_MODERN_BASE
			       ? (uint16_t)(VIRTIO_PCI_DEVICE_MODERN_BASE + id)
			       : 0;
	for (unsigned i = 0; i < RS_ARRAY_SIZE(transitional_ids); i++)
		if (transitional_ids[i].virtio_id == id)
			return transitional_ids[i].pci_id;
	if (VIRTIO_PCI_DEVICE_LEGACY_BASE + (unsigned)id <= VPCI_LEGACY_DEVICE_LAST)
		return (uint16_t)(VIRTIO_PCI_DEVICE_LEGACY_BASE + id);
	return 0;
}

/* ---- interrupts ------------------------------------------------------------------------- */

void vpci_isr_sync(struct vpci *v)
{
	if (!v->d->isr)
		pci_set_intx(&v->pf, false);
}

/*
 * Raise an interrupt for a config change or queue q. With MSI-X enabled the
 * vector the driver mapped is signalled, and nothing at all when it mapped
 * NO_VECTOR (virtio-v1.2 4.1.5.3, 4.1.5.4; INTx is off while MSI-X is on,
 * PCI Local Bus 3.0 6.8.2.3). Without MSI-X, INTx is asserted; the device
 * core has set the ISR bit already and the ISR read lowers the line.
 */
static void vpci_notify(void *tctx, struct vdev *d, bool config, unsigned q)
{
	struct vpci *v = tctx;
	uint16_t vec;

	if (pci_msix_enabled(&v->pf)) {
		if (config)
			vec = d->msix_config;
		else
			vec = q < d->nqueues ? d->queues[q].msix_vector : VIRTIO_MSI_NO_VECTOR;
		if (vec != VIRTIO_MSI_NO_VECTOR)
			(void)pci_msix_notify(&v->pf, vec);
		return;
	}
	pci_set_intx(&v->pf, true);
}

static const struct vdev_transport_ops vpci_tops = {
	.notify = vpci_notify,
};

/* ---- life cycle ------------------------------------------------------------------------- */

/* Teardown (a machine part): leave the slot and the address maps, free. */
static void vpci_destroy(void *ctx)
{
	struct vpci *v = ctx;

	(void)machine_pci_remove(v->m, (unsigned)v->slot, &v->pf);
	pci_unmap_all(&v->pf);
	free(v);
}

/*
 * machine_reset hook: the function back to how vpci_create left it (config
 * space, BARs at their first placement, MSI-X table and PBA, INTx low) and
 * the device to power-on (its host_reset op if any, then vdev_reset), with
 * its log and counters cleared.
 * Returns 1 when a BAR must wait for the second round (pci_func_reset).
 */
static int vpci_reset(void *ctx)
{
	struct vpci *v = ctx;

	if (v->pf.reset_pending)
		return pci_func_reset_finish(&v->pf);
	vdev_host_reset(v->d);
	vdev_reset(v->d);
	diag_clear(&v->d->log);
	memset(&v->d->stats, 0, sizeof(v->d->stats));
	return pci_func_reset(&v->pf);
}

/* Check options against the device. Returns 0 or -EINVAL with err set;
 * *nvec receives the MSI-X table size (0 without MSI-X). */
static int vpci_check(const struct vdev *d, const struct vpci_opts *o, unsigned *nvec, char *err,
		      size_t errlen)
{
	const struct vdev_ops *ops = d->ops;
	bool legacy = o->mode != VPCI_MODERN;

	if (o->mode != VPCI_LEGACY && o->mode != VPCI_MODERN && o->mode != VPCI_TRANSITIONAL) {
		snprintf(err, errlen, "%s: unknown virtio-pci mode %d", d->name, (int)o->mode);
		return -EINVAL;
	}
	if (o->slot != -1 && (o->slot < 1 || o->slot >= MACHINE_PCI_SLOTS)) {
		snprintf(err, errlen, "%s: PCI slot %d out of range (1..%d, or -1 for any)",
			 d->name, o->slot, MACHINE_PCI_SLOTS - 1);
		return -EINVAL;
	}
	if (o->gsi != -1 && (o->gsi < 0 || o->gsi >= MACHINE_GSI_COUNT)) {
		snprintf(err, errlen, "%s: GSI %d out of range (0..%d, or -1 for the default)",
			 d->name, o->gsi, MACHINE_GSI_COUNT - 1);
		return -EINVAL;
	}
	if (o->vectors > VPCI_MSIX_MAX_VECTORS) {
		snprintf(err, errlen, "%s: %u MSI-X vectors, at most %u", d->name, o->vectors,
			 VPCI_MSIX_MAX_VECTORS);
		return -EINVAL;
	}
	/* 0: one per queue plus the config vector, as QEMU and Linux expect */
	*nvec = !o->msix ? 0
		: o->vectors ? o->vectors
			     : RS_MIN(d->nqueues + 1u, VPCI_MSIX_MAX_VECTORS);
	if (d->nqueues > VPCI_MAX_QUEUES) {
		snprintf(err, errlen, "%s: %u queues, virtio-pci here exposes at most %u", d->name,
			 d->nqueues, (unsigned)VPCI_MAX_QUEUES);
		return -EINVAL;
	}
	if (!ops->pci_vendor && !vpci_device_id(ops->device_id, o->mode)) {
		snprintf(err, errlen, "%s: virtio device id %u has no %s PCI device ID", d->name,
			 ops->device_id, legacy ? "legacy/transitional" : "modern");
		return -EINVAL;
	}
	if (o->mode != VPCI_LEGACY && ops->config_size > VPCI_REGION_MAX) {
		snprintf(err, errlen, "%s: %u bytes of device config, the modern BAR holds %u",
			 d->name, ops->config_size, VPCI_REGION_MAX);
		return -EINVAL;
	}
	if (legacy && (uint64_t)ops->config_size + VIRTIO_PCI_LEGACY_CONFIG_MSIX >
			      VPCI_LEGACY_BAR_MAX) {
		snprintf(err, errlen, "%s: %u bytes of device config do not fit the legacy I/O BAR",
			 d->name, ops->config_size);
		return -EINVAL;
	}
	return 0;
}

/* Build the function's config space and BARs. Returns 0 or -errno. */
static int vpci_build(struct vpci *v, unsigned nvec)
{
	const struct vdev_ops *ops = v->d->ops;
	bool legacy = v->mode != VPCI_MODERN, modern = v->mode != VPCI_LEGACY;
	uint16_t vendor = VIRTIO_PCI_VENDOR, device = vpci_device_id(ops->device_id, v->mode);
	uint16_t class16 = ops->pci_class ? ops->pci_class : VPCI_DEFAULT_CLASS;
	int r;

	if (ops->pci_vendor) {
		vendor = ops->pci_vendor;
		device = ops->pci_device;
	}

	/* virtio-v1.2 4.1.2.1: revision 1 marks a non-transitional device;
	 * transitional devices have revision 0 and the subsystem device ID
	 * set to the virtio device id (4.1.2.3). */
	pci_set_ids(&v->pf, vendor, device, v->mode == VPCI_MODERN ? 1 : 0, class16,
		    VIRTIO_PCI_SUBSYS_VENDOR, ops->device_id);
	r = 0;
	if (legacy) {
		v->legacy_size = vpci_legacy_bar_size(ops->config_size);
		r = pci_set_bar(&v->pf, VPCI_LEGACY_BAR, PCI_BAR_KIND_IO, v->legacy_size,
				&vpci_legacy_ops, v);
	}
	if (!r && nvec) {
		r = pci_msix_init(&v->pf, nvec, VPCI_MSIX_BAR, VPCI_MSIX_BAR_SIZE,
				  VPCI_MSIX_TABLE_OFF, VPCI_MSIX_PBA_OFF);
		r = r < 0 ? r : 0;
		v->nvectors = nvec;
	}
	if (!r && modern) {
		r = pci_set_bar(&v->pf, VPCI_MODERN_BAR, PCI_BAR_KIND_MEM64, VPCI_BAR_SIZE,
				&vpci_modern_ops, v);
		if (!r)
			r = vpci_modern_add_caps(v);
		v->pf.hooks = &vpci_modern_hooks;
		v->pf.owner = v;
	}
	return r;
}

/*
 * Expose d over virtio-pci on m (see transport.h). The default GSI is
 * 16 + slot % 8: the PCI INTx lines of a PC's IOAPIC, shared by slots
 * eight apart. BARs are placed and decode enabled here, as firmware would,
 * so the device works before the guest touches its BARs.
 */
int vpci_create(struct machine *m, struct vdev *d, const struct vpci_opts *o, char *err,
		size_t errlen)
{
	unsigned nvec = 0;
	struct vpci *v;
	int slot, r;

	if (!m || !d || !o) {
		snprintf(err, errlen, "vpci_create: machine, device and options are required");
		return -EINVAL;
	}
	r = vpci_check(d, o, &nvec, err, errlen);
	if (r < 0)
		return r;
	v = calloc(1, sizeof(*v));
	if (!v) {
		snprintf(err, errlen, "%s: out of memory", d->name);
		return -ENOMEM;
	}
	v->m = m;
	v->d = d;
	v->mode = o->mode;
	pci_func_init(&v->pf, m, &d->log, d->name);
	if (vpci_build(v, nvec) < 0) {
		/* the options were checked: only a lack of config space is left */
		snprintf(err, errlen, "%s: PCI capabilities do not fit config space", d->name);
		free(v);
		return -ENOSPC;
	}

	slot = machine_pci_add(m, o->slot, &pci_func_dev_ops, &v->pf);
	if (slot < 0) {
		if (slot == -EEXIST)
			snprintf(err, errlen, "%s: PCI slot %d is taken", d->name, o->slot);
		else
			snprintf(err, errlen, "%s: no free PCI slot", d->name);
		free(v);
		return slot;
	}
	v->slot = slot;
	pci_set_gsi(&v->pf, o->gsi >= 0 ? (unsigned)o->gsi : 16u + (unsigned)slot % 8u);
	r = pci_place_bars(&v->pf);
	if (r < 0) {
		snprintf(err, errlen, "%s: %s", d->name,
			 r == -ENOSPC ? "PCI BAR windows are full" : "BAR placement overlaps");
		goto undo;
	}
	pci_func_snapshot(&v->pf);
	r = machine_add_part_reset(m, vpci_destroy, vpci_reset, v);
	if (r < 0) {
		snprintf(err, errlen, "%s: too many machine parts", d->name);
		r = -ENOSPC;
		goto undo;
	}
	vdev_bind_transport(d, &vpci_tops, v, v->mode != VPCI_LEGACY, v->mode != VPCI_MODERN,
			    o->disable);
	return slot;

undo:
	vpci_destroy(v);
	return r;
}
