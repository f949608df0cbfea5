/*
 * ringside test-guest firmware — the CPU side: GDT with user segments and a
 * TSS, the IDT (every vector has a stub in entry.S), the local APIC and I/O
 * APIC of KVM's in-kernel interrupt controller, and the handler.
 *
 * The workload runs in user mode and never waits for an interrupt: it
 * polls used rings, so it runs the same where no interrupt controller
 * exists (Unicorn). The LAPIC's task priority holds every interrupt back
 * except around the one request of each interrupt check (workload.c).
 */
#include "fw.h"

#define LAPIC_BASE 0xfee00000ull
#define LAPIC_TPR 0x80
#define LAPIC_TPR_BLOCK_ALL 0xf0 /* priority class 15: no vector is above it */
#define LAPIC_EOI 0xb0
#define LAPIC_SVR 0xf0
#define LAPIC_SVR_ENABLE 0x100
#define IOAPIC_BASE 0xfec00000ull
#define IOAPIC_REGSEL 0x00
#define IOAPIC_WIN 0x10
#define IOAPIC_VER 0x01
#define IOAPIC_REDTBL(n) (0x10 + 2 * (n))
#define IOAPIC_MASKED (1u << 16)
#define IOAPIC_LEVEL (1u << 15)
#define PIC1_DATA 0x21
#define PIC2_DATA 0xa1

/* 16-byte interrupt gate descriptors (Intel SDM vol. 3, 6.14.1). */
struct idt_entry {
	uint16_t off0;
	uint16_t sel;
	uint8_t ist;
	uint8_t type;
	uint16_t off1;
	uint32_t off2;
	uint32_t zero;
} __attribute__((packed));

/* 64-bit TSS (Intel SDM vol. 3, 8.7) with an I/O permission bitmap that
 * allows every port (all zeroes, then the terminating 0xff byte): RSP0 for
 * interrupts from user mode, and port I/O from user mode even where the
 * effective IOPL is 0 (KVM's PVM backend forces it). */
struct tss64 {
	uint32_t reserved0;
	uint64_t rsp[3];
	uint64_t reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3;
	uint16_t iomap_base;
	uint8_t iomap[65536 / 8];
	uint8_t iomap_end;
} __attribute__((packed));

struct dt_ptr {
	uint16_t limit;
	uint64_t base;
} __attribute__((packed));

static uint64_t gdt[10] __attribute__((aligned(16)));
static struct tss64 tss __attribute__((aligned(16)));
static struct idt_entry idt[256] __attribute__((aligned(16)));
static volatile uint32_t irq_counts[256];
static struct gdrv_dev *volatile intx_dev;
static unsigned ioapic_pins;
static bool have_chip;

/* entry.S and firmware.ld: 256 stubs 16 bytes apart; the kernel stack. */
extern const uint8_t fw_isr_stubs[];
extern char fw_kstack_top[];

/* GDT: the VMM's kernel selectors, Linux's user ones, the TSS. */
static void load_gdt(void)
{
	uint64_t base = (uint64_t)(uintptr_t)&tss, limit = sizeof tss - 1;
	struct dt_ptr p = { sizeof gdt - 1, (uint64_t)(uintptr_t)gdt };

	tss.rsp[0] = (uint64_t)(uintptr_t)fw_kstack_top;
	tss.iomap_base = (uint16_t)__builtin_offsetof(struct tss64, iomap); /* .bss: all allowed */
	tss.iomap_end = 0xff;
	gdt[FW_SEL_CODE / 8] = 0x00af9b000000ffffull;  /* 64-bit code, DPL 0 */
	gdt[FW_SEL_DATA / 8] = 0x00cf93000000ffffull;  /* data, DPL 0 */
	gdt[FW_SEL_UDATA / 8] = 0x00cff3000000ffffull; /* data, DPL 3 */
	gdt[FW_SEL_UCODE / 8] = 0x00affb000000ffffull; /* 64-bit code, DPL 3 */
	/* available 64-bit TSS, present: a 16-byte descriptor */
	gdt[FW_SEL_TSS / 8] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (0x89ull << 40) |
			       ((limit >> 16 & 0xf) << 48) | ((base >> 24 & 0xff) << 56);
	gdt[FW_SEL_TSS / 8 + 1] = base >> 32;
	__asm__ volatile("lgdt %0" : : "m"(p));
	__asm__ volatile("mov %0, %%ds; mov %0, %%es; mov %0, %%ss"
			 : : "r"((uint32_t)FW_SEL_DATA));
	__asm__ volatile("ltr %w0" : : "r"((uint32_t)FW_SEL_TSS));
}

