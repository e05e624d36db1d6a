#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# vfio-lu-uapi: the in-tree kselftest vfio_pci_liveupdate_uapi_test on the
# edu of the root bus; 06:01.0 (behind the conventional PCI bridge, its
# group shared with 06:02.0) is the device in a shared IOMMU group, the
# edu behind the root port (01:00.0) the second device of the kexec test,
# and the igb (an 82576, 00:06.0) the device with an ACS quirk.
. /tests/lib.sh
bind_vfio 0000:00:04.0 0000:06:01.0 0000:06:02.0 0000:01:00.0 0000:00:06.0
exec /selftests/vfio/vfio_pci_liveupdate_uapi_test \
	0000:00:04.0 0000:06:01.0 0000:01:00.0 0000:00:06.0
