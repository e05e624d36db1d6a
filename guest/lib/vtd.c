// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "edu.h"
#include "util.h"
#include "vtd.h"

#define TRANSLATION_STRUCT "/sys/kernel/debug/iommu/intel/dmar_translation_struct"

int vtd_entry_of(const char *bdf, struct vtd_entry *e)
{
	char line[512], want[16];
	unsigned int seg, bus, dev, fn;
	int ret = -ENOENT;
	FILE *f;

	if (sscanf(bdf, "%x:%x:%x.%x", &seg, &bus, &dev, &fn) != 4)
		return -EINVAL;
	snprintf(want, sizeof(want), "%02x:%02x.%x\t", bus, dev, fn);
	f = fopen(TRANSLATION_STRUCT, "r");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, want, strlen(want)))
			continue;
		memset(e, 0, sizeof(*e));
		e->devfn = dev << 3 | fn;
		if (sscanf(line + strlen(want),
			   "0x%" SCNx64 ":0x%" SCNx64 " 0x%" SCNx64 ":0x%" SCNx64
			   " %d 0x%" SCNx64 ":0x%" SCNx64 ":0x%" SCNx64,
			   &e->root_hi, &e->root_lo, &e->ctx_hi, &e->ctx_lo,
			   &e->pasid, &e->pasid_val[2], &e->pasid_val[1],
			   &e->pasid_val[0]) == 8)
			ret = 0;
		else
			ret = -EIO;
		break;
	}
	fclose(f);
	return ret;
}

const char *vtd_mode_of(const struct vtd_entry *e)
{
	/* PASID entry bits 8:6: PASID Granular Translation Type. */
	switch (e->pasid < 0 ? -1 : (int)((e->pasid_val[0] >> 6) & 7)) {
	case -1:
		return "legacy";
	case 1:
		return "sm-fl";
	case 2:
		return "sm";
	}
	return "unknown";
}

unsigned int vtd_source_id(const char *bdf)
{
	unsigned int seg, bus, dev, fn;

	if (sscanf(bdf, "%x:%x:%x.%x", &seg, &bus, &dev, &fn) != 4)
		return 0;
	return bus << 8 | dev << 3 | fn;
}

unsigned int vtd_domain_id(const struct vtd_entry *e)
{
	if (e->pasid < 0)
		return (e->ctx_hi >> 8) & 0xffff;	/* context entry bits 87:72 */
	return e->pasid_val[1] & 0xffff;		/* PASID entry bits 79:64 */
}

/* The half of the root entry that leads to the device's context entry. */
static uint64_t vtd_root_half(const struct vtd_entry *e)
{
	return e->pasid >= 0 && e->devfn >= 128 ? e->root_hi : e->root_lo;
}

bool vtd_entry_same(const struct vtd_entry *a, const struct vtd_entry *b)
{
	return a->devfn == b->devfn && vtd_root_half(a) == vtd_root_half(b) &&
	       a->ctx_hi == b->ctx_hi && a->ctx_lo == b->ctx_lo &&
	       a->pasid == b->pasid &&
	       !memcmp(a->pasid_val, b->pasid_val, sizeof(a->pasid_val));
}

void vtd_entry_str(const struct vtd_entry *e, char *buf, size_t len)
{
	int n = snprintf(buf, len, "root 0x%" PRIx64 ":0x%" PRIx64
			 ", context 0x%" PRIx64 ":0x%" PRIx64,
			 e->root_hi, e->root_lo, e->ctx_hi, e->ctx_lo);

	if (e->pasid >= 0 && n >= 0 && (size_t)n < len)
		snprintf(buf + n, len - n,
			 ", PASID %d 0x%" PRIx64 ":0x%" PRIx64 ":0x%" PRIx64,
			 e->pasid, e->pasid_val[2], e->pasid_val[1],
			 e->pasid_val[0]);
}

/* As the driver prints it: "Request device [0000:00:04.0] fault addr 0x..". */
static void fault_needle(const char *bdf, uint64_t addr, char *buf, size_t len)
{
	snprintf(buf, len, "Request device [%s] fault addr 0x%" PRIx64 " ",
		 bdf, addr);
}

int vtd_write_faults(const char *bdf, uint64_t addr)
{
	char needle[96];

	fault_needle(bdf, addr, needle, sizeof(needle));
	return kmsg_count_with("DMAR: [DMA Write", needle);
}

int vtd_faults(const char *bdf, uint64_t addr)
{
	char needle[96];

	fault_needle(bdf, addr, needle, sizeof(needle));
	return kmsg_count_with("DMAR: [DMA ", needle);
}

bool vtd_wait_write_fault(const char *bdf, uint64_t addr, int before, int ms)
{
	uint64_t end = now_ms() + ms;

	do {
		if (vtd_write_faults(bdf, addr) > before)
			return true;
		usleep(20000);
	} while (now_ms() < end);
	return false;
}

int vtd_register(const char *name, uint64_t *val)
{
	FILE *f = fopen("/sys/kernel/debug/iommu/intel/iommu_regset", "r");
	char line[256], reg[32];
	unsigned int off;
	int ret = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%31s 0x%x 0x%" SCNx64, reg, &off, val) == 3 &&
		    !strcmp(reg, name)) {
			ret = 0;
			break;
		}
	}
	fclose(f);
	return ret;
}

bool vtd_dma_faults(volatile uint8_t *bar, const char *bdf, uint64_t iova,
		    const uint8_t *ram, size_t ram_len, char *why, size_t len)
{
	int before = vtd_write_faults(bdf, iova);
	uint8_t *copy = malloc(ram_len);
	bool done, faulted, untouched;

	if (!copy) {
		snprintf(why, len, "out of memory");
		return false;
	}
	memcpy(copy, ram, ram_len);
	printf("# expect-dmar-fault 0x%" PRIx64 "\n", iova);
	fflush(stdout);
	done = bar && edu_present(bar) &&
	       edu_dma_to_ram(bar, iova, 0, EDU_BUF_SIZE);
	faulted = done && vtd_wait_write_fault(bdf, iova, before, 3000);
	untouched = !memcmp(copy, ram, ram_len);
	free(copy);
	snprintf(why, len, "%s, %s, RAM %s",
		 done ? "transfer done" : "no edu at BAR0 or it did not finish",
		 faulted ? "fault logged" : "no fault logged",
		 untouched ? "untouched" : "modified");
	return done && faulted && untouched;
}
