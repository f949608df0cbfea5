#!/usr/bin/env bash
# ringside — the whole test suite: install what is missing, then
#   1. build with the default preset (gcc, -Werror) and run ctest,
#   2. build with the asan preset (clang, ASan+UBSan, -Werror) and run ctest,
#   3. build with the coverage preset and check line coverage of engine/ and
#      transports/ (tools/coverage.sh, at least 90%).
# Options: --quick runs only stage 1.
set -euo pipefail
cd "$(dirname "$0")/.."
quick=0
[ "${1:-}" = "--quick" ] && quick=1
jobs=$(nproc 2>/dev/null || echo 2)

tools/deps.sh

echo "== default preset (gcc) =="
cmake --preset default >/dev/null
cmake --build --preset default
ctest --preset default -j "$jobs"
[ $quick -eq 1 ] && exit 0

echo "== asan preset (clang, ASan+UBSan) =="
cmake --preset asan >/dev/null
cmake --build --preset asan
ctest --preset asan -j "$jobs"

echo "== coverage preset =="
tools/coverage.sh
