// SPDX-License-Identifier: GPL-2.0
/*
 * edu-dma-across-kexec: the proof the series exists for. Guest RAM is a
 * sealed memfd mapped with IOMMU_IOAS_MAP_FILE for an edu assigned through
 * its vfio cdev and iommufd. The VMM's flow (DESIGN.md 4) preserves, in one
 * LUO session: the memfds, the iommufd with the edu's HWPT marked, and the
 * edu's cdev, which carries the device's VT-d translation with it. Just
 * before the kexec the edu is told to write a known 4 KiB block to an IOVA
 * in RAM; it does so about 100 ms of virtual time later, during the kexec.
 * The guest cannot tell when: the host finds in QEMU's trace (the IOMMU's
 * translations, after a mark written just before the doorbell) in which
 * boot the write was translated, and fails the run if it never was
 * (expect-write-translated; the result line reports the boot).
 *
 * After the kexec (DESIGN.md 3, the DMA-continuity contract) the test looks
 * for: the bytes at the right offset of the retrieved memfd, in the same
 * page frames, nothing else in RAM changed; bus mastering still on; the
 * edu's root and context entries (and PASID entry in scalable mode) and
 * domain id bit-identical. Then the VMM takes the edu back (phase 2): it
 * retrieves the iommufd, whose IOAS refuses unmap until the session
 * finishes, and the cdev, binds the cdev to the retrieved iommufd and
 * attaches it to the HWPT by the id it had, with the VT-d entries still
 * bit-identical and, in QEMU's trace, no invalidation and no table change
 * between the two (verdict.sh, "# expect-hitless"). Through the cdev's BAR: a new DMA through the same IOVA
 * lands; a page punched out of the retrieved memfd is still the one the
 * IOVA reaches, for reads and writes, while the memory allocated next
 * stays intact (the IOAS pins what it maps); a DMA to an unmapped IOVA
 * faults. A second edu, assigned the same way but not preserved, did DMA
 * before the kexec and must not be able to after it. The session then
 * finishes, and the IOAS is an ordinary one: unmapping the rebuilt area
 * reports exactly its length, a DMA to it faults, and RAM mapped again at
 * another IOVA is reached by DMA.
 *
 * Run with "luxfail=1" (tests.list "xfail") against a kernel that cannot
 * preserve the device's translation, e.g. when bisecting the series: the
 * kernel refuses the cdev with EOPNOTSUPP ("its IOMMU driver cannot
 * preserve devices"), the test kexecs without it, and every continuity
 * check is an expected failure that says what it found.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <linux/falloc.h>
#include <linux/pci_regs.h>

#include "edu.h"
#include "ktap.h"
#include "luo.h"
#include "util.h"
#include "vfio.h"
#include "vm.h"
#include "vtd.h"

#define SESSION		"edu-dma-across-kexec"
#define TOKEN_IOMMUFD	3
#define TOKEN_CDEV	4
#define HWPT_TOKEN	0x6564750aULL	/* the mark of the preserved HWPT */

#define EDU_PRESERVED	"0000:00:04.0"	/* on the root bus */
#define EDU_OTHER	"0000:01:00.0"	/* behind root port 00:05.0 */
#define BAR_LEN		4096UL		/* the edu's registers */

#define RAM_SIZE	(2UL << 20)
#define NPAGES		(RAM_SIZE / PAGE_SIZE)
/* IOVAs below the edu's 28-bit DMA mask */
#define IOVA		0x1000000UL	/* RAM as the preserved edu sees it */
#define IOVA2		0x4000000UL	/* RAM as the other edu sees it */
#define FAULT_IOVA	(IOVA + RAM_SIZE + 0x3000)	/* never mapped */
/* Offsets in RAM, each of one edu buffer (4 KiB) */
#define SRC_OFF		0x1000UL	/* the preserved edu's pattern */
#define CHECK_OFF	0x10000UL	/* its round trip before the kexec */
#define SRC2_OFF	0x20000UL	/* the other edu's pattern */
#define CHECK2_OFF	0x30000UL	/* its round trip before the kexec */
#define TARGET_OFF	0x123000UL	/* the write in flight at kexec */
#define NEW_SRC_OFF	0x140000UL	/* after the kexec, RAM -> edu ... */
#define NEW_OFF		0x150000UL	/* ... -> RAM */
#define HOLE_OFF	CHECK_OFF	/* punched out of the memfd after it */
/*
 * Where the other edu's old translation would put its write after the
 * kexec: a block holding the preserved edu's pattern, which is not the one
 * in the other edu's buffer, so a write that got through shows.
 */
