/*
 * test_sasl.c - table tests for sasl.c: strict base64 decoding and its
 * round trip with the encoder, PLAIN (RFC 4616) and LOGIN decoding, the
 * "=" empty initial response, the "*" cancel and the length bounds.
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

#include "mail/sasl.h"

struct b64_case {
	const char		*in;
	enum sasl_result	 want;
	const char		*out;	/* decoded, when SASL_OK */
};

static const struct b64_case b64_cases[] = {
	{ "", SASL_OK, "" },
	{ "YQ==", SASL_OK, "a" },
	{ "YWI=", SASL_OK, "ab" },
	{ "YWJj", SASL_OK, "abc" },
	{ "YWJjZA==", SASL_OK, "abcd" },
	{ "Pz8/Pw==", SASL_OK, "????" },
	{ "YQ", SASL_BAD_B64, NULL },		/* no padding */
	{ "YQ=", SASL_BAD_B64, NULL },
	{ "Y===", SASL_BAD_B64, NULL },
	{ "=YWJ", SASL_BAD_B64, NULL },
	{ "YQ==YQ==", SASL_BAD_B64, NULL },	/* padding inside */
	{ "YW=j", SASL_BAD_B64, NULL },
	{ "YR==", SASL_BAD_B64, NULL },		/* non-zero hidden bits */
	{ "YWJ=", SASL_BAD_B64, NULL },
	{ "YW Jj", SASL_BAD_B64, NULL },
	{ "YWJj\r\n", SASL_BAD_B64, NULL },
	{ "YW-j", SASL_BAD_B64, NULL },
	{ "YW_j", SASL_BAD_B64, NULL },
};

static void
test_b64_decode(void **state)
{
	unsigned char	out[64];
	size_t		n;

	(void)state;
	for (size_t i = 0; i < sizeof(b64_cases) / sizeof(b64_cases[0]); i++) {
		const struct b64_case *c = &b64_cases[i];
		char	*in = strdup(c->in);	/* exact size for ASan */

		assert_non_null(in);
		assert_int_equal(sasl_b64_decode(in, strlen(in), out,
		    sizeof(out), &n), c->want);
		if (c->want == SASL_OK) {
			assert_int_equal(n, strlen(c->out));
			assert_memory_equal(out, c->out, n);
			assert_int_equal(out[n], '\0');
		}
		free(in);
	}
}

static void
test_b64_bounds(void **state)
{
	unsigned char	out[4];
	size_t		n;

	(void)state;
	assert_int_equal(sasl_b64_decode("YWJj", 4, out, 4, &n), SASL_OK);
	assert_int_equal(n, 3);
	assert_int_equal(sasl_b64_decode("YWJjZA==", 8, out, 4, &n),
	    SASL_TOO_LONG);
	assert_int_equal(sasl_b64_decode("YWJj", 4, out, 3, &n),
	    SASL_TOO_LONG);
	assert_int_equal(sasl_b64_decode("YWJj", 4, out, 0, &n),
	    SASL_TOO_LONG);
}

static void
test_b64_round_trip(void **state)
{
	unsigned char	in[300], back[300];
	char		enc[512];
	size_t		n, need;

	(void)state;
	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (unsigned char)(i * 7 + 3);
	for (size_t len = 0; len < sizeof(in); len++) {
		need = sasl_b64_encode(in, len, enc, sizeof(enc));
		assert_int_equal(need, strlen(enc));
		assert_int_equal(sasl_b64_decode(enc, need, back, sizeof(back),
		    &n), SASL_OK);
		assert_int_equal(n, len);
		assert_memory_equal(back, in, len);
	}
	/* truncation is snprintf-like */
	assert_int_equal(sasl_b64_encode("abcd", 4, enc, 5), 8);
	assert_string_equal(enc, "YWJj");
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
	sasl_b64_encode(msg, n, enc, sizeof(enc));
	assert_int_equal(sasl_plain(enc, true, &c), SASL_OK);
	assert_int_equal(strlen(c.user), SASL_USER_MAX);
	assert_int_equal(strlen(c.pass), SASL_PASS_MAX);
	/* one more byte of password */
	msg[n++] = 'p';
	sasl_b64_encode(msg, n, enc, sizeof(enc));
	assert_int_equal(sasl_plain(enc, true, &c), SASL_TOO_LONG);
	/* one more byte of user name */
	memset(msg + 1, 'u', SASL_USER_MAX + 1);
	msg[2 + SASL_USER_MAX] = '\0';
	msg[3 + SASL_USER_MAX] = 'p';
	sasl_b64_encode(msg, 4 + SASL_USER_MAX, enc, sizeof(enc));
	assert_int_equal(sasl_plain(enc, true, &c), SASL_BAD_MSG);
	/* over the decoded maximum */
	memset(msg, 'x', sizeof(msg));
	sasl_b64_encode(msg, SASL_DECODED_MAX + 3, enc, sizeof(enc));
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
		cmocka_unit_test(test_b64_decode),
		cmocka_unit_test(test_b64_bounds),
		cmocka_unit_test(test_b64_round_trip),
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_plain_lengths),
		cmocka_unit_test(test_login),
		cmocka_unit_test(test_mech),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
