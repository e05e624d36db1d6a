// SPDX-License-Identifier: GPL-2.0
/*
 * edu-dma-large: guest RAM laid out more like a VM's. A 1 GiB sealed memfd
 * backed by 2M shmem folios is mapped for the edu in two ranges:
 *
 *   low:  file 0 - 512M at IOVA 1G, 2M-aligned: mapped with 2M pages;
 *   high: file 512M - 1G at IOVA 4G + 4K, above 4 GiB and misaligned by
 *         4K: the IOMMU can only map it with 4K pages.
 *
 * With "4k" (edu-dma-large-4k), shmem has no huge pages and the memfd is
 * in 4K folios: the low range is mapped with 4K pages too.
 *
 * The number of page-table pages the kernel preserves for the domain must
 * equal the number the domain took (vmstat's nr_iommu_pages grows by that
 * much when the ranges are mapped, the top table aside), and the next
 * kernel must adopt exactly as many. Across the kexec, a DMA lands above
 * 4 GiB, and afterwards DMA goes to the first, the last and some random
 * pages of each range, each landing at its own offset of the memfd.
 *
 * Then the VMM takes the device back (phase 2): the iommufd is retrieved,
 * which pins the 1 GiB again, the cdev is bound and attached to the
 * restored HWPT, DMA goes on through it and the session finishes. For
 * scale, the same 1 GiB is then mapped afresh with IOMMU_IOAS_MAP_FILE at
 * other IOVAs of the same layout; both times are reported. Last, with
 * everything closed, the 1 GiB must go back to the page allocator: the
 * restore held each folio once per leaf that maps it, and the retrieve
 * must have dropped exactly as many references.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "edu.h"
#include "ktap.h"
#include "luo.h"
#include "util.h"
#include "vfio.h"
#include "vm.h"

#define SESSION		"edu-dma-large"
#define TOKEN_IOMMUFD	3
#define REF_OFFSET	(8UL << 30)	/* IOVA + this: the reference mapping */
#define TOKEN_CDEV	4
#define HWPT_TOKEN	0x6c617267ULL

#define SZ_2M		(2UL << 20)
#define RAM_SIZE	(1UL << 30)
#define HALF		(RAM_SIZE / 2)
#define NPAGES		(RAM_SIZE / PAGE_SIZE)
#define LOW_IOVA	(1UL << 30)
#define HIGH_IOVA	((4UL << 30) + PAGE_SIZE)
#define SRC_OFF		0UL			/* what the edu reads */
#define TARGET_OFF	(HALF + 0x1234000UL)	/* written at kexec (high) */
#define CHECK_OFF	(HALF + 0x2345000UL)	/* round trip before (high) */
#define NR_PROBES	8			/* pages checked per range */
#define SEED		0x6c617267u

struct range {
	const char *name;
	uint64_t file_off;
	uint64_t iova;
};

static const struct range ranges[] = {
	{ "low (2M pages if in 2M folios, below 4G)", 0, LOW_IOVA },
	{ "high (4K pages, above 4G)", HALF, HIGH_IOVA },
};

struct state {
	uint64_t magic;
	char bdf[32];
	uint32_t ioas, hwpt;		/* the device's iommufd ids */
	uint64_t tables;		/* preserved, as the kernel said */
	uint64_t pfn[NPAGES];
};
#define STATE_MAGIC	0x6c61726765000000ULL

static bool small_folios;	/* "4k": shmem without huge pages */

/* The VT-d address width of this run (vm.sh: luaw=). */
static int aw_bits(void)
{
	const char *aw = lutest_cmdline_arg("luaw");

	return aw ? atoi(aw) : 0;
}

static uint64_t iova_of(uint64_t off)
{
	return off < HALF ? LOW_IOVA + off : HIGH_IOVA + off - HALF;
}

/* M of the kernel's last "domain N: FMT page table of M pages @what". */
static long kernel_tables(const char *what)
{
	static const char of[] = " page table of ";
	char line[512], *p;

	if (!kmsg_last(what, line, sizeof(line)) || !(p = strstr(line, of)))
		return -1;
	return strtol(p + strlen(of), NULL, 10);
}

