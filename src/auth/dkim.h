/*
 * dkim.h - DKIM signatures (RFC 6376, Ed25519 per RFC 8463, RFC 8301
 * algorithm rules): tag lists, message headers, canonicalization,
 * signing, verification, and key material.
 *
 * Everything here is pure (bytes in, bytes out) except what dkim_key.c
 * asks of OpenSSL.  Messages are whole, in memory, with CRLF line ends.
 *
 * Verification is split so that a server can fetch keys asynchronously:
 *
 *	struct dkim_verify v;
 *	dkim_verify_begin(&v, msg, len, time(NULL), err, sizeof(err));
 *	for (i = 0; i < v.nsig; i++)
 *		if (dkim_verify_pending(&v, i))
 *			start TXT lookup of dkim_verify_keyname(&v, i, ...)
 *	... as each answer arrives (any order):
 *		dkim_verify_key(&v, i, DKIM_LOOKUP_OK, txt, txtlen);
 *	... when none is pending, read v.sig[i].result and .reason;
 *	dkim_verify_free(&v);
 *
 * dkim_verify() does all of it with a synchronous lookup function.
 * msg must stay valid and unchanged until dkim_verify_free().
 */
#ifndef POSTBOTE_DKIM_H
#define POSTBOTE_DKIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;

#define DKIM_TAGS_MAX		32	/* tags in one tag list */
#define DKIM_SIGS_MAX		16	/* signatures checked per message */
#define DKIM_BODY_HASHES_MAX	3	/* distinct body hashes computed per
					 * message: each is a pass over the
					 * whole body (RFC 6376 6.1 lets a
					 * verifier limit its work) */
#define DKIM_HNAMES_MAX		128	/* entries in a signature's h= */
#define DKIM_HDRS_MAX		2000	/* header fields in a message */
#define DKIM_NAME_MAX		253	/* domain, selector, and the key name */
#define DKIM_RSA_MIN_BITS	1024	/* RFC 8301 3.2: verifiers refuse less */
#define DKIM_FUTURE_SLOP	300	/* seconds of clock skew allowed for t= */

/* ---- tag lists (RFC 6376 3.2) ---- */

enum dkim_tags_err {
	DKIM_TAGS_OK = 0,
	DKIM_TAGS_SYNTAX,	/* not a tag-list */
	DKIM_TAGS_DUP,		/* a tag name appears twice */
	DKIM_TAGS_MANY,		/* more than DKIM_TAGS_MAX tags */
};

/* All pointers point into the parsed text. */
struct dkim_tag {
	const char	*name;
	size_t		 namelen;
	const char	*value;		/* FWS cut at both ends, kept inside */
	size_t		 valuelen;
	const char	*eq;		/* the '=' */
	const char	*end;		/* the ';' after the value, or the end */
};

struct dkim_tags {
	struct dkim_tag	 tag[DKIM_TAGS_MAX];
	size_t		 n;
};

/*
 * dkim_tags_parse - parse s (len bytes, no NUL needed) as a tag-list:
 * names ALPHA *(ALNUM / "_"), case-sensitive and unique; values of
 * VALCHARs with WSP or FWS (CRLF then WSP) between them; a final ';' is
 * allowed.  On any error t->n is 0.
 */
enum dkim_tags_err dkim_tags_parse(const char *s, size_t len,
	    struct dkim_tags *t);
/* dkim_tags_find - the tag called name, or NULL. */
const struct dkim_tag *dkim_tags_find(const struct dkim_tags *,
	    const char *name);

/* ---- messages and canonicalization (RFC 6376 3.4) ---- */

enum dkim_canon {
	DKIM_CANON_RELAXED = 0,		/* zero: the signer's default */
	DKIM_CANON_SIMPLE,
};

/* One header field: raw is "Name: value" with its folding CRLFs, without
 * the CRLF that ends it; name is raw's field name, WSP before ':' cut. */
struct dkim_hdr {
	const char	*raw;
	size_t		 rawlen;
	const char	*name;
	size_t		 namelen;
};

