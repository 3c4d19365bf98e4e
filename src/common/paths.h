/* paths.h — every runtime path under a host root, one function each. No other file builds
 * a path under the root by hand. Each writes at most len bytes (NUL included) to out and
 * returns 0, or -ENAMETOOLONG (out then holds a truncated path that names nothing useful).
 *
 *   <root>/berth.conf                               paths_conf
 *   <root>/store.db                                 paths_store
 *   <root>/store.id                                 paths_store_id (the root's store)
 *   <root>/run/                                     paths_run_dir
 *   <root>/run/supervisor.{lock,pid,json,log,notify} paths_supervisor_*
 *   <root>/run/<daemon>.{log,lock}                  paths_daemon_log, paths_daemon_lock
 *   <root>/run/metrics.json                         paths_metrics_status (the endpoint)
 *   <root>/blockd/{rpc.sock,vhost,config.json}      paths_blockd_*  (the defaults of the
 *                                                   configured [diskengine] rpc_socket and
 *                                                   vhost_dir: paths_target_load)
 *   <root>/vmengine/{vms,desired,status.json,TARGET_RESTART}
 *   <root>/vmengine/vms/<id>/{vm.state,qemu.pid,monitor.sock,qmp-operator.sock,
 *                             console.log,qemu.argv,qemu.log,qemu-run.log}
 *   <root>/diskengine/{desired,<loop>.json,events.jsonl,TARGET_RESTART}
 *   <root>/volumes/vol<id>/base<n>.img             the default [diskengine] volumes_dir; the
 *                                                   volume paths take the configured one */
#ifndef BERTH_PATHS_H
#define BERTH_PATHS_H

#include <limits.h>
#include <stddef.h>

/* Big enough for any path of this file under a root of at most PATH_MAX bytes. */
#define BERTH_PATH_LEN (PATH_MAX + 64)

int paths_conf(char *out, size_t len, const char *root);
int paths_store(char *out, size_t len, const char *root);
int paths_store_id(char *out, size_t len, const char *root);

int paths_run_dir(char *out, size_t len, const char *root);
int paths_supervisor_lock(char *out, size_t len, const char *root);
int paths_supervisor_pid(char *out, size_t len, const char *root);
int paths_supervisor_state(char *out, size_t len, const char *root);
int paths_supervisor_log(char *out, size_t len, const char *root);
/* The supervisor's sd_notify socket for blockd's watchdog pings. */
int paths_supervisor_notify(char *out, size_t len, const char *root);
int paths_daemon_log(char *out, size_t len, const char *root, const char *daemon);
int paths_daemon_lock(char *out, size_t len, const char *root, const char *daemon);
int paths_metrics_status(char *out, size_t len, const char *root);

int paths_blockd_dir(char *out, size_t len, const char *root);
int paths_blockd_rpc_sock(char *out, size_t len, const char *root);
int paths_blockd_vhost_dir(char *out, size_t len, const char *root);
int paths_blockd_config(char *out, size_t len, const char *root);

int paths_vmengine_dir(char *out, size_t len, const char *root);
int paths_vmengine_vms(char *out, size_t len, const char *root);
int paths_vmengine_desired(char *out, size_t len, const char *root);
int paths_vmengine_status(char *out, size_t len, const char *root);
int paths_vmengine_marker(char *out, size_t len, const char *root);
int paths_vm_dir(char *out, size_t len, const char *root, unsigned id);
int paths_vm_state(char *out, size_t len, const char *root, unsigned id);
int paths_vm_pidfile(char *out, size_t len, const char *root, unsigned id);
int paths_vm_monitor(char *out, size_t len, const char *root, unsigned id);
int paths_vm_operator_monitor(char *out, size_t len, const char *root, unsigned id);
int paths_vm_console(char *out, size_t len, const char *root, unsigned id);
int paths_vm_argv(char *out, size_t len, const char *root, unsigned id);
int paths_vm_qemu_log(char *out, size_t len, const char *root, unsigned id);
int paths_vm_qemu_run_log(char *out, size_t len, const char *root, unsigned id);

int paths_diskengine_dir(char *out, size_t len, const char *root);
int paths_diskengine_desired(char *out, size_t len, const char *root);
/* loop: "attach" or "detach" */
int paths_diskengine_status(char *out, size_t len, const char *root, const char *loop);
int paths_diskengine_events(char *out, size_t len, const char *root);
int paths_diskengine_marker(char *out, size_t len, const char *root);

int paths_volumes_dir(char *out, size_t len, const char *root);
/* Under a volumes directory ([diskengine] volumes_dir, default paths_volumes_dir): two host
 * roots sharing one (shared storage) see the same base files. */
int paths_volume_dir(char *out, size_t len, const char *volumes_dir, unsigned vol);
int paths_volume_base(char *out, size_t len, const char *volumes_dir, unsigned vol,
		      unsigned base);

/* The vhost-user socket of VM vm's export: <vhost_dir>/vm<vm>. */
int paths_export_socket(char *out, size_t len, const char *vhost_dir, unsigned vm);

/* Where the storage target listens: [diskengine] rpc_socket and vhost_dir of berth.conf,
 * else <root>/blockd/rpc.sock and <root>/blockd/vhost. Everything that talks to or starts
 * the target (diskengine, `berth rpc`, the supervisor) reads them here. */
struct target_endpoints {
	char rpc_socket[108];          /* a Unix socket path: sun_path's size */
	char vhost_dir[PATH_MAX];
};

/* The defaults for root. 0 or -ENAMETOOLONG. */
int paths_target_defaults(struct target_endpoints *t, const char *root);
/* Sets rpc_socket or vhost_dir from a [diskengine] key: 0, -EINVAL for a bad value,
 * -ENOENT for another key. */
int paths_target_set_key(struct target_endpoints *t, const char *key, const char *value);
/* The defaults, then the two keys from the [diskengine] section of conf_path (a missing file
 * is fine); other keys of the section are left to diskengine. 0 or -errno with err set. */
int paths_target_load(struct target_endpoints *t, const char *root, const char *conf_path,
		      char *err, size_t errlen);

#endif
