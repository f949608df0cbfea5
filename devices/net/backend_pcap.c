/*
 * ringside — net capture backend "pcap": every frame the device shows it
 * (transmitted and received) is appended to a file in the classic libpcap
 * format, which tcpdump, tshark and wireshark read.
 *
 * File layout (little-endian, as written by a little-endian libpcap):
 *   global header, 24 bytes: magic 0xa1b2c3d4 (microsecond stamps), version
 *     2.4, thiszone 0, sigfigs 0, snaplen NET_PCAP_SNAPLEN, linktype 1
 *     (LINKTYPE_ETHERNET);
 *   per frame, 16 bytes: ts_sec, ts_usec, incl_len, orig_len; then
 *     incl_len bytes of the frame.
 * The time stamp comes from the device in req->off (ns since the epoch,
 * from the world's wall clock), so this backend reads no clock itself.
 *
 * In a live world (or without one) the file is created, or truncated, when
 * the device is created, so a bad path is an error of the machine spec. In
 * any other world (replay, fuzz) it is created at the first frame: a world
 * that serves backend results itself never calls this backend and so never
 * overwrites the capture of the recorded run.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net.h"

#define PCAP_MAGIC 0xa1b2c3d4u
#define PCAP_GLOBAL_LEN 24
#define PCAP_RECORD_LEN 16
#define PCAP_LINKTYPE_ETHERNET 1

struct net_pcap {
	struct world_backend b;
	int fd;                 /* -1 until opened */
	char path[256];
	uint8_t *rec;           /* record header + frame, written with one write() */
};

/* Write all of buf; 0 or -errno. */
static int pcap_write_all(int fd, const uint8_t *buf, size_t len)
{
	while (len) {
		ssize_t r = write(fd, buf, len);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return -EIO;
		buf += r;
		len -= (size_t)r;
	}
	return 0;
}

/* Create (truncate) the file and write the global header. 0 or -errno. */
static int pcap_open(struct net_pcap *p)
{
	uint8_t g[PCAP_GLOBAL_LEN];
	int r;

	p->fd = open(p->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (p->fd < 0)
		return -errno;
	rs_st32(g, PCAP_MAGIC);
	rs_st16(g + 4, 2);  /* version major */
	rs_st16(g + 6, 4);  /* version minor */
	rs_st32(g + 8, 0);  /* thiszone: stamps are UTC */
	rs_st32(g + 12, 0); /* sigfigs */
	rs_st32(g + 16, NET_PCAP_SNAPLEN);
	rs_st32(g + 20, PCAP_LINKTYPE_ETHERNET);
	r = pcap_write_all(p->fd, g, sizeof g);
	if (r < 0) {
		close(p->fd);
		p->fd = -1;
	}
	return r;
}

/* WIO_SEND: append one record stamped req->off ns. Returns req->len or
 * -errno. WIO_FLUSH: fdatasync. Other ops: -EOPNOTSUPP. */
static int64_t pcap_io(struct world_backend *b, struct world_io *req)
{
	struct net_pcap *p = b->ctx;
	uint32_t incl;
	int r;

	if (req->op == WIO_FLUSH)
		return p->fd < 0 || fdatasync(p->fd) == 0 ? 0 : -errno;
	if (req->op != WIO_SEND)
		return -EOPNOTSUPP;
	if (p->fd < 0 && (r = pcap_open(p)) < 0)
		return r;
	incl = (uint32_t)RS_MIN(req->len, (size_t)NET_PCAP_SNAPLEN);
	rs_st32(p->rec, (uint32_t)(req->off / 1000000000u));
	rs_st32(p->rec + 4, (uint32_t)(req->off % 1000000000u / 1000u));
	rs_st32(p->rec + 8, incl);
	rs_st32(p->rec + 12, req->len > UINT32_MAX ? UINT32_MAX : (uint32_t)req->len);
	memcpy(p->rec + PCAP_RECORD_LEN, req->buf, incl);
	r = pcap_write_all(p->fd, p->rec, PCAP_RECORD_LEN + (size_t)incl);
	return r < 0 ? r : (int64_t)req->len;
}

static void pcap_destroy(struct world_backend *b)
{
	struct net_pcap *p = b->ctx;

	if (p->fd >= 0)
		close(p->fd);
	free(p->rec);
	free(p);
}

static const struct world_backend_ops pcap_ops = {
	.name = "pcap",
	.io = pcap_io,
	.destroy = pcap_destroy,
};

struct world_backend *net_pcap_new(const char *path, unsigned dev, bool open_now, char *err,
				   size_t errlen)
{
	struct net_pcap *p;
	int r;

	if (!path[0] || strlen(path) >= sizeof p->path) {
		snprintf(err, errlen, "option 'pcap': path empty or longer than %zu characters",
			 sizeof p->path - 1);
		return NULL;
	}
	p = calloc(1, sizeof *p);
	if (!p || !(p->rec = malloc(PCAP_RECORD_LEN + NET_PCAP_SNAPLEN))) {
		free(p);
		snprintf(err, errlen, "option 'pcap': out of memory");
		return NULL;
	}
	p->fd = -1;
	snprintf(p->path, sizeof p->path, "%s", path);
	if (open_now && (r = pcap_open(p)) < 0) {
		snprintf(err, errlen, "option 'pcap': cannot create %s: %s", path, strerror(-r));
		free(p->rec);
		free(p);
		return NULL;
	}
	p->b.ops = &pcap_ops;
	p->b.ctx = p;
	p->b.dev = dev;
	snprintf(p->b.name, sizeof p->b.name, "net%u-pcap", dev);
	return &p->b;
}
