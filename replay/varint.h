/*
 * ringside — LEB128 varints and zigzag signed deltas for the trace encoding.
 *
 * An unsigned varint stores 7 bits per byte, least significant group first;
 * the top bit of a byte says another byte follows. A 64-bit value takes at
 * most VARINT_MAX bytes, and the last of ten bytes may only hold the one
 * remaining bit. Zigzag maps signed to unsigned so small magnitudes of either
 * sign stay short: 0, -1, 1, -2, ... -> 0, 1, 2, 3, ...
 */
#ifndef RINGSIDE_REPLAY_VARINT_H
#define RINGSIDE_REPLAY_VARINT_H

#include <stddef.h>
#include <stdint.h>

#define VARINT_MAX 10

/* Store v at p (room for VARINT_MAX bytes); returns the bytes written. */
static inline size_t varint_put(uint8_t *p, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

/* Outcome of varint_get. */
enum varint_status {
	VARINT_OK = 0,
	VARINT_SHORT = -1,   /* the buffer ends inside the varint */
	VARINT_LONG = -2,    /* more than ten bytes, or bits beyond 64 */
};

/* Load a varint from [*pp, end) into *v and advance *pp past it. Never reads
 * at or beyond end; *pp and *v are left alone on failure. */
static inline enum varint_status varint_get(const uint8_t **pp, const uint8_t *end,
					    uint64_t *v)
{
	const uint8_t *p = *pp;
	uint64_t r = 0;

	for (unsigned shift = 0;; shift += 7) {
		if (p == end)
			return VARINT_SHORT;
		uint8_t b = *p++;
		if (shift == 63 && b > 1)
			return VARINT_LONG; /* bits beyond 64, or an 11th byte to come */
		r |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*pp = p;
			*v = r;
			return VARINT_OK;
		}
	}
}

/* Zigzag over two's-complement bit patterns (all unsigned, no
 * implementation-defined conversions): the delta b - a of two uint64_t
 * values is zigzag_enc(b - a), and a + zigzag_dec(z) gives b back. */
static inline uint64_t zigzag_enc(uint64_t v)
{
	return (v << 1) ^ (0 - (v >> 63));
}

static inline uint64_t zigzag_dec(uint64_t u)
{
	return (u >> 1) ^ (0 - (u & 1));
}

#endif
