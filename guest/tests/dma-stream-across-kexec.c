// SPDX-License-Identifier: GPL-2.0
/*
 * dma-stream-across-kexec: two devices that keep writing on their own
 * through the whole handover, from before the freeze until the VMM has
 * retrieved everything in the new kernel. The devices are QEMU's AC97
 * sound cards (tests.list: device=AC97, one on the root bus and one behind
 * a PCIe root port of its own, their audio backend "none"): the PCM-in DMA
 * engine of each captures silence in real time into a list of 32 buffers
 * in guest RAM, one small write every 2 ms, with no driver action until
 * the list is used up (about a minute at 8 kHz).
 *
 * Stage 1 assigns both the way a VMM does (vfio cdevs, one iommufd, an
 * IOAS mapping the RAM memfd, one paging HWPT for both), fills the buffers
 * and the guard pages after them with 0xaa, writes each card's buffer
 * descriptor list into RAM and starts its engine. Once silence (zeros)
 * arrives in each card's first buffer it marks the HWPT, preserves RAM,
 * state, iommufd and cdevs, announces each stream to the host and kexecs
 * without stopping the engines.
 *
 * Stage 2 retrieves the session, both memfds, the iommufd and the cdevs,
 * marks QEMU's trace, lets the engines run 300 ms more, stops them, marks
 * the trace again and checks, for each card: its engine went on through
 * the kexec (its position is past where stage 1 left it, and it never ran
 * out of buffers); every buffer before the position is written in full,
 * the current one up to the position and none after it (the engine writes
 * its buffers in order, so this is what an unbroken stream leaves); every
 * guard page and its descriptor list are as stage 1 left them. The rest of
 * RAM too. DMAR faults fail the run (verdict.sh).
 *
 * The host (verdict.sh, "# expect-stream", one per card) splits QEMU's
 * trace into the phases of the handover and requires translated writes of
 * each card into its buffers in each: after the old kernel's freeze
 * (vfio-pci's freeze disables the card's INTx: its command register
 * write), after its shutdown flushes (its last invalidation), between the
 * new kernel's first VT-d register access (the capability read) and its
 * queued invalidation enable, from then to the retrieve, and after it.
 *
 * "switch" (dma-stream-behind-switch): the second card sits below a PCIe
 * switch (root port, x3130-upstream, xio3130-downstream, tests.list)
 * whose downstream port has no ACS, so the port shares the card's IOMMU
 * group: a group with PCIe ports besides the device is preserved. The
 * next kernel boots with pci=assign-busses, under which Linux would
 * renumber the buses itself; stage 2 also checks that the bus numbers,
 * ACS control and Link Control of every port on the card's path are as
 * at the kexec (and verdict.sh that none was written to retrain the link,
 * "# expect-link-kept").
 *
 * "switch-removed" (dma-stream-switch-removed): as "switch", but stage 2
 * retrieves only the memfds, stops both engines and hot-removes the card
 * below the switch: the restore's claim on the card's group is forgotten
 * with the card (one line), the downstream port left in the group goes
 * back to its default domain; the card on the root bus is removed too. A rescan finds both
 * again while the session is open, still preserved and bus mastering: the
 * one below the switch may not join the port's group on that domain, so
 * its IOMMU probe fails (one line, no IOMMU group); the other, alone in a
 * new group, has no record left to restore: the group is blocked and kept
 * by the kernel (one line). Then the switch is removed, with no WARNING
 * (an emptied group must not be on another domain or owned), and the
 * session finishes; vfio-pci, which held the rescanned card for it, gives
 * it up without a reset, and a fresh iommufd still cannot have it.
 *
 * "switch-shared" (dma-stream-switch-shared, one boot): a second function
 * of the card below the switch (multi-function, no ACS) shares its group,
 * so the preserve of that card's cdev must fail with EOPNOTSUPP and one
 * log line.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/pci_regs.h>

#include "ktap.h"
#include "luo.h"
#include "util.h"
#include "vfio.h"
#include "vm.h"
#include "vtd.h"

#define TOKEN_IOMMUFD	3
#define TOKEN_CDEV	4		/* and 5 for the second card */
#define HWPT_TOKEN	0x73747265ULL

#define NR_CARDS	2
/* tests.list: one on the root bus (addr=0xa), one behind root port 00:0b.0 */
#define AC97		"0000:00:0a.0"
#define AC97_VENDOR	0x8086
#define AC97_DEVICE	0x2415

