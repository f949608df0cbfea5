/*
 * ringside — SCSI commands every logical unit of the virtio SCSI host
 * answers (SPC-4), the command dispatcher and the sense data helpers.
 *
 * One initiator (the virtio driver) talks to every logical unit, so the
 * per-I_T-nexus state SPC describes (pending sense data, unit attention
 * conditions) lives in the unit itself. Sense data is fixed format (response
 * code 70h, 18 bytes); REQUEST SENSE with DESC=1 returns descriptor format
 * (72h).
 *
 * Dispatch order (SPC-4 unit attention, SAM-5 incorrect logical unit selection):
 *   1. a well-known LU or a LUN with no unit is answered here;
 *   2. sense data kept from the last CHECK CONDITION is dropped unless the
 *      command is REQUEST SENSE;
 *   3. a pending unit attention ends any command but INQUIRY, REPORT LUNS,
 *      REQUEST SENSE (and, on CD-ROM units, GET CONFIGURATION and GET EVENT
 *      STATUS NOTIFICATION: MMC-5 4.1.6.1) with CHECK CONDITION / UNIT
 *      ATTENTION, one condition per command;
 *   4. unknown opcode: ILLEGAL REQUEST / INVALID COMMAND OPERATION CODE;
 *      a CDB longer than the cdb_size the driver set, or NACA set in its
 *      CONTROL byte: ILLEGAL REQUEST / INVALID FIELD IN CDB;
 *   5. a command that needs a medium without one: NOT READY / MEDIUM NOT
 *      PRESENT;
 *   6. the command.
 */
#include <string.h>

#include "scsi.h"

#define SCSI_VENDOR "RINGSIDE"
#define SCSI_REVISION "0.1 "
#define SCSI_INQUIRY_LEN 36

/* ---- sense data ------------------------------------------------------------------------ */

void scsi_fixed_sense(uint8_t *buf, uint8_t key, uint16_t asc)
{
	memset(buf, 0, SCSI_SENSE_LEN);
	buf[0] = 0x70;                    /* current error, fixed format */
	buf[2] = key & 0xf;
	buf[7] = SCSI_SENSE_LEN - 8;      /* additional sense length */
	buf[12] = (uint8_t)(asc >> 8);
	buf[13] = (uint8_t)asc;
}

void scsi_check(struct scsi_cmd *c, uint8_t key, uint16_t asc)
{
	c->status = SCSI_CHECK_CONDITION;
	scsi_fixed_sense(c->sense, key, asc);
	c->sense_len = SCSI_SENSE_LEN;
}

void scsi_check_info(struct scsi_cmd *c, uint8_t key, uint16_t asc, uint64_t info)
{
	scsi_check(c, key, asc);
	if (info > UINT32_MAX)
		return;                   /* does not fit: VALID stays 0 (SPC-4 4.5.3) */
	c->sense[0] |= 0x80;              /* VALID: the INFORMATION field is meaningful */
	scsi_st32(c->sense + 3, (uint32_t)info);
}

void scsi_bad_field(struct scsi_cmd *c, unsigned byte)
{
	scsi_check(c, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);
	c->sense[15] = 0xc0;
	scsi_st16(c->sense + 16, (uint16_t)byte);
}

void scsi_fail(struct scsi_cmd *c, uint8_t response)
{
	c->response = response;
	c->status = SCSI_GOOD;
	c->sense_len = 0;
}

bool scsi_put(struct scsi_cmd *c, const void *buf, size_t len)
{
	size_t n = vq_cursor_write(&c->in, buf, len);

	c->in_done += (uint32_t)n;
	if (n != len) {
		/* The arena refused part of a buffer vq_pop() had checked (an
		 * MMIO hole): a host-side transfer failure. */
		scsi_fail(c, VIRTIO_SCSI_S_FAILURE);
		return false;
	}
	return true;
}

void scsi_datain(struct scsi_cmd *c, const void *buf, size_t len, uint32_t alloc)
{
	/* virtio-v1.2 5.6.6.1.1: an allocation length asking for more than
	 * the datain buffer holds is VIRTIO_SCSI_S_OVERRUN. */
	if (alloc > c->in_len) {
		scsi_fail(c, VIRTIO_SCSI_S_OVERRUN);
		return;
	}
	scsi_put(c, buf, RS_MIN(len, (size_t)alloc));
}

