/*
 * envelope.h - a message's envelope as the queue keeps it: sender,
 * recipients with their DSN parameters and states, the checks' prepend,
 * and the scheduling state from status records; written in spool_rec.h's
 * records (docs/queue-format.md).  Pure: no I/O.
 */
#ifndef POSTBOTE_ENVELOPE_H
#define POSTBOTE_ENVELOPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

#define QUEUE_ID_LEN	16		/* upper-case hex digits */

/* Recipient and message state. */
enum rcpt_kind { RCPT_LOCAL = 0, RCPT_REMOTE = 1 };
enum rcpt_state { RCPT_PENDING = 0, RCPT_DONE, RCPT_FAILED };

struct env_rcpt {
	char		*addr;		/* where to deliver: "user@domain" */
	char		*orig;		/* the address given at RCPT TO */
	char		*orcpt;		/* DSN ORCPT "type;value", or NULL */
	unsigned	 notify;	/* SMTP_NOTIFY_* bits, 0 = default */
	enum rcpt_kind	 kind;
	enum rcpt_state	 state;
	char		*status;	/* last result "d.s.n text", or NULL */
	char		*remote_mta;	/* the server whose reply status is,
					 * or NULL; kept in memory only */
};

/* Why a message goes on hold as it is committed (envelope 'G'). */
enum env_hold {
	ENV_HOLD_NONE = 0,
	ENV_HOLD_DMARC = 1,		/* DMARC p=quarantine */
	ENV_HOLD_LISTENER = 2,		/* its listener has hold = yes */
	ENV_HOLD_MILTER = 3,		/* a milter said SMFIR_QUARANTINE */
	ENV_HOLD_MAX = ENV_HOLD_MILTER
};

/* What the sender asked of the TLS of every hop (RFC 8689; envelope 'M'). */
enum env_tls {
	ENV_TLS_DEFAULT = 0,		/* the usual policies */
	ENV_TLS_REQUIRE = 1,		/* MAIL FROM REQUIRETLS: verified TLS
					 * to a next hop offering REQUIRETLS */
	ENV_TLS_OPTIONAL = 2,		/* "TLS-Required: No": recipient
					 * domains' policies (DANE) ignored */
	ENV_TLS_MAX = ENV_TLS_OPTIONAL
};

/* envelope_tls_name - "requiretls", "optional" or "default", for logs. */
const char	*envelope_tls_name(int);

/* envelope_hold_name - "dmarc", "listener", ... for the log. */
const char	*envelope_hold_name(int);

struct envelope {
	char		 id[QUEUE_ID_LEN + 1];
	uint64_t	 arrival;	/* µs since the epoch */
	char		*sender;	/* "" for the null path */
	char		*helo;		/* may be NULL */
	char		*client;	/* "[ip]:port" or "local", may be NULL */
	char		*client_name;	/* rDNS name, may be NULL */
	char		*auth;		/* authenticated login, may be NULL */
	char		*envid;		/* DSN ENVID decoded, may be NULL */
	char		*prepend;	/* header fields written before the
					 * spool data at delivery (CRLF lines:
					 * Authentication-Results:,
					 * DKIM-Signature:), may be NULL */
	int		 quarantine;	/* enum env_hold: put on hold at
					 * commit, and why */
	int		 tls_req;	/* enum env_tls */
	int		 ret;		/* enum smtp_ret */
	int		 body;		/* enum smtp_body */
	bool		 smtputf8;
	uint64_t	 size;		/* message size in bytes */
	size_t		 nrcpt;
	struct env_rcpt	*rcpts;
	/* scheduling state, from status records */
	unsigned	 attempts;
	uint64_t	 next_attempt;	/* µs since the epoch; 0 = now */
	bool		 bounced;	/* a bounce or DSN has been queued */
	bool		 warned;	/* the delay warning has been queued */
};

/* envelope_free - free every owned field; the struct itself is the
 * caller's.  envelope_free on a zeroed struct is a no-op. */
void	 envelope_free(struct envelope *);

/*
 * envelope_encode - the committed part of a queue file: a version record,
 * the fields above (not the scheduling state), one group of records per
 * recipient, and the end-of-envelope record '.'.
 */
int	 envelope_encode(const struct envelope *, struct buf *);

/*
 * Status records appended after the end-of-envelope record as delivery
 * proceeds.  Each is a whole record; a crash can only cut off the last one.
 */
int	 envelope_put_done(struct buf *, size_t rcpt_index, const char *status);
int	 envelope_put_failed(struct buf *, size_t rcpt_index,
	    const char *status);
int	 envelope_put_deferred(struct buf *, size_t rcpt_index,
	    const char *status);
int	 envelope_put_schedule(struct buf *, unsigned attempts,
	    uint64_t next_attempt);
int	 envelope_put_bounced(struct buf *);
int	 envelope_put_warned(struct buf *);

/*
 * envelope_decode - parse a whole queue file.  Returns 0; -2 if the
 * envelope part is incomplete (empty, or a valid prefix cut short: a
 * commit that never finished); -1 if it has an unknown version or record,
 * a bad value or a recipient index out of range.  err gets a short reason.
 * A truncated last status record (after '.') is ignored: it is a crash
 * in mid-append, and the state it would record is redone.
 */
int	 envelope_decode(const char *data, size_t len, struct envelope *,
	    char *err, size_t errlen);

#endif
