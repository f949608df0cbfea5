/*
 * ringside — seed corpus and dictionary generator (bin/fuzz_corpus_gen).
 *
 *   fuzz_corpus_gen [--strict] CORPUS_DIR DICT_DIR TARGET...
 *
 * TARGET is NAME:device:DEVICE:TRANSPORT, NAME:ring or NAME:machine (the
 * build passes every target it builds). For each target it writes
 * CORPUS_DIR/NAME/<seed> (the seed sessions of seeds.c as op streams, run
 * through the real target first) and DICT_DIR/NAME.dict (libFuzzer/AFL
 * dictionary: op records, register offsets and magic values of the
 * transport, the device's own tokens). A seed whose run does not use
 * exactly the ops and data it was written with is reported; with --strict
 * that is an error (exit 1). Nothing here is typed by hand: rerun it when a
 * device or a seed session changes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

struct gen {
	const char *corpus_dir;
	const char *target_name;
	struct fuzz_harness *h;
	const char *prefix;      /* file name prefix (machine target) */
	unsigned written, mismatched;
	bool strict;
};

static int mkdir_p(const char *path)
{
	char tmp[1024];

	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* Builder output: run the seed, check it used what it was built with,
 * write it. */
static void emit(void *ctx, const char *name, const uint8_t *buf, size_t len)
{
	struct gen *g = ctx;
	char path[1024];
	unsigned nops = 0;
	uint64_t taken = 0, zeros = 0;
	size_t ops_bytes;
	FILE *f;

	(void)fuzz_harness_run(g->h, buf, len);
	fuzz_harness_stats(g->h, &nops, &taken, &zeros);
	/* the builder wrote whole records and exactly the data they take */
	ops_bytes = len - (g->prefix[0] ? 1 : 0) - (size_t)taken;
	if (zeros || ops_bytes != (size_t)nops * FUZZ_OP_SIZE) {
		fprintf(stderr,
			"fuzz_corpus_gen: %s/%s%s: ran %u ops and took %llu data bytes "
			"(%llu more as zeroes); the seed was written for %zu ops\n",
			g->target_name, g->prefix, name, nops, (unsigned long long)taken,
			(unsigned long long)zeros, ops_bytes / FUZZ_OP_SIZE);
		g->mismatched++;
	}
	snprintf(path, sizeof(path), "%s/%s/%s%s", g->corpus_dir, g->target_name, g->prefix, name);
	f = fopen(path, "wb");
	if (!f || fwrite(buf, 1, len, f) != len) {
		fprintf(stderr, "fuzz_corpus_gen: cannot write %s\n", path);
		if (f)
			fclose(f);
		exit(1);
	}
	fclose(f);
	g->written++;
}

/* ---- ring target seeds -------------------------------------------------------------- */

static void ring_seeds(struct fuzz_builder *b)
{
	static const char msg[] = "ring seed payload, sixty-four bytes long, more or less.......";
	const uint64_t lens = 32 | 48ull << 16;
	const uint64_t feat = VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX) |
			      VIRTIO_BIT(VIRTIO_F_VERSION_1);

	for (unsigned packed = 0; packed < 2; packed++) {
		/* driver-managed ring: submit, pop, push, collect */
		fb_op(b, FOP_RING_SETUP, 0, (uint8_t)(2 | packed), 0, 16, 0, feat);
		fb_op(b, FOP_SUBMIT, 0, FUZZ_SUB_FILL, 1 | 1 << 4, 0, 0, lens);
		fb_data(b, msg, 32);
		fb_op(b, FOP_SUBMIT, 0, FUZZ_SUB_FILL | FUZZ_SUB_INDIRECT, 1 | 2 << 4, 0, 0, lens);
		fb_data(b, msg + 8, 32);
		fb_op(b, FOP_POP, 0, 1, 0, 48, 0, 0x5a);
		fb_op(b, FOP_PUSH, 0, 0, 0, 0, 0, 0);
		fb_op(b, FOP_NOTIFY_CHECK, 0, 0, 0, 0, 0, 0);
		fb_op(b, FOP_PUSH, 0, 0, 1, 0, 0, 7);
		fb_op(b, FOP_SET_NOTIFY, 0, 1, 0, 0, 0, 0);
		fb_op(b, FOP_COLLECT, 0, 0, 0, 0, 0, 0);
		fb_emit(b, packed ? "packed-roundtrip" : "split-roundtrip");

		/* in order: several chains completed with one used entry */
		fb_op(b, FOP_RING_SETUP, 0, (uint8_t)(2 | packed), 0, 8, 0,
		      feat | VIRTIO_BIT(VIRTIO_F_IN_ORDER));
		for (unsigned i = 0; i < 4; i++) {
			fb_op(b, FOP_SUBMIT, 0, FUZZ_SUB_FILL, 1 | 1 << 4, 0, 0, lens);
			fb_data(b, msg + i, 32);
		}
		fb_op(b, FOP_POP, 0, 3, 0, 48, 0, 0x11);
		fb_op(b, FOP_PUSH_N, 0, 3, 0, 0, 0, 0);
		fb_op(b, FOP_SET_INTERRUPTS, 0, 0, 0, 0, 0, 0);
		fb_op(b, FOP_COLLECT, 0, 0, 0, 0, 0, 0);
		fb_emit(b, packed ? "packed-in-order" : "split-in-order");
	}

	/* raw ring: nothing written, every ring byte the engine reads is taken
	 * from the input: avail idx 1, ring[0] = 0, descriptor 0 = 16 bytes at
	 * 0x200000, readable */
	{
		uint8_t avail_idx[2] = { 1, 0 }, ring0[2] = { 0, 0 }, desc[16] = { 0 };

		rs_st64(desc, 0x200000);
		rs_st32(desc + 8, 16);
		fb_op(b, FOP_RING_SETUP, 0, 0, 0, 8, 0, feat);
		fb_op(b, FOP_POP, 0, 0, 0, 0, 0, 0);
		/* the engine reads avail->idx, then ring[0], then the descriptor,
		 * then the buffer: taken in that order */
		fb_data(b, avail_idx, 2);
		fb_data(b, ring0, 2);
		fb_data(b, desc, 16);
		fb_data(b, msg, 16);
		fb_op(b, FOP_PUSH, 0, 0, 0, 0, 0, 0);
		fb_emit(b, "split-lazy");
	}
}

