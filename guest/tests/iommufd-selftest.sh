#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# iommufd-selftest: iommufd's own kselftest, tools/testing/selftests/iommu
# "iommufd", unchanged: every ioctl on the mock IOMMU (CONFIG_IOMMUFD_TEST).
# Its hugepage variants map up to 128 MiB of 2M hugetlb pages at a time.
echo 80 > /proc/sys/vm/nr_hugepages
[ "$(cat /proc/sys/vm/nr_hugepages)" = 80 ] ||
	echo "# only $(cat /proc/sys/vm/nr_hugepages) hugetlb pages of 80"
# The no_viommu variant of iommufd_viommu skips these by design: they need
# a vIOMMU, which that variant does not allocate.
for t in viommu_alloc_nested_iopf viommu_alloc_with_data vdevice_cache \
	 hw_queue vdevice_tombstone; do
	echo "# expect-skip iommufd_viommu.no_viommu.$t"
done
exec /selftests/iommu/iommufd
