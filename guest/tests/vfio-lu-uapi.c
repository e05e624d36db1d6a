// SPDX-License-Identifier: GPL-2.0
/*
 * vfio-lu-uapi: what LIVEUPDATE_SESSION_PRESERVE_FD does with vfio-pci
 * device files in one boot. Every refusal comes with its errno and its
 * log line; a refused or unpreserved device keeps working (DMA through the
 * IOMMU), and a kexec with the device's interrupts enabled is refused.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/reboot.h>
#include <linux/reboot.h>
#include <linux/iommufd.h>
#include <linux/vfio.h>

#include "edu.h"
#include "ktap.h"
#include "luo.h"
#include "util.h"
#include "vfio.h"

#define EDU_BDF		"0000:00:04.0"
#define PORT_EDU_BDF	"0000:01:00.0"
#define SHARED_BDF	"0000:02:01.0"	/* shares its group with 02:02.0 */
#define IOVA		0x100000ULL

static bool dma_works(struct vdev *v, const char *when)
{
	return ktap_check(edu_roundtrip(v, IOVA, 1),
			  "%s: DMA through the IOMMU copies %u bytes", when,
			  EDU_BUF_SIZE);
}

/* Preserve @fd in a new session; the session fd (or -errno) in *@session. */
static int preserve(int luo, const char *name, int fd, int *session)
{
	*session = luo_create_session(luo, name);
	if (*session < 0)
		return *session;
	return luo_preserve_fd(*session, fd, 1);
}

static bool refused(int luo, int fd, int err, const char *log, const char *what)
{
	int before = kmsg_count(log), session, ret;

	ret = preserve(luo, "refused", fd, &session);
	if (session >= 0)
		close(session);
	return ktap_check(ret == err && kmsg_count(log) == before + 1,
			  "%s: preserve fails with %d (%d) and logs \"%s\"", what,
			  err, ret, log);
}

static int set_intx(struct vdev *v, int efd)
{
	struct {
		struct vfio_irq_set set;
		int32_t fd;
	} irq = {
		.set = {
			.argsz = sizeof(irq),
			.flags = efd >= 0 ? VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER :
					    VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
			.index = VFIO_PCI_INTX_IRQ_INDEX,
			.start = 0,
			.count = efd >= 0 ? 1 : 0,
		},
		.fd = efd,
	};

	if (efd < 0)
		irq.set.argsz = sizeof(irq.set);
	return ioctl(v->cdev, VFIO_DEVICE_SET_IRQS, &irq) ? -errno : 0;
}

int main(void)
{
	struct vdev v, shared;
	int luo, session, session2, fd, efd, ret;

	ktap_begin("vfio-lu-uapi", 1, 14);
	luo = luo_open();
	CHECK_OR_BAIL(luo >= 0, "/dev/liveupdate opened (%d)", luo);
	ret = vdev_open(&v, EDU_BDF);
	CHECK_OR_BAIL(!ret, "edu %s opened through its cdev and iommufd (%s: %d)",
		      EDU_BDF, v.failed_step ? v.failed_step : "ok", ret);

	/* A cdev that is not bound to an iommufd yet. */
	fd = pci_bind(PORT_EDU_BDF, "vfio-pci") ? -1 : vfio_cdev_open(PORT_EDU_BDF);
	if (fd >= 0)
		refused(luo, fd, -EINVAL, "cannot preserve: not a device cdev bound to an iommufd",
			"unbound cdev");
	else
		ktap_check(false, "cdev of %s opened (%d)", PORT_EDU_BDF, fd);
	if (fd >= 0)
		close(fd);

	/* A device in a group shared with another device. */
	ret = vdev_open(&shared, SHARED_BDF);
	if (!ret)
		refused(luo, shared.cdev, -EOPNOTSUPP,
			"cannot preserve: shares its IOMMU group with",
			"shared IOMMU group");
	else
		ktap_check(false, "edu %s opened (%s: %d)", SHARED_BDF,
			   shared.failed_step ? shared.failed_step : "?", ret);
	if (!ret)
		vdev_close(&shared);

	/* Preserve, twice, then unpreserve by closing the session. */
	ret = preserve(luo, "uapi", v.cdev, &session);
	ktap_check(!ret, "bound cdev preserved (%d)", ret);
	ret = session >= 0 ? luo_preserve_fd(session, v.cdev, 2) : -EBADF;
	ktap_check(ret == -EBUSY, "the same fd again in the same session: EBUSY (%d)", ret);
	ret = preserve(luo, "uapi-2", v.cdev, &session2);
	ktap_check(ret == -EBUSY, "the same fd in another session: EBUSY (%d)", ret);
	if (session2 >= 0)
		close(session2);
	close(session);
	ktap_check(kmsg_count("vfio-pci " EDU_BDF ": live update: unpreserved") == 1,
		   "closing the session unpreserved the device");
	dma_works(&v, "after unpreserve");

	/* A kexec with the device's interrupts enabled is refused. */
	efd = eventfd(0, EFD_CLOEXEC);
	ret = efd >= 0 ? set_intx(&v, efd) : -errno;
	CHECK_OR_BAIL(!ret, "INTx of the edu enabled through VFIO (%d)", ret);
	ret = preserve(luo, "uapi-irq", v.cdev, &session);
	CHECK_OR_BAIL(!ret && !kexec_load_next(2),
		      "preserved again (%d) and the next kernel loaded", ret);
	ret = reboot(LINUX_REBOOT_CMD_KEXEC) ? -errno : 0;
	ktap_check(ret == -EBUSY &&
		   kmsg_count("live update: cannot freeze: interrupts are enabled") == 1,
		   "kexec refused with EBUSY (%d) while interrupts are enabled", ret);
	ret = set_intx(&v, -1);
	ktap_check(!ret, "the device is unfrozen: its ioctls work again (%d)", ret);
	close(session);
	close(efd);
	dma_works(&v, "after the refused kexec");

	vdev_close(&v);
	ktap_finish();
}
