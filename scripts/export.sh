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

# The cover letter: its subject and text are kept from the one in patches/
# (edit them there); its shortlog and diffstat follow the queue, its author
# and date are those of the newest patch (not the exporting user's git
# identity), so that exporting the same tree twice, in any clone, gives the
# same files. Not in patches/series: it is not applied.
cover=$TOP/patches/0000-cover-letter.patch
mkdir -p "$tmp/cover"
git -C "$LINUX" -c core.abbrev=12 -c diff.noprefix=false \
	-c diff.algorithm=myers -c diff.renames=true -c diff.mnemonicPrefix=false \
	-c format.subjectPrefix=PATCH format-patch -q --zero-commit \
	--no-signature --cover-letter --numbered --no-thread --stat=80 \
	-o "$tmp/cover" base..HEAD
subject="*** SUBJECT HERE ***"
: > "$tmp/blurb"
if [ -f "$cover" ]; then
	subject=$(sed -n 's/^Subject: \[PATCH [0-9]*\/[0-9]*\] //p' "$cover")
	# The text: from after the headers to the shortlog's author line.
	awk 'body && /^[^ ].* \([0-9]+\):$/ { exit }
	     body { print }
	     !body && /^$/ { body = 1 }' "$cover" | sed '$d' > "$tmp/blurb"
fi
[ -s "$tmp/blurb" ] || echo "*** BLURB HERE ***" > "$tmp/blurb"
date=$(git -C "$LINUX" log -1 --format=%aD HEAD)
from=$(git -C "$LINUX" log -1 --format='%an <%ae>' HEAD)
awk -v subject="$subject" -v date="$date" -v from="$from" -v blurb="$tmp/blurb" '
	# The header may be folded over several lines: drop its continuations.
	in_from && /^[ \t]/ { next }
	{ in_from = 0 }
	/^From: / && !from_done { print "From: " from; from_done = in_from = 1; next }
	/^Date: / && !hdr { print "Date: " date; hdr = 1; next }
	/^\*\*\* BLURB HERE \*\*\*$/ {
		while ((getline line < blurb) > 0) print line
		next
	}
	{ sub(/\*\*\* SUBJECT HERE \*\*\*/, subject); print }
' "$tmp/cover/0000-cover-letter.patch" > "$tmp/0000-cover-letter.patch.new"

mkdir -p "$dest"
rm -f "$dest"/*.patch
cp "$tmp"/*.patch "$dest"/ 2>/dev/null || true
cp "$tmp/0000-cover-letter.patch.new" "$dest/0000-cover-letter.patch"
cp "$tmp/series" "$dest/series"
msg "exported $(grep -c . "$dest/series" || true) patches and the cover letter to $dest"
