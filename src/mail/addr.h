/*
 * addr.h - mail addresses: the one strict parser for every address that
 * enters postbote (SMTP paths, config, users and aliases files).
 * Pure: no I/O, no allocation.
 */
#ifndef POSTBOTE_ADDR_H
#define POSTBOTE_ADDR_H

#include <stdbool.h>
#include <stddef.h>

#define ADDR_LOCAL_MAX	64	/* RFC 5321 4.5.3.1.1, octets */
#define ADDR_DOMAIN_MAX	255	/* RFC 5321 4.5.3.1.2, octets */
#define ADDR_HOSTNAME_MAX 253	/* RFC 1035 3.1, a name in text form */
#define ADDR_PATH_MAX	256	/* RFC 5321 4.5.3.1.3, incl. "<>" */
#define ADDR_TEXT_MAX	(ADDR_LOCAL_MAX * 2 + 3 + ADDR_DOMAIN_MAX + 1)

/*
 * A parsed address.  local holds the local part with quoting removed
 * ("a b"@x gives local = a b); domain holds the domain with ASCII letters
 * lower-cased, or an address literal as written ("[192.0.2.1]",
 * "[IPv6:::1]").  The null path <> has both empty.  An address given
 * without a domain (only "<Postmaster>" at RCPT) has an empty domain.
 */
struct mailaddr {
	char	local[ADDR_LOCAL_MAX + 1];
	char	domain[ADDR_DOMAIN_MAX + 1];
};

enum addr_result {
	ADDR_OK = 0,
	ADDR_SYNTAX,		/* not an RFC 5321 path or mailbox */
	ADDR_TOO_LONG,		/* local part, domain or path over the limit */
	ADDR_NEED_UTF8,		/* non-ASCII without ADDR_F_UTF8 */
};

/* flags */
#define ADDR_F_NULL		0x01	/* "<>" is allowed (MAIL FROM) */
#define ADDR_F_UTF8		0x02	/* RFC 6531 UTF-8 in local and domain */
#define ADDR_F_POSTMASTER	0x04	/* "<Postmaster>" without domain */

/*
 * addr_parse_path - parse an RFC 5321 Reverse-path/Forward-path that starts
 * at s[0] == '<'.  A source route ("<@a,@b:u@d>") is accepted and
 * ignored.  Only '@' separates local part and domain: '%' and '!' are
 * ordinary local-part characters and never route.  Trailing-dot domains,
 * empty labels, labels over 63 octets or starting/ending with '-' are
 * syntax errors.  Non-ASCII must be well-formed UTF-8.  On ADDR_OK, *end
 * (if not NULL) points just past the '>'.
 */
enum addr_result addr_parse_path(const char *s, unsigned flags,
	    struct mailaddr *out, const char **end);

/*
 * addr_parse - parse a bare "local@domain" (no angle brackets, no source
 * route), the whole NUL-terminated string.  Used for config, users and
 * aliases files and sendmail arguments.
 */
enum addr_result addr_parse(const char *s, unsigned flags,
	    struct mailaddr *out);

/* addr_domain_check - true if s is a valid Domain (RFC 5321 4.1.2), with
 * UTF-8 U-labels allowed when utf8 is set.  No trailing dot. */
bool	 addr_domain_check(const char *s, bool utf8);
/* addr_hostname_check - an ASCII domain usable as a DNS host name (253
 * octets at most, last label not all digits). */
bool	 addr_hostname_check(const char *s);

/* addr_helo_check - true if s is a valid EHLO/HELO argument: a Domain or an
 * address-literal ([IPv4], [IPv6:...]). */
bool	 addr_helo_check(const char *s);

/*
 * addr_format - write the address as "local@domain", quoting the local part
 * when it is not a Dot-string (RFC 5321 4.1.2).  The null path gives "".
 * Returns the length it needed (snprintf semantics; >= size means cut).
 */
size_t	 addr_format(const struct mailaddr *, char *out, size_t size);

bool	 addr_is_null(const struct mailaddr *);
/* addr_is_ascii - true if neither part has a byte >= 0x80. */
bool	 addr_is_ascii(const struct mailaddr *);
/* addr_local_is_safe_path - true if the local part can name a mailbox
 * directory: not empty, no '/', no NUL/controls, not "." or "..", and not
 * starting with '.'. */
bool	 addr_local_is_safe_path(const char *local);

#endif
