/*
 * dane.c - DANE for the SMTP client of the deliver process (RFC 7672 for
 * SMTP, RFC 7671 for the operational rules, RFC 6698 for TLSA).  Owns the
 * TLSA lookups in flight and the usable records handed to remote.c; the
 * certificate chain is matched against them by OpenSSL's own DANE code
 * (SSL_dane_enable), which builds the chain to a DANE-TA anchor and
 * matches DANE-EE leaves.
 *
 * Trust: the TLSA answer comes from the resolver; it counts only when the
 * resolver set the AD bit (dns.c, dnssec_resolver = yes) and is parsed
 * strictly by mail/tlsa.c.  PKIX-TA(0) and PKIX-EE(1) records are never
 * handed to OpenSSL (RFC 7672 3.1.3), so no public CA can vouch for a
 * DANE host, and the DANE context has no CA store at all.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "deliver/dane.h"
#include "lib/buf.h"
#include "lib/dns.h"
#include "lib/log.h"
#include "lib/util.h"
#include "mail/tlsa.h"

#define QNAME_MAX	280	/* "_65535._tcp." + a 253-byte name */

struct dane_rec {
	uint8_t		 usage, selector, mtype;
	unsigned char	*data;
	size_t		 len;
};

struct dane_tlsa {
	struct dane_rec	 r[TLSA_MAX];
	size_t		 n;
};

struct dane_req {
	dane_cb		 cb;
	uint64_t	 id;
	char		 qname[QNAME_MAX];
};

static void	 tlsa_answer(uint64_t, void *, enum dns_status, bool,
		    const unsigned char *, size_t);
static void	 classify(struct dane_req *, const unsigned char *, size_t);
static struct dane_tlsa *keep_usable(const struct tlsa_rec *, size_t);

static const char *const level_names[] = {
	[DANE_NONE] = "none",
	[DANE_ENCRYPT] = "encrypt",
	[DANE_VERIFY] = "verify",
	[DANE_FAILED] = "failed",
};

/* dane_level_str - see dane.h. */
const char *
dane_level_str(enum dane_level l)
{
	return (size_t)l < NELEM(level_names) ? level_names[l] : "?";
}

/* dane_lookup - see dane.h. */
void
dane_lookup(struct dns_ctx *dns, const char *host, uint16_t port,
    dane_cb cb, uint64_t id)
{
	struct dane_req	*q = xcalloc(1, sizeof(*q));

	q->cb = cb;
	q->id = id;
	/* RFC 7672 2.2.3: the TLSA base domain of an MX host is its name */
	snprintf(q->qname, sizeof(q->qname), "_%u._tcp.%s", (unsigned)port,
	    host);
	dns_raw(dns, q->qname, TLSA_RR_TYPE, tlsa_answer, 0, q);
}

/*
 * tlsa_answer - RFC 7672 2.2: a failed lookup (SERVFAIL, which is also
 * what a validating resolver says for a bogus answer) makes the host
 * unusable; only a secure answer counts, and a secure denial or an
 * insecure answer leaves DANE out.
 */
static void
tlsa_answer(uint64_t unused, void *arg, enum dns_status st, bool secure,
    const unsigned char *msg, size_t len)
{
	struct dane_req	*q = arg;
	char		 why[64];

	if (st == DNS_TEMPFAIL || st == DNS_PERMFAIL) {
		snprintf(why, sizeof(why), "TLSA lookup failed (%s)",
		    dns_status_str(st));
		q->cb(q->id, DANE_FAILED, NULL, why);
	} else if (!secure)
		q->cb(q->id, DANE_NONE, NULL, "TLSA answer insecure");
	else if (st != DNS_OK)
		q->cb(q->id, DANE_NONE, NULL, "no TLSA records");
	else
		classify(q, msg, len);
	free(q);
}

