/*
 * sasl.h - SASL message decoding for SMTP AUTH (RFC 4954): strict base64
 * (RFC 4648 4), the PLAIN (RFC 4616) and LOGIN mechanisms, the "=" empty
 * initial response and the "*" cancel.  Pure: text in, fields out, no I/O.
 */
#ifndef POSTBOTE_SASL_H
#define POSTBOTE_SASL_H

#include <stdbool.h>
#include <stddef.h>

#define SASL_USER_MAX	319		/* fits smtp_session.auth[320] */
#define SASL_PASS_MAX	512
#define SASL_DECODED_MAX 1024		/* one decoded response */
#define SASL_B64_MAX	(((SASL_DECODED_MAX + 2) / 3) * 4)

enum sasl_result {
	SASL_OK = 0,
	SASL_CANCEL,		/* "*": the client gave up (501 5.7.0) */
	SASL_BAD_B64,		/* not base64 (501 5.5.2) */
	SASL_TOO_LONG,		/* over the bounds above (500 5.5.6) */
	SASL_BAD_MSG,		/* decoded, but malformed (501 5.5.2) */
	SASL_BAD_AUTHZ,		/* PLAIN authzid other than authcid (535) */
};

enum sasl_mech { SASL_MECH_NONE = 0, SASL_MECH_PLAIN, SASL_MECH_LOGIN };

struct sasl_cred {
	char	 user[SASL_USER_MAX + 1];
	char	 pass[SASL_PASS_MAX + 1];
};

/* sasl_mech_parse - "PLAIN" / "LOGIN" (any case), else SASL_MECH_NONE. */
enum sasl_mech sasl_mech_parse(const char *name);


/*
 * sasl_response - one client response: "*" is SASL_CANCEL; with initial
 * (the argument of the AUTH command) "=" is the empty response; else
 * strict base64, decoded into out (outsz including the NUL).
 */
enum sasl_result sasl_response(const char *text, bool initial,
	    unsigned char *out, size_t outsz, size_t *outlen);

/*
 * sasl_plain - RFC 4616: authzid NUL authcid NUL passwd.  authcid must be
 * non-empty, printable and at most SASL_USER_MAX bytes; authzid empty or
 * equal to authcid (case-insensitive); passwd without NUL, at most
 * SASL_PASS_MAX bytes.  text is the client response as sent (base64, "*"
 * or "=" when initial).  On SASL_OK c is filled.
 */
enum sasl_result sasl_plain(const char *text, bool initial,
	    struct sasl_cred *c);

/*
 * sasl_login_field - one LOGIN step: the user name (is_user: printable,
 * non-empty, at most SASL_USER_MAX) or the password (at most
 * SASL_PASS_MAX, no NUL), decoded into out (outsz including the NUL).
 */
enum sasl_result sasl_login_field(const char *text, bool initial,
	    bool is_user, char *out, size_t outsz);

#endif
