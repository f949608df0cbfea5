/*
 * ringside — the op-stream decoder, shared by every fuzz target
 * (format: docs/op-stream.md).
 *
 * An input is read from both ends. Fixed 16-byte op records are taken from
 * the front; variable data (memory contents, chain contents, world inputs,
 * lazy DMA) from the back. A mutated byte therefore changes one field of one
 * op, or one data byte, and never shifts how the records after it are cut.
 * Every byte value means something: byte 0 of a record is mapped onto the
 * target's op set modulo its size, and every other field is reduced modulo
 * its range by the executor.
 */
#include <inttypes.h>
#include <string.h>

#include "fuzz.h"

static const uint8_t device_ops[] = {
	FOP_REG_READ,      FOP_REG_WRITE,   FOP_CFG_READ,    FOP_CFG_WRITE,
	FOP_IO_RAW,        FOP_MEM_WRITE,   FOP_RING_WRITE,  FOP_DRIVER_INIT,
	FOP_SUBMIT,        FOP_KICK,        FOP_COLLECT,     FOP_IRQ_ACK,
	FOP_SET_INTERRUPTS, FOP_RESET,      FOP_STATUS,      FOP_DEVCFG,
	FOP_WORLD_FAULT,   FOP_WORLD_EVENT, FOP_WORLD_CLOCK,
};

static const uint8_t ring_ops[] = {
	FOP_RING_SETUP, FOP_RING_WRITE,   FOP_MEM_WRITE,  FOP_SUBMIT,
	FOP_POP,        FOP_PUSH,         FOP_PUSH_N,     FOP_NOTIFY_CHECK,
	FOP_SET_NOTIFY, FOP_COLLECT,      FOP_SET_INTERRUPTS, FOP_RING_RESET,
};

const struct fuzz_opset fuzz_opset_device = { device_ops, RS_ARRAY_SIZE(device_ops) };
const struct fuzz_opset fuzz_opset_ring = { ring_ops, RS_ARRAY_SIZE(ring_ops) };

static const char *const op_names[FOP__COUNT] = {
	[FOP_NONE] = "NONE",
	[FOP_REG_READ] = "REG_READ",
	[FOP_REG_WRITE] = "REG_WRITE",
	[FOP_CFG_READ] = "CFG_READ",
	[FOP_CFG_WRITE] = "CFG_WRITE",
	[FOP_IO_RAW] = "IO_RAW",
	[FOP_MEM_WRITE] = "MEM_WRITE",
	[FOP_RING_WRITE] = "RING_WRITE",
	[FOP_DRIVER_INIT] = "DRIVER_INIT",
	[FOP_SUBMIT] = "SUBMIT",
	[FOP_KICK] = "KICK",
	[FOP_COLLECT] = "COLLECT",
	[FOP_IRQ_ACK] = "IRQ_ACK",
	[FOP_SET_INTERRUPTS] = "SET_INTERRUPTS",
	[FOP_RESET] = "RESET",
	[FOP_STATUS] = "STATUS",
	[FOP_DEVCFG] = "DEVCFG",
	[FOP_WORLD_FAULT] = "WORLD_FAULT",
	[FOP_WORLD_EVENT] = "WORLD_EVENT",
	[FOP_WORLD_CLOCK] = "WORLD_CLOCK",
	[FOP_RING_SETUP] = "RING_SETUP",
	[FOP_POP] = "POP",
	[FOP_PUSH] = "PUSH",
	[FOP_PUSH_N] = "PUSH_N",
	[FOP_NOTIFY_CHECK] = "NOTIFY_CHECK",
	[FOP_SET_NOTIFY] = "SET_NOTIFY",
	[FOP_RING_RESET] = "RING_RESET",
};

const char *fuzz_op_name(unsigned code)
{
	return code > FOP_NONE && code < FOP__COUNT ? op_names[code] : "?";
}

void fuzz_input_init(struct fuzz_input *in, const uint8_t *data, size_t size)
{
	memset(in, 0, sizeof(*in));
	in->data = data;
	in->size = data ? size : 0;
	in->back = in->size;
}

