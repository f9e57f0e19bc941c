/*
 * test_dkim.c - cmocka tests for src/dkim.c, dkim_verify.c and
 * dkim_key.c: tag lists, canonicalization (with RFC 6376 3.4.5),
 * header selection, sign and verify round trips for RSA and Ed25519,
 * and each way a signature must fail or be refused (tampering, l=, x=,
 * t=, revoked keys, rsa-sha1, short RSA keys, key record constraints).
 * Keys are generated once per run; key lookups are a table, no DNS.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "lib/base64.h"
#include "lib/buf.h"
#include "auth/dkim.h"
#include "lib/util.h"

#define NOW	1700000000LL

static const char msg_text[] =
    "From: Alice <alice@example.test>\r\n"
    "To: bob@example.org\r\n"
    "Subject: hello  there\r\n"
    "Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"
    "Message-ID: <t1@example.test>\r\n"
    "\r\n"
    "Hi Bob,  \r\n"
    "\tthis is  a test.\r\n"
    "\r\n"
    "\r\n";

static struct dkim_key	*rsa_key, *ed_key;

/* What the fake lookup answers. */
struct answer {
	enum dkim_lookup	 st;
	const char		*rec;		/* NULL: the key's own record */
	const struct dkim_key	*key;
	const char		*extra;		/* appended to the own record */
};

static enum dkim_lookup	 lookup(void *, const char *, const char *,
			    struct buf *);
static char		*sign_msg(const char *, const struct dkim_sign_opts *);
static void		 opts_for(struct dkim_sign_opts *,
			    const struct dkim_key *);
static enum dkim_result	 verify1(const char *, struct answer *, char *,
			    size_t);
static char		*replace(const char *, const char *, const char *);
static void		 canon_h(enum dkim_canon, const char *, const char *);
static void		 canon_b(enum dkim_canon, const char *, const char *);

static int
setup(void **state)
{
	(void)state;
	if (dkim_key_generate(DKIM_KEY_RSA, 2048, &rsa_key) == -1 ||
	    dkim_key_generate(DKIM_KEY_ED25519, 0, &ed_key) == -1)
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	dkim_key_free(rsa_key);
	dkim_key_free(ed_key);
	return 0;
}

static enum dkim_lookup
lookup(void *arg, const char *selector, const char *domain, struct buf *rec)
{
	struct answer	*a = arg;

	assert_string_equal(selector, "sel");
	assert_string_equal(domain, "example.test");
	if (a->st != DKIM_LOOKUP_OK)
		return a->st;
	if (a->rec != NULL)
		buf_puts(rec, a->rec);
	else {
		assert_int_equal(dkim_key_record(a->key, rec), 0);
		if (a->extra != NULL)
			buf_puts(rec, a->extra);
	}
	return DKIM_LOOKUP_OK;
}

static void
opts_for(struct dkim_sign_opts *o, const struct dkim_key *key)
{
	memset(o, 0, sizeof(*o));
	o->domain = "example.test";
	o->selector = "sel";
	o->key = key;
	o->now = NOW;
}

/* sign_msg - the signature field followed by m; caller frees. */
static char *
sign_msg(const char *m, const struct dkim_sign_opts *o)
{
	struct buf	 b;
	char		 err[128];

	buf_init(&b, 0);
	assert_int_equal(dkim_sign(m, strlen(m), o, &b, err, sizeof(err)), 0);
	buf_puts(&b, m);
	return buf_steal(&b, NULL);
}

/* verify1 - verify a message with exactly one signature. */
static enum dkim_result
verify1(const char *m, struct answer *a, char *reason, size_t size)
{
	struct dkim_verify	 v;
	enum dkim_result	 r;
	char			 err[128];

	assert_int_equal(dkim_verify(&v, m, strlen(m), NOW + 60, lookup, a,
	    err, sizeof(err)), 0);
	assert_int_equal(v.nsig, 1);
	r = v.sig[0].result;
	if (reason != NULL)
		str_copy(reason, v.sig[0].reason, size);
	dkim_verify_free(&v);
	return r;
}

/* replace - m with the first "from" replaced by "to"; caller frees. */
static char *
replace(const char *m, const char *from, const char *to)
{
	const char	*p = strstr(m, from);
	struct buf	 b;

	assert_non_null(p);
	buf_init(&b, 0);
	buf_append(&b, m, (size_t)(p - m));
	buf_puts(&b, to);
	buf_puts(&b, p + strlen(from));
	return buf_steal(&b, NULL);
}

