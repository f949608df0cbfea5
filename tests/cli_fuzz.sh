#!/usr/bin/env bash
# ringside tests — the fuzzing commands end to end on a stand-in target
# (ctest: cli_fuzz).
#
# usage: cli_fuzz.sh RINGSIDE SCRATCH_DIR
#
# Builds a tiny target with clang (libFuzzer and standalone flavours) whose
# "oracle" fires on any input containing "BUG", lays out a build directory
# the way harnesses/CMakeLists.txt does (fuzz-targets.txt, bin/), and checks:
#   ringside fuzz        finds the crash, lists its reproducer, exits 1;
#                        unknown target: one error line with close names, exit 2
#   ringside repro       guesses the target from the path, prints the ops and
#                        the oracle report, exits 1; a clean input exits 0
#   ringside repro --minimize   ddmin keeps exactly the record with the bug;
#                        libFuzzer's minimizer writes a smaller crashing input
#   tools/fuzz_smoke.sh  reports the finding, keeps the input, exits 1; a clean
#                        target passes
# Exit 77 (skipped) without clang's libFuzzer runtime.
set -uo pipefail
ringside=$1
scratch=$2
src=$(cd "$(dirname "$0")/.." && pwd)
rm -rf "$scratch"
mkdir -p "$scratch"
scratch=$(cd "$scratch" && pwd)
build=$scratch/build
mkdir -p "$build/bin" "$scratch/seeds" "$scratch/clean-seeds"
fail=0 pass=0
ok() { echo "ok   $*"; pass=$((pass + 1)); }
bad() { echo "FAIL $*"; fail=$((fail + 1)); }

cat >"$scratch/fake.c" <<'EOF'
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	if (CLEAN == 0 && n >= 3 && memmem(d, n, "BUG", 3)) {
		fprintf(stderr, "==ringside-fuzz== BUG found by oracle 'fake' in target fake: "
			"boom\n");
		abort();
	}
	return 0;
}

#ifdef AFLMAIN
int main(void)
{
	static uint8_t buf[1 << 16];
	size_t n = fread(buf, 1, sizeof(buf), stdin);

	return LLVMFuzzerTestOneInput(buf, n);
}
#endif

#ifdef STANDALONE
int main(int argc, char **argv)
{
	static uint8_t buf[1 << 20];
	int trace = 0;

	for (int i = 1; i < argc; i++) {
		FILE *f;
		size_t n;

		if (!strcmp(argv[i], "-v")) {
			trace = 1;
			continue;
		}
		f = fopen(argv[i], "rb");
		if (!f)
			return 1;
		n = fread(buf, 1, sizeof(buf), f);
		fclose(f);
		if (trace) {
			printf("== %s (execution)\n", argv[i]);
			for (size_t o = 0; o + 16 <= n; o += 16)
				printf("%4zu @%-5zu FAKE           %.16s\n", o / 16, o, (char *)buf + o);
			fflush(stdout);
		}
		LLVMFuzzerTestOneInput(buf, n);
	}
	printf("fuzz_%s: 1 inputs, 0 ops, 0 errors\n", CLEAN ? "calm" : "fake");
	return 0;
}
#endif
EOF
if ! clang -DCLEAN=0 -fsanitize=fuzzer,address -g "$scratch/fake.c" \
	-o "$build/bin/fuzz_fake_libfuzzer" >"$scratch/cc.log" 2>&1; then
	echo "SKIPPED: clang cannot build a libFuzzer target:"
	head -3 "$scratch/cc.log"
	exit 77
fi
clang -DCLEAN=0 -DSTANDALONE -fsanitize=address -g "$scratch/fake.c" -o "$build/bin/fuzz_fake" &&
	clang -DCLEAN=1 -fsanitize=fuzzer,address -g "$scratch/fake.c" \
		-o "$build/bin/fuzz_calm_libfuzzer" &&
	clang -DCLEAN=1 -DSTANDALONE -fsanitize=address -g "$scratch/fake.c" \
		-o "$build/bin/fuzz_calm" || { echo "FAIL: cannot build the stand-in targets"; exit 1; }
printf 'hello, seed one!' >"$scratch/clean-seeds/one"
printf 'A BUG in a seed' >"$scratch/seeds/bug"
printf '"BUG"\n' >"$scratch/fake.dict"
tab=$'\t'
{
	echo "fake${tab}fuzz_fake_libfuzzer${tab}fuzz_fake${tab}-${tab}$scratch/none.dict;$scratch/fake.dict${tab}$scratch/seeds;$scratch/missing"
	echo "calm${tab}fuzz_calm_libfuzzer${tab}fuzz_calm${tab}-${tab}$scratch/fake.dict${tab}$scratch/clean-seeds"
} >"$build/fuzz-targets.txt"

