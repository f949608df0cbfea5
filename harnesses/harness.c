/*
 * ringside — the harness: builds a target's machine(s) once, runs inputs
 * through the executor with the oracles' hooks around every op, and resets
 * in-process between inputs (no fork; nothing allocated per input outlives
 * it).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

struct fuzz_harness {
	const struct fuzz_target *t;
	const struct fuzz_opset *set;
	struct fuzz_machine fm[FUZZ_MAX_MACHINES];
	unsigned nfm;
	struct fuzz_ring *ring;
	struct fuzz_exec x;
	const struct fuzz_oracle *oracles[32];
	void *ostate[32];
	unsigned noracles;
	uint64_t inputs;
	FILE *trace;
};

/* ---- machine specs ------------------------------------------------------------------ */

static const char *fuzz_mem(void)
{
	const char *m = getenv("RS_FUZZ_MEM");

	return m && *m ? m : "8M";
}

/* Transport the device can use for the wanted one (a device restricted to
 * one transport, e.g. vmmci on pci-legacy, always gets its own). */
static const char *dev_transport(const struct fuzz_device_info *info, const char *want)
{
	return info && info->only_transport ? info->only_transport : want;
}

static size_t spec_add(char *spec, size_t cap, size_t used, const char *name, const char *tr,
		       const char *topts)
{
	const struct fuzz_device_info *info = fuzz_device_info(name);
	int n = snprintf(spec + used, cap - used, " %s:%s%s%s", dev_transport(info, tr), name,
			 topts, info && info->spec_opts ? info->spec_opts : "");

	return n < 0 || (size_t)n >= cap - used ? cap : used + (size_t)n;
}

unsigned fuzz_machine_specs(char specs[][512], unsigned max)
{
	/* per template: transport of even/odd devices, transport options, and
	 * whether every device appears twice (second time on `twice`) */
	static const struct {
		const char *even, *odd, *opts, *twice;
	} tmpl[] = {
		{ "pci", "pci", "", NULL },
		{ "mmio", "mmio", "", NULL },
		{ "pci-modern", "pci-modern", ",msix=off", NULL },
		{ "pci-legacy", "mmio-legacy", "", NULL },
		{ "pci-modern", "mmio", ",packed=off,event-idx=off", NULL },
		{ "mmio", "pci", ",indirect=off,in-order=off", NULL },
		{ "pci-modern", "pci-modern", "", "mmio" },
		{ "pci-legacy", "pci-legacy", ",msix=off", NULL },
	};
	unsigned n = 0;

	for (unsigned t = 0; t < RS_ARRAY_SIZE(tmpl) && n < max; t++) {
		size_t used = (size_t)snprintf(specs[n], 512, "mem=%s", fuzz_mem());

		for (unsigned i = 0; rs_devices[i] && used < 512; i++) {
			const char *name = rs_devices[i]->name;

			used = spec_add(specs[n], 512, used, name, i % 2 ? tmpl[t].odd : tmpl[t].even,
					tmpl[t].opts);
			if (tmpl[t].twice && used < 512)
				used = spec_add(specs[n], 512, used, name, tmpl[t].twice, "");
		}
		if (used < 512)
			n++;
	}
	return n;
}

/* ---- oracles ------------------------------------------------------------------------ */

/* The next item of the comma list at *p: [*item, *item + *n), and *p moves
 * past it. false at the end of the list (or for a NULL one). */
static bool list_next(const char **p, const char **item, size_t *n)
{
	const char *e;

	if (!*p || !**p)
		return false;
	e = strchr(*p, ',');
	*item = *p;
	*n = e ? (size_t)(e - *p) : strlen(*p);
	*p += *n + (e ? 1 : 0);
	return true;
}

/* Item [item, item + n) is the word w. */
static bool item_is(const char *item, size_t n, const char *w)
{
	return strlen(w) == n && strncmp(item, w, n) == 0;
}