#define STALE_OFF	SRC_OFF
#define SEED		0xd1a5e7u
#define SEED2		0x5ec0d2u
#define SEED3		0x9e3779u
#define SEED4		0x4c0ffeu	/* memory allocated after the punch */
#define SEED5		0x7a11edu	/* written into the punched range */
#define FILL_SIZE	(64UL << 20)
#define IOVA3		0x2201000UL	/* RAM mapped again after finish */
/* QEMU trace marks around bind and attach, which must be hitless */
#define MARK_BIND	0x51
#define MARK_ATTACHED	0x52
#define MARK_DOORBELL	0x53	/* just before the write in flight at kexec */

/* What stage 1 saw, for stage 2; in a memfd preserved with the RAM. */
struct state {
	uint64_t magic;
	char bdf[16];			/* the preserved edu */
	char bdf2[16];			/* the other edu */
	uint64_t iova2;			/* where the other edu saw RAM */
	struct vtd_entry vtd;		/* the preserved edu's, at kexec */
	uint32_t domain_id;
	uint32_t ioas, hwpt;		/* its iommufd object ids */
	uint16_t cmd;			/* its command register at kexec */
	uint64_t pfn[NPAGES];
};
#define STATE_MAGIC	0x6564756b65786563ULL

static bool xfail;	/* luxfail=1: continuity is expected to fail */

/* A check of the DMA-continuity contract: XFAIL under luxfail. */
#define CONTINUITY(ok, why, ...) \
	ktap_check_xfail_if(xfail, (ok), (why), __VA_ARGS__)

/*
 * Assign @bdf the way a VMM does (vfio cdev, fresh iommufd, IOAS, paging
 * HWPT) and map all of RAM at @iova.
 */
static bool assign(struct vdev *v, const char *bdf, int ram_fd, uint64_t iova)
{
	int ret = vdev_open(v, bdf);

	if (ret) {
		ktap_info("%s: %s failed: %s", bdf, v->failed_step,
			  strerror(-ret));
		return false;
	}
	ret = vdev_map_file(v, ram_fd, 0, RAM_SIZE, iova);
	if (ret)
		ktap_info("%s: IOMMU_IOAS_MAP_FILE failed: %s", bdf,
			  strerror(-ret));
	return !ret && edu_present(v->bar0);
}

/* RAM -> device -> RAM through @iova; the pattern of @seed must arrive. */
static bool round_trip(volatile uint8_t *bar, uint8_t *ram, uint64_t iova,
		       unsigned long src, unsigned long dst, uint32_t seed)
{
	return edu_round_trip(bar, ram + src, iova + src, ram + dst, iova + dst,
			      seed);
}

/*
 * The order is the contract: the cdev of a device on a marked HWPT,
 * preserved before its iommufd, would lose its translation at the kexec.
 * It is refused with ENOENT and one log line, and nothing is preserved.
 */
static void check_cdev_before_iommufd(int session, const struct vdev *v)
{
	char why[160];
	int before, ret;

	snprintf(why, sizeof(why), "%s: live update: cannot preserve its translation: its HWPT is marked, but its iommufd is not preserved in this session yet",
		 v->bdf);
	before = kmsg_count(why);
	ret = luo_preserve_fd(session, v->cdev, TOKEN_CDEV);
	ktap_check(ret == -ENOENT && kmsg_count(why) == before + 1,
		   "vfio cdev of %s preserved before its iommufd: refused with ENOENT, logged once: %s",
		   v->bdf, ret ? strerror(-ret) : "preserved");
}

/*
 * Preserve the cdev, last: with its HWPT marked and the iommufd preserved
 * first, that preserves the device's translation too, and the kernel says
 * so. The current series refuses with EOPNOTSUPP and one log line; under
 * luxfail that refusal, and no other, is the expected failure, and the
 * test goes on to the kexec without the device.
 */
