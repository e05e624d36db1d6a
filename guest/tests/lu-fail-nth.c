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
 * Each attempt runs on a fresh copy of the steps before it (a scratch
 * HWPT for the mark; a new session, with the earlier preserves made
 * without injection, for the others) and is undone after it: the HWPT
 * destroyed, the session closed. A failure must return ENOMEM and leave
 * nothing half-way (after a failed iommufd preserve its IOAS still maps
 * and unmaps; after a failed cdev preserve vfio-pci logged as many
 * unpreserves of the device as preserves); a failure the kernel absorbs (kmemleak falls
 * back to a pool for its own metadata, for one) may let the step succeed.
 * After each sweep the device still does DMA. Then the whole sequence
 * works without injection, and kmemleak finds nothing. The number of
 * injection points of each step is reported.
 *
 * A kernel with CONFIG_IOMMUFD_TEST (for iommufd's own selftests) has
 * iommufd's fault injection points too, which fail-nth counts as well and
 * which fail with an errno of iommufd's choosing (ENOENT for an object
 * lookup, for one). Their attribute's "times" counts them down, so each
 * failure is told apart: one of those must leave nothing half-way too,
 * with whatever errno.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <linux/iommufd.h>

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
#define PRESERVED	"live update: preserved"
#define UNPRESERVED	"live update: unpreserved"

static int nth_fd = -1;

/* iommufd's own fault injection, in a kernel with CONFIG_IOMMUFD_TEST */
#define IOMMUFD_TIMES	DEBUGFS "fail_iommufd/times"

/* How many of iommufd's own injection points failed so far (or 0). */
static long iommufd_own_failures(void)
{
	char buf[32] = "";

	if (read_file(IOMMUFD_TIMES, buf, sizeof(buf)) <= 0)
		return 0;
	return 1000000 - strtol(buf, NULL, 10);
}

/*
 * Let fail-nth reach GFP_KERNEL allocations; no stack dump per failure.
 * iommufd's attribute, if there is one, counts its failures down.
 */
static bool fault_injection_setup(void)
{
	nth_fd = open("/proc/thread-self/fail-nth", O_RDWR);
	if (access(IOMMUFD_TIMES, F_OK) == 0 &&
	    (write_file(IOMMUFD_TIMES, "1000000") ||
	     write_file(DEBUGFS "fail_iommufd/verbose", "0")))
		return false;
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
	uint32_t scratch_hwpt;
	unsigned int round;		/* makes every DMA pattern new */
};

static bool dma_works(struct ctx *c)
{
	return edu_round_trip(c->v.bar0, c->ram + SRC_OFF, IOVA + SRC_OFF,
			      c->ram + DST_OFF, IOVA + DST_OFF,
			      0xfa11 + c->round++);
}

#define IOCTL(fd, cmd, arg) (ioctl(fd, cmd, arg) ? -errno : 0)

static int hwpt_destroy(int iommufd, uint32_t id)
{
	struct iommu_destroy d = { .size = sizeof(d), .id = id };

	return IOCTL(iommufd, IOMMU_DESTROY, &d);
}

/*
 * Each step runs on a fresh copy of what comes before it, made without
 * injection, and is undone afterwards, whether it failed or not: an
 * injected failure that the kernel absorbs (kmemleak's own metadata
 * allocations fall back to a pool, for one) lets the step succeed.
 */
static int before_mark(struct ctx *c)
{
	struct iommu_hwpt_alloc alloc = {
		.size = sizeof(alloc),
		.dev_id = c->v.devid,
		.pt_id = c->v.ioas,
	};
	int ret = IOCTL(c->v.iommufd, IOMMU_HWPT_ALLOC, &alloc);

	c->scratch_hwpt = alloc.out_hwpt_id;
	return ret;
}

/* A HWPT of the same IOAS, not the device's: marked, then destroyed. */
static int step_mark(struct ctx *c)
{
	struct vdev scratch = c->v;

	scratch.hwpt = c->scratch_hwpt;
	return vdev_mark_hwpt(&scratch, HWPT_TOKEN + 1);
}

static void undo_mark(struct ctx *c)
{
	if (hwpt_destroy(c->v.iommufd, c->scratch_hwpt))
		ktap_bail("cannot destroy HWPT %u", c->scratch_hwpt);
}

static int before_memfd(struct ctx *c)
{
	return 0;
}

static int step_preserve_memfd(struct ctx *c)
{
	c->session = luo_create_session(c->luo, NAME);
	if (c->session < 0)
		return c->session;
	return luo_preserve_fd(c->session, c->ram_fd, TOKEN_RAM);
}

