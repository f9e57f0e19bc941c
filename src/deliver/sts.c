/*
 * sts.c - MTA-STS policies for the SMTP client of the deliver process
 * (RFC 8461 3, 5; sts.h).  A lookup asks for the _mta-sts TXT record; a
 * new id, or no usable cached policy, fetches the policy file over HTTPS
 * (lib/https.c); the policy is parsed by mail/mtasts.c, kept in memory
 * and in state_dir/mta-sts/DOMAIN (written to a temporary file and
 * renamed, so a reader never sees half a file; not synced: losing it in
 * a crash only costs a fetch), and read back from there after a
 * restart.
 *
 * Trust: the TXT record and the policy come from outside and are parsed
 * strictly; the policy server must present a certificate valid for
 * mta-sts.DOMAIN under mta_sts_ca (or the system's CAs), must answer 200
 * with text/plain within 64 KiB and mta_sts_timeout, and is never
 * followed elsewhere.  A slow or hostile server delays only the mail of
 * its own domain: everything here is asynchronous on the loop.  The
 * cache files are ours; they are parsed again when read, all the same.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include "common/conf.h"
#include "deliver/deliver_tlsrpt.h"
#include "deliver/sts.h"
#include "lib/buf.h"
#include "lib/dns.h"
#include "lib/https.h"
#include "lib/log.h"
#include "lib/util.h"

#define CACHE_DIR	"mta-sts"
#define CACHE_MAGIC	"postbote-mta-sts 1"
#define POLICY_PATH	"/.well-known/mta-sts.txt"
#define FILE_MAX	(MTASTS_POLICY_MAX + 512)

struct sts_req;

/* One domain's state; entries live as long as the process. */
struct sts_entry {
	struct sts_entry	*next;
	char			 domain[MTASTS_NAME_MAX + 1];
	struct sts_policy	*pol;		/* newest known, maybe expired */
	bool			 loaded;	/* the cache file was read */
	bool			 fetching;
	char			 fetch_id[MTASTS_ID_MAX + 1];
	struct sts_req		*waiters;	/* for the fetch's result */
};

struct sts_req {
	struct sts_req		*next;
	struct sts_entry	*e;
	sts_cb			 cb;
	uint64_t		 id;
};

static struct event_base	*base;
static SSL_CTX			*ctx_fetch;
static struct sts_entry		*entries;

static const char *const result_names[] = {
	[STS_RES_OK] = "success",
	[STS_RES_FETCH_ERROR] = "sts-policy-fetch-error",
	[STS_RES_POLICY_INVALID] = "sts-policy-invalid",
	[STS_RES_WEBPKI_INVALID] = "sts-webpki-invalid",
	[STS_RES_VALIDATION] = "validation-failure",
	[STS_RES_HOST_MISMATCH] = "certificate-host-mismatch",
	[STS_RES_NOT_TRUSTED] = "certificate-not-trusted",
	[STS_RES_EXPIRED] = "certificate-expired",
	[STS_RES_STARTTLS] = "starttls-not-supported",
};

static void	 fetch(struct sts_entry *, struct dns_ctx *, const char *);

/* sts_result_str - see sts.h. */
const char *
sts_result_str(enum sts_result r)
{
	return (size_t)r < NELEM(result_names) ? result_names[r] : "?";
}

static void
make_ctx(void)
{
	char	err[256];

	if (ctx_fetch != NULL)
		SSL_CTX_free(ctx_fetch);
	ctx_fetch = https_ctx_new(config->mta_sts_ca, err, sizeof(err));
	if (ctx_fetch == NULL)
		log_warn("event=mta-sts-ca-error reason=\"%s\"", log_safe(err));
}

/* sts_init - see sts.h. */
void
sts_init(struct event_base *b)
{
	base = b;
	make_ctx();
}

/* sts_reload - see sts.h. */
void
sts_reload(void)
{
	make_ctx();
}

/* sts_ref - see sts.h. */
struct sts_policy *
sts_ref(struct sts_policy *p)
{
	if (p != NULL)
		p->refs++;
	return p;
}

/* sts_unref - see sts.h. */
void
sts_unref(struct sts_policy *p)
{
	if (p == NULL || --p->refs > 0)
		return;
	for (size_t i = 0; i < p->nlines; i++)
		free(p->lines[i]);
	free(p->lines);
	free(p);
}

