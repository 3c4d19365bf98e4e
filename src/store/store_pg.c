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
#include "store_pg_conn.h"

/* pg_advisory_xact_lock's key for migrations: "berth" in ASCII */
#define MIGRATION_LOCK "426572746"

static struct pgc *pg(struct store *s)
{
	return s->impl;
}

/* Text parameters, numbers formatted in place. */
struct params {
	const char *v[20];
	char buf[20][24];
	int n;
};

static void p_text(struct params *p, const char *v)
{
	p->v[p->n++] = v;
}

static void p_int(struct params *p, int64_t x)
{
	snprintf(p->buf[p->n], sizeof(p->buf[p->n]), "%" PRId64, x);
	p->v[p->n] = p->buf[p->n];
	p->n++;
}

static int q(struct store *s, const char *sql, struct params *p, PGresult **res)
{
	return pgc_exec(s, pg(s), sql, p ? p->n : 0, p ? p->v : NULL, res);
}

static int64_t col_int(const PGresult *r, int row, int col)
{
	return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static void col_text(char *dst, size_t size, const PGresult *r, int row, int col)
{
	snprintf(dst, size, "%s", PQgetvalue(r, row, col));
}

/* 0 when the statement of r changed a row, else -ENOENT naming what. */
static int changed_or_missing(struct store *s, PGresult *r, int64_t id, const char *what)
{
	int rc = strcmp(PQcmdTuples(r), "0") ? 0
		 : store_fail(s, -ENOENT, "no %s %lld", what, (long long)id);
	PQclear(r);
	return rc;
}

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
	struct params p = { .n = 0 };
	p_int(&p, (int64_t)store_n_migrations);
	PGresult *r;
	int rc = q(s, "SELECT count(*) FILTER (WHERE version BETWEEN 1 AND $1::int), "
		      "coalesce(max(version), 0) FROM schema_migrations", &p, &r);
	if (rc)
		return rc;
	*applied = col_int(r, 0, 0);
	int64_t newest = col_int(r, 0, 1);
	PQclear(r);
	if (newest > (int64_t)store_n_migrations)
		return store_fail(s, -EPROTO, "the store's schema is version %lld, newer than this "
				  "berth's (%zu): upgrade berth", (long long)newest,
				  store_n_migrations);
	return 0;
}

static int apply_missing(struct store *s)
{
	int rc = q(s, "SELECT pg_advisory_xact_lock(" MIGRATION_LOCK ")", NULL, NULL);
	if (rc == 0)
		rc = q(s, "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY "
			  "KEY, applied_ms BIGINT NOT NULL)", NULL, NULL);
	int64_t applied;
	if (rc == 0)
		rc = read_versions(s, &applied);
	for (size_t n = 1; rc == 0 && n <= store_n_migrations; n++) {
		struct params p = { .n = 0 };
		p_int(&p, (int64_t)n);
		PGresult *r;
		if ((rc = q(s, "SELECT 1 FROM schema_migrations WHERE version = $1::int", &p, &r)))
			break;
		bool have = PQntuples(r) > 0;
		PQclear(r);
		if (have)
			continue;
		if ((rc = q(s, store_migrations[n - 1].postgresql, NULL, NULL))) {
			char msg[sizeof(s->error)];
			snprintf(msg, sizeof(msg), "%s", s->error);
			store_fail(s, rc, "migration %zu (%s): %.300s", n, store_migrations[n - 1].what,
				   msg);
			break;
		}
		p_int(&p, wall_ms());
		rc = q(s, "INSERT INTO schema_migrations VALUES ($1::int, $2::bigint)", &p, NULL);
	}
	return rc;
}

/* Every migration not applied yet, all in one transaction under the advisory lock: a
 * second host opening at the same moment waits for it, then finds nothing to do. */
