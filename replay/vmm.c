/*
 * ringside — the VMM layer shared by the KVM and Unicorn backends: guest
 * loading (ELF64), the boot layout of guest/firmware/fw_abi.h, the exit
 * handlers (the VMM's own ports, device accesses through the recorder or
 * straight to the machine, host requests), the interrupt sink in front of
 * the backend's delivery, and the default machine of `ringside record`.
 */
#include <elf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ringside/replay.h"
#include "ringside/ringside.h"
#include "ringside/world.h"
#include "vmm.h"

#define EVENTS_PER_EXIT 64 /* host events delivered after one device access */

const char *vmm_backend_name(enum vmm_backend b)
{
	switch (b) {
	case VMM_BACKEND_AUTO: return "auto";
	case VMM_BACKEND_KVM: return "kvm";
	case VMM_BACKEND_UNICORN: return "unicorn";
	}
	return "?";
}

const char *vmm_stop_name(enum vmm_stop s)
{
	static const char *const names[] = { "running", "done", "halted", "timeout",
					     "guest fault", "host error", "recorder error" };

	return (unsigned)s < RS_ARRAY_SIZE(names) ? names[s] : "?";
}

double vmm_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void vmm_set_stop(struct vmm *v, enum vmm_stop s, const char *fmt, ...)
{
	va_list ap;

	if (v->stop != VMM_STOP_NONE)
		return;
	v->stop = s;
	va_start(ap, fmt);
	vsnprintf(v->why, sizeof v->why, fmt, ap);
	va_end(ap);
}

/* ---- the interrupt sink ----------------------------------------------------------------- */

static void vmm_irq_level(void *ctx, unsigned gsi, bool level)
{
	struct vmm *v = ctx;
	uint32_t bit = gsi < 32 ? 1u << gsi : 0;

	if (level && !(v->intx_level & bit))
		v->stats.irq_raised++;
	v->intx_level = level ? v->intx_level | bit : v->intx_level & ~bit;
	if (v->bk_irq && v->bk_irq->set_level)
		v->bk_irq->set_level(v->bk_irq_ctx, gsi, level);
}

static void vmm_irq_msi(void *ctx, uint64_t addr, uint32_t data)
{
	struct vmm *v = ctx;

	v->stats.msis++;
	if (v->bk_irq && v->bk_irq->msi)
		v->bk_irq->msi(v->bk_irq_ctx, addr, data);
}

static const struct irq_sink_ops vmm_irq_sink = {
	.set_level = vmm_irq_level,
	.msi = vmm_irq_msi,
};

void vmm_set_backend_irq(struct vmm *v, const struct irq_sink_ops *ops, void *ctx)
{
	v->bk_irq = ops;
	v->bk_irq_ctx = ctx;
}

/* ---- life cycle ------------------------------------------------------------------------- */

int vmm_init(struct vmm *v, struct machine *m)
{
	memset(v, 0, sizeof *v);
	v->m = m;
	machine_set_irq_sink(m, &vmm_irq_sink, v);
	return 0;
}

void vmm_set_recorder(struct vmm *v, struct recorder *r)
{
	v->rec = r;
}

void vmm_destroy(struct vmm *v)
{
	if (v->m)
		machine_set_irq_sink(v->m, NULL, NULL);
	free(v->out);
	v->out = NULL;
	v->out_len = v->out_cap = 0;
}

/* ---- guest text ------------------------------------------------------------------------- */

static void out_byte(struct vmm *v, uint8_t c)
{
	if (v->echo)
		fputc(c, v->echo);
	if (v->out_len + 1 >= VMM_OUT_MAX) {
		v->stats.out_dropped++;
		return;
	}
	if (v->out_len + 1 >= v->out_cap) {
		size_t cap = v->out_cap ? v->out_cap * 2 : 4096;
		char *p = realloc(v->out, cap);
		if (!p) {
			v->stats.out_dropped++;
			return;
		}
		v->out = p;
		v->out_cap = cap;
	}
	v->out[v->out_len++] = (char)c;
	v->out[v->out_len] = '\0';
}