/* Count the 2M folios of @ram: pages whose frames continue a 2M run. */
static unsigned long huge_runs(const uint64_t *pfn, unsigned long npages)
{
	unsigned long i, runs = 0;

	for (i = 0; i + 512 <= npages; i += 512)
		if (!(pfn[i] & 511) && pfn[i + 511] == pfn[i] + 511)
			runs++;
	return runs;
}

static void stage1(void)
{
	long before, after, preserved, expected;
	unsigned long low_4k;
	int session, ram_fd;
	struct lu_vm vm;
	unsigned long i, runs;
	struct state *s;
	struct vdev v;
	uint8_t *ram;
	bool ok;

	ktap_begin(SESSION, 1, 9);

	CHECK_OR_BAIL(!write_file("/sys/kernel/mm/transparent_hugepage/shmem_enabled",
				  small_folios ? "never" : "always"),
		      "shmem %s transparent huge pages",
		      small_folios ? "without" : "backed by");
	ok = !lu_vm_create(&vm, SESSION, RAM_SIZE, sizeof(*s));
	session = vm.session;
	ram_fd = vm.ram_fd;
	ram = vm.ram;
	s = vm.state;
	CHECK_OR_BAIL(ok, "LUO session, 1 GiB guest RAM memfd, sealed");
	s->magic = STATE_MAGIC;

	/* The edu that can address all of RAM (vm.sh: dma_mask) */
	snprintf(s->bdf, sizeof(s->bdf), "0000:00:04.0");
	CHECK_OR_BAIL(!vdev_open(&v, s->bdf), "edu %s assigned", s->bdf);
	s->ioas = v.ioas;
	s->hwpt = v.hwpt;
	for (i = 0; i < RAM_SIZE; i += PAGE_SIZE)
		ram[i] = 0;	/* allocate it all, in 2M folios where it can */
	before = vmstat_exact("nr_iommu_pages");
	ok = true;
	for (i = 0; i < 2 && ok; i++) {
		int ret = vdev_map_file(&v, ram_fd, ranges[i].file_off, HALF,
					ranges[i].iova);

		if (ret)
			ktap_info("mapping %s: %s", ranges[i].name, strerror(-ret));
		ok = !ret;
	}
	after = vmstat_exact("nr_iommu_pages");
	ktap_info("nr_iommu_pages %ld before the mapping, %ld after", before, after);
	CHECK_OR_BAIL(ok && before >= 0 && after > before,
		      "mapped %s at IOVA 0x%lx and %s at IOVA 0x%lx: the domain took %ld page-table pages",
		      ranges[0].name, LOW_IOVA, ranges[1].name, HIGH_IOVA,
		      after - before);

	/* Pinned now: the frames are final (a pin migrates out of CMA). */
	ok = !pagemap_pfns(ram, RAM_SIZE, s->pfn);
	runs = ok ? huge_runs(s->pfn, NPAGES) : 0;
	low_4k = ok ? HALF / SZ_2M - huge_runs(s->pfn, HALF / PAGE_SIZE) : 0;
	/*
	 * What the two ranges need: the low one a directory of 2M entries
	 * and one 4K table per 2M block not in a 2M folio; the high one a
	 * directory and 257 4K tables (512 MiB misaligned by 4K); with 48
	 * address bits, one more level above the directories.
	 */
	expected = 1 + low_4k + 1 + 257 + (aw_bits() == 48);
	CHECK_OR_BAIL(ok && (small_folios ? runs == 0 : runs >= RAM_SIZE / SZ_2M / 2) &&
		      after - before == expected,
		      "%lu of the %lu 2M blocks in 2M folios: %ld page-table pages expected for 2M and 4K IOMMU pages, %ld taken",
		      runs, RAM_SIZE / SZ_2M, expected, after - before);

	CHECK_OR_BAIL(edu_round_trip(v.bar0, ram + SRC_OFF, iova_of(SRC_OFF),
				     ram + CHECK_OFF, iova_of(CHECK_OFF), SEED),
		      "a DMA round trip from the low range to the high one works");
	CHECK_OR_BAIL(!vdev_mark_hwpt(&v, HWPT_TOKEN) &&
		      !lu_vm_preserve_memfds(&vm) &&
		      !luo_preserve_fd(session, v.iommufd, TOKEN_IOMMUFD) &&
		      !luo_preserve_fd(session, v.cdev, TOKEN_CDEV),
		      "HWPT marked; memfds, iommufd and cdev preserved");
	ktap_info("expect-translation-never-off");

	/* The top table was there before the mapping. */
	preserved = kernel_tables("pages preserved");
	s->tables = preserved;
	CHECK_OR_BAIL(preserved == after - before + 1,
		      "page-table pages: %ld preserved, %ld taken by the mapping + the top table",
		      preserved, after - before);
	CHECK_OR_BAIL(!kexec_load_next(2), "next kernel loaded");
	fflush(stdout);
	edu_dma_start(v.bar0, iova_of(TARGET_OFF), 0, EDU_BUF_SIZE, true);
	kexec_reboot();
	ktap_bail("reboot(KEXEC) returned: %s", strerror(errno));
}

