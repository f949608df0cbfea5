/*
 * ringside — "balloon", the traditional virtio memory balloon (virtio-v1.2
 * 5.5; ringside/balloon.h, docs/devices/balloon.md).
 *
 * Shape: ops table, config layout, request handling per queue role, host
 * events. No backend: the pages go back to the host through the arena
 * (gm_discard), so nothing here needs the world but its events.
 *
 * Every PFN the guest sends is checked: inside a RAM region of the arena,
 * not already in (inflate) or in (deflate) the balloon; an array with a
 * partial trailing entry, in a device-writable buffer or longer than
 * BALLOON_MAX_PFNS entries is reported (DIAG_BALLOON_PFN, once per chain
 * and kind) and the bad entries are skipped. Every chain is completed with
 * used length 0 (the device writes nothing; 5.5.6.2.1 legacy drivers ignore
 * it anyway) and the device goes on with the next one.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringside/balloon.h"
#include "ringside/vdev.h"
#include "../devices.h"

#define PAGE_SIZE_4K (1ull << VIRTIO_BALLOON_PFN_SHIFT)
#define PFN_CHUNK 256 /* entries read from the guest at a time */

/* What went wrong in one inflate/deflate chain, reported once per kind. */
struct pfn_faults {
	uint32_t range, dup, absent, first_range, first_dup, first_absent;
};

/* A run of consecutive inflated pages in one RAM region, discarded at once. */
struct discard_run {
	const struct gm_region *r;
	uint64_t gpa, len;
};

struct balloon {
	/* options */
	bool discard_hints;
	/* host-owned: survives device reset */
	uint32_t num_pages;
	uint32_t num_pages0;      /* num_pages right after create (host_reset) */
	/* pages in the balloon: one bit per arena RAM page (gm page index) */
	uint64_t *bitmap;
	uint64_t nbits;
	uint64_t pfn_hash;        /* XOR of a mix of every inflated page index */
	/* stats queue */
	bool stats_held;
	bool stats_seen;          /* a stats buffer arrived since reset (legacy: ignore the first) */
	struct vq_chain stats_chain;
	/* free page hinting */
	uint32_t hint_next_id;
	/* what balloon_status() shows (num_pages, actual... mirror config) */
	struct balloon_status st;
};

/* --- config layout --------------------------------------------------------------------- */

static const struct vdev_cfg_field balloon_cfg_fields[] = {
	{ BALLOON_CFG_NUM_PAGES, 4, 0 },
	{ BALLOON_CFG_ACTUAL, 4, 1 },
	{ BALLOON_CFG_HINT_CMD_ID, 4, 0 },
	{ BALLOON_CFG_POISON_VAL, 4, 1 },
};

static struct balloon *balloon_of(const struct vdev *d)
{
	return d && d->ops == &balloon_ops ? d->priv : NULL;
}

/* Rewrite the config space from the device state. */
static void balloon_fill_config(struct vdev *d)
{
	struct balloon *b = d->priv;

	rs_st32(d->config + BALLOON_CFG_NUM_PAGES, b->num_pages);
	rs_st32(d->config + BALLOON_CFG_ACTUAL, b->st.actual);
	rs_st32(d->config + BALLOON_CFG_HINT_CMD_ID, b->st.hint_cmd_id);
	rs_st32(d->config + BALLOON_CFG_POISON_VAL, b->st.poison_val);
}

/* The driver wrote actual or poison_val (virtio-v1.2 5.5.6: actual after
 * inflating/deflating; 5.5.6.5.1: poison_val before DRIVER_OK, never while it
 * is set). Legacy drivers write actual byte by byte (5.5.6.2.1); the value is
 * taken after every byte, which only the host's view of it can notice. */
static void balloon_config_write(struct vdev *d, uint32_t off, uint32_t len)
{
	struct balloon *b = d->priv;
	uint32_t val = rs_le32(d->config + off);

	if (off == BALLOON_CFG_ACTUAL) {
		b->st.actual = val;
		return;
	}
	if (d->status & VIRTIO_STATUS_DRIVER_OK) {
		diag_report(&d->log, DIAG_CONFIG_READONLY,
			    "poison_val written while DRIVER_OK (5.5.6.5.1); kept 0x%x",
			    b->st.poison_val);
		rs_st32(d->config + BALLOON_CFG_POISON_VAL, b->st.poison_val);
		return;
	}
	b->st.poison_val = val;
}

