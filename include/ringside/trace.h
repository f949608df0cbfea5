/*
 * ringside — traces: what crossed the device boundary, in order.
 *
 * A trace is a versioned header (magic, format version, machine spec,
 * initial world state, recorder and build identity) followed by independent
 * zstd frames of events, each frame with a checksum, and a frame index at
 * the end for seeking. A truncated or damaged file still yields every
 * complete frame before the damage; damage is reported with a stable error
 * code, the frame number and the byte offset — never trusted, never a crash,
 * never an unbounded allocation. The byte layout is in docs/trace-format.md.
 *
 * Event order is total. An access event (PIO/MMIO/PCI config, read or
 * write) comes before every event it caused (DMA, interrupts, world inputs
 * consumed while handling it); a read carries the value the device returned.
 */
#ifndef RINGSIDE_TRACE_H
#define RINGSIDE_TRACE_H

#include "ringside/base.h"

#define TRACE_FORMAT_VERSION 1

enum trace_ev {
	TEV_PIO_READ = 1,     /* addr: port, size, value: returned */
	TEV_PIO_WRITE = 2,    /* addr: port, size, value */
	TEV_MMIO_READ = 3,    /* addr: gpa, size, value: returned */
	TEV_MMIO_WRITE = 4,   /* addr: gpa, size, value */
	TEV_PCI_CFG_READ = 5, /* conf1 data-port read: addr: port, size, value; dev: slot, kind: offset */
	TEV_PCI_CFG_WRITE = 6,/* conf1 data-port write, as above */
	TEV_DMA_READ = 7,     /* device read guest memory: addr: gpa, data: bytes seen */
	TEV_DMA_WRITE = 8,    /* device wrote guest memory: addr: gpa, data: bytes */
	TEV_IRQ = 9,          /* INTx: addr: gsi, value: level */
	TEV_MSI = 10,         /* addr: MSI address, value: data */
	TEV_WORLD = 11,       /* world input: kind: enum world_input in bits 0-7 (WIN_IO:
			       * the io op in bits 8-15; bit 16: continuation of the
			       * previous event's data), dev, value, data; addr: event
			       * kind / io offset / clock; size: port / requested len
			       * (docs/trace-format.md, "What the recorder writes") */
	TEV_CHECKPOINT = 12,  /* dev: device index, value: vdev_state_hash */
	TEV__MAX
};

#define TRACE_MAX_DATA (1u << 20) /* bytes of data in one event */

/* Writer: a frame is cut after this many events or bytes of encoded events
 * (whichever comes first), and at every trace_writer_flush. */
#define TRACE_FRAME_EVENTS 4096
#define TRACE_FRAME_BYTES (1u << 20)

/* Reader limits: anything above them is TRACE_E_LIMIT, checked before any
 * allocation. The writer stays far below them. */
#define TRACE_MAX_SPEC 4095               /* bytes of machine spec */
#define TRACE_MAX_WORLD (64u << 20)       /* bytes of initial world state */
#define TRACE_MAX_FRAME_RAW (16u << 20)   /* uncompressed bytes of one frame */
#define TRACE_MAX_FRAME_EVENTS 65536      /* events in one frame */
#define TRACE_MAX_FRAMES (1u << 24)       /* frames in one trace (bounds the index) */

struct trace_event {
	enum trace_ev type;
	uint32_t size;          /* access size (1, 2, 4, 8) or requested length */
	uint64_t addr;
	uint64_t value;
	uint32_t dev;
	uint32_t kind;
	uint32_t len;           /* bytes at data */
	const uint8_t *data;    /* reader: valid until the next trace_read */
};

/* Stable error codes (files outlive builds; append only). */
enum trace_err {
	TRACE_OK = 0,
	TRACE_E_IO = 1,         /* open/read/write failed (errno in detail) */
	TRACE_E_MAGIC = 2,      /* not a ringside trace */
	TRACE_E_VERSION = 3,    /* format version not supported */
	TRACE_E_HEADER = 4,     /* header malformed */
	TRACE_E_TRUNCATED = 5,  /* file ends inside a frame */
	TRACE_E_CHECKSUM = 6,   /* frame checksum mismatch */
	TRACE_E_FRAME = 7,      /* frame not decodable (zstd error, bad size) */
	TRACE_E_EVENT = 8,      /* event malformed inside a good frame */
	TRACE_E_LIMIT = 9,      /* a size above the format's limits */
	TRACE_E_NOMEM = 10,
	TRACE_E_INDEX = 11,     /* frame index missing or inconsistent (seeking only) */
	TRACE_E_USAGE = 12,     /* API misuse (bad argument) */
};

