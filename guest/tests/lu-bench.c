// SPDX-License-Identifier: GPL-2.0
/*
 * lu-bench: what a live update costs the VMM and the IOMMU, layout by
 * layout, one kexec each.
 *
 * The layouts come from "lubench=" on the kernel command line, a comma-
 * separated list of SIZE:FOLIO:AREAS (for example 1G:2M:1): SIZE of guest
 * RAM in a sealed memfd of FOLIO-sized shmem folios (2M or 4K), mapped for
 * the edu with IOMMU_IOAS_MAP_FILE in AREAS areas of equal size at
 * scattered IOVAs (a gap as large as an area after each one), so that
 * 2M-aligned areas get 2M IOMMU pages where the folios allow.
 *
 * Stage K (of layouts + 1) first takes layout K - 1 back as a VMM does
 * after the kexec: the iommufd and the cdev are retrieved, the cdev bound
 * and attached to the restored HWPT, a DMA goes to the first and the last
 * area, and the session finishes. The reference for the retrieve is a map
 * of the same memfd in the same boot: for the second edu (an iommufd of
 * its own), mapped, unmapped and mapped again, the second map timed. Then
 * everything is closed. It then sets layout K up, times its map, mark and
 * preserves, and kexecs with the TSC noted, which runs on across the
 * kexec: the blackout is measured from the reboot() call to the first DMA
 * after the take-back.
 *
 * What userspace measures is printed as "# bench layout=K key=value ..."
 * lines; the kernel's own times (preserve, freeze, shutdown, adoption,
 * restore, retrieve) are in its log, which scripts/bench.sh reads from the
 * console of each boot and joins by layout.
 *
 * Each layout also checks that what the iommufd's preserve handed to KHO
 * (KHO's own count of preserved pages, read from debugfs before and after
 * it) is exactly the page-table pages and record pages the kernel says it
 * preserved: iommufd's records, and the IOMMU core's, which the first
 * preserve of a session creates.
 *
 * With "lubench_lock=1", a second edu in an iommufd of its own maps and
 * unmaps 2 MiB over and over in another thread, started before the
 * iommufd's preserve and checked to go on after it, and the number of
 * maps and unmaps during the preserve and the worst time of one are
 * reported next to the preserve's: a lock the preserve held across its
 * walk of the guest's memory, that another IOAS's map or unmap also
 * takes, would show as a worst time close to the preserve's.
 *
 * With "lubench_warm=1", the second edu is live-updated too, in a session
 * of its own: 32 MiB mapped in an iommufd of its own, HWPT marked, memfd,
 * iommufd and cdev preserved after the layout's. The new kernel takes it
 * back first (iommufd and cdev retrieved, bound, attached, session
 * finished, everything closed), so that the layout's retrieve runs code a
 * retrieve has run in this boot already: under TCG the first run of any
 * code pays for its translation, which hardware does not, and the two
 * retrieves tell that cost apart from the retrieve's own. The warm-up's
 * retrieve is reported (warm_retrieve_us), and the blackout leaves the
 * warm-up out.
 *
 * With "lubench_max=PCT", each layout is also a check that the kernel's
 * preserve of the iommufd (its own log line) took at most PCT percent of
 * the IOMMU_IOAS_MAP_FILE of the same layout: make check runs a small
 * layout so, and a preserve that grows faster than the map fails it.
 * "lubench_rt_max=PCT" does the same for the kernel's retrieve of the
 * iommufd against the remap of the same layout in the same boot.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <x86intrin.h>

#include "edu.h"
#include "ktap.h"
#include "luo.h"
#include "util.h"
#include "vfio.h"
#include "vm.h"

#define EDU_BDF		"0000:00:04.0"	/* addresses all 64 bits */
#define OTHER_BDF	"0000:01:00.0"	/* the edu behind the root port */
#define OTHER_IOVA	(1UL << 30)
#define TOKEN_IOMMUFD	3
#define TOKEN_CDEV	4
#define HWPT_TOKEN	0x62656e6368ULL
#define WARM_HWPT_TOKEN	0x7761726dULL
#define IOVA_BASE	(1UL << 32)
#define SZ_2M		(2UL << 20)
/*
 * The warm-up's memory: large enough that pinning it allocates the same
 * temporary buffers as a layout's (64 KiB each, their cap), so that the
 * page allocator's path for them runs in the warm-up first too.
 */
