/*
 * ringside tests — recording and replay: in-process sessions on every device
 * over every transport recorded and replayed clean; every kind of
 * divergence detected with the right report (a read value, DMA bytes and
 * places, interrupts, world inputs, checkpoints); --continue counting;
 * damaged traces refused cleanly; the stepwise API; blk images and console
 * terminals not touched during a replay.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "ringside/replay.h"
#include "ringside/ringside.h"
#include "test_replay_util.h"

static struct replay_result res;

static const struct replay_opts quiet = { .quiet = true };
static const struct replay_opts quiet_all = { .quiet = true, .keep_going = true };

/* Replay a list (selected events) under header h. */
static int replay_list(const struct trace_header *h, const struct rp_list *l, const bool *keep,
		       const struct replay_opts *o, struct rp_sig *sig)
{
	struct rp_list_cursor c;

	memset(&res, 0, sizeof res);
	return rp_replay(h, rp_list_events(&c, l, keep), o, &res, sig);
}

static void load(const char *path, struct rp_list *l, struct trace_header *h)
{
	struct trace_error err;

	memset(l, 0, sizeof(*l));
	CHECK_EQ(rp_list_load(path, l, h, &err), 0);
}

static void unload(struct rp_list *l, struct trace_header *h)
{
	rp_list_free(l);
	free(h->world);
	h->world = NULL;
}

/* ---- round trips -------------------------------------------------------------------- */

static void test_round_trip_every_device(void)
{
	const char *path = tmp("all.trace");
	uint64_t digest;

	record(NULL, path, 8, true);
	CHECK_EQ(replay_file(path, &quiet, &res), 0);
	CHECK_EQ(res.divergences, 0);
	CHECK(res.events > 1000);
	CHECK_EQ(res.err.code, TRACE_OK);
	CHECK(res.digest != 0);
	digest = res.digest;
	/* again: the same digest, and through the in-memory reader */
	CHECK_EQ(replay_file(path, &quiet_all, &res), 0);
	CHECK_EQ(res.digest, digest);
	{
		FILE *f = fopen(path, "rb");
		static uint8_t buf[1 << 20];
		size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;

		if (f)
			fclose(f);
		CHECK(n > 0 && n < sizeof buf);
		CHECK_EQ(replay_mem(buf, n, &quiet, &res), 0);
		CHECK_EQ(res.digest, digest);
	}
}

static void test_round_trip_each_transport(void)
{
	static const char *const transports[] = { "pci", "pci-modern", "pci-legacy", "mmio",
						  "mmio-legacy" };

	for (unsigned i = 0; rs_devices[i]; i++) {
		for (unsigned t = 0; t < RS_ARRAY_SIZE(transports); t++) {
			char spec[128];
			const char *path = tmp("one.trace");

			snprintf(spec, sizeof spec, "mem=16M %s:%s%s", transports[t],
				 rs_devices[i]->name,
				 !strcmp(rs_devices[i]->name, "scsi") ? ",disk0=1M"
				 : !strcmp(rs_devices[i]->name, "blk") ? ",size=1M"
								      : "");
			record(spec, path, 3, true);
			if (replay_file(path, &quiet, &res) != 0)
				fprintf(stderr, "%s:\n%s%s\n", spec, res.report, res.err.msg);
			CHECK_EQ(res.divergences, 0);
			CHECK_EQ(res.err.code, TRACE_OK);
		}
	}
}

/* The replay of a blk image file needs neither the file nor its size: the
 * trace has both. A console on a terminal (pty) is not opened either. */
static void test_replay_touches_no_host_resource(void)
{
	const char *img = tmp("disk.img"), *path = tmp("file.trace");
	char spec[512];
	int fd = open(img, O_CREAT | O_RDWR | O_TRUNC, 0600);

	CHECK(fd >= 0);
	CHECK_EQ(ftruncate(fd, 256 * 1024), 0);
	close(fd);
	snprintf(spec, sizeof spec, "mem=16M pci-modern:blk,file=%s mmio:blk,file=%s,cow", img,
		 img);
	record(spec, path, 4, true);
	CHECK_EQ(unlink(img), 0);
	CHECK_EQ(replay_file(path, &quiet, &res), 0);
	CHECK_EQ(res.divergences, 0);
	/* scsi disk and CD-ROM images likewise */
	fd = open(img, O_CREAT | O_RDWR | O_TRUNC, 0600);
	CHECK(fd >= 0);
	CHECK_EQ(ftruncate(fd, 256 * 1024), 0);
	close(fd);
	snprintf(spec, sizeof spec, "mem=16M pci-modern:scsi,disk0=file:%s,cd1=%s", img, img);
	record(spec, path, 4, true);
	CHECK_EQ(unlink(img), 0);
	CHECK_EQ(replay_file(path, &quiet, &res), 0);
	CHECK_EQ(res.divergences, 0);
	/* a pty console records live and replays without a terminal */
	fd = posix_openpt(O_RDWR);
	if (fd >= 0) {
		close(fd);
		record("mem=16M pci-modern:console,backend=pty", path, 3, true);
		CHECK_EQ(replay_file(path, &quiet, &res), 0);
	}
}

/* ---- divergences -------------------------------------------------------------------- */

struct tamper {
	struct rp_list l;
	struct trace_header h;
};

static void tamper_load(struct tamper *t)
{
	static bool done;
	const char *path = tmp("base.trace");

	if (!done) {
		record("mem=16M pci-modern:echo mmio-legacy:rng pci-legacy:blk,size=1M "
		       "pci:vmmci mmio:console",
		       path, 6, true);
		done = true;
	}
	load(path, &t->l, &t->h);
}

static void test_divergence_read_value(void)
{
	struct tamper t;
	struct rp_sig sig;
	size_t i;

	tamper_load(&t);
	CHECK_EQ(replay_list(&t.h, &t.l, NULL, &quiet, &sig), 0);
	i = find(&t.l, TEV_MMIO_READ, 0, 5);
	CHECK(i != SIZE_MAX);
	t.l.ev[i].value ^= 1;
	CHECK_EQ(replay_list(&t.h, &t.l, NULL, &quiet, &sig), 1);
	CHECK_EQ(res.divergences, 1);
	CHECK_EQ(res.first_divergence, i);
	CHECK_EQ(sig.kind, RP_DIV_VALUE);
	CHECK_EQ(sig.type, TEV_MMIO_READ);
	CHECK(strstr(res.report, "read value") != NULL);
	CHECK(strstr(res.report, "recorded: #") != NULL);
	CHECK(strstr(res.report, "replayed: read returned 0x") != NULL);
	CHECK(strstr(res.report, "last 8 event(s) before it") != NULL);
	unload(&t.l, &t.h);
}

