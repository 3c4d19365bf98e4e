/* store_sqlite.c — the SQLite back end of the store (store_backend.h): one database file,
 * WAL journal, a busy timeout so that a writer in another process never blocks a caller
 * for longer than that, and the numbered schema migrations (store_migrations.c) applied in
 * one transaction each on open. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <sqlite3.h>

#include "deadline_io.h"
#include "array.h"
#include "clock.h"
#include "store_backend.h"
#include "store_sqlite_util.h"
#include "store_migrations.h"

#define BUSY_TIMEOUT_MS 5000

/* ---------------------------------------------------------------- open */

#define N_MIGRATIONS store_n_migrations

/* How many migrations schema_migrations records (0 when it does not exist yet); a store
 * whose schema is newer than this binary's migrations is refused. */
static int count_applied(struct store *s, int64_t *applied)
{
	sqlite3_stmt *st;
	*applied = 0;
	if (sqlite3_prepare_v2(sq_db(s), "SELECT count(*) FILTER (WHERE version BETWEEN 1 AND ?),"
				       " coalesce(max(version), 0) FROM schema_migrations", -1, &st,
			       NULL) != SQLITE_OK)
		return 0;                       /* no table: nothing applied */
	sqlite3_bind_int64(st, 1, (sqlite3_int64)N_MIGRATIONS);
	int step = sqlite3_step(st);
	int64_t newest = 0;
	if (step == SQLITE_ROW) {
		*applied = sqlite3_column_int64(st, 0);
		newest = sqlite3_column_int64(st, 1);
	}
	int rc = step == SQLITE_ROW ? 0 : sq_sql_fail(s, "read schema_migrations");
	sqlite3_finalize(st);
	if (rc == 0 && newest > (int64_t)N_MIGRATIONS)
		rc = store_fail(s, -EPROTO, "the store's schema is version %lld, newer than this "
				"berth's (%zu): upgrade berth", (long long)newest, N_MIGRATIONS);
	return rc;
}

/* Migration n (1-based), unless it is applied already; the caller holds the write lock
 * (BEGIN IMMEDIATE), so no other process can apply it between the check and here. */
static int apply_migration(struct store *s, size_t n)
{
	sqlite3_stmt *st;
	int rc = sq_prepare(s, "SELECT 1 FROM schema_migrations WHERE version = ?", &st);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)n);
	int step = sqlite3_step(st);
	sqlite3_finalize(st);
	if (step == SQLITE_ROW)
		return 0;
	if (step != SQLITE_DONE)
		return sq_sql_fail(s, "read schema_migrations");
	if ((rc = sq_exec(s, store_migrations[n - 1].sqlite)))
		return rc;
	char sql[128];
	snprintf(sql, sizeof(sql), "INSERT INTO schema_migrations VALUES (%zu, %lld)", n,
		 (long long)wall_ms());
	return sq_exec(s, sql);
}

/* Each migration in its own transaction: take the write lock first, then check, apply and
 * record it, so two processes opening a fresh store at once never both apply one. */
static int migrate(struct store *s)
{
	int64_t applied;
	int rc = count_applied(s, &applied);
	if (rc || applied == (int64_t)N_MIGRATIONS)
		return rc;                      /* the usual case: no write lock needed */
	for (size_t n = 1; rc == 0 && n <= N_MIGRATIONS; n++) {
		if ((rc = sq_exec(s, "BEGIN IMMEDIATE")))
			return rc;
		rc = sq_exec(s, "CREATE TABLE IF NOT EXISTS schema_migrations ("
			     "version INTEGER PRIMARY KEY, applied_ms INTEGER NOT NULL)");
		if (rc == 0)
			rc = apply_migration(s, n);
		if (rc == 0)
			rc = sq_exec(s, "COMMIT");
		if (rc < 0) {
			char saved[sizeof(s->error)];
			memcpy(saved, s->error, sizeof(saved));
			sq_exec(s, "ROLLBACK");
			memcpy(s->error, saved, sizeof(saved));
		}
	}
	return rc;
}

