/* status_file.h — the status files the daemons rewrite every tick (vmengine's status.json,
 * diskengine's attach.json / detach.json, the supervisor's supervisor.json). Readers see the
 * old content or the new, never a mix; no fsync: they need no durability (a crash of the
 * machine may lose the last update, and the next tick rewrites it). Durable state (vm.state,
 * blockd's configuration) uses atomic_write_file instead. */
#ifndef BERTH_STATUS_FILE_H
#define BERTH_STATUS_FILE_H

#include <jansson.h>

/* Writes o (stolen, may be NULL: -ENOMEM) to path, indented, mode 0644. 0 or -errno. */
int status_file_write(const char *path, json_t *o);

#endif
