// SPDX-License-Identifier: GPL-2.0
/*
 * edu-dma-cmdline-change: the next kernel's command line disagrees with
 * the translation the edu keeps across the kexec (preserved as in
 * edu-dma-across-kexec). Translation must never be turned off under the
 * still bus-mastering device (DESIGN.md 3.2 and 3.7):
 *
 * - the old kernel refuses to jump, with ENOEXEC and one log line each,
 *   to a kernel loaded with "kho=off", "liveupdate=off" or
 *   "intel_iommu=off", none of which would take the edu over; after that
 *   the edu still does DMA, and the live update then goes ahead;
 * - legacy mode, next kernel with "intel_iommu=sm_on" (the unit cannot do
 *   scalable mode): the tables are adopted, a new DMA through the
 *   preserved IOVA lands;
 * - scalable mode, next kernel with "intel_iommu=sm_off": the VT-d
 *   specification forbids changing the table mode with translation on, so
 *   the mode the unit is in wins: "sm_off" is ignored (one log line), the
 *   tables are adopted and a new DMA through the preserved IOVA lands.
 *   The host checks in QEMU's trace that no root table write of the new
 *   kernel changed the mode or the address (expect-root-kept).
 *
 * In both, a DMA to the physical address of a page of guest RAM, where it
 * would land with translation off, faults and RAM stays untouched.
 *
 * "edu-dma-cmdline-change refused" (guest/tests/edu-dma-restore-refused.sh)
 * has the next kernel refuse the edu's restore on purpose
 * (fail_iommu_lu_restore=) and boot with iommu.passthrough=1, where the
 * default domain of every group is an identity one. The refused edu,
 * still bus mastering, must get the blocking domain, never its default
 * domain: its DMA to the preserved IOVA and to the physical address of a
 * RAM page fault, RAM untouched; a DMA-API driver (8250_pci) cannot bind,
 * and its group stays owned, so that a fresh iommufd cannot take it.
 *
 * "edu-dma-cmdline-change pci-rejected" (guest/tests/edu-dma-pci-rejected.sh)
 * has the next kernel reject the PCI core's record on purpose
 * (fail_pci_lu_record=), again under iommu.passthrough=1. The IOMMU record
 * of the edu is intact, but a device is restored only if the PCI core
 * adopted it as the one it preserved: the edu is refused (ENODEV) and
 * blocked as above, the PCI core keeps the bus numbers, and vfio-pci
 * will not hand its cdev out of the session. Its DMA faults, a DMA-API
 * driver cannot bind and a fresh iommufd cannot take it through a freshly
 * opened cdev: here only the group's owner refuses both.
 *
 * "edu-dma-cmdline-change probe-failed" (guest/tests/edu-dma-probe-failed.sh)
 * has the next kernel fail the IOMMU probe of the edu on purpose
 * (fail_iommu_lu_probe=), after the VT-d driver found it preserved. No
 * restore will claim it, so nothing keeps the table its entry walks: the
 * driver's failure path must block it. The edu has no IOMMU group, is
 * still bus master, and its DMA to the preserved IOVA and to the physical
 * address of a RAM page fault, RAM untouched.
 *
 * "edu-dma-cmdline-change group-grown" (guest/tests/edu-dma-group-grown.sh)
 * preserves an edu below a PCIe switch (0000:0a:00.0, tests.list) whose
 * downstream port shares its IOMMU group, after hot-removing the edu's
 * second function (0a:00.1), which made the group unpreservable. The next
 * kernel finds both functions, so the edu's group holds another device
 * that is not a PCIe port: it cannot be restored, and under
 * iommu.passthrough=1 its default domain is an identity one. The edu,
 * still bus mastering, must be blocked with its whole group, as a refused
 * one is above.
 *
 * In "refused", "pci-rejected" and "group-grown", the session then finishes although the
 * edu was never taken back: vfio-pci turns its bus mastering off, cannot reset it (the edu has
 * no reset method), so it stays blocked (bus mastering turned on again by
 * hand, its DMA into RAM faults; a fresh iommufd still gets EPERM), and it
 * can be hot-removed, its DMA going nowhere after that.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <linux/pci_regs.h>
#include <linux/vfio.h>

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
#define AGAIN_OFF	0x20000UL	/* after the refused jumps */
#define SEED		0x72656675u
#define GSTS_TES	(1ULL << 31)
#define REFUSED_CMDLINE	"fail_iommu_lu_restore=1,100,0,-1 iommu.passthrough=1"
#define PCI_REJECTED_CMDLINE "fail_pci_lu_record=1,100,0,-1 iommu.passthrough=1"
#define PROBE_FAILED_CMDLINE "fail_iommu_lu_probe=1,100,0,-1"
#define GROUP_GROWN_CMDLINE "iommu.passthrough=1"
#define SWITCH_EDU	"0000:0a:00.0"	/* group-grown: below the switch */
#define SWITCH_EDU_FN1	"0000:0a:00.1"	/* its second function */
#define OTHER_EDU	"0000:01:00.0"	/* not preserved: a default domain */

