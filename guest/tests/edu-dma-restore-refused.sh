#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The edu preserved as in edu-dma-cmdline-change; the next kernel refuses
# its restore (fail_iommu_lu_restore=) under iommu.passthrough=1: the edu
# must be blocked and its group owned, never given an identity domain.
exec /tests/edu-dma-cmdline-change refused