struct dkim_msg {
	struct dkim_hdr	*hdr;		/* owned array; pointers into the msg */
	size_t		 nhdr;
	const char	*body;		/* after the empty line; may be empty */
	size_t		 bodylen;
};

/*
 * dkim_msg_parse - split a CRLF message into header fields and body.
 * Only CRLF ends a line; a line starting with SP or HTAB continues the
 * field above.  No empty line means no body.  Returns 0, or -1 if a
 * field has no ':' or a name that is not printable ASCII, the first line
 * is a continuation, or there are more than DKIM_HDRS_MAX fields.
 * Free with dkim_msg_free (also after a failure).
 */
int	 dkim_msg_parse(const char *msg, size_t len, struct dkim_msg *m);
void	 dkim_msg_free(struct dkim_msg *);

/* dkim_canon_header - append the canonical form of the field raw
 * (rawlen bytes) and a CRLF to out.  Returns 0 or -1 (buffer limit). */
int	 dkim_canon_header(enum dkim_canon, const char *raw, size_t rawlen,
	    struct buf *out);
/* dkim_canon_body - append the canonical form of a whole body to out.
 * Simple: trailing empty lines cut, "" becomes CRLF.  Relaxed: WSP runs
 * become one SP, WSP at line ends and trailing empty lines cut, "" stays
 * "" (RFC 6376 errata 1384).  A last line without CRLF gets one. */
int	 dkim_canon_body(enum dkim_canon, const char *body, size_t len,
	    struct buf *out);
/*
 * dkim_select_headers - append the canonical fields named by names[]
 * (in that order) to out: each name takes the bottom-most field of that
 * name not yet taken; a name with none left adds nothing (RFC 6376
 * 5.4.2), which is how "oversigning" works.  Returns 0 or -1.
 */
int	 dkim_select_headers(const struct dkim_msg *, enum dkim_canon,
	    const char *const *names, size_t n, struct buf *out);

/*
 * dkim_hash_input - the data a signature covers (RFC 6376 3.7): the
 * fields names[] selected and canonicalized, then the signature field
 * sig (siglen bytes, no final CRLF) with its b= value removed and
 * canonicalized, without its CRLF.  Appended to out.  Returns 0, or -1
 * if sig has no valid tag list with b=.
 */
int	 dkim_hash_input(const struct dkim_msg *, enum dkim_canon,
	    const char *const *names, size_t n, const char *sig,
	    size_t siglen, struct buf *out);
/* dkim_body_hash - SHA-256 of the canonical body, cut to l bytes when
 * has_l.  Returns 0, or -1 when l is longer than the canonical body.
 * The body is canonicalized as a stream into the hash (a few KiB of
 * memory, whatever the body's size); the result is that of hashing
 * dkim_canon_body's output. */
int	 dkim_body_hash(const struct dkim_msg *, enum dkim_canon, bool has_l,
	    uint64_t l, unsigned char out[32]);

/* dkim_name_is_valid - a domain or selector: dot-separated labels of
 * letters, digits, '-' and '_', 1-63 bytes each, at most 253 in all. */
bool	 dkim_name_is_valid(const char *s, size_t len);

/* ---- keys (dkim_key.c, OpenSSL) ---- */

enum dkim_keytype { DKIM_KEY_RSA = 0, DKIM_KEY_ED25519 };
enum dkim_alg { DKIM_ALG_RSA_SHA256 = 0, DKIM_ALG_ED25519_SHA256,
	DKIM_ALG_RSA_SHA1 };

struct dkim_key;		/* opaque: a private or a public key */

/* dkim_key_load_pem - an RSA or Ed25519 private key in PEM (PKCS#1 or
 * PKCS#8, unencrypted).  Returns 0 and *key (caller frees), or -1 with
 * err set. */
int	 dkim_key_load_pem(const char *pem, size_t len, struct dkim_key **key,
	    char *err, size_t errlen);
