/*
 * test_dmarc.c - cmocka tests for src/dmarc.c, dmarc_psl.c and
 * dmarc_from.c: record tables (syntax, defaults, the 6.6.3 rua=
 * fallback), the organizational domain over a small inline list (normal,
 * wildcard and exception rules, case, punycode) and over the system list
 * when installed, alignment tables, evaluation tables (discovery, sp=,
 * pct=, temperror), and From extraction (RFC 7489 6.6.1).  No DNS.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "auth/dmarc.h"
#include "lib/util.h"

static const char psl_text[] =
    "// test list\n"
    "com\n"
    "uk\n"
    "co.uk\n"
    "\n"
    "*.ck\n"
    "!www.ck\n"
    "jp\n"
    "*.kawasaki.jp\n"
    "!city.kawasaki.jp\n"
    "xn--p1ai\n"
    "GitHub.IO  trailing words\n"
    "// ===BEGIN PRIVATE DOMAINS===\n"
    "blogspot.com\n";

static struct dmarc_psl	*psl;

static int
setup(void **state)
{
	(void)state;
	psl = dmarc_psl_parse(psl_text, sizeof(psl_text) - 1);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	dmarc_psl_free(psl);
	return 0;
}

struct rec_case {
	const char		*txt;
	enum dmarc_rec_res	 res;
	enum dmarc_disp		 p, sp;
	unsigned		 pct;
	bool			 fallback;
};

static const struct rec_case rec_cases[] = {
	{ "v=DMARC1; p=none", DMARC_REC_OK, 0, 0, 100, false },
	{ "v=DMARC1; p=reject;", DMARC_REC_OK, 2, 2, 100, false },
	{ "v=DMARC1;p=quarantine;sp=none;pct=20", DMARC_REC_OK, 1, 0, 20,
	    false },
	{ "v = DMARC1 ; P = Reject ; SP=quarantine", DMARC_REC_OK, 2, 1, 100,
	    false },
	{ "v=DMARC1; p=reject; pct=0", DMARC_REC_OK, 2, 2, 0, false },
	{ "v=DMARC1; p=reject; unknown=whatever", DMARC_REC_OK, 2, 2, 100,
	    false },
	{ "v=DMARC1; p=none; rua=mailto:a@example.com,mailto:b@x.example!10m",
	    DMARC_REC_OK, 0, 0, 100, false },
	{ "v=DMARC1; p=none; fo=0:1 : d:s; rf=afrf; ri=3600; adkim=s; aspf=r",
	    DMARC_REC_OK, 0, 0, 100, false },
	/* 6.6.3 step 6: no or bad p= (or bad sp=), with a valid rua= */
	{ "v=DMARC1; rua=mailto:r@example.com", DMARC_REC_OK, 0, 0, 100,
	    true },
	{ "v=DMARC1; p=bogus; rua=mailto:r@example.com", DMARC_REC_OK, 0, 0,
	    100, true },
	{ "v=DMARC1; p=reject; sp=bogus; rua=mailto:r@example.com",
	    DMARC_REC_OK, 0, 0, 100, true },
	{ "v=DMARC1; p=reject; sp=bogus", DMARC_REC_NO_POLICY, 0, 0, 0,
	    false },
	{ "v=DMARC1", DMARC_REC_NO_POLICY, 0, 0, 0, false },
	{ "v=DMARC1; p=", DMARC_REC_NO_POLICY, 0, 0, 0, false },
	{ "v=DMARC1; p=bogus; rua=notauri", DMARC_REC_NO_POLICY, 0, 0, 0,
	    false },
	/* not DMARC: discarded */
	{ "p=reject; v=DMARC1", DMARC_REC_NOT_DMARC, 0, 0, 0, false },
	{ "v=dmarc1; p=reject", DMARC_REC_NOT_DMARC, 0, 0, 0, false },
	{ "v=DMARC10; p=reject", DMARC_REC_NOT_DMARC, 0, 0, 0, false },
	{ " v=DMARC1; p=reject", DMARC_REC_NOT_DMARC, 0, 0, 0, false },
	{ "v=spf1 -all", DMARC_REC_NOT_DMARC, 0, 0, 0, false },
	{ "", DMARC_REC_NOT_DMARC, 0, 0, 0, false },
	/* bad */
	{ "v=DMARC1; p=reject; pct=101", DMARC_REC_BAD, 0, 0, 0, false },
	{ "v=DMARC1; p=reject; pct=-1", DMARC_REC_BAD, 0, 0, 0, false },
	{ "v=DMARC1; p=reject; pct=", DMARC_REC_BAD, 0, 0, 0, false },
	{ "v=DMARC1; p=reject; adkim=x", DMARC_REC_BAD, 0, 0, 0, false },
	{ "v=DMARC1; p=reject; fo=2", DMARC_REC_BAD, 0, 0, 0, false },
	{ "v=DMARC1; p=reject; fo=0:", DMARC_REC_BAD, 0, 0, 0, false },
	{ "v=DMARC1; p=reject; ri=1h", DMARC_REC_BAD, 0, 0, 0, false },
	{ "v=DMARC1; p=reject; rf=-x", DMARC_REC_BAD, 0, 0, 0, false },
	{ "v=DMARC1; p=reject; p=none", DMARC_REC_BAD, 0, 0, 0, false },
	{ "v=DMARC1; p=reject; P=none", DMARC_REC_BAD, 0, 0, 0, false },
	{ "v=DMARC1; p=reject;;", DMARC_REC_BAD, 0, 0, 0, false },
	{ "v=DMARC1; p=reject; =x", DMARC_REC_BAD, 0, 0, 0, false },
	{ "v=DMARC1;\r\n p=reject", DMARC_REC_BAD, 0, 0, 0, false },
};

