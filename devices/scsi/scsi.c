/*
 * ringside — "scsi", the virtio SCSI host device (virtio-v1.2 5.6).
 *
 * Device ID 8. Queues: controlq (0), eventq (1), request queues (2...,
 * option queues=N). Features offered: HOTPLUG and CHANGE (INOUT and T10_PI
 * are not). Logical units are disks (512-byte blocks: in memory, a raw
 * image file, read-only, or copy-on-write over a file) and CD-ROM drives
 * (2048-byte blocks, an ISO image, read-only, or empty), on targets 0..255
 * with LUNs 0..16383. Images are blk's backends (ringside/blk.h), reached
 * only through world_io(). docs/devices/scsi.md lists the options, config
 * fields and behaviour on malformed requests.
 *
 * This file is the virtio side: options and config space, request framing
 * (header, CDB of cdb_size bytes, dataout / response, sense of sense_size
 * bytes, datain), LUN addressing, task management and asynchronous
 * notification on the controlq, events on the eventq, host events from the
 * world. The SCSI command set lives in spc.c, sbc.c and mmc.c.
 *
 * Every command completes before queue_notify returns, so no task is ever
 * in flight when a TMF arrives or the device resets. Nothing the driver
 * writes into a buffer is trusted: every length is checked against the
 * chain, malformed framing is answered with the best response that fits
 * (VIRTIO_SCSI_S_FAILURE) and the device goes on serving.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringside/blk.h"
#include "ringside/vdev.h"
#include "../devices.h"
#include "scsi.h"

#define SCSI_DEFAULT_DISK_SIZE (8ull << 20)

/* ---- config space ----------------------------------------------------------------------- */

static const struct vdev_cfg_field scsi_cfg_fields[] = {
	{ VIRTIO_SCSI_CFG_NUM_QUEUES, 4, 0 },
	{ VIRTIO_SCSI_CFG_SEG_MAX, 4, 0 },
	{ VIRTIO_SCSI_CFG_MAX_SECTORS, 4, 0 },
	{ VIRTIO_SCSI_CFG_CMD_PER_LUN, 4, 0 },
	{ VIRTIO_SCSI_CFG_EVENT_INFO_SIZE, 4, 0 },
	{ VIRTIO_SCSI_CFG_SENSE_SIZE, 4, 1 },
	{ VIRTIO_SCSI_CFG_CDB_SIZE, 4, 1 },
	{ VIRTIO_SCSI_CFG_MAX_CHANNEL, 2, 0 },
	{ VIRTIO_SCSI_CFG_MAX_TARGET, 2, 0 },
	{ VIRTIO_SCSI_CFG_MAX_LUN, 4, 0 },
};

/* Fill d->config from the device state (create and reset). */
static void scsi_fill_config(struct vdev *d)
{
	struct scsi *s = d->priv;
	uint8_t *cfg = d->config;
	unsigned max_target = 0, max_lun = 0;

	for (unsigned i = 0; i < s->nunits; i++) {
		max_target = RS_MAX(max_target, (unsigned)s->units[i].target);
		max_lun = RS_MAX(max_lun, (unsigned)s->units[i].lun);
	}
	rs_st32(cfg + VIRTIO_SCSI_CFG_NUM_QUEUES, d->nqueues - VIRTIO_SCSI_Q_REQUEST);
	rs_st32(cfg + VIRTIO_SCSI_CFG_SEG_MAX, SCSI_QUEUE_MAX - 2);
	rs_st32(cfg + VIRTIO_SCSI_CFG_MAX_SECTORS, 0xffff);
	rs_st32(cfg + VIRTIO_SCSI_CFG_CMD_PER_LUN, SCSI_QUEUE_MAX);
	rs_st32(cfg + VIRTIO_SCSI_CFG_EVENT_INFO_SIZE, VIRTIO_SCSI_EVENT_SIZE);
	rs_st32(cfg + VIRTIO_SCSI_CFG_SENSE_SIZE, s->sense_size);
	rs_st32(cfg + VIRTIO_SCSI_CFG_CDB_SIZE, s->cdb_size);
	rs_st16(cfg + VIRTIO_SCSI_CFG_MAX_CHANNEL, 0);
	rs_st16(cfg + VIRTIO_SCSI_CFG_MAX_TARGET, (uint16_t)max_target);
	rs_st32(cfg + VIRTIO_SCSI_CFG_MAX_LUN, max_lun);
}

/* virtio-v1.2 5.6.4: the driver may write sense_size and cdb_size. A value
 * the device cannot honour (cdb_size outside 6..255, sense_size above
 * 65535) is refused: reported, and the field keeps its previous value. */
static void scsi_config_write(struct vdev *d, uint32_t off, uint32_t len)
{
	struct scsi *s = d->priv;
	uint32_t v = rs_le32(d->config + off);

	if (off == VIRTIO_SCSI_CFG_SENSE_SIZE) {
		if (v <= SCSI_SENSE_SIZE_MAX) {
			s->sense_size = v;
			return;
		}
		diag_report(&d->log, DIAG_SCSI_CONFIG, "sense_size %u above %u: kept %u", v,
			    SCSI_SENSE_SIZE_MAX, s->sense_size);
		rs_st32(d->config + off, s->sense_size);
	} else if (off == VIRTIO_SCSI_CFG_CDB_SIZE) {
		if (v >= SCSI_CDB_SIZE_MIN && v <= SCSI_CDB_SIZE_MAX) {
			s->cdb_size = v;
			return;
		}
		diag_report(&d->log, DIAG_SCSI_CONFIG, "cdb_size %u outside %u..%u: kept %u", v,
			    SCSI_CDB_SIZE_MIN, SCSI_CDB_SIZE_MAX, s->cdb_size);
		rs_st32(d->config + off, s->cdb_size);
	}
}

