/* ringside tests — guest-memory arena: regions, range checks at every edge,
 * MMIO detection, tap, checked pointers, dirty tracking, discard, and test
 * sources proving the source interface serves replay and fuzz needs. */
#include "check.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ringside/gm.h"

#define PG GM_PAGE_SIZE
#define KB(x) ((uint64_t)(x) << 10)
#define MB(x) ((uint64_t)(x) << 20)
#define GB(x) ((uint64_t)(x) << 30)

static struct diag_log lg;

static void setup(struct gm *gm)
{
	gm_init(gm);
	diag_init(&lg, "gm");
	gm->log = &lg;
}

static bool all_bytes(const void *p, int v, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i] != (uint8_t)v)
			return false;
	return true;
}

static void test_init(void)
{
	struct gm gm;

	setup(&gm);
	CHECK(gm.src == &gm_source_plain);
	CHECK(gm.track_dirty);
	CHECK_EQ(gm.nregions, 0);
	CHECK_EQ(gm.npages, 0);
	CHECK_EQ(gm_dirty_count(&gm), 0);
	CHECK(gm_source_plain.direct);
	CHECK(!strcmp(gm_source_plain.name, "plain"));
	/* an empty arena holds nothing, not even an empty range at 0 */
	CHECK(!gm_range_ok(&gm, 0, 0));
	CHECK(gm_lookup(&gm, 0, 0) == NULL);
	CHECK_EQ(gm_read(&gm, 0, NULL, 0), -EFAULT);
	CHECK_EQ(diag_count(&lg, DIAG_GM_OUT_OF_RANGE), 1);
	gm_destroy(&gm);
}

static void test_add_regions(void)
{
	struct gm gm;
	char name[32];

	setup(&gm);
	CHECK_EQ(gm_add_ram(&gm, 0, 0, NULL, "zero"), -EINVAL);
	CHECK_EQ(gm_add_ram(&gm, 0x800, PG, NULL, "unaligned-gpa"), -EINVAL);
	CHECK_EQ(gm_add_ram(&gm, 0, PG + 1, NULL, "unaligned-size"), -EINVAL);
	CHECK_EQ(gm_add_ram(&gm, UINT64_MAX - PG + 1, PG, NULL, "top"), -EINVAL);
	CHECK_EQ(gm_add_ram(&gm, UINT64_MAX - 2 * PG + 1, 4 * PG, NULL, "wrap"), -EINVAL);
	CHECK_EQ(gm_add_mmio(&gm, 0, 0, "zero"), -EINVAL);
	CHECK_EQ(gm_add_mmio(&gm, 0x10, PG, "unaligned"), -EINVAL);
	CHECK_EQ(gm_add_mmio(&gm, UINT64_MAX - PG + 1, PG, "top"), -EINVAL);
	CHECK_EQ(gm.nregions, 0);

	CHECK_EQ(gm_add_ram(&gm, KB(64), KB(64), NULL, "ram0"), 0);
	CHECK_EQ(gm.nregions, 1);
	CHECK_EQ(gm.npages, 16);
	/* overlaps: partial at either end, inside, around, identical */
	CHECK_EQ(gm_add_ram(&gm, KB(32), KB(64), NULL, "x"), -EEXIST);
	CHECK_EQ(gm_add_ram(&gm, KB(124), KB(8), NULL, "x"), -EEXIST);
	CHECK_EQ(gm_add_ram(&gm, KB(68), PG, NULL, "x"), -EEXIST);
	CHECK_EQ(gm_add_ram(&gm, 0, MB(1), NULL, "x"), -EEXIST);
	CHECK_EQ(gm_add_ram(&gm, KB(64), KB(64), NULL, "x"), -EEXIST);
	CHECK_EQ(gm_add_mmio(&gm, KB(120), KB(8), "x"), -EEXIST);
	CHECK_EQ(gm.nregions, 1);
	/* adjacent on both sides is fine */
	CHECK_EQ(gm_add_ram(&gm, KB(128), KB(32), NULL, "ram1"), 0);
	CHECK_EQ(gm_add_mmio(&gm, KB(60), PG, "mmio0"), 0);
	CHECK_EQ(gm_add_mmio(&gm, KB(56), PG, "mmio1"), 0);
	CHECK_EQ(gm_add_ram(&gm, KB(56), KB(8), NULL, "x"), -EEXIST);
	CHECK_EQ(gm.nregions, 4);

	CHECK_EQ(gm.regions[0].kind, GM_RAM);
	CHECK(!gm.regions[0].external);
	CHECK(gm.regions[0].host != NULL);
	CHECK_EQ(gm.regions[0].page_base, 0);
	CHECK_EQ(gm.regions[1].page_base, 16);
	CHECK_EQ(gm.regions[2].kind, GM_MMIO);
	CHECK(gm.regions[2].host == NULL);
	CHECK(!strcmp(gm.regions[1].name, "ram1"));
	CHECK(!strcmp(gm.regions[2].name, "mmio0"));
	CHECK_EQ(gm.npages, 24);

	/* too many regions */
	for (unsigned i = gm.nregions; i < GM_MAX_REGIONS; i++)
		CHECK_EQ(i & 1 ? gm_add_mmio(&gm, GB(1) + i * MB(1), PG, "m")
			       : gm_add_ram(&gm, GB(1) + i * MB(1), PG, NULL, "r"),
			 0);
	CHECK_EQ(gm.nregions, GM_MAX_REGIONS);
	CHECK_EQ(gm_add_ram(&gm, GB(8), PG, NULL, "full"), -ENOSPC);
	CHECK_EQ(gm_add_mmio(&gm, GB(8), PG, "full"), -ENOSPC);
	gm_destroy(&gm);
	CHECK_EQ(gm.nregions, 0);

	/* names are truncated, NULL names are empty */
	setup(&gm);
	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	CHECK_EQ(gm_add_ram(&gm, 0, PG, NULL, name), 0);
	CHECK_EQ(gm_add_mmio(&gm, PG, PG, NULL), 0);
	CHECK_EQ(strlen(gm.regions[0].name), sizeof(gm.regions[0].name) - 1);
	CHECK(!strcmp(gm.regions[1].name, ""));
	/* a region may sit just below 2^64 */
	CHECK_EQ(gm_add_ram(&gm, UINT64_MAX - 2 * PG + 1, PG, NULL, "high"), 0);
	gm_destroy(&gm);
}

