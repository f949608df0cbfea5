/*
 * ringside tests — the virtio console ("console", virtio-v1.2 5.3), driven
 * by the reference driver over every transport: output bytes reaching the
 * mem backend exactly, input events reaching the guest (split over several
 * receive buffers, buffered before buffers exist, bounded), the MULTIPORT
 * control handshake done by hand on the control queues, malformed control
 * messages and buffers, EMERG_WRITE, resize, the pty and stdio backends,
 * reset, options.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <termios.h>
#include <unistd.h>

#include "check.h"
#include "ringside/guest_machine.h"
#include "ringside/ringside.h"
#include "ringside/virtio.h"
#include "../devices/console/console.h"

#define DRV_MEM_BASE 0x100000ull
#define DRV_MEM_END (16ull << 20)
#define SLOT_BYTES 4096u
#define NSLOTS 256u
#define QSIZE 64

#define F(b) VIRTIO_BIT(b)
#define F_ALL (~0ull)
#define F_NO_PACKED (~F(VIRTIO_F_RING_PACKED))

/* ---- pty fault injection ---------------------------------------------------------------- */

/* The pty backend's libc calls are interposed here so each failure path
 * can be taken on purpose; with fail_step 0 they are libc's own. */
enum {
	FAIL_NONE = 0,
	FAIL_OPENPT,
	FAIL_GRANTPT,
	FAIL_UNLOCKPT,
	FAIL_PTSNAME,
	FAIL_TCGETATTR,
	FAIL_TCSETATTR,
};
static int fail_step;

#define REAL(fn) ((__typeof__(&fn))dlsym(RTLD_NEXT, #fn))

int posix_openpt(int flags)
{
	if (fail_step == FAIL_OPENPT) {
		errno = EMFILE;
		return -1;
	}
	return REAL(posix_openpt)(flags);
}

int grantpt(int fd)
{
	if (fail_step == FAIL_GRANTPT) {
		errno = EACCES;
		return -1;
	}
	return REAL(grantpt)(fd);
}

int unlockpt(int fd)
{
	if (fail_step == FAIL_UNLOCKPT) {
		errno = EINVAL;
		return -1;
	}
	return REAL(unlockpt)(fd);
}

int ptsname_r(int fd, char *buf, size_t len)
{
	if (fail_step == FAIL_PTSNAME) {
		errno = ERANGE;
		return ERANGE;
	}
	return REAL(ptsname_r)(fd, buf, len);
}

int tcgetattr(int fd, struct termios *t)
{
	if (fail_step == FAIL_TCGETATTR) {
		errno = ENOTTY;
		return -1;
	}
	return REAL(tcgetattr)(fd, t);
}

int tcsetattr(int fd, int act, const struct termios *t)
{
	if (fail_step == FAIL_TCSETATTR) {
		errno = EIO;
		return -1;
	}
	return REAL(tcsetattr)(fd, act, t);
}

/* ---- environment ------------------------------------------------------------------------ */

struct env {
	struct machine *m;
	struct vdev *dev;         /* the console (device 0) */
	struct gdrv_io io;
	struct gdrv_mem mem;
	struct gdrv_dev *d;
	uint64_t scratch;         /* NSLOTS buffers of SLOT_BYTES */
	unsigned next_slot;
};

/* Build the machine of spec and open device 0 (PCI: through its legacy
 * interface when use_legacy). */
static bool env_open(struct env *e, const char *spec, bool use_legacy)
{
	char err[256];
	memset(e, 0, sizeof *e);
	if (rs_machine_new(spec, &e->m, err, sizeof err) < 0) {
		fprintf(stderr, "rs_machine_new(%s): %s\n", spec, err);
		CHECK(!"machine");
		return false;
	}
	e->dev = e->m->devs[0];
	gdrv_machine_io(&e->io, e->m);
	e->mem.next = DRV_MEM_BASE;
	e->mem.end = DRV_MEM_END;
	e->d = calloc(1, sizeof *e->d);
	e->scratch = gdrv_alloc(&e->io, &e->mem, (uint64_t)NSLOTS * SLOT_BYTES, 4096);
	CHECK(e->scratch != 0);
	if (gdrv_machine_open(e->d, &e->io, &e->mem, e->m, 0, use_legacy, NULL) != 0) {
		CHECK(!"device not found on its transport");
		return false;
	}
	CHECK_EQ(e->d->device_id, VIRTIO_ID_CONSOLE);
	return true;
}

static void env_close(struct env *e)
{
	rs_machine_free(e->m);
	free(e->d);
	memset(e, 0, sizeof *e);
}

/* Negotiate want, set up queues [0, nq) and DRIVER_OK. */
static bool env_up(struct env *e, uint64_t want, unsigned nq)
{
	if (gdrv_init(e->d, want) != 0) {
		CHECK(!"gdrv_init");
		return false;
	}
	for (unsigned q = 0; q < nq; q++)
		CHECK_EQ(gdrv_setup_vq(e->d, q, QSIZE), 0);
	gdrv_driver_ok(e->d);
	CHECK(gdrv_get_status(e->d) & VIRTIO_STATUS_DRIVER_OK);
	return e->d->nqueues == nq;
}

/* Nothing the reference driver did was a violation. */
static void env_check_clean(struct env *e)
{
	CHECK_EQ(e->dev->log.total, 0);
	if (e->dev->log.total)
		fprintf(stderr, "device: %s\n", diag_last(&e->dev->log)->msg);
	CHECK_EQ(e->m->log.total, 0);
}

static uint64_t slot(struct env *e)
{
	return e->scratch + (uint64_t)(e->next_slot++ % NSLOTS) * SLOT_BYTES;
}

static uint8_t pat(uint32_t seed, uint32_t i)
{
	return (uint8_t)(seed * 37u + i * 13u + (i >> 9) + 5u);
}

static struct gdrv_vq *rxq(struct env *e, unsigned port)
{
	return &e->d->vq[console_rxq(port)];
}

static struct gdrv_vq *txq(struct env *e, unsigned port)
{
	return &e->d->vq[console_rxq(port) + 1];
}

static struct world_backend *backend(struct env *e, unsigned port)
{
	return console_port_backend(e->dev, port);
}

static struct console_port_stats stats(struct env *e, unsigned port)
{
	struct console_port_stats s;

	memset(&s, 0, sizeof s);
	CHECK_EQ(console_port_stats(e->dev, port, &s), 0);
	return s;
}

/* Transmit data on port (split into segments of at most seg bytes), wait
 * for the completion and check its used length (0: nothing written). */
static void tx(struct env *e, unsigned port, const uint8_t *data, uint32_t len, uint32_t seg)
{
	struct gdrv_buf b[16];
	unsigned n = 0;
	uint64_t tok;
	uint32_t used;

	for (uint32_t off = 0; off < len && n < 16; n++) {
		uint32_t k = RS_MIN(seg, len - off);

		CHECK(k <= SLOT_BYTES);
		b[n].gpa = slot(e);
		b[n].len = k;
		e->io.mem_write(e->io.ctx, b[n].gpa, data + off, k);
		off += k;
	}
	CHECK_EQ(gdrv_submit(txq(e, port), b, n, 0, 0x7700 + n, false), 0);
	gdrv_kick(txq(e, port));
	CHECK_EQ(gdrv_get_used(txq(e, port), &tok, &used), 1);
	CHECK_EQ(tok, 0x7700 + n);
	CHECK_EQ(used, 0);
}

/* Post n receive buffers of size bytes on port (token: the gpa). */
static void rx_post(struct env *e, unsigned port, unsigned n, uint32_t size, bool kick)
{
	for (unsigned i = 0; i < n; i++) {
		struct gdrv_buf b = { slot(e), size };

		CHECK_EQ(gdrv_submit(rxq(e, port), &b, 0, 1, b.gpa, false), 0);
	}
	if (kick)
		gdrv_kick(rxq(e, port));
}

/* Collect every completed receive buffer of port into out (at most cap
 * bytes); lens[] gets each buffer's used length. Returns the bytes. */
static size_t rx_collect(struct env *e, unsigned port, uint8_t *out, size_t cap, uint32_t *lens,
			 unsigned *nbufs)
{
	uint64_t tok;
	uint32_t len;
	size_t total = 0;
	unsigned n = 0;

	while (gdrv_get_used(rxq(e, port), &tok, &len) == 1) {
		CHECK(len <= SLOT_BYTES);
		if (lens && n < 64)
			lens[n] = len;
		n++;
		if (total + len <= cap)
			e->io.mem_read(e->io.ctx, tok, out + total, len);
		total += len;
	}
	if (nbufs)
		*nbufs = n;
	return total;
}

/* Input from the host for port, delivered through the world. */
static void inject(struct env *e, unsigned port, const void *data, size_t len)
{
	CHECK_EQ(console_mem_inject(backend(e, port), e->m->world, data, len), 0);
	CHECK_EQ(rs_machine_poll_events(e->m, 16), 1);
}

/* Output captured by port's mem backend equals data[0, len); consumed. */
static void expect_output(struct env *e, unsigned port, const uint8_t *data, size_t len)
{
	static uint8_t got[70000];
	size_t have = 0;

	console_mem_data(backend(e, port), &have);
	CHECK_EQ(have, len);
	CHECK_EQ(console_mem_read(backend(e, port), got, sizeof got), RS_MIN(have, sizeof got));
	CHECK(have == len && memcmp(got, data, len) == 0);
}

/* ---- control queue helpers --------------------------------------------------------------- */

struct msg {
	uint32_t id;
	uint16_t event, value;
	uint32_t len;        /* payload bytes */
	uint8_t data[128];
};

