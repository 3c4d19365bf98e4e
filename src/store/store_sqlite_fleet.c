/* store_sqlite_fleet.c — the SQLite back end's hosts and live migrations (store.h): each
 * call one guarded statement, or one transaction, so that two hosts' engines writing one
 * VM's row never undo each other's step (a late or repeated call changes nothing: -ESTALE). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "clock.h"
#include "store_sqlite_util.h"

/* ---------------------------------------------------------------- hosts */

int sq_host_register(struct store *s, const struct store_host *h)
{
	sqlite3_stmt *st;
	int rc = sq_prepare(s, "INSERT INTO hosts (name, registered_ms, seen_ms, vcpus, memory_mb, "
			       "max_memory_mb, max_vcpus, memory_backend) "
			       "VALUES (?1, ?2, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(name) DO UPDATE SET "
			       "registered_ms = ?2, seen_ms = ?2, vcpus = ?3, memory_mb = ?4, "
			       "max_memory_mb = ?5, max_vcpus = ?6, memory_backend = ?7", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, h->name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, wall_ms());
	sqlite3_bind_int(st, 3, (int)h->vcpus);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)h->memory_mb);
	sqlite3_bind_int64(st, 5, h->max_memory_mb);
	sqlite3_bind_int64(st, 6, h->max_vcpus);
	sqlite3_bind_text(st, 7, h->memory_backend, -1, SQLITE_STATIC);
	return sq_step_done(s, st, "register host");
}

int sq_host_list(struct store *s, const char *name, struct store_host **out, size_t *n)
{
	sqlite3_stmt *st;
	int rc = sq_prepare(s, HOST_LIST_SQL("?1"), &st);
	if (rc)
		return rc;
	if (name)
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	size_t cap = 0;
	*out = NULL;
	*n = 0;
	int step;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		if (array_reserve_one(out, &cap, *n, sizeof(**out)) < 0) {
			rc = store_fail(s, -ENOMEM, "out of memory");
			break;
		}
		struct store_host *h = &(*out)[(*n)++];
		memset(h, 0, sizeof(*h));
		sq_copy_text(h->name, sizeof(h->name), st, 0);
		h->vcpus = (unsigned)sqlite3_column_int(st, 1);
		h->memory_mb = (uint64_t)sqlite3_column_int64(st, 2);
		h->registered_ms = sqlite3_column_int64(st, 3);
		h->seen_ms = sqlite3_column_int64(st, 4);
		h->vms = (unsigned)sqlite3_column_int(st, 5);
		h->used_vcpus = (unsigned)sqlite3_column_int(st, 6);
		h->used_memory_mb = (uint64_t)sqlite3_column_int64(st, 7);
		h->max_memory_mb = (unsigned)sqlite3_column_int64(st, 8);
		h->max_vcpus = (unsigned)sqlite3_column_int64(st, 9);
		sq_copy_text(h->memory_backend, sizeof(h->memory_backend), st, 10);
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = sq_sql_fail(s, "list hosts");
	sqlite3_finalize(st);
	if (rc < 0) {
		free(*out);
		*out = NULL;
		*n = 0;
	}
	return rc;
}

/* ---------------------------------------------------------------- migrations */

static int changed_or_stale(struct store *s, int64_t id, const char *what)
{
	return sqlite3_changes(sq_db(s)) ? 0
		: store_fail(s, -ESTALE, "vm %lld: %s: no such migration under way",
			     (long long)id, what);
}

int sq_migrate_request(struct store *s, int64_t id, const char *to)
{
	sqlite3_stmt *st;
	int64_t now = wall_ms();
	int rc = sq_prepare(s, "UPDATE vms SET migrate_to = ?1, mig_phase = 'requested', "
			       "mig_started_ms = ?2, mig_since_ms = ?2, mig_uri = '', mig_info = '', "
			       "mig_error = '', updated_ms = ?2 WHERE id = ?3 AND state = 'RUNNING' "
			       "AND desired = 'RUNNING' AND migrate_to = '' AND host != ?1", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, to, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_int64(st, 3, id);
	if ((rc = sq_step_done(s, st, "request migration")) || sqlite3_changes(sq_db(s)))
		return rc;
	/* Say why, from the row as it is now. */
	if ((rc = sq_prepare(s, "SELECT state, desired, migrate_to, host FROM vms WHERE id = ?",
			     &st)))
		return rc;
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_finalize(st);
		return store_fail(s, -ENOENT, "no VM %lld", (long long)id);
	}
	char state[16], desired[16], cur[STORE_NAME_MAX], host[STORE_NAME_MAX];
	sq_copy_text(state, sizeof(state), st, 0);
	sq_copy_text(desired, sizeof(desired), st, 1);
	sq_copy_text(cur, sizeof(cur), st, 2);
	sq_copy_text(host, sizeof(host), st, 3);
	sqlite3_finalize(st);
	if (cur[0])
		return store_fail(s, -EBUSY, "vm %lld is already migrating to %s", (long long)id,
				  cur);
	if (!strcmp(host, to))
		return store_fail(s, -EINVAL, "vm %lld already runs on %s", (long long)id, to);
	return store_fail(s, -EPERM, "vm %lld is %s (desired %s), not RUNNING: only a running "
			  "VM migrates", (long long)id, state, desired);
}