static void
test_record_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < NELEM(rec_cases); i++) {
		const struct rec_case	*c = &rec_cases[i];
		struct dmarc_record	 r;
		enum dmarc_rec_res	 res;

		memset(&r, 0xa5, sizeof(r));
		res = dmarc_record_parse(c->txt, strlen(c->txt), &r);
		if (res != c->res)
			fail_msg("case %zu \"%s\": got %d want %d", i, c->txt,
			    res, c->res);
		if (res != DMARC_REC_OK)
			continue;
		assert_int_equal(r.p, c->p);
		assert_int_equal(r.sp, c->sp);
		assert_int_equal(r.pct, c->pct);
		assert_int_equal(r.p_fallback, c->fallback);
	}
}

static void
test_record_fields(void **state)
{
	static const char	 t[] = "v=DMARC1; p=none; adkim=s; aspf=s; "
	    "fo=1:d; rf=afrf; ri=99999999999999; "
	    "rua=mailto:a@example.com , bad uri,mailto:b@example.com; "
	    "ruf=mailto:f@example.com";
	struct dmarc_record	 r;

	(void)state;
	assert_int_equal(dmarc_record_parse(t, strlen(t), &r), DMARC_REC_OK);
	assert_int_equal(r.adkim, DMARC_ALIGN_STRICT);
	assert_int_equal(r.aspf, DMARC_ALIGN_STRICT);
	assert_int_equal(r.fo, DMARC_FO_1 | DMARC_FO_D);
	assert_true(r.rf_afrf);
	assert_int_equal(r.ri, UINT32_MAX);
	assert_string_equal(r.rua, "mailto:a@example.com,mailto:b@example.com");
	assert_int_equal(r.nrua, 2);
	assert_string_equal(r.ruf, "mailto:f@example.com");
	/* defaults */
	assert_int_equal(dmarc_record_parse("v=DMARC1; p=none", 16, &r),
	    DMARC_REC_OK);
	assert_int_equal(r.adkim, DMARC_ALIGN_RELAXED);
	assert_int_equal(r.aspf, DMARC_ALIGN_RELAXED);
	assert_int_equal(r.fo, DMARC_FO_0);
	assert_int_equal(r.ri, 86400);
	assert_false(r.has_sp);
	assert_string_equal(r.rua, "");
	/* explicit length: no NUL needed, bytes after len ignored */
	assert_int_equal(dmarc_record_parse("v=DMARC1; p=none; pct=5x", 23,
	    &r), DMARC_REC_OK);
	assert_int_equal(r.pct, 5);
}

struct org_case {
	const char	*in, *out;
};

