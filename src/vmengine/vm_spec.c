/* vm_spec.c — decoding and validation of a VM's desired spec (see vm_spec.h). */
#include "vm_spec.h"
#include "uuid.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "json_util.h"

static int copy_checked(char *dst, size_t size, const char *src, bool absolute_path)
{
	size_t len = strlen(src);
	if (len >= size || (absolute_path && src[0] != '/'))
		return -EINVAL;
	memcpy(dst, src, len + 1);
	return 0;
}

static bool printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

#define FAIL(...) do { snprintf(err, errlen, __VA_ARGS__); return -EINVAL; } while (0)

static int decode_disk(const json_t *disk, struct vm_spec *s, char *err, size_t errlen)
{
	const char *vhost = NULL, *file = NULL;
	uint32_t queues = 1;
	struct jparam spec[] = {
		{ "vhost", JP_STRING, false, &vhost, NULL },
		{ "file", JP_STRING, false, &file, NULL },
		{ "num_queues", JP_UINT32, false, &queues, NULL },
	};
	char jerr[160];
	if (json_decode_params(disk, JPARAMS(spec), jerr, sizeof(jerr)) < 0)
		FAIL("disk: %s", jerr);
	if (!vhost == !file)
		FAIL("disk: exactly one of vhost or file");
	if (queues < 1 || queues > 16)
		FAIL("disk: num_queues must be 1..16");
	s->num_queues = queues;
	if (vhost && copy_checked(s->disk_vhost, sizeof(s->disk_vhost), vhost, true) < 0)
		FAIL("disk: vhost must be an absolute socket path under 108 bytes");
	if (file && copy_checked(s->disk_file, sizeof(s->disk_file), file, true) < 0)
		FAIL("disk: file must be an absolute path");
	if (strchr(s->disk_file, ','))
		FAIL("disk: file must not contain ','");
	return 0;
}

int vm_spec_from_json(const json_t *obj, struct vm_spec *s, char *err, size_t errlen)
{
	const char *name = NULL, *uuid = NULL, *kernel = NULL, *initrd = NULL, *append = "";
	const char *desired = NULL, *on_crash = "stop";
	uint32_t id = 0, vcpus = 1, memory_mb = 256;
	uint64_t generation = 0;
	json_t *disk = NULL;
	struct jparam spec[] = {
		{ "id", JP_UINT32, true, &id, NULL },
		{ "name", JP_STRING, false, &name, NULL },
		{ "uuid", JP_STRING, true, &uuid, NULL },
		{ "vcpus", JP_UINT32, false, &vcpus, NULL },
		{ "memory_mb", JP_UINT32, false, &memory_mb, NULL },
		{ "kernel", JP_STRING, true, &kernel, NULL },
		{ "initrd", JP_STRING, false, &initrd, NULL },
		{ "append", JP_STRING, false, &append, NULL },
		{ "disk", JP_ANY, false, &disk, NULL },
		{ "desired", JP_STRING, true, &desired, NULL },
		{ "on_crash", JP_STRING, false, &on_crash, NULL },
		{ "generation", JP_UINT64, false, &generation, NULL },
	};
	char jerr[160];
	memset(s, 0, sizeof(*s));
	if (json_decode_params(obj, JPARAMS(spec), jerr, sizeof(jerr)) < 0)
		FAIL("%s", jerr);
	if (id == 0 || id > VM_ID_MAX)
		FAIL("id must be 1..%u", VM_ID_MAX);
	s->id = id;
	snprintf(s->name, sizeof(s->name), "%s", name ? name : "");
	if (name && (strlen(name) >= sizeof(s->name) || !printable(name)))
		FAIL("name: at most 63 printable characters");
	if (uuid_parse_text(uuid, NULL) < 0)
		FAIL("uuid: not a UUID");
	memcpy(s->uuid, uuid, 37);
	if (vcpus < 1 || vcpus > 64)
		FAIL("vcpus must be 1..64");
	if (memory_mb < 64 || memory_mb > 1024 * 1024)
		FAIL("memory_mb must be 64..1048576");
	s->vcpus = vcpus;
	s->memory_mb = memory_mb;
	if (copy_checked(s->kernel, sizeof(s->kernel), kernel, true) < 0)
		FAIL("kernel must be an absolute path");
	if (initrd && copy_checked(s->initrd, sizeof(s->initrd), initrd, true) < 0)
		FAIL("initrd must be an absolute path");
	if (copy_checked(s->append, sizeof(s->append), append, false) < 0 || !printable(append))
		FAIL("append: at most 1023 printable characters");
	s->num_queues = 1;
	if (disk && decode_disk(disk, s, err, errlen) < 0)
		return -EINVAL;
	if (vm_desired_parse(desired, &s->desired) < 0)
		FAIL("desired must be RUNNING, STOPPED or TERMINATED");
	if (!strcmp(on_crash, "stop"))
		s->on_crash = ON_CRASH_STOP;
	else if (!strcmp(on_crash, "restart"))
		s->on_crash = ON_CRASH_RESTART;
	else
		FAIL("on_crash must be stop or restart");
	s->generation = generation;
	s->disk_ready = true;          /* a spec file names a disk that exists */
	return 0;
}
