/*
 * dkim.c - DKIM (RFC 6376) text handling and signing: the tag-list
 * parser (3.2), splitting a message into header fields and body, simple
 * and relaxed canonicalization (3.4), picking signed fields bottom-up
 * (5.4.2), and building a folded DKIM-Signature field (3.5, 5).  The
 * verifier is in dkim_verify.c, the OpenSSL calls in dkim_key.c.
 *
 * Runs in the CLI now, later in smtpd (verify) and the signing process.
 * Pure: no I/O, no logging; errors are returned.
 *
 * Trust: none.  Messages and DKIM-Signature fields come from the
 * network: every scan is bounded by the given length (no NUL needed),
 * counts are capped (DKIM_TAGS_MAX, DKIM_HDRS_MAX) before allocation,
 * and output never grows past what was reserved from the input size.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/base64.h"
#include "lib/buf.h"
#include "auth/dkim.h"
#include "lib/util.h"

#define FOLD_COLS	78	/* RFC 5322 2.1.1: SHOULD be no more */
#define TAB_COLS	8
#define SIG_NAME	"DKIM-Signature"

static bool	 is_wsp(int);
static bool	 is_alpha(int);
static bool	 is_digit(int);
static bool	 is_ftext(int);
static size_t	 skip_fws(const char *, size_t, size_t);
static size_t	 line_end(const char *, size_t, size_t);
static enum dkim_tags_err parse_spec(const char *, size_t, size_t *,
		    struct dkim_tags *);
static int	 add_field(struct dkim_msg *, const char *, size_t, size_t);
static void	 put(struct buf *, char);
static void	 relaxed_header(const char *, size_t, struct buf *);
static void	 relaxed_line(const char *, size_t, struct buf *);
static bool	 hdr_is(const struct dkim_hdr *, const char *, size_t);
static size_t	 count_fields(const struct dkim_msg *, const char *);
static int	 default_names(const struct dkim_msg *, const char ***,
		    size_t *);
static void	 fold(struct buf *, size_t *, const char *, size_t, bool);
static void	 fold_b64(struct buf *, size_t *, const char *, size_t);
static int	 sig_head(const struct dkim_msg *, const struct dkim_sign_opts *,
		    const char *const *, size_t, struct buf *, size_t *);
static int	 sign_fields(const struct dkim_msg *,
		    const struct dkim_sign_opts *, const char *const *, size_t,
		    struct buf *);
static int	 body_hash(const struct dkim_msg *, enum dkim_canon, bool,
		    uint64_t, unsigned char[32], uint64_t *);

/* Signed by default, in this order, each as often as it occurs plus
 * once more ("oversigned"), so none can be added later. */
static const char *const sign_default[] = {
	"from", "reply-to", "subject", "date", "to", "cc", "message-id",
	"in-reply-to", "references", "mime-version", "content-type",
	"content-transfer-encoding",
};

static bool
is_wsp(int c)
{
	return c == ' ' || c == '\t';
}

static bool
is_alpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool
is_digit(int c)
{
	return c >= '0' && c <= '9';
}

/* is_ftext - a field-name byte (RFC 5322 3.6.8). */
static bool
is_ftext(int c)
{
	return c >= 33 && c <= 126 && c != ':';
}

/* skip_fws - index after any WSP and CRLF-WSP at s[i]. */
static size_t
skip_fws(const char *s, size_t len, size_t i)
{
	for (;;) {
		if (i < len && is_wsp(s[i]))
			i++;
		else if (i + 2 < len && s[i] == '\r' && s[i + 1] == '\n' &&
		    is_wsp(s[i + 2]))
			i += 3;
		else
			return i;
	}
}

/* line_end - index of the next CRLF at or after i, or len. */
static size_t
line_end(const char *s, size_t len, size_t i)
{
	const char	*p;

	while (i < len && (p = memchr(s + i, '\r', len - i)) != NULL) {
		i = (size_t)(p - s);
		if (i + 1 < len && s[i + 1] == '\n')
			return i;
		i++;
	}
	return len;
}

