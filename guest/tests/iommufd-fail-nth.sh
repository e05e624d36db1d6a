#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# iommufd-fail-nth: iommufd's own kselftest iommufd_fail_nth, unchanged:
# each ioctl sequence on the mock IOMMU with its Nth allocation failed, for
# every N, with fault injection (fail-nth).
exec /selftests/iommu/iommufd_fail_nth
