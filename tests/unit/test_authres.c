/*
 * test_authres.c - cmocka tests for src/authres.c without DNS: which
 * Authentication-Results fields count as ours (RFC 8601 5), and the
 * header field made when there is no resolver to ask.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>

#include "auth/authres.h"
#include "lib/buf.h"
#include "lib/util.h"

struct find_case {
	const char	*msg;
	size_t		 n;		/* fields found */
	const char	*first;		/* the first one, exactly */
};

static const struct find_case find_cases[] = {
	{ "Authentication-Results: mx.example; spf=pass\r\n\r\nbody\r\n", 1,
	    "Authentication-Results: mx.example; spf=pass\r\n" },
	{ "authentication-results:MX.Example;dkim=pass\r\n\r\n", 1,
	    "authentication-results:MX.Example;dkim=pass\r\n" },
	{ "Authentication-Results : (a (nested) comment)\r\n mx.example 1;"
	    " none\r\nX: y\r\n\r\n", 1, "Authentication-Results : (a (nested)"
	    " comment)\r\n mx.example 1; none\r\n" },
	{ "Authentication-Results: \"mx.example\"; none\r\n\r\n", 1,
	    "Authentication-Results: \"mx.example\"; none\r\n" },
	{ "Authentication-Results: mx.example.org; none\r\n\r\n", 0, NULL },
	{ "Authentication-Results: other; spf=pass mx.example\r\n\r\n", 0,
	    NULL },
	{ "Authentication-Results-X: mx.example; none\r\n\r\n", 0, NULL },
	{ "Subject: a\r\n\r\nAuthentication-Results: mx.example; x\r\n", 0,
	    NULL },
	{ "Received: x\r\nAuthentication-Results: mx.example;\r\n\tspf=pass"
	    "\r\nFrom: a@b\r\nAuthentication-Results: MX.EXAMPLE; dkim=none\r\n"
	    "\r\n", 2, "Authentication-Results: mx.example;\r\n\tspf=pass\r\n" },
	{ "Authentication-Results: mx.example; cut", 1,
	    "Authentication-Results: mx.example; cut" },
	{ "", 0, NULL },
};

static void
test_find_ours(void **state)
{
	struct authres_range	 r[4];

	(void)state;
	for (size_t i = 0; i < NELEM(find_cases); i++) {
		const struct find_case *c = &find_cases[i];
		size_t n = authres_find_ours(c->msg, strlen(c->msg),
		    "mx.example", r, NELEM(r));

		if (n != c->n)
			fail_msg("case %zu: %zu found, want %zu", i, n, c->n);
		if (n > 0 && (r[0].len != strlen(c->first) ||
		    memcmp(c->msg + r[0].off, c->first, r[0].len) != 0))
			fail_msg("case %zu: wrong range %zu+%zu", i, r[0].off,
			    r[0].len);
	}
}

static void
test_find_ours_max(void **state)
{
	static const char msg[] = "Authentication-Results: h; a\r\n"
	    "Authentication-Results: h; b\r\nAuthentication-Results: h; c\r\n";
	struct authres_range	 r[2];

	(void)state;
	assert_int_equal(authres_find_ours(msg, sizeof(msg) - 1, "h", r, 2), 2);
	assert_int_equal(r[1].off, 30);
}

static int	 finished;

static void
done(uint64_t id)
{
	finished = (int)id;
}

static void
test_header_without_resolver(void **state)
{
	static const char msg[] = "From: Sam <sam@sender.example>\r\n"
	    "Subject: x\r\n\r\nhi\r\n";
	struct authres_opts	 o = { "mx.example", "192.0.2.1", "a b@x.example",
	    NULL };
	struct event_base	*base = event_base_new();
	struct authres		*a;
	struct buf		 b;

	(void)state;
	/* no dns: no SPF check, no DMARC lookup */
	a = authres_new(base, NULL, &o);
	authres_message(a, msg, sizeof(msg) - 1, done, 7);
	assert_int_equal(finished, 0);		/* never before the loop */
	event_base_dispatch(base);
	assert_int_equal(finished, 7);
	buf_init(&b, 0);
	assert_int_equal(authres_header(a, &b), 0);
	assert_string_equal(buf_cstr(&b), "Authentication-Results: mx.example;"
	    "\r\n\tdkim=none;\r\n\tdmarc=temperror reason=\"no resolver\"\r\n");
	assert_int_equal(authres_spf_result(a), SPF_NONE);
	assert_null(authres_dmarc_output(a));
	buf_free(&b);
	authres_free(a);
	event_base_free(base);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_find_ours),
		cmocka_unit_test(test_find_ours_max),
		cmocka_unit_test(test_header_without_resolver),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
