/* cmd_target.c — `berth target-stopped`: what systemd runs after blockd exits
 * (ExecStopPost= of berth-blockd.service). The rule is target_restart.h's, the same the
 * supervisor of `berth up` applies: both TARGET_RESTART markers, then — unless blockd is
 * being stopped on purpose — a restart of both engines.
 *
 * systemd exports SERVICE_RESULT, EXIT_CODE and EXIT_STATUS to ExecStopPost=. A result other
 * than "success" is a crash. A clean exit (blockd exits 0 on SIGTERM) is a requested stop
 * when a stop job is queued for the unit (`systemctl stop`, shutdown), else a requested
 * restart (`systemctl restart`, diskengine's restart_target_command) — also when systemd
 * cannot be asked: recovery is the safer mistake. The restart is queued with --no-block: the
 * engines are ordered after blockd, so their jobs wait for blockd's own restart job, which
 * waits for this command; waiting here would deadlock. systemctl.h runs systemctl. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "log.h"
#include "systemctl.h"
#include "target_restart.h"

#define UNIT "berth-blockd.service"
#define SYSTEMCTL_TIMEOUT_MS 10000

static bool stop_job_queued(void)
{
	static const char *const args[] = { "list-jobs", "--no-legend", UNIT, NULL };
	char jobs[8192];
	if (systemctl(args, SYSTEMCTL_TIMEOUT_MS, jobs, sizeof(jobs)) != 0)
		return false;
	for (char *line = strtok(jobs, "\n"); line; line = strtok(NULL, "\n"))
		if (target_restart_is_stop_job(line, UNIT))
			return true;
	return false;
}

int cmd_target_stopped(struct cli *c, int argc, char **argv)
{
	(void)argv;
	if (argc != 1)
		return cli_usage("berth target-stopped   (run by berth-blockd.service's "
				 "ExecStopPost=)");
	log_set_level(LOG_INFO);
	const char *result = getenv("SERVICE_RESULT");
	bool clean = result && !strcmp(result, "success");
	enum target_exit why = target_exit_from_systemd(result, clean && stop_job_queued());
	log_info("target-stopped", "unit=%s result=%s exit=%s/%s", UNIT, result ? result : "?",
		 getenv("EXIT_CODE") ? getenv("EXIT_CODE") : "?",
		 getenv("EXIT_STATUS") ? getenv("EXIT_STATUS") : "?");
	if (!target_restart_on_exit(c->root, why))
		return 0;
	static const char *const restart[] = { "restart", "--no-block", "berth-vmengine.service",
					       "berth-diskengine.service", NULL };
	if (systemctl(restart, SYSTEMCTL_TIMEOUT_MS, NULL, 0) != 0)
		log_warn("target-stopped", "msg=\"could not restart the engines; they take the "
			 "markers at their next start\"");
	return 0;
}
