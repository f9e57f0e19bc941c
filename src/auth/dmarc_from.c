/*
 * dmarc_from.c - the RFC5322.From domains for DMARC (RFC 7489 6.6.1):
 * the distinct domains of every mailbox in every From field, and a result
 * that says whether there was exactly one field with one mailbox, so the
 * caller evaluates each author domain (a second author must not hide the
 * first one from its domain's policy).
 *
 * Runs in smtpd at end of data (later) and in the CLI.  Pure: no I/O,
 * no logging; the header split is dkim_msg_parse's (the only allocation).
 *
 * Trust: none.  The message comes from the network; the From value is
 * scanned once with explicit bounds, the address text is copied into a
 * fixed buffer sized by RFC 5321 limits and anything longer is refused.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "mail/addr.h"
#include "auth/dkim.h"
#include "auth/dmarc.h"
#include "lib/util.h"

/* The mailbox being read: its address text without CFWS. */
struct mbox {
	char	 text[ADDR_TEXT_MAX + 1];
	size_t	 len;
	bool	 angle;		/* inside <...> */
	bool	 closed;	/* after the '>' */
	bool	 overflow;	/* text cut: only fatal if it is the address */
	bool	 any;		/* a non-blank byte seen */
};

/* The whole scan. */
struct scan {
	struct dmarc_from	*f;
	enum dmarc_from_res	 err;	/* first hard error, or OK */
};

static void	 mbox_put(struct mbox *, char);
static void	 add_domain(struct dmarc_from *, const char *);
static void	 mbox_end(struct scan *, struct mbox *);
static int	 domain_of(const struct mbox *, char *);
static int	 skip_comment(const char *, size_t, size_t *);
static int	 skip_quoted(const char *, size_t, size_t *, struct mbox *);
static enum dmarc_from_res parse_value(const char *, size_t,
		    struct dmarc_from *);
static int	 scan_byte(struct scan *, struct mbox *, const char *, size_t,
		    size_t *);

static void
mbox_put(struct mbox *m, char c)
{
	m->any = true;
	if (m->closed)
		return;
	if (m->len == ADDR_TEXT_MAX) {
		m->overflow = true;
		return;
	}
	m->text[m->len++] = c;
}

/*
 * domain_of - the domain after the last '@' outside quotes, lower-cased
 * into d; a source route "@a,@b:" is dropped first.  Returns 0, or -1
 * with no usable domain, or -2 for an address that is not one.
 */
static int
domain_of(const struct mbox *m, char *d)
{
	const char	*t = m->text;
	size_t		 n = m->len, at = SIZE_MAX, i;
	bool		 q = false;

	if (m->angle && n > 0 && t[0] == '@') {
		const char	*c = memchr(t, ':', n);

		if (c == NULL)
			return -2;
		n -= (size_t)(c + 1 - t);
		t = c + 1;
	}
	for (i = 0; i < n; i++) {
		if (t[i] == '\\' && q)
			i++;
		else if (t[i] == '"')
			q = !q;
		else if (t[i] == '@' && !q)
			at = i;
	}
	if (q || n == 0)
		return -2;
	if (at == SIZE_MAX || at == 0 || n - at - 1 > DMARC_DOMAIN_MAX)
		return -1;
	memcpy(d, t + at + 1, n - at - 1);
	d[n - at - 1] = '\0';
	str_lower(d);
	return addr_domain_check(d, false) ? 0 : -1;
}

/* add_domain - one more mailbox of domain d: keep d once, in order. */
static void
add_domain(struct dmarc_from *f, const char *d)
{
	f->naddr++;
	for (size_t i = 0; i < f->ndomain; i++)
		if (strcmp(f->domains[i], d) == 0)
			return;
	if (f->ndomain == DMARC_FROM_MAX) {
		f->more = true;
		return;
	}
	str_copy(f->domains[f->ndomain++], d, sizeof(f->domains[0]));
}

/*
 * mbox_end - a mailbox ended (',' ';' ':' or the end): keep its domain.
 * A usable domain is kept even after trouble elsewhere in the field: a
 * reader may still show that address.
 */
static void
mbox_end(struct scan *s, struct mbox *m)
{
	char	 d[DMARC_DOMAIN_MAX + 1];
	int	 r;

	if (m->angle && !m->closed && s->err == DMARC_FROM_OK)
		s->err = DMARC_FROM_SYNTAX;
	if (m->any) {
		r = m->overflow ? -2 : domain_of(m, d);
		if (r == 0)
			add_domain(s->f, d);
		else if (s->err == DMARC_FROM_OK)
			s->err = r == -2 ? DMARC_FROM_SYNTAX :
			    DMARC_FROM_NO_DOMAIN;
	}
	memset(m, 0, sizeof(*m));
}

/* skip_comment - a (nested) comment at v[*ip] == '('; 0 or -1. */
static int
skip_comment(const char *v, size_t n, size_t *ip)
{
	size_t	 i = *ip, depth = 0;

	for (; i < n; i++) {
		if (v[i] == '\\')
			i++;
		else if (v[i] == '(')
			depth++;
		else if (v[i] == ')' && --depth == 0) {
			*ip = i;
			return 0;
		}
	}
	return -1;
}

