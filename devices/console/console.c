/*
 * ringside — virtio console ("console", virtio-v1.2 5.3).
 *
 * Shape (as every device here): ops table, config layout, request handling;
 * backends in backend_*.c, reached only through world_io(). Input arrives as
 * host events (WEV_CONSOLE_IN, posted by a backend's on_readable or by host
 * code), waits in a bounded per-port buffer and is copied into receive
 * buffers as the driver posts them. Output from transmit buffers goes to the
 * port's backend as WIO_SEND requests.
 *
 * With MULTIPORT (ports=N, N > 1, or multiport=on) the control queues carry
 * struct virtio_console_control messages both ways. Driver messages are
 * validated (length, event, port id, order); a bad one is a DIAG_CONSOLE_CTRL
 * report and is ignored. Device messages wait in a bounded queue until the
 * driver posts control receive buffers.
 *
 * Guest-visible state (input buffered, port added/ready/open, pending
 * control messages) is cleared by reset; the terminal size and the host's
 * open state are host properties and survive it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringside/vdev.h"
#include "ringside/world.h"
#include "../devices.h"
#include "console.h"

enum console_backend_kind {
	CB_MEM = 0,
	CB_STDIO = 1,
	CB_PTY = 2,
};

/* One device-to-driver control message. */
struct console_msg {
	uint32_t id;
	uint16_t event, value;
	uint16_t len;                    /* payload bytes */
	uint8_t data[CONSOLE_NAME_MAX];  /* name, or cols/rows for RESIZE */
};

struct console_port {
	struct world_backend *backend;
	char name[CONSOLE_NAME_MAX + 1];
	uint16_t name_len;
	bool console;             /* nominated with CONSOLE_PORT (port 0) */
	uint16_t cols, rows;      /* terminal size (host property) */
	bool host_open;           /* host side open (host property) */
	/* guest-visible state, cleared by reset */
	bool added, ready, guest_open;
	uint8_t *in;              /* ring of CONSOLE_INPUT_MAX bytes */
	uint32_t in_head, in_len;
	uint64_t out_off;         /* stream offset of the next output (world_io off) */
	/* counters (kept across reset) */
	uint64_t in_bytes, in_dropped, out_bytes, out_dropped;
};

struct console {
	unsigned nports;
	bool multiport;           /* MULTIPORT offered */
	bool device_ready;        /* DEVICE_READY 1 received */
	struct console_msg pend[CONSOLE_CTRL_PENDING];
	unsigned pend_head, pend_count;
	uint64_t ctrl_dropped;
	uint16_t cols0, rows0;    /* size= at create (host_reset) */
	struct console_port port[CONSOLE_MAX_PORTS];
};

/* --- config layout --------------------------------------------------------------------- */

static const struct vdev_cfg_field console_cfg_fields[] = {
	{ CONSOLE_CFG_COLS, 2, 0 },
	{ CONSOLE_CFG_ROWS, 2, 0 },
	{ CONSOLE_CFG_MAX_NR_PORTS, 4, 0 },
	{ CONSOLE_CFG_EMERG_WR, 4, 1 },
};

/* Fill the config space from the device state (create, reset, resize). */
static void console_fill_config(struct vdev *d)
{
	struct console *c = d->priv;

	rs_st16(d->config + CONSOLE_CFG_COLS, c->port[0].cols);
	rs_st16(d->config + CONSOLE_CFG_ROWS, c->port[0].rows);
	rs_st32(d->config + CONSOLE_CFG_MAX_NR_PORTS, c->nports);
	rs_st32(d->config + CONSOLE_CFG_EMERG_WR, 0);
}

/* --- helpers --------------------------------------------------------------------------- */

static bool console_driver_ok(const struct vdev *d)
{
	return (d->status & (VIRTIO_STATUS_DRIVER_OK | VIRTIO_STATUS_NEEDS_RESET |
			     VIRTIO_STATUS_FAILED)) == VIRTIO_STATUS_DRIVER_OK;
}

static bool console_mp(const struct vdev *d)
{
	return vdev_has(d, VIRTIO_CONSOLE_F_MULTIPORT);
}

/* The queue if the driver enabled it, else NULL. */
static struct vdev_queue *console_ready_queue(struct vdev *d, unsigned q)
{
	struct vdev_queue *vq = vdev_queue(d, q);

	return vq && vq->enabled && vq->vq.ready ? vq : NULL;
}

/* Send len bytes of port p's output to its backend; what it refuses is
 * counted as dropped. */