/* dkim_key_generate - a new key; bits is for RSA only (0: 2048).
 * Returns 0 and *key, or -1. */
int	 dkim_key_generate(enum dkim_keytype, unsigned bits,
	    struct dkim_key **key);
/* dkim_key_from_record - the public key of a key record's p= value
 * (decoded bytes): RSA as SubjectPublicKeyInfo or RSAPublicKey DER,
 * Ed25519 as the 32 raw bytes (RFC 8463 4.2).  Returns 0 or -1. */
int	 dkim_key_from_record(enum dkim_keytype, const unsigned char *p,
	    size_t plen, struct dkim_key **key);
void	 dkim_key_free(struct dkim_key *);
enum dkim_keytype dkim_key_type(const struct dkim_key *);
/* dkim_key_bits - the RSA modulus size; 256 for Ed25519. */
unsigned dkim_key_bits(const struct dkim_key *);
/* dkim_key_private_pem - append the private key as PKCS#8 PEM. */
int	 dkim_key_private_pem(const struct dkim_key *, struct buf *out);
/* dkim_key_record - append the DNS TXT record text for the public key:
 * "v=DKIM1; k=rsa; p=BASE64" (or k=ed25519). */
int	 dkim_key_record(const struct dkim_key *, struct buf *out);
/*
 * dkim_key_sign - sign the canonical data: RSA with SHA-256 and PKCS#1
 * v1.5; Ed25519 over SHA-256(data) (RFC 8463 3).  *sig is allocated
 * (caller frees).  Returns 0 or -1.
 */
int	 dkim_key_sign(const struct dkim_key *, const void *data, size_t len,
	    unsigned char **sig, size_t *siglen);
/* dkim_key_verify - check sig over data the same way; alg picks SHA-1
 * or SHA-256 for RSA.  Returns 1 good, 0 bad. */
int	 dkim_key_verify(const struct dkim_key *, enum dkim_alg,
	    const void *data, size_t len, const unsigned char *sig,
	    size_t siglen);
/* dkim_key_sha_new / _update / _final - SHA-256 in pieces; final frees. */
struct dkim_sha;
struct dkim_sha *dkim_key_sha_new(void);
void	 dkim_key_sha_update(struct dkim_sha *, const void *, size_t);
void	 dkim_key_sha_final(struct dkim_sha *, unsigned char out[32]);
/* dkim_key_sha256 - out gets the 32-byte SHA-256 of data. */
void	 dkim_key_sha256(const void *data, size_t len, unsigned char out[32]);

/* ---- signing ---- */

struct dkim_sign_opts {
	const char		*domain;	/* d= */
	const char		*selector;	/* s= */
	const struct dkim_key	*key;		/* a= follows its type */
	const char *const	*headers;	/* NULL-terminated; NULL: the
						 * default list, see dkim.c */
	int64_t			 now;		/* t=; < 0 leaves it out */
	int64_t			 expire;	/* x=; 0 leaves it out */
	bool			 body_length;	/* add l= (whole body) */
	enum dkim_canon		 hcanon, bcanon; /* zeroed: relaxed */
};

/*
 * dkim_sign - sign the CRLF message msg and append one "DKIM-Signature:"
 * field to out, folded at 78 columns with CRLF, ending in CRLF: put it
 * before the message.  Returns 0, or -1 with err set (no From field,
 * bad domain or selector, key failure).
 */
int	 dkim_sign(const char *msg, size_t len, const struct dkim_sign_opts *,
	    struct buf *out, char *err, size_t errlen);

/* ---- verification ---- */

enum dkim_result {
	DKIM_PENDING = 0,	/* waiting for its key record */
	DKIM_PASS,
	DKIM_FAIL,		/* body hash or signature does not match */
	DKIM_NEUTRAL,		/* the signature field is malformed */
	DKIM_POLICY,		/* valid form, but refused: expired, dated in
				 * the future, rsa-sha1, RSA key too short */
	DKIM_TEMPERROR,		/* the key lookup failed for now */
	DKIM_PERMERROR,		/* no key, bad or revoked key, or a key that
				 * forbids this use (k=, h=, s=, t=s) */
};

