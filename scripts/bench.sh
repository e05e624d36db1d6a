#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make bench: what a live update costs in IOMMU work, layout by layout.
#
# Builds a kernel without the test kernel's debugging (no KASAN, lockdep or
# KUnit: base and liveupdate fragments only) in build/bench/kobj, an
# initramfs with it, and runs guest/tests/lu-bench in one QEMU guest: one
# kexec per layout (lu-bench.c says what it measures). Then it joins what
# the VMM measured (its KTAP log) with what each kernel logged of its own
# phases (the console) into build/bench/bench.csv, prints a table and
# plots the phases and the preserved pages against guest size and against
# the number of areas (build/bench/*.png).
#   LAYOUTS="SIZE:FOLIO:AREAS ..."   override the layouts
#   MODE=sm AW=48                    the VT-d mode
#   BENCH_ONLY_REPORT=1              only redo the report from the last run

. "$(dirname "$0")/lib.sh"

BENCH=$TOP/build/bench
MODE=${MODE:-sm} AW=${AW:-48}
# Guest RAM from 16 MiB up in 2M folios (2M IOMMU pages) and in 4K folios,
# then 256 MiB split into more and more areas.
DEFAULT_LAYOUTS="16M:2M:1 64M:2M:1 256M:2M:1 1G:2M:1 2G:2M:1
	16M:4K:1 64M:4K:1 256M:4K:1 1G:4K:1
	256M:2M:16 256M:2M:256 256M:2M:4096 256M:4K:65536"
read -r -a layouts <<< "$(echo ${LAYOUTS:-$DEFAULT_LAYOUTS})"
DIR=$BENCH/logs/lu-bench.$MODE.aw$AW
CSV=$BENCH/bench.csv