static void console_output(struct vdev *d, unsigned p, const uint8_t *buf, size_t len)
{
	struct console *c = d->priv;
	struct console_port *pt = &c->port[p];
	struct world_io io = {
		.op = WIO_SEND,
		.dev = d->index,
		.off = pt->out_off,
		.buf = (void *)buf,
		.len = len,
	};
	int64_t r = world_io(d->world, pt->backend, &io);

	pt->out_off += len;
	if (r < 0) {
		diag_report(&d->log, DIAG_BACKEND_ERROR, "port %u: output of %zu bytes failed (%d)",
			    p, len, (int)r);
		pt->out_dropped += len;
		return;
	}
	pt->out_bytes += (uint64_t)r;
	pt->out_dropped += len - (uint64_t)r;
}

/* --- control messages, device to driver -------------------------------------------------- */

/* Queue a message; a RESIZE or PORT_OPEN for a port that already has one
 * waiting replaces it (only the latest state matters). Full queue: dropped,
 * counted and reported. */
static void console_ctrl_queue(struct vdev *d, uint32_t id, uint16_t event, uint16_t value,
			       const void *data, uint16_t len)
{
	struct console *c = d->priv;
	struct console_msg *m = NULL;

	if (event == VIRTIO_CONSOLE_RESIZE || event == VIRTIO_CONSOLE_PORT_OPEN) {
		for (unsigned i = 0; i < c->pend_count && !m; i++) {
			struct console_msg *x = &c->pend[(c->pend_head + i) % CONSOLE_CTRL_PENDING];

			if (x->id == id && x->event == event)
				m = x;
		}
	}
	if (!m) {
		if (c->pend_count == CONSOLE_CTRL_PENDING) {
			c->ctrl_dropped++;
			diag_report(&d->log, DIAG_CONSOLE_CTRL,
				    "%u control messages wait for receive buffers; "
				    "event %u for port %u dropped",
				    CONSOLE_CTRL_PENDING, event, id);
			return;
		}
		m = &c->pend[(c->pend_head + c->pend_count) % CONSOLE_CTRL_PENDING];
		c->pend_count++;
	}
	m->id = id;
	m->event = event;
	m->value = value;
	m->len = RS_MIN(len, (uint16_t)sizeof m->data);
	if (m->len)
		memcpy(m->data, data, m->len);
}

/* Hand waiting control messages to the driver's control receive buffers.
 * A buffer too small for the next message is returned empty (the message
 * waits for the next one). Bounded: each pass consumes an available buffer. */
static void console_ctrl_flush(struct vdev *d)
{
	struct console *c = d->priv;
	struct vdev_queue *vq;
	struct vq_chain ch;
	bool pushed = false;

	if (!console_driver_ok(d) || !console_mp(d) || !c->pend_count)
		return;
	vq = console_ready_queue(d, CONSOLE_CTRL_RXQ);
	if (!vq)
		return;
	while (c->pend_count && vq_pop(&vq->vq, &ch) > 0) {
		struct console_msg *m = &c->pend[c->pend_head];
		uint8_t buf[CONSOLE_CTRL_HDR + sizeof m->data];
		uint32_t need = CONSOLE_CTRL_HDR + m->len;
		struct vq_cursor cur;

		pushed = true;
		if (ch.nread)
			diag_report(&d->log, DIAG_CONSOLE_BUFFER,
				    "device-readable buffer in the control receiveq (head %u)",
				    ch.id);
		if (ch.write_len < need) {
			diag_report(&d->log, DIAG_CONSOLE_BUFFER,
				    "control receive buffer of %u bytes, message needs %u",
				    ch.write_len, need);
			vq_push(&vq->vq, &ch, 0);
			continue;
		}
		rs_st32(buf, m->id);
		rs_st16(buf + 4, m->event);
		rs_st16(buf + 6, m->value);
		memcpy(buf + CONSOLE_CTRL_HDR, m->data, m->len);
		vq_cursor_init_write(&cur, d->gm, &ch);
		vq_cursor_write(&cur, buf, need);
		/* A buffer the arena refused lost the message; it is a guest error
		 * already reported by the arena. */
		c->pend_head = (c->pend_head + 1) % CONSOLE_CTRL_PENDING;
		c->pend_count--;
		vq_push(&vq->vq, &ch, cur.done);
	}
	if (pushed)
		vdev_queue_interrupt(d, CONSOLE_CTRL_RXQ);
}

/* Messages for a port the driver just made ready (virtio-v1.2 5.3.5 step 3:
 * the device tells it the port's configuration). */
