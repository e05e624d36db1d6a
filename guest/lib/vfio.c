// SPDX-License-Identifier: GPL-2.0
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <linux/iommufd.h>
#include <linux/pci_regs.h>
#include <linux/vfio.h>

#include "util.h"
#include "vfio.h"

static int sysfs_hex(const char *bdf, const char *attr, unsigned long *v)
{
	char path[PATH_MAX], buf[64];
	int ret;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/%s", bdf, attr);
	ret = read_file(path, buf, sizeof(buf));
	if (ret < 0)
		return ret;
	*v = strtoul(buf, NULL, 16);
	return 0;
}

static int cmp_names(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

int pci_find(uint16_t vendor, uint16_t device, int index, char *bdf, size_t len)
{
	struct dirent **list;
	int i, n, found = -ENODEV;
	unsigned long ven, dev;

	n = scandir("/sys/bus/pci/devices", &list, NULL, cmp_names);
	if (n < 0)
		return -errno;
	for (i = 0; i < n; i++) {
		const char *name = list[i]->d_name;

		if (found == -ENODEV && name[0] != '.' &&
		    !sysfs_hex(name, "vendor", &ven) && ven == vendor &&
		    !sysfs_hex(name, "device", &dev) && dev == device &&
		    index-- == 0) {
			snprintf(bdf, len, "%s", name);
			found = 0;
		}
		free(list[i]);
	}
	free(list);
	return found;
}

int pci_bind(const char *bdf, const char *driver)
{
	char path[PATH_MAX], link[PATH_MAX];
	ssize_t n;
	int ret;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", bdf);
	n = readlink(path, link, sizeof(link) - 1);
	if (n > 0) {
		link[n] = 0;
		if (!strcmp(strrchr(link, '/') + 1, driver))
			return 0;
		return -EBUSY;
	}
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver_override", bdf);
	ret = write_file(path, driver);
	if (ret)
		return ret;
	ret = write_file("/sys/bus/pci/drivers_probe", bdf);
	if (ret)
		return ret;
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", bdf);
	return access(path, F_OK) ? -ENODEV : 0;
}

static int pci_config_rw(const char *bdf, unsigned int off, void *buf,
			 size_t len, bool write)
{
	char path[PATH_MAX];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/config", bdf);
	fd = open(path, write ? O_WRONLY : O_RDONLY);
	if (fd < 0)
		return -errno;
	n = write ? pwrite(fd, buf, len, off) : pread(fd, buf, len, off);
	close(fd);
	return n == (ssize_t)len ? 0 : -EIO;
}

int pci_config_read(const char *bdf, unsigned int off, void *buf, size_t len)
{
	return pci_config_rw(bdf, off, buf, len, false);
}

int pci_config_write(const char *bdf, unsigned int off, const void *buf,
		     size_t len)
{
	return pci_config_rw(bdf, off, (void *)buf, len, true);
}

int pcie_ctl_read(const char *bdf, struct pcie_ctl *ctl)
{
	uint16_t status = 0;
	uint8_t pos = 0, hdr[2];
	int hops, ret;

	ret = pci_config_read(bdf, PCI_STATUS, &status, sizeof(status));
	if (ret || !(status & PCI_STATUS_CAP_LIST))
		return ret ?: -ENOENT;
	ret = pci_config_read(bdf, PCI_CAPABILITY_LIST, &pos, 1);
	/* Bounded: a looping list must not hang the test. */
	for (hops = 0; !ret && pos >= 0x40 && hops < 48; hops++) {
		pos &= ~3;
		ret = pci_config_read(bdf, pos, hdr, sizeof(hdr));
		if (ret)
			break;
		ctl->cap = pos;
		if (hdr[0] == PCI_CAP_ID_EXP)
			return pci_config_read(bdf, pos + PCI_EXP_DEVCTL,
					       &ctl->devctl, 2) ?:
			       pci_config_read(bdf, pos + PCI_EXP_LNKCTL,
					       &ctl->lnkctl, 2) ?:
			       pci_config_read(bdf, pos + PCI_EXP_DEVCTL2,
					       &ctl->devctl2, 2);
		pos = hdr[1];
	}
	return ret ?: -ENOENT;
}

int pci_ext_cap(const char *bdf, uint16_t id)
{
	uint32_t hdr;
	int pos = PCI_CFG_SPACE_SIZE, hops, ret;

	/* Bounded: a looping list must not hang the test. */
	for (hops = 0; pos >= PCI_CFG_SPACE_SIZE && hops < 64; hops++) {
		ret = pci_config_read(bdf, pos, &hdr, sizeof(hdr));
		if (ret)
			return ret;
		if (!hdr || hdr == 0xffffffff)
			return 0;
		if (PCI_EXT_CAP_ID(hdr) == id)
			return pos;
		pos = PCI_EXT_CAP_NEXT(hdr);
	}
	return 0;
}

volatile uint8_t *pci_bar_map(const char *bdf, int bar, size_t len)
{
	char path[PATH_MAX];
	void *p;
	int fd;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/resource%d",
		 bdf, bar);
	fd = open(path, O_RDWR | O_SYNC | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	return p == MAP_FAILED ? NULL : p;
}

int qemu_trace_mark(uint8_t value)
{
	/* The host bridge's Interrupt Line: a scratch register QEMU traces. */
	return pci_config_write("0000:00:00.0", PCI_INTERRUPT_LINE, &value, 1);
}

void pci_bar_unmap(volatile uint8_t *bar, size_t len)
{
	if (bar)
		munmap((void *)bar, len);
}

static int open_cdev(const char *bdf)
{
	char path[PATH_MAX];
	struct dirent *d;
	DIR *dir;
	int fd = -ENODEV;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/vfio-dev", bdf);
	dir = opendir(path);
	if (!dir)
		return -errno;
	while ((d = readdir(dir))) {
		if (strncmp(d->d_name, "vfio", 4))
			continue;
		snprintf(path, sizeof(path), "/dev/vfio/devices/%s", d->d_name);
		fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			fd = -errno;
		break;
	}
	closedir(dir);
	return fd;
}

/* Run one step of vdev_open(); on failure name it and unwind. */
#define STEP(v, name, expr)				\
	do {						\
		ret = (expr);				\
		if (ret < 0) {				\
			(v)->failed_step = (name);	\
			goto fail;			\
		}					\
	} while (0)

#define IOCTL(fd, cmd, arg) (ioctl(fd, cmd, arg) ? -errno : 0)

static int region_info(struct vdev *v, unsigned int index,
		       struct vfio_region_info *info)
{
	memset(info, 0, sizeof(*info));
	info->argsz = sizeof(*info);
	info->index = index;
	return IOCTL(v->cdev, VFIO_DEVICE_GET_REGION_INFO, info);
}

int vdev_config_read(struct vdev *v, unsigned int off, void *buf, size_t len)
{
	struct vfio_region_info info;
	int ret = region_info(v, VFIO_PCI_CONFIG_REGION_INDEX, &info);

	if (ret)
		return ret;
	return pread(v->cdev, buf, len, info.offset + off) == (ssize_t)len ?
		0 : -EIO;
}

int vdev_config_write(struct vdev *v, unsigned int off, const void *buf,
		      size_t len)
{
	struct vfio_region_info info;
	int ret = region_info(v, VFIO_PCI_CONFIG_REGION_INDEX, &info);

	if (ret)
		return ret;
	return pwrite(v->cdev, buf, len, info.offset + off) == (ssize_t)len ?
		0 : -EIO;
}

volatile uint8_t *vdev_bar_map(struct vdev *v, int bar, size_t *len)
{
	struct vfio_region_info info;
	void *p;

	*len = 0;
	if (region_info(v, VFIO_PCI_BAR0_REGION_INDEX + bar, &info) ||
	    !info.size || !(info.flags & VFIO_REGION_INFO_FLAG_MMAP))
		return NULL;
	p = mmap(NULL, info.size, PROT_READ | PROT_WRITE, MAP_SHARED,
		 v->cdev, info.offset);
	if (p == MAP_FAILED)
		return NULL;
	*len = info.size;
	return p;
}

/* BAR0 if the device implements it: a modern virtio device need not. */
static int map_bar0(struct vdev *v)
{
	struct vfio_region_info info;
	int ret = region_info(v, VFIO_PCI_BAR0_REGION_INDEX, &info);

	/* An I/O port BAR (a sound card's) cannot be mapped: leave it. */
	if (ret || !info.size || !(info.flags & VFIO_REGION_INFO_FLAG_MMAP))
		return ret;
	v->bar0 = vdev_bar_map(v, 0, &v->bar0_size);
	return v->bar0 ? 0 : -EINVAL;
}

static int enable_bus_master(struct vdev *v)
{
	uint16_t cmd;
	int ret = vdev_config_read(v, PCI_COMMAND, &cmd, sizeof(cmd));

	if (ret)
		return ret;
	cmd |= PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
	return vdev_config_write(v, PCI_COMMAND, &cmd, sizeof(cmd));
}

/*
 * Bind @v->cdev to a new iommufd, attach it to a fresh IOAS, map BAR0 if
 * the device has one; or, with @share, to @share's iommufd and HWPT.
 */
static int vdev_attach(struct vdev *v, const struct vdev *share)
{
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };
	struct iommu_ioas_alloc ioas = { .size = sizeof(ioas) };
	struct iommu_hwpt_alloc hwpt = { .size = sizeof(hwpt) };
	struct vfio_device_attach_iommufd_pt attach = { .argsz = sizeof(attach) };
	int ret;

	v->iommufd = share ? fcntl(share->iommufd, F_DUPFD_CLOEXEC, 0) :
			     open("/dev/iommu", O_RDWR | O_CLOEXEC);
	STEP(v, "open /dev/iommu", v->iommufd < 0 ? -errno : 0);
	bind.iommufd = v->iommufd;
	STEP(v, "VFIO_DEVICE_BIND_IOMMUFD", IOCTL(v->cdev, VFIO_DEVICE_BIND_IOMMUFD, &bind));
	v->devid = bind.out_devid;
	if (share) {
		v->ioas = share->ioas;
		v->hwpt = share->hwpt;
	} else {
		STEP(v, "IOMMU_IOAS_ALLOC", IOCTL(v->iommufd, IOMMU_IOAS_ALLOC, &ioas));
		v->ioas = ioas.out_ioas_id;
		hwpt.dev_id = v->devid;
		hwpt.pt_id = v->ioas;
		STEP(v, "IOMMU_HWPT_ALLOC", IOCTL(v->iommufd, IOMMU_HWPT_ALLOC, &hwpt));
		v->hwpt = hwpt.out_hwpt_id;
	}
	attach.pt_id = v->hwpt;
	STEP(v, "VFIO_DEVICE_ATTACH_IOMMUFD_PT",
	     IOCTL(v->cdev, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach));
	STEP(v, "mmap BAR0", map_bar0(v));
	return 0;

fail:
	/* Closing the fds detaches, unbinds and frees the iommufd objects. */
	vdev_close(v);
	return ret;
}

