/* vm_state.c — reading and writing vm.state (see vm_state.h). */
#include "vm_state.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>

#include "atomic_file.h"
#include "json_util.h"

#define VM_STATE_MAX_BYTES 65536

static const char *const g_escalation_names[ESC_COUNT] = {
	"none", "powerdown", "quit", "term", "kill",
};

const char *vm_escalation_name(enum vm_escalation e)
{
	return e < ESC_COUNT ? g_escalation_names[e] : "?";
}

bool vm_state_active(enum vm_state_kind k)
{
	return k == VM_STARTING || k == VM_RUNNING || k == VM_STOPPING || k == VM_RESTARTING ||
	       k == VM_TERMINATING;
}

/* Copies src into dst (size bytes) as valid UTF-8: a character that does not fit is dropped
 * whole and an invalid byte becomes '?', so that a reason cut to its buffer (or taken from a
 * message with stray bytes) can always be written as JSON. */
static void utf8_copy(char *dst, size_t size, const char *src)
{
	size_t o = 0;
	const unsigned char *p = (const unsigned char *)src;
	while (*p && o + 1 < size) {
		size_t n = *p < 0x80 ? 1 : (*p & 0xe0) == 0xc0 && *p >= 0xc2 ? 2
			 : (*p & 0xf0) == 0xe0 ? 3 : (*p & 0xf8) == 0xf0 && *p <= 0xf4 ? 4 : 0;
		size_t k = 1;
		while (n > 1 && k < n && (p[k] & 0xc0) == 0x80)
			k++;
		if (n == 0 || k < n) {          /* a stray byte, or a sequence cut short */
			dst[o++] = '?';
			p += n == 0 ? 1 : k;
			continue;
		}
		if (o + n >= size)
			break;
		memcpy(dst + o, p, n);
		o += n;
		p += n;
	}
	dst[o] = '\0';
}

static int lookup(const char *const *names, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return i;
	return -1;
}

static const char *const g_role_names[MIG_ROLE_COUNT] = { "none", "source", "destination" };

const char *vm_mig_role_name(enum vm_mig_role r)
{
	return (unsigned)r < MIG_ROLE_COUNT ? g_role_names[r] : "?";
}

static json_t *migration_json(const struct vm_migration *m)
{
	if (m->role == MIG_ROLE_NONE)
		return json_null();
	char err[sizeof(m->error)];
	utf8_copy(err, sizeof(err), m->error);
	return json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
			 "s:s, s:s}",
			 "role", vm_mig_role_name(m->role), "phase", vm_mig_phase_name(m->phase),
			 "peer", m->peer, "started", (json_int_t)m->started_ms,
			 "since", (json_int_t)m->since_ms, "progress", (json_int_t)m->progress_ms,
			 "silent_since", (json_int_t)m->silent_since_ms,
			 "window", (json_int_t)m->window_ms,
			 "window_remaining", (json_int_t)m->window_remaining,
			 "transferred", (json_int_t)m->transferred,
			 "remaining", (json_int_t)m->remaining,
			 "downtime_ms", (json_int_t)m->downtime_ms,
			 "total_ms", (json_int_t)m->total_ms, "uri", m->uri, "error", err);
}

