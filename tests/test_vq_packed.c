/*
 * ringside tests — packed virtqueue (engine/vq_packed.c, virtio-v1.2 2.8).
 *
 * A small packed-ring driver written here plays the guest through
 * gm_guest_write / gm_guest_read; the device side is driven through the
 * public vq_* API (and, for the few paths vq.c cannot reach, the vq_packed_*
 * halves directly).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ringside/diag.h"
#include "ringside/gm.h"
#include "ringside/vq.h"

#include "../engine/vq_priv.h"

/* Guest address plan of the test arena. */
#define RAM_SIZE (16ull << 20)
#define MMIO_BASE RAM_SIZE
#define MMIO_SIZE 0x10000ull
#define DRV_EV 0x100ull      /* driver event suppression (device reads) */
#define DEV_EV 0x200ull      /* device event suppression (device writes) */
#define RING 0x10000ull      /* descriptor ring, up to 32768 * 16 bytes */
#define BUFS 0x100000ull     /* data buffers */
#define TABLES 0x800000ull   /* indirect tables, 4 KiB per buffer id */
#define TD_MAX 512           /* largest queue the test driver manages */

#define F_AVAIL VIRTQ_DESC_F_AVAIL
#define F_USED VIRTQ_DESC_F_USED
#define F_NEXT VIRTQ_DESC_F_NEXT
#define F_WRITE VIRTQ_DESC_F_WRITE
#define F_INDIRECT VIRTQ_DESC_F_INDIRECT

/* ---- environment: arena, log, queue, error hook ---------------------- */

struct env {
	struct gm gm;
	struct diag_log log;
	struct vq vq;
	unsigned errors;             /* on_error calls */
	enum diag_code last_error;
};

static void on_error(void *ctx, unsigned qidx, enum diag_code code)
{
	struct env *e = ctx;

	(void)qidx;
	e->errors++;
	e->last_error = code;
}

static void env_init(struct env *e)
{
	memset(e, 0, sizeof(*e));
	gm_init(&e->gm);
	CHECK_EQ(gm_add_ram(&e->gm, 0, RAM_SIZE, NULL, "ram"), 0);
	CHECK_EQ(gm_add_mmio(&e->gm, MMIO_BASE, MMIO_SIZE, "mmio"), 0);
	diag_init(&e->log, "vqp");
	vq_init(&e->vq, &e->gm, &e->log, 0, on_error, e);
}

static void env_destroy(struct env *e)
{
	vq_reset(&e->vq);
	gm_destroy(&e->gm);
}

static struct vq_config packed_cfg(uint16_t num, uint64_t features)
{
	struct vq_config cfg = {
		.layout = VQ_PACKED,
		.num = num,
		.desc = RING,
		.driver = DRV_EV,
		.device = DEV_EV,
		.features = features,
	};
	return cfg;
}

/* ---- the test driver -------------------------------------------------- */

struct tbuf {
	uint64_t gpa;
	uint32_t len;
	bool write;
};

struct tdrv {
	struct gm *gm;
	uint16_t num;
	uint16_t next_avail, next_used;
	bool avail_wrap, used_wrap;
	uint32_t num_free;               /* ring slots not in flight */
	uint16_t chain_len[TD_MAX];      /* slots used by the list with this id */
};

static void td_init(struct tdrv *td, struct gm *gm, uint16_t num)
{
	static const uint8_t zero[4096];

	memset(td, 0, sizeof(*td));
	td->gm = gm;
	td->num = num;
	td->avail_wrap = td->used_wrap = true; /* both start at 1, 2.8.1 */
	td->num_free = num;
	for (uint64_t off = 0; off < (uint64_t)num * 16; off += sizeof(zero))
		gm_guest_write(gm, RING + off, zero, sizeof(zero));
	gm_guest_write(gm, DRV_EV, zero, 4);
	gm_guest_write(gm, DEV_EV, zero, 4);
}

/* AVAIL/USED bits that make a descriptor available in the lap with wrap. */
static uint16_t avail_bits(bool wrap)
{
	return wrap ? F_AVAIL : F_USED;
}

static void td_write_body(struct gm *gm, uint64_t gpa, uint64_t addr, uint32_t len, uint16_t id)
{
	uint8_t raw[14];

	rs_st64(raw, addr);
	rs_st32(raw + 8, len);
	rs_st16(raw + 12, id);
	gm_guest_write(gm, gpa, raw, sizeof(raw));
}

static void td_write_flags(struct gm *gm, uint64_t gpa, uint16_t flags)
{
	uint8_t raw[2];

	rs_st16(raw, flags);
	gm_guest_write(gm, gpa + 14, raw, 2);
}

/* Write a whole descriptor at ring slot `slot`. */
static void td_wdesc(struct tdrv *td, uint16_t slot, uint64_t addr, uint32_t len, uint16_t id,
		     uint16_t flags)
{
	td_write_body(td->gm, RING + 16ull * slot, addr, len, id);
	td_write_flags(td->gm, RING + 16ull * slot, flags);
}

/* Write an indirect table entry. */
static void td_wtable(struct gm *gm, uint64_t table, unsigned i, uint64_t addr, uint32_t len,
		      uint16_t flags)
{
	td_write_body(gm, table + 16ull * i, addr, len, 0xbeef);
	td_write_flags(gm, table + 16ull * i, flags);
}

static uint16_t td_flags_at(struct tdrv *td, uint16_t slot)
{
	uint8_t raw[2];

	gm_guest_read(td->gm, RING + 16ull * slot + 14, raw, 2);
	return rs_le16(raw);
}

/*
 * Make a list of n buffers available under buffer id `id` (2.8.21.1): the id
 * goes in the last descriptor (the others carry a decoy), every descriptor
 * gets the flags of its own lap, and the head's flags are stored last.
 */
static void td_add(struct tdrv *td, const struct tbuf *b, unsigned n, uint16_t id)
{
	uint16_t head = td->next_avail, head_flags = 0;

	CHECK(n <= td->num_free);
	for (unsigned i = 0; i < n; i++) {
		uint16_t f = avail_bits(td->avail_wrap) | (b[i].write ? F_WRITE : 0) |
			     (i + 1 < n ? F_NEXT : 0);
		uint16_t did = i + 1 == n ? id : 0x7777;
		uint64_t gpa = RING + 16ull * td->next_avail;

		td_write_body(td->gm, gpa, b[i].gpa, b[i].len, did);
		if (i == 0)
			head_flags = f;
		else
			td_write_flags(td->gm, gpa, f);
		if (++td->next_avail == td->num) {
			td->next_avail = 0;
			td->avail_wrap = !td->avail_wrap;
		}
	}
	td_write_flags(td->gm, RING + 16ull * head, head_flags);
	td->chain_len[id] = (uint16_t)n;
	td->num_free -= n;
}

/* One readable or writable buffer of len bytes under id. */
static void td_add1(struct tdrv *td, uint16_t id, uint32_t len, bool write)
{
	struct tbuf b = { BUFS + 0x1000ull * id, len, write };

	td_add(td, &b, 1, id);
}

/* Put n entries in the indirect table of id and make one INDIRECT
 * descriptor for it available (WRITE on it is reserved: set to check it is
 * ignored). */
static void td_add_indirect(struct tdrv *td, const struct tbuf *b, unsigned n, uint16_t id)
{
	uint64_t table = TABLES + 0x1000ull * id;

	for (unsigned i = 0; i < n; i++)
		td_wtable(td->gm, table, i, b[i].gpa, b[i].len,
			  (b[i].write ? F_WRITE : 0) | F_NEXT | F_AVAIL);
	td_wdesc(td, td->next_avail, table, 16 * n, id,
		 avail_bits(td->avail_wrap) | F_INDIRECT | F_WRITE);
	if (++td->next_avail == td->num) {
		td->next_avail = 0;
		td->avail_wrap = !td->avail_wrap;
	}
	td->chain_len[id] = 1;
	td->num_free -= 1;
}

/* Read the used descriptor at next_used (2.8.22): 1 with id/len/flags and
 * the slots of that list skipped, 0 when none. `skip` overrides the list
 * length (IN_ORDER batches); 0 means chain_len[id]. */
static int td_get_used_skip(struct tdrv *td, uint16_t *id, uint32_t *len, uint16_t *flags,
			    unsigned skip)
{
	uint8_t raw[16];
	bool used, avail;

	gm_guest_read(td->gm, RING + 16ull * td->next_used, raw, 16);
	*flags = rs_le16(raw + 14);
	used = (*flags & F_USED) != 0;
	avail = (*flags & F_AVAIL) != 0;
	if (used != td->used_wrap || avail != td->used_wrap)
		return 0;
	*len = rs_le32(raw + 8);
	*id = rs_le16(raw + 12);
	CHECK(*id < td->num);
	if (!skip)
		skip = td->chain_len[*id % td->num];
	td->num_free += skip;
	td->next_used = (uint16_t)(td->next_used + skip);
	if (td->next_used >= td->num) {
		td->next_used = (uint16_t)(td->next_used - td->num);
		td->used_wrap = !td->used_wrap;
	}
	return 1;
}

static int td_get_used(struct tdrv *td, uint16_t *id, uint32_t *len, uint16_t *flags)
{
	return td_get_used_skip(td, id, len, flags, 0);
}