static void ctrl_post(struct env *e, unsigned n, uint32_t size)
{
	for (unsigned i = 0; i < n; i++) {
		struct gdrv_buf b = { slot(e), size };

		CHECK_EQ(gdrv_submit(&e->d->vq[CONSOLE_CTRL_RXQ], &b, 0, 1, b.gpa, false), 0);
	}
	gdrv_kick(&e->d->vq[CONSOLE_CTRL_RXQ]);
}

/* Read completed control receive buffers into msgs; returns the count.
 * Buffers completed with length 0 (too small) count in *empty. */
static unsigned ctrl_collect(struct env *e, struct msg *msgs, unsigned max, unsigned *empty)
{
	uint64_t tok;
	uint32_t len;
	unsigned n = 0;

	while (gdrv_get_used(&e->d->vq[CONSOLE_CTRL_RXQ], &tok, &len) == 1) {
		uint8_t buf[8 + 128];

		if (len == 0) {
			if (empty)
				(*empty)++;
			continue;
		}
		CHECK(len >= 8 && len <= sizeof buf);
		if (n >= max || len < 8 || len > sizeof buf)
			continue;
		e->io.mem_read(e->io.ctx, tok, buf, len);
		msgs[n].id = rs_le32(buf);
		msgs[n].event = rs_le16(buf + 4);
		msgs[n].value = rs_le16(buf + 6);
		msgs[n].len = len - 8;
		memcpy(msgs[n].data, buf + 8, len - 8);
		n++;
	}
	return n;
}

/* Send raw bytes as one control message (nw writable bytes appended to the
 * chain when nw > 0: a wrong-direction buffer). */
static void ctrl_send_raw(struct env *e, const void *bytes, uint32_t len, uint32_t nw)
{
	struct gdrv_buf b[2];
	uint64_t tok;
	uint32_t used;
	unsigned nout = 0;

	if (len) {
		b[0].gpa = slot(e);
		b[0].len = len;
		e->io.mem_write(e->io.ctx, b[0].gpa, bytes, len);
		nout = 1;
	}
	if (nw) {
		b[nout].gpa = slot(e);
		b[nout].len = nw;
	}
	CHECK_EQ(gdrv_submit(&e->d->vq[CONSOLE_CTRL_TXQ], b, nout, nw ? 1 : 0, 0xc0, false), 0);
	gdrv_kick(&e->d->vq[CONSOLE_CTRL_TXQ]);
	CHECK_EQ(gdrv_get_used(&e->d->vq[CONSOLE_CTRL_TXQ], &tok, &used), 1);
	CHECK_EQ(used, 0);
}

static void ctrl_send(struct env *e, uint32_t id, uint16_t event, uint16_t value)
{
	uint8_t m[8];

	rs_st32(m, id);
	rs_st16(m + 4, event);
	rs_st16(m + 6, value);
	ctrl_send_raw(e, m, sizeof m, 0);
}

static bool msg_is(const struct msg *m, uint32_t id, uint16_t event, uint16_t value)
{
	return m->id == id && m->event == event && m->value == value;
}

/* DEVICE_READY -> DEVICE_ADD per port, then PORT_READY for each port with
 * the announcements checked by the caller through msgs. Returns the count. */
static unsigned handshake_add(struct env *e, unsigned nports)
{
	struct msg msgs[32];
	unsigned n;

	ctrl_send(e, 0, VIRTIO_CONSOLE_DEVICE_READY, 1);
	n = ctrl_collect(e, msgs, 32, NULL);
	CHECK_EQ(n, nports);
	for (unsigned i = 0; i < n && i < nports; i++) {
		CHECK(msg_is(&msgs[i], i, VIRTIO_CONSOLE_DEVICE_ADD, 0));
		CHECK_EQ(msgs[i].len, 0);
	}
	return n;
}

/* ---- tests: single port ----------------------------------------------------------------- */

struct variant {
	const char *spec;
	bool use_legacy;
	uint64_t want;
};

static const struct variant variants[] = {
	{ "mem=16M pci-modern:console", false, F_ALL },
	{ "mem=16M pci-modern:console,packed=off", false, F_ALL },
	{ "mem=16M pci-legacy:console", true, F_ALL },
	{ "mem=16M pci:console", true, F_ALL },
	{ "mem=16M pci:console", false, F_NO_PACKED },
	{ "mem=16M mmio:console", false, F_ALL },
	{ "mem=16M mmio-legacy:console", false, F_ALL },
};

/* Output reaches the mem backend byte for byte; input reaches the guest;
 * on every transport and ring layout. */
static void test_bytes_both_ways(void)
{
	static uint8_t data[9000], got[9000];

	for (unsigned i = 0; i < sizeof data; i++)
		data[i] = pat(3, i);
	for (unsigned v = 0; v < RS_ARRAY_SIZE(variants); v++) {
		struct env e;
		uint32_t lens[64];
		unsigned nb;

		if (!env_open(&e, variants[v].spec, variants[v].use_legacy))
			continue;
		if (!env_up(&e, variants[v].want, 2)) {
			env_close(&e);
			continue;
		}
		/* single port: no MULTIPORT, no SIZE (no size option), EMERG_WRITE */
		CHECK(!(e.d->features & F(VIRTIO_CONSOLE_F_MULTIPORT)));
		CHECK(!(e.d->features & F(VIRTIO_CONSOLE_F_SIZE)));
		CHECK(e.d->features & F(VIRTIO_CONSOLE_F_EMERG_WRITE));
		CHECK_EQ(e.dev->nqueues, 2);
		tx(&e, 0, data, 1, 1);
		expect_output(&e, 0, data, 1);
		tx(&e, 0, data, 9000, 4000); /* three segments */
		expect_output(&e, 0, data, 9000);
		tx(&e, 0, data + 17, 300, 19); /* 16 segments */
		expect_output(&e, 0, data + 17, 300);

		rx_post(&e, 0, 2, 512, true);
		inject(&e, 0, data + 100, 200);
		CHECK_EQ(rx_collect(&e, 0, got, sizeof got, lens, &nb), 200);
		CHECK_EQ(nb, 1);
		CHECK_EQ(lens[0], 200);
		CHECK(memcmp(got, data + 100, 200) == 0);
		inject(&e, 0, data, 512);
		CHECK_EQ(rx_collect(&e, 0, got, sizeof got, NULL, &nb), 512);
		CHECK_EQ(nb, 1);
		CHECK(memcmp(got, data, 512) == 0);
		struct console_port_stats s = stats(&e, 0);
		CHECK_EQ(s.in_bytes, 712);
		CHECK_EQ(s.out_bytes, 9301);
		CHECK_EQ(s.out_dropped, 0);
		CHECK_EQ(s.in_dropped, 0);
		env_check_clean(&e);
		env_close(&e);
	}
}

/* Input larger than one receive buffer is spread over several; input with
 * no buffer posted waits and is delivered once buffers come. */
static void test_input_split_and_buffered(void)
{
	static uint8_t data[5000], got[5000];
	struct env e;
	uint32_t lens[64];
	unsigned nb;

	for (unsigned i = 0; i < sizeof data; i++)
		data[i] = pat(9, i);
	if (!env_open(&e, "mem=16M pci-modern:console", false))
		return;
	/* Input before the driver is even up: kept (reset only comes first). */
	CHECK_EQ(gdrv_init(e.d, F_ALL), 0);
	inject(&e, 0, data, 10);
	CHECK_EQ(stats(&e, 0).in_buffered, 10);
	CHECK_EQ(gdrv_setup_vq(e.d, 0, QSIZE), 0);
	CHECK_EQ(gdrv_setup_vq(e.d, 1, QSIZE), 0);
	/* Buffers posted before DRIVER_OK (no kick): used at DRIVER_OK. */
	rx_post(&e, 0, 1, 64, false);
	CHECK_EQ(rx_collect(&e, 0, got, sizeof got, NULL, &nb), 0);
	gdrv_driver_ok(e.d);
	CHECK_EQ(rx_collect(&e, 0, got, sizeof got, lens, &nb), 10);
	CHECK_EQ(nb, 1);
	CHECK(memcmp(got, data, 10) == 0);

	/* 150 bytes into three 64-byte buffers: 64 + 64 + 22. */
	rx_post(&e, 0, 3, 64, true);
	inject(&e, 0, data, 150);
	CHECK_EQ(rx_collect(&e, 0, got, sizeof got, lens, &nb), 150);
	CHECK_EQ(nb, 3);
	CHECK_EQ(lens[0], 64);
	CHECK_EQ(lens[1], 64);
	CHECK_EQ(lens[2], 22);
	CHECK(memcmp(got, data, 150) == 0);

	/* No buffer: 4000 bytes wait; two buffers take 2 x 1024, the rest
	 * waits for the next ones. */
	inject(&e, 0, data, 4000);
	CHECK_EQ(stats(&e, 0).in_buffered, 4000);
	CHECK_EQ(rx_collect(&e, 0, got, sizeof got, NULL, &nb), 0);
	rx_post(&e, 0, 2, 1024, true);
	CHECK_EQ(rx_collect(&e, 0, got, sizeof got, NULL, &nb), 2048);
	CHECK_EQ(stats(&e, 0).in_buffered, 4000 - 2048);
	rx_post(&e, 0, 1, 4096, true);
	CHECK_EQ(rx_collect(&e, 0, got + 2048, sizeof got - 2048, lens, &nb), 4000 - 2048);
	CHECK(memcmp(got, data, 4000) == 0);
	CHECK_EQ(stats(&e, 0).in_buffered, 0);
	/* Several events queue up in order. */
	inject(&e, 0, "ab", 2);
	inject(&e, 0, "cde", 3);
	rx_post(&e, 0, 1, 16, true);
	CHECK_EQ(rx_collect(&e, 0, got, sizeof got, NULL, &nb), 5);
	CHECK(memcmp(got, "abcde", 5) == 0);
	env_check_clean(&e);
	env_close(&e);
}