#define WARM_SIZE	(32UL << 20)
#define MAX_LAYOUTS	32
#define SEED		0x62656e63u

struct layout {
	uint64_t size;
	uint64_t folio;
	uint64_t areas;
};

/* The VMM's state across the kexec, in the preserved state memfd. */
struct bench_state {
	uint64_t magic;
	uint32_t layout;		/* 1-based */
	uint32_t ioas, hwpt;
	uint32_t warm_ioas, warm_hwpt;	/* lubench_warm=1 */
	double tsc_per_ms;
	uint64_t tsc_at_reboot;
};
#define STATE_MAGIC	0x62656e6368737431ULL

static struct layout layouts[MAX_LAYOUTS];
static int nr_layouts;
static long max_pct;		/* lubench_max=, 0 if none */
static long rt_max_pct;		/* lubench_rt_max=, 0 if none */
static bool lock_probe;		/* lubench_lock=1 */
static bool warm_probe;		/* lubench_warm=1 */

/* Another device's IOAS, mapped and unmapped while the iommufd is preserved. */
struct other_ioas {
	struct vdev v;
	int memfd;
	pthread_t thread;
	volatile bool stop;
	volatile uint64_t ops;
	double max_us;
	volatile int err;
};

static uint64_t parse_size(const char *s, char **end)
{
	uint64_t v = strtoull(s, end, 10);

	switch (**end) {
	case 'G': v <<= 30; (*end)++; break;
	case 'M': v <<= 20; (*end)++; break;
	case 'K': v <<= 10; (*end)++; break;
	}
	return v;
}

/* "SIZE:FOLIO:AREAS[,...]"; false if anything is off. */
static bool parse_layouts(const char *arg)
{
	const char *p = arg;
	char *end;

	while (p && *p && nr_layouts < MAX_LAYOUTS) {
		struct layout *l = &layouts[nr_layouts];

		l->size = parse_size(p, &end);
		if (*end != ':')
			return false;
		l->folio = parse_size(end + 1, &end);
		if (*end != ':')
			return false;
		l->areas = strtoull(end + 1, &end, 10);
		if ((*end && *end != ',') || !l->areas ||
		    (l->folio != SZ_2M && l->folio != PAGE_SIZE) ||
		    l->size % (l->areas * PAGE_SIZE))
			return false;
		nr_layouts++;
		p = *end ? end + 1 : NULL;
	}
	return nr_layouts > 0 && !p;
}

static uint64_t area_size(const struct layout *l)
{
	return l->size / l->areas;
}

/* Area @i maps file offset i * size at IOVA_BASE + 2 * i * size. */
static uint64_t area_iova(const struct layout *l, uint64_t i)
{
	return IOVA_BASE + 2 * i * area_size(l);
}

static double us_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1e6 + (t.tv_nsec - t0->tv_nsec) / 1e3;
}

#define TIMED(us, expr)						\
	({ struct timespec t0_; typeof(expr) r_;		\
	   clock_gettime(CLOCK_MONOTONIC, &t0_);		\
	   r_ = (expr); (us) = us_since(&t0_); r_; })

/* TSC ticks per millisecond, measured against CLOCK_MONOTONIC. */
static double tsc_rate(void)
{
	struct timespec t0;
	uint64_t c0 = __rdtsc();

	clock_gettime(CLOCK_MONOTONIC, &t0);
	usleep(200000);
	return (__rdtsc() - c0) / (us_since(&t0) / 1e3);
}

/* The session of layout @k, or of its warm-up (lubench_warm=1). */
static const char *session_name(int k, bool warm)
{
	static char name[32];

	snprintf(name, sizeof(name), "lu-bench-%s%d", warm ? "warm-" : "", k);
	return name;
}

