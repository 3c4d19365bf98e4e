/* test_diskengine_plan.c — diskengine's reconcile decisions: the attach and detach plans
 * (what to create, what to delete, the gate that keeps a volume while an export still uses
 * it, truncation at max) and a simulated target driven to convergence by both loops.
 * test_diskengine_spec.c covers backoff, volume_spec_from_json and the configuration. */
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "diskengine/config.h"
#include "diskengine/plan.h"
#include "diskengine/volume_spec.h"

/* ---------------------------------------------------------------- plan helpers */

#define MAXA 64

static struct volume_spec spec(unsigned id, unsigned vm, bool exported)
{
	struct volume_spec s = { .id = id, .size_bytes = 1u << 30, .vm = vm, .exported = exported,
				 .layout = LAYOUT_RAID1 };
	snprintf(s.name, sizeof(s.name), "vol%u", id);
	return s;
}

static struct actual_raid raid(unsigned vol)
{
	return (struct actual_raid){ .vol = vol, .operational = 2, .total = 2, .online = true };
}

static struct actual_export export_(unsigned vm, unsigned vol)
{
	return (struct actual_export){ .vm = vm, .vol = vol, .connected = false };
}

/* Index of the first action (kind, vol, vm) in a[0..n), or -1. */
static int find_action(const struct action *a, size_t n, enum action_kind kind, unsigned vol,
		       unsigned vm)
{
	for (size_t i = 0; i < n; i++)
		if (a[i].kind == kind && a[i].vol == vol && a[i].vm == vm)
			return (int)i;
	return -1;
}

static size_t count_kind(const struct action *a, size_t n, enum action_kind kind, unsigned vol)
{
	size_t c = 0;
	for (size_t i = 0; i < n; i++)
		c += a[i].kind == kind && a[i].vol == vol;
	return c;
}

#define HAVE(...) ((const struct actual_state){ __VA_ARGS__ })

/* ---------------------------------------------------------------- plan_attach */

Test(plan_attach, nothing_desired_no_action)
{
	struct action out[MAXA];
	struct actual_raid r[] = { raid(1), raid(2) };
	struct actual_export e[] = { export_(5, 1) };
	unsigned d[] = { 1, 2, 3 };
	struct actual_state have = HAVE(.raids = r, .n_raids = 2, .exports = e, .n_exports = 1,
					.vol_dirs = d, .n_vol_dirs = 3);
	cr_assert_eq(plan_attach(NULL, 0, &have, out, MAXA), 0,
		     "the attach loop never deletes, and creates nothing unwanted");
	struct actual_state empty = { 0 };
	cr_assert_eq(plan_attach(NULL, 0, &empty, out, MAXA), 0);
}

Test(plan_attach, missing_raid_creates_volume)
{
	struct action out[MAXA];
	struct volume_spec w[] = { spec(7, 0, false) };
	struct actual_state have = { 0 };
	size_t n = plan_attach(w, 1, &have, out, MAXA);
	cr_assert_eq(n, 1);
	cr_assert_eq(out[0].kind, ACT_CREATE_VOLUME);
	cr_assert_eq(out[0].vol, 7);
}

Test(plan_attach, exported_creates_volume_then_export)
{
	struct action out[MAXA];
	struct volume_spec w[] = { spec(7, 5, true) };
	struct actual_state have = { 0 };
	size_t n = plan_attach(w, 1, &have, out, MAXA);
	cr_assert_eq(n, 2);
	int cv = find_action(out, n, ACT_CREATE_VOLUME, 7, 5);
	int ce = find_action(out, n, ACT_CREATE_EXPORT, 7, 5);
	cr_assert_geq(cv, 0, "CREATE_VOLUME vol7 missing");
	cr_assert_geq(ce, 0, "CREATE_EXPORT vm5 on vol7 missing");
	cr_assert_lt(cv, ce, "the export needs the volume: CREATE_VOLUME comes first");
}

Test(plan_attach, raid_present_no_create_volume)
{
	struct action out[MAXA];
	struct volume_spec w[] = { spec(7, 5, true) };
	struct actual_raid r[] = { raid(7) };
	struct actual_state have = HAVE(.raids = r, .n_raids = 1);
	size_t n = plan_attach(w, 1, &have, out, MAXA);
	cr_assert_eq(n, 1);
	cr_assert_eq(out[0].kind, ACT_CREATE_EXPORT);
	cr_assert_eq(out[0].vol, 7);
	cr_assert_eq(out[0].vm, 5);
}