/* Switching a new database to WAL takes an exclusive lock, and SQLite answers SQLITE_BUSY
 * at once (without the busy handler) while another connection holds one: retry for up to
 * the busy timeout. */
static int set_wal(struct store *s)
{
	int64_t deadline = deadline_after_ms(BUSY_TIMEOUT_MS);
	for (;;) {
		int rc = sq_exec(s, "PRAGMA journal_mode=WAL");
		if (rc != -EBUSY || deadline_remaining_ms(deadline) == 0)
			return rc;
		struct timespec ts = { 0, 5 * 1000000L };
		nanosleep(&ts, NULL);
	}
}

static int sq_open(struct store *s, const char *path, bool create)
{
	sqlite3 *db = NULL;
	struct stat st;
	if (!create && stat(path, &st) < 0 && errno == ENOENT)
		return store_fail(s, -ENOENT, "%s: no store there", path);
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX |
					       (create ? SQLITE_OPEN_CREATE : 0), NULL) != SQLITE_OK) {
		int rc = store_fail(s, -EIO, "%s: %s", path, db ? sqlite3_errmsg(db) : "cannot open");
		sqlite3_close(db);
		return rc;
	}
	s->impl = db;
	sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
	int rc = set_wal(s);
	if (rc == 0)
		rc = sq_exec(s, "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON");
	if (rc == 0)
		rc = migrate(s);
	if (rc < 0) {
		char msg[sizeof(s->error)];
		snprintf(msg, sizeof(msg), "%s", s->error);
		store_fail(s, rc, "%s: %.400s", path, msg);
		sqlite3_close(db);
		s->impl = NULL;
	}
	return rc;
}

static void sq_close(struct store *s)
{
	sqlite3_close(sq_db(s));
	s->impl = NULL;
}

/* ---------------------------------------------------------------- VMs */

#define VM_COLUMNS "id, name, uuid, host, desired, state, vcpus, memory_mb, image, kernel, " \
		   "initrd, append, on_crash, volume_id, generation, reason, pid, created_ms, " \
		   "updated_ms, state_since_ms, disk, disk_since_ms, migrate_to, mig_phase, " \
		   "mig_started_ms, mig_since_ms, mig_uri, mig_info, mig_error"

static void read_vm(sqlite3_stmt *st, struct store_vm *v)
{
	memset(v, 0, sizeof(*v));
	v->id = sqlite3_column_int64(st, 0);
	sq_copy_text(v->name, sizeof(v->name), st, 1);
	sq_copy_text(v->uuid, sizeof(v->uuid), st, 2);
	sq_copy_text(v->host, sizeof(v->host), st, 3);
	sq_copy_text(v->desired, sizeof(v->desired), st, 4);
	sq_copy_text(v->state, sizeof(v->state), st, 5);
	v->vcpus = (unsigned)sqlite3_column_int(st, 6);
	v->memory_mb = (unsigned)sqlite3_column_int(st, 7);
	sq_copy_text(v->image, sizeof(v->image), st, 8);
	sq_copy_text(v->kernel, sizeof(v->kernel), st, 9);
	sq_copy_text(v->initrd, sizeof(v->initrd), st, 10);
	sq_copy_text(v->append, sizeof(v->append), st, 11);
	sq_copy_text(v->on_crash, sizeof(v->on_crash), st, 12);
	v->volume_id = sqlite3_column_int64(st, 13);
	v->generation = (uint64_t)sqlite3_column_int64(st, 14);
	sq_copy_text(v->reason, sizeof(v->reason), st, 15);
	v->pid = sqlite3_column_int(st, 16);
	v->created_ms = sqlite3_column_int64(st, 17);
	v->updated_ms = sqlite3_column_int64(st, 18);
	v->state_since_ms = sqlite3_column_int64(st, 19);
	sq_copy_text(v->disk, sizeof(v->disk), st, 20);
	v->disk_since_ms = sqlite3_column_int64(st, 21);
	struct store_vm_migration *m = &v->mig;
	sq_copy_text(m->to, sizeof(m->to), st, 22);
	sq_copy_text(m->phase, sizeof(m->phase), st, 23);
	m->started_ms = sqlite3_column_int64(st, 24);
	m->since_ms = sqlite3_column_int64(st, 25);
	sq_copy_text(m->uri, sizeof(m->uri), st, 26);
	sq_copy_text(m->info, sizeof(m->info), st, 27);
	sq_copy_text(m->error, sizeof(m->error), st, 28);
}