/* parse_spec - one tag-spec at s[*ip]; leaves *ip at ';' or the end. */
static enum dkim_tags_err
parse_spec(const char *s, size_t len, size_t *ip, struct dkim_tags *t)
{
	struct dkim_tag	 tag;
	size_t		 i = *ip, vend;

	if (!is_alpha(s[i]))
		return DKIM_TAGS_SYNTAX;
	tag.name = s + i;
	while (i < len && (is_alpha(s[i]) || is_digit(s[i]) || s[i] == '_'))
		i++;
	tag.namelen = (size_t)(s + i - tag.name);
	i = skip_fws(s, len, i);
	if (i == len || s[i] != '=')
		return DKIM_TAGS_SYNTAX;
	tag.eq = s + i;
	i = skip_fws(s, len, i + 1);
	tag.value = s + i;
	vend = i;
	while (i < len && s[i] != ';') {
		size_t	 j;

		if (s[i] >= 0x21 && s[i] <= 0x7e) {
			vend = ++i;
			continue;
		}
		if ((j = skip_fws(s, len, i)) == i)
			return DKIM_TAGS_SYNTAX;
		i = j;
	}
	tag.valuelen = (size_t)(s + vend - tag.value);
	tag.end = s + i;
	for (size_t k = 0; k < t->n; k++)
		if (t->tag[k].namelen == tag.namelen &&
		    memcmp(t->tag[k].name, tag.name, tag.namelen) == 0)
			return DKIM_TAGS_DUP;
	if (t->n == DKIM_TAGS_MAX)
		return DKIM_TAGS_MANY;
	t->tag[t->n++] = tag;
	*ip = i;
	return DKIM_TAGS_OK;
}

/* dkim_tags_parse - RFC 6376 3.2 tag-list; strict. */
enum dkim_tags_err
dkim_tags_parse(const char *s, size_t len, struct dkim_tags *t)
{
	enum dkim_tags_err	 e;
	size_t			 i = 0;

	t->n = 0;
	for (;;) {
		i = skip_fws(s, len, i);
		if (i == len) {
			if (t->n > 0)
				return DKIM_TAGS_OK;
			return DKIM_TAGS_SYNTAX;
		}
		if ((e = parse_spec(s, len, &i, t)) != DKIM_TAGS_OK) {
			t->n = 0;
			return e;
		}
		if (i == len)
			return DKIM_TAGS_OK;
		i++;			/* the ';' */
	}
}

/* dkim_tags_find - tag by exact (case-sensitive) name. */
const struct dkim_tag *
dkim_tags_find(const struct dkim_tags *t, const char *name)
{
	size_t	 n = strlen(name);

	for (size_t i = 0; i < t->n; i++)
		if (t->tag[i].namelen == n &&
		    memcmp(t->tag[i].name, name, n) == 0)
			return &t->tag[i];
	return NULL;
}

/* add_field - a new header field starting at msg[i], its line ending at
 * eol; the name runs up to ':' (WSP before ':' allowed, RFC 5322 4.5). */
static int
add_field(struct dkim_msg *m, const char *msg, size_t i, size_t eol)
{
	struct dkim_hdr	*h;
	size_t		 j = i, nend;

	while (j < eol && is_ftext(msg[j]))
		j++;
	nend = j;
	while (j < eol && is_wsp(msg[j]))
		j++;
	if (nend == i || j == eol || msg[j] != ':')
		return -1;
	if (m->nhdr == DKIM_HDRS_MAX)
		return -1;
	if (m->nhdr % 16 == 0)
		m->hdr = xreallocarray(m->hdr, m->nhdr + 16, sizeof(*m->hdr));
	h = &m->hdr[m->nhdr++];
	h->raw = h->name = msg + i;
	h->namelen = nend - i;
	h->rawlen = eol - i;
	return 0;
}

/* dkim_msg_parse - header fields and body of a CRLF message. */
int
dkim_msg_parse(const char *msg, size_t len, struct dkim_msg *m)
{
	size_t	 i = 0, eol;

	memset(m, 0, sizeof(*m));
	m->body = msg + len;
	while (i < len) {
		eol = line_end(msg, len, i);
		if (eol == i) {		/* the empty line */
			m->body = msg + i + 2;
			m->bodylen = len - i - 2;
			return 0;
		}
		if (is_wsp(msg[i])) {
			if (m->nhdr == 0)
				return -1;
			m->hdr[m->nhdr - 1].rawlen =
			    eol - (size_t)(m->hdr[m->nhdr - 1].raw - msg);
		} else if (add_field(m, msg, i, eol) == -1)
			return -1;
		i = eol < len ? eol + 2 : len;
	}
	return 0;
}

