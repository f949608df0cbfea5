/*
 * ringside — the Unicorn backend of the VMM, for machines without /dev/kvm:
 * the same guest on libunicorn's x86-64 emulator. Guest RAM is the
 * machine's own memory (uc_mem_map_ptr on the arena's mappings), the
 * virtio-mmio and PCI memory windows are MMIO regions whose callbacks go to
 * the VMM layer, and IN/OUT instructions are hooked the same way.
 *
 * Unicorn's 64-bit mode starts in long mode with flat segments and no
 * paging: addresses are physical, which is what the identity map gives the
 * guest under KVM too. It has no interrupt controller: interrupts from the
 * devices are counted by the VMM's sink and dropped, and the firmware,
 * told so by its boot information, polls. A CPU exception stops the run.
 */
#include <stdio.h>
#include <string.h>

#include <unicorn/unicorn.h>

#include "../vmm.h"

struct uc_vm {
	struct vmm *v;
	uc_engine *uc;
};

/* An emulator call the test seam makes fail (vmm_inject_fault). */
static uc_err injected(enum vmm_fault f)
{
	return vmm_fault_hit(f) ? UC_ERR_NOMEM : UC_ERR_OK;
}

bool vmm_unicorn_usable(char *why, size_t len)
{
	uc_engine *uc;
	uc_err e = injected(VMM_FAULT_UC_OPEN);

	if (e == UC_ERR_OK)
		e = uc_open(UC_ARCH_X86, UC_MODE_64, &uc);

	if (e != UC_ERR_OK) {
		snprintf(why, len, "libunicorn: %s", uc_strerror(e));
		return false;
	}
	uc_close(uc);
	return true;
}

static uint64_t rip_of(uc_engine *uc)
{
	uint64_t rip = 0;

	uc_reg_read(uc, UC_X86_REG_RIP, &rip);
	return rip;
}

/* Stop the emulator once an exit handler ended the run. */
static void check_stop(struct uc_vm *u)
{
	if (!vmm_tick(u->v))
		uc_emu_stop(u->uc);
}

static uint32_t hook_in(uc_engine *uc, uint32_t port, int size, void *ctx)
{
	struct uc_vm *u = ctx;
	uint64_t v = vmm_pio_in(u->v, (uint16_t)port, (unsigned)size);

	check_stop(u);
	return (uint32_t)v;
}

static void hook_out(uc_engine *uc, uint32_t port, int size, uint32_t value, void *ctx)
{
	struct uc_vm *u = ctx;

	vmm_pio_out(u->v, (uint16_t)port, (unsigned)size, value);
	check_stop(u);
}

static uint64_t mmio_read(uc_engine *uc, uint64_t off, unsigned size, void *ctx)
{
	struct uc_vm *u = ctx;
	uint64_t v = vmm_mmio_read(u->v, MACHINE_VMMIO_BASE + off, size);

	check_stop(u);
	return v;
}

static void mmio_write(uc_engine *uc, uint64_t off, unsigned size, uint64_t value, void *ctx)
{
	struct uc_vm *u = ctx;

	vmm_mmio_write(u->v, MACHINE_VMMIO_BASE + off, size, value);
	check_stop(u);
}

/* CPU exceptions (and INT n): the firmware has no business raising any. */
static void hook_intr(uc_engine *uc, uint32_t intno, void *ctx)
{
	struct uc_vm *u = ctx;

	vmm_set_stop(u->v, VMM_STOP_FAULT, "the guest raised exception %u at rip 0x%llx",
		     intno, (unsigned long long)rip_of(uc));
	uc_emu_stop(uc);
}

static int uc_fail(struct uc_vm *u, const char *what, uc_err e)
{
	vmm_set_stop(u->v, VMM_STOP_ERROR, "libunicorn: %s: %s", what, uc_strerror(e));
	return -1;
}

