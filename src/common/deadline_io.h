/* deadline_io.h — blocking operations on Unix stream sockets, each bounded by a deadline.
 * A deadline is an absolute CLOCK_MONOTONIC time in milliseconds (deadline_after_ms). Every
 * call returns a negative errno; -ETIMEDOUT when the deadline passed first. */
#ifndef BERTH_DEADLINE_IO_H
#define BERTH_DEADLINE_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "clock.h"

int64_t deadline_after_ms(int64_t ms);
/* Milliseconds left (0 when passed), clamped to INT32_MAX for poll(2). */
int deadline_remaining_ms(int64_t deadline);

/* Connects a non-blocking, close-on-exec socket to path. Returns the fd or -errno. */
int dio_connect_unix(const char *path, int64_t deadline);
/* Writes all of buf. 0 or -errno (-EPIPE when the peer is gone). */
int dio_write_all(int fd, const void *buf, size_t len, int64_t deadline);
/* Reads what is available (at least one byte): > 0 bytes, 0 at end of stream, or -errno. */
ssize_t dio_read_some(int fd, void *buf, size_t len, int64_t deadline);

/* Makes fd non-blocking. 0 or -errno. */
int fd_set_nonblocking(int fd);

#endif
