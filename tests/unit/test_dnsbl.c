/*
 * test_dnsbl.c - DNS list helpers (mail/dnsbl.c): the config form of a
 * list (zone, code filter, weight) and its errors, which codes count, the
 * names asked for IPv4, IPv6 and mapped addresses, and the A records and
 * TTLs of answer messages, with denials' SOA TTLs and broken messages.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "mail/dnsbl.h"

static void
test_site_parse(void **state)
{
	struct dnsbl_site	 s;
	char			 why[128];

	(void)state;
	assert_int_equal(dnsbl_site_parse("Zen.Example.ORG", &s, why,
	    sizeof(why)), 0);
	assert_string_equal(s.zone, "zen.example.org");
	assert_int_equal(s.weight, 1);
	assert_false(s.filtered);
	assert_int_equal(dnsbl_site_parse("bl.example.net*3", &s, why,
	    sizeof(why)), 0);
	assert_int_equal(s.weight, 3);
	assert_int_equal(dnsbl_site_parse("list.example.org*-5", &s, why,
	    sizeof(why)), 0);
	assert_int_equal(s.weight, -5);
	assert_int_equal(dnsbl_site_parse("zen.example.org=127.0.0.[2..11]*2",
	    &s, why, sizeof(why)), 0);
	assert_true(s.filtered);
	assert_int_equal(s.weight, 2);
	assert_int_equal(dnsbl_site_parse("b.example=127.0.[0;1].[2;4]", &s,
	    why, sizeof(why)), 0);
	assert_int_equal(s.weight, 1);
}

static void
test_site_parse_errors(void **state)
{
	static const char *const bad[] = {
		"", "*3", "=127.0.0.2", "a..b", "zone*", "zone*x", "zone*0",
		"zone*1001", "zone*-1001", "zone*+3", "zone=127.0.0",
		"zone=127.0.0.2.5", "zone=127.0.0.256", "zone=127.0.0.[5..2]",
		"zone=127.0.0.[2..]", "zone=127.0.0.[2;]", "zone=127.0.0.[]",
		"zone=127.0.0.x", "zone*3=127.0.0.2", "zone=127.0.0.[2..300]",
		"zone=127.0.0.2*", "bad_zone!.example",
	};
	struct dnsbl_site	 s;
	char			 why[128];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why[0] = '\0';
		if (dnsbl_site_parse(bad[i], &s, why, sizeof(why)) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_true(why[0] != '\0');
	}
}

static void
test_site_match(void **state)
{
	struct dnsbl_site	 s;
	char			 why[128];
	const uint8_t		 a2[4] = { 127, 0, 0, 2 }, a11[4] = { 127, 0,
	    0, 11 }, a12[4] = { 127, 0, 0, 12 }, b4[4] = { 127, 0, 1, 4 },
	    b3[4] = { 127, 0, 1, 3 };

	(void)state;
	assert_int_equal(dnsbl_site_parse("z.example", &s, why, sizeof(why)),
	    0);
	assert_true(dnsbl_site_match(&s, a12));
	assert_int_equal(dnsbl_site_parse("z.example=127.0.0.[2..11]", &s,
	    why, sizeof(why)), 0);
	assert_true(dnsbl_site_match(&s, a2));
	assert_true(dnsbl_site_match(&s, a11));
	assert_false(dnsbl_site_match(&s, a12));
	assert_int_equal(dnsbl_site_parse("z.example=127.0.[0;1].[2;4]*7",
	    &s, why, sizeof(why)), 0);
	assert_true(dnsbl_site_match(&s, b4));
	assert_true(dnsbl_site_match(&s, a2));
	assert_false(dnsbl_site_match(&s, b3));
}

static void
test_query_name(void **state)
{
	char	 n[300];

	(void)state;
	assert_int_equal(dnsbl_query_name("192.0.2.99", "bl.example", n,
	    sizeof(n)), 0);
	assert_string_equal(n, "99.2.0.192.bl.example");
	assert_int_equal(dnsbl_query_name("::ffff:192.0.2.1", "bl.example",
	    n, sizeof(n)), 0);
	assert_string_equal(n, "1.2.0.192.bl.example");
	/* RFC 5782 2.4 */
	assert_int_equal(dnsbl_query_name("2001:db8:1:2:3:4:567:89ab",
	    "ugly.example.com", n, sizeof(n)), 0);
	assert_string_equal(n, "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0."
	    "0.0.8.b.d.0.1.0.0.2.ugly.example.com");
	assert_int_equal(dnsbl_query_name("not an ip", "bl.example", n,
	    sizeof(n)), -1);
	assert_int_equal(dnsbl_query_name("192.0.2.1", "bl.example", n, 10),
	    -1);
}

