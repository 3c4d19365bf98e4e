/* store.h — Berth's store: the desired and actual state of the fleet's hosts, VMs and
 * volumes, and the events operators read. One interface, two back ends: SQLite (a file under
 * the root, WAL, busy timeout; one host) and PostgreSQL (libpq; a fleet of hosts on one
 * database), the same numbered migrations applied on open (store_migrations.h).
 * A connection belongs to one thread. Every call returns 0 or a negative errno (-ENOENT,
 * -EEXIST, -EINVAL, -EPERM, -EBUSY when the database stayed locked past the busy or lock
 * timeout, -ETIMEDOUT when a networked store did not answer within the call's deadline,
 * -ENOTCONN when it cannot be reached (the next call reconnects, with backoff), -EPROTO for
 * a schema newer than this binary, -EIO) with a one-line message in store_error(). */
#ifndef BERTH_STORE_H
#define BERTH_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STORE_NAME_MAX 64

/* A VM's live migration (the last one): while `to` is set it is under way, and the VM's
 * QEMUs and exports are the migration's to change (docs/vmengine.md). */
struct store_vm_migration {
	char to[STORE_NAME_MAX];        /* the destination host; "" when none is under way */
	char phase[16];                 /* states.h's vm_mig_phase names ("" never migrated) */
	int64_t started_ms, since_ms;   /* the migration's start, its phase's */
	char uri[160];                  /* where the destination QEMU listens, once it does */
	char info[256];                 /* progress and timings, as text */
	char error[256];                /* why it failed */
};

struct store_vm {
	int64_t id;
	char name[STORE_NAME_MAX];
	char uuid[37];
	char host[STORE_NAME_MAX];
	char desired[16];               /* RUNNING, STOPPED, TERMINATED */
	char state[16];                 /* CREATING, STARTING, RUNNING, STOPPING, STOPPED, ... */
	unsigned vcpus, memory_mb;
	char image[STORE_NAME_MAX];
	char kernel[512], initrd[512], append[1024];
	char on_crash[16];              /* stop | restart */
	int64_t volume_id;
	uint64_t generation;
	char reason[160];
	int pid;
	int64_t created_ms, updated_ms, state_since_ms;
	char disk[8];                   /* its vhost-user disk's connection: up, down, "" unknown */
	int64_t disk_since_ms;
	struct store_vm_migration mig;
};

struct store_volume {
	int64_t id;
	int64_t vm_id;
	char host[STORE_NAME_MAX];
	uint64_t size_mb;
	char layout[16];                /* raid1, raid0, single */
	char state[16];                 /* CREATING, ONLINE, EXPORTED, DELETED, ERROR */
	char export_path[256];
	char error[256];
	int64_t created_ms, updated_ms;
	/* The export a migration's destination host made (its own controller over the same
	 * base files), while the migration is under way. */
	char mig_host[STORE_NAME_MAX];
	char mig_state[16];             /* "", EXPORTED, ERROR */
	char mig_export_path[256];
};

struct store_event {
	int64_t id, time_ms, vm_id;
	char host[STORE_NAME_MAX], component[32], level[8];
	char message[512];
};

struct store;

#define STORE_ID_LEN 37                 /* a UUID's text and its NUL */

/* The deadline of one call of a networked store (PostgreSQL): connecting or reconnecting,
 * then its statements; the server's statement_timeout and lock_timeout are set from it.
 * Process-wide, for the stores opened after the call ([berth] store_timeout); 100 ms..1 h,
 * else -EINVAL. SQLite's busy timeout is its own (5 s). */
#define STORE_TIMEOUT_DEFAULT_MS 10000
int store_set_timeout_ms(int ms);

/* url: a path to an SQLite file ("sqlite:" prefix optional). store_open opens an existing
 * store only (NULL with errno ENOENT when there is none): a store is never re-created behind
 * an operator's back. store_create also makes a new, empty one; store_root.h decides when
 * that is allowed. */
struct store *store_open(const char *url, char *err, size_t errlen);
/* PostgreSQL: url is a libpq connection URI ("postgresql://user@host/db?...") or a
 * conninfo string ("service=berth", "host=/run/pg dbname=berth"); store_open fails with
 * ENOENT on a database without Berth's schema, store_create applies the migrations to it
 * (the database itself must exist). */