enum dkim_lookup {
	DKIM_LOOKUP_OK = 0,	/* rec holds the TXT record text */
	DKIM_LOOKUP_NONE,	/* NXDOMAIN or no TXT record */
	DKIM_LOOKUP_TEMP,	/* try again later */
	DKIM_LOOKUP_PERM,	/* malformed answer */
};

struct dkim_sig {
	enum dkim_result result;
	char		 reason[96];	/* why, when not pass; "" if pass */
	bool		 testing;	/* the key record has t=y */
	size_t		 hdr;		/* index of its field in msg.hdr */
	enum dkim_alg	 alg;
	enum dkim_canon	 hcanon, bcanon;
	char		 domain[DKIM_NAME_MAX + 1];	/* d=, lower case */
	char		 selector[DKIM_NAME_MAX + 1];	/* s= */
	char		*auid;		/* i=, owned; NULL when absent */
	/* parsed, for the key step */
	char		**hnames;	/* h=, owned */
	size_t		 nhnames;
	unsigned char	*bh, *b;	/* decoded bh= and b=, owned */
	size_t		 bhlen, blen;
	bool		 has_l;
	uint64_t	 l;
	int64_t		 t, x;		/* -1 when absent */
};

/* A body hash already computed, for the signatures that share it. */
struct dkim_bh {
	enum dkim_canon	 canon;
	bool		 has_l;
	uint64_t	 l;
	int		 rc;		/* dkim_body_hash's */
	unsigned char	 bh[32];
};

struct dkim_verify {
	struct dkim_msg	 msg;
	struct dkim_sig	*sig;		/* owned; nsig entries */
	size_t		 nsig;
	int64_t		 now;
	struct dkim_bh	 bh[DKIM_BODY_HASHES_MAX];
	size_t		 nbh;
};

/*
 * dkim_verify_begin - parse msg and each DKIM-Signature field (the first
 * DKIM_SIGS_MAX of them).  Malformed or refused signatures get their
 * final result now; the others are DKIM_PENDING.  Returns 0, or -1 with
 * err set if the message cannot be parsed (no results then).  Always
 * call dkim_verify_free.
 */
int	 dkim_verify_begin(struct dkim_verify *, const char *msg, size_t len,
	    int64_t now, char *err, size_t errlen);
/* dkim_verify_pending - does signature i still need its key? */
bool	 dkim_verify_pending(const struct dkim_verify *, size_t i);
/* dkim_verify_keyname - "selector._domainkey.domain" into name. */
void	 dkim_verify_keyname(const struct dkim_verify *, size_t i,
	    char *name, size_t size);
/*
 * dkim_verify_key - the lookup result for signature i: rec is the text
 * of the TXT record (its strings joined), only read during the call.
 * Finishes signature i.  Ignored unless it is pending.
 */
void	 dkim_verify_key(struct dkim_verify *, size_t i, enum dkim_lookup,
	    const char *rec, size_t reclen);
void	 dkim_verify_free(struct dkim_verify *);

/* dkim_lookup_fn - synchronous key lookup: append the record to rec. */
typedef enum dkim_lookup (*dkim_lookup_fn)(void *arg, const char *selector,
	    const char *domain, struct buf *rec);
/* dkim_verify - begin, look every key up through fn, finish. */
int	 dkim_verify(struct dkim_verify *, const char *msg, size_t len,
	    int64_t now, dkim_lookup_fn fn, void *arg, char *err,
	    size_t errlen);

/* dkim_verify_result_str - "pass", "fail", ... as RFC 8601 spells them. */
const char *dkim_verify_result_str(enum dkim_result);
/* dkim_alg_str - "rsa-sha256", "ed25519-sha256", "rsa-sha1". */
const char *dkim_alg_str(enum dkim_alg);

#endif
