// SPDX-License-Identifier: GPL-2.0
/*
 * virtio-ats-across-kexec: a preserved device with ATS enabled keeps ATS
 * and its DMA across the kexec. QEMU's edu has no ATS, so the device is a
 * virtio-rng behind a PCIe root port (scripts/vm.sh: ats=on,
 * iommu_platform=on, and device-iotlb=on on the IOMMU), driven by a small
 * userspace virtio driver (lib/virtio.c) through its vfio cdev, with its
 * virtqueue in the guest RAM memfd.
 *
 * Stage 1 assigns it the way a VMM does, gets random bytes through the
 * virtqueue, reads the ATS capability (Enable must be set: the kernel
 * enables ATS for a device it translates when the unit can invalidate
 * device TLBs), records the ATS control register, the VT-d entries and
 * domain id, and preserves RAM, iommufd and cdev in one session.
 *
 * Stage 2 (the new kernel, booted with PCI options under which Linux
 * reprograms links: ACROSS_CMDLINE) finds ATS control, bus mastering, the
 * PCI Express control registers of the root port and the device (links
 * adopted, not retrained or reprogrammed), the VT-d entries and domain id
 * bit-identical, RAM in place and unchanged, the
 * virtio device still running with the same rings (it was never reset),
 * and posts the next request into the same virtqueue: it is filled
 * through the adopted translation, the only place its IOVA is mapped. The
 * new kernel must also know that the device caches translations: a
 * device-TLB cache tag for it in the restored domain, read from the
 * intel_iommu:cache_tag_assign trace event, or it will not invalidate the
 * device's TLB when the mapping changes.
 *
 * The host checks QEMU's trace besides (scripts/verdict.sh): the new
 * kernel never writes the ATS control register, and the old one sent the
 * device a device-TLB invalidation after its last global IOTLB
 * invalidation at shutdown.
 *
 * "virtio-ats-across-kexec noats-pt" (guest/tests/virtio-ats-noats-pt.sh)
 * is the same with iommu.passthrough=1 also in the next kernel: the
 * refused device must be blocked all the same, not given its group's
 * default domain, which is then an identity domain.
 *
 * "virtio-ats-across-kexec noats" (guest/tests/virtio-ats-noats.sh) is the
 * negative test: the same stage 1, but the next kernel boots with
 * "pci=noats" and so cannot adopt the ATS the device still has enabled.
 * It must refuse the preserved translation, and when it replaces the
 * device's live entry, invalidate the device's TLB and only then turn ATS
 * off (its old ATC entries point at the previous kernel's domain, which
 * nothing will invalidate again). Stage 2 finds the refusal in the kernel
 * log, ATS Enable clear, translation on, the device's entry no longer the
 * preserved one, RAM in place, and a request posted into the same
 * virtqueue going nowhere: the device faults on the old IOVAs and RAM
 * stays as it was. verdict.sh checks in QEMU's trace that the new
 * kernel's device-TLB invalidation came before its write to ATS Control.
 * The unit uses one domain id fewer than at kexec (sysfs domains_used):
 * the blocked device has none, the id its adopted entry carried was freed.
 * Then the session finishes without the device's cdev retrieved:
 * vfio-pci turns bus mastering off and resets the device (FLR), and only
 * then does the IOMMU core stop blocking it: a fresh iommufd can take it,
 * and once it let it go the unit uses as many ids as at kexec.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <linux/pci_regs.h>

#include "ktap.h"
#include "luo.h"
#include "util.h"
#include "vfio.h"
#include "virtio.h"
#include "vm.h"
#include "vtd.h"

/*
 * "noats" on the command line: the next kernel boots with pci=noats;
 * "noats-pt": and with iommu.passthrough=1, where default domains are
 * identity domains, which the refused device must not get.
 */
static bool noats, passthrough;
#define SESSION		(noats ? "virtio-ats-noats" : "virtio-ats-across-kexec")
#define TOKEN_IOMMUFD	3
#define TOKEN_CDEV	4
#define HWPT_TOKEN	0x76697274ULL	/* the mark of the preserved HWPT */

#define RNG_BDF		"0000:07:00.0"	/* behind root port 00:09.0 */
#define PORT_BDF	"0000:00:09.0"
#define MARK_DONE	0x4c	/* QEMU trace: stage 2 is done with the path */

#define RAM_SIZE	(2UL << 20)
#define NPAGES		(RAM_SIZE / PAGE_SIZE)
#define IOVA		0x10000000UL	/* RAM as the device sees it */
/* Offsets in RAM */
#define RINGS_OFF	0x0UL		/* the virtqueue, VIRTQ_MEM_SIZE */
#define BUF1_OFF	0x10000UL	/* filled before the kexec */
#define BUF2_OFF	0x20000UL	/* filled after it */
#define BUF_LEN		4096U
#define QUEUE_SIZE	8
#define USED_MS		5000		/* TCG is slow: seconds, not ms */

#define TRACING		"/sys/kernel/tracing"
/* Cache tags the new kernel assigns (and drops) at boot, traced. */
#define TRACE_CMDLINE	"trace_event=intel_iommu:cache_tag_assign,intel_iommu:cache_tag_unassign"
#define NOATS_CMDLINE	TRACE_CMDLINE " pci=noats"
/*
 * PCI options under which Linux reprograms the path's links: MPS and the
 * read request size set for performance, ASPM forced on at its deepest.
 */
#define ACROSS_CMDLINE	TRACE_CMDLINE \
	" pci=pcie_bus_perf pcie_aspm=force pcie_aspm.policy=powersupersave"
