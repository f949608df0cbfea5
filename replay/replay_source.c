/*
 * ringside — the arena's replay source: a device's guest-memory reads are
 * served the bytes the trace recorded, and its writes are compared with the
 * recorded ones (see gm.h, docs/replay.md).
 *
 * The trace is consumed in order. A device read of len bytes at gpa must
 * match the next TEV_DMA_READ exactly (the recorder cuts reads above
 * TRACE_MAX_DATA into full pieces at consecutive addresses, which are taken
 * together); a read at another address or of another length is a
 * divergence and reads as zeroes. A device write must match the next
 * TEV_DMA_WRITE in place and bytes. The backing memory is kept up to date
 * with what was served and written, so the arena stays coherent for anyone
 * looking at it (a debugger, the guest side).
 */
#include <string.h>

#include "replay_priv.h"

/* True when ev is the next piece of a DMA of type at gpa with rest bytes to
 * go: exactly rest bytes, or a full TRACE_MAX_DATA piece of a longer one. */
static bool piece_ok(const struct trace_event *ev, enum trace_ev type, uint64_t gpa, size_t rest)
{
	return ev && ev->type == type && ev->addr == gpa && ev->len > 0 &&
	       (ev->len == rest || (ev->len == TRACE_MAX_DATA && rest > TRACE_MAX_DATA));
}

/* A device read: served the next recorded dma-read (or its pieces). */
static int rsrc_read(void *ctx, struct gm *gm, uint64_t gpa, uint8_t *host, void *dst, size_t len)
{
	struct rp *p = ctx;
	uint8_t *out = dst;
	size_t done = 0;

	rp_mix(p, 0xd0);
	rp_mix(p, gpa);
	rp_mix(p, len);
	while (done < len) {
		const struct trace_event *ev = rp_peek(p);

		if (!piece_ok(ev, TEV_DMA_READ, gpa + done, len - done)) {
			rp_diverge(p, ev && ev->type == TEV_DMA_READ ? RP_DIV_DMA_READ : RP_DIV_EXTRA,
				   ev, "device read %zu bytes at 0x%llx", len,
				   (unsigned long long)gpa);
			/* a recorded read at another place was this one: skip it */
			if (ev && ev->type == TEV_DMA_READ && done == 0)
				rp_consume(p);
			memset(out + done, 0, len - done);
			break;
		}
		memcpy(out + done, ev->data, ev->len);
		done += ev->len;
		rp_consume(p);
	}
	memcpy(host, out, len);
	return 0;
}

/* Offset of the first byte where a and b differ (n when equal). */
static size_t first_diff(const uint8_t *a, const uint8_t *b, size_t n)
{
	size_t i = 0;

	while (i < n && a[i] == b[i])
		i++;
	return i;
}

/* A device write: compared with the next recorded dma-write (or its pieces). */
static int rsrc_write(void *ctx, struct gm *gm, uint64_t gpa, uint8_t *host, const void *src,
		      size_t len)
{
	struct rp *p = ctx;
	const uint8_t *in = src;
	size_t done = 0;

	rp_mix(p, 0xd1);
	rp_mix(p, gpa);
	rp_mix(p, len);
	rp_mix_bytes(p, src, len);
	memcpy(host, src, len);
	while (done < len) {
		const struct trace_event *ev = rp_peek(p);
		size_t at;

		if (!piece_ok(ev, TEV_DMA_WRITE, gpa + done, len - done)) {
			rp_diverge(p, ev && ev->type == TEV_DMA_WRITE ? RP_DIV_DMA_WRITE
								       : RP_DIV_EXTRA,
				   ev, "device wrote %zu bytes at 0x%llx", len,
				   (unsigned long long)gpa);
			if (ev && ev->type == TEV_DMA_WRITE && done == 0)
				rp_consume(p);
			break;
		}
		at = first_diff(ev->data, in + done, ev->len);
		if (at < ev->len)
			rp_diverge(p, RP_DIV_DMA_WRITE, ev,
				   "device wrote %zu bytes at 0x%llx: byte %zu (0x%llx) is 0x%02x, "
				   "recorded 0x%02x",
				   len, (unsigned long long)gpa, done + at,
				   (unsigned long long)(gpa + done + at), in[done + at], ev->data[at]);
		done += ev->len;
		rp_consume(p);
	}
	return 0;
}

const struct gm_source_ops rp_source_ops = {
	.name = "replay",
	.read = rsrc_read,
	.write = rsrc_write,
	.direct = false,
};
