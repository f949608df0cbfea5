/*
 * ringside — the executor of device and machine targets: plays one op of
 * the op stream (docs/op-stream.md) against a machine, as a hostile guest
 * would, through the same entry points a real guest reaches
 * (machine_pio_*, machine_mmio_*, guest memory) and through the reference
 * driver (guest/) for the structured ops.
 *
 * Every field of an op is reduced into range here (modulo, masks), so every
 * input means something; nothing an op asks for can crash the harness
 * itself. What the guest side observes (register values, completions and
 * the bytes the device wrote into them, return codes) is mixed into the
 * result hash.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "ringside/guest_machine.h"

#define SCRATCH_MAX 65536

static uint8_t scratch[SCRATCH_MAX];

/* ---- machine set-up ----------------------------------------------------------------- */

static uint64_t ram_low_of(const struct machine *m)
{
	return RS_MIN(m->mem_size, MACHINE_RAM_LOW_MAX);
}

/* Derive the device's register regions from where its BARs are now (PCI)
 * or its window (MMIO). Reading BARs has no side effect. */
static void dev_regions(struct fuzz_machine *fm, struct fuzz_dev *fd)
{
	struct machine *m = fm->m;
	uint32_t cfg = fd->vd->ops->config_size ? fd->vd->ops->config_size : 4;
	unsigned n = 0;

	if (fd->transport == MSPEC_MMIO || fd->transport == MSPEC_MMIO_LEGACY) {
		fd->reg[n++] = (struct fuzz_region){ false, fd->mmio_base, VIRTIO_MMIO_CONFIG,
						     "mmio" };
		fd->reg[n++] = (struct fuzz_region){ false, fd->mmio_base + VIRTIO_MMIO_CONFIG, cfg,
						     "mmio-config" };
		fd->nreg = n;
		return;
	}
	if (fd->transport != MSPEC_PCI_MODERN) {
		uint32_t bar0 = machine_pci_cfg_read(m, (unsigned)fd->slot, PCI_BAR0, 4) & ~3u;
		uint32_t size = 32;

		while (size < VIRTIO_PCI_LEGACY_CONFIG_MSIX + cfg && size < 0x2000)
			size *= 2;
		fd->reg[n++] = (struct fuzz_region){ true, bar0, size, "legacy" };
	}
	if (fd->transport != MSPEC_PCI_LEGACY) {
		uint64_t bar4 = machine_pci_cfg_read(m, (unsigned)fd->slot, PCI_BAR0 + 16, 4) & ~0xfull;

		bar4 |= (uint64_t)machine_pci_cfg_read(m, (unsigned)fd->slot, PCI_BAR0 + 20, 4) << 32;
		fd->reg[n++] = (struct fuzz_region){ false, bar4 + VPCI_BAR_COMMON,
						     VIRTIO_PCI_COMMON_SIZE + 4, "common" };
		fd->reg[n++] = (struct fuzz_region){ false, bar4 + VPCI_BAR_ISR, 4, "isr" };
		fd->reg[n++] = (struct fuzz_region){ false, bar4 + VPCI_BAR_DEVICE, cfg, "device" };
		fd->reg[n++] = (struct fuzz_region){
			false, bar4 + VPCI_BAR_NOTIFY,
			(uint64_t)RS_MAX(fd->vd->nqueues, 1u) * VPCI_NOTIFY_MULT, "notify"
		};
	}
	if (fd->pci.msix_cap) {
		uint32_t bar1 = machine_pci_cfg_read(m, (unsigned)fd->slot, PCI_BAR0 + 4, 4) & ~0xfu;

		fd->reg[n++] = (struct fuzz_region){ false, bar1, VPCI_MSIX_BAR_SIZE, "msix" };
	}
	fd->nreg = n;
}

static bool is_pci(const struct fuzz_dev *fd)
{
	return fd->transport == MSPEC_PCI || fd->transport == MSPEC_PCI_MODERN ||
	       fd->transport == MSPEC_PCI_LEGACY;
}

/* What a probe of fd's function depends on that a guest can change: the
 * BARs and the command register (read host-side, no side effect). */
