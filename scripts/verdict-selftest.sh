#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The verdict's own test: each folder under tests/verdict/ holds the logs
# of a hand-made run (ktap.log, console.log, qemu-trace.log, qemu.log) and
# "expect": a comment saying what the case shows, the number of stages,
# QEMU's exit code and the start of the verdict verdict.sh must print.
#   verdict-selftest.sh [VERDICT]   (another verdict.sh, to show a case fails)

. "$(dirname "$0")/lib.sh"

VERDICT=${1:-$TOP/scripts/verdict.sh}
CASES=$TOP/tests/verdict
n=0 bad=0
for dir in "$CASES"/*/; do
	dir=${dir%/}
	stages=$(sed -n 's/^stages //p' "$dir/expect")
	qrc=$(sed -n 's/^qemu-exit //p' "$dir/expect")
	want=$(sed -n 's/^verdict //p' "$dir/expect")
	[ -n "$stages" ] && [ -n "$qrc" ] && [ -n "$want" ] ||
		die "$dir/expect: needs stages, qemu-exit and verdict lines"
	got=$("$VERDICT" "$dir" selftest "$stages" "$qrc" 2>&1 || true)
	n=$((n + 1))
	if [[ "$got" == "$want"* ]]; then
		echo "ok $n ${dir##*/}: $got"
	else
		echo "not ok $n ${dir##*/}: got '$got', want '$want...'"
		bad=$((bad + 1))
	fi
done
[ "$n" -gt 0 ] || die "no cases under $CASES"
echo "$((n - bad)) of $n verdict cases as expected"
[ "$bad" -eq 0 ]