static void console_port_announce(struct vdev *d, unsigned p)
{
	struct console *c = d->priv;
	struct console_port *pt = &c->port[p];

	if (pt->console) {
		console_ctrl_queue(d, p, VIRTIO_CONSOLE_CONSOLE_PORT, 1, NULL, 0);
		if (pt->cols || pt->rows) {
			uint8_t sz[4];

			rs_st16(sz, pt->cols);
			rs_st16(sz + 2, pt->rows);
			console_ctrl_queue(d, p, VIRTIO_CONSOLE_RESIZE, 0, sz, sizeof sz);
		}
	}
	if (pt->name_len)
		console_ctrl_queue(d, p, VIRTIO_CONSOLE_PORT_NAME, 0, pt->name, pt->name_len);
	if (pt->host_open)
		console_ctrl_queue(d, p, VIRTIO_CONSOLE_PORT_OPEN, 1, NULL, 0);
}

/* --- control messages, driver to device -------------------------------------------------- */

static const char *const console_event_names[] = {
	"DEVICE_READY", "DEVICE_ADD", "DEVICE_REMOVE", "PORT_READY",
	"CONSOLE_PORT", "RESIZE",     "PORT_OPEN",     "PORT_NAME",
};

/* A port id the driver named: must be a port the device added. */
static struct console_port *console_ctrl_port(struct vdev *d, uint32_t id, uint16_t event)
{
	struct console *c = d->priv;

	if (id >= c->nports) {
		diag_report(&d->log, DIAG_CONSOLE_CTRL, "%s for port %u, device has %u ports",
			    console_event_names[event], id, c->nports);
		return NULL;
	}
	if (!c->port[id].added) {
		diag_report(&d->log, DIAG_CONSOLE_CTRL, "%s for port %u before DEVICE_ADD",
			    console_event_names[event], id);
		return NULL;
	}
	return &c->port[id];
}

/* One driver message (virtio-v1.2 5.3.6.2). Malformed ones are reported and
 * ignored. */
static void console_ctrl_handle(struct vdev *d, uint32_t id, uint16_t event, uint16_t value)
{
	struct console *c = d->priv;
	struct console_port *pt;

	if (event > VIRTIO_CONSOLE_PORT_NAME) {
		diag_report(&d->log, DIAG_CONSOLE_CTRL, "unknown control event %u (port %u)", event,
			    id);
		return;
	}
	switch (event) {
	case VIRTIO_CONSOLE_DEVICE_READY:
		if (value > 1) {
			diag_report(&d->log, DIAG_CONSOLE_CTRL, "DEVICE_READY value %u", value);
			return;
		}
		if (c->device_ready) {
			diag_report(&d->log, DIAG_CONSOLE_CTRL, "DEVICE_READY sent twice");
			return;
		}
		if (value == 0)
			return; /* the driver failed to set up: no ports */
		c->device_ready = true;
		/* virtio-v1.2 5.3.6.2.1: each port added once, ids below max_nr_ports. */
		for (unsigned p = 0; p < c->nports; p++) {
			c->port[p].added = true;
			console_ctrl_queue(d, p, VIRTIO_CONSOLE_DEVICE_ADD, 0, NULL, 0);
		}
		return;
	case VIRTIO_CONSOLE_PORT_READY:
		pt = console_ctrl_port(d, id, event);
		if (!pt)
			return;
		if (value > 1) {
			diag_report(&d->log, DIAG_CONSOLE_CTRL, "PORT_READY value %u (port %u)",
				    value, id);
			return;
		}
		if (value == 0) {
			pt->ready = false; /* the driver could not set the port up */
			return;
		}
		if (pt->ready) {
			diag_report(&d->log, DIAG_CONSOLE_CTRL, "PORT_READY for port %u sent twice",
				    id);
			return;
		}
		pt->ready = true;
		console_port_announce(d, id);
		return;
	case VIRTIO_CONSOLE_PORT_OPEN:
		pt = console_ctrl_port(d, id, event);
		if (!pt)
			return;
		if (value > 1) {
			diag_report(&d->log, DIAG_CONSOLE_CTRL, "PORT_OPEN value %u (port %u)",
				    value, id);
			return;
		}
		pt->guest_open = value == 1;
		return;
	default:
		diag_report(&d->log, DIAG_CONSOLE_CTRL, "%s is sent by the device, not the driver",
			    console_event_names[event]);
		return;
	}
}