static void pci_key(struct fuzz_machine *fm, const struct fuzz_dev *fd, uint32_t key[7])
{
	for (unsigned i = 0; i < 6; i++)
		key[i] = machine_pci_cfg_read(fm->m, (unsigned)fd->slot, PCI_BAR0 + 4 * i, 4);
	key[6] = machine_pci_cfg_read(fm->m, (unsigned)fd->slot, PCI_COMMAND, 2);
}

/* Find each PCI device's function with the driver's bus scan. */
static void scan_pci(struct fuzz_machine *fm)
{
	struct gdrv_pci_info info[MACHINE_PCI_SLOTS];
	unsigned n = gdrv_pci_scan(&fm->io, info, MACHINE_PCI_SLOTS);

	for (unsigned i = 0; i < fm->ndevs; i++) {
		struct fuzz_dev *fd = &fm->devs[i];

		if (!is_pci(fd))
			continue;
		for (unsigned k = 0; k < n; k++)
			if ((int)info[k].slot == fd->slot)
				fd->pci = info[k];
	}
}

int fuzz_machine_init(struct fuzz_machine *fm, const char *spec, char *err, size_t errlen)
{
	struct world *w = fuzz_world_new();
	int r;

	memset(fm, 0, sizeof(*fm));
	snprintf(fm->spec, sizeof(fm->spec), "%s", spec);
	if (!w) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	r = rs_machine_new_world(spec, w, &fm->m, err, errlen);
	if (r < 0) {
		world_destroy(w);
		return r;
	}
	fm->world = w;
	fm->src = fuzz_source_new(&fm->m->gm);
	fm->devs = calloc(RS_MAX(fm->m->ndevs, 1u), sizeof(*fm->devs));
	if (!fm->src || !fm->devs) {
		snprintf(err, errlen, "out of memory");
		fuzz_machine_fini(fm);
		return -ENOMEM;
	}
	gm_set_source(&fm->m->gm, &fuzz_source_ops, fm->src);
	gdrv_machine_io(&fm->io, fm->m);
	fm->ram_low = ram_low_of(fm->m);
	fm->ndevs = fm->m->ndevs;
	for (unsigned i = 0; i < fm->ndevs; i++) {
		struct fuzz_dev *fd = &fm->devs[i];

		fd->vd = fm->m->devs[i];
		fd->index = i;
		fd->transport = fm->m->devinfo[i].transport;
		fd->slot = fm->m->devinfo[i].slot;
		fd->mmio_base = fm->m->devinfo[i].base;
	}
	scan_pci(fm);
	for (unsigned i = 0; i < fm->ndevs; i++) {
		struct fuzz_dev *fd = &fm->devs[i];

		fd->pci0 = fd->pci;
		if (is_pci(fd))
			fd->found = gdrv_open_pci(&fd->tmpl, &fm->io, &fm->mem, &fd->pci,
						  fd->transport == MSPEC_PCI_LEGACY) == 0;
		else
			fd->found = gdrv_open_mmio(&fd->tmpl, &fm->io, &fm->mem, fd->mmio_base) == 0;
		/* in-process devices reset synchronously: a status that does not
		 * read 0 at once never will, so the driver reads it once */
		fd->tmpl.reset_polls = 1;
	}
	/* the scan enabled decode and bus mastering: back to just-built */
	fuzz_machine_reset(fm);
	for (unsigned i = 0; i < fm->ndevs; i++) {
		struct fuzz_dev *fd = &fm->devs[i];

		dev_regions(fm, fd);
		if (is_pci(fd) && fd->slot >= 0) {
			pci_key(fm, fd, fd->pci_key0);
			memcpy(fd->pci_key, fd->pci_key0, sizeof(fd->pci_key));
		}
	}
	return 0;
}

void fuzz_machine_fini(struct fuzz_machine *fm)
{
	if (fm->m) {
		gm_set_source(&fm->m->gm, NULL, NULL);
		rs_machine_free(fm->m); /* destroys the world too */
	}
	fuzz_source_free(fm->src);
	free(fm->devs);
	memset(fm, 0, sizeof(*fm));
}