/* --- queue roles ------------------------------------------------------------------------ */

int balloon_queue_index(uint64_t features, enum balloon_queue role)
{
	int idx = 2;

	switch (role) {
	case BALLOON_VQ_INFLATE:
	case BALLOON_VQ_DEFLATE:
		return (int)role;
	case BALLOON_VQ_STATS:
		return features & VIRTIO_BIT(VIRTIO_BALLOON_F_STATS_VQ) ? idx : -1;
	case BALLOON_VQ_FREE_PAGE:
		if (features & VIRTIO_BIT(VIRTIO_BALLOON_F_STATS_VQ))
			idx++;
		return features & VIRTIO_BIT(VIRTIO_BALLOON_F_FREE_PAGE_HINT) ? idx : -1;
	}
	return -1;
}

/* Role of queue q under the negotiated features, or -1 for none. */
static int balloon_role(const struct vdev *d, unsigned q)
{
	for (int role = BALLOON_VQ_INFLATE; role <= BALLOON_VQ_FREE_PAGE; role++)
		if (balloon_queue_index(d->driver_features, (enum balloon_queue)role) == (int)q)
			return role;
	return -1;
}

/* --- inflate / deflate -------------------------------------------------------------------- */

/* A well-mixed 64-bit value of a page index, for the XOR set hash. */
static uint64_t balloon_mix(uint64_t x)
{
	x = (x + 1) * 0x9e3779b97f4a7c15ull;
	x ^= x >> 31;
	x *= 0xbf58476d1ce4e5b9ull;
	return x ^ (x >> 29);
}

/* Discard the pending run, if any. gm_discard cannot fail on a run that lies
 * in one RAM region; if it does, that is our bug. */
static void balloon_flush_run(struct vdev *d, struct discard_run *run)
{
	if (!run->len)
		return;
	if (gm_discard(d->gm, run->gpa, run->len) < 0)
		diag_report(&d->log, DIAG_DEVICE_ERROR, "balloon: discard of %llu bytes at 0x%llx failed",
			    (unsigned long long)run->len, (unsigned long long)run->gpa);
	run->len = 0;
}

/* Add the page at gpa (in region r) to the run, flushing when it does not
 * extend it. */
static void balloon_discard_page(struct vdev *d, struct discard_run *run,
				 const struct gm_region *r, uint64_t gpa)
{
	if (run->len && run->r == r && run->gpa + run->len == gpa) {
		run->len += PAGE_SIZE_4K;
		return;
	}
	balloon_flush_run(d, run);
	run->r = r;
	run->gpa = gpa;
	run->len = PAGE_SIZE_4K;
}

/* Bitmap index of pfn, with its region in *rp; false when the page is not
 * wholly inside one RAM region the bitmap covers. */
static bool balloon_page_index(struct gm *gm, const struct balloon *b, uint64_t pfn,
			       const struct gm_region **rp, uint64_t *idx)
{
	uint64_t gpa = pfn << VIRTIO_BALLOON_PFN_SHIFT; /* pfn < 2^32: no overflow */
	const struct gm_region *r = gm_lookup(gm, gpa, PAGE_SIZE_4K);

	if (!r || r->kind != GM_RAM)
		return false;
	*idx = r->page_base + ((gpa - r->gpa) >> VIRTIO_BALLOON_PFN_SHIFT);
	*rp = r;
	return *idx < b->nbits;
}

static bool bit_test(const uint64_t *bm, uint64_t i)
{
	return (bm[i / 64] >> (i % 64)) & 1;
}

/* One PFN entry of an inflate (or deflate) array. */
static void balloon_one_pfn(struct vdev *d, uint32_t pfn, bool inflate, struct pfn_faults *f,
			    struct discard_run *run)
{
	struct balloon *b = d->priv;
	const struct gm_region *r;
	uint64_t idx;

	if (!balloon_page_index(d->gm, b, pfn, &r, &idx)) {
		if (!f->range++)
			f->first_range = pfn;
		return;
	}
	if (bit_test(b->bitmap, idx) == inflate) {
		if (inflate && !f->dup++)
			f->first_dup = pfn;
		if (!inflate && !f->absent++)
			f->first_absent = pfn;
		return;
	}
	b->bitmap[idx / 64] ^= 1ull << (idx % 64);
	b->pfn_hash ^= balloon_mix(idx);
	if (inflate) {
		b->st.inflated++;
		b->st.pages_inflated++;
		/* 5.5.6.1: the device may change a page once it saw it inflated */
		balloon_discard_page(d, run, r, (uint64_t)pfn << VIRTIO_BALLOON_PFN_SHIFT);
	} else {
		b->st.inflated--;
		b->st.pages_deflated++;
	}
}