/* Where and why reading or writing failed. */
struct trace_error {
	enum trace_err code;
	uint64_t frame;         /* frame number (0-based) */
	uint64_t offset;        /* byte offset in the file */
	char msg[200];          /* one line, names the frame and the offset */
};

/* "TRACE_E_TRUNCATED", ...; "TRACE_E_UNKNOWN" for a number not in the enum. */
const char *trace_err_name(enum trace_err code);

/* "pio-read", "mmio-write", "dma-read", "world", ...; "unknown" otherwise. */
const char *trace_ev_name(enum trace_ev type);

/*
 * One event as one line of text (no index, no newline), e.g.
 * "mmio-write 0xe0003000 2 0x0000", "dma-read 0x00012000 len 16: 01 02 ...",
 * "world io dev 0 read at 0x1000 len 512 -> 512 data 512: 00 ...": data
 * shown as a hexdump of its first 16 bytes; fields the type's form does not
 * use are appended as "name=value" when not zero, so nothing is hidden.
 * Like snprintf: writes at most size bytes (NUL included) and returns the
 * length the full text needs.
 */
size_t trace_event_str(char *buf, size_t size, const struct trace_event *ev);

struct trace_header {
	uint32_t version;
	char machine_spec[4096];
	char recorder[32];      /* "kvm", "unicorn", "inproc", ... */
	char build[64];         /* ringside version + compiler */
	uint32_t world_len;     /* bytes of initial world state */
	uint8_t *world;         /* initial world state (e.g. disk identities) */
};

struct trace_writer;
struct trace_reader;

/*
 * Create a trace at path (written to path.tmp and renamed at close, so a
 * failed recording never leaves a half-written file under the final name —
 * a recorder killed mid-way leaves path.tmp, whose complete frames read).
 * Returns NULL with *err filled.
 */
struct trace_writer *trace_writer_open(const char *path, const struct trace_header *h,
				       struct trace_error *err);
/* Append one event; frames are cut every TRACE_FRAME_EVENTS events or
 * TRACE_FRAME_BYTES bytes, and at trace_writer_flush. 0 or -1 (err set). */
int trace_write(struct trace_writer *w, const struct trace_event *ev, struct trace_error *err);
/* Close the current frame now (the recorder calls this at least every
 * 100 ms). 0 or -1. */
int trace_writer_flush(struct trace_writer *w, struct trace_error *err);
/* Flush, write the frame index and footer, rename into place. 0 or -1; the
 * writer is freed either way. */
int trace_writer_close(struct trace_writer *w, struct trace_error *err);
/* Abandon: free, remove the temporary file. NULL is fine. */
void trace_writer_abort(struct trace_writer *w);
/* Events accepted so far. */
uint64_t trace_writer_events(const struct trace_writer *w);

/* Open for reading; validates the header. NULL with *err filled. */
struct trace_reader *trace_reader_open(const char *path, struct trace_error *err);
/* The same over len bytes at buf (not copied: buf must stay valid and
 * unchanged until trace_reader_close). For fuzzers and in-memory traces. */
struct trace_reader *trace_reader_open_mem(const void *buf, size_t len,
					   struct trace_error *err);
const struct trace_header *trace_reader_header(const struct trace_reader *r);
/* Next event: 1 with *ev, 0 at a clean end, -1 on damage (err names the
 * frame and offset; events before it were all delivered). After -1 every
 * further call returns -1 with the same error (until a seek). */
int trace_read(struct trace_reader *r, struct trace_event *ev, struct trace_error *err);
/*
 * Position the reader so the next trace_read returns event number index
 * (0-based; index == the event count positions at the end). Needs the frame
 * index: a trace without one (recorder killed) gives TRACE_E_INDEX, as does
 * an index that disagrees with the frames. Clears an earlier read error, so
 * a reader can skip past a damaged frame. 0 or -1 (err set; TRACE_E_USAGE
 * when index is beyond the end).
 */
int trace_reader_seek_event(struct trace_reader *r, uint64_t index, struct trace_error *err);

/* What a reader has seen so far (after reading to the end: the whole file). */
struct trace_info {
	uint64_t file_bytes;    /* size of the file */
	uint64_t header_bytes;  /* size of the header */
	uint64_t frames;        /* frames decoded */
	uint64_t events;        /* events delivered */
	uint64_t raw_bytes;     /* uncompressed bytes of the frames decoded */
	uint64_t zstd_bytes;    /* compressed bytes of the frames decoded (our frame
				 * headers not included) */
	bool indexed;           /* frame index and footer present and consistent */
	uint64_t index_frames;  /* if indexed: frames and events the index lists */
	uint64_t index_events;
};
void trace_reader_info(const struct trace_reader *r, struct trace_info *info);
/* Free the reader (and its header's world blob). NULL is fine. */
void trace_reader_close(struct trace_reader *r);

#endif