#define NOATS_PT_CMDLINE NOATS_CMDLINE " iommu.passthrough=1"
#define OTHER_BDF	"0000:01:00.0"	/* an edu, not preserved */
#define GSTS_TES	(1ULL << 31)	/* global status: translation enabled */
#define DOMAINS_USED	"/sys/class/iommu/dmar0/intel-iommu/domains_used"

/* What stage 1 saw, for stage 2; in a memfd preserved with the RAM. */
struct state {
	uint64_t magic;
	char bdf[16];
	uint16_t ats;			/* ATS capability offset */
	uint16_t ats_cap, ats_ctrl;	/* its registers at kexec */
	uint16_t cmd;			/* command register at kexec */
	struct pcie_ctl path[2];	/* root port, device: PCIe control */
	struct vtd_entry vtd;
	uint32_t domain_id;
	long domains_used;		/* of the unit, at kexec */
	struct virtq_regs vq;		/* queue 0 at kexec */
	uint64_t pfn[NPAGES];
	uint8_t ram[RAM_SIZE];		/* RAM as stage 1 left it */
};
#define STATE_MAGIC	0x7669727461747378ULL

/* ATS capability and control registers of @bdf at @ats. */
static int ats_read(const char *bdf, int ats, uint16_t *cap, uint16_t *ctrl)
{
	return pci_config_read(bdf, ats + PCI_ATS_CAP, cap, sizeof(*cap)) ?:
	       pci_config_read(bdf, ats + PCI_ATS_CTRL, ctrl, sizeof(*ctrl));
}

static void ats_str(uint16_t ctrl, char *buf, size_t len)
{
	snprintf(buf, len, "control 0x%04x (Enable %s, STU %u)", ctrl,
		 ctrl & PCI_ATS_CTRL_ENABLE ? "set" : "clear",
		 PCI_ATS_CTRL_STU(ctrl));
}

/*
 * The context entry lets the device's translation requests through: in
 * legacy mode Translation Type (bits 3:2) 01b, "device-TLBs enabled"; in
 * scalable mode Device-TLB Enable (bit 2).
 */
static bool vtd_devtlb_enabled(const struct vtd_entry *e)
{
	if (e->pasid < 0)
		return ((e->ctx_lo >> 2) & 3) == 1;
	return e->ctx_lo & (1ULL << 2);
}

static bool tracing_mounted(void)
{
	if (!access(TRACING "/trace", R_OK))
		return true;
	return !mount("tracefs", TRACING, "tracefs", 0, NULL) &&
	       !access(TRACING "/trace", R_OK);
}

/*
 * Device-TLB cache tags of @bdf with domain id @did that the trace shows
 * assigned and not unassigned since, or -errno; @seen lists every cache
 * tag event naming @bdf, for the report. Lines read, e.g.,
 * "cache_tag_assign: dmar0/0000:07:00.0 type devtlb did 2 pasid 0 ref 1"
 * (IOTLB tags name the unit, "dmar0/dmar0", not the device).
 */
static int devtlb_tags(const char *bdf, unsigned int did, char *seen,
		       size_t len)
{
	static char buf[1 << 18];
	char dev[32], type[32], *line, *save, *p;
	int n = 0, used = 0, events = 0, ret;
	unsigned int d;

	seen[0] = 0;
	ret = read_file(TRACING "/trace", buf, sizeof(buf));
	if (ret < 0)
		return ret;
	snprintf(dev, sizeof(dev), "/%s type ", bdf);
	for (line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		bool assign = strstr(line, "cache_tag_assign: ");

		if (!assign && !strstr(line, "cache_tag_unassign: "))
			continue;
		events++;
		p = strstr(line, dev);
		if (!p || sscanf(p + strlen(dev), "%31s did %u", type, &d) != 2)
			continue;
		if ((size_t)used < len)
			used += snprintf(seen + used, len - used, "%s%s %s did %u",
					 used ? ", " : "",
					 assign ? "assign" : "unassign", type, d);
		/*
		 * An unassign whose assign came before tracing started (stage
		 * 1: the default domain's, which may have had the same id)
		 * does not count against a later assign.
		 */
		if (!strcmp(type, "devtlb") && d == did)
			n = assign ? n + 1 : n ? n - 1 : 0;
	}
	/* None at all would mean that tracing did not work. */
	if (!seen[0])
		snprintf(seen, len, "no cache tag event for %s (%d for others)",
			 bdf, events);
	return n;
}

/* Start tracing cache tags now (stage 1; stage 2 has them from boot). */
static bool trace_cache_tags(void)
{
	return tracing_mounted() &&
	       !write_file(TRACING "/events/intel_iommu/cache_tag_assign/enable", "1") &&
	       !write_file(TRACING "/events/intel_iommu/cache_tag_unassign/enable", "1");
}

/* One request: a zeroed buffer at @off must come back full of random bytes. */
static void check_request(struct virtq *vq, uint8_t *ram, unsigned long off,
			  const char *when)
{
	uint32_t id = 0, len = 0;
	uint16_t head;
	size_t zeros = 0, i;
	bool used, ok;

	memset(ram + off, 0, BUF_LEN);
	head = virtq_post_in(vq, IOVA + off, BUF_LEN);
	virtq_notify(vq);
	used = virtq_wait_used(vq, USED_MS, &id, &len);
	for (i = 0; i < BUF_LEN; i++)
		zeros += !ram[off + i];
	ok = used && id == head && len == BUF_LEN && zeros < BUF_LEN;
	if (!ok)
		ktap_info("%s: %s, used id %u (posted %u), len %u, %zu of %u bytes still zero",
			  when, used ? "used" : "not used in time", id, head,
			  len, zeros, BUF_LEN);
	ktap_check(ok, "%s: random bytes in a zeroed %u-byte buffer at IOVA 0x%lx, used.len %u (%zu zero bytes)",
		   when, BUF_LEN, IOVA + off, len, zeros);
}

