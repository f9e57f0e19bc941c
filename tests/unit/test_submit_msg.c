/*
 * test_submit_msg.c - cmocka tests for src/submit_msg.c: CRLF
 * conversion and the sendmail end-of-input rule, refusals (bare CR, NUL),
 * the header block, address lists (names, comments, quotes, groups) and
 * Bcc removal with folded lines.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/buf.h"
#include "mail/submit_msg.h"
#include "lib/util.h"

struct list {
	char	 s[1024];	/* addresses joined with '|' */
};

static void
add(const char *a, void *arg)
{
	struct list	*l = arg;
	size_t		 n = strlen(l->s);

	snprintf(l->s + n, sizeof(l->s) - n, "%s%s", n ? "|" : "", a);
}

static void
test_crlf(void **state)
{
	static const struct {
		const char	*in;
		bool		 ignore_dots;
		const char	*out;
	} t[] = {
		{ "a\nb\n", false, "a\r\nb\r\n" },
		{ "a\r\nb", false, "a\r\nb\r\n" },
		{ "", false, "" },
		{ "a\n.\nb\n", false, "a\r\n" },
		{ "a\r\n.\r\nb\r\n", false, "a\r\n" },
		{ "a\n.", false, "a\r\n" },
		{ "a\n.\nb\n", true, "a\r\n.\r\nb\r\n" },
		{ "a\n..\nb\n", false, "a\r\n..\r\nb\r\n" },
		{ "a\n. \nb", false, "a\r\n. \r\nb\r\n" },
		{ ".\n", false, "" },
	};

	(void)state;
	for (size_t i = 0; i < NELEM(t); i++) {
		struct buf	b;

		buf_init(&b, 0);
		assert_int_equal(submit_msg_crlf(t[i].in, strlen(t[i].in),
		    t[i].ignore_dots, &b), SUBMIT_MSG_OK);
		assert_string_equal(buf_cstr(&b), t[i].out);
		buf_free(&b);
	}
}

static void
test_crlf_refused(void **state)
{
	struct buf	b;

	(void)state;
	buf_init(&b, 0);
	assert_int_equal(submit_msg_crlf("a\rb\n", 4, true, &b),
	    SUBMIT_MSG_BARE_CR);
	buf_reset(&b);
	assert_int_equal(submit_msg_crlf("a\r", 2, true, &b),
	    SUBMIT_MSG_BARE_CR);
	buf_reset(&b);
	assert_int_equal(submit_msg_crlf("a\0b\n", 4, true, &b),
	    SUBMIT_MSG_NUL);
	buf_free(&b);
}

static void
test_header_end(void **state)
{
	static const struct {
		const char	*in;
		size_t		 end;
		bool		 blank;
	} t[] = {
		{ "A: 1\r\nB: 2\r\n\r\nbody\r\n", 12, true },
		{ "A: 1\r\n  folded\r\n\r\n", 16, true },
		{ "A: 1\r\nnot a header\r\n", 6, false },
		{ "body only\r\n", 0, false },
		{ " A: 1\r\n", 0, false },
		{ "\r\nbody\r\n", 0, true },
		{ "A: 1\r\n", 6, false },
		{ ": x\r\n", 0, false },
	};

	(void)state;
	for (size_t i = 0; i < NELEM(t); i++) {
		bool	blank;

		assert_int_equal(submit_msg_header_end(t[i].in,
		    strlen(t[i].in), &blank), t[i].end);
		assert_int_equal(blank, t[i].blank);
	}
	assert_true(submit_msg_has_field("From: a\r\nDATE: x\r\n", 17,
	    "Date"));
	assert_false(submit_msg_has_field("From: a\r\nDated: x\r\n", 18,
	    "Date"));
}

static void
test_addrs(void **state)
{
	static const struct {
		const char	*in, *out;
	} t[] = {
		{ "a@b.test", "a@b.test" },
		{ " a@b.test , c@d.test ", "a@b.test|c@d.test" },
		{ "Bob <bob@x.test>", "bob@x.test" },
		{ "\"Carol, C.\" <carol@x.test>, d@x.test",
		    "carol@x.test|d@x.test" },
		{ "e@x.test (Eve, (nested) comment)", "e@x.test" },
		{ "team: a@x.test, b@x.test;, c@x.test",
		    "a@x.test|b@x.test|c@x.test" },
		{ "undisclosed-recipients: ;", "" },
		{ "\"odd local\"@x.test", "\"odd local\"@x.test" },
		{ "root", "root" },
		{ "a@x.test,\r\n\tb@x.test", "a@x.test|b@x.test" },
		{ "<a@x.test", "a@x.test" },
		{ "\"unterminated", "\"unterminated" },
		{ "(unterminated", "" },
		{ "", "" },
	};

	(void)state;
	for (size_t i = 0; i < NELEM(t); i++) {
		struct list	l = { "" };

		submit_msg_addrs(t[i].in, strlen(t[i].in), add, &l);
		assert_string_equal(l.s, t[i].out);
	}
}

static void
test_headers_bcc(void **state)
{
	static const char in[] =
	    "To: a@x.test\r\n"
	    "bcc: hidden@x.test,\r\n"
	    "  second@x.test\r\n"
	    "Cc: Cee <c@x.test>\r\n"
	    "Subject: s\r\n"
	    "Bcc: more@x.test\r\n"
	    "\r\n"
	    "Bcc: in the body stays\r\n";
	struct buf	 b;
	struct list	 l = { "" };

	(void)state;
	buf_init(&b, 0);
	buf_append(&b, in, sizeof(in) - 1);
	submit_msg_headers(&b, true, add, &l);
	assert_string_equal(l.s,
	    "a@x.test|hidden@x.test|second@x.test|c@x.test|more@x.test");
	assert_string_equal(buf_cstr(&b),
	    "To: a@x.test\r\nCc: Cee <c@x.test>\r\nSubject: s\r\n\r\n"
	    "Bcc: in the body stays\r\n");
	/* Without -t: Bcc still goes, nothing is collected. */
	buf_reset(&b);
	buf_append(&b, in, sizeof(in) - 1);
	l.s[0] = '\0';
	submit_msg_headers(&b, false, add, &l);
	assert_string_equal(l.s, "");
	assert_null(strstr(buf_cstr(&b), "hidden"));
	buf_free(&b);
	/* An empty message. */
	buf_init(&b, 0);
	submit_msg_headers(&b, true, add, &l);
	assert_int_equal(b.len, 0);
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest	 tests[] = {
		cmocka_unit_test(test_crlf),
		cmocka_unit_test(test_crlf_refused),
		cmocka_unit_test(test_header_end),
		cmocka_unit_test(test_addrs),
		cmocka_unit_test(test_headers_bcc),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
