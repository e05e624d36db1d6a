#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# luo-multi-session: LUO's own kselftest luo_multi_session across one kexec.
. /tests/lib.sh
luo_kexec_selftest luo_multi_session