int vdev_open_cdev(const char *bdf)
{
	int ret = pci_bind(bdf, "vfio-pci");

	return ret ?: open_cdev(bdf);
}

int vdev_open(struct vdev *v, const char *bdf)
{
	return vdev_open_shared(v, bdf, NULL);
}

int vdev_open_shared(struct vdev *v, const char *bdf, const struct vdev *share)
{
	int ret;

	memset(v, 0, sizeof(*v));
	v->iommufd = v->cdev = -1;
	snprintf(v->bdf, sizeof(v->bdf), "%s", bdf);

	STEP(v, "bind vfio-pci", pci_bind(bdf, "vfio-pci"));
	STEP(v, "open cdev", v->cdev = open_cdev(bdf));
	ret = vdev_attach(v, share);
	if (ret)
		return ret;
	STEP(v, "enable bus mastering", enable_bus_master(v));
	return 0;

fail:
	vdev_close(v);
	return ret;
}

void vdev_close(struct vdev *v)
{
	if (v->bar0)
		munmap((void *)v->bar0, v->bar0_size);
	if (v->cdev >= 0)
		close(v->cdev);
	if (v->iommufd >= 0)
		close(v->iommufd);
	v->bar0 = NULL;
	v->cdev = v->iommufd = -1;
}

int vdev_map_file(struct vdev *v, int memfd, uint64_t start, uint64_t len,
		  uint64_t iova)
{
	struct iommu_ioas_map_file map = {
		.size = sizeof(map),
		.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE |
			 IOMMU_IOAS_MAP_WRITEABLE,
		.ioas_id = v->ioas,
		.fd = memfd,
		.start = start,
		.length = len,
		.iova = iova,
	};

	return IOCTL(v->iommufd, IOMMU_IOAS_MAP_FILE, &map);
}

