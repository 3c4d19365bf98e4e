/* test_diskengine_plan_migration.c — diskengine's decisions for two hosts on shared storage and
 * a VM migrating between them (plan.h): another host's volume is never created here and
 * never deleted (its bdevs left from before are released, its files never touched); a
 * volume migrating here gets its export over the same base files; the source keeps its
 * export and volume while the VM migrates (the pause scope), and lets them go once the VM is
 * the destination's. */
#include <criterion/criterion.h>

#include "plan.h"

#define MAXA 32
#define HAVE(...) ((const struct actual_state){ __VA_ARGS__ })

static struct volume_spec spec(unsigned id, unsigned vm, bool exported,
			       enum volume_where where, bool migrating)
{
	return (struct volume_spec){ .id = id, .size_bytes = 1u << 30, .vm = vm,
				     .exported = exported, .layout = LAYOUT_RAID1,
				     .where = where, .migrating = migrating };
}

static const struct actual_raid RAID1 = { .vol = 1, .operational = 2, .total = 2,
					  .online = true };
static const struct actual_export EXPORT1 = { .vm = 1, .vol = 1 };
static const unsigned DIR1[] = { 1 };

static bool has(const struct action *a, size_t n, enum action_kind k, unsigned vol)
{
	for (size_t i = 0; i < n; i++)
		if (a[i].kind == k && a[i].vol == vol)
			return true;
	return false;
}

Test(plan_migration, another_hosts_volume_is_left_alone)
{
	struct volume_spec w[] = { spec(1, 1, false, VOLUME_FOREIGN, false) };
	struct action out[MAXA];
	/* Its files are in the shared directory: neither created nor deleted here. */
	struct actual_state have = HAVE(.vol_dirs = DIR1, .n_vol_dirs = 1);
	cr_assert_eq(plan_attach(w, 1, &have, out, MAXA), 0);
	cr_assert_eq(plan_detach(w, 1, &have, out, MAXA), 0);
}

Test(plan_migration, another_hosts_bdevs_are_released_after_its_export)
{
	struct volume_spec w[] = { spec(1, 1, false, VOLUME_FOREIGN, false) };
	struct action out[MAXA];
	struct actual_state have = HAVE(.raids = &RAID1, .n_raids = 1, .exports = &EXPORT1,
					.n_exports = 1, .vol_dirs = DIR1, .n_vol_dirs = 1);
	size_t n = plan_detach(w, 1, &have, out, MAXA);
	cr_assert(has(out, n, ACT_DELETE_EXPORT, 1));
	cr_assert(has(out, n, ACT_GATE_DEFER, 1));          /* the gate still holds */
	cr_assert_not(has(out, n, ACT_DELETE_VOLUME, 1));
	have = HAVE(.raids = &RAID1, .n_raids = 1, .vol_dirs = DIR1, .n_vol_dirs = 1);
	n = plan_detach(w, 1, &have, out, MAXA);
	cr_assert_eq(n, 1);
	cr_assert_eq(out[0].kind, ACT_RELEASE_VOLUME);
}

Test(plan_migration, incoming_volume_is_exported_here)
{
	struct volume_spec w[] = { spec(1, 1, true, VOLUME_INCOMING, true) };
	struct action out[MAXA];
	struct actual_state have = HAVE(.vol_dirs = DIR1, .n_vol_dirs = 1);
	size_t n = plan_attach(w, 1, &have, out, MAXA);
	cr_assert(has(out, n, ACT_CREATE_VOLUME, 1));   /* bdevs over the files that exist */
	cr_assert(has(out, n, ACT_CREATE_EXPORT, 1));
	have = HAVE(.raids = &RAID1, .n_raids = 1, .exports = &EXPORT1, .n_exports = 1,
		    .vol_dirs = DIR1, .n_vol_dirs = 1);
	w[0].incoming_ready = true;                     /* reported: the store has it */
	cr_assert_eq(plan_detach(w, 1, &have, out, MAXA), 0);
	cr_assert_eq(plan_attach(w, 1, &have, out, MAXA), 0);
}

