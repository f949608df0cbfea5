/*
 * ringside test-guest firmware — the contract between the firmware and the
 * VMM that runs it (replay/vmm.c, under KVM or Unicorn). Freestanding: fixed
 * width types only, included by both sides.
 *
 * Guest-physical layout the VMM sets up before entry (docs/recording.md):
 *
 *   0x1000  PML4, 0x2000 PDPT, 0x3000..0x6fff four page directories:
 *           [0, 4 GiB) identity-mapped with 2 MiB user-accessible pages (the
 *           top GiB, MMIO, uncached)
 *   0x7000  GDT: null, null, 64-bit code (FW_SEL_CODE), data (FW_SEL_DATA)
 *   0x8000  struct fw_bootinfo
 *   1 MiB   the firmware image (ELF PT_LOAD segments at their physical
 *           addresses, at or above FW_LOAD_MIN)
 *
 * Entry: 64-bit long mode, CPL 0, paging on (KVM) or flat (Unicorn, which
 * has the same identity view), interrupts off, rdi = FW_BOOTINFO_GPA, rsp
 * inside low RAM (the firmware switches to its own stack at once, loads its
 * own GDT, TSS and IDT, and runs its workload in user mode).
 *
 * The firmware talks to the VMM through port I/O the machine never sees:
 *   FW_PORT_DEBUG  out8: one byte of console text
 *   FW_PORT_PUTS   out32: gpa of a NUL-terminated string of console text
 *                  (at most FW_PUTS_MAX bytes are taken): one exit a line
 *   FW_PORT_DONE   out32: gpa of a struct fw_result; the run is over
 *   FW_PORT_HOST   out32: a host request (FW_HOST_*), answered before the
 *                  OUT completes: the VMM posts the world event and delivers
 *                  it to the device
 * and a 16550 at FW_SERIAL_BASE (THR output; LSR always ready), for guests
 * that print the usual way.
 */
#ifndef RINGSIDE_FW_ABI_H
#define RINGSIDE_FW_ABI_H

#include <stdint.h>

#define FW_PML4_GPA 0x1000u
#define FW_PDPT_GPA 0x2000u
#define FW_PD_GPA 0x3000u        /* four pages */
#define FW_GDT_GPA 0x7000u
#define FW_BOOTINFO_GPA 0x8000u
#define FW_BOOT_STACK 0x80000u   /* rsp at entry */
#define FW_LOAD_MIN 0x100000u    /* lowest address a segment may load at */
#define FW_MAP_LIMIT (4ull << 30) /* the identity map ends here */

#define FW_SEL_CODE 0x10
#define FW_SEL_DATA 0x18

#define FW_PORT_DEBUG 0xe9
#define FW_PORT_DONE 0x510
#define FW_PORT_HOST 0x514
#define FW_PORT_PUTS 0x518
#define FW_PUTS_MAX 1024
#define FW_SERIAL_BASE 0x3f8
#define FW_SERIAL_LSR 5          /* line status register offset */
#define FW_SERIAL_LSR_READY 0x60 /* THR empty, transmitter idle */

/* Host requests: (cmd << 24) | (device index << 16) | arg. */
#define FW_HOST_BALLOON_TARGET 1 /* WEV_BALLOON_TARGET, arg: pages */
#define FW_HOST_VMMCI 2          /* WEV_VMMCI, arg: command */
#define FW_HOST_CONSOLE_IN 3     /* WEV_CONSOLE_IN on port 0 of FW_CONSOLE_IN_LEN bytes */
#define FW_HOST_REQ(cmd, dev, arg) \
	(((uint32_t)(cmd) << 24) | (((uint32_t)(dev) & 0xff) << 16) | ((uint32_t)(arg) & 0xffff))

/* What FW_HOST_CONSOLE_IN delivers (both sides know it, so the firmware
 * can check the bytes it receives). */
#define FW_CONSOLE_IN_TEXT "ringside console input\n"
#define FW_CONSOLE_IN_LEN 23

/* struct fw_bootinfo.flags */
#define FW_BI_IRQCHIP 0x1 /* LAPIC at 0xfee00000, IOAPIC at 0xfec00000, PIC at 0x20/0xa0 */

#define FW_BI_MAGIC 0x49425352u /* "RSBI" */
#define FW_BI_VERSION 1
#define FW_BI_MAX_DEV 24

/* One device of the machine, in machine order (the device index the world
 * and the trace use). transport is enum mspec_transport. */
struct fw_bidev {
	uint16_t transport;
	uint16_t virtio_id;  /* the model's virtio device id */
	int16_t slot;        /* PCI slot, -1 for virtio-mmio */
	uint16_t gsi;        /* INTx / virtio-mmio interrupt line */
	uint64_t mmio_base;  /* virtio-mmio base, 0 on PCI */
	char name[16];       /* model name, NUL-terminated */
};

struct fw_bootinfo {
	uint32_t magic;
	uint32_t version;
	uint64_t mem_size;   /* RAM below MACHINE_RAM_LOW_MAX, bytes from 0 */
	uint32_t flags;      /* FW_BI_* */
	uint32_t ndev;       /* entries in dev[] */
	struct fw_bidev dev[FW_BI_MAX_DEV];
};

#define FW_RES_MAGIC 0x52465352u /* "RSFR" */
#define FW_RES_VERSION 1

/* Outcome of the interrupt checks (KVM's in-kernel irqchip only). */
enum fw_irq_outcome {
	FW_IRQ_NOT_RUN = 0,  /* no interrupt controller (Unicorn) or no suitable device */
	FW_IRQ_OK = 1,       /* delivered and handled */
	FW_IRQ_FAILED = 2,   /* expected but never arrived */
};

/*
 * The firmware's report. status 0 is a pass. hash covers everything the
 * workload observed from the devices that is the same on every run and
 * under every backend (data read back, used lengths, statuses, config
 * values); it leaves out what comes from the live world (random bytes,
 * wall-clock time) and anything about interrupt delivery.
 */
struct fw_result {
	uint32_t magic;
	uint32_t version;
	uint32_t status;     /* 0 pass; else the number of failed sessions */
	uint32_t sessions;   /* device sessions run (one per device and interface) */
	uint32_t passed, failed, skipped;
	uint32_t steps;      /* workload checks that ran */
	uint64_t hash;       /* FNV-1a 64 of the observations */
	uint32_t irq_msi;    /* enum fw_irq_outcome */
	uint32_t irq_intx;
	char msg[160];       /* first failure, NUL-terminated; "" on a pass */
};

#endif