/* Driver event suppression structure (the device reads it). */
static void td_set_event(struct tdrv *td, uint16_t flags, uint16_t off, bool wrap)
{
	uint8_t raw[4];

	rs_st16(raw, (uint16_t)(off | (wrap ? 0x8000u : 0)));
	rs_st16(raw + 2, flags);
	gm_guest_write(td->gm, DRV_EV, raw, 4);
}

/* Device event suppression structure (the device writes it). */
static void td_dev_event(struct tdrv *td, uint16_t *off_wrap, uint16_t *flags)
{
	uint8_t raw[4];

	gm_guest_read(td->gm, DEV_EV, raw, 4);
	*off_wrap = rs_le16(raw);
	*flags = rs_le16(raw + 2);
}

/* Set up env + driver with a packed queue of num entries. */
static void setup(struct env *e, struct tdrv *td, uint16_t num, uint64_t features)
{
	struct vq_config cfg = packed_cfg(num, features);

	env_init(e);
	td_init(td, &e->gm, num);
	CHECK_EQ(vq_setup(&e->vq, &cfg), 0);
}

/* A single-buffer round trip: submit, pop, push len, collect. */
static void round_trip(struct env *e, struct tdrv *td, uint16_t id, uint32_t len)
{
	struct vq_chain c;
	uint16_t rid, rflags;
	uint32_t rlen;

	td_add1(td, id, 64, true);
	CHECK_EQ(vq_pop(&e->vq, &c), 1);
	CHECK_EQ(c.id, id);
	CHECK_EQ(vq_push(&e->vq, &c, len), 0);
	CHECK_EQ(td_get_used(td, &rid, &rlen, &rflags), 1);
	CHECK_EQ(rid, id);
	CHECK_EQ(rlen, len);
}

/* ---- setup validation ------------------------------------------------- */

static int try_setup(struct env *e, uint16_t num, uint64_t desc, uint64_t driver, uint64_t device)
{
	struct vq_config cfg = packed_cfg(num, 0);

	cfg.desc = desc;
	cfg.driver = driver;
	cfg.device = device;
	vq_reset(&e->vq);
	return vq_setup(&e->vq, &cfg);
}

static void test_setup(void)
{
	struct env e;
	struct vq_chain c;
	struct vq direct;

	env_init(&e);
	/* Any size 1..32768 is valid for packed, power of two or not (2.8.10.1). */
	CHECK_EQ(try_setup(&e, 3, RING, DRV_EV, DEV_EV), 0);
	CHECK(e.vq.ready);
	CHECK_EQ(e.vq.next_avail, 0);
	CHECK(e.vq.avail_wrap);
	CHECK_EQ(e.vq.next_used, 0);
	CHECK(e.vq.used_wrap);
	CHECK_EQ(try_setup(&e, 100, RING, DRV_EV, DEV_EV), 0);
	CHECK_EQ(try_setup(&e, 1, RING, DRV_EV, DEV_EV), 0);
	CHECK_EQ(try_setup(&e, 32768, RING, DRV_EV, DEV_EV), 0);
	/* a ring ending exactly at the end of RAM */
	CHECK_EQ(try_setup(&e, 256, RAM_SIZE - 256 * 16, RAM_SIZE - 4, RAM_SIZE - 8), 0);
	CHECK_EQ(diag_count(&e.log, DIAG_VQ_SIZE), 0);
	CHECK_EQ(diag_count(&e.log, DIAG_VQ_RING_ADDR), 0);

	/* sizes */
	CHECK_EQ(try_setup(&e, 0, RING, DRV_EV, DEV_EV), -EINVAL);
	CHECK_EQ(try_setup(&e, 32769, RING, DRV_EV, DEV_EV), -EINVAL);
	CHECK_EQ(diag_count(&e.log, DIAG_VQ_SIZE), 2);
	CHECK(!e.vq.ready);

	/* descriptor ring: alignment 16, wholly in RAM, not in the MMIO hole */
	CHECK_EQ(try_setup(&e, 8, RING + 8, DRV_EV, DEV_EV), -EINVAL);
	CHECK_EQ(try_setup(&e, 8, RING + 4, DRV_EV, DEV_EV), -EINVAL);
	CHECK_EQ(try_setup(&e, 256, RAM_SIZE - 255 * 16, DRV_EV, DEV_EV), -EINVAL);
	CHECK_EQ(try_setup(&e, 8, MMIO_BASE, DRV_EV, DEV_EV), -EINVAL);
	CHECK_EQ(try_setup(&e, 8, RAM_SIZE + MMIO_SIZE, DRV_EV, DEV_EV), -EINVAL);
	CHECK_EQ(try_setup(&e, 8, UINT64_MAX - 15, DRV_EV, DEV_EV), -EINVAL);
	CHECK_EQ(diag_count(&e.log, DIAG_VQ_RING_ADDR), 6);

	/* event areas: alignment 4, 4 bytes in RAM */
	CHECK_EQ(try_setup(&e, 8, RING, DRV_EV + 2, DEV_EV), -EINVAL);
	CHECK_EQ(try_setup(&e, 8, RING, DRV_EV, DEV_EV + 1), -EINVAL);
	CHECK_EQ(try_setup(&e, 8, RING, RAM_SIZE, DEV_EV), -EINVAL);
	CHECK_EQ(try_setup(&e, 8, RING, DRV_EV, MMIO_BASE + 0x100), -EINVAL);
	CHECK_EQ(try_setup(&e, 8, RING, UINT64_MAX - 3, DEV_EV), -EINVAL);
	CHECK_EQ(try_setup(&e, 8, RING, DRV_EV, UINT64_MAX - 3), -EINVAL);
	CHECK_EQ(diag_count(&e.log, DIAG_VQ_RING_ADDR), 12);
	CHECK(!e.vq.ready);
	/* a rejected configuration is not a broken queue: nothing to pop */
	CHECK_EQ(vq_pop(&e.vq, &c), -EIO);
	env_destroy(&e);

	/* The packed half checks the size itself too (it divides by num). */
	env_init(&e);
	vq_init(&direct, &e.gm, &e.log, 1, NULL, NULL);
	direct.desc = RING;
	direct.driver = DRV_EV;
	direct.device = DEV_EV;
	direct.num = 0;
	CHECK_EQ(vq_packed_check_setup(&direct), -EINVAL);
	direct.num = 32769;
	CHECK_EQ(vq_packed_check_setup(&direct), -EINVAL);
	CHECK_EQ(diag_count(&e.log, DIAG_VQ_SIZE), 2);
	direct.num = 5;
	direct.next_avail = 3;
	direct.avail_wrap = false;
	direct.next_used = 2;
	direct.signalled_valid = true;
	CHECK_EQ(vq_packed_check_setup(&direct), 0);
	CHECK_EQ(direct.next_avail, 0);
	CHECK(direct.avail_wrap);
	CHECK_EQ(direct.next_used, 0);
	CHECK(direct.used_wrap);
	CHECK(!direct.signalled_valid);
	env_destroy(&e);
}

/* ---- well-formed traffic ---------------------------------------------- */

static void test_single(void)
{
	struct env e;
	struct tdrv td;
	struct vq_chain c, none;
	uint16_t id, flags;
	uint32_t len;

	setup(&e, &td, 8, 0);
	CHECK(!vq_pending(&e.vq));
	CHECK_EQ(vq_pop(&e.vq, &c), 0);
	td_add1(&td, 5, 64, false);
	CHECK(vq_pending(&e.vq));
	CHECK_EQ(vq_pop(&e.vq, &c), 1);
	CHECK_EQ(c.id, 5);
	CHECK_EQ(c.ndesc, 1);
	CHECK_EQ(c.nsegs, 1);
	CHECK_EQ(c.nread, 1);
	CHECK_EQ(c.read_len, 64);
	CHECK_EQ(c.write_len, 0);
	CHECK_EQ(vq_chain_segs(&c)[0].gpa, BUFS + 0x5000);
	CHECK_EQ(vq_chain_segs(&c)[0].len, 64);
	CHECK_EQ(vq_chain_segs(&c)[0].write, 0);
	CHECK_EQ(e.vq.next_avail, 1);
	CHECK(!vq_pending(&e.vq));
	CHECK_EQ(vq_pop(&e.vq, &none), 0);
	/* the driver sees nothing used until we push */
	CHECK_EQ(td_get_used(&td, &id, &len, &flags), 0);
	CHECK_EQ(vq_push(&e.vq, &c, 0), 0);
	CHECK_EQ(td_get_used(&td, &id, &len, &flags), 1);
	CHECK_EQ(id, 5);
	CHECK_EQ(len, 0);
	/* used in lap 1: AVAIL and USED both set; nothing written: no WRITE */
	CHECK_EQ(flags, F_AVAIL | F_USED);
	CHECK_EQ(e.vq.next_used, 1);
	CHECK_EQ(diag_count_class(&e.log, DIAG_CLASS_DRIVER), 0);
	env_destroy(&e);
}

