/* store_pg.c — the PostgreSQL back end of the store (store_backend.h), the store of a fleet:
 * selected by a libpq URI ("postgresql://...", "postgres://...") or conninfo ("service=...",
 * "host=... dbname=..."); the numbered migrations of store_migrations.c applied once, in one
 * transaction under an advisory lock, so hosts starting together never race on the schema;
 * every call under the deadline of store_pg_conn.c. The same meaning as store_sqlite.c,
 * statement for statement. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "store_backend.h"
#include "store_migrations.h"
#include "store_pg_util.h"

/* pg_advisory_xact_lock's key for migrations: "berth" in ASCII */
#define MIGRATION_LOCK "426572746"

/* ---------------------------------------------------------------- open, migrations */

static bool pg_claims(const char *url)
{
	if (!strncmp(url, "postgresql://", 13) || !strncmp(url, "postgres://", 11))
		return true;
	/* a conninfo string: "keyword=value ..." (a path never starts so) */
	static const char *const keys[] = { "service=", "host=", "hostaddr=", "dbname=",
					    "user=", "port=", NULL };
	for (const char *const *k = keys; *k; k++)
		if (!strncmp(url, *k, strlen(*k)))
			return true;
	return false;
}

/* The versions recorded: how many of ours, and the newest (refused above ours). */
static int read_versions(struct store *s, int64_t *applied)
{
	struct pg_params p = { .n = 0 };
	pgp_int(&p, (int64_t)store_n_migrations);
	PGresult *r;
	int rc = pgq(s, "SELECT count(*) FILTER (WHERE version BETWEEN 1 AND $1::int), "
		      "coalesce(max(version), 0) FROM schema_migrations", &p, &r);
	if (rc)
		return rc;
	*applied = pg_col_int(r, 0, 0);
	int64_t newest = pg_col_int(r, 0, 1);
	PQclear(r);
	if (newest > (int64_t)store_n_migrations)
		return store_fail(s, -EPROTO, "the store's schema is version %lld, newer than this "
				  "berth's (%zu): upgrade berth", (long long)newest,
				  store_n_migrations);
	return 0;
}

static int apply_missing(struct store *s)
{
	int rc = pgq(s, "SELECT pg_advisory_xact_lock(" MIGRATION_LOCK ")", NULL, NULL);
	if (rc == 0)
		rc = pgq(s, "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY "
			  "KEY, applied_ms BIGINT NOT NULL)", NULL, NULL);
	int64_t applied;
	if (rc == 0)
		rc = read_versions(s, &applied);
	for (size_t n = 1; rc == 0 && n <= store_n_migrations; n++) {
		struct pg_params p = { .n = 0 };
		pgp_int(&p, (int64_t)n);
		PGresult *r;
		if ((rc = pgq(s, "SELECT 1 FROM schema_migrations WHERE version = $1::int", &p, &r)))
			break;
		bool have = PQntuples(r) > 0;
		PQclear(r);
		if (have)
			continue;
		if ((rc = pgq(s, store_migrations[n - 1].postgresql, NULL, NULL))) {
			char msg[sizeof(s->error)];
			snprintf(msg, sizeof(msg), "%s", s->error);
			store_fail(s, rc, "migration %zu (%s): %.300s", n, store_migrations[n - 1].what,
				   msg);
			break;
		}
		pgp_int(&p, wall_ms());
		rc = pgq(s, "INSERT INTO schema_migrations VALUES ($1::int, $2::bigint)", &p, NULL);
	}
	return rc;
}

/* Every migration not applied yet, all in one transaction under the advisory lock: a
 * second host opening at the same moment waits for it, then finds nothing to do. */
static int migrate(struct store *s, bool create)
{
	PGresult *r;
	int rc = pgq(s, "SELECT to_regclass('schema_migrations') IS NOT NULL", NULL, &r);
	if (rc)
		return rc;
	bool exists = !strcmp(PQgetvalue(r, 0, 0), "t");
	PQclear(r);
	int64_t applied = 0;
	if (!exists && !create)
		return store_fail(s, -ENOENT, "no store there (the database has no Berth schema)");
	if (exists && (rc = read_versions(s, &applied)))
		return rc;
	if (applied == (int64_t)store_n_migrations)
		return 0;                       /* the usual case: no lock taken */
	if ((rc = pgc_begin(s, pg(s))))
		return rc;
	if ((rc = apply_missing(s)) == 0)
		return pgc_commit(s, pg(s));
	pgc_rollback(s, pg(s));
	return rc;
}

