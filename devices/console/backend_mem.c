/*
 * ringside — console memory backend: output is captured in a bounded buffer
 * that host code and tests read back; input is injected as world events.
 * Nothing here touches the host, so a console on it is fully deterministic.
 * Invoked only through world_io() (WIO_SEND).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console.h"

struct console_mem {
	struct world_backend b;  /* first: b.ctx == this */
	unsigned port;
	uint8_t *buf;            /* captured output, oldest first */
	size_t len, cap;
	uint64_t overflow;       /* bytes pushed out of the front */
	int fail;                /* 0, or the -errno every output returns */
};

/* The mem state behind b, or NULL when b is not a mem backend. */
static struct console_mem *mem_of(const struct world_backend *b)
{
	return b && b->ops == &console_mem_backend_ops ? b->ctx : NULL;
}

/* WIO_SEND appends (keeping the newest cap bytes); other ops are not
 * meaningful for a console: -EOPNOTSUPP. */
static int64_t mem_io(struct world_backend *b, struct world_io *req)
{
	struct console_mem *m = b->ctx;
	const uint8_t *src = req->buf;
	size_t n = req->len;

	if (req->op != WIO_SEND)
		return -EOPNOTSUPP;
	if (m->fail)
		return m->fail;
	if (n == 0)
		return 0;
	if (n >= m->cap) {
		/* Only the last cap bytes can stay. */
		m->overflow += m->len + (n - m->cap);
		memcpy(m->buf, src + (n - m->cap), m->cap);
		m->len = m->cap;
		return (int64_t)req->len;
	}
	if (m->len + n > m->cap) {
		size_t drop = m->len + n - m->cap;

		memmove(m->buf, m->buf + drop, m->len - drop);
		m->len -= drop;
		m->overflow += drop;
	}
	memcpy(m->buf + m->len, src, n);
	m->len += n;
	return (int64_t)req->len;
}

static void mem_destroy(struct world_backend *b)
{
	struct console_mem *m = b->ctx;

	free(m->buf);
	free(m);
}

const struct world_backend_ops console_mem_backend_ops = {
	.name = "console-mem",
	.io = mem_io,
	.destroy = mem_destroy,
};

int console_mem_new(unsigned dev, unsigned port, size_t cap, struct world_backend **out,
		    char *err, size_t errlen)
{
	struct console_mem *m = calloc(1, sizeof *m);

	*out = NULL;
	if (!cap)
		cap = CONSOLE_MEM_CAP;
	if (!m || !(m->buf = malloc(cap))) {
		free(m);
		snprintf(err, errlen, "console: port %u: out of memory for the mem backend", port);
		return -ENOMEM;
	}
	m->cap = cap;
	m->port = port;
	m->b.ops = &console_mem_backend_ops;
	m->b.ctx = m;
	m->b.dev = dev;
	snprintf(m->b.name, sizeof m->b.name, "console%u.%u-mem", dev, port);
	*out = &m->b;
	return 0;
}

void console_backend_free(struct world_backend *b)
{
	if (b && b->ops && b->ops->destroy)
		b->ops->destroy(b);
}

const uint8_t *console_mem_data(const struct world_backend *b, size_t *len)
{
	const struct console_mem *m = mem_of(b);

	if (len)
		*len = m ? m->len : 0;
	return m ? m->buf : NULL;
}

size_t console_mem_read(struct world_backend *b, void *buf, size_t cap)
{
	struct console_mem *m = mem_of(b);
	size_t n;

	if (!m || !buf)
		return 0;
	n = RS_MIN(cap, m->len);
	memcpy(buf, m->buf, n);
	memmove(m->buf, m->buf + n, m->len - n);
	m->len -= n;
	return n;
}

void console_mem_clear(struct world_backend *b)
{
	struct console_mem *m = mem_of(b);

	if (m)
		m->len = 0;
}

uint64_t console_mem_overflow(const struct world_backend *b)
{
	const struct console_mem *m = mem_of(b);

	return m ? m->overflow : 0;
}

void console_mem_fail(struct world_backend *b, int err)
{
	struct console_mem *m = mem_of(b);

	if (m)
		m->fail = err < 0 ? err : 0;
}

int console_post_input(struct world *w, const struct world_backend *b, unsigned port,
		       const void *data, size_t len)
{
	struct world_event ev = {
		.kind = WEV_CONSOLE_IN,
		.dev = b ? b->dev : 0,
		.port = port,
		.len = (uint32_t)len,
		.data = data,
	};

	if (len > WORLD_EVENT_MAX_DATA)
		return -EINVAL;
	return world_post(w, &ev);
}

int console_mem_inject(struct world_backend *b, struct world *w, const void *data, size_t len)
{
	const struct console_mem *m = mem_of(b);

	if (!m)
		return -EINVAL;
	return console_post_input(w, b, m->port, data, len);
}
