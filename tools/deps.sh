#!/usr/bin/env bash
# ringside — install the Debian packages the project needs, if any are missing.
#
#   tools/deps.sh            check, and install what is missing (needs root or sudo)
#   tools/deps.sh --check    only check; exit 1 listing what is missing
#
# Does nothing (and says so in one line) when everything is present. When
# packages are missing and it cannot install them, it prints one line naming
# them and the command to run, and exits 1.
set -euo pipefail

PACKAGES=(
	cmake ninja-build gcc make pkg-config
	clang llvm libclang-rt-14-dev   # libFuzzer, sanitizers, llvm-cov/llvm-profdata
	afl++                            # AFL++ (afl-clang-fast)
	libzstd-dev                      # trace compression
	libunicorn-dev                   # recorder without /dev/kvm
	libslirp-dev libglib2.0-dev      # user-mode networking backend for net (slirp.pc needs glib)
	zstd zip unzip python3 binutils
)

check_only=0
[ "${1:-}" = "--check" ] && check_only=1

missing=()
for p in "${PACKAGES[@]}"; do
	st=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
	case "$st" in
	ii*) ;;
	*) missing+=("$p") ;;
	esac
done

if [ ${#missing[@]} -eq 0 ]; then
	echo "deps: all ${#PACKAGES[@]} packages present"
	exit 0
fi
if [ $check_only -eq 1 ]; then
	echo "deps: missing: ${missing[*]}" >&2
	exit 1
fi

if [ "$(id -u)" -eq 0 ]; then
	SUDO=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
	SUDO=(sudo -n)
else
	echo "deps: missing packages (${missing[*]}) and not root: run 'sudo apt-get install -y ${missing[*]}' and try again" >&2
	exit 1
fi

echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
if ! "${SUDO[@]}" apt-get update -qq >/tmp/ringside-apt.log 2>&1 ||
   ! "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >>/tmp/ringside-apt.log 2>&1; then
	echo "deps: apt-get could not install ${missing[*]} (log: /tmp/ringside-apt.log)" >&2
	exit 1
fi
echo "deps: installed ${#missing[@]} packages"
