/*
 * ringside — CD-ROM logical units of the virtio SCSI host (an MMC-5
 * subset, the one OpenBSD vmd's vioscsi and QEMU's scsi-cd show guests):
 * a read-only drive of 2048-byte blocks holding one data track, with a
 * tray, media events and the CD-ROM profile.
 *
 * Commands: READ(6/10/12/16) and READ CAPACITY(10/16) (shared with disks,
 * sbc.c), READ TOC formats 0 and 1, GET CONFIGURATION, GET EVENT STATUS
 * NOTIFICATION (polled, media class), MECHANISM STATUS, SYNCHRONIZE CACHE
 * (nothing to flush), and WRITE(6/10/12/16): DATA PROTECT / WRITE
 * PROTECTED. Media state changes come from START STOP UNIT (the guest) and
 * WEV_SCSI_MEDIA host events (the world), both through mmc_load().
 */
#include <string.h>

#include "scsi.h"

#define MMC_PROFILE_NONE 0x0000
#define MMC_PROFILE_CD_ROM 0x0008
#define MMC_GESN_MEDIA 4              /* media notification class */
#define MMC_SPEED_8X (8 * 176)        /* kB/s */

/* ---- media state ------------------------------------------------------------------------ */

bool mmc_load(struct vdev *d, struct scsi_unit *u, bool load, bool host)
{
	bool changed = false;

	if (!load) {
		if (u->prevent) {
			/* The eject button of a locked drive only asks (MMC-5 media
			 * event EjectRequest); START STOP UNIT fails instead. */
			if (!host)
				return false;
			u->media_event = MEC_EJECT_REQUEST;
			changed = true;
		} else {
			if (u->medium) {
				u->media_event = MEC_MEDIA_REMOVAL;
				changed = true;
				if (host)
					scsi_ua_set(u, SCSI_UA_NO_MEDIUM);
			}
			u->medium = false;
			u->nblocks = 0;
			u->tray_open = true;
		}
	} else if (host || !u->medium) {
		/* A host insert (re)loads the image, so a replaced file is seen
		 * with its new capacity; the guest closing the tray loads what
		 * is there. An empty drive has nothing to load. */
		u->tray_open = false;
		u->medium = false;
		if (u->be && scsi_unit_refresh(d, u) == 0 && u->nblocks) {
			u->medium = true;
			u->media_event = MEC_NEW_MEDIA;
			changed = true;
			if (host)
				scsi_ua_set(u, SCSI_UA_MEDIUM);
		}
	}
	/* virtio-v1.2 5.6.6.3: asynchronous notification of a subscribed
	 * media class event. */
	if (changed && (u->an_events & VIRTIO_SCSI_EVT_ASYNC_MEDIA_CHANGE))
		scsi_event(d, VIRTIO_SCSI_T_ASYNC_NOTIFY, u, VIRTIO_SCSI_EVT_ASYNC_MEDIA_CHANGE);
	return !(u->prevent && !load);
}

/* ---- READ TOC --------------------------------------------------------------------------- */

/* Address of lba as 4 bytes: LBA, or MSF (0, M, S, F with LBA 0 at
 * 00:02:00, 75 frames a second; clipped at FF:59:74). */
static void mmc_addr(uint8_t *p, uint64_t lba, bool msf)
{
	uint64_t f = lba + 150;

	if (!msf) {
		scsi_st32(p, (uint32_t)RS_MIN(lba, (uint64_t)UINT32_MAX));
		return;
	}
	p[0] = 0;
	if (f / (75 * 60) > 0xff) {
		p[1] = 0xff;
		p[2] = 59;
		p[3] = 74;
		return;
	}
	p[1] = (uint8_t)(f / (75 * 60));
	p[2] = (uint8_t)(f / 75 % 60);
	p[3] = (uint8_t)(f % 75);
}

/* One TOC track descriptor: data track (ADR 1, CONTROL 4). */
static void mmc_track(uint8_t *p, uint8_t track, uint64_t lba, bool msf)
{
	p[1] = 0x14;
	p[2] = track;
	mmc_addr(p + 4, lba, msf);
}

/* READ TOC/PMA/ATIP (MMC-5): format 0 (TOC: track 1 and the lead-out
 * AAh) and format 1 (session information: one session). */
