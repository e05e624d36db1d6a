// SPDX-License-Identifier: GPL-2.0
/*
 * iommufd-lu-abandon: a VMM that never comes back for its device. Stage 1
 * assigns an edu with guest RAM mapped from a sealed memfd, marks its
 * HWPT, preserves the memfds, the iommufd and the cdev, and kexecs. In
 * stage 2 the VMM retrieves the session and closes it without retrieving
 * anything, so LUO finishes it on release. Then:
 *
 *   - the session finished (no "Unable to finish" line), the vfio-pci
 *     handler stopped the device and iommufd dropped its HWPT (one log
 *     line each), and the session is gone (retrieving it again: ENOENT);
 *   - nr_iommu_pages went down by exactly the table pages the kernel had
 *     adopted: the restored domain is freed;
 *   - bus mastering is off; turned on again from config space, the edu
 *     cannot DMA to the IOVA that mapped RAM: its group is blocked;
 *   - nobody can claim it: its cdev cannot be bound to a fresh iommufd
 *     (EPERM).
 *
 * "iommufd-lu-abandon retrieve-failed" (guest/tests/iommufd-lu-retrieve-failed.sh)
 * is a VMM whose iommufd retrieve fails: it retrieves the RAM memfd and
 * punches a hole into it, so that the restored domain no longer maps what
 * the memfd holds, and the retrieve of the iommufd fails (EFAULT) after
 * it took the domain. LUO keeps that error for the whole boot, so nobody
 * can take the HWPT any more: the retrieve itself must drop it. While the
 * edu is still bus master, before the session is closed:
 *
 *   - the retrieve failed with EFAULT, its HWPT was dropped and the edu
 *     blocked (one log line each);
 *   - nr_iommu_pages went down by the adopted table pages;
 *   - a DMA of the edu to the IOVA that mapped RAM faults, RAM untouched.
 *
 * Then the session is closed: it finishes, the edu is given up (bus
 * mastering off, blocked as above) and its cdev cannot be bound.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/pci_regs.h>

#include "edu.h"
#include "ktap.h"
#include "luo.h"
#include "util.h"
#include "vfio.h"
#include "vm.h"
#include "vtd.h"

#define NAME		"iommufd-lu-abandon"
#define TOKEN_IOMMUFD	3
#define TOKEN_CDEV	4
#define EDU		"0000:00:04.0"
#define RAM_SIZE	(1UL << 20)
#define IOVA		0x1000000UL
#define SRC_OFF		0x1000UL
#define DST_OFF		0x3000UL
#define BAR_LEN		4096UL

static void stage1(void)
{
	struct lu_vm vm;
	struct vdev v;
	bool ok;

	ktap_begin(NAME, 1, 4);
	ok = !lu_vm_create(&vm, NAME, RAM_SIZE, 64);
	CHECK_OR_BAIL(ok, "session, RAM and state memfds");
	ok = !vdev_open(&v, EDU) &&
	     !vdev_map_file(&v, vm.ram_fd, 0, RAM_SIZE, IOVA) &&
	     edu_round_trip(v.bar0, vm.ram + SRC_OFF, IOVA + SRC_OFF,
			    vm.ram + DST_OFF, IOVA + DST_OFF, 0xab0);
	CHECK_OR_BAIL(ok, "edu %s assigned, RAM mapped at IOVA 0x%lx, DMA round trip",
		      EDU, IOVA);
	CHECK_OR_BAIL(!vdev_mark_hwpt(&v, 0xab) && !lu_vm_preserve_memfds(&vm) &&
		      !luo_preserve_fd(vm.session, v.iommufd, TOKEN_IOMMUFD) &&
		      !luo_preserve_fd(vm.session, v.cdev, TOKEN_CDEV),
		      "HWPT marked; memfds, iommufd and cdev preserved");
	CHECK_OR_BAIL(!kexec_load_next(2), "next kernel loaded");
	printf("# expect-translation-never-off\n");
	fflush(stdout);
	kexec_reboot();
	ktap_bail("reboot(KEXEC) returned: %s", strerror(errno));
}

static long pages_adopted(void)
{
	char line[256], *p;

	if (!kmsg_last(" pages adopted", line, sizeof(line)))
		return -1;
	p = strstr(line, "page table of ");
	return p ? strtol(p + strlen("page table of "), NULL, 10) : -1;
}

/* Bus mastering on from config space: only the IOMMU can stop the DMA. */
static void check_blocked(void)
{
	const uint16_t on = PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
	volatile uint8_t *bar = NULL;
	uint8_t ram[4096] = {};
	uint16_t cmd = 0;
	char why[128];
	bool ok;

	if (pci_config_read(EDU, PCI_COMMAND, &cmd, sizeof(cmd)))
		cmd = 0xffff;
	ktap_check(!(cmd & PCI_COMMAND_MASTER),
		   "bus mastering off after the give-up (command 0x%04x)", cmd);
	if (cmd != 0xffff) {
		cmd |= on;
		if (!pci_config_write(EDU, PCI_COMMAND, &cmd, sizeof(cmd)))
			bar = pci_bar_map(EDU, 0, BAR_LEN);
	}
	ok = vtd_dma_faults(bar, EDU, IOVA + SRC_OFF, ram, sizeof(ram), why,
			    sizeof(why));
	ktap_check(ok, "bus mastering on again from config space, a DMA to IOVA 0x%lx, which mapped RAM, faults: %s",
		   IOVA + SRC_OFF, why);
	pci_bar_unmap(bar, BAR_LEN);
}

