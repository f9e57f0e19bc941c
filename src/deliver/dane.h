/*
 * dane.h - DANE for the SMTP client (RFC 7672, RFC 7671), in the deliver
 * process: the TLSA lookup of an MX or relay host and what it means for
 * the connection, and the OpenSSL set-up that checks the server's
 * certificate chain against the records.
 */
#ifndef POSTBOTE_DANE_H
#define POSTBOTE_DANE_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

struct dns_ctx;
struct dane_tlsa;

/* What the TLSA lookup of a host asks of its connections. */
enum dane_level {
	DANE_NONE = 0,		/* no secure TLSA records: the next policy */
	DANE_ENCRYPT,		/* secure records, none usable: TLS without
				 * authentication, never plain text (RFC 7672
				 * 2.2) */
	DANE_VERIFY,		/* usable records: the chain must match one */
	DANE_FAILED,		/* the lookup failed: do not use the host */
};

/*
 * dane_cb - the result of dane_lookup for id: the level, the usable
 * records (DANE_VERIFY only; the callee owns them and frees them with
 * dane_tlsa_free) and a short reason for logs ("no TLSA records",
 * "insecure", "lookup failed (tempfail)", "3 usable").
 */
typedef void (*dane_cb)(uint64_t id, enum dane_level, struct dane_tlsa *,
	    const char *why);

/*
 * dane_lookup - look up _PORT._tcp.HOST TLSA through dns (whose AD bit is
 * trusted: dns_set_dnssec) and classify it: SERVFAIL (a bogus answer
 * too) or a malformed answer is DANE_FAILED; an insecure answer, NXDOMAIN
 * or NODATA is DANE_NONE.  host is a host name the caller trusts (a
 * secure MX or a route).  cb runs once, from the loop.
 */
void	 dane_lookup(struct dns_ctx *dns, const char *host, uint16_t port,
	    dane_cb cb, uint64_t id);

/* dane_tlsa_free - NULL is ignored. */
void	 dane_tlsa_free(struct dane_tlsa *);

/* dane_tlsa_count - the usable records held. */
size_t	 dane_tlsa_count(const struct dane_tlsa *);

/*
 * dane_ctx_new - a client context for DANE: peer verification on, DANE
 * enabled, and no CA store, so that only the TLSA records can vouch for
 * a certificate.  Exits on failure (the environment).
 */
SSL_CTX	*dane_ctx_new(void);

/*
 * dane_ssl_setup - make ssl (of dane_ctx_new's context) check the chain
 * against t: host is the TLSA base domain and the SNI name; a DANE-TA
 * chain must name host or domain (NULL: only host; RFC 7672 3.2.2);
 * DANE-EE matches without name or date checks (RFC 7672 3.1.1).
 * Returns 0, or -1 when OpenSSL took none of the records.
 */
int	 dane_ssl_setup(SSL *ssl, const struct dane_tlsa *t, const char *host,
	    const char *domain);

/* dane_tlsa_strings - the usable records in presentation form ("3 1 1
 * 0a1b..."), one a line, appended to out (RFC 8460 4.4's policy-string
 * of a "tlsa" policy). */
struct buf;
void	 dane_tlsa_strings(const struct dane_tlsa *t, struct buf *out);

/*
 * dane_ssl_match - after a verified handshake: the record that matched,
 * as "3 1 1 depth=0", into out (size bytes); "" when none did.
 */
void	 dane_ssl_match(SSL *ssl, char *out, size_t size);

/* dane_level_str - "none", "encrypt", "verify", "failed". */
const char *dane_level_str(enum dane_level);

#endif
