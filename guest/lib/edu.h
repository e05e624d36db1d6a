/* SPDX-License-Identifier: GPL-2.0 */
/*
 * QEMU's "edu" teaching device: a 4 KiB buffer at device address 0x40000
 * and a DMA engine that moves up to 4 KiB between it and a bus address
 * about 100 ms of virtual time after the doorbell. Its DMA goes through the
 * emulated IOMMU like any device's.
 */
#ifndef LUTEST_EDU_H
#define LUTEST_EDU_H

#include <stdbool.h>
#include <stdint.h>

#define EDU_VENDOR		0x1234
#define EDU_DEVICE		0x11e8
#define EDU_REG_ID		0x00
#define EDU_REG_LIVENESS	0x04
#define EDU_REG_DMA_SRC		0x80
#define EDU_REG_DMA_DST		0x88
#define EDU_REG_DMA_COUNT	0x90
#define EDU_REG_DMA_CMD		0x98
#define EDU_DMA_RUN		0x1
#define EDU_DMA_TO_RAM		0x2	/* direction: device buffer -> RAM */
#define EDU_DMA_IRQ		0x4	/* raise an interrupt when done */
#define EDU_REG_IRQ_STATUS	0x24
#define EDU_REG_IRQ_ACK		0x64
#define EDU_BUF_ADDR		0x40000
#define EDU_BUF_SIZE		4096

uint32_t edu_read32(volatile uint8_t *bar, unsigned int reg);
void edu_write32(volatile uint8_t *bar, unsigned int reg, uint32_t v);
/* True if the ID register reads as an edu. */
bool edu_present(volatile uint8_t *bar);
/* Ring the doorbell of a transfer; does not wait. */
void edu_dma_start(volatile uint8_t *bar, uint64_t ram_iova,
		   unsigned int buf_off, uint32_t len, bool to_ram);
/* Wait for the engine to go idle; false on timeout. */
bool edu_dma_wait(volatile uint8_t *bar, int timeout_ms);
bool edu_dma_busy(volatile uint8_t *bar);
/* RAM (at an IOVA) into the device buffer, and back. Both wait. */
bool edu_dma_from_ram(volatile uint8_t *bar, uint64_t iova, unsigned int off,
		      uint32_t len);
bool edu_dma_to_ram(volatile uint8_t *bar, uint64_t iova, unsigned int off,
		    uint32_t len);
/*
 * Fill @src (RAM the edu sees at @src_iova) with the pattern of @seed,
 * have the edu copy it to @dst (at @dst_iova) through its buffer: true if
 * the pattern arrived.
 */
/*
 * The same as edu_dma_to_ram(), asking the edu to raise its interrupt
 * (MSI when enabled) when the transfer is done.
 */
bool edu_dma_to_ram_irq(volatile uint8_t *bar, uint64_t iova,
			unsigned int off, uint32_t len);
/* Acknowledge every interrupt the edu raised; returns what it had raised. */
uint32_t edu_irq_ack(volatile uint8_t *bar);
bool edu_round_trip(volatile uint8_t *bar, uint8_t *src, uint64_t src_iova,
		    const uint8_t *dst, uint64_t dst_iova, uint32_t seed);

#endif
