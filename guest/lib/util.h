/* SPDX-License-Identifier: GPL-2.0 */
#ifndef LUTEST_UTIL_H
#define LUTEST_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PAGE_SIZE 4096UL

/* A memfd of @size bytes, sealed against grow, shrink and further seals. */
int memfd_sealed(const char *name, size_t size);
void *map_shared(int fd, size_t size);

/* The byte pattern "seed" writes at byte @i. */
static inline uint8_t pattern_byte(uint32_t seed, size_t i)
{
	uint32_t x = seed ^ (uint32_t)(i * 2654435761u);

	return (uint8_t)(x ^ (x >> 13) ^ (x >> 24));
}
void pattern_fill(void *buf, size_t len, uint32_t seed);
/* Index of the first byte that differs from the pattern, or -1. */
long pattern_check(const void *buf, size_t len, uint32_t seed);
bool all_bytes(const void *buf, size_t len, uint8_t v);

/* Page frame number behind each page of [addr, addr + len), 0 if absent. */
int pagemap_pfns(const void *addr, size_t len, uint64_t *pfns);
/* How many pages of @addr are no longer in frames @pfns; -1 if unreadable. */
long pfns_moved(const void *addr, size_t len, const uint64_t *pfns);

/*
 * Load this same kernel and initramfs for kexec with "lustage=@stage"
 * replacing the stage on the current command line, then reboot into it.
 * kexec_load_next() only loads (so a test can reboot right after a
 * doorbell); kexec_reboot() jumps and only returns on failure (-errno).
 */
int kexec_load_next(int stage);
/* The same with @extra (if not NULL) appended to the command line. */
int kexec_load_next_args(int stage, const char *extra);
int kexec_reboot(void);

/*
 * Kernel log access. kmsg_open() starts at the end of the log, so
 * kmsg_wait_for() sees only lines printed after it was opened.
 */
int kmsg_open(void);
/* Wait up to @ms for a line containing @needle; copies it to @line. */
bool kmsg_wait_for(int kmsg, const char *needle, int ms, char *line, size_t len);
/* Count lines already in the log (whole boot) that contain @needle. */
int kmsg_count(const char *needle);
/* The same for lines that contain both @needle and @also (if not NULL). */
int kmsg_count_with(const char *needle, const char *also);
/* The text of the last line in the log with @needle; false if none. */
bool kmsg_last(const char *needle, char *line, size_t len);

int read_file(const char *path, char *buf, size_t len);
/*
 * The /proc/vmstat counter @name, exact: the per-CPU differences are
 * folded in first (vm.stat_refresh). -1 if it cannot be read.
 */
long vmstat_exact(const char *name);
int write_file(const char *path, const char *s);
uint64_t now_ms(void);

#endif
