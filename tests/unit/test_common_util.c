/* test_common_util.c — the small helpers of src/common: strict RPC params decoding
 * (json_util: unknown/missing/mistyped keys, integer ranges, string arrays, `present` flags,
 * absent or non-object params), atomic whole-file writes and bounded reads (atomic_file), and
 * the logger's level parsing and one-line output (log). */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic_file.h"
#include "daemon_lock.h"
#include "json_util.h"
#include "log.h"

/* ---------------------------------------------------------------- json_decode_params */

static json_t *J(const char *text)
{
	json_error_t e;
	json_t *v = json_loads(text, JSON_DECODE_ANY, &e);
	cr_assert_not_null(v, "bad test JSON %s: %s", text, e.text);
	return v;
}

/* Decodes text against spec; returns the rc, err holds the message. */
static int decode(const char *text, const struct jparam *spec, size_t n, char *err,
		  size_t errlen)
{
	json_t *params = text ? J(text) : NULL;
	err[0] = '\0';
	int rc = json_decode_params(params, spec, n, err, errlen);
	if (rc < 0) {
		cr_assert_eq(rc, -EINVAL);
		cr_assert_neq(err[0], '\0', "an error needs a message");
	}
	json_decref(params);
	return rc;
}

Test(json_params, all_types_decode)
{
	const char *s = NULL;
	bool b = false;
	uint32_t u32 = 0;
	uint64_t u64 = 0;
	int32_t i32 = 0;
	const char *items[4];
	struct jstring_array arr = { items, 4, 0 };
	json_t *any = NULL;
	bool s_present = false, any_present = false;
	struct jparam spec[] = {
		{ "s", JP_STRING, true, &s, &s_present },
		{ "b", JP_BOOL, true, &b, NULL },
		{ "u32", JP_UINT32, true, &u32, NULL },
		{ "u64", JP_UINT64, true, &u64, NULL },
		{ "i32", JP_INT32, true, &i32, NULL },
		{ "arr", JP_STRING_ARRAY, true, &arr, NULL },
		{ "any", JP_ANY, true, &any, &any_present },
	};
	json_t *params = J("{\"s\":\"hello\",\"b\":true,\"u32\":4294967295,"
			   "\"u64\":9223372036854775807,\"i32\":-2147483648,"
			   "\"arr\":[\"x\",\"y\",\"z\"],\"any\":{\"k\":[1]}}");
	char err[160] = "";
	cr_assert_eq(json_decode_params(params, JPARAMS(spec), err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(s, "hello");
	cr_assert(b);
	cr_assert_eq(u32, UINT32_MAX);
	cr_assert_eq(u64, (uint64_t)INT64_MAX);
	cr_assert_eq(i32, INT32_MIN);
	cr_assert_eq(arr.count, 3);
	cr_assert_str_eq(items[0], "x");
	cr_assert_str_eq(items[2], "z");
	cr_assert(json_is_object(any));
	cr_assert_eq(any, json_object_get(params, "any"), "JP_ANY is borrowed from the params");
	cr_assert(s_present);
	cr_assert(any_present);
	json_decref(params);
}

Test(json_params, unknown_key)
{
	uint32_t x = 0;
	struct jparam spec[] = { { "x", JP_UINT32, false, &x, NULL } };
	char err[160];
	cr_assert_eq(decode("{\"x\":1,\"bogus\":2}", JPARAMS(spec), err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "bogus"), "message names the key: %s", err);
	cr_assert_eq(x, 0u, "nothing is written on an unknown key");
}

Test(json_params, unknown_key_with_no_spec)
{
	char err[160];
	cr_assert_eq(decode("{}", NULL, 0, err, sizeof(err)), 0);
	cr_assert_eq(decode(NULL, NULL, 0, err, sizeof(err)), 0);
	cr_assert_eq(decode("{\"a\":1}", NULL, 0, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "'a'"), "%s", err);
}

Test(json_params, missing_required)
{
	const char *name = NULL;
	uint64_t n = 7;
	struct jparam spec[] = {
		{ "num", JP_UINT64, false, &n, NULL },
		{ "name", JP_STRING, true, &name, NULL },
	};
	char err[160];
	cr_assert_eq(decode("{\"num\":5}", JPARAMS(spec), err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "missing"), "%s", err);
	cr_assert(strstr(err, "name"), "%s", err);
	cr_assert_null(name);
}

Test(json_params, optional_absent_keeps_default)
{
	uint32_t bs = 512;
	const char *name = "dflt";
	bool present = true;
	struct jparam spec[] = {
		{ "block_size", JP_UINT32, false, &bs, &present },
		{ "name", JP_STRING, false, &name, NULL },
	};
	char err[160];
	cr_assert_eq(decode("{}", JPARAMS(spec), err, sizeof(err)), 0);
	cr_assert_eq(bs, 512u);
	cr_assert_str_eq(name, "dflt");
	cr_assert_not(present);
}

Test(json_params, present_flags)
{
	uint32_t a = 0, b = 0;
	bool pa = false, pb = true;
	struct jparam spec[] = {
		{ "a", JP_UINT32, false, &a, &pa },
		{ "b", JP_UINT32, false, &b, &pb },
	};
	char err[160];
	cr_assert_eq(decode("{\"a\":0}", JPARAMS(spec), err, sizeof(err)), 0);
	cr_assert(pa, "a given (even as 0)");
	cr_assert_not(pb, "b not given");
	cr_assert_eq(b, 0u);
}

Test(json_params, null_params)
{
	uint32_t a = 3;
	bool pa = true;
	struct jparam opt[] = { { "a", JP_UINT32, false, &a, &pa } };
	char err[160];
	cr_assert_eq(decode(NULL, JPARAMS(opt), err, sizeof(err)), 0);
	cr_assert_not(pa);
	cr_assert_eq(a, 3u);

	struct jparam req[] = { { "a", JP_UINT32, true, &a, NULL } };
	cr_assert_eq(decode(NULL, JPARAMS(req), err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "'a'"), "%s", err);
}

Test(json_params, params_not_an_object)
{
	uint32_t a = 0;
	struct jparam spec[] = { { "a", JP_UINT32, false, &a, NULL } };
	char err[160];
	cr_assert_eq(decode("[1]", JPARAMS(spec), err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "object"), "%s", err);
	cr_assert_eq(decode("\"a\"", JPARAMS(spec), err, sizeof(err)), -EINVAL);
	cr_assert_eq(decode("7", JPARAMS(spec), err, sizeof(err)), -EINVAL);
	cr_assert_eq(decode("null", JPARAMS(spec), err, sizeof(err)), -EINVAL,
		     "a JSON null is not an absent params");
}

/* One key of the given type; each of the bad values must be refused with a message naming
 * the key, and leave the output untouched. */
static void expect_type_refused(enum jparam_type type, const char *const *bad, size_t nbad)
{
	union {
		const char *s;
		bool b;
		uint32_t u32;
		uint64_t u64;
		int32_t i32;
		json_t *any;
		unsigned char raw[16];
	} out;
	const char *items[2];
	struct jstring_array arr = { items, 2, 0 };
	struct jparam spec[] = {
		{ "key", type, true, type == JP_STRING_ARRAY ? (void *)&arr : (void *)&out, NULL },
	};
	for (size_t i = 0; i < nbad; i++) {
		char text[256], err[160];
		snprintf(text, sizeof(text), "{\"key\":%s}", bad[i]);
		memset(&out, 0xa5, sizeof(out));
		arr.count = 99;
		int rc = decode(text, JPARAMS(spec), err, sizeof(err));
		cr_assert_eq(rc, -EINVAL, "type %d accepted %s", (int)type, bad[i]);
		cr_assert(strstr(err, "key"), "message names the key: %s", err);
		for (size_t k = 0; k < sizeof(out.raw); k++)
			cr_assert_eq(out.raw[k], 0xa5, "type %d: output written for %s", (int)type,
				     bad[i]);
		if (type == JP_STRING_ARRAY)
			cr_assert_eq(arr.count, 99u, "count written for %s", bad[i]);
	}
}

Test(json_params, wrong_type_string)
{
	const char *bad[] = { "1", "true", "null", "[\"a\"]", "{}", "1.5" };
	expect_type_refused(JP_STRING, bad, sizeof(bad) / sizeof(bad[0]));
}

Test(json_params, wrong_type_bool)
{
	const char *bad[] = { "\"true\"", "1", "0", "null", "[]", "{}" };
	expect_type_refused(JP_BOOL, bad, sizeof(bad) / sizeof(bad[0]));
}

Test(json_params, wrong_type_uint32)
{
	const char *bad[] = { "\"1\"", "1.0", "true", "null", "[1]", "{}",
			      "4294967296", "-1", "-4294967295", "9223372036854775807" };
	expect_type_refused(JP_UINT32, bad, sizeof(bad) / sizeof(bad[0]));
}

Test(json_params, wrong_type_uint64)
{
	const char *bad[] = { "\"1\"", "1.0", "1e3", "false", "null", "[]", "{}", "-1",
			      "-9223372036854775808" };
	expect_type_refused(JP_UINT64, bad, sizeof(bad) / sizeof(bad[0]));
}

Test(json_params, wrong_type_int32)
{
	const char *bad[] = { "\"-5\"", "-5.0", "true", "null", "[]", "{}",
			      "2147483648", "-2147483649" };
	expect_type_refused(JP_INT32, bad, sizeof(bad) / sizeof(bad[0]));
}

Test(json_params, wrong_type_string_array)
{
	const char *bad[] = { "\"a\"", "{}", "null", "1", "[1]", "[\"a\",null]",
			      "[[\"a\"]]", "[\"a\",\"b\",\"c\"]" /* over max 2 */ };
	expect_type_refused(JP_STRING_ARRAY, bad, sizeof(bad) / sizeof(bad[0]));
}

Test(json_params, uint32_bounds)
{
	uint32_t v = 1;
	struct jparam spec[] = { { "v", JP_UINT32, true, &v, NULL } };
	char err[160];
	cr_assert_eq(decode("{\"v\":0}", JPARAMS(spec), err, sizeof(err)), 0);
	cr_assert_eq(v, 0u);
	cr_assert_eq(decode("{\"v\":4294967295}", JPARAMS(spec), err, sizeof(err)), 0);
	cr_assert_eq(v, 4294967295u);
	cr_assert_eq(decode("{\"v\":4294967296}", JPARAMS(spec), err, sizeof(err)), -EINVAL);
	cr_assert_eq(v, 4294967295u, "a refused value is not written");
	cr_assert(strstr(err, "unsigned 32-bit"), "%s", err);
}

Test(json_params, negative_for_unsigned)
{
	uint64_t v = 5;
	struct jparam spec[] = { { "num_blocks", JP_UINT64, true, &v, NULL } };
	char err[160];
	cr_assert_eq(decode("{\"num_blocks\":-1}", JPARAMS(spec), err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "num_blocks"), "%s", err);
	cr_assert_eq(v, 5u);
	cr_assert_eq(decode("{\"num_blocks\":0}", JPARAMS(spec), err, sizeof(err)), 0);
	cr_assert_eq(v, 0u);
}

Test(json_params, string_array_limits)
{
	const char *items[3];
	struct jstring_array arr = { items, 3, 0 };
	struct jparam spec[] = { { "base_bdevs", JP_STRING_ARRAY, true, &arr, NULL } };
	char err[160];
	cr_assert_eq(decode("{\"base_bdevs\":[]}", JPARAMS(spec), err, sizeof(err)), 0);
	cr_assert_eq(arr.count, 0u);
	cr_assert_eq(decode("{\"base_bdevs\":[\"a\",\"b\",\"c\"]}", JPARAMS(spec), err,
			    sizeof(err)), 0);
	cr_assert_eq(arr.count, 3u);
	cr_assert_eq(decode("{\"base_bdevs\":[\"a\",\"b\",\"c\",\"d\"]}", JPARAMS(spec), err,
			    sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "at most 3"), "the limit is in the message: %s", err);
	cr_assert_eq(decode("{\"base_bdevs\":[\"a\",2]}", JPARAMS(spec), err, sizeof(err)),
		     -EINVAL);
	cr_assert(strstr(err, "base_bdevs"), "%s", err);
}

Test(json_params, stops_at_first_bad_key)
{
	uint32_t a = 0;
	const char *b = "untouched";
	struct jparam spec[] = {
		{ "a", JP_UINT32, true, &a, NULL },
		{ "b", JP_STRING, true, &b, NULL },
	};
	char err[160];
	cr_assert_eq(decode("{\"a\":\"x\",\"b\":\"y\"}", JPARAMS(spec), err, sizeof(err)),
		     -EINVAL);
	cr_assert(strstr(err, "'a'"), "%s", err);
	cr_assert_str_eq(b, "untouched", "later keys are not written");
}

Test(json_params, long_unknown_key_message_is_bounded)
{
	char key[600];
	memset(key, 'k', sizeof(key) - 1);
	key[sizeof(key) - 1] = '\0';
	json_t *params = json_object();
	json_object_set_new(params, key, json_true());
	char err[32];
	memset(err, 0, sizeof(err));
	cr_assert_eq(json_decode_params(params, NULL, 0, err, sizeof(err)), -EINVAL);
	cr_assert_lt(strlen(err), sizeof(err));
	json_decref(params);
}

/* ---------------------------------------------------------------- atomic_file */

static char tmpdir[PATH_MAX];

static void tmpdir_setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/berth-util-XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir));
}

