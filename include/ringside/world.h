/*
 * ringside — the world: every nondeterministic input of the device stack.
 *
 * Entropy, clocks, backend I/O results and data (disk reads, file sizes),
 * received network frames, console input and host-side events (balloon
 * target, vmmci shutdown/reboot/RTC sync, SCSI media change) all come
 * through here and nowhere else: no device calls getrandom, time, read or
 * recv itself. One interface, several implementations:
 *   live    (engine/world_live.c) OS randomness, real clocks, real backends;
 *   record  the live world plus the input tap: every value handed to a
 *           device is also shown to the tap, which writes it into the trace;
 *   replay  serves the recorded values back (replay/, a later issue);
 *   fuzz    takes them from the fuzz input (harnesses/, a later issue).
 *
 * Devices reach backends only through world_io(), so a backend's answer is
 * an input like any other: recorded, replayed or fuzzed. Outputs to the host
 * (tx frames, console output, disk writes) also go through world_io(), so
 * replay can serve their results without touching real files or sockets.
 *
 * Host events are queued (world_post) by backends and host control code and
 * handed out by world_next_event(); the machine loop delivers each to its
 * device's host_event op. Events carry the target device index.
 */
#ifndef RINGSIDE_WORLD_H
#define RINGSIDE_WORLD_H

#include "ringside/base.h"

struct world;
struct world_backend;

enum world_clock {
	WORLD_CLOCK_REALTIME = 0,  /* wall clock, ns since the Unix epoch (vmmci, RTC) */
	WORLD_CLOCK_MONOTONIC = 1, /* virtual time, ns since machine start (timeouts) */
};

/* Backend operations a device may request. */
enum world_io_op {
	WIO_READ = 0,        /* read len bytes at off into buf */
	WIO_WRITE = 1,       /* write len bytes of buf at off */
	WIO_FLUSH = 2,       /* make writes durable */
	WIO_DISCARD = 3,     /* discard [off, off+len) */
	WIO_WRITE_ZEROES = 4,/* zero [off, off+len) */
	WIO_SIZE = 5,        /* result: backend size in bytes */
	WIO_SEND = 6,        /* packet / stream output (net tx frame, console output) */
};

struct world_io {
	enum world_io_op op;
	unsigned dev;        /* device index in the machine (for the trace) */
	uint64_t off;
	void *buf;           /* data in (WRITE, SEND) or out (READ) */
	size_t len;
};

/* A backend: a disk image, a file, a network or console endpoint. Its io
 * returns bytes transferred (or 0 / the size for FLUSH/DISCARD/SIZE) or a
 * negative errno. */
struct world_backend_ops {
	const char *name;
	int64_t (*io)(struct world_backend *b, struct world_io *req);
	/* Optional: file descriptor to poll for input (live world), -1 none. */
	int (*poll_fd)(struct world_backend *b);
	/* Optional: the fd is readable: read input and world_post() events. */
	void (*on_readable)(struct world_backend *b, struct world *w);
	void (*destroy)(struct world_backend *b);
};

struct world_backend {
	const struct world_backend_ops *ops;
	void *ctx;
	unsigned dev;        /* owning device index */
	char name[32];
};

enum world_event_kind {
	WEV_NONE = 0,
	WEV_NET_RX = 1,          /* data: an Ethernet frame for net device `dev`, queue pair `port` */
	WEV_CONSOLE_IN = 2,      /* data: input bytes for console `dev`, port `port` */
	WEV_CONSOLE_RESIZE = 3,  /* arg: cols << 16 | rows for console port */
	WEV_BALLOON_TARGET = 4,  /* arg: new target in 4 KiB pages */
	WEV_VMMCI = 5,           /* arg: VMMCI command (shutdown 1, reboot 2, sync RTC 3) */
	WEV_SCSI_MEDIA = 6,      /* port: target << 16 | lun; arg: 1 inserted, 0 ejected */
	WEV_SCSI_PARAMS = 7,     /* port: target << 16 | lun; parameters changed */
	WEV_HOST = 8,            /* device-specific host event, arg as the device defines */
};

#define WORLD_EVENT_MAX_DATA 65536

struct world_event {
	enum world_event_kind kind;
	unsigned dev;
	uint32_t port;
	uint64_t arg;
	uint32_t len;               /* bytes in data */
	const uint8_t *data;        /* valid until the next world call */
};

/* What a world implementation provides. */
struct world_ops {
	const char *name;
	/* Fill buf with len bytes of entropy for device dev. 0 or -errno. */
	int (*entropy)(struct world *w, unsigned dev, void *buf, size_t len);
	/* Current time of the given clock, ns. */
	uint64_t (*clock_ns)(struct world *w, enum world_clock c);
	/* Perform (or serve) a backend request. As world_backend_ops.io. */
	int64_t (*io)(struct world *w, struct world_backend *b, struct world_io *req);
	/* Next queued host event: 1 with *ev, 0 when none. */
	int (*next_event)(struct world *w, struct world_event *ev);
	/* Queue a host event (copies data). 0, -ENOSPC (queue full), -EINVAL. */
	int (*post)(struct world *w, const struct world_event *ev);
	void (*destroy)(struct world *w);
	/* True when io() answers every backend request itself and never calls
	 * the backend (replay): devices then need not open their images. */
	bool serves_io;
};

