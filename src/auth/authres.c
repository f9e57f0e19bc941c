/*
 * authres.c - SPF, DKIM and DMARC for one message, and the
 * Authentication-Results field (RFC 8601) that reports them.  Runs on the
 * caller's libevent loop in smtpd (one job per transaction, started at
 * MAIL) and in "postbote verify".  Jobs live in a table by id; DNS
 * callbacks carry the id and find nothing once the job is freed, so an
 * answer that comes late is dropped.  Completion is reported through a
 * zero timer, never from inside a DNS or evaluator callback, so the
 * caller may free the job from its done function.
 *
 * DMARC is evaluated for each distinct author domain of the From
 * field(s) (RFC 7489 6.6.1), up to DMARC_FROM_MAX of them; the strictest
 * failure decides and the header reports every domain's own result.
 *
 * Trust: none.  The message, the sender, HELO and every DNS answer are
 * someone else's; the parsers in spf.c, dkim*.c and dmarc*.c bound them,
 * and only validated names and our own words reach the header field.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/event.h>

#include "auth/authres.h"
#include "lib/base64.h"
#include "lib/buf.h"
#include "lib/dns.h"
#include "auth/spf_dns.h"
#include "lib/util.h"

#define JOBS_HASH	1024
#define NAME_MAX_LEN	256

struct rrcopy {
	enum dmarc_dns	 st;
	char		**txt;
	size_t		*len;
	size_t		 n;
};

/* One author domain: its DNS answers and its evaluation. */
struct author {
	const char		*domain;	/* in authres.from */
	struct rrcopy		 from_rr, org_rr;
	struct dmarc_output	 out;
};

struct authres {
	uint64_t		 id;
	struct authres		*hnext;
	struct dns_ctx		*dns;
	struct event		*done_ev;
	authres_done_fn		 done;
	uint64_t		 done_id;
	char			 authserv[NAME_MAX_LEN];
	/* SPF */
	struct spf_check	*spf;
	struct spf_ip		 ip;
	bool			 spf_run, spf_done;
	enum spf_result		 spf_res;
	struct event		*spf_ev;	/* authres_spf_wait's call */
	authres_done_fn		 spf_cb;
	uint64_t		 spf_cb_id;
	char			*mail_from, *helo;
	/* DKIM */
	bool			 have_msg, dv_ok;
	struct dkim_verify	 dv;
	size_t			 dkim_pending;
	/* DMARC */
	enum dmarc_from_res	 from_res;
	struct dmarc_from	 from;
	struct author		*author;	/* from.ndomain of them */
	size_t			 dmarc_pending;	/* authors awaiting DNS */
	bool			 dmarc_run;	/* authors asked about */
	bool			 too_many;	/* from.more: not evaluated */
	bool			 no_author;	/* no usable From domain */
	struct dmarc_output	 dmarc;		/* the deciding one */
	bool			 finished;
};

static struct authres	*jobs[JOBS_HASH];
static uint64_t		 next_id;

static struct authres *find(uint64_t);
static struct spf_check *find_spf(uint64_t, void *);
static void	 spf_lookup(void *, struct spf_check *, enum spf_qtype,
		    const char *);
static void	 spf_done(void *, struct spf_check *, enum spf_result,
		    const char *);
static void	 dkim_cb(uint64_t, void *, enum dns_status, const char *const *,
		    const size_t *, size_t);
static void	 dmarc_cb(uint64_t, void *, enum dns_status,
		    const char *const *, const size_t *, size_t);
static void	 rr_store(struct rrcopy *, enum dns_status, const char *const *,
		    const size_t *, size_t);
static void	 rr_free(struct rrcopy *);
static bool	 has_dmarc_record(const struct rrcopy *);
static void	 dmarc_start(struct authres *);
static void	 maybe_finish(struct authres *);
static struct dmarc_rrset rrset(const struct rrcopy *);
static void	 evaluate(struct authres *);
static void	 fire(evutil_socket_t, short, void *);
static void	 fire_spf(evutil_socket_t, short, void *);
static int	 put_value(struct buf *, const char *);

static const struct spf_lookup_ops spf_ops = { spf_lookup, spf_done };

static struct authres *
find(uint64_t id)
{
	struct authres	*a = jobs[id % JOBS_HASH];

	while (a != NULL && a->id != id)
		a = a->hnext;
	return a;
}

