/*
 * addr.c - the one strict parser for mail addresses: RFC 5321 4.1.2 paths
 * and mailboxes, RFC 6531 UTF-8 addresses, EHLO/HELO arguments, and the
 * formatter that quotes a local part again when it must.
 * Runs in smtpd (MAIL, RCPT, EHLO), lookup (users and aliases files) and
 * the command line (config, sendmail arguments).  Pure: no I/O, no
 * allocation.
 * Trust: none.  Every byte may come from a peer.  Input is read one byte
 * at a time and never past its NUL.  The whole address is validated before
 * anything is copied out, and an invalid one is never "repaired" (the
 * lesson of CVE-2020-7247).  Only '@' splits local part and domain: '%'
 * and '!' are ordinary atext and never route.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <string.h>

#include "mail/addr.h"
#include "lib/util.h"

#define LABEL_MAX	63	/* RFC 1035 2.3.4 */
#define V6_TEXT_MAX	45	/* longest IPv6 text form, v4-mapped */

/* A validated mailbox, as spans of the input, before it is copied out. */
struct parts {
	const char	*local;
	size_t		 local_len;	/* as sent, quotes included */
	bool		 quoted;
	const char	*domain;
	size_t		 domain_len;
	bool		 nonascii;	/* a byte >= 0x80 in the path */
};

static size_t	 utf8_seq(const unsigned char *);
static bool	 is_atext(unsigned char);
static bool	 is_letdig(unsigned char);
static bool	 scan_dot_string(const unsigned char **, bool *);
static bool	 scan_quoted(const unsigned char **, bool *);
static bool	 scan_label(const unsigned char **, bool *);
static bool	 scan_domain(const unsigned char **, bool *);
static bool	 scan_ipv4(const unsigned char **);
static bool	 scan_ipv6(const unsigned char **);
static bool	 scan_literal(const unsigned char **);
static bool	 scan_route(const unsigned char **, bool *);
static bool	 scan_mailbox(const unsigned char **, struct parts *);
static enum addr_result finish(const struct parts *, unsigned,
		    struct mailaddr *);
static bool	 is_dot_string(const char *);
static void	 put(char *, size_t, size_t *, char);

/*
 * utf8_seq - length of the well-formed UTF-8 sequence at s (s[0] >= 0x80),
 * or 0.  RFC 3629 4: no overlong forms (C0, C1, E0 80-9F, F0 80-8F), no
 * surrogates (ED A0-BF), nothing above U+10FFFF (F4 90+, F5-FF).  Bytes
 * are read in order and the first bad one stops it, so a NUL ends it.
 */
static size_t
utf8_seq(const unsigned char *s)
{
	unsigned char	 lo = 0x80, hi = 0xbf;
	size_t		 n;

	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4;
	else
		return 0;
	if (s[0] == 0xe0)
		lo = 0xa0;
	else if (s[0] == 0xed)
		hi = 0x9f;
	else if (s[0] == 0xf0)
		lo = 0x90;
	else if (s[0] == 0xf4)
		hi = 0x8f;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return n;
}

