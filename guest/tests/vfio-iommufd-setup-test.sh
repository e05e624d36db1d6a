#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# vfio-iommufd-setup-test: vfio's own kselftest vfio_iommufd_setup_test, unchanged, on the edu of the
# root bus bound to vfio-pci.
. /tests/lib.sh
bind_vfio 0000:00:04.0
exec /selftests/vfio/vfio_iommufd_setup_test 0000:00:04.0
