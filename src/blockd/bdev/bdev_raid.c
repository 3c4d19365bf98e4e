/* bdev_raid.c — raid0 (striped), raid1 (mirrored) and concat volumes over base bdevs.
 *
 * raid0 and concat split an IO at strip/base boundaries into children, one per piece;
 * flush goes to every base. raid1 sends writes, flushes, unmaps and write-zeroes to every
 * operational base and succeeds when one of them did (a base that failed while another
 * succeeded is marked failed and dropped from IO); reads go to one base, round robin, and
 * retry on another on error. A raid1 base may be deleted while another is operational: its
 * slot is emptied (the raid degrades, stays online). raid0/concat bases cannot be deleted.
 *
 * Slots are read by reactors (the bdev pointer, the failed flag) and changed by the control
 * thread; the bdev layer's grace period keeps a removed base alive while a reactor may still
 * hold the pointer it read. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bdev_module.h"
#include "bdev_rpc.h"
#include "bdev_raid.h"
#include "rpc.h"
#include "log.h"

#define RAID_NIL_UUID "00000000-0000-0000-0000-000000000000"

struct raid_slot {
	struct bdev *_Atomic bdev;      /* NULL once removed */
	_Atomic bool failed;            /* raid1: missed a write that others took */
	_Atomic bool error_logged;
	struct bdev *held;              /* control thread: the hold dropped at removal/destruct */
	char name[BDEV_NAME_MAX + 1];   /* "" once removed */
	char uuid[BDEV_UUID_LEN + 1];
	uint64_t data_size;             /* blocks of this base the raid uses */
	uint64_t start;                 /* concat: first raid block on this base */
};

struct raid_bdev {
	struct bdev bdev;
	enum raid_level level;
	uint32_t strip_size_kb;
	uint64_t strip_blocks;
	unsigned strip_shift;
	unsigned num_slots;
	struct raid_slot slots[];
};

/* Per-IO state, in bdev_io.driver_ctx. */
struct raid_io {
	uint64_t cursor;        /* split: blocks issued; fan-out: next slot; read: slot to try */
	unsigned pending;       /* children in flight */
	unsigned ok;            /* fan-out children that succeeded */
	uint32_t failed_mask;   /* fan-out: slots whose child failed */
	uint32_t tried;         /* raid1 read: slots already tried */
	int status;             /* first error */
	bool issued;            /* every child is issued */
};

static unsigned g_raid_counter;
static const char *const g_level_names[] = { "raid0", "raid1", "concat" };

static struct raid_bdev *to_raid(const struct bdev *b)
{
	return (struct raid_bdev *)(void *)b;
}

static struct raid_io *rio_of(struct bdev_io *io)
{
	return BDEV_IO_CTX(io, struct raid_io);
}

static void rio_error(struct raid_io *rio, int status)
{
	if (rio->status == 0)
		rio->status = status;
}

static void raid_log_base_error(struct raid_bdev *r, unsigned slot, int status)
{
	struct raid_slot *s = &r->slots[slot];
	if (!atomic_exchange(&s->error_logged, true))
		log_warn("blockd", "msg=\"raid base io failed\" raid=%s slot=%u err=\"%s\" "
			 "note=\"further errors on this base counted in its iostat only\"",
			 r->bdev.name, slot, strerror(-status));
}

static bool slot_operational(struct raid_slot *s)
{
	return atomic_load(&s->bdev) && !atomic_load(&s->failed);
}

/* ---- raid0 / concat: split at strip or base boundaries */

/* Maps raid block lba to a slot, the block on that base and how many blocks (<= left)
 * stay on that base in one piece. */
static unsigned raid_map(const struct raid_bdev *r, uint64_t lba, uint64_t left,
			 uint64_t *base_lba, uint64_t *len)
{
	if (r->level == RAID_CONCAT) {
		unsigned i = 0;
		while (i + 1 < r->num_slots && lba >= r->slots[i].start + r->slots[i].data_size)
			i++;
		*base_lba = lba - r->slots[i].start;
		uint64_t room = r->slots[i].data_size - *base_lba;
		*len = left < room ? left : room;
		return i;
	}
	uint64_t strip = lba >> r->strip_shift;
	uint64_t in_strip = lba & (r->strip_blocks - 1);
	*base_lba = ((strip / r->num_slots) << r->strip_shift) | in_strip;
	uint64_t room = r->strip_blocks - in_strip;
	*len = left < room ? left : room;
	return (unsigned)(strip % r->num_slots);
}

