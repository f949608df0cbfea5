/*
 * ringside tests — the VMM layer without a vCPU: the ELF loader against
 * hostile images, the boot layout, the default machine, the VMM's own ports
 * (debug console, 16550, done and host-request ports), device exits with
 * and without a recorder, and the interrupt sink.
 */
#include <errno.h>

#include "ringside/balloon.h"
#include "ringside/guest_machine.h"
#include "test_vmm_util.h"

static struct machine *new_machine(const char *spec)
{
	struct machine *m = NULL;
	char err[256];

	if (rs_machine_new(spec, &m, err, sizeof err) < 0) {
		fprintf(stderr, "%s\n", err);
		return NULL;
	}
	return m;
}

/* ---- the ELF loader ------------------------------------------------------------------------- */

static uint8_t img[16384];
static const uint8_t code[] = { 0x90, 0x90, 0xf4 }; /* nop; nop; hlt */

static Elf64_Ehdr *ehdr(void)
{
	return (Elf64_Ehdr *)img;
}

static Elf64_Phdr *phdr(unsigned i)
{
	return (Elf64_Phdr *)(img + sizeof(Elf64_Ehdr) + i * sizeof(Elf64_Phdr));
}

static int load(struct machine *m, size_t len, uint64_t *entry, char *err)
{
	return vmm_load_elf(&m->gm, img, len, entry, err, 200);
}

static void test_load_builtin_firmware(void)
{
	struct machine *m = new_machine("mem=16M");
	uint64_t entry = 0;
	char err[200];

	CHECK(m);
	if (!m)
		return;
	CHECK(rs_firmware_elf_len > 1000);
	CHECK_EQ(vmm_load_elf(&m->gm, rs_firmware_elf, rs_firmware_elf_len, &entry, err,
			      sizeof err), 0);
	CHECK_EQ(entry, FW_LOAD_MIN);
	/* the first bytes of .text are _start: cli */
	uint8_t b = 0;
	CHECK_EQ(gm_guest_read(&m->gm, entry, &b, 1), 0);
	CHECK_EQ(b, 0xfa);
	rs_machine_free(m);
}

static void test_load_tiny(void)
{
	struct machine *m = new_machine("mem=16M");
	uint64_t entry = 0;
	uint8_t got[8];
	char err[200];
	size_t len = tiny_elf(img, sizeof img, code, sizeof code, 4096);

	/* stale bytes where the bss goes must be zeroed */
	uint8_t junk[64];
	memset(junk, 0xcc, sizeof junk);
	CHECK_EQ(gm_guest_write(&m->gm, TINY_BASE + sizeof code, junk, sizeof junk), 0);
	CHECK_EQ(load(m, len, &entry, err), 0);
	CHECK_EQ(entry, TINY_BASE);
	CHECK_EQ(gm_guest_read(&m->gm, TINY_BASE, got, sizeof got), 0);
	CHECK(memcmp(got, code, sizeof code) == 0);
	CHECK_EQ(got[sizeof code], 0);
	CHECK_EQ(got[7], 0);
	/* a segment of zero memory size is skipped */
	tiny_elf(img, sizeof img, code, sizeof code, 0);
	ehdr()->e_phnum = 2;
	memset(phdr(1), 0, sizeof(Elf64_Phdr));
	phdr(1)->p_type = PT_LOAD;
	phdr(1)->p_paddr = 0; /* would be refused if it were loaded */
	CHECK_EQ(load(m, len, &entry, err), 0);
	/* so is any segment other than PT_LOAD */
	phdr(1)->p_type = PT_NOTE;
	phdr(1)->p_memsz = 16;
	CHECK_EQ(load(m, len, &entry, err), 0);
	rs_machine_free(m);
}

