/*
 * ringside — the replayer: a trace fed back through the same device stack,
 * with no guest CPU, every output checked against the recording.
 *
 * The trace is a sequence of groups: a top-level event (an access, a host
 * event delivery or a checkpoint) followed by the events it caused (DMA,
 * interrupts, world inputs). For each group the replayer performs the
 * top-level event on a machine built from the trace header — an access
 * through machine_pio_* / machine_mmio_*, the entry points fuzzing and
 * recording use; a host event through rs_machine_poll_events; a checkpoint
 * by hashing every device. While it runs, the devices' requests pull the
 * caused events in order: the arena's replay source (replay_source.c)
 * serves DMA reads and checks DMA writes, the replay world
 * (replay_world.c) serves world inputs, and the interrupt sink below checks
 * interrupts. A read's value is compared after the call. Whatever the
 * recording has that the device did not do is a divergence at the end of
 * the group.
 *
 * Divergences are counted once per group; the first is reported with the
 * recorded and the replayed side and the events before it. Without
 * keep_going the replay stops after the group of the first divergence;
 * with it, every group is replayed (each starts in step with the trace
 * again, the natural resynchronisation point) and counted.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "replay_priv.h"

#define RP_DIGEST_INIT 0xcbf29ce484222325ull
#define RP_DIGEST_PRIME 0x100000001b3ull
#define RP_DEFAULT_CONTEXT 8

static const char *const div_names[RP_DIV__COUNT] = {
	[RP_DIV_NONE] = "none",
	[RP_DIV_VALUE] = "read value",
	[RP_DIV_DMA_READ] = "dma read",
	[RP_DIV_DMA_WRITE] = "dma write",
	[RP_DIV_IRQ] = "interrupt",
	[RP_DIV_MSI] = "msi",
	[RP_DIV_WORLD] = "world input",
	[RP_DIV_EXTRA] = "unrecorded output",
	[RP_DIV_MISSING] = "missing output",
	[RP_DIV_CHECKPOINT] = "checkpoint",
	[RP_DIV_STRAY] = "event outside any access",
	[RP_DIV_BUILD] = "machine creation",
};

const char *rp_div_name(enum rp_div d)
{
	return (unsigned)d < RP_DIV__COUNT ? div_names[d] : "?";
}

/* ---- digest -------------------------------------------------------------------------- */

/* One step of the digest: xor, multiply (FNV prime), fold the high half. */
static inline uint64_t mix64(uint64_t h, uint64_t v)
{
	h ^= v;
	h *= RP_DIGEST_PRIME;
	return h ^ (h >> 32);
}

void rp_mix(struct rp *p, uint64_t v)
{
	p->digest = mix64(p->digest, v);
}

void rp_mix_bytes(struct rp *p, const void *buf, size_t len)
{
	const uint8_t *b = buf;
	uint64_t h = p->digest;
	size_t i = 0;

	for (; i + 8 <= len; i += 8)
		h = mix64(h, rs_le64(b + i));
	if (i < len) {
		uint8_t tail[8] = { 0 };

		memcpy(tail, b + i, len - i);
		h = mix64(h, rs_le64(tail));
	}
	p->digest = mix64(h, len);
}

/* ---- the event stream ---------------------------------------------------------------- */

/* Load the next event into cur. */
static void rp_advance(struct rp *p)
{
	if (p->have != 1)
		return;
	p->have = p->src.next(p->src.ctx, &p->cur, &p->res->err);
	if (p->have == 1)
		p->idx++;
	else if (p->have < 0)
		p->have = -1;
}

void rp_consume(struct rp *p)
{
	struct rp_ctx_ev *c;

	if (p->have != 1)
		return;
	c = &p->ring[p->ring_n % RP_CTX_MAX];
	c->index = p->idx;
	c->ev = p->cur;
	c->ev.data = NULL;
	if (p->cur.len)
		memcpy(c->bytes, p->cur.data, RS_MIN(p->cur.len, (uint32_t)RP_CTX_DATA));
	p->ring_n++;
	p->res->events++;
	rp_advance(p);
}

const struct trace_event *rp_peek(struct rp *p)
{
	if (p->have != 1 || !p->in_group || rec_is_top(&p->cur))
		return NULL;
	return &p->cur;
}