/* ---- unit attention ------------------------------------------------------------------- */

void scsi_ua_set(struct scsi_unit *u, uint32_t bits)
{
	u->ua |= bits;
}

/* asc/ascq of the highest-priority pending unit attention (u->ua != 0), and
 * clear it. */
static uint16_t scsi_ua_take(struct scsi_unit *u)
{
	uint32_t bit = u->ua & -u->ua;
	uint16_t asc;

	u->ua &= ~bit;
	switch (bit) {
	case SCSI_UA_POWER_ON: asc = ASC_POWER_ON_RESET; break;
	case SCSI_UA_LU_RESET: asc = ASC_BUS_DEVICE_RESET; break;
	case SCSI_UA_NEXUS_LOSS: asc = ASC_I_T_NEXUS_LOSS; break;
	case SCSI_UA_NO_MEDIUM: asc = ASC_MEDIUM_NOT_PRESENT; break;
	case SCSI_UA_MEDIUM: asc = ASC_MEDIUM_MAY_HAVE_CHANGED; break;
	case SCSI_UA_PARAMS: asc = u->ua_param; break;
	default: asc = ASC_REPORTED_LUNS_CHANGED; break;
	}
	return asc;
}

/* asc/ascq of NOT READY for a unit without a usable medium. */
static uint16_t scsi_not_ready_asc(const struct scsi_unit *u)
{
	if (u->type != SCSI_UNIT_CD)
		return ASC_MEDIUM_NOT_PRESENT;
	return u->tray_open ? ASC_MEDIUM_NOT_PRESENT_TRAY_OPEN
			    : ASC_MEDIUM_NOT_PRESENT_TRAY_CLOSED;
}

bool scsi_medium_ready(struct scsi_cmd *c)
{
	if (c->u->medium && c->u->nblocks)
		return true;
	scsi_check(c, SK_NOT_READY, scsi_not_ready_asc(c->u));
	return false;
}

/* ---- INQUIRY --------------------------------------------------------------------------- */

/* Copy s into dst padded with blanks to n bytes (SPC-4 ASCII fields). */
static void scsi_pad(uint8_t *dst, const char *s, size_t n)
{
	size_t l = strlen(s);

	memset(dst, ' ', n);
	memcpy(dst, s, RS_MIN(l, n));
}

static const char *scsi_product(const struct scsi_cmd *c)
{
	if (c->wlun)
		return "WELL-KNOWN LUN";
	if (!c->u)
		return "NO LOGICAL UNIT";
	return c->u->type == SCSI_UNIT_CD ? "VIRTUAL CD-ROM" : "VIRTUAL DISK";
}

/* Peripheral qualifier and device type (INQUIRY and VPD byte 0). */
static uint8_t scsi_pdt(const struct scsi_cmd *c)
{
	if (c->wlun)
		return SCSI_TYPE_WLUN;
	if (!c->u)
		return SCSI_TYPE_NO_LUN;
	return c->u->type == SCSI_UNIT_CD ? SCSI_TYPE_ROM : SCSI_TYPE_DISK;
}

/* Standard INQUIRY data (SPC-4 6.4.2). */
static void inquiry_standard(struct scsi_cmd *c, uint32_t alloc)
{
	uint8_t b[SCSI_INQUIRY_LEN];

	memset(b, 0, sizeof b);
	b[0] = scsi_pdt(c);
	b[1] = c->u && c->u->type == SCSI_UNIT_CD ? 0x80 : 0; /* RMB */
	b[2] = 0x05;                   /* VERSION: SPC-3 */
	b[3] = 0x12;                   /* HISUP, RESPONSE DATA FORMAT 2 */
	b[4] = SCSI_INQUIRY_LEN - 5;   /* ADDITIONAL LENGTH */
	b[7] = 0x02;                   /* CMDQUE */
	scsi_pad(b + 8, SCSI_VENDOR, 8);
	scsi_pad(b + 16, scsi_product(c), 16);
	scsi_pad(b + 32, SCSI_REVISION, 4);
	scsi_datain(c, b, sizeof b, alloc);
}

