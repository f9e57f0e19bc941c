/*
 * smtp_reply.c - parse the replies of an SMTP server (the client side of
 * RFC 5321 4.2, RFC 3463 enhanced codes, RFC 5321 4.1.1.1 EHLO keywords).
 * Runs in the deliver process on bytes from a remote server (SMTP, or an
 * LMTP server's replies, which have the same form): untrusted.
 * Everything is bounded: the caller caps the line length, the text kept
 * is capped here, and no peer byte is stored outside r->text.  A reply
 * whose lines change code is refused (CVE-2020-8794 came from a client
 * trusting multi-line replies).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "mail/smtp_reply.h"
#include "lib/util.h"

static void	 text_add(struct smtp_reply *, const char *, size_t);
static unsigned	 ehlo_keyword(struct smtp_reply *, const char *, size_t);

/* text_add - append a line's text, space-separated, capped. */
static void
text_add(struct smtp_reply *r, const char *p, size_t len)
{
	if (r->tlen > 0 && r->tlen < sizeof(r->text) - 1)
		r->text[r->tlen++] = ' ';
	len = MIN(len, sizeof(r->text) - 1 - r->tlen);
	memcpy(r->text + r->tlen, p, len);
	r->tlen += len;
	r->text[r->tlen] = '\0';
}

/* word - the first space-separated word of p[0..len) into w. */
static size_t
word(const char *p, size_t len, char *w, size_t wsize)
{
	size_t	n = 0;

	while (n < len && n < wsize - 1 && p[n] != ' ')
		n++;
	memcpy(w, p, n);
	w[n] = '\0';
	return n;
}

/* auth_mechs - the AUTH mechanisms we can use in p[0..len). */
static unsigned
auth_mechs(const char *p, size_t len)
{
	unsigned	caps = 0;
	char		w[32];
	size_t		n;

	while (len > 0) {
		if (*p == ' ') {
			p++;
			len--;
			continue;
		}
		n = word(p, len, w, sizeof(w));
		caps |= str_ieq(w, "PLAIN") ? SMTP_CAP_AUTH_PLAIN :
		    str_ieq(w, "LOGIN") ? SMTP_CAP_AUTH_LOGIN : 0;
		while (n < len && p[n] != ' ')	/* a cut-off long word */
			n++;
		p += n;
		len -= n;
	}
	return caps;
}

/* ehlo_keyword - the capability an EHLO line names; SIZE's value. */
static unsigned
ehlo_keyword(struct smtp_reply *r, const char *p, size_t len)
{
	static const struct {
		const char	*kw;
		unsigned	 cap;
	} kws[] = {
		{ "STARTTLS", SMTP_CAP_STARTTLS },
		{ "PIPELINING", SMTP_CAP_PIPELINING },
		{ "8BITMIME", SMTP_CAP_8BITMIME },
		{ "SMTPUTF8", SMTP_CAP_SMTPUTF8 },
		{ "DSN", SMTP_CAP_DSN },
		{ "ENHANCEDSTATUSCODES", SMTP_CAP_ENHANCED },
		{ "REQUIRETLS", SMTP_CAP_REQUIRETLS },
	};
	char	w[64];
	size_t	n = word(p, len, w, sizeof(w));

	for (size_t i = 0; i < NELEM(kws); i++)
		if (str_ieq(w, kws[i].kw))
			return kws[i].cap;
	if (str_ieq(w, "SIZE")) {
		uint64_t	v = 0;

		/* RFC 1870: SIZE [number]; 0 or none means no limit */
		for (size_t i = n + 1; i < len && isdigit((unsigned char)p[i]);
		    i++)
			if (ckd_mul(&v, v, 10) || ckd_add(&v, v,
			    (uint64_t)(p[i] - '0'))) {
				v = 0;
				break;
			}
		r->maxsize = v;
		return SMTP_CAP_SIZE;
	}
	if (str_ieq(w, "AUTH"))
		return auth_mechs(p + n, len - n);
	if (str_iprefix(w, "AUTH="))		/* an old form, still seen */
		return auth_mechs(p + 5, len - 5);
	return 0;
}

/* smtp_reply_line - see smtp_reply.h. */
enum smtp_reply_rc
smtp_reply_line(struct smtp_reply *r, const char *l, size_t len, bool ehlo)
{
	int	code;

	if (len < 3 || l[0] < '2' || l[0] > '5' ||
	    !isdigit((unsigned char)l[1]) || !isdigit((unsigned char)l[2]) ||
	    (len > 3 && l[3] != ' ' && l[3] != '-'))
		return SMTP_REPLY_BAD;
	code = (l[0] - '0') * 100 + (l[1] - '0') * 10 + (l[2] - '0');
	if (r->nlines > 0 && code != r->code)
		return SMTP_REPLY_BAD;
	if (r->nlines == 0) {
		r->code = code;
		r->tlen = 0;
		r->text[0] = '\0';
		r->caps = 0;
		r->maxsize = 0;
	}
	if (r->nlines < SMTP_REPLY_LINES_MAX) {
		if (ehlo && r->nlines > 0 && len > 4)
			r->caps |= ehlo_keyword(r, l + 4, len - 4);
		if (r->nlines == 0) {
			text_add(r, l, len);
			if (r->tlen > 3)	/* "250-first" reads "250 first" */
				r->text[3] = ' ';
		}
		else if (len > 4)
			text_add(r, l + 4, len - 4);
	}
	r->nlines++;
	if (len > 3 && l[3] == '-')
		return SMTP_REPLY_MORE;
	r->nlines = 0;
	return SMTP_REPLY_DONE;
}

/* smtp_reply_dsn - see smtp_reply.h. */
void
smtp_reply_dsn(const struct smtp_reply *r, char dsn[8])
{
	const char	*t = r->text + 4;
	size_t		 i = 0, dots = 0, digits = 0;

	dsn[0] = (char)('0' + (r->code / 100) % 10);
	memcpy(dsn + 1, ".0.0", 5);
	if (r->tlen < 6 || r->text[3] != ' ' || t[0] != r->text[0] ||
	    t[1] != '.')
		return;
	/* class "." subject(1-3 digits) "." detail(1-3 digits) */
	for (i = 0; i < 7 && (isdigit((unsigned char)t[i]) || t[i] == '.');
	    i++) {
		if (t[i] == '.') {
			if (digits == 0 || (dots > 0 && digits > 3))
				return;
			dots++;
			digits = 0;
		} else
			digits++;
	}
	if (dots == 2 && digits >= 1 && digits <= 3 &&
	    (t[i] == ' ' || t[i] == '\0')) {
		memcpy(dsn, t, i);
		dsn[i] = '\0';
	}
}
