/*
 * test_tls.c - tls.c without sockets: SNI name matching, the config keys
 * (tls_protocols, [tls NAME]), the self-signed certificate (made once,
 * reused, key mode 0600) and building server contexts from material,
 * including a key that does not match its certificate.  Files go to a
 * fresh directory under /tmp.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/buf.h"
#include "common/conf.h"
#include "common/tls.h"
#include "lib/util.h"

static void
test_name_match(void **state)
{
	static const struct {
		const char	*pattern, *name;
		bool		 match;
	} t[] = {
		{ "mail.example.com", "mail.example.com", true },
		{ "mail.example.com", "MAIL.Example.COM", true },
		{ "mail.example.com", "example.com", false },
		{ "mail.example.com", "xmail.example.com", false },
		{ "*.example.com", "a.example.com", true },
		{ "*.example.com", "A.EXAMPLE.com", true },
		{ "*.example.com", "a.b.example.com", false },
		{ "*.example.com", "example.com", false },
		{ "*.example.com", ".example.com", false },
		{ "*.example.com", "aexample.com", false },
		{ "*.example.com", "", false },
	};

	(void)state;
	for (size_t i = 0; i < NELEM(t); i++)
		assert_int_equal(tls_name_match(t[i].pattern, t[i].name),
		    t[i].match);
}

static int
parse(const char *text, struct conf *c, char *err, size_t errlen)
{
	return conf_parse(text, strlen(text), "t.conf", c, err, errlen);
}

static void
test_conf_keys(void **state)
{
	struct conf	c;
	char		err[512];

	(void)state;
	assert_int_equal(parse("hostname = mx.example.com\n", &c, err,
	    sizeof(err)), 0);
	assert_int_equal(c.tls_protocols, CONF_TLS_V1_2 | CONF_TLS_V1_3);
	assert_string_equal(c.tls_ciphers, "ECDHE+AESGCM:ECDHE+CHACHA20");
	assert_int_equal(c.ntlss, 0);
	conf_free(&c);

	assert_int_equal(parse("hostname = mx.example.com\n"
	    "tls_protocols = TLSv1.3\ntls_ciphers = ECDHE+AESGCM\n"
	    "[tls Mail.Example.com]\ncert = /c1\nkey = /k1\n"
	    "[tls *.example.org]\ncert = /c2\nkey = /k2\n", &c, err,
	    sizeof(err)), 0);
	assert_int_equal(c.tls_protocols, CONF_TLS_V1_3);
	assert_int_equal(c.ntlss, 2);
	assert_string_equal(c.tlss[0].name, "mail.example.com");
	assert_string_equal(c.tlss[0].cert, "/c1");
	assert_string_equal(c.tlss[1].name, "*.example.org");
	assert_string_equal(c.tlss[1].key, "/k2");
	conf_free(&c);
}

static void
test_conf_errors(void **state)
{
	/* Each text follows a "hostname = ..." line: errors are on line 2+. */
	static const struct {
		const char	*text, *err;
	} t[] = {
		{ "tls_protocols = TLSv1 TLSv1.2\n",
		    "t.conf:2:1: tls_protocols: the versions must be a range "
		    "without gaps" },
		{ "tls_protocols = SSLv3\n", "t.conf:2:1: tls_protocols: "
		    "\"SSLv3\" is not one of TLSv1 TLSv1.1 TLSv1.2 TLSv1.3" },
		{ "tls_protocols =\n", "t.conf:2:1: tls_protocols: needs a "
		    "value" },
		{ "[tls example.com]\ncert = /c\n", "t.conf:2:1: key: "
		    "required in [tls example.com]" },
		{ "[tls a..b]\ncert = /c\nkey = /k\n", "t.conf:2:6: tls: "
		    "\"a..b\" is not a domain name" },
		{ "[tls *.*.example.com]\ncert = /c\nkey = /k\n", "t.conf:2:6: "
		    "tls: \"*.*.example.com\" is not a domain name" },
		{ "[tls a.test]\ncert = /c\nkey = /k\n[tls A.test]\n",
		    "t.conf:5:6: tls: [tls A.test] appears twice" },
		{ "[tls a.test]\nselector = x\n", "t.conf:3:1: selector: "
		    "only valid in a [dkim NAME] section" },
	};
	struct conf	c;
	char		err[512], *text;

	(void)state;
	for (size_t i = 0; i < NELEM(t); i++) {
		xasprintf(&text, "hostname = mx.example.com\n%s", t[i].text);
		assert_int_equal(parse(text, &c, err, sizeof(err)), -1);
		free(text);
		assert_string_equal(err, t[i].err);
	}
}

static char	tmpdir[] = "/tmp/postbote-test-tls-XXXXXX";

