/*
 * bounce.c - builds RFC 3464 delivery status notifications: a
 * multipart/report (RFC 6522) with a human-readable text/plain part, a
 * message/delivery-status part, and the original message's headers
 * (text/rfc822-headers) or the whole message (message/rfc822).
 *
 * Runs in the queue process, which turns permanent failures, expiry, delay
 * and requested success notices into these messages.  Pure: no I/O.
 *
 * Trust: the recipient addresses, ORCPT, ENVID and status texts come from
 * peers (SMTP clients and, through deliver, remote servers).  Each is
 * escaped by bounce_safe() to printable ASCII before it is written, so no
 * CR, LF or 8-bit byte of theirs can start a header or a MIME part.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "mail/bounce.h"
#include "lib/util.h"

#define HEADERS_MAX	(64 * 1024)	/* returned header block, at most */
#define DIAG_MAX	900		/* a Diagnostic-Code stays one line */

static const char *const action_words[] = {
	[BOUNCE_FAILED] = "failed",
	[BOUNCE_DELAYED] = "delayed",
	[BOUNCE_DELIVERED] = "delivered",
	[BOUNCE_RELAYED] = "relayed",
	[BOUNCE_EXPANDED] = "expanded",
};

static void	 put_date(struct buf *, uint64_t);
static bool	 is_dsn_code(const char *, size_t *);
static enum bounce_action report_kind(const struct bounce_msg *);
static void	 choose_boundary(const struct bounce_msg *, char *, size_t);
static void	 put_headers(const struct bounce_msg *, struct buf *,
		    const char *);
static void	 put_text(const struct bounce_msg *, struct buf *);
static void	 put_rcpt_status(const struct bounce_rcpt *,
		    const struct bounce_msg *, struct buf *);
static void	 put_status(const struct bounce_msg *, struct buf *);
static size_t	 header_len(const char *, size_t);
static bool	 has_8bit(const char *, size_t);
static void	 put_original(const struct bounce_msg *, struct buf *);

/* bounce_action_str - the RFC 3464 word of an action. */
const char *
bounce_action_str(enum bounce_action a)
{
	ASSERT((size_t)a < NELEM(action_words));
	return action_words[a];
}

/* bounce_safe - see bounce.h. */
void
bounce_safe(struct buf *out, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (const unsigned char *p = (const unsigned char *)s;
	    s != NULL && *p != '\0'; p++) {
		if (*p >= 0x20 && *p < 0x7f && *p != '\\') {
			buf_putc(out, (char)*p);
			continue;
		}
		buf_putc(out, '\\');
		buf_putc(out, 'x');
		buf_putc(out, hex[*p >> 4]);
		buf_putc(out, hex[*p & 0xf]);
	}
}