/* A message: header, question "q.example" A, then records. */
struct msg {
	unsigned char	 b[512];
	size_t		 len;
};

static void
put(struct msg *m, const void *p, size_t n)
{
	memcpy(m->b + m->len, p, n);
	m->len += n;
}

static void
start(struct msg *m, unsigned an, unsigned ns)
{
	static const unsigned char q[] = "\x01q\x07" "example\x00\x00\x01"
	    "\x00\x01";
	unsigned char	 h[12] = { 0x12, 0x34, 0x81, 0x80, 0, 1, 0, 0, 0, 0,
	    0, 0 };

	h[7] = (unsigned char)an;
	h[9] = (unsigned char)ns;
	m->len = 0;
	put(m, h, sizeof(h));
	put(m, q, sizeof(q) - 1);
}

static void
rr_a(struct msg *m, uint32_t ttl, unsigned last)
{
	unsigned char	 r[] = { 0xc0, 12, 0, 1, 0, 1, (unsigned char)(ttl >>
	    24), (unsigned char)(ttl >> 16), (unsigned char)(ttl >> 8),
	    (unsigned char)ttl, 0, 4, 127, 0, 0, (unsigned char)last };

	put(m, r, sizeof(r));
}

static void
rr_soa(struct msg *m, uint32_t ttl, uint32_t minimum)
{
	unsigned char	 r[] = { 0xc0, 14, 0, 6, 0, 1, (unsigned char)(ttl >>
	    24), (unsigned char)(ttl >> 16), (unsigned char)(ttl >> 8),
	    (unsigned char)ttl, 0, 24, 0xc0, 14, 0xc0, 14, 0, 0, 0, 1, 0, 0,
	    0, 2, 0, 0, 0, 3, 0, 0, 0, 4, (unsigned char)(minimum >> 24),
	    (unsigned char)(minimum >> 16), (unsigned char)(minimum >> 8),
	    (unsigned char)minimum };

	put(m, r, sizeof(r));
}

static void
test_answer_records_and_ttl(void **state)
{
	struct msg		 m;
	struct dnsbl_answer	 a;

	(void)state;
	start(&m, 2, 0);
	rr_a(&m, 600, 2);
	rr_a(&m, 60, 10);
	assert_int_equal(dnsbl_answer_parse(m.b, m.len, &a), 0);
	assert_int_equal(a.n, 2);
	assert_int_equal(a.addrs[0][3], 2);
	assert_int_equal(a.addrs[1][3], 10);
	assert_int_equal(a.ttl, 60);
}

static void
test_denial_takes_soa_ttl(void **state)
{
	struct msg		 m;
	struct dnsbl_answer	 a;

	(void)state;
	start(&m, 0, 1);
	rr_soa(&m, 900, 120);
	assert_int_equal(dnsbl_answer_parse(m.b, m.len, &a), 0);
	assert_int_equal(a.n, 0);
	assert_int_equal(a.ttl, 120);
	start(&m, 0, 1);
	rr_soa(&m, 30, 3600);
	assert_int_equal(dnsbl_answer_parse(m.b, m.len, &a), 0);
	assert_int_equal(a.ttl, 30);
	start(&m, 0, 0);
	assert_int_equal(dnsbl_answer_parse(m.b, m.len, &a), 0);
	assert_int_equal(a.ttl, 0);
}

static void
test_broken_answers(void **state)
{
	struct msg		 m;
	struct dnsbl_answer	 a;

	(void)state;
	start(&m, 1, 0);
	rr_a(&m, 60, 2);
	for (size_t cut = 0; cut < m.len; cut++)
		assert_int_equal(dnsbl_answer_parse(m.b, cut, &a), -1);
	/* a forward compression pointer as the answer's owner */
	start(&m, 1, 0);
	rr_a(&m, 60, 2);
	m.b[12 + 15 + 1] = 200;
	assert_int_equal(dnsbl_answer_parse(m.b, m.len, &a), -1);
	assert_int_equal(a.n, 0);
	/* an A record of 5 bytes */
	start(&m, 1, 0);
	rr_a(&m, 60, 2);
	m.b[m.len - 5] = 5;
	m.b[m.len++] = 0;
	assert_int_equal(dnsbl_answer_parse(m.b, m.len, &a), -1);
	/* more answers counted than there are */
	start(&m, 3, 0);
	rr_a(&m, 60, 2);
	assert_int_equal(dnsbl_answer_parse(m.b, m.len, &a), -1);
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test(test_site_parse),
		cmocka_unit_test(test_site_parse_errors),
		cmocka_unit_test(test_site_match),
		cmocka_unit_test(test_query_name),
		cmocka_unit_test(test_answer_records_and_ttl),
		cmocka_unit_test(test_denial_takes_soa_ttl),
		cmocka_unit_test(test_broken_answers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