Test(plan_migration, the_source_keeps_its_export_while_migrating)
{
	/* Even a VM the operator stopped meanwhile: nothing goes while it migrates. */
	struct volume_spec w[] = { spec(1, 1, false, VOLUME_LOCAL, true) };
	struct action out[MAXA];
	struct actual_state have = HAVE(.raids = &RAID1, .n_raids = 1, .exports = &EXPORT1,
					.n_exports = 1, .vol_dirs = DIR1, .n_vol_dirs = 1);
	cr_assert_eq(plan_detach(w, 1, &have, out, MAXA), 0);
	/* Moved to the destination: now another host's. */
	w[0] = spec(1, 1, false, VOLUME_FOREIGN, false);
	size_t n = plan_detach(w, 1, &have, out, MAXA);
	cr_assert(has(out, n, ACT_DELETE_EXPORT, 1));
	cr_assert_not(has(out, n, ACT_DELETE_VOLUME, 1));
}

/* A retired volume (its VM TERMINATED) of another host is that host's to delete and record
 * DELETED: here nothing is created, deleted or recorded, whether something of it exists
 * (its files in the shared directory, bdevs left from before: released) or nothing does. */
Test(plan_migration, another_hosts_retired_volume_is_never_deleted_here)
{
	enum volume_where wheres[] = { VOLUME_FOREIGN, VOLUME_INCOMING };
	for (size_t k = 0; k < 2; k++) {
		struct volume_spec w[] = { spec(1, 1, false, wheres[k], false) };
		w[0].retired = true;
		struct action out[MAXA];
		struct actual_state none = HAVE(.n_raids = 0);
		cr_assert_eq(plan_attach(w, 1, &none, out, MAXA), 0);
		cr_assert_eq(plan_detach(w, 1, &none, out, MAXA), 0, "nothing recorded deleted");
		struct actual_state files = HAVE(.vol_dirs = DIR1, .n_vol_dirs = 1);
		cr_assert_eq(plan_detach(w, 1, &files, out, MAXA), 0, "its files are never touched");
		struct actual_state bdevs = HAVE(.raids = &RAID1, .n_raids = 1, .vol_dirs = DIR1,
						 .n_vol_dirs = 1);
		size_t n = plan_detach(w, 1, &bdevs, out, MAXA);
		cr_assert_eq(n, 1);
		cr_assert_eq(out[0].kind, ACT_RELEASE_VOLUME);
	}
	/* This host's retired volume of which nothing exists is deleted, to record it. */
	struct volume_spec mine[] = { spec(1, 1, false, VOLUME_LOCAL, false) };
	mine[0].retired = true;
	struct action out[MAXA];
	struct actual_state none = HAVE(.n_raids = 0);
	size_t n = plan_detach(mine, 1, &none, out, MAXA);
	cr_assert_eq(n, 1);
	cr_assert_eq(out[0].kind, ACT_DELETE_VOLUME);
}

Test(plan_migration, a_leftover_export_of_the_vm_coming_back_is_reported)
{
	/* The VM left this host a moment ago and is asked back before this host removed its
	 * old export. The store has no export of this migration here yet: the export is
	 * made again (kept as it is) and reported; before, it was kept silently and the
	 * migration waited for the destination until migrate_timeout. Nothing is deleted. */
	struct volume_spec w[] = { spec(1, 1, true, VOLUME_INCOMING, true) };
	struct action out[MAXA];
	struct actual_state have = HAVE(.raids = &RAID1, .n_raids = 1, .exports = &EXPORT1,
					.n_exports = 1, .vol_dirs = DIR1, .n_vol_dirs = 1);
	size_t n = plan_attach(w, 1, &have, out, MAXA);
	cr_assert_eq(n, 1);
	cr_assert_eq(out[0].kind, ACT_CREATE_EXPORT);
	cr_assert_eq(plan_detach(w, 1, &have, out, MAXA), 0);
	/* Once the store has it, nothing more. */
	w[0].incoming_ready = true;
	cr_assert_eq(plan_attach(w, 1, &have, out, MAXA), 0);
	cr_assert_eq(plan_detach(w, 1, &have, out, MAXA), 0);
}
