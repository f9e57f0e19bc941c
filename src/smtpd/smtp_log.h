/*
 * smtp_log.h - smtpd's lines in Postfix's shapes (log_format = postfix),
 * which log summarizers such as pflogsumm read, and the SMTP transcript of
 * the clients named by debug_peers.
 */
#ifndef POSTBOTE_SMTP_LOG_H
#define POSTBOTE_SMTP_LOG_H

#include <sys/socket.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What the lines say about a session; the strings are the session's. */
struct smtp_log_peer {
	uint64_t	 id;		/* the session */
	const char	*qid;		/* "" before the message has one */
	const char	*name;		/* rDNS, "" = unknown */
	const char	*ip;
	const char	*helo;
	const char	*from;		/* MAIL FROM, NULL before it */
	const char	*auth;		/* login, "" = none */
	const char	*mech;		/* its mechanism */
	bool		 esmtp;
};

/* smtp_log_postfix - are message lines written in Postfix's shapes? */
bool	 smtp_log_postfix(void);
/* smtp_log_client - "QID: client=NAME[IP]", once the message has its
 * queue id (Postfix logs it at that point too). */
void	 smtp_log_client(const struct smtp_log_peer *p);
/*
 * smtp_log_reject - "NOQUEUE: reject: STAGE from NAME[IP]: REPLY; from=<>
 * to=<> proto=ESMTP helo=<>" (QID instead of NOQUEUE once the message has
 * one).  stage is "RCPT", "MAIL" or "END-OF-MESSAGE"; to may be NULL;
 * reply is the reply the client gets, without CRLF.
 */
void	 smtp_log_reject(const struct smtp_log_peer *p, const char *stage,
	    const char *to, const char *reply);
/* smtp_log_tls - "Anonymous TLS connection established from NAME[IP]:
 * TLSv1.3 with cipher NAME", Postfix's line (without the bits). */
void	 smtp_log_tls(const struct smtp_log_peer *p, const char *version,
	    const char *cipher);
/* smtp_log_is_debug_peer - does debug_peers name this client (or -v)? */
bool	 smtp_log_is_debug_peer(const struct sockaddr *sa);
/*
 * smtp_log_transcript - one line of a debug peer's dialogue in session
 * id: dir is "<" (from the client) or ">" (ours).  The payload of an AUTH
 * command is masked, and the whole line when masked is set (inside an
 * AUTH exchange).
 */
void	 smtp_log_transcript(uint64_t id, const char *dir, const char *line,
	    size_t len, bool masked);

#endif
