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

# The in-tree kselftest iommufd_liveupdate_kexec_test on the edu of the root
# bus. Stage 1 preserves the edu as a VMM does; stage 2 runs the test's
# mode $1 (empty: the VMM takes its device back; see the test's header).
# With "kmemleak" as $2, for a test booted with kmemleak=on, a leak scan
# follows stage 2.
iommufd_lu_kexec_test() {
	edu=0000:00:04.0 kselftest=/selftests/iommu/iommufd_liveupdate_kexec_test
	if [ "$(lustage)" = 1 ]; then
		bind_vfio $edu
		echo "# expect-translation-never-off"
		exec $kselftest -s 1 $edu
	fi
	[ "$2" = kmemleak ] || exec $kselftest -s 2 $1 $edu
	kmemleak_baseline || exit 1
	$kselftest -s 2 $1 $edu || exit
	kmemleak_scan
}

# One of LUO's own two-stage kselftests, unchanged (its programs print no
# results of their own: they exit 0, or fail and say why). Stage 1 leaves a
# child holding the sessions and returns; init then kexecs, as vmtest.sh
# does, and stage 2 checks what crossed. One result per stage, from the
# program's exit status.
luo_kexec_selftest() {
	stage=$(lustage)
	echo "KTAP version 1"
	echo "1..1"
	/selftests/liveupdate/$1 -s "$stage"
	rc=$?
	if [ $rc = 0 ]; then
		echo "ok 1 $1 stage $stage"
	else
		echo "not ok 1 $1 stage $stage: exit status $rc"
	fi
	return $rc
}
