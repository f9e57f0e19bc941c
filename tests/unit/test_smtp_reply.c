/*
 * test_smtp_reply.c - the SMTP client's reply parser: single and
 * multi-line replies, bad lines, the text cap, enhanced status codes and
 * EHLO keywords.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mail/smtp_reply.h"

/* feed - lines separated by '\n'; returns the result of the last one. */
static enum smtp_reply_rc
feed(struct smtp_reply *r, const char *lines, bool ehlo)
{
	enum smtp_reply_rc	rc = SMTP_REPLY_BAD;

	while (*lines != '\0') {
		size_t	n = strcspn(lines, "\n");

		rc = smtp_reply_line(r, lines, n, ehlo);
		if (rc == SMTP_REPLY_BAD)
			return rc;
		lines += n + (lines[n] == '\n');
	}
	return rc;
}

static void
test_lines(void **state)
{
	static const struct {
		const char		*in;
		enum smtp_reply_rc	 rc;
		int			 code;
		const char		*text;
	} t[] = {
		{ "250 Ok", SMTP_REPLY_DONE, 250, "250 Ok" },
		{ "250", SMTP_REPLY_DONE, 250, "250" },
		{ "250-a\n250-b\n250 c", SMTP_REPLY_DONE, 250, "250 a b c" },
		{ "250-a\n250-b", SMTP_REPLY_MORE, 250, "250 a b" },
		{ "250-a\n550 b", SMTP_REPLY_BAD, 0, NULL },
		{ "25 Ok", SMTP_REPLY_BAD, 0, NULL },
		{ "2500 Ok", SMTP_REPLY_BAD, 0, NULL },
		{ "abc Ok", SMTP_REPLY_BAD, 0, NULL },
		{ "150 Ok", SMTP_REPLY_BAD, 0, NULL },
		{ "650 Ok", SMTP_REPLY_BAD, 0, NULL },
		{ "", SMTP_REPLY_BAD, 0, NULL },
		{ "354 go ahead", SMTP_REPLY_DONE, 354, "354 go ahead" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct smtp_reply	r = { 0 };

		assert_int_equal(feed(&r, t[i].in, false), t[i].rc);
		if (t[i].text != NULL) {
			assert_int_equal(r.code, t[i].code);
			assert_string_equal(r.text, t[i].text);
		}
	}
}

static void
test_text_is_capped(void **state)
{
	struct smtp_reply	r = { 0 };
	char			line[1000];

	(void)state;
	memset(line, 'x', sizeof(line));
	memcpy(line, "550-", 4);
	for (int i = 0; i < 300; i++)
		assert_int_equal(smtp_reply_line(&r, line, sizeof(line), true),
		    SMTP_REPLY_MORE);
	assert_int_equal(smtp_reply_line(&r, "550 end", 7, true),
	    SMTP_REPLY_DONE);
	assert_int_equal(r.tlen, SMTP_REPLY_TEXT_MAX - 1);
	assert_int_equal(strlen(r.text), SMTP_REPLY_TEXT_MAX - 1);
	/* the next reply starts afresh */
	assert_int_equal(feed(&r, "250 fine", false), SMTP_REPLY_DONE);
	assert_string_equal(r.text, "250 fine");
}

static void
test_dsn(void **state)
{
	static const struct {
		const char	*in, *dsn;
	} t[] = {
		{ "550 5.1.1 no such user", "5.1.1" },
		{ "450 4.2.1 busy", "4.2.1" },
		{ "250 2.0.0", "2.0.0" },
		{ "550 5.1.10 null MX", "5.1.10" },
		{ "550 4.1.1 wrong class", "5.0.0" },
		{ "550 no code", "5.0.0" },
		{ "550 5.1 short", "5.0.0" },
		{ "550 5..1 empty", "5.0.0" },
		{ "550 5.1234.1 long", "5.0.0" },
		{ "550 5.1.1x", "5.0.0" },
		{ "421", "4.0.0" },
		{ "550-5.7.1 first\n550 5.7.1 second", "5.7.1" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct smtp_reply	r = { 0 };
		char			dsn[8];

		assert_int_equal(feed(&r, t[i].in, false), SMTP_REPLY_DONE);
		smtp_reply_dsn(&r, dsn);
		assert_string_equal(dsn, t[i].dsn);
	}
}

static void
test_ehlo(void **state)
{
	struct smtp_reply	r = { 0 };

	(void)state;
	assert_int_equal(feed(&r, "250-mx.example.org hello STARTTLS\n"
	    "250-PIPELINING\n250-size 1000\n250-8BITMIME\n250-SMTPUTF8\n"
	    "250-DSN\n250-AUTH CRAM-MD5 LOGIN\n250-AUTH=PLAIN\n"
	    "250 ENHANCEDSTATUSCODES", true), SMTP_REPLY_DONE);
	assert_int_equal(r.caps, SMTP_CAP_PIPELINING | SMTP_CAP_SIZE |
	    SMTP_CAP_8BITMIME | SMTP_CAP_SMTPUTF8 | SMTP_CAP_DSN |
	    SMTP_CAP_AUTH_LOGIN | SMTP_CAP_AUTH_PLAIN | SMTP_CAP_ENHANCED);
	assert_int_equal(r.maxsize, 1000);
	/* the greeting line names no keyword; a new EHLO resets */
	assert_int_equal(feed(&r, "250-STARTTLS\n250 SIZE", true),
	    SMTP_REPLY_DONE);
	assert_int_equal(r.caps, SMTP_CAP_SIZE);
	assert_int_equal(r.maxsize, 0);
	assert_int_equal(feed(&r, "250-x\n250 SIZE 99999999999999999999999",
	    true), SMTP_REPLY_DONE);
	assert_int_equal(r.maxsize, 0);		/* overflow: no limit */
	/* without ehlo, keywords are text */
	assert_int_equal(feed(&r, "250-x\n250 STARTTLS", false),
	    SMTP_REPLY_DONE);
	assert_int_equal(r.caps, 0);
	/* RFC 8689: REQUIRETLS, any case; a longer word is not it */
	assert_int_equal(feed(&r, "250-x\n250-requiretls\n250 REQUIRETLSX",
	    true), SMTP_REPLY_DONE);
	assert_int_equal(r.caps, SMTP_CAP_REQUIRETLS);
}

/* An LMTP server's LHLO reply (RFC 2033 4.1) reads as EHLO's does. */
static void
test_lhlo(void **state)
{
	struct smtp_reply	r = { 0 };

	(void)state;
	assert_int_equal(feed(&r, "250-mail.example.org\n250-8BITMIME\n"
	    "250-CHUNKING\n250-ENHANCEDSTATUSCODES\n250-PIPELINING\n"
	    "250-DSN\n250 VRFY", true), SMTP_REPLY_DONE);
	assert_int_equal(r.caps, SMTP_CAP_8BITMIME | SMTP_CAP_ENHANCED |
	    SMTP_CAP_PIPELINING | SMTP_CAP_DSN);
	assert_string_equal(r.text, "250 mail.example.org 8BITMIME CHUNKING "
	    "ENHANCEDSTATUSCODES PIPELINING DSN VRFY");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines),
		cmocka_unit_test(test_text_is_capped),
		cmocka_unit_test(test_dsn),
		cmocka_unit_test(test_ehlo),
		cmocka_unit_test(test_lhlo),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
