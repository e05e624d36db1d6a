#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# iommufd-lu-uapi: the in-tree kselftest iommufd_liveupdate_uapi_test on
# the edu of the root bus, attached to a paging HWPT of its own.
. /tests/lib.sh
bind_vfio 0000:00:04.0
exec /selftests/iommu/iommufd_liveupdate_uapi_test 0000:00:04.0