static const struct org_case org_cases[] = {
	{ "example.com", "example.com" },
	{ "mail.example.com", "example.com" },
	{ "A.B.Example.COM.", "example.com" },
	{ "com", "com" },
	{ "foo.bar.co.uk", "bar.co.uk" },
	{ "bar.co.uk", "bar.co.uk" },
	{ "co.uk", "co.uk" },
	{ "example.uk", "example.uk" },
	{ "a.b.example.ck", "b.example.ck" },	/* *.ck: example.ck is a suffix */
	{ "example.ck", "example.ck" },
	{ "www.ck", "www.ck" },			/* !www.ck */
	{ "mail.www.ck", "www.ck" },
	{ "a.b.city.kawasaki.jp", "city.kawasaki.jp" },
	{ "a.b.foo.kawasaki.jp", "b.foo.kawasaki.jp" },
	{ "x.example.xn--p1ai", "example.xn--p1ai" },
	{ "sub.xn--bcher-kva.example", "xn--bcher-kva.example" },
	{ "me.github.io", "me.github.io" },
	{ "a.me.blogspot.com", "me.blogspot.com" },
	{ "host.example.test", "example.test" },	/* implicit "*" */
	{ "localhost", "localhost" },
};

static void
test_org_domain(void **state)
{
	char	 out[DMARC_DOMAIN_MAX + 1];

	(void)state;
	assert_true(dmarc_psl_count(psl) >= 11);
	for (size_t i = 0; i < NELEM(org_cases); i++) {
		assert_int_equal(dmarc_psl_org_domain(psl, org_cases[i].in, out,
		    sizeof(out)), 0);
		if (strcmp(out, org_cases[i].out) != 0)
			fail_msg("%s: got %s want %s", org_cases[i].in, out,
			    org_cases[i].out);
	}
	assert_int_equal(dmarc_psl_org_domain(psl, "", out, sizeof(out)), -1);
	assert_int_equal(dmarc_psl_org_domain(psl, ".", out, sizeof(out)), -1);
	assert_int_equal(dmarc_psl_org_domain(psl, "a..com", out, sizeof(out)),
	    -1);
	assert_int_equal(dmarc_psl_org_domain(psl, ".a.com", out, sizeof(out)),
	    -1);
	/* no list: last two labels */
	assert_int_equal(dmarc_psl_org_domain(NULL, "a.b.co.uk", out,
	    sizeof(out)), 0);
	assert_string_equal(out, "co.uk");
	/* too small an output buffer */
	assert_int_equal(dmarc_psl_org_domain(psl, "example.com", out, 5), -1);
}

static void
test_org_domain_system(void **state)
{
	const struct dmarc_psl	*sys = dmarc_psl_default();
	char			 out[DMARC_DOMAIN_MAX + 1];

	(void)state;
	if (sys == NULL)
		skip();
	assert_true(dmarc_psl_count(sys) > 5000);
	assert_ptr_equal(sys, dmarc_psl_default());
	assert_int_equal(dmarc_psl_org_domain(sys, "mail.example.co.uk", out,
	    sizeof(out)), 0);
	assert_string_equal(out, "example.co.uk");
	assert_int_equal(dmarc_psl_org_domain(sys, "a.b.www.ck", out,
	    sizeof(out)), 0);
	assert_string_equal(out, "www.ck");
	assert_int_equal(dmarc_psl_org_domain(sys, "a.b.c.ck", out,
	    sizeof(out)), 0);
	assert_string_equal(out, "b.c.ck");
	assert_null(dmarc_psl_load("/nonexistent/psl.dat"));
}

struct align_case {
	enum dmarc_align	 mode;
	const char		*from, *id;
	bool			 ok;
};

static const struct align_case align_cases[] = {
	{ DMARC_ALIGN_STRICT, "example.com", "example.com", true },
	{ DMARC_ALIGN_STRICT, "example.com", "EXAMPLE.com.", true },
	{ DMARC_ALIGN_STRICT, "example.com", "mail.example.com", false },
	{ DMARC_ALIGN_STRICT, "mail.example.com", "example.com", false },
	{ DMARC_ALIGN_RELAXED, "mail.example.com", "example.com", true },
	{ DMARC_ALIGN_RELAXED, "example.com", "a.b.Example.Com", true },
	{ DMARC_ALIGN_RELAXED, "example.com", "example.org", false },
	{ DMARC_ALIGN_RELAXED, "a.example.co.uk", "b.example.co.uk", true },
	{ DMARC_ALIGN_RELAXED, "example.co.uk", "other.co.uk", false },
	{ DMARC_ALIGN_RELAXED, "a.x.ck", "b.x.ck", false },
	{ DMARC_ALIGN_RELAXED, "a.b.x.ck", "c.b.x.ck", true },
	{ DMARC_ALIGN_RELAXED, "example.com", "com", false },
	{ DMARC_ALIGN_RELAXED, "example.com", "", false },
	{ DMARC_ALIGN_RELAXED, "example.com", NULL, false },
	{ DMARC_ALIGN_STRICT, "example.com", NULL, false },
};