struct store *store_create(const char *url, char *err, size_t errlen);
/* The store's identity (a UUID, set once, store_root.h): -ENOENT while it has none.
 * store_identity_init sets it to candidate unless it has one; out gets the one kept. */
int store_identity(struct store *s, char out[STORE_ID_LEN]);
int store_identity_init(struct store *s, const char *candidate, char out[STORE_ID_LEN]);
void store_close(struct store *s);
const char *store_error(const struct store *s);

/* A VM and its root volume, in one transaction. in->id and vol->id are filled in.
 * -EEXIST when a live VM has that name. */
int store_vm_create(struct store *s, struct store_vm *vm, struct store_volume *vol);
/* Placement (docs/fleet.md): store_vm_create in one transaction that first picks vm->host
 * when it is "" — among the registered hosts that are UP and have room, the least loaded
 * (share of vCPUs in use, then of memory, then fewer VMs, then name) — or checks that the
 * named host has room. Every host row is locked for the transaction, so creates from several
 * CLIs at once never overcommit a host. A store where no host has registered yet takes the
 * VM on the host named, or on how->fallback_host; one where how->fallback_host is the only
 * registered host (a single host) takes it there when it has room, UP or DOWN. -ENOSPC (no host with room, or the named
 * host full; nothing created), -ENOENT (the named host has not registered). */
struct store_place {
	int64_t down_after_ms;          /* a host not seen for longer is DOWN: never chosen */
	const char *fallback_host;      /* when no host has registered yet */
};
int store_vm_place(struct store *s, struct store_vm *vm, struct store_volume *vol,
		   const struct store_place *how);
int store_vm_get(struct store *s, int64_t id, struct store_vm *out);
int store_vm_find(struct store *s, const char *name, struct store_vm *out);   /* live only */
/* The most recent VM named name (the highest id), terminated or not: what an operator who
 * waits on or reads about a VM that may just have finished means by its name. */
int store_vm_find_latest(struct store *s, const char *name, struct store_vm *out);
/* host NULL: every host. include_terminated: also the finished ones. *out malloc'd. */
int store_vm_list(struct store *s, const char *host, bool include_terminated,
		  struct store_vm **out, size_t *n);
/* A host's vmengine's work: the live VMs on host and those migrating to it (one query
 * filtered by host, not the fleet's every row). */
int store_vm_list_work(struct store *s, const char *host, struct store_vm **out, size_t *n);
/* What the operator wants; bump_generation asks for a VM stopped by its guest to start.
 * A VM whose desired state or state is TERMINATED only takes TERMINATED again (-EPERM). */
int store_vm_set_desired(struct store *s, int64_t id, const char *desired,
			 bool bump_generation);
/* What vmengine observed; state_since moves only when the state changes. */
int store_vm_report(struct store *s, int64_t id, const char *state, const char *reason,
		    int pid);
/* What vmengine saw of the VM's disk connection: disk "up", "down" or "" (unknown), since. */
int store_vm_report_disk(struct store *s, int64_t id, const char *disk, int64_t since_ms);
/* The same, from host's vmengine: it writes the row only while the VM is host's (vms.host,
 * in the UPDATE's own WHERE), so a report still queued on a host the VM has left (a finished
 * migration) changes nothing: -ESTALE (docs/fleet.md, *Claims*). */
int store_vm_report_as(struct store *s, const char *host, int64_t id, const char *state,
		       const char *reason, int pid);
int store_vm_report_disk_as(struct store *s, const char *host, int64_t id, const char *disk,
			    int64_t since_ms);

int store_volume_get(struct store *s, int64_t id, struct store_volume *out);
int store_volume_list(struct store *s, const char *host, bool include_deleted,
		      struct store_volume **out, size_t *n);
/* The volumes a host's vmengine needs: not deleted, on host or exported on it for an
 * incoming migration (mig_host). */
int store_volume_list_work(struct store *s, const char *host, struct store_volume **out,
			   size_t *n);
