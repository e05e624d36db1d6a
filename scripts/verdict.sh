#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Judge one test run from its logs.
#   verdict.sh DIR TEST STAGES QEMU_EXIT
# Prints "PASS|XFAIL|SKIP|FAIL|TIMEOUT reason". QEMU must have exited 0
# (the guest powered off; 124 is a timeout); every "# expect-" line must be
# one this script knows, complete. Every stage must have a plan and exactly
# that many results, all "ok" and none skipped but those the test announced
# with "# expect-skip NAME" (each of which must skip); the console must be
# free of WARN, BUG,
# lockdep, sleep-in-atomic, kmemleak and DMAR fault reports, except faults
# at addresses the test announced with "# expect-dmar-fault ADDR" and the
# allocator's warnings of a test that announced "# expect-alloc-failures"
# (it injects them); QEMU must
# not have recorded unexpected faults either (TEST-10). What a test
# announces with "# expect-translation-never-off" (and "# expect-root-
# kept"), "# expect-ats-never-off", "# expect-link-kept",
# "# expect-devtlb-flush-at-shutdown",
# "# expect-devtlb-flush-then-ats-off", "# expect-hitless",
# "# expect-write-translated" and "# expect-stream" is checked in QEMU's
# trace. A timeout gets
# the same console and fault scans: a run that hung after a splat is a
# FAIL, not a TIMEOUT.

. "$(dirname "$0")/lib.sh"

DIR=$1 TEST=$2 STAGES=$3 QRC=$4
KTAP=$DIR/ktap.log CONSOLE=$DIR/console.log

# The console and fault scans below run for a timeout too; this is what
# a timeout that found nothing worse reports in the end.
timeout=
if [ "$QRC" = 124 ]; then
	last=$(grep -h 'lutest-begin' "$KTAP" 2>/dev/null | tail -1 || true)
	timeout="TIMEOUT no power-off in time (last: ${last:-nothing})"
elif [ "$QRC" != 0 ]; then
	echo "FAIL QEMU exited with $QRC, not by the guest's power-off"
	exit 0
fi

# Every announcement must parse, or the check it asks for would silently
# not run. The patterns are those of the checks below.
EXPECT_PATTERNS='^# expect-dmar-fault 0x[0-9a-f]+$
^# expect-translation-never-off$
^# expect-root-kept$
^# expect-ats-never-off [0-9a-f]+:[0-9a-f]+\.[0-7] 0x[0-9a-f]+$
^# expect-link-kept 0x[0-9a-f]+ [0-9a-f]+:[0-9a-f]+\.[0-7] 0x[0-9a-f]+ 0x[0-9a-f]+$
^# expect-devtlb-flush-at-shutdown 0x[0-9a-f]+$
^# expect-devtlb-flush-then-ats-off 0x[0-9a-f]+ [0-9a-f]+:[0-9a-f]+\.[0-7] 0x[0-9a-f]+$
^# expect-hitless 0x[0-9a-f]+ 0x[0-9a-f]+$
^# expect-write-translated 0x[0-9a-f]+ 0x[0-9a-f]+ 0x[0-9a-f]+$
^# expect-stream 0x[0-9a-f]+ 0x[0-9a-f]+ 0x[0-9a-f]+ [0-9a-f]+:[0-9a-f]+\.[0-7] 0x[0-9a-f]+ 0x[0-9a-f]+ 0x[0-9a-f]+$
^# expect-alloc-failures$
^# expect-skip [^ ]+$'
bad_expect=$(grep -a '^# expect-' "$KTAP" 2>/dev/null |
	grep -avE -f <(printf '%s\n' "$EXPECT_PATTERNS") | head -1 || true)
if [ -n "$bad_expect" ]; then
	echo "FAIL an announcement this verdict cannot parse: $bad_expect"
	exit 0
fi

