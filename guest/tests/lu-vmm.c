// SPDX-License-Identifier: GPL-2.0
/*
 * lu-vmm: the reference VMM flow for a live update with an assigned
 * device, step by step, with the time each phase takes. `make demo` runs
 * it; `make check` runs it as a test.
 *
 * Outgoing kernel (stage 1), as a VMM does it:
 *   1. guest RAM is a memfd, sealed against grow, shrink and further seals;
 *   2. the device's vfio cdev is bound to an iommufd, an IOAS maps the RAM
 *      with IOMMU_IOAS_MAP_FILE, and the device is attached to a paging
 *      HWPT of that IOAS (the guest now does DMA to "guest physical"
 *      addresses, i.e. IOVAs);
 *   3. the HWPT is marked for preservation with IOMMU_HWPT_LIVEUPDATE_MARK;
 *   4. one LUO session preserves, in this order, the RAM memfd, the
 *      iommufd and the vfio cdev (the VMM's own state goes into a second
 *      memfd);
 *   5. kexec, with the device in the middle of a DMA.
 *
 * Incoming kernel (stage 2): the VMM retrieves the session, its memfds and
 * the vfio cdev, and finds the guest's RAM written by the DMA that was in
 * flight at the kexec; the device keeps doing DMA through the same IOVAs.
 * Retrieving the iommufd (phase 2 of the series) is not possible yet, so
 * the new DMA is driven through sysfs, and the session is not finished.
 *
 * The kexec phase is measured with the TSC, which runs on across the kexec:
 * from the reboot() call to the first instruction of stage 2, of which the
 * new kernel's boot is its /proc/uptime.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <linux/iommufd.h>
#include <linux/pci_regs.h>
#include <linux/vfio.h>
#include <x86intrin.h>

#include "edu.h"
#include "ktap.h"
#include "luo.h"
#include "util.h"
#include "vfio.h"

#define SESSION		"vmm"
#define TOKEN_RAM	1
#define TOKEN_STATE	2
#define TOKEN_IOMMUFD	3
#define TOKEN_CDEV	4
#define HWPT_TOKEN	0x766d6dULL
#define RAM_SIZE	(16UL << 20)
#define RAM_IOVA	0x1000000UL	/* where the guest sees its RAM (edu: below 256 MiB) */
#define SRC_OFF		0x200000UL	/* what the device reads */
#define CHECK_OFF	0x300000UL	/* a round trip before the kexec */
#define INFLIGHT_OFF	0x400000UL	/* written during the kexec */
#define AFTER_SRC_OFF	0x500000UL	/* read after the kexec */
#define AFTER_OFF	0x600000UL	/* written after the kexec */
#define SEED		0x766d6d01u
#define SEED_AFTER	0x766d6d02u

/* The VMM's own state, carried in a preserved memfd. */
struct vmm_state {
	uint64_t magic;
	char bdf[32];
	double tsc_per_ms;
	uint64_t tsc_at_reboot;
};
#define STATE_MAGIC	0x766d6d7374617465ULL

#define IOCTL(fd, cmd, arg) (ioctl(fd, cmd, arg) ? -errno : 0)

static double ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1e3 + (t.tv_nsec - t0->tv_nsec) / 1e6;
}

static void phase(const char *name, double ms)
{
	ktap_info("phase %s: %.1f ms", name, ms);
}

/* TSC ticks per millisecond, measured against CLOCK_MONOTONIC. */
static double tsc_rate(void)
{
	struct timespec t0;
	uint64_t c0 = __rdtsc();

	clock_gettime(CLOCK_MONOTONIC, &t0);
	usleep(200000);
	return (__rdtsc() - c0) / ms_since(&t0);
}

/* Steps 2: the device, its iommufd, the IOAS mapping RAM and the HWPT. */
static int assign_device(struct vdev *v, const char *bdf, int ram_fd)
{
	int ret = vdev_open(v, bdf);

	if (ret) {
		ktap_info("%s failed: %s", v->failed_step, strerror(-ret));
		return ret;
	}
	return vdev_map_file(v, ram_fd, 0, RAM_SIZE, RAM_IOVA);
}