struct state {
	uint64_t magic;
	char bdf[32];
	uint64_t pfn[NPAGES];
};
#define STATE_MAGIC	0x726566757365ULL

/*
 * "refused", "pci-rejected", "probe-failed" and "group-grown": the next
 * kernel refuses the restore, rejects the PCI record, fails the IOMMU
 * probe, or finds the group grown (see above); all but "refused" imply
 * refused.
 */
static bool refused, pci_rejected, probe_failed, group_grown;

/* What the next kernel is told, and what it must make of it. */
static bool scalable(void)
{
	const char *mode = lutest_cmdline_arg("luvtd");

	return mode && strcmp(mode, "legacy");
}

static const char *next_cmdline(void)
{
	if (pci_rejected)
		return PCI_REJECTED_CMDLINE;
	if (probe_failed)
		return PROBE_FAILED_CMDLINE;
	if (group_grown)
		return GROUP_GROWN_CMDLINE;
	if (refused)
		return REFUSED_CMDLINE;
	return scalable() ? "intel_iommu=sm_off" : "intel_iommu=sm_on";
}

/* The number of devices in @bdf's IOMMU group, or -1. */
static int group_size(const char *bdf)
{
	char path[96];
	struct dirent *d;
	int n = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/iommu_group/devices",
		 bdf);
	dir = opendir(path);
	if (!dir)
		return -1;
	while ((d = readdir(dir)))
		n += d->d_name[0] != '.';
	closedir(dir);
	return n;
}

/* Next kernels that would not take the edu over: the jump is refused. */
static const struct {
	const char *cmdline;
	const char *log;
} refused_jumps[] = {
	{ "kho=off", "its command line disables KHO (kho=)" },
	{ "liveupdate=off", "its command line does not enable live update (liveupdate=)" },
	{ "intel_iommu=off", "its command line disables VT-d (intel_iommu=off)" },
};
#define NR_REFUSED_JUMPS (sizeof(refused_jumps) / sizeof(refused_jumps[0]))

static void check_refused_jumps(void)
{
	unsigned int i;
	int before, ret;

	for (i = 0; i < NR_REFUSED_JUMPS; i++) {
		before = kmsg_count(refused_jumps[i].log);
		ret = kexec_load_next_args(2, refused_jumps[i].cmdline);
		if (!ret)
			ret = kexec_reboot();
		ktap_check(ret == -ENOEXEC &&
			   kmsg_count(refused_jumps[i].log) == before + 1,
			   "a jump to a kernel with %s is refused with ENOEXEC, \"%s\" logged once: %s",
			   refused_jumps[i].cmdline, refused_jumps[i].log,
			   ret ? strerror(-ret) : "loaded");
	}
}

static const char *expected_log(void)
{
	if (pci_rejected)
		return "0000:00:04.0: live update: cannot adopt the preserved translation, blocking it: -19";
	if (probe_failed)
		return "0000:00:04.0: live update: IOMMU probe failed: preserved translation blocked";
	if (group_grown)
		return SWITCH_EDU ": live update: preserved, but its IOMMU group holds another device that is not a PCIe port: blocking the group";
	if (refused)
		return "0000:00:04.0: live update: cannot adopt the preserved translation, blocking it";
	/* A legacy unit cannot do scalable mode: sm_on has nothing to say. */
	return scalable() ?
		"translation was left on in scalable mode: intel_iommu=sm_off ignored" :
		NULL;
}

