#!/usr/bin/env bash
# ringside — test of tools/oss-fuzz/build.sh (ctest: ossfuzz_build).
#
# usage: test_ossfuzz.sh SOURCE_DIR SCRATCH_DIR
#
# We cannot run OSS-Fuzz's docker images here, so this does what its
# `compile` step does for a libFuzzer + AddressSanitizer build: a clean
# environment with CC, CFLAGS, LIB_FUZZING_ENGINE, OUT, SRC and WORK set the
# way OSS-Fuzz sets them, $SRC/ringside holding the sources, then
# `bash -eu $SRC/build.sh`. Then it checks what OSS-Fuzz expects in $OUT for
# every target: an executable fuzzer, a valid non-empty
# <t>_seed_corpus.zip, a well-formed <t>.dict and a <t>.options naming it,
# and runs every fuzzer on its seed corpus for a few seconds with the
# options file's settings, as OSS-Fuzz's check_build and a fuzzing bot would.
#
# SCRATCH_DIR/work is kept between runs (incremental rebuilds), OUT is not.
# Environment: RS_OSSFUZZ_TEST_SECONDS (seconds per fuzzer, default 2),
# RS_OSSFUZZ_TARGETS (space-separated subset of targets; default all).
# Exit 0: pass, 1: fail, 77: skipped (no clang or no libFuzzer runtime).
set -uo pipefail

