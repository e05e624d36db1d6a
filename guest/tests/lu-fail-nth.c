// SPDX-License-Identifier: GPL-2.0
/*
 * lu-fail-nth: every allocation of the VMM's live update sequence fails
 * once. With the per-task fail-nth interface (as iommufd's
 * iommufd_fail_nth selftest uses it), for N = 1, 2, ... the Nth slab or
 * page allocation of one step fails, until the step goes through without
 * reaching N.
 *
 * Stage 1 sweeps these steps, each with the ones before it done:
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
 * After each sweep the device still does DMA.
 *
 * Then the freeze, which reboot(KEXEC) runs in the caller's context: a
 * second edu with MSI on, preserved last, refuses its freeze with EBUSY,
 * so that every attempt comes back and every injection point before that
 * refusal is reached (the memfd's freeze, the iommufd's with the IOMMU
 * units and VT-d's tables, the first cdev's). A failure must return
 * ENOMEM (EBUSY if absorbed) and thaw everything: the cdev takes ioctls,
 * the command register (bus mastering) is as before and the device does
 * DMA, after every attempt. Then the whole sequence works without
 * injection, kmemleak finds nothing, and the real update is made, into a
 * kernel without kmemleak (its own allocations would absorb every other
 * injection of stage 2).
 *
 * Stage 2 sweeps what the VMM does in the new kernel after retrieving the
 * session, the RAM memfd, the iommufd and the cdev (a retrieve cannot be
 * swept: LUO keeps a retrieve's error for the whole boot): binding the
 * cdev to the retrieved iommufd, attaching it to the restored HWPT, and
 * finishing the session. None of these can be undone, so a failure must
 * leave everything as it was and the step is tried again with the next
 * N, on the same state, until it succeeds: after every failure the VT-d
 * entries of the device are bit-identical to the adopted ones and the
 * device does DMA through the restored translation; after a failed bind
 * a fresh iommufd still cannot bind the cdev (EPERM). The first failure
 * the kernel absorbs lets the step succeed and ends its sweep; the
 * allocations of a few functions known to absorb their failure are left
 * out of the count for that reason. After the finish the IOAS maps and
 * unmaps again.
 *
 * The number of injection points of each step is reported.
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
#include <sys/syscall.h>
#include <linux/iommufd.h>
#include <linux/pci_regs.h>
#include <linux/reboot.h>
#include <linux/vfio.h>

#include "edu.h"
#include "ktap.h"
#include "luo.h"
#include "util.h"
#include "vfio.h"
#include "vtd.h"

#define NAME		"lu-fail-nth"
#define EDU		"0000:00:04.0"
#define EDU2		"0000:01:00.0"	/* behind the root port */
#define RAM_SIZE	(1UL << 20)
#define IOVA		0x1000000UL
#define IOVA2		0x2000000UL
#define SRC_OFF		0x1000UL
#define DST_OFF		0x3000UL
#define TOKEN_RAM	1
#define TOKEN_IOMMUFD	2
#define TOKEN_CDEV	3
#define TOKEN_CDEV2	4
#define STATE_MAGIC	0x6c75666e74680002ULL
#define HWPT_TOKEN	0x6661696cULL
#define BAR_LEN		4096UL		/* the edu's registers */
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

/* The address of the text symbol @name and of the one after it. */
static bool symbol_range(const char *name, unsigned long *start,
			 unsigned long *end)
{
	FILE *f = fopen("/proc/kallsyms", "r");
	char type, sym[256];
	unsigned long addr;
	bool found = false;

	*start = *end = 0;
	while (f && fscanf(f, "%lx %c %255s%*[^\n]", &addr, &type, sym) == 3) {
		if (found && addr > *start) {
			*end = addr;
			break;
		}
		if (!strcmp(sym, name) && (type == 't' || type == 'T')) {
			*start = addr;
			found = true;
		}
	}
	if (f)
		fclose(f);
	return *start && *end;
}

/*
 * Leave the allocations of fault attribute @attr made under @func (and
 * what it calls) out of fail-nth's count: the kernel absorbs their
 * failure (retries it, or goes on without), and in phase 2 a step that
 * succeeds that way cannot be undone to sweep on past it.
 */
static bool reject_calls_from(const char *attr, const char *func)
{
	unsigned long start, end;
	char path[128], buf[32];

	if (!symbol_range(func, &start, &end))
		return false;
	snprintf(path, sizeof(path), DEBUGFS "%s/reject-start", attr);
	snprintf(buf, sizeof(buf), "0x%lx", start);
	if (write_file(path, buf))
		return false;
	snprintf(path, sizeof(path), DEBUGFS "%s/reject-end", attr);
	snprintf(buf, sizeof(buf), "0x%lx", end);
	return !write_file(path, buf);
}