/* At most CONSOLE_INPUT_MAX bytes wait per port; the excess is dropped and
 * counted, the kept bytes arrive intact, the ring wraps correctly. */
static void test_input_bounded(void)
{
	static uint8_t data[WORLD_EVENT_MAX_DATA], got[CONSOLE_INPUT_MAX + 4096];
	struct env e;
	unsigned nb;
	size_t n;

	for (unsigned i = 0; i < sizeof data; i++)
		data[i] = pat(11, i);
	if (!env_open(&e, "mem=16M mmio:console", false))
		return;
	if (!env_up(&e, F_ALL, 2))
		goto out;
	/* Move the ring's head: 1000 bytes in and out. */
	inject(&e, 0, data, 1000);
	rx_post(&e, 0, 1, 1000, true);
	CHECK_EQ(rx_collect(&e, 0, got, sizeof got, NULL, &nb), 1000);
	inject(&e, 0, data, WORLD_EVENT_MAX_DATA);
	inject(&e, 0, data, 5000);
	struct console_port_stats s = stats(&e, 0);
	CHECK_EQ(s.in_buffered, CONSOLE_INPUT_MAX);
	CHECK_EQ(s.in_dropped, WORLD_EVENT_MAX_DATA + 5000 - CONSOLE_INPUT_MAX);
	n = 0;
	for (unsigned round = 0; round < 4; round++) {
		rx_post(&e, 0, 16, SLOT_BYTES, true);
		n += rx_collect(&e, 0, got + n, sizeof got - n, NULL, &nb);
	}
	CHECK_EQ(n, CONSOLE_INPUT_MAX);
	CHECK(memcmp(got, data, CONSOLE_INPUT_MAX) == 0);
	env_check_clean(&e);
out:
	env_close(&e);
}

/* ---- tests: multiport -------------------------------------------------------------------- */

/* The whole MULTIPORT handshake by hand (virtio-v1.2 5.3.5, 5.3.6.2), then
 * data on every port, over PCI modern, PCI legacy and MMIO. */
static void test_multiport_handshake(void)
{
	static const char *const specs[] = {
		"mem=16M pci-modern:console,ports=3,name1=org.example.port,size=80x25",
		"mem=16M pci-legacy:console,ports=3,name1=org.example.port,size=80x25",
		"mem=16M mmio:console,ports=3,name1=org.example.port,size=80x25",
	};

	for (unsigned v = 0; v < RS_ARRAY_SIZE(specs); v++) {
		struct env e;
		struct msg msgs[16];
		uint8_t got[64];
		unsigned n, nb;

		if (!env_open(&e, specs[v], v == 1))
			continue;
		if (!env_up(&e, F_ALL, 8)) {
			env_close(&e);
			continue;
		}
		CHECK(e.d->features & F(VIRTIO_CONSOLE_F_MULTIPORT));
		CHECK(e.d->features & F(VIRTIO_CONSOLE_F_SIZE));
		CHECK_EQ(gdrv_config_read(e.d, CONSOLE_CFG_MAX_NR_PORTS, 4), 3);
		CHECK_EQ(gdrv_config_read(e.d, CONSOLE_CFG_COLS, 2), 80);
		CHECK_EQ(gdrv_config_read(e.d, CONSOLE_CFG_ROWS, 2), 25);
		ctrl_post(&e, 16, 128);
		handshake_add(&e, 3);

		/* Port 0: the console port, with its size and the host side open. */
		ctrl_send(&e, 0, VIRTIO_CONSOLE_PORT_READY, 1);
		n = ctrl_collect(&e, msgs, 16, NULL);
		CHECK_EQ(n, 3);
		CHECK(msg_is(&msgs[0], 0, VIRTIO_CONSOLE_CONSOLE_PORT, 1));
		CHECK(msg_is(&msgs[1], 0, VIRTIO_CONSOLE_RESIZE, 0));
		CHECK_EQ(msgs[1].len, 4);
		CHECK_EQ(rs_le16(msgs[1].data), 80);     /* cols first (virtio-v1.2 5.3.6.2) */
		CHECK_EQ(rs_le16(msgs[1].data + 2), 25); /* then rows */
		CHECK(msg_is(&msgs[2], 0, VIRTIO_CONSOLE_PORT_OPEN, 1));
		/* The driver answers CONSOLE_PORT with PORT_OPEN 1 (5.3.6.2.2). */
		ctrl_send(&e, 0, VIRTIO_CONSOLE_PORT_OPEN, 1);
		CHECK(stats(&e, 0).guest_open);

		/* Port 1: a named generic port. */
		ctrl_send(&e, 1, VIRTIO_CONSOLE_PORT_READY, 1);
		n = ctrl_collect(&e, msgs, 16, NULL);
		CHECK_EQ(n, 2);
		CHECK(msg_is(&msgs[0], 1, VIRTIO_CONSOLE_PORT_NAME, 0));
		CHECK_EQ(msgs[0].len, strlen("org.example.port"));
		CHECK(memcmp(msgs[0].data, "org.example.port", 16) == 0);
		CHECK(msg_is(&msgs[1], 1, VIRTIO_CONSOLE_PORT_OPEN, 1));
		ctrl_send(&e, 1, VIRTIO_CONSOLE_PORT_OPEN, 1);

		/* Port 2: unnamed. */
		ctrl_send(&e, 2, VIRTIO_CONSOLE_PORT_READY, 1);
		n = ctrl_collect(&e, msgs, 16, NULL);
		CHECK_EQ(n, 1);
		CHECK(msg_is(&msgs[0], 2, VIRTIO_CONSOLE_PORT_OPEN, 1));
		struct console_port_stats s = stats(&e, 2);
		CHECK(s.added && s.ready && s.host_open && !s.guest_open);
		ctrl_send(&e, 2, VIRTIO_CONSOLE_PORT_OPEN, 1);
		CHECK(stats(&e, 2).guest_open);
		ctrl_send(&e, 2, VIRTIO_CONSOLE_PORT_OPEN, 0);
		CHECK(!stats(&e, 2).guest_open);

		/* Data: each port's queues reach its own backend. */
		for (unsigned p = 0; p < 3; p++) {
			uint8_t out[40];

			for (unsigned i = 0; i < sizeof out; i++)
				out[i] = pat(p, i);
			tx(&e, p, out, sizeof out, 16);
			rx_post(&e, p, 1, 64, true);
			inject(&e, p, out, (size_t)p + 5);
			CHECK_EQ(rx_collect(&e, p, got, sizeof got, NULL, &nb), p + 5);
			CHECK(memcmp(got, out, p + 5) == 0);
		}
		for (unsigned p = 0; p < 3; p++) {
			uint8_t out[40];

			for (unsigned i = 0; i < sizeof out; i++)
				out[i] = pat(p, i);
			expect_output(&e, p, out, sizeof out);
		}
		CHECK_EQ(console_ctrl_dropped(e.dev), 0);
		env_check_clean(&e);
		env_close(&e);
	}
}

/* Device messages wait (bounded) until control receive buffers exist; a
 * buffer too small is handed back empty and the message waits on. */
static void test_ctrl_pending(void)
{
	struct env e;
	struct msg msgs[16];
	unsigned empty = 0;

	if (!env_open(&e, "mem=16M pci-modern:console,ports=2,name0=con", false))
		return;
	if (!env_up(&e, F_ALL, 6))
		goto out;
	ctrl_send(&e, 0, VIRTIO_CONSOLE_DEVICE_READY, 1);
	ctrl_send(&e, 0, VIRTIO_CONSOLE_PORT_READY, 1);
	CHECK_EQ(ctrl_collect(&e, msgs, 16, NULL), 0);
	/* 4 bytes cannot hold a message. */
	ctrl_post(&e, 1, 4);
	CHECK_EQ(ctrl_collect(&e, msgs, 16, &empty), 0);
	CHECK_EQ(empty, 1);
	CHECK_EQ(diag_count(&e.dev->log, DIAG_CONSOLE_BUFFER), 1);
	/* 10 bytes hold the header-only messages, in order. */
	ctrl_post(&e, 3, 10);
	CHECK_EQ(ctrl_collect(&e, msgs, 16, &empty), 3);
	CHECK(msg_is(&msgs[0], 0, VIRTIO_CONSOLE_DEVICE_ADD, 0));
	CHECK(msg_is(&msgs[1], 1, VIRTIO_CONSOLE_DEVICE_ADD, 0));
	CHECK(msg_is(&msgs[2], 0, VIRTIO_CONSOLE_CONSOLE_PORT, 1));
	/* ... not the name (8 + 3 bytes): handed back empty, it waits. */
	ctrl_post(&e, 1, 10);
	CHECK_EQ(ctrl_collect(&e, msgs, 16, &empty), 0);
	CHECK_EQ(empty, 2);
	ctrl_post(&e, 4, 64);
	CHECK_EQ(ctrl_collect(&e, msgs, 16, &empty), 2);
	CHECK(msg_is(&msgs[0], 0, VIRTIO_CONSOLE_PORT_NAME, 0));
	CHECK_EQ(msgs[0].len, 3);
	CHECK(memcmp(msgs[0].data, "con", 3) == 0);
	CHECK(msg_is(&msgs[1], 0, VIRTIO_CONSOLE_PORT_OPEN, 1));
	CHECK_EQ(empty, 2);
	CHECK_EQ(diag_count(&e.dev->log, DIAG_CONSOLE_BUFFER), 2);

	/* A driver that never reads: the queue stays bounded, the device
	 * keeps working. PORT_READY 0 / 1 cycles each add a CONSOLE_PORT
	 * and a NAME (the PORT_OPEN ones coalesce). Two buffers are still
	 * posted. */
	for (unsigned i = 0; i < 70; i++) {
		ctrl_send(&e, 0, VIRTIO_CONSOLE_PORT_READY, 0);
		ctrl_send(&e, 0, VIRTIO_CONSOLE_PORT_READY, 1);
	}
	CHECK(console_ctrl_dropped(e.dev) > 0);
	CHECK(diag_count(&e.dev->log, DIAG_CONSOLE_CTRL) > 0);
	unsigned total = 0;
	for (unsigned round = 0; round < CONSOLE_CTRL_PENDING / 16; round++) {
		ctrl_post(&e, 16, 64);
		total += ctrl_collect(&e, msgs, 16, NULL);
	}
	CHECK_EQ(total, CONSOLE_CTRL_PENDING);
	/* Still serving. */
	tx(&e, 1, (const uint8_t *)"ok", 2, 2);
	expect_output(&e, 1, (const uint8_t *)"ok", 2);
out:
	env_close(&e);
}

