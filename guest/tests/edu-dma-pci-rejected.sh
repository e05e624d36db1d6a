#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The edu preserved as in edu-dma-cmdline-change; the next kernel rejects
# the PCI core's record (fail_pci_lu_record=) under iommu.passthrough=1:
# the IOMMU restores only devices the PCI core adopted, so the edu must be
# blocked and its group owned, and the bus numbers kept.
exec /tests/edu-dma-cmdline-change pci-rejected
