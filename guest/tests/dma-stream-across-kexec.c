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
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
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

#define NAME		"dma-stream-across-kexec"
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

/* What stage 1 saw, for stage 2; in a memfd preserved with the RAM. */
struct state {
	uint64_t magic;
	char bdf[NR_CARDS][16];
	uint64_t written_at_kexec[NR_CARDS];	/* bytes, just before reboot() */
};
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

	ktap_begin(NAME, 1, 7);
	ok = !lu_vm_create(&vm, NAME, RAM_SIZE, sizeof(*s));
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
	ret = luo_preserve_fd(vm.session, v[0].iommufd, TOKEN_IOMMUFD);
	for (k = 0; !ret && k < NR_CARDS; k++)
		ret = luo_preserve_fd(vm.session, v[k].cdev, TOKEN_CDEV + k);
	CHECK_OR_BAIL(!ret, "iommufd and both vfio cdevs preserved: %s",
		      ret ? strerror(-ret) : "ok");
	CHECK_OR_BAIL(!kexec_load_next(2), "next kernel loaded");

	/* verdict.sh: writes into the buffers in every phase of the handover */
	printf("# expect-translation-never-off\n");
	printf("# expect-root-kept\n");
	for (k = 0; k < NR_CARDS; k++)
		printf("# expect-stream 0x%x 0x%x 0x%x %s 0x%x 0x%lx 0x%lx\n",
		       MARK_KEXEC, MARK_RETRIEVED, MARK_STOPPED,
		       qemu_addr(s->bdf[k]), vtd_source_id(s->bdf[k]),
		       IOVA + BUFS_OFF(k), BUFS_LEN);
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

	ktap_begin(NAME, 2, 7);
	ok = !lu_vm_retrieve(&vm, NAME, RAM_SIZE, sizeof(*s));
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
	ktap_finish();
}

int main(void)
{
	if (lutest_stage() == 1)
		stage1();
	stage2();
}
