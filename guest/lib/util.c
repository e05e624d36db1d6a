// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <linux/reboot.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "util.h"

int memfd_sealed(const char *name, size_t size)
{
	int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0)
		return -errno;
	if (ftruncate(fd, size) ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL)) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

void *map_shared(int fd, size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	return p == MAP_FAILED ? NULL : p;
}

void pattern_fill(void *buf, size_t len, uint32_t seed)
{
	uint8_t *b = buf;
	size_t i;

	for (i = 0; i < len; i++)
		b[i] = pattern_byte(seed, i);
}

long pattern_check(const void *buf, size_t len, uint32_t seed)
{
	const uint8_t *b = buf;
	size_t i;

	for (i = 0; i < len; i++)
		if (b[i] != pattern_byte(seed, i))
			return i;
	return -1;
}

bool all_bytes(const void *buf, size_t len, uint8_t v)
{
	const uint8_t *b = buf;
	size_t i;

	for (i = 0; i < len; i++)
		if (b[i] != v)
			return false;
	return true;
}

int pagemap_pfns(const void *addr, size_t len, uint64_t *pfns)
{
	size_t i, n = (len + PAGE_SIZE - 1) / PAGE_SIZE;
	int fd = open("/proc/self/pagemap", O_RDONLY);
	uint64_t e;

	if (fd < 0)
		return -errno;
	for (i = 0; i < n; i++) {
		off_t off = ((uintptr_t)addr / PAGE_SIZE + i) * sizeof(e);

		/* Touch the page so it is present. */
		(void)*(volatile const uint8_t *)((const uint8_t *)addr + i * PAGE_SIZE);
		if (pread(fd, &e, sizeof(e), off) != sizeof(e)) {
			close(fd);
			return -EIO;
		}
		pfns[i] = (e & (1ULL << 63)) ? (e & ((1ULL << 55) - 1)) : 0;
		/*
		 * A touched page is present; a zero frame means pagemap hides
		 * frames from us, and comparing zeros would prove nothing.
		 */
		if (!pfns[i]) {
			close(fd);
			return -ENODATA;
		}
	}
	close(fd);
	return 0;
}

long pfns_moved(const void *addr, size_t len, const uint64_t *pfns)
{
	size_t i, n = len / PAGE_SIZE;
	uint64_t *now = malloc(n * sizeof(*now));
	long moved = 0;

	if (!now || pagemap_pfns(addr, len, now)) {
		free(now);
		return -1;
	}
	for (i = 0; i < n; i++)
		moved += now[i] != pfns[i];
	free(now);
	return moved;
}

static int copy_to_tmpfs(const char *from, const char *to)
{
	char buf[65536];
	int in, out;
	ssize_t n;

	in = open(from, O_RDONLY);
	if (in < 0)
		return -errno;
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (out < 0) {
		close(in);
		return -errno;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, n) != n) {
			n = -1;
			break;
		}
	close(in);
	close(out);
	return n < 0 ? -EIO : 0;
}

/* The current command line with any lustage= removed and the new one added. */
static int next_cmdline(int stage, const char *extra, char *out, size_t len)
{
	char cur[4096], *tok, *save;
	size_t used = 0;
	FILE *f = fopen("/proc/cmdline", "r");

	if (!f)
		return -errno;
	if (!fgets(cur, sizeof(cur), f)) {
		fclose(f);
		return -EIO;
	}
	fclose(f);
	out[0] = 0;
	for (tok = strtok_r(cur, " \n", &save); tok;
	     tok = strtok_r(NULL, " \n", &save)) {
		if (!strncmp(tok, "lustage=", 8))
			continue;
		used += snprintf(out + used, len - used, "%s ", tok);
	}
	snprintf(out + used, len - used, "lustage=%d%s%s", stage,
		 extra ? " " : "", extra ?: "");
	return 0;
}

int kexec_load_next(int stage)
{
	return kexec_load_next_args(stage, NULL);
}

