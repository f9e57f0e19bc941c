/*
 * test_mtasts.c - MTA-STS formats (mail/mtasts.c): the _mta-sts TXT
 * record and the choice among several TXT strings (RFC 8461 3.1), the
 * policy file with LF and CRLF lines, unknown keys, repeated and missing
 * fields, bad values and the size limit (3.2), and the mx pattern match
 * with its one-label wildcard (4.1).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mail/mtasts.h"

static int
txt(const char *s, char id[MTASTS_ID_MAX + 1])
{
	return mtasts_txt_one(s, strlen(s), id);
}

static void
test_txt_good(void **state)
{
	char	id[MTASTS_ID_MAX + 1];

	assert_int_equal(txt("v=STSv1; id=20160831085700Z;", id), 0);
	assert_string_equal(id, "20160831085700Z");
	assert_int_equal(txt("v=STSv1;id=abc", id), 0);
	assert_string_equal(id, "abc");
	assert_int_equal(txt("v=STSv1 ;\tid=1 ; ext_1=x.y ;", id), 0);
	assert_string_equal(id, "1");
	assert_int_equal(txt("v=STSv1; id="
	    "12345678901234567890123456789012", id), 0);
}

static void
test_txt_bad(void **state)
{
	char	id[MTASTS_ID_MAX + 1];

	/* not an STS record at all */
	assert_int_equal(txt("v=spf1 -all", id), 1);
	assert_int_equal(txt("v=STSv10; id=1", id), 1);
	assert_int_equal(txt("", id), 1);
	/* STS, malformed */
	assert_int_equal(txt("v=STSv1", id), -1);
	assert_int_equal(txt("v=STSv1;", id), -1);
	assert_int_equal(txt("v=STSv1; id=", id), -1);
	assert_int_equal(txt("v=STSv1; id=a-b", id), -1);
	assert_int_equal(txt("v=STSv1; id=1; id=2", id), -1);
	assert_int_equal(txt("v=STSv1; ext=1", id), -1);	/* no id */
	assert_int_equal(txt("v=STSv1; id=1 x", id), -1);
	assert_int_equal(txt("v=STSv1; id=1;; ", id), -1);
	assert_int_equal(txt("v=STSv1; id="
	    "123456789012345678901234567890123", id), -1);
	assert_int_equal(txt("v=STSv1; _x=1; id=1", id), -1);
	assert_string_equal(id, "");
}

static void
test_txt_pick(void **state)
{
	const char	*a[] = { "v=spf1 -all", "v=STSv1; id=A1", "junk" };
	const char	*b[] = { "v=STSv1; id=A1", "v=STSv1; id=B2" };
	const char	*c[] = { "v=spf1 -all" };
	const char	*d[] = { "v=STSv1; id=" };
	size_t		 la[] = { 11, 14, 4 }, lb[] = { 14, 14 }, lc[] = { 11 };
	size_t		 ld[] = { 12 };
	char		 id[MTASTS_ID_MAX + 1];
	const char	*why;

	assert_int_equal(mtasts_txt_pick(a, la, 3, id, &why), 0);
	assert_string_equal(id, "A1");
	assert_int_equal(mtasts_txt_pick(b, lb, 2, id, &why), -1);
	assert_string_equal(why, "more than one v=STSv1 record");
	assert_int_equal(mtasts_txt_pick(c, lc, 1, id, &why), -1);
	assert_string_equal(why, "no v=STSv1 record");
	assert_int_equal(mtasts_txt_pick(d, ld, 1, id, &why), -1);
	assert_string_equal(why, "malformed v=STSv1 record");
	assert_int_equal(mtasts_txt_pick(NULL, NULL, 0, id, &why), -1);
}

static int
pol(const char *s, struct mtasts_policy *p)
{
	char	err[128];

	return mtasts_policy_parse(s, strlen(s), p, err, sizeof(err));
}

static void
test_policy_good(void **state)
{
	struct mtasts_policy	p;

	assert_int_equal(pol("version: STSv1\r\nmode: enforce\r\n"
	    "mx: mail.example.com\r\nmx: *.Example.NET\r\n"
	    "max_age: 604800\r\n", &p), 0);
	assert_int_equal(p.mode, MTASTS_MODE_ENFORCE);
	assert_int_equal(p.max_age, 604800);
	assert_int_equal(p.nmx, 2);
	assert_string_equal(p.mx[0], "mail.example.com");
	assert_string_equal(p.mx[1], "*.example.net");
	/* LF lines, no final terminator, spaces, an extension */
	assert_int_equal(pol("version:STSv1\nmode:   testing  \n"
	    "future_key: some value\nmx: mx1.example.org\n\n"
	    "max_age: 31557600", &p), 0);
	assert_int_equal(p.mode, MTASTS_MODE_TESTING);
	assert_int_equal(p.max_age, 31557600);
	/* none needs no mx */
	assert_int_equal(pol("version: STSv1\nmode: none\nmax_age: 0\n",
	    &p), 0);
	assert_int_equal(p.mode, MTASTS_MODE_NONE);
	assert_int_equal(p.nmx, 0);
}