/* The placer's choice, from the hosts as this transaction sees them: BEGIN IMMEDIATE holds
 * the database's one write lock from before the read to the commit, so no other create
 * (from any process) places between the two. */
static int sq_place(struct store *s, const struct store_placer *placer, struct store_vm *vm)
{
	struct store_host *hosts;
	size_t n;
	int rc = sq_host_list(s, NULL, &hosts, &n);
	if (rc == 0)
		rc = store_placer_run(s, placer, hosts, n, vm);
	free(hosts);
	return rc;
}

static int sq_vm_create(struct store *s, struct store_vm *vm, struct store_volume *vol,
			const struct store_placer *placer)
{
	int64_t now = wall_ms();
	int rc = sq_exec(s, "BEGIN IMMEDIATE");
	if (rc)
		return rc;
	sqlite3_stmt *st;
	if (placer)
		rc = sq_place(s, placer, vm);
	if (rc == 0)
		rc = sq_prepare(s, "INSERT INTO volumes (vm_id, host, size_mb, layout, state, created_ms, "
			"updated_ms) VALUES (NULL, ?, ?, ?, 'CREATING', ?, ?)", &st);
	if (rc == 0) {
		sqlite3_bind_text(st, 1, vm->host, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)vol->size_mb);
		sqlite3_bind_text(st, 3, vol->layout, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, now);
		sqlite3_bind_int64(st, 5, now);
		rc = sq_step_done(s, st, "insert volume");
	}
	int64_t vol_id = sqlite3_last_insert_rowid(sq_db(s));
	if (rc == 0)
		rc = sq_prepare(s, "INSERT INTO vms (name, uuid, host, desired, state, vcpus, "
				"memory_mb, image, kernel, initrd, append, on_crash, volume_id, "
				"created_ms, updated_ms, state_since_ms) VALUES (?, ?, ?, ?, "
				"'CREATING', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", &st);
	if (rc == 0) {
		const char *text[] = { vm->name, vm->uuid, vm->host, vm->desired };
		for (int i = 0; i < 4; i++)
			sqlite3_bind_text(st, i + 1, text[i], -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 5, (int)vm->vcpus);
		sqlite3_bind_int(st, 6, (int)vm->memory_mb);
		const char *text2[] = { vm->image, vm->kernel, vm->initrd, vm->append, vm->on_crash };
		for (int i = 0; i < 5; i++)
			sqlite3_bind_text(st, i + 7, text2[i], -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 12, vol_id);
		sqlite3_bind_int64(st, 13, now);
		sqlite3_bind_int64(st, 14, now);
		sqlite3_bind_int64(st, 15, now);
		rc = sq_step_done(s, st, "insert vm");
		if (rc == -EEXIST)
			store_fail(s, rc, "a VM named '%s' exists", vm->name);
	}
	int64_t vm_id = sqlite3_last_insert_rowid(sq_db(s));
	if (rc == 0 && (rc = sq_prepare(s, "UPDATE volumes SET vm_id = ? WHERE id = ?", &st)) == 0) {
		sqlite3_bind_int64(st, 1, vm_id);
		sqlite3_bind_int64(st, 2, vol_id);
		rc = sq_step_done(s, st, "link volume");
	}
	if (rc < 0) {
		char saved[sizeof(s->error)];
		memcpy(saved, s->error, sizeof(saved));
		sq_exec(s, "ROLLBACK");           /* nothing half-created */
		memcpy(s->error, saved, sizeof(saved));
		return rc;
	}
	if ((rc = sq_exec(s, "COMMIT")) < 0)
		return rc;
	vm->id = vm_id;
	vm->volume_id = vol_id;
	vol->id = vol_id;
	vol->vm_id = vm_id;
	return 0;
}