static void mmc_read_toc(struct scsi_cmd *c)
{
	bool msf = c->cdb[1] & 0x02;
	uint8_t format = c->cdb[2] & 0x0f, track = c->cdb[6];
	uint32_t alloc = scsi_be16(c->cdb + 7);
	uint8_t b[20];
	size_t n = 4;

	/* SFF-8020 drivers put the format in CONTROL bits 7-6. */
	if (format == 0 && (c->cdb[9] >> 6))
		format = c->cdb[9] >> 6;
	memset(b, 0, sizeof b);
	b[2] = 1;                          /* first track / first session */
	b[3] = 1;                          /* last track / last session */
	switch (format) {
	case 0:
		if (track > 1 && track != 0xaa) {
			scsi_bad_field(c, 6);
			return;
		}
		if (track <= 1) {
			mmc_track(b + n, 1, 0, msf);
			n += 8;
		}
		mmc_track(b + n, 0xaa, c->u->nblocks, msf);
		n += 8;
		break;
	case 1:
		mmc_track(b + n, 1, 0, msf);  /* first track of the last session */
		n += 8;
		break;
	default:
		scsi_bad_field(c, 2);
		return;
	}
	scsi_st16(b, (uint16_t)(n - 2));
	scsi_datain(c, b, n, alloc);
}

/* ---- GET CONFIGURATION ------------------------------------------------------------------ */

static const uint16_t mmc_features[] = { 0x0000, 0x0001, 0x0003, 0x0010, 0x001e };

/* Feature descriptor `code` (MMC-5, Features) into p; returns its length and
 * whether it is current. */
static size_t mmc_feature(const struct scsi_unit *u, uint16_t code, uint8_t *p, bool *current)
{
	bool media = u->medium && u->nblocks;

	scsi_st16(p, code);
	switch (code) {
	case 0x0000:                       /* Profile List: CD-ROM */
		*current = true;
		p[2] = 0x03;               /* persistent, current */
		p[3] = 4;
		scsi_st16(p + 4, MMC_PROFILE_CD_ROM);
		p[6] = media;              /* CurrentP */
		return 8;
	case 0x0001:                       /* Core */
		*current = true;
		p[2] = 2 << 2 | 0x03;      /* version 2, persistent, current */
		p[3] = 8;
		scsi_st32(p + 4, 1);       /* physical interface: SCSI family */
		p[8] = 0x01;               /* DBE */
		return 12;
	case 0x0003:                       /* Removable Medium */
		*current = true;
		p[2] = 2 << 2 | 0x03;
		p[3] = 4;
		p[4] = 0x39;               /* tray, Load, Eject, Lock */
		return 8;
	case 0x0010:                       /* Random Readable */
		*current = media;
		p[2] = media;
		p[3] = 8;
		scsi_st32(p + 4, SCSI_CD_BLOCK);
		scsi_st16(p + 8, 1);       /* blocking */
		return 12;
	default:                           /* 001Eh CD Read */
		*current = media;
		p[2] = 2 << 2 | media;
		p[3] = 4;
		return 8;
	}
}

/* GET CONFIGURATION (MMC-5): RT 0 all features from the starting
 * feature number, 1 the current ones, 2 that one feature. Runs without a
 * medium and under unit attention (MMC-5 4.1.6.1). */
static void mmc_get_configuration(struct scsi_cmd *c)
{
	uint8_t rt = c->cdb[1] & 0x03;
	uint16_t sfn = scsi_be16(c->cdb + 2);
	uint32_t alloc = scsi_be16(c->cdb + 7);
	uint8_t b[64];
	size_t n = 8;

	if (rt == 3) {
		scsi_bad_field(c, 1);
		return;
	}
	memset(b, 0, sizeof b);
	for (unsigned i = 0; i < RS_ARRAY_SIZE(mmc_features); i++) {
		uint16_t code = mmc_features[i];
		bool current;
		size_t len;

		if (code < sfn || (rt == 2 && code != sfn))
			continue;
		len = mmc_feature(c->u, code, b + n, &current);
		if (rt == 1 && !current) {
			memset(b + n, 0, len);
			continue;
		}
		n += len;
	}
	scsi_st32(b, (uint32_t)(n - 4));
	scsi_st16(b + 6, c->u->medium && c->u->nblocks ? MMC_PROFILE_CD_ROM : MMC_PROFILE_NONE);
	scsi_datain(c, b, n, alloc);
}

/* ---- GET EVENT STATUS NOTIFICATION, MECHANISM STATUS ------------------------------------ */

/* GET EVENT STATUS NOTIFICATION (MMC-5), polled only: the media class is the one supported. A pending
 * media event is reported once, when its descriptor was transferred. */
static void mmc_event_status(struct scsi_cmd *c)
{
	struct scsi_unit *u = c->u;
	uint8_t classes = c->cdb[4], b[8];
	uint32_t alloc = scsi_be16(c->cdb + 7);
	size_t n = 4;

	if (!(c->cdb[1] & 0x01)) {         /* asynchronous mode is not supported */
		scsi_bad_field(c, 1);
		return;
	}
	memset(b, 0, sizeof b);
	b[3] = 1 << MMC_GESN_MEDIA;        /* supported event classes */
	if (classes & (1 << MMC_GESN_MEDIA)) {
		b[2] = MMC_GESN_MEDIA;
		b[4] = u->media_event;
		b[5] = (u->tray_open ? 0x01 : 0) | (u->medium ? 0x02 : 0);
		n = 8;
	} else {
		b[2] = 0x80;               /* NEA: no requested class is supported */
	}
	scsi_st16(b, (uint16_t)(n - 4));   /* event data after the header */
	scsi_datain(c, b, n, alloc);
	if (n == 8 && alloc >= 8 && c->response == VIRTIO_SCSI_S_OK)
		u->media_event = MEC_NO_CHANGE;
}

