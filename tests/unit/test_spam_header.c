/*
 * test_spam_header.c - a filter's verdict in the header (mail/
 * spam_header.c): name and value in any case, the first word only, CRLF
 * and LF, folded lines, the body never counts, and no read past len.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mail/spam_header.h"

static bool
m(const char *msg)
{
	return spam_header_match(msg, strlen(msg), "X-Spam", "yes");
}

static void
test_matches(void **state)
{
	(void)state;
	assert_true(m("X-Spam: yes\r\n\r\nbody"));
	assert_true(m("Subject: a\r\nx-spam:YES\r\n\r\n"));
	assert_true(m("From: a\nX-Spam: Yes; score=9\n\n"));
	assert_true(m("X-Spam : yes, really\r\n"));
	assert_true(m("X-Spam:\tyes"));
	assert_true(spam_header_match("X-Spam-Flag: YES\r\n", 18,
	    "X-Spam-Flag", "yes"));
}

static void
test_no_match(void **state)
{
	(void)state;
	assert_false(m("X-Spam: no\r\n\r\n"));
	assert_false(m("X-Spam: yesterday\r\n\r\n"));
	assert_false(m("X-Spam-Flag: yes\r\n\r\n"));
	assert_false(m("X-Spammy: yes\r\n"));
	assert_false(m("Subject: a\r\n X-Spam: yes\r\n\r\n"));	/* folded */
	assert_false(m("Subject: a\r\n\r\nX-Spam: yes\r\n"));	/* body */
	assert_false(m("Subject: a\n\nX-Spam: yes\n"));
	assert_false(m("X-Spam:\r\n"));
	assert_false(spam_header_match("X-Spam: yes", 11, "X-Spam", ""));
	assert_false(spam_header_match("X-Spam: yes", 11, "", "yes"));
}

static void
test_bounded(void **state)
{
	static const char	 text[] = "X-Spam: yes\r\n";
	char			*p;

	(void)state;
	for (size_t n = 0; n < sizeof(text) - 1; n++) {
		p = malloc(n ? n : 1);
		memcpy(p, text, n);
		/* "X-Spam: yes" needs all 11 bytes */
		assert_int_equal(spam_header_match(p, n, "X-Spam", "yes"),
		    n >= 11);
		free(p);
	}
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test(test_matches),
		cmocka_unit_test(test_no_match),
		cmocka_unit_test(test_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