static void load_idt(void)
{
	struct dt_ptr idtr;

	for (unsigned v = 0; v < 256; v++) {
		uint64_t a = (uint64_t)(uintptr_t)(fw_isr_stubs + 16 * v);

		idt[v].off0 = (uint16_t)a;
		idt[v].sel = FW_SEL_CODE;
		idt[v].ist = 0;
		idt[v].type = 0x8e; /* present, DPL 0, 64-bit interrupt gate */
		idt[v].off1 = (uint16_t)(a >> 16);
		idt[v].off2 = (uint32_t)(a >> 32);
		idt[v].zero = 0;
	}
	idtr.limit = sizeof idt - 1;
	idtr.base = (uint64_t)(uintptr_t)idt;
	__asm__ volatile("lidt %0" : : "m"(idtr));
}

static void ioapic_write(unsigned reg, uint32_t v)
{
	fw_mmio_write(IOAPIC_BASE + IOAPIC_REGSEL, 4, reg);
	fw_mmio_write(IOAPIC_BASE + IOAPIC_WIN, 4, v);
}

static uint32_t ioapic_read(unsigned reg)
{
	fw_mmio_write(IOAPIC_BASE + IOAPIC_REGSEL, 4, reg);
	return (uint32_t)fw_mmio_read(IOAPIC_BASE + IOAPIC_WIN, 4);
}

static void init_chip(void)
{
	/* The 8259s also see GSI 0-15: keep them quiet. */
	fw_outb(PIC1_DATA, 0xff);
	fw_outb(PIC2_DATA, 0xff);
	fw_mmio_write(LAPIC_BASE + LAPIC_TPR, 4, LAPIC_TPR_BLOCK_ALL);
	fw_mmio_write(LAPIC_BASE + LAPIC_SVR, 4, LAPIC_SVR_ENABLE | FW_VEC_SPURIOUS);
	ioapic_pins = ((ioapic_read(IOAPIC_VER) >> 16) & 0xff) + 1;
	if (ioapic_pins > 64)
		ioapic_pins = 64;
	for (unsigned i = 0; i < ioapic_pins; i++) {
		ioapic_write(IOAPIC_REDTBL(i), IOAPIC_MASKED | FW_VEC_INTX);
		ioapic_write(IOAPIC_REDTBL(i) + 1, 0);
	}
}

void fw_boot(const struct fw_bootinfo *bi)
{
	load_gdt();
	load_idt();
	if (bi->magic == FW_BI_MAGIC && (bi->flags & FW_BI_IRQCHIP)) {
		have_chip = true;
		init_chip();
	}
}

void fw_irq_enable(bool on)
{
	if (have_chip)
		fw_mmio_write(LAPIC_BASE + LAPIC_TPR, 4, on ? 0 : LAPIC_TPR_BLOCK_ALL);
}

void fw_ioapic_route(unsigned gsi, bool unmask)
{
	if (!have_chip || gsi >= ioapic_pins)
		return;
	ioapic_write(IOAPIC_REDTBL(gsi) + 1, 0); /* destination APIC ID 0 */
	ioapic_write(IOAPIC_REDTBL(gsi),
		     IOAPIC_LEVEL | FW_VEC_INTX | (unmask ? 0 : IOAPIC_MASKED));
}

uint32_t fw_irq_count(unsigned vector)
{
	return vector < 256 ? irq_counts[vector] : 0;
}

void fw_irq_clear(void)
{
	for (unsigned v = 0; v < 256; v++)
		irq_counts[v] = 0;
}

void fw_irq_set_intx_dev(struct gdrv_dev *d)
{
	intx_dev = d;
}

static const char *const exc_names[32] = {
	"#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "CSO", "#TS", "#NP",
	"#SS", "#GP", "#PF", "15",  "#MF", "#AC", "#MC", "#XM", "#VE", "#CP",
};

/* Called by the stubs with interrupts off. frame: rip, cs, rflags, rsp, ss. */
void fw_isr(uint64_t vector, uint64_t err, const uint64_t *frame);
void fw_isr(uint64_t vector, uint64_t err, const uint64_t *frame)
{
	if (vector < 32) {
		uint64_t cr2 = 0;

		if (vector == 14)
			__asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
		fw_panic("exception %s (vector %u) error %lx at rip %lx (cr2 %lx)",
			 exc_names[vector] ? exc_names[vector] : "?", (unsigned)vector,
			 (unsigned long)err, (unsigned long)frame[0], (unsigned long)cr2);
	}
	irq_counts[vector & 0xff]++;
	if (vector == FW_VEC_INTX && intx_dev)
		gdrv_ack_isr(intx_dev); /* lowers the level-triggered line */
	if (vector != FW_VEC_SPURIOUS)
		fw_mmio_write(LAPIC_BASE + LAPIC_EOI, 4, 0);
}
