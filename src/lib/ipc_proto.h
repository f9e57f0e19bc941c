/*
 * ipc_proto.h - every message postbote's processes and its command line
 * send each other, each defined once: a C struct here, and beside it in
 * ipc_proto.c a table of its named, typed fields from which both the
 * encoder and the strict decoder work, so the two sides cannot drift
 * apart (the idea of Postfix's attr_print/attr_scan with
 * ATTR_FLAG_STRICT).
 *
 * Decoding is strict: every field must be there, nothing may be left
 * over, strings are NUL-terminated without a NUL inside, counts and
 * lengths are bounded before anything is allocated, and a descriptor
 * must come with a frame exactly when the message says so.  Decoded
 * strings and bytes point into the frame (valid during its handler);
 * lists are allocated and released by ipc_proto_free().
 */
#ifndef POSTBOTE_IPC_PROTO_H
#define POSTBOTE_IPC_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "lib/ipc.h"

struct buf;

/* Bytes: a pointer and a length (decoded: into the frame). */
struct ipc_bytes {
	const void	*p;
	size_t		 len;
};

/* IPC_SHUTDOWN, IPC_SPOOL_OPEN, IPC_CTL_LIST: no fields. */
struct ipc_empty {
	int		 none;
};

/* IPC_PEER - parent to child: the channel to proc comes as the fd. */
struct ipc_peer {
	uint32_t	 proc;
};

/* IPC_RELOAD - parent to child: the new config and what the process
 * needs of the tables and keys ("" and empty when it needs none). */
struct ipc_reload {
	const char	*conf;		/* the config file's text */
	const char	*path;		/* "" = embedded defaults */
	const char	*users, *aliases;
	struct ipc_bytes tls;		/* IPC_TLS_MATERIAL, encoded */
	struct ipc_bytes dkim;		/* IPC_DKIM_MATERIAL, encoded */
};

/* IPC_START - parent to child: the first frame a child reads after it
 * re-executed the binary.  Who it runs as, where the config's relative
 * paths are taken from, and its first config, tables and keys, which it
 * takes as it takes a reload's. */
struct ipc_start {
	const char	*base_dir;	/* absolute (common/conf.h) */
	uint32_t	 drop;		/* 1: drop to uid/gid (we are root) */
	uint32_t	 uid, gid;
	struct ipc_reload reload;
};

/* IPC_TLS_MATERIAL - never framed alone: the certificates and keys the
 * parent read, carried in IPC_RELOAD and kept by smtpd (common/tls.c). */
struct ipc_tls_cert {
	const char	*name;		/* "" = the default certificate */
	const char	*cert;		/* PEM chain */
	const char	*key;		/* PEM private key */
};
struct ipc_tls_material {
	struct ipc_tls_cert *certs;
	size_t		 ncerts;
};

/* IPC_DKIM_MATERIAL - never framed alone: the [dkim] private keys the
 * parent read, carried in IPC_RELOAD to the processes that sign
 * (common/dkim_keys.c). */
struct ipc_dkim_key {
	const char	*domain;
	const char	*selector;
	const char	*key;		/* PEM private key */
};
struct ipc_dkim_material {
	struct ipc_dkim_key *keys;
	size_t		 nkeys;
};

/* IPC_RESOLVE - smtpd or queue to lookup: where does addr go? */
struct ipc_resolve {
	const char	*addr;
};
struct ipc_target {
	uint32_t	 kind;		/* enum rcpt_kind */
	const char	*addr;
};
/* IPC_RESOLVE_REPLY - its final mailboxes and remote targets. */
struct ipc_resolve_reply {
	uint32_t	 result;	/* enum lookup_result */
	struct ipc_target *targets;
	size_t		 ntargets;
};

/* IPC_SPOOL_OPEN (no fields) - smtpd to queue: a spool file, please. */
/* IPC_SPOOL_OPEN_REPLY - its id, and the file as the fd when ok. */
struct ipc_spool_open_reply {
	uint32_t	 ok;
	const char	*id;
};
/* IPC_SPOOL_COMMIT - smtpd to queue: make it durable.  data is the
 * message again, exactly as in the spool file, when it is at most
 * IPC_SPOOL_DATA_MAX bytes (the queue then reads no file), else empty. */
