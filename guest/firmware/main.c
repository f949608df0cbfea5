/*
 * ringside test-guest firmware — fw_main (user mode, after fw_boot): check
 * the boot information, run the workload and the interrupt checks, report
 * through FW_PORT_DONE.
 */
#include "fw.h"

void fw_main(const struct fw_bootinfo *bi);

/* End of the image (firmware.ld): driver memory starts above it. */
extern char __fw_end[];

#define POOL_ALIGN (2ull << 20)
#define POOL_MIN (2ull << 20)
#define RAM_LOW_MAX 0xc0000000ull /* MACHINE_RAM_LOW_MAX */

static struct fw_ctx ctx;
static struct fw_result res;

void fw_main(const struct fw_bootinfo *bi)
{
	struct fw_ctx *c = &ctx;

	if (bi->magic != FW_BI_MAGIC || bi->version != FW_BI_VERSION || bi->ndev > FW_BI_MAX_DEV)
		fw_panic("boot information: magic %x version %u devices %u", bi->magic,
			 bi->version, bi->ndev);
	c->bi = bi;
	fw_hash_init(&c->hash);
	c->pool_base = ((uint64_t)(uintptr_t)__fw_end + POOL_ALIGN - 1) & ~(POOL_ALIGN - 1);
	c->pool_end = bi->mem_size < RAM_LOW_MAX ? bi->mem_size : RAM_LOW_MAX;
	if (c->pool_end < c->pool_base + POOL_MIN)
		fw_panic("%lu bytes of RAM leave no room for the driver",
			 (unsigned long)bi->mem_size);
	fw_printf("fw: ringside test-guest firmware, %u devices, %lu MiB, %s\n", bi->ndev,
		  (unsigned long)(bi->mem_size >> 20),
		  bi->flags & FW_BI_IRQCHIP ? "interrupt controller" : "no interrupt controller");

	fw_workload_run(c);
	if (bi->flags & FW_BI_IRQCHIP)
		fw_irq_checks(c);

	res.magic = FW_RES_MAGIC;
	res.version = FW_RES_VERSION;
	res.status = c->failed;
	res.sessions = c->sessions;
	res.passed = c->passed;
	res.failed = c->failed;
	res.skipped = c->skipped;
	res.steps = c->steps;
	res.hash = c->hash.h;
	res.irq_msi = c->irq_msi;
	res.irq_intx = c->irq_intx;
	fw_memcpy(res.msg, c->msg, sizeof res.msg);
	res.msg[sizeof res.msg - 1] = '\0';
	fw_printf("fw: %u sessions: %u ok, %u failed, %u skipped; %u checks; hash %016lx\n",
		  res.sessions, res.passed, res.failed, res.skipped, res.steps,
		  (unsigned long)res.hash);
	fw_outl(FW_PORT_DONE, (uint32_t)(uintptr_t)&res);
	for (;;) /* user mode: no HLT; the VMM stops at the OUT above */
		__asm__ volatile("pause");
}