/* Malformed control messages are reported and ignored; the device goes on
 * with a proper handshake afterwards. */
static void test_ctrl_malformed(void)
{
	struct env e;
	struct msg msgs[16];
	uint8_t raw[12] = { 0 };

	if (!env_open(&e, "mem=16M pci-modern:console,ports=2", false))
		return;
	if (!env_up(&e, F_ALL, 6))
		goto out;
	ctrl_post(&e, 16, 128);
	struct {
		uint32_t id;
		uint16_t event, value;
	} bad[] = {
		{ 0, 8, 1 },                             /* unknown event */
		{ 0, 0xffff, 0 },                        /* unknown event */
		{ 0, VIRTIO_CONSOLE_PORT_READY, 1 },     /* before DEVICE_ADD */
		{ 0, VIRTIO_CONSOLE_PORT_OPEN, 1 },      /* before DEVICE_ADD */
		{ 0, VIRTIO_CONSOLE_DEVICE_READY, 2 },   /* bad value */
		{ 0, VIRTIO_CONSOLE_DEVICE_ADD, 0 },     /* device-only events */
		{ 0, VIRTIO_CONSOLE_DEVICE_REMOVE, 0 },
		{ 0, VIRTIO_CONSOLE_CONSOLE_PORT, 1 },
		{ 0, VIRTIO_CONSOLE_RESIZE, 0 },
		{ 0, VIRTIO_CONSOLE_PORT_NAME, 0 },
	};
	for (unsigned i = 0; i < RS_ARRAY_SIZE(bad); i++)
		ctrl_send(&e, bad[i].id, bad[i].event, bad[i].value);
	CHECK_EQ(diag_count(&e.dev->log, DIAG_CONSOLE_CTRL), RS_ARRAY_SIZE(bad));
	/* Short messages: empty and 7 bytes. */
	ctrl_send_raw(&e, raw, 7, 0);
	ctrl_send_raw(&e, NULL, 0, 8);
	CHECK_EQ(diag_count(&e.dev->log, DIAG_CONSOLE_CTRL), RS_ARRAY_SIZE(bad) + 2);
	CHECK_EQ(ctrl_collect(&e, msgs, 16, NULL), 0);
	/* DEVICE_READY 0: the driver failed; nothing added. */
	ctrl_send(&e, 0, VIRTIO_CONSOLE_DEVICE_READY, 0);
	CHECK_EQ(ctrl_collect(&e, msgs, 16, NULL), 0);
	/* A proper DEVICE_READY with a writable buffer appended: reported as a
	 * wrong direction, handled anyway; a trailing byte is ignored. */
	rs_st16(raw + 4, VIRTIO_CONSOLE_DEVICE_READY);
	rs_st16(raw + 6, 1);
	ctrl_send_raw(&e, raw, 9, 16);
	CHECK_EQ(diag_count(&e.dev->log, DIAG_CONSOLE_BUFFER), 2); /* and the 0 + 8 one */
	CHECK_EQ(ctrl_collect(&e, msgs, 16, NULL), 2);
	unsigned before = diag_count(&e.dev->log, DIAG_CONSOLE_CTRL);
	ctrl_send(&e, 0, VIRTIO_CONSOLE_DEVICE_READY, 1);  /* twice */
	ctrl_send(&e, 2, VIRTIO_CONSOLE_PORT_READY, 1);    /* port out of range */
	ctrl_send(&e, 0xffffffffu, VIRTIO_CONSOLE_PORT_OPEN, 1);
	ctrl_send(&e, 1, VIRTIO_CONSOLE_PORT_READY, 7);    /* bad value */
	ctrl_send(&e, 1, VIRTIO_CONSOLE_PORT_OPEN, 2);     /* bad value */
	CHECK_EQ(diag_count(&e.dev->log, DIAG_CONSOLE_CTRL), before + 5);
	CHECK_EQ(ctrl_collect(&e, msgs, 16, NULL), 0);
	/* The good ones still work. */
	ctrl_send(&e, 1, VIRTIO_CONSOLE_PORT_READY, 1);
	CHECK_EQ(ctrl_collect(&e, msgs, 16, NULL), 1);
	CHECK(msg_is(&msgs[0], 1, VIRTIO_CONSOLE_PORT_OPEN, 1));
	ctrl_send(&e, 1, VIRTIO_CONSOLE_PORT_READY, 1);    /* twice */
	CHECK_EQ(diag_count(&e.dev->log, DIAG_CONSOLE_CTRL), before + 6);
	ctrl_send(&e, 1, VIRTIO_CONSOLE_PORT_OPEN, 1);
	CHECK(stats(&e, 1).guest_open);
	tx(&e, 1, (const uint8_t *)"still", 5, 5);
	expect_output(&e, 1, (const uint8_t *)"still", 5);
	/* Nothing else was reported: every violation above has its own code. */
	CHECK_EQ(e.dev->log.total, diag_count(&e.dev->log, DIAG_CONSOLE_CTRL) +
					   diag_count(&e.dev->log, DIAG_CONSOLE_BUFFER));
out:
	env_close(&e);
}

/* Hostile data buffers: wrong directions, a huge transmit buffer, queues
 * used without MULTIPORT, a failing backend, bad host events. */
static void test_hostile_buffers(void)
{
	struct env e;
	uint8_t got[64];
	uint64_t tok;
	uint32_t len;
	unsigned nb;

	if (!env_open(&e, "mem=16M pci-modern:console,ports=2", false))
		return;
	/* MULTIPORT offered but not negotiated: port 1's queues are not in use. */
	if (!env_up(&e, F_ALL & ~F(VIRTIO_CONSOLE_F_MULTIPORT), 6))
		goto out;
	rx_post(&e, 1, 1, 64, true);
	CHECK_EQ(diag_count(&e.dev->log, DIAG_CONSOLE_CTRL), 1);
	inject(&e, 1, "x", 1);
	CHECK_EQ(rx_collect(&e, 1, got, sizeof got, NULL, &nb), 0);
	CHECK_EQ(stats(&e, 1).in_buffered, 1);
	struct gdrv_buf cb = { slot(&e), 8 };
	CHECK_EQ(gdrv_submit(&e.d->vq[CONSOLE_CTRL_TXQ], &cb, 1, 0, 0xc1, false), 0);
	gdrv_kick(&e.d->vq[CONSOLE_CTRL_TXQ]);
	CHECK_EQ(diag_count(&e.dev->log, DIAG_CONSOLE_CTRL), 2);
	CHECK_EQ(gdrv_get_used(&e.d->vq[CONSOLE_CTRL_TXQ], &tok, &len), 0);

	/* A device-readable buffer in the receiveq: reported, returned empty;
	 * with a writable part after it, the input goes there. */
	struct gdrv_buf rb[2] = { { slot(&e), 16 }, { slot(&e), 16 } };
	CHECK_EQ(gdrv_submit(rxq(&e, 0), rb, 1, 0, 0x51, false), 0);
	gdrv_kick(rxq(&e, 0));
	inject(&e, 0, "hello", 5);
	CHECK_EQ(gdrv_get_used(rxq(&e, 0), &tok, &len), 1);
	CHECK_EQ(tok, 0x51);
	CHECK_EQ(len, 0);
	CHECK_EQ(diag_count(&e.dev->log, DIAG_CONSOLE_BUFFER), 1);
	CHECK_EQ(gdrv_submit(rxq(&e, 0), rb, 1, 1, 0x52, false), 0);
	gdrv_kick(rxq(&e, 0));
	CHECK_EQ(gdrv_get_used(rxq(&e, 0), &tok, &len), 1);
	CHECK_EQ(tok, 0x52);
	CHECK_EQ(len, 5);
	e.io.mem_read(e.io.ctx, rb[1].gpa, got, 5);
	CHECK(memcmp(got, "hello", 5) == 0);
	CHECK_EQ(diag_count(&e.dev->log, DIAG_CONSOLE_BUFFER), 2);

	/* A device-writable buffer in the transmitq: reported; the readable
	 * part still goes out, nothing is written. */
	e.io.mem_write(e.io.ctx, rb[0].gpa, "tx!", 3);
	rb[0].len = 3;
	CHECK_EQ(gdrv_submit(txq(&e, 0), rb, 1, 1, 0x53, false), 0);
	gdrv_kick(txq(&e, 0));
	CHECK_EQ(gdrv_get_used(txq(&e, 0), &tok, &len), 1);
	CHECK_EQ(len, 0);
	CHECK_EQ(diag_count(&e.dev->log, DIAG_CONSOLE_BUFFER), 3);
	expect_output(&e, 0, (const uint8_t *)"tx!", 3);

	/* A transmit buffer above CONSOLE_TX_MAX (segments over the same
	 * memory): the first CONSOLE_TX_MAX bytes go out, the rest is dropped. */
	{
		struct gdrv_buf big[3];
		static uint8_t pattern[SLOT_BYTES * 8];
		uint64_t base = e.scratch;

		for (unsigned i = 0; i < sizeof pattern; i++)
			pattern[i] = pat(5, i);
		e.io.mem_write(e.io.ctx, base, pattern, sizeof pattern);
		for (unsigned i = 0; i < 3; i++)
			big[i] = (struct gdrv_buf){ base, sizeof pattern };
		e.next_slot = 8;
		CHECK_EQ(gdrv_submit(txq(&e, 0), big, 3, 0, 0x54, false), 0);
		gdrv_kick(txq(&e, 0));
		CHECK_EQ(gdrv_get_used(txq(&e, 0), &tok, &len), 1);
		size_t have = 0;
		const uint8_t *out = console_mem_data(backend(&e, 0), &have);
		CHECK_EQ(have, CONSOLE_TX_MAX);
		CHECK(out && memcmp(out, pattern, sizeof pattern) == 0);
		CHECK(out && memcmp(out + CONSOLE_TX_MAX - sizeof pattern, pattern,
				    sizeof pattern) == 0);
		CHECK_EQ(stats(&e, 0).out_dropped, 3 * sizeof pattern - CONSOLE_TX_MAX);
		console_mem_clear(backend(&e, 0));
		CHECK_EQ(diag_count(&e.dev->log, DIAG_CONSOLE_BUFFER), 4);
	}

	/* The backend fails: reported, counted, the chain completes; then it
	 * works again. */
	console_mem_fail(backend(&e, 0), -EIO);
	uint64_t dropped = stats(&e, 0).out_dropped;
	tx(&e, 0, (const uint8_t *)"lost", 4, 4);
	CHECK_EQ(diag_count(&e.dev->log, DIAG_BACKEND_ERROR), 1);
	CHECK_EQ(stats(&e, 0).out_dropped, dropped + 4);
	console_mem_fail(backend(&e, 0), 0);
	tx(&e, 0, (const uint8_t *)"back", 4, 4);
	expect_output(&e, 0, (const uint8_t *)"back", 4);

	/* Host events for no such port, or of a foreign kind. */
	struct world_event ev = { .kind = WEV_CONSOLE_IN, .dev = 0, .port = 2, .len = 1,
				  .data = (const uint8_t *)"z" };
	CHECK_EQ(world_post(e.m->world, &ev), 0);
	ev.kind = WEV_NET_RX;
	ev.port = 0;
	CHECK_EQ(world_post(e.m->world, &ev), 0);
	ev.kind = WEV_CONSOLE_IN;
	ev.len = 0;
	ev.data = NULL;
	CHECK_EQ(world_post(e.m->world, &ev), 0);
	CHECK_EQ(rs_machine_poll_events(e.m, 16), 3);
	CHECK_EQ(diag_count(&e.dev->log, DIAG_BACKEND_ERROR), 3);
	CHECK_EQ(stats(&e, 0).in_buffered, 0);
	/* Not a console / no such port for the helpers. */
	CHECK(console_port_backend(e.dev, 2) == NULL);
	CHECK(console_port_backend(NULL, 0) == NULL);
	CHECK_EQ(console_port_stats(e.dev, 5, &(struct console_port_stats){ 0 }), -EINVAL);
	CHECK_EQ(console_port_stats(e.dev, 0, NULL), -EINVAL);
out:
	env_close(&e);
}