# ---- ringside fuzz ----------------------------------------------------------------------
out=$("$ringside" fuzz fake --time 5 --build-dir "$build" --no-build 2>"$scratch/fuzz.err")
rc=$?
crash=$(printf '%s\n' "$out" | sed -n 's/^    \(\/.*crash-[0-9a-f]*\)$/\1/p' | head -1)
if [ $rc -eq 1 ] && [ -f "$crash" ] && [[ $crash == "$build/work/fake/crashes/"* ]] &&
	grep -q "reproduce: ringside repro $crash --target fake" <<<"$out" &&
	grep -q "first report .*oracle 'fake'" <<<"$out" &&
	[ -f "$build/work/fake/corpus/$(ls "$build/work/fake/corpus" | head -1)" ] &&
	[ "$(ls "$scratch/seeds")" = bug ]; then
	ok "fuzz: crash found, reproducer listed, seeds copied into the work dir only"
else
	bad "fuzz fake: rc=$rc crash='$crash'"; echo "$out"; cat "$scratch/fuzz.err"
fi
out=$("$ringside" fuzz calm --time 2 --build-dir "$build" --no-build 2>/dev/null)
rc=$?
if [ $rc -eq 0 ] && grep -q '^  executions   [1-9]' <<<"$out" &&
	grep -q '^    none$' <<<"$out" &&
	grep -qE '^  exec/s       [1-9]' <<<"$out"; then
	ok "fuzz: clean run summary (executions, exec/s, no crashes), exit 0"
else
	bad "fuzz calm: rc=$rc"; echo "$out"
fi
err=$("$ringside" fuzz fak --build-dir "$build" --no-build 2>&1 >/dev/null)
rc=$?
if [ $rc -eq 2 ] && [ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] &&
	[[ $err == *"unknown target 'fak'"*"close: fake"* ]]; then
	ok "fuzz: unknown target -> one line with close names, exit 2"
else
	bad "fuzz fak: rc=$rc err='$err'"
fi
list=$("$ringside" fuzz --list --build-dir "$build" --no-build)
[ "$list" = $'fake\ncalm' ] && ok "fuzz --list" || bad "fuzz --list: '$list'"
for args in "--engine honggfuzz" "--jobs 0" "--time x" "--bogus"; do
	# shellcheck disable=SC2086
	err=$("$ringside" fuzz fake $args --build-dir "$build" --no-build 2>&1 >/dev/null)
	rc=$?
	if [ $rc -eq 2 ] && [ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ]; then
		ok "fuzz $args: $err"
	else
		bad "fuzz $args: rc=$rc err='$err'"
	fi
done

# ---- ringside repro -----------------------------------------------------------------------
if [ -f "$crash" ]; then
	out=$("$ringside" repro "$crash" --build-dir "$build" --no-build 2>&1)
	rc=$?
	if [ $rc -eq 1 ] && grep -q "target fake" <<<"$out" &&
		grep -q "result: CRASH (oracle fake)" <<<"$out" &&
		grep -q "BUG found by oracle 'fake'" <<<"$out" &&
		grep -q "still crashes: yes" <<<"$out"; then
		ok "repro: target guessed from the path, report, exit 1"
	else
		bad "repro crash: rc=$rc"; echo "$out"
	fi
fi
cp "$scratch/clean-seeds/one" "$scratch/clusterfuzz-testcase-minimized-calm-1234"
out=$("$ringside" repro "$scratch/clusterfuzz-testcase-minimized-calm-1234" --build-dir "$build" --no-build 2>&1)
rc=$?
if [ $rc -eq 0 ] && grep -q "target calm" <<<"$out" &&
	grep -q "FAKE           hello, seed one!" <<<"$out" &&
	! grep -q "fuzz_calm:" <<<"$out" &&
	grep -q "still crashes: no" <<<"$out"; then
	ok "repro: target from an OSS-Fuzz test case name, op listing, clean -> exit 0"
else
	bad "repro clean: rc=$rc"; echo "$out"
fi
printf 'no target here' >"$scratch/anon"
err=$("$ringside" repro "$scratch/anon" --build-dir "$build" --no-build 2>&1 >/dev/null)
rc=$?
[ $rc -eq 2 ] && [[ $err == *"give --target"* ]] && ok "repro: unknown target -> exit 2" ||
	bad "repro anon: rc=$rc err='$err'"
err=$("$ringside" repro "$scratch/nonexistent" --target fake --build-dir "$build" --no-build 2>&1 >/dev/null)
[ $? -eq 2 ] && ok "repro: missing file -> exit 2" || bad "repro missing: '$err'"