/* Every way an image can be wrong: one error each, nothing crashes. */
static void test_load_hostile(void)
{
	struct machine *m = new_machine("mem=16M");
	uint64_t entry = 0;
	char err[200];
	size_t len;

#define REJECT(setup, want)                                                                \
	do {                                                                               \
		len = tiny_elf(img, sizeof img, code, sizeof code, 64);                    \
		setup;                                                                     \
		err[0] = 0;                                                                \
		CHECK_EQ(load(m, len, &entry, err), (uint64_t)(int64_t)(want));           \
		CHECK(err[0] != 0);                                                        \
	} while (0)

	CHECK_EQ(vmm_load_elf(&m->gm, NULL, 100, &entry, err, sizeof err), (uint64_t)-ENOEXEC);
	REJECT(len = 10, -ENOEXEC);
	REJECT(img[1] = 'X', -ENOEXEC);
	REJECT(img[EI_CLASS] = ELFCLASS32, -ENOEXEC);
	REJECT(img[EI_DATA] = ELFDATA2MSB, -ENOEXEC);
	REJECT(ehdr()->e_machine = EM_386, -ENOEXEC);
	REJECT(ehdr()->e_type = ET_DYN, -ENOEXEC);
	REJECT(ehdr()->e_phentsize = 32, -ENOEXEC);
	REJECT(ehdr()->e_phnum = 0, -ENOEXEC);
	REJECT(ehdr()->e_phnum = VMM_MAX_SEGMENTS + 1, -ENOEXEC);
	REJECT(ehdr()->e_phoff = len, -ENOEXEC);
	REJECT(ehdr()->e_phoff = UINT64_MAX - 8, -ENOEXEC);
	REJECT(phdr(0)->p_filesz = phdr(0)->p_memsz + 1, -ENOEXEC);
	REJECT(phdr(0)->p_offset = len, -ENOEXEC);
	REJECT(phdr(0)->p_offset = UINT64_MAX - 1, -ENOEXEC);
	REJECT(phdr(0)->p_filesz = 1u << 20; phdr(0)->p_memsz = 2u << 20, -ENOEXEC);
	REJECT(phdr(0)->p_paddr = 0x7000, -E2BIG);        /* over the boot layout */
	REJECT(phdr(0)->p_paddr = UINT64_MAX - 16, -E2BIG); /* wraps */
	REJECT(phdr(0)->p_paddr = FW_MAP_LIMIT - 16, -E2BIG);
	REJECT(phdr(0)->p_paddr = 0x40000000, -EFAULT);   /* beyond the 16 MiB of RAM */
	REJECT(phdr(0)->p_memsz = 32u << 20, -EFAULT);    /* runs out of RAM */
	REJECT(phdr(0)->p_type = PT_NOTE, -ENOEXEC);      /* nothing to load */
	REJECT(phdr(0)->p_flags = PF_R, -ENOEXEC);        /* entry not executable */
	REJECT(ehdr()->e_entry = TINY_BASE + 4096, -ENOEXEC);
	REJECT(ehdr()->e_entry = TINY_BASE - 1, -ENOEXEC);
#undef REJECT
	rs_machine_free(m);
}

/* ---- the boot layout ------------------------------------------------------------------------ */

