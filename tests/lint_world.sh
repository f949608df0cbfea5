#!/usr/bin/env bash
# ringside tests — no device model reaches around the world (DESIGN.md,
# "World"): the model files devices/<name>/<name>.c and the other non-backend
# files of devices/ must not call the OS for randomness, time or I/O. Backends
# (devices/*/backend*.c) do real I/O, but are only ever invoked via world_io().
set -u
root=${1:-$(dirname "$0")/..}
cd "$root" || exit 2
pattern='(?<![>.\w])(getrandom|getentropy|rand|random|srand|arc4random|time|gettimeofday|clock_gettime|clock|read|pread|pread64|preadv|write|pwrite|pwrite64|recv|recvfrom|recvmsg|send|sendto|sendmsg|open|openat|fopen|fread|fwrite|fgets|getchar|scanf|poll|select|epoll_wait|usleep|nanosleep|sleep)\s*\('
fail=0 files=0
while IFS= read -r f; do
	files=$((files + 1))
	# blank out comments and string literals (keeping line numbers), then look
	hits=$(perl -0777 -pe 's{/\*.*?\*/}{ $& =~ s/[^\n]//gr }gse; s{//[^\n]*}{}g; s{"(\\.|[^"\\\n])*"}{""}g' "$f" |
		grep -nP "$pattern" || true)
	if [ -n "$hits" ]; then
		echo "FAIL: $f calls the OS directly (use the world):"
		echo "$hits" | sed 's/^/    /'
		fail=$((fail + 1))
	fi
done < <(find devices -name '*.c' ! -name 'backend*.c' | sort)
echo "$((files - fail)) passed, $fail failed"
[ "$fail" -eq 0 ]
