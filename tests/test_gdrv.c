/*
 * ringside tests — the guest reference driver (gdrv) against the whole
 * device stack: an echo device over every transport and interface (PCI
 * transitional through its legacy and its modern interface, PCI modern,
 * PCI legacy, MMIO v2, MMIO v1), real I/O on split and packed rings, direct
 * and indirect chains, index wrap, notification suppression both ways,
 * MSI-X and INTx, config space, reset and re-init. These are the project's
 * main integration tests.
 *
 * The second half drives the driver over a fake I/O table (conf1 space,
 * port and MMIO register files, RAM) to cover what a well-behaved device
 * never does: malformed capability lists, registers that do not stick,
 * out-of-order and bogus completions.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ringside/echo.h"
#include "ringside/guest_machine.h"
#include "ringside/ringside.h"
#include "ringside/transport.h"
#include "ringside/virtio.h"

/* ======================================================================================== */
/* Real machine                                                                              */
/* ======================================================================================== */

#define MEM_SPEC "mem=16M "
#define DRV_MEM_BASE 0x100000ull
#define DRV_MEM_END (16ull << 20)
#define SLOT_BYTES 4096u
#define NSLOTS 64u
#define MSI_ADDR 0xfee00000ull
#define MSI_DATA 0x40u

#define F(b) VIRTIO_BIT(b)
#define F_ALL (~0ull)
#define F_NO_PACKED (~F(VIRTIO_F_RING_PACKED))

struct env {
	struct machine *m;
	struct gdrv_io io;
	struct gdrv_mem mem;
	struct gdrv_dev *d;
	uint64_t scratch;    /* NSLOTS buffers of SLOT_BYTES */
	uint64_t echoed;     /* payload bytes the device should have counted */
	uint32_t requests;   /* chains the device should have counted */
};

/* Build the machine of spec and open device idx (PCI: through its legacy
 * interface when use_legacy). Returns false (after a failed check) when
 * the machine or the device cannot be opened. */
static bool env_open(struct env *e, const char *spec, unsigned idx, bool use_legacy)
{
	char err[256];
	struct machine_devinfo *di;

	memset(e, 0, sizeof *e);
	if (rs_machine_new(spec, &e->m, err, sizeof err) < 0) {
		fprintf(stderr, "rs_machine_new(%s): %s\n", spec, err);
		CHECK(!"machine");
		return false;
	}
	gdrv_machine_io(&e->io, e->m);
	e->mem.next = DRV_MEM_BASE;
	e->mem.end = DRV_MEM_END;
	e->d = calloc(1, sizeof *e->d);
	CHECK(e->d != NULL);
	e->scratch = gdrv_alloc(&e->io, &e->mem, (uint64_t)NSLOTS * SLOT_BYTES, 4096);
	CHECK(e->scratch != 0);
	CHECK(idx < e->m->ndevs);
	di = &e->m->devinfo[idx];
	if (di->transport == MSPEC_MMIO || di->transport == MSPEC_MMIO_LEGACY) {
		CHECK_EQ(gdrv_open_mmio(e->d, &e->io, &e->mem, di->base), 0);
		CHECK_EQ(e->d->transport,
			 di->transport == MSPEC_MMIO ? GDRV_MMIO_V2 : GDRV_MMIO_V1);
	} else {
		struct gdrv_pci_info info[8];
		unsigned n = gdrv_pci_scan(&e->io, info, 8), i;

		for (i = 0; i < n && info[i].slot != (unsigned)di->slot; i++)
			;
		CHECK(i < n);
		if (i == n)
			return false;
		CHECK_EQ(gdrv_open_pci(e->d, &e->io, &e->mem, &info[i], use_legacy), 0);
		CHECK_EQ(e->d->transport, use_legacy ? GDRV_PCI_LEGACY : GDRV_PCI_MODERN);
	}
	CHECK_EQ(e->d->device_id, VIRTIO_ID_RS_ECHO);
	return true;
}

/* The reference driver follows the spec: nothing it did may have been
 * reported as a violation by the device or the machine. */
static void env_check_clean(struct env *e)
{
	for (unsigned i = 0; i < e->m->ndevs; i++) {
		CHECK_EQ(e->m->devs[i]->log.total, 0);
		if (e->m->devs[i]->log.total)
			fprintf(stderr, "device %u: %s\n", i, e->m->devs[i]->log.recent[0].msg);
	}
	CHECK_EQ(e->m->log.total, 0);
}

static void env_close(struct env *e)
{
	rs_machine_free(e->m);
	free(e->d);
	e->m = NULL;
	e->d = NULL;
}

/* init + queues 0 and 1 of size qsize + DRIVER_OK. */
static bool env_up(struct env *e, uint64_t want, uint16_t qsize, bool msix)
{
	CHECK_EQ(gdrv_init(e->d, want), 0);
	if (msix)
		CHECK_EQ(gdrv_enable_msix(e->d, MSI_ADDR, MSI_DATA), 0);
	CHECK_EQ(gdrv_setup_vq(e->d, 0, qsize), 0);
	CHECK_EQ(gdrv_setup_vq(e->d, 1, qsize), 0);
	gdrv_driver_ok(e->d);
	CHECK(gdrv_get_status(e->d) & VIRTIO_STATUS_DRIVER_OK);
	e->echoed = 0;
	e->requests = 0;
	return e->d->nqueues == 2;
}

/* One request: segment lengths, readable first, in scratch slot `slot`. */
#define RQ_MAX (GDRV_MAX_INDIRECT + 1)
struct rq {
	unsigned nout, nin;
	uint32_t len[RQ_MAX];
	uint64_t gpa[RQ_MAX];
	uint32_t seed;
	uint64_t token;
};

static uint8_t pat(uint32_t seed, uint32_t i)
{
	return (uint8_t)(seed * 131u + i * 7u + (i >> 8) + 1u);
}

static uint32_t rq_total(const struct rq *r, unsigned from, unsigned n)
{
	uint32_t t = 0;

	for (unsigned i = from; i < from + n; i++)
		t += r->len[i];
	return t;
}

/* Lay the segments out in the slot with 8-byte gaps; readable ones get the
 * pattern, writable ones 0xee. */
static void rq_prepare(struct env *e, struct rq *r, unsigned slot, const uint32_t *lens,
		       unsigned nout, unsigned nin, uint32_t seed)
{
	uint8_t buf[SLOT_BYTES];
	uint64_t a = e->scratch + (uint64_t)(slot % NSLOTS) * SLOT_BYTES;
	uint32_t k = 0;

	r->nout = nout;
	r->nin = nin;
	r->seed = seed;
	r->token = 0x5100000000ull + ((uint64_t)seed << 8) + slot;
	for (unsigned i = 0; i < nout + nin; i++) {
		r->len[i] = lens[i];
		r->gpa[i] = a;
		for (uint32_t j = 0; j < lens[i]; j++)
			buf[j] = i < nout ? pat(seed, k + j) : 0xee;
		if (i < nout)
			k += lens[i];
		e->io.mem_write(e->io.ctx, a, buf, lens[i]);
		a += lens[i] + 8;
	}
	CHECK(a <= e->scratch + (uint64_t)(slot % NSLOTS + 1) * SLOT_BYTES);
}

static int rq_submit(struct gdrv_vq *vq, const struct rq *r, bool indirect)
{
	struct gdrv_buf b[RQ_MAX];

	for (unsigned i = 0; i < r->nout + r->nin; i++) {
		b[i].gpa = r->gpa[i];
		b[i].len = r->len[i];
	}
	return gdrv_submit(vq, b, r->nout, r->nin, r->token, indirect);
}

/* The writable part holds the readable bytes (XOR key), then 0xee. */
static void rq_verify(struct env *e, const struct rq *r, uint32_t used_len, uint8_t key)
{
	uint32_t in = rq_total(r, 0, r->nout), out = rq_total(r, r->nout, r->nin);
	uint32_t expect = in < out ? in : out, k = 0;
	unsigned bad = 0;

	CHECK_EQ(used_len, expect);
	for (unsigned i = r->nout; i < r->nout + r->nin; i++) {
		uint8_t buf[SLOT_BYTES];

		e->io.mem_read(e->io.ctx, r->gpa[i], buf, r->len[i]);
		for (uint32_t j = 0; j < r->len[i]; j++, k++) {
			uint8_t want = k < expect ? (uint8_t)(pat(r->seed, k) ^ key) : 0xee;
			bad += buf[j] != want;
		}
	}
	CHECK_EQ(bad, 0);
	e->echoed += expect;
	e->requests++;
}

/* Submit, kick, collect and verify one request. */
static void roundtrip(struct env *e, struct gdrv_vq *vq, const uint32_t *lens, unsigned nout,
		      unsigned nin, bool indirect, uint8_t key, uint32_t seed)
{
	struct rq r;
	uint64_t tok = 0;
	uint32_t len = 0;

	rq_prepare(e, &r, seed, lens, nout, nin, seed);
	CHECK_EQ(rq_submit(vq, &r, indirect), 0);
	CHECK(gdrv_kick(vq));
	CHECK_EQ(gdrv_get_used(vq, &tok, &len), 1);
	CHECK_EQ(tok, r.token);
	rq_verify(e, &r, len, key);
	CHECK_EQ(gdrv_get_used(vq, &tok, &len), 0);
}

/* Chain shapes: {nout, nin, lengths}. 1-segment chains (readable only or
 * writable only: nothing to echo), 2 and 4 segments with lengths that
 * cross segment boundaries, writable shorter and longer than readable. */
struct shape {
	unsigned nout, nin;
	uint32_t len[8];
};

static const struct shape shapes[] = {
	{ 1, 0, { 64 } },
	{ 0, 1, { 64 } },
	{ 1, 1, { 1, 1 } },
	{ 1, 1, { 100, 100 } },
	{ 1, 1, { 300, 17 } },
	{ 2, 2, { 13, 700, 500, 300 } },
	{ 1, 3, { 1000, 1, 2, 1200 } },
	{ 3, 1, { 5, 6, 7, 40 } },
	{ 4, 4, { 64, 128, 256, 3, 451, 1, 1, 1 } },
};

/* Every shape, direct and indirect (when negotiated), on both queues. */
static void io_suite(struct env *e, uint8_t key)
{
	bool ind = e->d->features & F(VIRTIO_F_INDIRECT_DESC);
	uint32_t seed = 1;

	for (unsigned q = 0; q < 2; q++)
		for (unsigned s = 0; s < RS_ARRAY_SIZE(shapes); s++)
			for (unsigned i = 0; i < (ind ? 2u : 1u); i++)
				roundtrip(e, &e->d->vq[q], shapes[s].len, shapes[s].nout,
					  shapes[s].nin, i == 1, key, seed++);
	/* A batch: fill several chains, one kick, completions in order. */
	struct gdrv_vq *vq = &e->d->vq[0];
	struct rq r[6];
	unsigned n = 0;

	for (unsigned i = 0; i < 6; i++) {
		const struct shape *sh = &shapes[3 + i % 5];

		rq_prepare(e, &r[i], 10 + i, sh->len, sh->nout, sh->nin, 100 + i);
		if (rq_submit(vq, &r[i], ind && (i & 1)) == 0)
			n++;
	}
	CHECK_EQ(n, 6);
	CHECK(gdrv_kick(vq));
	for (unsigned i = 0; i < n; i++) {
		uint64_t tok;
		uint32_t len;

		CHECK_EQ(gdrv_get_used(vq, &tok, &len), 1);
		CHECK_EQ(tok, r[i].token);
		rq_verify(e, &r[i], len, key);
	}
	/* Config counters follow the device's work. */
	CHECK_EQ(gdrv_config_read(e->d, ECHO_CFG_REQUESTS, 4), e->requests);
	CHECK_EQ(gdrv_config_read(e->d, ECHO_CFG_BYTES, 8), e->echoed);
}

/* One interface variant for the I/O matrix. */
struct variant {
	const char *spec;
	bool use_legacy;
	uint64_t want;
	bool packed;                /* expected ring */
	enum gdrv_transport transport;
};

static const struct variant variants[] = {
	{ MEM_SPEC "pci:echo", true, F_ALL, false, GDRV_PCI_LEGACY },
	{ MEM_SPEC "pci:echo", false, F_NO_PACKED, false, GDRV_PCI_MODERN },
	{ MEM_SPEC "pci:echo", false, F_ALL, true, GDRV_PCI_MODERN },
	{ MEM_SPEC "pci-modern:echo", false, F_ALL, true, GDRV_PCI_MODERN },
	{ MEM_SPEC "pci-modern:echo,packed=off", false, F_ALL, false, GDRV_PCI_MODERN },
	{ MEM_SPEC "pci-legacy:echo", true, F_ALL, false, GDRV_PCI_LEGACY },
	{ MEM_SPEC "mmio:echo", false, F_NO_PACKED, false, GDRV_MMIO_V2 },
	{ MEM_SPEC "mmio:echo", false, F_ALL, true, GDRV_MMIO_V2 },
	{ MEM_SPEC "mmio-legacy:echo", false, F_ALL, false, GDRV_MMIO_V1 },
};

static void test_io_every_interface(void)
{
	for (unsigned v = 0; v < RS_ARRAY_SIZE(variants); v++) {
		const struct variant *va = &variants[v];
		struct env e;
		bool legacy = va->transport == GDRV_PCI_LEGACY || va->transport == GDRV_MMIO_V1;

		if (!env_open(&e, va->spec, 0, va->use_legacy))
			continue;
		CHECK_EQ(e.d->transport, va->transport);
		if (env_up(&e, va->want, 64, false)) {
			uint64_t f = e.d->features;

			CHECK_EQ(e.d->vq[0].packed, va->packed);
			CHECK_EQ(!!(f & F(VIRTIO_F_RING_PACKED)), va->packed);
			CHECK_EQ(!!(f & F(VIRTIO_F_VERSION_1)), !legacy);
			CHECK(f & F(VIRTIO_F_INDIRECT_DESC));
			CHECK(f & F(VIRTIO_F_EVENT_IDX));
			CHECK(!(f & F(VIRTIO_F_IN_ORDER))); /* never accepted */
			if (legacy)
				CHECK_EQ(f >> 32, 0);
			/* Legacy PCI cannot size its queues: the device's 256. */
			CHECK_EQ(e.d->vq[0].num,
				 va->transport == GDRV_PCI_LEGACY ? ECHO_QUEUE_MAX : 64);
			/* The legacy layouts are one 4096-aligned block. */
			if (legacy) {
				CHECK_EQ(e.d->vq[0].desc & 4095, 0);
				CHECK_EQ(e.d->vq[0].used - e.d->vq[0].desc,
					 virtq_legacy_used_off(e.d->vq[0].num, 4096));
			}
			io_suite(&e, 0);
			env_check_clean(&e);
		}
		if (check_failures)
			fprintf(stderr, "  (variant %u: %s%s)\n", v, va->spec,
				va->use_legacy ? " via legacy" : "");
		env_close(&e);
	}
}

/* Without INDIRECT_DESC the driver refuses indirect chains; with indirect
 * chains longer than GDRV_MAX_INDIRECT too. */