/* Control transmitq: read, check and act on each message. */
static void console_ctrl_tx(struct vdev *d)
{
	struct vdev_queue *vq = vdev_queue(d, CONSOLE_CTRL_TXQ);
	struct vq_chain ch;

	while (vq_pop(&vq->vq, &ch) > 0) {
		uint8_t hdr[CONSOLE_CTRL_HDR];
		struct vq_cursor cur;
		size_t got;

		if (ch.nread < ch.nsegs)
			diag_report(&d->log, DIAG_CONSOLE_BUFFER,
				    "device-writable buffer in the control transmitq (head %u)",
				    ch.id);
		vq_cursor_init_read(&cur, d->gm, &ch);
		got = vq_cursor_read(&cur, hdr, sizeof hdr);
		if (got < sizeof hdr)
			diag_report(&d->log, DIAG_CONSOLE_CTRL,
				    "control message of %zu bytes, needs %u", got,
				    CONSOLE_CTRL_HDR);
		else
			console_ctrl_handle(d, rs_le32(hdr), rs_le16(hdr + 4), rs_le16(hdr + 6));
		vq_push(&vq->vq, &ch, 0);
	}
	vdev_queue_interrupt(d, CONSOLE_CTRL_TXQ);
	console_ctrl_flush(d);
}

/* --- data queues ----------------------------------------------------------------------- */

/* Copy buffered input of port p into its receive buffers, one buffer after
 * the other (input larger than a buffer spans several). */
static void console_rx_drain(struct vdev *d, unsigned p)
{
	struct console *c = d->priv;
	struct console_port *pt = &c->port[p];
	struct vdev_queue *vq;
	struct vq_chain ch;
	bool pushed = false;

	if (!pt->in_len || !console_driver_ok(d) || (p > 0 && !console_mp(d)))
		return;
	vq = console_ready_queue(d, console_rxq(p));
	if (!vq)
		return;
	while (pt->in_len && vq_pop(&vq->vq, &ch) > 0) {
		struct vq_cursor cur;

		pushed = true;
		if (ch.nread)
			diag_report(&d->log, DIAG_CONSOLE_BUFFER,
				    "device-readable buffer in receiveq of port %u (head %u)", p,
				    ch.id);
		vq_cursor_init_write(&cur, d->gm, &ch);
		/* At most two pieces: up to the ring's end, then from its start.
		 * An arena refusal (reported there) sets cur.error and ends it. */
		for (unsigned piece = 0;
		     piece < 2 && pt->in_len && vq_cursor_remaining(&cur) && !cur.error; piece++) {
			uint32_t run = RS_MIN(pt->in_len, CONSOLE_INPUT_MAX - pt->in_head);
			size_t n = RS_MIN((size_t)run, (size_t)vq_cursor_remaining(&cur));
			size_t put = vq_cursor_write(&cur, pt->in + pt->in_head, n);

			pt->in_head = (pt->in_head + (uint32_t)put) % CONSOLE_INPUT_MAX;
			pt->in_len -= (uint32_t)put;
			pt->in_bytes += put;
		}
		/* A failed push broke the queue: the next pop ends the loop. */
		vq_push(&vq->vq, &ch, cur.done);
	}
	if (pushed)
		vdev_queue_interrupt(d, console_rxq(p));
}

/* Transmit queue of port p: every readable byte goes to the backend (at most
 * CONSOLE_TX_MAX per buffer); nothing is written back. */
static void console_tx(struct vdev *d, unsigned p)
{
	struct console *c = d->priv;
	struct vdev_queue *vq = vdev_queue(d, console_rxq(p) + 1);
	struct vq_chain ch;
	uint8_t buf[4096];
	size_t got;

	while (vq_pop(&vq->vq, &ch) > 0) {
		struct vq_cursor cur;
		uint32_t left = RS_MIN(ch.read_len, CONSOLE_TX_MAX);

		if (ch.nread < ch.nsegs)
			diag_report(&d->log, DIAG_CONSOLE_BUFFER,
				    "device-writable buffer in transmitq of port %u (head %u)", p,
				    ch.id);
		if (ch.read_len > CONSOLE_TX_MAX) {
			diag_report(&d->log, DIAG_CONSOLE_BUFFER,
				    "transmit buffer of %u bytes on port %u; bytes past %u dropped",
				    ch.read_len, p, CONSOLE_TX_MAX);
			c->port[p].out_dropped += ch.read_len - CONSOLE_TX_MAX;
		}
		vq_cursor_init_read(&cur, d->gm, &ch);
		/* Bounded: at most CONSOLE_TX_MAX / sizeof buf passes; a short
		 * read (the arena refused, reported there) ends it. */
		do {
			got = vq_cursor_read(&cur, buf, RS_MIN((size_t)left, sizeof buf));
			if (got)
				console_output(d, p, buf, got);
			left -= (uint32_t)got;
		} while (left && got == sizeof buf);
		c->port[p].out_dropped += left;
		/* A failed push broke the queue: the next pop ends the loop. */
		vq_push(&vq->vq, &ch, 0);
	}
	vdev_queue_interrupt(d, console_rxq(p) + 1);
}

