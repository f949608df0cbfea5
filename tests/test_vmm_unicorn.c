/*
 * ringside tests — the test-guest firmware under Unicorn: it passes on the
 * default machine (every device model), reports the same hash on every
 * run, its recording replays without divergence, a failing device makes
 * it report a failure, and tiny guests end every other way a run can end
 * (halt, exception, unmapped access, timeout, bad report). Skipped when
 * this build has no libunicorn.
 */
#include "test_vmm_util.h"

static struct vmm_opts uc_opts(double timeout)
{
	struct vmm_opts o = { .backend = VMM_BACKEND_UNICORN, .timeout_s = timeout };
	return o;
}

static uint64_t first_hash;

static void test_firmware_passes(void)
{
	struct vmm_opts o = uc_opts(120);
	struct machine *m = NULL;
	struct vmm v;

	CHECK_EQ(vmm_test_run(NULL, &o, NULL, &v, &m), 0);
	CHECK_EQ(v.stop, VMM_STOP_DONE);
	CHECK_EQ(v.backend, VMM_BACKEND_UNICORN);
	CHECK(!v.irqchip);
	CHECK(v.have_result);
	CHECK_EQ(v.result.status, 0);
	CHECK_EQ(v.result.failed, 0);
	CHECK_EQ(v.result.sessions, expected_sessions(m));
	CHECK_EQ(v.result.passed, expected_sessions(m));
	CHECK(v.result.steps > 100);
	CHECK_EQ(v.result.irq_msi, FW_IRQ_NOT_RUN);
	CHECK_EQ(v.result.irq_intx, FW_IRQ_NOT_RUN);
	CHECK(v.out && strstr(v.out, "no interrupt controller") != NULL);
	CHECK(v.stats.pio_exits > 100 && v.stats.mmio_exits > 100);
	CHECK(v.stats.host_requests > 0 && v.stats.host_events > 0);
	if (v.result.status)
		fprintf(stderr, "firmware: %s\n", v.result.msg);
	first_hash = v.result.hash;
	vmm_destroy(&v);
	rs_machine_free(m);
}

/* The same machine twice: the same observations. */
static void test_deterministic(void)
{
	struct vmm_opts o = uc_opts(120);
	struct machine *m = NULL;
	struct vmm v;

	CHECK_EQ(vmm_test_run(NULL, &o, NULL, &v, &m), 0);
	CHECK_EQ(v.result.status, 0);
	CHECK_EQ(v.result.hash, first_hash);
	vmm_destroy(&v);
	rs_machine_free(m);
}

/* Record, then replay with no guest CPU: no divergence. */
static void test_record_replay(void)
{
	struct vmm_opts o = uc_opts(120);

	vmm_test_record_replay(&o, "uc", "unicorn");
}

/* A device that fails every write: the firmware says so, and which. */
static void test_firmware_reports_failure(void)
{
	struct vmm_opts o = uc_opts(60);
	struct machine *m = NULL;
	char path[256];
	struct vmm v;

	vmm_test_tmp(path, sizeof path, "ucfail");
	CHECK_EQ(vmm_test_run("mem=16M pci-modern:blk,size=1M,fault=write:* mmio:echo", &o, path,
			      &v, &m),
		 0);
	CHECK(v.have_result);
	CHECK_EQ(v.result.status, 1);
	CHECK_EQ(v.result.failed, 1);
	CHECK_EQ(v.result.passed, 1);
	CHECK(strstr(v.result.msg, "blk") && strstr(v.result.msg, "write status"));
	CHECK(access(path, F_OK) != 0); /* the failed recording left nothing */
	vmm_destroy(&v);
	rs_machine_free(m);
}

static void test_too_little_ram(void)
{
	struct vmm_opts o = uc_opts(10);
	struct machine *m = NULL;
	struct vmm v;

	CHECK_EQ(vmm_test_run("mem=2M mmio:echo", &o, NULL, &v, &m), -1);
	CHECK_EQ(v.stop, VMM_STOP_ERROR);
	CHECK(strstr(v.why, "MiB of RAM") != NULL);
	vmm_destroy(&v);
	rs_machine_free(m);
}

/* Run a tiny guest; returns how the run ended. */
static enum vmm_stop run_tiny(const uint8_t *code, size_t len, double timeout, char *why,
			      size_t whylen)
{
	return vmm_test_run_tiny(uc_opts(timeout), code, len, why, whylen);
}

