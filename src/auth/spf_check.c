/*
 * spf_check.c - check_host() of RFC 7208 as a resumable state machine.
 * It asks for one DNS answer at a time through the caller's lookup
 * vector and continues when spf_check_answer() hands it over, so the
 * same code runs on libevent (smtpd, the CLI) and on canned answers in
 * the unit tests.  include is a pushed frame; redirect replaces the
 * current frame.  Limits (4.6.4): 10 DNS-querying terms, 2 void lookups,
 * 10 MX names, 10 PTR names.
 *
 * Runs in the smtpd session process and in "postbote spf".
 *
 * Trust: none.  DNS answers, the sender and HELO are attacker data; they
 * are copied with bounds, parsed by spf.c, and never reach a log here.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "lib/buf.h"
#include "auth/spf.h"
#include "lib/util.h"

#define FRAMES		(SPF_MAX_DNS_TERMS + 2)
#define ANS_MAX		64		/* answers kept per lookup */
#define EXPAND_MAX	4096
#define EXPL_MAX	1024

enum rec_phase { R_FETCH, R_GOT, R_EVAL };
enum term_rc { T_MATCH, T_NOMATCH, T_WAIT, T_ERR, T_PUSH };
enum ptr_state { P_NONE, P_ASKED, P_NEXT, P_FWD, P_DONE };

struct frame {
	char			 domain[SPF_DOMAIN_MAX + 2];
	char			*txt;		/* owned record text */
	struct spf_record	 rec;
	size_t			 ti;		/* next term */
	enum rec_phase		 phase;
	bool			 redirected;
};

struct spf_check {
	const struct spf_lookup_ops *ops;
	void			*arg;
	struct spf_ip		 ip;
	char			*local, *sdomain, *helo, *receiver;
	int64_t			 now;
	struct frame		 fr[FRAMES];
	size_t			 depth;
	int			 dns_terms, voids;
	int			 phase;		/* within the current term */
	char			 target[SPF_DOMAIN_MAX + 2];
	char			*names[SPF_MAX_MX_NAMES];
	size_t			 nnames, sub;
	/* validated PTR names, shared by "ptr" and %{p} */
	enum ptr_state		 pstate;
	char			*pnames[SPF_MAX_PTR_NAMES];
	size_t			 npnames, psub;
	char			*vnames[SPF_MAX_PTR_NAMES];
	size_t			 nvnames;
	/* the one outstanding lookup */
	bool			 waiting, answered, running, finished;
	bool			 in_exp;
	char			*exptxt;	/* exp= text while %{p} resolves */
	size_t			 exptxtlen;
	enum dns_status		 st;
	char			*rr[ANS_MAX];
	size_t			 rrlen[ANS_MAX], nrr, nrr_total;
	enum spf_result		 result, err;
	struct buf		 expl;
};

static void	 clear_names(struct spf_check *);
static void	 consume(struct spf_check *);
static void	 query(struct spf_check *, enum spf_qtype, const char *);
static void	 finish(struct spf_check *, enum spf_result);
static void	 frame_push(struct spf_check *, const char *);
static void	 frame_return(struct spf_check *, enum spf_result, bool);
static bool	 ip_in(const struct spf_ip *, const struct spf_ip *, int);
static bool	 answer_has_ip(struct spf_check *, int, int);
static bool	 needs_p(const char *, size_t);
static const char *pick_ptr(struct spf_check *, const char *);
static int	 resolve_p(struct spf_check *);
static int	 expand_name(struct spf_check *, const char *, size_t,
		    const char *, char *);
static enum term_rc void_or(struct spf_check *);
static enum term_rc addr_lookup(struct spf_check *, const struct spf_term *);
static enum term_rc mech_mx(struct spf_check *, const struct spf_term *);
static enum term_rc mech_ptr(struct spf_check *);
static enum term_rc eval_term(struct spf_check *, struct frame *,
		    const struct spf_term *);
static void	 got_record(struct spf_check *, struct frame *);
static void	 end_of_record(struct spf_check *, struct frame *);
static void	 exp_step(struct spf_check *);
static void	 step(struct spf_check *);
static void	 run(struct spf_check *);
static bool	 is_initial_domain(char *);