static void stage1(void)
{
	int session, ram_fd;
	struct lu_vm vm;
	bool ok;
	struct state *s;
	struct vdev v;
	uint8_t *ram;

	ktap_begin(SESSION, 1, refused ? 6 + group_grown :
				   7 + (int)NR_REFUSED_JUMPS);
	ok = !lu_vm_create(&vm, SESSION, RAM_SIZE, sizeof(*s));
	session = vm.session;
	ram_fd = vm.ram_fd;
	ram = vm.ram;
	s = vm.state;
	CHECK_OR_BAIL(ok, "LUO session, guest RAM and state memfds");
	s->magic = STATE_MAGIC;

	/* The edu that can address all of RAM (vm.sh: dma_mask) */
	snprintf(s->bdf, sizeof(s->bdf), "0000:00:04.0");
	if (group_grown) {
		snprintf(s->bdf, sizeof(s->bdf), SWITCH_EDU);
		CHECK_OR_BAIL(!write_file("/sys/bus/pci/devices/" SWITCH_EDU_FN1 "/remove", "1") &&
			      group_size(s->bdf) == 2,
			      "%s hot-removed: %s's IOMMU group holds only it and the switch's downstream port",
			      SWITCH_EDU_FN1, s->bdf);
	}
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
	/*
	 * The host then checks QEMU's trace: VT-d stays on to the end, and
	 * the new kernel keeps the root (even the refused restore is one
	 * device's: the unit's tables are adopted).
	 */
	ktap_info("expect-translation-never-off");
	ktap_info("expect-root-kept");
	if (!refused) {
		check_refused_jumps();
		CHECK_OR_BAIL(edu_round_trip(v.bar0, ram + SRC_OFF, IOVA + SRC_OFF,
					     ram + AGAIN_OFF, IOVA + AGAIN_OFF,
					     SEED),
			      "after the refused jumps, a DMA round trip through the IOMMU still works");
	}
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

/* Stage 2 begins: the session, RAM and state memfds, retrieved. */
static struct state *stage2_retrieve(struct lu_vm *vm, unsigned int plan)
{
	struct state *s;
	bool ok;

	ktap_begin(SESSION, 2, plan);
	ok = !lu_vm_retrieve(vm, SESSION, RAM_SIZE, sizeof(*s));
	s = vm->state;
	CHECK_OR_BAIL(ok && s->magic == STATE_MAGIC,
		      "session, RAM and state memfds retrieved");
	return s;
}

/* The new kernel kept translation on. */
static void check_translation_on(void)
{
	uint64_t gsts = 0;
	int ret = vtd_register("GSTS", &gsts);

	ktap_check(!ret && (gsts & GSTS_TES),
		   "translation is on (GSTS 0x%" PRIx64 ")", gsts);
}

/* The edu's BAR0; it must still be bus master, or the test bails out. */
static volatile uint8_t *edu_still_master(const struct state *s)
{
	volatile uint8_t *bar;
	uint16_t cmd = 0;

	pci_config_read(s->bdf, PCI_COMMAND, &cmd, sizeof(cmd));
	bar = pci_bar_map(s->bdf, 0, 4096);
	CHECK_OR_BAIL(bar && edu_present(bar) && (cmd & PCI_COMMAND_MASTER),
		      "edu %s still bus master (command 0x%04x), BAR0 mapped",
		      s->bdf, cmd);
	return bar;
}

/*
 * The still bus-mastering edu is blocked: its DMA to the preserved IOVA
 * and one to the physical address of a RAM page fault, RAM untouched.
 * Return: that physical address, or 0 if there was none to try.
 */
static uint64_t check_dma_blocked(volatile uint8_t *bar,
				  const struct state *s, const uint8_t *ram,
				  const char *why)
{
	uint64_t phys = unmapped_phys(s);

	ktap_check(dma_faults(bar, s->bdf, IOVA + TARGET_OFF, ram),
		   "the device is blocked: a DMA to its preserved IOVA 0x%lx faults, RAM untouched",
		   IOVA + TARGET_OFF);
	ktap_check(phys && dma_faults(bar, s->bdf, phys, ram),
		   "a DMA to the physical address of a RAM page (0x%" PRIx64 ") faults%s",
		   phys, why);
	return phys;
}

static void stage2(void)
{
	struct lu_vm vm;
	volatile uint8_t *bar;
	uint64_t phys;
	struct state *s = stage2_retrieve(&vm, expected_log() ? 6 : 5);
	uint8_t *ram = vm.ram;

	if (expected_log())
		ktap_check(kmsg_count(expected_log()) == 1,
			   "booted with %s: \"%s\" logged once", next_cmdline(),
			   expected_log());
	check_translation_on();
	bar = edu_still_master(s);

	ktap_check(edu_round_trip(bar, ram + TARGET_OFF, IOVA + TARGET_OFF,
				  ram + DST_OFF, IOVA + DST_OFF, SEED + 1),
		   "the translation was adopted: a DMA round trip through IOVA 0x%lx lands",
		   IOVA + TARGET_OFF);

	/* The edu's buffer holds a pattern; writes must go nowhere. */
	phys = unmapped_phys(s);
	ktap_check(phys && dma_faults(bar, s->bdf, phys, ram),
		   "a DMA to the physical address of a RAM page (0x%" PRIx64 ") faults: translation is on (that it never went off, QEMU's trace shows)",
		   phys);
	pci_bar_unmap(bar, 4096);
	ktap_finish();
}

/*
 * Binding a driver that uses the DMA API (8250_pci's "serial"; pci-stub
 * and vfio-pci manage DMA themselves) to the refused edu fails with EBUSY
 * and leaves it without a driver. The PCI core refuses such drivers for
 * a preserved device by itself, so this holds with or without the group's
 * IOMMU ownership; the fresh iommufd bind below is what shows that.
 */
static void check_dma_api_bind_refused(const char *bdf)
{
	char path[96], link[96] = "";
	int ret;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver_override", bdf);
	ret = write_file(path, "serial");
	if (!ret)
		ret = write_file("/sys/bus/pci/drivers/serial/bind", bdf);
	write_file(path, "\n");
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", bdf);
	if (readlink(path, link, sizeof(link) - 1) < 0)
		strcpy(link, "none");
	ktap_check(ret == -EBUSY && !strcmp(link, "none"),
		   "binding serial (8250_pci, DMA API) to %s fails with EBUSY: %s, driver %s",
		   bdf, ret ? strerror(-ret) : "bound", link);
}

/*
 * The refused edu's group is owned by the restore, not by whoever binds
 * its cdev next: bound to vfio-pci (which manages DMA itself), its cdev
 * retrieved from the session, VFIO_DEVICE_BIND_IOMMUFD to a fresh
 * iommufd fails with EPERM, the error of a group with another DMA owner.
 */
static int check_fresh_iommufd_refused(int session, const char *bdf)
{
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };
	int ret = pci_bind(bdf, "vfio-pci"), cdev = -1, iommufd = -1;
	const char *step = "vfio-pci bind";

	if (!ret) {
		step = "cdev retrieve";
		cdev = ret = luo_retrieve_fd(session, TOKEN_CDEV);
	}
	if (ret >= 0) {
		step = "open /dev/iommu";
		iommufd = ret = open("/dev/iommu", O_RDWR | O_CLOEXEC);
		ret = ret < 0 ? -errno : 0;
	}
	if (!ret) {
		step = "VFIO_DEVICE_BIND_IOMMUFD";
		bind.iommufd = iommufd;
		ret = ioctl(cdev, VFIO_DEVICE_BIND_IOMMUFD, &bind) ? -errno : 0;
	}
	ktap_check(ret == -EPERM && !strcmp(step, "VFIO_DEVICE_BIND_IOMMUFD"),
		   "binding the retrieved cdev of %s to a fresh iommufd fails with EPERM: %s: %s",
		   bdf, step, ret ? strerror(-ret) : "bound");
	if (iommufd >= 0)
		close(iommufd);
	/* The cdev stays the session's until it finishes. */
	return cdev;
}

