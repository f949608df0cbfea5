#!/usr/bin/env bash
# ringside — the main job: install what is missing, build (default preset),
# and run the demonstration on the built-in defaults. Extra arguments go to
# `ringside demo` (e.g. --machine "mem=32M mmio:echo").
set -euo pipefail
cd "$(dirname "$0")/.."
tools/deps.sh
cmake --preset default >/dev/null
cmake --build --preset default
exec build/bin/ringside demo "$@"