static void test_divergence_dma_write_bytes(void)
{
	struct tamper t;
	struct rp_sig sig;
	size_t i;

	tamper_load(&t);
	i = find(&t.l, TEV_DMA_WRITE, 0, 3);
	CHECK(i != SIZE_MAX);
	((uint8_t *)t.l.ev[i].data)[0] ^= 0x40;
	CHECK_EQ(replay_list(&t.h, &t.l, NULL, &quiet, &sig), 1);
	CHECK_EQ(res.first_divergence, i);
	CHECK_EQ(sig.kind, RP_DIV_DMA_WRITE);
	CHECK(strstr(res.report, "byte 0") != NULL);
	CHECK(strstr(res.report, "during:") != NULL);
	unload(&t.l, &t.h);
}

/* A DMA read served other bytes: the echo device sends them back. */
static void test_divergence_dma_read_bytes(void)
{
	struct tamper t;
	struct rp_sig sig;
	size_t i = 0;

	tamper_load(&t);
	/* the first dma-read of 64 bytes or more is echo payload */
	for (i = 0; i < t.l.n; i++)
		if (t.l.ev[i].type == TEV_DMA_READ && t.l.ev[i].len >= 64)
			break;
	CHECK(i < t.l.n);
	((uint8_t *)t.l.ev[i].data)[10] ^= 0xff;
	CHECK_EQ(replay_list(&t.h, &t.l, NULL, &quiet, &sig), 1);
	CHECK(res.first_divergence > i);
	CHECK_EQ(sig.kind, RP_DIV_DMA_WRITE);
	unload(&t.l, &t.h);
}

/* A read at another address: the recorded one is a dma-read divergence. */
static void test_divergence_dma_read_place(void)
{
	struct tamper t;
	struct rp_sig sig;
	size_t i;

	tamper_load(&t);
	i = find(&t.l, TEV_DMA_READ, 0, 2);
	t.l.ev[i].addr += 8;
	CHECK_EQ(replay_list(&t.h, &t.l, NULL, &quiet, &sig), 1);
	CHECK_EQ(res.first_divergence, i);
	CHECK_EQ(sig.kind, RP_DIV_DMA_READ);
	CHECK(strstr(res.report, "device read") != NULL);
	unload(&t.l, &t.h);
}

static void test_divergence_dropped_interrupt(void)
{
	struct tamper t;
	struct rp_sig sig;
	bool *keep;
	size_t i;

	tamper_load(&t);
	keep = malloc(t.l.n);
	memset(keep, 1, t.l.n);
	i = find(&t.l, TEV_IRQ, 0, 0);
	CHECK(i != SIZE_MAX);
	keep[i] = false;
	CHECK_EQ(replay_list(&t.h, &t.l, keep, &quiet, &sig), 1);
	CHECK_EQ(sig.kind, RP_DIV_EXTRA);
	CHECK(strstr(res.report, "INTx line") != NULL);
	/* and an MSI changed */
	memset(keep, 1, t.l.n);
	i = find(&t.l, TEV_MSI, 0, 0);
	CHECK(i != SIZE_MAX);
	t.l.ev[i].value ^= 1;
	CHECK_EQ(replay_list(&t.h, &t.l, keep, &quiet, &sig), 1);
	CHECK_EQ(sig.kind, RP_DIV_MSI);
	CHECK_EQ(res.first_divergence, i);
	/* and an MSI dropped */
	t.l.ev[i].value ^= 1;
	keep[i] = false;
	CHECK_EQ(replay_list(&t.h, &t.l, keep, &quiet, &sig), 1);
	CHECK_EQ(sig.kind, RP_DIV_EXTRA);
	CHECK(strstr(res.report, "MSI to 0x") != NULL);
	/* an interrupt level flipped */
	memset(keep, 1, t.l.n);
	i = find(&t.l, TEV_IRQ, 0, 0);
	t.l.ev[i].value ^= 1;
	CHECK_EQ(replay_list(&t.h, &t.l, keep, &quiet, &sig), 1);
	CHECK_EQ(sig.kind, RP_DIV_IRQ);
	free(keep);
	unload(&t.l, &t.h);
}

/* Events recorded that the device does not produce: missing. */
static void test_divergence_missing(void)
{
	struct tamper t;
	struct rp_list l2 = { 0 };
	struct rp_sig sig;
	size_t i;
	struct trace_event extra = { .type = TEV_DMA_WRITE, .addr = 0x1000, .len = 4,
				     .data = (const uint8_t *)"abcd" };

	tamper_load(&t);
	i = find(&t.l, TEV_MMIO_WRITE, 0, 10);
	for (size_t k = 0; k < t.l.n; k++) {
		CHECK_EQ(rp_list_add(&l2, &t.l.ev[k]), 0);
		if (k == i)
			CHECK_EQ(rp_list_add(&l2, &extra), 0);
	}
	CHECK_EQ(replay_list(&t.h, &l2, NULL, &quiet, &sig), 1);
	CHECK_EQ(sig.kind, RP_DIV_MISSING);
	CHECK_EQ(res.first_divergence, i + 1);
	CHECK(strstr(res.report, "the device did not do this") != NULL);
	rp_list_free(&l2);
	unload(&t.l, &t.h);
}

static void test_divergence_world_and_checkpoint(void)
{
	struct tamper t;
	struct rp_sig sig;
	size_t i;

	tamper_load(&t);
	/* a backend request at another offset */
	for (i = 0; i < t.l.n; i++)
		if (t.l.ev[i].type == TEV_WORLD && (t.l.ev[i].kind & 0xff) == WIN_IO)
			break;
	CHECK(i < t.l.n);
	t.l.ev[i].addr += 512;
	CHECK_EQ(replay_list(&t.h, &t.l, NULL, &quiet, &sig), 1);
	CHECK_EQ(sig.kind, RP_DIV_WORLD);
	CHECK_EQ(res.first_divergence, i);
	CHECK(strstr(res.report, "asked its backend") != NULL);
	t.l.ev[i].addr -= 512;
	/* entropy of another length */
	for (i = 0; i < t.l.n; i++)
		if (t.l.ev[i].type == TEV_WORLD && t.l.ev[i].kind == WIN_ENTROPY)
			break;
	CHECK(i < t.l.n);
	t.l.ev[i].size++;
	CHECK_EQ(replay_list(&t.h, &t.l, NULL, &quiet, &sig), 1);
	CHECK_EQ(sig.kind, RP_DIV_WORLD);
	CHECK(strstr(res.report, "bytes of entropy") != NULL);
	t.l.ev[i].size--;
	/* a clock of the other kind */
	for (i = 0; i < t.l.n; i++)
		if (t.l.ev[i].type == TEV_WORLD && t.l.ev[i].kind == WIN_CLOCK)
			break;
	CHECK(i < t.l.n);
	t.l.ev[i].addr ^= 1;
	CHECK_EQ(replay_list(&t.h, &t.l, NULL, &quiet, &sig), 1);
	CHECK_EQ(sig.kind, RP_DIV_WORLD);
	CHECK(strstr(res.report, "clock") != NULL);
	t.l.ev[i].addr ^= 1;
	/* a checkpoint hash */
	i = find(&t.l, TEV_CHECKPOINT, 0, 3);
	CHECK(i != SIZE_MAX);
	t.l.ev[i].value++;
	CHECK_EQ(replay_list(&t.h, &t.l, NULL, &quiet, &sig), 1);
	CHECK_EQ(sig.kind, RP_DIV_CHECKPOINT);
	CHECK_EQ(res.first_divergence, i);
	CHECK(strstr(res.report, "state hash") != NULL);
	t.l.ev[i].dev = 99;
	CHECK_EQ(replay_list(&t.h, &t.l, NULL, &quiet, &sig), 1);
	CHECK(strstr(res.report, "has no device 99") != NULL);
	unload(&t.l, &t.h);
}

