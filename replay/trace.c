/*
 * ringside — the trace file: writer and reader.
 *
 * Layout (docs/trace-format.md has it byte by byte): a header, then frames
 * (our 32-byte frame header + one zstd frame of encoded events each), then at
 * close a frame index and a footer. Frames are independent: the delta bases
 * of the event encoding restart at every frame, so any frame decodes alone.
 *
 * The reader trusts nothing: every length is checked against the format's
 * limits and against the bytes the file really has before anything is
 * allocated or read, every header carries a CRC32C, every zstd frame its
 * content checksum, and a whole frame is decoded and validated before the
 * first of its events is handed out — so a damaged frame delivers nothing
 * and every frame before it delivers everything.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "trace_priv.h"
#include "varint.h"

/* zstd level of the writer: fast enough for a recorder, several times
 * smaller than the encoded events. */
#define TRACE_ZSTD_LEVEL 3
/* Largest zstd window a reader accepts: the largest frame it accepts. */
#define TRACE_ZSTD_WINDOW_LOG 24
/* Room an event needs besides its data: type, mask, five varints. */
#define TRACE_EV_OVERHEAD (2 + 5 * VARINT_MAX)

/* ---- errors and names ------------------------------------------------------- */

static const char *const err_names[] = {
	[TRACE_OK] = "TRACE_OK",
	[TRACE_E_IO] = "TRACE_E_IO",
	[TRACE_E_MAGIC] = "TRACE_E_MAGIC",
	[TRACE_E_VERSION] = "TRACE_E_VERSION",
	[TRACE_E_HEADER] = "TRACE_E_HEADER",
	[TRACE_E_TRUNCATED] = "TRACE_E_TRUNCATED",
	[TRACE_E_CHECKSUM] = "TRACE_E_CHECKSUM",
	[TRACE_E_FRAME] = "TRACE_E_FRAME",
	[TRACE_E_EVENT] = "TRACE_E_EVENT",
	[TRACE_E_LIMIT] = "TRACE_E_LIMIT",
	[TRACE_E_NOMEM] = "TRACE_E_NOMEM",
	[TRACE_E_INDEX] = "TRACE_E_INDEX",
	[TRACE_E_USAGE] = "TRACE_E_USAGE",
};

const char *trace_err_name(enum trace_err code)
{
	if ((unsigned)code < RS_ARRAY_SIZE(err_names))
		return err_names[code];
	return "TRACE_E_UNKNOWN";
}

static const char *const ev_names[TEV__MAX] = {
	[TEV_PIO_READ] = "pio-read",
	[TEV_PIO_WRITE] = "pio-write",
	[TEV_MMIO_READ] = "mmio-read",
	[TEV_MMIO_WRITE] = "mmio-write",
	[TEV_PCI_CFG_READ] = "pci-cfg-read",
	[TEV_PCI_CFG_WRITE] = "pci-cfg-write",
	[TEV_DMA_READ] = "dma-read",
	[TEV_DMA_WRITE] = "dma-write",
	[TEV_IRQ] = "irq",
	[TEV_MSI] = "msi",
	[TEV_WORLD] = "world",
	[TEV_CHECKPOINT] = "checkpoint",
};

static bool ev_known(unsigned type)
{
	return type >= TEV_PIO_READ && type < TEV__MAX;
}

const char *trace_ev_name(enum trace_ev type)
{
	return ev_known((unsigned)type) ? ev_names[type] : "unknown";
}

/* Fill *err (when not NULL): code, frame, offset, and "NAME: <text>" as one
 * line (control characters in the text become '?'). Returns -1. */
