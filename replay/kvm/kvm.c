/*
 * ringside — the KVM backend of the VMM: one vCPU in 64-bit mode on
 * /dev/kvm, the machine's RAM (the arena's own mappings) registered as
 * memory slots, KVM's in-kernel interrupt controller (PIC, IOAPIC, LAPIC)
 * with INTx through KVM_IRQ_LINE and MSI through KVM_SIGNAL_MSI, and a
 * KVM_RUN loop sending port-I/O and MMIO exits to the VMM layer.
 *
 * The host here may be KVM's PVM backend (kvm_pvm: no VMX/SVM, the guest
 * runs at hardware CPL 3 on shadow page tables). What was seen on it, and
 * what this file relies on (docs/recording.md has the details and the
 * figures): KVM_SET_SREGS straight into long mode (CS.L=1, DPL 0, CR0.PG|PE,
 * CR4.PAE, EFER.LME|LMA) works, but guest code at CPL 0 is emulated one
 * instruction at a time while CPL 3 runs on the CPU (so the firmware runs
 * its workload in user mode); port-I/O and MMIO exits, the in-kernel
 * irqchip, KVM_IRQ_LINE and KVM_SIGNAL_MSI delivered through the guest's
 * own IDT, IRETQ, LIDT, LTR work. With the in-kernel irqchip HLT does not
 * exit (the vCPU sleeps in the kernel until an interrupt), so the guest
 * reports through FW_PORT_DONE and a timer bounds every run.
 *
 * A later issue boots Linux here: the vCPU setup below only takes a struct
 * vmm_boot, so a bzImage loader that fills boot_params and the registers
 * Linux's 64-bit boot protocol wants plugs in next to vmm_prepare_guest.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../vmm.h"

#define KVM_DEV "/dev/kvm"
#define KVM_TICK_NS 20000000L /* the loop wakes at least every 20 ms */
#define KVM_CPUID_MAX 256

#define CR0_PE 0x1u
#define CR0_MP 0x2u
#define CR0_ET 0x10u
#define CR0_NE 0x20u
#define CR0_WP 0x10000u
#define CR0_AM 0x40000u
#define CR0_PG 0x80000000u
#define CR4_PAE 0x20u
#define EFER_SCE 0x1u
#define EFER_LME 0x100u
#define EFER_LMA 0x400u

struct kvm_vm {
	struct vmm *v;
	int kvm_fd, vm_fd, vcpu_fd;
	struct kvm_run *run;
	size_t run_size;
	bool irqchip;
	timer_t timer;
	bool have_timer;
	struct sigaction old_sa;
	bool have_sa;
};

/* The run structure the timer signal pokes (one vCPU loop per process at a
 * time; the tests and the CLI are single-threaded). */
static struct kvm_run *volatile tick_run;

static void tick_handler(int sig)
{
	struct kvm_run *run = tick_run;

	(void)sig;
	if (run)
		run->immediate_exit = 1;
}

/* A host call the test seam makes fail (vmm_inject_fault), as EIO. */
#define INJECTED(f) (vmm_fault_hit(f) ? (errno = EIO, true) : false)

/* ioctl that retries on EINTR (the tick signal may land anywhere). */
static int kioctl(int fd, unsigned long req, void *arg)
{
	int r;

	do
		r = ioctl(fd, req, arg);
	while (r < 0 && errno == EINTR);
	return r;
}

bool vmm_kvm_usable(char *why, size_t len)
{
	int fd = INJECTED(VMM_FAULT_KVM_OPEN) ? -1 : open(KVM_DEV, O_RDWR | O_CLOEXEC);
	int vm, api;

	if (fd < 0) {
		snprintf(why, len, "cannot open %s: %s", KVM_DEV, strerror(errno));
		return false;
	}
	api = INJECTED(VMM_FAULT_KVM_API) ? -1 : ioctl(fd, KVM_GET_API_VERSION, 0);
	if (api != KVM_API_VERSION) {
		snprintf(why, len, "%s: KVM API version %d, want %d", KVM_DEV, api,
			 KVM_API_VERSION);
		close(fd);
		return false;
	}
	vm = INJECTED(VMM_FAULT_KVM_CREATE_VM) ? -1 : kioctl(fd, KVM_CREATE_VM, 0);
	if (vm < 0) {
		snprintf(why, len, "%s: KVM_CREATE_VM: %s", KVM_DEV, strerror(errno));
		close(fd);
		return false;
	}
	close(vm);
	close(fd);
	return true;
}