static void test_chain(void)
{
	struct env e;
	struct tdrv td;
	struct vq_chain c;
	const struct tbuf b[4] = {
		{ BUFS, 16, false },
		{ BUFS + 0x100, 32, false },
		{ BUFS + 0x200, 100, true },
		{ BUFS + 0x300, 200, true },
	};
	uint16_t id, flags;
	uint32_t len;

	setup(&e, &td, 8, 0);
	td_add(&td, b, 4, 3);
	CHECK_EQ(vq_pop(&e.vq, &c), 1);
	CHECK_EQ(c.id, 3); /* from the last descriptor, 2.8.6 */
	CHECK_EQ(c.ndesc, 4);
	CHECK_EQ(c.nsegs, 4);
	CHECK_EQ(c.nread, 2);
	CHECK_EQ(c.read_len, 48);
	CHECK_EQ(c.write_len, 300);
	for (unsigned i = 0; i < 4; i++) {
		CHECK_EQ(vq_chain_segs(&c)[i].gpa, b[i].gpa);
		CHECK_EQ(vq_chain_segs(&c)[i].len, b[i].len);
		CHECK_EQ(vq_chain_segs(&c)[i].write, b[i].write);
	}
	CHECK_EQ(e.vq.next_avail, 4);
	CHECK_EQ(vq_push(&e.vq, &c, 150), 0);
	CHECK_EQ(e.vq.next_used, 4);
	/* one used descriptor over the first slot; the rest untouched */
	CHECK_EQ(td_flags_at(&td, 1), F_AVAIL | F_NEXT);
	CHECK_EQ(td_flags_at(&td, 3), F_AVAIL | F_WRITE);
	CHECK_EQ(td_get_used(&td, &id, &len, &flags), 1);
	CHECK_EQ(id, 3);
	CHECK_EQ(len, 150);
	CHECK_EQ(flags, F_AVAIL | F_USED | F_WRITE);
	CHECK_EQ(td.next_used, 4);

	/* a list of exactly num descriptors is allowed (2.8.17) */
	{
		struct tbuf big[8];

		for (unsigned i = 0; i < 8; i++)
			big[i] = (struct tbuf){ BUFS + 0x100ull * i, 8, i >= 5 };
		td_add(&td, big, 8, 7);
		CHECK_EQ(vq_pop(&e.vq, &c), 1);
		CHECK_EQ(c.id, 7);
		CHECK_EQ(c.ndesc, 8);
		CHECK_EQ(c.nread, 5);
		CHECK_EQ(e.vq.next_avail, 4);
		CHECK(!e.vq.avail_wrap);
		CHECK_EQ(vq_push(&e.vq, &c, 24), 0);
		CHECK_EQ(td_get_used(&td, &id, &len, &flags), 1);
		CHECK_EQ(id, 7);
		CHECK_EQ(len, 24);
	}
	CHECK_EQ(diag_count_class(&e.log, DIAG_CLASS_DRIVER), 0);
	env_destroy(&e);
}

/* A list that runs over the end of the ring: the wrap counter flips in the
 * middle of it, on both the avail and the used side. */
static void test_wrap_chain(void)
{
	struct env e;
	struct tdrv td;
	struct vq_chain c;
	const struct tbuf b[3] = {
		{ BUFS, 10, false },
		{ BUFS + 0x100, 20, true },
		{ BUFS + 0x200, 30, true },
	};
	uint16_t id, flags;
	uint32_t len;

	setup(&e, &td, 4, 0);
	for (uint16_t i = 0; i < 3; i++)
		round_trip(&e, &td, i, 1);
	CHECK_EQ(e.vq.next_avail, 3);
	td_add(&td, b, 3, 1); /* slots 3 (lap 1), 0 and 1 (lap 0) */
	CHECK_EQ(td_flags_at(&td, 3), F_AVAIL | F_NEXT);
	CHECK_EQ(td_flags_at(&td, 0), F_USED | F_NEXT | F_WRITE);
	CHECK_EQ(td_flags_at(&td, 1), F_USED | F_WRITE);
	CHECK(vq_pending(&e.vq));
	CHECK_EQ(vq_pop(&e.vq, &c), 1);
	CHECK_EQ(c.id, 1);
	CHECK_EQ(c.ndesc, 3);
	CHECK_EQ(c.nsegs, 3);
	CHECK_EQ(c.read_len, 10);
	CHECK_EQ(c.write_len, 50);
	CHECK_EQ(e.vq.next_avail, 2);
	CHECK(!e.vq.avail_wrap);
	CHECK(!vq_pending(&e.vq));
	CHECK_EQ(vq_push(&e.vq, &c, 50), 0);
	CHECK_EQ(e.vq.next_used, 2);
	CHECK(!e.vq.used_wrap);
	CHECK_EQ(td_flags_at(&td, 3), F_AVAIL | F_USED | F_WRITE); /* written in lap 1 */
	CHECK_EQ(td_get_used(&td, &id, &len, &flags), 1);
	CHECK_EQ(id, 1);
	CHECK_EQ(len, 50);

	/* next lap: a used descriptor is marked by AVAIL = USED = 0 */
	td_add1(&td, 2, 8, true);
	CHECK_EQ(vq_pop(&e.vq, &c), 1);
	CHECK_EQ(vq_push(&e.vq, &c, 8), 0);
	CHECK_EQ(td_flags_at(&td, 2), F_WRITE);
	CHECK_EQ(td_get_used(&td, &id, &len, &flags), 1);
	CHECK_EQ(id, 2);
	CHECK_EQ(len, 8);
	CHECK_EQ(diag_count_class(&e.log, DIAG_CLASS_DRIVER), 0);
	env_destroy(&e);
}

static void test_indirect(void)
{
	struct env e;
	struct tdrv td;
	struct vq_chain c;
	const struct tbuf b[3] = {
		{ BUFS, 10, false },
		{ BUFS + 0x100, 20, false },
		{ BUFS + 0x200, 30, true },
	};
	const struct tbuf d[2] = {
		{ BUFS + 0x300, 1, false },
		{ BUFS + 0x400, 2, true },
	};
	struct tbuf full[8];
	uint16_t id, flags;
	uint32_t len;

	setup(&e, &td, 8, VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC));
	td_add_indirect(&td, b, 3, 6);
	CHECK_EQ(vq_pop(&e.vq, &c), 1);
	CHECK_EQ(c.id, 6);
	CHECK_EQ(c.ndesc, 1); /* one ring slot */
	CHECK_EQ(c.nsegs, 3);
	CHECK_EQ(c.nread, 2);
	CHECK_EQ(c.read_len, 30);
	CHECK_EQ(c.write_len, 30);
	for (unsigned i = 0; i < 3; i++) {
		CHECK_EQ(vq_chain_segs(&c)[i].gpa, b[i].gpa);
		CHECK_EQ(vq_chain_segs(&c)[i].len, b[i].len);
		CHECK_EQ(vq_chain_segs(&c)[i].write, b[i].write);
	}
	CHECK_EQ(e.vq.next_avail, 1);
	CHECK_EQ(vq_push(&e.vq, &c, 30), 0);
	CHECK_EQ(td_get_used(&td, &id, &len, &flags), 1);
	CHECK_EQ(id, 6);
	CHECK_EQ(len, 30);

	/* mixing direct lists and indirect descriptors in one ring is valid */
	td_add(&td, d, 2, 2);
	for (unsigned i = 0; i < 8; i++)
		full[i] = (struct tbuf){ BUFS + 0x10ull * i, 4, i == 7 };
	td_add_indirect(&td, full, 8, 4); /* table of exactly num entries */
	CHECK_EQ(vq_pop(&e.vq, &c), 1);
	CHECK_EQ(c.id, 2);
	CHECK_EQ(c.ndesc, 2);
	CHECK_EQ(vq_push(&e.vq, &c, 2), 0);
	CHECK_EQ(vq_pop(&e.vq, &c), 1);
	CHECK_EQ(c.id, 4);
	CHECK_EQ(c.ndesc, 1);
	CHECK_EQ(c.nsegs, 8);
	CHECK_EQ(c.nread, 7);
	CHECK_EQ(c.write_len, 4);
	CHECK_EQ(vq_push(&e.vq, &c, 4), 0);
	CHECK_EQ(e.vq.next_used, 4);
	CHECK_EQ(td_get_used(&td, &id, &len, &flags), 1);
	CHECK_EQ(id, 2);
	CHECK_EQ(td_get_used(&td, &id, &len, &flags), 1);
	CHECK_EQ(id, 4);
	CHECK_EQ(diag_count_class(&e.log, DIAG_CLASS_DRIVER), 0);
	env_destroy(&e);
}

/* Lists longer than the inline segment array use the heap; it goes back
 * with the push (LeakSanitizer watches). */
static void test_long_chain(void)
{
	struct env e;
	struct tdrv td;
	struct vq_chain c;
	struct tbuf b[40];
	uint16_t id, flags;
	uint32_t len;

	setup(&e, &td, 64, 0);
	for (unsigned i = 0; i < 40; i++)
		b[i] = (struct tbuf){ BUFS + 0x100ull * i, 0x10 + i, i >= 30 };
	td_add(&td, b, 40, 9);
	CHECK_EQ(vq_pop(&e.vq, &c), 1);
	CHECK_EQ(c.nsegs, 40);
	CHECK_EQ(c.ndesc, 40);
	CHECK_EQ(c.nread, 30);
	CHECK_EQ(vq_chain_segs(&c)[39].gpa, BUFS + 0x100ull * 39);
	CHECK_EQ(vq_push(&e.vq, &c, 5), 0);
	CHECK_EQ(td_get_used(&td, &id, &len, &flags), 1);
	CHECK_EQ(id, 9);
	CHECK_EQ(td.next_used, 40);
	env_destroy(&e);
}

