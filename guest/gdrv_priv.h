/*
 * ringside — reference driver internals shared by gdrv.c, gdrv_pci.c,
 * gdrv_mmio.c and gdrv_ring.c. No libc: byte helpers, barriers, guest
 * memory accessors and the per-transport primitives gdrv.c dispatches to.
 * Dispatch is a switch on d->transport, not a table of function pointers,
 * so the firmware build needs no relocated data.
 */
#ifndef RINGSIDE_GDRV_PRIV_H
#define RINGSIDE_GDRV_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ringside/guest.h"
#include "ringside/virtio.h"

/* Bounds on polling loops (the device is trusted to answer, but a broken
 * one must not hang the driver). */
#define GDRV_GEN_TRIES 16
/* Capability list walk: at most this many entries (virtio-v1.2 4.1.4). */
#define GDRV_CAP_STEPS 48

/* --- bytes ------------------------------------------------------------------------------- */

/* Set len bytes at p to zero. */
static inline void gdrv_memzero(void *p, size_t len)
{
	volatile uint8_t *b = p; /* volatile: keep the compiler from emitting memset */

	for (size_t i = 0; i < len; i++)
		b[i] = 0;
}

/* Copy len bytes from src to dst (no overlap). */
static inline void gdrv_memcpy(void *dst, const void *src, size_t len)
{
	volatile uint8_t *d = dst;
	const uint8_t *s = src;

	for (size_t i = 0; i < len; i++)
		d[i] = s[i];
}

static inline void gdrv_put16(uint8_t *b, uint16_t v)
{
	b[0] = (uint8_t)v;
	b[1] = (uint8_t)(v >> 8);
}

static inline void gdrv_put32(uint8_t *b, uint32_t v)
{
	gdrv_put16(b, (uint16_t)v);
	gdrv_put16(b + 2, (uint16_t)(v >> 16));
}

static inline void gdrv_put64(uint8_t *b, uint64_t v)
{
	gdrv_put32(b, (uint32_t)v);
	gdrv_put32(b + 4, (uint32_t)(v >> 32));
}

static inline uint16_t gdrv_get16(const uint8_t *b)
{
	return (uint16_t)(b[0] | (b[1] << 8));
}

static inline uint32_t gdrv_get32(const uint8_t *b)
{
	return (uint32_t)gdrv_get16(b) | ((uint32_t)gdrv_get16(b + 2) << 16);
}

/* --- barriers ---------------------------------------------------------------------------- */

/* Order the driver's ring stores before a later store that publishes them
 * (avail idx, packed head flags). Each call site names the device-side
 * acquire it pairs with. */
static inline void gdrv_wmb(void)
{
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

/* Order a load that observed a device publication (used idx, packed used
 * flags) before the loads of what it published. */
static inline void gdrv_rmb(void)
{
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
}

/* Full barrier: a store (avail idx, event index) before a load of the other
 * side's suppression state. */
static inline void gdrv_mb(void)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

/* --- guest memory (little-endian) --------------------------------------------------------- */

static inline uint16_t gdrv_mem_rd16(const struct gdrv_io *io, uint64_t gpa)
{
	uint8_t b[2];

	io->mem_read(io->ctx, gpa, b, sizeof b);
	return gdrv_get16(b);
}

static inline uint32_t gdrv_mem_rd32(const struct gdrv_io *io, uint64_t gpa)
{
	uint8_t b[4];

	io->mem_read(io->ctx, gpa, b, sizeof b);
	return gdrv_get32(b);
}

static inline void gdrv_mem_wr16(const struct gdrv_io *io, uint64_t gpa, uint16_t v)
{
	uint8_t b[2];

	gdrv_put16(b, v);
	io->mem_write(io->ctx, gpa, b, sizeof b);
}

/* --- helpers ----------------------------------------------------------------------------- */

static inline bool gdrv_is_pci(const struct gdrv_dev *d)
{
	return d->transport == GDRV_PCI_LEGACY || d->transport == GDRV_PCI_MODERN;
}

/* True on the legacy interfaces (PCI I/O BAR, MMIO version 1): 32 feature
 * bits, no FEATURES_OK, the contiguous ring layout (virtio-v1.2 2.7.2). */
static inline bool gdrv_is_legacy(const struct gdrv_dev *d)
{
	return d->transport == GDRV_PCI_LEGACY || d->transport == GDRV_MMIO_V1;
}

static inline bool gdrv_has(const struct gdrv_dev *d, unsigned bit)
{
	return (d->features >> bit) & 1;
}

/* --- transport primitives (gdrv_pci.c: PCI legacy and modern) ---------------------------- */

uint8_t gdrv_pci_get_status(struct gdrv_dev *d);
void gdrv_pci_set_status(struct gdrv_dev *d, uint8_t v);
uint64_t gdrv_pci_device_features(struct gdrv_dev *d);
void gdrv_pci_set_features(struct gdrv_dev *d, uint64_t f);
uint16_t gdrv_pci_queue_max(struct gdrv_dev *d, unsigned q);
/* Program vq's size and ring addresses and enable it; fills notify_addr.
 * Returns 0, or -1 when the device did not take it. */
int gdrv_pci_queue_program(struct gdrv_vq *vq);
void gdrv_pci_notify(struct gdrv_vq *vq);
uint8_t gdrv_pci_isr(struct gdrv_dev *d);
/* Device config access of size 1, 2 or 4. */
uint32_t gdrv_pci_cfg_get(struct gdrv_dev *d, unsigned off, unsigned size);
void gdrv_pci_cfg_set(struct gdrv_dev *d, unsigned off, unsigned size, uint32_t v);
uint32_t gdrv_pci_generation(struct gdrv_dev *d);
int gdrv_pci_enable_msix(struct gdrv_dev *d, uint64_t addr, uint32_t data_base);

/* --- transport primitives (gdrv_mmio.c: virtio-mmio v1 and v2) ---------------------------- */

uint8_t gdrv_mmio_get_status(struct gdrv_dev *d);
void gdrv_mmio_set_status(struct gdrv_dev *d, uint8_t v);
uint64_t gdrv_mmio_device_features(struct gdrv_dev *d);
void gdrv_mmio_set_features(struct gdrv_dev *d, uint64_t f);
uint16_t gdrv_mmio_queue_max(struct gdrv_dev *d, unsigned q);
int gdrv_mmio_queue_program(struct gdrv_vq *vq);
void gdrv_mmio_notify(struct gdrv_vq *vq);
uint8_t gdrv_mmio_isr(struct gdrv_dev *d);
uint32_t gdrv_mmio_cfg_get(struct gdrv_dev *d, unsigned off, unsigned size);
void gdrv_mmio_cfg_set(struct gdrv_dev *d, unsigned off, unsigned size, uint32_t v);
uint32_t gdrv_mmio_generation(struct gdrv_dev *d);

/* --- rings (gdrv_ring.c) ------------------------------------------------------------------ */

/* Allocate vq's ring memory (layout from vq->packed and the interface) and
 * reset its bookkeeping. vq->dev, idx, num, packed, event_idx are set.
 * Returns 0 or -1 (out of memory). */
int gdrv_ring_alloc(struct gdrv_vq *vq);

/* Notify the device of vq (gdrv.c: transport dispatch). */
void gdrv_notify(struct gdrv_vq *vq);

#endif
