/* target.c — diskengine's calls to the storage target and the volume steps (see target.h).
 * Owns the rule "Introspection safety (client)" of docs/architecture.md (bug class 5).
 */
#include "target.h"
#include "array.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "export_driver.h"
#include "log.h"
#include "paths.h"

#define MAX_BASES 4

int target_init(struct target *t, const struct diskengine_config *cfg,
		const struct export_driver *exports)
{
	*t = (struct target){ .cfg = cfg, .exports = exports };
	t->rpc = jrpc_client_new(cfg->target.rpc_socket);
	if (!t->rpc)
		return -ENOMEM;
	jrpc_client_set_timeout(t->rpc, (int)cfg->rpc_timeout_ms);
	return 0;
}

void target_fini(struct target *t)
{
	jrpc_client_free(t->rpc);
	t->rpc = NULL;
}

int target_call(struct target *t, const char *method, json_t *params, json_t **result)
{
	struct jrpc_error err = { 0 };
	json_t *res = NULL;
	snprintf(t->last_method, sizeof(t->last_method), "%s", method);
	if (t->on_call)
		t->on_call(t->on_call_arg, method);
	int rc = jrpc_call(t->rpc, method, params, &res, &err);
	json_decref(params);
	if (rc == -EREMOTEIO) {
		snprintf(t->last_error, sizeof(t->last_error), "%s: %d %s", method, err.code,
			 err.message);
		/* SPDK's convention: module failures are negative errnos. */
		return err.code < 0 && err.code > -4096 ? err.code : -EREMOTEIO;
	}
	if (rc < 0) {
		snprintf(t->last_error, sizeof(t->last_error), "%s: %s", method, strerror(-rc));
		return rc;
	}
	t->last_error[0] = '\0';
	if (result)
		*result = res;
	else
		json_decref(res);
	return 0;
}

/* ---------------------------------------------------------------- listing */

bool target_parse_id(const char *s, const char *prefix, unsigned *id)
{
	size_t plen = strlen(prefix);
	if (!s || strncmp(s, prefix, plen) != 0 || !s[plen] || s[plen] == '0')
		return false;
	char *end;
	errno = 0;
	unsigned long v = strtoul(s + plen, &end, 10);
	if (errno || *end || v == 0 || v > VOLUME_ID_MAX)
		return false;
	*id = (unsigned)v;
	return true;
}

static int list_raids(struct target *t, struct actual_snapshot *snap)
{
	json_t *res = NULL;
	int rc = target_call(t, "bdev_raid_get_bdevs", json_pack("{s:s}", "category", "all"),
			     &res);
	if (rc < 0)
		return rc;
	size_t n = json_is_array(res) ? json_array_size(res) : 0;
	snap->raids = calloc(n ? n : 1, sizeof(*snap->raids));
	if (!snap->raids) {
		json_decref(res);
		return -ENOMEM;
	}
	size_t i;
	json_t *r;
	json_array_foreach(res, i, r) {
		unsigned vol;
		if (!target_parse_id(json_string_value(json_object_get(r, "name")), "raid_vol",
				       &vol))
			continue;
		const char *state = json_string_value(json_object_get(r, "state"));
		snap->raids[snap->n_raids++] = (struct actual_raid){
			.vol = vol,
			.operational = (unsigned)json_integer_value(
				json_object_get(r, "num_base_bdevs_operational")),
			.total = (unsigned)json_integer_value(json_object_get(r, "num_base_bdevs")),
			.online = state && !strcmp(state, "online"),
		};
	}
	json_decref(res);
	return 0;
}

static int list_vol_dirs(struct target *t, struct actual_snapshot *snap)
{
	char dir[PATH_MAX + 16];
	snprintf(dir, sizeof(dir), "%s", t->cfg->volumes_dir);
	DIR *dh = opendir(dir);
	if (!dh)
		return errno == ENOENT ? 0 : -errno;
	size_t cap = 0;
	struct dirent *e;
	while ((e = readdir(dh))) {
		unsigned vol;
		if (!target_parse_id(e->d_name, "vol", &vol))
			continue;
		if (array_reserve_one(&snap->vol_dirs, &cap, snap->n_vol_dirs,
				      sizeof(*snap->vol_dirs)) < 0) {
			closedir(dh);
			return -ENOMEM;
		}
		snap->vol_dirs[snap->n_vol_dirs++] = vol;
	}
	closedir(dh);
	return 0;
}

int target_snapshot(struct target *t, struct actual_snapshot *snap)
{
	*snap = (struct actual_snapshot){ 0 };
	int rc = list_raids(t, snap);
	if (rc == 0)
		rc = t->exports->list(t, &snap->exports, &snap->n_exports);
	if (rc == 0)
		rc = list_vol_dirs(t, snap);
	if (rc < 0)
		actual_snapshot_free(snap);
	return rc;
}

void actual_snapshot_free(struct actual_snapshot *snap)
{
	free(snap->raids);
	free(snap->exports);
	free(snap->vol_dirs);
	*snap = (struct actual_snapshot){ 0 };
}

void actual_snapshot_view(const struct actual_snapshot *snap, struct actual_state *view)
{
	*view = (struct actual_state){ snap->raids, snap->n_raids, snap->exports,
				       snap->n_exports, snap->vol_dirs, snap->n_vol_dirs };
}