/* A driver that sets up only some queues: what has no queue waits, the rest
 * works; a control receive buffer with a readable part is reported and its
 * writable part used. */
static void test_partial_queues(void)
{
	struct env e;
	struct msg msgs[4];
	uint64_t tok;
	uint32_t len;

	if (!env_open(&e, "mem=16M pci-modern:console,ports=2", false))
		return;
	CHECK_EQ(gdrv_init(e.d, F_ALL), 0);
	CHECK_EQ(gdrv_setup_vq(e.d, 1, QSIZE), 0);                 /* port 0 tx only */
	CHECK_EQ(gdrv_setup_vq(e.d, CONSOLE_CTRL_TXQ, QSIZE), 0); /* control tx only */
	gdrv_driver_ok(e.d);
	inject(&e, 0, "wait", 4);
	CHECK_EQ(stats(&e, 0).in_buffered, 4);
	ctrl_send(&e, 0, VIRTIO_CONSOLE_DEVICE_READY, 1);
	CHECK(stats(&e, 1).added);
	tx(&e, 0, (const uint8_t *)"out", 3, 3);
	expect_output(&e, 0, (const uint8_t *)"out", 3);
	env_check_clean(&e);

	/* A new driver with every queue: nothing from before survives reset. */
	if (!env_up(&e, F_ALL, 6))
		goto out;
	struct gdrv_buf cb[2] = { { slot(&e), 8 }, { slot(&e), 64 } };
	CHECK_EQ(gdrv_submit(&e.d->vq[CONSOLE_CTRL_RXQ], cb, 1, 1, cb[1].gpa, false), 0);
	gdrv_kick(&e.d->vq[CONSOLE_CTRL_RXQ]);
	ctrl_send(&e, 0, VIRTIO_CONSOLE_DEVICE_READY, 1);
	CHECK_EQ(gdrv_get_used(&e.d->vq[CONSOLE_CTRL_RXQ], &tok, &len), 1);
	CHECK_EQ(tok, cb[1].gpa);
	CHECK_EQ(len, 8);
	uint8_t m[8];
	e.io.mem_read(e.io.ctx, cb[1].gpa, m, 8);
	CHECK_EQ(rs_le32(m), 0);
	CHECK_EQ(rs_le16(m + 4), VIRTIO_CONSOLE_DEVICE_ADD);
	CHECK_EQ(diag_count(&e.dev->log, DIAG_CONSOLE_BUFFER), 1);
	ctrl_post(&e, 4, 64);
	CHECK_EQ(ctrl_collect(&e, msgs, 4, NULL), 1);
	CHECK(msg_is(&msgs[0], 1, VIRTIO_CONSOLE_DEVICE_ADD, 0));
out:
	env_close(&e);
}

/* ---- tests: config ----------------------------------------------------------------------- */

/* Field widths, read-only fields, features by option. */
static void test_config_space(void)
{
	struct env e;

	if (!env_open(&e, "mem=16M pci-modern:console,ports=4,size=132x43", false))
		return;
	uint64_t f = gdrv_device_features(e.d);
	CHECK(f & F(VIRTIO_CONSOLE_F_SIZE));
	CHECK(f & F(VIRTIO_CONSOLE_F_MULTIPORT));
	CHECK(f & F(VIRTIO_CONSOLE_F_EMERG_WRITE));
	CHECK_EQ(e.dev->nqueues, 10);
	CHECK_EQ(gdrv_config_read(e.d, CONSOLE_CFG_COLS, 2), 132);
	CHECK_EQ(gdrv_config_read(e.d, CONSOLE_CFG_ROWS, 2), 43);
	CHECK_EQ(gdrv_config_read(e.d, CONSOLE_CFG_MAX_NR_PORTS, 4), 4);
	CHECK_EQ(gdrv_config_read(e.d, CONSOLE_CFG_EMERG_WR, 4), 0);
	CHECK_EQ(e.dev->log.total, 0);
	/* cols and rows as one 4-byte access: a width violation, still served */
	CHECK_EQ(gdrv_config_read(e.d, CONSOLE_CFG_COLS, 4), 132u | (43u << 16));
	CHECK_EQ(diag_count(&e.dev->log, DIAG_CONSOLE_CTRL), 0);
	CHECK(diag_count(&e.dev->log, DIAG_CONFIG_WIDTH) >= 1);
	/* read-only fields */
	gdrv_config_write(e.d, CONSOLE_CFG_COLS, 2, 1);
	gdrv_config_write(e.d, CONSOLE_CFG_MAX_NR_PORTS, 4, 1);
	CHECK_EQ(diag_count(&e.dev->log, DIAG_CONFIG_READONLY), 2);
	CHECK_EQ(gdrv_config_read(e.d, CONSOLE_CFG_COLS, 2), 132);
	CHECK_EQ(gdrv_config_read(e.d, CONSOLE_CFG_MAX_NR_PORTS, 4), 4);
	CHECK_EQ(gdrv_config_read(e.d, CONSOLE_CFG_SIZE, 4), 0); /* beyond */
	/* ports=4: queues 0..9 */
	CHECK_EQ(gdrv_queue_max(e.d, 9), CONSOLE_QUEUE_MAX);
	CHECK_EQ(gdrv_queue_max(e.d, 10), 0);
	env_close(&e);

	/* multiport=on with one port; emerg_write=off. */
	if (!env_open(&e, "mem=16M mmio:console,multiport=on,emerg_write=off", false))
		return;
	f = gdrv_device_features(e.d);
	CHECK(f & F(VIRTIO_CONSOLE_F_MULTIPORT));
	CHECK(!(f & F(VIRTIO_CONSOLE_F_EMERG_WRITE)));
	CHECK(!(f & F(VIRTIO_CONSOLE_F_SIZE)));
	CHECK_EQ(e.dev->nqueues, 4);
	CHECK_EQ(gdrv_config_read(e.d, CONSOLE_CFG_MAX_NR_PORTS, 4), 1);
	CHECK_EQ(gdrv_config_read(e.d, CONSOLE_CFG_COLS, 2), 0);
	/* emerg_wr without the feature: ignored */
	gdrv_config_write(e.d, CONSOLE_CFG_EMERG_WR, 4, 'Q');
	CHECK_EQ(gdrv_config_read(e.d, CONSOLE_CFG_EMERG_WR, 4), 0);
	size_t have = 1;
	console_mem_data(backend(&e, 0), &have);
	CHECK_EQ(have, 0);
	/* A one-port multiport handshake on MMIO. */
	if (env_up(&e, F_ALL, 4)) {
		struct msg msgs[4];

		ctrl_post(&e, 4, 64);
		handshake_add(&e, 1);
		ctrl_send(&e, 0, VIRTIO_CONSOLE_PORT_READY, 1);
		CHECK_EQ(ctrl_collect(&e, msgs, 4, NULL), 2); /* CONSOLE_PORT, PORT_OPEN */
		CHECK(msg_is(&msgs[0], 0, VIRTIO_CONSOLE_CONSOLE_PORT, 1));
		CHECK(msg_is(&msgs[1], 0, VIRTIO_CONSOLE_PORT_OPEN, 1));
		env_check_clean(&e);
	}
	env_close(&e);
}