/* ---- dictionaries ------------------------------------------------------------------- */

static void dict_bytes(FILE *f, const char *name, const uint8_t *b, size_t n)
{
	fprintf(f, "%s=\"", name);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "\\x%02x", b[i]);
	fprintf(f, "\"\n");
}

static void dict_le(FILE *f, const char *name, uint64_t v, unsigned n)
{
	uint8_t b[8];

	rs_stn(b, n, v);
	dict_bytes(f, name, b, n);
}

/* One whole op record per opcode of the set, with typical fields. */
static void dict_records(FILE *f, const struct fuzz_opset *set)
{
	for (unsigned i = 0; i < set->n; i++) {
		uint8_t rec[FUZZ_OP_SIZE];
		char name[48];
		uint64_t val = 0;
		uint16_t p2 = 0;
		uint8_t p1 = 2;

		switch (set->ops[i]) {
		case FOP_DRIVER_INIT:
			val = VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC) |
			      VIRTIO_BIT(VIRTIO_F_EVENT_IDX) | 0xffffff;
			p2 = 64;
			p1 = 0;
			break;
		case FOP_SUBMIT:
			val = 16 | 16ull << 16;
			p1 = 1 | 1 << 4;
			break;
		case FOP_RING_SETUP:
			val = VIRTIO_BIT(VIRTIO_F_VERSION_1);
			p2 = 16;
			break;
		default:
			break;
		}
		fuzz_op_encode(rec, i, 0, set->ops[i] == FOP_RING_SETUP ? 2 : 0, p1, p2, 0, val);
		snprintf(name, sizeof(name), "op_%s", fuzz_op_name(set->ops[i]));
		for (char *p = name; *p; p++)
			*p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
		dict_bytes(f, name, rec, sizeof(rec));
	}
}

