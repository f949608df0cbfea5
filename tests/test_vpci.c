/*
 * ringside tests — virtio-pci (transports/virtio_pci.c, pci_legacy.c,
 * pci_modern.c): IDs per mode, BARs and capabilities, every register of the
 * legacy I/O BAR and of the modern structures, the PCI configuration access
 * capability, MSI-X and INTx delivery, invalid accesses, and a full driver
 * bring-up by hand on each interface. Everything goes through conf1 ports
 * and the machine's address maps, as a guest would.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ringside/transport.h"
#include "../transports/virtio_pci.h"

/* ---- a small test device --------------------------------------------------------- */

#define TQ 2
#define TQMAX 64
#define TFEAT 0x9ull
#define TCFG_SIZE 16

static const struct vdev_cfg_field tcfg_fields[] = {
	{ 0, 1, 1 }, /* u8 rw */
	{ 1, 1, 0 }, /* u8 ro, 0x5a */
	{ 2, 2, 0 }, /* le16 ro, 0xbeef */
	{ 4, 4, 1 }, /* le32 rw */
	{ 8, 8, 0 }, /* le64 ro */
};

static unsigned notified[TQ];

static void t_config_read(struct vdev *d, uint32_t off, uint32_t len)
{
	d->config[1] = 0x5a;
	rs_st16(d->config + 2, 0xbeef);
	rs_st64(d->config + 8, 0x1122334455667788ull);
}

/* Completes every available chain with 0 bytes written, then interrupts. */
static void t_queue_notify(struct vdev *d, unsigned q)
{
	struct vdev_queue *vq = vdev_queue(d, q);
	struct vq_chain c;

	notified[q]++;
	while (vq_pop(&vq->vq, &c) > 0)
		if (vq_push(&vq->vq, &c, 0) < 0)
			break;
	vdev_queue_interrupt(d, q);
}

static const struct vdev_ops t_ops = {
	.name = "tdev",
	.device_id = VIRTIO_ID_RNG,
	.pci_class = 0x0780,
	.num_queues = TQ,
	.queue_max = TQMAX,
	.features = TFEAT,
	.config_size = TCFG_SIZE,
	.cfg_fields = tcfg_fields,
	.ncfg_fields = RS_ARRAY_SIZE(tcfg_fields),
	.config_read = t_config_read,
	.queue_notify = t_queue_notify,
};

static const struct io_ops vpci_test_null_ops = { 0 };

/* ---- fixture --------------------------------------------------------------------- */

struct vx {
	struct machine m;
	struct vdev *d;
	int slot;
	uint16_t io;             /* legacy BAR 0 */
	uint64_t bar4, msix;     /* modern BAR, MSI-X BAR */
	unsigned gsi;
	unsigned cap[10];        /* vendor capability offset by cfg_type */
	unsigned msix_cap;
	unsigned ncaps;
};

static uint32_t cfg_rd(struct machine *m, unsigned slot, unsigned off, unsigned size)
{
	machine_pio_write(m, PCI_CONF1_ADDR_PORT, 4, PCI_CONF1_ENABLE | slot << 11 | (off & 0xfc));
	return (uint32_t)machine_pio_read(m, (uint16_t)(PCI_CONF1_DATA_PORT + (off & 3)), size);
}

static void cfg_wr(struct machine *m, unsigned slot, unsigned off, unsigned size, uint32_t val)
{
	machine_pio_write(m, PCI_CONF1_ADDR_PORT, 4, PCI_CONF1_ENABLE | slot << 11 | (off & 0xfc));
	machine_pio_write(m, (uint16_t)(PCI_CONF1_DATA_PORT + (off & 3)), size, val);
}

static uint32_t pc_rd(struct vx *x, unsigned off, unsigned size)
{
	return cfg_rd(&x->m, (unsigned)x->slot, off, size);
}

static void pc_wr(struct vx *x, unsigned off, unsigned size, uint32_t val)
{
	cfg_wr(&x->m, (unsigned)x->slot, off, size, val);
}

