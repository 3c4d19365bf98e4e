/* main.c — `berth`, the operator's command: global options, then one of the commands of
 * docs/berth.md. Tables for people, --json for scripts; every error is one line on stderr
 * and a non-zero exit status. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "berth_version.h"
#include "cli.h"
#include "log.h"

static const char g_usage[] =
	"usage: berth [--root DIR] [--json] COMMAND ...\n"
	"\n"
	"  init                       create the store of an empty root (up does it too)\n"
	"  up                         start blockd, diskengine, vmengine under a supervisor\n"
	"  down [--vms]               stop them (VMs keep running unless --vms)\n"
	"  status                     daemons and VM counts\n"
	"  vm create NAME [...]       create a VM (and its volume); see berth vm --help\n"
	"  vm list|show|start|stop|restart|terminate|console|wait ...\n"
	"  volume list [--all]        volumes and their exports\n"
	"  host list                  the fleet's hosts: capacity, use, UP or DOWN\n"
	"  store copy --from URL --to URL [--timeout S]   copy every row into an empty store\n"
	"  events [--vm VM] [--limit N]\n"
	"  rpc METHOD [JSON] [--timeout S]   call the storage target (SPDK's dialect)\n"
	"  qmp VM COMMAND [JSON]      call a VM's QEMU monitor\n"
	"  doctor [--fix] [--vm VM] [--bundle FILE]   check the host: what is wrong, the\n"
	"                             evidence, the recovery (docs/doctor.md)\n"
	"  completion bash            print a bash completion script\n"
	"  metrics                    the Prometheus exposition once ([metrics] listen\n"
	"                             serves it under berth up; docs/metrics.md)\n"
	"\n"
	"--root defaults to $BERTH_ROOT, else /var/lib/berth; configuration is\n"
	"<root>/berth.conf (docs/configuration.md).\n";

struct command {
	const char *name;
	int (*fn)(struct cli *c, int argc, char **argv);
};

static const struct command g_commands[] = {
	{ "init", cmd_init }, { "up", cmd_up }, { "down", cmd_down }, { "status", cmd_status }, { "vm", cmd_vm }, { "host", cmd_host },
	{ "store", cmd_store },
	{ "volume", cmd_volume }, { "events", cmd_events }, { "rpc", cmd_rpc },
	{ "qmp", cmd_qmp }, { "supervise", cmd_supervise },
	{ "target-stopped", cmd_target_stopped }, { "doctor", cmd_doctor },
	{ "completion", cmd_completion }, { "metrics", cmd_metrics },
	{ "serve-metrics", cmd_serve_metrics }, { NULL, NULL },
};

int main(int argc, char **argv)
{
	struct cli c = { .root = getenv("BERTH_ROOT") };
	umask(077);          /* the root, the store, logs and locks are nobody else's */
	/* Every failure is one line, cli_fail's: the library's lines (a QMP "no greeting" warn
	 * before "cannot reach QEMU's monitor") are for daemons' logs. supervise and
	 * target-stopped, which log, set their own level; BERTH_LOG_LEVEL still asks for them
	 * when debugging. */
	if (!getenv("BERTH_LOG_LEVEL"))
		log_set_level(LOG_OFF);
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--root") && i + 1 < argc) {
			c.root = argv[++i];
		} else if (!strcmp(argv[i], "--json")) {
			c.json = true;
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			fputs(g_usage, stdout);
			return 0;
		} else if (!strcmp(argv[i], "--version")) {
			printf("berth %s\n", BERTH_VERSION);
			return 0;
		} else {
			return cli_usage_error("unknown option '%s' (see berth --help)", argv[i]);
		}
	}
	if (i == argc) {
		fputs(g_usage, stderr);
		return 2;
	}
	if (!c.root || !c.root[0])
		c.root = "/var/lib/berth";
	char err[512];
	/* target-stopped writes markers after a crash whatever berth.conf says; completion
	 * (run at build time too) reads no root. */
	if (berth_conf_load(&c.conf, c.root, err, sizeof(err)) < 0 &&
	    strcmp(argv[i], "target-stopped") != 0 && strcmp(argv[i], "completion") != 0)
		return cli_fail("bad configuration: %s", err);
	store_set_timeout_ms((int)c.conf.store_timeout_ms);
	/* "berth vm list --json" works as well as "berth --json vm list". */
	for (int j = i; j < argc; j++) {
		if (!strcmp(argv[j], "--json")) {
			c.json = true;
			memmove(&argv[j], &argv[j + 1], (size_t)(argc - j) * sizeof(char *));
			argc--;
			j--;
		}
	}
	for (const struct command *cmd = g_commands; cmd->name; cmd++) {
		if (strcmp(cmd->name, argv[i]) != 0)
			continue;
		int rc = cmd->fn(&c, argc - i, argv + i);
		store_close(c.store);
		return rc;
	}
	return cli_usage_error("unknown command '%s' (see berth --help)", argv[i]);
}