static int RS_PRINTF(5, 6) set_err(struct trace_error *err, enum trace_err code,
				   uint64_t frame, uint64_t off, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return -1;
	err->code = code;
	err->frame = frame;
	err->offset = off;
	int n = snprintf(err->msg, sizeof(err->msg), "%s: ", trace_err_name(code));
	va_start(ap, fmt);
	vsnprintf(err->msg + n, sizeof(err->msg) - (size_t)n, fmt, ap);
	va_end(ap);
	for (char *c = err->msg; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	return -1;
}

static void clear_err(struct trace_error *err)
{
	if (err)
		memset(err, 0, sizeof(*err));
}

/* ---- CRC32C ------------------------------------------------------------------- */

/* CRC32C of each 4-bit value, reflected: two lookups per byte. */
static const uint32_t crc32c_nibble[16] = {
	0x00000000, 0x105ec76f, 0x20bd8ede, 0x30e349b1, 0x417b1dbc, 0x5125dad3,
	0x61c69362, 0x7198540d, 0x82f63b78, 0x92a8fc17, 0xa24bb5a6, 0xb21572c9,
	0xc38d26c4, 0xd3d3e1ab, 0xe330a81a, 0xf36e6f75,
};

uint32_t trace_crc32c(const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint32_t crc = 0xffffffffu;

	for (size_t i = 0; i < len; i++) {
		crc ^= p[i];
		crc = (crc >> 4) ^ crc32c_nibble[crc & 15];
		crc = (crc >> 4) ^ crc32c_nibble[crc & 15];
	}
	return crc ^ 0xffffffffu;
}

/* ---- event encoding ----------------------------------------------------------- */

/*
 * Delta streams: an address is stored as the zigzag difference from the base
 * of its stream (the previous address of the same kind of event in this
 * frame; for DMA the end of the previous DMA, so sequential copies store 0).
 */
enum { ST_PIO, ST_MMIO, ST_PCI, ST_DMA, ST_IRQ, ST_MSI, ST_WORLD, ST_CHECKPOINT, ST__COUNT };

struct delta_state {
	uint64_t base[ST__COUNT];
};

/* Delta stream of a known event type. */
static unsigned stream_of(unsigned type)
{
	static const uint8_t map[TEV__MAX] = {
		[TEV_PIO_READ] = ST_PIO,   [TEV_PIO_WRITE] = ST_PIO,
		[TEV_MMIO_READ] = ST_MMIO, [TEV_MMIO_WRITE] = ST_MMIO,
		[TEV_PCI_CFG_READ] = ST_PCI, [TEV_PCI_CFG_WRITE] = ST_PCI,
		[TEV_DMA_READ] = ST_DMA,   [TEV_DMA_WRITE] = ST_DMA,
		[TEV_IRQ] = ST_IRQ,        [TEV_MSI] = ST_MSI,
		[TEV_WORLD] = ST_WORLD,    [TEV_CHECKPOINT] = ST_CHECKPOINT,
	};
	return map[type];
}

/* Advance the stream base past an event just encoded or decoded. */
static void delta_advance(struct delta_state *ds, const struct trace_event *ev)
{
	unsigned s = stream_of(ev->type);

	ds->base[s] = ev->addr + (s == ST_DMA ? ev->len : 0);
}

/* Size codes 0-4 stand for these sizes; 5 means a varint follows. */
static const uint32_t code_size[TRACE_SIZE_VARINT] = { 0, 1, 2, 4, 8 };

static unsigned size_code(uint32_t size)
{
	for (unsigned c = 0; c < TRACE_SIZE_VARINT; c++)
		if (code_size[c] == size)
			return c;
	return TRACE_SIZE_VARINT;
}

static bool is_access(unsigned type)
{
	return type >= TEV_PIO_READ && type <= TEV_PCI_CFG_WRITE;
}

static bool is_port(unsigned type)
{
	return type == TEV_PIO_READ || type == TEV_PIO_WRITE || type == TEV_PCI_CFG_READ ||
	       type == TEV_PCI_CFG_WRITE;
}

/* World inputs carry signed results (-errno): their value is zigzagged. */
static bool value_signed(unsigned type)
{
	return type == TEV_WORLD;
}

/* The rule a known-type event breaks, or NULL. Writer and reader share it. */
static const char *event_rule(const struct trace_event *ev)
{
	if (!is_access(ev->type))
		return NULL;
	if (ev->size != 1 && ev->size != 2 && ev->size != 4 && ev->size != 8)
		return "access size not 1, 2, 4 or 8";
	if (ev->size < 8 && ev->value >> (8 * ev->size))
		return "value wider than the access size";
	if (is_port(ev->type) && ev->addr > 0xffff)
		return "port above 0xffff";
	return NULL;
}

/* Encode ev (already validated) at p, which has room for TRACE_EV_OVERHEAD +
 * ev->len bytes. Returns the bytes written. */
static size_t encode_event(uint8_t *p, const struct trace_event *ev, struct delta_state *ds)
{
	uint8_t *start = p;
	unsigned sc = size_code(ev->size);
	uint64_t delta = ev->addr - ds->base[stream_of(ev->type)];
	uint8_t mask = 0;

	if (delta)
		mask |= TRACE_F_ADDR;
	if (ev->value)
		mask |= TRACE_F_VALUE;
	if (ev->dev)
		mask |= TRACE_F_DEV;
	if (ev->kind)
		mask |= TRACE_F_KIND;
	if (ev->len)
		mask |= TRACE_F_DATA;
	*p++ = (uint8_t)(ev->type | sc << TRACE_SIZE_SHIFT);
	*p++ = mask;
	if (sc == TRACE_SIZE_VARINT)
		p += varint_put(p, ev->size);
	if (mask & TRACE_F_ADDR)
		p += varint_put(p, zigzag_enc(delta));
	if (mask & TRACE_F_VALUE)
		p += varint_put(p, value_signed(ev->type) ? zigzag_enc(ev->value) : ev->value);
	if (mask & TRACE_F_DEV)
		p += varint_put(p, ev->dev);
	if (mask & TRACE_F_KIND)
		p += varint_put(p, ev->kind);
	if (mask & TRACE_F_DATA) {
		p += varint_put(p, ev->len);
		memcpy(p, ev->data, ev->len);
		p += ev->len;
	}
	delta_advance(ds, ev);
	return (size_t)(p - start);
}

/* Where a block being decoded sits, for error messages. */
struct block_where {
	uint64_t frame;
	uint64_t offset;        /* file offset of the frame header */
	uint64_t first;         /* index of the frame's first event */
};

/* Read one varint of an event; on failure set *why. */
static bool ev_varint(const uint8_t **p, const uint8_t *end, uint64_t *v, const char **why)
{
	enum varint_status st = varint_get(p, end, v);

	if (st == VARINT_OK)
		return true;
	*why = st == VARINT_SHORT ? "event cut short by the end of the frame"
				  : "varint longer than 10 bytes";
	return false;
}

/* A varint that must fit 32 bits. */
static bool ev_varint32(const uint8_t **p, const uint8_t *end, uint32_t *v, const char *field,
			const char **why)
{
	uint64_t x;

	if (!ev_varint(p, end, &x, why))
		return false;
	if (x > UINT32_MAX) {
		*why = field;
		return false;
	}
	*v = (uint32_t)x;
	return true;
}

/* Decode up to max events of a frame body; see trace_block_decode. */
static long decode_block(const uint8_t *raw, size_t len, struct trace_event *evs, size_t max,
			 size_t *used, const struct block_where *w, struct trace_error *err)
{
	struct delta_state ds = { { 0 } };
	const uint8_t *p = raw, *end = raw + len;
	size_t n = 0;
	char tmp[32];

	while (p < end && n < max) {
		const uint8_t *at = p;
		struct trace_event *ev = &evs[n];
		enum trace_err code = TRACE_E_EVENT;
		const char *why = NULL;
		uint64_t v;

		memset(ev, 0, sizeof(*ev));
		if (end - p < 2) {
			why = "event cut short by the end of the frame";
			goto bad;
		}
		unsigned type = p[0] & TRACE_TYPE_MASK, sc = p[0] >> TRACE_SIZE_SHIFT;
		unsigned mask = p[1];
		p += 2;
		if (!ev_known(type)) {
			snprintf(tmp, sizeof(tmp), "unknown event type %u", type);
			why = tmp;
			goto bad;
		}
		if (sc > TRACE_SIZE_VARINT) {
			why = "unknown size code";
			goto bad;
		}
		if (mask & TRACE_F_RESERVED) {
			why = "reserved field bits set";
			goto bad;
		}
		ev->type = (enum trace_ev)type;
		ev->size = sc < TRACE_SIZE_VARINT ? code_size[sc] : 0;
		if (sc == TRACE_SIZE_VARINT &&
		    !ev_varint32(&p, end, &ev->size, "size above 32 bits", &why))
			goto bad;
		ev->addr = ds.base[stream_of(type)];
		if (mask & TRACE_F_ADDR) {
			if (!ev_varint(&p, end, &v, &why))
				goto bad;
			ev->addr += zigzag_dec(v);
		}
		if (mask & TRACE_F_VALUE) {
			if (!ev_varint(&p, end, &v, &why))
				goto bad;
			ev->value = value_signed(type) ? zigzag_dec(v) : v;
		}
		if ((mask & TRACE_F_DEV) &&
		    !ev_varint32(&p, end, &ev->dev, "dev above 32 bits", &why))
			goto bad;
		if ((mask & TRACE_F_KIND) &&
		    !ev_varint32(&p, end, &ev->kind, "kind above 32 bits", &why))
			goto bad;
		if (mask & TRACE_F_DATA) {
			if (!ev_varint(&p, end, &v, &why))
				goto bad;
			if (v > TRACE_MAX_DATA) {
				code = TRACE_E_LIMIT;
				why = "data length above TRACE_MAX_DATA";
				goto bad;
			}
			if (v > (uint64_t)(end - p)) {
				why = "data runs past the end of the frame";
				goto bad;
			}
			ev->len = (uint32_t)v;
			ev->data = p;
			p += v;
		}
		why = event_rule(ev);
		if (why)
			goto bad;
		delta_advance(&ds, ev);
		n++;
		continue;
bad:
		return set_err(err, code, w->frame, w->offset,
			       "frame %llu at offset %llu: event %llu (byte %zu of the frame's "
			       "%zu): %s",
			       (unsigned long long)w->frame, (unsigned long long)w->offset,
			       (unsigned long long)(w->first + n), (size_t)(at - raw), len, why);
	}
	*used = (size_t)(p - raw);
	return (long)n;
}

long trace_block_decode(const uint8_t *raw, size_t len, struct trace_event *evs, size_t max,
			size_t *used, struct trace_error *err)
{
	static const struct block_where nowhere;

	if ((!raw && len) || (!evs && max) || !used)
		return set_err(err, TRACE_E_USAGE, 0, 0, "trace_block_decode: bad argument");
	if (!len) {
		*used = 0;
		return 0;
	}
	return decode_block(raw, len, evs, max, used, &nowhere, err);
}

/* ---- text form of an event ---------------------------------------------------- */

/* An snprintf-style string builder: len counts what the full text needs. */
struct sbuf {
	char *buf;
	size_t size;
	size_t len;
};

static void RS_PRINTF(2, 3) sb_printf(struct sbuf *sb, const char *fmt, ...)
{
	va_list ap;
	size_t room = sb->len < sb->size ? sb->size - sb->len : 0;

	va_start(ap, fmt);
	int n = vsnprintf(room ? sb->buf + sb->len : NULL, room, fmt, ap);
	va_end(ap);
	sb->len += n > 0 ? (size_t)n : 0;
}

/* ": xx xx ..." of the first 16 data bytes, " ..." when there are more. */
static void sb_hexdump(struct sbuf *sb, const struct trace_event *ev)
{
	uint32_t show = RS_MIN(ev->len, 16u);

	if (!ev->len || !ev->data)
		return;
	sb_printf(sb, ":");
	for (uint32_t i = 0; i < show; i++)
		sb_printf(sb, " %02x", ev->data[i]);
	if (show < ev->len)
		sb_printf(sb, " ...");
}

static const char *const clock_names[] = { "realtime", "monotonic" };
static const char *const io_names[] = { "read", "write", "flush", "discard",
					"write-zeroes", "size", "send" };
static const char *const wev_names[] = { "none", "net-rx", "console-in", "console-resize",
					 "balloon-target", "vmmci", "scsi-media", "scsi-params",
					 "host" };

/* Name i of a table, or NULL. */
static const char *name_of(const char *const *t, size_t n, uint64_t i)
{
	return i < n ? t[i] : NULL;
}

/* Fields a text form shows. */
enum { SH_SIZE = 1, SH_ADDR = 2, SH_VALUE = 4, SH_DEV = 8, SH_KIND = 16 };

/* TEV_WORLD kind layout (trace.h): bits 0-7 enum world_input, bits 8-15 the
 * io op of WIN_IO, bit 16 a continuation of the previous event's data. */
#define WK_INPUT(k) ((k) & 0xffu)
#define WK_OP(k) (((k) >> 8) & 0xffu)
#define WK_CONT 0x10000u
#define WK_KNOWN 0x1ffffu

/* A world input; returns the fields shown (a kind it cannot decode: only
 * the kind, the rest then shows raw). */
static unsigned sb_world(struct sbuf *sb, const struct trace_event *ev)
{
	const unsigned all = SH_SIZE | SH_ADDR | SH_VALUE | SH_DEV | SH_KIND;
	unsigned in = WK_INPUT(ev->kind), op = WK_OP(ev->kind);
	const char *n;

	if ((ev->kind & ~WK_KNOWN) || (op && in != 2))
		goto raw;
	if (ev->kind & WK_CONT) {
		sb_printf(sb, "world %s dev %u continued at 0x%llx",
			  in == 2 ? "io" : "input", ev->dev, (unsigned long long)ev->addr);
		return SH_ADDR | SH_DEV | SH_KIND;
	}
	switch (in) {
	case 0: /* WIN_ENTROPY */
		sb_printf(sb, "world entropy dev %u len %u -> %lld", ev->dev, ev->size,
			  (long long)ev->value);
		return all & ~SH_ADDR;
	case 1: /* WIN_CLOCK */
		n = name_of(clock_names, RS_ARRAY_SIZE(clock_names), ev->addr);
		if (!n)
			break;
		sb_printf(sb, "world clock %s %llu ns", n, (unsigned long long)ev->value);
		return SH_ADDR | SH_VALUE | SH_KIND;
	case 2: /* WIN_IO */
		n = name_of(io_names, RS_ARRAY_SIZE(io_names), op);
		if (!n)
			break;
		sb_printf(sb, "world io dev %u %s at 0x%llx len %u -> %lld", ev->dev, n,
			  (unsigned long long)ev->addr, ev->size, (long long)ev->value);
		return all;
	case 3: /* WIN_EVENT */
		n = name_of(wev_names, RS_ARRAY_SIZE(wev_names), ev->addr);
		if (!n)
			break;
		sb_printf(sb, "world event dev %u %s port %u arg %llu", ev->dev, n, ev->size,
			  (unsigned long long)ev->value);
		return all;
	}
raw:
	sb_printf(sb, "world kind 0x%x", ev->kind);
	return SH_KIND;
}

size_t trace_event_str(char *buf, size_t size, const struct trace_event *ev)
{
	struct sbuf sb = { buf, size, 0 };
	unsigned shown = 0, type = ev->type;

	if (size)
		buf[0] = '\0';
	if (is_access(type)) {
		int aw = is_port(type) ? 4 : 8, vw = (int)ev->size * 2;
		sb_printf(&sb, "%s 0x%0*llx %u 0x%0*llx", ev_names[type], aw,
			  (unsigned long long)ev->addr, ev->size, vw,
			  (unsigned long long)ev->value);
		shown = SH_SIZE | SH_ADDR | SH_VALUE;
		if (type == TEV_PCI_CFG_READ || type == TEV_PCI_CFG_WRITE) {
			sb_printf(&sb, " slot %u off 0x%03x", ev->dev, ev->kind);
			shown |= SH_DEV | SH_KIND;
		}
	} else if (type == TEV_DMA_READ || type == TEV_DMA_WRITE) {
		sb_printf(&sb, "%s 0x%08llx len %u", ev_names[type], (unsigned long long)ev->addr,
			  ev->len);
		shown = SH_ADDR;
	} else if (type == TEV_IRQ) {
		sb_printf(&sb, "irq gsi %llu level %llu", (unsigned long long)ev->addr,
			  (unsigned long long)ev->value);
		shown = SH_ADDR | SH_VALUE;
	} else if (type == TEV_MSI) {
		sb_printf(&sb, "msi 0x%08llx data 0x%04llx", (unsigned long long)ev->addr,
			  (unsigned long long)ev->value);
		shown = SH_ADDR | SH_VALUE;
	} else if (type == TEV_WORLD) {
		shown = sb_world(&sb, ev);
	} else if (type == TEV_CHECKPOINT) {
		sb_printf(&sb, "checkpoint dev %u hash 0x%016llx", ev->dev,
			  (unsigned long long)ev->value);
		shown = SH_DEV | SH_VALUE;
	} else {
		sb_printf(&sb, "unknown(%u)", type);
	}
	/* whatever the form does not show, shown raw so nothing is hidden */
	if (!(shown & SH_SIZE) && ev->size)
		sb_printf(&sb, " size=%u", ev->size);
	if (!(shown & SH_ADDR) && ev->addr)
		sb_printf(&sb, " addr=0x%llx", (unsigned long long)ev->addr);
	if (!(shown & SH_VALUE) && ev->value)
		sb_printf(&sb, " value=0x%llx", (unsigned long long)ev->value);
	if (!(shown & SH_DEV) && ev->dev)
		sb_printf(&sb, " dev=%u", ev->dev);
	if (!(shown & SH_KIND) && ev->kind)
		sb_printf(&sb, " kind=%u", ev->kind);
	if (ev->len && !(type == TEV_DMA_READ || type == TEV_DMA_WRITE))
		sb_printf(&sb, " data %u", ev->len);
	sb_hexdump(&sb, ev);
	return sb.len;
}

/* ---- writer ------------------------------------------------------------------- */

/* One frame of the index. */
struct idx_entry {
	uint64_t off;           /* file offset of the frame header */
	uint64_t first;         /* index of its first event */
	uint32_t count;         /* events */
	uint32_t raw;           /* uncompressed bytes */
};

struct trace_writer {
	int fd;
	char *path;             /* final name */
	char *tmp;              /* path.tmp, written until close */
	ZSTD_CCtx *cctx;
	uint8_t *raw;           /* encoded events of the open frame */
	size_t raw_len, raw_cap;
	uint8_t *out;           /* frame header + compressed frame */
	size_t out_cap;
	uint32_t frame_events;
	uint64_t events;        /* accepted so far */
	uint64_t pos;           /* file offset of the next frame */
	struct delta_state ds;
	struct idx_entry *idx;
	size_t idx_n, idx_cap;
	bool broken;            /* an I/O or allocation error: every call fails */
	struct trace_error err; /* ... with this */
};

/* Grow *buf to at least need bytes (doubling). 0 or -1. */
static int grow(uint8_t **buf, size_t *cap, size_t need)
{
	if (need <= *cap)
		return 0;
	size_t n = RS_MAX(need, *cap * 2);
	uint8_t *b = realloc(*buf, n);
	if (!b)
		return -1;
	*buf = b;
	*cap = n;
	return 0;
}

/* write(2) all of buf. 0 or -errno. */
static int write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Record a writer failure: sticky, so later calls report it again. */
static int w_fail(struct trace_writer *w, struct trace_error *err)
{
	w->broken = true;
	if (err)
		*err = w->err;
	return -1;
}

/* Write len bytes at the end of the temporary file. 0 or -1 (broken). */
static int w_out(struct trace_writer *w, const void *buf, size_t len, const char *what,
		 struct trace_error *err)
{
	int rc = write_all(w->fd, buf, len);

	if (rc) {
		set_err(&w->err, TRACE_E_IO, w->idx_n, w->pos, "%s: writing the %s: %s", w->tmp,
			what, strerror(-rc));
		return w_fail(w, err);
	}
	w->pos += len;
	return 0;
}

/* Compress and write the open frame (nothing when it is empty). 0 or -1. */
static int w_cut(struct trace_writer *w, struct trace_error *err)
{
	if (!w->frame_events)
		return 0;
	if (w->idx_n >= TRACE_MAX_FRAMES) {
		set_err(&w->err, TRACE_E_LIMIT, w->idx_n, w->pos, "%s: more than %u frames",
			w->tmp, TRACE_MAX_FRAMES);
		return w_fail(w, err);
	}
	size_t bound = ZSTD_compressBound(w->raw_len);
	if (w->idx_n == w->idx_cap) {
		size_t n = w->idx_cap ? w->idx_cap * 2 : 64;
		struct idx_entry *e = realloc(w->idx, n * sizeof(*e));
		if (!e)
			goto nomem;
		w->idx = e;
		w->idx_cap = n;
	}
	if (grow(&w->out, &w->out_cap, TRACE_FRAME_HDR + bound))
		goto nomem;
	size_t z = ZSTD_compress2(w->cctx, w->out + TRACE_FRAME_HDR, bound, w->raw, w->raw_len);
	if (ZSTD_isError(z)) {
		set_err(&w->err, TRACE_E_FRAME, w->idx_n, w->pos, "%s: zstd: %s", w->tmp,
			ZSTD_getErrorName(z));
		return w_fail(w, err);
	}
	uint64_t first = w->events - w->frame_events;
	uint8_t *h = w->out;
	memcpy(h, TRACE_FRAME_MAGIC, 4);
	rs_st32(h + 4, (uint32_t)z);
	rs_st32(h + 8, (uint32_t)w->raw_len);
	rs_st32(h + 12, w->frame_events);
	rs_st64(h + 16, first);
	rs_st32(h + 24, 0);
	rs_st32(h + 28, trace_crc32c(h, 28));
	w->idx[w->idx_n] = (struct idx_entry){ w->pos, first, w->frame_events,
					       (uint32_t)w->raw_len };
	if (w_out(w, h, TRACE_FRAME_HDR + z, "frame", err))
		return -1;
	w->idx_n++;
	w->raw_len = 0;
	w->frame_events = 0;
	memset(&w->ds, 0, sizeof(w->ds));
	return 0;
nomem:
	set_err(&w->err, TRACE_E_NOMEM, w->idx_n, w->pos, "%s: out of memory", w->tmp);
	return w_fail(w, err);
}

/* Close the file if open and free everything of w; the file stays. */
static void w_free(struct trace_writer *w)
{
	if (w->fd >= 0)
		close(w->fd);
	ZSTD_freeCCtx(w->cctx);
	free(w->raw);
	free(w->out);
	free(w->idx);
	free(w->path);
	free(w->tmp);
	free(w);
}

/* Serialize the header of h into a new buffer of *len bytes; NULL when out
 * of memory. The strings and world were validated by the caller. */
static uint8_t *header_bytes(const struct trace_header *h, size_t *len)
{
	size_t s = strlen(h->machine_spec), r = strlen(h->recorder), b = strlen(h->build);
	size_t n = TRACE_HDR_MIN + s + r + b + h->world_len;
	uint8_t *buf = malloc(n), *p;

	if (!buf)
		return NULL;
	memcpy(buf, TRACE_MAGIC, TRACE_MAGIC_LEN);
	rs_st32(buf + 8, TRACE_FORMAT_VERSION);
	rs_st32(buf + 12, (uint32_t)n);
	p = buf + TRACE_HDR_FIXED;
	rs_st16(p, (uint16_t)s);
	memcpy(p + 2, h->machine_spec, s);
	p += 2 + s;
	rs_st16(p, (uint16_t)r);
	memcpy(p + 2, h->recorder, r);
	p += 2 + r;
	rs_st16(p, (uint16_t)b);
	memcpy(p + 2, h->build, b);
	p += 2 + b;
	rs_st32(p, h->world_len);
	if (h->world_len)
		memcpy(p + 4, h->world, h->world_len);
	p += 4 + h->world_len;
	rs_st32(p, trace_crc32c(buf, n - 4));
	*len = n;
	return buf;
}

struct trace_writer *trace_writer_open(const char *path, const struct trace_header *h,
				       struct trace_error *err)
{
	struct trace_writer *w;
	uint8_t *hb;
	size_t hlen;

	clear_err(err);
	if (!path || !*path || !h) {
		set_err(err, TRACE_E_USAGE, 0, 0, "trace_writer_open: path or header missing");
		return NULL;
	}
	if (strnlen(h->machine_spec, sizeof(h->machine_spec)) == sizeof(h->machine_spec) ||
	    strnlen(h->recorder, sizeof(h->recorder)) == sizeof(h->recorder) ||
	    strnlen(h->build, sizeof(h->build)) == sizeof(h->build)) {
		set_err(err, TRACE_E_USAGE, 0, 0, "%s: header string not NUL-terminated", path);
		return NULL;
	}
	if (h->world_len > TRACE_MAX_WORLD) {
		set_err(err, TRACE_E_LIMIT, 0, 0, "%s: world state of %u bytes above the %u limit",
			path, h->world_len, TRACE_MAX_WORLD);
		return NULL;
	}
	if (h->world_len && !h->world) {
		set_err(err, TRACE_E_USAGE, 0, 0, "%s: world_len set but no world data", path);
		return NULL;
	}
	w = calloc(1, sizeof(*w));
	if (!w)
		goto nomem;
	w->fd = -1;
	w->path = strdup(path);
	w->tmp = malloc(strlen(path) + 5);
	w->cctx = ZSTD_createCCtx();
	if (!w->path || !w->tmp || !w->cctx)
		goto nomem_w;
	sprintf(w->tmp, "%s.tmp", path);
	/* zstd's content checksum (XXH64) in every frame; level fixed for
	 * determinism: the same events give the same bytes */
	ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_compressionLevel, TRACE_ZSTD_LEVEL);
	ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_checksumFlag, 1);
	ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_contentSizeFlag, 1);
	hb = header_bytes(h, &hlen);
	if (!hb)
		goto nomem_w;
	w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (w->fd < 0) {
		set_err(err, TRACE_E_IO, 0, 0, "%s: cannot create: %s", w->tmp, strerror(errno));
		free(hb);
		w_free(w);
		return NULL;
	}
	int rc = w_out(w, hb, hlen, "header", err);
	free(hb);
	if (rc) {
		trace_writer_abort(w);
		return NULL;
	}
	return w;
