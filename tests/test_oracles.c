/*
 * The fuzz oracles (docs/oracles.md): each one fires on the deliberately
 * broken test-only device ("test-broken,bug=...") and stays silent on every
 * real device over its seed sessions, mutations of them and random inputs.
 *
 * An oracle reports with fuzz_bug(), which aborts, so every harness that is
 * expected to (or might) report runs in a child process; the parent checks
 * how the child ended and what it printed. Also: the virtqueue observer the
 * oracles are built on, the canary table, the sanitizers of the fuzz preset.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "fuzz.h"
#include "test_fuzz_util.h"
#include "oracle.h"

#ifndef RS_TEST_SANITIZE
#define RS_TEST_SANITIZE 0
#endif
#ifndef RS_TEST_FUZZ
#define RS_TEST_FUZZ 0
#endif

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HAVE_ASAN 1
#endif
#if __has_feature(undefined_behavior_sanitizer)
#define HAVE_UBSAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) && !defined(HAVE_ASAN)
#define HAVE_ASAN 1
#endif
#ifndef HAVE_ASAN
#define HAVE_ASAN 0
#endif
#ifndef HAVE_UBSAN
#define HAVE_UBSAN 0
#endif

static const char *const transports[] = { "pci-modern", "pci-legacy", "mmio", "mmio-legacy" };

/* ---- inputs ------------------------------------------------------------------------- */

static uint64_t rng_state = 0x6a09e667f3bcc909ull;

static uint64_t rnd(void)
{
	return xorshift64(&rng_state);
}

static struct fuzz_builder builder;

static struct fuzz_builder *fb_start(struct corpus *c, const char *info)
{
	memset(&builder, 0, sizeof(builder));
	builder.set = &fuzz_opset_device;
	builder.prefix = -1;
	builder.ndevs = 1;
	builder.info = info ? fuzz_device_info(info) : NULL;
	builder.emit = corpus_keep;
	builder.emit_ctx = c;
	return &builder;
}

/* Requests for the broken device (an echo device): one chain on q0, then
 * multi-segment and indirect chains on both queues, then the packed ring. */
static void broken_sessions(struct corpus *c)
{
	static const char msg[] = "the broken device echoes this...";
	uint32_t one[] = { 16 }, three[] = { 8, 8, 16 };
	struct fuzz_builder *b = fb_start(c, NULL);

	fb_init(b, VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC), 16, 0);
	fb_chain(b, 0, one, 1, one, 1, msg, 16, FUZZ_SUB_COLLECT);
	fb_emit(b, "one");

	fb_init(b, VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX), 16, 0);
	fb_chain(b, 1, three, 3, three, 3, msg, sizeof(msg) - 1, FUZZ_SUB_COLLECT);
	fb_chain(b, 0, three, 3, three, 3, msg, sizeof(msg) - 1,
		 FUZZ_SUB_COLLECT | FUZZ_SUB_INDIRECT);
	fb_emit(b, "segments");

	fb_init(b, VIRTIO_BIT(VIRTIO_F_RING_PACKED), 16, 0);
	fb_chain(b, 0, one, 1, one, 1, msg, 16, FUZZ_SUB_COLLECT);
	fb_chain(b, 1, one, 1, one, 1, msg + 4, 16, FUZZ_SUB_COLLECT);
	fb_emit(b, "packed");
}

static void packed_session(struct corpus *c)
{
	static const char msg[] = "packed ring only";
	uint32_t one[] = { 16 };
	struct fuzz_builder *b = fb_start(c, NULL);

	fb_init(b, VIRTIO_BIT(VIRTIO_F_RING_PACKED), 16, 0);
	fb_chain(b, 0, one, 1, one, 1, msg, 16, FUZZ_SUB_COLLECT);
	fb_emit(b, "packed");
}

/* n mutants of every input so far: a few bytes flipped or overwritten. */
static void mutate(struct corpus *c, unsigned n)
{
	unsigned seeds = c->n;

	for (unsigned i = 0; i < seeds; i++) {
		for (unsigned k = 0; k < n && c->len[i]; k++) {
			uint8_t tmp[FUZZ_BUILD_MAX];
			size_t len = RS_MIN(c->len[i], sizeof(tmp));
			unsigned flips = 1 + (unsigned)(rnd() % 4);

			memcpy(tmp, c->buf[i], len);
			for (unsigned f = 0; f < flips; f++)
				tmp[rnd() % len] ^= (uint8_t)(1 + rnd() % 255);
			corpus_keep(c, "mutant", tmp, len);
		}
	}
}

static void noise(struct corpus *c, unsigned n, bool machine_byte)
{
	for (unsigned i = 0; i < n; i++) {
		uint8_t in[1 + 12 * FUZZ_OP_SIZE + 64];
		size_t len = (1 + rnd() % 12) * FUZZ_OP_SIZE + rnd() % 64 + machine_byte;

		for (size_t k = 0; k < len; k++)
			in[k] = (uint8_t)rnd();
		corpus_keep(c, "noise", in, len);
	}
}

/* ---- running a harness in a child --------------------------------------------------- */

/* Coverage builds (clang -fprofile-instr-generate) write the profile at
 * exit; a child that aborts or _exits writes it here instead. */
extern int __llvm_profile_write_file(void) __attribute__((weak));

static void child_profile(void)
{
	if (__llvm_profile_write_file)
		(void)__llvm_profile_write_file();
}

static void child_abort(int sig)
{
	child_profile();
	signal(sig, SIG_DFL);
	raise(sig);
}

struct outcome {
	int status;
	char err[16384];
};

/* Run fn(arg) in a child process with its stderr captured in out. */
static void in_child(void (*fn)(const void *arg), const void *arg, struct outcome *out)
{
	int fds[2];
	size_t total = 0;
	ssize_t got;
	pid_t pid;

	memset(out, 0, sizeof(*out));
	fflush(stdout);
	fflush(stderr);
	if (pipe(fds) < 0) {
		CHECK(0);
		return;
	}
	pid = fork();
	if (pid == 0) {
		dup2(fds[1], 2);
		close(fds[0]);
		signal(SIGABRT, child_abort);
		fn(arg);
		child_profile();
		_exit(0);
	}
	close(fds[1]);
	while ((got = read(fds[0], out->err + total, sizeof(out->err) - 1 - total)) > 0)
		total += (size_t)got;
	close(fds[0]);
	CHECK_EQ(waitpid(pid, &out->status, 0), pid);
}

struct corpus_run {
	const struct fuzz_target *t;
	const char *sel, *env;
	const struct fuzz_oracle *extra;
	const struct corpus *c;
};

/* Child: a harness for target t with oracles sel (NULL: all), env (a
 * "NAME=VALUE" or NULL) and one more oracle (or NULL) after them, every
 * input of c run through it. */
