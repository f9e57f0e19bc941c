/*
 * test_spf.c - SPF record parser and macro tables (RFC 7208 7.4
 * examples), and the evaluator fed canned DNS answers synchronously.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "lib/buf.h"
#include "auth/spf.h"

struct parse_case {
	const char	*rec;
	int		 rc;
};

static const struct parse_case parse_cases[] = {
	{ "v=spf1", 0 },
	{ "v=spf1 -all", 0 },
	{ "V=SPF1 ip4:192.0.2.0/24 ip6:2001:db8::/32 ~all", 0 },
	{ "v=spf1 a mx a:example.com/24 mx:example.com//64 a/24//64", 0 },
	{ "v=spf1 include:_spf.example.com exists:%{i}.x.example.com", 0 },
	{ "v=spf1 redirect=example.com exp=x.example.com foo=%{s}", 0 },
	{ "v=spf1 ptr ptr:example.com ?all  ", 0 },
	{ "v=spf10 -all", -1 },
	{ "v=spf1 -all redirect=a.example redirect=b.example", -1 },
	{ "v=spf1 exp=a.example exp=b.example", -1 },
	{ "v=spf1 foo", -1 },
	{ "v=spf1 a:", -1 },
	{ "v=spf1 include", -1 },
	{ "v=spf1 ip4:192.0.2.1/33", -1 },
	{ "v=spf1 ip4:192.0.2.1/08", -1 },
	{ "v=spf1 ip6:2001:db8::/129", -1 },
	{ "v=spf1 ip4:2001:db8::", -1 },
	{ "v=spf1 a:foo..example.com", -1 },
	{ "v=spf1 a:example.123", -1 },
	{ "v=spf1 a:example", -1 },
	{ "v=spf1 exists:%{x}.example.com", -1 },
	{ "v=spf1 exists:%{d0}.example.com", -1 },
	{ "v=spf1 exists:%{c}.example.com", -1 },
	{ "v=spf1 a:%q.example.com", -1 },
	{ "v=spf1 -all\tmx", -1 },
	{ "v=spf1 all:x", -1 },
	/* 7.1: a domain-spec may hold any visible character but '%' */
	{ "v=spf1 mx:foo:bar/baz.example.com", 0 },
	{ "v=spf1 a:macro%%percent%_%_space%-url-space.example.com -all", 0 },
	{ "v=spf1 a:a\"b'c(d)e.example.com", 0 },
};

static void
test_parse_table(void **state)
{
	struct spf_record	*r = test_malloc(sizeof(*r));
	char			 err[128];

	(void)state;
	for (size_t i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]);
	    i++) {
		const struct parse_case *c = &parse_cases[i];
		int	 rc = spf_parse(c->rec, strlen(c->rec), r, err,
		    sizeof(err));

		if (rc != c->rc)
			fail_msg("%s: rc %d (%s)", c->rec, rc, err);
	}
	test_free(r);
}

static void
test_parse_fields(void **state)
{
	static const char	 rec[] = "v=spf1 -mx:e.example/24//64 "
	    "~ip4:192.0.2.0/24 redirect=r.example";
	struct spf_record	*r = test_malloc(sizeof(*r));
	char			 err[128];

	(void)state;
	assert_int_equal(spf_parse(rec, strlen(rec), r, err, sizeof(err)), 0);
	assert_int_equal(r->nterm, 2);
	assert_int_equal(r->term[0].mech, SPF_M_MX);
	assert_int_equal(r->term[0].qual, SPF_FAIL);
	assert_int_equal(r->term[0].cidr4, 24);
	assert_int_equal(r->term[0].cidr6, 64);
	assert_int_equal(r->term[0].speclen, 9);
	assert_int_equal(r->term[1].qual, SPF_SOFTFAIL);
	assert_int_equal(r->redirectlen, 9);
	test_free(r);
}

struct macro_case {
	const char	*in, *out;
};