/* Step 3: IOMMU_HWPT_LIVEUPDATE_MARK. */
static int mark_hwpt(struct vdev *v)
{
	struct iommu_hwpt_liveupdate_mark mark = {
		.size = sizeof(mark),
		.hwpt_id = v->hwpt,
		.token = HWPT_TOKEN,
	};

	return IOCTL(v->iommufd, IOMMU_HWPT_LIVEUPDATE_MARK, &mark);
}

static void stage1(void)
{
	int luo, session, ram_fd, st_fd;
	struct vmm_state *st;
	struct timespec t0;
	struct vdev v;
	uint8_t *ram;

	ktap_begin("lu-vmm", 1, 9);
	luo = luo_open();
	session = luo >= 0 ? luo_create_session(luo, SESSION) : luo;
	CHECK_OR_BAIL(session >= 0, "LUO session \"%s\" created", SESSION);

	/* Step 1 */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ram_fd = memfd_sealed("guest-ram", RAM_SIZE);
	st_fd = memfd_sealed("vmm-state", sizeof(*st));
	ram = ram_fd >= 0 ? map_shared(ram_fd, RAM_SIZE) : NULL;
	st = st_fd >= 0 ? map_shared(st_fd, sizeof(*st)) : NULL;
	CHECK_OR_BAIL(ram && st, "guest RAM: %lu MiB sealed memfd",
		      RAM_SIZE >> 20);
	st->magic = STATE_MAGIC;
	CHECK_OR_BAIL(!pci_find(EDU_VENDOR, EDU_DEVICE, 0, st->bdf,
				sizeof(st->bdf)) &&
		      !assign_device(&v, st->bdf, ram_fd),
		      "edu %s assigned: vfio cdev, iommufd, IOAS mapping RAM at IOVA 0x%lx, paging HWPT",
		      st->bdf, RAM_IOVA);
	phase("setup (RAM, device, iommufd, mapping)", ms_since(&t0));

	pattern_fill(ram + SRC_OFF, EDU_BUF_SIZE, SEED);
	CHECK_OR_BAIL(edu_dma_from_ram(v.bar0, RAM_IOVA + SRC_OFF, 0,
				       EDU_BUF_SIZE) &&
		      edu_dma_to_ram(v.bar0, RAM_IOVA + CHECK_OFF, 0,
				     EDU_BUF_SIZE) &&
		      pattern_check(ram + CHECK_OFF, EDU_BUF_SIZE, SEED) < 0,
		      "the device does DMA to and from guest RAM through the IOMMU");

	/* Step 3 */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK_OR_BAIL(!mark_hwpt(&v), "HWPT %u marked with token 0x%llx",
		      v.hwpt, HWPT_TOKEN);
	phase("mark", ms_since(&t0));

	/* Step 4: memfds first, then the iommufd, then the device. */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK_OR_BAIL(!luo_preserve_fd(session, ram_fd, TOKEN_RAM) &&
		      !luo_preserve_fd(session, st_fd, TOKEN_STATE),
		      "RAM and state memfds preserved");
	phase("preserve memfds", ms_since(&t0));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK_OR_BAIL(!luo_preserve_fd(session, v.iommufd, TOKEN_IOMMUFD),
		      "iommufd preserved: the HWPT and its IOAS are immutable now");
	phase("preserve iommufd", ms_since(&t0));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK_OR_BAIL(!luo_preserve_fd(session, v.cdev, TOKEN_CDEV),
		      "vfio cdev preserved, with the device's IOMMU translation");
	/* The host then checks QEMU's trace: VT-d stays on to the end. */
	ktap_info("expect-translation-never-off");
	phase("preserve vfio cdev", ms_since(&t0));

	/* Step 5: the DMA lands while the kernel is being replaced. */
	CHECK_OR_BAIL(!kexec_load_next(2), "next kernel loaded");
	st->tsc_per_ms = tsc_rate();
	fflush(stdout);
	edu_dma_start(v.bar0, RAM_IOVA + INFLIGHT_OFF, 0, EDU_BUF_SIZE, true);
	st->tsc_at_reboot = __rdtsc();
	kexec_reboot();
	ktap_bail("reboot(KEXEC) returned: %s", strerror(errno));
}

