/*
 * ringside — private declarations of the virtio SCSI host device ("scsi").
 *
 * Split by concern, like the standards it follows:
 *   scsi.c     virtio-scsi (virtio-v1.2 5.6): queues, request/response
 *              framing, LUN addressing, task management, events, options,
 *              config space, host events;
 *   spc.c      commands every logical unit has (SPC-4): INQUIRY and VPD
 *              pages, REQUEST SENSE, REPORT LUNS, TEST UNIT READY, MODE
 *              SENSE, PREVENT ALLOW MEDIUM REMOVAL, START STOP UNIT, unit
 *              attention and sense data helpers, the dispatcher;
 *   sbc.c      disk units (SBC-3): READ CAPACITY, READ, WRITE, SYNCHRONIZE
 *              CACHE, block data moved through world_io();
 *   mmc.c      CD-ROM units (MMC-5 subset): READ TOC, GET CONFIGURATION,
 *              GET EVENT STATUS NOTIFICATION, MECHANISM STATUS, media state;
 * Images are blk's backends (ringside/blk.h: mem with a copy-on-write
 * overlay, raw file), reached only through world_io().
 */
#ifndef RINGSIDE_DEVICES_SCSI_H
#define RINGSIDE_DEVICES_SCSI_H

#include "ringside/vdev.h"

/* ---- virtio-scsi (virtio-v1.2 5.6) ------------------------------------------------------ */

/* Feature bits, 5.6.3 */
#define VIRTIO_SCSI_F_INOUT 0
#define VIRTIO_SCSI_F_HOTPLUG 1
#define VIRTIO_SCSI_F_CHANGE 2
#define VIRTIO_SCSI_F_T10_PI 3

/* Config layout, 5.6.4 */
#define VIRTIO_SCSI_CFG_NUM_QUEUES 0
#define VIRTIO_SCSI_CFG_SEG_MAX 4
#define VIRTIO_SCSI_CFG_MAX_SECTORS 8
#define VIRTIO_SCSI_CFG_CMD_PER_LUN 12
#define VIRTIO_SCSI_CFG_EVENT_INFO_SIZE 16
#define VIRTIO_SCSI_CFG_SENSE_SIZE 20
#define VIRTIO_SCSI_CFG_CDB_SIZE 24
#define VIRTIO_SCSI_CFG_MAX_CHANNEL 28
#define VIRTIO_SCSI_CFG_MAX_TARGET 30
#define VIRTIO_SCSI_CFG_MAX_LUN 32
#define VIRTIO_SCSI_CFG_SIZE 36

#define VIRTIO_SCSI_SENSE_DEFAULT 96
#define VIRTIO_SCSI_CDB_DEFAULT 32

/* Queues, 5.6.2 */
#define VIRTIO_SCSI_Q_CONTROL 0
#define VIRTIO_SCSI_Q_EVENT 1
#define VIRTIO_SCSI_Q_REQUEST 2

/* Request and response header sizes (5.6.6.1), cdb / sense excluded */
#define VIRTIO_SCSI_REQ_HDR 19   /* lun[8], id, task_attr, prio, crn */
#define VIRTIO_SCSI_RESP_HDR 12  /* sense_len, residual, status_qualifier, status, response */

/* Response codes, 5.6.6.1 and 5.6.6.2 */
#define VIRTIO_SCSI_S_OK 0
#define VIRTIO_SCSI_S_FUNCTION_COMPLETE 0
#define VIRTIO_SCSI_S_OVERRUN 1
#define VIRTIO_SCSI_S_ABORTED 2
#define VIRTIO_SCSI_S_BAD_TARGET 3
#define VIRTIO_SCSI_S_RESET 4
#define VIRTIO_SCSI_S_BUSY 5
#define VIRTIO_SCSI_S_TRANSPORT_FAILURE 6
#define VIRTIO_SCSI_S_TARGET_FAILURE 7
#define VIRTIO_SCSI_S_NEXUS_FAILURE 8
#define VIRTIO_SCSI_S_FAILURE 9
#define VIRTIO_SCSI_S_FUNCTION_SUCCEEDED 10
#define VIRTIO_SCSI_S_FUNCTION_REJECTED 11
#define VIRTIO_SCSI_S_INCORRECT_LUN 12

