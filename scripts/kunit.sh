#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The series' KUnit suites the usual way, outside the test VM: the kernel's
# kunit.py with drivers/iommu/.kunitconfig, x86_64 under QEMU (KHO, which
# the suites need, does not exist on UML). Passes only if every test ran
# and passed: a skip or a failure fails, and so does an empty run.
#   Output: build/kunit-x86 (objects), build/logs/kunit-py.log

. "$(dirname "$0")/lib.sh"

OUT=$BUILD/kunit-x86
LOG=$LOGS/kunit-py.log
[ -d "$LINUX/.git" ] || die "no tree; run 'make tree' first"
mkdir -p "$LOGS" "$OUT"

kernel_cc

# kunit.py always asks QEMU for KVM first, and a /dev/kvm that exists need
# not work (see vm.sh): unless KVM=1, a wrapper drops every accelerator
# but TCG.
if [ "${KVM:-0}" != 1 ]; then
	bin=$OUT/tcg-bin
	mkdir -p "$bin"
	cat > "$bin/qemu-system-x86_64" <<'WRAP'
#!/bin/bash
args=()
while [ $# -gt 0 ]; do
	if [ "$1" = -accel ] && [ "$2" != tcg ]; then shift 2; continue; fi
	args+=("$1"); shift
done
exec /usr/bin/qemu-system-x86_64 "${args[@]}"
WRAP
	chmod +x "$bin/qemu-system-x86_64"
	PATH=$bin:$PATH
fi

rc=0
(cd "$LINUX" && timeout 1800 python3 tools/testing/kunit/kunit.py run \
	--arch=x86_64 --kunitconfig=drivers/iommu --build_dir="$OUT" \
	--make_options CC="$CC" --jobs "$(nproc)" '*liveupdate*') > "$LOG" 2>&1 || rc=$?

summary=$(grep -o 'Ran [0-9]* tests: .*' "$LOG" | tail -n 1 || true)
msg "kunit.py: ${summary:-no summary} (log: $LOG)"
[ $rc -eq 0 ] || die "kunit.py failed (exit $rc)"
# "Ran N tests: passed: N" and nothing else: no skipped, failed or crashed.
[[ "$summary" =~ ^Ran\ ([0-9]+)\ tests:\ passed:\ ([0-9]+)$ ]] &&
	[ "${BASH_REMATCH[1]}" = "${BASH_REMATCH[2]}" ] &&
	[ "${BASH_REMATCH[1]}" -gt 0 ] || die "not every test passed: $summary"
