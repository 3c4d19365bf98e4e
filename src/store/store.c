/* store.c — the store's public calls (store.h): argument checks, then the back end. */
#include "store.h"
#include "clock.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "states.h"
#include "store_backend.h"

static bool vm_state_known(const char *v)
{
	enum vm_state_kind k;
	return vm_state_parse(v, &k) == 0;
}

static bool desired_known(const char *v)
{
	enum vm_desired d;
	return vm_desired_parse(v, &d) == 0;
}

static bool host_name_ok(const char *host)
{
	return host && host[0] && strlen(host) < STORE_NAME_MAX;
}

static bool volume_state_known(const char *v)
{
	enum volume_state s;
	return volume_state_parse(v, &s) == 0;
}

/* The back end for url and where it points: the whole url for a back end that claims it,
 * "<scheme>:<location>" for a registered scheme, else a plain path for the first back end.
 * NULL for "<scheme>://..." of no back end. */
static const struct store_backend *backend_for(const char *url, const char **location)
{
	for (const struct store_backend *const *b = store_backends; *b; b++) {
		if ((*b)->claims && (*b)->claims(url)) {
			*location = url;
			return *b;
		}
	}
	size_t n = strspn(url, "abcdefghijklmnopqrstuvwxyz0123456789+-.");
	*location = url;
	if (n == 0 || url[n] != ':')
		return store_backends[0];
	for (const struct store_backend *const *b = store_backends; *b; b++) {
		if (strlen((*b)->name) == n && !strncmp(url, (*b)->name, n)) {
			*location = url + n + 1;
			return *b;
		}
	}
	return strncmp(url + n, "://", 3) == 0 ? NULL : store_backends[0];
}

static int g_timeout_ms = STORE_TIMEOUT_DEFAULT_MS;

int store_set_timeout_ms(int ms)
{
	if (ms < 100 || ms > 3600 * 1000)
		return -EINVAL;
	g_timeout_ms = ms;
	return 0;
}

const char *store_error(const struct store *s)
{
	return s->error;
}

static struct store *open_url(const char *url, bool create, char *err, size_t errlen)
{
	const char *location;
	const struct store_backend *backend = backend_for(url, &location);
	if (!backend) {
		snprintf(err, errlen, "unsupported store URL '%s' (sqlite:PATH, a plain path, "
			 "postgresql://... or service=NAME)", url);
		return NULL;
	}
	struct store *s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->ops = backend;
	s->timeout_ms = g_timeout_ms;
	int rc = s->ops->open(s, location, create);
	if (rc < 0) {
		snprintf(err, errlen, "%s", s->error);
		free(s);
		errno = -rc;
		return NULL;
	}
	return s;
}

struct store *store_open(const char *url, char *err, size_t errlen)
{
	return open_url(url, false, err, errlen);
}

struct store *store_create(const char *url, char *err, size_t errlen)
{
	return open_url(url, true, err, errlen);
}

int store_identity(struct store *s, char out[STORE_ID_LEN])
{
	return s->ops->meta_get(s, "identity", out, STORE_ID_LEN);
}

int store_identity_init(struct store *s, const char *candidate, char out[STORE_ID_LEN])
{
	return s->ops->meta_init(s, "identity", candidate, out, STORE_ID_LEN);
}

void store_close(struct store *s)
{
	if (!s)
		return;
	s->ops->close(s);
	free(s);
}

int store_vm_create(struct store *s, struct store_vm *vm, struct store_volume *vol)
{
	if (!vm->name[0] || !desired_known(vm->desired) || !vm->vcpus || !vm->memory_mb ||
	    !vol->size_mb)
		return store_fail(s, -EINVAL, "incomplete VM");
	return s->ops->vm_create(s, vm, vol, NULL);
}

int store_vm_place(struct store *s, struct store_vm *vm, struct store_volume *vol,
		   const struct store_place *how)
{
	if (!vm->name[0] || !desired_known(vm->desired) || !vm->vcpus || !vm->memory_mb ||
	    !vol->size_mb)
		return store_fail(s, -EINVAL, "incomplete VM");
	if (!memchr(vm->host, 0, sizeof(vm->host)) || !how || how->down_after_ms <= 0 ||
	    !host_name_ok(how->fallback_host))
		return store_fail(s, -EINVAL, "bad placement request");
	const struct store_placer placer = { store_place_choose, how };
	return s->ops->vm_create(s, vm, vol, &placer);
}

