/* fuzz_desired.c — libFuzzer target: desired-state parsing, the objects the desired-state
 * sources hand to the engines. The input is one file of a desired-state directory
 * (common/json_dir.c reads it from the scratch directory, as desired_source = dir does);
 * every object it yields is decoded as a VM spec (vmengine/vm_spec.c) and as a volume spec
 * (diskengine/volume_spec.c) with each default layout. Checks: a refused spec says why; an
 * accepted one has its bounds (ids in range, NUL-terminated strings, a known layout). */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "json_dir.h"
#include "vm_spec.h"
#include "volume_spec.h"

static void check_vm(const json_t *obj)
{
	static struct vm_spec vm;
	char err[256] = "";
	if (vm_spec_from_json(obj, &vm, err, sizeof(err)) < 0) {
		if (!err[0])
			abort();
		return;
	}
	if (vm.id == 0 || vm.id > VM_ID_MAX || !memchr(vm.name, '\0', sizeof(vm.name)) ||
	    !memchr(vm.uuid, '\0', sizeof(vm.uuid)) || !memchr(vm.kernel, '\0', sizeof(vm.kernel)) ||
	    !memchr(vm.initrd, '\0', sizeof(vm.initrd)) ||
	    !memchr(vm.append, '\0', sizeof(vm.append)) ||
	    !memchr(vm.disk_vhost, '\0', sizeof(vm.disk_vhost)) ||
	    !memchr(vm.disk_file, '\0', sizeof(vm.disk_file)))
		abort();
	(void)vm_desired_name(vm.desired);
}

static void check_volume(const json_t *obj)
{
	for (int l = LAYOUT_RAID1; l <= LAYOUT_SINGLE; l++) {
		struct volume_spec v;
		char err[256] = "";
		if (volume_spec_from_json(obj, (enum volume_layout)l, &v, err, sizeof(err)) < 0) {
			if (!err[0])
				abort();
			continue;
		}
		if (v.id == 0 || v.id > VOLUME_ID_MAX || v.size_bytes == 0 ||
		    v.size_bytes > VOLUME_SIZE_MAX_MB * 1024 * 1024 ||
		    !memchr(v.name, '\0', sizeof(v.name)) || v.layout > LAYOUT_SINGLE)
			abort();
	}
}

static void each(const char *name, const json_t *obj, void *arg)
{
	(void)name;
	(void)arg;
	check_vm(obj);
	check_volume(obj);
}

static void bad(const char *name, const char *reason, void *arg)
{
	(void)name;
	(void)arg;
	if (!reason || !reason[0])
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (fuzz_write_scratch("spec.json", data, size) < 0)
		abort();
	int n = json_dir_load(fuzz_scratch_dir(), 16, 65536, each, bad, NULL);
	if (n < 0 || n > 1)
		abort();
	return 0;
}