int kexec_load_next_args(int stage, const char *extra)
{
	char cmdline[4096];
	int kfd, ifd, ret;

	/* The initramfs is kept by "retain_initrd"; kexec wants a real file. */
	ret = copy_to_tmpfs("/sys/firmware/initrd", "/tmp/initrd.next");
	if (ret)
		return ret;
	ret = next_cmdline(stage, extra, cmdline, sizeof(cmdline));
	if (ret)
		return ret;
	kfd = open("/boot/bzImage", O_RDONLY);
	ifd = open("/tmp/initrd.next", O_RDONLY);
	if (kfd < 0 || ifd < 0)
		ret = -errno;
	else if (syscall(SYS_kexec_file_load, kfd, ifd, strlen(cmdline) + 1,
			 cmdline, 0))
		ret = -errno;
	if (kfd >= 0)
		close(kfd);
	if (ifd >= 0)
		close(ifd);
	return ret;
}

int kexec_reboot(void)
{
	fflush(NULL);
	if (isatty(STDOUT_FILENO))
		tcdrain(STDOUT_FILENO);	/* the last result must reach the host */
	syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2,
		LINUX_REBOOT_CMD_KEXEC, NULL);
	return -errno;
}

int kmsg_open(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	lseek(fd, 0, SEEK_END);
	return fd;
}

bool kmsg_wait_for(int kmsg, const char *needle, int ms, char *line, size_t len)
{
	uint64_t end = now_ms() + ms;
	char rec[2048];
	ssize_t n;

	do {
		n = read(kmsg, rec, sizeof(rec) - 1);
		if (n > 0) {
			rec[n] = 0;
			if (strstr(rec, needle)) {
				if (line)
					snprintf(line, len, "%s", strchr(rec, ';') ?
						 strchr(rec, ';') + 1 : rec);
				return true;
			}
			continue;
		}
		if (n < 0 && errno == EPIPE)
			continue;	/* overwritten records: keep reading */
		usleep(10000);
	} while (now_ms() < end);
	return false;
}

int kmsg_count(const char *needle)
{
	return kmsg_count_with(needle, NULL);
}

/* Count the records with @needle (and @also); copy the text of the last. */
static int kmsg_scan(const char *needle, const char *also, char *last,
		     size_t len)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	char rec[8192];
	int count = 0;
	ssize_t n;

	if (fd < 0)
		return -errno;
	for (;;) {
		n = read(fd, rec, sizeof(rec) - 1);
		/* Overwritten records: keep reading (rec fits any record). */
		if (n < 0 && errno == EPIPE)
			continue;
		if (n <= 0)
			break;
		rec[n] = 0;
		if (!strstr(rec, needle) || (also && !strstr(rec, also)))
			continue;
		count++;
		if (last)
			snprintf(last, len, "%s", strchr(rec, ';') ?
				 strchr(rec, ';') + 1 : rec);
	}
	close(fd);
	return count;
}

int kmsg_count_with(const char *needle, const char *also)
{
	return kmsg_scan(needle, also, NULL, 0);
}

bool kmsg_last(const char *needle, char *line, size_t len)
{
	return kmsg_scan(needle, NULL, line, len) > 0;
}

int read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	size_t total = 0;
	ssize_t n = 0;

	if (fd < 0)
		return -errno;
	/* seq_file hands out a page or so per read: read to the end. */
	while (total < len - 1 &&
	       (n = read(fd, buf + total, len - 1 - total)) > 0)
		total += n;
	close(fd);
	if (n < 0)
		return -errno;
	buf[total] = 0;
	return total;
}

long vmstat_exact(const char *name)
{
	char buf[16384], key[64], *p;

	/* Each name follows a newline, the first line's too. */
	snprintf(key, sizeof(key), "\n%s ", name);
	buf[0] = '\n';
	if (write_file("/proc/sys/vm/stat_refresh", "1") < 0 ||
	    read_file("/proc/vmstat", buf + 1, sizeof(buf) - 1) < 0)
		return -1;
	p = strstr(buf, key);
	return p ? strtol(p + strlen(key), NULL, 10) : -1;
}

int write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, s, strlen(s));
	close(fd);
	return n < 0 ? -errno : 0;
}

uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000ULL + ts.tv_nsec / 1000000;
}
