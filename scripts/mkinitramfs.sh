#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build the guest initramfs: busybox-static, the init script, the static
# test programs and the kernel itself (for kexec), packed by the kernel's
# own gen_init_cpio. Output: build/initramfs.cpio

. "$(dirname "$0")/lib.sh"

BZIMAGE=$KOBJ/arch/x86/boot/bzImage
GEN=$KOBJ/usr/gen_init_cpio
OUT=$INITRAMFS
[ -f "$BZIMAGE" ] || die "no kernel; run 'make kernel' first"
[ -x "$GEN" ] || make -s -C "$LINUX" O="$KOBJ" usr/gen_init_cpio
BUSYBOX=$(command -v busybox) || die "busybox-static is missing; run 'make deps'"
file -L "$BUSYBOX" | grep -q 'statically linked' ||
	die "$BUSYBOX is not static; install busybox-static"

# uAPI headers of the kernel under test, then the test programs: the
# harness's own, and the kselftests of the tree, linked statically.
make -s -C "$LINUX" O="$KOBJ" headers
make -s -C "$TOP/guest" OUT="$KOBJ/guest" HDR="$KOBJ/usr/include"
# Whole directories, or the programs named (INITRAMFS_SELFTESTS="": none).
read -r -a SELFTESTS <<< "${INITRAMFS_SELFTESTS-vfio iommu liveupdate}"
declare -A SELFTEST_PROGS=(
	[iommu]="iommufd iommufd_fail_nth iommufd_liveupdate_uapi_test
		 iommufd_liveupdate_kexec_test"
	[liveupdate]="liveupdate luo_kexec_simple luo_multi_session
		      luo_stress_sessions luo_stress_files")
for t in "${SELFTESTS[@]}"; do
	progs=()
	for p in ${SELFTEST_PROGS[$t]:-}; do
		progs+=("$KOBJ/kselftest/$t/$p")
	done
	mkdir -p "$KOBJ/kselftest/$t"
	make -s -C "$LINUX/tools/testing/selftests/$t" OUTPUT="$KOBJ/kselftest/$t" \
		KHDR_INCLUDES="-isystem $KOBJ/usr/include" EXTRA_CFLAGS=-static \
		USERLDFLAGS=-static \
		"${progs[@]}" 2> >(grep -v 'statically linked applications requires' >&2)
done

list=$KOBJ/initramfs.list
{
	for d in /bin /dev /proc /sys /tmp /boot /tests /selftests; do
		echo "dir $d 0755 0 0"
	done
	echo "nod /dev/console 0600 0 0 c 5 1"
	echo "file /bin/busybox $BUSYBOX 0755 0 0"
	echo "file /init $TOP/guest/init 0755 0 0"
	echo "file /boot/bzImage $BZIMAGE 0644 0 0"
	# Programs by their sources, so that stale binaries stay out.
	for src in "$TOP"/guest/tests/*.c "$TOP"/guest/bin/*.c; do
		t=${src#"$TOP"/guest/}
		t=${t%.c}
		echo "file /$t $KOBJ/guest/$t 0755 0 0"
	done
	# Wrappers that run a kselftest with this guest's devices.
	for t in "$TOP"/guest/tests/*.sh; do
		name=${t##*/}
		[ "$name" = lib.sh ] && echo "file /tests/lib.sh $t 0644 0 0" ||
			echo "file /tests/${name%.sh} $t 0755 0 0"
	done
	for t in "${SELFTESTS[@]}"; do
		echo "dir /selftests/$t 0755 0 0"
		for p in "$KOBJ/kselftest/$t"/*; do
			[ -f "$p" ] && [ -x "$p" ] &&
				echo "file /selftests/$t/${p##*/} $p 0755 0 0"
		done
	done
} > "$list"
"$GEN" "$list" > "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
msg "initramfs: $OUT ($(( $(stat -c %s "$OUT") >> 20 )) MiB)"