int vdev_unmap(struct vdev *v, uint64_t iova, uint64_t len)
{
	uint64_t unmapped;

	return vdev_unmap_count(v, iova, len, &unmapped);
}

int vdev_unmap_count(struct vdev *v, uint64_t iova, uint64_t len,
		     uint64_t *unmapped)
{
	struct iommu_ioas_unmap unmap = {
		.size = sizeof(unmap), .ioas_id = v->ioas,
		.iova = iova, .length = len,
	};
	int ret = IOCTL(v->iommufd, IOMMU_IOAS_UNMAP, &unmap);

	*unmapped = ret ? 0 : unmap.length;
	return ret;
}

int vdev_bind(struct vdev *v)
{
	struct vfio_device_bind_iommufd bind = {
		.argsz = sizeof(bind), .iommufd = v->iommufd,
	};
	int ret = IOCTL(v->cdev, VFIO_DEVICE_BIND_IOMMUFD, &bind);

	if (!ret)
		v->devid = bind.out_devid;
	return ret;
}

int vdev_attach_pt(struct vdev *v, uint32_t *pt_id)
{
	struct vfio_device_attach_iommufd_pt attach = {
		.argsz = sizeof(attach), .pt_id = *pt_id,
	};
	int ret = IOCTL(v->cdev, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach);

	*pt_id = attach.pt_id;
	return ret;
}