static void
test_alignment(void **state)
{
	(void)state;
	for (size_t i = 0; i < NELEM(align_cases); i++) {
		const struct align_case	*c = &align_cases[i];

		if (dmarc_aligned(psl, c->mode, c->from, c->id) != c->ok)
			fail_msg("case %zu: %s vs %s", i, c->from,
			    c->id ? c->id : "(null)");
	}
}

struct eval_case {
	const char		*from;
	const char		*from_txt;	/* NULL: no answer */
	enum dmarc_dns		 from_st;
	const char		*org_txt;
	enum dmarc_dns		 org_st;
	enum dmarc_spf		 spf;
	const char		*spf_dom;
	enum dkim_result	 dkim;		/* DKIM_PENDING: no signature */
	const char		*dkim_dom;
	unsigned		 rnd;
	enum dmarc_result	 res;
	enum dmarc_disp		 disp;
	bool			 from_org;
};

#define R	"v=DMARC1; p=reject"
#define Q	"v=DMARC1; p=quarantine"

static const struct eval_case eval_cases[] = {
	/* no record anywhere, or none usable */
	{ "example.com", NULL, DMARC_DNS_NONE, NULL, DMARC_DNS_NONE,
	    DMARC_SPF_FAIL, "example.com", 0, NULL, 0, DMARC_RES_NONE, 0, 0 },
	{ "example.com", "v=spf1 -all", 0, NULL, DMARC_DNS_NONE,
	    DMARC_SPF_FAIL, "example.com", 0, NULL, 0, DMARC_RES_NONE, 0, 0 },
	/* pass by aligned SPF / DKIM */
	{ "example.com", R, 0, NULL, 0, DMARC_SPF_PASS, "mail.example.com",
	    0, NULL, 0, DMARC_RES_PASS, 0, 0 },
	{ "example.com", R "; aspf=s", 0, NULL, 0, DMARC_SPF_PASS,
	    "mail.example.com", DKIM_PASS, "example.com", 0, DMARC_RES_PASS,
	    0, 0 },
	/* fail: unaligned pass, or aligned but failed */
	{ "example.com", R "; aspf=s", 0, NULL, 0, DMARC_SPF_PASS,
	    "mail.example.com", 0, NULL, 0, DMARC_RES_FAIL, DMARC_DISP_REJECT,
	    0 },
	{ "example.com", R, 0, NULL, 0, DMARC_SPF_PASS, "evil.test",
	    DKIM_PASS, "evil.test", 0, DMARC_RES_FAIL, DMARC_DISP_REJECT, 0 },
	{ "example.com", Q, 0, NULL, 0, DMARC_SPF_SOFTFAIL, "example.com",
	    DKIM_FAIL, "example.com", 0, DMARC_RES_FAIL,
	    DMARC_DISP_QUARANTINE, 0 },
	/* subdomain: the org record's sp=, default p */
	{ "a.example.com", NULL, DMARC_DNS_NONE, R "; sp=quarantine", 0,
	    DMARC_SPF_FAIL, "a.example.com", 0, NULL, 0, DMARC_RES_FAIL,
	    DMARC_DISP_QUARANTINE, 1 },
	{ "a.example.com", NULL, DMARC_DNS_NONE, Q, 0, DMARC_SPF_FAIL,
	    "a.example.com", 0, NULL, 0, DMARC_RES_FAIL,
	    DMARC_DISP_QUARANTINE, 1 },
	/* subdomain with its own record: p=, sp= ignored */
	{ "a.example.com", R "; sp=none", 0, Q, 0, DMARC_SPF_FAIL,
	    "a.example.com", 0, NULL, 0, DMARC_RES_FAIL, DMARC_DISP_REJECT, 0 },
	/* pct: sampled in, sampled out (one step less strict) */
	{ "example.com", R "; pct=50", 0, NULL, 0, DMARC_SPF_FAIL,
	    "example.com", 0, NULL, 49, DMARC_RES_FAIL, DMARC_DISP_REJECT, 0 },
	{ "example.com", R "; pct=50", 0, NULL, 0, DMARC_SPF_FAIL,
	    "example.com", 0, NULL, 50, DMARC_RES_FAIL,
	    DMARC_DISP_QUARANTINE, 0 },
	{ "example.com", Q "; pct=0", 0, NULL, 0, DMARC_SPF_FAIL,
	    "example.com", 0, NULL, 0, DMARC_RES_FAIL, DMARC_DISP_NONE, 0 },
	/* 6.6.3 fallback: acts as p=none */
	{ "example.com", "v=DMARC1; p=bad; rua=mailto:r@example.com", 0,
	    NULL, 0, DMARC_SPF_FAIL, "example.com", 0, NULL, 0,
	    DMARC_RES_FAIL, DMARC_DISP_NONE, 0 },
	/* errors */
	{ "example.com", NULL, DMARC_DNS_TEMP, NULL, 0, DMARC_SPF_PASS,
	    "example.com", 0, NULL, 0, DMARC_RES_TEMPERROR, 0, 0 },
	{ "a.example.com", NULL, DMARC_DNS_NONE, NULL, DMARC_DNS_TEMP,
	    DMARC_SPF_PASS, "example.com", 0, NULL, 0, DMARC_RES_TEMPERROR,
	    0, 0 },
	{ "example.com", R "; pct=200", 0, NULL, 0, DMARC_SPF_FAIL,
	    "example.com", 0, NULL, 0, DMARC_RES_PERMERROR, 0, 0 },
	{ "example.com", "v=DMARC1; p=bad", 0, NULL, 0, DMARC_SPF_FAIL,
	    "example.com", 0, NULL, 0, DMARC_RES_PERMERROR, 0, 0 },
	{ "example.com", R, 0, NULL, 0, DMARC_SPF_TEMPERROR, "example.com",
	    DKIM_FAIL, "example.com", 0, DMARC_RES_TEMPERROR, 0, 0 },
	{ "example.com", R, 0, NULL, 0, DMARC_SPF_FAIL, "example.com",
	    DKIM_TEMPERROR, "other.test", 0, DMARC_RES_FAIL,
	    DMARC_DISP_REJECT, 0 },
	{ "bad..domain", R, 0, NULL, 0, DMARC_SPF_PASS, "x.test", 0, NULL,
	    0, DMARC_RES_PERMERROR, 0, 0 },
};

