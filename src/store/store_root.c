/* store_root.c — the binding of a store and its host root (see store_root.h). */
#include "store_root.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "atomic_file.h"
#include "berth_conf.h"
#include "paths.h"
#include "uuid.h"

#define FAIL(e, ...) (snprintf(err, errlen, __VA_ARGS__), errno = (e), (struct store *)NULL)

/* The first entry of dir whose name starts with prefix and goes on with a digit. */
static bool dir_has(const char *dir, const char *prefix, char *found, size_t len)
{
	DIR *dh = opendir(dir);
	if (!dh)
		return false;
	struct dirent *de;
	size_t plen = strlen(prefix);
	bool hit = false;
	while (!hit && (de = readdir(dh)))
		if (!strncmp(de->d_name, prefix, plen) && de->d_name[plen] >= '0' &&
		    de->d_name[plen] <= '9') {
			snprintf(found, len, "%s/%s", dir, de->d_name);
			hit = true;
		}
	closedir(dh);
	return hit;
}

/* VMs, volumes or exports under root: what a new store would give ids that already name
 * something. found: the first one, for the message. */
static bool root_has_state(const char *root, char *found, size_t len)
{
	char path[BERTH_PATH_LEN];
	paths_vmengine_vms(path, sizeof(path), root);
	if (dir_has(path, "", found, len))
		return true;
	paths_volumes_dir(path, sizeof(path), root);
	if (dir_has(path, "vol", found, len))
		return true;
	paths_blockd_config(path, sizeof(path), root);
	char *text = NULL;
	bool exports = read_file_all(path, 64 << 20, &text, NULL) == 0 &&
		       strstr(text, "vhost_create_blk_controller");
	free(text);
	if (exports)
		snprintf(found, len, "%s (vhost exports)", path);
	return exports;
}

/* <root>/store.id: 0 with the identity, -ENOENT, or -EINVAL for a file that holds no UUID. */
static int read_root_id(const char *root, char out[STORE_ID_LEN])
{
	char path[BERTH_PATH_LEN], *text = NULL;
	paths_store_id(path, sizeof(path), root);
	int rc = read_file_all(path, 256, &text, NULL);
	if (rc < 0)
		return rc;
	text[strcspn(text, "\n")] = '\0';
	rc = uuid_parse_text(text, out) < 0 ? -EINVAL : 0;
	free(text);
	return rc;
}

static int write_root_id(const char *root, const char *id)
{
	char path[BERTH_PATH_LEN], text[STORE_ID_LEN + 1];
	paths_store_id(path, sizeof(path), root);
	snprintf(text, sizeof(text), "%s\n", id);
	return atomic_write_file(path, text, strlen(text), 0600);
}

static bool store_is_empty(struct store *s)
{
	struct store_vm *vms = NULL;
	size_t n = 1;
	if (store_vm_list(s, NULL, true, &vms, &n) < 0)
		return false;
	free(vms);
	return n == 0;
}

/* Checks the open store s against the root (root_id: what store.id names, "" for nothing;
 * fresh: s was created just now), gives it an identity when it has none and records it in
 * store.id: s, or NULL (s closed) with err set. */
static struct store *bind(struct store *s, const char *url, const char *root, bool root_has,
			  const char *root_id, bool fresh, const char *found, char *err,
			  size_t errlen)
{
	char sid[STORE_ID_LEN], cand[STORE_ID_LEN];
	int rc = store_identity(s, sid);
	if (rc == -ENOENT) {
		/* Made before identities, or just now: it gets one, unless it cannot be
		 * this root's store. */
		if (root_id[0] && !fresh)
			return store_close(s), FAIL(EPERM, "the store %s has no identity but %s/store.id "
				"names store %s: not this root's store; refusing to use it", url, root,
				root_id);
		if (!fresh && root_has && store_is_empty(s))
			return store_close(s), FAIL(EPERM, "the store %s is empty but the root holds "
				"VMs, volumes or exports (%s): refusing to use it", url, found);
		if (uuid_generate_text(cand) < 0 || store_identity_init(s, cand, sid) < 0)
			return store_close(s), FAIL(EIO, "cannot record the store's identity in %s", url);
	} else if (rc < 0) {
		snprintf(err, errlen, "cannot read the identity of the store %s: %s", url,
			 store_error(s));
		store_close(s);
		errno = EIO;
		return NULL;
	}
	if (root_id[0] && strcmp(root_id, sid))
		return store_close(s), FAIL(EPERM, "the store %s (identity %s) is not this root's "
			"store (%s/store.id names %s); refusing to use it", url, sid, root, root_id);
	if (!root_id[0]) {
		if (root_has && !fresh && rc == 0)
			return store_close(s), FAIL(EPERM, "%s holds VMs, volumes or exports (%s) but "
				"records no store (%s/store.id): if %s is its store, write %s into "
				"that file", root, found, root, url, sid);
		if (write_root_id(root, sid) < 0)
			return store_close(s), FAIL(EIO, "cannot write %s/store.id", root);
	}
	return s;
}

struct store *store_open_for_root(const char *url, const char *root,
				  enum store_root_mode mode, char *err, size_t errlen)
{
	char root_id[STORE_ID_LEN] = "", found[BERTH_PATH_LEN + 32] = "";
	int rc = read_root_id(root, root_id);
	if (rc == -EINVAL)
		return FAIL(EINVAL, "%s/store.id does not hold a store identity (a UUID)", root);
	if (rc < 0)
		root_id[0] = '\0';
	bool root_has = root_has_state(root, found, sizeof(found));
	char oerr[512];
	struct store *s = store_open(url, oerr, sizeof(oerr));
	if (s && mode == STORE_ROOT_INIT)
		return store_close(s), FAIL(EEXIST, "there is a store already (%s)", url);
	if (s)
		return bind(s, url, root, root_has, root_id, false, found, err, errlen);
	if (errno != ENOENT)
		return FAIL(EIO, "cannot open the store: %s", oerr);
	if (root_id[0])
		return FAIL(ENOENT, "the store %s is missing but %s/store.id says this root has "
			    "store %s: restore it; refusing to create a new one", url, root, root_id);
	if (root_has)
		return FAIL(ENOENT, "the store %s is missing but the root holds VMs, volumes or "
			    "exports (%s): refusing to create a new one", url, found);
	if (mode == STORE_ROOT_OPEN)
		return FAIL(ENOENT, "no store at %s: create one with `berth init`", url);
	s = store_create(url, oerr, sizeof(oerr));
	if (!s)
		return FAIL(EIO, "cannot create the store: %s", oerr);
	return bind(s, url, root, false, "", true, found, err, errlen);
}

int store_check_root(const char *root, char *err, size_t errlen)
{
	struct berth_conf bc;
	int rc = berth_conf_load(&bc, root, err, errlen);
	if (rc < 0)
		return rc;
	store_set_timeout_ms((int)bc.store_timeout_ms);        /* the daemon's every store */
	struct store *s = store_open_for_root(bc.store, root, STORE_ROOT_OPEN, err, errlen);
	if (!s)
		return -errno;
	store_close(s);
	return 0;
}