Test(plan_attach, degraded_raid_is_not_recreated)
{
	struct action out[MAXA];
	struct volume_spec w[] = { spec(7, 0, false) };
	struct actual_raid r[] = { { .vol = 7, .operational = 1, .total = 2, .online = true } };
	struct actual_state have = HAVE(.raids = r, .n_raids = 1);
	cr_assert_eq(plan_attach(w, 1, &have, out, MAXA), 0);
}

Test(plan_attach, export_present_no_create_export)
{
	struct action out[MAXA];
	struct volume_spec w[] = { spec(7, 5, true) };
	struct actual_export e[] = { export_(5, 7) };
	struct actual_state have = HAVE(.exports = e, .n_exports = 1);
	size_t n = plan_attach(w, 1, &have, out, MAXA);
	cr_assert_eq(n, 1);
	cr_assert_eq(out[0].kind, ACT_CREATE_VOLUME, "only the raid is missing");
}

Test(plan_attach, not_exported_no_create_export)
{
	struct action out[MAXA];
	struct volume_spec w[] = { spec(7, 5, false), spec(8, 0, false) };
	struct actual_raid r[] = { raid(7), raid(8) };
	struct actual_state have = HAVE(.raids = r, .n_raids = 2);
	cr_assert_eq(plan_attach(w, 2, &have, out, MAXA), 0);
}

Test(plan_attach, export_name_taken_by_other_volume)
{
	struct action out[MAXA];
	/* vm5 moves from vol1 to vol2: the detach loop removes vm5 from vol1 first. */
	struct volume_spec w[] = { spec(2, 5, true) };
	struct actual_raid r[] = { raid(1), raid(2) };
	struct actual_export e[] = { export_(5, 1) };
	struct actual_state have = HAVE(.raids = r, .n_raids = 2, .exports = e, .n_exports = 1);
	cr_assert_eq(plan_attach(w, 1, &have, out, MAXA), 0);

	/* Without vol2's raid, the volume is still created, not the export. */
	have.raids = &r[0];
	have.n_raids = 1;
	size_t n = plan_attach(w, 1, &have, out, MAXA);
	cr_assert_eq(n, 1);
	cr_assert_eq(out[0].kind, ACT_CREATE_VOLUME);
	cr_assert_eq(out[0].vol, 2);
}

/* A controller of the wanted name that diskengine does not own is reported, not replaced. */
Test(plan_attach, export_name_taken_by_a_foreign_controller)
{
	struct action out[MAXA];
	struct volume_spec w[] = { spec(2, 5, true) };
	struct actual_raid r[] = { raid(2) };
	struct actual_export e[] = { export_(5, 0) };
	struct actual_state have = HAVE(.raids = r, .n_raids = 1, .exports = e, .n_exports = 1);
	size_t n = plan_attach(w, 1, &have, out, MAXA);
	cr_assert_eq(n, 1);
	cr_assert_eq(out[0].kind, ACT_EXPORT_CONFLICT);
	cr_assert_eq(out[0].vm, 5);
	cr_assert_eq(find_action(out, n, ACT_CREATE_EXPORT, 2, 5), -1);
	cr_assert_str_eq(action_name(ACT_EXPORT_CONFLICT), "export_conflict");
}

Test(plan_attach, after_state_is_idempotent)
{
	struct action out[MAXA];
	struct volume_spec w[] = { spec(1, 5, true), spec(2, 0, false), spec(3, 6, false),
				   spec(4, 7, true) };
	struct actual_state empty = { 0 };
	size_t n = plan_attach(w, 4, &empty, out, MAXA);
	cr_assert_eq(n, 6, "4 volumes + 2 exports, got %zu actions", n);

	/* Build the state those actions produce, then plan again. */
	struct actual_raid r[MAXA];
	struct actual_export e[MAXA];
	unsigned d[MAXA];
	size_t nr = 0, ne = 0, nd = 0;
	for (size_t i = 0; i < n; i++) {
		if (out[i].kind == ACT_CREATE_VOLUME) {
			r[nr++] = raid(out[i].vol);
			d[nd++] = out[i].vol;
		} else {
			cr_assert_eq(out[i].kind, ACT_CREATE_EXPORT);
			e[ne++] = export_(out[i].vm, out[i].vol);
		}
	}
	struct actual_state after = HAVE(.raids = r, .n_raids = nr, .exports = e, .n_exports = ne,
					 .vol_dirs = d, .n_vol_dirs = nd);
	cr_assert_eq(plan_attach(w, 4, &after, out, MAXA), 0, "the after state needs nothing");
	cr_assert_eq(plan_detach(w, 4, &after, out, MAXA), 0, "nor does the detach loop");
}