nomem_w:
	w_free(w);
nomem:
	set_err(err, TRACE_E_NOMEM, 0, 0, "%s: out of memory", path);
	return NULL;
}

uint64_t trace_writer_events(const struct trace_writer *w)
{
	return w ? w->events : 0;
}

int trace_write(struct trace_writer *w, const struct trace_event *ev, struct trace_error *err)
{
	const char *why;

	clear_err(err);
	if (!w || !ev)
		return set_err(err, TRACE_E_USAGE, 0, 0, "trace_write: no writer or event");
	if (w->broken)
		return w_fail(w, err);
	if (!ev_known((unsigned)ev->type))
		return set_err(err, TRACE_E_USAGE, w->idx_n, w->pos,
			       "%s: event %llu: unknown event type %u", w->tmp,
			       (unsigned long long)w->events, (unsigned)ev->type);
	if (ev->len > TRACE_MAX_DATA)
		return set_err(err, TRACE_E_LIMIT, w->idx_n, w->pos,
			       "%s: event %llu: %u data bytes, above TRACE_MAX_DATA", w->tmp,
			       (unsigned long long)w->events, ev->len);
	why = ev->len && !ev->data ? "len set but no data" : event_rule(ev);
	if (why)
		return set_err(err, TRACE_E_USAGE, w->idx_n, w->pos, "%s: event %llu (%s): %s",
			       w->tmp, (unsigned long long)w->events, ev_names[ev->type], why);
	if (grow(&w->raw, &w->raw_cap, w->raw_len + TRACE_EV_OVERHEAD + ev->len)) {
		set_err(&w->err, TRACE_E_NOMEM, w->idx_n, w->pos, "%s: out of memory", w->tmp);
		return w_fail(w, err);
	}
	w->raw_len += encode_event(w->raw + w->raw_len, ev, &w->ds);
	w->frame_events++;
	w->events++;
	if (w->frame_events >= TRACE_FRAME_EVENTS || w->raw_len >= TRACE_FRAME_BYTES)
		return w_cut(w, err);
	return 0;
}

