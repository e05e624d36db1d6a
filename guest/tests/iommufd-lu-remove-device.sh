#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# iommufd-lu-remove-device: the in-tree kselftest iommufd_liveupdate_kexec_test
# on the edu of the root bus, hot-removed in the new kernel before anything
# is retrieved; the session then finishes. Booted with kmemleak=on: a scan
# follows.
. /tests/lib.sh
iommufd_lu_kexec_test --remove-device kmemleak