bool fuzz_oracle_selected(const char *sel, const char *name)
{
	const char *item;
	size_t n;

	if (!sel || !*sel || strcmp(sel, "all") == 0)
		return true;
	while (list_next(&sel, &item, &n))
		if (item_is(item, n, name))
			return true;
	return false;
}

/* Every name of a selection must be an oracle of table (or "all", "none"):
 * a misspelt name would otherwise quietly switch an oracle off. */
static int oracle_selection_check(const struct fuzz_oracle *const *table, const char *sel,
				  char *err, size_t errlen)
{
	const char *item;
	size_t n;

	while (list_next(&sel, &item, &n)) {
		bool known = item_is(item, n, "all") || item_is(item, n, "none");

		for (unsigned i = 0; table[i] && !known; i++)
			known = item_is(item, n, table[i]->name);
		if (!known) {
			size_t used = (size_t)snprintf(err, errlen,
						       "RS_FUZZ_ORACLES: unknown oracle '%.*s' (known:",
						       (int)RS_MIN(n, (size_t)32), item);

			for (unsigned i = 0; table[i] && used < errlen; i++)
				used += (size_t)snprintf(err + used, errlen - used, i ? ", %s" : " %s",
							 table[i]->name);
			if (used < errlen)
				snprintf(err + used, errlen - used, ", all, none)");
			return -EINVAL;
		}
	}
	return 0;
}

int fuzz_harness_add_oracle(struct fuzz_harness *h, const struct fuzz_oracle *o)
{
	void *st = NULL;

	if (h->noracles == RS_ARRAY_SIZE(h->oracles))
		return -ENOSPC;
	if (o->attach && o->attach(h, &st) < 0)
		return -EINVAL;
	h->oracles[h->noracles] = o;
	h->ostate[h->noracles++] = st;
	return 0;
}

