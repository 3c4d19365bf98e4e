/* daemon_lock.c — one instance of each daemon per root (see daemon_lock.h). */
#include "daemon_lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/sysmacros.h>
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

/* The pid of the flock on the file (dev, ino) in /proc/locks ("1: FLOCK  ADVISORY  WRITE
 * 4242 fe:00:1103 0 EOF"; the device's major and minor in hex), 0 when none is listed. */
static int flock_pid(dev_t dev, ino_t ino)
{
	FILE *f = fopen("/proc/locks", "re");
	if (!f)
		return 0;
	char line[256], kind[16];
	int pid = 0;
	while (!pid && fgets(line, sizeof(line), f)) {
		unsigned maj, min;
		unsigned long long inode;
		int p;
		/* A blocked waiter's line has "->" after the id: it does not match. */
		if (sscanf(line, "%*d: %15s %*s %*s %d %x:%x:%llu", kind, &p, &maj, &min,
			   &inode) == 5 && !strcmp(kind, "FLOCK") && maj == major(dev) &&
		    min == minor(dev) && inode == (unsigned long long)ino)
			pid = p;
	}
	fclose(f);
	return pid;
}

int daemon_lock_holder(const char *root, const char *daemon)
{
	char path[BERTH_PATH_LEN];
	paths_daemon_lock(path, sizeof(path), root, daemon);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	struct stat st;
	bool held = flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
	int pid = held && fstat(fd, &st) == 0 ? flock_pid(st.st_dev, st.st_ino) : 0;
	close(fd);
	return held ? pid : -1;
}