static void test_indirect_off(void)
{
	struct env e;
	uint32_t lens[2] = { 8, 8 };
	struct rq r;

	if (!env_open(&e, MEM_SPEC "pci-modern:echo,indirect=off", 0, false))
		return;
	if (env_up(&e, F_ALL, 32, false)) {
		CHECK(!(e.d->features & F(VIRTIO_F_INDIRECT_DESC)));
		rq_prepare(&e, &r, 0, lens, 1, 1, 3);
		CHECK_EQ(rq_submit(&e.d->vq[0], &r, true), -1);
		CHECK_EQ(rq_submit(&e.d->vq[0], &r, false), 0);
		CHECK(gdrv_kick(&e.d->vq[0]));
		uint64_t tok;
		uint32_t len;
		CHECK_EQ(gdrv_get_used(&e.d->vq[0], &tok, &len), 1);
		rq_verify(&e, &r, len, 0);
		io_suite(&e, 0);
		env_check_clean(&e);
	}
	env_close(&e);
}

/* >65536 requests through a small queue: the 16-bit indices (split avail
 * and used idx, the packed event counters) wrap, and so do the packed wrap
 * counters many times over; chains of different lengths and kinds keep the
 * free lists moving. */
static void wrap_run(const char *spec, bool use_legacy, uint64_t want, uint16_t qsize,
		     bool packed)
{
	struct env e;
	unsigned done = 0, bad = 0;

	if (!env_open(&e, spec, 0, use_legacy))
		return;
	if (!env_up(&e, want, qsize, false))
		goto out;
	struct gdrv_vq *vq = &e.d->vq[0];
	CHECK_EQ(vq->packed, packed);
	CHECK_EQ(vq->num, qsize);
	/* Pre-laid buffers: 3 slots of readable "AB..." and writable space. */
	uint64_t src = e.scratch, dst = e.scratch + 4096;
	uint8_t pattern[24];
	for (unsigned i = 0; i < sizeof pattern; i++)
		pattern[i] = (uint8_t)(0x41 + i);
	e.io.mem_write(e.io.ctx, src, pattern, sizeof pattern);
	for (unsigned round = 0; done < 66000; round++) {
		/* Three chain kinds, starting with a different one each round,
		 * as many as fit; then one kick and collect them all:
		 *   0: 1+1 indirect (8 bytes), 1: 2+1 direct (24), 2: 1+1 direct (8). */
		unsigned k = 0, kind[3];
		for (unsigned j = 0; j < 3; j++) {
			unsigned c = (round + j) % 3;
			struct gdrv_buf b[3] = {
				{ src, 8 }, { src + 8, 16 }, { dst + 64 * c, 24 },
			};
			struct gdrv_buf b2[2] = { { src, 8 }, { dst + 64 * c, 8 } };
			int r = c == 1 ? gdrv_submit(vq, b, 2, 1, c, false)
				       : gdrv_submit(vq, b2, 1, 1, c, c == 0);
			if (r < 0)
				break;
			kind[k++] = c;
		}
		CHECK(k > 0);
		if (!k)
			break;
		bad += !gdrv_kick(vq);
		for (unsigned j = 0; j < k; j++) {
			uint64_t tok = 99;
			uint32_t len = 0;
			uint8_t got[24];
			if (gdrv_get_used(vq, &tok, &len) != 1) {
				bad++;
				break;
			}
			bad += tok != kind[j];
			bad += len != (kind[j] == 1 ? 24u : 8u);
			e.io.mem_read(e.io.ctx, dst + 64 * kind[j], got, len > 24 ? 24 : len);
			bad += memcmp(got, pattern, len > 24 ? 24 : len) != 0;
			done++;
		}
		if (bad)
			break;
	}
	CHECK_EQ(bad, 0);
	CHECK(done >= 66000);
	CHECK_EQ(vq->num_free, vq->num);
	CHECK_EQ(gdrv_config_read(e.d, ECHO_CFG_REQUESTS, 4), done);
	env_check_clean(&e);
out:
	env_close(&e);
}

static void test_wrap_split(void)
{
	/* 4 entries: the 2+2 chain and a 1+1 fill it exactly at times. */
	wrap_run(MEM_SPEC "pci-modern:echo,packed=off", false, F_ALL, 4, false);
}

static void test_wrap_split_event_idx_off(void)
{
	wrap_run(MEM_SPEC "mmio:echo,event-idx=off", false, F_NO_PACKED, 8, false);
}

static void test_wrap_packed(void)
{
	/* 5: packed sizes need not be powers of two; chains straddle the
	 * ring's end. */
	wrap_run(MEM_SPEC "pci-modern:echo", false, F_ALL, 5, true);
}

static void test_wrap_packed_event_idx_off(void)
{
	wrap_run(MEM_SPEC "mmio:echo,event-idx=off", false, F_ALL, 7, true);
}

static void test_wrap_legacy(void)
{
	/* The device's 256 entries; the avail index wraps all the same. */
	wrap_run(MEM_SPEC "pci-legacy:echo", true, F_ALL, 256, false);
}

/* Device-side view of machine interrupts. */
static uint64_t msi_count(struct env *e)
{
	return e->m->msi_count;
}

static struct machine_msi msi_last(struct env *e)
{
	return e->m->msi_log[(e->m->msi_count - 1) % MACHINE_MSI_LOG];
}

static bool intx(struct env *e)
{
	return (e->m->intx_level >> e->m->devinfo[0].gsi) & 1;
}

static const uint32_t lens11[2] = { 32, 32 };

/* MSI-X: table entries programmed, config -> vector 0, queue q -> q + 1;
 * messages carry data_base + vector; INTx stays low. */
static void msix_run(const char *spec, bool use_legacy, uint16_t nvec)
{
	struct env e;

	if (!env_open(&e, spec, 0, use_legacy))
		return;
	if (!env_up(&e, F_ALL | F(ECHO_F_NOTIFY_KEY), 32, true))
		goto out;
	CHECK(e.d->msix);
	CHECK_EQ(e.d->pci.msix_size, nvec);
	/* The table holds what the driver wrote. */
	for (unsigned i = 0; i < nvec; i++) {
		uint64_t ent = e.d->pci.msix_table + 16ull * i;
		CHECK_EQ(machine_mmio_read(e.m, ent, 4), (uint32_t)MSI_ADDR);
		CHECK_EQ(machine_mmio_read(e.m, ent + 4, 4), 0);
		CHECK_EQ(machine_mmio_read(e.m, ent + 8, 4), MSI_DATA + i);
		CHECK_EQ(machine_mmio_read(e.m, ent + 12, 4), 0);
	}
	for (unsigned q = 0; q < 2; q++) {
		uint64_t before = msi_count(&e);
		roundtrip(&e, &e.d->vq[q], lens11, 1, 1, false, 0, 7 + q);
		CHECK_EQ(msi_count(&e), before + 1);
		CHECK_EQ(msi_last(&e).addr, MSI_ADDR);
		CHECK_EQ(msi_last(&e).data, MSI_DATA + (q + 1 < nvec ? q + 1 : nvec - 1u));
	}
	/* Config change (NOTIFY_KEY): vector 0. The legacy config offset
	 * moved to 24 with MSI-X on: the key lands in the right field. */
	uint64_t before = msi_count(&e);
	uint32_t gen = gdrv_config_generation(e.d);
	gdrv_config_write(e.d, ECHO_CFG_KEY, 1, 0x5a);
	CHECK_EQ(gdrv_config_read(e.d, ECHO_CFG_KEY, 1), 0x5a);
	CHECK_EQ(gdrv_config_read(e.d, ECHO_CFG_KEY_WRITES, 1), 1);
	CHECK_EQ(gdrv_config_read(e.d, ECHO_CFG_QUEUES, 2), 2);
	CHECK_EQ(msi_count(&e), before + 1);
	CHECK_EQ(msi_last(&e).data, MSI_DATA);
	if (!use_legacy)
		CHECK_EQ(gdrv_config_generation(e.d), gen + 1);
	CHECK(!intx(&e));
	env_check_clean(&e);
out:
	env_close(&e);
}

static void test_msix(void)
{
	msix_run(MEM_SPEC "pci:echo", true, 3);
	msix_run(MEM_SPEC "pci:echo", false, 3);
	msix_run(MEM_SPEC "pci-modern:echo", false, 3);
	msix_run(MEM_SPEC "pci-legacy:echo", true, 3);
	/* One vector: every source clipped onto it. */
	msix_run(MEM_SPEC "pci-modern:echo,vectors=1", false, 1);
	msix_run(MEM_SPEC "pci-legacy:echo,vectors=2", true, 2);
}

static void test_msix_absent(void)
{
	struct env e;

	if (!env_open(&e, MEM_SPEC "pci-modern:echo,msix=off", 0, false))
		return;
	CHECK_EQ(e.d->pci.msix_cap, 0);
	CHECK_EQ(gdrv_init(e.d, F_ALL), 0);
	CHECK_EQ(gdrv_enable_msix(e.d, MSI_ADDR, MSI_DATA), -1);
	env_close(&e);
	if (!env_open(&e, MEM_SPEC "mmio:echo", 0, false))
		return;
	CHECK_EQ(gdrv_init(e.d, F_ALL), 0);
	CHECK_EQ(gdrv_enable_msix(e.d, MSI_ADDR, MSI_DATA), -1);
	env_close(&e);
}

/* INTx: a completion raises the line and sets the ISR queue bit; reading
 * (MMIO: acknowledging) the ISR lowers it. A config change sets bit 1. */
static void intx_run(const char *spec, bool use_legacy)
{
	struct env e;

	if (!env_open(&e, spec, 0, use_legacy))
		return;
	if (!env_up(&e, F_ALL | F(ECHO_F_NOTIFY_KEY), 16, false))
		goto out;
	CHECK(!intx(&e));
	CHECK_EQ(gdrv_ack_isr(e.d), 0);
	for (unsigned q = 0; q < 2; q++) {
		uint64_t raised = e.m->intx_raised;
		roundtrip(&e, &e.d->vq[q], lens11, 1, 1, false, 0, 3 + q);
		CHECK(intx(&e));
		CHECK_EQ(e.m->intx_raised, raised + 1);
		CHECK_EQ(gdrv_ack_isr(e.d), VIRTIO_ISR_QUEUE);
		CHECK(!intx(&e));
		CHECK_EQ(gdrv_ack_isr(e.d), 0);
	}
	gdrv_config_write(e.d, ECHO_CFG_KEY, 1, 3);
	CHECK(intx(&e));
	CHECK_EQ(gdrv_ack_isr(e.d), VIRTIO_ISR_CONFIG);
	CHECK(!intx(&e));
	CHECK_EQ(e.m->msi_count, 0);
	env_check_clean(&e);
out:
	env_close(&e);
}

static void test_intx(void)
{
	intx_run(MEM_SPEC "pci:echo", true);
	intx_run(MEM_SPEC "pci:echo", false);
	intx_run(MEM_SPEC "pci-modern:echo,msix=off", false);
	intx_run(MEM_SPEC "pci-legacy:echo", true);
	intx_run(MEM_SPEC "mmio:echo", false);
	intx_run(MEM_SPEC "mmio-legacy:echo", false);
}

/* Interrupt suppression asked by the driver (split flags / used_event,
 * packed driver event structure): no interrupt while off, one again when
 * back on. Counted on MSI-X (PCI) or the INTx line (MMIO). */
static void irq_suppress_run(const char *spec, bool use_legacy, uint64_t want)
{
	struct env e;
	bool pci;

	if (!env_open(&e, spec, 0, use_legacy))
		return;
	pci = e.d->transport == GDRV_PCI_LEGACY || e.d->transport == GDRV_PCI_MODERN;
	if (!env_up(&e, want, 8, pci))
		goto out;
	struct gdrv_vq *vq = &e.d->vq[0];
	CHECK_EQ(vq->event_idx, !!(want & F(VIRTIO_F_EVENT_IDX)));
	for (unsigned round = 0; round < 20; round++) {
		uint64_t msis = msi_count(&e), raised = e.m->intx_raised;
		bool on = round % 3 != 1;

		gdrv_set_interrupts(vq, on);
		/* Two requests per round, so the used index runs around the
		 * small ring and the event index is exercised at every step. */
		roundtrip(&e, vq, lens11, 1, 1, round & 1, 0, 20 + round);
		roundtrip(&e, vq, lens11, 1, 1, false, 0, 40 + round);
		if (pci)
			CHECK_EQ(msi_count(&e) - msis, on ? 2 : 0);
		else
			CHECK_EQ(e.m->intx_raised - raised, on ? 1 : 0);
		if (!pci)
			gdrv_ack_isr(e.d);
	}
	env_check_clean(&e);
out:
	env_close(&e);
}

static void test_irq_suppression(void)
{
	uint64_t no_ev = ~F(VIRTIO_F_EVENT_IDX);

	irq_suppress_run(MEM_SPEC "pci-modern:echo,packed=off", false, F_ALL);
	irq_suppress_run(MEM_SPEC "pci-modern:echo,packed=off", false, no_ev);
	irq_suppress_run(MEM_SPEC "pci-modern:echo", false, F_ALL);
	irq_suppress_run(MEM_SPEC "pci-modern:echo", false, no_ev);
	irq_suppress_run(MEM_SPEC "pci-legacy:echo", true, F_ALL);
	irq_suppress_run(MEM_SPEC "mmio:echo", false, F_ALL);
	irq_suppress_run(MEM_SPEC "mmio-legacy:echo", false, no_ev);
}

/* Kick suppression asked by the device. The echo device never asks, so the
 * test plays the device's part in ring memory between submit and kick. */
static void test_kick_suppression_split(void)
{
	for (unsigned ev = 0; ev < 2; ev++) {
		struct env e;
		uint8_t b2[2];

		if (!env_open(&e, MEM_SPEC "pci-modern:echo,packed=off", 0, false))
			continue;
		if (!env_up(&e, ev ? F_ALL : ~F(VIRTIO_F_EVENT_IDX), 8, false))
			goto next;
		struct gdrv_vq *vq = &e.d->vq[0];
		struct rq r[3];
		uint64_t tok;
		uint32_t len;

		for (unsigned i = 0; i < 3; i++)
			rq_prepare(&e, &r[i], i, lens11, 1, 1, 60 + i);
		CHECK_EQ(rq_submit(vq, &r[0], false), 0);
		if (ev) {
			/* avail_event = the index r[1] will take: no notify
			 * for r[0], one once r[1] is published. */
			uint16_t want = vq->avail_idx;
			b2[0] = (uint8_t)want;
			b2[1] = (uint8_t)(want >> 8);
			e.io.mem_write(e.io.ctx, vq->used + 4 + 8ull * vq->num, b2, 2);
		} else {
			b2[0] = VIRTQ_USED_F_NO_NOTIFY;
			b2[1] = 0;
			e.io.mem_write(e.io.ctx, vq->used, b2, 2);
		}
		CHECK(!gdrv_kick(vq));
		CHECK_EQ(vq->kicks_suppressed, 1);
		CHECK_EQ(gdrv_get_used(vq, &tok, &len), 0); /* device not told */
		CHECK_EQ(rq_submit(vq, &r[1], false), 0);
		if (!ev) {
			CHECK(!gdrv_kick(vq));
			b2[0] = 0;
			e.io.mem_write(e.io.ctx, vq->used, b2, 2);
		}
		CHECK(gdrv_kick(vq));
		for (unsigned i = 0; i < 2; i++) {
			CHECK_EQ(gdrv_get_used(vq, &tok, &len), 1);
			CHECK_EQ(tok, r[i].token);
			rq_verify(&e, &r[i], len, 0);
		}
		/* Nothing new since the last kick: with EVENT_IDX no notify. */
		if (ev)
			CHECK(!gdrv_kick(vq));
		roundtrip(&e, vq, lens11, 1, 1, false, 0, 77);
		env_check_clean(&e);
next:
		env_close(&e);
	}
}

