/* store_bench.c — figures, not pass/fail: N VM rows (default 1000) created, listed and updated
 * through the store API (store.h), on each store given, or on a fresh SQLite file and a
 * private PostgreSQL server (tests/unit/pg_server.c) with --temp.
 *   store_bench [--rows N] --temp | URL...
 * Each create is its own transaction (a VM and its volume); list reads every live VM, ten
 * times; report and set-desired update each row once. Prints one line per back end and step. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "pg_server.h"
#include "store.h"

static void line(const char *backend, const char *step, size_t ops, int64_t us)
{
	printf("%-10s %-12s %6zu ops %9.1f ms %9.1f us/op %9.0f ops/s\n", backend, step, ops,
	       (double)us / 1000.0, (double)us / (double)ops,
	       us ? (double)ops * 1e6 / (double)us : 0.0);
}

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int bench(const char *backend, const char *url, size_t rows)
{
	char err[512];
	struct store *s = store_create(url, err, sizeof(err));
	if (!s) {
		fprintf(stderr, "store_bench: %s: %s\n", backend, err);
		return 1;
	}
	int64_t *ids = calloc(rows, sizeof(*ids));
	int64_t t0 = now_us();
	for (size_t i = 0; i < rows; i++) {
		struct store_vm vm = { .vcpus = 1, .memory_mb = 128 };
		struct store_volume vol = { .size_mb = 64 };
		snprintf(vm.name, sizeof(vm.name), "bench%zu", i);
		snprintf(vm.uuid, sizeof(vm.uuid), "00000000-0000-4000-8000-%012u",
			 (unsigned)(i % 1000000));
		snprintf(vm.host, sizeof(vm.host), "h%zu", i % 3);
		snprintf(vm.desired, sizeof(vm.desired), "RUNNING");
		snprintf(vm.on_crash, sizeof(vm.on_crash), "stop");
		snprintf(vol.layout, sizeof(vol.layout), "raid1");
		if (store_vm_create(s, &vm, &vol) < 0) {
			fprintf(stderr, "store_bench: %s: create: %s\n", backend, store_error(s));
			return 1;
		}
		ids[i] = vm.id;
	}
	line(backend, "create", rows, now_us() - t0);
	t0 = now_us();
	for (int r = 0; r < 10; r++) {
		struct store_vm *vms;
		size_t n;
		if (store_vm_list(s, NULL, false, &vms, &n) < 0 || n != rows) {
			fprintf(stderr, "store_bench: %s: list: %s\n", backend, store_error(s));
			return 1;
		}
		free(vms);
	}
	line(backend, "list(all)", 10, now_us() - t0);
	t0 = now_us();
	for (size_t i = 0; i < rows; i++)
		if (store_vm_report(s, ids[i], "RUNNING", "", 1000 + (int)i) < 0) {
			fprintf(stderr, "store_bench: %s: report: %s\n", backend, store_error(s));
			return 1;
		}
	line(backend, "report", rows, now_us() - t0);
	t0 = now_us();
	for (size_t i = 0; i < rows; i++)
		if (store_vm_set_desired(s, ids[i], "STOPPED", false) < 0) {
			fprintf(stderr, "store_bench: %s: set_desired: %s\n", backend, store_error(s));
			return 1;
		}
	line(backend, "set_desired", rows, now_us() - t0);
	t0 = now_us();
	for (size_t i = 0; i < rows; i++) {
		struct store_vm vm;
		if (store_vm_get(s, ids[i], &vm) < 0)
			return 1;
	}
	line(backend, "get", rows, now_us() - t0);
	free(ids);
	store_close(s);
	return 0;
}

int main(int argc, char **argv)
{
	size_t rows = 1000;
	bool temp = false;
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--rows") && i + 1 < argc) {
			rows = strtoul(argv[++i], NULL, 10);
			if (rows == 0 || rows > 1000000) {
				fprintf(stderr, "store_bench: --rows 1..1000000\n");
				return 2;
			}
		} else if (!strcmp(argv[i], "--temp")) {
			temp = true;
		} else {
			fprintf(stderr, "usage: store_bench [--rows N] --temp | URL...\n");
			return 2;
		}
	}
	if (!temp && i == argc) {
		fprintf(stderr, "usage: store_bench [--rows N] --temp | URL...\n");
		return 2;
	}
	int rc = 0;
	for (; i < argc && rc == 0; i++)
		rc = bench(strncmp(argv[i], "postgres", 8) ? "sqlite" : "postgresql", argv[i], rows);
	if (!temp)
		return rc;
	char dir[] = "/tmp/berth-bench-XXXXXX", path[64], msg[512];
	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof(path), "%s/store.db", dir);
	rc = bench("sqlite", path, rows);
	snprintf(path, sizeof(path), "rm -rf %s", dir);
	(void)!system(path);
	int prc = pg_server_start(msg, sizeof(msg));
	if (prc == 0) {
		char url[512], db[64];
		rc |= pg_server_new_db("bench", url, sizeof(url), db, sizeof(db)) < 0 ||
		      bench("postgresql", url, rows);
	} else {
		printf("SKIP: postgresql: %s\n", msg);
	}
	pg_server_finish();
	return rc;
}