if [ $# -ne 2 ]; then
	echo "usage: $0 SOURCE_DIR SCRATCH_DIR" >&2
	exit 2
fi
srcdir=$(cd "$1" && pwd)
scratch=$2
secs=${RS_OSSFUZZ_TEST_SECONDS:-2}
mkdir -p "$scratch"
scratch=$(cd "$scratch" && pwd)

fail=0
bad() {
	echo "FAIL: $*"
	fail=1
}

# ---- can this machine build a libFuzzer target at all? ------------------------------
if ! command -v clang >/dev/null 2>&1; then
	echo "SKIPPED: clang not found (OSS-Fuzz builds use clang)"
	exit 77
fi
probe=$scratch/probe
mkdir -p "$probe"
printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
	'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);' \
	'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { return 0; }' >"$probe/p.c"
if ! clang -fsanitize=fuzzer,address "$probe/p.c" -o "$probe/p" >"$probe/log" 2>&1; then
	echo "SKIPPED: clang cannot link a libFuzzer target (libclang_rt.fuzzer missing?):"
	head -5 "$probe/log"
	exit 77
fi
for tool in cmake unzip python3; do
	if ! command -v $tool >/dev/null 2>&1; then
		echo "SKIPPED: $tool not found"
		exit 77
	fi
done

# ---- the OSS-Fuzz layout and variables ----------------------------------------------
SRC=$scratch/src
OUT=$scratch/out
WORK=$scratch/work
rm -rf "$OUT" "$SRC" "$scratch/run"
mkdir -p "$SRC" "$OUT" "$WORK" "$scratch/run"
ln -s "$srcdir" "$SRC/ringside"
cp "$srcdir/tools/oss-fuzz/build.sh" "$SRC/build.sh"

# What infra/base-images/base-builder sets for FUZZING_ENGINE=libfuzzer,
# SANITIZER=address, ARCHITECTURE=x86_64 (CFLAGS = common flags + sanitizer
# flags + the engine's coverage flags).
cflags="-O1 -fno-omit-frame-pointer -gline-tables-only"
cflags="$cflags -fsanitize=address -fsanitize-address-use-after-scope"
cflags="$cflags -fsanitize=fuzzer-no-link"
echo "== build.sh (CC=clang, LIB_FUZZING_ENGINE=-fsanitize=fuzzer)"
start=$(date +%s)
(cd "$SRC/ringside" && env -i PATH="$PATH" HOME="${HOME:-/tmp}" \
	CC=clang CXX=clang++ CFLAGS="$cflags" CXXFLAGS="$cflags" \
	LIB_FUZZING_ENGINE=-fsanitize=fuzzer \
	OUT="$OUT" SRC="$SRC" WORK="$WORK" \
	SANITIZER=address FUZZING_ENGINE=libfuzzer ARCHITECTURE=x86_64 FUZZING_LANGUAGE=c \
	RS_OSSFUZZ_TARGETS="${RS_OSSFUZZ_TARGETS:-}" \
	bash -eu "$SRC/build.sh") >"$scratch/build.log" 2>&1
rc=$?
echo "   build.sh exit $rc after $(($(date +%s) - start)) s (log: $scratch/build.log)"
if [ $rc -ne 0 ]; then
	tail -30 "$scratch/build.log"
	echo "FAIL: build.sh"
	exit 1
fi

# ---- what it must have produced ------------------------------------------------------
list=$WORK/ringside-build/fuzz-targets.txt
targets=()
while IFS=$'\t' read -r name lf _rest; do
	[ -n "$name" ] && [ "$lf" != "-" ] || continue
	if [ -n "${RS_OSSFUZZ_TARGETS:-}" ] && [[ " $RS_OSSFUZZ_TARGETS " != *" $name "* ]]; then
		continue
	fi
	targets+=("$name")
done <"$list"
if [ ${#targets[@]} -eq 0 ]; then
	echo "FAIL: no targets listed in $list"
	exit 1
fi
echo "== ${#targets[@]} targets: ${targets[*]}"

# A dictionary: comments, blank lines and entries [name=]"value" with
# libFuzzer's escapes (\\, \", \xNN) only.
check_dict() {
	python3 - "$1" <<'PY'
import re, sys
ok = True
entry = re.compile(r'^\s*([A-Za-z0-9_]+\s*=\s*)?"((?:[^"\\]|\\\\|\\"|\\x[0-9A-Fa-f]{2})*)"\s*$')
n = 0
for i, line in enumerate(open(sys.argv[1], encoding="latin-1"), 1):
    s = line.strip()
    if not s or s.startswith("#"):
        continue
    if not entry.match(line.rstrip("\n")):
        print(f"{sys.argv[1]}:{i}: not a dictionary entry: {s[:60]}")
        ok = False
    n += 1
if n == 0:
    print(f"{sys.argv[1]}: no entries")
    ok = False
sys.exit(0 if ok else 1)
PY
}

# The options file: INI with a [libfuzzer] section; prints "dict max_len".
read_options() {
	python3 - "$1" <<'PY'
import configparser, sys
c = configparser.ConfigParser()
c.read(sys.argv[1])
s = c["libfuzzer"]
ml = int(s.get("max_len", "0"))
assert ml > 0, "max_len"
print(s.get("dict", "-"), ml)
PY
}

for t in "${targets[@]}"; do
	f=$OUT/$t
	[ -x "$f" ] || { bad "$t: no executable $f"; continue; }
	z=$OUT/${t}_seed_corpus.zip
	if [ ! -f "$z" ]; then
		bad "$t: no $z"
	elif ! unzip -tq "$z" >/dev/null 2>&1; then
		bad "$t: $z is not a valid zip"
	elif [ "$(unzip -Z1 "$z" | wc -l)" -eq 0 ]; then
		bad "$t: $z is empty"
	elif unzip -Z1 "$z" | grep -q /; then
		bad "$t: $z has directories (OSS-Fuzz wants a flat archive)"
	fi
	[ -f "$OUT/$t.dict" ] || bad "$t: no $t.dict"
	[ -f "$OUT/$t.dict" ] && { check_dict "$OUT/$t.dict" || bad "$t: $t.dict malformed"; }
	opts=$(read_options "$OUT/$t.options" 2>&1) || { bad "$t: $t.options: $opts"; continue; }
	read -r odict omax <<<"$opts"
	[ "$odict" = "$t.dict" ] || bad "$t: options name dict '$odict', expected $t.dict"
done
[ $fail -eq 0 ] || exit 1

# ---- every fuzzer runs ----------------------------------------------------------------
echo "== running each fuzzer for ${secs} s on its seed corpus"
for t in "${targets[@]}"; do
	run=$scratch/run/$t
	mkdir -p "$run/seeds" "$run/new" "$run/artifacts"
	unzip -q -o "$OUT/${t}_seed_corpus.zip" -d "$run/seeds"
	read -r odict omax <<<"$(read_options "$OUT/$t.options")"
	nseeds=$(ls "$run/seeds" | wc -l)
	(cd "$OUT" && "./$t" -dict="$odict" -max_len="$omax" -max_total_time="$secs" \
		-timeout=10 -rss_limit_mb=2560 -print_final_stats=1 \
		-artifact_prefix="$run/artifacts/" "$run/new" "$run/seeds") >"$run/log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$run/log")
	if [ $rc -ne 0 ]; then
		bad "$t: exit $rc (log $run/log)"
		grep -m5 -E 'ERROR|BUG|runtime error|Test unit written' "$run/log"
	elif ! grep -q 'INFO: Loaded 1 modules' "$run/log"; then
		bad "$t: not instrumented for libFuzzer (log $run/log)"
	elif [ -z "$execs" ] || [ "$execs" -lt "$nseeds" ]; then
		bad "$t: ran ${execs:-no} inputs for $nseeds seeds (log $run/log)"
	else
		printf '   %-22s ok  %6s seeds %9s execs\n' "$t" "$nseeds" "$execs"
	fi
done

if [ $fail -ne 0 ]; then
	echo "ossfuzz: FAILED"
	exit 1
fi
echo "ossfuzz: ${#targets[@]} targets built by build.sh and ran"