/* Packed: the device event structure. DISABLE suppresses, ENABLE
 * notifies, DESC (with EVENT_IDX) notifies once the given slot/wrap has
 * been made available -- also across the ring's end. */
static void write_dev_event(struct env *e, struct gdrv_vq *vq, uint16_t off_wrap, uint16_t flags)
{
	uint8_t b[4] = { (uint8_t)off_wrap, (uint8_t)(off_wrap >> 8), (uint8_t)flags,
			 (uint8_t)(flags >> 8) };

	e->io.mem_write(e->io.ctx, vq->used, b, 4);
}

static void test_kick_suppression_packed(void)
{
	for (unsigned ev = 0; ev < 2; ev++) {
		struct env e;

		if (!env_open(&e, MEM_SPEC "mmio:echo", 0, false))
			continue;
		if (!env_up(&e, ev ? F_ALL : ~F(VIRTIO_F_EVENT_IDX), 6, false))
			goto next;
		struct gdrv_vq *vq = &e.d->vq[0];
		struct rq r[4];
		uint64_t tok;
		uint32_t len;

		CHECK(vq->packed);
		for (unsigned i = 0; i < 4; i++)
			rq_prepare(&e, &r[i], i, lens11, 1, 1, 80 + i);
		/* DISABLE */
		write_dev_event(&e, vq, 0, VIRTQ_EVENT_F_DISABLE);
		CHECK_EQ(rq_submit(vq, &r[0], false), 0);
		CHECK(!gdrv_kick(vq));
		/* reserved flags value 3: the driver notifies */
		write_dev_event(&e, vq, 0, 3);
		CHECK(gdrv_kick(vq));
		CHECK_EQ(gdrv_get_used(vq, &tok, &len), 1);
		rq_verify(&e, &r[0], len, 0);
		/* Move near the ring's end: 2 descriptors used so far. */
		roundtrip(&e, vq, lens11, 1, 1, false, 0, 90);
		CHECK_EQ(vq->next_avail, 4);
		/* DESC: notify when slot 0 of the next lap is made available.
		 * Without EVENT_IDX the driver cannot honour it: notifies. */
		uint16_t ow = (uint16_t)(0 | (!vq->avail_wrap << VIRTQ_EVENT_WRAP_SHIFT));
		write_dev_event(&e, vq, ow, VIRTQ_EVENT_F_DESC);
		CHECK_EQ(rq_submit(vq, &r[1], false), 0); /* slots 4, 5 */
		if (ev) {
			CHECK(!gdrv_kick(vq));
			CHECK_EQ(rq_submit(vq, &r[2], false), 0); /* slots 0, 1 (lap 2) */
			CHECK(gdrv_kick(vq));
			for (unsigned i = 1; i < 3; i++) {
				CHECK_EQ(gdrv_get_used(vq, &tok, &len), 1);
				CHECK_EQ(tok, r[i].token);
				rq_verify(&e, &r[i], len, 0);
			}
			/* An event slot already passed in the current lap. */
			write_dev_event(&e, vq,
					(uint16_t)(1 | (vq->avail_wrap << VIRTQ_EVENT_WRAP_SHIFT)),
					VIRTQ_EVENT_F_DESC);
			CHECK_EQ(rq_submit(vq, &r[3], false), 0);
			CHECK(!gdrv_kick(vq));
			CHECK_EQ(gdrv_get_used(vq, &tok, &len), 0);
			/* ENABLE: notify, even with nothing new since the last
			 * decision (the device missed r[3]). */
			write_dev_event(&e, vq, 0, VIRTQ_EVENT_F_ENABLE);
			CHECK(gdrv_kick(vq));
			CHECK_EQ(gdrv_get_used(vq, &tok, &len), 1);
			CHECK_EQ(tok, r[3].token);
			rq_verify(&e, &r[3], len, 0);
		} else {
			CHECK(gdrv_kick(vq));
			CHECK_EQ(gdrv_get_used(vq, &tok, &len), 1);
			rq_verify(&e, &r[1], len, 0);
			write_dev_event(&e, vq, 0, VIRTQ_EVENT_F_ENABLE);
		}
		roundtrip(&e, vq, lens11, 1, 1, false, 0, 91);
		env_check_clean(&e);
next:
		env_close(&e);
	}
}

/* Config space over every interface: echo's fields, the key with and
 * without ECHO_F_XOR, the generation counter. */
static void config_run(const char *spec, bool use_legacy, unsigned queues)
{
	struct env e;

	if (!env_open(&e, spec, 0, use_legacy))
		return;
	bool legacy = e.d->transport == GDRV_PCI_LEGACY || e.d->transport == GDRV_MMIO_V1;
	CHECK_EQ(gdrv_init(e.d, ~F(ECHO_F_NOTIFY_KEY)), 0);
	CHECK(e.d->features & F(ECHO_F_XOR));
	CHECK(!(e.d->features & F(ECHO_F_NOTIFY_KEY)));
	CHECK_EQ(gdrv_config_read(e.d, ECHO_CFG_QUEUES, 2), queues);
	CHECK_EQ(gdrv_config_read(e.d, ECHO_CFG_REQUESTS, 4), 0);
	CHECK_EQ(gdrv_config_read(e.d, ECHO_CFG_BYTES, 8), 0);
	CHECK_EQ(gdrv_config_read(e.d, ECHO_CFG_KEY, 1), 0);
	CHECK_EQ(gdrv_config_read(e.d, ECHO_CFG_KEY_WRITES, 1), 0);
	for (unsigned q = 0; q < queues; q++)
		CHECK_EQ(gdrv_setup_vq(e.d, q, 32), 0);
	CHECK_EQ(gdrv_setup_vq(e.d, queues, 32), -1); /* absent queue */
	gdrv_driver_ok(e.d);
	e.requests = 0;
	e.echoed = 0;

	uint32_t gen = gdrv_config_generation(e.d);
	const uint32_t lens[4] = { 10, 20, 25, 5 };
	roundtrip(&e, &e.d->vq[0], lens, 2, 2, false, 0, 5);
	gdrv_config_write(e.d, ECHO_CFG_KEY, 1, 0xa5);
	CHECK_EQ(gdrv_config_read(e.d, ECHO_CFG_KEY, 1), 0xa5);
	CHECK_EQ(gdrv_config_read(e.d, ECHO_CFG_KEY_WRITES, 1), 1);
	/* Without NOTIFY_KEY the generation does not move. */
	CHECK_EQ(gdrv_config_generation(e.d), gen);
	if (legacy)
		CHECK_EQ(gen, 0);
	roundtrip(&e, &e.d->vq[0], lens, 2, 2, true, 0xa5, 6);
	roundtrip(&e, &e.d->vq[queues - 1], lens11, 1, 1, false, 0xa5, 7);
	gdrv_config_write(e.d, ECHO_CFG_KEY, 1, 0);
	roundtrip(&e, &e.d->vq[0], lens11, 1, 1, false, 0, 8);
	CHECK_EQ(gdrv_config_read(e.d, ECHO_CFG_KEY_WRITES, 1), 2);
	CHECK_EQ(gdrv_config_read(e.d, ECHO_CFG_REQUESTS, 4), e.requests);
	CHECK_EQ(gdrv_config_read(e.d, ECHO_CFG_BYTES, 8), e.echoed);
	/* The read-only fields stay as they are. */
	gdrv_config_write(e.d, ECHO_CFG_BYTES, 8, 0);
	CHECK_EQ(gdrv_config_read(e.d, ECHO_CFG_BYTES, 8), e.echoed);
	/* That write was a deliberate violation, and the only one. */
	CHECK(e.m->devs[0]->log.count[DIAG_CONFIG_READONLY] > 0);
	CHECK_EQ(e.m->devs[0]->log.total, e.m->devs[0]->log.count[DIAG_CONFIG_READONLY]);
	diag_clear(&e.m->devs[0]->log);
	env_check_clean(&e);
	env_close(&e);
}

static void test_config(void)
{
	config_run(MEM_SPEC "pci:echo", true, 2);
	config_run(MEM_SPEC "pci:echo", false, 2);
	config_run(MEM_SPEC "pci-modern:echo,queues=1", false, 1);
	config_run(MEM_SPEC "pci-legacy:echo", true, 2);
	config_run(MEM_SPEC "mmio:echo", false, 2);
	config_run(MEM_SPEC "mmio-legacy:echo,queues=1", false, 1);
}

/* XOR negotiated or not: the key only changes the data when it is. */
static void test_xor_not_negotiated(void)
{
	struct env e;

	if (!env_open(&e, MEM_SPEC "pci-modern:echo", 0, false))
		return;
	if (env_up(&e, ~F(ECHO_F_XOR), 16, false)) {
		CHECK(!(e.d->features & F(ECHO_F_XOR)));
		gdrv_config_write(e.d, ECHO_CFG_KEY, 1, 0x77);
		roundtrip(&e, &e.d->vq[0], lens11, 1, 1, false, 0, 1);
		env_check_clean(&e);
	}
	env_close(&e);
}

/* Reset, then a full re-init on the same device, several times, changing
 * the negotiated ring layout between rounds where the interface allows. */
static void reset_run(const char *spec, bool use_legacy)
{
	struct env e;

	if (!env_open(&e, spec, 0, use_legacy))
		return;
	for (unsigned round = 0; round < 3; round++) {
		uint64_t want = round == 1 ? F_NO_PACKED : F_ALL;

		if (!env_up(&e, want, (uint16_t)(8 << round), false))
			break;
		CHECK_EQ(gdrv_config_read(e.d, ECHO_CFG_REQUESTS, 4), 0);
		for (unsigned i = 0; i < 5; i++)
			roundtrip(&e, &e.d->vq[i & 1], shapes[5].len, 2, 2, i & 1, 0, 30 + i);
		CHECK_EQ(gdrv_config_read(e.d, ECHO_CFG_REQUESTS, 4), 5);
		gdrv_reset(e.d);
		CHECK_EQ(gdrv_get_status(e.d), 0);
		CHECK_EQ(e.d->nqueues, 0);
		CHECK_EQ(e.d->features, 0);
	}
	env_check_clean(&e);
	env_close(&e);
}

static void test_reset_reinit(void)
{
	reset_run(MEM_SPEC "pci:echo", true);
	reset_run(MEM_SPEC "pci:echo", false);
	reset_run(MEM_SPEC "pci-modern:echo", false);
	reset_run(MEM_SPEC "pci-legacy:echo", true);
	reset_run(MEM_SPEC "mmio:echo", false);
	reset_run(MEM_SPEC "mmio-legacy:echo", false);
}

/* With MSI-X left enabled by an earlier driver, a fresh open must see it
 * (the legacy config offset depends on it). */
static void test_msix_reopen(void)
{
	struct env e;

	if (!env_open(&e, MEM_SPEC "pci-legacy:echo", 0, true))
		return;
	if (env_up(&e, F_ALL, 16, true)) {
		struct gdrv_pci_info info = e.d->pci;
		CHECK_EQ(gdrv_open_pci(e.d, &e.io, &e.mem, &info, true), 0);
		CHECK(e.d->msix);
		CHECK_EQ(gdrv_init(e.d, F_ALL), 0);
		CHECK_EQ(gdrv_config_read(e.d, ECHO_CFG_QUEUES, 2), 2);
		env_check_clean(&e);
	}
	env_close(&e);
}

/* The scan finds every PCI device of the spec, in slot order, with its
 * interfaces; MMIO devices open at their bases. */
static void test_scan_all(void)
{
	const char *spec = MEM_SPEC "pci:echo pci-legacy:echo pci-modern:echo mmio:echo "
				    "mmio-legacy:echo pci-modern:echo,msix=off,queues=1";
	char err[256];
	struct machine *m;
	struct gdrv_io io;
	struct gdrv_pci_info info[8];
	unsigned n, npci = 0;

	if (rs_machine_new(spec, &m, err, sizeof err) < 0) {
		fprintf(stderr, "%s\n", err);
		CHECK(!"machine");
		return;
	}
	gdrv_machine_io(&io, m);
	n = gdrv_pci_scan(&io, info, 8);
	for (unsigned i = 1; i < n; i++)
		CHECK(info[i - 1].slot < info[i].slot);
	CHECK_EQ(gdrv_pci_scan(&io, info, 2), 2); /* max honoured */
	n = gdrv_pci_scan(&io, info, 8);
	for (unsigned k = 0; k < m->ndevs; k++) {
		const struct machine_devinfo *di = &m->devinfo[k];
		const struct gdrv_pci_info *p = NULL;
		struct gdrv_dev *d = calloc(1, sizeof *d);
		struct gdrv_mem mem = { DRV_MEM_BASE, DRV_MEM_END };

		if (di->transport == MSPEC_MMIO || di->transport == MSPEC_MMIO_LEGACY) {
			CHECK_EQ(gdrv_open_mmio(d, &io, &mem, di->base), 0);
			CHECK_EQ(d->transport,
				 di->transport == MSPEC_MMIO ? GDRV_MMIO_V2 : GDRV_MMIO_V1);
			CHECK_EQ(d->device_id, VIRTIO_ID_RS_ECHO);
			free(d);
			continue;
		}
		npci++;
		for (unsigned i = 0; i < n; i++)
			if (info[i].slot == (unsigned)di->slot)
				p = &info[i];
		CHECK(p != NULL);
		if (!p) {
			free(d);
			continue;
		}
		CHECK_EQ(p->vendor, VIRTIO_PCI_VENDOR);
		CHECK_EQ(p->virtio_id, VIRTIO_ID_RS_ECHO);
		CHECK_EQ(p->irq_line, di->gsi);
		bool modern = di->transport != MSPEC_PCI_LEGACY;
		bool legacy = di->transport != MSPEC_PCI_MODERN;
		CHECK_EQ(p->has_modern, modern);
		CHECK_EQ(p->has_legacy, legacy);
		if (legacy) {
			CHECK(p->device >= 0x1000 && p->device < 0x1040);
			CHECK(p->bar[0] >= MACHINE_PCI_IO_BASE && p->bar[0] < MACHINE_PCI_IO_END);
			CHECK_EQ(machine_pci_cfg_read(m, p->slot, PCI_SUBSYSTEM_ID, 2),
				 VIRTIO_ID_RS_ECHO);
		} else {
			CHECK_EQ(p->device, 0x1040 + VIRTIO_ID_RS_ECHO);
		}
		if (modern) {
			uint64_t b = p->bar[VPCI_MODERN_BAR];
			CHECK(b >= MACHINE_PCI_MEM_BASE && b < MACHINE_PCI_MEM_END);
			CHECK_EQ(p->common, b + VPCI_BAR_COMMON);
			CHECK_EQ(p->isr, b + VPCI_BAR_ISR);
			CHECK_EQ(p->devcfg, b + VPCI_BAR_DEVICE);
			CHECK_EQ(p->notify, b + VPCI_BAR_NOTIFY);
			CHECK_EQ(p->notify_mult, VPCI_NOTIFY_MULT);
			CHECK(p->pcicfg_cap >= 0x40);
			CHECK_EQ(p->bar[VPCI_MODERN_BAR + 1], 0); /* high half of BAR 4 */
		} else {
			CHECK_EQ(p->common, 0);
			CHECK_EQ(p->notify, 0);
		}
		if (k == 5) {
			CHECK_EQ(p->msix_cap, 0);
		} else {
			uint64_t mb = p->bar[VPCI_MSIX_BAR];
			CHECK(p->msix_cap >= 0x40);
			CHECK_EQ(p->msix_size, 3);
			CHECK_EQ(p->msix_table, mb + VPCI_MSIX_TABLE_OFF);
			CHECK_EQ(p->msix_pba, mb + VPCI_MSIX_PBA_OFF);
		}
		uint32_t cmd = machine_pci_cfg_read(m, p->slot, PCI_COMMAND, 2);
		CHECK_EQ(cmd & 7, 7);
		/* Opening an absent interface fails. */
		CHECK_EQ(gdrv_open_pci(d, &io, &mem, p, true), legacy ? 0 : -1);
		CHECK_EQ(gdrv_open_pci(d, &io, &mem, p, false), modern ? 0 : -1);
		free(d);
	}
	CHECK_EQ(n, npci);
	CHECK_EQ(npci, 4);
	/* Nothing at an empty MMIO slot: reads all-ones (and the machine
	 * logs the unmapped access). */
	struct gdrv_dev *d = calloc(1, sizeof *d);
	struct gdrv_mem mem = { DRV_MEM_BASE, DRV_MEM_END };
	CHECK_EQ(gdrv_open_mmio(d, &io, &mem, MACHINE_VMMIO_BASE + 16 * MACHINE_VMMIO_STRIDE),
		 -1);
	free(d);
	/* conf1 helpers refuse malformed accesses without touching the bus. */
	CHECK_EQ(gdrv_pci_cfg_read(&io, 32, 0, 4), 0xffffffffu);
	CHECK_EQ(gdrv_pci_cfg_read(&io, 1, 256, 1), 0xffffffffu);
	CHECK_EQ(gdrv_pci_cfg_read(&io, 1, 1, 2), 0xffffffffu);
	CHECK_EQ(gdrv_pci_cfg_read(&io, 1, 0, 3), 0xffffffffu);
	gdrv_pci_cfg_write(&io, 1, 2, 4, 0);
	rs_machine_free(m);
}

