/*
 * tls.c - the server side of TLS: certificate material, the self-signed
 * fallback certificate, the SSL_CTXs (one default, one per [tls NAME]),
 * SNI selection and reload.
 *
 * Runs in two processes.  The parent (root when started as root) reads
 * the PEM files, or makes the self-signed pair in state_dir, and checks
 * that each certificate matches its key; smtpd (unprivileged) builds its
 * contexts from that material in memory.  Trust: the files are the
 * administrator's; the SNI name is the peer's and is only compared.
 *
 * Policy (issue #3): TLS 1.2 and 1.3 only by default, forward-secret AEAD
 * suites only (ECDHE with AES-GCM or ChaCha20-Poly1305; TLS 1.3 suites are
 * all of that kind), server preference, no compression, no renegotiation.
 * tls_protocols, tls_ciphers and tls_ciphersuites change that.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "common/conf.h"
#include "lib/ipc_proto.h"
#include "lib/log.h"
#include "common/tls.h"
#include "lib/util.h"

#define PEM_MAX		(1024 * 1024)	/* one certificate chain or key file */
#define SELF_DAYS	3650

struct tls_sni {
	char		*name;		/* lower-case; "*.example.com" allowed */
	SSL_CTX		*ctx;
};

struct tls_set {
	SSL_CTX		*def;
	struct tls_sni	*sni;
	size_t		 nsni;
};

struct buf		 tls_material;
static struct tls_set	*cur;		/* smtpd: the contexts for new sessions */

static int	 on_servername(SSL *, int *, void *);
static void	 set_free(struct tls_set *);

const char *
tls_error_string(void)
{
	static char	 s[512];
	size_t		 n = 0;
	unsigned long	 e;

	s[0] = '\0';
	while ((e = ERR_get_error()) != 0) {
		const char	*r = ERR_reason_error_string(e);

		if (n < sizeof(s) - 1)
			n += (size_t)snprintf(s + n, sizeof(s) - n, "%s%s",
			    n ? "; " : "", r ? r : "unknown error");
	}
	if (n >= sizeof(s))
		s[sizeof(s) - 1] = '\0';
	return s[0] ? s : "unknown error";
}

static int
tls_fail(char *err, size_t errlen, const char *what)
{
	snprintf(err, errlen, "%s: %s", what, tls_error_string());
	return -1;
}

/*
 * tls_name_match - does the SNI name match pattern?  Exact (ASCII case
 * ignored), or "*.example.com" for exactly one more leftmost label.
 */
bool
tls_name_match(const char *pattern, const char *name)
{
	const char	*dot;

	if (pattern[0] == '*' && pattern[1] == '.') {
		if ((dot = strchr(name, '.')) == NULL || dot == name)
			return false;
		return str_ieq(dot + 1, pattern + 2);
	}
	return str_ieq(pattern, name);
}

/* ---- contexts ---- */

static int
proto_version(unsigned bit)
{
	switch (bit) {
	case CONF_TLS_V1_0:
		return TLS1_VERSION;
	case CONF_TLS_V1_1:
		return TLS1_1_VERSION;
	case CONF_TLS_V1_2:
		return TLS1_2_VERSION;
	default:
		return TLS1_3_VERSION;
	}
}

/* ctx_new - a server context with the protocol and cipher policy. */
static SSL_CTX *
ctx_new(const struct conf *c, char *err, size_t errlen)
{
	SSL_CTX		*ctx = SSL_CTX_new(TLS_server_method());
	unsigned	 lo = c->tls_protocols & -c->tls_protocols, hi;

	if (ctx == NULL) {
		tls_fail(err, errlen, "SSL_CTX_new");
		return NULL;
	}
	for (hi = lo; (c->tls_protocols & (hi << 1)) != 0; hi <<= 1)
		;
	/* A TCP close without close_notify is an ordinary end of input:
	 * SMTP frames its own data (QUIT, CRLF.CRLF), so a cut-off stream
	 * cannot pass for a complete message, and many clients never send
	 * close_notify. */
	SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE |
	    SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	if (c->tls_protocols & (CONF_TLS_V1_0 | CONF_TLS_V1_1))
		SSL_CTX_set_security_level(ctx, 0);	/* the admin's choice */
	if (SSL_CTX_set_min_proto_version(ctx, proto_version(lo)) != 1 ||
	    SSL_CTX_set_max_proto_version(ctx, proto_version(hi)) != 1) {
		tls_fail(err, errlen, "tls_protocols");
		goto fail;
	}
	if (SSL_CTX_set_cipher_list(ctx, c->tls_ciphers) != 1) {
		tls_fail(err, errlen, "tls_ciphers");
		goto fail;
	}
	if (SSL_CTX_set_ciphersuites(ctx, c->tls_ciphersuites) != 1) {
		tls_fail(err, errlen, "tls_ciphersuites");
		goto fail;
	}
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"postbote",
	    8);
	SSL_CTX_set_tlsext_servername_callback(ctx, on_servername);
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