/* The kernel's time for the last iommufd preserve, -1 if it said none. */
static long kernel_preserve_us(void)
{
	char line[512], *p;

	if (!kmsg_last(" HWPTs with ", line, sizeof(line)) ||
	    !strstr(line, "preserved") || !(p = strstr(line, " areas in ")))
		return -1;
	return strtol(p + strlen(" areas in "), NULL, 10);
}

/* A number the last kernel line holding @needle gives after @before. */
static long kernel_number(const char *needle, const char *before)
{
	char line[512], *p;

	if (!kmsg_last(needle, line, sizeof(line)) || !(p = strstr(line, before)))
		return -1;
	return strtol(p + strlen(before), NULL, 10);
}

#define KHO_PRESERVED	"/sys/kernel/debug/kho/out/preserved_pages"

/* KHO's count of the pages preserved for the next kernel, -1 if none. */
static long kho_preserved_pages(void)
{
	char buf[32];

	if (read_file(KHO_PRESERVED, buf, sizeof(buf)) <= 0)
		return -1;
	return strtol(buf, NULL, 10);
}

static void *map_unmap_loop(void *arg)
{
	struct other_ioas *o = arg;

	while (!o->stop) {
		struct timespec t0;
		double us;
		int ret;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		ret = vdev_map_file(&o->v, o->memfd, 0, SZ_2M, OTHER_IOVA);
		ret = ret ?: vdev_unmap(&o->v, OTHER_IOVA, SZ_2M);
		us = us_since(&t0);
		if (ret) {
			o->err = ret;
			break;
		}
		o->ops++;
		if (us > o->max_us)
			o->max_us = us;
	}
	return NULL;
}

/* A sealed memfd of @size bytes, allocated before the map; fd or -errno. */
static int memfd_allocated(const char *name, size_t size)
{
	int fd = memfd_sealed(name, size);
	uint8_t *p = fd < 0 ? NULL : map_shared(fd, size);

	if (!p) {
		if (fd >= 0)
			close(fd);
		return fd < 0 ? fd : -ENOMEM;
	}
	memset(p, 0, size);
	munmap(p, size);
	return fd;
}

/* The other edu opened and 2 MiB of memory for it, mapped and unmapped once. */
static int other_ioas_open(struct other_ioas *o)
{
	int ret;

	*o = (struct other_ioas){ .memfd = -1 };
	ret = vdev_open(&o->v, OTHER_BDF);
	if (ret)
		return ret;
	o->memfd = memfd_allocated("lu-bench-other", SZ_2M);
	if (o->memfd < 0) {
		ret = o->memfd;
		goto err_close;
	}
	ret = vdev_map_file(&o->v, o->memfd, 0, SZ_2M, OTHER_IOVA);
	ret = ret ?: vdev_unmap(&o->v, OTHER_IOVA, SZ_2M);
	if (ret)
		goto err_close;
	return 0;

err_close:
	if (o->memfd >= 0)
		close(o->memfd);
	vdev_close(&o->v);
	return ret;
}

static void other_ioas_close(struct other_ioas *o)
{
	close(o->memfd);
	vdev_close(&o->v);
}

/* Until the loop is past @ops maps and unmaps; false after 5 s or an error. */
static bool other_ioas_wait(struct other_ioas *o, uint64_t ops)
{
	int i;

	for (i = 0; i < 50000 && !o->err; i++) {
		if (o->ops > ops)
			return true;
		usleep(100);
	}
	return false;
}

/*
 * The same, and the loop started: running, one map and unmap done, so that
 * one is under way whenever the preserve starts (the first map of
 * other_ioas_open() ran before the clock).
 */
static int other_ioas_start(struct other_ioas *o)
{
	int ret = other_ioas_open(o);

	if (ret)
		return ret;
	ret = -pthread_create(&o->thread, NULL, map_unmap_loop, o);
	if (ret) {
		other_ioas_close(o);
		return ret;
	}
	if (!other_ioas_wait(o, 0)) {
		ret = o->err ?: -ETIMEDOUT;
		o->stop = true;
		pthread_join(o->thread, NULL);
		other_ioas_close(o);
	}
	return ret;
}

