/* fuzz_blockd.c — blockd in-process for the fuzz targets (see fuzz_blockd.h).
 *
 * Fuzzed configurations name files (bdev_uring_create's filename). open() is wrapped here so
 * that the process opens nothing outside its scratch directory (where a plain name is
 * looked up), /proc/self/fd and /dev/null:
 * anything else fails with EACCES, as an unreadable file would, and never touches the host
 * (the wrapper is this executable's open(), which the product code calls). */
#include "fuzz_blockd.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bdev.h"
#include "bdev_module.h"
#include "fault.h"
#include "fuzz_util.h"
#include "reactor.h"
#include "vhost_blk.h"

struct blockd g_blockd;      /* defined by blockd's main.c, which the targets do not link */

static bool allowed_path(const char *path)
{
	const char *dir = fuzz_scratch_dir();
	size_t n = strlen(dir);
	if (!strncmp(path, dir, n) && path[n] == '/' && !strstr(path + n, "/.."))
		return true;
	if (!strncmp(path, "/proc/self/fd/", 14) && !strchr(path + 14, '/'))
		return true;
	return !strcmp(path, "/dev/null");
}

int open(const char *path, int flags, ...);

int open(const char *path, int flags, ...)
{
	mode_t mode = 0;
	if (flags & (O_CREAT | __O_TMPFILE)) {
		va_list ap;
		va_start(ap, flags);
		mode = (mode_t)va_arg(ap, int);
		va_end(ap);
	}
	/* A plain name is looked up in the scratch directory. */
	char scratch[PATH_MAX + 64];
	if (path[0] && !strchr(path, '/') && strcmp(path, ".") && strcmp(path, "..")) {
		snprintf(scratch, sizeof(scratch), "%s/%s", fuzz_scratch_dir(), path);
		path = scratch;
	} else if (!allowed_path(path)) {
		errno = EACCES;
		return -1;
	}
	return (int)syscall(SYS_openat, AT_FDCWD, path, flags, mode);
}

void fuzz_blockd_setup(void)
{
	if (g_blockd.app)
		return;
	fuzz_quiet_logs();
	memset(&g_blockd, 0, sizeof(g_blockd));
	g_blockd.opts.num_reactors = 1;
	g_blockd.opts.vhost_dir = fuzz_scratch_dir();
	g_blockd.start_ns = monotonic_ns();
	struct reactor *r = reactor_create("reactor_0", 0, 0);
	if (!r || reactor_start(r, false) < 0)
		abort();
	g_blockd.reactors[0] = r;
	g_blockd.num_reactors = 1;
	/* The control thread's reactor: the fuzzing thread plays that role. */
	g_blockd.app = reactor_create("app_thread", 100, 0);
	if (!g_blockd.app || blockd_register(&g_blockd) < 0)
		abort();
	fault_set_enabled(false);
	fault_clear_all();
}

static void sync_back(void *arg)
{
	*(bool *)arg = true;
}

static void sync_there(void *arg)
{
	if (reactor_send_msg(g_blockd.app, sync_back, arg) < 0)
		abort();
}

void fuzz_blockd_sync(void)
{
	bool done = false;
	if (reactor_send_msg(g_blockd.reactors[0], sync_there, &done) < 0)
		abort();
	uint64_t deadline = monotonic_ns() + 10ull * 1000000000;
	while (!done) {
		if (monotonic_ns() > deadline) {
			fprintf(stderr, "the IO reactor did not answer within 10 s\n");
			abort();
		}
		reactor_poll(g_blockd.app, 1);      /* returns when the answer arrives */
	}
	while (reactor_poll(g_blockd.app, 0) > 0)
		;
}

void fuzz_blockd_reset(void)
{
	vhost_blk_shutdown();
	bdev_delete_all();
	uint64_t deadline = monotonic_ns() + 10ull * 1000000000;
	for (;;) {
		bdev_reap();
		if (bdev_graveyard_size() == 0)
			break;
		if (monotonic_ns() > deadline) {
			fprintf(stderr, "deleted bdevs not freed within 10 s\n");
			abort();
		}
		fuzz_blockd_sync();     /* the IO reactor's turn passes the epoch the bdevs wait for */
	}
	fault_clear_all();
}
