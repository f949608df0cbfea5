/*
 * ringside — net backend "slirp": libslirp user-mode networking.
 *
 * The guest sits on slirp's virtual network 10.0.2.0/24 (gateway and host
 * 10.0.2.2, DNS 10.0.2.3, DHCP hands out 10.0.2.15) and fd00::/64 (host
 * fd00::2, DNS fd00::3, router advertisements). Traffic to 10.0.2.2
 * reaches the host's loopback, so a guest can talk to services listening on
 * 127.0.0.1; hostfwd= forwards one host port into the guest.
 *
 * Frames from the guest arrive through world_io(WIO_SEND) and go to
 * slirp_input(). Frames slirp sends to the guest (send_packet) are posted
 * as WEV_NET_RX events, so they reach the device through the world.
 *
 * Poll integration: the world watches one fd per backend, slirp has one
 * socket per connection. The backend keeps an epoll set of the sockets
 * slirp asks to poll (resynchronised after every slirp call) plus a timerfd,
 * and offers the epoll fd as its poll_fd: world_live_poll() wakes when any
 * socket is ready or when slirp's next timer or poll timeout is due, and
 * on_readable() runs one slirp poll cycle and the expired timers. No thread,
 * no signal: slirp only runs inside world_io() and world_live_poll().
 *
 * Time: slirp's clock is the world's monotonic clock, read from the world
 * implementation directly (host machinery, not a device input, so it is not
 * shown to the recording tap). slirp is started when the device is created
 * in a live world, else at the first frame (a replay never calls backends).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net.h"

#ifdef RS_HAVE_SLIRP

#include <arpa/inet.h>
#include <libslirp.h>
#include <limits.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

/* One slirp timer. */
struct sl_timer {
	struct sl_timer *next;
	SlirpTimerCb cb;
	void *cb_opaque;
	int64_t expire_ms; /* -1: not armed */
};

/* An fd registered in the epoll set, with its event mask. */
struct sl_reg {
	int fd;
	uint32_t events;
};

struct sl_fwd {
	bool set, udp;
	struct in_addr haddr, gaddr;
	int hport, gport;
};

struct net_slirp {
	struct world_backend b;
	struct world *w;
	Slirp *slirp;              /* NULL until started */
	int ep, tfd;               /* epoll set, timerfd (-1 until started) */
	struct sl_timer *timers;
	struct pollfd *pfd;        /* what slirp asked for at the last fill */
	unsigned npfd, pfd_cap;
	struct sl_reg *reg;        /* what the epoll set holds */
	unsigned nreg;
	struct sl_fwd fwd;
	uint64_t dropped;          /* frames for the guest lost (event queue full) */
};

/* --- clock and timers -------------------------------------------------------------------- */

/* The world's monotonic clock, from its implementation: slirp's timers
 * are host machinery, not a device input, so the recording tap does not
 * see them (a replay never runs slirp). */
static int64_t sl_now_ns(struct net_slirp *s)
{
	return (int64_t)(s->w->ops->clock_ns(s->w, WORLD_CLOCK_MONOTONIC) & INT64_MAX);
}

static int64_t sl_clock_get_ns(void *opaque)
{
	return sl_now_ns(opaque);
}

static void *sl_timer_new(SlirpTimerCb cb, void *cb_opaque, void *opaque)
{
	struct net_slirp *s = opaque;
	struct sl_timer *t = calloc(1, sizeof *t);

	if (!t)
		return NULL;
	t->cb = cb;
	t->cb_opaque = cb_opaque;
	t->expire_ms = -1;
	t->next = s->timers;
	s->timers = t;
	return t;
}

static void sl_timer_free(void *timer, void *opaque)
{
	struct net_slirp *s = opaque;

	for (struct sl_timer **pp = &s->timers; *pp; pp = &(*pp)->next) {
		if (*pp == timer) {
			*pp = ((struct sl_timer *)timer)->next;
			free(timer);
			return;
		}
	}
}

