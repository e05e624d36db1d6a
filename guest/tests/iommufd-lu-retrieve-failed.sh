#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The edu preserved as in iommufd-lu-abandon; in the new kernel the VMM
# punches a hole into the retrieved RAM memfd, so that the retrieve of its
# iommufd fails after taking the restored domain: that retrieve must drop
# the HWPT and block the edu, since LUO keeps its error for the boot.
exec /tests/iommufd-lu-abandon retrieve-failed
