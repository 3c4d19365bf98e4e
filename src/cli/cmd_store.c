/* cmd_store.c — `berth store copy --from URL --to URL [--timeout S]`: every row of one store
 * into an empty one (store_copy, docs/fleet.md *Moving a host onto the fleet database*), e.g.
 * a single host's SQLite file into the fleet's PostgreSQL database. Prints the rows copied
 * per table; one line on any refusal, nothing copied. The URLs are never printed (a
 * PostgreSQL URI may hold a password). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

#define STORE_USAGE "berth store copy --from URL --to URL [--timeout S]"
#define COPY_TIMEOUT_DEFAULT_S 600

static int store_copy_cmd(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "from", required_argument, NULL, 'f' },
		{ "to", required_argument, NULL, 'T' },
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	const char *from = NULL, *to = NULL;
	double timeout = COPY_TIMEOUT_DEFAULT_S;
	int opt;
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		switch (opt) {
		case 'f': from = optarg; break;
		case 'T': to = optarg; break;
		case 't':
			if (!cli_parse_seconds(optarg, &timeout) || timeout < 1 || timeout > 3600)
				return cli_usage_error("bad --timeout '%s' (1..3600 s)", optarg);
			break;
		case ':': return cli_usage_error("%s needs a value", argv[optind - 1]);
		default: return cli_usage_error("unknown option '%s' (%s)", argv[optind - 1],
						STORE_USAGE);
		}
	}
	if (optind != argc || !from || !to || !from[0] || !to[0])
		return cli_usage_error("usage: %s", STORE_USAGE);
	if (!strcmp(from, to))
		return cli_usage_error("--from and --to name the same store");
	/* one deadline for every call, the destination's whole transaction included */
	store_set_timeout_ms((int)(timeout * 1000));
	char err[512];
	struct store *src = store_open(from, err, sizeof(err));
	if (!src)
		return cli_fail("the source: %s", err);
	struct store *dst = store_create(to, err, sizeof(err));
	if (!dst) {
		store_close(src);
		return cli_fail("the destination: %s", err);
	}
	size_t counts[STORE_COPY_TABLES] = { 0 };
	int rc = store_copy(src, dst, counts, err, sizeof(err));
	store_close(src);
	store_close(dst);
	if (rc < 0)
		return cli_fail("store copy: %s (nothing copied)", err);
	if (c->json) {
		json_t *o = json_object();
		for (size_t i = 0; i < STORE_COPY_TABLES; i++)
			json_object_set_new(o, store_copy_tables[i], json_integer((json_int_t)counts[i]));
		cli_print_json(o);
		return 0;
	}
	printf("copied:");
	for (size_t i = 0; i < STORE_COPY_TABLES; i++)
		printf("%s %zu %s", i ? "," : "", counts[i], store_copy_tables[i]);
	printf("\n");
	return 0;
}

static bool is_help(const char *arg)
{
	return !strcmp(arg, "--help") || !strcmp(arg, "-h");
}

int cmd_store(struct cli *c, int argc, char **argv)
{
	if (argc >= 2 && (is_help(argv[1]) || (argc == 3 && !strcmp(argv[1], "copy") &&
					       is_help(argv[2])))) {
		printf("usage: %s\nCopies every row of the store at --from into the empty store at "
		       "--to (docs/fleet.md).\n", STORE_USAGE);
		return 0;
	}
	if (argc < 2 || strcmp(argv[1], "copy"))
		return cli_usage(STORE_USAGE);
	return store_copy_cmd(c, argc - 1, argv + 1);
}
