/* ringside tests — check library (see check.h). */
#include "check.h"

#include <stdlib.h>

#include "ringside/guest_machine.h"

unsigned check_failures;
static unsigned tests_passed, tests_failed;

void check_fail(const char *file, int line, const char *expr)
{
	check_failures++;
	fprintf(stderr, "%s:%d: check failed: %s\n", file, line, expr);
}

void check_fail_eq(const char *file, int line, const char *a, const char *b, uint64_t va,
		   uint64_t vb)
{
	check_failures++;
	fprintf(stderr, "%s:%d: check failed: %s == %s (0x%" PRIx64 " != 0x%" PRIx64 ")\n", file,
		line, a, b, va, vb);
}

void check_run(const char *name, void (*fn)(void))
{
	check_failures = 0;
	fn();
	if (check_failures) {
		tests_failed++;
		printf("FAIL %s (%u checks failed)\n", name, check_failures);
	} else {
		tests_passed++;
		printf("ok   %s\n", name);
	}
	fflush(stdout);
}

int check_done(void)
{
	printf("%u passed, %u failed\n", tests_passed, tests_failed);
	return tests_failed ? 1 : 0;
}

void check_skip_all(const char *why)
{
	printf("SKIPPED: %s\n", why);
	exit(77);
}

void check_machine_io(struct gdrv_io *io, struct machine *m)
{
	gdrv_machine_io(io, m);
}
