/*
 * smtp_session.h - one SMTP server session (smtpd process): state,
 * command handlers and the DATA/BDAT paths.  smtpd.c owns the listeners,
 * the session table and the IPC replies that it hands to the sessions.
 */
#ifndef POSTBOTE_SMTP_SESSION_H
#define POSTBOTE_SMTP_SESSION_H

#include <sys/socket.h>

#include <stdbool.h>
#include <stdint.h>

#include "lib/buf.h"
#include "lib/ipc.h"
#include "mail/smtp_data.h"
#include "mail/smtp_parse.h"
#include "mail/envelope.h"

struct io;
struct event;
struct screen;
struct smtpd_milter;

enum smtp_state {
	SMTP_S_GREET = 0,	/* the greeting is not sent yet */
	SMTP_S_HELO,		/* waiting for EHLO or HELO */
	SMTP_S_READY,		/* MAIL may start a transaction */
	SMTP_S_MAIL,		/* MAIL accepted, no RCPT yet */
	SMTP_S_RCPT,		/* at least one RCPT accepted */
	SMTP_S_DATA,		/* reading the DATA body */
	SMTP_S_BDAT,		/* reading a BDAT chunk */
	SMTP_S_QUIT,		/* closing once the output is sent */
	SMTP_S_MAX
};

enum smtp_wait {
	WAIT_NONE = 0,
	WAIT_RESOLVE,		/* lookup: RCPT resolution */
	WAIT_SPOOL,		/* queue: a spool file for DATA/BDAT */
	WAIT_COMMIT,		/* queue: the durable commit */
	WAIT_CHECK,		/* smtp_check: DKIM/DMARC/SPF answers */
	WAIT_TLS,		/* STARTTLS or implicit TLS: the handshake */
	WAIT_AUTH,		/* lookup: a password check */
	WAIT_AUTH_DELAY,	/* the pause before a 535 */
	WAIT_OWNER,		/* lookup: may the login use MAIL FROM? */
	WAIT_GREYLIST,		/* lookup: the RCPT's greylisting triplet */
	WAIT_SPF,		/* greylist_spf_pass: SPF's answer */
	WAIT_MILTER,		/* the milters: MAIL, RCPT or the message */
};

enum smtp_auth_step {
	AUTH_STEP_NONE = 0,
	AUTH_STEP_PLAIN,	/* 334 sent, waiting for the PLAIN response */
	AUTH_STEP_LOGIN_USER,	/* LOGIN: waiting for the user name */
	AUTH_STEP_LOGIN_PASS,	/* LOGIN: waiting for the password */
	AUTH_STEP_RELAY,	/* another mechanism: waiting for the
				 * response to Dovecot's challenge */
};

struct smtp_session {
	uint64_t		 id;
	struct io		*io;
	struct smtp_session	*hnext;		/* session table chain */
	struct sockaddr_storage	 peer;
	char			 peer_ip[64];	/* "127.0.0.1", "::1" */
	char			 peer_str[80];	/* "[127.0.0.1]:51234" */
	char			 client_name[256];	/* rDNS or "unknown" */
	int			 listen_idx;
	char			 listener[64];	/* its name, for logs */
	bool			 relay_ok;	/* client in relay_networks */
	bool			 debug;		/* in debug_peers: transcript */
	bool			 tls;		/* TLS is active (STARTTLS or
						 * implicit) */
	char			 auth[320];	/* authenticated login, "" = none */
	char			 tls_version[16];	/* "TLSv1.3" once up */
	char			 tls_cipher[64];	/* OpenSSL's name */
	enum smtp_auth_step	 auth_step;	/* inside an AUTH exchange */
	char			 auth_user[320];	/* LOGIN: the user name */
	const char		*auth_mech;	/* "PLAIN", "LOGIN": for logs */
	char			 auth_mech_name[24];	/* a relayed one */
	bool			 auth_relay;	/* lookup holds an exchange
						 * with Dovecot for us */
	struct event		*auth_timer;	/* the delay before a 535 */
	bool			 auth_checking;	/* a password check counts in
						 * limits_auth_begin's budget */
	bool			 conn_counted;	/* limits_conn_open said ok */
	char			 limit_key[72];	/* IPv4, or IPv6 /64 */
	unsigned		 nrcpt_session;	/* recipients, all messages */
	uint64_t		 data_bytes;	/* DATA/BDAT bytes this window */
	struct event		*data_timer;	/* min_data_rate checks */

