/*
 * ringside — "echo", the test bed's own test device (see ringside/echo.h).
 *
 * Shape (as every device here): ops table, config layout, request handling.
 * It has no backend: what it returns is a function of what the guest sent,
 * so it needs nothing from the world and is fully deterministic.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ringside/echo.h"
#include "ringside/vdev.h"
#include "../devices.h"

struct echo {
	uint32_t requests;
	uint64_t bytes;
	uint8_t key_writes;
};

/* --- config layout --------------------------------------------------------------------- */

static const struct vdev_cfg_field echo_cfg_fields[] = {
	{ ECHO_CFG_REQUESTS, 4, 0 },
	{ ECHO_CFG_KEY, 1, 1 },
	{ ECHO_CFG_KEY_WRITES, 1, 0 },
	{ ECHO_CFG_QUEUES, 2, 0 },
	{ ECHO_CFG_BYTES, 8, 0 },
};

/* Fill the read-only fields from the device state. */
static void echo_config_read(struct vdev *d, uint32_t off, uint32_t len)
{
	struct echo *e = d->priv;

	rs_st32(d->config + ECHO_CFG_REQUESTS, e->requests);
	d->config[ECHO_CFG_KEY_WRITES] = e->key_writes;
	rs_st16(d->config + ECHO_CFG_QUEUES, (uint16_t)d->nqueues);
	rs_st64(d->config + ECHO_CFG_BYTES, e->bytes);
}

/* The key was written: count it and, with ECHO_F_NOTIFY_KEY, tell the driver
 * the config changed (exercises the generation counter and config IRQs). */
static void echo_config_write(struct vdev *d, uint32_t off, uint32_t len)
{
	struct echo *e = d->priv;

	e->key_writes++;
	if (vdev_has(d, ECHO_F_NOTIFY_KEY))
		vdev_config_changed(d);
}

/* --- request handling ------------------------------------------------------------------- */

#define ECHO_CHUNK 512

/* Copy the readable part of c into its writable part, XORed with the key
 * when negotiated. Returns bytes written. */
static uint32_t echo_one(struct vdev *d, const struct vq_chain *c)
{
	struct echo *e = d->priv;
	struct vq_cursor in, out;
	uint8_t buf[ECHO_CHUNK];
	uint8_t key = vdev_has(d, ECHO_F_XOR) ? d->config[ECHO_CFG_KEY] : 0;

	vq_cursor_init_read(&in, d->gm, c);
	vq_cursor_init_write(&out, d->gm, c);
	/* Bounded: each pass moves at least one byte of a 32-bit total. */
	while (vq_cursor_remaining(&in) && vq_cursor_remaining(&out)) {
		size_t n = RS_MIN(sizeof buf, RS_MIN(vq_cursor_remaining(&in),
						     vq_cursor_remaining(&out)));
		size_t got = vq_cursor_read(&in, buf, n);
		if (key)
			for (size_t i = 0; i < got; i++)
				buf[i] ^= key;
		size_t put = vq_cursor_write(&out, buf, got);
		if (put != n)
			break; /* arena refused: the chain ends here, reported by gm */
	}
	e->requests++;
	e->bytes += out.done;
	return out.done;
}

static void echo_queue_notify(struct vdev *d, unsigned q)
{
	struct vdev_queue *vqs = vdev_queue(d, q);
	struct vq_chain c;
	int r;

	/* Bounded: every pop consumes an avail entry and the engine refuses
	 * more than the queue size outstanding. */
	while ((r = vq_pop(&vqs->vq, &c)) > 0) {
		uint32_t n = echo_one(d, &c);
		if (vq_push(&vqs->vq, &c, n) < 0)
			break;
	}
	vdev_queue_interrupt(d, q);
}

/* --- ops -------------------------------------------------------------------------------- */

static int echo_create(struct vdev *d, struct vdev_args *args, char *err, size_t errlen)
{
	uint64_t queues;
	int r = vdev_arg_size(args, "queues", ECHO_NUM_QUEUES, &queues, err, errlen);

	if (r < 0)
		return r;
	if (queues < 1 || queues > ECHO_NUM_QUEUES) {
		snprintf(err, errlen, "echo: queues=%llu out of range (1..%u)",
			 (unsigned long long)queues, ECHO_NUM_QUEUES);
		return -EINVAL;
	}
	d->nqueues = (unsigned)queues;
	return 0;
}

static void echo_reset(struct vdev *d)
{
	struct echo *e = d->priv;

	memset(e, 0, sizeof *e);
}

static size_t echo_save(const struct vdev *d, uint8_t *buf, size_t cap)
{
	const struct echo *e = d->priv;

	if (cap >= 13) {
		rs_st32(buf, e->requests);
		rs_st64(buf + 4, e->bytes);
		buf[12] = e->key_writes;
	}
	return 13;
}

const struct vdev_ops echo_ops = {
	.name = "echo",
	.device_id = VIRTIO_ID_RS_ECHO,
	.pci_class = 0xff00, /* unclassified device */
	.num_queues = ECHO_NUM_QUEUES,
	.queue_max = ECHO_QUEUE_MAX,
	.features = VIRTIO_BIT(ECHO_F_XOR) | VIRTIO_BIT(ECHO_F_NOTIFY_KEY),
	.config_size = ECHO_CFG_SIZE,
	.cfg_fields = echo_cfg_fields,
	.ncfg_fields = RS_ARRAY_SIZE(echo_cfg_fields),
	.priv_size = sizeof(struct echo),
	.create = echo_create,
	.config_read = echo_config_read,
	.config_write = echo_config_write,
	.queue_notify = echo_queue_notify,
	.reset = echo_reset,
	.save = echo_save,
};