static void
test_evaluate_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < NELEM(eval_cases); i++) {
		const struct eval_case	*c = &eval_cases[i];
		const char		*ft[1] = { c->from_txt };
		const char		*ot[1] = { c->org_txt };
		struct dmarc_dkim	 k = { c->dkim_dom, c->dkim };
		struct dmarc_input	 in;
		struct dmarc_output	 out;

		memset(&in, 0, sizeof(in));
		in.from_domain = c->from;
		in.spf = c->spf;
		in.spf_domain = c->spf_dom;
		in.dkim = &k;
		in.ndkim = c->dkim_dom != NULL;
		in.from_rr = (struct dmarc_rrset){ c->from_st, ft, NULL,
		    c->from_txt != NULL };
		in.org_rr = (struct dmarc_rrset){ c->org_st, ot, NULL,
		    c->org_txt != NULL };
		in.pct_rand = c->rnd;
		in.psl = psl;
		dmarc_evaluate(&in, &out);
		if (out.result != c->res || out.disposition != c->disp ||
		    out.from_org != c->from_org)
			fail_msg("case %zu: got %s/%s/%d want %s/%s/%d", i,
			    dmarc_result_str(out.result),
			    dmarc_disp_str(out.disposition), out.from_org,
			    dmarc_result_str(c->res), dmarc_disp_str(c->disp),
			    c->from_org);
	}
}

