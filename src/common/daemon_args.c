/* daemon_args.c — shared daemon start-up (see daemon_args.h). */
#include "daemon_args.h"

#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/signalfd.h>

#include "berth_version.h"
#include "log.h"

int daemon_parse_args(int argc, char **argv, const char *name, const char *usage,
		      struct daemon_args *out)
{
	static const struct option opts[] = {
		{ "root", required_argument, NULL, 'R' },
		{ "config", required_argument, NULL, 'c' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	*out = (struct daemon_args){ 0 };
	int opt;
	enum log_level level;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'R': out->root = optarg; break;
		case 'c': out->config = optarg; break;
		case 'l':
			if (log_parse_level(optarg, &level) < 0) {
				fprintf(stderr, "%s: bad --log-level '%s'\n", name, optarg);
				return -1;
			}
			log_set_level(level);
			break;
		case 'h': fputs(usage, stdout); exit(0);
		case 'V': printf("%s %s\n", name, BERTH_VERSION); exit(0);
		default: fputs(usage, stderr); return -1;
		}
	}
	if (optind < argc) {
		fputs(usage, stderr);
		return -1;
	}
	if (!out->root)
		out->root = getenv("BERTH_ROOT") ? getenv("BERTH_ROOT") : "/var/lib/berth";
	return 0;
}

int daemon_stop_signalfd(bool nonblock)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
		return -1;
	signal(SIGPIPE, SIG_IGN);
	return signalfd(-1, &set, SFD_CLOEXEC | (nonblock ? SFD_NONBLOCK : 0));
}