static int pg_open(struct store *s, const char *url, bool create)
{
	struct pgc *c = calloc(1, sizeof(*c));
	if (!c)
		return store_fail(s, -ENOMEM, "out of memory");
	s->impl = c;
	int rc = pgc_open(s, c, url, s->timeout_ms);
	if (rc == 0 && (rc = migrate(s, create)) < 0) {
		char msg[sizeof(s->error)];
		snprintf(msg, sizeof(msg), "%s", s->error);
		store_fail(s, rc, "%s: %.400s", c->where, msg);
		pgc_close(c);
	}
	if (rc < 0) {
		free(c);
		s->impl = NULL;
	}
	return rc;
}

static void pg_close(struct store *s)
{
	if (pg(s))
		pgc_close(pg(s));
	free(s->impl);
	s->impl = NULL;
}

/* ---------------------------------------------------------------- VMs */

#define VM_COLUMNS "id, name, uuid, host, desired, state, vcpus, memory_mb, image, kernel, " \
		   "initrd, append, on_crash, volume_id, generation, reason, pid, created_ms, " \
		   "updated_ms, state_since_ms, disk, disk_since_ms, migrate_to, mig_phase, " \
		   "mig_started_ms, mig_since_ms, mig_uri, mig_info, mig_error"

static void read_vm(const PGresult *r, int row, struct store_vm *v)
{
	memset(v, 0, sizeof(*v));
	v->id = pg_col_int(r, row, 0);
	pg_col_text(v->name, sizeof(v->name), r, row, 1);
	pg_col_text(v->uuid, sizeof(v->uuid), r, row, 2);
	pg_col_text(v->host, sizeof(v->host), r, row, 3);
	pg_col_text(v->desired, sizeof(v->desired), r, row, 4);
	pg_col_text(v->state, sizeof(v->state), r, row, 5);
	v->vcpus = (unsigned)pg_col_int(r, row, 6);
	v->memory_mb = (unsigned)pg_col_int(r, row, 7);
	pg_col_text(v->image, sizeof(v->image), r, row, 8);
	pg_col_text(v->kernel, sizeof(v->kernel), r, row, 9);
	pg_col_text(v->initrd, sizeof(v->initrd), r, row, 10);
	pg_col_text(v->append, sizeof(v->append), r, row, 11);
	pg_col_text(v->on_crash, sizeof(v->on_crash), r, row, 12);
	v->volume_id = pg_col_int(r, row, 13);
	v->generation = (uint64_t)pg_col_int(r, row, 14);
	pg_col_text(v->reason, sizeof(v->reason), r, row, 15);
	v->pid = (int)pg_col_int(r, row, 16);
	v->created_ms = pg_col_int(r, row, 17);
	v->updated_ms = pg_col_int(r, row, 18);
	v->state_since_ms = pg_col_int(r, row, 19);
	pg_col_text(v->disk, sizeof(v->disk), r, row, 20);
	v->disk_since_ms = pg_col_int(r, row, 21);
	struct store_vm_migration *m = &v->mig;
	pg_col_text(m->to, sizeof(m->to), r, row, 22);
	pg_col_text(m->phase, sizeof(m->phase), r, row, 23);
	m->started_ms = pg_col_int(r, row, 24);
	m->since_ms = pg_col_int(r, row, 25);
	pg_col_text(m->uri, sizeof(m->uri), r, row, 26);
	pg_col_text(m->info, sizeof(m->info), r, row, 27);
	pg_col_text(m->error, sizeof(m->error), r, row, 28);
}

static void read_vm_item(const PGresult *r, int row, void *item)
{
	read_vm(r, row, item);
}


static int insert_id(struct store *s, const char *sql, struct pg_params *p, int64_t *id)
{
	PGresult *r;
	int rc = pgq(s, sql, p, &r);
	if (rc)
		return rc;
	*id = pg_col_int(r, 0, 0);
	PQclear(r);
	return 0;
}


