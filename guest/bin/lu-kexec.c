// SPDX-License-Identifier: GPL-2.0
/*
 * lu-kexec STAGE: kexec into this same kernel and initramfs with
 * "lustage=STAGE" on the command line. The guest init runs it after a
 * stage of an in-tree kselftest that leaves the kexec to its runner.
 */
#include <stdio.h>
#include <stdlib.h>

#include "util.h"

int main(int argc, char *argv[])
{
	int ret;

	if (argc != 2) {
		fprintf(stderr, "usage: lu-kexec STAGE\n");
		return 2;
	}
	ret = kexec_load_next(atoi(argv[1]));
	if (!ret)
		ret = kexec_reboot();
	fprintf(stderr, "lu-kexec: %d\n", ret);
	return 1;
}
