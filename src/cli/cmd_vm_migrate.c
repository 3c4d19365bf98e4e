/* cmd_vm_migrate.c — `berth vm migrate VM --to HOST [--wait] [--timeout S]`: the preflight,
 * then the request in the store (vmengine and diskengine of both hosts do the rest:
 * docs/vmengine.md, Live migration); and `vm show`'s migration lines.
 *
 * Preflight, each refusal one line before anything changes: the VM is not migrating; the
 * destination is another, known host, up (its vmengine's heartbeat in the store is
 * recent), and its limits take the VM (memory, vCPUs, the same memory backend as the
 * source); the VM runs; QEMU itself names no migration blocker (query-migrate's
 * blocked-reasons, asked on the VM's operator monitor when the VM runs on this CLI's host;
 * the source's vmengine asks again in any case). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "clock.h"
#include "deadline_io.h"
#include "qemu_monitor.h"

/* The deadline of the blocker check's QMP calls. */
#define PREFLIGHT_QMP_MS 5000

static int unknown_host(struct cli *c, const char *to)
{
	struct store_host *hosts = NULL;
	size_t n = 0;
	char known[512] = "";
	if (store_host_list(c->store, &hosts, &n) == 0)
		for (size_t i = 0, used = 0; i < n && used < sizeof(known); i++)
			used += (size_t)snprintf(known + used, sizeof(known) - used, "%s%s",
						 i ? ", " : "", hosts[i].name);
	free(hosts);
	return cli_fail("unknown host '%s' (hosts: %s)", to, known[0] ? known : "none");
}

/* QEMU's own blockers, from the VM's operator monitor (this host's VMs only). */
static int check_blockers(struct cli *c, const struct store_vm *vm)
{
	if (strcmp(vm->host, c->conf.host))
		return 0;
	char sock[BERTH_PATH_LEN];
	paths_vm_operator_monitor(sock, sizeof(sock), c->root, (unsigned)vm->id);
	int64_t deadline = deadline_after_ms(PREFLIGHT_QMP_MS);
	int err = 0;
	struct qemu_monitor *mon = qemu_monitor_open(sock, (unsigned)vm->id, deadline, &err);
	if (!mon)
		return cli_fail("vm %lld: cannot ask QEMU whether a migration is blocked: %s",
				(long long)vm->id, strerror(-err));
	struct qemu_migrate_info info;
	int rc = qemu_monitor_query_migrate_info(mon, deadline, &info);
	qemu_monitor_close(mon);
	if (rc < 0)
		return cli_fail("vm %lld: query-migrate failed: %s", (long long)vm->id,
				strerror(-rc));
	if (info.blocked[0])
		return cli_fail("vm %lld cannot migrate: QEMU blocks it: %s", (long long)vm->id,
				info.blocked);
	return 0;
}

static int preflight(struct cli *c, const struct store_vm *vm, const char *to)
{
	if (vm->mig.to[0])
		return cli_fail("vm %lld is already migrating to %s (%s)", (long long)vm->id,
				vm->mig.to, vm->mig.phase);
	if (!strcmp(vm->host, to))
		return cli_fail("vm %lld already runs on %s", (long long)vm->id, to);
	struct store_host dest, src;
	int rc = store_host_get(c->store, to, &dest);
	if (rc == -ENOENT || rc == -EINVAL)
		return unknown_host(c, to);
	if (rc < 0)
		return cli_fail("%s", store_error(c->store));
	int64_t age = wall_ms() - dest.seen_ms;
	if (age > (int64_t)c->conf.host_down_after_ms)     /* `berth host list`'s DOWN */
		return cli_fail("host %s is down: its vmengine was last seen %.0f s ago", to,
				(double)age / 1000.0);
	if (dest.max_memory_mb && vm->memory_mb > dest.max_memory_mb)
		return cli_fail("host %s takes VMs of at most %u MiB (max_memory_mb); vm %lld has "
				"%u MiB", to, dest.max_memory_mb, (long long)vm->id, vm->memory_mb);
	if (dest.max_vcpus && vm->vcpus > dest.max_vcpus)
		return cli_fail("host %s takes VMs of at most %u vCPUs (max_vcpus); vm %lld has %u",
				to, dest.max_vcpus, (long long)vm->id, vm->vcpus);
	if (store_host_get(c->store, vm->host, &src) == 0 && src.memory_backend[0] &&
	    dest.memory_backend[0] && strcmp(src.memory_backend, dest.memory_backend))
		return cli_fail("host %s gives VMs memory backend %s, vm %lld runs on %s (%s)", to,
				dest.memory_backend, (long long)vm->id, src.memory_backend,
				vm->host);
	if (strcmp(vm->state, "RUNNING") || strcmp(vm->desired, "RUNNING"))
		return cli_fail("vm %lld is %s (desired %s): only a running VM migrates",
				(long long)vm->id, vm->state, vm->desired);
	return check_blockers(c, vm);
}