/* ---- tag lists ---- */

static void
test_tags_good(void **state)
{
	static const char	 s[] = " v=1; a=rsa-sha256;\r\n\tb=abc\r\n def"
	    " ; h = from : to ;  e=; x_1=a=b ";
	struct dkim_tags	 t;
	const struct dkim_tag	*g;

	(void)state;
	assert_int_equal(dkim_tags_parse(s, sizeof(s) - 1, &t), DKIM_TAGS_OK);
	assert_int_equal(t.n, 6);
	g = dkim_tags_find(&t, "b");
	assert_non_null(g);
	assert_int_equal(g->valuelen, 9);
	assert_memory_equal(g->value, "abc\r\n def", 9);
	g = dkim_tags_find(&t, "h");
	assert_int_equal(g->valuelen, 9);
	assert_memory_equal(g->value, "from : to", 9);
	assert_int_equal(*g->end, ';');
	g = dkim_tags_find(&t, "e");
	assert_int_equal(g->valuelen, 0);
	g = dkim_tags_find(&t, "x_1");
	assert_int_equal(g->valuelen, 3);
	assert_null(dkim_tags_find(&t, "V"));	/* names are case-sensitive */
	assert_int_equal(dkim_tags_parse("a=1;", 4, &t), DKIM_TAGS_OK);
	assert_int_equal(t.n, 1);
}

static void
test_tags_bad(void **state)
{
	static const struct {
		const char		*s;
		enum dkim_tags_err	 e;
	} cases[] = {
		{ "", DKIM_TAGS_SYNTAX },
		{ "  ", DKIM_TAGS_SYNTAX },
		{ ";", DKIM_TAGS_SYNTAX },
		{ "a", DKIM_TAGS_SYNTAX },
		{ "a=1;;", DKIM_TAGS_SYNTAX },
		{ "a=1;;b=2", DKIM_TAGS_SYNTAX },
		{ "1a=2", DKIM_TAGS_SYNTAX },
		{ "_a=2", DKIM_TAGS_SYNTAX },
		{ "=2", DKIM_TAGS_SYNTAX },
		{ "a-b=2", DKIM_TAGS_SYNTAX },
		{ "a=\x01", DKIM_TAGS_SYNTAX },
		{ "a=\x80", DKIM_TAGS_SYNTAX },
		{ "a=1\r\nb=2", DKIM_TAGS_SYNTAX },
		{ "a=1\r\n", DKIM_TAGS_SYNTAX },
		{ "a=1\n b=2", DKIM_TAGS_SYNTAX },
		{ "a=1 b; c=2", DKIM_TAGS_OK },
		{ "a b=1", DKIM_TAGS_SYNTAX },
		{ "a=1; a=2", DKIM_TAGS_DUP },
	};
	struct dkim_tags	 t;
	struct buf		 many;

	(void)state;
	for (size_t i = 0; i < NELEM(cases); i++) {
		enum dkim_tags_err	 e;

		e = dkim_tags_parse(cases[i].s, strlen(cases[i].s), &t);
		if (e != cases[i].e)
			fail_msg("case %zu \"%s\": got %d", i, cases[i].s, e);
		if (e != DKIM_TAGS_OK)
			assert_int_equal(t.n, 0);
	}
	/* a NUL inside is just a bad byte */
	assert_int_equal(dkim_tags_parse("a=b\0c", 5, &t), DKIM_TAGS_SYNTAX);
	buf_init(&many, 0);
	for (int i = 0; i <= DKIM_TAGS_MAX; i++)
		buf_printf(&many, "t%d=%d;", i, i);
	assert_int_equal(dkim_tags_parse(many.data, many.len, &t),
	    DKIM_TAGS_MANY);
	buf_free(&many);
}

/* ---- canonicalization ---- */

static void
canon_h(enum dkim_canon c, const char *in, const char *want)
{
	struct buf	 b;

	buf_init(&b, 0);
	assert_int_equal(dkim_canon_header(c, in, strlen(in), &b), 0);
	assert_string_equal(b.data, want);
	buf_free(&b);
}

static void
canon_b(enum dkim_canon c, const char *in, const char *want)
{
	struct buf	 b;

	buf_init(&b, 0);
	assert_int_equal(dkim_canon_body(c, in, strlen(in), &b), 0);
	assert_string_equal(b.data != NULL ? b.data : "", want);
	buf_free(&b);
}