static void corpus_run_child(const void *arg)
{
	const struct corpus_run *r = arg;
	char err[256];
	struct fuzz_harness *h;

	if (r->sel)
		setenv("RS_FUZZ_ORACLES", r->sel, 1);
	else
		unsetenv("RS_FUZZ_ORACLES");
	if (r->env)
		putenv((char *)r->env);
	h = fuzz_harness_new(r->t, err, sizeof(err));
	if (!h) {
		fprintf(stderr, "cannot build %s: %s\n", r->t->name, err);
		_exit(2);
	}
	if (r->extra && fuzz_harness_add_oracle(h, r->extra) < 0)
		_exit(3);
	for (unsigned i = 0; i < r->c->n; i++)
		(void)fuzz_harness_run(h, r->c->buf[i], r->c->len[i]);
	fuzz_harness_free(h);
}

static void run_child_with(const struct fuzz_target *t, const char *sel, const char *env,
			   const struct fuzz_oracle *extra, const struct corpus *c,
			   struct outcome *out)
{
	const struct corpus_run r = { t, sel, env, extra, c };

	in_child(corpus_run_child, &r, out);
}

static void run_child(const struct fuzz_target *t, const char *sel, const char *env,
		      const struct corpus *c, struct outcome *out)
{
	run_child_with(t, sel, env, NULL, c, out);
}

static bool exited_clean(const struct outcome *o)
{
	return WIFEXITED(o->status) && WEXITSTATUS(o->status) == 0;
}

static bool aborted(const struct outcome *o)
{
	return WIFSIGNALED(o->status) && WTERMSIG(o->status) == SIGABRT;
}

static void show(const char *what, const struct outcome *o)
{
	if (!o->err[0] && !o->status)
		return;
	fprintf(stderr, "---- %s: status 0x%x, stderr:\n%.3000s\n----\n", what, o->status, o->err);
}

/* ---- fire on the broken device ------------------------------------------------------ */

struct fire {
	const char *bug;
	const char *transport;
	const char *oracle;
	const char *expect;     /* in the report */
	const char *env;
	bool packed_only;
	bool slow_without;      /* the bug takes long without its oracle: skip that run */
};

static const struct fire fires[] = {
	{ .bug = "write-readable", .transport = "pci-modern", .oracle = "dma",
	  .expect = "into device-readable buffer" },
	{ .bug = "write-readable", .transport = "mmio-legacy", .oracle = "dma",
	  .expect = "into device-readable buffer" },
	{ .bug = "write-outside", .transport = "mmio", .oracle = "dma",
	  .expect = "outside every chain in flight" },
	{ .bug = "write-outside", .transport = "pci-legacy", .oracle = "dma",
	  .expect = "outside every chain in flight" },
	{ .bug = "overlong-used-len", .transport = "pci-legacy", .oracle = "dma",
	  .expect = "VQ_USED_LEN" },
	{ .bug = "push-twice", .transport = "mmio-legacy", .oracle = "dma",
	  .expect = "VQ_PUSH_INVALID" },
	{ .bug = "used-idx", .transport = "mmio", .oracle = "dma",
	  .expect = "used idx of q0 written as 2, but the device completed 1" },
	{ .bug = "used-entry", .transport = "pci-modern", .oracle = "dma",
	  .expect = "used entry {id 0, len 17} written to q0" },
	{ .bug = "used-entry", .transport = "mmio", .oracle = "dma",
	  .expect = "used descriptor {id 0, len 17} written to q0", .packed_only = true },
	{ .bug = "mmio-dma", .transport = "pci-modern", .oracle = "dma",
	  .expect = "reached an MMIO region by DMA" },
	{ .bug = "hang", .transport = "pci-modern", .oracle = "work",
	  .expect = "memory work in one op", .slow_without = true },
	{ .bug = "hang", .transport = "mmio-legacy", .oracle = "work",
	  .expect = "memory work in one op", .slow_without = true },
	{ .bug = "spin", .transport = "mmio", .oracle = "work",
	  .expect = "longer than 1 s (RS_FUZZ_WATCHDOG)", .env = "RS_FUZZ_WATCHDOG=1",
	  .slow_without = true },
	{ .bug = "no-reset", .transport = "pci-modern", .oracle = "reset",
	  .expect = "not its power-on state" },
	{ .bug = "no-reset", .transport = "mmio-legacy", .oracle = "reset",
	  .expect = "in the model's own state" },
	{ .bug = "wedge", .transport = "mmio", .oracle = "reset",
	  .expect = "is wedged after machine_reset" },
	{ .bug = "wedge", .transport = "pci-legacy", .oracle = "reset",
	  .expect = "no completion on q0" },
	{ .bug = "wedge-features", .transport = "mmio", .oracle = "reset",
	  .expect = "driver init failed" },
	{ .bug = "wedge-needs-reset", .transport = "pci-modern", .oracle = "reset",
	  .expect = "the device set DEVICE_NEEDS_RESET" },
	{ .bug = "push-twice", .transport = "pci-modern", .oracle = "reset",
	  .expect = "the canary (echo of 16 bytes on q0) failed: it reported a DEVICE-class" },
	{ .bug = "transport-diff", .transport = "pci-modern", .oracle = "diff",
	  .expect = "different device-visible results" },
	{ .bug = "transport-diff", .transport = "mmio", .oracle = "diff",
	  .expect = "different device-visible results" },
};

static void test_fires_on_broken_device(void)
{
	struct corpus all = { .n = 0 }, packed = { .n = 0 };

	broken_sessions(&all);
	packed_session(&packed);
	CHECK(all.n == 3 && packed.n == 1);
	for (unsigned i = 0; i < RS_ARRAY_SIZE(fires); i++) {
		const struct fire *f = &fires[i];
		char device[64], name[48], want[128];
		struct fuzz_target t = { name, FUZZ_DEVICE, device, f->transport };
		struct outcome o;

		snprintf(device, sizeof(device), "test-broken,bug=%s", f->bug);
		snprintf(name, sizeof(name), "broken_%s", f->transport);
		snprintf(want, sizeof(want), "BUG found by oracle '%s' in target %s", f->oracle,
			 name);
		/* only the oracle under test: it is the one that fires */
		run_child(&t, f->oracle, f->env, f->packed_only ? &packed : &all, &o);
		if (getenv("RS_TEST_VERBOSE"))
			show(f->bug, &o);
		if (!aborted(&o) || !strstr(o.err, want) || !strstr(o.err, f->expect)) {
			fprintf(stderr, "bug=%s on %s: wanted '%s' ... '%s'\n", f->bug, f->transport,
				want, f->expect);
			show("fire", &o);
			CHECK(0);
		}
		/* the report names the machine and lists the input */
		CHECK(strstr(o.err, "==ringside-fuzz== machine: mem=") || f->env);
		/* without the oracle the same inputs run to the end */
		if (f->slow_without)
			continue;
		run_child(&t, "none", NULL, f->packed_only ? &packed : &all, &o);
		if (!exited_clean(&o)) {
			show("no oracle", &o);
			CHECK(0);
		}
	}
	corpus_free(&all);
	corpus_free(&packed);
}

