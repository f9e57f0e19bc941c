/*
 * smtp_check.c - the checks of one SMTP transaction, in the smtpd
 * process (smtp_check.h).  It knows no session: smtp_session.c hands it
 * what MAIL and end of data know, and applies the verdict it returns.
 *
 * At MAIL, clients that are neither authenticated nor in relay_networks
 * get an authres job (authres.c): SPF starts at once, asynchronously.  At
 * end of data the message is read where the session still holds it (one
 * under 64 KiB), or else the spool file is mapped read-only (it lives in
 * the page cache; nothing is copied), "Authentication-Results:" fields
 * that claim our host name are cut out of it (rare: the rest of the file
 * is moved down in place), and then either the message is verified (DKIM
 * keys and DMARC policies are fetched; the session waits, not the loop)
 * or, for trusted clients, signed with the From domain's [dkim] keys
 * (common/dkim_keys.c).  The verdict (spf_policy, dmarc_policy) is given
 * before the commit; what to prepend (our Authentication-Results or
 * DKIM-Signature fields) travels in the envelope.
 *
 * Trust: the message is peer data, parsed only by the bounded parsers of
 * dkim*.c, dmarc*.c and authres.c.
 */
#include <sys/mman.h>
#include <sys/types.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/authres.h"
#include "auth/dkim_sign.h"
#include "common/conf.h"
#include "common/stats.h"
#include "common/dkim_keys.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "mail/envelope.h"
#include "mail/requiretls.h"
#include "smtpd/smtp_check.h"
#include "lib/util.h"

#define FORGED_MAX	64		/* forged A-R fields cut per message */
#define MOVE_BLOCK	(64 * 1024)

struct smtp_check {
	uint64_t	 id;		/* the session's */
	bool		 trusted;	/* sign, do not verify */
	char		 qid[QUEUE_ID_LEN + 1];
	struct authres	*ar;		/* NULL: no verification */
	char		*map;		/* the message, read-only */
	size_t		 maplen;
	bool		 mapped;	/* map is an mmap of the spool file,
					 * else the session's bytes */
	struct buf	 prepend;
	uint64_t	 cut;		/* bytes of forged fields removed */
	bool		 spool_err;	/* the spool file failed us */
	bool		 tls_optional;	/* "TLS-Required: No" */
};

static struct event_base	*base;
static struct dns_ctx		*dns;

static int	 map_spool(struct smtp_check *, int, size_t);
static void	 unmap(struct smtp_check *);
static int	 cut_ranges(int, size_t, const struct authres_range *, size_t);
static void	 strip_forged(struct smtp_check *, int);
static void	 sign(struct smtp_check *);

/* smtp_check_init - see smtp_check.h. */
void
smtp_check_init(struct event_base *b, struct dns_ctx *d)
{
	base = b;
	dns = d;
	(void)dmarc_psl_default();	/* read the list once, now */
}

/* smtp_check_spf_pass - see smtp_check.h. */
bool
smtp_check_spf_pass(const struct smtp_check *c)
{
	return c != NULL && c->ar != NULL &&
	    authres_spf_result(c->ar) == SPF_PASS;
}

/* smtp_check_spf_wait - see smtp_check.h. */
bool
smtp_check_spf_wait(struct smtp_check *c, void (*done)(uint64_t),
    uint64_t id)
{
	return c != NULL && c->ar != NULL && authres_spf_wait(c->ar, done, id);
}

/* smtp_check_prepare - see smtp_check.h. */
void
smtp_check_prepare(void)
{
	(void)dmarc_psl_default();
}

/* smtp_check_mail - see smtp_check.h. */
struct smtp_check *
smtp_check_mail(const struct smtp_check_mail *m)
{
	struct smtp_check	*c = xcalloc(1, sizeof(*c));
	struct authres_opts	 o;

	c->id = m->id;
	c->trusted = m->trusted;
	buf_init(&c->prepend, 0);
	if (m->trusted || dns == NULL)
		return c;
	o.authserv = config->hostname;
	o.ip = m->ip;
	o.mail_from = m->mail_from;
	o.helo = m->helo;
	c->ar = authres_new(base, dns, &o);
	return c;
}

