#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# luo-stress-files: LUO's own kselftest luo_stress_files across one kexec.
. /tests/lib.sh
luo_kexec_selftest luo_stress_files
