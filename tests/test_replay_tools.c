/*
 * ringside tests — trace minimisation and conversion: ddmin keeps a
 * tampered trace's divergence (and a crash) in far fewer events; traces
 * round-trip through fuzz op streams on a fuzz target's machine; crash
 * inputs' partial recordings are salvaged; C reproducers are written.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "fuzz.h"
#include "ringside/replay.h"
#include "test_replay_util.h"

static struct replay_result res;
static const struct replay_opts quiet = { .quiet = true };

/* A recording of several devices with one read value changed in the middle. */
static void tampered(const char *path, size_t *at, uint64_t *events)
{
	struct rp_list l = { 0 };
	struct trace_header h;
	struct trace_error err;
	const char *base = tmp("base.trace");

	record("mem=16M pci-modern:echo mmio:rng pci-legacy:blk,size=1M mmio-legacy:echo", base, 6,
	       false);
	CHECK_EQ(rp_list_load(base, &l, &h, &err), 0);
	*at = find(&l, TEV_MMIO_READ, 0, 40);
	CHECK(*at != SIZE_MAX);
	l.ev[*at].value ^= 4;
	*events = l.n;
	CHECK_EQ(rp_list_write(path, &h, &l, NULL, &err), 0);
	rp_list_free(&l);
	free(h.world);
}

static void test_minimize_divergence(void)
{
	const char *in = tmp("tampered.trace"), *out = tmp("min.trace");
	struct min_opts o = { .quiet = true };
	struct min_result r;
	char err[300], report[4096];
	uint64_t first_in, events;
	size_t at;

	tampered(in, &at, &events);
	CHECK_EQ(replay_file(in, &quiet, &res), 1);
	first_in = res.first_divergence;
	CHECK_EQ(first_in, at);
	memcpy(report, res.report, sizeof report);
	CHECK_EQ(minimize_file(in, out, &o, &r, err, sizeof err), 0);
	CHECK_EQ(r.events_in, events);
	CHECK(r.events_out > 0);
	CHECK(r.events_out * 4 < r.events_in);
	CHECK(r.groups_out < r.groups_in);
	CHECK(r.runs > 1);
	CHECK(!r.exhausted);
	CHECK(strstr(r.signature, "read value") != NULL);
	/* the result replays to the same divergence, earlier */
	CHECK_EQ(replay_file(out, &quiet, &res), 1);
	CHECK(res.first_divergence < first_in);
	CHECK(strstr(res.report, "read value") != NULL);
	/* on a terminal it shows its progress */
	{
		int master = posix_openpt(O_RDWR | O_NOCTTY), slave = -1, saved;
		char text[4096];
		ssize_t n;

		if (master >= 0 && grantpt(master) == 0 && unlockpt(master) == 0)
			slave = open(ptsname(master), O_RDWR | O_NOCTTY);
		if (slave >= 0) {
			o.quiet = false;
			fflush(stderr);
			saved = dup(STDERR_FILENO);
			dup2(slave, STDERR_FILENO);
			CHECK_EQ(minimize_file(in, out, &o, &r, err, sizeof err), 0);
			fflush(stderr);
			dup2(saved, STDERR_FILENO);
			close(saved);
			fcntl(master, F_SETFL, O_NONBLOCK);
			n = read(master, text, sizeof text - 1);
			text[n > 0 ? n : 0] = '\0';
			CHECK(strstr(text, "minimize: ") != NULL);
			close(slave);
			o.quiet = true;
		}
		if (master >= 0)
			close(master);
	}
	/* a run budget stops early but still writes a valid trace */
	o.max_runs = 3;
	CHECK_EQ(minimize_file(in, out, &o, &r, err, sizeof err), 0);
	CHECK(r.exhausted);
	CHECK_EQ(r.runs, 3);
	CHECK_EQ(replay_file(out, &quiet, &res), 1);
}