/* sts_enforce - see sts.h. */
bool
sts_enforce(const struct sts_policy *p)
{
	return p != NULL && p->p.mode == MTASTS_MODE_ENFORCE;
}

/* sts_testing - see sts.h. */
bool
sts_testing(const struct sts_policy *p)
{
	return p != NULL && p->p.mode == MTASTS_MODE_TESTING;
}

/* sts_cert_result - see sts.h. */
enum sts_result
sts_cert_result(long v)
{
	switch (v) {
	case X509_V_ERR_HOSTNAME_MISMATCH:
	case X509_V_ERR_IP_ADDRESS_MISMATCH:
		return STS_RES_HOST_MISMATCH;
	case X509_V_ERR_CERT_HAS_EXPIRED:
	case X509_V_ERR_CERT_NOT_YET_VALID:
		return STS_RES_EXPIRED;
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
	case X509_V_ERR_CERT_UNTRUSTED:
		return STS_RES_NOT_TRUSTED;
	default:
		return STS_RES_VALIDATION;
	}
}

/* sts_outcome - see sts.h. */
void
sts_outcome(const struct sts_policy *p, const char *domain, const char *mx,
    enum sts_result res, const char *why)
{
	/* What no connection reports (report_tls in remote.c counts each
	 * session): the policy that could not be had, and an MX host an
	 * enforce policy does not name (skipped), each a failed session of
	 * policy "sts".  In testing mode that host's session takes place
	 * and is counted there. */
	if (mx == NULL ? res != STS_RES_OK :
	    res == STS_RES_VALIDATION && sts_enforce(p))
		sts_tlsrpt(p, domain, mx, sts_result_str(res), why, -1, NULL);
	if (res == STS_RES_OK) {
		log_debug("event=mta-sts-success domain=%s mode=%s mx=%s",
		    log_safe(domain), p != NULL ? mtasts_mode_str(p->p.mode) :
		    "none", mx != NULL ? log_safe(mx) : "-");
		return;
	}
	log_info("event=mta-sts-failure domain=%s mode=%s%s%s "
	    "result_type=%s action=%s reason=\"%s\"", log_safe(domain),
	    p != NULL ? mtasts_mode_str(p->p.mode) : "none",
	    mx != NULL ? " mx=" : "", mx != NULL ? log_safe(mx) : "",
	    sts_result_str(res), mx == NULL ? (p != NULL ? "cached-policy" :
	    "no-policy") : sts_enforce(p) ? "defer" : sts_testing(p) ?
	    "none (testing)" : "none", log_safe(why));
}

/* sts_tlsrpt - see sts.h. */
void
sts_tlsrpt(const struct sts_policy *p, const char *domain, const char *mx,
    const char *result, const char *reason, int fd,
    const struct sockaddr_storage *peer)
{
	struct buf	 lines, pats;

	if (!config->tlsrpt)
		return;
	buf_init(&lines, 0);
	buf_init(&pats, 0);
	for (size_t i = 0; p != NULL && i < p->nlines; i++)
		buf_printf(&lines, "%s%s", i > 0 ? "\n" : "", p->lines[i]);
	for (size_t i = 0; p != NULL && i < p->p.nmx; i++)
		buf_printf(&pats, "%s%s", i > 0 ? "\n" : "", p->p.mx[i]);
	struct tlsrpt_event e = {
		.policy_type = "sts", .policy_domain = domain,
		.policy_strings = buf_cstr(&lines), .mx_host = buf_cstr(&pats),
		.result = result, .receiving_mx = mx, .reason = reason,
	};
	deliver_tlsrpt_record(&e, fd, peer);
	buf_free(&lines);
	buf_free(&pats);
}

/* name_ok - a domain that may name a cache file: a host name in lower
 * case, no "..", no leading dot. */
static bool
name_ok(const char *d)
{
	size_t	n = strlen(d);

	if (n == 0 || n > MTASTS_NAME_MAX || d[0] == '.' || d[0] == '-' ||
	    strstr(d, "..") != NULL)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((d[i] >= 'a' && d[i] <= 'z') ||
		    (d[i] >= '0' && d[i] <= '9') || d[i] == '-' ||
		    d[i] == '.'))
			return false;
	return true;
}

