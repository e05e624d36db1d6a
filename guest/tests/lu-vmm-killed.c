// SPDX-License-Identifier: GPL-2.0
/*
 * lu-vmm-killed: a VMM killed with SIGKILL in the middle of preparing a
 * live update. Stage 1 forks a VMM that assigns the edu (sealed RAM
 * memfd mapped through a marked HWPT), creates a session and preserves,
 * one after the other, its memfds, its iommufd and its cdev, and kills it
 * after each of those steps: after the memfds, after the iommufd, after
 * the cdev (the device's translation preserved). After every kill:
 *
 *   - vfio-pci logged as many unpreserves of the device as preserves;
 *   - the next VMM can open /dev/liveupdate, create a session of the
 *     same name and assign the device again (it gets that far).
 *
 * Then a fresh VMM (the test itself) assigns the device, DMA works and
 * kmemleak finds nothing. It preserves memfds, iommufd and cdev, and then
 * a second edu with MSI enabled: the kexec is refused with EBUSY when the
 * freeze reaches that device (one log line). LUO freezes in preservation
 * order, so the iommufd (with the IOMMU units) and the first cdev froze
 * before it (not observed here: their freeze logs nothing); after the
 * thaw the first device does DMA. Closed, the session leaves the IOAS mapping and
 * unmapping again. Then the VMM live-updates the device with a DMA in
 * flight. Stage 2: the DMA landed, the VMM takes the device back through
 * the retrieved iommufd, DMA works through it, and the session finishes.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include "edu.h"
#include "ktap.h"
#include "luo.h"
#include "util.h"
#include "vfio.h"
#include "vm.h"

#define NAME		"lu-vmm-killed"
#define EDU		"0000:00:04.0"
#define EDU2		"0000:01:00.0"	/* behind the root port */
#define RAM_SIZE	(1UL << 20)
#define IOVA		0x1000000UL
#define SRC_OFF		0x1000UL
#define DST_OFF		0x3000UL
#define INFLIGHT_OFF	0x5000UL
#define TOKEN_IOMMUFD	3
#define TOKEN_CDEV	4
#define TOKEN_CDEV2	5
#define IOVA2		0x2000000UL
#define HWPT_TOKEN	0x6b696c6cULL
#define SEED		0x6b696c6cu
#define KMEMLEAK	"/sys/kernel/debug/kmemleak"

static const char *const steps[] = { "memfds", "iommufd", "cdev" };
#define NR_STEPS	3

struct state {
	uint64_t magic;
	uint32_t ioas, hwpt;
};
#define STATE_MAGIC	0x6b696c6c6564ULL

/* Assign the edu to a new VMM and mark its HWPT; 0 or -errno. */
static int vmm_setup(struct lu_vm *vm, struct vdev *v)
{
	int ret = lu_vm_create(vm, NAME, RAM_SIZE, sizeof(struct state));

	ret = ret ?: vdev_open(v, EDU);
	ret = ret ?: vdev_map_file(v, vm->ram_fd, 0, RAM_SIZE, IOVA);
	return ret ?: vdev_mark_hwpt(v, HWPT_TOKEN);
}

/* Step @i of the preserve sequence; 0 or -errno. */
static int vmm_preserve(struct lu_vm *vm, struct vdev *v, int i)
{
	switch (i) {
	case 0:
		return lu_vm_preserve_memfds(vm);
	case 1:
		return luo_preserve_fd(vm->session, v->iommufd, TOKEN_IOMMUFD);
	default:
		return luo_preserve_fd(vm->session, v->cdev, TOKEN_CDEV);
	}
}

/* The forked VMM: set up, preserve @steps_done steps, report, wait. */
static void vmm_child(int report_fd, int steps_done)
{
	struct lu_vm vm;
	struct vdev v;
	char done = 'y';
	int i, ret;

	ret = vmm_setup(&vm, &v);
	for (i = 0; !ret && i < steps_done; i++)
		ret = vmm_preserve(&vm, &v, i);
	if (ret)
		done = 'n';
	if (write(report_fd, &done, 1) != 1)
		_exit(1);
	for (;;)
		pause();
}

