/*
 * dkim_sign.c - the DKIM key store and signer (dkim_sign.h): private
 * keys by domain and selector, and the signatures of a message made with
 * every key of its From domain (RFC 6376 5; Ed25519 per RFC 8463).  The
 * canonicalization and the signature field are dkim_sign() of dkim.c;
 * the From domain is dmarc_from_extract's, the one DMARC checks, so a
 * signature we add is the aligned one.
 *
 * Runs in smtpd (relay and authenticated mail) and queue (local
 * submissions), on their loops.  Trust: the keys are the admin's; the
 * message is the sender's and is only read by the bounded parsers of
 * dkim.c and dmarc_from.c.  No config, no files: the caller hands the
 * keys in.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "auth/dkim.h"
#include "auth/dkim_sign.h"
#include "auth/dmarc.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "lib/util.h"

struct sign_key {
	char		*domain, *selector;
	struct dkim_key	*key;
};

struct dkim_signer {
	struct sign_key	*keys;
	size_t		 n;
};

static struct sign_key	*find(const struct dkim_signer *, const char *,
			    const char *);
static void		 key_free(struct sign_key *);
static void		 sign_one(const struct sign_key *, const char *,
			    size_t, struct buf *, const char *, size_t *);

/* dkim_sign_new - see dkim_sign.h. */
struct dkim_signer *
dkim_sign_new(void)
{
	return xcalloc(1, sizeof(struct dkim_signer));
}

/* dkim_sign_add - see dkim_sign.h. */
void
dkim_sign_add(struct dkim_signer *s, const char *domain,
    const char *selector, struct dkim_key *key)
{
	struct sign_key	*k;

	s->keys = xreallocarray(s->keys, s->n + 1, sizeof(*s->keys));
	k = &s->keys[s->n++];
	k->domain = xstrdup(domain);
	k->selector = xstrdup(selector);
	k->key = key;
}

/* dkim_sign_add_pem - see dkim_sign.h. */
int
dkim_sign_add_pem(struct dkim_signer *s, const char *domain,
    const char *selector, const char *pem, size_t len, char *err,
    size_t errlen)
{
	struct dkim_key	*key;

	if (dkim_key_load_pem(pem, len, &key, err, errlen) == -1)
		return -1;
	dkim_sign_add(s, domain, selector, key);
	return 0;
}

static struct sign_key *
find(const struct dkim_signer *s, const char *domain, const char *selector)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcasecmp(s->keys[i].domain, domain) == 0 &&
		    strcasecmp(s->keys[i].selector, selector) == 0)
			return &s->keys[i];
	return NULL;
}

/* dkim_sign_move - see dkim_sign.h. */
int
dkim_sign_move(struct dkim_signer *to, struct dkim_signer *from,
    const char *domain, const char *selector)
{
	struct sign_key	*k = find(from, domain, selector);
	size_t		 i;

	ASSERT(to != from);	/* k would move under the realloc */
	if (k == NULL)
		return -1;
	dkim_sign_add(to, k->domain, k->selector, k->key);
	k->key = NULL;
	key_free(k);
	i = (size_t)(k - from->keys);
	memmove(k, k + 1, (from->n - i - 1) * sizeof(*k));
	from->n--;
	return 0;
}

/* dkim_sign_count - see dkim_sign.h. */
size_t
dkim_sign_count(const struct dkim_signer *s)
{
	return s != NULL ? s->n : 0;
}

/* sign_one - one signature with k, logged; *n counts the fields made. */
static void
sign_one(const struct sign_key *k, const char *msg, size_t len,
    struct buf *out, const char *what, size_t *n)
{
	struct dkim_sign_opts	 o;
	char			 err[256];

	memset(&o, 0, sizeof(o));
	o.domain = k->domain;
	o.selector = k->selector;
	o.key = k->key;
	o.now = (int64_t)time(NULL);
	if (dkim_sign(msg, len, &o, out, err, sizeof(err)) == -1) {
		log_warn("%s event=dkim-sign result=failed domain=%s "
		    "selector=%s reason=\"%s\"", what, o.domain, o.selector,
		    log_safe(err));
		return;
	}
	log_info("%s event=dkim-sign domain=%s selector=%s", what, o.domain,
	    o.selector);
	(*n)++;
}

/* dkim_sign_message - see dkim_sign.h. */
size_t
dkim_sign_message(const struct dkim_signer *s, const void *msg, size_t len,
    struct buf *out, const char *what)
{
	struct dmarc_from	 from;
	size_t			 n = 0;

	if (s == NULL || s->n == 0 ||
	    dmarc_from_extract(msg, len, &from) != DMARC_FROM_OK)
		return 0;
	for (size_t i = 0; i < s->n; i++)
		if (strcasecmp(s->keys[i].domain, from.domain) == 0)
			sign_one(&s->keys[i], msg, len, out, what, &n);
	return n;
}

static void
key_free(struct sign_key *k)
{
	free(k->domain);
	free(k->selector);
	dkim_key_free(k->key);
}

/* dkim_sign_free - see dkim_sign.h. */
void
dkim_sign_free(struct dkim_signer *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->n; i++)
		key_free(&s->keys[i]);
	free(s->keys);
	free(s);
}
