#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The kernel-doc gate: scripts/kernel-doc -Wall over every C and header file
# the series changes (selftests aside). A warning the same file does not
# have on the base fails, so the series adds no kernel-doc defect and is
# not blamed for the base's own. Warnings are compared without their line
# numbers, as a multiset.
#   kdoc.sh

. "$(dirname "$0")/lib.sh"

[ -d "$LINUX/.git" ] || die "no tree; run 'make tree' first"
cd "$LINUX"
base_dir=$(mktemp -d)
trap 'rm -rf "$base_dir"' EXIT

# One warning per line, without the "Warning: FILE:LINE" prefix.
warnings() {	# dir file
	(cd "$1" && "$LINUX/scripts/kernel-doc" -Wall -none "$2" 2>&1) |
		sed -E 's/^(Warning|warning|Error|error): [^ ]+:[0-9]+:? //' | sort
}

files=$(git diff --name-only base..HEAD -- '*.c' '*.h' | grep -v '^tools/' || true)
[ -n "$files" ] || die "the series changes no C or header file: nothing checked"
n=0 bad=0
for f in $files; do
	[ -f "$f" ] || continue	# deleted by the series
	n=$((n + 1))
	: > "$base_dir/old"
	if git cat-file -e "base:$f" 2>/dev/null; then
		mkdir -p "$base_dir/tree/$(dirname "$f")"
		git show "base:$f" > "$base_dir/tree/$f"
		warnings "$base_dir/tree" "$f" > "$base_dir/old"
	fi
	added=$(comm -23 <(warnings "$LINUX" "$f") "$base_dir/old")
	if [ -n "$added" ]; then
		printf '%s:\n%s\n' "$f" "$(sed 's/^/  /' <<< "$added")"
		bad=$((bad + 1))
	fi
done
echo "kernel-doc: $n files checked, $bad with new warnings"
[ "$bad" -eq 0 ]
