#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# vfio-pci-device-init-perf-test: vfio's own kselftest
# vfio_pci_device_init_perf_test, unchanged, on the edu of the root bus and
# the one behind the root port, bound to vfio-pci and opened at once from
# two threads in every IOMMU mode of its library. Its times are printed,
# not judged (TCG's are meaningless); the test is that both devices open.
. /tests/lib.sh
bind_vfio 0000:00:04.0 0000:01:00.0
exec /selftests/vfio/vfio_pci_device_init_perf_test 0000:00:04.0 0000:01:00.0
