#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# edu-dma-large-4k: edu-dma-large with guest RAM in 4K folios (shmem
# without huge pages), so that the retrieve pins 262144 folios.
exec /tests/edu-dma-large 4k