#define IPC_SPOOL_DATA_MAX	(64u * 1024)
struct ipc_spool_commit {
	const char	*id;
	struct ipc_bytes envelope;	/* envelope_encode() */
	struct ipc_bytes data;
};
/* IPC_SPOOL_COMMIT_REPLY, IPC_CTL_REPLY, IPC_RELOAD_DONE - ok, or why
 * not. */
struct ipc_reply {
	uint32_t	 ok;
	const char	*text;
};
/* IPC_SPOOL_STATUS - smtpd to a restarted queue: a commit of this id
 * went to the queue that died, which never answered.  Was it journaled? */
struct ipc_spool_status {
	const char	*id;
};
/* IPC_SPOOL_STATUS_REPLY - journaled = the message was recovered at the
 * start and will be delivered (smtpd says 250); 0 = it never was (451). */
struct ipc_spool_status_reply {
	uint32_t	 journaled;
};
/* IPC_SPOOL_ABORT, IPC_CTL_FLUSH ("" = all), IPC_CTL_DELETE,
 * IPC_CTL_HOLD, IPC_CTL_RELEASE, IPC_CTL_SHOW - one queue id. */
struct ipc_id {
	const char	*id;
};

/* IPC_DELIVER - queue to deliver: one message's local recipients
 * (request id 0) or the remote ones of one domain.  The message comes
 * whole in data when the queue still holds it in memory (at most
 * IPC_DELIVER_DATA_MAX bytes, exactly size), and then no fd comes;
 * otherwise data is empty and the fd is the message, read-only. */
#define IPC_DELIVER_DATA_MAX	(64u * 1024)
struct ipc_deliver_rcpt {
	uint32_t	 index;		/* in the envelope */
	uint32_t	 kind;		/* enum rcpt_kind */
	const char	*addr;
	const char	*orig;
	uint32_t	 notify;	/* SMTP_NOTIFY_* */
	const char	*orcpt;		/* "" = none */
};
struct ipc_deliver {
	const char	*id;
	const char	*sender;
	uint64_t	 arrival;	/* µs */
	uint32_t	 recovered;	/* loaded after a crash */
	struct ipc_deliver_rcpt *rcpts;
	size_t		 nrcpts;
	uint32_t	 body;		/* enum smtp_body */
	uint32_t	 smtputf8;
	uint32_t	 ret;		/* enum smtp_ret */
	const char	*envid;		/* "" = none */
	uint64_t	 size;
	const char	*prepend;	/* header fields written first */
	uint32_t	 tls_req;	/* enum env_tls (RFC 8689) */
	struct ipc_bytes data;		/* the content, or empty: the fd */
};
/* IPC_DELIVER_REPLY - each recipient's result, the request's id. */
struct ipc_deliver_result {
	uint32_t	 index;
	uint32_t	 result;	/* enum deliver_result */
	const char	*dsn;		/* "d.s.n" */
	const char	*text;
	const char	*remote_mta;	/* the server whose reply text is;
					 * "" = none (a local reason) */
};
struct ipc_deliver_reply {
	const char	*id;
	struct ipc_deliver_result *results;
	size_t		 nresults;
};

/* IPC_MILTER_CONNECT - smtpd to lookup: connect the UNIX socket of
 * [milter] number index of the config (smtpd cannot open paths). */
struct ipc_milter_connect {
	uint32_t	 index;
};
/* IPC_MILTER_CONNECT_REPLY - the connected socket comes as the fd when
 * ok; why says what failed. */
struct ipc_milter_connect_reply {
	uint32_t	 ok;		/* first: FD_IF_OK reads it */
	uint32_t	 index;
	const char	*why;
};

