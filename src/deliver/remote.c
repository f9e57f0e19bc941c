/*
 * remote.c - the SMTP client of the deliver process (RFC 5321, 3207
 * STARTTLS, 2920 PIPELINING, 1870 SIZE, 6152 8BITMIME, 6531 SMTPUTF8,
 * 3461 DSN, 4954 AUTH), a courier on top of deliver_job.c.  One job is
 * the recipients of one domain of one message: one transaction, whose
 * results go back through deliver_job_done().  Destinations come from a
 * [route] (relay host) or from MX records (mx.c); each host's
 * addresses are tried in turn after a connection failure or a 4xx/5xx
 * greeting.  Connections are kept for smtp_idle_time after a
 * transaction and reused for the same destination.
 *
 * TLS policy per host: a [route]'s tls, or for MX delivery with
 * dnssec_resolver = yes, DANE (RFC 7672, dane.c) when the MX answer and
 * the host's addresses are DNSSEC-validated and it has TLSA records:
 * then TLS is mandatory, the chain must match a record, and a failure
 * defers (4.7.x) instead of falling back to plain text.
 *
 * REQUIRETLS (RFC 8689 4.2.1): a message whose sender asked for it goes
 * only to an MX host named by a DNSSEC-validated MX answer (or a route's
 * host), over TLS whose certificate DANE or PKIX (smtp_tls_ca, the host's
 * name) authenticates, to a server that offers REQUIRETLS after
 * STARTTLS, and the option goes on with MAIL FROM.  A host that cannot
 * is given up with QUIT and the next one is tried; when none can, the
 * recipients fail with 5.7.30 (the text says which step failed) and the
 * sender gets a report.  "TLS-Required: No" (RFC 8689 5) turns
 * the recipient domain's policy (DANE) off for MX delivery: TLS is then
 * opportunistic.  A route's tls is the local admin's and stays.
 *
 * Trust: everything the peer sends is untrusted.  Reply lines are capped
 * in length and count, parsed strictly, and reach logs and the queue only
 * through log_safe() and a length-capped text (CVE-2020-8794).  Route
 * passwords are read at start and reload, and never logged.
 */
#include <sys/socket.h>
#include <sys/types.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "lib/base64.h"
#include "common/conf.h"
#include "common/stats.h"
#include "deliver/dane.h"
#include "deliver/deliver_job.h"
#include "deliver/deliver_tlsrpt.h"
#include "deliver/mx.h"
#include "deliver/remote.h"
#include "deliver/sts.h"
#include "lib/dns.h"
#include "lib/ipc.h"
#include "lib/log.h"
#include "mail/envelope.h"
#include "mail/smtp_parse.h"
#include "mail/smtp_reply.h"
#include "lib/util.h"

#define LINE_MAX_LEN	2048	/* RFC 5321 4.5.3.1.5: 512; be lenient */
#define CHUNK		(64 * 1024)
#define OUT_HIGH	(256 * 1024)	/* body bytes queued ahead */
#define ADDRS_MAX	16

/* RFC 5321 4.5.3.2 timeouts, seconds. */
#define T_CONNECT	30
#define T_GREETING	300
#define T_MAIL		300
#define T_RCPT		300
#define T_DATA		120
#define T_BLOCK		180
#define T_DOT		600
#define T_QUIT		10

enum cstate {
	C_CONNECT, C_TLS_WRAP, C_GREETING, C_EHLO, C_HELO, C_STARTTLS,
	C_TLS_HANDSHAKE, C_AUTH, C_AUTH_LOGIN_USER, C_AUTH_LOGIN_PASS,
	C_TXN, C_BODY, C_DOT, C_RSET, C_IDLE, C_QUIT
};


struct rjob;

struct rconn {
	struct rconn		*next;		/* all connections */
	char			*dest;		/* reuse key */
	struct bufferevent	*bev;
	SSL			*ssl;		/* owned by bev once wrapped */
	enum cstate		 state;
	unsigned		 caps;
	uint64_t		 maxsize;	/* peer SIZE, 0 = none */
	bool			 tls, authed, reused, got_reply;
	bool			 debug;		/* in debug_peers: transcript */
	bool			 mask_next;	/* the next line is a secret */
	bool			 reported;	/* its TLS outcome (TLS-RPT) */
	struct rjob		*job;		/* NULL while idle */
	struct event		*idle;
	char			 relay[320];	/* host[ip]:port */
	char			 host[256];
	struct smtp_reply	 rp;		/* the reply being read */
};

struct rjob {
	struct rjob		*next;
	uint64_t		 id;
	struct deliver_job	*j;
	char			*domain, *dest;
	/* the route: copies, valid across a reload */
	bool			 routed;
	char			*rhost;
	uint16_t		 port;
	enum route_tls		 tls;
	bool			 implicit, no_tls;
	char			*auth_user, *auth_pass;
	/* hosts and addresses to try */
	char			**hosts;
	size_t			 nhosts, hi;
	struct sockaddr_storage	 addrs[ADDRS_MAX];
	size_t			 naddrs, ai;
	bool			 any_remote;	/* some address was not us */
	/* DANE (RFC 7672): the MX answer, then the host being tried */
	bool			 mx_secure;
	enum dane_level		 dane;		/* of hosts[hi] */
	struct dane_tlsa	*tlsa;		/* its usable records */
	/* MTA-STS (RFC 8461): the recipient domain's policy, or for
	 * tls = sts the route host's domain's; NULL = none */
	struct sts_policy	*sts;
	bool			 sts_looked;
	/* the transaction */
	struct rconn		*c;
	size_t			 answered, sent, accepted;
	bool			 mail_failed;
	bool			 broken;	/* transaction cut off */
	off_t			 off;
	bool			 bol, eof;
	char			 last;
	/* the result when every address fails */
	int			 result;
	char			 dsn[8];
	char			 text[DELIVER_JOB_TEXT_MAX];
	char			 mta[DELIVER_JOB_MTA_MAX];	/* whose reply
							 * text is; "" */
};

struct route_pass {
	char	*domain;
	char	*pass;
};

static struct event_base	*base;
static struct dns_ctx		*dns;
static SSL_CTX			*ctx_may, *ctx_verify, *ctx_dane;
static struct rconn		*conns;
static struct rjob		*jobs;
static uint64_t			 next_id;
static struct route_pass	*passes;
static size_t			 npasses;

static void	 remote_init(struct event_base *);
static void	 remote_reload(void);
static void	 remote_shutdown(void);
static void	 remote_deliver(struct deliver_job *);
static void	 try_next_host(struct rjob *);
static void	 try_next_addr(struct rjob *);
static void	 job_finish(struct rjob *);
static void	 conn_free(struct rconn *);
static void	 conn_read(struct bufferevent *, void *);
static void	 conn_write(struct bufferevent *, void *);
static void	 conn_event(struct bufferevent *, short, void *);
static void	 begin_txn(struct rconn *);
static void	 after_ehlo(struct rconn *);
static void	 job_resolve(struct rjob *);
static void	 verify_host(SSL *, const char *);
static bool	 is_literal(const char *, uint16_t, struct sockaddr_storage *);
static void	 go_idle(struct rconn *);
static void	 end_txn(struct rconn *);
static void	 send_body(struct rconn *);
static void	 stuff(struct rjob *, struct evbuffer *, const char *, size_t);
static void	 on_data_reply(struct rconn *);
static void	 conn_free_job(struct rconn *);
static void	 mx_done(uint64_t, int, const char *, const char *, bool,
		    const char *const *, size_t);
static void	 tlsa_done(uint64_t, enum dane_level, struct dane_tlsa *,
		    const char *);
static bool	 tls_mandatory(const struct rjob *);
static bool	 tls_verified(const struct rjob *);
static SSL	*new_ssl(struct rjob *, const char *);
static void	 log_tls(struct rconn *);
static void	 tls_why(struct rconn *, char *, size_t);
static void	 report_tls(struct rconn *, const char *, const char *);
static const char *tls_result(struct rconn *, char *, size_t);
static bool	 dane_wanted(const struct rjob *);
static bool	 requiretls(const struct rjob *);
static bool	 reuse_idle(struct rjob *);
static bool	 sts_skip(struct rjob *);
static bool	 sts_pkix(const struct rjob *);
static bool	 sts_wanted(const struct rjob *);
static bool	 tls_optional(const struct rjob *);
static void	 skip_host(struct rjob *);
static bool	 is_self(const struct sockaddr_storage *, uint16_t);
static void	 conn_failed(struct rconn *, const char *);
static int	 reply_result(const struct smtp_reply *, char [8]);

const struct deliver_courier remote_courier = {
	.name = "remote",
	.init = remote_init,
	.reload = remote_reload,
	.shutdown = remote_shutdown,
	.deliver = remote_deliver,
};

/* ---- small helpers ---- */

static int
tmo(int secs)
{
	if (config->smtp_client_timeout > 0 &&
	    config->smtp_client_timeout < (uint64_t)secs)
		return (int)config->smtp_client_timeout;
	return secs;
}

static void
set_timeout(struct rconn *c, int secs)
{
	struct timeval	tv = { tmo(secs), 0 };

	bufferevent_set_timeouts(c->bev, &tv, &tv);
}