static void preserve_cdev(int session, const struct vdev *v)
{
	static const char refused[] = "live update: cannot preserve its "
		"translation: its IOMMU driver cannot preserve devices";
	char done[96];
	int refusals = kmsg_count(refused), preserved, ret;

	snprintf(done, sizeof(done),
		 "%s: live update: preserved with its IOMMU translation", v->bdf);
	preserved = kmsg_count(done);
	ret = luo_preserve_fd(session, v->cdev, TOKEN_CDEV);
	if (ret && !(ret == -EOPNOTSUPP && kmsg_count(refused) == refusals + 1)) {
		ktap_check(false, "vfio cdev of %s preserved: refused: %s",
			   v->bdf, strerror(-ret));
		return;
	}
	CONTINUITY(!ret && kmsg_count(done) == preserved + 1,
		   ret ? "refused with EOPNOTSUPP: its IOMMU driver cannot preserve devices" :
			 "preserved, but the kernel did not say with its translation",
		   "vfio cdev of %s preserved after the iommufd, with its IOMMU translation",
		   v->bdf);
	/*
	 * The host then checks QEMU's trace: VT-d stays on to the end, and
	 * the new kernel keeps the root table it adopts.
	 */
	if (!ret) {
		ktap_info("expect-translation-never-off");
		ktap_info("expect-root-kept");
	}
}

/*
 * What stage 2 compares: the preserved edu's VT-d entries and domain id
 * (the other edu's must differ) and its command register.
 */
static bool record_state(struct state *s)
{
	const char *mode = lutest_cmdline_arg("luvtd");
	struct vtd_entry other;
	char str[192];

	if (vtd_entry_of(s->bdf, &s->vtd) || vtd_entry_of(s->bdf2, &other) ||
	    pci_config_read(s->bdf, PCI_COMMAND, &s->cmd, sizeof(s->cmd)))
		return false;
	s->domain_id = vtd_domain_id(&s->vtd);
	vtd_entry_str(&s->vtd, str, sizeof(str));
	ktap_info("%s at kexec: %s, domain id %u, command 0x%04x", s->bdf, str,
		  s->domain_id, s->cmd);
	return mode && !strcmp(vtd_mode_of(&s->vtd), mode) &&
	       s->domain_id != vtd_domain_id(&other) &&
	       (s->cmd & PCI_COMMAND_MASTER);
}

static void stage1(void)
{
	int session, ram_fd, ret;
	struct lu_vm vm;
	struct vdev v, v2;
	struct state *s;
	uint8_t *ram;
	bool ok;

	ktap_begin(SESSION, 1, 11);

	ok = !lu_vm_create(&vm, SESSION, RAM_SIZE, sizeof(*s));
	session = vm.session;
	ram_fd = vm.ram_fd;
	ram = vm.ram;
	s = vm.state;
	CHECK_OR_BAIL(ok, "LUO session, guest RAM memfd (%lu KiB, sealed) and state memfd",
		      RAM_SIZE >> 10);
	s->magic = STATE_MAGIC;
	snprintf(s->bdf, sizeof(s->bdf), "%s", EDU_PRESERVED);
	snprintf(s->bdf2, sizeof(s->bdf2), "%s", EDU_OTHER);
	s->iova2 = IOVA2;

	CHECK_OR_BAIL(assign(&v, s->bdf, ram_fd, IOVA),
		      "edu %s assigned, RAM mapped at IOVA 0x%lx", s->bdf, IOVA);
	CHECK_OR_BAIL(round_trip(v.bar0, ram, IOVA, SRC_OFF, CHECK_OFF, SEED),
		      "DMA round trip through the IOMMU works before the kexec");
	CHECK_OR_BAIL(assign(&v2, s->bdf2, ram_fd, IOVA2) &&
		      round_trip(v2.bar0, ram, IOVA2, SRC2_OFF, CHECK2_OFF, SEED2),
		      "edu %s (own iommufd, not preserved) does DMA to the same RAM at IOVA 0x%lx",
		      s->bdf2, IOVA2);

	s->ioas = v.ioas;
	s->hwpt = v.hwpt;
	CHECK_OR_BAIL(!vdev_mark_hwpt(&v, HWPT_TOKEN),
		      "HWPT %u of %s marked with token 0x%llx", v.hwpt, s->bdf,
		      HWPT_TOKEN);
	CHECK_OR_BAIL(!lu_vm_preserve_memfds(&vm),
		      "RAM and state memfds preserved");
	check_cdev_before_iommufd(session, &v);
	ret = luo_preserve_fd(session, v.iommufd, TOKEN_IOMMUFD);
	if (ret)
		ktap_info("preserving the iommufd: %s", strerror(-ret));
	CHECK_OR_BAIL(!ret, "iommufd preserved after the memfds");
	preserve_cdev(session, &v);

	/* The state memfd's folios are preserved in place: writes still go. */
	ok = record_state(s);
	CHECK_OR_BAIL(ok,
		      "VT-d %s entries of %s recorded, domain id %u (the other edu's differs), bus master on",
		      lutest_cmdline_arg("luvtd") ?: "?", s->bdf, s->domain_id);
	CHECK_OR_BAIL(!pagemap_pfns(ram, RAM_SIZE, s->pfn) && !kexec_load_next(2),
		      "page frames recorded, next kernel loaded");

	/*
	 * Ring the doorbell and reboot at once: the write lands during kexec.
	 * Where it is expected to be lost, a fault at its IOVA is one way.
	 */
	if (xfail)
		printf("# expect-dmar-fault 0x%lx\n", IOVA + TARGET_OFF);
	else
		printf("# expect-write-translated 0x%x 0x%x 0x%lx\n",
		       MARK_DOORBELL, vtd_source_id(s->bdf), IOVA + TARGET_OFF);
	fflush(stdout);
	qemu_trace_mark(MARK_DOORBELL);
	edu_dma_start(v.bar0, IOVA + TARGET_OFF, 0, EDU_BUF_SIZE, true);
	kexec_reboot();
	ktap_bail("reboot(KEXEC) returned: %s", strerror(errno));
}

