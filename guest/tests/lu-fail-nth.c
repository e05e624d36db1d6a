// SPDX-License-Identifier: GPL-2.0
/*
 * lu-fail-nth: every allocation of the VMM's preserve sequence fails once.
 * With the per-task fail-nth interface (as iommufd's iommufd_fail_nth
 * selftest uses it), for N = 1, 2, ... the Nth slab or page allocation of
 * one step fails, until the step goes through without reaching N. The
 * steps, each swept with the ones before it done:
 *
 *   - IOMMU_HWPT_LIVEUPDATE_MARK of the edu's HWPT;
 *   - preserving the RAM memfd in a new session;
 *   - preserving the iommufd;
 *   - preserving the vfio cdev (with the device's translation).
 *
 * Every failure must return ENOMEM, leave nothing preserved half-way (the
 * session of a failed memfd preserve is closed and made again; after a
 * failed iommufd preserve its IOAS still maps and unmaps; after a failed
 * cdev preserve the device was not preserved with its translation) and
 * leave the device doing DMA. Once all steps went through, closing the
 * session undoes everything, the whole sequence works again without
 * injection, and kmemleak finds nothing. The number of injection points
 * of each step is reported.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "edu.h"
#include "ktap.h"
#include "luo.h"
#include "util.h"
#include "vfio.h"

#define NAME		"lu-fail-nth"
#define EDU		"0000:00:04.0"
#define RAM_SIZE	(1UL << 20)
#define IOVA		0x1000000UL
#define IOVA2		0x2000000UL
#define SRC_OFF		0x1000UL
#define DST_OFF		0x3000UL
#define TOKEN_RAM	1
#define TOKEN_IOMMUFD	2
#define TOKEN_CDEV	3
#define HWPT_TOKEN	0x6661696cULL
#define MAX_NTH		2000
#define DEBUGFS		"/sys/kernel/debug/"
#define KMEMLEAK	DEBUGFS "kmemleak"
#define WITH_TRANSLATION "live update: preserved with its IOMMU translation"

static int nth_fd = -1;

/* Let fail-nth reach GFP_KERNEL allocations; no stack dump per failure. */
static bool fault_injection_setup(void)
{
	nth_fd = open("/proc/thread-self/fail-nth", O_RDWR);
	return nth_fd >= 0 &&
	       !write_file(DEBUGFS "failslab/ignore-gfp-wait", "N") &&
	       !write_file(DEBUGFS "fail_page_alloc/ignore-gfp-wait", "N") &&
	       !write_file(DEBUGFS "fail_page_alloc/ignore-gfp-highmem", "N") &&
	       !write_file(DEBUGFS "failslab/verbose", "0") &&
	       !write_file(DEBUGFS "fail_page_alloc/verbose", "0");
}

static void nth_arm(unsigned int n)
{
	char buf[16];
	int len = snprintf(buf, sizeof(buf), "%u", n);

	if (pwrite(nth_fd, buf, len, 0) != len)
		ktap_bail("fail-nth: cannot arm %u: %s", n, strerror(errno));
}

/* Disarm; true if the armed failure was injected. */
static bool nth_injected(void)
{
	char buf[16] = "";

	if (pread(nth_fd, buf, sizeof(buf) - 1, 0) < 1 ||
	    pwrite(nth_fd, "0", 1, 0) != 1)
		ktap_bail("fail-nth: cannot read back: %s", strerror(errno));
	return buf[0] == '0';
}

struct ctx {
	int luo, session, ram_fd;
	uint8_t *ram;
	struct vdev v;
	unsigned int round;		/* makes every DMA pattern new */
};

static bool dma_works(struct ctx *c)
{
	return edu_round_trip(c->v.bar0, c->ram + SRC_OFF, IOVA + SRC_OFF,
			      c->ram + DST_OFF, IOVA + DST_OFF,
			      0xfa11 + c->round++);
}

static int step_mark(struct ctx *c)
{
	return vdev_mark_hwpt(&c->v, HWPT_TOKEN);
}

static int step_preserve_memfd(struct ctx *c)
{
	c->session = luo_create_session(c->luo, NAME);
	if (c->session < 0)
		return c->session;
	return luo_preserve_fd(c->session, c->ram_fd, TOKEN_RAM);
}

/* A failed memfd preserve: closing its session must undo all of it. */
static bool undo_preserve_memfd(struct ctx *c)
{
	if (c->session >= 0)
		close(c->session);
	c->session = -1;
	return true;
}

static int step_preserve_iommufd(struct ctx *c)
{
	return luo_preserve_fd(c->session, c->v.iommufd, TOKEN_IOMMUFD);
}

/* A failed iommufd preserve leaves its IOAS mutable. */
static bool iommufd_not_frozen(struct ctx *c)
{
	return !vdev_map_file(&c->v, c->ram_fd, 0, RAM_SIZE, IOVA2) &&
	       !vdev_unmap(&c->v, IOVA2, RAM_SIZE);
}

