/*
 * ringside — the differential oracle ("diff", docs/oracles.md): the same op
 * stream over virtio-pci modern and over virtio-mmio v2 gives the same
 * device-visible results.
 *
 * Every machine of the harness whose devices all sit on pci-modern or on
 * mmio (v2) gets a mirror, built once: the same spec with each of those two
 * transports swapped for the other. An input is compared up to its first
 * register-level op (REG_READ/WRITE, CFG_READ/WRITE, IO_RAW): those name
 * raw register offsets, which mean different registers on the two
 * transports by nature. Every other op is the same request on both: memory
 * and ring writes (same RAM layout, same driver allocations), the
 * reference driver's init, submit, kick, collect, interrupt ack, reset,
 * status and device config accesses, and world inputs.
 *
 * While the harness runs those ops on its machine the oracle digests what
 * the devices do, and then runs the same ops on the mirror digesting the
 * same things there; after each op both digests must agree. The digest
 * holds only transport-independent observations, taken on the device side
 * (so nothing a transport legitimately does differently enters it):
 *   - every device-side arena access, in order: direction, address, length
 *     and the bytes read or written (what the device wrote into chains, the
 *     used entries and used idx it wrote, what it read);
 *   - every chain popped (queue, id, segments) and completed or dropped
 *     (queue, id, used length);
 *   - after each op, per device: status, negotiated features (less the
 *     bits a transport masks, DIFF_TRANSPORT_BITS), config generation, the
 *     config space, notifies taken and interrupts raised, and each queue's
 *     ring state (ready, layout, size, addresses, indices, in flight,
 *     broken); and the input data bytes taken so far (lazy DMA, world).
 * Not in it: register values, which interrupt line or MSI message carried
 * an interrupt, the ISR, MSI-X vectors, diagnostics (a transport reports
 * its own), and the offered features' transport bits.
 *
 * A device model without host_reset that takes host events can start an
 * input in a different host state on the two machines (the mirror never
 * runs the ops past the cut): inputs where such a device's own state
 * (ops->save) differs between the two at the start are skipped.
 */
#include <stdlib.h>
#include <string.h>

#include "oracle.h"

#define ORACLE "diff"

/* Feature bits a transport masks by itself: virtio-mmio never offers
 * RING_RESET (no QueueReset, transports/mmio.c). */
#define DIFF_TRANSPORT_BITS VIRTIO_BIT(VIRTIO_F_RING_RESET)

#define DIGEST_INIT 0xcbf29ce484222325ull

struct diff_oracle;

/* One machine as the oracle observes it. */
struct diff_side {
	struct fuzz_machine *fm;
	struct owatch *w;
	bool active;           /* digesting events now */
	uint64_t h;            /* digest so far (chained over ops) */
	uint64_t *ops;         /* digest after op k */
	uint32_t nops, cap;
};

struct diff_pair {
	struct diff_side main, mirror;
	struct fuzz_machine mfm;   /* the mirror machine (owned) */
	bool built;
};

struct diff_oracle {
	struct diff_pair p[FUZZ_MAX_MACHINES];
	unsigned n;
	struct diff_pair *cur;     /* the pair of this input, NULL: not compared */
	uint32_t cut;              /* ops [0, cut) are compared */
	struct fuzz_exec mx;       /* the mirror's execution state */
	uint8_t *sa, *sb;          /* model states compared at the start */
	size_t sa_cap, sb_cap;
};

/* A word at a time: the digest sees every byte a device moves, so it must
 * cost little per byte; both sides use the same function, nothing else
 * reads the value. */
static inline void mix(uint64_t *h, uint64_t v)
{
	*h = (*h ^ v) * 0x9e3779b97f4a7c15ull;
	*h ^= *h >> 29;
}

static void mix_bytes(uint64_t *h, const void *p, size_t n)
{
	const uint8_t *b = p;
	uint64_t w;

	for (; n >= 8; b += 8, n -= 8) {
		memcpy(&w, b, 8);
		mix(h, w);
	}
	w = (uint64_t)n << 56;
	for (size_t i = 0; i < n; i++)
		w |= (uint64_t)b[i] << (8 * i);
	mix(h, w);
}

/* ---- what is digested --------------------------------------------------------------- */