Test(plan_attach, truncates_at_max)
{
	struct volume_spec w[] = { spec(1, 5, true), spec(2, 6, true), spec(3, 7, true) };
	struct actual_state empty = { 0 };
	struct action full[MAXA];
	size_t total = plan_attach(w, 3, &empty, full, MAXA);
	cr_assert_eq(total, 6);

	for (size_t max = 0; max < total; max++) {
		struct action out[8];
		memset(out, 0xa5, sizeof(out));
		struct action canary;
		memset(&canary, 0xa5, sizeof(canary));
		size_t n = plan_attach(w, 3, &empty, out, max);
		cr_assert_eq(n, max, "max %zu: returned %zu", max, n);
		for (size_t i = 0; i < max; i++)
			cr_assert(!memcmp(&out[i], &full[i], sizeof(full[i])),
				  "max %zu: action %zu differs from the untruncated plan", max, i);
		for (size_t i = max; i < 8; i++)
			cr_assert(!memcmp(&out[i], &canary, sizeof(canary)),
				  "max %zu: out[%zu] written past max", max, i);
	}
	/* A NULL buffer with max 0 is only counted against, never written. */
	cr_assert_eq(plan_attach(w, 3, &empty, NULL, 0), 0);
}

/* ---------------------------------------------------------------- plan_detach */

Test(plan_detach, export_of_undesired_volume_deleted_first)
{
	struct action out[MAXA];
	struct actual_raid r[] = { raid(1) };
	struct actual_export e[] = { export_(5, 1) };
	struct actual_state have = HAVE(.raids = r, .n_raids = 1, .exports = e, .n_exports = 1);
	size_t n = plan_detach(NULL, 0, &have, out, MAXA);
	int de = find_action(out, n, ACT_DELETE_EXPORT, 1, 5);
	int gate = find_action(out, n, ACT_GATE_DEFER, 1, 5);
	cr_assert_geq(de, 0, "the export of an undesired volume must go");
	cr_assert_geq(gate, 0, "its raid is gated while the export is in this snapshot");
	cr_assert_lt(de, gate, "exports are deleted before volumes are considered");
	cr_assert_eq(count_kind(out, n, ACT_DELETE_VOLUME, 1), 0);
	cr_assert_eq(n, 2);
}

Test(plan_detach, export_without_raid_deleted)
{
	struct action out[MAXA];
	struct actual_export e[] = { export_(5, 1) };
	struct actual_state have = HAVE(.exports = e, .n_exports = 1);
	size_t n = plan_detach(NULL, 0, &have, out, MAXA);
	cr_assert_eq(n, 1);
	cr_assert_eq(out[0].kind, ACT_DELETE_EXPORT);
	cr_assert_eq(out[0].vol, 1);
	cr_assert_eq(out[0].vm, 5);
}

Test(plan_detach, desired_but_not_exported_deletes_export)
{
	struct action out[MAXA];
	struct volume_spec w[] = { spec(1, 5, false) };
	struct actual_raid r[] = { raid(1) };
	struct actual_export e[] = { export_(5, 1) };
	unsigned d[] = { 1 };
	struct actual_state have = HAVE(.raids = r, .n_raids = 1, .exports = e, .n_exports = 1,
					.vol_dirs = d, .n_vol_dirs = 1);
	size_t n = plan_detach(w, 1, &have, out, MAXA);
	cr_assert_eq(n, 1, "only the export goes; the volume stays");
	cr_assert_eq(out[0].kind, ACT_DELETE_EXPORT);
	cr_assert_eq(out[0].vol, 1);
	cr_assert_eq(out[0].vm, 5);
}