# ---- minimization ---------------------------------------------------------------------------
big=$scratch/big-input
{
	for i in $(seq 0 24); do
		if [ "$i" -eq 13 ]; then printf 'xxxxxBUGxxxxxxxx'; else printf 'record-%02d-padpad' "$i"; fi
	done
	printf 'tail'
} >"$big"
out=$("$ringside" repro --minimize "$big" -o "$scratch/min-ddmin" --target fake --ddmin \
	--build-dir "$build" --no-build 2>&1)
rc=$?
if [ $rc -eq 0 ] && [ "$(cat "$scratch/min-ddmin" 2>/dev/null)" = "xxxxxBUGxxxxxxxx" ] &&
	grep -q "1 of 26 records kept" <<<"$out"; then
	ok "repro --minimize --ddmin: 404 bytes -> the one 16-byte record with the bug"
else
	bad "repro --minimize --ddmin: rc=$rc"; echo "$out"
fi
out=$("$ringside" repro --minimize "$big" -o "$scratch/min-lf" --target fake --time 5 \
	--build-dir "$build" --no-build 2>/dev/null)
rc=$?
size=$(stat -c %s "$scratch/min-lf" 2>/dev/null || echo 0)
if [ $rc -eq 0 ] && [ "$size" -gt 0 ] && [ "$size" -lt 404 ] && grep -q BUG "$scratch/min-lf"; then
	ok "repro --minimize (libFuzzer): 404 -> $size bytes, still crashes"
else
	bad "repro --minimize libFuzzer: rc=$rc size=$size"; echo "$out"
fi
err=$("$ringside" repro --minimize "$scratch/clean-seeds/one" -o "$scratch/x" --target fake --build-dir "$build" --no-build 2>&1 >/dev/null)
[ $? -eq 2 ] && [[ $err == *"does not crash"* ]] && ok "repro --minimize of a clean input -> exit 2" ||
	bad "minimize clean: '$err'"

# ---- more ways to run -------------------------------------------------------------------------
out=$("$ringside" fuzz fake --jobs 2 --time 5 --build-dir "$build" --no-build 2>/dev/null)
rc=$?
if [ $rc -eq 1 ] && grep -q "fuzz-<job>.log" <<<"$out" && grep -q "reproduce: ringside repro" <<<"$out" &&
	[ -f "$build/work/fake/fuzz-0.log" ]; then
	ok "fuzz --jobs 2: workers with their own logs, crash listed"
else
	bad "fuzz --jobs 2: rc=$rc"; echo "$out"
fi
out=$("$ringside" fuzz fake --keep-going --time 4 --build-dir "$build" --no-build 2>/dev/null)
rc=$?
if [ $rc -eq 1 ] && grep -q "reproduce: ringside repro" <<<"$out"; then
	ok "fuzz --keep-going: fork mode records the crash and goes on"
else
	bad "fuzz --keep-going: rc=$rc"; echo "$out"
fi
# interrupted: the summary still comes, exit 0 without a crash
"$ringside" fuzz calm --build-dir "$build" --no-build >"$scratch/int.out" 2>/dev/null &
pid=$!
sleep 3
kill -INT $pid
wait $pid
rc=$?
if [ $rc -eq 0 ] && grep -q "(interrupted)" "$scratch/int.out" &&
	grep -q "^  executions   [1-9]" "$scratch/int.out"; then
	ok "fuzz without --time: Ctrl-C stops the engine, summary, exit 0"
else
	bad "fuzz interrupted: rc=$rc"; cat "$scratch/int.out"
fi
# AFL++ (if installed): the stand-in built with afl-clang-fast
if command -v afl-clang-fast >/dev/null 2>&1 && command -v afl-fuzz >/dev/null 2>&1 &&
	AFL_QUIET=1 afl-clang-fast -DCLEAN=1 -DAFLMAIN "$scratch/fake.c" 		-o "$build/bin/fuzz_calm_afl" >"$scratch/afl-cc.log" 2>&1; then
	sed -i "s|^calm${tab}fuzz_calm_libfuzzer${tab}fuzz_calm${tab}-|calm${tab}fuzz_calm_libfuzzer${tab}fuzz_calm${tab}fuzz_calm_afl|" 		"$build/fuzz-targets.txt"
	out=$("$ringside" fuzz calm --engine afl --time 4 --build-dir "$build" --no-build 2>"$scratch/afl.err")
	rc=$?
	if [ $rc -eq 0 ] && grep -q "edges found of" <<<"$out" &&
		grep -qE "^  executions   [1-9]" <<<"$out" && [ -f "$build/work/calm/afl-out/main/fuzzer_stats" ]; then
		ok "fuzz --engine afl: AFL++ run, summary from fuzzer_stats"
	else
		bad "fuzz --engine afl: rc=$rc"; echo "$out"; tail -5 "$scratch/afl.err"
		tail -20 "$build/work/calm/afl-main.log"
	fi
	out=$("$ringside" fuzz fake --engine afl --time 2 --build-dir "$build" --no-build 2>&1 >/dev/null)
	[ $? -eq 2 ] && [[ $out == *"not an AFL++ build"* ]] && ok "fuzz --engine afl without an AFL binary -> error" ||
		bad "fuzz fake --engine afl: '$out'"
