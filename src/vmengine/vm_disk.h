/* vm_disk.h — a running VM's disk connection, as QEMU sees it: for a vhost-user disk, whether
 * its chardev (QEMU_DISK_CHARDEV) has its backend (blockd) connected, asked with
 * query-chardev on every reconcile of a RUNNING VM (QEMU sends no event for it). vm_worker.c
 * records the answer in vm.state (disk_connected, disk_since), reports it, and turns each
 * change into an event (disk_disconnected / disk_reconnected). A VM whose QEMU is gone, or
 * whose disk is a plain file, has no disk connection to show (VM_DISK_UNKNOWN). */
#ifndef VMENGINE_VM_DISK_H
#define VMENGINE_VM_DISK_H

#include <stdint.h>

#include "qemu_monitor.h"
#include "vm_state.h"

/* Asks QEMU, within deadline, and updates st->disk and st->disk_since_ms (now_ms) when the
 * connection changed. Returns 1 when it changed, 0 when not, or the monitor's negative errno
 * (st unchanged). */
int vm_disk_observe(struct qemu_monitor *mon, int64_t deadline, struct vm_state *st,
		    int64_t now_ms);

/* The event of a change to `disk`: "disk_reconnected" or "disk_disconnected". */
const char *vm_disk_event_name(enum vm_disk disk);

#endif