/* vfio-pci, cdev, iommufd, IOAS, paging HWPT; RAM mapped at IOVA. */
static bool assign(struct vdev *v, const char *bdf, int ram_fd)
{
	int ret = vdev_open(v, bdf);

	if (ret) {
		ktap_info("%s: %s failed: %s", bdf, v->failed_step, strerror(-ret));
		return false;
	}
	ret = vdev_map_file(v, ram_fd, 0, RAM_SIZE, IOVA);
	if (ret)
		ktap_info("%s: IOMMU_IOAS_MAP_FILE failed: %s", bdf, strerror(-ret));
	return !ret;
}

/* Reset, features, queue 0 in RAM, DRIVER_OK: the device runs. */
static bool start_virtio(struct virtio_pci *vp, struct virtq *vq,
			 struct vdev *v, uint8_t *ram)
{
	int ret = virtio_pci_map(vp, v->bdf, v);
	const char *step = "map its virtio structures";

	if (!ret) {
		step = "negotiate features";
		ret = virtio_negotiate(vp);
	}
	if (!ret) {
		step = "set up queue 0";
		ret = virtio_queue_setup(vp, vq, 0, QUEUE_SIZE, ram + RINGS_OFF,
					 IOVA + RINGS_OFF);
	}
	if (!ret) {
		step = "DRIVER_OK";
		ret = virtio_driver_ok(vp);
	}
	ktap_info("features offered 0x%" PRIx64 ", status 0x%02x, notify multiplier %u",
		  vp->features, vp->common ? virtio_status(vp) : 0,
		  vp->notify_mult);
	if (ret)
		ktap_info("%s: %s failed: %s", v->bdf, step, strerror(-ret));
	return !ret;
}

/* ATS must be on at kexec: the thing this test is about. */
static bool record_ats(struct state *s)
{
	char str[64];
	int ats = pci_ext_cap(s->bdf, PCI_EXT_CAP_ID_ATS);

	if (ats <= 0 || ats_read(s->bdf, ats, &s->ats_cap, &s->ats_ctrl)) {
		ktap_info("%s: no ATS capability: %s", s->bdf,
			  ats < 0 ? strerror(-ats) : "not in the list");
		return false;
	}
	s->ats = ats;
	ats_str(s->ats_ctrl, str, sizeof(str));
	ktap_info("ATS capability at 0x%x: capability 0x%04x, %s", ats,
		  s->ats_cap, str);
	return s->ats_ctrl & PCI_ATS_CTRL_ENABLE;
}

/*
 * Preserve the cdev, last: with its HWPT marked and the iommufd preserved
 * first, that preserves the device's translation too, and the kernel says
 * so in one line.
 */
static bool preserve_cdev(int session, const struct vdev *v)
{
	char done[96];
	int preserved, ret;

	snprintf(done, sizeof(done),
		 "%s: live update: preserved with its IOMMU translation", v->bdf);
	preserved = kmsg_count(done);
	ret = luo_preserve_fd(session, v->cdev, TOKEN_CDEV);
	if (ret)
		ktap_info("preserving the cdev: %s", strerror(-ret));
	return !ret && kmsg_count(done) == preserved + 1;
}

/*
 * What stage 2 compares: VT-d entries and domain id, the command
 * register, the queue's registers. The context entry must let the device
 * use ATS, and the kernel must hold a device-TLB cache tag for it in the
 * domain (the same check as stage 2's, here where it must hold).
 */
/* Domain ids the unit has allocated (sysfs domains_used), or -errno. */
static long domains_used(void)
{
	char buf[32];
	int ret = read_file(DOMAINS_USED, buf, sizeof(buf));

	return ret > 0 ? strtol(buf, NULL, 10) : ret ? ret : -EIO;
}

static bool record_state(struct state *s, const struct virtio_pci *vp)
{
	const char *mode = lutest_cmdline_arg("luvtd");
	char str[192], tags[256];
	int n;

	if (vtd_entry_of(s->bdf, &s->vtd) ||
	    pci_config_read(s->bdf, PCI_COMMAND, &s->cmd, sizeof(s->cmd)) ||
	    pcie_ctl_read(PORT_BDF, &s->path[0]) ||
	    pcie_ctl_read(s->bdf, &s->path[1]))
		return false;
	s->domain_id = vtd_domain_id(&s->vtd);
	s->domains_used = domains_used();
	vtd_entry_str(&s->vtd, str, sizeof(str));
	virtio_read_queue0(vp, &s->vq);
	n = devtlb_tags(s->bdf, s->domain_id, tags, sizeof(tags));
	ktap_info("%s at kexec: %s, domain id %u, command 0x%04x, device status 0x%02x, %ld domain ids used",
		  s->bdf, str, s->domain_id, s->cmd, s->vq.status,
		  s->domains_used);
	ktap_info("cache tags traced: %s", tags);
	return mode && !strcmp(vtd_mode_of(&s->vtd), mode) &&
	       vtd_devtlb_enabled(&s->vtd) && (s->cmd & PCI_COMMAND_MASTER) &&
	       n > 0 && s->domains_used > 0;
}

static const char *next_cmdline(void)
{
	if (passthrough)
		return NOATS_PT_CMDLINE;
	return noats ? NOATS_CMDLINE : ACROSS_CMDLINE;
}

