/* persist.c — the configuration (save_config's snapshot) written durably (tmp + fsync +
 * rename + directory fsync) around every change, through the RPC change hooks: after a
 * create or an update (a failure makes the dispatcher take the change back and fail the
 * request), and before a delete (with the configuration it will leave). Replayed through the
 * RPC methods at start; an entry that fails to replay is reported and kept in the file.
 * The reply to a change goes out only once it is saved (the dispatcher waits for the hook).
 * Owns the rule "Durability of acknowledged changes" of docs/architecture.md (bug class 3).
 */
#include "persist.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "atomic_file.h"
#include "jsonrpc.h"
#include "log.h"
#include "rpc.h"

#define PERSIST_MAX_BYTES (16 * 1024 * 1024)

static char *persist_path;
static char *last_saved;        /* the text of the last durable save (NULL: none yet) */
/* Entries of the file that did not replay at start ([{"subsystem", "entry"}]): written again
 * with every save, after the live entries of their subsystem, until an object of the same
 * name in that subsystem replaces them; reported at every start. Never dropped silently. */
static json_t *g_kept;

void persist_set_path(const char *path)
{
	free(persist_path);
	persist_path = path ? strdup(path) : NULL;
	free(last_saved);
	last_saved = NULL;
	json_decref(g_kept);
	g_kept = NULL;
}

static json_t *subsystem_config(json_t *config, const char *subsystem)
{
	size_t i;
	json_t *sub;
	json_array_foreach(json_object_get(config, "subsystems"), i, sub) {
		const char *name = json_string_value(json_object_get(sub, "subsystem"));
		if (name && subsystem && strcmp(name, subsystem) == 0)
			return json_object_get(sub, "config");
	}
	json_t *entries = json_array();
	json_array_append_new(json_object_get(config, "subsystems"),
			      json_pack("{s:s?, s:o}", "subsystem", subsystem, "config", entries));
	return entries;
}

/* True when config's subsystem has an entry for an object called name. */
static bool live_has(const json_t *config, const char *subsystem, const char *name)
{
	size_t i, j;
	json_t *sub, *entry;
	json_array_foreach(json_object_get(config, "subsystems"), i, sub) {
		const char *s = json_string_value(json_object_get(sub, "subsystem"));
		if (!s || !subsystem || strcmp(s, subsystem) != 0)
			continue;
		json_array_foreach(json_object_get(sub, "config"), j, entry) {
			const char *n = rpc_config_object_name(json_object_get(entry, "params"));
			if (n && strcmp(n, name) == 0)
				return true;
		}
	}
	return false;
}

/* A copy of config with the kept entries added; superseded[i] set for those a live object
 * of the same name replaces. */
static json_t *with_kept(const json_t *config, bool *superseded)
{
	json_t *copy = json_deep_copy(config);
	size_t i;
	json_t *k;
	json_array_foreach(g_kept, i, k) {
		const char *subsystem = json_string_value(json_object_get(k, "subsystem"));
		json_t *entry = json_object_get(k, "entry");
		const char *name = rpc_config_object_name(json_object_get(entry, "params"));
		superseded[i] = name && live_has(config, subsystem, name);
		if (!superseded[i])
			json_array_append(subsystem_config(copy, subsystem), entry);
	}
	return copy;
}

static void forget_superseded(const bool *superseded)
{
	for (size_t i = json_array_size(g_kept); i-- > 0;) {
		if (!superseded[i])
			continue;
		json_t *entry = json_object_get(json_array_get(g_kept, i), "entry");
		log_warn("blockd", "msg=\"a persisted entry that did not replay is replaced by a "
			 "live object of the same name\" name=%s",
			 rpc_config_object_name(json_object_get(entry, "params")));
		json_array_remove(g_kept, i);
	}
}

/* Writes config durably, unless it is what the file already holds. */
static int persist_write(const json_t *config)
{
	if (!persist_path)
		return 0;
	size_t nkept = json_array_size(g_kept);
	bool *superseded = nkept ? calloc(nkept, sizeof(bool)) : NULL;
	json_t *full = config && superseded ? with_kept(config, superseded)
					    : json_incref((json_t *)config);
	char *text = full && (!nkept || superseded) ? json_dumps(full, JSON_INDENT(2)) : NULL;
	json_decref(full);
	if (!text) {
		log_error("blockd", "msg=\"cannot encode configuration\"");
		free(superseded);
		return -ENOMEM;
	}
	if (last_saved && strcmp(last_saved, text) == 0) {
		free(text);
		free(superseded);
		return 0;
	}
	int rc = atomic_write_file(persist_path, text, strlen(text), 0600);
	if (rc < 0) {
		log_error("blockd", "msg=\"cannot persist configuration\" path=%s error=\"%s\"",
			  persist_path, strerror(-rc));
		free(text);
		free(superseded);
		/* The file holds the old text or the new one: compare with neither. */
		free(last_saved);
		last_saved = NULL;
		return rc;
	}
	free(last_saved);
	last_saved = text;
	if (nkept)
		forget_superseded(superseded);
	free(superseded);
	return 0;
}