/* A new DMA through the same IOVAs; the cdev takes no ioctls in phase 1. */
static bool dma_after(const char *bdf, uint8_t *ram)
{
	volatile uint8_t *bar = pci_bar_map(bdf, 0, 4096);
	bool ok;

	if (!bar)
		return false;
	/* A pattern the device has never seen: its buffer outlived the kexec. */
	pattern_fill(ram + AFTER_SRC_OFF, EDU_BUF_SIZE, SEED_AFTER);
	ok = edu_dma_from_ram(bar, RAM_IOVA + AFTER_SRC_OFF, 0, EDU_BUF_SIZE) &&
	     edu_dma_to_ram(bar, RAM_IOVA + AFTER_OFF, 0, EDU_BUF_SIZE) &&
	     pattern_check(ram + AFTER_OFF, EDU_BUF_SIZE, SEED_AFTER) < 0;
	pci_bar_unmap(bar, 4096);
	return ok;
}

static void stage2(void)
{
	uint64_t tsc = __rdtsc();
	int luo, session, ram_fd, st_fd, cdev;
	char buf[64] = "";
	double uptime = -1;
	struct vmm_state *st;
	struct timespec t0;
	uint8_t *ram;

	if (read_file("/proc/uptime", buf, sizeof(buf)) < 0 ||
	    sscanf(buf, "%lf", &uptime) != 1)
		uptime = -1;
	ktap_begin("lu-vmm", 2, 5);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	luo = luo_open();
	session = luo >= 0 ? luo_retrieve_session(luo, SESSION) : luo;
	ram_fd = session >= 0 ? luo_retrieve_fd(session, TOKEN_RAM) : -1;
	st_fd = session >= 0 ? luo_retrieve_fd(session, TOKEN_STATE) : -1;
	ram = ram_fd >= 0 ? map_shared(ram_fd, RAM_SIZE) : NULL;
	st = st_fd >= 0 ? map_shared(st_fd, sizeof(*st)) : NULL;
	CHECK_OR_BAIL(ram && st && st->magic == STATE_MAGIC,
		      "session, guest RAM and VMM state retrieved");
	if (st->tsc_per_ms > 0 && tsc > st->tsc_at_reboot) {
		double total = (tsc - st->tsc_at_reboot) / st->tsc_per_ms;

		phase("kexec (reboot() to the VMM running again)", total);
		if (uptime >= 0) {
			phase("  of which the new kernel's boot (its /proc/uptime)",
			      uptime * 1e3);
			phase("  the rest: freeze, shutdown, jump, early boot",
			      total - uptime * 1e3);
		}
	} else {
		ktap_info("kexec phase not measured: the TSC did not run on");
	}

	/* The device stays owned by the kernel until vfio-pci takes it. */
	CHECK_OR_BAIL(!pci_bind(st->bdf, "vfio-pci"), "vfio-pci bound to %s",
		      st->bdf);
	cdev = luo_retrieve_fd(session, TOKEN_CDEV);
	CHECK_OR_BAIL(cdev >= 0, "vfio cdev retrieved");
	phase("retrieve (session, memfds, cdev)", ms_since(&t0));

	ktap_check(pattern_check(ram + INFLIGHT_OFF, EDU_BUF_SIZE, SEED) < 0,
		   "the DMA started just before reboot(KEXEC) landed in guest RAM at IOVA 0x%lx",
		   RAM_IOVA + INFLIGHT_OFF);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ktap_check(dma_after(st->bdf, ram),
		   "the device still does DMA through the preserved translation");
	phase("a DMA round trip after the kexec", ms_since(&t0));
	ktap_finish();
}

int main(void)
{
	if (lutest_stage() == 1)
		stage1();
	stage2();
}
