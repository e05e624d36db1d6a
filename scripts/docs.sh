#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The documentation gate: the kernel's own "make htmldocs" (Sphinx from
# Debian) over the reStructuredText files the series changes, and nothing
# else of Documentation/ (Sphinx's include_patterns), so that it costs
# seconds, not the whole book. Any warning fails, but those that only say
# the rest of the book was left out (a toctree, a :doc: link or a :ref:
# to a label of a document that exists but was not built, a changed
# document outside of any built toctree), that Graphviz is missing, or
# that name only files the series does not change (the base's own).
#   docs.sh   (output in build/docs)

. "$(dirname "$0")/lib.sh"

[ -d "$LINUX/.git" ] || die "no tree; run 'make tree' first"
command -v sphinx-build >/dev/null || die "no sphinx-build; run 'make deps'"
out=$BUILD/docs
mkdir -p "$out"

mapfile -t docs < <(git -C "$LINUX" diff --name-only --diff-filter=AM base..HEAD \
	-- 'Documentation/*.rst' | sed 's|^Documentation/||')
# A changed text file that a document includes (kernel-parameters.txt):
# the including document.
while read -r f; do
	while read -r d; do
		docs+=("${d#Documentation/}")
	done < <(cd "$LINUX" && grep -rlE "^\.\. (literal)?include:: .*/?${f##*/}\$" \
			Documentation --include='*.rst' || true)
done < <(git -C "$LINUX" diff --name-only --diff-filter=AM base..HEAD -- \
	'Documentation/*' ':!Documentation/*.rst')
[ ${#docs[@]} -gt 0 ] || die "the series changes no .rst file: nothing checked"
# Sphinx needs the book's root document; its toctree then names the rest.
patterns=$(IFS=,; echo "index.rst,${docs[*]}")

changed=$(git -C "$LINUX" diff --name-only base..HEAD)

# A warning about a file the series does not change is the base's (the
# ABI files' duplicates, for one): the paths it names, relative to the tree.
base_warning() {	# line
	local paths p
	paths=$(grep -oE "($LINUX/|\./)[A-Za-z0-9_./+-]+:[0-9]+" <<< "$1" |
		sed -E -e "s|^$LINUX/||" -e 's|^\./||' -e 's|:[0-9]+$||' || true)
	[ -n "$paths" ] || return 1
	for p in $paths; do
		grep -qxF "$p" <<< "$changed" && return 1
	done
	return 0
}

# A document left out on purpose: it exists under Documentation/.
left_out() {	# the name of a document, relative to Documentation/
	[ -f "$LINUX/Documentation/$1.rst" ] || [ -f "$LINUX/Documentation/${1#/}.rst" ]
}

# A label defined by a document left out (".. _LABEL:" in one not built).
label_left_out() {	# label
	local f
	f=$(grep -rlxF ".. _$1:" "$LINUX/Documentation" --include='*.rst' | head -n 1)
	[ -n "$f" ] && ! printf '%s\n' "${docs[@]}" |
		grep -qxF "${f#"$LINUX"/Documentation/}"
}

log=$out/sphinx.log
rc=0
make -C "$LINUX" O="$out" htmldocs SPHINXDIRS=. \
	SPHINXOPTS="-D include_patterns=$patterns" > "$log" 2>&1 || rc=$?
bad=0
while IFS= read -r line; do
	case "$line" in
	*"document isn't included in any toctree"*) continue ;;
	*"toctree contains reference to "*"document '"*)
		doc=${line##*document \'}; doc=${doc%\'*}
		left_out "$doc" && continue ;;
	# Graphviz makes figures look better; the series draws none.
	"WARNING: dot(1) not found, "*) continue ;;
	*"undefined label: '"*"'")
		label=${line##*undefined label: \'}; label=${label%\'}
		label_left_out "$label" && continue ;;
	*"unknown document: "*)
		doc=${line##*unknown document: }; doc=${doc#\'}; doc=${doc%\'}
		# Relative to the referring document's directory.
		src=${line%%:*}; src=${src#*Documentation/}
		left_out "$(dirname "$src")/$doc" && continue
		left_out "$doc" && continue ;;
	esac
	base_warning "$line" && continue
	printf '%s\n' "$line"
	bad=$((bad + 1))
done < <(grep -E 'WARNING|ERROR|CRITICAL' "$log" || true)
echo "htmldocs: ${#docs[@]} documents (${docs[*]}), $bad warnings"
[ "$rc" -eq 0 ] || { tail -n 5 "$log"; die "make htmldocs failed: $rc"; }
[ "$bad" -eq 0 ]