static void test_id_reuse(void)
{
	struct env e;
	struct tdrv td;
	struct vq_chain c;

	setup(&e, &td, 4, 0);
	/* the same id, again and again, once each previous use completed */
	for (unsigned i = 0; i < 10; i++)
		round_trip(&e, &td, 2, i);
	/* 10 slots on a ring of 4: two laps and a half, counters back at 1 */
	CHECK_EQ(e.vq.next_avail, 2);
	CHECK(e.vq.avail_wrap);
	CHECK_EQ(e.vq.next_used, 2);
	CHECK(e.vq.used_wrap);
	/* the id is free again once pushed, even before the driver collects */
	td_add1(&td, 1, 4, false);
	CHECK_EQ(vq_pop(&e.vq, &c), 1);
	CHECK_EQ(vq_push(&e.vq, &c, 0), 0);
	td_add1(&td, 1, 4, false);
	CHECK_EQ(vq_pop(&e.vq, &c), 1);
	CHECK_EQ(c.id, 1);
	CHECK_EQ(vq_push(&e.vq, &c, 0), 0);
	CHECK_EQ(diag_count_class(&e.log, DIAG_CLASS_DRIVER), 0);
	env_destroy(&e);
}

/* The device completes lists in another order than they were made
 * available: used descriptors go in completion order at next_used, each
 * skipping the slots of its own list (2.8.6, 2.8.12). */
static void test_out_of_order(void)
{
	struct env e;
	struct tdrv td;
	struct vq_chain a, b, c, none;
	const struct tbuf two[2] = { { BUFS, 8, false }, { BUFS + 0x100, 8, true } };
	const struct tbuf three[3] = {
		{ BUFS, 8, false }, { BUFS + 0x100, 8, true }, { BUFS + 0x200, 8, true }
	};
	uint16_t id, flags;
	uint32_t len;

	setup(&e, &td, 8, 0);
	td_add(&td, two, 2, 1);    /* A: slots 0-1 */
	td_add1(&td, 2, 8, true);  /* B: slot 2 */
	td_add(&td, three, 3, 0);  /* C: slots 3-5 */
	CHECK_EQ(vq_pop(&e.vq, &a), 1);
	CHECK_EQ(vq_pop(&e.vq, &b), 1);
	CHECK_EQ(vq_pop(&e.vq, &c), 1);
	CHECK_EQ(a.id, 1);
	CHECK_EQ(b.id, 2);
	CHECK_EQ(c.id, 0);
	CHECK_EQ(vq_pop(&e.vq, &none), 0);

	CHECK_EQ(vq_push(&e.vq, &b, 3), 0); /* slot 0 */
	CHECK_EQ(e.vq.next_used, 1);
	CHECK_EQ(vq_push(&e.vq, &c, 16), 0); /* slot 1 */
	CHECK_EQ(e.vq.next_used, 4);
	CHECK_EQ(vq_push(&e.vq, &a, 7), 0); /* slot 4 */
	CHECK_EQ(e.vq.next_used, 6);
	/* slot 2 and 3 keep the driver's flags: not used-looking */
	CHECK_EQ(td_flags_at(&td, 2), F_AVAIL | F_WRITE);
	CHECK_EQ(td_flags_at(&td, 3), F_AVAIL | F_NEXT);

	CHECK_EQ(td_get_used(&td, &id, &len, &flags), 1);
	CHECK_EQ(id, 2);
	CHECK_EQ(len, 3);
	CHECK_EQ(td.next_used, 1);
	CHECK_EQ(td_get_used(&td, &id, &len, &flags), 1);
	CHECK_EQ(id, 0);
	CHECK_EQ(len, 16);
	CHECK_EQ(td.next_used, 4);
	CHECK_EQ(td_get_used(&td, &id, &len, &flags), 1);
	CHECK_EQ(id, 1);
	CHECK_EQ(len, 7);
	CHECK_EQ(td.next_used, 6);
	CHECK_EQ(td_get_used(&td, &id, &len, &flags), 0);
	CHECK_EQ(diag_count_class(&e.log, DIAG_CLASS_DRIVER), 0);
	env_destroy(&e);
}

/* IN_ORDER: one used descriptor for a batch, carrying the last buffer's id,
 * skipping all of the batch's slots (2.8.8). */
static void test_in_order_batch(void)
{
	struct env e;
	struct tdrv td;
	struct vq_chain ch[3];
	const struct tbuf two[2] = { { BUFS, 8, false }, { BUFS + 0x100, 8, true } };
	const uint32_t lens[3] = { 8, 8, 7 };     /* all but the last wholly used */
	const uint32_t split[3] = { 0, 8, 7 };    /* the first one is not */
	uint16_t id, flags;
	uint32_t len;

	setup(&e, &td, 4, VIRTIO_BIT(VIRTIO_F_IN_ORDER));
	td_add1(&td, 0, 8, true);
	td_add(&td, two, 2, 1);
	td_add1(&td, 2, 8, true);
	for (unsigned i = 0; i < 3; i++)
		CHECK_EQ(vq_pop(&e.vq, &ch[i]), 1);
	CHECK_EQ(vq_push_n(&e.vq, ch, lens, 3), 0);
	CHECK_EQ(e.vq.next_used, 0);
	CHECK(!e.vq.used_wrap);
	CHECK_EQ(td_flags_at(&td, 0), F_AVAIL | F_USED | F_WRITE);
	/* the skipped slots are not written */
	CHECK_EQ(td_flags_at(&td, 1), F_AVAIL | F_NEXT);
	CHECK_EQ(td_flags_at(&td, 3), F_AVAIL | F_WRITE);
	CHECK_EQ(td_get_used_skip(&td, &id, &len, &flags, 4), 1);
	CHECK_EQ(id, 2);
	CHECK_EQ(len, 7);

	/* a second batch, now in lap 0 */
	td_add1(&td, 3, 8, true);
	td_add1(&td, 0, 8, true);
	CHECK_EQ(vq_pop(&e.vq, &ch[0]), 1);
	CHECK_EQ(vq_pop(&e.vq, &ch[1]), 1);
	CHECK_EQ(vq_push_n(&e.vq, ch, lens + 1, 2), 0); /* 8, 7 */
	CHECK_EQ(td_flags_at(&td, 0), F_WRITE);
	CHECK_EQ(td_get_used_skip(&td, &id, &len, &flags, 2), 1);
	CHECK_EQ(id, 0);
	CHECK_EQ(len, 7);
	CHECK_EQ(e.vq.next_used, 2);
	env_destroy(&e);

	/* the skipped buffers count as wholly used (2.8.8): a chain completed
	 * with less than its writable space gets its own used descriptor */
	setup(&e, &td, 4, VIRTIO_BIT(VIRTIO_F_IN_ORDER));
	td_add1(&td, 0, 8, true);
	td_add(&td, two, 2, 1);
	td_add1(&td, 2, 8, true);
	for (unsigned i = 0; i < 3; i++)
		CHECK_EQ(vq_pop(&e.vq, &ch[i]), 1);
	CHECK_EQ(vq_push_n(&e.vq, ch, split, 3), 0);
	CHECK_EQ(td_get_used_skip(&td, &id, &len, &flags, 1), 1);
	CHECK_EQ(id, 0);
	CHECK_EQ(len, 0);
	CHECK_EQ(flags, F_AVAIL | F_USED);
	CHECK_EQ(td.next_used, 1);
	CHECK_EQ(td_get_used_skip(&td, &id, &len, &flags, 3), 1);
	CHECK_EQ(id, 2);
	CHECK_EQ(len, 7);
	CHECK_EQ(td_flags_at(&td, 2), F_AVAIL | F_WRITE); /* skipped */
	CHECK_EQ(e.vq.next_used, 0);
	CHECK(!e.vq.used_wrap);
	env_destroy(&e);

	/* without IN_ORDER the same calls write one used descriptor each */
	setup(&e, &td, 4, 0);
	td_add1(&td, 0, 8, true);
	td_add(&td, two, 2, 1);
	td_add1(&td, 2, 8, true);
	for (unsigned i = 0; i < 3; i++)
		CHECK_EQ(vq_pop(&e.vq, &ch[i]), 1);
	CHECK_EQ(vq_push_n(&e.vq, ch, lens, 3), 0);
	for (unsigned i = 0; i < 3; i++) {
		CHECK_EQ(td_get_used(&td, &id, &len, &flags), 1);
		CHECK_EQ(id, i);
		CHECK_EQ(len, lens[i]);
		CHECK_EQ(flags, F_AVAIL | F_USED | (lens[i] ? F_WRITE : 0));
	}
	CHECK_EQ(td.next_used, 0);
	env_destroy(&e);
}

/* ---- long runs: wrap counters flip many times --------------------------- */