static void stage1(void)
{
	struct virtio_pci vp;
	struct lu_vm vm;
	struct virtq vq;
	struct vdev v;
	struct state *s;
	char bdf[16] = "";
	uint8_t *ram;
	int ret;
	bool ok;

	ktap_begin(SESSION, 1, 12);

	ret = pci_find(VIRTIO_VENDOR, VIRTIO_DEV_RNG, 0, bdf, sizeof(bdf));
	CHECK_OR_BAIL(!ret && !strcmp(bdf, RNG_BDF),
		      "virtio-rng (%04x:%04x) at %s: %s%s", VIRTIO_VENDOR,
		      VIRTIO_DEV_RNG, RNG_BDF, ret ? "" : "found at ",
		      ret ? strerror(-ret) : bdf);
	ok = !lu_vm_create(&vm, SESSION, RAM_SIZE, sizeof(*s));
	ram = vm.ram;
	s = vm.state;
	CHECK_OR_BAIL(ok, "LUO session, guest RAM memfd (%lu KiB, sealed) and state memfd",
		      RAM_SIZE >> 10);
	s->magic = STATE_MAGIC;
	snprintf(s->bdf, sizeof(s->bdf), "%s", bdf);

	/* From before the attach on, so the domain's cache tags show. */
	if (!trace_cache_tags())
		ktap_info("cannot trace cache tags in %s", TRACING);
	CHECK_OR_BAIL(assign(&v, s->bdf, vm.ram_fd),
		      "%s assigned through its vfio cdev and an iommufd, RAM mapped at IOVA 0x%lx",
		      s->bdf, IOVA);
	CHECK_OR_BAIL(start_virtio(&vp, &vq, &v, ram),
		      "virtio driver up: VERSION_1 and ACCESS_PLATFORM negotiated, queue 0 (%u entries) in RAM at IOVA 0x%lx, DRIVER_OK",
		      QUEUE_SIZE, IOVA + RINGS_OFF);
	check_request(&vq, ram, BUF1_OFF, "before the kexec");
	ok = record_ats(s);
	CHECK_OR_BAIL(ok, "ATS enabled on %s: control 0x%04x", s->bdf,
		      s->ats_ctrl);

	CHECK_OR_BAIL(!vdev_mark_hwpt(&v, HWPT_TOKEN),
		      "HWPT %u of %s marked with token 0x%llx", v.hwpt, s->bdf,
		      HWPT_TOKEN);
	CHECK_OR_BAIL(!lu_vm_preserve_memfds(&vm), "RAM and state memfds preserved");
	ret = luo_preserve_fd(vm.session, v.iommufd, TOKEN_IOMMUFD);
	if (ret)
		ktap_info("preserving the iommufd: %s", strerror(-ret));
	CHECK_OR_BAIL(!ret, "iommufd preserved after the memfds");
	CHECK_OR_BAIL(preserve_cdev(vm.session, &v),
		      "vfio cdev of %s preserved after the iommufd, with its IOMMU translation",
		      s->bdf);

	/* The state memfd's folios are preserved in place: writes still go. */
	ok = record_state(s, &vp);
	CHECK_OR_BAIL(ok,
		      "VT-d %s entries of %s recorded, domain id %u, context entry allows device TLBs, devtlb cache tag held, bus master on, PCIe control of the path read",
		      lutest_cmdline_arg("luvtd") ?: "?", s->bdf, s->domain_id);
	memcpy(s->ram, ram, RAM_SIZE);
	CHECK_OR_BAIL(!pagemap_pfns(ram, RAM_SIZE, s->pfn) &&
		      !kexec_load_next_args(2, next_cmdline()),
		      "RAM and its page frames recorded, next kernel loaded with %s",
		      next_cmdline());

	/* For the host's checks of QEMU's trace (scripts/verdict.sh). */
	ktap_info("expect-translation-never-off");
	/* Even noats: one device is refused, the unit's tables adopted. */
	ktap_info("expect-root-kept");
	if (noats)
		ktap_info("expect-devtlb-flush-then-ats-off %#x %s %#x",
			  vtd_source_id(s->bdf), s->bdf + 5, s->ats);
	else
		ktap_info("expect-ats-never-off %s %#x", s->bdf + 5, s->ats);
	/*
	 * Checked until stage 2 is done with the device: its exit closes the
	 * cdev, and vfio-pci then resets the device and restores its config.
	 */
	if (!noats)
		for (int i = 0; i < 2; i++)
			ktap_info("expect-link-kept %#x %s 0x%x 0x%x", MARK_DONE,
				  (i ? s->bdf : PORT_BDF) + 5, s->path[i].cap,
				  s->path[i].lnkctl);
	ktap_info("expect-devtlb-flush-at-shutdown %#x", vtd_source_id(s->bdf));
	kexec_reboot();
	ktap_bail("reboot(KEXEC) returned: %s", strerror(errno));
}

static void check_frames(const uint8_t *ram, const struct state *s)
{
	long moved = pfns_moved(ram, RAM_SIZE, s->pfn);

	ktap_check(moved == 0, "RAM in the same %lu page frames (%ld moved)",
		   NPAGES, moved);
}

/* First offset in [from, to) where RAM differs from stage 1's, or -1. */
static long ram_diff(const uint8_t *ram, const struct state *s,
		     unsigned long from, unsigned long to)
{
	unsigned long off;

	for (off = from; off < to; off++)
		if (ram[off] != s->ram[off])
			return off;
	return -1;
}

static void check_ram(const uint8_t *ram, const struct state *s)
{
	long off = ram_diff(ram, s, 0, RAM_SIZE);

	if (off >= 0)
		ktap_info("first changed byte at offset 0x%lx: 0x%02x, was 0x%02x",
			  off, ram[off], s->ram[off]);
	ktap_check(off < 0, "guest RAM (rings, stage 1's random bytes, zeros) as stage 1 left it");
}

