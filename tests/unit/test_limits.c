/*
 * test_smtp_limits.c - the abuse counters with the time passed in:
 * connection limits in total and per IP, failed-AUTH counting and bans
 * that expire, the password checks in flight, minute and hour rate
 * windows per key, the sweep of idle keys, and the minimum data rate
 * arithmetic.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "smtpd/limits.h"

static void
test_connections(void **state)
{
	struct limits	*l = limits_new();

	(void)state;
	assert_int_equal(limits_conn_open(l, "192.0.2.1", 100, 3, 2),
	    LIMITS_CONN_OK);
	assert_int_equal(limits_conn_open(l, "192.0.2.1", 100, 3, 2),
	    LIMITS_CONN_OK);
	assert_int_equal(limits_conn_open(l, "192.0.2.1", 100, 3, 2),
	    LIMITS_CONN_PER_IP);
	assert_int_equal(limits_conn_open(l, "192.0.2.2", 100, 3, 2),
	    LIMITS_CONN_OK);
	assert_int_equal(limits_conn_total(l), 3);
	assert_int_equal(limits_conn_count(l, "192.0.2.1"), 2);
	assert_int_equal(limits_conn_count(l, "192.0.2.2"), 1);
	assert_int_equal(limits_conn_count(l, "192.0.2.3"), 0);
	assert_int_equal(limits_conn_open(l, "192.0.2.3", 100, 3, 2),
	    LIMITS_CONN_TOTAL);
	limits_conn_close(l, "192.0.2.1");
	assert_int_equal(limits_conn_total(l), 2);
	assert_int_equal(limits_conn_open(l, "192.0.2.1", 100, 3, 2),
	    LIMITS_CONN_OK);
	/* 3 of 4 open: stressed at 75 %, not at 80 %; never without max */
	assert_true(limits_stressed(l, 4, 75));
	assert_false(limits_stressed(l, 4, 80));
	assert_true(limits_stressed(l, 3, 100));
	assert_false(limits_stressed(l, 0, 1));
	/* 0 means no limit */
	for (int i = 0; i < 50; i++)
		assert_int_equal(limits_conn_open(l, "192.0.2.9", 100, 0, 0),
		    LIMITS_CONN_OK);
	limits_free(l);
}

static void
test_auth_ban(void **state)
{
	struct limits	*l = limits_new();

	(void)state;
	/* 3 failures allowed in a 600 s window; the 4th bans for 3600 s */
	assert_int_equal(limits_auth_failed(l, "ip", 1000, 600, 3, 3600), 1);
	assert_int_equal(limits_auth_failed(l, "ip", 1001, 600, 3, 3600), 2);
	assert_int_equal(limits_auth_failed(l, "ip", 1002, 600, 3, 3600), 3);
	assert_false(limits_is_banned(l, "ip", 1002));
	assert_int_equal(limits_auth_failed(l, "ip", 1003, 600, 3, 3600), 4);
	assert_true(limits_is_banned(l, "ip", 1003));
	assert_int_equal(limits_conn_open(l, "ip", 1004, 0, 0),
	    LIMITS_CONN_BANNED);
	assert_false(limits_is_banned(l, "other", 1004));
	assert_true(limits_is_banned(l, "ip", 4602));
	assert_false(limits_is_banned(l, "ip", 4603));
	assert_int_equal(limits_conn_open(l, "ip", 4603, 0, 0),
	    LIMITS_CONN_OK);
	/* a new window after it ends */
	assert_int_equal(limits_auth_failed(l, "w", 0, 600, 3, 3600), 1);
	assert_int_equal(limits_auth_failed(l, "w", 599, 600, 3, 3600), 2);
	assert_int_equal(limits_auth_failed(l, "w", 600, 600, 3, 3600), 1);
	/* max 0: counted, never banned */
	for (unsigned i = 1; i < 100; i++)
		assert_int_equal(limits_auth_failed(l, "n", 5, 600, 0, 3600),
		    i);
	assert_false(limits_is_banned(l, "n", 5));
	limits_free(l);
}

