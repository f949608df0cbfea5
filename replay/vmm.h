/*
 * ringside — the small VMM shared by the KVM and Unicorn backends
 * (replay/kvm, replay/unicorn): it loads a guest into a machine's RAM,
 * sets up what the guest expects at entry, and handles the guest's exits.
 *
 * A backend only runs the vCPU. Every port-I/O and MMIO exit goes to
 * vmm_pio_* / vmm_mmio_*, which serve the VMM's own ports (debug console,
 * 16550, the firmware's result and host-request ports, fw_abi.h) and send
 * everything else to the machine — through the recorder when one is
 * attached (rec_pio_* / rec_mmio_*, so the trace sees every device access),
 * else straight to machine_pio_* / machine_mmio_*. After each device access
 * queued host events (a loopback frame, console input) are delivered.
 *
 * Layering, so a later issue can boot a Linux kernel: the loader
 * (vmm_load_elf, and a bzImage loader next to it that fills a boot_params
 * page instead of struct fw_bootinfo) is separate from the boot-state setup
 * (vmm_boot_setup: page tables, GDT, entry registers), which is separate
 * from the vCPU loops in the backends.
 *
 * Interrupts: vmm_init installs the VMM's interrupt sink on the machine
 * (before a recorder is attached, so the recorder sits in front of it). A
 * backend that can deliver interrupts (KVM with its in-kernel irqchip:
 * KVM_IRQ_LINE, KVM_SIGNAL_MSI) plugs itself in with vmm_set_backend_irq;
 * without one (Unicorn) interrupts are counted and dropped, and the
 * firmware polls.
 */
#ifndef RINGSIDE_VMM_H
#define RINGSIDE_VMM_H

#include <stdio.h>

#include "ringside/machine.h"
#include "fw_abi.h"

struct recorder;

/* The firmware built with the project (guest/firmware), an ELF64 image. */
extern const unsigned char rs_firmware_elf[];
extern const size_t rs_firmware_elf_len;

enum vmm_backend {
	VMM_BACKEND_AUTO = 0,     /* KVM when usable, else Unicorn */
	VMM_BACKEND_KVM = 1,
	VMM_BACKEND_UNICORN = 2,
};

/* "kvm", "unicorn", "auto"; "?" otherwise. */
const char *vmm_backend_name(enum vmm_backend b);

#define VMM_DEFAULT_TIMEOUT_S 60.0
#define VMM_OUT_MAX (1u << 20)     /* guest text kept (the rest is counted, dropped) */
#define VMM_MIN_RAM (4u << 20)     /* RAM at 0 the boot layout needs */
#define VMM_MAX_SEGMENTS 64        /* ELF program headers taken */

struct vmm_opts {
	enum vmm_backend backend;
	const void *image;         /* ELF64 x86-64 guest; NULL: rs_firmware_elf */
	size_t image_len;
	double timeout_s;          /* wall-clock limit; <= 0: VMM_DEFAULT_TIMEOUT_S */
	FILE *echo;                /* guest text is also written here as it comes */
	bool no_irqchip;           /* KVM: run without the in-kernel irqchip (HLT exits) */
};

/* Why a run ended. */
enum vmm_stop {
	VMM_STOP_NONE = 0,         /* still running */
	VMM_STOP_DONE = 1,         /* the firmware reported (result valid) */
	VMM_STOP_HALT = 2,         /* HLT with nothing that could wake it */
	VMM_STOP_TIMEOUT = 3,      /* opts.timeout_s passed */
	VMM_STOP_FAULT = 4,        /* the guest crashed: triple fault, exception, bad result */
	VMM_STOP_ERROR = 5,        /* the host side failed (ioctl, emulator, setup) */
	VMM_STOP_RECORDER = 6,     /* the recorder failed (trace write error) */
};

const char *vmm_stop_name(enum vmm_stop s);

