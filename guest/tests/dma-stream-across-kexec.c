// SPDX-License-Identifier: GPL-2.0
/*
 * dma-stream-across-kexec: a device that keeps writing on its own through
 * the whole handover, from before the freeze until the VMM has retrieved
 * everything in the new kernel. The device is QEMU's AC97 sound card
 * (tests.list: device=AC97 on the root bus, its audio backend "none"): its
 * PCM-in DMA engine captures silence in real time into a list of 32
 * buffers in guest RAM, one small write about every 10 ms, with no driver
 * action until the list is used up (about a minute at 8 kHz).
 *
 * Stage 1 assigns it the way a VMM does (vfio cdev, iommufd, IOAS mapping
 * the RAM memfd, paging HWPT), fills the buffers and the guard bytes
 * between them with 0xaa, writes the buffer descriptor list into RAM and
 * starts the engine. Once silence (zeros) arrives in the first buffer it
 * marks the HWPT, preserves RAM, state, iommufd and cdev, announces the
 * stream to the host and kexecs without stopping the engine.
 *
 * Stage 2 retrieves the session, both memfds, the iommufd and the cdev,
 * marks QEMU's trace, lets the engine run 300 ms more, stops it, marks the
 * trace again and checks: the engine went on through the kexec (its
 * position is past where stage 1 left it, and it never ran out of
 * buffers); every buffer before the position is written in full, the
 * current one up to the position and none after it (the engine writes its
 * buffers in order, so this is what an unbroken stream leaves); every
 * guard byte, the descriptor list and the rest of RAM are as stage 1 left
 * them. DMAR faults fail the run (verdict.sh).
 *
 * The host (verdict.sh, "# expect-stream") splits QEMU's trace into the
 * phases of the handover and requires translated writes of the device
 * into its buffers in each: after the old kernel's freeze (vfio-pci's
 * freeze disables the device's INTx: its command register write), after
 * its shutdown flushes (its last invalidation), between the new kernel's
 * first VT-d register access (the capability read) and its queued
 * invalidation enable, from then to the retrieve, and after it.
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
#define TOKEN_CDEV	4
#define HWPT_TOKEN	0x73747265ULL

#define AC97		"0000:00:0a.0"	/* tests.list: device=AC97,addr=0xa */
#define AC97_QEMU_ADDR	"00:0a.0"	/* as QEMU's trace names it */
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
#define BDL_OFF		0UL
#define BUFS_OFF	0x1000UL
#define BUFS_LEN	(NR_BUFS * BUF_STRIDE)
#define RAM_SIZE	(4UL << 20)
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
	uint32_t ioas, hwpt;
	uint64_t written_at_kexec;	/* bytes, read just before reboot() */
};
#define STATE_MAGIC	0x73747265616d3031ULL

static int bar_fd[2] = { -1, -1 };

/* The card's I/O port BARs, through sysfs (the retrieved cdev takes none). */
static bool open_bars(void)
{
	char path[96];
	int i;

	for (i = 0; i < 2; i++) {
		snprintf(path, sizeof(path),
			 "/sys/bus/pci/devices/%s/resource%d", AC97, i);
		bar_fd[i] = open(path, O_RDWR | O_CLOEXEC);
		if (bar_fd[i] < 0)
			return false;
	}
	return true;
}

static uint32_t io_read(int bar, unsigned int off, size_t size)
{
	uint32_t v = 0;

	if (pread(bar_fd[bar], &v, size, off) != (ssize_t)size)
		return ~0U;
	return v;
}

static bool io_write(int bar, unsigned int off, uint32_t v, size_t size)
{
	return pwrite(bar_fd[bar], &v, size, off) == (ssize_t)size;
}

/* Bytes the engine wrote, from its current descriptor and what is left. */
static uint64_t engine_written(uint8_t *civ, uint16_t *picb, uint16_t *sr)
{
	*civ = io_read(1, PI_CIV, 1) % NR_BUFS;
	*picb = io_read(1, PI_PICB, 2);
	*sr = io_read(1, PI_SR, 2);
	if (*sr & SR_LVBCI)
		return NR_BUFS * BUF_LEN;
	return *civ * BUF_LEN + (BUF_SAMPLES - *picb) * 2UL;
}

