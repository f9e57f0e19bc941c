/*
 * smtp_check.c - sender authentication and DKIM signing in the smtpd
 * process, as hooks the session calls (smtp_check.h).
 *
 * At MAIL, clients that are neither authenticated nor in relay_networks
 * get an authres job (authres.c): SPF starts at once, asynchronously.  At
 * end of data the spool file is mapped read-only (it lives in the page
 * cache; nothing is copied to the heap), "Authentication-Results:" fields
 * that claim our host name are cut out of it (rare: the rest of the file
 * is moved down in place), and then either the message is verified (DKIM
 * keys and DMARC policies are fetched; the session waits, not the loop)
 * or, for submissions, signed with the From domain's [dkim] keys.  The
 * verdict (spf_policy, dmarc_policy) is given before the commit; what to
 * prepend (our Authentication-Results or DKIM-Signature fields) travels
 * in the envelope.
 *
 * Trust: the message is peer data, parsed only by the bounded parsers of
 * dkim*.c, dmarc*.c and authres.c.  The [dkim] keys are those of
 * common/dkim_keys.c, read from the admin's files before privileges are
 * dropped.
 */
#include <sys/mman.h>
#include <sys/types.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/authres.h"
#include "lib/buf.h"
#include "common/conf.h"
#include "auth/dkim_sign.h"
#include "common/dkim_keys.h"
#include "lib/log.h"
#include "common/proc.h"
#include "smtpd/smtp_check.h"
#include "smtpd/smtp_session.h"
#include "lib/util.h"

#define FORGED_MAX	64		/* forged A-R fields cut per message */
#define MOVE_BLOCK	(64 * 1024)

struct smtp_check {
	struct authres	*ar;		/* NULL: no verification */
	char		*map;		/* the spool file, read-only */
	size_t		 maplen;
	struct buf	 prepend;
	uint64_t	 cut;		/* bytes of forged fields removed */
	bool		 quarantine;
};

static struct event_base	*base;
static struct dns_ctx		*dns;

static void	 checked(uint64_t);
static int	 map_spool(struct smtp_check *, int, size_t);
static void	 unmap(struct smtp_check *);
static int	 cut_ranges(int, size_t, const struct authres_range *, size_t);
static void	 strip_forged(struct smtp_session *, struct smtp_check *);
static void	 sign(struct smtp_session *, struct smtp_check *);

/* smtp_check_init - see smtp_check.h. */
void
smtp_check_init(struct event_base *b, struct dns_ctx *d)
{
	base = b;
	dns = d;
	(void)dmarc_psl_default();	/* read the list once, now */
}

/* smtp_check_mail - see smtp_check.h. */
void
smtp_check_mail(struct smtp_session *s)
{
	struct authres_opts	 o;

	smtp_check_free(s);
	if (s->auth[0] != '\0' || s->relay_ok || dns == NULL)
		return;
	s->chk = xcalloc(1, sizeof(*s->chk));
	buf_init(&s->chk->prepend, 0);
	o.authserv = config->hostname;
	o.ip = s->peer_ip;
	o.mail_from = s->env.sender;
	o.helo = s->helo;
	s->chk->ar = authres_new(base, dns, &o);
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
	return 0;
}

static void
unmap(struct smtp_check *c)
{
	if (c->map != NULL)
		munmap(c->map, c->maplen);
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
strip_forged(struct smtp_session *s, struct smtp_check *c)
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
	if (cut_ranges(s->spool_fd, len, r, n) == -1) {
		log_warn("session=%016llx %s: event=spool-write-error "
		    "error=\"%s\"", (unsigned long long)s->id, s->qid,
		    strerror(errno));
		s->spool_err = true;
		return;
	}
	c->cut = cut;
	log_info("%s: session=%016llx event=forged-authres removed=%zu",
	    s->qid, (unsigned long long)s->id, n);
	if (map_spool(c, s->spool_fd, len - cut) == -1)
		s->spool_err = true;
}

