/*
 * smtp_parse.h - parsers for SMTP command arguments: the MAIL and RCPT
 * paths with their ESMTP parameters (SIZE, BODY, SMTPUTF8, RET, ENVID,
 * NOTIFY, ORCPT, AUTH, REQUIRETLS), xtext (RFC 3461 4) and BDAT arguments.
 * Pure: no I/O, no allocation.  The session code owns the reply.
 */
#ifndef POSTBOTE_SMTP_PARSE_H
#define POSTBOTE_SMTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mail/addr.h"

#define SMTP_ENVID_MAX	100	/* RFC 3461 4.4, decoded */
#define SMTP_ORCPT_MAX	500	/* RFC 3461 4.2, encoded */
#define SMTP_AUTH_MAX	500	/* RFC 4954 5 */

enum smtp_parse_result {
	SP_OK = 0,
	SP_SYNTAX,		/* 501 5.5.2: "FROM:"/"TO:" missing, junk */
	SP_BAD_ADDR,		/* 501 5.1.7 (sender) / 501 5.1.3 (rcpt) */
	SP_ADDR_TOO_LONG,	/* 501 5.1.7 / 5.1.3, path too long */
	SP_NEED_UTF8,		/* 553 5.6.7: non-ASCII without SMTPUTF8 */
	SP_UNKNOWN_PARAM,	/* 555 5.5.4: parameter not recognized */
	SP_BAD_PARAM,		/* 501 5.5.4: bad value or duplicate */
};

enum smtp_body { SMTP_BODY_NONE = 0, SMTP_BODY_7BIT, SMTP_BODY_8BITMIME };
enum smtp_ret { SMTP_RET_NONE = 0, SMTP_RET_FULL, SMTP_RET_HDRS };

#define SMTP_NOTIFY_NEVER	0x01
#define SMTP_NOTIFY_SUCCESS	0x02
#define SMTP_NOTIFY_FAILURE	0x04
#define SMTP_NOTIFY_DELAY	0x08

struct smtp_mail_args {
	struct mailaddr	 addr;		/* null path allowed */
	bool		 has_size;
	uint64_t	 size;		/* SIZE=, bytes */
	enum smtp_body	 body;
	bool		 smtputf8;
	bool		 requiretls;	/* RFC 8689 REQUIRETLS */
	enum smtp_ret	 ret;
	char		 envid[SMTP_ENVID_MAX + 1];	/* decoded; "" = none */
	bool		 has_auth;
	char		 auth[SMTP_AUTH_MAX + 1];	/* decoded; "<>" kept */
	const char	*bad_param;	/* on SP_*_PARAM: the parameter's start */
};

struct smtp_rcpt_args {
	struct mailaddr	 addr;
	unsigned	 notify;	/* SMTP_NOTIFY_*; 0 = not given */
	/* ORCPT=addr-type;xtext, decoded: "rfc822;bob@example.org" */
	char		 orcpt[SMTP_ORCPT_MAX + 1];
	const char	*bad_param;
};

/*
 * smtp_parse_mail - parse what follows "MAIL " up to (not incl.) CRLF,
 * i.e. "FROM:<addr> [params]".  "FROM:" is case-insensitive; spaces after
 * the colon are tolerated, and so is a mailbox without the angle brackets
 * ("FROM: user@domain", as Postfix and chasquid take it; not the null
 * path, which needs "<>").  utf8_ok tells whether SMTPUTF8 is offered:
 * the address may use UTF-8 only if the SMTPUTF8 parameter is present.
 * Parameters (case-insensitive keywords) are separated by single or more
 * spaces; a duplicate is SP_BAD_PARAM.  SIZE value must be 1-20 digits
 * and fit in uint64_t.  BODY=7BIT|8BITMIME.  RET=FULL|HDRS.  ENVID and
 * AUTH values are xtext, decoded and checked (no CR, LF, NUL; length).
 * REQUIRETLS (RFC 8689 3) takes no value; whether the session may use
 * it (TLS) is the session's question.
 */
enum smtp_parse_result smtp_parse_mail(const char *arg,
	    struct smtp_mail_args *out);

/*
 * smtp_parse_rcpt - parse what follows "RCPT ": "TO:<addr> [params]".
 * smtputf8 tells whether the transaction's MAIL had SMTPUTF8.  "<Postmaster>"
 * (any case) without a domain is accepted with an empty domain.  As for
 * MAIL, the angle brackets may be left out ("TO: user@domain",
 * "TO:postmaster").
 * NOTIFY=NEVER or a comma list of SUCCESS, FAILURE, DELAY (NEVER alone).
 * ORCPT=type;xtext with type an atom and the decoded value free of CR, LF,
 * NUL and control characters.
 */
enum smtp_parse_result smtp_parse_rcpt(const char *arg, bool smtputf8,
	    struct smtp_rcpt_args *out);

/*
 * smtp_parse_bdat - "BDAT <size> [LAST]": size is 1-20 digits fitting
 * uint64_t; LAST is case-insensitive.  Returns 0 or -1 on syntax error.
 */
int	 smtp_parse_bdat(const char *arg, uint64_t *size, bool *last);

/*
 * smtp_parse_xtext_decode - RFC 3461 4: "+XX" (upper-case hex) stands for
 * a byte; other chars must be in "!" .. "~" except "+" and "=".  Writes at
 * most outsz-1 bytes and a NUL.  Returns the decoded length, or -1 on bad
 * syntax, a decoded CR, LF, NUL or other control byte, or too long.
 */
long	 smtp_parse_xtext_decode(const char *in, size_t inlen, char *out,
	    size_t outsz);
/* smtp_parse_xtext_encode - the reverse; returns length needed (snprintf
 * style). */
size_t	 smtp_parse_xtext_encode(const char *in, size_t inlen, char *out,
	    size_t outsz);

/* smtp_parse_result_str - a short name for logs ("syntax", ...). */
const char *smtp_parse_result_str(enum smtp_parse_result);

#endif
