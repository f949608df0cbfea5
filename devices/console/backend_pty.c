/*
 * ringside — console pty backend: a new pseudo-terminal per port. The user
 * attaches a terminal program to its slave side (screen /dev/pts/N); the
 * backend owns the master side: output is written there (non-blocking: with
 * nobody reading, what the terminal cannot hold is dropped, never waited
 * for), input is read from it when the live world polls it.
 *
 * The backend keeps a slave descriptor of its own open, so the master never
 * reports a hang-up while no terminal is attached (which would make every
 * poll return at once), and so the raw mode set here stays in force for
 * whoever opens the slave later.
 * Invoked only through world_io() and the live world's poll loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "console.h"

#define PTY_WRITE_TRIES 64
#define PTY_READ_CHUNK 4096

struct console_pty {
	struct world_backend b;  /* first: b.ctx == this */
	unsigned port;
	int master, slave;
	char path[64];
};

static int64_t pty_io(struct world_backend *b, struct world_io *req)
{
	struct console_pty *p = b->ctx;
	const uint8_t *buf = req->buf;
	size_t done = 0;

	if (req->op != WIO_SEND)
		return -EOPNOTSUPP;
	for (unsigned tries = 0; done < req->len && tries < PTY_WRITE_TRIES; tries++) {
		ssize_t r = write(p->master, buf + done, req->len - done);

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

static int pty_poll_fd(struct world_backend *b)
{
	struct console_pty *p = b->ctx;

	return p->master;
}

/* Terminal input: one read, posted as one event. */
static void pty_on_readable(struct world_backend *b, struct world *w)
{
	struct console_pty *p = b->ctx;
	uint8_t buf[PTY_READ_CHUNK];
	ssize_t r = read(p->master, buf, sizeof buf);

	if (r > 0) {
		/* a full queue drops the input, as a full UART would */
		(void)console_post_input(w, b, p->port, buf, (size_t)r);
	}
	/* r <= 0: EAGAIN or EINTR (another poll comes), or EIO, which cannot
	 * last: the backend's own slave descriptor keeps the pair connected. */
}

static void pty_destroy(struct world_backend *b)
{
	struct console_pty *p = b->ctx;

	if (p->slave >= 0)
		close(p->slave);
	if (p->master >= 0)
		close(p->master);
	free(p);
}

const struct world_backend_ops console_pty_backend_ops = {
	.name = "console-pty",
	.io = pty_io,
	.poll_fd = pty_poll_fd,
	.on_readable = pty_on_readable,
	.destroy = pty_destroy,
};

/* Open the master, unlock the slave, open it in raw mode. Returns 0 or
 * -errno with err naming the step that failed. */
static int pty_open(struct console_pty *p, char *err, size_t errlen)
{
	struct termios t;
	const char *step;
	int flags;

	step = "posix_openpt";
	p->master = posix_openpt(O_RDWR | O_NOCTTY);
	if (p->master < 0)
		goto fail;
	step = "fcntl";
	flags = fcntl(p->master, F_GETFL);
	if (flags < 0 || fcntl(p->master, F_SETFL, flags | O_NONBLOCK) < 0 ||
	    fcntl(p->master, F_SETFD, FD_CLOEXEC) < 0)
		goto fail;
	step = "grantpt";
	if (grantpt(p->master) < 0)
		goto fail;
	step = "unlockpt";
	if (unlockpt(p->master) < 0)
		goto fail;
	step = "ptsname_r";
	if (ptsname_r(p->master, p->path, sizeof p->path) != 0)
		goto fail;
	step = "open slave";
	p->slave = open(p->path, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (p->slave < 0)
		goto fail;
	step = "set raw mode";
	if (tcgetattr(p->slave, &t) < 0)
		goto fail;
	cfmakeraw(&t);
	if (tcsetattr(p->slave, TCSANOW, &t) < 0)
		goto fail;
	return 0;
fail:
	flags = errno ? errno : EIO;
	snprintf(err, errlen, "console: port %u: pty backend: %s failed: %s", p->port, step,
		 strerror(flags));
	return -flags;
}

int console_pty_new(unsigned dev, unsigned port, bool quiet, struct world_backend **out,
		    char *err, size_t errlen)
{
	struct console_pty *p = calloc(1, sizeof *p);
	int r;

	*out = NULL;
	if (!p) {
		snprintf(err, errlen, "console: port %u: out of memory for the pty backend", port);
		return -ENOMEM;
	}
	p->port = port;
	p->master = p->slave = -1;
	p->b.ops = &console_pty_backend_ops;
	p->b.ctx = p;
	p->b.dev = dev;
	snprintf(p->b.name, sizeof p->b.name, "console%u.%u-pty", dev, port);
	r = pty_open(p, err, errlen);
	if (r < 0) {
		pty_destroy(&p->b);
		return r;
	}
	if (!quiet)
		fprintf(stderr, "ringside: console (device %u) port %u: pty %s\n", dev, port,
			p->path);
	*out = &p->b;
	return 0;
}

const char *console_pty_path(const struct world_backend *b)
{
	const struct console_pty *p = b && b->ops == &console_pty_backend_ops ? b->ctx : NULL;

	return p ? p->path : NULL;
}