static int
map_spool(struct smtp_check *c, int fd, size_t len)
{
	void	*p;

	if (len == 0)
		return -1;
	p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return -1;
	c->map = p;
	c->maplen = len;
	c->mapped = true;
	return 0;
}

static void
unmap(struct smtp_check *c)
{
	if (c->map != NULL && c->mapped)
		munmap(c->map, c->maplen);
	c->mapped = false;
	c->map = NULL;
	c->maplen = 0;
}

/*
 * cut_ranges - remove the ranges (in order, not overlapping) from the
 * first len bytes of fd by moving what follows each one down.  The data
 * past the new end is left; queue cuts the file to the envelope size.
 */
static int
cut_ranges(int fd, size_t len, const struct authres_range *r, size_t n)
{
	char	*blk = xmalloc(MOVE_BLOCK);
	size_t	 dst = r[0].off, src;
	int	 rv = 0;

	for (size_t i = 0; i < n && rv == 0; i++) {
		size_t	 end = i + 1 < n ? r[i + 1].off : len;

		for (src = r[i].off + r[i].len; src < end && rv == 0;) {
			size_t	 k = MIN(end - src, (size_t)MOVE_BLOCK);
			ssize_t	 got = pread(fd, blk, k, (off_t)src);

			if (got <= 0 || pwrite(fd, blk, (size_t)got,
			    (off_t)dst) != got)
				rv = -1;
			else {
				src += (size_t)got;
				dst += (size_t)got;
			}
		}
	}
	free(blk);
	return rv;
}

/* strip_forged - RFC 8601 5: fields claiming our authserv-id go. */
static void
strip_forged(struct smtp_check *c, int fd)
{
	struct authres_range	 r[FORGED_MAX];
	size_t			 n, len = c->maplen, cut = 0;

	n = authres_find_ours(c->map, c->maplen, config->hostname, r,
	    FORGED_MAX);
	if (n == 0)
		return;
	for (size_t i = 0; i < n; i++)
		cut += r[i].len;
	unmap(c);
	if (cut_ranges(fd, len, r, n) == -1) {
		log_warn("session=%016llx %s: event=spool-write-error "
		    "error=\"%s\"", (unsigned long long)c->id, c->qid,
		    strerror(errno));
		c->spool_err = true;
		return;
	}
	c->cut = cut;
	log_info("%s: session=%016llx event=forged-authres removed=%zu",
	    c->qid, (unsigned long long)c->id, n);
	if (map_spool(c, fd, len - cut) == -1)
		c->spool_err = true;
}

/* sign - a DKIM-Signature per key of the From domain (RSA, Ed25519). */
static void
sign(struct smtp_check *c)
{
	char	 what[64];

	snprintf(what, sizeof(what), "%s: session=%016llx", c->qid,
	    (unsigned long long)c->id);
	(void)dkim_sign_message(dkim_keys_signer(), c->map, c->maplen,
	    &c->prepend, what);
}

/* smtp_check_eod - see smtp_check.h. */
bool
smtp_check_eod(struct smtp_check *c, const struct smtp_check_eod *e,
    smtp_check_done_fn done)
{
	str_copy(c->qid, e->qid, sizeof(c->qid));
	if (e->data != NULL && e->len > 0) {	/* no mmap, no munmap */
		c->map = (char *)e->data;
		c->maplen = e->len;
	} else if (map_spool(c, e->fd, e->len) == -1) {
		log_warn("session=%016llx %s: event=spool-map-error "
		    "error=\"%s\"", (unsigned long long)c->id, c->qid,
		    strerror(errno));
		c->spool_err = true;
		return false;
	}
	strip_forged(c, e->fd);
	if (c->spool_err)
		return false;
	c->tls_optional = requiretls_header_no(c->map, c->maplen);
	if (c->trusted)
		sign(c);
	if (c->ar == NULL) {
		unmap(c);
		return false;
	}
	authres_message(c->ar, c->map, c->maplen, done, c->id);
	return true;
}