static void rm_rf(const char *path)
{
	DIR *d = opendir(path);
	if (!d) {
		unlink(path);
		return;
	}
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		char sub[PATH_MAX];
		snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
		rm_rf(sub);
	}
	closedir(d);
	rmdir(path);
}

static void tmpdir_teardown(void)
{
	rm_rf(tmpdir);
}

/* Number of entries in dir other than . and .., and whether any looks like a tmp file. */
static int count_entries(const char *dir, bool *has_tmp)
{
	DIR *d = opendir(dir);
	cr_assert_not_null(d, "opendir %s", dir);
	int n = 0;
	if (has_tmp)
		*has_tmp = false;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		n++;
		if (has_tmp && strstr(e->d_name, ".tmp"))
			*has_tmp = true;
	}
	closedir(d);
	return n;
}

static void path_in_tmp(char *out, size_t len, const char *name)
{
	cr_assert_lt((size_t)snprintf(out, len, "%s/%s", tmpdir, name), len);
}

TestSuite(atomic_file, .init = tmpdir_setup, .fini = tmpdir_teardown);

Test(atomic_file, write_then_read_back)
{
	char path[PATH_MAX];
	path_in_tmp(path, sizeof(path), "config.json");
	const char data[] = "{\"subsystems\":[]}\n";
	cr_assert_eq(atomic_write_file(path, data, strlen(data), 0600), 0);

	char *got = NULL;
	size_t len = 0;
	cr_assert_eq(read_file_all(path, 1024, &got, &len), 0);
	cr_assert_eq(len, strlen(data));
	cr_assert_str_eq(got, data);
	free(got);

	struct stat st;
	cr_assert_eq(stat(path, &st), 0);
	cr_assert(S_ISREG(st.st_mode));
	cr_assert_eq(st.st_mode & 0077, 0u, "mode 0600 asked, got %o", st.st_mode & 0777);
	bool has_tmp;
	cr_assert_eq(count_entries(tmpdir, &has_tmp), 1);
	cr_assert_not(has_tmp);
}