/* Polls the store until the migration ended (or timeout_s passed). */
static int wait_migration(struct cli *c, int64_t id, const char *to, double timeout_s)
{
	int64_t deadline = deadline_after_ms((int64_t)(timeout_s * 1000));
	struct store_vm vm;
	for (;;) {
		if (store_vm_get(c->store, id, &vm) < 0)
			return cli_fail("%s", store_error(c->store));
		bool ended = !vm.mig.to[0];
		if (ended && !strcmp(vm.mig.phase, "completed") && !strcmp(vm.host, to) &&
		    !strcmp(vm.state, "RUNNING")) {
			if (!c->json)
				printf("vm %lld (%s): migrated to %s in %.1f s%s%s\n", (long long)id,
				       vm.name, to, (double)(vm.mig.since_ms - vm.mig.started_ms) / 1000,
				       vm.mig.info[0] ? ", " : "", vm.mig.info);
			return 0;
		}
		if (ended && !strcmp(vm.mig.phase, "failed") &&
		    (strcmp(vm.host, to) || !strcmp(vm.state, "RUNNING")))
			return cli_fail("migration of vm %lld to %s failed: %s; it runs on %s",
					(long long)id, to, vm.mig.error[0] ? vm.mig.error :
					"see berth events --vm", vm.host);
		if (deadline_remaining_ms(deadline) == 0)
			return cli_fail("migration of vm %lld to %s is still %s after %.0f s",
					(long long)id, to, vm.mig.phase, timeout_s);
		struct timespec ts = { 0, 100 * 1000000L };    /* polling interval */
		nanosleep(&ts, NULL);
	}
}

int vm_migrate(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "to", required_argument, NULL, 'T' },
		{ "wait", no_argument, NULL, 'W' },
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	const char *to = NULL;
	bool wait = false;
	double timeout = 180;
	int opt;
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		if (opt == 'T')
			to = optarg;
		else if (opt == 'W')
			wait = true;
		else if (opt == 't' && !cli_parse_seconds(optarg, &timeout))
			return cli_usage_error("bad --timeout '%s'", optarg);
		else if (opt != 't')
			return cli_usage_error(opt == ':' ? "option '%s' needs a value (see berth vm "
					       "--help)" : "unknown option '%s' (see berth vm --help)",
					       argv[optind - 1]);
	}
	if (argc - optind != 1 || !to)
		return cli_usage_error("usage: berth vm migrate VM --to HOST [--wait] [--timeout S]");
	if (!to[0] || strlen(to) >= STORE_NAME_MAX)
		return cli_usage_error("bad --to '%s'", to);
	struct store_vm vm;
	int rc = cli_find_vm(c, argv[optind], &vm);
	if (rc)
		return rc;
	if ((rc = preflight(c, &vm, to)))
		return rc;
	if (store_vm_migrate_request(c->store, vm.id, to) < 0)
		return cli_fail("%s", store_error(c->store));
	char msg[128];
	snprintf(msg, sizeof(msg), "migration to %s requested", to);
	store_event_add(c->store, c->conf.host, "cli", vm.id, "info", msg);
	if (!c->json)
		printf("vm %lld (%s): migrating to %s\n", (long long)vm.id, vm.name, to);
	return wait ? wait_migration(c, vm.id, to, timeout) : 0;
}

void vm_show_migration(const struct store_vm *vm)
{
	const struct store_vm_migration *m = &vm->mig;
	if (!m->phase[0])
		return;
	char since[16];
	cli_age(m->since_ms, since, sizeof(since));
	printf("migration: %s%s%s, phase for %s, %.1f s after its start%s%s%s%s\n", m->phase,
	       m->to[0] ? " to " : "", m->to, since,
	       (double)(m->since_ms - m->started_ms) / 1000.0, m->info[0] ? "; " : "", m->info,
	       m->error[0] ? "; error: " : "", m->error);
}

json_t *vm_migration_json(const struct store_vm *vm)
{
	const struct store_vm_migration *m = &vm->mig;
	if (!m->phase[0])
		return json_null();
	return json_pack("{s:s, s:s, s:I, s:I, s:s, s:s, s:s}", "phase", m->phase, "to", m->to,
			 "started_ms", (json_int_t)m->started_ms, "since_ms",
			 (json_int_t)m->since_ms, "uri", m->uri, "info", m->info, "error",
			 m->error);
}