Test(plan_detach, desired_for_other_vm_deletes_export)
{
	struct action out[MAXA];
	struct volume_spec w[] = { spec(1, 6, true) };
	struct actual_raid r[] = { raid(1) };
	struct actual_export e[] = { export_(5, 1) };
	struct actual_state have = HAVE(.raids = r, .n_raids = 1, .exports = e, .n_exports = 1);
	size_t n = plan_detach(w, 1, &have, out, MAXA);
	cr_assert_eq(n, 1);
	cr_assert_eq(out[0].kind, ACT_DELETE_EXPORT);
	cr_assert_eq(out[0].vm, 5, "the old vm's export goes, not the wanted one");
}

Test(plan_detach, wanted_export_kept)
{
	struct action out[MAXA];
	struct volume_spec w[] = { spec(1, 5, true) };
	struct actual_raid r[] = { raid(1) };
	struct actual_export e[] = { { .vm = 5, .vol = 1, .connected = true } };
	unsigned d[] = { 1 };
	struct actual_state have = HAVE(.raids = r, .n_raids = 1, .exports = e, .n_exports = 1,
					.vol_dirs = d, .n_vol_dirs = 1);
	cr_assert_eq(plan_detach(w, 1, &have, out, MAXA), 0);
}

Test(plan_detach, foreign_export_never_touched)
{
	struct action out[MAXA];
	struct actual_export e[] = { export_(9, 0), export_(5, 0) };
	struct actual_state have = HAVE(.exports = e, .n_exports = 2);
	cr_assert_eq(plan_detach(NULL, 0, &have, out, MAXA), 0);

	/* Even when "its" vm is desired elsewhere, and when an undesired raid exists: a
	 * foreign export neither is deleted nor gates the raid. */
	struct volume_spec w[] = { spec(2, 5, true) };
	struct actual_raid r[] = { raid(3) };
	have.raids = r;
	have.n_raids = 1;
	size_t n = plan_detach(w, 1, &have, out, MAXA);
	cr_assert_eq(n, 1);
	cr_assert_eq(out[0].kind, ACT_DELETE_VOLUME);
	cr_assert_eq(out[0].vol, 3);
}

Test(plan_detach, undesired_raid_without_export_deleted)
{
	struct action out[MAXA];
	struct actual_raid r[] = { raid(4) };
	struct actual_state have = HAVE(.raids = r, .n_raids = 1);
	size_t n = plan_detach(NULL, 0, &have, out, MAXA);
	cr_assert_eq(n, 1);
	cr_assert_eq(out[0].kind, ACT_DELETE_VOLUME);
	cr_assert_eq(out[0].vol, 4);
	cr_assert_eq(out[0].vm, 0);
}

Test(plan_detach, gate_defers_volume_in_use)
{
	struct action out[MAXA];
	struct actual_raid r[] = { raid(4) };
	struct actual_export e[] = { { .vm = 8, .vol = 4, .connected = true } };
	unsigned d[] = { 4 };
	struct actual_state have = HAVE(.raids = r, .n_raids = 1, .exports = e, .n_exports = 1,
					.vol_dirs = d, .n_vol_dirs = 1);
	size_t n = plan_detach(NULL, 0, &have, out, MAXA);
	cr_assert_geq(find_action(out, n, ACT_GATE_DEFER, 4, 8), 0,
		      "GATE_DEFER must name the vm still using the volume");
	cr_assert_eq(count_kind(out, n, ACT_DELETE_VOLUME, 4), 0,
		     "the gate: no DELETE_VOLUME while an export uses it (nor via its directory)");
	cr_assert_eq(count_kind(out, n, ACT_GATE_DEFER, 4), 1);
}

Test(plan_detach, leftover_directory_deleted)
{
	struct action out[MAXA];
	unsigned d[] = { 12 };
	struct actual_state have = HAVE(.vol_dirs = d, .n_vol_dirs = 1);
	size_t n = plan_detach(NULL, 0, &have, out, MAXA);
	cr_assert_eq(n, 1);
	cr_assert_eq(out[0].kind, ACT_DELETE_VOLUME);
	cr_assert_eq(out[0].vol, 12);
}

Test(plan_detach, raid_and_directory_deleted_once)
{
	struct action out[MAXA];
	struct actual_raid r[] = { raid(12) };
	unsigned d[] = { 12 };
	struct actual_state have = HAVE(.raids = r, .n_raids = 1, .vol_dirs = d, .n_vol_dirs = 1);
	size_t n = plan_detach(NULL, 0, &have, out, MAXA);
	cr_assert_eq(n, 1, "one DELETE_VOLUME removes raid and files, got %zu actions", n);
	cr_assert_eq(out[0].kind, ACT_DELETE_VOLUME);
}