static void test_edges(void)
{
	struct gm gm;
	uint8_t buf[16], one;
	uint64_t base = KB(64), size = KB(64), end = base + size;

	setup(&gm);
	CHECK_EQ(gm_add_ram(&gm, base, size, NULL, "ram"), 0);
	CHECK_EQ(gm_add_ram(&gm, end, size, NULL, "ram2"), 0); /* adjacent */

	/* first and last byte of the region */
	one = 0x5a;
	CHECK_EQ(gm_write(&gm, base, &one, 1), 0);
	CHECK_EQ(gm_write(&gm, end - 1, &one, 1), 0);
	one = 0;
	CHECK_EQ(gm_read(&gm, base, &one, 1), 0);
	CHECK_EQ(one, 0x5a);
	one = 0;
	CHECK_EQ(gm_read(&gm, end - 1, &one, 1), 0);
	CHECK_EQ(one, 0x5a);
	/* a range ending exactly at the end */
	CHECK_EQ(gm_read(&gm, end - 16, buf, 16), 0);
	CHECK_EQ(buf[15], 0x5a);
	CHECK_EQ(diag_count(&lg, DIAG_GM_OUT_OF_RANGE), 0);

	/* one byte past the end of the last region, one before the first */
	memset(buf, 0xaa, sizeof(buf));
	CHECK_EQ(gm_read(&gm, end + size, buf, 1), -EFAULT);
	CHECK_EQ(buf[0], 0);
	CHECK_EQ(gm_read(&gm, base - 1, buf, 1), -EFAULT);
	CHECK_EQ(gm_read(&gm, base - 1, buf, 2), -EFAULT);
	/* crossing two adjacent RAM regions is rejected; each side alone is fine */
	memset(buf, 0xaa, sizeof(buf));
	CHECK_EQ(gm_read(&gm, end - 8, buf, 16), -EFAULT);
	CHECK(all_bytes(buf, 0, 16));
	CHECK_EQ(gm_write(&gm, end - 1, buf, 2), -EFAULT);
	CHECK_EQ(gm_read(&gm, end - 8, buf, 8), 0);
	CHECK_EQ(gm_read(&gm, end, buf, 8), 0);
	CHECK(!gm_range_ok(&gm, end - 1, 2));
	CHECK(gm_range_ok(&gm, end - 1, 1));
	CHECK(gm_range_ok(&gm, end, size));
	CHECK(!gm_range_ok(&gm, end, size + 1));
	CHECK(gm_lookup(&gm, end - 1, 2) == NULL);
	CHECK_EQ(diag_count(&lg, DIAG_GM_OUT_OF_RANGE), 5);
	CHECK_EQ(gm.stats.faults, 5);
	CHECK_EQ(gm.stats.mmio_dma, 0);
	/* the report names the access */
	CHECK(diag_last(&lg) && strstr(diag_last(&lg)->msg, "write of 2 bytes at 0x1ffff"));

	/* guest side: same checks, no reports, zero-filled on failure */
	memset(buf, 0xaa, sizeof(buf));
	CHECK_EQ(gm_guest_read(&gm, end - 8, buf, 16), -EFAULT);
	CHECK(all_bytes(buf, 0, 16));
	CHECK_EQ(gm_guest_write(&gm, end - 8, buf, 16), -EFAULT);
	CHECK_EQ(gm_guest_read(&gm, end - 1, buf, 1), 0);
	CHECK_EQ(buf[0], 0x5a);
	CHECK(gm_guest_ptr(&gm, end - 8, 16) == NULL);
	CHECK(gm_guest_ptr(&gm, end - 8, 8) == gm.regions[0].host + size - 8);
	CHECK_EQ(lg.total, 5);
	CHECK_EQ(gm.stats.faults, 5);
	gm_destroy(&gm);
}

static void test_wrap(void)
{
	struct gm gm;
	uint8_t buf[16];
	uint64_t top = UINT64_MAX - 2 * PG + 1; /* region [top, top+PG), ends 1 page below 2^64 */

	setup(&gm);
	CHECK_EQ(gm_add_ram(&gm, top, PG, NULL, "high"), 0);
	CHECK_EQ(gm_add_ram(&gm, 0, PG, NULL, "low"), 0);
	CHECK_EQ(gm_read(&gm, top + PG - 4, buf, 4), 0);

	memset(buf, 0xaa, sizeof(buf));
	CHECK_EQ(gm_read(&gm, UINT64_MAX - 7, buf, 16), -EFAULT);
	CHECK(all_bytes(buf, 0, 16));
	CHECK_EQ(diag_count(&lg, DIAG_GM_WRAP), 1);
	/* a range that ends exactly at 2^64 cannot be written as an end address */
	CHECK_EQ(gm_read(&gm, UINT64_MAX - 7, buf, 8), -EFAULT);
	CHECK_EQ(diag_count(&lg, DIAG_GM_WRAP), 2);
	/* a huge length from a valid start wraps too (write: no zero-fill) */
	CHECK_EQ(gm_write(&gm, top, buf, SIZE_MAX), -EFAULT);
	CHECK_EQ(diag_count(&lg, DIAG_GM_WRAP), 3);
	/* the last byte of the address space */
	CHECK_EQ(gm_read(&gm, UINT64_MAX, buf, 1), -EFAULT);
	CHECK_EQ(diag_count(&lg, DIAG_GM_WRAP), 4);
	CHECK_EQ(gm.stats.faults, 4);
	CHECK(diag_last(&lg) && strstr(diag_last(&lg)->msg, "wraps"));

	/* no other entry point accepts a wrapping range */
	CHECK(!gm_range_ok(&gm, UINT64_MAX - 7, 16));
	CHECK(!gm_range_ok(&gm, 16, UINT64_MAX));
	CHECK(gm_lookup(&gm, UINT64_MAX - 7, 16) == NULL);
	CHECK(gm_lookup(&gm, UINT64_MAX, 0) == NULL);
	CHECK(gm_ptr(&gm, UINT64_MAX - 7, 16, GM_ACCESS_READ) == NULL);
	CHECK(gm_guest_ptr(&gm, 8, SIZE_MAX) == NULL);
	CHECK_EQ(gm_guest_read(&gm, UINT64_MAX - 7, buf, 16), -EFAULT);
	CHECK_EQ(gm_discard(&gm, top, UINT64_MAX - PG + 1), -EFAULT);
	gm_mark_dirty(&gm, top, UINT64_MAX); /* clipped to the region */
	CHECK_EQ(gm_dirty_count(&gm), 1);
	CHECK_EQ(gm_dirty_page_gpa(&gm, 0), top);
	gm_destroy(&gm);
}

struct tap_ev {
	enum gm_access dir;
	uint64_t gpa;
	size_t len;
	uint8_t data[16];
};

struct tap_rec {
	unsigned n;
	struct tap_ev ev[16];
};

static void tap_fn(void *ctx, enum gm_access dir, uint64_t gpa, const void *data, size_t len)
{
	struct tap_rec *t = ctx;

	if (t->n < RS_ARRAY_SIZE(t->ev)) {
		struct tap_ev *e = &t->ev[t->n];

		e->dir = dir;
		e->gpa = gpa;
		e->len = len;
		memcpy(e->data, data, RS_MIN(len, sizeof(e->data)));
	}
	t->n++;
}

