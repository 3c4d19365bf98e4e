/* main.c — vmengine: the per-host QEMU supervisor. Reads the desired state of the host's VMs
 * (desired_vms.h), runs one worker per VM (engine.h, vm_worker.h), re-adopts every VM it
 * finds under <root>/vmengine/vms at start after applying the target-restart policy
 * (target_restart.h), and writes <root>/vmengine/status.json each tick. Stopping vmengine
 * never stops a VM. Under systemd: READY=1 after the first reconcile pass, STOPPING=1 at
 * SIGTERM, watchdog pings while the main loop iterates (sd_notify_watchdog.h). */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "berth_conf.h"
#include "berth_version.h"
#include "config.h"
#include "daemon_args.h"
#include "daemon_lock.h"
#include "desired_vms.h"
#include "engine.h"
#include "log.h"
#include "paths.h"
#include "sd_notify_watchdog.h"
#include "store_root.h"

static const char g_usage[] =
	"usage: vmengine --root DIR [--config FILE] [--log-level LEVEL]\n"
	"Berth's QEMU supervisor: launches, re-adopts, stops and terminates the host's VMs.\n"
	"  --root DIR          host root (default $BERTH_ROOT or /var/lib/berth)\n"
	"  --config FILE       configuration (default <root>/berth.conf, section [vmengine])\n"
	"  --log-level LEVEL   debug, info, warn, error (default info)\n"
	"Desired state: the store ([berth] store, default <root>/store.db), or\n"
	"<root>/vmengine/desired/*.json with desired_source = dir; local state:\n"
	"<root>/vmengine/vms/<id>/vm.state; status: <root>/vmengine/status.json.\n"
	"SIGTERM/SIGINT stop vmengine and leave every VM running.\n";

/* The configuration, the directories, the desired state: NULL after logging why, with the
 * exit status in *status (2: bad configuration, 1: no desired state). */
static struct desired_vms *open_desired(struct vmengine_config *cfg, const char *root,
					const char *config, int *status)
{
	char path[BERTH_PATH_LEN], err[512];
	struct berth_conf bc;
	paths_conf(path, sizeof(path), root);
	if (vmengine_config_load(cfg, root, config ? config : path, err, sizeof(err)) < 0 ||
	    berth_conf_load(&bc, root, err, sizeof(err)) < 0) {
		log_error("vmengine", "msg=\"bad configuration\" error=\"%s\"", err);
		*status = 2;
		return NULL;
	}
	mkdir(root, 0755);
	paths_vmengine_dir(path, sizeof(path), root);
	mkdir(path, 0755);
	paths_vmengine_vms(path, sizeof(path), root);
	mkdir(path, 0700);
	paths_vmengine_desired(path, sizeof(path), root);
	if (!cfg->desired_from_dir && store_check_root(root, err, sizeof(err)) < 0) {
		log_error("vmengine", "msg=\"refusing the store\" error=\"%s\"", err);
		*status = 2;
		return NULL;
	}
	struct desired_vms *d = cfg->desired_from_dir
		? desired_vms_dir_open(path)
		: desired_vms_store_open(bc.store, bc.host, bc.host_vcpus, bc.host_memory_mb, cfg,
					 err, sizeof(err));
	if (!d)
		log_error("vmengine", "msg=\"cannot open the desired state\" error=\"%s\"", err);
	*status = 1;
	return d;
}

int main(int argc, char **argv)
{
	struct daemon_args args;
	umask(077);          /* vm.state, consoles, logs (QEMU inherits it): nobody else's */
	if (daemon_parse_args(argc, argv, "vmengine", g_usage, &args) < 0)
		return 2;
	char lerr[BERTH_PATH_LEN + 128];
	if (daemon_lock_take(args.root, "vmengine", false, lerr, sizeof(lerr)) < 0) {
		log_error("vmengine", "msg=\"refusing to start\" error=\"%s\"", lerr);
		return 1;
	}
	sdw_init("vmengine");
	int sfd = daemon_stop_signalfd(true);     /* before any thread exists (the store's) */
	if (sfd < 0) {
		log_error("vmengine", "msg=\"cannot set up signals\" error=\"%s\"", strerror(errno));
		return 1;
	}
	static struct vmengine_config cfg;
	int status;
	struct desired_vms *desired = open_desired(&cfg, args.root, args.config, &status);
	if (!desired)
		return status;
	struct engine *e = engine_new(&cfg, desired);
	if (!e) {
		log_error("vmengine", "msg=\"cannot start\" error=\"%s\"", strerror(errno));
		return 1;
	}
	log_info("vmengine", "msg=started version=%s root=%s accel=%s tick_ms=%llu "
		 "powerdown_grace_ms=%llu quit_grace_ms=%llu term_grace_ms=%llu policy=%s",
		 BERTH_VERSION, args.root, cfg.accel, (unsigned long long)cfg.tick_ms,
		 (unsigned long long)cfg.powerdown_grace_ms,
		 (unsigned long long)cfg.quit_grace_ms, (unsigned long long)cfg.term_grace_ms,
		 target_restart_policy_name(cfg.target_restart_policy));
	engine_adopt(e);
	int beat = sdw_loop_add("main");
	sdw_watchdog_start();
	bool stop = false, ready = false;
	while (!stop) {
		engine_sync(e);
		engine_write_status(e);
		sdw_beat(beat);
		if (!ready) {
			ready = true;        /* the first reconcile pass is done */
			sdw_ready("serving: VMs adopted, reconciling every %.1f s",
				  (double)cfg.tick_ms / 1000.0);
		}
		struct pollfd pfd[2] = { { .fd = sfd, .events = POLLIN },
					 { .fd = desired->change_fd(desired), .events = POLLIN } };
		int n = poll(pfd, pfd[1].fd >= 0 ? 2 : 1, (int)cfg.tick_ms);
		if (n > 0 && (pfd[0].revents & POLLIN)) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof(si)) == sizeof(si))
				log_info("vmengine", "msg=\"stopping; VMs keep running\" signal=%u",
					 si.ssi_signo);
			stop = true;
			sdw_stopping("stopping: VMs keep running");
		}
		if (n > 0 && pfd[1].fd >= 0 && (pfd[1].revents & POLLIN))
			desired->changed(desired);
	}
	sdw_watchdog_stop();
	engine_write_status(e);
	engine_free(e);
	desired->destroy(desired);
	close(sfd);
	log_info("vmengine", "msg=stopped");
	return 0;
}
