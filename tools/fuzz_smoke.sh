#!/usr/bin/env bash
# ringside — robustness of the shipped stack: fuzz every target for a short
# fixed time with libFuzzer (fuzz preset) and fail on any crash, leak,
# timeout, out-of-memory, sanitizer or oracle report.
#
# usage: tools/fuzz_smoke.sh [--build DIR] [--time SECONDS] [TARGET...]
#   --build DIR     a fuzz-preset build (default: <source>/build-fuzz)
#   --time SECONDS  per target (default 20)
#   TARGET...       default: every target of the build (<build>/fuzz-targets.txt)
#
# Each target fuzzes from its seeds (committed, generated, regression) with
# its dictionary into a scratch corpus <build>/fuzz-run/<target>/corpus
# (the committed corpus is never written). A failing input stays in
# <build>/fuzz-run/<target>/ (crash-*, leak-*, timeout-*, oom-*); replay it
# with `ringside repro FILE --target TARGET`, and once the bug is fixed add
# it to corpus/regression/<target>/.
#
# ctest runs one target per test in the fuzz preset (fuzz_run_<target>,
# RS_FUZZ_SMOKE_SECONDS). Exit 0: all clean, 1: a finding, 2: usage,
# 77: not a libFuzzer build (skipped).
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/.." && pwd)
build=$src/build-fuzz
secs=20
targets=()
while [ $# -gt 0 ]; do
	case $1 in
	--build) build=${2:?--build wants a directory}; shift 2 ;;
	--time) secs=${2:?--time wants seconds}; shift 2 ;;
	-h|--help) sed -n '2,22p' "$0"; exit 0 ;;
	-*) echo "fuzz_smoke.sh: unknown option $1" >&2; exit 2 ;;
	*) targets+=("$1"); shift ;;
	esac
done
if ! [[ $secs =~ ^[1-9][0-9]*$ ]]; then
	echo "fuzz_smoke.sh: --time wants a positive number of seconds" >&2
	exit 2
fi
list=$build/fuzz-targets.txt
if [ ! -f "$list" ]; then
	echo "fuzz_smoke.sh: $list missing (configure a fuzz build: cmake --preset fuzz)" >&2
	exit 2
fi

# name -> libFuzzer binary, dictionary list, seed directory list
declare -A bin dicts seeds
all=()
while IFS=$'\t' read -r name lf _sa _afl dl sl; do
	[ -n "$name" ] || continue
	all+=("$name")
	bin[$name]=$lf
	dicts[$name]=$dl
	seeds[$name]=$sl
done <"$list"
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")

fail=0
ran=0
for t in "${targets[@]}"; do
	if [ -z "${bin[$t]+x}" ]; then
		echo "FAIL $t: not a target of $build (targets: ${all[*]})"
		fail=1
		continue
	fi
	if [ "${bin[$t]}" = "-" ]; then
		echo "SKIPPED: $build is not a libFuzzer build (no libFuzzer binary for $t)"
		[ ${#targets[@]} -eq 1 ] && exit 77
		continue
	fi
	exe=$build/bin/${bin[$t]}
	if [ ! -x "$exe" ]; then
		echo "FAIL $t: $exe not built"
		fail=1
		continue
	fi
	run=$build/fuzz-run/$t
	rm -rf "$run/corpus"
	mkdir -p "$run/corpus"
	dict_arg=()
	IFS=';' read -r -a dl <<<"${dicts[$t]}"
	for d in "${dl[@]}"; do
		if [ -f "$d" ]; then
			dict_arg=("-dict=$d")
			break
		fi
	done
	seed_dirs=()
	IFS=';' read -r -a sl <<<"${seeds[$t]}"
	for d in "${sl[@]}"; do
		[ -d "$d" ] && seed_dirs+=("$d")
	done
	marker=$run/.started
	touch "$marker"
	sleep 1 # artifacts of this run are strictly newer than the marker
	log=$run/fuzz.log
	"$exe" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2560 -print_final_stats=1 \
		"${dict_arg[@]}" -artifact_prefix="$run/" "$run/corpus" "${seed_dirs[@]}" \
		>"$log" 2>&1
	rc=$?
	ran=$((ran + 1))
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
	found=$(find "$run" -maxdepth 1 -type f -newer "$marker" \
		\( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) |
		sort)
	report=$(grep -m1 -E '==ringside-fuzz== BUG|ERROR: (AddressSanitizer|LeakSanitizer|MemorySanitizer|libFuzzer)|runtime error:' "$log")
	if [ $rc -ne 0 ] || [ -n "$found" ] || [ -n "$report" ]; then
		fail=1
		echo "FAIL $t: exit $rc after ${execs:-?} execs"
		[ -n "$report" ] && echo "     $report"
		# the first frames of ours (not the sanitizer's, libFuzzer's or libc's)
		grep -E '^    #[0-9]+ ' "$log" |
			grep -v -E ' in (__sanitizer|fuzzer::|__interceptor|abort|raise|__pthread|__libc|_start|main )' |
			grep -v -E '\((/lib|/usr/lib)' | head -4 | sed 's/^/     /'
		for f in $found; do
			echo "     input kept: $f"
			echo "     replay:     ringside repro $f --target $t"
		done
		echo "     log: $log"
	else
		printf 'ok   %-22s %5s s %10s execs  cov %s\n' "$t" "$secs" "${execs:-?}" "${cov:-?}"
	fi
	rm -f "$marker"
done
if [ $ran -eq 0 ] && [ $fail -eq 0 ]; then
	exit 77
fi
exit $fail
