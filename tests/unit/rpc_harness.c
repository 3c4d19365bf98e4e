/* rpc_harness.c — the blockd RPC tests' harness: g_blockd with one running reactor, calls
 * through rpc_call_local() with JSON-text params, error assertions that also prove a failed
 * call changed nothing, and temporary files (see rpc_harness.h). */
#include "rpc_harness.h"

#include <criterion/criterion.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bdev.h"
#include "bdev_module.h"
#include "blockd.h"
#include "fault.h"
#include "reactor.h"
#include "rpc.h"

/* Defined by blockd's main.c, which the tests do not link. */
struct blockd g_blockd;

#define RPC_HARNESS_MAX_FILES 16

static char *g_files[RPC_HARNESS_MAX_FILES];
static unsigned g_nfiles;

void rpc_harness_setup(void)
{
	memset(&g_blockd, 0, sizeof(g_blockd));
	g_blockd.opts.num_reactors = 1;
	g_blockd.start_ns = monotonic_ns();
	struct reactor *r = reactor_create("reactor_0", 0, 0);
	cr_assert_not_null(r, "reactor_create failed");
	cr_assert_eq(reactor_start(r, false), 0, "reactor_start failed");
	g_blockd.reactors[0] = r;
	g_blockd.num_reactors = 1;
	/* The control thread's reactor: the test thread plays that role, so it is never started. */
	g_blockd.app = reactor_create("app_thread", 100, 0);
	cr_assert_not_null(g_blockd.app, "reactor_create (app) failed");
	cr_assert_eq(blockd_register(&g_blockd), 0, "blockd_register failed");
	fault_set_enabled(false);
	fault_clear_all();
}

