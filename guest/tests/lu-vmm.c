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
 * Incoming kernel (stage 2), phase 2 of the series: the VMM retrieves the
 * session, its memfds and the iommufd, which holds the IOAS and HWPT under
 * the ids they had; it retrieves the vfio cdev, binds it to that iommufd,
 * attaches it to the HWPT (nothing is written to the IOMMU: the device
 * translates through it already), re-arms MSI and finishes the session.
 * The guest's RAM holds what the DMA in flight at the kexec wrote, and
 * the device keeps doing DMA through the same IOVAs. Then it updates
 * again: mark, preserve, kexec (stage 3 takes the device back once more).
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
#define MAP_REF_IOVA	0x4000000UL	/* a second mapping, for reference */
#define SEED		0x766d6d01u
#define SEED_AFTER	0x766d6d02u

/* The VMM's own state, carried in a preserved memfd. */
struct vmm_state {
	uint64_t magic;
	char bdf[32];
	uint32_t ioas, hwpt;		/* the iommufd ids of the device's */
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
	st->ioas = v.ioas;
	st->hwpt = v.hwpt;
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

/* A new DMA round trip through the same IOVAs. */
static bool dma_after(volatile uint8_t *bar, uint8_t *ram, uint32_t seed)
{
	/* A pattern the device has never seen: its buffer outlived the kexec. */
	pattern_fill(ram + AFTER_SRC_OFF, EDU_BUF_SIZE, seed);
	return bar &&
	       edu_dma_from_ram(bar, RAM_IOVA + AFTER_SRC_OFF, 0, EDU_BUF_SIZE) &&
	       edu_dma_to_ram(bar, RAM_IOVA + AFTER_OFF, 0, EDU_BUF_SIZE) &&
	       pattern_check(ram + AFTER_OFF, EDU_BUF_SIZE, seed) < 0;
}

static void kexec_phase(const struct vmm_state *st, uint64_t tsc,
			double uptime)
{
	double total;

	if (st->tsc_per_ms <= 0 || tsc <= st->tsc_at_reboot) {
		ktap_info("kexec phase not measured: the TSC did not run on");
		return;
	}
	total = (tsc - st->tsc_at_reboot) / st->tsc_per_ms;
	phase("kexec (reboot() to the VMM running again)", total);
	if (uptime >= 0) {
		phase("  of which the new kernel's boot (its /proc/uptime)",
		      uptime * 1e3);
		phase("  the rest: freeze, shutdown, jump, early boot",
		      total - uptime * 1e3);
	}
}

/* Arm MSI, have the device raise it at the end of a DMA, disarm it. */
static bool msi_fires(struct vdev *v, uint8_t *ram)
{
	struct vfio_irq_set off = {
		.argsz = sizeof(off),
		.flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
		.index = VFIO_PCI_MSI_IRQ_INDEX,
	};
	int efd = vdev_msi_eventfd(v);
	bool ok;

	if (efd < 0)
		return false;
	ok = edu_dma_to_ram_irq(v->bar0, RAM_IOVA + AFTER_OFF, 0,
				EDU_BUF_SIZE) && eventfd_wait(efd, 2000);
	edu_irq_ack(v->bar0);
	close(efd);
	/* The freeze of the next update wants the interrupts off. */
	return !IOCTL(v->cdev, VFIO_DEVICE_SET_IRQS, &off) && ok;
}

/* Steps 3 to 5 again, in the new kernel, for the next update. */
static void update_again(int stage, int luo, struct vdev *v, int ram_fd,
			 int st_fd, struct vmm_state *st)
{
	struct timespec t0;
	int session;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	session = luo_create_session(luo, SESSION "-again");
	CHECK_OR_BAIL(session >= 0 && !mark_hwpt(v) &&
		      !luo_preserve_fd(session, ram_fd, TOKEN_RAM) &&
		      !luo_preserve_fd(session, st_fd, TOKEN_STATE) &&
		      !luo_preserve_fd(session, v->iommufd, TOKEN_IOMMUFD) &&
		      !luo_preserve_fd(session, v->cdev, TOKEN_CDEV),
		      "next update: HWPT marked again; memfds, iommufd and cdev preserved in a new session");
	phase("mark and preserve for the next update", ms_since(&t0));
	/* The edu's buffer gets stage 1's pattern back for the in-flight DMA. */
	CHECK_OR_BAIL(!kexec_load_next(stage + 1) &&
		      edu_dma_from_ram(v->bar0, RAM_IOVA + SRC_OFF, 0,
				       EDU_BUF_SIZE),
		      "next kernel loaded, the device's buffer loaded from RAM");
	st->tsc_per_ms = tsc_rate();
	fflush(stdout);
	edu_dma_start(v->bar0, RAM_IOVA + INFLIGHT_OFF, 0, EDU_BUF_SIZE, true);
	st->tsc_at_reboot = __rdtsc();
	kexec_reboot();
	ktap_bail("reboot(KEXEC) returned: %s", strerror(errno));
}

/* Stages 2 and 3: take the device back; stage 2 then updates again. */
static void later_stage(int stage)
{
	uint64_t tsc = __rdtsc();
	struct vdev v = { .iommufd = -1, .cdev = -1 };
	int luo, session, ram_fd, st_fd, ret;
	uint32_t pt_id;
	char buf[64] = "";
	double uptime = -1;
	struct vmm_state *st;
	struct timespec t0;
	uint8_t *ram;

	if (read_file("/proc/uptime", buf, sizeof(buf)) < 0 ||
	    sscanf(buf, "%lf", &uptime) != 1)
		uptime = -1;
	ktap_begin("lu-vmm", stage, stage == 2 ? 11 : 9);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	luo = luo_open();
	session = luo >= 0 ?
		  luo_retrieve_session(luo, stage == 2 ? SESSION : SESSION "-again") :
		  luo;
	ram_fd = session >= 0 ? luo_retrieve_fd(session, TOKEN_RAM) : -1;
	st_fd = session >= 0 ? luo_retrieve_fd(session, TOKEN_STATE) : -1;
	ram = ram_fd >= 0 ? map_shared(ram_fd, RAM_SIZE) : NULL;
	st = st_fd >= 0 ? map_shared(st_fd, sizeof(*st)) : NULL;
	CHECK_OR_BAIL(ram && st && st->magic == STATE_MAGIC,
		      "session, guest RAM and VMM state retrieved");
	phase("retrieve session and memfds", ms_since(&t0));
	kexec_phase(st, tsc, uptime);
	ktap_check(pattern_check(ram + INFLIGHT_OFF, EDU_BUF_SIZE, SEED) < 0,
		   "the DMA started just before reboot(KEXEC) landed in guest RAM at IOVA 0x%lx",
		   RAM_IOVA + INFLIGHT_OFF);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	v.iommufd = luo_retrieve_fd(session, TOKEN_IOMMUFD);
	v.ioas = st->ioas;
	v.hwpt = st->hwpt;
	CHECK_OR_BAIL(v.iommufd >= 0, "iommufd retrieved: IOAS %u and HWPT %u as they were",
		      st->ioas, st->hwpt);
	phase("retrieve iommufd (IOAS rebuilt, RAM pinned)", ms_since(&t0));

	clock_gettime(CLOCK_MONOTONIC, &t0);
	v.cdev = luo_retrieve_fd(session, TOKEN_CDEV);
	CHECK_OR_BAIL(v.cdev >= 0, "vfio cdev retrieved (vfio-pci bound by the retrieve)");
	phase("retrieve vfio cdev", ms_since(&t0));

	/* QEMU's trace must show no invalidation between the two marks. */
	printf("# expect-hitless 0x%x 0x%x\n", 0x5f + 2 * stage,
	       0x60 + 2 * stage);
	fflush(stdout);
	qemu_trace_mark(0x5f + 2 * stage);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ret = vdev_bind(&v);
	phase("bind the cdev to the iommufd", ms_since(&t0));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pt_id = st->hwpt;
	ret = ret ?: vdev_attach_pt(&v, &pt_id);
	phase("attach to the restored HWPT", ms_since(&t0));
	qemu_trace_mark(0x60 + 2 * stage);
	v.bar0 = ret ? NULL : vdev_bar_map(&v, 0, &v.bar0_size);
	CHECK_OR_BAIL(!ret && pt_id == st->hwpt && v.bar0,
		      "cdev bound to the iommufd and attached to HWPT %u (QEMU's trace: no invalidation)",
		      st->hwpt);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	ktap_check(msi_fires(&v, ram), "MSI re-armed: a DMA that raises it fires the eventfd");
	phase("re-arm MSI, one interrupt", ms_since(&t0));

	clock_gettime(CLOCK_MONOTONIC, &t0);
	ret = luo_finish(session);
	CHECK_OR_BAIL(!ret, "session finished: %s", ret ? strerror(-ret) : "ok");
	phase("finish the session", ms_since(&t0));

	clock_gettime(CLOCK_MONOTONIC, &t0);
	ktap_check(dma_after(v.bar0, ram, SEED_AFTER + stage),
		   "the device still does DMA through the preserved translation");
	phase("a DMA round trip after the kexec", ms_since(&t0));

	/* For scale: what mapping the same RAM afresh costs in this kernel. */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ret = vdev_map_file(&v, ram_fd, 0, RAM_SIZE, MAP_REF_IOVA);
	phase("for reference, IOMMU_IOAS_MAP_FILE of the same RAM",
	      ms_since(&t0));
	ktap_check(!ret && !vdev_unmap(&v, MAP_REF_IOVA, RAM_SIZE),
		   "after the finish the IOAS maps (the same RAM at IOVA 0x%lx) and unmaps again",
		   MAP_REF_IOVA);
	if (stage == 2)
		update_again(stage, luo, &v, ram_fd, st_fd, st);
	ktap_finish();
}

int main(void)
{
	int stage = lutest_stage();

	if (stage == 1)
		stage1();
	later_stage(stage);
}
