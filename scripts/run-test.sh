#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Run one test of tests.list in one VT-d mode and show where its logs are.
#   run-test.sh NAME MODE AW

. "$(dirname "$0")/lib.sh"

name=$1 mode=$2 aw=$3
read -r _ stages modes < <(awk -v n="$name" '$1 == n' "$TOP/tests.list") ||
	die "no test '$name' in tests.list"
test_env "$modes"
rc=0
"$TOP/scripts/vm.sh" "$name" "$mode" "$aw" "$stages" "$xfail" || rc=$?
echo "logs: $LOGS/$name.$mode.aw$aw/"
exit $rc
