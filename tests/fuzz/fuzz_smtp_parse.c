/*
 * fuzz_smtp_parse.c - libFuzzer target for smtp_parse.c.  The first input
 * byte picks the parser: '0' MAIL, '1' RCPT, '2' RCPT in an SMTPUTF8
 * transaction, '3' BDAT (low two bits).  The rest, cut at its first NUL,
 * is copied into a heap block of exactly its size, so ASan catches any
 * read past the terminator.  The whole rest, NULs included, also goes to
 * smtp_parse_xtext_decode() without a terminator.  Accepted values must be within
 * their limits and free of control bytes, bad_param must point into the
 * argument, and xtext must round-trip.  A path taken without angle
 * brackets must be taken the same with them.  Any violation aborts.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mail/addr.h"
#include "mail/smtp_parse.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define FUZZ_MAX	4096

static void	 violation(const char *);
static void	 clean(const char *, size_t, const char *);
static void	 check_bad_param(enum smtp_parse_result, const char *,
		    const char *, size_t);
static void	 fuzz_mail(const char *, size_t);
static void	 fuzz_rcpt(const char *, size_t, bool);
static void	 fuzz_xtext(const uint8_t *, size_t);
static char	*bracketed(const char *, size_t);

static void
violation(const char *what)
{
	fprintf(stderr, "fuzz_smtp_parse: %s\n", what);
	abort();
}

/* clean - s is NUL-terminated within max bytes and has no control byte. */
static void
clean(const char *s, size_t max, const char *what)
{
	size_t	 n = strnlen(s, max + 1);

	if (n > max)
		violation(what);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			violation(what);
}

static void
check_bad_param(enum smtp_parse_result r, const char *bad, const char *s,
    size_t len)
{
	if (r == SP_UNKNOWN_PARAM || r == SP_BAD_PARAM) {
		if (bad == NULL || bad < s || bad >= s + len)
			violation("bad_param outside the argument");
	} else if (bad != NULL)
		violation("bad_param set without a parameter error");
}

/*
 * bracketed - s (whose first skip bytes are "FROM:" or "TO:") with its
 * bare path put in angle brackets; NULL when it has them already.
 */
static char *
bracketed(const char *s, size_t skip)
{
	const char	*p = s + skip;
	size_t		 n, len = strlen(s);
	char		*b;

	while (*p == ' ')
		p++;
	if (*p == '<' || (b = malloc(len + 3)) == NULL)
		return NULL;
	n = strcspn(p, " ");
	snprintf(b, len + 3, "%.*s<%.*s>%s", (int)(p - s), s, (int)n, p,
	    p + n);
	return b;
}

static void
fuzz_mail(const char *s, size_t len)
{
	struct smtp_mail_args	 m, mb;
	enum smtp_parse_result	 r = smtp_parse_mail(s, &m);
	char			*b;

	check_bad_param(r, m.bad_param, s, len);
	if (r != SP_OK)
		return;
	if ((b = bracketed(s, 5)) != NULL) {
		if (smtp_parse_mail(b, &mb) != SP_OK ||
		    memcmp(&m.addr, &mb.addr, sizeof(m.addr)) != 0)
			violation("bare sender differs from <sender>");
		free(b);
	}
	clean(m.envid, SMTP_ENVID_MAX, "envid");
	clean(m.auth, SMTP_AUTH_MAX, "auth");
	if (!m.smtputf8 && !addr_is_ascii(&m.addr))
		violation("UTF-8 sender without SMTPUTF8");
	if (m.has_auth != (m.auth[0] != '\0'))
		violation("has_auth");
}

static void
fuzz_rcpt(const char *s, size_t len, bool utf8)
{
	struct smtp_rcpt_args	 a, ab;
	enum smtp_parse_result	 r = smtp_parse_rcpt(s, utf8, &a);
	char			*b;

	check_bad_param(r, a.bad_param, s, len);
	if (r != SP_OK)
		return;
	if ((b = bracketed(s, 3)) != NULL) {
		if (smtp_parse_rcpt(b, utf8, &ab) != SP_OK ||
		    memcmp(&a.addr, &ab.addr, sizeof(a.addr)) != 0)
			violation("bare recipient differs from <recipient>");
		free(b);
	}
	clean(a.orcpt, SMTP_ORCPT_MAX, "orcpt");
	if (a.orcpt[0] != '\0' && strchr(a.orcpt, ';') == NULL)
		violation("orcpt without ';'");
	if (!utf8 && !addr_is_ascii(&a.addr))
		violation("UTF-8 recipient without SMTPUTF8");
	if (addr_is_null(&a.addr))
		violation("null recipient");
	if ((a.notify & SMTP_NOTIFY_NEVER) && a.notify != SMTP_NOTIFY_NEVER)
		violation("NEVER with others");
}

/* fuzz_xtext - decode raw bytes; what decodes must encode and decode back. */
static void
fuzz_xtext(const uint8_t *p, size_t len)
{
	char	 dec[FUZZ_MAX + 1], enc[3 * FUZZ_MAX + 1], again[FUZZ_MAX + 1];
	char	*raw = malloc(len ? len : 1);
	long	 n, m;
	size_t	 e;

	if (raw == NULL)
		return;
	memcpy(raw, p, len);
	n = smtp_parse_xtext_decode(raw, len, dec, sizeof(dec));
	free(raw);
	if (n < 0)
		return;
	if ((size_t)n > len || strlen(dec) != (size_t)n)
		violation("decoded length");
	clean(dec, FUZZ_MAX, "decoded xtext");
	e = smtp_parse_xtext_encode(dec, (size_t)n, enc, sizeof(enc));
	if (e >= sizeof(enc) || e > len)
		violation("encoded length");
	m = smtp_parse_xtext_decode(enc, e, again, sizeof(again));
	if (m != n || memcmp(dec, again, (size_t)n) != 0)
		violation("xtext round trip");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t	 bsize;
	bool		 last;
	size_t		 len;
	char		*s;

	if (size < 1 || size > FUZZ_MAX)
		return 0;
	len = strnlen((const char *)data + 1, size - 1);
	if ((s = malloc(len + 1)) == NULL)
		return 0;
	memcpy(s, data + 1, len);
	s[len] = '\0';
	switch (data[0] & 3) {
	case 0:
		fuzz_mail(s, len);
		break;
	case 1:
	case 2:
		fuzz_rcpt(s, len, (data[0] & 3) == 2);
		break;
	default:
		if (smtp_parse_bdat(s, &bsize, &last) != 0 &&
		    (bsize != 0 || last))
			violation("bdat output on error");
		break;
	}
	free(s);
	fuzz_xtext(data + 1, size - 1);
	return 0;
}
