#!/usr/bin/env bash
# ringside tests — golden output of `ringside dump` and `ringside stat` on the
# deterministic trace `test_trace --golden` writes (vmd style: diff against
# the .ok files in this directory).
#
#   trace_golden.sh RINGSIDE TEST_TRACE GOLDEN_DIR
#
# The stat lines whose numbers depend on the zstd library's exact output
# (file size, compressed bytes, ratio, bytes per event) are compared with
# their numbers masked. To accept new output after an intended change:
#   RS_GOLDEN_UPDATE=1 tests/golden/trace_golden.sh build/bin/ringside \
#       build/bin/test_trace tests/golden
set -u
cli=$1 gen=$2 dir=$(cd "$3" && pwd)
work=$(mktemp -d /tmp/rs-golden.XXXXXX)
trap 'rm -rf "$work"' EXIT
fail=0

"$gen" --golden "$work/golden.trace" || { echo "FAIL: cannot write the golden trace"; exit 1; }
cd "$work"

mask() {
	sed -E -e 's/^(file size|compressed|ratio|bytes\/event)( +)[0-9.]+/\1\2N/' \
		-e '/^ringside: /s/offset [0-9]+/offset N/g' \
		-e '/^ringside: /s/ends [0-9]+ bytes into the [0-9]+-byte/ends N bytes into the N-byte/'
}

check() { # check NAME COMMAND...
	local name=$1; shift
	"$@" >"$work/$name.out" 2>&1
	echo "exit $?" >>"$work/$name.out"
	if [ "${RS_GOLDEN_UPDATE:-0}" = 1 ]; then
		cp "$work/$name.out" "$dir/$name.ok"
		echo "updated $dir/$name.ok"
		return
	fi
	if diff -u <(mask <"$dir/$name.ok") <(mask <"$work/$name.out"); then
		echo "ok   $name"
	else
		echo "FAIL $name"
		fail=1
	fi
}

check trace_dump "$cli" dump golden.trace
check trace_dump_json "$cli" dump --json golden.trace
check trace_stat "$cli" stat golden.trace

# damage: what was read, then one error line and exit 1. Cut 5 bytes off the
# last of the two frames (the index and footer of two frames are 100 bytes).
size=$(stat -c %s golden.trace)
head -c $((size - 105)) golden.trace >cut.trace
check trace_dump_cut "$cli" dump cut.trace
check trace_stat_cut "$cli" stat cut.trace

# bad command lines and files that are no trace: one error line naming the
# problem, nothing on stdout, exit 2
expect2() { # expect2 WANT-IN-ERROR ARGS...
	local want=$1; shift
	local out err rc
	out=$("$cli" "$@" 2>"$work/err"); rc=$?
	err=$(cat "$work/err")
	if [ $rc -ne 2 ] || [ -n "$out" ] || [ "$(printf '%s\n' "$err" | wc -l)" -ne 1 ] ||
	   [[ "$err" != *"$want"* ]]; then
		echo "FAIL ringside $*: rc=$rc stdout='$out' stderr='$err' (want '$want')"
		fail=1
	else
		echo "ok   ringside $*: $err"
	fi
}
printf 'not a trace at all' >junk.trace
expect2 "which trace?" dump
expect2 "which trace?" stat
expect2 "unknown option '--yaml'" dump --yaml golden.trace
expect2 "unknown option '-x'" stat -x golden.trace
expect2 "one trace file at a time" dump golden.trace golden.trace
expect2 "one trace file at a time" stat golden.trace golden.trace
expect2 "TRACE_E_IO: missing.trace: No such file" dump missing.trace
expect2 "TRACE_E_MAGIC" stat junk.trace
for c in dump stat; do
	if "$cli" $c --help | grep -q "usage: ringside $c"; then echo "ok   $c --help"
	else echo "FAIL $c --help"; fail=1; fi
done

[ $fail -eq 0 ] && echo "golden: all match" || echo "golden: differences above"
exit $fail
