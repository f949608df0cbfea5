#!/bin/bash -eu
# ringside — OSS-Fuzz build script (also used by .clusterfuzzlite/build.sh).
#
# OSS-Fuzz's `compile` runs this with, in the environment:
#   CC, CFLAGS           compiler and its flags: sanitizer + engine coverage flags
#   LIB_FUZZING_ENGINE   what a fuzz target links to get its engine (a flag such
#                        as -fsanitize=fuzzer, or an archive path)
#   OUT                  where fuzzers, seed corpora, dictionaries and options go
#   SRC, WORK            the sources ($SRC/ringside) and a scratch directory
#   SANITIZER            (optional) address, undefined, memory, coverage, ...
# and produces, for every fuzz target <t> (the harness targets of
# harnesses/targets.cmake and the trace reader):
#   $OUT/<t>                  the fuzzer (LLVMFuzzerTestOneInput + engine)
#   $OUT/<t>_seed_corpus.zip  corpus/<t>/, the generated seeds and
#                             corpus/regression/<t>/, one file per distinct input
#   $OUT/<t>.dict             its dictionary
#   $OUT/<t>.options          [libfuzzer] dict and max_len
#
# The device stack needs no third-party library (RS_SLIRP=OFF); the trace
# reader needs libzstd (the Dockerfile installs libzstd-dev) and is left out
# of MemorySanitizer builds, whose runtime would see the uninstrumented
# libzstd's writes as uninitialised.
#
# Optional: RS_SRC (source tree), RS_OSSFUZZ_TARGETS (space-separated subset
# of targets), RS_OSSFUZZ_MAX_LEN (libFuzzer max_len, default 16384).
set -o pipefail

: "${CC:?}" "${CFLAGS:?}" "${LIB_FUZZING_ENGINE:?}" "${OUT:?}" "${SRC:?}" "${WORK:?}"
sanitizer=${SANITIZER:-address}
mkdir -p "$OUT" "$WORK"
OUT=$(cd "$OUT" && pwd)
WORK=$(cd "$WORK" && pwd)
max_len=${RS_OSSFUZZ_MAX_LEN:-16384}

# The source tree: $RS_SRC, $SRC/ringside (the Dockerfile's COPY), the tree
# this script sits in (tools/oss-fuzz/ or .clusterfuzzlite/), or the current
# directory (the Dockerfile's WORKDIR).
is_tree() { [ -f "$1/CMakeLists.txt" ] && [ -d "$1/harnesses" ]; }
here=$(cd "$(dirname "$0")" && pwd)
src=${RS_SRC:-}
for cand in "$SRC/ringside" "$here/../.." "$here/.." "$PWD"; do
	[ -n "$src" ] && break
	if is_tree "$cand"; then
		src=$(cd "$cand" && pwd)
	fi
done
if [ -z "$src" ] || ! is_tree "$src"; then
	echo "build.sh: cannot find the ringside source tree (set RS_SRC)" >&2
	exit 1
fi

gen=Ninja
command -v ninja >/dev/null 2>&1 || gen="Unix Makefiles"
jobs=$(nproc 2>/dev/null || echo 2)
build=$WORK/ringside-build

# Sanitizer and coverage flags come from $CFLAGS alone (RS_FUZZ_OSSFUZZ, not
# RS_FUZZ/RS_SANITIZE, which would add the fuzz preset's own); the engine
# from RS_FUZZ_ENGINE. Build type None: no -O/-g beyond what $CFLAGS says.
cmake -S "$src" -B "$build" -G "$gen" \
	-DCMAKE_BUILD_TYPE=None \
	-DCMAKE_C_COMPILER="$CC" \
	-DCMAKE_C_FLAGS="$CFLAGS" \
	-DRS_FUZZ_OSSFUZZ=ON \
	-DRS_FUZZ_ENGINE="$LIB_FUZZING_ENGINE" \
	-DRS_FUZZ=OFF -DRS_SANITIZE=OFF -DRS_COVERAGE=OFF -DRS_WERROR=OFF \
	-DRS_SLIRP=OFF \
	-DBUILD_TESTING=OFF

# The targets of this build (harnesses/CMakeLists.txt writes the list):
# name, libFuzzer binary, standalone, AFL++, dictionaries, seed directories.
list=$build/fuzz-targets.txt
names=()
bins=()
dicts=()
seeds=()
while IFS=$'\t' read -r name lf _sa _afl dict seed; do
	[ -n "$name" ] && [ "$lf" != "-" ] || continue
	if [ -n "${RS_OSSFUZZ_TARGETS:-}" ] && [[ " $RS_OSSFUZZ_TARGETS " != *" $name "* ]]; then
		continue
	fi
	if [ "$name" = trace_reader ] && [ "$sanitizer" = memory ]; then
		echo "build.sh: trace_reader left out of the MemorySanitizer build (libzstd)" >&2
		continue
	fi
	names+=("$name")
	bins+=("$lf")
	dicts+=("$dict")
	seeds+=("$seed")
done <"$list"
if [ ${#names[@]} -eq 0 ]; then
	echo "build.sh: no fuzz targets in $list" >&2
	exit 1
fi

cmake --build "$build" -j "$jobs" --target fuzz_corpus_gen "${bins[@]}"

# Seeds generated from reference-driver sessions, into the build tree. A
# generator that cannot run here (an exotic engine) only costs those seeds.
if ! ASAN_OPTIONS=detect_leaks=0 cmake --build "$build" --target fuzz_corpus_build; then
	echo "build.sh: warning: seed generation failed; committed seeds only" >&2
fi

# zip -j of the files of dir into zip, or Python's zipfile without zip(1).
make_zip() {
	local zipfile=$1 dir=$2
	rm -f "$zipfile"
	if command -v zip >/dev/null 2>&1; then
		(cd "$dir" && find . -type f | LC_ALL=C sort | zip -q -X "$zipfile" -@)
	else
		python3 - "$zipfile" "$dir" <<'PY'
import os, sys, zipfile
out, d = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
    for n in sorted(os.listdir(d)):
        z.write(os.path.join(d, n), n)
PY
	fi
}

for i in "${!names[@]}"; do
	name=${names[$i]}
	cp "$build/bin/${bins[$i]}" "$OUT/$name"

	# seed corpus: every file of every seed directory, named by content
	stage=$WORK/ringside-seeds/$name
	rm -rf "$stage"
	mkdir -p "$stage"
	IFS=';' read -r -a dirs <<<"${seeds[$i]}"
	for d in "${dirs[@]}"; do
		[ -d "$d" ] || continue
		while IFS= read -r -d '' f; do
			sum=$(sha1sum "$f" | cut -c1-40)
			cp "$f" "$stage/$sum"
		done < <(find "$d" -type f ! -name '.*' -print0)
	done
	if [ -n "$(ls -A "$stage")" ]; then
		make_zip "$OUT/${name}_seed_corpus.zip" "$stage"
	else
		echo "build.sh: warning: $name has no seeds" >&2
	fi

	# dictionary: the first of the list that exists
	dict=
	IFS=';' read -r -a dl <<<"${dicts[$i]}"
	for d in "${dl[@]}"; do
		if [ -f "$d" ]; then
			dict=$d
			break
		fi
	done
	{
		echo "[libfuzzer]"
		if [ -n "$dict" ]; then
			cp "$dict" "$OUT/$name.dict"
			echo "dict = $name.dict"
		fi
		echo "max_len = $max_len"
	} >"$OUT/$name.options"
done

echo "build.sh: ${#names[@]} fuzz targets in $OUT: ${names[*]}"