void fuzz_machine_reset(struct fuzz_machine *fm)
{
	uint64_t lo = fm->ram_low;

	machine_reset(fm->m);
	for (unsigned i = 0; i < fm->ndevs; i++)
		fm->devs[i].opened = false;
	/* rings in [lo/8, lo/2), chain buffers in [lo/2, lo) */
	fm->mem.next = lo / 8;
	fm->mem.end = lo / 2;
	fm->bufs.lo = fm->bufs.next = lo / 2;
	fm->bufs.hi = lo;
	if (fm->bars_moved) {
		for (unsigned i = 0; i < fm->ndevs; i++) {
			struct fuzz_dev *fd = &fm->devs[i];

			fd->pci = fd->tmpl.pci = fd->pci0;
			memcpy(fd->pci_key, fd->pci_key0, sizeof(fd->pci_key));
			dev_regions(fm, fd);
		}
	}
	fm->bars_moved = false;
}

void fuzz_machine_digest(struct fuzz_exec *x)
{
	struct machine *m = x->fm->m;

	fuzz_mix(x, m->intx_level);
	fuzz_mix(x, m->intx_raised);
	fuzz_mix(x, m->msi_count);
	for (unsigned c = 0; c < DIAG__COUNT; c++) {
		uint64_t n = m->log.count[c];

		for (unsigned i = 0; i < x->fm->ndevs; i++)
			n = n * 31 + x->fm->devs[i].vd->log.count[c];
		if (n)
			fuzz_mix(x, (uint64_t)c << 48 ^ n);
	}
}

/* ---- helpers ------------------------------------------------------------------------ */

static struct fuzz_dev *op_dev(struct fuzz_machine *fm, const struct fuzz_op *op)
{
	return fm->ndevs ? &fm->devs[op->dev % fm->ndevs] : NULL;
}

/* The reference driver of fd for this input: the state right after open,
 * copied from the template the first time (only the header: gdrv_open
 * clears ~45 KiB, too slow per input). */
static struct gdrv_dev *drv(struct fuzz_machine *fm, struct fuzz_dev *fd)
{
	if (!fd->found)
		return NULL;
	if (!fd->opened) {
		memcpy(&fd->drv, &fd->tmpl, offsetof(struct gdrv_dev, vq));
		fd->drv.io = &fm->io;
		fd->drv.mem = &fm->mem;
		for (unsigned q = 0; q < GDRV_MAX_QUEUES; q++)
			fd->drv.vq[q].num = 0;
		fd->opened = true;
	}
	return &fd->drv;
}

/* A live queue of the driver, or NULL. */
static struct gdrv_vq *drv_vq(struct fuzz_machine *fm, struct fuzz_dev *fd, unsigned q)
{
	struct gdrv_dev *d = drv(fm, fd);

	if (!d || q >= GDRV_MAX_QUEUES || d->vq[q].num == 0)
		return NULL;
	return &d->vq[q];
}

/* Chain buffer space, 16-aligned plus skew, wrapping round the window
 * (not zeroed: untouched bytes are lazy DMA). 0 when len does not fit. */
static uint64_t buf_alloc(struct fuzz_bufs *b, uint32_t len, unsigned skew)
{
	uint64_t gpa = ((b->next + 15) & ~15ull) + skew;

	if (gpa + len > b->hi || gpa < b->lo) {
		gpa = b->lo + skew;
		if (gpa + len > b->hi)
			return 0;
	}
	b->next = gpa + len;
	return gpa;
}

void fuzz_guest_fill(struct fuzz_exec *x, struct gm *gm, uint64_t gpa, size_t len)
{
	while (len) {
		size_t n = RS_MIN(len, sizeof(scratch));

		fuzz_take(&x->in, scratch, n);
		(void)gm_guest_write(gm, gpa, scratch, n);
		gpa += n;
		len -= n;
	}
}

void fuzz_mem_write(struct fuzz_exec *x, struct gm *gm, uint64_t ram, const struct fuzz_op *op)
{
	uint64_t gpa = ((uint64_t)op->p3 << 16 | op->p2) % (ram ? ram : 1);

	if (op->p0 & 0x80) {
		uint8_t v[8];

		rs_st64(v, op->val);
		(void)gm_guest_write(gm, gpa, v, RS_MIN((op->p0 & 7u) + 1u, (size_t)(ram - gpa)));
		return;
	}
	fuzz_guest_fill(x, gm, gpa,
			RS_MIN(((op->p0 & 0x7fu) << 8 | op->p1) + 1u, (size_t)(ram - gpa)));
}

