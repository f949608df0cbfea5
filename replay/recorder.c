/*
 * ringside — the recorder: every event that crosses a machine's device
 * boundary, in one total order, into a trace.
 *
 * Accesses come from the VMM (rec_pio_* / rec_mmio_*), which calls the
 * machine's entry points through here. Device DMA comes from the arena's
 * tap, interrupts from an interrupt sink put in front of the VMM's, world
 * inputs from the world's tap. The order rule (trace.h): an access event
 * precedes every event it caused, and a read carries the value it returned.
 * A write's event is written before the call, so what it causes follows
 * directly. A read's value is only known after the call: while a read runs,
 * the events it causes are buffered (copied) and written after the read's
 * own event. Reads rarely cause much (an ISR read lowers a line), so the
 * buffer stays small.
 *
 * Host side only: the 100 ms frame flush reads the host's monotonic clock,
 * which never reaches the device stack.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "replay_priv.h"

#ifndef RS_VERSION
#define RS_VERSION "0.1.0"
#endif

#define REC_FLUSH_NS 100000000ull /* a frame at least every 100 ms */

struct rec_pending {
	struct trace_event ev;  /* data: NULL; bytes at data_off in r->data */
	size_t data_off;
};

struct recorder {
	struct machine *m;
	struct trace_writer *w;
	/* what was installed before us, restored by recorder_free */
	gm_tap_fn prev_gm_tap;
	void *prev_gm_ctx;
	world_tap_fn prev_world_tap;
	void *prev_world_ctx;
	const struct irq_sink_ops *prev_irq;
	void *prev_irq_ctx;
	/* events caused by the read in progress */
	bool buffering;
	struct rec_pending *pend;
	size_t npend, pend_cap;
	uint8_t *data;
	size_t data_len, data_cap;
	bool sync;              /* cut a frame after every event (rec_set_sync) */
	/* outcome */
	uint64_t events;
	bool failed;
	struct trace_error err;
	uint64_t last_flush_ns;
};

void rec_build_id(char *buf, size_t len)
{
#if defined(__clang__)
	snprintf(buf, len, "ringside %s clang %s", RS_VERSION, __clang_version__);
#elif defined(__GNUC__)
	snprintf(buf, len, "ringside %s gcc %s", RS_VERSION, __VERSION__);
#else
	snprintf(buf, len, "ringside %s", RS_VERSION);
#endif
}

/* Host monotonic ns (the flush timer only). */
static uint64_t host_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- writing events ------------------------------------------------------------------ */

/* Remember the first error; every later event is dropped. */
static void rec_fail(struct recorder *r, const struct trace_error *err)
{
	if (r->failed)
		return;
	r->failed = true;
	r->err = *err;
}

/* Out of memory while buffering: the first error, like a write error. */
static void rec_fail_nomem(struct recorder *r)
{
	struct trace_error e = { .code = TRACE_E_NOMEM };

	snprintf(e.msg, sizeof e.msg, "recorder: out of memory buffering a read's events");
	rec_fail(r, &e);
}

/* Grow *buf (elements of size sz) to hold need; 0 or -ENOMEM. */
static int grow(void **buf, size_t *cap, size_t need, size_t sz)
{
	size_t n = *cap ? *cap : 16;
	void *p;

	if (need <= *cap)
		return 0;
	while (n < need)
		n *= 2;
	p = realloc(*buf, n * sz);
	if (!p)
		return -ENOMEM;
	*buf = p;
	*cap = n;
	return 0;
}

/* Keep a copy of ev until the read that caused it has been written. */
static void rec_buffer(struct recorder *r, const struct trace_event *ev)
{
	if (grow((void **)&r->pend, &r->pend_cap, r->npend + 1, sizeof(*r->pend)) < 0 ||
	    grow((void **)&r->data, &r->data_cap, r->data_len + ev->len, 1) < 0) {
		rec_fail_nomem(r);
		return;
	}
	r->pend[r->npend].ev = *ev;
	r->pend[r->npend].ev.data = NULL;
	r->pend[r->npend].data_off = r->data_len;
	if (ev->len)
		memcpy(r->data + r->data_len, ev->data, ev->len);
	r->data_len += ev->len;
	r->npend++;
}