/* ---------------------------------------------------------------- volumes */

static void base_path(const struct target *t, unsigned vol, unsigned i, char *out, size_t len)
{
	paths_volume_base(out, len, t->cfg->volumes_dir, vol, i);
}

/* A local failure (files): what was done, on which path, and why. */
static int fail(struct target *t, int rc, const char *what, const char *path)
{
	snprintf(t->last_method, sizeof(t->last_method), "-");
	snprintf(t->last_error, sizeof(t->last_error), "%s %s: %s", what, path, strerror(-rc));
	return rc;
}

/* Sparse files of the volume's size; refused before anything is created when the file
 * system cannot hold them. A file of another size is never touched. */
static int create_files(struct target *t, const struct volume_spec *v, unsigned bases)
{
	char dir[PATH_MAX + 32], path[PATH_MAX + 64];
	paths_volume_dir(dir, sizeof(dir), t->cfg->volumes_dir, v->id);
	uint64_t missing = 0;
	for (unsigned i = 0; i < bases; i++) {
		struct stat st;
		base_path(t, v->id, i, path, sizeof(path));
		if (stat(path, &st) < 0 || st.st_size == 0)
			missing += v->size_bytes;
	}
	struct statvfs fs;
	char parent[PATH_MAX + 16];
	snprintf(parent, sizeof(parent), "%s", t->cfg->volumes_dir);
	mkdir(parent, 0700);
	if (missing && statvfs(parent, &fs) == 0 &&
	    (uint64_t)fs.f_bavail * fs.f_frsize < missing) {
		snprintf(t->last_method, sizeof(t->last_method), "-");
		snprintf(t->last_error, sizeof(t->last_error),
			 "vol%u needs %llu MiB, the disk has %llu MiB free", v->id,
			 (unsigned long long)(missing >> 20),
			 (unsigned long long)(((uint64_t)fs.f_bavail * fs.f_frsize) >> 20));
		return -ENOSPC;
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return fail(t, -errno, "mkdir", dir);
	for (unsigned i = 0; i < bases; i++) {
		base_path(t, v->id, i, path, sizeof(path));
		int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (fd < 0)
			return fail(t, -errno, "open", path);
		struct stat st;
		int rc = fstat(fd, &st) < 0 ? -errno : 0;
		if (rc == 0 && st.st_size == 0 && ftruncate(fd, (off_t)v->size_bytes) < 0)
			rc = -errno;
		else if (rc == 0 && st.st_size != 0 && (uint64_t)st.st_size != v->size_bytes)
			rc = -EEXIST;         /* someone else's file, or a resize: not ours to touch */
		close(fd);
		if (rc < 0)
			return fail(t, rc, "size of", path);
	}
	return 0;
}

int target_create_volume(struct target *t, const struct volume_spec *v)
{
	unsigned bases = volume_layout_bases(v->layout);
	int rc = create_files(t, v, bases);
	if (rc < 0)
		return rc;
	json_t *names = json_array();
	for (unsigned i = 0; i < bases; i++) {
		char name[64], path[PATH_MAX + 64];
		snprintf(name, sizeof(name), "vol%u_base%u", v->id, i);
		base_path(t, v->id, i, path, sizeof(path));
		rc = target_call(t, "bdev_uring_create",
				 json_pack("{s:s, s:s, s:i}", "name", name, "filename", path,
					   "block_size", 512), NULL);
		if (rc < 0 && rc != -EEXIST) {
			json_decref(names);
			return rc;
		}
		json_array_append_new(names, json_string(name));
	}
	char raid[64];
	snprintf(raid, sizeof(raid), "raid_vol%u", v->id);
	const char *level = v->layout == LAYOUT_RAID0 ? "raid0" : "raid1";
	uint32_t strip = v->layout == LAYOUT_RAID0 ? t->cfg->strip_size_kb : 0;
	rc = target_call(t, "bdev_raid_create",
			 json_pack("{s:s, s:s, s:o, s:i}", "name", raid, "raid_level", level,
				   "base_bdevs", names, "strip_size_kb", (int)strip), NULL);
	return rc == -EEXIST ? 0 : rc;
}

int target_delete_volume(struct target *t, unsigned vol, bool keep_files)
{
	char name[64], path[PATH_MAX + 64];
	snprintf(name, sizeof(name), "raid_vol%u", vol);
	int rc = target_call(t, "bdev_raid_delete", json_pack("{s:s}", "name", name), NULL);
	if (rc < 0 && rc != -ENODEV)
		return rc;
	for (unsigned i = 0; i < MAX_BASES; i++) {
		snprintf(name, sizeof(name), "vol%u_base%u", vol, i);
		rc = target_call(t, "bdev_uring_delete", json_pack("{s:s}", "name", name), NULL);
		if (rc < 0 && rc != -ENODEV)
			return rc;
		if (keep_files)
			continue;                /* another host's volume: its files are its own */
		base_path(t, vol, i, path, sizeof(path));
		if (unlink(path) < 0 && errno != ENOENT)
			return fail(t, -errno, "unlink", path);
	}
	if (keep_files)
		return 0;
	paths_volume_dir(path, sizeof(path), t->cfg->volumes_dir, vol);
	if (rmdir(path) < 0 && errno != ENOENT)
		return fail(t, -errno, "rmdir", path);
	return 0;
}