static int migrate(struct store *s, bool create)
{
	PGresult *r;
	int rc = q(s, "SELECT to_regclass('schema_migrations') IS NOT NULL", NULL, &r);
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
	v->id = col_int(r, row, 0);
	col_text(v->name, sizeof(v->name), r, row, 1);
	col_text(v->uuid, sizeof(v->uuid), r, row, 2);
	col_text(v->host, sizeof(v->host), r, row, 3);
	col_text(v->desired, sizeof(v->desired), r, row, 4);
	col_text(v->state, sizeof(v->state), r, row, 5);
	v->vcpus = (unsigned)col_int(r, row, 6);
	v->memory_mb = (unsigned)col_int(r, row, 7);
	col_text(v->image, sizeof(v->image), r, row, 8);
	col_text(v->kernel, sizeof(v->kernel), r, row, 9);
	col_text(v->initrd, sizeof(v->initrd), r, row, 10);
	col_text(v->append, sizeof(v->append), r, row, 11);
	col_text(v->on_crash, sizeof(v->on_crash), r, row, 12);
	v->volume_id = col_int(r, row, 13);
	v->generation = (uint64_t)col_int(r, row, 14);
	col_text(v->reason, sizeof(v->reason), r, row, 15);
	v->pid = (int)col_int(r, row, 16);
	v->created_ms = col_int(r, row, 17);
	v->updated_ms = col_int(r, row, 18);
	v->state_since_ms = col_int(r, row, 19);
	col_text(v->disk, sizeof(v->disk), r, row, 20);
	v->disk_since_ms = col_int(r, row, 21);
	struct store_vm_migration *m = &v->mig;
	col_text(m->to, sizeof(m->to), r, row, 22);
	col_text(m->phase, sizeof(m->phase), r, row, 23);
	m->started_ms = col_int(r, row, 24);
	m->since_ms = col_int(r, row, 25);
	col_text(m->uri, sizeof(m->uri), r, row, 26);
	col_text(m->info, sizeof(m->info), r, row, 27);
	col_text(m->error, sizeof(m->error), r, row, 28);
}

