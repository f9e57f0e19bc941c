/*
 * test_greylist.c - greylisting decisions (mail/greylist.c): the
 * triplet's key for IPv4 (/24), IPv6 (/64) and mapped addresses, the
 * record's encoding and its strict decoding, and the decision over time:
 * new, too early, passed, remembered, too late a retry, expiry, and a
 * clock that goes back.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mail/greylist.h"

static const struct greylist_times T = { 300, 86400, 35 * 86400 };

static void
test_key(void **state)
{
	char	 k[GREYLIST_KEY_MAX];

	(void)state;
	assert_int_equal(greylist_key("192.0.2.77", "A@Example.COM",
	    "b@example.org", k, sizeof(k)), 0);
	assert_string_equal(k, "192.0.2.0/24|a@example.com|b@example.org");
	assert_int_equal(greylist_key("::ffff:192.0.2.1", "", "b@x.example",
	    k, sizeof(k)), 0);
	assert_string_equal(k, "192.0.2.0/24||b@x.example");
	assert_int_equal(greylist_key("2001:db8:1:2:3:4:5:6", "a@x", "b@y", k,
	    sizeof(k)), 0);
	assert_string_equal(k, "2001:db8:1:2::/64|a@x|b@y");
	assert_int_equal(greylist_key("nonsense", "a@x", "b@y", k,
	    sizeof(k)), -1);
	assert_int_equal(greylist_key("192.0.2.1", "a@x", "b@y", k, 12), -1);
}

static void
test_record_codec(void **state)
{
	struct greylist_rec	 r = { 1000, 2000, 1500, 7 }, back;
	unsigned char		 e[GREYLIST_REC_LEN];

	(void)state;
	greylist_rec_encode(&r, e);
	assert_int_equal(greylist_rec_decode(e, sizeof(e), &back), 0);
	assert_int_equal(back.first, 1000);
	assert_int_equal(back.last, 2000);
	assert_int_equal(back.passed, 1500);
	assert_int_equal(back.count, 7);
	assert_int_equal(greylist_rec_decode(e, sizeof(e) - 1, &back), -1);
	e[0] = 9;
	assert_int_equal(greylist_rec_decode(e, sizeof(e), &back), -1);
	r.passed = 2500;		/* after the last attempt */
	greylist_rec_encode(&r, e);
	assert_int_equal(greylist_rec_decode(e, sizeof(e), &back), -1);
	r.passed = 0;
	r.first = 3000;			/* after the last attempt */
	greylist_rec_encode(&r, e);
	assert_int_equal(greylist_rec_decode(e, sizeof(e), &back), -1);
	assert_int_equal(back.first, 0);
}

static void
test_decide_over_time(void **state)
{
	struct greylist_rec	 r;

	(void)state;
	memset(&r, 0xa5, sizeof(r));
	assert_int_equal(greylist_decide(&r, false, 1000, &T), GREYLIST_NEW);
	assert_int_equal(r.first, 1000);
	assert_int_equal(r.passed, 0);
	assert_int_equal(greylist_decide(&r, true, 1299, &T),
	    GREYLIST_EARLY);
	assert_int_equal(greylist_decide(&r, true, 1300, &T), GREYLIST_PASS);
	assert_int_equal(r.passed, 1300);
	assert_int_equal(r.count, 3);
	/* remembered while used within expire */
	assert_int_equal(greylist_decide(&r, true, 1300 + 30 * 86400, &T),
	    GREYLIST_PASS);
	assert_false(greylist_expired(&r, 1300 + 60 * 86400, &T));
	assert_true(greylist_expired(&r, 1301 + 65 * 86400, &T));
	assert_int_equal(greylist_decide(&r, true, 1301 + 65 * 86400, &T),
	    GREYLIST_NEW);
}

static void
test_retry_too_late_starts_over(void **state)
{
	struct greylist_rec	 r;

	(void)state;
	assert_int_equal(greylist_decide(&r, false, 1000, &T), GREYLIST_NEW);
	assert_true(greylist_expired(&r, 1001 + 86400, &T));
	assert_int_equal(greylist_decide(&r, true, 1001 + 86400, &T),
	    GREYLIST_NEW);
	assert_int_equal(r.first, 1001 + 86400);
}

static void
test_clock_going_back(void **state)
{
	struct greylist_rec	 r;

	(void)state;
	assert_int_equal(greylist_decide(&r, false, 5000, &T), GREYLIST_NEW);
	assert_int_equal(greylist_decide(&r, true, 10, &T), GREYLIST_EARLY);
	assert_int_equal(r.last, 5000);
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test(test_key),
		cmocka_unit_test(test_record_codec),
		cmocka_unit_test(test_decide_over_time),
		cmocka_unit_test(test_retry_too_late_starts_over),
		cmocka_unit_test(test_clock_going_back),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
