/*
 * test_dkim_sign.c - cmocka tests for src/auth/dkim_sign.c: a message
 * signed with an RSA and an Ed25519 key of its From domain carries two
 * signatures that the verifier of dkim_verify.c passes; no key for the
 * From domain (or no single From domain) appends nothing; keys added
 * from PEM text, and moved from one signer to another as a reload does.
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

#include "auth/dkim.h"
#include "auth/dkim_sign.h"
#include "lib/buf.h"
#include "lib/util.h"

static const char msg_text[] =
    "From: Alice <alice@example.test>\r\n"
    "To: bob@example.org\r\n"
    "Subject: signed twice\r\n"
    "Message-ID: <s1@example.test>\r\n"
    "\r\n"
    "Hi Bob,\r\n"
    "two signatures on this one.\r\n";

/* One generated key: its private PEM and its public key record. */
struct test_key {
	const char	*selector;
	enum dkim_keytype type;
	struct buf	 pem, rec;
};

static struct test_key	 tkeys[] = {
	{ "rsa", DKIM_KEY_RSA, { 0 }, { 0 } },
	{ "ed", DKIM_KEY_ED25519, { 0 }, { 0 } },
};

static enum dkim_lookup	 lookup(void *, const char *, const char *,
			    struct buf *);
static void		 add(struct dkim_signer *, const char *, size_t);
static char		*signed_msg(const struct dkim_signer *, const char *,
			    size_t *);
static void		 verify_all(const char *, size_t, const char *const *);

static int
setup(void **state)
{
	(void)state;
	for (size_t i = 0; i < NELEM(tkeys); i++) {
		struct dkim_key	*k;

		if (dkim_key_generate(tkeys[i].type, 2048, &k) == -1)
			return -1;
		buf_init(&tkeys[i].pem, 0);
		buf_init(&tkeys[i].rec, 0);
		if (dkim_key_private_pem(k, &tkeys[i].pem) == -1 ||
		    dkim_key_record(k, &tkeys[i].rec) == -1)
			return -1;
		dkim_key_free(k);
	}
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	for (size_t i = 0; i < NELEM(tkeys); i++) {
		buf_free(&tkeys[i].pem);
		buf_free(&tkeys[i].rec);
	}
	return 0;
}

/* lookup - the record of the test key named by selector, at example.test. */
static enum dkim_lookup
lookup(void *arg, const char *selector, const char *domain, struct buf *rec)
{
	(void)arg;
	assert_string_equal(domain, "example.test");
	for (size_t i = 0; i < NELEM(tkeys); i++)
		if (strcmp(tkeys[i].selector, selector) == 0) {
			buf_append(rec, tkeys[i].rec.data, tkeys[i].rec.len);
			return DKIM_LOOKUP_OK;
		}
	return DKIM_LOOKUP_NONE;
}

/* add - test key i for domain, from its PEM text. */
static void
add(struct dkim_signer *s, const char *domain, size_t i)
{
	char	 err[128];

	assert_int_equal(dkim_sign_add_pem(s, domain, tkeys[i].selector,
	    tkeys[i].pem.data, tkeys[i].pem.len, err, sizeof(err)), 0);
}

/* signed_msg - the fields s makes for m, then m; *n: fields made. */
static char *
signed_msg(const struct dkim_signer *s, const char *m, size_t *n)
{
	struct buf	 b;

	buf_init(&b, 0);
	*n = dkim_sign_message(s, m, strlen(m), &b, "test:");
	buf_puts(&b, m);
	return buf_steal(&b, NULL);
}

/* verify_all - m has exactly the signatures of sel[] (NULL-ended), in
 * that order from the top, and every one passes. */
static void
verify_all(const char *m, size_t len, const char *const *sel)
{
	struct dkim_verify	 v;
	char			 err[128];
	size_t			 n = 0;

	while (sel[n] != NULL)
		n++;
	assert_int_equal(dkim_verify(&v, m, len, (int64_t)time(NULL), lookup,
	    NULL, err, sizeof(err)), 0);
	assert_int_equal(v.nsig, n);
	for (size_t i = 0; i < v.nsig; i++) {
		assert_int_equal(v.sig[i].result, DKIM_PASS);
		assert_string_equal(v.sig[i].domain, "example.test");
		assert_string_equal(v.sig[i].selector, sel[i]);
	}
	dkim_verify_free(&v);
}

static void
test_two_keys_two_signatures(void **state)
{
	static const char *const both[] = { "rsa", "ed", NULL };
	struct dkim_signer	*s = dkim_sign_new();
	struct dkim_verify	 v;
	char			*m, err[128];
	size_t			 n;

	(void)state;
	add(s, "example.test", 0);
	add(s, "example.test", 1);
	add(s, "example.org", 1);	/* the To domain: not used */
	assert_int_equal(dkim_sign_count(s), 3);
	m = signed_msg(s, msg_text, &n);
	assert_int_equal(n, 2);
	assert_memory_equal(m, "DKIM-Signature:", 15);
	verify_all(m, strlen(m), both);
	/* a changed body fails both */
	m[strlen(m) - 5] = 'X';
	assert_int_equal(dkim_verify(&v, m, strlen(m), (int64_t)time(NULL),
	    lookup, NULL, err, sizeof(err)), 0);
	assert_int_equal(v.nsig, 2);
	assert_int_equal(v.sig[0].result, DKIM_FAIL);
	assert_int_equal(v.sig[1].result, DKIM_FAIL);
	dkim_verify_free(&v);
	free(m);
	dkim_sign_free(s);
}