static struct spf_check *
find_spf(uint64_t id, void *arg)
{
	struct authres	*a = find(id);

	return a != NULL ? a->spf : NULL;
}

static void
spf_lookup(void *arg, struct spf_check *c, enum spf_qtype t,
    const char *name)
{
	struct authres	*a = arg;

	spf_dns_lookup(a->dns, &a->ip, t, name, find_spf, a->id, NULL);
}

static void
spf_done(void *arg, struct spf_check *c, enum spf_result r,
    const char *expl)
{
	struct authres	*a = arg;

	struct timeval	 now = { 0, 0 };

	a->spf_res = r;
	a->spf_done = true;
	if (a->spf_cb != NULL)	/* from the loop: not inside spf_check */
		evtimer_add(a->spf_ev, &now);
	maybe_finish(a);
}

/* authres_new - see authres.h. */
struct authres *
authres_new(struct event_base *base, struct dns_ctx *dns,
    const struct authres_opts *o)
{
	struct authres	*a = xcalloc(1, sizeof(*a));

	a->id = ++next_id;
	a->hnext = jobs[a->id % JOBS_HASH];
	jobs[a->id % JOBS_HASH] = a;
	a->dns = dns;
	a->done_ev = evtimer_new(base, fire, a);
	a->spf_ev = evtimer_new(base, fire_spf, a);
	str_copy(a->authserv, o->authserv, sizeof(a->authserv));
	a->mail_from = xstrdup(o->mail_from != NULL ? o->mail_from : "");
	a->helo = o->helo != NULL && *o->helo != '\0' ? xstrdup(o->helo) :
	    NULL;
	a->spf_done = true;
	if (o->ip != NULL && dns != NULL && spf_ip_parse(o->ip, &a->ip) == 0) {
		a->spf_run = true;
		a->spf_done = false;
		a->spf = spf_check_new(&a->ip, a->mail_from, a->helo,
		    a->authserv, &spf_ops, a);
		spf_check_start(a->spf);
	}
	return a;
}

static enum dkim_lookup
dkim_status(enum dns_status st, size_t n)
{
	switch (st) {
	case DNS_OK:
		return n > 0 ? DKIM_LOOKUP_OK : DKIM_LOOKUP_NONE;
	case DNS_NXDOMAIN:
	case DNS_NODATA:
		return DKIM_LOOKUP_NONE;
	case DNS_TEMPFAIL:
		return DKIM_LOOKUP_TEMP;
	default:
		return DKIM_LOOKUP_PERM;
	}
}

static void
dkim_cb(uint64_t id, void *arg, enum dns_status st, const char *const *txt,
    const size_t *len, size_t n)
{
	struct authres	*a = find(id);
	size_t		 i = (size_t)(uintptr_t)arg;
	enum dkim_lookup l = dkim_status(st, n);

	if (a == NULL)
		return;
	/* Several TXT records: RFC 6376 3.6.2.2 lets us pick; the first. */
	dkim_verify_key(&a->dv, i, l, l == DKIM_LOOKUP_OK ? txt[0] : "",
	    l == DKIM_LOOKUP_OK ? len[0] : 0);
	a->dkim_pending--;
	maybe_finish(a);
}

static void
rr_store(struct rrcopy *r, enum dns_status st, const char *const *txt,
    const size_t *len, size_t n)
{
	rr_free(r);
	r->st = st == DNS_OK ? DMARC_DNS_OK : st == DNS_NXDOMAIN ||
	    st == DNS_NODATA ? DMARC_DNS_NONE : DMARC_DNS_TEMP;
	if (st != DNS_OK || n == 0)
		return;
	r->txt = xcalloc(n, sizeof(*r->txt));
	r->len = xcalloc(n, sizeof(*r->len));
	for (size_t i = 0; i < n; i++) {
		r->txt[i] = xmalloc(len[i] + 1);
		memcpy(r->txt[i], txt[i], len[i] + 1);
		r->len[i] = len[i];
	}
	r->n = n;
}

static void
rr_free(struct rrcopy *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->txt[i]);
	free(r->txt);
	free(r->len);
	memset(r, 0, sizeof(*r));
}