# KTAP: per stage, the plan, the results and how the stage ended.
ktap=$(awk -v want="$STAGES" '
	/^# lutest-begin / { split($4, a, "="); s = a[2] + 0; begun[s] = 1; next }
	/^# lutest-end /   { split($5, a, "="); ended[s] = 1; rc[s] = a[2]; next }
	/^# lutest: /      { print "FAIL " substr($0, 3); done = 1; exit }
	/^# expect-skip /  { expskip[$3] = 1; next }
	/^1\.\.[0-9]+$/    { plan[s] = substr($0, 4) + 0; planned[s] = 1; next }
	/^not ok [0-9]+/   { n[s]++; bad++; if (!first) first = $0
			     if (!sbad[s]) sbad[s] = $0; next }
	/^ok [0-9]+/       { n[s]++; okn++
			     if ($0 ~ /# XFAIL/) xfail++
			     if ($0 ~ /# SKIP/) {
				     if ($3 in expskip) { skipped[$3] = 1; eskip++ }
				     else skip++
				     okn--
			     }
			     next }
	END {
		if (done) exit
		for (i = 1; i <= want; i++) {
			if (!begun[i]) { print "FAIL stage " i " never ran"; exit }
			if (!planned[i] || !plan[i]) {
				print "FAIL stage " i ": no plan"; exit
			}
			if (n[i] != plan[i]) {
				print "FAIL stage " i ": " n[i]+0 " of " plan[i]+0 " results"; exit
			}
			if (i < want && ended[i] && sbad[i]) {
				print "FAIL stage " i ": " sbad[i]; exit
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
		for (t in expskip)
			if (!(t in skipped)) {
				print "FAIL an announced skip did not happen: " t; exit
			}
		if (skip) { print "SKIP " skip " checks skipped"; exit }
		if (xfail) { print "XFAIL " xfail " expected failures"; exit }
		print "PASS " okn " ok" (eskip ? ", " eskip " announced skips" : "")
	}' "$KTAP" 2>/dev/null || echo "FAIL no KTAP log")
# A timeout's KTAP is incomplete by nature: scan its console first.
if [ -z "$timeout" ]; then
	case "$ktap" in
	*" never ran")
		# The guest died between two stages (the kexec, the next
		# kernel's boot): what the console said last is the lead.
		last=$(grep -a . "$CONSOLE" 2>/dev/null | tail -n 1 || true)
		echo "$ktap; console's last line: ${last:-none}"
		exit 0 ;;
	FAIL*|SKIP*) echo "$ktap"; exit 0 ;;
	esac
fi

# A test that injects allocation failures says so ("# expect-alloc-
# failures"): the allocator's warning for each, with its stack up to the
# end of the task's trace (at most 60 lines: a trace cut short must not
# hide what follows), is then expected. Everything else still counts.
splat_console=$CONSOLE
if grep -q '^# expect-alloc-failures$' "$KTAP"; then
	splat_console=$(mktemp)
	trap 'rm -f "$splat_console"' EXIT
	awk '/(page allocation failure|vmalloc error): / { skip = 61 }
	     !skip { print }
	     skip && (/<\/TASK>/ || skip == 1) { skip = 0; next }
	     skip { skip-- }' "$CONSOLE" > "$splat_console"
fi
splat=$(grep -m1 -E 'WARNING:|BUG:|Oops|Kernel panic|general protection|possible circular locking|possible recursive locking|inconsistent lock state|suspicious RCU usage|sleeping function called from invalid context|Call Trace:|UBSAN:|KASAN:|kmemleak: [0-9]+ new suspected memory leak|unreferenced object 0x|INFO: |detected stalls' "$splat_console" || true)
if [ -n "$splat" ]; then
	echo "FAIL kernel: ${splat#*] }"
	exit 0
fi

# Fault reports of both sides: the kernel's DMAR lines, QEMU's fault trace
# events and its own messages. Each must name an address ("fault addr 0x..",
# "addr 0x.." or "iova=0x..") on a page the test announced; a line without
# an address cannot be matched to an announcement, so it fails the run.
# One exception: QEMU says "New fault is not recorded due to compression of
# faults" when a fault arrives while an earlier one is still pending in the
# fault register; every fault is also traced with its address
# (vtd_dmar_fault) and judged there.
unexpected=$( {
	sed -n 's/^# expect-dmar-fault \(0x[0-9a-f]*\)$/expect \1/p' "$KTAP"
	grep -E 'DMAR: \[(DMA|INTR)' "$CONSOLE" | sed 's/^/kernel /'
	grep -hiE '^vtd_(dmar_fault|fault_disabled)|clamping|error|fault|failure|out of bounds|abort' \
		"$DIR/qemu-trace.log" "$DIR/qemu.log" 2>/dev/null |
		grep -v ': New fault is not recorded due to compression of faults$' |
		sed 's/^/QEMU /'
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
		}
		print; exit
	}' || true)
if [ -n "$unexpected" ]; then
	echo "FAIL unexpected fault, ${unexpected%% *}: ${unexpected#* }"
	exit 0
fi
if [ -n "$timeout" ]; then
	echo "$timeout"
	exit 0
fi

# A test that preserved a device's translation says so with "# expect-
# translation-never-off": QEMU's trace of the VT-d enable bit must then show
# no disable before the power-off, whichever boot turned it off. The guest's
# init marks the power-off with a config write (POWEROFF_MARK); a disable
# before it, the last event of the trace included, fails.
POWEROFF_MARK='pci_cfg_write mch 00:00.0 @0x3c <- 0xa5'
if grep -q '^# expect-translation-never-off$' "$KTAP"; then
	never_off=$(awk -v mark="$POWEROFF_MARK" '
		$0 == mark { poweroff = NR; next }
		$0 == "vtd_dmar_enable enable 1" { on++; next }
		$0 == "vtd_dmar_enable enable 0" && !poweroff { if (!off++) first = NR }
		END {
			if (!on)
				print "no VT-d enable in the trace: the never-off check has nothing to check"
			else if (off)
				print "translation was turned off " off " time(s) before the power-off, first at trace line " first
			else if (!poweroff)
				print "no power-off mark in the trace: the last boot did not reach its power-off"
		}' "$DIR/qemu-trace.log" 2>/dev/null || echo "no QEMU trace")
	if [ -n "$never_off" ]; then
		echo "FAIL VT-d enable (QEMU trace): $never_off"
		exit 0
	fi
fi

# "# expect-hitless A B": the guest marked two moments in QEMU's trace
# with config writes of A and then B to the host bridge's scratch register
# (as the power-off mark), around a change of owner that must leave the
# hardware alone: between them, no invalidation but interrupt entry cache
# ones (and their waits), no root table pointer and no enable or disable
# of translation.
for marks in $(sed -n 's/^# expect-hitless \(0x[0-9a-f]*\) \(0x[0-9a-f]*\)$/\1,\2/p' "$KTAP"); do
	hitless=$(awk -v a="${marks%,*}" -v b="${marks#*,}" '
		function mark(v) { return "pci_cfg_write mch 00:00.0 @0x3c <- " v }
		$0 == mark(a) && !start { start = NR; next }
		$0 == mark(b) && start && !end { end = NR; next }
		!start || end { next }
		$1 == "vtd_inv_desc" && $5 != "wait" && $5 != "iec" && !bad {
			bad = "a " $5 " invalidation at trace line " NR }
		($1 == "vtd_reg_dmar_root" || $1 == "vtd_dmar_enable") && !bad {
			bad = $1 " at trace line " NR }
		END {
			if (!start) print "no mark " a " in the trace"
			else if (!end) print "no mark " b " after mark " a " in the trace"
			else if (bad) print bad ", between marks " a " and " b
		}' "$DIR/qemu-trace.log" 2>/dev/null || echo "no QEMU trace")
	if [ -n "$hitless" ]; then
		echo "FAIL hitless change (QEMU trace): $hitless"
		exit 0
	fi
done

# "a, b, c" of the arguments, for the result line.
comma_list() {
	local IFS=,
	echo "$*" | sed 's/,/, /g'
}

# The checks below split QEMU's trace into boots. Boot N starts at the Nth
# "vtd_inv_qi_enable enabled 1": every kernel enables queued invalidation
# (interrupt remapping needs it) before it enumerates PCI, and a kexec'd
# kernel first turns off the queue the old one left on, then on again.
# Firmware comes before the first. mawk has neither strtonum() nor bit
# operations, hence the hex digit arithmetic.
TRACE_AWK_LIB='
	function hexval(s,   i, v) {
		s = tolower(s); sub(/^0x/, "", s); v = 0
		for (i = 1; i <= length(s); i++)
			v = v * 16 + index("0123456789abcdef", substr(s, i, 1)) - 1
		return v
	}
	function bit(v, n) { return int(v / 2 ^ n) % 2 }
	# ATS Enable (bit 15 of Control, at CAP + 6) as a write of value v at
	# CAP + off sets it: 1 or 0, or -1 if the write does not cover it (a
	# word or byte at CAP + 4 or 5 is the read-only Capability register).
	function ats_enable(off, v) {
		if (off == 6) return bit(v, 15)
		if (off == 7) return bit(v, 7)
		if (off == 4 && v > 65535) return bit(v, 31)
		return -1
	}
	/^vtd_inv_qi_enable enabled 1$/ { boot++ }
'

# A test whose device kept its translation ("# expect-translation-never-
# off") also gets the VT-d rule that the translation table mode (RTADDR.TTM)
# cannot change while translation is enabled: every root table pointer set
# with translation on (QEMU: "vtd_reg_dmar_root addr A scalable S") keeps
# the mode of the previous one. "# expect-root-kept": a next kernel that
# adopted the tables also keeps the root's address: every root set after
# the first boot is the one the first boot left.
if grep -q '^# expect-translation-never-off$' "$KTAP"; then
	keep_addr=0
	grep -q '^# expect-root-kept$' "$KTAP" && keep_addr=1
	roots=$(awk -v keep="$keep_addr" "$TRACE_AWK_LIB"'
		$1 == "vtd_dmar_enable" { te = ($NF == 1); next }
		$1 != "vtd_reg_dmar_root" { next }
		{
			addr = $3; sm = $NF
			if (boot >= 2) later++
			if (te && n && sm != mode && !bad)
				bad = "the root table mode changed with translation on, scalable " mode " -> " sm " (boot " boot ", trace line " NR ")"
			if (keep && boot >= 2 && addr != first_addr && !bad)
				bad = "the new kernel set root " addr ", not the preserved " first_addr " (boot " boot ", trace line " NR ")"
			if (boot < 2) first_addr = addr
			n++; mode = sm
		}
		END {
			if (bad) print bad
			else if (!n) print "no root table pointer in the trace"
			else if (keep && !later) print "no root table pointer set by a new kernel: nothing to compare"
		}' "$DIR/qemu-trace.log" 2>/dev/null || echo "no QEMU trace")
	if [ -n "$roots" ]; then
		echo "FAIL VT-d root table (QEMU trace): $roots"
		exit 0
	fi
fi

# A test that kept ATS enabled on a preserved device says "# expect-ats-
# never-off BUS:DEV.FN CAP" (QEMU's name of the function, the offset of its
# ATS capability): the old kernel's last write to the ATS Control register
# (CAP + 6) before the kexec must have set Enable (bit 15), and from the
# new kernel's start to the power-off nothing may write it at all. QEMU's
# "pci_cfg_write NAME BUS:DEV.FN @OFF <- VAL" does not give the access
# width: in the new kernel any write from CAP + 4 to CAP + 7 counts; the
# old kernel's Enable is read only from writes that cover it (ats_enable).
read -r ats_dev ats_cap < <(sed -n \
	's/^# expect-ats-never-off \([0-9a-f]*:[0-9a-f]*\.[0-7]\) \(0x[0-9a-f]*\)$/\1 \2/p' \
	"$KTAP" | head -1) || true
if [ -n "${ats_dev:-}" ]; then
	ats=$(awk -v dev="$ats_dev" -v cap="$ats_cap" "$TRACE_AWK_LIB"'
		BEGIN { cap = hexval(cap) }
		$1 != "pci_cfg_write" || $(NF - 3) != dev { next }
		{
			off = hexval(substr($(NF - 2), 2)) - cap
			if (off < 4 || off > 7) next
			on = ats_enable(off, hexval($NF))
			what = $(NF - 2) " <- " $NF
			if (boot >= 2) { if (!new++) first = what; next }
			if (on < 0) next
			old++; last = what; last_on = on
		}
		END {
			if (boot < 2)
				print "no second QI enable in the trace: no new kernel to check"
			else if (new)
				print "the new kernel wrote ATS Control of " dev " " new " time(s), first " first
			else if (!old)
				print "the old kernel never wrote ATS Control of " dev ": ATS was not enabled"
			else if (!last_on)
				print "the last write of the old kernel to ATS Control of " dev " cleared Enable: " last
		}' "$DIR/qemu-trace.log" 2>/dev/null || echo "no QEMU trace")
	if [ -n "$ats" ]; then
		echo "FAIL ATS not kept on (QEMU trace): $ats"
		exit 0
	fi
fi

# "# expect-link-kept MARK BUS:DEV.FN CAP LNKCTL" (one per device on a
# preserved path; CAP: its PCI Express capability, LNKCTL: its Link
# Control at kexec): the new kernel adopts the link and the device's
# settings as they are. From the start of the second boot until the
# guest's trace mark MARK (when it is done with the device): no write to
# Device Control (CAP + 8) or Device Control 2 (CAP + 0x28), and no write
# to Link Control (CAP + 0x10) that sets Retrain Link (bit 5) or changes
# ASPM Control (bits 1:0) or Common Clock Configuration (bit 6); other
# Link Control bits (bandwidth notification interrupts) may change.
while read -r link_mark link_dev link_cap link_ctl; do
	link=$(awk -v m="$link_mark" -v dev="$link_dev" -v cap="$link_cap" -v ctl="$link_ctl" "$TRACE_AWK_LIB"'
		BEGIN { cap = hexval(cap); keep = hexval(ctl) % 128 - hexval(ctl) % 64 + hexval(ctl) % 4 }
		boot >= 2 && $0 == "pci_cfg_write mch 00:00.0 @0x3c <- " m { marked = 1; exit }
		$1 != "pci_cfg_write" || $(NF - 3) != dev || boot < 2 { next }
		{
			off = hexval(substr($(NF - 2), 2)) - cap
			v = hexval($NF) % 65536
			what = dev " @" substr($(NF - 2), 2) " <- " $NF " (trace line " NR ")"
			if (off == 8 || off == 40)
				bad = "the new kernel wrote Device Control" (off == 8 ? "" : " 2") " of " what
			else if (off == 16 && bit(v, 5))
				bad = "the new kernel retrained the link of " what
			else if (off == 16 && v % 128 - v % 64 + v % 4 != keep)
				bad = "the new kernel changed ASPM or common clock of " what
			if (bad) { print bad; exit }
		}
		END {
			if (bad) exit
			if (boot < 2) print "no second QI enable in the trace: no new kernel to check"
			else if (!marked) print "no mark " m " in the new kernel'"'"'s trace"
		}' "$DIR/qemu-trace.log" 2>/dev/null || echo "no QEMU trace")
	if [ -n "$link" ]; then
		echo "FAIL link not adopted (QEMU trace): $link"
		exit 0
	fi
done < <(sed -n 's/^# expect-link-kept \(0x[0-9a-f]*\) \([0-9a-f]*:[0-9a-f]*\.[0-7]\) \(0x[0-9a-f]*\) \(0x[0-9a-f]*\)$/\1 \2 \3 \4/p' "$KTAP")

# "# expect-devtlb-flush-at-shutdown SID": the old kernel's shutdown
# invalidates the caches of a unit it leaves translating, globally; after
# its last global IOTLB invalidation (descriptor type 2, granularity bits
# 5:4 = 01b) the device with source id SID must get a device-TLB
# invalidation (type 3, SID in bits 47:32), or the device keeps
# translations of entries that no longer exist into the new kernel.
# QEMU: "vtd_inv_desc invalidate desc type NAME high 0x.. low 0x..".
devtlb_sid=$(sed -n 's/^# expect-devtlb-flush-at-shutdown \(0x[0-9a-f]*\)$/\1/p' "$KTAP" | head -1)
if [ -n "$devtlb_sid" ]; then
	devtlb=$(awk -v sid="$devtlb_sid" "$TRACE_AWK_LIB"'
		BEGIN { sid = hexval(sid) }
		boot >= 2 { exit }
		$1 != "vtd_inv_desc" || $(NF - 1) != "low" { next }
		{
			lo = tolower($NF); sub(/^0x/, "", lo)
			while (length(lo) < 16) lo = "0" lo
			type = hexval(substr(lo, 16, 1)) + 16 * (int(hexval(substr(lo, 14, 1)) / 2) % 8)
			if (type == 2 && hexval(substr(lo, 15, 1)) % 4 == 1) {
				global = NR; after = 0
			} else if (type == 3 && hexval(substr(lo, 5, 4)) == sid) {
				dtlb++; last = NR
				if (global) after++
			}
		}
		END {
			if (boot < 1)
				print "no QI enable in the trace: no old kernel to check"
			else if (!global)
				print "no global IOTLB invalidation by the old kernel"
			else if (!after)
				printf "no device-TLB invalidation for source id 0x%x after the last global IOTLB invalidation of the old kernel (trace line %d); %d for it earlier%s\n", \
					sid, global, dtlb, dtlb ? " (the last at line " last ")" : ""
		}' "$DIR/qemu-trace.log" 2>/dev/null || echo "no QEMU trace")
	if [ -n "$devtlb" ]; then
		echo "FAIL device TLB not flushed at shutdown (QEMU trace): $devtlb"
		exit 0
	fi
fi

# "# expect-devtlb-flush-then-ats-off SID BUS:DEV.FN CAP": a new kernel
# that cannot adopt the ATS a preserved device still has enabled (a
# negative test: it booted with pci=noats) must, in its own boot,
# invalidate the device's TLB (descriptor type 3 for SID) and only after
# that clear Enable in its ATS Control register, or the device may keep
# using translations of the previous kernel's domain that no invalidation
# will reach. The first write of the new kernel that clears Enable (a
# dword at CAP + 4, or a write at CAP + 6 or CAP + 7) must come after such
# an invalidation.
read -r off_sid off_dev off_cap < <(sed -n \
	's/^# expect-devtlb-flush-then-ats-off \(0x[0-9a-f]*\) \([0-9a-f]*:[0-9a-f]*\.[0-7]\) \(0x[0-9a-f]*\)$/\1 \2 \3/p' \
	"$KTAP" | head -1) || true
if [ -n "${off_sid:-}" ]; then
	atsoff=$(awk -v sid="$off_sid" -v dev="$off_dev" -v cap="$off_cap" "$TRACE_AWK_LIB"'
		BEGIN { sid = hexval(sid); cap = hexval(cap) }
		boot < 2 { next }
		$1 == "vtd_inv_desc" && $(NF - 1) == "low" {
			lo = tolower($NF); sub(/^0x/, "", lo)
			while (length(lo) < 16) lo = "0" lo
			type = hexval(substr(lo, 16, 1)) + 16 * (int(hexval(substr(lo, 14, 1)) / 2) % 8)
			if (type == 3 && hexval(substr(lo, 5, 4)) == sid && !inv)
				inv = NR
			next
		}
		$1 != "pci_cfg_write" || $(NF - 3) != dev { next }
		{
			off = hexval(substr($(NF - 2), 2)) - cap
			on = ats_enable(off, hexval($NF))
			if (on < 0) next
			writes++
			if (cleared || on)
				next
			cleared = NR; what = $(NF - 2) " <- " $NF; inv_before = inv
		}
		END {
			if (boot < 2)
				print "no second QI enable in the trace: no new kernel to check"
			else if (!cleared)
				print "the new kernel never cleared Enable in ATS Control of " dev " (" writes + 0 " write(s) to it)"
			else if (!inv)
				printf "no device-TLB invalidation for source id 0x%x by the new kernel (ATS Enable of %s cleared at trace line %d: %s)\n", \
					sid, dev, cleared, what
			else if (!inv_before)
				printf "the new kernel cleared ATS Enable of %s (trace line %d: %s) before invalidating the device TLB of source id 0x%x (trace line %d)\n", \
					dev, cleared, what, sid, inv
		}' "$DIR/qemu-trace.log" 2>/dev/null || echo "no QEMU trace")
	if [ -n "$atsoff" ]; then
		echo "FAIL ATS not turned off after a device-TLB flush (QEMU trace): $atsoff"
		exit 0
	fi
fi
# "# expect-write-translated MARK SID IOVA": a write the device was told
# to make after the guest's trace mark MARK (a DMA left in flight across a
# kexec) must have been translated: an IOTLB hit or update for source id
# SID at the page of IOVA after the mark (tests.list: trace=
# vtd_iotlb_page_hit and trace=vtd_iotlb_page_update). The result line
# reports the boot of the last translation of each: 1 for the old kernel
# (QEMU's trace counts boots by queued-invalidation enables), 2 for the
# new one.
boots=()
while read -r wt_mark wt_sid wt_iova; do
	boot=$(awk -v m="$wt_mark" -v sid="$wt_sid" -v iova="$wt_iova" "$TRACE_AWK_LIB"'
		BEGIN { sid = hexval(sid); iova = hexval(iova) }
		$0 == "pci_cfg_write mch 00:00.0 @0x3c <- " m && !start {
			start = NR; next }
		!start { next }
		# "vtd_iotlb_page_hit IOTLB page hit sid 0x20 iova 0x1123000 ..."
		($1 == "vtd_iotlb_page_hit" || $1 == "vtd_iotlb_page_update") &&
		    $5 == "sid" && $7 == "iova" {
			a = hexval($8)
			if (hexval($6) == sid && a - a % 4096 == iova) {
				last = boot; n++ }
		}
		END {
			if (!start) print "FAIL no mark " m " in the trace"
			else if (!n) printf "FAIL no translation for source id 0x%x at IOVA 0x%x after mark %s\n", sid, iova, m
			else print last
		}' "$DIR/qemu-trace.log" 2>/dev/null || echo "FAIL no QEMU trace")
	if [[ "$boot" == FAIL* ]]; then
		echo "FAIL write in flight (QEMU trace): ${boot#FAIL }"
		exit 0
	fi
	boots+=("$boot")
done < <(sed -n 's/^# expect-write-translated \(0x[0-9a-f]*\) \(0x[0-9a-f]*\) \(0x[0-9a-f]*\)$/\1 \2 \3/p' "$KTAP")
# "# expect-stream KEXEC RETRIEVED STOPPED DEV SID IOVA LEN": a device
# that writes on its own all through the handover (DEV as QEMU's trace
# names it, source id SID, into [IOVA, IOVA + LEN)) must have translated
# writes in each phase, told apart by events of the trace that are there
# anyway: (1) from the old kernel's freeze (the guest's mark KEXEC is
# written just before reboot(), and vfio-pci's freeze then sets INTx
# Disable in DEV's command register) to its shutdown flushes (its last
# invalidation descriptor); (2) from there to the new kernel's first VT-d
# register access (it reads the capability register first; the old one
# never does at shutdown): purgatory and early boot; (3) from there to
# the new kernel's queued invalidation enable; (4) from there to the
# guest's mark RETRIEVED; (5) from there to STOPPED. One announcement per
# device; the result line gives the number of translations in each phase.
streams=()
while read -r st_kexec st_ret st_stop st_dev st_sid st_iova st_len; do
	stream=$(awk -v mk="$st_kexec" -v mr="$st_ret" -v ms="$st_stop" -v dev="$st_dev" \
		-v sid="$st_sid" -v iova="$st_iova" -v len="$st_len" "$TRACE_AWK_LIB"'
		BEGIN { sid = hexval(sid); lo = hexval(iova); hi = lo + hexval(len)
			mark = "pci_cfg_write mch 00:00.0 @0x3c <- " }
		phase == 0 && $0 == mark mk { phase = 0.5; next }
		# "pci_cfg_write AC97 00:0a.0 @0x4 <- 0x507"
		phase == 0.5 && $1 == "pci_cfg_write" && $3 == dev && $4 == "@0x4" &&
		    bit(hexval($6), 10) { phase = 1; next }
		phase == 1 && $1 == "vtd_inv_desc" { n[1] += pending; pending = 0; flushed = 1; next }
		phase == 1 && $1 == "vtd_reg_read" && $2 == "addr" && $3 == "0x8" {
			n[2] = pending; phase = 3; next }
		phase == 3 && $0 == "vtd_inv_qi_enable enabled 1" { phase = 4; next }
		phase == 4 && $0 == mark mr { phase = 5; next }
		phase == 5 && $0 == mark ms { phase = 6; exit }
		phase >= 1 && ($1 == "vtd_iotlb_page_hit" || $1 == "vtd_iotlb_page_update") &&
		    $5 == "sid" && $7 == "iova" && hexval($6) == sid {
			a = hexval($8)
			if (a < lo || a >= hi) next
			if (phase == 1) pending++
			else n[phase]++
		}
		END {
			if (phase < 6) {
				if (phase == 0) miss = "mark " mk
				else if (phase == 0.5) miss = "freeze of " dev " (INTx Disable set)"
				else if (phase == 1) miss = "VT-d access of the new kernel"
				else if (phase == 3) miss = "queued invalidation enable of the new kernel"
				else miss = "mark " (phase == 4 ? mr : ms)
				print "FAIL no " miss " in the trace"
				exit
			}
			if (!flushed) { print "FAIL no invalidation between the freeze and the new kernel"; exit }
			split("after the freeze,after the shutdown flushes,before queued invalidation,to the retrieve,after the retrieve", name, ",")
			for (i = 1; i <= 5; i++)
				if (!n[i]) { printf "FAIL no translated write %s (phase %d)\n", name[i], i; exit }
			printf "%d/%d/%d/%d/%d\n", n[1], n[2], n[3], n[4], n[5]
		}' "$DIR/qemu-trace.log" 2>/dev/null || echo "FAIL no QEMU trace")
	if [[ "$stream" == FAIL* ]]; then
		echo "FAIL DMA stream of $st_dev (QEMU trace): ${stream#FAIL }"
		exit 0
	fi
	streams+=("$st_dev $stream")
done < <(sed -n 's/^# expect-stream //p' "$KTAP")
stream=
if [ ${#streams[@]} -gt 0 ]; then
	stream="stream writes translated in each phase (freeze/shutdown-to-boot/boot-to-QI/QI-to-retrieve/after): $(comma_list "${streams[@]}")"
fi
written=
if [ ${#boots[@]} -eq 1 ]; then
	written="in-flight write translated in boot ${boots[0]}"
elif [ ${#boots[@]} -gt 1 ]; then
	written="in-flight writes translated in boots $(comma_list "${boots[@]}")"
fi
echo "$ktap${written:+, $written}${stream:+, $stream}"