/* Report what one chain got wrong, once per kind. */
static void balloon_pfn_report(struct vdev *d, const struct pfn_faults *f, const char *q)
{
	struct balloon *b = d->priv;

	b->st.bad_entries += (uint64_t)f->range + f->dup + f->absent;
	if (f->range)
		diag_report(&d->log, DIAG_BALLOON_PFN,
			    "%s: %u PFN(s) outside guest RAM (first 0x%x); skipped", q, f->range,
			    f->first_range);
	if (f->dup)
		diag_report(&d->log, DIAG_BALLOON_PFN,
			    "%s: %u PFN(s) already in the balloon (first 0x%x); skipped", q, f->dup,
			    f->first_dup);
	if (f->absent)
		diag_report(&d->log, DIAG_BALLOON_PFN,
			    "%s: %u PFN(s) not in the balloon (first 0x%x); skipped", q, f->absent,
			    f->first_absent);
}

/*
 * An inflate or deflate chain: its readable part is an array of le32 PFNs
 * (virtio-v1.2 5.5.6; legacy: guest-endian, little-endian here). Writable
 * segments are reported and ignored; a partial trailing entry and entries
 * beyond BALLOON_MAX_PFNS are reported and skipped.
 */
static void balloon_pfn_chain(struct vdev *d, const struct vq_chain *c, bool inflate)
{
	const char *q = inflate ? "inflateq" : "deflateq";
	struct balloon *b = d->priv;
	struct pfn_faults f = { 0 };
	struct discard_run run = { 0 };
	uint8_t buf[PFN_CHUNK * 4];
	struct vq_cursor cur;
	uint32_t n = c->read_len / 4, left;

	if (c->write_len)
		diag_report(&d->log, DIAG_BALLOON_PFN,
			    "%s: chain has %u device-writable bytes (PFN arrays are device-readable); "
			    "ignored", q, c->write_len);
	if (c->read_len % 4)
		diag_report(&d->log, DIAG_BALLOON_PFN,
			    "%s: %u bytes is not a whole number of 4-byte PFNs; %u trailing byte(s) "
			    "skipped", q, c->read_len, c->read_len % 4);
	if (n > BALLOON_MAX_PFNS) {
		diag_report(&d->log, DIAG_BALLOON_PFN,
			    "%s: %u PFNs in one chain, at most %u are taken; the rest skipped", q, n,
			    BALLOON_MAX_PFNS);
		b->st.bad_entries += n - BALLOON_MAX_PFNS;
		n = BALLOON_MAX_PFNS;
	}
	vq_cursor_init_read(&cur, d->gm, c);
	/* Bounded: at most BALLOON_MAX_PFNS entries, PFN_CHUNK per pass. */
	for (left = n; left;) {
		uint32_t want = RS_MIN(left, (uint32_t)PFN_CHUNK);
		size_t got = vq_cursor_read(&cur, buf, (size_t)want * 4) / 4;

		for (size_t i = 0; i < got; i++)
			balloon_one_pfn(d, rs_le32(buf + 4 * i), inflate, &f, &run);
		if (got < want)
			break; /* the arena refused (reported by gm) */
		left -= want;
	}
	balloon_flush_run(d, &run);
	balloon_pfn_report(d, &f, q);
}

/* --- statistics -------------------------------------------------------------------------- */

/* Consume one stats buffer (virtio-v1.2 5.5.6.3): 10-byte { le16 tag; le64
 * val } entries; unknown tags are ignored (5.5.6.3.2), a partial entry,
 * writable bytes and entries beyond BALLOON_MAX_STATS are reported. */