static void test_len0(void)
{
	struct gm gm;
	struct tap_rec t = { 0 };
	uint8_t b = 0x77;
	uint64_t end = KB(8);

	setup(&gm);
	CHECK_EQ(gm_add_ram(&gm, PG, PG, NULL, "ram"), 0);
	CHECK_EQ(gm_add_mmio(&gm, KB(16), PG, "io"), 0);
	gm_set_tap(&gm, tap_fn, &t);
	/* inside, at the start, at the end: valid, no access, no tap, no stats */
	CHECK_EQ(gm_read(&gm, PG + 5, &b, 0), 0);
	CHECK_EQ(gm_read(&gm, PG, &b, 0), 0);
	CHECK_EQ(gm_read(&gm, end, &b, 0), 0);
	CHECK_EQ(gm_write(&gm, end, &b, 0), 0);
	CHECK_EQ(b, 0x77);
	CHECK_EQ(t.n, 0);
	CHECK_EQ(gm.stats.reads + gm.stats.writes, 0);
	CHECK_EQ(gm_dirty_count(&gm), 0);
	CHECK(gm_range_ok(&gm, end, 0));
	CHECK(gm_range_ok(&gm, PG, 0));
	/* one past the end, before the start, inside MMIO: faults */
	CHECK_EQ(gm_read(&gm, end + 1, &b, 0), -EFAULT);
	CHECK_EQ(gm_write(&gm, PG - 1, &b, 0), -EFAULT);
	CHECK_EQ(b, 0x77); /* nothing to zero-fill */
	CHECK_EQ(diag_count(&lg, DIAG_GM_OUT_OF_RANGE), 2);
	CHECK_EQ(gm_read(&gm, KB(16), &b, 0), -EFAULT);
	CHECK_EQ(diag_count(&lg, DIAG_GM_MMIO_DMA), 1);
	CHECK_EQ(gm.stats.mmio_dma, 1);
	CHECK(!gm_range_ok(&gm, end + 1, 0));
	/* lookup treats an empty range as the byte at gpa: nothing at the end */
	CHECK(gm_lookup(&gm, end, 0) == NULL);
	CHECK(gm_lookup(&gm, end - 1, 0) == &gm.regions[0]);
	CHECK(gm_lookup(&gm, KB(16), 0) == &gm.regions[1]);
	/* pointers and guest side */
	gm_set_tap(&gm, NULL, NULL);
	CHECK(gm_ptr(&gm, end, 0, GM_ACCESS_WRITE) == gm.regions[0].host + PG);
	CHECK(gm_ptr(&gm, end + 1, 0, GM_ACCESS_READ) == NULL);
	CHECK_EQ(gm_guest_read(&gm, end, &b, 0), 0);
	CHECK_EQ(gm_guest_write(&gm, end, &b, 0), 0);
	CHECK_EQ(gm_guest_read(&gm, end + 1, &b, 0), -EFAULT);
	CHECK_EQ(gm_dirty_count(&gm), 0);
	CHECK_EQ(gm_discard(&gm, end, 0), 0);
	CHECK_EQ(gm_discard(&gm, end + PG, 0), -EFAULT);
	gm_mark_dirty(&gm, PG, 0);
	CHECK_EQ(gm_dirty_count(&gm), 0);
	gm_destroy(&gm);
}

static void test_mmio(void)
{
	struct gm gm;
	uint8_t buf[8] = { 1, 2, 3, 4, 5, 6, 7, 8 }, *big;
	uint64_t io = KB(64);

	setup(&gm);
	CHECK_EQ(gm_add_ram(&gm, 0, KB(64), NULL, "ram"), 0);
	CHECK_EQ(gm_add_mmio(&gm, io, PG, "vmmio"), 0);
	CHECK_EQ(gm_add_ram(&gm, KB(128), KB(64), NULL, "ram-hi"), 0);

	CHECK(gm_lookup(&gm, io + 8, 4) == &gm.regions[1]);
	CHECK_EQ(gm_lookup(&gm, io + 8, 4)->kind, GM_MMIO);
	CHECK(!gm_range_ok(&gm, io + 8, 4));
	CHECK(gm_ptr(&gm, io, 4, GM_ACCESS_READ) == NULL);
	CHECK(gm_guest_ptr(&gm, io, 4) == NULL);

	/* inside MMIO */
	CHECK_EQ(gm_read(&gm, io + 8, buf, 4), -EFAULT);
	CHECK(all_bytes(buf, 0, 4));
	CHECK_EQ(gm_write(&gm, io, buf, 8), -EFAULT);
	/* RAM into MMIO, MMIO into the gap after it */
	CHECK_EQ(gm_read(&gm, io - 4, buf, 8), -EFAULT);
	CHECK_EQ(gm_write(&gm, io + PG - 4, buf, 8), -EFAULT);
	CHECK_EQ(gm_write16(&gm, io + PG - 1, 0xffff), -EFAULT);
	CHECK_EQ(diag_count(&lg, DIAG_GM_MMIO_DMA), 5);
	CHECK_EQ(gm.stats.mmio_dma, 5);
	CHECK_EQ(gm.stats.faults, 5);
	CHECK(diag_last(&lg) && strstr(diag_last(&lg)->msg, "hits MMIO region vmmio"));
	/* a range across the gap (no MMIO there) is only out of range */
	CHECK_EQ(gm_read(&gm, KB(128) - 2, buf, 4), -EFAULT);
	CHECK_EQ(gm_read(&gm, io + PG, buf, 4), -EFAULT);
	CHECK_EQ(diag_count(&lg, DIAG_GM_MMIO_DMA), 5);
	CHECK_EQ(diag_count(&lg, DIAG_GM_OUT_OF_RANGE), 2);
	CHECK_EQ(gm.stats.faults, 7);
	/* a range from low RAM over MMIO and the gap into high RAM hits MMIO */
	big = calloc(1, KB(72));
	CHECK(big != NULL);
	if (big)
		CHECK_EQ(gm_write(&gm, io - 4, big, KB(64) + 8), -EFAULT);
	free(big);
	CHECK_EQ(gm.stats.mmio_dma, 6);

	/* the guest side is not the device: rejected, not reported */
	CHECK_EQ(gm_guest_read(&gm, io, buf, 4), -EFAULT);
	CHECK_EQ(gm_guest_write(&gm, io, buf, 4), -EFAULT);
	CHECK_EQ(lg.total, 8);
	CHECK_EQ(gm.stats.mmio_dma, 6);
	/* nothing reached RAM next to the hole */
	CHECK_EQ(gm_read(&gm, io - 4, buf, 4), 0);
	CHECK(all_bytes(buf, 0, 4));
	CHECK_EQ(gm_read(&gm, KB(128), buf, 4), 0);
	CHECK(all_bytes(buf, 0, 4));
	gm_destroy(&gm);
}