int fuzz_next_op(struct fuzz_input *in, const struct fuzz_opset *set, struct fuzz_op *op)
{
	const uint8_t *r;

	if (in->back - in->front < FUZZ_OP_SIZE)
		return 0;
	r = in->data + in->front;
	op->raw = r[0];
	op->code = set->ops[r[0] % set->n];
	op->dev = r[1];
	op->p0 = r[2];
	op->p1 = r[3];
	op->p2 = rs_le16(r + 4);
	op->p3 = rs_le16(r + 6);
	op->val = rs_le64(r + 8);
	op->offset = in->front;
	op->index = in->nops++;
	in->front += FUZZ_OP_SIZE;
	return 1;
}

size_t fuzz_take(struct fuzz_input *in, void *dst, size_t n)
{
	size_t avail = in->back - in->front, got = RS_MIN(avail, n);

	in->back -= got;
	if (dst) {
		if (got)
			memcpy(dst, in->data + in->back, got);
		if (n > got)
			memset((uint8_t *)dst + got, 0, n - got);
	}
	in->taken += got;
	in->zeros += n - got;
	return got;
}

void fuzz_op_encode(uint8_t out[FUZZ_OP_SIZE], unsigned code_byte, uint8_t dev, uint8_t p0,
		    uint8_t p1, uint16_t p2, uint16_t p3, uint64_t val)
{
	out[0] = (uint8_t)code_byte;
	out[1] = dev;
	out[2] = p0;
	out[3] = p1;
	rs_st16(out + 4, p2);
	rs_st16(out + 6, p3);
	rs_st64(out + 8, val);
}

int fuzz_opset_byte(const struct fuzz_opset *set, unsigned code)
{
	for (unsigned i = 0; i < set->n; i++)
		if (set->ops[i] == code)
			return (int)i;
	return -1;
}

static const char *const ring_areas[] = { "desc", "driver", "device" };
static const char *const fault_kinds[] = { "io", "entropy", "short", "clear" };

