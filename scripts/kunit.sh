#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Every KUnit suite that drivers/iommu/.kunitconfig builds, the upstream
# generic_pt suites as well as the series' own, the usual way, outside the
# test VM: the kernel's kunit.py, x86_64 under QEMU (KHO, which the live
# update suites need, does not exist on UML). Passes only if no test failed
# or crashed and the tests that skipped are exactly those config/kunit-skips
# lists, with the same reasons: a new skip fails, and so does a listed one
# that runs now (the list must say what is true). An empty run fails.
#   Output: build/kunit-x86 (objects), build/logs/kunit-py.log (KTAP),
#   build/logs/kunit-py.parsed.log (kunit.py's summary of it)

. "$(dirname "$0")/lib.sh"

OUT=$BUILD/kunit-x86
LOG=$LOGS/kunit-py.log
PARSED=$LOGS/kunit-py.parsed.log
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
	--make_options CC="$CC" --jobs "$(nproc)" --raw_output=all) > "$LOG" 2>&1 || rc=$?
[ $rc -eq 0 ] || die "kunit.py failed (exit $rc; log: $LOG)"
(cd "$LINUX" && python3 tools/testing/kunit/kunit.py parse "$LOG") > "$PARSED" 2>&1 || rc=$?

summary=$(grep -o 'Ran [0-9]* tests: .*' "$PARSED" | tail -n 1 || true)
msg "kunit.py: ${summary:-no summary} (log: $LOG)"
[ $rc -eq 0 ] || die "kunit.py parse failed (exit $rc; log: $PARSED)"
# "Ran N tests: passed: P[, skipped: S]" with N = P + S: no failed or crashed.
[[ "$summary" =~ ^Ran\ ([0-9]+)\ tests:\ passed:\ ([0-9]+)(,\ skipped:\ ([0-9]+))?$ ]] &&
	[ "${BASH_REMATCH[1]}" = $((BASH_REMATCH[2] + ${BASH_REMATCH[4]:-0})) ] &&
	[ "${BASH_REMATCH[1]}" -gt 0 ] || die "not every test passed or skipped: $summary"

# The skipped cases with their reasons, against the expected ones.
unexpected=$(diff <(grep -v '^#' "$TOP/config/kunit-skips" | sort) \
		  <("$TOP/scripts/kunit-skips.awk" "$LOG" | sort)) ||
	die "the skips differ from config/kunit-skips ('<' listed, '>' seen):"$'\n'"$unexpected"
# A skip without a reason prints no line above: count them too.
listed=$(grep -vc '^#' "$TOP/config/kunit-skips")
[ "${BASH_REMATCH[4]:-0}" = "$listed" ] ||
	die "${BASH_REMATCH[4]:-0} tests skipped, config/kunit-skips lists $listed"
msg "kunit.py: the $listed skips are the expected ones"
