#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# vfio-pci-sriov-uapi-test: vfio's own kselftest vfio_pci_sriov_uapi_test,
# unchanged, on the NVMe controller at 00:08.0 (an SR-IOV PF), bound to
# vfio-pci with SR-IOV allowed: the test creates one VF and checks the VF
# token rules of opening it, in every IOMMU mode of its library.
. /tests/lib.sh
echo 1 > /sys/module/vfio_pci/parameters/enable_sriov
bind_vfio 0000:00:08.0
exec /selftests/vfio/vfio_pci_sriov_uapi_test 0000:00:08.0
