/* target_restart.c — target exits, markers and the restart policy (see target_restart.h).
 * Owns the rule "Target crash and markers" of docs/architecture.md (bug class 3).
 */
#include "target_restart.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"
#include "paths.h"

/* In enum order. */
static const char *const g_policies[] = { "reconnect", "restart-vms", NULL };
static const char *const g_exits[] = { "crash", "restart-requested", "stop-requested" };

const char *target_restart_policy_name(enum target_restart_policy p)
{
	return g_policies[p];
}

int target_restart_policy_parse(const char *s, enum target_restart_policy *out)
{
	int i;
	if (conf_parse_choice(s, g_policies, &i) < 0)
		return -EINVAL;
	*out = (enum target_restart_policy)i;
	return 0;
}

const char *target_exit_name(enum target_exit why)
{
	return g_exits[why];
}

static int marker_path(char *out, size_t len, const char *root, enum target_restart_engine e)
{
	return e == TARGET_RESTART_VMENGINE ? paths_vmengine_marker(out, len, root)
					    : paths_diskengine_marker(out, len, root);
}

static int write_marker(const char *root, enum target_restart_engine e)
{
	char dir[BERTH_PATH_LEN], path[BERTH_PATH_LEN];
	int rc = e == TARGET_RESTART_VMENGINE ? paths_vmengine_dir(dir, sizeof(dir), root)
					      : paths_diskengine_dir(dir, sizeof(dir), root);
	if (rc < 0 || (rc = marker_path(path, sizeof(path), root, e)) < 0)
		return rc;
	mkdir(root, 0755);
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return -errno;
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

int target_restart_write_markers(const char *root)
{
	int rc = write_marker(root, TARGET_RESTART_DISKENGINE);
	int rc2 = write_marker(root, TARGET_RESTART_VMENGINE);
	return rc < 0 ? rc : rc2;
}

bool target_restart_on_exit(const char *root, enum target_exit why)
{
	int rc = target_restart_write_markers(root);
	bool restart = why != TARGET_EXIT_STOP_REQUESTED;
	if (rc < 0)
		log_error("target-restart", "msg=\"cannot write the TARGET_RESTART markers\" "
			  "error=\"%s\" exit=%s", strerror(-rc), target_exit_name(why));
	else
		log_info("target-restart", "msg=\"target exited: TARGET_RESTART markers written\" "
			 "exit=%s engines=%s", target_exit_name(why),
			 restart ? "restart" : "left-alone");
	return restart;
}

bool target_restart_pending(const char *root, enum target_restart_engine engine)
{
	char path[BERTH_PATH_LEN];
	return marker_path(path, sizeof(path), root, engine) == 0 && access(path, F_OK) == 0;
}

bool target_restart_consume(const char *root, enum target_restart_engine engine)
{
	char path[BERTH_PATH_LEN];
	return marker_path(path, sizeof(path), root, engine) == 0 && unlink(path) == 0;
}

enum target_exit target_exit_from_systemd(const char *service_result, bool stop_job_queued)
{
	if (!service_result || strcmp(service_result, "success") != 0)
		return TARGET_EXIT_CRASH;
	return stop_job_queued ? TARGET_EXIT_STOP_REQUESTED : TARGET_EXIT_RESTART_REQUESTED;
}

bool target_restart_is_stop_job(const char *line, const char *unit)
{
	char job[32], u[256], type[32];
	return sscanf(line, "%31s %255s %31s", job, u, type) == 3 && !strcmp(u, unit) &&
	       !strcmp(type, "stop");
}
