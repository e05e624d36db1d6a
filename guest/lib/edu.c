// SPDX-License-Identifier: GPL-2.0
#include <unistd.h>

#include <sys/mman.h>

#include "edu.h"
#include "util.h"
#include "vfio.h"

uint32_t edu_read32(volatile uint8_t *bar, unsigned int reg)
{
	return *(volatile uint32_t *)(bar + reg);
}

void edu_write32(volatile uint8_t *bar, unsigned int reg, uint32_t v)
{
	*(volatile uint32_t *)(bar + reg) = v;
}

static void edu_write64(volatile uint8_t *bar, unsigned int reg, uint64_t v)
{
	*(volatile uint64_t *)(bar + reg) = v;
}

bool edu_present(volatile uint8_t *bar)
{
	/* 0xRRrr00ed: major, minor revision, then the 0xed signature. */
	return (edu_read32(bar, EDU_REG_ID) & 0xffff) == 0x00ed;
}

void edu_dma_start(volatile uint8_t *bar, uint64_t ram_iova,
		   unsigned int buf_off, uint32_t len, bool to_ram)
{
	uint64_t dev = EDU_BUF_ADDR + buf_off;

	edu_write64(bar, EDU_REG_DMA_SRC, to_ram ? dev : ram_iova);
	edu_write64(bar, EDU_REG_DMA_DST, to_ram ? ram_iova : dev);
	edu_write64(bar, EDU_REG_DMA_COUNT, len);
	edu_write64(bar, EDU_REG_DMA_CMD,
		    EDU_DMA_RUN | (to_ram ? EDU_DMA_TO_RAM : 0));
}

bool edu_dma_busy(volatile uint8_t *bar)
{
	return edu_read32(bar, EDU_REG_DMA_CMD) & EDU_DMA_RUN;
}

bool edu_dma_wait(volatile uint8_t *bar, int timeout_ms)
{
	uint64_t end = now_ms() + timeout_ms;

	while (edu_dma_busy(bar)) {
		if (now_ms() > end)
			return false;
		usleep(5000);
	}
	return true;
}

bool edu_dma_from_ram(volatile uint8_t *bar, uint64_t iova, unsigned int off,
		      uint32_t len)
{
	edu_dma_start(bar, iova, off, len, false);
	return edu_dma_wait(bar, 5000);
}

bool edu_dma_to_ram(volatile uint8_t *bar, uint64_t iova, unsigned int off,
		    uint32_t len)
{
	edu_dma_start(bar, iova, off, len, true);
	return edu_dma_wait(bar, 5000);
}

bool edu_dma_to_ram_irq(volatile uint8_t *bar, uint64_t iova,
			unsigned int off, uint32_t len)
{
	edu_write64(bar, EDU_REG_DMA_SRC, EDU_BUF_ADDR + off);
	edu_write64(bar, EDU_REG_DMA_DST, iova);
	edu_write64(bar, EDU_REG_DMA_COUNT, len);
	edu_write64(bar, EDU_REG_DMA_CMD,
		    EDU_DMA_RUN | EDU_DMA_TO_RAM | EDU_DMA_IRQ);
	return edu_dma_wait(bar, 5000);
}

uint32_t edu_irq_ack(volatile uint8_t *bar)
{
	uint32_t status = edu_read32(bar, EDU_REG_IRQ_STATUS);

	edu_write32(bar, EDU_REG_IRQ_ACK, status);
	return status;
}

bool edu_round_trip(volatile uint8_t *bar, uint8_t *src, uint64_t src_iova,
		    const uint8_t *dst, uint64_t dst_iova, uint32_t seed)
{
	pattern_fill(src, EDU_BUF_SIZE, seed);
	return edu_dma_from_ram(bar, src_iova, 0, EDU_BUF_SIZE) &&
	       edu_dma_to_ram(bar, dst_iova, 0, EDU_BUF_SIZE) &&
	       pattern_check(dst, EDU_BUF_SIZE, seed) < 0;
}
