/* sock_util.c — socket helpers for the unit tests' fake servers (see sock_util.h). */
#include "sock_util.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <linux/sockios.h>

#include "deadline_io.h"

void sock_send_all(int fd, const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

void sock_send_str(int fd, const char *s)
{
	sock_send_all(fd, s, strlen(s));
}

static int stop_requested(int stop_fd)
{
	struct pollfd p = { .fd = stop_fd, .events = POLLIN };
	return stop_fd >= 0 && poll(&p, 1, 0) > 0;
}

void sock_wait_drained(int fd, int stop_fd)
{
	int64_t deadline = deadline_after_ms(5000);
	while (deadline_remaining_ms(deadline) > 0 && !stop_requested(stop_fd)) {
		int outq = 0;
		if (ioctl(fd, SIOCOUTQ, &outq) < 0 || outq == 0)
			return;
		struct timespec ts = { 0, 200000 };      /* polling interval */
		nanosleep(&ts, NULL);
	}
}