Test(plan_detach, directory_of_volume_being_created_kept)
{
	struct action out[MAXA];
	struct volume_spec w[] = { spec(12, 3, true) };
	unsigned d[] = { 12 };
	struct actual_state have = HAVE(.vol_dirs = d, .n_vol_dirs = 1);
	cr_assert_eq(plan_detach(w, 1, &have, out, MAXA), 0,
		     "never delete the files of a volume the attach loop is creating");
}

Test(plan_detach, desired_raid_never_deleted)
{
	struct action out[MAXA];
	struct volume_spec w[] = { spec(1, 0, false), spec(2, 5, true) };
	struct actual_raid r[] = { raid(1),
				   { .vol = 2, .operational = 0, .total = 2, .online = false } };
	unsigned d[] = { 1, 2 };
	struct actual_state have = HAVE(.raids = r, .n_raids = 2, .vol_dirs = d, .n_vol_dirs = 2);
	cr_assert_eq(plan_detach(w, 2, &have, out, MAXA), 0,
		     "desired raids stay, even offline and not yet exported");
}

Test(plan_detach, several_volumes)
{
	struct action out[MAXA];
	struct volume_spec w[] = { spec(1, 5, true), spec(2, 6, false), spec(3, 7, true),
				   spec(9, 0, false) };
	struct actual_raid r[] = { raid(1), raid(2), raid(3), raid(4), raid(5) };
	struct actual_export e[] = {
		export_(5, 1),     /* wanted */
		export_(6, 2),     /* vol2 no longer exported */
		export_(8, 3),     /* vol3 now wanted by vm7 */
		export_(10, 4),    /* vol4 undesired, in use */
		export_(11, 0),    /* foreign */
	};
	unsigned d[] = { 1, 2, 3, 4, 5, 6, 9 };
	struct actual_state have = HAVE(.raids = r, .n_raids = 5, .exports = e, .n_exports = 5,
					.vol_dirs = d, .n_vol_dirs = 7);
	size_t n = plan_detach(w, 4, &have, out, MAXA);
	cr_assert_geq(find_action(out, n, ACT_DELETE_EXPORT, 2, 6), 0);
	cr_assert_geq(find_action(out, n, ACT_DELETE_EXPORT, 3, 8), 0);
	cr_assert_geq(find_action(out, n, ACT_DELETE_EXPORT, 4, 10), 0);
	cr_assert_geq(find_action(out, n, ACT_GATE_DEFER, 4, 10), 0);
	cr_assert_geq(find_action(out, n, ACT_DELETE_VOLUME, 5, 0), 0);
	cr_assert_geq(find_action(out, n, ACT_DELETE_VOLUME, 6, 0), 0);
	cr_assert_eq(n, 6, "nothing else: got %zu actions", n);
	/* All export deletions precede any volume decision. */
	size_t last_export = 0, first_volume = n;
	for (size_t i = 0; i < n; i++) {
		if (out[i].kind == ACT_DELETE_EXPORT)
			last_export = i;
		else if (first_volume == n)
			first_volume = i;
	}
	cr_assert_lt(last_export, first_volume);
}

Test(plan_detach, truncates_at_max)
{
	struct actual_raid r[] = { raid(1), raid(2), raid(3) };
	unsigned d[] = { 4, 5 };
	struct actual_state have = HAVE(.raids = r, .n_raids = 3, .vol_dirs = d, .n_vol_dirs = 2);
	struct action full[MAXA];
	size_t total = plan_detach(NULL, 0, &have, full, MAXA);
	cr_assert_eq(total, 5);
	for (size_t max = 0; max < total; max++) {
		struct action out[8], canary;
		memset(out, 0x5a, sizeof(out));
		memset(&canary, 0x5a, sizeof(canary));
		cr_assert_eq(plan_detach(NULL, 0, &have, out, max), max);
		for (size_t i = 0; i < max; i++)
			cr_assert(!memcmp(&out[i], &full[i], sizeof(full[i])));
		for (size_t i = max; i < 8; i++)
			cr_assert(!memcmp(&out[i], &canary, sizeof(canary)),
				  "max %zu: out[%zu] written past max", max, i);
	}
}