static void test_continue_counts(void)
{
	struct tamper t;
	struct rp_sig sig;
	size_t a, b, c;
	uint64_t stopped;

	tamper_load(&t);
	a = find(&t.l, TEV_MMIO_READ, 0, 3);
	b = find(&t.l, TEV_PCI_CFG_READ, 0, 40);
	c = find(&t.l, TEV_PIO_READ, 0, 30);
	CHECK(a != SIZE_MAX && b != SIZE_MAX && c != SIZE_MAX);
	t.l.ev[a].value ^= 2;
	t.l.ev[b].value ^= 2;
	t.l.ev[c].value ^= 2;
	CHECK_EQ(replay_list(&t.h, &t.l, NULL, &quiet, &sig), 1);
	CHECK_EQ(res.divergences, 1);
	stopped = res.events;
	CHECK(stopped < t.l.n);
	CHECK_EQ(replay_list(&t.h, &t.l, NULL, &quiet_all, &sig), 1);
	CHECK_EQ(res.divergences, 3);
	CHECK_EQ(res.events, t.l.n);
	CHECK_EQ(res.first_divergence, RS_MIN(a, RS_MIN(b, c)));
	unload(&t.l, &t.h);
}

/* Events before any access, a world input outside any group. */
static void test_stray_events(void)
{
	struct tamper t;
	struct rp_list l2 = { 0 };
	struct trace_event irq = { .type = TEV_IRQ, .addr = 5, .value = 1 };
	struct rp_sig sig;

	tamper_load(&t);
	CHECK_EQ(rp_list_add(&l2, &irq), 0);
	CHECK_EQ(rp_list_add(&l2, &irq), 0);
	for (size_t k = 0; k < t.l.n; k++)
		CHECK_EQ(rp_list_add(&l2, &t.l.ev[k]), 0);
	CHECK_EQ(replay_list(&t.h, &l2, NULL, &quiet, &sig), 1);
	CHECK_EQ(sig.kind, RP_DIV_STRAY);
	CHECK_EQ(res.first_divergence, 0);
	CHECK_EQ(replay_list(&t.h, &l2, NULL, &quiet_all, &sig), 1);
	CHECK_EQ(res.divergences, 2);
	CHECK_EQ(res.events, l2.n);
	rp_list_free(&l2);
	unload(&t.l, &t.h);
}

/* ---- damaged and hostile traces ------------------------------------------------------- */

static void write_file(const char *path, const void *buf, size_t len)
{
	FILE *f = fopen(path, "wb");

	CHECK(f != NULL);
	if (!f)
		return;
	CHECK_EQ(fwrite(buf, 1, len, f), len);
	fclose(f);
}

static size_t read_file(const char *path, uint8_t *buf, size_t cap)
{
	FILE *f = fopen(path, "rb");
	size_t n;

	if (!f)
		return 0;
	n = fread(buf, 1, cap, f);
	fclose(f);
	return n;
}

static void test_damaged_traces(void)
{
	static uint8_t buf[1 << 20], bad[1 << 20];
	const char *path = tmp("base.trace"), *out = tmp("damaged.trace");
	size_t n = read_file(path, buf, sizeof buf);

	CHECK(n > 200);
	/* missing file, empty file, garbage */
	CHECK_EQ(replay_file(tmp("nope.trace"), &quiet, &res), -1);
	CHECK_EQ(res.err.code, TRACE_E_IO);
	write_file(out, "", 0);
	CHECK_EQ(replay_file(out, &quiet, &res), -1);
	CHECK(res.err.code != TRACE_OK);
	write_file(out, "this is not a trace at all, really not", 38);
	CHECK_EQ(replay_file(out, &quiet, &res), -1);
	CHECK_EQ(res.err.code, TRACE_E_MAGIC);
	/* truncated in the middle of the events */
	write_file(out, buf, n * 2 / 3);
	CHECK_EQ(replay_file(out, &quiet, &res), -1);
	CHECK(res.err.code == TRACE_E_TRUNCATED || res.err.code == TRACE_E_FRAME ||
	      res.err.code == TRACE_E_CHECKSUM);
	CHECK(res.err.msg[0] != '\0');
	/* a flipped bit in the compressed frame */
	memcpy(bad, buf, n);
	bad[n / 2] ^= 0x10;
	write_file(out, bad, n);
	CHECK_EQ(replay_file(out, &quiet, &res), -1);
	CHECK(res.err.code != TRACE_OK);
	CHECK_EQ(res.divergences, 0);
	CHECK_EQ(replay_mem(bad, n, &quiet, &res), -1);
	CHECK_EQ(replay_mem(bad, 10, &quiet, &res), -1);
}

