/* plan.c — diskengine's reconcile decisions (see plan.h).
 * Owns the rule "The gate" of docs/architecture.md (bug class 1).
 */
#include "plan.h"

const char *action_name(enum action_kind k)
{
	switch (k) {
	case ACT_CREATE_VOLUME: return "create_volume";
	case ACT_CREATE_EXPORT: return "create_export";
	case ACT_DELETE_EXPORT: return "delete_export";
	case ACT_DELETE_VOLUME: return "delete_volume";
	case ACT_RELEASE_VOLUME: return "release_volume";
	case ACT_EXPORT_CONFLICT: return "export_conflict";
	default: return "gate_defer";
	}
}

static const struct volume_spec *find_want(const struct volume_spec *want, size_t n,
					   unsigned vol)
{
	for (size_t i = 0; i < n; i++)
		if (want[i].id == vol && !(want[i].retired && want[i].where == VOLUME_LOCAL))
			return &want[i];    /* a retired volume of another host stays that host's */
	return NULL;
}

static bool has_vol_dir(const struct actual_state *have, unsigned vol)
{
	for (size_t i = 0; i < have->n_vol_dirs; i++)
		if (have->vol_dirs[i] == vol)
			return true;
	return false;
}

static const struct actual_raid *find_raid(const struct actual_state *have, unsigned vol)
{
	for (size_t i = 0; i < have->n_raids; i++)
		if (have->raids[i].vol == vol)
			return &have->raids[i];
	return NULL;
}

static const struct actual_export *find_export_of_vm(const struct actual_state *have,
						     unsigned vm)
{
	for (size_t i = 0; i < have->n_exports; i++)
		if (have->exports[i].vm == vm)
			return &have->exports[i];
	return NULL;
}

static const struct actual_export *find_export_on_vol(const struct actual_state *have,
						      unsigned vol)
{
	for (size_t i = 0; i < have->n_exports; i++)
		if (have->exports[i].vol == vol)
			return &have->exports[i];
	return NULL;
}

static void emit(struct action *out, size_t max, size_t *n, enum action_kind kind,
		 unsigned vol, unsigned vm)
{
	if (*n < max)
		out[*n] = (struct action){ kind, vol, vm };
	(*n)++;
}

size_t plan_attach(const struct volume_spec *want, size_t n_want,
		   const struct actual_state *have, struct action *out, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < n_want; i++) {
		const struct volume_spec *w = &want[i];
		if (w->where == VOLUME_FOREIGN || w->retired)
			continue;
		if (!find_raid(have, w->id))
			emit(out, max, &n, ACT_CREATE_VOLUME, w->id, w->vm);
		/* A controller of that name on another volume is the detach loop's to remove
		 * first; creating ours meanwhile would fail anyway. */
		const struct actual_export *e = w->exported ? find_export_of_vm(have, w->vm)
							    : NULL;
		if (w->exported && !e)
			emit(out, max, &n, ACT_CREATE_EXPORT, w->id, w->vm);
		else if (e && e->vol == 0)
			emit(out, max, &n, ACT_EXPORT_CONFLICT, w->id, w->vm);
		else if (e && e->vol == w->id && w->where == VOLUME_INCOMING && w->exported &&
			 !w->incoming_ready)
			/* There before the store heard of this migration's export: left from
			 * when the VM ran here (asked back before it was removed), or its report
			 * was lost. Made again (an existing controller is kept) and reported. */
			emit(out, max, &n, ACT_CREATE_EXPORT, w->id, w->vm);
	}
	return n < max ? n : max;
}

static bool export_wanted(const struct volume_spec *want, size_t n_want,
			  const struct actual_export *e)
{
	const struct volume_spec *w = find_want(want, n_want, e->vol);
	return w && w->exported && w->vm == e->vm;
}

size_t plan_detach(const struct volume_spec *want, size_t n_want,
		   const struct actual_state *have, struct action *out, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < have->n_exports; i++) {
		const struct actual_export *e = &have->exports[i];
		const struct volume_spec *w = find_want(want, n_want, e->vol);
		if (w && w->migrating && w->where == VOLUME_LOCAL)
			continue;                /* the source's export: until the VM moved */
		if (e->vol != 0 && !export_wanted(want, n_want, e))
			emit(out, max, &n, ACT_DELETE_EXPORT, e->vol, e->vm);
	}
	for (size_t i = 0; i < have->n_raids; i++) {
		const struct actual_raid *r = &have->raids[i];
		const struct volume_spec *w = find_want(want, n_want, r->vol);
		if (w && w->where != VOLUME_FOREIGN && !w->retired)
			continue;
		const struct actual_export *user = find_export_on_vol(have, r->vol);
		if (user)
			emit(out, max, &n, ACT_GATE_DEFER, r->vol, user->vm);
		else
			emit(out, max, &n, w ? ACT_RELEASE_VOLUME : ACT_DELETE_VOLUME, r->vol, 0);
	}
	for (size_t i = 0; i < have->n_vol_dirs; i++) {
		unsigned vol = have->vol_dirs[i];
		if (!find_want(want, n_want, vol) && !find_raid(have, vol))
			emit(out, max, &n, ACT_DELETE_VOLUME, vol, 0);   /* left-over files */
	}
	/* A retired volume of this host of which nothing exists (its VM went before the attach loop created
	 * it): deleting it changes nothing on the target and records it deleted. */
	for (size_t i = 0; i < n_want; i++) {
		const struct volume_spec *w = &want[i];
		if (w->retired && w->where == VOLUME_LOCAL && !find_raid(have, w->id) &&
		    !has_vol_dir(have, w->id) && !find_export_on_vol(have, w->id))
			emit(out, max, &n, ACT_DELETE_VOLUME, w->id, w->vm);
	}
	return n < max ? n : max;
}