static void test_minimize_refuses(void)
{
	const char *clean = tmp("clean.trace"), *out = tmp("never.trace");
	struct min_opts o = { .quiet = true };
	struct min_result r;
	char err[300];

	record("mem=16M mmio:rng", clean, 2, false);
	CHECK_EQ(minimize_file(clean, out, &o, &r, err, sizeof err), -1);
	CHECK(strstr(err, "without divergence") != NULL);
	CHECK(access(out, F_OK) != 0);
	o.keep = MIN_KEEP_CRASH;
	CHECK_EQ(minimize_file(clean, out, &o, &r, err, sizeof err), -1);
	CHECK(strstr(err, "does not crash") != NULL);
	CHECK_EQ(minimize_file(tmp("missing.trace"), out, &o, &r, err, sizeof err), -1);
	CHECK(strstr(err, "missing.trace") != NULL);
	o.keep = MIN_KEEP_DIVERGENCE;
	{
		/* an unwritable output */
		size_t at;
		uint64_t n;

		tampered(tmp("t2.trace"), &at, &n);
		CHECK_EQ(minimize_file(tmp("t2.trace"), "/nonexistent-dir/x.trace", &o, &r, err,
				       sizeof err),
			 -1);
	}
}

/* A stand-in for a crashing replay: dies when the candidate still holds the
 * marked event (and, to vary the signal, with the marked kind). */
struct crash_spec {
	size_t event;
	int how;        /* 0: SIGABRT, 1: exit(3), 2: hang */
};

static void fake_child(void *ctx, const struct trace_header *h, const struct rp_list *l,
		       const bool *keep, volatile struct trace_event *cur)
{
	const struct crash_spec *cs = ctx;

	if (!keep[cs->event])
		_exit(0);
	cur->type = l->ev[cs->event].type;
	cur->addr = l->ev[cs->event].addr;
	cur->value = 0;
	for (size_t i = 0; i < cs->event; i++)
		cur->value += keep[i];
	if (cs->how == 0)
		abort();
	if (cs->how == 1)
		exit(3);
	for (;;)
		pause();
}

static void test_minimize_crash(void)
{
	const char *in = tmp("base.trace"), *out = tmp("crash.trace");
	struct rp_list l = { 0 };
	struct trace_header h;
	struct trace_error terr;
	struct crash_spec cs = { 0 };
	struct min_opts o = { .quiet = true, .keep = MIN_KEEP_CRASH, .child = fake_child,
			      .child_ctx = &cs, .timeout_s = 1 };
	struct min_result r;
	char err[300];

	CHECK_EQ(rp_list_load(in, &l, &h, &terr), 0);
	cs.event = find(&l, TEV_MMIO_WRITE, 0, 30);
	CHECK_EQ(minimize_file(in, out, &o, &r, err, sizeof err), 0);
	CHECK(strstr(r.signature, "signal 6") != NULL);
	CHECK(strstr(r.signature, "mmio-write") != NULL);
	CHECK_EQ(r.groups_out, 1);
	rp_list_free(&l);
	free(h.world);
	CHECK_EQ(rp_list_load(out, &l, &h, &terr), 0);
	CHECK(l.n >= 1);
	CHECK_EQ(l.ev[0].type, TEV_MMIO_WRITE);
	rp_list_free(&l);
	free(h.world);
	cs.how = 1;
	CHECK_EQ(minimize_file(in, out, &o, &r, err, sizeof err), 0);
	CHECK(strstr(r.signature, "exit status 3") != NULL);
	CHECK_EQ(r.groups_out, 1);
	cs.how = 2;
	o.max_runs = 2;
	CHECK_EQ(minimize_file(in, out, &o, &r, err, sizeof err), 0);
	CHECK(strstr(r.signature, "timeout") != NULL);
}

/* ---- conversion ------------------------------------------------------------------------ */