static void test_hostile_headers(void)
{
	struct tamper t;
	struct trace_header h;
	uint8_t blob[256];
	struct rp_sig sig;

	tamper_load(&t);
	h = t.h;
	/* a spec the builder refuses */
	snprintf(h.machine_spec, sizeof h.machine_spec, "mem=16M pci:nosuchdevice");
	CHECK_EQ(replay_list(&h, &t.l, NULL, &quiet, &sig), -1);
	CHECK_EQ(res.err.code, TRACE_E_HEADER);
	CHECK(strstr(res.err.msg, "nosuchdevice") != NULL);
	/* a world blob that is not one */
	h = t.h;
	memset(blob, 0x41, sizeof blob);
	h.world = blob;
	h.world_len = sizeof blob;
	CHECK_EQ(replay_list(&h, &t.l, NULL, &quiet, &sig), -1);
	CHECK_EQ(res.err.code, TRACE_E_HEADER);
	/* no blob at all: blk's size comes from its memory image */
	h = t.h;
	h.world = NULL;
	h.world_len = 0;
	CHECK_EQ(replay_list(&h, &t.l, NULL, &quiet, &sig), 0);
	/* a blob that disagrees with the machine: blk sized from a failed request */
	h = t.h;
	CHECK(h.world_len >= REC_WB_HDR + REC_WB_ENTRY);
	CHECK(h.world_len + REC_WB_ENTRY <= sizeof blob);
	memcpy(blob, h.world, h.world_len);
	h.world = blob;
	rs_st64(blob + REC_WB_HDR + 16, 12345); /* length asked for */
	CHECK_EQ(replay_list(&h, &t.l, NULL, &quiet, &sig), -1);
	CHECK_EQ(res.err.code, TRACE_E_HEADER);
	CHECK(strstr(res.err.msg, "cannot size") != NULL);
	/* and one with an input the machine never asked for */
	memcpy(blob, t.h.world, t.h.world_len);
	memset(blob + t.h.world_len, 0, REC_WB_ENTRY);
	blob[t.h.world_len] = WIN_CLOCK;
	rs_st32(blob + 8, rs_le32(blob + 8) + 1);
	h.world_len = t.h.world_len + REC_WB_ENTRY;
	CHECK_EQ(replay_list(&h, &t.l, NULL, &quiet, &sig), 1);
	CHECK_EQ(sig.kind, RP_DIV_BUILD);
	CHECK(strstr(res.report, "machine creation") != NULL);
	CHECK(strstr(res.report, "did not ask for") != NULL);
	unload(&t.l, &t.h);
}

static void test_world_blob_parser(void)
{
	struct rec_wb_entry e[4];
	uint8_t b[128];
	const char *why = NULL;

	CHECK_EQ(rec_wb_parse(NULL, 0, e, 4, &why), 0);
	CHECK_EQ(rec_wb_parse(b, 5, e, 4, &why), -1);
	memcpy(b, "RSWI\2\0\0\0\0\0\0\0", 12);
	CHECK_EQ(rec_wb_parse(b, 12, e, 4, &why), -1);
	CHECK(strstr(why, "version") != NULL);
	memcpy(b, "RSWI\1\0\0\0\5\0\0\0", 12);
	CHECK_EQ(rec_wb_parse(b, 12, e, 4, &why), -1);
	CHECK(strstr(why, "too many") != NULL);
	memcpy(b, "RSWI\1\0\0\0\1\0\0\0", 12);
	CHECK_EQ(rec_wb_parse(b, 20, e, 4, &why), -1);
	CHECK(strstr(why, "cut short") != NULL);
	memset(b + 12, 0, REC_WB_ENTRY);
	b[12] = 9;
	CHECK_EQ(rec_wb_parse(b, 12 + REC_WB_ENTRY, e, 4, &why), -1);
	CHECK(strstr(why, "kind") != NULL);
	b[12] = WIN_IO;
	rs_st32(b + 12 + 32, 100);
	CHECK_EQ(rec_wb_parse(b, 12 + REC_WB_ENTRY, e, 4, &why), -1);
	CHECK(strstr(why, "past the end") != NULL);
	rs_st32(b + 12 + 32, 2);
	CHECK_EQ(rec_wb_parse(b, 12 + REC_WB_ENTRY + 3, e, 4, &why), -1);
	CHECK(strstr(why, "after the last") != NULL);
	CHECK_EQ(rec_wb_parse(b, 12 + REC_WB_ENTRY + 2, e, 4, &why), 1);
	CHECK_EQ(e[0].input, WIN_IO);
	CHECK_EQ(e[0].data_len, 2);
}


/* ---- the replay world and source, piece by piece -------------------------------------- */

/* A backend whose size and reads the creation-phase tests control. */
static int64_t fake_io(struct world_backend *b, struct world_io *req)
{
	if (req->op == WIO_SIZE)
		return 1 << 20;
	if (req->op == WIO_READ) {
		memset(req->buf, 0x5a, req->len);
		return (int64_t)req->len;
	}
	return (int64_t)req->len;
}

static const struct world_backend_ops fake_ops = { .name = "fake", .io = fake_io };

static void test_world_creation_phase(void)
{
	struct rec_wb_entry e[4] = {
		{ .input = WIN_ENTROPY, .dev = 1, .len = 4, .value = 0, .data_len = 4,
		  .data = (const uint8_t *)"abcd" },
		{ .input = WIN_CLOCK, .sub = WORLD_CLOCK_MONOTONIC, .value = 777 },
		{ .input = WIN_IO, .sub = WIO_READ, .dev = 2, .off = 512, .len = 3, .value = 3,
		  .data_len = 3, .data = (const uint8_t *)"xyz" },
		{ .input = WIN_ENTROPY, .dev = 1, .len = 2, .value = (uint64_t)-EIO },
	};
	struct world_backend be = { .ops = &fake_ops };
	struct world *w = rp_world_new(e, 4);
	uint8_t buf[8] = { 0 };
	struct world_io io = { .op = WIO_READ, .dev = 2, .off = 512, .buf = buf, .len = 3 };
	struct world_event ev;
	char msg[200];

	CHECK_EQ(world_entropy(w, 1, buf, 4), 0);
	CHECK(!memcmp(buf, "abcd", 4));
	CHECK_EQ(world_clock_ns(w, WORLD_CLOCK_MONOTONIC), 777);
	CHECK_EQ(world_io(w, &be, &io), 3);
	CHECK(!memcmp(buf, "xyz", 3));
	CHECK_EQ(world_entropy(w, 1, buf, 2), -EIO);
	/* nothing left: every further input is a mismatch */
	CHECK_EQ(world_entropy(w, 1, buf, 2), 0);
	CHECK_EQ(buf[0], 0);
	CHECK_EQ(world_clock_ns(w, WORLD_CLOCK_REALTIME), 0);
	io.op = WIO_SIZE;
	CHECK_EQ(world_io(w, &be, &io), -EIO);
	CHECK_EQ(world_next_event(w, &ev), 0);
	CHECK_EQ(world_post(w, &(struct world_event){ .kind = WEV_HOST }), 0);
	CHECK_EQ(rp_world_attach(w, NULL, msg, sizeof msg), 3);
	CHECK(strstr(msg, "entropy") != NULL);
	world_destroy(w);
	/* no initial state at all: sizes come from the backend itself */
	w = rp_world_new(NULL, 0);
	CHECK_EQ(world_io(w, &be, &io), 1 << 20);
	be.ops = &(const struct world_backend_ops){ .name = "none" };
	CHECK_EQ(world_io(w, &be, &io), -ENODEV);
	io.op = WIO_WRITE;
	CHECK_EQ(world_io(w, &be, &io), -EIO);
	/* leftovers are reported when the trace phase starts */
	CHECK_EQ(rp_world_attach(w, NULL, msg, sizeof msg), 1);
	world_destroy(w);
	w = rp_world_new(e, 1);
	CHECK_EQ(rp_world_attach(w, NULL, msg, sizeof msg), 1);
	CHECK(strstr(msg, "did not ask for") != NULL);
	world_destroy(w);
}

