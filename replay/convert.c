/*
 * ringside — converters between traces, fuzz op streams and C programs.
 *
 *   trace -> op stream   recorded sessions seed the fuzz corpus;
 *   op stream -> trace   a fuzzer's crash input becomes a trace, which
 *                        replays (and minimises) without the fuzzer;
 *   trace -> C           a stand-alone reproducer that builds against the
 *                        library and replays the trace call by call.
 *
 * The op-stream format is the fuzz harness's (harnesses/fuzz.h,
 * docs/op-stream.md): records are written with its encoder, and an input is
 * run by its executor on the machine of a fuzz target.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fuzz.h"
#include "inproc.h"
#include "replay_priv.h"

#define CONV_MEM_RUN_MAX 32768u /* bytes one data-mode MEM_WRITE carries */

/* One line into err; returns -1. */
static int RS_PRINTF(3, 4) conv_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* Write len bytes to path atomically (path.tmp, then rename). */
static int write_whole(const char *path, const void *a, size_t alen, const void *b, size_t blen,
		       char *err, size_t errlen)
{
	char tmp[4200];
	FILE *f;
	bool ok;

	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	f = fopen(tmp, "wb");
	if (!f)
		return conv_err(err, errlen, "%s: %s", tmp, strerror(errno));
	ok = fwrite(a, 1, alen, f) == alen && (!blen || fwrite(b, 1, blen, f) == blen);
	ok = fclose(f) == 0 && ok;
	if (!ok || rename(tmp, path) < 0) {
		int e = errno;

		unlink(tmp);
		return conv_err(err, errlen, "%s: %s", path, strerror(e ? e : EIO));
	}
	return 0;
}

/* ---- a sparse copy of guest memory, as far as the trace tells ---------------------------- */

struct spage {
	uint64_t pn;
	uint64_t known[GM_PAGE_SIZE / 64];
	uint8_t data[GM_PAGE_SIZE];
};

struct shadow {
	struct spage **slot;    /* open addressing on the page number */
	size_t cap, n;
};

/* The page pn (created, growing the table, when create), or NULL. */
static struct spage *shadow_page(struct shadow *s, uint64_t pn, bool create)
{
	size_t i;

	if (s->cap == 0 || (create && 2 * (s->n + 1) > s->cap)) {
		struct shadow bigger = { 0 };

		if (!create)
			return NULL;
		bigger.cap = s->cap ? 2 * s->cap : 64;
		bigger.slot = calloc(bigger.cap, sizeof(*bigger.slot));
		if (!bigger.slot)
			return NULL;
		for (size_t k = 0; k < s->cap; k++) {
			struct spage *p = s->slot[k];

			if (!p)
				continue;
			for (i = (size_t)(p->pn * 0x9e3779b97f4a7c15ull) & (bigger.cap - 1);
			     bigger.slot[i]; i = (i + 1) & (bigger.cap - 1))
				;
			bigger.slot[i] = p;
		}
		free(s->slot);
		s->slot = bigger.slot;
		s->cap = bigger.cap;
	}
	for (i = (size_t)(pn * 0x9e3779b97f4a7c15ull) & (s->cap - 1); s->slot[i];
	     i = (i + 1) & (s->cap - 1))
		if (s->slot[i]->pn == pn)
			return s->slot[i];
	if (!create)
		return NULL;
	s->slot[i] = calloc(1, sizeof(struct spage));
	if (!s->slot[i])
		return NULL;
	s->slot[i]->pn = pn;
	s->n++;
	return s->slot[i];
}

/* 1: *v is the known byte at gpa; 0: not known; -1: out of memory. */
static int shadow_get(struct shadow *s, uint64_t gpa, uint8_t *v)
{
	struct spage *p = shadow_page(s, gpa >> GM_PAGE_SHIFT, false);
	unsigned off = (unsigned)(gpa & (GM_PAGE_SIZE - 1));

	if (!p || !(p->known[off / 64] >> (off % 64) & 1))
		return 0;
	*v = p->data[off];
	return 1;
}

/* Byte gpa is known to hold v. 0 or -1 (out of memory). */
static int shadow_set(struct shadow *s, uint64_t gpa, uint8_t v)
{
	struct spage *p = shadow_page(s, gpa >> GM_PAGE_SHIFT, true);
	unsigned off = (unsigned)(gpa & (GM_PAGE_SIZE - 1));

	if (!p)
		return -1;
	p->data[off] = v;
	p->known[off / 64] |= 1ull << (off % 64);
	return 0;
}

