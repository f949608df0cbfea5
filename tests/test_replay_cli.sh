#!/usr/bin/env bash
# ringside tests — `ringside replay`, `minimize`, `convert` and
# `bench replay` from the command line: exit statuses (0 clean, 1
# divergence, 2 bad input), one error line for bad input, the divergence
# report, nothing left behind on failure.
#   test_replay_cli.sh RINGSIDE TEST_REPLAY_GOLDEN FIXTURE
set -u
bin=$1 helper=$2 fixture=$3
dir=$(mktemp -d "${TMPDIR:-/tmp}/rs_replay_cli.XXXXXX")
trap 'rm -rf "$dir"' EXIT
fail=0 pass=0

ok() { echo "ok   $1"; pass=$((pass + 1)); }
bad() { echo "FAIL: $1"; fail=$((fail + 1)); }

# run WANT-RC WANT-IN-OUTPUT ARGS... (stdout and stderr together)
run() {
	local want=$1 text=$2; shift 2
	local out rc
	out=$("$bin" "$@" 2>&1); rc=$?
	if [ $rc -ne "$want" ] || [[ "$out" != *"$text"* ]]; then
		bad "ringside $* -> rc=$rc (want $want), output: $(printf '%s' "$out" | head -c 600)"
	else
		ok "ringside $* -> $rc"
	fi
}

# usage errors: one line on stderr, nothing on stdout, exit 2
usage() {
	local want=$1; shift
	local out err rc
	out=$("$bin" "$@" 2>"$dir/err"); rc=$?
	err=$(cat "$dir/err")
	if [ $rc -ne 2 ] || [ -n "$out" ] || [ "$(printf '%s\n' "$err" | wc -l)" -ne 1 ] ||
	   [[ "$err" != *"$want"* ]]; then
		bad "ringside $* -> rc=$rc stdout='$out' stderr='$err' (want '$want')"
	else
		ok "ringside $*: $err"
	fi
}

cp "$fixture" "$dir/good.trace"
"$helper" --tamper "$dir/good.trace" "$dir/bad.trace" || bad "tamper helper"
head -c 3000 "$dir/good.trace" > "$dir/cut.trace"
printf 'not a trace at all' > "$dir/junk.trace"

# replay
run 0 "usage: ringside replay" replay --help
run 0 "no divergence, digest" replay "$dir/good.trace"
run 1 "first divergence at event" replay "$dir/bad.trace"
run 1 "last 3 event(s) before it" replay --context 3 "$dir/bad.trace"
run 1 "1 divergence (first at event" replay --continue --quiet "$dir/bad.trace"
run 2 "" replay "$dir/cut.trace"
usage "which trace" replay
usage "unknown option '--bogus'" replay --bogus x
usage "--context wants a number" replay --context 0 x
usage "--context wants a number" replay --context
usage "one trace at a time" replay a b
usage "not a ringside trace" replay "$dir/junk.trace"
usage "No such file" replay "$dir/none.trace"

# minimize
run 0 "usage: ringside minimize" minimize --help
run 0 "kept read value divergence" minimize "$dir/bad.trace" -o "$dir/min.trace"
run 1 "first divergence at event 0" replay "$dir/min.trace"
usage "nothing to keep" minimize "$dir/good.trace" -o "$dir/none.trace"
[ ! -e "$dir/none.trace" ] && ok "nothing written on failure" || bad "minimize left a file"
usage "usage: ringside minimize FILE -o OUT" minimize "$dir/bad.trace"
usage "--keep wants divergence or crash" minimize "$dir/bad.trace" -o x --keep all
usage "--max-runs wants a number" minimize "$dir/bad.trace" -o x --max-runs 0
usage "--timeout wants a number" minimize "$dir/bad.trace" -o x --timeout x
usage "-o needs a value" minimize "$dir/bad.trace" -o
usage "unknown option '--fast'" minimize --fast
usage "one trace at a time" minimize a b -o c

# convert
run 0 "usage: ringside convert" convert --help
run 0 "ops and" convert "$dir/good.trace" --to ops -o "$dir/good.ops"
run 0 "events ->" convert "$dir/good.trace" --to c -o "$dir/repro.c"
grep -q "replayer_open_mem" "$dir/repro.c" && ok "reproducer written" || bad "reproducer"
usage "--to wants ops or c" convert "$dir/good.trace" --to pdf -o x
usage "say --to ops, --to c or --from ops" convert "$dir/good.trace" -o x
usage "--from wants ops" convert x --from trace --target t -o y
usage "needs --target" convert x --from ops -o y
usage "--target goes with --from ops" convert x --to ops --target t -o y
usage "unknown fuzz target" convert "$dir/good.ops" --from ops --target nosuch -o y
usage "usage: ringside convert FILE" convert "$dir/good.trace"
usage "not a ringside trace" convert "$dir/junk.trace" --to c -o "$dir/j.c"
[ ! -e "$dir/j.c" ] && ok "no reproducer for junk" || bad "convert left a file"
usage "unknown option '--x'" convert --x
usage "one input at a time" convert a b

# a crash input: the converting child dies (here: the file size limit)
run 0 "" convert "$dir/good.trace" --to ops -o "$dir/all.ops"
out=$( (ulimit -f 1; LLVM_PROFILE_FILE=/dev/null "$bin" convert "$dir/all.ops" --from ops --target machine -o "$dir/crash.trace") 2>&1); rc=$?
if [ $rc -eq 0 ] && [[ "$out" == *"crashed the device stack"* ]]; then ok "crash input -> trace"; else bad "crash input: rc=$rc $out"; fi
usage "-o needs a value" convert x --to ops -o

# bench
run 0 "replay: ratio=" bench replay --quick
run 0 "2 requests per session" bench replay --quick --requests 2
usage "--requests wants a number" bench replay --requests 0
usage "unknown option '--slow'" bench replay --slow

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