/* ---- logical units and LUN addressing ---------------------------------------------------- */

enum lun_kind {
	LUN_BAD,          /* not an address of this device: VIRTIO_SCSI_S_BAD_TARGET */
	LUN_DOMAIN_WLUN,  /* C1 01 00..: REPORT LUNS well-known LU of the SCSI domain */
	LUN_TARGET_WLUN,  /* 01 tt C1 01 00..: REPORT LUNS well-known LU of a target */
	LUN_UNIT,         /* 01 tt with a single-level LUN */
	LUN_NONE,         /* 01 tt with an address method we do not serve: no LU there */
};

/* Decode the 8-byte lun field (virtio-v1.2 5.6.6.1): first byte 1, second
 * the target, third and fourth a single-level LUN (peripheral device or
 * flat space addressing, SAM-5), four zero bytes. */
static enum lun_kind scsi_decode_lun(const uint8_t *l, uint8_t *target, uint16_t *lun)
{
	static const uint8_t domain_wlun[8] = { 0xc1, 0x01 };

	*target = 0;
	*lun = 0;
	if (memcmp(l, domain_wlun, 8) == 0)
		return LUN_DOMAIN_WLUN;
	if (l[0] != 1 || l[4] || l[5] || l[6] || l[7])
		return LUN_BAD;
	*target = l[1];
	switch (l[2] >> 6) {
	case 0:                                 /* peripheral device: bus 0 only */
		*lun = l[3];
		return l[2] ? LUN_NONE : LUN_UNIT;
	case 1:                                 /* flat space */
		*lun = (uint16_t)((l[2] & 0x3f) << 8 | l[3]);
		return LUN_UNIT;
	case 3:                                 /* well-known LU: REPORT LUNS only */
		return l[2] == 0xc1 && l[3] == 0x01 ? LUN_TARGET_WLUN : LUN_NONE;
	default:
		return LUN_NONE;
	}
}

/* The unit at target/lun (attached or not), or NULL. */
static struct scsi_unit *scsi_unit_at(struct scsi *s, unsigned target, unsigned lun)
{
	for (unsigned i = 0; i < s->nunits; i++)
		if (s->units[i].target == target && s->units[i].lun == lun)
			return &s->units[i];
	return NULL;
}

/* True when target has an attached unit. */
static bool scsi_target_exists(const struct scsi *s, unsigned target)
{
	for (unsigned i = 0; i < s->nunits; i++)
		if (s->units[i].present && s->units[i].target == target)
			return true;
	return false;
}

/* The virtio lun field addressing u (peripheral addressing below LUN 256,
 * flat space above, as Linux and REPORT LUNS use them). */
static void scsi_unit_lun(const struct scsi_unit *u, uint8_t *l)
{
	memset(l, 0, 8);
	l[0] = 1;
	l[1] = u->target;
	if (u->lun < 256) {
		l[3] = (uint8_t)u->lun;
	} else {
		l[2] = (uint8_t)(0x40 | u->lun >> 8);
		l[3] = (uint8_t)u->lun;
	}
}

/* Power-on / reset state of a unit's SCSI side (its medium stays). */
static void scsi_unit_reset(struct scsi_unit *u)
{
	u->ua = SCSI_UA_POWER_ON;
	u->ua_param = 0;
	u->sense_len = 0;
	u->prevent = false;
	u->media_event = MEC_NO_CHANGE;
	u->an_events = 0;
}

/* ---- eventq (virtio-v1.2 5.6.6.3) --------------------------------------------------------- */

/* Put one event into the next usable eventq buffer. Buffers the driver got
 * wrong (device-readable parts, fewer than 16 writable bytes) are returned
 * at once with NO_EVENT where 4 bytes fit, as 5.6.6.3 allows. Returns true
 * when the event was delivered. */
static bool scsi_event_put(struct vdev *d, uint32_t event, const uint8_t *lun, uint32_t reason)
{
	struct scsi *s = d->priv;
	struct vq *vq = &d->queues[VIRTIO_SCSI_Q_EVENT].vq;
	uint8_t ev[VIRTIO_SCSI_EVENT_SIZE];
	struct vq_chain c;
	struct vq_cursor w;

	if (!(d->status & VIRTIO_STATUS_DRIVER_OK) || !vq->ready || vq->broken)
		return false;
	/* Bounded: every pass consumes an available buffer, at most num. */
	for (unsigned i = 0; i < vq->num; i++) {
		uint32_t len = 0;

		if (vq_pop(vq, &c) <= 0)
			return false;
		vq_cursor_init_write(&w, d->gm, &c);
		if (c.nread || c.write_len < VIRTIO_SCSI_EVENT_SIZE) {
			diag_report(&d->log, DIAG_SCSI_REQUEST,
				    "eventq buffer: %u readable, %u writable bytes (need 0 and %u)",
				    c.read_len, c.write_len, VIRTIO_SCSI_EVENT_SIZE);
			if (c.write_len >= 4) {
				rs_st32(ev, VIRTIO_SCSI_T_NO_EVENT);
				len = (uint32_t)vq_cursor_write(&w, ev, 4);
			}
			if (vq_push(vq, &c, len) < 0)
				return false;
			continue;
		}
		rs_st32(ev, event | (s->events_missed ? VIRTIO_SCSI_T_EVENTS_MISSED : 0));
		memcpy(ev + 4, lun, 8);
		rs_st32(ev + 12, reason);
		len = (uint32_t)vq_cursor_write(&w, ev, sizeof ev);
		if (vq_push(vq, &c, len) < 0 || len != sizeof ev)
			return false;
		s->events_missed = false;
		return true;
	}
	return false;
}

