#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The edu preserved as in edu-dma-cmdline-change; the next kernel fails the
# IOMMU probe of the edu (fail_iommu_lu_probe=) after the VT-d driver found
# it preserved: no restore claims it, so its entry must be blocked.
exec /tests/edu-dma-cmdline-change probe-failed
