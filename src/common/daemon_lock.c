/* daemon_lock.c — one instance of each daemon per root (see daemon_lock.h). */
#include "daemon_lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "paths.h"

int daemon_lock_take(const char *root, const char *daemon, bool inherit, char *err,
		     size_t errlen)
{
	char path[BERTH_PATH_LEN];
	paths_run_dir(path, sizeof(path), root);
	mkdir(root, 0700);
	mkdir(path, 0700);
	paths_daemon_lock(path, sizeof(path), root, daemon);
	int fd = open(path, O_RDWR | O_CREAT | (inherit ? 0 : O_CLOEXEC), 0600);
	if (fd < 0) {
		int e = errno;
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(e));
		return -e;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;
		close(fd);
		if (e == EWOULDBLOCK) {
			snprintf(err, errlen, "%s is already running on %s (%s is held)", daemon,
				 root, path);
			return -EALREADY;
		}
		snprintf(err, errlen, "cannot lock %s: %s", path, strerror(e));
		return -e;
	}
	return fd;
}

bool daemon_lock_held(const char *root, const char *daemon)
{
	char path[BERTH_PATH_LEN];
	paths_daemon_lock(path, sizeof(path), root, daemon);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	bool held = flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
	close(fd);
	return held;
}
