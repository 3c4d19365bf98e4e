/* rpc_app.c — the application (framework) RPCs: spdk_get_version, rpc_get_methods,
 * framework_get_reactors, thread_get_stats, thread_get_pollers, save_config, and
 * framework_get_subsystems / framework_get_config (what SPDK's rpc.py save_config calls). Shapes follow
 * SPDK's; ticks are nanoseconds (tick_rate 1e9). The process's threads come from the
 * struct blockd given at registration. */
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "berth_version.h"
#include "blockd.h"
#include "rpc_app.h"
#include "json_util.h"
#include "jsonrpc.h"
#include "rpc.h"

#define TICK_RATE 1000000000ULL

/* The process whose threads these methods report (rpc_app_register). */
static const struct blockd *g_app;

/* Methods without parameters still refuse unknown keys. */
static bool no_params(struct rpc_request *req, const json_t *params)
{
	char err[160];
	if (json_decode_params(params, NULL, 0, err, sizeof(err)) < 0) {
		rpc_reply_invalid_params(req, err);
		return false;
	}
	return true;
}

static void rpc_spdk_get_version(struct rpc_request *req, const json_t *params)
{
	if (!no_params(req, params))
		return;
	unsigned major = 0, minor = 0, patch = 0;
	sscanf(BERTH_VERSION, "%u.%u.%u", &major, &minor, &patch);
	rpc_reply(req, json_pack("{s:s, s:{s:i, s:i, s:i, s:s}}",
				 "version", "blockd v" BERTH_VERSION,
				 "fields", "major", major, "minor", minor, "patch", patch,
				 "suffix", ""));
}

static void add_method_name(const struct rpc_method *m, void *arg)
{
	json_array_append_new(arg, json_string(m->name));
}

static void rpc_rpc_get_methods(struct rpc_request *req, const json_t *params)
{
	bool current = false, include_aliases = false;
	struct jparam spec[] = {
		{ "current", JP_BOOL, false, &current, NULL },
		{ "include_aliases", JP_BOOL, false, &include_aliases, NULL },
	};
	char err[160];
	if (json_decode_params(params, JPARAMS(spec), err, sizeof(err)) < 0)
		return rpc_reply_invalid_params(req, err);
	json_t *names = json_array();
	rpc_foreach_method(add_method_name, names);
	rpc_reply(req, names);
}

/* One entry per thread of blockd: the control thread ("app_thread"), then each reactor. */
struct thread_view {
	const char *name;
	unsigned id;
	uint64_t busy, idle;
	unsigned active_pollers, timed_pollers;
	uint64_t poll_ns;
};

static struct thread_view view_of(struct reactor *r, unsigned id)
{
	struct reactor_stats st;
	reactor_get_stats(r, &st);
	return (struct thread_view){
		.name = st.name, .id = id, .busy = st.busy_ns, .idle = st.idle_ns,
		.active_pollers = st.active_pollers, .timed_pollers = st.timed_pollers,
		.poll_ns = st.poll_ns,
	};
}

static unsigned collect_threads(struct thread_view *out, unsigned max)
{
	unsigned n = 0;
	if (g_app->app)
		out[n++] = view_of(g_app->app, 1);
	for (unsigned i = 0; i < g_app->num_reactors && n < max; i++) {
		out[n] = view_of(g_app->reactors[i], n + 1);
		n++;
	}
	return n;
}

static void rpc_framework_get_reactors(struct rpc_request *req, const json_t *params)
{
	if (!no_params(req, params))
		return;
	struct thread_view threads[BLOCKD_MAX_REACTORS + 1];
	unsigned n = collect_threads(threads, BLOCKD_MAX_REACTORS + 1);
	json_t *reactors = json_array();
	for (unsigned i = 0; i < n; i++) {
		char mask[24];
		snprintf(mask, sizeof(mask), "%x", 1u << (i % 32));
		json_array_append_new(reactors, json_pack(
			"{s:i, s:I, s:I, s:b, s:I, s:[{s:s, s:i, s:s, s:I}]}",
			"lcore", i, "busy", (json_int_t)threads[i].busy,
			"idle", (json_int_t)threads[i].idle,
			"in_interrupt", i == 0 || !g_app->opts.busy_poll,
			"poll_ns", (json_int_t)threads[i].poll_ns,
			"lw_threads", "name", threads[i].name, "id", threads[i].id,
			"cpumask", mask, "elapsed", (json_int_t)(threads[i].busy + threads[i].idle)));
	}
	rpc_reply(req, json_pack("{s:I, s:i, s:o}", "tick_rate", (json_int_t)TICK_RATE,
				 "pid", (int)getpid(), "reactors", reactors));
}

static void rpc_thread_get_stats(struct rpc_request *req, const json_t *params)
{
	if (!no_params(req, params))
		return;
	struct thread_view threads[BLOCKD_MAX_REACTORS + 1];
	unsigned n = collect_threads(threads, BLOCKD_MAX_REACTORS + 1);
	json_t *arr = json_array();
	for (unsigned i = 0; i < n; i++) {
		char mask[24];
		snprintf(mask, sizeof(mask), "%x", 1u << (i % 32));
		json_array_append_new(arr, json_pack(
			"{s:s, s:i, s:s, s:I, s:I, s:i, s:i, s:i}",
			"name", threads[i].name, "id", threads[i].id, "cpumask", mask,
			"busy", (json_int_t)threads[i].busy, "idle", (json_int_t)threads[i].idle,
			"active_pollers_count", threads[i].active_pollers,
			"timed_pollers_count", threads[i].timed_pollers,
			"paused_pollers_count", 0));
	}
	rpc_reply(req, json_pack("{s:I, s:o}", "tick_rate", (json_int_t)TICK_RATE,
				 "threads", arr));
}