else
	echo "skip AFL++ checks (afl-clang-fast / afl-fuzz not usable)"
fi

# ---- building: a stand-in cmake records what would run ---------------------------------------
# (its "configure" makes a build whose target "ring" is the calm stand-in)
mkdir -p "$scratch/stub"
cat >"$scratch/stub/cmake" <<EOF2
#!/bin/sh
echo "cmake \$*" >>"$scratch/stub/log"
[ -n "\${STUB_FAIL:-}" ] && exit 1
case "\$*" in
*--preset*) b=\$(echo "\$*" | sed 's/.*-B //'); mkdir -p "\$b"; cp -r "$build/bin" "\$b/";
	grep "^calm" "$build/fuzz-targets.txt" | sed 's/^calm/ring/' >"\$b/fuzz-targets.txt";
	touch "\$b/CMakeCache.txt" ;;
esac
exit 0
EOF2
chmod +x "$scratch/stub/cmake"
out=$(PATH="$scratch/stub:$PATH" "$ringside" fuzz ring --time 1 --build-dir "$scratch/new-build" 2>&1)
rc=$?
if [ $rc -eq 0 ] && grep -q -- "--preset fuzz -B $scratch/new-build" "$scratch/stub/log" &&
	grep -q -- "--build $scratch/new-build --target fuzz_ring_libfuzzer" "$scratch/stub/log" &&
	grep -q -- "--build $scratch/new-build --target fuzz_corpus_build" "$scratch/stub/log"; then
	ok "fuzz: configures a missing build with the preset, builds the target and the seeds"
else
	bad "fuzz build: rc=$rc"; echo "$out"; cat "$scratch/stub/log"
fi
out=$(PATH="$scratch/stub:$PATH" "$ringside" repro "$scratch/clean-seeds/one" --target ring --build-dir "$scratch/new-build" 2>&1)
rc=$?
[ $rc -eq 0 ] && grep -q -- "--build $scratch/new-build --target fuzz_ring$" "$scratch/stub/log" &&
	ok "repro: builds the standalone driver first" || { bad "repro build: rc=$rc"; echo "$out"; }
out=$(STUB_FAIL=1 PATH="$scratch/stub:$PATH" "$ringside" fuzz ring --time 1 --build-dir "$scratch/other-build" 2>&1)
rc=$?
[ $rc -eq 1 ] && [[ $out == *"configuring $scratch/other-build failed"* ]] &&
	ok "fuzz: a failing configure -> exit 1" || bad "fuzz failing configure: rc=$rc '$out'"
out=$(STUB_FAIL=1 PATH="$scratch/stub:$PATH" "$ringside" fuzz ring --time 1 --build-dir "$scratch/new-build" 2>&1)
rc=$?
[ $rc -eq 1 ] && [[ $out == *"building in $scratch/new-build failed"* ]] &&
	ok "fuzz: a failing build -> exit 1" || bad "fuzz failing build: rc=$rc '$out'"
err=$(RS_SOURCE_DIR=/nonexistent "$ringside" fuzz calm --build-dir "$build" 2>&1 >/dev/null)
[ $? -eq 2 ] && [[ $err == *"RS_SOURCE_DIR=/nonexistent is not a ringside source tree"* ]] &&
	ok "RS_SOURCE_DIR checked" || bad "RS_SOURCE_DIR: '$err'"
out=$(RS_SOURCE_DIR="$src" "$ringside" fuzz --list --build-dir "$build" 2>&1)
[ "$out" = $'fake\ncalm' ] && ok "RS_SOURCE_DIR used" || bad "RS_SOURCE_DIR list: '$out'"

# ---- tools/fuzz_smoke.sh ----------------------------------------------------------------------
out=$("$src/tools/fuzz_smoke.sh" --build "$build" --time 3 fake calm 2>&1)
rc=$?
if [ $rc -eq 1 ] && grep -q "^FAIL fake" <<<"$out" &&
	grep -q "input kept: $build/fuzz-run/fake/crash-" <<<"$out" &&
	grep -q "^ok   calm" <<<"$out"; then
	ok "fuzz_smoke.sh: finding reported with its input kept, clean target passes, exit 1"
else
	bad "fuzz_smoke.sh: rc=$rc"; echo "$out"
fi

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