/* Vital product data pages (SPC-4 7.8): 00h supported pages, 80h unit
 * serial number, 83h device identification. */
static void inquiry_vpd(struct scsi_cmd *c, uint8_t page, uint32_t alloc)
{
	const struct scsi_unit *u = c->u;
	uint8_t b[128];
	size_t n = 4, sl = strlen(u->serial);

	memset(b, 0, sizeof b);
	b[0] = scsi_pdt(c);
	b[1] = page;
	switch (page) {
	case 0x00:
		b[n++] = 0x00;
		b[n++] = 0x80;
		b[n++] = 0x83;
		break;
	case 0x80:
		memcpy(b + n, u->serial, sl);
		n += sl;
		break;
	case 0x83: {
		/* T10 vendor ID based designator: vendor, product, serial. */
		b[n] = 0x02;                 /* code set: ASCII */
		b[n + 1] = 0x01;             /* association: LU; type: T10 vendor ID */
		b[n + 3] = (uint8_t)(8 + 16 + sl);
		scsi_pad(b + n + 4, SCSI_VENDOR, 8);
		scsi_pad(b + n + 12, scsi_product(c), 16);
		memcpy(b + n + 28, u->serial, sl);
		n += 4 + 8 + 16 + sl;
		/* NAA locally assigned (3h): machine device index, target, LUN. */
		b[n] = 0x01;                 /* code set: binary */
		b[n + 1] = 0x03;             /* association: LU; type: NAA */
		b[n + 3] = 8;
		scsi_st64(b + n + 4, 3ull << 60 | (uint64_t)(c->d->index & 0xffff) << 32 |
					     (uint64_t)u->target << 16 | u->lun);
		n += 12;
		break;
	}
	default:
		scsi_bad_field(c, 2);
		return;
	}
	scsi_st16(b + 2, (uint16_t)(n - 4));
	scsi_datain(c, b, n, alloc);
}

static void spc_inquiry(struct scsi_cmd *c)
{
	uint8_t evpd = c->cdb[1] & 0x01, page = c->cdb[2];
	uint32_t alloc = scsi_be16(c->cdb + 3);

	if (c->cdb[1] & 0x02) {            /* CMDDT: obsolete, not supported */
		scsi_bad_field(c, 1);
		return;
	}
	if (!evpd) {
		if (page)
			scsi_bad_field(c, 2);
		else
			inquiry_standard(c, alloc);
		return;
	}
	if (c->wlun) {
		scsi_bad_field(c, 1);
		return;
	}
	if (!c->u) {
		scsi_check(c, SK_ILLEGAL_REQUEST, ASC_LUN_NOT_SUPPORTED);
		return;
	}
	inquiry_vpd(c, page, alloc);
}

/* ---- REQUEST SENSE ---------------------------------------------------------------------- */

/* Return fixed sense data fx (18 bytes) as the parameter data of REQUEST
 * SENSE, converted to descriptor format when the CDB asks (DESC bit). */
static void request_sense_reply(struct scsi_cmd *c, const uint8_t *fx)
{
	uint32_t alloc = c->cdb[4];
	uint8_t b[20];

	if (!(c->cdb[1] & 0x01)) {
		scsi_datain(c, fx, SCSI_SENSE_LEN, alloc);
		return;
	}
	/* Descriptor format (SPC-4 4.5.2): key, asc, ascq; the INFORMATION
	 * field, when valid, as an information descriptor (type 00h). */
	memset(b, 0, sizeof b);
	b[0] = 0x72;
	b[1] = fx[2] & 0xf;
	b[2] = fx[12];
	b[3] = fx[13];
	if (fx[0] & 0x80) {
		b[7] = 12;
		b[8] = 0x00;
		b[9] = 0x0a;
		b[10] = 0x80;
		memcpy(b + 16, fx + 3, 4);
		scsi_datain(c, b, 20, alloc);
		return;
	}
	scsi_datain(c, b, 8, alloc);
}