void scsi_event(struct vdev *d, uint32_t event, const struct scsi_unit *u, uint32_t reason)
{
	struct scsi *s = d->priv;
	uint8_t lun[8];

	scsi_unit_lun(u, lun);
	if (!scsi_event_put(d, event, lun, reason)) {
		/* 5.6.6.3.2: lost for want of a buffer; bit 31 tells the driver. */
		s->events_missed = true;
	}
	vdev_queue_interrupt(d, VIRTIO_SCSI_Q_EVENT);
}

/* Report lost events as soon as the driver gives us a buffer. */
static void scsi_event_flush(struct vdev *d)
{
	static const uint8_t nolun[8];
	struct scsi *s = d->priv;

	if (!s->events_missed)
		return;
	scsi_event_put(d, VIRTIO_SCSI_T_NO_EVENT, nolun, 0);
	/* also for bad buffers returned on the way */
	vdev_queue_interrupt(d, VIRTIO_SCSI_Q_EVENT);
}

/* ---- request queues (virtio-v1.2 5.6.6.1) ------------------------------------------------- */

/* Write the response header (and sense, and the rest of the sense area when
 * datain follows it) at the start of c's writable part. Returns the used
 * length: every byte up to the last one written. */
static uint32_t scsi_respond(struct vdev *d, const struct vq_chain *ch, struct scsi_cmd *c)
{
	static const uint8_t zero[256];
	struct scsi *s = d->priv;
	uint8_t hdr[VIRTIO_SCSI_RESP_HDR];
	uint32_t sense = RS_MIN((uint32_t)c->sense_len, s->sense_size), resid, n;
	struct vq_cursor w;

	if (c->in_len)
		resid = c->in_len - c->in_done;
	else
		resid = c->out_len - c->out_done;
	if (c->response != VIRTIO_SCSI_S_OK)
		sense = 0;
	rs_st32(hdr, sense);
	rs_st32(hdr + 4, resid);
	rs_st16(hdr + 8, 0);                     /* status_qualifier */
	hdr[10] = c->status;
	hdr[11] = c->response;
	vq_cursor_init_write(&w, d->gm, ch);
	n = (uint32_t)vq_cursor_write(&w, hdr, RS_MIN(sizeof hdr, (size_t)ch->write_len));
	n += (uint32_t)vq_cursor_write(&w, c->sense, sense);
	if (!c->in_done)
		return n;
	/* 2.7.8.2: the used length covers bytes written, so the sense area
	 * before datain is written in full. Bounded by sense_size <= 65535. */
	for (uint32_t left = s->sense_size - sense; left;) {
		size_t k = vq_cursor_write(&w, zero, RS_MIN((size_t)left, sizeof zero));
		if (!k)
			return n;
		n += (uint32_t)k;
		left -= (uint32_t)k;
	}
	return n + c->in_done;
}

/* Malformed request framing: report it and answer VIRTIO_SCSI_S_FAILURE in
 * a response header if one fits. Returns the used length. */
static uint32_t scsi_request_malformed(struct vdev *d, const struct vq_chain *ch, const char *why)
{
	struct scsi_cmd c;

	diag_report(&d->log, DIAG_SCSI_REQUEST, "request: %s (%u readable, %u writable bytes)",
		    why, ch->read_len, ch->write_len);
	if (ch->write_len < VIRTIO_SCSI_RESP_HDR)
		return 0;
	memset(&c, 0, sizeof c);
	c.response = VIRTIO_SCSI_S_FAILURE;
	return scsi_respond(d, ch, &c);
}

/* Serve one request chain; returns the used length. */
static uint32_t scsi_request(struct vdev *d, const struct vq_chain *ch)
{
	struct scsi *s = d->priv;
	uint64_t req_len = VIRTIO_SCSI_REQ_HDR + (uint64_t)s->cdb_size;
	uint64_t resp_len = VIRTIO_SCSI_RESP_HDR + (uint64_t)s->sense_size;
	uint8_t hdr[VIRTIO_SCSI_REQ_HDR];
	enum lun_kind kind;
	struct scsi_cmd c;
	uint32_t cdb_kept;
	uint16_t lun;

	if (ch->read_len < req_len)
		return scsi_request_malformed(d, ch, "shorter than header and cdb_size");
	if (ch->write_len < resp_len)
		return scsi_request_malformed(d, ch, "response does not fit");
	memset(&c, 0, sizeof c);
	c.d = d;
	c.s = s;
	c.cdb_len = s->cdb_size;
	/* The CDB's first 32 bytes are looked at, the rest of cdb_size skipped;
	 * the cursor then stands at dataout. */
	cdb_kept = RS_MIN(s->cdb_size, (uint32_t)SCSI_CDB_MAX);
	vq_cursor_init_read(&c.out, d->gm, ch);
	if (vq_cursor_read(&c.out, hdr, sizeof hdr) != sizeof hdr ||
	    vq_cursor_read(&c.out, c.cdb, cdb_kept) != cdb_kept ||
	    vq_cursor_skip(&c.out, s->cdb_size - cdb_kept) != s->cdb_size - cdb_kept)
		return scsi_request_malformed(d, ch, "header unreadable");
	c.out_len = ch->read_len - (uint32_t)req_len;
	vq_cursor_init_write(&c.in, d->gm, ch);
	vq_cursor_skip(&c.in, (size_t)resp_len);
	c.in_len = ch->write_len - (uint32_t)resp_len;

	c.response = VIRTIO_SCSI_S_OK;
	if (c.in_len && c.out_len) {
		/* 5.6.6.1.1: bidirectional without VIRTIO_SCSI_F_INOUT. */
		diag_report(&d->log, DIAG_SCSI_REQUEST,
			    "request with both dataout (%u) and datain (%u): INOUT not negotiated",
			    c.out_len, c.in_len);
		c.response = VIRTIO_SCSI_S_FAILURE;
		return scsi_respond(d, ch, &c);
	}
	kind = scsi_decode_lun(hdr, &c.target, &lun);
	if (kind == LUN_BAD || (kind != LUN_DOMAIN_WLUN && !scsi_target_exists(s, c.target))) {
		c.response = VIRTIO_SCSI_S_BAD_TARGET;   /* 5.6.6.1.1 */
		return scsi_respond(d, ch, &c);
	}
	c.wlun = kind == LUN_DOMAIN_WLUN || kind == LUN_TARGET_WLUN;
	c.domain_wlun = kind == LUN_DOMAIN_WLUN;
	if (kind == LUN_UNIT) {
		c.u = scsi_unit_at(s, c.target, lun);
		if (c.u && !c.u->present)
			c.u = NULL;
	}
	spc_execute(&c);
	return scsi_respond(d, ch, &c);
}

