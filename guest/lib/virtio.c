// SPDX-License-Identifier: GPL-2.0
#include <endian.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <linux/pci_regs.h>
#include <linux/virtio_config.h>
#include <linux/virtio_pci.h>
#include <linux/virtio_ring.h>

#include "util.h"
#include "vfio.h"
#include "virtio.h"

/* Where each ring of a queue sits in its VIRTQ_MEM_SIZE bytes. */
#define VIRTQ_DESC_OFF		0
#define VIRTQ_AVAIL_OFF		PAGE_SIZE
#define VIRTQ_USED_OFF		(2 * PAGE_SIZE)

/* The status a running driver leaves, and the bits that say it broke. */
#define VIRTIO_RUNNING	(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | \
			 VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK)
#define VIRTIO_BROKEN	(VIRTIO_CONFIG_S_NEEDS_RESET | VIRTIO_CONFIG_S_FAILED)
#define VIRTIO_WANTED	((1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_F_ACCESS_PLATFORM))

/* Size of BAR @bar of @bdf from sysfs ("start end flags" per line). */
static size_t bar_size(const char *bdf, int bar)
{
	unsigned long long start, end, flags;
	char path[PATH_MAX], buf[1024], *line = buf;
	int i;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/resource", bdf);
	if (read_file(path, buf, sizeof(buf)) < 0)
		return 0;
	for (i = 0; i < bar && line; i++) {
		line = strchr(line, '\n');
		if (line)
			line++;
	}
	if (!line || sscanf(line, "%llx %llx %llx", &start, &end, &flags) != 3 ||
	    !end)
		return 0;
	return end - start + 1;
}

/* Through the vfio cdev, what a VMM maps for its guest; or through sysfs. */
static int map_bar(struct virtio_pci *vp, struct vdev *v, int bar)
{
	struct virtio_bar *b = &vp->bar[bar];

	if (b->base)
		return 0;
	if (v) {
		b->base = vdev_bar_map(v, bar, &b->len);
	} else {
		b->len = bar_size(vp->bdf, bar);
		b->base = b->len ? pci_bar_map(vp->bdf, bar, b->len) : NULL;
	}
	return b->base ? 0 : -ENODEV;
}

/*
 * One virtio vendor capability (struct virtio_pci_cap at @pos): map its
 * BAR and point the driver at the structure, the first of each type only
 * (virtio 1.x, 4.1.4: the driver uses the first one it can).
 */
static int use_cap(struct virtio_pci *vp, struct vdev *v, const uint8_t *cfg,
		   int pos)
{
	uint8_t type = cfg[pos + VIRTIO_PCI_CAP_CFG_TYPE];
	uint8_t bar = cfg[pos + VIRTIO_PCI_CAP_BAR];
	uint32_t off, len, mult;
	volatile uint8_t **where;
	int ret;

	switch (type) {
	case VIRTIO_PCI_CAP_COMMON_CFG:
		where = &vp->common;
		break;
	case VIRTIO_PCI_CAP_NOTIFY_CFG:
		where = &vp->notify;
		break;
	case VIRTIO_PCI_CAP_ISR_CFG:
		where = &vp->isr;
		break;
	case VIRTIO_PCI_CAP_DEVICE_CFG:
		where = &vp->device;
		break;
	default:
		return 0;	/* PCI config access, shared memory, vendor */
	}
	if (*where)
		return 0;
	if (bar >= 6)
		return -EINVAL;
	memcpy(&off, cfg + pos + VIRTIO_PCI_CAP_OFFSET, sizeof(off));
	memcpy(&len, cfg + pos + VIRTIO_PCI_CAP_LENGTH, sizeof(len));
	off = le32toh(off);
	len = le32toh(len);
	ret = map_bar(vp, v, bar);
	if (ret)
		return ret;
	if ((uint64_t)off + len > vp->bar[bar].len)
		return -ERANGE;
	*where = vp->bar[bar].base + off;
	if (type == VIRTIO_PCI_CAP_NOTIFY_CFG) {
		memcpy(&mult, cfg + pos + sizeof(struct virtio_pci_cap),
		       sizeof(mult));
		vp->notify_mult = le32toh(mult);
	}
	return 0;
}