/* The placer's choice under row locks on every host (in name order, so two placements never
 * deadlock): a second create waits here until the first commits, then reads the usage that
 * includes its VM (READ COMMITTED: each statement sees what was committed before it). */
static int pg_place(struct store *s, const struct store_placer *placer, struct store_vm *vm)
{
	int rc = pgq(s, "SELECT name FROM hosts ORDER BY name FOR UPDATE", NULL, NULL);
	struct store_host *hosts = NULL;
	size_t n = 0;
	if (rc == 0 && (rc = pg_host_list(s, NULL, &hosts, &n)) == 0)
		rc = store_placer_run(s, placer, hosts, n, vm);
	free(hosts);
	return rc;
}

static int pg_vm_create(struct store *s, struct store_vm *vm, struct store_volume *vol,
			const struct store_placer *placer)
{
	int64_t now = wall_ms(), vol_id = 0, vm_id = 0;
	int rc = pgc_begin(s, pg(s));
	if (rc)
		return rc;
	if (placer && (rc = pg_place(s, placer, vm)) < 0) {
		pgc_rollback(s, pg(s));
		return rc;
	}
	struct pg_params p = { .n = 0 };
	pgp_text(&p, vm->host);
	pgp_int(&p, (int64_t)vol->size_mb);
	pgp_text(&p, vol->layout);
	pgp_int(&p, now);
	rc = insert_id(s, "INSERT INTO volumes (vm_id, host, size_mb, layout, state, created_ms, "
			  "updated_ms) VALUES (NULL, $1, $2::bigint, $3, 'CREATING', $4::bigint, "
			  "$4::bigint) RETURNING id", &p, &vol_id);
	if (rc == 0) {
		p.n = 0;
		const char *text[] = { vm->name, vm->uuid, vm->host, vm->desired };
		for (int i = 0; i < 4; i++)
			pgp_text(&p, text[i]);
		pgp_int(&p, vm->vcpus);
		pgp_int(&p, vm->memory_mb);
		const char *text2[] = { vm->image, vm->kernel, vm->initrd, vm->append, vm->on_crash };
		for (int i = 0; i < 5; i++)
			pgp_text(&p, text2[i]);
		pgp_int(&p, vol_id);
		pgp_int(&p, now);
		rc = insert_id(s, "INSERT INTO vms (name, uuid, host, desired, state, vcpus, "
				  "memory_mb, image, kernel, initrd, append, on_crash, volume_id, "
				  "created_ms, updated_ms, state_since_ms) VALUES ($1, $2, $3, $4, "
				  "'CREATING', $5::int, $6::int, $7, $8, $9, $10, $11, $12::bigint, "
				  "$13::bigint, $13::bigint, $13::bigint) RETURNING id", &p, &vm_id);
		if (rc == -EEXIST)
			store_fail(s, rc, "a VM named '%s' exists", vm->name);
	}
	if (rc == 0) {
		p.n = 0;
		pgp_int(&p, vm_id);
		pgp_int(&p, vol_id);
		rc = pgq(s, "UPDATE volumes SET vm_id = $1::bigint WHERE id = $2::bigint", &p, NULL);
	}
	if (rc < 0) {
		pgc_rollback(s, pg(s));         /* nothing half-created */
		return rc;
	}
	if ((rc = pgc_commit(s, pg(s))) < 0)
		return rc;
	vm->id = vm_id;
	vm->volume_id = vol_id;
	vol->id = vol_id;
	vol->vm_id = vm_id;
	return 0;
}

static int one_vm(struct store *s, const char *sql, struct pg_params *p, struct store_vm *out,
		  const char *name, int64_t id, bool ever)
{
	PGresult *r;
	int rc = pgq(s, sql, p, &r);
	if (rc)
		return rc;
	if (PQntuples(r) > 0)
		read_vm(r, 0, out);
	else if (ever)
		rc = store_fail(s, -ENOENT, "no VM was ever named '%s'", name);
	else
		rc = name ? store_fail(s, -ENOENT, "no VM named '%s'", name)
			  : store_fail(s, -ENOENT, "no VM %lld", (long long)id);
	PQclear(r);
	return rc;
}

