/* store_test_env.h — the back end the store suite runs against: SQLite (the default) or
 * PostgreSQL (BERTH_TEST_STORE=postgresql: a private server started once for the whole run,
 * pg_server.h; the run is skipped with one SKIP line when the server binaries are missing).
 * Each test gets fresh stores: a file in its temporary directory, or a new database. */
#ifndef BERTH_TEST_STORE_ENV_H
#define BERTH_TEST_STORE_ENV_H

#include <stdbool.h>
#include <stddef.h>

bool test_store_is_pg(void);

struct test_db {
	char url[512];          /* what store_open takes */
	char name[64];          /* PostgreSQL: the database; SQLite: the file's path */
};

/* A new store location (nothing there yet) named after name, under dir for SQLite. */
void test_db_new(struct test_db *db, const char *dir, const char *name);
/* Runs sql on db directly (not through the store); the first value of the first row in out
 * (may be NULL). 0 or -1 with the error in out. */
int test_db_sql(const struct test_db *db, const char *sql, char *out, size_t len);
/* The store is gone: its file(s) removed, or its database emptied. */
void test_db_destroy(const struct test_db *db);

/* A test's own temporary directory (/tmp/berth-<prefix>-XXXXXX) with a new store location in
 * it named after name (test_db_new); test_env_free destroys the store and the directory. */
struct test_env {
	char dir[64];
	struct test_db db;
};
void test_env_new(struct test_env *e, const char *prefix, const char *name);
void test_env_free(struct test_env *e);

struct store;
/* store_create(url), asserted to succeed. */
struct store *test_store_create(const char *url);

#endif