void fuzz_ring_poke(struct gm *gm, const uint64_t base[3], const uint64_t size[3],
		    const struct fuzz_op *op)
{
	unsigned area = op->p1 % 3;
	uint8_t v[8];

	rs_st64(v, op->val);
	(void)gm_guest_write(gm, base[area] + op->p2 % (size[area] ? size[area] : 1), v,
			     fuzz_size4(op->p1 >> 2));
}

int fuzz_submit(struct fuzz_exec *x, struct gm *gm, struct fuzz_bufs *b, struct gdrv_vq *vq,
		struct fuzz_chain_rec *recs, const struct fuzz_op *op)
{
	unsigned nout = op->p1 & 15, nin = op->p1 >> 4, skew = op->p2 & 15;
	struct gdrv_buf bufs[FUZZ_MAX_SEGS];
	uint64_t token = op->index;
	struct fuzz_chain_rec *rec = &recs[token % FUZZ_RECS];
	int r;

	nin = RS_MIN(nin, (unsigned)FUZZ_MAX_SEGS - nout);
	rec->token = token;
	rec->in_gpa = 0;
	rec->in_len = 0;
	for (unsigned i = 0; i < nout + nin; i++) {
		uint32_t len = (uint32_t)(op->val >> (16 * RS_MIN(i, 3u))) & 0xffff;
		uint64_t gpa = buf_alloc(b, len, skew);

		bufs[i] = (struct gdrv_buf){ gpa, len };
		if (i < nout && (op->p0 & FUZZ_SUB_FILL))
			fuzz_guest_fill(x, gm, gpa, len);
		if (i == nout) {
			rec->in_gpa = gpa;
			rec->in_len = len;
		}
	}
	r = gdrv_submit(vq, bufs, nout, nin, token, op->p0 & FUZZ_SUB_INDIRECT);
	fuzz_mix(x, (uint64_t)(int64_t)r);
	return r;
}

void fuzz_collect(struct fuzz_exec *x, struct gm *gm, struct gdrv_vq *vq,
		  const struct fuzz_chain_rec *recs)
{
	for (unsigned i = 0; i <= vq->num; i++) {
		uint64_t token = 0;
		uint32_t len = 0;
		int r = gdrv_get_used(vq, &token, &len);
		const struct fuzz_chain_rec *rec;

		fuzz_mix(x, (uint64_t)(int64_t)r);
		if (r < 0 && x->trace)
			fprintf(x->trace, "       used: q=%u broken by the device\n", vq->idx);
		if (r != 1)
			return;
		fuzz_mix(x, token);
		fuzz_mix(x, len);
		if (x->trace)
			fprintf(x->trace, "       used: q=%u token=%llu len=%u\n", vq->idx,
				(unsigned long long)token, len);
		rec = &recs[token % FUZZ_RECS];
		if (rec->token == token && rec->in_gpa && len) {
			uint8_t b[32];
			size_t n = RS_MIN((size_t)RS_MIN(len, rec->in_len), sizeof(b));

			(void)gm_guest_read(gm, rec->in_gpa, b, n);
			for (size_t k = 0; k < n; k++)
				fuzz_mix(x, b[k]);
		}
	}
}

/* Drain one queue of device fd (if the driver has it live). */
static void collect(struct fuzz_exec *x, struct fuzz_dev *fd, unsigned q)
{
	struct gdrv_vq *vq = drv_vq(x->fm, fd, q);

	if (vq)
		fuzz_collect(x, &x->fm->m->gm, vq, fd->recs[q]);
}

/* Write the queue's notify register whatever the device asked for. */
static void force_notify(struct fuzz_machine *fm, struct fuzz_dev *fd, unsigned q)
{
	struct machine *m = fm->m;

	switch (fd->transport) {
	case MSPEC_MMIO:
	case MSPEC_MMIO_LEGACY:
		machine_mmio_write(m, fd->mmio_base + VIRTIO_MMIO_QUEUE_NOTIFY, 4, q);
		break;
	case MSPEC_PCI_LEGACY:
		machine_pio_write(m, (uint16_t)(fd->pci.bar[0] + VIRTIO_PCI_LEGACY_QUEUE_NOTIFY), 2,
				  q);
		break;
	default:
		if (fd->opened && fd->drv.transport == GDRV_PCI_LEGACY)
			machine_pio_write(m,
					  (uint16_t)(fd->pci.bar[0] + VIRTIO_PCI_LEGACY_QUEUE_NOTIFY),
					  2, q);
		else
			machine_mmio_write(m, fd->pci.notify + (uint64_t)q * fd->pci.notify_mult, 2,
					   q);
		break;
	}
}