static void
test_policy_bad(void **state)
{
	static const char *const bad[] = {
		"",
		"mode: enforce\nmx: a.example\nmax_age: 1\n",	/* no version */
		"version: STSv2\nmode: enforce\nmx: a.example\nmax_age: 1\n",
		"version: STSv1\nmode: Enforce\nmx: a.example\nmax_age: 1\n",
		"version: STSv1\nmode: enforce\nmax_age: 1\n",	/* no mx */
		"version: STSv1\nmode: enforce\nmx: a.example\n", /* no age */
		"version: STSv1\nmode: enforce\nmx: a.example\n"
		    "max_age: 31557601\n",
		"version: STSv1\nmode: enforce\nmx: a.example\n"
		    "max_age: 12345678901\n",
		"version: STSv1\nmode: enforce\nmx: a.example\nmax_age: -1\n",
		"version: STSv1\nmode: enforce\nmode: none\nmx: a.example\n"
		    "max_age: 1\n",
		"version: STSv1\nmode: enforce\nmx: a..example\nmax_age: 1\n",
		"version: STSv1\nmode: enforce\nmx: **.example\nmax_age: 1\n",
		"version: STSv1\nmode: enforce\nmx: a.*.example\nmax_age: 1\n",
		"version: STSv1\nmode: enforce\nmx: -a.example\nmax_age: 1\n",
		"version: STSv1\nmode: enforce\nmx: a.example.\nmax_age: 1\n",
		"version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 1\r\r\n",
		"version: STSv1\nmode: enforce\nmx a.example\nmax_age: 1\n",
		"version: STSv1\nmode: enforce\nmx:\nmax_age: 1\n",
		"version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 1\n"
		    "x\x01y: z\n",
		"version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 1\n"
		    "ext: a\x1b b\n",
	};
	struct mtasts_policy	p;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (pol(bad[i], &p) != -1)
			fail_msg("accepted bad policy %zu", i);
		assert_int_equal(p.nmx, 0);
	}
}

static void
test_policy_limits(void **state)
{
	struct mtasts_policy	 p;
	char			 err[128];
	size_t			 big = MTASTS_POLICY_MAX + 1;
	char			*b = malloc(big);
	const char		*head = "version: STSv1\nmode: none\n"
	    "max_age: 1\n";

	assert_non_null(b);
	memset(b, '\n', big);
	memcpy(b, head, strlen(head));
	assert_int_equal(mtasts_policy_parse(b, big - 1, &p, err,
	    sizeof(err)), 0);
	assert_int_equal(mtasts_policy_parse(b, big, &p, err, sizeof(err)),
	    -1);
	assert_string_equal(err, "policy larger than 64 KiB");
	free(b);
	/* a NUL inside */
	assert_int_equal(mtasts_policy_parse("version: STSv1\0\nmode: none\n"
	    "max_age: 1\n", 38, &p, err, sizeof(err)), -1);
}

static void
test_mx_match(void **state)
{
	assert_true(mtasts_mx_match("mail.example.com", "mail.example.com"));
	assert_true(mtasts_mx_match("mail.example.com", "MAIL.Example.COM."));
	assert_false(mtasts_mx_match("mail.example.com", "mail.example.co"));
	assert_false(mtasts_mx_match("mail.example.com", "xmail.example.com"));
	assert_true(mtasts_mx_match("*.example.com", "mx1.example.com"));
	assert_true(mtasts_mx_match("*.example.com", "MX1.example.com."));
	assert_false(mtasts_mx_match("*.example.com", "example.com"));
	assert_false(mtasts_mx_match("*.example.com", "a.b.example.com"));
	assert_false(mtasts_mx_match("*.example.com", ".example.com"));
	assert_false(mtasts_mx_match("*.example.com", "mx1.example.org"));
	assert_false(mtasts_mx_match("mail.example.com", ""));
}

static void
test_policy_match(void **state)
{
	struct mtasts_policy	p;

	assert_int_equal(pol("version: STSv1\nmode: enforce\n"
	    "mx: mx.a.example\nmx: *.b.example\nmax_age: 60\n", &p), 0);
	assert_true(mtasts_policy_match(&p, "mx.a.example"));
	assert_true(mtasts_policy_match(&p, "x.b.example"));
	assert_false(mtasts_policy_match(&p, "evil.example"));
	assert_string_equal(mtasts_mode_str(p.mode), "enforce");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_txt_good),
		cmocka_unit_test(test_txt_bad),
		cmocka_unit_test(test_txt_pick),
		cmocka_unit_test(test_policy_good),
		cmocka_unit_test(test_policy_bad),
		cmocka_unit_test(test_policy_limits),
		cmocka_unit_test(test_mx_match),
		cmocka_unit_test(test_policy_match),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