static bool
has_dmarc_record(const struct rrcopy *r)
{
	for (size_t i = 0; r->st == DMARC_DNS_OK && i < r->n; i++)
		if (dmarc_record_is_dmarc(r->txt[i], r->len[i]))
			return true;
	return false;
}

/*
 * dmarc_cb - arg is the author's index times two, plus one for the
 * answer at its organizational domain (6.6.3 step 3).
 */
static void
dmarc_cb(uint64_t id, void *arg, enum dns_status st, const char *const *txt,
    const size_t *len, size_t n)
{
	struct authres	*a = find(id);
	uintptr_t	 k = (uintptr_t)arg;
	struct author	*au;
	char		 org[DMARC_DOMAIN_MAX + 1], name[NAME_MAX_LEN + 8];

	if (a == NULL)
		return;
	au = &a->author[k / 2];
	if (k % 2 == 1)
		rr_store(&au->org_rr, st, txt, len, n);
	else {
		rr_store(&au->from_rr, st, txt, len, n);
		if (au->from_rr.st != DMARC_DNS_TEMP &&
		    !has_dmarc_record(&au->from_rr) &&
		    dmarc_psl_org_domain(dmarc_psl_default(), au->domain, org,
		    sizeof(org)) == 0 && strcasecmp(org, au->domain) != 0) {
			snprintf(name, sizeof(name), "_dmarc.%s", org);
			dns_txt(a->dns, name, dmarc_cb, a->id,
			    (void *)(k + 1));
			return;
		}
	}
	a->dmarc_pending--;
	maybe_finish(a);
}

/*
 * dmarc_start - ask for the policy of every author domain.  More author
 * domains than DMARC_FROM_MAX are not evaluated (each costs up to two
 * lookups): such a message gets permerror with a reject disposition,
 * as 6.6.1 lets a receiver refuse a multi-valued From outright.
 */
static void
dmarc_start(struct authres *a)
{
	char	 name[NAME_MAX_LEN + 8];

	if (a->from.more) {
		a->too_many = true;
		a->dmarc.result = DMARC_RES_PERMERROR;
		a->dmarc.disposition = DMARC_DISP_REJECT;
		return;
	}
	if (a->from.ndomain == 0 && a->from_res != DMARC_FROM_MISSING) {
		/* A From field we cannot read may still be shown by a mail
		 * reader as a trusted author: it must not be a way around a
		 * p=reject, so it counts as a reject (RFC 7489 6.6.1 lets a
		 * receiver refuse what it cannot evaluate).  Without a From
		 * field there is no author to impersonate: dmarc=none. */
		a->no_author = true;
		a->dmarc.result = DMARC_RES_PERMERROR;
		a->dmarc.disposition = DMARC_DISP_REJECT;
		return;
	}
	if (a->from.ndomain == 0)
		return;
	if (a->dns == NULL)
		return;
	a->author = xcalloc(a->from.ndomain, sizeof(*a->author));
	a->dmarc_run = true;
	a->dmarc_pending = a->from.ndomain;
	for (size_t i = 0; i < a->from.ndomain; i++) {
		a->author[i].domain = a->from.domains[i];
		snprintf(name, sizeof(name), "_dmarc.%s", a->from.domains[i]);
		dns_txt(a->dns, name, dmarc_cb, a->id, (void *)(uintptr_t)(2 *
		    i));
	}
}

/* authres_message - see authres.h. */
void
authres_message(struct authres *a, const char *msg, size_t len,
    authres_done_fn done, uint64_t id)
{
	char	 err[128], name[NAME_MAX_LEN + 8];

	a->have_msg = true;
	a->done = done;
	a->done_id = id;
	a->dv_ok = dkim_verify_begin(&a->dv, msg, len, (int64_t)time(NULL),
	    err, sizeof(err)) == 0;
	for (size_t i = 0; a->dv_ok && a->dns != NULL && i < a->dv.nsig; i++) {
		if (!dkim_verify_pending(&a->dv, i))
			continue;
		dkim_verify_keyname(&a->dv, i, name, sizeof(name));
		a->dkim_pending++;
		dns_txt(a->dns, name, dkim_cb, a->id, (void *)(uintptr_t)i);
	}
	for (size_t i = 0; a->dv_ok && a->dns == NULL && i < a->dv.nsig; i++)
		dkim_verify_key(&a->dv, i, DKIM_LOOKUP_TEMP, "", 0);
	a->from_res = dmarc_from_extract(msg, len, &a->from);
	dmarc_start(a);
	maybe_finish(a);
}