/* controlq types and TMF subtypes, 5.6.6.2 */
#define VIRTIO_SCSI_T_TMF 0
#define VIRTIO_SCSI_T_AN_QUERY 1
#define VIRTIO_SCSI_T_AN_SUBSCRIBE 2
#define VIRTIO_SCSI_T_TMF_ABORT_TASK 0
#define VIRTIO_SCSI_T_TMF_ABORT_TASK_SET 1
#define VIRTIO_SCSI_T_TMF_CLEAR_ACA 2
#define VIRTIO_SCSI_T_TMF_CLEAR_TASK_SET 3
#define VIRTIO_SCSI_T_TMF_I_T_NEXUS_RESET 4
#define VIRTIO_SCSI_T_TMF_LOGICAL_UNIT_RESET 5
#define VIRTIO_SCSI_T_TMF_QUERY_TASK 6
#define VIRTIO_SCSI_T_TMF_QUERY_TASK_SET 7
#define VIRTIO_SCSI_TMF_REQ 24   /* type, subtype, lun[8], id */
#define VIRTIO_SCSI_AN_REQ 16    /* type, lun[8], event_requested */
#define VIRTIO_SCSI_AN_RESP 5    /* event_actual, response */

/* Asynchronous notification event bits (AN query/subscribe, ASYNC_NOTIFY) */
#define VIRTIO_SCSI_EVT_ASYNC_OPERATIONAL_CHANGE 2
#define VIRTIO_SCSI_EVT_ASYNC_POWER_MGMT 4
#define VIRTIO_SCSI_EVT_ASYNC_EXTERNAL_REQUEST 8
#define VIRTIO_SCSI_EVT_ASYNC_MEDIA_CHANGE 16
#define VIRTIO_SCSI_EVT_ASYNC_MULTI_HOST 32
#define VIRTIO_SCSI_EVT_ASYNC_DEVICE_BUSY 64

/* eventq, 5.6.6.3 */
#define VIRTIO_SCSI_T_EVENTS_MISSED 0x80000000u
#define VIRTIO_SCSI_T_NO_EVENT 0
#define VIRTIO_SCSI_T_TRANSPORT_RESET 1
#define VIRTIO_SCSI_T_ASYNC_NOTIFY 2
#define VIRTIO_SCSI_T_PARAM_CHANGE 3
#define VIRTIO_SCSI_EVT_RESET_HARD 0
#define VIRTIO_SCSI_EVT_RESET_RESCAN 1
#define VIRTIO_SCSI_EVT_RESET_REMOVED 2
#define VIRTIO_SCSI_EVENT_SIZE 16 /* event, lun[8], reason */

/* ---- SCSI (SAM-5, SPC-4, SBC-3, MMC-5) ---------------------------------------------------- */

/* Status codes (SAM-5) */
#define SCSI_GOOD 0x00
#define SCSI_CHECK_CONDITION 0x02

/* Sense keys (SPC-4) */
#define SK_NO_SENSE 0x0
#define SK_NOT_READY 0x2
#define SK_MEDIUM_ERROR 0x3
#define SK_HARDWARE_ERROR 0x4
#define SK_ILLEGAL_REQUEST 0x5
#define SK_UNIT_ATTENTION 0x6
#define SK_DATA_PROTECT 0x7

/* Additional sense code and qualifier as one value: asc << 8 | ascq */
#define ASC_NONE 0x0000
#define ASC_WRITE_ERROR 0x0c00
#define ASC_UNRECOVERED_READ_ERROR 0x1100
#define ASC_INVALID_OPCODE 0x2000
#define ASC_LBA_OUT_OF_RANGE 0x2100
#define ASC_INVALID_FIELD_IN_CDB 0x2400
#define ASC_LUN_NOT_SUPPORTED 0x2500
#define ASC_WRITE_PROTECTED 0x2700
#define ASC_MEDIUM_MAY_HAVE_CHANGED 0x2800  /* NOT READY TO READY CHANGE, MEDIUM MAY HAVE CHANGED */
#define ASC_POWER_ON_RESET 0x2900           /* POWER ON, RESET, OR BUS DEVICE RESET OCCURRED */
#define ASC_BUS_DEVICE_RESET 0x2903         /* BUS DEVICE RESET FUNCTION OCCURRED */
#define ASC_I_T_NEXUS_LOSS 0x2907           /* I_T NEXUS LOSS OCCURRED */
#define ASC_CAPACITY_CHANGED 0x2a09         /* CAPACITY DATA HAS CHANGED */
#define ASC_SAVING_PARAMS_UNSUP 0x3900
#define ASC_MEDIUM_NOT_PRESENT 0x3a00
#define ASC_MEDIUM_NOT_PRESENT_TRAY_CLOSED 0x3a01
#define ASC_MEDIUM_NOT_PRESENT_TRAY_OPEN 0x3a02
#define ASC_REPORTED_LUNS_CHANGED 0x3f0e
#define ASC_MEDIUM_REMOVAL_PREVENTED 0x5302