/* skip_quoted - a quoted-string at v[*ip] == '"', copied to m. */
static int
skip_quoted(const char *v, size_t n, size_t *ip, struct mbox *m)
{
	size_t	 i = *ip;

	mbox_put(m, '"');
	for (i++; i < n; i++) {
		if (v[i] == '\\' && i + 1 < n) {
			mbox_put(m, v[i]);
			mbox_put(m, v[++i]);
		} else if (v[i] == '"') {
			mbox_put(m, '"');
			*ip = i;
			return 0;
		} else if (v[i] != '\r' && v[i] != '\n')
			mbox_put(m, v[i]);
	}
	return -1;
}

/* scan_byte - one step of the From value scan at v[*ip]; 0 or -1. */
static int
scan_byte(struct scan *s, struct mbox *m, const char *v, size_t n,
    size_t *ip)
{
	char	 c = v[*ip];

	switch (c) {
	case '(':
		return skip_comment(v, n, ip);
	case '"':
		return skip_quoted(v, n, ip, m);
	case ' ': case '\t': case '\r': case '\n':
		return 0;
	case '<':
		if (m->angle)
			return -1;
		m->len = 0;		/* the display name goes */
		m->overflow = false;
		m->angle = true;
		return 0;
	case '>':
		if (!m->angle || m->closed)
			return -1;
		m->closed = true;
		return 0;
	case ',':
		if (m->angle && !m->closed) {	/* inside a route */
			mbox_put(m, c);
			return 0;
		}
		mbox_end(s, m);
		return 0;
	case ':':
		if (m->angle && !m->closed) {
			mbox_put(m, c);
			return 0;
		}
		memset(m, 0, sizeof(*m));	/* a group's display name */
		return 0;
	case ';':
		mbox_end(s, m);			/* end of a group */
		return 0;
	default:
		if (m->closed)
			return -1;		/* text after the '>' */
		mbox_put(m, c);
		return 0;
	}
}

/*
 * parse_value - the mailbox-list after "From:"; its domains are added to
 * f.  On a byte that breaks the syntax the rest of the field is not read:
 * it has no mailbox boundaries to trust.
 */
static enum dmarc_from_res
parse_value(const char *v, size_t n, struct dmarc_from *f)
{
	struct scan	 s = { f, DMARC_FROM_OK };
	struct mbox	 m;
	size_t		 before = f->naddr;

	memset(&m, 0, sizeof(m));
	for (size_t i = 0; i < n; i++)
		if (scan_byte(&s, &m, v, n, &i) == -1)
			return DMARC_FROM_SYNTAX;
	mbox_end(&s, &m);
	if (s.err != DMARC_FROM_OK)
		return s.err;
	if (f->naddr == before)
		return DMARC_FROM_SYNTAX;
	return f->naddr - before > 1 ? DMARC_FROM_MULTI_ADDR : DMARC_FROM_OK;
}

/* dmarc_from_extract - the Author Domain; see dmarc.h. */
enum dmarc_from_res
dmarc_from_extract(const char *msg, size_t len, struct dmarc_from *f)
{
	struct dkim_msg		 m;
	enum dmarc_from_res	 res = DMARC_FROM_OK, r;
	size_t			 nfrom = 0;

	memset(f, 0, sizeof(*f));
	if (dkim_msg_parse(msg, len, &m) == -1) {
		dkim_msg_free(&m);
		return DMARC_FROM_SYNTAX;
	}
	for (size_t i = 0; i < m.nhdr; i++) {
		const struct dkim_hdr	*h = &m.hdr[i];
		const char		*colon;

		if (h->namelen != 4 || strncasecmp(h->name, "From", 4) != 0)
			continue;
		colon = memchr(h->raw, ':', h->rawlen);
		ASSERT(colon != NULL);
		r = parse_value(colon + 1, h->rawlen -
		    (size_t)(colon + 1 - h->raw), f);
		if (nfrom++ == 0)
			res = r;
	}
	dkim_msg_free(&m);
	if (nfrom == 0)
		return DMARC_FROM_MISSING;
	if (nfrom > 1)
		return DMARC_FROM_MULTI_FIELD;
	if (res == DMARC_FROM_OK)
		str_copy(f->domain, f->domains[0], sizeof(f->domain));
	return res;
}

/* dmarc_from_res_str - short names for logs. */
const char *
dmarc_from_res_str(enum dmarc_from_res r)
{
	switch (r) {
	case DMARC_FROM_OK:		return "ok";
	case DMARC_FROM_MISSING:	return "no-from";
	case DMARC_FROM_MULTI_FIELD:	return "multiple-from-fields";
	case DMARC_FROM_MULTI_ADDR:	return "multiple-from-addresses";
	case DMARC_FROM_NO_DOMAIN:	return "no-from-domain";
	case DMARC_FROM_SYNTAX:		return "bad-from";
	}
	return "bad-from";
}