static void test_external(void)
{
	struct gm gm;
	uint8_t *mem = aligned_alloc(PG, 3 * PG), buf[4];

	CHECK(mem != NULL);
	if (!mem)
		return;
	memset(mem, 0x11, 3 * PG);
	setup(&gm);
	CHECK_EQ(gm_add_ram(&gm, MB(1), 3 * PG, mem, "kvm"), 0);
	CHECK(gm.regions[0].external);
	CHECK(gm.regions[0].host == mem);
	/* the caller's bytes are the guest's bytes, both ways */
	CHECK_EQ(gm_read(&gm, MB(1) + 10, buf, 4), 0);
	CHECK(all_bytes(buf, 0x11, 4));
	CHECK_EQ(gm_write32(&gm, MB(1) + PG, 0xdeadbeef), 0);
	CHECK_EQ(rs_le32(mem + PG), 0xdeadbeef);
	CHECK(gm_guest_ptr(&gm, MB(1), 3 * PG) == mem);
	/* discard of external memory zeroes it */
	CHECK_EQ(gm_discard(&gm, MB(1) + PG, PG), 0);
	CHECK(all_bytes(mem + PG, 0, PG));
	CHECK(all_bytes(mem, 0x11, PG));
	CHECK(all_bytes(mem + 2 * PG, 0x11, PG));
	/* reset zeroes dirty pages of external memory too */
	CHECK_EQ(gm_dirty_count(&gm), 1);
	gm_write(&gm, MB(1) + 2 * PG, buf, 1);
	gm_dirty_reset(&gm);
	CHECK(all_bytes(mem + 2 * PG, 0, PG));
	CHECK(all_bytes(mem, 0x11, PG));
	/* destroy leaves the caller's memory alone */
	gm_destroy(&gm);
	mem[0] = 1;
	CHECK_EQ(mem[0], 1);
	free(mem);
}

static void test_tap(void)
{
	struct gm gm;
	struct tap_rec t = { 0 };
	uint8_t w[4] = { 0xa, 0xb, 0xc, 0xd }, r[4];
	uint16_t v16;

	setup(&gm);
	CHECK_EQ(gm_add_ram(&gm, 0, KB(16), NULL, "ram"), 0);
	gm_set_tap(&gm, tap_fn, &t);
	CHECK_EQ(gm_write(&gm, 0x100, w, 4), 0);
	CHECK_EQ(gm_read(&gm, 0x101, r, 2), 0);
	CHECK_EQ(gm_read16(&gm, 0x102, &v16), 0);
	CHECK_EQ(gm_write32(&gm, 0x200, 0x01020304), 0);
	CHECK_EQ(t.n, 4);
	CHECK_EQ(t.ev[0].dir, GM_ACCESS_WRITE);
	CHECK_EQ(t.ev[0].gpa, 0x100);
	CHECK_EQ(t.ev[0].len, 4);
	CHECK(!memcmp(t.ev[0].data, w, 4));
	CHECK_EQ(t.ev[1].dir, GM_ACCESS_READ);
	CHECK_EQ(t.ev[1].gpa, 0x101);
	CHECK_EQ(t.ev[1].len, 2);
	CHECK(t.ev[1].data[0] == 0xb && t.ev[1].data[1] == 0xc);
	CHECK_EQ(t.ev[2].dir, GM_ACCESS_READ);
	CHECK_EQ(t.ev[2].len, 2);
	CHECK_EQ(v16, 0x0d0c);
	CHECK_EQ(t.ev[3].dir, GM_ACCESS_WRITE);
	CHECK_EQ(rs_le32(t.ev[3].data), 0x01020304);
	/* the guest side and failed accesses are not shown */
	CHECK_EQ(gm_guest_write(&gm, 0x300, w, 4), 0);
	CHECK_EQ(gm_guest_read(&gm, 0x300, r, 4), 0);
	CHECK_EQ(gm_read(&gm, KB(16), r, 4), -EFAULT);
	CHECK_EQ(gm_write(&gm, KB(16) - 2, w, 4), -EFAULT);
	CHECK_EQ(t.n, 4);
	/* no raw pointers while a tap watches */
	CHECK(gm_ptr(&gm, 0x100, 4, GM_ACCESS_READ) == NULL);
	CHECK(gm_guest_ptr(&gm, 0x100, 4) != NULL);
	/* removing the tap */
	gm_set_tap(&gm, NULL, &t);
	CHECK(gm.tap_ctx == NULL);
	CHECK_EQ(gm_read(&gm, 0x100, r, 4), 0);
	CHECK_EQ(t.n, 4);
	CHECK(gm_ptr(&gm, 0x100, 4, GM_ACCESS_READ) != NULL);
	gm_destroy(&gm);
}

static void test_ptr(void)
{
	struct gm gm;
	uint8_t *p;

	setup(&gm);
	CHECK_EQ(gm_add_ram(&gm, MB(1), KB(8), NULL, "a"), 0);
	CHECK_EQ(gm_add_ram(&gm, MB(1) + KB(8), KB(8), NULL, "b"), 0);
	CHECK_EQ(gm_add_mmio(&gm, MB(2), PG, "io"), 0);
	p = gm_ptr(&gm, MB(1) + 16, 64, GM_ACCESS_READ);
	CHECK(p == gm.regions[0].host + 16);
	CHECK_EQ(gm_dirty_count(&gm), 0);
	p = gm_ptr(&gm, MB(1) + KB(8) + PG - 2, 4, GM_ACCESS_READ | GM_ACCESS_WRITE);
	CHECK(p == gm.regions[1].host + PG - 2);
	CHECK_EQ(gm_dirty_count(&gm), 2); /* both pages the range touches */
	CHECK_EQ(gm_dirty_page_gpa(&gm, 0), MB(1) + KB(8));
	CHECK_EQ(gm_dirty_page_gpa(&gm, 1), MB(1) + KB(12));
	/* never after checking only the start */
	CHECK(gm_ptr(&gm, MB(1) + KB(8) - 4, 8, GM_ACCESS_READ) == NULL);
	CHECK(gm_ptr(&gm, MB(1) + KB(16) - 4, 8, GM_ACCESS_READ) == NULL);
	CHECK(gm_ptr(&gm, MB(1) - 1, 2, GM_ACCESS_READ) == NULL);
	CHECK(gm_ptr(&gm, MB(2), 4, GM_ACCESS_WRITE) == NULL);
	CHECK(gm_ptr(&gm, 0, 1, GM_ACCESS_READ) == NULL);
	/* NULL is not an error: nothing reported */
	CHECK_EQ(lg.total, 0);
	CHECK_EQ(gm.stats.faults, 0);
	gm_destroy(&gm);
}

