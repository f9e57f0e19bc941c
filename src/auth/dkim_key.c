/*
 * dkim_key.c - DKIM key material and the signature primitives, the only
 * part of DKIM that calls OpenSSL: loading PEM private keys, generating
 * keys, building public keys from key records, the TXT record text,
 * RSA-SHA256 (PKCS#1 v1.5) and Ed25519-SHA256 (RFC 8463), and base64.
 *
 * Runs wherever DKIM runs: the CLI, and later smtpd (verify) and the
 * process that holds the private keys (sign).  No file or network I/O.
 *
 * Trust: the PEM comes from the admin; key records and signatures come
 * from the network and are only handed to OpenSSL's DER and raw-key
 * decoders after length checks.  Encrypted PEM is refused, never
 * prompted for.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "lib/base64.h"
#include "lib/buf.h"
#include "auth/dkim.h"
#include "lib/log.h"
#include "lib/util.h"

#define ED25519_RAW	32
#define RSA_DEFAULT_BITS 2048
#define RSA_MAX_BITS	8192

struct dkim_key {
	EVP_PKEY		*pkey;
	enum dkim_keytype	 type;
};

static int	 no_password(char *, int, int, void *);
static int	 wrap(EVP_PKEY *, struct dkim_key **);
static int	 bio_to_buf(BIO *, struct buf *);

static int
no_password(char *pw, int size, int rwflag, void *arg)
{
	(void)pw;
	(void)size;
	(void)rwflag;
	(void)arg;
	return -1;
}

/* wrap - take pkey into a new dkim_key if it is RSA or Ed25519. */
static int
wrap(EVP_PKEY *pkey, struct dkim_key **key)
{
	struct dkim_key	*k;
	int		 id = EVP_PKEY_get_base_id(pkey);

	if (id != EVP_PKEY_RSA && id != EVP_PKEY_ED25519) {
		EVP_PKEY_free(pkey);
		return -1;
	}
	k = xcalloc(1, sizeof(*k));
	k->pkey = pkey;
	k->type = id == EVP_PKEY_RSA ? DKIM_KEY_RSA : DKIM_KEY_ED25519;
	*key = k;
	return 0;
}

/* dkim_key_load_pem - an unencrypted RSA or Ed25519 private key. */
int
dkim_key_load_pem(const char *pem, size_t len, struct dkim_key **key,
    char *err, size_t errlen)
{
	BIO		*bio;
	EVP_PKEY	*pkey;

	*key = NULL;
	if (len > INT32_MAX || (bio = BIO_new_mem_buf(pem, (int)len)) == NULL) {
		snprintf(err, errlen, "cannot read key");
		return -1;
	}
	pkey = PEM_read_bio_PrivateKey(bio, NULL, no_password, NULL);
	BIO_free(bio);
	ERR_clear_error();
	if (pkey == NULL) {
		snprintf(err, errlen, "not an unencrypted PEM private key");
		return -1;
	}
	if (wrap(pkey, key) == -1) {
		snprintf(err, errlen, "key is neither RSA nor Ed25519");
		return -1;
	}
	if ((*key)->type == DKIM_KEY_RSA &&
	    dkim_key_bits(*key) < DKIM_RSA_MIN_BITS) {
		dkim_key_free(*key);
		*key = NULL;
		snprintf(err, errlen, "RSA key shorter than %d bits",
		    DKIM_RSA_MIN_BITS);
		return -1;
	}
	return 0;
}

/* dkim_key_generate - RSA (bits, default 2048) or Ed25519. */
int
dkim_key_generate(enum dkim_keytype type, unsigned bits,
    struct dkim_key **key)
{
	EVP_PKEY	*pkey;

	*key = NULL;
	if (type == DKIM_KEY_RSA) {
		if (bits == 0)
			bits = RSA_DEFAULT_BITS;
		if (bits > RSA_MAX_BITS)
			return -1;
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
	} else
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (pkey == NULL) {
		ERR_clear_error();
		return -1;
	}
	return wrap(pkey, key);
}

/* dkim_key_from_record - public key from a decoded p= value. */
int
dkim_key_from_record(enum dkim_keytype type, const unsigned char *p,
    size_t plen, struct dkim_key **key)
{
	const unsigned char	*q = p;
	EVP_PKEY		*pkey = NULL;

	*key = NULL;
	if (plen == 0 || plen > 4096)
		return -1;
	if (type == DKIM_KEY_ED25519) {
		if (plen != ED25519_RAW)
			return -1;
		pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, p,
		    plen);
	} else {
		pkey = d2i_PUBKEY(NULL, &q, (long)plen);
		if (pkey == NULL || q != p + plen ||
		    EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA) {
			EVP_PKEY_free(pkey);
			q = p;
			pkey = d2i_PublicKey(EVP_PKEY_RSA, NULL, &q,
			    (long)plen);
			if (pkey != NULL && q != p + plen) {
				EVP_PKEY_free(pkey);
				pkey = NULL;
			}
		}
	}
	ERR_clear_error();
	if (pkey == NULL)
		return -1;
	return wrap(pkey, key);
}

void
dkim_key_free(struct dkim_key *k)
{
	if (k == NULL)
		return;
	EVP_PKEY_free(k->pkey);
	free(k);
}

enum dkim_keytype
dkim_key_type(const struct dkim_key *k)
{
	return k->type;
}

unsigned
dkim_key_bits(const struct dkim_key *k)
{
	int	 bits = EVP_PKEY_get_bits(k->pkey);

	return bits > 0 ? (unsigned)bits : 0;
}

