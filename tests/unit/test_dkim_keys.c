/*
 * test_dkim_keys.c - cmocka tests for src/common/dkim_keys.c: the
 * [dkim DOMAIN] key files of the config read by the parent into material,
 * and the material made into the process's signer; a key that cannot be
 * read or parsed is refused with its file and the reason, and material
 * that does not load keeps the keys of the last load.  Files go to a
 * fresh directory under /tmp.
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
#include "lib/ipc_proto.h"
#include "lib/util.h"

static char	 dir[] = "/tmp/postbote-dkim-keys-XXXXXX";
static char	*rsa_path, *ed_path, *bad_path;

static const char msg_text[] =
    "From: a@example.test\r\nSubject: x\r\n\r\nbody\r\n";

static void	 write_key(const char *, enum dkim_keytype);
static void	 use_config(struct conf *, const char *, const char *);
static size_t	 signatures(void);
static int	 load(const struct buf *);

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

/* load - material into this process's signer; the result of the load. */
static int
load(const struct buf *m)
{
	char	err[256];

	return dkim_keys_load(m->data, m->len, err, sizeof(err));
}

static void
test_read_and_load(void **state)
{
	struct conf	 c;
	struct buf	 m;
	char		 err[512];

	(void)state;
	buf_init(&m, 0);
	use_config(&c, rsa_path, ed_path);
	assert_int_equal(dkim_keys_read(&c, &m, err, sizeof(err)), 0);
	assert_true(m.len > 0);
	assert_int_equal(load(&m), 0);
	assert_int_equal(dkim_sign_count(dkim_keys_signer()), 2);
	assert_int_equal(signatures(), 2);
	dkim_keys_wipe(&m);
	assert_null(m.data);
	config = NULL;
	conf_free(&c);
}

/* Every key that cannot be read or parsed is named, with its file and
 * the reason, and nothing is handed on: the last material stays. */
static void
test_read_refuses_bad_and_missing_keys(void **state)
{
	struct conf	 good, bad;
	struct buf	 m;
	char		 err[1024], *missing, *want;
	size_t		 len;

	(void)state;
	xasprintf(&missing, "%s/missing.key", dir);
	buf_init(&m, 0);
	use_config(&good, rsa_path, ed_path);
	assert_int_equal(dkim_keys_read(&good, &m, err, sizeof(err)), 0);
	len = m.len;
	use_config(&bad, bad_path, missing);
	assert_int_equal(dkim_keys_read(&bad, &m, err, sizeof(err)), -1);
	xasprintf(&want, "[dkim example.test] selector r: key: %s: ", bad_path);
	assert_non_null(strstr(err, want));
	free(want);
	xasprintf(&want, "[dkim example.test] selector e: key: cannot read "
	    "%s: No such file or directory", missing);
	assert_non_null(strstr(err, want));
	free(want);
	assert_int_equal(m.len, len);
	assert_int_equal(load(&m), 0);
	assert_int_equal(dkim_sign_count(dkim_keys_signer()), 2);
	dkim_keys_wipe(&m);
	config = NULL;
	conf_free(&good);
	conf_free(&bad);
	free(missing);
}

/* Material that does not load leaves the signer of the last load. */
static void
test_bad_material_keeps_the_old_keys(void **state)
{
	struct ipc_dkim_key		 k = { "example.test", "x",
	    "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n" };
	struct ipc_dkim_material	 mat = { &k, 1 };
	struct conf			 c;
	struct buf			 m, broken;
	char				 err[512];

	(void)state;
	buf_init(&m, 0);
	buf_init(&broken, 0);
	use_config(&c, rsa_path, ed_path);
	assert_int_equal(dkim_keys_read(&c, &m, err, sizeof(err)), 0);
	assert_int_equal(load(&m), 0);
	assert_int_equal(dkim_keys_load("\1\2", 2, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "bad DKIM key material"));
	IPC_ENCODE(&broken, IPC_DKIM_MATERIAL, &mat);
	assert_int_equal(dkim_keys_load(broken.data, broken.len, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "[dkim example.test] selector x: key:"));
	assert_int_equal(dkim_sign_count(dkim_keys_signer()), 2);
	assert_int_equal(signatures(), 2);
	/* no [dkim] section at all: a signer without keys */
	config = NULL;
	conf_free(&c);
	assert_int_equal(conf_parse("hostname = a\n", 13, "t.conf", &c, err,
	    sizeof(err)), 0);
	assert_int_equal(dkim_keys_read(&c, &m, err, sizeof(err)), 0);
	assert_int_equal(load(&m), 0);
	assert_int_equal(dkim_sign_count(dkim_keys_signer()), 0);
	assert_int_equal(signatures(), 0);
	dkim_keys_wipe(&m);
	buf_free(&broken);
	conf_free(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_and_load),
		cmocka_unit_test(test_read_refuses_bad_and_missing_keys),
		cmocka_unit_test(test_bad_material_keeps_the_old_keys),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
