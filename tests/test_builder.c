/*
 * ringside tests — the machine builder (devices/registry.c): device table,
 * spec errors surfacing as one line, device placement info, and determinism
 * of a whole reference-driver session (same spec + same driver actions give
 * bit-identical device state and guest memory).
 */
#include <string.h>

#include "check.h"
#include "ringside/echo.h"
#include "ringside/guest_machine.h"
#include "ringside/ringside.h"

static void test_device_table(void)
{
	CHECK(rs_device_find("echo") != NULL);
	CHECK(rs_device_find("nope") == NULL);
	for (unsigned i = 0; rs_devices[i]; i++) {
		CHECK(rs_devices[i]->name && rs_devices[i]->name[0]);
		CHECK(!rs_devices[i]->num_queues || rs_devices[i]->queue_notify != NULL);
		CHECK(rs_device_find(rs_devices[i]->name) == rs_devices[i]);
	}
}

/* err must be one line mentioning want. */
static void expect_error(const char *spec, const char *want)
{
	struct machine *m = (struct machine *)1;
	char err[512] = "";
	int r = rs_machine_new(spec, &m, err, sizeof err);

	CHECK(r < 0);
	CHECK(m == NULL);
	CHECK(strchr(err, '\n') == NULL);
	if (!strstr(err, want)) {
		fprintf(stderr, "spec '%s': error '%s' lacks '%s'\n", spec, err, want);
		CHECK(0);
	}
}

static void test_errors(void)
{
	expect_error("pci:nosuch", "unknown device 'nosuch'");
	expect_error("pci:echo,bogus=1", "bogus");
	expect_error("pci:echo,queues=9", "queues");
	expect_error("pcix:echo", "pcix");
	expect_error("mem=12Q", "12Q");
	expect_error("pci:echo,slot=3 pci:echo,slot=3", "slot");
}

static void test_placement(void)
{
	struct machine *m;
	char err[256];

	CHECK_EQ(rs_machine_new("mem=16M pci:echo,slot=5 mmio:echo mmio-legacy:echo,irq=9 "
				"pci-legacy:echo pci-modern:echo",
				&m, err, sizeof err),
		 0);
	if (!m)
		return;
	CHECK_EQ(m->ndevs, 5);
	CHECK_EQ(m->devinfo[0].slot, 5);
	CHECK_EQ(m->devinfo[0].transport, MSPEC_PCI);
	CHECK_EQ(m->devinfo[1].base, MACHINE_VMMIO_BASE);
	CHECK_EQ(m->devinfo[2].base, MACHINE_VMMIO_BASE + MACHINE_VMMIO_STRIDE);
	CHECK_EQ(m->devinfo[2].gsi, 9);
	CHECK(m->devinfo[3].slot >= 1 && m->devinfo[3].slot != 5);
	CHECK(m->devinfo[4].slot >= 1 && m->devinfo[4].slot != m->devinfo[3].slot);
	CHECK(strstr(m->spec, "mem=16M") != NULL);
	CHECK_EQ(m->mem_size, 16u << 20);
	rs_machine_free(m);
	rs_machine_free(NULL);

	/* Explicit placements are honoured even when named after automatic
	 * ones; indices stay in spec order. */
	CHECK_EQ(rs_machine_new("pci:echo pci:echo,slot=1 mmio:echo mmio:echo,addr=0xd0000000", &m,
				err, sizeof err),
		 0);
	if (!m)
		return;
	CHECK_EQ(m->devinfo[1].slot, 1);
	CHECK(m->devinfo[0].slot > 1);
	CHECK_EQ(m->devinfo[3].base, MACHINE_VMMIO_BASE);
	CHECK(m->devinfo[2].base > MACHINE_VMMIO_BASE);
	CHECK_EQ(m->ndevs, 4);
	rs_machine_free(m);
}

/* FNV-1a over the dirty pages of guest memory. */
static uint64_t memory_hash(struct machine *m)
{
	uint64_t h = 0xcbf29ce484222325ull;
	uint8_t page[GM_PAGE_SIZE];

	for (uint64_t i = 0; i < gm_dirty_count(&m->gm); i++) {
		uint64_t gpa = gm_dirty_page_gpa(&m->gm, i);
		gm_guest_read(&m->gm, gpa, page, sizeof page);
		for (unsigned j = 0; j < sizeof page; j++)
			h = (h ^ page[j]) * 0x100000001b3ull;
		h = (h ^ gpa) * 0x100000001b3ull;
	}
	return h;
}

