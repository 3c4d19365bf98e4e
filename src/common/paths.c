/* paths.c — the layout of a host root (see paths.h). */
#include "paths.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "conf.h"

static int fmt(char *out, size_t len, const char *f, ...) __attribute__((format(printf, 3, 4)));
static int fmt(char *out, size_t len, const char *f, ...)
{
	va_list ap;
	va_start(ap, f);
	int n = vsnprintf(out, len, f, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int paths_conf(char *out, size_t len, const char *root)
{ return fmt(out, len, "%s/berth.conf", root); }
int paths_store(char *out, size_t len, const char *root)
{ return fmt(out, len, "%s/store.db", root); }
int paths_store_id(char *out, size_t len, const char *root)
{ return fmt(out, len, "%s/store.id", root); }

int paths_run_dir(char *out, size_t len, const char *root)
{ return fmt(out, len, "%s/run", root); }
int paths_supervisor_lock(char *out, size_t len, const char *root)
{ return fmt(out, len, "%s/run/supervisor.lock", root); }
int paths_supervisor_pid(char *out, size_t len, const char *root)
{ return fmt(out, len, "%s/run/supervisor.pid", root); }
int paths_supervisor_state(char *out, size_t len, const char *root)
{ return fmt(out, len, "%s/run/supervisor.json", root); }
int paths_supervisor_log(char *out, size_t len, const char *root)
{ return fmt(out, len, "%s/run/supervisor.log", root); }
int paths_supervisor_notify(char *out, size_t len, const char *root)
{ return fmt(out, len, "%s/run/supervisor.notify", root); }
int paths_daemon_lock(char *out, size_t len, const char *root, const char *daemon)
{ return fmt(out, len, "%s/run/%s.lock", root, daemon); }
int paths_daemon_log(char *out, size_t len, const char *root, const char *daemon)
{ return fmt(out, len, "%s/run/%s.log", root, daemon); }
int paths_metrics_status(char *out, size_t len, const char *root)
{ return fmt(out, len, "%s/run/metrics.json", root); }

int paths_blockd_dir(char *out, size_t len, const char *root)
{ return fmt(out, len, "%s/blockd", root); }
int paths_blockd_rpc_sock(char *out, size_t len, const char *root)
{ return fmt(out, len, "%s/blockd/rpc.sock", root); }
int paths_blockd_vhost_dir(char *out, size_t len, const char *root)
{ return fmt(out, len, "%s/blockd/vhost", root); }
int paths_blockd_config(char *out, size_t len, const char *root)
{ return fmt(out, len, "%s/blockd/config.json", root); }

int paths_vmengine_dir(char *out, size_t len, const char *root)
{ return fmt(out, len, "%s/vmengine", root); }
int paths_vmengine_vms(char *out, size_t len, const char *root)
{ return fmt(out, len, "%s/vmengine/vms", root); }
int paths_vmengine_desired(char *out, size_t len, const char *root)
{ return fmt(out, len, "%s/vmengine/desired", root); }
int paths_vmengine_status(char *out, size_t len, const char *root)
{ return fmt(out, len, "%s/vmengine/status.json", root); }
int paths_vmengine_marker(char *out, size_t len, const char *root)
{ return fmt(out, len, "%s/vmengine/TARGET_RESTART", root); }
int paths_vm_dir(char *out, size_t len, const char *root, unsigned id)
{ return fmt(out, len, "%s/vmengine/vms/%u", root, id); }
int paths_vm_state(char *out, size_t len, const char *root, unsigned id)
{ return fmt(out, len, "%s/vmengine/vms/%u/vm.state", root, id); }
int paths_vm_pidfile(char *out, size_t len, const char *root, unsigned id)
{ return fmt(out, len, "%s/vmengine/vms/%u/qemu.pid", root, id); }
int paths_vm_monitor(char *out, size_t len, const char *root, unsigned id)
{ return fmt(out, len, "%s/vmengine/vms/%u/monitor.sock", root, id); }
int paths_vm_operator_monitor(char *out, size_t len, const char *root, unsigned id)
{ return fmt(out, len, "%s/vmengine/vms/%u/qmp-operator.sock", root, id); }
int paths_vm_console(char *out, size_t len, const char *root, unsigned id)
{ return fmt(out, len, "%s/vmengine/vms/%u/console.log", root, id); }
int paths_vm_argv(char *out, size_t len, const char *root, unsigned id)
{ return fmt(out, len, "%s/vmengine/vms/%u/qemu.argv", root, id); }
int paths_vm_qemu_log(char *out, size_t len, const char *root, unsigned id)
{ return fmt(out, len, "%s/vmengine/vms/%u/qemu.log", root, id); }
int paths_vm_qemu_run_log(char *out, size_t len, const char *root, unsigned id)
{ return fmt(out, len, "%s/vmengine/vms/%u/qemu-run.log", root, id); }

int paths_diskengine_dir(char *out, size_t len, const char *root)
{ return fmt(out, len, "%s/diskengine", root); }
int paths_diskengine_desired(char *out, size_t len, const char *root)
{ return fmt(out, len, "%s/diskengine/desired", root); }
int paths_diskengine_status(char *out, size_t len, const char *root, const char *loop)
{ return fmt(out, len, "%s/diskengine/%s.json", root, loop); }
int paths_diskengine_events(char *out, size_t len, const char *root)
{ return fmt(out, len, "%s/diskengine/events.jsonl", root); }
int paths_diskengine_marker(char *out, size_t len, const char *root)
{ return fmt(out, len, "%s/diskengine/TARGET_RESTART", root); }

int paths_volumes_dir(char *out, size_t len, const char *root)
{ return fmt(out, len, "%s/volumes", root); }
int paths_volume_dir(char *out, size_t len, const char *volumes_dir, unsigned vol)
{ return fmt(out, len, "%s/vol%u", volumes_dir, vol); }
int paths_volume_base(char *out, size_t len, const char *volumes_dir, unsigned vol,
		      unsigned base)
{ return fmt(out, len, "%s/vol%u/base%u.img", volumes_dir, vol, base); }

int paths_export_socket(char *out, size_t len, const char *vhost_dir, unsigned vm)
{ return fmt(out, len, "%s/vm%u", vhost_dir, vm); }

int paths_target_defaults(struct target_endpoints *t, const char *root)
{
	int rc = paths_blockd_rpc_sock(t->rpc_socket, sizeof(t->rpc_socket), root);
	int rc2 = paths_blockd_vhost_dir(t->vhost_dir, sizeof(t->vhost_dir), root);
	return rc < 0 ? rc : rc2;
}

int paths_target_set_key(struct target_endpoints *t, const char *key, const char *value)
{
	if (!strcmp(key, "rpc_socket"))
		return conf_copy_string(t->rpc_socket, sizeof(t->rpc_socket), value);
	if (!strcmp(key, "vhost_dir"))
		return conf_copy_string(t->vhost_dir, sizeof(t->vhost_dir), value);
	return -ENOENT;
}

static int target_key(void *obj, const char *key, const char *value)
{
	int rc = paths_target_set_key(obj, key, value);
	return rc == -ENOENT ? 0 : rc;       /* diskengine validates the rest of its section */
}

int paths_target_load(struct target_endpoints *t, const char *root, const char *conf_path,
		      char *err, size_t errlen)
{
	if (paths_target_defaults(t, root) < 0) {
		snprintf(err, errlen, "root path too long");
		return -ENAMETOOLONG;
	}
	return conf_load_section(conf_path, "diskengine", target_key, t, err, errlen);
}
