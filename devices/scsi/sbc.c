/*
 * ringside — disk logical units of the virtio SCSI host (SBC-3 subset):
 * READ(6/10/12/16), WRITE(6/10/12/16), READ CAPACITY(10/16), SYNCHRONIZE
 * CACHE(10/16) and the disk mode pages. The block commands CD-ROM units
 * share (reads, capacity) live here too.
 *
 * Block data moves between the guest's buffers and the image through a
 * bounce buffer, SCSI_BOUNCE bytes per world_io() call, so a request of any
 * size costs bounded memory. LBA arithmetic cannot overflow: an LBA is
 * checked against the capacity before it is multiplied, and a capacity
 * times the block size is at most the image size (below 2^63).
 */
#include <errno.h>
#include <string.h>

#include "scsi.h"

/* ---- block helpers ---------------------------------------------------------------------- */

int scsi_unit_refresh(struct vdev *d, struct scsi_unit *u)
{
	struct world_io io = { .op = WIO_SIZE, .dev = d->index };
	int64_t r;

	u->nblocks = 0;
	if (!u->be)
		return -ENODEV;
	r = world_io(d->world, u->be, &io);
	if (r < 0) {
		diag_report(&d->log, DIAG_BACKEND_ERROR, "%s: image size: error %lld", u->key,
			    (long long)r);
		return (int)r;
	}
	u->nblocks = (uint64_t)r / u->block_size;
	return 0;
}

/* LBA and block count of a READ or WRITE CDB. Returns false (CHECK
 * CONDITION set) when RDPROTECT/WRPROTECT asks for protection information. */
static bool sbc_rw_decode(struct scsi_cmd *c, uint64_t *lba, uint32_t *n)
{
	const uint8_t *cdb = c->cdb;

	switch (cdb[0]) {
	case SCSI_READ_6:
	case SCSI_WRITE_6:
		*lba = scsi_be24(cdb + 1) & 0x1fffff;
		*n = cdb[4] ? cdb[4] : 256;   /* READ(6): 0 means 256 blocks */
		return true;
	case SCSI_READ_10:
	case SCSI_WRITE_10:
		*lba = scsi_be32(cdb + 2);
		*n = scsi_be16(cdb + 7);
		break;
	case SCSI_READ_12:
	case SCSI_WRITE_12:
		*lba = scsi_be32(cdb + 2);
		*n = scsi_be32(cdb + 6);
		break;
	default:
		*lba = scsi_be64(cdb + 2);
		*n = scsi_be32(cdb + 10);
		break;
	}
	if (cdb[1] >> 5) {                    /* no protection information */
		scsi_bad_field(c, 1);
		return false;
	}
	return true;
}

/* True when [lba, lba + n) lies on the medium (computed without overflow);
 * else LOGICAL BLOCK ADDRESS OUT OF RANGE. */
static bool sbc_range(struct scsi_cmd *c, uint64_t lba, uint64_t n)
{
	if (lba <= c->u->nblocks && n <= c->u->nblocks - lba)
		return true;
	scsi_check(c, SK_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE);
	return false;
}

/* ---- READ / WRITE ----------------------------------------------------------------------- */

void sbc_read(struct scsi_cmd *c)
{
	struct scsi_unit *u = c->u;
	uint8_t *bounce = c->s->bounce;
	uint64_t lba, bytes, off;
	uint32_t n;

	if (!sbc_rw_decode(c, &lba, &n) || !sbc_range(c, lba, n))
		return;
	bytes = (uint64_t)n * u->block_size;
	if (bytes > c->in_len) {
		scsi_fail(c, VIRTIO_SCSI_S_OVERRUN);  /* virtio-v1.2 5.6.6.1.1 */
		return;
	}
	off = lba * u->block_size;
	/* Bounded: bytes <= in_len < 2^32, at least one chunk per pass. */
	while (bytes) {
		size_t chunk = (size_t)RS_MIN(bytes, (uint64_t)SCSI_BOUNCE);
		struct world_io io = {
			.op = WIO_READ, .dev = c->d->index, .off = off, .buf = bounce, .len = chunk,
		};
		int64_t r = world_io(c->d->world, u->be, &io);

		if (r != (int64_t)chunk) {
			diag_report(&c->d->log, DIAG_BACKEND_ERROR,
				    "%s: read of %zu bytes at %llu: result %lld", u->key, chunk,
				    (unsigned long long)off, (long long)r);
			scsi_check_info(c, SK_MEDIUM_ERROR, ASC_UNRECOVERED_READ_ERROR,
					off / u->block_size);
			return;
		}
		if (!scsi_put(c, bounce, chunk))
			return;
		off += chunk;
		bytes -= chunk;
	}
}

