/* target_restart.h — what happens when the storage target (blockd) exits, in one place for
 * both supervisors (`berth up`'s and systemd's, through `berth target-stopped`) and both
 * engines.
 *
 * The rule: after every exit of the target, both TARGET_RESTART markers are written
 * (<root>/vmengine/TARGET_RESTART, <root>/diskengine/TARGET_RESTART). Unless the exit was a
 * requested stop (`berth down`, `systemctl stop`), both engines are then restarted — once
 * the target is back — whatever the policy. Each engine consumes its own marker at start:
 * diskengine reconciles every export on the new target; vmengine applies
 * [vmengine] target_restart_policy (reconnect: the VMs ride through, their vhost-user disks
 * reconnect; restart-vms: every active VM is relaunched). A marker is removed only after what
 * it asks for is persisted, so a crash in between repeats the work, never loses it. */
#ifndef BERTH_TARGET_RESTART_H
#define BERTH_TARGET_RESTART_H

#include <stdbool.h>
#include <stddef.h>

enum target_restart_policy { TARGET_RESTART_RECONNECT, TARGET_RESTART_RESTART_VMS };

/* "reconnect", "restart-vms" */
const char *target_restart_policy_name(enum target_restart_policy p);
/* 0 or -EINVAL. */
int target_restart_policy_parse(const char *s, enum target_restart_policy *out);

enum target_restart_engine { TARGET_RESTART_VMENGINE, TARGET_RESTART_DISKENGINE };

/* Why the target exited. */
enum target_exit {
	TARGET_EXIT_CRASH,               /* died or exited on its own */
	TARGET_EXIT_RESTART_REQUESTED,   /* stopped to be restarted (SIGUSR1, systemctl restart) */
	TARGET_EXIT_STOP_REQUESTED,      /* berth down, systemctl stop, shutdown */
};

const char *target_exit_name(enum target_exit why);

/* Writes both markers (creating the engines' directories). 0 or -errno. */
int target_restart_write_markers(const char *root);

/* The target exited for why: writes both markers and returns whether both engines are to be
 * restarted now (every exit but a requested stop). Logs what it did. The caller restarts
 * them — after the target is back — even when writing a marker failed. */
bool target_restart_on_exit(const char *root, enum target_exit why);

/* At an engine's start: whether its marker is there. */
bool target_restart_pending(const char *root, enum target_restart_engine engine);
/* Removes the engine's marker, once what it asked for is persisted. true if one was there. */
bool target_restart_consume(const char *root, enum target_restart_engine engine);

/* The systemd path (`berth target-stopped`, run by ExecStopPost= of berth-blockd.service):
 * systemd's SERVICE_RESULT and whether a stop job is queued for the unit tell why the
 * target exited. A clean exit ("success") with a stop job queued is a requested stop; another
 * clean exit a requested restart; anything else a crash. */
enum target_exit target_exit_from_systemd(const char *service_result, bool stop_job_queued);

/* One line of `systemctl list-jobs --no-legend UNIT` ("JOB UNIT TYPE STATE"): whether it is
 * a stop job of unit. */
bool target_restart_is_stop_job(const char *line, const char *unit);

#endif