/* What a driver's probe finds: BAR addresses, capabilities. */
static void vx_discover(struct vx *x)
{
	uint32_t b0 = pc_rd(x, PCI_BAR0, 4), b1 = pc_rd(x, PCI_BAR0 + 4, 4);
	uint32_t b4 = pc_rd(x, PCI_BAR0 + 16, 4), b5 = pc_rd(x, PCI_BAR0 + 20, 4);
	unsigned p, n = 0;

	x->io = (b0 & PCI_BAR_IO) ? (uint16_t)(b0 & ~3u) : 0;
	x->msix = b1 & ~0xfu;
	x->bar4 = (b4 & PCI_BAR_MEM64) ? ((b4 & ~0xfull) | (uint64_t)b5 << 32) : 0;
	memset(x->cap, 0, sizeof(x->cap));
	x->msix_cap = 0;
	if (pc_rd(x, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST) {
		for (p = pc_rd(x, PCI_CAPABILITY_LIST, 1); p && n < 48; n++) {
			unsigned id = pc_rd(x, p, 1);

			if (id == PCI_CAP_ID_VNDR) {
				unsigned type = pc_rd(x, p + 3, 1);
				if (type < 10 && !x->cap[type])
					x->cap[type] = p;
			} else if (id == PCI_CAP_ID_MSIX) {
				x->msix_cap = p;
			}
			p = pc_rd(x, p + 1, 1);
		}
	}
	x->ncaps = n;
	x->gsi = pc_rd(x, PCI_INTERRUPT_LINE, 1);
}

static struct vx *vx_new_with(const struct vdev_ops *ops, const struct vpci_opts *o)
{
	struct vx *x = calloc(1, sizeof(*x));
	char err[128] = "";

	CHECK_EQ(machine_init(&x->m, 16u << 20), 0);
	CHECK_EQ(vdev_create(ops, &x->m.gm, NULL, NULL, &x->d, err, sizeof(err)), 0);
	x->slot = vpci_create(&x->m, x->d, o, err, sizeof(err));
	CHECK(x->slot >= 1);
	if (x->slot < 1)
		fprintf(stderr, "vpci_create: %s\n", err);
	else
		vx_discover(x);
	memset(notified, 0, sizeof(notified));
	return x;
}

static struct vx *vx_new(enum vpci_mode mode, bool msix)
{
	struct vpci_opts o = { .mode = mode, .slot = -1, .gsi = -1, .msix = msix };

	return vx_new_with(&t_ops, &o);
}

static void vx_free(struct vx *x)
{
	machine_destroy(&x->m);
	vdev_destroy(x->d);
	free(x);
}

static uint32_t dc(struct vx *x, enum diag_code c)
{
	return diag_count(&x->d->log, c);
}

/* legacy I/O BAR */
static uint64_t lg_rd(struct vx *x, unsigned off, unsigned size)
{
	return machine_pio_read(&x->m, (uint16_t)(x->io + off), size);
}

static void lg_wr(struct vx *x, unsigned off, unsigned size, uint64_t val)
{
	machine_pio_write(&x->m, (uint16_t)(x->io + off), size, val);
}

/* modern BAR 4 */
static uint64_t mb_rd(struct vx *x, unsigned off, unsigned size)
{
	return machine_mmio_read(&x->m, x->bar4 + off, size);
}

static void mb_wr(struct vx *x, unsigned off, unsigned size, uint64_t val)
{
	machine_mmio_write(&x->m, x->bar4 + off, size, val);
}

static bool intx_high(struct vx *x)
{
	return (x->m.intx_level >> x->gsi) & 1;
}

static const struct machine_msi *last_msi(struct vx *x)
{
	return &x->m.msi_log[(x->m.msi_count - 1) % MACHINE_MSI_LOG];
}

static void msix_enable(struct vx *x, bool on)
{
	pc_wr(x, x->msix_cap + PCI_MSIX_FLAGS, 2, on ? PCI_MSIX_FLAGS_ENABLE : 0);
}

static void msix_entry(struct vx *x, unsigned v, uint32_t addr, uint32_t data)
{
	machine_mmio_write(&x->m, x->msix + v * 16, 4, addr);
	machine_mmio_write(&x->m, x->msix + v * 16 + 4, 4, 0);
	machine_mmio_write(&x->m, x->msix + v * 16 + 8, 4, data);
	machine_mmio_write(&x->m, x->msix + v * 16 + 12, 4, 0);
}

/* ---- guest-side split ring helpers ----------------------------------------------- */

struct ring {
	uint64_t desc, avail, used;
	uint16_t num, next;
};

/* Make one device-writable 16-byte buffer available as the next chain. */
static void ring_put(struct vx *x, struct ring *r, uint64_t buf)
{
	uint8_t d[16], b[2];
	uint16_t slot = r->next % r->num;

	rs_st64(d, buf);
	rs_st32(d + 8, 16);
	rs_st16(d + 12, VIRTQ_DESC_F_WRITE);
	rs_st16(d + 14, 0);
	CHECK_EQ(gm_guest_write(&x->m.gm, r->desc + 16u * slot, d, 16), 0);
	rs_st16(b, slot);
	CHECK_EQ(gm_guest_write(&x->m.gm, r->avail + 4 + 2u * slot, b, 2), 0);
	r->next++;
	rs_st16(b, r->next);
	CHECK_EQ(gm_guest_write(&x->m.gm, r->avail + 2, b, 2), 0);
}

static uint16_t ring_used_idx(struct vx *x, const struct ring *r)
{
	uint8_t b[2] = { 0, 0 };

	CHECK_EQ(gm_guest_read(&x->m.gm, r->used + 2, b, 2), 0);
	return rs_le16(b);
}

/* ---- IDs ------------------------------------------------------------------------- */

static struct vdev_ops id_ops[16];

static const struct vdev_ops *ops_with_id(unsigned i, uint16_t id)
{
	id_ops[i] = t_ops;
	id_ops[i].device_id = id;
	return &id_ops[i];
}

static void test_ids_per_mode(void)
{
	static const struct {
		uint16_t id, transitional, modern;
	} ids[] = {
		{ VIRTIO_ID_NET, 0x1000, 0x1041 },     { VIRTIO_ID_BLOCK, 0x1001, 0x1042 },
		{ VIRTIO_ID_BALLOON, 0x1002, 0x1045 }, { VIRTIO_ID_CONSOLE, 0x1003, 0x1043 },
		{ VIRTIO_ID_SCSI, 0x1004, 0x1048 },    { VIRTIO_ID_RNG, 0x1005, 0x1044 },
		{ 9, 0x1009, 0x1049 },                 { 6, 0x1006, 0x1046 },
		{ VIRTIO_ID_RS_ECHO, 0x103f, 0x107f },
	};

	for (unsigned i = 0; i < RS_ARRAY_SIZE(ids); i++) {
		for (int mode = VPCI_LEGACY; mode <= VPCI_TRANSITIONAL; mode++) {
			struct vpci_opts o = { .mode = mode, .slot = -1, .gsi = -1, .msix = true };
			struct vx *x = vx_new_with(ops_with_id(i, ids[i].id), &o);

			CHECK_EQ(pc_rd(x, PCI_VENDOR_ID, 2), VIRTIO_PCI_VENDOR);
			CHECK_EQ(pc_rd(x, PCI_DEVICE_ID, 2),
				 mode == VPCI_MODERN ? ids[i].modern : ids[i].transitional);
			CHECK_EQ(pc_rd(x, PCI_REVISION_ID, 1), mode == VPCI_MODERN ? 1 : 0);
			CHECK_EQ(pc_rd(x, PCI_SUBSYSTEM_VENDOR_ID, 2), VIRTIO_PCI_SUBSYS_VENDOR);
			CHECK_EQ(pc_rd(x, PCI_SUBSYSTEM_ID, 2), ids[i].id);
			CHECK_EQ(pc_rd(x, PCI_CLASS_DEVICE, 2), 0x0780);
			CHECK_EQ(pc_rd(x, PCI_CLASS_PROG, 1), 0);
			CHECK_EQ(pc_rd(x, PCI_HEADER_TYPE, 1), 0);
			CHECK_EQ(pc_rd(x, PCI_INTERRUPT_PIN, 1), 1);
			vx_free(x);
		}
	}
}

static void test_ids_special(void)
{
	struct vpci_opts o = { .mode = VPCI_LEGACY, .slot = -1, .gsi = -1 };
	struct vdev_ops vendor = t_ops, noclass = t_ops, big = t_ops, zero = t_ops;
	struct machine m;
	struct vdev *d;
	char err[128];
	struct vx *x;

	/* a model with its own PCI IDs keeps them in every mode */
	vendor.pci_vendor = 0x0b5d;
	vendor.pci_device = 0x0777;
	for (int mode = VPCI_LEGACY; mode <= VPCI_TRANSITIONAL; mode++) {
		o.mode = mode;
		x = vx_new_with(&vendor, &o);
		CHECK_EQ(pc_rd(x, 0, 4), 0x07770b5du);
		CHECK_EQ(pc_rd(x, PCI_SUBSYSTEM_ID, 2), VIRTIO_ID_RNG);
		vx_free(x);
	}
	/* no class given: 0xff00 */
	noclass.pci_class = 0;
	o.mode = VPCI_MODERN;
	x = vx_new_with(&noclass, &o);
	CHECK_EQ(pc_rd(x, PCI_CLASS_DEVICE, 2), 0xff00);
	vx_free(x);

	/* id 64: a modern ID exists (0x1080), a transitional one does not */
	big.device_id = 64;
	x = vx_new_with(&big, &o);
	CHECK_EQ(pc_rd(x, PCI_DEVICE_ID, 2), 0x1080);
	vx_free(x);
	zero.device_id = 0;
	CHECK_EQ(machine_init(&m, 1u << 20), 0);
	for (int mode = VPCI_LEGACY; mode <= VPCI_TRANSITIONAL; mode++) {
		o.mode = mode;
		CHECK_EQ(vdev_create(&big, &m.gm, NULL, NULL, &d, err, sizeof(err)), 0);
		CHECK_EQ(vpci_create(&m, d, &o, err, sizeof(err)),
			 mode == VPCI_MODERN ? 1 : -EINVAL);
		vdev_destroy(d);
		CHECK_EQ(vdev_create(&zero, &m.gm, NULL, NULL, &d, err, sizeof(err)), 0);
		err[0] = 0;
		CHECK_EQ(vpci_create(&m, d, &o, err, sizeof(err)), -EINVAL);
		CHECK(strstr(err, "device ID") != NULL);
		vdev_destroy(d);
	}
	machine_destroy(&m);
}

/* ---- creation -------------------------------------------------------------------- */

static void dummy_destroy(void *ctx)
{
}

static void test_create_validation(void)
{
	struct machine m;
	struct vdev *d;
	char err[128];
	struct vpci_opts o = { .mode = VPCI_TRANSITIONAL, .slot = -1, .gsi = -1, .msix = true };
	struct vpci_opts bad;

	CHECK_EQ(machine_init(&m, 1u << 20), 0);
	CHECK_EQ(vdev_create(&t_ops, &m.gm, NULL, NULL, &d, err, sizeof(err)), 0);
	CHECK_EQ(vpci_create(&m, d, NULL, err, sizeof(err)), -EINVAL);
	CHECK_EQ(vpci_create(NULL, d, &o, err, sizeof(err)), -EINVAL);
	CHECK_EQ(vpci_create(&m, NULL, &o, err, sizeof(err)), -EINVAL);
	bad = o, bad.mode = (enum vpci_mode)7;
	CHECK_EQ(vpci_create(&m, d, &bad, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "mode") != NULL);
	bad = o, bad.slot = 0;
	CHECK_EQ(vpci_create(&m, d, &bad, err, sizeof(err)), -EINVAL);
	bad.slot = 32;
	CHECK_EQ(vpci_create(&m, d, &bad, err, sizeof(err)), -EINVAL);
	bad.slot = -2;
	CHECK_EQ(vpci_create(&m, d, &bad, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "slot") != NULL);
	bad = o, bad.gsi = MACHINE_GSI_COUNT;
	CHECK_EQ(vpci_create(&m, d, &bad, err, sizeof(err)), -EINVAL);
	bad.gsi = -2;
	CHECK_EQ(vpci_create(&m, d, &bad, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "GSI") != NULL);
	bad = o, bad.vectors = VPCI_MSIX_MAX_VECTORS + 1;
	CHECK_EQ(vpci_create(&m, d, &bad, err, sizeof(err)), -EINVAL);
	bad.msix = false;
	CHECK_EQ(vpci_create(&m, d, &bad, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "vectors") != NULL);
	/* nothing was left behind by the failures */
	CHECK_EQ(m.nparts, 0);
	CHECK_EQ(m.mmio.n, 0);
	CHECK_EQ(m.pio.n, 2);
	for (int s = 1; s < MACHINE_PCI_SLOTS; s++)
		CHECK(m.pci[s].ops == NULL);

	/* a taken slot */
	bad = o, bad.slot = 5;
	CHECK_EQ(vpci_create(&m, d, &bad, err, sizeof(err)), 5);
	struct vdev *d2;
	CHECK_EQ(vdev_create(&t_ops, &m.gm, NULL, NULL, &d2, err, sizeof(err)), 0);
	CHECK_EQ(vpci_create(&m, d2, &bad, err, sizeof(err)), -EEXIST);
	CHECK(strstr(err, "taken") != NULL);
	CHECK_EQ(m.nparts, 1);
	/* the first free slot otherwise */
	CHECK_EQ(vpci_create(&m, d2, &o, err, sizeof(err)), 1);
	machine_destroy(&m);
	vdev_destroy(d);
	vdev_destroy(d2);
}

static void test_create_resources(void)
{
	struct machine m;
	struct vdev *d;
	char err[128];
	struct vpci_opts o = { .mode = VPCI_TRANSITIONAL, .slot = -1, .gsi = -1, .msix = true };
	static const struct pci_dev_ops nops = { 0 };
	struct pci_dev_ops dops;

	(void)nops;
	CHECK_EQ(machine_init(&m, 1u << 20), 0);
	CHECK_EQ(vdev_create(&t_ops, &m.gm, NULL, NULL, &d, err, sizeof(err)), 0);

	/* every slot taken */
	dops = pci_func_dev_ops;
	for (int s = 1; s < MACHINE_PCI_SLOTS; s++)
		CHECK_EQ(machine_pci_add(&m, s, &dops, &m), s);
	CHECK_EQ(vpci_create(&m, d, &o, err, sizeof(err)), -ENOSPC);
	CHECK(strstr(err, "slot") != NULL);
	CHECK_EQ(machine_pci_remove(&m, 7, &m), 0);

	/* BAR windows full: the slot is given back */
	while (machine_alloc_pci_mem(&m, 0x100000))
		;
	while (machine_alloc_pci_mem(&m, 0x1000))
		;
	CHECK_EQ(vpci_create(&m, d, &o, err, sizeof(err)), -ENOSPC);
	CHECK(strstr(err, "full") != NULL);
	CHECK(m.pci[7].ops == NULL);
	CHECK_EQ(m.pio.n, 2);
	CHECK_EQ(m.nparts, 0);
	machine_destroy(&m);

	/* BAR placement over a range someone else mapped */
	CHECK_EQ(machine_init(&m, 1u << 20), 0);
	CHECK_EQ(machine_map_mmio(&m, MACHINE_PCI_MEM_BASE, 0x1000, &((struct io_ops){ 0 }), &m,
				  "squat"), 0);
	o.mode = VPCI_MODERN;
	CHECK_EQ(vpci_create(&m, d, &o, err, sizeof(err)), -EEXIST);
	CHECK(strstr(err, "overlaps") != NULL);
	CHECK(m.pci[1].ops == NULL);
	CHECK_EQ(m.mmio.n, 1);
	machine_destroy(&m);

	/* machine parts full: nothing stays mapped or registered */
	CHECK_EQ(machine_init(&m, 1u << 20), 0);
	while (machine_add_part(&m, dummy_destroy, NULL) == 0)
		;
	CHECK_EQ(vpci_create(&m, d, &o, err, sizeof(err)), -ENOSPC);
	CHECK(strstr(err, "parts") != NULL);
	CHECK(m.pci[1].ops == NULL);
	CHECK_EQ(m.mmio.n, 0);
	machine_destroy(&m);
	vdev_destroy(d);
}

static void test_create_limits(void)
{
	struct machine m;
	struct vdev *d;
	char err[128];
	struct vpci_opts o = { .mode = VPCI_MODERN, .slot = -1, .gsi = -1, .msix = true };
	struct vdev_ops many = t_ops, cfg4k = t_ops, cfgbig = t_ops;

	CHECK_EQ(machine_init(&m, 1u << 20), 0);
	/* more queues than notify addresses in the notify page */
	many.num_queues = VPCI_MAX_QUEUES + 1;
	CHECK_EQ(vdev_create(&many, &m.gm, NULL, NULL, &d, err, sizeof(err)), 0);
	CHECK_EQ(vpci_create(&m, d, &o, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "queues") != NULL);
	vdev_destroy(d);
	/* the default vector count is capped at the table maximum */
	many.num_queues = VPCI_MAX_QUEUES;
	CHECK_EQ(vdev_create(&many, &m.gm, NULL, NULL, &d, err, sizeof(err)), 0);
	int slot = vpci_create(&m, d, &o, err, sizeof(err));
	CHECK_EQ(slot, 1);
	unsigned p = cfg_rd(&m, 1, PCI_CAPABILITY_LIST, 1);
	while (p && cfg_rd(&m, 1, p, 1) != PCI_CAP_ID_MSIX)
		p = cfg_rd(&m, 1, p + 1, 1);
	CHECK(p != 0);
	CHECK_EQ(cfg_rd(&m, 1, p + PCI_MSIX_FLAGS, 2), VPCI_MSIX_MAX_VECTORS - 1);
	machine_destroy(&m);
	vdev_destroy(d);

	/* config space: 4 KiB fits the modern BAR page, not the legacy BAR */
	CHECK_EQ(machine_init(&m, 1u << 20), 0);
	cfg4k.config_size = 0x1000;
	cfg4k.ncfg_fields = 0;
	cfg4k.cfg_fields = NULL;
	cfgbig.config_size = 0x1001;
	cfgbig.ncfg_fields = 0;
	cfgbig.cfg_fields = NULL;
	for (int mode = VPCI_LEGACY; mode <= VPCI_TRANSITIONAL; mode++) {
		o.mode = mode;
		CHECK_EQ(vdev_create(&cfg4k, &m.gm, NULL, NULL, &d, err, sizeof(err)), 0);
		int r = vpci_create(&m, d, &o, err, sizeof(err));
		if (mode == VPCI_MODERN)
			CHECK(r >= 1);
		else
			CHECK_EQ(r, -EINVAL);
		vdev_destroy(d);
		CHECK_EQ(vdev_create(&cfgbig, &m.gm, NULL, NULL, &d, err, sizeof(err)), 0);
		CHECK_EQ(vpci_create(&m, d, &o, err, sizeof(err)), -EINVAL);
		CHECK(strstr(err, "config") != NULL);
		vdev_destroy(d);
	}
	/* the largest legacy config: 24 + 4072 bytes, a 4 KiB I/O BAR */
	cfg4k.config_size = 0x1000 - 24;
	o.mode = VPCI_LEGACY;
	CHECK_EQ(vdev_create(&cfg4k, &m.gm, NULL, NULL, &d, err, sizeof(err)), 0);
	slot = vpci_create(&m, d, &o, err, sizeof(err));
	CHECK(slot >= 1);
	cfg_wr(&m, (unsigned)slot, PCI_BAR0, 4, 0xffffffff);
	CHECK_EQ(cfg_rd(&m, (unsigned)slot, PCI_BAR0, 4), 0xfffff001u);
	machine_destroy(&m);
	vdev_destroy(d);
	CHECK_EQ(vpci_legacy_bar_size(0), 32);
	CHECK_EQ(vpci_legacy_bar_size(8), 32);
	CHECK_EQ(vpci_legacy_bar_size(9), 64);
	CHECK_EQ(vpci_legacy_bar_size(0xffffffffu), 2 * VPCI_LEGACY_BAR_MAX);
}

static void test_gsi_and_vectors(void)
{
	struct machine m;
	struct vdev *d[5];
	char err[128];
	struct vpci_opts o = { .mode = VPCI_MODERN, .gsi = -1, .msix = true };
	static const int slots[4] = { 1, 7, 8, 9 };
	static const unsigned gsis[4] = { 17, 23, 16, 17 };

	CHECK_EQ(machine_init(&m, 4u << 20), 0);
	for (unsigned i = 0; i < 4; i++) {
		CHECK_EQ(vdev_create(&t_ops, &m.gm, NULL, NULL, &d[i], err, sizeof(err)), 0);
		o.slot = slots[i];
		CHECK_EQ(vpci_create(&m, d[i], &o, err, sizeof(err)), slots[i]);
		CHECK_EQ(cfg_rd(&m, (unsigned)slots[i], PCI_INTERRUPT_LINE, 1), gsis[i]);
	}
	/* explicit GSI and vector count, no MSI-X at all */
	CHECK_EQ(vdev_create(&t_ops, &m.gm, NULL, NULL, &d[4], err, sizeof(err)), 0);
	o.slot = 12;
	o.gsi = 5;
	o.vectors = 8;
	CHECK_EQ(vpci_create(&m, d[4], &o, err, sizeof(err)), 12);
	CHECK_EQ(cfg_rd(&m, 12, PCI_INTERRUPT_LINE, 1), 5);
	unsigned p = cfg_rd(&m, 12, PCI_CAPABILITY_LIST, 1);
	while (p && cfg_rd(&m, 12, p, 1) != PCI_CAP_ID_MSIX)
		p = cfg_rd(&m, 12, p + 1, 1);
	CHECK_EQ(cfg_rd(&m, 12, p + PCI_MSIX_FLAGS, 2), 7);
	/* the default: queues + 1 */
	p = cfg_rd(&m, 1, PCI_CAPABILITY_LIST, 1);
	while (p && cfg_rd(&m, 1, p, 1) != PCI_CAP_ID_MSIX)
		p = cfg_rd(&m, 1, p + 1, 1);
	CHECK_EQ(cfg_rd(&m, 1, p + PCI_MSIX_FLAGS, 2), TQ);
	machine_destroy(&m);
	for (unsigned i = 0; i < 5; i++)
		vdev_destroy(d[i]);
}

/* ---- BARs and capabilities ------------------------------------------------------- */

static uint32_t size_bar(struct vx *x, unsigned i)
{
	uint32_t old = pc_rd(x, PCI_BAR0 + 4 * i, 4), sz;

	pc_wr(x, PCI_BAR0 + 4 * i, 4, 0xffffffff);
	sz = pc_rd(x, PCI_BAR0 + 4 * i, 4);
	pc_wr(x, PCI_BAR0 + 4 * i, 4, old);
	return sz;
}

static void test_bar_layout(void)
{
	for (int mode = VPCI_LEGACY; mode <= VPCI_TRANSITIONAL; mode++) {
		for (int msix = 0; msix <= 1; msix++) {
			struct vx *x = vx_new(mode, msix);
			bool leg = mode != VPCI_MODERN, mod = mode != VPCI_LEGACY;
			uint16_t cmd = (leg ? PCI_COMMAND_IO : 0) |
				       (mod || msix ? PCI_COMMAND_MEMORY : 0);

			/* 24 + 16 bytes of config: a 64-byte I/O BAR */
			CHECK_EQ(size_bar(x, 0), leg ? 0xffffffc1u : 0);
			CHECK_EQ(size_bar(x, 1), msix ? 0xfffff000u : 0);
			CHECK_EQ(size_bar(x, 2), 0);
			CHECK_EQ(size_bar(x, 3), 0);
			CHECK_EQ(size_bar(x, 4), mod ? 0xffffc004u : 0);
			CHECK_EQ(size_bar(x, 5), mod ? 0xffffffffu : 0);
			CHECK_EQ(pc_rd(x, PCI_COMMAND, 2), cmd);
			CHECK_EQ(x->io != 0, leg);
			CHECK_EQ(x->bar4 != 0, mod);
			CHECK_EQ(diag_count_class(&x->d->log, DIAG_CLASS_DRIVER), 0);
			/* the status register shows a capability list only if there is one */
			CHECK_EQ((pc_rd(x, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST) != 0, mod || msix);
			CHECK_EQ(x->msix_cap != 0, msix);
			CHECK_EQ(x->ncaps, (mod ? 5u : 0u) + (unsigned)msix);
			vx_free(x);
		}
	}
}

static void check_vcap(struct vx *x, unsigned type, unsigned len, uint32_t off, uint32_t length)
{
	unsigned c = x->cap[type];

	CHECK(c >= 0x40);
	CHECK_EQ(pc_rd(x, c, 1), PCI_CAP_ID_VNDR);
	CHECK_EQ(pc_rd(x, c + 2, 1), len);
	CHECK_EQ(pc_rd(x, c + 3, 1), type);
	CHECK_EQ(pc_rd(x, c + 4, 1), type == VIRTIO_PCI_CAP_PCI_CFG ? 0 : VPCI_MODERN_BAR);
	CHECK_EQ(pc_rd(x, c + 5, 1), 0);
	CHECK_EQ(pc_rd(x, c + 6, 2), 0);
	CHECK_EQ(pc_rd(x, c + 8, 4), off);
	CHECK_EQ(pc_rd(x, c + 12, 4), length);
}

static void test_caps_modern(void)
{
	for (int mode = VPCI_MODERN; mode <= VPCI_TRANSITIONAL; mode++) {
		struct vx *x = vx_new(mode, true);
		unsigned c;

		check_vcap(x, VIRTIO_PCI_CAP_COMMON_CFG, 16, VPCI_BAR_COMMON,
			   VIRTIO_PCI_COMMON_SIZE);
		check_vcap(x, VIRTIO_PCI_CAP_NOTIFY_CFG, 20, VPCI_BAR_NOTIFY,
			   TQ * VPCI_NOTIFY_MULT);
		CHECK_EQ(pc_rd(x, x->cap[VIRTIO_PCI_CAP_NOTIFY_CFG] + 16, 4), VPCI_NOTIFY_MULT);
		check_vcap(x, VIRTIO_PCI_CAP_ISR_CFG, 16, VPCI_BAR_ISR, 1);
		check_vcap(x, VIRTIO_PCI_CAP_DEVICE_CFG, 16, VPCI_BAR_DEVICE, TCFG_SIZE);
		check_vcap(x, VIRTIO_PCI_CAP_PCI_CFG, 20, 0, 0);
		CHECK_EQ(pc_rd(x, x->cap[VIRTIO_PCI_CAP_PCI_CFG] + 16, 4), 0);
		/* MSI-X: table and PBA in BAR 1 */
		CHECK_EQ(pc_rd(x, x->msix_cap + PCI_MSIX_FLAGS, 2), TQ);
		CHECK_EQ(pc_rd(x, x->msix_cap + PCI_MSIX_TABLE, 4),
			 VPCI_MSIX_TABLE_OFF | VPCI_MSIX_BAR);
		CHECK_EQ(pc_rd(x, x->msix_cap + PCI_MSIX_PBA, 4),
			 VPCI_MSIX_PBA_OFF | VPCI_MSIX_BAR);

		/* the structure capabilities are read-only */
		c = x->cap[VIRTIO_PCI_CAP_COMMON_CFG];
		for (unsigned i = 0; i < 16; i += 4)
			pc_wr(x, c + i, 4, 0xffffffff);
		check_vcap(x, VIRTIO_PCI_CAP_COMMON_CFG, 16, VPCI_BAR_COMMON,
			   VIRTIO_PCI_COMMON_SIZE);
		c = x->cap[VIRTIO_PCI_CAP_NOTIFY_CFG];
		pc_wr(x, c + 16, 4, 0);
		CHECK_EQ(pc_rd(x, c + 16, 4), VPCI_NOTIFY_MULT);
		/* the PCI cfg capability's bar/offset/length are the driver's */
		c = x->cap[VIRTIO_PCI_CAP_PCI_CFG];
		pc_wr(x, c, 4, 0);
		CHECK_EQ(pc_rd(x, c, 1), PCI_CAP_ID_VNDR);
		pc_wr(x, c + 4, 4, 0xffffffff); /* only bar is writable in this dword */
		CHECK_EQ(pc_rd(x, c + 4, 4), 0xff);
		pc_wr(x, c + 8, 4, 0x12345678);
		pc_wr(x, c + 12, 4, 0x9abcdef0);
		CHECK_EQ(pc_rd(x, c + 8, 4), 0x12345678);
		CHECK_EQ(pc_rd(x, c + 12, 4), 0x9abcdef0);
		vx_free(x);
	}
	/* no device config: no device capability */
	struct vdev_ops nocfg = t_ops;
	struct vpci_opts o = { .mode = VPCI_MODERN, .slot = -1, .gsi = -1, .msix = false };
	nocfg.config_size = 0;
	nocfg.ncfg_fields = 0;
	nocfg.cfg_fields = NULL;
	struct vx *x = vx_new_with(&nocfg, &o);
	CHECK_EQ(x->cap[VIRTIO_PCI_CAP_DEVICE_CFG], 0);
	CHECK(x->cap[VIRTIO_PCI_CAP_COMMON_CFG] != 0);
	CHECK(x->cap[VIRTIO_PCI_CAP_PCI_CFG] != 0);
	CHECK_EQ(x->ncaps, 4);
	CHECK_EQ(x->msix_cap, 0);
	vx_free(x);
}

/* ---- legacy registers ------------------------------------------------------------ */

#define L_HF VIRTIO_PCI_LEGACY_HOST_FEATURES
#define L_GF VIRTIO_PCI_LEGACY_GUEST_FEATURES
#define L_PFN VIRTIO_PCI_LEGACY_QUEUE_PFN
#define L_NUM VIRTIO_PCI_LEGACY_QUEUE_NUM
#define L_SEL VIRTIO_PCI_LEGACY_QUEUE_SEL
#define L_NOTIFY VIRTIO_PCI_LEGACY_QUEUE_NOTIFY
#define L_STATUS VIRTIO_PCI_LEGACY_STATUS
#define L_ISR VIRTIO_PCI_LEGACY_ISR
#define L_CVEC VIRTIO_PCI_LEGACY_MSIX_CONFIG
#define L_QVEC VIRTIO_PCI_LEGACY_MSIX_QUEUE

#define LEGACY_HF                                                                          \
	(TFEAT | VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX) |    \
	 VIRTIO_BIT(VIRTIO_F_ANY_LAYOUT) | VIRTIO_BIT(VIRTIO_F_NOTIFY_ON_EMPTY))
#define MODERN_LO (TFEAT | VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX))
#define MODERN_HI 0xdu /* VERSION_1, RING_PACKED, IN_ORDER */

static void test_legacy_register_map(void)
{
	struct vx *x = vx_new(VPCI_LEGACY, true);

	CHECK_EQ(lg_rd(x, L_HF, 4), LEGACY_HF);
	CHECK_EQ(lg_rd(x, L_GF, 4), 0);
	CHECK_EQ(lg_rd(x, L_PFN, 4), 0);
	CHECK_EQ(lg_rd(x, L_NUM, 2), TQMAX);
	CHECK_EQ(lg_rd(x, L_SEL, 2), 0);
	CHECK_EQ(lg_rd(x, L_NOTIFY, 2), 0);
	CHECK_EQ(lg_rd(x, L_STATUS, 1), 0);
	CHECK_EQ(lg_rd(x, L_ISR, 1), 0);
	/* MSI-X disabled: device config at 20 */
	CHECK_EQ(lg_rd(x, 20, 1), 0);
	CHECK_EQ(lg_rd(x, 21, 1), 0x5a);
	CHECK_EQ(lg_rd(x, 22, 2), 0xbeef);
	CHECK_EQ(lg_rd(x, 24, 4), 0);
	CHECK_EQ(lg_rd(x, 28, 4), 0x55667788);
	CHECK_EQ(lg_rd(x, 32, 4), 0x11223344);
	lg_wr(x, 20, 1, 0x77);
	lg_wr(x, 24, 4, 0xcafef00d);
	CHECK_EQ(x->d->config[0], 0x77);
	CHECK_EQ(lg_rd(x, 24, 4), 0xcafef00d);
	CHECK_EQ(diag_count_class(&x->d->log, DIAG_CLASS_DRIVER), 0);
	/* beyond the config inside the BAR: the core's range rule */
	CHECK_EQ(lg_rd(x, 20 + TCFG_SIZE, 4), 0);
	CHECK_EQ(dc(x, DIAG_CONFIG_RANGE), 1);

	/* guest features: masked to what is offered, marks the legacy interface */
	lg_wr(x, L_GF, 4, 0xffffffff);
	CHECK_EQ(lg_rd(x, L_GF, 4), LEGACY_HF);
	CHECK_EQ(dc(x, DIAG_FEATURES_NOT_OFFERED), 1);
	CHECK(x->d->legacy);

	/* queue select: any value; queue fields of a missing queue read 0 */
	lg_wr(x, L_SEL, 2, 1);
	CHECK_EQ(lg_rd(x, L_SEL, 2), 1);
	CHECK_EQ(lg_rd(x, L_NUM, 2), TQMAX);
	lg_wr(x, L_SEL, 2, 0x1234);
	CHECK_EQ(lg_rd(x, L_SEL, 2), 0x1234);
	CHECK_EQ(lg_rd(x, L_NUM, 2), 0);
	CHECK_EQ(lg_rd(x, L_PFN, 4), 0);
	lg_wr(x, L_PFN, 4, 0x10);
	CHECK_EQ(dc(x, DIAG_QUEUE_SELECT), 1);
	lg_wr(x, L_SEL, 2, 0);

	/* read-only registers */
	lg_wr(x, L_HF, 4, 0);
	lg_wr(x, L_NUM, 2, 8);
	lg_wr(x, L_ISR, 1, 1);
	CHECK_EQ(dc(x, DIAG_REG_READONLY), 3);
	CHECK_EQ(lg_rd(x, L_HF, 4), LEGACY_HF);
	CHECK_EQ(lg_rd(x, L_NUM, 2), TQMAX);

	/* widths: every register with its own width at its own offset */
	CHECK_EQ(lg_rd(x, L_HF, 2), 0xffff);
	CHECK_EQ(lg_rd(x, L_HF + 1, 1), 0xff);
	CHECK_EQ(lg_rd(x, L_PFN, 2), 0xffff);
	CHECK_EQ(lg_rd(x, L_NUM, 4), 0xffffffff);
	CHECK_EQ(lg_rd(x, L_SEL, 1), 0xff);
	CHECK_EQ(lg_rd(x, L_NOTIFY + 1, 1), 0xff);
	CHECK_EQ(lg_rd(x, L_STATUS, 2), 0xffff);
	CHECK_EQ(lg_rd(x, L_ISR, 4), 0xffffffff);
	CHECK_EQ(dc(x, DIAG_REG_WIDTH), 8);
	lg_wr(x, L_GF, 2, 0);
	lg_wr(x, L_SEL, 4, 1);
	lg_wr(x, L_STATUS, 4, 1);
	lg_wr(x, L_NOTIFY, 4, 0);
	CHECK_EQ(dc(x, DIAG_REG_WIDTH), 12);
	CHECK_EQ(lg_rd(x, L_GF, 4), LEGACY_HF);
	CHECK_EQ(lg_rd(x, L_SEL, 2), 0);
	CHECK_EQ(lg_rd(x, L_STATUS, 1), 0);

	/* notify: queue index checked before the core sees it */
	lg_wr(x, L_NOTIFY, 2, TQ);
	CHECK_EQ(dc(x, DIAG_QUEUE_SELECT), 2);
	lg_wr(x, L_NOTIFY, 2, 0); /* not placed yet: the core says not ready */
	CHECK_EQ(dc(x, DIAG_QUEUE_NOT_READY), 1);
	CHECK_EQ(notified[0], 0);

	/* PFN outside RAM: the core refuses it */
	lg_wr(x, L_PFN, 4, 0x100000);
	CHECK_EQ(dc(x, DIAG_LEGACY_PFN), 1);
	CHECK_EQ(lg_rd(x, L_PFN, 4), 0);
	vx_free(x);
}

static void test_legacy_msix_layout(void)
{
	struct vx *x = vx_new(VPCI_LEGACY, true);

	lg_wr(x, 20, 1, 0x42);
	/* virtio-v1.2 4.1.4.8: with MSI-X enabled, the vectors sit at 20/22
	 * and the device config moves to 24 */
	msix_enable(x, true);
	CHECK_EQ(lg_rd(x, L_CVEC, 2), VIRTIO_MSI_NO_VECTOR);
	CHECK_EQ(lg_rd(x, L_QVEC, 2), VIRTIO_MSI_NO_VECTOR);
	CHECK_EQ(lg_rd(x, 24, 1), 0x42);
	CHECK_EQ(lg_rd(x, 26, 2), 0xbeef);
	CHECK_EQ(lg_rd(x, 32, 4), 0x55667788);
	lg_wr(x, L_CVEC, 2, 2);
	CHECK_EQ(lg_rd(x, L_CVEC, 2), 2);
	CHECK_EQ(x->d->msix_config, 2);
	lg_wr(x, L_CVEC, 2, TQ + 1); /* 3 vectors: 0..2 */
	CHECK_EQ(lg_rd(x, L_CVEC, 2), VIRTIO_MSI_NO_VECTOR);
	CHECK_EQ(dc(x, DIAG_MSIX_VECTOR), 1);
	lg_wr(x, L_QVEC, 2, 1);
	CHECK_EQ(lg_rd(x, L_QVEC, 2), 1);
	lg_wr(x, L_SEL, 2, 1);
	CHECK_EQ(lg_rd(x, L_QVEC, 2), VIRTIO_MSI_NO_VECTOR);
	lg_wr(x, L_QVEC, 2, 0);
	CHECK_EQ(x->d->queues[1].msix_vector, 0);
	lg_wr(x, L_SEL, 2, 9);
	CHECK_EQ(lg_rd(x, L_QVEC, 2), VIRTIO_MSI_NO_VECTOR);
	lg_wr(x, L_QVEC, 2, 0);
	CHECK_EQ(dc(x, DIAG_QUEUE_SELECT), 1);
	CHECK_EQ(lg_rd(x, L_CVEC, 4), 0xffffffff); /* wrong width */
	CHECK_EQ(dc(x, DIAG_REG_WIDTH), 1);
	lg_wr(x, L_SEL, 2, 0);
	/* MSI-X disabled again: config back at 20 */
	msix_enable(x, false);
	CHECK_EQ(lg_rd(x, 20, 1), 0x42);
	CHECK_EQ(lg_rd(x, 22, 2), 0xbeef);
	/* without the MSI-X capability there are never vectors at 20 */
	vx_free(x);
	x = vx_new(VPCI_LEGACY, false);
	lg_wr(x, 20, 1, 0x43);
	CHECK_EQ(lg_rd(x, 20, 1), 0x43);
	vx_free(x);
}

/* Legacy bring-up by hand (virtio-v1.2 3.1.2 legacy initialization). */
static void legacy_bringup(struct vx *x, struct ring *r)
{
	lg_wr(x, L_STATUS, 1, 0);
	lg_wr(x, L_STATUS, 1, VIRTIO_STATUS_ACKNOWLEDGE);
	lg_wr(x, L_STATUS, 1, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	CHECK_EQ(lg_rd(x, L_HF, 4) & TFEAT, TFEAT);
	lg_wr(x, L_GF, 4, TFEAT | VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC));
	CHECK_EQ(lg_rd(x, L_GF, 4), TFEAT | VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC));
	for (unsigned q = 0; q < TQ; q++) {
		uint64_t base = 0x10000 + 0x10000ull * q;

		lg_wr(x, L_SEL, 2, q);
		CHECK_EQ(lg_rd(x, L_NUM, 2), TQMAX);
		lg_wr(x, L_PFN, 4, base >> VIRTIO_PCI_LEGACY_PFN_SHIFT);
		CHECK_EQ(lg_rd(x, L_PFN, 4), base >> VIRTIO_PCI_LEGACY_PFN_SHIFT);
		CHECK(x->d->queues[q].enabled);
	}
	r->num = TQMAX;
	r->desc = 0x10000;
	r->avail = r->desc + 16u * TQMAX;
	r->used = r->desc + virtq_legacy_used_off(TQMAX, VIRTIO_PCI_LEGACY_ALIGN);
	r->next = 0;
	lg_wr(x, L_STATUS, 1,
	      VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_DRIVER_OK);
	CHECK_EQ(lg_rd(x, L_STATUS, 1),
		 VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_DRIVER_OK);
	CHECK(x->d->legacy);
}