static int migration_from_json(const json_t *o, struct vm_migration *m, char *err,
			       size_t errlen)
{
	*m = (struct vm_migration){ .downtime_ms = -1, .total_ms = -1 };
	if (!o || json_is_null(o))
		return 0;
	const char *role = NULL, *phase = NULL, *peer = "", *uri = "", *error = "";
	uint64_t started = 0, since = 0, progress = 0, silent = 0, transferred = 0, remaining = 0;
	uint64_t window = 0, window_remaining = 0;
	json_t *downtime = NULL, *total = NULL;      /* -1 (not known) or a count */
	struct jparam spec[] = {
		{ "role", JP_STRING, true, &role, NULL },
		{ "phase", JP_STRING, true, &phase, NULL },
		{ "peer", JP_STRING, false, &peer, NULL },
		{ "started", JP_UINT64, false, &started, NULL },
		{ "since", JP_UINT64, false, &since, NULL },
		{ "progress", JP_UINT64, false, &progress, NULL },
		{ "silent_since", JP_UINT64, false, &silent, NULL },
		{ "window", JP_UINT64, false, &window, NULL },
		{ "window_remaining", JP_UINT64, false, &window_remaining, NULL },
		{ "transferred", JP_UINT64, false, &transferred, NULL },
		{ "remaining", JP_UINT64, false, &remaining, NULL },
		{ "downtime_ms", JP_ANY, false, &downtime, NULL },
		{ "total_ms", JP_ANY, false, &total, NULL },
		{ "uri", JP_STRING, false, &uri, NULL },
		{ "error", JP_STRING, false, &error, NULL },
	};
	char derr[120];
	if (!json_is_object(o) || json_decode_params(o, JPARAMS(spec), derr, sizeof(derr)) < 0) {
		snprintf(err, errlen, "migration: %s", json_is_object(o) ? derr : "not an object");
		return -EINVAL;
	}
	int r = lookup(g_role_names, MIG_ROLE_COUNT, role);
	enum vm_mig_phase p;
	if (r <= 0 || vm_mig_phase_parse(phase, &p) < 0 || p == MIG_NONE ||
	    strlen(peer) >= sizeof(m->peer) || strlen(uri) >= sizeof(m->uri)) {
		snprintf(err, errlen, "migration: bad role, phase, peer or uri");
		return -EINVAL;
	}
	*m = (struct vm_migration){
		.role = (enum vm_mig_role)r, .phase = p, .started_ms = (int64_t)started,
		.since_ms = (int64_t)since, .progress_ms = (int64_t)progress,
		.silent_since_ms = (int64_t)silent, .window_ms = (int64_t)window,
		.window_remaining = window_remaining,
		.transferred = transferred, .remaining = remaining,
		.downtime_ms = json_is_integer(downtime) ? json_integer_value(downtime) : -1,
		.total_ms = json_is_integer(total) ? json_integer_value(total) : -1,
	};
	snprintf(m->peer, sizeof(m->peer), "%s", peer);
	snprintf(m->uri, sizeof(m->uri), "%s", uri);
	utf8_copy(m->error, sizeof(m->error), error);
	return 0;
}

int vm_state_save(const char *path, const struct vm_state *s)
{
	char reason[sizeof(s->reason)];
	utf8_copy(reason, sizeof(reason), s->reason);
	json_t *o = json_pack("{s:I, s:s, s:s, s:i, s:I, s:I, s:I, s:s, s:s, s:I, s:b, s:b, s:I, "
			      "s:o, s:I}",
			      "id", (json_int_t)s->id, "uuid", s->uuid,
			      "state", vm_state_name(s->state),
			      "pid", s->pid, "since", (json_int_t)s->since_ms,
			      "stopping_since", (json_int_t)s->stopping_since_ms,
			      "terminating_since", (json_int_t)s->terminating_since_ms,
			      "escalation", vm_escalation_name(s->escalation),
			      "reason", reason, "generation", (json_int_t)s->generation,
			      "restart_pending", s->restart_pending, "held", s->held,
			      "launches", (json_int_t)s->launches,
			      "disk_connected", s->disk == VM_DISK_UNKNOWN ? json_null()
						: json_boolean(s->disk == VM_DISK_UP),
			      "disk_since", (json_int_t)s->disk_since_ms);
	if (o)
		json_object_set_new(o, "migration", migration_json(&s->mig));
	char *text = o ? json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
	json_decref(o);
	if (!text)
		return -ENOMEM;
	size_t len = strlen(text);
	text[len] = '\n';     /* json_dumps leaves room: replace the NUL, write len + 1 */
	int rc = atomic_write_file(path, text, len + 1, 0600);
	free(text);
	return rc;
}

