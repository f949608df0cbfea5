/*
 * ringside — virtio console ("console", virtio-v1.2 5.3): private API of the
 * model and its backends, for host code and tests.
 *
 * The model (console.c) reaches its backends only through world_io() and
 * learns about input only through host events (WEV_CONSOLE_IN,
 * WEV_CONSOLE_RESIZE, WEV_HOST); the backends (backend_*.c) do the real
 * I/O. A backend is a struct world_backend whose ctx is private to its file.
 */
#ifndef RINGSIDE_DEVICES_CONSOLE_H
#define RINGSIDE_DEVICES_CONSOLE_H

#include "ringside/vdev.h"
#include "ringside/world.h"

/* Feature bits, virtio-v1.2 5.3.3 */
#define VIRTIO_CONSOLE_F_SIZE 0
#define VIRTIO_CONSOLE_F_MULTIPORT 1
#define VIRTIO_CONSOLE_F_EMERG_WRITE 2

/* struct virtio_console_config, virtio-v1.2 5.3.4 */
#define CONSOLE_CFG_COLS 0          /* le16 */
#define CONSOLE_CFG_ROWS 2          /* le16 */
#define CONSOLE_CFG_MAX_NR_PORTS 4  /* le32 */
#define CONSOLE_CFG_EMERG_WR 8      /* le32, write-only in effect */
#define CONSOLE_CFG_SIZE 12

/* struct virtio_console_control {le32 id; le16 event; le16 value},
 * virtio-v1.2 5.3.6.2, and its events */
#define CONSOLE_CTRL_HDR 8
#define VIRTIO_CONSOLE_DEVICE_READY 0
#define VIRTIO_CONSOLE_DEVICE_ADD 1
#define VIRTIO_CONSOLE_DEVICE_REMOVE 2
#define VIRTIO_CONSOLE_PORT_READY 3
#define VIRTIO_CONSOLE_CONSOLE_PORT 4
#define VIRTIO_CONSOLE_RESIZE 5     /* followed by le16 cols, le16 rows */
#define VIRTIO_CONSOLE_PORT_OPEN 6
#define VIRTIO_CONSOLE_PORT_NAME 7  /* followed by the name, no NUL */

/* Limits of the model. */
#define CONSOLE_MAX_PORTS 16
#define CONSOLE_QUEUE_MAX 256
#define CONSOLE_NAME_MAX 103           /* bytes of a port name (an option value) */
#define CONSOLE_INPUT_MAX (64u << 10)  /* input buffered per port before rx buffers */
#define CONSOLE_TX_MAX (64u << 10)     /* bytes of one transmit buffer sent out */
#define CONSOLE_CTRL_PENDING 128       /* control messages waiting for rx buffers */
#define CONSOLE_MEM_CAP (1u << 20)     /* bytes a mem backend keeps */

/* Queue numbers, virtio-v1.2 5.3.2: port 0 rx/tx 0/1, control rx/tx 2/3,
 * port p >= 1 rx/tx 2p+2 / 2p+3. */
#define CONSOLE_CTRL_RXQ 2
#define CONSOLE_CTRL_TXQ 3
static inline unsigned console_rxq(unsigned port)
{
	return port == 0 ? 0 : 2 * port + 2;
}

/* WEV_HOST for a console port: arg 1 the host side opened the port,
 * arg 0 it closed it (a PORT_OPEN control message with MULTIPORT). */
#define CONSOLE_HOST_CLOSED 0
#define CONSOLE_HOST_OPEN 1

extern const struct vdev_ops console_ops;

/* Per-port counters. */
struct console_port_stats {
	uint64_t in_bytes;      /* input bytes handed to the driver */
	uint64_t in_dropped;    /* input bytes dropped: buffer full (CONSOLE_INPUT_MAX) */
	uint32_t in_buffered;   /* input bytes waiting for rx buffers now */
	uint64_t out_bytes;     /* output bytes the backend took */
	uint64_t out_dropped;   /* output bytes it refused or that were over CONSOLE_TX_MAX */
	bool added;             /* DEVICE_ADD sent (MULTIPORT) */
	bool ready;             /* the driver sent PORT_READY 1 */
	bool guest_open;        /* the driver sent PORT_OPEN 1 */
	bool host_open;         /* the host side is open */
};

/* Backend of port on a console device, or NULL (not a console, no such port). */
struct world_backend *console_port_backend(struct vdev *d, unsigned port);
/* Counters of port. Returns 0, or -EINVAL (not a console, no such port). */
int console_port_stats(struct vdev *d, unsigned port, struct console_port_stats *out);
/* Control messages dropped because CONSOLE_CTRL_PENDING were already waiting
 * (0 when d is not a console). */
uint64_t console_ctrl_dropped(struct vdev *d);

/*
 * Backends. Each returns 0 with *out, or -errno with one line in err.
 * dev is the device index (world events), port the console port.
 */

/* Memory: output is captured (the most recent cap bytes; 0 means
 * CONSOLE_MEM_CAP), input is injected with console_mem_inject(). */
int console_mem_new(unsigned dev, unsigned port, size_t cap, struct world_backend **out,
		    char *err, size_t errlen);
/* stdio: output written to out_fd, input read from in_fd (polled by the
 * live world). A terminal on in_fd is put in raw mode (signals and output
 * processing kept) and restored when the backend is destroyed. */
int console_stdio_new(unsigned dev, unsigned port, int in_fd, int out_fd,
		      struct world_backend **out, char *err, size_t errlen);
/* pty: a new pseudo-terminal (posix_openpt) in raw mode; its path is
 * printed to stderr (unless quiet) and returned by console_pty_path(). */
int console_pty_new(unsigned dev, unsigned port, bool quiet, struct world_backend **out,
		    char *err, size_t errlen);

/* Destroy any console backend (NULL is fine). */
void console_backend_free(struct world_backend *b);

/* Post len bytes (<= WORLD_EVENT_MAX_DATA) of host input for port of the
 * console whose backend is b, as a WEV_CONSOLE_IN event: what every
 * backend's input path does. Returns world_post's result. */
int console_post_input(struct world *w, const struct world_backend *b, unsigned port,
		       const void *data, size_t len);

extern const struct world_backend_ops console_mem_backend_ops;
extern const struct world_backend_ops console_stdio_backend_ops;
extern const struct world_backend_ops console_pty_backend_ops;

/* mem backend API. Every call on a backend that is not a mem backend
 * returns 0 / NULL / -EINVAL and does nothing. */
/* Captured output: pointer and length (*len), valid until the next output
 * or read. */
const uint8_t *console_mem_data(const struct world_backend *b, size_t *len);
/* Move up to cap captured bytes into buf (oldest first) and forget them.
 * Returns the count. */
size_t console_mem_read(struct world_backend *b, void *buf, size_t cap);
/* Forget captured output. */
void console_mem_clear(struct world_backend *b);
/* Output bytes that fell off the front of the capture (over cap). */
uint64_t console_mem_overflow(const struct world_backend *b);
/* Make output fail with err (negative errno) from now on, 0 to stop
 * (fault injection for tests). */
void console_mem_fail(struct world_backend *b, int err);
/* Input for the guest: world_post(WEV_CONSOLE_IN) for this backend's device
 * and port. Returns world_post's result (-EINVAL: not a mem backend). */
int console_mem_inject(struct world_backend *b, struct world *w, const void *data, size_t len);

/* pty backend: the slave's path ("/dev/pts/N"), or NULL for another backend. */
const char *console_pty_path(const struct world_backend *b);

#endif