/* RFC 7208 7.4, sender strong-bad@email.example.com from 192.0.2.3. */
static const struct macro_case macro_cases[] = {
	{ "%{s}", "strong-bad@email.example.com" },
	{ "%{o}", "email.example.com" },
	{ "%{d}", "email.example.com" },
	{ "%{d4}", "email.example.com" },
	{ "%{d3}", "email.example.com" },
	{ "%{d2}", "example.com" },
	{ "%{d1}", "com" },
	{ "%{dr}", "com.example.email" },
	{ "%{d2r}", "example.email" },
	{ "%{l}", "strong-bad" },
	{ "%{l-}", "strong.bad" },
	{ "%{lr}", "strong-bad" },
	{ "%{lr-}", "bad.strong" },
	{ "%{l1r-}", "strong" },
	{ "%{ir}.%{v}._spf.%{d2}", "3.2.0.192.in-addr._spf.example.com" },
	{ "%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com" },
	{ "%{lr-}.lp.%{ir}.%{v}._spf.%{d2}",
	    "bad.strong.lp.3.2.0.192.in-addr._spf.example.com" },
	{ "%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}",
	    "3.2.0.192.in-addr.strong.lp._spf.example.com" },
	{ "%{d2}.trusted-domains.example.net",
	    "example.com.trusted-domains.example.net" },
	{ "%%%_%-", "% %20" },
	{ "%{S}", "strong-bad%40email.example.com" },
	{ "%{p}", "unknown" },
};

static void
test_macro_table(void **state)
{
	struct spf_ip		 ip;
	struct spf_macro_env	 e = { "strong-bad", "email.example.com",
	    "email.example.com", "mx.example.org", NULL, NULL, &ip, 0 };
	struct buf		 b;

	(void)state;
	assert_int_equal(spf_ip_parse("192.0.2.3", &ip), 0);
	for (size_t i = 0; i < sizeof(macro_cases) / sizeof(macro_cases[0]);
	    i++) {
		buf_init(&b, 0);
		assert_int_equal(spf_expand(macro_cases[i].in,
		    strlen(macro_cases[i].in), &e, false, &b), 0);
		assert_string_equal(b.data, macro_cases[i].out);
		buf_free(&b);
	}
}

static void
test_macro_ip6(void **state)
{
	struct spf_ip		 ip;
	struct spf_macro_env	 e = { "strong-bad", "email.example.com",
	    "email.example.com", NULL, NULL, NULL, &ip, 0 };
	struct buf		 b;
	static const char	 in[] = "%{ir}.%{v}._spf.%{d2}";

	(void)state;
	assert_int_equal(spf_ip_parse("2001:db8::cb01", &ip), 0);
	buf_init(&b, 0);
	assert_int_equal(spf_expand(in, strlen(in), &e, false, &b), 0);
	/* 7.4 writes the nibbles in upper case */
	assert_string_equal(b.data, "1.0.B.C.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0."
	    "0.0.0.0.0.8.B.D.0.1.0.0.2.ip6._spf.example.com");
	buf_reset(&b);
	assert_int_equal(spf_expand("%{c} %{t}", 9, &e, false, &b), -1);
	buf_reset(&b);
	assert_int_equal(spf_expand("%{c} at %{t}", 12, &e, true, &b), 0);
	assert_string_equal(b.data, "2001:db8::cb01 at 0");
	buf_free(&b);
}

/* 7.3: "%%", "%_" and "%-" make a name that is asked as it is. */
static void
test_domain_fix(void **state)
{
	static const struct {
		const char	*in, *out;	/* out NULL: refused */
	} t[] = {
		{ "macro%percent  space%20url-space.example.com",
		    "macro%percent  space%20url-space.example.com" },
		{ "foo:bar/baz.example.com.", "foo:bar/baz.example.com" },
		{ "a.example.com", "a.example.com" },
		{ "a\tb.example.com", NULL },
		{ "a\x7f.example.com", NULL },
		{ "\xc3\xa4.example.com", NULL },
		{ "a..example.com", NULL },
		{ ".", NULL },
	};
	struct spf_ip		 ip;
	struct spf_macro_env	 e = { "test", "e1a.example.com",
	    "e1a.example.com", NULL, NULL, NULL, &ip, 0 };
	static const char	 spec[] =
	    "macro%%percent%_%_space%-url-space.example.com";
	char			 name[300];
	struct buf		 b;

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		snprintf(name, sizeof(name), "%s", t[i].in);
		if (t[i].out == NULL) {
			assert_int_equal(spf_domain_fix(name), -1);
			continue;
		}
		assert_int_equal(spf_domain_fix(name), 0);
		assert_string_equal(name, t[i].out);
	}
	assert_int_equal(spf_ip_parse("1.2.3.4", &ip), 0);
	buf_init(&b, 0);
	assert_int_equal(spf_expand(spec, strlen(spec), &e, false, &b), 0);
	assert_string_equal(b.data, t[0].out);
	buf_free(&b);
}