static void console_queue_notify(struct vdev *d, unsigned q)
{
	unsigned p;

	if (q >= 2 && !console_mp(d)) {
		diag_report(&d->log, DIAG_CONSOLE_CTRL,
			    "notify for queue %u; it exists only with MULTIPORT negotiated", q);
		return;
	}
	if (q == CONSOLE_CTRL_RXQ) {
		console_ctrl_flush(d);
		return;
	}
	if (q == CONSOLE_CTRL_TXQ) {
		console_ctrl_tx(d);
		return;
	}
	/* q < d->nqueues = 2 * (nports + 1) (checked by the core): p < nports. */
	p = q < 2 ? 0 : q / 2 - 1;
	if (q % 2 == 0)
		console_rx_drain(d, p);
	else
		console_tx(d, p);
}

/* --- host events ----------------------------------------------------------------------- */

/* Append input for port p; what does not fit CONSOLE_INPUT_MAX is dropped. */
static void console_input(struct vdev *d, unsigned p, const uint8_t *data, uint32_t len)
{
	struct console *c = d->priv;
	struct console_port *pt = &c->port[p];
	uint32_t room = CONSOLE_INPUT_MAX - pt->in_len;
	uint32_t n = RS_MIN(len, room);

	pt->in_dropped += len - n;
	for (uint32_t done = 0; done < n;) {
		uint32_t tail = (pt->in_head + pt->in_len) % CONSOLE_INPUT_MAX;
		uint32_t run = RS_MIN(n - done, CONSOLE_INPUT_MAX - tail);

		memcpy(pt->in + tail, data + done, run);
		pt->in_len += run;
		done += run;
	}
	console_rx_drain(d, p);
}

/* The terminal of port p changed size: port 0's goes into the config space
 * (virtio-v1.2 5.3.6 item 3), and with MULTIPORT a RESIZE message goes to
 * the driver for a ready console port. */
static void console_resize(struct vdev *d, unsigned p, uint16_t cols, uint16_t rows)
{
	struct console *c = d->priv;
	struct console_port *pt = &c->port[p];

	pt->cols = cols;
	pt->rows = rows;
	if (p == 0) {
		console_fill_config(d);
		vdev_config_changed(d);
	}
	if (console_mp(d) && pt->ready && pt->console) {
		uint8_t sz[4];

		rs_st16(sz, cols);
		rs_st16(sz + 2, rows);
		console_ctrl_queue(d, p, VIRTIO_CONSOLE_RESIZE, 0, sz, sizeof sz);
		console_ctrl_flush(d);
	}
}

static void console_host_event(struct vdev *d, const struct world_event *ev)
{
	struct console *c = d->priv;

	if (ev->kind != WEV_CONSOLE_IN && ev->kind != WEV_CONSOLE_RESIZE && ev->kind != WEV_HOST) {
		diag_report(&d->log, DIAG_BACKEND_ERROR, "host event kind %d is not for a console",
			    ev->kind);
		return;
	}
	if (ev->port >= c->nports) {
		diag_report(&d->log, DIAG_BACKEND_ERROR, "host event for port %u; %u ports",
			    ev->port, c->nports);
		return;
	}
	switch (ev->kind) {
	case WEV_CONSOLE_IN:
		if (ev->len && ev->data)
			console_input(d, ev->port, ev->data, ev->len);
		break;
	case WEV_CONSOLE_RESIZE:
		console_resize(d, ev->port, (uint16_t)(ev->arg >> 16), (uint16_t)ev->arg);
		break;
	default: {
		struct console_port *pt = &c->port[ev->port];
		bool open = ev->arg != CONSOLE_HOST_CLOSED;

		if (open == pt->host_open)
			break;
		pt->host_open = open;
		if (console_mp(d) && pt->ready) {
			console_ctrl_queue(d, ev->port, VIRTIO_CONSOLE_PORT_OPEN, open, NULL, 0);
			console_ctrl_flush(d);
		}
		break;
	}
	}
}

/* --- config ---------------------------------------------------------------------------- */

/* emerg_wr written (virtio-v1.2 5.3.5.1: allowed at any time, even before
 * the device is configured; the low byte goes out on port 0). The field
 * reads back as 0. */