/* Every oracle at once, bug=none, on every transport: silent. */
static void test_silent_on_correct_broken_device(void)
{
	struct corpus c = { .n = 0 };

	broken_sessions(&c);
	mutate(&c, 30);
	noise(&c, 100, false);
	for (unsigned i = 0; i < RS_ARRAY_SIZE(transports); i++) {
		struct fuzz_target t = { "broken_none", FUZZ_DEVICE, "test-broken", transports[i] };
		struct outcome o;

		run_child(&t, NULL, NULL, &c, &o);
		if (!exited_clean(&o)) {
			fprintf(stderr, "test-broken (no bug) on %s\n", transports[i]);
			show("silent", &o);
			CHECK(0);
		}
	}
	corpus_free(&c);
}

/* ---- a broken device played from outside ------------------------------------------- */

/*
 * The "inject" oracle, added after the real ones, acts as a device would
 * right after op `inject_at` (device-side accesses on the machine's arena,
 * chains reported to the queue observer; UINT32_MAX: after every op): the
 * checks the broken device's bugs do not reach, and the writes a correct
 * device does make.
 */
static unsigned inject_at;
static void (*inject_fn)(struct fuzz_exec *x);

static void inject_after_op(void *st, struct fuzz_exec *x)
{
	if (x->op.index == inject_at || inject_at == UINT32_MAX)
		inject_fn(x);
}

static const struct fuzz_oracle inject_oracle = {
	.name = "inject",
	.after_op = inject_after_op,
};

static struct vq *vq0(struct fuzz_exec *x)
{
	return &x->fm->devs[0].vd->queues[0].vq;
}

static void dev_write(struct fuzz_exec *x, uint64_t gpa, const void *p, size_t n)
{
	CHECK_EQ(gm_write(&x->fm->m->gm, gpa, p, n), 0);
}

static void inj_split_ok(struct fuzz_exec *x)
{
	const struct vq *vq = vq0(x);
	uint8_t z[8] = { 0 }, e[8];

	dev_write(x, vq->device, z, 2);                         /* flags */
	dev_write(x, vq->device + 4 + 8ull * vq->num, z, 2);    /* avail_event */
	rs_st16(e, 1);
	dev_write(x, vq->device + 2, e, 2);                     /* idx: one completed */
	rs_st32(e, 0);
	rs_st32(e + 4, 16);
	dev_write(x, vq->device + 4, e, 8);                     /* the entry again */
}

static void inj_split_idx_byte(struct fuzz_exec *x)
{
	uint8_t b = 1;

	dev_write(x, vq0(x)->device + 3, &b, 1);
}

static void inj_split_entry_half(struct fuzz_exec *x)
{
	uint8_t z[4] = { 0 };

	dev_write(x, vq0(x)->device + 4, z, 4);
}

static void inj_packed_ok(struct fuzz_exec *x)
{
	const struct vq *vq = vq0(x);
	uint8_t z[4] = { 0 };

	dev_write(x, vq->device, z, 4);          /* device event suppression */
	dev_write(x, vq->desc + 14, z, 2);       /* a used descriptor's flags */
}

static void inj_packed_addr(struct fuzz_exec *x)
{
	uint8_t z[8] = { 0 };

	dev_write(x, vq0(x)->desc, z, 8);
}

/* A chain the hold device keeps in flight: its first writable segment. */
static const struct vq_seg *held_seg(struct fuzz_exec *x)
{
	struct owatch *w = owatch_find(x->fm);

	if (!w || w->nlive != 1) {
		fprintf(stderr, "no chain held\n");
		_exit(4);
	}
	return &w->live[0]->segs[w->live[0]->nread];
}

static void inj_hold_inside(struct fuzz_exec *x)
{
	const struct vq_seg *s = held_seg(x);
	uint8_t v[2] = { 1, 2 };

	dev_write(x, s->gpa + s->len - 2, v, 2);
}

static void inj_hold_beyond(struct fuzz_exec *x)
{
	const struct vq_seg *s = held_seg(x);
	uint8_t v[2] = { 1, 2 };

	dev_write(x, s->gpa + s->len - 1, v, 2);
}

/* Chains the engine never handed out, reported as popped. */
static void inj_pops(struct fuzz_exec *x)
{
	struct vq *vq = vq0(x);
	struct vq_chain c;

	memset(&c, 0, sizeof(c));
	for (unsigned i = 0; i < 4000; i++) {
		c.id = (uint16_t)i;
		vq->obs->popped(vq->obs_ctx, vq, &c);
	}
}

/* A chain of 20 segments (longer than a chain keeps inline) reported as
 * popped twice (the second replaces the first), written inside its last
 * writable segment, then dropped. */
static void inj_long_chain(struct fuzz_exec *x)
{
	struct vq *vq = vq0(x);
	struct vq_seg segs[20];
	struct vq_chain c;
	uint8_t v[4] = { 1, 2, 3, 4 };

	memset(&c, 0, sizeof(c));
	for (unsigned i = 0; i < 20; i++)
		segs[i] = (struct vq_seg){ 0x200000 + 0x100ull * i, 0x80, i >= 10 };
	c.id = 99;
	c.nsegs = 20;
	c.nread = 10;
	c.read_len = c.write_len = 10 * 0x80;
	c.heap = segs;
	vq->obs->popped(vq->obs_ctx, vq, &c);
	vq->obs->popped(vq->obs_ctx, vq, &c);
	CHECK_EQ(owatch_find(x->fm)->nlive, 1);
	dev_write(x, segs[19].gpa + 0x7c, v, 4);
	vq->obs->retired(vq->obs_ctx, vq, &c, 0, false);
	CHECK_EQ(owatch_find(x->fm)->nlive, 0);
}

/* Just under one op's memory work bound, after every op (of memory the
 * guest wrote: untouched memory would take the input's bytes). */
static void inj_work(struct fuzz_exec *x)
{
	static uint8_t buf[4096];

	CHECK_EQ(gm_guest_write(&x->fm->m->gm, 0x10000, buf, sizeof(buf)), 0);
	for (unsigned i = 0; i < 1200; i++)
		CHECK_EQ(gm_read(&x->fm->m->gm, 0x10000, buf, sizeof(buf)), 0);
}

