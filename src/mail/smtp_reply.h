/*
 * smtp_reply.h - the SMTP client's reply parser (RFC 5321 4.2): lines in,
 * a reply out, with its code, its text capped in length, an enhanced
 * status code (RFC 3463), and the EHLO keywords the client uses.  Pure:
 * no I/O, so the fuzzer and the unit tests call it directly.
 */
#ifndef POSTBOTE_SMTP_REPLY_H
#define POSTBOTE_SMTP_REPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SMTP_REPLY_TEXT_MAX	200	/* bytes of text kept, NUL included */
#define SMTP_REPLY_LINES_MAX	100	/* lines looked at; more are counted */

#define SMTP_CAP_STARTTLS	0x01
#define SMTP_CAP_PIPELINING	0x02
#define SMTP_CAP_SIZE		0x04
#define SMTP_CAP_8BITMIME	0x08
#define SMTP_CAP_SMTPUTF8	0x10
#define SMTP_CAP_DSN		0x20
#define SMTP_CAP_AUTH_PLAIN	0x40
#define SMTP_CAP_AUTH_LOGIN	0x80
#define SMTP_CAP_ENHANCED	0x100	/* ENHANCEDSTATUSCODES (RFC 2034) */
#define SMTP_CAP_REQUIRETLS	0x200	/* RFC 8689 */

struct smtp_reply {
	int		 code;		/* 200..599 once a line is read */
	unsigned	 nlines;	/* lines of the reply being read */
	unsigned	 caps;		/* EHLO: SMTP_CAP_* named so far */
	uint64_t	 maxsize;	/* EHLO: the SIZE value, 0 = none */
	size_t		 tlen;
	char		 text[SMTP_REPLY_TEXT_MAX];	/* "250 text text" */
};

enum smtp_reply_rc {
	SMTP_REPLY_MORE = 0,	/* a "ddd-" line: more follow */
	SMTP_REPLY_DONE,	/* the last line: the reply is complete */
	SMTP_REPLY_BAD,		/* not a reply line, or the code changed */
};

/*
 * smtp_reply_line - one line (without CRLF; need not be NUL-terminated).
 * The first line of a reply resets r.  The text is the first line (its
 * code followed by a space, also in a multi-line reply), then
 * each further line's text after a space, cut at SMTP_REPLY_TEXT_MAX - 1;
 * control bytes are kept (callers log it through log_safe()).  With ehlo,
 * lines after the first are read as EHLO keywords.
 */
enum smtp_reply_rc smtp_reply_line(struct smtp_reply *r, const char *line,
	    size_t len, bool ehlo);

/* smtp_reply_dsn - the reply's enhanced status "c.s.d" when its text
 * starts with one of the reply's class, else "c.0.0". */
void	 smtp_reply_dsn(const struct smtp_reply *r, char dsn[8]);

#endif