/*
 * Untouched since the kexec but for INTx disable, which the freeze sets:
 * bus mastering must never have gone off.
 */
static void check_command(const struct state *s)
{
	uint16_t want = s->cmd | PCI_COMMAND_INTX_DISABLE, cmd = 0;
	int ret = pci_config_read(s->bdf, PCI_COMMAND, &cmd, sizeof(cmd));

	ktap_check(!ret && cmd == want && (cmd & PCI_COMMAND_MASTER),
		   "command register of %s 0x%04x, as at the kexec (0x%04x) plus INTx disable, bus master %s",
		   s->bdf, cmd, s->cmd, cmd & PCI_COMMAND_MASTER ? "on" : "off");
}

static void check_ats(const struct state *s, const char *when)
{
	char now[64], then[64];
	uint16_t cap = 0, ctrl = 0;
	int ats = pci_ext_cap(s->bdf, PCI_EXT_CAP_ID_ATS);
	bool ok = ats == s->ats && !ats_read(s->bdf, ats, &cap, &ctrl) &&
		  cap == s->ats_cap && ctrl == s->ats_ctrl;

	ats_str(ctrl, now, sizeof(now));
	ats_str(s->ats_ctrl, then, sizeof(then));
	if (!ok)
		ktap_info("ATS capability at 0x%x (was 0x%x), capability 0x%04x (was 0x%04x), %s",
			  ats, s->ats, cap, s->ats_cap, now);
	ktap_check(ok, "%s: ATS of %s bit-identical to stage 1's: %s", when,
		   s->bdf, then);
}

static void check_vtd(const struct state *s, const char *when)
{
	char now[192] = "", then[192];
	struct vtd_entry e;
	int ret = vtd_entry_of(s->bdf, &e);
	bool same = !ret && vtd_entry_same(&e, &s->vtd) &&
		    vtd_domain_id(&e) == s->domain_id;

	vtd_entry_str(&s->vtd, then, sizeof(then));
	if (!ret)
		vtd_entry_str(&e, now, sizeof(now));
	if (!same)
		ktap_info("now: %s, domain id %u; at kexec: %s", ret ? strerror(-ret) : now,
			  ret ? 0 : vtd_domain_id(&e), then);
	ktap_check(same,
		   "%s: root and context entries%s and domain id %u of %s bit-identical to stage 1's",
		   when, s->vtd.pasid >= 0 ? ", PASID entry" : "", s->domain_id,
		   s->bdf);
}

static bool virtq_regs_same(const struct virtq_regs *a,
			    const struct virtq_regs *b)
{
	return a->status == b->status && a->select == b->select &&
	       a->size == b->size && a->enable == b->enable &&
	       a->notify_off == b->notify_off && a->msix == b->msix &&
	       a->desc == b->desc && a->driver == b->driver &&
	       a->device == b->device;
}

/* Never reset: the device still runs queue 0 in the preserved rings. */
static bool check_virtio_running(struct virtio_pci *vp, struct virtq *vq,
				 const struct state *s, uint8_t *ram)
{
	struct virtq_regs r = { 0 };
	int ret = virtio_pci_map(vp, s->bdf, NULL);

	if (!ret) {
		virtio_read_queue0(vp, &r);
		ret = virtio_attach(vp, vq, QUEUE_SIZE, ram + RINGS_OFF,
				    IOVA + RINGS_OFF);
	}
	ktap_info("device status 0x%02x (0x%02x at kexec), queue %u: size %u, enable %u, rings 0x%" PRIx64 "/0x%" PRIx64 "/0x%" PRIx64,
		  r.status, s->vq.status, r.select, r.size, r.enable, r.desc,
		  r.driver, r.device);
	return ktap_check(!ret && virtq_regs_same(&r, &s->vq),
			  "virtio device of %s not reset: DRIVER_OK, queue 0 enabled on the same rings, registers as at the kexec, no request pending: %s",
			  s->bdf, !ret ? "ok" : ret == -ESTALE ?
			  "not as it was left" : strerror(-ret));
}

/* vfio-pci must be bound before the cdev can be retrieved. */
static void check_cdev_retrieve(int session, const struct state *s)
{
	int ret = pci_bind(s->bdf, "vfio-pci");

	if (!ret)
		ret = luo_retrieve_fd(session, TOKEN_CDEV);
	/* Kept open: a retrieved file stays the session's until finish. */
	ktap_check(ret >= 0, "vfio-pci bound, vfio cdev of %s retrieved: %s",
		   s->bdf, ret < 0 ? strerror(-ret) : "ok");
}

static void check_new_request(struct virtq *vq, uint8_t *ram,
			      const struct state *s)
{
	const char *when = "after the kexec, same virtqueue";
	long off;

	/* Not on a device that does not look as it was left. */
	if (!vq) {
		ktap_check(false, "%s: a request: not posted", when);
		ktap_check(false, "the rest of RAM unchanged by the request: not posted");
		return;
	}
	check_request(vq, ram, BUF2_OFF, when);
	/* The rings changed with the request; nothing else may have. */
	off = ram_diff(ram, s, RINGS_OFF + VIRTQ_MEM_SIZE, BUF2_OFF);
	if (off < 0)
		off = ram_diff(ram, s, BUF2_OFF + BUF_LEN, RAM_SIZE);
	if (off >= 0)
		ktap_info("first changed byte at offset 0x%lx", off);
	ktap_check(off < 0, "the rest of RAM unchanged by the request");
}

