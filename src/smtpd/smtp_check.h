/*
 * smtp_check.h - the checks of one SMTP transaction in smtpd: SPF starts
 * at MAIL; at end of data forged Authentication-Results fields are cut
 * from the spool file, incoming mail is verified (DKIM, DMARC) and relay
 * or authenticated mail is signed.  It knows no session: it takes what
 * MAIL and end of data know, and gives back a verdict that the session
 * applies to itself (the reply, the envelope).
 *
 *	c = smtp_check_mail(&mail);		at MAIL
 *	if (smtp_check_eod(c, &eod, done))	at end of data
 *		... done(mail.id) runs from the loop ...
 *	smtp_check_verdict(c, &v);		then commit or refuse
 *	smtp_check_verdict_free(&v);
 *	smtp_check_free(c);			the transaction ends (cancels)
 */
#ifndef POSTBOTE_SMTP_CHECK_H
#define POSTBOTE_SMTP_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/dmarc.h"
#include "auth/spf.h"
#include "common/conf.h"

struct dns_ctx;
struct event_base;
struct smtp_check;

/* What MAIL knows; only read during smtp_check_mail. */
struct smtp_check_mail {
	uint64_t	 id;		/* the session's: log lines, done(id) */
	const char	*ip;		/* the client's address */
	const char	*mail_from;	/* "" for the null path */
	const char	*helo;
	bool		 trusted;	/* authenticated, or in relay_networks:
					 * signed, not verified */
};

/* What end of data knows; only read during smtp_check_eod. */
struct smtp_check_eod {
	int		 fd;		/* the spool file, read and write */
	size_t		 len;		/* bytes written to it */
	const char	*qid;		/* the queue id, for log lines */
	const char	*data;		/* the len bytes written, when the
					 * caller still holds them (kept until
					 * smtp_check_free); NULL: the file is
					 * mapped */
};

enum smtp_check_action {
	SMTP_CHECK_ACCEPT = 0,		/* commit (maybe held: quarantine) */
	SMTP_CHECK_REFUSE,		/* answer reply, drop the message */
	SMTP_CHECK_SPOOL_ERROR,		/* the spool file could not be read
					 * or rewritten: 451, drop it */
};

struct smtp_check_verdict {
	enum smtp_check_action	 action;
	char			 reply[160];	/* REFUSE: "550 5.7.1 ..." */
	bool			 quarantine;	/* ACCEPT: hold it (DMARC) */
	bool			 tls_optional;	/* the header holds
						 * "TLS-Required: No" (RFC
						 * 8689 5) */
	uint64_t		 cut;		/* bytes removed from the spool
						 * file (forged A-R fields) */
	char			*prepend;	/* ACCEPT: header fields to put
						 * first (A-R, DKIM-Signature),
						 * owned; NULL: none */
};

/* smtp_check_done_fn - the answers are in; id is the session's. */
typedef void (*smtp_check_done_fn)(uint64_t id);

/* smtp_check_init - the loop and resolver checks use (dns may be NULL:
 * no verification then). */
void	 smtp_check_init(struct event_base *, struct dns_ctx *);
/* smtp_check_prepare - read the public suffix list now, while its file
 * can still be opened (before the chroot). */
void	 smtp_check_prepare(void);
/*
 * smtp_check_mail - MAIL was accepted: a new check (caller frees); SPF
 * starts now unless m->trusted or there is no resolver.  Never fails.
 */
struct smtp_check *smtp_check_mail(const struct smtp_check_mail *m);
/* smtp_check_spf_pass - SPF has answered pass for this MAIL (false while
 * it is still asking, or when nothing was checked). */
bool	 smtp_check_spf_pass(const struct smtp_check *);
/* smtp_check_spf_wait - true while SPF is still asking: done(id) runs
 * from the event loop when it has answered (authres_spf_wait). */
bool	 smtp_check_spf_wait(struct smtp_check *, void (*done)(uint64_t),
	    uint64_t id);
/*
 * smtp_check_eod - the message is in the spool file: cut forged A-R
 * fields, look for "TLS-Required: No", sign trusted mail and start the
 * verification of the rest.
 * Returns true when answers are awaited: done(id) follows from the loop,
 * never from inside this call (smtp_check_free before it cancels it).
 * false: the verdict is ready now.  Call once.
 */
bool	 smtp_check_eod(struct smtp_check *, const struct smtp_check_eod *e,
	    smtp_check_done_fn done);
/*
 * smtp_check_verdict - after smtp_check_eod (and done): spf_policy and
 * dmarc_policy applied to the answers, logged (event=authres) for
 * verified mail.  *v is filled; free it with smtp_check_verdict_free.
 */
void	 smtp_check_verdict(struct smtp_check *, struct smtp_check_verdict *v);
/*
 * smtp_check_policy - spf_policy and dmarc_policy applied to the SPF
 * result and the DMARC evaluation (NULL: none): v->action, v->reply and
 * v->quarantine are set, the rest of *v is left.  Returns the word for
 * the log line: "accept", "reject", "defer" or "quarantine".
 */
const char *smtp_check_policy(enum policy_spf, enum policy_dmarc,
	    enum spf_result, const struct dmarc_output *,
	    struct smtp_check_verdict *v);
/* smtp_check_verdict_free - what *v owns. */
void	 smtp_check_verdict_free(struct smtp_check_verdict *v);
/* smtp_check_free - the transaction ends; an answer still awaited is
 * dropped (done is not called).  NULL is ignored. */
void	 smtp_check_free(struct smtp_check *);

#endif
