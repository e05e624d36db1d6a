#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Judge one test run from its logs.
#   verdict.sh DIR TEST STAGES QEMU_EXIT
# Prints "PASS|XFAIL|SKIP|FAIL|TIMEOUT reason". The KTAP results of every
# stage must be complete and "ok"; the console must be free of WARN, BUG,
# lockdep, sleep-in-atomic and DMAR fault reports, except faults at
# addresses the test announced with "# expect-dmar-fault ADDR"; QEMU must
# not have recorded unexpected faults either (TEST-10).

. "$(dirname "$0")/lib.sh"

DIR=$1 TEST=$2 STAGES=$3 QRC=$4
KTAP=$DIR/ktap.log CONSOLE=$DIR/console.log

if [ "$QRC" = 124 ]; then
	last=$(grep -h 'lutest-begin' "$KTAP" 2>/dev/null | tail -1 || true)
	echo "TIMEOUT no power-off in time (last: ${last:-nothing})"
	exit 0
fi

# KTAP: per stage, the plan, the results and how the stage ended.
ktap=$(awk -v want="$STAGES" '
	/^# lutest-begin / { split($4, a, "="); s = a[2] + 0; begun[s] = 1; next }
	/^# lutest-end /   { split($5, a, "="); ended[s] = 1; rc[s] = a[2]; next }
	/^# lutest: /      { print "FAIL " substr($0, 3); done = 1; exit }
	/^1\.\.[0-9]+$/    { plan[s] = substr($0, 4) + 0; next }
	/^not ok [0-9]+/   { n[s]++; bad++; if (!first) first = $0; next }
	/^ok [0-9]+/       { n[s]++
			     if ($0 ~ /# XFAIL/) xfail++
			     if ($0 ~ /# SKIP/) skip++
			     next }
	END {
		if (done) exit
		for (i = 1; i <= want; i++) {
			if (!begun[i]) { print "FAIL stage " i " never ran"; exit }
			if (n[i] != plan[i]) {
				print "FAIL stage " i ": " n[i]+0 " of " plan[i]+0 " results"; exit
			}
			if (i < want && ended[i] && bad) {
				print "FAIL stage " i ": " first; exit
			}
			if (i < want && ended[i] && rc[i] != 0) {
				print "FAIL stage " i " returned (rc=" rc[i] ") instead of kexec"; exit
			}
		}
		if (begun[want + 1]) { print "FAIL unexpected stage " want + 1; exit }
		if (bad) { print "FAIL " bad " failed: " first; exit }
		if (!ended[want] || rc[want] != 0) {
			print "FAIL last stage exit rc=" rc[want]; exit
		}
		if (skip) { print "SKIP " skip " checks skipped"; exit }
		if (xfail) { print "XFAIL " xfail " expected failures"; exit }
		print "PASS"
	}' "$KTAP" 2>/dev/null || echo "FAIL no KTAP log")
case "$ktap" in
FAIL*|SKIP*) echo "$ktap"; exit 0 ;;
esac

splat=$(grep -m1 -E 'WARNING:|BUG:|Oops|Kernel panic|general protection|possible circular locking|possible recursive locking|inconsistent lock state|suspicious RCU usage|sleeping function called from invalid context|Call Trace:|UBSAN:|KASAN:|kmemleak|INFO: |detected stalls' "$CONSOLE" || true)
if [ -n "$splat" ]; then
	echo "FAIL kernel: ${splat#*] }"
	exit 0
fi

# Fault reports of both sides: the kernel's DMAR lines, QEMU's fault trace
# events and its own messages. Each must name an address ("fault addr 0x..",
# "addr 0x.." or "iova=0x..") on a page the test announced; a line without
# an address passes only if some fault was announced at all.
unexpected=$( {
	sed -n 's/^# expect-dmar-fault \(0x[0-9a-f]*\)$/expect \1/p' "$KTAP"
	grep -E 'DMAR: \[(DMA|INTR)' "$CONSOLE" | sed 's/^/kernel /'
	grep -hiE '^vtd_(dmar_fault|fault_disabled)|clamping|error|fault|failure|out of bounds|abort' \
		"$DIR/qemu-trace.log" "$DIR/qemu.log" 2>/dev/null | sed 's/^/QEMU /'
} | awk '
	# The page of a hex address, as text: digits above the low 12 bits.
	function page(a) {
		sub(/^0x0*/, "", a); a = tolower(a)
		a = length(a) > 3 ? substr(a, 1, length(a) - 3) : ""
		return a == "" ? "0" : a
	}
	$1 == "expect" { want[page($2)] = 1; n++; next }
	/clamping/ { print; exit }	# an edu that cannot reach its IOVA
	{
		if (match($0, /(addr |iova=)0x[0-9a-fA-F]+/)) {
			a = substr($0, RSTART, RLENGTH); sub(/.*0x/, "0x", a)
			if (page(a) in want) next
		} else if (n) next
		print; exit
	}' || true)
if [ -n "$unexpected" ]; then
	echo "FAIL unexpected fault, ${unexpected%% *}: ${unexpected#* }"
	exit 0
fi

# A test that preserved a device's translation says so with "# expect-
# translation-never-off": QEMU's trace of the VT-d enable bit must then show
# no disable but the final power-off's, whichever boot turned it off.
if grep -q '^# expect-translation-never-off$' "$KTAP"; then
	events=$(grep -E '^vtd_dmar_enable ' "$DIR/qemu-trace.log" 2>/dev/null || true)
	off=$(sed '$d' <<< "$events" | grep -c 'enable 0' || true)
	if ! grep -q 'enable 1' <<< "$events"; then
		echo "FAIL no VT-d enable in QEMU's trace: the never-off check has nothing to check"
		exit 0
	fi
	if [ "$off" != 0 ]; then
		echo "FAIL translation was turned off $off time(s) before the power-off (QEMU trace)"
		exit 0
	fi
fi
echo "$ktap"
