/*
 * smtp_check.h - sender authentication and DKIM signing for smtpd
 * sessions: SPF starts at MAIL; at end of data forged
 * Authentication-Results fields are cut from the spool file, incoming
 * mail is verified (DKIM, DMARC) and submissions are signed; the verdict
 * and the header fields to prepend go into the envelope.  The logic is
 * here; smtp_session.c only calls these hooks.
 */
#ifndef POSTBOTE_SMTP_CHECK_H
#define POSTBOTE_SMTP_CHECK_H

#include <stdbool.h>
#include <stddef.h>

struct buf;
struct dns_ctx;
struct event_base;
struct smtp_session;
struct smtp_check;

/* smtp_check_init - the loop and resolver sessions use (dns may be
 * NULL: no checks then). */
void	 smtp_check_init(struct event_base *, struct dns_ctx *);
/* smtp_check_mail - MAIL accepted: start SPF unless the client is
 * authenticated or in relay_networks. */
void	 smtp_check_mail(struct smtp_session *);
/*
 * smtp_check_eod - end of data, spool file written (s->spool_fd still
 * open): cut forged A-R fields, sign or start verification.  Returns true
 * when answers are awaited: smtp_session_checked(s) follows from the
 * loop.  false: go on with the commit now.
 */
bool	 smtp_check_eod(struct smtp_session *);
/*
 * smtp_check_verdict - after the checks: the refusal reply ("550 5.7.1
 * ...") copied into reply (return true), or false and the envelope gets
 * what to prepend, the quarantine flag and the corrected size.
 */
bool	 smtp_check_verdict(struct smtp_session *, char *reply, size_t size);
/* smtp_check_free - the transaction ends; s->chk is NULL after. */
void	 smtp_check_free(struct smtp_session *);

#endif
