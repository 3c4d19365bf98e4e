/* store_pg_util.h — statement helpers of the PostgreSQL back end (store_pg_util.c), shared by
 * store_pg.c and store_pg_fleet.c; each failure recorded in the store's error (store_fail) as
 * a negative errno, as store_pg_conn.h says. */
#ifndef BERTH_STORE_PG_UTIL_H
#define BERTH_STORE_PG_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store_pg_conn.h"

static inline struct pgc *pg(struct store *s)
{
	return s->impl;
}

/* Text parameters, numbers formatted in place. */

struct pg_params {
	const char *v[20];
	char buf[20][24];
	int n;
};

void pgp_text(struct pg_params *p, const char *v);
void pgp_int(struct pg_params *p, int64_t x);
/* One statement with p's parameters (p may be NULL); *res (res not NULL) to PQclear. */
int pgq(struct store *s, const char *sql, struct pg_params *p, PGresult **res);
int64_t pg_col_int(const PGresult *r, int row, int col);
void pg_col_text(char *dst, size_t size, const PGresult *r, int row, int col);
/* 0 when the statement of r changed a row, else -ENOENT naming what; r is cleared. */
int pg_changed_or_missing(struct store *s, PGresult *r, int64_t id, const char *what);
/* A list query's rows into *out (calloc'd, elem bytes each) by read(row); r is cleared. */
int pg_rows_of(struct store *s, PGresult *r, size_t elem,
	       void (*read)(const PGresult *r, int row, void *item), void **out, size_t *n);

/* PostgreSQL: hosts and migrations (store_pg_fleet.c), in store_pg_backend's table. */
int pg_host_seen(struct store *s, const char *host);
int pg_host_register(struct store *s, const struct store_host *h);
int pg_host_list(struct store *s, const char *name, struct store_host **out, size_t *n);
int pg_migrate_request(struct store *s, int64_t id, const char *to);
int pg_migration_phase(struct store *s, int64_t id, const char *to, const char *phase,
		       int64_t since_ms, const char *info, const char *error, bool clear_to);
int pg_migration_uri(struct store *s, int64_t id, const char *host, const char *uri);
int pg_migration_finish(struct store *s, int64_t id, const char *host,
		        const char *final_phase);
int pg_volume_report_incoming(struct store *s, int64_t id, const char *host,
			      const char *state, const char *export_path);

#endif
