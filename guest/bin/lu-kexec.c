// SPDX-License-Identifier: GPL-2.0
/*
 * lu-kexec STAGE [ARG...]: kexec into this same kernel and initramfs with
 * "lustage=STAGE" and the ARGs on the command line. The guest init runs
 * it after a stage of an in-tree kselftest that leaves the kexec to its
 * runner.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

int main(int argc, char *argv[])
{
	char extra[1024] = "";
	size_t used = 0;
	int i, ret;

	if (argc < 2) {
		fprintf(stderr, "usage: lu-kexec STAGE [ARG...]\n");
		return 2;
	}
	for (i = 2; i < argc && used < sizeof(extra); i++)
		used += snprintf(extra + used, sizeof(extra) - used, "%s%s",
				 used ? " " : "", argv[i]);
	ret = kexec_load_next_args(atoi(argv[1]), used ? extra : NULL);
	if (!ret)
		ret = kexec_reboot();
	fprintf(stderr, "lu-kexec: %d\n", ret);
	return 1;
}
