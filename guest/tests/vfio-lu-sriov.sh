#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# vfio-lu-sriov: the in-tree kselftest vfio_pci_liveupdate_sriov_test on
# the NVMe controller at 00:08.0 (an SR-IOV PF with one VF and no ACS
# quirk), bound to vfio-pci with SR-IOV allowed.
. /tests/lib.sh
echo 1 > /sys/module/vfio_pci/parameters/enable_sriov
bind_vfio 0000:00:08.0
exec /selftests/vfio/vfio_pci_liveupdate_sriov_test 0000:00:08.0