Test(atomic_file, binary_data_with_nuls)
{
	char path[PATH_MAX];
	path_in_tmp(path, sizeof(path), "bin");
	unsigned char data[300];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)(i * 7);
	cr_assert_eq(atomic_write_file(path, data, sizeof(data), 0644), 0);
	char *got = NULL;
	size_t len = 0;
	cr_assert_eq(read_file_all(path, sizeof(data), &got, &len), 0);
	cr_assert_eq(len, sizeof(data));
	cr_assert_eq(memcmp(got, data, sizeof(data)), 0);
	cr_assert_eq(got[len], '\0', "NUL-terminated");
	free(got);
}

Test(atomic_file, overwrite_replaces_whole_content)
{
	char path[PATH_MAX];
	path_in_tmp(path, sizeof(path), "f");
	const char *a = "a much longer first version of the file\n";
	const char *b = "short\n";
	cr_assert_eq(atomic_write_file(path, a, strlen(a), 0600), 0);
	struct stat st1;
	cr_assert_eq(stat(path, &st1), 0);
	cr_assert_eq(atomic_write_file(path, b, strlen(b), 0600), 0);
	char *got = NULL;
	size_t len = 0;
	cr_assert_eq(read_file_all(path, 1024, &got, &len), 0);
	cr_assert_eq(len, strlen(b));
	cr_assert_str_eq(got, b);
	free(got);
	struct stat st2;
	cr_assert_eq(stat(path, &st2), 0);
	cr_assert_neq(st1.st_ino, st2.st_ino, "replaced by rename, not rewritten in place");
	bool has_tmp;
	cr_assert_eq(count_entries(tmpdir, &has_tmp), 1);
	cr_assert_not(has_tmp);
}