static void
test_auth_checks_in_flight(void **state)
{
	struct limits	*l = limits_new();

	(void)state;
	/* max 2: three checks at once use the budget; the 4th waits */
	for (int i = 0; i < 3; i++)
		assert_int_equal(limits_auth_begin(l, "ip", 100, 600, 2),
		    LIMITS_AUTH_OK);
	assert_int_equal(limits_auth_begin(l, "ip", 100, 600, 2),
	    LIMITS_AUTH_BUSY);
	/* other IPs have their own budget */
	assert_int_equal(limits_auth_begin(l, "other", 100, 600, 2),
	    LIMITS_AUTH_OK);
	limits_auth_done(l, "other");
	/* a success frees its place */
	limits_auth_done(l, "ip");
	assert_int_equal(limits_auth_begin(l, "ip", 101, 600, 2),
	    LIMITS_AUTH_OK);
	/* three failures: the third bans, nothing more is checked */
	for (int i = 0; i < 3; i++) {
		limits_auth_done(l, "ip");
		limits_auth_failed(l, "ip", 102, 600, 2, 3600);
	}
	assert_true(limits_is_banned(l, "ip", 102));
	assert_int_equal(limits_auth_begin(l, "ip", 103, 600, 2),
	    LIMITS_AUTH_BANNED);
	/* after the ban: a new budget */
	assert_int_equal(limits_auth_begin(l, "ip", 3703, 600, 2),
	    LIMITS_AUTH_OK);
	limits_auth_done(l, "ip");
	/* failures of an old window no longer count */
	limits_auth_failed(l, "w", 10, 600, 2, 3600);
	limits_auth_failed(l, "w", 10, 600, 2, 3600);
	assert_int_equal(limits_auth_begin(l, "w", 11, 600, 2),
	    LIMITS_AUTH_OK);
	assert_int_equal(limits_auth_begin(l, "w", 11, 600, 2),
	    LIMITS_AUTH_BUSY);
	assert_int_equal(limits_auth_begin(l, "w", 610, 600, 2),
	    LIMITS_AUTH_OK);
	/* max 0: never refused; a stray done is harmless */
	for (int i = 0; i < 100; i++)
		assert_int_equal(limits_auth_begin(l, "n", 5, 600, 0),
		    LIMITS_AUTH_OK);
	limits_auth_done(l, "nobody");
	/* an IP with checks in flight is not swept */
	limits_sweep(l, 1000000, 3600);
	assert_int_equal(limits_auth_begin(l, "n", 1000000, 600, 1),
	    LIMITS_AUTH_BUSY);
	limits_free(l);
}

static void
test_rates(void **state)
{
	struct limits	*l = limits_new();

	(void)state;
	/* 3 per minute, 5 per hour */
	for (int i = 0; i < 3; i++)
		assert_true(limits_rate_take(l, "ip:a", LIMITS_MESSAGES,
		    100, 1, 3, 5));
	assert_false(limits_rate_take(l, "ip:a", LIMITS_MESSAGES, 159, 1, 3,
	    5));
	/* other kinds and keys are separate */
	assert_true(limits_rate_take(l, "ip:a", LIMITS_RECIPIENTS, 159, 3,
	    3, 5));
	assert_true(limits_rate_take(l, "user:a", LIMITS_MESSAGES, 159, 1, 3,
	    5));
	/* next minute: two more fit the hour */
	assert_true(limits_rate_take(l, "ip:a", LIMITS_MESSAGES, 160, 1, 3,
	    5));
	assert_true(limits_rate_take(l, "ip:a", LIMITS_MESSAGES, 161, 1, 3,
	    5));
	assert_false(limits_rate_take(l, "ip:a", LIMITS_MESSAGES, 230, 1, 3,
	    5));
	/* a refused take counts nothing */
	assert_false(limits_rate_take(l, "ip:a", LIMITS_RECIPIENTS, 160, 4,
	    0, 5));
	assert_true(limits_rate_take(l, "ip:a", LIMITS_RECIPIENTS, 160, 2,
	    0, 5));
	/* next hour */
	assert_true(limits_rate_take(l, "ip:a", LIMITS_MESSAGES, 3700, 1, 3,
	    5));
	/* no limits */
	for (int i = 0; i < 1000; i++)
		assert_true(limits_rate_take(l, "ip:b", LIMITS_MESSAGES, 1, 1,
		    0, 0));
	limits_free(l);
}

static void
test_sweep(void **state)
{
	struct limits	*l = limits_new();

	(void)state;
	assert_int_equal(limits_conn_open(l, "a", 10, 0, 0), LIMITS_CONN_OK);
	assert_true(limits_rate_take(l, "b", LIMITS_MESSAGES, 10, 1, 5, 5));
	limits_auth_failed(l, "c", 10, 60, 1, 100000);
	limits_auth_failed(l, "c", 10, 60, 1, 100000);
	assert_int_equal(limits_entries(l), 3);
	limits_sweep(l, 5000, 3600);
	/* "a" is connected, "c" banned: kept; "b" is idle */
	assert_int_equal(limits_entries(l), 2);
	limits_conn_close(l, "a");
	limits_sweep(l, 5000, 3600);
	assert_int_equal(limits_entries(l), 1);
	limits_sweep(l, 200000, 3600);
	assert_int_equal(limits_entries(l), 0);
	limits_free(l);
}

static void
test_data_rate(void **state)
{
	(void)state;
	assert_true(limits_data_rate_ok(0, 10, 0));
	assert_true(limits_data_rate_ok(0, 0, 100));
	assert_true(limits_data_rate_ok(1000, 10, 100));
	assert_false(limits_data_rate_ok(999, 10, 100));
	assert_false(limits_data_rate_ok(UINT64_MAX - 1, UINT64_MAX, 2));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_connections),
		cmocka_unit_test(test_auth_ban),
		cmocka_unit_test(test_auth_checks_in_flight),
		cmocka_unit_test(test_rates),
		cmocka_unit_test(test_sweep),
		cmocka_unit_test(test_data_rate),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