/* Never prompt for a passphrase: an encrypted key is an error. */
static int
no_passphrase(char *b, int size, int rw, void *u)
{
	return -1;
}

/* ctx_use_pem - the leaf certificate, its chain, and the key. */
static int
ctx_use_pem(SSL_CTX *ctx, const char *cert, const char *key, char *err,
    size_t errlen)
{
	BIO		*b = BIO_new_mem_buf(cert, -1);
	X509		*x;
	EVP_PKEY	*k;
	int		 ok;

	if (b == NULL)
		return tls_fail(err, errlen, "BIO_new_mem_buf");
	x = PEM_read_bio_X509_AUX(b, NULL, no_passphrase, NULL);
	ok = x != NULL && SSL_CTX_use_certificate(ctx, x) == 1;
	X509_free(x);
	if (!ok) {
		BIO_free(b);
		return tls_fail(err, errlen, "certificate");
	}
	while ((x = PEM_read_bio_X509(b, NULL, no_passphrase, NULL)) != NULL)
		if (SSL_CTX_add0_chain_cert(ctx, x) != 1) {
			X509_free(x);
			BIO_free(b);
			return tls_fail(err, errlen, "certificate chain");
		}
	ERR_clear_error();		/* the read past the last one */
	BIO_free(b);
	if ((b = BIO_new_mem_buf(key, -1)) == NULL)
		return tls_fail(err, errlen, "BIO_new_mem_buf");
	k = PEM_read_bio_PrivateKey(b, NULL, no_passphrase, NULL);
	BIO_free(b);
	ok = k != NULL && SSL_CTX_use_PrivateKey(ctx, k) == 1;
	EVP_PKEY_free(k);
	if (!ok)
		return tls_fail(err, errlen, "private key");
	if (SSL_CTX_check_private_key(ctx) != 1)
		return tls_fail(err, errlen, "the key does not match the "
		    "certificate");
	return 0;
}

static void
set_free(struct tls_set *t)
{
	if (t == NULL)
		return;
	SSL_CTX_free(t->def);
	for (size_t i = 0; i < t->nsni; i++) {
		free(t->sni[i].name);
		SSL_CTX_free(t->sni[i].ctx);
	}
	free(t->sni);
	free(t);
}

/*
 * set_build - contexts from material (IPC_TLS_MATERIAL, ipc_proto.h);
 * entry 0 is the default (name "").
 */
static struct tls_set *
set_build(const struct conf *c, const struct buf *m, char *err,
    size_t errlen)
{
	struct ipc_msg		 in = { .type = IPC_TLS_MATERIAL, .fd = -1 };
	struct ipc_tls_material	 mat;
	struct tls_set		*t = xcalloc(1, sizeof(*t));
	char			 what[300];

	in.p = (const unsigned char *)(m->data != NULL ? m->data : "");
	in.len = m->len;
	if (IPC_DECODE(&in, &mat, NULL) == -1 || mat.ncerts == 0) {
		snprintf(err, errlen, "no certificate material");
		ipc_proto_free(IPC_TLS_MATERIAL, &mat);
		free(t);
		return NULL;
	}
	t->sni = xcalloc(mat.ncerts, sizeof(*t->sni));
	for (size_t i = 0; i < mat.ncerts; i++) {
		const struct ipc_tls_cert *e = &mat.certs[i];
		SSL_CTX		*ctx;

		if ((ctx = ctx_new(c, err, errlen)) == NULL)
			goto fail;
		if (ctx_use_pem(ctx, e->cert, e->key, what,
		    sizeof(what)) == -1) {
			snprintf(err, errlen, "%s%s%s: %s", i ? "[tls " : "",
			    i ? e->name : "default certificate", i ? "]" : "",
			    what);
			SSL_CTX_free(ctx);
			goto fail;
		}
		if (i == 0) {
			t->def = ctx;
			continue;
		}
		t->sni[t->nsni].name = str_lower(xstrdup(e->name));
		t->sni[t->nsni++].ctx = ctx;
	}
	ipc_proto_free(IPC_TLS_MATERIAL, &mat);
	return t;
fail:
	ipc_proto_free(IPC_TLS_MATERIAL, &mat);
	set_free(t);
	return NULL;
}

static SSL_CTX *
sni_find(const struct tls_set *t, const char *name)
{
	/* An exact name wins over a wildcard. */
	for (size_t i = 0; i < t->nsni; i++)
		if (t->sni[i].name[0] != '*' &&
		    tls_name_match(t->sni[i].name, name))
			return t->sni[i].ctx;
	for (size_t i = 0; i < t->nsni; i++)
		if (t->sni[i].name[0] == '*' &&
		    tls_name_match(t->sni[i].name, name))
			return t->sni[i].ctx;
	return NULL;
}