/* The edu copies a fresh pattern from SRC_OFF to @off; true if it lands. */
static bool dma_lands(volatile uint8_t *bar, uint8_t *ram, uint64_t off)
{
	uint32_t seed = SEED ^ (uint32_t)(off >> 12);
	bool ok;

	memset(ram + off, 0, EDU_BUF_SIZE);	/* a repeated probe starts afresh */
	ok = edu_round_trip(bar, ram + SRC_OFF, iova_of(SRC_OFF), ram + off,
			    iova_of(off), seed);
	if (!ok)
		ktap_info("no DMA landed at offset 0x%" PRIx64 " (IOVA 0x%" PRIx64 ")",
			  off, iova_of(off));
	return ok;
}

static void check_range(volatile uint8_t *bar, uint8_t *ram, int r)
{
	uint64_t first = ranges[r].file_off, last = first + HALF - PAGE_SIZE;
	uint64_t off[NR_PROBES];
	int i, landed = 0;

	off[0] = first + PAGE_SIZE;	/* the source page is the very first */
	off[1] = last;
	for (i = 2; i < NR_PROBES; i++)
		off[i] = first + ((uint64_t)rand() % (HALF / PAGE_SIZE)) * PAGE_SIZE;
	for (i = 0; i < NR_PROBES; i++) {
		if (off[i] == SRC_OFF || off[i] == TARGET_OFF ||
		    off[i] == CHECK_OFF)
			off[i] += PAGE_SIZE;
		landed += dma_lands(bar, ram, off[i]);
	}
	ktap_check(landed == NR_PROBES,
		   "%s: DMA to %d of %d pages (first, last, random) landed where they map",
		   ranges[r].name, landed, NR_PROBES);
}

/*
 * Phase 2, timed: retrieve the iommufd, bind and attach the cdev, DMA,
 * finish; then, for scale, IOMMU_IOAS_MAP_FILE of the same RAM.
 */
