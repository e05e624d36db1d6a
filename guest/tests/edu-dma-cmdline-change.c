// SPDX-License-Identifier: GPL-2.0
/*
 * edu-dma-cmdline-change: the next kernel's command line disagrees with
 * the translation the edu keeps across the kexec (preserved as in
 * edu-dma-across-kexec). Translation must never be turned off under the
 * still bus-mastering device (DESIGN.md 3.2 and 3.7):
 *
 * - legacy mode, next kernel with "intel_iommu=off": the IOMMU is kept on
 *   and the tables adopted; a new DMA through the preserved IOVA lands;
 * - scalable mode, next kernel with "intel_iommu=sm_off": the tables are
 *   in a format that kernel cannot use, so it refuses them, keeps
 *   translation on and blocks the device; a DMA to the preserved IOVA
 *   faults.
 *
 * In both, a DMA to the physical address of a page of guest RAM, where it
 * would land with translation off, faults and RAM stays untouched.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
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

#define SESSION		"edu-dma-cmdline-change"
#define TOKEN_IOMMUFD	3
#define TOKEN_CDEV	4
#define HWPT_TOKEN	0x726566ULL
#define RAM_SIZE	(2UL << 20)
#define NPAGES		(RAM_SIZE / PAGE_SIZE)
#define IOVA		0x1000000UL
#define SRC_OFF		0x1000UL
#define CHECK_OFF	0x10000UL
#define TARGET_OFF	0x123000UL	/* the page written after the kexec */
#define DST_OFF		0x124000UL	/* a round trip after the kexec */
#define SEED		0x72656675u
#define GSTS_TES	(1ULL << 31)

struct state {
	uint64_t magic;
	char bdf[32];
	uint64_t pfn[NPAGES];
};
#define STATE_MAGIC	0x726566757365ULL

/* What the next kernel is told, and what it must make of it. */
static bool scalable(void)
{
	const char *mode = lutest_cmdline_arg("luvtd");

	return mode && strcmp(mode, "legacy");
}

static const char *next_cmdline(void)
{
	return scalable() ? "intel_iommu=sm_off" : "intel_iommu=off";
}

static const char *expected_log(void)
{
	return scalable() ?
		"cannot adopt the tables of the previous kernel, blocking all DMA" :
		"translation was left on for preserved devices: keeping the IOMMU on";
}

static void stage1(void)
{
	int session, ram_fd;
	struct lu_vm vm;
	bool ok;
	struct state *s;
	struct vdev v;
	uint8_t *ram;

	ktap_begin(SESSION, 1, 6);
	ok = !lu_vm_create(&vm, SESSION, RAM_SIZE, sizeof(*s));
	session = vm.session;
	ram_fd = vm.ram_fd;
	ram = vm.ram;
	s = vm.state;
	CHECK_OR_BAIL(ok, "LUO session, guest RAM and state memfds");
	s->magic = STATE_MAGIC;

	/* The edu that can address all of RAM (vm.sh: dma_mask) */
	snprintf(s->bdf, sizeof(s->bdf), "0000:00:04.0");
	CHECK_OR_BAIL(!vdev_open(&v, s->bdf) &&
		      !vdev_map_file(&v, ram_fd, 0, RAM_SIZE, IOVA),
		      "edu assigned, RAM mapped at IOVA 0x%lx", IOVA);
	CHECK_OR_BAIL(edu_round_trip(v.bar0, ram + SRC_OFF, IOVA + SRC_OFF,
				     ram + CHECK_OFF, IOVA + CHECK_OFF, SEED),
		      "DMA round trip through the IOMMU works");
	CHECK_OR_BAIL(!vdev_mark_hwpt(&v, HWPT_TOKEN) &&
		      !lu_vm_preserve_memfds(&vm) &&
		      !luo_preserve_fd(session, v.iommufd, TOKEN_IOMMUFD) &&
		      !luo_preserve_fd(session, v.cdev, TOKEN_CDEV),
		      "HWPT marked; memfds, iommufd and cdev preserved");
	/* The host then checks QEMU's trace: VT-d stays on to the end. */
	ktap_info("expect-translation-never-off");
	CHECK_OR_BAIL(!pagemap_pfns(ram, RAM_SIZE, s->pfn),
		      "page frames of guest RAM recorded");
	CHECK_OR_BAIL(!kexec_load_next_args(2, next_cmdline()),
		      "next kernel loaded, with %s", next_cmdline());
	fflush(stdout);
	kexec_reboot();
	ktap_bail("reboot(KEXEC) returned: %s", strerror(errno));
}

