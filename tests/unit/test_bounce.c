/*
 * test_bounce.c - cmocka tests for src/bounce.c: the RFC 3464 report's
 * headers and parts, RET handling, the delay and success variants, and
 * escaping of peer strings (no CR, LF or 8-bit byte of a peer's reaches a
 * header or a field line).
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

#include "mail/bounce.h"
#include "lib/buf.h"
#include "lib/util.h"

#define T0	((uint64_t)1700000000 * 1000000)	/* 2023-11-14 22:13:20 */

static const char orig[] =
    "From: alice@example.test\r\n"
    "To: bob@remote.test\r\n"
    "Subject: hello\r\n"
    "\r\n"
    "body line one\r\n"
    "SECRET-BODY\r\n";

static void
base_msg(struct bounce_msg *m, struct bounce_rcpt *r, size_t n)
{
	memset(m, 0, sizeof(*m));
	m->hostname = "mx.example.test";
	m->sender = "alice@example.test";
	m->bounce_id = "00000000000000AB";
	m->arrival = T0;
	m->now = T0 + 60 * 1000000ULL;
	m->retry_until = T0 + 5ULL * 86400 * 1000000;
	m->orig = orig;
	m->orig_len = sizeof(orig) - 1;
	m->rcpts = r;
	m->nrcpt = n;
}

static char *
build(const struct bounce_msg *m)
{
	struct buf	b;

	buf_init(&b, 0);
	assert_int_equal(bounce_build(m, &b), 0);
	return buf_steal(&b, NULL);
}

/* has - s contains needle. */
static void
has(const char *s, const char *needle)
{
	if (strstr(s, needle) == NULL)
		fail_msg("missing \"%s\" in:\n%s", needle, s);
}

static void
lacks(const char *s, const char *needle)
{
	if (strstr(s, needle) != NULL)
		fail_msg("unexpected \"%s\" in:\n%s", needle, s);
}

/* crlf_only - every LF follows a CR and every CR precedes an LF. */
static void
crlf_only(const char *s)
{
	for (size_t i = 0; s[i] != '\0'; i++) {
		if (s[i] == '\n')
			assert_true(i > 0 && s[i - 1] == '\r');
		if (s[i] == '\r')
			assert_int_equal(s[i + 1], '\n');
	}
}

static void
test_failed_full(void **state)
{
	struct bounce_rcpt	 r[] = { {
		.addr = "bob@remote.test", .action = BOUNCE_FAILED,
		.status = "5.1.1 550 5.1.1 <bob@remote.test>: no such user",
		.remote_mta = "mx.remote.test", .last_attempt = T0 + 1,
	} };
	struct bounce_msg	 m;
	char			*s;

	(void)state;
	base_msg(&m, r, 1);
	s = build(&m);
	crlf_only(s);
	has(s, "From: Mail Delivery System <MAILER-DAEMON@mx.example.test>\r\n");
	has(s, "To: <alice@example.test>\r\n");
	has(s, "Subject: Undelivered Mail Returned to Sender\r\n");
	has(s, "Date: Tue, 14 Nov 2023 22:14:20 +0000\r\n");
	has(s, "Message-ID: <00000000000000AB@mx.example.test>\r\n");
	has(s, "Auto-Submitted: auto-replied\r\n");
	has(s, "Content-Type: multipart/report; "
	    "report-type=delivery-status;");
	has(s, "Content-Type: message/delivery-status\r\n");
	has(s, "Reporting-MTA: dns; mx.example.test\r\n");
	has(s, "Arrival-Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n");
	has(s, "\r\n\r\nFinal-Recipient: rfc822; bob@remote.test\r\n"
	    "Action: failed\r\nStatus: 5.1.1\r\n"
	    "Remote-MTA: dns; mx.remote.test\r\n"
	    "Diagnostic-Code: smtp; 550 5.1.1 <bob@remote.test>: no such "
	    "user\r\nLast-Attempt-Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n");
	lacks(s, "Will-Retry-Until");
	lacks(s, "Original-Envelope-Id");
	lacks(s, "Original-Recipient");
	has(s, "Content-Type: message/rfc822\r\n");
	has(s, "SECRET-BODY\r\n");
	has(s, "--=_postbote_00000000000000AB_0--\r\n");
	free(s);
}

