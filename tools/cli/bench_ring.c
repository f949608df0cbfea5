/*
 * ringside bench ring — virtqueue engine throughput.
 *
 * The reference driver (untimed) fills a queue of the echo device on a
 * virtio-pci modern machine with a batch of chains; the timed part is the
 * device side exactly as a device model runs it: vq_pop, a chain cursor
 * reading every readable byte out of guest memory, vq_push. Rows cover
 * split/packed x direct/indirect x 1/4 readable segments, at 64-byte and
 * 4 KiB segments. In the same run, memcpy bandwidth for the same bytes is
 * measured as the reference limit; the last line is
 *   ring: ratio=<x>
 * = bytes/s through the ring (split, direct, 4 x 4 KiB segments) / memcpy
 * bytes/s.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringside/guest_machine.h"
#include "ringside/ringside.h"
#include "cli.h"

#define BENCH_QSIZE 256
#define BENCH_MAX_SEG 4096
#define BENCH_SEGS_MAX 4

struct bench_cfg {
	bool packed;
	bool indirect;
	unsigned segs;
	unsigned seg_size;
};

struct bench_result {
	double chains_per_s;
	double bytes_per_s;
};

static volatile uint8_t bench_sink;

/* Run one configuration for about `seconds` of device time. Returns 0 or -1. */
static int bench_one(const struct bench_cfg *cfg, double seconds, struct bench_result *res)
{
	const char *spec = cfg->packed ? "mem=64M pci-modern:echo,msix=off"
				       : "mem=64M pci-modern:echo,msix=off,packed=off";
	static uint8_t buf[BENCH_SEGS_MAX * BENCH_MAX_SEG];
	struct machine *m;
	char err[256];
	int rc = -1;

	if (rs_machine_new(spec, &m, err, sizeof err) < 0) {
		cli_error("bench: %s", err);
		return -1;
	}
	struct gdrv_io io;
	struct gdrv_pci_info pci;
	struct gdrv_mem mem = { 1ull << 20, 60ull << 20 };
	struct gdrv_dev *gd = calloc(1, sizeof *gd);
	gdrv_machine_io(&io, m);
	if (!gd || gdrv_pci_scan(&io, &pci, 1) != 1 || gdrv_open_pci(gd, &io, &mem, &pci, false) ||
	    gdrv_init(gd, VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC) |
				  (cfg->packed ? VIRTIO_BIT(VIRTIO_F_RING_PACKED) : 0)) ||
	    gdrv_setup_vq(gd, 0, BENCH_QSIZE)) {
		cli_error("bench: reference driver could not bring the device up");
		goto out;
	}
	gdrv_driver_ok(gd);
	struct vq *vq = &m->devs[0]->queues[0].vq;
	uint64_t data = gdrv_alloc(&io, &mem, BENCH_SEGS_MAX * BENCH_MAX_SEG, 4096);
	struct gdrv_buf bufs[BENCH_SEGS_MAX];
	for (unsigned k = 0; k < cfg->segs; k++)
		bufs[k] = (struct gdrv_buf){ data + k * BENCH_MAX_SEG, cfg->seg_size };
	unsigned batch = cfg->indirect ? BENCH_QSIZE / 2 : BENCH_QSIZE / cfg->segs;
	double device_time = 0;
	uint64_t chains = 0, bytes = 0;

	while (device_time < seconds) {
		for (unsigned b = 0; b < batch; b++)
			if (gdrv_submit(&gd->vq[0], bufs, cfg->segs, 0, b, cfg->indirect)) {
				cli_error("bench: submit failed");
				goto out;
			}
		double t0 = cli_now();
		struct vq_chain c;
		unsigned got = 0;
		while (vq_pop(vq, &c) > 0) {
			struct vq_cursor cur;
			vq_cursor_init_read(&cur, &m->gm, &c);
			bytes += vq_cursor_read(&cur, buf, sizeof buf);
			vq_push(vq, &c, 0);
			got++;
		}
		device_time += cli_now() - t0;
		bench_sink ^= buf[0];
		chains += got;
		uint64_t token;
		uint32_t len;
		unsigned back = 0;
		while (gdrv_get_used(&gd->vq[0], &token, &len) == 1)
			back++;
		if (got != batch || back != batch) {
			cli_error("bench: popped %u, completed %u, want %u", got, back, batch);
			goto out;
		}
	}
	res->chains_per_s = (double)chains / device_time;
	res->bytes_per_s = (double)bytes / device_time;
	rc = 0;