int trace_writer_flush(struct trace_writer *w, struct trace_error *err)
{
	clear_err(err);
	if (!w)
		return set_err(err, TRACE_E_USAGE, 0, 0, "trace_writer_flush: no writer");
	if (w->broken)
		return w_fail(w, err);
	return w_cut(w, err);
}

/* Write the frame index and the footer after the last frame. 0 or -1. */
static int w_index(struct trace_writer *w, struct trace_error *err)
{
	size_t n = TRACE_INDEX_HDR + w->idx_n * TRACE_INDEX_ENTRY + 4;
	uint8_t *b = malloc(n), foot[TRACE_FOOTER];
	uint64_t at = w->pos;

	if (!b) {
		set_err(&w->err, TRACE_E_NOMEM, w->idx_n, w->pos, "%s: out of memory", w->tmp);
		return w_fail(w, err);
	}
	memcpy(b, TRACE_INDEX_MAGIC, 4);
	rs_st32(b + 4, 0);
	rs_st64(b + 8, w->idx_n);
	for (size_t i = 0; i < w->idx_n; i++) {
		uint8_t *e = b + TRACE_INDEX_HDR + i * TRACE_INDEX_ENTRY;
		rs_st64(e, w->idx[i].off);
		rs_st64(e + 8, w->idx[i].first);
		rs_st32(e + 16, w->idx[i].count);
		rs_st32(e + 20, w->idx[i].raw);
	}
	rs_st32(b + n - 4, trace_crc32c(b, n - 4));
	int rc = w_out(w, b, n, "frame index", err);
	free(b);
	if (rc)
		return -1;
	rs_st64(foot, at);
	rs_st64(foot + 8, w->idx_n);
	rs_st64(foot + 16, w->events);
	rs_st32(foot + 24, trace_crc32c(foot, 24));
	memcpy(foot + 28, TRACE_FOOTER_MAGIC, 4);
	return w_out(w, foot, sizeof(foot), "footer", err);
}

