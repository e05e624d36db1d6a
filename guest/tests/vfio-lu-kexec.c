// SPDX-License-Identifier: GPL-2.0
/*
 * vfio-lu-kexec: the cdev of the edu behind the PCIe root port is
 * preserved in a LUO session and the guest kexecs. Stage 2 finds the same
 * device adopted, not reset: its BARs, the root port's bus numbers and
 * ACS control are bit-identical, its command register only lost bus
 * mastering (the freeze quiesces DMA until the IOMMU state is preserved
 * too). The ACS control of the root port is one Linux would have changed
 * (stage 1 takes Upstream Forwarding out), so keeping it shows that the
 * new kernel adopted it. The MSI address written in stage 1 (MSI off) still holds its
 * value: a device reset clears it and nothing in Linux restores it, which
 * the last check confirms with VFIO_DEVICE_RESET.
 * Until the session finishes the cdev cannot be opened by path and finish
 * refuses; after retrieval, a fresh iommufd and finish, DMA works again.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <linux/vfio.h>

#include "edu.h"
#include "ktap.h"
#include "luo.h"
#include "util.h"
#include "vfio.h"

#define SESSION		"vfio-lu-kexec"
#define TOKEN_STATE	1
#define TOKEN_VFIO	2
#define EDU_BDF		"0000:01:00.0"
#define PORT_BDF	"0000:00:05.0"
#define IOVA		0x100000ULL
#define MSI_MARK	0xfee0f000u	/* an MSI address, MSI stays off */
#define ACS_UF		0x0010		/* Upstream Forwarding */
#define PCI_EXT_CAP_ACS	0x0d
#define PCI_CAP_MSI	0x05

struct config {
	uint16_t command;
	uint8_t bars[24];
	uint8_t port_buses[3];
	uint16_t port_acs;
	uint32_t msi_addr;
};

struct state {
	uint64_t magic;
	struct config before;
};
#define STATE_MAGIC	0x7666696f6c756b78ULL


/* Offset of the edu's MSI Message Address register, or 0. */
static unsigned int msi_addr_off(void)
{
	uint8_t pos = 0, hdr[2];

	if (pci_config_read(EDU_BDF, 0x34, &pos, 1))
		return 0;
	while (pos && !pci_config_read(EDU_BDF, pos, hdr, 2)) {
		if (hdr[0] == PCI_CAP_MSI)
			return pos + 4;
		pos = hdr[1];
	}
	return 0;
}

static uint32_t msi_addr(void)
{
	uint32_t v = 0;

	pci_config_read(EDU_BDF, msi_addr_off(), &v, 4);
	return v;
}

/* Where the root port's ACS Control register is, or 0. */
static unsigned int acs_ctrl_off(const char *bdf)
{
	unsigned int off = 0x100;
	uint32_t hdr;

	while (off && !pci_config_read(bdf, off, &hdr, 4)) {
		if ((hdr & 0xffff) == PCI_EXT_CAP_ACS)
			return off + 6;
		off = hdr >> 20;
	}
	return 0;
}

static int acs_ctrl(const char *bdf, uint16_t *ctrl)
{
	unsigned int off = acs_ctrl_off(bdf);

	return off ? pci_config_read(bdf, off, ctrl, 2) : -ENOENT;
}

static int read_config(struct config *c)
{
	memset(c, 0, sizeof(*c));
	if (pci_config_read(EDU_BDF, 0x04, &c->command, 2) ||
	    pci_config_read(EDU_BDF, 0x10, c->bars, sizeof(c->bars)) ||
	    pci_config_read(PORT_BDF, 0x18, c->port_buses, 3))
		return -EIO;
	return acs_ctrl(PORT_BDF, &c->port_acs);
}

static bool dma_works(struct vdev *v, const char *when)
{
	return ktap_check(edu_roundtrip(v, IOVA, 3),
			  "%s: DMA through the IOMMU copies %u bytes", when,
			  EDU_BUF_SIZE);
}