static void balloon_stats_consume(struct vdev *d, const struct vq_chain *c)
{
	struct balloon *b = d->priv;
	uint8_t e[BALLOON_STAT_SIZE];
	struct vq_cursor cur;
	uint32_t n = c->read_len / BALLOON_STAT_SIZE;

	if (c->write_len)
		diag_report(&d->log, DIAG_BALLOON_STATS,
			    "stats buffer has %u device-writable bytes; ignored", c->write_len);
	if (c->read_len % BALLOON_STAT_SIZE)
		diag_report(&d->log, DIAG_BALLOON_STATS,
			    "stats buffer of %u bytes ends in a partial %u-byte entry; skipped",
			    c->read_len, BALLOON_STAT_SIZE);
	if (n > BALLOON_MAX_STATS) {
		diag_report(&d->log, DIAG_BALLOON_STATS,
			    "%u stats entries, at most %u are taken", n, BALLOON_MAX_STATS);
		n = BALLOON_MAX_STATS;
	}
	/* 5.5.6.3.3: legacy devices ignore the first buffer (historically
	 * uninitialised). */
	if (d->legacy && !b->stats_seen) {
		b->stats_seen = true;
		return;
	}
	b->stats_seen = true;
	vq_cursor_init_read(&cur, d->gm, c);
	for (uint32_t i = 0; i < n; i++) {
		uint16_t tag;

		if (vq_cursor_read(&cur, e, sizeof e) != sizeof e)
			break;
		tag = rs_le16(e);
		if (tag >= BALLOON_S_NR)
			continue;
		b->st.stats[tag] = rs_le64(e + 2);
		b->st.stats_valid |= 1u << tag;
	}
	b->st.stats_updates++;
}

/* Give the held stats buffer back (used length 0): the driver refills it. */
static bool balloon_stats_return(struct vdev *d, unsigned q)
{
	struct balloon *b = d->priv;

	if (!b->stats_held)
		return false;
	b->stats_held = false;
	(void)vq_push(&d->queues[q].vq, &b->stats_chain, 0);
	return true;
}

/* statsq: consume each buffer and keep the newest; the driver must keep at
 * most one outstanding (5.5.6.3.1), so an older one still held is reported
 * and returned. */
static void balloon_stats_notify(struct vdev *d, unsigned q)
{
	struct balloon *b = d->priv;
	struct vq_chain c;
	bool pushed = false;

	/* Bounded: each pop consumes an avail entry; the engine caps them. */
	while (vq_pop(&d->queues[q].vq, &c) > 0) {
		if (b->stats_held) {
			diag_report(&d->log, DIAG_BALLOON_STATS,
				    "second stats buffer while one is outstanding; the older returned");
			pushed |= balloon_stats_return(d, q);
		}
		balloon_stats_consume(d, &c);
		b->stats_chain = c;
		b->stats_held = true;
	}
	if (pushed)
		vdev_queue_interrupt(d, q);
}

/* --- free page hinting ------------------------------------------------------------------- */

/* Discard the whole 4 KiB pages of one hinted range [gpa, gpa+len). */
static void balloon_hint_range(struct vdev *d, uint64_t gpa, uint32_t len, bool *misaligned)
{
	struct balloon *b = d->priv;
	uint64_t start, end;

	if (!gm_range_ok(d->gm, gpa, len)) {
		diag_report(&d->log, DIAG_BALLOON_HINT,
			    "hinted range of %u bytes at 0x%llx is not inside guest RAM; ignored", len,
			    (unsigned long long)gpa);
		return;
	}
	/* Inside RAM, so gpa + len does not wrap and rounding up stays below it
	 * or lands on its end. */
	start = (gpa + PAGE_SIZE_4K - 1) & ~(PAGE_SIZE_4K - 1);
	end = (gpa + len) & ~(PAGE_SIZE_4K - 1);
	if (start != gpa || end != gpa + len)
		*misaligned = true;
	if (end <= start)
		return;
	if (b->discard_hints && gm_discard(d->gm, start, end - start) < 0)
		diag_report(&d->log, DIAG_DEVICE_ERROR, "balloon: discard of hinted 0x%llx failed",
			    (unsigned long long)start);
	b->st.hinted_pages += (end - start) >> VIRTIO_BALLOON_PFN_SHIFT;
}

/*
 * A free_page_vq chain (virtio-v1.2 5.5.6.4): a 4-byte readable command ID
 * and/or device-writable page ranges. Pages count only under the current
 * command ID (5.5.6.4.2: the device ignores pages given with another one).
 */