void
dkim_msg_free(struct dkim_msg *m)
{
	free(m->hdr);
	m->hdr = NULL;
	m->nhdr = 0;
}

/* put - one byte into room reserved before. */
static void
put(struct buf *b, char c)
{
	b->data[b->len++] = c;
}

/* relaxed_header - RFC 6376 3.4.2; room for rawlen + 2 is reserved. */
static void
relaxed_header(const char *raw, size_t rawlen, struct buf *out)
{
	const char	*colon = memchr(raw, ':', rawlen);
	size_t		 nlen = colon != NULL ? (size_t)(colon - raw) : rawlen;
	bool		 space = false, any = false;

	while (nlen > 0 && is_wsp(raw[nlen - 1]))
		nlen--;
	for (size_t i = 0; i < nlen; i++)
		put(out, raw[i] >= 'A' && raw[i] <= 'Z' ? raw[i] + 32 : raw[i]);
	put(out, ':');
	for (size_t i = colon != NULL ? (size_t)(colon - raw) + 1 : rawlen;
	    i < rawlen; i++) {
		if (raw[i] == '\r' && i + 1 < rawlen && raw[i + 1] == '\n') {
			i++;		/* unfold */
			continue;
		}
		if (is_wsp(raw[i])) {
			space = any;
			continue;
		}
		if (space)
			put(out, ' ');
		put(out, raw[i]);
		space = false;
		any = true;
	}
	put(out, '\r');
	put(out, '\n');
}

/* dkim_canon_header - one field, canonical, with CRLF. */
int
dkim_canon_header(enum dkim_canon c, const char *raw, size_t rawlen,
    struct buf *out)
{
	if (buf_reserve(out, rawlen + 2) == -1)
		return -1;
	if (c == DKIM_CANON_RELAXED)
		relaxed_header(raw, rawlen, out);
	else {
		memcpy(out->data + out->len, raw, rawlen);
		out->len += rawlen;
		put(out, '\r');
		put(out, '\n');
	}
	out->data[out->len] = '\0';
	return 0;
}

/* relaxed_line - RFC 6376 3.4.4 for one line without its CRLF. */
static void
relaxed_line(const char *s, size_t n, struct buf *out)
{
	bool	 space = false;

	for (size_t i = 0; i < n; i++) {
		if (is_wsp(s[i])) {
			space = true;
			continue;
		}
		if (space)
			put(out, ' ');
		put(out, s[i]);
		space = false;
	}
}

/* dkim_canon_body - the whole body; see dkim.h. */
int
dkim_canon_body(enum dkim_canon c, const char *body, size_t len,
    struct buf *out)
{
	size_t	 start = out->len, keep = out->len, i = 0, eol, before;

	if (len > SIZE_MAX - 4 || buf_reserve(out, len + 2) == -1)
		return -1;
	while (i < len) {
		eol = line_end(body, len, i);
		before = out->len;
		if (c == DKIM_CANON_RELAXED)
			relaxed_line(body + i, eol - i, out);
		else {
			memcpy(out->data + out->len, body + i, eol - i);
			out->len += eol - i;
		}
		put(out, '\r');
		put(out, '\n');
		if (out->len - before > 2)
			keep = out->len;
		i = eol < len ? eol + 2 : len;
	}
	out->len = keep;
	if (c == DKIM_CANON_SIMPLE && out->len == start) {
		put(out, '\r');
		put(out, '\n');
	}
	out->data[out->len] = '\0';
	return 0;
}

/* hdr_is - does field h have the name (case-insensitive)? */
static bool
hdr_is(const struct dkim_hdr *h, const char *name, size_t n)
{
	return h->namelen == n && strncasecmp(h->name, name, n) == 0;
}

/* dkim_select_headers - bottom-up selection, RFC 6376 5.4.2. */
int
dkim_select_headers(const struct dkim_msg *m, enum dkim_canon c,
    const char *const *names, size_t n, struct buf *out)
{
	bool	*used = xcalloc(m->nhdr + 1, sizeof(*used));
	int	 rc = 0;

	for (size_t k = 0; k < n && rc == 0; k++) {
		size_t	 nl = strlen(names[k]);

		for (size_t j = m->nhdr; j-- > 0;) {
			if (used[j] || !hdr_is(&m->hdr[j], names[k], nl))
				continue;
			used[j] = true;
			rc = dkim_canon_header(c, m->hdr[j].raw,
			    m->hdr[j].rawlen, out);
			break;
		}
	}
	free(used);
	return rc;
}