static void dict_common(FILE *f)
{
	static const struct {
		const char *name;
		uint64_t v;
		unsigned n;
	} vals[] = {
		{ "status_ack", VIRTIO_STATUS_ACKNOWLEDGE, 1 },
		{ "status_driver", VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER, 1 },
		{ "status_features_ok", 0x0b, 1 },
		{ "status_driver_ok", 0x0f, 1 },
		{ "status_needs_reset", VIRTIO_STATUS_NEEDS_RESET, 1 },
		{ "status_failed", VIRTIO_STATUS_FAILED, 1 },
		{ "f_version_1", VIRTIO_BIT(VIRTIO_F_VERSION_1), 8 },
		{ "f_packed", VIRTIO_BIT(VIRTIO_F_RING_PACKED) | VIRTIO_BIT(VIRTIO_F_VERSION_1), 8 },
		{ "f_in_order", VIRTIO_BIT(VIRTIO_F_IN_ORDER), 8 },
		{ "f_indirect", VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC), 8 },
		{ "f_event_idx", VIRTIO_BIT(VIRTIO_F_EVENT_IDX), 8 },
		{ "f_notification_data", VIRTIO_BIT(VIRTIO_F_NOTIFICATION_DATA), 8 },
		{ "f_ring_reset", VIRTIO_BIT(VIRTIO_F_RING_RESET), 8 },
		{ "desc_next", VIRTQ_DESC_F_NEXT, 2 },
		{ "desc_write", VIRTQ_DESC_F_WRITE, 2 },
		{ "desc_indirect", VIRTQ_DESC_F_INDIRECT, 2 },
		{ "desc_avail", VIRTQ_DESC_F_AVAIL, 2 },
		{ "desc_used", VIRTQ_DESC_F_USED, 2 },
		{ "desc_avail_used", VIRTQ_DESC_F_AVAIL | VIRTQ_DESC_F_USED, 2 },
		{ "no_vector", VIRTIO_MSI_NO_VECTOR, 2 },
		{ "qsize_256", 256, 2 },
		{ "qsize_32768", 32768, 2 },
		{ "u16_max", 0xffff, 2 },
		{ "u32_max", 0xffffffffu, 4 },
		{ "u64_max", ~0ull, 8 },
	};

	for (unsigned i = 0; i < RS_ARRAY_SIZE(vals); i++)
		dict_le(f, vals[i].name, vals[i].v, vals[i].n);
}

