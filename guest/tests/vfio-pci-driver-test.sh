#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# vfio-pci-driver-test: vfio's own kselftest vfio_pci_driver_test,
# unchanged, on the edu of the root bus bound to vfio-pci and driven by the
# edu's libvfio driver (memcpy through its DMA engine, an MSI on request).
#
# Only its iommufd variant runs: under TCG each of its 35 cases takes 3 to
# 20 s (a 1 GiB memcpy region mapped per case, 200 ms per edu copy), 233 s
# for all five IOMMU modes, about 45 s for one. The other four modes'
# mapping paths are vfio-dma-mapping-test's.
#
# shmem gets transparent huge pages: the 1 GiB region is shared anonymous
# memory, and pinning it in 4 KiB pages takes longer than the harness's
# 30 s per case allows under TCG; in 2 MiB folios it takes about 3 s.
#
# Two of its cases copy from and to an IOVA nothing maps, on purpose, and
# the IOMMU faults them. Every fixture lays out its IOVAs alike, from 0 up:
# the 1 GiB memcpy region at 0, the driver's 2 MiB region at 1 GiB, and the
# unmapped IOVA, the next 1 GiB-aligned one, at 2 GiB. Each copy is four
# times the driver's largest (4 KiB), so those faults are on the first
# four pages at 2 GiB, and any other fault fails the run.
. /tests/lib.sh
for page in 0 1 2 3; do
	echo "# expect-dmar-fault 0x8000${page}000"
done
echo always > /sys/kernel/mm/transparent_hugepage/shmem_enabled
bind_vfio 0000:00:04.0
exec /selftests/vfio/vfio_pci_driver_test -v iommufd 0000:00:04.0