/* Operation codes */
#define SCSI_TEST_UNIT_READY 0x00
#define SCSI_REQUEST_SENSE 0x03
#define SCSI_READ_6 0x08
#define SCSI_WRITE_6 0x0a
#define SCSI_INQUIRY 0x12
#define SCSI_MODE_SENSE_6 0x1a
#define SCSI_START_STOP_UNIT 0x1b
#define SCSI_PREVENT_ALLOW 0x1e
#define SCSI_READ_CAPACITY_10 0x25
#define SCSI_READ_10 0x28
#define SCSI_WRITE_10 0x2a
#define SCSI_SYNCHRONIZE_CACHE_10 0x35
#define SCSI_READ_TOC 0x43
#define SCSI_GET_CONFIGURATION 0x46
#define SCSI_GET_EVENT_STATUS 0x4a
#define SCSI_MODE_SENSE_10 0x5a
#define SCSI_READ_16 0x88
#define SCSI_WRITE_16 0x8a
#define SCSI_SYNCHRONIZE_CACHE_16 0x91
#define SCSI_SERVICE_ACTION_IN_16 0x9e
#define SCSI_SAI_READ_CAPACITY_16 0x10
#define SCSI_REPORT_LUNS 0xa0
#define SCSI_READ_12 0xa8
#define SCSI_WRITE_12 0xaa
#define SCSI_MECHANISM_STATUS 0xbd

/* Peripheral device types (INQUIRY byte 0) */
#define SCSI_TYPE_DISK 0x00
#define SCSI_TYPE_ROM 0x05
#define SCSI_TYPE_WLUN 0x1e
#define SCSI_TYPE_NO_LUN 0x7f /* qualifier 011b, type 1Fh: no logical unit here */

/* Fixed-format sense data (SPC-4 4.5.3): 18 bytes */
#define SCSI_SENSE_LEN 18

/* ---- device state ------------------------------------------------------------------------- */

#define SCSI_MAX_UNITS VDEV_MAX_ARGS   /* one option per unit */
#define SCSI_MAX_TARGET 255
#define SCSI_MAX_LUN 16383
#define SCSI_MAX_REQ_QUEUES 16
#define SCSI_QUEUE_MAX 128
#define SCSI_CDB_MAX 32                /* CDB bytes the device looks at */
#define SCSI_CDB_SIZE_MIN 6            /* cdb_size the driver may write: 6..255 */
#define SCSI_CDB_SIZE_MAX 255
#define SCSI_SENSE_SIZE_MAX 65535      /* sense_size the driver may write: 0..65535 */
#define SCSI_BOUNCE 65536              /* bytes moved per world_io() call */
#define SCSI_DISK_BLOCK 512
#define SCSI_CD_BLOCK 2048

enum scsi_unit_type {
	SCSI_UNIT_DISK = 0,
	SCSI_UNIT_CD = 1,
};

/* Unit attention conditions (bits of scsi_unit.ua), reported one per command in
 * this order (the highest-priority pending condition first). */
enum scsi_ua {
	SCSI_UA_POWER_ON = 1u << 0,      /* 29/00: power on / device reset */
	SCSI_UA_LU_RESET = 1u << 1,      /* 29/03: LOGICAL UNIT RESET */
	SCSI_UA_NEXUS_LOSS = 1u << 2,    /* 29/07: I_T NEXUS RESET */
	SCSI_UA_NO_MEDIUM = 1u << 3,     /* 3A/00: the medium was removed */
	SCSI_UA_MEDIUM = 1u << 4,        /* 28/00: a medium was loaded */
	SCSI_UA_PARAMS = 1u << 5,        /* ua_param: a parameter changed (host event) */
	SCSI_UA_LUNS_CHANGED = 1u << 6,  /* 3F/0E: REPORTED LUNS DATA HAS CHANGED */
};