/* is_atext - RFC 5322 3.2.3 atext, ASCII part. */
static bool
is_atext(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

static bool
is_letdig(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

/* scan_dot_string - Atom *("." Atom); RFC 6531 adds UTF8-non-ascii. */
static bool
scan_dot_string(const unsigned char **pp, bool *nonascii)
{
	const unsigned char	*p = *pp;
	bool			 want_atext = true;
	size_t			 n;

	for (;;) {
		if (is_atext(*p)) {
			p++;
			want_atext = false;
		} else if (*p >= 0x80) {
			if ((n = utf8_seq(p)) == 0)
				return false;
			p += n;
			*nonascii = true;
			want_atext = false;
		} else if (*p == '.' && !want_atext) {
			p++;
			want_atext = true;
		} else
			break;
	}
	if (want_atext)		/* empty, or ends in '.' */
		return false;
	*pp = p;
	return true;
}

/*
 * scan_quoted - DQUOTE *(qtextSMTP / quoted-pairSMTP) DQUOTE, *pp at the
 * opening quote.  qtextSMTP is %d32-33 / %d35-91 / %d93-126 (plus UTF-8
 * per RFC 6531); quoted-pairSMTP is "\" followed by %d32-126 only.
 */
static bool
scan_quoted(const unsigned char **pp, bool *nonascii)
{
	const unsigned char	*p = *pp + 1;
	size_t			 n;

	for (;;) {
		if (*p == '"')
			break;
		if (*p == '\\') {
			if (p[1] < 32 || p[1] > 126)
				return false;
			p += 2;
		} else if (*p >= 32 && *p <= 126)
			p++;
		else if (*p >= 0x80) {
			if ((n = utf8_seq(p)) == 0)
				return false;
			p += n;
			*nonascii = true;
		} else
			return false;	/* NUL, CR, LF, other controls */
	}
	*pp = p + 1;
	return true;
}

/*
 * scan_label - Let-dig [Ldh-str]: letters, digits and inner hyphens, at
 * most 63 octets.  Non-ASCII UTF-8 counts as a letter (RFC 6531 U-label);
 * the caller decides whether non-ASCII is allowed at all.
 */
static bool
scan_label(const unsigned char **pp, bool *nonascii)
{
	const unsigned char	*p = *pp, *start = *pp;
	bool			 hyphen = false;
	size_t			 n;

	for (;;) {
		if (is_letdig(*p)) {
			p++;
			hyphen = false;
		} else if (*p == '-' && p != start) {
			p++;
			hyphen = true;
		} else if (*p >= 0x80) {
			if ((n = utf8_seq(p)) == 0)
				return false;
			p += n;
			*nonascii = true;
			hyphen = false;
		} else
			break;
	}
	if (p == start || hyphen || (size_t)(p - start) > LABEL_MAX)
		return false;
	*pp = p;
	return true;
}

/* scan_domain - sub-domain *("." sub-domain); a trailing dot is an error. */
static bool
scan_domain(const unsigned char **pp, bool *nonascii)
{
	const unsigned char	*p = *pp;

	for (;;) {
		if (!scan_label(&p, nonascii))
			return false;
		if (*p != '.')
			break;
		p++;
	}
	*pp = p;
	return true;
}

/*
 * scan_ipv4 - Snum 3("." Snum), each 0-255.  Leading zeros are refused:
 * the grammar allows "010" but inet_aton() reads it as octal, and the
 * literal must mean the same address to every later consumer.
 */
static bool
scan_ipv4(const unsigned char **pp)
{
	const unsigned char	*p = *pp, *num;
	unsigned		 v;
	size_t			 n;

	for (int i = 0; i < 4; i++) {
		if (i > 0 && *p++ != '.')
			return false;
		num = p;
		for (v = 0, n = 0; *p >= '0' && *p <= '9' && n < 4; p++, n++)
			v = v * 10 + (unsigned)(*p - '0');
		if (n == 0 || n > 3 || v > 255 || (n > 1 && *num == '0'))
			return false;
	}
	*pp = p;
	return true;
}

/* scan_ipv6 - the text after "IPv6:", checked by inet_pton(3). */
static bool
scan_ipv6(const unsigned char **pp)
{
	char			 text[V6_TEXT_MAX + 1];
	unsigned char		 bin[16];
	const unsigned char	*p = *pp;
	size_t			 n = 0;

	while ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') ||
	    (*p >= 'A' && *p <= 'F') || *p == ':' || *p == '.') {
		if (n == V6_TEXT_MAX)
			return false;
		text[n++] = (char)*p++;
	}
	text[n] = '\0';
	if (inet_pton(AF_INET6, text, bin) != 1)
		return false;
	*pp = p;
	return true;
}

/*
 * scan_literal - "[" IPv4 "]" or "[IPv6:" IPv6 "]", *pp at the '['.  The
 * General-address-literal (other tags) is refused: nothing can route it.
 */
static bool
scan_literal(const unsigned char **pp)
{
	const unsigned char	*p = *pp + 1;

	if (str_iprefix((const char *)p, "IPv6:")) {
		p += 5;
		if (!scan_ipv6(&p))
			return false;
	} else if (!scan_ipv4(&p))
		return false;
	if (*p != ']')
		return false;
	*pp = p + 1;
	return true;
}

/*
 * scan_route - A-d-l ":" (RFC 5321 4.1.2), *pp at the first '@'.  RFC 5321
 * 4.1.1.3 and appendix C: source routes must be accepted and ignored.
 */
static bool
scan_route(const unsigned char **pp, bool *nonascii)
{
	const unsigned char	*p = *pp;

	for (;;) {
		if (*p++ != '@' || !scan_domain(&p, nonascii))
			return false;
		if (*p == ':')
			break;
		if (*p++ != ',')
			return false;
	}
	*pp = p + 1;
	return true;
}

/* scan_mailbox - Local-part "@" ( Domain / address-literal ), into spans. */
static bool
scan_mailbox(const unsigned char **pp, struct parts *pt)
{
	const unsigned char	*p = *pp;

	pt->local = (const char *)p;
	pt->quoted = *p == '"';
	if (pt->quoted ? !scan_quoted(&p, &pt->nonascii) :
	    !scan_dot_string(&p, &pt->nonascii))
		return false;
	pt->local_len = (size_t)((const char *)p - pt->local);
	if (*p++ != '@')
		return false;
	pt->domain = (const char *)p;
	if (*p == '[' ? !scan_literal(&p) : !scan_domain(&p, &pt->nonascii))
		return false;
	pt->domain_len = (size_t)((const char *)p - pt->domain);
	*pp = p;
	return true;
}

/*
 * finish - check the limits of a validated mailbox and copy it out:
 * quotes and backslashes removed from the local part, ASCII letters of a
 * domain name lower-cased, an address literal kept as written.  The local
 * part limit applies to the octets as sent, quoting included, so the
 * decoded form and the re-quoted form of addr_format() always fit.
 */
static enum addr_result
finish(const struct parts *pt, unsigned flags, struct mailaddr *out)
{
	size_t	 n = 0;

	if (pt->local_len > ADDR_LOCAL_MAX || pt->domain_len > ADDR_DOMAIN_MAX)
		return ADDR_TOO_LONG;
	if (pt->nonascii && !(flags & ADDR_F_UTF8))
		return ADDR_NEED_UTF8;
	if (pt->quoted) {
		for (size_t i = 1; i + 1 < pt->local_len; i++) {
			if (pt->local[i] == '\\')
				i++;
			out->local[n++] = pt->local[i];
		}
	} else {
		memcpy(out->local, pt->local, pt->local_len);
		n = pt->local_len;
	}
	out->local[n] = '\0';
	memcpy(out->domain, pt->domain, pt->domain_len);
	out->domain[pt->domain_len] = '\0';
	if (out->domain[0] != '[')
		str_lower(out->domain);
	return ADDR_OK;
}

/*
 * addr_parse_path - parse "<...>" at s (see addr.h).  On any result but
 * ADDR_OK, *out is all empty and *end is untouched.  The path limit counts
 * every octet from '<' to '>', source route included (RFC 5321 4.5.3.1.3).
 */
enum addr_result
addr_parse_path(const char *s, unsigned flags, struct mailaddr *out,
    const char **end)
{
	const unsigned char	*p = (const unsigned char *)s + 1;
	struct parts		 pt = { 0 };
	enum addr_result	 r;

	memset(out, 0, sizeof(*out));
	if (s[0] != '<')
		return ADDR_SYNTAX;
	if (*p == '>' || (str_iprefix((const char *)p, "postmaster") &&
	    p[10] == '>')) {
		if (*p == '>' ? !(flags & ADDR_F_NULL) :
		    !(flags & ADDR_F_POSTMASTER))
			return ADDR_SYNTAX;
		if (*p != '>')
			str_copy(out->local, "Postmaster", sizeof(out->local));
		if (end != NULL)
			*end = s + (*p == '>' ? 2 : 12);
		return ADDR_OK;
	}
	if (*p == '@' && !scan_route(&p, &pt.nonascii))
		return ADDR_SYNTAX;
	if (!scan_mailbox(&p, &pt) || *p++ != '>')
		return ADDR_SYNTAX;
	if ((size_t)((const char *)p - s) > ADDR_PATH_MAX)
		return ADDR_TOO_LONG;
	if ((r = finish(&pt, flags, out)) == ADDR_OK && end != NULL)
		*end = (const char *)p;
	return r;
}

/*
 * addr_parse - parse a whole string as "local@domain" (see addr.h).  The
 * flags apply as for a path: with ADDR_F_NULL "" is the null address, and
 * with ADDR_F_POSTMASTER a bare "postmaster" (any case) is accepted, so
 * that addr_format() output parses back.  The mailbox must also fit in a
 * path (ADDR_PATH_MAX - 2), or it could never be used in SMTP.
 */
enum addr_result
addr_parse(const char *s, unsigned flags, struct mailaddr *out)
{
	const unsigned char	*p = (const unsigned char *)s;
	struct parts		 pt = { 0 };

	memset(out, 0, sizeof(*out));
	if (s[0] == '\0')
		return (flags & ADDR_F_NULL) ? ADDR_OK : ADDR_SYNTAX;
	if ((flags & ADDR_F_POSTMASTER) && str_ieq(s, "postmaster")) {
		str_copy(out->local, "Postmaster", sizeof(out->local));
		return ADDR_OK;
	}
	if (!scan_mailbox(&p, &pt) || *p != '\0')
		return ADDR_SYNTAX;
	if ((size_t)((const char *)p - s) > ADDR_PATH_MAX - 2)
		return ADDR_TOO_LONG;
	return finish(&pt, flags, out);
}

/* addr_domain_check - true if s is a Domain of at most 255 octets. */
bool
addr_domain_check(const char *s, bool utf8)
{
	const unsigned char	*p = (const unsigned char *)s;
	bool			 nonascii = false;

	if (!scan_domain(&p, &nonascii) || *p != '\0')
		return false;
	if (nonascii && !utf8)
		return false;
	return (size_t)((const char *)p - s) <= ADDR_DOMAIN_MAX;
}

/*
 * addr_hostname_check - true if s is an ASCII Domain that can also be a
 * DNS host name: at most 253 octets (the longest name DNS can hold in
 * text form, RFC 1035 3.1) and a last label that is not all digits, so
 * that "192.0.2.1" is never taken for a name (RFC 3696 2).
 */
bool
addr_hostname_check(const char *s)
{
	const char	*last;

	if (!addr_domain_check(s, false) || strlen(s) > ADDR_HOSTNAME_MAX)
		return false;
	last = strrchr(s, '.');
	last = last != NULL ? last + 1 : s;
	return strspn(last, "0123456789") != strlen(last);
}

/* addr_helo_check - true if s is an ASCII Domain or an address-literal. */
bool
addr_helo_check(const char *s)
{
	const unsigned char	*p = (const unsigned char *)s;

	if (*p == '[')
		return scan_literal(&p) && *p == '\0';
	return addr_domain_check(s, false);
}

/* is_dot_string - true if the whole of s is a Dot-string (may be sent bare). */
static bool
is_dot_string(const char *s)
{
	const unsigned char	*p = (const unsigned char *)s;
	bool			 nonascii = false;

	return scan_dot_string(&p, &nonascii) && *p == '\0';
}

/* put - append c to out if it fits with room for the NUL; always count. */
static void
put(char *out, size_t size, size_t *len, char c)
{
	if (*len + 1 < size)
		out[*len] = c;
	(*len)++;
}

/*
 * addr_format - "local@domain" into out (see addr.h).  A local part that
 * is not a Dot-string is quoted, with '"' and '\' escaped: the shortest
 * quoting, so it is never longer than what was parsed.  An address with
 * an empty domain ("Postmaster") is written without '@'.  out may be NULL
 * when size is 0.
 */
size_t
addr_format(const struct mailaddr *a, char *out, size_t size)
{
	size_t	 len = 0;
	bool	 quote;

	if (!addr_is_null(a)) {
		quote = !is_dot_string(a->local);
		if (quote)
			put(out, size, &len, '"');
		for (const char *c = a->local; *c != '\0'; c++) {
			if (quote && (*c == '"' || *c == '\\'))
				put(out, size, &len, '\\');
			put(out, size, &len, *c);
		}
		if (quote)
			put(out, size, &len, '"');
		if (a->domain[0] != '\0')
			put(out, size, &len, '@');
		for (const char *c = a->domain; *c != '\0'; c++)
			put(out, size, &len, *c);
	}
	if (size > 0)
		out[len < size ? len : size - 1] = '\0';
	return len;
}

/* addr_is_null - true for the null path <>: both parts empty. */
bool
addr_is_null(const struct mailaddr *a)
{
	return a->local[0] == '\0' && a->domain[0] == '\0';
}

/* addr_is_ascii - true if neither part has a byte >= 0x80. */
bool
addr_is_ascii(const struct mailaddr *a)
{
	for (const char *c = a->local; *c != '\0'; c++)
		if ((unsigned char)*c >= 0x80)
			return false;
	for (const char *c = a->domain; *c != '\0'; c++)
		if ((unsigned char)*c >= 0x80)
			return false;
	return true;
}

/*
 * addr_local_is_safe_path - true if local can be one path component of a
 * mailbox directory: not empty, no '/', no control byte (< 0x20, 0x7f),
 * and no leading '.' (which also excludes "." and "..").
 */
bool
addr_local_is_safe_path(const char *local)
{
	if (local == NULL || local[0] == '\0' || local[0] == '.')
		return false;
	for (const unsigned char *c = (const unsigned char *)local; *c != '\0';
	    c++)
		if (*c == '/' || *c < 0x20 || *c == 0x7f)
			return false;
	return true;
}
