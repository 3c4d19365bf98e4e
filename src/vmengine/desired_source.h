/* desired_source.h — the seam between vmengine and whatever holds the desired state of the
 * host's VMs. Today a directory of JSON spec files (desired_dir.c); the store implements the
 * same three calls later. vmengine only reads desired state and reports what it observed. */
#ifndef VMENGINE_DESIRED_SOURCE_H
#define VMENGINE_DESIRED_SOURCE_H

#include <stdbool.h>
#include <stddef.h>

#include "vm_spec.h"
#include "vm_state.h"

struct desired_source {
	/* A snapshot of every VM this host should have: *specs is malloc'd (caller frees). A
	 * bad entry is skipped (and logged once), never fatal. 0 or -errno. */
	int (*snapshot)(struct desired_source *src, struct vm_spec **specs, size_t *n);
	/* An fd that becomes readable when the desired state may have changed (-1: none);
	 * drain it with changed(). */
	int (*change_fd)(struct desired_source *src);
	void (*changed)(struct desired_source *src);
	/* What vmengine observed, each time vm.state is written, from the VM's worker thread
	 * (any number at once); it must not wait for I/O (the store queues it for its own
	 * thread). notable: the state or escalation changed, an event for operators. May be
	 * NULL. */
	void (*report)(struct desired_source *src, const struct vm_state *st, bool notable);
	void (*destroy)(struct desired_source *src);
};

/* <dir>/<anything>.json, one spec per file (vm_spec.h's format). */
struct desired_source *desired_dir_open(const char *dir);

/* The store (store.h): this host's live VMs; a VM is launched once its volume is EXPORTED.
 * report() records vm.state's view in the store, and escalation steps as events. */
struct desired_source *desired_store_open(const char *url, const char *host, char *err,
					  size_t errlen);

#endif
