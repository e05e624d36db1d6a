// SPDX-License-Identifier: GPL-2.0
/*
 * lu-chain: live update after live update. Four boots, so three live
 * updates of one edu, with its DMA in flight at every kexec. In every new
 * kernel the VMM takes the edu back (phase 2) and changes the guest's
 * memory before the next update:
 *
 *   - it retrieves the session, the iommufd (whose IOAS refuses unmap
 *     until the session finishes) and the cdev, binds and attaches the
 *     cdev to the HWPT by the id it had (hitless in QEMU's trace), and
 *     re-arms MSI: a DMA that asks for an interrupt fires the eventfd;
 *   - the DMA started just before the kexec landed, RAM stayed in its page
 *     frames, and the edu's VT-d entries and domain id are as at the kexec;
 *   - a new DMA lands, and the session finishes, freeing the IOMMU
 *     core's records of the previous kernel (released once the edu was
 *     taken over);
 *   - except in the last boot, it hot-plugs a new memfd at a new IOVA
 *     (2 MiB-aligned in boot 2, not in boot 3) and unmaps a part of the
 *     memory mapped before (half of the RAM in boot 2, boot 2's memfd in
 *     boot 3): the new IOVA is reached by DMA, the unmapped one faults, and
 *     nr_iommu_pages grows by exactly the one leaf table the new mapping
 *     needs and shrinks by none (no unmap empties a table);
 *   - it marks the HWPT again and preserves the changed layout: the table
 *     now holds adopted pages and new ones.
 *
 * In the last boot, destroying the HWPT gives back exactly the table pages
 * the kernel reported adopting: generic_pt owns them like its own.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <linux/iommufd.h>
#include <linux/vfio.h>

#include "edu.h"
#include "ktap.h"
#include "luo.h"
#include "util.h"
#include "vfio.h"
#include "vm.h"
#include "vtd.h"

#define NAME		"lu-chain"
#define BOOTS		4
#define TOKEN_IOMMUFD	3
#define TOKEN_CDEV	4
#define TOKEN_HOTPLUG	10		/* + the boot that plugged it */
#define HWPT_TOKEN	0x636861696eULL

#define EDU		"0000:00:04.0"
#define RAM_SIZE	(2UL << 20)
#define NPAGES		(RAM_SIZE / PAGE_SIZE)
#define HALF		(RAM_SIZE / 2)
#define IOVA		0x1000000UL	/* RAM, as two areas of HALF */
#define PLUG_SIZE	(1UL << 20)
#define SRC_OFF		0x1000UL	/* in RAM, what the edu reads */
#define DST_OFF		0x3000UL	/* in RAM, round trips after a kexec */
#define TARGET_OFF(b)	(0x10000UL * (b))	/* written during kexec b */
#define MAX_AREAS	4

/* Boot 2 and 3 each plug a memfd here: 2 MiB-aligned, then not. */
static const uint64_t plug_iova[BOOTS + 1] = { [2] = 0x4000000, [3] = 0x6001000 };

struct area {
	uint64_t iova, len, off;
	uint32_t token;			/* of its memfd in the session */
};

/* The VMM's state, in a memfd preserved with the RAM. */
struct state {
	uint64_t magic;
	uint32_t ioas, hwpt;
	uint32_t nr_areas;
	struct area areas[MAX_AREAS];
	uint64_t gone_iova;		/* unmapped in the previous boot, or 0 */
	struct vtd_entry vtd;
	uint32_t domain_id;
	uint32_t seed;			/* of the DMA in flight at the kexec */
	uint64_t pfn[NPAGES];
};
#define STATE_MAGIC	0x6c752d636861696eULL

static char session_name[32];

static const char *session_of(int boot)
{
	snprintf(session_name, sizeof(session_name), "%s-%d", NAME, boot);
	return session_name;
}

/* The memfd of @token: RAM and state are the lu_vm's; plugged ones here. */
static int plugged_fd[BOOTS + 1] = { -1, -1, -1, -1, -1 };