/* ---- evaluator on canned DNS ---- */

struct rr {
	enum spf_qtype	 t;
	const char	*name;
	const char	*val;		/* NULL: NXDOMAIN; "!": TEMPFAIL */
};

struct canned {
	const struct rr		*zone;
	size_t			 n;
	enum spf_result		 result;
	char			 expl[256];
	int			 done, queries;
};

static void
canned_lookup(void *arg, struct spf_check *c, enum spf_qtype t,
    const char *name)
{
	struct canned	*z = arg;
	const char	*v[16];
	size_t		 n = 0;

	z->queries++;
	for (size_t i = 0; i < z->n; i++) {
		if (z->zone[i].t != t || strcasecmp(z->zone[i].name, name))
			continue;
		if (z->zone[i].val != NULL && strcmp(z->zone[i].val, "!") == 0) {
			spf_check_answer(c, DNS_TEMPFAIL, NULL, NULL, 0);
			return;
		}
		if (z->zone[i].val != NULL && n < 16)
			v[n++] = z->zone[i].val;
	}
	spf_check_answer(c, n > 0 ? DNS_OK : DNS_NXDOMAIN, v, NULL, n);
}

static void
canned_done(void *arg, struct spf_check *c, enum spf_result r,
    const char *expl)
{
	struct canned	*z = arg;

	z->done++;
	z->result = r;
	snprintf(z->expl, sizeof(z->expl), "%s", expl != NULL ? expl : "");
}

static const struct spf_lookup_ops canned_ops = { canned_lookup,
    canned_done };

static struct canned
run(const struct rr *zone, size_t n, const char *ip, const char *from)
{
	struct canned		 z = { zone, n, SPF_NONE, "", 0, 0 };
	struct spf_ip		 a;
	struct spf_check	*c;

	assert_int_equal(spf_ip_parse(ip, &a), 0);
	c = spf_check_new(&a, from, "helo.example", NULL, &canned_ops, &z);
	spf_check_start(c);
	spf_check_free(c);
	assert_int_equal(z.done, 1);
	return z;
}

static const struct rr zone1[] = {
	{ SPF_Q_TXT, "ex.test", "v=spf1 ip4:192.0.2.0/24 mx "
	    "include:inc.ex.test a:%{l}.ex.test -all exp=why.ex.test" },
	{ SPF_Q_TXT, "why.ex.test", "%{i} is not allowed to send for %{d}" },
	{ SPF_Q_MX, "ex.test", "mx1.ex.test" },
	{ SPF_Q_A, "mx1.ex.test", "198.51.100.7" },
	{ SPF_Q_TXT, "inc.ex.test", "v=spf1 ip6:2001:db8::/32 ~all" },
	{ SPF_Q_A, "bob.ex.test", "203.0.113.9" },
	{ SPF_Q_TXT, "loop.test", "v=spf1 include:loop.test" },
	{ SPF_Q_TXT, "void.test", "v=spf1 a:n1.void.test a:n2.void.test "
	    "a:n3.void.test +all" },
	{ SPF_Q_TXT, "tmp.test", "v=spf1 a:t.tmp.test -all" },
	{ SPF_Q_A, "t.tmp.test", "!" },
	{ SPF_Q_TXT, "two.test", "v=spf1 -all" },
	{ SPF_Q_TXT, "two.test", "v=spf1 +all" },
	{ SPF_Q_TXT, "red.test", "v=spf1 redirect=ex.test" },
	{ SPF_Q_TXT, "rednone.test", "v=spf1 redirect=nothing.test" },
	{ SPF_Q_TXT, "colon.test", "v=spf1 mx:foo:bar/baz.colon.test -all" },
	{ SPF_Q_MX, "foo:bar/baz.colon.test", "foo:bar/baz.colon.test" },
	{ SPF_Q_A, "foo:bar/baz.colon.test", "192.0.2.77" },
	{ SPF_Q_TXT, "mania.test", "v=spf1 a:macro%%percent%_%_space%-url-"
	    "space.mania.test -all" },
	{ SPF_Q_A, "macro%percent  space%20url-space.mania.test",
	    "192.0.2.78" },
};