/* ---- reports ------------------------------------------------------------------------- */

struct rbuf {
	char *buf;
	size_t size, len;
};

/* Append to the report; silently truncated when it is full. */
static void RS_PRINTF(2, 3) rb_printf(struct rbuf *rb, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (rb->len + 1 >= rb->size)
		return;
	va_start(ap, fmt);
	n = vsnprintf(rb->buf + rb->len, rb->size - rb->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		rb->len = RS_MIN(rb->len + (size_t)n, rb->size - 1);
}

/* One event as text (data shown from its first bytes). */
static void rb_event(struct rbuf *rb, const struct trace_event *ev)
{
	char line[160];

	trace_event_str(line, sizeof line, ev);
	rb_printf(rb, "%s", line);
}

/* One remembered event as a report line. */
static void rb_ctx(struct rbuf *rb, const struct rp_ctx_ev *c)
{
	struct trace_event ev = c->ev;

	ev.data = ev.len ? c->bytes : NULL;
	rb_printf(rb, "  #%llu ", (unsigned long long)c->index);
	rb_event(rb, &ev);
	rb_printf(rb, "\n");
}

/* Write the first divergence into res->report: what, where, the events before. */
static void rp_report(struct rp *p, enum rp_div kind, const struct trace_event *expected,
		      uint64_t at, const char *what)
{
	struct rbuf rb = { p->res->report, sizeof p->res->report, 0 };
	unsigned want = p->opts.context ? p->opts.context : RP_DEFAULT_CONTEXT;
	uint64_t shown = 0, first;

	want = RS_MIN(want, (unsigned)RP_CTX_MAX);
	rb_printf(&rb, "first divergence at event %llu: %s\n", (unsigned long long)at,
		  rp_div_name(kind));
	rb_printf(&rb, "  recorded: ");
	if (expected) {
		rb_printf(&rb, "#%llu ", (unsigned long long)at);
		rb_event(&rb, expected);
	} else if (p->have == 1) {
		rb_printf(&rb, "nothing here (next in the trace: #%llu ",
			  (unsigned long long)p->idx);
		rb_event(&rb, &p->cur);
		rb_printf(&rb, ")");
	} else {
		rb_printf(&rb, "nothing (end of the trace)");
	}
	rb_printf(&rb, "\n  replayed: %s\n", what);
	if (p->in_group && expected != &p->group_ev) {
		rb_printf(&rb, "  during:   #%llu ", (unsigned long long)p->group_idx);
		rb_event(&rb, &p->group_ev);
		rb_printf(&rb, "\n");
	}
	/* the last `want` events consumed before `at` */
	for (uint64_t k = 0; k < RS_MIN(p->ring_n, (uint64_t)RP_CTX_MAX); k++)
		if (p->ring[(p->ring_n - 1 - k) % RP_CTX_MAX].index < at && shown < want)
			shown++;
	if (!shown)
		return;
	rb_printf(&rb, "last %llu event(s) before it:\n", (unsigned long long)shown);
	first = p->ring_n;
	for (uint64_t k = 0, n = 0; k < RS_MIN(p->ring_n, (uint64_t)RP_CTX_MAX) && n < shown; k++) {
		uint64_t j = p->ring_n - 1 - k;

		if (p->ring[j % RP_CTX_MAX].index < at) {
			first = j;
			n++;
		}
	}
	for (uint64_t j = first; j < p->ring_n; j++)
		if (p->ring[j % RP_CTX_MAX].index < at)
			rb_ctx(&rb, &p->ring[j % RP_CTX_MAX]);
}

void rp_diverge(struct rp *p, enum rp_div kind, const struct trace_event *expected,
		const char *fmt, ...)
{
	char what[512];
	uint64_t at;
	va_list ap;

	if (p->have < 0)
		return; /* the trace is damaged here: nothing to compare with */
	if (!p->group_diverged) {
		p->group_diverged = true;
		p->res->divergences++;
	}
	if (p->report_done)
		return;
	p->report_done = true;
	at = expected == &p->group_ev ? p->group_idx : p->idx;
	p->res->first_divergence = at;
	p->sig.kind = kind;
	p->sig.type = expected ? expected->type : p->have == 1 ? p->cur.type : 0;
	p->sig.addr = expected ? expected->addr : p->have == 1 ? p->cur.addr : 0;
	p->sig.size = expected ? expected->size : p->have == 1 ? p->cur.size : 0;
	p->sig.group = p->in_group ? p->group_ev.type : 0;
	p->sig.group_addr = p->in_group ? p->group_ev.addr : 0;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	p->sig.what = RP_DIGEST_INIT;
	for (const char *c = what; *c; c++)
		p->sig.what = (p->sig.what ^ (uint8_t)*c) * RP_DIGEST_PRIME;
	rp_report(p, kind, expected, at, what);
}

/* ---- interrupt sink ------------------------------------------------------------------ */

/* Interrupt sink: an INTx change must be the next recorded irq. */
static void rp_set_level(void *ctx, unsigned gsi, bool level)
{
	struct rp *p = ctx;
	const struct trace_event *ev = rp_peek(p);

	rp_mix(p, 0x19);
	rp_mix(p, gsi);
	rp_mix(p, level);
	if (ev && ev->type == TEV_IRQ && ev->addr == gsi && ev->value == level) {
		rp_consume(p);
		return;
	}
	rp_diverge(p, ev && ev->type == TEV_IRQ ? RP_DIV_IRQ : RP_DIV_EXTRA, ev,
		   "INTx line %u went %s", gsi, level ? "high" : "low");
	if (ev && ev->type == TEV_IRQ)
		rp_consume(p);
}

/* Interrupt sink: an MSI must be the next recorded msi. */
static void rp_msi(void *ctx, uint64_t addr, uint32_t data)
{
	struct rp *p = ctx;
	const struct trace_event *ev = rp_peek(p);

	rp_mix(p, 0x1a);
	rp_mix(p, addr);
	rp_mix(p, data);
	if (ev && ev->type == TEV_MSI && ev->addr == addr && ev->value == data) {
		rp_consume(p);
		return;
	}
	rp_diverge(p, ev && ev->type == TEV_MSI ? RP_DIV_MSI : RP_DIV_EXTRA, ev,
		   "MSI to 0x%llx data 0x%x", (unsigned long long)addr, data);
	if (ev && ev->type == TEV_MSI)
		rp_consume(p);
}

static const struct irq_sink_ops rp_sink = {
	.set_level = rp_set_level,
	.msi = rp_msi,
};

/* ---- stepping ------------------------------------------------------------------------ */

/* Host monotonic seconds (progress pacing only). */
static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* A progress line on a terminal, at most five times a second. */
static void rp_progress(struct rp *p, bool last)
{
	double t;

	if (p->opts.quiet || !isatty(STDERR_FILENO))
		return;
	if (last) {
		if (p->progress_shown)
			fprintf(stderr, "\r%60s\r", "");
		return;
	}
	if ((p->steps++ & 255) != 0)
		return;
	t = now_s();
	if (t - p->t_last_progress < 0.2)
		return;
	p->t_last_progress = t;
	p->progress_shown = true;
	if (p->total) {
		unsigned pct = (unsigned)(RS_MIN(p->idx, p->total) * 100 / p->total);
		char bar[31];

		memset(bar, '#', pct * 30 / 100);
		memset(bar + pct * 30 / 100, '.', 30 - pct * 30 / 100);
		bar[30] = '\0';
		fprintf(stderr, "\rreplay [%s] %3u%% %llu/%llu events", bar, pct,
			(unsigned long long)p->idx, (unsigned long long)p->total);
	} else {
		fprintf(stderr, "\rreplay: %llu events", (unsigned long long)p->idx);
	}
}

/* End of a group: what the recording still has for it was not done. */
static void group_end(struct rp *p)
{
	const struct trace_event *ev;

	while ((ev = rp_peek(p))) {
		rp_diverge(p, RP_DIV_MISSING, ev, "the device did not do this");
		rp_consume(p);
	}
	p->in_group = false;
	p->access_open = false;
}

/* cur starts a group: remember it (without data) as the group event. */
static void group_begin(struct rp *p)
{
	p->in_group = true;
	p->group_diverged = false;
	p->group_idx = p->idx;
	p->group_ev = p->cur;
	p->group_ev.data = NULL;
	p->group_ev.len = 0;
}

/* A recorded checkpoint: every named device's state hash. */
static void do_checkpoint(struct rp *p)
{
	const struct trace_event *ev = &p->group_ev;
	uint64_t h;

	if (ev->dev >= p->m->ndevs) {
		rp_diverge(p, RP_DIV_CHECKPOINT, ev, "the machine has no device %u (%u devices)",
			   ev->dev, p->m->ndevs);
		return;
	}
	h = vdev_state_hash(p->m->devs[ev->dev]);
	rp_mix(p, 0xcc);
	rp_mix(p, h);
	if (h != ev->value)
		rp_diverge(p, RP_DIV_CHECKPOINT, ev, "device %u (%s) state hash 0x%016llx",
			   ev->dev, p->m->devs[ev->dev]->name, (unsigned long long)h);
}

/* A recorded host event delivery: hand it to the machine loop. */
static void do_event(struct rp *p)
{
	const struct trace_event *ev = &p->cur;
	struct world_event *we = &p->pending;

	memset(we, 0, sizeof(*we));
	we->kind = (enum world_event_kind)ev->addr;
	we->dev = ev->dev;
	we->port = ev->size;
	we->arg = ev->value;
	we->len = RS_MIN(ev->len, (uint32_t)WORLD_EVENT_MAX_DATA);
	if (we->len)
		memcpy(p->event_data, ev->data, we->len);
	we->data = we->len ? p->event_data : NULL;
	if (ev->addr > WEV_HOST)
		we->kind = WEV_NONE; /* the dispatcher drops it (-EIO), as it should */
	rp_consume(p);
	rp_mix(p, 0xee);
	rp_mix(p, we->kind);
	rp_mix(p, we->dev);
	p->event_pending = true;
	rs_machine_poll_events(p->m, 1);
	p->event_pending = false;
}

int rp_step(struct rp *p, uint64_t index, struct trace_event *acc)
{
	if (p->access_open)
		rp_access_done(p, 0); /* a caller that did not finish: count it done */
	if (!p->opts.keep_going && p->res->divergences)
		return -1;
	while (p->have == 1 && !rec_is_top(&p->cur)) {
		rp_diverge(p, RP_DIV_STRAY, &p->cur, "nothing: it follows no access or event");
		p->group_diverged = false;
		rp_consume(p);
		if (!p->opts.keep_going)
			return -1;
	}
	if (p->have != 1)
		return -1;
	if (index != UINT64_MAX && index != p->idx)
		return -1;
	rp_progress(p, false);
	group_begin(p);
	if (rec_is_access(p->cur.type)) {
		*acc = p->group_ev;
		rp_consume(p);
		p->access_open = true;
		return 1;
	}
	if (p->cur.type == TEV_CHECKPOINT) {
		rp_consume(p);
		do_checkpoint(p);
	} else {
		do_event(p);
	}
	group_end(p);
	return 0;
}

/* All-ones of an access size (8: all 64 bits). */
static uint64_t size_mask(unsigned size)
{
	return size >= 8 ? UINT64_MAX : (1ull << (size * 8)) - 1;
}

void rp_access_done(struct rp *p, uint64_t value)
{
	const struct trace_event *acc = &p->group_ev;

	if (!p->access_open)
		return;
	rp_mix(p, acc->type);
	rp_mix(p, acc->addr);
	if (rec_is_read(acc->type)) {
		uint64_t got = value & size_mask(acc->size);

		rp_mix(p, got);
		if (got != acc->value)
			rp_diverge(p, RP_DIV_VALUE, acc, "read returned 0x%0*llx", (int)acc->size * 2,
				   (unsigned long long)got);
	}
	group_end(p);
}

uint64_t rp_perform(struct machine *m, const struct trace_event *acc)
{
	switch (acc->type) {
	case TEV_PIO_READ:
	case TEV_PCI_CFG_READ:
		return acc->addr <= 0xffff ? machine_pio_read(m, (uint16_t)acc->addr, acc->size)
					   : 0;
	case TEV_PIO_WRITE:
	case TEV_PCI_CFG_WRITE:
		if (acc->addr <= 0xffff)
			machine_pio_write(m, (uint16_t)acc->addr, acc->size, acc->value);
		return 0;
	case TEV_MMIO_READ:
		return machine_mmio_read(m, acc->addr, acc->size);
	case TEV_MMIO_WRITE:
		machine_mmio_write(m, acc->addr, acc->size, acc->value);
		return 0;
	default:
		return 0;
	}
}

/* ---- set-up -------------------------------------------------------------------------- */

void rp_init(struct rp *p, struct machine *m, struct world *world, struct rp_events src,
	     const struct replay_opts *o, struct replay_result *res)
{
	uint8_t *event_data = p->event_data;

	memset(p, 0, sizeof(*p));
	p->m = m;
	p->world = world;
	p->src = src;
	p->res = res;
	p->event_data = event_data;
	if (o)
		p->opts = *o;
	p->digest = RP_DIGEST_INIT;
	p->have = 1;
	p->idx = UINT64_MAX; /* rp_advance moves it to 0 */
	rp_advance(p);
}

void rp_fini(struct rp *p)
{
	free(p->event_data);
	p->event_data = NULL;
}

int rp_finish(struct rp *p)
{
	if (p->access_open)
		rp_access_done(p, 0);
	rp_progress(p, true);
	for (unsigned i = 0; i < p->m->ndevs; i++) {
		rp_mix(p, vdev_state_hash(p->m->devs[i]));
		rp_mix(p, p->m->devs[i]->log.total);
	}
	rp_mix(p, p->m->log.total);
	p->res->digest = p->digest;
	if (p->res->divergences)
		return 1;
	return p->have < 0 ? -1 : 0;
}

/* Fill *err with code and a message. */
static void set_err(struct trace_error *err, enum trace_err code, const char *fmt, ...)
	RS_PRINTF(3, 4);

static void set_err(struct trace_error *err, enum trace_err code, const char *fmt, ...)
{
	va_list ap;

	memset(err, 0, sizeof(*err));
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof err->msg, fmt, ap);
	va_end(ap);
}