static int other_ioas_stop(struct other_ioas *o)
{
	o->stop = true;
	pthread_join(o->thread, NULL);
	other_ioas_close(o);
	return o->err;
}

/* Map every area of @l; the IOVAs leave a gap as large as an area. */
static int map_layout(struct vdev *v, int ram_fd, const struct layout *l)
{
	uint64_t i, asz = area_size(l);
	int ret = 0;

	for (i = 0; i < l->areas && !ret; i++)
		ret = vdev_map_file(v, ram_fd, i * asz, asz, area_iova(l, i));
	return ret;
}

/* A fresh pattern from the first area to the last one and back. */
static bool dma_first_last(volatile uint8_t *bar, uint8_t *ram,
			   const struct layout *l)
{
	uint64_t last = l->size - PAGE_SIZE;
	uint64_t last_iova = area_iova(l, l->areas - 1) + area_size(l) -
			     PAGE_SIZE;

	memset(ram + last, 0, EDU_BUF_SIZE);
	return edu_round_trip(bar, ram, area_iova(l, 0), ram + last,
			      last_iova, SEED ^ (uint32_t)l->size);
}

/*
 * lubench_warm=1: the second edu, with 32 MiB mapped in an iommufd of its
 * own, live-updated in a session of its own. Its files stay open until the
 * kexec. 0 or -errno.
 */
static int warm_up_preserve(int luo, struct bench_state *s, int k)
{
	struct vdev w;
	int session, memfd, ret;

	session = luo_create_session(luo, session_name(k, true));
	if (session < 0)
		return session;
	memfd = memfd_allocated("lu-bench-warm", WARM_SIZE);
	if (memfd < 0)
		return memfd;
	ret = vdev_open(&w, OTHER_BDF);
	ret = ret ?: vdev_map_file(&w, memfd, 0, WARM_SIZE, OTHER_IOVA);
	ret = ret ?: vdev_mark_hwpt(&w, WARM_HWPT_TOKEN);
	ret = ret ?: luo_preserve_fd(session, memfd, LU_TOKEN_RAM);
	ret = ret ?: luo_preserve_fd(session, w.iommufd, TOKEN_IOMMUFD);
	ret = ret ?: luo_preserve_fd(session, w.cdev, TOKEN_CDEV);
	s->warm_ioas = w.ioas;
	s->warm_hwpt = w.hwpt;
	return ret;
}

/*
 * lubench_warm=1: the second edu taken back as the VMM takes back its
 * device (iommufd, cdev and memfd retrieved, cdev bound and attached to
 * the restored HWPT, session finished), then closed. 0 or -errno.
 */
static int warm_up_take_back(int luo, const struct bench_state *s, int k,
			     double *retrieve_us)
{
	struct vdev w = { .iommufd = -1, .cdev = -1 };
	uint32_t pt_id = s->warm_hwpt;
	int session, memfd, ret;

	session = luo_retrieve_session(luo, session_name(k, true));
	if (session < 0)
		return session;
	w.iommufd = TIMED(*retrieve_us, luo_retrieve_fd(session, TOKEN_IOMMUFD));
	w.cdev = luo_retrieve_fd(session, TOKEN_CDEV);
	memfd = luo_retrieve_fd(session, LU_TOKEN_RAM);
	w.ioas = s->warm_ioas;
	ret = w.iommufd < 0 ? w.iommufd : w.cdev < 0 ? w.cdev :
	      memfd < 0 ? memfd : vdev_bind(&w);
	ret = ret ?: vdev_attach_pt(&w, &pt_id);
	ret = ret ?: (pt_id == s->warm_hwpt ? 0 : -EINVAL);
	ret = ret ?: luo_finish(session);
	if (memfd >= 0)
		close(memfd);
	vdev_close(&w);
	close(session);
	return ret;
}

