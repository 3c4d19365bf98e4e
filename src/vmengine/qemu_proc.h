/* qemu_proc.h — QEMU as a process: its command line (paused with -S, -no-shutdown, QMP on
 * monitor.sock, the VM's disk; docs/vmengine.md lists the files), a daemonized launch
 * with a deadline, and signals that only ever reach the QEMU of the right VM (its
 * /proc/<pid>/cmdline must carry "-name vm<id>,"). */
#ifndef VMENGINE_QEMU_PROC_H
#define VMENGINE_QEMU_PROC_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "vm_spec.h"

struct qemu_paths {
	char dir[PATH_MAX];              /* <root>/vmengine/vms/<id> */
	char pidfile[PATH_MAX + 16];
	char monitor[PATH_MAX + 16];
	char operator_monitor[PATH_MAX + 32];   /* for operators (`berth qmp`) */
	char state[PATH_MAX + 16];       /* vm.state */
	char console[PATH_MAX + 16];
	char argv_file[PATH_MAX + 16];
	char log[PATH_MAX + 16];         /* QEMU's own stderr while it starts (qemu.log) */
	char run_log[PATH_MAX + 16];     /* QEMU's stderr once daemonized (-D, qemu-run.log) */
};

/* The chardev of a vhost-user disk (its connection: vm_disk.h). */
#define QEMU_DISK_CHARDEV "disk0"

void qemu_paths_init(struct qemu_paths *p, const char *root, unsigned id);

/* The full argv (NULL-terminated, malloc'd) or NULL. */
char **qemu_build_argv(const struct vmengine_config *cfg, const struct vm_spec *spec,
		       const struct qemu_paths *p);
void qemu_free_argv(char **argv);

/* The last line of qemu-run.log (what the running QEMU printed last: often why it ended), made
 * safe for a key="value" log field; "" when there is none. */
void qemu_run_log_last_line(const struct qemu_paths *p, char *out, size_t len);

/* console.log is appended to across launches (every boot stays); at a launch, one over this
 * size becomes console.log.1 (replacing the one before), so a VM's console takes at most about
 * twice this much. */
#define QEMU_CONSOLE_ROTATE_BYTES (16L << 20)

/* Rotates p->console when it is over QEMU_CONSOLE_ROTATE_BYTES: 1 when rotated, 0 when not
 * (missing or small enough), -errno. */
int qemu_rotate_console(const struct qemu_paths *p);

/* Starts QEMU (-daemonize) and waits at most timeout_ms for it to finish initialising.
 * Writes qemu.argv and rotates the console first. Returns the daemon's pid, or -errno with a
 * one-line reason in err (QEMU's own message when it printed one). */
int qemu_launch(char **argv, const struct qemu_paths *p, int timeout_ms, char *err,
		size_t errlen);

/* The pid in the pidfile, or -errno. */
int qemu_read_pidfile(const char *path);
/* pid is alive (not a zombie) and is the QEMU of VM id. */
bool qemu_pid_matches(int pid, unsigned id);
/* A live process whose cmdline names VM id (qemu_pid_matches) and, unless pidfile is NULL,
 * carries "-pidfile <pidfile>" (a QEMU of this root, not another Berth root's VM with the
 * same id), found by scanning /proc: for a QEMU whose pid was never recorded (vmengine died
 * during the launch). When several match (QEMU's first process still waiting for its
 * daemon), one that is not the parent of another. The pid, or -ESRCH when there is none
 * (-errno when /proc cannot be read). */
int qemu_find_pid(unsigned id, const char *pidfile);
/* Sends sig only to a pid that qemu_pid_matches. 0, or -ESRCH when it is gone or not ours. */
int qemu_signal(int pid, unsigned id, int sig);

#endif
