/*
 * test_smtp_check.c - cmocka tests for src/smtpd/smtp_check.c without a
 * session and without DNS: the verdict of spf_policy and dmarc_policy on
 * each SPF and DMARC outcome; at end of data, forged
 * Authentication-Results fields cut from the spool file and trusted mail
 * signed (the signature verifies on the message as queue will store it);
 * untrusted mail without a resolver left alone; a spool file that cannot
 * be mapped.  Files go to a fresh directory under /tmp.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth/dkim.h"
#include "common/conf.h"
#include "common/dkim_keys.h"
#include "lib/buf.h"
#include "lib/util.h"
#include "smtpd/smtp_check.h"

static char		 dir[] = "/tmp/postbote-smtp-check-XXXXXX";
static char		*key_path, *spool_path;
static struct buf	 key_rec;
static struct conf	 conf;

/* A forged field (it claims our host name) between two of the sender's. */
static const char msg_text[] =
    "Received: from x by y\r\n"
    "Authentication-Results: mx.example; dkim=pass header.d=example.test\r\n"
    "From: Alice <alice@example.test>\r\n"
    "Subject: checked\r\n"
    "\r\n"
    "body\r\n";
static const char forged[] =
    "Authentication-Results: mx.example; dkim=pass header.d=example.test\r\n";

static enum dkim_lookup	 lookup(void *, const char *, const char *,
			    struct buf *);
static int		 spool(const char *);
static void		 never(uint64_t);

static int
setup(void **state)
{
	struct dkim_key	*k;
	struct buf	 pem;
	FILE		*f;
	char		*text, err[256];

	(void)state;
	if (mkdtemp(dir) == NULL)
		return -1;
	xasprintf(&key_path, "%s/ed.key", dir);
	xasprintf(&spool_path, "%s/spool", dir);
	if (dkim_key_generate(DKIM_KEY_ED25519, 0, &k) == -1)
		return -1;
	buf_init(&pem, 0);
	buf_init(&key_rec, 0);
	if (dkim_key_private_pem(k, &pem) == -1 ||
	    dkim_key_record(k, &key_rec) == -1 ||
	    (f = fopen(key_path, "w")) == NULL)
		return -1;
	fwrite(pem.data, 1, pem.len, f);
	fclose(f);
	buf_free(&pem);
	dkim_key_free(k);
	xasprintf(&text, "hostname = mx.example\n"
	    "[dkim example.test]\nselector = ed\nkey = %s\n", key_path);
	if (conf_parse(text, strlen(text), "t.conf", &conf, err,
	    sizeof(err)) == -1)
		return -1;
	free(text);
	config = &conf;
	/* the keys as the parent reads them and hands them to smtpd */
	buf_init(&pem, 0);
	if (dkim_keys_read(&conf, &pem, err, sizeof(err)) == -1 ||
	    dkim_keys_load(pem.data, pem.len, err, sizeof(err)) == -1)
		return -1;
	dkim_keys_wipe(&pem);
	smtp_check_init(NULL, NULL);	/* no resolver: nothing verified */
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	unlink(key_path);
	unlink(spool_path);
	rmdir(dir);
	free(key_path);
	free(spool_path);
	buf_free(&key_rec);
	config = NULL;
	conf_free(&conf);
	return 0;
}

static enum dkim_lookup
lookup(void *arg, const char *selector, const char *domain, struct buf *rec)
{
	(void)arg;
	assert_string_equal(selector, "ed");
	assert_string_equal(domain, "example.test");
	buf_append(rec, key_rec.data, key_rec.len);
	return DKIM_LOOKUP_OK;
}

/* spool - a spool file holding m, open for reading and writing. */
static int
spool(const char *m)
{
	FILE	*f;
	int	 fd;

	assert_non_null(f = fopen(spool_path, "w+"));
	assert_int_equal(fwrite(m, 1, strlen(m), f), strlen(m));
	fflush(f);
	fd = dup(fileno(f));
	fclose(f);
	return fd;
}

static void
never(uint64_t id)
{
	fail_msg("done(%llu) without a verification", (unsigned long long)id);
}