/* ---- interrupts --------------------------------------------------------------------------- */

static void kvm_irq_level(void *ctx, unsigned gsi, bool level)
{
	struct kvm_vm *k = ctx;
	struct kvm_irq_level l = { .irq = gsi, .level = level };

	if (k->irqchip &&
	    (INJECTED(VMM_FAULT_KVM_IRQ_LINE) || kioctl(k->vm_fd, KVM_IRQ_LINE, &l) < 0))
		vmm_set_stop(k->v, VMM_STOP_ERROR, "KVM_IRQ_LINE gsi %u: %s", gsi,
			     strerror(errno));
}

static void kvm_irq_msi(void *ctx, uint64_t addr, uint32_t data)
{
	struct kvm_vm *k = ctx;
	struct kvm_msi msi = {
		.address_lo = (uint32_t)addr,
		.address_hi = (uint32_t)(addr >> 32),
		.data = data,
	};

	/* returns 0 when the message was blocked (e.g. a LAPIC not enabled yet):
	 * that is the guest's business, not an error */
	if (k->irqchip &&
	    (INJECTED(VMM_FAULT_KVM_SIGNAL_MSI) || kioctl(k->vm_fd, KVM_SIGNAL_MSI, &msi) < 0))
		vmm_set_stop(k->v, VMM_STOP_ERROR, "KVM_SIGNAL_MSI 0x%llx/0x%x: %s",
			     (unsigned long long)addr, data, strerror(errno));
}

static const struct irq_sink_ops kvm_irq_sink = {
	.set_level = kvm_irq_level,
	.msi = kvm_irq_msi,
};

/* ---- setup -------------------------------------------------------------------------------- */

static int fail(struct kvm_vm *k, const char *what)
{
	vmm_set_stop(k->v, VMM_STOP_ERROR, "%s: %s", what, strerror(errno));
	return -1;
}