/* RFC 6376 3.4.5, both canonicalizations, through dkim_msg_parse. */
static void
test_canon_rfc_example(void **state)
{
	static const char	 m[] = "A: X\r\nB : Y\t\r\n\tZ  \r\n\r\n"
	    " C \r\nD \t E\r\n\r\n\r\n";
	struct dkim_msg		 msg;
	struct buf		 b;
	static const char *const names[] = { "a", "b" };

	(void)state;
	assert_int_equal(dkim_msg_parse(m, sizeof(m) - 1, &msg), 0);
	assert_int_equal(msg.nhdr, 2);
	buf_init(&b, 0);
	assert_int_equal(dkim_select_headers(&msg, DKIM_CANON_RELAXED, names,
	    2, &b), 0);
	assert_string_equal(b.data, "a:X\r\nb:Y Z\r\n");
	buf_reset(&b);
	assert_int_equal(dkim_select_headers(&msg, DKIM_CANON_SIMPLE, names,
	    2, &b), 0);
	assert_string_equal(b.data, "A: X\r\nB : Y\t\r\n\tZ  \r\n");
	buf_reset(&b);
	assert_int_equal(dkim_canon_body(DKIM_CANON_RELAXED, msg.body,
	    msg.bodylen, &b), 0);
	assert_string_equal(b.data, " C\r\nD E\r\n");
	buf_reset(&b);
	assert_int_equal(dkim_canon_body(DKIM_CANON_SIMPLE, msg.body,
	    msg.bodylen, &b), 0);
	assert_string_equal(b.data, " C \r\nD \t E\r\n");
	buf_free(&b);
	dkim_msg_free(&msg);
}

static void
test_canon_vectors(void **state)
{
	(void)state;
	canon_h(DKIM_CANON_RELAXED, "SUBJect:   a \t b  ", "subject:a b\r\n");
	canon_h(DKIM_CANON_RELAXED, "X:", "x:\r\n");
	canon_h(DKIM_CANON_RELAXED, "X: \r\n\t", "x:\r\n");
	canon_h(DKIM_CANON_RELAXED, "X: a\r\n b\r\n\tc", "x:a b c\r\n");
	canon_h(DKIM_CANON_SIMPLE, "X: a\r\n b", "X: a\r\n b\r\n");
	canon_b(DKIM_CANON_SIMPLE, "", "\r\n");
	canon_b(DKIM_CANON_RELAXED, "", "");
	canon_b(DKIM_CANON_SIMPLE, "\r\n\r\n", "\r\n");
	canon_b(DKIM_CANON_RELAXED, " \r\n\t\r\n", "");
	canon_b(DKIM_CANON_SIMPLE, " \r\n\t\r\n", " \r\n\t\r\n");
	canon_b(DKIM_CANON_SIMPLE, "a", "a\r\n");
	canon_b(DKIM_CANON_RELAXED, "a  b \t", "a b\r\n");
	canon_b(DKIM_CANON_RELAXED, "a\r\n\r\nb\r\n\r\n", "a\r\n\r\nb\r\n");
	canon_b(DKIM_CANON_SIMPLE, "a\rb\nc\r\n", "a\rb\nc\r\n");
}

static void
test_msg_parse(void **state)
{
	static const char *const bad[] = {
		" X: continuation first\r\n\r\n",
		"no colon here\r\n\r\n",
		": empty name\r\n\r\n",
		"Bad Name: x\r\n\r\n",
	};
	struct dkim_msg		 m;
	static const char	 nobody[] = "A: 1\r\nB: 2";

	(void)state;
	for (size_t i = 0; i < NELEM(bad); i++) {
		assert_int_equal(dkim_msg_parse(bad[i], strlen(bad[i]), &m),
		    -1);
		dkim_msg_free(&m);
	}
	assert_int_equal(dkim_msg_parse(nobody, sizeof(nobody) - 1, &m), 0);
	assert_int_equal(m.nhdr, 2);
	assert_int_equal(m.bodylen, 0);
	assert_int_equal(m.hdr[1].rawlen, 4);
	dkim_msg_free(&m);
}

/* Repeated names are taken bottom-up; a name with none left adds
 * nothing (so an oversigned header adds nothing either). */
static void
test_select_bottom_up(void **state)
{
	static const char	 m[] = "Received: 1\r\nX: top\r\nReceived: 2\r\n"
	    "x: bottom\r\n\r\n";
	static const char *const names[] = { "x", "received", "X", "x",
		"nope", "received", "received" };
	struct dkim_msg		 msg;
	struct buf		 b;

	(void)state;
	assert_int_equal(dkim_msg_parse(m, sizeof(m) - 1, &msg), 0);
	buf_init(&b, 0);
	assert_int_equal(dkim_select_headers(&msg, DKIM_CANON_SIMPLE, names,
	    NELEM(names), &b), 0);
	assert_string_equal(b.data, "x: bottom\r\nReceived: 2\r\nX: top\r\n"
	    "Received: 1\r\n");
	buf_free(&b);
	dkim_msg_free(&msg);
}

