#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# luo-stress-sessions: LUO's own kselftest luo_stress_sessions across one kexec.
. /tests/lib.sh
luo_kexec_selftest luo_stress_sessions
