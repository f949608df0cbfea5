/*
 * ringside record — run the test-guest firmware on a machine under KVM (or
 * Unicorn) and write every event that crossed the device boundary into a
 * trace.
 *
 *   ringside record [--kvm|--unicorn] [--machine SPEC] [--timeout S]
 *                   [--firmware ELF] [--verbose] -o FILE
 *
 * Default backend: KVM when /dev/kvm works, else Unicorn. Default machine:
 * every device model on the transports the workload uses
 * (vmm_default_spec). The trace is written to FILE.tmp and renamed at the
 * end; a firmware failure, a guest crash, a timeout or a write error
 * removes it, so FILE only ever holds a complete recording of a run that
 * passed. Exit status: 0 pass, 1 the run or the firmware failed, 2 bad
 * command line or machine spec.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringside/replay.h"
#include "ringside/ringside.h"
#include "ringside/trace.h"
#include "cli.h"

#ifdef RS_HAVE_VMM
#include "vmm.h"

#define RECORD_MAX_FIRMWARE (64u << 20)

static void record_usage(FILE *f)
{
	fputs("usage: ringside record [--kvm|--unicorn] [--machine SPEC] [--timeout S]\n"
	      "                       [--firmware ELF] [--verbose] -o FILE\n"
	      "  run the built-in test-guest firmware (or ELF) on the machine (default: every\n"
	      "  device model on the transports the workload uses) and record a trace to FILE\n"
	      "  --kvm, --unicorn  backend (default: KVM when /dev/kvm works, else Unicorn)\n"
	      "  --timeout S       give up after S seconds (default 60)\n"
	      "  --verbose         copy the guest's console output to stderr\n",
	      f);
}

/* Read a whole file of at most RECORD_MAX_FIRMWARE bytes. NULL with err. */
static void *read_file(const char *path, size_t *len, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t n = 0, cap = 0;

	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	for (;;) {
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 65536;
			uint8_t *p;

			if (cap >= RECORD_MAX_FIRMWARE) {
				snprintf(err, errlen, "%s: larger than %u MiB", path,
					 RECORD_MAX_FIRMWARE >> 20);
				goto fail;
			}
			p = realloc(buf, ncap);
			if (!p) {
				snprintf(err, errlen, "%s: out of memory", path);
				goto fail;
			}
			buf = p;
			cap = ncap;
		}
		size_t got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		snprintf(err, errlen, "%s: read error", path);
		goto fail;
	}
	fclose(f);
	*len = n;
	return buf;
fail:
	fclose(f);
	free(buf);
	return NULL;
}

static const char *irq_word(uint32_t o)
{
	return o == FW_IRQ_OK ? "delivered" : o == FW_IRQ_FAILED ? "MISSING" : "not checked";
}

/* What the finished trace holds, read back (also proves it reads). */
static void summarize_trace(const char *path)
{
	struct trace_error err;
	struct trace_event ev;
	struct trace_info in;
	struct trace_reader *r = trace_reader_open(path, &err);
	int rc;

	if (!r) {
		printf("  trace      %s: cannot read it back: %s\n", path, err.msg);
		return;
	}
	while ((rc = trace_read(r, &ev, &err)) == 1)
		;
	trace_reader_info(r, &in);
	printf("  trace      %s: %" PRIu64 " events in %" PRIu64 " frames, %" PRIu64
	       " bytes (%" PRIu64 " before compression)%s\n",
	       path, in.events, in.frames, in.file_bytes, in.raw_bytes,
	       rc < 0 ? "; READ-BACK FAILED" : "");
	if (rc < 0)
		printf("             %s\n", err.msg);
	trace_reader_close(r);
}