/* The pattern stage 1 left in the 4 KiB block at @off, or 0 for zeros. */
static uint32_t stage1_seed(unsigned long off)
{
	switch (off) {
	case SRC_OFF:
	case CHECK_OFF:
		return SEED;
	case SRC2_OFF:
	case CHECK2_OFF:
		return SEED2;
	}
	return 0;
}

/* Offset of the first block not as stage 1 left it, or -1; no target. */
static long ram_changed(const uint8_t *ram)
{
	unsigned long off;
	uint32_t seed;

	for (off = 0; off < RAM_SIZE; off += EDU_BUF_SIZE) {
		if (off == TARGET_OFF)
			continue;
		seed = stage1_seed(off);
		if (seed ? pattern_check(ram + off, EDU_BUF_SIZE, seed) >= 0 :
			   !all_bytes(ram + off, EDU_BUF_SIZE, 0))
			return off;
	}
	return -1;
}

static void check_frames(const uint8_t *ram, const struct state *s)
{
	long moved = pfns_moved(ram, RAM_SIZE, s->pfn);

	ktap_check(moved == 0, "RAM in the same %lu page frames (%ld moved)",
		   NPAGES, moved);
}

/*
 * Untouched since the kexec but for INTx disable, which the freeze sets:
 * bus mastering must never have gone off.
 */
static void check_command(const struct state *s)
{
	uint16_t want = s->cmd | PCI_COMMAND_INTX_DISABLE, cmd = 0;
	char why[96];
	int ret = pci_config_read(s->bdf, PCI_COMMAND, &cmd, sizeof(cmd));

	snprintf(why, sizeof(why), "command 0x%04x, bus master %s%s", cmd,
		 cmd & PCI_COMMAND_MASTER ? "on" : "off",
		 ret ? " (config space unreadable)" : "");
	/* The freeze disables INTx; nothing else may change. */
	CONTINUITY(!ret && cmd == want && (cmd & PCI_COMMAND_MASTER), why,
		   "command register of %s as at the kexec (0x%04x) plus INTx disable, bus master on",
		   s->bdf, s->cmd);
}

/* What became of the DMA in flight, for the report. */
static void describe_landing(const struct state *s, const uint8_t *target,
			     char *why, size_t len)
{
	int faults = vtd_write_faults(s->bdf, IOVA + TARGET_OFF);
	volatile uint8_t *bar = pci_bar_map(s->bdf, 0, BAR_LEN);
	bool zero = all_bytes(target, EDU_BUF_SIZE, 0);
	int engine = -1;

	if (bar && edu_present(bar))
		engine = edu_dma_busy(bar);
	pci_bar_unmap(bar, BAR_LEN);
	snprintf(why, len, "%s: target %s, edu engine %s, %d DMAR write faults at its IOVA",
		 faults > 0 ? "faulted" : zero ? "lost" : "landed wrong",
		 zero ? "untouched" : "modified",
		 engine < 0 ? "unreadable" : engine ? "still busy" : "idle",
		 faults);
}

