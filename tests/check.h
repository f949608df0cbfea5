/*
 * ringside tests — a very small check library.
 *
 *   static void test_x(void) { CHECK(a == b); CHECK_EQ(x, 3); }
 *   int main(void) { RUN(test_x); return check_done(); }
 *
 * A failed check prints file:line, the expression and (for CHECK_EQ) both
 * values, and the test goes on; check_done() prints "N passed, N failed"
 * and returns the exit status (0 when nothing failed).
 */
#ifndef RS_TESTS_CHECK_H
#define RS_TESTS_CHECK_H

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "ringside/guest.h"
#include "ringside/machine.h"

extern unsigned check_failures;       /* failed checks in the current test */

void check_fail(const char *file, int line, const char *expr);
void check_fail_eq(const char *file, int line, const char *a, const char *b, uint64_t va,
		   uint64_t vb);
void check_run(const char *name, void (*fn)(void));
int check_done(void);
/* Exit with the ctest skip code (77) after printing why. */
void check_skip_all(const char *why);

#define CHECK(c) ((c) ? (void)0 : check_fail(__FILE__, __LINE__, #c))
#define CHECK_EQ(a, b)                                                                    \
	do {                                                                              \
		uint64_t va_ = (uint64_t)(a), vb_ = (uint64_t)(b);                        \
		if (va_ != vb_)                                                           \
			check_fail_eq(__FILE__, __LINE__, #a, #b, va_, vb_);              \
	} while (0)
#define RUN(fn) check_run(#fn, fn)

/* A reference-driver I/O table over an in-process machine. */
void check_machine_io(struct gdrv_io *io, struct machine *m);

#endif