/* dkim_hash_input - see dkim.h. */
int
dkim_hash_input(const struct dkim_msg *m, enum dkim_canon c,
    const char *const *names, size_t n, const char *sig, size_t siglen,
    struct buf *out)
{
	const char		*colon = memchr(sig, ':', siglen);
	const struct dkim_tag	*b;
	struct dkim_tags	 tags;
	struct buf		 strip;
	size_t			 off, head;
	int			 rc;

	if (colon == NULL)
		return -1;
	off = (size_t)(colon - sig) + 1;
	if (dkim_tags_parse(sig + off, siglen - off, &tags) != DKIM_TAGS_OK ||
	    (b = dkim_tags_find(&tags, "b")) == NULL)
		return -1;
	if (dkim_select_headers(m, c, names, n, out) == -1)
		return -1;
	/* the field with b='s value (and the FWS around it) removed */
	head = (size_t)(b->eq + 1 - sig);
	buf_init(&strip, 0);
	rc = buf_append(&strip, sig, head);
	if (rc == 0)
		rc = buf_append(&strip, b->end,
		    siglen - (size_t)(b->end - sig));
	if (rc == 0)
		rc = dkim_canon_header(c, strip.data, strip.len, out);
	buf_free(&strip);
	if (rc == 0)
		out->len -= 2;		/* no CRLF after it (3.7) */
	if (rc == 0)
		out->data[out->len] = '\0';
	return rc;
}

/* dkim_name_is_valid - LDH (and '_') labels, see dkim.h. */
bool
dkim_name_is_valid(const char *s, size_t len)
{
	size_t	 label = 0;

	if (len == 0 || len > DKIM_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		if (!is_alpha(s[i]) && !is_digit(s[i]) && s[i] != '-' &&
		    s[i] != '_')
			return false;
		if (++label > 63)
			return false;
	}
	return label > 0;
}

/* count_fields - how many fields are called name. */
static size_t
count_fields(const struct dkim_msg *m, const char *name)
{
	size_t	 n = 0, nl = strlen(name);

	for (size_t i = 0; i < m->nhdr; i++)
		if (hdr_is(&m->hdr[i], name, nl))
			n++;
	return n;
}

/* default_names - the h= list: each default field present, oversigned;
 * From always (it must be there).  *names is allocated. */
static int
default_names(const struct dkim_msg *m, const char ***names, size_t *n)
{
	size_t	 k = 0, max = 0, c;

	if (count_fields(m, "from") == 0)
		return -1;
	for (size_t i = 0; i < NELEM(sign_default); i++) {
		c = count_fields(m, sign_default[i]);
		if (c > 0 && max + c + 1 <= DKIM_HNAMES_MAX)
			max += c + 1;
	}
	*names = xcalloc(max, sizeof(**names));
	for (size_t i = 0; i < NELEM(sign_default); i++) {
		c = count_fields(m, sign_default[i]);
		if (c == 0 || k + c + 1 > max)
			continue;
		for (size_t j = 0; j <= c; j++)
			(*names)[k++] = sign_default[i];
	}
	*n = k;
	return 0;
}

/* fold - add s, breaking the line first if it would pass FOLD_COLS. */
static void
fold(struct buf *b, size_t *col, const char *s, size_t n, bool space)
{
	if (*col + (space ? 1 : 0) + n > FOLD_COLS && *col > TAB_COLS) {
		buf_puts(b, "\r\n\t");
		*col = TAB_COLS;
	} else if (space) {
		buf_putc(b, ' ');
		(*col)++;
	}
	buf_append(b, s, n);
	*col += n;
}

/* fold_b64 - base64 text, broken wherever the line is full. */
static void
fold_b64(struct buf *b, size_t *col, const char *s, size_t n)
{
	while (n > 0) {
		size_t	 room = *col < FOLD_COLS ? FOLD_COLS - *col : 0;

		if (room < 8) {
			buf_puts(b, "\r\n\t");
			*col = TAB_COLS;
			continue;
		}
		room = MIN(room, n);
		buf_append(b, s, room);
		*col += room;
		s += room;
		n -= room;
	}
}

