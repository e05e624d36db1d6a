#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# vfio-dma-mapping-test: vfio's own kselftest vfio_dma_mapping_test,
# unchanged, on the edu of the root bus bound to vfio-pci, with its 2M and
# 1G hugetlb variants (each checks that VT-d maps the page with one entry of
# its size).
#
# The 1G page comes from the kernel command line (hugepagesz=1G
# hugepages=1 in tests.list), set aside at boot from memblock, outside CMA;
# the 4 GiB guest has a 1 GiB-aligned gigabyte free above 4 GiB for it.
#
# A kernel booted with KHO hands its scratch areas to the page allocator
# as CMA, and hugetlb pages allocated at run time land there too (CmaFree
# drops by the pool's size). Mapping one for DMA pins it for the long
# term, which must first migrate it to a pool page outside CMA; with none
# there, the map fails with EFAULT in every IOMMU mode, legacy type1
# included. So the pool is made larger than CMA's free memory, leaving at
# least 16 of its pages outside.
. /tests/lib.sh
cma_kb() { awk '$1 == "CmaFree:" { print $2 }' /proc/meminfo; }
before=$(cma_kb)
want=$((before / 2048 + 16))
echo "$want" > /proc/sys/vm/nr_hugepages
have=$(cat /proc/sys/vm/nr_hugepages)
outside=$((have - (before - $(cma_kb)) / 2048))
echo "# $have 2M hugetlb pages of $want, $outside outside CMA"
gigantic=$(cat /sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages)
echo "# $gigantic 1G hugetlb page(s)"
bind_vfio 0000:00:04.0
exec /selftests/vfio/vfio_dma_mapping_test 0000:00:04.0