static int kvm_open_vm(struct kvm_vm *k, const struct vmm_opts *o)
{
	struct gm *gm = &k->v->m->gm;
	unsigned slot = 0;
	int sz;

	k->kvm_fd = INJECTED(VMM_FAULT_KVM_OPEN) ? -1 : open(KVM_DEV, O_RDWR | O_CLOEXEC);
	if (k->kvm_fd < 0)
		return fail(k, "cannot open " KVM_DEV);
	if (INJECTED(VMM_FAULT_KVM_API) ||
	    ioctl(k->kvm_fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) {
		vmm_set_stop(k->v, VMM_STOP_ERROR, KVM_DEV ": unsupported KVM API version");
		return -1;
	}
	k->vm_fd = INJECTED(VMM_FAULT_KVM_CREATE_VM) ? -1 : kioctl(k->kvm_fd, KVM_CREATE_VM, 0);
	if (k->vm_fd < 0)
		return fail(k, "KVM_CREATE_VM");
	/* guest RAM: the arena's own mappings (page-aligned anonymous memory),
	 * so the devices' DMA and the guest see the same bytes */
	for (unsigned i = 0; i < gm->nregions; i++) {
		const struct gm_region *r = &gm->regions[i];
		struct kvm_userspace_memory_region mr = {
			.slot = slot,
			.guest_phys_addr = r->gpa,
			.memory_size = r->size,
			.userspace_addr = (uint64_t)(uintptr_t)r->host,
		};

		if (r->kind != GM_RAM)
			continue;
		if (INJECTED(VMM_FAULT_KVM_MEMORY) ||
		    kioctl(k->vm_fd, KVM_SET_USER_MEMORY_REGION, &mr) < 0)
			return fail(k, "KVM_SET_USER_MEMORY_REGION");
		slot++;
	}
	if (!o->no_irqchip) {
		if (!INJECTED(VMM_FAULT_KVM_IRQCHIP) &&
		    kioctl(k->vm_fd, KVM_CREATE_IRQCHIP, 0) == 0)
			k->irqchip = true;
		/* without it the guest simply gets no interrupt controller */
	}
	k->vcpu_fd = INJECTED(VMM_FAULT_KVM_CREATE_VCPU) ? -1
							: kioctl(k->vm_fd, KVM_CREATE_VCPU, 0);
	if (k->vcpu_fd < 0)
		return fail(k, "KVM_CREATE_VCPU");
	sz = INJECTED(VMM_FAULT_KVM_MMAP_SIZE) ? -1 : ioctl(k->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (sz < (int)sizeof(struct kvm_run))
		return fail(k, "KVM_GET_VCPU_MMAP_SIZE");
	k->run = INJECTED(VMM_FAULT_KVM_MMAP) ? MAP_FAILED
					       : mmap(NULL, (size_t)sz, PROT_READ | PROT_WRITE,
						      MAP_SHARED, k->vcpu_fd, 0);
	if (k->run == MAP_FAILED) {
		k->run = NULL;
		return fail(k, "mmap of the vCPU run structure");
	}
	k->run_size = (size_t)sz;
	return 0;
}

/* The host's CPUID as the guest's (what KVM supports). Best effort: the
 * firmware does not depend on it. */
static void kvm_set_cpuid(struct kvm_vm *k)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + KVM_CPUID_MAX * sizeof(c->entries[0]));

	if (!c)
		return;
	c->nent = KVM_CPUID_MAX;
	if (kioctl(k->kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0)
		(void)kioctl(k->vcpu_fd, KVM_SET_CPUID2, c);
	free(c);
}

static int kvm_set_cpu(struct kvm_vm *k, const struct vmm_boot *b)
{
	struct kvm_sregs s;
	struct kvm_regs r;
	struct kvm_segment code = {
		.base = 0,
		.limit = 0xffffffff,
		.selector = FW_SEL_CODE,
		.type = 11, /* execute/read, accessed */
		.present = 1,
		.dpl = 0,
		.db = 0,
		.s = 1,
		.l = 1,
		.g = 1,
	};
	struct kvm_segment data = code;

	data.selector = FW_SEL_DATA;
	data.type = 3; /* read/write, accessed */
	data.l = 0;
	data.db = 1;
	if (INJECTED(VMM_FAULT_KVM_GET_SREGS) || kioctl(k->vcpu_fd, KVM_GET_SREGS, &s) < 0)
		return fail(k, "KVM_GET_SREGS");
	s.cs = code;
	s.ds = s.es = s.fs = s.gs = s.ss = data;
	s.gdt.base = b->gdt_base;
	s.gdt.limit = b->gdt_limit;
	s.idt.base = 0;
	s.idt.limit = 0;
	s.cr3 = b->cr3;
	s.cr4 = CR4_PAE;
	s.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_AM | CR0_PG;
	s.efer = EFER_SCE | EFER_LME | EFER_LMA;
	if (INJECTED(VMM_FAULT_KVM_SET_SREGS) || kioctl(k->vcpu_fd, KVM_SET_SREGS, &s) < 0)
		return fail(k, "KVM_SET_SREGS (64-bit mode)");
	memset(&r, 0, sizeof r);
	r.rip = b->rip;
	r.rsp = b->rsp;
	r.rdi = b->rdi;
	r.rflags = 0x2; /* interrupts off */
	if (INJECTED(VMM_FAULT_KVM_SET_REGS) || kioctl(k->vcpu_fd, KVM_SET_REGS, &r) < 0)
		return fail(k, "KVM_SET_REGS");
	return 0;
}

/* A periodic signal to this thread so KVM_RUN returns even when the guest
 * never exits (a spinning or sleeping guest): the loop checks the deadline
 * and flushes the recorder. */
static int kvm_start_timer(struct kvm_vm *k)
{
	struct sigaction sa;
	struct sigevent sev;
	struct itimerspec its = {
		.it_interval = { 0, KVM_TICK_NS },
		.it_value = { 0, KVM_TICK_NS },
	};

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = tick_handler; /* no SA_RESTART: KVM_RUN returns EINTR */
	sigemptyset(&sa.sa_mask);
	if (INJECTED(VMM_FAULT_KVM_SIGACTION) || sigaction(SIGUSR2, &sa, &k->old_sa) < 0)
		return fail(k, "sigaction");
	k->have_sa = true;
	memset(&sev, 0, sizeof sev);
	sev.sigev_notify = SIGEV_THREAD_ID;
	sev.sigev_signo = SIGUSR2;
	sev._sigev_un._tid = (pid_t)syscall(SYS_gettid);
	if (INJECTED(VMM_FAULT_KVM_TIMER_CREATE) ||
	    timer_create(CLOCK_MONOTONIC, &sev, &k->timer) < 0)
		return fail(k, "timer_create");
	k->have_timer = true;
	if (INJECTED(VMM_FAULT_KVM_TIMER_SET) || timer_settime(k->timer, 0, &its, NULL) < 0)
		return fail(k, "timer_settime");
	return 0;
}

static void kvm_close(struct kvm_vm *k)
{
	if (k->have_timer)
		timer_delete(k->timer);
	tick_run = NULL;
	if (k->have_sa)
		sigaction(SIGUSR2, &k->old_sa, NULL);
	if (k->run)
		munmap(k->run, k->run_size);
	if (k->vcpu_fd >= 0)
		close(k->vcpu_fd);
	if (k->vm_fd >= 0)
		close(k->vm_fd);
	if (k->kvm_fd >= 0)
		close(k->kvm_fd);
}

/* ---- the loop ------------------------------------------------------------------------------ */

static void kvm_exit_io(struct kvm_vm *k)
{
	struct kvm_run *run = k->run;
	unsigned size = run->io.size;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;

	/* KVM puts count elements of size bytes at data_offset, inside the
	 * run mapping; check it anyway before touching it */
	if ((size != 1 && size != 2 && size != 4) || run->io.data_offset >= k->run_size ||
	    (uint64_t)run->io.count * size > k->run_size - run->io.data_offset) {
		vmm_set_stop(k->v, VMM_STOP_ERROR, "KVM_EXIT_IO with size %u count %u", size,
			     run->io.count);
		return;
	}
	for (uint32_t i = 0; i < run->io.count && k->v->stop == VMM_STOP_NONE; i++) {
		uint8_t *p = data + (size_t)i * size;

		if (run->io.direction == KVM_EXIT_IO_OUT)
			vmm_pio_out(k->v, run->io.port, size, rs_ldn(p, size));
		else
			rs_stn(p, size, vmm_pio_in(k->v, run->io.port, size));
	}
}

static void kvm_exit_mmio(struct kvm_vm *k)
{
	struct kvm_run *run = k->run;
	unsigned len = run->mmio.len;

	if (len == 0 || len > 8) {
		vmm_set_stop(k->v, VMM_STOP_ERROR, "KVM_EXIT_MMIO of %u bytes", len);
		return;
	}
	if (run->mmio.is_write) {
		uint64_t val = 0;

		for (unsigned i = 0; i < len; i++)
			val |= (uint64_t)run->mmio.data[i] << (8 * i);
		vmm_mmio_write(k->v, run->mmio.phys_addr, len, val);
	} else {
		uint64_t val = vmm_mmio_read(k->v, run->mmio.phys_addr, len);

		for (unsigned i = 0; i < len; i++)
			run->mmio.data[i] = (uint8_t)(val >> (8 * i));
	}
}

static uint64_t kvm_rip(struct kvm_vm *k)
{
	struct kvm_regs r;

	return kioctl(k->vcpu_fd, KVM_GET_REGS, &r) == 0 ? r.rip : 0;
}

/* Test seam: turn the exit KVM just gave into one it should not give. */
static void injected_exit(struct kvm_run *run)
{
	if (vmm_fault_hit(VMM_FAULT_KVM_EXIT_BAD_IO)) {
		run->exit_reason = KVM_EXIT_IO;
		run->io.size = 3;
	} else if (vmm_fault_hit(VMM_FAULT_KVM_EXIT_BAD_MMIO)) {
		run->exit_reason = KVM_EXIT_MMIO;
		run->mmio.len = 16;
	} else if (vmm_fault_hit(VMM_FAULT_KVM_EXIT_FAIL_ENTRY)) {
		run->exit_reason = KVM_EXIT_FAIL_ENTRY;
		run->fail_entry.hardware_entry_failure_reason = 0x21;
	} else if (vmm_fault_hit(VMM_FAULT_KVM_EXIT_INTERNAL)) {
		run->exit_reason = KVM_EXIT_INTERNAL_ERROR;
		run->internal.suberror = KVM_INTERNAL_ERROR_EMULATION;
	} else if (vmm_fault_hit(VMM_FAULT_KVM_EXIT_UNKNOWN)) {
		run->exit_reason = 0x7777;
	} else if (vmm_fault_hit(VMM_FAULT_KVM_EXIT_INTR)) {
		run->exit_reason = KVM_EXIT_INTR;
	}
}

static void kvm_loop(struct kvm_vm *k, double deadline)
{
	struct vmm *v = k->v;
	struct kvm_run *run = k->run;

	while (v->stop == VMM_STOP_NONE) {
		if (INJECTED(VMM_FAULT_KVM_RUN) || ioctl(k->vcpu_fd, KVM_RUN, 0) < 0) {
			if (errno != EINTR && errno != EAGAIN) {
				fail(k, "KVM_RUN");
				return;
			}
			run->immediate_exit = 0;
			if (!vmm_tick(v))
				return;
			if (vmm_now() > deadline)
				vmm_set_stop(v, VMM_STOP_TIMEOUT,
					     "the guest did not finish in time (rip 0x%llx)",
					     (unsigned long long)kvm_rip(k));
			continue;
		}
		injected_exit(run);
		switch (run->exit_reason) {
		case KVM_EXIT_IO:
			kvm_exit_io(k);
			break;
		case KVM_EXIT_MMIO:
			kvm_exit_mmio(k);
			break;
		case KVM_EXIT_HLT:
			vmm_set_stop(v, VMM_STOP_HALT, "the guest halted at rip 0x%llx",
				     (unsigned long long)kvm_rip(k));
			break;
		case KVM_EXIT_SHUTDOWN:
			vmm_set_stop(v, VMM_STOP_FAULT,
				     "the guest shut down (triple fault) at rip 0x%llx",
				     (unsigned long long)kvm_rip(k));
			break;
		case KVM_EXIT_INTR:
			break;
		case KVM_EXIT_FAIL_ENTRY:
			vmm_set_stop(v, VMM_STOP_ERROR, "KVM entry failed: hardware reason 0x%llx",
				     (unsigned long long)run->fail_entry
					     .hardware_entry_failure_reason);
			break;
		case KVM_EXIT_INTERNAL_ERROR:
			vmm_set_stop(v, VMM_STOP_FAULT,
				     "KVM internal error %u at rip 0x%llx (emulation failed?)",
				     run->internal.suberror, (unsigned long long)kvm_rip(k));
			break;
		default:
			vmm_set_stop(v, VMM_STOP_ERROR, "unexpected KVM exit %u at rip 0x%llx",
				     run->exit_reason, (unsigned long long)kvm_rip(k));
			break;
		}
	}
}

int vmm_kvm_run(struct vmm *v, const struct vmm_opts *o)
{
	struct kvm_vm k = { .v = v, .kvm_fd = -1, .vm_fd = -1, .vcpu_fd = -1 };
	struct vmm_boot b;
	double timeout = o->timeout_s > 0 ? o->timeout_s : VMM_DEFAULT_TIMEOUT_S;
	int r = -1;

	if (kvm_open_vm(&k, o) < 0)
		goto out;
	kvm_set_cpuid(&k);
	if (vmm_prepare_guest(v, o, k.irqchip ? FW_BI_IRQCHIP : 0, &b) < 0)
		goto out;
	if (kvm_set_cpu(&k, &b) < 0)
		goto out;
	vmm_set_backend_irq(v, &kvm_irq_sink, &k);
	tick_run = k.run;
	if (kvm_start_timer(&k) < 0)
		goto out;
	kvm_loop(&k, vmm_now() + timeout);
	r = v->stop == VMM_STOP_ERROR ? -1 : 0;
out:
	vmm_set_backend_irq(v, NULL, NULL);
	kvm_close(&k);
	return r;
}
