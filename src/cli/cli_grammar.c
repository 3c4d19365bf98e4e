/* cli_grammar.c — the `berth` command line as data (see cli_grammar.h). Keep it in step
 * with each command's parser and usage text: tests/e2e/test_berth_completion.py fails on a
 * command or option the usage texts name and this table does not. */
#include <stddef.h>

#include "cli_grammar.h"

#define END { NULL, NULL }

static const struct cli_option g_help[] = { { "--help", NULL }, END };
static const struct cli_option g_none[] = { END };
static const struct cli_option g_wait[] = { { "--wait", NULL }, { "--timeout", "S" }, END };
static const struct cli_option g_timeout[] = { { "--timeout", "S" }, END };
static const struct cli_option g_all[] = { { "--all", NULL }, END };

static const struct cli_option g_vm_create[] = {
	{ "--vcpus", "N" }, { "--memory", "MB" }, { "--disk-size", "MB" },
	{ "--workload", "writer|verify|bench|idle|acpi|panic" },
	{ "--on-crash", "stop|restart" }, { "--layout", "raid1|raid0|single" },
	{ "--host", "HOST" }, { "--wait", NULL }, { "--timeout", "S" }, END,
};
static const struct cli_option g_vm_console[] = { { "--lines", "N" }, END };
static const struct cli_option g_vm_wait[] = { { "--state", "STATE" }, { "--timeout", "S" }, END };
static const struct cli_option g_vm_migrate[] = {
	{ "--to", "HOST" }, { "--wait", NULL }, { "--timeout", "S" }, END,
};

static const char *const g_name[] = { "NAME", NULL };
static const char *const g_vm[] = { "VM", NULL };

static const struct cli_command g_vm_subs[] = {
	{ "create", g_vm_create, g_name, NULL },
	{ "list", g_all, NULL, NULL },
	{ "show", g_none, g_vm, NULL },
	{ "start", g_wait, g_vm, NULL },
	{ "stop", g_wait, g_vm, NULL },
	{ "terminate", g_wait, g_vm, NULL },
	{ "restart", g_timeout, g_vm, NULL },
	{ "console", g_vm_console, g_vm, NULL },
	{ "wait", g_vm_wait, g_vm, NULL },
	{ "migrate", g_vm_migrate, g_vm, NULL },
	{ NULL, NULL, NULL, NULL },
};

static const struct cli_command g_volume_subs[] = {
	{ "list", g_all, NULL, NULL },
	{ NULL, NULL, NULL, NULL },
};

static const struct cli_command g_host_subs[] = {
	{ "list", g_none, NULL, NULL },
	{ NULL, NULL, NULL, NULL },
};

static const struct cli_option g_store_copy[] = {
	{ "--from", "URL" }, { "--to", "URL" }, { "--timeout", "S" }, { "--help", NULL }, END,
};
static const struct cli_command g_store_subs[] = {
	{ "copy", g_store_copy, NULL, NULL },
	{ NULL, NULL, NULL, NULL },
};

static const struct cli_option g_down[] = { { "--vms", NULL }, END };
static const struct cli_option g_events[] = { { "--vm", "VM" }, { "--limit", "N" }, END };
static const struct cli_option g_doctor[] = {
	{ "--fix", NULL }, { "--vm", "VM" }, { "--bundle", "FILE" }, { "--help", NULL }, END,
};
static const char *const g_rpc_args[] = { "METHOD", "JSON", NULL };
static const char *const g_qmp_args[] = { "VM", "COMMAND", "JSON", NULL };
static const char *const g_shells[] = { "bash", NULL };

static const struct cli_command g_commands[] = {
	{ "init", g_none, NULL, NULL },
	{ "up", g_none, NULL, NULL },
	{ "down", g_down, NULL, NULL },
	{ "status", g_none, NULL, NULL },
	{ "vm", g_help, NULL, g_vm_subs },
	{ "volume", g_none, NULL, g_volume_subs },
	{ "host", g_none, NULL, g_host_subs },
	{ "store", g_help, NULL, g_store_subs },
	{ "events", g_events, NULL, NULL },
	{ "rpc", g_timeout, g_rpc_args, NULL },
	{ "qmp", g_none, g_qmp_args, NULL },
	{ "doctor", g_doctor, NULL, NULL },
	{ "completion", g_none, g_shells, NULL },
	{ "metrics", g_none, NULL, NULL },
	{ NULL, NULL, NULL, NULL },
};

static const struct cli_option g_global[] = {
	{ "--root", "DIR" }, { "--json", NULL }, { "--help", NULL }, { "--version", NULL }, END,
};

static const struct cli_command g_root = { "berth", g_global, NULL, g_commands };

const struct cli_command *cli_grammar(void)
{
	return &g_root;
}