/* fsync the directory holding path, so the rename is durable. Best effort:
 * some file systems refuse fsync on directories. */
static void sync_dir(const char *path)
{
	char *dir = strdup(path);
	char *slash = dir ? strrchr(dir, '/') : NULL;
	int fd;

	if (!dir)
		return;
	if (slash)
		*(slash == dir ? slash + 1 : slash) = '\0';
	fd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
	free(dir);
}

int trace_writer_close(struct trace_writer *w, struct trace_error *err)
{
	clear_err(err);
	if (!w)
		return set_err(err, TRACE_E_USAGE, 0, 0, "trace_writer_close: no writer");
	if (w->broken || w_cut(w, err) || w_index(w, err))
		goto fail;
	int rc = fsync(w->fd);
	if (close(w->fd))
		rc = -1;
	w->fd = -1;
	if (rc) {
		set_err(err, TRACE_E_IO, w->idx_n, w->pos, "%s: sync: %s", w->tmp, strerror(errno));
		goto fail;
	}
	if (rename(w->tmp, w->path)) {
		set_err(err, TRACE_E_IO, w->idx_n, w->pos, "%s: rename to %s: %s", w->tmp, w->path,
			strerror(errno));
		goto fail;
	}
	sync_dir(w->path);
	w_free(w);
	return 0;
fail:
	if (w->broken && err)
		*err = w->err;
	trace_writer_abort(w);
	return -1;
}

void trace_writer_abort(struct trace_writer *w)
{
	if (!w)
		return;
	unlink(w->tmp);
	w_free(w);
}

/* ---- reader ------------------------------------------------------------------- */

enum rd_state { RD_READING, RD_END, RD_FAILED };
enum idx_state { IDX_UNKNOWN, IDX_VALID, IDX_DAMAGED };

struct trace_reader {
	int fd;                 /* -1 for a memory reader */
	const uint8_t *mem;     /* memory reader: the whole file */
	uint64_t size;          /* file size, fixed at open */
	unsigned flags;         /* TRACE_RD_* */
	struct trace_header h;
	uint64_t hdr_len;
	ZSTD_DCtx *dctx;

	/* position */
	uint64_t pos;           /* file offset of the next frame */
	uint64_t frame_no;      /* number of the next frame */
	uint64_t expect_first;  /* index the next frame's first event must have */
	enum rd_state state;
	struct trace_error err; /* RD_FAILED: the error, repeated on every read */

	/* the decoded frame */
	struct trace_event *evs;
	size_t evs_cap;
	uint32_t ev_n, ev_i;
	uint8_t *zbuf;          /* file reader: compressed bytes */
	size_t zcap;
	uint8_t *raw;           /* uncompressed bytes; evs[].data point here */
	size_t raw_cap;

	/* frame index, loaded when first needed */
	enum idx_state idx_state;
	struct trace_error idx_err;
	struct idx_entry *idx;
	uint64_t idx_n, idx_off, idx_events;

	/* statistics */
	uint64_t frames, raw_bytes, zstd_bytes, delivered;
};

/* Bytes [off, off + len) of the file, which the caller checked lie inside
 * it: a pointer into the memory reader's buffer, or read into buf (len
 * bytes of room). 0 or -1 (TRACE_E_IO naming frame). */
static int rd_bytes(struct trace_reader *r, uint64_t off, size_t len, uint8_t *buf,
		    const uint8_t **out, uint64_t frame, struct trace_error *err)
{
	size_t done = 0;

	if (r->mem) {
		*out = r->mem + off;
		return 0;
	}
	while (done < len) {
		ssize_t n = pread(r->fd, buf + done, len - done, (off_t)(off + done));
		if (n <= 0)
			return set_err(err, TRACE_E_IO, frame, off + done,
				       "read at offset %llu: %s", (unsigned long long)(off + done),
				       n ? strerror(errno) : "file shrank while open");
		done += (size_t)n;
	}
	*out = buf;
	return 0;
}

/* Whether a stored CRC32C matches len bytes at p (always, when fuzzing). */
static bool crc_ok(const struct trace_reader *r, const uint8_t *p, size_t len, uint32_t stored)
{
	return (r->flags & TRACE_RD_NO_CHECKSUM) || trace_crc32c(p, len) == stored;
}

/* Header field cursor: the next n bytes before the checksum, or NULL. */
static const uint8_t *hdr_take(const uint8_t *b, uint64_t hlen, uint64_t *at, uint64_t n)
{
	const uint8_t *p = b + *at;

	if (!rs_range_within(*at, n, 0, hlen - 4))
		return NULL;
	*at += n;
	return p;
}

/* One length-prefixed header string (lw: 2-byte length) into dst of cap
 * bytes (cap - 1 is the limit). 0 or -1. */
static int hdr_string(const uint8_t *b, uint64_t hlen, uint64_t *at, char *dst, size_t cap,
		      const char *what, struct trace_error *err)
{
	uint64_t field = *at;
	const uint8_t *p = hdr_take(b, hlen, at, 2);

	if (!p)
		return set_err(err, TRACE_E_HEADER, 0, field,
			       "header at offset %llu: %s length runs past the header end",
			       (unsigned long long)field, what);
	uint16_t n = rs_le16(p);
	if (n > cap - 1)
		return set_err(err, TRACE_E_LIMIT, 0, field,
			       "header at offset %llu: %s of %u bytes, the limit is %zu",
			       (unsigned long long)field, what, n, cap - 1);
	p = hdr_take(b, hlen, at, n);
	if (!p)
		return set_err(err, TRACE_E_HEADER, 0, field,
			       "header at offset %llu: %s of %u bytes runs past the header end",
			       (unsigned long long)field, what, n);
	if (memchr(p, 0, n))
		return set_err(err, TRACE_E_HEADER, 0, field,
			       "header at offset %llu: NUL byte inside the %s",
			       (unsigned long long)field, what);
	memcpy(dst, p, n);
	dst[n] = '\0';
	return 0;
}