struct injection {
	const char *what;
	const char *device;
	const char *transport;
	bool packed;
	unsigned at;
	void (*fn)(struct fuzz_exec *x);
	const char *oracle;          /* the ones selected (not diff: the mirror sees no
				      * injection) */
	const char *expect;          /* in its report; NULL: must stay silent */
};

static const struct injection injections[] = {
	{ "legit used ring writes", "test-broken", "pci-modern", false, 1, inj_split_ok,
	  "dma,reset,work", NULL },
	{ "one byte of used idx", "test-broken", "mmio", false, 1, inj_split_idx_byte, "dma",
	  "part of used idx" },
	{ "half a used entry", "test-broken", "pci-legacy", false, 1, inj_split_entry_half, "dma",
	  "a partial used ring entry" },
	{ "legit packed writes", "test-broken", "mmio", true, 1, inj_packed_ok, "dma,reset,work",
	  NULL },
	{ "a packed descriptor's address", "test-broken", "pci-modern", true, 1, inj_packed_addr,
	  "dma", "part of a packed descriptor the device never writes" },
	{ "inside a held chain", "test-broken,bug=hold", "mmio", false, 1, inj_hold_inside,
	  "dma,work", NULL }, /* (a device that holds every chain fails the canary) */
	{ "across the end of a held chain", "test-broken,bug=hold", "pci-modern", false, 1,
	  inj_hold_beyond, "dma", "beyond writable segment" },
	{ "a long chain in flight", "test-broken", "pci-legacy", false, 1, inj_long_chain,
	  "dma,reset,work", NULL },
	{ "4000 pops in one op", "test-broken", "mmio", false, 0, inj_pops, "work",
	  "chains popped in one op" },
	{ "almost a hang after every op", "test-broken", "mmio", false, UINT32_MAX, inj_work,
	  "work", "device-side memory work in one input" },
};

static void test_injected_device_behaviour(void)
{
	struct corpus c = { .n = 0 };
	struct fuzz_builder *b;
	uint32_t one[] = { 16 };

	for (unsigned i = 0; i < RS_ARRAY_SIZE(injections); i++) {
		const struct injection *in = &injections[i];
		struct fuzz_target t = { "inject", FUZZ_DEVICE, in->device, in->transport };
		struct outcome o;

		b = fb_start(&c, NULL);
		fb_init(b, in->packed ? VIRTIO_BIT(VIRTIO_F_RING_PACKED) : 0, 16, 0);
		fb_chain(b, 0, one, 1, one, 1, "sixteen bytes...", 16, 0);
		for (unsigned k = 0; k < 12; k++)
			fb_op(b, FOP_IRQ_ACK, 0, 0, 0, 0, 0, 0);
		fb_emit(b, "inject");
		inject_at = in->at;
		inject_fn = in->fn;
		run_child_with(&t, in->oracle, NULL, &inject_oracle, &c, &o);
		if (in->expect ? !aborted(&o) || !strstr(o.err, in->expect) : !exited_clean(&o)) {
			fprintf(stderr, "injection: %s\n", in->what);
			show("inject", &o);
			CHECK(0);
		}
		corpus_free(&c);
	}
}

/* ---- host-owned state ---------------------------------------------------------------- */

/* A world op into a model without host_reset changes state no reset puts
 * back: the reset oracle takes it as the new reference, the canary stops
 * expecting the power-on answers, and diff skips the machines whose
 * states now differ. Found by fuzzing scsi: the host removes LUN 0. */
static void test_host_owned_state(void)
{
	static const struct {
		const char *device, *transport;
		uint8_t kind;
		uint64_t arg;
	} cases[] = {
		{ "test-broken", "pci-modern", WEV_HOST, 1 },   /* its host tag */
		{ "scsi", "pci-modern", WEV_HOST, 0 },          /* LUN 0 removed */
		{ "balloon", "mmio", WEV_BALLOON_TARGET, 7 },   /* a new target */
	};

	for (unsigned i = 0; i < RS_ARRAY_SIZE(cases); i++) {
		struct fuzz_target t = { cases[i].device, FUZZ_DEVICE, cases[i].device,
					 cases[i].transport };
		struct corpus c = { .n = 0 };
		struct fuzz_builder *b = fb_start(&c, cases[i].device);
		uint64_t want = b->info ? b->info->features : 0;
		struct outcome o;

		if (!rs_device_find(cases[i].device))
			continue;
		/* a register op first: the diff oracle's mirror never sees the event */
		fb_op(b, FOP_REG_READ, 0, 0, 2, 0, 0, 0);
		fb_op(b, FOP_WORLD_EVENT, 0, (uint8_t)(cases[i].kind - 1), 0, 0, 0, cases[i].arg);
		fb_emit(b, "event");
		fb_init(b, want, 16, 0);
		fb_op(b, FOP_DEVCFG, 0, 0, 2, 0, 0, 0);
		if (!b->info) { /* the broken device: a request, one byte short */
			uint32_t one[] = { 16 };

			fb_chain(b, 0, one, 1, one, 1, "host-owned state", 16, FUZZ_SUB_COLLECT);
		}
		fb_emit(b, "after");
		fb_init(b, want, 16, 0);
		fb_emit(b, "again");
		run_child(&t, NULL, NULL, &c, &o);
		if (!exited_clean(&o)) {
			fprintf(stderr, "%s on %s\n", cases[i].device, cases[i].transport);
			show("host state", &o);
			CHECK(0);
		}
		corpus_free(&c);
	}
}

/* ---- the canary runner -------------------------------------------------------------- */

static const char *always_wrong(const uint8_t *out, const uint8_t *in, uint32_t used)
{
	return "the check says no";
}

static struct gdrv_dev *canary_g;

/* Run canary c on fd of fm; want: NULL it passes, else in why. */
static void expect_canary(const struct fuzz_canary *c, struct fuzz_machine *fm,
			  struct fuzz_dev *fd, bool strict, const char *want)
{
	char why[160] = "";
	int r = fuzz_canary_exec(c, fm, fd, canary_g, strict, why, sizeof(why));

	CHECK_EQ(r, want ? -1 : 0);
	if (want && !strstr(why, want)) {
		fprintf(stderr, "canary: '%s', wanted '%s'\n", why, want);
		CHECK(0);
	}
	fuzz_machine_reset(fm);
}

