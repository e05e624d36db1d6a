#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# iommufd-lu-restore: the in-tree kselftest iommufd_liveupdate_kexec_test
# on the edu of the root bus: in the new kernel the VMM takes its device
# back, each misuse on the way with its errno (see the test's header).
. /tests/lib.sh
iommufd_lu_kexec_test ""