static void
send_line(struct rconn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void	 trace_line(struct rconn *, const char *, size_t);
static void	 send_buf(struct rconn *, struct evbuffer *, struct buf *);

static void
send_line(struct rconn *c, const char *fmt, ...)
{
	struct evbuffer	*out = bufferevent_get_output(c->bev);
	struct buf	 l;
	va_list		 ap;

	buf_init(&l, 0);
	va_start(ap, fmt);
	buf_vprintf(&l, fmt, ap);
	va_end(ap);
	send_buf(c, out, &l);
}

/* send_buf - the command line in l, CRLF added, to out; frees l. */
static void
send_buf(struct rconn *c, struct evbuffer *out, struct buf *l)
{
	buf_append(l, "\r\n", 2);
	evbuffer_add(out, l->data, l->len);
	trace_line(c, l->data, l->len);
	explicit_bzero(l->data, l->len);
	buf_free(l);
}

/*
 * trace_line - for a debug peer (debug_peers), log a command line we
 * send: an AUTH command's payload, and the line after mask_next, are
 * masked.  Never called for the message data.
 */
static void
trace_line(struct rconn *c, const char *p, size_t n)
{
	const char	*sp;
	bool		 mask = c->mask_next;

	c->mask_next = false;
	if (!c->debug)
		return;
	while (n > 0 && (p[n - 1] == '\n' || p[n - 1] == '\r'))
		n--;
	sp = n > 5 && strncasecmp(p, "AUTH ", 5) == 0 ?
	    memchr(p + 5, ' ', n - 5) : NULL;
	if (mask || sp != NULL)
		log_info("relay=%s transcript=> line=\"%s*** (masked)\"",
		    log_safe(c->relay), sp != NULL ?
		    log_safe_n(p, (size_t)(sp - p) + 1) : "");
	else
		log_info("relay=%s transcript=> line=\"%s\"",
		    log_safe(c->relay), log_safe_n(p, n));
}

static struct rjob *
job_find(uint64_t id)
{
	for (struct rjob *r = jobs; r != NULL; r = r->next)
		if (r->id == id)
			return r;
	return NULL;
}

/* set_error - remember why this attempt failed, for when none works. */
static void
set_error(struct rjob *r, int result, const char *dsn, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
set_error(struct rjob *r, int result, const char *dsn, const char *fmt, ...)
{
	va_list	ap;

	r->result = result;
	str_copy(r->dsn, dsn, sizeof(r->dsn));
	r->mta[0] = '\0';
	va_start(ap, fmt);
	vsnprintf(r->text, sizeof(r->text), fmt, ap);
	va_end(ap);
}

/*
 * reply_result - what a final reply means: 2xx done, 5xx failed for good,
 * 4xx deferred.  A 3xx is deferred too, as a protocol error (4.5.0): no
 * command whose reply decides a recipient may answer so (354 to DATA is
 * handled before), and taking it for success would lose the mail.  dsn
 * gets the reply's enhanced status when its class is the result's (RFC
 * 3463 2: 2, 4 or 5), else "2.0.0", "4.0.0" or "5.0.0", so that a bounce
 * never says "Action: failed" with a 4.x.x status.
 */
static int
reply_result(const struct smtp_reply *rp, char dsn[8])
{
	int	 result = rp->code / 100 == 2 ? DELIVER_OK :
	    rp->code / 100 == 5 ? DELIVER_PERM : DELIVER_TEMP;
	char	 cls = result == DELIVER_OK ? '2' : result == DELIVER_PERM ?
	    '5' : '4';

	smtp_reply_dsn(rp, dsn);
	if (rp->code / 100 == 3)
		memcpy(dsn, "4.5.0", 6);
	else if (dsn[0] != cls) {
		dsn[0] = cls;
		memcpy(dsn + 1, ".0.0", 5);
	}
	return result;
}

/* rcpt_from_reply - a recipient's result is the reply in c; the host
 * that gave it is the report's Remote-MTA (RFC 3464 2.3.5). */
static void
rcpt_from_reply(struct deliver_rcpt *d, const struct rconn *c)
{
	char	dsn[8];
	int	result = reply_result(&c->rp, dsn);

	deliver_job_set_result(d, result, dsn, c->rp.text);
	deliver_job_set_mta(d, c->host);
}

/* ---- route passwords, TLS contexts ---- */

static char *
read_password(const char *path)
{
	char	 line[1024];
	FILE	*f = fopen(path, "re");
	size_t	 n;

	if (f == NULL) {
		log_warn("event=route-password-error file=\"%s\" error=\"%s\"",
		    log_safe(path), strerror(errno));
		return NULL;
	}
	if (fgets(line, sizeof(line), f) == NULL)
		line[0] = '\0';
	fclose(f);
	n = strcspn(line, "\r\n");
	line[n] = '\0';
	return xstrdup(line);
}

static void
load_passwords(void)
{
	for (size_t i = 0; i < npasses; i++) {
		free(passes[i].domain);
		if (passes[i].pass != NULL)
			explicit_bzero(passes[i].pass, strlen(passes[i].pass));
		free(passes[i].pass);
	}
	free(passes);
	passes = xcalloc(config->nroutes + 1, sizeof(*passes));
	npasses = 0;
	for (size_t i = 0; i < config->nroutes; i++) {
		const struct conf_route *rt = &config->routes[i];

		if (rt->auth_user == NULL)
			continue;
		passes[npasses].domain = xstrdup(rt->domain);
		passes[npasses].pass = read_password(rt->auth_file);
		npasses++;
	}
}

static const char *
route_password(const char *domain)
{
	for (size_t i = 0; i < npasses; i++)
		if (strcmp(passes[i].domain, domain) == 0)
			return passes[i].pass;
	return NULL;
}

static SSL_CTX *
make_ctx(bool verify)
{
	SSL_CTX	*ctx = SSL_CTX_new(TLS_client_method());

	if (ctx == NULL)
		fatalx("SSL_CTX_new failed");
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	if (verify) {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
		if (config->smtp_tls_ca != NULL) {
			if (SSL_CTX_load_verify_locations(ctx,
			    config->smtp_tls_ca, NULL) != 1)
				log_warn("event=tls-ca-error file=\"%s\"",
				    log_safe(config->smtp_tls_ca));
		} else
			SSL_CTX_set_default_verify_paths(ctx);
	} else
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	return ctx;
}

static void
make_contexts(void)
{
	if (ctx_may != NULL)
		SSL_CTX_free(ctx_may);
	if (ctx_verify != NULL)
		SSL_CTX_free(ctx_verify);
	if (ctx_dane != NULL)
		SSL_CTX_free(ctx_dane);
	ctx_may = make_ctx(false);
	ctx_verify = make_ctx(true);
	ctx_dane = dane_ctx_new();
}

static void
make_dns(void)
{
	dns_replace(&dns, base, (const char *const *)config->resolvers,
	    config->nresolvers);
	if (dns != NULL)
		dns_set_dnssec(dns, config->dnssec_resolver);
}

/* remote_init - the SMTP client's state: DNS, TLS contexts, route
 * passwords (read here, never logged). */
static void
remote_init(struct event_base *b)
{
	base = b;
	srandom((unsigned)(now_usec() ^ (uint64_t)getpid()));
	make_dns();
	make_contexts();
	load_passwords();
	sts_init(b);
}

/* remote_reload - the same, anew; jobs in progress keep their copies. */
static void
remote_reload(void)
{
	make_dns();
	make_contexts();
	load_passwords();
	sts_reload();
}

/* remote_shutdown - close idle connections. */
static void
remote_shutdown(void)
{
	struct rconn	*c, *next;

	for (c = conns; c != NULL; c = next) {
		next = c->next;
		if (c->job == NULL)
			conn_free(c);
	}
}

/* ---- jobs ---- */

static const struct conf_route *
find_route(const char *domain)
{
	const struct conf_route	*star = NULL;

	for (size_t i = 0; i < config->nroutes; i++) {
		if (str_ieq(config->routes[i].domain, domain))
			return &config->routes[i];
		if (strcmp(config->routes[i].domain, "*") == 0)
			star = &config->routes[i];
	}
	return star;
}

static void
job_set_route(struct rjob *r)
{
	const struct conf_route	*rt = find_route(r->domain);
	const char		*pass;

	r->tls = ROUTE_TLS_MAY;
	r->port = config->smtp_port;
	if (rt == NULL) {
		xasprintf(&r->dest, "mx:%s", r->domain);
		return;
	}
	r->routed = true;
	r->rhost = xstrdup(rt->host);
	r->tls = rt->tls;
	r->port = rt->port != 0 ? rt->port : rt->tls == ROUTE_TLS_IMPLICIT ?
	    465 : 25;
	/* Port 465 is implicit TLS (RFC 8314 3.3) unless tls = none. */
	r->implicit = rt->tls == ROUTE_TLS_IMPLICIT ||
	    (r->port == 465 && rt->tls != ROUTE_TLS_NONE);
	if (rt->auth_user != NULL) {
		r->auth_user = xstrdup(rt->auth_user);
		pass = route_password(rt->domain);
		r->auth_pass = xstrdup(pass != NULL ? pass : "");
	}
	xasprintf(&r->dest, "route:%s", rt->domain);
}

/* remote_deliver - the courier's deliver: j's recipients (all remote, one
 * domain) in one SMTP transaction, on an idle connection to the same
 * destination if there is one.  Takes j. */
static void
remote_deliver(struct deliver_job *j)
{
	struct rjob	*r = xcalloc(1, sizeof(*r));
	const char	*at = strrchr(j->r[0].addr, '@');

	r->id = ++next_id;
	r->j = j;
	r->domain = str_lower(xstrdup(at != NULL ? at + 1 : ""));
	r->next = jobs;
	jobs = r;
	set_error(r, DELIVER_TEMP, "4.4.1", "no mail host could be reached");
	job_set_route(r);
	if (j->tls_req != ENV_TLS_DEFAULT) {
		/* Only connections made under the same TLS policy are
		 * shared: a REQUIRETLS message never rides on one that
		 * was not authenticated. */
		char	*d;

		xasprintf(&d, "%s %s", r->dest, envelope_tls_name(j->tls_req));
		free(r->dest);
		r->dest = d;
		log_info("%s: event=tls-policy domain=%s policy=%s%s", j->id,
		    log_safe(r->domain), envelope_tls_name(j->tls_req),
		    tls_optional(r) ? " dane=ignored reason=\"TLS-Required: "
		    "No\"" : "");
	}
	/* With MTA-STS the policy comes first (sts_done). */
	if (sts_wanted(r) || !reuse_idle(r))
		job_resolve(r);
}

/* reuse_idle - an idle connection to the same destination (and, under
 * an MTA-STS policy in enforce mode, to a host it names): use it. */
static bool
reuse_idle(struct rjob *r)
{
	for (struct rconn *c = conns; c != NULL; c = c->next)
		if (c->job == NULL && strcmp(c->dest, r->dest) == 0 &&
		    (c->state == C_IDLE || c->state == C_RSET) &&
		    (r->routed || !sts_enforce(r->sts) ||
		    mtasts_policy_match(&r->sts->p, c->host))) {
			c->job = r;
			r->c = c;
			c->reused = true;
			c->got_reply = false;
			if (c->idle != NULL)
				evtimer_del(c->idle);
			if (c->state == C_IDLE)
				begin_txn(c);
			return true;
		}
	return false;
}

/*
 * sts_wanted - is an MTA-STS policy to be looked up for r?  For MX
 * delivery to a domain name unless mta_sts = no or the message says
 * "TLS-Required: No" (RFC 8689 5); for a route only with tls = sts.
 */
static bool
sts_wanted(const struct rjob *r)
{
	if (!config->mta_sts || tls_optional(r))
		return false;
	return r->routed ? r->tls == ROUTE_TLS_STS : r->domain[0] != '[';
}

/* sts_domain - the policy domain: the recipient domain, or a route
 * host's own domain (its name without the first label). */
static const char *
sts_domain(const struct rjob *r)
{
	const char	*dot;

	if (!r->routed)
		return r->domain;
	dot = strchr(r->rhost, '.');
	return dot != NULL ? dot + 1 : r->rhost;
}

/*
 * sts_done - the policy of r's domain is known (RFC 8461 5): resolve the
 * hosts under it.  A route with tls = sts needs an enforce policy whose
 * mx patterns name its host, else the mail is deferred.
 */
static void
sts_done(uint64_t id, struct sts_policy *p, enum sts_result res,
    const char *why)
{
	struct rjob	*r = job_find(id);

	if (r == NULL) {
		sts_unref(p);
		return;
	}
	r->sts = p;
	log_info("%s: event=mta-sts domain=%s policy=%s%s%s result_type=%s "
	    "reason=\"%s\"", r->j->id, log_safe(sts_domain(r)), p != NULL ?
	    mtasts_mode_str(p->p.mode) : "none", p != NULL ? " id=" : "",
	    p != NULL ? p->id : "", sts_result_str(res), log_safe(why));
	if (r->routed && r->tls == ROUTE_TLS_STS) {
		if (!sts_enforce(p)) {
			set_error(r, DELIVER_TEMP, "4.7.5", "tls = sts: %s has "
			    "no MTA-STS policy in enforce mode", sts_domain(r));
			job_finish(r);
			return;
		}
		if (!mtasts_policy_match(&p->p, r->rhost)) {
			set_error(r, DELIVER_TEMP, "4.7.5", "tls = sts: %s is "
			    "not an mx of the MTA-STS policy of %s", r->rhost,
			    sts_domain(r));
			sts_outcome(p, sts_domain(r), r->rhost,
			    STS_RES_VALIDATION, "host not in the policy");
			job_finish(r);
			return;
		}
	}
	if (sts_enforce(p)) {
		/* connections made under the policy are shared only by mail
		 * under it */
		char	*d;

		xasprintf(&d, "%s sts", r->dest);
		free(r->dest);
		r->dest = d;
	}
	if (!reuse_idle(r))
		job_resolve(r);
}

/* job_resolve - find the hosts of r's destination, then connect. */
static void
job_resolve(struct rjob *r)
{
	if (dns == NULL) {
		set_error(r, DELIVER_TEMP, "4.4.3", "no DNS resolver");
		job_finish(r);
	} else if (!r->sts_looked && sts_wanted(r)) {
		r->sts_looked = true;
		sts_lookup(dns, sts_domain(r), sts_done, r->id);
	} else if (r->routed) {
		r->hosts = xcalloc(1, sizeof(*r->hosts));
		r->hosts[0] = xstrdup(r->rhost);
		r->nhosts = 1;
		try_next_host(r);
	} else if (r->domain[0] == '[') {
		/* An address literal (RFC 5321 4.1.3): that host, no MX. */
		size_t	len = strlen(r->domain);
		char	*ip = xstrndup(r->domain + 1, len > 1 ? len - 2 : 0);

		r->hosts = xcalloc(1, sizeof(*r->hosts));
		r->hosts[0] = str_iprefix(ip, "ipv6:") ? xstrdup(ip + 5) :
		    xstrdup(ip);
		r->nhosts = 1;
		free(ip);
		try_next_host(r);
	} else
		mx_resolve(dns, r->domain, config->hostname, mx_done, r->id);
}

/* job_finish - every recipient without a result gets the job's error;
 * report to queue and forget the job (its connection lives on). */
static void
job_finish(struct rjob *r)
{
	struct rjob		**pp = &jobs;
	struct deliver_job	 *j = r->j;

	/* A recipient accepted at RCPT is not delivered until the final
	 * reply: a broken transaction fails it too. */
	for (size_t i = 0; i < j->n; i++)
		if (j->r[i].dsn[0] == '\0' || (r->broken &&
		    j->r[i].result == DELIVER_OK)) {
			deliver_job_set_result(&j->r[i], r->result, r->dsn,
			    r->text);
			deliver_job_set_mta(&j->r[i], r->mta);
		}
	if (r->dane == DANE_VERIFY)
		str_copy(j->tls_policy, "dane", sizeof(j->tls_policy));
	else if (r->sts != NULL)
		snprintf(j->tls_policy, sizeof(j->tls_policy), "sts mode=%s",
		    mtasts_mode_str(r->sts->p.mode));
	if (r->c != NULL) {
		str_copy(j->relay, r->c->relay, sizeof(j->relay));
		r->c->job = NULL;
	} else if (j->relay[0] == '\0')
		str_copy(j->relay, "none", sizeof(j->relay));
	while (*pp != NULL && *pp != r)
		pp = &(*pp)->next;
	if (*pp != NULL)
		*pp = r->next;
	for (size_t i = 0; i < r->nhosts; i++)
		free(r->hosts[i]);
	free(r->hosts);
	free(r->domain);
	free(r->dest);
	free(r->rhost);
	free(r->auth_user);
	dane_tlsa_free(r->tlsa);
	sts_unref(r->sts);
	if (r->auth_pass != NULL)
		explicit_bzero(r->auth_pass, strlen(r->auth_pass));
	free(r->auth_pass);
	free(r);
	deliver_job_done(j);
}

/* ---- where to connect ---- */

static void
mx_done(uint64_t id, int result, const char *dsn, const char *text,
    bool secure, const char *const *hosts, size_t n)
{
	struct rjob	*r = job_find(id);

	if (r == NULL)
		return;
	r->mx_secure = secure;
	if (result != DELIVER_OK) {
		set_error(r, result, dsn, "%s", text);
		job_finish(r);
		return;
	}
	/* RFC 8689 4.2.1: the MX answer must be DNSSEC-validated, or the
	 * domain have an MTA-STS policy in enforce mode (whose mx patterns
	 * the hosts must then match), or an attacker could name the
	 * host. */
	if (requiretls(r) && !(secure && config->dnssec_resolver) &&
	    !sts_enforce(r->sts)) {
		set_error(r, DELIVER_PERM, "5.7.30", "REQUIRETLS: the MX "
		    "records of %s are not DNSSEC-validated and it has no "
		    "MTA-STS policy in enforce mode", r->domain);
		job_finish(r);
		return;
	}
	r->hosts = xcalloc(n, sizeof(*r->hosts));
	for (size_t i = 0; i < n; i++)
		r->hosts[i] = xstrdup(hosts[i]);
	r->nhosts = n;
	try_next_host(r);
}

/* is_literal - an IP address instead of a name: parse it into a. */
static bool
is_literal(const char *host, uint16_t port, struct sockaddr_storage *a)
{
	struct sockaddr_in	*s4 = (struct sockaddr_in *)a;
	struct sockaddr_in6	*s6 = (struct sockaddr_in6 *)a;

	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		return true;
	}
	if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		return true;
	}
	return false;
}