int store_vm_get(struct store *s, int64_t id, struct store_vm *out)
{
	return s->ops->vm_get(s, id, NULL, out);
}

int store_vm_find(struct store *s, const char *name, struct store_vm *out)
{
	return s->ops->vm_get(s, 0, name, out);
}

int store_vm_find_latest(struct store *s, const char *name, struct store_vm *out)
{
	return s->ops->vm_latest(s, name, out);
}

int store_vm_list(struct store *s, const char *host, bool include_terminated,
		  struct store_vm **out, size_t *n)
{
	return s->ops->vm_list(s, host, include_terminated, false, out, n);
}

int store_vm_list_work(struct store *s, const char *host, struct store_vm **out, size_t *n)
{
	if (!host_name_ok(host))
		return store_fail(s, -EINVAL, "bad host name");
	return s->ops->vm_list(s, host, false, true, out, n);
}

int store_vm_set_desired(struct store *s, int64_t id, const char *desired,
			 bool bump_generation)
{
	if (!desired_known(desired))
		return store_fail(s, -EINVAL, "desired state must be RUNNING, STOPPED or TERMINATED");
	return s->ops->vm_set_desired(s, id, desired, bump_generation);
}

int store_vm_report(struct store *s, int64_t id, const char *state, const char *reason,
		    int pid)
{
	if (!vm_state_known(state))
		return store_fail(s, -EINVAL, "unknown VM state '%s'", state ? state : "");
	return s->ops->vm_report(s, id, NULL, state, reason ? reason : "", pid);
}

int store_vm_report_as(struct store *s, const char *host, int64_t id, const char *state,
		       const char *reason, int pid)
{
	if (!vm_state_known(state) || !host_name_ok(host))
		return store_fail(s, -EINVAL, "unknown VM state '%s' or bad host",
				  state ? state : "");
	return s->ops->vm_report(s, id, host, state, reason ? reason : "", pid);
}

static bool disk_known(const char *disk)
{
	return disk && (!disk[0] || !strcmp(disk, "up") || !strcmp(disk, "down"));
}

int store_vm_report_disk(struct store *s, int64_t id, const char *disk, int64_t since_ms)
{
	if (!disk_known(disk))
		return store_fail(s, -EINVAL, "disk must be up, down or empty");
	return s->ops->vm_report_disk(s, id, NULL, disk, since_ms);
}

int store_vm_report_disk_as(struct store *s, const char *host, int64_t id, const char *disk,
			    int64_t since_ms)
{
	if (!disk_known(disk) || !host_name_ok(host))
		return store_fail(s, -EINVAL, "disk must be up, down or empty, and a host named");
	return s->ops->vm_report_disk(s, id, host, disk, since_ms);
}

int store_volume_get(struct store *s, int64_t id, struct store_volume *out)
{
	return s->ops->volume_get(s, id, out);
}

int store_volume_list(struct store *s, const char *host, bool include_deleted,
		      struct store_volume **out, size_t *n)
{
	return s->ops->volume_list(s, host, include_deleted, false, out, n);
}

int store_volume_list_work(struct store *s, const char *host, struct store_volume **out,
			   size_t *n)
{
	if (!host_name_ok(host))
		return store_fail(s, -EINVAL, "bad host name");
	return s->ops->volume_list(s, host, false, true, out, n);
}

int store_volume_report(struct store *s, int64_t id, const char *state,
			const char *export_path, const char *error)
{
	if (!volume_state_known(state))
		return store_fail(s, -EINVAL, "unknown volume state '%s'", state ? state : "");
	return s->ops->volume_report(s, id, state, export_path, error);
}

int store_event_add(struct store *s, const char *host, const char *component, int64_t vm_id,
		    const char *level, const char *message)
{
	struct store_event ev = { .time_ms = wall_ms(), .vm_id = vm_id };
	snprintf(ev.host, sizeof(ev.host), "%s", host ? host : "");
	snprintf(ev.component, sizeof(ev.component), "%s", component);
	snprintf(ev.level, sizeof(ev.level), "%s", level);
	snprintf(ev.message, sizeof(ev.message), "%s", message);
	return s->ops->event_add(s, &ev);
}

int store_event_list(struct store *s, int64_t after_id, int64_t vm_id, size_t limit,
		     struct store_event **out, size_t *n)
{
	return s->ops->event_list(s, after_id, vm_id, limit, out, n);
}