/* ---- controlq (virtio-v1.2 5.6.6.2) -------------------------------------------------------- */

/* LOGICAL UNIT RESET / I_T NEXUS RESET effects on a unit (SAM-5):
 * tasks (none in flight), sense, prevention; a unit attention. */
static void scsi_tmf_reset_unit(struct scsi_unit *u, uint32_t ua)
{
	u->sense_len = 0;
	u->prevent = false;
	scsi_ua_set(u, ua);
}

/* Execute a task management function; returns the response byte. */
static uint8_t scsi_tmf(struct vdev *d, const uint8_t *req)
{
	struct scsi *s = d->priv;
	uint32_t subtype = rs_le32(req + 4);
	enum lun_kind kind;
	struct scsi_unit *u = NULL;
	uint8_t target;
	uint16_t lun;

	kind = scsi_decode_lun(req + 8, &target, &lun);
	if (kind == LUN_BAD || (kind != LUN_DOMAIN_WLUN && !scsi_target_exists(s, target)))
		return VIRTIO_SCSI_S_BAD_TARGET;
	if (subtype == VIRTIO_SCSI_T_TMF_I_T_NEXUS_RESET) {
		/* The LUN is ignored; the domain W-LUN names every target. */
		for (unsigned i = 0; i < s->nunits; i++) {
			struct scsi_unit *x = &s->units[i];
			if (x->present && (kind == LUN_DOMAIN_WLUN || x->target == target))
				scsi_tmf_reset_unit(x, SCSI_UA_NEXUS_LOSS);
		}
		return VIRTIO_SCSI_S_FUNCTION_COMPLETE;
	}
	if (kind == LUN_UNIT) {
		u = scsi_unit_at(s, target, lun);
		if (!u || !u->present)
			return VIRTIO_SCSI_S_INCORRECT_LUN;
	} else if (kind == LUN_NONE) {
		return VIRTIO_SCSI_S_INCORRECT_LUN;
	}
	switch (subtype) {
	case VIRTIO_SCSI_T_TMF_ABORT_TASK:
	case VIRTIO_SCSI_T_TMF_ABORT_TASK_SET:
	case VIRTIO_SCSI_T_TMF_CLEAR_TASK_SET:
	case VIRTIO_SCSI_T_TMF_QUERY_TASK:
	case VIRTIO_SCSI_T_TMF_QUERY_TASK_SET:
		/* Every command completes before the next is read: there is
		 * never a task to abort or report (SAM-5: FUNCTION COMPLETE). */
		return VIRTIO_SCSI_S_FUNCTION_COMPLETE;
	case VIRTIO_SCSI_T_TMF_LOGICAL_UNIT_RESET:
		if (u)
			scsi_tmf_reset_unit(u, SCSI_UA_LU_RESET);
		return VIRTIO_SCSI_S_FUNCTION_COMPLETE;
	default:
		/* CLEAR ACA (no ACA: NormACA is 0) and unknown functions. */
		return VIRTIO_SCSI_S_FUNCTION_REJECTED;
	}
}

/* Asynchronous notification query / subscribe: CD-ROM units report media
 * class events (MEDIA_CHANGE); nothing else is supported. Writes
 * event_actual; returns the response byte. */
static uint8_t scsi_an(struct vdev *d, const uint8_t *req, uint32_t type, uint32_t *actual)
{
	struct scsi *s = d->priv;
	uint32_t requested = rs_le32(req + 12);
	struct scsi_unit *u;
	uint8_t target;
	uint16_t lun;
	enum lun_kind kind = scsi_decode_lun(req + 4, &target, &lun);

	*actual = 0;
	if (kind == LUN_BAD || (kind != LUN_DOMAIN_WLUN && !scsi_target_exists(s, target)))
		return VIRTIO_SCSI_S_BAD_TARGET;
	if (kind == LUN_DOMAIN_WLUN || kind == LUN_TARGET_WLUN)
		return VIRTIO_SCSI_S_OK;
	u = kind == LUN_UNIT ? scsi_unit_at(s, target, lun) : NULL;
	if (!u || !u->present)
		return VIRTIO_SCSI_S_INCORRECT_LUN;
	if (u->type == SCSI_UNIT_CD)
		*actual = requested & VIRTIO_SCSI_EVT_ASYNC_MEDIA_CHANGE;
	if (type == VIRTIO_SCSI_T_AN_SUBSCRIBE)
		u->an_events = *actual;
	return VIRTIO_SCSI_S_OK;
}

