/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A device assigned the way a VMM does it with iommufd: vfio-pci cdev,
 * bound to an iommufd, attached to a paging HWPT over one IOAS, with guest
 * RAM mapped from a memfd by IOMMU_IOAS_MAP_FILE.
 */
#ifndef LUTEST_VFIO_H
#define LUTEST_VFIO_H

#include <stddef.h>
#include <stdint.h>

struct vdev {
	char bdf[32];
	int iommufd;
	int cdev;
	uint32_t devid;
	uint32_t ioas;
	uint32_t hwpt;
	volatile uint8_t *bar0;
	size_t bar0_size;
	const char *failed_step;	/* set when vdev_open() fails */
};

/* The @index-th device (0-based, in BDF order) with this vendor:device id. */
int pci_find(uint16_t vendor, uint16_t device, int index, char *bdf, size_t len);
/* Bind @bdf to @driver through driver_override; 0 when it is bound. */
int pci_bind(const char *bdf, const char *driver);
/* Read @len bytes of config space through sysfs. */
int pci_config_read(const char *bdf, unsigned int off, void *buf, size_t len);
int pci_config_write(const char *bdf, unsigned int off, const void *buf,
		     size_t len);
/* The control registers of a device's PCI Express capability. */
struct pcie_ctl {
	uint16_t devctl, lnkctl, devctl2;
	uint8_t cap;		/* the capability's offset */
};
/* Read them; 0, -ENOENT if @bdf has no PCI Express capability, or -errno. */
int pcie_ctl_read(const char *bdf, struct pcie_ctl *ctl);
/* Offset of extended capability @id of @bdf, 0 if none, or -errno. */
int pci_ext_cap(const char *bdf, uint16_t id);
/*
 * Map the first @len bytes of BAR @bar of @bdf through sysfs (resourceN),
 * whichever driver is bound, if any; NULL on failure.
 */
volatile uint8_t *pci_bar_map(const char *bdf, int bar, size_t len);
void pci_bar_unmap(volatile uint8_t *bar, size_t len);
/*
 * Mark this moment in QEMU's trace ("pci_cfg_write mch 00:00.0 @0x3c <-
 * VALUE"), for a verdict that judges what the hardware saw between two
 * marks ("# expect-hitless"). 0xa5 is the guest's power-off mark.
 */
int qemu_trace_mark(uint8_t value);

/*
 * Bind @bdf to vfio-pci, open its cdev and a fresh iommufd, bind, allocate
 * an IOAS and a paging HWPT, attach, map BAR0 (unless it is I/O ports)
 * and enable bus mastering.
 * Returns 0, or -errno with @v->failed_step naming the step and everything
 * opened so far closed again.
 */
int vdev_open(struct vdev *v, const char *bdf);
/* Bind @bdf to vfio-pci and open its cdev, nothing more; the fd or -errno. */
int vdev_open_cdev(const char *bdf);
/*
 * The same, but bound to @share's iommufd (a duplicate fd of it) and
 * attached to @share's HWPT, so that both devices use one domain.
 */
int vdev_open_shared(struct vdev *v, const char *bdf, const struct vdev *share);
void vdev_close(struct vdev *v);
int vdev_map_file(struct vdev *v, int memfd, uint64_t start, uint64_t len,
		  uint64_t iova);
int vdev_unmap(struct vdev *v, uint64_t iova, uint64_t len);
/* The same, with the number of bytes unmapped in *@unmapped. */
int vdev_unmap_count(struct vdev *v, uint64_t iova, uint64_t len,
		     uint64_t *unmapped);
/* Bind @v->cdev to @v->iommufd (VFIO_DEVICE_BIND_IOMMUFD); sets devid. */
int vdev_bind(struct vdev *v);
/*
 * Attach @v to the IOAS or HWPT *@pt_id (VFIO_DEVICE_ATTACH_IOMMUFD_PT);
 * *@pt_id is then the HWPT the kernel attached it to.
 */
int vdev_attach_pt(struct vdev *v, uint32_t *pt_id);
/*
 * Arm MSI vector 0 of @v with a new eventfd (VFIO_DEVICE_SET_IRQS);
 * returns the eventfd or -errno.
 */
int vdev_msi_eventfd(struct vdev *v);
/* Wait up to @ms for @efd to fire; returns its count, 0 on timeout. */
uint64_t eventfd_wait(int efd, int ms);
/* mmap BAR @bar of @v through its cdev; NULL (and *@len 0) on failure. */
volatile uint8_t *vdev_bar_map(struct vdev *v, int bar, size_t *len);
int vdev_config_read(struct vdev *v, unsigned int off, void *buf, size_t len);
int vdev_config_write(struct vdev *v, unsigned int off, const void *buf,
		      size_t len);
/*
 * Mark @v's HWPT for a live update with @token (IOMMU_HWPT_LIVEUPDATE_MARK):
 * preserving @v->iommufd in a LUO session then preserves its translation,
 * and preserving @v->cdev after it the device's attachment to it.
 */
int vdev_mark_hwpt(struct vdev *v, uint64_t token);

#endif