/* put_date - RFC 5322 3.3 date-time, in UTC. */
static void
put_date(struct buf *b, uint64_t usec)
{
	time_t		t = (time_t)(usec / 1000000);
	struct tm	tm;
	char		s[64];

	gmtime_r(&t, &tm);
	strftime(s, sizeof(s), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	buf_puts(b, s);
}

/* is_dsn_code - s starts with an RFC 3463 status code "c.s.d" (class 2,
 * 4 or 5, subject and detail 1-3 digits); *len is its length. */
static bool
is_dsn_code(const char *s, size_t *len)
{
	size_t	i = 0;

	if (s == NULL || (s[0] != '2' && s[0] != '4' && s[0] != '5'))
		return false;
	i = 1;
	for (int part = 0; part < 2; part++) {
		size_t	n = 0;

		if (s[i++] != '.')
			return false;
		while (s[i] >= '0' && s[i] <= '9' && n < 4) {
			i++;
			n++;
		}
		if (n == 0 || n > 3)
			return false;
	}
	if (s[i] != '\0' && s[i] != ' ')
		return false;
	*len = i;
	return true;
}

/* report_kind - what the report is mostly about: failure first. */
static enum bounce_action
report_kind(const struct bounce_msg *m)
{
	bool	delayed = false;

	for (size_t i = 0; i < m->nrcpt; i++) {
		if (m->rcpts[i].action == BOUNCE_FAILED)
			return BOUNCE_FAILED;
		if (m->rcpts[i].action == BOUNCE_DELAYED)
			delayed = true;
	}
	return delayed ? BOUNCE_DELAYED : BOUNCE_DELIVERED;
}

/* choose_boundary - one that does not occur in the returned message
 * (RFC 2046 5.1.1); "=_" cannot occur in base64 or quoted-printable. */
static void
choose_boundary(const struct bounce_msg *m, char *out, size_t len)
{
	for (unsigned n = 0;; n++) {
		snprintf(out, len, "=_postbote_%s_%u",
		    m->bounce_id != NULL ? m->bounce_id : "report", n);
		if (m->orig == NULL || memmem(m->orig, m->orig_len, out,
		    strlen(out)) == NULL)
			return;
	}
}

static void
put_headers(const struct bounce_msg *m, struct buf *b, const char *bnd)
{
	static const char *const subjects[] = {
		[BOUNCE_FAILED] = "Undelivered Mail Returned to Sender",
		[BOUNCE_DELAYED] = "Delayed Mail (still being retried)",
		[BOUNCE_DELIVERED] = "Successful Mail Delivery Report",
	};

	buf_puts(b, "From: Mail Delivery System <MAILER-DAEMON@");
	bounce_safe(b, m->hostname);
	buf_puts(b, ">\r\nTo: <");
	bounce_safe(b, m->sender);
	buf_printf(b, ">\r\nSubject: %s\r\nDate: ", subjects[report_kind(m)]);
	put_date(b, m->now);
	buf_puts(b, "\r\nMessage-ID: <");
	bounce_safe(b, m->bounce_id);
	buf_putc(b, '@');
	bounce_safe(b, m->hostname);
	buf_printf(b, ">\r\nAuto-Submitted: auto-replied\r\n"
	    "MIME-Version: 1.0\r\nContent-Type: multipart/report; "
	    "report-type=delivery-status;\r\n\tboundary=\"%s\"\r\n\r\n"
	    "This is a MIME-encapsulated delivery status report.\r\n", bnd);
}

/* put_text - the human-readable part (RFC 3464 2, first part). */
static void
put_text(const struct bounce_msg *m, struct buf *b)
{
	enum bounce_action	 kind = report_kind(m);

	buf_puts(b, "Content-Type: text/plain; charset=us-ascii\r\n"
	    "Content-Description: Notification\r\n\r\n"
	    "This is the mail system at host ");
	bounce_safe(b, m->hostname);
	buf_puts(b, ".\r\n\r\n");
	if (kind == BOUNCE_FAILED)
		buf_puts(b, "Your message could not be delivered to one or "
		    "more recipients.\r\nIt (or its header) is attached "
		    "below. The errors were:\r\n\r\n");
	else if (kind == BOUNCE_DELAYED) {
		buf_puts(b, "Your message has not been delivered yet to the "
		    "recipients below.\r\nThis is a warning only: delivery "
		    "will be tried again until\r\n");
		put_date(b, m->retry_until);
		buf_puts(b, ". You do not need to send it again.\r\n\r\n");
	} else
		buf_puts(b, "Your message was delivered as you asked to be "
		    "told:\r\n\r\n");
	for (size_t i = 0; i < m->nrcpt; i++) {
		buf_puts(b, "<");
		bounce_safe(b, m->rcpts[i].addr);
		buf_printf(b, ">: %s", bounce_action_str(m->rcpts[i].action));
		if (m->rcpts[i].status != NULL) {
			buf_puts(b, ": ");
			bounce_safe(b, m->rcpts[i].status);
		}
		buf_puts(b, "\r\n");
	}
}

/* put_rcpt_status - one per-recipient block (RFC 3464 2.3). */
static void
put_rcpt_status(const struct bounce_rcpt *r, const struct bounce_msg *m,
    struct buf *b)
{
	static const char *const fallback[] = {
		[BOUNCE_FAILED] = "5.0.0", [BOUNCE_DELAYED] = "4.0.0",
		[BOUNCE_DELIVERED] = "2.0.0", [BOUNCE_RELAYED] = "2.0.0",
		[BOUNCE_EXPANDED] = "2.0.0",
	};
	const char	*st = r->status, *text = NULL;
	size_t		 n = 0;

	buf_puts(b, "\r\n");
	if (r->orcpt != NULL && strchr(r->orcpt, ';') != NULL) {
		buf_puts(b, "Original-Recipient: ");
		bounce_safe(b, r->orcpt);
		buf_puts(b, "\r\n");
	}
	buf_puts(b, "Final-Recipient: rfc822; ");
	bounce_safe(b, r->addr);
	buf_printf(b, "\r\nAction: %s\r\nStatus: ", bounce_action_str(
	    r->action));
	if (is_dsn_code(st, &n)) {
		buf_append(b, st, n);
		text = st[n] == ' ' ? st + n + 1 : NULL;
	} else {
		buf_puts(b, fallback[r->action]);
		text = st;
	}
	buf_puts(b, "\r\n");
	if (r->remote_mta != NULL) {
		buf_puts(b, "Remote-MTA: dns; ");
		bounce_safe(b, r->remote_mta);
		buf_puts(b, "\r\n");
	}
	if (text != NULL && *text != '\0') {
		char	cut[DIAG_MAX + 1];
		bool	smtp = text[0] >= '2' && text[0] <= '5' &&
		    text[1] >= '0' && text[1] <= '9' && text[2] >= '0' &&
		    text[2] <= '9' && (text[3] == ' ' || text[3] == '-' ||
		    text[3] == '\0');

		str_copy(cut, text, sizeof(cut));
		buf_printf(b, "Diagnostic-Code: %s; ", smtp ? "smtp" :
		    "X-Postbote");
		bounce_safe(b, cut);
		buf_puts(b, "\r\n");
	}
	if (r->last_attempt != 0) {
		buf_puts(b, "Last-Attempt-Date: ");
		put_date(b, r->last_attempt);
		buf_puts(b, "\r\n");
	}
	if (r->action == BOUNCE_DELAYED && m->retry_until != 0) {
		buf_puts(b, "Will-Retry-Until: ");
		put_date(b, m->retry_until);
		buf_puts(b, "\r\n");
	}
}

/* put_status - the message/delivery-status part (RFC 3464 2.2, 2.3). */
static void
put_status(const struct bounce_msg *m, struct buf *b)
{
	buf_puts(b, "Content-Type: message/delivery-status\r\n"
	    "Content-Description: Delivery report\r\n\r\n"
	    "Reporting-MTA: dns; ");
	bounce_safe(b, m->hostname);
	buf_puts(b, "\r\n");
	if (m->envid != NULL) {
		buf_puts(b, "Original-Envelope-Id: ");
		bounce_safe(b, m->envid);
		buf_puts(b, "\r\n");
	}
	if (m->arrival != 0) {
		buf_puts(b, "Arrival-Date: ");
		put_date(b, m->arrival);
		buf_puts(b, "\r\n");
	}
	for (size_t i = 0; i < m->nrcpt; i++)
		put_rcpt_status(&m->rcpts[i], m, b);
}

/* header_len - the header block with its last CRLF, without the empty
 * line: all of p when there is no body. */
static size_t
header_len(const char *p, size_t len)
{
	const char	*end;

	if (len >= 2 && p[0] == '\r' && p[1] == '\n')
		return 0;
	end = memmem(p, len, "\r\n\r\n", 4);
	return end != NULL ? (size_t)(end - p) + 2 : len;
}

static bool
has_8bit(const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)p[i] >= 0x80)
			return true;
	return false;
}

