/* vm_state.h — a VM's local state file, <root>/vmengine/vms/<id>/vm.state: the source of
 * truth for vmengine (it wins over every other record). JSON, written atomically (tmp +
 * fsync + rename + directory fsync), so a reader, or a vmengine restarted after a crash,
 * sees the old state or the new one, never a mix. Times are wall-clock milliseconds so that
 * an escalation survives a vmengine restart. */
#ifndef VMENGINE_VM_STATE_H
#define VMENGINE_VM_STATE_H

#include "clock.h"
#include "states.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>


/* The states vm.state may hold: those vmengine writes, STARTING .. ERROR (states.h), and
 * MIGRATING while the VM takes part in a migration. */
#define VM_LOCAL_STATE_COUNT VM_CREATING

/* A vhost-user disk's connection as QEMU last reported it (query-chardev). */
enum vm_disk { VM_DISK_UNKNOWN, VM_DISK_DOWN, VM_DISK_UP };

/* How far a stop has been pushed. */
enum vm_escalation { ESC_NONE, ESC_POWERDOWN, ESC_QUIT, ESC_TERM, ESC_KILL, ESC_COUNT };

/* A VM's part in a live migration (docs/vmengine.md): the source (its QEMU sends) or the
 * destination (its QEMU, started with -incoming defer, receives). */
enum vm_mig_role { MIG_ROLE_NONE, MIG_ROLE_SOURCE, MIG_ROLE_DEST, MIG_ROLE_COUNT };

/* vm.state's "migration" object (absent: none). Persisted at every phase change, so a
 * restarted vmengine goes on, or fails the migration, within the same bounds. */
/* The convergence window (migrate_progress_timeout) slides by a step of 1/MIG_CONV_STEPS
 * of it (migration.c). */
#define MIG_CONV_STEPS 8

struct vm_migration {
	enum vm_mig_role role;
	enum vm_mig_phase phase;
	char peer[64];                  /* the source: the destination host */
	int64_t started_ms;             /* the migration's start (the request's, from the store) */
	int64_t since_ms;               /* the phase's */
	int64_t progress_ms;            /* the last time ram.transferred or ram.remaining moved */
	int64_t silent_since_ms;        /* the source's QEMU has not answered since (0: it does) */
	int64_t window_ms;              /* the convergence step's start, and the highest
					 * ram.remaining seen in it */
	uint64_t window_remaining;
	/* The last steps' starts and peaks, newest first (not persisted: after a restart the
	 * convergence window starts again; migrate_timeout still bounds it). */
	struct { int64_t at_ms; uint64_t peak; } steps[MIG_CONV_STEPS + 1];
	unsigned n_steps;
	uint64_t transferred, remaining;   /* their last values */
	int64_t downtime_ms, total_ms;  /* QEMU's, once completed (-1: not known) */
	char uri[160];                  /* the destination: where its QEMU listens */
	char error[160];                /* why it failed */
};

struct vm_state {
	unsigned id;
	char uuid[37];                  /* the VM it belongs to ("" in files from before) */
	enum vm_state_kind state;
	int pid;                        /* QEMU's, 0 when none */
	int64_t since_ms;               /* when state was entered */
	int64_t stopping_since_ms;      /* 0: not stopping */
	int64_t terminating_since_ms;   /* 0: not terminating */
	enum vm_escalation escalation;
	char reason[128];               /* why it last stopped or failed */
	uint64_t generation;            /* the spec generation last acted on */
	bool restart_pending;           /* relaunch once QEMU is gone (target restart) */
	bool held;                      /* stopped by the guest: no relaunch until the spec's
					 * generation changes */
	unsigned launches;
	enum vm_disk disk;              /* "disk_connected": true, false, null (unknown, or no
					 * vhost-user disk, or no QEMU) */
	int64_t disk_since_ms;          /* when disk last changed */
	struct vm_migration mig;        /* role MIG_ROLE_NONE: none; state is then not MIGRATING */
};

/* What a write of vm.state tells the store (desired_vms.h report()): only a refresh of the
 * VM's row, or also an event for operators — the state or escalation changed, or the disk's
 * connection did (disk_disconnected / disk_reconnected). */
enum vm_report_kind { VM_REPORT_REFRESH, VM_REPORT_STATE, VM_REPORT_DISK, VM_REPORT_MIGRATION };

const char *vm_mig_role_name(enum vm_mig_role r);

const char *vm_escalation_name(enum vm_escalation e);
/* Active: a QEMU may exist for it. */
bool vm_state_active(enum vm_state_kind k);

/* 0 or -errno. */
int vm_state_save(const char *path, const struct vm_state *s);
/* 0, -ENOENT, or -EINVAL with the reason in err (a corrupt file is reported, never guessed). */
int vm_state_load(const char *path, struct vm_state *s, char *err, size_t errlen);

#endif