static void
test_ret_hdrs(void **state)
{
	struct bounce_rcpt	 r[] = { {
		.addr = "bob@remote.test", .action = BOUNCE_FAILED,
		.status = "5.2.0 mailbox unavailable",
	} };
	struct bounce_msg	 m;
	char			*s;

	(void)state;
	base_msg(&m, r, 1);
	m.ret = BOUNCE_RET_HDRS;
	s = build(&m);
	has(s, "Content-Type: text/rfc822-headers\r\n");
	has(s, "Subject: hello\r\n");
	lacks(s, "SECRET-BODY");
	lacks(s, "message/rfc822");
	/* A local reason is not an SMTP reply. */
	has(s, "Diagnostic-Code: X-Postbote; mailbox unavailable\r\n");
	free(s);
}

static void
test_default_ret_caps_size(void **state)
{
	struct bounce_rcpt	 r[] = { { .addr = "b@x.test",
		.action = BOUNCE_FAILED, .status = "5.0.0 no" } };
	struct bounce_msg	 m;
	size_t			 len = BOUNCE_FULL_MAX + 100;
	char			*big = xmalloc(len + 1), *s;

	(void)state;
	memcpy(big, "Subject: big\r\n\r\n", 16);
	memset(big + 16, 'x', len - 16);
	big[len] = '\0';
	base_msg(&m, r, 1);
	m.orig = big;
	m.orig_len = len;
	s = build(&m);
	has(s, "Content-Type: text/rfc822-headers\r\n");
	has(s, "Subject: big\r\n");
	lacks(s, "xxxxxxxx");
	free(s);
	m.orig_len = BOUNCE_FULL_MAX;	/* at the cap: returned whole */
	s = build(&m);
	has(s, "Content-Type: message/rfc822\r\n");
	has(s, "xxxxxxxx");
	free(s);
	free(big);
}

static void
test_delayed(void **state)
{
	struct bounce_rcpt	 r[] = { {
		.addr = "bob@remote.test", .orcpt = "rfc822;Bob@Remote.test",
		.action = BOUNCE_DELAYED,
		.status = "4.4.1 connection refused",
	} };
	struct bounce_msg	 m;
	char			*s;

	(void)state;
	base_msg(&m, r, 1);
	m.envid = "env-42";
	m.ret = BOUNCE_RET_FULL;
	s = build(&m);
	crlf_only(s);
	has(s, "Subject: Delayed Mail (still being retried)\r\n");
	has(s, "Original-Envelope-Id: env-42\r\n");
	has(s, "Original-Recipient: rfc822;Bob@Remote.test\r\n"
	    "Final-Recipient: rfc822; bob@remote.test\r\n"
	    "Action: delayed\r\nStatus: 4.4.1\r\n");
	has(s, "Will-Retry-Until: Sun, 19 Nov 2023 22:13:20 +0000\r\n");
	/* Only failures return the content (RFC 3461 4.3). */
	has(s, "Content-Type: text/rfc822-headers\r\n");
	lacks(s, "SECRET-BODY");
	free(s);
}

static void
test_success_mixed(void **state)
{
	struct bounce_rcpt	 r[] = {
		{ .addr = "bob@example.test", .action = BOUNCE_DELIVERED,
		  .status = "2.0.0 delivered to maildir" },
		{ .addr = "carol@remote.test", .action = BOUNCE_RELAYED,
		  .status = "2.0.0 250 ok" },
	};
	struct bounce_msg	 m;
	char			*s;

	(void)state;
	base_msg(&m, r, 2);
	s = build(&m);
	has(s, "Subject: Successful Mail Delivery Report\r\n");
	has(s, "Action: delivered\r\nStatus: 2.0.0\r\n");
	has(s, "Action: relayed\r\nStatus: 2.0.0\r\n"
	    "Diagnostic-Code: smtp; 250 ok\r\n");
	lacks(s, "SECRET-BODY");
	free(s);
	/* One failure among them makes it a bounce. */
	r[1].action = BOUNCE_FAILED;
	s = build(&m);
	has(s, "Subject: Undelivered Mail Returned to Sender\r\n");
	free(s);
}

/* Peer strings cannot add headers or fields: CR, LF, 8-bit and '\' are
 * written as \xHH; a bad or missing status code falls back. */