static int pg_vm_get(struct store *s, int64_t id, const char *name, struct store_vm *out)
{
	struct pg_params p = { .n = 0 };
	if (name) {
		pgp_text(&p, name);
		return one_vm(s, "SELECT " VM_COLUMNS " FROM vms WHERE name = $1 AND "
				 "state != 'TERMINATED'", &p, out, name, 0, false);
	}
	pgp_int(&p, id);
	return one_vm(s, "SELECT " VM_COLUMNS " FROM vms WHERE id = $1::bigint", &p, out, NULL,
		      id, false);
}

static int pg_vm_latest(struct store *s, const char *name, struct store_vm *out)
{
	struct pg_params p = { .n = 0 };
	pgp_text(&p, name);
	return one_vm(s, "SELECT " VM_COLUMNS " FROM vms WHERE name = $1 ORDER BY id DESC "
			 "LIMIT 1", &p, out, name, 0, true);
}

static int pg_vm_list(struct store *s, const char *host, bool include_terminated,
		      bool incoming, struct store_vm **out, size_t *n)
{
	struct pg_params p = { .n = 0 };
	pgp_text(&p, host);
	pgp_text(&p, include_terminated ? "true" : "false");
	pgp_text(&p, incoming ? "true" : "false");
	PGresult *r;
	*out = NULL;
	*n = 0;
	int rc = pgq(s, "SELECT " VM_COLUMNS " FROM vms WHERE ($1::text IS NULL OR host = $1 OR "
		      "($3::boolean AND migrate_to = $1)) AND ($2::boolean OR state != 'TERMINATED') "
		      "ORDER BY id", &p, &r);
	if (rc)
		return rc;
	return pg_rows_of(s, r, sizeof(**out), read_vm_item, (void **)out, n);
}

/* A terminated VM (desired or reached) stays terminated: the guard is in the UPDATE. */
static int pg_vm_set_desired(struct store *s, int64_t id, const char *desired, bool bump)
{
	struct pg_params p = { .n = 0 };
	pgp_text(&p, desired);
	pgp_int(&p, bump ? 1 : 0);
	pgp_int(&p, wall_ms());
	pgp_int(&p, id);
	PGresult *r;
	int rc = pgq(s, "UPDATE vms SET desired = $1, generation = generation + $2::int, "
		      "updated_ms = $3::bigint WHERE id = $4::bigint AND ($1 = 'TERMINATED' OR "
		      "(desired != 'TERMINATED' AND state != 'TERMINATED'))", &p, &r);
	if (rc)
		return rc;
	bool changed = strcmp(PQcmdTuples(r), "0") != 0;
	PQclear(r);
	if (changed)
		return 0;
	struct store_vm vm;
	if ((rc = pg_vm_get(s, id, NULL, &vm)))
		return rc;
	return store_fail(s, -EPERM, "vm %lld is terminated (desired %s, state %s): it cannot "
			  "be set to %s", (long long)id, vm.desired, vm.state, desired);
}

/* A report guarded by its host: none changed is -ESTALE when the VM is another host's. */
static int reported(struct store *s, PGresult *r, int64_t id, const char *host)
{
	if (!host || strcmp(PQcmdTuples(r), "0"))
		return pg_changed_or_missing(s, r, id, "VM");
	PQclear(r);
	struct store_vm vm;
	int rc = pg_vm_get(s, id, NULL, &vm);
	return rc ? rc : store_fail(s, -ESTALE, "vm %lld is on host %s, not %s: report dropped",
				    (long long)id, vm.host, host);
}

static int pg_vm_report(struct store *s, int64_t id, const char *host, const char *state,
			const char *reason, int pid)
{
	struct pg_params p = { .n = 0 };
	pgp_text(&p, state);
	pgp_int(&p, wall_ms());
	pgp_text(&p, reason);
	pgp_int(&p, pid);
	pgp_int(&p, id);
	pgp_text(&p, host);
	PGresult *r;
	int rc = pgq(s, "UPDATE vms SET state_since_ms = CASE WHEN state = $1 THEN state_since_ms "
		      "ELSE $2::bigint END, state = $1, reason = $3, pid = $4::int, updated_ms = "
		      "$2::bigint WHERE id = $5::bigint AND ($6::text IS NULL OR host = $6)", &p, &r);
	return rc ? rc : reported(s, r, id, host);
}