/* Write one event now (the writer cuts frames; sync mode flushes each). */
static void rec_write(struct recorder *r, const struct trace_event *ev)
{
	struct trace_error err;

	if (trace_write(r->w, ev, &err) < 0 || (r->sync && trace_writer_flush(r->w, &err) < 0)) {
		rec_fail(r, &err);
		return;
	}
	r->events++;
}

void rec_set_sync(struct recorder *r, bool on)
{
	r->sync = on;
}

/* One event, in order: buffered during a read, else written. */
static void rec_emit(struct recorder *r, const struct trace_event *ev)
{
	if (r->failed)
		return;
	if (r->buffering)
		rec_buffer(r, ev);
	else
		rec_write(r, ev);
}

/* Emit ev with data, cut into TRACE_MAX_DATA pieces. DMA pieces carry
 * consecutive addresses; world pieces after the first are REC_WK_CONT. */
static void rec_emit_data(struct recorder *r, struct trace_event *ev, const uint8_t *data,
			  size_t len)
{
	size_t done = 0;

	do {
		size_t n = RS_MIN(len - done, (size_t)TRACE_MAX_DATA);

		ev->data = data ? data + done : NULL;
		ev->len = (uint32_t)n;
		rec_emit(r, ev);
		done += n;
		if (done < len) {
			if (ev->type == TEV_WORLD) {
				ev->kind |= REC_WK_CONT;
				ev->size = 0;
				ev->value = 0;
			}
			ev->addr += n;
		}
	} while (done < len);
}

/* ---- taps and the interrupt sink ---------------------------------------------------- */

/* Arena tap: a device read or write of guest memory, with its bytes. */
static void rec_gm_tap(void *ctx, enum gm_access dir, uint64_t gpa, const void *data, size_t len)
{
	struct recorder *r = ctx;
	struct trace_event ev = {
		.type = dir == GM_ACCESS_READ ? TEV_DMA_READ : TEV_DMA_WRITE,
		.addr = gpa,
	};

	if (len)
		rec_emit_data(r, &ev, data, len);
	if (r->prev_gm_tap)
		r->prev_gm_tap(r->prev_gm_ctx, dir, gpa, data, len);
}