/* EMERG_WRITE: a 4-byte write outputs its low byte on port 0, at any time,
 * even before the driver did anything (virtio-v1.2 5.3.5.1). */
static void test_emerg_write(void)
{
	static const char *const specs[] = {
		"mem=16M pci-modern:console",
		"mem=16M pci-legacy:console,ports=2",
		"mem=16M mmio-legacy:console",
	};

	for (unsigned v = 0; v < RS_ARRAY_SIZE(specs); v++) {
		struct env e;

		if (!env_open(&e, specs[v], v == 1))
			continue;
		CHECK_EQ(gdrv_get_status(e.d), 0);
		gdrv_config_write(e.d, CONSOLE_CFG_EMERG_WR, 4, 0x4142u | 0xffff0000u);
		gdrv_config_write(e.d, CONSOLE_CFG_EMERG_WR, 4, '\n');
		expect_output(&e, 0, (const uint8_t *)"B\n", 2);
		CHECK_EQ(gdrv_config_read(e.d, CONSOLE_CFG_EMERG_WR, 4), 0);
		/* and once the driver is up, next to the queue output */
		if (env_up(&e, F_ALL, 2)) {
			tx(&e, 0, (const uint8_t *)"ab", 2, 2);
			gdrv_config_write(e.d, CONSOLE_CFG_EMERG_WR, 4, 'c');
			expect_output(&e, 0, (const uint8_t *)"abc", 3);
		}
		env_check_clean(&e);
		env_close(&e);
	}
}

/* WEV_CONSOLE_RESIZE: port 0's size into the config space with a config
 * change (generation, interrupt); with MULTIPORT also a RESIZE message. */
static void test_resize(void)
{
	struct env e;
	struct msg msgs[8];

	if (!env_open(&e, "mem=16M pci-modern:console,size=80x25,ports=2", false))
		return;
	if (!env_up(&e, F_ALL, 6))
		goto out;
	uint32_t gen = gdrv_config_generation(e.d);
	gdrv_ack_isr(e.d);
	struct world_event ev = { .kind = WEV_CONSOLE_RESIZE, .dev = 0, .port = 0,
				  .arg = (132u << 16) | 43u };
	CHECK_EQ(world_post(e.m->world, &ev), 0);
	CHECK_EQ(rs_machine_poll_events(e.m, 4), 1);
	CHECK(gdrv_config_generation(e.d) != gen);
	CHECK(gdrv_ack_isr(e.d) & VIRTIO_ISR_CONFIG);
	CHECK_EQ(gdrv_config_read(e.d, CONSOLE_CFG_COLS, 2), 132);
	CHECK_EQ(gdrv_config_read(e.d, CONSOLE_CFG_ROWS, 2), 43);

	/* After the handshake the console port gets RESIZE messages; resizes
	 * while no control buffer is posted coalesce into the latest. Exactly
	 * the buffers the handshake needs: 2 DEVICE_ADD, 3 for port 0, 1 for
	 * port 1. */
	ctrl_post(&e, 6, 64);
	handshake_add(&e, 2);
	ctrl_send(&e, 0, VIRTIO_CONSOLE_PORT_READY, 1);
	CHECK_EQ(ctrl_collect(&e, msgs, 8, NULL), 3);
	CHECK(msg_is(&msgs[1], 0, VIRTIO_CONSOLE_RESIZE, 0));
	CHECK_EQ(rs_le16(msgs[1].data), 132);
	CHECK_EQ(rs_le16(msgs[1].data + 2), 43);
	ctrl_send(&e, 1, VIRTIO_CONSOLE_PORT_READY, 1);
	CHECK_EQ(ctrl_collect(&e, msgs, 8, NULL), 1); /* PORT_OPEN only: not a console */
	ev.arg = (100u << 16) | 30u;
	CHECK_EQ(world_post(e.m->world, &ev), 0);
	ev.arg = (120u << 16) | 40u;
	CHECK_EQ(world_post(e.m->world, &ev), 0);
	ev.port = 1; /* not a console port: config and messages unchanged */
	CHECK_EQ(world_post(e.m->world, &ev), 0);
	CHECK_EQ(rs_machine_poll_events(e.m, 8), 3);
	CHECK_EQ(gdrv_config_read(e.d, CONSOLE_CFG_COLS, 2), 120);
	CHECK_EQ(gdrv_config_read(e.d, CONSOLE_CFG_ROWS, 2), 40);
	ctrl_post(&e, 4, 64);
	CHECK_EQ(ctrl_collect(&e, msgs, 8, NULL), 1);
	CHECK(msg_is(&msgs[0], 0, VIRTIO_CONSOLE_RESIZE, 0));
	CHECK_EQ(rs_le16(msgs[0].data), 120);
	CHECK_EQ(rs_le16(msgs[0].data + 2), 40);

	/* The host closes and reopens port 1: PORT_OPEN 0 then 1; a repeat of
	 * the same state sends nothing. */
	ev = (struct world_event){ .kind = WEV_HOST, .dev = 0, .port = 1,
				   .arg = CONSOLE_HOST_CLOSED };
	CHECK_EQ(world_post(e.m->world, &ev), 0);
	CHECK_EQ(world_post(e.m->world, &ev), 0);
	CHECK_EQ(rs_machine_poll_events(e.m, 8), 2);
	CHECK_EQ(ctrl_collect(&e, msgs, 8, NULL), 1);
	CHECK(msg_is(&msgs[0], 1, VIRTIO_CONSOLE_PORT_OPEN, 0));
	CHECK(!stats(&e, 1).host_open);
	ev.arg = CONSOLE_HOST_OPEN;
	CHECK_EQ(world_post(e.m->world, &ev), 0);
	CHECK_EQ(rs_machine_poll_events(e.m, 8), 1);
	CHECK_EQ(ctrl_collect(&e, msgs, 8, NULL), 1);
	CHECK(msg_is(&msgs[0], 1, VIRTIO_CONSOLE_PORT_OPEN, 1));
	CHECK(stats(&e, 1).host_open);
	env_check_clean(&e);
out:
	env_close(&e);
}

/* Reset clears buffered input, port state and pending control messages;
 * the device serves a fresh driver afterwards. */
static void test_reset(void)
{
	struct env e;
	struct msg msgs[8];
	uint8_t got[16];
	unsigned nb;

	if (!env_open(&e, "mem=16M pci-modern:console,ports=2,size=10x5", false))
		return;
	if (!env_up(&e, F_ALL, 6))
		goto out;
	static uint8_t fresh[4096], now[4096];
	size_t fresh_len = e.dev->ops->save(e.dev, fresh, sizeof fresh);
	CHECK(fresh_len <= sizeof fresh);
	ctrl_send(&e, 0, VIRTIO_CONSOLE_DEVICE_READY, 1);   /* 2 messages wait */
	ctrl_send(&e, 1, VIRTIO_CONSOLE_PORT_READY, 1);     /* PORT_OPEN waits */
	ctrl_send(&e, 1, VIRTIO_CONSOLE_PORT_OPEN, 1);
	inject(&e, 0, "stale", 5);
	inject(&e, 1, "old", 3);
	struct console_port_stats s = stats(&e, 1);
	CHECK(s.added && s.ready && s.guest_open);
	CHECK_EQ(s.in_buffered, 3);
	CHECK(e.dev->ops->save(e.dev, now, sizeof now) != fresh_len);

	gdrv_reset(e.d);
	for (unsigned p = 0; p < 2; p++) {
		s = stats(&e, p);
		CHECK(!s.added && !s.ready && !s.guest_open);
		CHECK(s.host_open);
		CHECK_EQ(s.in_buffered, 0);
	}
	CHECK_EQ(e.dev->config[CONSOLE_CFG_COLS], 10);
	CHECK_EQ(e.dev->config[CONSOLE_CFG_MAX_NR_PORTS], 2);

	if (!env_up(&e, F_ALL, 6))
		goto out;
	CHECK_EQ(e.dev->ops->save(e.dev, now, sizeof now), fresh_len);
	CHECK(memcmp(now, fresh, fresh_len) == 0);
	ctrl_post(&e, 8, 64);
	CHECK_EQ(ctrl_collect(&e, msgs, 8, NULL), 0); /* nothing left over */
	rx_post(&e, 0, 1, 16, true);
	CHECK_EQ(rx_collect(&e, 0, got, sizeof got, NULL, &nb), 0);
	inject(&e, 0, "new", 3);
	CHECK_EQ(rx_collect(&e, 0, got, sizeof got, NULL, &nb), 3);
	CHECK(memcmp(got, "new", 3) == 0);
	handshake_add(&e, 2);
	env_check_clean(&e);
out:
	env_close(&e);
}

/* ---- tests: backends and options ---------------------------------------------------------- */

/* Wait up to ms for fd to be readable; read what is there. */
static ssize_t read_wait(int fd, void *buf, size_t len, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	if (poll(&p, 1, ms) <= 0)
		return -1;
	return read(fd, buf, len);
}

/* pty: the guest receives what is typed on the slave and its output shows
 * up there, through world_live_poll and rs_machine_poll_events. */