static void balloon_hint_chain(struct vdev *d, struct vq_chain *c)
{
	struct balloon *b = d->priv;
	const struct vq_seg *segs = vq_chain_csegs(c);
	bool misaligned = false;

	if (c->read_len) {
		uint8_t id[4];
		struct vq_cursor cur;

		if (c->read_len != 4)
			diag_report(&d->log, DIAG_BALLOON_HINT,
				    "command ID buffer of %u bytes (must be 4, 5.5.6.4.1)%s",
				    c->read_len, c->read_len < 4 ? "; ignored" : "");
		vq_cursor_init_read(&cur, d->gm, c);
		if (c->read_len >= 4 && vq_cursor_read(&cur, id, 4) == 4)
			b->st.hint_driver_id = rs_le32(id);
	}
	for (uint32_t i = c->nread; i < c->nsegs; i++) {
		bool current = b->st.hint_driver_id == b->st.hint_cmd_id &&
			       b->st.hint_cmd_id >= BALLOON_HINT_FIRST_ID;

		if (!current) {
			b->st.hint_ignored += segs[i].len >> VIRTIO_BALLOON_PFN_SHIFT;
			continue;
		}
		balloon_hint_range(d, segs[i].gpa, segs[i].len, &misaligned);
	}
	if (misaligned)
		diag_report(&d->log, DIAG_BALLOON_HINT,
			    "hinted ranges not 4 KiB aligned; only whole pages taken");
}

/* --- notify ----------------------------------------------------------------------------- */

/* Complete every pending chain of a queue that has no role (reported). */
static void balloon_drain(struct vdev *d, unsigned q)
{
	struct vq_chain c;
	unsigned n = 0;

	while (vq_pop(&d->queues[q].vq, &c) > 0) {
		n++;
		if (vq_push(&d->queues[q].vq, &c, 0) < 0)
			break;
	}
	diag_report(&d->log, DIAG_QUEUE_SELECT,
		    "notify of queue %u, which the negotiated features give no role (features "
		    "0x%llx); %u chain(s) returned unused", q,
		    (unsigned long long)d->driver_features, n);
	vdev_queue_interrupt(d, q);
}

static void balloon_queue_notify(struct vdev *d, unsigned q)
{
	struct vq *vq = &d->queues[q].vq;
	int role = balloon_role(d, q);
	struct vq_chain c;

	if (role == BALLOON_VQ_STATS) {
		balloon_stats_notify(d, q);
		return;
	}
	if (role < 0) {
		balloon_drain(d, q);
		return;
	}
	/* Bounded: each pop consumes an avail entry; the engine caps them. */
	while (vq_pop(vq, &c) > 0) {
		if (role == BALLOON_VQ_FREE_PAGE)
			balloon_hint_chain(d, &c);
		else
			balloon_pfn_chain(d, &c, role == BALLOON_VQ_INFLATE);
		/* 5.5.6: the device acknowledges by using the buffer; it writes nothing */
		if (vq_push(vq, &c, 0) < 0)
			break;
	}
	vdev_queue_interrupt(d, q);
}

/* --- host events ------------------------------------------------------------------------- */

/* Set free_page_hint_cmd_id and tell the driver (if it changed). */
static void balloon_set_hint_id(struct vdev *d, uint32_t id)
{
	struct balloon *b = d->priv;

	if (b->st.hint_cmd_id == id)
		return;
	b->st.hint_cmd_id = id;
	balloon_fill_config(d);
	vdev_config_changed(d);
}

/* WEV_HOST args (BALLOON_HOST_*). Hinting needs FREE_PAGE_HINT negotiated;
 * other args and requests that cannot be served are ignored. */
static void balloon_host_request(struct vdev *d, uint64_t arg)
{
	struct balloon *b = d->priv;
	int q = balloon_queue_index(d->driver_features, BALLOON_VQ_STATS);
	bool hinting = vdev_has(d, VIRTIO_BALLOON_F_FREE_PAGE_HINT);

	switch (arg) {
	case BALLOON_HOST_STATS_REQUEST:
		if (q >= 0 && balloon_stats_return(d, (unsigned)q)) {
			b->st.stats_requests++;
			vdev_queue_interrupt(d, (unsigned)q);
		} else {
			b->st.stats_missed++;
		}
		break;
	case BALLOON_HOST_HINT_START:
		if (!hinting)
			break;
		/* 5.5.6.4.2: a new ID every round, never a reserved one. */
		balloon_set_hint_id(d, b->hint_next_id);
		b->hint_next_id = b->hint_next_id == UINT32_MAX ? BALLOON_HINT_FIRST_ID
								: b->hint_next_id + 1;
		break;
	case BALLOON_HOST_HINT_STOP:
		if (hinting)
			balloon_set_hint_id(d, VIRTIO_BALLOON_CMD_ID_STOP);
		break;
	case BALLOON_HOST_HINT_DONE:
		if (hinting)
			balloon_set_hint_id(d, VIRTIO_BALLOON_CMD_ID_DONE);
		break;
	default:
		break;
	}
}