/* One scripted session: returns a hash of device state and memory. */
static uint64_t session(const char *spec)
{
	struct machine *m;
	char err[256];
	struct gdrv_io io;
	struct gdrv_mem mem = { 1u << 20, 8u << 20 };
	static struct gdrv_dev gd;
	struct gdrv_pci_info pci;
	uint64_t h = 0;

	if (rs_machine_new(spec, &m, err, sizeof err) < 0) {
		fprintf(stderr, "%s\n", err);
		CHECK(0);
		return 0;
	}
	gdrv_machine_io(&io, m);
	memset(&gd, 0, sizeof gd);
	CHECK_EQ(gdrv_pci_scan(&io, &pci, 1), 1);
	CHECK_EQ(gdrv_open_pci(&gd, &io, &mem, &pci, false), 0);
	CHECK_EQ(gdrv_init(&gd, ~0ull), 0);
	CHECK_EQ(gdrv_setup_vq(&gd, 0, 16), 0);
	gdrv_driver_ok(&gd);
	gdrv_config_write(&gd, ECHO_CFG_KEY, 1, 0x33);
	uint64_t buf = gdrv_alloc(&io, &mem, 8192, 4096);
	for (unsigned i = 0; i < 100; i++) {
		uint8_t data[64];
		for (unsigned j = 0; j < sizeof data; j++)
			data[j] = (uint8_t)(i + j);
		io.mem_write(io.ctx, buf, data, sizeof data);
		struct gdrv_buf b[2] = { { buf, 64 }, { buf + 4096, 64 } };
		uint64_t tok;
		uint32_t len;
		CHECK_EQ(gdrv_submit(&gd.vq[0], b, 1, 1, i, i & 1), 0);
		gdrv_kick(&gd.vq[0]);
		CHECK_EQ(gdrv_get_used(&gd.vq[0], &tok, &len), 1);
		CHECK_EQ(tok, i);
		CHECK_EQ(len, 64);
	}
	h = vdev_state_hash(m->devs[0]) ^ memory_hash(m) ^ (m->msi_count << 32) ^ m->intx_raised;
	rs_machine_free(m);
	return h;
}

static void test_determinism(void)
{
	const char *specs[] = { "mem=16M pci-modern:echo", "mem=16M pci-modern:echo,packed=off",
				"mem=16M pci:echo,msix=off" };
	for (unsigned i = 0; i < RS_ARRAY_SIZE(specs); i++) {
		uint64_t a = session(specs[i]), b = session(specs[i]);
		CHECK(a != 0);
		CHECK_EQ(a, b);
	}
}

/* Two devices sharing one INTx line: acknowledging one must not drop the
 * other's pending interrupt (wired-OR). */
static void test_shared_intx(void)
{
	struct machine *m;
	char err[256];
	struct gdrv_io io;
	struct gdrv_mem mem = { 1u << 20, 8u << 20 };
	static struct gdrv_dev a, b;

	CHECK_EQ(rs_machine_new("mem=16M mmio:echo,irq=9 mmio-legacy:echo,irq=9", &m, err,
				sizeof err),
		 0);
	if (!m)
		return;
	gdrv_machine_io(&io, m);
	struct gdrv_dev *devs[2] = { &a, &b };
	uint64_t buf = gdrv_alloc(&io, &mem, 8192, 4096);
	for (unsigned i = 0; i < 2; i++) {
		memset(devs[i], 0, sizeof *devs[i]);
		CHECK_EQ(gdrv_open_mmio(devs[i], &io, &mem, m->devinfo[i].base), 0);
		CHECK_EQ(gdrv_init(devs[i], 0), 0);
		CHECK_EQ(gdrv_setup_vq(devs[i], 0, 8), 0);
		gdrv_driver_ok(devs[i]);
	}
	for (unsigned i = 0; i < 2; i++) {
		struct gdrv_buf bb[2] = { { buf, 16 }, { buf + 4096, 16 } };
		CHECK_EQ(gdrv_submit(&devs[i]->vq[0], bb, 1, 1, 1, false), 0);
		gdrv_kick(&devs[i]->vq[0]);
		CHECK(m->intx_level & (1u << 9));
	}
	CHECK_EQ(gdrv_ack_isr(&a) & VIRTIO_ISR_QUEUE, VIRTIO_ISR_QUEUE);
	CHECK(m->intx_level & (1u << 9)); /* b still holds the line */
	CHECK_EQ(gdrv_ack_isr(&b) & VIRTIO_ISR_QUEUE, VIRTIO_ISR_QUEUE);
	CHECK_EQ(m->intx_level & (1u << 9), 0);
	CHECK_EQ(m->intx_raised, 1);
	rs_machine_free(m);
}

int main(void)
{
	RUN(test_device_table);
	RUN(test_errors);
	RUN(test_placement);
	RUN(test_determinism);
	RUN(test_shared_intx);
	return check_done();
}