/* GET EVENT STATUS NOTIFICATION media event codes (MMC-5) */
#define MEC_NO_CHANGE 0
#define MEC_EJECT_REQUEST 1
#define MEC_NEW_MEDIA 2
#define MEC_MEDIA_REMOVAL 3

/* One logical unit. */
struct scsi_unit {
	enum scsi_unit_type type;
	uint8_t target;
	uint16_t lun;
	char key[24];                /* option that created it ("disk0", "cd1-2") */
	char serial[24];             /* VPD page 0x80 */
	bool present;                /* attached (hot-unplug clears it) */
	bool ro;                     /* writes fail with DATA PROTECT */
	struct world_backend *be;    /* NULL: empty CD-ROM drive (no image) */
	uint32_t block_size;
	uint64_t nblocks;            /* capacity of the loaded medium */
	bool medium;                 /* a medium is loaded (disks: always) */
	bool tray_open;              /* CD-ROM: tray open */
	bool prevent;                /* PREVENT ALLOW MEDIUM REMOVAL in effect */
	uint32_t ua;                 /* pending unit attentions, enum scsi_ua */
	uint16_t ua_param;           /* asc << 8 | ascq of SCSI_UA_PARAMS */
	uint8_t sense[SCSI_SENSE_LEN]; /* sense of the last CHECK CONDITION, kept for */
	uint8_t sense_len;             /* ...REQUEST SENSE until the next command */
	uint8_t media_event;         /* pending GET EVENT STATUS media event (MEC_*) */
	uint32_t an_events;          /* asynchronous notifications subscribed */
	/* as create() left them, for host_reset */
	bool medium0;
	uint64_t nblocks0;
};

struct scsi {
	unsigned nunits;
	struct scsi_unit units[SCSI_MAX_UNITS]; /* sorted by target, then LUN */
	uint32_t cdb_size;           /* in effect (driver-writable, validated) */
	uint32_t sense_size;
	bool events_missed;          /* an event was dropped: report EVENTS_MISSED */
	uint8_t *bounce;             /* SCSI_BOUNCE bytes */
};

/*
 * One command on its way through the logical unit: the CDB, where its data
 * goes, and the outcome the request queue turns into a response.
 */
struct scsi_cmd {
	struct vdev *d;
	struct scsi *s;
	struct scsi_unit *u;         /* NULL: no logical unit (see target/wlun) */
	uint8_t target;
	bool wlun;                   /* addressed to a REPORT LUNS well-known LU */
	bool domain_wlun;            /* ...the one of the whole SCSI domain (lun C1 01 ...) */
	uint8_t cdb[SCSI_CDB_MAX];   /* zero beyond cdb_len */
	uint32_t cdb_len;            /* bytes the driver supplied (cdb_size, up to 32 used) */
	struct vq_cursor in;         /* datain (device-writable) */
	struct vq_cursor out;        /* dataout (device-readable) */
	uint32_t in_len, out_len;    /* bytes of datain / dataout offered */
	/* outcome */
	uint8_t status;
	uint8_t response;            /* VIRTIO_SCSI_S_* */
	uint8_t sense[SCSI_SENSE_LEN];
	uint8_t sense_len;
	uint32_t in_done, out_done;  /* bytes moved */
};

/* A command implementation and when it may run. */
#define SCSI_OP_UA_OK 0x1    /* runs while a unit attention is pending (and keeps it) */
#define SCSI_OP_MEDIUM 0x2   /* needs a loaded medium: NOT READY otherwise */

struct scsi_op {
	uint8_t opcode;
	uint8_t flags;
	void (*exec)(struct scsi_cmd *c);
};

/* ---- spc.c ------------------------------------------------------------------------------ */

/* Run the command in c (c->u, c->cdb, buffers set up) and leave its outcome in
 * c. Handles incorrect logical unit selection, well-known LUs, pending sense
 * and unit attention, unknown opcodes and CDB length checks. */
void spc_execute(struct scsi_cmd *c);

/* End c with CHECK CONDITION and fixed sense data (key, asc << 8 | ascq). */
void scsi_check(struct scsi_cmd *c, uint8_t key, uint16_t asc);
/* The same with the INFORMATION field set to info (VALID bit) when it fits
 * 32 bits. */
