#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make check's sparse step: the series must add no sparse warning.
# Every .c file of the kernel that the series touches and the test kernel
# builds is checked with sparse through kbuild (C=2) twice: in the series
# tree (build/linux, objects in build/kobj, built before this runs) and in
# the base (an export of tag "base" in build/sparse/base, objects in
# build/sparse/base-obj, configured like build/kobj). A warning counts as
# new when the series has it more often than the base, compared by file
# and text without line numbers, which the series shifts. The step fails
# on any new warning and prints them; both lists stay in build/sparse/.
# The base side is kept between runs: only its first run is slow.
#   SPARSE=PATH                       another sparse than make deps' one
#   sparse.sh --compare BASE SERIES   judge two saved lists only

. "$(dirname "$0")/lib.sh"

SPARSE=${SPARSE:-$BUILD/sparse/bin/sparse}	# scripts/sparse-build.sh
BASE_SRC=$BUILD/sparse/base
BASE_OBJ=$BUILD/sparse/base-obj
BASE_STAMP=$BUILD/sparse/base.commit	# the commit BASE_SRC holds
OUT=$BUILD/sparse

kernel_cc	# build/kobj's compiler: another one would rebuild its objects
kmake() {	# srctree objdir make-args...
	nice -n 19 make -s -C "$1" O="$2" CC="$CC" -j"$(nproc)" "${@:3}"
}

# Print the warnings of the second list that the first does not have, as a
# multiset of "file: text" (line and column dropped); fail if there are any.
compare() {
	awk 'function key(l) { sub(/:[0-9]+:[0-9]+: /, ": ", l); return l }
	     NR == FNR { n[key($0)]++; next }
	     n[key($0)]-- > 0 { next }
	     { print; new++ }
	     END { exit (new > 0) }' "$1" "$2"
}

# kbuild silently checks nothing with a sparse that checker-valid.sh
# rejects (Debian 12's 0.6.4): the step must not pass that way.
check_sparse() {
	[ "$(sh "$LINUX/scripts/checker-valid.sh" "$SPARSE" 2>/dev/null)" = 1 ] ||
		die "$SPARSE missing or too old for this kernel; run 'make deps'"
}

# The objects to check: .c files of the series (not tools/) that the test
# kernel built. A _test.c file #included by another is checked with it.
series_objs() {
	local f
	git -C "$LINUX" diff --name-only --diff-filter=d base..HEAD -- '*.c' ':!tools' |
	while read -r f; do
		[ -e "$KOBJ/${f%.c}.o" ] && echo "${f%.c}.o"
	done
}

# build/sparse/base: the files of tag "base", exported again (and its
# objects dropped) only when the tag moves.
base_tree() {
	local commit
	commit=$(git -C "$LINUX" rev-parse 'base^{commit}')
	[ -d "$BASE_SRC" ] && [ "$(cat "$BASE_STAMP" 2>/dev/null)" = "$commit" ] && return 0
	msg "exporting base $commit to $BASE_SRC"
	rm -rf "$BASE_SRC" "$BASE_OBJ" "$BASE_STAMP"
	mkdir -p "$BASE_SRC"
	git -C "$LINUX" archive base | tar -x -C "$BASE_SRC"
	echo "$commit" > "$BASE_STAMP"
}

# build/sparse/base-obj is configured as build/kobj is; kbuild rebuilds
# what a new configuration changes.
base_config() {
	mkdir -p "$BASE_OBJ"
	cmp -s "$KOBJ/.config" "$BASE_OBJ/kobj.config" && return 0
	msg "configuring $BASE_OBJ like $KOBJ"
	cp "$KOBJ/.config" "$BASE_OBJ/.config"
	kmake "$BASE_SRC" "$BASE_OBJ" olddefconfig >/dev/null
	cp "$KOBJ/.config" "$BASE_OBJ/kobj.config"
}

# Sparse's messages for the objects $4... of srctree $1, objdir $2, into
# file $3 as "path:line:col: text", paths relative to the tree. The objects
# are brought up to date first, so that the C=2 pass prints sparse alone.
run_sparse() {
	local src=$1 obj=$2 out=$3 log=$3.log
	shift 3
	if ! kmake "$src" "$obj" "$@" > "$log" 2>&1; then
		tail -n 20 "$log" >&2
		die "building $* in $obj failed (log: $log)"
	fi
	if ! kmake "$src" "$obj" C=2 CHECK="$SPARSE" "$@" > "$log" 2>&1; then
		tail -n 20 "$log" >&2
		die "sparse on $obj failed (log: $log)"
	fi
	sed -n -e "s|$src/||g" -e "s|$obj/||g" -e 's|^\./||' \
		-e '/^[^ :]*:[0-9]*:[0-9]*: /p' "$log" > "$out"
}

if [ "${1:-}" = --compare ]; then
	[ $# -eq 3 ] || die "usage: $0 [--compare BASE SERIES]"
	compare "$2" "$3"
	exit
fi

start=$(now)
check_sparse
[ -f "$KOBJ/vmlinux" ] || die "no kernel in $KOBJ; run 'make kernel' first"
mapfile -t objs < <(series_objs)
[ ${#objs[@]} -gt 0 ] || die "no object of the series' .c files in $KOBJ"
base_objs=()
for o in "${objs[@]}"; do
	git -C "$LINUX" cat-file -e "base:${o%.o}.c" 2>/dev/null && base_objs+=("$o")
done

run_sparse "$LINUX" "$KOBJ" "$OUT/series.warnings" "${objs[@]}"
: > "$OUT/base.warnings"
if [ ${#base_objs[@]} -gt 0 ]; then
	base_tree
	base_config
	run_sparse "$BASE_SRC" "$BASE_OBJ" "$OUT/base.warnings" "${base_objs[@]}"
fi

msg "${#objs[@]} files (${#base_objs[@]} on the base):" \
    "$(wc -l < "$OUT/series.warnings") sparse messages in the series," \
    "$(wc -l < "$OUT/base.warnings") in the base"
if ! compare "$OUT/base.warnings" "$OUT/series.warnings" > "$OUT/new.warnings"; then
	cat "$OUT/new.warnings"
	msg "$(wc -l < "$OUT/new.warnings") new sparse warnings (above) in $(elapsed "$start") s"
	exit 1
fi
msg "no new sparse warning in $(elapsed "$start") s"
