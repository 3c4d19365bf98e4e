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
int store_vm_get(struct store *s, int64_t id, struct store_vm *out);
int store_vm_find(struct store *s, const char *name, struct store_vm *out);   /* live only */
/* The most recent VM named name (the highest id), terminated or not: what an operator who
 * waits on or reads about a VM that may just have finished means by its name. */
int store_vm_find_latest(struct store *s, const char *name, struct store_vm *out);
/* host NULL: every host. include_terminated: also the finished ones. *out malloc'd. */
int store_vm_list(struct store *s, const char *host, bool include_terminated,
		  struct store_vm **out, size_t *n);
/* What the operator wants; bump_generation asks for a VM stopped by its guest to start.
 * A VM whose desired state or state is TERMINATED only takes TERMINATED again (-EPERM). */
int store_vm_set_desired(struct store *s, int64_t id, const char *desired,
			 bool bump_generation);
/* What vmengine observed; state_since moves only when the state changes. */
int store_vm_report(struct store *s, int64_t id, const char *state, const char *reason,
		    int pid);
/* What vmengine saw of the VM's disk connection: disk "up", "down" or "" (unknown), since. */
int store_vm_report_disk(struct store *s, int64_t id, const char *disk, int64_t since_ms);

int store_volume_get(struct store *s, int64_t id, struct store_volume *out);
int store_volume_list(struct store *s, const char *host, bool include_deleted,
		      struct store_volume **out, size_t *n);
/* What diskengine observed. export_path and error may be NULL (left as they are). */
int store_volume_report(struct store *s, int64_t id, const char *state,
			const char *export_path, const char *error);

int store_event_add(struct store *s, const char *host, const char *component, int64_t vm_id,
		    const char *level, const char *message);
/* Events with id > after_id, at most limit (the newest ones), oldest first; vm_id 0: all. */
int store_event_list(struct store *s, int64_t after_id, int64_t vm_id, size_t limit,
		     struct store_event **out, size_t *n);

/* Hosts as rows: each host's vmengine registers it (its capacity) at start and says it is
 * alive (its heartbeat, seen_ms) while it runs; store_host_seen keeps the capacity. */
struct store_host {
	char name[STORE_NAME_MAX];
	unsigned vcpus;                 /* capacity; 0 while the host has not registered */
	uint64_t memory_mb;
	int64_t registered_ms, seen_ms;
	/* what its live (not TERMINATED) VMs take */
	unsigned vms, used_vcpus;
	uint64_t used_memory_mb;
};

int store_host_register(struct store *s, const char *host, unsigned vcpus,
			uint64_t memory_mb);
int store_host_seen(struct store *s, const char *host);
/* Every host, by name; *out malloc'd. */
int store_host_list(struct store *s, struct store_host **out, size_t *n);


#endif
