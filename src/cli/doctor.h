/* doctor.h — `berth doctor`: the operator's debug playbook as a command (docs/doctor.md).
 * Every check runs against one host root and produces one result: a stable id, a level, a
 * one-line summary and, for WARN/FAIL, the evidence (JSON), the recovery and the bug class
 * of docs/architecture.md it belongs to. Doctor observes rules; it owns none.
 *
 * Files: doctor.c (the command: options, order, exit status), doctor_report.c (results,
 * text and JSON output), doctor_classify.c (pure judgements of blockd samples),
 * doctor_probe.c (every probe, each with its own deadline: target RPC, QMP, the store in a
 * child process, /proc), doctor_checks_host.c and doctor_checks_target.c (the checks),
 * doctor_fix.c (--fix), doctor_bundle.c (--bundle). */
#ifndef BERTH_DOCTOR_H
#define BERTH_DOCTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "cli.h"
#include "config.h"

/* Each probe's own deadline: the whole run stays well under 5 s. */
#define DOCTOR_RPC_TIMEOUT_MS 1000
#define DOCTOR_QMP_TIMEOUT_MS 500
#define DOCTOR_STORE_TIMEOUT_MS 1000
#define DOCTOR_SAMPLE_INTERVAL_MS 300

/* Thresholds (docs/doctor.md). */
#define DOCTOR_BUSY_PCT 90           /* a reactor this busy over the sample is pinned */
#define DOCTOR_IDLE_PCT 50           /* ... while another thread is below this */
#define DOCTOR_HUNG_RPC_MS 3000      /* a request in flight this long is hung */
#define DOCTOR_SLOW_IO_MS 100        /* mean latency of a bdev's IO over the sample */
#define DOCTOR_STOP_SLACK_MS 5000    /* past the escalation's last step */
#define DOCTOR_SETTLE_MS 10000       /* store / vm.state / markers: older than this */
#define DOCTOR_CRASH_RECENT_MS (15 * 60 * 1000)

enum doctor_level { DOCTOR_PASS, DOCTOR_INFO, DOCTOR_SKIP, DOCTOR_WARN, DOCTOR_FAIL };

/* What --fix may do for a check (doctor_fix.c). */
enum doctor_fix {
	FIX_NONE,
	FIX_RESTART_TARGET,      /* SIGUSR1 to the supervisor */
	FIX_ESCALATE,            /* the stop's next step, to the VM's own QEMU only */
	FIX_RESYNC_STORE,        /* the store's row from vm.state */
	FIX_REMOVE_MARKERS,      /* stale TARGET_RESTART markers */
};

struct doctor_check {
	char id[40];
	enum doctor_level level;
	char summary[320];
	json_t *evidence;            /* object; owned */
	char recovery[320];
	int bug_class;               /* 1..5 of docs/architecture.md, 0: none */
	enum doctor_fix fix;
};

#define DOCTOR_MAX_CHECKS 96

struct doctor_report {
	struct doctor_check checks[DOCTOR_MAX_CHECKS];
	size_t n;
};

/* What the checks share: the root, its configuration, and what the probes saw. */
struct doctor_ctx {
	struct cli *cli;
	struct target_endpoints target;
	int64_t vm_filter;           /* --vm: only this VM's checks (0: all) */
	struct vmengine_config vcfg; /* [vmengine]: the escalation's schedule */
	json_t *supervisor;          /* run/supervisor.json, or NULL */
	pid_t supervisor_pid;        /* 0: berth is not up */
	json_t *store;               /* {vms: [...], volumes: [...]}, or NULL */
	char store_error[160];
	bool target_answers;         /* spdk_get_version answered */
	json_t *controllers;         /* vhost_get_controllers, or NULL */
};

/* ---- doctor_report.c */
const char *doctor_level_name(enum doctor_level l);
/* Adds a result (evidence stolen, may be NULL). Returns it (for the fix kind). */
struct doctor_check *doctor_add(struct doctor_report *r, const char *id, enum doctor_level level,
				int bug_class, json_t *evidence, const char *recovery,
				const char *fmt, ...) __attribute__((format(printf, 7, 8)));
enum doctor_level doctor_worst(const struct doctor_report *r);
/* 0 all pass, 1 a WARN, 2 a FAIL. */
int doctor_exit_status(const struct doctor_report *r);
/* PASS (INFO and SKIP included), WARN or FAIL. */
const char *doctor_status_name(const struct doctor_report *r);
json_t *doctor_check_json(const struct doctor_check *c);
json_t *doctor_report_json(const struct doctor_report *r, const char *root, int64_t elapsed_ms);
void doctor_report_print(const struct doctor_report *r, FILE *out);
void doctor_report_free(struct doctor_report *r);