static uint32_t rng_next(uint32_t *s)
{
	/* xorshift32: fixed seed, deterministic */
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

struct inflight {
	struct vq_chain c;
	uint32_t len;     /* len the device will report */
};

/*
 * Driver and device exchange `target` lists on a ring of num entries. Lists
 * are 1..3 descriptors (or indirect, when offered), completed out of order
 * (or in order through vq_push_n with IN_ORDER). Every round the driver
 * picks an event suppression mode and the device's vq_should_notify() answer
 * is checked against an oracle over 64-bit slot counts, which never wrap.
 */
static void long_run(uint16_t num, uint64_t features, unsigned target, uint32_t seed)
{
	static struct inflight dev[TD_MAX];   /* popped, not pushed, in pop order */
	static uint16_t fifo[TD_MAX];         /* driver: ids in submission order */
	static uint32_t exp_len[TD_MAX];
	static bool busy[TD_MAX];
	bool in_order = features & VIRTIO_BIT(VIRTIO_F_IN_ORDER);
	bool indirect = features & VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC);
	bool event_idx = features & VIRTIO_BIT(VIRTIO_F_EVENT_IDX);
	struct env e;
	struct tdrv td;
	unsigned ndev = 0, fifo_head = 0, fifo_n = 0, done = 0, rounds = 0;
	uint64_t used_slots = 0, signalled = 0, drv_seen = 0, event_at = 0;
	uint16_t ev_mode = VIRTQ_EVENT_F_ENABLE;
	bool first_decision = true;
	unsigned mismatches = 0;

	setup(&e, &td, num, features);
	memset(busy, 0, sizeof(busy));
	/* every round completes at least one list unless the engine fails */
	while (done < target && mismatches == 0 && !e.vq.broken && rounds < 4 * target) {
		/* driver: submit while there is room */
		unsigned want = 1 + rng_next(&seed) % 3;

		rounds++;
		for (;;) {
			uint16_t id = 0xffff;
			unsigned n = 1 + rng_next(&seed) % 3;
			bool ind = indirect && rng_next(&seed) % 4 == 0;
			struct tbuf b[3];

			if (!want--)
				break;
			if (n > num)
				n = num;
			if ((ind ? 1 : n) > td.num_free)
				break;
			for (uint16_t i = 0; i < num; i++) {
				if (!busy[i]) {
					id = i;
					break;
				}
			}
			if (id == 0xffff)
				break;
			for (unsigned i = 0; i < n; i++)
				b[i] = (struct tbuf){ BUFS + 0x1000ull * id + 0x100 * i, 16,
						      i > 0 || n == 1 };
			if (ind)
				td_add_indirect(&td, b, n, id);
			else
				td_add(&td, b, n, id);
			busy[id] = true;
			if (in_order)
				fifo[(fifo_head + fifo_n++) % TD_MAX] = id;
		}

		/* device: sometimes re-arm notifications first (returns pending) */
		if (rng_next(&seed) % 4 == 0) {
			bool en = rng_next(&seed) & 1;
			uint16_t off_wrap, flags, want_flags = VIRTQ_EVENT_F_DISABLE;
			bool pending = vq_set_notify(&e.vq, en);

			if (en)
				want_flags = event_idx ? VIRTQ_EVENT_F_DESC : VIRTQ_EVENT_F_ENABLE;
			CHECK_EQ(pending, en && vq_pending(&e.vq));
			td_dev_event(&td, &off_wrap, &flags);
			CHECK_EQ(flags, want_flags);
			CHECK_EQ(off_wrap & 0x7fff, e.vq.next_avail);
			CHECK_EQ(off_wrap >> 15, e.vq.avail_wrap);
		}
		/* device: pop everything */
		for (;;) {
			int r = vq_pop(&e.vq, &dev[ndev].c);

			if (r <= 0) {
				CHECK_EQ(r, 0);
				break;
			}
			CHECK(dev[ndev].c.write_len > 0);
			dev[ndev].len = rng_next(&seed) % (dev[ndev].c.write_len + 1);
			ndev++;
			CHECK(ndev <= num);
		}
		/* device: complete some */
		if (ndev) {
			unsigned k = 1 + rng_next(&seed) % ndev;

			if (in_order) {
				static struct vq_chain batch[TD_MAX];
				static uint32_t lens[TD_MAX];

				for (unsigned i = 0; i < k; i++) {
					batch[i] = dev[i].c;
					lens[i] = dev[i].len;
					/* a run ends at a chain not wholly used */
					exp_len[dev[i].c.id] = dev[i].len;
					used_slots += dev[i].c.ndesc;
				}
				CHECK_EQ(vq_push_n(&e.vq, batch, lens, k), 0);
				memmove(dev, dev + k, (ndev - k) * sizeof(dev[0]));
				ndev -= k;
			} else {
				for (unsigned i = 0; i < k; i++) {
					unsigned j = rng_next(&seed) % ndev;

					exp_len[dev[j].c.id] = dev[j].len;
					used_slots += dev[j].c.ndesc;
					CHECK_EQ(vq_push(&e.vq, &dev[j].c, dev[j].len), 0);
					dev[j] = dev[--ndev];
				}
			}
			/* notification decision against the oracle */
			{
				bool expect, got = vq_should_notify(&e.vq);

				if (ev_mode == VIRTQ_EVENT_F_DISABLE)
					expect = false;
				else if (ev_mode == VIRTQ_EVENT_F_ENABLE || first_decision)
					expect = true;
				else
					expect = event_at >= signalled && event_at < used_slots;
				if (got != expect)
					mismatches++;
				CHECK_EQ(got, expect);
				signalled = used_slots;
				first_decision = false;
			}
		}
		/* driver: collect everything */
		for (;;) {
			uint16_t id, flags;
			uint32_t len;
			unsigned skip = 0;

			if (in_order) {
				/* peek: the batch ends at the used id */
				uint8_t raw[16];
				bool u, a;

				gm_guest_read(&e.gm, RING + 16ull * td.next_used, raw, 16);
				u = rs_le16(raw + 14) & F_USED;
				a = rs_le16(raw + 14) & F_AVAIL;
				if (u != td.used_wrap || a != td.used_wrap)
					break;
				for (unsigned i = 0; i < fifo_n; i++) {
					uint16_t fid = fifo[(fifo_head + i) % TD_MAX];

					skip += td.chain_len[fid];
					if (fid == rs_le16(raw + 12))
						break;
				}
			}
			if (!td_get_used_skip(&td, &id, &len, &flags, skip))
				break;
			CHECK(busy[id]);
			CHECK_EQ(len, exp_len[id]);
			CHECK_EQ(!!(flags & F_WRITE), len != 0);
			drv_seen += skip ? skip : td.chain_len[id];
			if (in_order) {
				for (;;) {
					uint16_t fid = fifo[fifo_head];

					fifo_head = (fifo_head + 1) % TD_MAX;
					fifo_n--;
					busy[fid] = false;
					done++;
					if (fid == id)
						break;
				}
			} else {
				busy[id] = false;
				done++;
			}
		}
		CHECK_EQ(drv_seen, used_slots);
		/* driver: choose how it wants to hear about the next completions */
		switch (rng_next(&seed) % 4) {
		case 0:
			ev_mode = VIRTQ_EVENT_F_DISABLE;
			td_set_event(&td, ev_mode, 0, true);
			break;
		case 1:
			ev_mode = VIRTQ_EVENT_F_ENABLE;
			td_set_event(&td, ev_mode, 0, true);
			break;
		default:
			if (!event_idx) {
				/* DESC without EVENT_IDX acts as ENABLE */
				ev_mode = VIRTQ_EVENT_F_ENABLE;
				td_set_event(&td, VIRTQ_EVENT_F_DESC, 0, true);
				break;
			}
			ev_mode = VIRTQ_EVENT_F_DESC;
			event_at = drv_seen + rng_next(&seed) % num;
			td_set_event(&td, ev_mode, (uint16_t)(event_at % num),
				     ((event_at / num) & 1) == 0);
			break;
		}
	}
	CHECK(done >= target);
	CHECK(rounds > 0);
	/* drain what the device still holds */
	for (unsigned i = 0; i < ndev; i++)
		CHECK_EQ(vq_push(&e.vq, &dev[i].c, 0), 0);
	CHECK_EQ(e.vq.next_avail, td.next_avail);
	CHECK_EQ(e.vq.avail_wrap, td.avail_wrap);
	CHECK_EQ(diag_count_class(&e.log, DIAG_CLASS_DRIVER), 0);
	CHECK_EQ(diag_count_class(&e.log, DIAG_CLASS_DEVICE), 0);
	CHECK_EQ(e.errors, 0);
	env_destroy(&e);
}

static void test_long_runs(void)
{
	const uint64_t ind = VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC);
	const uint64_t evi = VIRTIO_BIT(VIRTIO_F_EVENT_IDX);
	const uint64_t ino = VIRTIO_BIT(VIRTIO_F_IN_ORDER);

	long_run(3, evi, 70000, 1);
	long_run(4, ind | evi, 70000, 2);
	long_run(5, ino | evi, 70000, 3);
	long_run(1, evi, 70000, 4);
	long_run(100, ind | evi, 70000, 5);
	long_run(7, ind, 20000, 6);
	long_run(6, ino | ind, 20000, 7);
}

/* ---- hostile drivers ------------------------------------------------------ */

/* Pop expecting a guest error err with diagnostic code; the queue is broken
 * afterwards, nothing was consumed and the chain is empty. */
static void expect_pop_error(struct env *e, int err, enum diag_code code)
{
	struct vq_chain c;
	uint16_t next = e->vq.next_avail;
	bool wrap = e->vq.avail_wrap;
	unsigned errors = e->errors;

	CHECK_EQ(vq_pop(&e->vq, &c), err);
	CHECK_EQ(diag_count(&e->log, code), 1);
	CHECK_EQ(e->errors, errors + 1);
	CHECK_EQ(e->last_error, code);
	CHECK(e->vq.broken);
	CHECK_EQ(e->vq.next_avail, next);
	CHECK_EQ(e->vq.avail_wrap, wrap);
	CHECK_EQ(c.nsegs, 0);
	CHECK(c.heap == NULL);
	/* broken: nothing more is popped, and it is not reported again */
	CHECK_EQ(vq_pop(&e->vq, &c), -EIO);
	CHECK_EQ(diag_count(&e->log, code), 1);
}