/* bio_to_buf - append a memory BIO's contents to out. */
static int
bio_to_buf(BIO *bio, struct buf *out)
{
	char	*p;
	long	 n = BIO_get_mem_data(bio, &p);

	if (n < 0)
		return -1;
	return buf_append(out, p, (size_t)n);
}

/* dkim_key_private_pem - PKCS#8 PEM of the private key. */
int
dkim_key_private_pem(const struct dkim_key *k, struct buf *out)
{
	BIO	*bio;
	int	 rc = -1;

	if ((bio = BIO_new(BIO_s_mem())) == NULL)
		return -1;
	if (PEM_write_bio_PrivateKey(bio, k->pkey, NULL, NULL, 0, NULL,
	    NULL) == 1)
		rc = bio_to_buf(bio, out);
	BIO_free(bio);
	ERR_clear_error();
	return rc;
}

/* dkim_key_record - "v=DKIM1; k=...; p=..." (RFC 6376 3.6.1). */
int
dkim_key_record(const struct dkim_key *k, struct buf *out)
{
	unsigned char	 raw[ED25519_RAW], *der = NULL;
	size_t		 rawlen = sizeof(raw);
	int		 n, rc;

	if (k->type == DKIM_KEY_ED25519) {
		if (EVP_PKEY_get_raw_public_key(k->pkey, raw, &rawlen) != 1)
			return -1;
		if (buf_puts(out, "v=DKIM1; k=ed25519; p=") == -1)
			return -1;
		return base64_encode(raw, rawlen, out);
	}
	if ((n = i2d_PUBKEY(k->pkey, &der)) <= 0) {
		ERR_clear_error();
		return -1;
	}
	rc = buf_puts(out, "v=DKIM1; k=rsa; p=");
	if (rc == 0)
		rc = base64_encode(der, (size_t)n, out);
	OPENSSL_free(der);
	return rc;
}

/* dkim_key_sha256 - SHA-256 of data. */
/* dkim_key_sha_new - see dkim.h; the context is OpenSSL's EVP_MD_CTX. */
struct dkim_sha *
dkim_key_sha_new(void)
{
	EVP_MD_CTX	*c = EVP_MD_CTX_new();

	if (c == NULL || EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1)
		fatalx("dkim: SHA-256 failed");
	return (struct dkim_sha *)c;
}

void
dkim_key_sha_update(struct dkim_sha *h, const void *p, size_t n)
{
	if (n > 0 && EVP_DigestUpdate((EVP_MD_CTX *)h, p, n) != 1)
		fatalx("dkim: SHA-256 failed");
}

void
dkim_key_sha_final(struct dkim_sha *h, unsigned char out[32])
{
	unsigned int	 n = 32;

	if (EVP_DigestFinal_ex((EVP_MD_CTX *)h, out, &n) != 1)
		fatalx("dkim: SHA-256 failed");
	EVP_MD_CTX_free((EVP_MD_CTX *)h);
}

void
dkim_key_sha256(const void *data, size_t len, unsigned char out[32])
{
	unsigned int	 n = 32;

	if (EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) != 1)
		fatalx("dkim: SHA-256 failed");
}

/* dkim_key_sign - RSA-SHA256 over data, or Ed25519 over SHA-256(data). */
int
dkim_key_sign(const struct dkim_key *k, const void *data, size_t len,
    unsigned char **sig, size_t *siglen)
{
	EVP_MD_CTX	*ctx;
	unsigned char	 hash[32];
	const EVP_MD	*md = EVP_sha256();
	int		 ok;

	*sig = NULL;
	*siglen = 0;
	if (k->type == DKIM_KEY_ED25519) {
		dkim_key_sha256(data, len, hash);
		data = hash;
		len = sizeof(hash);
		md = NULL;
	}
	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return -1;
	ok = EVP_DigestSignInit(ctx, NULL, md, NULL, k->pkey) == 1 &&
	    EVP_DigestSign(ctx, NULL, siglen, data, len) == 1;
	if (ok) {
		*sig = xmalloc(*siglen);
		ok = EVP_DigestSign(ctx, *sig, siglen, data, len) == 1;
	}
	EVP_MD_CTX_free(ctx);
	ERR_clear_error();
	if (!ok) {
		free(*sig);
		*sig = NULL;
		return -1;
	}
	return 0;
}

/* dkim_key_verify - 1 if sig is good for data under alg. */
int
dkim_key_verify(const struct dkim_key *k, enum dkim_alg alg,
    const void *data, size_t len, const unsigned char *sig, size_t siglen)
{
	EVP_MD_CTX	*ctx;
	unsigned char	 hash[32];
	const EVP_MD	*md;
	int		 ok;

	if ((k->type == DKIM_KEY_ED25519) !=
	    (alg == DKIM_ALG_ED25519_SHA256))
		return 0;
	if (k->type == DKIM_KEY_ED25519) {
		dkim_key_sha256(data, len, hash);
		data = hash;
		len = sizeof(hash);
		md = NULL;
	} else
		md = alg == DKIM_ALG_RSA_SHA1 ? EVP_sha1() : EVP_sha256();
	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return 0;
	ok = EVP_DigestVerifyInit(ctx, NULL, md, NULL, k->pkey) == 1 &&
	    EVP_DigestVerify(ctx, sig, siglen, data, len) == 1;
	EVP_MD_CTX_free(ctx);
	ERR_clear_error();
	return ok;
}