struct vmm_stats {
	uint64_t pio_exits;        /* device port accesses (the VMM's own ports not counted) */
	uint64_t mmio_exits;
	uint64_t local_exits;      /* accesses to the VMM's own ports */
	uint64_t host_requests;    /* FW_PORT_HOST requests served */
	uint64_t host_events;      /* world events delivered to devices */
	uint64_t irq_raised;       /* INTx low->high transitions seen by the sink */
	uint64_t msis;             /* MSI messages seen by the sink */
	uint64_t out_dropped;      /* guest text beyond VMM_OUT_MAX */
	double seconds;            /* wall-clock time of vmm_run: VM setup and the vCPU loop */
};

struct vmm {
	struct machine *m;
	struct recorder *rec;      /* NULL: accesses go to the machine directly */
	enum vmm_backend backend;  /* the one that ran */
	bool irqchip;              /* the guest had an interrupt controller */
	enum vmm_stop stop;
	char why[256];             /* the stop in words (empty for a clean DONE) */
	bool have_result;
	struct fw_result result;   /* what the firmware reported (have_result) */
	struct vmm_stats stats;
	char *out;                 /* guest console text, NUL-terminated */
	size_t out_len, out_cap;
	FILE *echo;
	/* the backend's interrupt delivery, NULL while none is plugged in */
	const struct irq_sink_ops *bk_irq;
	void *bk_irq_ctx;
	uint32_t intx_level;       /* sink's view of each GSI */
};

/* What the vCPU starts with (64-bit mode, identity-mapped). */
struct vmm_boot {
	uint64_t rip, rsp, rdi;
	uint64_t cr3;
	uint64_t gdt_base;
	uint16_t gdt_limit;
};

/*
 * Prepare v for machine m and install the VMM's interrupt sink on it; call
 * before recorder_new(m, ...) so the recorder forwards to it. Returns 0.
 */
int vmm_init(struct vmm *v, struct machine *m);
/* Send device accesses through r (NULL: straight to the machine). */
void vmm_set_recorder(struct vmm *v, struct recorder *r);
/* Restore the machine's default interrupt sink (free a recorder first) and
 * free the guest text. */
void vmm_destroy(struct vmm *v);

/*
 * Load the guest, set up the boot state and run it on the backend o asks
 * for (AUTO: KVM when usable, else Unicorn) until it reports, halts, faults
 * or times out. Returns 0 when the firmware reported (v->result: its own
 * verdict is result.status), -1 otherwise (v->stop, v->why).
 */
int vmm_run(struct vmm *v, const struct vmm_opts *o);

/* Whether a backend can run here; false with one line in why. */
bool vmm_kvm_usable(char *why, size_t len);
bool vmm_unicorn_usable(char *why, size_t len);

/*
 * Load an ELF64 x86-64 executable into gm's RAM: every PT_LOAD segment at
 * its physical address, at or above FW_LOAD_MIN and below FW_MAP_LIMIT,
 * wholly inside one RAM region, file bytes copied and the rest zeroed. The
 * image is untrusted: every offset and size is checked, without overflow.
 * Returns 0 with *entry (inside an executable segment), or -EINVAL /
 * -ENOEXEC / -E2BIG / -EFAULT with one line in err.
 */
int vmm_load_elf(struct gm *gm, const void *image, size_t len, uint64_t *entry, char *err,
		 size_t errlen);

/*
 * Write the boot layout of fw_abi.h into m's RAM: identity page tables for
 * [0, 4 GiB), the GDT, struct fw_bootinfo (machine devices, RAM size, flags)
 * and fill *b for entry at rip. Returns 0, or -EINVAL with err (no RAM
 * region at 0 of at least VMM_MIN_RAM).
 */
int vmm_boot_setup(struct machine *m, uint64_t rip, uint32_t flags, struct vmm_boot *b,
		   char *err, size_t errlen);

/* The exits, for backends. Sizes 1, 2, 4 (PIO) or 1, 2, 4, 8 (MMIO). */
uint64_t vmm_pio_in(struct vmm *v, uint16_t port, unsigned size);
void vmm_pio_out(struct vmm *v, uint16_t port, unsigned size, uint64_t val);
uint64_t vmm_mmio_read(struct vmm *v, uint64_t gpa, unsigned size);
void vmm_mmio_write(struct vmm *v, uint64_t gpa, unsigned size, uint64_t val);

