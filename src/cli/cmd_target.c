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
 * waits for this command; waiting here would deadlock. $BERTH_SYSTEMCTL replaces
 * /bin/systemctl (the tests use it). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "deadline_io.h"
#include "log.h"
#include "target_restart.h"

#define UNIT "berth-blockd.service"
#define SYSTEMCTL_TIMEOUT_MS 10000

/* Runs systemctl with args; its stdout (up to len - 1 bytes) in out when out is not NULL.
 * Its exit status, or -1 when it could not run or did not finish in time (then killed). */
static int systemctl(const char *const *args, char *out, size_t len)
{
	const char *bin = getenv("BERTH_SYSTEMCTL");
	const char *argv[8] = { bin && bin[0] ? bin : "/bin/systemctl" };
	for (int i = 0; args[i] && i < 6; i++)
		argv[i + 1] = args[i];
	int pipefd[2];
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		dup2(pipefd[1], STDOUT_FILENO);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(pipefd[1]);
	size_t used = 0;
	int64_t deadline = deadline_after_ms(SYSTEMCTL_TIMEOUT_MS);
	struct pollfd pfd = { .fd = pipefd[0], .events = POLLIN };
	while (pid > 0 && poll(&pfd, 1, deadline_remaining_ms(deadline)) > 0) {
		char buf[512];
		ssize_t n = read(pipefd[0], buf, sizeof(buf));
		if (n <= 0)
			break;
		size_t take = out && used + 1 < len ? len - 1 - used : 0;
		take = take < (size_t)n ? take : (size_t)n;
		if (take)
			memcpy(out + used, buf, take);
		used += take;
	}
	close(pipefd[0]);
	if (out && len)
		out[used] = '\0';
	if (pid < 0)
		return -1;
	int status;
	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (deadline_remaining_ms(deadline) == 0) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -1;
		}
		struct timespec ts = { 0, 10 * 1000000L };
		nanosleep(&ts, NULL);
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static bool stop_job_queued(void)
{
	static const char *const args[] = { "list-jobs", "--no-legend", UNIT, NULL };
	char jobs[8192];
	if (systemctl(args, jobs, sizeof(jobs)) != 0)
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
	if (systemctl(restart, NULL, 0) != 0)
		log_warn("target-stopped", "msg=\"could not restart the engines; they take the "
			 "markers at their next start\"");
	return 0;
}