void rpc_harness_teardown(void)
{
	bdev_delete_all();
	int64_t deadline = (int64_t)(monotonic_ns() / 1000000) + RPC_HARNESS_TIMEOUT_MS;
	for (;;) {
		bdev_reap();
		if (bdev_graveyard_size() == 0)
			break;
		if ((int64_t)(monotonic_ns() / 1000000) > deadline) {
			cr_expect_fail("deleted bdevs were not reaped within %d ms",
				       RPC_HARNESS_TIMEOUT_MS);
			break;
		}
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
	cr_expect_eq(rpc_bdev_count(), 0, "bdevs left after bdev_delete_all");
	for (unsigned i = 0; i < g_blockd.num_reactors; i++) {
		reactor_stop(g_blockd.reactors[i]);
		reactor_destroy(g_blockd.reactors[i]);
		g_blockd.reactors[i] = NULL;
	}
	g_blockd.num_reactors = 0;
	reactor_destroy(g_blockd.app);
	g_blockd.app = NULL;
	fault_clear_all();
	fault_set_enabled(false);
	for (unsigned i = 0; i < g_nfiles; i++) {
		unlink(g_files[i]);
		free(g_files[i]);
	}
	g_nfiles = 0;
}

json_t *rpc_json(const char *text)
{
	if (!text)
		return NULL;
	json_error_t jerr;
	json_t *v = json_loads(text, JSON_DECODE_ANY, &jerr);
	cr_assert_not_null(v, "bad JSON in test: %s (%s)", text, jerr.text);
	return v;
}

int rpc_call_text(const char *method, const char *params, json_t **result, char *err,
		  size_t errlen)
{
	json_t *p = rpc_json(params);
	char buf[256] = "";
	json_t *res = NULL;
	int rc = rpc_call_local(method, p, &res, buf, sizeof(buf));
	json_decref(p);
	if (rc != 0) {
		cr_assert_null(res, "%s: a failed call returned a result", method);
		cr_assert_neq(buf[0], '\0', "%s: error %d without a message", method, rc);
	}
	if (err && errlen)
		snprintf(err, errlen, "%s", buf);
	if (result)
		*result = res;
	else
		json_decref(res);
	return rc;
}

__attribute__((format(printf, 1, 0)))
static char *vformat(const char *fmt, va_list ap)
{
	if (!fmt)
		return NULL;
	char *s = NULL;
	cr_assert_geq(vasprintf(&s, fmt, ap), 0);
	return s;
}

json_t *rpc_ok(const char *method, const char *params_fmt, ...)
{
	va_list ap;
	va_start(ap, params_fmt);
	char *params = vformat(params_fmt, ap);
	va_end(ap);
	json_t *result = NULL;
	char err[256], text[512];
	int rc = rpc_call_text(method, params, &result, err, sizeof(err));
	snprintf(text, sizeof(text), "%s", params ? params : "");
	free(params);   /* before asserting: a failed assertion leaves the function */
	cr_assert_eq(rc, 0, "%s %s failed: %d %s", method, text, rc, err);
	cr_assert_not_null(result, "%s %s answered no result", method, text);
	return result;
}

const char *rpc_fail(int code, const char *method, const char *params_fmt, ...)
{
	static char err[256];
	va_list ap;
	va_start(ap, params_fmt);
	char *params = vformat(params_fmt, ap);
	va_end(ap);
	char text[512];
	snprintf(text, sizeof(text), "%s", params ? params : "");
	json_t *before = rpc_snapshot();
	json_t *result = NULL;
	int rc = rpc_call_text(method, params, &result, err, sizeof(err));
	free(params);
	json_t *after = rpc_snapshot();
	bool same = json_equal(before, after);
	static char a[8192], b[8192];
	if (!same) {
		char *da = json_dumps(before, JSON_COMPACT), *db = json_dumps(after, JSON_COMPACT);
		snprintf(a, sizeof(a), "%s", da ? da : "?");
		snprintf(b, sizeof(b), "%s", db ? db : "?");
		free(da);
		free(db);
	}
	json_decref(before);
	json_decref(after);
	if (rc == 0)
		json_decref(result);
	cr_assert_eq(rc, code, "%s %s: got %d (%s), want %d", method, text, rc,
		     rc ? err : "success", code);
	cr_assert(same, "%s %s failed but changed the configuration:\nbefore %s\nafter  %s",
		  method, text, a, b);
	return err;
}

json_t *rpc_snapshot(void)
{
	json_t *bdevs = NULL, *raids = NULL, *config = NULL;
	char err[256];
	cr_assert_eq(rpc_call_text("bdev_get_bdevs", NULL, &bdevs, err, sizeof(err)), 0, "%s",
		     err);
	cr_assert_eq(rpc_call_text("bdev_raid_get_bdevs", "{\"category\":\"all\"}", &raids, err,
				   sizeof(err)), 0, "%s", err);
	cr_assert_eq(rpc_call_text("save_config", NULL, &config, err, sizeof(err)), 0, "%s", err);
	return json_pack("{s:o, s:o, s:o}", "bdevs", bdevs, "raids", raids, "config", config);
}

json_t *rpc_bdev(const char *name)
{
	json_t *params = json_pack("{s:s}", "name", name);
	json_t *result = NULL;
	char err[256];
	int rc = rpc_call_local("bdev_get_bdevs", params, &result, err, sizeof(err));
	json_decref(params);
	if (rc == -ENODEV)
		return NULL;
	cr_assert_eq(rc, 0, "bdev_get_bdevs %s: %d %s", name, rc, err);
	cr_assert(json_is_array(result));
	cr_assert_eq(json_array_size(result), 1, "bdev_get_bdevs by name gives one entry");
	json_t *b = json_incref(json_array_get(result, 0));
	json_decref(result);
	return b;
}

size_t rpc_bdev_count(void)
{
	json_t *list = NULL;
	char err[256];
	cr_assert_eq(rpc_call_text("bdev_get_bdevs", NULL, &list, err, sizeof(err)), 0, "%s", err);
	cr_assert(json_is_array(list));
	size_t n = json_array_size(list);
	json_decref(list);
	return n;
}

void rpc_make_malloc(const char *name, uint64_t num_blocks, uint32_t block_size)
{
	json_t *r = rpc_ok("bdev_malloc_create",
			   "{\"name\":\"%s\",\"num_blocks\":%llu,\"block_size\":%u}", name,
			   (unsigned long long)num_blocks, block_size);
	cr_assert_str_eq(json_string_value(r), name);
	json_decref(r);
}

void rpc_make_null(const char *name, uint64_t num_blocks, uint32_t block_size)
{
	json_t *r = rpc_ok("bdev_null_create",
			   "{\"name\":\"%s\",\"num_blocks\":%llu,\"block_size\":%u}", name,
			   (unsigned long long)num_blocks, block_size);
	cr_assert_str_eq(json_string_value(r), name);
	json_decref(r);
}

const char *rpc_tmpfile(uint64_t size)
{
	cr_assert_lt(g_nfiles, RPC_HARNESS_MAX_FILES);
	const char *dir = getenv("TMPDIR");
	char *path = NULL;
	cr_assert_gt(asprintf(&path, "%s/berth-rpc-XXXXXX", dir && dir[0] ? dir : "/tmp"), 0);
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0, "mkstemp: %s", strerror(errno));
	cr_assert_eq(ftruncate(fd, (off_t)size), 0);
	close(fd);
	g_files[g_nfiles++] = path;
	return path;
}