static void
test_peer_strings_escaped(void **state)
{
	struct bounce_rcpt	 r[] = { {
		.addr = "b\xc3\xb6@x.test",
		.orcpt = "rfc822;x\r\nAction: delivered",
		.action = BOUNCE_FAILED,
		.status = "550 no\r\nX-Evil: 1\n\\\x01",
		.remote_mta = "mx\r\n.test",
	} };
	struct bounce_msg	 m;
	char			*s, *orig_part;

	(void)state;
	base_msg(&m, r, 1);
	m.envid = "id\nX-Evil: 2";
	m.orig = NULL;
	m.orig_len = 0;
	s = build(&m);
	crlf_only(s);
	orig_part = s;
	for (const unsigned char *p = (unsigned char *)orig_part; *p; p++)
		assert_true(*p < 0x80);
	lacks(s, "\r\nX-Evil");
	lacks(s, "\r\nAction: delivered");
	has(s, "Final-Recipient: rfc822; b\\xC3\\xB6@x.test\r\n");
	has(s, "Original-Recipient: rfc822;x\\x0D\\x0AAction: delivered\r\n");
	has(s, "Status: 5.0.0\r\n");
	has(s, "Diagnostic-Code: smtp; 550 no\\x0D\\x0AX-Evil: 1\\x0A"
	    "\\x5C\\x01\r\n");
	has(s, "Remote-MTA: dns; mx\\x0D\\x0A.test\r\n");
	has(s, "Original-Envelope-Id: id\\x0AX-Evil: 2\r\n");
	lacks(s, "text/rfc822-headers");
	free(s);
}

static void
test_status_codes(void **state)
{
	static const struct { const char *st, *want; } t[] = {
		{ "4.4.7 queue lifetime exceeded", "Status: 4.4.7\r\n" },
		{ "5.1.10 null MX", "Status: 5.1.10\r\n" },
		{ "5.123.999", "Status: 5.123.999\r\n" },
		{ "5.1234.1 x", "Status: 5.0.0\r\n" },
		{ "3.1.1 x", "Status: 5.0.0\r\n" },
		{ "5.1.1x", "Status: 5.0.0\r\n" },
		{ "", "Status: 5.0.0\r\n" },
	};
	struct bounce_rcpt	 r[1] = { { .addr = "a@b.test",
		.action = BOUNCE_FAILED } };
	struct bounce_msg	 m;

	(void)state;
	for (size_t i = 0; i < NELEM(t); i++) {
		char	*s;

		r[0].status = t[i].st;
		base_msg(&m, r, 1);
		s = build(&m);
		has(s, t[i].want);
		free(s);
	}
	r[0].status = NULL;
	base_msg(&m, r, 1);
	{
		char	*s = build(&m);

		has(s, "Status: 5.0.0\r\n");
		lacks(s, "Diagnostic-Code");
		free(s);
	}
}

/* The boundary never occurs in the returned message. */
static void
test_boundary_unique(void **state)
{
	static const char clash[] = "Subject: x\r\n\r\n"
	    "--=_postbote_00000000000000AB_0\r\n";
	struct bounce_rcpt	 r[] = { { .addr = "b@x.test",
		.action = BOUNCE_FAILED, .status = "5.0.0 no" } };
	struct bounce_msg	 m;
	char			*s;

	(void)state;
	base_msg(&m, r, 1);
	m.orig = clash;
	m.orig_len = sizeof(clash) - 1;
	s = build(&m);
	has(s, "boundary=\"=_postbote_00000000000000AB_1\"");
	has(s, "--=_postbote_00000000000000AB_1--\r\n");
	free(s);
}

/* A message with 8-bit bytes is declared 8bit; no body: still ends. */
static void
test_8bit_and_headers_only(void **state)
{
	static const char h8[] = "Subject: gr\xc3\xbc\xc3\x9f\r\n";
	struct bounce_rcpt	 r[] = { { .addr = "b@x.test",
		.action = BOUNCE_FAILED, .status = "5.0.0 no" } };
	struct bounce_msg	 m;
	char			*s;

	(void)state;
	base_msg(&m, r, 1);
	m.orig = h8;
	m.orig_len = sizeof(h8) - 1;
	m.ret = BOUNCE_RET_HDRS;
	s = build(&m);
	has(s, "Content-Type: text/rfc822-headers\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n");
	has(s, h8);
	free(s);
}

int
main(void)
{
	const struct CMUnitTest	 tests[] = {
		cmocka_unit_test(test_failed_full),
		cmocka_unit_test(test_ret_hdrs),
		cmocka_unit_test(test_default_ret_caps_size),
		cmocka_unit_test(test_delayed),
		cmocka_unit_test(test_success_mixed),
		cmocka_unit_test(test_peer_strings_escaped),
		cmocka_unit_test(test_status_codes),
		cmocka_unit_test(test_boundary_unique),
		cmocka_unit_test(test_8bit_and_headers_only),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
