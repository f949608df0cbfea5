/*
 * The fuzz harness is deterministic and resets in-process: an input gives
 * the same result hash whether it runs first, after thousands of others, or
 * on a second harness; the oracle hooks run around every op and input; a
 * bug report aborts with the oracle's message; targets that cannot be
 * built say why.
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

/* Deterministic generator of small random inputs. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	return xorshift64(&rng_state);
}

/* 1..8 records and 0..63 data bytes of noise. */
static size_t random_input(uint8_t *buf, size_t cap)
{
	size_t n = (1 + rnd() % 8) * FUZZ_OP_SIZE + rnd() % 64;

	n = RS_MIN(n, cap);
	for (size_t i = 0; i < n; i++)
		buf[i] = (uint8_t)rnd();
	return n;
}

/* Seeds of the target (its device's sessions) plus random inputs. */
static void make_corpus(struct corpus *c, struct fuzz_harness *h, const struct fuzz_target *t)
{
	static struct fuzz_builder b;
	struct fuzz_machine *fm;

	memset(&b, 0, sizeof(b));
	b.set = fuzz_harness_opset(h);
	b.prefix = -1;
	b.emit = corpus_keep;
	b.emit_ctx = c;
	if (t->kind == FUZZ_DEVICE && fuzz_harness_machines(h, &fm, 1) == 1) {
		b.info = fuzz_device_info(t->device);
		b.cfg_size = fm->devs[0].vd->ops->config_size;
		b.nqueues = (uint16_t)fm->devs[0].vd->nqueues;
		fuzz_seed_sessions(&b);
	}
	while (c->n < 300) {
		uint8_t in[256];

		corpus_keep(c, "random", in, random_input(in, sizeof(in)));
	}
}

static const struct fuzz_target targets[] = {
	{ "echo_pci_modern", FUZZ_DEVICE, "echo", "pci-modern" },
	{ "echo_mmio_legacy", FUZZ_DEVICE, "echo", "mmio-legacy" },
	{ "echo_pci_legacy", FUZZ_DEVICE, "echo", "pci-legacy" },
	{ "rng_pci_legacy", FUZZ_DEVICE, "rng", "pci-legacy" },
	{ "blk_mmio", FUZZ_DEVICE, "blk", "mmio" },
	{ "blk_pci_modern", FUZZ_DEVICE, "blk", "pci-modern" },
	{ "ring", FUZZ_RING, NULL, NULL },
};

static void test_same_hash_first_or_later(void)
{
	static uint64_t first[TEST_CORPUS_MAX];
	uint8_t noise[256];
	char err[256];

	for (unsigned t = 0; t < RS_ARRAY_SIZE(targets); t++) {
		const struct fuzz_target *tg = &targets[t];
		struct fuzz_harness *h, *h2;
		struct corpus c = { .n = 0 };
		unsigned distinct = 0;

		if (tg->device && !rs_device_find(tg->device))
			continue;
		h = fuzz_harness_new(tg, err, sizeof(err));
		CHECK(h != NULL);
		if (!h) {
			fprintf(stderr, "%s: %s\n", tg->name, err);
			continue;
		}
		make_corpus(&c, h, tg);
		for (unsigned i = 0; i < c.n; i++)
			first[i] = fuzz_harness_run(h, c.buf[i], c.len[i]);
		for (unsigned i = 1; i < c.n; i++)
			distinct += first[i] != first[i - 1];
		CHECK(distinct > c.n / 2);
		/* thousands of other inputs in between */
		for (unsigned i = 0; i < 5000; i++)
			(void)fuzz_harness_run(h, noise, random_input(noise, sizeof(noise)));
		for (unsigned i = 0; i < c.n; i++) {
			uint64_t again = fuzz_harness_run(h, c.buf[i], c.len[i]);

			if (again != first[i])
				fprintf(stderr, "%s: input %u: %016llx then %016llx\n", tg->name, i,
					(unsigned long long)first[i], (unsigned long long)again);
			CHECK_EQ(again, first[i]);
		}
		/* a second harness, inputs in the other order */
		h2 = fuzz_harness_new(tg, err, sizeof(err));
		CHECK(h2 != NULL);
		for (unsigned i = c.n; h2 && i-- > 0;)
			CHECK_EQ(fuzz_harness_run(h2, c.buf[i], c.len[i]), first[i]);
		fuzz_harness_free(h2);
		fuzz_harness_free(h);
		corpus_free(&c);
	}
}

/* The generic target builds every machine of its table and picks one by
 * the first byte; every machine runs noise without trouble. */