/* Mixer (BAR0, I/O ports) */
#define NAM_RESET	0x00
#define NAM_EXT_ID	0x28		/* extended audio ID */
#define NAM_EXT_CTRL	0x2a		/* extended audio status and control */
#define NAM_EXT_VRA	0x0001		/* variable rate audio */
#define NAM_ADC_RATE	0x32		/* PCM-in sample rate */
/* Bus master engine (BAR1, I/O ports): PCM in, and global control */
#define PI_BDBAR	0x00		/* descriptor list address (32 bits) */
#define PI_CIV		0x04		/* current descriptor */
#define PI_LVI		0x05		/* last valid descriptor */
#define PI_SR		0x06		/* status */
#define PI_PICB		0x08		/* samples left in the current one */
#define PI_CR		0x0b		/* control */
#define CR_RPBM		0x01		/* run */
#define CR_RR		0x02		/* reset the engine's registers */
#define SR_DCH		0x01		/* halted */
#define SR_LVBCI	0x04		/* the last valid descriptor is done */
#define GLOB_CNT	0x2c

#define RATE		8000		/* Hz; 16-bit stereo: 32000 B/s */
#define NR_BUFS		32		/* the engine's ring */
#define BUF_SAMPLES	0x8000		/* 16-bit samples per buffer */
#define BUF_LEN		(BUF_SAMPLES * 2UL)
#define BUF_STRIDE	(BUF_LEN + 0x1000UL)	/* a guard page after each */
#define BUFS_LEN	(NR_BUFS * BUF_STRIDE)
/* Card k: its descriptor list in page k, its buffers from BUFS_OFF(k) */
#define BDL_OFF(k)	((k) * 0x1000UL)
#define BUFS_OFF(k)	(0x2000UL + (k) * BUFS_LEN)
#define RAM_SIZE	(8UL << 20)
#define IOVA		0x1000000UL
#define FILL		0xaa
#define BD_IOC		(1U << 31)

/* QEMU trace marks (verdict.sh: "# expect-stream") */
#define MARK_KEXEC	0x60		/* just before reboot() */
#define MARK_RETRIEVED	0x61		/* everything retrieved */
#define MARK_STOPPED	0x62		/* the engine stopped */

struct bd {
	uint32_t addr;
	uint32_t ctl_len;		/* samples, IOC */
};

/* A PCIe port on the second card's path, as stage 1 left it. */
struct port {
	char bdf[16];
	uint8_t buses[4];	/* primary, secondary, subordinate, latency */
	uint16_t acs_ctrl;	/* 0 without ACS */
	struct pcie_ctl ctl;
};
#define MAX_PORTS	4

/* What stage 1 saw, for stage 2; in a memfd preserved with the RAM. */
struct state {
	uint64_t magic;
	char bdf[NR_CARDS][32];
	uint64_t written_at_kexec[NR_CARDS];	/* bytes, just before reboot() */
	unsigned int nr_ports;
	struct port ports[MAX_PORTS];
};

static const char *name = "dma-stream-across-kexec";
static bool behind_switch, switch_shared, switch_removed;
#define STATE_MAGIC	0x73747265616d3032ULL

/* A card's I/O port BARs (mixer, bus master), through sysfs. */
struct card {
	const char *bdf;
	int bar_fd[2];
};

/* Through sysfs: the retrieved cdev takes no access until it is bound. */
static bool open_bars(struct card *c, const char *bdf)
{
	char path[96];
	int i;

	c->bdf = bdf;
	for (i = 0; i < 2; i++) {
		snprintf(path, sizeof(path),
			 "/sys/bus/pci/devices/%s/resource%d", bdf, i);
		c->bar_fd[i] = open(path, O_RDWR | O_CLOEXEC);
		if (c->bar_fd[i] < 0)
			return false;
	}
	return true;
}

static uint32_t io_read(const struct card *c, int bar, unsigned int off,
			size_t size)
{
	uint32_t v = 0;

	if (pread(c->bar_fd[bar], &v, size, off) != (ssize_t)size)
		return ~0U;
	return v;
}

static bool io_write(const struct card *c, int bar, unsigned int off,
		     uint32_t v, size_t size)
{
	return pwrite(c->bar_fd[bar], &v, size, off) == (ssize_t)size;
}

