# SPDX-License-Identifier: GPL-2.0
# Shell helpers for the guest wrappers of in-tree kselftests.

# The stage this boot runs ("lustage=" on the command line).
lustage() {
	for arg in $(cat /proc/cmdline); do
		case "$arg" in lustage=*) echo "${arg#lustage=}"; return ;; esac
	done
	echo 1
}

# Bind every given device to vfio-pci, as a host sets up assigned devices.
bind_vfio() {
	for bdf in "$@"; do
		echo vfio-pci > "/sys/bus/pci/devices/$bdf/driver_override"
		echo "$bdf" > /sys/bus/pci/drivers/vfio-pci/bind
	done
}

# One byte of config space, in decimal, straight from the hardware.
config_byte() {
	od -An -tu1 -j "$(($2))" -N1 "/sys/bus/pci/devices/$1/config" | tr -d ' '
}

# kmemleak, for a test booted with kmemleak=on: forget what it knows now,
# and later scan twice, past its minimum object age. A leak makes the
# kernel log "kmemleak: N new suspected memory leaks", which fails the run
# (verdict.sh).
kmemleak_baseline() {
	echo scan > /sys/kernel/debug/kmemleak &&
		echo clear > /sys/kernel/debug/kmemleak
}

kmemleak_scan() {
	sleep 6
	echo scan > /sys/kernel/debug/kmemleak &&
		echo scan > /sys/kernel/debug/kmemleak
}