/* The canonical body as a stream into SHA-256 (body_hash). */
struct bstream {
	struct dkim_sha	*sha;
	uint64_t	 total;		/* canonical bytes so far */
	uint64_t	 hashed;	/* of which hashed (up to limit) */
	uint64_t	 limit;
	size_t		 n;
	char		 blk[4096];
};

static void
bs_put(struct bstream *b, const char *p, size_t n)
{
	uint64_t	 room = b->limit - b->hashed;
	size_t		 k = room < n ? (size_t)room : n;

	b->total += n;
	b->hashed += k;
	if (b->n + k > sizeof(b->blk)) {
		dkim_key_sha_update(b->sha, b->blk, b->n);
		b->n = 0;
	}
	if (k >= sizeof(b->blk))
		dkim_key_sha_update(b->sha, p, k);
	else {
		memcpy(b->blk + b->n, p, k);
		b->n += k;
	}
}

/* bs_line - one line (no CRLF), canonicalized; *empty counts the empty
 * lines held back: they are only written before a non-empty one. */
static void
bs_line(struct bstream *b, enum dkim_canon c, const char *s, size_t n,
    uint64_t *empty)
{
	size_t	 i = 0, j;
	bool	 space = false, any = false;

	while (i < n) {
		if (c == DKIM_CANON_RELAXED && is_wsp(s[i])) {
			space = true;
			i++;
			continue;
		}
		j = i + 1;
		while (j < n && (c == DKIM_CANON_SIMPLE || !is_wsp(s[j])))
			j++;
		for (; !any && *empty > 0; (*empty)--)
			bs_put(b, "\r\n", 2);
		any = true;
		if (space)
			bs_put(b, " ", 1);
		bs_put(b, s + i, j - i);
		space = false;
		i = j;
	}
	if (any)
		bs_put(b, "\r\n", 2);
	else
		(*empty)++;
}

/* body_hash - bh= of the message; *clen is the canonical length. */
static int
body_hash(const struct dkim_msg *m, enum dkim_canon c, bool has_l,
    uint64_t l, unsigned char out[32], uint64_t *clen)
{
	struct bstream	*b = xcalloc(1, sizeof(*b));
	uint64_t	 empty = 0;
	size_t		 i = 0, eol;
	int		 rc = 0;

	b->sha = dkim_key_sha_new();
	b->limit = has_l ? l : UINT64_MAX;
	while (i < m->bodylen) {
		eol = line_end(m->body, m->bodylen, i);
		bs_line(b, c, m->body + i, eol - i, &empty);
		i = eol < m->bodylen ? eol + 2 : m->bodylen;
	}
	if (c == DKIM_CANON_SIMPLE && b->total == 0)
		bs_put(b, "\r\n", 2);
	dkim_key_sha_update(b->sha, b->blk, b->n);
	dkim_key_sha_final(b->sha, out);
	*clen = b->total;
	if (has_l && l > b->total)
		rc = -1;
	free(b);
	return rc;
}

/* dkim_body_hash - exported wrapper for dkim_verify.c; -1 when l= is
 * longer than the canonical body. */
int
dkim_body_hash(const struct dkim_msg *m, enum dkim_canon c, bool has_l,
    uint64_t l, unsigned char out[32])
{
	uint64_t	 clen;

	return body_hash(m, c, has_l, l, out, &clen);
}