static void test_pty_backend(void)
{
	struct world_backend *b;
	char err[200];
	struct env e;
	uint8_t got[64];
	unsigned nb;
	int fd;

	/* Can this host make a pty at all? */
	if (console_pty_new(0, 0, true, &b, err, sizeof err) < 0) {
		printf("skipping the pty test: %s\n", err);
		return;
	}
	CHECK(console_pty_path(b) != NULL);
	CHECK(console_pty_path(NULL) == NULL);
	console_backend_free(b);

	if (!env_open(&e, "mem=16M pci-modern:console,ports=2,backend1=pty", false))
		return;
	if (!env_up(&e, F_ALL, 6))
		goto out;
	const char *path = console_pty_path(backend(&e, 1));
	CHECK(path != NULL && strncmp(path, "/dev/", 5) == 0);
	CHECK(console_pty_path(backend(&e, 0)) == NULL);
	fd = path ? open(path, O_RDWR | O_NOCTTY) : -1;
	CHECK(fd >= 0);
	if (fd < 0)
		goto out;
	ctrl_post(&e, 8, 64);
	handshake_add(&e, 2);
	rx_post(&e, 1, 2, 64, true);
	CHECK_EQ(write(fd, "ping\r\n", 6), 6);
	int had = 0;
	for (unsigned i = 0; i < 20 && !had; i++)
		had = world_live_poll(e.m->world, 100);
	CHECK_EQ(had, 1);
	CHECK_EQ(rs_machine_poll_events(e.m, 8), 1);
	/* raw mode: no echo, no translation */
	CHECK_EQ(rx_collect(&e, 1, got, sizeof got, NULL, &nb), 6);
	CHECK(memcmp(got, "ping\r\n", 6) == 0);
	tx(&e, 1, (const uint8_t *)"pong\n", 5, 5);
	CHECK_EQ(read_wait(fd, got, sizeof got, 2000), 5);
	CHECK(memcmp(got, "pong\n", 5) == 0);
	CHECK_EQ(stats(&e, 1).out_bytes, 5);
	/* nothing echoed back: the master has no input */
	CHECK_EQ(world_live_poll(e.m->world, 0), 0);
	/* Nobody reads the terminal: once it is full, output is dropped and
	 * counted, never waited for. */
	static uint8_t big[16 * SLOT_BYTES];
	memset(big, 'z', sizeof big);
	for (unsigned i = 0; i < 256 && !stats(&e, 1).out_dropped; i++)
		tx(&e, 1, big, sizeof big, SLOT_BYTES);
	CHECK(stats(&e, 1).out_dropped > 0);
	CHECK(stats(&e, 1).out_bytes > 5);
	close(fd);
	env_check_clean(&e);
out:
	env_close(&e);
}

/* Every step of making a pty can fail: one line naming it, nothing left
 * open, and a machine asking for it is refused. */
static void test_pty_failures(void)
{
	static const char *const steps[] = {
		"", "posix_openpt", "grantpt", "unlockpt", "ptsname_r", "set raw mode",
		"set raw mode",
	};
	struct world_backend *b;
	struct machine *m;
	char err[200];

	if (console_pty_new(0, 0, true, &b, err, sizeof err) < 0) {
		printf("skipping the pty failure test: %s\n", err);
		return;
	}
	console_backend_free(b);
	for (int step = FAIL_OPENPT; step <= FAIL_TCSETATTR; step++) {
		fail_step = step;
		err[0] = '\0';
		b = (struct world_backend *)&err;
		CHECK(console_pty_new(1, 2, true, &b, err, sizeof err) < 0);
		fail_step = FAIL_NONE;
		CHECK(b == NULL);
		CHECK(strstr(err, steps[step]) != NULL);
		CHECK(strstr(err, "port 2") != NULL);
	}
	fail_step = FAIL_OPENPT;
	CHECK(rs_machine_new("pci:console,ports=2,backend1=pty", &m, err, sizeof err) < 0);
	fail_step = FAIL_NONE;
	CHECK(m == NULL);
	CHECK(strstr(err, "posix_openpt") != NULL);

	/* No descriptor left for the slave. */
	struct rlimit old, lim;
	int lowest = dup(0);
	CHECK(lowest >= 0);
	close(lowest);
	getrlimit(RLIMIT_NOFILE, &old);
	lim = old;
	lim.rlim_cur = (rlim_t)lowest + 1;
	CHECK_EQ(setrlimit(RLIMIT_NOFILE, &lim), 0);
	int r = console_pty_new(0, 0, true, &b, err, sizeof err);
	setrlimit(RLIMIT_NOFILE, &old);
	CHECK_EQ(r, -EMFILE);
	CHECK(strstr(err, "open slave") != NULL);
}

static int dummy_poll_fd(struct world_backend *b)
{
	return -1;
}

static void dummy_on_readable(struct world_backend *b, struct world *w)
{
}

/* A live world watching as many backends as it can: a pty port cannot be
 * watched, the machine is refused with one line. */
static void test_watch_full(void)
{
	static const struct world_backend_ops dummy_ops = {
		.name = "dummy",
		.poll_fd = dummy_poll_fd,
		.on_readable = dummy_on_readable,
	};
	static struct world_backend dummies[WORLD_LIVE_WATCH_MAX];
	struct world *w = world_live_new();
	struct world_backend *b;
	struct machine *m;
	char err[200];

	if (console_pty_new(0, 0, true, &b, err, sizeof err) < 0) {
		printf("skipping the watch test: %s\n", err);
		world_destroy(w);
		return;
	}
	console_backend_free(b);
	for (unsigned i = 0; i < WORLD_LIVE_WATCH_MAX; i++) {
		dummies[i].ops = &dummy_ops;
		CHECK_EQ(world_live_watch(w, &dummies[i]), 0);
	}
	CHECK(rs_machine_new_world("pci:console,backend=pty", w, &m, err, sizeof err) < 0);
	CHECK(strstr(err, "watch") != NULL);
	world_destroy(w);
}

/* stdio: backend=stdio writes to fd 1 and reads fd 0 (here: pipes put in
 * their place), end of input stops the polling. */
static void test_stdio_backend(void)
{
	int in[2], out[2], save0 = dup(0), save1 = dup(1);
	struct env e;
	uint8_t got[64];
	unsigned nb;

	if (pipe(in) < 0 || pipe(out) < 0) {
		CHECK(!"pipe");
		return;
	}
	fflush(stdout);
	dup2(in[0], 0);
	dup2(out[1], 1);
	if (env_open(&e, "mem=16M pci-legacy:console,backend=stdio", true)) {
		if (env_up(&e, F_ALL, 2)) {
			tx(&e, 0, (const uint8_t *)"to stdout", 9, 4);
			CHECK_EQ(read_wait(out[0], got, sizeof got, 1000), 9);
			CHECK(memcmp(got, "to stdout", 9) == 0);
			rx_post(&e, 0, 1, 64, true);
			CHECK_EQ(write(in[1], "keys", 4), 4);
			CHECK_EQ(world_live_poll(e.m->world, 1000), 1);
			CHECK_EQ(rs_machine_poll_events(e.m, 4), 1);
			CHECK_EQ(rx_collect(&e, 0, got, sizeof got, NULL, &nb), 4);
			CHECK(memcmp(got, "keys", 4) == 0);
			/* end of input: one last callback, then no longer polled */
			close(in[1]);
			CHECK_EQ(world_live_poll(e.m->world, 1000), 1);
			CHECK_EQ(world_live_poll(e.m->world, 0), 0);
			CHECK_EQ(rs_machine_poll_events(e.m, 4), 0);
			env_check_clean(&e);
		}
		env_close(&e);
	} else {
		close(in[1]);
	}
	fflush(stdout);
	dup2(save0, 0);
	dup2(save1, 1);
	close(save0);
	close(save1);
	close(in[0]);
	close(out[0]);
	close(out[1]);
}

/* stdio on non-blocking descriptors: a full output pipe takes what fits,
 * then nothing; an empty input pipe posts nothing and stays polled. */
static void test_stdio_nonblocking(void)
{
	static uint8_t big[40000];
	struct world_backend *b;
	struct world *w = world_live_new();
	char err[100];
	int in[2], out[2];

	if (pipe2(in, O_NONBLOCK) < 0 || pipe2(out, O_NONBLOCK) < 0) {
		CHECK(!"pipe2");
		world_destroy(w);
		return;
	}
	CHECK_EQ(console_stdio_new(1, 0, in[0], out[1], &b, err, sizeof err), 0);
	struct world_io io = { .op = WIO_SEND, .buf = big, .len = sizeof big };
	int64_t r, total = 0;
	unsigned calls = 0;
	do {
		r = b->ops->io(b, &io);
		CHECK(r >= 0);
		total += r;
	} while (r == (int64_t)sizeof big && ++calls < 64);
	CHECK(r >= 0 && r < (int64_t)sizeof big);
	CHECK_EQ(b->ops->io(b, &io), 0); /* full */
	CHECK(total >= 4096);
	b->ops->on_readable(b, w);
	struct world_event ev;
	CHECK_EQ(world_next_event(w, &ev), 0);
	CHECK_EQ(b->ops->poll_fd(b), in[0]);
	console_backend_free(b);
	world_destroy(w);
	close(in[0]);
	close(in[1]);
	close(out[0]);
	close(out[1]);
}

/* The stdio backend on a terminal: raw mode while it lives, the old mode
 * back afterwards; output to a closed pipe is an error. */