int virtio_pci_map(struct virtio_pci *vp, const char *bdf, struct vdev *v)
{
	uint8_t cfg[256];
	int pos, hops, ret;

	memset(vp, 0, sizeof(*vp));
	snprintf(vp->bdf, sizeof(vp->bdf), "%s", bdf);
	ret = pci_config_read(bdf, 0, cfg, sizeof(cfg));
	if (ret)
		return ret;
	if (!(cfg[PCI_STATUS] & PCI_STATUS_CAP_LIST))
		return -ENOENT;
	/* 48 hops at most: a looping list must not hang the test. */
	for (pos = cfg[PCI_CAPABILITY_LIST] & ~3, hops = 0; pos && hops < 48;
	     pos = cfg[pos + PCI_CAP_LIST_NEXT] & ~3, hops++) {
		if (pos > (int)sizeof(cfg) - 20)
			return -EINVAL;
		if (cfg[pos + PCI_CAP_LIST_ID] != PCI_CAP_ID_VNDR)
			continue;
		ret = use_cap(vp, v, cfg, pos);
		if (ret) {
			virtio_pci_unmap(vp);
			return ret;
		}
	}
	if (!vp->common || !vp->notify || !vp->isr) {
		virtio_pci_unmap(vp);
		return -ENOENT;
	}
	return 0;
}

void virtio_pci_unmap(struct virtio_pci *vp)
{
	int i;

	for (i = 0; i < 6; i++)
		if (vp->bar[i].base)
			munmap((void *)vp->bar[i].base, vp->bar[i].len);
	memset(vp->bar, 0, sizeof(vp->bar));
	vp->common = NULL;
	vp->notify = NULL;
	vp->isr = NULL;
	vp->device = NULL;
}

/* The common configuration, at the access width of each field. */
static uint8_t rd8(const struct virtio_pci *vp, unsigned int off)
{
	return vp->common[off];
}

static uint16_t rd16(const struct virtio_pci *vp, unsigned int off)
{
	return le16toh(*(volatile uint16_t *)(vp->common + off));
}

static uint32_t rd32(const struct virtio_pci *vp, unsigned int off)
{
	return le32toh(*(volatile uint32_t *)(vp->common + off));
}

/* 64-bit fields as two 32-bit halves: virtio 1.x, 4.1.3.1. */
static uint64_t rd64(const struct virtio_pci *vp, unsigned int off)
{
	return rd32(vp, off) | (uint64_t)rd32(vp, off + 4) << 32;
}

static void wr8(struct virtio_pci *vp, unsigned int off, uint8_t v)
{
	vp->common[off] = v;
}

static void wr16(struct virtio_pci *vp, unsigned int off, uint16_t v)
{
	*(volatile uint16_t *)(vp->common + off) = htole16(v);
}

static void wr32(struct virtio_pci *vp, unsigned int off, uint32_t v)
{
	*(volatile uint32_t *)(vp->common + off) = htole32(v);
}

static void wr64(struct virtio_pci *vp, unsigned int off, uint64_t v)
{
	wr32(vp, off, (uint32_t)v);
	wr32(vp, off + 4, v >> 32);
}

uint8_t virtio_status(const struct virtio_pci *vp)
{
	return rd8(vp, VIRTIO_PCI_COMMON_STATUS);
}

static void add_status(struct virtio_pci *vp, uint8_t bits)
{
	wr8(vp, VIRTIO_PCI_COMMON_STATUS, virtio_status(vp) | bits);
}

/* Writing 0 resets; the device says it is done by reading back 0. */
static int reset(struct virtio_pci *vp)
{
	uint64_t end = now_ms() + 1000;

	wr8(vp, VIRTIO_PCI_COMMON_STATUS, 0);
	while (virtio_status(vp)) {
		if (now_ms() > end)
			return -ENODEV;
		usleep(1000);
	}
	return 0;
}

