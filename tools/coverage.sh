#!/usr/bin/env bash
# ringside — line coverage of engine/ and transports/ from the test suite
# (clang source-based coverage). Prints llvm-cov's report per file and a last
# line "coverage: lines=<pct>%"; fails when below the threshold (default 90).
#   tools/coverage.sh [THRESHOLD]
set -euo pipefail
cd "$(dirname "$0")/.."
threshold=${1:-90}
jobs=$(nproc 2>/dev/null || echo 2)
dir=build-coverage

cmake --preset coverage >/dev/null
cmake --build --preset coverage
rm -rf "$dir/profiles"
mkdir -p "$dir/profiles"
ctest --preset coverage -j "$jobs"
llvm-profdata merge -sparse -o "$dir/ringside.profdata" "$dir"/profiles/*.profraw

objs=()
for t in "$dir"/bin/test_*; do objs+=(-object "$t"); done
srcs=(engine/*.c transports/*.c)
llvm-cov report "${objs[@]:1}" -instr-profile="$dir/ringside.profdata" "${srcs[@]}" \
	| tee "$dir/coverage.txt"
pct=$(awk '/^TOTAL/ { print $(NF-3) }' "$dir/coverage.txt" | tr -d '%')
echo "coverage: lines=${pct}%"
if awk -v p="$pct" -v t="$threshold" 'BEGIN { exit !(p + 0 < t + 0) }'; then
	echo "coverage: below ${threshold}% for engine/ and transports/" >&2
	exit 1
fi