/* ---------------------------------------------------------------- result shapes */

bool uuid_valid(const char *s)
{
	if (!s || strlen(s) != 36)
		return false;
	for (int i = 0; i < 36; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		if (dash ? s[i] != '-' : !(isdigit((unsigned char)s[i]) ||
					    (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	}
	return true;
}

json_int_t iget(const json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	cr_assert(json_is_integer(v), "member %s is not an integer", key);
	return json_integer_value(v);
}

const char *sget(const json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	cr_assert(json_is_string(v), "member %s is not a string", key);
	return json_string_value(v);
}

bool bget(const json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	cr_assert(json_is_boolean(v), "member %s is not a boolean", key);
	return json_is_true(v);
}

json_t *aget(const json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	cr_assert(json_is_array(v), "member %s is not an array", key);
	return v;
}

json_t *oget(const json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	cr_assert(json_is_object(v), "member %s is not an object", key);
	return v;
}

void check_bdev(const json_t *b, const char *name, const char *product, uint32_t bs,
		uint64_t nb, bool claimed)
{
	cr_assert(json_is_object(b));
	cr_assert_str_eq(sget(b, "name"), name);
	aget(b, "aliases");
	cr_assert_str_eq(sget(b, "product_name"), product, "%s", name);
	cr_assert_eq(iget(b, "block_size"), (json_int_t)bs, "%s", name);
	cr_assert_eq(iget(b, "num_blocks"), (json_int_t)nb, "%s: num_blocks %lld", name,
		     (long long)iget(b, "num_blocks"));
	cr_assert(uuid_valid(sget(b, "uuid")), "%s: uuid %s", name, sget(b, "uuid"));
	cr_assert_eq(bget(b, "claimed"), claimed, "%s claimed", name);
	if (claimed)
		sget(b, "claim_type");
	json_t *io = oget(b, "supported_io_types");
	cr_assert(json_is_boolean(json_object_get(io, "read")));
	cr_assert(json_is_boolean(json_object_get(io, "write")));
	cr_assert(json_is_boolean(json_object_get(io, "flush")));
	cr_assert(json_is_boolean(json_object_get(io, "unmap")));
	cr_assert(json_is_boolean(json_object_get(io, "write_zeroes")));
	cr_assert(bget(io, "read"), "%s reads", name);
	oget(b, "driver_specific");
}

void expect_bdev(const char *name, const char *product, uint32_t bs, uint64_t nb,
		 bool claimed)
{
	json_t *b = rpc_bdev(name);
	cr_assert_not_null(b, "bdev %s does not exist", name);
	check_bdev(b, name, product, bs, nb, claimed);
	json_decref(b);
}