int vm_state_load(const char *path, struct vm_state *s, char *err, size_t errlen)
{
	char *text;
	int rc = read_file_all(path, VM_STATE_MAX_BYTES, &text, NULL);
	if (rc < 0) {
		snprintf(err, errlen, "%s", rc == -EFBIG ? "larger than 64 KiB" : strerror(-rc));
		return rc == -ENOENT ? rc : -EINVAL;
	}
	json_error_t jerr;
	json_t *o = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
	free(text);
	if (!o) {
		snprintf(err, errlen, "not JSON: %s", jerr.text);
		return -EINVAL;
	}
	uint32_t id = 0, launches = 0;
	uint64_t since = 0, stopping = 0, terminating = 0, generation = 0, disk_since = 0;
	json_t *disk = NULL, *migration = NULL;
	int32_t pid = 0;
	const char *state = NULL, *escalation = "none", *reason = "", *uuid = "";
	bool restart_pending = false, held = false;
	struct jparam spec[] = {
		{ "id", JP_UINT32, true, &id, NULL },
		{ "uuid", JP_STRING, false, &uuid, NULL },
		{ "state", JP_STRING, true, &state, NULL },
		{ "pid", JP_INT32, false, &pid, NULL },
		{ "since", JP_UINT64, false, &since, NULL },
		{ "stopping_since", JP_UINT64, false, &stopping, NULL },
		{ "terminating_since", JP_UINT64, false, &terminating, NULL },
		{ "escalation", JP_STRING, false, &escalation, NULL },
		{ "reason", JP_STRING, false, &reason, NULL },
		{ "generation", JP_UINT64, false, &generation, NULL },
		{ "restart_pending", JP_BOOL, false, &restart_pending, NULL },
		{ "held", JP_BOOL, false, &held, NULL },
		{ "launches", JP_UINT32, false, &launches, NULL },
		{ "disk_connected", JP_ANY, false, &disk, NULL },
		{ "disk_since", JP_UINT64, false, &disk_since, NULL },
		{ "migration", JP_ANY, false, &migration, NULL },
	};
	char derr[160];
	rc = json_decode_params(o, JPARAMS(spec), derr, sizeof(derr));
	enum vm_state_kind kind = VM_ERROR;
	struct vm_migration mig;
	if (rc == 0 && migration_from_json(migration, &mig, derr, sizeof(derr)) < 0)
		rc = -EINVAL;
	/* vm.state holds only what vmengine writes: not the store's CREATING, and MIGRATING
	 * only with the migration it is part of. */
	int k = rc < 0 || vm_state_parse(state, &kind) < 0 || kind == VM_CREATING ||
		(kind == VM_MIGRATING) != (mig.role != MIG_ROLE_NONE) ? -1 : (int)kind;
	int e = rc < 0 ? -1 : lookup(g_escalation_names, ESC_COUNT, escalation);
	if (rc < 0 || k < 0 || e < 0 || pid < 0 || strlen(uuid) > 36) {
		snprintf(err, errlen, "%s", rc < 0 ? derr : k < 0 ? "unknown state"
					    : e < 0 ? "unknown escalation" : pid < 0 ? "negative pid"
					    : "uuid longer than 36 characters");
		json_decref(o);
		return -EINVAL;
	}
	*s = (struct vm_state){
		.id = id, .state = (enum vm_state_kind)k, .pid = pid, .since_ms = (int64_t)since,
		.stopping_since_ms = (int64_t)stopping, .terminating_since_ms = (int64_t)terminating,
		.escalation = (enum vm_escalation)e, .generation = generation,
		.restart_pending = restart_pending, .held = held, .launches = launches,
		.disk = json_is_true(disk) ? VM_DISK_UP : json_is_false(disk) ? VM_DISK_DOWN
									  : VM_DISK_UNKNOWN,
		.disk_since_ms = (int64_t)disk_since, .mig = mig,
	};
	utf8_copy(s->reason, sizeof(s->reason), reason);
	snprintf(s->uuid, sizeof(s->uuid), "%s", uuid);
	json_decref(o);
	return 0;
}