/* Bytes the engine wrote, from its current descriptor and what is left. */
static uint64_t engine_written(const struct card *c, uint8_t *civ,
			       uint16_t *picb, uint16_t *sr)
{
	*civ = io_read(c, 1, PI_CIV, 1) % NR_BUFS;
	*picb = io_read(c, 1, PI_PICB, 2);
	*sr = io_read(c, 1, PI_SR, 2);
	if (*sr & SR_LVBCI)
		return NR_BUFS * BUF_LEN;
	return *civ * BUF_LEN + (BUF_SAMPLES - *picb) * 2UL;
}

/*
 * Cold reset, 8 kHz capture, the descriptor list of card @k at
 * IOVA + BDL_OFF(k) (each buffer's IOVA, length and IOC), every
 * descriptor valid, then run.
 */
static bool start_capture(const struct card *c, uint8_t *ram, unsigned int k)
{
	struct bd *bdl = (struct bd *)(ram + BDL_OFF(k));
	unsigned int i;

	for (i = 0; i < NR_BUFS; i++) {
		bdl[i].addr = IOVA + BUFS_OFF(k) + i * BUF_STRIDE;
		bdl[i].ctl_len = BD_IOC | BUF_SAMPLES;
	}
	if (!io_write(c, 1, GLOB_CNT, 0x2, 4) ||
	    !io_write(c, 0, NAM_RESET, 0, 2) ||
	    !(io_read(c, 0, NAM_EXT_ID, 2) & NAM_EXT_VRA) ||
	    !io_write(c, 0, NAM_EXT_CTRL, NAM_EXT_VRA, 2) ||
	    !io_write(c, 0, NAM_ADC_RATE, RATE, 2) ||
	    io_read(c, 0, NAM_ADC_RATE, 2) != RATE ||
	    !io_write(c, 1, PI_CR, CR_RR, 1) ||
	    !io_write(c, 1, PI_BDBAR, IOVA + BDL_OFF(k), 4) ||
	    !io_write(c, 1, PI_LVI, NR_BUFS - 1, 1))
		return false;
	return io_write(c, 1, PI_CR, CR_RPBM, 1);
}

/* Wait up to @ms for the first bytes of silence in card @k's first buffer. */
static bool first_silence(const uint8_t *ram, unsigned int k, int ms)
{
	const volatile uint8_t *buf = ram + BUFS_OFF(k);
	uint64_t end = now_ms() + ms;

	while (now_ms() < end) {
		if (!buf[0] && !buf[1] && !buf[2] && !buf[3])
			return true;
		usleep(10000);
	}
	return false;
}

static bool io_enabled(struct vdev *v)
{
	uint16_t cmd;

	if (vdev_config_read(v, PCI_COMMAND, &cmd, sizeof(cmd)))
		return false;
	cmd |= PCI_COMMAND_IO | PCI_COMMAND_MASTER;
	return !vdev_config_write(v, PCI_COMMAND, &cmd, sizeof(cmd));
}

/* The cards: the one on the root bus, then the other AC97. */
static bool find_cards(struct state *s)
{
	char bdf[32];
	int i, k = 1;

	snprintf(s->bdf[0], sizeof(s->bdf[0]), "%s", AC97);
	for (i = 0; k < NR_CARDS &&
	     !pci_find(AC97_VENDOR, AC97_DEVICE, i, bdf, sizeof(bdf)); i++)
		if (strcmp(bdf, AC97))
			snprintf(s->bdf[k++], sizeof(s->bdf[0]), "%s", bdf);
	return k == NR_CARDS;
}

/*
 * Card @k assigned like a VMM's device: the first with a fresh iommufd,
 * IOAS and HWPT mapping all of RAM, the others attached to that HWPT.
 */
static bool assign(struct vdev *v, const char *bdf, const struct vdev *first,
		   int ram_fd)
{
	int ret = first ? vdev_open_shared(v, bdf, first) : vdev_open(v, bdf);

	if (ret) {
		ktap_info("%s: %s failed: %s", bdf, v->failed_step,
			  strerror(-ret));
		return false;
	}
	return io_enabled(v) &&
	       (first || !vdev_map_file(v, ram_fd, 0, RAM_SIZE, IOVA));
}

/* "0000:08:00.0" as QEMU's trace names the device: "08:00.0". */
static const char *qemu_addr(const char *bdf)
{
	return strchr(bdf, ':') + 1;
}

/*
 * The bridges above @bdf, nearest first, from its sysfs path
 * (/sys/devices/pci0000:00/0000:00:0b.0/0000:08:00.0/.../@bdf).
 */