static int uc_setup(struct uc_vm *u, const struct vmm_boot *b)
{
	struct gm *gm = &u->v->m->gm;
	uc_hook h;
	uc_err e;
	uc_x86_mmr gdtr = { .base = b->gdt_base, .limit = b->gdt_limit };

	for (unsigned i = 0; i < gm->nregions; i++) {
		const struct gm_region *r = &gm->regions[i];

		if (r->kind != GM_RAM)
			continue;
		e = injected(VMM_FAULT_UC_MAP_RAM);
		if (e == UC_ERR_OK)
			e = uc_mem_map_ptr(u->uc, r->gpa, (size_t)r->size, UC_PROT_ALL, r->host);
		if (e != UC_ERR_OK)
			return uc_fail(u, "mapping guest RAM", e);
	}
	/* virtio-mmio and PCI memory BARs: [MACHINE_VMMIO_BASE, MACHINE_PCI_MEM_END) */
	e = injected(VMM_FAULT_UC_MAP_MMIO);
	if (e == UC_ERR_OK)
		e = uc_mmio_map(u->uc, MACHINE_VMMIO_BASE,
				MACHINE_PCI_MEM_END - MACHINE_VMMIO_BASE, mmio_read, u, mmio_write,
				u);
	if (e != UC_ERR_OK)
		return uc_fail(u, "mapping the MMIO windows", e);
	e = injected(VMM_FAULT_UC_HOOK);
	if (e == UC_ERR_OK)
		e = uc_hook_add(u->uc, &h, UC_HOOK_INSN, (void *)hook_in, u, 1, 0,
				UC_X86_INS_IN);
	if (e == UC_ERR_OK)
		e = uc_hook_add(u->uc, &h, UC_HOOK_INSN, (void *)hook_out, u, 1, 0,
				UC_X86_INS_OUT);
	if (e == UC_ERR_OK)
		e = uc_hook_add(u->uc, &h, UC_HOOK_INTR, (void *)hook_intr, u, 1, 0);
	if (e != UC_ERR_OK)
		return uc_fail(u, "installing hooks", e);
	if ((e = injected(VMM_FAULT_UC_REG)) != UC_ERR_OK ||
	    (e = uc_reg_write(u->uc, UC_X86_REG_RSP, &b->rsp)) != UC_ERR_OK ||
	    (e = uc_reg_write(u->uc, UC_X86_REG_RDI, &b->rdi)) != UC_ERR_OK ||
	    (e = uc_reg_write(u->uc, UC_X86_REG_GDTR, &gdtr)) != UC_ERR_OK)
		return uc_fail(u, "setting registers", e);
	return 0;
}

int vmm_unicorn_run(struct vmm *v, const struct vmm_opts *o)
{
	struct uc_vm u = { .v = v };
	struct vmm_boot b;
	double timeout = o->timeout_s > 0 ? o->timeout_s : VMM_DEFAULT_TIMEOUT_S;
	double t0;
	int r = -1;
	uc_err e;

	e = injected(VMM_FAULT_UC_OPEN);
	if (e == UC_ERR_OK)
		e = uc_open(UC_ARCH_X86, UC_MODE_64, &u.uc);
	if (e != UC_ERR_OK) {
		u.uc = NULL;
		uc_fail(&u, "uc_open", e);
		return -1;
	}
	if (vmm_prepare_guest(v, o, 0, &b) < 0 || uc_setup(&u, &b) < 0)
		goto out;
	t0 = vmm_now();
	e = uc_emu_start(u.uc, b.rip, ~0ull, (uint64_t)(timeout * 1e6), 0);
	if (v->stop == VMM_STOP_NONE) {
		if (e != UC_ERR_OK)
			vmm_set_stop(v, VMM_STOP_FAULT, "emulation stopped at rip 0x%llx: %s",
				     (unsigned long long)rip_of(u.uc), uc_strerror(e));
		else if (vmm_now() - t0 >= timeout)
			vmm_set_stop(v, VMM_STOP_TIMEOUT,
				     "the guest did not finish in time (rip 0x%llx)",
				     (unsigned long long)rip_of(u.uc));
		else
			vmm_set_stop(v, VMM_STOP_HALT, "the guest halted at rip 0x%llx",
				     (unsigned long long)rip_of(u.uc));
	}
	r = v->stop == VMM_STOP_ERROR ? -1 : 0;
out:
	uc_close(u.uc);
	return r;
}