static void
test_evaluate_discovery(void **state)
{
	const char		*two[] = { R, "v=DMARC1; p=none" };
	const char		*mixed[] = { "v=spf1 -all", Q, "hello" };
	struct dmarc_dkim	 k[2] = { { "other.test", DKIM_PASS },
				    { "Mail.Example.COM", DKIM_PASS } };
	struct dmarc_input	 in;
	struct dmarc_output	 out;

	(void)state;
	memset(&in, 0, sizeof(in));
	in.from_domain = "a.example.com";
	in.psl = psl;
	/* several records at the From domain: none, no fallback to org */
	in.from_rr = (struct dmarc_rrset){ DMARC_DNS_OK, two, NULL, 2 };
	in.org_rr = (struct dmarc_rrset){ DMARC_DNS_OK, mixed, NULL, 3 };
	dmarc_evaluate(&in, &out);
	assert_int_equal(out.result, DMARC_RES_NONE);
	/* non-DMARC answers are discarded; the org's single record used */
	in.from_rr = (struct dmarc_rrset){ DMARC_DNS_OK, mixed, NULL, 1 };
	dmarc_evaluate(&in, &out);
	assert_int_equal(out.result, DMARC_RES_FAIL);
	assert_true(out.from_org);
	assert_string_equal(out.org_domain, "example.com");
	assert_int_equal(out.disposition, DMARC_DISP_QUARANTINE);
	/* the second DKIM signature is aligned (relaxed) */
	in.dkim = k;
	in.ndkim = 2;
	dmarc_evaluate(&in, &out);
	assert_int_equal(out.result, DMARC_RES_PASS);
	assert_true(out.dkim_aligned);
	assert_false(out.spf_aligned);
	assert_int_equal(out.disposition, DMARC_DISP_NONE);
	/* several records at the org domain: none */
	in.from_rr.status = DMARC_DNS_NONE;
	in.org_rr = (struct dmarc_rrset){ DMARC_DNS_OK, two, NULL, 2 };
	dmarc_evaluate(&in, &out);
	assert_int_equal(out.result, DMARC_RES_NONE);
	/* explicit lengths */
	{
		static const size_t	 lens[] = { 18 };
		const char		*t[] = { R "; garbage after len" };

		in.from_rr = (struct dmarc_rrset){ DMARC_DNS_OK, t, lens, 1 };
		in.dkim = NULL;
		in.ndkim = 0;
		dmarc_evaluate(&in, &out);
		assert_int_equal(out.result, DMARC_RES_FAIL);
		assert_int_equal(out.disposition, DMARC_DISP_REJECT);
	}
}

struct from_case {
	const char		*msg;
	enum dmarc_from_res	 res;
	const char		*domain;
	size_t			 naddr;
};