/* What diskengine observed. export_path and error may be NULL (left as they are). */
int store_volume_report(struct store *s, int64_t id, const char *state,
			const char *export_path, const char *error);

int store_event_add(struct store *s, const char *host, const char *component, int64_t vm_id,
		    const char *level, const char *message);
/* Events with id > after_id, at most limit (the newest ones), oldest first; vm_id 0: all. */
int store_event_list(struct store *s, int64_t after_id, int64_t vm_id, size_t limit,
		     struct store_event **out, size_t *n);

/* Hosts as rows: each host's vmengine registers it at start (its capacity, and the limits of
 * the VMs it takes: what a migration's preflight checks) and says it is alive (its heartbeat,
 * seen_ms) while it runs, both from its reporter thread; store_host_seen keeps the rest. A
 * host whose heartbeat is older than [berth] host_down_after is DOWN. */
struct store_host {
	char name[STORE_NAME_MAX];
	unsigned vcpus;                 /* capacity; 0 while the host has not registered */
	uint64_t memory_mb;
	unsigned max_memory_mb, max_vcpus;      /* the biggest VM it takes; 0: not reported */
	char memory_backend[32];                /* the QEMU memory backend its VMs get */
	int64_t registered_ms, seen_ms;
	/* what its live (not TERMINATED) VMs take */
	unsigned vms, used_vcpus;
	uint64_t used_memory_mb;
};

/* h->name, capacity (vcpus, memory_mb: both > 0) and limits; its times and usage ignored. */
int store_host_register(struct store *s, const struct store_host *h);
int store_host_seen(struct store *s, const char *host);
int store_host_get(struct store *s, const char *name, struct store_host *out);
/* Every host, by name. *out malloc'd. */
int store_host_list(struct store *s, struct store_host **out, size_t *n);

/* ---- live migration (docs/vmengine.md). Each call is one statement or transaction, guarded
 * so that a late or repeated call from another process changes nothing (-ESTALE). */

/* `berth vm migrate`: to becomes the destination, phase requested, started now. Only a VM
 * that is RUNNING, desired RUNNING, with no migration under way, on a host other than to;
 * else -EPERM (not running), -EBUSY (one under way), -EINVAL (to is its host). */
int store_vm_migrate_request(struct store *s, int64_t id, const char *to);
/* The source's progress: phase, its since-time, info and error, for the migration to `to`
 * (-ESTALE when no migration to `to` is under way). clear_to ends it (failed): the
 * destination then lets go of its QEMU and export. */
int store_vm_migration_phase(struct store *s, int64_t id, const char *to, const char *phase,
			     int64_t since_ms, const char *info, const char *error,
			     bool clear_to);
/* The destination's QEMU listens at uri (-ESTALE unless a migration to host is under way). */
int store_vm_migration_uri(struct store *s, int64_t id, const char *host, const char *uri);
/* The destination took the VM over (its QEMU resumed, or started fresh): in one transaction
 * the VM and its volume move to host (the volume's export becomes the one host made), the
 * migration ends with final_phase. -ESTALE unless a migration to host is under way. */
int store_vm_migration_finish(struct store *s, int64_t id, const char *host,
			      const char *final_phase);
/* A destination's diskengine: its export of the volume for an incoming migration (state
 * EXPORTED or ERROR; "" with path "" once removed). */
int store_volume_report_incoming(struct store *s, int64_t id, const char *host,
				 const char *state, const char *export_path);

/* ---- copying a whole store (`berth store copy`, docs/fleet.md) */

#define STORE_COPY_TABLES 5
extern const char *const store_copy_tables[STORE_COPY_TABLES];  /* hosts, vms, volumes, ... */
/* Every row of from's tables into to, which must be empty (-EEXIST) and of the same schema
 * version (-EPROTO), in one transaction on to (nothing copied on any failure), ids kept;
 * counts[i] the rows of store_copy_tables[i]. err gets one line. The source should have no
 * writer (its host's daemons stopped): its tables are read one after the other. */
int store_copy(struct store *from, struct store *to, size_t counts[STORE_COPY_TABLES],
	       char *err, size_t errlen);
#endif