static enum dmarc_spf
dmarc_spf_of(enum spf_result r)
{
	switch (r) {
	case SPF_NEUTRAL:	return DMARC_SPF_NEUTRAL;
	case SPF_PASS:		return DMARC_SPF_PASS;
	case SPF_FAIL:		return DMARC_SPF_FAIL;
	case SPF_SOFTFAIL:	return DMARC_SPF_SOFTFAIL;
	case SPF_TEMPERROR:	return DMARC_SPF_TEMPERROR;
	case SPF_PERMERROR:	return DMARC_SPF_PERMERROR;
	default:		return DMARC_SPF_NONE;
	}
}

/* spf_domain - the domain SPF checked: MAIL FROM's, else HELO. */
static const char *
spf_domain(const struct authres *a)
{
	const char	*at = strrchr(a->mail_from, '@');

	if (*a->mail_from != '\0')
		return at != NULL ? at + 1 : a->mail_from;
	return a->helo != NULL ? a->helo : "";
}

/* rrset - an author's stored answers as dmarc_evaluate reads them. */
static struct dmarc_rrset
rrset(const struct rrcopy *r)
{
	return (struct dmarc_rrset){ r->st, (const char *const *)r->txt,
	    r->len, r->n };
}

/* evaluate - each author domain on its own; the strictest decides. */
static void
evaluate(struct authres *a)
{
	struct dmarc_input	 in;
	struct dmarc_dkim	*dk;
	size_t			 nd = a->dv_ok ? a->dv.nsig : 0, pick = 0;

	memset(&in, 0, sizeof(in));
	dk = xcalloc(nd + 1, sizeof(*dk));
	for (size_t i = 0; i < nd; i++) {
		dk[i].domain = a->dv.sig[i].domain;
		dk[i].result = a->dv.sig[i].result;
	}
	in.spf = a->spf_run ? dmarc_spf_of(a->spf_res) : DMARC_SPF_NONE;
	in.spf_domain = spf_domain(a);
	in.dkim = dk;
	in.ndkim = nd;
	in.psl = dmarc_psl_default();
	for (size_t i = 0; i < a->from.ndomain; i++) {
		struct author	*au = &a->author[i];

		in.from_domain = au->domain;
		in.from_rr = rrset(&au->from_rr);
		in.org_rr = rrset(&au->org_rr);
		in.pct_rand = arc4random_uniform(100);
		dmarc_evaluate(&in, &au->out);
		if (dmarc_stricter(&au->out, &a->author[pick].out))
			pick = i;
	}
	a->dmarc = a->author[pick].out;
	free(dk);
}

static void
maybe_finish(struct authres *a)
{
	struct timeval	 now = { 0, 0 };

	if (a->finished || !a->have_msg || !a->spf_done ||
	    a->dkim_pending > 0 || a->dmarc_pending > 0)
		return;
	if (a->dmarc_run)
		evaluate(a);
	a->finished = true;
	evtimer_add(a->done_ev, &now);
}

static void
fire(evutil_socket_t fd, short ev, void *arg)
{
	struct authres	*a = arg;

	a->done(a->done_id);
}

static void
fire_spf(evutil_socket_t fd, short ev, void *arg)
{
	struct authres	*a = arg;
	authres_done_fn	 cb = a->spf_cb;

	a->spf_cb = NULL;
	if (cb != NULL)
		cb(a->spf_cb_id);
}

/* authres_spf_wait - see authres.h. */
bool
authres_spf_wait(struct authres *a, authres_done_fn done, uint64_t id)
{
	if (a->spf_done)
		return false;
	a->spf_cb = done;
	a->spf_cb_id = id;
	return true;
}

enum spf_result
authres_spf_result(const struct authres *a)
{
	return a->spf_run ? a->spf_res : SPF_NONE;
}

const struct dmarc_output *
authres_dmarc_output(const struct authres *a)
{
	return (a->dmarc_run || a->too_many || a->no_author) && a->finished ?
	    &a->dmarc : NULL;
}

/* put_value - an RFC 8601 pvalue: as is when it is made of safe
 * characters, else a quoted-string without control bytes. */