int cmd_record(int argc, char **argv)
{
	enum vmm_backend backend = VMM_BACKEND_AUTO;
	const char *spec = NULL, *out = NULL, *fw_path = NULL;
	char specbuf[2048], err[512], why[256];
	struct vmm_opts o = { 0 };
	struct trace_header h;
	struct trace_error terr;
	struct trace_writer *w = NULL;
	struct recorder *rec = NULL;
	struct machine *m = NULL;
	struct vmm v;
	void *fw = NULL;
	uint64_t events = 0;
	int status = 1, r;

	for (int a = 1; a < argc; a++) {
		const char *arg = argv[a];

		if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
			record_usage(stdout);
			return 0;
		} else if (!strcmp(arg, "--kvm") || !strcmp(arg, "--unicorn")) {
			enum vmm_backend b = arg[2] == 'k' ? VMM_BACKEND_KVM : VMM_BACKEND_UNICORN;
			if (backend != VMM_BACKEND_AUTO && backend != b)
				return cli_error("record: --kvm and --unicorn exclude each other");
			backend = b;
		} else if (!strcmp(arg, "--verbose") || !strcmp(arg, "-v")) {
			o.echo = stderr;
		} else if (!strcmp(arg, "--machine") || !strcmp(arg, "--timeout") ||
			   !strcmp(arg, "--firmware") || !strcmp(arg, "-o")) {
			if (a + 1 >= argc)
				return cli_error("record: %s needs a value (try 'ringside record "
						 "--help')", arg);
			const char *val = argv[++a];
			if (!strcmp(arg, "--machine")) {
				spec = val;
			} else if (!strcmp(arg, "--firmware")) {
				fw_path = val;
			} else if (!strcmp(arg, "-o")) {
				out = val;
			} else {
				char *end;
				double t = strtod(val, &end);
				if (end == val || *end || !(t > 0 && t <= 86400))
					return cli_error("record: --timeout wants seconds "
							 "from 0 to 86400, got '%s'", val);
				o.timeout_s = t;
			}
		} else {
			return cli_error("record: unknown option '%s' (try 'ringside record "
					 "--help')", arg);
		}
	}
	if (!out)
		return cli_error("record: where to? (usage: ringside record [OPTIONS] -o FILE)");
	if (backend == VMM_BACKEND_AUTO)
		backend = vmm_kvm_usable(why, sizeof why) ? VMM_BACKEND_KVM : VMM_BACKEND_UNICORN;
	if (backend == VMM_BACKEND_KVM && !vmm_kvm_usable(why, sizeof why)) {
		cli_error("record: KVM is not usable: %s (try --unicorn)", why);
		return 1;
	}
	if (backend == VMM_BACKEND_UNICORN && !vmm_unicorn_usable(why, sizeof why)) {
		cli_error("record: Unicorn is not usable: %s", why);
		return 1;
	}
	o.backend = backend;
	if (fw_path) {
		fw = read_file(fw_path, &o.image_len, err, sizeof err);
		if (!fw)
			return cli_error("record: --firmware %s", err);
		o.image = fw;
	}
	if (!spec) {
		vmm_default_spec(specbuf, sizeof specbuf);
		spec = specbuf;
	}
	if (rec_machine_new(spec, NULL, vmm_backend_name(backend), &m, &h, err, sizeof err) < 0) {
		free(fw);
		return cli_error("record: %s", err);
	}
	w = trace_writer_open(out, &h, &terr);
	rec_header_release(&h);
	if (!w) {
		cli_error("record: %s", terr.msg);
		goto out;
	}
	vmm_init(&v, m);
	rec = recorder_new(m, w);
	if (!rec) {
		cli_error("record: out of memory");
		vmm_destroy(&v);
		goto out;
	}
	vmm_set_recorder(&v, rec);
	r = vmm_run(&v, &o);
	events = recorder_free(rec);
	rec = NULL;
	vmm_set_recorder(&v, NULL);

	printf("ringside record: %s, %u devices\n", vmm_backend_name(v.backend), m->ndevs);
	printf("  machine    %s\n", m->spec);
	if (v.have_result)
		printf("  firmware   %s: %u sessions (%u ok, %u failed, %u skipped), %u checks, "
		       "hash %016" PRIx64 "\n",
		       v.result.status ? "FAILED" : "pass", v.result.sessions, v.result.passed,
		       v.result.failed, v.result.skipped, v.result.steps, v.result.hash);
	if (v.irqchip)
		printf("  interrupts MSI-X %s, INTx %s\n", irq_word(v.result.irq_msi),
		       irq_word(v.result.irq_intx));
	else
		printf("  interrupts none (no interrupt controller: the firmware polls)\n");
	printf("  exits      %" PRIu64 " port I/O, %" PRIu64 " MMIO, %" PRIu64
	       " host requests, %" PRIu64 " host events; %" PRIu64 " MSI, %" PRIu64
	       " INTx raised\n",
	       v.stats.pio_exits, v.stats.mmio_exits, v.stats.host_requests,
	       v.stats.host_events, v.stats.msis, v.stats.irq_raised);
	printf("  time       %.3f s, %" PRIu64 " events recorded\n", v.stats.seconds, events);

	if (r < 0) {
		trace_writer_abort(w);
		w = NULL;
		cli_error("record: %s: %s", vmm_stop_name(v.stop), v.why);
	} else if (v.result.status) {
		trace_writer_abort(w);
		w = NULL;
		cli_error("record: the firmware failed: %s", v.result.msg);
	} else if (trace_writer_close(w, &terr) < 0) {
		w = NULL;
		cli_error("record: %s", terr.msg);
	} else {
		w = NULL;
		summarize_trace(out);
		status = 0;
	}
	vmm_destroy(&v);
out:
	if (w)
		trace_writer_abort(w);
	rs_machine_free(m);
	free(fw);
	return status;
}

#else /* !RS_HAVE_VMM */

int cmd_record(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	cli_error("record: this build has no recorder (x86-64 hosts only)");
	return 1;
}

#endif
