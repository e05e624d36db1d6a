#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Write base..HEAD of build/linux back into patches/ as format-patch files
# with stable options, and rewrite patches/series to match.
#   export.sh [--to DIR]   (default: patches/)

. "$(dirname "$0")/lib.sh"

dest=$TOP/patches
[ "${1:-}" = --to ] && dest=$2
[ -d "$LINUX/.git" ] || die "no tree; run 'make tree' first"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Pin every option that shapes the output, whatever the user's git config.
git -C "$LINUX" -c core.abbrev=12 -c diff.noprefix=false -c format.signOff=false \
	-c diff.algorithm=myers -c diff.renames=true -c diff.mnemonicPrefix=false \
	-c format.subjectPrefix=PATCH -c format.coverLetter=false \
	format-patch -q --zero-commit --no-signature --no-cover-letter \
	--no-numbered --no-thread --stat=80 -o "$tmp" base..HEAD
(cd "$tmp" && ls -1 -- *.patch 2>/dev/null || true) > "$tmp/series"

mkdir -p "$dest"
rm -f "$dest"/*.patch
cp "$tmp"/*.patch "$dest"/ 2>/dev/null || true
cp "$tmp/series" "$dest/series"
msg "exported $(grep -c . "$dest/series" || true) patches to $dest"
