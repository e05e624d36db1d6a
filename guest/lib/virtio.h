/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A minimal modern (virtio 1.x) PCI driver in userspace, for a device
 * assigned through its vfio cdev: the guest kernel has no virtio drivers,
 * so nothing else binds it. One split virtqueue, no interrupts (the driver
 * polls the used ring), only VIRTIO_F_VERSION_1 and
 * VIRTIO_F_ACCESS_PLATFORM negotiated, so the device's DMA goes through
 * the IOMMU like a real device's.
 *
 * The rings live in memory the caller provides and the device reaches at
 * an IOVA (the test's guest RAM memfd), so that a live update can keep
 * them: after a kexec virtio_attach() takes the running device over
 * without resetting it and the next request goes into the same rings.
 */
#ifndef LUTEST_VIRTIO_H
#define LUTEST_VIRTIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"
#include "vfio.h"

#define VIRTIO_VENDOR		0x1af4
#define VIRTIO_DEV_RNG		0x1044	/* modern: 0x1040 + device type 4 */

/* The rings of one queue: descriptors, avail and used, a page each. */
#define VIRTQ_MEM_SIZE		(3 * PAGE_SIZE)
#define VIRTQ_MAX_SIZE		256	/* what fits a page in each ring */

/* One mapped BAR. */
struct virtio_bar {
	volatile uint8_t *base;
	size_t len;
};

/* A modern virtio PCI function, its structures found through config space. */
struct virtio_pci {
	char bdf[16];
	struct virtio_bar bar[6];
	volatile uint8_t *common;	/* struct virtio_pci_common_cfg */
	volatile uint8_t *notify;	/* the notification area */
	uint32_t notify_mult;		/* notify_off_multiplier */
	volatile uint8_t *isr;
	volatile uint8_t *device;	/* device-specific configuration */
	uint64_t features;		/* offered by the device */
};

/* A split virtqueue whose rings live at @mem, which the device sees at @iova. */
struct virtq {
	uint16_t index;
	uint16_t size;
	uint8_t *mem;
	uint64_t iova;
	volatile uint16_t *doorbell;
	uint16_t last_used;		/* used->idx the driver has consumed */
};

/*
 * What the device's common configuration says about queue @index, as
 * read without writing anything (only queue 0 can be read that way: the
 * device must still have it selected).
 */
struct virtq_regs {
	uint8_t status;			/* device_status */
	uint16_t select;		/* queue_select */
	uint16_t size, enable, notify_off, msix;
	uint64_t desc, driver, device;	/* ring addresses (IOVAs) */
};

/*
 * Find the virtio capabilities of @bdf and map the BARs they live in:
 * through @v's vfio cdev, or through sysfs when @v is NULL (after a live
 * update, when the retrieved cdev takes no ioctls). Touches no register.
 * 0, or -errno.
 */
int virtio_pci_map(struct virtio_pci *vp, const char *bdf, struct vdev *v);
void virtio_pci_unmap(struct virtio_pci *vp);

uint8_t virtio_status(const struct virtio_pci *vp);
/*
 * Reset, ACKNOWLEDGE | DRIVER, accept VERSION_1 and ACCESS_PLATFORM (both
 * must be offered) and check that FEATURES_OK sticks. 0, or -errno: -ENODEV
 * if the reset does not complete, -ENOTSUP if a feature is not offered,
 * -EPROTO if the device refuses FEATURES_OK.
 */
int virtio_negotiate(struct virtio_pci *vp);
/*
 * Set up queue @index with @size entries in @mem (VIRTQ_MEM_SIZE bytes,
 * zeroed here) at @iova, no MSI-X vector, no used-buffer interrupts, and
 * enable it. 0, or -errno.
 */
int virtio_queue_setup(struct virtio_pci *vp, struct virtq *vq, uint16_t index,
		       uint16_t size, uint8_t *mem, uint64_t iova);
/* Set DRIVER_OK; 0 if the device then reads as running, -EIO if not. */
int virtio_driver_ok(struct virtio_pci *vp);

/* Read the state of queue 0 and the device status; writes nothing. */
void virtio_read_queue0(const struct virtio_pci *vp, struct virtq_regs *r);
/*
 * Take over a running device's queue 0, whose rings are at @mem (@iova),
 * with neither a reset nor any register write: its registers must show
 * DRIVER_OK and the queue enabled at @iova with @size entries, and every
 * request the driver posted must be used. 0, or -errno (-ESTALE: the
 * device does not look as it was left).
 */
int virtio_attach(struct virtio_pci *vp, struct virtq *vq, uint16_t size,
		  uint8_t *mem, uint64_t iova);

/*
 * Post one device-writable buffer of @len bytes at @buf_iova, without
 * notifying the device. Returns the descriptor's index (the id the used
 * ring will name).
 */
uint16_t virtq_post_in(struct virtq *vq, uint64_t buf_iova, uint32_t len);
/* Tell the device that queue @vq has new buffers. */
void virtq_notify(struct virtq *vq);
/*
 * Wait up to @ms for the next used buffer; false on timeout, else its id
 * and the number of bytes the device wrote.
 */
bool virtq_wait_used(struct virtq *vq, int ms, uint32_t *id, uint32_t *len);

#endif
