/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the VT-d hardware holds for one device, read from the driver's
 * debugfs (CONFIG_INTEL_IOMMU_DEBUGFS, dmar_translation_struct).
 */
#ifndef LUTEST_VTD_H
#define LUTEST_VTD_H

#include <stdint.h>

struct vtd_entry {
	uint64_t root_hi, root_lo;
	uint64_t ctx_hi, ctx_lo;
	int pasid;			/* -1 in legacy mode */
	uint64_t pasid_val[3];		/* PASID table entry, low qword first */
};

/* The entries of @bdf ("0000:00:04.0"); 0, or -errno. */
int vtd_entry_of(const char *bdf, struct vtd_entry *e);
/* "legacy", "sm" (second stage), "sm-fl" (first stage) or "unknown". */
const char *vtd_mode_of(const struct vtd_entry *e);
/* Domain id in the context entry (legacy) or the PASID entry (scalable). */
unsigned int vtd_domain_id(const struct vtd_entry *e);

#endif
