#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Run one guest test in QEMU q35 with an emulated Intel IOMMU and judge it.
#   vm.sh TEST MODE AW STAGES [XFAIL]
# MODE: legacy | sm (x-scalable-mode) | sm-fl (x-scalable-mode + x-flts)
# AW: 39 | 48 (address width); STAGES: how many boots the test spans (each
# kexec adds one); XFAIL=1 tells the guest which checks are expected to fail.
# Logs: build/logs/TEST.MODE.awAW/{console,ktap,qemu,qemu-trace}.log
# Prints one "RESULT test mode aw verdict seconds reason" line; exit 0 for
# PASS and XFAIL, 1 otherwise.

. "$(dirname "$0")/lib.sh"

TEST=$1 MODE=$2 AW=$3 STAGES=$4 XFAIL=${5:-0}
TIMEOUT=${VM_TIMEOUT:-180}
BZIMAGE=$KOBJ/arch/x86/boot/bzImage
INITRD=$INITRAMFS
DIR=$LOGS/$TEST.$MODE.aw$AW
[ -f "$BZIMAGE" ] && [ -f "$INITRD" ] || die "build the kernel and initramfs first"

iommu="intel-iommu,intremap=on,device-iotlb=on,aw-bits=$AW"
case "$MODE" in
legacy)	;;
sm)	iommu+=",x-scalable-mode=on" ;;
sm-fl)	[ "$AW" = 48 ] || die "sm-fl needs aw-bits 48 (first-stage tables)"
	iommu+=",x-scalable-mode=on,x-flts=on" ;;
*)	die "unknown VT-d mode '$MODE' (legacy, sm, sm-fl)" ;;
esac

# TCG by default: the timing of the DMA-in-flight tests is measured under
# it, and a /dev/kvm that exists need not work (nested KVM refusing -cpu
# max's MSRs was seen here). KVM=1 opts in.
accel=(-accel tcg)
machine=q35
if [ "${KVM:-0}" = 1 ]; then
	[ -w /dev/kvm ] || die "KVM=1 but /dev/kvm is not usable"
	# Interrupt remapping with KVM needs the split irqchip.
	accel=(-accel kvm)
	machine=q35,kernel-irqchip=split
fi

cmdline="console=ttyS0,115200 panic=-1 kho=on liveupdate=on retain_initrd"
cmdline+=" intel_iommu=on luvtd=$MODE luaw=$AW lutest=$TEST lustage=1 lustages=$STAGES"
[ "$XFAIL" = 1 ] && cmdline+=" luxfail=1"
# KHO's scratch areas (lowmem, global, per node) hold every early memblock
# allocation of the next kernel, KASAN's shadow (1/8 of RAM) included. The
# default, twice this boot's early allocations, asks for more contiguous
# memory than a 2 GiB guest reliably has; fixed sizes fit and suffice.
cmdline+=" kho_scratch=64M,512M,256M"
# Only the series' KUnit suites run at every boot. The upstream generic_pt
# suites check for leaks with vmstat counters that lag per CPU, which fails
# at random in a 2-CPU guest; kunit.py runs them where that holds.
cmdline+=" kunit.filter_glob=*liveupdate*"
# Extra arguments a test asks for in tests.list ("boot=").
[ -n "${VM_BOOT_ARGS:-}" ] && cmdline+=" $VM_BOOT_ARGS"

rm -rf "$DIR" && mkdir -p "$DIR"
start=$(now)
# The IOMMU must come first, with device-iotlb=on so that it can
# invalidate device TLBs and the kernel enables ATS where a device has it.
# Then an edu on the root bus, which can address all of the guest's memory
# (edu clamps DMA to 28 bits by default), a root port with an edu behind it
# (the firmware reserves extra bus numbers below it, which Linux would not
# under pci=assign-busses), a conventional PCI bridge with two edus that
# share one IOMMU group (0000:06:01.0 and 0000:06:02.0), an igb NIC (an
# SR-IOV PF whose ACS quirk forbids preserving it), an NVMe controller (an
# SR-IOV PF without one) and, last so that the others keep their addresses,
# a root port (00:09.0) with a modern-only virtio-rng behind it
# (0000:07:00.0): a device with ATS whose DMA goes through the IOMMU
# (iommu_platform), for a userspace virtio driver.
# Traced besides faults, the VT-d enable bit and the root table pointer
# (its address and mode, verdict.sh's root table checks), for the checks
# of ATS across a kexec: queued invalidation on and off (which separates
# the boots), invalidation descriptors and config space writes.
# Events a test asks for in tests.list ("trace=").
trace=()
for ev in ${VM_TRACE:-}; do
	trace+=(-trace "$ev")
done
# Devices a test asks for in tests.list ("device="), after all the others
# so that these keep their addresses, with an audio backend that captures
# silence for a sound card among them, every 2 ms (a DMA write each time).
devices=()
for dev in ${VM_DEVICES:-}; do
	devices+=(-device "$dev")
done
[ ${#devices[@]} -eq 0 ] || devices=(-audiodev none,id=snd0,timer-period=2000 "${devices[@]}")
set +e
timeout "$TIMEOUT" qemu-system-x86_64 \
	-M "$machine" "${accel[@]}" -cpu max,la57=off -smp 2 -m "${VM_MEM:-2G}" \
	-device "$iommu" \
	-device edu,addr=0x4,dma_mask=0xffffffffffffffff \
	-device pcie-root-port,id=rp1,chassis=1,slot=1,addr=0x5,bus-reserve=4 \
	-device edu,bus=rp1 \
	-device pci-bridge,id=br1,chassis_nr=2,addr=0x7 \
	-device edu,bus=br1,addr=0x1 -device edu,bus=br1,addr=0x2 \
	-device igb,addr=0x6 \
	-device nvme-subsys,id=nvmes -device nvme,addr=0x8,serial=lu0,subsys=nvmes,sriov_max_vfs=1,sriov_vq_flexible=2,sriov_vi_flexible=1 \
	-device pcie-root-port,id=rp2,chassis=3,slot=2,addr=0x9 \
	-device virtio-rng-pci,bus=rp2,ats=on,iommu_platform=on,disable-legacy=on \
	"${devices[@]}" \
	-nic none -display none -monitor none -no-reboot \
	-serial "file:$DIR/console.log" -serial "file:$DIR/ktap.log" \
	-trace vtd_dmar_fault -trace vtd_fault_disabled -trace vtd_dmar_enable \
	-trace vtd_reg_dmar_root \
	-trace vtd_inv_qi_enable -trace vtd_inv_desc -trace pci_cfg_write \
	"${trace[@]}" -D "$DIR/qemu-trace.log" \
	-kernel "$BZIMAGE" -initrd "$INITRD" -append "$cmdline" \
	> "$DIR/qemu.log" 2>&1
qrc=$?
set -e
secs=$(elapsed "$start")
sed -i 's/\r$//' "$DIR/console.log" "$DIR/ktap.log"

verdict=$("$TOP/scripts/verdict.sh" "$DIR" "$TEST" "$STAGES" "$qrc")
reason=
[[ "$verdict" == *" "* ]] && reason=${verdict#* }
echo "RESULT $TEST $MODE $AW ${verdict%% *} $secs $reason"
case "$verdict" in PASS*|XFAIL*) exit 0 ;; esac
# Keep the logs of a failure from being overwritten by the next run.
mkdir -p "$LOGS/failed"
cp -r "$DIR" "$LOGS/failed/$TEST.$MODE.aw$AW.$(date +%H%M%S)"
exit 1
