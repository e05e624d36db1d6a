// SPDX-License-Identifier: GPL-2.0
/*
 * kunit: the KUnit suites built into the test kernel ran at boot and
 * passed. Reads each suite's results from debugfs; a suite that failed,
 * had a failing case or never reported fails here. The suites the series
 * adds must be present, so a missing config option cannot pass silently.
 */
#include <dirent.h>
#include <stdio.h>
#include <string.h>

#include "ktap.h"
#include "util.h"

#define KUNIT_DIR "/sys/kernel/debug/kunit"

static const char *const required[] = { "pci-liveupdate" };

#define MAX_SUITES 64

static int suite_names(char names[][256])
{
	struct dirent *de;
	DIR *dir = opendir(KUNIT_DIR);
	int n = 0;

	if (!dir)
		return 0;
	while ((de = readdir(dir)) && n < MAX_SUITES) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(names[n++], 256, "%.255s", de->d_name);
	}
	closedir(dir);
	return n;
}

/*
 * The suite's own result is the one unindented "ok"/"not ok" line; the
 * cases are indented. Returns true only for a passing suite whose cases
 * all passed or were skipped.
 */
static bool suite_passed(const char *name, int *cases, int *failed)
{
	static char buf[64 * 1024];
	char path[512], *line, *save;
	bool ok = false, seen = false;

	snprintf(path, sizeof(path), KUNIT_DIR "/%.255s/results", name);
	if (read_file(path, buf, sizeof(buf)) <= 0)
		return false;

	*cases = *failed = 0;
	for (line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		const char *t = line + strspn(line, " \t");
		bool indented = t != line;

		if (!strncmp(t, "not ok ", 7)) {
			if (indented)
				(*cases)++, (*failed)++;
			else
				seen = true, ok = false;
		} else if (!strncmp(t, "ok ", 3)) {
			if (indented)
				(*cases)++;
			else
				seen = true, ok = true;
		}
	}
	return seen && ok && !*failed;
}

int main(void)
{
	char names[MAX_SUITES][256];
	int n = suite_names(names);
	size_t i;
	int s;

	ktap_begin("kunit", 1, n + (int)(sizeof(required) / sizeof(required[0])));

	for (i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
		bool found = false;

		for (s = 0; s < n; s++)
			found |= !strcmp(names[s], required[i]);
		ktap_check(found, "suite %s is built in and ran", required[i]);
	}

	for (s = 0; s < n; s++) {
		int cases = 0, failed = 0;
		bool ok = suite_passed(names[s], &cases, &failed);

		ktap_check(ok, "suite %s: %d results, %d failed", names[s], cases,
			   failed);
	}

	ktap_finish();
}