/*
 * dane_wanted - is a TLSA lookup due for hosts[hi]?  For MX delivery only
 * when the MX answer was secure (RFC 7672 2.2.1: an insecure MX answer
 * could name the attacker's host); a route's host name comes from the
 * config, and a route asks for DANE with tls = dane.
 */
static bool
dane_wanted(const struct rjob *r)
{
	if (!config->dnssec_resolver || tls_optional(r))
		return false;
	return r->routed ? r->tls == ROUTE_TLS_DANE : r->mx_secure;
}

/* requiretls - the message carries REQUIRETLS (RFC 8689). */
static bool
requiretls(const struct rjob *r)
{
	return r->j->tls_req == ENV_TLS_REQUIRE;
}

/* tls_optional - "TLS-Required: No": the recipient domain's policy
 * (DANE) does not apply; a route's tls, being ours, still does. */
static bool
tls_optional(const struct rjob *r)
{
	return r->j->tls_req == ENV_TLS_OPTIONAL && !r->routed;
}

static void
addr_done(uint64_t id, void *arg, enum dns_status st, bool secure,
    const struct sockaddr_storage *addrs, size_t n)
{
	struct rjob	*r = job_find(id);

	if (r == NULL)
		return;
	if (st != DNS_OK || n == 0) {
		set_error(r, DELIVER_TEMP, "4.4.3", "%s: no address (%s)",
		    r->hosts[r->hi], dns_status_str(st));
		r->hi++;
		try_next_host(r);
		return;
	}
	r->naddrs = MIN(n, (size_t)ADDRS_MAX);
	for (size_t i = 0; i < r->naddrs; i++) {
		r->addrs[i] = addrs[i];
		if (addrs[i].ss_family == AF_INET)
			((struct sockaddr_in *)&r->addrs[i])->sin_port =
			    htons(r->port);
		else
			((struct sockaddr_in6 *)&r->addrs[i])->sin6_port =
			    htons(r->port);
	}
	r->ai = 0;
	/* RFC 7672 2.2.2: TLSA records are looked up only for a host whose
	 * addresses are secure too. */
	if (dane_wanted(r) && secure) {
		dane_lookup(dns, r->hosts[r->hi], r->port, tlsa_done, r->id);
		return;
	}
	if (r->routed && r->tls == ROUTE_TLS_DANE) {
		set_error(r, DELIVER_TEMP, "4.7.5", "%s: addresses not "
		    "DNSSEC-validated, DANE impossible", r->hosts[r->hi]);
		skip_host(r);
		return;
	}
	if (!sts_skip(r))
		try_next_addr(r);
}