/* A config write through conf1 or a raw port may have moved a BAR. */
static void bars_touched(struct fuzz_machine *fm)
{
	fm->bars_moved = true;
	for (unsigned i = 0; i < fm->ndevs; i++)
		dev_regions(fm, &fm->devs[i]);
}

/* ---- ops ---------------------------------------------------------------------------- */

static void op_reg(struct fuzz_exec *x, struct fuzz_dev *fd, const struct fuzz_op *op)
{
	const struct fuzz_region *r;
	unsigned size = fuzz_size4(op->p1);
	uint64_t addr;

	if (!fd->nreg)
		return;
	r = &fd->reg[op->p0 % fd->nreg];
	addr = r->base + op->p2 % r->len;
	if (r->pio) {
		if (op->code == FOP_REG_WRITE)
			machine_pio_write(x->fm->m, (uint16_t)addr, size, op->val);
		else
			fuzz_mix(x, machine_pio_read(x->fm->m, (uint16_t)addr, size));
	} else {
		if (op->code == FOP_REG_WRITE)
			machine_mmio_write(x->fm->m, addr, size, op->val);
		else
			fuzz_mix(x, machine_mmio_read(x->fm->m, addr, size));
	}
}

static void op_cfg(struct fuzz_exec *x, struct fuzz_dev *fd, const struct fuzz_op *op)
{
	struct machine *m = x->fm->m;
	unsigned slot = op->p0 & 0x80 ? op->p0 % 32u : (fd->slot > 0 ? (unsigned)fd->slot : 0);
	unsigned off = op->p2 & 0xff, size = RS_MIN(fuzz_size4(op->p1), 4u);
	uint16_t port = (uint16_t)(PCI_CONF1_DATA_PORT + (off & 3));

	machine_pio_write(m, PCI_CONF1_ADDR_PORT, 4,
			  PCI_CONF1_ENABLE | (uint32_t)slot << 11 | (off & 0xfcu));
	if (op->code == FOP_CFG_WRITE) {
		machine_pio_write(m, port, size, op->val);
		bars_touched(x->fm);
	} else {
		fuzz_mix(x, machine_pio_read(m, port, size));
	}
}

static void op_io_raw(struct fuzz_exec *x, const struct fuzz_op *op)
{
	struct machine *m = x->fm->m;
	unsigned size = fuzz_size4(op->p1);
	bool write = op->p0 & 2;

	if (op->p0 & 1) {
		uint64_t addr = MACHINE_VMMIO_BASE + ((uint64_t)op->p3 << 16 | op->p2);

		if (write)
			machine_mmio_write(m, addr, size, op->val);
		else
			fuzz_mix(x, machine_mmio_read(m, addr, size));
		return;
	}
	if (write) {
		machine_pio_write(m, op->p2, size, op->val);
		if (op->p2 >= PCI_CONF1_DATA_PORT && op->p2 < PCI_CONF1_DATA_PORT + 4)
			bars_touched(x->fm);
	} else {
		fuzz_mix(x, machine_pio_read(m, op->p2, size));
	}
}

/* Size of ring area `area` (0 desc, 1 driver, 2 device) of a live queue. */
static void vq_areas(const struct gdrv_vq *vq, uint64_t base[3], uint64_t size[3])
{
	base[0] = vq->desc;
	base[1] = vq->avail;
	base[2] = vq->used;
	size[0] = (uint64_t)VIRTQ_DESC_SIZE * vq->num;
	size[1] = vq->packed ? 4 : virtq_avail_size(vq->num);
	size[2] = vq->packed ? 4 : virtq_used_size(vq->num);
}

