/*
 * bounce.h - RFC 3464 delivery status notifications (bounces, delay
 * warnings, success reports) built in memory.  Pure: no I/O, no logging.
 */
#ifndef POSTBOTE_BOUNCE_H
#define POSTBOTE_BOUNCE_H

#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

/* RET=FULL (or no RET) returns the whole message up to this size; a
 * larger one is returned as its headers only (docs/bounces.md). */
#define BOUNCE_FULL_MAX		(256 * 1024)

/* RFC 3464 2.3.3 action-value. */
enum bounce_action {
	BOUNCE_FAILED = 0,
	BOUNCE_DELAYED,
	BOUNCE_DELIVERED,
	BOUNCE_RELAYED,
	BOUNCE_EXPANDED,
};

/* What the report returns of the original message. */
enum bounce_ret { BOUNCE_RET_DEFAULT = 0, BOUNCE_RET_FULL, BOUNCE_RET_HDRS };

struct bounce_rcpt {
	const char		*addr;		/* Final-Recipient */
	const char		*orcpt;		/* DSN ORCPT "type;value", or NULL */
	enum bounce_action	 action;
	const char		*status;	/* "d.s.n text", or NULL */
	const char		*remote_mta;	/* host name, or NULL */
	uint64_t		 last_attempt;	/* µs since the epoch, 0 = none */
};

struct bounce_msg {
	const char		*hostname;	/* Reporting-MTA, From: domain */
	const char		*sender;	/* original envelope sender: To: */
	const char		*envid;		/* DSN ENVID, or NULL */
	const char		*bounce_id;	/* queue id of the report */
	uint64_t		 arrival;	/* µs: Arrival-Date */
	uint64_t		 now;		/* µs: Date */
	uint64_t		 retry_until;	/* µs: Will-Retry-Until (delayed) */
	enum bounce_ret		 ret;
	const char		*orig;		/* the original message, CRLF */
	size_t			 orig_len;
	const struct bounce_rcpt *rcpts;
	size_t			 nrcpt;
};

/*
 * bounce_build - append the whole report message (headers and the
 * multipart/report body, CRLF line ends, 7-bit apart from a returned
 * 8-bit original) to out.  Every peer string is escaped to printable
 * ASCII first.  Returns 0, or -1 when out is full (ENOBUFS).
 */
int	 bounce_build(const struct bounce_msg *, struct buf *out);

/* bounce_action_str - "failed", "delayed", ... */
const char *bounce_action_str(enum bounce_action);

/*
 * bounce_safe - append s to out with every byte outside printable ASCII
 * (and '\') written as \xHH: no CR, LF or 8-bit byte can reach a header.
 */
void	 bounce_safe(struct buf *out, const char *s);

#endif
