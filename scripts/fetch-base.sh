#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Fetch the pinned base (base.conf) with apt, through a project-private apt
# configuration under build/apt: the system's sources and state are untouched.

. "$(dirname "$0")/lib.sh"

APT=$BUILD/apt
DEB=$BUILD/base/${BASE_PACKAGE}_${BASE_VERSION}_all.deb
TARBALL=$BUILD/base/$(basename "$BASE_TARBALL")

check_sha() { [ -f "$1" ] && echo "$2  $1" | sha256sum -c --quiet - >/dev/null 2>&1; }

if [ -f "$TARBALL" ] && check_sha "$TARBALL" "$BASE_TARBALL_SHA256"; then
	exit 0
fi

mkdir -p "$BUILD/base"
apt_private "$APT"
echo "deb $BASE_MIRROR $BASE_SUITE main" > "$APT/etc/sources.list"

start=$(now)
if ! check_sha "$DEB" "$BASE_DEB_SHA256"; then
	msg "fetching $BASE_PACKAGE $BASE_VERSION from $BASE_SUITE"
	apt-get -q "${APTOPT[@]}" update >/dev/null ||
		die "apt-get update of $BASE_SUITE failed"
	(cd "$BUILD/base" && apt-get -q "${APTOPT[@]}" download \
		"$BASE_PACKAGE=$BASE_VERSION") ||
		die "cannot download $BASE_PACKAGE=$BASE_VERSION; if $BASE_SUITE" \
		    "dropped it, pin the newest 7.3 in base.conf (version and both sha256)"
	check_sha "$DEB" "$BASE_DEB_SHA256" ||
		die "$DEB: sha256 mismatch (expected $BASE_DEB_SHA256)"
fi
dpkg-deb --fsys-tarfile "$DEB" | tar -xO "./$BASE_TARBALL" > "$TARBALL.tmp"
check_sha "$TARBALL.tmp" "$BASE_TARBALL_SHA256" ||
	die "$TARBALL: sha256 mismatch (expected $BASE_TARBALL_SHA256)"
mv "$TARBALL.tmp" "$TARBALL"
rm -f "$DEB"
msg "base ready in $(elapsed "$start") s: $TARBALL"
