/*
 * dovecot_auth.h - the Dovecot authentication protocol 1.x, as a client
 * speaks it: the auth-client socket (VERSION, CPID; the server's VERSION,
 * MECH, SPID, CUID, COOKIE, DONE; AUTH, CONT, OK, FAIL) and the
 * auth-userdb socket (VERSION; USER, NOTFOUND, FAIL).  Pure: lines in,
 * fields out, requests appended to a buffer; no I/O.
 */
#ifndef POSTBOTE_DOVECOT_AUTH_H
#define POSTBOTE_DOVECOT_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

#define DOVECOT_LINE_MAX	16384	/* one server line, LF excluded */
#define DOVECOT_USER_MAX	319	/* a login, as sasl.h's */
#define DOVECOT_MECH_MAX	32
#define DOVECOT_REASON_MAX	200

enum dovecot_line_type {
	DV_VERSION = 1,		/* VERSION major minor */
	DV_MECH,		/* MECH name [flags]: offered by the server */
	DV_SPID,		/* SPID, CUID, COOKIE: taken and ignored */
	DV_CUID,
	DV_COOKIE,
	DV_DONE,		/* the end of the server's handshake */
	DV_OK,			/* OK id [user=..] */
	DV_CONT,		/* CONT id base64 */
	DV_FAIL,		/* FAIL id [user=..] [reason=..] [temp] */
	DV_USER,		/* USER id login fields (userdb) */
	DV_NOTFOUND,		/* NOTFOUND id (userdb) */
	DV_OTHER,		/* a command this client has no use for */
};

struct dovecot_line {
	enum dovecot_line_type	 type;
	uint32_t		 major, minor;		/* DV_VERSION */
	uint32_t		 id;			/* OK CONT FAIL USER
							 * NOTFOUND */
	char			 mech[DOVECOT_MECH_MAX + 1];	/* DV_MECH */
	bool			 has_user;
	char			 user[DOVECOT_USER_MAX + 1];	/* user=, or
							 * USER's login */
	bool			 temp;			/* FAIL: temp */
	char			 reason[DOVECOT_REASON_MAX + 1]; /* printable,
							 * cut */
	const char		*cont;			/* CONT's base64,
							 * points into the line */
	size_t			 contlen;
};

/*
 * dovecot_auth_parse - one server line (without its LF, len bytes, no
 * NUL inside).  Returns 0 with *out filled, or -1 for a line this client
 * must not accept (too long, a bad number, a login that is empty, too long
 * or has control bytes, base64 with bytes outside its alphabet).
 */
int	 dovecot_auth_parse(const char *line, size_t len,
	    struct dovecot_line *out);

/* dovecot_auth_escape - append s with Dovecot's tab escaping (\001 -> \0011,
 * TAB -> \001t, CR -> \001r, LF -> \001n). */
int	 dovecot_auth_escape(struct buf *, const char *s);

/* dovecot_auth_hello - "VERSION\t1\t1\nCPID\t<pid>\n" (auth-client). */
int	 dovecot_auth_hello(struct buf *, unsigned long pid);

struct dovecot_auth_info {
	const char	*service;	/* "smtp" */
	const char	*rip;		/* the client's address, or NULL */
	bool		 secured;	/* over TLS */
};

/* dovecot_auth_request - "AUTH\tid\tmech\tservice=..[\trip=..][\tsecured]
 * [\tresp=b64]\n"; resp NULL sends none, "" an empty one ("resp="). */
int	 dovecot_auth_request(struct buf *, uint32_t id, const char *mech,
	    const struct dovecot_auth_info *, const char *resp);

/* dovecot_auth_cont - "CONT\tid\tb64\n". */
int	 dovecot_auth_cont(struct buf *, uint32_t id, const char *b64);

/* dovecot_auth_user - on the auth-userdb socket:
 * "VERSION\t1\t0\nUSER\tid\tuser\tservice=..\n". */
int	 dovecot_auth_user(struct buf *, uint32_t id, const char *user,
	    const char *service);

#endif