static void test_stdio_terminal(void)
{
	struct world_backend *pty, *b;
	char err[200];
	struct termios before, during, after;
	int fd, p[2];

	if (console_pty_new(0, 0, true, &pty, err, sizeof err) < 0) {
		printf("skipping the stdio terminal test: %s\n", err);
		return;
	}
	fd = open(console_pty_path(pty), O_RDWR | O_NOCTTY);
	CHECK(fd >= 0);
	if (fd < 0 || pipe(p) < 0)
		goto out;
	/* a cooked terminal, as a shell leaves it */
	tcgetattr(fd, &before);
	before.c_lflag |= ICANON | ECHO;
	CHECK_EQ(tcsetattr(fd, TCSANOW, &before), 0);
	CHECK_EQ(console_stdio_new(3, 1, fd, p[1], &b, err, sizeof err), 0);
	CHECK_EQ(tcgetattr(fd, &during), 0);
	CHECK(!(during.c_lflag & (ICANON | ECHO)));
	CHECK(during.c_lflag & ISIG);
	CHECK(during.c_oflag & OPOST);
	CHECK_EQ(b->dev, 3);
	CHECK_EQ(b->ops->poll_fd(b), fd);
	/* WIO ops other than SEND, and an empty send */
	struct world_io io = { .op = WIO_READ, .buf = err, .len = 1 };
	CHECK_EQ(b->ops->io(b, &io), -EOPNOTSUPP);
	io.op = WIO_SEND;
	io.len = 0;
	CHECK_EQ(b->ops->io(b, &io), 0);
	close(p[0]);
	io.len = 3;
	signal(SIGPIPE, SIG_IGN);
	CHECK_EQ(b->ops->io(b, &io), -EPIPE);
	console_backend_free(b);
	CHECK_EQ(tcgetattr(fd, &after), 0);
	CHECK(after.c_lflag & ICANON);
	CHECK(after.c_lflag & ECHO);
	close(p[1]);
	close(fd);
	/* bad descriptors */
	CHECK_EQ(console_stdio_new(0, 0, -1, 1, &b, err, sizeof err), -EINVAL);
	CHECK(b == NULL);
	/* the pty backend refuses other ops too */
	io.op = WIO_FLUSH;
	CHECK_EQ(pty->ops->io(pty, &io), -EOPNOTSUPP);
out:
	console_backend_free(pty);
	console_backend_free(NULL);
}

/* The mem backend API on its own. */
static void test_mem_backend(void)
{
	struct world_backend *b, *other;
	char err[100];
	uint8_t buf[16];
	size_t len = 9;

	int null = open("/dev/null", O_RDWR);

	CHECK(null >= 0);
	CHECK_EQ(console_mem_new(2, 5, 8, &b, err, sizeof err), 0);
	CHECK_EQ(console_stdio_new(2, 5, null, null, &other, err, sizeof err), 0);
	struct world_io io = { .op = WIO_SEND, .buf = (void *)"abcdef", .len = 6 };
	CHECK_EQ(b->ops->io(b, &io), 6);
	CHECK_EQ(b->ops->io(b, &io), 6); /* 12 bytes into 8: the oldest 4 go */
	CHECK(memcmp(console_mem_data(b, &len), "efabcdef", 8) == 0);
	CHECK_EQ(len, 8);
	CHECK_EQ(console_mem_overflow(b), 4);
	io.buf = (void *)"0123456789";
	io.len = 10;                     /* more than the capacity at once */
	CHECK_EQ(b->ops->io(b, &io), 10);
	CHECK_EQ(console_mem_read(b, buf, 3), 3);
	CHECK(memcmp(buf, "234", 3) == 0);
	CHECK_EQ(console_mem_overflow(b), 4 + 8 + 2);
	CHECK_EQ(console_mem_read(b, buf, sizeof buf), 5);
	CHECK(memcmp(buf, "56789", 5) == 0);
	io.op = WIO_READ;
	CHECK_EQ(b->ops->io(b, &io), -EOPNOTSUPP);
	io.op = WIO_SEND;
	io.len = 0;
	CHECK_EQ(b->ops->io(b, &io), 0);
	/* Calls on a backend of another kind do nothing. */
	CHECK(console_mem_data(other, &len) == NULL);
	CHECK_EQ(len, 0);
	CHECK(console_mem_data(NULL, NULL) == NULL);
	CHECK_EQ(console_mem_read(other, buf, sizeof buf), 0);
	CHECK_EQ(console_mem_read(b, NULL, 4), 0);
	console_mem_clear(other);
	console_mem_fail(other, -EIO);
	CHECK_EQ(console_mem_overflow(other), 0);
	CHECK_EQ(console_mem_inject(other, NULL, "x", 1), -EINVAL);
	CHECK_EQ(console_mem_inject(b, NULL, "x", WORLD_EVENT_MAX_DATA + 1), -EINVAL);
	CHECK_EQ(console_mem_inject(b, NULL, "x", 1), -EINVAL); /* world_post: no world */
	/* Injected events name the backend's device and port. */
	struct world *w = world_live_new();
	struct world_event ev;
	CHECK_EQ(console_mem_inject(b, w, "hi", 2), 0);
	CHECK_EQ(world_next_event(w, &ev), 1);
	CHECK_EQ(ev.kind, WEV_CONSOLE_IN);
	CHECK_EQ(ev.dev, 2);
	CHECK_EQ(ev.port, 5);
	CHECK_EQ(ev.len, 2);
	world_destroy(w);
	console_backend_free(other);
	console_backend_free(b);
	close(null);
}

/* Option errors are one line naming the option. */
static void test_options(void)
{
	static const struct {
		const char *spec, *needle;
	} bad[] = {
		{ "pci:console,ports=0", "ports=0" },
		{ "pci:console,ports=17", "ports=17" },
		{ "pci:console,ports=x", "ports" },
		{ "pci:console,ports=2,multiport=off", "multiport" },
		{ "pci:console,multiport=maybe", "multiport" },
		{ "pci:console,emerg_write=2x", "emerg_write" },
		{ "pci:console,size=80", "size" },
		{ "pci:console,size=80x", "size" },
		{ "pci:console,size=x25", "size" },
		{ "pci:console,size=65536x1", "size" },
		{ "pci:console,size=80x25x", "size" },
		{ "pci:console,size=1234567x1", "size" },
		{ "pci:console,backend=tcp", "backend 'tcp'" },
		{ "pci:console,ports=2,backend1=file", "backend 'file'" },
		{ "pci:console,ports=2,name2=x", "port 2" },
		{ "pci:console,backend3=mem", "port 3" },
		{ "pci:console,backend=mem,backend0=mem", "both" },
		{ "pci:console,name=a,name0=b", "both" },
		{ "pci:console,ports=2,backend=stdio,backend1=stdio", "stdio" },
		{ "pci:console,colour=red", "colour" },
	};
	char err[256];
	struct machine *m;

	for (unsigned i = 0; i < RS_ARRAY_SIZE(bad); i++) {
		err[0] = '\0';
		CHECK(rs_machine_new(bad[i].spec, &m, err, sizeof err) < 0);
		CHECK(m == NULL);
		if (!strstr(err, bad[i].needle)) {
			fprintf(stderr, "%s: '%s' lacks '%s'\n", bad[i].spec, err, bad[i].needle);
			CHECK(!"error message");
		}
		CHECK(strchr(err, '\n') == NULL);
	}
	/* good ones */
	CHECK_EQ(rs_machine_new("pci:console,ports=16,name15=last,backend15=mem,size=0x0,"
				"name=first,backend0=mem,multiport=yes",
				&m, err, sizeof err), 0);
	if (m) {
		CHECK_EQ(m->devs[0]->nqueues, 34);
		CHECK(console_port_backend(m->devs[0], 15) != NULL);
		CHECK_EQ(console_ctrl_dropped(m->devs[0]), 0);
	}
	rs_machine_free(m);
	CHECK_EQ(console_ctrl_dropped(NULL), 0);
}

/* A snapshot holds the guest-visible state: equal for equal histories. */
static void test_snapshot(void)
{
	struct env a, b;

	if (!env_open(&a, "mem=16M pci-modern:console,ports=2", false))
		return;
	if (!env_open(&b, "mem=16M pci-modern:console,ports=2", false)) {
		env_close(&a);
		return;
	}
	env_up(&a, F_ALL, 6);
	env_up(&b, F_ALL, 6);
	CHECK_EQ(vdev_state_hash(a.dev), vdev_state_hash(b.dev));
	inject(&a, 1, "abc", 3);
	CHECK(vdev_state_hash(a.dev) != vdev_state_hash(b.dev));
	inject(&b, 1, "abc", 3);
	CHECK_EQ(vdev_state_hash(a.dev), vdev_state_hash(b.dev));
	ctrl_send(&a, 0, VIRTIO_CONSOLE_DEVICE_READY, 1);
	ctrl_send(&b, 0, VIRTIO_CONSOLE_DEVICE_READY, 1);
	CHECK_EQ(vdev_state_hash(a.dev), vdev_state_hash(b.dev));
	size_t need = vdev_save_state(a.dev, NULL, 0);
	uint8_t *buf = malloc(need);
	CHECK_EQ(vdev_save_state(a.dev, buf, need), need);
	free(buf);
	env_close(&a);
	env_close(&b);
}

int main(void)
{
	RUN(test_bytes_both_ways);
	RUN(test_input_split_and_buffered);
	RUN(test_input_bounded);
	RUN(test_multiport_handshake);
	RUN(test_ctrl_pending);
	RUN(test_ctrl_malformed);
	RUN(test_hostile_buffers);
	RUN(test_partial_queues);
	RUN(test_config_space);
	RUN(test_emerg_write);
	RUN(test_resize);
	RUN(test_reset);
	RUN(test_pty_backend);
	RUN(test_pty_failures);
	RUN(test_watch_full);
	RUN(test_stdio_backend);
	RUN(test_stdio_nonblocking);
	RUN(test_stdio_terminal);
	RUN(test_mem_backend);
	RUN(test_options);
	RUN(test_snapshot);
	return check_done();
}
