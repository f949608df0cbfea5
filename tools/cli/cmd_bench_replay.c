/*
 * ringside bench replay — recording and replay costs, all in one run.
 *
 *   ringside bench replay [--quick] [--requests N]
 *
 * The workload is the in-process session (replay/inproc.h: the reference
 * driver on every device of the default machine, no guest CPU). Measured:
 *   - recording overhead: the workload's host time with the recorder in
 *     front of the machine ÷ the same workload straight on the machine;
 *   - trace bytes per event (file size ÷ events);
 *   - replay throughput (events/s) and replay time ÷ the time plain zstd
 *     takes to decompress the same trace's frames (no decoding, no replay).
 * When the VMM is built and KVM or Unicorn can run, the same overhead is
 * measured on the test-guest firmware's workload too (the vCPU loop's time,
 * recorder on ÷ off); that figure, being a real guest's, is the one the
 * last line reports (else the in-process one). Each figure is the best of
 * several runs. The last line is
 *   replay: ratio=<x> record_overhead=<y> bytes_per_event=<z>
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "ringside/replay.h"
#include "ringside/ringside.h"
#include "../../replay/inproc.h"
#include "cli.h"

#ifdef RS_HAVE_VMM
#include "vmm.h"

/* One run of the firmware on the default machine, recorded into path or
 * not (path NULL). Returns the vCPU loop's seconds, or < 0 when it could
 * not run; *backend names the backend that ran. */
static double firmware_run(const char *path, const char **backend)
{
	struct vmm_opts o = { .backend = VMM_BACKEND_AUTO };
	struct trace_header h;
	struct trace_writer *w = NULL;
	struct trace_error terr;
	struct recorder *rec = NULL;
	struct machine *m;
	struct vmm v;
	char spec[2048], err[300];
	double t = -1;

	vmm_default_spec(spec, sizeof spec);
	if (rec_machine_new(spec, NULL, "bench", &m, &h, err, sizeof err) < 0)
		return -1;
	if (path && !(w = trace_writer_open(path, &h, &terr))) {
		rec_header_release(&h);
		rs_machine_free(m);
		return -1;
	}
	rec_header_release(&h);
	vmm_init(&v, m);
	if (w && (rec = recorder_new(m, w)))
		vmm_set_recorder(&v, rec);
	if ((!w || rec) && vmm_run(&v, &o) == 0 && v.result.status == 0)
		t = v.stats.seconds;
	*backend = vmm_backend_name(v.backend);
	if (rec) {
		recorder_free(rec);
		vmm_set_recorder(&v, NULL);
	}
	vmm_destroy(&v);
	if (w)
		trace_writer_abort(w);
	rs_machine_free(m);
	return t;
}
#endif

/* Bytes at p, little-endian 32 bits. */
static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Decompress every frame of the trace in buf (layout: docs/trace-format.md)
 * without decoding an event. Returns the uncompressed bytes, 0 on error. */
static uint64_t decompress_frames(ZSTD_DCtx *dctx, const uint8_t *buf, size_t len, uint8_t *out,
				  size_t out_cap)
{
	size_t at;
	uint64_t total = 0;

	if (len < 16)
		return 0;
	at = le32(buf + 12); /* header length */
	while (at + 32 <= len && !memcmp(buf + at, "RSFR", 4)) {
		uint32_t c = le32(buf + at + 4), u = le32(buf + at + 8);
		size_t n;

		if (c > len - at - 32 || u > out_cap)
			return 0;
		n = ZSTD_decompressDCtx(dctx, out, out_cap, buf + at + 32, c);
		if (ZSTD_isError(n) || n != u)
			return 0;
		total += n;
		at += 32 + (size_t)c;
	}
	return total;
}

/* The whole file at path (malloc), or NULL. */
static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	struct stat st;
	uint8_t *buf;

	if (!f)
		return NULL;
	if (fstat(fileno(f), &st) < 0 || !(buf = malloc((size_t)st.st_size + 1))) {
		fclose(f);
		return NULL;
	}
	*len = fread(buf, 1, (size_t)st.st_size, f);
	fclose(f);
	return buf;
}