/* The machine spec of fuzz target name. */
static void target_spec(const char *name, const char *dev, const char *tr, char *spec,
			size_t len)
{
	struct fuzz_target t = { name, FUZZ_DEVICE, dev, tr };
	struct fuzz_machine *fm = NULL;
	char err[200];
	struct fuzz_harness *h = fuzz_harness_new(&t, err, sizeof err);

	CHECK(h != NULL);
	spec[0] = '\0';
	if (h && fuzz_harness_machines(h, &fm, 1) == 1) {
		size_t n = strnlen(fm->m->spec, sizeof fm->m->spec);
		CHECK(n < len);
		n = n < len ? n : len - 1;
		memcpy(spec, fm->m->spec, n);
		spec[n] = '\0';
	}
	fuzz_harness_free(h);
}

/* Accesses of two traces agree: type, place, size and value. */
static void same_accesses(const char *a, const char *b)
{
	struct rp_list la = { 0 }, lb = { 0 };
	struct trace_header ha, hb;
	struct trace_error err;
	size_t i = 0, j = 0, n = 0;

	CHECK_EQ(rp_list_load(a, &la, &ha, &err), 0);
	CHECK_EQ(rp_list_load(b, &lb, &hb, &err), 0);
	CHECK(!strcmp(ha.machine_spec, hb.machine_spec));
	for (;;) {
		while (i < la.n && !rec_is_access(la.ev[i].type))
			i++;
		while (j < lb.n && !rec_is_access(lb.ev[j].type))
			j++;
		if (i >= la.n || j >= lb.n)
			break;
		if (la.ev[i].type != lb.ev[j].type || la.ev[i].addr != lb.ev[j].addr ||
		    la.ev[i].value != lb.ev[j].value) {
			fprintf(stderr, "access %zu differs: #%zu vs #%zu\n", n, i, j);
			CHECK(false);
			break;
		}
		i++;
		j++;
		n++;
	}
	CHECK(i >= la.n && j >= lb.n);
	CHECK(n > 100);
	rp_list_free(&la);
	rp_list_free(&lb);
	free(ha.world);
	free(hb.world);
}

static void round_trip(const char *name, const char *dev, const char *tr)
{
	const char *trace = tmp("rt.trace"), *ops = tmp("rt.ops"), *back = tmp("rt2.trace");
	struct conv_result r;
	char spec[512], err[300];

	target_spec(name, dev, tr, spec, sizeof spec);
	record(spec, trace, 4, false);
	CHECK_EQ(convert_trace_to_ops(trace, ops, &r, err, sizeof err), 0);
	CHECK(r.ops > 100);
	CHECK(!strcmp(r.target, name));
	CHECK_EQ(convert_ops_to_trace(ops, name, back, &r, err, sizeof err), 0);
	CHECK(!r.crashed);
	CHECK_EQ(r.unrecorded, 0);
	CHECK(r.events > 0);
	if (replay_file(back, &quiet, &res) != 0)
		fprintf(stderr, "%s: %s%s\n", name, res.report, res.err.msg);
	CHECK_EQ(res.divergences, 0);
	same_accesses(trace, back);
}

static void test_convert_round_trip(void)
{
	round_trip("blk_pci_modern", "blk", "pci-modern");
	round_trip("echo_mmio_legacy", "echo", "mmio-legacy");
	round_trip("console_pci_legacy", "console", "pci-legacy");
}

