#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build sparse >= 0.6.5 into build/sparse for make check's sparse step.
# Why: Debian 12 ships sparse 0.6.4, which cannot parse __typeof_unqual__;
# Linux 7.3's scripts/checker-valid.sh then rejects it and kbuild's C=1/C=2
# quietly checks nothing. sid has 0.6.5: its source comes through a
# project-private apt configuration (build/apt-sparse), as fetch-base.sh
# does, so the system's apt sources and state are untouched; it is built
# with plain make (no packaging, no extra build dependencies) and installed
# under build/sparse only.
# Idempotent: nothing to do when the installed sparse passes the kernel's
# own test (checker-valid.sh of the base, kept beside it).

. "$(dirname "$0")/lib.sh"

SPARSE_SUITE=sid
SPARSE_MIN=0.6.5~rc1		# the first to parse __typeof_unqual__
APT=$BUILD/apt-sparse
PREFIX=$BUILD/sparse
SPARSE=$PREFIX/bin/sparse
VALID=$PREFIX/checker-valid.sh
TARBALL=$BUILD/base/$(basename "$BASE_TARBALL")

# checker-valid.sh prints 1 when it accepts the checker (and exits 0 either
# way). The base's copy, so that the test needs no tree (make deps runs
# before make tree); only the base tarball, which fetch-base.sh brings.
accepted() {
	[ -x "$SPARSE" ] || return 1
	[ -f "$TARBALL" ] || die "no base tarball; run scripts/fetch-base.sh first"
	if [ ! "$VALID" -nt "$TARBALL" ]; then
		mkdir -p "$PREFIX"
		tar -xJOf "$TARBALL" --wildcards --occurrence=1 \
			'*/scripts/checker-valid.sh' > "$VALID.tmp"
		mv "$VALID.tmp" "$VALID"
	fi
	[ "$(sh "$VALID" "$SPARSE" 2>/dev/null)" = 1 ]
}

apt_sparse() { apt-get -q "${APTOPT[@]}" "$@"; }

# Download and unpack the source of sid's sparse into $1; print its
# upstream version.
fetch_source() {
	local dir=$1 ver
	apt_private "$APT"
	echo "deb-src http://deb.debian.org/debian $SPARSE_SUITE main" > "$APT/etc/sources.list"
	apt_sparse update >/dev/null || die "apt-get update of $SPARSE_SUITE (deb-src) failed"
	ver=$(apt-cache "${APTOPT[@]}" showsrc sparse | sed -n 's/^Version: //p' | sort -V | tail -n 1)
	[ -n "$ver" ] || die "no source package sparse in $SPARSE_SUITE"
	dpkg --compare-versions "$ver" ge "$SPARSE_MIN" ||
		die "$SPARSE_SUITE has sparse $ver; $SPARSE_MIN or later is needed"
	(cd "$dir" && apt_sparse source --download-only "sparse=$ver" >/dev/null) ||
		die "cannot download the source of sparse $ver"
	# Upstream as it is: Debian's patches make it build with gcc-16. No
	# check of the uploader's signature (its key is not on the system):
	# apt has checked each file against sid's signed index.
	dpkg-source -q --no-check --skip-patches -x "$dir"/sparse_*.dsc "$dir/src" >/dev/null
	ver=${ver#*:}
	echo "${ver%-*}"
}

build_install() {
	local tmp=$PREFIX/tmp ver
	rm -rf "$tmp" && mkdir -p "$tmp"
	ver=$(fetch_source "$tmp")
	msg "building sparse $ver"
	# The tarball's Makefile says 0.6.4 and would ask git (ours) for
	# better: name the version we built. Only sparse: nothing optional.
	if ! nice -n 19 make -C "$tmp/src" -j"$(nproc)" CC=gcc \
		SPARSE_VERSION="$ver" sparse > "$tmp/build.log" 2>&1; then
		tail -n 20 "$tmp/build.log" >&2
		die "sparse $ver did not build"
	fi
	install -D "$tmp/src/sparse" "$SPARSE"
	rm -rf "$tmp"
}

accepted && exit 0
start=$(now)
build_install
accepted || die "$SPARSE ($("$SPARSE" --version)) fails the kernel's checker-valid.sh"
msg "sparse $("$SPARSE" --version) ready in $(elapsed "$start") s: $SPARSE"