static void
test_one_key_each_type(void **state)
{
	static const char *const rsa[] = { "rsa", NULL };
	static const char *const ed[] = { "ed", NULL };
	const char *const	*want[] = { rsa, ed };
	char			*m;
	size_t			 n;

	(void)state;
	for (size_t i = 0; i < NELEM(tkeys); i++) {
		struct dkim_signer	*s = dkim_sign_new();

		/* the From domain is matched in any case */
		add(s, "Example.TEST", i);
		m = signed_msg(s, msg_text, &n);
		assert_int_equal(n, 1);
		verify_all(m, strlen(m), want[i]);
		free(m);
		dkim_sign_free(s);
	}
}

static void
test_nothing_to_sign(void **state)
{
	static const char *const none[] = { NULL };
	static const char *const msgs[] = {
		/* no key for the From domain */
		"From: x@other.test\r\nSubject: a\r\n\r\nb\r\n",
		/* no From field */
		"To: x@example.test\r\nSubject: a\r\n\r\nb\r\n",
		/* two From fields: no single From domain */
		"From: x@example.test\r\nFrom: y@example.test\r\n\r\nb\r\n",
		/* one field, two mailboxes */
		"From: x@example.test, y@example.test\r\n\r\nb\r\n",
	};
	struct dkim_signer	*s = dkim_sign_new();
	struct buf		 b;

	(void)state;
	add(s, "example.test", 1);
	buf_init(&b, 0);
	for (size_t i = 0; i < NELEM(msgs); i++) {
		assert_int_equal(dkim_sign_message(s, msgs[i], strlen(msgs[i]),
		    &b, "test:"), 0);
		assert_int_equal(b.len, 0);
	}
	/* no signer, an empty signer */
	assert_int_equal(dkim_sign_message(NULL, msg_text, strlen(msg_text),
	    &b, "test:"), 0);
	dkim_sign_free(s);
	s = dkim_sign_new();
	assert_int_equal(dkim_sign_count(s), 0);
	assert_int_equal(dkim_sign_message(s, msg_text, strlen(msg_text), &b,
	    "test:"), 0);
	assert_int_equal(b.len, 0);
	buf_free(&b);
	dkim_sign_free(s);
	dkim_sign_free(NULL);
	verify_all(msg_text, strlen(msg_text), none);	/* unsigned: none */
}

static void
test_add_key_and_bad_pem(void **state)
{
	static const char *const ed[] = { "ed", NULL };
	static const char	 bad[] = "-----BEGIN PRIVATE KEY-----\n"
	    "AAAA\n-----END PRIVATE KEY-----\n";
	struct dkim_signer	*s = dkim_sign_new();
	struct dkim_key		*k;
	char			*m, err[128];
	size_t			 n;

	(void)state;
	assert_int_equal(dkim_sign_add_pem(s, "example.test", "bad", bad,
	    strlen(bad), err, sizeof(err)), -1);
	assert_true(err[0] != '\0');
	assert_int_equal(dkim_sign_count(s), 0);
	/* a key object, owned by the signer from now on */
	assert_int_equal(dkim_key_generate(DKIM_KEY_ED25519, 0, &k), 0);
	dkim_sign_add(s, "example.test", "fresh", k);
	m = signed_msg(s, msg_text, &n);
	assert_int_equal(n, 1);
	free(m);
	dkim_sign_free(s);
	/* and one whose record the lookup knows */
	s = dkim_sign_new();
	add(s, "example.test", 1);
	m = signed_msg(s, msg_text, &n);
	verify_all(m, strlen(m), ed);
	free(m);
	dkim_sign_free(s);
}

static void
test_move(void **state)
{
	static const char *const rsa[] = { "rsa", NULL };
	struct dkim_signer	*old = dkim_sign_new(), *s = dkim_sign_new();
	char			*m;
	size_t			 n;

	(void)state;
	add(old, "example.test", 0);
	add(old, "example.test", 1);
	assert_int_equal(dkim_sign_move(s, old, "EXAMPLE.test", "rsa"), 0);
	assert_int_equal(dkim_sign_count(old), 1);
	assert_int_equal(dkim_sign_count(s), 1);
	assert_int_equal(dkim_sign_move(s, old, "example.test", "rsa"), -1);
	assert_int_equal(dkim_sign_move(s, old, "example.org", "ed"), -1);
	dkim_sign_free(old);		/* s keeps its key */
	m = signed_msg(s, msg_text, &n);
	assert_int_equal(n, 1);
	verify_all(m, strlen(m), rsa);
	free(m);
	dkim_sign_free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_two_keys_two_signatures),
		cmocka_unit_test(test_one_key_each_type),
		cmocka_unit_test(test_nothing_to_sign),
		cmocka_unit_test(test_add_key_and_bad_pem),
		cmocka_unit_test(test_move),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