/* on_servername - ClientHello with SNI: switch to that name's context.
 * Uses the current set, never a pointer kept from before a reload. */
static int
on_servername(SSL *ssl, int *alert, void *arg)
{
	const char	*name = SSL_get_servername(ssl,
	    TLSEXT_NAMETYPE_host_name);
	SSL_CTX		*ctx;

	if (name == NULL || cur == NULL || (ctx = sni_find(cur, name)) == NULL)
		return SSL_TLSEXT_ERR_NOACK;
	if (ctx != SSL_get_SSL_CTX(ssl))
		SSL_set_SSL_CTX(ssl, ctx);
	return SSL_TLSEXT_ERR_OK;
}

int
tls_server_load(const struct conf *c, const struct buf *m, char *err,
    size_t errlen)
{
	struct tls_set	*t = set_build(c, m, err, errlen);

	if (t == NULL)
		return -1;
	/* Live SSLs hold their own references to the old contexts. */
	set_free(cur);
	cur = t;
	return 0;
}

SSL_CTX *
tls_server_ctx(void)
{
	return cur != NULL ? cur->def : NULL;
}

void
tls_server_free(void)
{
	set_free(cur);
	cur = NULL;
}

int
tls_check_conf(const struct conf *c, char *err, size_t errlen)
{
	SSL_CTX	*ctx = ctx_new(c, err, errlen);

	SSL_CTX_free(ctx);
	return ctx != NULL ? 0 : -1;
}

/* ---- material (parent) ---- */

static int
read_pem(const char *path, struct buf *b, char *err, size_t errlen)
{
	if (buf_read_file(b, path, PEM_MAX) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (memchr(b->data ? b->data : "", '\0', b->len) != NULL) {
		snprintf(err, errlen, "%s: not a PEM file", path);
		return -1;
	}
	return 0;
}

/* wipe - a buffer that held a private key. */
static void
wipe(struct buf *b)
{
	if (b->data != NULL)
		explicit_bzero(b->data, b->cap);
	buf_free(b);
}

/* add_entry - read one certificate and its key into pem[2] and e. */
static int
add_entry(struct ipc_tls_cert *e, struct buf pem[2], const char *name,
    const char *cert, const char *key, char *err, size_t errlen)
{
	if (read_pem(cert, &pem[0], err, errlen) == -1 ||
	    read_pem(key, &pem[1], err, errlen) == -1)
		return -1;
	e->name = name;
	e->cert = buf_cstr(&pem[0]);
	e->key = buf_cstr(&pem[1]);
	return 0;
}

/* encode_material - the entries, in a buffer reserved once (a growing
 * buffer would leave copies of the keys behind). */
static void
encode_material(struct buf *out, const struct ipc_tls_material *mat)
{
	size_t	need = 64;

	for (size_t i = 0; i < mat->ncerts; i++)
		need += 16 + strlen(mat->certs[i].name) +
		    strlen(mat->certs[i].cert) + strlen(mat->certs[i].key);
	buf_reserve(out, need);
	IPC_ENCODE(out, IPC_TLS_MATERIAL, mat);
}

int
tls_material_load(const struct conf *c, char *err, size_t errlen)
{
	struct ipc_tls_material	 mat = { 0 };
	struct buf		 out, *pem;
	struct tls_set		*t;
	char			*cert = NULL, *key = NULL;
	size_t			 n = 1 + c->ntlss;
	int			 rc = -1;

	buf_init(&out, 0);
	mat.certs = xcalloc(n, sizeof(*mat.certs));
	pem = xcalloc(2 * n, sizeof(*pem));
	if (c->tls_cert != NULL) {
		cert = xstrdup(c->tls_cert);
		key = xstrdup(c->tls_key);
	} else if (tls_selfsigned(c->state_dir, c->hostname, &cert, &key,
	    err, errlen) == -1)
		goto done;
	if (add_entry(&mat.certs[0], &pem[0], "", cert, key, err,
	    errlen) == -1)
		goto done;
	for (size_t i = 0; i < c->ntlss; i++)
		if (add_entry(&mat.certs[i + 1], &pem[2 * (i + 1)],
		    c->tlss[i].name, c->tlss[i].cert, c->tlss[i].key, err,
		    errlen) == -1)
			goto done;
	mat.ncerts = n;
	encode_material(&out, &mat);
	if ((t = set_build(c, &out, err, errlen)) == NULL)
		goto done;
	set_free(t);
	tls_material_wipe();
	tls_material = out;
	buf_init(&out, 0);
	rc = 0;
done:
	wipe(&out);
	for (size_t i = 0; i < 2 * n; i++)
		wipe(&pem[i]);
	free(pem);
	free(mat.certs);
	free(cert);
	free(key);
	return rc;
}

void
tls_material_wipe(void)
{
	wipe(&tls_material);
}

/* ---- the self-signed certificate ---- */

static X509 *
make_cert(EVP_PKEY *pk, const char *host)
{
	X509		*x = X509_new();
	X509_NAME	*n;
	X509V3_CTX	 v3;
	BIGNUM		*bn = BN_new();
	char		 san[300];
	static const struct { int nid; const char *v; } ext[] = {
		{ NID_basic_constraints, "critical,CA:FALSE" },
		{ NID_key_usage, "critical,digitalSignature" },
		{ NID_ext_key_usage, "serverAuth" },
		{ NID_subject_alt_name, NULL },
	};

	if (x == NULL || bn == NULL || BN_rand(bn, 127, BN_RAND_TOP_ANY,
	    BN_RAND_BOTTOM_ANY) != 1 ||
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL ||
	    X509_set_version(x, 2) != 1 ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -3600) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(x), SELF_DAYS, 0, NULL) ==
	    NULL || X509_set_pubkey(x, pk) != 1)
		goto fail;
	n = X509_get_subject_name(x);
	if (X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	    (const unsigned char *)host, -1, -1, 0) != 1 ||
	    X509_set_issuer_name(x, n) != 1)
		goto fail;
	snprintf(san, sizeof(san), "DNS:%s", host);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	for (size_t i = 0; i < NELEM(ext); i++) {
		X509_EXTENSION	*e = X509V3_EXT_conf_nid(NULL, &v3, ext[i].nid,
		    ext[i].v ? ext[i].v : san);
		int		 ok = e != NULL && X509_add_ext(x, e, -1) == 1;

		X509_EXTENSION_free(e);
		if (!ok)
			goto fail;
	}
	if (X509_sign(x, pk, EVP_sha256()) == 0)
		goto fail;
	BN_free(bn);
	return x;