static unsigned int path_ports(const char *bdf, struct port *ports)
{
	char link[96], path[PATH_MAX], *p;
	unsigned int n = 0;

	snprintf(link, sizeof(link), "/sys/bus/pci/devices/%s", bdf);
	if (!realpath(link, path))
		return 0;
	*strrchr(path, '/') = 0;
	while (n < MAX_PORTS && (p = strrchr(path, '/')) && strlen(p + 1) == 12 &&
	       p[1] != 'p') {
		snprintf(ports[n++].bdf, sizeof(ports->bdf), "%s", p + 1);
		*p = 0;
	}
	return n;
}

/* Bus numbers, ACS control and the PCI Express controls of @p. */
static bool port_read(struct port *p)
{
	int acs = pci_ext_cap(p->bdf, PCI_EXT_CAP_ID_ACS);

	p->acs_ctrl = 0;
	return !pci_config_read(p->bdf, PCI_PRIMARY_BUS, p->buses, 4) &&
	       acs >= 0 &&
	       (!acs || !pci_config_read(p->bdf, acs + PCI_ACS_CTRL,
					 &p->acs_ctrl, 2)) &&
	       !pcie_ctl_read(p->bdf, &p->ctl);
}

/* Every port on the path as stage 1 recorded it; logs each that is not. */
static bool ports_kept(const struct state *s)
{
	unsigned int i;
	bool ok = true;

	for (i = 0; i < s->nr_ports; i++) {
		const struct port *was = &s->ports[i];
		struct port now = *was;

		if (!port_read(&now) || memcmp(now.buses, was->buses, 4) ||
		    now.acs_ctrl != was->acs_ctrl ||
		    now.ctl.lnkctl != was->ctl.lnkctl) {
			ktap_info("%s: buses %02x/%02x/%02x ACS 0x%04x LNKCTL 0x%04x, at kexec %02x/%02x/%02x 0x%04x 0x%04x",
				  was->bdf, now.buses[0], now.buses[1],
				  now.buses[2], now.acs_ctrl, now.ctl.lnkctl,
				  was->buses[0], was->buses[1], was->buses[2],
				  was->acs_ctrl, was->ctl.lnkctl);
			ok = false;
		}
	}
	return ok;
}

/*
 * switch-shared: the second card shares its group with another function,
 * so its cdev may not be preserved (vfio-pci refuses it before the IOMMU
 * core's own check); the iommufd and the first card's cdev may.
 */
static void refused_shared(struct lu_vm *vm, struct vdev *v)
{
	int ret;

	ret = luo_preserve_fd(vm->session, v[0].iommufd, TOKEN_IOMMUFD) ?:
	      luo_preserve_fd(vm->session, v[0].cdev, TOKEN_CDEV);
	ktap_check(!ret, "iommufd and the first card's cdev preserved: %s",
		   ret ? strerror(-ret) : "ok");
	ret = luo_preserve_fd(vm->session, v[1].cdev, TOKEN_CDEV + 1);
	ktap_check(ret == -EOPNOTSUPP &&
		   kmsg_count_with("shares its IOMMU group with 1 other device(s) that are not PCIe ports",
				   v[1].bdf) == 1,
		   "preserving the second card's cdev fails with EOPNOTSUPP (%s), one line: another device that is not a PCIe port in its group",
		   strerror(-ret));
	ktap_finish();
}

