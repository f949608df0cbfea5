/*
 * ringside test-guest firmware — internal declarations: port and MMIO
 * primitives, the tiny runtime (text output, hashing, panics), the
 * reference driver's I/O table, interrupts and the workload.
 *
 * Freestanding: no libc. The firmware is single-threaded and runs with
 * interrupts off except inside the interrupt checks (irq.c).
 */
#ifndef RINGSIDE_FW_H
#define RINGSIDE_FW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ringside/guest.h"
#include "fw_abi.h"

/* ---- port I/O and MMIO ----------------------------------------------------------------- */

static inline void fw_outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline void fw_outw(uint16_t port, uint16_t v)
{
	__asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port));
}

static inline void fw_outl(uint16_t port, uint32_t v)
{
	__asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint8_t fw_inb(uint16_t port)
{
	uint8_t v;

	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline uint16_t fw_inw(uint16_t port)
{
	uint16_t v;

	__asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline uint32_t fw_inl(uint16_t port)
{
	uint32_t v;

	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

/* MMIO: one access of exactly the given width (volatile, so the compiler
 * neither splits nor merges it; the device sees what the driver asked). */
static inline uint64_t fw_mmio_read(uint64_t addr, unsigned size)
{
	switch (size) {
	case 1: return *(volatile uint8_t *)(uintptr_t)addr;
	case 2: return *(volatile uint16_t *)(uintptr_t)addr;
	case 4: return *(volatile uint32_t *)(uintptr_t)addr;
	default: return *(volatile uint64_t *)(uintptr_t)addr;
	}
}

static inline void fw_mmio_write(uint64_t addr, unsigned size, uint64_t v)
{
	switch (size) {
	case 1: *(volatile uint8_t *)(uintptr_t)addr = (uint8_t)v; break;
	case 2: *(volatile uint16_t *)(uintptr_t)addr = (uint16_t)v; break;
	case 4: *(volatile uint32_t *)(uintptr_t)addr = (uint32_t)v; break;
	default: *(volatile uint64_t *)(uintptr_t)addr = v; break;
	}
}

/* The firmware's own GDT (irq.c). Kernel selectors are the VMM's
 * (fw_abi.h); user ones are Linux's __USER_DS and __USER_CS, which KVM's PVM
 * backend requires of a guest's user mode. */
#define FW_SEL_UDATA 0x2b
#define FW_SEL_UCODE 0x33
#define FW_SEL_TSS 0x40

/* ---- runtime (rt.c) -------------------------------------------------------------------- */

/* Console text through FW_PORT_DEBUG (one string: one OUTS). */
void fw_puts(const char *s);
/* printf subset: %s %c %d %u %x %lu %lx %llu %llx %%, width for %x (e.g. %08x). */
void fw_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Format into buf (always NUL-terminated, truncated to len). */
void fw_snprintf(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

size_t fw_strlen(const char *s);
int fw_memcmp(const void *a, const void *b, size_t n);
void fw_memset(void *p, int c, size_t n);
void fw_memcpy(void *d, const void *s, size_t n);

/* The observation hash (FNV-1a 64). */
struct fw_hash {
	uint64_t h;
};
void fw_hash_init(struct fw_hash *h);
void fw_hash_bytes(struct fw_hash *h, const void *p, size_t n);
void fw_hash_u64(struct fw_hash *h, uint64_t v);

/* Report a fatal firmware error (exception, broken invariant) and stop. */
void fw_panic(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* ---- the reference driver's I/O table (io.c) -------------------------------------------- */

extern const struct gdrv_io fw_io;

/* ---- interrupts (irq.c) ---------------------------------------------------------------- */

#define FW_VEC_MSI_BASE 0x40   /* MSI-X data of device-session s: 0x40 + 8 * (s % 16) + entry */
#define FW_VEC_INTX 0xe0       /* every IOAPIC pin the firmware unmasks */
#define FW_VEC_SPURIOUS 0xff
#define FW_MSI_ADDR 0xfee00000ull

/* CPL 0, once, from entry.S: the GDT with user segments and a TSS (kernel
 * stack for interrupts), the IDT (every vector has a stub; exceptions
 * panic) and, with an interrupt controller (bi->flags), the PIC masked, the
 * LAPIC enabled with its task priority blocking every vector, and every
 * IOAPIC pin masked. */
void fw_boot(const struct fw_bootinfo *bi);
/* Let interrupts through (LAPIC task priority 0) or hold them back again.
 * User mode cannot use CLI/STI (under PVM its IF is always 1), so the task
 * priority register is the switch. No-op without an interrupt controller. */
void fw_irq_enable(bool on);
/* Route IOAPIC pin gsi to FW_VEC_INTX, level-triggered, active high, and
 * unmask it (mask: false) or mask it again. */
void fw_ioapic_route(unsigned gsi, bool unmask);
/* Interrupts handled per vector since the last fw_irq_clear(). */
uint32_t fw_irq_count(unsigned vector);
void fw_irq_clear(void);
/* Device whose ISR the INTx handler reads (and thereby lowers its line). */
void fw_irq_set_intx_dev(struct gdrv_dev *d);

/* ---- the workload (workload.c) --------------------------------------------------------- */

struct fw_ctx {
	const struct fw_bootinfo *bi;
	struct fw_hash hash;
	uint64_t pool_base, pool_end;   /* guest memory the driver may use */
	uint32_t sessions, passed, failed, skipped, steps;
	char msg[160];                  /* first failure */
	uint32_t irq_msi, irq_intx;
};

/* Run every device of the machine over every interface its transport has. */
void fw_workload_run(struct fw_ctx *c);
/* With an interrupt controller: check MSI-X and INTx delivery. */
void fw_irq_checks(struct fw_ctx *c);

#endif
