/* qemu_monitor.c — the typed QEMU monitor (see qemu_monitor.h): each command run over the QMP
 * client (common/qmp.c) within the caller's deadline, its reply turned into a type by
 * qemu_monitor_json.c, every failure logged once with the VM's id. */
#include "qemu_monitor.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "deadline_io.h"
#include "log.h"
#include "qemu_monitor_json.h"
#include "qmp.h"

struct qemu_monitor {
	struct qmp_client *qmp;
	unsigned vm_id;
};

/* What is left of deadline, at least QEMU_MONITOR_MIN_TIMEOUT_MS (QMP reads 0 as "the
 * default", never as "now"). */
static int timeout_of(int64_t deadline)
{
	int left = deadline_remaining_ms(deadline);
	return left > QEMU_MONITOR_MIN_TIMEOUT_MS ? left : QEMU_MONITOR_MIN_TIMEOUT_MS;
}

struct qemu_monitor *qemu_monitor_open(const char *path, unsigned vm_id, int64_t deadline,
				       int *err)
{
	int e = 0;
	struct qemu_monitor *mon = calloc(1, sizeof(*mon));
	if (!mon) {
		e = -ENOMEM;
	} else {
		mon->vm_id = vm_id;
		mon->qmp = qmp_connect(path, timeout_of(deadline), &e);
	}
	if (!mon || !mon->qmp) {
		log_warn("vmengine", "vm=%u msg=\"QMP unavailable\" error=\"%s\"", vm_id,
			 strerror(-e));
		free(mon);
		if (err)
			*err = e;
		return NULL;
	}
	return mon;
}

void qemu_monitor_close(struct qemu_monitor *mon)
{
	if (!mon)
		return;
	qmp_close(mon->qmp);
	free(mon);
}

bool qemu_monitor_connected(const struct qemu_monitor *mon)
{
	return mon && qmp_fd(mon->qmp) >= 0;
}

static void log_failure(const struct qemu_monitor *mon, const char *cmd, int rc,
			const char *detail)
{
	log_warn("vmengine", "vm=%u msg=\"QMP command failed\" command=%s error=\"%s\"%s%s",
		 mon->vm_id, cmd, strerror(-rc), detail[0] ? " detail=" : "", detail);
}

/* Runs cmd with args (stolen) within deadline; *ret (if not NULL) gets the return value. */
static int run(struct qemu_monitor *mon, const char *cmd, json_t *args, int64_t deadline,
	       json_t **ret)
{
	if (ret)
		*ret = NULL;
	if (!mon) {
		json_decref(args);
		return -ENOTCONN;
	}
	char desc[256] = "";
	int rc = qmp_execute(mon->qmp, cmd, args, timeout_of(deadline), ret, desc, sizeof(desc));
	if (rc < 0)
		log_failure(mon, cmd, rc, desc);
	return rc;
}

int qemu_monitor_query_status(struct qemu_monitor *mon, int64_t deadline,
			      enum qemu_run_state *state)
{
	*state = QEMU_RUN_STATE_UNKNOWN;
	json_t *ret;
	int rc = run(mon, "query-status", NULL, deadline, &ret);
	if (rc < 0)
		return rc;
	char err[128];
	rc = qemu_monitor_json_parse_status(ret, state, err, sizeof(err));
	if (rc < 0)
		log_failure(mon, "query-status", rc, err);
	json_decref(ret);
	return rc;
}

int qemu_monitor_cont(struct qemu_monitor *mon, int64_t deadline)
{
	return run(mon, "cont", NULL, deadline, NULL);
}

int qemu_monitor_system_powerdown(struct qemu_monitor *mon, int64_t deadline)
{
	return run(mon, "system_powerdown", NULL, deadline, NULL);
}

int qemu_monitor_quit(struct qemu_monitor *mon, int64_t deadline)
{
	return run(mon, "quit", NULL, deadline, NULL);
}

