/*
 * ringside — virtio constants from the virtio 1.x specification, shared by
 * the device side and the guest reference driver (so: no libc here).
 */
#ifndef RINGSIDE_VIRTIO_H
#define RINGSIDE_VIRTIO_H

#include <stdint.h>

/* Device status field, virtio-v1.2 2.1 */
#define VIRTIO_STATUS_ACKNOWLEDGE 0x01
#define VIRTIO_STATUS_DRIVER 0x02
#define VIRTIO_STATUS_DRIVER_OK 0x04
#define VIRTIO_STATUS_FEATURES_OK 0x08
#define VIRTIO_STATUS_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED 0x80

/* Reserved (device-independent) feature bits, virtio-v1.2 6 */
#define VIRTIO_F_NOTIFY_ON_EMPTY 24   /* legacy */
#define VIRTIO_F_ANY_LAYOUT 27        /* legacy */
#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_EVENT_IDX 29
#define VIRTIO_F_BAD_FEATURE 30       /* legacy: driver must never set it */
#define VIRTIO_F_VERSION_1 32
#define VIRTIO_F_ACCESS_PLATFORM 33
#define VIRTIO_F_RING_PACKED 34
#define VIRTIO_F_IN_ORDER 35
#define VIRTIO_F_ORDER_PLATFORM 36
#define VIRTIO_F_SR_IOV 37
#define VIRTIO_F_NOTIFICATION_DATA 38
#define VIRTIO_F_RING_RESET 40

#define VIRTIO_BIT(b) (1ull << (b))

/* Device IDs, virtio-v1.2 5 */
#define VIRTIO_ID_NET 1
#define VIRTIO_ID_BLOCK 2
#define VIRTIO_ID_CONSOLE 3
#define VIRTIO_ID_RNG 4
#define VIRTIO_ID_BALLOON 5
#define VIRTIO_ID_SCSI 8
/* ringside's own test device ("echo"); an ID no spec assigns. */
#define VIRTIO_ID_RS_ECHO 63

/* Split ring, virtio-v1.2 2.7 */
#define VIRTQ_DESC_F_NEXT 1
#define VIRTQ_DESC_F_WRITE 2
#define VIRTQ_DESC_F_INDIRECT 4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY 1
#define VIRTQ_DESC_SIZE 16
#define VIRTQ_USED_ELEM_SIZE 8
#define VIRTQ_MAX_SIZE 32768

/* Packed ring, virtio-v1.2 2.8 */
#define VIRTQ_DESC_F_AVAIL (1u << 7)
#define VIRTQ_DESC_F_USED (1u << 15)
#define VIRTQ_EVENT_F_ENABLE 0
#define VIRTQ_EVENT_F_DISABLE 1
#define VIRTQ_EVENT_F_DESC 2
#define VIRTQ_EVENT_WRAP_SHIFT 15

/* Split ring layout sizes (virtio-v1.2 2.7, "Virtqueue Layout") */
static inline uint64_t virtq_avail_size(uint32_t num)
{
	return 6 + 2ull * num; /* flags, idx, ring[num], used_event */
}

static inline uint64_t virtq_used_size(uint32_t num)
{
	return 6 + 8ull * num; /* flags, idx, ring[num], avail_event */
}

/* Legacy contiguous layout: desc, avail, then used at the next multiple of
 * align (virtio-v1.2 2.7.2 legacy interfaces). Offsets from the ring base. */
static inline uint64_t virtq_legacy_used_off(uint32_t num, uint64_t align)
{
	uint64_t end = 16ull * num + virtq_avail_size(num);
	return (end + align - 1) & ~(align - 1);
}

static inline uint64_t virtq_legacy_size(uint32_t num, uint64_t align)
{
	return virtq_legacy_used_off(num, align) + virtq_used_size(num);
}

/* EVENT_IDX: should an event be sent when idx moves from old to new_idx and
 * the other side asked for one at event_idx? (virtio-v1.2 2.7.10, all
 * arithmetic modulo 2^16). */
static inline int virtq_need_event(uint16_t event_idx, uint16_t new_idx, uint16_t old_idx)
{
	return (uint16_t)(new_idx - event_idx - 1) < (uint16_t)(new_idx - old_idx);
}

/* Interrupt status (ISR), virtio-v1.2 4.1.4.5 */
#define VIRTIO_ISR_QUEUE 0x1
#define VIRTIO_ISR_CONFIG 0x2

#define VIRTIO_MSI_NO_VECTOR 0xffff