/* Free every page. */
static void shadow_free(struct shadow *s)
{
	for (size_t i = 0; i < s->cap; i++)
		free(s->slot[i]);
	free(s->slot);
	memset(s, 0, sizeof(*s));
}

/* ---- an op stream being built ----------------------------------------------------------- */

struct obuf {
	uint8_t *ops;
	size_t nops, ops_cap;   /* bytes */
	uint8_t *data;          /* blocks in the order they are taken */
	size_t ndata, data_cap;
	uint32_t *block;
	size_t nblocks, block_cap;
	bool oom;
};

/* Grow *p (elements of sz bytes) to hold need; false when out of memory. */
static bool grow(void **p, size_t *cap, size_t need, size_t sz)
{
	size_t n = *cap ? *cap : 256;
	void *q;

	if (need <= *cap)
		return true;
	while (n < need)
		n *= 2;
	q = realloc(*p, n * sz);
	if (!q)
		return false;
	*p = q;
	*cap = n;
	return true;
}

/* Append one op record (the device op set's byte for code). */
static void ob_op(struct obuf *o, unsigned code, uint8_t dev, uint8_t p0, uint8_t p1, uint16_t p2,
		  uint16_t p3, uint64_t val)
{
	int byte = fuzz_opset_byte(&fuzz_opset_device, code);

	if (byte < 0 || !grow((void **)&o->ops, &o->ops_cap, o->nops + FUZZ_OP_SIZE, 1)) {
		o->oom = true;
		return;
	}
	fuzz_op_encode(o->ops + o->nops, (unsigned)byte, dev, p0, p1, p2, p3, val);
	o->nops += FUZZ_OP_SIZE;
}

/* One block of data, taken in one piece (data NULL: zeroes). */
static void ob_data(struct obuf *o, const void *data, size_t len, size_t have)
{
	if (!len)
		return;
	if (!grow((void **)&o->data, &o->data_cap, o->ndata + len, 1) ||
	    !grow((void **)&o->block, &o->block_cap, o->nblocks + 1, sizeof(*o->block))) {
		o->oom = true;
		return;
	}
	have = RS_MIN(have, len);
	if (have)
		memcpy(o->data + o->ndata, data, have);
	memset(o->data + o->ndata + have, 0, len - have);
	o->ndata += len;
	o->block[o->nblocks++] = (uint32_t)len;
}

/* Lay out ops then the blocks last-taken-first (the executor takes data
 * from the back of the input). */
static int ob_write(struct obuf *o, const char *path, char *err, size_t errlen)
{
	uint8_t *tail = malloc(o->ndata ? o->ndata : 1);
	size_t end = o->ndata, pos = 0;
	int r;

	if (!tail)
		return conv_err(err, errlen, "out of memory");
	for (size_t i = o->nblocks; i-- > 0;) {
		size_t start = end - o->block[i];

		memcpy(tail + pos, o->data + start, o->block[i]);
		pos += o->block[i];
		end = start;
	}
	r = write_whole(path, o->ops, o->nops, tail, o->ndata, err, errlen);
	free(tail);
	return r;
}

/* Free the stream being built. */
static void ob_free(struct obuf *o)
{
	free(o->ops);
	free(o->data);
	free(o->block);
	memset(o, 0, sizeof(*o));
}

/* ---- trace -> op stream ----------------------------------------------------------------- */

/* One guest-memory byte the device must find in place before an access. */
struct prewrite {
	uint64_t gpa;
	uint32_t seq;
	uint8_t b;
};

