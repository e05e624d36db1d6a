#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Materialize the series: build/linux is the base (one commit, tagged "base")
# plus one commit per patch of patches/series, applied with git am.
# Rerunning resets to base and applies the queue again; commits that the
# queue does not contain are kept on a backup branch first.

. "$(dirname "$0")/lib.sh"

TARBALL=$BUILD/base/$(basename "$BASE_TARBALL")
export GIT_AUTHOR_NAME="Linux base" GIT_AUTHOR_EMAIL="base@invalid"
export GIT_COMMITTER_NAME="IOMMU live update" GIT_COMMITTER_EMAIL="series@invalid"

git_l() { git -C "$LINUX" "$@"; }

create_base() {
	local start tmp
	start=$(now)
	[ -f "$TARBALL" ] || "$TOP/scripts/fetch-base.sh"
	tmp=$BUILD/linux.tmp
	rm -rf "$tmp" && mkdir -p "$tmp"
	msg "unpacking $(basename "$TARBALL")"
	tar -xf "$TARBALL" -C "$tmp" --strip-components=1
	git -C "$tmp" init -q -b series
	git -C "$tmp" config core.abbrev 12
	git -C "$tmp" add -A -f
	GIT_AUTHOR_DATE="2026-01-01T00:00:00Z" GIT_COMMITTER_DATE="2026-01-01T00:00:00Z" \
		git -C "$tmp" commit -q -m "$BASE_PACKAGE $BASE_VERSION"
	git -C "$tmp" tag base
	mv "$tmp" "$LINUX"
	msg "base committed in $(elapsed "$start") s"
}

# Is there work in the tree that the queue would not recreate?
save_unexported() {
	local out
	if [ -n "$(git_l status --porcelain --untracked-files=no)" ]; then
		[ "${FORCE:-0}" = 1 ] ||
			die "$LINUX has uncommitted changes; commit or stash them (or FORCE=1)"
	fi
	[ "$(git_l rev-parse HEAD)" = "$(git_l rev-parse base)" ] && return 0
	out=$(mktemp -d)
	"$TOP/scripts/export.sh" --to "$out" >/dev/null
	if ! diff -rq "$out" "$TOP/patches" >/dev/null; then
		local b="backup/$(date +%Y%m%d-%H%M%S)"
		git_l branch "$b" HEAD
		msg "the tree held commits not in patches/; kept them on branch $b"
	fi
	rm -rf "$out"
}

apply_queue() {
	local p n=0
	git_l checkout -q -f -B series base
	git_l clean -q -fdx
	while read -r p; do
		case "$p" in ''|'#'*) continue ;; esac
		git_l am -q --keep-cr "$TOP/patches/$p" ||
			die "patches/$p does not apply; see 'git -C $LINUX am --show-current-patch'"
		n=$((n + 1))
	done < "$TOP/patches/series"
	msg "applied $n patches on base"
}

[ -d "$LINUX/.git" ] || create_base
save_unexported
apply_queue
