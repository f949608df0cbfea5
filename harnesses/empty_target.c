/*
 * ringside — the empty libFuzzer target (harnesses/CMakeLists.txt:
 * bin/fuzz_empty_libfuzzer, fuzz preset only).
 *
 * It does nothing with its input. Built with the same compiler, sanitizers
 * and libFuzzer runtime as the real targets, it measures the floor of the
 * engine itself: `ringside bench fuzz` divides every target's exec/s by
 * this one's (the `median_ratio`).
 */
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Accept every input and touch none of it. Returns 0 (keep the input). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	(void)data;
	(void)size;
	return 0;
}