static void dict_transport(FILE *f, const char *tr)
{
	if (!tr)
		return;
	if (strncmp(tr, "mmio", 4) == 0) {
		static const uint16_t regs[] = {
			VIRTIO_MMIO_MAGIC_VALUE, VIRTIO_MMIO_VERSION, VIRTIO_MMIO_DEVICE_ID,
			VIRTIO_MMIO_DEVICE_FEATURES, VIRTIO_MMIO_DEVICE_FEATURES_SEL,
			VIRTIO_MMIO_DRIVER_FEATURES, VIRTIO_MMIO_DRIVER_FEATURES_SEL,
			VIRTIO_MMIO_GUEST_PAGE_SIZE, VIRTIO_MMIO_QUEUE_SEL, VIRTIO_MMIO_QUEUE_NUM_MAX,
			VIRTIO_MMIO_QUEUE_NUM, VIRTIO_MMIO_QUEUE_ALIGN, VIRTIO_MMIO_QUEUE_PFN,
			VIRTIO_MMIO_QUEUE_READY, VIRTIO_MMIO_QUEUE_NOTIFY,
			VIRTIO_MMIO_INTERRUPT_STATUS, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_STATUS,
			VIRTIO_MMIO_QUEUE_DESC_LOW, VIRTIO_MMIO_QUEUE_DESC_HIGH,
			VIRTIO_MMIO_QUEUE_DRIVER_LOW, VIRTIO_MMIO_QUEUE_DEVICE_LOW,
			VIRTIO_MMIO_SHM_SEL, VIRTIO_MMIO_QUEUE_RESET, VIRTIO_MMIO_CONFIG_GENERATION,
			VIRTIO_MMIO_CONFIG,
		};
		char name[32];

		for (unsigned i = 0; i < RS_ARRAY_SIZE(regs); i++) {
			snprintf(name, sizeof(name), "mmio_reg_%03x", regs[i]);
			dict_le(f, name, regs[i], 2);
		}
		dict_le(f, "mmio_magic", VIRTIO_MMIO_MAGIC, 4);
		dict_le(f, "mmio_page_4k", 4096, 4);
		return;
	}
	/* PCI: configuration space, conf1, and the virtio register files */
	dict_le(f, "pci_vendor_virtio", VIRTIO_PCI_VENDOR, 2);
	dict_le(f, "pci_cmd_decode", PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
	dict_le(f, "pci_cmd_intx_off", PCI_COMMAND_INTX_DISABLE, 2);
	dict_le(f, "pci_bar_sizing", 0xffffffffu, 4);
	dict_le(f, "pci_msix_enable", PCI_MSIX_FLAGS_ENABLE, 2);
	dict_le(f, "pci_msix_maskall", PCI_MSIX_FLAGS_MASKALL, 2);
	dict_le(f, "pci_cap_ptr", PCI_CAPABILITY_LIST, 2);
	dict_le(f, "pci_bar0_off", PCI_BAR0, 2);
	dict_le(f, "pci_bar4_off", PCI_BAR0 + 16, 2);
	dict_le(f, "conf1_slot1", PCI_CONF1_ENABLE | 1u << 11, 4);
	dict_le(f, "msi_addr", FUZZ_MSI_ADDR, 4);
	if (strcmp(tr, "pci-legacy") != 0) {
		for (unsigned off = 0; off < VIRTIO_PCI_COMMON_SIZE; off += 2) {
			char name[32];

			snprintf(name, sizeof(name), "common_%02u", off);
			dict_le(f, name, off, 2);
		}
	}
	if (strcmp(tr, "pci-modern") != 0) {
		static const uint16_t regs[] = {
			VIRTIO_PCI_LEGACY_HOST_FEATURES, VIRTIO_PCI_LEGACY_GUEST_FEATURES,
			VIRTIO_PCI_LEGACY_QUEUE_PFN, VIRTIO_PCI_LEGACY_QUEUE_NUM,
			VIRTIO_PCI_LEGACY_QUEUE_SEL, VIRTIO_PCI_LEGACY_QUEUE_NOTIFY,
			VIRTIO_PCI_LEGACY_STATUS, VIRTIO_PCI_LEGACY_ISR,
			VIRTIO_PCI_LEGACY_MSIX_CONFIG, VIRTIO_PCI_LEGACY_MSIX_QUEUE,
			VIRTIO_PCI_LEGACY_CONFIG_MSIX,
		};
		char name[32];

		for (unsigned i = 0; i < RS_ARRAY_SIZE(regs); i++) {
			snprintf(name, sizeof(name), "legacy_reg_%02u", regs[i]);
			dict_le(f, name, regs[i], 2);
		}
		dict_le(f, "legacy_pfn", 0x100, 4);
	}
}

static int write_dict(const char *dir, const struct fuzz_target *t,
		      const struct fuzz_opset *set)
{
	char path[1024];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s.dict", dir, t->name);
	f = fopen(path, "w");
	if (!f)
		return -errno;
	fprintf(f, "# ringside fuzz dictionary for target %s (generated by fuzz_corpus_gen)\n",
		t->name);
	dict_records(f, set);
	if (t->kind != FUZZ_RING) {
		dict_common(f);
		if (t->kind == FUZZ_DEVICE) {
			dict_transport(f, t->transport);
		} else {
			dict_transport(f, "pci");
			dict_transport(f, "mmio");
		}
		for (unsigned i = 0; i < fuzz_device_table_len; i++) {
			const struct fuzz_device_info *info = &fuzz_device_table[i];

			if (info->dict && (t->kind == FUZZ_MACHINE ||
					   (t->device && strcmp(t->device, info->device) == 0)))
				fputs(info->dict, f);
		}
	} else {
		dict_common(f);
	}
	fclose(f);
	return 0;
}

/* ---- targets ------------------------------------------------------------------------ */

/* Seeds of device dev of machine fm, with the builder set up for it. */
static void device_seeds(struct fuzz_builder *b, struct fuzz_machine *fm, unsigned dev,
			 bool all)
{
	const struct vdev *vd = fm->devs[dev].vd;

	fb_reset(b);
	b->info = fuzz_device_info(vd->ops->name);
	b->ndevs = fm->ndevs;
	b->dev = dev;
	b->nqueues = (uint16_t)vd->nqueues;
	b->cfg_size = vd->ops->config_size;
	if (all) {
		fuzz_seed_sessions(b);
	} else if (b->info && b->info->seeds) {
		b->info->seeds(b);
	}
}

static int gen_target(struct gen *g, const char *dict_dir, struct fuzz_target *t,
		      struct fuzz_builder *b)
{
	char err[256], dir[1024];
	int r;

	g->h = fuzz_harness_new(t, err, sizeof(err));
	if (!g->h) {
		fprintf(stderr, "fuzz_corpus_gen: %s: %s\n", t->name, err);
		return -1;
	}
	g->target_name = t->name;
	g->prefix = "";
	snprintf(dir, sizeof(dir), "%s/%s", g->corpus_dir, t->name);
	r = mkdir_p(dir);
	if (r == 0)
		r = write_dict(dict_dir, t, fuzz_harness_opset(g->h));
	if (r < 0) {
		fprintf(stderr, "fuzz_corpus_gen: %s: %s\n", t->name, strerror(-r));
		fuzz_harness_free(g->h);
		return -1;
	}
	memset(b, 0, sizeof(*b));
	b->set = fuzz_harness_opset(g->h);
	b->prefix = -1;
	b->emit = emit;
	b->emit_ctx = g;
	if (t->kind == FUZZ_RING) {
		ring_seeds(b);
	} else if (t->kind == FUZZ_DEVICE) {
		struct fuzz_machine *fm;

		if (fuzz_harness_machines(g->h, &fm, 1) == 1 && fm->ndevs)
			device_seeds(b, fm, 0, true);
	} else {
		struct fuzz_machine *fms[FUZZ_MAX_MACHINES];
		unsigned n = fuzz_harness_machines(g->h, fms, FUZZ_MAX_MACHINES);
		char prefix[32];

		/* every machine: each device's own sessions */
		for (unsigned k = 0; k < n; k++) {
			for (unsigned i = 0; i < fms[k]->ndevs; i++) {
				snprintf(prefix, sizeof(prefix), "m%u-d%u-", k, i);
				g->prefix = prefix;
				b->prefix = (int)k;
				device_seeds(b, fms[k], i, false);
			}
		}
	}
	fuzz_harness_free(g->h);
	g->h = NULL;
	return 0;
}

int main(int argc, char **argv)
{
	static struct fuzz_builder b;
	struct gen g = { 0 };
	int i = 1, failed = 0;

	if (i < argc && strcmp(argv[i], "--strict") == 0) {
		g.strict = true;
		i++;
	}
	if (argc - i < 3) {
		fprintf(stderr, "usage: fuzz_corpus_gen [--strict] CORPUS_DIR DICT_DIR "
				"NAME:device:DEVICE:TRANSPORT|NAME:ring|NAME:machine...\n");
		return 1;
	}
	g.corpus_dir = argv[i++];
	if (mkdir_p(argv[i]) < 0 || mkdir_p(g.corpus_dir) < 0) {
		fprintf(stderr, "fuzz_corpus_gen: cannot create output directories\n");
		return 1;
	}
	for (int k = i + 1; k < argc; k++) {
		char spec[256], *parts[4] = { 0 };
		struct fuzz_target t = { 0 };
		unsigned n = 0;

		snprintf(spec, sizeof(spec), "%s", argv[k]);
		for (char *p = spec; p && n < 4; n++) {
			parts[n] = p;
			p = strchr(p, ':');
			if (p)
				*p++ = '\0';
		}
		t.name = parts[0];
		if (n == 4 && strcmp(parts[1], "device") == 0) {
			t.kind = FUZZ_DEVICE;
			t.device = parts[2];
			t.transport = parts[3];
		} else if (n == 2 && strcmp(parts[1], "ring") == 0) {
			t.kind = FUZZ_RING;
		} else if (n == 2 && strcmp(parts[1], "machine") == 0) {
			t.kind = FUZZ_MACHINE;
		} else {
			fprintf(stderr, "fuzz_corpus_gen: bad target '%s'\n", argv[k]);
			return 1;
		}
		if (gen_target(&g, argv[i], &t, &b) < 0)
			failed++;
	}
	printf("fuzz_corpus_gen: %u seeds written, %u not matching their session, %d targets "
	       "failed\n",
	       g.written, g.mismatched, failed);
	return failed || (g.strict && g.mismatched) ? 1 : 0;
}
