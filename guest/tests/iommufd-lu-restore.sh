#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# iommufd-lu-restore: the in-tree kselftest iommufd_liveupdate_kexec_test
# on the edu of the root bus: in the new kernel the VMM takes its device
# back, each misuse on the way with its errno (see the test's header).
. /tests/lib.sh
stage=$(lustage)
if [ "$stage" = 1 ]; then
	bind_vfio 0000:00:04.0
	echo "# expect-translation-never-off"
fi
exec /selftests/iommu/iommufd_liveupdate_kexec_test -s "$stage" 0000:00:04.0
