/*
 * ringside — trace format internals shared by trace.c, its tests and the
 * reader's fuzz target. The byte layout is documented in docs/trace-format.md;
 * the numbers here are that document's.
 */
#ifndef RINGSIDE_REPLAY_TRACE_PRIV_H
#define RINGSIDE_REPLAY_TRACE_PRIV_H

#include "ringside/trace.h"

/* File header: magic, version, header length, fields, CRC32C. */
#define TRACE_MAGIC "RSTRACE"           /* 8 bytes with its NUL */
#define TRACE_MAGIC_LEN 8
#define TRACE_HDR_FIXED 16              /* magic, version, header length */
#define TRACE_HDR_MIN (TRACE_HDR_FIXED + 2 + 2 + 2 + 4 + 4) /* every field empty */
#define TRACE_HDR_MAX (TRACE_HDR_MIN + TRACE_MAX_SPEC + 31 + 63 + TRACE_MAX_WORLD)

/* Frame header: magic, compressed and uncompressed size, event count, first
 * event index, reserved, CRC32C of the 28 bytes before it. */
#define TRACE_FRAME_MAGIC "RSFR"
#define TRACE_FRAME_HDR 32

/* Frame index (after the last frame): magic, reserved, frame count, one
 * entry per frame, CRC32C. Footer (last 32 bytes of the file): index
 * offset, frame count, event count, CRC32C, magic. */
#define TRACE_INDEX_MAGIC "RSIX"
#define TRACE_INDEX_HDR 16
#define TRACE_INDEX_ENTRY 24
#define TRACE_FOOTER_MAGIC "RSFT"
#define TRACE_FOOTER 32

/* Event encoding: first byte type (bits 0-4) and size code (bits 5-7),
 * second byte the mask of the fields that follow. */
#define TRACE_TYPE_MASK 0x1f
#define TRACE_SIZE_SHIFT 5
#define TRACE_SIZE_VARINT 5             /* size code: a varint follows */
#define TRACE_F_ADDR 0x01               /* zigzag delta from the stream's base */
#define TRACE_F_VALUE 0x02
#define TRACE_F_DEV 0x04
#define TRACE_F_KIND 0x08
#define TRACE_F_DATA 0x10               /* len varint, then len bytes */
#define TRACE_F_RESERVED 0xe0

/* CRC32C (Castagnoli, reflected polynomial 0x82f63b78, initial value and
 * final xor 0xffffffff) of len bytes: the checksum of every header, index
 * and footer. trace_crc32c("123456789", 9) == 0xe3069283. */
uint32_t trace_crc32c(const void *buf, size_t len);

/* Reader flags for trace_reader_open_mem_flags. */
#define TRACE_RD_NO_CHECKSUM 1u         /* fuzzing only: skip every checksum test */

/* trace_reader_open_mem with flags. */
struct trace_reader *trace_reader_open_mem_flags(const void *buf, size_t len, unsigned flags,
						 struct trace_error *err);

/*
 * Decode the uncompressed body of a frame: at most max events into evs[]
 * (data pointing into raw), with every field validated as the reader does.
 * Returns the number of events decoded and sets *used to the bytes they
 * took, or -1 with err filled (TRACE_E_EVENT or TRACE_E_LIMIT; frame 0,
 * offset 0). Lets the fuzz target reach the event decoder without zstd.
 */
long trace_block_decode(const uint8_t *raw, size_t len, struct trace_event *evs, size_t max,
			size_t *used, struct trace_error *err);

#endif