/* qsort order: by address, then by when it was seen. */
static int prewrite_cmp(const void *a, const void *b)
{
	const struct prewrite *x = a, *y = b;

	if (x->gpa != y->gpa)
		return x->gpa < y->gpa ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

struct t2o {
	const struct rp_list *l;
	struct obuf ob;
	struct shadow sh;
	struct prewrite *pw;
	size_t npw, pw_cap;
	struct { uint64_t gpa, len; } *written; /* device writes of the current group */
	size_t nwritten, written_cap;
	uint64_t ram;           /* RAM MEM_WRITE can reach (below the PCI hole) */
	uint64_t mono;          /* the fuzz world's virtual clock, as predicted */
	struct mspec spec;
	struct conv_result *r;
	bool bad;
	char why[200];
};

/* True when the device wrote gpa earlier in the current group. */
static bool written_in_group(const struct t2o *c, uint64_t gpa)
{
	for (size_t i = 0; i < c->nwritten; i++)
		if (gpa - c->written[i].gpa < c->written[i].len)
			return true;
	return false;
}

/* Guest memory the group's DMA reads need, and the shadow after it. */
static void scan_memory(struct t2o *c, size_t from, size_t to)
{
	uint32_t seq = 0;

	c->npw = 0;
	c->nwritten = 0;
	for (size_t i = from; i < to; i++) {
		const struct trace_event *ev = &c->l->ev[i];

		if (ev->type == TEV_DMA_WRITE) {
			if (grow((void **)&c->written, &c->written_cap, c->nwritten + 1,
				 sizeof(*c->written))) {
				c->written[c->nwritten].gpa = ev->addr;
				c->written[c->nwritten++].len = ev->len;
			}
			for (uint32_t k = 0; k < ev->len; k++)
				if (shadow_set(&c->sh, ev->addr + k, ev->data[k]) < 0)
					c->ob.oom = true;
			continue;
		}
		if (ev->type != TEV_DMA_READ)
			continue;
		if (ev->addr + ev->len > c->ram || ev->addr + ev->len < ev->addr) {
			c->bad = true;
			snprintf(c->why, sizeof c->why,
				 "event %zu: a device read at 0x%llx, beyond the %llu bytes of RAM "
				 "an op stream can write",
				 i, (unsigned long long)ev->addr, (unsigned long long)c->ram);
			return;
		}
		for (uint32_t k = 0; k < ev->len; k++) {
			uint64_t gpa = ev->addr + k;
			uint8_t v;

			if (written_in_group(c, gpa))
				continue; /* the device reads what it wrote */
			if (shadow_get(&c->sh, gpa, &v) == 1 && v == ev->data[k])
				continue;
			if (!grow((void **)&c->pw, &c->pw_cap, c->npw + 1, sizeof(*c->pw))) {
				c->ob.oom = true;
				return;
			}
			c->pw[c->npw++] = (struct prewrite){ gpa, seq++, ev->data[k] };
			if (shadow_set(&c->sh, gpa, ev->data[k]) < 0)
				c->ob.oom = true;
		}
	}
}

/* MEM_WRITE ops for the collected bytes: inline up to 8, data mode above. */
static void emit_prewrites(struct t2o *c)
{
	size_t n = 0;

	if (!c->npw)
		return;
	qsort(c->pw, c->npw, sizeof(*c->pw), prewrite_cmp);
	for (size_t i = 0; i < c->npw; i++) /* the first value a byte had wins */
		if (n == 0 || c->pw[n - 1].gpa != c->pw[i].gpa)
			c->pw[n++] = c->pw[i];
	for (size_t i = 0; i < n;) {
		size_t j = i + 1;
		uint8_t run[CONV_MEM_RUN_MAX];

		while (j < n && j - i < CONV_MEM_RUN_MAX && c->pw[j].gpa == c->pw[j - 1].gpa + 1)
			j++;
		for (size_t k = i; k < j; k++)
			run[k - i] = c->pw[k].b;
		if (j - i <= 8) {
			uint8_t v[8] = { 0 };

			memcpy(v, run, j - i);
			ob_op(&c->ob, FOP_MEM_WRITE, 0, (uint8_t)(0x80 | (j - i - 1)), 0,
			      (uint16_t)c->pw[i].gpa, (uint16_t)(c->pw[i].gpa >> 16), rs_le64(v));
		} else {
			size_t len = j - i - 1;

			ob_op(&c->ob, FOP_MEM_WRITE, 0, (uint8_t)((len >> 8) & 0x7f), (uint8_t)len,
			      (uint16_t)c->pw[i].gpa, (uint16_t)(c->pw[i].gpa >> 16), 0);
			ob_data(&c->ob, run, j - i, j - i);
			c->r->data_bytes += j - i;
		}
		c->r->ops++;
		i = j;
	}
}

/* Advance the fuzz world's clock so the group's first reading is the
 * recorded one; later readings in the group get the world's own steps. */
static void emit_clock(struct t2o *c, size_t from, size_t to)
{
	bool first = true;

	for (size_t i = from; i < to; i++) {
		const struct trace_event *ev = &c->l->ev[i];
		uint64_t want, next;

		if (ev->type != TEV_WORLD || ev->kind != WIN_CLOCK)
			continue;
		want = ev->addr == WORLD_CLOCK_REALTIME ? ev->value - FUZZ_REALTIME_BASE_NS
							: ev->value;
		next = c->mono + FUZZ_CLOCK_STEP_NS;
		if (first && want > next && want - next < (1ull << 62)) {
			ob_op(&c->ob, FOP_WORLD_CLOCK, 0, 0, 0, 0, 0, want - next);
			c->r->ops++;
			c->mono += want - next;
			next = want;
		}
		if (next != want)
			c->r->lossy++;
		c->mono = next;
		first = false;
	}
}

/* The data the fuzz world takes during the group: entropy and backend reads
 * (the request's length: recorded bytes, then zeroes). */
static void emit_world_data(struct t2o *c, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++) {
		const struct trace_event *ev = &c->l->ev[i];
		unsigned input = ev->kind & REC_WK_INPUT_MASK;

		if (ev->type != TEV_WORLD || (ev->kind & REC_WK_CONT))
			continue;
		if (input == WIN_ENTROPY) {
			bool ok = ev->value == 0 && ev->len == ev->size;

			ob_data(&c->ob, ev->data, ev->size, ok ? ev->len : 0);
			c->r->data_bytes += ev->size;
			c->r->lossy += !ok;
		} else if (input == WIN_IO) {
			unsigned op = ev->kind >> REC_WK_OP_SHIFT & 0xff;
			int64_t v = (int64_t)ev->value;

			if (op == WIO_READ) {
				/* a long read's data continues in the next events */
				uint8_t *buf = malloc(ev->size ? ev->size : 1);
				size_t have = 0;

				if (!buf) {
					c->ob.oom = true;
					return;
				}
				for (size_t k = i; k < to && have < ev->size; k++) {
					const struct trace_event *d = &c->l->ev[k];

					if (k > i && (d->type != TEV_WORLD || !(d->kind & REC_WK_CONT)))
						break;
					memcpy(buf + have, d->data, RS_MIN(d->len, ev->size - have));
					have += RS_MIN(d->len, ev->size - have);
				}
				ob_data(&c->ob, buf, ev->size, have);
				free(buf);
				c->r->data_bytes += ev->size;
				c->r->lossy += v != (int64_t)ev->size || ev->size == UINT32_MAX;
			} else if (op != WIO_SIZE && v != (op == WIO_WRITE || op == WIO_SEND
							     ? (int64_t)ev->size : 0)) {
				c->r->lossy++; /* the fuzz world's writes always succeed */
			}
		}
	}
}

