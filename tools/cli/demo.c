/*
 * ringside demo — build a machine from a spec, bring every device up over
 * its transport with the reference driver (through the real register
 * interface and rings in guest memory) and do real I/O, then print a report.
 *
 * Only devices the demo knows how to exercise get I/O (today: echo); others
 * are brought up (init, queues, DRIVER_OK) and reported as such.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringside/blk.h"
#include "ringside/echo.h"
#include "ringside/guest_machine.h"
#include "ringside/ringside.h"
#include "cli.h"

#define DEMO_MEM_BASE (1ull << 20) /* driver allocations start at 1 MiB */
#define DEMO_MSI_ADDR 0xfee00000ull
#define DEMO_QSIZE 64

struct session {
	unsigned dev;
	const char *transport;
	const char *iface;
	bool packed;
	bool msix;
	unsigned queues;
	uint64_t features;
	unsigned requests;
	uint64_t bytes;
	uint64_t irqs;
	uint64_t diags;
	const char *result;
	char why[96];
};

static const char *iface_name(enum gdrv_transport t)
{
	switch (t) {
	case GDRV_PCI_LEGACY: return "pci legacy";
	case GDRV_PCI_MODERN: return "pci modern";
	case GDRV_MMIO_V1: return "mmio v1";
	default: return "mmio v2";
	}
}

/* Deterministic test pattern for request i, byte j. */
static uint8_t pattern(unsigned i, unsigned j)
{
	return (uint8_t)(i * 131u + j * 7u + (j >> 8));
}

/* Run `requests` echo requests on queue q; returns 0 or -1 with why set. */
static int echo_io(struct gdrv_dev *gd, const struct gdrv_io *io, struct gdrv_mem *mem,
		   unsigned q, unsigned requests, struct session *s)
{
	static uint8_t out[4][1024], in[4][1024];
	uint8_t key = (gd->features >> ECHO_F_XOR) & 1 ? 0x5a : 0;
	bool can_indirect = (gd->features >> VIRTIO_F_INDIRECT_DESC) & 1;
	uint64_t obuf = gdrv_alloc(io, mem, 4 * 1024, 64);
	uint64_t ibuf = gdrv_alloc(io, mem, 4 * 1024, 64);

	if (!obuf || !ibuf) {
		snprintf(s->why, sizeof s->why, "out of guest memory");
		return -1;
	}
	for (unsigned i = 0; i < requests; i++) {
		unsigned nseg = 1 + i % 4;
		unsigned seglen = 1 + (i * 37) % 1024;
		struct gdrv_buf bufs[8];
		uint64_t token;
		uint32_t len;

		for (unsigned k = 0; k < nseg; k++) {
			for (unsigned j = 0; j < seglen; j++)
				out[k][j] = pattern(i, k * seglen + j);
			io->mem_write(io->ctx, obuf + k * 1024, out[k], seglen);
			bufs[k] = (struct gdrv_buf){ obuf + k * 1024, seglen };
			bufs[nseg + k] = (struct gdrv_buf){ ibuf + k * 1024, seglen };
		}
		if (gdrv_submit(&gd->vq[q], bufs, nseg, nseg, i, can_indirect && i % 3 == 0)) {
			snprintf(s->why, sizeof s->why, "request %u: queue full", i);
			return -1;
		}
		gdrv_kick(&gd->vq[q]);
		if (gdrv_get_used(&gd->vq[q], &token, &len) != 1 || token != i) {
			snprintf(s->why, sizeof s->why, "request %u: no completion", i);
			return -1;
		}
		if (len != nseg * seglen) {
			snprintf(s->why, sizeof s->why, "request %u: used len %u, want %u", i, len,
				 nseg * seglen);
			return -1;
		}
		for (unsigned k = 0; k < nseg; k++) {
			io->mem_read(io->ctx, ibuf + k * 1024, in[k], seglen);
			for (unsigned j = 0; j < seglen; j++)
				if (in[k][j] != (out[k][j] ^ key)) {
					snprintf(s->why, sizeof s->why,
						 "request %u: byte %u echoed wrong", i, k * seglen + j);
					return -1;
				}
		}
		s->requests++;
		s->bytes += 2ull * nseg * seglen;
		gdrv_ack_isr(gd);
	}
	return 0;
}