/* Preserves of the device vfio-pci logged, less those it undid. */
static int device_preserves(void)
{
	return kmsg_count_with("live update: preserved", EDU) -
	       kmsg_count_with("live update: unpreserved", EDU);
}

static void kill_after(int steps_done, int balance)
{
	int fds[2], status = 0;
	char done = 0;
	pid_t pid;
	bool ok;

	if (pipe(fds))
		ktap_bail("pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		ktap_bail("fork: %s", strerror(errno));
	if (!pid) {
		close(fds[0]);
		vmm_child(fds[1], steps_done);
	}
	close(fds[1]);
	ok = read(fds[0], &done, 1) == 1 && done == 'y';
	close(fds[0]);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	ok = ok && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
	ktap_check(ok && device_preserves() == balance,
		   "a VMM that assigned the device and preserved up to its %s was killed: it got there (%s), and vfio-pci undid what it preserved (balance %d)",
		   steps[steps_done - 1], done == 'y' ? "yes" : "no",
		   device_preserves() - balance);
}

static bool kmemleak_clean(void)
{
	char report[512] = "";

	sleep(6);	/* past kmemleak's minimum age of an object */
	return !write_file(KMEMLEAK, "scan") && !write_file(KMEMLEAK, "scan") &&
	       read_file(KMEMLEAK, report, sizeof(report)) == 0;
}

static bool dma_works(struct lu_vm *vm, struct vdev *v, uint32_t seed)
{
	return edu_round_trip(v->bar0, vm->ram + SRC_OFF, IOVA + SRC_OFF,
			      vm->ram + DST_OFF, IOVA + DST_OFF, seed);
}

/*
 * LUO freezes files in preservation order: the iommufd (with the IOMMU
 * units) and the first cdev are frozen when the second device, with MSI
 * on, refuses; all of it must thaw. The session is then closed and made
 * anew for the real update.
 */
static void refused_kexec(struct lu_vm *vm, struct vdev *v)
{
	const char *refusal = "live update: cannot freeze: interrupts are enabled";
	int i, ret, efd = -1, before = kmsg_count_with(refusal, EDU2);
	struct vdev w;
	bool ok;

	ret = vdev_open(&w, EDU2);
	efd = ret ? -1 : vdev_msi_eventfd(&w);
	ret = ret ?: efd < 0 ? efd : 0;
	for (i = 0; !ret && i < NR_STEPS; i++)
		ret = vmm_preserve(vm, v, i);
	ret = ret ?: luo_preserve_fd(vm->session, w.cdev, TOKEN_CDEV2);
	ret = ret ?: kexec_load_next(2);
	ret = ret ?: kexec_reboot();
	ok = ret == -EBUSY && kmsg_count_with(refusal, EDU2) == before + 1 &&
	     dma_works(vm, v, SEED + 3);
	ktap_check(ok, "with a second edu (MSI on) preserved last, reboot(KEXEC) fails at its freeze: %s, one log line; thawed, the first device does DMA",
		   ret ? strerror(-ret) : "it did not fail");
	if (efd >= 0)
		close(efd);
	vdev_close(&w);		/* vdev_open() set it up, even on failure */

	close(vm->session);
	vm->session = luo_create_session(vm->luo, NAME);
	ok = vm->session >= 0 &&
	     !vdev_map_file(v, vm->ram_fd, 0, RAM_SIZE, IOVA2) &&
	     !vdev_unmap(v, IOVA2, RAM_SIZE) && dma_works(vm, v, SEED + 4);
	CHECK_OR_BAIL(ok, "that session closed, the IOAS maps and unmaps again, DMA works; a new session");
}

static void stage1(void)
{
	struct lu_vm vm;
	struct state *s;
	struct vdev v;
	int balance, i;
	bool ok;

	ktap_begin(NAME, 1, 9);
	balance = device_preserves();
	ok = !write_file(KMEMLEAK, "scan") && !write_file(KMEMLEAK, "clear");
	CHECK_OR_BAIL(ok, "kmemleak scanned and cleared");
	for (i = 1; i <= NR_STEPS; i++)
		kill_after(i, balance);

	ok = !vmm_setup(&vm, &v) &&
	     edu_round_trip(v.bar0, vm.ram + SRC_OFF, IOVA + SRC_OFF,
			    vm.ram + DST_OFF, IOVA + DST_OFF, SEED);
	CHECK_OR_BAIL(ok, "a fresh VMM assigns the device: DMA works");
	ktap_check(kmemleak_clean(), "kmemleak: nothing leaked by the killed VMMs");

	refused_kexec(&vm, &v);

	s = vm.state;
	s->magic = STATE_MAGIC;
	s->ioas = v.ioas;
	s->hwpt = v.hwpt;
	for (i = 0, ok = true; ok && i < NR_STEPS; i++)
		ok = !vmm_preserve(&vm, &v, i);
	CHECK_OR_BAIL(ok && !kexec_load_next(2),
		      "it preserves memfds, iommufd and cdev; next kernel loaded");
	printf("# expect-translation-never-off\n");
	fflush(stdout);
	pattern_fill(vm.ram + SRC_OFF, EDU_BUF_SIZE, SEED + 1);
	if (!edu_dma_from_ram(v.bar0, IOVA + SRC_OFF, 0, EDU_BUF_SIZE))
		ktap_bail("the device cannot load its buffer");
	edu_dma_start(v.bar0, IOVA + INFLIGHT_OFF, 0, EDU_BUF_SIZE, true);
	kexec_reboot();
	ktap_bail("reboot(KEXEC) returned: %s", strerror(errno));
}

static void stage2(void)
{
	struct vdev v = { .iommufd = -1, .cdev = -1 };
	struct lu_vm vm;
	struct state *s;
	uint32_t pt_id;
	int ret;
	bool ok;

	ktap_begin(NAME, 2, 3);
	ok = !lu_vm_retrieve(&vm, NAME, RAM_SIZE, sizeof(*s));
	s = vm.state;
	CHECK_OR_BAIL(ok && s->magic == STATE_MAGIC &&
		      pattern_check(vm.ram + INFLIGHT_OFF, EDU_BUF_SIZE, SEED + 1) < 0,
		      "session and memfds retrieved: the DMA in flight at the kexec landed");

	v.iommufd = luo_retrieve_fd(vm.session, TOKEN_IOMMUFD);
	v.cdev = luo_retrieve_fd(vm.session, TOKEN_CDEV);
	v.ioas = s->ioas;
	pt_id = s->hwpt;
	ret = v.iommufd < 0 ? v.iommufd : v.cdev < 0 ? v.cdev : vdev_bind(&v);
	ret = ret ?: vdev_attach_pt(&v, &pt_id);
	v.bar0 = ret ? NULL : vdev_bar_map(&v, 0, &v.bar0_size);
	ok = v.bar0 && edu_round_trip(v.bar0, vm.ram + SRC_OFF, IOVA + SRC_OFF,
				      vm.ram + DST_OFF, IOVA + DST_OFF, SEED + 2);
	ktap_check(ok, "iommufd and cdev retrieved, bound, attached to HWPT %u: DMA works (%s)",
		   s->hwpt, ret ? strerror(-ret) : "ok");
	ret = luo_finish(vm.session);
	ktap_check(!ret, "session finished: %s", ret ? strerror(-ret) : "ok");
	ktap_finish();
}

int main(void)
{
	if (lutest_stage() == 1)
		stage1();
	stage2();
}