/* The op of a group's top-level event. */
static void emit_top(struct t2o *c, const struct trace_event *ev)
{
	if (rec_is_access(ev->type)) {
		bool write = ev->type == TEV_PIO_WRITE || ev->type == TEV_MMIO_WRITE ||
			     ev->type == TEV_PCI_CFG_WRITE;
		bool mmio = ev->type == TEV_MMIO_READ || ev->type == TEV_MMIO_WRITE;
		uint64_t off = mmio ? ev->addr - MACHINE_VMMIO_BASE : ev->addr;
		uint8_t code = (uint8_t)(ev->size == 1   ? 0
					 : ev->size == 2 ? 1
					 : ev->size == 4 ? 2
							 : 3);

		if (mmio && (ev->addr < MACHINE_VMMIO_BASE || off > UINT32_MAX)) {
			c->bad = true;
			snprintf(c->why, sizeof c->why,
				 "an access at 0x%llx, outside what IO_RAW reaches (0x%llx + 4 GiB)",
				 (unsigned long long)ev->addr,
				 (unsigned long long)MACHINE_VMMIO_BASE);
			return;
		}
		ob_op(&c->ob, FOP_IO_RAW, 0, (uint8_t)(mmio | write << 1), code, (uint16_t)off,
		      (uint16_t)(off >> 16), ev->value);
		c->r->ops++;
	} else if (ev->type == TEV_WORLD) {
		const char *name = ev->dev < c->spec.ndev ? c->spec.dev[ev->dev].device : "";
		const struct fuzz_device_info *info = fuzz_device_info(name);
		uint32_t kinds = info && info->event_kinds ? info->event_kinds : 0x1feu;
		unsigned index = 0;
		bool found = false;

		for (unsigned k = WEV_NET_RX; k <= WEV_HOST; k++) {
			if (!(kinds & (1u << k)))
				continue;
			if (k == ev->addr) {
				found = true;
				break;
			}
			index++;
		}
		if (!found || ev->dev > 0xff || ev->len > FUZZ_WORLD_EVENT_DATA) {
			c->r->lossy++;
			return;
		}
		ob_op(&c->ob, FOP_WORLD_EVENT, (uint8_t)ev->dev, (uint8_t)(0x80 | index), 0,
		      (uint16_t)ev->len, (uint16_t)ev->size, ev->value);
		ob_data(&c->ob, ev->data, ev->len, ev->len);
		c->r->ops++;
		c->r->data_bytes += ev->len;
		c->r->lossy += ev->size > 0xffff;
	}
}