static void split_child_done(struct bdev_io *io, uint32_t slot, int status)
{
	struct raid_io *rio = rio_of(io);
	rio->pending--;
	if (status < 0) {
		raid_log_base_error(to_raid(io->bdev), slot, status);
		rio_error(rio, status);
	}
	if (rio->issued && rio->pending == 0)
		bdev_io_complete(io, rio->status);
}

static void split_continue(struct bdev_io *io)
{
	struct raid_bdev *r = to_raid(io->bdev);
	struct raid_io *rio = rio_of(io);
	while (rio->cursor < io->num_blocks && rio->status == 0) {
		uint64_t base_lba, len;
		unsigned slot = raid_map(r, io->offset_blocks + rio->cursor,
					 io->num_blocks - rio->cursor, &base_lba, &len);
		struct bdev *base = atomic_load(&r->slots[slot].bdev);
		int rc = !base ? -ENODEV
			       : bdev_child_submit(io, base, io->type, base_lba, len, io->iov,
						   io->iovcnt, rio->cursor * r->bdev.block_size,
						   slot, split_child_done);
		if (rc == -ENOMEM) {
			bdev_io_wait_pool(io, split_continue);
			return;
		}
		if (rc < 0) {
			rio_error(rio, rc);
			break;
		}
		rio->pending++;
		rio->cursor += len;
	}
	rio->issued = true;
	if (rio->pending == 0)
		bdev_io_complete(io, rio->status);
}

/* ---- fan-out: every operational base (raid1 writes, any flush) */

static void fanout_finish(struct bdev_io *io)
{
	struct raid_bdev *r = to_raid(io->bdev);
	struct raid_io *rio = rio_of(io);
	if (r->level != RAID1) {
		bdev_io_complete(io, rio->status);
		return;
	}
	if (rio->ok == 0) {
		bdev_io_complete(io, rio->status ? rio->status : -EIO);
		return;
	}
	for (unsigned i = 0; i < r->num_slots; i++) {
		if (!(rio->failed_mask & (1u << i)) || atomic_exchange(&r->slots[i].failed, true))
			continue;
		log_warn("blockd", "msg=\"raid1 base failed, raid degraded\" raid=%s slot=%u",
			 r->bdev.name, i);
	}
	bdev_io_complete(io, 0);
}

static void fanout_child_done(struct bdev_io *io, uint32_t slot, int status)
{
	struct raid_io *rio = rio_of(io);
	rio->pending--;
	if (status < 0) {
		raid_log_base_error(to_raid(io->bdev), slot, status);
		rio->failed_mask |= 1u << slot;
		rio_error(rio, status);
	} else {
		rio->ok++;
	}
	if (rio->issued && rio->pending == 0)
		fanout_finish(io);
}

static void fanout_continue(struct bdev_io *io)
{
	struct raid_bdev *r = to_raid(io->bdev);
	struct raid_io *rio = rio_of(io);
	bool flush = io->type == BDEV_IO_FLUSH;
	for (; rio->cursor < r->num_slots; rio->cursor++) {
		unsigned i = (unsigned)rio->cursor;
		struct bdev *base = atomic_load(&r->slots[i].bdev);
		if (!base || atomic_load(&r->slots[i].failed))
			continue;
		int rc = bdev_child_submit(io, base, io->type, flush ? 0 : io->offset_blocks,
					   flush ? 0 : io->num_blocks, io->iov, io->iovcnt, 0, i,
					   fanout_child_done);
		if (rc == -ENOMEM) {
			bdev_io_wait_pool(io, fanout_continue);
			return;
		}
		if (rc < 0) {
			rio->failed_mask |= 1u << i;
			rio_error(rio, rc);
		} else {
			rio->pending++;
		}
	}
	rio->issued = true;
	if (rio->pending == 0)
		fanout_finish(io);
}

/* ---- raid1 reads: one base, the next one on error */

static void raid1_read_done(struct bdev_io *io, uint32_t slot, int status);