static void stage1(void)
{
	struct card c[NR_CARDS];
	struct vdev v[NR_CARDS];
	uint16_t picb, sr;
	struct lu_vm vm;
	struct state *s;
	unsigned int k;
	uint8_t civ;
	int ret = 0;
	bool ok;

	ktap_begin(name, 1, switch_shared ? 7 : behind_switch ? 8 : 7);
	ok = !lu_vm_create(&vm, name, RAM_SIZE, sizeof(*s));
	s = vm.state;
	CHECK_OR_BAIL(ok, "LUO session, guest RAM memfd (%lu KiB, sealed) and state memfd",
		      RAM_SIZE >> 10);
	s->magic = STATE_MAGIC;
	memset(vm.ram, FILL, RAM_SIZE);

	ok = find_cards(s);
	for (k = 0; ok && k < NR_CARDS; k++)
		ok = assign(&v[k], s->bdf[k], k ? &v[0] : NULL, vm.ram_fd) &&
		     open_bars(&c[k], s->bdf[k]);
	CHECK_OR_BAIL(ok, "AC97 %s and %s assigned, one HWPT, I/O and bus mastering on, RAM mapped at IOVA 0x%lx",
		      s->bdf[0], s->bdf[1], IOVA);

	for (k = 0; ok && k < NR_CARDS; k++)
		ok = start_capture(&c[k], vm.ram, k);
	for (k = 0; ok && k < NR_CARDS; k++)
		ok = first_silence(vm.ram, k, 5000);
	CHECK_OR_BAIL(ok, "each captures silence at %d Hz into %d buffers of %lu bytes: its first bytes landed",
		      RATE, NR_BUFS, BUF_LEN);

	CHECK_OR_BAIL(!vdev_mark_hwpt(&v[0], HWPT_TOKEN),
		      "HWPT %u marked", v[0].hwpt);
	CHECK_OR_BAIL(!lu_vm_preserve_memfds(&vm), "RAM and state memfds preserved");
	if (switch_shared)
		refused_shared(&vm, v);
	if (behind_switch) {
		s->nr_ports = path_ports(s->bdf[1], s->ports);
		for (k = 0, ok = s->nr_ports >= 3; ok && k < s->nr_ports; k++)
			ok = port_read(&s->ports[k]);
		CHECK_OR_BAIL(ok, "%u ports above %s read (bus numbers, ACS, Link Control)",
			      s->nr_ports, s->bdf[1]);
	}
	ret = luo_preserve_fd(vm.session, v[0].iommufd, TOKEN_IOMMUFD);
	for (k = 0; !ret && k < NR_CARDS; k++)
		ret = luo_preserve_fd(vm.session, v[k].cdev, TOKEN_CDEV + k);
	CHECK_OR_BAIL(!ret, "iommufd and both vfio cdevs preserved: %s",
		      ret ? strerror(-ret) : "ok");
	/* Under assign-busses Linux would renumber the switch's buses itself. */
	CHECK_OR_BAIL(!kexec_load_next_args(2, behind_switch ? "pci=assign-busses" : NULL),
		      "next kernel loaded%s",
		      behind_switch ? ", with pci=assign-busses" : "");

	/* verdict.sh: writes into the buffers in every phase of the handover */
	printf("# expect-translation-never-off\n");
	printf("# expect-root-kept\n");
	for (k = 0; !switch_removed && k < NR_CARDS; k++)
		printf("# expect-stream 0x%x 0x%x 0x%x %s 0x%x 0x%lx 0x%lx\n",
		       MARK_KEXEC, MARK_RETRIEVED, MARK_STOPPED,
		       qemu_addr(s->bdf[k]), vtd_source_id(s->bdf[k]),
		       IOVA + BUFS_OFF(k), BUFS_LEN);
	for (k = 0; !switch_removed && k < s->nr_ports; k++)
		printf("# expect-link-kept 0x%x %s 0x%x 0x%x\n", MARK_STOPPED,
		       qemu_addr(s->ports[k].bdf), s->ports[k].ctl.cap,
		       s->ports[k].ctl.lnkctl);
	fflush(stdout);
	for (k = 0; k < NR_CARDS; k++)
		s->written_at_kexec[k] = engine_written(&c[k], &civ, &picb, &sr);
	qemu_trace_mark(MARK_KEXEC);
	kexec_reboot();
	ktap_bail("reboot(KEXEC) returned: %s", strerror(errno));
}

/* The first byte of @len at @p that is not @v, or -1. */
static long first_not(const uint8_t *p, size_t len, uint8_t v)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != v)
			return i;
	return -1;
}

/*
 * Buffer by buffer of card @k: written (zeros) up to @written bytes of
 * its stream, untouched (FILL) after; every guard page untouched.
 */
static bool buffers_ok(const uint8_t *ram, unsigned int k, uint64_t written)
{
	uint64_t done, at = 0;
	long bad = -1;
	unsigned int i;

	for (i = 0; i < NR_BUFS && bad < 0; i++) {
		const uint8_t *buf = ram + BUFS_OFF(k) + i * BUF_STRIDE;

		done = written > at ? written - at : 0;
		if (done > BUF_LEN)
			done = BUF_LEN;
		bad = first_not(buf, done, 0);
		if (bad < 0 && (bad = first_not(buf + done, BUF_LEN - done, FILL)) >= 0)
			bad += done;
		if (bad < 0 && (bad = first_not(buf + BUF_LEN, BUF_STRIDE - BUF_LEN, FILL)) >= 0)
			bad += BUF_LEN;
		if (bad >= 0)
			ktap_info("card %u, buffer %u: byte 0x%lx is 0x%02x (written up to 0x%" PRIx64 ")",
				  k, i, bad, buf[bad], done);
		at += BUF_LEN;
	}
	return bad < 0;
}

