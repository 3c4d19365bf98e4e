/* store_test_env.c — the store suite's back end (see store_test_env.h). */
#include "store_test_env.h"

#include <criterion/criterion.h>
#include <criterion/hooks.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sqlite3.h>

#include "pg_server.h"
#include "store.h"

bool test_store_is_pg(void)
{
	const char *v = getenv("BERTH_TEST_STORE");
	return v && !strcmp(v, "postgresql");
}

/* In the runner, before any test: the server every test of the run uses. */
ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
	(void)set;
	if (!test_store_is_pg())
		return;
	char msg[512];
	int rc = pg_server_start(msg, sizeof(msg));
	if (rc == -ENOENT) {
		printf("SKIP: the store suite on PostgreSQL: %s\n", msg);
		fflush(stdout);
		pg_server_finish();
		exit(77);                       /* meson's "skipped" */
	}
	if (rc < 0) {
		fprintf(stderr, "the store suite on PostgreSQL: cannot start a server: %s\n", msg);
		pg_server_finish();
		exit(1);
	}
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
	(void)stats;
	pg_server_finish();
}

void test_db_new(struct test_db *db, const char *dir, const char *name)
{
	if (test_store_is_pg()) {
		cr_assert_eq(pg_server_new_db(name, db->url, sizeof(db->url), db->name,
					      sizeof(db->name)), 0);
		return;
	}
	snprintf(db->name, sizeof(db->name), "%s/%s.db", dir, name);
	snprintf(db->url, sizeof(db->url), "%s", db->name);
}

int test_db_sql(const struct test_db *db, const char *sql, char *out, size_t len)
{
	if (test_store_is_pg())
		return pg_server_sql(db->name, sql, out, len);
	sqlite3 *h;
	sqlite3_stmt *st = NULL;
	int rc = -1;
	if (sqlite3_open_v2(db->name, &h, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK) {
		if (out)
			snprintf(out, len, "%s", sqlite3_errmsg(h));
	} else {
		int step = sqlite3_step(st);
		if (step == SQLITE_ROW || step == SQLITE_DONE) {
			rc = 0;
			const unsigned char *v = step == SQLITE_ROW ? sqlite3_column_text(st, 0) : NULL;
			if (out)
				snprintf(out, len, "%s", v ? (const char *)v : "");
		} else if (out) {
			snprintf(out, len, "%s", sqlite3_errmsg(h));
		}
	}
	sqlite3_finalize(st);
	sqlite3_close(h);
	return rc;
}

void test_db_destroy(const struct test_db *db)
{
	if (test_store_is_pg()) {
		char err[512];
		cr_assert_eq(pg_server_sql(db->name, "DROP SCHEMA public CASCADE; CREATE SCHEMA "
						     "public", err, sizeof(err)), 0, "%s", err);
		return;
	}
	const char *suffix[] = { "", "-wal", "-shm" };
	for (int i = 0; i < 3; i++) {
		char path[600];
		snprintf(path, sizeof(path), "%s%s", db->name, suffix[i]);
		unlink(path);
	}
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

void test_env_new(struct test_env *e, const char *prefix, const char *name)
{
	snprintf(e->dir, sizeof(e->dir), "/tmp/berth-%s-XXXXXX", prefix);
	cr_assert_not_null(mkdtemp(e->dir), "mkdtemp: %s", strerror(errno));
	test_db_new(&e->db, e->dir, name);
}

void test_env_free(struct test_env *e)
{
	test_db_destroy(&e->db);
	nftw(e->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

struct store *test_store_create(const char *url)
{
	char err[512] = "";
	struct store *s = store_create(url, err, sizeof(err));
	cr_assert_not_null(s, "store_create %s: %s", url, err);
	return s;
}