run_bench() {
	local arg
	[ -d "$LINUX/.git" ] || "$TOP/scripts/tree.sh"
	mkdir -p "$BENCH"
	ln -sfn "$LINUX" "$BENCH/linux"
	BUILD=$BENCH KERNEL_CONFIGS="base liveupdate" \
		"$TOP/scripts/build-kernel.sh"
	BUILD=$BENCH INITRAMFS_SELFTESTS= "$TOP/scripts/mkinitramfs.sh"
	arg=$(IFS=,; echo "${layouts[*]}")
	msg "running ${#layouts[@]} layouts, one kexec each (VT-d $MODE, aw-bits $AW)"
	BUILD=$BENCH VM_MEM=4G VM_TIMEOUT=${BENCH_TIMEOUT:-3600} \
	VM_BOOT_ARGS="lubench=$arg lubench_lock=1 lubench_warm=1" \
		"$TOP/scripts/vm.sh" lu-bench "$MODE" "$AW" $((${#layouts[@]} + 1))
}

# One CSV row per layout: the VMM's "# bench layout=K k=v" lines, and the
# kernel's lines of boot K (preserve, freeze, shutdown of layout K) and of
# boot K + 1 (adoption, restore and retrieve of layout K).
report_csv() {
	awk '
	function num(s, re) { if (!match(s, re)) return ""; s = substr(s, RSTART, RLENGTH); gsub(/[^0-9.]/, "", s); return s + 0 }
	FNR == 1 { file++ }
	file == 1 && /# bench layout=/ {
		k = num($0, "layout=[0-9]+")
		n = split($0, f, " ")
		for (i = 1; i <= n; i++)
			if (split(f[i], kv, "=") == 2 && kv[1] != "layout")
				v[k, kv[1]] = kv[2]
		if (k > nk) nk = k
		next
	}
	file == 2 && /Linux version/ { boot++ }
	# The layout is preserved first, the warm-up after it (lubench_warm).
	file == 2 && /preserved [0-9]+ HWPTs with [0-9]+ areas in/ && !((boot, "k_preserve_us") in v) {
		v[boot, "k_preserve_us"] = num($0, "areas in [0-9]+ us")
		v[boot, "k_check_us"] = num($0, "areas checked [0-9]+")
		v[boot, "k_tables_us"] = num($0, "page tables [0-9]+")
		v[boot, "k_records_us"] = num($0, "records [0-9]+ us")
		v[boot, "record_pages"] = num($0, "\\([0-9]+ pages\\)")
	}
	file == 2 && /page table of [0-9]+ pages preserved in/ && !(boot in dom) {
		dom[boot] = num($0, "domain [0-9]+")
		v[boot, "table_pages"] = num($0, "of [0-9]+ pages")
		v[boot, "core_record_pages"] = num($0, "records: [0-9]+")
	}
	file == 2 && /froze [0-9]+ IOMMU units/ { v[boot, "k_freeze_us"] = num($0, "in [0-9]+ us") }
	file == 2 && /root, context and PASID tables preserved in/ {
		v[boot, "vtd_tables"] = num($0, ": [0-9]+ root")
		v[boot, "k_vtd_tables_us"] = num($0, "in [0-9]+ us")
	}
	file == 2 && /left translating for the live update in/ { v[boot, "k_shutdown_us"] = num($0, "in [0-9]+ us") }
	file == 2 && /adopted [0-9]+ tables for [0-9]+ devices/ { v[boot - 1, "k_adopt_us"] = num($0, "kernel in [0-9]+") }
	file == 2 && /page table of [0-9]+ pages adopted in/ && num($0, "domain [0-9]+") == dom[boot - 1] {
		v[boot - 1, "adopted_pages"] = num($0, "of [0-9]+ pages")
		v[boot - 1, "k_restore_us"] = num($0, "adopted in [0-9]+")
	}
	file == 2 && /finished: the restore.s holds on what/ { v[boot - 1, "k_release_us"] = num($0, "dropped in [0-9]+") }
	# The warm-up is taken back first, its retrieve with its code cold.
	file == 2 && /retrieved [0-9]+ HWPTs and IOASes/ {
		if ((boot - 1, "k_retrieve_us") in v)
			v[boot - 1, "k_warm_retrieve_us"] = v[boot - 1, "k_retrieve_us"]
		v[boot - 1, "k_retrieve_us"] = num($0, "areas in [0-9]+ us")
		v[boot - 1, "k_pin_us"] = num($0, "pinned and checked [0-9]+")
	}
	END {
		nc = split("size folio areas map_cold_us map_us mark_us preserve_iommufd_us k_preserve_us k_check_us k_tables_us k_records_us k_freeze_us k_vtd_tables_us k_shutdown_us k_adopt_us k_restore_us retrieve_iommufd_us k_retrieve_us k_pin_us map_after_us k_warm_retrieve_us warm_retrieve_us bind_us attach_us finish_us k_release_us blackout_ms boot_ms table_pages adopted_pages vtd_tables record_pages core_record_pages kho_pages other_ioas_ops other_ioas_max_us", c, " ")
		printf "layout"
		for (i = 1; i <= nc; i++) printf ",%s", c[i]
		printf "\n"
		for (k = 1; k <= nk; k++) {
			printf "%d", k
			for (i = 1; i <= nc; i++) printf ",%s", v[k, c[i]]
			printf "\n"
		}
	}' "$DIR/ktap.log" "$DIR/console.log" > "$CSV"
}

# The terminal table: milliseconds, and the ratios the goals are stated in.
report_table() {
	awk -F, '
	NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
	function g(n) { return $col[n] }
	function ms(n) { return g(n) == "" ? "-" : sprintf("%.1f", g(n) / 1000) }
	function ratio(a, b) { return (a == "" || b == "" || b == 0) ? "-" : sprintf("%.2f", a / b) }
	BEGIN {
		printf "%5s %-5s %5s | %7s %8s %7s %7s | %6s %6s %6s %7s | %6s %8s %7s | %8s %6s | %6s %6s | %6s %6s\n",
			"MiB", "folio", "areas", "map", "preserve", "check", "tables",
			"freeze", "shutdn", "adopt", "restore", "1st rt", "retrieve", "remap",
			"blackout", "iommu%", "tblpg", "recpg", "pv/map", "rt/map"
	}
	{
		iommu = g("k_freeze_us") + g("k_shutdown_us") + g("k_adopt_us") + g("k_restore_us")
		printf "%5d %-5s %5d | %7s %8s %7s %7s | %6s %6s %6s %7s | %6s %8s %7s | %8s %6s | %6s %6s | %6s %6s\n",
			g("size") / 1048576, g("folio") == 4096 ? "4K" : "2M", g("areas"),
			ms("map_us"), ms("k_preserve_us"), ms("k_check_us"), ms("k_tables_us"),
			ms("k_freeze_us"), ms("k_shutdown_us"), ms("k_adopt_us"),
			ms("k_restore_us"), ms("k_warm_retrieve_us"), ms("k_retrieve_us"), ms("map_after_us"),
			g("blackout_ms"),
			g("blackout_ms") == "" ? "-" : sprintf("%.2f", iommu / 10 / g("blackout_ms")),
			g("table_pages"), g("record_pages"),
			ratio(g("k_preserve_us"), g("map_us")), ratio(g("k_retrieve_us"), g("map_after_us"))
	}' "$CSV"
	echo "ms, the kernel's own times except map (IOMMU_IOAS_MAP_FILE, from the VMM); preserve = check"
	echo "of the mapped pages + page tables + records; blackout: reboot() to the first DMA after"
	echo "the take-back; iommu%: freeze + shutdown + adopt + restore, of the blackout; remap: the"
	echo "same memfd mapped again in the retrieve's boot, after it (rt/map: retrieve / remap); 1st rt:"
	echo "the warm-up's retrieve (32 MiB, another edu, just before), the boot's first, its code cold"
}

# Phases and pages against size (one area, 2M and 4K folios) and against
# the number of areas (256 MiB).
report_plots() {
	command -v gnuplot >/dev/null || { msg "no gnuplot: no plots (make deps)"; return 0; }
	rm -f "$BENCH"/*.dat "$BENCH"/*.png
	awk -F, -v out="$BENCH" '
	NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
	{
		f = $col["folio"] == 4096 ? "4k" : "2m"
		row = sprintf("%s %s %s %s %s %s %s %s %s\n", $col["size"] / 1048576,
			$col["areas"], $col["map_us"], $col["k_preserve_us"],
			$col["k_restore_us"] + $col["k_adopt_us"], $col["k_retrieve_us"],
			$col["k_freeze_us"] + $col["k_shutdown_us"], $col["table_pages"],
			$col["record_pages"])
		if ($col["areas"] == 1) printf "%s", row > out "/size-" f ".dat"
		if ($col["size"] == 268435456 && f == "2m" || $col["areas"] > 1) printf "%s", row > out "/areas.dat"
	}' "$CSV"
	# A layout list without a series (LAYOUTS=) leaves a plot without data.
	gnuplot 2> "$BENCH/gnuplot.log" <<-EOF || msg "gnuplot failed: see $BENCH/gnuplot.log"
	set terminal png size 1000,700
	set logscale xy
	set key left top
	set grid
	set output "$BENCH/time-vs-size.png"
	set title "live update phases against guest RAM (one area)"
	set xlabel "guest RAM (MiB)"; set ylabel "time (us)"
	plot for [f in "2m 4k"] for [c=3:7] "$BENCH/size-".f.".dat" using 1:c with linespoints \
		title f." ".word("map preserve adopt+restore retrieve freeze+shutdown", c - 2)
	set output "$BENCH/pages-vs-size.png"
	set title "KHO-preserved pages against guest RAM (one area)"
	set ylabel "pages"
	plot for [f in "2m 4k"] for [c=8:9] "$BENCH/size-".f.".dat" using 1:c with linespoints \
		title f." ".word("table records", c - 7)
	set output "$BENCH/time-vs-areas.png"
	set title "live update phases against the number of areas (256 MiB)"
	set xlabel "areas"; set ylabel "time (us)"
	plot for [c=3:7] "$BENCH/areas.dat" using 2:c with linespoints \
		title word("map preserve adopt+restore retrieve freeze+shutdown", c - 2)
	set output "$BENCH/pages-vs-areas.png"
	set title "KHO-preserved pages against the number of areas (256 MiB)"
	set ylabel "pages"
	plot for [c=8:9] "$BENCH/areas.dat" using 2:c with linespoints \
		title word("table records", c - 7)
	EOF
	msg "plots: $BENCH/{time,pages}-vs-{size,areas}.png"
}

rc=0
[ "${BENCH_ONLY_REPORT:-0}" = 1 ] || run_bench || rc=$?
[ -f "$DIR/ktap.log" ] || die "no results in $DIR"
report_csv
echo
report_table
report_plots
msg "csv: $CSV; logs: $DIR/"
[ "$rc" -eq 0 ] || msg "the guest run did not pass (rc=$rc): see $DIR/"
exit "$rc"