static void console_config_write(struct vdev *d, uint32_t off, uint32_t len)
{
	/* Only emerg_wr is writable (console_cfg_fields): off is its offset. */
	if (d->model_features & VIRTIO_BIT(VIRTIO_CONSOLE_F_EMERG_WRITE))
		console_output(d, 0, d->config + CONSOLE_CFG_EMERG_WR, 1);
	rs_st32(d->config + CONSOLE_CFG_EMERG_WR, 0);
}

/* --- ops ------------------------------------------------------------------------------- */

/* "COLSxROWS", each 0..65535. */
static int console_parse_size(const char *s, uint16_t *cols, uint16_t *rows)
{
	unsigned long v[2] = { 0, 0 };

	for (unsigned i = 0; i < 2; i++) {
		unsigned digits = 0;

		for (; *s >= '0' && *s <= '9' && digits < 6; s++, digits++)
			v[i] = v[i] * 10 + (unsigned long)(*s - '0');
		if (!digits || v[i] > 0xffff)
			return -EINVAL;
		if (i == 0 && *s++ != 'x')
			return -EINVAL;
	}
	if (*s)
		return -EINVAL;
	*cols = (uint16_t)v[0];
	*rows = (uint16_t)v[1];
	return 0;
}

/* Option of port p: "<base>" or "<base>0" for port 0, "<base>N" for N.
 * Returns the value or NULL; -EINVAL in *r when both port-0 forms are given. */
static const char *console_port_arg(struct vdev_args *args, const char *base, unsigned p, int *r,
				    char *err, size_t errlen)
{
	char key[24];
	const char *v;

	snprintf(key, sizeof key, "%s%u", base, p);
	v = vdev_arg(args, key);
	if (p == 0) {
		const char *plain = vdev_arg(args, base);

		if (plain && v) {
			snprintf(err, errlen, "console: options '%s' and '%s' both set port 0",
				 base, key);
			*r = -EINVAL;
			return NULL;
		}
		if (plain)
			v = plain;
	}
	return v;
}

/* A port name is an option value: it always fits. */
_Static_assert(sizeof(((struct vdev_args *)0)->kv[0].val) - 1 <= CONSOLE_NAME_MAX,
	       "CONSOLE_NAME_MAX must hold any option value");

/* Backend and name of port p from the options. Host endpoints (stdio, pty)
 * are opened only in a live world (or with none): any other (replay,
 * fuzzing) answers every output itself and delivers input as events, and a
 * replay must not touch the terminal; a memory backend stands in. */
static int console_setup_port(struct vdev *d, struct vdev_args *args, unsigned p, bool *stdio,
			      char *err, size_t errlen)
{
	struct console *c = d->priv;
	struct console_port *pt = &c->port[p];
	bool host = !d->world || world_is_live(d->world);
	const char *be, *name;
	int r = 0;

	be = console_port_arg(args, "backend", p, &r, err, errlen);
	if (r < 0)
		return r;
	name = console_port_arg(args, "name", p, &r, err, errlen);
	if (r < 0)
		return r;
	if ((be || name) && p >= c->nports) {
		snprintf(err, errlen, "console: option for port %u, but ports=%u", p, c->nports);
		return -EINVAL;
	}
	if (p >= c->nports)
		return 0;
	if (name) {
		/* Bounded by the option value's size (static assert above). */
		size_t n = strnlen(name, CONSOLE_NAME_MAX);

		memcpy(pt->name, name, n);
		pt->name_len = (uint16_t)n;
	}
	pt->in = calloc(1, CONSOLE_INPUT_MAX);
	if (!pt->in) {
		snprintf(err, errlen, "console: out of memory");
		return -ENOMEM;
	}
	if (!be || strcmp(be, "mem") == 0) {
		r = console_mem_new(d->index, p, 0, &pt->backend, err, errlen);
	} else if (strcmp(be, "stdio") == 0) {
		if (*stdio) {
			snprintf(err, errlen, "console: backend=stdio on more than one port");
			return -EINVAL;
		}
		*stdio = true;
		r = host ? console_stdio_new(d->index, p, 0, 1, &pt->backend, err, errlen)
			 : console_mem_new(d->index, p, 0, &pt->backend, err, errlen);
	} else if (strcmp(be, "pty") == 0) {
		r = host ? console_pty_new(d->index, p, false, &pt->backend, err, errlen)
			 : console_mem_new(d->index, p, 0, &pt->backend, err, errlen);
	} else {
		snprintf(err, errlen, "console: port %u backend '%s' unknown (mem, stdio, pty)", p,
			 be);
		return -EINVAL;
	}
	if (r < 0)
		return r;
	pt->host_open = true;
	pt->console = p == 0;
	if (pt->backend->ops->poll_fd && world_is_live(d->world)) {
		r = world_live_watch(d->world, pt->backend);
		if (r < 0) {
			snprintf(err, errlen, "console: port %u: cannot watch its backend (%d)", p,
				 r);
			return r;
		}
	}
	return 0;
}