static void raid1_read_next(struct bdev_io *io)
{
	struct raid_bdev *r = to_raid(io->bdev);
	struct raid_io *rio = rio_of(io);
	for (unsigned k = 0; k < r->num_slots; k++) {
		unsigned i = (unsigned)((rio->cursor + k) % r->num_slots);
		struct bdev *base = atomic_load(&r->slots[i].bdev);
		if ((rio->tried & (1u << i)) || !base || atomic_load(&r->slots[i].failed))
			continue;
		int rc = bdev_child_submit(io, base, BDEV_IO_READ, io->offset_blocks,
					   io->num_blocks, io->iov, io->iovcnt, 0, i,
					   raid1_read_done);
		if (rc == -ENOMEM) {
			rio->cursor = i;
			bdev_io_wait_pool(io, raid1_read_next);
			return;
		}
		rio->tried |= 1u << i;
		if (rc == 0)
			return;
		rio_error(rio, rc);
	}
	bdev_io_complete(io, rio->status ? rio->status : -EIO);
}

static void raid1_read_done(struct bdev_io *io, uint32_t slot, int status)
{
	if (status == 0) {
		bdev_io_complete(io, 0);
		return;
	}
	struct raid_bdev *r = to_raid(io->bdev);
	struct raid_io *rio = rio_of(io);
	raid_log_base_error(r, slot, status);
	rio_error(rio, status);
	rio->cursor = (slot + 1) % r->num_slots;
	raid1_read_next(io);
}

static void raid_submit(struct bdev_io *io)
{
	struct raid_bdev *r = to_raid(io->bdev);
	struct raid_io *rio = rio_of(io);
	*rio = (struct raid_io){ 0 };
	if (r->level == RAID1 && io->type == BDEV_IO_READ) {
		rio->cursor = bdev_io_seq(io) % r->num_slots;
		raid1_read_next(io);
	} else if (r->level == RAID1 || io->type == BDEV_IO_FLUSH) {
		fanout_continue(io);
	} else {
		split_continue(io);
	}
}

/* ---- introspection (control thread) */

static unsigned raid_count(const struct raid_bdev *r, bool operational)
{
	unsigned n = 0;
	for (unsigned i = 0; i < r->num_slots; i++) {
		struct raid_slot *s = (struct raid_slot *)&r->slots[i];
		if (operational ? slot_operational(s) : atomic_load(&s->bdev) != NULL)
			n++;
	}
	return n;
}

static const char *raid_state(const struct raid_bdev *r)
{
	unsigned ops = raid_count(r, true);
	if (r->level == RAID1)
		return ops > 0 ? "online" : "offline";
	return ops == r->num_slots ? "online" : "offline";
}

static json_t *raid_base_list(const struct raid_bdev *r)
{
	json_t *list = json_array();
	for (unsigned i = 0; list && i < r->num_slots; i++) {
		struct raid_slot *s = (struct raid_slot *)&r->slots[i];
		bool present = s->name[0] != '\0';
		json_array_append_new(list, json_pack("{s:o, s:s, s:b, s:I, s:I}",
			"name", present ? json_string(s->name) : json_null(),
			"uuid", present ? s->uuid : RAID_NIL_UUID,
			"is_configured", slot_operational(s),
			"data_offset", (json_int_t)0,
			"data_size", (json_int_t)s->data_size));
	}
	return list;
}

/* SPDK's raid description; with_name for bdev_raid_get_bdevs. */
static json_t *raid_describe(const struct raid_bdev *r, bool with_name)
{
	json_t *o = json_pack("{s:s, s:I, s:s, s:s, s:b, s:I, s:I, s:I, s:o}",
		"uuid", r->bdev.uuid,
		"strip_size_kb", (json_int_t)r->strip_size_kb,
		"state", raid_state(r),
		"raid_level", g_level_names[r->level],
		"superblock", 0,
		"num_base_bdevs", (json_int_t)r->num_slots,
		"num_base_bdevs_discovered", (json_int_t)raid_count(r, false),
		"num_base_bdevs_operational", (json_int_t)raid_count(r, true),
		"base_bdevs_list", raid_base_list(r));
	if (o && with_name)
		json_object_set_new(o, "name", json_string(r->bdev.name));
	return o;
}