/* policy_new - a policy object from a parsed body. */
static struct sts_policy *
policy_new(const char *domain, const char *id, const struct mtasts_policy *mp,
    const char *body, size_t len, uint64_t fetched)
{
	struct sts_policy	*p = xcalloc(1, sizeof(*p));
	size_t			 i = 0;

	p->refs = 1;
	str_copy(p->domain, domain, sizeof(p->domain));
	str_copy(p->id, id, sizeof(p->id));
	p->p = *mp;
	p->fetched = fetched;
	p->expires = fetched + mp->max_age;
	while (i < len) {
		const char	*nl = memchr(body + i, '\n', len - i);
		size_t		 end = nl != NULL ? (size_t)(nl - body) : len;
		size_t		 n = end - i;

		if (n > 0 && body[i + n - 1] == '\r')
			n--;
		if (n > 0) {
			p->lines = xreallocarray(p->lines, p->nlines + 1,
			    sizeof(*p->lines));
			p->lines[p->nlines++] = xstrndup(body + i, n);
		}
		i = end + 1;
	}
	return p;
}

static bool
fresh(const struct sts_policy *p)
{
	return p != NULL && now_usec() / 1000000 < p->expires;
}

/* cache_load - state_dir/mta-sts/DOMAIN, if there is a valid one. */
static struct sts_policy *
cache_load(const char *domain)
{
	char			 path[MTASTS_NAME_MAX + 16], id[MTASTS_ID_MAX + 1];
	char			 err[128], *buf = xmalloc(FILE_MAX + 1), *body;
	struct mtasts_policy	*mp = xmalloc(sizeof(*mp));
	struct sts_policy	*p = NULL;
	unsigned long long	 fetched;
	ssize_t			 got;
	size_t			 len = 0;
	int			 fd;

	snprintf(path, sizeof(path), CACHE_DIR "/%s", domain);
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		goto out;
	while (len < FILE_MAX && (got = read(fd, buf + len,
	    FILE_MAX - len)) > 0)
		len += (size_t)got;
	close(fd);
	buf[len] = '\0';
	if ((body = memchr(buf, '\n', len)) == NULL ||
	    sscanf(buf, CACHE_MAGIC " %32[A-Za-z0-9] %llu", id,
	    &fetched) != 2) {
		log_warn("event=mta-sts-cache domain=%s result=unreadable",
		    log_safe(domain));
		goto out;
	}
	body++;
	len -= (size_t)(body - buf);
	if (mtasts_policy_parse(body, len, mp, err, sizeof(err)) == -1) {
		log_warn("event=mta-sts-cache domain=%s result=invalid "
		    "reason=\"%s\"", log_safe(domain), log_safe(err));
		goto out;
	}
	p = policy_new(domain, id, mp, body, len, (uint64_t)fetched);
	log_info("event=mta-sts-cache domain=%s id=%s mode=%s result=loaded "
	    "expires_in=%llds", log_safe(domain), p->id,
	    mtasts_mode_str(p->p.mode), (long long)p->expires -
	    (long long)(now_usec() / 1000000));
out:
	free(mp);
	free(buf);
	return p;
}

/* cache_store - write p's body to the cache, atomically. */
static void
cache_store(const struct sts_policy *p, const char *body, size_t len)
{
	char	 path[MTASTS_NAME_MAX + 16], tmp[MTASTS_NAME_MAX + 24];
	char	 head[96];
	int	 fd, n;

	snprintf(path, sizeof(path), CACHE_DIR "/%s", p->domain);
	snprintf(tmp, sizeof(tmp), CACHE_DIR "/.tmp.%s", p->domain);
	n = snprintf(head, sizeof(head), CACHE_MAGIC " %s %llu\n", p->id,
	    (unsigned long long)p->fetched);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
	    O_CLOEXEC, 0600)) == -1 ||
	    util_write_all(fd, head, (size_t)n) == -1 ||
	    util_write_all(fd, body, len) == -1 || close(fd) == -1 ||
	    rename(tmp, path) == -1) {
		log_warn("event=mta-sts-cache domain=%s result=not-written "
		    "error=\"%s\"", log_safe(p->domain), strerror(errno));
		if (fd != -1)
			unlink(tmp);
	}
}

