// SPDX-License-Identifier: GPL-2.0
/*
 * iommufd-lu-restore: the new kernel's uAPI for a VMM taking its device
 * back (phase 2), each misuse with its errno. Stage 1 assigns an edu with
 * guest RAM mapped from a sealed memfd, marks its HWPT and preserves the
 * memfds, the iommufd and the cdev. Stage 2, in the order a careless VMM
 * might go:
 *
 *   - the iommufd retrieved before its memfds works (the retrieve takes
 *     them from the session), and the RAM memfd retrieved after it holds
 *     stage 1's bytes;
 *   - with the cdev retrieved but not bound, finishing fails with EBUSY
 *     (finishing before any retrieve gives everything up instead: see
 *     iommufd-lu-abandon);
 *   - the cdev bound to a fresh iommufd fails with EPERM, then binds to
 *     the retrieved one;
 *   - its first attach to any HWPT but the restored one fails with EBUSY;
 *     until it is attached, the restored HWPT cannot be destroyed and the
 *     session cannot finish (EBUSY); attached, DMA goes on;
 *   - until the finish: destroying the attached HWPT or its IOAS, map and
 *     unmap of the IOAS, and preserving the iommufd again fail with EBUSY;
 *   - the session finishes; then a map works and is reached by DMA, the
 *     device moves to another HWPT (DMA through it works), and the
 *     restored HWPT can be destroyed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
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

#define NAME		"iommufd-lu-restore"
#define TOKEN_IOMMUFD	3
#define TOKEN_CDEV	4
#define HWPT_TOKEN	0x7265737472ULL
#define EDU		"0000:00:04.0"
#define RAM_SIZE	(1UL << 20)
#define IOVA		0x1000000UL
#define IOVA2		0x2000000UL	/* mapped after finish */
#define SRC_OFF		0x1000UL
#define DST_OFF		0x3000UL
#define SEED		0x6c751u

struct state {
	uint64_t magic;
	uint32_t ioas, hwpt;
};
#define STATE_MAGIC	0x726573746f7265ULL

#define IOCTL(fd, cmd, arg) (ioctl(fd, cmd, arg) ? -errno : 0)

static const char *err_str(int ret)
{
	return ret ? strerror(-ret) : "ok";
}

static void stage1(void)
{
	struct lu_vm vm;
	struct state *s;
	struct vdev v;
	bool ok;

	ktap_begin(NAME, 1, 4);
	ok = !lu_vm_create(&vm, NAME, RAM_SIZE, sizeof(*s));
	s = vm.state;
	CHECK_OR_BAIL(ok, "session, RAM and state memfds");
	ok = !vdev_open(&v, EDU) &&
	     !vdev_map_file(&v, vm.ram_fd, 0, RAM_SIZE, IOVA);
	ok = ok && edu_round_trip(v.bar0, vm.ram + SRC_OFF, IOVA + SRC_OFF,
				  vm.ram + DST_OFF, IOVA + DST_OFF, SEED);
	CHECK_OR_BAIL(ok, "edu %s assigned, RAM mapped at IOVA 0x%lx, DMA round trip",
		      EDU, IOVA);
	s->magic = STATE_MAGIC;
	s->ioas = v.ioas;
	s->hwpt = v.hwpt;
	CHECK_OR_BAIL(!vdev_mark_hwpt(&v, HWPT_TOKEN) &&
		      !lu_vm_preserve_memfds(&vm) &&
		      !luo_preserve_fd(vm.session, v.iommufd, TOKEN_IOMMUFD) &&
		      !luo_preserve_fd(vm.session, v.cdev, TOKEN_CDEV),
		      "HWPT %u marked; memfds, iommufd and cdev preserved", v.hwpt);
	CHECK_OR_BAIL(!kexec_load_next(2), "next kernel loaded");
	printf("# expect-translation-never-off\n");
	fflush(stdout);
	/* The session must stay open: closing it would unpreserve. */
	kexec_reboot();
	ktap_bail("reboot(KEXEC) returned: %s", strerror(errno));
}

static int hwpt_on_new_ioas(struct vdev *v, int ram_fd, uint64_t iova,
			    uint32_t *hwpt)
{
	struct iommu_ioas_alloc ioas = { .size = sizeof(ioas) };
	struct iommu_hwpt_alloc alloc = { .size = sizeof(alloc) };
	struct vdev tmp = *v;
	int ret;

	ret = IOCTL(v->iommufd, IOMMU_IOAS_ALLOC, &ioas);
	tmp.ioas = ioas.out_ioas_id;
	ret = ret ?: vdev_map_file(&tmp, ram_fd, 0, RAM_SIZE, iova);
	alloc.dev_id = v->devid;
	alloc.pt_id = ioas.out_ioas_id;
	ret = ret ?: IOCTL(v->iommufd, IOMMU_HWPT_ALLOC, &alloc);
	*hwpt = alloc.out_hwpt_id;
	return ret;
}

static int destroy(int iommufd, uint32_t id)
{
	struct iommu_destroy d = { .size = sizeof(d), .id = id };

	return IOCTL(iommufd, IOMMU_DESTROY, &d);
}

static bool dma_works(struct vdev *v, uint8_t *ram, uint64_t iova,
		      uint32_t seed)
{
	return v->bar0 && edu_round_trip(v->bar0, ram + SRC_OFF, iova + SRC_OFF,
					 ram + DST_OFF, iova + DST_OFF, seed);
}