static void spc_request_sense(struct scsi_cmd *c)
{
	struct scsi_unit *u = c->u;
	uint8_t fx[SCSI_SENSE_LEN];

	if (c->wlun) {
		scsi_fixed_sense(fx, SK_NO_SENSE, ASC_NONE);
	} else if (!u) {
		/* Incorrect logical unit selection: sense data, GOOD. */
		scsi_fixed_sense(fx, SK_ILLEGAL_REQUEST, ASC_LUN_NOT_SUPPORTED);
	} else if (u->sense_len) {
		memcpy(fx, u->sense, SCSI_SENSE_LEN);
	} else if (u->ua) {
		scsi_fixed_sense(fx, SK_UNIT_ATTENTION, scsi_ua_take(u));
	} else if (!u->medium || !u->nblocks) {
		scsi_fixed_sense(fx, SK_NOT_READY, scsi_not_ready_asc(u));
	} else {
		scsi_fixed_sense(fx, SK_NO_SENSE, ASC_NONE);
	}
	if (u)
		u->sense_len = 0;
	request_sense_reply(c, fx);
}

/* ---- REPORT LUNS ------------------------------------------------------------------------ */

/* Append one 8-byte LUN to the list in b (room for SCSI_MAX_UNITS + 1). */
static void lun_put(uint8_t *b, size_t *n, const uint8_t *lun)
{
	memcpy(b + *n, lun, 8);
	*n += 8;
}

/* Single-level LUN structure (SAM-5): peripheral addressing below 256,
 * flat space addressing above. */
static void lun_single(uint8_t *l, uint16_t lun)
{
	memset(l, 0, 8);
	if (lun < 256) {
		l[1] = (uint8_t)lun;
	} else {
		l[0] = (uint8_t)(0x40 | lun >> 8);
		l[1] = (uint8_t)lun;
	}
}

/* REPORT LUNS (SPC-4). Addressed to a target (any of its LUNs, or its REPORT LUNS
 * well-known LU): that target's logical units. Addressed to the domain's
 * REPORT LUNS well-known LU: every logical unit, as the 8-byte virtio lun
 * field that addresses it (01h, target, single-level LUN, zeroes). */
static void spc_report_luns(struct scsi_cmd *c)
{
	static const uint8_t wlun[8] = { 0xc1, 0x01 };
	uint8_t sel = c->cdb[2], l[8];
	uint32_t alloc = scsi_be32(c->cdb + 6);
	uint8_t b[8 + 8 * (SCSI_MAX_UNITS + 1)];
	size_t n = 8;

	if (sel > 2) {
		scsi_bad_field(c, 2);
		return;
	}
	if (alloc < 16) {                    /* SPC-3: at least 16 bytes */
		scsi_bad_field(c, 6);
		return;
	}
	memset(b, 0, sizeof b);
	for (unsigned i = 0; sel != 1 && i < c->s->nunits; i++) {
		const struct scsi_unit *u = &c->s->units[i];

		if (!u->present || (!c->domain_wlun && u->target != c->target))
			continue;
		lun_single(l, u->lun);
		if (c->domain_wlun) {
			memmove(l + 2, l, 2);
			l[0] = 1;
			l[1] = u->target;
		}
		lun_put(b, &n, l);
	}
	if (sel != 0)
		lun_put(b, &n, wlun);
	scsi_st32(b, (uint32_t)(n - 8));
	scsi_datain(c, b, n, alloc);
	if (c->u && c->status == SCSI_GOOD)
		c->u->ua &= ~SCSI_UA_LUNS_CHANGED;  /* reported: cleared */
}

/* ---- MODE SENSE ------------------------------------------------------------------------- */

