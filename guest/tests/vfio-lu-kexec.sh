#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# vfio-lu-kexec: the in-tree kselftest vfio_pci_liveupdate_kexec_test on
# the edu behind the PCIe root port. Stage 1 runs with the device bound to
# vfio-pci, like a VMM's host; stage 2 binds drivers itself, since what may
# bind before the live update finished is part of the test.
#
# Stage 2 boots with pci=assign-busses, under which Linux numbers buses
# itself. The firmware left extra bus numbers below the root port (QEMU's
# bus-reserve), which Linux would not, so the test's "bus numbers are
# bit-identical" check fails unless the preserved hierarchy keeps them.
. /tests/lib.sh
port=0000:00:05.0 edu=0000:01:00.0
stage=$(lustage)
if [ "$stage" = 1 ]; then
	sec=$(config_byte $port 0x19) sub=$(config_byte $port 0x1a)
	if [ "$sub" -le "$sec" ]; then
		echo "# root port buses $sec-$sub: no numbers Linux would change" >&2
		exit 1
	fi
	echo pci=assign-busses > /tmp/lu-next-cmdline
	bind_vfio $edu
fi
exec /selftests/vfio/vfio_pci_liveupdate_kexec_test -s "$stage" $edu