int rp_open(struct rp *p, const struct trace_header *h, struct rp_events src,
	    const struct replay_opts *o, struct replay_result *res)
{
	struct rec_wb_entry *wb = NULL;
	struct machine *m = NULL;
	struct world *world;
	const char *why = NULL;
	char err[300], msg[200];
	long nwb = 0;
	unsigned bad;

	memset(p, 0, sizeof(*p));
	memset(res, 0, sizeof(*res));
	if (h->world_len) {
		wb = calloc(REC_WB_MAX_ENTRIES, sizeof(*wb));
		if (!wb) {
			set_err(&res->err, TRACE_E_NOMEM, "out of memory");
			return -1;
		}
		nwb = rec_wb_parse(h->world, h->world_len, wb, REC_WB_MAX_ENTRIES, &why);
		if (nwb < 0) {
			free(wb);
			set_err(&res->err, TRACE_E_HEADER, "trace header: %s", why);
			return -1;
		}
	}
	p->event_data = malloc(WORLD_EVENT_MAX_DATA);
	world = rp_world_new(wb, (size_t)nwb);
	if (!world || !p->event_data) {
		free(wb);
		free(p->event_data);
		p->event_data = NULL;
		world_destroy(world);
		set_err(&res->err, TRACE_E_NOMEM, "out of memory");
		return -1;
	}
	if (rs_machine_new_world(h->machine_spec, world, &m, err, sizeof err) < 0) {
		world_destroy(world);
		free(wb);
		free(p->event_data);
		p->event_data = NULL;
		set_err(&res->err, TRACE_E_HEADER, "trace header: cannot build its machine: %s",
			err);
		return -1;
	}
	rp_init(p, m, world, src, o, res);
	gm_set_source(&m->gm, &rp_source_ops, p);
	machine_set_irq_sink(m, &rp_sink, p);
	bad = rp_world_attach(world, p, msg, sizeof msg);
	free(wb);
	if (bad) {
		rp_diverge(p, RP_DIV_BUILD, NULL, "while the machine was built: %s", msg);
		p->group_diverged = false;
	}
	return 0;
}