void fuzz_op_format(const struct fuzz_op *op, char *buf, size_t len)
{
	const char *name = fuzz_op_name(op->code);
	unsigned q = op->p0 & 7;
	int n;

	n = snprintf(buf, len, "%4u @%-5zu %-14s dev=%u ", op->index, op->offset, name, op->dev);
	if (n < 0 || (size_t)n >= len)
		return;
	buf += n;
	len -= (size_t)n;
	switch (op->code) {
	case FOP_REG_READ:
		snprintf(buf, len, "region=%u size=%u off=0x%x", op->p0, fuzz_size4(op->p1),
			 op->p2);
		break;
	case FOP_REG_WRITE:
		snprintf(buf, len, "region=%u size=%u off=0x%x val=0x%" PRIx64, op->p0,
			 fuzz_size4(op->p1), op->p2, op->val);
		break;
	case FOP_CFG_READ:
	case FOP_CFG_WRITE:
		snprintf(buf, len, "slot=%s%.0u size=%u off=0x%x val=0x%" PRIx64,
			 op->p0 & 0x80 ? "" : "dev", op->p0 & 0x80 ? op->p0 % 32u : 0,
			 fuzz_size4(op->p1) > 4 ? 4 : fuzz_size4(op->p1), op->p2 & 0xff,
			 op->code == FOP_CFG_WRITE ? op->val : 0);
		break;
	case FOP_IO_RAW:
		snprintf(buf, len, "%s %s size=%u addr=0x%" PRIx64 " val=0x%" PRIx64,
			 op->p0 & 1 ? "mmio" : "pio", op->p0 & 2 ? "write" : "read",
			 fuzz_size4(op->p1),
			 op->p0 & 1 ? (uint64_t)MACHINE_VMMIO_BASE + ((uint64_t)op->p3 << 16 | op->p2)
				    : (uint64_t)op->p2,
			 op->val);
		break;
	case FOP_MEM_WRITE:
		if (op->p0 & 0x80)
			snprintf(buf, len, "gpa=0x%x inline len=%u val=0x%" PRIx64,
				 (unsigned)op->p3 << 16 | op->p2, (op->p0 & 7) + 1u, op->val);
		else
			snprintf(buf, len, "gpa=0x%x data len=%u", (unsigned)op->p3 << 16 | op->p2,
				 ((op->p0 & 0x7fu) << 8 | op->p1) + 1u);
		break;
	case FOP_RING_WRITE:
		snprintf(buf, len, "q=%u area=%s size=%u off=0x%x val=0x%" PRIx64, q,
			 ring_areas[op->p1 % 3], fuzz_size4(op->p1 >> 2), op->p2, op->val);
		break;
	case FOP_DRIVER_INIT:
		snprintf(buf, len, "features=0x%" PRIx64 " qsize=%u queues=%u%s%s%s", op->val,
			 op->p2, op->p1, op->p0 & FUZZ_INIT_MSIX ? " msix" : "",
			 op->p0 & FUZZ_INIT_NO_OK ? " no-driver-ok" : "",
			 op->p0 & FUZZ_INIT_NO_QUEUES ? " no-queues" : "");
		break;
	case FOP_SUBMIT:
		snprintf(buf, len, "q=%u out=%u in=%u lens=%u,%u,%u,%u align=%u%s%s%s%s", q,
			 op->p1 & 15u, op->p1 >> 4, (unsigned)(op->val & 0xffff),
			 (unsigned)(op->val >> 16 & 0xffff), (unsigned)(op->val >> 32 & 0xffff),
			 (unsigned)(op->val >> 48), op->p2 & 0xfu,
			 op->p0 & FUZZ_SUB_INDIRECT ? " indirect" : "",
			 op->p0 & FUZZ_SUB_NO_KICK ? " no-kick" : "",
			 op->p0 & FUZZ_SUB_FILL ? " fill" : "",
			 op->p0 & FUZZ_SUB_COLLECT ? " collect" : "");
		break;
	case FOP_KICK:
		snprintf(buf, len, "q=%u%s", q, op->p1 & 1 ? " forced" : "");
		break;
	case FOP_COLLECT:
		if (op->p0 & 0x80)
			snprintf(buf, len, "q=all");
		else
			snprintf(buf, len, "q=%u", q);
		break;
	case FOP_SET_INTERRUPTS:
		snprintf(buf, len, "q=%u %s", q, op->p1 & 1 ? "enable" : "disable");
		break;
	case FOP_STATUS:
		snprintf(buf, len, "%s 0x%02x", op->p0 & 1 ? "add" : "set", op->p1);
		break;
	case FOP_DEVCFG:
		snprintf(buf, len, "%s size=%u off=0x%x val=0x%" PRIx64, op->p0 & 1 ? "write" : "read",
			 fuzz_size4(op->p1), op->p2, op->val);
		break;
	case FOP_WORLD_FAULT:
		snprintf(buf, len, "kind=%s mask=0x%" PRIx64 " errno#%u", fault_kinds[op->p0 % 4],
			 op->val, op->p1 % 8u);
		break;
	case FOP_WORLD_EVENT:
		snprintf(buf, len, "kind=%u%s port=%u arg=0x%" PRIx64 " len=%u", 1u + op->p0 % 8u,
			 op->p0 & 0x80 ? " raw-dev" : "", op->p3, op->val,
			 op->p2 % (FUZZ_WORLD_EVENT_DATA + 1u));
		break;
	case FOP_WORLD_CLOCK:
		snprintf(buf, len, "advance=%" PRIu64 "ns", op->val);
		break;
	case FOP_RING_SETUP:
		snprintf(buf, len, "%s num=%u skew=%u features=0x%" PRIx64,
			 op->p0 & 1 ? "packed" : "split", op->p2, op->p3 & 0x3fu, op->val);
		break;
	case FOP_POP:
		snprintf(buf, len, "n=%u write=%u fill=0x%02x", 1u + op->p0 % 8u, op->p2,
			 (unsigned)(op->val & 0xff));
		break;
	case FOP_PUSH:
		snprintf(buf, len, "held#%u len=%s", op->p0, op->p1 & 1 ? "val" : "written");
		break;
	case FOP_PUSH_N:
		snprintf(buf, len, "n=%u", 1u + op->p0 % 8u);
		break;
	case FOP_SET_NOTIFY:
		snprintf(buf, len, "%s", op->p0 & 1 ? "enable" : "disable");
		break;
	default:
		if (len)
			buf[0] = '\0';
		break;
	}
}

void fuzz_list(const struct fuzz_opset *set, const uint8_t *data, size_t size, FILE *out)
{
	struct fuzz_input in;
	struct fuzz_op op;
	char line[256];

	fuzz_input_init(&in, data, size);
	fprintf(out, "# %zu bytes: up to %zu op records (data for the ops is read from the end)\n",
		size, size / FUZZ_OP_SIZE);
	while (fuzz_next_op(&in, set, &op)) {
		fuzz_op_format(&op, line, sizeof(line));
		fprintf(out, "%s\n", line);
	}
}