/* ---- the firmware's ports ---------------------------------------------------------------- */

/* FW_PORT_DONE: the result struct at gpa. */
static void fw_done(struct vmm *v, uint64_t gpa)
{
	struct fw_result r;

	if (gm_guest_read(&v->m->gm, gpa, &r, sizeof r) < 0) {
		vmm_set_stop(v, VMM_STOP_FAULT, "firmware result at 0x%llx is outside RAM",
			     (unsigned long long)gpa);
		return;
	}
	if (r.magic != FW_RES_MAGIC || r.version != FW_RES_VERSION) {
		vmm_set_stop(v, VMM_STOP_FAULT,
			     "firmware result at 0x%llx: bad magic 0x%08x or version %u",
			     (unsigned long long)gpa, r.magic, r.version);
		return;
	}
	r.msg[sizeof r.msg - 1] = '\0';
	v->result = r;
	v->have_result = true;
	vmm_set_stop(v, VMM_STOP_DONE, "%s", "");
}

/* Deliver what the world has queued for the devices (loopback frames,
 * console input, host requests): recorded as world inputs. */
static void deliver_events(struct vmm *v)
{
	int n = rs_machine_poll_events(v->m, EVENTS_PER_EXIT);

	if (n > 0)
		v->stats.host_events += (uint64_t)n;
}

/* FW_PORT_HOST: (cmd << 24) | (dev << 16) | arg. A request the VMM cannot
 * serve is noted in the guest text and ignored (the guest is untrusted). */
static void fw_host_request(struct vmm *v, uint32_t req)
{
	unsigned cmd = req >> 24, dev = (req >> 16) & 0xff, arg = req & 0xffff;
	struct world_event ev = { .dev = dev };
	char note[96];

	if (dev >= v->m->ndevs || !v->m->world) {
		snprintf(note, sizeof note, "[vmm: host request 0x%08x: no device %u]\n", req, dev);
		goto bad;
	}
	switch (cmd) {
	case FW_HOST_BALLOON_TARGET:
		ev.kind = WEV_BALLOON_TARGET;
		ev.arg = arg;
		break;
	case FW_HOST_VMMCI:
		ev.kind = WEV_VMMCI;
		ev.arg = arg;
		break;
	case FW_HOST_CONSOLE_IN:
		ev.kind = WEV_CONSOLE_IN;
		ev.port = 0;
		ev.data = (const uint8_t *)FW_CONSOLE_IN_TEXT;
		ev.len = FW_CONSOLE_IN_LEN;
		break;
	default:
		snprintf(note, sizeof note, "[vmm: unknown host request 0x%08x]\n", req);
		goto bad;
	}
	if (world_post(v->m->world, &ev) < 0) {
		snprintf(note, sizeof note, "[vmm: host request 0x%08x: world queue refused]\n",
			 req);
		goto bad;
	}
	v->stats.host_requests++;
	deliver_events(v);
	return;
bad:
	for (const char *p = note; *p; p++)
		out_byte(v, (uint8_t)*p);
}

/* FW_PORT_PUTS: the NUL-terminated text at gpa, at most FW_PUTS_MAX bytes,
 * as far as it lies in RAM. */
static void fw_puts(struct vmm *v, uint64_t gpa)
{
	for (unsigned i = 0; i < FW_PUTS_MAX; i++) {
		uint8_t c;

		if (gm_guest_read(&v->m->gm, gpa + i, &c, 1) < 0 || c == 0)
			return;
		out_byte(v, c);
	}
}

/* The VMM's own ports; false when port is not one of them. */
static bool local_in(struct vmm *v, uint16_t port, unsigned size, uint64_t *val)
{
	if (port >= FW_SERIAL_BASE && port < FW_SERIAL_BASE + 8) {
		/* a minimal 16550: the line status says ready, the interrupt
		 * identification "none pending", everything else reads 0 */
		unsigned reg = port - FW_SERIAL_BASE;
		*val = reg == FW_SERIAL_LSR ? FW_SERIAL_LSR_READY : reg == 2 ? 0x01 : 0;
		return true;
	}
	if (port == FW_PORT_DEBUG || port == FW_PORT_DONE || port == FW_PORT_HOST ||
	    port == FW_PORT_PUTS) {
		*val = size >= 4 ? 0xffffffffull : (1ull << (8 * size)) - 1;
		return true;
	}
	return false;
}