static void check_no_faults(const struct state *s)
{
	char dev[48];
	int n;

	snprintf(dev, sizeof(dev), "Request device [%s]", s->bdf);
	n = kmsg_count_with("DMAR: [", dev);
	ktap_check(n == 0, "no DMAR fault reported for %s in this boot (%d)",
		   s->bdf, n);
}

/* The new kernel must flush the device's TLB: it needs a devtlb tag. */
static void check_devtlb_tag(const struct state *s)
{
	char seen[512];
	int n = tracing_mounted() ?
		devtlb_tags(s->bdf, s->domain_id, seen, sizeof(seen)) : -ENOENT;

	if (n < 0)
		snprintf(seen, sizeof(seen), "%s unreadable: %s", TRACING "/trace",
			 strerror(-n));
	ktap_check(n > 0,
		   "the new kernel holds a device-TLB cache tag for %s in domain %u: %s",
		   s->bdf, s->domain_id, seen);
}

/*
 * Begin stage 2 with a plan of @plan checks: retrieve what stage 1
 * preserved (or bail out), and check that RAM kept its frames and bytes.
 */
static struct state *stage2_retrieve(struct lu_vm *vm, unsigned int plan)
{
	struct state *s;
	bool ok;

	ktap_begin(SESSION, 2, plan);
	ok = !lu_vm_retrieve(vm, SESSION, RAM_SIZE, sizeof(*s));
	s = vm->state;
	CHECK_OR_BAIL(ok && s->magic == STATE_MAGIC,
		      "session, RAM and state memfds retrieved");
	check_frames(vm->ram, s);
	check_ram(vm->ram, s);
	return s;
}

/*
 * The path's links were adopted as the previous kernel left them: the
 * next kernel booted with options that reprogram links (ACROSS_CMDLINE),
 * yet the root port's and the device's DEVCTL (payload and read request
 * sizes), LNKCTL (ASPM, common clock) and DEVCTL2 (LTR, 10-bit tags) read
 * as at kexec. QEMU keeps most of their bits read-only, so the host also
 * checks in QEMU's trace that the new kernel wrote none of it and never
 * retrained the link ("expect-link-kept", scripts/verdict.sh).
 */
static void check_path(const struct state *s)
{
	const char *const bdfs[2] = { PORT_BDF, s->bdf };
	struct pcie_ctl now;
	int i, changed = 0;

	for (i = 0; i < 2; i++) {
		memset(&now, 0xff, sizeof(now));
		if (!pcie_ctl_read(bdfs[i], &now) &&
		    now.devctl == s->path[i].devctl &&
		    now.lnkctl == s->path[i].lnkctl &&
		    now.devctl2 == s->path[i].devctl2)
			continue;
		changed++;
		ktap_info("%s: DEVCTL 0x%04x LNKCTL 0x%04x DEVCTL2 0x%04x, at kexec 0x%04x 0x%04x 0x%04x",
			  bdfs[i], now.devctl, now.lnkctl, now.devctl2,
			  s->path[i].devctl, s->path[i].lnkctl,
			  s->path[i].devctl2);
	}
	ktap_check(!changed, "DEVCTL, LNKCTL and DEVCTL2 of %s and %s as at kexec, under \"%s\"",
		   PORT_BDF, s->bdf, ACROSS_CMDLINE + strlen(TRACE_CMDLINE) + 1);
}

static void stage2(void)
{
	struct virtio_pci vp;
	struct lu_vm vm;
	struct virtq vq;
	struct state *s = stage2_retrieve(&vm, 15);
	uint8_t *ram = vm.ram;
	bool ok;

	check_command(s);
	check_path(s);
	check_ats(s, "after the kexec");
	check_vtd(s, "after the kexec");
	ok = check_virtio_running(&vp, &vq, s, ram);
	check_cdev_retrieve(vm.session, s);
	check_new_request(ok ? &vq : NULL, ram, s);
	check_ats(s, "after vfio-pci bind, retrieve and a request");
	check_vtd(s, "after vfio-pci bind, retrieve and a request");
	check_no_faults(s);
	check_devtlb_tag(s);
	qemu_trace_mark(MARK_DONE);
	ktap_finish();
}

/*
 * Stage 2 of "noats": the next kernel booted with pci=noats.
 */

/* The kernel's line "@s->bdf: @what", once in this boot. */
static void check_log(const struct state *s, const char *what)
{
	char needle[160], line[256] = "";
	int n;

	snprintf(needle, sizeof(needle), "%s: %s", s->bdf, what);
	n = kmsg_count(needle);
	if (n > 0)
		kmsg_last(needle, line, sizeof(line));
	line[strcspn(line, "\n")] = 0;
	ktap_check(n == 1, "\"%s\" logged for %s once (%d): %s", what, s->bdf,
		   n, n > 0 ? line : "none");
}

/* The kernel turned ATS off: Enable clear, the rest of Control as left. */
static void check_ats_off(const struct state *s)
{
	char now[64];
	uint16_t cap = 0, ctrl = 0;
	int ats = pci_ext_cap(s->bdf, PCI_EXT_CAP_ID_ATS);
	bool ok = ats == s->ats && !ats_read(s->bdf, ats, &cap, &ctrl) &&
		  ctrl == (s->ats_ctrl & ~PCI_ATS_CTRL_ENABLE);

	ats_str(ctrl, now, sizeof(now));
	ktap_check(ok, "ATS of %s turned off: capability at 0x%x (0x%x at kexec), %s, was 0x%04x",
		   s->bdf, ats, s->ats, now, s->ats_ctrl);
}

static void check_translation_on(void)
{
	uint64_t gsts = 0;
	int ret = vtd_register("GSTS", &gsts);

	ktap_check(!ret && (gsts & GSTS_TES),
		   "translation is still on: GSTS 0x%" PRIx64 " (TES %s)%s%s",
		   gsts, gsts & GSTS_TES ? "set" : "clear", ret ? ", " : "",
		   ret ? strerror(-ret) : "");
}