/*
 * sts_skip - RFC 8461 4.1: under an MTA-STS policy, an MX host that DANE
 * does not cover must be one of the policy's mx patterns.  In enforce
 * mode another is skipped (true); in testing mode it is only logged.
 */
static bool
sts_skip(struct rjob *r)
{
	const char	*host = r->hosts[r->hi];

	if (r->routed || !sts_pkix(r) || mtasts_policy_match(&r->sts->p, host))
		return false;
	sts_outcome(r->sts, r->domain, host, STS_RES_VALIDATION,
	    "MX host not in the policy");
	if (!sts_enforce(r->sts))
		return false;
	set_error(r, DELIVER_TEMP, "4.7.5", "%s is not an mx of the MTA-STS "
	    "policy of %s", host, r->domain);
	skip_host(r);
	return true;
}

/* skip_host - DANE rules hosts[hi] out before any connection: on to the
 * next host.  Its addresses count for the loop check as if tried, so a
 * deferral is not mistaken for mail looping back to us. */
static void
skip_host(struct rjob *r)
{
	for (size_t i = 0; i < r->naddrs; i++)
		if (!is_self(&r->addrs[i], r->port))
			r->any_remote = true;
	r->hi++;
	try_next_host(r);
}

/*
 * tlsa_done - the host's DANE level (RFC 7672 2.2): a failed lookup
 * makes it unusable (the next MX is tried, and the mail is deferred when
 * none works); usable records make TLS mandatory and authenticated,
 * unusable ones TLS mandatory only; none leaves the route's policy.
 */
static void
tlsa_done(uint64_t id, enum dane_level level, struct dane_tlsa *t,
    const char *why)
{
	struct rjob	*r = job_find(id);
	const char	*host;

	if (r == NULL) {
		dane_tlsa_free(t);
		return;
	}
	host = r->hosts[r->hi];
	log_info("event=dane host=%s port=%u level=%s reason=\"%s\"",
	    log_safe(host), (unsigned)r->port, dane_level_str(level),
	    log_safe(why));
	dane_tlsa_free(r->tlsa);
	r->tlsa = t;
	r->dane = level;
	if (level == DANE_FAILED && !r->routed) {
		/* RFC 8460 4.3.2.1: no valid TLSA answer for the host */
		struct tlsrpt_event e = { .policy_type = "tlsa",
		    .policy_domain = r->domain, .result = "dnssec-invalid",
		    .receiving_mx = host, .reason = why };

		deliver_tlsrpt_record(&e, -1, NULL);
	}
	if (level == DANE_FAILED || (r->routed && r->tls == ROUTE_TLS_DANE &&
	    level != DANE_VERIFY)) {
		set_error(r, DELIVER_TEMP, "4.7.5", "%s: %s", host,
		    level == DANE_FAILED ? why : "tls = dane and no usable "
		    "TLSA records");
		skip_host(r);
		return;
	}
	if (!sts_skip(r))
		try_next_addr(r);
}

/* try_next_host - look up the addresses of hosts[hi], or give up. */
static void
try_next_host(struct rjob *r)
{
	dane_tlsa_free(r->tlsa);
	r->tlsa = NULL;
	r->dane = DANE_NONE;
	if (r->hi >= r->nhosts) {
		if (!r->any_remote && r->nhosts > 0 && r->naddrs > 0)
			set_error(r, DELIVER_PERM, "5.4.6",
			    "mail loops back to myself");
		job_finish(r);
		return;
	}
	if (is_literal(r->hosts[r->hi], r->port, &r->addrs[0])) {
		/* an address literal (route host) */
		r->naddrs = 1;
		r->ai = 0;
		try_next_addr(r);
		return;
	}
	if (dns == NULL) {
		set_error(r, DELIVER_TEMP, "4.4.3", "DNS lookups cancelled");
		job_finish(r);
		return;
	}
	dns_addr_sec(dns, r->hosts[r->hi], AF_UNSPEC, addr_done, r->id,
	    NULL);
}

static void
addr_string(const struct sockaddr_storage *a, char *ip, size_t len)
{
	const void	*p = a->ss_family == AF_INET ?
	    (const void *)&((const struct sockaddr_in *)a)->sin_addr :
	    (const void *)&((const struct sockaddr_in6 *)a)->sin6_addr;

	if (inet_ntop(a->ss_family, p, ip, (socklen_t)len) == NULL)
		str_copy(ip, "?", len);
}

/* is_self - an address and port one of our listeners accepts on. */
static bool
is_self(const struct sockaddr_storage *a, uint16_t port)
{
	char	ip[INET6_ADDRSTRLEN];

	addr_string(a, ip, sizeof(ip));
	for (size_t i = 0; i < config->nlistens; i++) {
		const struct conf_listen *l = &config->listens[i];

		if (l->port != port)
			continue;
		if (strcmp(l->host, ip) == 0 ||
		    strcmp(l->host, "0.0.0.0") == 0 ||
		    strcmp(l->host, "::") == 0)
			return true;
	}
	return false;
}

static struct rconn *
conn_new(struct rjob *r, const struct sockaddr_storage *a)
{
	struct rconn	*c = xcalloc(1, sizeof(*c));
	char		 ip[INET6_ADDRSTRLEN];

	addr_string(a, ip, sizeof(ip));
	c->dest = xstrdup(r->dest);
	str_copy(c->host, r->hosts[r->hi], sizeof(c->host));
	snprintf(c->relay, sizeof(c->relay), "%s[%s]:%u", c->host, ip,
	    (unsigned)r->port);
	c->debug = log_verbose() || conf_nets_match(config->debug_peers,
	    config->ndebug_peers, (const struct sockaddr *)a);
	c->job = r;
	r->c = c;
	c->next = conns;
	conns = c;
	return c;
}

/* try_next_addr - connect to addrs[ai], or go on to the next host. */
static void
try_next_addr(struct rjob *r)
{
	struct rconn	*c;
	SSL		*ssl = NULL;

	while (r->ai < r->naddrs && is_self(&r->addrs[r->ai], r->port))
		r->ai++;
	if (r->ai >= r->naddrs) {
		r->hi++;
		try_next_host(r);
		return;
	}
	r->any_remote = true;
	c = conn_new(r, &r->addrs[r->ai]);
	if (r->implicit) {
		if ((ssl = new_ssl(r, c->host)) == NULL) {
			conn_failed(c, "TLS: cannot set up DANE");
			return;
		}
		c->bev = bufferevent_openssl_socket_new(base, -1, ssl,
		    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
		c->tls = true;
	} else
		c->bev = bufferevent_socket_new(base, -1,
		    BEV_OPT_CLOSE_ON_FREE);
	c->state = C_CONNECT;
	bufferevent_setcb(c->bev, conn_read, conn_write, conn_event, c);
	set_timeout(c, T_CONNECT);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	if (bufferevent_socket_connect(c->bev,
	    (struct sockaddr *)&r->addrs[r->ai],
	    r->addrs[r->ai].ss_family == AF_INET ?
	    sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6)) == -1)
		conn_event(c->bev, BEV_EVENT_ERROR, c);
}

/* verify_host - the name (or address literal) the certificate must
 * carry, for verifying contexts. */
static void
verify_host(SSL *ssl, const char *host)
{
	struct sockaddr_storage	a;

	if (is_literal(host, 0, &a))
		X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host);
	else {
		SSL_set_tlsext_host_name(ssl, host);
		SSL_set1_host(ssl, host);
	}
}