static void sl_timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
	struct sl_timer *t = timer;

	if (t)
		t->expire_ms = expire_ms < 0 ? 0 : expire_ms;
}

/* Run the timers that are due. A callback may re-arm or free timers, so
 * the list is rescanned after each one; bounded by the number of timers
 * that were due at entry (each is disarmed before it runs). */
static void sl_run_timers(struct net_slirp *s)
{
	const int64_t now = sl_now_ns(s) / 1000000;
	unsigned due = 0;

	for (struct sl_timer *t = s->timers; t; t = t->next)
		due += t->expire_ms >= 0 && t->expire_ms <= now;
	while (due--) {
		struct sl_timer *t = s->timers;

		while (t && !(t->expire_ms >= 0 && t->expire_ms <= now))
			t = t->next;
		if (!t)
			return;
		t->expire_ms = -1;
		t->cb(t->cb_opaque);
	}
}

/* Arm the timerfd for the earliest of slirp's poll timeout (ms from now)
 * and its timers. */
static void sl_arm(struct net_slirp *s, uint32_t timeout_ms)
{
	const int64_t now = sl_now_ns(s) / 1000000;
	int64_t wait = timeout_ms;
	struct itimerspec its;

	for (struct sl_timer *t = s->timers; t; t = t->next)
		if (t->expire_ms >= 0 && t->expire_ms - now < wait)
			wait = t->expire_ms - now;
	if (wait < 1)
		wait = 1; /* 0 would disarm it */
	memset(&its, 0, sizeof its);
	its.it_value.tv_sec = wait / 1000;
	its.it_value.tv_nsec = (long)(wait % 1000) * 1000000;
	timerfd_settime(s->tfd, 0, &its, NULL);
}

/* --- poll integration -------------------------------------------------------------------- */

static int sl_add_poll(int fd, int events, void *opaque)
{
	struct net_slirp *s = opaque;

	if (s->npfd == s->pfd_cap) {
		unsigned cap = s->pfd_cap ? 2 * s->pfd_cap : 16;
		struct pollfd *p = realloc(s->pfd, cap * sizeof *p);
		if (!p)
			return -1; /* slirp then treats the socket as not ready */
		s->pfd = p;
		s->pfd_cap = cap;
	}
	s->pfd[s->npfd].fd = fd;
	s->pfd[s->npfd].events = (short)((events & SLIRP_POLL_IN ? POLLIN : 0) |
					 (events & SLIRP_POLL_OUT ? POLLOUT : 0) |
					 (events & SLIRP_POLL_PRI ? POLLPRI : 0));
	s->pfd[s->npfd].revents = 0;
	return (int)s->npfd++;
}

static int sl_get_revents(int idx, void *opaque)
{
	struct net_slirp *s = opaque;
	short r;

	if (idx < 0 || (unsigned)idx >= s->npfd)
		return 0;
	r = s->pfd[idx].revents;
	return (r & POLLIN ? SLIRP_POLL_IN : 0) | (r & POLLOUT ? SLIRP_POLL_OUT : 0) |
	       (r & POLLPRI ? SLIRP_POLL_PRI : 0) | (r & POLLERR ? SLIRP_POLL_ERR : 0) |
	       (r & POLLHUP ? SLIRP_POLL_HUP : 0);
}

/* Ask slirp which fds it wants polled; returns its poll timeout (ms). */
static uint32_t sl_fill(struct net_slirp *s)
{
	uint32_t timeout = UINT32_MAX;

	s->npfd = 0;
	slirp_pollfds_fill(s->slirp, &timeout, sl_add_poll, s);
	return timeout;
}

static uint32_t sl_epoll_events(short ev)
{
	return (ev & POLLIN ? EPOLLIN : 0) | (ev & POLLOUT ? EPOLLOUT : 0) |
	       (ev & POLLPRI ? EPOLLPRI : 0);
}