/* The fuzz target whose machine is spec, or "" (name into buf). */
static void find_target(const char *spec, char *buf, size_t len)
{
	static const char *const families[] = { "pci_modern", "pci_legacy", "mmio",
						"mmio_legacy" };

	buf[0] = '\0';
	for (unsigned i = 0; rs_devices[i] && !buf[0]; i++) {
		for (unsigned f = 0; f < RS_ARRAY_SIZE(families) && !buf[0]; f++) {
			char name[64], tr[24], err[200];
			struct fuzz_target t = { name, FUZZ_DEVICE, rs_devices[i]->name, tr };
			struct fuzz_harness *h;
			struct fuzz_machine *fm = NULL;

			snprintf(name, sizeof name, "%s_%s", rs_devices[i]->name, families[f]);
			snprintf(tr, sizeof tr, "%s", families[f]);
			for (char *p = tr; *p; p++)
				if (*p == '_')
					*p = '-';
			h = fuzz_harness_new(&t, err, sizeof err);
			if (h && fuzz_harness_machines(h, &fm, 1) == 1 && !strcmp(fm->m->spec, spec))
				snprintf(buf, len, "%s", name);
			fuzz_harness_free(h);
		}
	}
}

int convert_trace_to_ops(const char *in, const char *out, struct conv_result *r, char *err,
			 size_t errlen)
{
	struct t2o c = { 0 };
	struct rp_list l = { 0 };
	struct trace_header h;
	struct trace_error terr;
	char perr[200];
	int rc = -1;

	memset(r, 0, sizeof(*r));
	c.r = r;
	if (rp_list_load(in, &l, &h, &terr) < 0)
		return conv_err(err, errlen, "%s: %s", in, terr.msg);
	c.l = &l;
	r->events = l.n;
	if (mspec_parse(h.machine_spec, &c.spec, perr, sizeof perr) < 0) {
		conv_err(err, errlen, "%s: machine spec: %s", in, perr);
		goto out;
	}
	c.ram = RS_MIN(c.spec.mem, MACHINE_RAM_LOW_MAX);
	for (size_t i = 0; i < l.n && !c.bad && !c.ob.oom;) {
		size_t end = i + 1;

		while (end < l.n && !rec_is_top(&l.ev[end]))
			end++;
		if (rec_is_top(&l.ev[i])) {
			scan_memory(&c, i + 1, end);
			emit_prewrites(&c);
			emit_clock(&c, i + 1, end);
			emit_top(&c, &l.ev[i]);
			emit_world_data(&c, i + 1, end);
		}
		i = end;
	}
	if (c.bad) {
		conv_err(err, errlen, "%s: %s", in, c.why);
		goto out;
	}
	if (c.ob.oom) {
		conv_err(err, errlen, "out of memory");
		goto out;
	}
	if (ob_write(&c.ob, out, err, errlen) < 0)
		goto out;
	find_target(h.machine_spec, r->target, sizeof r->target);
	rc = 0;
out:
	ob_free(&c.ob);
	shadow_free(&c.sh);
	free(c.pw);
	free(c.written);
	rp_list_free(&l);
	free(h.world);
	return rc;
}

/* ---- op stream -> trace ----------------------------------------------------------------- */

/* Shared with the converting child. */
struct o2t_shared {
	uint64_t ops, unrecorded, events;
	int stage;              /* 1 harness built, 2 recording, 3 done */
	char err[200];
};

/* The target's name as a struct fuzz_target (names point into buf). */
static int parse_target(const char *name, struct fuzz_target *t, char *dev, char *tr, size_t len)
{
	static const char *const families[] = { "_pci_modern", "_pci_legacy", "_mmio_legacy",
						"_mmio", "_pci" };
	size_t n = strlen(name);

	memset(t, 0, sizeof(*t));
	t->name = name;
	if (!strcmp(name, "machine")) {
		t->kind = FUZZ_MACHINE;
		return 0;
	}
	for (unsigned f = 0; f < RS_ARRAY_SIZE(families); f++) {
		size_t fl = strlen(families[f]);

		if (n <= fl || n - fl >= len || strcmp(name + n - fl, families[f]))
			continue;
		memcpy(dev, name, n - fl);
		dev[n - fl] = '\0';
		snprintf(tr, len, "%s", families[f] + 1);
		for (char *p = tr; *p; p++)
			if (*p == '_')
				*p = '-';
		t->kind = FUZZ_DEVICE;
		t->device = dev;
		t->transport = tr;
		return rs_device_find(dev) ? 0 : -1;
	}
	return -1;
}

/* IO_RAW as the executor performs it (docs/op-stream.md), through the
 * recorder. */