static void set_up(int k)
{
	const struct layout *l = &layouts[k - 1];
	double map_cold_us = 0, map_us = 0, mark_us = 0, memfds_us = 0;
	double iommufd_us = 0, cdev_us = 0;
	long kho_before, kho_pages, table_pages, iommufd_records, core_records;
	struct other_ioas other = {};
	uint64_t ops_start, ops_end;
	struct bench_state *s;
	struct lu_vm vm;
	struct vdev v;
	uint64_t i;
	int ret;

	ret = write_file("/sys/kernel/mm/transparent_hugepage/shmem_enabled",
			 l->folio == SZ_2M ? "always" : "never");
	ret = ret ?: lu_vm_create(&vm, session_name(k, false), l->size, sizeof(*s));
	CHECK_OR_BAIL(!ret, "layout %d: %" PRIu64 " MiB of guest RAM in %s folios, session created (%s)",
		      k, l->size >> 20, l->folio == SZ_2M ? "2M" : "4K",
		      strerror(-ret));
	for (i = 0; i < l->size; i += PAGE_SIZE)
		vm.ram[i] = 0;	/* allocated before the map, as a VM's */
	s = vm.state;
	s->magic = STATE_MAGIC;
	s->layout = k;

	/*
	 * The first map may migrate the pages out of a CMA area (KHO's scratch
	 * is one) before it pins them: the reference is a second map of the
	 * same pages, which only pins and maps, as the retrieve does.
	 */
	ret = vdev_open(&v, EDU_BDF);
	ret = ret ?: TIMED(map_cold_us, map_layout(&v, vm.ram_fd, l));
	ret = ret ?: vdev_unmap(&v, IOVA_BASE, 2 * l->size);
	ret = ret ?: TIMED(map_us, map_layout(&v, vm.ram_fd, l));
	v.bar0 = ret ? NULL : vdev_bar_map(&v, 0, &v.bar0_size);
	CHECK_OR_BAIL(v.bar0 && dma_first_last(v.bar0, vm.ram, l),
		      "edu assigned, %" PRIu64 " areas mapped with IOMMU_IOAS_MAP_FILE, unmapped and mapped again, DMA lands in the first and the last (%s)",
		      l->areas, strerror(-ret));
	s->ioas = v.ioas;
	s->hwpt = v.hwpt;

	ret = TIMED(mark_us, vdev_mark_hwpt(&v, HWPT_TOKEN));
	ret = ret ?: TIMED(memfds_us, lu_vm_preserve_memfds(&vm));
	if (lock_probe) {
		ret = ret ?: other_ioas_start(&other);
		CHECK_OR_BAIL(!ret, "%s opened, mapping and unmapping 2 MiB in a loop (%s)",
			      OTHER_BDF, strerror(-ret));
	}
	kho_before = kho_preserved_pages();
	ops_start = other.ops;
	ret = ret ?: TIMED(iommufd_us, luo_preserve_fd(vm.session, v.iommufd,
							TOKEN_IOMMUFD));
	ops_end = other.ops;
	kho_pages = kho_preserved_pages() - kho_before;
	if (lock_probe) {
		bool went_on = other_ioas_wait(&other, ops_end);
		int err = other_ioas_stop(&other);

		CHECK_OR_BAIL(!err && went_on, "%s mapped and unmapped 2 MiB %" PRIu64 " times while the iommufd was preserved, and went on after it (%s)",
			      OTHER_BDF, ops_end - ops_start, strerror(-err));
		ktap_info("bench layout=%d other_ioas_ops=%" PRIu64 " other_ioas_max_us=%.0f",
			  k, ops_end - ops_start, other.max_us);
	}
	ret = ret ?: TIMED(cdev_us, luo_preserve_fd(vm.session, v.cdev,
						     TOKEN_CDEV));
	CHECK_OR_BAIL(!ret, "HWPT marked; memfds, iommufd and cdev preserved (%s)",
		      strerror(-ret));
	ktap_info("bench layout=%d size=%" PRIu64 " folio=%" PRIu64 " areas=%" PRIu64
		  " map_cold_us=%.0f map_us=%.0f mark_us=%.0f preserve_memfds_us=%.0f preserve_iommufd_us=%.0f preserve_cdev_us=%.0f kho_pages=%ld",
		  k, l->size, l->folio, l->areas, map_cold_us, map_us, mark_us,
		  memfds_us,
		  iommufd_us, cdev_us, kho_pages);
	table_pages = kernel_number(" pages preserved in ", " page table of ");
	iommufd_records = kernel_number(" HWPTs with ", "us (");
	core_records = kernel_number(" pages preserved in ", "(records: ");
	ktap_check(kho_before >= 0 && table_pages > 0 && iommufd_records > 0 &&
		   core_records > 0 &&
		   kho_pages == table_pages + iommufd_records + core_records,
		   "the iommufd's preserve handed KHO %ld pages: its page table's %ld, iommufd's %ld record pages and the IOMMU core's %ld",
		   kho_pages, table_pages, iommufd_records, core_records);
	if (max_pct) {
		long kus = kernel_preserve_us();

		ktap_check(kus >= 0 && kus * 100 <= max_pct * map_us,
			   "the kernel's preserve of the iommufd took %ld us, at most %ld%% of the map's %.0f us",
			   kus, max_pct, map_us);
	}
	if (warm_probe) {
		ret = warm_up_preserve(vm.luo, s, k);
		CHECK_OR_BAIL(!ret, "%s: 32 MiB mapped in an iommufd of its own, HWPT marked; memfd, iommufd and cdev preserved in a second session (%s)",
			      OTHER_BDF, strerror(-ret));
	}
	ktap_info("expect-translation-never-off");
	CHECK_OR_BAIL(!kexec_load_next(k + 1), "next kernel loaded");
	s->tsc_per_ms = tsc_rate();
	fflush(stdout);
	s->tsc_at_reboot = __rdtsc();
	kexec_reboot();
	ktap_bail("reboot(KEXEC) returned: %s", strerror(errno));
}