/* Make the epoll set hold exactly the fds of the last fill, with their
 * masks. An fd closed and reused by slirp may be gone from the set already
 * (MOD fails with ENOENT: ADD it) or still be there (ADD fails with EEXIST:
 * MOD it). */
static void sl_sync_epoll(struct net_slirp *s)
{
	struct sl_reg *keep;
	unsigned nkeep = 0;

	keep = calloc(s->npfd ? s->npfd : 1, sizeof *keep);
	if (!keep)
		return; /* try again at the next sync */
	for (unsigned i = 0; i < s->npfd; i++) {
		struct epoll_event ev = { .events = sl_epoll_events(s->pfd[i].events) };
		bool found = false;

		ev.data.fd = s->pfd[i].fd;
		for (unsigned j = 0; j < s->nreg; j++) {
			if (s->reg[j].fd != ev.data.fd)
				continue;
			found = true;
			if (s->reg[j].events != ev.events &&
			    epoll_ctl(s->ep, EPOLL_CTL_MOD, ev.data.fd, &ev) < 0 && errno == ENOENT)
				epoll_ctl(s->ep, EPOLL_CTL_ADD, ev.data.fd, &ev);
			s->reg[j].fd = -1; /* seen */
			break;
		}
		if (!found && epoll_ctl(s->ep, EPOLL_CTL_ADD, ev.data.fd, &ev) < 0 &&
		    errno == EEXIST)
			epoll_ctl(s->ep, EPOLL_CTL_MOD, ev.data.fd, &ev);
		keep[nkeep].fd = ev.data.fd;
		keep[nkeep++].events = ev.events;
	}
	for (unsigned j = 0; j < s->nreg; j++)
		if (s->reg[j].fd >= 0)
			epoll_ctl(s->ep, EPOLL_CTL_DEL, s->reg[j].fd, NULL); /* may be closed */
	free(s->reg);
	s->reg = keep;
	s->nreg = nkeep;
}

/* After any slirp call: refresh the epoll set and the timer. */
static void sl_resync(struct net_slirp *s)
{
	uint32_t timeout = sl_fill(s);

	sl_sync_epoll(s);
	sl_arm(s, timeout);
}

/* --- slirp callbacks --------------------------------------------------------------------- */

/* A frame for the guest: into the world as a WEV_NET_RX event. A full queue
 * drops it (slirp's TCP retransmits, as on a real link). */
static ssize_t sl_send_packet(const void *buf, size_t len, void *opaque)
{
	struct net_slirp *s = opaque;
	struct world_event ev = {
		.kind = WEV_NET_RX, .dev = s->b.dev, .port = 0, .len = (uint32_t)len, .data = buf,
	};

	if (len > WORLD_EVENT_MAX_DATA || world_post(s->w, &ev) < 0)
		s->dropped++;
	return (ssize_t)len;
}

static void sl_guest_error(const char *msg, void *opaque)
{
	(void)msg;
	(void)opaque; /* slirp's own complaint about a guest frame: nothing to do */
}

static void sl_noop_fd(int fd, void *opaque)
{
	(void)fd;
	(void)opaque;
}

static void sl_notify(void *opaque)
{
	(void)opaque;
}

static const SlirpCb sl_callbacks = {
	.send_packet = sl_send_packet,
	.guest_error = sl_guest_error,
	.clock_get_ns = sl_clock_get_ns,
	.timer_new = sl_timer_new,
	.timer_free = sl_timer_free,
	.timer_mod = sl_timer_mod,
	.register_poll_fd = sl_noop_fd,
	.unregister_poll_fd = sl_noop_fd,
	.notify = sl_notify,
};

/* --- start, io, poll --------------------------------------------------------------------- */

