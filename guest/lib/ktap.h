/* SPDX-License-Identifier: GPL-2.0 */
/*
 * KTAP reporting for the guest tests. Results go to stdout, which the
 * guest init points at the second serial port, so kernel messages on the
 * console never break a result line. Every stage of a test is one KTAP
 * document with its own plan.
 */
#ifndef LUTEST_KTAP_H
#define LUTEST_KTAP_H

#include <stdbool.h>

void ktap_begin(const char *test, int stage, int plan);
/* Report one measured check; returns @ok so callers can chain. */
bool ktap_check(bool ok, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/*
 * A check that is expected to fail on the current series: a failure is
 * reported as XFAIL with @why, an unexpected pass as "not ok ... XPASS" so
 * that the expectation gets updated.
 */
void ktap_xfail_check(bool ok, const char *why, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/*
 * ktap_xfail_check() if @expect_fail, else ktap_check() that prints @why
 * (what was measured) when it fails. Returns @ok.
 */
bool ktap_check_xfail_if(bool expect_fail, bool ok, const char *why,
			 const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void ktap_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Fail the current check and every planned one left, then exit. */
void ktap_bail(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));
/* Print the totals and exit: 0 when every check passed or xfailed. */
void ktap_finish(void) __attribute__((noreturn));

/* The stage this boot runs, from "lustage=" on the kernel command line. */
int lutest_stage(void);
/* Value of "key=" on the kernel command line, or NULL. Static buffer. */
const char *lutest_cmdline_arg(const char *key);

#define CHECK_OR_BAIL(cond, ...)				\
	do {							\
		if (!ktap_check((cond), __VA_ARGS__))		\
			ktap_bail("cannot go on");		\
	} while (0)

#endif