fail:
	BN_free(bn);
	X509_free(x);
	return NULL;
}

/* write_new - path.tmp (mode, exclusive), synced, renamed over path. */
static int
write_new(const char *path, BIO *mem, mode_t mode)
{
	char	*tmp, *p;
	long	 len = BIO_get_mem_data(mem, &p);
	int	 fd, rc = -1;
	size_t	 off = 0;

	xasprintf(&tmp, "%s.tmp", path);
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    mode);
	while (fd != -1 && off < (size_t)len) {
		ssize_t	w = write(fd, p + off, (size_t)len - off);

		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	if (fd != -1 && off == (size_t)len && fsync(fd) == 0 &&
	    rename(tmp, path) == 0)
		rc = 0;
	if (fd != -1)
		close(fd);
	if (rc == -1)
		unlink(tmp);
	free(tmp);
	return rc;
}

static int
generate(const char *host, const char *cert, const char *key, char *err,
    size_t errlen)
{
	EVP_PKEY	*pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509		*x = pk != NULL ? make_cert(pk, host) : NULL;
	BIO		*kb = BIO_new(BIO_s_mem()), *cb = BIO_new(BIO_s_mem());
	int		 rc = -1;

	if (x == NULL || kb == NULL || cb == NULL ||
	    PEM_write_bio_PrivateKey(kb, pk, NULL, NULL, 0, NULL, NULL) != 1 ||
	    PEM_write_bio_X509(cb, x) != 1)
		tls_fail(err, errlen, "cannot make the self-signed certificate");
	else if (write_new(key, kb, 0600) == -1 ||
	    write_new(cert, cb, 0644) == -1)
		snprintf(err, errlen, "cannot write %s: %s", cert,
		    strerror(errno));
	else
		rc = 0;
	BIO_free(kb);
	BIO_free(cb);
	X509_free(x);
	EVP_PKEY_free(pk);
	return rc;
}

int
tls_selfsigned(const char *state_dir, const char *host, char **cert,
    char **key, char *err, size_t errlen)
{
	char		*dir;
	struct stat	 st;

	xasprintf(&dir, "%s/tls", state_dir);
	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", dir,
		    strerror(errno));
		free(dir);
		return -1;
	}
	xasprintf(cert, "%s/selfsigned.crt", dir);
	xasprintf(key, "%s/selfsigned.key", dir);
	free(dir);
	if (stat(*cert, &st) == 0 && stat(*key, &st) == 0)
		return 0;
	if (generate(host, *cert, *key, err, errlen) == -1) {
		free(*cert);
		free(*key);
		*cert = *key = NULL;
		return -1;
	}
	log_info("event=tls-selfsigned cert=%s hostname=%s", *cert, host);
	return 0;
}
