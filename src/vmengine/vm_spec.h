/* vm_spec.h — what a VM should be: the desired state and everything needed to launch it.
 * The desired-state source (desired_vms.h) produces these; vmengine never edits them. */
#ifndef VMENGINE_VM_SPEC_H
#define VMENGINE_VM_SPEC_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

#include "states.h"

#define VM_ID_MAX 999999999u

enum vm_on_crash { ON_CRASH_STOP, ON_CRASH_RESTART };

/* The VM's live migration as the store has it (desired_vms_store.c); none from spec files. */
struct vm_spec_migration {
	enum vm_mig_phase phase;        /* the store's phase (MIG_NONE: never migrated) */
	char to[64];                    /* the destination host while one is under way, else "" */
	bool incoming;                  /* this host is that destination: disk_vhost and
					 * disk_ready are the export made here for it */
	int64_t started_ms;
	char uri[160];                  /* where the destination's QEMU listens, once it does */
};

struct vm_spec {
	unsigned id;
	char name[64];
	char uuid[37];
	unsigned vcpus;
	unsigned memory_mb;
	char kernel[PATH_MAX], initrd[PATH_MAX];
	char append[1024];
	char disk_vhost[108];           /* a vhost-user-blk socket, or */
	char disk_file[PATH_MAX];       /* a raw file (tests that do not care about storage) */
	unsigned num_queues;
	enum vm_desired desired;
	enum vm_on_crash on_crash;
	uint64_t generation;            /* bumped by whoever wants a stopped VM started again */
	bool disk_ready;                /* its export exists: QEMU may be launched */
	struct vm_spec_migration mig;
};

/* Validates and decodes a spec object:
 * {"id", "name", "uuid", "vcpus", "memory_mb", "kernel", "initrd", "append",
 *  "disk": {"vhost": path, "num_queues": n} | {"file": path},
 *  "desired": "RUNNING"|"STOPPED"|"TERMINATED", "on_crash": "stop"|"restart", "generation"}.
 * 0, or -EINVAL with the reason in err. */
int vm_spec_from_json(const json_t *obj, struct vm_spec *out, char *err, size_t errlen);

const char *vm_desired_name(enum vm_desired d);

#endif