static void
clear_names(struct spf_check *c)
{
	for (size_t i = 0; i < c->nnames; i++)
		free(c->names[i]);
	c->nnames = 0;
}

static void
consume(struct spf_check *c)
{
	for (size_t i = 0; i < c->nrr; i++)
		free(c->rr[i]);
	c->nrr = c->nrr_total = 0;
	c->waiting = c->answered = false;
}

static void
query(struct spf_check *c, enum spf_qtype t, const char *name)
{
	c->waiting = true;
	c->answered = false;
	c->ops->lookup(c->arg, c, t, name);
}

static void
finish(struct spf_check *c, enum spf_result r)
{
	c->result = r;
	c->finished = true;
}

static void
frame_push(struct spf_check *c, const char *domain)
{
	struct frame	*f;

	ASSERT(c->depth < FRAMES);
	f = &c->fr[c->depth++];
	memset(f, 0, sizeof(*f));
	str_copy(f->domain, domain, sizeof(f->domain));
	f->phase = R_FETCH;
	c->phase = 0;
}

/*
 * frame_return - the current frame's check_host() ended with r.  At the
 * top that is the answer (a fail from a mechanism may fetch exp=);
 * inside an include it decides the include mechanism (RFC 7208 5.2).
 */
static void
frame_return(struct spf_check *c, enum spf_result r, bool by_mech)
{
	struct frame	*f = &c->fr[c->depth - 1];
	const struct spf_term *t;

	if (c->depth == 1) {
		if (r == SPF_FAIL && by_mech && f->rec.exp != NULL) {
			c->result = r;
			c->in_exp = true;
			c->phase = 0;
			return;
		}
		finish(c, r);
		return;
	}
	free(f->txt);
	f->txt = NULL;
	c->depth--;
	f = &c->fr[c->depth - 1];
	t = &f->rec.term[f->ti];
	c->phase = 0;
	if (r == SPF_PASS)
		frame_return(c, t->qual, true);
	else if (r == SPF_TEMPERROR)
		frame_return(c, SPF_TEMPERROR, false);
	else if (r == SPF_PERMERROR || r == SPF_NONE)
		frame_return(c, SPF_PERMERROR, false);
	else
		f->ti++;
}