/* Kinds of input shown to the tap, in the order devices consumed them.
 * ev is never NULL: for ENTROPY and CLOCK it is a descriptor event of kind
 * WEV_NONE (ENTROPY: ev->dev the device, ev->arg the bytes asked for;
 * CLOCK: ev->port the clock, ev->arg the ns). io is the request for IO,
 * else NULL. */
enum world_input {
	WIN_ENTROPY = 0,   /* value: 0 or -errno; data: the bytes (none on error) */
	WIN_CLOCK = 1,     /* value: ns; port: the clock */
	WIN_IO = 2,        /* value: result; data: bytes read (READ), else none */
	WIN_EVENT = 3,     /* value: 1; data, len: the event's data */
};

/* Largest entropy request one world_entropy() call serves (-EINVAL above). */
#define WORLD_ENTROPY_MAX (1u << 20)

typedef void (*world_tap_fn)(void *ctx, enum world_input kind, const struct world_event *ev,
			     const struct world_io *io, int64_t value, const void *data,
			     size_t len);

struct world {
	const struct world_ops *ops;
	void *impl;            /* implementation state */
	world_tap_fn tap;
	void *tap_ctx;
};

/*
 * Dispatchers: validate the arguments, call the implementation, then show
 * the result to the tap. Argument errors are the caller's (a device bug),
 * not inputs: they are returned without calling the implementation or the
 * tap. Implementations may rely on these checks.
 *
 * world_entropy: fills buf[0, len). Returns 0, or -errno (the tap sees the
 *   error too; buf is then zero-filled, never left stale). len 0 returns 0
 *   at once. -EINVAL: w or buf NULL, len > WORLD_ENTROPY_MAX.
 * world_clock_ns: ns of clock c; 0 when w is NULL or c is not a clock.
 * world_io: the backend's result: bytes moved (READ, WRITE, SEND: never
 *   above req->len; an implementation claiming more gets -EIO), 0
 *   (FLUSH, DISCARD, WRITE_ZEROES) or the size (SIZE), or -errno.
 *   -EINVAL: w or req NULL, op unknown, buf NULL with len > 0 for
 *   READ/WRITE/SEND, off + len past 2^64. -ENODEV: b NULL.
 * world_next_event: 1 with *ev (data valid until the next world call), 0
 *   when none, -EINVAL (w or ev NULL), -EIO (the implementation produced
 *   a malformed event: dropped, *ev zeroed).
 * world_post: 0, -ENOSPC (queue full), -EINVAL (w or ev NULL, kind not an
 *   event kind, len > WORLD_EVENT_MAX_DATA, data NULL with len > 0), or the
 *   implementation's -errno. Posting is not an input; only delivery
 *   (world_next_event) is shown to the tap.
 * world_set_tap: install (tap NULL: remove) the tap; w NULL is ignored.
 * world_destroy: the implementation frees everything; NULL is fine.
 */
int world_entropy(struct world *w, unsigned dev, void *buf, size_t len);
uint64_t world_clock_ns(struct world *w, enum world_clock c);
int64_t world_io(struct world *w, struct world_backend *b, struct world_io *req);
int world_next_event(struct world *w, struct world_event *ev);
int world_post(struct world *w, const struct world_event *ev);
void world_set_tap(struct world *w, world_tap_fn tap, void *ctx);
void world_destroy(struct world *w);

/* Live world limits: queued events, bytes of queued event data, watched
 * backends. */
#define WORLD_LIVE_QUEUE_MAX 1024
#define WORLD_LIVE_QUEUE_BYTES (8u << 20)
#define WORLD_LIVE_WATCH_MAX 64

/*
 * The live world: getrandom(2) entropy, clock_gettime clocks (monotonic
 * relative to creation), backend io performed for real, a bounded FIFO
 * event queue (WORLD_LIVE_QUEUE_MAX events, WORLD_LIVE_QUEUE_BYTES of data;
 * post copies the data; full: -ENOSPC). The record mode is this world with
 * a tap. Returns NULL on allocation failure.
 */
struct world *world_live_new(void);

/* True when w is a live world (world_live_new). */
bool world_is_live(const struct world *w);

/* True when w answers backend I/O itself without touching backends (a
 * replay world, ops->serves_io): a device may then skip opening its image
 * files and use a stand-in that only names them. False for NULL. */
bool world_serves_io(const struct world *w);

/*
 * Live world: wait up to timeout_ms (-1: no limit) for input on the watched
 * backends' poll fds and run the on_readable callback of each that is
 * readable (or hung up), which posts events. No thread, no signal: input
 * is only taken when the caller polls. Returns the number of backends that
 * had input (0 on timeout, or at once when no watched backend has an fd),
 * or -errno (-EINVAL: not a live world; poll(2)'s error, e.g. -EINTR).
 */
int world_live_poll(struct world *w, int timeout_ms);
/* Register a backend for world_live_poll. 0 (also when already watched),
 * -EINVAL (not a live world, b NULL, b without ops, poll_fd or
 * on_readable), -ENOSPC (WORLD_LIVE_WATCH_MAX reached). */
int world_live_watch(struct world *w, struct world_backend *b);
/* Forget a backend (no-op when not watched). Safe from on_readable. */
void world_live_unwatch(struct world *w, struct world_backend *b);

#endif
