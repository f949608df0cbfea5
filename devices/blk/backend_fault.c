/*
 * ringside — blk "fault" backend: fails chosen I/Os of the backend it wraps,
 * so I/O errors can be tested end to end (see ringside/blk.h for the rule
 * syntax). Counting is per backend call and per operation, from 1, and is
 * deterministic: the same guest session fails the same calls.
 *
 * Only ever invoked through world_io().
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringside/blk.h"
#include "blk.h"

#define FAULT_MAX_RULES 32

enum fault_op {
	FOP_READ,
	FOP_WRITE,
	FOP_FLUSH,
	FOP_DISCARD,
	FOP_WRITE_ZEROES,
	FOP_SIZE,
	FOP_ANY,     /* every call but SIZE */
	FOP__COUNT,
};

static const char *const fault_op_names[FOP__COUNT] = {
	"read", "write", "flush", "discard", "write-zeroes", "size", "any",
};

struct fault_rule {
	enum fault_op op;
	uint64_t first, last;  /* calls first..last (1-based) of op fail */
};

struct blk_fault {
	struct world_backend be;
	struct world_backend *inner;
	struct fault_rule rules[FAULT_MAX_RULES];
	unsigned nrules;
	uint64_t count[FOP__COUNT];
	uint64_t injected;
};

/* Parse a decimal count >= 1 from [*p, end). Returns 0 and advances *p, or
 * -EINVAL. */
static int fault_number(const char **p, const char *end, uint64_t *out)
{
	uint64_t v = 0;
	const char *s = *p;

	if (s == end || *s < '0' || *s > '9')
		return -EINVAL;
	for (; s < end && *s >= '0' && *s <= '9'; s++) {
		if (v > (UINT64_MAX - 9) / 10)
			return -EINVAL;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	if (v == 0)
		return -EINVAL;
	*p = s;
	*out = v;
	return 0;
}

/* Parse one rule "OP:WHICH" in [s, end). Returns 0 or -EINVAL. */
static int fault_rule_parse(const char *s, const char *end, struct fault_rule *r)
{
	const char *colon = memchr(s, ':', (size_t)(end - s));
	unsigned op;

	if (!colon)
		return -EINVAL;
	for (op = 0; op < FOP__COUNT; op++)
		if (strlen(fault_op_names[op]) == (size_t)(colon - s) &&
		    memcmp(fault_op_names[op], s, (size_t)(colon - s)) == 0)
			break;
	if (op == FOP__COUNT)
		return -EINVAL;
	r->op = (enum fault_op)op;
	s = colon + 1;
	if (end - s == 1 && *s == '*') {
		r->first = 1;
		r->last = UINT64_MAX;
		return 0;
	}
	if (fault_number(&s, end, &r->first) < 0)
		return -EINVAL;
	r->last = r->first;
	if (s < end && *s == '-') {
		s++;
		r->last = UINT64_MAX;
		if (s < end && fault_number(&s, end, &r->last) < 0)
			return -EINVAL;
	}
	return s == end && r->last >= r->first ? 0 : -EINVAL;
}

/* Which counter a request advances. */
static enum fault_op fault_op_of(enum world_io_op op)
{
	switch (op) {
	case WIO_READ: return FOP_READ;
	case WIO_WRITE: return FOP_WRITE;
	case WIO_FLUSH: return FOP_FLUSH;
	case WIO_DISCARD: return FOP_DISCARD;
	case WIO_WRITE_ZEROES: return FOP_WRITE_ZEROES;
	case WIO_SIZE: return FOP_SIZE;
	default: return FOP__COUNT;
	}
}

static int64_t fault_io(struct world_backend *b, struct world_io *req)
{
	struct blk_fault *f = b->ctx;
	enum fault_op op = fault_op_of(req->op);
	uint64_t n = 0, any = 0;

	if (op != FOP__COUNT)
		n = ++f->count[op];
	if (op != FOP__COUNT && op != FOP_SIZE)
		any = ++f->count[FOP_ANY];
	for (unsigned i = 0; i < f->nrules; i++) {
		const struct fault_rule *r = &f->rules[i];
		uint64_t c = r->op == FOP_ANY ? any : r->op == op ? n : 0;

		if (c && c >= r->first && c <= r->last) {
			f->injected++;
			return -EIO;
		}
	}
	return f->inner->ops->io(f->inner, req);
}

static void fault_destroy(struct world_backend *b)
{
	struct blk_fault *f = b->ctx;

	blk_backend_destroy(f->inner);
	free(f);
}

const struct world_backend_ops blk_fault_ops = {
	.name = "blk-fault",
	.io = fault_io,
	.destroy = fault_destroy,
};

int blk_fault_new(struct world_backend *inner, const char *spec, struct world_backend **out,
		  char *err, size_t errlen)
{
	struct blk_fault *f;
	const char *s = spec, *end;

	*out = NULL;
	f = calloc(1, sizeof *f);
	if (!f) {
		if (err && errlen)
			snprintf(err, errlen, "blk: out of memory");
		return -ENOMEM;
	}
	/* Bounded: each pass consumes one rule and its separator. */
	while (*s) {
		end = s + strcspn(s, "+,");
		if (f->nrules == FAULT_MAX_RULES ||
		    fault_rule_parse(s, end, &f->rules[f->nrules]) < 0) {
			if (err && errlen)
				snprintf(err, errlen,
					 "blk: fault=: bad rule '%.*s' (want OP:N, OP:N-M, OP:N- or "
					 "OP:*, OP read/write/flush/discard/write-zeroes/size/any; "
					 "at most %d rules joined by '+')",
					 (int)RS_MIN(end - s, 40), s, FAULT_MAX_RULES);
			free(f);
			return -EINVAL;
		}
		f->nrules++;
		s = *end ? end + 1 : end;
	}
	if (!f->nrules) {
		if (err && errlen)
			snprintf(err, errlen, "blk: fault= needs at least one rule, e.g. read:3");
		free(f);
		return -EINVAL;
	}
	f->inner = inner;
	f->be.ops = &blk_fault_ops;
	f->be.ctx = f;
	f->be.dev = inner->dev;
	snprintf(f->be.name, sizeof f->be.name, "fault:%.20s", inner->name);
	*out = &f->be;
	return 0;
}

void blk_fault_reset(struct world_backend *b)
{
	if (!b || b->ops != &blk_fault_ops)
		return;
	struct blk_fault *f = b->ctx;

	memset(f->count, 0, sizeof f->count);
	f->injected = 0;
}

uint64_t blk_fault_injected(const struct world_backend *b)
{
	if (!b || b->ops != &blk_fault_ops)
		return 0;
	return ((const struct blk_fault *)b->ctx)->injected;
}

struct world_backend *blk_backend_unwrap(struct world_backend *b)
{
	if (b && b->ops == &blk_fault_ops)
		return ((struct blk_fault *)b->ctx)->inner;
	return b;
}

void blk_backend_destroy(struct world_backend *b)
{
	if (b && b->ops->destroy)
		b->ops->destroy(b);
}