/* sign - a DKIM-Signature per key of the From domain (RSA, Ed25519). */
static void
sign(struct smtp_session *s, struct smtp_check *c)
{
	char	 what[64];

	snprintf(what, sizeof(what), "%s: session=%016llx", s->qid,
	    (unsigned long long)s->id);
	(void)dkim_sign_message(dkim_keys_signer(), c->map, c->maplen,
	    &c->prepend, what);
}

/* smtp_check_eod - see smtp_check.h. */
bool
smtp_check_eod(struct smtp_session *s)
{
	struct smtp_check	*c = s->chk;

	if (c == NULL) {
		c = s->chk = xcalloc(1, sizeof(*c));
		buf_init(&c->prepend, 0);
	}
	if (map_spool(c, s->spool_fd, (size_t)(s->hdr_len + s->rx.size))
	    == -1) {
		log_warn("session=%016llx %s: event=spool-map-error "
		    "error=\"%s\"", (unsigned long long)s->id, s->qid,
		    strerror(errno));
		s->spool_err = true;
		return false;
	}
	strip_forged(s, c);
	if (s->spool_err || c->map == NULL)
		return false;
	if (s->auth[0] != '\0' || s->relay_ok)
		sign(s, c);
	if (c->ar == NULL) {
		unmap(c);
		return false;
	}
	authres_message(c->ar, c->map, c->maplen, checked, s->id);
	return true;
}

/* checked - the authres job is done: carry on with the session. */
static void
checked(uint64_t id)
{
	struct smtp_session	*s = smtp_session_find(id);

	if (s == NULL)
		return;
	smtp_session_checked(s);
	smtp_session_flush(s);
}

/* smtp_check_verdict - see smtp_check.h. */
bool
smtp_check_verdict(struct smtp_session *s, char *reply, size_t size)
{
	struct smtp_check		*c = s->chk;
	const struct dmarc_output	*d;
	enum spf_result			 spf;
	const char			*action = "accept";
	char				 sum[128];

	if (c == NULL)
		return false;
	if (c->ar != NULL) {
		spf = authres_spf_result(c->ar);
		d = authres_dmarc_output(c->ar);
		authres_summary(c->ar, sum, sizeof(sum));
		if (config->spf_policy == SPF_POLICY_REJECT &&
		    spf == SPF_FAIL) {
			snprintf(reply, size, "550 5.7.23 Error: SPF check "
			    "failed for the sender domain");
			action = "reject";
		} else if (config->spf_policy == SPF_POLICY_REJECT &&
		    spf == SPF_TEMPERROR) {
			snprintf(reply, size, "451 4.7.24 Error: SPF "
			    "temporary error, try again later");
			action = "defer";
		} else if (d != NULL && d->result == DMARC_RES_FAIL &&
		    config->dmarc_policy == DMARC_POLICY_ENFORCE) {
			if (d->disposition == DMARC_DISP_REJECT) {
				snprintf(reply, size, "550 5.7.1 Error: "
				    "message rejected by the DMARC policy of "
				    "the From domain");
				action = "reject";
			} else if (d->disposition == DMARC_DISP_QUARANTINE) {
				c->quarantine = true;
				action = "quarantine";
			}
		}
		log_info("%s: session=%016llx event=authres %s action=%s",
		    s->qid, (unsigned long long)s->id, sum, action);
		if (strcmp(action, "accept") != 0 && !c->quarantine)
			return true;
		authres_header(c->ar, &c->prepend);
	}
	s->env.size -= c->cut;
	s->env.quarantine = c->quarantine;
	free(s->env.prepend);
	s->env.prepend = c->prepend.len > 0 ? xstrdup(buf_cstr(&c->prepend)) :
	    NULL;
	return false;
}

/* smtp_check_free - see smtp_check.h. */
void
smtp_check_free(struct smtp_session *s)
{
	struct smtp_check	*c = s->chk;

	if (c == NULL)
		return;
	authres_free(c->ar);
	unmap(c);
	buf_free(&c->prepend);
	free(c);
	s->chk = NULL;
}