int cmd_bench_replay(int argc, char **argv)
{
	struct inproc_opts on = { .requests = 96 }, off = { .requests = 96, .no_record = true };
	static struct replay_result res;
	const struct replay_opts ro = { .quiet = true };
	struct inproc_result ir;
	double t_on = 1e9, t_off = 1e9, t_replay = 1e9, t_zstd = 1e9, budget = 0.5;
	unsigned rounds = 5;
	char path[256], err[300];
	uint64_t events = 0, raw = 0;
	uint8_t *file = NULL, *out = NULL;
	size_t flen = 0;
	ZSTD_DCtx *dctx = NULL;
	int rc = 1;

	for (int a = 1; a < argc; a++) {
		if (!strcmp(argv[a], "--quick")) {
			on.requests = off.requests = 16;
			rounds = 2;
			budget = 0.05;
		} else if (!strcmp(argv[a], "--requests") && a + 1 < argc) {
			char *end;
			unsigned long v = strtoul(argv[++a], &end, 10);

			if (*end || v < 1 || v > 100000)
				return cli_error("bench replay: --requests wants a number from 1 to "
						 "100000");
			on.requests = off.requests = (unsigned)v;
		} else if (!strcmp(argv[a], "--help")) {
			puts("usage: ringside bench replay [--quick] [--requests N]\n"
			     "  recording overhead, trace bytes per event, replay throughput and\n"
			     "  replay time / zstd decompression time, on the in-process workload;\n"
			     "  last line 'replay: ratio=<x> record_overhead=<y> bytes_per_event=<z>'");
			return 0;
		} else {
			return cli_error("bench replay: unknown option '%s' (try 'ringside bench "
					 "replay --help')",
					 argv[a]);
		}
	}
	snprintf(path, sizeof path, "%s/ringside-bench-%ld.trace",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (long)getpid());

	/* recording overhead: the same workload with and without the recorder */
	for (unsigned i = 0; i < rounds; i++) {
		if (inproc_run(&off, NULL, &ir, err, sizeof err) < 0)
			return cli_error("bench replay: %s", err);
		t_off = ir.seconds < t_off ? ir.seconds : t_off;
		if (inproc_run(&on, path, &ir, err, sizeof err) < 0)
			return cli_error("bench replay: %s", err);
		t_on = ir.seconds < t_on ? ir.seconds : t_on;
		events = ir.events;
		if (ir.failed)
			fprintf(stderr, "ringside: bench replay: workload: %s\n", ir.failure);
	}
	file = slurp(path, &flen);
	out = malloc(16u << 20);
	dctx = ZSTD_createDCtx();
	if (!file || !out || !dctx || !events) {
		cli_error("bench replay: cannot read back %s", path);
		goto done;
	}
	/* replay vs. decompression of the same trace */
	for (unsigned i = 0; i < rounds; i++) {
		double t0 = cli_now(), t;
		unsigned n = 0;

		do {
			if (replay_file(path, &ro, &res) != 0) {
				cli_error("bench replay: the recording does not replay clean: %s%s",
					  res.err.msg, res.report);
				goto done;
			}
			n++;
			t = cli_now() - t0;
		} while (t < budget);
		t_replay = t / n < t_replay ? t / n : t_replay;
		t0 = cli_now();
		n = 0;
		do {
			raw = decompress_frames(dctx, file, flen, out, 16u << 20);
			n++;
			t = cli_now() - t0;
		} while (t < budget && raw);
		t_zstd = t / n < t_zstd ? t / n : t_zstd;
	}
	if (!raw) {
		cli_error("bench replay: cannot decompress %s", path);
		goto done;
	}
	printf("ringside bench replay: in-process workload, every device, %u requests per "
	       "session\n\n",
	       on.requests);
	printf("%-34s %14s\n", "measure", "value");
	printf("%-34s %14" PRIu64 "\n", "trace events", events);
	printf("%-34s %14zu\n", "trace file bytes", flen);
	printf("%-34s %14.2f\n", "bytes per event", (double)flen / (double)events);
	printf("%-34s %14.3f\n", "workload, recorder off (ms)", t_off * 1e3);
	printf("%-34s %14.3f\n", "workload, recorder on (ms)", t_on * 1e3);
	printf("%-34s %14.2f\n", "recording overhead, in-process", t_on / t_off);
	printf("%-34s %14.3f\n", "replay (ms)", t_replay * 1e3);
	printf("%-34s %14.0f\n", "replay throughput (events/s)", (double)events / t_replay);
	printf("%-34s %14.3f\n", "zstd decompression (ms)", t_zstd * 1e3);
	printf("%-34s %14.2f\n", "replay / decompression", t_replay / t_zstd);
	double overhead = t_on / t_off;
#ifdef RS_HAVE_VMM
	{
		char why[200];
		const char *backend = "?";
		double f_on = 1e9, f_off = 1e9;

		if (vmm_kvm_usable(why, sizeof why) || vmm_unicorn_usable(why, sizeof why)) {
			for (unsigned i = 0; i < (rounds > 2 ? 2u : 1u); i++) {
				double a = firmware_run(NULL, &backend), b = firmware_run(path, &backend);

				f_off = a >= 0 && a < f_off ? a : f_off;
				f_on = b >= 0 && b < f_on ? b : f_on;
			}
		}
		if (f_on < 1e9 && f_off < 1e9) {
			char label[64];

			snprintf(label, sizeof label, "firmware on %s, recorder off (ms)", backend);
			printf("%-34s %14.3f\n", label, f_off * 1e3);
			snprintf(label, sizeof label, "firmware on %s, recorder on (ms)", backend);
			printf("%-34s %14.3f\n", label, f_on * 1e3);
			printf("%-34s %14.2f\n", "recording overhead, firmware", f_on / f_off);
			overhead = f_on / f_off;
		} else {
			printf("%-34s %14s\n", "firmware workload", "not run");
		}
	}
#endif
	printf("replay: ratio=%.2f record_overhead=%.2f bytes_per_event=%.2f\n", t_replay / t_zstd,
	       overhead, (double)flen / (double)events);
	rc = 0;
done:
	unlink(path);
	ZSTD_freeDCtx(dctx);
	free(file);
	free(out);
	return rc;
}