void scsi_check_info(struct scsi_cmd *c, uint8_t key, uint16_t asc, uint64_t info);
/* ILLEGAL REQUEST / INVALID FIELD IN CDB with the sense-key specific field
 * pointer at CDB byte `byte` (SPC-4 4.5.2.4.2: SKSV=1, C/D=1). */
void scsi_bad_field(struct scsi_cmd *c, unsigned byte);
/* Fill an 18-byte fixed-format sense buffer. */
void scsi_fixed_sense(uint8_t *buf, uint8_t key, uint16_t asc);

/* Data-in of a command with an allocation length: send the first
 * min(len, alloc) bytes of buf. alloc above the datain buffer is
 * VIRTIO_SCSI_S_OVERRUN (5.6.6.1.1) and nothing is sent. */
void scsi_datain(struct scsi_cmd *c, const void *buf, size_t len, uint32_t alloc);
/* Stream bytes to datain (already checked to fit); false when guest memory
 * refused them (the request then ends with VIRTIO_SCSI_S_FAILURE). */
bool scsi_put(struct scsi_cmd *c, const void *buf, size_t len);
/* Fail the request at the transport level with response r. */
void scsi_fail(struct scsi_cmd *c, uint8_t response);

/* Raise unit attention bits on u (reported one per command, lowest bit
 * first). Power-on and device reset set SCSI_UA_POWER_ON alone instead
 * (scsi_unit_reset: a reset makes older conditions moot). */
void scsi_ua_set(struct scsi_unit *u, uint32_t bits);

/* The medium check of SCSI_OP_MEDIUM: true when u has a medium, else ends c
 * with NOT READY / MEDIUM NOT PRESENT (tray open or closed). */
bool scsi_medium_ready(struct scsi_cmd *c);

/* Big-endian helpers for CDBs and parameter data. */
static inline uint16_t scsi_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}
static inline uint32_t scsi_be24(const uint8_t *p)
{
	return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}
static inline uint32_t scsi_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t scsi_be64(const uint8_t *p)
{
	return (uint64_t)scsi_be32(p) << 32 | scsi_be32(p + 4);
}
static inline void scsi_st16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}
static inline void scsi_st24(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 16);
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)v;
}
static inline void scsi_st32(uint8_t *p, uint32_t v)
{
	scsi_st16(p, (uint16_t)(v >> 16));
	scsi_st16(p + 2, (uint16_t)v);
}
static inline void scsi_st64(uint8_t *p, uint64_t v)
{
	scsi_st32(p, (uint32_t)(v >> 32));
	scsi_st32(p + 4, (uint32_t)v);
}

/* ---- sbc.c / mmc.c ---------------------------------------------------------------------- */

/* Command tables of each unit type (looked up before the common SPC ones). */
const struct scsi_op *sbc_find(uint8_t opcode);
const struct scsi_op *mmc_find(uint8_t opcode);

/* Block commands both unit types share (SBC-3; MMC-5 reuses them). */
void sbc_read(struct scsi_cmd *c);
void sbc_read_capacity_10(struct scsi_cmd *c);
void sbc_service_action_in(struct scsi_cmd *c);
/* Mode pages of a unit for MODE SENSE: append page (0x3f: all) with page
 * control pc to buf at *len (buf holds at least 256 more bytes). Returns
 * false when u has no such page. */
bool sbc_mode_page(const struct scsi_unit *u, uint8_t page, uint8_t pc, uint8_t *buf,
		   size_t *len);
bool mmc_mode_page(const struct scsi_unit *u, uint8_t page, uint8_t pc, uint8_t *buf,
		   size_t *len);

/* Re-read the capacity of u's medium from its backend through the world.
 * Returns 0 or -errno (capacity then 0). */
int scsi_unit_refresh(struct vdev *d, struct scsi_unit *u);

/* CD-ROM media state changes (host events and START STOP UNIT): load
 * (true) or eject (false) the medium of u. Returns false when the eject is
 * prevented (an eject request event is then queued for GET EVENT STATUS). */
bool mmc_load(struct vdev *d, struct scsi_unit *u, bool load, bool host);

/* ---- scsi.c ----------------------------------------------------------------------------- */

/* Queue an event for the driver on the eventq (5.6.6.3): delivered now if a
 * buffer is available, else counted as missed. */
void scsi_event(struct vdev *d, uint32_t event, const struct scsi_unit *u, uint32_t reason);

#endif