Test(atomic_file, empty_file)
{
	char path[PATH_MAX];
	path_in_tmp(path, sizeof(path), "empty");
	cr_assert_eq(atomic_write_file(path, "", 0, 0600), 0);
	char *got = NULL;
	size_t len = 99;
	cr_assert_eq(read_file_all(path, 0, &got, &len), 0);
	cr_assert_eq(len, 0u);
	cr_assert_str_eq(got, "");
	free(got);
}

Test(atomic_file, missing_directory_fails_cleanly)
{
	char path[PATH_MAX];
	path_in_tmp(path, sizeof(path), "nodir/config.json");
	cr_assert_eq(atomic_write_file(path, "x", 1, 0600), -ENOENT);
	cr_assert_eq(count_entries(tmpdir, NULL), 0, "nothing created");
	cr_assert_eq(access(path, F_OK), -1);
}

Test(atomic_file, failed_rename_leaves_no_tmp_and_old_content)
{
	/* The target is a non-empty directory: rename fails after the tmp file was written. */
	char path[PATH_MAX], inner[PATH_MAX];
	path_in_tmp(path, sizeof(path), "target");
	cr_assert_eq(mkdir(path, 0700), 0);
	cr_assert_lt((size_t)snprintf(inner, sizeof(inner), "%s/keep", path), sizeof(inner));
	cr_assert_eq(atomic_write_file(inner, "old", 3, 0600), 0);

	int rc = atomic_write_file(path, "new", 3, 0600);
	cr_assert_lt(rc, 0, "writing over a directory must fail");
	bool has_tmp;
	cr_assert_eq(count_entries(tmpdir, &has_tmp), 1, "only the directory remains");
	cr_assert_not(has_tmp, "the tmp file was removed");
	char *got = NULL;
	cr_assert_eq(read_file_all(inner, 16, &got, NULL), 0);
	cr_assert_str_eq(got, "old");
	free(got);
}