/*
 * Let fail-nth reach GFP_KERNEL allocations; no stack dump per failure.
 * Not xarray's node allocation under its lock (xas_alloc()), which is
 * retried outside it, nor the page allocations of the slab allocator
 * (allocate_slab()), which tries a smaller order when a larger one fails:
 * slab allocations fail through failslab. iommufd's attribute, if there
 * is one, counts its failures down.
 */
static bool fault_injection_setup(void)
{
	nth_fd = open("/proc/thread-self/fail-nth", O_RDWR);
	if (access(IOMMUFD_TIMES, F_OK) == 0 &&
	    (write_file(IOMMUFD_TIMES, "1000000") ||
	     write_file(DEBUGFS "fail_iommufd/verbose", "0")))
		return false;
	return nth_fd >= 0 && reject_calls_from("failslab", "xas_alloc") &&
	       reject_calls_from("fail_page_alloc", "allocate_slab") &&
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
	struct vtd_entry adopted;	/* stage 2: the device's VT-d entries */
};

/* What stage 1 leaves for stage 2, at the start of the RAM memfd */
struct state {
	uint64_t magic;
	uint32_t ioas, hwpt;
	unsigned int round;
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

/* reboot(KEXEC) with the Nth allocation armed; its -errno. */
static int reboot_nth(unsigned int n)
{
	int ret;

	fflush(NULL);		/* no allocation of stdio's counts */
	nth_arm(n);
	ret = syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2,
		      LINUX_REBOOT_CMD_KEXEC, NULL) ? -errno : 0;
	return ret;
}

/*
 * Thawed: the cdev takes ioctls (a config space read through it), the
 * device's own command register (through sysfs: vfio-pci's is virtual)
 * is @cmd, DMA works.
 */
static bool thawed(struct ctx *c, uint16_t cmd)
{
	uint16_t now = 0, virt;

	return !vdev_config_read(&c->v, PCI_COMMAND, &virt, sizeof(virt)) &&
	       !pci_config_read(EDU, PCI_COMMAND, &now, sizeof(now)) &&
	       now == cmd && dma_works(c);
}

/*
 * Sweep the freeze. The session holds the RAM memfd, the iommufd and the
 * edu's cdev, then a second edu's cdev with MSI on, whose freeze refuses
 * (EBUSY): every attempt returns, after every injection point of the
 * freezes before it has been reached. The session stays preserved across
 * the attempts: a refused reboot() thaws what froze, nothing else.
 */
