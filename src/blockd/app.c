/* app.c — the app layer of blockd: the explicit registration list that wires every area into
 * the RPC dispatcher (methods, config writers, hooks), the IO reactors' start and stop, and
 * the vhost dir's clean-up at start. Nothing below calls back here except through what was
 * registered.
 * Owns the rule "Stale sockets" of docs/architecture.md (bug class 3).
 */
#include "blockd.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bdev_delay.h"
#include "bdev_malloc.h"
#include "bdev_module.h"
#include "bdev_null.h"
#include "bdev_raid.h"
#include "bdev_rpc.h"
#include "bdev_uring.h"
#include "fault.h"
#include "fault_bdev.h"
#include "fault_reactor.h"
#include "fault_vhost.h"
#include "log.h"
#include "persist.h"
#include "rpc_app.h"
#include "rpc_inflight.h"
#include "rpc_stats.h"
#include "vhost_blk.h"
#include "vhost_blk_rpc.h"

/* The bdev modules, in the order rpc_get_methods lists their methods. */
static const struct bdev_module *const bdev_modules[] = {
	&bdev_malloc_module, &bdev_null_module, &bdev_uring_module, &bdev_aio_module,
	&bdev_delay_module, &bdev_raid_module,
};

int blockd_register(struct blockd *bd)
{
	int rc;
	/* Order matters: rpc_get_methods lists methods in it, and save_config lists the bdevs
	 * before the vhost controllers that use them. */
	if ((rc = rpc_app_register(bd)) < 0 || (rc = rpc_inflight_register()) < 0 ||
	    (rc = rpc_stats_register()) < 0 ||
	    (rc = bdev_rpc_register()) < 0)
		return rc;
	for (size_t i = 0; i < sizeof(bdev_modules) / sizeof(bdev_modules[0]); i++)
		if ((rc = bdev_module_register(bdev_modules[i])) < 0)
			return rc;
	vhost_blk_init(bd);
	if ((rc = vhost_blk_rpc_register()) < 0 || (rc = fault_register()) < 0 ||
	    (rc = fault_reactor_register(bd)) < 0 || (rc = fault_bdev_register()) < 0 ||
	    (rc = fault_vhost_register()) < 0 ||
	    (rc = persist_register()) < 0)
		return rc;
	return 0;
}

/* Sockets left by a previous run confuse whoever checks for an export (a stale socket looks
 * like a live one); they are removed before anything else. */
int blockd_prepare_vhost_dir(const char *dir)
{
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		log_error("blockd", "msg=\"cannot create vhost dir\" dir=%s error=\"%s\"", dir,
			  strerror(errno));
		return -1;
	}
	DIR *d = opendir(dir);
	if (!d) {
		log_error("blockd", "msg=\"cannot open vhost dir\" dir=%s error=\"%s\"", dir,
			  strerror(errno));
		return -1;
	}
	struct dirent *e;
	while ((e = readdir(d))) {
		struct stat st;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISSOCK(st.st_mode)) {
			unlinkat(dirfd(d), e->d_name, 0);
			log_info("blockd", "msg=\"removed stale vhost socket\" path=%s/%s", dir,
				 e->d_name);
		}
	}
	closedir(d);
	return 0;
}

int blockd_start_reactors(struct blockd *bd)
{
	for (unsigned i = 0; i < bd->opts.num_reactors; i++) {
		char name[32];
		snprintf(name, sizeof(name), "reactor_%u", i);
		struct reactor *r = reactor_create(name, i, 0);
		if (r)
			reactor_set_poll_max(r, bd->opts.poll_max_us * 1000ull);
		if (!r || reactor_start(r, bd->opts.busy_poll) < 0) {
			log_error("blockd", "msg=\"cannot start reactor\" reactor=%u", i);
			if (r)
				reactor_destroy(r);
			return -1;
		}
		bd->reactors[bd->num_reactors++] = r;
	}
	return 0;
}

void blockd_stop_reactors(struct blockd *bd)
{
	for (unsigned i = 0; i < bd->num_reactors; i++) {
		reactor_stop(bd->reactors[i]);
		reactor_destroy(bd->reactors[i]);
	}
	bd->num_reactors = 0;
}
