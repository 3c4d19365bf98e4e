/* bdev_harness.h — helpers for the bdev unit tests: one reactor driven by the test thread
 * (which is also the control thread), IO run to completion by polling that reactor with a
 * bounded deadline, data patterns, and temporary backing files removed at teardown. */
#ifndef TESTS_BDEV_HARNESS_H
#define TESTS_BDEV_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "bdev.h"
#include "reactor.h"

#define HARNESS_TIMEOUT_MS 10000

/* Criterion .init/.fini: a fresh reactor; teardown deletes every bdev, waits for them to be
 * reaped, destroys the reactor and removes the temporary files. */
void harness_setup(void);
void harness_teardown(void);
struct reactor *harness_reactor(void);

/* One IO's completion, filled by harness_io_cb. */
struct harness_io {
	bool done;
	int status;
	unsigned calls;
};
void harness_io_cb(void *arg, int status);

/* Polls the reactor until cond(arg) is true or timeout_ms pass; true if it became true. */
bool harness_poll_until(bool (*cond)(void *arg), void *arg, int timeout_ms);
bool harness_wait(struct harness_io *io, int timeout_ms);
/* Polls until an iteration finds nothing to do (bounded). */
void harness_drain(void);

/* Runs one IO to completion: its status, the submit error, or -ETIMEDOUT. */
int harness_io(struct bdev *b, enum bdev_io_type type, uint64_t offset, uint64_t num,
	       const struct iovec *iov, int iovcnt);
int harness_read(struct bdev *b, void *buf, uint64_t offset, uint64_t num);
int harness_write(struct bdev *b, const void *buf, uint64_t offset, uint64_t num);

/* Fills buf with bytes that depend on seed and position. */
void harness_pattern(void *buf, size_t len, uint32_t seed);
bool harness_all_zero(const void *buf, size_t len);

/* A temporary file of size bytes (zeros); the path stays valid until teardown. */
const char *harness_tmpfile(uint64_t size);

#endif