/* Closing the session unpreserves what it holds. */
static void undo_session(struct ctx *c)
{
	if (c->session >= 0)
		close(c->session);
	c->session = -1;
}

static int before_iommufd(struct ctx *c)
{
	return step_preserve_memfd(c);
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

static int before_cdev(struct ctx *c)
{
	return before_iommufd(c) ?: step_preserve_iommufd(c);
}

static int step_preserve_cdev(struct ctx *c)
{
	return luo_preserve_fd(c->session, c->v.cdev, TOKEN_CDEV);
}

static int preserved_balance;

/* Preserves of the device the handler logged, less those it undid. */
static int device_preserves(void)
{
	return kmsg_count_with(PRESERVED, EDU) - kmsg_count_with(UNPRESERVED, EDU);
}

/*
 * A failed cdev preserve left the device unpreserved: the handler may
 * have preserved it before a later step of LUO failed, and then LUO must
 * have had it undo that.
 */
static bool cdev_not_preserved(struct ctx *c)
{
	return device_preserves() == preserved_balance;
}

struct step {
	const char *name;
	int (*before)(struct ctx *c);
	int (*run)(struct ctx *c);
	bool (*after_failure)(struct ctx *c);	/* nothing half-way */
	void (*undo)(struct ctx *c);
};

static const struct step steps[] = {
	{ "IOMMU_HWPT_LIVEUPDATE_MARK", before_mark, step_mark, NULL,
	  undo_mark },
	{ "preserve of the RAM memfd", before_memfd, step_preserve_memfd,
	  NULL, undo_session },
	{ "preserve of the iommufd", before_iommufd, step_preserve_iommufd,
	  iommufd_not_frozen, undo_session },
	{ "preserve of the vfio cdev", before_cdev, step_preserve_cdev,
	  cdev_not_preserved, undo_session },
};

/* Fail each allocation of @s in turn; false on the first wrong outcome. */
static bool sweep(struct ctx *c, const struct step *s)
{
	unsigned int n, failed = 0, absorbed = 0, own = 0, wrong = 0;
	int ret = 0, bad_ret = 0;
	bool injected, iommufds, ok;
	long own_before;

	for (n = 1; n <= MAX_NTH; n++) {
		ret = s->before(c);
		if (ret)
			ktap_bail("%s: the steps before it failed: %s", s->name,
				  strerror(-ret));
		own_before = iommufd_own_failures();
		nth_arm(n);
		ret = s->run(c);
		injected = nth_injected();
		iommufds = iommufd_own_failures() != own_before;
		ok = !injected ? !ret :
		     !ret || ((ret == -ENOMEM || iommufds) &&
			      (!s->after_failure || s->after_failure(c)));
		s->undo(c);
		if (!injected)
			break;
		if (!ok && !wrong++) {
			bad_ret = ret;
			ktap_info("%s: allocation %u failed: %s%s", s->name, n,
				  ret ? strerror(-ret) : "no error",
				  ret == -ENOMEM ? ", but left state behind" : "");
		}
		if (ok && ret && iommufds)
			own++;
		else if (ok && ret)
			failed++;
		else if (ok)
			absorbed++;
	}
	ktap_info("%s: %u injection points, %u failed with ENOMEM, %u absorbed, %u of iommufd's own",
		  s->name, n - 1, failed, absorbed, own);
	return ktap_check(n <= MAX_NTH && !ret && !wrong && dma_works(c),
			  "%s: each of %u injection points failed once: allocations with ENOMEM and nothing half-way (%u), or absorbed (%u), iommufd's own with nothing half-way (%u); wrong: %u (first: %s); then it succeeds, DMA works",
			  s->name, n - 1, failed, absorbed, own, wrong,
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
	/* The allocator warns of some injected failures, stack and all. */
	ktap_info("expect-alloc-failures");
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
	preserved_balance = device_preserves();

	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		if (!sweep(&c, &steps[i]))
			ktap_bail("cannot go on");
		/* The next steps preserve the device's HWPT: mark it. */
		if (!i && vdev_mark_hwpt(&c.v, HWPT_TOKEN))
			ktap_bail("cannot mark HWPT %u", c.v.hwpt);
	}

	ok = dma_works(&c) && iommufd_not_frozen(&c);
	ktap_check(ok, "after the sweeps, with every session closed: DMA works, the IOAS maps and unmaps");

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
