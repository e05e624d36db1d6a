#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# vfio-dma-mapping-mmio-test: vfio's own kselftest
# vfio_dma_mapping_mmio_test, unchanged, on the edu of the root bus bound
# to vfio-pci: its 1 MiB BAR 0 mapped for DMA, whole, one page of it and
# at a poorly aligned address, in every IOMMU mode of its library (VFIO's
# type1 and type1v2 containers must map it; iommufd, native or through
# its compat container, must refuse).
. /tests/lib.sh
bind_vfio 0000:00:04.0
exec /selftests/vfio/vfio_dma_mapping_mmio_test 0000:00:04.0
