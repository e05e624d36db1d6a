#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# An edu below a PCIe switch preserved after its second function was
# hot-removed; the next kernel finds the function again in its group
# (under iommu.passthrough=1): the edu must be blocked with the group.
exec /tests/edu-dma-cmdline-change group-grown
