/* main.c — diskengine: creates each VM's volume (a raid over base bdevs on files) and its
 * export on the storage target, and deletes them when they are no longer wanted. Two loops
 * on two threads (loop.h), each with its own target connection and every RPC with a
 * deadline; introspection through bdev_raid_get_bdevs and vhost_get_controllers only.
 * Under systemd: READY=1 once both loops did their first pass, STOPPING=1 at SIGTERM, and
 * watchdog pings while both loops iterate (sd_notify_watchdog.h). */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "berth_version.h"
#include "config.h"
#include "daemon_args.h"
#include "daemon_lock.h"
#include "events.h"
#include "log.h"
#include "loop.h"
#include "paths.h"
#include "sd_notify_watchdog.h"
#include "store_root.h"
#include "target_restart.h"

static const char g_usage[] =
	"usage: diskengine --root DIR [--config FILE] [--log-level LEVEL]\n"
	"Berth's volume engine: creates, exports, unexports and deletes the host's volumes\n"
	"on the storage target.\n"
	"  --root DIR          host root (default $BERTH_ROOT or /var/lib/berth)\n"
	"  --config FILE       configuration (default <root>/berth.conf, section [diskengine])\n"
	"  --log-level LEVEL   debug, info, warn, error (default info)\n"
	"Desired volumes: the store ([berth] store, default <root>/store.db), or\n"
	"<root>/diskengine/desired/*.json with desired_source = dir; status: <root>/diskengine/\n"
	"{attach,detach}.json; events: <root>/diskengine/events.jsonl.\n";

/* Until SIGTERM/SIGINT; READY=1 once both loops did their first pass. */
static void wait_for_stop(int sfd, struct loop *attach, struct loop *detach)
{
	struct pollfd pfd[3] = { { .fd = sfd, .events = POLLIN },
				 { .fd = loop_passed_fd(attach), .events = POLLIN },
				 { .fd = loop_passed_fd(detach), .events = POLLIN } };
	bool ready = false;
	for (;;) {
		int n = poll(pfd, 3, -1);       /* no deadline: this thread waits for a signal */
		if (n < 0 && errno != EINTR)
			break;
		if (n > 0 && (pfd[0].revents & POLLIN))
			break;
		for (int i = 1; i < 3; i++)
			if (pfd[i].revents & POLLIN)
				pfd[i].fd = -1;          /* seen once; poll ignores it from now on */
		if (!ready && pfd[1].fd < 0 && pfd[2].fd < 0) {
			ready = true;
			sdw_ready("serving: attach and detach loops running");
		}
	}
	struct signalfd_siginfo si = { 0 };
	if (read(sfd, &si, sizeof(si)) < 0)
		si.ssi_signo = 0;
	log_info("diskengine", "msg=\"stopping; volumes and exports stay\" signal=%u",
		 si.ssi_signo);
}

int main(int argc, char **argv)
{
	struct daemon_args args;
	umask(077);          /* volumes, status and events: nobody else's */
	if (daemon_parse_args(argc, argv, "diskengine", g_usage, &args) < 0)
		return 2;
	const char *root = args.root, *config = args.config;
	static struct diskengine_config cfg;
	char path[BERTH_PATH_LEN], err[512];
	if (daemon_lock_take(root, "diskengine", false, path, sizeof(path)) < 0) {
		log_error("diskengine", "msg=\"refusing to start\" error=\"%s\"", path);
		return 1;
	}
	paths_conf(path, sizeof(path), root);
	if (diskengine_config_load(&cfg, root, config ? config : path, err, sizeof(err)) < 0) {
		log_error("diskengine", "msg=\"bad configuration\" error=\"%s\"", err);
		return 2;
	}
	if (!cfg.desired_from_dir && store_check_root(root, err, sizeof(err)) < 0) {
		log_error("diskengine", "msg=\"refusing the store\" error=\"%s\"", err);
		return 2;
	}
	int sfd = daemon_stop_signalfd(false);      /* before the loops' threads exist */
	if (sfd < 0)
		return 1;
	mkdir(root, 0755);
	paths_diskengine_dir(path, sizeof(path), root);
	mkdir(path, 0755);
	mkdir(cfg.volumes_dir, 0700);
	events_open(root);
	/* The target restarted: the marker is ours to consume; the loops reconcile every
	 * volume and export on the new target anyway (target_restart.h). */
	if (target_restart_consume(root, TARGET_RESTART_DISKENGINE))
		log_warn("diskengine", "msg=\"target restart marker found and removed; "
			 "reconciling\"");
	log_info("diskengine", "msg=started version=%s root=%s rpc=%s rpc_timeout_ms=%llu "
		 "wedge_after_ms=%llu layout=%s", BERTH_VERSION, root, cfg.target.rpc_socket,
		 (unsigned long long)cfg.rpc_timeout_ms, (unsigned long long)cfg.wedge_after_ms,
		 volume_layout_name(cfg.layout));
	sdw_init("diskengine");
	struct loop *attach = loop_start(&cfg, LOOP_ATTACH);
	struct loop *detach = loop_start(&cfg, LOOP_DETACH);
	if (!attach || !detach)
		return 1;
	sdw_watchdog_start();
	wait_for_stop(sfd, attach, detach);
	sdw_stopping("stopping: volumes and exports stay");
	sdw_watchdog_stop();
	loop_stop(attach);
	loop_stop(detach);
	close(sfd);
	log_info("diskengine", "msg=stopped");
	return 0;
}
