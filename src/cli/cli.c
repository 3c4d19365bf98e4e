/* cli.c — shared helpers of the `berth` command (see cli.h). */
#include "cli.h"
#include "clock.h"
#include "store_root.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

__attribute__((format(printf, 2, 0)))
static int say_error(int status, const char *fmt, va_list ap)
{
	fputs("berth: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	return status;
}

int cli_fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = say_error(1, fmt, ap);
	va_end(ap);
	return rc;
}

int cli_usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = say_error(2, fmt, ap);
	va_end(ap);
	return rc;
}

int cli_usage(const char *usage)
{
	fprintf(stderr, "usage: %s\n", usage);
	return 2;
}

struct store *cli_store(struct cli *c)
{
	if (!c->store) {
		char err[512];
		c->store = store_open_for_root(c->conf.store, c->root, STORE_ROOT_CREATE_IF_EMPTY,
					       err, sizeof(err));
		if (!c->store)
			cli_fail("%s", err);
	}
	return c->store;
}

bool cli_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	if (!s || !*s || *s == '-' || *s == '+')
		return false;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return false;
	*out = v;
	return true;
}

bool cli_parse_seconds(const char *s, double *out)
{
	char *end;
	errno = 0;
	double v = s ? strtod(s, &end) : NAN;
	if (!s || errno || end == s || *end || !isfinite(v) || v < 0 || v > 86400)
		return false;
	*out = v;
	return true;
}

static int find_vm(struct cli *c, const char *arg, bool latest, struct store_vm *vm)
{
	struct store *s = cli_store(c);
	if (!s)
		return 1;
	uint64_t id;
	int rc = cli_parse_u64(arg, 1, INT64_MAX, &id) ? store_vm_get(s, (int64_t)id, vm)
		 : latest ? store_vm_find_latest(s, arg, vm) : store_vm_find(s, arg, vm);
	if (rc == -ENOENT)
		return cli_fail("unknown VM '%s'", arg);
	if (rc < 0)
		return cli_fail("%s", store_error(s));
	return 0;
}

int cli_find_vm(struct cli *c, const char *arg, struct store_vm *vm)
{
	return find_vm(c, arg, false, vm);
}

int cli_find_vm_latest(struct cli *c, const char *arg, struct store_vm *vm)
{
	return find_vm(c, arg, true, vm);
}

/* ---------------------------------------------------------------- tables */

struct table {
	unsigned ncols, nrows, cap;
	char **cells;                 /* (1 + nrows) * ncols */
};

struct table *table_new(const char *const *columns, unsigned ncols)
{
	struct table *t = calloc(1, sizeof(*t));
	t->ncols = ncols;
	t->cap = 16;
	t->cells = calloc((size_t)t->cap * ncols, sizeof(char *));
	for (unsigned i = 0; i < ncols; i++)
		t->cells[i] = strdup(columns[i]);
	return t;
}

void table_row(struct table *t, ...)
{
	if (t->nrows + 2 > t->cap) {
		t->cap *= 2;
		t->cells = realloc(t->cells, (size_t)t->cap * t->ncols * sizeof(char *));
	}
	va_list ap;
	va_start(ap, t);
	char **row = &t->cells[(size_t)(t->nrows + 1) * t->ncols];
	for (unsigned i = 0; i < t->ncols; i++) {
		const char *v = va_arg(ap, const char *);
		row[i] = strdup(v ? v : "-");
	}
	va_end(ap);
	t->nrows++;
}

void table_print(struct table *t)
{
	size_t width[16] = { 0 };
	for (unsigned r = 0; r <= t->nrows; r++)
		for (unsigned i = 0; i < t->ncols && i < 16; i++) {
			size_t len = strlen(t->cells[(size_t)r * t->ncols + i]);
			if (len > width[i])
				width[i] = len;
		}
	for (unsigned r = 0; r <= t->nrows; r++) {
		for (unsigned i = 0; i < t->ncols; i++) {
			const char *cell = t->cells[(size_t)r * t->ncols + i];
			if (i + 1 == t->ncols)
				printf("%s\n", cell);
			else
				printf("%-*s  ", (int)width[i], cell);
		}
	}
}

void table_free(struct table *t)
{
	for (size_t i = 0; i < (size_t)(t->nrows + 1) * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t);
}

void cli_age(int64_t since_ms, char *out, size_t len)
{
	int64_t s = (wall_ms() - since_ms) / 1000;
	if (s < 0)
		s = 0;
	if (s < 120)
		snprintf(out, len, "%llds", (long long)s);
	else if (s < 7200)
		snprintf(out, len, "%lldm", (long long)(s / 60));
	else if (s < 172800)
		snprintf(out, len, "%lldh", (long long)(s / 3600));
	else
		snprintf(out, len, "%lldd", (long long)(s / 86400));
}

void cli_print_json(json_t *v)
{
	char *text = json_dumps(v, JSON_INDENT(2) | JSON_ENCODE_ANY);
	json_decref(v);
	if (text)
		printf("%s\n", text);
	free(text);
}

json_t *vm_json(const struct store_vm *vm)
{
	json_t *o = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:s, s:I, s:s, s:i, s:I, "
			 "s:I, s:I, s:I}",
			 "id", (json_int_t)vm->id, "name", vm->name, "uuid", vm->uuid,
			 "host", vm->host, "desired", vm->desired, "state", vm->state,
			 "vcpus", (int)vm->vcpus, "memory_mb", (int)vm->memory_mb,
			 "on_crash", vm->on_crash, "volume_id", (json_int_t)vm->volume_id,
			 "reason", vm->reason, "pid", vm->pid,
			 "generation", (json_int_t)vm->generation,
			 "created_ms", (json_int_t)vm->created_ms,
			 "updated_ms", (json_int_t)vm->updated_ms,
			 "state_since_ms", (json_int_t)vm->state_since_ms);
	/* its vhost-user disk's connection as vmengine last saw it (null: unknown) */
	json_object_set_new(o, "disk_connected", !strcmp(vm->disk, "up") ? json_true()
				   : !strcmp(vm->disk, "down") ? json_false() : json_null());
	json_object_set_new(o, "disk_since_ms", json_integer((json_int_t)vm->disk_since_ms));
	return o;
}

json_t *volume_json(const struct store_volume *v)
{
	return json_pack("{s:I, s:I, s:s, s:I, s:s, s:s, s:s, s:s, s:I}",
			 "id", (json_int_t)v->id, "vm_id", (json_int_t)v->vm_id, "host", v->host,
			 "size_mb", (json_int_t)v->size_mb, "layout", v->layout, "state", v->state,
			 "export_path", v->export_path, "error", v->error,
			 "created_ms", (json_int_t)v->created_ms);
}