/* Read and validate the header; fills r->h and r->hdr_len. 0 or -1. */
static int read_header(struct trace_reader *r, struct trace_error *err)
{
	uint8_t fixed[TRACE_HDR_FIXED];
	const uint8_t *f = NULL, *b = NULL; /* out-params of rd_bytes */
	uint8_t *buf = NULL;
	size_t have = (size_t)RS_MIN(r->size, (uint64_t)TRACE_HDR_FIXED);
	int rc = -1;

	if (rd_bytes(r, 0, have, fixed, &f, 0, err))
		return -1;
	if (memcmp(f, TRACE_MAGIC, RS_MIN(have, (size_t)TRACE_MAGIC_LEN)))
		return set_err(err, TRACE_E_MAGIC, 0, 0, "not a ringside trace (bad magic)");
	if (have < TRACE_HDR_FIXED)
		return set_err(err, TRACE_E_TRUNCATED, 0, have,
			       "header at offset 0: file ends after %zu bytes", have);
	uint32_t version = rs_le32(f + 8), hlen = rs_le32(f + 12);
	if (version != TRACE_FORMAT_VERSION)
		return set_err(err, TRACE_E_VERSION, 0, 8,
			       "header at offset 8: format version %u, this build reads %u",
			       version, TRACE_FORMAT_VERSION);
	if (hlen < TRACE_HDR_MIN)
		return set_err(err, TRACE_E_HEADER, 0, 12,
			       "header at offset 12: header length %u below the minimum %u", hlen,
			       TRACE_HDR_MIN);
	if (hlen > TRACE_HDR_MAX)
		return set_err(err, TRACE_E_LIMIT, 0, 12,
			       "header at offset 12: header length %u above the limit %u", hlen,
			       (unsigned)TRACE_HDR_MAX);
	if (hlen > r->size)
		return set_err(err, TRACE_E_TRUNCATED, 0, r->size,
			       "header at offset 0: file ends after %llu of the %u header bytes",
			       (unsigned long long)r->size, hlen);
	if (!r->mem && !(buf = malloc(hlen)))
		return set_err(err, TRACE_E_NOMEM, 0, 0, "out of memory for a %u-byte header",
			       hlen);
	if (rd_bytes(r, 0, hlen, buf, &b, 0, err))
		goto out;
	if (!crc_ok(r, b, hlen - 4, rs_le32(b + hlen - 4))) {
		set_err(err, TRACE_E_CHECKSUM, 0, hlen - 4,
			"header at offset %u: header checksum mismatch", hlen - 4);
		goto out;
	}
	uint64_t at = TRACE_HDR_FIXED;
	if (hdr_string(b, hlen, &at, r->h.machine_spec, sizeof(r->h.machine_spec),
		       "machine spec", err) ||
	    hdr_string(b, hlen, &at, r->h.recorder, sizeof(r->h.recorder), "recorder", err) ||
	    hdr_string(b, hlen, &at, r->h.build, sizeof(r->h.build), "build identity", err))
		goto out;
	uint64_t field = at;
	const uint8_t *p = hdr_take(b, hlen, &at, 4);
	if (!p) {
		set_err(err, TRACE_E_HEADER, 0, field,
			"header at offset %llu: world length runs past the header end",
			(unsigned long long)field);
		goto out;
	}
	uint32_t wlen = rs_le32(p);
	if (wlen > TRACE_MAX_WORLD) {
		set_err(err, TRACE_E_LIMIT, 0, field,
			"header at offset %llu: world state of %u bytes, the limit is %u",
			(unsigned long long)field, wlen, TRACE_MAX_WORLD);
		goto out;
	}
	p = hdr_take(b, hlen, &at, wlen);
	if (!p || at != hlen - 4) {
		set_err(err, TRACE_E_HEADER, 0, field,
			"header at offset %llu: fields (world state %u bytes) do not fill the "
			"%u-byte header",
			(unsigned long long)field, wlen, hlen);
		goto out;
	}
	if (wlen) {
		r->h.world = malloc(wlen);
		if (!r->h.world) {
			set_err(err, TRACE_E_NOMEM, 0, field, "out of memory for the world state");
			goto out;
		}
		memcpy(r->h.world, p, wlen);
	}
	r->h.world_len = wlen;
	r->h.version = version;
	r->hdr_len = hlen;
	rc = 0;
out:
	free(buf);
	return rc;
}

/*
 * The file has no footer. at: where the sequential reader met the index
 * magic (the file was cut inside the index or footer: TRACE_E_TRUNCATED, or
 * the footer is gone: TRACE_E_INDEX), or UINT64_MAX for a seek (no index:
 * TRACE_E_INDEX). Returns -1.
 */
static int no_footer(struct trace_reader *r, uint64_t at, struct trace_error *err)
{
	const uint64_t size = r->size;
	uint8_t ib[TRACE_INDEX_HDR];
	const uint8_t *b = NULL;

	if (at == UINT64_MAX)
		return set_err(err, TRACE_E_INDEX, r->frame_no, size,
			       "no frame index (the trace was not closed): cannot seek");
	if (size - at >= TRACE_INDEX_HDR) {
		if (rd_bytes(r, at, TRACE_INDEX_HDR, ib, &b, r->frame_no, err))
			return -1;
		uint64_t n = rs_le64(b + 8);
		if (n <= (size - at) / TRACE_INDEX_ENTRY &&
		    size - at >= TRACE_INDEX_HDR + n * TRACE_INDEX_ENTRY + 4 + TRACE_FOOTER)
			return set_err(err, TRACE_E_INDEX, r->frame_no, at,
				       "frame index at offset %llu: no footer at the end of the "
				       "file",
				       (unsigned long long)at);
	}
	return set_err(err, TRACE_E_TRUNCATED, r->frame_no, at,
		       "frame index at offset %llu: file ends inside the index or footer",
		       (unsigned long long)at);
}

/*
 * Load and check the frame index and footer (once the footer is found, the
 * verdict is kept). at: where the sequential reader met the index magic, or
 * UINT64_MAX (a seek). A file ending inside the index is TRACE_E_TRUNCATED,
 * everything else wrong TRACE_E_INDEX. 0 or -1.
 */
static int load_index(struct trace_reader *r, uint64_t at, struct trace_error *err)
{
	const uint64_t hdr = r->hdr_len, size = r->size;
	uint8_t fb[TRACE_FOOTER];
	const uint8_t *f = NULL, *b = NULL;
	uint8_t *buf = NULL;
	struct trace_error *e = &r->idx_err;

	if (r->idx_state == IDX_VALID)
		return 0;
	if (r->idx_state == IDX_DAMAGED)
		goto failed;
	if (size - hdr < TRACE_INDEX_HDR + 4 + TRACE_FOOTER)
		return no_footer(r, at, err);
	if (rd_bytes(r, size - TRACE_FOOTER, TRACE_FOOTER, fb, &f, r->frame_no, err))
		return -1;
	if (memcmp(f + 28, TRACE_FOOTER_MAGIC, 4))
		return no_footer(r, at, err);
	uint64_t foot = size - TRACE_FOOTER;
	if (!crc_ok(r, f, 24, rs_le32(f + 24))) {
		set_err(e, TRACE_E_INDEX, r->frame_no, foot,
			"footer at offset %llu: checksum mismatch", (unsigned long long)foot);
		goto damaged;
	}
	uint64_t ioff = rs_le64(f), n = rs_le64(f + 8), events = rs_le64(f + 16);
	if (ioff < hdr || ioff > foot || n > (foot - ioff) / TRACE_INDEX_ENTRY ||
	    n > TRACE_MAX_FRAMES || foot - ioff != TRACE_INDEX_HDR + n * TRACE_INDEX_ENTRY + 4) {
		set_err(e, TRACE_E_INDEX, r->frame_no, foot,
			"footer at offset %llu: index offset %llu and %llu frames do not fit the "
			"file",
			(unsigned long long)foot, (unsigned long long)ioff, (unsigned long long)n);
		goto damaged;
	}
	size_t blen = (size_t)(foot - ioff);
	if (!r->mem && !(buf = malloc(blen))) {
		set_err(e, TRACE_E_NOMEM, r->frame_no, ioff, "out of memory for the frame index");
		goto damaged;
	}
	if (rd_bytes(r, ioff, blen, buf, &b, r->frame_no, e))
		goto damaged;
	if (memcmp(b, TRACE_INDEX_MAGIC, 4) || rs_le32(b + 4) || rs_le64(b + 8) != n ||
	    !crc_ok(r, b, blen - 4, rs_le32(b + blen - 4))) {
		set_err(e, TRACE_E_INDEX, r->frame_no, ioff,
			"frame index at offset %llu: bad magic, count or checksum",
			(unsigned long long)ioff);
		goto damaged;
	}
	r->idx = n ? malloc(n * sizeof(*r->idx)) : NULL;
	if (n && !r->idx) {
		set_err(e, TRACE_E_NOMEM, r->frame_no, ioff, "out of memory for the frame index");
		goto damaged;
	}
	uint64_t next_off = hdr, next_first = 0;
	for (uint64_t i = 0; i < n; i++) {
		const uint8_t *p = b + TRACE_INDEX_HDR + i * TRACE_INDEX_ENTRY;
		struct idx_entry *x = &r->idx[i];
		x->off = rs_le64(p);
		x->first = rs_le64(p + 8);
		x->count = rs_le32(p + 16);
		x->raw = rs_le32(p + 20);
		/* frames in file order, back to back in event numbering, each at
		 * least a frame header long, all before the index */
		if (x->off < next_off || (i == 0 && x->off != hdr) || x->first != next_first ||
		    !x->count || x->count > TRACE_MAX_FRAME_EVENTS ||
		    x->raw > TRACE_MAX_FRAME_RAW ||
		    !rs_range_within(x->off, TRACE_FRAME_HDR, 0, ioff)) {
			set_err(e, TRACE_E_INDEX, r->frame_no, ioff,
				"frame index at offset %llu: entry %llu is inconsistent",
				(unsigned long long)ioff, (unsigned long long)i);
			goto damaged;
		}
		next_off = x->off + TRACE_FRAME_HDR;
		next_first += x->count;
	}
	if (next_first != events || (!n && ioff != hdr)) {
		set_err(e, TRACE_E_INDEX, r->frame_no, ioff,
			"frame index at offset %llu: %llu events listed, the footer says %llu",
			(unsigned long long)ioff, (unsigned long long)next_first,
			(unsigned long long)events);
		goto damaged;
	}
	free(buf);
	r->idx_n = n;
	r->idx_off = ioff;
	r->idx_events = events;
	r->idx_state = IDX_VALID;
	return 0;
damaged:
	free(buf);
	free(r->idx);
	r->idx = NULL;
	r->idx_state = IDX_DAMAGED;
failed:
	if (err)
		*err = r->idx_err;
	return -1;
}

