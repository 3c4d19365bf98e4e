/* store_root.h — a store knows its host root, and the root its store.
 *
 * A store's identity is a random UUID in its meta table, set when it is created; the root
 * keeps the identity of its store in <root>/store.id. Opening a store for a root checks
 * that the two agree, so a deleted store is never silently replaced by a fresh one whose
 * ids (VM 1, volume 1) would name another VM's QEMU and disk, and another root's store is
 * never taken for this one's:
 *   - no store, and the root records one (store.id) or holds VMs, volumes or exports
 *     (vmengine/vms/<id>, volumes/vol<id>, a vhost controller in blockd's config.json):
 *     refused;
 *   - a store whose identity is not the one store.id records: refused;
 *   - a store without an identity (made before identities existed): it gets one, unless the
 *     root records another or the store is empty next to a root that holds state;
 *   - a store with an identity next to a root that records none: bound (store.id written)
 *     when the root holds nothing, refused when it holds VMs, volumes or exports.
 * Only an empty root gets a new store: explicitly (STORE_ROOT_INIT, `berth init`) or on
 * first use by the CLI (STORE_ROOT_CREATE_IF_EMPTY). The daemons never create one. */
#ifndef BERTH_STORE_ROOT_H
#define BERTH_STORE_ROOT_H

#include <stddef.h>

#include "store.h"

enum store_root_mode {
	STORE_ROOT_OPEN,                /* an existing store that belongs to the root */
	STORE_ROOT_CREATE_IF_EMPTY,     /* that, or a new one when the root is empty */
	STORE_ROOT_INIT,                /* a new one, on an empty root without a store only */
};

/* The store at url for root: NULL with a one-line reason in err (errno set). */
struct store *store_open_for_root(const char *url, const char *root,
				  enum store_root_mode mode, char *err, size_t errlen);

/* The store of root's berth.conf opened (STORE_ROOT_OPEN), checked and closed: what a daemon
 * does before it trusts the store. It also sets the process's store deadline from
 * [berth] store_timeout (store_set_timeout_ms). 0 or -errno with err set. */
int store_check_root(const char *root, char *err, size_t errlen);

#endif
