#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Install what building and running the series needs, then fetch the base.
# Idempotent: when everything is there it does nothing and says so.

. "$(dirname "$0")/lib.sh"

# Debian 12 packages from the main suites (gnuplot-nox: make bench's plots;
# python3-sphinx and python3-yaml: the htmldocs gate).
# Not sparse: its 0.6.4 is too old for 7.3; sparse-build.sh builds 0.6.5.
PKGS=(build-essential flex bison bc libelf-dev libssl-dev dwarves python3
      cpio rsync xz-utils kmod git file busybox-static ccache
      python3-ply python3-git uuid-dev libcap-dev gnuplot-nox
      python3-sphinx python3-yaml)
# QEMU 10.0 from bookworm-backports: 7.2 lacks VT-d first-stage (x-flts).
QEMU_PKG=qemu-system-x86
QEMU_MIN=10.0
BPO_LIST=/etc/apt/sources.list.d/bookworm-backports.sources

missing_pkgs() {
	local p
	for p in "$@"; do
		dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null |
			grep -q '^install ok installed$' || echo "$p"
	done
}

qemu_ok() {
	command -v qemu-system-x86_64 >/dev/null || return 1
	local v
	v=$(qemu-system-x86_64 --version | sed -n '1s/.*version \([0-9.]*\).*/\1/p')
	[ "$(printf '%s\n%s\n' "$QEMU_MIN" "$v" | sort -V | head -1)" = "$QEMU_MIN" ]
}

apt_install() {
	if ! as_root env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -q --no-install-recommends "$@"; then
		die "could not install: $*. Check that Debian's archive is reachable" \
		    "('apt-get update' works) and install them by hand, then rerun 'make deps'."
	fi
}

install_system_packages() {
	local need
	mapfile -t need < <(missing_pkgs "${PKGS[@]}")
	if [ ${#need[@]} -gt 0 ] || ! qemu_ok; then
		if [ ! -e "$BPO_LIST" ]; then
			msg "adding bookworm-backports for $QEMU_PKG"
			as_root tee "$BPO_LIST" >/dev/null <<-BPO
			Types: deb
			URIs: http://deb.debian.org/debian
			Suites: bookworm-backports
			Components: main
			Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
			BPO
		fi
		as_root apt-get update -q || die "apt-get update failed"
	fi
	if [ ${#need[@]} -gt 0 ]; then
		msg "installing ${need[*]}"
		apt_install "${need[@]}"
	fi
	if ! qemu_ok; then
		msg "installing $QEMU_PKG from bookworm-backports"
		apt_install -t bookworm-backports "$QEMU_PKG" ||
			die "$QEMU_PKG >= $QEMU_MIN is required"
		qemu_ok || die "$QEMU_PKG >= $QEMU_MIN is required; got $(qemu-system-x86_64 --version | head -1)"
	fi
}

install_system_packages
"$TOP/scripts/fetch-base.sh"
"$TOP/scripts/sparse-build.sh"	# after fetch-base.sh: it tests with the base's script
msg "all dependencies present"
