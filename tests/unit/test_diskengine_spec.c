/* test_diskengine_spec.c — the inputs of diskengine's loops: the capped exponential backoff
 * they retry with (common/backoff), the validation of a desired volume
 * (volume_spec_from_json: ranges, names, layouts, strict keys and types) and the
 * [diskengine] section of berth.conf (defaults, every key, bad values named in the error). */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backoff.h"
#include "diskengine/config.h"
#include "diskengine/volume_spec.h"

/* ---------------------------------------------------------------- backoff */

Test(backoff, starts_at_base_and_doubles)
{
	struct backoff b = { 0 };
	int64_t want[] = { 100, 200, 400, 800, 1600 };
	for (size_t i = 0; i < 5; i++)
		cr_assert_eq(backoff_failed(&b, 1000, 100, 30000), want[i], "failure %zu", i + 1);
}

Test(backoff, capped_at_max)
{
	struct backoff b = { 0 };
	int64_t want[] = { 3, 6, 10, 10, 10 };
	for (size_t i = 0; i < 5; i++)
		cr_assert_eq(backoff_failed(&b, 0, 3, 10), want[i], "failure %zu", i + 1);
	struct backoff c = { 0 };
	cr_assert_eq(backoff_failed(&c, 0, 500, 200), 200, "a base above max is capped too");
}

Test(backoff, due_only_from_next_ms)
{
	struct backoff b = { 0 };
	cr_assert(backoff_due(&b, 0), "nothing failed yet: due");
	cr_assert(backoff_due(&b, 123456));
	int64_t d = backoff_failed(&b, 5000, 100, 1000);
	cr_assert_eq(d, 100);
	cr_assert_not(backoff_due(&b, 5000));
	cr_assert_not(backoff_due(&b, 5099));
	cr_assert(backoff_due(&b, 5100));
	cr_assert(backoff_due(&b, 9999));
	d = backoff_failed(&b, 5100, 100, 1000);
	cr_assert_eq(d, 200);
	cr_assert_not(backoff_due(&b, 5299));
	cr_assert(backoff_due(&b, 5300));
}

Test(backoff, reset_restarts_at_base)
{
	struct backoff b = { 0 };
	for (int i = 0; i < 6; i++)
		backoff_failed(&b, 0, 100, 30000);
	backoff_reset(&b);
	cr_assert(backoff_due(&b, 0), "after a reset a retry is due at once");
	cr_assert_eq(backoff_failed(&b, 0, 100, 30000), 100);
	cr_assert_eq(backoff_failed(&b, 0, 100, 30000), 200);
}

Test(backoff, many_failures_stay_at_max)
{
	struct backoff b = { 0 };
	int64_t d = 0;
	for (int i = 0; i < 1000; i++) {
		d = backoff_failed(&b, 1000000, 100, 30000);
		cr_assert_gt(d, 0, "failure %d: delay %lld", i + 1, (long long)d);
		cr_assert_leq(d, 30000, "failure %d: delay %lld", i + 1, (long long)d);
	}
	cr_assert_eq(d, 30000);
	cr_assert_eq(b.next_ms, 1000000 + 30000);
	cr_assert_not(backoff_due(&b, 1000000 + 29999));

	/* A huge cap: the doubling must not overflow on the way to it. */
	struct backoff h = { 0 };
	for (int i = 0; i < 1000; i++)
		d = backoff_failed(&h, 0, 1, INT64_MAX / 2);
	cr_assert_eq(d, INT64_MAX / 2);
}

/* ---------------------------------------------------------------- volume_spec_from_json */

static int parse(const char *text, enum volume_layout def, struct volume_spec *out,
		 char *err, size_t errlen)
{
	json_error_t je;
	json_t *obj = json_loads(text, JSON_DECODE_ANY, &je);
	cr_assert_not_null(obj, "bad test JSON %s: %s", text, je.text);
	err[0] = '\0';
	int rc = volume_spec_from_json(obj, def, out, err, errlen);
	json_decref(obj);
	if (rc < 0) {
		cr_assert_eq(rc, -EINVAL);
		cr_assert_neq(err[0], '\0', "a refusal needs a reason");
	}
	return rc;
}

/* Asserts text is refused with a reason containing `mention`. */
static void refused(const char *text, const char *mention)
{
	struct volume_spec v;
	char err[256];
	cr_assert_eq(parse(text, LAYOUT_RAID1, &v, err, sizeof(err)), -EINVAL,
		     "accepted: %s", text);
	cr_assert_not_null(strstr(err, mention), "%s: reason \"%s\" does not mention \"%s\"",
			   text, err, mention);
}

