// SPDX-License-Identifier: GPL-2.0
/*
 * edu-dma-two-devices: two edus preserved in one session, one on the root
 * bus and one behind PCIe root port 00:05.0, both doing DMA across the
 * kexec into one sealed memfd of guest RAM.
 *
 *   edu-dma-two-devices domains   each edu has its own iommufd, IOAS and
 *                                 HWPT: two preserved domains, two domain
 *                                 ids;
 *   edu-dma-two-devices shared    both are bound to one iommufd and
 *                                 attached to one HWPT: one preserved
 *                                 domain, restored once, one domain id.
 *
 * (guest/tests/edu-dma-two-domains.sh and edu-dma-shared-hwpt.sh run it.)
 * Each edu's DMA in flight at the kexec must land (the host finds each
 * translated in QEMU's trace after a mark before the doorbells, and
 * reports in which boot: expect-write-translated), its VT-d entries and
 * domain id stay bit-identical, and a new DMA after the kexec land; the
 * root port keeps its bus numbers (the next kernel boots with
 * pci=assign-busses, under which it would renumber them) and ACS control.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <linux/pci_regs.h>

#include "edu.h"
#include "ktap.h"
#include "luo.h"
#include "util.h"
#include "vfio.h"
#include "vm.h"
#include "vtd.h"

#define TOKEN_IOMMUFD	3	/* and 4 for the second iommufd */
#define TOKEN_CDEV	5	/* and 6 for the second edu */
#define HWPT_TOKEN	0x7477ULL

#define NR_EDUS		2
#define ROOT_PORT	"0000:00:05.0"
#define RAM_SIZE	(2UL << 20)
#define IOVA		0x1000000UL
#define SRC_OFF(i)	(0x10000UL + (i) * 0x1000)	/* read before */
#define CHECK_OFF(i)	(0x20000UL + (i) * 0x1000)	/* round trip before */
#define TARGET_OFF(i)	(0x40000UL + (i) * 0x1000)	/* written at kexec */
#define MARK_DOORBELLS	0x54	/* QEMU trace: just before the writes */
#define AFTER_SRC(i)	(0x60000UL + (i) * 0x1000)	/* read after */
#define AFTER_DST(i)	(0x80000UL + (i) * 0x1000)	/* written after */
#define SEED(i)		(0x74770000u + (i))
#define SEED_AFTER(i)	(0x74771000u + (i))

static const char *const edus[NR_EDUS] = { "0000:00:04.0", "0000:01:00.0" };

struct state {
	uint64_t magic;
	struct vtd_entry vtd[NR_EDUS];
	uint8_t port_cfg[4];		/* root port: buses 0x18-0x1a */
	uint16_t port_acs;		/* root port: ACS control */
};
#define STATE_MAGIC	0x74776f6465767300ULL

static bool shared;
static const char *session_name(void)
{
	return shared ? "edu-dma-shared-hwpt" : "edu-dma-two-domains";
}

/* The root port's bus numbers and its ACS control register. */
static bool read_port(uint8_t cfg[4], uint16_t *acs)
{
	uint16_t pos = 0x100, hdr[2];

	if (pci_config_read(ROOT_PORT, PCI_PRIMARY_BUS, cfg, 4))
		return false;
	/* The extended capability list, looking for ACS. */
	while (pos && !pci_config_read(ROOT_PORT, pos, hdr, sizeof(hdr))) {
		if ((hdr[0] & 0xffff) == PCI_EXT_CAP_ID_ACS)
			return !pci_config_read(ROOT_PORT, pos + PCI_ACS_CTRL,
						acs, sizeof(*acs));
		pos = hdr[1] >> 4;
	}
	return false;
}

static bool assign(struct vdev *v, int i, struct vdev *first, int ram_fd)
{
	int ret = shared && i ? vdev_open_shared(v, edus[i], first) :
				vdev_open(v, edus[i]);

	if (ret) {
		ktap_info("%s: %s failed: %s", edus[i], v->failed_step,
			  strerror(-ret));
		return false;
	}
	return (shared && i) || !vdev_map_file(v, ram_fd, 0, RAM_SIZE, IOVA);
}

static bool round_trip(volatile uint8_t *bar, uint8_t *ram,
		       unsigned long src, unsigned long dst, uint32_t seed)
{
	return edu_round_trip(bar, ram + src, IOVA + src, ram + dst, IOVA + dst,
			      seed);
}

