#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# iommufd-lu-finish-early: the in-tree kselftest iommufd_liveupdate_kexec_test
# on the edu of the root bus, with a VMM that finishes its session in the
# new kernel before retrieving anything: the kernel gives the device up.
. /tests/lib.sh
iommufd_lu_kexec_test --finish-early