static int step_preserve_cdev(struct ctx *c)
{
	return luo_preserve_fd(c->session, c->v.cdev, TOKEN_CDEV);
}

static int preserved_with_translation;

/* A failed cdev preserve did not preserve the device's translation. */
static bool cdev_not_preserved(struct ctx *c)
{
	return kmsg_count_with(WITH_TRANSLATION, EDU) ==
	       preserved_with_translation;
}

struct step {
	const char *name;
	int (*run)(struct ctx *c);
	bool (*after_failure)(struct ctx *c);	/* nothing half-way */
};

static const struct step steps[] = {
	{ "IOMMU_HWPT_LIVEUPDATE_MARK", step_mark, NULL },
	{ "preserve of the RAM memfd", step_preserve_memfd, undo_preserve_memfd },
	{ "preserve of the iommufd", step_preserve_iommufd, iommufd_not_frozen },
	{ "preserve of the vfio cdev", step_preserve_cdev, cdev_not_preserved },
};

/* Fail each allocation of @s in turn; false on the first wrong outcome. */
static bool sweep(struct ctx *c, const struct step *s)
{
	unsigned int n, wrong = 0;
	int ret = 0, bad_ret = 0;
	bool injected;

	for (n = 1; n <= MAX_NTH; n++) {
		nth_arm(n);
		ret = s->run(c);
		injected = nth_injected();
		if (!injected)
			break;
		if (ret != -ENOMEM || (s->after_failure && !s->after_failure(c))) {
			if (!wrong++) {
				bad_ret = ret;
				ktap_info("%s: allocation %u failed: %s%s", s->name,
					  n, ret ? strerror(-ret) : "no error",
					  ret == -ENOMEM ? ", but left state behind" : "");
			}
		}
	}
	return ktap_check(n <= MAX_NTH && !ret && !wrong && dma_works(c),
			  "%s: %u allocations, each failed once: ENOMEM and nothing half-way %u times (first wrong: %s); then it succeeds and DMA works",
			  s->name, n - 1, n - 1 - wrong,
			  wrong ? (bad_ret ? strerror(-bad_ret) : "no error") : "none");
}

/* Scan twice past kmemleak's minimum age; the report must stay empty. */
static bool kmemleak_clean(char *report, size_t len)
{
	int n;

	sleep(6);
	if (write_file(KMEMLEAK, "scan") || write_file(KMEMLEAK, "scan"))
		return false;
	n = read_file(KMEMLEAK, report, len);
	return n == 0;
}

int main(void)
{
	struct ctx c = { .session = -1 };
	char report[4096] = "";
	size_t i;
	bool ok;
	int ret;

	ktap_begin(NAME, 1, 9);
	CHECK_OR_BAIL(fault_injection_setup() &&
		      !write_file(KMEMLEAK, "scan") && !write_file(KMEMLEAK, "clear"),
		      "fail-nth armed for GFP_KERNEL slab and page allocations; kmemleak scanned and cleared");

	c.luo = luo_open();
	c.ram_fd = memfd_sealed("guest-ram", RAM_SIZE);
	c.ram = c.ram_fd >= 0 ? map_shared(c.ram_fd, RAM_SIZE) : NULL;
	ok = c.luo >= 0 && c.ram && !vdev_open(&c.v, EDU) &&
	     !vdev_map_file(&c.v, c.ram_fd, 0, RAM_SIZE, IOVA) && dma_works(&c);
	CHECK_OR_BAIL(ok, "edu %s assigned, sealed RAM memfd mapped at IOVA 0x%lx, DMA works",
		      EDU, IOVA);
	preserved_with_translation = kmsg_count_with(WITH_TRANSLATION, EDU);

	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
		if (!sweep(&c, &steps[i]))
			ktap_bail("cannot go on");

	close(c.session);
	ok = dma_works(&c) && iommufd_not_frozen(&c);
	ktap_check(ok, "session closed: everything unpreserved, DMA works, the IOAS maps and unmaps");

	c.session = luo_create_session(c.luo, NAME);
	ret = c.session < 0 ? c.session :
	      luo_preserve_fd(c.session, c.ram_fd, TOKEN_RAM) ?:
	      luo_preserve_fd(c.session, c.v.iommufd, TOKEN_IOMMUFD) ?:
	      luo_preserve_fd(c.session, c.v.cdev, TOKEN_CDEV);
	if (c.session >= 0)
		close(c.session);
	ktap_check(!ret && dma_works(&c),
		   "the whole sequence again without injection: %s; closed again, DMA works",
		   ret ? strerror(-ret) : "ok");

	vdev_close(&c.v);
	ok = kmemleak_clean(report, sizeof(report));
	ktap_check(ok, "kmemleak: nothing leaked%s%.300s", ok ? "" : ": ", report);
	ktap_finish();
}
