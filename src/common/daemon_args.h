/* daemon_args.h — what vmengine and diskengine do first: the options they share
 * (--root, --config, --log-level, --help, --version) and stop signals routed to a signalfd
 * before any thread exists. */
#ifndef BERTH_DAEMON_ARGS_H
#define BERTH_DAEMON_ARGS_H

#include <stdbool.h>

struct daemon_args {
	const char *root;       /* --root, else $BERTH_ROOT, else /var/lib/berth */
	const char *config;     /* --config, NULL: <root>/berth.conf */
};

/* Returns -1 after printing the problem (the caller exits 2); --help and --version print
 * and exit 0. usage is the daemon's full help text. */
int daemon_parse_args(int argc, char **argv, const char *name, const char *usage,
		      struct daemon_args *out);

/* Blocks SIGTERM, SIGINT and SIGHUP (and ignores SIGPIPE) in the calling thread — threads
 * created afterwards inherit it — and returns a signalfd for them, or -1. */
int daemon_stop_signalfd(bool nonblock);

#endif