/* MECHANISM STATUS (MMC-5): not a changer; door (tray) state only. */
static void mmc_mechanism_status(struct scsi_cmd *c)
{
	uint8_t b[8];

	memset(b, 0, sizeof b);
	b[1] = c->u->tray_open ? 0x10 : 0;
	scsi_datain(c, b, sizeof b, scsi_be16(c->cdb + 8));
}

/* ---- writes, cache ---------------------------------------------------------------------- */

static void mmc_write(struct scsi_cmd *c)
{
	scsi_check(c, SK_DATA_PROTECT, ASC_WRITE_PROTECTED);
}

static void mmc_sync_cache(struct scsi_cmd *c)
{
}

/* ---- mode pages ------------------------------------------------------------------------- */

bool mmc_mode_page(const struct scsi_unit *u, uint8_t page, uint8_t pc, uint8_t *b, size_t *n)
{
	static const uint8_t rw_error[10] = { 0x00, 0x20 };        /* read retry count */
	uint8_t caps[20];
	bool all = page == 0x3f;

	if (!all && page != 0x01 && page != 0x2a)
		return false;
	if (all || page == 0x01) {
		b[*n] = 0x01;
		b[*n + 1] = sizeof rw_error;
		if (pc != 1)
			memcpy(b + *n + 2, rw_error, sizeof rw_error);
		*n += 2 + sizeof rw_error;
	}
	if (all || page == 0x2a) {
		/* CD capabilities and mechanical status (MMC-3 mode page 2Ah) */
		memset(caps, 0, sizeof caps);
		caps[0] = 0x03;                            /* reads CD-R, CD-RW */
		caps[4] = 0x20 | 0x08 | 0x01 | (u->prevent ? 0x02 : 0); /* tray, eject, lock */
		scsi_st16(caps + 6, MMC_SPEED_8X);         /* maximum read speed */
		scsi_st16(caps + 12, MMC_SPEED_8X);        /* current read speed */
		b[*n] = 0x2a;
		b[*n + 1] = sizeof caps;
		if (pc != 1)
			memcpy(b + *n + 2, caps, sizeof caps);
		*n += 2 + sizeof caps;
	}
	return true;
}

/* ---- table ------------------------------------------------------------------------------ */

static const struct scsi_op mmc_ops[] = {
	{ SCSI_READ_6, SCSI_OP_MEDIUM, sbc_read },
	{ SCSI_WRITE_6, SCSI_OP_MEDIUM, mmc_write },
	{ SCSI_READ_CAPACITY_10, SCSI_OP_MEDIUM, sbc_read_capacity_10 },
	{ SCSI_READ_10, SCSI_OP_MEDIUM, sbc_read },
	{ SCSI_WRITE_10, SCSI_OP_MEDIUM, mmc_write },
	{ SCSI_SYNCHRONIZE_CACHE_10, SCSI_OP_MEDIUM, mmc_sync_cache },
	{ SCSI_READ_TOC, SCSI_OP_MEDIUM, mmc_read_toc },
	{ SCSI_GET_CONFIGURATION, SCSI_OP_UA_OK, mmc_get_configuration },
	{ SCSI_GET_EVENT_STATUS, SCSI_OP_UA_OK, mmc_event_status },
	{ SCSI_READ_16, SCSI_OP_MEDIUM, sbc_read },
	{ SCSI_WRITE_16, SCSI_OP_MEDIUM, mmc_write },
	{ SCSI_SYNCHRONIZE_CACHE_16, SCSI_OP_MEDIUM, mmc_sync_cache },
	{ SCSI_SERVICE_ACTION_IN_16, SCSI_OP_MEDIUM, sbc_service_action_in },
	{ SCSI_READ_12, SCSI_OP_MEDIUM, sbc_read },
	{ SCSI_WRITE_12, SCSI_OP_MEDIUM, mmc_write },
	{ SCSI_MECHANISM_STATUS, 0, mmc_mechanism_status },
};

const struct scsi_op *mmc_find(uint8_t opcode)
{
	for (unsigned i = 0; i < RS_ARRAY_SIZE(mmc_ops); i++)
		if (mmc_ops[i].opcode == opcode)
			return &mmc_ops[i];
	return NULL;
}