static int
put_value(struct buf *b, const char *v)
{
	static const char	 safe[] = "!#$%&'*+-./=?^_`{|}~@";
	bool			 plain = *v != '\0';
	int			 r = 0;

	for (const unsigned char *p = (const void *)v; *p != '\0'; p++)
		if (!(*p >= 0x80 || (*p >= '0' && *p <= '9') ||
		    ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z') ||
		    strchr(safe, *p) != NULL))
			plain = false;
	if (plain)
		return buf_append(b, v, strlen(v));
	r |= buf_append(b, "\"", 1);
	for (const unsigned char *p = (const void *)v; *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7f)
			continue;
		if (*p == '"' || *p == '\\')
			r |= buf_append(b, "\\", 1);
		r |= buf_append(b, (const char *)p, 1);
	}
	r |= buf_append(b, "\"", 1);
	return r == 0 ? 0 : -1;
}

static int
put_spf(const struct authres *a, struct buf *b)
{
	int	 r = buf_printf(b, ";\r\n\tspf=%s ",
	    spf_result_str(a->spf_res));

	if (*a->mail_from != '\0') {
		r |= buf_printf(b, "smtp.mailfrom=");
		r |= put_value(b, a->mail_from);
	} else if (a->helo != NULL) {
		r |= buf_printf(b, "smtp.helo=");
		r |= put_value(b, a->helo);
	}
	return r == 0 ? 0 : -1;
}

static int
put_dkim(const struct authres *a, struct buf *b)
{
	struct buf	 enc;
	int		 r = 0;

	if (!a->dv_ok || a->dv.nsig == 0)
		return buf_printf(b, ";\r\n\tdkim=none");
	buf_init(&enc, 0);
	for (size_t i = 0; i < a->dv.nsig; i++) {
		const struct dkim_sig *s = &a->dv.sig[i];

		r |= buf_printf(b, ";\r\n\tdkim=%s", dkim_verify_result_str(s->result));
		if (s->result != DKIM_PASS && s->reason[0] != '\0') {
			r |= buf_printf(b, " reason=");
			r |= put_value(b, s->reason);
		}
		if (s->domain[0] != '\0')
			r |= buf_printf(b, " header.d=%s", s->domain);
		if (s->selector[0] != '\0')
			r |= buf_printf(b, " header.s=%s", s->selector);
		buf_reset(&enc);
		if (s->blen > 0 && base64_encode(s->b, s->blen, &enc) == 0)
			r |= buf_printf(b, " header.b=\"%.8s\"", enc.data);
	}
	buf_free(&enc);
	return r == 0 ? 0 : -1;
}

/* put_author - one author domain's own DMARC result. */
static int
put_author(const struct author *au, struct buf *b)
{
	const struct dmarc_output *d = &au->out;
	int		 r;

	r = buf_printf(b, ";\r\n\tdmarc=%s", dmarc_result_str(d->result));
	if (d->has_rec)
		r |= buf_printf(b, " (p=%s dis=%s)", dmarc_disp_str(d->policy),
		    dmarc_disp_str(d->disposition));
	r |= buf_printf(b, " header.from=%s", au->domain);
	return r == 0 ? 0 : -1;
}

/* put_dmarc - a result per author domain, in From order (RFC 8601 2.2
 * lets a method appear more than once), or why there is none. */
static int
put_dmarc(const struct authres *a, struct buf *b)
{
	int	 r = 0;

	if (a->too_many)
		return buf_printf(b, ";\r\n\tdmarc=permerror reason=\"more "
		    "than %d From domains\"", DMARC_FROM_MAX);
	if (!a->dmarc_run) {
		if (a->from.ndomain > 0)	/* no resolver to ask */
			return buf_printf(b, ";\r\n\tdmarc=temperror "
			    "reason=\"no resolver\"");
		if (a->from_res == DMARC_FROM_MISSING)
			return buf_printf(b, ";\r\n\tdmarc=none "
			    "reason=\"no From field\"");
		return buf_printf(b, ";\r\n\tdmarc=permerror "
		    "reason=\"no usable From domain\"");
	}
	for (size_t i = 0; i < a->from.ndomain; i++)
		r |= put_author(&a->author[i], b);
	return r == 0 ? 0 : -1;
}