/* A list query's rows into *out (calloc'd, elem bytes each) by read(row); r is cleared. */
static int rows_of(struct store *s, PGresult *r, size_t elem,
		   void (*read)(const PGresult *r, int row, void *item), void **out, size_t *n)
{
	size_t rows = (size_t)PQntuples(r);
	char *items = rows ? calloc(rows, elem) : NULL;
	if (rows && !items) {
		PQclear(r);
		return store_fail(s, -ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < rows; i++)
		read(r, (int)i, items + i * elem);
	PQclear(r);
	*out = items;
	*n = rows;
	return 0;
}

static void read_vm_item(const PGresult *r, int row, void *item)
{
	read_vm(r, row, item);
}


static int insert_id(struct store *s, const char *sql, struct params *p, int64_t *id)
{
	PGresult *r;
	int rc = q(s, sql, p, &r);
	if (rc)
		return rc;
	*id = col_int(r, 0, 0);
	PQclear(r);
	return 0;
}

static int pg_host_list(struct store *s, const char *name, struct store_host **out, size_t *n);

/* The placer's choice under row locks on every host (in name order, so two placements never
 * deadlock): a second create waits here until the first commits, then reads the usage that
 * includes its VM (READ COMMITTED: each statement sees what was committed before it). */
static int pg_place(struct store *s, const struct store_placer *placer, struct store_vm *vm)
{
	int rc = q(s, "SELECT name FROM hosts ORDER BY name FOR UPDATE", NULL, NULL);
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
	struct params p = { .n = 0 };
	p_text(&p, vm->host);
	p_int(&p, (int64_t)vol->size_mb);
	p_text(&p, vol->layout);
	p_int(&p, now);
	rc = insert_id(s, "INSERT INTO volumes (vm_id, host, size_mb, layout, state, created_ms, "
			  "updated_ms) VALUES (NULL, $1, $2::bigint, $3, 'CREATING', $4::bigint, "
			  "$4::bigint) RETURNING id", &p, &vol_id);
	if (rc == 0) {
		p.n = 0;
		const char *text[] = { vm->name, vm->uuid, vm->host, vm->desired };
		for (int i = 0; i < 4; i++)
			p_text(&p, text[i]);
		p_int(&p, vm->vcpus);
		p_int(&p, vm->memory_mb);
		const char *text2[] = { vm->image, vm->kernel, vm->initrd, vm->append, vm->on_crash };
		for (int i = 0; i < 5; i++)
			p_text(&p, text2[i]);
		p_int(&p, vol_id);
		p_int(&p, now);
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
		p_int(&p, vm_id);
		p_int(&p, vol_id);
		rc = q(s, "UPDATE volumes SET vm_id = $1::bigint WHERE id = $2::bigint", &p, NULL);
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

static int one_vm(struct store *s, const char *sql, struct params *p, struct store_vm *out,
		  const char *name, int64_t id, bool ever)
{
	PGresult *r;
	int rc = q(s, sql, p, &r);
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
	struct params p = { .n = 0 };
	if (name) {
		p_text(&p, name);
		return one_vm(s, "SELECT " VM_COLUMNS " FROM vms WHERE name = $1 AND "
				 "state != 'TERMINATED'", &p, out, name, 0, false);
	}
	p_int(&p, id);
	return one_vm(s, "SELECT " VM_COLUMNS " FROM vms WHERE id = $1::bigint", &p, out, NULL,
		      id, false);
}

static int pg_vm_latest(struct store *s, const char *name, struct store_vm *out)
{
	struct params p = { .n = 0 };
	p_text(&p, name);
	return one_vm(s, "SELECT " VM_COLUMNS " FROM vms WHERE name = $1 ORDER BY id DESC "
			 "LIMIT 1", &p, out, name, 0, true);
}

static int pg_vm_list(struct store *s, const char *host, bool include_terminated,
		      bool incoming, struct store_vm **out, size_t *n)
{
	struct params p = { .n = 0 };
	p_text(&p, host);
	p_text(&p, include_terminated ? "true" : "false");
	p_text(&p, incoming ? "true" : "false");
	PGresult *r;
	*out = NULL;
	*n = 0;
	int rc = q(s, "SELECT " VM_COLUMNS " FROM vms WHERE ($1::text IS NULL OR host = $1 OR "
		      "($3::boolean AND migrate_to = $1)) AND ($2::boolean OR state != 'TERMINATED') "
		      "ORDER BY id", &p, &r);
	if (rc)
		return rc;
	return rows_of(s, r, sizeof(**out), read_vm_item, (void **)out, n);
}

/* A terminated VM (desired or reached) stays terminated: the guard is in the UPDATE. */
static int pg_vm_set_desired(struct store *s, int64_t id, const char *desired, bool bump)
{
	struct params p = { .n = 0 };
	p_text(&p, desired);
	p_int(&p, bump ? 1 : 0);
	p_int(&p, wall_ms());
	p_int(&p, id);
	PGresult *r;
	int rc = q(s, "UPDATE vms SET desired = $1, generation = generation + $2::int, "
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
		return changed_or_missing(s, r, id, "VM");
	PQclear(r);
	struct store_vm vm;
	int rc = pg_vm_get(s, id, NULL, &vm);
	return rc ? rc : store_fail(s, -ESTALE, "vm %lld is on host %s, not %s: report dropped",
				    (long long)id, vm.host, host);
}

static int pg_vm_report(struct store *s, int64_t id, const char *host, const char *state,
			const char *reason, int pid)
{
	struct params p = { .n = 0 };
	p_text(&p, state);
	p_int(&p, wall_ms());
	p_text(&p, reason);
	p_int(&p, pid);
	p_int(&p, id);
	p_text(&p, host);
	PGresult *r;
	int rc = q(s, "UPDATE vms SET state_since_ms = CASE WHEN state = $1 THEN state_since_ms "
		      "ELSE $2::bigint END, state = $1, reason = $3, pid = $4::int, updated_ms = "
		      "$2::bigint WHERE id = $5::bigint AND ($6::text IS NULL OR host = $6)", &p, &r);
	return rc ? rc : reported(s, r, id, host);
}

static int pg_vm_report_disk(struct store *s, int64_t id, const char *host, const char *disk,
			     int64_t since_ms)
{
	struct params p = { .n = 0 };
	p_text(&p, disk);
	p_int(&p, since_ms);
	p_int(&p, id);
	p_text(&p, host);
	PGresult *r;
	int rc = q(s, "UPDATE vms SET disk = $1, disk_since_ms = $2::bigint WHERE id = $3::bigint "
		      "AND ($4::text IS NULL OR host = $4)", &p, &r);
	return rc ? rc : reported(s, r, id, host);
}

/* ---------------------------------------------------------------- volumes */

#define VOLUME_COLUMNS "id, coalesce(vm_id, 0), host, size_mb, layout, state, export_path, " \
		       "error, created_ms, updated_ms, mig_host, mig_state, mig_export_path"

static void read_volume(const PGresult *r, int row, struct store_volume *v)
{
	memset(v, 0, sizeof(*v));
	v->id = col_int(r, row, 0);
	v->vm_id = col_int(r, row, 1);
	col_text(v->host, sizeof(v->host), r, row, 2);
	v->size_mb = (uint64_t)col_int(r, row, 3);
	col_text(v->layout, sizeof(v->layout), r, row, 4);
	col_text(v->state, sizeof(v->state), r, row, 5);
	col_text(v->export_path, sizeof(v->export_path), r, row, 6);
	col_text(v->error, sizeof(v->error), r, row, 7);
	v->created_ms = col_int(r, row, 8);
	v->updated_ms = col_int(r, row, 9);
	col_text(v->mig_host, sizeof(v->mig_host), r, row, 10);
	col_text(v->mig_state, sizeof(v->mig_state), r, row, 11);
	col_text(v->mig_export_path, sizeof(v->mig_export_path), r, row, 12);
}

static void read_volume_item(const PGresult *r, int row, void *item)
{
	read_volume(r, row, item);
}

static int pg_volume_get(struct store *s, int64_t id, struct store_volume *out)
{
	struct params p = { .n = 0 };
	p_int(&p, id);
	PGresult *r;
	int rc = q(s, "SELECT " VOLUME_COLUMNS " FROM volumes WHERE id = $1::bigint", &p, &r);
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
	struct params p = { .n = 0 };
	p_text(&p, host);
	p_text(&p, include_deleted ? "true" : "false");
	p_text(&p, incoming ? "true" : "false");
	PGresult *r;
	*out = NULL;
	*n = 0;
	int rc = q(s, "SELECT " VOLUME_COLUMNS " FROM volumes WHERE ($1::text IS NULL OR "
		      "host = $1 OR ($3::boolean AND mig_host = $1)) AND ($2::boolean OR "
		      "state != 'DELETED') ORDER BY id", &p, &r);
	if (rc)
		return rc;
	return rows_of(s, r, sizeof(**out), read_volume_item, (void **)out, n);
}

static int pg_volume_report(struct store *s, int64_t id, const char *state,
			    const char *export_path, const char *error)
{
	struct params p = { .n = 0 };
	p_text(&p, state);
	p_text(&p, export_path);
	p_text(&p, error);
	p_int(&p, wall_ms());
	p_int(&p, id);
	PGresult *r;
	int rc = q(s, "UPDATE volumes SET state = $1, export_path = COALESCE($2, export_path), "
		      "error = COALESCE($3, error), updated_ms = $4::bigint WHERE id = $5::bigint",
		   &p, &r);
	return rc ? rc : changed_or_missing(s, r, id, "volume");
}

/* ---------------------------------------------------------------- events, hosts */

static int pg_event_add(struct store *s, const struct store_event *ev)
{
	struct params p = { .n = 0 };
	p_int(&p, ev->time_ms);
	p_text(&p, ev->host);
	p_text(&p, ev->component);
	p_int(&p, ev->vm_id);
	p_text(&p, ev->level);
	p_text(&p, ev->message);
	return q(s, "INSERT INTO events (time_ms, host, component, vm_id, level, message) "
		    "VALUES ($1::bigint, $2, $3, $4::bigint, $5, $6)", &p, NULL);
}

static int pg_event_list(struct store *s, int64_t after_id, int64_t vm_id, size_t limit,
			 struct store_event **out, size_t *n)
{
	struct params p = { .n = 0 };
	p_int(&p, after_id);
	p_int(&p, vm_id);
	p_int(&p, (int64_t)limit);
	*n = 0;
	if (!(*out = calloc(limit ? limit : 1, sizeof(**out))))
		return store_fail(s, -ENOMEM, "out of memory");
	PGresult *r;
	int rc = q(s, "SELECT id, time_ms, host, component, vm_id, level, message FROM "
		      "(SELECT * FROM events WHERE id > $1::bigint AND ($2::bigint = 0 OR "
		      "vm_id = $2::bigint) ORDER BY id DESC LIMIT $3::bigint) AS e ORDER BY id",
		   &p, &r);
	if (rc)
		return rc;
	for (int i = 0; i < PQntuples(r) && *n < limit; i++) {
		struct store_event *e = &(*out)[(*n)++];
		e->id = col_int(r, i, 0);
		e->time_ms = col_int(r, i, 1);
		col_text(e->host, sizeof(e->host), r, i, 2);
		col_text(e->component, sizeof(e->component), r, i, 3);
		e->vm_id = col_int(r, i, 4);
		col_text(e->level, sizeof(e->level), r, i, 5);
		col_text(e->message, sizeof(e->message), r, i, 6);
	}
	PQclear(r);
	return 0;
}

static int pg_host_seen(struct store *s, const char *host)
{
	struct params p = { .n = 0 };
	p_text(&p, host);
	p_int(&p, wall_ms());
	return q(s, "INSERT INTO hosts (name, registered_ms, seen_ms) VALUES ($1, $2::bigint, "
		    "$2::bigint) ON CONFLICT (name) DO UPDATE SET seen_ms = EXCLUDED.seen_ms", &p,
		 NULL);
}

static int pg_host_register(struct store *s, const struct store_host *h)
{
	struct params p = { .n = 0 };
	p_text(&p, h->name);
	p_int(&p, wall_ms());
	p_int(&p, h->vcpus);
	p_int(&p, (int64_t)h->memory_mb);
	p_int(&p, h->max_memory_mb);
	p_int(&p, h->max_vcpus);
	p_text(&p, h->memory_backend);
	return q(s, "INSERT INTO hosts (name, registered_ms, seen_ms, vcpus, memory_mb, "
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
	col_text(h->name, sizeof(h->name), r, row, 0);
	h->vcpus = (unsigned)col_int(r, row, 1);
	h->memory_mb = (uint64_t)col_int(r, row, 2);
	h->registered_ms = col_int(r, row, 3);
	h->seen_ms = col_int(r, row, 4);
	h->vms = (unsigned)col_int(r, row, 5);
	h->used_vcpus = (unsigned)col_int(r, row, 6);
	h->used_memory_mb = (uint64_t)col_int(r, row, 7);
	h->max_memory_mb = (unsigned)col_int(r, row, 8);
	h->max_vcpus = (unsigned)col_int(r, row, 9);
	col_text(h->memory_backend, sizeof(h->memory_backend), r, row, 10);
}

static int pg_host_list(struct store *s, const char *name, struct store_host **out, size_t *n)
{
	struct params p = { .n = 0 };
	p_text(&p, name);
	PGresult *r;
	*out = NULL;
	*n = 0;
	int rc = q(s, HOST_LIST_SQL("$1::text"), &p, &r);
	if (rc)
		return rc;
	return rows_of(s, r, sizeof(**out), read_host, (void **)out, n);
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

static int pg_migrate_request(struct store *s, int64_t id, const char *to)
{
	struct params p = { .n = 0 };
	p_text(&p, to);
	p_int(&p, wall_ms());
	p_int(&p, id);
	PGresult *r;
	int rc = q(s, "UPDATE vms SET migrate_to = $1, mig_phase = 'requested', "
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
	if ((rc = pg_vm_get(s, id, NULL, &vm)))
		return rc;
	if (vm.mig.to[0])
		return store_fail(s, -EBUSY, "vm %lld is already migrating to %s", (long long)id,
				  vm.mig.to);
	if (!strcmp(vm.host, to))
		return store_fail(s, -EINVAL, "vm %lld already runs on %s", (long long)id, to);
	return store_fail(s, -EPERM, "vm %lld is %s (desired %s), not RUNNING: only a running "
			  "VM migrates", (long long)id, vm.state, vm.desired);
}

static int pg_migration_phase(struct store *s, int64_t id, const char *to, const char *phase,
			      int64_t since_ms, const char *info, const char *error, bool clear_to)
{
	struct params p = { .n = 0 };
	p_text(&p, phase);
	p_int(&p, since_ms);
	p_text(&p, info);
	p_text(&p, error);
	p_text(&p, clear_to ? "true" : "false");
	p_int(&p, wall_ms());
	p_int(&p, id);
	p_text(&p, to);
	PGresult *r;
	int rc = q(s, "UPDATE vms SET mig_phase = $1, mig_since_ms = $2::bigint, "
		      "mig_info = COALESCE($3, mig_info), mig_error = COALESCE($4, mig_error), "
		      "migrate_to = CASE WHEN $5::boolean THEN '' ELSE migrate_to END, "
		      "updated_ms = $6::bigint WHERE id = $7::bigint AND migrate_to = $8 AND "
		      "$8 != ''", &p, &r);
	return rc ? rc : changed_or_stale(s, r, id, phase);
}

static int pg_migration_uri(struct store *s, int64_t id, const char *host, const char *uri)
{
	struct params p = { .n = 0 };
	p_text(&p, uri);
	p_int(&p, wall_ms());
	p_int(&p, id);
	p_text(&p, host);
	PGresult *r;
	int rc = q(s, "UPDATE vms SET mig_uri = $1, updated_ms = $2::bigint WHERE id = $3::bigint "
		      "AND migrate_to = $4 AND $4 != ''", &p, &r);
	return rc ? rc : changed_or_stale(s, r, id, "destination listening");
}

static int pg_migration_finish(struct store *s, int64_t id, const char *host,
			       const char *final_phase)
{
	int rc = pgc_begin(s, pg(s));
	if (rc)
		return rc;
	struct params p = { .n = 0 };
	p_text(&p, host);
	p_text(&p, final_phase);
	p_int(&p, wall_ms());
	p_int(&p, id);
	PGresult *r;
	rc = q(s, "UPDATE vms SET host = $1, migrate_to = '', mig_phase = $2, "
		  "mig_since_ms = $3::bigint, updated_ms = $3::bigint WHERE id = $4::bigint AND "
		  "migrate_to = $1 AND $1 != ''", &p, &r);
	if (rc == 0)
		rc = changed_or_stale(s, r, id, "finish");
	/* The volume follows: the export the destination made is now its export. */
	if (rc == 0) {
		struct params v = { .n = 0 };
		p_text(&v, host);
		p_int(&v, wall_ms());
		p_int(&v, id);
		rc = q(s, "UPDATE volumes SET host = $1, export_path = CASE WHEN mig_host = $1 "
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

static int pg_volume_report_incoming(struct store *s, int64_t id, const char *host,
				     const char *state, const char *export_path)
{
	struct params p = { .n = 0 };
	p_text(&p, host);
	p_text(&p, state);
	p_text(&p, export_path);
	p_int(&p, wall_ms());
	p_int(&p, id);
	PGresult *r;
	/* Only while the volume's VM migrates to host: a late report after the migration
	 * ended (or moved the volume to host) changes nothing. */
	int rc = q(s, "UPDATE volumes SET mig_host = CASE WHEN $2 = '' THEN '' ELSE $1 END, "
		      "mig_state = $2, mig_export_path = $3, updated_ms = $4::bigint "
		      "WHERE id = $5::bigint AND host != $1 AND vm_id IN (SELECT id FROM vms "
		      "WHERE migrate_to = $1)", &p, &r);
	return rc ? rc : changed_or_stale(s, r, id, "incoming export");
}

/* ---------------------------------------------------------------- meta */

static int pg_meta_get(struct store *s, const char *key, char *out, size_t len)
{
	struct params p = { .n = 0 };
	p_text(&p, key);
	PGresult *r;
	int rc = q(s, "SELECT value FROM meta WHERE key = $1", &p, &r);
	if (rc)
		return rc;
	if (PQntuples(r) > 0)
		col_text(out, len, r, 0, 0);
	else
		rc = store_fail(s, -ENOENT, "no %s in the store", key);
	PQclear(r);
	return rc;
}

static int pg_meta_init(struct store *s, const char *key, const char *value, char *out,
			size_t len)
{
	struct params p = { .n = 0 };
	p_text(&p, key);
	p_text(&p, value);
	int rc = q(s, "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
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
