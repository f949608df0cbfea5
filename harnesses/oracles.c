/*
 * ringside — the oracle table. Sanitizers (ASan, UBSan in the fuzz and
 * asan presets) are always on; the oracles listed here add device-level
 * checks through the hooks of struct fuzz_oracle (harnesses/fuzz.h,
 * documented in harnesses/README.md).
 *
 * To add one: write it in harnesses/oracle_<name>.c with a
 * `const struct fuzz_oracle fuzz_oracle_<name>` and list it below. An
 * oracle reports with fuzz_bug(), which aborts, so libFuzzer, AFL++ and the
 * standalone driver all see a crash with the oracle's message.
 */
#include "fuzz.h"

/* docs/oracles.md. Order matters where hooks run at the same point: after
 * the reset, dma takes its new baseline before reset's canary runs, and
 * work disarms its watchdog only after the canary. */
extern const struct fuzz_oracle fuzz_oracle_dma;
extern const struct fuzz_oracle fuzz_oracle_reset;
extern const struct fuzz_oracle fuzz_oracle_work;
extern const struct fuzz_oracle fuzz_oracle_diff;

const struct fuzz_oracle *const fuzz_oracles[] = {
	&fuzz_oracle_dma,
	&fuzz_oracle_reset,
	&fuzz_oracle_work,
	&fuzz_oracle_diff,
	NULL,
};