/* WEV_BALLOON_TARGET (arg: pages, clipped to 32 bits) sets num_pages and
 * raises a config change (5.5.6: the driver re-reads num_pages on it);
 * WEV_HOST: see balloon_host_request. */
static void balloon_host_event(struct vdev *d, const struct world_event *ev)
{
	struct balloon *b = d->priv;

	if (ev->kind == WEV_BALLOON_TARGET) {
		uint32_t pages = ev->arg > UINT32_MAX ? UINT32_MAX : (uint32_t)ev->arg;

		if (pages == b->num_pages)
			return;
		b->num_pages = pages;
		b->st.num_pages = pages;
		balloon_fill_config(d);
		vdev_config_changed(d);
	} else if (ev->kind == WEV_HOST) {
		balloon_host_request(d, ev->arg);
	}
}

/* --- public queries ----------------------------------------------------------------------- */

int balloon_status(const struct vdev *d, struct balloon_status *out)
{
	const struct balloon *b = balloon_of(d);

	if (!b || !out)
		return -EINVAL;
	*out = b->st;
	out->num_pages = b->num_pages;
	out->stats_held = b->stats_held;
	return 0;
}

int balloon_stat(const struct vdev *d, unsigned tag, uint64_t *val)
{
	const struct balloon *b = balloon_of(d);

	if (!b || tag >= BALLOON_S_NR || !val)
		return -EINVAL;
	if (!(b->st.stats_valid & (1u << tag)))
		return -ENOENT;
	*val = b->st.stats[tag];
	return 0;
}

bool balloon_page_inflated(const struct vdev *d, uint64_t pfn)
{
	const struct balloon *b = balloon_of(d);
	const struct gm_region *r;
	uint64_t idx;

	if (!b || pfn > UINT32_MAX)
		return false;
	return balloon_page_index(d->gm, b, pfn, &r, &idx) && bit_test(b->bitmap, idx);
}

/* --- ops -------------------------------------------------------------------------------- */

/* Option key (on/off) controlling feature bit. */
static int balloon_feature_opt(struct vdev *d, struct vdev_args *args, const char *key,
			       unsigned bit, char *err, size_t errlen)
{
	bool on;
	int r = vdev_arg_bool(args, key, true, &on, err, errlen);

	if (r < 0)
		return r;
	if (!on)
		d->model_features &= ~VIRTIO_BIT(bit);
	return 0;
}

static int balloon_create(struct vdev *d, struct vdev_args *args, char *err, size_t errlen)
{
	static const struct {
		const char *key;
		unsigned bit;
	} fopts[] = {
		{ "must_tell_host", VIRTIO_BALLOON_F_MUST_TELL_HOST },
		{ "stats", VIRTIO_BALLOON_F_STATS_VQ },
		{ "deflate_on_oom", VIRTIO_BALLOON_F_DEFLATE_ON_OOM },
		{ "free_page_hint", VIRTIO_BALLOON_F_FREE_PAGE_HINT },
		{ "page_poison", VIRTIO_BALLOON_F_PAGE_POISON },
	};
	struct balloon *b = d->priv;
	uint64_t target;
	int r;

	for (unsigned i = 0; i < RS_ARRAY_SIZE(fopts); i++) {
		r = balloon_feature_opt(d, args, fopts[i].key, fopts[i].bit, err, errlen);
		if (r < 0)
			return r;
	}
	r = vdev_arg_bool(args, "discard_hints", true, &b->discard_hints, err, errlen);
	if (r < 0)
		return r;
	r = vdev_arg_size(args, "target", 0, &target, err, errlen);
	if (r < 0)
		return r;
	if (target > UINT32_MAX) {
		snprintf(err, errlen, "balloon: target=%llu pages does not fit num_pages (le32)",
			 (unsigned long long)target);
		return -EINVAL;
	}
	b->num_pages = (uint32_t)target;
	b->num_pages0 = b->num_pages;
	b->st.num_pages = b->num_pages;
	/* One bit per RAM page of the arena (at most 64 GiB: 2 MiB of bits). */
	b->nbits = d->gm->npages;
	if (b->nbits && !(b->bitmap = calloc((size_t)((b->nbits + 63) / 64), sizeof(uint64_t)))) {
		snprintf(err, errlen, "balloon: out of memory for the page bitmap");
		return -ENOMEM;
	}
	b->hint_next_id = BALLOON_HINT_FIRST_ID;
	balloon_fill_config(d);
	return 0;
}

