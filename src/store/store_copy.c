/* store_copy.c — `berth store copy` (docs/fleet.md, *Moving a host onto the fleet
 * database*): every row of one store into another that is empty, in one transaction on the
 * destination, ids kept, between any two back ends. The two schemas must be the same
 * version (each store is brought to this binary's on open). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_backend.h"

const char *const store_copy_tables[STORE_COPY_TABLES] = {
	"hosts", "vms", "volumes", "events", "meta",
};

struct copy_ctx {
	struct store *to;
	const char *table;
	size_t rows;
	int64_t max_version;
};

static int count_row(void *arg, int n, const char *const *names, const char *const *values)
{
	struct copy_ctx *c = arg;
	c->rows++;
	return 0;
}

static int version_row(void *arg, int n, const char *const *names, const char *const *values)
{
	struct copy_ctx *c = arg;
	for (int i = 0; i < n; i++) {
		if (!strcmp(names[i], "version") && values[i]) {
			int64_t v = strtoll(values[i], NULL, 10);
			if (v > c->max_version)
				c->max_version = v;
		}
	}
	return 0;
}

static int copy_row(void *arg, int n, const char *const *names, const char *const *values)
{
	struct copy_ctx *c = arg;
	int rc = c->to->ops->copy_row(c->to, c->table, n, names, values);
	if (rc == 0)
		c->rows++;
	return rc;
}

static int version_of(struct store *s, int64_t *v, char *err, size_t errlen)
{
	struct copy_ctx c = { .max_version = 0 };
	int rc = s->ops->rows(s, "schema_migrations", version_row, &c);
	if (rc < 0)
		snprintf(err, errlen, "cannot read the schema version: %s", s->error);
	*v = c.max_version;
	return rc;
}

int store_copy(struct store *from, struct store *to, size_t counts[STORE_COPY_TABLES],
	       char *err, size_t errlen)
{
	int64_t vf, vt;
	int rc;
	if ((rc = version_of(from, &vf, err, errlen)) < 0 ||
	    (rc = version_of(to, &vt, err, errlen)) < 0)
		return rc;
	if (vf != vt) {
		snprintf(err, errlen, "schema versions differ: the source's is %lld, the "
			 "destination's %lld", (long long)vf, (long long)vt);
		return -EPROTO;
	}
	if ((rc = to->ops->copy_begin(to)) < 0) {
		snprintf(err, errlen, "destination: %s", to->error);
		return rc;
	}
	for (size_t t = 0; t < STORE_COPY_TABLES; t++) {
		struct copy_ctx c = { .to = to, .table = store_copy_tables[t] };
		if ((rc = to->ops->rows(to, c.table, count_row, &c)) < 0) {
			snprintf(err, errlen, "destination: %s", to->error);
			break;
		}
		if (c.rows) {
			snprintf(err, errlen, "the destination is not empty (%zu rows in %s): store "
				 "copy only fills an empty store", c.rows, c.table);
			rc = -EEXIST;
			break;
		}
	}
	for (size_t t = 0; rc == 0 && t < STORE_COPY_TABLES; t++) {
		struct copy_ctx c = { .to = to, .table = store_copy_tables[t] };
		to->error[0] = from->error[0] = '\0';
		rc = from->ops->rows(from, c.table, copy_row, &c);
		if (rc < 0)
			snprintf(err, errlen, "copying %s: %s", c.table,
				 to->error[0] ? to->error : from->error);
		counts[t] = c.rows;
	}
	if (rc < 0) {
		to->ops->copy_end(to, false);        /* nothing copied */
		return rc;
	}
	if ((rc = to->ops->copy_end(to, true)) < 0)
		snprintf(err, errlen, "destination: %s", to->error);
	return rc;
}