static void raid_dump(const struct bdev *b, json_t *ds)
{
	json_t *info = raid_describe(to_raid(b), false);
	if (info)
		json_object_set_new(ds, "raid", info);
}

static json_t *raid_config_json(const struct bdev *b)
{
	const struct raid_bdev *r = to_raid(b);
	json_t *bases = json_array();
	for (unsigned i = 0; bases && i < r->num_slots; i++) {
		struct raid_slot *s = (struct raid_slot *)&r->slots[i];
		if (slot_operational(s))
			json_array_append_new(bases, json_string(s->name));
	}
	if (!bases)
		return NULL;
	return bdev_config_wrap("bdev_raid_create",
				json_pack("{s:s, s:s, s:I, s:o, s:s}", "name", b->name,
					  "raid_level", g_level_names[r->level],
					  "strip_size_kb", (json_int_t)r->strip_size_kb,
					  "base_bdevs", bases, "uuid", b->uuid));
}

static bool bdev_is_raid(const struct bdev *b)
{
	return b && strcmp(b->module_name, "raid") == 0;
}

json_t *bdev_raid_info_json(const struct bdev *b)
{
	return bdev_is_raid(b) ? raid_describe(to_raid(b), true) : NULL;
}

const char *bdev_raid_state(const struct bdev *b)
{
	return bdev_is_raid(b) ? raid_state(to_raid(b)) : "offline";
}

/* ---- base removal, delete, reap (control thread) */

/* A raid1 base is being deleted: drop it unless it is the last operational one. */
static int raid1_on_remove(void *claimer, struct bdev *b)
{
	struct raid_bdev *r = claimer;
	for (unsigned i = 0; i < r->num_slots; i++) {
		struct raid_slot *s = &r->slots[i];
		if (atomic_load(&s->bdev) != b)
			continue;
		if (slot_operational(s) && raid_count(r, true) <= 1)
			return -EBUSY;
		atomic_store(&s->bdev, NULL);
		s->name[0] = '\0';
		snprintf(s->uuid, sizeof(s->uuid), "%s", RAID_NIL_UUID);
		bdev_unhold(s->held);
		s->held = NULL;
		log_warn("blockd", "msg=\"raid1 base removed, raid degraded\" raid=%s base=%s "
			 "operational=%u/%u", r->bdev.name, b->name, raid_count(r, true),
			 r->num_slots);
		return 0;
	}
	return -EBUSY;
}

static void raid_remove(struct bdev *b)
{
	struct raid_bdev *r = to_raid(b);
	for (unsigned i = 0; i < r->num_slots; i++) {
		struct bdev *base = atomic_load(&r->slots[i].bdev);
		if (base)
			bdev_release(base);
	}
}

static void raid_destruct(struct bdev *b)
{
	struct raid_bdev *r = to_raid(b);
	for (unsigned i = 0; i < r->num_slots; i++) {
		if (r->slots[i].held)
			bdev_unhold(r->slots[i].held);
	}
	free(r);
}

/* ---- RPC methods */

static int parse_raid_level(const char *s, enum raid_level *out)
{
	if (!strcmp(s, "raid0") || !strcmp(s, "0"))
		*out = RAID0;
	else if (!strcmp(s, "raid1") || !strcmp(s, "1"))
		*out = RAID1;
	else if (!strcmp(s, "concat"))
		*out = RAID_CONCAT;
	else
		return -EINVAL;
	return 0;
}

static void rpc_bdev_raid_create(struct rpc_request *req, const json_t *params)
{
	const char *name = NULL, *level = NULL, *uuid = NULL;
	const char *bases[BDEV_RAID_MAX_BASES];
	struct jstring_array base_list = { bases, BDEV_RAID_MAX_BASES, 0 };
	uint32_t strip_size_kb = 0;
	struct jparam spec[] = {
		{ "name", JP_STRING, true, &name, NULL },
		{ "raid_level", JP_STRING, true, &level, NULL },
		{ "base_bdevs", JP_STRING_ARRAY, true, &base_list, NULL },
		{ "strip_size_kb", JP_UINT32, false, &strip_size_kb, NULL },
		{ "uuid", JP_STRING, false, &uuid, NULL },
	};
	DECODE_OR_REPLY(req, params, spec);
	enum raid_level lvl;
	if (parse_raid_level(level, &lvl) < 0)
		return rpc_reply_invalid_params(req, "raid_level must be raid0, raid1 or concat");
	struct bdev *b = NULL;
	int rc = bdev_raid_create(name, lvl, strip_size_kb, bases, (unsigned)base_list.count,
				  uuid, &b);
	if (rc < 0)
		return rpc_reply_errno(req, rc);
	rpc_reply(req, json_true());
}

