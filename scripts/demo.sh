#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The demo: build what is missing, boot the test kernel in QEMU with an
# emulated VT-d, let an assigned edu device do DMA through iommufd, and tell
# what happened. It becomes the live update demo once the series can do one.

. "$(dirname "$0")/lib.sh"

MODE=${MODE:-legacy} AW=${AW:-39}
[ -d "$LINUX/.git" ] || "$TOP/scripts/tree.sh"
"$TOP/scripts/build-kernel.sh"
"$TOP/scripts/mkinitramfs.sh"

echo
echo "== edu-dma: an edu device assigned through vfio cdev + iommufd (VT-d $MODE, aw-bits $AW)"
rc=0
result=$("$TOP/scripts/vm.sh" edu-dma "$MODE" "$AW" 1) || rc=$?
dir=$LOGS/edu-dma.$MODE.aw$AW
sed -n -e 's/^ok [0-9]* /  [ok]     /p' -e 's/^not ok [0-9]* /  [FAILED] /p' \
	-e 's/^# kernel: /  kernel said: /p' "$dir/ktap.log"
sed -n 's/^# account: /  in short: /p' "$dir/ktap.log"
read -r _ _ _ _ verdict secs reason <<< "$result"
echo "  verdict: $verdict${reason:+ ($reason)} in ${secs}s of QEMU (TCG)"
echo "  logs: $dir/"
exit $rc