static bool local_out(struct vmm *v, uint16_t port, unsigned size, uint64_t val)
{
	if (port == FW_SERIAL_BASE || port == FW_PORT_DEBUG) {
		out_byte(v, (uint8_t)val);
		return true;
	}
	if (port > FW_SERIAL_BASE && port < FW_SERIAL_BASE + 8)
		return true;
	if (port == FW_PORT_DONE) {
		if (size == 4)
			fw_done(v, (uint32_t)val);
		else
			vmm_set_stop(v, VMM_STOP_FAULT, "firmware wrote the done port with size %u",
				     size);
		return true;
	}
	if (port == FW_PORT_HOST) {
		if (size == 4)
			fw_host_request(v, (uint32_t)val);
		return true;
	}
	if (port == FW_PORT_PUTS) {
		if (size == 4)
			fw_puts(v, (uint32_t)val);
		return true;
	}
	return false;
}

/* ---- exits ------------------------------------------------------------------------------- */

uint64_t vmm_pio_in(struct vmm *v, uint16_t port, unsigned size)
{
	uint64_t val;

	if (local_in(v, port, size, &val)) {
		v->stats.local_exits++;
		return val;
	}
	v->stats.pio_exits++;
	val = v->rec ? rec_pio_read(v->rec, port, size) : machine_pio_read(v->m, port, size);
	deliver_events(v);
	return val;
}

void vmm_pio_out(struct vmm *v, uint16_t port, unsigned size, uint64_t val)
{
	if (local_out(v, port, size, val)) {
		v->stats.local_exits++;
		return;
	}
	v->stats.pio_exits++;
	if (v->rec)
		rec_pio_write(v->rec, port, size, val);
	else
		machine_pio_write(v->m, port, size, val);
	deliver_events(v);
}

uint64_t vmm_mmio_read(struct vmm *v, uint64_t gpa, unsigned size)
{
	uint64_t val;

	v->stats.mmio_exits++;
	val = v->rec ? rec_mmio_read(v->rec, gpa, size) : machine_mmio_read(v->m, gpa, size);
	deliver_events(v);
	return val;
}

void vmm_mmio_write(struct vmm *v, uint64_t gpa, unsigned size, uint64_t val)
{
	v->stats.mmio_exits++;
	if (v->rec)
		rec_mmio_write(v->rec, gpa, size, val);
	else
		machine_mmio_write(v->m, gpa, size, val);
	deliver_events(v);
}

static enum vmm_fault injected;

void vmm_inject_fault(enum vmm_fault f)
{
	injected = f;
}

bool vmm_fault_hit(enum vmm_fault f)
{
	if (injected == VMM_FAULT_NONE || injected != f)
		return false;
	injected = VMM_FAULT_NONE;
	return true;
}

bool vmm_tick(struct vmm *v)
{
	struct trace_error err;

	if (vmm_fault_hit(VMM_FAULT_RECORDER))
		vmm_set_stop(v, VMM_STOP_RECORDER, "recording failed: injected");
	else if (v->rec && rec_tick(v->rec, &err) < 0)
		vmm_set_stop(v, VMM_STOP_RECORDER, "recording failed: %s", err.msg);
	return v->stop == VMM_STOP_NONE;
}

/* ---- loading ----------------------------------------------------------------------------- */

