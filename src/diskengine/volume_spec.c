/* volume_spec.c — decoding and validation of a desired volume (see volume_spec.h). */
#include "volume_spec.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "json_util.h"

#define FAIL(...) do { snprintf(err, errlen, __VA_ARGS__); return -EINVAL; } while (0)

static bool valid_name(const char *s)
{
	if (strlen(s) >= 64)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f || *s == '/')
			return false;
	return true;
}

int volume_spec_from_json(const json_t *obj, enum volume_layout default_layout,
			  struct volume_spec *out, char *err, size_t errlen)
{
	uint32_t id = 0, vm = 0;
	uint64_t size_mb = 0;
	const char *name = "", *layout = NULL;
	bool exported = false;
	struct jparam spec[] = {
		{ "id", JP_UINT32, true, &id, NULL },
		{ "name", JP_STRING, false, &name, NULL },
		{ "size_mb", JP_UINT64, true, &size_mb, NULL },
		{ "vm", JP_UINT32, false, &vm, NULL },
		{ "exported", JP_BOOL, false, &exported, NULL },
		{ "layout", JP_STRING, false, &layout, NULL },
	};
	char jerr[160];
	memset(out, 0, sizeof(*out));
	if (json_decode_params(obj, JPARAMS(spec), jerr, sizeof(jerr)) < 0)
		FAIL("%s", jerr);
	if (id == 0 || id > VOLUME_ID_MAX)
		FAIL("id must be 1..%u", VOLUME_ID_MAX);
	if (!valid_name(name))
		FAIL("name must be at most 63 printable characters without '/'");
	if (size_mb == 0 || size_mb > VOLUME_SIZE_MAX_MB)
		FAIL("size_mb must be 1..%llu", (unsigned long long)VOLUME_SIZE_MAX_MB);
	if (vm > VOLUME_ID_MAX)
		FAIL("vm must be 0..%u", VOLUME_ID_MAX);
	if (exported && vm == 0)
		FAIL("exported needs a vm");
	out->layout = default_layout;
	if (layout && volume_layout_parse(layout, &out->layout) < 0)
		FAIL("layout must be raid1, raid0 or single");
	out->id = id;
	snprintf(out->name, sizeof(out->name), "%s", name);
	out->size_bytes = size_mb * 1024 * 1024;
	out->vm = vm;
	out->exported = exported;
	return 0;
}