/* tls_verified - must the certificate be authenticated: by DANE, or by
 * the CAs of smtp_tls_ca and the host's name (a route's tls, or
 * REQUIRETLS without usable TLSA records). */
static bool
tls_verified(const struct rjob *r)
{
	return r->dane == DANE_VERIFY || r->tls == ROUTE_TLS_REQUIRE ||
	    r->tls == ROUTE_TLS_VERIFY || r->tls == ROUTE_TLS_IMPLICIT ||
	    r->tls == ROUTE_TLS_STS || requiretls(r) || sts_enforce(r->sts);
}

/* sts_pkix - the MTA-STS policy decides this host's TLS: DANE, which
 * takes precedence (RFC 8461 2), has no usable records for it. */
static bool
sts_pkix(const struct rjob *r)
{
	return r->sts != NULL && r->dane != DANE_VERIFY &&
	    r->sts->p.mode != MTASTS_MODE_NONE;
}

/* tls_mandatory - no plain text: a verified policy, or secure TLSA
 * records even when none is usable (RFC 7672 2.2). */
static bool
tls_mandatory(const struct rjob *r)
{
	return tls_verified(r) || r->dane == DANE_ENCRYPT ||
	    r->tls == ROUTE_TLS_DANE;
}

/*
 * new_ssl - the TLS object of a connection to host under r's policy:
 * DANE (the TLSA records decide, no CA store), PKIX (smtp_tls_ca and the
 * host's name) or opportunistic (nothing checked, SNI only).  NULL when
 * OpenSSL refuses the TLSA records.
 */
static SSL *
new_ssl(struct rjob *r, const char *host)
{
	SSL	*ssl;

	if (r->dane == DANE_VERIFY) {
		if ((ssl = SSL_new(ctx_dane)) == NULL)
			return NULL;
		/* RFC 7672 3.2.2: a DANE-TA chain may name the MX host or
		 * the next-hop domain; a route has only its host. */
		if (dane_ssl_setup(ssl, r->tlsa, host, r->routed ? NULL :
		    r->domain) == -1) {
			SSL_free(ssl);
			return NULL;
		}
		return ssl;
	}
	if ((ssl = SSL_new(tls_verified(r) || sts_pkix(r) ? ctx_verify :
	    ctx_may)) == NULL)
		return NULL;
	if (tls_verified(r))
		verify_host(ssl, r->routed ? r->rhost : host);
	else if (sts_pkix(r)) {
		/* testing: checked as enforce would, failures only logged
		 * (log_tls) */
		SSL_set_verify(ssl, SSL_VERIFY_NONE, NULL);
		verify_host(ssl, host);
	}
	else if (!is_literal(host, 0, &(struct sockaddr_storage){ 0 }))
		SSL_set_tlsext_host_name(ssl, host);
	return ssl;
}

/*
 * log_tls - the handshake is done: say how far the peer is trusted.
 * "DANE": the chain matched a TLSA record (which one, at what depth);
 * "Verified": PKIX under smtp_tls_ca with the host's name; "Untrusted":
 * encrypted, nothing checked (opportunistic, or DANE with no usable
 * record).
 */
static void
log_tls(struct rconn *c)
{
	SSL		*ssl = bufferevent_openssl_get_ssl(c->bev);
	const struct rjob *r = c->job;
	const char	*trust = "Untrusted";
	char		 match[64] = "";

	if (ssl == NULL || r == NULL)
		return;
	stats_add(STATS_OUT_TLS);
	if (r->dane == DANE_VERIFY) {
		trust = "DANE";
		dane_ssl_match(ssl, match, sizeof(match));
	} else if (tls_verified(r))
		trust = "Verified";
	if (sts_pkix(r) && SSL_get_verify_result(ssl) != X509_V_OK)
		sts_outcome(r->sts, sts_domain(r), c->host,
		    sts_cert_result(SSL_get_verify_result(ssl)),
		    X509_verify_cert_error_string(SSL_get_verify_result(ssl)));
	else if (sts_pkix(r))
		sts_outcome(r->sts, sts_domain(r), c->host, STS_RES_OK,
		    "verified");
	log_info("event=tls relay=%s trust=%s text=\"%s TLS connection "
	    "established\" protocol=%s cipher=%s%s%s%s", log_safe(c->relay),
	    trust, trust, SSL_get_version(ssl), SSL_get_cipher_name(ssl),
	    match[0] != '\0' ? " tlsa=\"" : "", match,
	    match[0] != '\0' ? "\"" : "");
	/* Postfix's words (a DANE match is "Verified" there too) */
	if (config->log_format == LOG_FORMAT_POSTFIX)
		log_info("%s TLS connection established to %s: %s with "
		    "cipher %s (%d/%d bits)", r->dane == DANE_VERIFY ?
		    "Verified" : trust, log_safe(c->relay),
		    SSL_get_version(ssl), SSL_get_cipher_name(ssl),
		    SSL_get_cipher_bits(ssl, NULL),
		    SSL_get_cipher_bits(ssl, NULL));
}

/* tls_why - why the handshake failed: a certificate that did not verify
 * says so (for DANE: no TLSA record matched the chain). */
static void
tls_why(struct rconn *c, char *why, size_t size)
{
	SSL	*ssl = bufferevent_openssl_get_ssl(c->bev);
	size_t	 len = strlen(why);
	long	 v;

	/* Without verification the result says nothing about the failure. */
	if (ssl == NULL || c->job == NULL || !tls_verified(c->job) ||
	    (v = SSL_get_verify_result(ssl)) == X509_V_OK || len >= size)
		return;
	if (c->job->dane == DANE_VERIFY)
		snprintf(why + len, size - len, " (DANE: no TLSA record "
		    "matches the certificate chain: %s)",
		    X509_verify_cert_error_string(v));
	else if (sts_pkix(c->job)) {
		snprintf(why + len, size - len, " (MTA-STS: %s)",
		    X509_verify_cert_error_string(v));
		sts_outcome(c->job->sts, sts_domain(c->job), c->host,
		    sts_cert_result(v), X509_verify_cert_error_string(v));
	} else
		snprintf(why + len, size - len, " (%s)",
		    X509_verify_cert_error_string(v));
}

/*
 * report_tls - this connection's TLS outcome for TLS-RPT (RFC 8460),
 * once per connection and for MX delivery only (a route's host is the
 * admin's choice, not a recipient domain's policy): under DANE the
 * policy is "tlsa" with the host's usable records, else
 * "no-policy-found".
 */
static void
report_tls(struct rconn *c, const char *result, const char *reason)
{
	struct rjob	*r = c->job;
	struct buf	 strings;
	bool		 dane, sts;
	int		 fd;
	const struct sockaddr_storage *peer;

	if (r == NULL || c->reported || !config->tlsrpt)
		return;
	dane = r->dane == DANE_VERIFY || r->dane == DANE_ENCRYPT;
	sts = !dane && sts_pkix(r);
	/* A route host is the admin's choice, not a recipient domain's
	 * policy; only one with tls = sts answers to its domain's. */
	if (r->routed && !sts)
		return;
	c->reported = true;
	fd = c->bev != NULL ? bufferevent_getfd(c->bev) : -1;
	peer = r->ai < r->naddrs ? &r->addrs[r->ai] : NULL;
	if (sts) {
		/* testing mode: a host outside the policy still got mail */
		if (result[0] == '\0' &&
		    !mtasts_policy_match(&r->sts->p, c->host)) {
			result = "validation-failure";
			reason = "MX host not in the policy";
		}
		sts_tlsrpt(r->sts, sts_domain(r), c->host, result, reason, fd,
		    peer);
		return;
	}
	buf_init(&strings, 0);
	if (dane)
		dane_tlsa_strings(r->tlsa, &strings);
	/* The policy domain is the recipient domain for DANE too: that is
	 * where its owner publishes _smtp._tls (RFC 8460 3); the MX host
	 * is the receiving-mx-hostname. */
	struct tlsrpt_event e = {
		.policy_type = dane ? "tlsa" : "no-policy-found",
		.policy_domain = r->domain,
		.policy_strings = buf_cstr(&strings),
		.result = result, .receiving_mx = c->host, .reason = reason,
	};
	deliver_tlsrpt_record(&e, fd, peer);
	buf_free(&strings);
}

/*
 * tls_result - the RFC 8460 4.3 result type of a failed handshake: what
 * the certificate check said when one was made, else
 * "validation-failure" (a handshake that failed for another reason).
 * reason gets OpenSSL's words for a failed check.
 */
static const char *
tls_result(struct rconn *c, char *reason, size_t size)
{
	SSL	*ssl = bufferevent_openssl_get_ssl(c->bev);
	long	 v;

	if (ssl == NULL || c->job == NULL || !tls_verified(c->job) ||
	    (v = SSL_get_verify_result(ssl)) == X509_V_OK)
		return "validation-failure";
	snprintf(reason, size, "%s", X509_verify_cert_error_string(v));
	switch (v) {
	case X509_V_ERR_DANE_NO_MATCH:
		return "tlsa-invalid";
	case X509_V_ERR_HOSTNAME_MISMATCH:
	case X509_V_ERR_IP_ADDRESS_MISMATCH:
		return "certificate-host-mismatch";
	case X509_V_ERR_CERT_HAS_EXPIRED:
	case X509_V_ERR_CERT_NOT_YET_VALID:
		return "certificate-expired";
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
	case X509_V_ERR_CERT_UNTRUSTED:
		return "certificate-not-trusted";
	default:
		return "validation-failure";
	}
}

/* ---- connections ---- */