/* Out-of-order completions, and a device that breaks the ring. The echo
 * device completes in order, so the test plays the device on a queue it
 * never kicks: it reads the ring like a device and writes used entries in
 * its own order. */
static uint16_t rd16(struct env *e, uint64_t gpa)
{
	uint8_t b[2];
	e->io.mem_read(e->io.ctx, gpa, b, 2);
	return (uint16_t)(b[0] | b[1] << 8);
}

static void wr16(struct env *e, uint64_t gpa, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)v, (uint8_t)(v >> 8) };
	e->io.mem_write(e->io.ctx, gpa, b, 2);
}

static void wr32(struct env *e, uint64_t gpa, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
	e->io.mem_write(e->io.ctx, gpa, b, 4);
}

static void test_out_of_order_split(void)
{
	struct env e;

	if (!env_open(&e, MEM_SPEC "pci-modern:echo,packed=off", 0, false))
		return;
	if (!env_up(&e, F_ALL, 8, false))
		goto out;
	struct gdrv_vq *vq = &e.d->vq[1];
	struct gdrv_buf b[3] = { { e.scratch, 4 }, { e.scratch + 8, 4 }, { e.scratch + 16, 4 } };
	uint16_t heads[3];
	uint64_t tok;
	uint32_t len;

	CHECK_EQ(gdrv_submit(vq, b, 1, 2, 100, false), 0);
	CHECK_EQ(gdrv_submit(vq, b, 1, 0, 101, true), 0);
	CHECK_EQ(gdrv_submit(vq, b, 2, 1, 102, false), 0);
	CHECK_EQ(vq->num_free, 8 - 3 - 1 - 3);
	CHECK_EQ(rd16(&e, vq->avail + 2), 3);
	for (unsigned i = 0; i < 3; i++)
		heads[i] = rd16(&e, vq->avail + 4 + 2 * i);
	/* A chain longer than the free descriptors is refused. */
	CHECK_EQ(gdrv_submit(vq, b, 2, 1, 103, false), -1);
	/* Complete 2, 0, 1 with lengths 7, 8, 9. */
	const unsigned order[3] = { 2, 0, 1 };
	for (unsigned i = 0; i < 3; i++) {
		wr32(&e, vq->used + 4 + 8 * i, heads[order[i]]);
		wr32(&e, vq->used + 8 + 8 * i, 7 + i);
	}
	wr16(&e, vq->used + 2, 3);
	for (unsigned i = 0; i < 3; i++) {
		CHECK_EQ(gdrv_get_used(vq, &tok, &len), 1);
		CHECK_EQ(tok, 100 + order[i]);
		CHECK_EQ(len, 7 + i);
	}
	CHECK_EQ(gdrv_get_used(vq, &tok, &len), 0);
	CHECK_EQ(vq->num_free, 8);
	/* The freed descriptors are reusable: fill the ring with 1-desc
	 * chains. */
	for (unsigned i = 0; i < 8; i++)
		CHECK_EQ(gdrv_submit(vq, b, 1, 0, 200 + i, false), 0);
	CHECK_EQ(gdrv_submit(vq, b, 1, 0, 300, false), -1);
	CHECK_EQ(gdrv_submit(vq, b, 1, 0, 300, true), -1); /* indirect needs one too */
	/* A device completing a head that is not in flight breaks the ring. */
	wr32(&e, vq->used + 4 + 8 * 3, 200); /* out of range */
	wr16(&e, vq->used + 2, 4);
	CHECK_EQ(gdrv_get_used(vq, &tok, &len), -1);
	CHECK(vq->broken);
	CHECK_EQ(gdrv_get_used(vq, &tok, &len), 0);
	CHECK_EQ(gdrv_submit(vq, b, 1, 0, 301, false), -1);
	/* Queue 0 still works meanwhile. */
	roundtrip(&e, &e.d->vq[0], lens11, 1, 1, false, 0, 1);
	/* Re-init and re-setup clear the state. */
	CHECK_EQ(gdrv_init(e.d, F_ALL), 0);
	CHECK_EQ(gdrv_setup_vq(e.d, 1, 4), 0);
	CHECK(!vq->broken);
	CHECK_EQ(gdrv_setup_vq(e.d, 1, 4), -1); /* already live on the device */
	CHECK_EQ(vq->num, 0);                   /* ... and unusable until re-init */
	CHECK_EQ(gdrv_init(e.d, F_ALL), 0);
	CHECK_EQ(gdrv_setup_vq(e.d, 1, 4), 0);
	CHECK_EQ(gdrv_submit(vq, b, 1, 0, 400, false), 0);
	/* Completing a free head (1 is not the one in flight, 0 is). */
	wr32(&e, vq->used + 4, 1);
	wr16(&e, vq->used + 2, 1);
	CHECK_EQ(gdrv_get_used(vq, &tok, &len), -1);
	CHECK(vq->broken);
	/* Used index moving by more than the queue size. */
	CHECK_EQ(gdrv_init(e.d, F_ALL), 0);
	CHECK_EQ(gdrv_setup_vq(e.d, 1, 4), 0);
	wr16(&e, vq->used + 2, 5);
	CHECK_EQ(gdrv_get_used(vq, &tok, &len), -1);
	CHECK(vq->broken);
out:
	env_close(&e);
}

/* Write a used packed descriptor at slot (id, len, wrap). */
static void packed_used(struct env *e, struct gdrv_vq *vq, uint16_t slot, uint16_t id,
			uint32_t len, bool wrap)
{
	uint64_t d = vq->desc + 16ull * slot;
	uint16_t f = wrap ? (VIRTQ_DESC_F_AVAIL | VIRTQ_DESC_F_USED) : 0;

	wr32(e, d + 8, len);
	wr16(e, d + 12, id);
	wr16(e, d + 14, f);
}

static void test_out_of_order_packed(void)
{
	struct env e;

	if (!env_open(&e, MEM_SPEC "pci-modern:echo", 0, false))
		return;
	if (!env_up(&e, F_ALL, 7, false))
		goto out;
	struct gdrv_vq *vq = &e.d->vq[1];
	struct gdrv_buf b[3] = { { e.scratch, 4 }, { e.scratch + 8, 4 }, { e.scratch + 16, 4 } };
	uint16_t ids[3];
	uint64_t tok;
	uint32_t len;

	CHECK(vq->packed);
	CHECK_EQ(gdrv_submit(vq, b, 1, 2, 100, false), 0); /* slots 0-2 */
	CHECK_EQ(gdrv_submit(vq, b, 1, 1, 101, true), 0);  /* slot 3 */
	CHECK_EQ(gdrv_submit(vq, b, 2, 1, 102, false), 0); /* slots 4-6 */
	CHECK_EQ(vq->num_free, 0);
	CHECK_EQ(vq->next_avail, 0);
	CHECK(!vq->avail_wrap);
	CHECK_EQ(gdrv_submit(vq, b, 1, 0, 103, true), -1);
	/* Descriptors as the device sees them: first of each chain has
	 * AVAIL set / USED clear (wrap 1), NEXT on all but the last, the
	 * indirect one INDIRECT with a 2-entry table. */
	const uint16_t slots[3] = { 0, 3, 4 };
	for (unsigned i = 0; i < 3; i++) {
		uint16_t f = rd16(&e, vq->desc + 16ull * slots[i] + 14);
		CHECK_EQ(f & (VIRTQ_DESC_F_AVAIL | VIRTQ_DESC_F_USED), VIRTQ_DESC_F_AVAIL);
		ids[i] = rd16(&e, vq->desc + 16ull * slots[i] + 12);
	}
	CHECK_EQ(rd16(&e, vq->desc + 16 * 3 + 14) & 0x7f, VIRTQ_DESC_F_INDIRECT);
	CHECK_EQ(rd16(&e, vq->desc + 16 * 0 + 14) & 0x7f, VIRTQ_DESC_F_NEXT);
	CHECK_EQ(rd16(&e, vq->desc + 16 * 1 + 14) & 0x7f, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE);
	CHECK_EQ(rd16(&e, vq->desc + 16 * 2 + 14) & 0x7f, VIRTQ_DESC_F_WRITE);
	/* Device completes 102 (3 slots), then 100 (3), then 101 (1). */
	packed_used(&e, vq, 0, ids[2], 5, true);
	packed_used(&e, vq, 3, ids[0], 6, true);
	CHECK_EQ(gdrv_get_used(vq, &tok, &len), 1);
	CHECK_EQ(tok, 102);
	CHECK_EQ(len, 5);
	CHECK_EQ(vq->next_used, 3);
	CHECK_EQ(gdrv_get_used(vq, &tok, &len), 1);
	CHECK_EQ(tok, 100);
	CHECK_EQ(len, 6);
	CHECK_EQ(gdrv_get_used(vq, &tok, &len), 0); /* slot 6 not used yet */
	packed_used(&e, vq, 6, ids[1], 7, true);
	CHECK_EQ(gdrv_get_used(vq, &tok, &len), 1);
	CHECK_EQ(tok, 101);
	CHECK_EQ(vq->next_used, 0);
	CHECK(!vq->used_wrap);
	CHECK_EQ(vq->num_free, 7);
	/* Next lap: one chain; a used descriptor with the old wrap value is
	 * not new. */
	CHECK_EQ(gdrv_submit(vq, b, 1, 0, 104, false), 0);
	CHECK_EQ(gdrv_get_used(vq, &tok, &len), 0);
	uint16_t id = rd16(&e, vq->desc + 12);
	CHECK_EQ(rd16(&e, vq->desc + 14) & (VIRTQ_DESC_F_AVAIL | VIRTQ_DESC_F_USED),
		 VIRTQ_DESC_F_USED);
	packed_used(&e, vq, 0, id, 0, false);
	CHECK_EQ(gdrv_get_used(vq, &tok, &len), 1);
	CHECK_EQ(tok, 104);
	/* A used descriptor naming an id not in flight breaks the ring. */
	CHECK_EQ(gdrv_submit(vq, b, 1, 0, 105, false), 0);
	packed_used(&e, vq, 1, (uint16_t)(id ^ 1), 0, false);
	CHECK_EQ(gdrv_get_used(vq, &tok, &len), -1);
	CHECK(vq->broken);
	CHECK_EQ(gdrv_submit(vq, b, 1, 0, 106, false), -1);
	/* And an id beyond the ring. */
	CHECK_EQ(gdrv_init(e.d, F_ALL), 0);
	CHECK_EQ(gdrv_setup_vq(e.d, 1, 7), 0);
	CHECK_EQ(gdrv_submit(vq, b, 1, 0, 107, false), 0);
	packed_used(&e, vq, 0, 300, 0, true);
	CHECK_EQ(gdrv_get_used(vq, &tok, &len), -1);
out:
	env_close(&e);
}

/* The indirect table is allocated once per head and reused; up to
 * GDRV_MAX_INDIRECT entries fit, more do not, and no chain longer than the
 * ring goes in directly. */
