/*
 * test_dkim_keys.c - cmocka tests for src/common/dkim_keys.c: the
 * [dkim DOMAIN] key files of the config read into the process's signer,
 * and a reload that cannot read a file keeping the key it had from that
 * very file (and only then).  Files go to a fresh directory under /tmp.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth/dkim.h"
#include "auth/dkim_sign.h"
#include "common/conf.h"
#include "common/dkim_keys.h"
#include "lib/buf.h"
#include "lib/util.h"

static char	 dir[] = "/tmp/postbote-dkim-keys-XXXXXX";
static char	*rsa_path, *ed_path, *bad_path;

static const char msg_text[] =
    "From: a@example.test\r\nSubject: x\r\n\r\nbody\r\n";

static void	 write_key(const char *, enum dkim_keytype);
static void	 use_config(struct conf *, const char *, const char *);
static size_t	 signatures(void);

static void
write_key(const char *path, enum dkim_keytype type)
{
	struct dkim_key	*k;
	struct buf	 pem;
	FILE		*f;

	assert_int_equal(dkim_key_generate(type, 1024, &k), 0);
	buf_init(&pem, 0);
	assert_int_equal(dkim_key_private_pem(k, &pem), 0);
	assert_non_null(f = fopen(path, "w"));
	assert_int_equal(fwrite(pem.data, 1, pem.len, f), pem.len);
	fclose(f);
	buf_free(&pem);
	dkim_key_free(k);
}

static int
setup(void **state)
{
	FILE	*f;

	(void)state;
	if (mkdtemp(dir) == NULL)
		return -1;
	xasprintf(&rsa_path, "%s/rsa.key", dir);
	xasprintf(&ed_path, "%s/ed.key", dir);
	xasprintf(&bad_path, "%s/bad.key", dir);
	write_key(rsa_path, DKIM_KEY_RSA);
	write_key(ed_path, DKIM_KEY_ED25519);
	if ((f = fopen(bad_path, "w")) == NULL)
		return -1;
	fputs("not a key\n", f);
	fclose(f);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	unlink(rsa_path);
	unlink(ed_path);
	unlink(bad_path);
	rmdir(dir);
	free(rsa_path);
	free(ed_path);
	free(bad_path);
	return 0;
}

/* use_config - config with an "r" key at rsa and an "e" key at ed. */
static void
use_config(struct conf *c, const char *rsa, const char *ed)
{
	char	*text, err[256];

	xasprintf(&text, "hostname = mx.example\n"
	    "[dkim example.test]\nselector = r\nkey = %s\n"
	    "[dkim example.test]\nselector = e\nkey = %s\n", rsa, ed);
	assert_int_equal(conf_parse(text, strlen(text), "t.conf", c, err,
	    sizeof(err)), 0);
	free(text);
	config = c;
}

/* signatures - how many fields the loaded keys give msg_text. */
static size_t
signatures(void)
{
	struct buf	 b;
	size_t		 n;

	buf_init(&b, 0);
	n = dkim_sign_message(dkim_keys_signer(), msg_text, strlen(msg_text),
	    &b, "test:");
	buf_free(&b);
	return n;
}

static void
test_load_and_reload(void **state)
{
	struct conf	 c1, c2, c3;
	char		*gone, *missing;

	(void)state;
	xasprintf(&gone, "%s/gone.key", dir);
	xasprintf(&missing, "%s/missing.key", dir);
	use_config(&c1, rsa_path, ed_path);
	dkim_keys_load();
	assert_int_equal(dkim_sign_count(dkim_keys_signer()), 2);
	assert_int_equal(signatures(), 2);

	/* the Ed25519 file is gone (or unreadable) at reload: kept */
	assert_int_equal(rename(ed_path, gone), 0);
	dkim_keys_load();
	assert_int_equal(dkim_sign_count(dkim_keys_signer()), 2);
	assert_int_equal(signatures(), 2);
	dkim_keys_load();			/* and kept again */
	assert_int_equal(signatures(), 2);

	/* another file for "e" that cannot be read: nothing to keep */
	use_config(&c2, rsa_path, missing);
	dkim_keys_load();
	assert_int_equal(dkim_sign_count(dkim_keys_signer()), 1);
	assert_int_equal(signatures(), 1);
	assert_int_equal(rename(gone, ed_path), 0);

	/* a bad key file without an old key: left out */
	use_config(&c3, bad_path, ed_path);
	dkim_keys_load();
	assert_int_equal(dkim_sign_count(dkim_keys_signer()), 1);
	assert_int_equal(signatures(), 1);

	config = NULL;
	conf_free(&c1);
	conf_free(&c2);
	conf_free(&c3);
	free(gone);
	free(missing);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_load_and_reload),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