static int fd_of(const struct lu_vm *vm, uint32_t token)
{
	if (token == LU_TOKEN_RAM)
		return vm->ram_fd;
	return plugged_fd[token - TOKEN_HOTPLUG];
}

static int map_area(struct vdev *v, const struct lu_vm *vm,
		    const struct area *a)
{
	return vdev_map_file(v, fd_of(vm, a->token), a->off, a->len, a->iova);
}

/* A DMA round trip through @iova, which maps @ram. */
static bool round_trip_at(volatile uint8_t *bar, uint8_t *ram, uint64_t iova,
			  uint32_t seed)
{
	return edu_round_trip(bar, ram + SRC_OFF, iova + SRC_OFF,
			      ram + DST_OFF, iova + DST_OFF, seed);
}

static int msi_off(struct vdev *v)
{
	struct vfio_irq_set set = {
		.argsz = sizeof(set),
		.flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
		.index = VFIO_PCI_MSI_IRQ_INDEX,
	};

	return ioctl(v->cdev, VFIO_DEVICE_SET_IRQS, &set) ? -errno : 0;
}

/*
 * Fill the edu's buffer with this boot's pattern by a round trip, mark the
 * HWPT, preserve the memfds of the layout, the iommufd and the cdev in a
 * new session, and kexec with the buffer being written to RAM.
 */
static void preserve_and_kexec(int boot, int session, struct lu_vm *vm,
			       struct vdev *v, struct state *s)
{
	char str[192];
	uint32_t i;
	int ret;

	s->seed = 0x5eed0000u + boot;
	CHECK_OR_BAIL(round_trip_at(v->bar0, vm->ram, IOVA, s->seed),
		      "boot %d: DMA round trip through IOVA 0x%lx before the kexec",
		      boot, IOVA);

	ret = session < 0 ? session : vdev_mark_hwpt(v, HWPT_TOKEN);
	for (i = 0; !ret && i < s->nr_areas; i++)
		if (s->areas[i].token != LU_TOKEN_RAM)
			ret = luo_preserve_fd(session,
					      fd_of(vm, s->areas[i].token),
					      s->areas[i].token);
	if (!ret)
		ret = luo_preserve_fd(session, vm->ram_fd, LU_TOKEN_RAM) ?:
		      luo_preserve_fd(session, vm->state_fd, LU_TOKEN_STATE) ?:
		      luo_preserve_fd(session, v->iommufd, TOKEN_IOMMUFD) ?:
		      luo_preserve_fd(session, v->cdev, TOKEN_CDEV);
	if (ret)
		ktap_info("preserve: %s", strerror(-ret));
	CHECK_OR_BAIL(!ret, "HWPT %u marked; memfds of the %u areas, iommufd and cdev preserved in session %s",
		      v->hwpt, s->nr_areas, session_of(boot));

	ret = vtd_entry_of(EDU, &s->vtd) ?:
	      pagemap_pfns(vm->ram, RAM_SIZE, s->pfn) ?:
	      kexec_load_next(boot + 1);
	s->domain_id = vtd_domain_id(&s->vtd);
	vtd_entry_str(&s->vtd, str, sizeof(str));
	ktap_info("%s at kexec %d: %s, domain id %u", EDU, boot, str,
		  s->domain_id);
	CHECK_OR_BAIL(!ret, "VT-d entries and page frames recorded, next kernel loaded");

	printf("# expect-translation-never-off\n# expect-root-kept\n");
	edu_dma_start(v->bar0, IOVA + TARGET_OFF(boot), 0, EDU_BUF_SIZE, true);
	fflush(stdout);
	kexec_reboot();
	ktap_bail("reboot(KEXEC) returned: %s", strerror(errno));
}

