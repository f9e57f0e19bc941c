/*
 * cmd_tlsa.c - the TLSA record of this host for "postbote dns", and the
 * check of the published ones for "postbote check --dns" (RFC 7672 for
 * SMTP, RFC 7671 3.1/8.1 on 3 1 1 and 2 1 1 records).  The certificate
 * file's first certificate is the server's, the ones after it its chain,
 * as the server sends them: DANE-EE(3) records are matched against the
 * first, DANE-TA(2) records against the rest.
 *
 * Runs in the short-lived CLI under the admin's uid.  Trust: the
 * certificate file is the admin's; the TLSA answer is untrusted, parsed
 * by mail/tlsa.c and printed only through say-style escaping.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "cli/cmd_say.h"
#include "cli/cmd_tlsa.h"
#include "common/conf.h"
#include "lib/dns.h"
#include "lib/util.h"
#include "mail/tlsa.h"

#define CHAIN_MAX	8
#define HEX_MAX		(2 * EVP_MAX_MD_SIZE + 1)

struct chain {
	X509	*x[CHAIN_MAX];
	size_t	 n;
};

static char	*cert_path(const struct conf *);
static int	 chain_load(const struct conf *, struct chain *, char *,
		    size_t);
static void	 chain_free(struct chain *);
static bool	 rec_matches(const struct tlsa_rec *, const struct chain *);
static int	 selected(X509 *, unsigned, unsigned, unsigned char *,
		    size_t *);
static void	 spki_hex(X509 *, char *);

/* cert_path - tls_cert, or the self-signed certificate if it was made
 * (it is not made here: the CLI must not create server state). */
static char *
cert_path(const struct conf *c)
{
	struct stat	 st;
	char		*p;

	if (c->tls_cert != NULL)
		return xstrdup(c->tls_cert);
	xasprintf(&p, "%s/tls/selfsigned.crt", c->state_dir);
	if (stat(p, &st) == 0)
		return p;
	free(p);
	return NULL;
}

static int
chain_load(const struct conf *c, struct chain *ch, char *err, size_t len)
{
	char	*path = cert_path(c);
	FILE	*f;
	X509	*x;

	memset(ch, 0, sizeof(*ch));
	if (path == NULL) {
		snprintf(err, len, "no certificate yet: set tls_cert, or "
		    "start the server once to make the self-signed one");
		return -1;
	}
	if ((f = fopen(path, "re")) == NULL) {
		snprintf(err, len, "cannot read %s", path);
		free(path);
		return -1;
	}
	while (ch->n < CHAIN_MAX &&
	    (x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL)
		ch->x[ch->n++] = x;
	fclose(f);
	if (ch->n == 0)
		snprintf(err, len, "no certificate in %s", path);
	free(path);
	return ch->n > 0 ? 0 : -1;
}

static void
chain_free(struct chain *ch)
{
	for (size_t i = 0; i < ch->n; i++)
		X509_free(ch->x[i]);
	ch->n = 0;
}

/*
 * selected - the association data of x for a selector (0: the whole
 * certificate, 1: its SubjectPublicKeyInfo) and a matching type (0: as
 * is, 1: SHA2-256, 2: SHA2-512), RFC 6698 2.1.3-2.1.4, into out (*len
 * in: its size, out: the length).  -1 for values not assigned.
 */
static int
selected(X509 *x, unsigned sel, unsigned mt, unsigned char *out,
    size_t *len)
{
	unsigned char	*der = NULL;
	unsigned int	 mdlen = 0;
	int		 n;
	int		 rc = -1;

	if (sel == TLSA_SEL_CERT)
		n = i2d_X509(x, &der);
	else if (sel == TLSA_SEL_SPKI)
		n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der);
	else
		return -1;
	if (n <= 0)
		return -1;
	if (mt == TLSA_MT_FULL && (size_t)n <= *len) {
		memcpy(out, der, (size_t)n);
		*len = (size_t)n;
		rc = 0;
	} else if ((mt == TLSA_MT_SHA256 || mt == TLSA_MT_SHA512) &&
	    *len >= EVP_MAX_MD_SIZE && EVP_Digest(der, (size_t)n, out,
	    &mdlen, mt == TLSA_MT_SHA256 ? EVP_sha256() : EVP_sha512(),
	    NULL) == 1) {
		*len = mdlen;
		rc = 0;
	}
	OPENSSL_free(der);
	return rc;
}

/* rec_matches - r is usable and names the server's certificate (3) or
 * one of its chain (2). */