void rp_close(struct rp *p)
{
	if (p->m) {
		gm_set_source(&p->m->gm, NULL, NULL);
		rs_machine_free(p->m);
		p->m = NULL;
	}
	rp_fini(p);
}

/* Replay every group; returns as rp_finish. */
static int rp_run(struct rp *p)
{
	struct trace_event acc;
	int r;

	while ((r = rp_step(p, UINT64_MAX, &acc)) >= 0)
		if (r == 1)
			rp_access_done(p, rp_perform(p->m, &acc));
	return rp_finish(p);
}

/* rp_replay with the trace's event count for the progress bar (0: unknown). */
static int rp_replay_total(const struct trace_header *h, struct rp_events src, uint64_t total,
			   const struct replay_opts *o, struct replay_result *res,
			   struct rp_sig *sig)
{
	struct rp *p = calloc(1, sizeof(*p));
	int r;

	if (!p) {
		set_err(&res->err, TRACE_E_NOMEM, "out of memory");
		return -1;
	}
	if (rp_open(p, h, src, o, res) < 0) {
		free(p);
		return -1;
	}
	p->total = total;
	r = rp_run(p);
	if (sig)
		*sig = p->sig;
	rp_close(p);
	free(p);
	return r;
}

int rp_replay(const struct trace_header *h, struct rp_events src, const struct replay_opts *o,
	      struct replay_result *res, struct rp_sig *sig)
{
	return rp_replay_total(h, src, 0, o, res, sig);
}

