/* test_metrics_conf.c — [metrics] listen: numeric IPv4 or bracketed IPv6 and a port 1..65535,
 * loopback told apart; names, missing or bad ports and stray characters refused. */
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>

#include "metrics_conf.h"

static int parse(const char *text, bool *loopback)
{
	struct sockaddr_storage a;
	socklen_t len;
	return metrics_parse_listen(text, &a, &len, loopback);
}

Test(metrics_conf, accepted)
{
	bool lo;
	cr_assert_eq(parse("127.0.0.1:9477", &lo), 0);
	cr_expect(lo);
	cr_assert_eq(parse("127.1.2.3:1", &lo), 0);
	cr_expect(lo);
	cr_assert_eq(parse("[::1]:65535", &lo), 0);
	cr_expect(lo);
	cr_assert_eq(parse("0.0.0.0:9477", &lo), 0);
	cr_expect_not(lo);
	cr_assert_eq(parse("[::]:9477", &lo), 0);
	cr_expect_not(lo);
	cr_assert_eq(parse("192.168.1.10:9477", &lo), 0);
	cr_expect_not(lo);
}

Test(metrics_conf, refused)
{
	static const char *const bad[] = {
		"localhost:9477", "127.0.0.1", "127.0.0.1:", ":9477", "127.0.0.1:0",
		"127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:+80", "127.0.0.1: 80",
		"127.0.0.1:80x", "::1:9477", "[::1]", "[::1:9477", "[]:9477", "1.2.3:80",
		"127.0.0.1:99999999999999999999", "",
	};
	bool lo;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_eq(parse(bad[i], &lo), -EINVAL, "'%s' accepted", bad[i]);
}