/* A replay context over a hand-made list, inside a group, without a machine. */
struct unit {
	struct rp p;
	struct rp_list l;
	struct rp_list_cursor c;
	struct world *w;
};

static void unit_start(struct unit *u, const struct trace_event *evs, size_t n)
{
	static const struct replay_opts o = { .quiet = true, .keep_going = true };
	struct trace_event top = { .type = TEV_MMIO_WRITE, .addr = 0x1000, .size = 4 };
	char msg[80];

	memset(u, 0, sizeof(*u));
	memset(&res, 0, sizeof res);
	CHECK_EQ(rp_list_add(&u->l, &top), 0);
	for (size_t i = 0; i < n; i++)
		CHECK_EQ(rp_list_add(&u->l, &evs[i]), 0);
	u->w = rp_world_new(NULL, 0);
	rp_init(&u->p, NULL, u->w, rp_list_events(&u->c, &u->l, NULL), &o, &res);
	CHECK_EQ(rp_world_attach(u->w, &u->p, msg, sizeof msg), 0);
	u->p.in_group = true;
	u->p.group_ev = u->l.ev[0];
	rp_consume(&u->p);
}

static void unit_end(struct unit *u)
{
	rp_fini(&u->p);
	world_destroy(u->w);
	rp_list_free(&u->l);
}

static void test_world_trace_phase(void)
{
	static uint8_t big[TRACE_MAX_DATA * 2 + 16];
	struct trace_event evs[] = {
		{ .type = TEV_WORLD, .kind = rec_wk_io(WIO_READ), .dev = 1, .addr = 0, .size = 1 << 21 | 16,
		  .value = (1 << 21) + 16, .len = TRACE_MAX_DATA, .data = big },
		{ .type = TEV_WORLD, .kind = rec_wk_io(WIO_READ) | REC_WK_CONT, .addr = TRACE_MAX_DATA,
		  .len = TRACE_MAX_DATA, .data = big + 1 },
		{ .type = TEV_WORLD, .kind = rec_wk_io(WIO_READ) | REC_WK_CONT,
		  .addr = 2 * TRACE_MAX_DATA, .len = 16, .data = big + 2 },
		/* a read whose data does not add up */
		{ .type = TEV_WORLD, .kind = rec_wk_io(WIO_READ), .dev = 1, .size = 8, .value = 8,
		  .len = 4, .data = big },
		/* entropy with fewer bytes than asked */
		{ .type = TEV_WORLD, .kind = WIN_ENTROPY, .dev = 1, .size = 8, .len = 4, .data = big },
		/* a clock of the other kind */
		{ .type = TEV_WORLD, .kind = WIN_CLOCK, .addr = WORLD_CLOCK_REALTIME, .value = 5 },
		/* an error result */
		{ .type = TEV_WORLD, .kind = rec_wk_io(WIO_FLUSH), .dev = 1, .value = (uint64_t)-5000 },
	};
	struct world_backend be = { .ops = &fake_ops };
	uint8_t *buf = malloc(sizeof big);
	struct world_io io = { .op = WIO_READ, .dev = 1, .buf = buf, .len = (1 << 21) + 16 };
	struct unit u;

	for (size_t i = 0; i < sizeof big; i++)
		big[i] = (uint8_t)(i * 7);
	unit_start(&u, evs, RS_ARRAY_SIZE(evs));
	CHECK_EQ(world_io(u.w, &be, &io), (1 << 21) + 16);
	CHECK_EQ(buf[0], big[0]);
	CHECK_EQ(buf[TRACE_MAX_DATA], big[1]);
	CHECK_EQ(buf[2 * TRACE_MAX_DATA + 3], big[5]);
	CHECK_EQ(res.divergences, 0);
	io.len = 8;
	CHECK_EQ(world_io(u.w, &be, &io), -EIO);
	CHECK_EQ(res.divergences, 1);
	CHECK(strstr(res.report, "does not carry 8 bytes") != NULL);
	u.p.group_diverged = false;
	CHECK_EQ(world_entropy(u.w, 1, buf, 8), 0);
	CHECK_EQ(res.divergences, 2);
	u.p.group_diverged = false;
	CHECK_EQ(world_clock_ns(u.w, WORLD_CLOCK_MONOTONIC), 5);
	CHECK_EQ(res.divergences, 3);
	io.op = WIO_FLUSH;
	io.len = 0;
	CHECK_EQ(world_io(u.w, &be, &io), -EIO); /* not an errno: -EIO */
	/* the group is over: an extra clock read is an unrecorded output */
	u.p.group_diverged = false;
	CHECK_EQ(world_clock_ns(u.w, WORLD_CLOCK_MONOTONIC), 0);
	CHECK_EQ(res.divergences, 4);
	unit_end(&u);
	free(buf);
}

static void test_source_pieces(void)
{
	static uint8_t big[TRACE_MAX_DATA + 8];
	struct trace_event evs[] = {
		{ .type = TEV_DMA_READ, .addr = 0x10000, .len = TRACE_MAX_DATA, .data = big },
		{ .type = TEV_DMA_READ, .addr = 0x10000 + TRACE_MAX_DATA, .len = 8, .data = big },
		{ .type = TEV_DMA_WRITE, .addr = 0x20000, .len = TRACE_MAX_DATA, .data = big },
		{ .type = TEV_DMA_WRITE, .addr = 0x20000 + TRACE_MAX_DATA, .len = 8, .data = big },
		/* a write recorded elsewhere, then a write the device does not match */
		{ .type = TEV_DMA_WRITE, .addr = 0x30000, .len = 4, .data = big },
		{ .type = TEV_IRQ, .addr = 3, .value = 1 },
	};
	uint8_t *host = calloc(1, sizeof big), *dst = malloc(sizeof big);
	struct unit u;

	for (size_t i = 0; i < sizeof big; i++)
		big[i] = (uint8_t)(i * 13);
	unit_start(&u, evs, RS_ARRAY_SIZE(evs));
	CHECK_EQ(rp_source_ops.read(&u.p, NULL, 0x10000, host, dst, TRACE_MAX_DATA + 8), 0);
	CHECK_EQ(dst[TRACE_MAX_DATA - 1], big[TRACE_MAX_DATA - 1]);
	CHECK_EQ(dst[TRACE_MAX_DATA + 1], big[1]);
	memcpy(dst, big, TRACE_MAX_DATA);
	memcpy(dst + TRACE_MAX_DATA, big, 8);
	CHECK_EQ(rp_source_ops.write(&u.p, NULL, 0x20000, host, dst, TRACE_MAX_DATA + 8), 0);
	CHECK_EQ(res.divergences, 0);
	CHECK_EQ(rp_source_ops.write(&u.p, NULL, 0x30008, host, dst, 4), 0);
	CHECK_EQ(res.divergences, 1);
	CHECK(strstr(res.report, "dma write") != NULL);
	/* next is an irq: a write now is unrecorded */
	u.p.group_diverged = false;
	CHECK_EQ(rp_source_ops.write(&u.p, NULL, 0x40000, host, dst, 4), 0);
	CHECK_EQ(res.divergences, 2);
	unit_end(&u);
	free(host);
	free(dst);
}