/* Malformed control request: report it, answer VIRTIO_SCSI_S_FAILURE at
 * resp_off if the response fits. Returns the used length. */
static uint32_t scsi_control_malformed(struct vdev *d, const struct vq_chain *ch,
				       uint32_t resp_off, const char *why)
{
	uint8_t r[VIRTIO_SCSI_AN_RESP];
	struct vq_cursor w;

	diag_report(&d->log, DIAG_SCSI_REQUEST, "control request: %s (%u readable, %u writable)",
		    why, ch->read_len, ch->write_len);
	if (ch->write_len < resp_off + 1)
		return 0;
	memset(r, 0, sizeof r);
	r[resp_off] = VIRTIO_SCSI_S_FAILURE;
	vq_cursor_init_write(&w, d->gm, ch);
	return (uint32_t)vq_cursor_write(&w, r, resp_off + 1);
}

/* Serve one controlq chain; returns the used length. */
static uint32_t scsi_control(struct vdev *d, const struct vq_chain *ch)
{
	uint8_t req[VIRTIO_SCSI_TMF_REQ], resp[VIRTIO_SCSI_AN_RESP];
	struct vq_cursor rd, w;
	uint32_t type, actual;

	vq_cursor_init_read(&rd, d->gm, ch);
	vq_cursor_init_write(&w, d->gm, ch);
	if (vq_cursor_read(&rd, req, 4) != 4)
		return scsi_control_malformed(d, ch, 0, "no type");
	type = rs_le32(req);
	switch (type) {
	case VIRTIO_SCSI_T_TMF:
		if (ch->read_len < VIRTIO_SCSI_TMF_REQ || ch->write_len < 1 ||
		    vq_cursor_read(&rd, req + 4, VIRTIO_SCSI_TMF_REQ - 4) != VIRTIO_SCSI_TMF_REQ - 4)
			return scsi_control_malformed(d, ch, 0, "short task management request");
		resp[0] = scsi_tmf(d, req);
		return (uint32_t)vq_cursor_write(&w, resp, 1);
	case VIRTIO_SCSI_T_AN_QUERY:
	case VIRTIO_SCSI_T_AN_SUBSCRIBE:
		if (ch->read_len < VIRTIO_SCSI_AN_REQ || ch->write_len < VIRTIO_SCSI_AN_RESP ||
		    vq_cursor_read(&rd, req + 4, VIRTIO_SCSI_AN_REQ - 4) != VIRTIO_SCSI_AN_REQ - 4)
			return scsi_control_malformed(d, ch, 4, "short notification request");
		resp[4] = scsi_an(d, req, type, &actual);
		rs_st32(resp, actual);
		return (uint32_t)vq_cursor_write(&w, resp, VIRTIO_SCSI_AN_RESP);
	default:
		return scsi_control_malformed(d, ch, 0, "unknown type");
	}
}

/* ---- queue notify ----------------------------------------------------------------------- */

static void scsi_queue_notify(struct vdev *d, unsigned q)
{
	struct vq *vq = &d->queues[q].vq;
	struct vq_chain c;

	if (q == VIRTIO_SCSI_Q_EVENT) {
		/* Buffers wait for events; only lost ones are reported now. */
		scsi_event_flush(d);
		return;
	}
	/* Bounded: every pop consumes an avail entry and the engine refuses
	 * more than the queue size outstanding. */
	while (vq_pop(vq, &c) > 0) {
		uint32_t len = q == VIRTIO_SCSI_Q_CONTROL ? scsi_control(d, &c)
							  : scsi_request(d, &c);
		if (vq_push(vq, &c, len) < 0)
			break;
	}
	vdev_queue_interrupt(d, q);
}

/* ---- host events ------------------------------------------------------------------------ */

/*
 * From the world (rs_machine_poll_events). port is target << 16 | lun.
 *   WEV_SCSI_MEDIA   CD-ROM: arg 1 loads the image (again), 0 ejects it;
 *   WEV_SCSI_PARAMS  arg 0: capacity re-read, CAPACITY DATA HAS CHANGED;
 *                    else asc = arg & 0xff, ascq = arg >> 8 & 0xff; unit
 *                    attention, and a PARAM_CHANGE event (not for CD-ROM
 *                    units, 5.6.6.3.2) when VIRTIO_SCSI_F_CHANGE was
 *                    negotiated;
 *   WEV_HOST         hotplug: arg 0 detaches the unit, 1 attaches it again;
 *                    TRANSPORT_RESET REMOVED / RESCAN events with
 *                    VIRTIO_SCSI_F_HOTPLUG, REPORTED LUNS DATA HAS CHANGED
 *                    on the target's other units.
 * Events for units that do not exist are ignored.
 */