static int pg_vm_report_disk(struct store *s, int64_t id, const char *host, const char *disk,
			     int64_t since_ms)
{
	struct pg_params p = { .n = 0 };
	pgp_text(&p, disk);
	pgp_int(&p, since_ms);
	pgp_int(&p, id);
	pgp_text(&p, host);
	PGresult *r;
	int rc = pgq(s, "UPDATE vms SET disk = $1, disk_since_ms = $2::bigint WHERE id = $3::bigint "
		      "AND ($4::text IS NULL OR host = $4)", &p, &r);
	return rc ? rc : reported(s, r, id, host);
}

/* ---------------------------------------------------------------- volumes */

#define VOLUME_COLUMNS "id, coalesce(vm_id, 0), host, size_mb, layout, state, export_path, " \
		       "error, created_ms, updated_ms, mig_host, mig_state, mig_export_path"

static void read_volume(const PGresult *r, int row, struct store_volume *v)
{
	memset(v, 0, sizeof(*v));
	v->id = pg_col_int(r, row, 0);
	v->vm_id = pg_col_int(r, row, 1);
	pg_col_text(v->host, sizeof(v->host), r, row, 2);
	v->size_mb = (uint64_t)pg_col_int(r, row, 3);
	pg_col_text(v->layout, sizeof(v->layout), r, row, 4);
	pg_col_text(v->state, sizeof(v->state), r, row, 5);
	pg_col_text(v->export_path, sizeof(v->export_path), r, row, 6);
	pg_col_text(v->error, sizeof(v->error), r, row, 7);
	v->created_ms = pg_col_int(r, row, 8);
	v->updated_ms = pg_col_int(r, row, 9);
	pg_col_text(v->mig_host, sizeof(v->mig_host), r, row, 10);
	pg_col_text(v->mig_state, sizeof(v->mig_state), r, row, 11);
	pg_col_text(v->mig_export_path, sizeof(v->mig_export_path), r, row, 12);
}

static void read_volume_item(const PGresult *r, int row, void *item)
{
	read_volume(r, row, item);
}

static int pg_volume_get(struct store *s, int64_t id, struct store_volume *out)
{
	struct pg_params p = { .n = 0 };
	pgp_int(&p, id);
	PGresult *r;
	int rc = pgq(s, "SELECT " VOLUME_COLUMNS " FROM volumes WHERE id = $1::bigint", &p, &r);
	if (rc)
		return rc;
	if (PQntuples(r) > 0)
		read_volume(r, 0, out);
	else
		rc = store_fail(s, -ENOENT, "no volume %lld", (long long)id);
	PQclear(r);
	return rc;
}

static int pg_volume_list(struct store *s, const char *host, bool include_deleted,
			  bool incoming, struct store_volume **out, size_t *n)
{
	struct pg_params p = { .n = 0 };
	pgp_text(&p, host);
	pgp_text(&p, include_deleted ? "true" : "false");
	pgp_text(&p, incoming ? "true" : "false");
	PGresult *r;
	*out = NULL;
	*n = 0;
	int rc = pgq(s, "SELECT " VOLUME_COLUMNS " FROM volumes WHERE ($1::text IS NULL OR "
		      "host = $1 OR ($3::boolean AND mig_host = $1)) AND ($2::boolean OR "
		      "state != 'DELETED') ORDER BY id", &p, &r);
	if (rc)
		return rc;
	return pg_rows_of(s, r, sizeof(**out), read_volume_item, (void **)out, n);
}

static int pg_volume_report(struct store *s, int64_t id, const char *state,
			    const char *export_path, const char *error)
{
	struct pg_params p = { .n = 0 };
	pgp_text(&p, state);
	pgp_text(&p, export_path);
	pgp_text(&p, error);
	pgp_int(&p, wall_ms());
	pgp_int(&p, id);
	PGresult *r;
	int rc = pgq(s, "UPDATE volumes SET state = $1, export_path = COALESCE($2, export_path), "
		      "error = COALESCE($3, error), updated_ms = $4::bigint WHERE id = $5::bigint",
		   &p, &r);
	return rc ? rc : pg_changed_or_missing(s, r, id, "volume");
}

/* ---------------------------------------------------------------- events, hosts */