/* v, or UINT32_MAX when it does not fit 32 bits. */
static uint32_t clamp32(uint64_t v)
{
	return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

/* The TEV_WORLD event of one world input (layout in replay_priv.h). */
static void world_event_of(enum world_input kind, const struct world_event *ev,
			   const struct world_io *io, int64_t value, struct trace_event *te)
{
	memset(te, 0, sizeof(*te));
	te->type = TEV_WORLD;
	te->kind = (uint32_t)kind;
	te->value = (uint64_t)value;
	switch (kind) {
	case WIN_ENTROPY:
		te->dev = ev->dev;
		te->size = clamp32(ev->arg);
		break;
	case WIN_CLOCK:
		te->addr = ev->port;
		break;
	case WIN_IO:
		te->kind = rec_wk_io(io->op);
		te->dev = io->dev;
		te->addr = io->off;
		te->size = clamp32(io->len);
		break;
	case WIN_EVENT:
		te->dev = ev->dev;
		te->addr = (uint64_t)ev->kind;
		te->size = ev->port;
		te->value = ev->arg;
		break;
	}
}

/* World tap: one input as the device consumed it, then the previous tap. */
static void rec_world_tap(void *ctx, enum world_input kind, const struct world_event *ev,
			  const struct world_io *io, int64_t value, const void *data, size_t len)
{
	struct recorder *r = ctx;
	struct trace_event te;

	world_event_of(kind, ev, io, value, &te);
	rec_emit_data(r, &te, data, len);
	if (r->prev_world_tap)
		r->prev_world_tap(r->prev_world_ctx, kind, ev, io, value, data, len);
}

/* Interrupt sink: log an INTx level change, then forward it. */
static void rec_set_level(void *ctx, unsigned gsi, bool level)
{
	struct recorder *r = ctx;
	struct trace_event ev = { .type = TEV_IRQ, .addr = gsi, .value = level };

	rec_emit(r, &ev);
	if (r->prev_irq && r->prev_irq->set_level)
		r->prev_irq->set_level(r->prev_irq_ctx, gsi, level);
}

/* Interrupt sink: log an MSI message, then forward it. */
static void rec_msi(void *ctx, uint64_t addr, uint32_t data)
{
	struct recorder *r = ctx;
	struct trace_event ev = { .type = TEV_MSI, .addr = addr, .value = data };

	rec_emit(r, &ev);
	if (r->prev_irq && r->prev_irq->msi)
		r->prev_irq->msi(r->prev_irq_ctx, addr, data);
}

static const struct irq_sink_ops rec_sink = {
	.set_level = rec_set_level,
	.msi = rec_msi,
};

/* ---- life cycle ---------------------------------------------------------------------- */

struct recorder *recorder_new(struct machine *m, struct trace_writer *w)
{
	struct recorder *r;

	if (!m || !w)
		return NULL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->m = m;
	r->w = w;
	r->prev_gm_tap = m->gm.tap;
	r->prev_gm_ctx = m->gm.tap_ctx;
	r->prev_irq = m->irq;
	r->prev_irq_ctx = m->irq_ctx;
	gm_set_tap(&m->gm, rec_gm_tap, r);
	machine_set_irq_sink(m, &rec_sink, r);
	if (m->world) {
		r->prev_world_tap = m->world->tap;
		r->prev_world_ctx = m->world->tap_ctx;
		world_set_tap(m->world, rec_world_tap, r);
	}
	r->last_flush_ns = host_ns();
	return r;
}

uint64_t recorder_free(struct recorder *r)
{
	uint64_t n;

	if (!r)
		return 0;
	gm_set_tap(&r->m->gm, r->prev_gm_tap, r->prev_gm_ctx);
	machine_set_irq_sink(r->m, r->prev_irq, r->prev_irq_ctx);
	if (r->m->world)
		world_set_tap(r->m->world, r->prev_world_tap, r->prev_world_ctx);
	n = r->events;
	free(r->pend);
	free(r->data);
	free(r);
	return n;
}

int rec_tick(struct recorder *r, struct trace_error *err)
{
	uint64_t now = host_ns();

	if (!r->failed && now - r->last_flush_ns >= REC_FLUSH_NS) {
		struct trace_error e;

		if (trace_writer_flush(r->w, &e) < 0)
			rec_fail(r, &e);
		r->last_flush_ns = now;
	}
	if (r->failed) {
		if (err)
			*err = r->err;
		return -1;
	}
	return 0;
}

/* ---- accesses ------------------------------------------------------------------------ */

/* All-ones of an access size (8: all 64 bits). */
static uint64_t size_mask(unsigned size)
{
	return size >= 8 ? UINT64_MAX : (1ull << (size * 8)) - 1;
}

/* The event of an access; false when the trace cannot hold it (a size other
 * than 1, 2, 4, 8, which the machine answers as unmapped without a device
 * ever seeing it). conf1 data-port accesses become TEV_PCI_CFG_* with the
 * slot and offset CONFIG_ADDRESS selects. */
static bool access_event(struct recorder *r, enum trace_ev type, uint64_t addr, unsigned size,
			 uint64_t val, struct trace_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	if (size != 1 && size != 2 && size != 4 && size != 8)
		return false;
	ev->type = type;
	ev->addr = addr;
	ev->size = size;
	ev->value = val & size_mask(size);
	if ((type == TEV_PIO_READ || type == TEV_PIO_WRITE) && addr >= PCI_CONF1_DATA_PORT &&
	    addr < PCI_CONF1_DATA_PORT + 4) {
		uint32_t a = r->m->conf1_addr;

		ev->type = type == TEV_PIO_READ ? TEV_PCI_CFG_READ : TEV_PCI_CFG_WRITE;
		ev->dev = (a >> 11) & 0x1f;
		ev->kind = (a & 0xfc) | (uint32_t)(addr & 3);
	}
	return true;
}

/* A read: buffer what it causes, then write its event and the buffer. */
static void read_begin(struct recorder *r)
{
	r->buffering = true;
	r->npend = 0;
	r->data_len = 0;
}

/* The read returned val: its event, then what it caused, in order. */
static void read_end(struct recorder *r, struct trace_event *ev, uint64_t val)
{
	r->buffering = false;
	ev->value = val & size_mask(ev->size);
	rec_emit(r, ev);
	for (size_t i = 0; i < r->npend && !r->failed; i++) {
		struct trace_event pe = r->pend[i].ev;

		pe.data = pe.len ? r->data + r->pend[i].data_off : NULL;
		rec_write(r, &pe);
	}
	r->npend = 0;
	r->data_len = 0;
}

uint64_t rec_pio_read(struct recorder *r, uint16_t port, unsigned size)
{
	struct trace_event ev;
	uint64_t v;

	if (!access_event(r, TEV_PIO_READ, port, size, 0, &ev))
		return machine_pio_read(r->m, port, size);
	read_begin(r);
	v = machine_pio_read(r->m, port, size);
	read_end(r, &ev, v);
	return v;
}

void rec_pio_write(struct recorder *r, uint16_t port, unsigned size, uint64_t val)
{
	struct trace_event ev;

	if (access_event(r, TEV_PIO_WRITE, port, size, val, &ev))
		rec_emit(r, &ev);
	machine_pio_write(r->m, port, size, val);
}

uint64_t rec_mmio_read(struct recorder *r, uint64_t gpa, unsigned size)
{
	struct trace_event ev;
	uint64_t v;

	if (!access_event(r, TEV_MMIO_READ, gpa, size, 0, &ev))
		return machine_mmio_read(r->m, gpa, size);
	read_begin(r);
	v = machine_mmio_read(r->m, gpa, size);
	read_end(r, &ev, v);
	return v;
}

void rec_mmio_write(struct recorder *r, uint64_t gpa, unsigned size, uint64_t val)
{
	struct trace_event ev;

	if (access_event(r, TEV_MMIO_WRITE, gpa, size, val, &ev))
		rec_emit(r, &ev);
	machine_mmio_write(r->m, gpa, size, val);
}

void rec_checkpoint(struct recorder *r)
{
	for (unsigned i = 0; i < r->m->ndevs; i++) {
		struct trace_event ev = {
			.type = TEV_CHECKPOINT,
			.dev = i,
			.value = vdev_state_hash(r->m->devs[i]),
		};

		rec_emit(r, &ev);
	}
}

/* ---- the machine to record and the trace header ------------------------------------- */

/* The initial world state being captured while a machine is built. */
struct wb_builder {
	uint8_t *buf;
	size_t len, cap;
	uint32_t count;
	bool failed;            /* out of memory, or above the format's limits */
};

/* Append n bytes to the blob (failed for good above TRACE_MAX_WORLD or OOM). */
static void wb_put(struct wb_builder *b, const void *p, size_t n)
{
	if (b->failed)
		return;
	if (b->len + n > TRACE_MAX_WORLD || grow((void **)&b->buf, &b->cap, b->len + n, 1) < 0) {
		b->failed = true;
		return;
	}
	memcpy(b->buf + b->len, p, n);
	b->len += n;
}

/* Tap while the machine is built: one blob entry per input. */
static void wb_tap(void *ctx, enum world_input kind, const struct world_event *ev,
		   const struct world_io *io, int64_t value, const void *data, size_t len)
{
	struct wb_builder *b = ctx;
	struct trace_event te;
	uint8_t e[REC_WB_ENTRY];

	if (b->count == 0)
		wb_put(b, "RSWI\1\0\0\0\0\0\0\0", REC_WB_HDR);
	if (b->count >= REC_WB_MAX_ENTRIES || len > TRACE_MAX_DATA) {
		b->failed = true;
		return;
	}
	world_event_of(kind, ev, io, value, &te);
	memset(e, 0, sizeof(e));
	e[0] = (uint8_t)kind;
	e[1] = (uint8_t)(kind == WIN_IO ? io->op : kind == WIN_CLOCK ? ev->port : 0);
	rs_st32(e + 4, te.dev);
	rs_st64(e + 8, kind == WIN_IO ? io->off : 0);
	rs_st64(e + 16, kind == WIN_IO ? (uint64_t)io->len : kind == WIN_ENTROPY ? ev->arg : 0);
	rs_st64(e + 24, te.value);
	rs_st32(e + 32, (uint32_t)len);
	wb_put(b, e, sizeof(e));
	if (len)
		wb_put(b, data, len);
	b->count++;
	if (!b->failed)
		rs_st32(b->buf + 8, b->count);
}

long rec_wb_parse(const uint8_t *blob, size_t len, struct rec_wb_entry *out, size_t max,
		  const char **why)
{
	size_t at = REC_WB_HDR;
	uint32_t count;

	if (len == 0)
		return 0;
	if (!blob || len < REC_WB_HDR || memcmp(blob, REC_WB_MAGIC, 4) != 0) {
		*why = "initial world state: not a ringside world blob";
		return -1;
	}
	if (rs_le16(blob + 4) != 1) {
		*why = "initial world state: unknown version";
		return -1;
	}
	count = rs_le32(blob + 8);
	if (count > REC_WB_MAX_ENTRIES || count > max) {
		*why = "initial world state: too many entries";
		return -1;
	}
	for (uint32_t i = 0; i < count; i++) {
		const uint8_t *e = blob + at;
		struct rec_wb_entry *o = &out[i];

		if (len - at < REC_WB_ENTRY) {
			*why = "initial world state: entry cut short";
			return -1;
		}
		if (e[0] > WIN_EVENT) {
			*why = "initial world state: unknown input kind";
			return -1;
		}
		o->input = (enum world_input)e[0];
		o->sub = e[1];
		o->dev = rs_le32(e + 4);
		o->off = rs_le64(e + 8);
		o->len = rs_le64(e + 16);
		o->value = rs_le64(e + 24);
		o->data_len = rs_le32(e + 32);
		at += REC_WB_ENTRY;
		if (o->data_len > TRACE_MAX_DATA || o->data_len > len - at) {
			*why = "initial world state: data runs past the end";
			return -1;
		}
		o->data = o->data_len ? blob + at : NULL;
		at += o->data_len;
	}
	if (at != len) {
		*why = "initial world state: bytes after the last entry";
		return -1;
	}
	return (long)count;
}

int rec_machine_new(const char *spec, struct world *world, const char *recorder,
		    struct machine **out, struct trace_header *h, char *err, size_t errlen)
{
	struct wb_builder b = { 0 };
	struct world *w = world ? world : world_live_new();
	world_tap_fn prev;
	void *prev_ctx;
	int r;

	*out = NULL;
	memset(h, 0, sizeof(*h));
	if (!w) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	prev = w->tap;
	prev_ctx = w->tap_ctx;
	world_set_tap(w, wb_tap, &b);
	r = rs_machine_new_world(spec, w, out, err, errlen);
	world_set_tap(w, prev, prev_ctx);
	if (r == 0 && b.failed) {
		snprintf(err, errlen, "recorder: the machine's initial world state is too large "
				      "for a trace header");
		if (world)
			(*out)->world = NULL; /* a world passed in stays the caller's */
		rs_machine_free(*out);
		*out = NULL;
		free(b.buf);
		return -E2BIG;
	}
	if (r < 0) {
		if (!world)
			world_destroy(w);
		free(b.buf);
		return r;
	}
	h->version = TRACE_FORMAT_VERSION;
	snprintf(h->machine_spec, sizeof h->machine_spec, "%s", (*out)->spec);
	snprintf(h->recorder, sizeof h->recorder, "%s", recorder ? recorder : "");
	rec_build_id(h->build, sizeof h->build);
	h->world = b.buf;
	h->world_len = (uint32_t)b.len;
	return 0;
}

void rec_header_release(struct trace_header *h)
{
	if (!h)
		return;
	free(h->world);
	h->world = NULL;
	h->world_len = 0;
}