static void raw_access(struct fuzz_exec *x, struct recorder *rec)
{
	const struct fuzz_op *op = &x->op;
	unsigned size = fuzz_size4(op->p1);
	bool write = op->p0 & 2;

	if (op->p0 & 1) {
		uint64_t addr = MACHINE_VMMIO_BASE + ((uint64_t)op->p3 << 16 | op->p2);

		if (write)
			rec_mmio_write(rec, addr, size, op->val);
		else
			fuzz_mix(x, rec_mmio_read(rec, addr, size));
		return;
	}
	if (write) {
		rec_pio_write(rec, op->p2, size, op->val);
		if (op->p2 >= PCI_CONF1_DATA_PORT && op->p2 < PCI_CONF1_DATA_PORT + 4)
			x->fm->bars_moved = true;
	} else {
		fuzz_mix(x, rec_pio_read(rec, op->p2, size));
	}
}

/* The converting child: run the input on the target's machine, recording. */
static void o2t_child(const uint8_t *data, size_t size, const struct fuzz_target *t,
		      const char *out, struct o2t_shared *sh)
{
	struct fuzz_machine *fms[FUZZ_MAX_MACHINES];
	struct fuzz_harness *h = fuzz_harness_new(t, sh->err, sizeof sh->err);
	struct fuzz_exec *x = calloc(1, sizeof(*x));
	struct trace_header hdr = { 0 };
	struct trace_writer *w;
	struct trace_error terr;
	struct inproc_io io = { 0 };
	struct fuzz_machine *fm;
	struct recorder *rec;
	unsigned n, pick = 0;

	if (!h || !x)
		rp_child_exit(1);
	n = fuzz_harness_machines(h, fms, FUZZ_MAX_MACHINES);
	if (n == 0) {
		snprintf(sh->err, sizeof sh->err, "target %s has no machine to record", t->name);
		rp_child_exit(1);
	}
	if (t->kind == FUZZ_MACHINE && size) {
		pick = data[0] % n;
		data++;
		size--;
	}
	fm = fms[pick];
	sh->stage = 1;
	hdr.version = TRACE_FORMAT_VERSION;
	snprintf(hdr.machine_spec, sizeof hdr.machine_spec, "%s", fm->m->spec);
	snprintf(hdr.recorder, sizeof hdr.recorder, "convert");
	rec_build_id(hdr.build, sizeof hdr.build);
	w = trace_writer_open(out, &hdr, &terr);
	if (!w) {
		snprintf(sh->err, sizeof sh->err, "%s", terr.msg);
		rp_child_exit(1);
	}
	rec = recorder_new(fm->m, w);
	if (!rec)
		rp_child_exit(1);
	rec_set_sync(rec, true);
	io.m = fm->m;
	io.r = rec;
	inproc_gdrv_io(&fm->io, &io); /* the executor's driver goes through the recorder */
	x->target = t;
	x->fm = fm;
	x->hash = FUZZ_HASH_INIT;
	fuzz_input_init(&x->in, data, size);
	fuzz_world_begin(fm->world, &x->in);
	fuzz_source_begin(fm->src, &x->in);
	sh->stage = 2;
	while (fuzz_next_op(&x->in, &fuzz_opset_device, &x->op)) {
		switch (x->op.code) {
		case FOP_IO_RAW:
			raw_access(x, rec);
			break;
		case FOP_REG_READ:
		case FOP_REG_WRITE:
		case FOP_CFG_READ:
		case FOP_CFG_WRITE:
			sh->unrecorded++;
			fuzz_exec_op(x, &x->op);
			break;
		case FOP_KICK:
			sh->unrecorded += x->op.p1 & 1;
			fuzz_exec_op(x, &x->op);
			break;
		default:
			fuzz_exec_op(x, &x->op);
			break;
		}
		sh->ops++;
		sh->events = trace_writer_events(w);
	}
	if (rec_tick(rec, &terr) < 0) {
		snprintf(sh->err, sizeof sh->err, "%s", terr.msg);
		rp_child_exit(1);
	}
	recorder_free(rec);
	sh->events = trace_writer_events(w);
	if (trace_writer_close(w, &terr) < 0) {
		snprintf(sh->err, sizeof sh->err, "%s", terr.msg);
		rp_child_exit(1);
	}
	sh->stage = 3;
	rp_child_exit(0);
}