/* A misspelt RS_FUZZ_ORACLES name is an error, not an oracle quietly off. */
static void test_selection_names(void)
{
	const struct fuzz_target t = { "select", FUZZ_DEVICE, "echo", "mmio" };
	static const char *const good[] = { "all", "none", "dma,work", "reset,diff,dma", "" };
	struct fuzz_harness *h;
	char err[256];

	for (unsigned i = 0; i < RS_ARRAY_SIZE(good); i++) {
		setenv("RS_FUZZ_ORACLES", good[i], 1);
		h = fuzz_harness_new(&t, err, sizeof(err));
		CHECK(h != NULL);
		fuzz_harness_free(h);
	}
	setenv("RS_FUZZ_ORACLES", "dma,dmaa", 1);
	err[0] = '\0';
	h = fuzz_harness_new(&t, err, sizeof(err));
	unsetenv("RS_FUZZ_ORACLES");
	CHECK(h == NULL);
	CHECK(strstr(err, "unknown oracle 'dmaa'") != NULL);
	CHECK(strstr(err, "known: dma, ") != NULL);
	fuzz_harness_free(h);
}

static void test_canary_runner(void)
{
	const struct fuzz_target t = { "canary", FUZZ_DEVICE, "echo", "mmio" };
	struct fuzz_target t2 = t;
	struct fuzz_canary c;
	struct fuzz_harness *h;
	struct fuzz_machine *fm;
	struct fuzz_dev fd;
	char why[160], err[256];

	canary_g = calloc(1, sizeof(*canary_g));
	setenv("RS_FUZZ_ORACLES", "none", 1);
	h = fuzz_harness_new(&t, err, sizeof(err));
	unsetenv("RS_FUZZ_ORACLES");
	CHECK(h != NULL && canary_g != NULL);
	if (!h || !canary_g) {
		free(canary_g);
		fuzz_harness_free(h);
		return;
	}
	CHECK_EQ(fuzz_harness_machines(h, &fm, 1), 1);
	fd = fm->devs[0];
	CHECK_EQ(fuzz_canary_run(fm, &fd, canary_g, true, why, sizeof(why)), 0);
	fuzz_machine_reset(fm);
	expect_canary(NULL, fm, &fd, true, NULL);       /* no canary: init only */
	c = *fuzz_canary_find("echo");
	c.used_min = c.used_max = 17;
	expect_canary(&c, fm, &fd, true, "used length 16 outside [17, 17]");
	expect_canary(&c, fm, &fd, false, NULL);       /* relaxed: within in_len */
	c = *fuzz_canary_find("echo");
	c.check = always_wrong;
	expect_canary(&c, fm, &fd, true, "the check says no");
	c = *fuzz_canary_find("echo");
	c.cfg_off = 0;
	c.cfg_size = 4;
	c.cfg_value = 0x1234;
	expect_canary(&c, fm, &fd, true, "config offset 0 reads 0x0, not 0x1234");
	expect_canary(&c, fm, &fd, false, NULL);
	c = *fuzz_canary_find("echo");
	c.nqueues = 3;
	expect_canary(&c, fm, &fd, true, "setting up q2 failed");
	c = *fuzz_canary_find("echo");
	c.out_len = 0;
	c.in_len = 0;
	expect_canary(&c, fm, &fd, true, "could not make the request available");
	fd.tmpl.mmio_base += 0x10000; /* nothing there: registers read all-ones */
	expect_canary(&c, fm, &fd, true, "setting up q0 failed (status 0xff)");
	fd.found = false;
	CHECK_EQ(fuzz_canary_exec(&c, fm, &fd, canary_g, true, why, sizeof(why)), 0);
	CHECK(strstr(why, "cannot open") != NULL);
	fuzz_harness_free(h);

	/* even relaxed, a used length above the writable space fails */
	t2.device = "test-broken,bug=used-entry";
	setenv("RS_FUZZ_ORACLES", "none", 1);
	h = fuzz_harness_new(&t2, err, sizeof(err));
	unsetenv("RS_FUZZ_ORACLES");
	CHECK(h != NULL);
	if (h) {
		CHECK_EQ(fuzz_harness_machines(h, &fm, 1), 1);
		expect_canary(fuzz_canary_find("test-broken"), fm, &fm->devs[0], false,
			      "used length 17 outside [0, 16]");
		fuzz_harness_free(h);
	}

	/* scsi's check: a LUN that is not there, a read beyond the disk */
	t2.device = "scsi";
	setenv("RS_FUZZ_ORACLES", "none", 1);
	h = rs_device_find("scsi") ? fuzz_harness_new(&t2, err, sizeof(err)) : NULL;
	unsetenv("RS_FUZZ_ORACLES");
	if (h) {
		CHECK_EQ(fuzz_harness_machines(h, &fm, 1), 1);
		c = *fuzz_canary_find("scsi");
		c.out[1] = 7; /* target 7 */
		c.used_min = 0;
		c.used_max = c.in_len;
		expect_canary(&c, fm, &fm->devs[0], true, "response is not VIRTIO_SCSI_S_OK");
		c = *fuzz_canary_find("scsi");
		c.out[19] = 0x28;                         /* READ(10) */
		memset(c.out + 21, 0xff, 4);              /* LBA 2^32 - 1 */
		c.out[27] = 1;                            /* one block */
		c.in_len = 108 + 512;
		c.used_min = 0;
		c.used_max = c.in_len;
		expect_canary(&c, fm, &fm->devs[0], true, "SCSI status is not GOOD");
		fuzz_harness_free(h);
	}

	/* host-owned state a reset keeps changes the answer: only the relaxed
	 * canary accepts it (what the reset oracle uses once world ops ran) */
	t2.device = "test-broken";
	setenv("RS_FUZZ_ORACLES", "none", 1);
	h = fuzz_harness_new(&t2, err, sizeof(err));
	unsetenv("RS_FUZZ_ORACLES");
	CHECK(h != NULL);
	if (h) {
		uint8_t in[FUZZ_OP_SIZE];

		fuzz_op_encode(in, (unsigned)fuzz_opset_byte(&fuzz_opset_device, FOP_WORLD_EVENT), 0,
			       WEV_HOST - 1, 0, 0, 0, 1);
		(void)fuzz_harness_run(h, in, sizeof(in));
		CHECK_EQ(fuzz_harness_machines(h, &fm, 1), 1);
		expect_canary(fuzz_canary_find("test-broken"), fm, &fm->devs[0], true,
			      "used length 15 outside [16, 16]");
		expect_canary(fuzz_canary_find("test-broken"), fm, &fm->devs[0], false, NULL);
		fuzz_harness_free(h);
	}
	free(canary_g);
}

/* A tap that was there before the watch keeps being called, and is put
 * back when the watch goes. */
static unsigned prev_taps;

static void prev_tap(void *ctx, enum gm_access dir, uint64_t gpa, const void *data, size_t len)
{
	prev_taps++;
}

