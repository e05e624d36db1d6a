// SPDX-License-Identifier: GPL-2.0
/*
 * edu-dma-across-kexec: the proof the series exists for. Guest RAM is a
 * sealed memfd preserved in a LUO session and mapped for an assigned edu
 * through iommufd. Just before the kexec the edu is told to write a known
 * 4 KiB block to an IOVA in that memfd; it does so about 100 ms of virtual
 * time later, i.e. during the kexec. After the kexec the test looks for the
 * bytes in the retrieved memfd, at the right offset, in the same page frames.
 *
 * While the series cannot preserve the device and its IOMMU state, the
 * host passes "luxfail=1": the landing check is then an expected failure
 * that says what happened to the DMA instead.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <linux/pci_regs.h>

#include "edu.h"
#include "ktap.h"
#include "luo.h"
#include "util.h"
#include "vfio.h"

#define SESSION		"edu-dma-across-kexec"
#define TOKEN_RAM	1
#define TOKEN_STATE	2
#define RAM_SIZE	(2UL << 20)
#define NPAGES		(RAM_SIZE / PAGE_SIZE)
#define IOVA		0x1000000UL
#define SRC_OFF		0x1000UL	/* pattern the device fetches */
#define CHECK_OFF	0x10000UL	/* round trip before the kexec */
#define TARGET_OFF	0x123000UL	/* the write in flight at kexec */
#define SEED		0xd1a5e7u

struct state {
	uint64_t magic;
	char bdf[32];
	uint64_t pfn[NPAGES];
};
#define STATE_MAGIC	0x6564756b65786563ULL

static void stage1(void)
{
	int luo, session, ram_fd, st_fd, ret;
	struct state *s;
	struct vdev v;
	uint8_t *ram;
	bool busy;

	ktap_begin(SESSION, 1, 8);
	luo = luo_open();
	session = luo >= 0 ? luo_create_session(luo, SESSION) : luo;
	CHECK_OR_BAIL(session >= 0, "LUO session created");

	ram_fd = memfd_sealed("guest-ram", RAM_SIZE);
	st_fd = memfd_sealed("state", sizeof(*s));
	ram = ram_fd >= 0 ? map_shared(ram_fd, RAM_SIZE) : NULL;
	s = st_fd >= 0 ? map_shared(st_fd, sizeof(*s)) : NULL;
	CHECK_OR_BAIL(ram && s, "guest RAM memfd (%lu KiB, sealed) and state memfd",
		      RAM_SIZE >> 10);
	s->magic = STATE_MAGIC;

	CHECK_OR_BAIL(!pci_find(EDU_VENDOR, EDU_DEVICE, 0, s->bdf, sizeof(s->bdf)),
		      "edu found at %s", s->bdf);
	ret = vdev_open(&v, s->bdf);
	if (ret)
		ktap_info("%s failed: %s", v.failed_step, strerror(-ret));
	CHECK_OR_BAIL(!ret && !vdev_map_file(&v, ram_fd, 0, RAM_SIZE, IOVA),
		      "edu assigned, RAM mapped at IOVA 0x%lx", IOVA);

	pattern_fill(ram + SRC_OFF, EDU_BUF_SIZE, SEED);
	CHECK_OR_BAIL(edu_dma_from_ram(v.bar0, IOVA + SRC_OFF, 0, EDU_BUF_SIZE) &&
		      edu_dma_to_ram(v.bar0, IOVA + CHECK_OFF, 0, EDU_BUF_SIZE) &&
		      pattern_check(ram + CHECK_OFF, EDU_BUF_SIZE, SEED) < 0,
		      "DMA round trip through the IOMMU works before the kexec");

	CHECK_OR_BAIL(!pagemap_pfns(ram, RAM_SIZE, s->pfn) &&
		      !luo_preserve_fd(session, ram_fd, TOKEN_RAM) &&
		      !luo_preserve_fd(session, st_fd, TOKEN_STATE),
		      "RAM and state memfds preserved, page frames recorded");
	CHECK_OR_BAIL(!kexec_load_next(2), "next kernel loaded");

	/*
	 * Ring the doorbell and reboot at once: the write lands during kexec.
	 * Where it is expected to be lost, a fault at its IOVA is one way.
	 */
	if (lutest_cmdline_arg("luxfail"))
		printf("# expect-dmar-fault 0x%lx\n", IOVA + TARGET_OFF);
	edu_dma_start(v.bar0, IOVA + TARGET_OFF, 0, EDU_BUF_SIZE, true);
	busy = edu_dma_busy(v.bar0);
	ktap_check(busy, "DMA of %u bytes to IOVA 0x%lx in flight at reboot",
		   EDU_BUF_SIZE, IOVA + TARGET_OFF);
	fflush(stdout);
	kexec_reboot();
	ktap_bail("reboot(KEXEC) returned: %s", strerror(errno));
}

