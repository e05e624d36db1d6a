#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Two edus preserved in one session, attached to one HWPT of one iommufd.
exec /tests/edu-dma-two-devices shared
