#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build the test kernel out of tree (build/kobj) from allnoconfig plus the
# fragments in config/. Every option a fragment asks for must survive
# olddefconfig, or the build fails naming it. ccache is used when present.
#   KERNEL_CONFIGS="base liveupdate"  other fragments (make bench: no debug);
#                                     a later fragment's value wins
#   KERNEL_TARGETS="bzImage modules"  what to build (default: bzImage)
#   KOBJ=DIR                          where (default: build/kobj)

. "$(dirname "$0")/lib.sh"

FRAGS=()
for f in ${KERNEL_CONFIGS:-base liveupdate debug kasan}; do
	FRAGS+=("$TOP/config/$f.config")
done
[ -e "$LINUX/.git" ] || die "no tree; run 'make tree' first"
mkdir -p "$KOBJ"

kernel_cc
kmake() { make -s -C "$LINUX" O="$KOBJ" CC="$CC" "$@"; }

# Fragment lines are "CONFIG_X=v" or "# CONFIG_X is not set"; of an
# option set twice, the last value (merge_config.sh's rule).
wanted_options() {
	sed -n -e 's/^\(CONFIG_[A-Za-z0-9_]*=.*\)/\1/p' \
	       -e 's/^# \(CONFIG_[A-Za-z0-9_]*\) is not set/\1=n/p' "${FRAGS[@]}" |
		awk -F= '!($1 in v) { order[n++] = $1 } { v[$1] = $0 }
			 END { for (i = 0; i < n; i++) print v[order[i]] }'
}

check_config() {
	local line opt val got bad=0
	while IFS= read -r line; do
		opt=${line%%=*} val=${line#*=}
		got=$(sed -n "s/^$opt=//p" "$1")
		[ -n "$got" ] || got=n
		if [ "$got" != "$val" ]; then
			msg "option did not stick: $opt=$val (got $opt=$got)"
			bad=1
		fi
	done < <(wanted_options)
	return $bad
}

make_config() {
	local new=$KOBJ/.config.new
	kmake allnoconfig KCONFIG_CONFIG=.config.new >/dev/null
	KCONFIG_CONFIG=$new "$LINUX/scripts/kconfig/merge_config.sh" -m -Q \
		-O "$KOBJ" "$new" "${FRAGS[@]}" >/dev/null
	kmake olddefconfig KCONFIG_CONFIG=.config.new >/dev/null
	check_config "$new" || die "kernel config incomplete (see above)"
	if ! cmp -s "$new" "$KOBJ/.config"; then
		mv "$new" "$KOBJ/.config"
	else
		rm -f "$new"
	fi
}

start=$(now)
make_config
msg "building $(git -C "$LINUX" describe --tags --always) in $KOBJ with $CC"
# shellcheck disable=SC2086 # a list of targets
kmake -j"$(nproc)" ${KERNEL_TARGETS:-bzImage}
msg "built ${KERNEL_TARGETS:-bzImage} in $(elapsed "$start") s: $KOBJ"
