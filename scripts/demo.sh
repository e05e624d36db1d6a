#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The demo: build what is missing, boot the test kernel in QEMU with an
# emulated VT-d, and live-update it with an edu device assigned to a VMM:
# the reference VMM flow (guest/tests/lu-vmm.c) marks and preserves the
# device's translation, kexecs with a DMA in flight, takes the device back
# in the new kernel (iommufd, cdev, bind, attach, MSI, finish), shows that
# the DMA landed and the device still does DMA, and does it all once more:
# two live updates, with the time of each phase.

. "$(dirname "$0")/lib.sh"

MODE=${MODE:-legacy} AW=${AW:-39}
[ -d "$LINUX/.git" ] || "$TOP/scripts/tree.sh"
"$TOP/scripts/build-kernel.sh"
"$TOP/scripts/mkinitramfs.sh"

echo
echo "== lu-vmm: a VMM live-updates the host kernel under an assigned edu (VT-d $MODE, aw-bits $AW)"
rc=0
result=$("$TOP/scripts/vm.sh" lu-vmm "$MODE" "$AW" 3) || rc=$?
dir=$LOGS/lu-vmm.$MODE.aw$AW
# A guest that died early may have left no results at all.
[ -f "$dir/ktap.log" ] || { mkdir -p "$dir" && : > "$dir/ktap.log"; }
sed -n -e 's/^# lu-vmm: stage 1$/ outgoing kernel:/p' \
	-e 's/^# lu-vmm: stage 2$/ new kernel, after the first kexec:/p' \
	-e 's/^# lu-vmm: stage 3$/ newer kernel, after the second kexec:/p' \
	-e 's/^ok [0-9]* /  [ok]     /p' -e 's/^not ok [0-9]* /  [FAILED] /p' \
	-e 's/^# phase /  time: /p' "$dir/ktap.log"
read -r _ _ _ _ verdict secs reason <<< "$result" || true
if [ -n "${verdict:-}" ]; then
	echo "  verdict: $verdict${reason:+ ($reason)} in ${secs}s of QEMU (TCG: times are emulated, not native)"
else
	echo "  verdict: FAIL (no result from the run, rc=$rc; see the logs)"
	rc=1
fi
echo "  logs: $dir/"
exit $rc
