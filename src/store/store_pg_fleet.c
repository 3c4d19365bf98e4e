/* store_pg_fleet.c — the PostgreSQL back end's hosts and live migrations (store_backend.h),
 * statement for statement the meaning of store_sqlite_fleet.c: hosts register and show they
 * are alive; each migration step is one guarded UPDATE, so that two hosts' engines writing one
 * VM's row never undo each other's step (a late or repeated call changes nothing: -ESTALE). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "store_pg_util.h"

int pg_host_seen(struct store *s, const char *host)
{
	struct pg_params p = { .n = 0 };
	pgp_text(&p, host);
	pgp_int(&p, wall_ms());
	return pgq(s, "INSERT INTO hosts (name, registered_ms, seen_ms) VALUES ($1, $2::bigint, "
		    "$2::bigint) ON CONFLICT (name) DO UPDATE SET seen_ms = EXCLUDED.seen_ms", &p,
		 NULL);
}

int pg_host_register(struct store *s, const struct store_host *h)
{
	struct pg_params p = { .n = 0 };
	pgp_text(&p, h->name);
	pgp_int(&p, wall_ms());
	pgp_int(&p, h->vcpus);
	pgp_int(&p, (int64_t)h->memory_mb);
	pgp_int(&p, h->max_memory_mb);
	pgp_int(&p, h->max_vcpus);
	pgp_text(&p, h->memory_backend);
	return pgq(s, "INSERT INTO hosts (name, registered_ms, seen_ms, vcpus, memory_mb, "
		    "max_memory_mb, max_vcpus, memory_backend) VALUES ($1, $2::bigint, $2::bigint, "
		    "$3::int, $4::bigint, $5::int, $6::int, $7) ON CONFLICT (name) DO UPDATE "
		    "SET registered_ms = EXCLUDED.registered_ms, seen_ms = EXCLUDED.seen_ms, "
		    "vcpus = EXCLUDED.vcpus, memory_mb = EXCLUDED.memory_mb, "
		    "max_memory_mb = EXCLUDED.max_memory_mb, max_vcpus = EXCLUDED.max_vcpus, "
		    "memory_backend = EXCLUDED.memory_backend", &p, NULL);
}

static void read_host(const PGresult *r, int row, void *item)
{
	struct store_host *h = item;
	pg_col_text(h->name, sizeof(h->name), r, row, 0);
	h->vcpus = (unsigned)pg_col_int(r, row, 1);
	h->memory_mb = (uint64_t)pg_col_int(r, row, 2);
	h->registered_ms = pg_col_int(r, row, 3);
	h->seen_ms = pg_col_int(r, row, 4);
	h->vms = (unsigned)pg_col_int(r, row, 5);
	h->used_vcpus = (unsigned)pg_col_int(r, row, 6);
	h->used_memory_mb = (uint64_t)pg_col_int(r, row, 7);
	h->max_memory_mb = (unsigned)pg_col_int(r, row, 8);
	h->max_vcpus = (unsigned)pg_col_int(r, row, 9);
	pg_col_text(h->memory_backend, sizeof(h->memory_backend), r, row, 10);
}

int pg_host_list(struct store *s, const char *name, struct store_host **out, size_t *n)
{
	struct pg_params p = { .n = 0 };
	pgp_text(&p, name);
	PGresult *r;
	*out = NULL;
	*n = 0;
	int rc = pgq(s, HOST_LIST_SQL("$1::text"), &p, &r);
	if (rc)
		return rc;
	return pg_rows_of(s, r, sizeof(**out), read_host, (void **)out, n);
}

/* ---------------------------------------------------------------- live migrations */

/* The same guarded statements as store_sqlite_fleet.c: a late or repeated call from another
 * host's engine changes nothing (-ESTALE). */
static int changed_or_stale(struct store *s, PGresult *r, int64_t id, const char *what)
{
	int rc = strcmp(PQcmdTuples(r), "0") ? 0
		 : store_fail(s, -ESTALE, "vm %lld: %s: no such migration under way",
			      (long long)id, what);
	PQclear(r);
	return rc;
}

int pg_migrate_request(struct store *s, int64_t id, const char *to)
{
	struct pg_params p = { .n = 0 };
	pgp_text(&p, to);
	pgp_int(&p, wall_ms());
	pgp_int(&p, id);
	PGresult *r;
	int rc = pgq(s, "UPDATE vms SET migrate_to = $1, mig_phase = 'requested', "
		      "mig_started_ms = $2::bigint, mig_since_ms = $2::bigint, mig_uri = '', "
		      "mig_info = '', mig_error = '', updated_ms = $2::bigint WHERE id = $3::bigint "
		      "AND state = 'RUNNING' AND desired = 'RUNNING' AND migrate_to = '' AND "
		      "host != $1", &p, &r);
	if (rc)
		return rc;
	bool changed = strcmp(PQcmdTuples(r), "0") != 0;
	PQclear(r);
	if (changed)
		return 0;
	/* Say why, from the row as it is now. */
	struct store_vm vm;
	if ((rc = s->ops->vm_get(s, id, NULL, &vm)))
		return rc;
	if (vm.mig.to[0])
		return store_fail(s, -EBUSY, "vm %lld is already migrating to %s", (long long)id,
				  vm.mig.to);
	if (!strcmp(vm.host, to))
		return store_fail(s, -EINVAL, "vm %lld already runs on %s", (long long)id, to);
	return store_fail(s, -EPERM, "vm %lld is %s (desired %s), not RUNNING: only a running "
			  "VM migrates", (long long)id, vm.state, vm.desired);
}