static void boot1(void)
{
	struct vdev v;
	struct lu_vm vm;
	struct state *s;
	bool ok;

	ktap_begin(NAME, 1, 5);
	ok = !lu_vm_create(&vm, session_of(1), RAM_SIZE, sizeof(*s));
	s = vm.state;
	CHECK_OR_BAIL(ok, "RAM memfd (%lu KiB, sealed) and state memfd",
		      RAM_SIZE >> 10);
	s->magic = STATE_MAGIC;
	s->nr_areas = 2;
	s->areas[0] = (struct area){ IOVA, HALF, 0, LU_TOKEN_RAM };
	s->areas[1] = (struct area){ IOVA + HALF, HALF, HALF, LU_TOKEN_RAM };
	ok = !vdev_open(&v, EDU) && !map_area(&v, &vm, &s->areas[0]) &&
	     !map_area(&v, &vm, &s->areas[1]);
	s->ioas = v.ioas;
	s->hwpt = v.hwpt;
	CHECK_OR_BAIL(ok, "edu %s assigned (IOAS %u, HWPT %u), RAM mapped at IOVA 0x%lx as two areas",
		      EDU, v.ioas, v.hwpt, IOVA);
	preserve_and_kexec(1, vm.session, &vm, &v, s);
}

/* The memfds of the plugged areas, retrieved; mapped at @maps. */
static bool retrieve_plugged(int session, const struct state *s,
			     uint8_t **maps)
{
	uint32_t i, t;

	for (i = 0; i < s->nr_areas; i++) {
		t = s->areas[i].token;
		if (t == LU_TOKEN_RAM)
			continue;
		plugged_fd[t - TOKEN_HOTPLUG] = luo_retrieve_fd(session, t);
		if (plugged_fd[t - TOKEN_HOTPLUG] < 0)
			return false;
		maps[i] = map_shared(plugged_fd[t - TOKEN_HOTPLUG], PLUG_SIZE);
		if (!maps[i])
			return false;
	}
	return true;
}

static void check_landed(int boot, const struct lu_vm *vm,
			 const struct state *s)
{
	long moved = pfns_moved(vm->ram, RAM_SIZE, s->pfn);
	long bad = pattern_check(vm->ram + TARGET_OFF(boot - 1), EDU_BUF_SIZE,
				 s->seed);

	ktap_check(moved == 0 && bad < 0,
		   "the DMA started before kexec %d landed at IOVA 0x%lx (%s); RAM in the same page frames (%ld moved)",
		   boot - 1, IOVA + TARGET_OFF(boot - 1),
		   bad < 0 ? "bytes right" : "bytes wrong", moved);
}

static void check_vtd(const struct state *s, const char *when)
{
	struct vtd_entry now;
	bool same = !vtd_entry_of(EDU, &now) && vtd_entry_same(&now, &s->vtd) &&
		    vtd_domain_id(&now) == s->domain_id;

	ktap_check(same, "%s: VT-d entries and domain id %u of %s as at the kexec",
		   when, s->domain_id, EDU);
}

/* Retrieve the iommufd and the cdev, bind and attach them hitless. */
static void take_back(int boot, int session, const struct state *s,
		      struct vdev *v)
{
	uint32_t pt_id = s->hwpt;
	int mark = 0x50 + 2 * boot, ret;

	v->iommufd = luo_retrieve_fd(session, TOKEN_IOMMUFD);
	v->ioas = s->ioas;
	v->hwpt = s->hwpt;
	ret = v->iommufd < 0 ? v->iommufd : vdev_unmap(v, IOVA, HALF);
	ktap_check(v->iommufd >= 0 && ret == -EBUSY,
		   "iommufd retrieved (%s); IOAS %u refuses unmap with EBUSY until the session finishes (%s)",
		   v->iommufd < 0 ? strerror(-v->iommufd) : "ok", s->ioas,
		   ret ? strerror(-ret) : "unmapped");

	printf("# expect-hitless 0x%x 0x%x\n", mark, mark + 1);
	fflush(stdout);
	qemu_trace_mark(mark);
	v->cdev = luo_retrieve_fd(session, TOKEN_CDEV);
	ret = v->cdev < 0 ? v->cdev : vdev_bind(v) ?: vdev_attach_pt(v, &pt_id);
	qemu_trace_mark(mark + 1);
	CHECK_OR_BAIL(!ret && pt_id == s->hwpt,
		      "cdev retrieved, bound to the retrieved iommufd and attached to HWPT %u: %s",
		      s->hwpt, ret ? strerror(-ret) : "ok");
	v->bar0 = vdev_bar_map(v, 0, &v->bar0_size);
}