static void test_boot_setup(void)
{
	struct machine *m = new_machine("mem=16M pci:echo mmio-legacy:rng pci-legacy:blk,size=1M");
	struct vmm_boot b;
	struct fw_bootinfo bi;
	uint64_t e = 0;
	char err[200];

	CHECK(m);
	if (!m)
		return;
	CHECK_EQ(vmm_boot_setup(m, 0x123456, FW_BI_IRQCHIP, &b, err, sizeof err), 0);
	CHECK_EQ(b.rip, 0x123456);
	CHECK_EQ(b.rdi, FW_BOOTINFO_GPA);
	CHECK_EQ(b.cr3, FW_PML4_GPA);
	CHECK_EQ(b.gdt_base, FW_GDT_GPA);
	CHECK(b.rsp > FW_BOOTINFO_GPA + sizeof bi && b.rsp <= FW_LOAD_MIN);
	/* identity map: PML4[0] -> PDPT, PDPT[3] -> the last PD, which maps 4 GiB - 2 MiB */
	CHECK_EQ(gm_guest_read(&m->gm, FW_PML4_GPA, &e, 8), 0);
	CHECK_EQ(e, FW_PDPT_GPA | 7);
	CHECK_EQ(gm_guest_read(&m->gm, FW_PDPT_GPA + 24, &e, 8), 0);
	CHECK_EQ(e, (FW_PD_GPA + 3 * 4096) | 7);
	CHECK_EQ(gm_guest_read(&m->gm, FW_PD_GPA + 3 * 4096 + 511 * 8, &e, 8), 0);
	CHECK_EQ(e & ~0xfffull, (4ull << 30) - (2u << 20));
	CHECK_EQ(e & 0xff, 0x87 | 0x18);
	CHECK_EQ(gm_guest_read(&m->gm, FW_PD_GPA + 8, &e, 8), 0);
	CHECK_EQ(e, (2u << 20) | 0x87);
	CHECK_EQ(gm_guest_read(&m->gm, FW_GDT_GPA + FW_SEL_CODE, &e, 8), 0);
	CHECK_EQ(e, 0x00af9b000000ffffull);
	CHECK_EQ(gm_guest_read(&m->gm, FW_BOOTINFO_GPA, &bi, sizeof bi), 0);
	CHECK_EQ(bi.magic, FW_BI_MAGIC);
	CHECK_EQ(bi.version, FW_BI_VERSION);
	CHECK_EQ(bi.mem_size, 16u << 20);
	CHECK_EQ(bi.flags, FW_BI_IRQCHIP);
	CHECK_EQ(bi.ndev, 3);
	CHECK_EQ(bi.dev[0].transport, MSPEC_PCI);
	CHECK_EQ(bi.dev[0].virtio_id, VIRTIO_ID_RS_ECHO);
	CHECK_EQ(bi.dev[0].slot, m->devinfo[0].slot);
	CHECK(bi.dev[0].slot > 0);
	CHECK_EQ(bi.dev[1].transport, MSPEC_MMIO_LEGACY);
	CHECK(bi.dev[1].slot == -1);
	CHECK_EQ(bi.dev[1].mmio_base, MACHINE_VMMIO_BASE);
	CHECK_EQ(bi.dev[1].gsi, m->devinfo[1].gsi);
	CHECK(strcmp(bi.dev[2].name, "blk") == 0);
	CHECK_EQ(bi.dev[2].virtio_id, VIRTIO_ID_BLOCK);
	rs_machine_free(m);

	/* too little RAM for the layout */
	m = new_machine("mem=2M");
	CHECK(m);
	err[0] = 0;
	CHECK_EQ(vmm_boot_setup(m, 0, 0, &b, err, sizeof err), (uint64_t)-EINVAL);
	CHECK(strstr(err, "MiB") != NULL);
	rs_machine_free(m);
}

static void test_default_spec(void)
{
	char buf[2048], small[16];
	size_t n = vmm_default_spec(buf, sizeof buf);
	struct machine *m;

	CHECK_EQ(n, strlen(buf));
	CHECK(strncmp(buf, "mem=", 4) == 0);
	/* every model of the device table is in it */
	for (unsigned i = 0; rs_devices[i]; i++) {
		char want[40];
		snprintf(want, sizeof want, ":%s", rs_devices[i]->name);
		CHECK(strstr(buf, want) != NULL);
	}
	/* echo on every transport */
	CHECK(strstr(buf, " pci:echo") && strstr(buf, " pci-modern:echo") &&
	      strstr(buf, " pci-legacy:echo") && strstr(buf, " mmio:echo") &&
	      strstr(buf, " mmio-legacy:echo"));
	m = new_machine(buf);
	CHECK(m != NULL);
	if (m)
		CHECK(m->ndevs <= FW_BI_MAX_DEV);
	rs_machine_free(m);
	/* truncation: the length needed, a NUL-terminated prefix */
	CHECK_EQ(vmm_default_spec(small, sizeof small), n);
	CHECK_EQ(strlen(small), sizeof small - 1);
	CHECK(strncmp(small, buf, sizeof small - 1) == 0);
}