static void rpc_bdev_raid_delete(struct rpc_request *req, const json_t *params)
{
	bdev_rpc_delete(req, params, "raid");
}

struct raid_filter {
	const char *category;
	json_t *out;
};

static int add_raid(struct bdev *b, void *arg)
{
	struct raid_filter *f = arg;
	json_t *info = bdev_raid_info_json(b);
	if (!info)
		return 0;
	if (strcmp(f->category, "all") == 0 || strcmp(f->category, bdev_raid_state(b)) == 0)
		json_array_append_new(f->out, info);
	else
		json_decref(info);
	return 0;
}

static void rpc_bdev_raid_get_bdevs(struct rpc_request *req, const json_t *params)
{
	const char *category = NULL;
	struct jparam spec[] = {
		{ "category", JP_STRING, true, &category, NULL },
	};
	DECODE_OR_REPLY(req, params, spec);
	if (strcmp(category, "all") && strcmp(category, "online") &&
	    strcmp(category, "configuring") && strcmp(category, "offline"))
		return rpc_reply_invalid_params(
			req, "category must be all, online, configuring or offline");
	struct raid_filter f = { category, json_array() };
	bdev_foreach(add_raid, &f);
	rpc_reply(req, f.out);
}

/* A raid keeps no superblock on its bases: none is written, and clearing one is a no-op. */
static const struct rpc_spdk_param raid_create_spdk_params[] = {
	{ "superblock", JP_BOOL, "false", NULL },
	{ NULL, 0, NULL, NULL },
};

static const struct rpc_spdk_param raid_delete_spdk_params[] = {
	{ "clear_sb", JP_BOOL, NULL, NULL },
	{ NULL, 0, NULL, NULL },
};

static const struct rpc_method raid_rpc_methods[] = {
	{ "bdev_raid_create", rpc_bdev_raid_create, RPC_MUTATES, bdev_rpc_undo_create,
	  raid_create_spdk_params },
	{ "bdev_raid_delete", rpc_bdev_raid_delete, RPC_MUTATES | RPC_DELETES, NULL,
	  raid_delete_spdk_params },
	{ "bdev_raid_get_bdevs", rpc_bdev_raid_get_bdevs, 0, NULL, NULL },
	{ NULL, NULL, 0, NULL, NULL },
};

const struct bdev_module bdev_raid_module = {
	.rpc_methods = raid_rpc_methods,
	.name = "raid",
	.product_name = "Raid Volume",
	.submit = raid_submit,
	.remove = raid_remove,
	.destruct = raid_destruct,
	.dump_driver_specific = raid_dump,
	.config_json = raid_config_json,
};

/* ---- creation */

static bool is_pow2(uint64_t x)
{
	return x && !(x & (x - 1));
}

static int raid_check_params(enum raid_level level, uint32_t strip_kb, unsigned num_bases,
			     const char *const *base_names)
{
	if ((unsigned)level > RAID_CONCAT || !base_names || num_bases < 1 ||
	    num_bases > BDEV_RAID_MAX_BASES)
		return -EINVAL;
	if (level == RAID0 && !is_pow2(strip_kb))
		return -EINVAL;
	if (level == RAID1 && strip_kb != 0)
		return -EINVAL;
	if (level == RAID_CONCAT && strip_kb != 0 && !is_pow2(strip_kb))
		return -EINVAL;
	if (strip_kb > (UINT32_MAX >> 10))
		return -EINVAL;
	return 0;
}

/* Finds the bases: they exist, are distinct, unclaimed and share a block size. */
static int raid_find_bases(const char *const *names, unsigned n, struct bdev **bases)
{
	for (unsigned i = 0; i < n; i++) {
		bases[i] = bdev_find(names[i]);
		if (!bases[i])
			return -ENODEV;
		for (unsigned j = 0; j < i; j++) {
			if (bases[j] == bases[i])
				return -EINVAL;
		}
		if (bases[i]->claim_module)
			return -EBUSY;
		if (bases[i]->block_size != bases[0]->block_size)
			return -EINVAL;
	}
	return 0;
}

