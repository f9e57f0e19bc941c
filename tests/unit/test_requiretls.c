/*
 * test_requiretls.c - table tests for requiretls.c: which header blocks
 * hold RFC 8689's "TLS-Required: No" and which do not (other values,
 * the body, look-alike names, folding, CRLF and LF lines).  Inputs are
 * copied into heap blocks of exactly their length, without a NUL, so
 * ASan reports any read past the end.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mail/requiretls.h"
#include "lib/util.h"

/* header blocks that hold the option */
static const char *const yes[] = {
	"TLS-Required: No\r\n\r\nbody\r\n",
	"Subject: x\r\nTLS-Required: No\r\n\r\n",
	"tls-required:no\r\n\r\n",
	"TLS-REQUIRED :  NO  \r\n\r\n",
	"TLS-Required:\r\n No\r\n\r\n",			/* folded */
	"TLS-Required: No\n\nbody\n",			/* LF lines */
	"TLS-Required: No",				/* no line end */
	"TLS-Required: No\r\n",
	"X: y\r\n\tz\r\nTLS-Required: no\r\n",
};

/* and those that do not */
static const char *const no[] = {
	"TLS-Required: Yes\r\n\r\n",
	"TLS-Required: Nope\r\n\r\n",
	"TLS-Required: No thanks\r\n\r\n",
	"TLS-Required:\r\n\r\n",
	"TLS-Required: N\r\n\r\n",
	"TLS-Required: \"No\"\r\n\r\n",
	"TLS-Required No\r\n\r\n",
	"X-TLS-Required: No\r\n\r\n",
	"TLS-Requiredx: No\r\n\r\n",
	"Subject: x\r\n TLS-Required: No\r\n\r\n",	/* a continuation */
	"Subject: x\r\n\r\nTLS-Required: No\r\n",	/* the body */
	"\r\nTLS-Required: No\r\n",
	"",
};

/* holds - requiretls_header_no on an exact-size heap copy of s. */
static bool
holds(const char *s)
{
	size_t	 n = strlen(s);
	char	*p = malloc(n ? n : 1);
	bool	 r;

	assert_non_null(p);
	memcpy(p, s, n);
	r = requiretls_header_no(p, n);
	free(p);
	return r;
}

static void
test_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < NELEM(yes); i++)
		if (!holds(yes[i]))
			fail_msg("not seen: \"%s\"", yes[i]);
	for (size_t i = 0; i < NELEM(no); i++)
		if (holds(no[i]))
			fail_msg("wrongly seen: \"%s\"", no[i]);
}

/* The search stops at REQUIRETLS_HEADER_MAX: a field after it is not
 * seen, however long the header block. */
static void
test_bounded(void **state)
{
	static const char	 f[] = "TLS-Required: No\r\n";
	size_t			 n = REQUIRETLS_HEADER_MAX + sizeof(f);
	char			*p = malloc(n);

	(void)state;
	assert_non_null(p);
	memset(p, 'a', n);
	memcpy(p, "X: ", 3);
	memcpy(p + REQUIRETLS_HEADER_MAX - 2, "\r\n", 2);
	memcpy(p + REQUIRETLS_HEADER_MAX, f, sizeof(f) - 1);
	assert_false(requiretls_header_no(p, n - 1));
	memcpy(p + 100, "\r\n", 2);
	memcpy(p + 102, f, sizeof(f) - 1);
	assert_true(requiretls_header_no(p, n - 1));
	free(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