	enum smtp_state		 state;
	enum smtp_wait		 wait;
	bool			 esmtp;
	char			 helo[256];
	unsigned		 errors;
	unsigned		 junk;		/* junk commands and */
	unsigned		 ncmds;		/* command lines since the last
						 * message (or the start) */
	unsigned		 nmsgs_counted;	/* nmsgs when they were reset */
	uint64_t		 started;	/* monotonic usec at connect */
	uint64_t		 idle_usec;	/* the client's turn since its
						 * last command that did
						 * something (session clock) */
	uint64_t		 idle_mark;	/* accounted up to here */
	bool			 discard_line;	/* inside an overlong line */
	bool			 peer_eof;	/* client half-closed */
	bool			 linger;	/* closing after our last reply
						 * (io_linger) */
	bool			 quit;		/* the client said QUIT */
	bool			 held;		/* the whole message is in dbuf
						 * (until begin_body) */
	bool			 paused;	/* reading stopped: input full */
	bool			 out_full;	/* process() stopped at its
						 * output ceiling */
	unsigned		 nmsgs;
	struct event		*greet_timer;
	struct screen		*screen;	/* DNS lists asked at connect */

	/* the transaction */
	struct smtp_mail_args	 mail;
	struct smtp_rcpt_args	 rcpt;		/* the RCPT being resolved */
	size_t			 grey_mark;	/* env.nrcpt before that RCPT */
	struct envelope		 env;
	unsigned		 nrcpt;		/* RCPT commands accepted */
	bool			 bdat_used;
	struct smtp_check	*chk;		/* SPF/DKIM/DMARC, signing: made
						 * at MAIL, freed by tx_reset */
	struct smtpd_milter	*milter;	/* the session's milters, or NULL */
	int			 milter_phase;	/* what WAIT_MILTER waits for */
	bool			 milter_discard;	/* a milter said discard */
	bool			 milter_quarantine;
	size_t			 rcpt_mark;	/* env.nrcpt before this RCPT */

	/* the message */
	char			 qid[QUEUE_ID_LEN + 1];
	bool			 commit_lost;	/* WAIT_COMMIT, and the queue
						 * died: ask the next one */
	int			 spool_fd;
	bool			 spool_err;	/* a write to the spool failed */
	struct data_rx		 rx;
	struct buf		 dbuf;		/* pending spool bytes */
	uint64_t		 hdr_len;	/* Received: header bytes */
	uint64_t		 bdat_left;	/* bytes of this chunk to read */
	uint64_t		 bdat_size;
	bool			 bdat_last;
	bool			 bdat_discard;	/* read the chunk, then 503 */
	bool			 bdat_bad;	/* BDAT content refused */
};

/* smtp_session_start - a connection accepted on listener idx. */
void	 smtp_session_start(int fd, const struct sockaddr *, socklen_t,
	    int listen_idx);
/* smtp_session_find - the live session with this id, or NULL. */
struct smtp_session *smtp_session_find(uint64_t id);
/* Replies from other processes, routed by request id = session id. */
void	 smtp_session_resolved(struct smtp_session *, struct ipc_msg *);
void	 smtp_session_spooled(struct smtp_session *, struct ipc_msg *);
void	 smtp_session_committed(struct smtp_session *, struct ipc_msg *);
void	 smtp_session_commit_status(struct smtp_session *,
	    struct ipc_msg *);
void	 smtp_session_authed(struct smtp_session *, struct ipc_msg *);
void	 smtp_session_owned(struct smtp_session *, struct ipc_msg *);
void	 smtp_session_greylisted(struct smtp_session *, struct ipc_msg *);
void	 smtp_session_milter_fd(struct smtp_session *, struct ipc_msg *);
/* smtp_session_flush - send the replies a handler queued; may free s. */
void	 smtp_session_flush(struct smtp_session *);
/* smtp_session_peer_down - proc went away: fail what waits on it. */
void	 smtp_session_peer_down(int proc);
/* smtp_session_peer_up - proc is (back) up: ask a restarted queue about
 * the commits its predecessor took with it. */
void	 smtp_session_peer_up(int proc);
/* smtp_session_shutdown_all - 421 to every session not committing. */
void	 smtp_session_shutdown_all(void);
unsigned smtp_session_count(void);
/*
 * smtp_session_prepare - before the chroot, still root: read what the
 * sessions need from files (the public suffix list) and make the resolver
 * on b (c-ares reads /etc/resolv.conf and /dev/urandom then).
 */
void	 smtp_session_prepare(struct event_base *b);
void	 smtp_session_init(struct event_base *);

#endif