static void test_watch_chains_a_tap(void)
{
	const struct fuzz_target t = { "tap", FUZZ_DEVICE, "echo", "pci-modern" };
	struct fuzz_harness *h;
	struct fuzz_machine *fm;
	struct owatch *w;
	uint8_t v = 0;
	char err[256];

	setenv("RS_FUZZ_ORACLES", "none", 1);
	h = fuzz_harness_new(&t, err, sizeof(err));
	unsetenv("RS_FUZZ_ORACLES");
	CHECK(h != NULL);
	if (!h)
		return;
	CHECK_EQ(fuzz_harness_machines(h, &fm, 1), 1);
	CHECK(owatch_find(fm) == NULL);
	gm_set_tap(&fm->m->gm, prev_tap, &prev_taps);
	w = owatch_get(fm);
	CHECK(w != NULL && owatch_find(fm) == w);
	CHECK_EQ(gm_read(&fm->m->gm, 0x1000, &v, 1), 0);
	CHECK_EQ(prev_taps, 1);
	owatch_put(w);
	CHECK(fm->m->gm.tap == prev_tap);
	gm_set_tap(&fm->m->gm, NULL, NULL);
	fuzz_harness_free(h);
}

/* ---- silent on the real devices ----------------------------------------------------- */

static void device_corpus(struct corpus *c, const char *device, uint32_t cfg_size,
			  uint16_t nqueues)
{
	struct fuzz_builder *b = fb_start(c, device);

	b->cfg_size = cfg_size;
	b->nqueues = nqueues;
	fuzz_seed_sessions(b);
}

static void test_silent_on_real_devices(void)
{
	unsigned targets = 0;

	for (unsigned d = 0; rs_devices[d]; d++) {
		const struct vdev_ops *ops = rs_devices[d];
		const struct fuzz_device_info *info = fuzz_device_info(ops->name);
		struct corpus c = { .n = 0 };

		device_corpus(&c, ops->name, ops->config_size, ops->num_queues);
		CHECK(c.n >= 5);
		mutate(&c, 8);
		noise(&c, 60, false);
		for (unsigned i = 0; i < RS_ARRAY_SIZE(transports); i++) {
			struct fuzz_target t = { ops->name, FUZZ_DEVICE, ops->name, transports[i] };
			struct outcome o;

			if (info && info->only_transport &&
			    strcmp(info->only_transport, transports[i]) != 0)
				continue;
			targets++;
			run_child(&t, NULL, NULL, &c, &o);
			if (!exited_clean(&o)) {
				fprintf(stderr, "%s on %s\n", ops->name, transports[i]);
				show("silent", &o);
				CHECK(0);
			}
		}
		corpus_free(&c);
	}
	CHECK(targets >= 8);
}

/* The generic target: every machine, several devices each. */
static void test_silent_on_machine_target(void)
{
	const struct fuzz_target t = { "machine", FUZZ_MACHINE, NULL, NULL };
	struct corpus c = { .n = 0 };
	struct outcome o;

	noise(&c, 400, true);
	run_child(&t, NULL, NULL, &c, &o);
	if (!exited_clean(&o)) {
		show("machine", &o);
		CHECK(0);
	}
	corpus_free(&c);
}

/* ---- in-process: what the oracles attach to ----------------------------------------- */

/* The ring target has no device: the oracles attach and watch nothing. */
static void test_ring_target_is_left_alone(void)
{
	const struct fuzz_target t = { "ring", FUZZ_RING, NULL, NULL };
	char err[256];
	struct fuzz_harness *h = fuzz_harness_new(&t, err, sizeof(err));
	uint8_t in[4 * FUZZ_OP_SIZE];

	CHECK(h != NULL);
	if (!h)
		return;
	for (unsigned i = 0; i < 200; i++) {
		for (size_t k = 0; k < sizeof(in); k++)
			in[k] = (uint8_t)rnd();
		(void)fuzz_harness_run(h, in, sizeof(in));
	}
	fuzz_harness_free(h);
}

static const struct owatch_ops idle_ops;

/* Attached oracles install one watch per machine; freeing the harness
 * removes the tap and every queue observer again. */
static void test_watch_is_shared_and_removed(void)
{
	const struct fuzz_target t = { "echo_mmio", FUZZ_DEVICE, "echo", "mmio" };
	char err[256];
	struct fuzz_harness *h;
	struct fuzz_machine *fm;
	struct owatch *w;
	struct vdev *vd;
	struct corpus c = { .n = 0 };

	unsetenv("RS_FUZZ_ORACLES");
	h = fuzz_harness_new(&t, err, sizeof(err));
	CHECK(h != NULL);
	if (!h)
		return;
	CHECK_EQ(fuzz_harness_machines(h, &fm, 1), 1);
	w = owatch_find(fm);
	CHECK(w != NULL);
	if (!w) {
		fuzz_harness_free(h);
		return;
	}
	/* dma, work and diff's main side subscribe; one reference each */
	CHECK_EQ(w->nsubs, 3);
	CHECK_EQ(w->refs, 3);
	CHECK(owatch_get(fm) == w);
	CHECK_EQ(w->refs, 4);
	owatch_put(w);
	vd = fm->devs[0].vd;
	CHECK(vd->queues[0].vq.obs != NULL);
	device_corpus(&c, "echo", vd->ops->config_size, (uint16_t)vd->nqueues);
	for (unsigned i = 0; i < c.n; i++)
		(void)fuzz_harness_run(h, c.buf[i], c.len[i]);
	/* between inputs nothing is in flight */
	CHECK_EQ(w->nlive, 0);
	CHECK(!w->degraded);
	for (unsigned i = w->nsubs; i < OWATCH_MAX_SUBS; i++)
		CHECK_EQ(owatch_subscribe(w, &idle_ops, NULL), 0);
	CHECK_EQ(owatch_subscribe(w, &idle_ops, NULL), -ENOSPC);
	while (w->nsubs > 3)
		owatch_unsubscribe(w, &idle_ops, NULL);
	CHECK_EQ(w->nsubs, 3);
	owatch_unsubscribe(w, &idle_ops, NULL); /* not subscribed: nothing */
	CHECK_EQ(w->nsubs, 3);
	fuzz_harness_free(h);
	corpus_free(&c);
}

/* ---- the virtqueue observer --------------------------------------------------------- */

struct obs_log {
	unsigned popped, used, dropped, resets;
	uint32_t last_len;
	uint16_t last_id;
};

static void obs_popped(void *ctx, const struct vq *vq, const struct vq_chain *c)
{
	((struct obs_log *)ctx)->popped++;
}

static void obs_retired(void *ctx, const struct vq *vq, const struct vq_chain *c, uint32_t len,
			bool used)
{
	struct obs_log *l = ctx;

	if (used)
		l->used++;
	else
		l->dropped++;
	l->last_len = len;
	l->last_id = c->id;
}