static void scsi_host_event(struct vdev *d, const struct world_event *ev)
{
	struct scsi *s = d->priv;
	struct scsi_unit *u = scsi_unit_at(s, ev->port >> 16, ev->port & 0xffff);
	uint16_t asc;

	if (!u)
		return;
	switch (ev->kind) {
	case WEV_SCSI_MEDIA:
		if (u->type == SCSI_UNIT_CD && u->present)
			mmc_load(d, u, ev->arg != 0, true);
		break;
	case WEV_SCSI_PARAMS:
		if (!u->present)
			break;
		if (ev->arg == 0) {
			asc = ASC_CAPACITY_CHANGED;
			if (u->type == SCSI_UNIT_DISK || u->medium)
				scsi_unit_refresh(d, u);
		} else {
			asc = (uint16_t)((ev->arg & 0xff) << 8 | (ev->arg >> 8 & 0xff));
		}
		u->ua_param = asc;
		scsi_ua_set(u, SCSI_UA_PARAMS);
		if (u->type != SCSI_UNIT_CD && vdev_has(d, VIRTIO_SCSI_F_CHANGE))
			scsi_event(d, VIRTIO_SCSI_T_PARAM_CHANGE, u,
				   (uint32_t)(asc >> 8) | (uint32_t)(asc & 0xff) << 8);
		break;
	case WEV_HOST:
		if (u->present == (ev->arg != 0))
			break;
		u->present = ev->arg != 0;
		scsi_unit_reset(u);
		for (unsigned i = 0; i < s->nunits; i++)
			if (&s->units[i] != u && s->units[i].present &&
			    s->units[i].target == u->target)
				scsi_ua_set(&s->units[i], SCSI_UA_LUNS_CHANGED);
		if (vdev_has(d, VIRTIO_SCSI_F_HOTPLUG))
			scsi_event(d, VIRTIO_SCSI_T_TRANSPORT_RESET, u,
				   u->present ? VIRTIO_SCSI_EVT_RESET_RESCAN
					      : VIRTIO_SCSI_EVT_RESET_REMOVED);
		break;
	default:
		break;
	}
}

/* ---- options ---------------------------------------------------------------------------- */

/* Parse "<T>[-<L>]" (target 0..255, LUN 0..16383) at p; "" gives target
 * -1 (the shorthand keys). Returns false for anything else. */
static bool scsi_parse_tl(const char *p, int *target, unsigned *lun)
{
	unsigned long v;
	char *end;

	*target = -1;
	*lun = 0;
	if (!*p)
		return true;
	if (*p < '0' || *p > '9')
		return false;
	v = strtoul(p, &end, 10);
	if (v > SCSI_MAX_TARGET)
		return false;
	*target = (int)v;
	if (*end == '-') {
		p = end + 1;
		if (*p < '0' || *p > '9')
			return false;
		v = strtoul(p, &end, 10);
		if (v > SCSI_MAX_LUN)
			return false;
		*lun = (unsigned)v;
	}
	return *end == '\0';
}

/* Parse a unit key: "disk" / "cd" (shorthand: *target = -1) or
 * "disk<T>[-<L>]" / "cd<T>[-<L>]". Returns false for other keys. */
static bool scsi_parse_key(const char *key, enum scsi_unit_type *type, int *target,
			   unsigned *lun)
{
	if (strncmp(key, "disk", 4) == 0) {
		*type = SCSI_UNIT_DISK;
		return scsi_parse_tl(key + 4, target, lun);
	}
	if (strncmp(key, "cd", 2) == 0) {
		*type = SCSI_UNIT_CD;
		return scsi_parse_tl(key + 2, target, lun);
	}
	return false;
}

/* A copy-on-write image: the file read-only as the base, writes kept in
 * memory (blk's mem backend). */
static int scsi_open_cow(const char *path, struct world_backend **out, char *err, size_t errlen)
{
	struct blk_mem_base *base;
	int r = blk_mem_base_new(path, 0, &base, err, errlen);

	if (r < 0)
		return r;
	r = blk_mem_new(base, out);
	blk_mem_base_put(base);
	if (r < 0)
		snprintf(err, errlen, "out of memory");
	return r;
}

/* An image file, or (in a world that answers backend I/O itself, i.e. a
 * replay) a stand-in that only names it: a replay must not need the file. */
static int scsi_open_file(struct vdev *d, const char *path, bool ro, struct world_backend **out,
			  char *err, size_t errlen)
{
	if (world_serves_io(d->world))
		return blk_proxy_new(path, out, err, errlen);
	return blk_file_new(path, ro, out, err, errlen);
}

/* Open the image of unit u from its option value, with blk's backends
 * (ringside/blk.h): mem (zeroes or a copy-on-write file) and file. */
static int scsi_unit_open(struct vdev *d, struct scsi_unit *u, const char *val, char *err,
			  size_t errlen)
{
	char inner[200];
	uint64_t size = 0;
	int r;

	if (u->type == SCSI_UNIT_CD) {
		u->block_size = SCSI_CD_BLOCK;
		u->ro = true;
		if (strcmp(val, "empty") == 0)
			return 0;
		r = scsi_open_file(d, strncmp(val, "file:", 5) == 0 ? val + 5 : val, true, &u->be,
				   inner, sizeof inner);
	} else {
		struct vdev_args one = { .n = 1 };

		u->block_size = SCSI_DISK_BLOCK;
		snprintf(one.kv[0].key, sizeof one.kv[0].key, "size");
		snprintf(one.kv[0].val, sizeof one.kv[0].val, "%s", val);
		if (vdev_arg_size(&one, "size", 0, &size, inner, sizeof inner) == 0) {
			struct blk_mem_base *base;

			if (size == 0 || size % SCSI_DISK_BLOCK) {
				snprintf(err, errlen,
					 "scsi: %s=%s: size must be a non-zero multiple of 512",
					 u->key, val);
				return -EINVAL;
			}
			r = blk_mem_base_new(NULL, size, &base, inner, sizeof inner);
			if (r == 0) {
				r = blk_mem_new(base, &u->be);
				blk_mem_base_put(base);
				if (r < 0)
					snprintf(inner, sizeof inner, "out of memory");
			}
		} else if (strncmp(val, "ro:", 3) == 0) {
			u->ro = true;
			r = scsi_open_file(d, val + 3, true, &u->be, inner, sizeof inner);
		} else if (strncmp(val, "cow:", 4) == 0) {
			r = world_serves_io(d->world)
				    ? blk_proxy_new(val + 4, &u->be, inner, sizeof inner)
				    : scsi_open_cow(val + 4, &u->be, inner, sizeof inner);
		} else {
			r = scsi_open_file(d, strncmp(val, "file:", 5) == 0 ? val + 5 : val, false,
					   &u->be, inner, sizeof inner);
		}
	}
	if (r < 0) {
		snprintf(err, errlen, "scsi: %s: %s", u->key, inner);
		return r;
	}
	r = scsi_unit_refresh(d, u);
	if (r < 0 || u->nblocks == 0) {
		snprintf(err, errlen, "scsi: %s: image %s of less than one %u-byte block", u->key,
			 val, u->block_size);
		return r < 0 ? r : -EINVAL;
	}
	u->medium = true;
	return 0;
}

