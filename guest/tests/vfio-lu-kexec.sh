#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# vfio-lu-kexec: the in-tree kselftest vfio_pci_liveupdate_kexec_test on
# the edu behind the PCIe root port. Stage 1 runs with the device bound to
# vfio-pci, like a VMM's host; stage 2 binds drivers itself, since what may
# bind before the live update finished is part of the test.
. /tests/lib.sh
stage=$(lustage)
[ "$stage" = 1 ] && bind_vfio 0000:01:00.0
exec /selftests/vfio/vfio_pci_liveupdate_kexec_test -s "$stage" 0000:01:00.0