static void console_destroy(struct vdev *d)
{
	struct console *c = d->priv;

	for (unsigned p = 0; p < CONSOLE_MAX_PORTS; p++) {
		struct console_port *pt = &c->port[p];

		if (pt->backend) {
			if (world_is_live(d->world))
				world_live_unwatch(d->world, pt->backend);
			console_backend_free(pt->backend);
			pt->backend = NULL;
		}
		free(pt->in);
		pt->in = NULL;
	}
}

static int console_create(struct vdev *d, struct vdev_args *args, char *err, size_t errlen)
{
	struct console *c = d->priv;
	uint64_t ports;
	bool mp, emerg, stdio = false;
	uint16_t cols = 0, rows = 0;
	const char *size;
	int r;

	r = vdev_arg_size(args, "ports", 1, &ports, err, errlen);
	if (r < 0)
		return r;
	if (ports < 1 || ports > CONSOLE_MAX_PORTS) {
		snprintf(err, errlen, "console: ports=%llu out of range (1..%u)",
			 (unsigned long long)ports, CONSOLE_MAX_PORTS);
		return -EINVAL;
	}
	r = vdev_arg_bool(args, "multiport", ports > 1, &mp, err, errlen);
	if (r < 0)
		return r;
	if (!mp && ports > 1) {
		snprintf(err, errlen, "console: ports=%llu needs multiport",
			 (unsigned long long)ports);
		return -EINVAL;
	}
	r = vdev_arg_bool(args, "emerg_write", true, &emerg, err, errlen);
	if (r < 0)
		return r;
	size = vdev_arg(args, "size");
	if (size && console_parse_size(size, &cols, &rows) < 0) {
		snprintf(err, errlen, "console: option 'size': expected COLSxROWS such as 80x25, "
			 "got '%s'", size);
		return -EINVAL;
	}
	c->nports = (unsigned)ports;
	c->multiport = mp;
	for (unsigned p = 0; p < CONSOLE_MAX_PORTS; p++) {
		r = console_setup_port(d, args, p, &stdio, err, errlen);
		if (r < 0) {
			console_destroy(d);
			return r;
		}
	}
	c->port[0].cols = c->cols0 = cols;
	c->port[0].rows = c->rows0 = rows;
	d->nqueues = mp ? 2 * (c->nports + 1) : 2;
	if (!mp)
		d->model_features &= ~VIRTIO_BIT(VIRTIO_CONSOLE_F_MULTIPORT);
	if (!size)
		d->model_features &= ~VIRTIO_BIT(VIRTIO_CONSOLE_F_SIZE);
	if (!emerg)
		d->model_features &= ~VIRTIO_BIT(VIRTIO_CONSOLE_F_EMERG_WRITE);
	console_fill_config(d);
	return 0;
}

/* Host-side state back to what create() set: terminal sizes (size= for
 * port 0, none for the others) and every port's host side open again.
 * machine_reset calls it before the device reset, so a reset machine
 * behaves as a freshly built one (deterministic fuzzing). */
static void console_host_reset(struct vdev *d)
{
	struct console *c = d->priv;

	for (unsigned p = 0; p < c->nports; p++) {
		c->port[p].cols = p == 0 ? c->cols0 : 0;
		c->port[p].rows = p == 0 ? c->rows0 : 0;
		c->port[p].host_open = true;
	}
}

/* Guest-visible state back to power-on; sizes, host state and counters stay. */
static void console_reset(struct vdev *d)
{
	struct console *c = d->priv;

	for (unsigned p = 0; p < c->nports; p++) {
		struct console_port *pt = &c->port[p];

		pt->added = pt->ready = pt->guest_open = false;
		pt->in_head = pt->in_len = 0;
	}
	c->device_ready = false;
	c->pend_head = c->pend_count = 0;
	memset(c->pend, 0, sizeof c->pend);
	console_fill_config(d);
}

