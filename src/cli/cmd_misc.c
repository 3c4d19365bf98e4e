/* cmd_misc.c — `berth volume list`, `berth events`, `berth rpc` (the target's JSON-RPC, like
 * SPDK's rpc.py) and `berth qmp` (a VM's QEMU monitor, through the operator socket vmengine
 * gives every QEMU besides its own). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "cli_why.h"
#include "jsonrpc_client.h"
#include "qmp.h"
#include "store_root.h"

/* `berth init`: a new store on an empty root (store_root.h), its identity in store.id. */
int cmd_init(struct cli *c, int argc, char **argv)
{
	(void)argv;
	if (argc != 1)
		return cli_usage("berth init   (creates the store of an empty root)");
	char err[1024];
	mkdir(c->root, 0700);
	struct store *s = store_open_for_root(c->conf.store, c->root, STORE_ROOT_INIT, err,
					      sizeof(err));
	if (!s)
		return cli_fail("%s", err);
	char id[STORE_ID_LEN] = "";
	store_identity(s, id);
	store_close(s);
	if (c->json)
		cli_print_json(json_pack("{s:s, s:s}", "store", c->conf.store, "identity", id));
	else
		printf("store %s created (identity %s)\n", c->conf.store, id);
	return 0;
}

int cmd_volume(struct cli *c, int argc, char **argv)
{
	bool all = argc == 3 && !strcmp(argv[2], "--all");
	if (argc < 2 || strcmp(argv[1], "list") || argc > 3 || (argc == 3 && !all))
		return cli_usage("berth volume list [--all]");
	struct store *s = cli_store(c);
	struct store_volume *vols;
	size_t n;
	if (!s)
		return 1;
	if (store_volume_list(s, NULL, all, &vols, &n) < 0)
		return cli_fail("%s", store_error(s));
	struct why *w = why_open(c);
	if (c->json) {
		json_t *arr = json_array();
		for (size_t i = 0; i < n; i++) {
			char waiting[512];
			json_t *o = volume_json(&vols[i]);
			json_object_set_new(o, "waiting_on",
					    w && why_volume(w, vols[i].id, waiting, sizeof(waiting))
						    ? json_string(waiting) : json_null());
			json_array_append_new(arr, o);
		}
		cli_print_json(arr);
	} else {
		static const char *const cols[] = { "ID", "VM", "SIZE", "LAYOUT", "STATE", "HOST",
						    "EXPORT", "WAITING ON" };
		struct table *t = table_new(cols, 8);
		for (size_t i = 0; i < n; i++) {
			char id[24], vm[24], size[32], waiting[512];
			snprintf(id, sizeof(id), "%lld", (long long)vols[i].id);
			snprintf(vm, sizeof(vm), "%lld", (long long)vols[i].vm_id);
			snprintf(size, sizeof(size), "%llu MiB", (unsigned long long)vols[i].size_mb);
			if (!w || !why_volume(w, vols[i].id, waiting, sizeof(waiting)))
				snprintf(waiting, sizeof(waiting), "%s", vols[i].error);
			table_row(t, id, vm, size, vols[i].layout, vols[i].state, vols[i].host,
				  vols[i].export_path[0] ? vols[i].export_path : NULL,
				  waiting[0] ? waiting : NULL);
		}
		table_print(t);
		table_free(t);
	}
	why_close(w);
	free(vols);
	return 0;
}

int cmd_events(struct cli *c, int argc, char **argv)
{
	uint64_t limit = 50;
	int64_t vm = 0;
	const char *vm_arg = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--vm") && i + 1 < argc) {
			vm_arg = argv[++i];
			if (!vm_arg[0] || vm_arg[0] == '-')
				return cli_usage_error("bad --vm '%s' (a VM id or name)", vm_arg);
		} else if (!strcmp(argv[i], "--limit") && i + 1 < argc) {
			if (!cli_parse_u64(argv[++i], 1, 100000, &limit))
				return cli_usage_error("bad --limit '%s'", argv[i]);
		} else {
			return cli_usage("berth events [--vm VM] [--limit N]");
		}
	}
	if (vm_arg) {
		struct store_vm found;
		int rc = cli_find_vm_latest(c, vm_arg, &found);
		if (rc)
			return rc;
		vm = found.id;
	}
	struct store *s = cli_store(c);
	struct store_event *evs;
	size_t n;
	if (!s)
		return 1;
	if (store_event_list(s, 0, vm, (size_t)limit, &evs, &n) < 0)
		return cli_fail("%s", store_error(s));
	json_t *arr = c->json ? json_array() : NULL;
	static const char *const cols[] = { "TIME", "HOST", "COMPONENT", "VM", "LEVEL",
					    "MESSAGE" };
	struct table *t = c->json ? NULL : table_new(cols, 6);
	for (size_t i = 0; i < n; i++) {
		const struct store_event *e = &evs[i];
		if (arr) {
			json_array_append_new(arr, json_pack("{s:I, s:I, s:s, s:s, s:I, s:s, s:s}",
				"id", (json_int_t)e->id, "time_ms", (json_int_t)e->time_ms,
				"host", e->host, "component", e->component, "vm",
				(json_int_t)e->vm_id, "level", e->level, "message", e->message));
			continue;
		}
		char when[32], vmid[24];
		time_t secs = (time_t)(e->time_ms / 1000);
		struct tm tm;
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", localtime_r(&secs, &tm));
		snprintf(vmid, sizeof(vmid), "%lld", (long long)e->vm_id);
		table_row(t, when, e->host, e->component, e->vm_id ? vmid : "-", e->level,
			  e->message);
	}
	if (arr)
		cli_print_json(arr);
	if (t) {
		table_print(t);
		table_free(t);
	}
	free(evs);
	return 0;
}