static bool
rec_matches(const struct tlsa_rec *r, const struct chain *ch)
{
	unsigned char	 d[16384];
	size_t		 from, to;

	if (!tlsa_rec_usable(r))
		return false;
	from = r->usage == TLSA_DANE_EE ? 0 : 1;
	to = r->usage == TLSA_DANE_EE ? 1 : ch->n;
	for (size_t i = from; i < to; i++) {
		size_t	len = sizeof(d);

		if (selected(ch->x[i], r->selector, r->mtype, d, &len) == 0 &&
		    len == r->len && memcmp(d, r->data, len) == 0)
			return true;
	}
	return false;
}

/* spki_hex - the 1 1 data of x (SHA2-256 of its public key), in hex. */
static void
spki_hex(X509 *x, char *hex)
{
	unsigned char	d[EVP_MAX_MD_SIZE];
	size_t		len = sizeof(d);

	hex[0] = '\0';
	if (selected(x, TLSA_SEL_SPKI, TLSA_MT_SHA256, d, &len) == -1)
		return;
	for (size_t i = 0; i < len; i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
}

/* cmd_tlsa_print - see cmd_tlsa.h. */
void
cmd_tlsa_print(const struct conf *c)
{
	struct chain	ch;
	char		err[256], hex[HEX_MAX];

	printf("; DANE (RFC 7672): this host's TLSA record, in its "
	    "DNSSEC-signed zone\n");
	if (chain_load(c, &ch, err, sizeof(err)) == -1) {
		printf("; %s\n", err);
		return;
	}
	spki_hex(ch.x[0], hex);
	printf("_25._tcp.%s.\tIN TLSA\t3 1 1 %s\n", c->hostname, hex);
	printf("; 3 1 1 names the server's key: a renewal that keeps the "
	    "key needs no change;\n; a new key needs its record published "
	    "beside this one first (RFC 7671 8.1).\n");
	if (ch.n > 1) {
		spki_hex(ch.x[1], hex);
		printf("; or, naming the issuing CA's key (RFC 7671 5.2):\n"
		    ";_25._tcp.%s.\tIN TLSA\t2 1 1 %s\n", c->hostname, hex);
	}
	chain_free(&ch);
}

/* cmd_tlsa_check - see cmd_tlsa.h. */
bool
cmd_tlsa_check(const struct conf *c, int st, bool secure,
    const unsigned char *msg, size_t len)
{
	struct tlsa_rec	 recs[TLSA_MAX];
	struct chain	 ch;
	char		 qname[TLSA_NAME_MAX + 16], err[256], text[80];
	size_t		 n = 0, total = 0, usable = 0, match = SIZE_MAX;

	snprintf(qname, sizeof(qname), "_25._tcp.%s", c->hostname);
	if (st == DNS_TEMPFAIL || st == DNS_PERMFAIL) {
		cmd_say(NULL, "TLSA", false, "the lookup of %s failed (%s): DANE senders "
		    "defer mail to this host", qname,
		    dns_status_str((enum dns_status)st));
		return false;
	}
	if (st != DNS_OK || tlsa_answer_parse(msg, len, qname, recs,
	    NELEM(recs), &n, &total) != TLSA_OK || n == 0) {
		cmd_say(NULL, "TLSA", true, "no TLSA records at %s: DANE is not in use; "
		    "\"postbote dns\" prints one to publish", qname);
		return true;
	}
	if (chain_load(c, &ch, err, sizeof(err)) == -1) {
		cmd_say(NULL, "TLSA", false, "%zu TLSA records at %s, and %s", total, qname,
		    err);
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		usable += tlsa_rec_usable(&recs[i]);
		if (match == SIZE_MAX && rec_matches(&recs[i], &ch))
			match = i;
	}
	chain_free(&ch);
	if (match == SIZE_MAX) {
		cmd_say(NULL, "TLSA", false, "none of the %zu TLSA records at %s (%zu "
		    "usable) matches the certificate: DANE senders defer all "
		    "mail to this host", total, qname, usable);
		return false;
	}
	tlsa_rec_str(&recs[match], text, sizeof(text));
	cmd_say(NULL, "TLSA", true, "%s matches the certificate%s", text, !secure ?
	    (c->dnssec_resolver ? "; but the answer is not DNSSEC-signed, "
	    "so senders ignore it" : " (DNSSEC not checked: "
	    "dnssec_resolver = no)") : ", DNSSEC-validated");
	return true;
}