static struct sts_entry *
entry_get(const char *domain)
{
	struct sts_entry	*e;

	for (e = entries; e != NULL; e = e->next)
		if (strcmp(e->domain, domain) == 0)
			break;
	if (e == NULL) {
		e = xcalloc(1, sizeof(*e));
		str_copy(e->domain, domain, sizeof(e->domain));
		e->next = entries;
		entries = e;
	}
	if (!e->loaded) {
		e->loaded = true;
		e->pol = cache_load(domain);
	}
	return e;
}

/* answer - q gets the entry's policy if fresh, else none with res. */
static void
answer(struct sts_req *q, enum sts_result res, const char *why)
{
	struct sts_policy	*p = q->e->pol;

	if (fresh(p))
		q->cb(q->id, sts_ref(p), res, why);
	else
		q->cb(q->id, NULL, res, why);
	free(q);
}

/* fetch_done - answer every waiter of e. */
static void
fetch_done(struct sts_entry *e, enum sts_result res, const char *why)
{
	struct sts_req	*q, *next;

	e->fetching = false;
	q = e->waiters;
	e->waiters = NULL;
	for (; q != NULL; q = next) {
		next = q->next;
		answer(q, res, why);
	}
}

static void
got_policy(uint64_t unused, void *arg, const struct https_result *r)
{
	struct sts_entry	*e = arg;
	struct mtasts_policy	*mp;
	struct sts_policy	*p;
	char			 err[128];

	if (r->status != HTTPS_OK) {
		enum sts_result res = r->status == HTTPS_TLS_VERIFY ?
		    STS_RES_WEBPKI_INVALID : STS_RES_FETCH_ERROR;

		log_info("event=mta-sts-fetch domain=%s id=%s result=failed "
		    "error=%s reason=\"%s\"%s", log_safe(e->domain),
		    e->fetch_id, https_status_str(r->status),
		    log_safe(r->why), fresh(e->pol) ? " action=cached" : "");
		sts_outcome(fresh(e->pol) ? e->pol : NULL, e->domain, NULL, res,
		    r->why);
		fetch_done(e, res, r->why);
		return;
	}
	mp = xmalloc(sizeof(*mp));
	if (mtasts_policy_parse(r->body, r->len, mp, err, sizeof(err)) ==
	    -1) {
		log_info("event=mta-sts-fetch domain=%s id=%s result=invalid "
		    "reason=\"%s\"%s", log_safe(e->domain), e->fetch_id,
		    log_safe(err), fresh(e->pol) ? " action=cached" : "");
		sts_outcome(fresh(e->pol) ? e->pol : NULL, e->domain, NULL,
		    STS_RES_POLICY_INVALID, err);
		free(mp);
		fetch_done(e, STS_RES_POLICY_INVALID, err);
		return;
	}
	p = policy_new(e->domain, e->fetch_id, mp, r->body, r->len,
	    now_usec() / 1000000);
	free(mp);
	log_info("event=mta-sts-fetch domain=%s id=%s mode=%s max_age=%u "
	    "mx_patterns=%zu result=ok", log_safe(e->domain), p->id,
	    mtasts_mode_str(p->p.mode), (unsigned)p->p.max_age, p->p.nmx);
	cache_store(p, r->body, r->len);
	sts_unref(e->pol);
	e->pol = p;
	fetch_done(e, STS_RES_OK, "fetched");
}

static void
addr_done(uint64_t unused, void *arg, enum dns_status st,
    const struct sockaddr_storage *addrs, size_t n)
{
	struct sts_entry	*e = arg;
	char			 host[MTASTS_NAME_MAX + 16], why[96];

	if (st != DNS_OK || n == 0 || ctx_fetch == NULL || base == NULL) {
		snprintf(why, sizeof(why), ctx_fetch == NULL ?
		    "no TLS context (mta_sts_ca)" :
		    "no address for mta-sts.%s (%s)", e->domain,
		    dns_status_str(st));
		log_info("event=mta-sts-fetch domain=%s id=%s result=failed "
		    "reason=\"%s\"%s", log_safe(e->domain), e->fetch_id,
		    log_safe(why), fresh(e->pol) ? " action=cached" : "");
		sts_outcome(fresh(e->pol) ? e->pol : NULL, e->domain, NULL,
		    STS_RES_FETCH_ERROR, why);
		fetch_done(e, STS_RES_FETCH_ERROR, why);
		return;
	}
	snprintf(host, sizeof(host), "mta-sts.%s", e->domain);
	https_get(base, ctx_fetch, &addrs[0], host, config->mta_sts_port,
	    POLICY_PATH, "text/plain", MTASTS_POLICY_MAX,
	    (unsigned)(config->mta_sts_timeout * 1000), got_policy, 0, e);
}