static void
test_policy(void **state)
{
	static const struct {
		enum policy_spf		 sp;
		enum policy_dmarc	 dp;
		enum spf_result		 spf;
		enum dmarc_result	 dmarc;		/* NONE: no output */
		enum dmarc_disp		 disp;
		const char		*word;
		enum smtp_check_action	 action;
		const char		*reply;
		bool			 quarantine;
	} t[] = {
		{ SPF_POLICY_RECORD, DMARC_POLICY_RECORD, SPF_FAIL,
		    DMARC_RES_FAIL, DMARC_DISP_REJECT, "accept",
		    SMTP_CHECK_ACCEPT, "", false },
		{ SPF_POLICY_REJECT, DMARC_POLICY_RECORD, SPF_FAIL,
		    DMARC_RES_NONE, 0, "reject", SMTP_CHECK_REFUSE,
		    "550 5.7.23 Error: SPF check failed for the sender "
		    "domain", false },
		{ SPF_POLICY_REJECT, DMARC_POLICY_ENFORCE, SPF_TEMPERROR,
		    DMARC_RES_FAIL, DMARC_DISP_REJECT, "defer",
		    SMTP_CHECK_REFUSE, "451 4.7.24 Error: SPF temporary error, "
		    "try again later", false },
		{ SPF_POLICY_REJECT, DMARC_POLICY_RECORD, SPF_SOFTFAIL,
		    DMARC_RES_NONE, 0, "accept", SMTP_CHECK_ACCEPT, "",
		    false },
		{ SPF_POLICY_RECORD, DMARC_POLICY_ENFORCE, SPF_PASS,
		    DMARC_RES_FAIL, DMARC_DISP_REJECT, "reject",
		    SMTP_CHECK_REFUSE, "550 5.7.1 Error: message rejected by "
		    "the DMARC policy of the From domain", false },
		{ SPF_POLICY_RECORD, DMARC_POLICY_ENFORCE, SPF_PASS,
		    DMARC_RES_FAIL, DMARC_DISP_QUARANTINE, "quarantine",
		    SMTP_CHECK_ACCEPT, "", true },
		{ SPF_POLICY_RECORD, DMARC_POLICY_ENFORCE, SPF_PASS,
		    DMARC_RES_FAIL, DMARC_DISP_NONE, "accept",
		    SMTP_CHECK_ACCEPT, "", false },
		{ SPF_POLICY_RECORD, DMARC_POLICY_ENFORCE, SPF_FAIL,
		    DMARC_RES_PASS, DMARC_DISP_NONE, "accept",
		    SMTP_CHECK_ACCEPT, "", false },
		{ SPF_POLICY_RECORD, DMARC_POLICY_RECORD, SPF_PASS,
		    DMARC_RES_FAIL, DMARC_DISP_QUARANTINE, "accept",
		    SMTP_CHECK_ACCEPT, "", false },
		/* more author domains than are evaluated, or none that can
		 * be read (RFC 7489 6.6.1) */
		{ SPF_POLICY_RECORD, DMARC_POLICY_ENFORCE, SPF_PASS,
		    DMARC_RES_PERMERROR, DMARC_DISP_REJECT, "reject",
		    SMTP_CHECK_REFUSE, "550 5.7.1 Error: message rejected: "
		    "its From field has no readable author domain, or too "
		    "many for DMARC", false },
		{ SPF_POLICY_RECORD, DMARC_POLICY_RECORD, SPF_PASS,
		    DMARC_RES_PERMERROR, DMARC_DISP_REJECT, "accept",
		    SMTP_CHECK_ACCEPT, "", false },
		{ SPF_POLICY_RECORD, DMARC_POLICY_ENFORCE, SPF_PASS,
		    DMARC_RES_PERMERROR, DMARC_DISP_NONE, "accept",
		    SMTP_CHECK_ACCEPT, "", false },
	};

	(void)state;
	for (size_t i = 0; i < NELEM(t); i++) {
		struct smtp_check_verdict	 v;
		struct dmarc_output		 d;
		const char			*w;

		memset(&v, 0, sizeof(v));
		memset(&d, 0, sizeof(d));
		d.result = t[i].dmarc;
		d.disposition = t[i].disp;
		w = smtp_check_policy(t[i].sp, t[i].dp, t[i].spf,
		    t[i].dmarc == DMARC_RES_NONE ? NULL : &d, &v);
		if (strcmp(w, t[i].word) != 0 || v.action != t[i].action ||
		    strcmp(v.reply, t[i].reply) != 0 ||
		    v.quarantine != t[i].quarantine)
			fail_msg("case %zu: %s %d \"%s\" %d", i, w, v.action,
			    v.reply, v.quarantine);
	}
}

/* trusted_cut - the forged field is cut from the file and what is left
 * signed, whether the session still holds the bytes (held) or not. */