struct poller_lists {
	json_t *active, *timed;
};

static void add_poller(const struct reactor_poller_stats *p, void *arg)
{
	struct poller_lists *lists = arg;
	json_t *entry = json_pack("{s:s, s:I, s:s, s:I, s:I}", "name", p->name,
				  "id", (json_int_t)p->id, "state", "waiting",
				  "run_count", (json_int_t)p->run_count,
				  "busy_count", (json_int_t)p->busy_count);
	if (p->period_ns) {
		json_object_set_new(entry, "period_ticks", json_integer((json_int_t)p->period_ns));
		json_array_append_new(lists->timed, entry);
	} else {
		json_array_append_new(lists->active, entry);
	}
}

static void rpc_thread_get_pollers(struct rpc_request *req, const json_t *params)
{
	if (!no_params(req, params))
		return;
	struct reactor *all[BLOCKD_MAX_REACTORS + 1];
	unsigned n = 0;
	if (g_app->app)
		all[n++] = g_app->app;
	for (unsigned i = 0; i < g_app->num_reactors; i++)
		all[n++] = g_app->reactors[i];
	json_t *arr = json_array();
	for (unsigned i = 0; i < n; i++) {
		struct poller_lists lists = { json_array(), json_array() };
		reactor_foreach_poller(all[i], add_poller, &lists);
		json_array_append_new(arr, json_pack("{s:s, s:i, s:o, s:o, s:[]}",
			"name", reactor_name(all[i]), "id", i + 1, "active_pollers", lists.active,
			"timed_pollers", lists.timed, "paused_pollers"));
	}
	rpc_reply(req, json_pack("{s:I, s:o}", "tick_rate", (json_int_t)TICK_RATE,
				 "threads", arr));
}

static void rpc_save_config(struct rpc_request *req, const json_t *params)
{
	if (!no_params(req, params))
		return;
	rpc_reply(req, rpc_config_snapshot());
}

/* The subsystems of save_config in its order, each depending on those before it (their
 * objects are created first on replay: bdevs before the controllers that serve them).
 * SPDK's rpc.py save_config asks for this, then framework_get_config for each. */
static void rpc_framework_get_subsystems(struct rpc_request *req, const json_t *params)
{
	if (!no_params(req, params))
		return;
	json_t *snapshot = rpc_config_snapshot();
	json_t *out = json_array(), *deps = json_array();
	size_t i;
	json_t *s;
	json_array_foreach(json_object_get(snapshot, "subsystems"), i, s) {
		json_t *name = json_object_get(s, "subsystem");
		json_array_append_new(out, json_pack("{s:O, s:O}", "subsystem", name,
						     "depends_on", deps));
		json_t *next = json_copy(deps);
		json_array_append(next, name);
		json_decref(deps);
		deps = next;
	}
	json_decref(deps);
	json_decref(snapshot);
	rpc_reply(req, out);
}

static void rpc_framework_get_config(struct rpc_request *req, const json_t *params)
{
	const char *name = NULL;
	struct jparam spec[] = {
		{ "name", JP_STRING, true, &name, NULL },
	};
	DECODE_OR_REPLY(req, params, spec);
	json_t *snapshot = rpc_config_snapshot();
	json_t *config = NULL;
	size_t i;
	json_t *s;
	json_array_foreach(json_object_get(snapshot, "subsystems"), i, s)
		if (strcmp(json_str_at(s, "subsystem"), name) == 0)
			config = json_incref(json_object_get(s, "config"));
	json_decref(snapshot);
	if (!config)
		return rpc_reply_error(req, JRPC_INVALID_PARAMS, "Subsystem '%.64s' not found",
				       name);
	rpc_reply(req, config);
}

/* blockd writes no batches: keeping or flattening them is the same. */
static const struct rpc_spdk_param get_config_spdk_params[] = {
	{ "with_batches", JP_BOOL, NULL, NULL },
	{ NULL, 0, NULL, NULL },
};

static const struct rpc_method app_methods[] = {
	{ "spdk_get_version", rpc_spdk_get_version, 0, NULL, NULL },
	{ "rpc_get_methods", rpc_rpc_get_methods, 0, NULL, NULL },
	{ "framework_get_reactors", rpc_framework_get_reactors, 0, NULL, NULL },
	{ "thread_get_stats", rpc_thread_get_stats, 0, NULL, NULL },
	{ "thread_get_pollers", rpc_thread_get_pollers, 0, NULL, NULL },
	{ "save_config", rpc_save_config, 0, NULL, NULL },
	{ "framework_get_subsystems", rpc_framework_get_subsystems, 0, NULL, NULL },
	{ "framework_get_config", rpc_framework_get_config, 0, NULL, get_config_spdk_params },
	{ NULL, NULL, 0, NULL, NULL },
};

int rpc_app_register(const struct blockd *app)
{
	g_app = app;
	return rpc_register_methods(app_methods);
}