/* Submit one chain on queue q, kick, and wait for its completion (the
 * devices here complete synchronously inside the kick). */
static int roundtrip(struct gdrv_dev *gd, unsigned q, const struct gdrv_buf *bufs, unsigned nout,
		     unsigned nin, uint64_t token, uint32_t *len)
{
	uint64_t got;

	if (gdrv_submit(&gd->vq[q], bufs, nout, nin, token, false))
		return -1;
	gdrv_kick(&gd->vq[q]);
	if (gdrv_get_used(&gd->vq[q], &got, len) != 1 || got != token)
		return -1;
	gdrv_ack_isr(gd);
	return 0;
}

/* blk: write `requests` sectors with a pattern, read them back, compare. */
static int blk_io(struct gdrv_dev *gd, const struct gdrv_io *io, struct gdrv_mem *mem,
		  unsigned requests, struct session *s)
{
	uint64_t hdr = gdrv_alloc(io, mem, 16, 16), data = gdrv_alloc(io, mem, 4096, 512);
	uint64_t st = gdrv_alloc(io, mem, 1, 1);
	uint64_t capacity = gdrv_config_read(gd, 0, 8); /* virtio_blk_config.capacity */
	uint8_t out[4096], in[4096], h[16], status;
	uint32_t len;

	if (!hdr || !data || !st || capacity < 8) {
		snprintf(s->why, sizeof s->why, "no guest memory or empty disk");
		return -1;
	}
	for (unsigned i = 0; i < requests; i++) {
		/* even requests write 4 KiB, odd ones read the same sectors back */
		uint64_t sector = ((i & ~1u) * 8ull) % (capacity - 7);
		bool write = i % 2 == 0;
		struct gdrv_buf b[3] = { { hdr, 16 }, { data, 4096 }, { st, 1 } };

		rs_st32(h, write ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN);
		rs_st32(h + 4, 0);
		rs_st64(h + 8, sector);
		io->mem_write(io->ctx, hdr, h, sizeof h);
		if (write) {
			for (unsigned j = 0; j < sizeof out; j++)
				out[j] = pattern(i, j);
			io->mem_write(io->ctx, data, out, sizeof out);
		}
		if (roundtrip(gd, 0, b, write ? 2 : 1, write ? 1 : 2, i, &len)) {
			snprintf(s->why, sizeof s->why, "request %u: no completion", i);
			return -1;
		}
		io->mem_read(io->ctx, st, &status, 1);
		if (status != VIRTIO_BLK_S_OK || len != (write ? 1u : 4097u)) {
			snprintf(s->why, sizeof s->why, "request %u: status %u, used len %u", i,
				 status, len);
			return -1;
		}
		if (!write) {
			io->mem_read(io->ctx, data, in, sizeof in);
			if (memcmp(in, out, sizeof in)) {
				snprintf(s->why, sizeof s->why, "sector %llu read back wrong",
					 (unsigned long long)sector);
				return -1;
			}
		}
		s->requests++;
		s->bytes += 4096;
	}
	return 0;
}

/* rng: ask for entropy `requests` times; the device must fill the buffer. */
static int rng_io(struct gdrv_dev *gd, const struct gdrv_io *io, struct gdrv_mem *mem,
		  unsigned requests, struct session *s)
{
	uint64_t buf = gdrv_alloc(io, mem, 256, 64);
	uint32_t len;

	for (unsigned i = 0; buf && i < requests; i++) {
		struct gdrv_buf b = { buf, 1 + i % 256 };
		if (roundtrip(gd, 0, &b, 0, 1, i, &len) || len != b.len) {
			snprintf(s->why, sizeof s->why, "request %u: %u of %u bytes", i, len,
				 b.len);
			return -1;
		}
		s->requests++;
		s->bytes += len;
	}
	return buf ? 0 : -1;
}

/* One bring-up + I/O session over one interface of device i. */
static void run_session(struct machine *m, unsigned i, const struct gdrv_pci_info *pci,
			enum gdrv_transport t, unsigned requests, struct session *s)
{
	struct gdrv_io io;
	struct gdrv_mem mem = { DEMO_MEM_BASE, m->mem_size < MACHINE_RAM_LOW_MAX ? m->mem_size
										  : MACHINE_RAM_LOW_MAX };
	struct gdrv_dev *gd = calloc(1, sizeof *gd);
	struct vdev *d = m->devs[i];
	uint64_t irq_before = m->msi_count + m->intx_raised;
	uint64_t diag_before = d->log.total;
	int r;