static void obs_reset(void *ctx, const struct vq *vq)
{
	((struct obs_log *)ctx)->resets++;
}

static const struct vq_observer obs_ops = {
	.popped = obs_popped,
	.retired = obs_retired,
	.reset = obs_reset,
};

/* Make n one-descriptor chains (8 writable bytes each) available on a
 * split ring of 8 at 0x1000 (desc), 0x2000 (avail), 0x3000 (used). */
static void ring_offer(struct gm *gm, unsigned n, uint16_t *avail_idx)
{
	for (unsigned i = 0; i < n; i++) {
		uint8_t d[16] = { 0 };
		uint16_t head = (uint16_t)(*avail_idx % 8);

		rs_st64(d, 0x8000 + 0x100ull * head);
		rs_st32(d + 8, 8);
		rs_st16(d + 12, VIRTQ_DESC_F_WRITE);
		gm_guest_write(gm, 0x1000 + 16ull * head, d, sizeof(d));
		rs_st16(d, head);
		gm_guest_write(gm, 0x2000 + 4 + 2ull * (*avail_idx % 8), d, 2);
		(*avail_idx)++;
	}
	{
		uint8_t idx[2];

		rs_st16(idx, *avail_idx);
		gm_guest_write(gm, 0x2002, idx, 2);
	}
}

static void test_vq_observer(void)
{
	struct gm gm;
	struct diag_log log;
	struct vq vq;
	struct vq_config cfg = { VQ_SPLIT, 8, 0x1000, 0x2000, 0x3000,
				 VIRTIO_BIT(VIRTIO_F_IN_ORDER) };
	struct obs_log l = { 0 };
	struct vq_chain c[4];
	uint32_t lens[4] = { 8, 8, 3, 8 };
	uint16_t avail = 0;

	gm_init(&gm);
	CHECK_EQ(gm_add_ram(&gm, 0, 1 << 20, NULL, "ram"), 0);
	diag_init(&log, "obs");
	vq_init(&vq, &gm, &log, 0, NULL, NULL);
	vq_set_observer(&vq, &obs_ops, &l);
	CHECK_EQ(vq_setup(&vq, &cfg), 0);
	CHECK_EQ(l.resets, 1);        /* setup forgets what was in flight */
	ring_offer(&gm, 4, &avail);
	for (unsigned i = 0; i < 4; i++)
		CHECK_EQ(vq_pop(&vq, &c[i]), 1);
	CHECK_EQ(l.popped, 4);
	/* one push: retired with the clamped length, before the used entry */
	CHECK_EQ(vq_push(&vq, &c[0], 100), 0);
	CHECK_EQ(l.used, 1);
	CHECK_EQ(l.last_len, 8);
	/* IN_ORDER batch of three: every chain reported, the run split at
	 * the short one */
	CHECK_EQ(vq_push_n(&vq, &c[1], &lens[1], 3), 0);
	CHECK_EQ(l.used, 4);
	CHECK_EQ(l.last_len, 8);
	CHECK_EQ(l.last_id, 3);
	/* a chain not in flight is not reported */
	CHECK(vq_push(&vq, &c[0], 1) < 0);
	CHECK_EQ(l.used, 4);
	/* a broken queue drops what is pushed */
	ring_offer(&gm, 2, &avail);
	CHECK_EQ(vq_pop(&vq, &c[0]), 1);
	CHECK_EQ(vq_pop(&vq, &c[1]), 1);
	vq.broken = true;
	CHECK(vq_push(&vq, &c[0], 8) < 0);
	CHECK_EQ(l.dropped, 1);
	CHECK(vq_push_n(&vq, &c[1], lens, 1) < 0);
	CHECK_EQ(l.dropped, 2);
	/* reset keeps the observer */
	vq_reset(&vq);
	CHECK_EQ(l.resets, 2);
	CHECK(vq.obs == &obs_ops);
	/* removed: nothing more */
	vq_set_observer(&vq, NULL, &l);
	CHECK(vq.obs_ctx == NULL);
	CHECK_EQ(vq_setup(&vq, &cfg), 0);
	CHECK_EQ(l.resets, 2);
	vq_reset(&vq);
	gm_destroy(&gm);
}

/* An IN_ORDER batch whose queue breaks halfway drops the rest. */
static void test_vq_observer_batch_drop(void)
{
	struct gm gm;
	struct diag_log log;
	struct vq vq;
	struct vq_config cfg = { VQ_SPLIT, 8, 0x1000, 0x2000, 0x3000,
				 VIRTIO_BIT(VIRTIO_F_IN_ORDER) };
	struct obs_log l = { 0 };
	struct vq_chain c[3];
	uint32_t lens[3] = { 1, 1, 1 };
	uint16_t avail = 0;

	gm_init(&gm);
	CHECK_EQ(gm_add_ram(&gm, 0, 1 << 20, NULL, "ram"), 0);
	diag_init(&log, "obs");
	vq_init(&vq, &gm, &log, 0, NULL, NULL);
	vq_set_observer(&vq, &obs_ops, &l);
	CHECK_EQ(vq_setup(&vq, &cfg), 0);
	ring_offer(&gm, 3, &avail);
	for (unsigned i = 0; i < 3; i++)
		CHECK_EQ(vq_pop(&vq, &c[i]), 1);
	/* the used ring leaves RAM: the first entry write fails, the queue
	 * breaks and the chains after the failed run are dropped */
	vq.device = (1 << 20) - 4;
	CHECK(vq_push_n(&vq, c, lens, 3) < 0);
	CHECK_EQ(l.used, 1);
	CHECK_EQ(l.dropped, 2);
	vq_reset(&vq);
	gm_destroy(&gm);
}

/* ---- the dma oracle names the device that wrote ------------------------------------ */

/* Child: the machine target with the dma oracle; device 1's queue 0 has a
 * writable chain in flight (8 bytes at 0x8000, ring_offer), then one byte
 * is written there with the arena's actor set to *arg: 1 device 1 itself,
 * 0 nobody (outside every device call), -1 device 0. */