static void stage1(void)
{
	int session, ram_fd, i, err = 0;
	struct lu_vm vm;
	struct vdev v[NR_EDUS];
	bool ok;
	struct state *s;
	uint8_t *ram;

	ktap_begin(session_name(), 1, 7);
	ok = !lu_vm_create(&vm, session_name(), RAM_SIZE, sizeof(*s));
	session = vm.session;
	ram_fd = vm.ram_fd;
	ram = vm.ram;
	s = vm.state;
	CHECK_OR_BAIL(ok, "LUO session, guest RAM and state memfds");
	s->magic = STATE_MAGIC;

	CHECK_OR_BAIL(assign(&v[0], 0, NULL, ram_fd) &&
		      assign(&v[1], 1, &v[0], ram_fd),
		      "%s and %s assigned, RAM at IOVA 0x%lx, %s", edus[0],
		      edus[1], IOVA, shared ? "one iommufd and HWPT" :
					      "an iommufd and HWPT each");
	CHECK_OR_BAIL(round_trip(v[0].bar0, ram, SRC_OFF(0), CHECK_OFF(0), SEED(0)) &&
		      round_trip(v[1].bar0, ram, SRC_OFF(1), CHECK_OFF(1), SEED(1)),
		      "both do DMA through the IOMMU");

	for (i = 0; i < NR_EDUS && !err; i++)
		if (!shared || !i)
			err = vdev_mark_hwpt(&v[i], HWPT_TOKEN);
	err = err ?: lu_vm_preserve_memfds(&vm);
	for (i = 0; i < NR_EDUS && !err; i++)
		if (!shared || !i)
			err = luo_preserve_fd(session, v[i].iommufd, TOKEN_IOMMUFD + i);
	for (i = 0; i < NR_EDUS && !err; i++)
		err = luo_preserve_fd(session, v[i].cdev, TOKEN_CDEV + i);
	if (err)
		ktap_info("refused: %s", strerror(-err));
	CHECK_OR_BAIL(!err, "%s marked; memfds, %s and both cdevs preserved",
		      shared ? "HWPT" : "HWPTs", shared ? "iommufd" : "iommufds");
	ktap_info("expect-translation-never-off");
	ktap_info("expect-root-kept");

	for (i = 0; i < NR_EDUS; i++)
		err = err ?: vtd_entry_of(edus[i], &s->vtd[i]);
	CHECK_OR_BAIL(!err && (vtd_domain_id(&s->vtd[0]) ==
			       vtd_domain_id(&s->vtd[1])) == shared,
		      "VT-d entries recorded: domain ids %u and %u (%s)",
		      vtd_domain_id(&s->vtd[0]), vtd_domain_id(&s->vtd[1]),
		      shared ? "one" : "two");
	ok = read_port(s->port_cfg, &s->port_acs);
	CHECK_OR_BAIL(ok, "root port buses %u-%u, ACS control 0x%04x recorded",
		      s->port_cfg[1], s->port_cfg[2], s->port_acs);
	/* Under assign-busses Linux would renumber the port's buses itself. */
	CHECK_OR_BAIL(!kexec_load_next_args(2, "pci=assign-busses"),
		      "next kernel loaded, with pci=assign-busses");
	for (i = 0; i < NR_EDUS; i++)
		printf("# expect-write-translated 0x%x 0x%x 0x%lx\n",
		       MARK_DOORBELLS, vtd_source_id(edus[i]),
		       IOVA + TARGET_OFF(i));
	fflush(stdout);
	qemu_trace_mark(MARK_DOORBELLS);
	for (i = 0; i < NR_EDUS; i++)
		edu_dma_start(v[i].bar0, IOVA + TARGET_OFF(i), 0, EDU_BUF_SIZE,
			      true);
	kexec_reboot();
	ktap_bail("reboot(KEXEC) returned: %s", strerror(errno));
}

static void stage2(void)
{
	struct vtd_entry e;
	uint8_t cfg[4] = {};
	int adopted;
	bool ok;
	uint16_t acs = 0;
	struct state *s;
	int i;
	struct lu_vm vm;
	uint8_t *ram;

	ktap_begin(session_name(), 2, 1 + 1 + 3 * NR_EDUS + 1);
	ok = !lu_vm_retrieve(&vm, session_name(), RAM_SIZE, sizeof(*s));
	ram = vm.ram;
	s = vm.state;
	CHECK_OR_BAIL(ok && s->magic == STATE_MAGIC,
		      "session, RAM and state memfds retrieved");
	adopted = kmsg_count("pages adopted");
	ktap_check(adopted == (shared ? 1 : NR_EDUS),
		   "%d page table(s) adopted: the domain%s restored once",
		   adopted, shared ? " both edus share is" : "s are each");

	for (i = 0; i < NR_EDUS; i++) {
		volatile uint8_t *bar = pci_bar_map(edus[i], 0, 4096);

		ktap_check(pattern_check(ram + TARGET_OFF(i), EDU_BUF_SIZE,
					 SEED(i)) < 0,
			   "%s: its DMA started just before reboot(KEXEC) landed", edus[i]);
		ktap_check(!vtd_entry_of(edus[i], &e) &&
			   vtd_entry_same(&e, &s->vtd[i]),
			   "%s: VT-d entries and domain id %u bit-identical",
			   edus[i], vtd_domain_id(&s->vtd[i]));
		ktap_check(bar && round_trip(bar, ram, AFTER_SRC(i),
					     AFTER_DST(i), SEED_AFTER(i)),
			   "%s: a new DMA through the preserved IOVAs lands",
			   edus[i]);
		if (bar)
			pci_bar_unmap(bar, 4096);
	}
	ok = read_port(cfg, &acs);
	ktap_check(ok && !memcmp(cfg, s->port_cfg, 4) && acs == s->port_acs,
		   "root port buses %u-%u and ACS control 0x%04x unchanged",
		   cfg[1], cfg[2], acs);
	ktap_finish();
}

int main(int argc, char **argv)
{
	shared = argc > 1 && !strcmp(argv[1], "shared");
	if (lutest_stage() == 1)
		stage1();
	stage2();
}