static void test_fixed_width(void)
{
	struct gm gm;
	uint8_t raw[8];
	uint16_t v16 = 1;
	uint32_t v32 = 1;
	uint64_t v64 = 1;

	setup(&gm);
	CHECK_EQ(gm_add_ram(&gm, 0, PG, NULL, "ram"), 0);
	CHECK_EQ(gm_write16(&gm, 0x10, 0x1234), 0);
	CHECK_EQ(gm_write32(&gm, 0x20, 0x89abcdef), 0);
	CHECK_EQ(gm_read(&gm, 0x10, raw, 2), 0);
	CHECK(raw[0] == 0x34 && raw[1] == 0x12);
	CHECK_EQ(gm_read(&gm, 0x20, raw, 4), 0);
	CHECK(raw[0] == 0xef && raw[1] == 0xcd && raw[2] == 0xab && raw[3] == 0x89);
	for (unsigned i = 0; i < 8; i++)
		raw[i] = (uint8_t)(0x11 * (i + 1));
	CHECK_EQ(gm_write(&gm, 0x40, raw, 8), 0);
	CHECK_EQ(gm_read16(&gm, 0x40, &v16), 0);
	CHECK_EQ(v16, 0x2211);
	CHECK_EQ(gm_read32(&gm, 0x40, &v32), 0);
	CHECK_EQ(v32, 0x44332211);
	CHECK_EQ(gm_read64(&gm, 0x40, &v64), 0);
	CHECK_EQ(v64, 0x8877665544332211ull);
	/* unaligned is fine for the arena */
	CHECK_EQ(gm_read32(&gm, 0x41, &v32), 0);
	CHECK_EQ(v32, 0x55443322);
	/* failures store 0 */
	CHECK_EQ(gm_read16(&gm, PG - 1, &v16), -EFAULT);
	CHECK_EQ(v16, 0);
	CHECK_EQ(gm_read32(&gm, PG - 2, &v32), -EFAULT);
	CHECK_EQ(v32, 0);
	CHECK_EQ(gm_read64(&gm, PG - 4, &v64), -EFAULT);
	CHECK_EQ(v64, 0);
	CHECK_EQ(gm_write16(&gm, PG - 1, 1), -EFAULT);
	CHECK_EQ(gm_write32(&gm, PG - 3, 1), -EFAULT);
	CHECK_EQ(gm.stats.faults, 5);
	gm_destroy(&gm);
}

static void test_stats_and_null_log(void)
{
	struct gm gm;
	uint8_t buf[32] = { 0 };

	gm_init(&gm); /* no log: faults are counted, not reported */
	CHECK(gm.log == NULL);
	CHECK_EQ(gm_add_ram(&gm, 0, PG, NULL, "ram"), 0);
	CHECK_EQ(gm_add_mmio(&gm, PG, PG, "io"), 0);
	CHECK_EQ(gm_write(&gm, 0, buf, 32), 0);
	CHECK_EQ(gm_write(&gm, 64, buf, 3), 0);
	CHECK_EQ(gm_read(&gm, 0, buf, 10), 0);
	CHECK_EQ(gm_read(&gm, 0, buf, 0), 0);
	CHECK_EQ(gm_read(&gm, PG - 4, buf, 8), -EFAULT);
	CHECK_EQ(gm_read(&gm, UINT64_MAX - 1, buf, 4), -EFAULT);
	CHECK_EQ(gm_write(&gm, 3 * PG, buf, 1), -EFAULT);
	CHECK_EQ(gm.stats.writes, 2);
	CHECK_EQ(gm.stats.write_bytes, 35);
	CHECK_EQ(gm.stats.reads, 1);
	CHECK_EQ(gm.stats.read_bytes, 10);
	CHECK_EQ(gm.stats.faults, 3);
	CHECK_EQ(gm.stats.mmio_dma, 1);
	/* guest-side accesses are not device accesses */
	CHECK_EQ(gm_guest_write(&gm, 0, buf, 8), 0);
	CHECK_EQ(gm_guest_read(&gm, 0, buf, 8), 0);
	CHECK_EQ(gm.stats.reads + gm.stats.writes, 3);
	gm_destroy(&gm);
}

static void test_lookup_cache(void)
{
	struct gm gm;
	uint8_t b;

	setup(&gm);
	CHECK_EQ(gm_add_ram(&gm, 0, PG, NULL, "a"), 0);
	CHECK_EQ(gm_add_mmio(&gm, MB(1), PG, "io"), 0);
	CHECK_EQ(gm_add_ram(&gm, MB(2), PG, NULL, "b"), 0);
	CHECK(gm_lookup(&gm, 0, PG) == &gm.regions[0]);
	CHECK(gm_lookup(&gm, MB(2) + 1, 1) == &gm.regions[2]);
	CHECK_EQ(gm.last_hit, 2);
	/* an MMIO lookup does not move the cache */
	CHECK(gm_lookup(&gm, MB(1), 1) == &gm.regions[1]);
	CHECK_EQ(gm.last_hit, 2);
	CHECK(gm_lookup(&gm, PG, 1) == NULL);
	CHECK_EQ(gm_read(&gm, 5, &b, 1), 0);
	CHECK_EQ(gm.last_hit, 0);
	CHECK_EQ(gm_write(&gm, MB(2) + 7, &b, 1), 0);
	CHECK_EQ(gm.last_hit, 2);
	/* the cached region is still checked in full */
	CHECK_EQ(gm_read(&gm, MB(2) + PG, &b, 1), -EFAULT);
	CHECK_EQ(gm_guest_write(&gm, 9, &b, 1), 0);
	CHECK_EQ(gm.last_hit, 0);
	gm_destroy(&gm);
}

static void test_dirty_big_arena(void)
{
	struct gm gm;
	uint8_t buf[64], zero[PG];
	uint64_t a = PG, b = GB(1) / 2 + 123, c = GB(1) - 8;

	memset(zero, 0, sizeof(zero));
	memset(buf, 0xee, sizeof(buf));
	setup(&gm);
	CHECK_EQ(gm_add_ram(&gm, 0, GB(1), NULL, "ram"), 0);
	CHECK_EQ(gm.npages, GB(1) / PG);
	/* three pages touched, one of them twice */
	CHECK_EQ(gm_write(&gm, b, buf, 8), 0);
	CHECK_EQ(gm_write(&gm, a, buf, 16), 0);
	CHECK_EQ(gm_write(&gm, c, buf, 8), 0);
	CHECK_EQ(gm_write(&gm, a + 100, buf, 16), 0);
	CHECK_EQ(gm_dirty_count(&gm), 3);
	CHECK_EQ(gm_dirty_page_gpa(&gm, 0), b & ~(uint64_t)(PG - 1));
	CHECK_EQ(gm_dirty_page_gpa(&gm, 1), a);
	CHECK_EQ(gm_dirty_page_gpa(&gm, 2), GB(1) - PG);
	CHECK_EQ(gm_dirty_page_gpa(&gm, 3), UINT64_MAX);
	/* untouched memory reads as zero */
	CHECK_EQ(gm_read(&gm, GB(1) / 4, buf, sizeof(buf)), 0);
	CHECK(all_bytes(buf, 0, sizeof(buf)));
	/* reset walks the 3 dirty pages and zeroes them */
	gm_dirty_reset(&gm);
	CHECK_EQ(gm_dirty_count(&gm), 0);
	CHECK_EQ(gm_dirty_page_gpa(&gm, 0), UINT64_MAX);
	CHECK(!memcmp(gm.regions[0].host + a, zero, PG));
	CHECK(!memcmp(gm.regions[0].host + (b & ~(uint64_t)(PG - 1)), zero, PG));
	CHECK(!memcmp(gm.regions[0].host + GB(1) - PG, zero, PG));
	for (uint64_t w = 0; w < (gm.npages + 63) / 64; w++)
		if (gm.dirty_bits[w])
			CHECK_EQ(gm.dirty_bits[w], 0);
	/* the same pages become dirty again, listed again */
	CHECK_EQ(gm_write(&gm, a, buf, 1), 0);
	CHECK_EQ(gm_dirty_count(&gm), 1);
	gm_destroy(&gm);
}

