# SPDX-License-Identifier: GPL-2.0
# Common helpers for the host scripts. Source it; do not run it.

set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-$TOP/build}
LINUX=$BUILD/linux			# the git tree: base + series
KOBJ=${KOBJ:-$BUILD/kobj}		# out-of-tree kernel objects
INITRAMFS=$BUILD/initramfs.cpio
LOGS=$BUILD/logs

# shellcheck source=../base.conf
. "$TOP/base.conf"

msg() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
die() { msg "error: $*"; exit 1; }

# Run a command as root: directly when we are root, otherwise through sudo.
as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# The compiler for kernel builds: ccache gcc when ccache is installed, with
# paths below build/ hashed as relative ones, so clones share the cache.
kernel_cc() {
	CC=gcc
	if command -v ccache >/dev/null; then
		CC="ccache gcc"
		export CCACHE_BASEDIR=$BUILD
	fi
}

# The "boot=ARG" words of a tests.list line, each ARG once, space-separated.
boot_args() {
	local w args=()
	for w in $1; do
		[[ "$w" == boot=* ]] && args+=("${w#boot=}")
	done
	echo "${args[*]}"
}

# The environment of vm.sh for a test whose tests.list words (after the
# stages) are $1: VM_MEM, VM_TIMEOUT, VM_BOOT_ARGS, VM_TRACE (QEMU trace
# events besides vm.sh's own, from "trace=EVENT" words), and xfail.
test_env() {
	local w
	xfail=0
	[[ " $1 " == *" xfail "* ]] && xfail=1
	export VM_MEM=2G VM_TIMEOUT=180 VM_BOOT_ARGS VM_TRACE= VM_DEVICES=
	[[ " $1 " =~ \ mem=([0-9]+[MG])\  ]] && VM_MEM=${BASH_REMATCH[1]}
	[[ " $1 " =~ \ timeout=([0-9]+)\  ]] && VM_TIMEOUT=${BASH_REMATCH[1]}
	VM_BOOT_ARGS=$(boot_args "$1")
	for w in $1; do
		[[ "$w" == trace=* ]] && VM_TRACE+="${VM_TRACE:+ }${w#trace=}"
		[[ "$w" == device=* ]] && VM_DEVICES+="${VM_DEVICES:+ }${w#device=}"
	done
	return 0
}

# A project-private apt configuration under $1 (its own sources.list,
# lists, cache and status) in the array APTOPT, for apt-get and
# apt-cache: the system's apt sources and state stay untouched.
apt_private() {
	mkdir -p "$1"/{etc,lists/partial,cache/archives/partial}
	: > "$1/status"
	APTOPT=(-o "Dir::Etc::SourceList=$1/etc/sources.list"
		-o Dir::Etc::SourceParts=/dev/null
		-o "Dir::State::Lists=$1/lists"
		-o "Dir::Cache=$1/cache"
		-o "Dir::State::status=$1/status"
		-o Debug::NoLocking=1
		-o APT::Sandbox::User=root)
}

# Seconds since the epoch with a fraction, for timings.
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