static void
conn_free(struct rconn *c)
{
	struct rconn	**pp = &conns;

	while (*pp != NULL && *pp != c)
		pp = &(*pp)->next;
	if (*pp != NULL)
		*pp = c->next;
	if (c->idle != NULL)
		event_free(c->idle);
	if (c->bev != NULL) {
		SSL	*ssl = bufferevent_openssl_get_ssl(c->bev);

		if (ssl != NULL)
			SSL_set_shutdown(ssl, SSL_RECEIVED_SHUTDOWN);
		bufferevent_free(c->bev);
	}
	free(c->dest);
	free(c);
}

/* conn_failed - the connection is unusable.  Before the transaction
 * began, the next address is tried; a reused connection that the peer
 * had closed is replaced by a new one; in the transaction, the recipients
 * without an answer get a temporary failure. */
static void
conn_failed(struct rconn *c, const char *why)
{
	struct rjob	*r = c->job;
	bool		 early = c->state < C_TXN;
	bool		 stale = c->reused && !c->got_reply;

	if (r == NULL) {
		conn_free(c);
		return;
	}
	r->c = NULL;
	if (c->state == C_TLS_HANDSHAKE && r->tls == ROUTE_TLS_MAY &&
	    !tls_mandatory(r) && !r->no_tls) {
		/* Opportunistic TLS failed: the same address, in clear. */
		log_info("event=tls-failed relay=%s reason=\"%s\" "
		    "action=retry-plaintext", log_safe(c->relay), why);
		r->no_tls = true;
		conn_free(c);
		try_next_addr(r);
		return;
	}
	if (stale) {
		conn_free(c);
		if (r->nhosts == 0) {
			job_resolve(r);
			return;
		}
		try_next_addr(r);
		return;
	}
	if (requiretls(r) && early && strncmp(why, "TLS:", 4) == 0)
		/* RFC 8689 4.2.1: no authenticated TLS with this host (a
		 * connection lost later is lost as any other) */
		set_error(r, DELIVER_PERM, "5.7.30", "REQUIRETLS: connect to "
		    "%s: %s", c->relay, why);
	else
		set_error(r, DELIVER_TEMP, c->state == C_TLS_HANDSHAKE ||
		    strncmp(why, "TLS:", 4) == 0 ? "4.7.5" : "4.4.2",
		    "%s %s: %s", early ? "connect to" : "lost connection with",
		    c->relay, why);
	str_copy(r->j->relay, c->relay, sizeof(r->j->relay));
	conn_free(c);
	if (early) {
		r->ai++;
		try_next_addr(r);
	} else {
		r->broken = true;
		job_finish(r);
	}
}

static void
conn_event(struct bufferevent *bev, short what, void *arg)
{
	struct rconn	*c = arg;
	char		 why[160];
	unsigned long	 e;

	if (what & BEV_EVENT_CONNECTED) {
		if (c->state == C_TLS_HANDSHAKE) {
			log_tls(c);
			report_tls(c, "", "");
			c->tls = true;
			c->caps = 0;
			c->state = C_EHLO;
			set_timeout(c, T_GREETING);
			send_line(c, "EHLO %s", config->hostname);
		} else {
			/* implicit TLS: the handshake is done */
			if (c->tls)
				log_tls(c);
			stats_add(STATS_OUT_CONNECTIONS);
			c->state = C_GREETING;
			set_timeout(c, T_GREETING);
		}
		return;
	}
	if (what & BEV_EVENT_TIMEOUT)
		str_copy(why, "timeout", sizeof(why));
	else if ((e = bufferevent_get_openssl_error(bev)) != 0) {
		snprintf(why, sizeof(why), "TLS: %s",
		    ERR_reason_error_string(e) != NULL ?
		    ERR_reason_error_string(e) : "error");
		tls_why(c, why, sizeof(why));
	}
	else if (what & BEV_EVENT_EOF)
		str_copy(why, "connection closed", sizeof(why));
	else
		str_copy(why, strerror(EVUTIL_SOCKET_ERROR() != 0 ?
		    EVUTIL_SOCKET_ERROR() : EIO), sizeof(why));
	if (c->state == C_QUIT) {
		conn_free(c);
		return;
	}
	if (c->state == C_TLS_HANDSHAKE) {
		char		 reason[160];
		const char	*result;

		str_copy(reason, why, sizeof(reason));
		result = tls_result(c, reason, sizeof(reason));
		report_tls(c, result, reason);
	}
	conn_failed(c, why);
}

/* ---- replies ---- */

typedef void (*reply_fn)(struct rconn *);

static void	 on_greeting(struct rconn *);
static void	 on_ehlo(struct rconn *);
static void	 on_helo(struct rconn *);
static void	 on_starttls(struct rconn *);
static void	 on_auth(struct rconn *);
static void	 on_txn(struct rconn *);
static void	 on_dot(struct rconn *);
static void	 on_rset(struct rconn *);
static void	 on_idle(struct rconn *);

static const reply_fn handlers[] = {
	[C_GREETING] = on_greeting,	[C_EHLO] = on_ehlo,
	[C_HELO] = on_helo,		[C_STARTTLS] = on_starttls,
	[C_AUTH] = on_auth,		[C_AUTH_LOGIN_USER] = on_auth,
	[C_AUTH_LOGIN_PASS] = on_auth,	[C_TXN] = on_txn,
	[C_BODY] = on_idle,		[C_DOT] = on_dot,
	[C_RSET] = on_rset,		[C_IDLE] = on_idle,
	[C_QUIT] = on_idle,
};

/* conn_alive - c is still a connection and still reads from bev. */
static bool
conn_alive(struct rconn *c, struct bufferevent *bev)
{
	for (struct rconn *x = conns; x != NULL; x = x->next)
		if (x == c)
			return c->bev == bev;
	return false;
}

static void
conn_read(struct bufferevent *bev, void *arg)
{
	struct rconn	*c = arg;
	struct evbuffer	*in = bufferevent_get_input(bev);
	char		*line;
	size_t		 len;
	enum smtp_reply_rc rc;

	while (c->bev == bev && (line = evbuffer_readln(in, &len,
	    EVBUFFER_EOL_CRLF)) != NULL) {
		rc = len > LINE_MAX_LEN ? SMTP_REPLY_BAD :
		    smtp_reply_line(&c->rp, line, len, c->state == C_EHLO);
		if (c->debug)
			log_info("relay=%s transcript=< line=\"%s\"",
			    log_safe(c->relay), log_safe_n(line, len));
		free(line);
		if (rc == SMTP_REPLY_BAD) {
			conn_failed(c, "bad reply line");
			return;
		}
		if (rc == SMTP_REPLY_MORE)
			continue;
		c->got_reply = true;
		if (c->state >= NELEM(handlers) || handlers[c->state] == NULL) {
			conn_failed(c, "unexpected reply");
			return;
		}
		handlers[c->state](c);
		/* The handler may have freed c: only continue on the same
		 * bufferevent of a live connection. */
		if (!conn_alive(c, bev))
			return;
	}
	if (conn_alive(c, bev) && evbuffer_get_length(in) > LINE_MAX_LEN)
		conn_failed(c, "reply line too long");
}

/* ---- session set-up ---- */

/* reject_host - this host will not do (greeting, EHLO, TLS, AUTH): say
 * QUIT and try the next address. */
static void
reject_host(struct rconn *c, int result, const char *dsn, const char *what)
{
	struct rjob	*r = c->job;

	if (c->rp.code > 0) {
		set_error(r, result, dsn, "%s %s: %s", c->relay, what,
		    c->rp.text);
		str_copy(r->mta, c->host, sizeof(r->mta));
	} else
		set_error(r, result, dsn, "%s: %s", c->relay, what);
	str_copy(r->j->relay, c->relay, sizeof(r->j->relay));
	r->c = NULL;
	c->job = NULL;
	c->state = C_QUIT;
	set_timeout(c, T_QUIT);
	send_line(c, "QUIT");
	r->ai++;
	try_next_addr(r);
}

static void
on_greeting(struct rconn *c)
{
	char	dsn[8];

	if (c->rp.code / 100 != 2) {
		reject_host(c, reply_result(&c->rp, dsn), dsn, "greeting");
		return;
	}
	c->state = C_EHLO;
	set_timeout(c, T_MAIL);
	send_line(c, "EHLO %s", config->hostname);
}

static void
on_ehlo(struct rconn *c)
{
	char	dsn[8];

	if (c->rp.code / 100 == 2) {
		c->caps = c->rp.caps;
		c->maxsize = c->rp.maxsize;
		after_ehlo(c);
	} else if (c->rp.code / 100 == 5) {
		c->state = C_HELO;
		send_line(c, "HELO %s", config->hostname);
	} else
		reject_host(c, reply_result(&c->rp, dsn), dsn, "EHLO");
}

/* on_helo - after EHLO got 5xx (RFC 5321 3.2).  A 5xx here fails the
 * recipients for good when no other address does better (5.x.x). */
static void
on_helo(struct rconn *c)
{
	char	dsn[8];

	if (c->rp.code / 100 != 2) {
		reject_host(c, reply_result(&c->rp, dsn), dsn, "HELO");
		return;
	}
	c->caps = 0;
	after_ehlo(c);
}

/* start_tls - wrap the connection after "220" to STARTTLS (RFC 3207).
 * Bytes after the 220 would be plaintext injected into the TLS session:
 * refuse them (the client side of CVE-2011-0411). */