static bool
ip_in(const struct spf_ip *ip, const struct spf_ip *net, int bits)
{
	int	 full = bits / 8, rest = bits % 8;

	if (ip->family != net->family)
		return false;
	if (memcmp(ip->a, net->a, (size_t)full) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((ip->a[full] ^ net->a[full]) & (0xff << (8 - rest))) == 0;
}

/* answer_has_ip - an A/AAAA answer contains the client within cidr. */
static bool
answer_has_ip(struct spf_check *c, int cidr4, int cidr6)
{
	struct spf_ip	 a;
	int		 bits = c->ip.family == AF_INET ?
	    (cidr4 < 0 ? 32 : cidr4) : (cidr6 < 0 ? 128 : cidr6);

	for (size_t i = 0; i < c->nrr; i++)
		if (spf_ip_parse(c->rr[i], &a) == 0 && ip_in(&c->ip, &a, bits))
			return true;
	return false;
}

static bool
needs_p(const char *s, size_t n)
{
	for (size_t i = 0; i + 2 < n; i++)
		if (s[i] == '%' && s[i + 1] == '{' &&
		    (s[i + 2] == 'p' || s[i + 2] == 'P'))
			return true;
	return false;
}

/* pick_ptr - %{p}: a validated name in domain, else the first one. */
static const char *
pick_ptr(struct spf_check *c, const char *domain)
{
	size_t	 dl = strlen(domain);

	for (size_t i = 0; i < c->nvnames; i++) {
		size_t	 nl = strlen(c->vnames[i]);

		if (str_ieq(c->vnames[i], domain) || (nl > dl &&
		    c->vnames[i][nl - dl - 1] == '.' &&
		    str_ieq(c->vnames[i] + nl - dl, domain)))
			return c->vnames[i];
	}
	return c->nvnames > 0 ? c->vnames[0] : NULL;
}

/*
 * resolve_p - the validated names of the client (RFC 7208 5.5): PTR,
 * then the first 10 names whose A/AAAA contains the client.  0 when
 * done, -1 while a lookup is outstanding.  Errors leave names out.
 */
static int
resolve_p(struct spf_check *c)
{
	char	 a[INET6_ADDRSTRLEN];

	for (;;) {
		switch (c->pstate) {
		case P_NONE:
			inet_ntop(c->ip.family, c->ip.a, a, sizeof(a));
			c->pstate = P_ASKED;
			query(c, SPF_Q_PTR, a);
			return -1;
		case P_ASKED:
			for (size_t i = 0; c->st == DNS_OK && i < c->nrr &&
			    c->npnames < SPF_MAX_PTR_NAMES; i++)
				c->pnames[c->npnames++] = xstrdup(c->rr[i]);
			consume(c);
			c->pstate = P_NEXT;
			break;
		case P_NEXT:
			if (c->psub == c->npnames) {
				c->pstate = P_DONE;
				break;
			}
			c->pstate = P_FWD;
			query(c, c->ip.family == AF_INET ? SPF_Q_A : SPF_Q_AAAA,
			    c->pnames[c->psub]);
			return -1;
		case P_FWD:
			if (c->st == DNS_OK && answer_has_ip(c, -1, -1))
				c->vnames[c->nvnames++] =
				    xstrdup(c->pnames[c->psub]);
			consume(c);
			c->psub++;
			c->pstate = P_NEXT;
			break;
		case P_DONE:
			return 0;
		}
	}
}

/*
 * expand_name - spec (or domain when spec is NULL) expanded into out
 * (SPF_DOMAIN_MAX + 2 bytes) and fixed up.  1 when a PTR lookup for %{p}
 * is outstanding, 0 ok, -1 when the result is not a usable name.
 */
static int
expand_name(struct spf_check *c, const char *spec, size_t len,
    const char *domain, char *out)
{
	struct spf_macro_env	 e;
	struct buf		 b;
	int			 rc = -1;

	if (spec == NULL) {
		str_copy(out, domain, SPF_DOMAIN_MAX + 2);
		return 0;
	}
	if (needs_p(spec, len) && resolve_p(c) == -1)
		return 1;
	e = (struct spf_macro_env){ c->local, c->sdomain, domain, c->helo,
	    pick_ptr(c, domain), c->receiver, &c->ip, c->now };
	buf_init(&b, EXPAND_MAX);
	if (spf_expand(spec, len, &e, false, &b) == 0 && b.data != NULL &&
	    spf_domain_fix(b.data) == 0 &&
	    str_copy(out, b.data, SPF_DOMAIN_MAX + 2) < SPF_DOMAIN_MAX + 2)
		rc = 0;
	buf_free(&b);
	return rc;
}

/* void_or - the answer was empty: count a void lookup (4.6.4). */
static enum term_rc
void_or(struct spf_check *c)
{
	if (++c->voids > SPF_MAX_VOID) {
		c->err = SPF_PERMERROR;
		return T_ERR;
	}
	return T_NOMATCH;
}

/* addr_lookup - "a" and "exists" once the target is known. */
static enum term_rc
addr_lookup(struct spf_check *c, const struct spf_term *t)
{
	bool	 exists = t->mech == SPF_M_EXISTS;
	bool	 hit;

	if (c->phase == 2) {
		c->phase = 3;
		query(c, exists || c->ip.family == AF_INET ? SPF_Q_A :
		    SPF_Q_AAAA, c->target);
		return T_WAIT;
	}
	if (c->st == DNS_TEMPFAIL) {
		consume(c);
		c->err = SPF_TEMPERROR;
		return T_ERR;
	}
	if (c->st != DNS_OK || c->nrr == 0) {
		consume(c);
		return void_or(c);
	}
	hit = exists || answer_has_ip(c, t->cidr4, t->cidr6);
	consume(c);
	return hit ? T_MATCH : T_NOMATCH;
}

/* mech_mx - MX of the target, then each host's addresses (5.4). */
static enum term_rc
mech_mx(struct spf_check *c, const struct spf_term *t)
{
	bool	 hit;

	switch (c->phase) {
	case 2:
		c->phase = 3;
		query(c, SPF_Q_MX, c->target);
		return T_WAIT;
	case 3:
		clear_names(c);
		if (c->st == DNS_TEMPFAIL || (c->st == DNS_OK &&
		    c->nrr_total > SPF_MAX_MX_NAMES)) {
			c->err = c->st == DNS_TEMPFAIL ? SPF_TEMPERROR :
			    SPF_PERMERROR;
			consume(c);
			return T_ERR;
		}
		if (c->st != DNS_OK || c->nrr == 0) {
			consume(c);
			return void_or(c);
		}
		for (size_t i = 0; i < c->nrr; i++)
			if (strcmp(c->rr[i], ".") != 0)
				c->names[c->nnames++] = xstrdup(c->rr[i]);
		consume(c);
		c->sub = 0;
		c->phase = 4;
		/* FALLTHROUGH */
	case 4:
		if (c->sub == c->nnames)
			return T_NOMATCH;
		c->phase = 5;
		query(c, c->ip.family == AF_INET ? SPF_Q_A : SPF_Q_AAAA,
		    c->names[c->sub]);
		return T_WAIT;
	default:
		if (c->st == DNS_TEMPFAIL) {
			consume(c);
			c->err = SPF_TEMPERROR;
			return T_ERR;
		}
		hit = c->st == DNS_OK && answer_has_ip(c, t->cidr4, t->cidr6);
		consume(c);
		c->sub++;
		c->phase = 4;
		return hit ? T_MATCH : mech_mx(c, t);
	}
}

/* mech_ptr - a validated name equal to or under the target (5.5). */
static enum term_rc
mech_ptr(struct spf_check *c)
{
	size_t	 tl = strlen(c->target);

	if (resolve_p(c) == -1)
		return T_WAIT;
	for (size_t i = 0; i < c->nvnames; i++) {
		size_t	 nl = strlen(c->vnames[i]);

		if (str_ieq(c->vnames[i], c->target) || (nl > tl &&
		    c->vnames[i][nl - tl - 1] == '.' &&
		    str_ieq(c->vnames[i] + nl - tl, c->target)))
			return T_MATCH;
	}
	return T_NOMATCH;
}

static enum term_rc
eval_term(struct spf_check *c, struct frame *f, const struct spf_term *t)
{
	int	 rc;

	switch (t->mech) {
	case SPF_M_ALL:
		return T_MATCH;
	case SPF_M_IP4:
	case SPF_M_IP6:
		return ip_in(&c->ip, &t->net, t->mech == SPF_M_IP4 ?
		    (t->cidr4 < 0 ? 32 : t->cidr4) :
		    (t->cidr6 < 0 ? 128 : t->cidr6)) ? T_MATCH : T_NOMATCH;
	default:
		break;
	}
	if (c->phase == 0) {
		if (++c->dns_terms > SPF_MAX_DNS_TERMS) {
			c->err = SPF_PERMERROR;
			return T_ERR;
		}
		c->phase = 1;
	}
	if (c->phase == 1) {
		rc = expand_name(c, t->spec, t->speclen, f->domain, c->target);
		if (rc == 1)
			return T_WAIT;
		if (rc == -1 && t->mech == SPF_M_INCLUDE) {
			c->err = SPF_PERMERROR;
			return T_ERR;
		}
		if (rc == -1)
			return T_NOMATCH;
		c->phase = 2;
	}
	switch (t->mech) {
	case SPF_M_INCLUDE:
		frame_push(c, c->target);
		return T_PUSH;
	case SPF_M_MX:
		return mech_mx(c, t);
	case SPF_M_PTR:
		return mech_ptr(c);
	default:
		return addr_lookup(c, t);
	}
}

/* got_record - pick the one SPF record from the TXT answer (4.5). */
static void
got_record(struct spf_check *c, struct frame *f)
{
	char	 err[128];
	size_t	 pick = 0, n = 0;

	if (c->st == DNS_TEMPFAIL) {
		consume(c);
		frame_return(c, SPF_TEMPERROR, false);
		return;
	}
	for (size_t i = 0; c->st == DNS_OK && i < c->nrr; i++)
		if (spf_is_record(c->rr[i], c->rrlen[i])) {
			pick = i;
			n++;
		}
	if (n == 1) {
		f->txt = c->rr[pick];
		c->rr[pick] = xstrdup("");
		if (memchr(f->txt, '\0', c->rrlen[pick]) != NULL ||
		    spf_parse(f->txt, c->rrlen[pick], &f->rec, err,
		    sizeof(err)) == -1)
			n = 2;
	}
	consume(c);
	if (n != 1) {
		frame_return(c, n == 0 && !f->redirected ? SPF_NONE :
		    SPF_PERMERROR, false);
		return;
	}
	f->phase = R_EVAL;
	f->ti = 0;
	c->phase = 0;
}

/* end_of_record - no mechanism matched: redirect= or neutral (6.1). */
static void
end_of_record(struct spf_check *c, struct frame *f)
{
	int	 rc;

	if (f->rec.redirect == NULL) {
		frame_return(c, SPF_NEUTRAL, false);
		return;
	}
	if (c->phase == 0) {
		if (++c->dns_terms > SPF_MAX_DNS_TERMS) {
			frame_return(c, SPF_PERMERROR, false);
			return;
		}
		c->phase = 1;
	}
	rc = expand_name(c, f->rec.redirect, f->rec.redirectlen, f->domain,
	    c->target);
	if (rc == 1)
		return;
	if (rc == -1) {
		frame_return(c, SPF_PERMERROR, false);
		return;
	}
	free(f->txt);
	memset(f, 0, sizeof(*f));
	str_copy(f->domain, c->target, sizeof(f->domain));
	f->redirected = true;
	f->phase = R_FETCH;
	c->phase = 0;
}

/* exp_step - fetch and expand the explanation for a fail (6.2). */
static void
exp_step(struct spf_check *c)
{
	struct frame		*f = &c->fr[0];
	struct spf_macro_env	 e;
	int			 rc;

	if (c->phase == 0) {
		rc = expand_name(c, f->rec.exp, f->rec.explen, f->domain,
		    c->target);
		if (rc == 1)
			return;
		if (rc == -1) {
			finish(c, SPF_FAIL);
			return;
		}
		c->phase = 1;
		query(c, SPF_Q_TXT, c->target);
		return;
	}
	if (c->phase == 1 && c->st == DNS_OK && c->nrr == 1 &&
	    needs_p(c->rr[0], c->rrlen[0])) {
		c->exptxt = c->rr[0];		/* keep it while p resolves */
		c->exptxtlen = c->rrlen[0];
		c->rr[0] = NULL;
		c->nrr = 0;
		consume(c);
		c->phase = 2;
	}
	if (c->phase == 2) {
		if (resolve_p(c) == -1)
			return;
		c->rr[0] = c->exptxt;
		c->rrlen[0] = c->exptxtlen;
		c->exptxt = NULL;
		c->nrr = 1;
		c->st = DNS_OK;
	}
	e = (struct spf_macro_env){ c->local, c->sdomain, f->domain, c->helo,
	    pick_ptr(c, f->domain), c->receiver, &c->ip, c->now };
	buf_reset(&c->expl);
	if (c->st != DNS_OK || c->nrr != 1 ||
	    memchr(c->rr[0], '\0', c->rrlen[0]) != NULL ||
	    spf_expand(c->rr[0], c->rrlen[0], &e, true, &c->expl) == -1)
		buf_reset(&c->expl);
	consume(c);
	finish(c, SPF_FAIL);
}

static void
step(struct spf_check *c)
{
	struct frame		*f = &c->fr[c->depth - 1];
	enum term_rc		 rc;

	if (c->in_exp) {
		exp_step(c);
		return;
	}
	switch (f->phase) {
	case R_FETCH:
		f->phase = R_GOT;
		query(c, SPF_Q_TXT, f->domain);
		return;
	case R_GOT:
		got_record(c, f);
		return;
	case R_EVAL:
		break;
	}
	if (f->ti == f->rec.nterm) {
		end_of_record(c, f);
		return;
	}
	rc = eval_term(c, f, &f->rec.term[f->ti]);
	if (rc == T_MATCH)
		frame_return(c, f->rec.term[f->ti].qual, true);
	else if (rc == T_ERR)
		frame_return(c, c->err, false);
	else if (rc == T_NOMATCH) {
		clear_names(c);
		f->ti++;
		c->phase = 0;
	}
}

static void
run(struct spf_check *c)
{
	if (c->running)
		return;
	c->running = true;
	while (!c->finished && !(c->waiting && !c->answered))
		step(c);
	c->running = false;
	if (c->finished) {
		c->finished = false;	/* report once */
		c->waiting = true;	/* and ignore stray answers */
		c->answered = true;
		c->ops->done(c->arg, c, c->result, c->expl.len > 0 ?
		    c->expl.data : NULL);
	}
}

/* is_initial_domain - 4.3: a multi-label name with a real toplabel. */
static bool
is_initial_domain(char *d)
{
	char	*dot;
	struct spf_record r;
	char	 rec[SPF_DOMAIN_MAX + 16], err[8];

	if (spf_domain_fix(d) == -1 || (dot = strrchr(d, '.')) == NULL)
		return false;
	/* reuse the record grammar's domain-spec check on the name */
	snprintf(rec, sizeof(rec), "v=spf1 a:%s", d);
	return strchr(d, '%') == NULL && spf_parse(rec, strlen(rec), &r, err,
	    sizeof(err)) == 0;
}

/* spf_check_new - see spf.h. */
struct spf_check *
spf_check_new(const struct spf_ip *ip, const char *mail_from,
    const char *helo, const char *receiver, const struct spf_lookup_ops *ops,
    void *arg)
{
	struct spf_check	*c = xcalloc(1, sizeof(*c));
	const char		*at;

	c->ops = ops;
	c->arg = arg;
	c->ip = *ip;
	c->helo = helo != NULL ? xstrdup(helo) : NULL;
	c->receiver = receiver != NULL ? xstrdup(receiver) : NULL;
	c->now = (int64_t)time(NULL);
	if (mail_from == NULL || mail_from[0] == '\0') {
		c->local = xstrdup("postmaster");
		c->sdomain = xstrdup(helo != NULL ? helo : "");
	} else if ((at = strrchr(mail_from, '@')) == NULL) {
		c->local = xstrdup("postmaster");
		c->sdomain = xstrdup(mail_from);
	} else {
		c->local = at == mail_from ? xstrdup("postmaster") :
		    xstrndup(mail_from, (size_t)(at - mail_from));
		c->sdomain = xstrdup(at + 1);
	}
	buf_init(&c->expl, EXPL_MAX);
	return c;
}

/* spf_check_set_time - %{t}. */
void
spf_check_set_time(struct spf_check *c, int64_t t)
{
	c->now = t;
}

/* spf_check_start - validate the domain (4.3), then fetch its record. */
void
spf_check_start(struct spf_check *c)
{
	char	 d[SPF_DOMAIN_MAX + 2];

	if (strlen(c->sdomain) >= sizeof(d) ||
	    (str_copy(d, c->sdomain, sizeof(d)), !is_initial_domain(d))) {
		finish(c, SPF_NONE);
		run(c);
		return;
	}
	frame_push(c, d);
	run(c);
}

/* spf_check_answer - see spf.h. */
void
spf_check_answer(struct spf_check *c, enum dns_status st,
    const char *const *rr, const size_t *len, size_t n)
{
	if (!c->waiting || c->answered)
		return;
	c->st = st;
	c->nrr_total = n;
	c->nrr = MIN(n, (size_t)ANS_MAX);
	for (size_t i = 0; i < c->nrr; i++) {
		c->rrlen[i] = len != NULL ? len[i] : strlen(rr[i]);
		c->rr[i] = xmalloc(c->rrlen[i] + 1);
		memcpy(c->rr[i], rr[i], c->rrlen[i]);
		c->rr[i][c->rrlen[i]] = '\0';
	}
	c->answered = true;
	run(c);
}

/* spf_check_free - see spf.h. */
void
spf_check_free(struct spf_check *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->nrr; i++)
		free(c->rr[i]);
	for (size_t i = 0; i < c->depth; i++)
		free(c->fr[i].txt);
	clear_names(c);
	for (size_t i = 0; i < c->npnames; i++)
		free(c->pnames[i]);
	for (size_t i = 0; i < c->nvnames; i++)
		free(c->vnames[i]);
	free(c->exptxt);
	buf_free(&c->expl);
	free(c->local);
	free(c->sdomain);
	free(c->helo);
	free(c->receiver);
	free(c);
}
