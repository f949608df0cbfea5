/*
 * ringside tests — the test-guest firmware under KVM (on these hosts KVM's
 * PVM backend): it passes on the default machine, MSI-X and INTx reach its
 * handlers through the in-kernel irqchip, it also passes without the
 * irqchip (polling only), its recording replays without divergence, and
 * tiny guests end every other way a run can end (halt, triple fault,
 * timeout, also while the vCPU sleeps in HLT, bad report). Skipped with
 * the reason when /dev/kvm is missing or unusable.
 */
#include "test_vmm_util.h"

static struct vmm_opts kvm_opts(double timeout, bool no_irqchip)
{
	struct vmm_opts o = {
		.backend = VMM_BACKEND_KVM,
		.timeout_s = timeout,
		.no_irqchip = no_irqchip,
	};
	return o;
}

static void test_firmware_passes(void)
{
	struct vmm_opts o = kvm_opts(60, false);
	struct machine *m = NULL;
	struct vmm v;

	CHECK_EQ(vmm_test_run(NULL, &o, NULL, &v, &m), 0);
	CHECK_EQ(v.stop, VMM_STOP_DONE);
	CHECK_EQ(v.backend, VMM_BACKEND_KVM);
	CHECK(v.irqchip);
	CHECK_EQ(v.result.status, 0);
	CHECK_EQ(v.result.sessions, expected_sessions(m));
	CHECK_EQ(v.result.passed, expected_sessions(m));
	/* interrupts through KVM_SIGNAL_MSI and KVM_IRQ_LINE reached the guest */
	CHECK_EQ(v.result.irq_msi, FW_IRQ_OK);
	CHECK_EQ(v.result.irq_intx, FW_IRQ_OK);
	CHECK(v.stats.msis > 0 && v.stats.irq_raised > 0);
	CHECK(v.out && strstr(v.out, "MSI-X on device") && strstr(v.out, "delivered"));
	if (v.result.status)
		fprintf(stderr, "firmware: %s\n", v.result.msg);
	vmm_destroy(&v);
	rs_machine_free(m);
}

static void test_without_irqchip(void)
{
	struct vmm_opts o = kvm_opts(60, true);
	struct machine *m = NULL;
	struct vmm v;

	CHECK_EQ(vmm_test_run(NULL, &o, NULL, &v, &m), 0);
	CHECK(!v.irqchip);
	CHECK_EQ(v.result.status, 0);
	CHECK_EQ(v.result.irq_msi, FW_IRQ_NOT_RUN);
	CHECK_EQ(v.result.irq_intx, FW_IRQ_NOT_RUN);
	vmm_destroy(&v);
	rs_machine_free(m);
}

static void test_record_replay(void)
{
	struct vmm_opts o = kvm_opts(60, false);

	vmm_test_record_replay(&o, "kvm", "kvm");
}

static enum vmm_stop run_tiny(const uint8_t *code, size_t len, double timeout, bool no_irqchip,
			      char *why, size_t whylen)
{
	return vmm_test_run_tiny(kvm_opts(timeout, no_irqchip), code, len, why, whylen);
}

static void test_tiny_guests(void)
{
	static const uint8_t hlt[] = { 0xf4 };
	static const uint8_t ud2[] = { 0x0f, 0x0b };
	static const uint8_t spin[] = { 0xeb, 0xfe };
	/* movabs rax, [0x80000000] (an MMIO exit: unmapped, reads all-ones); hlt */
	static const uint8_t unmapped[] = { 0x48, 0xa1, 0, 0, 0, 0x80, 0, 0, 0, 0, 0xf4 };
	/* mov eax, 0x200000; mov dx, FW_PORT_DONE; out dx, eax; jmp . */
	static const uint8_t bad_done[] = { 0xb8, 0, 0, 0x20, 0, 0x66, 0xba, 0x10, 0x05, 0xef,
					    0xeb, 0xfe };
	char why[256];

	CHECK_EQ(run_tiny(hlt, sizeof hlt, 10, true, why, sizeof why), VMM_STOP_HALT);
	CHECK(strstr(why, "halted") != NULL);
	/* with the in-kernel irqchip HLT sleeps in the kernel: the timer ends it */
	CHECK_EQ(run_tiny(hlt, sizeof hlt, 0.3, false, why, sizeof why), VMM_STOP_TIMEOUT);
	/* no IDT: the #UD becomes a triple fault */
	CHECK_EQ(run_tiny(ud2, sizeof ud2, 10, false, why, sizeof why), VMM_STOP_FAULT);
	CHECK(strstr(why, "triple fault") != NULL);
	CHECK_EQ(run_tiny(unmapped, sizeof unmapped, 10, true, why, sizeof why), VMM_STOP_HALT);
	CHECK_EQ(run_tiny(spin, sizeof spin, 0.3, false, why, sizeof why), VMM_STOP_TIMEOUT);
	CHECK(strstr(why, "in time") != NULL);
	CHECK_EQ(run_tiny(bad_done, sizeof bad_done, 10, false, why, sizeof why), VMM_STOP_FAULT);
	CHECK(strstr(why, "bad magic") != NULL);
}