/* Add a unit; target < 0 takes the lowest target without units. */
static int scsi_add_unit(struct vdev *d, enum scsi_unit_type type, int target, unsigned lun,
			 const char *key, const char *val, char *err, size_t errlen)
{
	struct scsi *s = d->priv;
	struct scsi_unit *u;

	if (target < 0) {
		for (target = 0; scsi_target_exists(s, (unsigned)target); target++)
			;
	}
	if (scsi_unit_at(s, (unsigned)target, lun)) {
		snprintf(err, errlen, "scsi: %s: target %d LUN %u is taken by %s", key, target,
			 lun, scsi_unit_at(s, (unsigned)target, lun)->key);
		return -EINVAL;
	}
	u = &s->units[s->nunits++];
	memset(u, 0, sizeof *u);
	u->type = type;
	u->target = (uint8_t)target;
	u->lun = (uint16_t)lun;
	u->present = true;
	snprintf(u->key, sizeof u->key, "%s", key);
	snprintf(u->serial, sizeof u->serial, "RS%02X%02X%04X", d->index & 0xff,
		 (unsigned)target, lun);
	int r = scsi_unit_open(d, u, val, err, errlen);
	u->medium0 = u->medium;
	u->nblocks0 = u->nblocks;
	return r;
}

static int scsi_unit_cmp(const void *a, const void *b)
{
	const struct scsi_unit *x = a, *y = b;

	if (x->target != y->target)
		return x->target < y->target ? -1 : 1;
	return x->lun < y->lun ? -1 : x->lun > y->lun;
}

static void scsi_destroy(struct vdev *d)
{
	struct scsi *s = d->priv;

	for (unsigned i = 0; i < s->nunits; i++) {
		blk_backend_destroy(s->units[i].be);
		s->units[i].be = NULL;
	}
	s->nunits = 0;
	free(s->bounce);
	s->bounce = NULL;
}

/* fault<T>[-<L>]=SPEC: wrap that unit's image in blk's fault injection
 * backend (ringside/blk.h: "read:3+write:5-7+flush:*"). */
static int scsi_parse_faults(struct vdev *d, struct vdev_args *args, char *err, size_t errlen)
{
	struct scsi *s = d->priv;
	unsigned n = args ? RS_MIN(args->n, (unsigned)VDEV_MAX_ARGS) : 0;
	char inner[200];

	for (unsigned i = 0; i < n; i++) {
		const char *key = args->kv[i].key, *val;
		struct world_backend *w;
		struct scsi_unit *u;
		unsigned lun;
		int target, r;

		if (strncmp(key, "fault", 5) != 0 || !scsi_parse_tl(key + 5, &target, &lun) ||
		    target < 0)
			continue;
		val = vdev_arg(args, key);
		u = scsi_unit_at(s, (unsigned)target, lun);
		if (!u || !u->be) {
			snprintf(err, errlen, "scsi: %s: no image at target %d LUN %u", key, target,
				 lun);
			return -EINVAL;
		}
		r = blk_fault_new(u->be, val, &w, inner, sizeof inner);
		if (r < 0) {
			snprintf(err, errlen, "scsi: %s=%s: %s", key, val, inner);
			return r;
		}
		u->be = w;
	}
	return 0;
}

/* Units in option order: explicit targets first, then the shorthand keys
 * (disk before cd) on the lowest free targets. */
static int scsi_parse_units(struct vdev *d, struct vdev_args *args, char *err, size_t errlen)
{
	unsigned n = args ? RS_MIN(args->n, (unsigned)VDEV_MAX_ARGS) : 0;
	int r;

	for (unsigned pass = 0; pass < 3; pass++) {
		for (unsigned i = 0; i < n; i++) {
			const char *key = args->kv[i].key, *val;
			enum scsi_unit_type type;
			unsigned lun;
			int target;

			if (!scsi_parse_key(key, &type, &target, &lun))
				continue;
			if (pass == 0 ? target < 0
				      : target >= 0 || (int)type != (pass == 1 ? SCSI_UNIT_DISK
									       : SCSI_UNIT_CD))
				continue;
			val = vdev_arg(args, key);
			if (!val || !val[0]) {
				snprintf(err, errlen, "scsi: %s needs a value (%s)", key,
					 type == SCSI_UNIT_CD ? "an ISO path or 'empty'"
							      : "a size or an image path");
				return -EINVAL;
			}
			r = scsi_add_unit(d, type, target, lun, key, val, err, errlen);
			if (r < 0)
				return r;
		}
	}
	return scsi_parse_faults(d, args, err, errlen);
}

static void scsi_reset(struct vdev *d);

