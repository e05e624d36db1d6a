#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# vfio-pci-device-test: vfio's own kselftest vfio_pci_device_test,
# unchanged, on the edu of the root bus bound to vfio-pci. The edu has no
# reset method and no MSI-X: the two tests that need them skip.
. /tests/lib.sh
echo "# expect-skip vfio_pci_device_test.reset"
echo "# expect-skip vfio_pci_irq_test.msix.enable_trigger_disable"
bind_vfio 0000:00:04.0
exec /selftests/vfio/vfio_pci_device_test 0000:00:04.0