static void
start_tls(struct rconn *c)
{
	struct rjob		*r = c->job;
	SSL			*ssl;
	struct bufferevent	*tb;

	if (evbuffer_get_length(bufferevent_get_input(c->bev)) > 0) {
		report_tls(c, "validation-failure", "data after the STARTTLS "
		    "reply");
		conn_failed(c, "data after the STARTTLS reply");
		return;
	}
	if ((ssl = new_ssl(r, c->host)) == NULL) {
		/* OpenSSL took none of the TLSA records */
		report_tls(c, "tlsa-invalid", "no TLSA record could be used");
		conn_failed(c, "TLS: cannot set up DANE");
		return;
	}
	tb = bufferevent_openssl_filter_new(base, c->bev, ssl,
	    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
	if (tb == NULL) {
		SSL_free(ssl);
		conn_failed(c, "cannot start TLS");
		return;
	}
	c->bev = tb;
	c->state = C_TLS_HANDSHAKE;
	bufferevent_setcb(tb, conn_read, conn_write, conn_event, c);
	set_timeout(c, T_GREETING);
	bufferevent_enable(tb, EV_READ | EV_WRITE);
}

static void
on_starttls(struct rconn *c)
{
	if (c->rp.code == 220) {
		start_tls(c);
		return;
	}
	report_tls(c, "starttls-not-supported", "STARTTLS refused");
	if (requiretls(c->job)) {
		reject_host(c, DELIVER_PERM, "5.7.30", "REQUIRETLS: STARTTLS");
		return;
	}
	if (sts_pkix(c->job))
		sts_outcome(c->job->sts, sts_domain(c->job), c->host,
		    STS_RES_STARTTLS, "STARTTLS refused");
	if (tls_mandatory(c->job)) {
		reject_host(c, DELIVER_TEMP, "4.7.4", "STARTTLS");
		return;
	}
	c->caps &= ~SMTP_CAP_STARTTLS;
	after_ehlo(c);
}

/* start_auth - AUTH PLAIN (RFC 4616) or LOGIN, credentials of the route. */
static void
start_auth(struct rconn *c)
{
	struct rjob	*r = c->job;
	struct buf	 raw, b64;

	buf_init(&raw, 0);
	buf_init(&b64, 0);
	if (c->caps & SMTP_CAP_AUTH_PLAIN) {
		buf_putc(&raw, '\0');
		buf_puts(&raw, r->auth_user);
		buf_putc(&raw, '\0');
		buf_puts(&raw, r->auth_pass);
		base64_encode((const unsigned char *)raw.data, raw.len,
		    &b64);
		c->state = C_AUTH;
		send_line(c, "AUTH PLAIN %s", buf_cstr(&b64));
	} else {
		c->state = C_AUTH_LOGIN_USER;
		send_line(c, "AUTH LOGIN");
	}
	if (raw.data != NULL)
		explicit_bzero(raw.data, raw.len);
	if (b64.data != NULL)
		explicit_bzero(b64.data, b64.len);
	buf_free(&raw);
	buf_free(&b64);
}

/* send_b64 - one base64 line of s (AUTH LOGIN steps). */
static void
send_b64(struct rconn *c, const char *s)
{
	struct buf	b64;

	buf_init(&b64, 0);
	base64_encode((const unsigned char *)s, strlen(s), &b64);
	c->mask_next = true;
	send_line(c, "%s", buf_cstr(&b64));
	if (b64.data != NULL)
		explicit_bzero(b64.data, b64.len);
	buf_free(&b64);
}

static void
on_auth(struct rconn *c)
{
	struct rjob	*r = c->job;

	if (c->rp.code == 334 && c->state == C_AUTH_LOGIN_USER) {
		c->state = C_AUTH_LOGIN_PASS;
		send_b64(c, r->auth_user);
		return;
	}
	if (c->rp.code == 334 && c->state == C_AUTH_LOGIN_PASS) {
		c->state = C_AUTH;
		send_b64(c, r->auth_pass);
		return;
	}
	if (c->rp.code == 235) {
		c->authed = true;
		after_ehlo(c);
		return;
	}
	if (c->rp.code == 334)		/* a challenge we do not answer */
		send_line(c, "*");
	reject_host(c, DELIVER_TEMP, "4.7.0", "AUTH");
}

/* after_ehlo - STARTTLS, AUTH, then the transaction. */
static void
after_ehlo(struct rconn *c)
{
	struct rjob	*r = c->job;

	set_timeout(c, T_MAIL);
	if (!c->tls && r->tls != ROUTE_TLS_NONE && !r->no_tls &&
	    !(c->caps & SMTP_CAP_STARTTLS))
		report_tls(c, "starttls-not-supported", "");
	if (!c->tls && r->tls != ROUTE_TLS_NONE &&
	    (!r->no_tls || tls_mandatory(r)) &&
	    (c->caps & SMTP_CAP_STARTTLS)) {
		c->state = C_STARTTLS;
		send_line(c, "STARTTLS");
		return;
	}
	/* RFC 8689 4.2.1: REQUIRETLS mail only over TLS. */
	if (!c->tls && requiretls(r)) {
		c->rp.code = 0;
		reject_host(c, DELIVER_PERM, "5.7.30", r->tls == ROUTE_TLS_NONE ?
		    "REQUIRETLS: the route has tls = none" :
		    "REQUIRETLS: STARTTLS not offered");
		return;
	}
	if (!c->tls && sts_pkix(r))
		sts_outcome(r->sts, sts_domain(r), c->host, STS_RES_STARTTLS,
		    r->no_tls ? "TLS handshake failed" :
		    "STARTTLS not offered");
	/* RFC 7672 2.2: a DANE host is never sent mail in plain text;
	 * nor an MTA-STS host in enforce mode (RFC 8461 5). */
	if (!c->tls && tls_mandatory(r)) {
		c->rp.code = 0;
		reject_host(c, DELIVER_TEMP, "4.7.4", r->no_tls ?
		    "TLS handshake" : "STARTTLS not offered");
		return;
	}
	/* ... and only to a server that promises to keep to it. */
	if (requiretls(r) && !(c->caps & SMTP_CAP_REQUIRETLS)) {
		c->rp.code = 0;
		reject_host(c, DELIVER_PERM, "5.7.30", "REQUIRETLS support "
		    "required, and the server does not offer it");
		return;
	}
	if (r->auth_user != NULL && !c->authed) {
		if (!c->tls) {		/* the password never goes in clear */
			c->rp.code = 0;
			reject_host(c, DELIVER_TEMP, "4.7.0",
			    "no TLS: credentials not sent");
			return;
		}
		if (!(c->caps & (SMTP_CAP_AUTH_PLAIN | SMTP_CAP_AUTH_LOGIN))) {
			c->rp.code = 0;
			reject_host(c, DELIVER_TEMP, "4.7.0",
			    "AUTH PLAIN or LOGIN not offered");
			return;
		}
		start_auth(c);
		return;
	}
	begin_txn(c);
}

/* ---- the transaction ---- */

/* send_mail - MAIL FROM with the parameters the peer supports. */
static void
send_mail(struct rconn *c)
{
	struct deliver_job	*j = c->job->j;
	struct evbuffer		*out = bufferevent_get_output(c->bev);
	char			 x[512];
	struct buf		 l;

	buf_init(&l, 0);
	buf_printf(&l, "MAIL FROM:<%s>", j->sender);
	if (c->caps & SMTP_CAP_SIZE)
		buf_printf(&l, " SIZE=%llu",
		    (unsigned long long)j->size);
	if ((c->caps & SMTP_CAP_8BITMIME) && j->body == SMTP_BODY_8BITMIME)
		buf_printf(&l, " BODY=8BITMIME");
	if (j->smtputf8)
		buf_printf(&l, " SMTPUTF8");
	if (j->tls_req == ENV_TLS_REQUIRE)
		buf_printf(&l, " REQUIRETLS");
	if (c->caps & SMTP_CAP_DSN) {
		if (j->ret != SMTP_RET_NONE)
			buf_printf(&l, " RET=%s",
			    j->ret == SMTP_RET_FULL ? "FULL" : "HDRS");
		if (j->envid[0] != '\0' && smtp_parse_xtext_encode(j->envid,
		    strlen(j->envid), x, sizeof(x)) < sizeof(x))
			buf_printf(&l, " ENVID=%s", x);
	}
	send_buf(c, out, &l);
}

static void
send_rcpt(struct rconn *c, const struct deliver_rcpt *d)
{
	struct evbuffer	*out = bufferevent_get_output(c->bev);
	static const struct {
		unsigned	 bit;
		const char	*word;
	} nw[] = {
		{ SMTP_NOTIFY_SUCCESS, "SUCCESS" },
		{ SMTP_NOTIFY_FAILURE, "FAILURE" },
		{ SMTP_NOTIFY_DELAY, "DELAY" },
	};
	const char	*semi = strchr(d->orcpt, ';');
	char		 x[1024];
	struct buf	 l;

	buf_init(&l, 0);
	buf_printf(&l, "RCPT TO:<%s>", d->addr);
	if ((c->caps & SMTP_CAP_DSN) && d->notify != 0) {
		const char	*sep = " NOTIFY=";

		if (d->notify & SMTP_NOTIFY_NEVER)
			buf_printf(&l, " NOTIFY=NEVER");
		else
			for (size_t i = 0; i < NELEM(nw); i++)
				if (d->notify & nw[i].bit) {
					buf_printf(&l, "%s%s", sep,
					    nw[i].word);
					sep = ",";
				}
	}
	if ((c->caps & SMTP_CAP_DSN) && semi != NULL &&
	    smtp_parse_xtext_encode(semi + 1, strlen(semi + 1), x,
	    sizeof(x)) < sizeof(x))
		buf_printf(&l, " ORCPT=%.*s;%s",
		    (int)(semi - d->orcpt), d->orcpt, x);
	send_buf(c, out, &l);
}

/* send_next - the next command of the transaction: MAIL, RCPTs, DATA;
 * all at once with PIPELINING (RFC 2920 3.1: DATA ends the group). */
static void
send_next(struct rconn *c)
{
	struct rjob	*r = c->job;
	size_t		 last = r->j->n + 1;	/* index of DATA */

	do {
		if (r->sent == 0)
			send_mail(c);
		else if (r->sent <= r->j->n)
			send_rcpt(c, &r->j->r[r->sent - 1]);
		else
			send_line(c, "DATA");
		r->sent++;
	} while ((c->caps & SMTP_CAP_PIPELINING) && r->sent <= last);
}

/* precheck - what the peer cannot take, before any command. */
static bool
precheck(struct rconn *c)
{
	struct rjob	*r = c->job;

	if ((c->caps & SMTP_CAP_SIZE) && c->maxsize > 0 &&
	    r->j->size > c->maxsize) {
		set_error(r, DELIVER_PERM, "5.3.4", "message size %llu "
		    "exceeds the limit of %s (%llu)",
		    (unsigned long long)r->j->size, c->relay,
		    (unsigned long long)c->maxsize);
		return false;
	}
	/* A reused connection was made under the same policy (dest); this
	 * holds anyway. */
	if (requiretls(r) && (!c->tls ||
	    !(c->caps & SMTP_CAP_REQUIRETLS))) {
		set_error(r, DELIVER_PERM, "5.7.30", "REQUIRETLS support "
		    "required, and %s does not offer it", c->relay);
		return false;
	}
	if (r->j->smtputf8 && !(c->caps & SMTP_CAP_SMTPUTF8)) {
		set_error(r, DELIVER_PERM, "5.6.7", "%s does not support "
		    "SMTPUTF8, which the message needs (RFC 6531)", c->relay);
		return false;
	}
	return true;
}

/* begin_txn - start the transaction of c's job. */
static void
begin_txn(struct rconn *c)
{
	struct rjob	*r = c->job;

	r->sent = r->answered = r->accepted = 0;
	c->got_reply = false;		/* a reused one may be stale */
	r->mail_failed = r->broken = false;
	str_copy(r->j->relay, c->relay, sizeof(r->j->relay));
	if (!precheck(c)) {
		job_finish(r);
		go_idle(c);
		return;
	}
	c->state = C_TXN;
	set_timeout(c, T_MAIL);
	send_next(c);
}

/* on_txn - replies to MAIL, each RCPT and DATA, in order. */
static void
on_txn(struct rconn *c)
{
	struct rjob	*r = c->job;
	size_t		 k = r->answered++, n = r->j->n;

	if (k == 0 && c->rp.code / 100 != 2) {
		/* MAIL refused: its reply is every recipient's result. */
		r->mail_failed = true;
		for (size_t i = 0; i < n; i++)
			rcpt_from_reply(&r->j->r[i], c);
	} else if (k >= 1 && k <= n) {
		if (!r->mail_failed) {
			rcpt_from_reply(&r->j->r[k - 1], c);
			if (c->rp.code / 100 == 2)
				r->accepted++;
		}
	} else if (k == n + 1) {
		on_data_reply(c);
		return;
	}
	if (r->answered < r->sent)
		return;			/* more pipelined replies to come */
	if (r->mail_failed || (k == n && r->accepted == 0)) {
		end_txn(c);		/* nothing to send: RSET */
		return;
	}
	set_timeout(c, k == n ? T_DATA : T_RCPT);
	send_next(c);
}

/* on_data_reply - 354: send the message; else the accepted recipients
 * get this reply. */
static void
on_data_reply(struct rconn *c)
{
	struct rjob	*r = c->job;

	if (c->rp.code == 354 && r->accepted > 0) {
		r->off = 0;
		r->bol = true;
		r->eof = false;
		r->last = '\n';
		c->state = C_BODY;
		/* our trace and DKIM fields kept with the envelope go first */
		stuff(r, bufferevent_get_output(c->bev), r->j->prepend,
		    strlen(r->j->prepend));
		set_timeout(c, T_BLOCK);
		bufferevent_setwatermark(c->bev, EV_WRITE, CHUNK, 0);
		send_body(c);
		return;
	}
	if (c->rp.code == 354) {	/* no recipient: an empty message */
		c->state = C_DOT;
		set_timeout(c, T_DOT);
		send_line(c, ".");
		return;
	}
	for (size_t i = 0; i < r->j->n; i++) {
		if (r->j->r[i].result != DELIVER_OK)
			continue;
		/* 2xx to DATA: the message was never sent (RFC 5321 4.3.2
		 * allows 354 only), so it cannot be delivered. */
		if (c->rp.code / 100 == 2) {
			deliver_job_set_result(&r->j->r[i], DELIVER_TEMP,
			    "4.5.0", c->rp.text);
			deliver_job_set_mta(&r->j->r[i], c->host);
		} else
			rcpt_from_reply(&r->j->r[i], c);
	}
	end_txn(c);
}

/* stuff - append p[0..len) dot-stuffed (RFC 5321 4.5.2). */
static void
stuff(struct rjob *r, struct evbuffer *out, const char *p, size_t len)
{
	size_t	from = 0;

	for (size_t i = 0; i < len; i++) {
		if (r->bol && p[i] == '.') {
			evbuffer_add(out, p + from, i - from);
			evbuffer_add(out, ".", 1);
			from = i;
		}
		r->bol = p[i] == '\n';
	}
	evbuffer_add(out, p + from, len - from);
	if (len > 0)
		r->last = p[len - 1];
}

/* send_body - queue message bytes up to OUT_HIGH; at the end, the final
 * dot.  The spool data is CRLF already; a last line without its CRLF
 * gets one. */
static void
send_body(struct rconn *c)
{
	struct rjob	*r = c->job;
	struct evbuffer	*out = bufferevent_get_output(c->bev);
	char		 chunk[CHUNK];
	ssize_t		 got;

	while (!r->eof && evbuffer_get_length(out) < OUT_HIGH) {
		got = deliver_job_read(r->j, chunk, sizeof(chunk),
		    r->off);
		if (got == -1 && errno == EINTR)
			continue;
		if (got == -1) {
			set_error(r, DELIVER_TEMP, "4.3.0",
			    "cannot read the queue file: %s", strerror(errno));
			conn_free_job(c);
			return;
		}
		if (got == 0) {
			r->eof = true;
			break;
		}
		stuff(r, out, chunk, (size_t)got);
		r->off += got;
	}
	if (!r->eof)
		return;
	if (r->last != '\n')
		evbuffer_add(out, "\r\n", 2);
	evbuffer_add(out, ".\r\n", 3);
	c->state = C_DOT;
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
	set_timeout(c, T_DOT);
}

static void
conn_write(struct bufferevent *bev, void *arg)
{
	struct rconn	*c = arg;

	if (c->state == C_BODY)
		send_body(c);
}

/* on_dot - the reply to the end of data is each accepted recipient's. */
static void
on_dot(struct rconn *c)
{
	struct rjob	*r = c->job;

	for (size_t i = 0; i < r->j->n; i++)
		if (r->j->r[i].result == DELIVER_OK)
			rcpt_from_reply(&r->j->r[i], c);
	end_txn(c);
}

/* end_txn - the job is done; RSET and keep the connection for the next
 * message to the same destination. */
static void
end_txn(struct rconn *c)
{
	struct rjob	*r = c->job;

	c->state = C_RSET;
	set_timeout(c, T_MAIL);
	send_line(c, "RSET");
	job_finish(r);
}

/* conn_free_job - a local failure in the transaction: finish the job with
 * its error and drop the connection. */
static void
conn_free_job(struct rconn *c)
{
	struct rjob	*r = c->job;

	r->c = NULL;
	c->job = NULL;
	r->broken = true;
	job_finish(r);
	conn_free(c);
}

static void
idle_timeout(evutil_socket_t fd, short ev, void *arg)
{
	struct rconn	*c = arg;

	c->state = C_QUIT;
	set_timeout(c, T_QUIT);
	send_line(c, "QUIT");
}

/* go_idle - wait for the next job for this destination, for a while. */
static void
go_idle(struct rconn *c)
{
	struct timeval	tv = { (time_t)config->smtp_idle_time, 0 };

	c->state = C_IDLE;
	bufferevent_set_timeouts(c->bev, NULL, NULL);
	if (c->idle == NULL)
		c->idle = evtimer_new(base, idle_timeout, c);
	evtimer_add(c->idle, &tv);
}

static void
on_rset(struct rconn *c)
{
	if (c->rp.code / 100 != 2) {
		if (c->job != NULL) {
			struct rjob *r = c->job;

			r->c = NULL;
			c->job = NULL;
			c->state = C_QUIT;
			send_line(c, "QUIT");
			job_resolve(r);
			return;
		}
		c->state = C_QUIT;
		send_line(c, "QUIT");
		return;
	}
	if (c->job != NULL)
		begin_txn(c);
	else
		go_idle(c);
}

/* on_idle - a reply nobody asked for, or to QUIT: close. */
static void
on_idle(struct rconn *c)
{
	if (c->job != NULL) {
		conn_failed(c, "unexpected reply");
		return;
	}
	conn_free(c);
}
