/*
 * ringside — console stdio backend: output written to a file descriptor
 * (stdout for backend=stdio), input read from another (stdin) when the live
 * world polls it and posted as WEV_CONSOLE_IN events. A terminal on the
 * input side is switched to raw mode (keeping signals, so ^C still stops
 * the program, and output processing) and restored at destroy.
 * Invoked only through world_io() and the live world's poll loop.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "console.h"

/* write(2) calls one output request may take (short writes, EINTR). */
#define STDIO_WRITE_TRIES 64
#define STDIO_READ_CHUNK 4096

struct console_stdio {
	struct world_backend b;  /* first: b.ctx == this */
	unsigned port;
	int in_fd, out_fd;
	bool eof;                /* input ended: no longer polled */
	bool raw;                /* saved holds the terminal's mode to restore */
	struct termios saved;
};

/* Write all of buf to fd, retrying short writes and EINTR a bounded number
 * of times. Returns bytes written (short when the descriptor would block),
 * or -errno when nothing was written. */
static int64_t stdio_write_all(int fd, const uint8_t *buf, size_t len)
{
	size_t done = 0;

	for (unsigned tries = 0; done < len && tries < STDIO_WRITE_TRIES; tries++) {
		ssize_t r = write(fd, buf + done, len - done);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (done || errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			return -errno;
		}
		done += (size_t)r;
	}
	return (int64_t)done;
}

static int64_t stdio_io(struct world_backend *b, struct world_io *req)
{
	struct console_stdio *s = b->ctx;

	if (req->op != WIO_SEND)
		return -EOPNOTSUPP;
	if (req->len == 0)
		return 0;
	return stdio_write_all(s->out_fd, req->buf, req->len);
}

static int stdio_poll_fd(struct world_backend *b)
{
	struct console_stdio *s = b->ctx;

	return s->eof ? -1 : s->in_fd;
}

/* Input is readable: one read, posted as one event. End of input (or a read
 * error other than EINTR/EAGAIN) stops the polling. */
static void stdio_on_readable(struct world_backend *b, struct world *w)
{
	struct console_stdio *s = b->ctx;
	uint8_t buf[STDIO_READ_CHUNK];
	ssize_t r = read(s->in_fd, buf, sizeof buf);

	if (r > 0) {
		/* a full queue drops the input, as a full UART would */
		(void)console_post_input(w, b, s->port, buf, (size_t)r);
		return;
	}
	if (r < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	s->eof = true;
	world_live_unwatch(w, b);
}

static void stdio_destroy(struct world_backend *b)
{
	struct console_stdio *s = b->ctx;

	if (s->raw)
		tcsetattr(s->in_fd, TCSANOW, &s->saved);
	free(s);
}

const struct world_backend_ops console_stdio_backend_ops = {
	.name = "console-stdio",
	.io = stdio_io,
	.poll_fd = stdio_poll_fd,
	.on_readable = stdio_on_readable,
	.destroy = stdio_destroy,
};

int console_stdio_new(unsigned dev, unsigned port, int in_fd, int out_fd,
		      struct world_backend **out, char *err, size_t errlen)
{
	struct console_stdio *s;

	*out = NULL;
	if (in_fd < 0 || out_fd < 0) {
		snprintf(err, errlen, "console: port %u: stdio backend needs two descriptors",
			 port);
		return -EINVAL;
	}
	s = calloc(1, sizeof *s);
	if (!s) {
		snprintf(err, errlen, "console: port %u: out of memory for the stdio backend",
			 port);
		return -ENOMEM;
	}
	s->port = port;
	s->in_fd = in_fd;
	s->out_fd = out_fd;
	if (isatty(in_fd) && tcgetattr(in_fd, &s->saved) == 0) {
		struct termios t = s->saved;

		cfmakeraw(&t);
		t.c_lflag |= ISIG;
		t.c_oflag |= OPOST;
		s->raw = tcsetattr(in_fd, TCSANOW, &t) == 0;
	}
	s->b.ops = &console_stdio_backend_ops;
	s->b.ctx = s;
	s->b.dev = dev;
	snprintf(s->b.name, sizeof s->b.name, "console%u.%u-stdio", dev, port);
	*out = &s->b;
	return 0;
}