/* sig_head - the DKIM-Signature field up to and including "b=". */
static int
sig_head(const struct dkim_msg *m, const struct dkim_sign_opts *o,
    const char *const *names, size_t n, struct buf *out, size_t *col)
{
	unsigned char	 bh[32];
	uint64_t	 clen;
	char		 tok[DKIM_NAME_MAX + 16];
	struct buf	 b64;
	int		 len;

	if (body_hash(m, o->bcanon, false, 0, bh, &clen) == -1)
		return -1;
	buf_puts(out, SIG_NAME ":");
	*col = sizeof(SIG_NAME);
	fold(out, col, "v=1;", 4, true);
	len = snprintf(tok, sizeof(tok), "a=%s;", dkim_alg_str(
	    dkim_key_type(o->key) == DKIM_KEY_RSA ? DKIM_ALG_RSA_SHA256 :
	    DKIM_ALG_ED25519_SHA256));
	fold(out, col, tok, (size_t)len, true);
	len = snprintf(tok, sizeof(tok), "c=%s/%s;",
	    o->hcanon == DKIM_CANON_RELAXED ? "relaxed" : "simple",
	    o->bcanon == DKIM_CANON_RELAXED ? "relaxed" : "simple");
	fold(out, col, tok, (size_t)len, true);
	len = snprintf(tok, sizeof(tok), "d=%s;", o->domain);
	fold(out, col, tok, (size_t)len, true);
	len = snprintf(tok, sizeof(tok), "s=%s;", o->selector);
	fold(out, col, tok, (size_t)len, true);
	if (o->now >= 0) {
		len = snprintf(tok, sizeof(tok), "t=%lld;", (long long)o->now);
		fold(out, col, tok, (size_t)len, true);
	}
	if (o->expire > 0) {
		len = snprintf(tok, sizeof(tok), "x=%lld;",
		    (long long)o->expire);
		fold(out, col, tok, (size_t)len, true);
	}
	if (o->body_length) {
		len = snprintf(tok, sizeof(tok), "l=%llu;",
		    (unsigned long long)clen);
		fold(out, col, tok, (size_t)len, true);
	}
	for (size_t i = 0; i < n; i++) {
		len = snprintf(tok, sizeof(tok), "%s%s%s", i == 0 ? "h=" : "",
		    names[i], i + 1 < n ? ":" : ";");
		if (len < 0 || (size_t)len >= sizeof(tok))
			return -1;
		fold(out, col, tok, (size_t)len, i == 0);
	}
	buf_init(&b64, 0);
	buf_puts(&b64, "bh=");
	base64_encode(bh, sizeof(bh), &b64);
	buf_putc(&b64, ';');
	fold(out, col, b64.data, b64.len, true);
	buf_free(&b64);
	fold(out, col, "b=", 2, true);
	return 0;
}

/* sign_fields - sign the parsed message m: head and the signature. */
static int
sign_fields(const struct dkim_msg *m, const struct dkim_sign_opts *o,
    const char *const *names, size_t n, struct buf *out)
{
	struct buf	 head, data, b64;
	unsigned char	*sig = NULL;
	size_t		 siglen, col = 0;
	int		 rc;

	buf_init(&head, 0);
	buf_init(&data, 0);
	buf_init(&b64, 0);
	rc = sig_head(m, o, names, n, &head, &col);
	if (rc == 0)
		rc = dkim_hash_input(m, o->hcanon, names, n, head.data,
		    head.len, &data);
	if (rc == 0)
		rc = dkim_key_sign(o->key, data.data, data.len, &sig, &siglen);
	if (rc == 0)
		rc = base64_encode(sig, siglen, &b64);
	if (rc == 0) {
		fold_b64(&head, &col, b64.data, b64.len);
		rc = buf_append(out, head.data, head.len);
	}
	if (rc == 0)
		rc = buf_puts(out, "\r\n");
	free(sig);
	buf_free(&head);
	buf_free(&data);
	buf_free(&b64);
	return rc;
}

/* dkim_sign - see dkim.h. */
int
dkim_sign(const char *msg, size_t len, const struct dkim_sign_opts *o,
    struct buf *out, char *err, size_t errlen)
{
	struct dkim_msg	 m;
	const char	**names = NULL;
	size_t		 n = 0;
	int		 rc = -1;

	memset(&m, 0, sizeof(m));
	if (!dkim_name_is_valid(o->domain, strlen(o->domain)) ||
	    !dkim_name_is_valid(o->selector, strlen(o->selector)))
		snprintf(err, errlen, "bad domain or selector");
	else if (dkim_msg_parse(msg, len, &m) == -1)
		snprintf(err, errlen, "malformed header");
	else if (o->headers == NULL && default_names(&m, &names, &n) == -1)
		snprintf(err, errlen, "no From field");
	else {
		if (o->headers != NULL)
			while (o->headers[n] != NULL)
				n++;
		rc = sign_fields(&m, o, o->headers != NULL ? o->headers :
		    names, n, out);
		if (rc == -1)
			snprintf(err, errlen, "signing failed");
	}
	dkim_msg_free(&m);
	free(names);
	return rc;
}

const char *
dkim_alg_str(enum dkim_alg a)
{
	switch (a) {
	case DKIM_ALG_RSA_SHA256:
		return "rsa-sha256";
	case DKIM_ALG_ED25519_SHA256:
		return "ed25519-sha256";
	case DKIM_ALG_RSA_SHA1:
		return "rsa-sha1";
	}
	return "unknown";
}