static void test_hostile_loop(void)
{
	struct env e;
	struct tdrv td;

	/* every slot says NEXT: a list that never ends */
	setup(&e, &td, 4, 0);
	for (uint16_t i = 0; i < 4; i++)
		td_wdesc(&td, i, BUFS, 8, 0, F_AVAIL | F_NEXT);
	expect_pop_error(&e, -ELOOP, DIAG_VQ_LOOP);
	env_destroy(&e);

	/* the same, starting mid-ring, with correctly flipped wrap flags */
	setup(&e, &td, 4, 0);
	round_trip(&e, &td, 0, 0);
	round_trip(&e, &td, 1, 0);
	td_wdesc(&td, 3, BUFS, 8, 0, F_AVAIL | F_NEXT);
	td_wdesc(&td, 0, BUFS, 8, 0, F_USED | F_NEXT);
	td_wdesc(&td, 1, BUFS, 8, 0, F_USED | F_NEXT);
	td_wdesc(&td, 2, BUFS, 8, 0, F_AVAIL | F_NEXT);
	expect_pop_error(&e, -ELOOP, DIAG_VQ_LOOP);
	env_destroy(&e);

	/* a queue of one with NEXT on its only descriptor */
	setup(&e, &td, 1, 0);
	td_wdesc(&td, 0, BUFS, 8, 0, F_AVAIL | F_NEXT);
	expect_pop_error(&e, -ELOOP, DIAG_VQ_LOOP);
	env_destroy(&e);

	/* an overlong list on a queue big enough for the heap path */
	setup(&e, &td, 32, 0);
	for (uint16_t i = 0; i < 32; i++)
		td_wdesc(&td, i, BUFS + 0x10ull * i, 8, 0, F_AVAIL | F_NEXT);
	expect_pop_error(&e, -ELOOP, DIAG_VQ_LOOP);
	env_destroy(&e);
}

/* The head is available but a later descriptor of its list is not: the
 * driver published the head before the rest (2.8.17 forbids it). Decision:
 * a guest error (DIAG_VQ_NEXT_RANGE), not "try again later". */
static void test_hostile_partial(void)
{
	struct env e;
	struct tdrv td;

	setup(&e, &td, 4, 0);
	td_wdesc(&td, 0, BUFS, 8, 0, F_AVAIL | F_NEXT);
	td_wdesc(&td, 1, BUFS, 8, 0, 0); /* never made available */
	expect_pop_error(&e, -EINVAL, DIAG_VQ_NEXT_RANGE);
	env_destroy(&e);

	/* the second slot looks used, not available */
	setup(&e, &td, 4, 0);
	td_wdesc(&td, 0, BUFS, 8, 0, F_AVAIL | F_NEXT);
	td_wdesc(&td, 1, BUFS, 8, 0, F_AVAIL | F_USED);
	expect_pop_error(&e, -EINVAL, DIAG_VQ_NEXT_RANGE);
	env_destroy(&e);

	/* across the end: the driver forgot to flip its wrap counter */
	setup(&e, &td, 4, 0);
	for (uint16_t i = 0; i < 3; i++)
		round_trip(&e, &td, i, 0);
	td_wdesc(&td, 3, BUFS, 8, 0, F_AVAIL | F_NEXT);
	td_wdesc(&td, 0, BUFS, 8, 1, F_AVAIL); /* lap-1 flags in lap 0 */
	expect_pop_error(&e, -EINVAL, DIAG_VQ_NEXT_RANGE);
	env_destroy(&e);
}

static void test_hostile_indirect(void)
{
	const uint64_t ind = VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC);
	struct env e;
	struct tdrv td;

	/* INDIRECT without the feature */
	setup(&e, &td, 8, 0);
	td_wtable(&e.gm, TABLES, 0, BUFS, 8, 0);
	td_wdesc(&td, 0, TABLES, 16, 0, F_AVAIL | F_INDIRECT);
	expect_pop_error(&e, -EINVAL, DIAG_VQ_INDIRECT_FEATURE);
	env_destroy(&e);

	/* INDIRECT together with NEXT */
	setup(&e, &td, 8, ind);
	td_wtable(&e.gm, TABLES, 0, BUFS, 8, 0);
	td_wdesc(&td, 0, TABLES, 16, 0, F_AVAIL | F_INDIRECT | F_NEXT);
	td_wdesc(&td, 1, BUFS, 8, 0, F_AVAIL);
	expect_pop_error(&e, -EINVAL, DIAG_VQ_INDIRECT_NEXT);
	env_destroy(&e);

	/* INDIRECT as the last descriptor of a NEXT list */
	setup(&e, &td, 8, ind);
	td_wtable(&e.gm, TABLES, 0, BUFS, 8, 0);
	td_wdesc(&td, 0, BUFS, 8, 0x7777, F_AVAIL | F_NEXT);
	td_wdesc(&td, 1, TABLES, 16, 0, F_AVAIL | F_INDIRECT);
	expect_pop_error(&e, -EINVAL, DIAG_VQ_INDIRECT_NEXT);
	env_destroy(&e);

	/* an indirect descriptor inside the table */
	setup(&e, &td, 8, ind);
	td_wtable(&e.gm, TABLES, 0, BUFS, 8, 0);
	td_wtable(&e.gm, TABLES, 1, TABLES + 0x1000, 16, F_INDIRECT);
	td_wdesc(&td, 0, TABLES, 32, 0, F_AVAIL | F_INDIRECT);
	expect_pop_error(&e, -EINVAL, DIAG_VQ_INDIRECT_NESTED);
	env_destroy(&e);

	/* table lengths: 0, not a multiple of 16, more than num entries */
	{
		const uint32_t bad[] = { 0, 24, 8, 9 * 16, 0xfffffff0u };

		for (unsigned i = 0; i < RS_ARRAY_SIZE(bad); i++) {
			setup(&e, &td, 8, ind);
			td_wdesc(&td, 0, TABLES, bad[i], 0, F_AVAIL | F_INDIRECT);
			expect_pop_error(&e, -EINVAL, DIAG_VQ_INDIRECT_LEN);
			env_destroy(&e);
		}
	}

	/* table not wholly in RAM: past the end, in the MMIO hole, wrapping */
	{
		const uint64_t where[] = { RAM_SIZE - 16, MMIO_BASE, UINT64_MAX - 15 };

		for (unsigned i = 0; i < RS_ARRAY_SIZE(where); i++) {
			setup(&e, &td, 8, ind);
			td_wdesc(&td, 0, where[i], 32, 0, F_AVAIL | F_INDIRECT);
			expect_pop_error(&e, -EINVAL, DIAG_VQ_DESC_ADDR);
			env_destroy(&e);
		}
	}

	/* an entry's buffer outside RAM (reported by the chain builder) */
	setup(&e, &td, 8, ind);
	td_wtable(&e.gm, TABLES, 0, BUFS, 8, 0);
	td_wtable(&e.gm, TABLES, 1, RAM_SIZE - 4, 8, F_WRITE);
	td_wdesc(&td, 0, TABLES, 32, 0, F_AVAIL | F_INDIRECT);
	expect_pop_error(&e, -EINVAL, DIAG_VQ_DESC_ADDR);
	env_destroy(&e);

	/* readable entry after a writable one */
	setup(&e, &td, 8, ind);
	td_wtable(&e.gm, TABLES, 0, BUFS, 8, F_WRITE);
	td_wtable(&e.gm, TABLES, 1, BUFS, 8, 0);
	td_wdesc(&td, 0, TABLES, 32, 0, F_AVAIL | F_INDIRECT);
	expect_pop_error(&e, -EINVAL, DIAG_VQ_WRITE_ORDER);
	env_destroy(&e);

	/* a full table of 32 entries that fails at the last one: the heap
	 * segments are released (LeakSanitizer watches) */
	setup(&e, &td, 32, ind);
	for (unsigned i = 0; i < 31; i++)
		td_wtable(&e.gm, TABLES, i, BUFS, 8, 0);
	td_wtable(&e.gm, TABLES, 31, MMIO_BASE, 8, 0);
	td_wdesc(&td, 0, TABLES, 32 * 16, 0, F_AVAIL | F_INDIRECT);
	expect_pop_error(&e, -EINVAL, DIAG_VQ_DESC_ADDR);
	env_destroy(&e);
}