int store_host_seen(struct store *s, const char *host)
{
	if (!host_name_ok(host))
		return store_fail(s, -EINVAL, "a host needs a name (1..%d characters)",
				  STORE_NAME_MAX - 1);
	return s->ops->host_seen(s, host);
}

int store_host_register(struct store *s, const struct store_host *h)
{
	if (!host_name_ok(h->name))
		return store_fail(s, -EINVAL, "a host needs a name (1..%d characters)",
				  STORE_NAME_MAX - 1);
	if (!h->vcpus || h->vcpus > 65536 || !h->memory_mb || h->memory_mb > (UINT64_C(1) << 40))
		return store_fail(s, -EINVAL, "host %s: capacity must be 1..65536 vCPUs and "
				  "1 MiB..1 EiB of memory", h->name);
	if (!memchr(h->memory_backend, 0, sizeof(h->memory_backend)))
		return store_fail(s, -EINVAL, "host %s: bad memory backend", h->name);
	return s->ops->host_register(s, h);
}

/* ---------------------------------------------------------------- hosts, migrations */

static bool name_ok(const char *v)
{
	return host_name_ok(v);
}

/* A back end without the live-migration calls (none today): one line, nothing changed. */
#define NEEDS_MIGRATION_OP(s, op) \
	do { \
		if (!(s)->ops->op) \
			return store_fail((s), -ENOTSUP, "live migration is not built on the %s " \
					  "store yet", (s)->ops->name); \
	} while (0)

static bool phase_known(const char *v)
{
	enum vm_mig_phase p;
	return vm_mig_phase_parse(v, &p) == 0 && p != MIG_NONE;
}

int store_host_get(struct store *s, const char *name, struct store_host *out)
{
	struct store_host *hosts = NULL;
	size_t n = 0;
	if (!name_ok(name))
		return store_fail(s, -EINVAL, "bad host name");
	int rc = s->ops->host_list(s, name, &hosts, &n);
	if (rc == 0 && n == 0)
		rc = store_fail(s, -ENOENT, "no host '%s'", name);
	if (rc == 0)
		*out = hosts[0];
	free(hosts);
	return rc;
}

int store_host_list(struct store *s, struct store_host **out, size_t *n)
{
	return s->ops->host_list(s, NULL, out, n);
}

int store_vm_migrate_request(struct store *s, int64_t id, const char *to)
{
	NEEDS_MIGRATION_OP(s, migrate_request);
	if (!name_ok(to))
		return store_fail(s, -EINVAL, "bad destination host");
	return s->ops->migrate_request(s, id, to);
}

int store_vm_migration_phase(struct store *s, int64_t id, const char *to, const char *phase,
			     int64_t since_ms, const char *info, const char *error,
			     bool clear_to)
{
	NEEDS_MIGRATION_OP(s, migration_phase);
	if (!name_ok(to) || !phase_known(phase))
		return store_fail(s, -EINVAL, "bad migration phase '%s'", phase ? phase : "");
	return s->ops->migration_phase(s, id, to, phase, since_ms, info, error, clear_to);
}

int store_vm_migration_uri(struct store *s, int64_t id, const char *host, const char *uri)
{
	NEEDS_MIGRATION_OP(s, migration_uri);
	if (!name_ok(host) || !uri || strlen(uri) >= sizeof(((struct store_vm_migration *)0)->uri))
		return store_fail(s, -EINVAL, "bad migration uri");
	return s->ops->migration_uri(s, id, host, uri);
}

int store_vm_migration_finish(struct store *s, int64_t id, const char *host,
			      const char *final_phase)
{
	NEEDS_MIGRATION_OP(s, migration_finish);
	if (!name_ok(host) || !phase_known(final_phase))
		return store_fail(s, -EINVAL, "bad migration finish");
	return s->ops->migration_finish(s, id, host, final_phase);
}

int store_volume_report_incoming(struct store *s, int64_t id, const char *host,
				 const char *state, const char *export_path)
{
	NEEDS_MIGRATION_OP(s, volume_report_incoming);
	if (!name_ok(host) || !state || !export_path ||
	    (state[0] && strcmp(state, "EXPORTED") && strcmp(state, "ERROR")) ||
	    strlen(export_path) >= sizeof(((struct store_volume *)0)->mig_export_path))
		return store_fail(s, -EINVAL, "bad incoming export report");
	return s->ops->volume_report_incoming(s, id, host, state, export_path);
}