/* The edu's DMA to the IOVA that mapped RAM, bus mastering as it is. */
static bool dma_faults_now(char *why, size_t len)
{
	volatile uint8_t *bar = pci_bar_map(EDU, 0, BAR_LEN);
	uint8_t ram[4096] = {};
	bool ok;

	ok = vtd_dma_faults(bar, EDU, IOVA + DST_OFF, ram, sizeof(ram), why,
			    len);
	pci_bar_unmap(bar, BAR_LEN);
	return ok;
}

/* Its cdev cannot be bound: the group is blocked for good. */
static void check_cdev_refused(void)
{
	struct vdev v;
	int ret;

	ret = vdev_open(&v, EDU);
	ktap_check(ret == -EPERM && v.failed_step &&
		   !strcmp(v.failed_step, "VFIO_DEVICE_BIND_IOMMUFD"),
		   "its cdev cannot be bound to a fresh iommufd: %s at %s",
		   ret ? strerror(-ret) : "bound", ret ? v.failed_step : "-");
	if (!ret)
		vdev_close(&v);
}

/* nr_iommu_pages went down by the @adopted table pages from @before. */
static void check_table_freed(long adopted, long before)
{
	long after = vmstat_exact("nr_iommu_pages");

	ktap_check(after == before - adopted,
		   "nr_iommu_pages %ld -> %ld: the %ld adopted table pages are freed",
		   before, after, adopted);
}

/*
 * Stage 2 begins: @luo open, the session retrieved; the pages of the
 * table the kernel adopted, and nr_iommu_pages now.
 */
static int stage2_begin(unsigned int plan, int *luo, long *adopted,
			long *before)
{
	int session;

	ktap_begin(NAME, 2, plan);
	*luo = luo_open();
	session = *luo >= 0 ? luo_retrieve_session(*luo, NAME) : *luo;
	*adopted = pages_adopted();
	*before = vmstat_exact("nr_iommu_pages");
	CHECK_OR_BAIL(session >= 0 && *adopted > 0 && *before > 0,
		      "session retrieved; the kernel adopted a table of %ld pages",
		      *adopted);
	return session;
}

static void stage2_retrieve_failed(void)
{
	long adopted, before;
	int luo, session, ram, ret;
	uint16_t cmd = 0;
	char why[128];
	bool ok;

	session = stage2_begin(9, &luo, &adopted, &before);
	ram = luo_retrieve_fd(session, LU_TOKEN_RAM);
	CHECK_OR_BAIL(ram >= 0 &&
		      !fallocate(ram, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				 DST_OFF, 4096),
		      "RAM memfd retrieved, a hole punched at offset 0x%lx",
		      DST_OFF);

	ret = luo_retrieve_fd(session, TOKEN_IOMMUFD);
	ok = kmsg_count("does not map its IOAS as recorded") == 1 &&
	     kmsg_count("retrieve failed, its 1 HWPTs dropped") == 1 &&
	     kmsg_count_with("live update: not taken over, blocked", EDU) == 1;
	ktap_check(ret == -EFAULT && ok,
		   "the iommufd retrieve fails with EFAULT (%s): the domain does not map what the IOAS records; its HWPT dropped, the edu blocked (one line each)",
		   ret < 0 ? strerror(-ret) : "retrieved");
	check_table_freed(adopted, before);
	pci_config_read(EDU, PCI_COMMAND, &cmd, sizeof(cmd));
	ok = dma_faults_now(why, sizeof(why));
	ktap_check((cmd & PCI_COMMAND_MASTER) && ok,
		   "still bus master (command 0x%04x), a DMA to IOVA 0x%lx, which mapped RAM, faults: %s",
		   cmd, IOVA + DST_OFF, why);

	close(ram);
	close(session);
	ok = kmsg_count("Unable to finish session") == 0 &&
	     kmsg_count_with("live update: not retrieved: bus mastering off", EDU) == 1;
	ret = luo_retrieve_session(luo, NAME);
	ktap_check(ok && ret == -ENOENT,
		   "closed: finished, the device stopped (one line), the session gone (%s)",
		   ret < 0 ? strerror(-ret) : "retrieved again");
	check_blocked();
	check_cdev_refused();
	ktap_finish();
}

static void stage2(void)
{
	long adopted, before;
	int luo, session, ret;
	bool ok;

	session = stage2_begin(7, &luo, &adopted, &before);

	close(session);
	ok = kmsg_count("Unable to finish session") == 0 &&
	     kmsg_count_with("live update: not retrieved: bus mastering off", EDU) == 1 &&
	     kmsg_count("an iommufd was not retrieved: its 1 HWPTs dropped") == 1;
	ret = luo_retrieve_session(luo, NAME);
	ktap_check(ok && ret == -ENOENT,
		   "closed without retrieving anything: finished, the device stopped and the HWPT dropped (one line each), the session gone (%s)",
		   ret < 0 ? strerror(-ret) : "retrieved again");

	check_table_freed(adopted, before);

	check_blocked();
	check_cdev_refused();

	/* vfio-pci gives its cdev up first, which blocks the device. */
	ret = kmsg_count_with("live update: given up, blocked", EDU);
	ktap_check(ret == 1, "its group is blocked and kept by the kernel (%d log line)",
		   ret);
	ktap_finish();
}

int main(int argc, char **argv)
{
	if (lutest_stage() == 1)
		stage1();
	if (argc > 1 && !strcmp(argv[1], "retrieve-failed"))
		stage2_retrieve_failed();
	stage2();
}