/*
 * The device's live entry was replaced: no present entry (the device is
 * blocked), or one that differs from the preserved entry or domain id.
 * The edu at 00:04.0, translated all along, shows that the debugfs file
 * lists entries at all, so that "none" means none.
 */
static void check_vtd_replaced(const struct state *s)
{
	char now[192] = "", then[192], path[96], type[32] = "?";
	const char *what;
	struct vtd_entry e, edu;
	int ret = vtd_entry_of(s->bdf, &e);
	int readable = vtd_entry_of("0000:00:04.0", &edu);
	bool ok;

	/* What the device was given instead: its group's domain type. */
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/iommu_group/type",
		 s->bdf);
	if (read_file(path, type, sizeof(type)) > 0)
		type[strcspn(type, "\n")] = 0;
	ktap_info("IOMMU group domain type of %s: %s", s->bdf, type);

	vtd_entry_str(&s->vtd, then, sizeof(then));
	if (!ret)
		vtd_entry_str(&e, now, sizeof(now));
	if (ret == -ENOENT)
		ok = !readable;
	else
		ok = !ret && (!vtd_entry_same(&e, &s->vtd) ||
			      vtd_domain_id(&e) != s->domain_id);
	if (ret)
		ktap_info("VT-d entries of %s now: %s (00:04.0's: %s); at kexec: %s, domain id %u",
			  s->bdf, ret == -ENOENT ? "none present" : strerror(-ret),
			  readable ? strerror(-readable) : "listed", then,
			  s->domain_id);
	else
		ktap_info("VT-d entries of %s now: %s, domain id %u; at kexec: %s, domain id %u",
			  s->bdf, now, vtd_domain_id(&e), then, s->domain_id);
	if (ret == -ENOENT)
		what = readable ? "none listed, not even 00:04.0's" :
				  "no present entry (blocked)";
	else if (ret)
		what = strerror(-ret);
	else if (!vtd_entry_same(&e, &s->vtd))
		what = "another entry";
	else
		what = vtd_domain_id(&e) != s->domain_id ?
		       "same entry, other domain id" : "still the preserved entry";
	ktap_check(ok, "the preserved VT-d entry of %s was replaced: %s",
		   s->bdf, what);
}

/*
 * Where the device faults, by page. On the notification QEMU's virtio
 * first reads avail->idx (IOVA + 0x1002: QEMU's trace and its message
 * name that address, the kernel's fault record its page); the failed read
 * gives 0, the device takes the index going back from 1 to 0 for a broken
 * driver ("Guest moved used index from 1 to 0"), sets NEEDS_RESET and
 * touches nothing else: no descriptor read, no buffer or used ring write.
 * A device that got further would fault elsewhere, unannounced, and fail.
 */
static const unsigned long fault_pages[] = {
	IOVA + RINGS_OFF + PAGE_SIZE,	/* avail ring */
};
#define NFAULT_PAGES	(sizeof(fault_pages) / sizeof(fault_pages[0]))

/* DMAR faults of @bdf at the announced pages, and at all. */
static int device_faults(const char *bdf, int *announced)
{
	char dev[48];
	size_t i;

	*announced = 0;
	for (i = 0; i < NFAULT_PAGES; i++)
		*announced += vtd_faults(bdf, fault_pages[i]);
	snprintf(dev, sizeof(dev), "Request device [%s]", bdf);
	return kmsg_count_with("DMAR: [", dev);
}

/*
 * The next request in the same virtqueue must go nowhere: the device's
 * old IOVAs are no longer mapped for it. The driver itself writes a
 * descriptor and the avail ring (the first two pages of the rings); the
 * used ring, the buffer and all else must stay as they were, and the
 * device must fault.
 */
static void check_blocked_request(struct virtq *vq, struct virtio_pci *vp,
				  uint8_t *ram)
{
	const char *bdf = vp->bdf;
	static uint8_t before[RAM_SIZE], posted[RAM_SIZE];
	unsigned long driver_end = RINGS_OFF + 2 * PAGE_SIZE, off;
	int faults0, announced0, faults, announced;
	uint32_t id = 0, len = 0;
	char line[256] = "", dev[48];
	size_t zeros = 0, i;
	uint64_t end;
	uint16_t head;
	long diff = -1;
	bool used;

	if (!vq) {
		ktap_check(false, "a request in the same virtqueue: not posted");
		ktap_check(false, "the rest of RAM unchanged: not posted");
		ktap_check(false, "a DMAR fault for %s: not posted", bdf);
		return;
	}
	memset(ram + BUF2_OFF, 0, BUF_LEN);
	memcpy(before, ram, RAM_SIZE);
	faults0 = device_faults(bdf, &announced0);
	for (i = 0; i < NFAULT_PAGES; i++)
		printf("# expect-dmar-fault 0x%lx\n", fault_pages[i]);
	fflush(stdout);
	head = virtq_post_in(vq, IOVA + BUF2_OFF, BUF_LEN);
	/* What the driver wrote, before the device can act on it. */
	memcpy(posted, ram, RAM_SIZE);
	virtq_notify(vq);
	used = virtq_wait_used(vq, 2000, &id, &len);
	for (i = 0; i < BUF_LEN; i++)
		zeros += !ram[BUF2_OFF + i];
	ktap_info("device status 0x%02x after the request", virtio_status(vp));
	ktap_check(!used && zeros == BUF_LEN,
		   "a request for the zeroed %u-byte buffer at IOVA 0x%lx (descriptor %u) is not used in 2 s (%s%u), the buffer still zero (%zu zero bytes)",
		   BUF_LEN, IOVA + BUF2_OFF, head, used ? "used, id " : "used.idx ",
		   used ? id : vq->last_used, zeros);

	for (off = 0; off < RAM_SIZE && diff < 0; off++)
		if (ram[off] != (off < driver_end ? posted : before)[off])
			diff = off;
	if (diff >= 0)
		ktap_info("first changed byte at offset 0x%lx: 0x%02x, was 0x%02x",
			  diff, ram[diff], (diff < (long)driver_end ? posted : before)[diff]);
	ktap_check(diff < 0, "the rest of RAM unchanged (used ring and all but the driver's descriptor and avail ring)");

	/* Faults are logged from an interrupt, rate-limited: give it time. */
	end = now_ms() + 3000;
	do {
		faults = device_faults(bdf, &announced);
		if (faults > faults0)
			break;
		usleep(50000);
	} while (now_ms() < end);
	snprintf(dev, sizeof(dev), "Request device [%s]", bdf);
	kmsg_last(dev, line, sizeof(line));
	line[strcspn(line, "\n")] = 0;
	ktap_check(faults > faults0 && faults - faults0 == announced - announced0,
		   "DMAR faults reported for %s: %d, %d at announced pages; last: %s",
		   bdf, faults - faults0, announced - announced0,
		   faults > faults0 ? line : "none");
}