static int load_fail(char *err, size_t errlen, int e, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int load_fail(char *err, size_t errlen, int e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return e;
}

int vmm_load_elf(struct gm *gm, const void *image, size_t len, uint64_t *entry, char *err,
		 size_t errlen)
{
	const uint8_t *img = image;
	Elf64_Ehdr eh;
	bool entry_ok = false;
	unsigned nload = 0;

	if (!image || len < sizeof eh)
		return load_fail(err, errlen, -ENOEXEC, "guest image: %zu bytes, not an ELF file",
				 len);
	memcpy(&eh, img, sizeof eh);
	if (memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0)
		return load_fail(err, errlen, -ENOEXEC, "guest image: not an ELF file");
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh.e_machine != EM_X86_64)
		return load_fail(err, errlen, -ENOEXEC,
				 "guest image: not a little-endian ELF64 x86-64 file");
	if (eh.e_type != ET_EXEC)
		return load_fail(err, errlen, -ENOEXEC,
				 "guest image: ELF type %u, want an executable (ET_EXEC)",
				 (unsigned)eh.e_type);
	if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 ||
	    eh.e_phnum > VMM_MAX_SEGMENTS)
		return load_fail(err, errlen, -ENOEXEC,
				 "guest image: %u program headers of %u bytes (want 1..%u of %zu)",
				 (unsigned)eh.e_phnum, (unsigned)eh.e_phentsize, VMM_MAX_SEGMENTS,
				 sizeof(Elf64_Phdr));
	/* e_phnum <= 64 entries of 56 bytes: the product cannot overflow */
	if (!rs_range_within(eh.e_phoff, (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr), 0, len))
		return load_fail(err, errlen, -ENOEXEC,
				 "guest image: program headers at %llu run past the file end",
				 (unsigned long long)eh.e_phoff);
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		uint8_t *dst;

		memcpy(&ph, img + eh.e_phoff + (uint64_t)i * sizeof ph, sizeof ph);
		if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
			continue;
		if (ph.p_filesz > ph.p_memsz)
			return load_fail(err, errlen, -ENOEXEC,
					 "guest image: segment %u: %llu file bytes exceed its %llu "
					 "memory bytes", i, (unsigned long long)ph.p_filesz,
					 (unsigned long long)ph.p_memsz);
		if (!rs_range_within(ph.p_offset, ph.p_filesz, 0, len))
			return load_fail(err, errlen, -ENOEXEC,
					 "guest image: segment %u: file bytes [%llu, +%llu) run "
					 "past the end of the %zu-byte file", i,
					 (unsigned long long)ph.p_offset,
					 (unsigned long long)ph.p_filesz, len);
		if (!rs_range_within(ph.p_paddr, ph.p_memsz, FW_LOAD_MIN,
				     FW_MAP_LIMIT - FW_LOAD_MIN))
			return load_fail(err, errlen, -E2BIG,
					 "guest image: segment %u at 0x%llx+0x%llx is outside "
					 "[0x%x, 0x%llx)", i, (unsigned long long)ph.p_paddr,
					 (unsigned long long)ph.p_memsz, FW_LOAD_MIN,
					 (unsigned long long)FW_MAP_LIMIT);
		dst = gm_guest_ptr(gm, ph.p_paddr, ph.p_memsz);
		if (!dst)
			return load_fail(err, errlen, -EFAULT,
					 "guest image: segment %u at 0x%llx+0x%llx is not inside "
					 "guest RAM", i, (unsigned long long)ph.p_paddr,
					 (unsigned long long)ph.p_memsz);
		memcpy(dst, img + ph.p_offset, ph.p_filesz);
		memset(dst + ph.p_filesz, 0, ph.p_memsz - ph.p_filesz);
		gm_mark_dirty(gm, ph.p_paddr, ph.p_memsz);
		if ((ph.p_flags & PF_X) && eh.e_entry >= ph.p_paddr &&
		    eh.e_entry - ph.p_paddr < ph.p_memsz)
			entry_ok = true;
		nload++;
	}
	if (!nload)
		return load_fail(err, errlen, -ENOEXEC, "guest image: nothing to load");
	if (!entry_ok)
		return load_fail(err, errlen, -ENOEXEC,
				 "guest image: entry point 0x%llx is in no executable segment",
				 (unsigned long long)eh.e_entry);
	*entry = eh.e_entry;
	return 0;
}

