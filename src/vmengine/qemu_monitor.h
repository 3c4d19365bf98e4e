/* qemu_monitor.h — the typed QEMU monitor API vmengine's lifecycle policy uses (vm_worker.c):
 * connect/close, query-status as an enum, cont, system_powerdown, quit, query-chardev (a
 * vhost-user disk's connection), events as structs, and
 * the migration commands. The policy never sees a QMP command string or a JSON reply.
 *
 * Layers: qemu_monitor.c runs the commands over the generic QMP client (common/qmp.c) and
 * hands replies and events to qemu_monitor_json.c, which builds arguments and parses replies
 * into the types below (pure functions). Calls only go that way: monitor -> json, monitor ->
 * qmp; never back.
 *
 * Deadlines: every call takes an absolute CLOCK_MONOTONIC deadline in milliseconds
 * (deadline_after_ms). A call never outlives it by more than QEMU_MONITOR_MIN_TIMEOUT_MS: a
 * deadline that is (nearly) over still gets that much, so the floor is part of what a caller
 * reserves for a step. A monitor that never answers costs the caller its deadline, no more.
 *
 * Errors: a negative errno. -EREMOTEIO: QEMU answered with an error (connection kept).
 * -EBADMSG: QEMU answered, but not with what the command returns (connection kept; the reply
 * is logged). -ENOENT from query-chardev: no such chardev (connection kept). Anything else
 * from a command (-ETIMEDOUT, -ECONNRESET, -EPROTO, ...) means the connection is gone:
 * qemu_monitor_connected() turns false, and the caller closes the monitor and opens a new one
 * when it needs QEMU again. Failures are logged (component "vmengine",
 * with the VM's id), so callers need not.
 *
 * One monitor belongs to one thread at a time. */
#ifndef VMENGINE_QEMU_MONITOR_H
#define VMENGINE_QEMU_MONITOR_H

#include <stdbool.h>
#include <stdint.h>

/* The least time a call is given, whatever is left of its deadline (QMP takes a timeout of 0
 * to mean "the default", so there must be a floor). */
#define QEMU_MONITOR_MIN_TIMEOUT_MS 100

/* QEMU's RunState (qapi/run-state.json), as query-status reports it. */
enum qemu_run_state {
	QEMU_RUN_STATE_UNKNOWN = 0,      /* a string this build does not know */
	QEMU_RUN_STATE_DEBUG,
	QEMU_RUN_STATE_INMIGRATE,
	QEMU_RUN_STATE_INTERNAL_ERROR,
	QEMU_RUN_STATE_IO_ERROR,
	QEMU_RUN_STATE_PAUSED,
	QEMU_RUN_STATE_POSTMIGRATE,
	QEMU_RUN_STATE_PRELAUNCH,
	QEMU_RUN_STATE_FINISH_MIGRATE,
	QEMU_RUN_STATE_RESTORE_VM,
	QEMU_RUN_STATE_RUNNING,
	QEMU_RUN_STATE_SAVE_VM,
	QEMU_RUN_STATE_SHUTDOWN,
	QEMU_RUN_STATE_SUSPENDED,
	QEMU_RUN_STATE_WATCHDOG,
	QEMU_RUN_STATE_GUEST_PANICKED,
	QEMU_RUN_STATE_COLO,
	QEMU_RUN_STATE_PRECONFIG,        /* QEMU 3.0 to 5.1 */
	QEMU_RUN_STATE__MAX
};

/* QEMU's MigrationStatus, as query-migrate and the MIGRATION event report it. */
enum qemu_migration_status {
	QEMU_MIGRATION_UNKNOWN = 0,
	QEMU_MIGRATION_NONE,
	QEMU_MIGRATION_SETUP,
	QEMU_MIGRATION_CANCELLING,
	QEMU_MIGRATION_CANCELLED,
	QEMU_MIGRATION_ACTIVE,
	QEMU_MIGRATION_POSTCOPY_ACTIVE,
	QEMU_MIGRATION_POSTCOPY_PAUSED,
	QEMU_MIGRATION_POSTCOPY_RECOVER,
	QEMU_MIGRATION_COMPLETED,
	QEMU_MIGRATION_FAILED,
	QEMU_MIGRATION_COLO,
	QEMU_MIGRATION_PRE_SWITCHOVER,
	QEMU_MIGRATION_DEVICE,
	QEMU_MIGRATION_WAIT_UNPLUG,
	QEMU_MIGRATION__MAX
};

enum qemu_monitor_event_kind {
	QEMU_EVENT_OTHER = 0,            /* any event not listed here: only its name is set */
	QEMU_EVENT_SHUTDOWN,
	QEMU_EVENT_GUEST_PANICKED,
	QEMU_EVENT_STOP,
	QEMU_EVENT_RESUME,
	QEMU_EVENT_MIGRATION,
};

#define QEMU_EVENT_NAME_MAX 64
#define QEMU_SHUTDOWN_REASON_MAX 64