static void test_tiny_guests(void)
{
	static const uint8_t hlt[] = { 0xf4 };
	static const uint8_t ud2[] = { 0x0f, 0x0b };
	static const uint8_t int3[] = { 0xcc };
	static const uint8_t spin[] = { 0xeb, 0xfe };
	/* movabs rax, [0x80000000]: nothing is mapped there */
	static const uint8_t unmapped[] = { 0x48, 0xa1, 0, 0, 0, 0x80, 0, 0, 0, 0, 0xf4 };
	/* mov eax, 0x200000; mov dx, FW_PORT_DONE; out dx, eax; jmp . */
	static const uint8_t bad_done[] = { 0xb8, 0, 0, 0x20, 0, 0x66, 0xba, 0x10, 0x05, 0xef,
					    0xeb, 0xfe };
	char why[256];

	CHECK_EQ(run_tiny(hlt, sizeof hlt, 10, why, sizeof why), VMM_STOP_HALT);
	CHECK(strstr(why, "halted") != NULL);
	CHECK_EQ(run_tiny(ud2, sizeof ud2, 10, why, sizeof why), VMM_STOP_FAULT);
	CHECK(strstr(why, "Invalid instruction") != NULL);
	CHECK_EQ(run_tiny(int3, sizeof int3, 10, why, sizeof why), VMM_STOP_FAULT);
	CHECK(strstr(why, "exception 3") != NULL);
	CHECK_EQ(run_tiny(unmapped, sizeof unmapped, 10, why, sizeof why), VMM_STOP_FAULT);
	CHECK(strstr(why, "emulation stopped") != NULL);
	CHECK_EQ(run_tiny(spin, sizeof spin, 0.3, why, sizeof why), VMM_STOP_TIMEOUT);
	CHECK_EQ(run_tiny(bad_done, sizeof bad_done, 10, why, sizeof why), VMM_STOP_FAULT);
	CHECK(strstr(why, "bad magic") != NULL);
}

static void test_bad_image(void)
{
	static const uint8_t junk[64] = { 1, 2, 3 };
	struct vmm_opts o = uc_opts(10);
	struct machine *m = NULL;
	struct vmm v;

	o.image = junk;
	o.image_len = sizeof junk;
	CHECK_EQ(vmm_test_run("mem=16M", &o, NULL, &v, &m), -1);
	CHECK_EQ(v.stop, VMM_STOP_ERROR);
	CHECK(strstr(v.why, "not an ELF") != NULL);
	vmm_destroy(&v);
	rs_machine_free(m);
}

/* Every emulator failure ends the run cleanly, naming the step. */
static void test_emulator_failures(void)
{
	static const uint8_t hlt[] = { 0xf4 };
	static const uint8_t out_spin[] = { 0xb0, 'u', 0xe6, FW_PORT_DEBUG, 0xeb, 0xfe };
	static const struct {
		enum vmm_fault f;
		const char *why;
	} cases[] = {
		{ VMM_FAULT_UC_OPEN, "uc_open" },
		{ VMM_FAULT_UC_MAP_RAM, "mapping guest RAM" },
		{ VMM_FAULT_UC_MAP_MMIO, "mapping the MMIO windows" },
		{ VMM_FAULT_UC_HOOK, "installing hooks" },
		{ VMM_FAULT_UC_REG, "setting registers" },
	};
	char why[256];

	for (unsigned i = 0; i < RS_ARRAY_SIZE(cases); i++) {
		vmm_inject_fault(cases[i].f);
		CHECK_EQ(run_tiny(hlt, sizeof hlt, 5, why, sizeof why), VMM_STOP_ERROR);
		CHECK(strstr(why, cases[i].why) != NULL);
		vmm_inject_fault(VMM_FAULT_NONE);
	}
	/* the recorder fails: noticed at the next exit */
	vmm_inject_fault(VMM_FAULT_RECORDER);
	CHECK_EQ(run_tiny(out_spin, sizeof out_spin, 5, why, sizeof why), VMM_STOP_RECORDER);
	vmm_inject_fault(VMM_FAULT_UC_OPEN);
	CHECK(!vmm_unicorn_usable(why, sizeof why));
	CHECK(strstr(why, "libunicorn") != NULL);
	vmm_inject_fault(VMM_FAULT_NONE);
	CHECK(vmm_unicorn_usable(why, sizeof why));
}

int main(void)
{
	char why[256];

	if (!vmm_unicorn_usable(why, sizeof why))
		check_skip_all(why);
	RUN(test_firmware_passes);
	RUN(test_deterministic);
	RUN(test_record_replay);
	RUN(test_firmware_reports_failure);
	RUN(test_too_little_ram);
	RUN(test_tiny_guests);
	RUN(test_bad_image);
	RUN(test_emulator_failures);
	return check_done();
}
