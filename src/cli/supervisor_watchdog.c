/* supervisor_watchdog.c — the receiving end of blockd's watchdog pings under `berth up`
 * (see supervisor_watchdog.h). */
#include "supervisor_watchdog.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "paths.h"

int sup_watchdog_open(struct sup_watchdog *w, const char *root, uint64_t timeout_ms, char *err,
		      size_t errlen)
{
	*w = (struct sup_watchdog){ .fd = -1, .timeout_ms = timeout_ms };
	if (!timeout_ms)
		return 0;
	char path[BERTH_PATH_LEN];
	paths_supervisor_notify(path, sizeof(path), root);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path) || strlen(path) >= sizeof(w->path)) {
		snprintf(err, errlen, "%s: too long for a Unix socket (blockd_watchdog needs it)",
			 path);
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int one = 1;
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0) {
		snprintf(err, errlen, "watchdog socket: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return -errno;
	}
	unlink(path);                    /* ours: run/ is the supervisor's, under its lock */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		snprintf(err, errlen, "%s: %s", path, strerror(e));
		close(fd);
		return -e;
	}
	w->fd = fd;
	snprintf(w->path, sizeof(w->path), "%s", path);
	return 0;
}

void sup_watchdog_close(struct sup_watchdog *w)
{
	if (w->fd < 0)
		return;
	close(w->fd);
	unlink(w->path);
	w->fd = -1;
}

void sup_watchdog_child_env(const struct sup_watchdog *w)
{
	if (w->fd < 0)
		return;
	char usec[32];
	snprintf(usec, sizeof(usec), "%llu", (unsigned long long)w->timeout_ms * 1000ull);
	setenv("NOTIFY_SOCKET", w->path, 1);
	setenv("WATCHDOG_USEC", usec, 1);
}

void sup_watchdog_watch(struct sup_watchdog *w, pid_t pid)
{
	w->pid = pid;
	w->last_ms = monotonic_ms();
	w->status[0] = '\0';
}

/* One datagram of sd_notify's "KEY=VALUE\n..." from pid. */
static void take(struct sup_watchdog *w, char *msg)
{
	for (char *save = NULL, *line = strtok_r(msg, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (!strcmp(line, "WATCHDOG=1"))
			w->last_ms = monotonic_ms();
		else if (!strncmp(line, "STATUS=", 7))
			snprintf(w->status, sizeof(w->status), "%s", line + 7);
	}
}

void sup_watchdog_drain(struct sup_watchdog *w)
{
	if (w->fd < 0)
		return;
	for (;;) {
		char buf[1024];
		union {
			struct cmsghdr align;
			char space[CMSG_SPACE(sizeof(struct ucred))];
		} ctl;
		struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) - 1 };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.space,
				     .msg_controllen = sizeof(ctl.space) };
		ssize_t n = recvmsg(w->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return;
		buf[n] = '\0';
		pid_t from = 0;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
				struct ucred cred;
				memcpy(&cred, CMSG_DATA(c), sizeof(cred));
				from = cred.pid;
			} else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
				int *fds = (int *)CMSG_DATA(c);   /* nobody may hand us fds */
				size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
				for (size_t i = 0; i < k; i++)
					close(fds[i]);
			}
		}
		if (w->pid > 0 && from == w->pid && !(mh.msg_flags & MSG_TRUNC))
			take(w, buf);
	}
}

bool sup_watchdog_expired(const struct sup_watchdog *w, char *why, size_t len)
{
	if (w->fd < 0 || w->pid <= 0)
		return false;
	int64_t quiet = monotonic_ms() - w->last_ms;
	if (quiet < (int64_t)w->timeout_ms)
		return false;
	snprintf(why, len, "blockd pid %d sent no watchdog ping for %.1f s (blockd_watchdog "
		 "%.1f s)%s%s", (int)w->pid, (double)quiet / 1000, (double)w->timeout_ms / 1000,
		 w->status[0] ? "; its last status: " : "", w->status);
	return true;
}
