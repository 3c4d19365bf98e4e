/* desired_vms.h — the seam between vmengine and whatever holds the desired state of the
 * host's VMs: the store (desired_vms_store.c, the default) or a directory of JSON spec files
 * (desired_vms_dir.c, desired_source = dir, for tests and tools). vmengine only reads the
 * desired state and reports what it observed. diskengine's desired_volumes.h has the same
 * shape: an ops struct (snapshot, change_fd, changed, report, destroy) and one
 * <name>_dir_open / <name>_store_open constructor per source. */
#ifndef VMENGINE_DESIRED_VMS_H
#define VMENGINE_DESIRED_VMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "vm_spec.h"
#include "vm_state.h"

struct desired_vms {
	/* A snapshot of every VM this host should have: *specs is malloc'd (caller frees). A
	 * bad entry is skipped (and logged once), never fatal. 0 or -errno. */
	int (*snapshot)(struct desired_vms *src, struct vm_spec **specs, size_t *n);
	/* An fd that becomes readable when the desired state may have changed (-1: none);
	 * drain it with changed(). */
	int (*change_fd)(struct desired_vms *src);
	void (*changed)(struct desired_vms *src);
	/* What vmengine observed, each time vm.state is written, from the VM's worker thread
	 * (any number at once); it must not wait for I/O (the store queues it for its own
	 * thread). kind: a refresh, or also an event for operators (vm_state.h). May be
	 * NULL. */
	void (*report)(struct desired_vms *src, const struct vm_state *st,
		       enum vm_report_kind kind);
	void (*destroy)(struct desired_vms *src);
};

/* <dir>/<anything>.json, one spec per file (vm_spec.h's format). */
struct desired_vms *desired_vms_dir_open(const char *dir);

/* The store (store.h): this host's live VMs, and those migrating to it (spec.mig.incoming);
 * a VM is launched once its volume is EXPORTED (here). report() records vm.state's view in
 * the store, escalation steps and migration phases as events. The host registers itself
 * with its capacity (vcpus, memory_mb) and the VMs it takes (cfg's limits and memory
 * backend; cfg NULL: none reported), then sends its heartbeat every HOST_HEARTBEAT_MS, both
 * from the reporter thread (never the main loop). */
#define HOST_HEARTBEAT_MS 5000
struct desired_vms *desired_vms_store_open(const char *url, const char *host, unsigned vcpus,
					  uint64_t memory_mb, const struct vmengine_config *cfg,
					  char *err, size_t errlen);

#endif
