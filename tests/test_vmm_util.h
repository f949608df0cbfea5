/*
 * ringside tests — helpers shared by the tests/test_vmm_*.c programs:
 * running a guest on a machine with or without recording, tiny hand-made
 * guests (ELF64 images around a few bytes of code), and what the firmware
 * should report for a machine.
 */
#ifndef RS_TESTS_VMM_UTIL_H
#define RS_TESTS_VMM_UTIL_H

#include <elf.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "ringside/replay.h"
#include "ringside/ringside.h"
#include "vmm.h"

#define TINY_BASE 0x100000ull
#define TINY_CODE_OFF 0x1000u

/*
 * A minimal guest: one executable PT_LOAD segment at TINY_BASE holding code
 * (file offset TINY_CODE_OFF), memsz = codelen + bss. Returns the image
 * length (buf holds at least TINY_CODE_OFF + codelen bytes).
 */
static inline size_t tiny_elf(uint8_t *buf, size_t cap, const void *code, size_t codelen,
			      size_t bss)
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph;

	if (cap < TINY_CODE_OFF + codelen)
		abort();
	memset(buf, 0, TINY_CODE_OFF + codelen);
	memset(&eh, 0, sizeof eh);
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	eh.e_type = ET_EXEC;
	eh.e_machine = EM_X86_64;
	eh.e_version = EV_CURRENT;
	eh.e_entry = TINY_BASE;
	eh.e_phoff = sizeof eh;
	eh.e_ehsize = sizeof eh;
	eh.e_phentsize = sizeof ph;
	eh.e_phnum = 1;
	memset(&ph, 0, sizeof ph);
	ph.p_type = PT_LOAD;
	ph.p_flags = PF_R | PF_X;
	ph.p_offset = TINY_CODE_OFF;
	ph.p_vaddr = ph.p_paddr = TINY_BASE;
	ph.p_filesz = codelen;
	ph.p_memsz = codelen + bss;
	ph.p_align = 4096;
	memcpy(buf, &eh, sizeof eh);
	memcpy(buf + sizeof eh, &ph, sizeof ph);
	memcpy(buf + TINY_CODE_OFF, code, codelen);
	return TINY_CODE_OFF + codelen;
}

/* Sessions the firmware runs on m: two on a transitional PCI device (1.x
 * and legacy interface), one on every other transport. */
static inline unsigned expected_sessions(const struct machine *m)
{
	unsigned n = 0;

	for (unsigned i = 0; i < m->ndevs; i++)
		n += m->devinfo[i].transport == MSPEC_PCI ? 2 : 1;
	return n;
}

/* One run: the machine from spec (NULL: the default), recorded into
 * trace_path when not NULL (closed when the run passed, else aborted).
 * Fills *v (caller: vmm_destroy) and *m (caller: rs_machine_free). Returns
 * vmm_run's result, or -2 when the machine or the trace could not be set
 * up. */
static inline int vmm_test_run(const char *spec, const struct vmm_opts *o,
			       const char *trace_path, struct vmm *v, struct machine **m)
{
	char buf[2048], err[512];
	struct trace_header h;
	struct trace_error terr;
	struct trace_writer *w = NULL;
	struct recorder *rec = NULL;
	int r;

	if (!spec) {
		vmm_default_spec(buf, sizeof buf);
		spec = buf;
	}
	if (rec_machine_new(spec, NULL, vmm_backend_name(o->backend), m, &h, err, sizeof err) <
	    0) {
		fprintf(stderr, "machine: %s\n", err);
		return -2;
	}
	if (trace_path) {
		w = trace_writer_open(trace_path, &h, &terr);
		if (!w) {
			fprintf(stderr, "trace: %s\n", terr.msg);
			rec_header_release(&h);
			return -2;
		}
	}
	rec_header_release(&h);
	vmm_init(v, *m);
	if (w) {
		rec = recorder_new(*m, w);
		vmm_set_recorder(v, rec);
	}
	r = vmm_run(v, o);
	if (rec) {
		recorder_free(rec);
		vmm_set_recorder(v, NULL);
	}
	if (w) {
		if (r == 0 && v->result.status == 0) {
			if (trace_writer_close(w, &terr) < 0) {
				fprintf(stderr, "trace close: %s\n", terr.msg);
				r = -2;
			}
		} else {
			trace_writer_abort(w);
		}
	}
	if (r < 0 && r != -2)
		fprintf(stderr, "run: %s: %s\n", vmm_stop_name(v->stop), v->why);
	return r;
}

/* Run a tiny guest (code wrapped by tiny_elf) with options o on a machine
 * with one echo device; returns how the run ended (VMM_STOP_NONE when the
 * machine could not be set up) and why in why. */
static inline enum vmm_stop vmm_test_run_tiny(struct vmm_opts o, const uint8_t *code, size_t len,
					      char *why, size_t whylen)
{
	static uint8_t buf[8192];
	struct machine *m = NULL;
	struct vmm v;
	enum vmm_stop s;

	o.image = buf;
	o.image_len = tiny_elf(buf, sizeof buf, code, len, 0);
	if (vmm_test_run("mem=16M mmio:echo", &o, NULL, &v, &m) == -2)
		return VMM_STOP_NONE;
	snprintf(why, whylen, "%s", v.why);
	s = v.stop;
	vmm_destroy(&v);
	rs_machine_free(m);
	return s;
}

/* A temporary file name under TMPDIR (or /tmp), unique per process. */
static inline void vmm_test_tmp(char *buf, size_t len, const char *what)
{
	const char *dir = getenv("TMPDIR");

	snprintf(buf, len, "%s/ringside-%s-%ld.trace", dir && *dir ? dir : "/tmp", what,
		 (long)getpid());
}

/* Record the default machine's firmware session with o into a temporary
 * trace (tag names the file), check the run passed and the header names
 * recorder, then replay it with no guest CPU: no divergence, > 1000 events. */
static inline void vmm_test_record_replay(const struct vmm_opts *o, const char *tag,
					  const char *recorder)
{
	struct machine *m = NULL;
	struct replay_opts ro = { .quiet = true };
	struct replay_result res;
	struct trace_error err;
	struct trace_reader *r;
	char path[256];
	struct vmm v;

	vmm_test_tmp(path, sizeof path, tag);
	CHECK_EQ(vmm_test_run(NULL, o, path, &v, &m), 0);
	CHECK_EQ(v.result.status, 0);
	vmm_destroy(&v);
	rs_machine_free(m);
	r = trace_reader_open(path, &err);
	CHECK(r != NULL);
	if (r) {
		CHECK(strcmp(trace_reader_header(r)->recorder, recorder) == 0);
		trace_reader_close(r);
	}
	memset(&res, 0, sizeof res);
	CHECK_EQ(replay_file(path, &ro, &res), 0);
	CHECK_EQ(res.divergences, 0);
	CHECK(res.events > 1000);
	if (res.divergences)
		fprintf(stderr, "%s\n", res.report);
	unlink(path);
}

#endif
