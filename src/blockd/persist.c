/* persist.c — the configuration (save_config's snapshot) written durably (tmp + fsync +
 * rename + directory fsync) around every change, through the RPC change hooks: after a
 * create or an update (a failure makes the dispatcher take the change back and fail the
 * request), and before a delete (with the configuration it will leave). Replayed through the
 * RPC methods at start. */
#include "persist.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "atomic_file.h"
#include "log.h"
#include "rpc.h"

#define PERSIST_MAX_BYTES (16 * 1024 * 1024)

static char *persist_path;
static char *last_saved;        /* the text of the last durable save (NULL: none yet) */

void persist_set_path(const char *path)
{
	free(persist_path);
	persist_path = path ? strdup(path) : NULL;
	free(last_saved);
	last_saved = NULL;
}

/* Writes config durably, unless it is what the file already holds. */
static int persist_write(const json_t *config)
{
	if (!persist_path)
		return 0;
	char *text = config ? json_dumps(config, JSON_INDENT(2)) : NULL;
	if (!text) {
		log_error("blockd", "msg=\"cannot encode configuration\"");
		return -ENOMEM;
	}
	if (last_saved && strcmp(last_saved, text) == 0) {
		free(text);
		return 0;
	}
	int rc = atomic_write_file(persist_path, text, strlen(text), 0600);
	if (rc < 0) {
		log_error("blockd", "msg=\"cannot persist configuration\" path=%s error=\"%s\"",
			  persist_path, strerror(-rc));
		free(text);
		/* The file holds the old text or the new one: compare with neither. */
		free(last_saved);
		last_saved = NULL;
		return rc;
	}
	free(last_saved);
	last_saved = text;
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

static int replay_entry(const json_t *entry)
{
	json_t *method = json_object_get(entry, "method");
	json_t *params = json_object_get(entry, "params");
	if (!json_is_string(method)) {
		log_warn("blockd", "msg=\"persisted entry without a method; skipped\"");
		return -EINVAL;
	}
	char err[256];
	json_t *result = NULL;
	int rc = rpc_call_local(json_string_value(method), params, &result, err, sizeof(err));
	json_decref(result);
	if (rc != 0) {
		log_warn("blockd", "msg=\"persisted entry failed; skipped\" method=%s code=%d "
			 "error=\"%s\"", json_string_value(method), rc, err);
		return -EINVAL;
	}
	return 0;
}

int persist_load(void)
{
	if (!persist_path)
		return 0;
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
	int replayed = 0;
	size_t i, j;
	json_t *sub, *entry;
	json_array_foreach(subsystems, i, sub) {
		json_t *entries = json_object_get(sub, "config");
		if (!json_is_array(entries))
			continue;
		json_array_foreach(entries, j, entry)
			if (replay_entry(entry) == 0)
				replayed++;
	}
	persist_path = saved;
	json_decref(config);
	log_info("blockd", "msg=\"configuration replayed\" path=%s entries=%d", persist_path,
		 replayed);
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