/* IPC_AUTH - smtpd to lookup: check a password. */
struct ipc_auth {
	const char	*user;
	const char	*password;
	const char	*mech;		/* "PLAIN" or "LOGIN", as the client
					 * chose */
	const char	*client;	/* the client's IP address */
	uint32_t	 secured;	/* the session is over TLS */
	uint32_t	 step;		/* enum ipc_auth_step */
};
/* IPC_AUTH's step: user and password of PLAIN or LOGIN; or an exchange
 * of another mechanism relayed to Dovecot, password then holding the
 * client's base64 response ("" none, "=" empty). */
enum ipc_auth_step { IPC_AUTH_CRED = 0, IPC_AUTH_RELAY_START,
	IPC_AUTH_RELAY_NEXT, IPC_AUTH_RELAY_CANCEL };
/* IPC_AUTH_REPLY - ok, with the canonical login; temp: the check could
 * not be made (Dovecot down), 454 rather than 535. */
struct ipc_auth_reply {
	uint32_t	 ok;
	const char	*login;
	uint32_t	 temp;
	uint32_t	 cont;		/* relayed: send "334 challenge" */
	const char	*challenge;	/* base64, with cont */
};
/* IPC_SENDER_OWNED - may login use sender in MAIL FROM? */
struct ipc_sender_owned {
	const char	*login;
	const char	*sender;
};
/* IPC_SENDER_OWNED_REPLY - yes or no. */
struct ipc_sender_owned_reply {
	uint32_t	 ok;
};

/* IPC_GREYLIST - smtpd to lookup: an attempt of this triplet
 * (mail/greylist.h greylist_key), request id = the session's. */
struct ipc_greylist {
	const char	*key;
};
/* IPC_GREYLIST_REPLY - verdict: enum greylist_verdict, or
 * IPC_GREYLIST_ERROR when the store failed; wait: seconds until a retry
 * passes (0 when it passes). */
#define IPC_GREYLIST_ERROR	100
struct ipc_greylist_reply {
	uint32_t	 verdict;
	uint32_t	 wait;
};

/* A message as the control socket lists and shows it. */
#define IPC_CTL_STR_MAX		2048	/* per string; longer is cut */
struct ipc_ctl_rcpt {
	const char	*addr;
	const char	*orig;
	uint32_t	 state;		/* enum rcpt_state */
	const char	*status;
};
struct ipc_ctl_entry {
	const char	*id;
	const char	*sender;
	uint64_t	 arrival;	/* µs */
	uint64_t	 size;
	uint32_t	 flags;		/* CONTROL_HELD, CONTROL_INFLIGHT */
	uint32_t	 nrcpt;		/* in the envelope */
	struct ipc_ctl_rcpt *rcpts;	/* the listed ones (maybe fewer) */
	size_t		 nrcpts;
};
/* IPC_CTL_LIST (no fields) -> IPC_CTL_LIST_REPLY frames, sorted by id;
 * more = another frame follows. */
struct ipc_ctl_list_reply {
	uint32_t	 more;
	struct ipc_ctl_entry *entries;
	size_t		 nentries;
};
/* IPC_CTL_SHOW -> IPC_CTL_SHOW_REPLY: ok, or the reason in text. */
struct ipc_ctl_show_reply {
	uint32_t	 ok;
	const char	*text;
	struct ipc_ctl_entry entry;
	const char	*helo, *client, *client_name, *auth, *envid;
	uint32_t	 attempts;
	uint64_t	 next_attempt;	/* µs */
	uint32_t	 cut;		/* the headers were cut short */
	struct ipc_bytes headers;
	uint32_t	 tls_req;	/* enum env_tls (RFC 8689) */
};
/* IPC_CTL_SUBMIT - sendmail to queue: sender ("" = <>), recipients and
 * the CRLF message. */
struct ipc_ctl_addr {
	const char	*addr;
};
struct ipc_ctl_submit {
	const char	*sender;
	struct ipc_ctl_addr *rcpts;
	size_t		 nrcpts;
	struct ipc_bytes message;
};
/* IPC_CTL_SUBMIT_REPLY - the queue id or the reason, and the sysexits.h
 * code the command exits with. */