/* MSI re-armed: a DMA that asks for an interrupt fires the eventfd. */
static void check_msi(struct vdev *v, uint8_t *ram)
{
	int efd = vdev_msi_eventfd(v);
	uint64_t fired = 0;
	bool done = false;

	if (efd >= 0 && v->bar0) {
		done = edu_dma_to_ram_irq(v->bar0, IOVA + DST_OFF, 0,
					  EDU_BUF_SIZE);
		fired = eventfd_wait(efd, 2000);
		edu_irq_ack(v->bar0);
	}
	ktap_check(efd >= 0 && done && fired,
		   "MSI re-armed with VFIO_DEVICE_SET_IRQS: a DMA with its interrupt fires the eventfd (%s, DMA %s, count %" PRIu64 ")",
		   efd < 0 ? strerror(-efd) : "armed", done ? "done" : "not done",
		   fired);
	if (efd >= 0)
		close(efd);
	memset(ram + DST_OFF, 0, EDU_BUF_SIZE);
}

static void check_gone(struct vdev *v, const struct state *s,
		       const uint8_t *ram, const char *when)
{
	char why[128];
	bool ok = vtd_dma_faults(v->bar0, EDU, s->gone_iova + SRC_OFF, ram,
				 RAM_SIZE, why, sizeof(why));

	ktap_check(ok, "%s: a DMA to unmapped IOVA 0x%" PRIx64 " faults, RAM untouched (%s)",
		   when, s->gone_iova + SRC_OFF, why);
}

/* Boot 2 and 3: plug a memfd at a new IOVA, unmap older memory. */
static void change_layout(int boot, struct vdev *v, struct lu_vm *vm,
			  struct state *s)
{
	const uint32_t token = TOKEN_HOTPLUG + boot;
	struct area plug = { plug_iova[boot], PLUG_SIZE, 0, token };
	long before = vmstat_exact("nr_iommu_pages"), after;
	struct area gone;
	uint64_t unmapped;
	uint8_t *map;
	bool ok;
	int ret;

	plugged_fd[boot] = memfd_sealed("plugged", PLUG_SIZE);
	map = plugged_fd[boot] >= 0 ? map_shared(plugged_fd[boot], PLUG_SIZE) :
				      NULL;
	ret = map ? map_area(v, vm, &plug) : -ENOMEM;
	after = vmstat_exact("nr_iommu_pages");
	ok = !ret && round_trip_at(v->bar0, map, plug.iova, 0x9100u + boot);
	ktap_check(ok && after == before + 1,
		   "memfd of %lu KiB plugged at IOVA 0x%" PRIx64 " (%s): a DMA round trip through it works; nr_iommu_pages %ld -> %ld, one leaf table more",
		   PLUG_SIZE >> 10, plug.iova,
		   plug.iova % (2UL << 20) ? "not 2 MiB-aligned" : "2 MiB-aligned",
		   before, after);

	/* Boot 2: the second half of RAM; boot 3: boot 2's memfd. */
	gone = s->areas[1];
	before = after;
	ret = vdev_unmap_count(v, gone.iova, gone.len, &unmapped);
	after = vmstat_exact("nr_iommu_pages");
	ktap_check(!ret && unmapped == gone.len && after == before,
		   "area at IOVA 0x%" PRIx64 " unmapped: %" PRIu64 " of %" PRIu64 " bytes (%s); nr_iommu_pages %ld -> %ld: no table emptied",
		   gone.iova, unmapped, gone.len, ret ? strerror(-ret) : "ok",
		   before, after);
	s->areas[1] = plug;
	s->gone_iova = gone.iova;
	check_gone(v, s, vm->ram, "after the unmap");
}