static void spc_mode_sense(struct scsi_cmd *c)
{
	const struct scsi_unit *u = c->u;
	bool ten = c->cdb[0] == SCSI_MODE_SENSE_10;
	bool dbd = c->cdb[1] & 0x08, llbaa = ten && (c->cdb[1] & 0x10);
	uint8_t pc = c->cdb[2] >> 6, page = c->cdb[2] & 0x3f, sub = c->cdb[3];
	uint32_t alloc = ten ? scsi_be16(c->cdb + 7) : c->cdb[4];
	size_t hdr = ten ? 8 : 4, n = hdr, bdl = 0;
	uint8_t b[512];
	bool disk = u->type == SCSI_UNIT_DISK, found;

	if (pc == 3) {
		scsi_check(c, SK_ILLEGAL_REQUEST, ASC_SAVING_PARAMS_UNSUP);
		return;
	}
	if (sub != 0 && !(page == 0x3f && sub == 0xff)) {
		scsi_bad_field(c, 3);
		return;
	}
	memset(b, 0, sizeof b);
	/* Block descriptor: disks only (MMC-5: CD/DVD drives have none). */
	if (disk && !dbd && u->medium) {
		if (llbaa) {
			scsi_st64(b + n, u->nblocks);
			scsi_st32(b + n + 12, u->block_size);
			bdl = 16;
		} else {
			scsi_st24(b + n + 1, (uint32_t)RS_MIN(u->nblocks, 0xffffffull));
			scsi_st24(b + n + 5, u->block_size);
			bdl = 8;
		}
		n += bdl;
	}
	found = disk ? sbc_mode_page(u, page, pc, b, &n) : mmc_mode_page(u, page, pc, b, &n);
	if (!found) {
		scsi_bad_field(c, 2);
		return;
	}
	if (ten) {
		scsi_st16(b, (uint16_t)(n - 2));
		b[3] = disk && u->ro ? 0x80 : 0;      /* device-specific: WP */
		b[4] = bdl == 16 ? 0x01 : 0;         /* LONGLBA */
		scsi_st16(b + 6, (uint16_t)bdl);
	} else {
		b[0] = (uint8_t)(n - 1);
		b[2] = disk && u->ro ? 0x80 : 0;
		b[3] = (uint8_t)bdl;
	}
	scsi_datain(c, b, n, alloc);
}

/* ---- the small ones --------------------------------------------------------------------- */

/* TEST UNIT READY: the medium check (SCSI_OP_MEDIUM) is all it does. */
static void spc_test_unit_ready(struct scsi_cmd *c)
{
}

/* PREVENT ALLOW MEDIUM REMOVAL (SPC-4 / MMC-5): bit 0 of the
 * PREVENT field; persistent prevention is treated as plain prevention. */
static void spc_prevent_allow(struct scsi_cmd *c)
{
	if (c->u->type == SCSI_UNIT_CD)
		c->u->prevent = c->cdb[4] & 0x01;
}

/* START STOP UNIT (SBC-3 / MMC-5): LOEJ loads (START=1) or
 * ejects (START=0) a CD-ROM medium; the eject honours PREVENT. Power
 * conditions and disks: nothing to do. */
static void spc_start_stop(struct scsi_cmd *c)
{
	struct scsi_unit *u = c->u;
	bool start = c->cdb[4] & 0x01, loej = c->cdb[4] & 0x02;

	if ((c->cdb[4] >> 4) || !loej || u->type != SCSI_UNIT_CD)
		return;
	if (!mmc_load(c->d, u, start, false))
		scsi_check(c, u->medium ? SK_ILLEGAL_REQUEST : SK_NOT_READY,
			   ASC_MEDIUM_REMOVAL_PREVENTED);
}

static const struct scsi_op spc_ops[] = {
	{ SCSI_TEST_UNIT_READY, SCSI_OP_MEDIUM, spc_test_unit_ready },
	{ SCSI_REQUEST_SENSE, SCSI_OP_UA_OK, spc_request_sense },
	{ SCSI_INQUIRY, SCSI_OP_UA_OK, spc_inquiry },
	{ SCSI_MODE_SENSE_6, 0, spc_mode_sense },
	{ SCSI_START_STOP_UNIT, 0, spc_start_stop },
	{ SCSI_PREVENT_ALLOW, 0, spc_prevent_allow },
	{ SCSI_MODE_SENSE_10, 0, spc_mode_sense },
	{ SCSI_REPORT_LUNS, SCSI_OP_UA_OK, spc_report_luns },
};