/* AUTO picks KVM where it works. */
static void test_auto_backend(void)
{
	static uint8_t buf[8192];
	static const uint8_t hlt[] = { 0xf4 };
	struct vmm_opts o = kvm_opts(5, true);
	struct machine *m = NULL;
	struct vmm v;

	o.backend = VMM_BACKEND_AUTO;
	o.image = buf;
	o.image_len = tiny_elf(buf, sizeof buf, hlt, sizeof hlt, 0);
	CHECK_EQ(vmm_test_run("mem=16M", &o, NULL, &v, &m), -1);
	CHECK_EQ(v.backend, VMM_BACKEND_KVM);
	CHECK_EQ(v.stop, VMM_STOP_HALT);
	vmm_destroy(&v);
	rs_machine_free(m);
}

/* Every host failure the backend can meet ends the run cleanly, with the
 * failing step named (ASan checks nothing leaks: fds, mappings, timer). */
static void test_host_failures(void)
{
	static const uint8_t hlt[] = { 0xf4 };
	static const uint8_t out_hlt[] = { 0xb0, 'k', 0xe6, FW_PORT_DEBUG, 0xf4 };
	static const uint8_t spin[] = { 0xeb, 0xfe };
	static const struct {
		enum vmm_fault f;
		enum vmm_stop stop;
		const char *why;
	} cases[] = {
		{ VMM_FAULT_KVM_OPEN, VMM_STOP_ERROR, "cannot open /dev/kvm" },
		{ VMM_FAULT_KVM_API, VMM_STOP_ERROR, "API version" },
		{ VMM_FAULT_KVM_CREATE_VM, VMM_STOP_ERROR, "KVM_CREATE_VM" },
		{ VMM_FAULT_KVM_MEMORY, VMM_STOP_ERROR, "KVM_SET_USER_MEMORY_REGION" },
		{ VMM_FAULT_KVM_CREATE_VCPU, VMM_STOP_ERROR, "KVM_CREATE_VCPU" },
		{ VMM_FAULT_KVM_MMAP_SIZE, VMM_STOP_ERROR, "KVM_GET_VCPU_MMAP_SIZE" },
		{ VMM_FAULT_KVM_MMAP, VMM_STOP_ERROR, "run structure" },
		{ VMM_FAULT_KVM_GET_SREGS, VMM_STOP_ERROR, "KVM_GET_SREGS" },
		{ VMM_FAULT_KVM_SET_SREGS, VMM_STOP_ERROR, "KVM_SET_SREGS" },
		{ VMM_FAULT_KVM_SET_REGS, VMM_STOP_ERROR, "KVM_SET_REGS" },
		{ VMM_FAULT_KVM_SIGACTION, VMM_STOP_ERROR, "sigaction" },
		{ VMM_FAULT_KVM_TIMER_CREATE, VMM_STOP_ERROR, "timer_create" },
		{ VMM_FAULT_KVM_TIMER_SET, VMM_STOP_ERROR, "timer_settime" },
		{ VMM_FAULT_KVM_RUN, VMM_STOP_ERROR, "KVM_RUN" },
		{ VMM_FAULT_KVM_EXIT_BAD_IO, VMM_STOP_ERROR, "KVM_EXIT_IO with size 3" },
		{ VMM_FAULT_KVM_EXIT_BAD_MMIO, VMM_STOP_ERROR, "KVM_EXIT_MMIO of 16 bytes" },
		{ VMM_FAULT_KVM_EXIT_FAIL_ENTRY, VMM_STOP_ERROR, "hardware reason 0x21" },
		{ VMM_FAULT_KVM_EXIT_INTERNAL, VMM_STOP_FAULT, "internal error" },
		{ VMM_FAULT_KVM_EXIT_UNKNOWN, VMM_STOP_ERROR, "unexpected KVM exit 30583" },
	};
	char why[256];

	for (unsigned i = 0; i < RS_ARRAY_SIZE(cases); i++) {
		vmm_inject_fault(cases[i].f);
		CHECK_EQ(run_tiny(hlt, sizeof hlt, 5, true, why, sizeof why), cases[i].stop);
		if (!strstr(why, cases[i].why)) {
			fprintf(stderr, "fault %d: '%s' lacks '%s'\n", cases[i].f, why,
				cases[i].why);
			CHECK(0);
		}
		vmm_inject_fault(VMM_FAULT_NONE);
	}
	/* no in-kernel irqchip: the guest gets none, and HLT exits */
	vmm_inject_fault(VMM_FAULT_KVM_IRQCHIP);
	CHECK_EQ(run_tiny(hlt, sizeof hlt, 5, false, why, sizeof why), VMM_STOP_HALT);
	/* an exit that is only an interruption: the loop goes on (the OUT it
	 * replaced is lost, so nothing was printed) */
	vmm_inject_fault(VMM_FAULT_KVM_EXIT_INTR);
	CHECK_EQ(run_tiny(out_hlt, sizeof out_hlt, 5, true, why, sizeof why), VMM_STOP_HALT);
	/* the recorder fails while the guest spins: the tick notices */
	vmm_inject_fault(VMM_FAULT_RECORDER);
	CHECK_EQ(run_tiny(spin, sizeof spin, 5, false, why, sizeof why), VMM_STOP_RECORDER);
	vmm_inject_fault(VMM_FAULT_NONE);
	/* vmm_kvm_usable says why it is not */
	vmm_inject_fault(VMM_FAULT_KVM_OPEN);
	CHECK(!vmm_kvm_usable(why, sizeof why) && strstr(why, "cannot open"));
	vmm_inject_fault(VMM_FAULT_KVM_API);
	CHECK(!vmm_kvm_usable(why, sizeof why) && strstr(why, "API version"));
	vmm_inject_fault(VMM_FAULT_KVM_CREATE_VM);
	CHECK(!vmm_kvm_usable(why, sizeof why) && strstr(why, "KVM_CREATE_VM"));
	vmm_inject_fault(VMM_FAULT_NONE);
}