/* With iommu.passthrough=1, what a device not preserved gets: identity. */
static void check_passthrough(void)
{
	char type[32] = "?";

	read_file("/sys/bus/pci/devices/" OTHER_BDF "/iommu_group/type", type,
		  sizeof(type));
	type[strcspn(type, "\n")] = 0;
	ktap_check(!strcmp(type, "identity"),
		   "default domains are identity domains (iommu.passthrough=1): %s's is %s",
		   OTHER_BDF, type);
}

/*
 * The session finishes ("noats-pt") or is closed ("noats") with the
 * refused device's cdev never retrieved: vfio-pci turns its bus mastering
 * off and resets it (it has FLR), after which the IOMMU core no longer
 * blocks it: like any device, vfio-pci can be bound and a fresh iommufd
 * can take it.
 */
static void check_finish_released(struct lu_vm *vm, struct virtio_pci *vp,
				  const struct state *s)
{
	static const char stopped[] = "live update: not retrieved: bus mastering off, reset";
	static const char released[] = "live update: reset, no longer blocked";
	const char *how = passthrough ? "finished" : "closed";
	int ret = passthrough ? luo_finish(vm->session) :
		  close(vm->session) ? -errno : 0;
	uint8_t status = virtio_status(vp);
	uint16_t cmd = 0;
	struct vdev v;

	pci_config_read(s->bdf, PCI_COMMAND, &cmd, sizeof(cmd));
	ktap_check(!ret && kmsg_count_with(stopped, s->bdf) == 1 &&
		   kmsg_count_with(released, s->bdf) == 1 &&
		   !(cmd & PCI_COMMAND_MASTER) && !status,
		   "the session is %s: %s; \"%s\", \"%s\" logged once, command 0x%04x, virtio status 0x%02x (reset)",
		   how, ret ? strerror(-ret) : "ok", stopped, released, cmd,
		   status);

	ret = vdev_open(&v, s->bdf);
	ktap_check(!ret, "then a fresh iommufd takes %s (vfio-pci bound, cdev bound and attached): %s: %s",
		   s->bdf, ret ? v.failed_step : "all steps",
		   ret ? strerror(-ret) : "bound");
	if (!ret)
		vdev_close(&v);
}

/*
 * No domain id leaks ("noats" only: identity domains count differently).
 * At kexec the device's HWPT had one; the blocked device has none, so the
 * unit uses one fewer, and the id the adopted entry carried was freed
 * with it. @released: the device was taken by a fresh iommufd and let go
 * again, back on its group's default domain: as many as at kexec.
 */
static void check_domains_used(const struct state *s, bool released)
{
	long now = domains_used(), want = s->domains_used - !released;

	ktap_check(now == want,
		   "domain ids used: %ld, %ld at kexec: %s", now,
		   s->domains_used, released ?
		   "the device back on its default domain, as many" :
		   "one fewer, the blocked device has none (the adopted one freed)");
}

static void stage2_noats(void)
{
	struct virtio_pci vp;
	struct lu_vm vm;
	struct virtq vq;
	struct state *s = stage2_retrieve(&vm, passthrough ? 16 : 17);
	uint8_t *ram = vm.ram;
	bool ok;

	if (passthrough)
		check_passthrough();

	check_log(s, "live update: ATS left enabled cannot be used by this kernel");
	check_log(s, "live update: cannot adopt the preserved translation, blocking it");
	check_log(s, "live update: ATS left enabled cannot be adopted: device TLB invalidated, ATS turned off");
	check_ats_off(s);
	check_translation_on();
	check_vtd_replaced(s);
	if (!passthrough)
		check_domains_used(s, false);
	ok = check_virtio_running(&vp, &vq, s, ram);
	check_blocked_request(ok ? &vq : NULL, &vp, ram);
	check_finish_released(&vm, &vp, s);
	if (!passthrough)
		check_domains_used(s, true);
	ktap_finish();
}

int main(int argc, char **argv)
{
	passthrough = argc > 1 && !strcmp(argv[1], "noats-pt");
	noats = passthrough || (argc > 1 && !strcmp(argv[1], "noats"));
	if (lutest_stage() == 1)
		stage1();
	if (noats)
		stage2_noats();
	stage2();
}
