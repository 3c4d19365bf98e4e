/* cli.h — shared pieces of the `berth` command: the context every command gets (root,
 * configuration, output mode), option parsing helpers, one-line errors, and tables for
 * people / JSON for scripts. */
#ifndef BERTH_CLI_H
#define BERTH_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <jansson.h>

#include "berth_conf.h"
#include "paths.h"
#include "store.h"

struct cli {
	const char *root;
	bool json;
	struct berth_conf conf;
	struct store *store;         /* opened on first use */
};

/* Every failure ends here: one line on stderr, exit status 1 (2 for usage). */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int cli_usage(const char *usage);
/* A usage error (unknown command or option, bad value): one line, exit status 2. */
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
struct store *cli_store(struct cli *c);

/* Finds a VM by id ("3") or live name ("web"), for actions. 0 or a cli_fail exit code. */
int cli_find_vm(struct cli *c, const char *arg, struct store_vm *vm);
/* The same, but a name resolves to its most recent VM, terminated or not (the highest id
 * with that name): for wait, show, console and events, which read what the VM did. */
int cli_find_vm_latest(struct cli *c, const char *arg, struct store_vm *vm);

/* Strict numbers: the whole string, within [min, max]. */
bool cli_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);
bool cli_parse_seconds(const char *s, double *out);

/* A table: header row then rows, columns padded to their widest cell. */
struct table;
struct table *table_new(const char *const *columns, unsigned ncols);
void table_row(struct table *t, ...);          /* ncols strings */
void table_print(struct table *t);
void table_free(struct table *t);

/* "3m", "2h", "5d" */
void cli_age(int64_t since_ms, char *out, size_t len);
void cli_print_json(json_t *v);                /* steals v */

json_t *vm_json(const struct store_vm *vm);
json_t *volume_json(const struct store_volume *v);

/* supervisor.c: the supervisor's pid when `berth up` runs for this root (its lock is held),
 * -1 while it starts, 0 when it is not up. */
pid_t supervisor_running(const struct cli *c);

/* `berth status`'s daemons: the supervisor's record (state: run/supervisor.json, may be
 * NULL) of those it runs, and for the others whether a process holds the daemon's lock (one
 * started by hand): [{"name", "pid", "running", "supervised", ...}] (a new reference). */
json_t *cli_daemons_status(struct cli *c, json_t *state);

/* Commands: argv[0] is the command's own name. */
int cmd_init(struct cli *c, int argc, char **argv);
int cmd_vm(struct cli *c, int argc, char **argv);
/* cmd_vm_migrate.c: `berth vm migrate`, and a VM's migration for `vm show` / JSON. */
int vm_migrate(struct cli *c, int argc, char **argv);
void vm_show_migration(const struct store_vm *vm);
json_t *vm_migration_json(const struct store_vm *vm);
int cmd_volume(struct cli *c, int argc, char **argv);
int cmd_events(struct cli *c, int argc, char **argv);
int cmd_rpc(struct cli *c, int argc, char **argv);
int cmd_qmp(struct cli *c, int argc, char **argv);
int cmd_up(struct cli *c, int argc, char **argv);
int cmd_down(struct cli *c, int argc, char **argv);
int cmd_status(struct cli *c, int argc, char **argv);
int cmd_supervise(struct cli *c, int argc, char **argv);
int cmd_target_stopped(struct cli *c, int argc, char **argv);
int cmd_doctor(struct cli *c, int argc, char **argv);      /* doctor.c */
int cmd_completion(struct cli *c, int argc, char **argv);  /* cmd_completion.c */
int cmd_metrics(struct cli *c, int argc, char **argv);     /* cmd_metrics.c */
int cmd_serve_metrics(struct cli *c, int argc, char **argv);
int cmd_host(struct cli *c, int argc, char **argv);        /* cmd_host.c */
int cmd_store(struct cli *c, int argc, char **argv);       /* cmd_store.c */

#endif
