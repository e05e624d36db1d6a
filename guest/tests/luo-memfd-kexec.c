// SPDX-License-Identifier: GPL-2.0
/*
 * luo-memfd-kexec: a memfd with a known pattern is preserved in a LUO
 * session and the guest kexecs into the same kernel, twice. Each later
 * stage retrieves it: size and every byte are intact and every page sits in
 * the same page frame as in stage 1 (pagemap), i.e. the memory was handed
 * over, not copied. Stage 2 finishes the session and preserves the
 * retrieved memfds again in a new one, so a chain of kexecs is covered too.
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
#define LAST_STAGE	3

struct state {
	uint64_t magic;
	uint64_t pfn[NPAGES];
};
#define STATE_MAGIC	0x6c756f6d656d6664ULL

/* Preserve both memfds in a new session and kexec into @next: 2 checks. */
static void preserve_and_kexec(int luo, int data, int st, int next)
{
	int session = luo_create_session(luo, SESSION);

	CHECK_OR_BAIL(session >= 0 && !luo_preserve_fd(session, data, TOKEN_DATA) &&
		      !luo_preserve_fd(session, st, TOKEN_STATE),
		      "both memfds preserved in a new session");
	CHECK_OR_BAIL(!kexec_load_next(next), "kernel for stage %d loaded", next);
	ktap_info("kexec now; the session fd stays open across it");
	kexec_reboot();
	ktap_bail("reboot(KEXEC) returned: %s", strerror(errno));
}

static void stage1(void)
{
	int luo, session, data, st;
	struct state *s;
	uint8_t *p;

	ktap_begin(SESSION, 1, 3);
	luo = luo_open();
	data = memfd_sealed("pattern", SIZE);
	st = memfd_sealed("state", PAGE_SIZE);
	p = data >= 0 ? map_shared(data, SIZE) : NULL;
	s = st >= 0 ? map_shared(st, PAGE_SIZE) : NULL;
	CHECK_OR_BAIL(luo >= 0 && p && s, "/dev/liveupdate open, memfds of %lu KiB "
		      "and 4 KiB created", SIZE >> 10);
	pattern_fill(p, SIZE, SEED);
	s->magic = STATE_MAGIC;
	/*
	 * The frames are read after preserve has pinned the pages (pinning
	 * may migrate them out of KHO's scratch area); the state page is
	 * preserved too, so what is written into it now still travels.
	 */
	session = luo_create_session(luo, SESSION);
	CHECK_OR_BAIL(session >= 0 && !luo_preserve_fd(session, data, TOKEN_DATA) &&
		      !luo_preserve_fd(session, st, TOKEN_STATE) &&
		      !pagemap_pfns(p, SIZE, s->pfn) && s->pfn[0],
		      "both memfds preserved, page frames recorded");
	CHECK_OR_BAIL(!kexec_load_next(2), "kernel for stage 2 loaded");
	ktap_info("kexec now; the session fd stays open across it");
	kexec_reboot();
	ktap_bail("reboot(KEXEC) returned: %s", strerror(errno));
}

/* Retrieve and verify, 6 checks; returns with the memfds in @data, @st. */
static void retrieve_and_verify(int luo, int *data, int *st)
{
	int session;
	long moved;
	struct state *s;
	struct stat sb;
	uint8_t *p;
	long bad;

	session = luo >= 0 ? luo_retrieve_session(luo, SESSION) : luo;
	CHECK_OR_BAIL(session >= 0, "session retrieved after kexec (%s)",
		      session < 0 ? strerror(-session) : "ok");
	*data = luo_retrieve_fd(session, TOKEN_DATA);
	*st = luo_retrieve_fd(session, TOKEN_STATE);
	CHECK_OR_BAIL(*data >= 0 && *st >= 0, "both memfds retrieved by token");
	s = map_shared(*st, PAGE_SIZE);
	CHECK_OR_BAIL(s && s->magic == STATE_MAGIC, "state memfd carries stage 1's record");
	p = !fstat(*data, &sb) && sb.st_size == SIZE ? map_shared(*data, SIZE) : NULL;
	bad = p ? pattern_check(p, SIZE, SEED) : 0;
	ktap_check(p && bad < 0, "size %lu and all bytes intact%s", SIZE,
		   p && bad >= 0 ? " (mismatch found)" : "");
	moved = p ? pfns_moved(p, SIZE, s->pfn) : -1;
	ktap_check(moved == 0, "all %d pages in stage 1's page frames (%ld moved)",
		   NPAGES, moved);
	ktap_check(!luo_finish(session), "session finished");
}

int main(void)
{
	int stage = lutest_stage(), luo, data, st;

	if (stage == 1)
		stage1();
	ktap_begin(SESSION, stage, stage < LAST_STAGE ? 8 : 6);
	luo = luo_open();
	retrieve_and_verify(luo, &data, &st);
	if (stage < LAST_STAGE)
		preserve_and_kexec(luo, data, st, stage + 1);
	ktap_finish();
}