static void test_names(void)
{
	CHECK(strcmp(vmm_backend_name(VMM_BACKEND_KVM), "kvm") == 0);
	CHECK(strcmp(vmm_backend_name(VMM_BACKEND_UNICORN), "unicorn") == 0);
	CHECK(strcmp(vmm_backend_name(VMM_BACKEND_AUTO), "auto") == 0);
	CHECK(strcmp(vmm_backend_name((enum vmm_backend)9), "?") == 0);
	CHECK(strcmp(vmm_stop_name(VMM_STOP_DONE), "done") == 0);
	CHECK(strcmp(vmm_stop_name(VMM_STOP_TIMEOUT), "timeout") == 0);
	CHECK(strcmp(vmm_stop_name(VMM_STOP_RECORDER), "recorder error") == 0);
	CHECK(strcmp(vmm_stop_name((enum vmm_stop)42), "?") == 0);
	CHECK(vmm_now() > 0);
}

/* ---- the VMM's ports ------------------------------------------------------------------------ */

static void test_debug_and_serial(void)
{
	struct machine *m = new_machine("mem=16M");
	struct vmm v;

	vmm_init(&v, m);
	const char *s = "hi\n";
	for (const char *p = s; *p; p++)
		vmm_pio_out(&v, FW_PORT_DEBUG, 1, (uint8_t)*p);
	vmm_pio_out(&v, FW_SERIAL_BASE, 1, 'S');
	vmm_pio_out(&v, FW_SERIAL_BASE + 1, 1, 0xff); /* IER: ignored */
	CHECK(v.out && strcmp(v.out, "hi\nS") == 0);
	CHECK_EQ(vmm_pio_in(&v, FW_SERIAL_BASE + FW_SERIAL_LSR, 1), FW_SERIAL_LSR_READY);
	CHECK_EQ(vmm_pio_in(&v, FW_SERIAL_BASE + 2, 1), 0x01);
	CHECK_EQ(vmm_pio_in(&v, FW_SERIAL_BASE + 7, 1), 0);
	CHECK_EQ(vmm_pio_in(&v, FW_PORT_DEBUG, 1), 0xff);
	CHECK_EQ(vmm_pio_in(&v, FW_PORT_DONE, 2), 0xffff);
	CHECK_EQ(vmm_pio_in(&v, FW_PORT_HOST, 4), 0xffffffffu);
	CHECK_EQ(vmm_pio_in(&v, FW_PORT_PUTS, 1), 0xff);
	CHECK_EQ(v.stats.local_exits, 12);
	/* strings from memory: up to the NUL, FW_PUTS_MAX at most, RAM only */
	static char text[FW_PUTS_MAX + 10];
	memset(text, 'y', sizeof text);
	text[3] = '\0';
	CHECK_EQ(gm_guest_write(&m->gm, 0x200000, text, sizeof text), 0);
	vmm_pio_out(&v, FW_PORT_PUTS, 4, 0x200000);
	CHECK(strcmp(v.out, "hi\nSyyy") == 0);
	text[3] = 'y';
	CHECK_EQ(gm_guest_write(&m->gm, 0x200000, text, sizeof text), 0);
	vmm_pio_out(&v, FW_PORT_PUTS, 4, 0x200000);
	CHECK_EQ(v.out_len, 7 + FW_PUTS_MAX);
	CHECK_EQ(gm_guest_write(&m->gm, (16u << 20) - 2, "zz", 2), 0);
	vmm_pio_out(&v, FW_PORT_PUTS, 4, (16u << 20) - 2); /* runs off the end of RAM */
	vmm_pio_out(&v, FW_PORT_PUTS, 2, 0x200000);         /* the wrong width: ignored */
	CHECK_EQ(v.out_len, 9 + FW_PUTS_MAX);
	CHECK_EQ(m->log.total, 0);
	CHECK_EQ(v.stats.pio_exits, 0); /* the machine never saw them */
	vmm_destroy(&v);
	CHECK(v.out == NULL);
	rs_machine_free(m);
}