/* A converting child died: keep every event its complete frames hold. */
int convert_salvage(const char *out, uint64_t *events, char *err, size_t errlen)
{
	char tmp[4200];
	struct rp_list l = { 0 };
	struct trace_header h;
	struct trace_error terr;
	struct trace_reader *rd;
	struct trace_event ev;
	int rc;

	snprintf(tmp, sizeof tmp, "%s.tmp", out);
	rd = trace_reader_open(tmp, &terr);
	if (!rd)
		return conv_err(err, errlen, "%s: %s", tmp, terr.msg);
	h = *trace_reader_header(rd);
	while ((rc = trace_read(rd, &ev, &terr)) == 1)
		if (rp_list_add(&l, &ev) < 0)
			break;
	/* the last frame may be cut by the crash: what came before is whole */
	rc = rp_list_write(out, &h, &l, NULL, &terr);
	trace_reader_close(rd);
	*events = l.n;
	rp_list_free(&l);
	unlink(tmp);
	if (rc < 0)
		return conv_err(err, errlen, "%s: %s", out, terr.msg);
	return 0;
}

int convert_ops_to_trace(const char *in, const char *target, const char *out,
			 struct conv_result *r, char *err, size_t errlen)
{
	struct fuzz_target t;
	struct o2t_shared *sh;
	char dev[64], tr[32];
	uint8_t *data = NULL;
	size_t size = 0, cap = 0;
	FILE *f;
	pid_t pid;
	int st = 0, rc = -1;

	memset(r, 0, sizeof(*r));
	if (parse_target(target, &t, dev, tr, sizeof dev) < 0)
		return conv_err(err, errlen,
				"unknown fuzz target '%s' (DEVICE_TRANSPORT such as blk_pci_modern, "
				"or machine)",
				target);
	f = fopen(in, "rb");
	if (!f)
		return conv_err(err, errlen, "%s: %s", in, strerror(errno));
	for (;;) {
		size_t n;

		if (!grow((void **)&data, &cap, size + 65536, 1)) {
			fclose(f);
			free(data);
			return conv_err(err, errlen, "out of memory");
		}
		n = fread(data + size, 1, cap - size, f);
		size += n;
		if (n == 0)
			break;
	}
	fclose(f);
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED) {
		free(data);
		return conv_err(err, errlen, "out of memory");
	}
	memset(sh, 0, sizeof(*sh));
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		conv_err(err, errlen, "fork: %s", strerror(errno));
		goto out;
	}
	if (pid == 0)
		o2t_child(data, size, &t, out, sh);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	r->ops = sh->ops;
	r->unrecorded = sh->unrecorded;
	r->events = sh->events;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0 && sh->stage == 3) {
		rc = 0;
	} else if (sh->stage == 2) {
		/* the input killed the device stack while being recorded */
		r->crashed = true;
		r->crash_signal = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
		r->crash_status = WIFEXITED(st) ? WEXITSTATUS(st) : 0;
		rc = convert_salvage(out, &r->events, err, errlen);
	} else {
		conv_err(err, errlen, "%s", sh->err[0] ? sh->err : "the converter failed");
	}
out:
	munmap(sh, sizeof(*sh));
	free(data);
	return rc;
}

/* ---- trace -> C ------------------------------------------------------------------------- */

/* One top-level event of a C reproducer: a commented line, and for an
 * access the machine call with the recorded address, size and value. */
static void emit_c_step(FILE *f, uint64_t i, const struct trace_event *ev)
{
	unsigned long long n = (unsigned long long)i, a = (unsigned long long)ev->addr;
	unsigned long long v = (unsigned long long)ev->value;
	char text[200];

	trace_event_str(text, sizeof text, ev);
	for (char *p = text; *p; p++)
		if (*p == '*' || *p == '/')
			*p = '.'; /* nothing in it may end the comment */
	fprintf(f, "\t/* #%llu %s */\n", n, text);
	switch (ev->type) {
	case TEV_PIO_READ:
	case TEV_PCI_CFG_READ:
		fprintf(f, "\tif (step(%llu))\n\t\tdone(machine_pio_read(m, 0x%llx, %u));\n", n, a,
			ev->size);
		break;
	case TEV_PIO_WRITE:
	case TEV_PCI_CFG_WRITE:
		fprintf(f, "\tif (step(%llu)) {\n\t\tmachine_pio_write(m, 0x%llx, %u, 0x%llxull);\n"
			   "\t\tdone(0);\n\t}\n",
			n, a, ev->size, v);
		break;
	case TEV_MMIO_READ:
		fprintf(f, "\tif (step(%llu))\n\t\tdone(machine_mmio_read(m, 0x%llxull, %u));\n", n,
			a, ev->size);
		break;
	case TEV_MMIO_WRITE:
		fprintf(f, "\tif (step(%llu)) {\n\t\tmachine_mmio_write(m, 0x%llxull, %u, "
			   "0x%llxull);\n\t\tdone(0);\n\t}\n",
			n, a, ev->size, v);
		break;
	default: /* a host event or a checkpoint: the replayer performs it */
		fprintf(f, "\tstep(%llu);\n", n);
		break;
	}
}