static void diff_access(void *ctx, struct owatch *w, enum gm_access dir, uint64_t gpa,
			const void *data, size_t len)
{
	struct diff_side *s = ctx;

	if (!s->active)
		return;
	mix(&s->h, (uint64_t)dir << 56 ^ len);
	mix(&s->h, gpa);
	mix_bytes(&s->h, data, len);
}

static void diff_popped(void *ctx, struct owatch *w, unsigned dev, const struct vq *vq,
			const struct vq_chain *c)
{
	struct diff_side *s = ctx;
	const struct vq_seg *seg = vq_chain_csegs(c);

	if (!s->active)
		return;
	mix(&s->h, 0x50ull << 56 | (uint64_t)dev << 32 | (uint64_t)vq->qidx << 16 | c->id);
	mix(&s->h, (uint64_t)c->nsegs << 32 | c->nread);
	for (uint32_t i = 0; i < c->nsegs; i++) {
		mix(&s->h, seg[i].gpa);
		mix(&s->h, (uint64_t)seg[i].write << 32 | seg[i].len);
	}
}

static void diff_retired(void *ctx, struct owatch *w, unsigned dev, const struct vq *vq,
			 const struct vq_chain *c, uint32_t len, bool used)
{
	struct diff_side *s = ctx;

	if (!s->active)
		return;
	mix(&s->h, 0x52ull << 56 | (uint64_t)used << 48 | (uint64_t)dev << 32 |
			   (uint64_t)vq->qidx << 16 | c->id);
	mix(&s->h, len);
}

static const struct owatch_ops diff_watch_ops = {
	.access = diff_access,
	.popped = diff_popped,
	.retired = diff_retired,
};

/* After an op: the device state both transports must agree on. Returns
 * -1 when out of memory (the input is then not compared). */
static int diff_snapshot(struct diff_side *s, const struct fuzz_input *in)
{
	for (unsigned i = 0; i < s->fm->ndevs; i++) {
		const struct vdev *d = s->fm->devs[i].vd;

		mix(&s->h, (uint64_t)d->status << 32 | d->config_generation);
		mix(&s->h, d->driver_features & ~DIFF_TRANSPORT_BITS);
		mix(&s->h, d->stats.notifies);
		mix(&s->h, d->stats.irqs);
		if (d->ops->config_size)
			mix_bytes(&s->h, d->config, d->ops->config_size);
		for (unsigned q = 0; q < d->nqueues; q++) {
			const struct vq *vq = &d->queues[q].vq;

			mix(&s->h, (uint64_t)vq->ready << 40 | (uint64_t)vq->broken << 32 |
					   (uint64_t)vq->layout << 16 | vq->num);
			if (!vq->ready)
				continue;
			mix(&s->h, vq->desc);
			mix(&s->h, vq->driver);
			mix(&s->h, vq->device);
			mix(&s->h, (uint64_t)vq->last_avail << 48 | (uint64_t)vq->used_idx << 32 |
					   (uint64_t)vq->next_avail << 16 | vq->next_used);
			mix(&s->h, vq->inflight);
		}
	}
	mix(&s->h, in->taken);
	mix(&s->h, in->zeros);
	if (s->nops == s->cap) {
		uint32_t cap = s->cap ? 2 * s->cap : 64;
		uint64_t *ops = realloc(s->ops, (size_t)cap * sizeof(*ops));

		if (!ops)
			return -1;
		s->ops = ops;
		s->cap = cap;
	}
	s->ops[s->nops++] = s->h;
	return 0;
}

/* ---- mirrors ------------------------------------------------------------------------ */

/* The mirror spec of spec (pci-modern <-> mmio), or -1 when a device sits
 * on another transport or the result does not fit. */
static int mirror_spec(const char *spec, char *out, size_t len)
{
	size_t used = 0;

	out[0] = '\0';
	while (*spec) {
		size_t n = strcspn(spec, " "), t = strcspn(spec, ":");
		const char *tr = NULL;
		int k;

		if (n && t < n) {
			if (t == 10 && strncmp(spec, "pci-modern", 10) == 0)
				tr = "mmio";
			else if (t == 4 && strncmp(spec, "mmio", 4) == 0)
				tr = "pci-modern";
			else
				return -1;
			k = snprintf(out + used, len - used, "%s%s%.*s", used ? " " : "", tr,
				     (int)(n - t), spec + t);
		} else if (n) {
			k = snprintf(out + used, len - used, "%s%.*s", used ? " " : "", (int)n,
				     spec);
		} else {
			k = 0;
		}
		if (k < 0 || (size_t)k >= len - used)
			return -1;
		used += (size_t)k;
		spec += n;
		while (*spec == ' ')
			spec++;
	}
	return 0;
}