/* The PCI core's side of a rejected record, each said once. */
static void check_pci_rejected(void)
{
	static const char rejected[] = "PCI: liveupdate: ignoring the devices preserved by the previous kernel: -5";
	static const char kept[] = "PCI: liveupdate: the previous kernel preserved devices; keeping bus numbers";

	ktap_check(kmsg_count(rejected) == 1 && kmsg_count(kept) == 1,
		   "the PCI record was rejected and the bus numbers kept: \"%s\", \"%s\" logged once",
		   rejected, kept);
}

/*
 * vfio-pci does not hand out the cdev of a device the PCI core did not
 * adopt; the cdev opened afresh cannot be bound to a fresh iommufd either
 * (EPERM): the group is owned by the refused restore.
 */
static void check_fresh_cdev_refused(int session, const char *bdf)
{
	static const char why[] = "live update: cannot retrieve: the PCI core did not adopt the device";
	int before = kmsg_count(why), ret = pci_bind(bdf, "vfio-pci");
	const char *step = "vfio-pci bind";
	struct vdev v;

	if (!ret) {
		step = "cdev retrieve";
		ret = luo_retrieve_fd(session, TOKEN_CDEV);
	}
	ktap_check(ret == -ENODEV && kmsg_count(why) == before + 1,
		   "retrieving the cdev of %s from the session fails with ENODEV, \"%s\" logged once: %s: %s",
		   bdf, why, step, ret < 0 ? strerror(-ret) : "retrieved");
	if (ret >= 0)
		close(ret);

	ret = vdev_open(&v, bdf);
	ktap_check(ret == -EPERM && v.failed_step &&
		   !strcmp(v.failed_step, "VFIO_DEVICE_BIND_IOMMUFD"),
		   "binding a freshly opened cdev of %s to a fresh iommufd fails with EPERM: %s: %s",
		   bdf, ret ? v.failed_step : "all steps", ret ? strerror(-ret) : "bound");
	if (!ret)
		vdev_close(&v);
}

