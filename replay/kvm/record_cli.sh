#!/bin/sh
# ringside record, end to end (ctest record_cli): bad command lines exit 2
# with one error line, a run whose firmware fails exits 1 and leaves no file
# (not even FILE.tmp), a run that passes writes a trace that replays clean.
# Usage: record_cli.sh path/to/ringside
set -u
cli=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0

# expect STATUS CMD...: the exit status, and for failures one stderr line
expect() {
	want=$1
	shift
	"$@" >"$work/out" 2>"$work/err"
	got=$?
	lines=$(wc -l <"$work/err")
	if [ "$got" != "$want" ]; then
		echo "FAIL: '$*' exited $got, want $want"; cat "$work/err"; fail=1
	elif [ "$want" = 2 ] && [ "$lines" != 1 ]; then
		echo "FAIL: '$*' printed $lines error lines, want 1"; cat "$work/err"; fail=1
	else
		echo "ok   $want: $*"
	fi
}

expect 0 "$cli" record --help
expect 2 "$cli" record
expect 2 "$cli" record --bogus -o "$work/t.trace"
expect 2 "$cli" record --kvm --unicorn -o "$work/t.trace"
expect 2 "$cli" record --timeout 0 -o "$work/t.trace"
expect 2 "$cli" record --timeout abc -o "$work/t.trace"
expect 2 "$cli" record --machine
expect 2 "$cli" record --machine "mem=16M pci:nosuchdevice" -o "$work/t.trace"
expect 2 "$cli" record --firmware "$work/missing.elf" -o "$work/t.trace"
expect 2 "$cli" record --firmware "$work" -o "$work/t.trace"
truncate -s 65M "$work/huge.elf"
expect 2 "$cli" record --firmware "$work/huge.elf" -o "$work/t.trace"
rm -f "$work/huge.elf"
# the trace cannot be created: a run-time failure, not a usage error
expect 1 "$cli" record --unicorn --machine "mem=16M mmio:echo" -o "$work/no/such/dir/t.trace"
[ -e "$work/t.trace" ] && { echo "FAIL: a refused command line left a trace"; fail=1; }

# a device that fails every write: the firmware fails, nothing is left behind
expect 1 "$cli" record --unicorn --machine "mem=16M pci-modern:blk,size=1M,fault=write:*" \
	-o "$work/fail.trace"
grep -q "write status" "$work/err" || { echo "FAIL: no firmware message"; fail=1; }
if [ -e "$work/fail.trace" ] || [ -e "$work/fail.trace.tmp" ]; then
	echo "FAIL: a failed recording left a file"; fail=1
fi
# a guest that is no ELF file
printf 'not an elf' >"$work/junk.elf"
expect 1 "$cli" record --unicorn --firmware "$work/junk.elf" -o "$work/junk.trace"
[ -e "$work/junk.trace" ] && { echo "FAIL: a failed run left a trace"; fail=1; }

# a good run (Unicorn: runs everywhere this test does) replays clean
expect 0 "$cli" record --unicorn --verbose --timeout 60 --machine "mem=16M mmio:echo pci:rng" \
	-o "$work/ok.trace"
grep -q "fw: 3 sessions: 3 ok" "$work/err" || { echo "FAIL: --verbose showed no guest text"; fail=1; }
grep -q "firmware   pass" "$work/out" || { echo "FAIL: no pass in the summary"; fail=1; }
expect 0 "$cli" replay --quiet "$work/ok.trace"
exit $fail
