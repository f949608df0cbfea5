/*
 * ringside — blk "file" backend: a raw disk image file (see ringside/blk.h).
 *
 * READ/WRITE are pread/pwrite loops (EINTR retried, a short transfer at end
 * of file is -EIO); FLUSH is fdatasync; DISCARD punches a hole and
 * WRITE_ZEROES zeroes a range with fallocate, both falling back to writing
 * zeroes where the file system cannot; SIZE is the file size. A read-only
 * backend opens the file O_RDONLY and refuses every modification with
 * -EROFS (the device turns that into VIRTIO_BLK_S_IOERR, but it never gets
 * that far: it offers VIRTIO_BLK_F_RO and checks first).
 *
 * Only ever invoked through world_io().
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ringside/blk.h"
#include "blk.h"

struct blk_file {
	struct world_backend be;
	int fd;
	bool ro;
};

#define FILE_ZERO_CHUNK 65536

static const uint8_t file_zeroes[FILE_ZERO_CHUNK];

/* pread/pwrite all of [off, off+len). Returns len or -errno (-EIO on end of
 * file). Bounded: every pass moves at least one byte or fails. */
static int64_t file_rw(struct blk_file *f, bool write, uint64_t off, uint8_t *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		size_t n = RS_MIN(len - done, (size_t)1 << 30);
		ssize_t r = write ? pwrite(f->fd, buf + done, n, (off_t)(off + done))
				  : pread(f->fd, buf + done, n, (off_t)(off + done));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -EIO; /* the file ends before the range does */
		done += (size_t)r;
	}
	return (int64_t)done;
}

/* Zero [off, off+len) by writing zeroes. Returns 0 or -errno. */
static int64_t file_write_zeroes(struct blk_file *f, uint64_t off, uint64_t len)
{
	uint64_t done = 0;

	while (done < len) {
		size_t n = (size_t)RS_MIN(len - done, (uint64_t)FILE_ZERO_CHUNK);
		int64_t r = file_rw(f, true, off + done, (uint8_t *)file_zeroes, n);

		if (r < 0)
			return r;
		done += n;
	}
	return 0;
}

/* fallocate(mode) over the range, else zeroes written. Returns 0 or -errno. */
static int64_t file_zero_range(struct blk_file *f, int mode, uint64_t off, uint64_t len)
{
	if (len == 0)
		return 0;
#ifdef FALLOC_FL_KEEP_SIZE
	if (fallocate(f->fd, mode | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) == 0)
		return 0;
	if (errno != EOPNOTSUPP && errno != ENOSYS && errno != EINVAL)
		return -errno;
#else
	(void)mode;
#endif
	return file_write_zeroes(f, off, len);
}

static int64_t file_io(struct world_backend *b, struct world_io *req)
{
	struct blk_file *f = b->ctx;

	if (req->op == WIO_SIZE) {
		/* the size of a regular file and of a block device alike */
		off_t end = lseek(f->fd, 0, SEEK_END);

		return end < 0 ? -errno : (int64_t)end;
	}
	if (req->op == WIO_FLUSH) {
		if (f->ro)
			return 0; /* nothing of ours to make durable */
		return fdatasync(f->fd) < 0 ? -errno : 0;
	}
	if (req->op != WIO_READ && req->op != WIO_WRITE && req->op != WIO_DISCARD &&
	    req->op != WIO_WRITE_ZEROES)
		return -EOPNOTSUPP;
	/* off_t is signed: the whole range must stay below 2^63. */
	if (!rs_range_within(req->off, req->len, 0, (uint64_t)INT64_MAX))
		return -EINVAL;
	if (req->op != WIO_READ && f->ro)
		return -EROFS;
	switch (req->op) {
	case WIO_READ:
	case WIO_WRITE:
		/* world_io() guarantees buf for len > 0 */
		return file_rw(f, req->op == WIO_WRITE, req->off, req->buf, req->len);
	case WIO_DISCARD:
#ifdef FALLOC_FL_PUNCH_HOLE
		return file_zero_range(f, FALLOC_FL_PUNCH_HOLE, req->off, req->len);
#else
		return file_zero_range(f, 0, req->off, req->len);
#endif
	default:
#ifdef FALLOC_FL_ZERO_RANGE
		return file_zero_range(f, FALLOC_FL_ZERO_RANGE, req->off, req->len);
#else
		return file_write_zeroes(f, req->off, req->len);
#endif
	}
}

static void file_destroy(struct world_backend *b)
{
	struct blk_file *f = b->ctx;

	close(f->fd);
	free(f);
}

const struct world_backend_ops blk_file_ops = {
	.name = "blk-file",
	.io = file_io,
	.destroy = file_destroy,
};

int blk_file_new(const char *path, bool ro, struct world_backend **out, char *err,
		 size_t errlen)
{
	struct blk_file *f;
	struct stat st;
	int fd, r;

	*out = NULL;
	fd = open(path, (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		if (err && errlen)
			snprintf(err, errlen, "blk: file=%s: %s%s", path, strerror(-r),
				 r == -EACCES || r == -EROFS ? " (add ro for read-only use)" : "");
		return r;
	}
	if (fstat(fd, &st) < 0 || (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))) {
		close(fd);
		if (err && errlen)
			snprintf(err, errlen, "blk: file=%s: not a regular file or block device",
				 path);
		return -EINVAL;
	}
	f = calloc(1, sizeof *f);
	if (!f) {
		close(fd);
		if (err && errlen)
			snprintf(err, errlen, "blk: out of memory");
		return -ENOMEM;
	}
	f->fd = fd;
	f->ro = ro;
	f->be.ops = &blk_file_ops;
	f->be.ctx = f;
	snprintf(f->be.name, sizeof f->be.name, "file");
	*out = &f->be;
	return 0;
}

/* --- stand-in for a world that is not live --------------------------------------------- */

static int64_t proxy_io(struct world_backend *b, struct world_io *req)
{
	return -ENXIO; /* the world serves requests; one reaching here has no image */
}

static void proxy_destroy(struct world_backend *b)
{
	free(b);
}

static const struct world_backend_ops blk_proxy_ops = {
	.name = "blk-proxy",
	.io = proxy_io,
	.destroy = proxy_destroy,
};

int blk_proxy_new(const char *path, struct world_backend **out, char *err, size_t errlen)
{
	struct world_backend *b = calloc(1, sizeof(*b));

	*out = NULL;
	if (!b) {
		if (err && errlen)
			snprintf(err, errlen, "blk: out of memory");
		return -ENOMEM;
	}
	b->ops = &blk_proxy_ops;
	b->ctx = b;
	snprintf(b->name, sizeof b->name, "proxy");
	(void)path;
	*out = b;
	return 0;
}