static void
test_names_and_b64(void **state)
{
	unsigned char	*p;
	size_t		 n;

	(void)state;
	assert_true(dkim_name_is_valid("example.test", 12));
	assert_true(dkim_name_is_valid("s_1-x", 5));
	assert_false(dkim_name_is_valid("", 0));
	assert_false(dkim_name_is_valid("a..b", 4));
	assert_false(dkim_name_is_valid(".a", 2));
	assert_false(dkim_name_is_valid("a.", 2));
	assert_false(dkim_name_is_valid("a/b", 3));
	assert_false(dkim_name_is_valid("..", 2));
	assert_int_equal(base64_decode_alloc("aGk=", 4, BASE64_FWS, &p, &n), 0);
	assert_int_equal(n, 2);
	assert_memory_equal(p, "hi", 2);
	free(p);
	assert_int_equal(base64_decode_alloc(" aG\r\n\tk h=", 10, BASE64_FWS, &p, &n), -1);
	assert_int_equal(base64_decode_alloc("aGkh", 4, BASE64_FWS, &p, &n), 0);
	assert_int_equal(n, 3);
	free(p);
	assert_int_equal(base64_decode_alloc("a G\r\n\tk  =", 10, BASE64_FWS, &p, &n), 0);
	assert_int_equal(n, 2);
	free(p);
	assert_int_equal(base64_decode_alloc("aGk", 3, BASE64_FWS, &p, &n), -1);
	assert_int_equal(base64_decode_alloc("aG==k=", 6, BASE64_FWS, &p, &n), -1);
	assert_int_equal(base64_decode_alloc("a===", 4, BASE64_FWS, &p, &n), -1);
	assert_int_equal(base64_decode_alloc("a*k=", 4, BASE64_FWS, &p, &n), -1);
}

/* ---- keys ---- */

static void
test_key_pem(void **state)
{
	struct dkim_key	*k;
	struct buf	 pem, r1, r2;
	char		 err[128];

	(void)state;
	buf_init(&pem, 0);
	buf_init(&r1, 0);
	buf_init(&r2, 0);
	assert_int_equal(dkim_key_private_pem(ed_key, &pem), 0);
	assert_int_equal(dkim_key_load_pem(pem.data, pem.len, &k, err,
	    sizeof(err)), 0);
	assert_int_equal(dkim_key_type(k), DKIM_KEY_ED25519);
	dkim_key_record(ed_key, &r1);
	dkim_key_record(k, &r2);
	assert_string_equal(r1.data, r2.data);
	assert_true(strncmp(r1.data, "v=DKIM1; k=ed25519; p=", 22) == 0);
	dkim_key_free(k);
	buf_reset(&pem);
	assert_int_equal(dkim_key_private_pem(rsa_key, &pem), 0);
	assert_int_equal(dkim_key_load_pem(pem.data, pem.len, &k, err,
	    sizeof(err)), 0);
	assert_int_equal(dkim_key_bits(k), 2048);
	dkim_key_free(k);
	assert_int_equal(dkim_key_load_pem("junk", 4, &k, err, sizeof(err)),
	    -1);
	assert_null(k);
	buf_free(&pem);
	buf_free(&r1);
	buf_free(&r2);
}

/* ---- sign and verify ---- */

static void
test_round_trip(void **state)
{
	static const enum dkim_canon	 canons[][2] = {
		{ DKIM_CANON_RELAXED, DKIM_CANON_RELAXED },
		{ DKIM_CANON_SIMPLE, DKIM_CANON_SIMPLE },
		{ DKIM_CANON_RELAXED, DKIM_CANON_SIMPLE },
		{ DKIM_CANON_SIMPLE, DKIM_CANON_RELAXED },
	};
	const struct dkim_key		*keys[] = { rsa_key, ed_key };
	struct dkim_sign_opts		 o;
	char				*m, reason[96];

	(void)state;
	for (size_t k = 0; k < NELEM(keys); k++)
		for (size_t c = 0; c < NELEM(canons); c++) {
			struct answer	 a = { DKIM_LOOKUP_OK, NULL, keys[k],
			    NULL };

			opts_for(&o, keys[k]);
			o.hcanon = canons[c][0];
			o.bcanon = canons[c][1];
			m = sign_msg(msg_text, &o);
			if (verify1(m, &a, reason, sizeof(reason)) !=
			    DKIM_PASS)
				fail_msg("key %zu canon %zu: %s", k, c, reason);
			free(m);
		}
}