static int sq_vm_get(struct store *s, int64_t id, const char *name, struct store_vm *out)
{
	sqlite3_stmt *st;
	int rc = sq_prepare(s, name ? "SELECT " VM_COLUMNS " FROM vms WHERE name = ? AND "
				   "state != 'TERMINATED'"
				 : "SELECT " VM_COLUMNS " FROM vms WHERE id = ?", &st);
	if (rc)
		return rc;
	if (name)
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	else
		sqlite3_bind_int64(st, 1, id);
	int step = sqlite3_step(st);
	if (step == SQLITE_ROW)
		read_vm(st, out);
	else if (step == SQLITE_DONE)
		rc = name ? store_fail(s, -ENOENT, "no VM named '%s'", name)
			  : store_fail(s, -ENOENT, "no VM %lld", (long long)id);
	else
		rc = sq_sql_fail(s, "select vm");
	sqlite3_finalize(st);
	return rc;
}

static int sq_vm_latest(struct store *s, const char *name, struct store_vm *out)
{
	sqlite3_stmt *st;
	int rc = sq_prepare(s, "SELECT " VM_COLUMNS " FROM vms WHERE name = ? ORDER BY id DESC "
			    "LIMIT 1", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	int step = sqlite3_step(st);
	if (step == SQLITE_ROW)
		read_vm(st, out);
	else if (step == SQLITE_DONE)
		rc = store_fail(s, -ENOENT, "no VM was ever named '%s'", name);
	else
		rc = sq_sql_fail(s, "select vm");
	sqlite3_finalize(st);
	return rc;
}

static int sq_vm_list(struct store *s, const char *host, bool include_terminated,
		      bool incoming, struct store_vm **out, size_t *n)
{
	sqlite3_stmt *st;
	int rc = sq_prepare(s, "SELECT " VM_COLUMNS " FROM vms WHERE (?1 IS NULL OR host = ?1 OR "
			    "(?3 AND migrate_to = ?1)) AND (?2 OR state != 'TERMINATED') ORDER BY id",
			    &st);
	if (rc)
		return rc;
	if (host)
		sqlite3_bind_text(st, 1, host, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, include_terminated);
	sqlite3_bind_int(st, 3, incoming);
	size_t cap = 0;
	*out = NULL;
	*n = 0;
	int step;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		if (array_reserve_one(out, &cap, *n, sizeof(**out)) < 0) {
			rc = store_fail(s, -ENOMEM, "out of memory");
			break;
		}
		read_vm(st, &(*out)[(*n)++]);
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = sq_sql_fail(s, "list vms");
	sqlite3_finalize(st);
	if (rc < 0) {
		free(*out);
		*out = NULL;
		*n = 0;
	}
	return rc;
}

static int changed_or_missing(struct store *s, int64_t id, const char *what)
{
	return sqlite3_changes(sq_db(s)) ? 0
					 : store_fail(s, -ENOENT, "no %s %lld", what, (long long)id);
}

/* A report guarded by its host: none changed is -ESTALE when the VM is another host's. */
static int reported(struct store *s, int64_t id, const char *host)
{
	if (sqlite3_changes(sq_db(s)) || !host)
		return changed_or_missing(s, id, "VM");
	struct store_vm vm;
	int rc = sq_vm_get(s, id, NULL, &vm);
	return rc ? rc : store_fail(s, -ESTALE, "vm %lld is on host %s, not %s: report dropped",
				    (long long)id, vm.host, host);
}

/* A terminated VM (desired or reached) stays terminated: the guard is in the UPDATE itself,
 * so a command racing with `berth vm terminate` cannot bring the VM back. */
static int sq_vm_set_desired(struct store *s, int64_t id, const char *desired, bool bump)
{
	sqlite3_stmt *st;
	int rc = sq_prepare(s, "UPDATE vms SET desired = ?1, generation = generation + ?2, "
			    "updated_ms = ?3 WHERE id = ?4 AND (?1 = 'TERMINATED' OR "
			    "(desired != 'TERMINATED' AND state != 'TERMINATED'))", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, desired, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, bump ? 1 : 0);
	sqlite3_bind_int64(st, 3, wall_ms());
	sqlite3_bind_int64(st, 4, id);
	if ((rc = sq_step_done(s, st, "set desired")) || sqlite3_changes(sq_db(s)))
		return rc;
	struct store_vm vm;
	if ((rc = sq_vm_get(s, id, NULL, &vm)))
		return rc;                      /* -ENOENT: no such VM */
	return store_fail(s, -EPERM, "vm %lld is terminated (desired %s, state %s): it cannot "
			  "be set to %s", (long long)id, vm.desired, vm.state, desired);
}

static int sq_vm_report(struct store *s, int64_t id, const char *host, const char *state,
			const char *reason, int pid)
{
	sqlite3_stmt *st;
	int64_t now = wall_ms();
	int rc = sq_prepare(s, "UPDATE vms SET state_since_ms = CASE WHEN state = ?1 THEN "
			    "state_since_ms ELSE ?2 END, state = ?1, reason = ?3, pid = ?4, "
			    "updated_ms = ?2 WHERE id = ?5 AND (?6 IS NULL OR host = ?6)", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, state, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_text(st, 3, reason, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, pid);
	sqlite3_bind_int64(st, 5, id);
	if (host)
		sqlite3_bind_text(st, 6, host, -1, SQLITE_STATIC);
	rc = sq_step_done(s, st, "report vm");
	return rc ? rc : reported(s, id, host);
}

static int sq_vm_report_disk(struct store *s, int64_t id, const char *host, const char *disk,
			     int64_t since_ms)
{
	sqlite3_stmt *st;
	int rc = sq_prepare(s, "UPDATE vms SET disk = ?1, disk_since_ms = ?2 WHERE id = ?3 AND "
			    "(?4 IS NULL OR host = ?4)", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, disk, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, since_ms);
	sqlite3_bind_int64(st, 3, id);
	if (host)
		sqlite3_bind_text(st, 4, host, -1, SQLITE_STATIC);
	rc = sq_step_done(s, st, "report vm disk");
	return rc ? rc : reported(s, id, host);
}

/* ---------------------------------------------------------------- volumes */

#define VOLUME_COLUMNS "id, vm_id, host, size_mb, layout, state, export_path, error, " \
		       "created_ms, updated_ms, mig_host, mig_state, mig_export_path"

static void read_volume(sqlite3_stmt *st, struct store_volume *v)
{
	memset(v, 0, sizeof(*v));
	v->id = sqlite3_column_int64(st, 0);
	v->vm_id = sqlite3_column_int64(st, 1);
	sq_copy_text(v->host, sizeof(v->host), st, 2);
	v->size_mb = (uint64_t)sqlite3_column_int64(st, 3);
	sq_copy_text(v->layout, sizeof(v->layout), st, 4);
	sq_copy_text(v->state, sizeof(v->state), st, 5);
	sq_copy_text(v->export_path, sizeof(v->export_path), st, 6);
	sq_copy_text(v->error, sizeof(v->error), st, 7);
	v->created_ms = sqlite3_column_int64(st, 8);
	v->updated_ms = sqlite3_column_int64(st, 9);
	sq_copy_text(v->mig_host, sizeof(v->mig_host), st, 10);
	sq_copy_text(v->mig_state, sizeof(v->mig_state), st, 11);
	sq_copy_text(v->mig_export_path, sizeof(v->mig_export_path), st, 12);
}

static int sq_volume_get(struct store *s, int64_t id, struct store_volume *out)
{
	sqlite3_stmt *st;
	int rc = sq_prepare(s, "SELECT " VOLUME_COLUMNS " FROM volumes WHERE id = ?", &st);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, id);
	int step = sqlite3_step(st);
	if (step == SQLITE_ROW)
		read_volume(st, out);
	else
		rc = step == SQLITE_DONE ? store_fail(s, -ENOENT, "no volume %lld", (long long)id)
					 : sq_sql_fail(s, "select volume");
	sqlite3_finalize(st);
	return rc;
}

static int sq_volume_list(struct store *s, const char *host, bool include_deleted,
			  bool incoming, struct store_volume **out, size_t *n)
{
	sqlite3_stmt *st;
	int rc = sq_prepare(s, "SELECT " VOLUME_COLUMNS " FROM volumes WHERE (?1 IS NULL OR "
			    "host = ?1 OR (?3 AND mig_host = ?1)) AND (?2 OR state != 'DELETED') "
			    "ORDER BY id", &st);
	if (rc)
		return rc;
	if (host)
		sqlite3_bind_text(st, 1, host, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, include_deleted);
	sqlite3_bind_int(st, 3, incoming);
	size_t cap = 0;
	*out = NULL;
	*n = 0;
	int step;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		if (array_reserve_one(out, &cap, *n, sizeof(**out)) < 0) {
			rc = store_fail(s, -ENOMEM, "out of memory");
			break;
		}
		read_volume(st, &(*out)[(*n)++]);
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = sq_sql_fail(s, "list volumes");
	sqlite3_finalize(st);
	if (rc < 0) {
		free(*out);
		*out = NULL;
		*n = 0;
	}
	return rc;
}

static int sq_volume_report(struct store *s, int64_t id, const char *state,
			    const char *export_path, const char *error)
{
	sqlite3_stmt *st;
	int rc = sq_prepare(s, "UPDATE volumes SET state = ?1, export_path = COALESCE(?2, "
			    "export_path), error = COALESCE(?3, error), updated_ms = ?4 "
			    "WHERE id = ?5", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, state, -1, SQLITE_STATIC);
	if (export_path)
		sqlite3_bind_text(st, 2, export_path, -1, SQLITE_STATIC);
	if (error)
		sqlite3_bind_text(st, 3, error, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, wall_ms());
	sqlite3_bind_int64(st, 5, id);
	rc = sq_step_done(s, st, "report volume");
	return rc ? rc : changed_or_missing(s, id, "volume");
}

/* ---------------------------------------------------------------- events, hosts */

static int sq_event_add(struct store *s, const struct store_event *ev)
{
	sqlite3_stmt *st;
	int rc = sq_prepare(s, "INSERT INTO events (time_ms, host, component, vm_id, level, "
			    "message) VALUES (?, ?, ?, ?, ?, ?)", &st);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, ev->time_ms);
	sqlite3_bind_text(st, 2, ev->host, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, ev->component, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, ev->vm_id);
	sqlite3_bind_text(st, 5, ev->level, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, ev->message, -1, SQLITE_STATIC);
	return sq_step_done(s, st, "add event");
}