/* What became of the DMA, for the expected-failure report. */
static void describe_loss(const struct state *s, const uint8_t *target,
			  char *why, size_t len)
{
	char path[128];
	uint16_t cmd = 0;
	int faults = kmsg_count("DMAR: [DMA Write");
	int engine = -1, fd;
	void *bar;

	pci_config_read(s->bdf, PCI_COMMAND, &cmd, sizeof(cmd));
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/resource0", s->bdf);
	fd = cmd & PCI_COMMAND_MEMORY ? open(path, O_RDWR | O_SYNC) : -1;
	bar = fd >= 0 ? mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0) : MAP_FAILED;
	if (bar != MAP_FAILED) {
		engine = edu_present(bar) ? edu_dma_busy(bar) : -1;
		munmap(bar, 4096);
	}
	if (fd >= 0)
		close(fd);
	snprintf(why, len, "%s: target %s, edu engine %s, bus master %s, "
		 "%d DMAR write faults in this boot",
		 faults ? "faulted" : all_bytes(target, EDU_BUF_SIZE, 0) ?
			"lost" : "landed wrong",
		 all_bytes(target, EDU_BUF_SIZE, 0) ? "untouched" : "modified",
		 engine < 0 ? "unreadable" : engine ? "still busy" : "idle (transfer done)",
		 cmd & PCI_COMMAND_MASTER ? "on" : "off", faults);
}

static void stage2(void)
{
	bool expect_fail = lutest_cmdline_arg("luxfail") != NULL;
	int luo, session, ram_fd, st_fd, moved = 0;
	uint64_t pfn[NPAGES];
	char why[256];
	struct state *s;
	uint8_t *ram;
	bool landed, rest;
	unsigned long i;

	ktap_begin(SESSION, 2, 5);
	luo = luo_open();
	session = luo >= 0 ? luo_retrieve_session(luo, SESSION) : luo;
	ram_fd = session >= 0 ? luo_retrieve_fd(session, TOKEN_RAM) : -1;
	st_fd = session >= 0 ? luo_retrieve_fd(session, TOKEN_STATE) : -1;
	ram = ram_fd >= 0 ? map_shared(ram_fd, RAM_SIZE) : NULL;
	s = st_fd >= 0 ? map_shared(st_fd, sizeof(*s)) : NULL;
	CHECK_OR_BAIL(ram && s && s->magic == STATE_MAGIC,
		      "session, RAM and state memfds retrieved");

	if (!pagemap_pfns(ram, RAM_SIZE, pfn))
		for (i = 0; i < NPAGES; i++)
			moved += pfn[i] != s->pfn[i];
	else
		moved = -1;
	ktap_check(moved == 0, "RAM in the same %lu page frames (%d moved)",
		   NPAGES, moved);

	landed = pattern_check(ram + TARGET_OFF, EDU_BUF_SIZE, SEED) < 0;
	if (expect_fail) {
		describe_loss(s, ram + TARGET_OFF, why, sizeof(why));
		ktap_xfail_check(landed, why,
				 "DMA in flight at kexec landed at IOVA 0x%lx",
				 IOVA + TARGET_OFF);
	} else {
		ktap_check(landed, "DMA in flight at kexec landed at IOVA 0x%lx",
			   IOVA + TARGET_OFF);
	}

	/* Nothing else in RAM changed: only the three blocks were written. */
	rest = pattern_check(ram + SRC_OFF, EDU_BUF_SIZE, SEED) < 0 &&
	       pattern_check(ram + CHECK_OFF, EDU_BUF_SIZE, SEED) < 0;
	for (i = 0; i < RAM_SIZE && rest; i += EDU_BUF_SIZE) {
		if (i == SRC_OFF || i == CHECK_OFF || i == TARGET_OFF)
			continue;
		rest = all_bytes(ram + i, EDU_BUF_SIZE, 0);
	}
	ktap_check(rest, "the rest of guest RAM is as stage 1 left it");
	ktap_check(!luo_finish(session), "session finished");
	ktap_finish();
}

int main(void)
{
	if (lutest_stage() == 1)
		stage1();
	stage2();
}
