#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Run one test of tests.list in one VT-d mode and show where its logs are.
#   run-test.sh NAME MODE AW

. "$(dirname "$0")/lib.sh"

name=$1 mode=$2 aw=$3
read -r _ stages modes < <(awk -v n="$name" '$1 == n' "$TOP/tests.list") ||
	die "no test '$name' in tests.list"
xfail=0
[[ " $modes " == *" xfail "* ]] && xfail=1
export VM_MEM=2G
[[ " $modes " =~ \ mem=([0-9]+[MG])\  ]] && VM_MEM=${BASH_REMATCH[1]}
export VM_TIMEOUT=180 VM_BOOT_ARGS=
[[ " $modes " =~ \ timeout=([0-9]+)\  ]] && VM_TIMEOUT=${BASH_REMATCH[1]}
VM_BOOT_ARGS=$(boot_args "$modes")
rc=0
"$TOP/scripts/vm.sh" "$name" "$mode" "$aw" "$stages" "$xfail" || rc=$?
echo "logs: $LOGS/$name.$mode.aw$aw/"
exit $rc
