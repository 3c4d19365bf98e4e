/* cli_grammar.h — the `berth` command line as data: every command and subcommand, its
 * options (with the kind of value each takes) and its positional arguments. What
 * `berth completion bash` is generated from; tests/e2e/test_berth_completion.py checks it
 * against `berth --help` and every command's usage text. */
#ifndef BERTH_CLI_GRAMMAR_H
#define BERTH_CLI_GRAMMAR_H

/* A value kind: "DIR", "FILE", "VM" (an id or a name, completed from `berth vm list`),
 * "HOST" (a host's name, completed from `berth host list`),
 * "STATE" (a VM state), lower-case words "a|b|c" (one of them); anything else in capitals
 * (a number "N", a name, JSON) is free text. No spaces or glob characters. */
struct cli_option {
	const char *name;            /* "--timeout" */
	const char *value;           /* its value's kind; NULL for a flag */
};

struct cli_command {
	const char *name;
	const struct cli_option *options;     /* NULL-terminated, may be NULL */
	const char *const *args;              /* positional kinds, NULL-terminated, may be NULL */
	const struct cli_command *subs;       /* NULL-terminated by name, may be NULL */
};

/* The root: its options are berth's global ones, its subs the commands (those an operator
 * runs; `supervise` and `target-stopped`, which berth up and systemd run, are left out). */
const struct cli_command *cli_grammar(void);

#endif
