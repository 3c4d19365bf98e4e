/* vm_disk.c — a running VM's vhost-user disk connection through query-chardev (see
 * vm_disk.h). */
#include "vm_disk.h"

#include "qemu_proc.h"

int vm_disk_observe(struct qemu_monitor *mon, int64_t deadline, struct vm_state *st,
		    int64_t now_ms)
{
	struct qemu_chardev_info info;
	int rc = qemu_monitor_query_chardev(mon, QEMU_DISK_CHARDEV, deadline, &info);
	if (rc < 0)
		return rc;
	enum vm_disk disk = info.connected ? VM_DISK_UP : VM_DISK_DOWN;
	if (disk == st->disk)
		return 0;
	st->disk = disk;
	st->disk_since_ms = now_ms;
	return 1;
}

const char *vm_disk_event_name(enum vm_disk disk)
{
	return disk == VM_DISK_UP ? "disk_reconnected" : "disk_disconnected";
}