/* The sequential reader met the index magic at off: the end, if the index
 * agrees with the frames read. 0 (r->state = RD_END) or -1. */
static int end_at_index(struct trace_reader *r, uint64_t off, struct trace_error *err)
{
	if (load_index(r, off, err))
		return -1;
	if (r->idx_off != off || r->idx_n != r->frame_no || r->idx_events != r->expect_first)
		return set_err(err, TRACE_E_INDEX, r->frame_no, off,
			       "frame index at offset %llu: lists %llu frames, %llu events at "
			       "offset %llu; the file has %llu frames, %llu events",
			       (unsigned long long)off, (unsigned long long)r->idx_n,
			       (unsigned long long)r->idx_events, (unsigned long long)r->idx_off,
			       (unsigned long long)r->frame_no,
			       (unsigned long long)r->expect_first);
	r->state = RD_END;
	return 0;
}

/* Decompress one zstd frame of csize bytes at z into r->raw (rsize bytes,
 * as our frame header says). 0 or -1. */
static int inflate_frame(struct trace_reader *r, const uint8_t *z, uint32_t csize,
			 uint32_t rsize, uint64_t fno, uint64_t off, struct trace_error *err)
{
	unsigned long long fcs = ZSTD_getFrameContentSize(z, csize);
	size_t flen = ZSTD_findFrameCompressedSize(z, csize);

	if (fcs == ZSTD_CONTENTSIZE_ERROR || ZSTD_isError(flen))
		return set_err(err, TRACE_E_FRAME, fno, off,
			       "frame %llu at offset %llu: payload is not a zstd frame",
			       (unsigned long long)fno, (unsigned long long)off);
	if (fcs != rsize || flen != csize)
		return set_err(err, TRACE_E_FRAME, fno, off,
			       "frame %llu at offset %llu: zstd frame of %zu bytes holding %lld, "
			       "the header says %u holding %u",
			       (unsigned long long)fno, (unsigned long long)off, flen,
			       fcs == ZSTD_CONTENTSIZE_UNKNOWN ? -1 : (long long)fcs, csize, rsize);
	if (grow(&r->raw, &r->raw_cap, rsize))
		return set_err(err, TRACE_E_NOMEM, fno, off, "out of memory for frame %llu",
			       (unsigned long long)fno);
	size_t n = ZSTD_decompressDCtx(r->dctx, r->raw, rsize, z, csize);
	if (ZSTD_isError(n) || n != rsize) { /* zstd enforces n == content size */
		bool sum = ZSTD_getErrorCode(n) == ZSTD_error_checksum_wrong;
		return set_err(err, sum ? TRACE_E_CHECKSUM : TRACE_E_FRAME, fno, off,
			       "frame %llu at offset %llu: zstd: %s", (unsigned long long)fno,
			       (unsigned long long)off, ZSTD_getErrorName(n));
	}
	return 0;
}

/* Load the frame at r->pos: check it whole, decode every event into
 * r->evs. At the index: end of the trace (r->state = RD_END). 0 or -1. */
static int load_frame(struct trace_reader *r, struct trace_error *err)
{
	const uint64_t off = r->pos, fno = r->frame_no, left = r->size - off;
	uint8_t hb[TRACE_FRAME_HDR];
	const uint8_t *h = NULL, *z = NULL;

	if (left < 4)
		return set_err(err, TRACE_E_TRUNCATED, fno, off,
			       "frame %llu at offset %llu: file ends inside the frame header",
			       (unsigned long long)fno, (unsigned long long)off);
	if (rd_bytes(r, off, (size_t)RS_MIN(left, (uint64_t)TRACE_FRAME_HDR), hb, &h, fno, err))
		return -1;
	if (!memcmp(h, TRACE_INDEX_MAGIC, 4))
		return end_at_index(r, off, err);
	if (memcmp(h, TRACE_FRAME_MAGIC, 4))
		return set_err(err, TRACE_E_FRAME, fno, off,
			       "frame %llu at offset %llu: no frame magic (%02x %02x %02x %02x)",
			       (unsigned long long)fno, (unsigned long long)off, h[0], h[1], h[2],
			       h[3]);
	if (left < TRACE_FRAME_HDR)
		return set_err(err, TRACE_E_TRUNCATED, fno, off,
			       "frame %llu at offset %llu: file ends inside the frame header",
			       (unsigned long long)fno, (unsigned long long)off);
	if (!crc_ok(r, h, 28, rs_le32(h + 28)))
		return set_err(err, TRACE_E_CHECKSUM, fno, off,
			       "frame %llu at offset %llu: frame header checksum mismatch",
			       (unsigned long long)fno, (unsigned long long)off);
	uint32_t csize = rs_le32(h + 4), rsize = rs_le32(h + 8), count = rs_le32(h + 12);
	uint64_t first = rs_le64(h + 16);
	if (rs_le32(h + 24))
		return set_err(err, TRACE_E_FRAME, fno, off,
			       "frame %llu at offset %llu: reserved field not zero",
			       (unsigned long long)fno, (unsigned long long)off);
	if (rsize > TRACE_MAX_FRAME_RAW || csize > ZSTD_COMPRESSBOUND(TRACE_MAX_FRAME_RAW) ||
	    count > TRACE_MAX_FRAME_EVENTS)
		return set_err(err, TRACE_E_LIMIT, fno, off,
			       "frame %llu at offset %llu: %u events in %u bytes (%u compressed) "
			       "exceed the limits",
			       (unsigned long long)fno, (unsigned long long)off, count, rsize,
			       csize);
	if (!count || count > rsize / 2 || first != r->expect_first)
		return set_err(err, TRACE_E_FRAME, fno, off,
			       "frame %llu at offset %llu: %u events from event %llu in %u bytes; "
			       "expected events from %llu, two bytes each at least",
			       (unsigned long long)fno, (unsigned long long)off, count,
			       (unsigned long long)first, rsize,
			       (unsigned long long)r->expect_first);
	if (csize > left - TRACE_FRAME_HDR)
		return set_err(err, TRACE_E_TRUNCATED, fno, off,
			       "frame %llu at offset %llu: file ends %llu bytes into the %u-byte "
			       "frame",
			       (unsigned long long)fno, (unsigned long long)off,
			       (unsigned long long)left, TRACE_FRAME_HDR + csize);
	if (!r->mem && grow(&r->zbuf, &r->zcap, csize))
		return set_err(err, TRACE_E_NOMEM, fno, off, "out of memory for frame %llu",
			       (unsigned long long)fno);
	if (rd_bytes(r, off + TRACE_FRAME_HDR, csize, r->zbuf, &z, fno, err) ||
	    inflate_frame(r, z, csize, rsize, fno, off, err))
		return -1;
	if (count > r->evs_cap) {
		struct trace_event *e = realloc(r->evs, count * sizeof(*e));
		if (!e)
			return set_err(err, TRACE_E_NOMEM, fno, off, "out of memory for frame %llu",
				       (unsigned long long)fno);
		r->evs = e;
		r->evs_cap = count;
	}
	struct block_where w = { fno, off, first };
	size_t used;
	long n = decode_block(r->raw, rsize, r->evs, count, &used, &w, err);
	if (n < 0)
		return -1;
	if ((uint64_t)n != count || used != rsize)
		return set_err(err, TRACE_E_EVENT, fno, off,
			       "frame %llu at offset %llu: %ld events in %zu of %u bytes, the "
			       "header says %u events",
			       (unsigned long long)fno, (unsigned long long)off, n, used, rsize,
			       count);
	r->ev_n = count;
	r->ev_i = 0;
	r->pos = off + TRACE_FRAME_HDR + csize;
	r->frame_no++;
	r->expect_first = first + count;
	r->frames++;
	r->raw_bytes += rsize;
	r->zstd_bytes += csize;
	return 0;
}