/* PCI IDs, virtio-v1.2 4.1.2 */
#define VIRTIO_PCI_VENDOR 0x1af4
#define VIRTIO_PCI_DEVICE_LEGACY_BASE 0x1000 /* transitional IDs: table in 4.1.2.3 */
#define VIRTIO_PCI_DEVICE_MODERN_BASE 0x1040
#define VIRTIO_PCI_SUBSYS_VENDOR 0x1af4

/* Modern PCI capabilities, virtio-v1.2 4.1.4 */
#define VIRTIO_PCI_CAP_COMMON_CFG 1
#define VIRTIO_PCI_CAP_NOTIFY_CFG 2
#define VIRTIO_PCI_CAP_ISR_CFG 3
#define VIRTIO_PCI_CAP_DEVICE_CFG 4
#define VIRTIO_PCI_CAP_PCI_CFG 5
#define VIRTIO_PCI_CAP_SHARED_MEMORY_CFG 8
#define VIRTIO_PCI_CAP_VENDOR_CFG 9

/* struct virtio_pci_cap: cap_vndr, cap_next, cap_len, cfg_type, bar, id,
 * padding[2], offset (le32), length (le32); notify adds multiplier (le32);
 * pci_cfg adds pci_cfg_data[4]. */
#define VIRTIO_PCI_CAP_LEN 16
#define VIRTIO_PCI_NOTIFY_CAP_LEN 20
#define VIRTIO_PCI_CFG_CAP_LEN 20

/* Common configuration structure offsets, virtio-v1.2 4.1.4.3 */
#define VIRTIO_PCI_COMMON_DFSELECT 0
#define VIRTIO_PCI_COMMON_DF 4
#define VIRTIO_PCI_COMMON_GFSELECT 8
#define VIRTIO_PCI_COMMON_GF 12
#define VIRTIO_PCI_COMMON_MSIX 16
#define VIRTIO_PCI_COMMON_NUMQ 18
#define VIRTIO_PCI_COMMON_STATUS 20
#define VIRTIO_PCI_COMMON_CFGGENERATION 21
#define VIRTIO_PCI_COMMON_Q_SELECT 22
#define VIRTIO_PCI_COMMON_Q_SIZE 24
#define VIRTIO_PCI_COMMON_Q_MSIX 26
#define VIRTIO_PCI_COMMON_Q_ENABLE 28
#define VIRTIO_PCI_COMMON_Q_NOFF 30
#define VIRTIO_PCI_COMMON_Q_DESCLO 32
#define VIRTIO_PCI_COMMON_Q_DESCHI 36
#define VIRTIO_PCI_COMMON_Q_AVAILLO 40
#define VIRTIO_PCI_COMMON_Q_AVAILHI 44
#define VIRTIO_PCI_COMMON_Q_USEDLO 48
#define VIRTIO_PCI_COMMON_Q_USEDHI 52
#define VIRTIO_PCI_COMMON_Q_NDATA 56
#define VIRTIO_PCI_COMMON_Q_RESET 58
#define VIRTIO_PCI_COMMON_SIZE 60

/* Legacy PCI I/O BAR layout, virtio-v1.2 4.1.4.8 */
#define VIRTIO_PCI_LEGACY_HOST_FEATURES 0
#define VIRTIO_PCI_LEGACY_GUEST_FEATURES 4
#define VIRTIO_PCI_LEGACY_QUEUE_PFN 8
#define VIRTIO_PCI_LEGACY_QUEUE_NUM 12
#define VIRTIO_PCI_LEGACY_QUEUE_SEL 14
#define VIRTIO_PCI_LEGACY_QUEUE_NOTIFY 16
#define VIRTIO_PCI_LEGACY_STATUS 18
#define VIRTIO_PCI_LEGACY_ISR 19
#define VIRTIO_PCI_LEGACY_MSIX_CONFIG 20   /* only when MSI-X is enabled */
#define VIRTIO_PCI_LEGACY_MSIX_QUEUE 22    /* only when MSI-X is enabled */
#define VIRTIO_PCI_LEGACY_CONFIG_NOMSIX 20
#define VIRTIO_PCI_LEGACY_CONFIG_MSIX 24
#define VIRTIO_PCI_LEGACY_PFN_SHIFT 12
#define VIRTIO_PCI_LEGACY_ALIGN 4096