int pg_migration_phase(struct store *s, int64_t id, const char *to, const char *phase,
			      int64_t since_ms, const char *info, const char *error, bool clear_to)
{
	struct pg_params p = { .n = 0 };
	pgp_text(&p, phase);
	pgp_int(&p, since_ms);
	pgp_text(&p, info);
	pgp_text(&p, error);
	pgp_text(&p, clear_to ? "true" : "false");
	pgp_int(&p, wall_ms());
	pgp_int(&p, id);
	pgp_text(&p, to);
	PGresult *r;
	int rc = pgq(s, "UPDATE vms SET mig_phase = $1, mig_since_ms = $2::bigint, "
		      "mig_info = COALESCE($3, mig_info), mig_error = COALESCE($4, mig_error), "
		      "migrate_to = CASE WHEN $5::boolean THEN '' ELSE migrate_to END, "
		      "updated_ms = $6::bigint WHERE id = $7::bigint AND migrate_to = $8 AND "
		      "$8 != ''", &p, &r);
	return rc ? rc : changed_or_stale(s, r, id, phase);
}

int pg_migration_uri(struct store *s, int64_t id, const char *host, const char *uri)
{
	struct pg_params p = { .n = 0 };
	pgp_text(&p, uri);
	pgp_int(&p, wall_ms());
	pgp_int(&p, id);
	pgp_text(&p, host);
	PGresult *r;
	int rc = pgq(s, "UPDATE vms SET mig_uri = $1, updated_ms = $2::bigint WHERE id = $3::bigint "
		      "AND migrate_to = $4 AND $4 != ''", &p, &r);
	return rc ? rc : changed_or_stale(s, r, id, "destination listening");
}

int pg_migration_finish(struct store *s, int64_t id, const char *host,
			       const char *final_phase)
{
	int rc = pgc_begin(s, pg(s));
	if (rc)
		return rc;
	struct pg_params p = { .n = 0 };
	pgp_text(&p, host);
	pgp_text(&p, final_phase);
	pgp_int(&p, wall_ms());
	pgp_int(&p, id);
	PGresult *r;
	rc = pgq(s, "UPDATE vms SET host = $1, migrate_to = '', mig_phase = $2, "
		  "mig_since_ms = $3::bigint, updated_ms = $3::bigint WHERE id = $4::bigint AND "
		  "migrate_to = $1 AND $1 != ''", &p, &r);
	if (rc == 0)
		rc = changed_or_stale(s, r, id, "finish");
	/* The volume follows: the export the destination made is now its export. */
	if (rc == 0) {
		struct pg_params v = { .n = 0 };
		pgp_text(&v, host);
		pgp_int(&v, wall_ms());
		pgp_int(&v, id);
		rc = pgq(s, "UPDATE volumes SET host = $1, export_path = CASE WHEN mig_host = $1 "
			  "THEN mig_export_path ELSE '' END, state = CASE WHEN mig_host = $1 AND "
			  "mig_state = 'EXPORTED' THEN 'EXPORTED' ELSE 'ONLINE' END, mig_host = '', "
			  "mig_state = '', mig_export_path = '', updated_ms = $2::bigint "
			  "WHERE vm_id = $3::bigint AND state != 'DELETED'", &v, NULL);
	}
	if (rc < 0) {
		pgc_rollback(s, pg(s));
		return rc;
	}
	return pgc_commit(s, pg(s));
}

int pg_volume_report_incoming(struct store *s, int64_t id, const char *host,
				     const char *state, const char *export_path)
{
	struct pg_params p = { .n = 0 };
	pgp_text(&p, host);
	pgp_text(&p, state);
	pgp_text(&p, export_path);
	pgp_int(&p, wall_ms());
	pgp_int(&p, id);
	PGresult *r;
	/* Only while the volume's VM migrates to host: a late report after the migration
	 * ended (or moved the volume to host) changes nothing. */
	int rc = pgq(s, "UPDATE volumes SET mig_host = CASE WHEN $2 = '' THEN '' ELSE $1 END, "
		      "mig_state = $2, mig_export_path = $3, updated_ms = $4::bigint "
		      "WHERE id = $5::bigint AND host != $1 AND vm_id IN (SELECT id FROM vms "
		      "WHERE migrate_to = $1)", &p, &r);
	return rc ? rc : changed_or_stale(s, r, id, "incoming export");
}