/*
 * Cold reset, 8 kHz capture, the descriptor list at IOVA + BDL_OFF (each
 * buffer's IOVA, length and IOC), every descriptor valid, then run.
 */
static bool start_capture(uint8_t *ram)
{
	struct bd *bdl = (struct bd *)(ram + BDL_OFF);
	unsigned int i;

	for (i = 0; i < NR_BUFS; i++) {
		bdl[i].addr = IOVA + BUFS_OFF + i * BUF_STRIDE;
		bdl[i].ctl_len = BD_IOC | BUF_SAMPLES;
	}
	if (!io_write(1, GLOB_CNT, 0x2, 4) ||
	    !io_write(0, NAM_RESET, 0, 2) ||
	    !(io_read(0, NAM_EXT_ID, 2) & NAM_EXT_VRA) ||
	    !io_write(0, NAM_EXT_CTRL, NAM_EXT_VRA, 2) ||
	    !io_write(0, NAM_ADC_RATE, RATE, 2) ||
	    io_read(0, NAM_ADC_RATE, 2) != RATE ||
	    !io_write(1, PI_CR, CR_RR, 1) ||
	    !io_write(1, PI_BDBAR, IOVA + BDL_OFF, 4) ||
	    !io_write(1, PI_LVI, NR_BUFS - 1, 1))
		return false;
	return io_write(1, PI_CR, CR_RPBM, 1);
}