static int sq_event_list(struct store *s, int64_t after_id, int64_t vm_id, size_t limit,
			 struct store_event **out, size_t *n)
{
	sqlite3_stmt *st;
	int rc = sq_prepare(s, "SELECT id, time_ms, host, component, vm_id, level, message FROM "
			    "(SELECT * FROM events WHERE id > ?1 AND (?2 = 0 OR vm_id = ?2) "
			    "ORDER BY id DESC LIMIT ?3) ORDER BY id", &st);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, after_id);
	sqlite3_bind_int64(st, 2, vm_id);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)limit);
	*out = calloc(limit ? limit : 1, sizeof(**out));
	*n = 0;
	if (!*out) {
		sqlite3_finalize(st);
		return store_fail(s, -ENOMEM, "out of memory");
	}
	int step;
	while ((step = sqlite3_step(st)) == SQLITE_ROW && *n < limit) {
		struct store_event *e = &(*out)[(*n)++];
		e->id = sqlite3_column_int64(st, 0);
		e->time_ms = sqlite3_column_int64(st, 1);
		sq_copy_text(e->host, sizeof(e->host), st, 2);
		sq_copy_text(e->component, sizeof(e->component), st, 3);
		e->vm_id = sqlite3_column_int64(st, 4);
		sq_copy_text(e->level, sizeof(e->level), st, 5);
		sq_copy_text(e->message, sizeof(e->message), st, 6);
	}
	if (step != SQLITE_DONE && step != SQLITE_ROW)
		rc = sq_sql_fail(s, "list events");
	sqlite3_finalize(st);
	return rc;
}

