/*
 * ringside — small shared definitions: little-endian accessors, saturating
 * and checked arithmetic, error-return macro.
 *
 * Everything here is header-only and free of libc so the guest reference
 * driver (guest/) can use it in freestanding firmware.
 */
#ifndef RINGSIDE_BASE_H
#define RINGSIDE_BASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RS_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define RS_MIN(a, b) ((a) < (b) ? (a) : (b))
#define RS_MAX(a, b) ((a) > (b) ? (a) : (b))

#if defined(__GNUC__) || defined(__clang__)
#define RS_LIKELY(x) __builtin_expect(!!(x), 1)
#define RS_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define RS_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define RS_UNUSED __attribute__((unused))
#else
#define RS_LIKELY(x) (x)
#define RS_UNLIKELY(x) (x)
#define RS_PRINTF(f, a)
#define RS_UNUSED
#endif

/* Little-endian loads and stores on byte buffers (virtio 1.x is LE; legacy
 * is guest-native, which is LE on every guest ringside models). */
static inline uint16_t rs_le16(const void *p)
{
	const uint8_t *b = (const uint8_t *)p;
	return (uint16_t)(b[0] | (b[1] << 8));
}

static inline uint32_t rs_le32(const void *p)
{
	const uint8_t *b = (const uint8_t *)p;
	return (uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) |
	       ((uint32_t)b[3] << 24);
}

static inline uint64_t rs_le64(const void *p)
{
	const uint8_t *b = (const uint8_t *)p;
	return (uint64_t)rs_le32(b) | ((uint64_t)rs_le32(b + 4) << 32);
}

static inline void rs_st16(void *p, uint16_t v)
{
	uint8_t *b = (uint8_t *)p;
	b[0] = (uint8_t)v;
	b[1] = (uint8_t)(v >> 8);
}

static inline void rs_st32(void *p, uint32_t v)
{
	uint8_t *b = (uint8_t *)p;
	b[0] = (uint8_t)v;
	b[1] = (uint8_t)(v >> 8);
	b[2] = (uint8_t)(v >> 16);
	b[3] = (uint8_t)(v >> 24);
}

static inline void rs_st64(void *p, uint64_t v)
{
	rs_st32(p, (uint32_t)v);
	rs_st32((uint8_t *)p + 4, (uint32_t)(v >> 32));
}

/* Load/store of an n-byte (1, 2, 4 or 8) little-endian value. */
static inline uint64_t rs_ldn(const void *p, unsigned n)
{
	switch (n) {
	case 1: return *(const uint8_t *)p;
	case 2: return rs_le16(p);
	case 4: return rs_le32(p);
	default: return rs_le64(p);
	}
}

static inline void rs_stn(void *p, unsigned n, uint64_t v)
{
	switch (n) {
	case 1: *(uint8_t *)p = (uint8_t)v; break;
	case 2: rs_st16(p, (uint16_t)v); break;
	case 4: rs_st32(p, (uint32_t)v); break;
	default: rs_st64(p, v); break;
	}
}

/* a + b, or UINT64_MAX when it would wrap (libvfio-user's satadd_u64). */
static inline uint64_t rs_satadd_u64(uint64_t a, uint64_t b)
{
	return a + b < a ? UINT64_MAX : a + b;
}

/* True when [base, base+len) lies inside [lo, lo+size), computed without
 * overflow. An empty range (len 0) is inside if base is within [lo, lo+size]. */
static inline bool rs_range_within(uint64_t base, uint64_t len, uint64_t lo, uint64_t size)
{
	if (base < lo)
		return false;
	uint64_t off = base - lo;
	return off <= size && len <= size - off;
}

static inline bool rs_is_pow2(uint64_t v)
{
	return v != 0 && (v & (v - 1)) == 0;
}

#endif