static void test_machine_target(void)
{
	const struct fuzz_target t = { "machine", FUZZ_MACHINE, NULL, NULL };
	static char specs[FUZZ_MAX_MACHINES][512];
	struct fuzz_machine *fms[FUZZ_MAX_MACHINES];
	unsigned n = fuzz_machine_specs(specs, FUZZ_MAX_MACHINES);
	char err[256];
	struct fuzz_harness *h = fuzz_harness_new(&t, err, sizeof(err));
	uint8_t in[256];

	CHECK(n >= 8);
	CHECK(h != NULL);
	if (!h)
		return;
	CHECK_EQ(fuzz_harness_machines(h, fms, FUZZ_MAX_MACHINES), n);
	for (unsigned k = 0; k < n; k++)
		CHECK(fms[k]->ndevs > 0);
	CHECK(strstr(specs[0], " pci:echo") != NULL);
	CHECK(strstr(specs[1], " mmio:echo") != NULL);
	for (unsigned i = 0; i < 3000; i++) {
		size_t len = random_input(in, sizeof(in));

		in[0] = (uint8_t)(i % n);
		(void)fuzz_harness_run(h, in, len);
	}
	(void)fuzz_harness_run(h, NULL, 0); /* empty: machine 0, no ops */
	fuzz_harness_free(h);
}

/* Hooks: attach once, then begin/after_op/end/after_reset per input. */
struct counts {
	unsigned attach, begin, ops, end, after, detach;
	uint64_t last_inputs;
};

static struct counts cnt;

static int o_attach(struct fuzz_harness *h, void **st)
{
	cnt.attach++;
	*st = &cnt;
	return 0;
}

static void o_begin(void *st, struct fuzz_exec *x)
{
	((struct counts *)st)->begin++;
	CHECK_EQ(x->in.nops, 0);
}

static void o_op(void *st, struct fuzz_exec *x)
{
	((struct counts *)st)->ops++;
	CHECK_EQ(x->op.index + 1, x->in.nops);
}

static void o_end(void *st, struct fuzz_exec *x)
{
	((struct counts *)st)->end++;
	((struct counts *)st)->last_inputs = x->inputs;
}

static void o_after(void *st, struct fuzz_exec *x)
{
	((struct counts *)st)->after++;
	/* after the reset the device is at power-on */
	CHECK_EQ(x->fm->devs[0].vd->status, 0);
}

static void o_detach(void *st)
{
	((struct counts *)st)->detach++;
}

static const struct fuzz_oracle counting = {
	.name = "counting",
	.attach = o_attach,
	.begin_input = o_begin,
	.after_op = o_op,
	.end_input = o_end,
	.after_reset = o_after,
	.detach = o_detach,
};

static int bad_attach(struct fuzz_harness *h, void **st)
{
	return -1;
}

static const struct fuzz_oracle failing = { .name = "failing", .attach = bad_attach };
static const struct fuzz_oracle empty = { .name = "empty" };

static void test_oracle_hooks(void)
{
	char err[256];
	struct fuzz_harness *h = fuzz_harness_new(&targets[0], err, sizeof(err));
	uint8_t in[3 * FUZZ_OP_SIZE] = { 0 };

	CHECK(h != NULL);
	if (!h)
		return;
	memset(&cnt, 0, sizeof(cnt));
	CHECK_EQ(fuzz_harness_add_oracle(h, &failing), -EINVAL);
	CHECK_EQ(fuzz_harness_add_oracle(h, &counting), 0);
	CHECK_EQ(fuzz_harness_add_oracle(h, &empty), 0);
	CHECK_EQ(cnt.attach, 1);
	CHECK(fuzz_harness_target(h) == &targets[0]);
	for (unsigned i = 0; i < 4; i++)
		(void)fuzz_harness_run(h, in, sizeof(in) - i * FUZZ_OP_SIZE);
	CHECK_EQ(cnt.begin, 4);
	CHECK_EQ(cnt.ops, 3 + 2 + 1 + 0);
	CHECK_EQ(cnt.end, 4);
	CHECK_EQ(cnt.after, 4);
	CHECK_EQ(cnt.last_inputs, 3);
	for (unsigned i = 0; i < 40; i++)
		(void)fuzz_harness_add_oracle(h, &empty);
	CHECK_EQ(fuzz_harness_add_oracle(h, &empty), -ENOSPC);
	fuzz_harness_free(h);
	CHECK_EQ(cnt.detach, 1);
}

