/*
 * sts.h - MTA-STS (RFC 8461) for the SMTP client, in the deliver
 * process: the policy of a recipient domain (TXT lookup, HTTPS fetch,
 * the cache in state_dir) and, in one place, what a delivery attempt
 * needs of it: the policy in effect (domain, mode, mx patterns, the
 * policy file's lines) and the kind of each failure, in the words of
 * TLS-RPT (RFC 8460 4.3), reported through sts_outcome().
 */
#ifndef POSTBOTE_STS_H
#define POSTBOTE_STS_H

#include <sys/socket.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mail/mtasts.h"

struct event_base;
struct dns_ctx;

/* The outcome of one policy lookup or one MX connection under a policy
 * (RFC 8460 4.3 result types). */
enum sts_result {
	STS_RES_OK = 0,
	STS_RES_FETCH_ERROR,	/* sts-policy-fetch-error */
	STS_RES_POLICY_INVALID,	/* sts-policy-invalid */
	STS_RES_WEBPKI_INVALID,	/* sts-webpki-invalid */
	STS_RES_VALIDATION,	/* validation-failure (an MX outside the
				 * policy, among others) */
	STS_RES_HOST_MISMATCH,	/* certificate-host-mismatch */
	STS_RES_NOT_TRUSTED,	/* certificate-not-trusted */
	STS_RES_EXPIRED,	/* certificate-expired */
	STS_RES_STARTTLS,	/* starttls-not-supported */
};

/*
 * The policy in effect for a delivery attempt.  Shared and counted: a
 * job holds a reference (sts_ref/sts_unref) while the cache may move on
 * to a newer policy.
 */
struct sts_policy {
	unsigned	 refs;
	char		 domain[MTASTS_NAME_MAX + 1];	/* the policy domain */
	char		 id[MTASTS_ID_MAX + 1];		/* of the TXT record */
	struct mtasts_policy p;		/* mode, max_age, mx patterns */
	char		**lines;	/* the policy file's non-empty lines,
					 * no terminators (RFC 8460 4.4
					 * policy-string) */
	size_t		 nlines;
	uint64_t	 fetched, expires;	/* Unix seconds */
};

/*
 * sts_cb - the policy of the domain for request id: NULL when the domain
 * has none that applies (no record, a failed fetch without a cached
 * policy; result then says which failure, STS_RES_OK for none at all).
 * The callee owns the reference it gets.  why: a short reason for logs.
 */
typedef void (*sts_cb)(uint64_t id, struct sts_policy *,
	    enum sts_result result, const char *why);

/*
 * sts_tlsrpt - one TLS-RPT outcome (RFC 8460) of policy type "sts" for
 * domain under p (NULL: a policy that could not be had; its lines and mx
 * patterns are the report's policy-string and mx-host): result "" for a
 * successful session, else a result type; mx, reason, peer may be NULL,
 * fd -1.  Nothing unless tlsrpt = yes.
 */
void	 sts_tlsrpt(const struct sts_policy *, const char *domain,
	    const char *mx, const char *result, const char *reason, int fd,
	    const struct sockaddr_storage *peer);

/* sts_init - TLS context for the fetch (mta_sts_ca); again at reload. */
void	 sts_init(struct event_base *);
void	 sts_reload(void);

/*
 * sts_lookup - RFC 8461 3.3 and 5.1 for domain: the _mta-sts TXT record
 * through dns; a cached policy with the same id is used as it is (and
 * fetched again in the background past half of its max_age); a new id,
 * or no cached policy, fetches https://mta-sts.DOMAIN/.well-known/
 * mta-sts.txt (mta_sts_port, mta_sts_ca, mta_sts_timeout) and caches it
 * in state_dir/mta-sts/; when the record or the fetch fails, a cached
 * policy that has not expired is used.  Fetches of one domain are
 * shared.  cb runs once, from the loop.
 */
void	 sts_lookup(struct dns_ctx *dns, const char *domain, sts_cb cb,
	    uint64_t id);

struct sts_policy *sts_ref(struct sts_policy *);
void	 sts_unref(struct sts_policy *);	/* NULL is ignored */

/* sts_enforce, sts_testing - the policy's mode (p may be NULL). */
bool	 sts_enforce(const struct sts_policy *p);
bool	 sts_testing(const struct sts_policy *p);

/* sts_cert_result - the result type of a failed PKIX check of an MX
 * host's certificate (an X509_V_ERR_* value). */
enum sts_result sts_cert_result(long verify);

/*
 * sts_outcome - one failure under policy p with MX host mx, or with
 * mx NULL a failure to get the policy (p is then the cached policy used
 * instead, or NULL): logged with the domain, mode, result type and why,
 * and what came of it (defer in enforce mode, none in testing mode,
 * cached-policy or no-policy for a failed fetch).  STS_RES_OK: a TLS
 * session with mx that passed the policy's checks (logged only with -v).
 * The single place where outcomes are counted (TLS-RPT hooks in here).
 */
void	 sts_outcome(const struct sts_policy *p, const char *domain,
	    const char *mx, enum sts_result, const char *why);

/* sts_result_str - "sts-policy-fetch-error", ..., "success". */
const char *sts_result_str(enum sts_result);

#endif