static int pg_event_add(struct store *s, const struct store_event *ev)
{
	struct pg_params p = { .n = 0 };
	pgp_int(&p, ev->time_ms);
	pgp_text(&p, ev->host);
	pgp_text(&p, ev->component);
	pgp_int(&p, ev->vm_id);
	pgp_text(&p, ev->level);
	pgp_text(&p, ev->message);
	return pgq(s, "INSERT INTO events (time_ms, host, component, vm_id, level, message) "
		    "VALUES ($1::bigint, $2, $3, $4::bigint, $5, $6)", &p, NULL);
}

static int pg_event_list(struct store *s, int64_t after_id, int64_t vm_id, size_t limit,
			 struct store_event **out, size_t *n)
{
	struct pg_params p = { .n = 0 };
	pgp_int(&p, after_id);
	pgp_int(&p, vm_id);
	pgp_int(&p, (int64_t)limit);
	*n = 0;
	if (!(*out = calloc(limit ? limit : 1, sizeof(**out))))
		return store_fail(s, -ENOMEM, "out of memory");
	PGresult *r;
	int rc = pgq(s, "SELECT id, time_ms, host, component, vm_id, level, message FROM "
		      "(SELECT * FROM events WHERE id > $1::bigint AND ($2::bigint = 0 OR "
		      "vm_id = $2::bigint) ORDER BY id DESC LIMIT $3::bigint) AS e ORDER BY id",
		   &p, &r);
	if (rc)
		return rc;
	for (int i = 0; i < PQntuples(r) && *n < limit; i++) {
		struct store_event *e = &(*out)[(*n)++];
		e->id = pg_col_int(r, i, 0);
		e->time_ms = pg_col_int(r, i, 1);
		pg_col_text(e->host, sizeof(e->host), r, i, 2);
		pg_col_text(e->component, sizeof(e->component), r, i, 3);
		e->vm_id = pg_col_int(r, i, 4);
		pg_col_text(e->level, sizeof(e->level), r, i, 5);
		pg_col_text(e->message, sizeof(e->message), r, i, 6);
	}
	PQclear(r);
	return 0;
}

/* ---------------------------------------------------------------- meta */

static int pg_meta_get(struct store *s, const char *key, char *out, size_t len)
{
	struct pg_params p = { .n = 0 };
	pgp_text(&p, key);
	PGresult *r;
	int rc = pgq(s, "SELECT value FROM meta WHERE key = $1", &p, &r);
	if (rc)
		return rc;
	if (PQntuples(r) > 0)
		pg_col_text(out, len, r, 0, 0);
	else
		rc = store_fail(s, -ENOENT, "no %s in the store", key);
	PQclear(r);
	return rc;
}

static int pg_meta_init(struct store *s, const char *key, const char *value, char *out,
			size_t len)
{
	struct pg_params p = { .n = 0 };
	pgp_text(&p, key);
	pgp_text(&p, value);
	int rc = pgq(s, "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
		   &p, NULL);
	return rc ? rc : pg_meta_get(s, key, out, len);
}

const struct store_backend store_pg_backend = {
	.name = "postgresql",
	.claims = pg_claims,
	.open = pg_open,
	.close = pg_close,
	.vm_create = pg_vm_create,
	.vm_get = pg_vm_get,
	.vm_latest = pg_vm_latest,
	.vm_list = pg_vm_list,
	.vm_set_desired = pg_vm_set_desired,
	.vm_report = pg_vm_report,
	.vm_report_disk = pg_vm_report_disk,
	.volume_get = pg_volume_get,
	.volume_list = pg_volume_list,
	.volume_report = pg_volume_report,
	.event_add = pg_event_add,
	.event_list = pg_event_list,
	.host_seen = pg_host_seen,
	.host_register = pg_host_register,
	.host_list = pg_host_list,
	.migrate_request = pg_migrate_request,
	.migration_phase = pg_migration_phase,
	.migration_uri = pg_migration_uri,
	.migration_finish = pg_migration_finish,
	.volume_report_incoming = pg_volume_report_incoming,
	.meta_get = pg_meta_get,
	.meta_init = pg_meta_init,
	.rows = pg_rows,
	.copy_begin = pg_copy_begin,
	.copy_row = pg_copy_row,
	.copy_end = pg_copy_end,
};
