/*
 * test_sasl.c - table tests for sasl.c: PLAIN (RFC 4616) and LOGIN
 * decoding, the "=" empty initial response, the "*" cancel and the length
 * bounds.  Its base64 is lib/base64.c's (test_base64.c).
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

#include "lib/base64.h"
#include "lib/buf.h"
#include "mail/sasl.h"

/* enc64 - the base64 of msg[0..n), NUL-terminated, into enc. */
static void
enc64(const void *msg, size_t n, char *enc, size_t size)
{
	struct buf	b;

	buf_init(&b, 0);
	assert_int_equal(base64_encode(msg, n, &b), 0);
	assert_true(b.len < size);
	memcpy(enc, b.data, b.len + 1);
	buf_free(&b);
}

struct plain_case {
	const char		*text;
	bool			 initial;
	enum sasl_result	 want;
	const char		*user, *pass;
};

static const struct plain_case plain_cases[] = {
	/* "\0alice@example.test\0secret" */
	{ "AGFsaWNlQGV4YW1wbGUudGVzdABzZWNyZXQ=", true, SASL_OK,
	    "alice@example.test", "secret" },
	/* "alice@example.test\0alice@example.test\0pw" */
	{ "YWxpY2VAZXhhbXBsZS50ZXN0AGFsaWNlQGV4YW1wbGUudGVzdABwdw==", true,
	    SASL_OK, "alice@example.test", "pw" },
	/* "ALICE@example.test\0alice@example.test\0pw": case-insensitive */
	{ "QUxJQ0VAZXhhbXBsZS50ZXN0AGFsaWNlQGV4YW1wbGUudGVzdABwdw==", true,
	    SASL_OK, "alice@example.test", "pw" },
	/* "\0u\0" empty password is a credential check, not syntax */
	{ "AHUA", false, SASL_OK, "u", "" },
	/* "bob\0alice\0pw": acting as someone else */
	{ "Ym9iAGFsaWNlAHB3", true, SASL_BAD_AUTHZ, NULL, NULL },
	/* "\0\0pw": no authcid */
	{ "AABwdw==", true, SASL_BAD_MSG, NULL, NULL },
	/* "alice\0pw": one NUL */
	{ "YWxpY2UAcHc=", true, SASL_BAD_MSG, NULL, NULL },
	/* "\0alice\0pw\0x": NUL in the password */
	{ "AGFsaWNlAHB3AHg=", true, SASL_BAD_MSG, NULL, NULL },
	/* "\0al ice\0pw": space in the name */
	{ "AGFsIGljZQBwdw==", true, SASL_BAD_MSG, NULL, NULL },
	/* "\0al\nice\0pw": control byte in the name */
	{ "AGFsCmljZQBwdw==", true, SASL_BAD_MSG, NULL, NULL },
	{ "=", true, SASL_BAD_MSG, NULL, NULL },	/* empty response */
	{ "=", false, SASL_BAD_B64, NULL, NULL },	/* "=" only initially */
	{ "", false, SASL_BAD_MSG, NULL, NULL },
	{ "*", true, SASL_CANCEL, NULL, NULL },
	{ "*", false, SASL_CANCEL, NULL, NULL },
	{ "not base64!", true, SASL_BAD_B64, NULL, NULL },
};

static void
test_plain(void **state)
{
	struct sasl_cred	c;

	(void)state;
	for (size_t i = 0; i < sizeof(plain_cases) / sizeof(plain_cases[0]);
	    i++) {
		const struct plain_case *pc = &plain_cases[i];

		assert_int_equal(sasl_plain(pc->text, pc->initial, &c),
		    pc->want);
		if (pc->want == SASL_OK) {
			assert_string_equal(c.user, pc->user);
			assert_string_equal(c.pass, pc->pass);
		} else {
			assert_string_equal(c.user, "");
			assert_string_equal(c.pass, "");
		}
	}
}