int persist_save(void)
{
	if (!persist_path)
		return 0;
	json_t *config = rpc_config_snapshot();
	int rc = persist_write(config);
	json_decref(config);
	return rc;
}

/* Replays one entry of the file at path; one that fails is kept (g_kept) and reported. */
static int replay_entry(const char *path, const char *subsystem, json_t *entry)
{
	json_t *method = json_object_get(entry, "method");
	json_t *params = json_object_get(entry, "params");
	const char *name = rpc_config_object_name(params);
	char err[256] = "no method";
	int rc = JRPC_INVALID_REQUEST;
	if (json_is_string(method)) {
		json_t *result = NULL;
		rc = rpc_call_local(json_string_value(method), params, &result, err, sizeof(err));
		json_decref(result);
		if (rc == 0)
			return 0;
	}
	log_error("blockd", "msg=\"persisted entry failed to replay; kept in the configuration "
		  "file\" path=%s subsystem=%s method=%s name=%s code=%d error=\"%s\"",
		  path, subsystem ? subsystem : "-",
		  json_is_string(method) ? json_string_value(method) : "-", name ? name : "-", rc,
		  err);
	if (!g_kept)
		g_kept = json_array();
	json_array_append_new(g_kept, json_pack("{s:s?, s:O}", "subsystem", subsystem,
						 "entry", entry));
	return -EINVAL;
}

/* A save cut short by a crash leaves "<file>.tmp.<pid>" (atomic_write_file's temporary) next
 * to the file: removed at start, so crashes do not pile them up. */
static void remove_stale_temporaries(void)
{
	char dir[PATH_MAX], prefix[NAME_MAX + 8];
	snprintf(dir, sizeof(dir), "%s", persist_path);
	char *slash = strrchr(dir, '/');
	const char *base = slash ? slash + 1 : dir;
	if (snprintf(prefix, sizeof(prefix), "%s.tmp.", base) >= (int)sizeof(prefix))
		return;
	if (slash == dir)
		dir[1] = '\0';
	else if (slash)
		*slash = '\0';
	else
		snprintf(dir, sizeof(dir), ".");
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		size_t n = strlen(prefix);
		if (strncmp(e->d_name, prefix, n) != 0 || !e->d_name[n] ||
		    strspn(e->d_name + n, "0123456789") != strlen(e->d_name + n))
			continue;
		if (unlinkat(dirfd(d), e->d_name, 0) == 0)
			log_info("blockd", "msg=\"removed the temporary file of a save cut short\" "
				 "file=%s/%s", dir, e->d_name);
	}
	closedir(d);
}

int persist_load(void)
{
	if (!persist_path)
		return 0;
	remove_stale_temporaries();
	char *text;
	int rc = read_file_all(persist_path, PERSIST_MAX_BYTES, &text, NULL);
	if (rc == -ENOENT)
		return 0;
	if (rc < 0) {
		log_error("blockd", "msg=\"cannot read persisted configuration\" path=%s "
			  "error=\"%s\"", persist_path, strerror(-rc));
		return rc;
	}
	json_error_t jerr;
	json_t *config = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
	free(text);
	json_t *subsystems = json_object_get(config, "subsystems");
	if (!json_is_array(subsystems)) {
		log_error("blockd", "msg=\"persisted configuration is not a config; ignored\" "
			  "path=%s", persist_path);
		json_decref(config);
		return -EINVAL;
	}

	/* Replay is not a change: it must not rewrite the file entry by entry. */
	char *saved = persist_path;
	persist_path = NULL;
	int replayed = 0, failed = 0;
	size_t i, j;
	json_t *sub, *entry;
	json_array_foreach(subsystems, i, sub) {
		json_t *entries = json_object_get(sub, "config");
		const char *subsystem = json_string_value(json_object_get(sub, "subsystem"));
		json_array_foreach(entries, j, entry) {
			if (replay_entry(saved, subsystem, entry) == 0)
				replayed++;
			else
				failed++;
		}
	}
	persist_path = saved;
	json_decref(config);
	log_info("blockd", "msg=\"configuration replayed\" path=%s entries=%d", persist_path,
		 replayed);
	if (failed)
		log_error("blockd", "msg=\"persisted entries did not replay; they stay in the "
			  "configuration file until they replay at a later start, or an object of "
			  "the same name replaces them\" path=%s failed=%d", persist_path, failed);
	return replayed;
}

static int persist_before_change(const struct rpc_method *m, const json_t *expected, void *arg)
{
	return persist_write(expected);
}

static int persist_after_change(const struct rpc_method *m, void *arg)
{
	return persist_save();
}

static const struct rpc_hooks persist_hooks = {
	.before_change = persist_before_change,
	.after_change = persist_after_change,
};

int persist_register(void)
{
	return rpc_register_hooks(&persist_hooks, NULL);
}