static void test_hostile_ids(void)
{
	struct env e;
	struct tdrv td;
	struct vq_chain c;

	/* id == num and id 0xffff */
	setup(&e, &td, 4, 0);
	td_wdesc(&td, 0, BUFS, 8, 4, F_AVAIL);
	expect_pop_error(&e, -EINVAL, DIAG_VQ_BUFFER_ID);
	env_destroy(&e);
	setup(&e, &td, 4, 0);
	td_wdesc(&td, 0, BUFS, 8, 0xffff, F_AVAIL);
	expect_pop_error(&e, -EINVAL, DIAG_VQ_BUFFER_ID);
	env_destroy(&e);

	/* the id of the last descriptor counts: a bad id on a middle one is
	 * ignored, a bad one on the last is not */
	setup(&e, &td, 4, 0);
	td_wdesc(&td, 0, BUFS, 8, 0xffff, F_AVAIL | F_NEXT);
	td_wdesc(&td, 1, BUFS, 8, 3, F_AVAIL);
	CHECK_EQ(vq_pop(&e.vq, &c), 1);
	CHECK_EQ(c.id, 3);
	vq_chain_release(&c);
	td_wdesc(&td, 2, BUFS, 8, 1, F_AVAIL | F_NEXT);
	td_wdesc(&td, 3, BUFS, 8, 9, F_AVAIL);
	expect_pop_error(&e, -EINVAL, DIAG_VQ_BUFFER_ID);
	env_destroy(&e);

	/* an id still in flight */
	setup(&e, &td, 4, 0);
	td_add1(&td, 2, 8, false);
	td_add1(&td, 2, 8, false);
	CHECK_EQ(vq_pop(&e.vq, &c), 1);
	CHECK_EQ(c.id, 2);
	expect_pop_error(&e, -EINVAL, DIAG_VQ_BUFFER_ID);
	CHECK_EQ(e.vq.next_avail, 1);
	vq_chain_release(&c);
	env_destroy(&e);
}

static void test_hostile_buffers(void)
{
	struct env e;
	struct tdrv td;

	/* buffer past the end of RAM */
	setup(&e, &td, 4, 0);
	td_wdesc(&td, 0, RAM_SIZE - 8, 16, 0, F_AVAIL);
	expect_pop_error(&e, -EINVAL, DIAG_VQ_DESC_ADDR);
	env_destroy(&e);

	/* buffer in the MMIO hole, as the second descriptor of a list */
	setup(&e, &td, 4, 0);
	td_wdesc(&td, 0, BUFS, 16, 0x7777, F_AVAIL | F_NEXT);
	td_wdesc(&td, 1, MMIO_BASE, 16, 0, F_AVAIL | F_WRITE);
	expect_pop_error(&e, -EINVAL, DIAG_VQ_DESC_ADDR);
	env_destroy(&e);

	/* readable after writable */
	setup(&e, &td, 4, 0);
	td_wdesc(&td, 0, BUFS, 16, 0x7777, F_AVAIL | F_NEXT | F_WRITE);
	td_wdesc(&td, 1, BUFS, 16, 0, F_AVAIL);
	expect_pop_error(&e, -EINVAL, DIAG_VQ_WRITE_ORDER);
	env_destroy(&e);

	/* a long list failing late: heap segments released */
	setup(&e, &td, 64, 0);
	for (uint16_t i = 0; i < 30; i++)
		td_wdesc(&td, i, BUFS, 16, 0, F_AVAIL | F_NEXT);
	td_wdesc(&td, 30, UINT64_MAX - 7, 16, 0, F_AVAIL);
	expect_pop_error(&e, -EINVAL, DIAG_VQ_DESC_ADDR);
	env_destroy(&e);
}

/* Readable lengths summing past 2^32 - 1; needs 2 GiB of (lazily backed) RAM. */
static void test_hostile_overflow(void)
{
	struct env e;
	struct tdrv td;
	struct vq_config cfg = packed_cfg(4, 0);

	memset(&e, 0, sizeof(e));
	gm_init(&e.gm);
	if (gm_add_ram(&e.gm, 0, 2ull << 30, NULL, "big") != 0) {
		gm_destroy(&e.gm);
		printf("  (skipped: no 2 GiB arena)\n");
		return;
	}
	diag_init(&e.log, "vqp");
	vq_init(&e.vq, &e.gm, &e.log, 0, on_error, &e);
	td_init(&td, &e.gm, 4);
	CHECK_EQ(vq_setup(&e.vq, &cfg), 0);
	td_wdesc(&td, 0, 0, 0x80000000u, 0x7777, F_AVAIL | F_NEXT);
	td_wdesc(&td, 1, 0, 0x80000000u, 0, F_AVAIL);
	expect_pop_error(&e, -EOVERFLOW, DIAG_VQ_LEN_OVERFLOW);
	env_destroy(&e);
}

/* ---- ring memory the arena refuses --------------------------------------- */

/* A source over plain memory that fails accesses touching [lo, hi). */
struct fail_src {
	uint64_t lo, hi;
	bool reads, writes;
};

static bool fail_hit(const struct fail_src *f, uint64_t gpa, size_t len)
{
	return gpa < f->hi && gpa + len > f->lo;
}

static int fail_read(void *ctx, struct gm *gm, uint64_t gpa, uint8_t *host, void *dst,
		     size_t len)
{
	struct fail_src *f = ctx;

	(void)gm;
	if (f->reads && fail_hit(f, gpa, len))
		return -EIO;
	memcpy(dst, host, len);
	return 0;
}

static int fail_write(void *ctx, struct gm *gm, uint64_t gpa, uint8_t *host, const void *src,
		      size_t len)
{
	struct fail_src *f = ctx;

	(void)gm;
	if (f->writes && fail_hit(f, gpa, len))
		return -EIO;
	memcpy(host, src, len);
	return 0;
}

static const struct gm_source_ops fail_ops = {
	.name = "fail",
	.read = fail_read,
	.write = fail_write,
};

static void arm_fail(struct env *e, struct fail_src *f, uint64_t lo, uint64_t hi, bool reads,
		     bool writes)
{
	*f = (struct fail_src){ lo, hi, reads, writes };
	gm_set_source(&e->gm, &fail_ops, f);
}

static void expect_broken_by_fault(struct env *e)
{
	CHECK_EQ(diag_count(&e->log, DIAG_VQ_RING_ADDR), 1);
	CHECK(e->vq.broken);
	CHECK_EQ(e->errors, 1);
	CHECK_EQ(e->last_error, DIAG_VQ_RING_ADDR);
}

static void test_ring_faults(void)
{
	const uint64_t ind = VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC);
	struct env e;
	struct tdrv td;
	struct fail_src f;
	struct vq_chain c;
	const struct tbuf two[2] = { { BUFS, 8, false }, { BUFS + 0x100, 8, true } };

	/* the head's flags */
	setup(&e, &td, 4, 0);
	td_add1(&td, 0, 8, false);
	arm_fail(&e, &f, RING + 14, RING + 16, true, false);
	expect_pop_error(&e, -EFAULT, DIAG_VQ_RING_ADDR);
	env_destroy(&e);

	/* the rest of the head (flags readable) */
	setup(&e, &td, 4, 0);
	td_add1(&td, 0, 8, false);
	arm_fail(&e, &f, RING, RING + 1, true, false);
	expect_pop_error(&e, -EFAULT, DIAG_VQ_RING_ADDR);
	env_destroy(&e);

	/* the second descriptor of a list */
	setup(&e, &td, 4, 0);
	td_add(&td, two, 2, 0);
	arm_fail(&e, &f, RING + 16, RING + 17, true, false);
	expect_pop_error(&e, -EFAULT, DIAG_VQ_RING_ADDR);
	env_destroy(&e);

	/* an indirect table entry */
	setup(&e, &td, 4, ind);
	td_add_indirect(&td, two, 2, 1);
	arm_fail(&e, &f, TABLES + 0x1000 + 16, TABLES + 0x1000 + 17, true, false);
	expect_pop_error(&e, -EFAULT, DIAG_VQ_RING_ADDR);
	env_destroy(&e);

	/* pushing: the id/len store, then the flags store */
	for (unsigned which = 0; which < 2; which++) {
		setup(&e, &td, 4, 0);
		td_add1(&td, 0, 8, true);
		CHECK_EQ(vq_pop(&e.vq, &c), 1);
		if (which == 0)
			arm_fail(&e, &f, RING + 8, RING + 9, false, true);
		else
			arm_fail(&e, &f, RING + 14, RING + 16, false, true);
		CHECK_EQ(vq_push(&e.vq, &c, 8), -EFAULT);
		expect_broken_by_fault(&e);
		env_destroy(&e);
	}

	/* the driver event area: notify anyway */
	setup(&e, &td, 4, 0);
	td_set_event(&td, VIRTQ_EVENT_F_DISABLE, 0, true);
	arm_fail(&e, &f, DRV_EV, DRV_EV + 4, true, false);
	CHECK(vq_should_notify(&e.vq));
	expect_broken_by_fault(&e);
	env_destroy(&e);

	/* the device event area */
	setup(&e, &td, 4, 0);
	td_add1(&td, 0, 8, false);
	arm_fail(&e, &f, DEV_EV, DEV_EV + 4, false, true);
	CHECK(!vq_set_notify(&e.vq, true));
	expect_broken_by_fault(&e);
	env_destroy(&e);

	/* pending: the flags at next_avail */
	setup(&e, &td, 4, 0);
	td_add1(&td, 0, 8, false);
	arm_fail(&e, &f, RING + 14, RING + 16, true, false);
	CHECK(!vq_pending(&e.vq));
	expect_broken_by_fault(&e);
	env_destroy(&e);

	/* a working source passes everything through */
	setup(&e, &td, 4, 0);
	arm_fail(&e, &f, 0, 0, true, true);
	round_trip(&e, &td, 3, 4);
	CHECK(!e.vq.broken);
	env_destroy(&e);
}

