#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# dma-stream-across-kexec with the second card below a PCIe switch whose
# downstream port shares its IOMMU group, the next kernel booted with
# pci=assign-busses: its stream lands and the switch's ports are kept.
exec /tests/dma-stream-across-kexec switch