	s->dev = i;
	s->transport = mspec_transport_name(m->devinfo[i].transport);
	s->iface = iface_name(t);
	s->result = "FAIL";
	if (!gd) {
		snprintf(s->why, sizeof s->why, "out of memory");
		return;
	}
	gdrv_machine_io(&io, m);
	if (t == GDRV_PCI_LEGACY || t == GDRV_PCI_MODERN)
		r = gdrv_open_pci(gd, &io, &mem, pci, t == GDRV_PCI_LEGACY);
	else
		r = gdrv_open_mmio(gd, &io, &mem, m->devinfo[i].base);
	if (r) {
		snprintf(s->why, sizeof s->why, "device not found on its transport");
		goto out;
	}
	uint64_t want = VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX) |
			VIRTIO_BIT(VIRTIO_F_RING_PACKED) | VIRTIO_BIT(ECHO_F_XOR) |
			VIRTIO_BIT(ECHO_F_NOTIFY_KEY);
	if (gdrv_init(gd, want)) {
		snprintf(s->why, sizeof s->why, "feature negotiation refused");
		goto out;
	}
	s->features = gd->features;
	s->packed = (gd->features >> VIRTIO_F_RING_PACKED) & 1;
	if (t == GDRV_PCI_LEGACY || t == GDRV_PCI_MODERN)
		s->msix = gdrv_enable_msix(gd, DEMO_MSI_ADDR, 0x40 + 16 * i) == 0;
	/* every queue the device has (bounded: the demo needs no more) */
	unsigned nq = 0;
	while (nq < 8 && gdrv_queue_max(gd, nq))
		nq++;
	s->queues = nq;
	for (unsigned q = 0; q < nq; q++)
		if (gdrv_setup_vq(gd, q, DEMO_QSIZE)) {
			snprintf(s->why, sizeof s->why, "queue %u setup failed", q);
			goto out;
		}
	gdrv_driver_ok(gd);
	if (gdrv_get_status(gd) & (VIRTIO_STATUS_NEEDS_RESET | VIRTIO_STATUS_FAILED)) {
		snprintf(s->why, sizeof s->why, "device status 0x%02x", gdrv_get_status(gd));
		goto out;
	}
	if (d->ops->device_id == VIRTIO_ID_BLOCK) {
		if (blk_io(gd, &io, &mem, requests, s))
			goto out;
	} else if (d->ops->device_id == VIRTIO_ID_RNG) {
		if (rng_io(gd, &io, &mem, requests, s))
			goto out;
	} else if (d->ops->device_id == VIRTIO_ID_RS_ECHO) {
		uint32_t gen = gdrv_config_generation(gd);
		gdrv_config_write(gd, ECHO_CFG_KEY, 1, 0x5a);
		if (gdrv_config_read(gd, ECHO_CFG_KEY, 1) != 0x5a) {
			snprintf(s->why, sizeof s->why, "config key did not stick");
			goto out;
		}
		if ((gd->features >> ECHO_F_NOTIFY_KEY) & 1 && gd->transport != GDRV_PCI_LEGACY &&
		    gd->transport != GDRV_MMIO_V1 && gdrv_config_generation(gd) == gen) {
			snprintf(s->why, sizeof s->why, "config generation did not move");
			goto out;
		}
		gdrv_ack_isr(gd);
		for (unsigned q = 0; q < nq; q++)
			if (echo_io(gd, &io, &mem, q, requests / nq, s))
				goto out;
		nq = nq ? nq : 1;
		uint64_t served = gdrv_config_read(gd, ECHO_CFG_REQUESTS, 4);
		if (served != s->requests) {
			snprintf(s->why, sizeof s->why, "device counted %" PRIu64 " requests, want %u",
				 served, s->requests);
			goto out;
		}
	}
	gdrv_reset(gd);
	if (gdrv_get_status(gd) != 0) {
		snprintf(s->why, sizeof s->why, "reset did not clear status");
		goto out;
	}
	s->result = "ok";