static void check_landing(const struct state *s, const uint8_t *ram)
{
	bool landed = pattern_check(ram + TARGET_OFF, EDU_BUF_SIZE, SEED) < 0;
	char why[256];

	describe_landing(s, ram + TARGET_OFF, why, sizeof(why));
	CONTINUITY(landed, why, "DMA started just before reboot(KEXEC) landed at IOVA 0x%lx",
		   IOVA + TARGET_OFF);
}

static void check_vtd(const struct state *s, const char *when)
{
	char now[192], then[192], why[448];
	struct vtd_entry e;
	int ret = vtd_entry_of(s->bdf, &e);
	bool same = !ret && vtd_entry_same(&e, &s->vtd) &&
		    vtd_domain_id(&e) == s->domain_id;

	vtd_entry_str(&s->vtd, then, sizeof(then));
	if (ret) {
		snprintf(why, sizeof(why), "no entry in debugfs: %s",
			 strerror(-ret));
	} else {
		vtd_entry_str(&e, now, sizeof(now));
		snprintf(why, sizeof(why), "%s mode, domain id %u, %s", vtd_mode_of(&e),
			 vtd_domain_id(&e), now);
	}
	if (!same)
		ktap_info("at kexec: domain id %u, %s", s->domain_id, then);
	CONTINUITY(same, why,
		   "%s: root and context entries%s and domain id %u of %s bit-identical to stage 1's",
		   when, s->vtd.pasid >= 0 ? ", PASID entry" : "", s->domain_id,
		   s->bdf);
}

/*
 * Phase 2: the iommufd comes back with the IOAS and HWPT the edu's
 * translation was preserved with, under their ids; the IOAS stays as the
 * previous kernel left it until the session finishes.
 */
static bool check_iommufd_retrieve(int session, const struct state *s,
				   struct vdev *v)
{
	char why[128];
	int ret;

	v->iommufd = luo_retrieve_fd(session, TOKEN_IOMMUFD);
	v->ioas = s->ioas;
	v->hwpt = s->hwpt;
	ret = v->iommufd < 0 ? v->iommufd : vdev_unmap(v, IOVA, RAM_SIZE);
	snprintf(why, sizeof(why), "retrieve: %s; unmap of IOAS %u: %s",
		 v->iommufd < 0 ? strerror(-v->iommufd) : "ok", s->ioas,
		 ret ? strerror(-ret) : "done");
	CONTINUITY(v->iommufd >= 0 && ret == -EBUSY, why,
		   "iommufd retrieved; IOAS %u refuses unmap with EBUSY until the session finishes",
		   s->ioas);
	return v->iommufd >= 0;
}

/*
 * The cdev retrieved before anything bound the edu: the retrieve binds
 * vfio-pci itself, so that the order cannot fail the retrieve for the
 * whole boot.
 */
static void check_cdev_retrieve(int session, const struct state *s,
				struct vdev *v)
{
	char path[96], link[96] = "", why[128];
	const char *driver;

	v->cdev = luo_retrieve_fd(session, TOKEN_CDEV);
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", s->bdf);
	if (readlink(path, link, sizeof(link) - 1) < 0)
		strcpy(link, "none");
	driver = strrchr(link, '/') ? strrchr(link, '/') + 1 : link;
	snprintf(why, sizeof(why), "retrieve: %s, driver %s",
		 v->cdev < 0 ? strerror(-v->cdev) : "ok", driver);
	/* Kept open: a retrieved file stays the session's until finish. */
	CONTINUITY(v->cdev >= 0 && !strcmp(driver, "vfio-pci"), why,
		   "vfio cdev of %s retrieved from the session with no driver bound: the retrieve bound vfio-pci",
		   s->bdf);
}

/*
 * Bind the retrieved cdev to the retrieved iommufd and attach it to the
 * HWPT by the id it had: the group changes owner, and the attach keeps
 * the translation the device is using.
 */