Test(plan, action_names_distinct)
{
	enum action_kind k[] = { ACT_CREATE_VOLUME, ACT_CREATE_EXPORT, ACT_DELETE_EXPORT,
				 ACT_DELETE_VOLUME, ACT_GATE_DEFER };
	for (size_t i = 0; i < 5; i++) {
		cr_assert_not_null(action_name(k[i]));
		for (size_t j = 0; j < i; j++)
			cr_assert_str_neq(action_name(k[i]), action_name(k[j]));
	}
}

/* ---------------------------------------------------------------- convergence */

/* A target that behaves like the real one: exports need their raid and a free name, a
 * volume cannot be deleted while an export uses it. */
struct sim {
	struct actual_raid raids[MAXA];
	size_t nr;
	struct actual_export ex[MAXA];
	size_t ne;
	unsigned dirs[MAXA];
	size_t nd;
};

static struct actual_state sim_view(const struct sim *s)
{
	return HAVE(.raids = s->raids, .n_raids = s->nr, .exports = s->ex, .n_exports = s->ne,
		    .vol_dirs = s->dirs, .n_vol_dirs = s->nd);
}

static bool sim_has_raid(const struct sim *s, unsigned vol)
{
	for (size_t i = 0; i < s->nr; i++)
		if (s->raids[i].vol == vol)
			return true;
	return false;
}

static bool sim_has_dir(const struct sim *s, unsigned vol)
{
	for (size_t i = 0; i < s->nd; i++)
		if (s->dirs[i] == vol)
			return true;
	return false;
}

static int sim_export_of_vm(const struct sim *s, unsigned vm)
{
	for (size_t i = 0; i < s->ne; i++)
		if (s->ex[i].vm == vm)
			return (int)i;
	return -1;
}

/* Applies one action; false when the real target would refuse it. */
static bool sim_apply(struct sim *s, const struct action *a)
{
	switch (a->kind) {
	case ACT_CREATE_VOLUME:
		if (!sim_has_dir(s, a->vol))
			s->dirs[s->nd++] = a->vol;
		if (!sim_has_raid(s, a->vol))
			s->raids[s->nr++] = raid(a->vol);
		return true;
	case ACT_CREATE_EXPORT:
		if (!sim_has_raid(s, a->vol) || sim_export_of_vm(s, a->vm) >= 0)
			return false;
		s->ex[s->ne++] = export_(a->vm, a->vol);
		return true;
	case ACT_DELETE_EXPORT: {
		int i = sim_export_of_vm(s, a->vm);
		if (i < 0 || s->ex[i].vol != a->vol)
			return false;
		s->ex[i] = s->ex[--s->ne];
		return true;
	}
	case ACT_DELETE_VOLUME:
		for (size_t i = 0; i < s->ne; i++)
			if (s->ex[i].vol == a->vol)
				return false;
		for (size_t i = 0; i < s->nr; i++)
			if (s->raids[i].vol == a->vol)
				s->raids[i--] = s->raids[--s->nr];
		for (size_t i = 0; i < s->nd; i++)
			if (s->dirs[i] == a->vol)
				s->dirs[i--] = s->dirs[--s->nd];
		return true;
	case ACT_GATE_DEFER:
		return true;
	case ACT_RELEASE_VOLUME:       /* no other host in the simulation */
		return false;
	case ACT_EXPORT_CONFLICT:      /* only reported; the simulated run wants none */
		return false;
	}
	return false;
}