/* Fills the slots' sizes and returns the raid's size in blocks (0: too small). */
static uint64_t raid_layout(struct raid_bdev *r, struct bdev **bases)
{
	uint64_t min = UINT64_MAX, total = 0;
	for (unsigned i = 0; i < r->num_slots; i++)
		min = bases[i]->num_blocks < min ? bases[i]->num_blocks : min;
	for (unsigned i = 0; i < r->num_slots; i++) {
		struct raid_slot *s = &r->slots[i];
		if (r->level == RAID0)
			s->data_size = (min >> r->strip_shift) << r->strip_shift;
		else if (r->level == RAID1)
			s->data_size = min;
		else
			s->data_size = bases[i]->num_blocks;
		s->start = total;
		if (r->level == RAID1)
			total = min;
		else if (total > UINT64_MAX - s->data_size)
			return 0;
		else
			total += s->data_size;
	}
	return total;
}

static struct raid_bdev *raid_alloc(enum raid_level level, uint32_t strip_kb,
				    struct bdev **bases, unsigned n)
{
	struct raid_bdev *r = calloc(1, sizeof(*r) + n * sizeof(r->slots[0]));
	if (!r)
		return NULL;
	r->level = level;
	r->strip_size_kb = strip_kb;
	r->num_slots = n;
	r->strip_blocks = ((uint64_t)strip_kb << 10) / bases[0]->block_size;
	while (r->strip_blocks && (1ull << r->strip_shift) < r->strip_blocks)
		r->strip_shift++;
	for (unsigned i = 0; i < n; i++) {
		struct raid_slot *s = &r->slots[i];
		atomic_init(&s->bdev, bases[i]);
		snprintf(s->name, sizeof(s->name), "%s", bases[i]->name);
		snprintf(s->uuid, sizeof(s->uuid), "%s", bases[i]->uuid);
	}
	return r;
}

int bdev_raid_create(const char *name, enum raid_level level, uint32_t strip_size_kb,
		     const char *const *base_names, unsigned num_bases, const char *uuid,
		     struct bdev **out)
{
	int rc = raid_check_params(level, strip_size_kb, num_bases, base_names);
	if (rc < 0)
		return rc;
	char bname[BDEV_NAME_MAX + 1];
	rc = bdev_pick_name(name, "Raid", &g_raid_counter, bname);
	if (rc < 0)
		return rc;
	struct bdev *bases[BDEV_RAID_MAX_BASES] = { NULL };   /* gcc cannot see it is filled */
	rc = raid_find_bases(base_names, num_bases, bases);
	if (rc < 0)
		return rc;
	uint32_t bs = bases[0]->block_size;
	if (level == RAID0 && ((uint64_t)strip_size_kb << 10) < bs)
		return -EINVAL;         /* a strip smaller than a block */
	uint32_t types = (1u << BDEV_IO_TYPE_COUNT) - 1;
	for (unsigned i = 0; i < num_bases; i++)
		types &= bases[i]->io_types;
	if (!(types & (1u << BDEV_IO_READ)) || !(types & (1u << BDEV_IO_WRITE)))
		return -EINVAL;

	struct raid_bdev *r = raid_alloc(level, strip_size_kb, bases, num_bases);
	if (!r)
		return -ENOMEM;
	uint64_t blocks = raid_layout(r, bases);
	rc = blocks ? bdev_setup(&r->bdev, &bdev_raid_module, bname, bs, blocks, types, uuid)
		    : -EINVAL;
	if (rc == 0)
		rc = bdev_register(&r->bdev);
	if (rc < 0) {
		free(r);
		return rc;
	}
	for (unsigned i = 0; i < num_bases; i++) {
		bdev_claim_ext(bases[i], "raid", r, level == RAID1 ? raid1_on_remove : NULL);
		bdev_hold(bases[i]);
		r->slots[i].held = bases[i];
	}
	if (out)
		*out = &r->bdev;
	return 0;
}