/* ---- the stepwise API ----------------------------------------------------------------- */

static void test_stepwise(void)
{
	static uint8_t buf[1 << 20];
	const char *path = tmp("base.trace");
	size_t n = read_file(path, buf, sizeof buf);
	struct replayer *rp;
	struct trace_event ev;
	uint64_t digest, i = 0;
	struct rp_list l = { 0 };
	struct trace_header h;
	int r;

	CHECK_EQ(replay_mem(buf, n, &quiet, &res), 0);
	digest = res.digest;
	load(path, &l, &h);
	rp = replayer_open_mem(buf, n, &quiet, &res);
	CHECK(rp != NULL);
	while (rp && i < l.n) {
		ev = l.ev[i];
		r = replayer_next(rp, i);
		CHECK(r >= 0);
		if (r < 0)
			break;
		CHECK_EQ(r, rec_is_access(ev.type) ? 1 : 0);
		if (r == 1)
			replayer_access_done(rp, rp_perform(replayer_machine(rp), &ev));
		for (i++; i < l.n && !rec_is_top(&l.ev[i]); i++)
			;
	}
	CHECK_EQ(replayer_close(rp), 0);
	CHECK_EQ(res.digest, digest);
	/* out of step, and stopped early */
	rp = replayer_open_mem(buf, n, &quiet, &res);
	CHECK_EQ(replayer_next(rp, 5), -1);
	CHECK_EQ(replayer_next(rp, 0), 1);
	CHECK_EQ(replayer_close(rp), -1);
	CHECK_EQ(res.err.code, TRACE_E_USAGE);
	CHECK(replayer_open_mem(buf, 20, &quiet, &res) == NULL);
	CHECK(res.err.code != TRACE_OK);
	unload(&l, &h);
}

/* ---- the recorder ------------------------------------------------------------------- */

/* Interrupts reach the sink that was installed before the recorder, taps and
 * sinks come back at recorder_free, and odd access sizes are left out. */
static unsigned prev_levels, prev_msis;

static void prev_set_level(void *ctx, unsigned gsi, bool level)
{
	prev_levels++;
}

static void prev_msi(void *ctx, uint64_t addr, uint32_t data)
{
	prev_msis++;
}

static const struct irq_sink_ops prev_sink = { prev_set_level, prev_msi };

static void test_recorder_chains(void)
{
	struct trace_header h;
	struct trace_writer *w;
	struct trace_error err;
	struct machine *m;
	struct recorder *r;
	struct inproc_io c = { 0 };
	struct inproc_result ir = { 0 };
	char e[200];
	const char *path = tmp("chain.trace");

	CHECK_EQ(rec_machine_new("mem=16M pci-modern:echo mmio-legacy:echo", NULL, "test", &m,
				 &h, e, sizeof e), 0);
	CHECK_EQ(h.world_len, 0); /* echo asks the world nothing while built */
	CHECK(strstr(h.build, "ringside") != NULL);
	machine_set_irq_sink(m, &prev_sink, NULL);
	w = trace_writer_open(path, &h, &err);
	CHECK(w != NULL);
	r = recorder_new(m, w);
	CHECK(r != NULL);
	CHECK(recorder_new(NULL, w) == NULL);
	c.m = m;
	c.r = r;
	inproc_workload(m, &c, NULL, &ir);
	CHECK_EQ(ir.failed, 0);
	CHECK(prev_levels > 0);
	CHECK(prev_msis > 0);
	/* sizes the trace cannot hold reach the machine but are not recorded */
	CHECK_EQ(rec_pio_read(r, 0xcf8, 3), 0xffffff);
	rec_pio_write(r, 0xcf8, 3, 0);
	(void)rec_mmio_read(r, MACHINE_VMMIO_BASE, 5);
	rec_mmio_write(r, MACHINE_VMMIO_BASE, 5, 0);
	CHECK_EQ(rec_tick(r, &err), 0);
	CHECK(recorder_free(r) > 0);
	CHECK(m->irq == &prev_sink);
	CHECK(m->gm.tap == NULL);
	CHECK(m->world->tap == NULL);
	CHECK_EQ(recorder_free(NULL), 0);
	CHECK_EQ(trace_writer_close(w, &err), 0);
	rec_header_release(&h);
	rec_header_release(NULL);
	rs_machine_free(m);
	CHECK_EQ(replay_file(path, &quiet, &res), 0);
	/* bad specs */
	CHECK(rec_machine_new("mem=16M pci:nosuch", NULL, "test", &m, &h, e, sizeof e) < 0);
	CHECK(m == NULL);
	CHECK(strstr(e, "nosuch") != NULL);
}

/* rec_tick cuts a frame every 100 ms; a recorder whose writer fails (here:
 * the file size limit) reports the first error from rec_tick. */