static void test_indirect_table_reuse(void)
{
	struct env e;

	if (!env_open(&e, MEM_SPEC "mmio:echo", 0, false))
		return;
	if (env_up(&e, F_NO_PACKED, 2, false)) {
		struct gdrv_vq *vq = &e.d->vq[0];
		uint64_t t0 = 0, t1 = 0, next = 0;
		uint32_t l16[GDRV_MAX_INDIRECT];
		struct gdrv_buf bb[GDRV_MAX_INDIRECT + 1];
		struct rq r[2];
		uint64_t tok;
		uint32_t len;

		for (unsigned round = 0; round < 3; round++) {
			for (unsigned i = 0; i < 2; i++) {
				rq_prepare(&e, &r[i], i, lens11, 1, 1, 50 + round * 2 + i);
				CHECK_EQ(rq_submit(vq, &r[i], true), 0);
			}
			CHECK_EQ(vq->num_free, 0);
			CHECK(gdrv_kick(vq));
			for (unsigned i = 0; i < 2; i++) {
				CHECK_EQ(gdrv_get_used(vq, &tok, &len), 1);
				CHECK_EQ(tok, r[i].token);
				rq_verify(&e, &r[i], len, 0);
			}
			if (round == 0) {
				t0 = vq->indirect[0];
				t1 = vq->indirect[1];
				next = e.mem.next;
				CHECK(t0 && t1 && t0 != t1);
			}
		}
		CHECK_EQ(vq->indirect[0], t0);
		CHECK_EQ(vq->indirect[1], t1);
		CHECK_EQ(e.mem.next, next); /* nothing more allocated */
		for (unsigned i = 0; i <= GDRV_MAX_INDIRECT; i++) {
			bb[i].gpa = e.scratch + 8 * i;
			bb[i].len = 4;
		}
		/* No chain longer than the queue, indirect or not. */
		CHECK_EQ(gdrv_submit(vq, bb, 2, 1, 0, false), -1);
		CHECK_EQ(gdrv_submit(vq, bb, 2, 1, 0, true), -1);
		CHECK_EQ(gdrv_submit(vq, bb, 0, 0, 0, false), -1); /* empty */
		CHECK_EQ(gdrv_submit(vq, bb, 0, 0, 0, true), -1);
		CHECK_EQ(gdrv_submit(vq, bb, 1, UINT32_MAX, 0, false), -1); /* count wraps */
		CHECK_EQ(vq->num_free, 2);
		/* A queue of 32: GDRV_MAX_INDIRECT entries fit a table, one
		 * more does not (even though the ring would take it). */
		CHECK_EQ(gdrv_init(e.d, F_NO_PACKED), 0);
		CHECK_EQ(gdrv_setup_vq(e.d, 0, 32), 0);
		gdrv_driver_ok(e.d);
		for (unsigned i = 0; i < GDRV_MAX_INDIRECT; i++)
			l16[i] = 4 + i;
		roundtrip(&e, vq, l16, 8, GDRV_MAX_INDIRECT - 8, true, 0, 9);
		CHECK_EQ(gdrv_submit(vq, bb, 8, GDRV_MAX_INDIRECT + 1 - 8, 0, true), -1);
		CHECK_EQ(gdrv_submit(vq, bb, 8, GDRV_MAX_INDIRECT + 1 - 8, 7, false), 0);
		CHECK(gdrv_kick(vq));
		CHECK_EQ(gdrv_get_used(vq, &tok, &len), 1);
		CHECK_EQ(tok, 7);
		CHECK_EQ(len, 4 * 8);
		env_check_clean(&e);
	}
	env_close(&e);
}

/* Memory exhaustion while setting up queues and indirect tables. */
static void test_out_of_memory(void)
{
	struct env e;

	if (!env_open(&e, MEM_SPEC "pci-modern:echo,packed=off", 0, false))
		return;
	CHECK_EQ(gdrv_init(e.d, F_ALL), 0);
	e.mem.end = e.mem.next + 100; /* too small for a 64-entry split ring */
	CHECK_EQ(gdrv_setup_vq(e.d, 0, 64), -1);
	CHECK_EQ(e.d->vq[0].num, 0);
	e.mem.end = e.mem.next + 200; /* a 2-entry ring, no 256-byte table */
	CHECK_EQ(gdrv_setup_vq(e.d, 0, 2), 0);
	gdrv_driver_ok(e.d);
	struct gdrv_buf b[2] = { { DRV_MEM_BASE, 4 }, { DRV_MEM_BASE + 8, 4 } };
	CHECK_EQ(gdrv_submit(&e.d->vq[0], b, 1, 1, 1, true), -1); /* no room for a table */
	CHECK_EQ(gdrv_submit(&e.d->vq[0], b, 1, 1, 1, false), 0);
	env_close(&e);
	/* Packed and legacy layouts run out too. */
	if (!env_open(&e, MEM_SPEC "pci-modern:echo", 0, false))
		return;
	CHECK_EQ(gdrv_init(e.d, F_ALL), 0);
	e.mem.end = e.mem.next + 16 * 4;
	CHECK_EQ(gdrv_setup_vq(e.d, 0, 4), -1);
	e.mem.end = e.mem.next + 200; /* a 4-entry packed ring, no table */
	CHECK_EQ(gdrv_setup_vq(e.d, 0, 4), 0);
	CHECK(e.d->vq[0].packed);
	gdrv_driver_ok(e.d);
	CHECK_EQ(gdrv_submit(&e.d->vq[0], b, 1, 1, 1, true), -1);
	CHECK_EQ(gdrv_submit(&e.d->vq[0], b, 1, 1, 1, false), 0);
	env_close(&e);
	if (!env_open(&e, MEM_SPEC "mmio-legacy:echo", 0, false))
		return;
	CHECK_EQ(gdrv_init(e.d, F_ALL), 0);
	e.mem.end = e.mem.next + 4096;
	CHECK_EQ(gdrv_setup_vq(e.d, 0, 4), -1);
	env_close(&e);
}

/* Queue sizes: clipped to the device max and GDRV_MAX_QSIZE, rounded down
 * to a power of two for split rings; size 0, absent queues and queue
 * indices beyond GDRV_MAX_QUEUES refused. Kicks and interrupt changes on
 * a queue that is not set up do nothing. */
static void test_queue_sizes(void)
{
	struct env e;

	if (!env_open(&e, MEM_SPEC "mmio:echo", 0, false))
		return;
	CHECK_EQ(gdrv_queue_max(e.d, 0), ECHO_QUEUE_MAX);
	CHECK_EQ(gdrv_queue_max(e.d, 2), 0);
	CHECK_EQ(gdrv_init(e.d, F_NO_PACKED), 0);
	CHECK_EQ(gdrv_setup_vq(e.d, 0, 100), 0);
	CHECK_EQ(e.d->vq[0].num, 64);
	CHECK_EQ(gdrv_setup_vq(e.d, 1, 0xffff), 0);
	CHECK_EQ(e.d->vq[1].num, 256);
	CHECK_EQ(gdrv_setup_vq(e.d, 0, 0), -1);
	CHECK_EQ(gdrv_setup_vq(e.d, GDRV_MAX_QUEUES, 8), -1);
	CHECK_EQ(gdrv_setup_vq(e.d, 2, 8), -1);
	CHECK_EQ(e.d->nqueues, 2);
	CHECK(!gdrv_kick(&e.d->vq[2]));
	gdrv_set_interrupts(&e.d->vq[2], false);
	uint64_t tok;
	uint32_t len;
	CHECK_EQ(gdrv_get_used(&e.d->vq[2], &tok, &len), 0);
	struct gdrv_buf b = { e.scratch, 4 };
	CHECK_EQ(gdrv_submit(&e.d->vq[2], &b, 1, 0, 0, false), -1);
	env_check_clean(&e); /* probing absent queues is allowed */
	env_close(&e);
	/* Packed: any size. */
	if (!env_open(&e, MEM_SPEC "mmio:echo", 0, false))
		return;
	CHECK_EQ(gdrv_init(e.d, F_ALL), 0);
	CHECK_EQ(gdrv_setup_vq(e.d, 0, 100), 0);
	CHECK_EQ(e.d->vq[0].num, 100);
	env_close(&e);
	/* PCI modern: absent queue index. */
	if (!env_open(&e, MEM_SPEC "pci-modern:echo", 0, false))
		return;
	CHECK_EQ(gdrv_queue_max(e.d, 2), 0);
	CHECK_EQ(gdrv_queue_max(e.d, 1), ECHO_QUEUE_MAX);
	env_close(&e);
}

/* ======================================================================================== */
/* Fake I/O: hand-built configuration space and register files                              */
/* ======================================================================================== */

#define FK_MMIO 0xe0000000ull
#define FK_MMIO_SIZE 0x10000u
#define FK_RAM (1u << 20)
#define FK_OVR 8

struct fake {
	uint32_t conf1;
	uint8_t cfg[32][256];
	uint8_t pio[0x10000];
	uint8_t mmio[FK_MMIO_SIZE];
	uint8_t ram[FK_RAM];
	struct {
		bool mmio;
		uint64_t addr;
		uint32_t val;
	} ovr[FK_OVR];
	unsigned novr;
	uint64_t spin_addr; /* MMIO reads here count up */
	uint32_t spin;
	unsigned cfg_writes;
	unsigned ro_slot, ro_off; /* config writes touching this byte are dropped (0: none) */
};

static bool fk_ovr(struct fake *f, bool mmio, uint64_t addr, uint32_t *val)
{
	for (unsigned i = 0; i < f->novr; i++)
		if (f->ovr[i].mmio == mmio && f->ovr[i].addr == addr) {
			*val = f->ovr[i].val;
			return true;
		}
	return false;
}

static void fk_set_ovr(struct fake *f, bool mmio, uint64_t addr, uint32_t val)
{
	if (f->novr < FK_OVR) {
		f->ovr[f->novr].mmio = mmio;
		f->ovr[f->novr].addr = addr;
		f->ovr[f->novr].val = val;
		f->novr++;
	}
}