static void balloon_destroy(struct vdev *d)
{
	struct balloon *b = d->priv;

	if (b->stats_held)
		vq_chain_release(&b->stats_chain);
	free(b->bitmap);
}

/* Device reset: every page is the guest's again (the bitmap empties; their
 * contents were discarded), the held stats buffer is dropped (its queue was
 * reset before us), the statistics, counters and hinting state return to
 * power-on. num_pages is the host's wish and stays (as in QEMU): a
 * rebooted guest inflates to it again. */
static void balloon_reset(struct vdev *d)
{
	struct balloon *b = d->priv;
	uint32_t num_pages = b->num_pages;

	if (b->stats_held)
		vq_chain_release(&b->stats_chain);
	if (b->st.inflated)
		memset(b->bitmap, 0, (size_t)((b->nbits + 63) / 64) * sizeof(uint64_t));
	b->pfn_hash = 0;
	b->stats_held = false;
	b->stats_seen = false;
	b->hint_next_id = BALLOON_HINT_FIRST_ID;
	memset(&b->st, 0, sizeof b->st);
	b->st.num_pages = num_pages;
	balloon_fill_config(d);
}

/* Host-side state back to what create() set: the target the host asked for
 * returns to the target= option (machine_reset calls this before the device
 * reset, so a reset machine behaves as a freshly built one). */
static void balloon_host_reset(struct vdev *d)
{
	struct balloon *b = d->priv;

	b->num_pages = b->num_pages0;
}

#define BALLOON_SAVE_SIZE (4 * 4 + 8 * 2 + 4 + 4 + BALLOON_S_NR * 8)

/* Device state: counts, the inflated set (as its hash), hinting and stats. */
static size_t balloon_save(const struct vdev *d, uint8_t *buf, size_t cap)
{
	const struct balloon *b = d->priv;
	uint8_t *p = buf;

	if (cap < BALLOON_SAVE_SIZE)
		return BALLOON_SAVE_SIZE;
	rs_st32(p, b->num_pages);
	rs_st32(p + 4, b->hint_next_id);
	rs_st32(p + 8, b->st.hint_driver_id);
	rs_st32(p + 12, (uint32_t)b->stats_held | (uint32_t)b->stats_seen << 1 |
				(uint32_t)(b->stats_held ? b->stats_chain.id : 0) << 16);
	rs_st64(p + 16, b->st.inflated);
	rs_st64(p + 24, b->pfn_hash);
	rs_st32(p + 32, b->st.stats_valid);
	rs_st32(p + 36, b->discard_hints);
	for (unsigned i = 0; i < BALLOON_S_NR; i++)
		rs_st64(p + 40 + 8 * i, b->st.stats[i]);
	return BALLOON_SAVE_SIZE;
}

const struct vdev_ops balloon_ops = {
	.name = "balloon",
	.device_id = VIRTIO_ID_BALLOON,
	.pci_class = 0xff00, /* unclassified device */
	.num_queues = BALLOON_NUM_QUEUES,
	.queue_max = BALLOON_QUEUE_MAX,
	.features = VIRTIO_BIT(VIRTIO_BALLOON_F_MUST_TELL_HOST) |
		    VIRTIO_BIT(VIRTIO_BALLOON_F_STATS_VQ) |
		    VIRTIO_BIT(VIRTIO_BALLOON_F_DEFLATE_ON_OOM) |
		    VIRTIO_BIT(VIRTIO_BALLOON_F_FREE_PAGE_HINT) |
		    VIRTIO_BIT(VIRTIO_BALLOON_F_PAGE_POISON),
	.config_size = BALLOON_CFG_SIZE,
	.cfg_fields = balloon_cfg_fields,
	.ncfg_fields = RS_ARRAY_SIZE(balloon_cfg_fields),
	.priv_size = sizeof(struct balloon),
	.create = balloon_create,
	.destroy = balloon_destroy,
	.config_write = balloon_config_write,
	.queue_notify = balloon_queue_notify,
	.reset = balloon_reset,
	.host_reset = balloon_host_reset,
	.save = balloon_save,
	.host_event = balloon_host_event,
};