Test(volume_spec, valid_full)
{
	struct volume_spec v;
	char err[256];
	cr_assert_eq(parse("{\"id\": 42, \"name\": \"data disk\", \"size_mb\": 2048, \"vm\": 7,"
			   " \"exported\": true, \"layout\": \"raid0\"}",
			   LAYOUT_RAID1, &v, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(v.id, 42);
	cr_assert_str_eq(v.name, "data disk");
	cr_assert_eq(v.size_bytes, 2048ull * 1024 * 1024);
	cr_assert_eq(v.vm, 7);
	cr_assert(v.exported);
	cr_assert_eq(v.layout, LAYOUT_RAID0);
}

Test(volume_spec, minimal_defaults)
{
	struct volume_spec v;
	char err[256];
	memset(&v, 0xff, sizeof(v));
	cr_assert_eq(parse("{\"id\": 1, \"size_mb\": 1}", LAYOUT_SINGLE, &v, err, sizeof(err)),
		     0, "%s", err);
	cr_assert_eq(v.id, 1);
	cr_assert_str_eq(v.name, "");
	cr_assert_eq(v.size_bytes, 1024 * 1024);
	cr_assert_eq(v.vm, 0);
	cr_assert_not(v.exported);
	cr_assert_eq(v.layout, LAYOUT_SINGLE, "the layout defaults to the host's");
}

Test(volume_spec, id_range)
{
	struct volume_spec v;
	char err[256];
	cr_assert_eq(parse("{\"id\": 999999999, \"size_mb\": 1}", LAYOUT_RAID1, &v, err,
			   sizeof(err)), 0, "%s", err);
	cr_assert_eq(v.id, VOLUME_ID_MAX);
	refused("{\"id\": 0, \"size_mb\": 1}", "id");
	refused("{\"id\": 1000000000, \"size_mb\": 1}", "id");
	refused("{\"id\": 4294967296, \"size_mb\": 1}", "id");
	refused("{\"id\": -1, \"size_mb\": 1}", "id");
	refused("{\"size_mb\": 1}", "id");
}

Test(volume_spec, size_range)
{
	struct volume_spec v;
	char err[256];
	cr_assert_eq(parse("{\"id\": 1, \"size_mb\": 16777216}", LAYOUT_RAID1, &v, err,
			   sizeof(err)), 0, "%s", err);
	cr_assert_eq(v.size_bytes, 16ull << 40, "16 TiB is the maximum");
	cr_assert_eq(parse("{\"id\": 1, \"size_mb\": 3}", LAYOUT_RAID1, &v, err, sizeof(err)),
		     0);
	cr_assert_eq(v.size_bytes, 3145728);
	refused("{\"id\": 1, \"size_mb\": 0}", "size_mb");
	refused("{\"id\": 1, \"size_mb\": 16777217}", "size_mb");
	/* size_mb * 2^20 would wrap to a small number here: still refused. */
	refused("{\"id\": 1, \"size_mb\": 17592186044416}", "size_mb");
	refused("{\"id\": 1, \"size_mb\": 9223372036854775807}", "size_mb");
	refused("{\"id\": 1, \"size_mb\": -5}", "size_mb");
	refused("{\"id\": 1}", "size_mb");
}

Test(volume_spec, names)
{
	struct volume_spec v;
	char err[256];
	char name63[64], text[256];
	memset(name63, 'n', 63);
	name63[63] = '\0';
	snprintf(text, sizeof(text), "{\"id\": 1, \"size_mb\": 1, \"name\": \"%s\"}", name63);
	cr_assert_eq(parse(text, LAYOUT_RAID1, &v, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(v.name, name63);
	snprintf(text, sizeof(text), "{\"id\": 1, \"size_mb\": 1, \"name\": \"%sn\"}", name63);
	refused(text, "name");

	cr_assert_eq(parse("{\"id\": 1, \"size_mb\": 1, \"name\": \"d\\u00e9j\\u00e0 vu\"}",
			   LAYOUT_RAID1, &v, err, sizeof(err)), 0, "UTF-8 is printable: %s", err);
	cr_assert_str_eq(v.name, "d\xc3\xa9j\xc3\xa0 vu");

	refused("{\"id\": 1, \"size_mb\": 1, \"name\": \"a/b\"}", "name");
	refused("{\"id\": 1, \"size_mb\": 1, \"name\": \"/\"}", "name");
	refused("{\"id\": 1, \"size_mb\": 1, \"name\": \"a\\nb\"}", "name");
	refused("{\"id\": 1, \"size_mb\": 1, \"name\": \"a\\tb\"}", "name");
	refused("{\"id\": 1, \"size_mb\": 1, \"name\": \"\\u001b[31m\"}", "name");
	refused("{\"id\": 1, \"size_mb\": 1, \"name\": \"del\\u007f\"}", "name");
}

Test(volume_spec, vm_and_exported)
{
	struct volume_spec v;
	char err[256];
	refused("{\"id\": 1, \"size_mb\": 1, \"exported\": true}", "vm");
	refused("{\"id\": 1, \"size_mb\": 1, \"vm\": 0, \"exported\": true}", "vm");
	refused("{\"id\": 1, \"size_mb\": 1, \"vm\": 1000000000}", "vm");
	cr_assert_eq(parse("{\"id\": 1, \"size_mb\": 1, \"vm\": 3, \"exported\": false}",
			   LAYOUT_RAID1, &v, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(v.vm, 3);
	cr_assert_not(v.exported, "attached to a VM but not exported is valid");
}

Test(volume_spec, strict_keys_and_types)
{
	refused("{\"id\": 1, \"size_mb\": 1, \"size\": 5}", "size");
	refused("{\"id\": 1, \"size_mb\": 1, \"Exported\": true}", "Exported");
	refused("{\"id\": \"1\", \"size_mb\": 1}", "id");
	refused("{\"id\": 1.0, \"size_mb\": 1}", "id");
	refused("{\"id\": 1, \"size_mb\": \"1\"}", "size_mb");
	refused("{\"id\": 1, \"size_mb\": 1, \"exported\": 1}", "exported");
	refused("{\"id\": 1, \"size_mb\": 1, \"vm\": true}", "vm");
	refused("{\"id\": 1, \"size_mb\": 1, \"name\": 5}", "name");
	refused("{\"id\": 1, \"size_mb\": 1, \"name\": null}", "name");
	refused("{\"id\": 1, \"size_mb\": 1, \"layout\": 1}", "layout");
	refused("[1, 2]", "object");
	refused("\"vol\"", "object");
}

Test(volume_spec, layouts)
{
	static const struct { const char *name; enum volume_layout l; } ok[] = {
		{ "raid1", LAYOUT_RAID1 }, { "raid0", LAYOUT_RAID0 }, { "single", LAYOUT_SINGLE },
	};
	enum volume_layout defaults[] = { LAYOUT_RAID1, LAYOUT_RAID0, LAYOUT_SINGLE };
	char text[128], err[256];
	struct volume_spec v;
	for (size_t d = 0; d < 3; d++) {
		for (size_t i = 0; i < 3; i++) {
			snprintf(text, sizeof(text),
				 "{\"id\": 1, \"size_mb\": 1, \"layout\": \"%s\"}", ok[i].name);
			cr_assert_eq(parse(text, defaults[d], &v, err, sizeof(err)), 0, "%s", err);
			cr_assert_eq(v.layout, ok[i].l, "%s with default %d", ok[i].name,
				     (int)defaults[d]);
		}
		cr_assert_eq(parse("{\"id\": 1, \"size_mb\": 1}", defaults[d], &v, err,
				   sizeof(err)), 0);
		cr_assert_eq(v.layout, defaults[d]);
	}
	refused("{\"id\": 1, \"size_mb\": 1, \"layout\": \"raid5\"}", "layout");
	refused("{\"id\": 1, \"size_mb\": 1, \"layout\": \"RAID1\"}", "layout");
	refused("{\"id\": 1, \"size_mb\": 1, \"layout\": \"\"}", "layout");
	cr_assert_str_eq(volume_layout_name(LAYOUT_RAID0), "raid0");
	cr_assert_eq(volume_layout_bases(LAYOUT_SINGLE), 1);
	cr_assert_eq(volume_layout_bases(LAYOUT_RAID1), 2);
}

/* ---------------------------------------------------------------- diskengine_config_load */

static char tmpdir[PATH_MAX];
static char conf_path[PATH_MAX + 16];

static void tmpdir_setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/berth-diskconf-XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir));
	snprintf(conf_path, sizeof(conf_path), "%s/berth.conf", tmpdir);
}

static void tmpdir_teardown(void)
{
	unlink(conf_path);
	rmdir(tmpdir);
}

TestSuite(diskengine_config, .init = tmpdir_setup, .fini = tmpdir_teardown);

static void write_conf(const char *text)
{
	FILE *f = fopen(conf_path, "w");
	cr_assert_not_null(f);
	cr_assert_eq(fputs(text, f) >= 0, true);
	cr_assert_eq(fclose(f), 0);
}

static void assert_defaults(const struct diskengine_config *c, const char *root)
{
	char want[PATH_MAX + 32];
	cr_assert_str_eq(c->root, root);
	snprintf(want, sizeof(want), "%s/blockd/rpc.sock", root);
	cr_assert_str_eq(c->target.rpc_socket, want);
	snprintf(want, sizeof(want), "%s/blockd/vhost", root);
	cr_assert_str_eq(c->target.vhost_dir, want);
	cr_assert_eq(c->rpc_timeout_ms, 30000);
	cr_assert_eq(c->tick_ms, 1000);
	cr_assert_eq(c->backoff_max_ms, 30000);
	cr_assert_eq(c->wedge_after_ms, 300000);
	cr_assert_eq(c->wedge_action, WEDGE_REPORT);
	cr_assert_str_eq(c->restart_target_command, "");
	cr_assert_eq(c->layout, LAYOUT_RAID1);
	cr_assert_eq(c->strip_size_kb, 64);
	cr_assert_not(c->desired_from_dir);
}

Test(diskengine_config, defaults_when_file_missing)
{
	struct diskengine_config c;
	char err[256] = "";
	memset(&c, 0x5a, sizeof(c));
	cr_assert_eq(diskengine_config_load(&c, "/srv/berth", conf_path, err, sizeof(err)), 0,
		     "%s", err);
	assert_defaults(&c, "/srv/berth");
}

Test(diskengine_config, every_key)
{
	write_conf("; a comment\n"
		   "[diskengine]\n"
		   "rpc_socket = /run/b/rpc.sock\n"
		   "vhost_dir = /run/b/vhost\n"
		   "rpc_timeout = 2.5\n"
		   "tick = 0.25\n"
		   "backoff_max = 60\n"
		   "wedge_after = 0\n"
		   "wedge_action = restart-target\n"
		   "restart_target_command = systemctl restart berth-blockd\n"
		   "layout = raid0\n"
		   "strip_size_kb = 128\n"
		   "desired_source = dir\n");
	struct diskengine_config c;
	char err[256] = "";
	cr_assert_eq(diskengine_config_load(&c, "/srv/berth", conf_path, err, sizeof(err)), 0,
		     "%s", err);
	cr_assert_str_eq(c.root, "/srv/berth");
	cr_assert_str_eq(c.target.rpc_socket, "/run/b/rpc.sock");
	cr_assert_str_eq(c.target.vhost_dir, "/run/b/vhost");
	cr_assert_eq(c.rpc_timeout_ms, 2500);
	cr_assert_eq(c.tick_ms, 250);
	cr_assert_eq(c.backoff_max_ms, 60000);
	cr_assert_eq(c.wedge_after_ms, 0);
	cr_assert_eq(c.wedge_action, WEDGE_RESTART_TARGET);
	cr_assert_str_eq(c.restart_target_command, "systemctl restart berth-blockd");
	cr_assert_eq(c.layout, LAYOUT_RAID0);
	cr_assert_eq(c.strip_size_kb, 128);
	cr_assert(c.desired_from_dir);
}

Test(diskengine_config, enum_values)
{
	struct diskengine_config c;
	char err[256] = "";
	write_conf("[diskengine]\nlayout = single\nwedge_action = report\n"
		   "desired_source = store\nstrip_size_kb = 4\n");
	cr_assert_eq(diskengine_config_load(&c, "/r", conf_path, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(c.layout, LAYOUT_SINGLE);
	cr_assert_eq(c.wedge_action, WEDGE_REPORT);
	cr_assert_not(c.desired_from_dir);
	cr_assert_eq(c.strip_size_kb, 4);
	write_conf("[diskengine]\nlayout = raid1\nstrip_size_kb = 1024\n");
	cr_assert_eq(diskengine_config_load(&c, "/r", conf_path, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(c.layout, LAYOUT_RAID1);
	cr_assert_eq(c.strip_size_kb, 1024);
}

Test(diskengine_config, bad_values_name_the_key)
{
	static const struct { const char *key, *value; } bad[] = {
		{ "rpc_timeout", "0" }, { "rpc_timeout", "0.04" }, { "rpc_timeout", "3601" },
		{ "rpc_timeout", "abc" }, { "rpc_timeout", "5s" }, { "rpc_timeout", "nan" },
		{ "rpc_timeout", "" },
		{ "tick", "0" }, { "tick", "-1" }, { "tick", "inf" },
		{ "backoff_max", "0.001" }, { "backoff_max", "3601" },
		{ "wedge_after", "-1" }, { "wedge_after", "86401" }, { "wedge_after", "x" },
		{ "wedge_action", "restart" }, { "wedge_action", "" },
		{ "layout", "raid5" }, { "layout", "RAID1" }, { "layout", "" },
		{ "strip_size_kb", "0" }, { "strip_size_kb", "2" }, { "strip_size_kb", "63" },
		{ "strip_size_kb", "96" }, { "strip_size_kb", "2048" }, { "strip_size_kb", "64k" },
		{ "strip_size_kb", "" }, { "strip_size_kb", "-64" },
		{ "desired_source", "file" }, { "desired_source", "" },
		{ "rpc_socket", "" }, { "vhost_dir", "" }, { "restart_target_command", "" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[256], err[512] = "";
		struct diskengine_config c;
		snprintf(text, sizeof(text), "[diskengine]\n%s = %s\n", bad[i].key, bad[i].value);
		write_conf(text);
		int rc = diskengine_config_load(&c, "/r", conf_path, err, sizeof(err));
		cr_assert_eq(rc, -EINVAL, "%s = \"%s\" accepted (rc %d)", bad[i].key,
			     bad[i].value, rc);
		cr_assert_not_null(strstr(err, bad[i].key), "%s = \"%s\": error \"%s\"",
				   bad[i].key, bad[i].value, err);
	}
}

Test(diskengine_config, socket_path_too_long)
{
	char text[512], err[512] = "";
	char longpath[120];
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	snprintf(text, sizeof(text), "[diskengine]\nrpc_socket = %s\n", longpath);
	write_conf(text);
	struct diskengine_config c;
	cr_assert_eq(diskengine_config_load(&c, "/r", conf_path, err, sizeof(err)), -EINVAL,
		     "a socket path longer than sun_path was accepted");
	cr_assert_not_null(strstr(err, "rpc_socket"), "%s", err);

	/* A root whose default socket path does not fit is refused too. */
	char root[100];
	memset(root, 'r', sizeof(root) - 1);
	root[0] = '/';
	root[sizeof(root) - 1] = '\0';
	unlink(conf_path);
	err[0] = '\0';
	cr_assert_eq(diskengine_config_load(&c, root, conf_path, err, sizeof(err)), -EINVAL);
	cr_assert_neq(err[0], '\0');
}

Test(diskengine_config, unknown_key_rejected)
{
	write_conf("[diskengine]\ntick = 2\nrpc_timout = 5\n");
	struct diskengine_config c;
	char err[256] = "";
	cr_assert_eq(diskengine_config_load(&c, "/r", conf_path, err, sizeof(err)), -EINVAL);
	cr_assert_not_null(strstr(err, "rpc_timout"), "%s", err);
}

Test(diskengine_config, other_sections_ignored)
{
	write_conf("[vmengine]\ntick = nonsense\nfrobnicate = yes\n"
		   "[diskengine]\ntick = 3\n"
		   "[supervisor]\nlayout = raid9\n");
	struct diskengine_config c;
	char err[256] = "";
	cr_assert_eq(diskengine_config_load(&c, "/r", conf_path, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(c.tick_ms, 3000);
	cr_assert_eq(c.layout, LAYOUT_RAID1, "[supervisor] layout must not leak in");

	write_conf("[vmengine]\ntick = 7\n");
	cr_assert_eq(diskengine_config_load(&c, "/r", conf_path, err, sizeof(err)), 0, "%s", err);
	assert_defaults(&c, "/r");
}

Test(diskengine_config, syntax_error_rejected)
{
	write_conf("[diskengine]\ntick = 2\nthis line has no equals sign\n");
	struct diskengine_config c;
	char err[256] = "";
	cr_assert_eq(diskengine_config_load(&c, "/r", conf_path, err, sizeof(err)), -EINVAL);
	cr_assert_not_null(strstr(err, "line 3"), "%s", err);
}