/* A recording from the executor's own structured ops replays clean too. */
static void test_convert_seed_inputs(void)
{
	const char *ops = tmp("seed.ops"), *back = tmp("seed.trace");
	struct fuzz_builder *b = calloc(1, sizeof(*b));
	const struct fuzz_device_info *info = fuzz_device_info("echo");
	struct conv_result r;
	uint8_t *buf = malloc(2 * FUZZ_BUILD_MAX + 1);
	size_t n;
	char err[300];
	FILE *f;

	CHECK(b && buf && info);
	b->set = &fuzz_opset_device;
	b->info = info;
	b->ndevs = 1;
	b->nqueues = 2;
	b->prefix = -1;
	fb_reset(b);
	fb_init(b, info->features, 16, 0);
	{
		uint32_t out_len = 32, in_len = 32;

		fb_chain(b, 0, &out_len, 1, &in_len, 1, "hello, ringside, a chain of bytes", 32, 0);
	}
	fb_op(b, FOP_IO_RAW, 0, 1, 2, (uint16_t)VIRTIO_MMIO_MAGIC_VALUE, 0, 0);
	fb_op(b, FOP_REG_READ, 0, 0, 2, 0, 0, 0);
	n = fb_finish(b, buf, 2 * FUZZ_BUILD_MAX + 1);
	CHECK(n > 0);
	f = fopen(ops, "wb");
	CHECK(f != NULL);
	if (f) {
		CHECK_EQ(fwrite(buf, 1, n, f), n);
		fclose(f);
	}
	CHECK_EQ(convert_ops_to_trace(ops, "echo_mmio", back, &r, err, sizeof err), 0);
	CHECK_EQ(r.unrecorded, 1); /* the REG_READ (a read without side effects) */
	CHECK(r.events > 10);
	CHECK_EQ(replay_file(back, &quiet, &res), 0);
	/* a forced kick is not recorded: the trace misses its notify */
	fb_op(b, FOP_KICK, 0, 0, 1, 0, 0, 0);
	n = fb_finish(b, buf, 2 * FUZZ_BUILD_MAX + 1);
	f = fopen(tmp("kick.ops"), "wb");
	if (f) {
		CHECK_EQ(fwrite(buf, 1, n, f), n);
		fclose(f);
	}
	CHECK_EQ(convert_ops_to_trace(tmp("kick.ops"), "echo_mmio", back, &r, err, sizeof err), 0);
	CHECK_EQ(r.unrecorded, 2);
	/* errors */
	CHECK_EQ(convert_ops_to_trace(ops, "nosuch_pci_modern", back, &r, err, sizeof err), -1);
	CHECK(strstr(err, "unknown fuzz target") != NULL);
	CHECK_EQ(convert_ops_to_trace(ops, "echo", back, &r, err, sizeof err), -1);
	CHECK_EQ(convert_ops_to_trace(tmp("none.ops"), "echo_mmio", back, &r, err, sizeof err), -1);
	CHECK_EQ(convert_ops_to_trace(ops, "echo_mmio", "/nonexistent-dir/x", &r, err, sizeof err),
		 -1);
	/* the machine target picks its machine with the first byte */
	CHECK_EQ(convert_ops_to_trace(ops, "machine", back, &r, err, sizeof err), 0);
	free(b);
	free(buf);
}

static void test_convert_errors_and_c(void)
{
	const char *trace = tmp("base.trace"), *c = tmp("repro.c");
	struct conv_result r;
	char err[300];
	FILE *f;
	static char text[1 << 22];
	size_t n;

	CHECK_EQ(convert_trace_to_ops(tmp("none.trace"), tmp("x.ops"), &r, err, sizeof err), -1);
	CHECK_EQ(convert_trace_to_c(tmp("none.trace"), c, &r, err, sizeof err), -1);
	CHECK_EQ(convert_trace_to_ops(trace, "/nonexistent-dir/x.ops", &r, err, sizeof err), -1);
	CHECK_EQ(convert_trace_to_c(trace, "/nonexistent-dir/x.c", &r, err, sizeof err), -1);
	/* a multi-device machine is no fuzz target's */
	CHECK_EQ(convert_trace_to_ops(trace, tmp("multi.ops"), &r, err, sizeof err), 0);
	CHECK_EQ(r.target[0], '\0');
	CHECK_EQ(convert_trace_to_c(trace, c, &r, err, sizeof err), 0);
	f = fopen(c, "r");
	CHECK(f != NULL);
	n = f ? fread(text, 1, sizeof text - 1, f) : 0;
	if (f)
		fclose(f);
	text[n] = '\0';
	CHECK(strstr(text, "replayer_open_mem(trace, sizeof trace") != NULL);
	CHECK(strstr(text, "machine_mmio_write(m, 0x") != NULL);
	CHECK(strstr(text, "done(machine_pio_read(m, 0xcfc, 4))") != NULL);
	CHECK(strstr(text, "return r == 0 ? 0") != NULL);
	CHECK(strstr(text, "*/ */") == NULL);
}