int fuzz_harness_add_oracles(struct fuzz_harness *h, const struct fuzz_oracle *const *table,
			     const char *sel)
{
	for (unsigned i = 0; table[i]; i++) {
		int r;

		if (!fuzz_oracle_selected(sel, table[i]->name))
			continue;
		r = fuzz_harness_add_oracle(h, table[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

void fuzz_bug(const struct fuzz_exec *x, const char *oracle, const char *fmt, ...)
{
	char line[256];
	va_list ap;

	fprintf(stderr, "==ringside-fuzz== BUG found by oracle '%s' in target %s: ", oracle,
		x->target ? x->target->name : "?");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fuzz_op_format(&x->op, line, sizeof(line));
	fprintf(stderr, "\n==ringside-fuzz== while executing op: %s\n", line);
	if (x->fm)
		fprintf(stderr, "==ringside-fuzz== machine: %s\n", x->fm->spec);
	fuzz_list(x->target && x->target->kind == FUZZ_RING ? &fuzz_opset_ring : &fuzz_opset_device,
		  x->in.data, x->in.size, stderr);
	fflush(stderr);
	abort();
}

/* ---- harness ------------------------------------------------------------------------ */

struct fuzz_harness *fuzz_harness_new(const struct fuzz_target *t, char *err, size_t errlen)
{
	struct fuzz_harness *h = calloc(1, sizeof(*h));
	char spec[512];
	int r = 0;

	if (!h) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	h->t = t;
	h->set = t->kind == FUZZ_RING ? &fuzz_opset_ring : &fuzz_opset_device;
	h->x.target = t;
	switch (t->kind) {
	case FUZZ_RING:
		h->ring = fuzz_ring_new(err, errlen);
		r = h->ring ? 0 : -ENOMEM;
		break;
	case FUZZ_DEVICE: {
		/* the model name is t->device up to its options, if any */
		char model[32];
		const struct fuzz_device_info *info;

		snprintf(model, sizeof(model), "%.*s", (int)strcspn(t->device, ","), t->device);
		info = fuzz_device_info(model);
		if (!rs_device_find(model)) {
			snprintf(err, errlen, "target %s: device '%s' is not in rs_devices[]", t->name,
				 t->device);
			r = -ENOENT;
			break;
		}
		snprintf(spec, sizeof(spec), "mem=%s %s:%s%s", fuzz_mem(),
			 dev_transport(info, t->transport), t->device,
			 info && info->spec_opts ? info->spec_opts : "");
		r = fuzz_machine_init(&h->fm[0], spec, err, errlen);
		h->nfm = r == 0;
		break;
	}
	case FUZZ_MACHINE: {
		char (*specs)[512] = calloc(FUZZ_MAX_MACHINES, 512);
		unsigned n = specs ? fuzz_machine_specs(specs, FUZZ_MAX_MACHINES) : 0;

		for (unsigned i = 0; i < n && r == 0; i++) {
			r = fuzz_machine_init(&h->fm[h->nfm], specs[i], err, errlen);
			h->nfm += r == 0;
		}
		free(specs);
		if (!h->nfm && r == 0) {
			snprintf(err, errlen, "no machine spec to build");
			r = -ENOENT;
		}
		break;
	}
	default:
		snprintf(err, errlen, "unknown target kind %d", (int)t->kind);
		r = -EINVAL;
		break;
	}
	if (r == 0)
		r = oracle_selection_check(fuzz_oracles, getenv("RS_FUZZ_ORACLES"), err, errlen);
	if (r == 0) {
		r = fuzz_harness_add_oracles(h, fuzz_oracles, getenv("RS_FUZZ_ORACLES"));
		if (r < 0)
			snprintf(err, errlen, "an oracle could not attach (%d)", r);
	}
	if (r < 0) {
		fuzz_harness_free(h);
		return NULL;
	}
	return h;
}

void fuzz_harness_free(struct fuzz_harness *h)
{
	if (!h)
		return;
	for (unsigned i = 0; i < h->noracles; i++)
		if (h->oracles[i]->detach)
			h->oracles[i]->detach(h->ostate[i]);
	for (unsigned i = 0; i < h->nfm; i++)
		fuzz_machine_fini(&h->fm[i]);
	fuzz_ring_free(h->ring);
	free(h);
}

const struct fuzz_opset *fuzz_harness_opset(const struct fuzz_harness *h)
{
	return h->set;
}

const struct fuzz_target *fuzz_harness_target(const struct fuzz_harness *h)
{
	return h->t;
}

unsigned fuzz_harness_machines(struct fuzz_harness *h, struct fuzz_machine **out, unsigned max)
{
	unsigned n = RS_MIN(h->nfm, max);

	for (unsigned i = 0; i < n; i++)
		out[i] = &h->fm[i];
	return n;
}

void fuzz_harness_trace(struct fuzz_harness *h, FILE *f)
{
	h->trace = f;
	h->x.trace = f;
}

/* Diagnostics of one log, one line, for the trace. */
static void trace_log(FILE *f, const char *who, const struct diag_log *log)
{
	if (!log->total)
		return;
	fprintf(f, "  diag %s:", who);
	for (unsigned c = 1; c < DIAG__COUNT; c++)
		if (log->count[c])
			fprintf(f, " %s%s=%u", diag_class_of(c) == DIAG_CLASS_DRIVER ? "" : "!",
				diag_name(c), log->count[c]);
	fputc('\n', f);
}

/* End of input summary: interrupts and every diagnostic reported. */
static void trace_end(struct fuzz_harness *h)
{
	struct fuzz_exec *x = &h->x;

	fprintf(h->trace, "  result %016llx, %u ops, %llu data bytes taken, %llu zeroes\n",
		(unsigned long long)x->hash, x->in.nops, (unsigned long long)x->in.taken,
		(unsigned long long)x->in.zeros);
	if (x->fm) {
		struct machine *m = x->fm->m;

		fprintf(h->trace, "  irq: intx raised %llu, level 0x%x, msi %llu\n",
			(unsigned long long)m->intx_raised, m->intx_level,
			(unsigned long long)m->msi_count);
		trace_log(h->trace, "machine", &m->log);
		for (unsigned i = 0; i < x->fm->ndevs; i++)
			trace_log(h->trace, x->fm->devs[i].vd->name, &x->fm->devs[i].vd->log);
	}
}

/* Print op before it runs; after it (done), what it took from the data. */
static void trace_op(struct fuzz_harness *h, const struct fuzz_op *op, bool done,
		     uint64_t taken_before)
{
	char line[256];

	if (!done) {
		fuzz_op_format(op, line, sizeof(line));
		fprintf(h->trace, "%s\n", line);
	} else if (h->x.in.taken != taken_before) {
		fprintf(h->trace, "       took %llu data bytes\n",
			(unsigned long long)(h->x.in.taken - taken_before));
	}
}

uint64_t fuzz_harness_run(struct fuzz_harness *h, const uint8_t *data, size_t size)
{
	struct fuzz_exec *x = &h->x;
	struct fuzz_machine *fm = NULL;

	x->hash = FUZZ_HASH_INIT;
	x->inputs = h->inputs;
	x->fm = NULL;
	x->ring = h->ring;
	memset(&x->op, 0, sizeof(x->op));
	if (h->t->kind != FUZZ_RING) {
		unsigned pick = 0;

		if (h->t->kind == FUZZ_MACHINE && size) {
			pick = data[0] % h->nfm;
			data++;
			size--;
		}
		fm = x->fm = &h->fm[pick];
		fuzz_mix(x, pick);
	}
	fuzz_input_init(&x->in, data, size);
	if (fm) {
		fuzz_world_begin(fm->world, &x->in);
		fuzz_source_begin(fm->src, &x->in);
	} else {
		fuzz_ring_begin(h->ring, &x->in);
	}
	for (unsigned i = 0; i < h->noracles; i++)
		if (h->oracles[i]->begin_input)
			h->oracles[i]->begin_input(h->ostate[i], x);

	while (fuzz_next_op(&x->in, h->set, &x->op)) {
		uint64_t taken = x->in.taken;

		if (h->trace)
			trace_op(h, &x->op, false, taken);
		if (fm)
			fuzz_exec_op(x, &x->op);
		else
			fuzz_ring_op(x, &x->op);
		if (h->trace)
			trace_op(h, &x->op, true, taken);
		for (unsigned i = 0; i < h->noracles; i++)
			if (h->oracles[i]->after_op)
				h->oracles[i]->after_op(h->ostate[i], x);
	}
	if (fm)
		fuzz_machine_digest(x);
	else
		fuzz_ring_digest(x);
	if (h->trace)
		trace_end(h);
	for (unsigned i = 0; i < h->noracles; i++)
		if (h->oracles[i]->end_input)
			h->oracles[i]->end_input(h->ostate[i], x);

	/* detach the input before the reset: a device's reset may consult the
	 * world, which then answers as between inputs */
	if (fm) {
		fuzz_world_begin(fm->world, NULL);
		fuzz_source_begin(fm->src, NULL);
		fuzz_machine_reset(fm);
	} else {
		fuzz_ring_begin(h->ring, NULL);
		fuzz_ring_reset(h->ring);
	}
	for (unsigned i = 0; i < h->noracles; i++)
		if (h->oracles[i]->after_reset)
			h->oracles[i]->after_reset(h->ostate[i], x);
	h->inputs++;
	return x->hash;
}

void fuzz_harness_stats(const struct fuzz_harness *h, unsigned *nops, uint64_t *taken,
			uint64_t *zeros)
{
	if (nops)
		*nops = h->x.in.nops;
	if (taken)
		*taken = h->x.in.taken;
	if (zeros)
		*zeros = h->x.in.zeros;
}
