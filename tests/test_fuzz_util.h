/*
 * ringside tests — helpers shared by the fuzz harness tests
 * (test_fuzz_determinism.c, test_oracles.c): a deterministic generator of
 * noise and an in-memory corpus that fuzz_builder sessions emit into.
 */
#ifndef RS_TESTS_FUZZ_UTIL_H
#define RS_TESTS_FUZZ_UTIL_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

/* xorshift64: the next value of the generator whose state is *s (not 0). */
static inline uint64_t xorshift64(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

#define TEST_CORPUS_MAX 1024

/* Inputs kept in memory, in the order they were emitted. */
struct corpus {
	uint8_t *buf[TEST_CORPUS_MAX];
	size_t len[TEST_CORPUS_MAX];
	unsigned n;
};

/* fuzz_builder's emit callback (ctx: the corpus); a full corpus drops the input. */
static inline void corpus_keep(void *ctx, const char *name, const uint8_t *buf, size_t len)
{
	struct corpus *c = ctx;

	(void)name;
	if (c->n == TEST_CORPUS_MAX)
		return;
	c->buf[c->n] = malloc(len ? len : 1);
	if (!c->buf[c->n])
		return;
	memcpy(c->buf[c->n], buf, len);
	c->len[c->n++] = len;
}

static inline void corpus_free(struct corpus *c)
{
	for (unsigned i = 0; i < c->n; i++)
		free(c->buf[i]);
	c->n = 0;
}

#endif