static void check_bind_attach(const struct state *s, struct vdev *v)
{
	uint32_t pt_id = s->hwpt;
	char why[128];
	int ret = -EBADF;

	/* QEMU's trace must show no invalidation and no table change. */
	if (!xfail) {
		printf("# expect-hitless 0x%x 0x%x\n", MARK_BIND, MARK_ATTACHED);
		fflush(stdout);
		qemu_trace_mark(MARK_BIND);
	}
	if (v->cdev >= 0 && v->iommufd >= 0)
		ret = vdev_bind(v);
	snprintf(why, sizeof(why), "bind: %s", ret ? strerror(-ret) : "ok");
	if (!ret) {
		ret = vdev_attach_pt(v, &pt_id);
		snprintf(why, sizeof(why), "attach: %s, pt_id %u",
			 ret ? strerror(-ret) : "ok", pt_id);
	}
	if (!xfail)
		qemu_trace_mark(MARK_ATTACHED);
	CONTINUITY(!ret && pt_id == s->hwpt, why,
		   "retrieved cdev bound to the retrieved iommufd and attached to HWPT %u",
		   s->hwpt);
}

/* A new transfer through the preserved translation: RAM -> edu -> RAM. */
static void check_new_dma(volatile uint8_t *bar, uint8_t *ram)
{
	const char *why = "the bytes arrived";
	bool ok = false;

	pattern_fill(ram + NEW_SRC_OFF, EDU_BUF_SIZE, SEED3);
	if (!bar || !edu_present(bar))
		why = "BAR0 does not read as an edu";
	else if (!edu_dma_from_ram(bar, IOVA + NEW_SRC_OFF, 0, EDU_BUF_SIZE) ||
		 !edu_dma_to_ram(bar, IOVA + NEW_OFF, 0, EDU_BUF_SIZE))
		why = "the edu did not finish";
	else if (!(ok = pattern_check(ram + NEW_OFF, EDU_BUF_SIZE, SEED3) < 0))
		why = all_bytes(ram + NEW_OFF, EDU_BUF_SIZE, 0) ?
		      "nothing arrived" : "wrong bytes arrived";
	CONTINUITY(ok, why, "a new DMA after the kexec, RAM -> edu -> RAM through IOVA 0x%lx, lands",
		   IOVA);
	/*
	 * The edu's buffer now holds a pattern that is then nowhere in RAM,
	 * so a later write that reaches RAM anywhere shows.
	 */
	memset(ram + NEW_SRC_OFF, 0, EDU_BUF_SIZE);
	memset(ram + NEW_OFF, 0, EDU_BUF_SIZE);
}

/* RAM -> edu from @src_iova, then edu -> RAM at NEW_OFF: what did it read? */
static bool dma_read_back(volatile uint8_t *bar, uint8_t *ram,
			  uint64_t src_iova)
{
	memset(ram + NEW_OFF, 0, EDU_BUF_SIZE);
	return edu_dma_from_ram(bar, src_iova, 0, EDU_BUF_SIZE) &&
	       edu_dma_to_ram(bar, IOVA + NEW_OFF, 0, EDU_BUF_SIZE);
}

/*
 * The restored domain holds what it maps (issue 14, item 4): a page the
 * VMM punches out of the retrieved memfd is gone from the file, but the
 * device's IOVA must keep reaching that same page, not memory the kernel
 * hands out next. Fill plenty of fresh memory right after the punch, so a
 * page freed by it would be reused there.
 */