static void op_driver_init(struct fuzz_exec *x, struct fuzz_dev *fd, const struct fuzz_op *op)
{
	struct fuzz_machine *fm = x->fm;
	struct gdrv_dev *d;
	unsigned nq;
	int r;

	if (fm->bars_moved && is_pci(fd) && fd->slot >= 0) {
		uint32_t key[7];

		/* re-probe the function as a driver would after the guest moved
		 * BARs or turned decoding off (its own slot: a driver probes its
		 * own device); a config write that changed neither leaves the
		 * last probe's result valid */
		pci_key(fm, fd, key);
		if (memcmp(key, fd->pci_key, sizeof(key))) {
			gdrv_pci_probe(&fm->io, (unsigned)fd->slot, &fd->pci);
			pci_key(fm, fd, fd->pci_key);
			fd->tmpl.pci = fd->pci;
			if (fd->opened)
				fd->drv.pci = fd->pci;
		}
	}
	d = drv(fm, fd);
	if (!d) {
		fuzz_mix(x, 0xdead);
		return;
	}
	if (is_pci(fd)) {
		/* transitional functions: p0 bit 3 picks the legacy interface */
		bool legacy = fd->transport == MSPEC_PCI_LEGACY ||
			      (fd->transport == MSPEC_PCI && (op->p0 & 0x08) && fd->pci.has_legacy);

		d->transport = legacy ? GDRV_PCI_LEGACY : GDRV_PCI_MODERN;
		if (fd->pci.msix_cap)
			d->msix = gdrv_pci_cfg_read(&fm->io, fd->pci.slot,
						    fd->pci.msix_cap + PCI_MSIX_FLAGS, 2) &
				  PCI_MSIX_FLAGS_ENABLE;
	}
	r = gdrv_init(d, op->val);
	fuzz_mix(x, (uint64_t)(int64_t)r);
	fuzz_mix(x, d->features);
	if (r < 0)
		return;
	if ((op->p0 & FUZZ_INIT_MSIX) && is_pci(fd))
		fuzz_mix(x, (uint64_t)(int64_t)gdrv_enable_msix(d, FUZZ_MSI_ADDR,
								 0x40u + fd->index * 0x40u));
	nq = RS_MIN(fd->vd->nqueues, (unsigned)GDRV_MAX_QUEUES);
	if (op->p1)
		nq = RS_MIN(nq, (unsigned)op->p1);
	if (op->p0 & FUZZ_INIT_NO_QUEUES)
		nq = 0;
	for (unsigned q = 0; q < nq; q++)
		fuzz_mix(x, (uint64_t)(int64_t)gdrv_setup_vq(d, q, op->p2 ? op->p2 : GDRV_MAX_QSIZE));
	if (!(op->p0 & FUZZ_INIT_NO_OK))
		gdrv_driver_ok(d);
	fuzz_mix(x, gdrv_get_status(d));
}

static void op_submit(struct fuzz_exec *x, struct fuzz_dev *fd, const struct fuzz_op *op)
{
	struct fuzz_machine *fm = x->fm;
	unsigned q = op->p0 & 7;
	struct gdrv_vq *vq = drv_vq(fm, fd, q);

	if (!vq) {
		fuzz_mix(x, 0xdead);
		return;
	}
	if (fuzz_submit(x, &fm->m->gm, &fm->bufs, vq, fd->recs[q], op) == 0 &&
	    !(op->p0 & FUZZ_SUB_NO_KICK))
		fuzz_mix(x, gdrv_kick(vq));
	if (op->p0 & FUZZ_SUB_COLLECT)
		collect(x, fd, q);
}

static const int fault_errnos[8] = { EIO, ENOSPC, EAGAIN, EINVAL, ENODEV, EROFS, EOVERFLOW, ENOMEM };