/* End the run (the first stop wins). */
void vmm_set_stop(struct vmm *v, enum vmm_stop s, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Periodic work for a backend's loop: the recorder's frame flush and its
 * error. Returns false when the run must end (v->stop set). */
bool vmm_tick(struct vmm *v);
/* The backend's interrupt delivery (NULL: none). */
void vmm_set_backend_irq(struct vmm *v, const struct irq_sink_ops *ops, void *ctx);

/*
 * Test seam: make one step of the next backend setup or run fail the way
 * the host could (a failing ioctl or emulator call, an exit KVM should not
 * produce, a recorder write error), so the tests reach every error path
 * and check that it ends the run cleanly. A step is consumed when hit;
 * VMM_FAULT_NONE clears. Not for production use.
 */
enum vmm_fault {
	VMM_FAULT_NONE = 0,
	/* KVM */
	VMM_FAULT_KVM_OPEN, VMM_FAULT_KVM_API, VMM_FAULT_KVM_CREATE_VM, VMM_FAULT_KVM_MEMORY,
	VMM_FAULT_KVM_IRQCHIP, VMM_FAULT_KVM_CREATE_VCPU, VMM_FAULT_KVM_MMAP_SIZE,
	VMM_FAULT_KVM_MMAP, VMM_FAULT_KVM_GET_SREGS, VMM_FAULT_KVM_SET_SREGS,
	VMM_FAULT_KVM_SET_REGS, VMM_FAULT_KVM_SIGACTION, VMM_FAULT_KVM_TIMER_CREATE,
	VMM_FAULT_KVM_TIMER_SET, VMM_FAULT_KVM_RUN, VMM_FAULT_KVM_IRQ_LINE,
	VMM_FAULT_KVM_SIGNAL_MSI, VMM_FAULT_KVM_EXIT_BAD_IO, VMM_FAULT_KVM_EXIT_BAD_MMIO,
	VMM_FAULT_KVM_EXIT_FAIL_ENTRY, VMM_FAULT_KVM_EXIT_INTERNAL, VMM_FAULT_KVM_EXIT_UNKNOWN,
	VMM_FAULT_KVM_EXIT_INTR,
	/* Unicorn */
	VMM_FAULT_UC_OPEN, VMM_FAULT_UC_MAP_RAM, VMM_FAULT_UC_MAP_MMIO, VMM_FAULT_UC_HOOK,
	VMM_FAULT_UC_REG,
	/* either */
	VMM_FAULT_RECORDER,
	VMM_FAULT__COUNT
};
void vmm_inject_fault(enum vmm_fault f);
/* For backends: true (once) when f is the injected step. */
bool vmm_fault_hit(enum vmm_fault f);

/* Monotonic seconds (host side; never reaches the device stack). */
double vmm_now(void);

/*
 * The machine `ringside record` uses by default: every device model of
 * rs_devices[] (echo on every transport, the others on two transports
 * each, with options that keep the workload small; a model the table here
 * does not know gets "pci" and "mmio" with its defaults). Returns the
 * length needed, like snprintf.
 */
size_t vmm_default_spec(char *buf, size_t len);

/*
 * For backends, once they know what the guest will have (flags: FW_BI_*):
 * load the image (o->image or the built-in firmware) and set up the boot
 * state in *b. Returns 0, or -1 with v->stop ERROR and v->why.
 */
int vmm_prepare_guest(struct vmm *v, const struct vmm_opts *o, uint32_t flags,
		      struct vmm_boot *b);

/* Backends (replay/kvm/kvm.c, replay/unicorn/unicorn.c): set up the vCPU,
 * call vmm_prepare_guest, run until v->stop is set. Return 0 when the loop
 * ended with a stop from an exit handler or the timeout (v->stop says
 * which), -1 when the backend itself failed (v->stop ERROR, v->why). */
int vmm_kvm_run(struct vmm *v, const struct vmm_opts *o);
int vmm_unicorn_run(struct vmm *v, const struct vmm_opts *o);

#endif