/* put_original - the third part: the whole message (RET=FULL or no RET,
 * up to BOUNCE_FULL_MAX; only for failures, as RFC 3461 4.3 suggests) or
 * its headers. */
static void
put_original(const struct bounce_msg *m, struct buf *b)
{
	bool	full = m->ret != BOUNCE_RET_HDRS && m->orig_len <=
	    BOUNCE_FULL_MAX && report_kind(m) == BOUNCE_FAILED;
	size_t	n = full ? m->orig_len : MIN(header_len(m->orig, m->orig_len),
	    HEADERS_MAX);

	buf_printf(b, "Content-Type: %s\r\n", full ? "message/rfc822" :
	    "text/rfc822-headers");
	if (has_8bit(m->orig, n))
		buf_puts(b, "Content-Transfer-Encoding: 8bit\r\n");
	buf_printf(b, "Content-Description: %s\r\n\r\n", full ?
	    "Undelivered message" : "Message headers");
	buf_append(b, m->orig, n);
	if (n > 0 && (n < 2 || m->orig[n - 2] != '\r' || m->orig[n - 1] !=
	    '\n'))
		buf_puts(b, "\r\n");
}

/* bounce_build - see bounce.h. */
int
bounce_build(const struct bounce_msg *m, struct buf *out)
{
	char	bnd[96];

	choose_boundary(m, bnd, sizeof(bnd));
	put_headers(m, out, bnd);
	buf_printf(out, "\r\n--%s\r\n", bnd);
	put_text(m, out);
	buf_printf(out, "\r\n--%s\r\n", bnd);
	put_status(m, out);
	if (m->orig != NULL) {
		buf_printf(out, "\r\n--%s\r\n", bnd);
		put_original(m, out);
	}
	if (buf_printf(out, "\r\n--%s--\r\n", bnd) == -1) {
		errno = ENOBUFS;
		return -1;
	}
	return 0;
}
