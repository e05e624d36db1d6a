#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# dma-stream-behind-switch, but the new kernel hot-removes the card below
# the switch, then the switch, before anything else is retrieved.
exec /tests/dma-stream-across-kexec switch-removed
