/*
 * authres.h - sender authentication of one message: SPF (RFC 7208) of the
 * MAIL FROM or HELO identity, every DKIM signature (RFC 6376), DMARC
 * (RFC 7489), and the Authentication-Results header field (RFC 8601) that
 * reports them.  All DNS goes through dns.h on the caller's event loop,
 * so smtpd and "postbote verify" run the same code.
 *
 *	a = authres_new(base, dns, &opts);	SPF starts now (at MAIL)
 *	... the message arrives ...
 *	authres_message(a, msg, len, done, id);	DKIM and DMARC start
 *	done(id) runs from the loop once every answer is in;
 *	authres_header(a, &buf); authres_spf_result(a); authres_dmarc_output(a)
 *	authres_free(a);			also cancels
 */
#ifndef POSTBOTE_AUTHRES_H
#define POSTBOTE_AUTHRES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/dmarc.h"
#include "auth/spf.h"

struct buf;
struct dns_ctx;
struct event_base;
struct authres;

struct authres_opts {
	const char	*authserv;	/* our host name: the authserv-id */
	const char	*ip;		/* client address; NULL: no SPF check */
	const char	*mail_from;	/* "" for the null path */
	const char	*helo;		/* may be NULL */
};

typedef void (*authres_done_fn)(uint64_t id);

/* authres_new - start SPF (when opts->ip is an address).  Strings are
 * copied.  Never fails. */
struct authres *authres_new(struct event_base *, struct dns_ctx *,
	    const struct authres_opts *);
/*
 * authres_message - verify msg (len bytes, CRLF, header and body) and
 * evaluate DMARC.  msg must stay valid and unchanged until authres_free.
 * done(id) runs from the event loop, never before this returns, once the
 * SPF, DKIM and DMARC answers are all in.  Call once.
 */
void	 authres_message(struct authres *, const char *msg, size_t len,
	    authres_done_fn done, uint64_t id);
/* authres_header - append "Authentication-Results: ..." with its CRLF,
 * folded one method per line.  0, or -1 on a buffer limit. */
int	 authres_header(const struct authres *, struct buf *out);
/*
 * authres_spf_wait - while SPF is still asking, arrange for done(id) to
 * run from the event loop once it has answered, and return true; false
 * when its answer is in already (or no check ran).  A later call
 * replaces the earlier one's callback.
 */
bool	 authres_spf_wait(struct authres *, authres_done_fn done, uint64_t id);
/* authres_spf_result - SPF_NONE also when no check ran. */
enum spf_result authres_spf_result(const struct authres *);
/*
 * authres_dmarc_output - the DMARC evaluation that decides, or NULL when
 * there was none (no usable From domain, no resolver).  With several
 * author domains each is evaluated and the strictest failure decides
 * (RFC 7489 6.6.1; dmarc_stricter); with more than DMARC_FROM_MAX none
 * is, and the output is permerror with a reject disposition.
 */
const struct dmarc_output *authres_dmarc_output(const struct authres *);
/* authres_summary - "spf=pass dkim=pass dmarc=pass" for a log line. */
void	 authres_summary(const struct authres *, char *out, size_t size);
/* authres_free - NULL is ignored; answers still coming are dropped. */
void	 authres_free(struct authres *);

/* One header field of a message: off, len include its final CRLF. */
struct authres_range {
	size_t		 off, len;
};

/*
 * authres_find_ours - the "Authentication-Results:" fields in the header
 * section of msg whose authserv-id equals authserv (case-insensitive,
 * RFC 8601 5: those claiming to be ours are forgeries to remove).  Up to
 * max ranges, in order; returns how many.
 */
size_t	 authres_find_ours(const char *msg, size_t len, const char *authserv,
	    struct authres_range *, size_t max);

#endif
