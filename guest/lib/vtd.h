/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the VT-d hardware holds for one device, read from the driver's
 * debugfs (CONFIG_INTEL_IOMMU_DEBUGFS, dmar_translation_struct).
 */
#ifndef LUTEST_VTD_H
#define LUTEST_VTD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vtd_entry {
	unsigned int devfn;		/* of the device the entries are for */
	uint64_t root_hi, root_lo;
	uint64_t ctx_hi, ctx_lo;
	int pasid;			/* -1 in legacy mode */
	uint64_t pasid_val[3];		/* PASID table entry, low qword first */
};

/* The entries of @bdf ("0000:00:04.0"); 0, or -errno. */
int vtd_entry_of(const char *bdf, struct vtd_entry *e);
/* "legacy", "sm" (second stage), "sm-fl" (first stage) or "unknown". */
const char *vtd_mode_of(const struct vtd_entry *e);
/* The PCI requester id of @bdf ("0000:00:04.0"): bus, device, function. */
unsigned int vtd_source_id(const char *bdf);
/* Domain id in the context entry (legacy) or the PASID entry (scalable). */
unsigned int vtd_domain_id(const struct vtd_entry *e);
/*
 * Same root entry half (the one that leads to the device: scalable mode
 * has a context table for devfn 0-127 in the low half and one for 128-255
 * in the high half), context entry and, in scalable mode, PASID entry.
 */
bool vtd_entry_same(const struct vtd_entry *a, const struct vtd_entry *b);
/* "root HI:LO, context HI:LO[, PASID N V2:V1:V0]" for a report. */
void vtd_entry_str(const struct vtd_entry *e, char *buf, size_t len);

/*
 * DMA write faults the driver logged for @bdf at page @addr in this boot
 * (lines "DMAR: [DMA Write ...] Request device [@bdf] fault addr @addr").
 */
int vtd_write_faults(const char *bdf, uint64_t addr);
/* DMA faults of any kind (read or write) logged for @bdf at page @addr. */
int vtd_faults(const char *bdf, uint64_t addr);
/* Wait up to @ms for that count to exceed @before. */
bool vtd_wait_write_fault(const char *bdf, uint64_t addr, int before, int ms);

/*
 * Have the edu at @bar (of @bdf) write its buffer to @iova, announced as an
 * expected fault: true if the IOMMU logged a write fault of @bdf there and
 * no byte of @ram (@ram_len) changed. @why says what happened.
 */
bool vtd_dma_faults(volatile uint8_t *bar, const char *bdf, uint64_t iova,
		    const uint8_t *ram, size_t ram_len, char *why, size_t len);

/* Register @name ("GSTS", "RTADDR", ...) of the first unit; 0 or -errno. */
int vtd_register(const char *name, uint64_t *val);

#endif