/* authres_header - see authres.h. */
int
authres_header(const struct authres *a, struct buf *b)
{
	int	 r = buf_printf(b, "Authentication-Results: %s", a->authserv);

	if (a->spf_run)
		r |= put_spf(a, b);
	r |= put_dkim(a, b);
	r |= put_dmarc(a, b);
	r |= buf_append(b, "\r\n", 2);
	return r == 0 ? 0 : -1;
}

/* authres_summary - see authres.h. */
void
authres_summary(const struct authres *a, char *out, size_t size)
{
	const char	*dkim = "none";

	for (size_t i = 0; a->dv_ok && i < a->dv.nsig; i++) {
		dkim = dkim_verify_result_str(a->dv.sig[i].result);
		if (a->dv.sig[i].result == DKIM_PASS)
			break;
	}
	snprintf(out, size, "spf=%s dkim=%s dmarc=%s",
	    a->spf_run ? spf_result_str(a->spf_res) : "skipped", dkim,
	    a->dmarc_run || a->too_many || a->no_author ?
	    dmarc_result_str(a->dmarc.result) : "none");
}

/* authres_free - see authres.h. */
void
authres_free(struct authres *a)
{
	struct authres	**pp;

	if (a == NULL)
		return;
	for (pp = &jobs[a->id % JOBS_HASH]; *pp != NULL && *pp != a;
	    pp = &(*pp)->hnext)
		;
	if (*pp != NULL)
		*pp = a->hnext;
	if (a->done_ev != NULL)
		event_free(a->done_ev);
	if (a->spf_ev != NULL)
		event_free(a->spf_ev);
	spf_check_free(a->spf);
	if (a->have_msg)
		dkim_verify_free(&a->dv);
	for (size_t i = 0; a->author != NULL && i < a->from.ndomain; i++) {
		rr_free(&a->author[i].from_rr);
		rr_free(&a->author[i].org_rr);
	}
	free(a->author);
	free(a->mail_from);
	free(a->helo);
	free(a);
}

/* ---- forged Authentication-Results fields ---- */

/* field_end - the offset after the CRLF that ends the field at off. */
static size_t
field_end(const char *m, size_t len, size_t off)
{
	for (;;) {
		const char *lf = memchr(m + off, '\n', len - off);

		if (lf == NULL)
			return len;
		off = (size_t)(lf - m) + 1;
		if (off >= len || (m[off] != ' ' && m[off] != '\t'))
			return off;
	}
}

/* skip_cfws - spaces, line folds and (nested) comments. */
static size_t
skip_cfws(const char *v, size_t n, size_t i)
{
	int	 depth = 0;

	for (; i < n; i++) {
		if (v[i] == '(')
			depth++;
		else if (v[i] == ')' && depth > 0)
			depth--;
		else if (depth > 0 && v[i] == '\\' && i + 1 < n)
			i++;
		else if (depth == 0 && v[i] != ' ' && v[i] != '\t' &&
		    v[i] != '\r' && v[i] != '\n')
			break;
	}
	return i;
}

static bool
is_ours(const char *f, size_t n, const char *authserv)
{
	static const char	 name[] = "Authentication-Results";
	size_t			 i = sizeof(name) - 1, start, alen;

	if (n < i || strncasecmp(f, name, i) != 0)
		return false;
	while (i < n && (f[i] == ' ' || f[i] == '\t'))
		i++;
	if (i >= n || f[i] != ':')
		return false;
	i = skip_cfws(f, n, i + 1);
	if (i < n && f[i] == '"')
		i++;
	start = i;
	while (i < n && strchr(" \t\r\n;(\"", f[i]) == NULL)
		i++;
	alen = strlen(authserv);
	return i - start == alen && strncasecmp(f + start, authserv, alen) == 0;
}

/* authres_find_ours - see authres.h. */
size_t
authres_find_ours(const char *m, size_t len, const char *authserv,
    struct authres_range *r, size_t max)
{
	size_t	 off = 0, n = 0, end;

	while (off < len && n < max) {
		if (m[off] == '\r' || m[off] == '\n')
			break;			/* the empty line: body follows */
		end = field_end(m, len, off);
		if (is_ours(m + off, end - off, authserv)) {
			r[n].off = off;
			r[n].len = end - off;
			n++;
		}
		off = end;
	}
	return n;
}