static int scsi_create(struct vdev *d, struct vdev_args *args, char *err, size_t errlen)
{
	struct scsi *s = d->priv;
	uint64_t queues;
	int r;

	if (!d->world) {
		snprintf(err, errlen, "scsi: needs a world for its images (create it in a machine)");
		return -EINVAL;
	}
	r = vdev_arg_size(args, "queues", 1, &queues, err, errlen);
	if (r < 0)
		return r;
	if (queues < 1 || queues > SCSI_MAX_REQ_QUEUES) {
		snprintf(err, errlen, "scsi: queues=%llu out of range (1..%u)",
			 (unsigned long long)queues, SCSI_MAX_REQ_QUEUES);
		return -EINVAL;
	}
	d->nqueues = VIRTIO_SCSI_Q_REQUEST + (unsigned)queues;
	s->bounce = malloc(SCSI_BOUNCE);
	if (!s->bounce) {
		snprintf(err, errlen, "scsi: out of memory");
		return -ENOMEM;
	}
	r = scsi_parse_units(d, args, err, errlen);
	if (r == 0 && s->nunits == 0) {
		/* Default: an 8 MiB disk at target 0 and an empty CD-ROM drive
		 * at target 1. */
		r = scsi_add_unit(d, SCSI_UNIT_DISK, 0, 0, "disk0", "8M", err, errlen);
		if (r == 0)
			r = scsi_add_unit(d, SCSI_UNIT_CD, 1, 0, "cd1", "empty", err, errlen);
	}
	if (r < 0) {
		scsi_destroy(d);
		return r;
	}
	qsort(s->units, s->nunits, sizeof s->units[0], scsi_unit_cmp);
	scsi_reset(d);
	return 0;
}

/* ---- reset, driver_ok, save --------------------------------------------------------------- */

static void scsi_reset(struct vdev *d)
{
	struct scsi *s = d->priv;

	s->cdb_size = VIRTIO_SCSI_CDB_DEFAULT;    /* 5.6.4.2 */
	s->sense_size = VIRTIO_SCSI_SENSE_DEFAULT;
	s->events_missed = false;
	for (unsigned i = 0; i < s->nunits; i++)
		scsi_unit_reset(&s->units[i]);
	scsi_fill_config(d);
}

/* Host-side state back to what create() set: every unit attached again,
 * media and trays as created (host media changes, hot-unplug and guest
 * ejects all survive a device reset, as on real hardware, but not a
 * machine_reset, which must give a freshly built machine). */
static void scsi_host_reset(struct vdev *d)
{
	struct scsi *s = d->priv;

	for (unsigned i = 0; i < s->nunits; i++) {
		struct scsi_unit *u = &s->units[i];

		u->present = true;
		u->medium = u->medium0;
		u->nblocks = u->nblocks0;
		u->tray_open = false;
	}
}

static void scsi_driver_ok(struct vdev *d)
{
	scsi_event_flush(d);
}

#define SCSI_SAVE_HDR 9
#define SCSI_SAVE_UNIT (18 + SCSI_SENSE_LEN + 10)

static size_t scsi_save(const struct vdev *d, uint8_t *buf, size_t cap)
{
	const struct scsi *s = d->priv;
	size_t need = SCSI_SAVE_HDR + (size_t)s->nunits * SCSI_SAVE_UNIT;
	uint8_t *p = buf;

	if (!buf || cap < need)
		return need;
	rs_st32(p, s->cdb_size);
	rs_st32(p + 4, s->sense_size);
	p[8] = s->events_missed;
	p += SCSI_SAVE_HDR;
	for (unsigned i = 0; i < s->nunits; i++, p += SCSI_SAVE_UNIT) {
		const struct scsi_unit *u = &s->units[i];

		p[0] = u->target;
		rs_st16(p + 1, u->lun);
		p[3] = (uint8_t)u->type;
		p[4] = u->present;
		p[5] = u->medium;
		p[6] = u->tray_open;
		p[7] = u->prevent;
		p[8] = u->media_event;
		p[9] = u->sense_len;
		rs_st64(p + 10, u->nblocks);
		/* stale bytes behind sense_len 0 are no state */
		if (u->sense_len)
			memcpy(p + 18, u->sense, SCSI_SENSE_LEN);
		else
			memset(p + 18, 0, SCSI_SENSE_LEN);
		rs_st32(p + 36, u->ua);
		rs_st32(p + 40, u->an_events);
		rs_st16(p + 44, u->ua_param);
	}
	return need;
}

const struct vdev_ops scsi_ops = {
	.name = "scsi",
	.device_id = VIRTIO_ID_SCSI,
	.pci_class = 0x0100,                /* mass storage: SCSI */
	.num_queues = VIRTIO_SCSI_Q_REQUEST + SCSI_MAX_REQ_QUEUES,
	.queue_max = SCSI_QUEUE_MAX,
	.features = VIRTIO_BIT(VIRTIO_SCSI_F_HOTPLUG) | VIRTIO_BIT(VIRTIO_SCSI_F_CHANGE),
	.config_size = VIRTIO_SCSI_CFG_SIZE,
	.cfg_fields = scsi_cfg_fields,
	.ncfg_fields = RS_ARRAY_SIZE(scsi_cfg_fields),
	.priv_size = sizeof(struct scsi),
	.create = scsi_create,
	.destroy = scsi_destroy,
	.config_write = scsi_config_write,
	.driver_ok = scsi_driver_ok,
	.queue_notify = scsi_queue_notify,
	.reset = scsi_reset,
	.host_reset = scsi_host_reset,
	.save = scsi_save,
	.host_event = scsi_host_event,
};
