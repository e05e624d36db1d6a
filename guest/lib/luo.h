/* SPDX-License-Identifier: GPL-2.0 */
/* Thin wrappers over /dev/liveupdate; each returns a fd or 0, or -errno. */
#ifndef LUTEST_LUO_H
#define LUTEST_LUO_H

#include <stdint.h>

int luo_open(void);
int luo_create_session(int luo, const char *name);
int luo_retrieve_session(int luo, const char *name);
int luo_preserve_fd(int session, int fd, uint64_t token);
int luo_retrieve_fd(int session, uint64_t token);
int luo_finish(int session);

#endif