static void
test_eval(void **state)
{
	struct canned	 z;
	size_t		 n = sizeof(zone1) / sizeof(zone1[0]);

	(void)state;
	z = run(zone1, n, "192.0.2.55", "a@ex.test");
	assert_int_equal(z.result, SPF_PASS);
	z = run(zone1, n, "198.51.100.7", "a@ex.test");
	assert_int_equal(z.result, SPF_PASS);
	z = run(zone1, n, "2001:db8::1", "a@ex.test");
	assert_int_equal(z.result, SPF_PASS);	/* through the include */
	z = run(zone1, n, "2001:db9::1", "a@ex.test");
	assert_int_equal(z.result, SPF_FAIL);	/* include's ~all: no match */
	z = run(zone1, n, "203.0.113.9", "bob@ex.test");
	assert_int_equal(z.result, SPF_PASS);
	z = run(zone1, n, "203.0.113.10", "bob@ex.test");
	assert_int_equal(z.result, SPF_FAIL);
	assert_string_equal(z.expl, "203.0.113.10 is not allowed to send "
	    "for ex.test");
	z = run(zone1, n, "203.0.113.10", "x@red.test");
	assert_int_equal(z.result, SPF_FAIL);
	z = run(zone1, n, "203.0.113.10", "x@nothing.test");
	assert_int_equal(z.result, SPF_NONE);
	z = run(zone1, n, "203.0.113.10", "x@rednone.test");
	assert_int_equal(z.result, SPF_PERMERROR);
	z = run(zone1, n, "203.0.113.10", "x@loop.test");
	assert_int_equal(z.result, SPF_PERMERROR);
	assert_true(z.queries <= SPF_MAX_DNS_TERMS + 1);
	z = run(zone1, n, "203.0.113.10", "x@void.test");
	assert_int_equal(z.result, SPF_PERMERROR);
	z = run(zone1, n, "203.0.113.10", "x@tmp.test");
	assert_int_equal(z.result, SPF_TEMPERROR);
	z = run(zone1, n, "203.0.113.10", "x@two.test");
	assert_int_equal(z.result, SPF_PERMERROR);
	z = run(zone1, n, "203.0.113.10", "x@bad..test");
	assert_int_equal(z.result, SPF_NONE);
	assert_int_equal(z.queries, 0);		/* caught before any query */
	z = run(zone1, n, "203.0.113.10", "");	/* HELO identity */
	assert_int_equal(z.result, SPF_NONE);
	/* names with ':', '/', '%' and spaces are asked (7.1, 7.3) */
	z = run(zone1, n, "192.0.2.77", "x@colon.test");
	assert_int_equal(z.result, SPF_PASS);
	z = run(zone1, n, "::ffff:192.0.2.77", "x@colon.test");
	assert_int_equal(z.result, SPF_PASS);
	z = run(zone1, n, "192.0.2.78", "x@mania.test");
	assert_int_equal(z.result, SPF_PASS);
	z = run(zone1, n, "192.0.2.79", "x@mania.test");
	assert_int_equal(z.result, SPF_FAIL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_table),
		cmocka_unit_test(test_parse_fields),
		cmocka_unit_test(test_macro_table),
		cmocka_unit_test(test_macro_ip6),
		cmocka_unit_test(test_domain_fix),
		cmocka_unit_test(test_eval),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