/* Wait up to @ms for the first buffer's first bytes of silence. */
static bool first_silence(const uint8_t *ram, int ms)
{
	const volatile uint8_t *buf = ram + BUFS_OFF;
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

static void stage1(void)
{
	uint8_t civ;
	uint16_t picb, sr;
	struct lu_vm vm;
	struct state *s;
	struct vdev v;
	char bdf[32];
	int ret;
	bool ok;

	ktap_begin(NAME, 1, 7);
	ok = !lu_vm_create(&vm, NAME, RAM_SIZE, sizeof(*s));
	s = vm.state;
	CHECK_OR_BAIL(ok, "LUO session, guest RAM memfd (%lu KiB, sealed) and state memfd",
		      RAM_SIZE >> 10);
	s->magic = STATE_MAGIC;
	memset(vm.ram, FILL, RAM_SIZE);

	ok = !pci_find(AC97_VENDOR, AC97_DEVICE, 0, bdf, sizeof(bdf)) &&
	     !strcmp(bdf, AC97);
	ret = ok ? vdev_open(&v, AC97) : -ENODEV;
	if (ret)
		ktap_info("%s: %s failed: %s", AC97,
			  ok ? v.failed_step : "finding the AC97", strerror(-ret));
	ok = !ret && io_enabled(&v) &&
	     !vdev_map_file(&v, vm.ram_fd, 0, RAM_SIZE, IOVA) && open_bars();
	CHECK_OR_BAIL(ok, "AC97 %s assigned, I/O and bus mastering on, RAM mapped at IOVA 0x%lx",
		      AC97, IOVA);
	s->ioas = v.ioas;
	s->hwpt = v.hwpt;

	ok = start_capture(vm.ram) && first_silence(vm.ram, 5000);
	CHECK_OR_BAIL(ok, "capture of silence at %d Hz into %d buffers of %lu bytes runs: the first bytes landed",
		      RATE, NR_BUFS, BUF_LEN);

	CHECK_OR_BAIL(!vdev_mark_hwpt(&v, HWPT_TOKEN),
		      "HWPT %u marked", v.hwpt);
	CHECK_OR_BAIL(!lu_vm_preserve_memfds(&vm), "RAM and state memfds preserved");
	ret = luo_preserve_fd(vm.session, v.iommufd, TOKEN_IOMMUFD);
	ret = ret ?: luo_preserve_fd(vm.session, v.cdev, TOKEN_CDEV);
	CHECK_OR_BAIL(!ret, "iommufd and vfio cdev preserved: %s",
		      ret ? strerror(-ret) : "ok");
	CHECK_OR_BAIL(!kexec_load_next(2), "next kernel loaded");

	/* verdict.sh: writes into the buffers in every phase of the handover */
	printf("# expect-translation-never-off\n");
	printf("# expect-root-kept\n");
	printf("# expect-stream 0x%x 0x%x 0x%x %s 0x%x 0x%lx 0x%lx\n",
	       MARK_KEXEC, MARK_RETRIEVED, MARK_STOPPED, AC97_QEMU_ADDR,
	       vtd_source_id(AC97), IOVA + BUFS_OFF, BUFS_LEN);
	fflush(stdout);
	s->written_at_kexec = engine_written(&civ, &picb, &sr);
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
 * Buffer by buffer: written (zeros) up to @written bytes of the stream,
 * untouched (FILL) after; every guard page untouched.
 */
static void check_buffers(const uint8_t *ram, uint64_t written)
{
	uint64_t done, at = 0;
	long bad = -1;
	unsigned int i;

	for (i = 0; i < NR_BUFS && bad < 0; i++) {
		const uint8_t *buf = ram + BUFS_OFF + i * BUF_STRIDE;

		done = written > at ? written - at : 0;
		if (done > BUF_LEN)
			done = BUF_LEN;
		bad = first_not(buf, done, 0);
		if (bad < 0 && (bad = first_not(buf + done, BUF_LEN - done, FILL)) >= 0)
			bad += done;
		if (bad < 0 && (bad = first_not(buf + BUF_LEN, BUF_STRIDE - BUF_LEN, FILL)) >= 0)
			bad += BUF_LEN;
		if (bad >= 0)
			ktap_info("buffer %u: byte 0x%lx is 0x%02x (written up to 0x%" PRIx64 ")",
				  i, bad, buf[bad], done);
		at += BUF_LEN;
	}
	ktap_check(bad < 0, "every buffer written in order up to the engine's position and not beyond, every guard page untouched");
}

/* RAM outside the buffers: the descriptor list, and FILL everywhere else. */
static void check_rest(const uint8_t *ram)
{
	const struct bd *bdl = (const struct bd *)(ram + BDL_OFF);
	bool ok = true;
	unsigned int i;

	for (i = 0; i < NR_BUFS; i++)
		ok = ok && bdl[i].addr == IOVA + BUFS_OFF + i * BUF_STRIDE &&
		     bdl[i].ctl_len == (BD_IOC | BUF_SAMPLES);
	ok = ok && first_not(ram + NR_BUFS * sizeof(*bdl),
			     BUFS_OFF - NR_BUFS * sizeof(*bdl), FILL) < 0 &&
	     first_not(ram + BUFS_OFF + BUFS_LEN,
		       RAM_SIZE - BUFS_OFF - BUFS_LEN, FILL) < 0;
	ktap_check(ok, "the descriptor list and the rest of RAM are as stage 1 left them");
}

static void stage2(void)
{
	int iommufd, cdev;
	uint64_t written;
	uint16_t picb, sr;
	struct lu_vm vm;
	struct state *s;
	uint8_t civ;
	bool ok;

	ktap_begin(NAME, 2, 6);
	ok = !lu_vm_retrieve(&vm, NAME, RAM_SIZE, sizeof(*s));
	s = vm.state;
	CHECK_OR_BAIL(ok && s->magic == STATE_MAGIC,
		      "session, RAM and state memfds retrieved");
	iommufd = luo_retrieve_fd(vm.session, TOKEN_IOMMUFD);
	cdev = luo_retrieve_fd(vm.session, TOKEN_CDEV);
	CHECK_OR_BAIL(iommufd >= 0 && cdev >= 0,
		      "iommufd and vfio cdev retrieved: %s, %s",
		      iommufd < 0 ? strerror(-iommufd) : "ok",
		      cdev < 0 ? strerror(-cdev) : "ok");
	qemu_trace_mark(MARK_RETRIEVED);

	usleep(300000);
	CHECK_OR_BAIL(open_bars() && io_write(1, PI_CR, 0, 1),
		      "capture stopped 300 ms after the retrieve");
	qemu_trace_mark(MARK_STOPPED);
	written = engine_written(&civ, &picb, &sr);
	ktap_info("engine at descriptor %u, %u samples left, status 0x%x: %" PRIu64 " bytes written (%" PRIu64 " at the kexec)",
		  civ, picb, sr, written, s->written_at_kexec);
	ktap_check(written > s->written_at_kexec && !(sr & SR_LVBCI),
		   "the engine went on through the kexec and did not run out of buffers");
	check_buffers(vm.ram, written);
	check_rest(vm.ram);
	ktap_finish();
}

int main(void)
{
	if (lutest_stage() == 1)
		stage1();
	stage2();
}