/* smtp_check_policy - see smtp_check.h. */
const char *
smtp_check_policy(enum policy_spf sp, enum policy_dmarc dp,
    enum spf_result spf, const struct dmarc_output *d,
    struct smtp_check_verdict *v)
{
	v->action = SMTP_CHECK_ACCEPT;
	v->reply[0] = '\0';
	v->quarantine = false;
	if (sp == SPF_POLICY_REJECT && spf == SPF_FAIL) {
		v->action = SMTP_CHECK_REFUSE;
		snprintf(v->reply, sizeof(v->reply), "550 5.7.23 Error: SPF "
		    "check failed for the sender domain");
		return "reject";
	}
	if (sp == SPF_POLICY_REJECT && spf == SPF_TEMPERROR) {
		v->action = SMTP_CHECK_REFUSE;
		snprintf(v->reply, sizeof(v->reply), "451 4.7.24 Error: SPF "
		    "temporary error, try again later");
		return "defer";
	}
	/* Only a failure has a disposition, but for a From that cannot be
	 * checked (no usable author domain, or more than are evaluated):
	 * none or permerror, with reject (RFC 7489 6.6.1). */
	if (d == NULL || dp != DMARC_POLICY_ENFORCE)
		return "accept";
	if (d->disposition == DMARC_DISP_REJECT) {
		v->action = SMTP_CHECK_REFUSE;
		snprintf(v->reply, sizeof(v->reply), "550 5.7.1 Error: %s",
		    d->result == DMARC_RES_FAIL ? "message rejected by the "
		    "DMARC policy of the From domain" : "message rejected: "
		    "its From field has no readable author domain, or too "
		    "many for DMARC");
		return "reject";
	}
	if (d->result != DMARC_RES_FAIL)
		return "accept";
	if (d->disposition == DMARC_DISP_QUARANTINE) {
		v->quarantine = true;
		return "quarantine";
	}
	return "accept";
}

/* count_results - "spf=R dkim=R dmarc=R" (authres_summary) into the
 * counters of each method's result. */
static void
count_results(const char *sum)
{
	char	 w[3][32];

	if (sscanf(sum, "spf=%31s dkim=%31s dmarc=%31s", w[0], w[1], w[2]) !=
	    3)
		return;
	if (strcmp(w[0], "skipped") != 0)
		stats_auth_result(STATS_SPF, w[0]);
	stats_auth_result(STATS_DKIM, w[1]);
	stats_auth_result(STATS_DMARC, w[2]);
}

/* smtp_check_verdict - see smtp_check.h. */
void
smtp_check_verdict(struct smtp_check *c, struct smtp_check_verdict *v)
{
	const char	*action;
	char		 sum[128];

	memset(v, 0, sizeof(*v));
	if (c->spool_err) {
		v->action = SMTP_CHECK_SPOOL_ERROR;
		return;
	}
	v->cut = c->cut;
	v->tls_optional = c->tls_optional;
	if (c->ar != NULL) {
		action = smtp_check_policy(config->spf_policy,
		    config->dmarc_policy, authres_spf_result(c->ar),
		    authres_dmarc_output(c->ar), v);
		authres_summary(c->ar, sum, sizeof(sum));
		count_results(sum);
		log_info("%s: session=%016llx event=authres %s action=%s",
		    c->qid, (unsigned long long)c->id, sum, action);
		if (v->action != SMTP_CHECK_ACCEPT)
			return;
		authres_header(c->ar, &c->prepend);
	}
	if (c->prepend.len > 0)
		v->prepend = xstrdup(buf_cstr(&c->prepend));
}

/* smtp_check_verdict_free - see smtp_check.h. */
void
smtp_check_verdict_free(struct smtp_check_verdict *v)
{
	free(v->prepend);
	v->prepend = NULL;
}

/* smtp_check_free - see smtp_check.h. */
void
smtp_check_free(struct smtp_check *c)
{
	if (c == NULL)
		return;
	authres_free(c->ar);
	unmap(c);
	buf_free(&c->prepend);
	free(c);
}
