/*
 * test_dovecot_auth.c - table tests for dovecot_auth.c: the server lines
 * of the auth-client and auth-userdb sockets (as Dovecot 2.3 sends them),
 * the lines a client must refuse, the tab escaping and the requests.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lib/buf.h"
#include "mail/dovecot_auth.h"

static int
parse(const char *s, struct dovecot_line *l)
{
	return dovecot_auth_parse(s, strlen(s), l);
}

static void
test_handshake_lines(void **state)
{
	struct dovecot_line	 l;

	(void)state;
	assert_int_equal(parse("VERSION\t1\t2", &l), 0);
	assert_int_equal(l.type, DV_VERSION);
	assert_int_equal(l.major, 1);
	assert_int_equal(l.minor, 2);
	assert_int_equal(parse("MECH\tPLAIN\tplaintext", &l), 0);
	assert_int_equal(l.type, DV_MECH);
	assert_string_equal(l.mech, "PLAIN");
	assert_int_equal(parse("MECH\tSCRAM-SHA-256\tmutual-auth", &l), 0);
	assert_string_equal(l.mech, "SCRAM-SHA-256");
	assert_int_equal(parse("SPID\t4242", &l), 0);
	assert_int_equal(l.type, DV_SPID);
	assert_int_equal(parse("CUID\t1", &l), 0);
	assert_int_equal(l.type, DV_CUID);
	assert_int_equal(parse("COOKIE\t0123456789abcdef", &l), 0);
	assert_int_equal(l.type, DV_COOKIE);
	assert_int_equal(parse("DONE", &l), 0);
	assert_int_equal(l.type, DV_DONE);
	assert_int_equal(parse("NEWTHING\tx", &l), 0);
	assert_int_equal(l.type, DV_OTHER);
}

static void
test_results(void **state)
{
	struct dovecot_line	 l;

	(void)state;
	assert_int_equal(parse("OK\t7\tuser=alice@example.test", &l), 0);
	assert_int_equal(l.type, DV_OK);
	assert_int_equal(l.id, 7);
	assert_true(l.has_user);
	assert_string_equal(l.user, "alice@example.test");
	assert_int_equal(parse("OK\t8", &l), 0);
	assert_false(l.has_user);
	assert_int_equal(parse("FAIL\t9\tuser=bob\treason=Password "
	    "mismatch\001t!", &l), 0);
	assert_int_equal(l.type, DV_FAIL);
	assert_int_equal(l.id, 9);
	assert_false(l.temp);
	assert_string_equal(l.user, "bob");
	assert_string_equal(l.reason, "Password mismatch !");
	assert_int_equal(parse("FAIL\t10\ttemp", &l), 0);
	assert_true(l.temp);
	assert_int_equal(parse("CONT\t11\tVXNlcm5hbWU6", &l), 0);
	assert_int_equal(l.type, DV_CONT);
	assert_int_equal(l.contlen, 12);
	assert_memory_equal(l.cont, "VXNlcm5hbWU6", 12);
	assert_int_equal(parse("CONT\t12\t", &l), 0);
	assert_int_equal(l.contlen, 0);
	assert_int_equal(parse("USER\t1\tcarol@example.test\tuid=65534\t"
	    "home=/h", &l), 0);
	assert_int_equal(l.type, DV_USER);
	assert_string_equal(l.user, "carol@example.test");
	assert_int_equal(parse("NOTFOUND\t4294967295", &l), 0);
	assert_int_equal(l.type, DV_NOTFOUND);
	assert_int_equal(l.id, 4294967295u);
	/* an escaped \001 in a login is kept as the byte: refused */
	assert_int_equal(parse("OK\t1\tuser=a\0011b", &l), -1);
	assert_int_equal(parse("OK\t1\tuser=a\001tb", &l), -1);
}

static void
test_refused(void **state)
{
	static const char *const bad[] = {
		"OK", "OK\t", "OK\tx", "OK\t-1", "OK\t01", "OK\t4294967296",
		"FAIL\t99999999999", "VERSION\t1", "VERSION\tx\t1",
		"MECH", "MECH\t", "MECH\tpl ain", "MECH\tplain",
		"CONT\t1\tnot base64!", "USER\t1", "USER\t1\t",
		"OK\t1\tuser=", "OK\t1\tuser=a b", "OK\t1\tuser=a\001",
		"OK\t1\tuser=a\001x", "NOTFOUND", "OK\t1\nOK\t2",
	};
	struct dovecot_line	 l;
	char			*big;
	size_t			 n = DOVECOT_USER_MAX + 20;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (parse(bad[i], &l) != -1)
			fail_msg("accepted: %s", bad[i]);
	assert_int_equal(dovecot_auth_parse("OK\t1\0", 5, &l), -1);
	big = malloc(n + 1);
	memcpy(big, "OK\t1\tuser=", 10);
	memset(big + 10, 'a', n - 10);
	big[n] = '\0';
	assert_int_equal(parse(big, &l), -1);
	big[10 + DOVECOT_USER_MAX] = '\0';
	assert_int_equal(parse(big, &l), 0);
	assert_int_equal(strlen(l.user), DOVECOT_USER_MAX);
	free(big);
}

static void
test_requests(void **state)
{
	struct buf			 b;
	const struct dovecot_auth_info	 info = { "smtp", "192.0.2.1", true };
	const struct dovecot_auth_info	 bare = { "smtp", NULL, false };

	(void)state;
	buf_init(&b, 0);
	assert_int_equal(dovecot_auth_hello(&b, 123), 0);
	assert_string_equal(buf_cstr(&b), "VERSION\t1\t1\nCPID\t123\n");
	buf_reset(&b);
	assert_int_equal(dovecot_auth_request(&b, 5, "PLAIN", &info,
	    "AGEAYg=="), 0);
	assert_string_equal(buf_cstr(&b), "AUTH\t5\tPLAIN\tservice=smtp\t"
	    "rip=192.0.2.1\tsecured\tresp=AGEAYg==\n");
	buf_reset(&b);
	assert_int_equal(dovecot_auth_request(&b, 6, "LOGIN", &bare, NULL),
	    0);
	assert_string_equal(buf_cstr(&b), "AUTH\t6\tLOGIN\tservice=smtp\n");
	buf_reset(&b);
	assert_int_equal(dovecot_auth_cont(&b, 6, "YWxpY2U="), 0);
	assert_string_equal(buf_cstr(&b), "CONT\t6\tYWxpY2U=\n");
	buf_reset(&b);
	assert_int_equal(dovecot_auth_user(&b, 3, "a\tb\nc\001d", "smtp"),
	    0);
	assert_string_equal(buf_cstr(&b), "VERSION\t1\t0\nUSER\t3\t"
	    "a\001tb\001nc\0011d\tservice=smtp\n");
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_handshake_lines),
		cmocka_unit_test(test_results),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_requests),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