/* ---- event suppression ---------------------------------------------------- */

/* Used buffer notifications: the driver event suppression structure. */
static void test_should_notify(void)
{
	const uint64_t evi = VIRTIO_BIT(VIRTIO_F_EVENT_IDX);
	struct env e;
	struct tdrv td;

	/* ENABLE / DISABLE / reserved 3 / DESC without EVENT_IDX */
	setup(&e, &td, 4, 0);
	round_trip(&e, &td, 0, 0);
	CHECK(vq_should_notify(&e.vq));
	td_set_event(&td, VIRTQ_EVENT_F_DISABLE, 0, true);
	round_trip(&e, &td, 0, 0);
	CHECK(!vq_should_notify(&e.vq));
	td_set_event(&td, 3, 0, true);
	round_trip(&e, &td, 0, 0);
	CHECK(vq_should_notify(&e.vq));
	td_set_event(&td, VIRTQ_EVENT_F_DESC, 3, false); /* not negotiated: ENABLE */
	round_trip(&e, &td, 0, 0);
	CHECK(vq_should_notify(&e.vq));
	/* reserved flag bits above the two low ones are ignored */
	td_set_event(&td, 0xfffc | VIRTQ_EVENT_F_DISABLE, 0, true);
	round_trip(&e, &td, 0, 0);
	CHECK(!vq_should_notify(&e.vq));
	env_destroy(&e);

	/* DESC with EVENT_IDX: interrupt exactly when (off, wrap) is used */
	setup(&e, &td, 4, evi);
	td_set_event(&td, VIRTQ_EVENT_F_DESC, 2, true);
	/* no earlier decision: interrupt */
	CHECK(vq_should_notify(&e.vq));
	/* nothing used since the last decision */
	CHECK(!vq_should_notify(&e.vq));
	round_trip(&e, &td, 0, 0); /* slot 0, lap 1 */
	CHECK(!vq_should_notify(&e.vq));
	round_trip(&e, &td, 0, 0); /* slot 1 */
	CHECK(!vq_should_notify(&e.vq));
	round_trip(&e, &td, 0, 0); /* slot 2, lap 1: the event */
	CHECK(vq_should_notify(&e.vq));
	round_trip(&e, &td, 0, 0); /* slot 3 */
	CHECK(!vq_should_notify(&e.vq));
	/* lap 0: slot 2 again, but with the other wrap counter */
	for (unsigned i = 0; i < 4; i++) {
		round_trip(&e, &td, 0, 0);
		CHECK(!vq_should_notify(&e.vq));
	}
	/* lap 1 again: slot 2 matches */
	round_trip(&e, &td, 0, 0);
	round_trip(&e, &td, 0, 0);
	CHECK(!vq_should_notify(&e.vq));
	round_trip(&e, &td, 0, 0);
	CHECK(vq_should_notify(&e.vq));
	CHECK_EQ(e.vq.next_used, 3);
	CHECK(e.vq.used_wrap);

	/* several completions between decisions: crossing counts, across the
	 * end of the ring too. Event at (1, lap 0); used goes 3 -> 6. */
	td_set_event(&td, VIRTQ_EVENT_F_DESC, 1, false);
	{
		struct vq_chain ch[3];

		for (uint16_t i = 0; i < 3; i++)
			td_add1(&td, i, 8, true);
		for (unsigned i = 0; i < 3; i++)
			CHECK_EQ(vq_pop(&e.vq, &ch[i]), 1);
		for (unsigned i = 0; i < 3; i++)
			CHECK_EQ(vq_push(&e.vq, &ch[i], 1), 0);
		CHECK(vq_should_notify(&e.vq));
		for (unsigned i = 0; i < 3; i++) {
			uint16_t id, flags;
			uint32_t len;

			CHECK_EQ(td_get_used(&td, &id, &len, &flags), 1);
		}
	}
	/* the event just behind the used position: already passed, no interrupt */
	td_set_event(&td, VIRTQ_EVENT_F_DESC, 1, false); /* used is now (2, lap 0) */
	round_trip(&e, &td, 0, 0);
	CHECK(!vq_should_notify(&e.vq));
	/* an offset that names no slot: interrupt (treated as ENABLE) */
	td_set_event(&td, VIRTQ_EVENT_F_DESC, 4, true);
	round_trip(&e, &td, 0, 0);
	CHECK(vq_should_notify(&e.vq));
	td_set_event(&td, VIRTQ_EVENT_F_DESC, 0x7fff, false);
	CHECK(vq_should_notify(&e.vq));
	/* DISABLE and ENABLE work with EVENT_IDX too */
	td_set_event(&td, VIRTQ_EVENT_F_DISABLE, 0, true);
	round_trip(&e, &td, 0, 0);
	CHECK(!vq_should_notify(&e.vq));
	td_set_event(&td, VIRTQ_EVENT_F_ENABLE, 0, true);
	CHECK(vq_should_notify(&e.vq)); /* ENABLE: even with nothing new */
	CHECK_EQ(diag_count_class(&e.log, DIAG_CLASS_DRIVER), 0);
	env_destroy(&e);
}

/* Available buffer notifications: the device event suppression structure. */
static void test_set_notify(void)
{
	const uint64_t evi = VIRTIO_BIT(VIRTIO_F_EVENT_IDX);
	struct env e;
	struct tdrv td;
	struct vq_chain c;
	uint16_t off_wrap, flags;

	setup(&e, &td, 4, 0);
	CHECK(!vq_set_notify(&e.vq, false));
	td_dev_event(&td, &off_wrap, &flags);
	CHECK_EQ(flags, VIRTQ_EVENT_F_DISABLE);
	CHECK(!vq_set_notify(&e.vq, true));
	td_dev_event(&td, &off_wrap, &flags);
	CHECK_EQ(flags, VIRTQ_EVENT_F_ENABLE);
	/* something available and not popped: reported on enabling */
	td_add1(&td, 0, 8, false);
	CHECK(vq_set_notify(&e.vq, true));
	CHECK(!vq_set_notify(&e.vq, false)); /* only enabling reports it */
	CHECK(vq_pending(&e.vq));
	CHECK_EQ(vq_pop(&e.vq, &c), 1);
	CHECK(!vq_set_notify(&e.vq, true));
	vq_chain_release(&c);
	env_destroy(&e);

	/* EVENT_IDX: DESC naming the next descriptor we will look at */
	setup(&e, &td, 4, evi);
	CHECK(!vq_set_notify(&e.vq, true));
	td_dev_event(&td, &off_wrap, &flags);
	CHECK_EQ(flags, VIRTQ_EVENT_F_DESC);
	CHECK_EQ(off_wrap, 0x8000); /* slot 0, wrap 1 */
	for (unsigned i = 0; i < 5; i++)
		round_trip(&e, &td, 1, 0);
	CHECK(!vq_set_notify(&e.vq, true));
	td_dev_event(&td, &off_wrap, &flags);
	CHECK_EQ(flags, VIRTQ_EVENT_F_DESC);
	CHECK_EQ(off_wrap, 1); /* slot 1, wrap 0 */
	CHECK(!vq_set_notify(&e.vq, false));
	td_dev_event(&td, &off_wrap, &flags);
	CHECK_EQ(flags, VIRTQ_EVENT_F_DISABLE);
	for (unsigned i = 0; i < 4; i++)
		round_trip(&e, &td, 1, 0);
	td_add1(&td, 2, 8, false);
	CHECK(vq_set_notify(&e.vq, true));
	td_dev_event(&td, &off_wrap, &flags);
	CHECK_EQ(off_wrap, 0x8001); /* slot 1, wrap 1 */
	env_destroy(&e);
}

static void test_pending(void)
{
	struct env e;
	struct tdrv td;
	struct vq_chain c;

	setup(&e, &td, 3, 0);
	CHECK(!vq_pending(&e.vq));
	/* a used-looking or half-flagged descriptor is not available */
	td_wdesc(&td, 0, BUFS, 8, 0, F_AVAIL | F_USED);
	CHECK(!vq_pending(&e.vq));
	td_wdesc(&td, 0, BUFS, 8, 0, F_USED);
	CHECK(!vq_pending(&e.vq));
	CHECK_EQ(vq_pop(&e.vq, &c), 0);
	td_wdesc(&td, 0, BUFS, 8, 0, F_AVAIL);
	CHECK(vq_pending(&e.vq));
	CHECK_EQ(vq_pop(&e.vq, &c), 1);
	CHECK(!vq_pending(&e.vq));
	vq_chain_release(&c);
	CHECK_EQ(diag_count_class(&e.log, DIAG_CLASS_DRIVER), 0);
	env_destroy(&e);
}

int main(void)
{
	RUN(test_setup);
	RUN(test_single);
	RUN(test_chain);
	RUN(test_wrap_chain);
	RUN(test_indirect);
	RUN(test_long_chain);
	RUN(test_id_reuse);
	RUN(test_out_of_order);
	RUN(test_in_order_batch);
	RUN(test_long_runs);
	RUN(test_hostile_loop);
	RUN(test_hostile_partial);
	RUN(test_hostile_indirect);
	RUN(test_hostile_ids);
	RUN(test_hostile_buffers);
	RUN(test_hostile_overflow);
	RUN(test_ring_faults);
	RUN(test_should_notify);
	RUN(test_set_notify);
	RUN(test_pending);
	return check_done();
}
