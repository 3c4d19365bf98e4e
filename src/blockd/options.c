/* options.c — blockd's command line: --help text, and the options parsed into
 * struct blockd_options (SPDK's -r and -S spellings kept). */
#include "blockd.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "berth_version.h"
#include "log.h"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: blockd -r RPC_SOCKET -S VHOST_DIR [options]\n"
		"Berth's storage target: bdevs and vhost-user-blk controllers, driven over\n"
		"JSON-RPC in SPDK's dialect.\n\n"
		"  -r, --rpc-socket PATH   JSON-RPC Unix socket (SPDK's -r)\n"
		"  -S, --vhost-dir DIR     directory of vhost-user sockets (SPDK's -S); stale\n"
		"                          sockets in it are removed at start\n"
		"      --persist FILE      save the configuration durably with every change,\n"
		"                          before answering it (a change that cannot be saved\n"
		"                          fails and is taken back), and replay it at start\n"
		"      --reactors N        IO reactor threads (default 1, at most %d)\n"
		"      --busy-poll         reactors spin instead of sleeping when idle\n"
		"      --poll-max-us US    without --busy-poll: after work, an idle reactor polls\n"
		"                          on for up to US microseconds (adapted to how soon work\n"
		"                          comes back) before it sleeps; 0: sleeps at once\n"
		"                          (default %d)\n"
		"      --fault-injection   enable blockd_fault_inject / blockd_fault_clear\n"
		"      --rpc-idle-timeout S\n"
		"                          close an RPC client that sends and takes nothing for\n"
		"                          S seconds, or leaves half a request unsent that long\n"
		"                          (default 10)\n"
		"      --drain-timeout-ms MS\n"
		"                          a vhost queue being stopped (GET_VRING_BASE) answers\n"
		"                          requests still outstanding after MS with IOERR\n"
		"                          (default 5000)\n"
		"      --log-level LEVEL   debug, info, warn or error (default info)\n"
		"  -h, --help              this text\n"
		"  -V, --version           print the version\n\n"
		"RPC limits: 256 KiB per request; 64 clients (when all are there, the one idle\n"
		"the longest is closed to admit a new one); a client with 1 MiB of answers it\n"
		"has not read is not read from until they drain.\n",
		BLOCKD_MAX_REACTORS, BLOCKD_POLL_MAX_US_DEFAULT);
}

int blockd_parse_options(int argc, char **argv, struct blockd_options *o)
{
	enum { OPT_PERSIST = 256, OPT_REACTORS, OPT_BUSY_POLL, OPT_FAULT, OPT_LOG_LEVEL,
	       OPT_IDLE, OPT_DRAIN, OPT_POLL_MAX };
	static const struct option longopts[] = {
		{ "rpc-socket", required_argument, NULL, 'r' },
		{ "vhost-dir", required_argument, NULL, 'S' },
		{ "persist", required_argument, NULL, OPT_PERSIST },
		{ "reactors", required_argument, NULL, OPT_REACTORS },
		{ "busy-poll", no_argument, NULL, OPT_BUSY_POLL },
		{ "poll-max-us", required_argument, NULL, OPT_POLL_MAX },
		{ "fault-injection", no_argument, NULL, OPT_FAULT },
		{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
		{ "rpc-idle-timeout", required_argument, NULL, OPT_IDLE },
		{ "drain-timeout-ms", required_argument, NULL, OPT_DRAIN },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	o->num_reactors = 1;
	o->rpc_idle_timeout_s = 10;
	o->poll_max_us = BLOCKD_POLL_MAX_US_DEFAULT;
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
		case OPT_IDLE: {
			char *end;
			long n = strtol(optarg, &end, 10);
			if (*end || n < 1 || n > 86400) {
				fprintf(stderr, "blockd: --rpc-idle-timeout must be 1..86400 "
					"seconds\n");
				return -1;
			}
			o->rpc_idle_timeout_s = (unsigned)n;
			break;
		}
		case OPT_POLL_MAX: {
			char *end;
			long n = strtol(optarg, &end, 10);
			if (!optarg[0] || *end || n < 0 || n > 1000000) {
				fprintf(stderr, "blockd: --poll-max-us must be 0..1000000\n");
				return -1;
			}
			o->poll_max_us = (unsigned)n;
			break;
		}
		case OPT_DRAIN: {
			char *end;
			long n = strtol(optarg, &end, 10);
			if (*end || n < 1 || n > 600000) {
				fprintf(stderr, "blockd: --drain-timeout-ms must be 1..600000\n");
				return -1;
			}
			o->drain_timeout_ms = (unsigned)n;
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