static void
test_sign_header_shape(void **state)
{
	struct dkim_sign_opts	 o;
	char			*m, *end, *p;

	(void)state;
	opts_for(&o, rsa_key);
	m = sign_msg(msg_text, &o);
	assert_true(strncmp(m, "DKIM-Signature: v=1; a=rsa-sha256; "
	    "c=relaxed/relaxed; d=example.test; s=sel;", 58) == 0);
	end = strstr(m, "\r\nFrom:");
	assert_non_null(end);
	for (p = m; p < end;) {
		char	*eol = strstr(p, "\r\n");

		assert_true(eol - p <= 78);
		p = eol + 2;
	}
	*end = '\0';
	/* From oversigned, absent fields not listed */
	assert_non_null(strstr(m, "h=from:from:subject:subject:date:date:to:"));
	assert_null(strstr(m, "cc:"));
	assert_non_null(strstr(m, "t=1700000000;"));
	free(m);
}

static void
test_tamper(void **state)
{
	struct answer		 a = { DKIM_LOOKUP_OK, NULL, NULL, NULL };
	struct dkim_sign_opts	 o;
	char			*m, *t, reason[96];

	(void)state;
	for (int k = 0; k < 2; k++) {
		a.key = k == 0 ? rsa_key : ed_key;
		opts_for(&o, a.key);
		m = sign_msg(msg_text, &o);
		t = replace(m, "this is", "this was");
		assert_int_equal(verify1(t, &a, reason, sizeof(reason)),
		    DKIM_FAIL);
		assert_string_equal(reason, "body hash mismatch");
		free(t);
		t = replace(m, "hello  there", "hello there!");
		assert_int_equal(verify1(t, &a, reason, sizeof(reason)),
		    DKIM_FAIL);
		assert_string_equal(reason, "signature mismatch");
		free(t);
		/* relaxed: whitespace changes are fine */
		t = replace(m, "hello  there", "hello \t there");
		assert_int_equal(verify1(t, &a, NULL, 0), DKIM_PASS);
		free(t);
		/* an unsigned field may be added; a second From may not */
		t = replace(m, "\r\n\r\nHi", "\r\nX-Extra: 1\r\n\r\nHi");
		assert_int_equal(verify1(t, &a, NULL, 0), DKIM_PASS);
		free(t);
		t = replace(m, "\r\n\r\nHi", "\r\nFrom: evil@x.test\r\n\r\nHi");
		assert_int_equal(verify1(t, &a, NULL, 0), DKIM_FAIL);
		free(t);
		free(m);
	}
}

static void
test_body_length(void **state)
{
	struct answer		 a = { DKIM_LOOKUP_OK, NULL, NULL, NULL };
	struct dkim_sign_opts	 o;
	char			*m, *t, reason[96];

	(void)state;
	a.key = rsa_key;
	opts_for(&o, rsa_key);
	o.body_length = true;
	m = sign_msg(msg_text, &o);
	assert_non_null(strstr(m, "l=27;"));
	assert_int_equal(verify1(m, &a, NULL, 0), DKIM_PASS);
	/* text after the l= bytes is not covered (RFC 6376 8.2) */
	t = replace(m, "a test.\r\n\r\n\r\n", "a test.\r\nP.S. added\r\n");
	assert_int_equal(verify1(t, &a, NULL, 0), DKIM_PASS);
	free(t);
	t = replace(m, "this is", "this was");
	assert_int_equal(verify1(t, &a, reason, sizeof(reason)), DKIM_FAIL);
	free(t);
	t = replace(m, "\tthis is  a test.\r\n", "");
	assert_int_equal(verify1(t, &a, reason, sizeof(reason)), DKIM_FAIL);
	assert_string_equal(reason, "l= longer than the body");
	free(t);
	free(m);
}

/* Many signatures may not make the verifier hash the body many times:
 * at most DKIM_BODY_HASHES_MAX distinct (canonicalization, l=) pairs. */