/* classify - a secure answer with records: which of them are usable. */
static void
classify(struct dane_req *q, const unsigned char *msg, size_t len)
{
	struct tlsa_rec		 recs[TLSA_MAX];
	struct dane_tlsa	*t;
	size_t			 n, total;
	char			 why[64];

	if (tlsa_answer_parse(msg, len, q->qname, recs, NELEM(recs), &n,
	    &total) != TLSA_OK) {
		q->cb(q->id, DANE_FAILED, NULL, "TLSA answer malformed");
		return;
	}
	if (n == 0) {
		q->cb(q->id, DANE_NONE, NULL, "no TLSA records");
		return;
	}
	if ((t = keep_usable(recs, n)) == NULL) {
		snprintf(why, sizeof(why), "%zu TLSA records, none usable",
		    total);
		q->cb(q->id, DANE_ENCRYPT, NULL, why);
		return;
	}
	snprintf(why, sizeof(why), "%zu of %zu TLSA records usable", t->n,
	    total);
	q->cb(q->id, DANE_VERIFY, t, why);
}

/* keep_usable - copies of the usable records; NULL when there are none. */
static struct dane_tlsa *
keep_usable(const struct tlsa_rec *recs, size_t n)
{
	struct dane_tlsa	*t = NULL;

	for (size_t i = 0; i < n; i++) {
		struct dane_rec	*d;

		if (!tlsa_rec_usable(&recs[i]))
			continue;
		if (t == NULL)
			t = xcalloc(1, sizeof(*t));
		d = &t->r[t->n++];
		d->usage = (uint8_t)recs[i].usage;
		d->selector = (uint8_t)recs[i].selector;
		d->mtype = (uint8_t)recs[i].mtype;
		d->data = xmalloc(recs[i].len);
		memcpy(d->data, recs[i].data, recs[i].len);
		d->len = recs[i].len;
	}
	return t;
}

/* dane_tlsa_free - see dane.h. */
void
dane_tlsa_free(struct dane_tlsa *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->n; i++)
		free(t->r[i].data);
	free(t);
}

/* dane_tlsa_count - see dane.h. */
size_t
dane_tlsa_count(const struct dane_tlsa *t)
{
	return t != NULL ? t->n : 0;
}

/* dane_tlsa_strings - see dane.h. */
void
dane_tlsa_strings(const struct dane_tlsa *t, struct buf *out)
{
	for (size_t i = 0; t != NULL && i < t->n; i++) {
		const struct dane_rec	*d = &t->r[i];
		struct tlsa_rec		 r = { d->usage, d->selector, d->mtype,
		    d->data, d->len };
		size_t			 size = 16 + 2 * d->len;
		char			*s = xmalloc(size);

		if (i > 0)
			buf_putc(out, '\n');
		buf_puts(out, tlsa_rec_str(&r, s, size));
		free(s);
	}
}

/* dane_ctx_new - see dane.h. */
SSL_CTX *
dane_ctx_new(void)
{
	SSL_CTX	*ctx = SSL_CTX_new(TLS_client_method());

	if (ctx == NULL || SSL_CTX_dane_enable(ctx) <= 0)
		fatalx("dane: cannot make a DANE TLS context");
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	return ctx;
}

/* dane_ssl_setup - see dane.h. */
int
dane_ssl_setup(SSL *ssl, const struct dane_tlsa *t, const char *host,
    const char *domain)
{
	int	 added = 0;

	/* The base domain is the reference name and the SNI name (RFC
	 * 7672 8.1). */
	if (SSL_dane_enable(ssl, host) <= 0)
		return -1;
	if (domain != NULL && !str_ieq(domain, host))
		SSL_add1_host(ssl, domain);
	SSL_dane_set_flags(ssl, DANE_FLAG_NO_DANE_EE_NAMECHECKS);
	for (size_t i = 0; t != NULL && i < t->n; i++)
		if (SSL_dane_tlsa_add(ssl, t->r[i].usage, t->r[i].selector,
		    t->r[i].mtype, t->r[i].data, t->r[i].len) > 0)
			added++;
	return added > 0 ? 0 : -1;
}

/* dane_ssl_match - see dane.h. */
void
dane_ssl_match(SSL *ssl, char *out, size_t size)
{
	uint8_t			 usage, selector, mtype;
	const unsigned char	*data;
	size_t			 dlen;
	int			 depth;

	out[0] = '\0';
	depth = SSL_get0_dane_tlsa(ssl, &usage, &selector, &mtype, &data,
	    &dlen);
	if (depth >= 0)
		snprintf(out, size, "%u %u %u depth=%d", usage, selector,
		    mtype, depth);
}