/* A recording killed before it closed its trace is salvaged. */
static void test_salvage(void)
{
	const char *out = tmp("killed.trace");
	char part[400], err[300];
	uint64_t events = 0;
	pid_t pid;
	int st;

	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		struct trace_header h;
		struct trace_error terr;
		struct machine *m;
		struct recorder *rec;
		struct trace_writer *w;
		struct inproc_io io = { 0 };
		struct inproc_result ir = { 0 };
		char e[200];

		if (rec_machine_new("mem=16M mmio:echo", NULL, "test", &m, &h, e, sizeof e) < 0)
			_exit(1);
		w = trace_writer_open(out, &h, &terr);
		rec = recorder_new(m, w);
		rec_set_sync(rec, true);
		io.m = m;
		io.r = rec;
		inproc_workload(m, &io, NULL, &ir);
		_exit(0); /* killed: nothing closed */
	}
	CHECK(pid > 0);
	waitpid(pid, &st, 0);
	snprintf(part, sizeof part, "%s.tmp", out);
	CHECK(access(part, F_OK) == 0);
	CHECK_EQ(convert_salvage(out, &events, err, sizeof err), 0);
	CHECK(events > 100);
	CHECK(access(part, F_OK) != 0);
	CHECK_EQ(replay_file(out, &quiet, &res), 0);
	CHECK_EQ(res.events, events);
	CHECK_EQ(convert_salvage(out, &events, err, sizeof err), -1);
}