/* ---- event sources ------------------------------------------------------------------- */

/* rp_events over a trace reader. */
static int reader_next(void *ctx, struct trace_event *ev, struct trace_error *err)
{
	return trace_read(ctx, ev, err);
}

struct rp_events rp_reader_events(struct trace_reader *r)
{
	return (struct rp_events){ reader_next, r };
}

/* rp_events over a list: the next event keep selects. */
static int list_next(void *ctx, struct trace_event *ev, struct trace_error *err)
{
	struct rp_list_cursor *c = ctx;

	while (c->i < c->l->n && c->keep && !c->keep[c->i])
		c->i++;
	if (c->i >= c->l->n)
		return 0;
	*ev = c->l->ev[c->i++];
	return 1;
}

struct rp_events rp_list_events(struct rp_list_cursor *c, const struct rp_list *l,
				const bool *keep)
{
	c->l = l;
	c->keep = keep;
	c->i = 0;
	return (struct rp_events){ list_next, c };
}

#define RP_LIST_CHUNK (1u << 20)

int rp_list_add(struct rp_list *l, const struct trace_event *ev)
{
	uint8_t *dst = NULL;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 1024;
		struct trace_event *e = realloc(l->ev, cap * sizeof(*e));

		if (!e)
			return -ENOMEM;
		l->ev = e;
		l->cap = cap;
	}
	if (ev->len) {
		if (!l->nchunks || l->chunk_size - l->chunk_used < ev->len) {
			size_t size = RS_MAX((size_t)RP_LIST_CHUNK, (size_t)ev->len);

			if (l->nchunks == l->chunk_cap) {
				size_t cap = l->chunk_cap ? l->chunk_cap * 2 : 16;
				uint8_t **c = realloc(l->chunks, cap * sizeof(*c));

				if (!c)
					return -ENOMEM;
				l->chunks = c;
				l->chunk_cap = cap;
			}
			l->chunks[l->nchunks] = malloc(size);
			if (!l->chunks[l->nchunks])
				return -ENOMEM;
			l->nchunks++;
			l->chunk_size = size;
			l->chunk_used = 0;
		}
		dst = l->chunks[l->nchunks - 1] + l->chunk_used;
		memcpy(dst, ev->data, ev->len);
		l->chunk_used += ev->len;
	}
	l->ev[l->n] = *ev;
	l->ev[l->n].data = dst;
	l->n++;
	return 0;
}