static void
trusted_cut(bool held)
{
	struct smtp_check_mail	 m = { 42, "192.0.2.1", "alice@example.test",
	    "client.test", true };
	struct smtp_check_eod	 e;
	struct smtp_check_verdict v;
	struct smtp_check	*c;
	struct dkim_verify	 dv;
	struct buf		 stored;
	char			 file[sizeof(msg_text)], err[128];
	size_t			 left = strlen(msg_text) - strlen(forged);

	e.fd = spool(msg_text);
	e.len = strlen(msg_text);
	e.qid = "0123456789ABCDEF";
	e.data = held ? msg_text : NULL;
	c = smtp_check_mail(&m);
	assert_false(smtp_check_eod(c, &e, never));
	smtp_check_verdict(c, &v);
	assert_int_equal(v.action, SMTP_CHECK_ACCEPT);
	assert_false(v.quarantine);
	assert_int_equal(v.cut, strlen(forged));
	/* the forged field is gone from the file's first len - cut bytes */
	assert_int_equal(pread(e.fd, file, left, 0), (ssize_t)left);
	assert_memory_equal(file, msg_text, 23);
	assert_memory_equal(file + 23, msg_text + 23 + strlen(forged),
	    left - 23);
	/* and the signature covers what is left */
	assert_non_null(v.prepend);
	assert_memory_equal(v.prepend, "DKIM-Signature:", 15);
	buf_init(&stored, 0);
	buf_puts(&stored, v.prepend);
	buf_append(&stored, file, left);
	assert_int_equal(dkim_verify(&dv, stored.data, stored.len,
	    (int64_t)time(NULL), lookup, NULL, err, sizeof(err)), 0);
	assert_int_equal(dv.nsig, 1);
	assert_int_equal(dv.sig[0].result, DKIM_PASS);
	dkim_verify_free(&dv);
	buf_free(&stored);
	smtp_check_verdict_free(&v);
	assert_null(v.prepend);
	smtp_check_free(c);
	close(e.fd);
}

static void
test_trusted_cut_and_signed(void **state)
{
	(void)state;
	trusted_cut(false);
	trusted_cut(true);
}

/* Held bytes are read where they are: no spool file is needed to sign. */
static void
test_held_signed_without_file(void **state)
{
	static const char plain[] = "From: a@example.test\r\n"
	    "Subject: s\r\n\r\nhi\r\n";
	struct smtp_check_mail	 m = { 43, "192.0.2.1", "alice@example.test",
	    "client.test", true };
	struct smtp_check_eod	 e = { -1, sizeof(plain) - 1,
	    "0123456789ABCDEF", plain };
	struct smtp_check_verdict v;
	struct smtp_check	*c = smtp_check_mail(&m);

	(void)state;
	assert_false(smtp_check_eod(c, &e, never));
	smtp_check_verdict(c, &v);
	assert_int_equal(v.action, SMTP_CHECK_ACCEPT);
	assert_non_null(v.prepend);
	assert_memory_equal(v.prepend, "DKIM-Signature:", 15);
	smtp_check_verdict_free(&v);
	smtp_check_free(c);
}

static void
test_untrusted_without_resolver(void **state)
{
	static const char plain[] = "From: a@example.test\r\n\r\nhi\r\n";
	struct smtp_check_mail	 m = { 7, "192.0.2.1", "", "client.test",
	    false };
	struct smtp_check_eod	 e;
	struct smtp_check_verdict v;
	struct smtp_check	*c;

	(void)state;
	e.fd = spool(plain);
	e.len = strlen(plain);
	e.qid = "0123456789ABCDEF";
	e.data = NULL;
	c = smtp_check_mail(&m);
	assert_false(smtp_check_eod(c, &e, never));
	smtp_check_verdict(c, &v);
	assert_int_equal(v.action, SMTP_CHECK_ACCEPT);
	assert_int_equal(v.cut, 0);
	assert_null(v.prepend);			/* not signed, not verified */
	smtp_check_verdict_free(&v);
	smtp_check_free(c);
	close(e.fd);
	smtp_check_free(NULL);
}

static void
test_spool_error(void **state)
{
	struct smtp_check_mail	 m = { 9, "192.0.2.1", "", "client.test",
	    true };
	struct smtp_check_eod	 e = { -1, 100, "0123456789ABCDEF", NULL };
	struct smtp_check_verdict v;
	struct smtp_check	*c;

	(void)state;
	c = smtp_check_mail(&m);
	assert_false(smtp_check_eod(c, &e, never));	/* cannot map */
	smtp_check_verdict(c, &v);
	assert_int_equal(v.action, SMTP_CHECK_SPOOL_ERROR);
	assert_null(v.prepend);
	smtp_check_verdict_free(&v);
	smtp_check_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policy),
		cmocka_unit_test(test_trusted_cut_and_signed),
		cmocka_unit_test(test_held_signed_without_file),
		cmocka_unit_test(test_untrusted_without_resolver),
		cmocka_unit_test(test_spool_error),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