static void
test_body_hash_limit(void **state)
{
	static const struct { enum dkim_canon c; bool l; } sigs[] = {
		{ DKIM_CANON_RELAXED, false }, { DKIM_CANON_SIMPLE, true },
		{ DKIM_CANON_RELAXED, true }, { DKIM_CANON_SIMPLE, false },
		{ DKIM_CANON_RELAXED, false },
	};
	struct answer		 a = { DKIM_LOOKUP_OK, NULL, NULL, NULL };
	struct dkim_sign_opts	 o;
	struct dkim_verify	 v;
	char			*m = strdup(msg_text), *t, err[128];
	size_t			 pass = 0, refused = 0;

	(void)state;
	a.key = rsa_key;
	for (size_t i = 0; i < NELEM(sigs); i++) {
		opts_for(&o, rsa_key);
		o.bcanon = sigs[i].c;
		o.body_length = sigs[i].l;
		o.now = NOW + (int64_t)i;
		t = sign_msg(m, &o);
		free(m);
		m = t;
	}
	assert_int_equal(dkim_verify(&v, m, strlen(m), NOW + 60, lookup, &a,
	    err, sizeof(err)), 0);
	assert_int_equal(v.nsig, NELEM(sigs));
	assert_int_equal(v.nbh, DKIM_BODY_HASHES_MAX);
	for (size_t i = 0; i < v.nsig; i++) {
		if (v.sig[i].result == DKIM_PASS)
			pass++;
		else if (v.sig[i].result == DKIM_POLICY &&
		    strcmp(v.sig[i].reason, "too many distinct body hashes") ==
		    0)
			refused++;
	}
	/* 4 distinct pairs: one refused; the repeated pair shares a hash */
	assert_int_equal(refused, 1);
	assert_int_equal(pass, NELEM(sigs) - 1);
	dkim_verify_free(&v);
	free(m);
}

static void
test_times(void **state)
{
	struct answer		 a = { DKIM_LOOKUP_OK, NULL, NULL, NULL };
	struct dkim_sign_opts	 o;
	char			*m, reason[96];

	(void)state;
	a.key = ed_key;
	opts_for(&o, ed_key);
	o.now = NOW - 1000;
	o.expire = NOW - 10;
	m = sign_msg(msg_text, &o);
	assert_int_equal(verify1(m, &a, reason, sizeof(reason)), DKIM_POLICY);
	assert_string_equal(reason, "signature expired");
	free(m);
	o.expire = NOW + 1000;
	m = sign_msg(msg_text, &o);
	assert_int_equal(verify1(m, &a, NULL, 0), DKIM_PASS);
	free(m);
	opts_for(&o, ed_key);
	o.now = NOW + 3600;
	m = sign_msg(msg_text, &o);
	assert_int_equal(verify1(m, &a, reason, sizeof(reason)), DKIM_POLICY);
	assert_string_equal(reason, "signature dated in the future");
	free(m);
}

static void
test_key_records(void **state)
{
	static const struct {
		const char		*rec;	/* NULL: the real one + extra */
		const char		*extra;
		enum dkim_result	 want;
		const char		*reason;
	} cases[] = {
		{ "v=DKIM1; k=rsa; p=", NULL, DKIM_PERMERROR, "key revoked" },
		{ "v=DKIM1; k=rsa", NULL, DKIM_PERMERROR,
		    "key record without p=" },
		{ "v=DKIM1; p=!!!!", NULL, DKIM_PERMERROR,
		    "unusable public key" },
		{ "p=MIIB; v=DKIM1", NULL, DKIM_PERMERROR,
		    "bad v= in key record" },
		{ "v=DKIM1; k=dsa; p=AAAA", NULL, DKIM_PERMERROR,
		    "unknown key type k=" },
		{ "v=DKIM1; k=ed25519; p=AAAA", NULL, DKIM_PERMERROR,
		    "key type does not match a=" },
		{ "not a tag list", NULL, DKIM_PERMERROR,
		    "malformed key record" },
		{ NULL, "; h=sha1", DKIM_PERMERROR,
		    "hash algorithm not allowed by key" },
		{ NULL, "; h=sha1:sha256", DKIM_PASS, "" },
		{ NULL, "; s=other", DKIM_PERMERROR,
		    "key not for email (s=)" },
		{ NULL, "; s=other:email", DKIM_PASS, "" },
		{ NULL, "; t=y:s; n=note; zz=ignored", DKIM_PASS, "" },
	};
	struct dkim_sign_opts	 o;
	char			*m, reason[96];

	(void)state;
	opts_for(&o, rsa_key);
	m = sign_msg(msg_text, &o);
	for (size_t i = 0; i < NELEM(cases); i++) {
		struct answer	 a = { DKIM_LOOKUP_OK, cases[i].rec, rsa_key,
		    cases[i].extra };
		enum dkim_result r = verify1(m, &a, reason, sizeof(reason));

		if (r != cases[i].want || strcmp(reason, cases[i].reason) != 0)
			fail_msg("case %zu: %s (%s)", i, dkim_verify_result_str(r),
			    reason);
	}
	free(m);
}