/* ---- boot state -------------------------------------------------------------------------- */

int vmm_boot_setup(struct machine *m, uint64_t rip, uint32_t flags, struct vmm_boot *b,
		   char *err, size_t errlen)
{
	uint8_t *low = gm_guest_ptr(&m->gm, 0, VMM_MIN_RAM);
	struct fw_bootinfo bi;

	if (!low)
		return load_fail(err, errlen, -EINVAL,
				 "the machine needs at least %u MiB of RAM at address 0",
				 VMM_MIN_RAM >> 20);
	/* page tables: PML4[0] -> PDPT, PDPT[0..3] -> four PDs of 2 MiB pages,
	 * all present, writable and user-accessible (the firmware's workload
	 * runs in user mode) */
	memset(low + FW_PML4_GPA, 0, 6 * 4096);
	rs_st64(low + FW_PML4_GPA, FW_PDPT_GPA | 0x7);
	for (unsigned i = 0; i < 4; i++) {
		uint64_t pd = FW_PD_GPA + 4096ull * i;

		rs_st64(low + FW_PDPT_GPA + 8 * i, pd | 0x7);
		for (unsigned j = 0; j < 512; j++) {
			uint64_t pa = ((uint64_t)i << 30) | ((uint64_t)j << 21);
			/* 2 MiB pages; the top GiB (MMIO) uncached */
			uint64_t e = pa | 0x87 | (i == 3 ? 0x18 : 0);
			rs_st64(low + pd + 8 * j, e);
		}
	}
	/* GDT: null, null, 64-bit code (FW_SEL_CODE), flat data (FW_SEL_DATA) */
	memset(low + FW_GDT_GPA, 0, 4096);
	rs_st64(low + FW_GDT_GPA + FW_SEL_CODE, 0x00af9b000000ffffull);
	rs_st64(low + FW_GDT_GPA + FW_SEL_DATA, 0x00cf93000000ffffull);
	/* what the firmware needs to know about the machine */
	memset(&bi, 0, sizeof bi);
	bi.magic = FW_BI_MAGIC;
	bi.version = FW_BI_VERSION;
	bi.mem_size = RS_MIN(m->mem_size, MACHINE_RAM_LOW_MAX);
	bi.flags = flags;
	bi.ndev = RS_MIN(m->ndevs, (unsigned)FW_BI_MAX_DEV);
	for (unsigned i = 0; i < bi.ndev; i++) {
		const struct machine_devinfo *info = &m->devinfo[i];
		struct fw_bidev *d = &bi.dev[i];

		d->transport = (uint16_t)info->transport;
		d->virtio_id = m->devs[i]->ops->device_id;
		d->slot = (int16_t)info->slot;
		d->gsi = (uint16_t)info->gsi;
		d->mmio_base = info->base;
		snprintf(d->name, sizeof d->name, "%s", m->devs[i]->ops->name);
	}
	memcpy(low + FW_BOOTINFO_GPA, &bi, sizeof bi);
	gm_mark_dirty(&m->gm, 0, FW_BOOTINFO_GPA + sizeof bi);
	b->rip = rip;
	b->rsp = FW_BOOT_STACK;
	b->rdi = FW_BOOTINFO_GPA;
	b->cr3 = FW_PML4_GPA;
	b->gdt_base = FW_GDT_GPA;
	b->gdt_limit = FW_SEL_DATA + 7;
	return 0;
}

int vmm_prepare_guest(struct vmm *v, const struct vmm_opts *o, uint32_t flags,
		      struct vmm_boot *b)
{
	const void *img = o->image ? o->image : rs_firmware_elf;
	size_t len = o->image ? o->image_len : rs_firmware_elf_len;
	char err[200];
	uint64_t entry;

	if (vmm_load_elf(&v->m->gm, img, len, &entry, err, sizeof err) < 0 ||
	    vmm_boot_setup(v->m, entry, flags, b, err, sizeof err) < 0) {
		vmm_set_stop(v, VMM_STOP_ERROR, "%s", err);
		return -1;
	}
	v->irqchip = flags & FW_BI_IRQCHIP;
	return 0;
}