/*
 * The reference for the retrieve, in its own boot: the retrieved memfd
 * mapped for the other edu (an iommufd of its own), unmapped and mapped
 * again; the second map, which only pins and maps, is timed.
 */
static int map_same_boot(struct lu_vm *vm, const struct layout *l,
			 double *us)
{
	struct vdev o;
	int ret;

	ret = vdev_open(&o, OTHER_BDF);
	if (ret)
		return ret;
	ret = map_layout(&o, vm->ram_fd, l);
	ret = ret ?: vdev_unmap(&o, IOVA_BASE, 2 * l->size);
	ret = ret ?: TIMED(*us, map_layout(&o, vm->ram_fd, l));
	vdev_close(&o);
	return ret;
}

/* Stage @k takes layout k - 1 back, with the time of each step. */
static void take_back(int k, double uptime)
{
	const struct layout *l = &layouts[k - 2];
	double iommufd_us, cdev_us, bind_us = 0, attach_us = 0, finish_us, blackout;
	double map_after_us = 0, warm_retrieve_us = 0;
	uint64_t warm_ticks = 0;
	struct vdev v = { .iommufd = -1, .cdev = -1 };
	struct bench_state *s;
	struct lu_vm vm;
	uint32_t pt_id;
	bool landed;
	int ret;

	ret = lu_vm_retrieve(&vm, session_name(k - 1, false), l->size, sizeof(*s));
	s = ret ? NULL : vm.state;
	CHECK_OR_BAIL(s && s->magic == STATE_MAGIC && s->layout == (uint32_t)k - 1,
		      "layout %d: session, RAM and state retrieved (%s)", k - 1,
		      strerror(-ret));

	if (warm_probe) {
		uint64_t t0 = __rdtsc();

		ret = warm_up_take_back(vm.luo, s, k - 1, &warm_retrieve_us);
		warm_ticks = __rdtsc() - t0;
		CHECK_OR_BAIL(!ret, "%s taken back first: iommufd retrieved, cdev bound and attached, its session finished (%s)",
			      OTHER_BDF, strerror(-ret));
	}
	v.iommufd = TIMED(iommufd_us, luo_retrieve_fd(vm.session, TOKEN_IOMMUFD));
	v.cdev = TIMED(cdev_us, luo_retrieve_fd(vm.session, TOKEN_CDEV));
	v.ioas = s->ioas;
	pt_id = s->hwpt;
	ret = v.iommufd < 0 ? v.iommufd : v.cdev < 0 ? v.cdev :
	      TIMED(bind_us, vdev_bind(&v));
	ret = ret ?: TIMED(attach_us, vdev_attach_pt(&v, &pt_id));
	v.bar0 = ret ? NULL : vdev_bar_map(&v, 0, &v.bar0_size);
	CHECK_OR_BAIL(v.bar0 && pt_id == s->hwpt,
		      "iommufd and cdev retrieved, cdev bound and attached to HWPT %u (%s)",
		      s->hwpt, strerror(-ret));
	landed = dma_first_last(v.bar0, vm.ram, l);
	blackout = (__rdtsc() - s->tsc_at_reboot - warm_ticks) / s->tsc_per_ms;
	ktap_check(landed, "DMA through the restored HWPT lands in the first and the last area");
	ret = TIMED(finish_us, luo_finish(vm.session));
	ktap_check(!ret, "session finished (%s)", strerror(-ret));
	ret = map_same_boot(&vm, l, &map_after_us);
	ktap_check(!ret, "the same memfd mapped for %s, unmapped and mapped again in this boot (%s)",
		   OTHER_BDF, strerror(-ret));
	if (rt_max_pct) {
		long kus = kernel_number(" HWPTs and IOASes with ", " areas in ");

		ktap_check(kus >= 0 && kus * 100 <= rt_max_pct * map_after_us,
			   "the kernel's retrieve of the iommufd took %ld us, at most %ld%% of the remap's %.0f us",
			   kus, rt_max_pct, map_after_us);
	}
	ktap_info("bench layout=%d retrieve_iommufd_us=%.0f retrieve_cdev_us=%.0f bind_us=%.0f attach_us=%.0f finish_us=%.0f map_after_us=%.0f warm_retrieve_us=%.0f blackout_ms=%.1f boot_ms=%.0f",
		  k - 1, iommufd_us, cdev_us, bind_us, attach_us, finish_us,
		  map_after_us, warm_retrieve_us, blackout, uptime * 1e3);

	/* Everything goes: the next layout starts from free memory. */
	vdev_close(&v);
	munmap(vm.ram, l->size);
	munmap(vm.state, sizeof(*s));
	close(vm.ram_fd);
	close(vm.state_fd);
	close(vm.session);
	close(vm.luo);
}

