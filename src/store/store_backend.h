/* store_backend.h — what a store back end implements (store_sqlite.c, store_pg.c). store.c
 * dispatches the public calls of store.h here. Layering, bottom up: store_error.c
 * (store_fail) and store_migrations.c (the schema, one text per back end) < the back ends <
 * store_backends.c (the table of back ends, by URL) < store.c; no file calls up. */
#ifndef BERTH_STORE_BACKEND_H
#define BERTH_STORE_BACKEND_H

#include "store.h"

/* Placement, called by a back end inside a create's transaction (store_placement.c's
 * store_place_choose, through store.c): hosts with their usage as that transaction sees it. */
struct store_placer {
	int (*choose)(struct store *s, const struct store_host *hosts, size_t n,
		      struct store_vm *vm, const struct store_place *how);
	const struct store_place *how;
};

int store_place_choose(struct store *s, const struct store_host *hosts, size_t n,
		       struct store_vm *vm, const struct store_place *how);

/* The placer's turn in a back end's create: the hosts as listed in its transaction. */
static inline int store_placer_run(struct store *s, const struct store_placer *p,
				   const struct store_host *hosts, size_t n, struct store_vm *vm)
{
	return p->choose(s, hosts, n, vm, p->how);
}

/* One row of a table as text (values[i] NULL for SQL NULL), in the table's column order. */
typedef int (*store_row_fn)(void *ctx, int ncols, const char *const *names,
			    const char *const *values);

struct store_backend {
	const char *name;       /* its URL scheme: "<name>:<location>" */
	/* Optional: true when the back end takes url whole (its location is then url itself),
	 * e.g. PostgreSQL's "postgresql://..." and "service=..."; asked before the scheme. */
	bool (*claims)(const char *url);
	/* create: make a new, empty store when there is none; else -ENOENT for a missing one */
	int (*open)(struct store *s, const char *location, bool create);
	void (*close)(struct store *s);
	/* placer NULL: on vm->host as given. Else in the same transaction, with every host row
	 * locked against other creates: placer->choose sets (or checks) vm->host first. */
	int (*vm_create)(struct store *s, struct store_vm *vm, struct store_volume *vol,
			 const struct store_placer *placer);
	int (*vm_get)(struct store *s, int64_t id, const char *name, struct store_vm *out);
	/* the highest id named name, terminated or not */
	int (*vm_latest)(struct store *s, const char *name, struct store_vm *out);
	/* incoming: also the VMs migrating to host */
	int (*vm_list)(struct store *s, const char *host, bool include_terminated, bool incoming,
		       struct store_vm **out, size_t *n);
	int (*vm_set_desired)(struct store *s, int64_t id, const char *desired, bool bump);
	/* host non-NULL: only while the VM is host's (else -ESTALE, nothing changed) */
	int (*vm_report)(struct store *s, int64_t id, const char *host, const char *state,
			 const char *reason, int pid);
	int (*vm_report_disk)(struct store *s, int64_t id, const char *host, const char *disk,
			      int64_t since_ms);
	int (*volume_get)(struct store *s, int64_t id, struct store_volume *out);
	/* incoming: also the volumes exported on host for a migration (mig_host) */
	int (*volume_list)(struct store *s, const char *host, bool include_deleted,
			   bool incoming, struct store_volume **out, size_t *n);
	int (*volume_report)(struct store *s, int64_t id, const char *state,
			     const char *export_path, const char *error);
	int (*event_add)(struct store *s, const struct store_event *ev);
	int (*event_list)(struct store *s, int64_t after_id, int64_t vm_id, size_t limit,
			  struct store_event **out, size_t *n);
	int (*host_seen)(struct store *s, const char *host);
	int (*host_register)(struct store *s, const struct store_host *h);
	/* name NULL: every host */
	int (*host_list)(struct store *s, const char *name, struct store_host **out, size_t *n);
	int (*migrate_request)(struct store *s, int64_t id, const char *to);
	int (*migration_phase)(struct store *s, int64_t id, const char *to, const char *phase,
			       int64_t since_ms, const char *info, const char *error, bool clear_to);
	int (*migration_uri)(struct store *s, int64_t id, const char *host, const char *uri);
	int (*migration_finish)(struct store *s, int64_t id, const char *host,
				const char *final_phase);
	int (*volume_report_incoming)(struct store *s, int64_t id, const char *host,
				      const char *state, const char *export_path);
	/* The store's meta table: meta_get -ENOENT for a missing key; meta_init sets key only
	 * when it has no value yet (the first writer wins) and reads back the value kept. */
	int (*meta_get)(struct store *s, const char *key, char *out, size_t len);
	int (*meta_init)(struct store *s, const char *key, const char *value, char *out,
			 size_t len);
	/* A whole store copied (store_copy.c): every row of table, in key order; and, on the
	 * destination, one transaction (copy_begin locks the tables against writers) that
	 * inserts rows as they are (ids kept) and, at copy_end with commit, makes the next
	 * generated ids follow the copied ones. */
	int (*rows)(struct store *s, const char *table, store_row_fn fn, void *ctx);
	int (*copy_begin)(struct store *s);
	int (*copy_row)(struct store *s, const char *table, int n, const char *const *names,
			const char *const *values);
	int (*copy_end)(struct store *s, bool commit);
};

/* The copy operations of each back end (store_sqlite_copy.c, store_pg_copy.c). */
int sq_rows(struct store *s, const char *table, store_row_fn fn, void *ctx);
int sq_copy_begin(struct store *s);
int sq_copy_row(struct store *s, const char *table, int n, const char *const *names,
		const char *const *values);
int sq_copy_end(struct store *s, bool commit);
int pg_rows(struct store *s, const char *table, store_row_fn fn, void *ctx);
int pg_copy_begin(struct store *s);
int pg_copy_row(struct store *s, const char *table, int n, const char *const *names,
		const char *const *values);
int pg_copy_end(struct store *s, bool commit);

/* Every host (or the one named by parameter P, "?1" or "$1::text"; NULL: all) with what its
 * live VMs take: the same statement in both dialects. */
#define HOST_LIST_SQL(P) \
	"SELECT h.name, h.vcpus, h.memory_mb, h.registered_ms, h.seen_ms, count(v.id), " \
	"coalesce(sum(v.vcpus), 0), coalesce(sum(v.memory_mb), 0), h.max_memory_mb, " \
	"h.max_vcpus, h.memory_backend FROM hosts h LEFT JOIN vms v " \
	"ON v.host = h.name AND v.state != 'TERMINATED' WHERE (" P " IS NULL OR h.name = " P ") " \
	"GROUP BY h.name, h.vcpus, h.memory_mb, h.registered_ms, h.seen_ms, h.max_memory_mb, " \
	"h.max_vcpus, h.memory_backend ORDER BY h.name"

struct store {
	const struct store_backend *ops;
	void *impl;
	int timeout_ms;         /* a networked back end's deadline of one call (store.h) */
	char error[512];
};

/* Records the reason of a failure and returns rc (store_error.c). */
int store_fail(struct store *s, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Every back end, NULL-terminated (store_backends.c); the first one also opens a plain path
 * (a URL without a scheme). To add one, define it in its own file and list it there. */
extern const struct store_backend *const store_backends[];

extern const struct store_backend store_sqlite_backend;
extern const struct store_backend store_pg_backend;

#endif
