#!/usr/bin/env bash
# ringside — the main job: install what is missing, build (default preset),
# then on the built-in defaults:
#   1. bring every device up over every transport with the reference driver
#      and do real I/O (ringside demo);
#   2. record the test-guest firmware's session under KVM, or Unicorn where
#      /dev/kvm is missing (ringside record);
#   3. replay the trace with no guest CPU, checking every output
#      (ringside stat, ringside replay);
#   4. a short fuzz campaign (ringside fuzz; builds the fuzz preset the
#      first time).
# Extra arguments go to `ringside demo` (e.g. --machine "mem=32M mmio:echo").
set -euo pipefail
cd "$(dirname "$0")/.."
tools/deps.sh
cmake --preset default >/dev/null
cmake --build --preset default
rs=build/bin/ringside
trace=build/demo/session.trace
mkdir -p build/demo

echo; echo "== 1/4 bring-up: every device, every transport, reference driver =="
"$rs" demo "$@"

echo; echo "== 2/4 record: test firmware under KVM (Unicorn without /dev/kvm) =="
"$rs" record -o "$trace"

echo; echo "== 3/4 replay: no guest CPU, every output checked =="
"$rs" stat "$trace"
"$rs" replay "$trace"

echo; echo "== 4/4 fuzz: a short libFuzzer campaign =="
"$rs" fuzz "${RS_DEMO_FUZZ_TARGET:-blk_pci_modern}" --time "${RS_DEMO_FUZZ_SECONDS:-20}"