static void test_out_limit(void)
{
	struct machine *m = new_machine("mem=16M");
	struct vmm v;

	vmm_init(&v, m);
	for (unsigned i = 0; i < VMM_OUT_MAX + 10; i++)
		vmm_pio_out(&v, FW_PORT_DEBUG, 1, 'x');
	CHECK_EQ(v.out_len, VMM_OUT_MAX - 1);
	CHECK_EQ(v.stats.out_dropped, 11);
	CHECK_EQ(strlen(v.out), v.out_len);
	vmm_destroy(&v);
	rs_machine_free(m);
}

static void put_result(struct machine *m, uint64_t gpa, uint32_t magic, uint32_t version)
{
	struct fw_result r;

	memset(&r, 0, sizeof r);
	r.magic = magic;
	r.version = version;
	r.sessions = 3;
	r.passed = 3;
	r.hash = 0x1122334455667788ull;
	memset(r.msg, 'A', sizeof r.msg); /* not terminated: the VMM terminates it */
	CHECK_EQ(gm_guest_write(&m->gm, gpa, &r, sizeof r), 0);
}

static void test_done_port(void)
{
	struct machine *m = new_machine("mem=16M");
	struct vmm v;

	/* a good report */
	vmm_init(&v, m);
	put_result(m, 0x200000, FW_RES_MAGIC, FW_RES_VERSION);
	vmm_pio_out(&v, FW_PORT_DONE, 4, 0x200000);
	CHECK_EQ(v.stop, VMM_STOP_DONE);
	CHECK(v.have_result);
	CHECK_EQ(v.result.hash, 0x1122334455667788ull);
	CHECK_EQ(v.result.sessions, 3);
	CHECK_EQ(strlen(v.result.msg), sizeof v.result.msg - 1);
	CHECK_EQ(v.why[0], 0);
	/* the first stop wins */
	vmm_set_stop(&v, VMM_STOP_FAULT, "later");
	CHECK_EQ(v.stop, VMM_STOP_DONE);
	vmm_destroy(&v);

	/* outside RAM, straddling its end */
	vmm_init(&v, m);
	vmm_pio_out(&v, FW_PORT_DONE, 4, (16u << 20) - 8);
	CHECK_EQ(v.stop, VMM_STOP_FAULT);
	CHECK(!v.have_result);
	CHECK(strstr(v.why, "outside RAM") != NULL);
	vmm_destroy(&v);

	/* bad magic, bad version */
	vmm_init(&v, m);
	put_result(m, 0x300000, 0xdeadbeef, FW_RES_VERSION);
	vmm_pio_out(&v, FW_PORT_DONE, 4, 0x300000);
	CHECK_EQ(v.stop, VMM_STOP_FAULT);
	CHECK(strstr(v.why, "bad magic") != NULL);
	vmm_destroy(&v);
	vmm_init(&v, m);
	put_result(m, 0x300000, FW_RES_MAGIC, 99);
	vmm_pio_out(&v, FW_PORT_DONE, 4, 0x300000);
	CHECK_EQ(v.stop, VMM_STOP_FAULT);
	vmm_destroy(&v);

	/* the wrong width */
	vmm_init(&v, m);
	vmm_pio_out(&v, FW_PORT_DONE, 2, 0x3000);
	CHECK_EQ(v.stop, VMM_STOP_FAULT);
	CHECK(strstr(v.why, "size 2") != NULL);
	vmm_destroy(&v);
	rs_machine_free(m);
}

