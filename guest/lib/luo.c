// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/liveupdate.h>

#include "luo.h"

#define IOCTL_OR_ERRNO(fd, cmd, arg) (ioctl(fd, cmd, arg) ? -errno : 0)

int luo_open(void)
{
	int fd = open("/dev/liveupdate", O_RDWR | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

int luo_create_session(int luo, const char *name)
{
	struct liveupdate_ioctl_create_session arg = { .size = sizeof(arg) };
	int ret;

	strncpy((char *)arg.name, name, sizeof(arg.name) - 1);
	ret = IOCTL_OR_ERRNO(luo, LIVEUPDATE_IOCTL_CREATE_SESSION, &arg);
	return ret ? ret : arg.fd;
}

int luo_retrieve_session(int luo, const char *name)
{
	struct liveupdate_ioctl_retrieve_session arg = { .size = sizeof(arg) };
	int ret;

	strncpy((char *)arg.name, name, sizeof(arg.name) - 1);
	ret = IOCTL_OR_ERRNO(luo, LIVEUPDATE_IOCTL_RETRIEVE_SESSION, &arg);
	return ret ? ret : arg.fd;
}

int luo_preserve_fd(int session, int fd, uint64_t token)
{
	struct liveupdate_session_preserve_fd arg = {
		.size = sizeof(arg), .fd = fd, .token = token,
	};

	return IOCTL_OR_ERRNO(session, LIVEUPDATE_SESSION_PRESERVE_FD, &arg);
}

int luo_retrieve_fd(int session, uint64_t token)
{
	struct liveupdate_session_retrieve_fd arg = {
		.size = sizeof(arg), .token = token,
	};
	int ret = IOCTL_OR_ERRNO(session, LIVEUPDATE_SESSION_RETRIEVE_FD, &arg);

	return ret ? ret : arg.fd;
}

int luo_finish(int session)
{
	struct liveupdate_session_finish arg = { .size = sizeof(arg) };

	return IOCTL_OR_ERRNO(session, LIVEUPDATE_SESSION_FINISH, &arg);
}