/* Card @k's descriptor list as stage 1 wrote it, the rest of its page FILL. */
static bool bdl_ok(const uint8_t *ram, unsigned int k)
{
	const struct bd *bdl = (const struct bd *)(ram + BDL_OFF(k));
	size_t len = NR_BUFS * sizeof(*bdl);
	unsigned int i;

	for (i = 0; i < NR_BUFS; i++)
		if (bdl[i].addr != IOVA + BUFS_OFF(k) + i * BUF_STRIDE ||
		    bdl[i].ctl_len != (BD_IOC | BUF_SAMPLES))
			return false;
	return first_not(ram + BDL_OFF(k) + len, 0x1000 - len, FILL) < 0;
}

static void stage2(void)
{
	uint64_t written[NR_CARDS];
	struct card c[NR_CARDS];
	int iommufd, cdev = 0;
	uint16_t picb, sr;
	struct lu_vm vm;
	struct state *s;
	unsigned int k;
	bool ok = true;
	uint8_t civ;

	ktap_begin(name, 2, behind_switch ? 8 : 7);
	ok = !lu_vm_retrieve(&vm, name, RAM_SIZE, sizeof(*s));
	s = vm.state;
	CHECK_OR_BAIL(ok && s->magic == STATE_MAGIC,
		      "session, RAM and state memfds retrieved");
	iommufd = luo_retrieve_fd(vm.session, TOKEN_IOMMUFD);
	for (k = 0; cdev >= 0 && k < NR_CARDS; k++)
		cdev = luo_retrieve_fd(vm.session, TOKEN_CDEV + k);
	CHECK_OR_BAIL(iommufd >= 0 && cdev >= 0,
		      "iommufd and both vfio cdevs retrieved: %s, %s",
		      iommufd < 0 ? strerror(-iommufd) : "ok",
		      cdev < 0 ? strerror(-cdev) : "ok");
	qemu_trace_mark(MARK_RETRIEVED);

	usleep(300000);
	for (k = 0; ok && k < NR_CARDS; k++)
		ok = open_bars(&c[k], s->bdf[k]) &&
		     io_write(&c[k], 1, PI_CR, 0, 1);
	CHECK_OR_BAIL(ok, "capture stopped 300 ms after the retrieve");
	qemu_trace_mark(MARK_STOPPED);

	for (k = 0; k < NR_CARDS; k++) {
		written[k] = engine_written(&c[k], &civ, &picb, &sr);
		ktap_info("%s: engine at descriptor %u, %u samples left, status 0x%x: %" PRIu64 " bytes written (%" PRIu64 " at the kexec)",
			  s->bdf[k], civ, picb, sr, written[k],
			  s->written_at_kexec[k]);
		ok = ok && written[k] > s->written_at_kexec[k] &&
		     !(sr & SR_LVBCI);
	}
	ktap_check(ok, "each engine's position moved on from where it was at reboot() and it did not run out of buffers");
	for (k = 0, ok = true; k < NR_CARDS; k++)
		ok = buffers_ok(vm.ram, k, written[k]) && ok;
	ktap_check(ok, "each card's buffers written (silence) exactly up to its engine's position and not beyond, every guard page untouched");
	for (k = 0, ok = true; k < NR_CARDS; k++)
		ok = ok && bdl_ok(vm.ram, k);
	ktap_check(ok, "each card's descriptor list is as stage 1 wrote it");
	ktap_check(first_not(vm.ram + BUFS_OFF(NR_CARDS),
			     RAM_SIZE - BUFS_OFF(NR_CARDS), FILL) < 0,
		   "the rest of RAM is as stage 1 left it");
	if (behind_switch)
		ktap_check(ports_kept(s), "bus numbers, ACS control and Link Control of the %u ports above %s as at the kexec, under pci=assign-busses",
			   s->nr_ports, s->bdf[1]);
	ktap_finish();
}

/* Hot-removes @bdf through sysfs. */
static bool pci_remove(const char *bdf)
{
	char path[96];

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/remove", bdf);
	return !write_file(path, "1");
}