static const struct from_case from_cases[] = {
	{ "From: a@example.com\r\n\r\nbody", DMARC_FROM_OK, "example.com", 1 },
	{ "from:Alice <alice@Mail.Example.COM>\r\n", DMARC_FROM_OK,
	    "mail.example.com", 1 },
	{ "Subject: x\r\nFrom: \"Doe, John\" <j@example.org> (comment, "
	    "with @ and <>)\r\nTo: b@c.test\r\n\r\n", DMARC_FROM_OK,
	    "example.org", 1 },
	{ "From: \"a@evil.test\"@example.net\r\n", DMARC_FROM_OK,
	    "example.net", 1 },
	{ "From: (x) Bob\r\n <b@example.com>\r\n", DMARC_FROM_OK,
	    "example.com", 1 },
	{ "From: <@relay.test,@r2.test:u@example.com>\r\n", DMARC_FROM_OK,
	    "example.com", 1 },
	{ "From: team: a@example.com;\r\n", DMARC_FROM_OK, "example.com", 1 },
	{ "From: a@xn--bcher-kva.example\r\n", DMARC_FROM_OK,
	    "xn--bcher-kva.example", 1 },
	/* 6.6.1: several addresses, several fields, none */
	{ "From: a@example.com, b@example.org\r\n", DMARC_FROM_MULTI_ADDR,
	    NULL, 2 },
	{ "From: grp: a@x.test, b@y.test;, c@z.test\r\n",
	    DMARC_FROM_MULTI_ADDR, NULL, 3 },
	{ "From: a@example.com\r\nFROM: b@example.com\r\n",
	    DMARC_FROM_MULTI_FIELD, NULL, 0 },
	{ "To: a@example.com\r\n\r\nFrom: x@y.test\r\n", DMARC_FROM_MISSING,
	    NULL, 0 },
	{ "", DMARC_FROM_MISSING, NULL, 0 },
	/* no usable domain */
	{ "From: alice\r\n", DMARC_FROM_NO_DOMAIN, NULL, 0 },
	{ "From: a@[192.0.2.1]\r\n", DMARC_FROM_NO_DOMAIN, NULL, 0 },
	{ "From: a@\r\n", DMARC_FROM_NO_DOMAIN, NULL, 0 },
	{ "From: a@exa_mple..com\r\n", DMARC_FROM_NO_DOMAIN, NULL, 0 },
	{ "From: @example.com\r\n", DMARC_FROM_NO_DOMAIN, NULL, 0 },
	/* syntax */
	{ "From:\r\n", DMARC_FROM_SYNTAX, NULL, 0 },
	{ "From: undisclosed:;\r\n", DMARC_FROM_SYNTAX, NULL, 0 },
	{ "From: <a@example.com\r\n", DMARC_FROM_SYNTAX, NULL, 0 },
	{ "From: <a@example.com> x\r\n", DMARC_FROM_SYNTAX, NULL, 0 },
	{ "From: a@example.com (open\r\n", DMARC_FROM_SYNTAX, NULL, 0 },
	{ "From: \"open@example.com\r\n", DMARC_FROM_SYNTAX, NULL, 0 },
	{ "From: <<a@example.com>>\r\n", DMARC_FROM_SYNTAX, NULL, 0 },
	{ " From: a@example.com\r\n", DMARC_FROM_SYNTAX, NULL, 0 },
	{ "NoColon\r\n", DMARC_FROM_SYNTAX, NULL, 0 },
};

static void
test_from_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < NELEM(from_cases); i++) {
		const struct from_case	*c = &from_cases[i];
		struct dmarc_from	 f;
		enum dmarc_from_res	 r;

		r = dmarc_from_extract(c->msg, strlen(c->msg), &f);
		if (r != c->res)
			fail_msg("case %zu: got %s want %s", i,
			    dmarc_from_res_str(r), dmarc_from_res_str(c->res));
		if (c->domain != NULL)
			assert_string_equal(f.domain, c->domain);
		if (c->naddr > 0)
			assert_int_equal(f.naddr, c->naddr);
	}
}

static void
test_from_multi_domains(void **state)
{
	static const char	 m[] = "From: a@one.test, B <b@Two.test>, "
	    "c@3.test, d@4.test, e@5.test, f@6.test, g@7.test, h@8.test, "
	    "i@9.test\r\n\r\n";
	struct dmarc_from	 f;

	(void)state;
	assert_int_equal(dmarc_from_extract(m, strlen(m), &f),
	    DMARC_FROM_MULTI_ADDR);
	assert_int_equal(f.naddr, 9);
	assert_int_equal(f.ndomain, DMARC_FROM_MAX);
	assert_true(f.more);		/* i@9.test is not kept */
	assert_string_equal(f.domains[0], "one.test");
	assert_string_equal(f.domains[1], "two.test");
	assert_string_equal(f.domains[7], "8.test");
	assert_string_equal(f.domain, "");
}

/*
 * Every author domain, whichever field or place it is in: a second
 * author, a second From field or a broken neighbour must not hide one
 * (a reader may show it; RFC 7489 6.6.1).
 */