/* DRIVER_OK: buffers posted before it may now be used (virtio-v1.2 3.1.1). */
static void console_driver_ok_op(struct vdev *d)
{
	struct console *c = d->priv;

	for (unsigned p = 0; p < c->nports; p++)
		console_rx_drain(d, p);
	console_ctrl_flush(d);
}

/* Serialise the guest-visible state: per port flags and buffered input,
 * then the waiting control messages. */
static size_t console_save(const struct vdev *d, uint8_t *buf, size_t cap)
{
	const struct console *c = d->priv;
	size_t n = 0;

#define PUT(bytes, len)                                                                   \
	do {                                                                              \
		if (n + (len) <= cap)                                                     \
			memcpy(buf + n, (bytes), (len));                                  \
		n += (len);                                                               \
	} while (0)
	uint8_t hdr[8];

	rs_st32(hdr, c->nports);
	hdr[4] = c->device_ready;
	hdr[5] = c->multiport;
	rs_st16(hdr + 6, (uint16_t)c->pend_count);
	PUT(hdr, 8);
	for (unsigned p = 0; p < c->nports; p++) {
		const struct console_port *pt = &c->port[p];
		uint8_t ph[12];

		ph[0] = pt->added;
		ph[1] = pt->ready;
		ph[2] = pt->guest_open;
		ph[3] = pt->host_open;
		rs_st16(ph + 4, pt->cols);
		rs_st16(ph + 6, pt->rows);
		rs_st32(ph + 8, pt->in_len);
		PUT(ph, 12);
		uint32_t run = RS_MIN(pt->in_len, CONSOLE_INPUT_MAX - pt->in_head);
		PUT(pt->in + pt->in_head, run);
		PUT(pt->in, pt->in_len - run);
	}
	for (unsigned i = 0; i < c->pend_count; i++) {
		const struct console_msg *m = &c->pend[(c->pend_head + i) % CONSOLE_CTRL_PENDING];
		uint8_t mh[10];

		rs_st32(mh, m->id);
		rs_st16(mh + 4, m->event);
		rs_st16(mh + 6, m->value);
		rs_st16(mh + 8, m->len);
		PUT(mh, 10);
		PUT(m->data, m->len);
	}
#undef PUT
	return n;
}

/* --- public helpers -------------------------------------------------------------------- */

static struct console *console_of(struct vdev *d, unsigned port)
{
	if (!d || d->ops != &console_ops)
		return NULL;
	struct console *c = d->priv;
	return port < c->nports ? c : NULL;
}

struct world_backend *console_port_backend(struct vdev *d, unsigned port)
{
	struct console *c = console_of(d, port);

	return c ? c->port[port].backend : NULL;
}

int console_port_stats(struct vdev *d, unsigned port, struct console_port_stats *out)
{
	struct console *c = console_of(d, port);
	const struct console_port *pt;

	if (!c || !out)
		return -EINVAL;
	pt = &c->port[port];
	out->in_bytes = pt->in_bytes;
	out->in_dropped = pt->in_dropped;
	out->in_buffered = pt->in_len;
	out->out_bytes = pt->out_bytes;
	out->out_dropped = pt->out_dropped;
	out->added = pt->added;
	out->ready = pt->ready;
	out->guest_open = pt->guest_open;
	out->host_open = pt->host_open;
	return 0;
}

uint64_t console_ctrl_dropped(struct vdev *d)
{
	struct console *c = console_of(d, 0);

	return c ? c->ctrl_dropped : 0;
}

const struct vdev_ops console_ops = {
	.name = "console",
	.device_id = VIRTIO_ID_CONSOLE,
	.pci_class = 0x0780, /* communication controller, other (as QEMU's virtio-serial) */
	.num_queues = 2 * (CONSOLE_MAX_PORTS + 1),
	.queue_max = CONSOLE_QUEUE_MAX,
	.features = VIRTIO_BIT(VIRTIO_CONSOLE_F_SIZE) | VIRTIO_BIT(VIRTIO_CONSOLE_F_MULTIPORT) |
		    VIRTIO_BIT(VIRTIO_CONSOLE_F_EMERG_WRITE),
	.config_size = CONSOLE_CFG_SIZE,
	.cfg_fields = console_cfg_fields,
	.ncfg_fields = RS_ARRAY_SIZE(console_cfg_fields),
	.priv_size = sizeof(struct console),
	.create = console_create,
	.destroy = console_destroy,
	.config_write = console_config_write,
	.driver_ok = console_driver_ok_op,
	.queue_notify = console_queue_notify,
	.reset = console_reset,
	.host_reset = console_host_reset,
	.save = console_save,
	.host_event = console_host_event,
};