int qemu_monitor_migrate(struct qemu_monitor *mon, const char *uri, int64_t deadline)
{
	json_t *args = qemu_monitor_json_migrate_args(uri);
	if (!args)
		return uri && uri[0] ? -ENOMEM : -EINVAL;
	return run(mon, "migrate", args, deadline, NULL);
}

int qemu_monitor_query_migrate(struct qemu_monitor *mon, int64_t deadline,
			       enum qemu_migration_status *status)
{
	*status = QEMU_MIGRATION_UNKNOWN;
	json_t *ret;
	int rc = run(mon, "query-migrate", NULL, deadline, &ret);
	if (rc < 0)
		return rc;
	char err[128];
	rc = qemu_monitor_json_parse_migrate_info(ret, status, err, sizeof(err));
	if (rc < 0)
		log_failure(mon, "query-migrate", rc, err);
	json_decref(ret);
	return rc;
}

int qemu_monitor_query_migrate_info(struct qemu_monitor *mon, int64_t deadline,
				    struct qemu_migrate_info *info)
{
	*info = (struct qemu_migrate_info){ .status = QEMU_MIGRATION_UNKNOWN };
	json_t *ret;
	int rc = run(mon, "query-migrate", NULL, deadline, &ret);
	if (rc < 0)
		return rc;
	char err[128];
	rc = qemu_monitor_json_parse_migrate_full(ret, info, err, sizeof(err));
	if (rc < 0)
		log_failure(mon, "query-migrate", rc, err);
	json_decref(ret);
	return rc;
}

int qemu_monitor_migrate_set_capability(struct qemu_monitor *mon, const char *capability,
					bool on, int64_t deadline)
{
	json_t *args = qemu_monitor_json_capability_args(capability, on);
	if (!args)
		return capability && capability[0] ? -ENOMEM : -EINVAL;
	return run(mon, "migrate-set-capabilities", args, deadline, NULL);
}

int qemu_monitor_migrate_incoming(struct qemu_monitor *mon, const char *uri, int64_t deadline)
{
	json_t *args = qemu_monitor_json_migrate_args(uri);
	if (!args)
		return uri && uri[0] ? -ENOMEM : -EINVAL;
	return run(mon, "migrate-incoming", args, deadline, NULL);
}

int qemu_monitor_migrate_cancel(struct qemu_monitor *mon, int64_t deadline)
{
	return run(mon, "migrate_cancel", NULL, deadline, NULL);
}

int qemu_monitor_query_chardev(struct qemu_monitor *mon, const char *label, int64_t deadline,
			       struct qemu_chardev_info *info)
{
	*info = (struct qemu_chardev_info){ 0 };
	json_t *ret;
	int rc = run(mon, "query-chardev", NULL, deadline, &ret);
	if (rc < 0)
		return rc;
	char err[160];
	rc = qemu_monitor_json_parse_chardev(ret, label, info, err, sizeof(err));
	if (rc < 0)
		log_failure(mon, "query-chardev", rc, err);
	json_decref(ret);
	return rc;
}

int qemu_monitor_poll_events(struct qemu_monitor *mon, int64_t deadline)
{
	if (!mon)
		return -ENOTCONN;
	return qmp_poll_events(mon->qmp, deadline_remaining_ms(deadline));
}

bool qemu_monitor_next_event(struct qemu_monitor *mon, struct qemu_monitor_event *ev)
{
	json_t *obj;
	while (mon && (obj = qmp_next_event(mon->qmp))) {
		char err[128];
		int rc = qemu_monitor_json_parse_event(obj, ev, err, sizeof(err));
		json_decref(obj);
		if (rc == 0)
			return true;
		log_debug("vmengine", "vm=%u msg=\"QMP event skipped\" error=\"%s\"", mon->vm_id,
			  err);
	}
	return false;
}

const char *qemu_monitor_run_state_name(enum qemu_run_state state)
{
	return qemu_monitor_json_run_state_name(state);
}

const char *qemu_monitor_migration_status_name(enum qemu_migration_status status)
{
	return qemu_monitor_json_migration_status_name(status);
}
