#!/usr/bin/awk -f
# SPDX-License-Identifier: GPL-2.0
# Print "suite/test/param: reason" for every skipped KUnit case with a reason,
# from kunit.py's raw KTAP output (nested by indentation).
{
	line = $0
	sub(/^\[[0-9:]+\] /, "", line)
	match(line, /^ */); d = RLENGTH; body = substr(line, d + 1)
	if (body ~ /^# Subtest: /) { name[d] = substr(body, 12); next }
	if (body ~ /^ok [0-9]+ .* # SKIP ./) {
		s = body; sub(/^ok [0-9]+ /, "", s)
		reason = s; sub(/.* # SKIP /, "", reason)
		test = s; sub(/ # SKIP .*/, "", test)
		path = ""
		for (i = 0; i <= d; i += 4) if (i in name && name[i] != "") path = path name[i] "/"
		print path test ": " reason
	}
}