static void dma_actor_child(const void *arg)
{
	const struct fuzz_target t = { "machine", FUZZ_MACHINE, NULL, NULL };
	struct vq_config cfg = { VQ_SPLIT, 8, 0x1000, 0x2000, 0x3000, 0 };
	int who = *(const int *)arg;
	struct fuzz_harness *h;
	struct fuzz_machine *fm;
	struct vq_chain c;
	struct vq *vq;
	uint16_t avail = 0;
	uint8_t v = 0xa5;
	char err[256];

	setenv("RS_FUZZ_ORACLES", "dma", 1);
	h = fuzz_harness_new(&t, err, sizeof(err));
	if (!h || fuzz_harness_machines(h, &fm, 1) != 1 || fm->ndevs < 2 ||
	    !fm->devs[1].vd->nqueues) {
		fprintf(stderr, "no machine with two devices: %s\n", h ? "" : err);
		_exit(2);
	}
	vq = &fm->devs[1].vd->queues[0].vq;
	if (vq_setup(vq, &cfg) != 0)
		_exit(3);
	ring_offer(&fm->m->gm, 1, &avail);
	if (vq_pop(vq, &c) != 1)
		_exit(4);
	fm->m->gm.actor = who > 0 ? (const void *)fm->devs[1].vd :
			  who < 0 ? (const void *)fm->devs[0].vd : NULL;
	(void)gm_write(&fm->m->gm, 0x8000 + 3, &v, 1);
	fm->m->gm.actor = NULL;
	vq_chain_release(&c);
	vq_reset(vq);
	fuzz_harness_free(h);
}

/* The dma oracle holds a device-side write to the device whose model code
 * made it (the arena's actor, which the device core sets): into that
 * device's chain in flight it is fine, into another device's it is a bug; a
 * write made outside every device call may land in any device's chain. */
static void test_dma_names_the_writer(void)
{
	static const int own = 1, nobody = 0, other = -1;
	struct outcome o;

	in_child(dma_actor_child, &own, &o);
	CHECK(exited_clean(&o));
	show("own chain", &o);
	in_child(dma_actor_child, &nobody, &o);
	CHECK(exited_clean(&o));
	show("no actor", &o);
	in_child(dma_actor_child, &other, &o);
	CHECK(aborted(&o));
	CHECK(strstr(o.err, "BUG found by oracle 'dma'") != NULL);
	CHECK(strstr(o.err, "into writable segment 0x8000+8 of chain id 0 on q0 of another "
			    "device") != NULL);
	if (!aborted(&o))
		show("other device", &o);
}

/* ---- the canary table and the sanitizers -------------------------------------------- */

/* Every model a machine can name has a canary (a device that lands must
 * add one), and its request fits the table's buffers. */
static void test_canary_table(void)
{
	for (unsigned d = 0; rs_devices[d]; d++) {
		const struct fuzz_canary *c = fuzz_canary_find(rs_devices[d]->name);

		CHECK(c != NULL);
		if (!c)
			fprintf(stderr, "no canary for %s (harnesses/oracle_canary.c)\n",
				rs_devices[d]->name);
	}
	CHECK(fuzz_canary_find("test-broken") != NULL);
	CHECK(fuzz_canary_find("nope") == NULL);
	for (unsigned i = 0; i < fuzz_canaries_len; i++) {
		const struct fuzz_canary *c = &fuzz_canaries[i];

		CHECK(c->what != NULL);
		CHECK(c->in_len <= CANARY_MAX_IN);
		CHECK(c->used_min <= c->used_max);
		CHECK(!c->nqueues || c->queue < c->nqueues);
		CHECK(c->nqueues || c->cfg_size);
	}
}

/* The fuzz preset turns ASan and UBSan on (CMakePresets.json), a fuzz
 * build has them, and when they are in they fire through the harness. */
static void test_sanitizers(void)
{
	FILE *f = fopen(RS_SOURCE_DIR "/CMakePresets.json", "r");
	static char text[16384];
	size_t n = f ? fread(text, 1, sizeof(text) - 1, f) : 0;
	const char *fuzz, *next, *san;

	if (f)
		fclose(f);
	text[n] = '\0';
	fuzz = strstr(text, "\"name\": \"fuzz\"");
	CHECK(fuzz != NULL);
	if (fuzz) {
		next = strstr(fuzz + 1, "\"name\":");
		san = strstr(fuzz, "\"RS_SANITIZE\": \"ON\"");
		CHECK(san != NULL && (!next || san < next));
	}
	if (RS_TEST_FUZZ)
		CHECK(RS_TEST_SANITIZE);
	if (RS_TEST_SANITIZE) {
		CHECK(HAVE_ASAN);
		CHECK(HAVE_UBSAN);
	}
	if (HAVE_ASAN || HAVE_UBSAN) {
		struct corpus c = { .n = 0 };
		struct outcome o;

		broken_sessions(&c);
		if (HAVE_ASAN) {
			struct fuzz_target t = { "broken_asan", FUZZ_DEVICE,
						 "test-broken,bug=heap-overflow", "mmio" };

			run_child(&t, "none", NULL, &c, &o);
			CHECK(!exited_clean(&o));
			CHECK(strstr(o.err, "AddressSanitizer: heap-buffer-overflow") != NULL);
		}
		if (HAVE_UBSAN) {
			struct fuzz_target t = { "broken_ubsan", FUZZ_DEVICE,
						 "test-broken,bug=signed-overflow", "pci-modern" };

			run_child(&t, "none", NULL, &c, &o);
			CHECK(!exited_clean(&o));
			CHECK(strstr(o.err, "runtime error: signed integer overflow") != NULL);
		}
		corpus_free(&c);
	}
}

/* The test device is reachable only by its test- name; a bad bug name is
 * a machine-spec error. */
static void test_broken_device_is_test_only(void)
{
	struct machine *m = NULL;
	char err[256];

	for (unsigned d = 0; rs_devices[d]; d++)
		CHECK(strncmp(rs_devices[d]->name, "test-", 5) != 0);
	CHECK(rs_device_find("test-broken") != NULL);
	CHECK(rs_device_find("broken") == NULL);
	CHECK(rs_device_find("test-echo") == NULL);
	CHECK(rs_device_find("echo") != NULL);
	CHECK(rs_machine_new("mem=1M mmio:test-broken,bug=sideways", &m, err, sizeof(err)) < 0);
	CHECK(strstr(err, "unknown bug 'sideways'") != NULL);
	CHECK_EQ(rs_machine_new("mem=1M pci-modern:test-broken,bug=hang", &m, err, sizeof(err)), 0);
	rs_machine_free(m);
}

int main(void)
{
	RUN(test_vq_observer);
	RUN(test_vq_observer_batch_drop);
	RUN(test_canary_table);
	RUN(test_broken_device_is_test_only);
	RUN(test_watch_is_shared_and_removed);
	RUN(test_ring_target_is_left_alone);
	RUN(test_fires_on_broken_device);
	RUN(test_silent_on_correct_broken_device);
	RUN(test_silent_on_real_devices);
	RUN(test_silent_on_machine_target);
	RUN(test_injected_device_behaviour);
	RUN(test_host_owned_state);
	RUN(test_canary_runner);
	RUN(test_selection_names);
	RUN(test_watch_chains_a_tap);
	RUN(test_dma_names_the_writer);
	RUN(test_sanitizers);
	return check_done();
}