static void diff_side_fini(struct diff_side *s)
{
	if (s->w) {
		owatch_unsubscribe(s->w, &diff_watch_ops, s);
		owatch_put(s->w);
	}
	free(s->ops);
	memset(s, 0, sizeof(*s));
}

static int diff_side_init(struct diff_side *s, struct fuzz_machine *fm)
{
	s->fm = fm;
	s->w = owatch_get(fm);
	if (!s->w)
		return -1;
	if (owatch_subscribe(s->w, &diff_watch_ops, s) < 0) {
		owatch_put(s->w);
		s->w = NULL;
		return -1;
	}
	return 0;
}

/* ---- hooks -------------------------------------------------------------------------- */

static void diff_detach(void *state)
{
	struct diff_oracle *o = state;

	if (!o)
		return;
	for (unsigned i = 0; i < o->n; i++) {
		struct diff_pair *p = &o->p[i];

		diff_side_fini(&p->main);
		diff_side_fini(&p->mirror);
		if (p->built)
			fuzz_machine_fini(&p->mfm);
	}
	free(o->sa);
	free(o->sb);
	free(o);
}

static int diff_attach(struct fuzz_harness *h, void **state)
{
	struct fuzz_machine *fms[FUZZ_MAX_MACHINES];
	unsigned n = fuzz_harness_machines(h, fms, FUZZ_MAX_MACHINES);
	struct diff_oracle *o;

	*state = NULL;
	if (!n)
		return 0;
	o = calloc(1, sizeof(*o));
	if (!o)
		return -1;
	for (unsigned i = 0; i < n; i++) {
		struct diff_pair *p = &o->p[o->n];
		char spec[sizeof(fms[i]->spec)], err[256];

		/* a machine with another transport, or a mirror that cannot be
		 * built (a transport option of the other family), has no pair */
		if (mirror_spec(fms[i]->spec, spec, sizeof(spec)) < 0 ||
		    fuzz_machine_init(&p->mfm, spec, err, sizeof(err)) < 0)
			continue;
		p->built = true;
		o->n++;
		if (p->mfm.ndevs != fms[i]->ndevs || diff_side_init(&p->main, fms[i]) < 0 ||
		    diff_side_init(&p->mirror, &p->mfm) < 0) {
			diff_detach(o);
			return -1;
		}
	}
	o->mx.target = fuzz_harness_target(h);
	*state = o;
	return 0;
}

/* The model's own state of d (ops->save) into *buf. Returns its length,
 * 0 when it has none or out of memory. */
static size_t diff_model_state(const struct vdev *d, uint8_t **buf, size_t *cap)
{
	size_t n = d->ops->save ? d->ops->save(d, NULL, 0) : 0;

	if (n > *cap) {
		uint8_t *b = realloc(*buf, n);

		if (!b)
			return 0;
		*buf = b;
		*cap = n;
	}
	return n ? d->ops->save(d, *buf, n) : 0;
}

/* Do the two machines start this input in the same state where a device
 * cannot be put back by reset (see the file comment)? Host-owned state is
 * the model's: its ops->save bytes are compared (the core's offered
 * features may differ by transport). */
static bool diff_same_start(struct diff_oracle *o, const struct diff_pair *p)
{
	for (unsigned i = 0; i < p->main.fm->ndevs; i++) {
		const struct vdev *a = p->main.fm->devs[i].vd, *b = p->mfm.devs[i].vd;
		size_t na, nb;

		if (!a->ops->host_event || a->ops->host_reset)
			continue;
		na = diff_model_state(a, &o->sa, &o->sa_cap);
		nb = diff_model_state(b, &o->sb, &o->sb_cap);
		if (na != nb || (na && memcmp(o->sa, o->sb, na) != 0))
			return false;
	}
	return true;
}

