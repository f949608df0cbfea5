/*
 * ringside — private: the virtio-pci transport (virtio-v1.2 4.1), shared by
 * virtio_pci.c (creation, IDs, interrupts), pci_legacy.c (the 0.9.5 I/O BAR)
 * and pci_modern.c (1.x capabilities and the memory BAR).
 *
 * BARs:  0  I/O, legacy registers (legacy and transitional modes)
 *        1  32-bit memory, MSI-X table and PBA (when MSI-X is on)
 *        4  64-bit memory, modern structures (modern and transitional)
 *
 * Value conventions for bad accesses (each one is also a diagnostic):
 *   wrong width or a read inside a register      all-ones, write dropped
 *   undefined offset (gaps, write-only regions)  0, write dropped
 *   queue field with an invalid queue_select     0 (vectors: NO_VECTOR)
 */
#ifndef RINGSIDE_TRANSPORTS_VIRTIO_PCI_H
#define RINGSIDE_TRANSPORTS_VIRTIO_PCI_H

#include "ringside/transport.h"
#include "pci.h"

/* Queues a modern device can expose: one notify address of
 * VPCI_NOTIFY_MULT bytes each in the notify page. */
#define VPCI_MAX_QUEUES ((VPCI_BAR_SIZE - VPCI_BAR_NOTIFY) / VPCI_NOTIFY_MULT)
/* Largest legacy I/O BAR (header + device config, power of two). */
#define VPCI_LEGACY_BAR_MAX 0x1000u
/* Length of each modern region presented in its capability. */
#define VPCI_ISR_LEN 1u
#define VPCI_REGION_MAX 0x1000u

struct vpci {
	struct pci_func pf;       /* first: the PCI function */
	struct machine *m;
	struct vdev *d;
	enum vpci_mode mode;
	int slot;
	unsigned nvectors;        /* MSI-X table size, 0 without MSI-X */
	uint32_t legacy_size;     /* I/O BAR 0 size, 0 without the legacy interface */
	uint8_t cap_common, cap_notify, cap_isr, cap_device, cap_pcicfg;
};

/* pci_legacy.c: the 0.9.5 register file behind BAR 0 (ctx = struct vpci). */
extern const struct io_ops vpci_legacy_ops;
/* Size of BAR 0 for a device with config_size bytes of config: a power of
 * two covering the 24-byte MSI-X header and the config. */
uint32_t vpci_legacy_bar_size(uint32_t config_size);

/* pci_modern.c: the structures behind BAR 4 (ctx = struct vpci). */
extern const struct io_ops vpci_modern_ops;
/* Add the common, notify, ISR, device (when config_size > 0) and PCI
 * configuration access capabilities. Returns 0 or -ENOSPC. */
int vpci_modern_add_caps(struct vpci *v);
/* Config hooks that serve the PCI configuration access capability. */
extern const struct pci_func_hooks vpci_modern_hooks;

/* virtio_pci.c: after the ISR was read or the device reset, lower INTx
 * once nothing is pending. */
void vpci_isr_sync(struct vpci *v);
/* Vectors the driver may map (the MSI-X table size, 0 without MSI-X). */
static inline unsigned vpci_nvectors(const struct vpci *v)
{
	return v->nvectors;
}

#endif