int convert_trace_to_c(const char *in, const char *out, struct conv_result *r, char *err,
		       size_t errlen)
{
	struct trace_reader *rd;
	struct trace_error terr;
	struct trace_event ev;
	char tmp[4200];
	uint8_t *file = NULL;
	size_t size = 0, cap = 0;
	uint64_t i = 0;
	FILE *f;
	int rc;
	bool ok;

	memset(r, 0, sizeof(*r));
	f = fopen(in, "rb");
	if (!f)
		return conv_err(err, errlen, "%s: %s", in, strerror(errno));
	for (;;) {
		size_t n;

		if (!grow((void **)&file, &cap, size + 65536, 1)) {
			fclose(f);
			free(file);
			return conv_err(err, errlen, "out of memory");
		}
		n = fread(file + size, 1, cap - size, f);
		size += n;
		if (n == 0)
			break;
	}
	fclose(f);
	rd = trace_reader_open_mem(file, size, &terr);
	if (!rd) {
		free(file);
		return conv_err(err, errlen, "%s: %s", in, terr.msg);
	}
	snprintf(tmp, sizeof tmp, "%s.tmp", out);
	f = fopen(tmp, "w");
	if (!f) {
		trace_reader_close(rd);
		free(file);
		return conv_err(err, errlen, "%s: %s", tmp, strerror(errno));
	}
	fprintf(f, "/*\n * Reproducer written by `ringside convert --to c` from %s:\n"
		   " * machine: %s\n"
		   " * It replays the trace below through the machine's entry points, one\n"
		   " * access per line, and checks every output against the recording.\n"
		   " * Exit status: 0 clean, 1 divergence, 2 the trace cannot be replayed.\n"
		   " */\n#include <stdio.h>\n\n#include \"ringside/replay.h\"\n\n"
		   "static const unsigned char trace[%zu] = {",
		in, trace_reader_header(rd)->machine_spec, size);
	for (size_t k = 0; k < size; k++)
		fprintf(f, "%s0x%02x,", k % 12 ? " " : "\n\t", file[k]);
	fprintf(f, "\n};\n\nstatic struct replayer *rp;\n\n"
		   "/* In step with event index; true for an access to perform. */\n"
		   "static int step(unsigned long long index)\n{\n"
		   "\treturn replayer_next(rp, index) == 1;\n}\n\n"
		   "static void done(uint64_t value)\n{\n\treplayer_access_done(rp, value);\n}\n\n"
		   "int main(void)\n{\n\tstatic struct replay_result res;\n"
		   "\tstruct replay_opts o = { .quiet = 1 };\n\tstruct machine *m;\n\tint r;\n\n"
		   "\trp = replayer_open_mem(trace, sizeof trace, &o, &res);\n"
		   "\tif (!rp) {\n\t\tfprintf(stderr, \"%%s\\n\", res.err.msg);\n"
		   "\t\treturn 2;\n\t}\n"
		   "\tm = replayer_machine(rp);\n");
	while ((rc = trace_read(rd, &ev, &terr)) == 1) {
		if (rec_is_top(&ev))
			emit_c_step(f, i, &ev);
		i++;
	}
	fprintf(f, "\tr = replayer_close(rp);\n\tif (r == 1)\n\t\tfputs(res.report, stderr);\n"
		   "\telse if (r < 0)\n\t\tfprintf(stderr, \"%%s\\n\", res.err.msg);\n"
		   "\tprintf(\"replayed %%llu events, %%llu divergences, digest %%016llx\\n\",\n"
		   "\t       (unsigned long long)res.events, (unsigned long long)res.divergences,\n"
		   "\t       (unsigned long long)res.digest);\n"
		   "\treturn r == 0 ? 0 : r == 1 ? 1 : 2;\n}\n");
	ok = !ferror(f);
	ok = fclose(f) == 0 && ok;
	trace_reader_close(rd);
	free(file);
	r->events = i;
	if (rc < 0) {
		unlink(tmp);
		return conv_err(err, errlen, "%s: %s", in, terr.msg);
	}
	if (!ok || rename(tmp, out) < 0) {
		unlink(tmp);
		return conv_err(err, errlen, "%s: cannot write", out);
	}
	return 0;
}