static void sbc_write(struct scsi_cmd *c)
{
	struct scsi_unit *u = c->u;
	uint8_t *bounce = c->s->bounce;
	uint64_t lba, bytes, off;
	uint32_t n;

	if (!sbc_rw_decode(c, &lba, &n))
		return;
	if (u->ro) {
		scsi_check(c, SK_DATA_PROTECT, ASC_WRITE_PROTECTED);
		return;
	}
	if (!sbc_range(c, lba, n))
		return;
	bytes = (uint64_t)n * u->block_size;
	if (bytes > c->out_len) {
		scsi_fail(c, VIRTIO_SCSI_S_OVERRUN);
		return;
	}
	off = lba * u->block_size;
	while (bytes) {
		size_t chunk = (size_t)RS_MIN(bytes, (uint64_t)SCSI_BOUNCE);
		size_t got = vq_cursor_read(&c->out, bounce, chunk);
		struct world_io io = {
			.op = WIO_WRITE, .dev = c->d->index, .off = off, .buf = bounce, .len = chunk,
		};
		int64_t r;

		c->out_done += (uint32_t)got;
		if (got != chunk) {
			scsi_fail(c, VIRTIO_SCSI_S_FAILURE);
			return;
		}
		r = world_io(c->d->world, u->be, &io);
		if (r != (int64_t)chunk) {
			diag_report(&c->d->log, DIAG_BACKEND_ERROR,
				    "%s: write of %zu bytes at %llu: result %lld", u->key, chunk,
				    (unsigned long long)off, (long long)r);
			scsi_check_info(c, SK_MEDIUM_ERROR, ASC_WRITE_ERROR, off / u->block_size);
			return;
		}
		off += chunk;
		bytes -= chunk;
	}
}

/* SYNCHRONIZE CACHE(10/16) (SBC-3): the range is checked (0 blocks:
 * to the end of the medium), then the whole image is flushed. */
static void sbc_sync_cache(struct scsi_cmd *c)
{
	struct scsi_unit *u = c->u;
	struct world_io io = { .op = WIO_FLUSH, .dev = c->d->index };
	bool ten = c->cdb[0] == SCSI_SYNCHRONIZE_CACHE_10;
	uint64_t lba = ten ? scsi_be32(c->cdb + 2) : scsi_be64(c->cdb + 2);
	uint32_t n = ten ? scsi_be16(c->cdb + 7) : scsi_be32(c->cdb + 10);
	int64_t r;

	if (!sbc_range(c, lba, n))
		return;
	r = world_io(c->d->world, u->be, &io);
	if (r < 0) {
		diag_report(&c->d->log, DIAG_BACKEND_ERROR, "%s: flush: error %lld", u->key,
			    (long long)r);
		scsi_check(c, SK_MEDIUM_ERROR, ASC_WRITE_ERROR);
	}
}

/* ---- capacity --------------------------------------------------------------------------- */

void sbc_read_capacity_10(struct scsi_cmd *c)
{
	uint64_t last = c->u->nblocks - 1;  /* nblocks >= 1: SCSI_OP_MEDIUM checked */
	uint8_t b[8];

	/* SBC-3 READ CAPACITY(10): with PMI 0 the LBA field must be 0. */
	if (!(c->cdb[8] & 0x01) && scsi_be32(c->cdb + 2)) {
		scsi_bad_field(c, 2);
		return;
	}
	scsi_st32(b, (uint32_t)RS_MIN(last, (uint64_t)UINT32_MAX)); /* FFFFFFFFh: use (16) */
	scsi_st32(b + 4, c->u->block_size);
	scsi_datain(c, b, sizeof b, sizeof b);
}

