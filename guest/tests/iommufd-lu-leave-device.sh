#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# iommufd-lu-leave-device: the in-tree kselftest iommufd_liveupdate_kexec_test
# on the edu of the root bus, with a VMM that finishes its session in the
# new kernel after retrieving its iommufd but not the cdev: the kernel
# gives the device up and blocks it, and the VMM destroys the restored
# HWPT. Booted with kmemleak=on: a scan follows.
. /tests/lib.sh
iommufd_lu_kexec_test --leave-device kmemleak
