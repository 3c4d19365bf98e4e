/* cli_why.c — what a VM or a volume is waiting on (see cli_why.h). */
#include "cli_why.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "atomic_file.h"
#include "clock.h"
#include "escalation.h"
#include "vm_state.h"

/* diskengine writes its status files at least once a second: older than this, it is not
 * running (or stuck), and what the files say is history. */
#define STATUS_STALE_MS 5000

/* A call in flight for less than this is just a call, not something to wait on. */
#define IN_FLIGHT_NOTABLE_MS 1000

struct why {
	const char *root;
	json_t *loops[2];               /* attach.json, detach.json (NULL when unreadable) */
	struct vmengine_config vcfg;
	bool vcfg_ok;
	int64_t now_ms;
};

static json_t *load_json(const char *path)
{
	char *text = NULL;
	if (read_file_all(path, 4 << 20, &text, NULL) < 0)
		return NULL;
	json_t *v = json_loads(text, 0, NULL);
	free(text);
	return json_is_object(v) ? v : (json_decref(v), NULL);
}

struct why *why_open(struct cli *c)
{
	struct why *w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->root = c->root;
	w->now_ms = wall_ms();
	static const char *const names[2] = { "attach", "detach" };
	for (int i = 0; i < 2; i++) {
		char path[BERTH_PATH_LEN];
		paths_diskengine_status(path, sizeof(path), c->root, names[i]);
		w->loops[i] = load_json(path);
	}
	char conf[BERTH_PATH_LEN], err[512];
	paths_conf(conf, sizeof(conf), c->root);
	w->vcfg_ok = vmengine_config_load(&w->vcfg, c->root, conf, err, sizeof(err)) == 0;
	return w;
}

void why_close(struct why *w)
{
	if (!w)
		return;
	json_decref(w->loops[0]);
	json_decref(w->loops[1]);
	free(w);
}

void why_clock(int64_t when_ms, char *out, size_t len)
{
	time_t secs = (time_t)(when_ms / 1000);
	struct tm tm;
	strftime(out, len, "%H:%M:%S", localtime_r(&secs, &tm));
}

static long long secs_since(const struct why *w, int64_t ms)
{
	int64_t d = w->now_ms - ms;
	return d < 0 ? 0 : (long long)(d / 1000);
}

static int64_t get_ms(json_t *o, const char *key)
{
	return (int64_t)json_integer_value(json_object_get(o, key));
}

static const char *get_str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "";
}

/* One item's phrase: a call in flight that has not answered, or a failing one. */
static bool item_phrase(const struct why *w, json_t *it, char *out, size_t len)
{
	const char *rpc = get_str(it, "rpc");
	int64_t attempt = get_ms(it, "attempt_ms"), failing = get_ms(it, "failing_since_ms");
	if (!rpc[0] || !strcmp(rpc, "-"))
		rpc = "its call";
	if (json_is_true(json_object_get(it, "in_flight")) && attempt &&
	    w->now_ms - attempt >= IN_FLIGHT_NOTABLE_MS) {
		snprintf(out, len, "%s has not answered for %lld s%s", rpc, secs_since(w, attempt),
			 failing && failing < attempt ? " (failing before that)" : "");
		return true;
	}
	if (failing) {
		const char *error = get_str(it, "error");
		snprintf(out, len, "%s failed: %s (failing for %lld s, %lld failures)", rpc,
			 error[0] ? error : "unknown error", secs_since(w, failing),
			 (long long)json_integer_value(json_object_get(it, "failures")));
		return true;
	}
	return false;
}

static bool fresh(const struct why *w, json_t *loop)
{
	return loop && w->now_ms - get_ms(loop, "updated_ms") <= STATUS_STALE_MS;
}

bool why_volume(struct why *w, int64_t vol, char *out, size_t len)
{
	for (int i = 0; i < 2; i++) {
		if (!fresh(w, w->loops[i]))
			continue;
		size_t k;
		json_t *it;
		json_array_foreach(json_object_get(w->loops[i], "items"), k, it) {
			if (strcmp(get_str(it, "item"), "volume") || get_ms(it, "vol") != vol)
				continue;
			if (item_phrase(w, it, out, len))
				return true;
		}
	}
	return false;
}

/* The target as the loop that serves this VM's next move sees it. */
static bool why_target(struct why *w, int loop, char *out, size_t len)
{
	json_t *l = w->loops[loop];
	char clock[16];
	if (!l)
		return false;
	if (!fresh(w, l)) {
		why_clock(get_ms(l, "updated_ms"), clock, sizeof(clock));
		snprintf(out, len, "diskengine: no report since %s (%lld s); is it running?", clock,
			 secs_since(w, get_ms(l, "updated_ms")));
		return true;
	}
	if (!strcmp(get_str(l, "target"), "unreachable")) {
		int64_t since = get_ms(l, "unreachable_since_ms");
		why_clock(since, clock, sizeof(clock));
		snprintf(out, len, "the storage target: not reachable since %s (%lld s)", clock,
			 secs_since(w, since));
		return true;
	}
	size_t k;
	json_t *it;
	json_array_foreach(json_object_get(l, "items"), k, it) {
		char phrase[512];
		if (!strcmp(get_str(it, "item"), "target") &&
		    item_phrase(w, it, phrase, sizeof(phrase))) {
			snprintf(out, len, "the storage target: %s", phrase);
			return true;
		}
	}
	return false;
}

bool why_escalation(struct why *w, int64_t vm_id, struct why_escalation *out)
{
	char path[BERTH_PATH_LEN], err[256];
	struct vm_state st;
	enum vm_escalation next;
	int64_t due;
	if (!w->vcfg_ok || vm_id <= 0)
		return false;
	paths_vm_state(path, sizeof(path), w->root, (unsigned)vm_id);
	if (vm_state_load(path, &st, err, sizeof(err)) < 0 || !escalation_since(&st))
		return false;
	*out = (struct why_escalation){ .since_ms = escalation_since(&st) };
	snprintf(out->step, sizeof(out->step), "%s", vm_escalation_name(st.escalation));
	if (escalation_next(&w->vcfg, &st, &next, &due)) {
		snprintf(out->next, sizeof(out->next), "%s", vm_escalation_name(next));
		out->next_due_ms = due;
	}
	return true;
}

bool why_vm(struct why *w, const struct store_vm *vm, char *out, size_t len)
{
	char phrase[512];
	struct why_escalation esc;
	if (why_volume(w, vm->volume_id, phrase, sizeof(phrase))) {
		snprintf(out, len, "volume %lld: %s", (long long)vm->volume_id, phrase);
		return true;
	}
	if (why_escalation(w, vm->id, &esc)) {
		char clock[16];
		why_clock(esc.since_ms, clock, sizeof(clock));
		if (!esc.next[0]) {
			snprintf(out, len, "its QEMU to exit (last step %s taken; stop began at %s)",
				 esc.step, clock);
		} else {
			int64_t in = (esc.next_due_ms - w->now_ms + 999) / 1000;
			char when[32] = "now";
			if (in > 0)
				snprintf(when, sizeof(when), "in %lld s", (long long)in);
			snprintf(out, len, "step %s (stop began at %s); %s due %s", esc.step, clock,
				 esc.next, when);
		}
		return true;
	}
	/* A VM coming up waits on the attach loop, one going away on the detach loop. */
	bool going = !strcmp(vm->desired, "TERMINATED") || !strcmp(vm->desired, "STOPPED");
	return why_target(w, going ? 1 : 0, out, len);
}