static void test_host_requests(void)
{
	struct machine *m = new_machine("mem=16M pci:balloon mmio:echo");
	struct gdrv_io io;
	struct vmm v;

	vmm_init(&v, m);
	gdrv_machine_io(&io, m);
	/* balloon target: the device's num_pages follows */
	vmm_pio_out(&v, FW_PORT_HOST, 4, FW_HOST_REQ(FW_HOST_BALLOON_TARGET, 0, 77));
	CHECK_EQ(v.stats.host_requests, 1);
	CHECK_EQ(v.stats.host_events, 1);
	CHECK_EQ(rs_le32(m->devs[0]->config + BALLOON_CFG_NUM_PAGES), 77);
	/* a request for a device that does not exist, an unknown command, the
	 * wrong width: noted in the guest text, nothing posted */
	vmm_pio_out(&v, FW_PORT_HOST, 4, FW_HOST_REQ(FW_HOST_BALLOON_TARGET, 9, 1));
	vmm_pio_out(&v, FW_PORT_HOST, 4, FW_HOST_REQ(0x7f, 0, 1));
	vmm_pio_out(&v, FW_PORT_HOST, 2, 0x1234);
	CHECK_EQ(v.stats.host_requests, 1);
	CHECK(v.out && strstr(v.out, "no device 9") && strstr(v.out, "unknown host request"));
	/* requests the device itself ignores still reach it through the world */
	vmm_pio_out(&v, FW_PORT_HOST, 4, FW_HOST_REQ(FW_HOST_VMMCI, 1, 1));
	vmm_pio_out(&v, FW_PORT_HOST, 4, FW_HOST_REQ(FW_HOST_CONSOLE_IN, 1, 0));
	CHECK_EQ(v.stats.host_requests, 3);
	CHECK_EQ(v.stats.host_events, 3);
	CHECK_EQ(v.stop, VMM_STOP_NONE);
	vmm_destroy(&v);
	rs_machine_free(m);
}

/* A world whose queue refuses every post. */
static int refuse_post(struct world *w, const struct world_event *ev)
{
	(void)w;
	(void)ev;
	return -ENOSPC;
}

static void test_host_request_refused(void)
{
	struct machine *m = new_machine("mem=16M pci:balloon");
	struct world_ops ops = *m->world->ops;
	const struct world_ops *saved = m->world->ops;
	struct vmm v;

	ops.post = refuse_post;
	m->world->ops = &ops;
	vmm_init(&v, m);
	vmm_pio_out(&v, FW_PORT_HOST, 4, FW_HOST_REQ(FW_HOST_BALLOON_TARGET, 0, 5));
	CHECK_EQ(v.stats.host_requests, 0);
	CHECK(v.out && strstr(v.out, "world queue refused"));
	m->world->ops = saved;
	vmm_destroy(&v);
	rs_machine_free(m);
}

/* ---- device exits --------------------------------------------------------------------------- */

static void test_device_exits(void)
{
	struct machine *m = new_machine("mem=16M pci:echo mmio:echo");
	struct vmm v;

	vmm_init(&v, m);
	/* conf1: slot 1 vendor/device through the machine */
	vmm_pio_out(&v, 0xcf8, 4, 0x80000800u);
	uint64_t id = vmm_pio_in(&v, 0xcfc, 4);
	CHECK_EQ(id & 0xffff, VIRTIO_PCI_VENDOR);
	/* virtio-mmio magic, and a read of nothing */
	CHECK_EQ(vmm_mmio_read(&v, MACHINE_VMMIO_BASE, 4), 0x74726976);
	CHECK_EQ(vmm_mmio_read(&v, 0xdfff0000ull, 4), 0xffffffffu);
	vmm_mmio_write(&v, MACHINE_VMMIO_BASE + 0x70, 4, 0); /* status 0: reset */
	CHECK_EQ(v.stats.pio_exits, 2);
	CHECK_EQ(v.stats.mmio_exits, 3);
	CHECK_EQ(diag_count(&m->log, DIAG_IO_UNMAPPED), 1);
	vmm_destroy(&v);
	rs_machine_free(m);
}