/* Common open: fd or memory already set in r. Returns r, or NULL after
 * freeing it. */
static struct trace_reader *reader_start(struct trace_reader *r, struct trace_error *err)
{
	r->dctx = ZSTD_createDCtx();
	if (!r->dctx) {
		set_err(err, TRACE_E_NOMEM, 0, 0, "out of memory");
		goto fail;
	}
	ZSTD_DCtx_setParameter(r->dctx, ZSTD_d_windowLogMax, TRACE_ZSTD_WINDOW_LOG);
	if (r->flags & TRACE_RD_NO_CHECKSUM)
		/* ZSTD_d_forceIgnoreChecksum (zstd >= 1.4.7), stable value */
		ZSTD_DCtx_setParameter(r->dctx, ZSTD_d_experimentalParam3, 1);
	if (read_header(r, err))
		goto fail;
	r->pos = r->hdr_len;
	return r;
fail:
	trace_reader_close(r);
	return NULL;
}

struct trace_reader *trace_reader_open(const char *path, struct trace_error *err)
{
	struct trace_reader *r;
	struct stat st;

	clear_err(err);
	if (!path) {
		set_err(err, TRACE_E_USAGE, 0, 0, "trace_reader_open: no path");
		return NULL;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		set_err(err, TRACE_E_NOMEM, 0, 0, "%s: out of memory", path);
		return NULL;
	}
	r->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (r->fd < 0 || fstat(r->fd, &st)) {
		set_err(err, TRACE_E_IO, 0, 0, "%s: %s", path, strerror(errno));
		trace_reader_close(r);
		return NULL;
	}
	if (!S_ISREG(st.st_mode)) {
		set_err(err, TRACE_E_IO, 0, 0, "%s: not a regular file", path);
		trace_reader_close(r);
		return NULL;
	}
	r->size = (uint64_t)st.st_size;
	return reader_start(r, err);
}

struct trace_reader *trace_reader_open_mem_flags(const void *buf, size_t len, unsigned flags,
						 struct trace_error *err)
{
	static const uint8_t empty[1];
	struct trace_reader *r;

	clear_err(err);
	if (!buf && len) {
		set_err(err, TRACE_E_USAGE, 0, 0, "trace_reader_open_mem: no buffer");
		return NULL;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		set_err(err, TRACE_E_NOMEM, 0, 0, "out of memory");
		return NULL;
	}
	r->fd = -1;
	r->mem = buf ? buf : empty;
	r->size = len;
	r->flags = flags;
	return reader_start(r, err);
}

struct trace_reader *trace_reader_open_mem(const void *buf, size_t len, struct trace_error *err)
{
	return trace_reader_open_mem_flags(buf, len, 0, err);
}

const struct trace_header *trace_reader_header(const struct trace_reader *r)
{
	return r ? &r->h : NULL;
}

int trace_read(struct trace_reader *r, struct trace_event *ev, struct trace_error *err)
{
	clear_err(err);
	if (!r || !ev)
		return set_err(err, TRACE_E_USAGE, 0, 0, "trace_read: no reader or event");
	while (r->ev_i == r->ev_n) {
		if (r->state == RD_FAILED)
			goto failed;
		if (r->state == RD_END || r->pos == r->size) {
			r->state = RD_END; /* without an index: a recorder stopped between frames */
			return 0;
		}
		if (load_frame(r, &r->err)) {
			r->state = RD_FAILED;
			goto failed;
		}
	}
	*ev = r->evs[r->ev_i++];
	r->delivered++;
	return 1;
failed:
	if (err)
		*err = r->err;
	return -1;
}

int trace_reader_seek_event(struct trace_reader *r, uint64_t index, struct trace_error *err)
{
	uint64_t lo = 0, hi;

	clear_err(err);
	if (!r)
		return set_err(err, TRACE_E_USAGE, 0, 0, "trace_reader_seek_event: no reader");
	if (load_index(r, UINT64_MAX, err))
		return -1;
	if (index > r->idx_events)
		return set_err(err, TRACE_E_USAGE, r->idx_n, r->idx_off,
			       "seek to event %llu: the trace has %llu events",
			       (unsigned long long)index, (unsigned long long)r->idx_events);
	r->ev_n = r->ev_i = 0;
	r->state = RD_READING;
	clear_err(&r->err);
	if (index == r->idx_events) {
		r->pos = r->idx_off;
		r->frame_no = r->idx_n;
		r->expect_first = r->idx_events;
		return 0;
	}
	/* the last frame whose first event is <= index */
	hi = r->idx_n - 1;
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo + 1) / 2;
		if (r->idx[mid].first <= index)
			lo = mid;
		else
			hi = mid - 1;
	}
	const struct idx_entry *x = &r->idx[lo];
	r->pos = x->off;
	r->frame_no = lo;
	r->expect_first = x->first;
	if (load_frame(r, &r->err))
		goto failed;
	if (r->ev_n != x->count) {
		set_err(&r->err, TRACE_E_INDEX, lo, x->off,
			"frame index entry %llu: no frame of %u events at offset %llu",
			(unsigned long long)lo, x->count, (unsigned long long)x->off);
		goto failed;
	}
	r->ev_i = (uint32_t)(index - x->first);
	return 0;
failed:
	r->state = RD_FAILED;
	r->ev_n = r->ev_i = 0;
	if (err)
		*err = r->err;
	return -1;
}

void trace_reader_info(const struct trace_reader *r, struct trace_info *info)
{
	memset(info, 0, sizeof(*info));
	if (!r)
		return;
	info->file_bytes = r->size;
	info->header_bytes = r->hdr_len;
	info->frames = r->frames;
	info->events = r->delivered;
	info->raw_bytes = r->raw_bytes;
	info->zstd_bytes = r->zstd_bytes;
	info->indexed = r->idx_state == IDX_VALID;
	if (info->indexed) {
		info->index_frames = r->idx_n;
		info->index_events = r->idx_events;
	}
}

void trace_reader_close(struct trace_reader *r)
{
	if (!r)
		return;
	if (r->fd >= 0)
		close(r->fd);
	ZSTD_freeDCtx(r->dctx);
	free(r->h.world);
	free(r->evs);
	free(r->zbuf);
	free(r->raw);
	free(r->idx);
	free(r);
}
