/* bdev_harness.c — the bdev tests' harness: a reactor polled by the test thread, IO run
 * synchronously with a deadline, patterns and temporary files (see bdev_harness.h). */
#include "bdev_harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bdev_module.h"

#define HARNESS_MAX_FILES 16

static struct reactor *g_reactor;
static char *g_files[HARNESS_MAX_FILES];
static unsigned g_nfiles;

struct reactor *harness_reactor(void)
{
	return g_reactor;
}

void harness_setup(void)
{
	g_reactor = reactor_create("test", 0, 0);
	cr_assert(g_reactor, "reactor_create failed");
}

static bool graveyard_empty(void *arg)
{
	bdev_reap();
	return bdev_graveyard_size() == 0;
}

void harness_teardown(void)
{
	bdev_delete_all();
	cr_expect(harness_poll_until(graveyard_empty, NULL, HARNESS_TIMEOUT_MS),
		  "deleted bdevs not reaped");
	reactor_destroy(g_reactor);
	g_reactor = NULL;
	for (unsigned i = 0; i < g_nfiles; i++) {
		unlink(g_files[i]);
		free(g_files[i]);
	}
	g_nfiles = 0;
}

void harness_io_cb(void *arg, int status)
{
	struct harness_io *io = arg;
	io->done = true;
	io->status = status;
	io->calls++;
}

bool harness_poll_until(bool (*cond)(void *arg), void *arg, int timeout_ms)
{
	uint64_t deadline = monotonic_ns() + (uint64_t)timeout_ms * 1000000ull;
	while (!cond(arg)) {
		if (monotonic_ns() >= deadline)
			return false;
		reactor_poll(g_reactor, 1);
	}
	return true;
}

static bool io_done(void *arg)
{
	return ((struct harness_io *)arg)->done;
}

bool harness_wait(struct harness_io *io, int timeout_ms)
{
	return harness_poll_until(io_done, io, timeout_ms);
}

void harness_drain(void)
{
	uint64_t deadline = monotonic_ns() + (uint64_t)HARNESS_TIMEOUT_MS * 1000000ull;
	while (reactor_poll(g_reactor, 0) > 0 && monotonic_ns() < deadline)
		;
}

int harness_io(struct bdev *b, enum bdev_io_type type, uint64_t offset, uint64_t num,
	       const struct iovec *iov, int iovcnt)
{
	struct harness_io io = { 0 };
	int rc = bdev_submit(g_reactor, b, type, offset, num, iov, iovcnt, harness_io_cb, &io);
	if (rc < 0)
		return rc;
	if (!harness_wait(&io, HARNESS_TIMEOUT_MS))
		return -ETIMEDOUT;
	return io.status;
}

int harness_read(struct bdev *b, void *buf, uint64_t offset, uint64_t num)
{
	struct iovec iov = { buf, num * bdev_block_size(b) };
	return harness_io(b, BDEV_IO_READ, offset, num, &iov, 1);
}

int harness_write(struct bdev *b, const void *buf, uint64_t offset, uint64_t num)
{
	struct iovec iov = { (void *)buf, num * bdev_block_size(b) };
	return harness_io(b, BDEV_IO_WRITE, offset, num, &iov, 1);
}

void harness_pattern(void *buf, size_t len, uint32_t seed)
{
	unsigned char *p = buf;
	uint32_t x = seed * 2654435761u + 1;
	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (unsigned char)(x ^ (uint32_t)(i >> 9));
	}
}

bool harness_all_zero(const void *buf, size_t len)
{
	const unsigned char *p = buf;
	for (size_t i = 0; i < len; i++) {
		if (p[i])
			return false;
	}
	return true;
}

const char *harness_tmpfile(uint64_t size)
{
	cr_assert(g_nfiles < HARNESS_MAX_FILES);
	const char *dir = getenv("TMPDIR");
	char *path = NULL;
	cr_assert(asprintf(&path, "%s/berth-bdev-XXXXXX", dir ? dir : "/tmp") > 0);
	int fd = mkstemp(path);
	cr_assert(fd >= 0, "mkstemp: %s", strerror(errno));
	cr_assert(ftruncate(fd, (off_t)size) == 0);
	close(fd);
	g_files[g_nfiles++] = path;
	return path;
}