Test(atomic_file, read_limits)
{
	char path[PATH_MAX];
	path_in_tmp(path, sizeof(path), "sized");
	char data[100];
	memset(data, 'z', sizeof(data));
	cr_assert_eq(atomic_write_file(path, data, sizeof(data), 0600), 0);

	char *got = (char *)0x1;
	cr_assert_eq(read_file_all(path, 99, &got, NULL), -EFBIG);
	cr_assert_eq(got, (char *)0x1, "*out untouched on failure");
	got = NULL;
	size_t len = 0;
	cr_assert_eq(read_file_all(path, 100, &got, &len), 0, "exactly max_len is fine");
	cr_assert_eq(len, 100u);
	free(got);
}

Test(atomic_file, read_errors)
{
	char path[PATH_MAX];
	char *got = NULL;
	path_in_tmp(path, sizeof(path), "absent");
	cr_assert_eq(read_file_all(path, 100, &got, NULL), -ENOENT);
	cr_assert_eq(read_file_all(tmpdir, 100, &got, NULL), -EINVAL, "a directory is refused");
	cr_assert_null(got);
}

/* ---------------------------------------------------------------- log */

Test(log, parse_level)
{
	static const struct { const char *s; enum log_level level; } ok[] = {
		{ "debug", LOG_DEBUG }, { "info", LOG_INFO }, { "warn", LOG_WARN },
		{ "error", LOG_ERROR }, { "DEBUG", LOG_DEBUG }, { "Warn", LOG_WARN },
		{ "ERROR", LOG_ERROR },
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		enum log_level l = (enum log_level)-1;
		cr_assert_eq(log_parse_level(ok[i].s, &l), 0, "%s", ok[i].s);
		cr_assert_eq(l, ok[i].level, "%s", ok[i].s);
	}
	const char *bad[] = { "", "verbose", "warning", "err", "info ", " debug", "3" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		enum log_level l = LOG_WARN;
		cr_assert_neq(log_parse_level(bad[i], &l), 0, "\"%s\" accepted", bad[i]);
		cr_assert_eq(l, LOG_WARN, "\"%s\": output untouched", bad[i]);
	}
}

