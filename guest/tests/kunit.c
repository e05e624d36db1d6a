// SPDX-License-Identifier: GPL-2.0
/*
 * kunit: the KUnit suites built into the test kernel ran at boot and
 * passed. Reads each suite's results from debugfs; a suite that failed,
 * had a failing case or never reported fails here. The suites the series
 * adds must be present, so a missing config option cannot pass silently,
 * and the cases it adds to upstream suites must have run for every
 * parameter: a skip (no KHO, say) is not a pass.
 */
#include <dirent.h>
#include <stdio.h>
#include <string.h>

#include "ktap.h"
#include "util.h"

#define KUNIT_DIR "/sys/kernel/debug/kunit"

static const char *const required[] = {
	"pci-liveupdate",
	"iommu-liveupdate",
	"intel-iommu-liveupdate",
	"iommufd-liveupdate",
	"vtdss_iommu_liveupdate_test",
	"x86_64_iommu_liveupdate_test",
};

/* Cases that must run for every parameter of their format, never skip. */
static const char *const required_cases[][2] = {
	{ "pci-liveupdate", "pci_lu_test_rejected_keeps_bus_numbers" },
	{ "iommu-liveupdate", "iommu_lu_test_domain_preserve" },
	{ "iommu-liveupdate", "iommu_lu_test_domain_refused" },
	{ "iommu-liveupdate", "iommu_lu_test_release_counts_leaves" },
	{ "vtdss_iommu_liveupdate_test", "test_lu_preserve_takes_every_table" },
	{ "vtdss_iommu_liveupdate_test", "test_lu_preserve_failure_releases_all" },
	{ "vtdss_iommu_liveupdate_test", "test_lu_restore_refuses_mismatch" },
	{ "vtdss_iommu_liveupdate_test", "test_lu_check_mapped" },
	{ "x86_64_iommu_liveupdate_test", "test_lu_preserve_takes_every_table" },
	{ "x86_64_iommu_liveupdate_test", "test_lu_preserve_failure_releases_all" },
	{ "x86_64_iommu_liveupdate_test", "test_lu_restore_refuses_mismatch" },
	{ "x86_64_iommu_liveupdate_test", "test_lu_check_mapped" },
};

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

static bool is_result(const char *t)
{
	return !strncmp(t, "ok ", 3) || !strncmp(t, "not ok ", 7);
}

/* Does the result line @t name @name ("ok 3 name" or "ok 3 name # ...")? */
static bool names(const char *t, const char *name)
{
	const char *p = strchr(t + 3, ' ');
	size_t len = strlen(name);

	return p && !strncmp(p + 1, name, len) &&
	       (p[1 + len] == 0 || p[1 + len] == ' ');
}

/*
 * A case passed and skipped nothing: each of its parameters (the lines
 * between its "# Subtest:" header and its own result) and the case itself
 * is "ok" without "# SKIP". *runs counts the parameters, 1 for a plain
 * case.
 */
static bool case_passed(const char *suite, const char *name, int *runs)
{
	static char buf[64 * 1024];
	char path[512], header[300], *line, *save;
	bool in_case = false;

	snprintf(path, sizeof(path), KUNIT_DIR "/%.255s/results", suite);
	snprintf(header, sizeof(header), "# Subtest: %s", name);
	if (read_file(path, buf, sizeof(buf)) <= 0)
		return false;

	*runs = 0;
	for (line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		const char *t = line + strspn(line, " \t");
		bool good = !strncmp(t, "ok ", 3) && !strstr(t, "# SKIP");

		if (!strcmp(t, header)) {
			in_case = true;
		} else if (is_result(t) && names(t, name)) {
			if (!in_case)
				*runs = good;
			return good && *runs > 0;
		} else if (in_case && is_result(t)) {
			if (!good)
				return false;
			(*runs)++;
		}
	}
	return false;
}

int main(void)
{
	char names[MAX_SUITES][256];
	int n = suite_names(names);
	size_t i;
	int s;

	ktap_begin("kunit", 1,
		   n + (int)(sizeof(required) / sizeof(required[0]) +
			     sizeof(required_cases) / sizeof(required_cases[0])));

	for (i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
		bool found = false;

		for (s = 0; s < n; s++)
			found |= !strcmp(names[s], required[i]);
		ktap_check(found, "suite %s is built in and ran", required[i]);
	}

	for (i = 0; i < sizeof(required_cases) / sizeof(required_cases[0]); i++) {
		int runs = 0;
		bool ok = case_passed(required_cases[i][0], required_cases[i][1],
				      &runs);

		ktap_check(ok, "%s.%s passed for %d parameters, none skipped",
			   required_cases[i][0], required_cases[i][1], runs);
	}

	for (s = 0; s < n; s++) {
		int cases = 0, failed = 0;
		bool ok = suite_passed(names[s], &cases, &failed);

		ktap_check(ok, "suite %s: %d results, %d failed", names[s], cases,
			   failed);
	}

	ktap_finish();
}
