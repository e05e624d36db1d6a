#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# iommufd-lu-finish-early: the in-tree kselftest iommufd_liveupdate_kexec_test
# on the edu of the root bus, with a VMM that finishes its session in the
# new kernel before retrieving anything: the kernel gives the device up.
. /tests/lib.sh
stage=$(lustage)
if [ "$stage" = 1 ]; then
	bind_vfio 0000:00:04.0
	echo "# expect-translation-never-off"
	exec /selftests/iommu/iommufd_liveupdate_kexec_test -s 1 0000:00:04.0
fi
exec /selftests/iommu/iommufd_liveupdate_kexec_test -s 2 --finish-early 0000:00:04.0