/* The edu writes its buffer to @addr: true if it faulted and RAM stayed. */
static bool dma_faults(volatile uint8_t *bar, const char *bdf, uint64_t addr,
		       const uint8_t *ram)
{
	char why[128];
	bool ok = vtd_dma_faults(bar, bdf, addr, ram, RAM_SIZE, why, sizeof(why));

	if (!ok)
		ktap_info("%s", why);
	return ok;
}

/* A page of RAM whose physical address is not also a mapped IOVA. */
static uint64_t unmapped_phys(const struct state *s)
{
	unsigned long i;

	/* Past the pages the round trip wrote: this one holds zeroes. */
	for (i = DST_OFF / PAGE_SIZE + 1; i < NPAGES; i++) {
		uint64_t phys = s->pfn[i] << 12;

		if (phys < IOVA || phys >= IOVA + RAM_SIZE)
			return phys;
	}
	return 0;
}

static void stage2(void)
{
	int ret;
	struct lu_vm vm;
	bool ok;
	volatile uint8_t *bar;
	uint64_t gsts = 0, phys;
	uint16_t cmd = 0;
	struct state *s;
	uint8_t *ram;

	ktap_begin(SESSION, 2, 6);
	ok = !lu_vm_retrieve(&vm, SESSION, RAM_SIZE, sizeof(*s));
	ram = vm.ram;
	s = vm.state;
	CHECK_OR_BAIL(ok && s->magic == STATE_MAGIC,
		      "session, RAM and state memfds retrieved");

	ktap_check(kmsg_count(expected_log()) == 1,
		   "booted with %s: \"%s\" logged once", next_cmdline(),
		   expected_log());
	ret = vtd_register("GSTS", &gsts);
	ktap_check(!ret && (gsts & GSTS_TES),
		   "translation is on (GSTS 0x%" PRIx64 ")", gsts);

	pci_config_read(s->bdf, PCI_COMMAND, &cmd, sizeof(cmd));
	bar = pci_bar_map(s->bdf, 0, 4096);
	CHECK_OR_BAIL(bar && edu_present(bar) && (cmd & PCI_COMMAND_MASTER),
		      "edu %s still bus master (command 0x%04x), BAR0 mapped",
		      s->bdf, cmd);

	if (scalable()) {
		ktap_check(dma_faults(bar, s->bdf, IOVA + TARGET_OFF, ram),
			   "the device is blocked: a DMA to its preserved IOVA 0x%lx faults, RAM untouched",
			   IOVA + TARGET_OFF);
	} else {
		ktap_check(edu_round_trip(bar, ram + TARGET_OFF, IOVA + TARGET_OFF,
					  ram + DST_OFF, IOVA + DST_OFF, SEED + 1),
			   "the translation was adopted: a DMA round trip through IOVA 0x%lx lands",
			   IOVA + TARGET_OFF);
	}

	/* The edu's buffer holds a pattern; writes must go nowhere. */
	phys = unmapped_phys(s);
	ktap_check(phys && dma_faults(bar, s->bdf, phys, ram),
		   "a DMA to the physical address of a RAM page (0x%" PRIx64 ") faults: translation was never off",
		   phys);
	pci_bar_unmap(bar, 4096);
	ktap_finish();
}

int main(void)
{
	if (lutest_stage() == 1)
		stage1();
	stage2();
}