static void test_legacy_bringup_intx(void)
{
	for (int mode = VPCI_LEGACY; mode <= VPCI_TRANSITIONAL; mode += 2) {
		struct vx *x = vx_new(mode, false);
		struct ring r;

		legacy_bringup(x, &r);
		CHECK_EQ(diag_count_class(&x->d->log, DIAG_CLASS_DRIVER), 0);
		ring_put(x, &r, 0x40000);
		CHECK(!intx_high(x));
		lg_wr(x, L_NOTIFY, 2, 0);
		CHECK_EQ(notified[0], 1);
		CHECK_EQ(ring_used_idx(x, &r), 1);
		/* INTx: line up, status interrupt bit set; the ISR read lowers it */
		CHECK(intx_high(x));
		CHECK(pc_rd(x, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
		CHECK_EQ(lg_rd(x, L_ISR, 1), VIRTIO_ISR_QUEUE);
		CHECK(!intx_high(x));
		CHECK_EQ(pc_rd(x, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT, 0);
		CHECK_EQ(lg_rd(x, L_ISR, 1), 0);
		/* queue 1 works too */
		lg_wr(x, L_NOTIFY, 2, 1);
		CHECK_EQ(notified[1], 1);
		/* INTX_DISABLE keeps the line low while the condition holds */
		pc_wr(x, PCI_COMMAND, 2, pc_rd(x, PCI_COMMAND, 2) | PCI_COMMAND_INTX_DISABLE);
		ring_put(x, &r, 0x40000);
		lg_wr(x, L_NOTIFY, 2, 0);
		CHECK_EQ(ring_used_idx(x, &r), 2);
		CHECK(!intx_high(x));
		CHECK(pc_rd(x, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
		pc_wr(x, PCI_COMMAND, 2, pc_rd(x, PCI_COMMAND, 2) & ~PCI_COMMAND_INTX_DISABLE);
		CHECK(intx_high(x));
		/* a reset lowers it too */
		lg_wr(x, L_STATUS, 1, 0);
		CHECK(!intx_high(x));
		CHECK_EQ(lg_rd(x, L_STATUS, 1), 0);
		CHECK_EQ(lg_rd(x, L_PFN, 4), 0);
		vx_free(x);
	}
}

static void test_legacy_bringup_msix(void)
{
	struct vx *x = vx_new(VPCI_LEGACY, true);
	struct ring r;

	msix_enable(x, true);
	msix_entry(x, 0, 0xfee00000, 0x40);
	msix_entry(x, 1, 0xfee00000, 0x41);
	legacy_bringup(x, &r);
	lg_wr(x, L_CVEC, 2, 0);
	lg_wr(x, L_SEL, 2, 0);
	lg_wr(x, L_QVEC, 2, 1);
	ring_put(x, &r, 0x40000);
	lg_wr(x, L_NOTIFY, 2, 0);
	CHECK_EQ(ring_used_idx(x, &r), 1);
	CHECK_EQ(x->m.msi_count, 1);
	CHECK_EQ(last_msi(x)->data, 0x41);
	CHECK(!intx_high(x));
	/* config change: the config vector */
	vdev_config_changed(x->d);
	CHECK_EQ(x->m.msi_count, 2);
	CHECK_EQ(last_msi(x)->data, 0x40);
	/* a queue without a vector: no interrupt at all while MSI-X is on */
	lg_wr(x, L_NOTIFY, 2, 1);
	CHECK_EQ(notified[1], 1);
	x->d->isr = 0;
	ring_put(x, &r, 0x40000);
	lg_wr(x, L_SEL, 2, 0);
	lg_wr(x, L_QVEC, 2, VIRTIO_MSI_NO_VECTOR);
	lg_wr(x, L_NOTIFY, 2, 0);
	CHECK_EQ(ring_used_idx(x, &r), 2);
	CHECK_EQ(x->m.msi_count, 2);
	CHECK(!intx_high(x));
	vx_free(x);
}

/* ---- modern registers ------------------------------------------------------------ */

#define C(f) (VPCI_BAR_COMMON + VIRTIO_PCI_COMMON_##f)

static void test_modern_common_map(void)
{
	struct vx *x = vx_new(VPCI_MODERN, true);

	CHECK_EQ(mb_rd(x, C(DFSELECT), 4), 0);
	CHECK_EQ(mb_rd(x, C(DF), 4), MODERN_LO);
	mb_wr(x, C(DFSELECT), 4, 1);
	CHECK_EQ(mb_rd(x, C(DFSELECT), 4), 1);
	CHECK_EQ(mb_rd(x, C(DF), 4), MODERN_HI);
	mb_wr(x, C(DFSELECT), 4, 0x80000000u);
	CHECK_EQ(mb_rd(x, C(DF), 4), 0);
	CHECK_EQ(mb_rd(x, C(GFSELECT), 4), 0);
	CHECK_EQ(mb_rd(x, C(GF), 4), 0);
	CHECK_EQ(mb_rd(x, C(MSIX), 2), VIRTIO_MSI_NO_VECTOR);
	CHECK_EQ(mb_rd(x, C(NUMQ), 2), TQ);
	CHECK_EQ(mb_rd(x, C(STATUS), 1), 0);
	CHECK_EQ(mb_rd(x, C(CFGGENERATION), 1), 0);
	CHECK_EQ(mb_rd(x, C(Q_SELECT), 2), 0);
	CHECK_EQ(mb_rd(x, C(Q_SIZE), 2), TQMAX);
	CHECK_EQ(mb_rd(x, C(Q_MSIX), 2), VIRTIO_MSI_NO_VECTOR);
	CHECK_EQ(mb_rd(x, C(Q_ENABLE), 2), 0);
	CHECK_EQ(mb_rd(x, C(Q_NOFF), 2), 0);
	CHECK_EQ(mb_rd(x, C(Q_DESCLO), 4), 0);
	CHECK_EQ(mb_rd(x, C(Q_DESCHI), 4), 0);
	CHECK_EQ(mb_rd(x, C(Q_AVAILLO), 8), 0);
	CHECK_EQ(mb_rd(x, C(Q_USEDLO), 8), 0);
	CHECK_EQ(mb_rd(x, C(Q_NDATA), 2), 0);
	CHECK_EQ(mb_rd(x, C(Q_RESET), 2), 0);
	CHECK_EQ(diag_count_class(&x->d->log, DIAG_CLASS_DRIVER), 0);

	/* driver features, both windows */
	mb_wr(x, C(GFSELECT), 4, 1);
	mb_wr(x, C(GF), 4, 1);
	CHECK_EQ(mb_rd(x, C(GF), 4), 1);
	mb_wr(x, C(GFSELECT), 4, 0);
	mb_wr(x, C(GF), 4, 0x8);
	CHECK_EQ(mb_rd(x, C(GF), 4), 0x8);
	CHECK_EQ(mb_rd(x, C(GFSELECT), 4), 0);
	CHECK_EQ(x->d->driver_features, VIRTIO_BIT(VIRTIO_F_VERSION_1) | 0x8);
	CHECK(!x->d->legacy);

	/* queue 1 registers */
	mb_wr(x, C(Q_SELECT), 2, 1);
	CHECK_EQ(mb_rd(x, C(Q_SELECT), 2), 1);
	CHECK_EQ(mb_rd(x, C(Q_NOFF), 2), 1);
	mb_wr(x, C(Q_SIZE), 2, 32);
	CHECK_EQ(mb_rd(x, C(Q_SIZE), 2), 32);
	mb_wr(x, C(Q_SIZE), 2, TQMAX * 2);
	CHECK_EQ(dc(x, DIAG_QUEUE_SIZE), 1);
	CHECK_EQ(mb_rd(x, C(Q_SIZE), 2), 32);
	mb_wr(x, C(Q_MSIX), 2, 2);
	CHECK_EQ(mb_rd(x, C(Q_MSIX), 2), 2);
	mb_wr(x, C(Q_MSIX), 2, 3); /* three vectors: refused, reads NO_VECTOR */
	CHECK_EQ(mb_rd(x, C(Q_MSIX), 2), VIRTIO_MSI_NO_VECTOR);
	CHECK_EQ(dc(x, DIAG_MSIX_VECTOR), 1);
	mb_wr(x, C(MSIX), 2, 0);
	CHECK_EQ(mb_rd(x, C(MSIX), 2), 0);
	mb_wr(x, C(MSIX), 2, 0x100);
	CHECK_EQ(mb_rd(x, C(MSIX), 2), VIRTIO_MSI_NO_VECTOR);
	CHECK_EQ(dc(x, DIAG_MSIX_VECTOR), 2);
	/* addresses: halves and whole */
	mb_wr(x, C(Q_DESCLO), 4, 0x30000);
	mb_wr(x, C(Q_DESCHI), 4, 0x1);
	CHECK_EQ(mb_rd(x, C(Q_DESCLO), 8), 0x100030000ull);
	mb_wr(x, C(Q_DESCHI), 4, 0);
	mb_wr(x, C(Q_AVAILLO), 8, 0x31000);
	mb_wr(x, C(Q_USEDLO), 4, 0x32000);
	mb_wr(x, C(Q_USEDHI), 4, 0);
	CHECK_EQ(mb_rd(x, C(Q_DESCLO), 4), 0x30000);
	CHECK_EQ(mb_rd(x, C(Q_DESCHI), 4), 0);
	CHECK_EQ(mb_rd(x, C(Q_AVAILLO), 4), 0x31000);
	CHECK_EQ(mb_rd(x, C(Q_AVAILHI), 4), 0);
	CHECK_EQ(mb_rd(x, C(Q_USEDLO), 8), 0x32000);
	CHECK_EQ(x->d->queues[1].desc, 0x30000);
	CHECK_EQ(x->d->queues[1].driver, 0x31000);
	CHECK_EQ(x->d->queues[1].device, 0x32000);
	/* queue 0 kept its own values */
	mb_wr(x, C(Q_SELECT), 2, 0);
	CHECK_EQ(mb_rd(x, C(Q_SIZE), 2), TQMAX);
	CHECK_EQ(mb_rd(x, C(Q_DESCLO), 8), 0);

	/* status and generation */
	mb_wr(x, C(STATUS), 1, VIRTIO_STATUS_ACKNOWLEDGE);
	CHECK_EQ(mb_rd(x, C(STATUS), 1), VIRTIO_STATUS_ACKNOWLEDGE);
	vdev_config_changed(x->d);
	CHECK_EQ(mb_rd(x, C(CFGGENERATION), 1), 1);
	vx_free(x);
}

static void test_modern_common_invalid(void)
{
	struct vx *x = vx_new(VPCI_MODERN, true);
	uint32_t w = 0, ro = 0, qs = 0, unk = 0;

	/* widths */
	CHECK_EQ(mb_rd(x, C(DF), 2), 0xffff);
	CHECK_EQ(mb_rd(x, C(DFSELECT), 8), UINT64_MAX);
	CHECK_EQ(mb_rd(x, C(STATUS), 2), 0xffff);
	CHECK_EQ(mb_rd(x, C(MSIX), 4), 0xffffffff);
	CHECK_EQ(mb_rd(x, C(Q_SELECT) + 1, 1), 0xff);
	CHECK_EQ(mb_rd(x, C(Q_DESCLO) + 2, 4), 0xffffffff);
	CHECK_EQ(mb_rd(x, C(Q_DESCHI), 8), UINT64_MAX);
	CHECK_EQ(mb_rd(x, C(Q_AVAILLO), 2), 0xffff);
	CHECK_EQ(mb_rd(x, C(Q_RESET), 4), 0xffffffff);
	w += 9;
	CHECK_EQ(dc(x, DIAG_REG_WIDTH), w);
	mb_wr(x, C(Q_SIZE), 4, 16);
	mb_wr(x, C(STATUS), 2, 1);
	mb_wr(x, C(Q_USEDLO) + 4, 8, 0);
	w += 3;
	CHECK_EQ(dc(x, DIAG_REG_WIDTH), w);
	CHECK_EQ(mb_rd(x, C(Q_SIZE), 2), TQMAX);
	CHECK_EQ(mb_rd(x, C(STATUS), 1), 0);

	/* read-only fields */
	mb_wr(x, C(DF), 4, 0);
	mb_wr(x, C(NUMQ), 2, 9);
	mb_wr(x, C(CFGGENERATION), 1, 9);
	mb_wr(x, C(Q_NOFF), 2, 9);
	mb_wr(x, C(Q_NDATA), 2, 9);
	ro += 5;
	CHECK_EQ(dc(x, DIAG_REG_READONLY), ro);
	CHECK_EQ(mb_rd(x, C(NUMQ), 2), TQ);
	CHECK_EQ(mb_rd(x, C(Q_NOFF), 2), 0);
	CHECK_EQ(mb_rd(x, C(Q_NDATA), 2), 0);
	/* queue_reset: VIRTIO_F_RING_RESET is not offered */
	mb_wr(x, C(Q_RESET), 2, 1);
	CHECK_EQ(dc(x, DIAG_REG_UNKNOWN), ++unk);
	CHECK_EQ(mb_rd(x, C(Q_RESET), 2), 0);
	/* past the common structure, and the gaps of the BAR */
	CHECK_EQ(mb_rd(x, VIRTIO_PCI_COMMON_SIZE, 4), 0);
	CHECK_EQ(mb_rd(x, 0x800, 8), 0);
	mb_wr(x, 0xffc, 4, 1);
	unk += 3;
	CHECK_EQ(dc(x, DIAG_REG_UNKNOWN), unk);

	/* an invalid queue_select: fields read 0 (vector NO_VECTOR), writes ignored */
	mb_wr(x, C(Q_SELECT), 2, TQ);
	CHECK_EQ(mb_rd(x, C(Q_SELECT), 2), TQ);
	CHECK_EQ(mb_rd(x, C(Q_SIZE), 2), 0);
	CHECK_EQ(mb_rd(x, C(Q_MSIX), 2), VIRTIO_MSI_NO_VECTOR);
	CHECK_EQ(mb_rd(x, C(Q_ENABLE), 2), 0);
	CHECK_EQ(mb_rd(x, C(Q_NOFF), 2), 0);
	CHECK_EQ(mb_rd(x, C(Q_DESCLO), 8), 0);
	CHECK_EQ(mb_rd(x, C(Q_AVAILHI), 4), 0);
	CHECK_EQ(mb_rd(x, C(Q_USEDLO), 4), 0);
	mb_wr(x, C(Q_SIZE), 2, 16);
	mb_wr(x, C(Q_MSIX), 2, 0);
	mb_wr(x, C(Q_ENABLE), 2, 1);
	mb_wr(x, C(Q_DESCLO), 4, 0x1000);
	mb_wr(x, C(Q_AVAILLO), 8, 0x1000);
	mb_wr(x, C(Q_USEDHI), 4, 0x1000);
	qs += 6;
	CHECK_EQ(dc(x, DIAG_QUEUE_SELECT), qs);
	mb_wr(x, C(Q_SELECT), 2, 0xffff);
	CHECK_EQ(mb_rd(x, C(Q_SIZE), 2), 0);
	mb_wr(x, C(Q_SELECT), 2, 0);
	for (unsigned q = 0; q < TQ; q++) {
		CHECK_EQ(x->d->queues[q].desc, 0);
		CHECK_EQ(x->d->queues[q].msix_vector, VIRTIO_MSI_NO_VECTOR);
		CHECK(!x->d->queues[q].enabled);
	}

	/* queue_enable: only 1 may be written */
	mb_wr(x, C(Q_ENABLE), 2, 0);
	mb_wr(x, C(Q_ENABLE), 2, 2);
	CHECK_EQ(dc(x, DIAG_QUEUE_ENABLED), 2);
	CHECK_EQ(mb_rd(x, C(Q_ENABLE), 2), 0);
	vx_free(x);
}

/* Modern bring-up by hand (virtio-v1.2 3.1.1, 4.1.5.1.3). */
static void modern_bringup(struct vx *x, struct ring *r, uint16_t vec)
{
	mb_wr(x, C(STATUS), 1, 0);
	mb_wr(x, C(STATUS), 1, VIRTIO_STATUS_ACKNOWLEDGE);
	mb_wr(x, C(STATUS), 1, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	mb_wr(x, C(DFSELECT), 4, 0);
	CHECK_EQ(mb_rd(x, C(DF), 4), MODERN_LO);
	mb_wr(x, C(DFSELECT), 4, 1);
	CHECK_EQ(mb_rd(x, C(DF), 4), MODERN_HI);
	mb_wr(x, C(GFSELECT), 4, 0);
	mb_wr(x, C(GF), 4, TFEAT);
	mb_wr(x, C(GFSELECT), 4, 1);
	mb_wr(x, C(GF), 4, 1); /* VERSION_1 */
	mb_wr(x, C(STATUS), 1,
	      VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	CHECK(mb_rd(x, C(STATUS), 1) & VIRTIO_STATUS_FEATURES_OK);
	r->num = 16;
	r->desc = 0x30000;
	r->avail = 0x31000;
	r->used = 0x32000;
	r->next = 0;
	mb_wr(x, C(Q_SELECT), 2, 0);
	mb_wr(x, C(Q_SIZE), 2, r->num);
	mb_wr(x, C(Q_MSIX), 2, vec);
	mb_wr(x, C(Q_DESCLO), 4, (uint32_t)r->desc);
	mb_wr(x, C(Q_DESCHI), 4, 0);
	mb_wr(x, C(Q_AVAILLO), 8, r->avail);
	mb_wr(x, C(Q_USEDLO), 4, (uint32_t)r->used);
	mb_wr(x, C(Q_USEDHI), 4, 0);
	mb_wr(x, C(Q_ENABLE), 2, 1);
	CHECK_EQ(mb_rd(x, C(Q_ENABLE), 2), 1);
	mb_wr(x, C(STATUS), 1,
	      VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
		      VIRTIO_STATUS_DRIVER_OK);
	CHECK_EQ(mb_rd(x, C(STATUS), 1),
		 VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
			 VIRTIO_STATUS_DRIVER_OK);
	CHECK(!x->d->legacy);
}

static void test_modern_bringup_msix(void)
{
	for (int mode = VPCI_MODERN; mode <= VPCI_TRANSITIONAL; mode++) {
		struct vx *x = vx_new(mode, true);
		struct ring r;

		msix_enable(x, true);
		msix_entry(x, 0, 0xfee00000, 0x50);
		msix_entry(x, 1, 0xfee01000, 0x51);
		modern_bringup(x, &r, 1);
		mb_wr(x, C(MSIX), 2, 0);
		CHECK_EQ(diag_count_class(&x->d->log, DIAG_CLASS_DRIVER), 0);
		ring_put(x, &r, 0x40000);
		mb_wr(x, VPCI_BAR_NOTIFY + 0 * VPCI_NOTIFY_MULT, 2, 0);
		CHECK_EQ(notified[0], 1);
		CHECK_EQ(ring_used_idx(x, &r), 1);
		CHECK_EQ(x->m.msi_count, 1);
		CHECK_EQ(last_msi(x)->addr, 0xfee01000);
		CHECK_EQ(last_msi(x)->data, 0x51);
		CHECK(!intx_high(x));
		vdev_config_changed(x->d);
		CHECK_EQ(x->m.msi_count, 2);
		CHECK_EQ(last_msi(x)->data, 0x50);
		/* entry masked: pending, then delivered on unmask */
		machine_mmio_write(&x->m, x->msix + 16 + 12, 4, 1);
		ring_put(x, &r, 0x40000);
		mb_wr(x, VPCI_BAR_NOTIFY, 2, 0);
		CHECK_EQ(ring_used_idx(x, &r), 2);
		CHECK_EQ(x->m.msi_count, 2);
		CHECK_EQ(machine_mmio_read(&x->m, x->msix + VPCI_MSIX_PBA_OFF, 4), 0x2);
		machine_mmio_write(&x->m, x->msix + 16 + 12, 4, 0);
		CHECK_EQ(x->m.msi_count, 3);
		CHECK_EQ(last_msi(x)->data, 0x51);
		/* changes after enable are refused */
		mb_wr(x, C(Q_DESCLO), 4, 0x50000);
		mb_wr(x, C(Q_AVAILHI), 4, 1);
		mb_wr(x, C(Q_USEDLO), 8, 0x50000);
		CHECK_EQ(dc(x, DIAG_QUEUE_ENABLED), 3);
		CHECK_EQ(mb_rd(x, C(Q_DESCLO), 8), 0x30000);
		mb_wr(x, C(Q_SIZE), 2, 8);
		mb_wr(x, C(Q_ENABLE), 2, 1);
		CHECK_EQ(dc(x, DIAG_QUEUE_ENABLED), 5);
		mb_wr(x, C(Q_ENABLE), 2, 0);
		CHECK_EQ(dc(x, DIAG_QUEUE_ENABLED), 6);
		CHECK_EQ(mb_rd(x, C(Q_ENABLE), 2), 1);
		/* reset: everything back, queue disabled */
		mb_wr(x, C(STATUS), 1, 0);
		CHECK_EQ(mb_rd(x, C(STATUS), 1), 0);
		CHECK_EQ(mb_rd(x, C(Q_ENABLE), 2), 0);
		CHECK_EQ(mb_rd(x, C(Q_MSIX), 2), VIRTIO_MSI_NO_VECTOR);
		vx_free(x);
	}
}

static void test_modern_intx(void)
{
	struct vx *x = vx_new(VPCI_MODERN, false);
	struct ring r;

	modern_bringup(x, &r, VIRTIO_MSI_NO_VECTOR);
	ring_put(x, &r, 0x40000);
	mb_wr(x, VPCI_BAR_NOTIFY, 2, 0);
	CHECK_EQ(ring_used_idx(x, &r), 1);
	CHECK(intx_high(x));
	CHECK_EQ(x->m.msi_count, 0);
	/* the ISR: one byte, read clears and lowers INTx */
	CHECK_EQ(mb_rd(x, VPCI_BAR_ISR, 2), 0xffff);
	CHECK_EQ(dc(x, DIAG_REG_WIDTH), 1);
	CHECK(intx_high(x));
	CHECK_EQ(mb_rd(x, VPCI_BAR_ISR, 1), VIRTIO_ISR_QUEUE);
	CHECK(!intx_high(x));
	CHECK_EQ(mb_rd(x, VPCI_BAR_ISR, 1), 0);
	/* config change: ISR bit 1 */
	vdev_config_changed(x->d);
	CHECK(intx_high(x));
	CHECK_EQ(mb_rd(x, VPCI_BAR_ISR, 1), VIRTIO_ISR_CONFIG);
	CHECK(!intx_high(x));
	/* other bytes of the ISR page and writes */
	CHECK_EQ(mb_rd(x, VPCI_BAR_ISR + 1, 1), 0);
	CHECK_EQ(mb_rd(x, VPCI_BAR_ISR + 0x100, 4), 0);
	CHECK_EQ(dc(x, DIAG_REG_UNKNOWN), 2);
	mb_wr(x, VPCI_BAR_ISR, 1, 3);
	CHECK_EQ(dc(x, DIAG_REG_READONLY), 1);
	mb_wr(x, VPCI_BAR_ISR + 4, 4, 3);
	CHECK_EQ(dc(x, DIAG_REG_UNKNOWN), 3);
	/* a status write that is not a reset keeps a pending line up */
	vdev_config_changed(x->d);
	CHECK(intx_high(x));
	mb_wr(x, C(STATUS), 1, mb_rd(x, C(STATUS), 1));
	CHECK(intx_high(x));
	mb_wr(x, C(STATUS), 1, 0);
	CHECK(!intx_high(x));
	vx_free(x);
}

static void test_modern_notify_region(void)
{
	struct vx *x = vx_new(VPCI_MODERN, false);
	struct ring r;

	modern_bringup(x, &r, VIRTIO_MSI_NO_VECTOR);
	ring_put(x, &r, 0x40000);
	/* width 2 only (no VIRTIO_F_NOTIFICATION_DATA) */
	mb_wr(x, VPCI_BAR_NOTIFY, 4, 0);
	mb_wr(x, VPCI_BAR_NOTIFY, 1, 0);
	CHECK_EQ(dc(x, DIAG_REG_WIDTH), 2);
	/* not a notify address; a queue that does not exist */
	mb_wr(x, VPCI_BAR_NOTIFY + 2, 2, 0);
	CHECK_EQ(dc(x, DIAG_REG_UNKNOWN), 1);
	mb_wr(x, VPCI_BAR_NOTIFY + TQ * VPCI_NOTIFY_MULT, 2, TQ);
	mb_wr(x, VPCI_BAR_NOTIFY + 0xffc, 2, 0);
	CHECK_EQ(dc(x, DIAG_QUEUE_SELECT), 2);
	CHECK_EQ(notified[0], 0);
	CHECK_EQ(notified[1], 0);
	/* reads are not defined */
	CHECK_EQ(mb_rd(x, VPCI_BAR_NOTIFY, 2), 0);
	CHECK_EQ(dc(x, DIAG_REG_UNKNOWN), 2);
	/* a value other than the queue index: reported, the address decides */
	mb_wr(x, VPCI_BAR_NOTIFY, 2, 7);
	CHECK_EQ(dc(x, DIAG_QUEUE_SELECT), 3);
	CHECK_EQ(notified[0], 1);
	CHECK_EQ(ring_used_idx(x, &r), 1);
	/* queue 1 is not enabled: the core reports it */
	mb_wr(x, VPCI_BAR_NOTIFY + VPCI_NOTIFY_MULT, 2, 1);
	CHECK_EQ(dc(x, DIAG_QUEUE_NOT_READY), 1);
	CHECK_EQ(notified[1], 0);
	vx_free(x);
}

static void test_modern_device_cfg(void)
{
	struct vx *x = vx_new(VPCI_MODERN, false);

	CHECK_EQ(mb_rd(x, VPCI_BAR_DEVICE + 0, 1), 0);
	CHECK_EQ(mb_rd(x, VPCI_BAR_DEVICE + 1, 1), 0x5a);
	CHECK_EQ(mb_rd(x, VPCI_BAR_DEVICE + 2, 2), 0xbeef);
	CHECK_EQ(mb_rd(x, VPCI_BAR_DEVICE + 8, 8), 0x1122334455667788ull);
	CHECK_EQ(mb_rd(x, VPCI_BAR_DEVICE + 12, 4), 0x11223344);
	mb_wr(x, VPCI_BAR_DEVICE + 0, 1, 0x99);
	mb_wr(x, VPCI_BAR_DEVICE + 4, 4, 0xa5a5a5a5);
	CHECK_EQ(mb_rd(x, VPCI_BAR_DEVICE + 0, 1), 0x99);
	CHECK_EQ(mb_rd(x, VPCI_BAR_DEVICE + 4, 4), 0xa5a5a5a5);
	CHECK_EQ(diag_count_class(&x->d->log, DIAG_CLASS_DRIVER), 0);
	/* the core's rules: read-only field, width, range */
	mb_wr(x, VPCI_BAR_DEVICE + 2, 2, 0);
	CHECK_EQ(dc(x, DIAG_CONFIG_READONLY), 1);
	CHECK_EQ(mb_rd(x, VPCI_BAR_DEVICE + 2, 2), 0xbeef);
	(void)mb_rd(x, VPCI_BAR_DEVICE + 4, 2);
	CHECK_EQ(dc(x, DIAG_CONFIG_WIDTH), 1);
	CHECK_EQ(mb_rd(x, VPCI_BAR_DEVICE + TCFG_SIZE, 4), 0);
	mb_wr(x, VPCI_BAR_DEVICE + 0xff8, 8, 0);
	CHECK_EQ(dc(x, DIAG_CONFIG_RANGE), 2);
	vx_free(x);
}

/* ---- PCI configuration access capability ----------------------------------------- */

static void pcicfg_set(struct vx *x, uint8_t bar, uint32_t off, uint32_t len)
{
	unsigned c = x->cap[VIRTIO_PCI_CAP_PCI_CFG];

	pc_wr(x, c + 4, 1, bar);
	pc_wr(x, c + 8, 4, off);
	pc_wr(x, c + 12, 4, len);
}

static uint32_t pcicfg_rd(struct vx *x, unsigned size)
{
	return pc_rd(x, x->cap[VIRTIO_PCI_CAP_PCI_CFG] + 16, size);
}

static void pcicfg_wr(struct vx *x, unsigned size, uint32_t val)
{
	pc_wr(x, x->cap[VIRTIO_PCI_CAP_PCI_CFG] + 16, size, val);
}

static void test_pcicfg_access(void)
{
	struct vx *x = vx_new(VPCI_TRANSITIONAL, false);
	unsigned c = x->cap[VIRTIO_PCI_CAP_PCI_CFG];
	struct ring r;

	/* it works with the BARs not decoded at all */
	pc_wr(x, PCI_COMMAND, 2, 0);
	CHECK_EQ(mb_rd(x, C(NUMQ), 2), UINT16_MAX); /* unmapped now */
	pcicfg_set(x, VPCI_MODERN_BAR, VIRTIO_PCI_COMMON_NUMQ, 2);
	CHECK_EQ(pcicfg_rd(x, 4), TQ);
	pcicfg_set(x, VPCI_MODERN_BAR, VIRTIO_PCI_COMMON_DF, 4);
	CHECK_EQ(pcicfg_rd(x, 4), MODERN_LO);
	/* write: device_status through the window */
	pcicfg_set(x, VPCI_MODERN_BAR, VIRTIO_PCI_COMMON_STATUS, 1);
	pcicfg_wr(x, 1, VIRTIO_STATUS_ACKNOWLEDGE);
	CHECK_EQ(x->d->status, VIRTIO_STATUS_ACKNOWLEDGE);
	CHECK(!x->d->legacy);
	pcicfg_wr(x, 4, 0xaabbcc00 | (VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER));
	CHECK_EQ(x->d->status, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	/* a 1-byte read leaves the other data bytes as they were */
	CHECK_EQ(pcicfg_rd(x, 4), 0xaabbcc03);
	/* device config and ISR through the window */
	pcicfg_set(x, VPCI_MODERN_BAR, VPCI_BAR_DEVICE + 2, 2);
	CHECK_EQ(pcicfg_rd(x, 2), 0xbeef);
	pcicfg_set(x, VPCI_MODERN_BAR, VPCI_BAR_DEVICE + 4, 4);
	pcicfg_wr(x, 4, 0x01020304);
	CHECK_EQ(rs_le32(x->d->config + 4), 0x01020304);
	x->d->isr = VIRTIO_ISR_CONFIG;
	pcicfg_set(x, VPCI_MODERN_BAR, VPCI_BAR_ISR, 1);
	CHECK_EQ(pcicfg_rd(x, 1), VIRTIO_ISR_CONFIG);
	CHECK_EQ(x->d->isr, 0);
	/* touching other bytes of the capability starts no BAR access */
	x->d->isr = VIRTIO_ISR_CONFIG;
	CHECK_EQ(pc_rd(x, c + 17, 1), 0x03); /* from the last 4-byte write */
	CHECK_EQ(pc_rd(x, c + 12, 4), 1);
	CHECK_EQ(x->d->isr, VIRTIO_ISR_CONFIG);
	CHECK_EQ(diag_count_class(&x->d->log, DIAG_CLASS_DRIVER), 0);

	/* bring the device up with the BARs decoded, then notify through the window */
	pc_wr(x, PCI_COMMAND, 2, PCI_COMMAND_IO | PCI_COMMAND_MEMORY);
	modern_bringup(x, &r, VIRTIO_MSI_NO_VECTOR);
	pc_wr(x, PCI_COMMAND, 2, 0);
	ring_put(x, &r, 0x40000);
	pcicfg_set(x, VPCI_MODERN_BAR, VPCI_BAR_NOTIFY, 2);
	pcicfg_wr(x, 2, 0);
	CHECK_EQ(notified[0], 1);
	CHECK_EQ(ring_used_idx(x, &r), 1);
	vx_free(x);
}

static void test_pcicfg_invalid(void)
{
	struct vx *x = vx_new(VPCI_MODERN, false);
	uint32_t n = 0;

	static const struct {
		uint8_t bar;
		uint32_t off, len;
	} bad[] = {
		{ 0, 0, 4 },                                   /* not the modern BAR */
		{ 1, 0, 4 },
		{ 5, 0, 4 },
		{ VPCI_MODERN_BAR, 0, 3 },                     /* length */
		{ VPCI_MODERN_BAR, 0, 8 },
		{ VPCI_MODERN_BAR, 0, 0 },
		{ VPCI_MODERN_BAR, 2, 4 },                     /* misaligned */
		{ VPCI_MODERN_BAR, 1, 2 },
		{ VPCI_MODERN_BAR, VIRTIO_PCI_COMMON_SIZE, 4 }, /* outside every structure */
		{ VPCI_MODERN_BAR, VPCI_BAR_ISR + 1, 1 },
		{ VPCI_MODERN_BAR, VPCI_BAR_ISR, 2 },
		{ VPCI_MODERN_BAR, VPCI_BAR_DEVICE + TCFG_SIZE, 1 },
		{ VPCI_MODERN_BAR, VPCI_BAR_NOTIFY + TQ * VPCI_NOTIFY_MULT, 2 },
		{ VPCI_MODERN_BAR, 0xfffffffc, 4 },
		{ 0xff, 0, 1 },
	};

	for (unsigned i = 0; i < RS_ARRAY_SIZE(bad); i++) {
		pcicfg_set(x, bad[i].bar, bad[i].off, bad[i].len);
		pcicfg_wr(x, 4, 0x12345678);
		CHECK_EQ(dc(x, DIAG_PCI_CFG), ++n);
		/* an invalid window reads 0 */
		CHECK_EQ(pcicfg_rd(x, 4), 0);
		CHECK_EQ(dc(x, DIAG_PCI_CFG), ++n);
	}
	CHECK_EQ(x->d->status, 0);
	CHECK_EQ(x->d->dfselect, 0);
	CHECK_EQ(x->d->isr, 0);
	vx_free(x);

	/* a legacy-only device has no such capability and no hooks */
	x = vx_new(VPCI_LEGACY, true);
	CHECK_EQ(x->cap[VIRTIO_PCI_CAP_PCI_CFG], 0);
	CHECK_EQ(pc_rd(x, 0x80, 4), 0);
	vx_free(x);
}

/* ---- BAR reprogramming and the transitional device ------------------------------- */

static void test_bar_reprogram(void)
{
	struct vx *x = vx_new(VPCI_TRANSITIONAL, true);
	uint64_t old4 = x->bar4, oldm = x->msix;
	uint16_t oldio = x->io;

	/* move BAR 4 */
	pc_wr(x, PCI_BAR0 + 16, 4, 0xf0000000 | PCI_BAR_MEM64);
	vx_discover(x);
	CHECK_EQ(x->bar4, 0xf0000000);
	CHECK_EQ(mb_rd(x, C(NUMQ), 2), TQ);
	CHECK_EQ(machine_mmio_read(&x->m, old4 + VIRTIO_PCI_COMMON_NUMQ, 2), 0xffff);
	/* and the legacy BAR */
	pc_wr(x, PCI_BAR0, 4, 0xe000);
	vx_discover(x);
	CHECK_EQ(x->io, 0xe000);
	CHECK_EQ(lg_rd(x, L_NUM, 2), TQMAX);
	CHECK_EQ(machine_pio_read(&x->m, (uint16_t)(oldio + L_NUM), 2), 0xffff);
	/* BAR 4 over the MSI-X BAR: reported, unmapped; moved back it works */
	pc_wr(x, PCI_BAR0 + 16, 4, (uint32_t)oldm | PCI_BAR_MEM64);
	CHECK_EQ(dc(x, DIAG_PCI_BAR), 1);
	CHECK_EQ(machine_mmio_read(&x->m, oldm + VPCI_MSIX_TABLE_OFF + 12, 4), 1);
	CHECK_EQ(mb_rd(x, C(NUMQ), 2), 0xffff);
	pc_wr(x, PCI_BAR0 + 16, 4, (uint32_t)old4 | PCI_BAR_MEM64);
	vx_discover(x);
	CHECK_EQ(mb_rd(x, C(NUMQ), 2), TQ);
	/* decode off and on */
	pc_wr(x, PCI_COMMAND, 2, PCI_COMMAND_IO);
	CHECK_EQ(mb_rd(x, C(NUMQ), 2), 0xffff);
	CHECK_EQ(machine_mmio_read(&x->m, x->msix + 12, 4), 0xffffffff);
	CHECK_EQ(lg_rd(x, L_NUM, 2), TQMAX);
	pc_wr(x, PCI_COMMAND, 2, PCI_COMMAND_IO | PCI_COMMAND_MEMORY);
	CHECK_EQ(mb_rd(x, C(NUMQ), 2), TQ);
	CHECK_EQ(machine_mmio_read(&x->m, x->msix + 12, 4), 1);
	vx_free(x);
}

static void test_transitional_interfaces(void)
{
	struct vx *x = vx_new(VPCI_TRANSITIONAL, false);

	/* one device, two views: the legacy one sees feature window 0 only */
	CHECK_EQ(lg_rd(x, L_HF, 4), MODERN_LO);
	CHECK_EQ(mb_rd(x, C(DF), 4), MODERN_LO);
	lg_wr(x, L_STATUS, 1, VIRTIO_STATUS_ACKNOWLEDGE);
	CHECK(x->d->legacy);
	CHECK_EQ(mb_rd(x, C(STATUS), 1), VIRTIO_STATUS_ACKNOWLEDGE);
	lg_wr(x, L_SEL, 2, 1);
	CHECK_EQ(mb_rd(x, C(Q_SELECT), 2), 1);
	mb_wr(x, C(Q_SELECT), 2, 0);
	CHECK(!x->d->legacy);
	CHECK_EQ(lg_rd(x, L_SEL, 2), 0);
	/* a legacy reset, then a modern driver */
	lg_wr(x, L_STATUS, 1, 0);
	struct ring r;
	modern_bringup(x, &r, VIRTIO_MSI_NO_VECTOR);
	CHECK_EQ(lg_rd(x, L_STATUS, 1), mb_rd(x, C(STATUS), 1));
	/* the modern driver's ring reads back through the legacy view */
	CHECK_EQ(lg_rd(x, L_PFN, 4), 0);
	CHECK_EQ(diag_count_class(&x->d->log, DIAG_CLASS_DRIVER), 0);
	vx_free(x);
}

/* All 256 config bytes of the function. */
static void cfg_snapshot(struct vx *x, unsigned slot, uint8_t out[256])
{
	for (unsigned off = 0; off < 256; off += 4)
		rs_st32(out + off, machine_pci_cfg_read(&x->m, slot, off, 4));
}

/* machine_reset puts the function back as vpci_create left it. */
static void test_machine_reset(void)
{
	struct vx *x = vx_new(VPCI_TRANSITIONAL, true);
	uint64_t h0 = vdev_state_hash(x->d), old4 = x->bar4, oldm = x->msix;
	uint16_t oldio = x->io;
	uint8_t cfg0[256], cfg1[256];
	struct ring r;

	cfg_snapshot(x, (unsigned)x->slot, cfg0);
	modern_bringup(x, &r, 1);
	msix_entry(x, 1, 0xfee00000, 0x31);
	msix_enable(x, true);
	machine_mmio_write(&x->m, x->msix + 16 + 12, 4, 1); /* mask entry 1 */
	vdev_queue_interrupt(x->d, 0);                       /* pending in the PBA? */
	mb_wr(x, 0x3f, 1, 0);                                /* a diagnostic */
	CHECK(x->d->log.total > 0);
	pc_wr(x, PCI_BAR0 + 16, 4, 0xf0000000 | PCI_BAR_MEM64);
	pc_wr(x, PCI_BAR0, 4, 0xe000);
	pc_wr(x, PCI_COMMAND, 2, PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_INTX_DISABLE);
	vx_discover(x);
	CHECK_EQ(x->bar4, 0xf0000000);
	CHECK(vdev_state_hash(x->d) != h0);

	machine_reset(&x->m);
	CHECK_EQ(x->d->log.total, 0);
	/* (reading pci_cfg_data with the window at 0 is itself reported) */
	cfg_snapshot(x, (unsigned)x->slot, cfg1);
	CHECK(memcmp(cfg0, cfg1, sizeof(cfg0)) == 0);
	vx_discover(x);
	CHECK_EQ(x->bar4, old4);
	CHECK_EQ(x->io, oldio);
	CHECK_EQ(mb_rd(x, C(NUMQ), 2), TQ);
	CHECK_EQ(lg_rd(x, L_NUM, 2), TQMAX);
	CHECK_EQ(machine_mmio_read(&x->m, 0xf0000000 + VIRTIO_PCI_COMMON_NUMQ, 2), 0xffff);
	CHECK_EQ(machine_pio_read(&x->m, 0xe000 + L_NUM, 2), 0xffff);
	CHECK_EQ(machine_mmio_read(&x->m, oldm + 16, 4), 0);          /* entry 1 address */
	CHECK_EQ(machine_mmio_read(&x->m, oldm + 16 + 12, 4), 1);     /* masked */
	CHECK_EQ(machine_mmio_read(&x->m, oldm + VPCI_MSIX_PBA_OFF, 8), 0);
	CHECK_EQ(mb_rd(x, C(STATUS), 1), 0);
	CHECK_EQ(vdev_state_hash(x->d), h0);
	CHECK_EQ(x->d->stats.resets, 0);
	CHECK_EQ(x->m.msi_count, 0);
	vx_free(x);

	/* INTx held high goes low */
	x = vx_new(VPCI_MODERN, false);
	modern_bringup(x, &r, VIRTIO_MSI_NO_VECTOR);
	vdev_config_changed(x->d);
	CHECK(intx_high(x));
	CHECK(pc_rd(x, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
	machine_reset(&x->m);
	CHECK(!intx_high(x));
	CHECK_EQ(x->m.intx_sources[x->gsi], 0);
	CHECK(!(pc_rd(x, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT));
	vx_free(x);
}

static void destroy_vdev_part(void *ctx)
{
	vdev_destroy(ctx);
}

/* Two functions whose BARs took each other's first places: the one reset
 * first waits for the second round. A place held by something else for
 * good is reported and the BAR left unmapped. */
static void test_machine_reset_swapped_bars(void)
{
	struct vpci_opts o = { .mode = VPCI_MODERN, .slot = -1, .gsi = -1, .msix = false };
	struct vx *x = vx_new_with(&t_ops, &o);
	struct vdev *d2 = NULL;
	uint64_t a0 = x->bar4, b0;
	char err[128];
	int s2;

	CHECK_EQ(vdev_create(&t_ops, &x->m.gm, NULL, NULL, &d2, err, sizeof(err)), 0);
	CHECK_EQ(machine_add_part(&x->m, destroy_vdev_part, d2), 0);
	s2 = vpci_create(&x->m, d2, &o, err, sizeof(err));
	CHECK(s2 > x->slot);
	b0 = cfg_rd(&x->m, (unsigned)s2, PCI_BAR0 + 16, 4) & ~0xfu;
	CHECK(b0 != a0);
	/* A moves away, B takes A's first place */
	pc_wr(x, PCI_BAR0 + 16, 4, 0xf0000000 | PCI_BAR_MEM64);
	cfg_wr(&x->m, (unsigned)s2, PCI_BAR0 + 16, 4, (uint32_t)a0 | PCI_BAR_MEM64);
	CHECK_EQ(machine_mmio_read(&x->m, a0 + VIRTIO_PCI_COMMON_NUMQ, 2), TQ); /* B there */
	machine_reset(&x->m);
	CHECK_EQ(cfg_rd(&x->m, (unsigned)s2, PCI_BAR0 + 16, 4) & ~0xfu, b0);
	CHECK_EQ(machine_mmio_read(&x->m, a0 + VIRTIO_PCI_COMMON_NUMQ, 2), TQ);
	CHECK_EQ(machine_mmio_read(&x->m, b0 + VIRTIO_PCI_COMMON_NUMQ, 2), TQ);
	CHECK_EQ(machine_mmio_read(&x->m, 0xf0000000 + VIRTIO_PCI_COMMON_NUMQ, 2), 0xffff);
	CHECK_EQ(dc(x, DIAG_PCI_BAR), 0);
	/* now something else sits on A's first place for good */
	pc_wr(x, PCI_BAR0 + 16, 4, 0xf0000000 | PCI_BAR_MEM64);
	CHECK_EQ(machine_map_mmio(&x->m, a0, 0x1000, &vpci_test_null_ops, NULL, "squat"), 0);
	machine_reset(&x->m);
	CHECK_EQ(dc(x, DIAG_PCI_BAR), 1);
	CHECK_EQ(machine_mmio_read(&x->m, 0xf0000000 + VIRTIO_PCI_COMMON_NUMQ, 2), 0xffff);
	CHECK_EQ(machine_unmap_mmio(&x->m, a0, NULL), 0);
	machine_reset(&x->m); /* the place is free again */
	CHECK_EQ(dc(x, DIAG_PCI_BAR), 0);
	CHECK_EQ(machine_mmio_read(&x->m, a0 + VIRTIO_PCI_COMMON_NUMQ, 2), TQ);
	vx_free(x);
}

static void test_teardown(void)
{
	struct vx *x = vx_new(VPCI_TRANSITIONAL, true);
	struct machine_part *p = &x->m.parts[x->m.nparts - 1];

	CHECK_EQ(x->m.nparts, 1);
	CHECK_EQ(x->m.pio.n, 3);  /* conf1 address, conf1 data, BAR 0 */
	CHECK_EQ(x->m.mmio.n, 2); /* BAR 1, BAR 4 */
	/* the part leaves the slot and the maps */
	p->destroy(p->ctx);
	x->m.nparts--;
	CHECK(x->m.pci[x->slot].ops == NULL);
	CHECK_EQ(x->m.pio.n, 2);
	CHECK_EQ(x->m.mmio.n, 0);
	CHECK_EQ(cfg_rd(&x->m, (unsigned)x->slot, PCI_VENDOR_ID, 2), 0xffff);
	vx_free(x);
}

int main(void)
{
	RUN(test_ids_per_mode);
	RUN(test_ids_special);
	RUN(test_create_validation);
	RUN(test_create_resources);
	RUN(test_create_limits);
	RUN(test_gsi_and_vectors);
	RUN(test_bar_layout);
	RUN(test_caps_modern);
	RUN(test_legacy_register_map);
	RUN(test_legacy_msix_layout);
	RUN(test_legacy_bringup_intx);
	RUN(test_legacy_bringup_msix);
	RUN(test_modern_common_map);
	RUN(test_modern_common_invalid);
	RUN(test_modern_bringup_msix);
	RUN(test_modern_intx);
	RUN(test_modern_notify_region);
	RUN(test_modern_device_cfg);
	RUN(test_pcicfg_access);
	RUN(test_pcicfg_invalid);
	RUN(test_bar_reprogram);
	RUN(test_transitional_interfaces);
	RUN(test_machine_reset);
	RUN(test_machine_reset_swapped_bars);
	RUN(test_teardown);
	return check_done();
}
