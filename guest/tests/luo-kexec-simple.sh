#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# luo-kexec-simple: LUO's own kselftest luo_kexec_simple across one kexec.
. /tests/lib.sh
luo_kexec_selftest luo_kexec_simple