struct ipc_ctl_submit_reply {
	uint32_t	 ok;
	const char	*text;
	uint32_t	 code;
};

/* IPC_CTL_RELOAD, IPC_CTL_STOP, IPC_CTL_STATUS (no fields) - command line
 * to parent; the first two are answered with IPC_CTL_REPLY, once the
 * children applied the reload or once the stop has begun. */
/* IPC_CTL_STATUS_REPLY - the running server as the parent sees it. */
struct ipc_ctl_status_reply {
	uint64_t	 pid;
	uint64_t	 started;	/* µs since the epoch */
	const char	*version;
	const char	*config;	/* "" = embedded defaults */
	const char	*state_dir;
	const char	*listeners;	/* "NAME HOST:PORT MODE" lines */
	const char	*processes;	/* "NAME PID" lines */
	uint64_t	 reloaded;	/* µs of the last reload, 0 = never */
	const char	*reload_result;	/* "", "ok" or "failed: ..." */
};

/* IPC_CTL_BODY (struct ipc_id) -> IPC_CTL_BODY_REPLY: ok, with the spool
 * data file, read-only, as the fd, and the fields delivery writes before
 * it (envelope 'X'); else the reason in text. */
struct ipc_ctl_body_reply {
	uint32_t	 ok;
	const char	*text;
	const char	*prepend;
};

/* IPC_TLSRPT - deliver to queue, request id 0, no reply: one outbound
 * TLS negotiation's outcome, as RFC 8460 4 reports it (mail/tlsrpt.h
 * struct tlsrpt_event; queue checks it with tlsrpt_event_ok).  The
 * lists (policy_strings, mx_host) hold one entry a line; result "" is
 * a successful session, else an RFC 8460 4.3 result type. */
#define IPC_TLSRPT_STR_MAX	4096	/* per string; longer is cut */
struct ipc_tlsrpt {
	const char	*policy_type;	/* "tlsa", "sts", "no-policy-found" */
	const char	*policy_domain;
	const char	*policy_strings;
	const char	*mx_host;
	const char	*result;
	const char	*sending_ip;
	const char	*receiving_mx;
	const char	*receiving_ip;
	const char	*reason;	/* failure-reason-code, "" = none */
};
/* IPC_CTL_TLSRPT_SHOW, IPC_CTL_TLSRPT_SEND (no fields) -> IPC_CTL_REPLY:
 * ok with the JSON of the aggregate, or with what was sent; else why. */

/*
 * ipc_proto_encode - append the payload of message type from msg (of
 * msize bytes: a struct that is not the type's is a bug) to b.
 */
void	 ipc_proto_encode(struct buf *b, uint16_t type, const void *msg,
	    size_t msize);
/*
 * ipc_proto_decode - read m (its type) into out (msize bytes).  0, or -1
 * when it is not exactly that message (or its fd is not as the type
 * says); *why then names the field at fault.  On -1 nothing is left
 * allocated.
 */
int	 ipc_proto_decode(struct ipc_msg *m, void *out, size_t msize,
	    const char **why);
/* ipc_proto_free - release the lists a decode allocated in msg. */
void	 ipc_proto_free(uint16_t type, void *msg);
/*
 * ipc_proto_send - encode and send on a channel; fd as ipc_send takes it.
 * 0, or -1 when the channel is closed.
 */
int	 ipc_proto_send(struct ipc_chan *, uint16_t type, uint64_t id,
	    const void *msg, size_t msize, int fd);
/* ipc_proto_fd - does a frame of type carry a descriptor: 0 never,
 * 1 always, 2 when the message says ok, 3 when its content is not in
 * the frame (IPC_DELIVER). */
int	 ipc_proto_fd(uint16_t type);

/* The size goes with the struct, so a call cannot name the wrong one. */
#define IPC_ENCODE(b, type, m)	ipc_proto_encode((b), (type), (m), \
	    sizeof(*(m)))
#define IPC_DECODE(m, out, why)	ipc_proto_decode((m), (out), sizeof(*(out)), \
	    (why))

#endif
