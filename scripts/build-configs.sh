#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build the tree in the two configurations the test kernel is not (make
# check's "configs" step), each in its own object directory and with
# CONFIG_WERROR (a warning fails the build):
#   off      the series' options off (config/liveupdate-off.config);
#   modules  iommufd, VFIO and vfio-pci as modules, the options on
#            (config/liveupdate-modules.config), modules and modpost too.
# Neither kernel boots in a test; with ccache a rebuild of an unchanged
# tree costs little.

. "$(dirname "$0")/lib.sh"

build() {	# variant targets
	KOBJ=$BUILD/kobj-$1 KERNEL_CONFIGS="base liveupdate liveupdate-$1" \
		KERNEL_TARGETS=$2 "$TOP/scripts/build-kernel.sh"
}

build off vmlinux
build modules "vmlinux modules"