/* Runs fn with stderr (fd 2) captured into a file; returns what was written (malloc'd). */
static char *capture_stderr(void (*fn)(void))
{
	char path[] = "/tmp/berth-log-XXXXXX";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	unlink(path);
	fflush(stderr);
	int saved = dup(2);
	cr_assert_geq(saved, 0);
	cr_assert_eq(dup2(fd, 2), 2);
	fn();
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	off_t size = lseek(fd, 0, SEEK_END);
	char *out = calloc(1, (size_t)size + 1);
	cr_assert_not_null(out);
	cr_assert_eq(pread(fd, out, (size_t)size, 0), size);
	close(fd);
	return out;
}

static void log_some(void)
{
	log_set_level(LOG_INFO);
	log_set_timestamps(false);
	log_debug("test", "msg=hidden");
	log_info("test", "msg=\"shown\" n=%d", 42);
	log_warn("comp2", "x=%s", "y");
}

Test(log, level_filter_and_line_format)
{
	char *out = capture_stderr(log_some);
	cr_assert_str_eq(out, "info test msg=\"shown\" n=42\nwarn comp2 x=y\n");
	cr_assert_eq(log_get_level(), LOG_INFO);
	free(out);
}

static void log_long(void)
{
	log_set_level(LOG_DEBUG);
	log_set_timestamps(false);
	char big[5000];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	log_error("test", "msg=%s", big);
	log_error("test", "msg=after");
}

Test(log, long_message_stays_one_line)
{
	char *out = capture_stderr(log_long);
	char *nl = strchr(out, '\n');
	cr_assert_not_null(nl);
	cr_assert(strncmp(out, "error test msg=aaa", 18) == 0, "%.40s", out);
	cr_assert_lt((size_t)(nl - out), 4096u, "truncated");
	cr_assert_str_eq(nl + 1, "error test msg=after\n");
	free(out);
}

/* A log that is a file (berth up's run/<daemon>.log) gets a UTC timestamp on every line; one
 * that is the journal (JOURNAL_STREAM set: journald adds the time itself) does not. */
static void log_auto(void)
{
	log_set_level(LOG_INFO);
	log_info("test", "msg=first");
	log_warn("test", "msg=second");
}

static void check_stamped_line(const char *line, const char *rest)
{
	/* 2026-12-02T05:10:03.123Z info test msg=first */
	int y, mo, d, h, mi, s, ms;
	char z;
	int used = 0;
	cr_assert_eq(sscanf(line, "%4d-%2d-%2dT%2d:%2d:%2d.%3d%c %n", &y, &mo, &d, &h, &mi, &s,
			    &ms, &z, &used), 8, "no timestamp: %.60s", line);
	cr_assert_eq(z, 'Z');
	cr_assert(y >= 2024 && mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h < 24 && mi < 60 &&
		  s < 61 && ms < 1000, "%.30s", line);
	cr_assert(strncmp(line + used, rest, strlen(rest)) == 0, "%.60s", line);
}

Test(log, a_file_gets_timestamps)
{
	unsetenv("JOURNAL_STREAM");
	char *out = capture_stderr(log_auto);
	char *second = strchr(out, '\n');
	cr_assert_not_null(second);
	check_stamped_line(out, "info test msg=first\n");
	check_stamped_line(second + 1, "warn test msg=second\n");
	free(out);
}

Test(log, the_journal_gets_none)
{
	setenv("JOURNAL_STREAM", "8:1234", 1);
	char *out = capture_stderr(log_auto);
	cr_assert_str_eq(out, "info test msg=first\nwarn test msg=second\n");
	free(out);
}

/* `berth status` names who holds a daemon's lock (from /proc/locks), and nobody once it is
 * released. */
Test(daemon_lock, holder_is_named)
{
	char root[] = "/tmp/berth-lock-XXXXXX";
	cr_assert_not_null(mkdtemp(root));
	cr_assert_eq(daemon_lock_holder(root, "vmengine"), -1);      /* no lock file yet */
	char err[256];
	int fd = daemon_lock_take(root, "vmengine", false, err, sizeof(err));
	cr_assert_geq(fd, 0, "%s", err);
	cr_assert(daemon_lock_held(root, "vmengine"));
	cr_assert_eq(daemon_lock_holder(root, "vmengine"), (int)getpid());
	cr_assert_eq(daemon_lock_holder(root, "diskengine"), -1);
	close(fd);
	cr_assert_eq(daemon_lock_holder(root, "vmengine"), -1);
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/run/vmengine.lock", root);
	unlink(path);
	snprintf(path, sizeof(path), "%s/run", root);
	rmdir(path);
	rmdir(root);
}