/* SERVICE ACTION IN(16): READ CAPACITY(16) only (SBC-3). */
void sbc_service_action_in(struct scsi_cmd *c)
{
	uint8_t b[32];

	if ((c->cdb[1] & 0x1f) != SCSI_SAI_READ_CAPACITY_16) {
		scsi_bad_field(c, 1);
		return;
	}
	memset(b, 0, sizeof b);
	scsi_st64(b, c->u->nblocks - 1);
	scsi_st32(b + 8, c->u->block_size);
	/* P_TYPE/PROT_EN 0, one logical block per physical block, LBPME 0 */
	scsi_datain(c, b, sizeof b, scsi_be32(c->cdb + 10));
}

/* ---- mode pages ------------------------------------------------------------------------- */

/* Append page code with body (len bytes) to b at *n. Page control 1
 * (changeable values) shows no bit as changeable: there is no MODE SELECT. */
static void mode_page_put(uint8_t *b, size_t *n, uint8_t code, const uint8_t *body, uint8_t len,
			  uint8_t pc)
{
	b[*n] = code;
	b[*n + 1] = len;
	if (pc != 1)
		memcpy(b + *n + 2, body, len);
	*n += 2u + len;
}

bool sbc_mode_page(const struct scsi_unit *u, uint8_t page, uint8_t pc, uint8_t *b, size_t *n)
{
	static const uint8_t rw_error[10] = { 0x80 };               /* AWRE */
	static const uint8_t caching[18] = { 0x04 };                /* WCE */
	static const uint8_t control[10] = { 0x00, 0x10 };          /* QUEUE ALGORITHM MODIFIER 1 */
	bool all = page == 0x3f;

	if (!all && page != 0x01 && page != 0x08 && page != 0x0a)
		return false;
	if (all || page == 0x01)
		mode_page_put(b, n, 0x01, rw_error, sizeof rw_error, pc);
	if (all || page == 0x08)
		mode_page_put(b, n, 0x08, caching, sizeof caching, pc);
	if (all || page == 0x0a)
		mode_page_put(b, n, 0x0a, control, sizeof control, pc);
	return true;
}

/* ---- table ------------------------------------------------------------------------------ */

static const struct scsi_op sbc_ops[] = {
	{ SCSI_READ_6, SCSI_OP_MEDIUM, sbc_read },
	{ SCSI_WRITE_6, SCSI_OP_MEDIUM, sbc_write },
	{ SCSI_READ_CAPACITY_10, SCSI_OP_MEDIUM, sbc_read_capacity_10 },
	{ SCSI_READ_10, SCSI_OP_MEDIUM, sbc_read },
	{ SCSI_WRITE_10, SCSI_OP_MEDIUM, sbc_write },
	{ SCSI_SYNCHRONIZE_CACHE_10, SCSI_OP_MEDIUM, sbc_sync_cache },
	{ SCSI_READ_16, SCSI_OP_MEDIUM, sbc_read },
	{ SCSI_WRITE_16, SCSI_OP_MEDIUM, sbc_write },
	{ SCSI_SYNCHRONIZE_CACHE_16, SCSI_OP_MEDIUM, sbc_sync_cache },
	{ SCSI_SERVICE_ACTION_IN_16, SCSI_OP_MEDIUM, sbc_service_action_in },
	{ SCSI_READ_12, SCSI_OP_MEDIUM, sbc_read },
	{ SCSI_WRITE_12, SCSI_OP_MEDIUM, sbc_write },
};

const struct scsi_op *sbc_find(uint8_t opcode)
{
	for (unsigned i = 0; i < RS_ARRAY_SIZE(sbc_ops); i++)
		if (sbc_ops[i].opcode == opcode)
			return &sbc_ops[i];
	return NULL;
}
