/* store_sqlite_util.h — statement helpers of the SQLite back end: each failure recorded in the
 * store's error (store_fail) as a negative errno: -EBUSY (locked past the busy timeout),
 * -EEXIST (a constraint), -EIO. */
#ifndef BERTH_STORE_SQLITE_UTIL_H
#define BERTH_STORE_SQLITE_UTIL_H

#include <stddef.h>
#include <sqlite3.h>

#include "store_backend.h"

sqlite3 *sq_db(struct store *s);
int sq_sql_fail(struct store *s, const char *what);
/* Runs sql (no rows). */
int sq_exec(struct store *s, const char *sql);
int sq_prepare(struct store *s, const char *sql, sqlite3_stmt **st);
/* Runs a statement that returns no row, and finalizes it. */
int sq_step_done(struct store *s, sqlite3_stmt *st, const char *what);
void sq_copy_text(char *dst, size_t size, sqlite3_stmt *st, int col);

/* SQLite: hosts and migrations (store_sqlite_fleet.c), in store_sqlite_backend's table. */
int sq_host_register(struct store *s, const struct store_host *h);
int sq_host_list(struct store *s, const char *name, struct store_host **out, size_t *n);
int sq_migrate_request(struct store *s, int64_t id, const char *to);
int sq_migration_phase(struct store *s, int64_t id, const char *to, const char *phase,
		       int64_t since_ms, const char *info, const char *error, bool clear_to);
int sq_migration_uri(struct store *s, int64_t id, const char *host, const char *uri);
int sq_migration_finish(struct store *s, int64_t id, const char *host,
			const char *final_phase);
int sq_volume_report_incoming(struct store *s, int64_t id, const char *host,
			      const char *state, const char *export_path);


#endif