static int
setup_dir(void **state)
{
	(void)state;
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int
remove_dir(void **state)
{
	char	*cmd;
	int	 rc;

	(void)state;
	xasprintf(&cmd, "rm -rf %s", tmpdir);
	rc = system(cmd);
	free(cmd);
	return rc == 0 ? 0 : -1;
}

static void
test_selfsigned_once(void **state)
{
	char		*cert, *key, *cert2, *key2, err[512];
	struct buf	 a, b;
	struct stat	 st;

	(void)state;
	assert_int_equal(tls_selfsigned(tmpdir, "mx.example.com", &cert, &key,
	    err, sizeof(err)), 0);
	assert_int_equal(stat(key, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	buf_init(&a, 0);
	buf_init(&b, 0);
	assert_int_equal(buf_read_file(&a, cert, 1 << 20), 0);
	assert_non_null(strstr(buf_cstr(&a), "-----BEGIN CERTIFICATE-----"));
	assert_int_equal(tls_selfsigned(tmpdir, "other.example.com", &cert2,
	    &key2, err, sizeof(err)), 0);
	assert_string_equal(cert, cert2);
	assert_int_equal(buf_read_file(&b, cert2, 1 << 20), 0);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.data, b.data, a.len);	/* reused, not made */
	buf_free(&a);
	buf_free(&b);
	free(cert);
	free(key);
	free(cert2);
	free(key2);
}

static void
test_material_and_contexts(void **state)
{
	struct conf	 c;
	char		 err[512], *text, *cert, *key;
	SSL_CTX		*first;

	(void)state;
	/* the state_dir pair is the default; [tls] reuses it for SNI */
	assert_int_equal(tls_selfsigned(tmpdir, "mx.example.com", &cert, &key,
	    err, sizeof(err)), 0);
	xasprintf(&text, "hostname = mx.example.com\nstate_dir = %s\n"
	    "[tls mail.example.org]\ncert = %s\nkey = %s\n", tmpdir, cert,
	    key);
	assert_int_equal(parse(text, &c, err, sizeof(err)), 0);
	free(text);
	assert_int_equal(tls_material_load(&c, err, sizeof(err)), 0);
	assert_true(tls_material.len > 0);
	assert_int_equal(tls_server_load(&c, &tls_material, err,
	    sizeof(err)), 0);
	first = tls_server_ctx();
	assert_non_null(first);
	/* a reload builds new contexts */
	assert_int_equal(tls_server_load(&c, &tls_material, err,
	    sizeof(err)), 0);
	assert_non_null(tls_server_ctx());
	conf_free(&c);
	free(cert);
	free(key);

	/* a key that is not the certificate's is refused; the old stays */
	assert_int_equal(tls_selfsigned(tmpdir, "x.example.com", &cert, &key,
	    err, sizeof(err)), 0);
	free(key);
	xasprintf(&key, "%s/other.key", tmpdir);
	{
		char	*cmd;

		xasprintf(&cmd, "openssl genpkey -algorithm EC -pkeyopt "
		    "ec_paramgen_curve:P-256 -out %s 2>/dev/null", key);
		assert_int_equal(system(cmd), 0);
		free(cmd);
	}
	xasprintf(&text, "hostname = mx.example.com\ntls_cert = %s\n"
	    "tls_key = %s\n", cert, key);
	assert_int_equal(parse(text, &c, err, sizeof(err)), 0);
	free(text);
	assert_int_equal(tls_material_load(&c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "default certificate: private key"));
	conf_free(&c);
	free(cert);
	free(key);
	tls_server_free();
	assert_null(tls_server_ctx());
	tls_material_wipe();
}

static void
test_check_conf(void **state)
{
	struct conf	c;
	char		err[512];

	(void)state;
	assert_int_equal(parse("hostname = mx.example.com\n"
	    "tls_ciphers = NOPE\n", &c, err, sizeof(err)), 0);
	assert_int_equal(tls_check_conf(&c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "tls_ciphers"));
	conf_free(&c);
	assert_int_equal(parse("hostname = mx.example.com\n"
	    "tls_protocols = TLSv1 TLSv1.1 TLSv1.2\n", &c, err, sizeof(err)),
	    0);
	assert_int_equal(tls_check_conf(&c, err, sizeof(err)), 0);
	conf_free(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_match),
		cmocka_unit_test(test_conf_keys),
		cmocka_unit_test(test_conf_errors),
		cmocka_unit_test(test_selfsigned_once),
		cmocka_unit_test(test_material_and_contexts),
		cmocka_unit_test(test_check_conf),
	};

	return cmocka_run_group_tests(tests, setup_dir, remove_dir);
}