/* `berth rpc METHOD [JSON] [--timeout S]` */
int cmd_rpc(struct cli *c, int argc, char **argv)
{
	const char *usage = "berth rpc METHOD [JSON-PARAMS] [--timeout S]";
	double timeout = JRPC_DEFAULT_TIMEOUT_MS / 1000.0;
	const char *method = NULL, *params_text = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--timeout") && i + 1 < argc) {
			if (!cli_parse_seconds(argv[++i], &timeout) || timeout <= 0)
				return cli_usage_error("bad --timeout '%s'", argv[i]);
		} else if (!method) {
			method = argv[i];
		} else if (!params_text) {
			params_text = argv[i];
		} else {
			return cli_usage(usage);
		}
	}
	if (!method)
		return cli_usage(usage);
	json_t *params = NULL;
	if (params_text) {
		json_error_t jerr;
		params = json_loads(params_text, JSON_REJECT_DUPLICATES, &jerr);
		if (!json_is_object(params)) {
			json_decref(params);
			return cli_usage_error("bad JSON params: %s", params ? "not an object" : jerr.text);
		}
	}
	struct target_endpoints target;
	char conf[BERTH_PATH_LEN], cerr[512];
	paths_conf(conf, sizeof(conf), c->root);
	if (paths_target_load(&target, c->root, conf, cerr, sizeof(cerr)) < 0) {
		json_decref(params);
		return cli_fail("bad configuration: %s", cerr);
	}
	const char *sock = target.rpc_socket;
	struct jrpc_client *rpc = jrpc_client_new(sock);
	jrpc_client_set_timeout(rpc, (int)(timeout * 1000));
	json_t *result = NULL;
	struct jrpc_error err = { 0 };
	int rc = jrpc_call(rpc, method, params, &result, &err);
	json_decref(params);
	jrpc_client_free(rpc);
	if (rc == -EREMOTEIO)
		return cli_fail("%s: error %d: %s", method, err.code, err.message);
	if (rc < 0)
		return cli_fail("%s: %s (%s)", method, strerror(-rc), sock);
	cli_print_json(result);
	return 0;
}

/* The QMP commands that change a VM's run state behind vmengine's back (the store would say
 * RUNNING while the guest is paused, or the reverse), and the `berth vm` command that does
 * it instead; NULL for any other command. */
static const char *run_state_command(const char *cmd)
{
	static const char *const refused[][2] = {
		{ "stop", "berth vm stop" }, { "cont", "berth vm start" },
		{ "system_reset", "berth vm restart" }, { "system_powerdown", "berth vm stop" },
		{ "system_wakeup", "berth vm start" }, { "quit", "berth vm stop" },
		{ "migrate", "berth vm migrate" }, { "migrate-incoming", "berth vm migrate" },
		{ "migrate_cancel", "berth vm migrate (its watchdog cancels)" },
		{ "loadvm", "berth vm" }, { "snapshot-load", "berth vm" },
		{ "human-monitor-command", "the QMP command itself, or berth vm" },
	};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		if (!strcmp(cmd, refused[i][0]))
			return refused[i][1];
	return NULL;
}

/* `berth qmp VM COMMAND [JSON]` */
int cmd_qmp(struct cli *c, int argc, char **argv)
{
	if (argc < 3 || argc > 4)
		return cli_usage("berth qmp VM COMMAND [JSON-ARGUMENTS]");
	const char *instead = run_state_command(argv[2]);
	if (instead)
		return cli_fail("%s changes the VM's run state behind vmengine and the store; use "
				"%s VM", argv[2], instead);
	struct store_vm vm;
	int rc = cli_find_vm(c, argv[1], &vm);
	if (rc)
		return rc;
	json_t *args = NULL;
	if (argc == 4) {
		json_error_t jerr;
		args = json_loads(argv[3], JSON_REJECT_DUPLICATES, &jerr);
		if (!json_is_object(args)) {
			json_decref(args);
			return cli_usage_error("bad JSON arguments: %s", args ? "not an object" : jerr.text);
		}
	}
	char sock[BERTH_PATH_LEN];
	paths_vm_operator_monitor(sock, sizeof(sock), c->root, (unsigned)vm.id);
	int err = 0;
	struct qmp_client *q = qmp_connect(sock, 5000, &err);
	if (!q) {
		json_decref(args);
		return cli_fail("vm %lld: cannot reach QEMU's monitor: %s", (long long)vm.id,
				strerror(-err));
	}
	json_t *ret = NULL;
	char desc[256] = "";
	rc = qmp_execute(q, argv[2], args, 0, &ret, desc, sizeof(desc));
	qmp_close(q);
	if (rc < 0)
		return cli_fail("%s: %s", argv[2], desc[0] ? desc : strerror(-rc));
	cli_print_json(ret ? ret : json_object());
	return 0;
}
