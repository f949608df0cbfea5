#!/usr/bin/env bash
# ringside tests — bad command lines and machine specs: each must give exactly
# one error line on stderr naming the problem, nothing on stdout, and exit 2.
set -u
bin=$1
fail=0 pass=0

expect() { # expect WANT-IN-ERROR ARGS...
	local want=$1; shift
	local out err rc
	out=$("$bin" "$@" 2>/tmp/ringside-cli-err.$$); rc=$?
	err=$(cat /tmp/ringside-cli-err.$$)
	rm -f /tmp/ringside-cli-err.$$
	if [ $rc -ne 2 ] || [ -n "$out" ] || [ "$(printf '%s\n' "$err" | wc -l)" -ne 1 ] ||
	   [[ "$err" != *"$want"* ]]; then
		echo "FAIL: ringside $* -> rc=$rc stdout='$out' stderr='$err' (want '$want')"
		fail=$((fail + 1))
	else
		echo "ok   ringside $*: $err"
		pass=$((pass + 1))
	fi
}

expect "unknown command 'frobnicate'" frobnicate
expect "unknown device 'nosuch'" demo --machine "pci:nosuch"
expect "pcix" demo --machine "pcix:echo"
expect "12Q" demo --machine "mem=12Q pci:echo"
expect "unknown option '--bogus'" demo --bogus
expect "--requests" demo --requests 0
expect "which benchmark" bench
expect "unknown option '--slow'" bench ring --slow

"$bin" >/dev/null 2>&1; rc=$?
if [ $rc -ne 2 ]; then echo "FAIL: no arguments -> rc=$rc"; fail=$((fail + 1)); else pass=$((pass + 1)); fi
"$bin" --help | grep -q "usage: ringside" && pass=$((pass + 1)) || { echo "FAIL: --help"; fail=$((fail + 1)); }

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