static uint64_t fk_load(const uint8_t *p, unsigned size)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < size; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static void fk_store(uint8_t *p, unsigned size, uint64_t v)
{
	for (unsigned i = 0; i < size; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint8_t *fk_cfg_at(struct fake *f, uint16_t port, unsigned size)
{
	unsigned reg = (f->conf1 & 0xfc) + (port - PCI_CONF1_DATA_PORT);

	if (!(f->conf1 & PCI_CONF1_ENABLE) || ((f->conf1 >> 16) & 0xff) || reg + size > 256)
		return NULL;
	return &f->cfg[(f->conf1 >> 11) & 31][reg];
}

static uint32_t fk_pio_read(void *ctx, uint16_t port, unsigned size)
{
	struct fake *f = ctx;
	uint32_t v;

	if (port == PCI_CONF1_ADDR_PORT)
		return f->conf1;
	if (port >= PCI_CONF1_DATA_PORT && port < PCI_CONF1_DATA_PORT + 4) {
		uint8_t *p = fk_cfg_at(f, port, size);
		return p ? (uint32_t)fk_load(p, size) : 0xffffffffu;
	}
	if (fk_ovr(f, false, port, &v))
		return v;
	return port + size <= 0x10000 ? (uint32_t)fk_load(&f->pio[port], size) : 0xffffffffu;
}

static void fk_pio_write(void *ctx, uint16_t port, unsigned size, uint32_t val)
{
	struct fake *f = ctx;

	if (port == PCI_CONF1_ADDR_PORT) {
		f->conf1 = val;
		return;
	}
	if (port >= PCI_CONF1_DATA_PORT && port < PCI_CONF1_DATA_PORT + 4) {
		uint8_t *p = fk_cfg_at(f, port, size);
		unsigned reg = (f->conf1 & 0xfc) + (port - PCI_CONF1_DATA_PORT);
		bool ro = f->ro_off && ((f->conf1 >> 11) & 31) == f->ro_slot && f->ro_off >= reg &&
			  f->ro_off < reg + size;
		if (p && !ro)
			fk_store(p, size, val);
		f->cfg_writes++;
		return;
	}
	if (port + size <= 0x10000)
		fk_store(&f->pio[port], size, val);
}

static uint64_t fk_mmio_read(void *ctx, uint64_t addr, unsigned size)
{
	struct fake *f = ctx;
	uint32_t v;

	if (f->spin_addr && addr == f->spin_addr)
		return f->spin++;
	if (fk_ovr(f, true, addr, &v))
		return v;
	if (addr >= FK_MMIO && addr - FK_MMIO + size <= FK_MMIO_SIZE)
		return fk_load(&f->mmio[addr - FK_MMIO], size);
	return ~0ull;
}

static void fk_mmio_write(void *ctx, uint64_t addr, unsigned size, uint64_t val)
{
	struct fake *f = ctx;

	if (addr >= FK_MMIO && addr - FK_MMIO + size <= FK_MMIO_SIZE)
		fk_store(&f->mmio[addr - FK_MMIO], size, val);
}

static void fk_mem_read(void *ctx, uint64_t gpa, void *buf, size_t len)
{
	struct fake *f = ctx;

	if (gpa < FK_RAM && len <= FK_RAM - gpa)
		memcpy(buf, &f->ram[gpa], len);
	else
		memset(buf, 0, len);
}

static void fk_mem_write(void *ctx, uint64_t gpa, const void *buf, size_t len)
{
	struct fake *f = ctx;

	if (gpa < FK_RAM && len <= FK_RAM - gpa)
		memcpy(&f->ram[gpa], buf, len);
}

static struct fake *fk_new(struct gdrv_io *io)
{
	struct fake *f = calloc(1, sizeof *f);

	memset(f->cfg, 0xff, sizeof f->cfg);
	io->ctx = f;
	io->pio_read = fk_pio_read;
	io->pio_write = fk_pio_write;
	io->mmio_read = fk_mmio_read;
	io->mmio_write = fk_mmio_write;
	io->mem_read = fk_mem_read;
	io->mem_write = fk_mem_write;
	return f;
}

static void cfg16(struct fake *f, unsigned slot, unsigned off, uint16_t v)
{
	fk_store(&f->cfg[slot][off], 2, v);
}

static void cfg32(struct fake *f, unsigned slot, unsigned off, uint32_t v)
{
	fk_store(&f->cfg[slot][off], 4, v);
}

/* An empty type-0 header for a virtio function with a capability list
 * starting at 0x40 (caps are added by the test). */
static void fk_func(struct fake *f, unsigned slot, uint16_t device, uint16_t subsys)
{
	memset(f->cfg[slot], 0, 256);
	cfg16(f, slot, PCI_VENDOR_ID, VIRTIO_PCI_VENDOR);
	cfg16(f, slot, PCI_DEVICE_ID, device);
	cfg16(f, slot, PCI_SUBSYSTEM_ID, subsys);
	cfg16(f, slot, PCI_STATUS, PCI_STATUS_CAP_LIST);
	f->cfg[slot][PCI_CAPABILITY_LIST] = 0x40;
	f->cfg[slot][PCI_INTERRUPT_LINE] = 11;
}

/* A virtio vendor capability at off linking to next. */
static void fk_vcap(struct fake *f, unsigned slot, unsigned off, unsigned next, uint8_t len,
		    uint8_t type, uint8_t bar, uint32_t offset, uint32_t length, uint32_t extra)
{
	uint8_t *c = &f->cfg[slot][off];

	c[0] = PCI_CAP_ID_VNDR;
	c[1] = (uint8_t)next;
	c[2] = len;
	c[3] = type;
	c[4] = bar;
	fk_store(c + 8, 4, offset);
	fk_store(c + 12, 4, length);
	if (len >= 20)
		fk_store(c + 16, 4, extra);
}

static void fk_msix_cap(struct fake *f, unsigned slot, unsigned off, unsigned next,
			uint16_t qsize, uint32_t table, uint32_t pba)
{
	uint8_t *c = &f->cfg[slot][off];

	c[0] = PCI_CAP_ID_MSIX;
	c[1] = (uint8_t)next;
	fk_store(c + 2, 2, qsize);
	fk_store(c + 4, 4, table);
	fk_store(c + 8, 4, pba);
}

/* A complete modern (+ optional legacy) function in slot: BAR 0 I/O at
 * port 0x1000 (transitional), BAR 2 32-bit memory at FK_MMIO, BAR 4/5
 * 64-bit memory at FK_MMIO + 0x8000; caps in BAR 4. */
#define FK_BAR4 (FK_MMIO + 0x8000)
#define FK_COMMON (FK_BAR4 + 0x0)
#define FK_ISR (FK_BAR4 + 0x1000)
#define FK_DEVCFG (FK_BAR4 + 0x2000)
#define FK_NOTIFY (FK_BAR4 + 0x3000)
#define FK_LPORT 0x1000
#define FK_MSIX_CAP 0x84

static void fk_full(struct fake *f, unsigned slot, bool transitional)
{
	fk_func(f, slot, transitional ? 0x1005 : 0x1044, transitional ? 4 : 0);
	if (transitional)
		cfg32(f, slot, PCI_BAR0, FK_LPORT | PCI_BAR_IO);
	cfg32(f, slot, PCI_BAR0 + 8, (uint32_t)FK_MMIO);
	cfg32(f, slot, PCI_BAR0 + 16, (uint32_t)FK_BAR4 | PCI_BAR_MEM64);
	cfg32(f, slot, PCI_BAR0 + 20, 0);
	fk_vcap(f, slot, 0x40, 0x50, 16, VIRTIO_PCI_CAP_COMMON_CFG, 4, 0, 0x38, 0);
	fk_vcap(f, slot, 0x50, 0x64, 20, VIRTIO_PCI_CAP_NOTIFY_CFG, 4, 0x3000, 0x100, 4);
	fk_vcap(f, slot, 0x64, 0x74, 16, VIRTIO_PCI_CAP_ISR_CFG, 4, 0x1000, 1, 0);
	fk_vcap(f, slot, 0x74, 0x84, 16, VIRTIO_PCI_CAP_DEVICE_CFG, 4, 0x2000, 0x100, 0);
	fk_msix_cap(f, slot, FK_MSIX_CAP, 0, 3, 2, 0x800 | 2);
}

/* Scan of a hand-built bus: every way a capability list or BAR set can be
 * odd, and functions that are not virtio. */
static void test_fake_scan(void)
{
	struct gdrv_io io;
	struct fake *f = fk_new(&io);
	struct gdrv_pci_info info[8];
	unsigned n;

	/* slot 0: host bridge (other vendor) */
	memset(f->cfg[0], 0, 256);
	cfg16(f, 0, PCI_VENDOR_ID, 0x8086);
	/* slot 1: 0x1af4 but not a virtio ID; slot 10: below the range */
	fk_func(f, 1, 0x1110, 0);
	fk_func(f, 10, 0x0fff, 0);
	/* slot 2: virtio ID but a bridge header */
	fk_func(f, 2, 0x1041, 0);
	f->cfg[2][PCI_HEADER_TYPE] = 1;
	/* slot 3: complete transitional device */
	fk_full(f, 3, true);
	/* slot 4: modern, every capability unusable: in an I/O BAR, in an
	 * absent BAR, BAR index 7, cap_len too short, length too short,
	 * notify without its multiplier field, a shared memory cap, ISR of
	 * length 0, a PCI cfg cap naming BAR 9 (its BAR is ignored), MSI-X
	 * with its table in the I/O BAR; the list loops back to 0x40. The
	 * one usable common cap is followed by a duplicate (first wins). */
	fk_func(f, 4, 0x1040 + 9, 0x77);
	cfg32(f, 4, PCI_BAR0, 0x2000 | PCI_BAR_IO);                     /* I/O, modern ID */
	cfg32(f, 4, PCI_BAR0 + 4, 0);                                    /* absent */
	cfg32(f, 4, PCI_BAR0 + 8, (uint32_t)FK_MMIO);                   /* mem32 */
	cfg32(f, 4, PCI_BAR0 + 20, (uint32_t)FK_BAR4 | PCI_BAR_MEM64);  /* 64-bit, no room */
	fk_vcap(f, 4, 0x40, 0x50, 16, VIRTIO_PCI_CAP_COMMON_CFG, 0, 0, 0x38, 0);
	fk_vcap(f, 4, 0x50, 0x60, 16, VIRTIO_PCI_CAP_COMMON_CFG, 1, 0, 0x38, 0);
	fk_vcap(f, 4, 0x60, 0x70, 16, VIRTIO_PCI_CAP_COMMON_CFG, 7, 0, 0x38, 0);
	fk_vcap(f, 4, 0x70, 0x80, 8, VIRTIO_PCI_CAP_COMMON_CFG, 2, 0, 0x38, 0);
	fk_vcap(f, 4, 0x80, 0x90, 16, VIRTIO_PCI_CAP_COMMON_CFG, 2, 0, 0x20, 0);
	fk_vcap(f, 4, 0x90, 0xa0, 16, VIRTIO_PCI_CAP_COMMON_CFG, 2, 0x100, 0x3c, 0);
	fk_vcap(f, 4, 0xa0, 0xb0, 16, VIRTIO_PCI_CAP_COMMON_CFG, 2, 0x200, 0x3c, 0);
	fk_vcap(f, 4, 0xb0, 0xc0, 16, VIRTIO_PCI_CAP_NOTIFY_CFG, 2, 0x300, 4, 0);
	fk_vcap(f, 4, 0xc0, 0xd0, 16, VIRTIO_PCI_CAP_SHARED_MEMORY_CFG, 2, 0, 0, 0);
	fk_vcap(f, 4, 0xd0, 0xe0, 16, VIRTIO_PCI_CAP_ISR_CFG, 2, 0x400, 0, 0);
	fk_vcap(f, 4, 0xe0, 0xf4, 20, VIRTIO_PCI_CAP_PCI_CFG, 9, 0, 0, 0);
	fk_msix_cap(f, 4, 0xf4, 0x40, 7, 0, 0);
	/* slot 5: no capability list at all; legacy-only (0x1000 + I/O BAR) */
	fk_func(f, 5, 0x1000, VIRTIO_ID_NET);
	cfg16(f, 5, PCI_STATUS, 0);
	cfg32(f, 5, PCI_BAR0, 0x3000 | PCI_BAR_IO);
	/* slot 6: capability pointer below 0x40 ends the walk; memory BAR 0,
	 * so no legacy interface despite the transitional ID. */
	fk_func(f, 6, 0x1001, VIRTIO_ID_BLOCK);
	f->cfg[6][PCI_CAPABILITY_LIST] = 0x3c;
	cfg32(f, 6, PCI_BAR0, (uint32_t)FK_MMIO);
	/* slot 7: a capability in every dword from 0x40 on, the last one
	 * linking back: the walk ends (bounded) without finding anything. */
	fk_func(f, 7, 0x1041, 0);
	cfg32(f, 7, PCI_BAR0 + 8, (uint32_t)FK_MMIO);
	for (unsigned off = 0x40; off < 0x100; off += 4) {
		f->cfg[7][off] = 0x05; /* MSI: not ours */
		f->cfg[7][off + 1] = (uint8_t)(off + 4 < 0x100 ? off + 4 : 0x40);
	}
	/* slot 8: capability list pointing at itself */
	fk_func(f, 8, 0x1043, 0);
	f->cfg[8][0x40] = 0x05;
	f->cfg[8][0x41] = 0x40;
	/* slot 9: modern, good caps in unusual order, with duplicates that
	 * lose to the first (MSI-X, PCI cfg) and a device cap of length 0
	 * before the good one. */
	fk_func(f, 9, 0x1040 + 10, 0);
	cfg32(f, 9, PCI_BAR0 + 8, (uint32_t)FK_MMIO);
	fk_msix_cap(f, 9, 0x40, 0x4c, 7, 2 | 0x100, 2 | 0x200);
	fk_msix_cap(f, 9, 0x4c, 0x58, 1, 2, 2);
	fk_vcap(f, 9, 0x58, 0x6c, 20, VIRTIO_PCI_CAP_NOTIFY_CFG, 2, 0x300, 4, 2);
	fk_vcap(f, 9, 0x6c, 0x80, 20, VIRTIO_PCI_CAP_PCI_CFG, 0, 0, 0, 0);
	fk_vcap(f, 9, 0x80, 0x94, 20, VIRTIO_PCI_CAP_PCI_CFG, 0, 0, 0, 0);
	fk_vcap(f, 9, 0x94, 0xa4, 16, VIRTIO_PCI_CAP_DEVICE_CFG, 2, 0x600, 0, 0);
	fk_vcap(f, 9, 0xa4, 0xb4, 16, VIRTIO_PCI_CAP_ISR_CFG, 2, 0x400, 1, 0);
	fk_vcap(f, 9, 0xb4, 0xc4, 16, VIRTIO_PCI_CAP_COMMON_CFG, 2, 0x100, 0x3c, 0);
	fk_vcap(f, 9, 0xc4, 0xd4, 16, VIRTIO_PCI_CAP_DEVICE_CFG, 2, 0x700, 8, 0);
	fk_vcap(f, 9, 0xd4, 0xe4, 16, VIRTIO_PCI_CAP_ISR_CFG, 2, 0x800, 1, 0);
	fk_vcap(f, 9, 0xe4, 0, 16, VIRTIO_PCI_CAP_DEVICE_CFG, 2, 0x900, 8, 0);

	n = gdrv_pci_scan(&io, info, 8);
	CHECK_EQ(n, 7);
	const unsigned slots[7] = { 3, 4, 5, 6, 7, 8, 9 };
	for (unsigned i = 0; i < 7 && i < n; i++)
		CHECK_EQ(info[i].slot, slots[i]);
	/* slot 3 */
	CHECK_EQ(info[0].virtio_id, 4);
	CHECK(info[0].has_legacy && info[0].has_modern);
	CHECK_EQ(info[0].bar[0], FK_LPORT);
	CHECK_EQ(info[0].bar[2], FK_MMIO);
	CHECK_EQ(info[0].bar[4], FK_BAR4);
	CHECK_EQ(info[0].common, FK_COMMON);
	CHECK_EQ(info[0].notify, FK_NOTIFY);
	CHECK_EQ(info[0].notify_mult, 4);
	CHECK_EQ(info[0].isr, FK_ISR);
	CHECK_EQ(info[0].devcfg, FK_DEVCFG);
	CHECK_EQ(info[0].msix_cap, FK_MSIX_CAP);
	CHECK_EQ(info[0].msix_size, 4);
	CHECK_EQ(info[0].msix_table, FK_MMIO);
	CHECK_EQ(info[0].msix_pba, FK_MMIO + 0x800);
	CHECK_EQ(info[0].irq_line, 11);
	CHECK_EQ(info[0].pcicfg_cap, 0);
	CHECK_EQ(rs_le16(&f->cfg[3][PCI_COMMAND]) & 7, 7);
	/* slot 4 */
	CHECK_EQ(info[1].virtio_id, 9);
	CHECK(!info[1].has_legacy);
	CHECK(!info[1].has_modern);
	CHECK_EQ(info[1].bar[0], 0x2000);
	CHECK_EQ(info[1].bar[5], 0); /* 64-bit in the last slot: ignored */
	CHECK_EQ(info[1].common, FK_MMIO + 0x100);
	CHECK_EQ(info[1].notify, 0);
	CHECK_EQ(info[1].isr, 0);
	CHECK_EQ(info[1].devcfg, 0);
	CHECK_EQ(info[1].pcicfg_cap, 0xe0);
	CHECK_EQ(info[1].msix_cap, 0);
	/* slot 5: legacy only */
	CHECK_EQ(info[2].virtio_id, VIRTIO_ID_NET);
	CHECK(info[2].has_legacy && !info[2].has_modern);
	CHECK_EQ(info[2].msix_cap, 0);
	CHECK_EQ(info[2].bar[0], 0x3000);
	/* slot 6: neither */
	CHECK_EQ(info[3].virtio_id, VIRTIO_ID_BLOCK);
	CHECK(!info[3].has_legacy && !info[3].has_modern);
	/* slots 7, 8: bounded walks found nothing */
	CHECK(!info[4].has_modern && info[4].common == 0 && info[4].msix_cap == 0);
	CHECK(!info[5].has_modern && info[5].common == 0);
	/* slot 9 */
	CHECK(info[6].has_modern);
	CHECK_EQ(info[6].common, FK_MMIO + 0x100);
	CHECK_EQ(info[6].notify, FK_MMIO + 0x300);
	CHECK_EQ(info[6].notify_mult, 2);
	CHECK_EQ(info[6].isr, FK_MMIO + 0x400);
	CHECK_EQ(info[6].devcfg, FK_MMIO + 0x700);
	CHECK_EQ(info[6].pcicfg_cap, 0x6c);
	CHECK_EQ(info[6].msix_cap, 0x40);
	CHECK_EQ(info[6].msix_size, 8);
	CHECK_EQ(info[6].msix_table, FK_MMIO + 0x100);
	CHECK_EQ(info[6].msix_pba, FK_MMIO + 0x200);

	struct gdrv_dev *d = calloc(1, sizeof *d);
	struct gdrv_mem mem = { 0x10000, FK_RAM };
	CHECK_EQ(gdrv_open_pci(d, &io, &mem, &info[3], true), -1);
	CHECK_EQ(gdrv_open_pci(d, &io, &mem, &info[3], false), -1);
	CHECK_EQ(gdrv_open_pci(d, &io, &mem, &info[2], false), -1);
	CHECK_EQ(gdrv_open_pci(d, &io, &mem, &info[2], true), 0);
	CHECK(!d->msix);
	CHECK_EQ(d->device_id, VIRTIO_ID_NET);
	free(d);
	free(f);
}

/* Modern PCI over the fake: init refused (no VERSION_1 / FEATURES_OK does
 * not stick), queue already live or enable not sticking, vectors that do
 * not read back, MSI-X enable that does not stick, config with an unstable
 * generation, no device config. */
#define CREG(off) (&f->mmio[FK_COMMON - FK_MMIO + (off)])
static void test_fake_modern_errors(void)
{
	struct gdrv_io io;
	struct fake *f = fk_new(&io);
	struct gdrv_pci_info info;
	struct gdrv_dev *d = calloc(1, sizeof *d);
	struct gdrv_mem mem = { 0x10000, FK_RAM };

	fk_full(f, 1, false);
	CHECK_EQ(gdrv_pci_scan(&io, &info, 1), 1);
	CHECK_EQ(gdrv_open_pci(d, &io, &mem, &info, false), 0);
	CHECK(!d->msix);
	/* DF reads 0 for both windows: no VERSION_1 -> FAILED. */
	CHECK_EQ(gdrv_init(d, F_ALL), -1);
	CHECK(*CREG(VIRTIO_PCI_COMMON_STATUS) & VIRTIO_STATUS_FAILED);
	/* In this fake both feature windows read the same word, so bit 0
	 * offers bits 0 and 32 (VERSION_1). */
	fk_store(CREG(VIRTIO_PCI_COMMON_DF), 4, 1);
	CHECK_EQ(gdrv_device_features(d), 0x100000001ull);
	CHECK_EQ(gdrv_init(d, F_ALL), 0);
	CHECK_EQ(d->features, F(VIRTIO_F_VERSION_1) | 1);
	CHECK_EQ(rs_le32(CREG(VIRTIO_PCI_COMMON_GF)), 1); /* high window last */
	CHECK_EQ(rs_le32(CREG(VIRTIO_PCI_COMMON_GFSELECT)), 1);
	/* FEATURES_OK not kept: status reads ACKNOWLEDGE|DRIVER only. The
	 * reset before it never sees 0 either: bounded polling. */
	fk_set_ovr(f, true, FK_COMMON + VIRTIO_PCI_COMMON_STATUS,
		   VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	CHECK_EQ(gdrv_init(d, F_ALL), -1);
	f->novr = 0;
	CHECK_EQ(gdrv_init(d, F_ALL), 0);
	/* One queue of 16. */
	fk_store(CREG(VIRTIO_PCI_COMMON_NUMQ), 2, 1);
	fk_store(CREG(VIRTIO_PCI_COMMON_Q_SIZE), 2, 16);
	CHECK_EQ(gdrv_queue_max(d, 1), 0);
	CHECK_EQ(gdrv_queue_max(d, 0), 16);
	fk_store(CREG(VIRTIO_PCI_COMMON_Q_ENABLE), 2, 1);
	CHECK_EQ(gdrv_setup_vq(d, 0, 16), -1); /* already live */
	fk_store(CREG(VIRTIO_PCI_COMMON_Q_ENABLE), 2, 0);
	fk_set_ovr(f, true, FK_COMMON + VIRTIO_PCI_COMMON_Q_ENABLE, 0);
	CHECK_EQ(gdrv_setup_vq(d, 0, 16), -1); /* enable does not stick */
	f->novr = 0;
	fk_store(CREG(VIRTIO_PCI_COMMON_Q_ENABLE), 2, 0);
	fk_store(CREG(VIRTIO_PCI_COMMON_Q_NOFF), 2, 3);
	CHECK_EQ(gdrv_setup_vq(d, 0, 16), 0);
	CHECK_EQ(d->vq[0].notify_addr, FK_NOTIFY + 3 * 4);
	CHECK_EQ(rs_le16(CREG(VIRTIO_PCI_COMMON_Q_SIZE)), 16);
	CHECK_EQ(rs_le32(CREG(VIRTIO_PCI_COMMON_Q_DESCLO)), (uint32_t)d->vq[0].desc);
	CHECK_EQ(rs_le32(CREG(VIRTIO_PCI_COMMON_Q_AVAILLO)), (uint32_t)d->vq[0].avail);
	CHECK_EQ(rs_le32(CREG(VIRTIO_PCI_COMMON_Q_USEDLO)), (uint32_t)d->vq[0].used);
	CHECK_EQ(rs_le32(CREG(VIRTIO_PCI_COMMON_Q_DESCHI)), 0);
	/* Notify: 16-bit write of the queue index at the notify address. */
	memset(&f->mmio[FK_NOTIFY - FK_MMIO], 0xff, 16);
	CHECK(gdrv_kick(&d->vq[0]));
	CHECK_EQ(rs_le32(&f->mmio[FK_NOTIFY - FK_MMIO + 12]), 0xffff0000u);
	/* ISR through its capability. */
	f->mmio[FK_ISR - FK_MMIO] = 1;
	CHECK_EQ(gdrv_ack_isr(d), 1);
	/* MSI-X: the table is programmed and the enable sticks (plain config
	 * space), then the config vector does not read back. */
	fk_set_ovr(f, true, FK_COMMON + VIRTIO_PCI_COMMON_MSIX, VIRTIO_MSI_NO_VECTOR);
	CHECK_EQ(gdrv_enable_msix(d, MSI_ADDR, 0x20), -1);
	CHECK(rs_le16(&f->cfg[1][FK_MSIX_CAP + PCI_MSIX_FLAGS]) & PCI_MSIX_FLAGS_ENABLE);
	CHECK_EQ(rs_le32(&f->mmio[16 * 2]), (uint32_t)MSI_ADDR);
	CHECK_EQ(rs_le32(&f->mmio[16 * 2 + 8]), 0x22); /* table entry 2 data */
	f->novr = 0;
	/* The queue already set up gets its vector; one that does not read
	 * back fails both there and at a later setup. */
	fk_set_ovr(f, true, FK_COMMON + VIRTIO_PCI_COMMON_Q_MSIX, VIRTIO_MSI_NO_VECTOR);
	CHECK_EQ(gdrv_enable_msix(d, MSI_ADDR, 0x20), -1);
	fk_store(CREG(VIRTIO_PCI_COMMON_Q_ENABLE), 2, 0);
	CHECK_EQ(gdrv_setup_vq(d, 0, 16), -1);
	f->novr = 0;
	fk_store(CREG(VIRTIO_PCI_COMMON_Q_ENABLE), 2, 0);
	CHECK_EQ(gdrv_setup_vq(d, 0, 16), 0);
	fk_store(CREG(VIRTIO_PCI_COMMON_Q_MSIX), 2, 0);
	CHECK_EQ(gdrv_enable_msix(d, MSI_ADDR, 0x20), 0);
	CHECK_EQ(rs_le16(CREG(VIRTIO_PCI_COMMON_Q_MSIX)), 1);
	CHECK_EQ(rs_le16(CREG(VIRTIO_PCI_COMMON_MSIX)), 0);
	/* An enable bit that does not stick. */
	f->cfg[1][FK_MSIX_CAP + 3] = 0;
	f->ro_slot = 1;
	f->ro_off = FK_MSIX_CAP + 3;
	CHECK_EQ(gdrv_open_pci(d, &io, &mem, &info, false), 0);
	CHECK(!d->msix);
	CHECK_EQ(gdrv_enable_msix(d, MSI_ADDR, 0x20), -1);
	f->ro_off = 0;
	/* Config: generation keeps moving -> bounded retries, last value. */
	fk_store(&f->mmio[FK_DEVCFG - FK_MMIO], 4, 0xdeadbeef);
	f->spin_addr = FK_COMMON + VIRTIO_PCI_COMMON_CFGGENERATION;
	f->spin = 0;
	CHECK_EQ(gdrv_config_read(d, 0, 4), 0xdeadbeef);
	CHECK_EQ(f->spin, 32); /* 16 tries, two generation reads each */
	f->spin_addr = 0;
	*CREG(VIRTIO_PCI_COMMON_CFGGENERATION) = 9;
	CHECK_EQ(gdrv_config_generation(d), 9);
	gdrv_config_write(d, 8, 8, 0x1122334455667788ull);
	CHECK_EQ(gdrv_config_read(d, 8, 8), 0x1122334455667788ull);
	CHECK_EQ(gdrv_config_read(d, 8, 2), 0x7788);
	CHECK_EQ(gdrv_config_read(d, 12, 1), 0x44);
	/* No device config capability: reads 0, writes dropped. */
	struct gdrv_pci_info nocfg = info;
	nocfg.devcfg = 0;
	CHECK_EQ(gdrv_open_pci(d, &io, &mem, &nocfg, false), 0);
	gdrv_config_write(d, 0, 4, 1);
	CHECK_EQ(gdrv_config_read(d, 0, 4), 0);
	CHECK_EQ(rs_le32(&f->mmio[FK_DEVCFG - FK_MMIO]), 0xdeadbeef);
	/* No MSI-X capability. */
	struct gdrv_pci_info nomsix = info;
	nomsix.msix_cap = 0;
	CHECK_EQ(gdrv_open_pci(d, &io, &mem, &nomsix, false), 0);
	CHECK_EQ(gdrv_enable_msix(d, MSI_ADDR, 0x20), -1);
	free(d);
	free(f);
}

/* Legacy PCI over the fake: queue size above GDRV_MAX_QSIZE, queue already
 * live, PFN that does not read back or does not fit, config offset 20/24,
 * vectors. */
#define LREG(off) (&f->pio[FK_LPORT + (off)])
static void test_fake_legacy_errors(void)
{
	struct gdrv_io io;
	struct fake *f = fk_new(&io);
	struct gdrv_pci_info info;
	struct gdrv_dev *d = calloc(1, sizeof *d);
	struct gdrv_mem mem = { 0x10000, FK_RAM };

	fk_full(f, 2, true);
	CHECK_EQ(gdrv_pci_scan(&io, &info, 1), 1);
	CHECK_EQ(gdrv_open_pci(d, &io, &mem, &info, true), 0);
	fk_store(LREG(VIRTIO_PCI_LEGACY_HOST_FEATURES), 4,
		 F(VIRTIO_F_INDIRECT_DESC) | F(VIRTIO_F_BAD_FEATURE) | 0xd);
	CHECK_EQ(gdrv_init(d, F_ALL), 0);
	/* BAD_FEATURE never accepted; no VERSION_1 on the legacy interface;
	 * no FEATURES_OK either. */
	CHECK_EQ(d->features, F(VIRTIO_F_INDIRECT_DESC) | 0xd);
	CHECK_EQ(rs_le32(LREG(VIRTIO_PCI_LEGACY_GUEST_FEATURES)), d->features);
	CHECK_EQ(*LREG(VIRTIO_PCI_LEGACY_STATUS),
		 VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	CHECK_EQ(gdrv_config_generation(d), 0);
	/* want limits what is accepted. */
	CHECK_EQ(gdrv_init(d, 0x4), 0);
	CHECK_EQ(d->features, 0x4);
	fk_store(LREG(VIRTIO_PCI_LEGACY_QUEUE_NUM), 2, 512);
	CHECK_EQ(gdrv_setup_vq(d, 0, 8), -1); /* device size too big for the driver */
	CHECK_EQ(gdrv_queue_max(d, 0x10000), 0);
	fk_store(LREG(VIRTIO_PCI_LEGACY_QUEUE_NUM), 2, 16);
	fk_store(LREG(VIRTIO_PCI_LEGACY_QUEUE_PFN), 4, 0x1234);
	CHECK_EQ(gdrv_setup_vq(d, 0, 8), -1); /* already live */
	fk_store(LREG(VIRTIO_PCI_LEGACY_QUEUE_PFN), 4, 0);
	fk_set_ovr(f, false, FK_LPORT + VIRTIO_PCI_LEGACY_QUEUE_PFN, 0);
	CHECK_EQ(gdrv_setup_vq(d, 0, 8), -1); /* PFN not accepted */
	f->novr = 0;
	fk_store(LREG(VIRTIO_PCI_LEGACY_QUEUE_PFN), 4, 0);
	CHECK_EQ(gdrv_setup_vq(d, 0, 8), 0);
	CHECK_EQ(d->vq[0].num, 16);
	CHECK_EQ(rs_le32(LREG(VIRTIO_PCI_LEGACY_QUEUE_PFN)), d->vq[0].desc >> 12);
	CHECK_EQ(d->vq[0].desc & 4095, 0);
	/* Ring above 2^44: the PFN does not fit 32 bits. */
	struct gdrv_mem high = { 1ull << 45, (1ull << 45) + (1 << 20) };
	d->mem = &high;
	CHECK_EQ(gdrv_setup_vq(d, 1, 8), -1);
	d->mem = &mem;
	/* Config at 20 without MSI-X, 24 with. */
	*LREG(20) = 0x11;
	*LREG(24) = 0x22;
	CHECK_EQ(gdrv_config_read(d, 0, 1), 0x11);
	fk_set_ovr(f, false, FK_LPORT + VIRTIO_PCI_LEGACY_MSIX_CONFIG, 5);
	CHECK_EQ(gdrv_enable_msix(d, MSI_ADDR, 0), -1); /* config vector did not stick */
	f->novr = 0;
	CHECK(d->msix);
	CHECK_EQ(gdrv_config_read(d, 0, 1), 0x22);
	gdrv_config_write(d, 0, 1, 0x33);
	CHECK_EQ(*LREG(24), 0x33);
	*LREG(28) = 0x44;
	CHECK_EQ(gdrv_config_read(d, 0, 8), 0x4400000033ull);
	/* Queue vector not sticking: both at enable time and at setup. */
	fk_set_ovr(f, false, FK_LPORT + VIRTIO_PCI_LEGACY_MSIX_QUEUE, VIRTIO_MSI_NO_VECTOR);
	CHECK_EQ(gdrv_enable_msix(d, MSI_ADDR, 0), -1);
	fk_store(LREG(VIRTIO_PCI_LEGACY_QUEUE_PFN), 4, 0);
	CHECK_EQ(gdrv_setup_vq(d, 0, 8), -1);
	f->novr = 0;
	fk_store(LREG(VIRTIO_PCI_LEGACY_QUEUE_PFN), 4, 0);
	CHECK_EQ(gdrv_setup_vq(d, 0, 8), 0);
	CHECK_EQ(rs_le16(LREG(VIRTIO_PCI_LEGACY_MSIX_QUEUE)), 1);
	/* Notify: 16-bit port write of the queue index. */
	gdrv_driver_ok(d);
	fk_store(LREG(VIRTIO_PCI_LEGACY_QUEUE_NOTIFY), 2, 0xffff);
	struct gdrv_buf b = { 0x100, 4 };
	CHECK_EQ(gdrv_submit(&d->vq[0], &b, 1, 0, 1, false), 0);
	CHECK(gdrv_kick(&d->vq[0]));
	CHECK_EQ(rs_le16(LREG(VIRTIO_PCI_LEGACY_QUEUE_NOTIFY)), 0);
	/* ISR read through the port. */
	*LREG(VIRTIO_PCI_LEGACY_ISR) = 3;
	CHECK_EQ(gdrv_ack_isr(d), 3);
	/* A table of 0 entries is treated as no MSI-X. */
	struct gdrv_pci_info z = info;
	z.msix_size = 0;
	CHECK_EQ(gdrv_open_pci(d, &io, &mem, &z, true), 0);
	CHECK(d->msix); /* still enabled in the capability from before */
	CHECK_EQ(gdrv_enable_msix(d, MSI_ADDR, 0), -1);
	free(d);
	free(f);
}

/* virtio-mmio over the fake: magic, version, device ID, v1 page size and
 * PFN, v2 QueueReady already set or not sticking, reset that never ends. */
#define FK_MB FK_MMIO
static void mreg(struct fake *f, unsigned off, uint32_t v)
{
	fk_store(&f->mmio[off], 4, v);
}

static uint32_t mget(struct fake *f, unsigned off)
{
	return (uint32_t)fk_load(&f->mmio[off], 4);
}

static void test_fake_mmio_errors(void)
{
	struct gdrv_io io;
	struct fake *f = fk_new(&io);
	struct gdrv_dev *d = calloc(1, sizeof *d);
	struct gdrv_mem mem = { 0x10000, FK_RAM };

	CHECK_EQ(gdrv_open_mmio(d, &io, &mem, FK_MB), -1); /* magic 0 */
	mreg(f, VIRTIO_MMIO_MAGIC_VALUE, VIRTIO_MMIO_MAGIC);
	mreg(f, VIRTIO_MMIO_VERSION, 3);
	CHECK_EQ(gdrv_open_mmio(d, &io, &mem, FK_MB), -1);
	mreg(f, VIRTIO_MMIO_VERSION, 0);
	CHECK_EQ(gdrv_open_mmio(d, &io, &mem, FK_MB), -1);
	mreg(f, VIRTIO_MMIO_VERSION, 1);
	CHECK_EQ(gdrv_open_mmio(d, &io, &mem, FK_MB), -1); /* device ID 0 */
	mreg(f, VIRTIO_MMIO_DEVICE_ID, 0x10000);
	CHECK_EQ(gdrv_open_mmio(d, &io, &mem, FK_MB), -1);
	mreg(f, VIRTIO_MMIO_DEVICE_ID, 4);
	CHECK_EQ(gdrv_open_mmio(d, &io, &mem, FK_MB), 0);
	CHECK_EQ(d->transport, GDRV_MMIO_V1);
	/* v1: 32 feature bits, selector 0 only. */
	mreg(f, VIRTIO_MMIO_DEVICE_FEATURES, 0x70000003);
	CHECK_EQ(gdrv_device_features(d), 0x70000003);
	CHECK_EQ(gdrv_init(d, F_ALL), 0);
	CHECK_EQ(d->features, 0x30000003); /* BAD_FEATURE never accepted */
	CHECK_EQ(mget(f, VIRTIO_MMIO_DRIVER_FEATURES), d->features);
	CHECK_EQ(mget(f, VIRTIO_MMIO_STATUS),
		 VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER); /* no FEATURES_OK */
	mreg(f, VIRTIO_MMIO_QUEUE_NUM_MAX, 0x20000);
	CHECK_EQ(gdrv_queue_max(d, 0), 0xffff);
	CHECK_EQ(gdrv_setup_vq(d, 0, 1000), 0); /* the driver's own limit */
	CHECK_EQ(d->vq[0].num, GDRV_MAX_QSIZE);
	mreg(f, VIRTIO_MMIO_QUEUE_NUM_MAX, 32);
	fk_set_ovr(f, true, FK_MB + VIRTIO_MMIO_QUEUE_PFN, 0);
	CHECK_EQ(gdrv_setup_vq(d, 0, 8), -1);
	f->novr = 0;
	CHECK_EQ(gdrv_setup_vq(d, 0, 8), 0);
	CHECK_EQ(mget(f, VIRTIO_MMIO_GUEST_PAGE_SIZE), 4096);
	CHECK_EQ(mget(f, VIRTIO_MMIO_QUEUE_ALIGN), 4096);
	CHECK_EQ(mget(f, VIRTIO_MMIO_QUEUE_NUM), 8);
	CHECK_EQ(mget(f, VIRTIO_MMIO_QUEUE_PFN), d->vq[0].desc >> 12);
	struct gdrv_mem high = { 1ull << 45, (1ull << 45) + (1 << 20) };
	d->mem = &high;
	CHECK_EQ(gdrv_setup_vq(d, 1, 8), -1);
	d->mem = &mem;
	/* Notify: 32-bit QueueNotify; ISR read + ACK. */
	mreg(f, VIRTIO_MMIO_QUEUE_NOTIFY, 0xffffffff);
	struct gdrv_buf b = { 0x100, 4 };
	CHECK_EQ(gdrv_submit(&d->vq[0], &b, 1, 0, 1, false), 0);
	CHECK(gdrv_kick(&d->vq[0]));
	CHECK_EQ(mget(f, VIRTIO_MMIO_QUEUE_NOTIFY), 0);
	mreg(f, VIRTIO_MMIO_INTERRUPT_STATUS, 3);
	CHECK_EQ(gdrv_ack_isr(d), 3);
	CHECK_EQ(mget(f, VIRTIO_MMIO_INTERRUPT_ACK), 3);
	CHECK_EQ(gdrv_config_generation(d), 0);
	/* Config through 0x100. */
	mreg(f, VIRTIO_MMIO_CONFIG, 0x04030201);
	CHECK_EQ(gdrv_config_read(d, 1, 1), 2);
	/* v2 */
	mreg(f, VIRTIO_MMIO_VERSION, 2);
	CHECK_EQ(gdrv_open_mmio(d, &io, &mem, FK_MB), 0);
	CHECK_EQ(d->transport, GDRV_MMIO_V2);
	mreg(f, VIRTIO_MMIO_DEVICE_FEATURES, 0x70000002); /* bit 32 clear too */
	CHECK_EQ(gdrv_init(d, F_ALL), -1); /* no VERSION_1 offered */
	CHECK(mget(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FAILED);
	mreg(f, VIRTIO_MMIO_DEVICE_FEATURES, 1); /* read for both windows */
	CHECK_EQ(gdrv_init(d, F_ALL), 0);
	CHECK_EQ(d->features, F(VIRTIO_F_VERSION_1) | 1);
	CHECK(mget(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK);
	mreg(f, VIRTIO_MMIO_QUEUE_READY, 1);
	CHECK_EQ(gdrv_setup_vq(d, 0, 8), -1); /* queue already live */
	fk_set_ovr(f, true, FK_MB + VIRTIO_MMIO_QUEUE_READY, 0);
	CHECK_EQ(gdrv_setup_vq(d, 0, 8), -1); /* QueueReady does not stick */
	f->novr = 0;
	mreg(f, VIRTIO_MMIO_QUEUE_READY, 0);
	CHECK_EQ(gdrv_setup_vq(d, 0, 8), 0);
	CHECK_EQ(mget(f, VIRTIO_MMIO_QUEUE_DESC_LOW), (uint32_t)d->vq[0].desc);
	CHECK_EQ(mget(f, VIRTIO_MMIO_QUEUE_DRIVER_LOW), (uint32_t)d->vq[0].avail);
	CHECK_EQ(mget(f, VIRTIO_MMIO_QUEUE_DEVICE_LOW), (uint32_t)d->vq[0].used);
	/* ISR 0: no ACK written. */
	mreg(f, VIRTIO_MMIO_INTERRUPT_STATUS, 0);
	mreg(f, VIRTIO_MMIO_INTERRUPT_ACK, 0x99);
	CHECK_EQ(gdrv_ack_isr(d), 0);
	CHECK_EQ(mget(f, VIRTIO_MMIO_INTERRUPT_ACK), 0x99);
	/* Generation read at 0xfc on v2. */
	mreg(f, VIRTIO_MMIO_CONFIG_GENERATION, 7);
	CHECK_EQ(gdrv_config_generation(d), 7);
	/* A status that never returns to 0: reset gives up (bounded). */
	fk_set_ovr(f, true, FK_MB + VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	gdrv_reset(d);
	CHECK_EQ(gdrv_get_status(d), VIRTIO_STATUS_ACKNOWLEDGE);
	free(d);
	free(f);
}

/* The bump allocator: alignment, zeroing, exhaustion, overflow, never 0. */
static void test_alloc(void)
{
	struct gdrv_io io;
	struct fake *f = fk_new(&io);
	struct gdrv_mem mem = { 0, 0x10000 };

	memset(f->ram, 0xaa, 0x20000);
	uint64_t a = gdrv_alloc(&io, &mem, 10, 1);
	CHECK_EQ(a, 1); /* gpa 0 is never handed out */
	uint64_t b = gdrv_alloc(&io, &mem, 1000, 4096);
	CHECK_EQ(b, 4096);
	CHECK_EQ(mem.next, 4096 + 1000);
	unsigned nz = 0;
	for (unsigned i = 0; i < 1000; i++)
		nz += f->ram[4096 + i] != 0;
	CHECK_EQ(nz, 0);
	CHECK_EQ(f->ram[4096 + 1000], 0xaa); /* not beyond */
	CHECK_EQ(f->ram[11], 0xaa);
	CHECK_EQ(gdrv_alloc(&io, &mem, 10, 3), 0);   /* not a power of two */
	CHECK_EQ(gdrv_alloc(&io, &mem, 10, 0), 0);
	CHECK_EQ(gdrv_alloc(&io, &mem, 0x10000, 1), 0); /* too big */
	CHECK_EQ(gdrv_alloc(&io, &mem, 8, 0x10000), 0); /* aligned start beyond end */
	uint64_t c = gdrv_alloc(&io, &mem, 0x10000 - mem.next, 1); /* exactly the rest */
	CHECK(c != 0);
	CHECK_EQ(mem.next, 0x10000);
	CHECK_EQ(gdrv_alloc(&io, &mem, 1, 1), 0);
	CHECK_EQ(gdrv_alloc(&io, &mem, 0, 1), 0x10000); /* empty allocation at the end */
	struct gdrv_mem top = { UINT64_MAX - 10, UINT64_MAX };
	CHECK_EQ(gdrv_alloc(&io, &top, 4, 4096), 0); /* alignment wraps */
	CHECK_EQ(gdrv_alloc(&io, &top, UINT64_MAX, 1), 0);
	free(f);
}

/* Packed kick with EVENT_IDX when the device asks for an event slot in the
 * previous lap (wrap counter differs), and a gdrv_get_used that re-arms
 * the driver event structure; split event index re-armed after each
 * completion. Over the fake, so the ring contents are fully known. */
static void test_fake_event_idx(void)
{
	struct gdrv_io io;
	struct fake *f = fk_new(&io);
	struct gdrv_dev *d = calloc(1, sizeof *d);
	struct gdrv_mem mem = { 0x10000, FK_RAM };
	struct gdrv_buf b = { 0x100, 4 };
	uint64_t tok;
	uint32_t len;

	mreg(f, VIRTIO_MMIO_MAGIC_VALUE, VIRTIO_MMIO_MAGIC);
	mreg(f, VIRTIO_MMIO_VERSION, 2);
	mreg(f, VIRTIO_MMIO_DEVICE_ID, 1);
	/* bit 2 read through the high window is RING_PACKED (34) */
	mreg(f, VIRTIO_MMIO_DEVICE_FEATURES, 1 | 4 | F(VIRTIO_F_EVENT_IDX));
	mreg(f, VIRTIO_MMIO_QUEUE_NUM_MAX, 4);
	CHECK_EQ(gdrv_open_mmio(d, &io, &mem, FK_MB), 0);
	CHECK_EQ(gdrv_init(d, F_ALL), 0);
	CHECK(d->features & F(VIRTIO_F_RING_PACKED));
	CHECK_EQ(gdrv_setup_vq(d, 0, 4), 0);
	struct gdrv_vq *vq = &d->vq[0];
	CHECK(vq->packed && vq->event_idx);
	/* Interrupts: DESC at (next_used, used_wrap) after enabling. */
	gdrv_set_interrupts(vq, false);
	CHECK_EQ(rs_le16(&f->ram[vq->avail + 2]), VIRTQ_EVENT_F_DISABLE);
	gdrv_set_interrupts(vq, true);
	CHECK_EQ(rs_le16(&f->ram[vq->avail + 2]), VIRTQ_EVENT_F_DESC);
	CHECK_EQ(rs_le16(&f->ram[vq->avail]), 0x8000);
	/* Three descriptors made available: slots 0..2 (wrap 1). */
	for (unsigned i = 0; i < 3; i++)
		CHECK_EQ(gdrv_submit(vq, &b, 1, 0, i, false), 0);
	/* Device wants an event at slot 3 of the previous lap (wrap 0):
	 * long passed, no kick. */
	fk_store(&f->ram[vq->used], 2, 3);
	fk_store(&f->ram[vq->used + 2], 2, VIRTQ_EVENT_F_DESC);
	CHECK(!gdrv_kick(vq));
	/* Event at slot 2 of this lap: inside the batch, but the batch is
	 * already kicked-at: nothing new -> no kick. */
	fk_store(&f->ram[vq->used], 2, 0x8000 | 2);
	CHECK(!gdrv_kick(vq));
	/* Complete slot 0 and 1 by the device (ids 0, 1). */
	for (unsigned sl = 0; sl < 2; sl++)
		fk_store(&f->ram[vq->desc + 16 * sl + 14], 2,
			 VIRTQ_DESC_F_AVAIL | VIRTQ_DESC_F_USED);
	CHECK_EQ(gdrv_get_used(vq, &tok, &len), 1);
	CHECK_EQ(rs_le16(&f->ram[vq->avail]), 0x8000 | 1); /* re-armed at the next slot */
	gdrv_set_interrupts(vq, false);
	CHECK_EQ(gdrv_get_used(vq, &tok, &len), 1);
	CHECK_EQ(rs_le16(&f->ram[vq->avail]), 0x8000 | 1); /* disabled: not re-armed */
	/* Slot 3 then slot 0 of lap 2: the event at slot 0 with wrap 0
	 * (the new lap) is crossed by this batch. */
	fk_store(&f->ram[vq->used], 2, 0);
	CHECK_EQ(gdrv_submit(vq, &b, 1, 0, 10, false), 0);
	CHECK(!gdrv_kick(vq));
	CHECK_EQ(gdrv_submit(vq, &b, 1, 0, 11, false), 0);
	CHECK(gdrv_kick(vq));
	free(d);

	/* Split with EVENT_IDX: used_event follows last_used while enabled,
	 * and sits one behind while disabled. */
	d = calloc(1, sizeof *d);
	mreg(f, VIRTIO_MMIO_DEVICE_FEATURES, 1 | F(VIRTIO_F_EVENT_IDX));
	mreg(f, VIRTIO_MMIO_QUEUE_READY, 0);
	CHECK_EQ(gdrv_open_mmio(d, &io, &mem, FK_MB), 0);
	CHECK_EQ(gdrv_init(d, F_ALL), 0);
	CHECK_EQ(gdrv_setup_vq(d, 0, 4), 0);
	vq = &d->vq[0];
	CHECK(!vq->packed && vq->event_idx);
	uint64_t used_event = vq->avail + 4 + 2 * 4;
	CHECK_EQ(gdrv_submit(vq, &b, 1, 0, 1, false), 0);
	CHECK_EQ(gdrv_submit(vq, &b, 1, 0, 2, false), 0);
	uint16_t h0 = rs_le16(&f->ram[vq->avail + 4]), h1 = rs_le16(&f->ram[vq->avail + 6]);
	fk_store(&f->ram[vq->used + 4], 4, h0);
	fk_store(&f->ram[vq->used + 12], 4, h1);
	fk_store(&f->ram[vq->used + 2], 2, 2);
	CHECK_EQ(gdrv_get_used(vq, &tok, &len), 1);
	CHECK_EQ(rs_le16(&f->ram[used_event]), 1);
	gdrv_set_interrupts(vq, false);
	CHECK_EQ(rs_le16(&f->ram[used_event]), 0);
	CHECK_EQ(gdrv_get_used(vq, &tok, &len), 1);
	CHECK_EQ(rs_le16(&f->ram[used_event]), 0);
	CHECK_EQ(rs_le16(&f->ram[vq->avail]), 0); /* flags untouched with EVENT_IDX */
	gdrv_set_interrupts(vq, true);
	CHECK_EQ(rs_le16(&f->ram[used_event]), 2);
	free(d);
	free(f);
}

int main(void)
{
	RUN(test_alloc);
	RUN(test_fake_scan);
	RUN(test_fake_modern_errors);
	RUN(test_fake_legacy_errors);
	RUN(test_fake_mmio_errors);
	RUN(test_fake_event_idx);
	RUN(test_scan_all);
	RUN(test_io_every_interface);
	RUN(test_indirect_off);
	RUN(test_indirect_table_reuse);
	RUN(test_queue_sizes);
	RUN(test_out_of_memory);
	RUN(test_wrap_split);
	RUN(test_wrap_split_event_idx_off);
	RUN(test_wrap_packed);
	RUN(test_wrap_packed_event_idx_off);
	RUN(test_wrap_legacy);
	RUN(test_msix);
	RUN(test_msix_absent);
	RUN(test_msix_reopen);
	RUN(test_intx);
	RUN(test_irq_suppression);
	RUN(test_kick_suppression_split);
	RUN(test_kick_suppression_packed);
	RUN(test_config);
	RUN(test_xor_not_negotiated);
	RUN(test_reset_reinit);
	RUN(test_out_of_order_split);
	RUN(test_out_of_order_packed);
	return check_done();
}
