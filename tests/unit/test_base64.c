/*
 * test_base64.c - lib/base64.c: the strict decoding SASL asks for
 * (canonical padding bits, no white space), the folding DKIM allows
 * (FWS anywhere, padding still strict), the output bounds, and the round
 * trip with the encoder at every length.
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

struct b64_case {
	const char		*in;
	enum base64_result	 want;
	const char		*out;	/* decoded, when BASE64_OK */
};

static const struct b64_case b64_cases[] = {
	{ "", BASE64_OK, "" },
	{ "YQ==", BASE64_OK, "a" },
	{ "YWI=", BASE64_OK, "ab" },
	{ "YWJj", BASE64_OK, "abc" },
	{ "YWJjZA==", BASE64_OK, "abcd" },
	{ "Pz8/Pw==", BASE64_OK, "????" },
	{ "YQ", BASE64_BAD, NULL },		/* no padding */
	{ "YQ=", BASE64_BAD, NULL },
	{ "Y===", BASE64_BAD, NULL },
	{ "=YWJ", BASE64_BAD, NULL },
	{ "YQ==YQ==", BASE64_BAD, NULL },	/* padding inside */
	{ "YW=j", BASE64_BAD, NULL },
	{ "YR==", BASE64_BAD, NULL },		/* non-zero hidden bits */
	{ "YWJ=", BASE64_BAD, NULL },
	{ "YW Jj", BASE64_BAD, NULL },
	{ "YWJj\r\n", BASE64_BAD, NULL },
	{ "YW-j", BASE64_BAD, NULL },
	{ "YW_j", BASE64_BAD, NULL },
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
		assert_int_equal(base64_decode(in, strlen(in),
		    BASE64_CANONICAL, out, sizeof(out), &n), c->want);
		if (c->want == BASE64_OK) {
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
	assert_int_equal(base64_decode("YWJj", 4, BASE64_CANONICAL,
	    out, 4, &n), BASE64_OK);
	assert_int_equal(n, 3);
	assert_int_equal(base64_decode("YWJjZA==", 8, BASE64_CANONICAL,
	    out, 4, &n), BASE64_TOO_LONG);
	assert_int_equal(base64_decode("YWJj", 4, BASE64_CANONICAL,
	    out, 3, &n), BASE64_TOO_LONG);
	assert_int_equal(base64_decode("YWJj", 4, BASE64_CANONICAL,
	    out, 0, &n), BASE64_TOO_LONG);
}

static void
test_b64_round_trip(void **state)
{
	unsigned char	 in[300], back[300];
	struct buf	 enc;
	size_t		 n;

	(void)state;
	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (unsigned char)(i * 7 + 3);
	buf_init(&enc, 0);
	for (size_t len = 0; len < sizeof(in); len++) {
		buf_reset(&enc);
		assert_int_equal(base64_encode(in, len, &enc), 0);
		assert_int_equal(enc.len, (len + 2) / 3 * 4);
		assert_int_equal(base64_decode(enc.data, enc.len,
		    BASE64_CANONICAL, back, sizeof(back), &n), BASE64_OK);
		assert_int_equal(n, len);
		assert_memory_equal(back, in, len);
	}
	buf_free(&enc);
	/* an encoder ceiling is refused, not overrun */
	buf_init(&enc, 7);
	assert_int_equal(base64_encode("abcd", 4, &enc), -1);
	assert_int_equal(base64_encode("abc", 3, &enc), 0);
	assert_string_equal(enc.data, "YWJj");
	buf_free(&enc);
}

static void
test_b64_fws(void **state)
{
	unsigned char	*p;
	size_t		 n;

	(void)state;
	assert_int_equal(base64_decode_alloc("a G\r\n\tk  =", 10, BASE64_FWS,
	    &p, &n), 0);
	assert_int_equal(n, 2);
	assert_memory_equal(p, "hi", 2);
	free(p);
	/* FWS is not base64 without the flag */
	assert_int_equal(base64_decode_alloc("a G\r\n\tk  =", 10, 0, &p, &n),
	    -1);
	assert_null(p);
	/* non-canonical hidden bits pass unless asked for */
	assert_int_equal(base64_decode_alloc("YR==", 4, 0, &p, &n), 0);
	free(p);
	assert_int_equal(base64_decode_alloc("YR==", 4, BASE64_CANONICAL, &p,
	    &n), -1);
	/* padding is strict with FWS too */
	assert_int_equal(base64_decode_alloc("aG==k=", 6, BASE64_FWS, &p, &n),
	    -1);
	assert_int_equal(base64_decode_alloc("a===", 4, BASE64_FWS, &p, &n),
	    -1);
	assert_int_equal(base64_decode_alloc("aGk", 3, BASE64_FWS, &p, &n), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_b64_decode),
		cmocka_unit_test(test_b64_bounds),
		cmocka_unit_test(test_b64_round_trip),
		cmocka_unit_test(test_b64_fws),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
