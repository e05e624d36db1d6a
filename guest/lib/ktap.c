// SPDX-License-Identifier: GPL-2.0
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ktap.h"

static int planned, reported, failed;

void ktap_begin(const char *test, int stage, int plan)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	planned = plan;
	printf("KTAP version 1\n");
	printf("# %s: stage %d\n", test, stage);
	printf("1..%d\n", plan);
}

static void result(const char *status, const char *directive,
		   const char *fmt, va_list ap)
{
	char desc[512];

	vsnprintf(desc, sizeof(desc), fmt, ap);
	reported++;
	if (directive)
		printf("%s %d %s # %s\n", status, reported, desc, directive);
	else
		printf("%s %d %s\n", status, reported, desc);
}

static bool check(bool ok, const char *fmt, va_list ap)
{
	result(ok ? "ok" : "not ok", NULL, fmt, ap);
	if (!ok)
		failed++;
	return ok;
}

bool ktap_check(bool ok, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	check(ok, fmt, ap);
	va_end(ap);
	return ok;
}

static void xfail_check(bool ok, const char *why, const char *fmt, va_list ap)
{
	char directive[512];

	if (ok) {
		result("not ok", "XPASS: expected to fail; update the test", fmt, ap);
		failed++;
	} else {
		snprintf(directive, sizeof(directive), "XFAIL %s", why);
		result("ok", directive, fmt, ap);
	}
}

void ktap_xfail_check(bool ok, const char *why, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	xfail_check(ok, why, fmt, ap);
	va_end(ap);
}

bool ktap_check_xfail_if(bool expect_fail, bool ok, const char *why,
			 const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (expect_fail)
		xfail_check(ok, why, fmt, ap);
	else if (!check(ok, fmt, ap))
		ktap_info("%s", why);
	va_end(ap);
	return ok;
}

void ktap_info(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

void ktap_bail(const char *fmt, ...)
{
	va_list ap;

	printf("# bail out: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	failed++;
	while (reported < planned)
		ktap_check(false, "not run (bailed out)");
	ktap_finish();
}

void ktap_finish(void)
{
	if (reported != planned) {
		printf("# plan was %d results, reported %d\n", planned, reported);
		failed++;
	}
	printf("# totals: %d checks, %d failed\n", reported, failed);
	fflush(stdout);
	exit(failed ? 1 : 0);
}

const char *lutest_cmdline_arg(const char *key)
{
	static char cmdline[4096], value[256];
	size_t klen = strlen(key);
	char *tok, *save;
	FILE *f;

	f = fopen("/proc/cmdline", "r");
	if (!f || !fgets(cmdline, sizeof(cmdline), f)) {
		if (f)
			fclose(f);
		return NULL;
	}
	fclose(f);
	for (tok = strtok_r(cmdline, " \n", &save); tok;
	     tok = strtok_r(NULL, " \n", &save)) {
		if (!strncmp(tok, key, klen) && tok[klen] == '=') {
			snprintf(value, sizeof(value), "%s", tok + klen + 1);
			return value;
		}
	}
	return NULL;
}

int lutest_stage(void)
{
	const char *s = lutest_cmdline_arg("lustage");

	return s ? atoi(s) : 1;
}