int virtio_negotiate(struct virtio_pci *vp)
{
	int ret = reset(vp);

	if (ret)
		return ret;
	add_status(vp, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	add_status(vp, VIRTIO_CONFIG_S_DRIVER);
	wr32(vp, VIRTIO_PCI_COMMON_DFSELECT, 0);
	vp->features = rd32(vp, VIRTIO_PCI_COMMON_DF);
	wr32(vp, VIRTIO_PCI_COMMON_DFSELECT, 1);
	vp->features |= (uint64_t)rd32(vp, VIRTIO_PCI_COMMON_DF) << 32;
	/* Without ACCESS_PLATFORM QEMU's DMA would bypass the IOMMU. */
	if ((vp->features & VIRTIO_WANTED) != VIRTIO_WANTED)
		return -ENOTSUP;
	wr32(vp, VIRTIO_PCI_COMMON_GFSELECT, 0);
	wr32(vp, VIRTIO_PCI_COMMON_GF, (uint32_t)VIRTIO_WANTED);
	wr32(vp, VIRTIO_PCI_COMMON_GFSELECT, 1);
	wr32(vp, VIRTIO_PCI_COMMON_GF, VIRTIO_WANTED >> 32);
	add_status(vp, VIRTIO_CONFIG_S_FEATURES_OK);
	/* The device clears FEATURES_OK if it cannot work with them. */
	if (!(virtio_status(vp) & VIRTIO_CONFIG_S_FEATURES_OK))
		return -EPROTO;
	return 0;
}

static struct vring_desc *ring_desc(const struct virtq *vq)
{
	return (struct vring_desc *)(vq->mem + VIRTQ_DESC_OFF);
}

static struct vring_avail *ring_avail(const struct virtq *vq)
{
	return (struct vring_avail *)(vq->mem + VIRTQ_AVAIL_OFF);
}

static struct vring_used *ring_used(const struct virtq *vq)
{
	return (struct vring_used *)(vq->mem + VIRTQ_USED_OFF);
}

/* The device writes used->idx behind the compiler's back. */
static uint16_t used_idx(const struct virtq *vq)
{
	return le16toh(*(volatile uint16_t *)&ring_used(vq)->idx);
}

static void set_doorbell(const struct virtio_pci *vp, struct virtq *vq,
			 uint16_t notify_off)
{
	vq->doorbell = (volatile uint16_t *)(vp->notify +
					     (size_t)notify_off * vp->notify_mult);
}

int virtio_queue_setup(struct virtio_pci *vp, struct virtq *vq, uint16_t index,
		       uint16_t size, uint8_t *mem, uint64_t iova)
{
	uint16_t max;

	if (!size || size > VIRTQ_MAX_SIZE || (size & (size - 1)))
		return -EINVAL;	/* a split ring's size is a power of 2 */
	wr16(vp, VIRTIO_PCI_COMMON_Q_SELECT, index);
	max = rd16(vp, VIRTIO_PCI_COMMON_Q_SIZE);
	if (!max)
		return -ENOENT;
	if (size > max)
		return -E2BIG;
	memset(mem, 0, VIRTQ_MEM_SIZE);
	*vq = (struct virtq){ .index = index, .size = size, .mem = mem,
			      .iova = iova };
	/* Polled: the device need not interrupt for used buffers. */
	ring_avail(vq)->flags = htole16(VRING_AVAIL_F_NO_INTERRUPT);

	wr16(vp, VIRTIO_PCI_COMMON_MSIX, VIRTIO_MSI_NO_VECTOR);
	wr16(vp, VIRTIO_PCI_COMMON_Q_SIZE, size);
	wr16(vp, VIRTIO_PCI_COMMON_Q_MSIX, VIRTIO_MSI_NO_VECTOR);
	wr64(vp, VIRTIO_PCI_COMMON_Q_DESCLO, iova + VIRTQ_DESC_OFF);
	wr64(vp, VIRTIO_PCI_COMMON_Q_AVAILLO, iova + VIRTQ_AVAIL_OFF);
	wr64(vp, VIRTIO_PCI_COMMON_Q_USEDLO, iova + VIRTQ_USED_OFF);
	set_doorbell(vp, vq, rd16(vp, VIRTIO_PCI_COMMON_Q_NOFF));
	wr16(vp, VIRTIO_PCI_COMMON_Q_ENABLE, 1);
	return rd16(vp, VIRTIO_PCI_COMMON_Q_ENABLE) == 1 ? 0 : -EIO;
}

int virtio_driver_ok(struct virtio_pci *vp)
{
	add_status(vp, VIRTIO_CONFIG_S_DRIVER_OK);
	return virtio_status(vp) == VIRTIO_RUNNING ? 0 : -EIO;
}

void virtio_read_queue0(const struct virtio_pci *vp, struct virtq_regs *r)
{
	r->status = virtio_status(vp);
	r->select = rd16(vp, VIRTIO_PCI_COMMON_Q_SELECT);
	r->size = rd16(vp, VIRTIO_PCI_COMMON_Q_SIZE);
	r->enable = rd16(vp, VIRTIO_PCI_COMMON_Q_ENABLE);
	r->notify_off = rd16(vp, VIRTIO_PCI_COMMON_Q_NOFF);
	r->msix = rd16(vp, VIRTIO_PCI_COMMON_Q_MSIX);
	r->desc = rd64(vp, VIRTIO_PCI_COMMON_Q_DESCLO);
	r->driver = rd64(vp, VIRTIO_PCI_COMMON_Q_AVAILLO);
	r->device = rd64(vp, VIRTIO_PCI_COMMON_Q_USEDLO);
}

int virtio_attach(struct virtio_pci *vp, struct virtq *vq, uint16_t size,
		  uint8_t *mem, uint64_t iova)
{
	struct virtq_regs r;

	virtio_read_queue0(vp, &r);
	if ((r.status & (VIRTIO_RUNNING | VIRTIO_BROKEN)) != VIRTIO_RUNNING ||
	    r.select != 0 || r.enable != 1 || r.size != size ||
	    r.desc != iova + VIRTQ_DESC_OFF || r.driver != iova + VIRTQ_AVAIL_OFF ||
	    r.device != iova + VIRTQ_USED_OFF)
		return -ESTALE;
	*vq = (struct virtq){ .index = 0, .size = size, .mem = mem, .iova = iova };
	set_doorbell(vp, vq, r.notify_off);
	/* A request still in flight would be mistaken for the next one. */
	vq->last_used = used_idx(vq);
	if (vq->last_used != le16toh(ring_avail(vq)->idx))
		return -ESTALE;
	return 0;
}

uint16_t virtq_post_in(struct virtq *vq, uint64_t buf_iova, uint32_t len)
{
	struct vring_avail *avail = ring_avail(vq);
	uint16_t idx = le16toh(avail->idx);
	uint16_t head = idx & (vq->size - 1);
	struct vring_desc *d = &ring_desc(vq)[head];

	/* One descriptor per request: slot @head is free once it was used. */
	d->addr = htole64(buf_iova);
	d->len = htole32(len);
	d->flags = htole16(VRING_DESC_F_WRITE);
	d->next = 0;
	avail->ring[head] = htole16(head);
	/* The device must see the entry before the index that publishes it. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	avail->idx = htole16(idx + 1);
	return head;
}

void virtq_notify(struct virtq *vq)
{
	/* The index must be visible before the device looks for it. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	*vq->doorbell = htole16(vq->index);
}

bool virtq_wait_used(struct virtq *vq, int ms, uint32_t *id, uint32_t *len)
{
	uint64_t end = now_ms() + ms;
	struct vring_used_elem *e;

	while (used_idx(vq) == vq->last_used) {
		if (now_ms() > end)
			return false;
		usleep(1000);
	}
	/* Read the element only after the index that published it. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	e = &ring_used(vq)->ring[vq->last_used & (vq->size - 1)];
	*id = le32toh(e->id);
	*len = le32toh(e->len);
	vq->last_used++;
	return true;
}