static void test_device_exits_recorded(void)
{
	char path[256], err[256];
	struct machine *m;
	struct trace_header h;
	struct trace_error terr;
	struct trace_writer *w;
	struct recorder *rec;
	struct vmm v;

	vmm_test_tmp(path, sizeof path, "exits");
	CHECK_EQ(rec_machine_new("mem=16M pci:echo", NULL, "test", &m, &h, err, sizeof err), 0);
	w = trace_writer_open(path, &h, &terr);
	rec_header_release(&h);
	CHECK(w != NULL);
	vmm_init(&v, m);
	rec = recorder_new(m, w);
	vmm_set_recorder(&v, rec);
	vmm_pio_out(&v, 0xcf8, 4, 0x80000800u);
	(void)vmm_pio_in(&v, 0xcfc, 4);
	(void)vmm_mmio_read(&v, 0xdfff0000ull, 4);
	vmm_mmio_write(&v, 0xdfff0000ull, 4, 1);
	vmm_pio_out(&v, FW_PORT_DEBUG, 1, 'x'); /* the VMM's own: not recorded */
	CHECK(vmm_tick(&v));
	CHECK_EQ(recorder_free(rec), 4);
	vmm_set_recorder(&v, NULL);
	CHECK_EQ(trace_writer_close(w, &terr), 0);
	vmm_destroy(&v);
	rs_machine_free(m);
	unlink(path);
}

/* ---- the interrupt sink --------------------------------------------------------------------- */

static unsigned fake_levels, fake_msis;
static uint64_t fake_msi_addr;

static void fake_level(void *ctx, unsigned gsi, bool level)
{
	(void)ctx;
	(void)gsi;
	fake_levels += level;
}

static void fake_msi(void *ctx, uint64_t addr, uint32_t data)
{
	(void)ctx;
	(void)data;
	fake_msis++;
	fake_msi_addr = addr;
}

static const struct irq_sink_ops fake_sink = { fake_level, fake_msi };
static const struct irq_sink_ops empty_sink = { NULL, NULL };

static void test_irq_sink(void)
{
	struct machine *m = new_machine("mem=16M");
	struct vmm v;

	vmm_init(&v, m);
	/* no backend: counted only */
	machine_set_intx(m, 5, true);
	machine_set_intx(m, 5, false);
	machine_msi(m, 0xfee00000ull, 0x41);
	CHECK_EQ(v.stats.irq_raised, 1);
	CHECK_EQ(v.stats.msis, 1);
	/* a backend gets every one */
	vmm_set_backend_irq(&v, &fake_sink, NULL);
	machine_set_intx(m, 40, true); /* beyond the machine's GSIs: reported, dropped */
	machine_set_intx(m, 6, true);
	machine_set_intx(m, 6, true);
	machine_msi(m, 0xfee01000ull, 0x42);
	CHECK_EQ(fake_levels, 1);
	CHECK_EQ(fake_msis, 1);
	CHECK_EQ(fake_msi_addr, 0xfee01000ull);
	CHECK_EQ(v.stats.irq_raised, 2);
	/* a backend without callbacks */
	vmm_set_backend_irq(&v, &empty_sink, NULL);
	machine_set_intx(m, 6, false);
	machine_msi(m, 0xfee00000ull, 0x43);
	CHECK_EQ(v.stats.msis, 3);
	vmm_destroy(&v);
	/* the machine has its default sink back */
	machine_msi(m, 0xfee00000ull, 0x44);
	CHECK(m->msi_count > 0);
	rs_machine_free(m);
}

static void test_run_errors(void)
{
	struct machine *m = new_machine("mem=16M");
	struct vmm_opts o = { .backend = (enum vmm_backend)7 };
	struct vmm v;

	vmm_init(&v, m);
	CHECK_EQ(vmm_run(&v, &o), (uint64_t)-1);
	CHECK_EQ(v.stop, VMM_STOP_ERROR);
	CHECK(strstr(v.why, "unknown backend") != NULL);
	vmm_destroy(&v);
	rs_machine_free(m);
}

int main(void)
{
	RUN(test_load_builtin_firmware);
	RUN(test_load_tiny);
	RUN(test_load_hostile);
	RUN(test_boot_setup);
	RUN(test_default_spec);
	RUN(test_names);
	RUN(test_debug_and_serial);
	RUN(test_out_limit);
	RUN(test_done_port);
	RUN(test_host_requests);
	RUN(test_host_request_refused);
	RUN(test_device_exits);
	RUN(test_device_exits_recorded);
	RUN(test_irq_sink);
	RUN(test_run_errors);
	return check_done();
}
