#!/usr/bin/env bash
# ringside — the whole test suite: install what is missing, then
#   1. default preset (gcc, -Werror): build, ctest (includes the OSS-Fuzz
#      build.sh test and the ringside fuzz/repro end-to-end test);
#   2. asan preset (clang, ASan+UBSan, -Werror): build, ctest;
#   3. coverage preset: line coverage of engine/ and transports/ must be at
#      least 90% (tools/coverage.sh);
#   4. fuzz preset (clang, libFuzzer, ASan+UBSan): every fuzz target runs for
#      RS_FUZZ_SMOKE_SECONDS (default here 8) with the oracles on, plus the
#      corpus, regression and benchmark tests.
# Options: --quick runs only stage 1.
set -euo pipefail
cd "$(dirname "$0")/.."
quick=0
[ "${1:-}" = "--quick" ] && quick=1
jobs=$(nproc 2>/dev/null || echo 2)
smoke=${RS_FUZZ_SMOKE_SECONDS:-8}
start=$(date +%s)
stage() { echo; echo "== $* ($(( $(date +%s) - start )) s) =="; }
# Every ctest run's output also goes to a log, so the last line can add up
# the whole suite ("N passed, N failed").
log=$(mktemp)
trap 'rm -f "$log"' EXIT
run_ctest() { ctest "$@" 2>&1 | tee -a "$log"; return "${PIPESTATUS[0]}"; }
summary() {
	awk '/tests passed, [0-9]+ tests failed out of/ {
		for (i = 1; i <= NF; i++) { if ($i == "failed") f += $(i - 2); if ($i == "of") t += $(i + 1) }
	} END { printf "%d passed, %d failed\n", t - f, f }' "$log"
}

tools/deps.sh

stage "1/4 default preset (gcc)"
cmake --preset default >/dev/null
cmake --build --preset default
run_ctest --preset default -j "$jobs"
[ $quick -eq 1 ] && { summary; exit 0; }

stage "2/4 asan preset (clang, ASan+UBSan)"
cmake --preset asan >/dev/null
cmake --build --preset asan
run_ctest --preset asan -j "$jobs" -LE ossfuzz

stage "3/4 coverage preset"
tools/coverage.sh 2>&1 | tee -a "$log"

stage "4/4 fuzz preset (libFuzzer smoke runs, ${smoke} s per target)"
cmake --preset fuzz -DRS_FUZZ_SMOKE_SECONDS="$smoke" >/dev/null
cmake --build --preset fuzz
run_ctest --test-dir build-fuzz --output-on-failure -j "$jobs" -R '^(fuzz_|cli_bench_fuzz)'

stage "all stages passed"
summary
