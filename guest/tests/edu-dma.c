// SPDX-License-Identifier: GPL-2.0
/*
 * edu-dma: one boot, one edu assigned through vfio-pci cdev + iommufd, guest
 * RAM a sealed memfd mapped with IOMMU_IOAS_MAP_FILE. The device copies
 * RAM -> device -> RAM through IOVAs and the bytes must match; a DMA to an
 * IOVA that was unmapped must leave RAM untouched and raise a DMAR fault,
 * which shows that the translation is real.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "edu.h"
#include "ktap.h"
#include "util.h"
#include "vfio.h"
#include "vtd.h"

#define RAM_SIZE	(2UL << 20)
#define HALF		(RAM_SIZE / 2)
#define IOVA		0x1000000UL	/* below edu's default 28-bit mask */
#define SRC_OFF		0x3000UL
#define DST_OFF		0x81000UL
#define SEED		0x5eed1234u

int main(void)
{
	char bdf[32], line[512], needle[64];
	const char *mode = lutest_cmdline_arg("luvtd");
	struct vtd_entry vtd;
	struct vdev v;
	uint8_t *ram;
	uint64_t fault_iova;
	int memfd, kmsg, ret;

	ktap_begin("edu-dma", 1, 10);

	CHECK_OR_BAIL(!pci_find(EDU_VENDOR, EDU_DEVICE, 0, bdf, sizeof(bdf)),
		      "an edu device is present");
	ret = vdev_open(&v, bdf);
	if (ret)
		ktap_info("%s: %s failed: %s", bdf, v.failed_step, strerror(-ret));
	CHECK_OR_BAIL(!ret, "%s assigned: vfio cdev bound to iommufd, HWPT %u attached",
		      bdf, v.hwpt);
	CHECK_OR_BAIL(edu_present(v.bar0), "BAR0 reads the edu ID 0x%08x",
		      edu_read32(v.bar0, EDU_REG_ID));

	ret = vtd_entry_of(bdf, &vtd);
	ktap_check(!ret && mode && !strcmp(vtd_mode_of(&vtd), mode),
		   "VT-d translates it in %s mode as QEMU was told (%s), domain id %u",
		   ret ? "?" : vtd_mode_of(&vtd), mode ? mode : "no luvtd=",
		   ret ? 0 : vtd_domain_id(&vtd));

	memfd = memfd_sealed("guest-ram", RAM_SIZE);
	ram = memfd >= 0 ? map_shared(memfd, RAM_SIZE) : NULL;
	ret = ram ? vdev_map_file(&v, memfd, 0, HALF, IOVA) : -1;
	if (!ret)
		ret = vdev_map_file(&v, memfd, HALF, HALF, IOVA + HALF);
	CHECK_OR_BAIL(!ret, "sealed memfd of %lu KiB mapped at IOVA 0x%lx by MAP_FILE",
		      RAM_SIZE >> 10, IOVA);

	pattern_fill(ram + SRC_OFF, EDU_BUF_SIZE, SEED);
	ktap_check(edu_dma_from_ram(v.bar0, IOVA + SRC_OFF, 0, EDU_BUF_SIZE),
		   "DMA RAM -> device from IOVA 0x%lx completed", IOVA + SRC_OFF);
	ktap_check(edu_dma_to_ram(v.bar0, IOVA + DST_OFF, 0, EDU_BUF_SIZE),
		   "DMA device -> RAM to IOVA 0x%lx completed", IOVA + DST_OFF);
	ret = pattern_check(ram + DST_OFF, EDU_BUF_SIZE, SEED);
	ktap_check(ret < 0 && all_bytes(ram + DST_OFF - 64, 64, 0) &&
		   all_bytes(ram + DST_OFF + EDU_BUF_SIZE, 64, 0),
		   "%u bytes arrived at memfd offset 0x%lx, guard bytes untouched",
		   EDU_BUF_SIZE, DST_OFF);
	if (ret >= 0)
		ktap_info("first wrong byte at +%d", ret);

	/* Unmap the upper half, then aim the device at it. */
	fault_iova = IOVA + HALF + 0x2000;
	ret = vdev_unmap(&v, IOVA + HALF, HALF);
	kmsg = kmsg_open();
	printf("# expect-dmar-fault 0x%lx\n", fault_iova);
	ktap_check(!ret && edu_dma_to_ram(v.bar0, fault_iova, 0, EDU_BUF_SIZE) &&
		   all_bytes(ram + HALF, HALF, 0),
		   "DMA to unmapped IOVA 0x%lx left RAM untouched", fault_iova);
	snprintf(needle, sizeof(needle), "fault addr 0x%lx", fault_iova);
	ret = kmsg_wait_for(kmsg, needle, 3000, line, sizeof(line));
	ktap_check(ret, "the IOMMU reported a DMAR fault for IOVA 0x%lx", fault_iova);
	if (ret)
		ktap_info("kernel: %s", strtok(line, "\n"));

	ktap_info("account: device %s, IOVA 0x%lx, %u bytes RAM -> device -> RAM, "
		  "fault at 0x%lx", bdf, IOVA, EDU_BUF_SIZE, fault_iova);
	vdev_close(&v);
	ktap_finish();
}
