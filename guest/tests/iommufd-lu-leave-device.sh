#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# iommufd-lu-leave-device: the in-tree kselftest iommufd_liveupdate_kexec_test
# on the edu of the root bus, with a VMM that finishes its session in the
# new kernel after retrieving its iommufd but not the cdev: the kernel
# gives the device up and blocks it, and the VMM destroys the restored HWPT.
. /tests/lib.sh
stage=$(lustage)
if [ "$stage" = 1 ]; then
	bind_vfio 0000:00:04.0
	echo "# expect-translation-never-off"
	exec /selftests/iommu/iommufd_liveupdate_kexec_test -s 1 0000:00:04.0
fi
# Booted with kmemleak=on: what the kernel frees must not leak.
kmemleak_baseline || exit 1
/selftests/iommu/iommufd_liveupdate_kexec_test -s 2 --leave-device 0000:00:04.0 || exit
kmemleak_scan