static int reset_calls;

static void count_reset(void *ctx, struct gm *gm)
{
	reset_calls++;
}

static void test_dirty_sources_of_writes(void)
{
	struct gm gm;
	/* a plain-like source that counts resets */
	struct gm_source_ops ops = {
		.name = "counting",
		.read = gm_source_plain.read,
		.write = gm_source_plain.write,
		.reset = count_reset,
		.direct = true,
	};
	uint8_t buf[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	uint8_t *p;
	setup(&gm);
	CHECK_EQ(gm_add_ram(&gm, 0, KB(16), NULL, "a"), 0);
	/* guest writes */
	CHECK_EQ(gm_guest_write(&gm, 0x10, buf, 8), 0);
	CHECK_EQ(gm_dirty_count(&gm), 1);
	/* device write crossing a page boundary marks both pages */
	CHECK_EQ(gm_write(&gm, 2 * PG - 4, buf, 8), 0);
	CHECK_EQ(gm_dirty_count(&gm), 3);
	/* gm_ptr for writing */
	p = gm_ptr(&gm, 3 * PG + 1, 1, GM_ACCESS_WRITE);
	CHECK(p != NULL);
	CHECK_EQ(gm_dirty_count(&gm), 4);
	/* reads, guest pointers and read pointers do not */
	CHECK_EQ(gm_read(&gm, 0, buf, 8), 0);
	CHECK(gm_guest_ptr(&gm, 0, 8) != NULL);
	CHECK_EQ(gm_dirty_count(&gm), 4);

	/* a second RAM region added later grows the bitmap; old bits survive */
	CHECK_EQ(gm_add_ram(&gm, MB(1), KB(8), NULL, "b"), 0);
	CHECK_EQ(gm.regions[1].page_base, 4);
	CHECK_EQ(gm.npages, 6);
	CHECK_EQ(gm_write(&gm, MB(1) + PG, buf, 1), 0);
	CHECK_EQ(gm_dirty_count(&gm), 5);
	CHECK_EQ(gm_dirty_page_gpa(&gm, 4), MB(1) + PG);
	CHECK_EQ(gm_write(&gm, 0x10, buf, 1), 0); /* page 0 still known dirty */
	CHECK_EQ(gm_dirty_count(&gm), 5);

	/* gm_mark_dirty across regions and holes: only RAM pages count */
	gm_dirty_reset(&gm);
	CHECK_EQ(gm_dirty_count(&gm), 0);
	gm_mark_dirty(&gm, KB(16) - 1, MB(1) - KB(16) + 2);
	CHECK_EQ(gm_dirty_count(&gm), 2);
	CHECK_EQ(gm_dirty_page_gpa(&gm, 0), KB(12));
	CHECK_EQ(gm_dirty_page_gpa(&gm, 1), MB(1));
	CHECK_EQ(gm_add_mmio(&gm, MB(2), PG, "io"), 0);
	gm_mark_dirty(&gm, MB(2), PG);
	CHECK_EQ(gm_dirty_count(&gm), 2);
	gm_mark_dirty(&gm, 0, UINT64_MAX);
	CHECK_EQ(gm_dirty_count(&gm), 6);
	gm_mark_dirty(&gm, MB(5), PG);
	CHECK_EQ(gm_dirty_count(&gm), 6);

	/* reset zeroes what was written and tells the source */
	gm_set_source(&gm, &ops, NULL);
	reset_calls = 0;
	gm_dirty_reset(&gm);
	CHECK_EQ(reset_calls, 1);
	CHECK_EQ(gm_read(&gm, 2 * PG - 4, buf, 8), 0);
	CHECK(all_bytes(buf, 0, 8));
	CHECK_EQ(gm_guest_read(&gm, 0x10, buf, 8), 0);
	CHECK(all_bytes(buf, 0, 8));
	/* a read through a non-plain source may have filled memory: dirty */
	CHECK_EQ(gm_dirty_count(&gm), 2);
	CHECK(gm_ptr(&gm, 0, 8, GM_ACCESS_READ) != NULL); /* direct source */
	gm_dirty_reset(&gm);
	CHECK_EQ(reset_calls, 2);
	gm_set_source(&gm, NULL, &ops);
	CHECK(gm.src == &gm_source_plain);
	CHECK(gm.src_ctx == NULL);

	/* tracking off */
	gm.track_dirty = false;
	CHECK_EQ(gm_write(&gm, 0, buf, 8), 0);
	CHECK_EQ(gm_guest_write(&gm, PG, buf, 8), 0);
	gm_mark_dirty(&gm, 0, KB(16));
	CHECK_EQ(gm_dirty_count(&gm), 0);
	gm_destroy(&gm);
}

static void test_discard(void)
{
	struct gm gm;
	uint8_t buf[16];

	memset(buf, 0x3c, sizeof(buf));
	setup(&gm);
	CHECK_EQ(gm_add_ram(&gm, 0, KB(16), NULL, "a"), 0);
	CHECK_EQ(gm_add_ram(&gm, KB(16), KB(16), NULL, "b"), 0);
	for (uint64_t off = 0; off < KB(32); off += PG)
		CHECK_EQ(gm_write(&gm, off + 8, buf, sizeof(buf)), 0);
	CHECK_EQ(gm_discard(&gm, PG, 2 * PG), 0);
	CHECK_EQ(gm_read(&gm, PG + 8, buf, sizeof(buf)), 0);
	CHECK(all_bytes(buf, 0, sizeof(buf)));
	CHECK_EQ(gm_read(&gm, 2 * PG + 8, buf, sizeof(buf)), 0);
	CHECK(all_bytes(buf, 0, sizeof(buf)));
	CHECK_EQ(gm_read(&gm, 8, buf, sizeof(buf)), 0);
	CHECK(all_bytes(buf, 0x3c, sizeof(buf)));
	CHECK_EQ(gm_read(&gm, 3 * PG + 8, buf, sizeof(buf)), 0);
	CHECK(all_bytes(buf, 0x3c, sizeof(buf)));
	/* the discarded page is usable again */
	CHECK_EQ(gm_write(&gm, PG, buf, 4), 0);
	CHECK_EQ(gm_read(&gm, PG, buf + 8, 4), 0);
	CHECK(all_bytes(buf + 8, 0x3c, 4));
	/* alignment, range */
	CHECK_EQ(gm_discard(&gm, PG + 1, PG), -EINVAL);
	CHECK_EQ(gm_discard(&gm, PG, PG - 1), -EINVAL);
	CHECK_EQ(gm_discard(&gm, KB(12), 2 * PG), -EFAULT); /* crosses a and b */
	CHECK_EQ(gm_discard(&gm, MB(1), PG), -EFAULT);
	CHECK_EQ(gm_discard(&gm, KB(16), KB(16)), 0);
	CHECK_EQ(gm_read(&gm, KB(28) + 8, buf, 4), 0);
	CHECK(all_bytes(buf, 0, 4));
	CHECK_EQ(lg.total, 0);
	gm_destroy(&gm);
}

/*
 * TEST-ONLY "script" source, shaped like replay: device reads are served from
 * a queue of expected (gpa, len, bytes) entries, and any read that does not
 * match the next entry is a divergence (-EIO). Writes are recorded and also
 * stored (through the plain source) so the guest side sees them.
 */
struct script_ent {
	uint64_t gpa;
	size_t len;
	uint8_t bytes[16];
};

struct script {
	const struct script_ent *ent;
	unsigned n, next;
	unsigned divergences;
	unsigned nwrites;
	struct script_ent writes[8];
	int write_err; /* when set, writes fail with it and store nothing */
};

static int script_read(void *ctx, struct gm *gm, uint64_t gpa, uint8_t *host, void *dst,
		       size_t len)
{
	struct script *s = ctx;
	const struct script_ent *e = s->next < s->n ? &s->ent[s->next] : NULL;

	if (!e || e->gpa != gpa || e->len != len) {
		s->divergences++;
		/* scribble: the arena must zero-fill dst on failure */
		memset(dst, 0xdd, len);
		return -EIO;
	}
	memcpy(dst, e->bytes, len);
	s->next++;
	return 0;
}

static int script_write(void *ctx, struct gm *gm, uint64_t gpa, uint8_t *host, const void *src,
			size_t len)
{
	struct script *s = ctx;

	if (s->write_err)
		return s->write_err;
	if (s->nwrites < RS_ARRAY_SIZE(s->writes)) {
		struct script_ent *w = &s->writes[s->nwrites];

		w->gpa = gpa;
		w->len = len;
		memcpy(w->bytes, src, RS_MIN(len, sizeof(w->bytes)));
	}
	s->nwrites++;
	return gm_source_plain.write(NULL, gm, gpa, host, src, len);
}

static const struct gm_source_ops script_source = {
	.name = "script",
	.read = script_read,
	.write = script_write,
	.direct = false,
};

static void test_script_source(void)
{
	static const struct script_ent ents[] = {
		{ 0x100, 4, { 1, 2, 3, 4 } },
		{ 0x200, 2, { 0x34, 0x12 } },
		{ 0x300, 8, { 9, 9, 9, 9, 9, 9, 9, 9 } },
	};
	struct script s = { .ent = ents, .n = RS_ARRAY_SIZE(ents) };
	struct tap_rec t = { 0 };
	struct gm gm;
	uint8_t buf[8], mem[4];
	uint16_t v16 = 7;
	uint64_t v64 = 7;

	setup(&gm);
	CHECK_EQ(gm_add_ram(&gm, 0, KB(16), NULL, "ram"), 0);
	gm_set_source(&gm, &script_source, &s);
	gm_set_tap(&gm, tap_fn, &t);
	/* memory holds something else: the device sees the recorded bytes */
	CHECK_EQ(gm_guest_write(&gm, 0x100, "\xff\xff\xff\xff", 4), 0);
	CHECK_EQ(gm_read(&gm, 0x100, buf, 4), 0);
	CHECK(buf[0] == 1 && buf[3] == 4);
	CHECK_EQ(gm_read16(&gm, 0x200, &v16), 0);
	CHECK_EQ(v16, 0x1234);
	/* the tap (recorder) sees what the device saw */
	CHECK_EQ(t.n, 2);
	CHECK(t.ev[0].data[0] == 1 && t.ev[1].data[1] == 0x12);
	/* a read of another address or length diverges: -EIO, zero-filled */
	CHECK_EQ(gm_read(&gm, 0x300, buf, 4), -EIO);
	CHECK(all_bytes(buf, 0, 4));
	CHECK_EQ(gm_read64(&gm, 0x308, &v64), -EIO);
	CHECK_EQ(v64, 0);
	CHECK_EQ(s.divergences, 2);
	CHECK_EQ(t.n, 2);
	CHECK_EQ(gm.stats.reads, 2);
	/* source errors are the source's to report, not range faults */
	CHECK_EQ(gm.stats.faults, 0);
	CHECK_EQ(lg.total, 0);
	/* range checks still come first: the source never sees a bad range */
	CHECK_EQ(gm_read(&gm, KB(16) - 2, buf, 8), -EFAULT);
	CHECK_EQ(s.divergences, 2);
	CHECK_EQ(gm_read(&gm, 0x300, buf, 8), 0);
	CHECK(all_bytes(buf, 9, 8));
	CHECK_EQ(gm_read(&gm, 0x300, buf, 8), -EIO); /* script exhausted */
	/* writes are recorded and land in memory */
	CHECK_EQ(gm_write32(&gm, 0x400, 0xcafef00d), 0);
	CHECK_EQ(s.nwrites, 1);
	CHECK_EQ(s.writes[0].gpa, 0x400);
	CHECK_EQ(s.writes[0].len, 4);
	CHECK_EQ(rs_le32(s.writes[0].bytes), 0xcafef00d);
	CHECK_EQ(gm_guest_read(&gm, 0x400, mem, 4), 0);
	CHECK_EQ(rs_le32(mem), 0xcafef00d);
	CHECK_EQ(t.ev[t.n - 1].dir, GM_ACCESS_WRITE);
	/* a failing source write: its error, nothing stored, shown or dirtied */
	gm_dirty_reset(&gm);
	s.write_err = -ENOSPC;
	CHECK_EQ(gm_write16(&gm, 0x500, 0xffff), -ENOSPC);
	CHECK_EQ(s.nwrites, 1);
	CHECK_EQ(gm_guest_read(&gm, 0x500, mem, 2), 0);
	CHECK(all_bytes(mem, 0, 2));
	CHECK_EQ(gm_dirty_count(&gm), 0);
	CHECK_EQ(gm.stats.writes, 1);
	CHECK_EQ(t.ev[t.n - 1].gpa, 0x400);
	/* not direct: no raw pointers, with or without the tap */
	gm_set_tap(&gm, NULL, NULL);
	CHECK(gm_ptr(&gm, 0x100, 4, GM_ACCESS_READ) == NULL);
	gm_destroy(&gm);
}

/*
 * TEST-ONLY "lazy" source, shaped like fuzz: the first device read of a byte
 * nobody initialised fills it from an input stream (then 0 when the input
 * runs out); bytes the guest side wrote, and bytes already served, are left
 * alone. Reset forgets which bytes were served.
 */
#define LAZY_SIZE (2 * PG)

struct lazy {
	const uint8_t *in;
	size_t in_len, in_pos;
	uint8_t touched[LAZY_SIZE]; /* one flag per arena byte (arena at gpa 0) */
	unsigned resets, fills;
	bool strict; /* fail (-EIO) a read that needs input when none is left */
};

static int lazy_read(void *ctx, struct gm *gm, uint64_t gpa, uint8_t *host, void *dst, size_t len)
{
	struct lazy *z = ctx;
	size_t need = 0;

	for (size_t i = 0; i < len; i++)
		need += !z->touched[gpa + i];
	if (z->strict && need > z->in_len - z->in_pos)
		return -EIO;
	for (size_t i = 0; i < len; i++) {
		if (!z->touched[gpa + i]) {
			host[i] = z->in_pos < z->in_len ? z->in[z->in_pos++] : 0;
			z->touched[gpa + i] = 1;
			z->fills++;
		}
	}
	return gm_source_plain.read(NULL, gm, gpa, host, dst, len);
}

static int lazy_write(void *ctx, struct gm *gm, uint64_t gpa, uint8_t *host, const void *src,
		      size_t len)
{
	struct lazy *z = ctx;

	memcpy(host, src, len);
	memset(z->touched + gpa, 1, len);
	return 0;
}

static void lazy_guest_wrote(void *ctx, struct gm *gm, uint64_t gpa, size_t len)
{
	struct lazy *z = ctx;

	memset(z->touched + gpa, 1, len);
}

static void lazy_reset(void *ctx, struct gm *gm)
{
	struct lazy *z = ctx;

	memset(z->touched, 0, sizeof(z->touched));
	z->resets++;
}

static const struct gm_source_ops lazy_source = {
	.name = "lazy",
	.read = lazy_read,
	.write = lazy_write,
	.guest_wrote = lazy_guest_wrote,
	.reset = lazy_reset,
	.direct = false,
};

static void test_lazy_source(void)
{
	static const uint8_t input[] = { 0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xb0, 0xb1 };
	struct lazy *z = calloc(1, sizeof(*z));
	struct gm gm;
	uint8_t buf[8], g[2] = { 0x11, 0x22 };

	CHECK(z != NULL);
	if (!z)
		return;
	z->in = input;
	z->in_len = sizeof(input);
	setup(&gm);
	CHECK_EQ(gm_add_ram(&gm, 0, LAZY_SIZE, NULL, "ram"), 0);
	gm_set_source(&gm, &lazy_source, z);
	/* the guest initialises two bytes; the device's first read fills the rest */
	CHECK_EQ(gm_guest_write(&gm, 0x102, g, 2), 0);
	CHECK_EQ(gm_read(&gm, 0x100, buf, 6), 0);
	CHECK(buf[0] == 0xa0 && buf[1] == 0xa1 && buf[2] == 0x11 && buf[3] == 0x22 &&
	      buf[4] == 0xa2 && buf[5] == 0xa3);
	CHECK_EQ(z->fills, 4);
	/* a second read sees the same bytes and consumes no input */
	CHECK_EQ(gm_read(&gm, 0x100, buf, 6), 0);
	CHECK(buf[0] == 0xa0 && buf[5] == 0xa3);
	CHECK_EQ(z->in_pos, 4);
	/* the guest side sees what the device was served */
	CHECK_EQ(gm_guest_read(&gm, 0x100, buf, 2), 0);
	CHECK(buf[0] == 0xa0 && buf[1] == 0xa1);
	/* device writes are not refilled later */
	CHECK_EQ(gm_write16(&gm, PG, 0xbeef), 0);
	CHECK_EQ(gm_read(&gm, PG, buf, 4), 0);
	CHECK(buf[0] == 0xef && buf[1] == 0xbe && buf[2] == 0xa4 && buf[3] == 0xa5);
	/* the arena marked the filled pages dirty: reset zeroes them and tells
	 * the source, which then draws fresh input */
	CHECK_EQ(gm_dirty_count(&gm), 2);
	gm_dirty_reset(&gm);
	CHECK_EQ(z->resets, 1);
	CHECK_EQ(gm_guest_read(&gm, 0x100, buf, 6), 0);
	CHECK(all_bytes(buf, 0, 6));
	CHECK_EQ(gm_read(&gm, 0x100, buf, 4), 0);
	CHECK(buf[0] == 0xb0 && buf[1] == 0xb1 && buf[2] == 0 && buf[3] == 0);
	/* a failing source read zero-fills and leaves no dirty page behind */
	gm_dirty_reset(&gm);
	z->strict = true;
	memset(buf, 0xaa, sizeof(buf));
	CHECK_EQ(gm_read(&gm, 0x200, buf, 2), -EIO);
	CHECK(all_bytes(buf, 0, 2));
	CHECK_EQ(gm_dirty_count(&gm), 0);
	CHECK_EQ(gm.stats.faults, 0);
	gm_destroy(&gm);
	free(z);
}

static void test_destroy_reuse(void)
{
	struct gm gm;
	uint8_t b = 1;

	setup(&gm);
	CHECK_EQ(gm_add_ram(&gm, 0, MB(4), NULL, "a"), 0);
	CHECK_EQ(gm_add_mmio(&gm, MB(4), PG, "io"), 0);
	CHECK_EQ(gm_write(&gm, 5, &b, 1), 0);
	gm_destroy(&gm);
	CHECK(gm.dirty_bits == NULL && gm.dirty_list == NULL);
	CHECK_EQ(gm.nregions, 0);
	setup(&gm);
	CHECK_EQ(gm_add_ram(&gm, 0, MB(4), NULL, "a"), 0);
	CHECK_EQ(gm_read(&gm, 5, &b, 1), 0);
	CHECK_EQ(b, 0);
	gm_destroy(&gm);
	gm_destroy(&gm); /* twice is harmless */
}

int main(void)
{
	RUN(test_init);
	RUN(test_add_regions);
	RUN(test_edges);
	RUN(test_wrap);
	RUN(test_len0);
	RUN(test_mmio);
	RUN(test_external);
	RUN(test_tap);
	RUN(test_ptr);
	RUN(test_fixed_width);
	RUN(test_stats_and_null_log);
	RUN(test_lookup_cache);
	RUN(test_dirty_big_arena);
	RUN(test_dirty_sources_of_writes);
	RUN(test_discard);
	RUN(test_script_source);
	RUN(test_lazy_source);
	RUN(test_destroy_reuse);
	return check_done();
}
