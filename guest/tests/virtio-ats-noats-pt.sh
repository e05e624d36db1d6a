#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# virtio-ats-noats with iommu.passthrough=1 in the next kernel too: the
# refused device must be blocked, not put in an identity domain.
exec /tests/virtio-ats-across-kexec noats-pt