/*
 * The edu writes its buffer to @addr: true if the transfer completed and
 * RAM stayed untouched, whether it faulted (announced) or went nowhere
 * because bus mastering is off.
 */
static bool dma_goes_nowhere(volatile uint8_t *bar, uint64_t addr,
			     const uint8_t *ram)
{
	static uint8_t copy[RAM_SIZE];
	bool done, untouched;

	memcpy(copy, ram, RAM_SIZE);
	printf("# expect-dmar-fault 0x%" PRIx64 "\n", addr);
	fflush(stdout);
	done = edu_present(bar) && edu_dma_to_ram(bar, addr, 0, EDU_BUF_SIZE);
	untouched = !memcmp(copy, ram, RAM_SIZE);
	ktap_info("transfer %s, RAM %s", done ? "done" : "not done",
		  untouched ? "untouched" : "modified");
	return done && untouched;
}

/*
 * Hot-removing the blocked edu: the IOMMU core forgets the restore's claim
 * on its group, with one line and no WARNING, and the edu's DMA goes
 * nowhere: a transfer into RAM completes, RAM untouched (the IOMMU
 * driver's release domain blocks it, or the removal turned bus mastering
 * off again).
 */
static void check_removed_blocked(volatile uint8_t *bar, const struct state *s,
				  uint64_t phys, const uint8_t *ram)
{
	int warnings = kmsg_count("WARNING:");
	char path[96];
	int ret;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/remove", s->bdf);
	ret = write_file(path, "1");
	/* group-grown: the blocked group keeps its other function. */
	ktap_check(!ret && kmsg_count("live update: removed while blocked") == !group_grown &&
		   kmsg_count_with("live update: removed while blocked", s->bdf) == !group_grown &&
		   kmsg_count("WARNING:") == warnings,
		   "%s hot-removed: %s; \"removed while blocked\" %s, no WARNING",
		   s->bdf, ret ? strerror(-ret) : "ok",
		   group_grown ? "not logged: its group, still blocked, holds the other function" :
				 "logged once");
	if (group_grown) {
		ret = write_file("/sys/bus/pci/devices/" SWITCH_EDU_FN1 "/remove", "1");
		ktap_check(!ret && kmsg_count("live update: removed while blocked") == 1 &&
			   kmsg_count_with("live update: removed while blocked", SWITCH_EDU_FN1) == 1 &&
			   kmsg_count("WARNING:") == warnings,
			   "then %s, the group's last device that is not a PCIe port, hot-removed: %s; \"removed while blocked\" logged once, no WARNING",
			   SWITCH_EDU_FN1, ret ? strerror(-ret) : "ok");
	}
	ktap_check(phys && dma_goes_nowhere(bar, phys, ram),
		   "removed, its DMA to the physical address of a RAM page completes and leaves RAM untouched");
}

/*
 * The session finishes although the refused edu was never taken back:
 * vfio-pci stops it (bus mastering off; the edu has no reset method) and
 * it stays blocked, since only a reset ends what it was doing. Turning bus
 * mastering on again by hand shows it: its DMA into RAM still faults, and
 * a fresh iommufd still cannot have it.
 */