static void
test_lookup_errors_and_testing(void **state)
{
	struct answer		 a = { DKIM_LOOKUP_NONE, NULL, NULL, NULL };
	struct dkim_sign_opts	 o;
	struct dkim_verify	 v;
	char			*m, err[64], name[300];

	(void)state;
	opts_for(&o, ed_key);
	m = sign_msg(msg_text, &o);
	assert_int_equal(verify1(m, &a, NULL, 0), DKIM_PERMERROR);
	a.st = DKIM_LOOKUP_TEMP;
	assert_int_equal(verify1(m, &a, NULL, 0), DKIM_TEMPERROR);
	/* the asynchronous shape: begin, key names, answers */
	assert_int_equal(dkim_verify_begin(&v, m, strlen(m), NOW, err,
	    sizeof(err)), 0);
	assert_int_equal(v.nsig, 1);
	assert_true(dkim_verify_pending(&v, 0));
	dkim_verify_keyname(&v, 0, name, sizeof(name));
	assert_string_equal(name, "sel._domainkey.example.test");
	dkim_verify_key(&v, 0, DKIM_LOOKUP_OK, "v=DKIM1; k=ed25519; t=y; p=",
	    27);
	assert_int_equal(v.sig[0].result, DKIM_PERMERROR);
	assert_true(v.sig[0].testing);
	assert_false(dkim_verify_pending(&v, 0));
	dkim_verify_key(&v, 0, DKIM_LOOKUP_TEMP, NULL, 0);	/* ignored */
	assert_int_equal(v.sig[0].result, DKIM_PERMERROR);
	dkim_verify_free(&v);
	free(m);
}

static void
test_refused_algorithms(void **state)
{
	struct answer		 a = { DKIM_LOOKUP_OK, NULL, NULL, NULL };
	struct dkim_sign_opts	 o;
	struct dkim_key		*shortkey;
	char			*m, *t, reason[96];

	(void)state;
	opts_for(&o, rsa_key);
	a.key = rsa_key;
	m = sign_msg(msg_text, &o);
	t = replace(m, "a=rsa-sha256", "a=rsa-sha1");
	assert_int_equal(verify1(t, &a, reason, sizeof(reason)), DKIM_POLICY);
	assert_string_equal(reason, "rsa-sha1 refused, RFC 8301");
	free(t);
	free(m);
	assert_int_equal(dkim_key_generate(DKIM_KEY_RSA, 512, &shortkey), 0);
	opts_for(&o, shortkey);
	a.key = shortkey;
	m = sign_msg(msg_text, &o);
	assert_int_equal(verify1(m, &a, reason, sizeof(reason)), DKIM_POLICY);
	assert_string_equal(reason, "RSA key shorter than 1024 bits");
	free(m);
	dkim_key_free(shortkey);
}

static void
test_auid_and_strict(void **state)
{
	struct answer		 a = { DKIM_LOOKUP_OK, NULL, NULL, NULL };
	struct dkim_sign_opts	 o;
	char			*m, *t, reason[96];

	(void)state;
	opts_for(&o, ed_key);
	a.key = ed_key;
	m = sign_msg(msg_text, &o);
	/* i= is signed, so test the relation with a broken signature's
	 * parse result: i= outside d= is rejected before any lookup */
	t = replace(m, "d=example.test;", "d=example.test; i=@other.test;");
	assert_int_equal(verify1(t, &a, reason, sizeof(reason)),
	    DKIM_NEUTRAL);
	assert_string_equal(reason, "i= not within d=");
	free(t);
	t = replace(m, "d=example.test;",
	    "d=example.test; i=u@sub.example.test;");
	a.extra = "; t=s";
	assert_int_equal(verify1(t, &a, reason, sizeof(reason)),
	    DKIM_PERMERROR);
	assert_string_equal(reason, "i= is a subdomain but key has t=s");
	a.extra = NULL;
	assert_int_equal(verify1(t, &a, reason, sizeof(reason)), DKIM_FAIL);
	free(t);
	free(m);
}