void rp_list_free(struct rp_list *l)
{
	for (size_t i = 0; i < l->nchunks; i++)
		free(l->chunks[i]);
	free(l->chunks);
	free(l->ev);
	memset(l, 0, sizeof(*l));
}

int rp_list_load(const char *path, struct rp_list *l, struct trace_header *h,
		 struct trace_error *err)
{
	struct trace_reader *r = trace_reader_open(path, err);
	struct trace_event ev;
	int rc;

	memset(h, 0, sizeof(*h));
	if (!r)
		return -1;
	*h = *trace_reader_header(r);
	h->world = NULL;
	if (h->world_len) {
		h->world = malloc(h->world_len);
		if (!h->world) {
			trace_reader_close(r);
			set_err(err, TRACE_E_NOMEM, "out of memory");
			return -1;
		}
		memcpy(h->world, trace_reader_header(r)->world, h->world_len);
	}
	while ((rc = trace_read(r, &ev, err)) == 1) {
		if (rp_list_add(l, &ev) < 0) {
			set_err(err, TRACE_E_NOMEM, "out of memory reading %s", path);
			rc = -1;
			break;
		}
	}
	trace_reader_close(r);
	if (rc < 0) {
		free(h->world);
		h->world = NULL;
		h->world_len = 0;
		return -1;
	}
	return 0;
}

