#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The preserved virtio-rng with ATS enabled; the next kernel boots with
# pci=noats, cannot adopt its ATS, blocks it and turns ATS off.
exec /tests/virtio-ats-across-kexec noats
