/* deadline_io.c — connect, read and write on Unix sockets, each bounded by a deadline.
 * Sockets are non-blocking; every wait is a poll(2) with the time left. */
#include "deadline_io.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

int64_t deadline_after_ms(int64_t ms)
{
	return monotonic_ms() + (ms < 0 ? 0 : ms);
}

int deadline_remaining_ms(int64_t deadline)
{
	int64_t left = deadline - monotonic_ms();
	if (left <= 0)
		return 0;
	return left > INT_MAX ? INT_MAX : (int)left;
}

int fd_set_nonblocking(int fd)
{
	int flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

/* Waits until fd is ready for events; 0, -ETIMEDOUT, or -errno. */
static int wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = events };
		int timeout = deadline_remaining_ms(deadline);
		int rc = poll(&pfd, 1, timeout);
		if (rc > 0)
			return 0;
		if (rc == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

int dio_connect_unix(const char *path, int64_t deadline)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	strcpy(addr.sun_path, path);

	for (unsigned attempt = 0;; attempt++) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
		if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0)
			return fd;
		int err = errno;
		close(fd);
		/* A Unix socket whose backlog is full answers EAGAIN (it never completes the
		 * connect asynchronously): try again until the deadline. */
		if (err != EAGAIN && err != EINPROGRESS && err != EINTR)
			return -err;
		int left = deadline_remaining_ms(deadline);
		if (left == 0)
			return -ETIMEDOUT;
		poll(NULL, 0, left < 10 ? left : (attempt < 10 ? 1 : 10));
	}
}

int dio_write_all(int fd, const void *buf, size_t len, int64_t deadline)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN)
			return -errno;
		int rc = wait_fd(fd, POLLOUT, deadline);
		if (rc < 0)
			return rc;
	}
	return 0;
}

ssize_t dio_read_some(int fd, void *buf, size_t len, int64_t deadline)
{
	for (;;) {
		ssize_t n = recv(fd, buf, len, 0);
		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return -errno;
		int rc = wait_fd(fd, POLLIN, deadline);
		if (rc < 0)
			return rc;
	}
}