int vdev_msi_eventfd(struct vdev *v)
{
	char buf[sizeof(struct vfio_irq_set) + sizeof(int32_t)];
	struct vfio_irq_set *set = (struct vfio_irq_set *)buf;
	int32_t efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int ret;

	if (efd < 0)
		return -errno;
	*set = (struct vfio_irq_set){
		.argsz = sizeof(buf),
		.flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
		.index = VFIO_PCI_MSI_IRQ_INDEX,
		.start = 0,
		.count = 1,
	};
	memcpy(set->data, &efd, sizeof(efd));
	ret = IOCTL(v->cdev, VFIO_DEVICE_SET_IRQS, set);
	if (ret) {
		close(efd);
		return ret;
	}
	return efd;
}

uint64_t eventfd_wait(int efd, int ms)
{
	struct pollfd p = { .fd = efd, .events = POLLIN };
	uint64_t count = 0;

	if (poll(&p, 1, ms) == 1 && read(efd, &count, sizeof(count)) < 0)
		count = 0;
	return count;
}

int vdev_mark_hwpt(struct vdev *v, uint64_t token)
{
	struct iommu_hwpt_liveupdate_mark mark = {
		.size = sizeof(mark),
		.hwpt_id = v->hwpt,
		.token = token,
	};

	return IOCTL(v->iommufd, IOMMU_HWPT_LIVEUPDATE_MARK, &mark);
}