/* ---- running ----------------------------------------------------------------------------- */

int vmm_run(struct vmm *v, const struct vmm_opts *o)
{
	enum vmm_backend b = o->backend;
	char why[200];
	double t0;
	int r;

	v->stop = VMM_STOP_NONE;
	v->why[0] = '\0';
	v->have_result = false;
	v->echo = o->echo;
	if (b == VMM_BACKEND_AUTO)
		b = vmm_kvm_usable(why, sizeof why) ? VMM_BACKEND_KVM : VMM_BACKEND_UNICORN;
	v->backend = b;
	t0 = vmm_now();
	if (b == VMM_BACKEND_KVM)
		r = vmm_kvm_run(v, o);
	else if (b == VMM_BACKEND_UNICORN)
		r = vmm_unicorn_run(v, o);
	else {
		vmm_set_stop(v, VMM_STOP_ERROR, "unknown backend %d", (int)b);
		r = -1;
	}
	v->stats.seconds = vmm_now() - t0;
	vmm_set_backend_irq(v, NULL, NULL);
	if (v->echo)
		fflush(v->echo);
	if (r < 0 || v->stop != VMM_STOP_DONE) {
		if (v->stop == VMM_STOP_NONE)
			vmm_set_stop(v, VMM_STOP_ERROR, "the backend ended without a reason");
		return -1;
	}
	return 0;
}

#ifndef RS_HAVE_UNICORN
/* Built without libunicorn. */
bool vmm_unicorn_usable(char *why, size_t len)
{
	snprintf(why, len, "ringside was built without libunicorn");
	return false;
}

int vmm_unicorn_run(struct vmm *v, const struct vmm_opts *o)
{
	(void)o;
	vmm_set_stop(v, VMM_STOP_ERROR, "ringside was built without libunicorn");
	return -1;
}
#endif

/* ---- the default machine of `ringside record` ---------------------------------------------- */

/* How the workload likes each known model; transports in order of use. */
static const struct {
	const char *name;
	const char *opts;        /* appended as ",opts" when not empty */
	const char *transports[5];
} default_devices[] = {
	{ "echo", "", { "pci", "pci-modern", "pci-legacy", "mmio", "mmio-legacy" } },
	{ "blk", "size=1M", { "pci", "mmio" } },
	{ "net", "", { "pci-modern", "mmio-legacy" } },
	{ "rng", "", { "pci-legacy", "mmio" } },
	{ "console", "", { "pci", "mmio-legacy" } },
	{ "scsi", "disk0=1M", { "pci-modern", "mmio" } },
	{ "vmmci", "", { "pci-legacy" } },
	{ "balloon", "", { "pci", "mmio" } },
};

static const char *const default_transports[] = { "pci", "mmio" };

size_t vmm_default_spec(char *buf, size_t len)
{
	size_t n = (size_t)snprintf(buf, len, "mem=64M");
	unsigned ndev = 0;

	for (unsigned i = 0; rs_devices[i]; i++) {
		const char *name = rs_devices[i]->name;
		const char *opts = "";
		const char *const *tr = default_transports;
		unsigned ntr = RS_ARRAY_SIZE(default_transports);

		for (unsigned k = 0; k < RS_ARRAY_SIZE(default_devices); k++) {
			if (strcmp(default_devices[k].name, name) != 0)
				continue;
			opts = default_devices[k].opts;
			tr = default_devices[k].transports;
			ntr = 0;
			while (ntr < 5 && tr[ntr])
				ntr++;
		}
		for (unsigned t = 0; t < ntr && ndev < FW_BI_MAX_DEV; t++, ndev++)
			n += (size_t)snprintf(buf + RS_MIN(n, len), len - RS_MIN(n, len),
					      " %s:%s%s%s", tr[t], name, *opts ? "," : "", opts);
	}
	return n;
}
