/* main.c — blockd, the storage target: options, start-up order (stale vhost sockets removed,
 * persisted configuration replayed, then the RPC socket opened), the control loop, and a clean
 * exit on SIGTERM/SIGINT. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bdev.h"
#include "berth_version.h"
#include "blockd.h"
#include "fault.h"
#include "log.h"
#include "persist.h"
#include "vhost_blk.h"
#include "rpc_server.h"

struct blockd g_blockd;

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: blockd -r RPC_SOCKET -S VHOST_DIR [options]\n"
		"Berth's storage target: bdevs and vhost-user-blk controllers, driven over\n"
		"JSON-RPC in SPDK's dialect.\n\n"
		"  -r, --rpc-socket PATH   JSON-RPC Unix socket (SPDK's -r)\n"
		"  -S, --vhost-dir DIR     directory of vhost-user sockets (SPDK's -S); stale\n"
		"                          sockets in it are removed at start\n"
		"      --persist FILE      save the configuration after every change and replay\n"
		"                          it at start\n"
		"      --reactors N        IO reactor threads (default 1, at most %d)\n"
		"      --busy-poll         reactors spin instead of sleeping when idle\n"
		"      --fault-injection   enable blockd_fault_inject / blockd_fault_clear\n"
		"      --log-level LEVEL   debug, info, warn or error (default info)\n"
		"  -h, --help              this text\n"
		"  -V, --version           print the version\n",
		BLOCKD_MAX_REACTORS);
}

static int parse_options(int argc, char **argv, struct blockd_options *o)
{
	enum { OPT_PERSIST = 256, OPT_REACTORS, OPT_BUSY_POLL, OPT_FAULT, OPT_LOG_LEVEL };
	static const struct option longopts[] = {
		{ "rpc-socket", required_argument, NULL, 'r' },
		{ "vhost-dir", required_argument, NULL, 'S' },
		{ "persist", required_argument, NULL, OPT_PERSIST },
		{ "reactors", required_argument, NULL, OPT_REACTORS },
		{ "busy-poll", no_argument, NULL, OPT_BUSY_POLL },
		{ "fault-injection", no_argument, NULL, OPT_FAULT },
		{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	o->num_reactors = 1;
	int c;
	while ((c = getopt_long(argc, argv, "r:S:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'r': o->rpc_socket = optarg; break;
		case 'S': o->vhost_dir = optarg; break;
		case OPT_PERSIST: o->persist_path = optarg; break;
		case OPT_BUSY_POLL: o->busy_poll = true; break;
		case OPT_FAULT: o->fault_injection = true; break;
		case OPT_REACTORS: {
			char *end;
			long n = strtol(optarg, &end, 10);
			if (*end || n < 1 || n > BLOCKD_MAX_REACTORS) {
				fprintf(stderr, "blockd: --reactors must be 1..%d\n",
					BLOCKD_MAX_REACTORS);
				return -1;
			}
			o->num_reactors = (unsigned)n;
			break;
		}
		case OPT_LOG_LEVEL: {
			enum log_level level;
			if (log_parse_level(optarg, &level) < 0) {
				fprintf(stderr, "blockd: unknown log level '%s'\n", optarg);
				return -1;
			}
			log_set_level(level);
			break;
		}
		case 'h': usage(stdout); exit(0);
		case 'V': printf("blockd v%s\n", BERTH_VERSION); exit(0);
		default: usage(stderr); return -1;
		}
	}
	if (optind < argc || !o->rpc_socket || !o->vhost_dir) {
		fprintf(stderr, "blockd: -r RPC_SOCKET and -S VHOST_DIR are required\n");
		usage(stderr);
		return -1;
	}
	return 0;
}

/* Sockets left by a previous run confuse whoever checks for an export; remove them before
 * anything else (seed bug 3: "clean stale vhost sockets in the init script"). */
static int prepare_vhost_dir(const char *dir)
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

static int start_reactors(void)
{
	for (unsigned i = 0; i < g_blockd.opts.num_reactors; i++) {
		char name[32];
		snprintf(name, sizeof(name), "reactor_%u", i);
		struct reactor *r = reactor_create(name, i, 0);
		if (!r || reactor_start(r, g_blockd.opts.busy_poll) < 0) {
			log_error("blockd", "msg=\"cannot start reactor\" reactor=%u", i);
			if (r)
				reactor_destroy(r);
			return -1;
		}
		g_blockd.reactors[g_blockd.num_reactors++] = r;
	}
	return 0;
}

static void stop_reactors(void)
{
	for (unsigned i = 0; i < g_blockd.num_reactors; i++) {
		reactor_stop(g_blockd.reactors[i]);
		reactor_destroy(g_blockd.reactors[i]);
	}
	g_blockd.num_reactors = 0;
}

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
	if (parse_options(argc, argv, &g_blockd.opts) < 0)
		return 2;
	g_blockd.start_ns = monotonic_ns();
	fault_set_enabled(g_blockd.opts.fault_injection);

	/* Signals are blocked before any thread starts, so only the signalfd sees them. */
	int stop_fd = block_signals();
	if (stop_fd < 0) {
		log_error("blockd", "msg=\"cannot set up signals\" error=\"%s\"", strerror(errno));
		return 1;
	}
	g_blockd.app = reactor_create("app_thread", 0, 0);
	if (!g_blockd.app || prepare_vhost_dir(g_blockd.opts.vhost_dir) < 0 ||
	    start_reactors() < 0)
		return 1;
	reactor_fd_add(g_blockd.app, stop_fd, EPOLLIN, on_signal, &stop_fd);
	reactor_poller_register(g_blockd.app, "bdev_reap", reap_deleted_bdevs, NULL,
				100 * 1000000ull);

	/* The persisted configuration is replayed on the control thread before the RPC socket
	 * exists, so the first client already sees every bdev. */
	persist_set_path(g_blockd.opts.persist_path);
	if (persist_load() < 0) {
		stop_reactors();
		return 1;
	}

	struct rpc_server *server = rpc_server_open(g_blockd.opts.rpc_socket, g_blockd.app);
	if (!server) {
		stop_reactors();
		return 1;
	}
	log_info("blockd", "msg=started version=%s rpc=%s vhost_dir=%s reactors=%u persist=%s "
		 "fault_injection=%d", BERTH_VERSION, g_blockd.opts.rpc_socket,
		 g_blockd.opts.vhost_dir, g_blockd.num_reactors,
		 g_blockd.opts.persist_path ? g_blockd.opts.persist_path : "-",
		 g_blockd.opts.fault_injection);

	while (!stop_requested)
		reactor_poll(g_blockd.app, -1);

	log_info("blockd", "msg=\"stopping\"");
	rpc_server_close(server);
	vhost_blk_shutdown();
	bdev_delete_all();
	stop_reactors();
	bdev_reap();
	reactor_destroy(g_blockd.app);
	persist_set_path(NULL);
	close(stop_fd);
	log_info("blockd", "msg=stopped");
	return 0;
}