static void check_finish_blocked(volatile uint8_t *bar, struct lu_vm *vm,
				 const struct state *s, uint64_t phys,
				 const uint8_t *ram)
{
	const char *why = pci_rejected ?
		"live update: retrieve failed: bus mastering off, cannot reset: -25" :
		"live update: blocked: bus mastering off, cannot reset: -25";
	int ret = luo_finish(vm->session);
	uint16_t cmd = 0, master;
	struct vdev v;

	pci_config_read(s->bdf, PCI_COMMAND, &cmd, sizeof(cmd));
	ktap_check(!ret && kmsg_count_with(why, s->bdf) == 1 &&
		   !(cmd & PCI_COMMAND_MASTER) &&
		   !kmsg_count_with("no longer blocked", s->bdf),
		   "the session finishes: %s; \"%s\" logged once, command 0x%04x, not released",
		   ret ? strerror(-ret) : "ok", why, cmd);

	master = cmd | PCI_COMMAND_MASTER;
	pci_config_write(s->bdf, PCI_COMMAND, &master, sizeof(master));
	ktap_check(phys && dma_faults(bar, s->bdf, phys, ram),
		   "still blocked after the finish: bus mastering turned on by hand, a DMA to the physical address of a RAM page faults");

	ret = vdev_open(&v, s->bdf);
	ktap_check(ret == -EPERM && v.failed_step &&
		   !strcmp(v.failed_step, "VFIO_DEVICE_BIND_IOMMUFD"),
		   "after the finish, binding a freshly opened cdev of %s to a fresh iommufd still fails with EPERM: %s: %s",
		   s->bdf, ret ? v.failed_step : "all steps",
		   ret ? strerror(-ret) : "bound");
	if (!ret)
		vdev_close(&v);
}

static void stage2_refused(void)
{
	char type[32] = "?", path[96];
	struct lu_vm vm;
	volatile uint8_t *bar;
	uint64_t phys;
	struct state *s = stage2_retrieve(&vm, pci_rejected ? 16 : 14 + 2 * group_grown);
	uint8_t *ram = vm.ram;
	int cdev = -1;

	/* What the edu would get if it were not blocked: identity. */
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/iommu_group/type",
		 OTHER_EDU);
	if (read_file(path, type, sizeof(type)) > 0)
		type[strcspn(type, "\n")] = 0;
	ktap_check(!strcmp(type, "identity"),
		   "default domains are identity domains (iommu.passthrough=1): %s's is %s",
		   OTHER_EDU, type);
	if (group_grown)
		ktap_check(group_size(s->bdf) == 3,
			   "the next kernel found %s again: %s's IOMMU group holds 3 devices",
			   SWITCH_EDU_FN1, s->bdf);
	ktap_check(kmsg_count(expected_log()) == 1,
		   "the restore was refused: \"%s\" logged once", expected_log());
	if (pci_rejected)
		check_pci_rejected();
	check_translation_on();
	bar = edu_still_master(s);
	phys = check_dma_blocked(bar, s, ram, ": not an identity domain");

	check_dma_api_bind_refused(s->bdf);
	if (pci_rejected)
		check_fresh_cdev_refused(vm.session, s->bdf);
	else
		cdev = check_fresh_iommufd_refused(vm.session, s->bdf);
	check_finish_blocked(bar, &vm, s, phys, ram);
	/* vfio-pci's remove waits until the retrieved cdev is closed. */
	if (cdev >= 0)
		close(cdev);
	check_removed_blocked(bar, s, phys, ram);
	pci_bar_unmap(bar, 4096);
	ktap_finish();
}

/*
 * The IOMMU probe of the edu failed: it has no group, no restore claims
 * it, and its entry is blocked, not left walking the preserved table.
 */
static void stage2_probe_failed(void)
{
	struct lu_vm vm;
	volatile uint8_t *bar;
	char path[96];
	struct state *s = stage2_retrieve(&vm, 6);
	uint8_t *ram = vm.ram;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/iommu_group",
		 s->bdf);
	ktap_check(kmsg_count(expected_log()) == 1 && access(path, F_OK),
		   "the IOMMU probe failed: \"%s\" logged once, no IOMMU group",
		   expected_log());
	check_translation_on();
	bar = edu_still_master(s);
	check_dma_blocked(bar, s, ram, "");
	pci_bar_unmap(bar, 4096);
	ktap_finish();
}

int main(int argc, char **argv)
{
	pci_rejected = argc > 1 && !strcmp(argv[1], "pci-rejected");
	group_grown = argc > 1 && !strcmp(argv[1], "group-grown");
	probe_failed = argc > 1 && !strcmp(argv[1], "probe-failed");
	refused = pci_rejected || probe_failed || group_grown ||
		  (argc > 1 && !strcmp(argv[1], "refused"));
	if (lutest_stage() == 1)
		stage1();
	if (probe_failed)
		stage2_probe_failed();
	if (refused)
		stage2_refused();
	stage2();
}