static void test_recorder_flush_and_failure(void)
{
	struct trace_header h;
	struct trace_writer *w;
	struct trace_reader *rd;
	struct trace_error err;
	struct trace_info info;
	struct trace_event ev;
	struct machine *m;
	struct recorder *r;
	struct rlimit old, lim;
	const char *path = tmp("flush.trace");
	char e[200];

	CHECK_EQ(rec_machine_new("mem=16M mmio:rng", NULL, "test", &m, &h, e, sizeof e), 0);
	w = trace_writer_open(path, &h, &err);
	r = recorder_new(m, w);
	rec_mmio_write(r, MACHINE_VMMIO_BASE + VIRTIO_MMIO_STATUS, 4, 0);
	CHECK_EQ(rec_tick(r, &err), 0);
	usleep(120 * 1000);
	rec_mmio_write(r, MACHINE_VMMIO_BASE + VIRTIO_MMIO_STATUS, 4, 0);
	CHECK_EQ(rec_tick(r, &err), 0); /* cuts frame 1 */
	{
		/* the frame is in the file while the recording goes on */
		char part[400];

		snprintf(part, sizeof part, "%s.tmp", path);
		rd = trace_reader_open(part, &err);
		CHECK(rd != NULL);
		CHECK_EQ(trace_read(rd, &ev, &err), 1);
		CHECK_EQ(trace_read(rd, &ev, &err), 1);
		trace_reader_close(rd);
	}
	CHECK_EQ(recorder_free(r), 2);
	CHECK_EQ(trace_writer_close(w, &err), 0);
	rd = trace_reader_open(path, &err);
	CHECK(rd != NULL);
	while (rd && trace_read(rd, &ev, &err) == 1)
		;
	trace_reader_info(rd, &info);
	CHECK_EQ(info.frames, 1);
	CHECK_EQ(info.events, 2);
	trace_reader_close(rd);

	w = trace_writer_open(path, &h, &err);
	r = recorder_new(m, w);
	signal(SIGXFSZ, SIG_IGN);
	CHECK_EQ(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = 4096;
	CHECK_EQ(setrlimit(RLIMIT_FSIZE, &lim), 0);
	{
		/* entropy does not compress: its frames pass the limit */
		struct inproc_io c = { .m = m, .r = r };
		struct inproc_opts o = { .requests = 400 };
		struct inproc_result ir = { 0 };

		for (unsigned k = 0; k < 4; k++)
			inproc_workload(m, &c, &o, &ir);
	}
	usleep(120 * 1000);
	CHECK_EQ(rec_tick(r, &err), -1);
	CHECK(err.code != TRACE_OK);
	CHECK(err.msg[0] != '\0');
	CHECK_EQ(setrlimit(RLIMIT_FSIZE, &old), 0);
	CHECK(recorder_free(r) > 0);
	trace_writer_abort(w);
	rec_header_release(&h);
	rs_machine_free(m);
}


/* A register whose read makes the "device" read and write guest memory and
 * ask for entropy: what a read causes is buffered, data included. */
static uint64_t odd_read(void *ctx, uint64_t off, unsigned size)
{
	struct machine *m = ctx;
	uint8_t b[64];

	(void)gm_read(&m->gm, 0x2000, b, sizeof b);
	(void)gm_write(&m->gm, 0x3000, "written by a read", 17);
	(void)world_entropy(m->world, 0, b, 8);
	return 0x1234;
}

static const struct io_ops odd_ops = { .read = odd_read };

static unsigned chained_gm, chained_world;

static void chain_gm(void *ctx, enum gm_access dir, uint64_t gpa, const void *data, size_t len)
{
	chained_gm++;
}

static void chain_world(void *ctx, enum world_input kind, const struct world_event *ev,
			const struct world_io *io, int64_t value, const void *data, size_t len)
{
	chained_world++;
}

/* 3 MiB and a bit through the world in one read. */
static int64_t huge_io(struct world_backend *b, struct world_io *req)
{
	memset(req->buf, 0x77, req->len);
	return (int64_t)req->len;
}

static const struct world_backend_ops huge_ops = { .name = "huge", .io = huge_io };

static void test_recorder_buffers_and_pieces(void)
{
	const size_t big = 3 * TRACE_MAX_DATA + 100;
	struct trace_header h;
	struct trace_writer *w;
	struct trace_reader *rd;
	struct trace_error err;
	struct trace_event ev;
	struct machine *m;
	struct recorder *r;
	struct world_backend be = { .ops = &huge_ops };
	uint8_t *buf = malloc(big);
	struct world_io io = { .op = WIO_READ, .dev = 0, .off = 4096, .buf = buf, .len = big };
	const char *path = tmp("pieces.trace");
	unsigned n = 0, dma = 0, world = 0, cont = 0;
	char e[200];

	CHECK_EQ(rec_machine_new("mem=16M mmio:rng", NULL, "test", &m, &h, e, sizeof e), 0);
	CHECK_EQ(machine_map_mmio(m, MACHINE_VMMIO_BASE + 0x8000, 0x1000, &odd_ops, m, "odd"), 0);
	gm_set_tap(&m->gm, chain_gm, NULL);
	world_set_tap(m->world, chain_world, NULL);
	w = trace_writer_open(path, &h, &err);
	r = recorder_new(m, w);
	CHECK_EQ(rec_mmio_read(r, MACHINE_VMMIO_BASE + 0x8000, 4), 0x1234);
	CHECK_EQ(chained_gm, 2);
	CHECK_EQ(chained_world, 1);
	/* a device transfer and a backend read longer than one event holds */
	CHECK_EQ(gm_read(&m->gm, 0x100000, buf, big), 0);
	CHECK_EQ(world_io(m->world, &be, &io), (int64_t)big);
	recorder_free(r);
	CHECK(m->gm.tap == chain_gm);
	CHECK(m->world->tap == chain_world);
	CHECK_EQ(trace_writer_close(w, &err), 0);
	rd = trace_reader_open(path, &err);
	CHECK(rd != NULL);
	while (rd && trace_read(rd, &ev, &err) == 1) {
		if (n == 0) {
			CHECK_EQ(ev.type, TEV_MMIO_READ);
			CHECK_EQ(ev.value, 0x1234);
		}
		if (n == 2) {
			CHECK_EQ(ev.type, TEV_DMA_WRITE);
			CHECK_EQ(ev.len, 17);
			CHECK(!memcmp(ev.data, "written by a read", 17));
		}
		if (ev.type == TEV_DMA_READ && ev.len == TRACE_MAX_DATA)
			CHECK_EQ(ev.addr, 0x100000 + (uint64_t)TRACE_MAX_DATA * dma++);
		if (ev.type == TEV_WORLD && (ev.kind & 0xff) == WIN_IO) {
			if (ev.kind & REC_WK_CONT) {
				cont++;
				CHECK_EQ(ev.addr, 4096 + (uint64_t)TRACE_MAX_DATA * cont);
			} else {
				world++;
				CHECK_EQ(ev.value, big);
			}
		}
		n++;
	}
	CHECK_EQ(dma, 3);
	CHECK_EQ(world, 1);
	CHECK_EQ(cont, 3);
	trace_reader_close(rd);
	rec_header_release(&h);
	rs_machine_free(m);
	free(buf);
}

/* Progress goes to stderr when it is a terminal. */
static void test_progress_on_a_terminal(void)
{
	const char *path = tmp("long.trace");
	struct inproc_opts o = { .requests = 48 };
	struct inproc_result ir;
	int master, slave, saved;
	char err[300], out[4096];
	ssize_t n;

	CHECK_EQ(inproc_run(&o, path, &ir, err, sizeof err), 0);
	master = posix_openpt(O_RDWR | O_NOCTTY);
	if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0) {
		printf("no pty: progress not tested\n");
		return;
	}
	slave = open(ptsname(master), O_RDWR | O_NOCTTY);
	CHECK(slave >= 0);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	dup2(slave, STDERR_FILENO);
	CHECK_EQ(replay_file(path, &(struct replay_opts){ .context = 4 }, &res), 0);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	fcntl(master, F_SETFL, O_NONBLOCK);
	n = read(master, out, sizeof out - 1);
	out[n > 0 ? n : 0] = '\0';
	CHECK(strstr(out, "replay [") != NULL);
	CHECK(strstr(out, "events") != NULL);
	close(slave);
	close(master);
}