/* The last boot: the adopted table pages go back when the HWPT goes. */
static void check_destroy(struct vdev *v, const struct state *s)
{
	struct vfio_device_detach_iommufd_pt detach = { .argsz = sizeof(detach) };
	struct iommu_destroy destroy = { .size = sizeof(destroy), .id = s->hwpt };
	char line[256], *p;
	long before, after, adopted = -1;
	int ret;

	if (kmsg_last(" pages adopted", line, sizeof(line)) &&
	    (p = strstr(line, "page table of ")))
		adopted = strtol(p + strlen("page table of "), NULL, 10);
	before = vmstat_exact("nr_iommu_pages");
	ret = ioctl(v->cdev, VFIO_DEVICE_DETACH_IOMMUFD_PT, &detach) ? -errno :
	      ioctl(v->iommufd, IOMMU_DESTROY, &destroy) ? -errno : 0;
	after = vmstat_exact("nr_iommu_pages");
	ktap_check(!ret && adopted > 0 && after == before - adopted,
		   "HWPT %u detached and destroyed (%s): nr_iommu_pages %ld -> %ld, the %ld table pages the kernel adopted freed",
		   s->hwpt, ret ? strerror(-ret) : "ok", before, after, adopted);
}

#define RECORDS_RELEASED "iommu: liveupdate: every preserved unit, domain and device resolved: records released"
#define RECORDS_FREED "iommu: liveupdate: records of the previous kernel freed"

/*
 * Once the edu is taken over, nothing needs the IOMMU core's copy of the
 * previous kernel's records: it gives its reference back, and the last
 * file of the session frees them at finish.
 */
static void check_records_freed(int released, int freed_before)
{
	int freed = kmsg_count(RECORDS_FREED);

	ktap_check(released == 1 && freed_before == 0 && freed == 1,
		   "the IOMMU records of the previous kernel released before the finish (%d) and freed by it (%d before, %d after)",
		   released, freed_before, freed);
}

static void later_boot(int boot)
{
	struct vdev v = { .iommufd = -1, .cdev = -1 };
	uint8_t *maps[MAX_AREAS] = {};
	struct lu_vm vm;
	struct state *s;
	int released, freed_before;
	uint32_t i;
	bool ok;
	int ret;

	/* Boot 2 finds nothing unmapped yet; the last one changes nothing. */
	ktap_begin(NAME, boot, 11 + (boot > 2) + (boot < BOOTS ? 6 : 1));
	ok = !lu_vm_retrieve(&vm, session_of(boot - 1), RAM_SIZE, sizeof(*s));
	s = vm.state;
	ok = ok && s->magic == STATE_MAGIC &&
	     retrieve_plugged(vm.session, s, maps);
	CHECK_OR_BAIL(ok, "session %s, RAM, state and %u plugged memfds retrieved",
		      session_of(boot - 1), s->nr_areas - 1 - (boot == 2));
	check_landed(boot, &vm, s);
	check_vtd(s, "after the kexec");

	take_back(boot, vm.session, s, &v);
	check_vtd(s, "after bind and attach");
	check_msi(&v, vm.ram);
	ok = round_trip_at(v.bar0, vm.ram, IOVA, 0x7700u + boot);
	for (i = 0; ok && i < s->nr_areas; i++)
		if (maps[i])
			ok = round_trip_at(v.bar0, maps[i], s->areas[i].iova,
					   0x7800u + boot);
	ktap_check(ok, "a DMA round trip through every mapped memfd of the preserved layout works");
	if (boot > 2)
		check_gone(&v, s, vm.ram, "in the adopted table");

	released = kmsg_count(RECORDS_RELEASED);
	freed_before = kmsg_count(RECORDS_FREED);
	ret = luo_finish(vm.session);
	ktap_check(!ret, "session %s finished: %s", session_of(boot - 1),
		   ret ? strerror(-ret) : "ok");
	check_records_freed(released, freed_before);
	ok = !msi_off(&v);
	ktap_check(ok, "MSI disabled again");

	if (boot == BOOTS) {
		check_destroy(&v, s);
		ktap_finish();
		return;
	}
	change_layout(boot, &v, &vm, s);
	preserve_and_kexec(boot, luo_create_session(vm.luo, session_of(boot)),
			   &vm, &v, s);
}

int main(void)
{
	int boot = lutest_stage();

	if (boot == 1)
		boot1();
	later_boot(boot);
}
