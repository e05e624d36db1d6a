#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build the test kernel out of tree (build/kobj) from allnoconfig plus the
# fragments in config/. Every option a fragment asks for must survive
# olddefconfig, or the build fails naming it. ccache is used when present.
#   KERNEL_CONFIGS="base liveupdate"  other fragments (make bench: no debug)

. "$(dirname "$0")/lib.sh"

FRAGS=()
for f in ${KERNEL_CONFIGS:-base liveupdate debug kasan}; do
	FRAGS+=("$TOP/config/$f.config")
done
[ -e "$LINUX/.git" ] || die "no tree; run 'make tree' first"
mkdir -p "$KOBJ"

kernel_cc
kmake() { make -s -C "$LINUX" O="$KOBJ" CC="$CC" "$@"; }

# Fragment lines are "CONFIG_X=v" or "# CONFIG_X is not set".
wanted_options() {
	sed -n -e 's/^\(CONFIG_[A-Za-z0-9_]*=.*\)/\1/p' \
	       -e 's/^# \(CONFIG_[A-Za-z0-9_]*\) is not set/\1=n/p' "${FRAGS[@]}"
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
kmake -j"$(nproc)" bzImage
msg "kernel built in $(elapsed "$start") s: $KOBJ/arch/x86/boot/bzImage"