static void stage2(void)
{
	struct vdev v = { .iommufd = -1, .cdev = -1 }, w;
	int luo, session, ram_fd, st_fd, ret, ret2;
	uint32_t pt_id, other;
	struct state *s;
	uint8_t *ram;
	bool ok;

	ktap_begin(NAME, 2, 14);
	luo = luo_open();
	session = luo >= 0 ? luo_retrieve_session(luo, NAME) : luo;
	CHECK_OR_BAIL(session >= 0, "session retrieved");

	v.iommufd = luo_retrieve_fd(session, TOKEN_IOMMUFD);
	ram_fd = luo_retrieve_fd(session, LU_TOKEN_RAM);
	st_fd = luo_retrieve_fd(session, LU_TOKEN_STATE);
	ram = ram_fd >= 0 ? map_shared(ram_fd, RAM_SIZE) : NULL;
	s = st_fd >= 0 ? map_shared(st_fd, sizeof(*s)) : NULL;
	ok = v.iommufd >= 0 && ram && s && s->magic == STATE_MAGIC &&
	     pattern_check(ram + DST_OFF, EDU_BUF_SIZE, SEED) < 0;
	CHECK_OR_BAIL(ok, "iommufd retrieved before its memfds (%s); the RAM memfd retrieved after it holds stage 1's bytes",
		      v.iommufd < 0 ? strerror(-v.iommufd) : "ok");
	v.ioas = s->ioas;
	v.hwpt = s->hwpt;

	v.cdev = luo_retrieve_fd(session, TOKEN_CDEV);
	ret = luo_finish(session);
	ktap_check(v.cdev >= 0 && ret == -EBUSY,
		   "with the cdev retrieved but not bound, finishing fails with EBUSY: %s",
		   err_str(ret));
	w = v;
	w.iommufd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	ret = v.cdev < 0 ? v.cdev : vdev_bind(&w);
	ret2 = v.cdev < 0 ? v.cdev : vdev_bind(&v);
	CHECK_OR_BAIL(ret == -EPERM && !ret2,
		      "the retrieved cdev cannot bind to a fresh iommufd (%s), binds to the retrieved one (%s)",
		      err_str(ret), err_str(ret2));
	close(w.iommufd);

	ret = hwpt_on_new_ioas(&v, ram_fd, IOVA, &other);
	pt_id = other;
	ret = ret ?: vdev_attach_pt(&v, &pt_id);
	ktap_check(ret == -EBUSY, "a first attach to another HWPT fails with EBUSY: %s",
		   err_str(ret));

	/* The device translates through the restored domain all along. */
	ret = destroy(v.iommufd, s->hwpt);
	ret2 = luo_finish(session);
	ktap_check(ret == -EBUSY && ret2 == -EBUSY,
		   "bound, not attached yet: destroying the restored HWPT (%s) and finishing (%s) fail with EBUSY",
		   err_str(ret), err_str(ret2));

	pt_id = s->hwpt;
	ret = vdev_attach_pt(&v, &pt_id);
	v.bar0 = ret ? NULL : vdev_bar_map(&v, 0, &v.bar0_size);
	CHECK_OR_BAIL(!ret && pt_id == s->hwpt && dma_works(&v, ram, IOVA, SEED + 1),
		      "attached to the restored HWPT %u (%s): DMA through IOVA 0x%lx works",
		      s->hwpt, err_str(ret), IOVA);

	ret = destroy(v.iommufd, s->hwpt);
	ret2 = destroy(v.iommufd, s->ioas);
	ktap_check(ret == -EBUSY && ret2 == -EBUSY,
		   "destroying the attached HWPT (%s) or its IOAS (%s) fails with EBUSY",
		   err_str(ret), err_str(ret2));

	ret = vdev_unmap(&v, IOVA, RAM_SIZE);
	ret2 = vdev_map_file(&v, ram_fd, 0, RAM_SIZE, IOVA2);
	ktap_check(ret == -EBUSY && ret2 == -EBUSY,
		   "before the finish, unmap (%s) and map (%s) of the restored IOAS fail with EBUSY",
		   err_str(ret), err_str(ret2));

	ret = luo_create_session(luo, NAME "-next");
	ret = ret < 0 ? ret : luo_preserve_fd(ret, v.iommufd, TOKEN_IOMMUFD);
	/* LUO refuses it: the file is still its incoming session's. */
	ktap_check(ret == -EBUSY, "preserving the iommufd again before the finish fails with EBUSY: %s",
		   err_str(ret));

	ret = luo_finish(session);
	CHECK_OR_BAIL(!ret, "session finished: %s", err_str(ret));

	ret = vdev_map_file(&v, ram_fd, 0, RAM_SIZE, IOVA2);
	ktap_check(!ret && dma_works(&v, ram, IOVA2, SEED + 2),
		   "after the finish, RAM mapped again at IOVA 0x%lx (%s) is reached by DMA",
		   IOVA2, err_str(ret));

	pt_id = other;
	ret = vdev_attach_pt(&v, &pt_id);
	ktap_check(!ret && pt_id == other && dma_works(&v, ram, IOVA, SEED + 3),
		   "the device moves to HWPT %u of another IOAS (%s): DMA through it works",
		   other, err_str(ret));

	ret = destroy(v.iommufd, s->hwpt);
	ktap_check(!ret, "the restored HWPT, no longer attached, is destroyed: %s",
		   err_str(ret));
	ktap_finish();
}

int main(void)
{
	if (lutest_stage() == 1)
		stage1();
	stage2();
}