/*
 * switch-removed: both cards go and come back with a rescan, then the
 * switch goes, before anything but the memfds is retrieved; the session
 * still finishes.
 */
static void stage2_removed(void)
{
	const char *forgotten = "live update: removed before it was taken over";
	const char *joins = "it joins an IOMMU group that has a domain already: not probed";
	const char *used = "its IOMMU record used already: blocking its DMA";
	char path[96];
	struct card c[NR_CARDS];
	struct lu_vm vm;
	struct state *s;
	struct vdev v;
	unsigned int k;
	int ret, warns;
	bool ok;

	ktap_begin(name, 2, 9);
	ok = !lu_vm_retrieve(&vm, name, RAM_SIZE, sizeof(*s));
	s = vm.state;
	CHECK_OR_BAIL(ok && s->magic == STATE_MAGIC && s->nr_ports >= 3,
		      "session, RAM and state memfds retrieved");
	for (k = 0; ok && k < NR_CARDS; k++)
		ok = open_bars(&c[k], s->bdf[k]) &&
		     io_write(&c[k], 1, PI_CR, 0, 1);
	CHECK_OR_BAIL(ok, "both engines stopped (their DMA must not fault once removed)");
	warns = kmsg_count("WARNING:");

	for (k = NR_CARDS; k-- > 0;) {
		ok = pci_remove(s->bdf[k]);
		ktap_check(ok && kmsg_count_with(forgotten, s->bdf[k]) == 1,
			   "%s hot-removed before it was retrieved: the restore's claim on its group forgotten (one line)",
			   s->bdf[k]);
	}

	ok = !write_file("/sys/bus/pci/rescan", "1");
	for (k = 0; ok && k < NR_CARDS; k++) {
		uint16_t cmd = 0;

		ok = !pci_config_read(s->bdf[k], PCI_COMMAND, &cmd, sizeof(cmd)) &&
		     (cmd & PCI_COMMAND_MASTER);
	}
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/iommu_group",
		 s->bdf[1]);
	ktap_check(ok && access(path, F_OK) < 0 && errno == ENOENT &&
		   kmsg_count_with(joins, s->bdf[1]) == 1,
		   "a rescan finds both cards again, still bus mastering: %s may not join its group's default domain, its IOMMU probe fails (no IOMMU group, one line)",
		   s->bdf[1]);
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/iommu_group",
		 s->bdf[0]);
	ktap_check(!access(path, F_OK) && kmsg_count_with(used, s->bdf[0]) == 1,
		   "%s, alone in a new IOMMU group, has no record left to restore: blocked with the group (one line)",
		   s->bdf[0]);

	/* The farthest port from the card: the switch's upstream port. */
	ok = pci_remove(s->ports[s->nr_ports - 2].bdf);
	ktap_check(ok && kmsg_count("WARNING:") == warns &&
		   kmsg_count(forgotten) == NR_CARDS,
		   "then the switch (%s) hot-removed: no WARNING, no other claim forgotten",
		   s->ports[s->nr_ports - 2].bdf);
	ret = luo_finish(vm.session);
	ktap_check(!ret, "the session finishes: %s", ret ? strerror(-ret) : "ok");
	/* vfio-pci held the card for the session; it gave it up, unreset. */
	ret = vdev_open(&v, s->bdf[0]);
	ktap_check(ret == -EPERM && v.failed_step &&
		   !strcmp(v.failed_step, "VFIO_DEVICE_BIND_IOMMUFD"),
		   "%s stays blocked: binding its cdev to a fresh iommufd fails with EPERM: %s: %s",
		   s->bdf[0], !ret ? "all steps" :
		   v.failed_step ? v.failed_step : "before any step",
		   ret ? strerror(-ret) : "bound");
	if (!ret)
		vdev_close(&v);
	ktap_finish();
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";

	switch_shared = !strcmp(mode, "switch-shared");
	switch_removed = !strcmp(mode, "switch-removed");
	behind_switch = switch_removed || !strcmp(mode, "switch");
	if (switch_shared)
		name = "dma-stream-switch-shared";
	else if (switch_removed)
		name = "dma-stream-switch-removed";
	else if (behind_switch)
		name = "dma-stream-behind-switch";
	if (lutest_stage() == 1)
		stage1();
	if (switch_removed)
		stage2_removed();
	stage2();
}