static void take_back(struct lu_vm *vm, const struct state *s)
{
	struct vdev v = { .iommufd = -1, .cdev = -1, .ioas = s->ioas };
	uint64_t t0, retrieve_ms, map_ms;
	uint32_t pt_id = s->hwpt;
	bool landed;
	int r, ret;

	t0 = now_ms();
	v.iommufd = luo_retrieve_fd(vm->session, TOKEN_IOMMUFD);
	retrieve_ms = now_ms() - t0;
	v.cdev = luo_retrieve_fd(vm->session, TOKEN_CDEV);
	ret = v.iommufd < 0 ? v.iommufd : v.cdev < 0 ? v.cdev : vdev_bind(&v);
	ret = ret ?: vdev_attach_pt(&v, &pt_id);
	v.bar0 = ret ? NULL : vdev_bar_map(&v, 0, &v.bar0_size);
	CHECK_OR_BAIL(v.bar0 && pt_id == s->hwpt,
		      "iommufd retrieved in %" PRIu64 " ms, cdev bound and attached to HWPT %u: %s",
		      retrieve_ms, s->hwpt, ret ? strerror(-ret) : "ok");
	landed = dma_lands(v.bar0, vm->ram, HALF - PAGE_SIZE);
	ret = luo_finish(vm->session);
	ktap_check(landed && !ret,
		   "DMA through the retrieved HWPT lands; session finished (%s)",
		   ret ? strerror(-ret) : "ok");

	t0 = now_ms();
	for (r = 0, ret = 0; r < 2 && !ret; r++)
		ret = vdev_map_file(&v, vm->ram_fd, ranges[r].file_off, HALF,
				    ranges[r].iova + REF_OFFSET);
	map_ms = now_ms() - t0;
	for (r = 0; r < 2 && !ret; r++)
		ret = vdev_unmap(&v, ranges[r].iova + REF_OFFSET, HALF);
	ktap_check(!ret, "for scale, IOMMU_IOAS_MAP_FILE of the same 1 GiB: %" PRIu64 " ms, unmapped again (%s)",
		   map_ms, ret ? strerror(-ret) : "ok");
	ktap_info("cost: 1 GiB in %s folios: retrieve of the iommufd %" PRIu64 " ms, IOMMU_IOAS_MAP_FILE %" PRIu64 " ms",
		  small_folios ? "4K" : "2M", retrieve_ms, map_ms);
	vdev_close(&v);
}

/*
 * With the iommufd closed (take_back()), close the RAM memfd, its mapping
 * and the session: no reference is left on the 1 GiB unless one the
 * restore held for the device was never dropped. Freed folios may wait in
 * the per-CPU lists, hence a margin.
 */
static void check_ram_freed(struct lu_vm *vm)
{
	long before = vmstat_exact("nr_free_pages"), freed;

	munmap(vm->ram, RAM_SIZE);
	munmap(vm->state, sizeof(struct state));
	close(vm->ram_fd);
	close(vm->state_fd);
	close(vm->session);
	close(vm->luo);
	freed = vmstat_exact("nr_free_pages") - before;
	ktap_check(before >= 0 && freed >= (long)NPAGES * 15 / 16,
		   "at least 15/16 of the 1 GiB of RAM is freed once the iommufd and the memfd are closed (%ld of %lu pages back in the page allocator)",
		   freed, NPAGES);
}

static void stage2(void)
{
	volatile uint8_t *bar;
	long moved, adopted;
	struct lu_vm vm;
	struct state *s;
	uint8_t *ram;
	bool ok;
	int r;

	ktap_begin(SESSION, 2, 11);
	ok = !lu_vm_retrieve(&vm, SESSION, RAM_SIZE, sizeof(*s));
	ram = vm.ram;
	s = vm.state;
	CHECK_OR_BAIL(ok && s->magic == STATE_MAGIC,
		      "session, RAM and state memfds retrieved");

	moved = pfns_moved(ram, RAM_SIZE, s->pfn);
	ktap_check(moved == 0, "1 GiB of RAM in the same %lu page frames (%ld moved)",
		   NPAGES, moved);

	adopted = kernel_tables("pages adopted");
	ktap_check(adopted == (long)s->tables,
		   "page-table pages: %ld adopted, %" PRIu64 " preserved",
		   adopted, s->tables);
	ktap_check(pattern_check(ram + TARGET_OFF, EDU_BUF_SIZE, SEED) < 0,
		   "the DMA started just before reboot(KEXEC) landed at IOVA 0x%" PRIx64 " (above 4 GiB)",
		   iova_of(TARGET_OFF));

	bar = pci_bar_map(s->bdf, 0, 4096);
	CHECK_OR_BAIL(bar && edu_present(bar), "edu %s BAR0 mapped", s->bdf);
	srand(s->pfn[0]);
	for (r = 0; r < 2; r++)
		check_range(bar, ram, r);
	pci_bar_unmap(bar, 4096);
	take_back(&vm, s);
	check_ram_freed(&vm);
	ktap_finish();
}

int main(int argc, char **argv)
{
	small_folios = argc > 1 && !strcmp(argv[1], "4k");
	if (lutest_stage() == 1)
		stage1();
	stage2();
}