static int sq_host_seen(struct store *s, const char *host)
{
	sqlite3_stmt *st;
	int rc = sq_prepare(s, "INSERT INTO hosts (name, registered_ms, seen_ms) VALUES (?1, ?2, ?2) "
			    "ON CONFLICT(name) DO UPDATE SET seen_ms = ?2", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, host, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, wall_ms());
	return sq_step_done(s, st, "host seen");
}

/* ---------------------------------------------------------------- meta */

static int sq_meta_get(struct store *s, const char *key, char *out, size_t len)
{
	sqlite3_stmt *st;
	int rc = sq_prepare(s, "SELECT value FROM meta WHERE key = ?", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	int step = sqlite3_step(st);
	if (step == SQLITE_ROW)
		sq_copy_text(out, len, st, 0);
	else
		rc = step == SQLITE_DONE ? store_fail(s, -ENOENT, "no %s in the store", key)
					 : sq_sql_fail(s, "read meta");
	sqlite3_finalize(st);
	return rc;
}

static int sq_meta_init(struct store *s, const char *key, const char *value, char *out,
			size_t len)
{
	sqlite3_stmt *st;
	int rc = sq_prepare(s, "INSERT INTO meta (key, value) VALUES (?, ?) "
			    "ON CONFLICT(key) DO NOTHING", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
	if ((rc = sq_step_done(s, st, "write meta")))
		return rc;
	return sq_meta_get(s, key, out, len);
}

const struct store_backend store_sqlite_backend = {
	.name = "sqlite",
	.open = sq_open,
	.close = sq_close,
	.vm_create = sq_vm_create,
	.vm_get = sq_vm_get,
	.vm_latest = sq_vm_latest,
	.vm_list = sq_vm_list,
	.vm_set_desired = sq_vm_set_desired,
	.vm_report = sq_vm_report,
	.vm_report_disk = sq_vm_report_disk,
	.volume_get = sq_volume_get,
	.volume_list = sq_volume_list,
	.volume_report = sq_volume_report,
	.event_add = sq_event_add,
	.event_list = sq_event_list,
	.host_seen = sq_host_seen,
	.host_register = sq_host_register,
	.host_list = sq_host_list,
	.migrate_request = sq_migrate_request,
	.migration_phase = sq_migration_phase,
	.migration_uri = sq_migration_uri,
	.migration_finish = sq_migration_finish,
	.volume_report_incoming = sq_volume_report_incoming,
	.meta_get = sq_meta_get,
	.meta_init = sq_meta_init,
	.rows = sq_rows,
	.copy_begin = sq_copy_begin,
	.copy_row = sq_copy_row,
	.copy_end = sq_copy_end,
};