int main(void)
{
	int k = lutest_stage(), stages;
	const char *arg = lutest_cmdline_arg("lubench");	/* static */
	char buf[64] = "";
	double uptime = 0;

	if (read_file("/proc/uptime", buf, sizeof(buf)) < 0 ||
	    sscanf(buf, "%lf", &uptime) != 1)
		uptime = 0;
	if (!arg || !parse_layouts(arg)) {
		ktap_begin("lu-bench", k, 1);
		ktap_bail("no layouts: lubench=SIZE:FOLIO:AREAS[,...] (\"%s\")",
			  arg ? arg : "");
	}
	stages = nr_layouts + 1;
	arg = lutest_cmdline_arg("lubench_max");
	max_pct = arg ? atol(arg) : 0;
	arg = lutest_cmdline_arg("lubench_rt_max");
	rt_max_pct = arg ? atol(arg) : 0;
	arg = lutest_cmdline_arg("lubench_lock");
	lock_probe = arg && atoi(arg) == 1;
	arg = lutest_cmdline_arg("lubench_warm");
	warm_probe = arg && atoi(arg) == 1;
	ktap_begin("lu-bench", k,
		   (k > 1 ? 5 + warm_probe + !!rt_max_pct : 0) +
		   (k < stages ? 5 + !!max_pct + 2 * lock_probe + warm_probe : 0));
	if (k > 1)
		take_back(k, uptime);
	if (k < stages)
		set_up(k);
	ktap_finish();
}
