/* sock_util.h — socket helpers shared by the unit tests' fake servers: send everything,
 * and wait (bounded) until the peer has read what was sent. */
#ifndef BERTH_TEST_SOCK_UTIL_H
#define BERTH_TEST_SOCK_UTIL_H

#include <stddef.h>

/* Sends all of s (best effort: stops on an error, e.g. the peer closed). */
void sock_send_all(int fd, const char *s, size_t n);
void sock_send_str(int fd, const char *s);
/* Waits until the peer has read everything fd sent, at most 5 s, or until stop_fd (-1:
 * none) becomes readable. */
void sock_wait_drained(int fd, int stop_fd);

#endif