static void sweep_freeze(struct ctx *c)
{
	unsigned int n, failed = 0, absorbed = 0, own = 0, wrong = 0;
	int ret, efd, bad_ret = 0;
	bool injected, iommufds, ok;
	uint16_t cmd = 0;
	long own_before;
	struct vdev w;

	ret = vdev_open(&w, EDU2);
	efd = ret ? -1 : vdev_msi_eventfd(&w);
	ret = ret ?: efd < 0 ? efd : 0;
	ret = ret ?: before_cdev(c) ?: step_preserve_cdev(c);
	ret = ret ?: luo_preserve_fd(c->session, w.cdev, TOKEN_CDEV2);
	ret = ret ?: kexec_load_next(2);
	ret = ret ?: pci_config_read(EDU, PCI_COMMAND, &cmd, sizeof(cmd));
	CHECK_OR_BAIL(!ret, "session with the RAM memfd, the iommufd, the cdev and last a second edu's cdev (%s, MSI on) preserved, next kernel loaded, command register 0x%04x",
		      EDU2, cmd);

	for (n = 1; n <= MAX_NTH; n++) {
		own_before = iommufd_own_failures();
		ret = reboot_nth(n);
		injected = nth_injected();
		iommufds = iommufd_own_failures() != own_before;
		ok = thawed(c, cmd) &&
		     (!injected ? ret == -EBUSY :
		      ret == -ENOMEM || ret == -EBUSY || iommufds);
		if (!ok && !wrong++) {
			bad_ret = ret;
			ktap_info("freeze: allocation %u%s: %s%s", n,
				  injected ? " failed" : " not reached",
				  ret ? strerror(-ret) : "no error",
				  thawed(c, cmd) ? "" : ", not thawed");
		}
		if (!injected)
			break;
		if (ok && ret == -EBUSY)
			absorbed++;
		else if (ok && iommufds)
			own++;
		else if (ok)
			failed++;
	}
	ktap_info("freeze: %u injection points, %u failed with ENOMEM, %u absorbed, %u of iommufd's own",
		  n - 1, failed, absorbed, own);
	undo_session(c);
	if (efd >= 0)
		close(efd);
	vdev_close(&w);
	ok = n <= MAX_NTH && !wrong && iommufd_not_frozen(c) && dma_works(c);
	ktap_check(ok, "freeze: each of %u injection points failed once: ENOMEM (%u), absorbed up to the second edu's EBUSY (%u), iommufd's own (%u), each time thawed (the cdev takes ioctls, command register as before, DMA works); wrong: %u (first: %s); the session closed, the IOAS maps and unmaps",
		   n - 1, failed, absorbed, own, wrong,
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

static void stage1(void)
{
	struct ctx c = { .session = -1 };
	char report[4096] = "";
	struct state *st;
	size_t i;
	bool ok;
	int ret;

	ktap_begin(NAME, 1, 12);
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

	sweep_freeze(&c);

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

	ok = kmemleak_clean(report, sizeof(report));
	ktap_check(ok, "kmemleak: nothing leaked%s%.300s", ok ? "" : ": ", report);

	/* The real update: stage 2 sweeps what the VMM does after it. */
	st = (struct state *)c.ram;
	*st = (struct state){ STATE_MAGIC, c.v.ioas, c.v.hwpt, c.round };
	c.session = luo_create_session(c.luo, NAME);
	ret = c.session < 0 ? c.session :
	      luo_preserve_fd(c.session, c.ram_fd, TOKEN_RAM) ?:
	      luo_preserve_fd(c.session, c.v.iommufd, TOKEN_IOMMUFD) ?:
	      luo_preserve_fd(c.session, c.v.cdev, TOKEN_CDEV) ?:
	      kexec_load_next_args(2, "kmemleak=off acpi=noirq");
	CHECK_OR_BAIL(!ret, "preserved for the real update (IOAS %u, HWPT %u), next kernel loaded without kmemleak",
		      c.v.ioas, c.v.hwpt);
	ret = kexec_reboot();
	ktap_bail("reboot(KEXEC) returned: %s", strerror(-ret));
}

/*
 * A phase 2 step: it cannot be undone, so a failure must change nothing,
 * and the first allocation whose failure the kernel absorbs ends its
 * sweep (the step succeeds). The slab allocations under @absorber are
 * left out of the count: a run with stack dumps (failslab/verbose 2)
 * showed its failure absorbed.
 */
struct step2 {
	const char *name;
	int (*run)(struct ctx *c);
	bool (*unchanged)(struct ctx *c);	/* after a failure */
	const char *absorber;
};

static bool entries_adopted(struct ctx *c)
{
	struct vtd_entry e;

	return !vtd_entry_of(EDU, &e) && vtd_entry_same(&e, &c->adopted);
}

static int step_bind(struct ctx *c)
{
	return vdev_bind(&c->v);
}

/*
 * Still the restore's, as it was: a fresh iommufd cannot bind the cdev,
 * and the device does DMA through the restored translation.
 */
static bool still_restored(struct ctx *c)
{
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };
	int ret;

	bind.iommufd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	if (bind.iommufd < 0)
		return false;
	ret = IOCTL(c->v.cdev, VFIO_DEVICE_BIND_IOMMUFD, &bind);
	close(bind.iommufd);
	return ret == -EPERM && entries_adopted(c) && dma_works(c);
}

static int step_attach(struct ctx *c)
{
	uint32_t pt_id = c->v.hwpt;
	int ret = vdev_attach_pt(&c->v, &pt_id);

	return ret ?: pt_id == c->v.hwpt ? 0 : -EINVAL;
}

static bool still_translating(struct ctx *c)
{
	return entries_adopted(c) && dma_works(c);
}

static int step_finish(struct ctx *c)
{
	return luo_finish(c->session);
}

static const struct step2 steps2[] = {
	/*
	 * vfio-pci's open goes on without the saved config space it keeps
	 * for a reset. (The xarray of iommufd's groups needs no new node:
	 * see stage2().)
	 */
	{ "VFIO_DEVICE_BIND_IOMMUFD", step_bind, still_restored,
	  "pci_store_saved_state" },
	{ "VFIO_DEVICE_ATTACH_IOMMUFD_PT", step_attach, still_translating,
	  "xas_alloc" },
	{ "LIVEUPDATE_SESSION_FINISH", step_finish, still_translating,
	  "xas_alloc" },
};

/* Fail each allocation of @s in turn, on the same state, until it works. */
static bool sweep_until_done(struct ctx *c, const struct step2 *s)
{
	unsigned int n, failed = 0, own = 0, wrong = 0;
	bool injected = false, iommufds, ok, absorbed;
	int ret = 0, bad_ret = 0;
	long own_before;

	if (!reject_calls_from("failslab", s->absorber))
		ktap_bail("%s: cannot find %s in /proc/kallsyms", s->name,
			  s->absorber);
	for (n = 1; n <= MAX_NTH; n++) {
		own_before = iommufd_own_failures();
		nth_arm(n);
		ret = s->run(c);
		injected = nth_injected();
		iommufds = iommufd_own_failures() != own_before;
		if (!ret)
			break;
		ok = injected && (ret == -ENOMEM || iommufds) && s->unchanged(c);
		if (!ok && !wrong++) {
			bad_ret = ret;
			ktap_info("%s: allocation %u%s: %s", s->name, n,
				  injected ? " failed" : " not reached",
				  strerror(-ret));
		}
		if (!injected)
			break;
		if (ok && iommufds)
			own++;
		else if (ok)
			failed++;
	}
	/*
	 * An allocation with a fallback (kvmalloc()'s kmalloc() attempt,
	 * for one) absorbs its failure: the step then succeeds, and since
	 * it cannot be undone, the points after it are not reached.
	 */
	absorbed = !ret && injected;
	ktap_info("%s: %u injection points failed, %u with ENOMEM, %u of iommufd's own; %s",
		  s->name, n - 1, failed, own,
		  absorbed ? "the next one absorbed, and the step went through" :
			     "then it went through without reaching N");
	return ktap_check(!ret && !wrong && entries_adopted(c),
			  "%s: %u injection points failed once each, with ENOMEM (%u) or iommufd's own (%u), and changed nothing; wrong: %u (first: %s); then it succeeds (%s), the VT-d entries still the adopted ones",
			  s->name, n - 1, failed, own, wrong,
			  wrong ? strerror(-bad_ret) : "none",
			  absorbed ? "the next failure absorbed" : "no failure reached");
}

static void stage2(void)
{
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };
	struct ctx c = { .session = -1 };
	struct state *st = NULL;
	int cdev2 = -1;
	size_t i;
	bool ok;

	ktap_begin(NAME, 2, 7);
	c.luo = luo_open();
	c.session = c.luo >= 0 ? luo_retrieve_session(c.luo, NAME) : -1;
	c.ram_fd = c.session >= 0 ? luo_retrieve_fd(c.session, TOKEN_RAM) : -1;
	c.ram = c.ram_fd >= 0 ? map_shared(c.ram_fd, RAM_SIZE) : NULL;
	st = (struct state *)c.ram;
	ok = st && st->magic == STATE_MAGIC;
	if (ok) {
		c.v.iommufd = luo_retrieve_fd(c.session, TOKEN_IOMMUFD);
		c.v.cdev = luo_retrieve_fd(c.session, TOKEN_CDEV);
		c.v.ioas = st->ioas;
		c.v.hwpt = st->hwpt;
		c.round = st->round + 100;
		snprintf(c.v.bdf, sizeof(c.v.bdf), "%s", EDU);
	}
	/*
	 * The edu's registers through sysfs, not through vfio-pci, whose
	 * open goes on without a BAR it could not map (an absorbed failure
	 * that may end the bind's sweep).
	 */
	c.v.bar0 = ok ? pci_bar_map(EDU, 0, BAR_LEN) : NULL;
	ok = ok && c.v.iommufd >= 0 && c.v.cdev >= 0 && c.v.bar0 &&
	     !vtd_entry_of(EDU, &c.adopted) && dma_works(&c);
	CHECK_OR_BAIL(ok, "session, RAM memfd, iommufd and cdev retrieved; the edu's adopted VT-d entries read; DMA works before the bind");
	CHECK_OR_BAIL(fault_injection_setup(),
		      "fail-nth armed for GFP_KERNEL slab and page allocations (no kmemleak in this kernel)");

	/*
	 * A second device bound to the retrieved iommufd first, as a VMM
	 * with two devices may do: the node of the xarray of iommufd's
	 * groups that the edu's group needs is then there. Otherwise the
	 * edu's bind would allocate it under the xarray's lock, whose
	 * failure is retried (absorbed), and the bind leaves out only one
	 * function's allocations.
	 */
	cdev2 = vdev_open_cdev(EDU2);
	bind.iommufd = c.v.iommufd;
	ok = cdev2 >= 0 && !IOCTL(cdev2, VFIO_DEVICE_BIND_IOMMUFD, &bind);
	CHECK_OR_BAIL(ok, "a second edu (%s) opened and bound to the retrieved iommufd",
		      EDU2);

	for (i = 0; i < sizeof(steps2) / sizeof(steps2[0]); i++) {
		if (!sweep_until_done(&c, &steps2[i]))
			ktap_bail("cannot go on");
	}

	ok = dma_works(&c) && iommufd_not_frozen(&c);
	ktap_check(ok, "after the finish: DMA works through the restored translation, the IOAS maps and unmaps");
	close(cdev2);
	ktap_finish();
}

int main(void)
{
	if (lutest_stage() == 1)
		stage1();
	else
		stage2();
	return 0;
}
