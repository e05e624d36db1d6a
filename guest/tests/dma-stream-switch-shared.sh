#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# dma-stream-across-kexec's stage 1 with a second function of the card
# below the switch in its IOMMU group: the preserves must be refused.
exec /tests/dma-stream-across-kexec switch-shared