/* fetch - get the policy for id (RFC 8461 3.3). */
static void
fetch(struct sts_entry *e, struct dns_ctx *dns, const char *id)
{
	char	host[MTASTS_NAME_MAX + 16];

	e->fetching = true;
	str_copy(e->fetch_id, id, sizeof(e->fetch_id));
	snprintf(host, sizeof(host), "mta-sts.%s", e->domain);
	dns_addr(dns, host, AF_UNSPEC, addr_done, 0, e);
}

/*
 * txt_done - RFC 8461 3.3, 5.1: the record's id against the cached
 * policy.  Called with the dns context alive (dns_free's cancellation
 * comes with DNS_TEMPFAIL, which starts nothing new).
 */
static void
txt_done(uint64_t unused, void *arg, enum dns_status st,
    const char *const *txt, const size_t *len, size_t n, struct dns_ctx *dns)
{
	struct sts_req		*q = arg;
	struct sts_entry	*e = q->e;
	struct sts_policy	*p = e->pol;
	char			 id[MTASTS_ID_MAX + 1];
	const char		*why = "no TXT record";
	uint64_t		 now = now_usec() / 1000000;

	if (st == DNS_TEMPFAIL)
		why = "TXT lookup failed";
	if (st != DNS_OK || mtasts_txt_pick(txt, len, n, id, &why) == -1) {
		/* no record now: a cached policy still holds until it
		 * expires */
		answer(q, STS_RES_OK, why);
		return;
	}
	if (fresh(p) && strcmp(p->id, id) == 0) {
		/* the same policy; past half its age, fetch it again in
		 * the background */
		if (!e->fetching && now >= p->fetched + p->p.max_age / 2 &&
		    p->p.max_age > 0)
			fetch(e, dns, id);
		answer(q, STS_RES_OK, "cached");
		return;
	}
	q->next = e->waiters;
	e->waiters = q;
	if (!e->fetching)
		fetch(e, dns, id);
}

/* The TXT callback has no room for the dns context: a small closure. */
struct txt_req {
	struct sts_req	*q;
	struct dns_ctx	*dns;
};

static void
txt_cb(uint64_t unused, void *arg, enum dns_status st,
    const char *const *txt, const size_t *len, size_t n)
{
	struct txt_req	*t = arg;

	txt_done(0, t->q, st, txt, len, n, t->dns);
	free(t);
}

static void
none_now(evutil_socket_t fd, short ev, void *arg)
{
	struct sts_req	*q = arg;

	q->cb(q->id, NULL, STS_RES_OK, "not a domain name");
	free(q);
}

/* sts_lookup - see sts.h. */
void
sts_lookup(struct dns_ctx *dns, const char *domain, sts_cb cb, uint64_t id)
{
	struct sts_req	*q = xcalloc(1, sizeof(*q));
	struct txt_req	*t;
	char		 name[MTASTS_NAME_MAX + 16], dom[MTASTS_NAME_MAX + 2];
	struct timeval	 now = { 0, 0 };

	q->cb = cb;
	q->id = id;
	str_copy(dom, domain, sizeof(dom));
	domain = str_lower(dom);
	if (!name_ok(domain) || dns == NULL) {
		if (event_base_once(base, -1, EV_TIMEOUT, none_now, q,
		    &now) == -1)
			fatalx("sts: event_base_once failed");
		return;
	}
	q->e = entry_get(domain);
	t = xcalloc(1, sizeof(*t));
	t->q = q;
	t->dns = dns;
	snprintf(name, sizeof(name), "_mta-sts.%s", domain);
	dns_txt(dns, name, txt_cb, 0, t);
}
