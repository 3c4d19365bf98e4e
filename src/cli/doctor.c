/* doctor.c — `berth doctor [--json] [--fix] [--vm VM] [--bundle FILE]`: runs every check of
 * docs/doctor.md against the host root, prints one line per check (or JSON), and exits 0 when
 * all pass, 1 on a WARN, 2 on a FAIL. Every probe has its own deadline, so the whole run
 * takes well under 5 s even when the target, a monitor or the store does not answer.
 * --fix then performs the safe recoveries (doctor_fix.c); --bundle writes a tarball for a
 * bug report (doctor_bundle.c). */
#include "doctor.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"

static const char g_usage[] =
	"berth doctor [--json] [--fix] [--vm VM] [--bundle FILE]\n"
	"  every check of docs/doctor.md against the host root: one line per check\n"
	"  (PASS/INFO/SKIP/WARN/FAIL, id, summary; evidence and recovery under a WARN or FAIL);\n"
	"  exit 0 all pass, 1 a WARN, 2 a FAIL. Under 5 s whatever does not answer.\n"
	"  --fix          perform the safe recoveries (each logged as an event) and say what\n"
	"                 was done: restart the target, the next step of an overdue stop,\n"
	"                 the store's row from vm.state, stale markers removed\n"
	"  --vm VM        only that VM's checks (id or name)\n"
	"  --bundle FILE  also write a tar.gz for a bug report (configs, logs' tails, status\n"
	"                 files, the store's rows, the target's view, the checks)";

static int load_ctx(struct doctor_ctx *x, struct cli *c)
{
	char conf[BERTH_PATH_LEN], err[256];
	x->cli = c;
	paths_conf(conf, sizeof(conf), c->root);
	if (paths_target_load(&x->target, c->root, conf, err, sizeof(err)) < 0 ||
	    vmengine_config_load(&x->vcfg, c->root, conf, err, sizeof(err)) < 0)
		return cli_fail("bad configuration: %s", err);
	pid_t sup = supervisor_running(c);
	x->supervisor_pid = sup > 0 ? sup : 0;
	char path[BERTH_PATH_LEN];
	paths_supervisor_state(path, sizeof(path), c->root);
	if (x->supervisor_pid)
		x->supervisor = doctor_read_json(path);
	x->store = doctor_store_snapshot(c, DOCTOR_STORE_TIMEOUT_MS, x->store_error,
					 sizeof(x->store_error));
	return 0;
}

/* --vm VM: an id, or a live VM's name in the store. */
static int resolve_vm(struct doctor_ctx *x, const char *arg)
{
	uint64_t id;
	if (cli_parse_u64(arg, 1, INT32_MAX, &id)) {
		x->vm_filter = (int64_t)id;
		return 0;
	}
	size_t i;
	json_t *vm;
	json_array_foreach(json_object_get(x->store, "vms"), i, vm) {
		const char *name = json_string_value(json_object_get(vm, "name"));
		const char *state = json_string_value(json_object_get(vm, "state"));
		if (name && !strcmp(name, arg) && state && strcmp(state, "TERMINATED")) {
			x->vm_filter = json_integer_value(json_object_get(vm, "id"));
			return 0;
		}
	}
	return cli_fail("no VM '%s'%s", arg, x->store ? "" : " (the store does not answer: "
			"give its id)");
}

static void run_checks(struct doctor_ctx *x, struct doctor_report *r)
{
	doctor_check_daemons(x, r);
	doctor_check_store(x, r);
	doctor_check_target(x, r);
	doctor_check_exports(x, r);
	doctor_check_vm_stops(x, r);
	doctor_check_store_vmstate(x, r);
	doctor_check_markers(x, r);
	doctor_check_migration(x, r);
}

static void free_ctx(struct doctor_ctx *x)
{
	json_decref(x->supervisor);
	json_decref(x->store);
	json_decref(x->controllers);
}

int cmd_doctor(struct cli *c, int argc, char **argv)
{
	bool fix = false;
	const char *vm = NULL, *bundle = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--fix")) {
			fix = true;
		} else if (!strcmp(argv[i], "--vm") && i + 1 < argc) {
			vm = argv[++i];
		} else if (!strcmp(argv[i], "--bundle") && i + 1 < argc) {
			bundle = argv[++i];
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			printf("usage: %s\n", g_usage);
			return 0;
		} else {
			return cli_usage(g_usage);
		}
	}
	int64_t t0 = monotonic_ms();
	struct doctor_ctx x = { 0 };
	int rc = load_ctx(&x, c);
	if (rc == 0 && vm)
		rc = resolve_vm(&x, vm);
	if (rc) {
		free_ctx(&x);
		return rc;
	}
	static struct doctor_report r;
	run_checks(&x, &r);
	int64_t elapsed = monotonic_ms() - t0;
	json_t *out = doctor_report_json(&r, c->root, elapsed);
	json_t *done = json_array();
	if (fix)
		doctor_fix(&x, &r, done);
	if (bundle && doctor_bundle(&x, &r, bundle) != 0)
		json_object_set_new(out, "bundle_error", json_true());
	else if (bundle)
		json_object_set_new(out, "bundle", json_string(bundle));
	if (fix)
		json_object_set(out, "fixes", done);
	if (c->json) {
		cli_print_json(out);
	} else {
		doctor_report_print(&r, stdout);
		printf("%s: %zu checks in %lld ms\n", doctor_status_name(&r), r.n,
		       (long long)elapsed);
		size_t i;
		json_t *d;
		json_array_foreach(done, i, d)
			printf("%s %s: %s\n", json_is_true(json_object_get(d, "done")) ? "fixed  "
			       : "refused", json_string_value(json_object_get(d, "check")),
			       json_string_value(json_object_get(d, "message")));
		if (fix && !json_array_size(done))
			printf("nothing to fix\n");
		if (bundle && json_object_get(out, "bundle"))
			printf("bundle: %s\n", bundle);
		json_decref(out);
	}
	json_decref(done);
	/* After --fix, the status is the checks' (run doctor again to see the result). */
	rc = doctor_exit_status(&r);
	doctor_report_free(&r);
	free_ctx(&x);
	return rc;
}
