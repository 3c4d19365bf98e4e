/* store_pg_util.c — statement helpers of the PostgreSQL back end (store_pg_util.h): text
 * parameters, one statement under the connection's deadline, columns as numbers and text,
 * a list query's rows into an array. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_pg_util.h"


void pgp_text(struct pg_params *p, const char *v)
{
	p->v[p->n++] = v;
}

void pgp_int(struct pg_params *p, int64_t x)
{
	snprintf(p->buf[p->n], sizeof(p->buf[p->n]), "%" PRId64, x);
	p->v[p->n] = p->buf[p->n];
	p->n++;
}

int pgq(struct store *s, const char *sql, struct pg_params *p, PGresult **res)
{
	return pgc_exec(s, pg(s), sql, p ? p->n : 0, p ? p->v : NULL, res);
}

int64_t pg_col_int(const PGresult *r, int row, int col)
{
	return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

void pg_col_text(char *dst, size_t size, const PGresult *r, int row, int col)
{
	snprintf(dst, size, "%s", PQgetvalue(r, row, col));
}

/* 0 when the statement of r changed a row, else -ENOENT naming what. */
int pg_changed_or_missing(struct store *s, PGresult *r, int64_t id, const char *what)
{
	int rc = strcmp(PQcmdTuples(r), "0") ? 0
		 : store_fail(s, -ENOENT, "no %s %lld", what, (long long)id);
	PQclear(r);
	return rc;
}

/* A list query's rows into *out (calloc'd, elem bytes each) by read(row); r is cleared. */
int pg_rows_of(struct store *s, PGresult *r, size_t elem,
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