out:
	free(gd);
	rs_machine_free(m);
	return rc;
}

/* memcpy bandwidth for copies of `size` bytes out of a 64 KiB source. */
static double bench_memcpy(size_t size, double seconds)
{
	static uint8_t src[BENCH_SEGS_MAX * BENCH_MAX_SEG], dst[BENCH_SEGS_MAX * BENCH_MAX_SEG];
	uint64_t bytes = 0;
	double t0 = cli_now(), t;

	memset(src, 0x5a, sizeof src);
	do {
		for (int i = 0; i < 256; i++) {
			memcpy(dst, src, size);
			/* keep the copy observable so it is not optimised away */
			bench_sink ^= dst[i % size];
			src[i % size] ^= 1;
		}
		bytes += 256 * size;
		t = cli_now() - t0;
	} while (t < seconds);
	return (double)bytes / t;
}

int cmd_bench(int argc, char **argv)
{
	double seconds = 0.3;

	if (argc >= 2 && !strcmp(argv[1], "replay"))
		return cmd_bench_replay(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "fuzz"))
		return cmd_bench_fuzz(argc - 1, argv + 1);
	if (argc < 2 || strcmp(argv[1], "ring"))
		return cli_error("bench: which benchmark? (available: ring, replay, fuzz)");
	for (int a = 2; a < argc; a++) {
		if (!strcmp(argv[a], "--quick"))
			seconds = 0.03;
		else if (!strcmp(argv[a], "--help")) {
			puts("usage: ringside bench ring [--quick]");
			return 0;
		} else
			return cli_error("bench ring: unknown option '%s'", argv[a]);
	}
	printf("ringside bench ring: device-side pop + read + push, queue size %u\n\n",
	       BENCH_QSIZE);
	printf("%-7s %-9s %5s %9s %14s %12s\n", "ring", "layout", "segs", "seg size",
	       "Mchains/s", "GB/s");
	double ratio_bytes = 0;
	for (unsigned sz = 0; sz < 2; sz++) {
		for (unsigned p = 0; p < 2; p++) {
			for (unsigned ind = 0; ind < 2; ind++) {
				for (unsigned s = 0; s < 2; s++) {
					struct bench_cfg cfg = {
						.packed = p,
						.indirect = ind,
						.segs = s ? 4 : 1,
						.seg_size = sz ? BENCH_MAX_SEG : 64,
					};
					struct bench_result r;
					if (bench_one(&cfg, seconds, &r))
						return 1;
					printf("%-7s %-9s %5u %9u %14.2f %12.2f\n",
					       p ? "packed" : "split", ind ? "indirect" : "direct",
					       cfg.segs, cfg.seg_size, r.chains_per_s / 1e6,
					       r.bytes_per_s / 1e9);
					if (!p && !ind && cfg.segs == 4 && sz)
						ratio_bytes = r.bytes_per_s;
				}
			}
		}
	}
	double mc = bench_memcpy(BENCH_SEGS_MAX * BENCH_MAX_SEG, seconds * 2);
	printf("\nmemcpy %u-byte copies: %.2f GB/s\n", BENCH_SEGS_MAX * BENCH_MAX_SEG, mc / 1e9);
	printf("ring: ratio=%.3f\n", ratio_bytes / mc);
	return 0;
}
