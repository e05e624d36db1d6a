// SPDX-License-Identifier: GPL-2.0
/*
 * luo-memfd-kexec: a memfd with a known pattern is preserved in a LUO
 * session and the guest kexecs into the same kernel. Stage 2 retrieves it:
 * size and every byte are intact and every page sits in the same page frame
 * as before (pagemap), i.e. the memory was handed over, not copied.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "ktap.h"
#include "luo.h"
#include "util.h"

#define SESSION		"luo-memfd-kexec"
#define TOKEN_DATA	1
#define TOKEN_STATE	2
#define NPAGES		64
#define SIZE		(NPAGES * PAGE_SIZE)
#define SEED		0xc0ffee11u

struct state {
	uint64_t magic;
	uint64_t pfn[NPAGES];
};
#define STATE_MAGIC	0x6c756f6d656d6664ULL

static void stage1(void)
{
	int luo, session, data, st;
	struct state *s;
	uint8_t *p;

	ktap_begin(SESSION, 1, 5);
	luo = luo_open();
	session = luo >= 0 ? luo_create_session(luo, SESSION) : luo;
	CHECK_OR_BAIL(session >= 0, "LUO session created (%s)",
		      session < 0 ? strerror(-session) : "ok");

	data = memfd_sealed("pattern", SIZE);
	st = memfd_sealed("state", PAGE_SIZE);
	p = data >= 0 ? map_shared(data, SIZE) : NULL;
	s = st >= 0 ? map_shared(st, PAGE_SIZE) : NULL;
	CHECK_OR_BAIL(p && s, "memfds of %lu KiB and 4 KiB created", SIZE >> 10);
	pattern_fill(p, SIZE, SEED);
	s->magic = STATE_MAGIC;
	CHECK_OR_BAIL(!pagemap_pfns(p, SIZE, s->pfn) && s->pfn[0],
		      "page frames recorded (first pfn 0x%lx)", (unsigned long)s->pfn[0]);
	CHECK_OR_BAIL(!luo_preserve_fd(session, data, TOKEN_DATA) &&
		      !luo_preserve_fd(session, st, TOKEN_STATE),
		      "both memfds preserved in the session");
	CHECK_OR_BAIL(!kexec_load_next(2), "next kernel loaded with kexec_file_load");
	ktap_info("kexec now; the session fds stay open across it");
	fflush(stdout);
	kexec_reboot();
	ktap_bail("reboot(KEXEC) returned: %s", strerror(errno));
}

static void stage2(void)
{
	uint64_t pfn[NPAGES];
	int luo, session, data, st, i, moved = 0;
	struct state *s;
	struct stat sb;
	uint8_t *p;
	long bad;

	ktap_begin(SESSION, 2, 6);
	luo = luo_open();
	session = luo >= 0 ? luo_retrieve_session(luo, SESSION) : luo;
	CHECK_OR_BAIL(session >= 0, "session retrieved after kexec (%s)",
		      session < 0 ? strerror(-session) : "ok");
	data = luo_retrieve_fd(session, TOKEN_DATA);
	st = luo_retrieve_fd(session, TOKEN_STATE);
	CHECK_OR_BAIL(data >= 0 && st >= 0, "both memfds retrieved by token");
	s = map_shared(st, PAGE_SIZE);
	CHECK_OR_BAIL(s && s->magic == STATE_MAGIC, "state memfd carries stage 1's record");
	p = !fstat(data, &sb) && sb.st_size == SIZE ? map_shared(data, SIZE) : NULL;
	bad = p ? pattern_check(p, SIZE, SEED) : 0;
	ktap_check(p && bad < 0, "size %lu and all bytes intact%s", SIZE,
		   p && bad >= 0 ? " (mismatch found)" : "");
	if (p && !pagemap_pfns(p, SIZE, pfn))
		for (i = 0; i < NPAGES; i++)
			moved += pfn[i] != s->pfn[i];
	else
		moved = -1;
	ktap_check(moved == 0, "all %d pages in the same page frames (%d moved)",
		   NPAGES, moved);
	ktap_check(!luo_finish(session), "session finished");
	ktap_finish();
}

int main(void)
{
	if (lutest_stage() == 1)
		stage1();
	stage2();
}