static const struct scsi_op *spc_find(uint8_t opcode)
{
	for (unsigned i = 0; i < RS_ARRAY_SIZE(spc_ops); i++)
		if (spc_ops[i].opcode == opcode)
			return &spc_ops[i];
	return NULL;
}

/* ---- dispatch --------------------------------------------------------------------------- */

/* CDB length from the operation code's group (SPC-4 operation code groups); 0 for the
 * groups whose length the opcode does not tell (never in our tables). */
static unsigned scsi_cdb_len(uint8_t opcode)
{
	static const uint8_t len[8] = { 6, 10, 10, 0, 16, 12, 0, 0 };

	return len[opcode >> 5];
}

/* A well-known LU (SPC-4: the REPORT LUNS W-LUN): INQUIRY, REQUEST SENSE,
 * REPORT LUNS and TEST UNIT READY. */
static void wlun_execute(struct scsi_cmd *c)
{
	switch (c->cdb[0]) {
	case SCSI_INQUIRY: spc_inquiry(c); break;
	case SCSI_REQUEST_SENSE: spc_request_sense(c); break;
	case SCSI_REPORT_LUNS: spc_report_luns(c); break;
	case SCSI_TEST_UNIT_READY: break;
	default: scsi_check(c, SK_ILLEGAL_REQUEST, ASC_INVALID_OPCODE); break;
	}
}

/* A LUN without a unit on an existing target (SAM-5 / SPC-4 incorrect
 * logical unit selection): INQUIRY answers qualifier 011b, REPORT LUNS and
 * REQUEST SENSE work, anything else is ILLEGAL REQUEST / LOGICAL UNIT NOT
 * SUPPORTED. */
static void nolun_execute(struct scsi_cmd *c)
{
	switch (c->cdb[0]) {
	case SCSI_INQUIRY: spc_inquiry(c); break;
	case SCSI_REQUEST_SENSE: spc_request_sense(c); break;
	case SCSI_REPORT_LUNS: spc_report_luns(c); break;
	default: scsi_check(c, SK_ILLEGAL_REQUEST, ASC_LUN_NOT_SUPPORTED); break;
	}
}

void spc_execute(struct scsi_cmd *c)
{
	struct scsi_unit *u = c->u;
	uint8_t opcode = c->cdb[0];
	const struct scsi_op *op;
	unsigned len;

	c->status = SCSI_GOOD;
	c->response = VIRTIO_SCSI_S_OK;
	if (c->wlun) {
		wlun_execute(c);
		return;
	}
	if (!u) {
		nolun_execute(c);
		return;
	}
	if (opcode != SCSI_REQUEST_SENSE)
		u->sense_len = 0;
	op = u->type == SCSI_UNIT_DISK ? sbc_find(opcode) : mmc_find(opcode);
	if (!op)
		op = spc_find(opcode);
	if (u->ua && !(op && (op->flags & SCSI_OP_UA_OK))) {
		scsi_check(c, SK_UNIT_ATTENTION, scsi_ua_take(u));
		goto out;
	}
	if (!op) {
		scsi_check(c, SK_ILLEGAL_REQUEST, ASC_INVALID_OPCODE);
		goto out;
	}
	len = scsi_cdb_len(opcode);
	if (len == 0 || len > c->cdb_len) {
		scsi_bad_field(c, c->cdb_len);
		goto out;
	}
	if (c->cdb[len - 1] & 0x04) {        /* NACA: no ACA support (NormACA is 0) */
		scsi_bad_field(c, len - 1);
		goto out;
	}
	if ((op->flags & SCSI_OP_MEDIUM) && !scsi_medium_ready(c))
		goto out;
	op->exec(c);
out:
	/* Keep the sense data of a CHECK CONDITION for REQUEST SENSE. */
	if (c->response == VIRTIO_SCSI_S_OK && c->status == SCSI_CHECK_CONDITION) {
		memcpy(u->sense, c->sense, SCSI_SENSE_LEN);
		u->sense_len = SCSI_SENSE_LEN;
	}
}
