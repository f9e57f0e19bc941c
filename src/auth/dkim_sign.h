/*
 * dkim_sign.h - a DKIM signer: the private keys of some domains, and one
 * DKIM-Signature field per key of a message's From domain.  It knows no
 * config: the caller adds each key with its domain and selector (see
 * common/dkim_keys.c for the [dkim DOMAIN] sections).
 *
 *	s = dkim_sign_new();
 *	dkim_sign_add(s, "example.com", "s2026", key);	(s owns key)
 *	dkim_sign_message(s, msg, len, &fields, "4BF2A9C01E:");
 *	dkim_sign_free(s);
 */
#ifndef POSTBOTE_DKIM_SIGN_H
#define POSTBOTE_DKIM_SIGN_H

#include <stddef.h>

struct buf;
struct dkim_key;
struct dkim_signer;

/* dkim_sign_new - a signer without keys.  Never fails. */
struct dkim_signer *dkim_sign_new(void);
/*
 * dkim_sign_add - sign the mail of domain (any case) with key under
 * selector from now on.  The signer owns key (and frees it); domain and
 * selector are copied.  A domain may have several keys (RSA, Ed25519):
 * each gives its own signature, in the order added.
 */
void	 dkim_sign_add(struct dkim_signer *, const char *domain,
	    const char *selector, struct dkim_key *key);
/*
 * dkim_sign_add_pem - dkim_sign_add of the private key in pem (len
 * bytes, RSA or Ed25519, see dkim_key_load_pem).  Returns 0, or -1 with
 * err set and the signer unchanged.
 */
int	 dkim_sign_add_pem(struct dkim_signer *, const char *domain,
	    const char *selector, const char *pem, size_t len, char *err,
	    size_t errlen);
/*
 * dkim_sign_move - move the key of domain and selector from one signer
 * to another (a reload that cannot read a key file keeps the key it
 * had).  Returns 0, or -1 when from has no such key.
 */
int	 dkim_sign_move(struct dkim_signer *to, struct dkim_signer *from,
	    const char *domain, const char *selector);
/* dkim_sign_count - how many keys the signer holds (NULL: 0). */
size_t	 dkim_sign_count(const struct dkim_signer *);
/*
 * dkim_sign_message - append to out one "DKIM-Signature:" field (with
 * its CRLF) per key of the domain of msg's From field, to be put before
 * the message; nothing when msg has no single From domain or the signer
 * (may be NULL) has no key for it.  Each signature is logged, its line
 * starting with what (the message's name: "QID: session=ID").  Returns
 * the number of fields appended.
 */
size_t	 dkim_sign_message(const struct dkim_signer *, const void *msg,
	    size_t len, struct buf *out, const char *what);
/* dkim_sign_free - the signer and its keys; NULL is ignored. */
void	 dkim_sign_free(struct dkim_signer *);

#endif