static void
test_plain_lengths(void **state)
{
	unsigned char		 msg[SASL_DECODED_MAX + 8];
	char			 enc[SASL_B64_MAX + 64];
	struct sasl_cred	 c;
	size_t			 n;

	(void)state;
	/* the longest user name and password */
	msg[0] = '\0';
	memset(msg + 1, 'u', SASL_USER_MAX);
	msg[1 + SASL_USER_MAX] = '\0';
	memset(msg + 2 + SASL_USER_MAX, 'p', SASL_PASS_MAX);
	n = 2 + SASL_USER_MAX + SASL_PASS_MAX;
	enc64(msg, n, enc, sizeof(enc));
	assert_int_equal(sasl_plain(enc, true, &c), SASL_OK);
	assert_int_equal(strlen(c.user), SASL_USER_MAX);
	assert_int_equal(strlen(c.pass), SASL_PASS_MAX);
	/* one more byte of password */
	msg[n++] = 'p';
	enc64(msg, n, enc, sizeof(enc));
	assert_int_equal(sasl_plain(enc, true, &c), SASL_TOO_LONG);
	/* one more byte of user name */
	memset(msg + 1, 'u', SASL_USER_MAX + 1);
	msg[2 + SASL_USER_MAX] = '\0';
	msg[3 + SASL_USER_MAX] = 'p';
	enc64(msg, 4 + SASL_USER_MAX, enc, sizeof(enc));
	assert_int_equal(sasl_plain(enc, true, &c), SASL_BAD_MSG);
	/* over the decoded maximum */
	memset(msg, 'x', sizeof(msg));
	enc64(msg, SASL_DECODED_MAX + 3, enc, sizeof(enc));
	assert_int_equal(sasl_plain(enc, true, &c), SASL_TOO_LONG);
}

static void
test_login(void **state)
{
	char	out[SASL_PASS_MAX + 1];

	(void)state;
	assert_int_equal(sasl_login_field("YWxpY2VAZXhhbXBsZS50ZXN0", false,
	    true, out, sizeof(out)), SASL_OK);
	assert_string_equal(out, "alice@example.test");
	assert_int_equal(sasl_login_field("cyBlIGMgcg==", false, false, out,
	    sizeof(out)), SASL_OK);
	assert_string_equal(out, "s e c r");	/* spaces fine in passwords */
	assert_int_equal(sasl_login_field("", false, false, out,
	    sizeof(out)), SASL_OK);
	assert_string_equal(out, "");
	assert_int_equal(sasl_login_field("", false, true, out, sizeof(out)),
	    SASL_BAD_MSG);
	assert_int_equal(sasl_login_field("=", true, true, out, sizeof(out)),
	    SASL_BAD_MSG);
	assert_int_equal(sasl_login_field("*", false, false, out,
	    sizeof(out)), SASL_CANCEL);
	assert_int_equal(sasl_login_field("YQBi", false, false, out,
	    sizeof(out)), SASL_BAD_MSG);	/* "a\0b" */
	assert_int_equal(sasl_login_field("YWJj", false, true, out, 3),
	    SASL_TOO_LONG);
	assert_int_equal(sasl_login_field("%%%%", false, true, out,
	    sizeof(out)), SASL_BAD_B64);
}

static void
test_mech(void **state)
{
	(void)state;
	assert_int_equal(sasl_mech_parse("PLAIN"), SASL_MECH_PLAIN);
	assert_int_equal(sasl_mech_parse("plain"), SASL_MECH_PLAIN);
	assert_int_equal(sasl_mech_parse("Login"), SASL_MECH_LOGIN);
	assert_int_equal(sasl_mech_parse("CRAM-MD5"), SASL_MECH_NONE);
	assert_int_equal(sasl_mech_parse(""), SASL_MECH_NONE);
	assert_int_equal(sasl_mech_parse("PLAINX"), SASL_MECH_NONE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_plain_lengths),
		cmocka_unit_test(test_login),
		cmocka_unit_test(test_mech),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