int sq_migration_phase(struct store *s, int64_t id, const char *to, const char *phase,
		       int64_t since_ms, const char *info, const char *error, bool clear_to)
{
	sqlite3_stmt *st;
	int rc = sq_prepare(s, "UPDATE vms SET mig_phase = ?1, mig_since_ms = ?2, "
			       "mig_info = COALESCE(?3, mig_info), mig_error = COALESCE(?4, "
			       "mig_error), migrate_to = CASE WHEN ?5 THEN '' ELSE migrate_to END, "
			       "updated_ms = ?6 WHERE id = ?7 AND migrate_to = ?8 AND ?8 != ''",
			    &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, phase, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, since_ms);
	if (info)
		sqlite3_bind_text(st, 3, info, -1, SQLITE_STATIC);
	if (error)
		sqlite3_bind_text(st, 4, error, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 5, clear_to ? 1 : 0);
	sqlite3_bind_int64(st, 6, wall_ms());
	sqlite3_bind_int64(st, 7, id);
	sqlite3_bind_text(st, 8, to, -1, SQLITE_STATIC);
	rc = sq_step_done(s, st, "migration phase");
	return rc ? rc : changed_or_stale(s, id, phase);
}

int sq_migration_uri(struct store *s, int64_t id, const char *host, const char *uri)
{
	sqlite3_stmt *st;
	int rc = sq_prepare(s, "UPDATE vms SET mig_uri = ?1, updated_ms = ?2 WHERE id = ?3 AND "
			       "migrate_to = ?4 AND ?4 != ''", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, uri, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, wall_ms());
	sqlite3_bind_int64(st, 3, id);
	sqlite3_bind_text(st, 4, host, -1, SQLITE_STATIC);
	rc = sq_step_done(s, st, "migration uri");
	return rc ? rc : changed_or_stale(s, id, "destination listening");
}

static int rollback(struct store *s, int rc)
{
	char saved[sizeof(s->error)];
	memcpy(saved, s->error, sizeof(saved));
	sq_exec(s, "ROLLBACK");
	memcpy(s->error, saved, sizeof(saved));
	return rc;
}

int sq_migration_finish(struct store *s, int64_t id, const char *host, const char *final_phase)
{
	int64_t now = wall_ms();
	int rc = sq_exec(s, "BEGIN IMMEDIATE");
	if (rc)
		return rc;
	sqlite3_stmt *st;
	rc = sq_prepare(s, "UPDATE vms SET host = ?1, migrate_to = '', mig_phase = ?2, "
			   "mig_since_ms = ?3, updated_ms = ?3 WHERE id = ?4 AND migrate_to = ?1 "
			   "AND ?1 != ''", &st);
	if (rc)
		return rollback(s, rc);
	sqlite3_bind_text(st, 1, host, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, final_phase, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now);
	sqlite3_bind_int64(st, 4, id);
	if ((rc = sq_step_done(s, st, "finish migration")) ||
	    (rc = changed_or_stale(s, id, "finish")))
		return rollback(s, rc);
	/* The volume follows: the export the destination made is now its export. */
	rc = sq_prepare(s, "UPDATE volumes SET host = ?1, export_path = CASE WHEN mig_host = ?1 "
			   "THEN mig_export_path ELSE '' END, state = CASE WHEN mig_host = ?1 AND "
			   "mig_state = 'EXPORTED' THEN 'EXPORTED' ELSE 'ONLINE' END, "
			   "mig_host = '', mig_state = '', mig_export_path = '', updated_ms = ?2 "
			   "WHERE vm_id = ?3 AND state != 'DELETED'", &st);
	if (rc)
		return rollback(s, rc);
	sqlite3_bind_text(st, 1, host, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_int64(st, 3, id);
	if ((rc = sq_step_done(s, st, "move volume")))
		return rollback(s, rc);
	return sq_exec(s, "COMMIT");
}

int sq_volume_report_incoming(struct store *s, int64_t id, const char *host, const char *state,
			      const char *export_path)
{
	sqlite3_stmt *st;
	/* Only while the volume's VM migrates to host: a late report after the migration
	 * ended (or moved the volume to host) changes nothing. */
	int rc = sq_prepare(s, "UPDATE volumes SET mig_host = CASE WHEN ?2 = '' THEN '' ELSE ?1 "
			       "END, mig_state = ?2, mig_export_path = ?3, updated_ms = ?4 "
			       "WHERE id = ?5 AND host != ?1 AND vm_id IN (SELECT id FROM vms "
			       "WHERE migrate_to = ?1)", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, host, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, state, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, export_path, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, wall_ms());
	sqlite3_bind_int64(st, 5, id);
	rc = sq_step_done(s, st, "report incoming export");
	return rc ? rc : changed_or_stale(s, id, "incoming export");
}
