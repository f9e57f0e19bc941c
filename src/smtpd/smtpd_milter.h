/*
 * smtpd_milter.h - the milter client of one SMTP session: its [milter]
 * connections, in the config's order, and the phases of the session run
 * through them one after the other (connect, HELO, MAIL, RCPT, then the
 * message at its end: DATA, the header fields, end of header, the body,
 * end of message), as Postfix's milter8 does.  The packets and the
 * message editor are src/mail/milter.c.
 *
 * A phase is asynchronous: the session asks, the chain answers later
 * through smtpd_milter_done (by session id, from the event loop, never
 * from inside the call).  Connect and HELO do not make the session wait:
 * what they decide is given at the next MAIL (Postfix's
 * smtpd_delay_reject).
 */
#ifndef POSTBOTE_SMTPD_MILTER_H
#define POSTBOTE_SMTPD_MILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "mail/milter.h"

struct event_base;
struct smtpd_milter;

enum smtpd_milter_action {
	SMTPD_MILTER_CONTINUE = 0,	/* go on (accept included) */
	SMTPD_MILTER_REFUSE,		/* the reply in .reply (4xx or 5xx) */
	SMTPD_MILTER_DISCARD,		/* say 250, keep nothing */
};

/* What the phase decided, and at the end of the message, the changes. */
struct smtpd_milter_result {
	enum smtpd_milter_action action;
	char		 reply[MILTER_REPLY_MAX + 64];
	/* end of message only */
	bool		 edited;	/* msg differs from what came */
	struct buf	 msg;		/* the message to queue, when edited */
	char		*sender;	/* changed envelope sender, or NULL */
	char		**add;		/* recipients added, nadd */
	size_t		 nadd;
	char		**del;		/* recipients deleted, ndel */
	size_t		 ndel;
	bool		 quarantine;
	char		 quarantine_why[128];
};

/* The session's facts the macros carry. */
struct smtpd_milter_info {
	const char	*hostname;	/* j */
	const char	*listener;	/* {daemon_name} */
	const char	*client_addr;	/* "127.0.0.1" */
	uint16_t	 client_port;
	const char	*client_name;	/* rDNS name or "unknown" */
	const char	*helo;
	const char	*tls_version;	/* NULL without TLS */
	const char	*cipher;
	const char	*auth;		/* NULL without AUTH */
	const char	*qid;		/* i, NULL before the data */
};

/* The session's hook: phase answered.  Called from the event loop. */
typedef void (*smtpd_milter_done_fn)(uint64_t session_id);

void	 smtpd_milter_init(struct event_base *, smtpd_milter_done_fn);
/* smtpd_milter_new - the chain of a session on listener idx, or NULL
 * when no [milter] applies to it. */
struct smtpd_milter *smtpd_milter_new(uint64_t session_id, int listen_idx);
/* smtpd_milter_free - QUIT to each milter, close, forget. */
void	 smtpd_milter_free(struct smtpd_milter *);

/* The phases.  connect and helo never make the session wait; the
 * others return true when the answer comes later (smtpd_milter_done),
 * false when it is ready now (smtpd_milter_result). */
void	 smtpd_milter_connect(struct smtpd_milter *,
	    const struct smtpd_milter_info *);
void	 smtpd_milter_helo(struct smtpd_milter *,
	    const struct smtpd_milter_info *);
bool	 smtpd_milter_mail(struct smtpd_milter *,
	    const struct smtpd_milter_info *, const char *addr,
	    const char *const *args, size_t nargs);
bool	 smtpd_milter_rcpt(struct smtpd_milter *,
	    const struct smtpd_milter_info *, const char *addr);
/* smtpd_milter_eom - the whole message (as spooled, CRLF). */
bool	 smtpd_milter_eom(struct smtpd_milter *,
	    const struct smtpd_milter_info *, const char *msg, size_t len);
/* smtpd_milter_abort - the transaction ended without a message. */
void	 smtpd_milter_abort(struct smtpd_milter *);
/* smtpd_milter_result - the last phase's answer; its buffers stay the
 * chain's until the next phase. */
struct smtpd_milter_result *smtpd_milter_result(struct smtpd_milter *);
/* smtpd_milter_unix_fd - lookup connected the socket of milter index
 * (fd -1: it could not, why says so). */
void	 smtpd_milter_unix_fd(struct smtpd_milter *, unsigned index, int fd,
	    const char *why);

/* smtpd_milter_lookup_down - lookup died: the UNIX sockets it was to
 * connect will not come. */
void	 smtpd_milter_lookup_down(struct smtpd_milter *);

#endif