struct qemu_monitor_event {
	enum qemu_monitor_event_kind kind;
	char name[QEMU_EVENT_NAME_MAX];  /* as QEMU sent it ("SHUTDOWN", ...), for logs */
	/* SHUTDOWN: data.reason ("guest-shutdown", "host-qmp-quit", "guest-panic", ...; "" when
	 * absent) and data.guest (true when the guest asked for it). */
	char shutdown_reason[QEMU_SHUTDOWN_REASON_MAX];
	bool shutdown_guest;
	/* MIGRATION: data.status. */
	enum qemu_migration_status migration_status;
};

/* query-migrate's answer: the status, RAM progress and timings, and what blocks a migration.
 * Numbers QEMU did not send are 0 (has_ram false without a "ram" member). */
struct qemu_migrate_info {
	enum qemu_migration_status status;
	bool has_ram;
	uint64_t ram_transferred, ram_remaining, ram_total;   /* bytes */
	int64_t total_time_ms, downtime_ms, setup_time_ms;    /* -1: not reported */
	char blocked[256];               /* "blocked-reasons" joined by "; " ("": none) */
	char error[256];                 /* "error-desc" */
};

/* One character device as query-chardev reports it. */
struct qemu_chardev_info {
	bool connected;                  /* a socket chardev has its peer */
	bool frontend_open;              /* QEMU's "frontend-open" */
};

struct qemu_monitor;

/* Connects to the QMP socket at path and negotiates, before deadline. vm_id only names the VM
 * in logs. Returns the monitor, or NULL with *err (if not NULL) a negative errno (-ENOENT,
 * -ECONNREFUSED: nothing listening; -ETIMEDOUT; ...); the failure is logged. */
struct qemu_monitor *qemu_monitor_open(const char *path, unsigned vm_id, int64_t deadline,
				       int *err);
/* Closes the connection and frees mon (queued events are dropped). NULL is a no-op. */
void qemu_monitor_close(struct qemu_monitor *mon);
/* False once a failure closed the connection (see Errors above). */
bool qemu_monitor_connected(const struct qemu_monitor *mon);

/* query-status: *state is QEMU's run state (QEMU_RUN_STATE_UNKNOWN for a state this build
 * does not know). */
int qemu_monitor_query_status(struct qemu_monitor *mon, int64_t deadline,
			      enum qemu_run_state *state);
/* cont: lets a paused (or -S) guest run. */
int qemu_monitor_cont(struct qemu_monitor *mon, int64_t deadline);
/* system_powerdown: the ACPI power button; the guest decides. */
int qemu_monitor_system_powerdown(struct qemu_monitor *mon, int64_t deadline);
/* quit: QEMU exits. -ECONNRESET also means "sent": QEMU may close before it answers; either
 * way the caller confirms with the process itself. */
int qemu_monitor_quit(struct qemu_monitor *mon, int64_t deadline);
/* migrate to uri ("unix:/path", "tcp:host:port", ...): starts an outgoing migration and
 * returns; its progress is query-migrate's and the MIGRATION events'. */
int qemu_monitor_migrate(struct qemu_monitor *mon, const char *uri, int64_t deadline);
/* query-migrate: the status of the last migration (QEMU_MIGRATION_NONE when there was none). */
int qemu_monitor_query_migrate(struct qemu_monitor *mon, int64_t deadline,
			       enum qemu_migration_status *status);
/* query-migrate in full (struct qemu_migrate_info). */
int qemu_monitor_query_migrate_info(struct qemu_monitor *mon, int64_t deadline,
				    struct qemu_migrate_info *info);
/* migrate-set-capabilities with one capability (e.g. "events") on or off. */
int qemu_monitor_migrate_set_capability(struct qemu_monitor *mon, const char *capability,
					bool on, int64_t deadline);
/* migrate-incoming uri: a QEMU started with -incoming defer listens there. */
int qemu_monitor_migrate_incoming(struct qemu_monitor *mon, const char *uri, int64_t deadline);
/* migrate_cancel: asks the outgoing migration to stop (query-migrate tells when it has). */
int qemu_monitor_migrate_cancel(struct qemu_monitor *mon, int64_t deadline);

/* query-chardev, for the character device `label` (e.g. a vhost-user disk's "disk0").
 * -ENOENT (connection kept) when QEMU has no such chardev. */
int qemu_monitor_query_chardev(struct qemu_monitor *mon, const char *label, int64_t deadline,
			       struct qemu_chardev_info *info);

/* Reads the events QEMU sent into the monitor's queue, waiting at most until deadline for the
 * first one (a deadline of 0, or one that passed: only what is readable now, never waits).
 * Commands queue the events that arrive while they wait, too. Returns the number of queued
 * events, or a negative errno when the connection is gone. */
int qemu_monitor_poll_events(struct qemu_monitor *mon, int64_t deadline);
/* Pops the oldest queued event into *ev: true, or false when the queue is empty. An event
 * that does not name itself is logged and skipped. */
bool qemu_monitor_next_event(struct qemu_monitor *mon, struct qemu_monitor_event *ev);

/* QEMU's own spelling of a run state / migration status ("running", "guest-panicked", ...;
 * "unknown" for the UNKNOWN values and anything out of range). */
const char *qemu_monitor_run_state_name(enum qemu_run_state state);
const char *qemu_monitor_migration_status_name(enum qemu_migration_status status);

#endif