static void op_world_event(struct fuzz_exec *x, struct fuzz_dev *fd, const struct fuzz_op *op)
{
	const struct fuzz_device_info *info = fuzz_device_info(fd->vd->ops->name);
	uint32_t kinds = info && info->event_kinds ? info->event_kinds : 0x1feu;
	unsigned allowed[WEV_HOST + 1], n = 0;
	struct world_event ev;
	size_t len = op->p2 % (FUZZ_WORLD_EVENT_DATA + 1u);

	for (unsigned k = WEV_NET_RX; k <= WEV_HOST; k++)
		if (kinds & (1u << k))
			allowed[n++] = k;
	if (!n)
		return;
	fuzz_take(&x->in, scratch, len);
	memset(&ev, 0, sizeof(ev));
	/* kind 1 + p0 % 8; one the device does not take maps onto those it does */
	ev.kind = (enum world_event_kind)(1u + (op->p0 & 0x7fu) % 8u);
	if (!(kinds & (1u << ev.kind)))
		ev.kind = (enum world_event_kind)allowed[(op->p0 & 0x7f) % n];
	ev.dev = op->p0 & 0x80 ? op->dev : fd->index;
	ev.port = op->p3;
	ev.arg = op->val;
	ev.len = (uint32_t)len;
	ev.data = len ? scratch : NULL;
	fuzz_mix(x, (uint64_t)(int64_t)world_post(x->fm->world, &ev));
	fuzz_mix(x, (uint64_t)rs_machine_poll_events(x->fm->m, FUZZ_WORLD_EVENTS));
}

void fuzz_exec_op(struct fuzz_exec *x, const struct fuzz_op *op)
{
	struct fuzz_machine *fm = x->fm;
	struct fuzz_dev *fd = op_dev(fm, op);
	struct gdrv_dev *d;
	struct gdrv_vq *vq;

	if (!fd)
		return;
	switch (op->code) {
	case FOP_REG_READ:
	case FOP_REG_WRITE:
		op_reg(x, fd, op);
		break;
	case FOP_CFG_READ:
	case FOP_CFG_WRITE:
		op_cfg(x, fd, op);
		break;
	case FOP_IO_RAW:
		op_io_raw(x, op);
		break;
	case FOP_MEM_WRITE:
		fuzz_mem_write(x, &fm->m->gm, fm->ram_low, op);
		break;
	case FOP_RING_WRITE:
		if ((vq = drv_vq(fm, fd, op->p0 & 7))) {
			uint64_t base[3], size[3];

			vq_areas(vq, base, size);
			fuzz_ring_poke(&fm->m->gm, base, size, op);
		}
		break;
	case FOP_DRIVER_INIT:
		op_driver_init(x, fd, op);
		break;
	case FOP_SUBMIT:
		op_submit(x, fd, op);
		break;
	case FOP_KICK:
		if (op->p1 & 1)
			force_notify(fm, fd, op->p0 & 7);
		else if ((vq = drv_vq(fm, fd, op->p0 & 7)))
			fuzz_mix(x, gdrv_kick(vq));
		break;
	case FOP_COLLECT:
		if (op->p0 & 0x80)
			for (unsigned q = 0; q < GDRV_MAX_QUEUES; q++)
				collect(x, fd, q);
		else
			collect(x, fd, op->p0 & 7);
		break;
	case FOP_IRQ_ACK:
		if ((d = drv(fm, fd)))
			fuzz_mix(x, gdrv_ack_isr(d));
		break;
	case FOP_SET_INTERRUPTS:
		if ((vq = drv_vq(fm, fd, op->p0 & 7)))
			gdrv_set_interrupts(vq, op->p1 & 1);
		break;
	case FOP_RESET:
		if ((d = drv(fm, fd)))
			gdrv_reset(d);
		break;
	case FOP_STATUS:
		if ((d = drv(fm, fd))) {
			uint8_t v = op->p0 & 1 ? (uint8_t)(gdrv_get_status(d) | op->p1) : op->p1;

			gdrv_set_status(d, v);
			fuzz_mix(x, gdrv_get_status(d));
		}
		break;
	case FOP_DEVCFG:
		if ((d = drv(fm, fd))) {
			unsigned off = op->p2 % (fd->vd->ops->config_size + 8u);

			if (op->p0 & 1)
				gdrv_config_write(d, off, fuzz_size4(op->p1), op->val);
			else
				fuzz_mix(x, gdrv_config_read(d, off, fuzz_size4(op->p1)));
		}
		break;
	case FOP_WORLD_FAULT:
		fuzz_world_fault(fm->world, (enum fuzz_fault_kind)(op->p0 % 4), op->val,
				 -fault_errnos[op->p1 % 8]);
		break;
	case FOP_WORLD_EVENT:
		op_world_event(x, fd, op);
		break;
	case FOP_WORLD_CLOCK:
		fuzz_world_advance(fm->world, op->val);
		break;
	default:
		break;
	}
}