/* ---- doctor_classify.c: pure, on blockd's answers taken interval_ms apart */
/* framework_get_reactors a, b: reactor-busy. */
void doctor_classify_reactors(struct doctor_report *r, const json_t *a, const json_t *b);
/* thread_get_pollers a, b (and the reactors' samples): poller-pinned. */
void doctor_classify_pollers(struct doctor_report *r, const json_t *pa, const json_t *pb,
			     const json_t *ra, const json_t *rb);
/* blockd_get_requests: rpc-hung. */
void doctor_classify_requests(struct doctor_report *r, const json_t *requests);
/* bdev_get_iostat a, b and the reactors' samples: bdev-saturated. */
void doctor_classify_iostat(struct doctor_report *r, const json_t *ia, const json_t *ib,
			    const json_t *ra, const json_t *rb);
/* busy share (0..100) of thread i between two framework_get_reactors samples, -1 if absent. */
int doctor_busy_pct(const json_t *a, const json_t *b, size_t i);
/* The last line of text containing needle, into out (truncated to len): 0 or -ENOENT. */
int doctor_last_line_with(const char *text, const char *needle, char *out, size_t len);

/* ---- doctor_probe.c */
/* A call to the target with its own deadline. 0 with *res, or -errno (err describes it). */
int doctor_rpc(const struct doctor_ctx *x, const char *method, json_t *params, int timeout_ms,
	       json_t **res, char *err, size_t errlen);
/* The store's VMs and volumes of this host, read by a child process killed at the deadline:
 * NULL with err ("no answer within 1000 ms", or the store's error). */
json_t *doctor_store_snapshot(struct cli *c, int timeout_ms, char *err, size_t errlen);
/* Runs fn(store, arg) in a child process with a deadline. 0, or -ETIMEDOUT / -EIO. */
int doctor_store_do(struct cli *c, int timeout_ms, int (*fn)(struct store *s, void *arg),
		    void *arg);
/* The VM's QEMU answers query-status on its operator monitor within timeout_ms: 0 with
 * status ("running", ...), or -errno. */
int doctor_qmp_status(const char *root, unsigned vm, int timeout_ms, char *status, size_t len);
/* pid is alive and is VM vm's QEMU: its command line has "-name vm<vm>," and this root's
 * pidfile names it. */
bool doctor_pid_is_vm_qemu(const char *root, unsigned vm, int pid);
/* pid is alive (not a zombie). */
bool doctor_pid_alive(int pid);
/* The process's state letter of /proc/<pid>/stat (R, S, D, T, t, Z ...), '?' when gone. */
char doctor_pid_state(int pid);
/* The process's comm ("berth", "diskengine"), or "?" */
void doctor_pid_comm(int pid, char *out, size_t len);
/* A JSON file, or NULL. */
json_t *doctor_read_json(const char *path);
/* mtime in wall ms, or 0 when missing. */
int64_t doctor_mtime_ms(const char *path);
/* The last line of path's last DOCTOR_LOG_TAIL bytes that contains needle (truncated to
 * len): 0, -ENOENT when none does, or -errno. */
#define DOCTOR_LOG_TAIL (256 * 1024)
int doctor_log_last_line(const char *path, const char *needle, char *out, size_t len);

/* ---- the checks (append to r) */
void doctor_check_daemons(struct doctor_ctx *x, struct doctor_report *r);
void doctor_check_store(struct doctor_ctx *x, struct doctor_report *r);
void doctor_check_vm_stops(struct doctor_ctx *x, struct doctor_report *r);
void doctor_check_store_vmstate(struct doctor_ctx *x, struct doctor_report *r);
void doctor_check_markers(struct doctor_ctx *x, struct doctor_report *r);
void doctor_check_migration(struct doctor_ctx *x, struct doctor_report *r);
void doctor_check_target(struct doctor_ctx *x, struct doctor_report *r);
void doctor_check_exports(struct doctor_ctx *x, struct doctor_report *r);

/* ---- doctor_fix.c: performs the safe fixes the report asks for; appends what it did
 * to done (array of {fix, check, ...}). */
void doctor_fix(struct doctor_ctx *x, const struct doctor_report *r, json_t *done);

/* ---- doctor_bundle.c: 0 or a cli_fail exit code. */
int doctor_bundle(struct doctor_ctx *x, const struct doctor_report *r, const char *file);

#endif
