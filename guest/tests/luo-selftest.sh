#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# luo-selftest: LUO's own kselftest, tools/testing/selftests/liveupdate
# "liveupdate", unchanged: the /dev/liveupdate and session ioctls.
exec /selftests/liveupdate/liveupdate
