/* vmengine_test_util.h — helpers shared by the vmengine unit tests (test_vmengine_state.c and
 * test_vmengine_qemu.c): the per-test fixture (a fresh temporary directory, removed afterwards
 * together with any helper process still running), writing small files, and the full desired
 * spec that the spec decoder and QEMU command line tests start from. */
#ifndef TESTS_VMENGINE_TEST_UTIL_H
#define TESTS_VMENGINE_TEST_UTIL_H

#include <stddef.h>
#include <sys/types.h>
#include <jansson.h>

#include "vm_spec.h"

extern char g_dir[64];           /* a fresh temporary directory per test */
extern char g_state[128];        /* <g_dir>/vm.state */
extern pid_t g_child;            /* a helper process, killed by teardown if still there */
extern int g_stdin_w;            /* the qemu_pid helper's stdin: closing it ends it */

/* Criterion .init/.fini: setup creates g_dir (and names g_state); teardown SIGKILLs and reaps
 * g_child, closes g_stdin_w and removes g_dir with everything in it. */
void vmtest_setup(void);
void vmtest_teardown(void);

/* Writes exactly len bytes of text to path (created 0600, truncated); asserts it worked. */
void write_text(const char *path, const char *text, size_t len);
void write_str(const char *path, const char *text);

#define UUID "0f8fad5b-d9cb-469f-a165-70867728950e"

/* A complete, valid spec of VM 7 (vhost disk, initrd and append set); asserts it parses. */
json_t *full_spec(void);

/* Decodes o (and releases it), asserting the return code is want and, when fragment is not
 * NULL, that the error message contains it. The result lives in a static: one at a time. */
struct vm_spec *decode_spec(json_t *o, int want, const char *fragment);

#endif