/* Interrupt delivery failing in the middle of a run ends it. */
static void test_irq_failures(void)
{
	static const enum vmm_fault f[2] = { VMM_FAULT_KVM_SIGNAL_MSI, VMM_FAULT_KVM_IRQ_LINE };
	static const char *const what[2] = { "KVM_SIGNAL_MSI", "KVM_IRQ_LINE" };

	for (unsigned i = 0; i < 2; i++) {
		struct vmm_opts o = kvm_opts(30, false);
		struct machine *m = NULL;
		struct vmm v;

		vmm_inject_fault(f[i]);
		CHECK_EQ(vmm_test_run(i ? "mem=16M mmio:echo" : "mem=16M pci-modern:echo", &o,
				      NULL, &v, &m),
			 -1);
		CHECK_EQ(v.stop, VMM_STOP_ERROR);
		CHECK(strstr(v.why, what[i]) != NULL);
		vmm_inject_fault(VMM_FAULT_NONE);
		vmm_destroy(&v);
		rs_machine_free(m);
	}
}

int main(void)
{
	char why[256];

	if (!vmm_kvm_usable(why, sizeof why))
		check_skip_all(why);
	RUN(test_firmware_passes);
	RUN(test_without_irqchip);
	RUN(test_record_replay);
	RUN(test_tiny_guests);
	RUN(test_auto_backend);
	RUN(test_host_failures);
	RUN(test_irq_failures);
	return check_done();
}