/* RS_FUZZ_ORACLES-style selection from a table. */
static void test_oracle_selection(void)
{
	const struct fuzz_oracle *const table[] = { &counting, &empty, NULL };
	const struct fuzz_oracle *const bad[] = { &failing, NULL };
	char err[256];
	struct fuzz_harness *h = fuzz_harness_new(&targets[0], err, sizeof(err));

	CHECK(fuzz_oracle_selected(NULL, "dma"));
	CHECK(fuzz_oracle_selected("", "dma"));
	CHECK(fuzz_oracle_selected("all", "dma"));
	CHECK(!fuzz_oracle_selected("none", "dma"));
	CHECK(fuzz_oracle_selected("hang,dma", "dma"));
	CHECK(fuzz_oracle_selected("dma,hang", "dma"));
	CHECK(!fuzz_oracle_selected("dmax,hang", "dma"));
	CHECK(!fuzz_oracle_selected("dm,hang", "dma"));
	if (!h)
		return;
	memset(&cnt, 0, sizeof(cnt));
	CHECK_EQ(fuzz_harness_add_oracles(h, table, "empty"), 0);
	CHECK_EQ(cnt.attach, 0);
	CHECK_EQ(fuzz_harness_add_oracles(h, table, "counting,empty"), 0);
	CHECK_EQ(cnt.attach, 1);
	CHECK_EQ(fuzz_harness_add_oracles(h, bad, NULL), -EINVAL);
	fuzz_harness_free(h);
	CHECK_EQ(cnt.detach, 1);
}

/* fuzz_bug prints the oracle, the op and the listing, and aborts. */
static void test_bug_report_aborts(void)
{
	int fds[2], status = 0;
	char out[4096] = "";
	ssize_t got, total = 0;
	pid_t pid;

	CHECK_EQ(pipe(fds), 0);
	pid = fork();
	if (pid == 0) {
		struct fuzz_exec x = { .target = &targets[0] };
		uint8_t in[FUZZ_OP_SIZE] = { 8 };

		dup2(fds[1], 2);
		fuzz_input_init(&x.in, in, sizeof(in));
		(void)fuzz_next_op(&x.in, &fuzz_opset_device, &x.op);
		fuzz_bug(&x, "test-oracle", "device wrote %d bytes too many", 3);
		_exit(0);
	}
	close(fds[1]);
	while ((got = read(fds[0], out + total, sizeof(out) - 1 - (size_t)total)) > 0)
		total += got;
	close(fds[0]);
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
	CHECK(strstr(out, "BUG found by oracle 'test-oracle' in target echo_pci_modern") != NULL);
	CHECK(strstr(out, "device wrote 3 bytes too many") != NULL);
	CHECK(strstr(out, "SUBMIT") != NULL);
}

/* A target that cannot be built says why; the arena size comes from
 * RS_FUZZ_MEM. */
static void test_target_errors_and_mem(void)
{
	const struct fuzz_target nodev = { "nope_mmio", FUZZ_DEVICE, "nope", "mmio" };
	const struct fuzz_target badkind = { "bad", (enum fuzz_kind)9, NULL, NULL };
	char err[256] = "";
	struct fuzz_harness *h;
	struct fuzz_machine *fm;
	uint8_t in[256];

	CHECK(fuzz_harness_new(&nodev, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "'nope' is not in rs_devices[]") != NULL);
	CHECK(fuzz_harness_new(&badkind, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "unknown target kind") != NULL);

	setenv("RS_FUZZ_MEM", "1M", 1);
	h = fuzz_harness_new(&targets[0], err, sizeof(err));
	CHECK(h != NULL);
	if (h) {
		CHECK_EQ(fuzz_harness_machines(h, &fm, 1), 1);
		CHECK_EQ(fm->m->mem_size, 1u << 20);
		for (unsigned i = 0; i < 2000; i++)
			(void)fuzz_harness_run(h, in, random_input(in, sizeof(in)));
		fuzz_harness_free(h);
	}
	setenv("RS_FUZZ_MEM", "3X", 1);
	CHECK(fuzz_harness_new(&targets[0], err, sizeof(err)) == NULL);
	CHECK(strstr(err, "bad size") != NULL);
	unsetenv("RS_FUZZ_MEM");
}

int main(void)
{
	RUN(test_same_hash_first_or_later);
	RUN(test_machine_target);
	RUN(test_oracle_hooks);
	RUN(test_oracle_selection);
	RUN(test_bug_report_aborts);
	RUN(test_target_errors_and_mem);
	return check_done();
}