out:
	s->irqs = m->msi_count + m->intx_raised - irq_before;
	s->diags = d->log.total - diag_before;
	free(gd);
}

int cmd_demo(int argc, char **argv)
{
	const char *spec = CLI_DEFAULT_DEMO_SPEC;
	unsigned requests = 400;
	char err[512];
	struct machine *m;

	for (int a = 1; a < argc; a++) {
		if (!strcmp(argv[a], "--machine") && a + 1 < argc) {
			spec = argv[++a];
		} else if (!strcmp(argv[a], "--requests") && a + 1 < argc) {
			char *end;
			unsigned long v = strtoul(argv[++a], &end, 10);
			if (*end || v < 2 || v > 1000000)
				return cli_error("--requests wants a number from 2 to 1000000");
			requests = (unsigned)v;
		} else if (!strcmp(argv[a], "--help")) {
			puts("usage: ringside demo [--machine SPEC] [--requests N]");
			return 0;
		} else {
			return cli_error("demo: unknown option '%s' (try 'ringside demo --help')",
					 argv[a]);
		}
	}
	if (rs_machine_new(spec, &m, err, sizeof err) < 0)
		return cli_error("%s", err);

	struct gdrv_io io;
	struct gdrv_pci_info pci[MACHINE_PCI_SLOTS];
	gdrv_machine_io(&io, m);
	unsigned npci = gdrv_pci_scan(&io, pci, MACHINE_PCI_SLOTS);

	printf("ringside demo\nmachine: %s\n\n", m->spec);
	printf("%-3s %-12s %-7s %-11s %-6s %-5s %8s %10s %6s %5s  %s\n", "dev", "transport",
	       "device", "interface", "ring", "irq", "requests", "bytes", "irqs", "diag",
	       "result");
	struct session *ss = calloc(2 * m->ndevs + 1, sizeof *ss);
	unsigned ns = 0, failed = 0;
	if (!ss) {
		rs_machine_free(m);
		return cli_error("out of memory");
	}
	for (unsigned i = 0; i < m->ndevs; i++) {
		const struct machine_devinfo *info = &m->devinfo[i];
		const struct gdrv_pci_info *p;
		enum gdrv_transport ifs[2];
		unsigned nif = gdrv_machine_ifaces(m, i, pci, npci, ifs, &p);
		for (unsigned k = 0; k < nif; k++) {
			struct session *s = &ss[ns++];
			if ((ifs[k] == GDRV_PCI_LEGACY || ifs[k] == GDRV_PCI_MODERN) && !p) {
				s->dev = i;
				s->transport = mspec_transport_name(info->transport);
				s->iface = iface_name(ifs[k]);
				s->result = "FAIL";
				snprintf(s->why, sizeof s->why, "not found by the PCI scan");
			} else {
				run_session(m, i, p, ifs[k], requests, s);
			}
			printf("%-3u %-12s %-7s %-11s %-6s %-5s %8u %10" PRIu64 " %6" PRIu64
			       " %5" PRIu64 "  %s%s%s\n",
			       s->dev, s->transport, m->devs[i]->ops->name, s->iface,
			       !s->queues ? "-" : s->packed ? "packed" : "split",
			       s->iface[0] == 'm' ? "intx" : s->msix ? "msi-x" : "intx", s->requests,
			       s->bytes, s->irqs, s->diags, s->result, s->why[0] ? ": " : "",
			       s->why);
			if (strcmp(s->result, "ok"))
				failed++;
		}
	}
	uint64_t total_req = 0, total_bytes = 0;
	for (unsigned k = 0; k < ns; k++) {
		total_req += ss[k].requests;
		total_bytes += ss[k].bytes;
	}
	printf("\n%u sessions on %u devices: %u ok, %u failed; %" PRIu64 " requests, %" PRIu64
	       " bytes through the rings; %" PRIu64 " MSI-X messages, %" PRIu64
	       " INTx assertions\n",
	       ns, m->ndevs, ns - failed, failed, total_req, total_bytes, m->msi_count,
	       m->intx_raised);
	free(ss);
	rs_machine_free(m);
	return failed ? 1 : 0;
}