/* The parts of sl_start; on failure the caller undoes what was done. */
static int sl_start_parts(struct net_slirp *s, char *err, size_t errlen)
{
	SlirpConfig cfg;
	struct epoll_event ev = { .events = EPOLLIN };

	s->ep = epoll_create1(EPOLL_CLOEXEC);
	s->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (s->ep < 0 || s->tfd < 0) {
		int e = errno;
		snprintf(err, errlen, "backend=slirp: epoll/timerfd: %s", strerror(e));
		return -e;
	}
	ev.data.fd = s->tfd;
	if (epoll_ctl(s->ep, EPOLL_CTL_ADD, s->tfd, &ev) < 0) {
		int e = errno;
		snprintf(err, errlen, "backend=slirp: epoll: %s", strerror(e));
		return -e;
	}
	memset(&cfg, 0, sizeof cfg);
	cfg.version = 1;
	cfg.restricted = 0;
	cfg.in_enabled = true;
	inet_pton(AF_INET, "10.0.2.0", &cfg.vnetwork);
	inet_pton(AF_INET, "255.255.255.0", &cfg.vnetmask);
	inet_pton(AF_INET, "10.0.2.2", &cfg.vhost);
	inet_pton(AF_INET, "10.0.2.15", &cfg.vdhcp_start);
	inet_pton(AF_INET, "10.0.2.3", &cfg.vnameserver);
	cfg.in6_enabled = true;
	inet_pton(AF_INET6, "fd00::", &cfg.vprefix_addr6);
	cfg.vprefix_len = 64;
	inet_pton(AF_INET6, "fd00::2", &cfg.vhost6);
	inet_pton(AF_INET6, "fd00::3", &cfg.vnameserver6);
	cfg.vhostname = "ringside";
	cfg.disable_host_loopback = false; /* 10.0.2.2 is the host's loopback */
	s->slirp = slirp_new(&cfg, &sl_callbacks, s);
	if (!s->slirp) {
		snprintf(err, errlen, "backend=slirp: slirp_new failed");
		return -ENOMEM;
	}
	if (s->fwd.set && slirp_add_hostfwd(s->slirp, s->fwd.udp, s->fwd.haddr, s->fwd.hport,
					    s->fwd.gaddr, s->fwd.gport) < 0) {
		snprintf(err, errlen, "option 'hostfwd': cannot forward %s port %d (in use?)",
			 s->fwd.udp ? "udp" : "tcp", s->fwd.hport);
		return -EADDRINUSE;
	}
	sl_resync(s);
	return 0;
}

/* Undo sl_start (also a partial one). */
static void sl_stop(struct net_slirp *s)
{
	if (s->slirp)
		slirp_cleanup(s->slirp);
	s->slirp = NULL;
	while (s->timers) {
		struct sl_timer *t = s->timers;
		s->timers = t->next;
		free(t);
	}
	if (s->ep >= 0)
		close(s->ep);
	if (s->tfd >= 0)
		close(s->tfd);
	s->ep = s->tfd = -1;
	free(s->reg);
	s->reg = NULL;
	s->nreg = 0;
}

/* Start slirp: epoll set, timer, the stack and the forward. 0 or -errno
 * with err set (and nothing left started). */
static int sl_start(struct net_slirp *s, char *err, size_t errlen)
{
	int r = sl_start_parts(s, err, errlen);

	if (r < 0)
		sl_stop(s);
	return r;
}

/* WIO_SEND: one frame from the guest into slirp. Returns len or -errno. */
static int64_t sl_io(struct world_backend *b, struct world_io *req)
{
	struct net_slirp *s = b->ctx;
	char err[160];
	int r;

	if (req->op != WIO_SEND)
		return -EOPNOTSUPP;
	if (req->len > INT_MAX)
		return -EMSGSIZE;
	if (!s->slirp && (r = sl_start(s, err, sizeof err)) < 0)
		return r;
	slirp_input(s->slirp, req->buf, (int)req->len);
	sl_resync(s);
	return (int64_t)req->len;
}

static int sl_poll_fd(struct world_backend *b)
{
	struct net_slirp *s = b->ctx;

	return s->slirp ? s->ep : -1;
}