static void stage1(void)
{
	struct state *st;
	struct vdev v;
	int luo, session, stfd, ret;
	uint16_t acs = 0;

	ktap_begin("vfio-lu-kexec", 1, 7);
	ret = vdev_open(&v, EDU_BDF);
	CHECK_OR_BAIL(!ret, "edu %s opened through its cdev and iommufd (%s: %d)",
		      EDU_BDF, v.failed_step ? v.failed_step : "ok", ret);
	dma_works(&v, "before the update");

	CHECK_OR_BAIL(msi_addr_off() &&
		      !pci_config_write(EDU_BDF, msi_addr_off(), &(uint32_t){ MSI_MARK }, 4) &&
		      msi_addr() == MSI_MARK,
		      "MSI address of the edu (MSI disabled) set to %#x", MSI_MARK);
	stfd = memfd_sealed("state", 4096);
	st = stfd >= 0 ? map_shared(stfd, 4096) : NULL;
	/*
	 * Take Upstream Forwarding out of the root port's ACS Control, which
	 * Linux would set again: the next kernel must adopt what it finds.
	 */
	ret = acs_ctrl(PORT_BDF, &acs);
	acs &= ~ACS_UF;
	CHECK_OR_BAIL(!ret && acs_ctrl_off(PORT_BDF) &&
		      !pci_config_write(PORT_BDF, acs_ctrl_off(PORT_BDF), &acs, 2),
		      "root port ACS control set to %#06x (no Upstream Forwarding)", acs);
	ret = st ? read_config(&st->before) : -ENOMEM;
	CHECK_OR_BAIL(!ret,
		      "config recorded: command %#06x, root port buses %02x-%02x, ACS control %#06x",
		      st ? st->before.command : 0, st ? st->before.port_buses[1] : 0,
		      st ? st->before.port_buses[2] : 0, st ? st->before.port_acs : 0);
	st->before.msi_addr = msi_addr();
	st->magic = STATE_MAGIC;

	luo = luo_open();
	session = luo >= 0 ? luo_create_session(luo, SESSION) : -1;
	ret = session >= 0 ? luo_preserve_fd(session, stfd, TOKEN_STATE) : -1;
	if (!ret)
		ret = luo_preserve_fd(session, v.cdev, TOKEN_VFIO);
	CHECK_OR_BAIL(!ret, "state memfd and vfio cdev preserved in session %s (%d)",
		      SESSION, ret);
	CHECK_OR_BAIL(!kexec_load_next(2), "next kernel loaded");
	ktap_info("kexec now");
	ret = kexec_reboot();
	ktap_bail("kexec returned %d", ret);
}

static void stage2(void)
{
	struct config after;
	struct state *st;
	struct vdev v;
	int luo, session, stfd, fd, ret;
	bool same;

	ktap_begin("vfio-lu-kexec", 2, 16);
	ktap_check(kmsg_count("pci " EDU_BDF ": live update: preserved by the previous kernel") == 1 &&
		   kmsg_count("pci " PORT_BDF ": live update: on the path") == 1,
		   "the PCI core adopted the edu and the root port above it");

	CHECK_OR_BAIL(!pci_bind(EDU_BDF, "vfio-pci"), "vfio-pci bound to %s", EDU_BDF);
	fd = vfio_cdev_open(EDU_BDF);
	ktap_check(fd == -EBUSY, "opening the cdev by path fails with EBUSY (%d)", fd);
	if (fd >= 0)
		close(fd);

	luo = luo_open();
	session = luo >= 0 ? luo_retrieve_session(luo, SESSION) : -1;
	stfd = session >= 0 ? luo_retrieve_fd(session, TOKEN_STATE) : -1;
	st = stfd >= 0 ? map_shared(stfd, 4096) : NULL;
	CHECK_OR_BAIL(st && st->magic == STATE_MAGIC, "session and state retrieved");

	ret = luo_finish(session);
	ktap_check(ret == -EBUSY, "finish before the device is retrieved fails with EBUSY (%d)",
		   ret);

	CHECK_OR_BAIL(!read_config(&after), "config read after the kexec");
	same = !memcmp(after.bars, st->before.bars, sizeof(after.bars));
	ktap_check(same, "BARs are bit-identical");
	ktap_check(!memcmp(after.port_buses, st->before.port_buses, 3) &&
		   after.port_acs == st->before.port_acs,
		   "root port bus numbers %02x-%02x and ACS control %#06x are bit-identical",
		   after.port_buses[1], after.port_buses[2], after.port_acs);
	ktap_check(after.command == (st->before.command & ~0x4),
		   "command register %#06x is as before (%#06x) minus bus mastering",
		   after.command, st->before.command);

	fd = luo_retrieve_fd(session, TOKEN_VFIO);
	CHECK_OR_BAIL(fd >= 0, "vfio cdev retrieved from the session (%d)", fd);
	ret = vdev_adopt(&v, EDU_BDF, fd);
	CHECK_OR_BAIL(!ret, "retrieved cdev bound to a fresh iommufd and attached (%s: %d)",
		      v.failed_step ? v.failed_step : "ok", ret);
	ktap_check(msi_addr() == st->before.msi_addr,
		   "MSI address written before the kexec still reads %#x: no reset",
		   msi_addr());

	ret = luo_finish(session);
	ktap_check(!ret, "session finished (%d)", ret);
	fd = vfio_cdev_open(EDU_BDF);
	ktap_check(fd >= 0, "after finish the cdev opens by path again (%d)", fd);
	if (fd >= 0)
		close(fd);

	ret = vdev_config_write(&v, 0x04, &(uint16_t){ after.command | 0x4 }, 2);
	dma_works(&v, "after the update");

	/* The no-reset check above must be able to fail: a reset clears it. */
	ret = ioctl(v.cdev, VFIO_DEVICE_RESET) ? -errno : 0;
	ktap_check(!ret && msi_addr() != st->before.msi_addr,
		   "VFIO_DEVICE_RESET (%d) does clear that register (now %#x)", ret,
		   msi_addr());
	vdev_close(&v);
	ktap_finish();
}

int main(void)
{
	if (lutest_stage() == 1)
		stage1();
	stage2();
	return 0;
}