static void diff_begin_input(void *state, struct fuzz_exec *x)
{
	struct diff_oracle *o = state;
	struct fuzz_input scan;
	struct fuzz_op op;

	if (!o)
		return;
	o->cur = NULL;
	for (unsigned i = 0; i < o->n; i++)
		if (o->p[i].main.fm == x->fm)
			o->cur = &o->p[i];
	if (!o->cur)
		return;
	/* the cut: the first register-level op */
	fuzz_input_init(&scan, x->in.data, x->in.size);
	o->cut = UINT32_MAX;
	while (o->cut == UINT32_MAX && fuzz_next_op(&scan, &fuzz_opset_device, &op))
		if (oracle_op_is_register(op.code))
			o->cut = op.index;
	if (o->cut == UINT32_MAX)
		o->cut = scan.nops;
	if (!o->cut || !diff_same_start(o, o->cur)) {
		o->cur = NULL;
		return;
	}
	o->cur->main.h = DIGEST_INIT;
	o->cur->main.nops = 0;
	o->cur->main.active = true;
}

static void diff_after_op(void *state, struct fuzz_exec *x)
{
	struct diff_oracle *o = state;
	struct diff_side *s = o && o->cur ? &o->cur->main : NULL;

	if (!s || !s->active)
		return;
	if (diff_snapshot(s, &x->in) < 0) {
		s->active = false;
		o->cur = NULL;
	} else if (x->op.index + 1 >= o->cut) {
		s->active = false;
	}
}

/* Run ops [0, cut) of the input on the mirror. */
static void diff_run_mirror(struct diff_oracle *o, const struct fuzz_exec *x)
{
	struct diff_pair *p = o->cur;
	struct fuzz_exec *mx = &o->mx;

	mx->fm = &p->mfm;
	mx->hash = FUZZ_HASH_INIT;
	mx->trace = NULL;
	fuzz_input_init(&mx->in, x->in.data, x->in.size);
	fuzz_world_begin(p->mfm.world, &mx->in);
	fuzz_source_begin(p->mfm.src, &mx->in);
	p->mirror.h = DIGEST_INIT;
	p->mirror.nops = 0;
	p->mirror.active = true;
	while (p->mirror.nops < o->cut && fuzz_next_op(&mx->in, &fuzz_opset_device, &mx->op)) {
		fuzz_exec_op(mx, &mx->op);
		if (diff_snapshot(&p->mirror, &mx->in) < 0)
			break;
	}
	p->mirror.active = false;
	fuzz_world_begin(p->mfm.world, NULL);
	fuzz_source_begin(p->mfm.src, NULL);
	fuzz_machine_reset(&p->mfm);
}

static void diff_end_input(void *state, struct fuzz_exec *x)
{
	struct diff_oracle *o = state;
	struct diff_pair *p = o ? o->cur : NULL;
	uint32_t n, k;

	if (!p)
		return;
	p->main.active = false;
	diff_run_mirror(o, x);
	n = RS_MIN(p->main.nops, p->mirror.nops);
	for (k = 0; k < n && p->main.ops[k] == p->mirror.ops[k]; k++)
		;
	if (k == n && p->main.nops == p->mirror.nops)
		return;
	if (k < n) {
		struct fuzz_input scan;
		struct fuzz_op op;
		char line[256] = "?";

		fuzz_input_init(&scan, x->in.data, x->in.size);
		while (fuzz_next_op(&scan, &fuzz_opset_device, &op))
			if (op.index == k) {
				fuzz_op_format(&op, line, sizeof(line));
				break;
			}
		fuzz_bug(x, ORACLE,
			 "the same ops give different device-visible results on '%s' and on its "
			 "mirror '%s', first after op %u:\n%s",
			 p->main.fm->spec, p->mfm.spec, k, line);
	}
	fuzz_bug(x, ORACLE,
		 "the same input runs %u ops on '%s' but %u on its mirror '%s' (the devices "
		 "took different amounts of input data)",
		 p->main.nops, p->main.fm->spec, p->mirror.nops, p->mfm.spec);
}

const struct fuzz_oracle fuzz_oracle_diff = {
	.name = ORACLE,
	.attach = diff_attach,
	.begin_input = diff_begin_input,
	.after_op = diff_after_op,
	.end_input = diff_end_input,
	.detach = diff_detach,
};