/* One slirp poll cycle: sockets, then due timers. */
static void sl_on_readable(struct world_backend *b, struct world *w)
{
	struct net_slirp *s = b->ctx;
	uint64_t ticks;
	int r;

	(void)w;
	if (!s->slirp)
		return;
	/* Clear the timer's expiry; EAGAIN when a socket woke us instead. */
	ssize_t got = read(s->tfd, &ticks, sizeof ticks);
	(void)got;
	sl_fill(s);
	r = poll(s->pfd, s->npfd, 0);
	slirp_pollfds_poll(s->slirp, r < 0, sl_get_revents, s);
	sl_run_timers(s);
	sl_resync(s);
}

static void sl_destroy(struct world_backend *b)
{
	struct net_slirp *s = b->ctx;

	sl_stop(s);
	free(s->pfd);
	free(s);
}

static const struct world_backend_ops sl_ops = {
	.name = "slirp",
	.io = sl_io,
	.poll_fd = sl_poll_fd,
	.on_readable = sl_on_readable,
	.destroy = sl_destroy,
};

/* "ADDR:PORT" with ADDR optional (dflt); false when malformed. */
static bool sl_parse_endpoint(char *s, const char *dflt, struct in_addr *addr, int *port)
{
	char *colon = strrchr(s, ':'), *end;
	long v;

	if (!colon)
		return false;
	*colon = '\0';
	if (inet_pton(AF_INET, s[0] ? s : dflt, addr) != 1)
		return false;
	v = strtol(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end || v < 1 || v > 65535)
		return false;
	*port = (int)v;
	return true;
}

/* "tcp|udp:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT" */
static bool sl_parse_fwd(const char *spec, struct sl_fwd *f)
{
	char buf[128], *dash;

	if (strlen(spec) >= sizeof buf)
		return false;
	snprintf(buf, sizeof buf, "%s", spec);
	if (strncmp(buf, "tcp:", 4) == 0)
		f->udp = false;
	else if (strncmp(buf, "udp:", 4) == 0)
		f->udp = true;
	else
		return false;
	dash = strchr(buf + 4, '-');
	if (!dash)
		return false;
	*dash = '\0';
	if (!sl_parse_endpoint(buf + 4, "127.0.0.1", &f->haddr, &f->hport) ||
	    !sl_parse_endpoint(dash + 1, "10.0.2.15", &f->gaddr, &f->gport))
		return false;
	f->set = true;
	return true;
}

struct world_backend *net_slirp_new(struct world *w, unsigned dev, const char *hostfwd, char *err,
				    size_t errlen)
{
	struct net_slirp *s = calloc(1, sizeof *s);

	if (!s) {
		snprintf(err, errlen, "backend=slirp: out of memory");
		return NULL;
	}
	s->w = w;
	s->ep = s->tfd = -1;
	s->b.ops = &sl_ops;
	s->b.ctx = s;
	s->b.dev = dev;
	snprintf(s->b.name, sizeof s->b.name, "net%u-slirp", dev);
	if (hostfwd && !sl_parse_fwd(hostfwd, &s->fwd)) {
		snprintf(err, errlen, "option 'hostfwd': expected tcp|udp:[HOSTADDR]:HOSTPORT-"
			 "[GUESTADDR]:GUESTPORT, got '%s'", hostfwd);
		sl_destroy(&s->b);
		return NULL;
	}
	if (world_is_live(w) && sl_start(s, err, errlen) < 0) {
		sl_destroy(&s->b);
		return NULL;
	}
	return &s->b;
}

bool net_slirp_available(void)
{
	return true;
}

#else /* !RS_HAVE_SLIRP */

struct world_backend *net_slirp_new(struct world *w, unsigned dev, const char *hostfwd, char *err,
				    size_t errlen)
{
	(void)w;
	(void)dev;
	(void)hostfwd;
	snprintf(err, errlen, "backend=slirp: not available (built without libslirp: install "
		 "libslirp-dev and libglib2.0-dev, then reconfigure)");
	return NULL;
}

bool net_slirp_available(void)
{
	return false;
}

#endif
