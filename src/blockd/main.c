/* main.c — blockd, the storage target: start-up order (stale vhost sockets removed, every
 * area registered, persisted configuration replayed, then the RPC socket opened, then
 * systemd told READY=1), the control loop, and a clean exit on SIGTERM/SIGINT (STOPPING=1). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "bdev.h"
#include "berth_version.h"
#include "blockd.h"
#include "fault.h"
#include "liveness.h"
#include "log.h"
#include "persist.h"
#include "rpc_server.h"
#include "sd_notify_watchdog.h"
#include "vhost_blk.h"

static int block_signals(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -1;
	signal(SIGPIPE, SIG_IGN);
	return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

static volatile bool stop_requested;

static void on_signal(void *arg, uint32_t events)
{
	struct signalfd_siginfo si;
	if (read(*(int *)arg, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		log_info("blockd", "msg=\"signal received\" signal=%u", si.ssi_signo);
		stop_requested = true;
	}
}

static int reap_deleted_bdevs(void *arg)
{
	bdev_reap();
	return 0;
}

int main(int argc, char **argv)
{
	static struct blockd bd;
	if (blockd_parse_options(argc, argv, &bd.opts) < 0)
		return 2;
	bd.start_ns = monotonic_ns();
	sdw_init("blockd");
	fault_set_enabled(bd.opts.fault_injection);

	/* Signals are blocked before any thread starts, so only the signalfd sees them. */
	int stop_fd = block_signals();
	if (stop_fd < 0) {
		log_error("blockd", "msg=\"cannot set up signals\" error=\"%s\"", strerror(errno));
		return 1;
	}
	bd.app = reactor_create("app_thread", 0, 0);
	if (!bd.app || blockd_prepare_vhost_dir(bd.opts.vhost_dir) < 0 ||
	    blockd_start_reactors(&bd) < 0 || blockd_register(&bd) < 0 ||
	    liveness_register(&bd) < 0)
		return 1;
	reactor_fd_add(bd.app, stop_fd, EPOLLIN, on_signal, &stop_fd);
	reactor_poller_register(bd.app, "bdev_reap", reap_deleted_bdevs, NULL,
				100 * 1000000ull);

	/* The persisted configuration is replayed on the control thread before the RPC socket
	 * exists, so the first client already sees every bdev. */
	persist_set_path(bd.opts.persist_path);
	if (persist_load() < 0) {
		blockd_stop_reactors(&bd);
		return 1;
	}

	struct rpc_server *server = rpc_server_open(bd.opts.rpc_socket, bd.app);
	if (!server) {
		blockd_stop_reactors(&bd);
		return 1;
	}
	rpc_server_set_idle_timeout(server, bd.opts.rpc_idle_timeout_s * 1000u);
	log_info("blockd", "msg=started version=%s rpc=%s vhost_dir=%s reactors=%u persist=%s "
		 "fault_injection=%d", BERTH_VERSION, bd.opts.rpc_socket,
		 bd.opts.vhost_dir, bd.num_reactors,
		 bd.opts.persist_path ? bd.opts.persist_path : "-",
		 bd.opts.fault_injection);
	/* Serving: the configuration is replayed and the RPC socket listens. */
	sdw_watchdog_start();
	sdw_ready("serving: rpc=%s reactors=%u persist=%s%s", bd.opts.rpc_socket,
		  bd.num_reactors, bd.opts.persist_path ? bd.opts.persist_path : "-",
		  bd.opts.fault_injection ? " fault_injection=on" : "");

	while (!stop_requested)
		reactor_poll(bd.app, -1);

	log_info("blockd", "msg=\"stopping\"");
	sdw_stopping("stopping: closing clients and front-ends, deleting bdevs");
	sdw_watchdog_stop();
	rpc_server_close(server);
	vhost_blk_shutdown();
	bdev_delete_all();
	blockd_stop_reactors(&bd);
	bdev_reap_final();
	reactor_destroy(bd.app);
	persist_set_path(NULL);
	close(stop_fd);
	log_info("blockd", "msg=stopped");
	return 0;
}