/* Traces made by hand: what an op stream can and cannot carry. */
static void test_convert_crafted(void)
{
	static uint8_t zero[64];
	const char *in = tmp("crafted.trace"), *ops = tmp("crafted.ops");
	struct trace_header h = { .version = TRACE_FORMAT_VERSION };
	struct trace_error terr;
	struct conv_result r;
	struct rp_list l = { 0 };
	char err[300];
	struct trace_event top = { .type = TEV_MMIO_WRITE, .addr = MACHINE_VMMIO_BASE + 0x50,
				   .size = 4 };
	struct trace_event wr = { .type = TEV_DMA_WRITE, .addr = 0x5000, .len = 4,
				  .data = (const uint8_t *)"abcd" };
	struct trace_event rd = { .type = TEV_DMA_READ, .addr = 0x5000, .len = 4,
				  .data = (const uint8_t *)"abcd" };
	struct trace_event io = { .type = TEV_WORLD, .kind = rec_wk_io(WIO_WRITE), .size = 8,
				  .value = (uint64_t)-5 };
	struct trace_event clk = { .type = TEV_WORLD, .kind = WIN_CLOCK, .addr = 1, .value = 5 };
	struct trace_event ent = { .type = TEV_WORLD, .kind = WIN_ENTROPY, .size = 8,
				   .value = (uint64_t)-5 };
	struct trace_event evt = { .type = TEV_WORLD, .kind = WIN_EVENT, .addr = WEV_NET_RX,
				   .len = 4, .data = (const uint8_t *)"data" };

	snprintf(h.machine_spec, sizeof h.machine_spec, "mem=16M mmio:rng");
	CHECK_EQ(rp_list_add(&l, &top), 0);
	CHECK_EQ(rp_list_add(&l, &wr), 0);
	CHECK_EQ(rp_list_add(&l, &rd), 0);
	for (unsigned k = 0; k < 40; k++) {
		struct trace_event page = { .type = TEV_DMA_READ, .addr = 0x100000 + 4096ull * k,
					    .len = 8, .data = (const uint8_t *)"pagedata" };

		CHECK_EQ(rp_list_add(&l, &page), 0);
	}
	CHECK_EQ(rp_list_add(&l, &io), 0);
	CHECK_EQ(rp_list_add(&l, &clk), 0);
	CHECK_EQ(rp_list_add(&l, &ent), 0);
	CHECK_EQ(rp_list_add(&l, &evt), 0);
	CHECK_EQ(rp_list_write(in, &h, &l, NULL, &terr), 0);
	CHECK_EQ(convert_trace_to_ops(in, ops, &r, err, sizeof err), 0);
	CHECK(r.lossy >= 4);
	/* 40 page writes (not the bytes the device wrote itself) and the access;
	 * the rng takes no rx frames: the event is lost */
	CHECK_EQ(r.ops, 40 + 1);
	/* beyond what MEM_WRITE reaches */
	rd.addr = 64ull << 20;
	rd.data = zero;
	CHECK_EQ(rp_list_add(&l, &top), 0);
	CHECK_EQ(rp_list_add(&l, &rd), 0);
	CHECK_EQ(rp_list_write(in, &h, &l, NULL, &terr), 0);
	CHECK_EQ(convert_trace_to_ops(in, ops, &r, err, sizeof err), -1);
	CHECK(strstr(err, "beyond") != NULL);
	rp_list_free(&l);
	/* an access IO_RAW cannot make */
	top.addr = 0x1000;
	CHECK_EQ(rp_list_add(&l, &top), 0);
	CHECK_EQ(rp_list_write(in, &h, &l, NULL, &terr), 0);
	CHECK_EQ(convert_trace_to_ops(in, ops, &r, err, sizeof err), -1);
	CHECK(strstr(err, "outside what IO_RAW reaches") != NULL);
	/* a spec that does not parse */
	snprintf(h.machine_spec, sizeof h.machine_spec, "pcix:rng");
	CHECK_EQ(rp_list_write(in, &h, &l, NULL, &terr), 0);
	CHECK_EQ(convert_trace_to_ops(in, ops, &r, err, sizeof err), -1);
	CHECK(strstr(err, "machine spec") != NULL);
	rp_list_free(&l);
	/* an empty trace: nothing to minimize */
	snprintf(h.machine_spec, sizeof h.machine_spec, "mem=16M mmio:rng");
	CHECK_EQ(rp_list_write(in, &h, &l, NULL, &terr), 0);
	{
		struct min_opts o = { .quiet = true };
		struct min_result mr;

		CHECK_EQ(minimize_file(in, ops, &o, &mr, err, sizeof err), -1);
		CHECK(strstr(err, "no events") != NULL);
	}
}

/* An input whose recording the child cannot finish (here: the file size
 * limit kills it) still gives a trace of everything before. */
static void test_convert_killed_child(void)
{
	const char *ops = tmp("seed.ops"), *out = tmp("killed-child.trace");
	struct conv_result r;
	struct rlimit old, lim;
	char err[300];

	signal(SIGXFSZ, SIG_DFL);
	CHECK_EQ(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = 1500;
	CHECK_EQ(setrlimit(RLIMIT_FSIZE, &lim), 0);
	CHECK_EQ(convert_ops_to_trace(ops, "echo_mmio", out, &r, err, sizeof err), 0);
	CHECK_EQ(setrlimit(RLIMIT_FSIZE, &old), 0);
	CHECK(r.crashed);
	CHECK_EQ(r.crash_signal, SIGXFSZ);
	CHECK(r.events > 10);
	(void)replay_file(out, &quiet, &res);
	CHECK(res.events >= r.events - 1);
}

int main(void)
{
	if (!scratch_open("rs_replay_tools"))
		return 1;
	setenv("RS_FUZZ_ORACLES", "none", 1);
	RUN(test_minimize_divergence);
	RUN(test_minimize_refuses);
	RUN(test_minimize_crash);
	RUN(test_convert_round_trip);
	RUN(test_convert_seed_inputs);
	RUN(test_convert_errors_and_c);
	RUN(test_salvage);
	RUN(test_convert_crafted);
	RUN(test_convert_killed_child);
	scratch_close();
	return check_done();
}