/* Damage in the middle of a group: the events before it replay, nothing
 * after it is compared, no divergence is claimed. */
static void test_damage_inside_a_group(void)
{
	static uint8_t buf[4 << 20];
	const char *path = tmp("long.trace"), *out = tmp("long-damaged.trace");
	FILE *f = fopen(path, "rb");
	size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
	uint64_t second = 0, at;

	if (f)
		fclose(f);
	CHECK(n > 0);
	/* the second frame header: after the header and the first frame */
	at = rs_le32(buf + 12);
	CHECK(!memcmp(buf + at, "RSFR", 4));
	second = at + 32 + rs_le32(buf + at + 4);
	CHECK(second + 64 < n);
	CHECK(!memcmp(buf + second, "RSFR", 4));
	buf[second + 40] ^= 0xff;
	write_file(out, buf, n);
	CHECK_EQ(replay_file(out, &quiet_all, &res), -1);
	CHECK_EQ(res.divergences, 0);
	CHECK(res.err.code == TRACE_E_CHECKSUM || res.err.code == TRACE_E_FRAME);
	CHECK(res.events >= TRACE_FRAME_EVENTS - 64);
}

/* The trace ends while the device still has things to do; a host event of
 * a kind that does not exist reaches no device. */
static void test_trace_ends_early(void)
{
	struct tamper t;
	struct rp_sig sig;
	bool *keep;
	size_t i, w;

	tamper_load(&t);
	keep = malloc(t.l.n);
	memset(keep, 1, t.l.n);
	/* cut right after the first DMA read of some notify */
	i = find(&t.l, TEV_DMA_READ, 0, 5);
	for (size_t k = i + 1; k < t.l.n; k++)
		keep[k] = false;
	CHECK_EQ(replay_list(&t.h, &t.l, keep, &quiet, &sig), 1);
	CHECK_EQ(sig.kind, RP_DIV_EXTRA);
	CHECK(strstr(res.report, "end of the trace") != NULL);
	/* a host event of kind 99 */
	for (w = 0; w < t.l.n; w++)
		if (t.l.ev[w].type == TEV_WORLD && t.l.ev[w].kind == WIN_EVENT)
			break;
	CHECK(w < t.l.n);
	t.l.ev[w].addr = 99;
	CHECK_EQ(replay_list(&t.h, &t.l, NULL, &quiet, &sig), 1);
	CHECK_EQ(sig.kind, RP_DIV_MISSING);
	CHECK_EQ(res.first_divergence, w + 1);
	free(keep);
	unload(&t.l, &t.h);
}

/* A caller of the stepwise API that forgets replayer_access_done. */
static void test_stepwise_unfinished(void)
{
	static uint8_t buf[1 << 20];
	size_t n = read_file(tmp("base.trace"), buf, sizeof buf);
	struct replayer *rp = replayer_open_mem(buf, n, &quiet_all, &res);

	CHECK(rp != NULL);
	CHECK_EQ(replayer_next(rp, 0), 1);
	CHECK_EQ(replayer_next(rp, 1), 1); /* the first counts as done (a write) */
	replayer_access_done(rp, 0);
	replayer_access_done(rp, 0); /* nothing open: ignored */
	CHECK_EQ(replayer_close(rp), 1); /* stopped early: the reads were not done */
	CHECK_EQ(replayer_close(NULL), -1);
}

/* Sessions that fail are reported, not fatal; the run's own failures are. */
static void test_inproc_failures(void)
{
	struct inproc_opts o = { .spec = "mem=16M pci-modern:blk,size=1M,ro", .requests = 2 };
	struct inproc_result ir;
	char err[300];

	CHECK_EQ(inproc_run(&o, tmp("ro.trace"), &ir, err, sizeof err), 0);
	CHECK_EQ(ir.failed, 1);
	CHECK(strstr(ir.failure, "blk write 0") != NULL);
	CHECK(strstr(ir.failure, "pci modern") != NULL);
	CHECK_EQ(replay_file(tmp("ro.trace"), &quiet, &res), 0);
	/* a net without a backend sends nowhere; a SCSI target without a disk */
	o.spec = "mem=16M mmio:net,backend=none pci-modern:scsi,cd0=empty";
	CHECK_EQ(inproc_run(&o, tmp("fail2.trace"), &ir, err, sizeof err), 0);
	CHECK_EQ(ir.failed, 2);
	CHECK(strstr(ir.failure, "net: frame 0 did not come back") != NULL);
	CHECK_EQ(replay_file(tmp("fail2.trace"), &quiet, &res), 0);
	o.spec = "mem=16M pci:nosuch";
	CHECK(inproc_run(&o, tmp("x.trace"), &ir, err, sizeof err) < 0);
	CHECK(strstr(err, "nosuch") != NULL);
	o.no_record = true;
	CHECK(inproc_run(&o, NULL, &ir, err, sizeof err) < 0);
	o.spec = "mem=16M mmio:rng";
	CHECK_EQ(inproc_run(&o, NULL, &ir, err, sizeof err), 0);
	CHECK_EQ(ir.events, 0);
	CHECK(ir.accesses > 10);
	o.no_record = false;
	CHECK(inproc_run(&o, "/nonexistent-dir/x.trace", &ir, err, sizeof err) < 0);
	CHECK(err[0] != '\0');
	CHECK_EQ(inproc_run(NULL, tmp("dflt.trace"), &ir, err, sizeof err), 0);
	CHECK_EQ(ir.failed, 0);
}

int main(void)
{
	if (!scratch_open("rs_replay"))
		return 1;
	RUN(test_round_trip_every_device);
	RUN(test_round_trip_each_transport);
	RUN(test_replay_touches_no_host_resource);
	RUN(test_divergence_read_value);
	RUN(test_divergence_dma_write_bytes);
	RUN(test_divergence_dma_read_bytes);
	RUN(test_divergence_dma_read_place);
	RUN(test_divergence_dropped_interrupt);
	RUN(test_divergence_missing);
	RUN(test_divergence_world_and_checkpoint);
	RUN(test_continue_counts);
	RUN(test_stray_events);
	RUN(test_damaged_traces);
	RUN(test_hostile_headers);
	RUN(test_world_blob_parser);
	RUN(test_world_creation_phase);
	RUN(test_world_trace_phase);
	RUN(test_source_pieces);
	RUN(test_stepwise);
	RUN(test_recorder_chains);
	RUN(test_recorder_flush_and_failure);
	RUN(test_recorder_buffers_and_pieces);
	RUN(test_progress_on_a_terminal);
	RUN(test_damage_inside_a_group);
	RUN(test_trace_ends_early);
	RUN(test_stepwise_unfinished);
	RUN(test_inproc_failures);
	scratch_close();
	return check_done();
}