Test(plan, detach_then_attach_converges)
{
	struct volume_spec w[] = {
		spec(1, 5, true),    /* already right */
		spec(3, 8, true),    /* vm7 -> vm8 */
		spec(5, 9, true),    /* new; vm9 currently on vol4 */
		spec(6, 0, false),   /* new, not exported */
		spec(7, 2, true),    /* directory only: being created */
	};
	size_t nw = sizeof(w) / sizeof(w[0]);
	struct sim s = {
		.raids = { raid(1), raid(2), raid(3), raid(4) },
		.nr = 4,
		.ex = { export_(5, 1), export_(6, 2), export_(7, 3), export_(9, 4),
			export_(20, 0) },
		.ne = 5,
		.dirs = { 1, 2, 3, 4, 7, 10 },
		.nd = 6,
	};
	struct action out[MAXA];
	int rounds = 0;
	for (;;) {
		struct actual_state v = sim_view(&s);
		size_t nd = plan_detach(w, nw, &v, out, MAXA);
		cr_assert_lt(nd, (size_t)MAXA);
		for (size_t i = 0; i < nd; i++)
			cr_assert(sim_apply(&s, &out[i]), "round %d: target refused %s vol%u vm%u",
				  rounds, action_name(out[i].kind), out[i].vol, out[i].vm);
		v = sim_view(&s);
		size_t na = plan_attach(w, nw, &v, out, MAXA);
		cr_assert_lt(na, (size_t)MAXA);
		for (size_t i = 0; i < na; i++)
			cr_assert(sim_apply(&s, &out[i]), "round %d: target refused %s vol%u vm%u",
				  rounds, action_name(out[i].kind), out[i].vol, out[i].vm);
		if (nd == 0 && na == 0)
			break;
		cr_assert_lt(++rounds, 4, "no convergence after %d rounds", rounds);
	}
	/* The final state is the desired one. */
	for (size_t i = 0; i < nw; i++) {
		cr_assert(sim_has_raid(&s, w[i].id), "vol%u has no raid", w[i].id);
		int e = sim_export_of_vm(&s, w[i].vm);
		if (w[i].exported) {
			cr_assert_geq(e, 0, "vm%u not exported", w[i].vm);
			cr_assert_eq(s.ex[e].vol, w[i].id);
		}
	}
	cr_assert_eq(s.nr, nw, "undesired raids remain");
	cr_assert_eq(s.nd, nw, "undesired directories remain");
	cr_assert_eq(s.ne, 5, "vm5, vm8, vm9, vm2 and the foreign vm20");
	cr_assert_geq(sim_export_of_vm(&s, 20), 0, "the foreign export was removed");
}

/* ---------------------------------------------------------------- retired volumes */

static struct volume_spec retired(unsigned id, unsigned vm)
{
	struct volume_spec s = spec(id, vm, false);
	s.retired = true;
	return s;
}

Test(plan_detach, retired_volume_never_created_is_deleted)
{
	/* Its VM was terminated before the attach loop created anything: the delete (a no-op
	 * on the target) is what records the volume deleted. */
	struct action out[MAXA];
	struct volume_spec w[] = { retired(3, 7) };
	struct actual_state have = HAVE();
	size_t n = plan_detach(w, 1, &have, out, MAXA);
	cr_assert_eq(n, 1);
	cr_assert_geq(find_action(out, n, ACT_DELETE_VOLUME, 3, 7), 0);
}

Test(plan_detach, retired_volume_that_exists_is_deleted_once)
{
	struct action out[MAXA];
	struct volume_spec w[] = { retired(3, 7) };
	struct actual_raid r[] = { raid(3) };
	unsigned dirs[] = { 3 };
	struct actual_state have = HAVE(.raids = r, .n_raids = 1, .vol_dirs = dirs,
					.n_vol_dirs = 1);
	size_t n = plan_detach(w, 1, &have, out, MAXA);
	cr_assert_eq(count_kind(out, n, ACT_DELETE_VOLUME, 3), 1);
	cr_assert_eq(n, 1);
}

Test(plan_detach, retired_volume_still_exported_is_gated)
{
	struct action out[MAXA];
	struct volume_spec w[] = { retired(3, 7) };
	struct actual_raid r[] = { raid(3) };
	struct actual_export e[] = { export_(7, 3) };
	struct actual_state have = HAVE(.raids = r, .n_raids = 1, .exports = e, .n_exports = 1);
	size_t n = plan_detach(w, 1, &have, out, MAXA);
	cr_assert_geq(find_action(out, n, ACT_DELETE_EXPORT, 3, 7), 0);
	cr_assert_geq(find_action(out, n, ACT_GATE_DEFER, 3, 7), 0);
	cr_assert_eq(count_kind(out, n, ACT_DELETE_VOLUME, 3), 0);
}

Test(plan_attach, retired_volume_is_not_created)
{
	struct action out[MAXA];
	struct volume_spec w[] = { retired(3, 7) };
	struct actual_state have = HAVE();
	cr_assert_eq(plan_attach(w, 1, &have, out, MAXA), 0);
}