static void
test_malformed_signatures(void **state)
{
	static const struct {
		const char	*from, *to, *reason;
	} cases[] = {
		{ "v=1;", "v=2;", "missing or unknown v=" },
		{ "a=ed25519-sha256;", "a=ed448-sha256;",
		    "missing or unknown a=" },
		{ "c=relaxed/relaxed;", "c=relaxed/fancy;", "unknown c=" },
		{ "d=example.test;", "d=exa/mple.test;", "missing or bad d=" },
		{ "s=sel;", "s=;", "missing or bad s=" },
		{ "h=from:from:", "h=to:", "bad h= or From not signed" },
		{ "t=1700000000;", "t=17x;", "bad t=, x= or l=" },
		{ "t=1700000000;", "t=1700000000; x=1600000000;",
		    "bad t=, x= or l=" },
		{ "t=1700000000;", "t=1700000000; q=http;", "unknown q=" },
		{ "bh=", "bh=AAAA", "bad b= or bh=" },
		{ "v=1;", "v=1; v=1;", "malformed tag list" },
	};
	struct answer		 a = { DKIM_LOOKUP_OK, NULL, NULL, NULL };
	struct dkim_sign_opts	 o;
	char			*m, *t, reason[96];

	(void)state;
	opts_for(&o, ed_key);
	a.key = ed_key;
	m = sign_msg(msg_text, &o);
	for (size_t i = 0; i < NELEM(cases); i++) {
		enum dkim_result r;

		t = replace(m, cases[i].from, cases[i].to);
		r = verify1(t, &a, reason, sizeof(reason));
		if (r != DKIM_NEUTRAL || strcmp(reason, cases[i].reason) != 0)
			fail_msg("case %zu: %s (%s)", i, dkim_verify_result_str(r),
			    reason);
		free(t);
	}
	free(m);
}

static void
test_sign_errors_and_many(void **state)
{
	static const char *const only_subject[] = { "subject", NULL };
	struct answer		 a = { DKIM_LOOKUP_OK, NULL, NULL, NULL };
	struct dkim_sign_opts	 o;
	struct dkim_verify	 v;
	struct buf		 b;
	char			 err[128], *m;

	(void)state;
	buf_init(&b, 0);
	opts_for(&o, ed_key);
	assert_int_equal(dkim_sign("To: x\r\n\r\n", 9, &o, &b, err,
	    sizeof(err)), -1);
	assert_string_equal(err, "no From field");
	o.domain = "bad domain";
	assert_int_equal(dkim_sign(msg_text, strlen(msg_text), &o, &b, err,
	    sizeof(err)), -1);
	buf_free(&b);
	/* a signer's own list without From is refused by verifiers */
	opts_for(&o, ed_key);
	o.headers = only_subject;
	a.key = ed_key;
	m = sign_msg(msg_text, &o);
	assert_int_equal(verify1(m, &a, NULL, 0), DKIM_NEUTRAL);
	free(m);
	/* more than DKIM_SIGS_MAX signatures: only that many are checked */
	opts_for(&o, ed_key);
	m = xstrdup(msg_text);
	for (int i = 0; i < DKIM_SIGS_MAX + 2; i++) {
		char	*n = sign_msg(m, &o);

		free(m);
		m = n;
	}
	assert_int_equal(dkim_verify(&v, m, strlen(m), NOW, lookup, &a, err,
	    sizeof(err)), 0);
	assert_int_equal(v.nsig, DKIM_SIGS_MAX);
	for (size_t i = 0; i < v.nsig; i++)
		assert_int_equal(v.sig[i].result, DKIM_PASS);
	dkim_verify_free(&v);
	free(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tags_good),
		cmocka_unit_test(test_tags_bad),
		cmocka_unit_test(test_canon_rfc_example),
		cmocka_unit_test(test_canon_vectors),
		cmocka_unit_test(test_msg_parse),
		cmocka_unit_test(test_select_bottom_up),
		cmocka_unit_test(test_names_and_b64),
		cmocka_unit_test(test_key_pem),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_sign_header_shape),
		cmocka_unit_test(test_tamper),
		cmocka_unit_test(test_body_length),
		cmocka_unit_test(test_body_hash_limit),
		cmocka_unit_test(test_times),
		cmocka_unit_test(test_key_records),
		cmocka_unit_test(test_lookup_errors_and_testing),
		cmocka_unit_test(test_refused_algorithms),
		cmocka_unit_test(test_auid_and_strict),
		cmocka_unit_test(test_malformed_signatures),
		cmocka_unit_test(test_sign_errors_and_many),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