static void check_hole_punched(volatile uint8_t *bar, int ram_fd,
			       uint8_t *ram)
{
	const uint64_t iova = IOVA + HOLE_OFF;
	uint8_t *fill = MAP_FAILED;
	const char *why;
	bool ok = false;
	long bad = -1;

	if (fallocate(ram_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      HOLE_OFF, EDU_BUF_SIZE))
		ktap_info("fallocate(PUNCH_HOLE): %s", strerror(errno));
	else
		ok = all_bytes(ram + HOLE_OFF, EDU_BUF_SIZE, 0);
	if (ok) {
		fill = mmap(NULL, FILL_SIZE, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		ok = fill != MAP_FAILED;
	}
	CHECK_OR_BAIL(ok, "4 KiB at RAM offset 0x%lx (stage 1's bytes) punched out of the retrieved memfd, %lu MiB allocated after it",
		      HOLE_OFF, FILL_SIZE >> 20);
	/* 4 KiB pages, from the same lists the punched page went back to. */
	madvise(fill, FILL_SIZE, MADV_NOHUGEPAGE);
	pattern_fill(fill, FILL_SIZE, SEED4);

	why = "the held page still has stage 1's bytes";
	if (!dma_read_back(bar, ram, iova))
		why = "the edu did not finish";
	else if (!(ok = pattern_check(ram + NEW_OFF, EDU_BUF_SIZE, SEED) < 0))
		why = "it has other bytes: the page was freed";
	CONTINUITY(ok, why, "a DMA from IOVA 0x%" PRIx64 " after the punch reads the page stage 1 left there",
		   iova);

	pattern_fill(ram + NEW_SRC_OFF, EDU_BUF_SIZE, SEED5);
	why = "it landed in the held page and nowhere else";
	ok = false;
	if (!edu_dma_from_ram(bar, IOVA + NEW_SRC_OFF, 0, EDU_BUF_SIZE) ||
	    !edu_dma_to_ram(bar, iova, 0, EDU_BUF_SIZE) ||
	    !edu_dma_from_ram(bar, IOVA + SRC_OFF, 0, EDU_BUF_SIZE) ||
	    !dma_read_back(bar, ram, iova))
		why = "the edu did not finish";
	else if (pattern_check(ram + NEW_OFF, EDU_BUF_SIZE, SEED5) >= 0)
		why = "reading the IOVA back by DMA does not give the bytes written";
	else if (!all_bytes(ram + HOLE_OFF, EDU_BUF_SIZE, 0))
		why = "the memfd's new page at the hole changed";
	else if ((bad = pattern_check(fill, FILL_SIZE, SEED4)) >= 0)
		why = "the memory allocated after the punch changed";
	else
		ok = true;
	CONTINUITY(ok, why, "a DMA write to IOVA 0x%" PRIx64 " lands in the held page (read back by DMA), not in the memfd's new page or the %lu MiB allocated after the punch",
		   iova, FILL_SIZE >> 20);
	if (bad >= 0)
		ktap_info("first changed byte of the new memory at offset 0x%lx",
			  bad);
	munmap(fill, FILL_SIZE);
	/* As check_new_dma() leaves them: the edu's buffer nowhere in RAM. */
	memset(ram + NEW_SRC_OFF, 0, EDU_BUF_SIZE);
	memset(ram + NEW_OFF, 0, EDU_BUF_SIZE);
}

static void check_unmapped(volatile uint8_t *bar, const struct state *s,
			   const uint8_t *ram)
{
	char why[128];
	bool ok = vtd_dma_faults(bar, s->bdf, FAULT_IOVA, ram, RAM_SIZE, why,
				 sizeof(why));

	CONTINUITY(ok, why, "a DMA by %s to unmapped IOVA 0x%lx faults, RAM untouched",
		   s->bdf, FAULT_IOVA);
}

/*
 * Nothing in the new kernel turned the other edu's DMA on: do it from
 * config space, so that only the IOMMU can stop it.
 */
static volatile uint8_t *enable_other(const struct state *s)
{
	const uint16_t on = PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
	volatile uint8_t *bar = NULL;
	uint16_t cmd = 0;
	int ret;

	ret = pci_config_read(s->bdf2, PCI_COMMAND, &cmd, sizeof(cmd));
	cmd |= on;
	if (!ret)
		ret = pci_config_write(s->bdf2, PCI_COMMAND, &cmd, sizeof(cmd));
	if (!ret)
		ret = pci_config_read(s->bdf2, PCI_COMMAND, &cmd, sizeof(cmd));
	if (!ret && (cmd & on) == on)
		bar = pci_bar_map(s->bdf2, 0, BAR_LEN);
	if (bar && edu_present(bar))
		ktap_info("%s: DMA destination register still 0x%x from stage 1",
			  s->bdf2, edu_read32(bar, EDU_REG_DMA_DST));
	ktap_check(bar && edu_present(bar),
		   "edu %s (not preserved): memory and bus master on from config space (command 0x%04x), BAR0 reads as an edu",
		   s->bdf2, cmd);
	return bar;
}

static void check_other_blocked(const struct state *s, const uint8_t *ram)
{
	volatile uint8_t *bar = enable_other(s);
	uint64_t iova = s->iova2 + STALE_OFF;
	char why[128];
	bool ok = vtd_dma_faults(bar, s->bdf2, iova, ram, RAM_SIZE, why,
				 sizeof(why));

	if (!ok)
		ktap_info("%s", why);
	ktap_check(ok, "edu %s cannot DMA to IOVA 0x%" PRIx64 ", which mapped RAM in stage 1: fault logged, RAM untouched",
		   s->bdf2, iova);
	pci_bar_unmap(bar, BAR_LEN);
}

/*
 * After finish the IOAS is an ordinary one over the adopted table: the
 * area rebuilt from the record unmaps as one, with exactly its length, and
 * the IOVA faults; RAM mapped again elsewhere is reached by DMA.
 */
static void check_after_finish(volatile uint8_t *bar, const struct state *s,
			       struct vdev *v, int ram_fd, uint8_t *ram)
{
	uint64_t unmapped;
	char why[128];
	bool ok;
	int ret;

	ret = vdev_unmap_count(v, IOVA, RAM_SIZE, &unmapped);
	snprintf(why, sizeof(why), "unmap: %s, %" PRIu64 " bytes",
		 ret ? strerror(-ret) : "ok", unmapped);
	CONTINUITY(!ret && unmapped == RAM_SIZE, why,
		   "after finish, unmapping IOVA 0x%lx-0x%lx unmaps the one rebuilt area, %lu bytes",
		   IOVA, IOVA + RAM_SIZE - 1, RAM_SIZE);

	ok = vtd_dma_faults(bar, s->bdf, IOVA + SRC_OFF, ram, RAM_SIZE, why,
			    sizeof(why));
	CONTINUITY(ok, why, "a DMA to unmapped IOVA 0x%lx faults, RAM untouched",
		   IOVA + SRC_OFF);

	ret = vdev_map_file(v, ram_fd, 0, RAM_SIZE, IOVA3);
	ok = !ret && round_trip(bar, ram, IOVA3, NEW_SRC_OFF, NEW_OFF, SEED3);
	snprintf(why, sizeof(why), "map: %s", ret ? strerror(-ret) : "ok");
	CONTINUITY(ok, why, "RAM mapped again at IOVA 0x%lx: a DMA round trip through it works",
		   IOVA3);
}

static void stage2(void)
{
	struct vdev v = { .iommufd = -1, .cdev = -1 };
	volatile uint8_t *bar = NULL;
	int session, ret;
	struct lu_vm vm;
	bool ok;
	struct state *s;
	uint8_t *ram;
	long off;

	ktap_begin(SESSION, 2, 22);
	ok = !lu_vm_retrieve(&vm, SESSION, RAM_SIZE, sizeof(*s));
	session = vm.session;
	ram = vm.ram;
	s = vm.state;
	CHECK_OR_BAIL(ok && s->magic == STATE_MAGIC,
		      "session, RAM and state memfds retrieved");

	check_frames(ram, s);
	check_command(s);
	check_landing(s, ram);
	off = ram_changed(ram);
	ktap_check(off < 0, "the rest of guest RAM is as stage 1 left it");
	if (off >= 0)
		ktap_info("first changed block at offset 0x%lx", off);
	check_vtd(s, "after the kexec");

	check_iommufd_retrieve(session, s, &v);
	check_cdev_retrieve(session, s, &v);
	check_bind_attach(s, &v);
	check_vtd(s, "after retrieve, bind and attach");
	if (v.cdev >= 0)
		bar = vdev_bar_map(&v, 0, &v.bar0_size);
	check_new_dma(bar, ram);
	check_hole_punched(bar, vm.ram_fd, ram);
	check_unmapped(bar, s, ram);
	check_vtd(s, "after DMA through the cdev");

	check_other_blocked(s, ram);

	ret = luo_finish(session);
	ktap_check(!ret, "session finished: %s", ret ? strerror(-ret) : "ok");
	check_after_finish(bar, s, &v, vm.ram_fd, ram);
	ktap_finish();
}

int main(void)
{
	xfail = lutest_cmdline_arg("luxfail") != NULL;
	if (lutest_stage() == 1)
		stage1();
	stage2();
}
