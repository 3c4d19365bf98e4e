/* store_placement.c — where a new VM goes (docs/fleet.md, *Placement*): the policy only. The
 * back ends call it inside the create's transaction, with every host row locked (PostgreSQL:
 * SELECT ... FOR UPDATE; SQLite: BEGIN IMMEDIATE) and each host's usage read in that
 * transaction, so two creates at once never both take the last room of a host. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "store_backend.h"

static bool registered(const struct store_host *h)
{
	return h->vcpus > 0 && h->memory_mb > 0;
}

static bool up(const struct store_host *h, const struct store_place *how, int64_t now)
{
	return now - h->seen_ms <= how->down_after_ms;
}

/* NULL when h takes vm, else why not. */
static const char *no_room(const struct store_host *h, const struct store_vm *vm)
{
	if ((h->max_vcpus && vm->vcpus > h->max_vcpus) ||
	    (h->max_memory_mb && vm->memory_mb > h->max_memory_mb))
		return "too small";
	if ((uint64_t)h->used_vcpus + vm->vcpus > h->vcpus ||
	    h->used_memory_mb + vm->memory_mb > h->memory_mb)
		return "full";
	return NULL;
}

/* <0, 0, >0 as a is less loaded than b: the share of its vCPUs in use, then of its memory,
 * then fewer VMs, then the name (so that the choice is the same on every run). */
static int load_cmp(const struct store_host *a, const struct store_host *b)
{
	uint64_t l = (uint64_t)a->used_vcpus * b->vcpus, r = (uint64_t)b->used_vcpus * a->vcpus;
	if (l != r)
		return l < r ? -1 : 1;
	unsigned __int128 ml = (unsigned __int128)a->used_memory_mb * b->memory_mb;
	unsigned __int128 mr = (unsigned __int128)b->used_memory_mb * a->memory_mb;
	if (ml != mr)
		return ml < mr ? -1 : 1;
	if (a->vms != b->vms)
		return a->vms < b->vms ? -1 : 1;
	return strcmp(a->name, b->name);
}

static int explicit_host(struct store *s, const struct store_host *hosts, size_t n,
			 const struct store_vm *vm)
{
	for (size_t i = 0; i < n; i++) {
		const struct store_host *h = &hosts[i];
		if (strcmp(h->name, vm->host) || !registered(h))
			continue;
		const char *why = no_room(h, vm);
		if (!why)
			return 0;
		return store_fail(s, -ENOSPC, "host %s has no room for %u vCPUs and %u MiB (%s: "
				  "%u/%u vCPUs, %llu/%llu MiB in use, VMs up to %u vCPUs and %u "
				  "MiB)", h->name, vm->vcpus, vm->memory_mb, why, h->used_vcpus,
				  h->vcpus, (unsigned long long)h->used_memory_mb,
				  (unsigned long long)h->memory_mb, h->max_vcpus, h->max_memory_mb);
	}
	return store_fail(s, -ENOENT, "host %s has not registered (its vmengine registers it "
			  "when it starts)", vm->host);
}

int store_place_choose(struct store *s, const struct store_host *hosts, size_t n,
		       struct store_vm *vm, const struct store_place *how)
{
	size_t n_registered = 0;
	for (size_t i = 0; i < n; i++)
		n_registered += registered(&hosts[i]);
	if (n_registered == 0) {
		/* a new store no host has started on yet: the named host, or the CLI's own */
		if (!vm->host[0])
			snprintf(vm->host, sizeof(vm->host), "%s", how->fallback_host);
		return 0;
	}
	if (vm->host[0])
		return explicit_host(s, hosts, n, vm);
	if (n_registered == 1) {
		/* a single host (the CLI's own the only one registered): its VMs go there, as
		 * they always did, its daemons up or not; its room is still checked */
		for (size_t i = 0; i < n; i++) {
			if (registered(&hosts[i]) && !strcmp(hosts[i].name, how->fallback_host)) {
				snprintf(vm->host, sizeof(vm->host), "%s", how->fallback_host);
				return explicit_host(s, hosts, n, vm);
			}
		}
	}
	int64_t now = wall_ms();
	const struct store_host *best = NULL;
	unsigned down = 0, full = 0, small = 0;
	for (size_t i = 0; i < n; i++) {
		const struct store_host *h = &hosts[i];
		if (!registered(h))
			continue;
		if (!up(h, how, now)) {
			down++;
			continue;
		}
		const char *why = no_room(h, vm);
		if (why) {
			if (!strcmp(why, "full"))
				full++;
			else
				small++;
			continue;
		}
		if (!best || load_cmp(h, best) < 0)
			best = h;
	}
	if (!best)
		return store_fail(s, -ENOSPC, "no host has room for a VM of %u vCPUs and %u MiB "
				  "(%zu hosts: %u full, %u too small for it, %u DOWN)", vm->vcpus,
				  vm->memory_mb, n_registered, full, small, down);
	snprintf(vm->host, sizeof(vm->host), "%s", best->name);
	return 0;
}