/* MMIO register layout, virtio-v1.2 4.2.2 (v2) and 4.2.4 (legacy v1) */
#define VIRTIO_MMIO_MAGIC_VALUE 0x000       /* "virt" = 0x74726976 */
#define VIRTIO_MMIO_VERSION 0x004
#define VIRTIO_MMIO_DEVICE_ID 0x008
#define VIRTIO_MMIO_VENDOR_ID 0x00c
#define VIRTIO_MMIO_DEVICE_FEATURES 0x010
#define VIRTIO_MMIO_DEVICE_FEATURES_SEL 0x014
#define VIRTIO_MMIO_DRIVER_FEATURES 0x020
#define VIRTIO_MMIO_DRIVER_FEATURES_SEL 0x024
#define VIRTIO_MMIO_GUEST_PAGE_SIZE 0x028   /* v1 only */
#define VIRTIO_MMIO_QUEUE_SEL 0x030
#define VIRTIO_MMIO_QUEUE_NUM_MAX 0x034
#define VIRTIO_MMIO_QUEUE_NUM 0x038
#define VIRTIO_MMIO_QUEUE_ALIGN 0x03c       /* v1 only */
#define VIRTIO_MMIO_QUEUE_PFN 0x040         /* v1 only */
#define VIRTIO_MMIO_QUEUE_READY 0x044       /* v2 only */
#define VIRTIO_MMIO_QUEUE_NOTIFY 0x050
#define VIRTIO_MMIO_INTERRUPT_STATUS 0x060
#define VIRTIO_MMIO_INTERRUPT_ACK 0x064
#define VIRTIO_MMIO_STATUS 0x070
#define VIRTIO_MMIO_QUEUE_DESC_LOW 0x080
#define VIRTIO_MMIO_QUEUE_DESC_HIGH 0x084
#define VIRTIO_MMIO_QUEUE_DRIVER_LOW 0x090
#define VIRTIO_MMIO_QUEUE_DRIVER_HIGH 0x094
#define VIRTIO_MMIO_QUEUE_DEVICE_LOW 0x0a0
#define VIRTIO_MMIO_QUEUE_DEVICE_HIGH 0x0a4
#define VIRTIO_MMIO_SHM_SEL 0x0ac
#define VIRTIO_MMIO_SHM_LEN_LOW 0x0b0
#define VIRTIO_MMIO_SHM_LEN_HIGH 0x0b4
#define VIRTIO_MMIO_SHM_BASE_LOW 0x0b8
#define VIRTIO_MMIO_SHM_BASE_HIGH 0x0bc
#define VIRTIO_MMIO_QUEUE_RESET 0x0c0
#define VIRTIO_MMIO_CONFIG_GENERATION 0x0fc
#define VIRTIO_MMIO_CONFIG 0x100
#define VIRTIO_MMIO_MAGIC 0x74726976u
#define VIRTIO_MMIO_VENDOR 0x554d4551u /* "QEMU", what Linux guests expect to see */
#define VIRTIO_MMIO_SIZE 0x200

/* PCI configuration space (PCI Local Bus 3.0) */
#define PCI_VENDOR_ID 0x00
#define PCI_DEVICE_ID 0x02
#define PCI_COMMAND 0x04
#define PCI_COMMAND_IO 0x1
#define PCI_COMMAND_MEMORY 0x2
#define PCI_COMMAND_MASTER 0x4
#define PCI_COMMAND_INTX_DISABLE 0x400
#define PCI_STATUS 0x06
#define PCI_STATUS_CAP_LIST 0x10
#define PCI_STATUS_INTERRUPT 0x08
#define PCI_REVISION_ID 0x08
#define PCI_CLASS_PROG 0x09
#define PCI_CLASS_DEVICE 0x0a
#define PCI_HEADER_TYPE 0x0e
#define PCI_BAR0 0x10
#define PCI_BAR_IO 0x1
#define PCI_BAR_MEM64 0x4
#define PCI_SUBSYSTEM_VENDOR_ID 0x2c
#define PCI_SUBSYSTEM_ID 0x2e
#define PCI_CAPABILITY_LIST 0x34
#define PCI_INTERRUPT_LINE 0x3c
#define PCI_INTERRUPT_PIN 0x3d
#define PCI_CAP_ID_MSIX 0x11
#define PCI_CAP_ID_VNDR 0x09
#define PCI_MSIX_FLAGS 2          /* offset of message control in the cap */
#define PCI_MSIX_FLAGS_QSIZE 0x07ff
#define PCI_MSIX_FLAGS_MASKALL 0x4000
#define PCI_MSIX_FLAGS_ENABLE 0x8000
#define PCI_MSIX_TABLE 4
#define PCI_MSIX_PBA 8
#define PCI_MSIX_CAP_LEN 12
#define PCI_MSIX_ENTRY_SIZE 16
#define PCI_MSIX_ENTRY_CTRL_MASKBIT 1
#define PCI_CONF1_ADDR_PORT 0xcf8
#define PCI_CONF1_DATA_PORT 0xcfc
#define PCI_CONF1_ENABLE 0x80000000u

#endif
