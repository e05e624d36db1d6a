#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Two edus preserved in one session, each with its own iommufd and HWPT.
exec /tests/edu-dma-two-devices domains