int rp_list_write(const char *path, const struct trace_header *h, const struct rp_list *l,
		  const bool *keep, struct trace_error *err)
{
	struct trace_writer *w = trace_writer_open(path, h, err);

	if (!w)
		return -1;
	for (size_t i = 0; i < l->n; i++) {
		if (keep && !keep[i])
			continue;
		if (trace_write(w, &l->ev[i], err) < 0) {
			trace_writer_abort(w);
			return -1;
		}
	}
	return trace_writer_close(w, err);
}

/* ---- public entry points ------------------------------------------------------------- */

/* Replay everything a reader holds. */
static int replay_reader(struct trace_reader *r, const struct replay_opts *o,
			 struct replay_result *res)
{
	struct trace_error e;
	struct trace_info info;
	uint64_t total = 0;

	/* the frame index gives the event count for the progress bar */
	if (o && !o->quiet && trace_reader_seek_event(r, 0, &e) == 0) {
		trace_reader_info(r, &info);
		if (info.indexed)
			total = info.index_events;
	}
	return rp_replay_total(trace_reader_header(r), rp_reader_events(r), total, o, res, NULL);
}

int replay_file(const char *path, const struct replay_opts *o, struct replay_result *res)
{
	struct trace_reader *r;
	int rc;

	memset(res, 0, sizeof(*res));
	r = trace_reader_open(path, &res->err);
	if (!r)
		return -1;
	rc = replay_reader(r, o, res);
	trace_reader_close(r);
	return rc;
}

int replay_mem(const void *buf, size_t len, const struct replay_opts *o, struct replay_result *res)
{
	struct trace_reader *r;
	int rc;

	memset(res, 0, sizeof(*res));
	r = trace_reader_open_mem(buf, len, &res->err);
	if (!r)
		return -1;
	rc = replay_reader(r, o, res);
	trace_reader_close(r);
	return rc;
}

struct replayer {
	struct rp p;
	struct trace_reader *r;
	struct trace_event acc;
};

struct replayer *replayer_open_mem(const void *buf, size_t len, const struct replay_opts *o,
				   struct replay_result *res)
{
	struct replayer *rp;

	memset(res, 0, sizeof(*res));
	rp = calloc(1, sizeof(*rp));
	if (!rp) {
		set_err(&res->err, TRACE_E_NOMEM, "out of memory");
		return NULL;
	}
	rp->r = trace_reader_open_mem(buf, len, &res->err);
	if (!rp->r || rp_open(&rp->p, trace_reader_header(rp->r), rp_reader_events(rp->r), o,
			      res) < 0) {
		trace_reader_close(rp->r);
		free(rp);
		return NULL;
	}
	return rp;
}

struct machine *replayer_machine(struct replayer *rp)
{
	return rp->p.m;
}

int replayer_next(struct replayer *rp, uint64_t index)
{
	return rp_step(&rp->p, index, &rp->acc);
}

void replayer_access_done(struct replayer *rp, uint64_t value)
{
	rp_access_done(&rp->p, value);
}

int replayer_close(struct replayer *rp)
{
	int r;

	if (!rp)
		return -1;
	r = rp_finish(&rp->p);
	/* a reproducer that stopped early did not replay the rest */
	if (r == 0 && rp->p.have == 1) {
		set_err(&rp->p.res->err, TRACE_E_USAGE,
			"replay stopped at event %llu of the trace",
			(unsigned long long)rp->p.idx);
		r = -1;
	}
	rp_close(&rp->p);
	trace_reader_close(rp->r);
	free(rp);
	return r;
}