static const struct {
	const char		*msg;
	enum dmarc_from_res	 res;
	const char		*domains;	/* ","-joined, in order */
	size_t			 naddr;
} author_cases[] = {
	{ "From: Bad <spoof@example.org>, Test <test@example.com>\r\n",
	    DMARC_FROM_MULTI_ADDR, "example.org,example.com", 2 },
	{ "From: Test <test@example.com>, Bad <spoof@example.org>\r\n",
	    DMARC_FROM_MULTI_ADDR, "example.com,example.org", 2 },
	{ "From: Bad <spoof@example.org>\r\nFrom: Test <test@example.com>"
	    "\r\n\r\n", DMARC_FROM_MULTI_FIELD, "example.org,example.com",
	    2 },
	{ "From: Test <test@example.com>\r\nSubject: x\r\nfrom: Bad "
	    "<spoof@example.org>\r\n", DMARC_FROM_MULTI_FIELD,
	    "example.com,example.org", 2 },
	{ "From: a@x.test\r\nFrom: <broken\r\nFrom: b@Y.test\r\n",
	    DMARC_FROM_MULTI_FIELD, "x.test,y.test", 2 },
	{ "From: a@Example.com, b@example.COM, c@example.com\r\n",
	    DMARC_FROM_MULTI_ADDR, "example.com", 3 },
	{ "From: grp: a@x.test;, b@y.test\r\n", DMARC_FROM_MULTI_ADDR,
	    "x.test,y.test", 2 },
	{ "From: a@example.com, alice\r\n", DMARC_FROM_NO_DOMAIN,
	    "example.com", 1 },
	{ "From: alice, a@example.com\r\n", DMARC_FROM_NO_DOMAIN,
	    "example.com", 1 },
	{ "From: a@[192.0.2.1], b@example.com\r\n", DMARC_FROM_NO_DOMAIN,
	    "example.com", 1 },
	{ "From: a@example.com, <b@example.org\r\n", DMARC_FROM_SYNTAX,
	    "example.com,example.org", 2 },
	{ "From: a@example.com, <<b@example.org>\r\n", DMARC_FROM_SYNTAX,
	    "example.com", 1 },
	{ "From: alice\r\nFrom: a@[192.0.2.1]\r\n", DMARC_FROM_MULTI_FIELD,
	    "", 0 },
};

static void
test_from_authors(void **state)
{
	(void)state;
	for (size_t i = 0; i < NELEM(author_cases); i++) {
		struct dmarc_from	 f;
		char			 got[512] = "";
		enum dmarc_from_res	 r;

		r = dmarc_from_extract(author_cases[i].msg,
		    strlen(author_cases[i].msg), &f);
		for (size_t k = 0; k < f.ndomain; k++)
			snprintf(got + strlen(got), sizeof(got) - strlen(got),
			    "%s%s", k > 0 ? "," : "", f.domains[k]);
		if (r != author_cases[i].res ||
		    strcmp(got, author_cases[i].domains) != 0 ||
		    f.naddr != author_cases[i].naddr || f.more)
			fail_msg("case %zu: %s [%s] %zu", i,
			    dmarc_from_res_str(r), got, f.naddr);
	}
}

/* 6.6.1: the strictest failing policy decides; then the worst result. */
static void
test_stricter(void **state)
{
	static const struct {
		enum dmarc_result	 res;
		enum dmarc_disp		 dis;
	} order[] = {			/* strictest first */
		{ DMARC_RES_FAIL, DMARC_DISP_REJECT },
		{ DMARC_RES_FAIL, DMARC_DISP_QUARANTINE },
		{ DMARC_RES_FAIL, DMARC_DISP_NONE },
		{ DMARC_RES_TEMPERROR, DMARC_DISP_NONE },
		{ DMARC_RES_PERMERROR, DMARC_DISP_NONE },
		{ DMARC_RES_NONE, DMARC_DISP_NONE },
		{ DMARC_RES_PASS, DMARC_DISP_NONE },
	};
	struct dmarc_output	 a, b;

	(void)state;
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	for (size_t i = 0; i < NELEM(order); i++)
		for (size_t k = 0; k < NELEM(order); k++) {
			a.result = order[i].res;
			a.disposition = order[i].dis;
			b.result = order[k].res;
			b.disposition = order[k].dis;
			if (dmarc_stricter(&a, &b) != (i < k))
				fail_msg("%zu vs %zu", i, k);
		}
}

int
main(void)
{
	const struct CMUnitTest	 tests[] = {
		cmocka_unit_test(test_record_table),
		cmocka_unit_test(test_record_fields),
		cmocka_unit_test(test_org_domain),
		cmocka_unit_test(test_org_domain_system),
		cmocka_unit_test(test_alignment),
		cmocka_unit_test(test_evaluate_table),
		cmocka_unit_test(test_evaluate_discovery),
		cmocka_unit_test(test_from_table),
		cmocka_unit_test(test_from_multi_domains),
		cmocka_unit_test(test_from_authors),
		cmocka_unit_test(test_stricter),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
