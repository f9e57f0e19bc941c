/*
 * smtp_parse.c - the arguments of MAIL, RCPT and BDAT: the path (through
 * addr.c) and the ESMTP parameters SIZE (RFC 1870), BODY (RFC 6152),
 * SMTPUTF8 (RFC 6531), RET, ENVID, NOTIFY, ORCPT (RFC 3461), AUTH
 * (RFC 4954) and REQUIRETLS (RFC 8689), plus xtext (RFC 3461 4).  Runs in smtpd; the session code
 * turns a result into a reply.  Pure: no I/O, no allocation.
 * Trust: none; the argument is peer text.  Each parameter is looked up in
 * a table and its value is checked completely before it is stored.
 * Decoded xtext may not hold CR, LF, NUL or any other control byte, since
 * ENVID, AUTH and ORCPT end up in the spool and in bounces (Exim
 * CVE-2020-28021 and CVE-2020-28026 wrote such newlines into the spool).
 */
#include <limits.h>
#include <string.h>

#include "mail/addr.h"
#include "mail/smtp_parse.h"
#include "lib/util.h"

#define SIZE_DIGITS_MAX	20	/* RFC 1870: size-value = 1*20DIGIT */

/* One "keyword[=value]" of the parameter list, as spans of the input. */
struct param_tok {
	const char	*start;		/* the keyword */
	size_t		 klen;
	const char	*val;		/* NULL when there is no '=' */
	size_t		 vlen;
};

struct mail_param {
	const char	*name;
	bool		(*set)(struct smtp_mail_args *,
			    const struct param_tok *);
};

struct rcpt_param {
	const char	*name;
	bool		(*set)(struct smtp_rcpt_args *,
			    const struct param_tok *);
};

static bool	 next_param(const char **, struct param_tok *);
static bool	 span_ieq(const char *, size_t, const char *);
static bool	 parse_u64(const char *, size_t, uint64_t *);
static int	 hexval(unsigned char);
static enum smtp_parse_result path_arg(const char *, unsigned,
		    struct mailaddr *, const char **, bool *);
static enum smtp_parse_result bare_path(const char *, unsigned,
		    struct mailaddr *, const char **, bool *);
static bool	 mail_size(struct smtp_mail_args *,
		    const struct param_tok *);
static bool	 mail_body(struct smtp_mail_args *,
		    const struct param_tok *);
static bool	 mail_utf8(struct smtp_mail_args *,
		    const struct param_tok *);
static bool	 mail_ret(struct smtp_mail_args *,
		    const struct param_tok *);
static bool	 mail_requiretls(struct smtp_mail_args *,
		    const struct param_tok *);
static bool	 mail_envid(struct smtp_mail_args *,
		    const struct param_tok *);
static bool	 mail_auth(struct smtp_mail_args *,
		    const struct param_tok *);
static bool	 rcpt_notify(struct smtp_rcpt_args *,
		    const struct param_tok *);
static bool	 rcpt_orcpt(struct smtp_rcpt_args *,
		    const struct param_tok *);
static enum smtp_parse_result mail_params(const char *,
		    struct smtp_mail_args *);
static enum smtp_parse_result rcpt_params(const char *,
		    struct smtp_rcpt_args *);

static const struct mail_param mail_tab[] = {
	{ "SIZE",	mail_size },
	{ "BODY",	mail_body },
	{ "SMTPUTF8",	mail_utf8 },
	{ "RET",	mail_ret },
	{ "ENVID",	mail_envid },
	{ "AUTH",	mail_auth },
	{ "REQUIRETLS",	mail_requiretls },
};

static const struct rcpt_param rcpt_tab[] = {
	{ "NOTIFY",	rcpt_notify },
	{ "ORCPT",	rcpt_orcpt },
};

/*
 * next_param - split the next space-separated "keyword[=value]" at *pp.
 * Runs of spaces separate parameters and may trail; false at the end.
 */
static bool
next_param(const char **pp, struct param_tok *t)
{
	const char	*p = *pp;

	while (*p == ' ')
		p++;
	if (*p == '\0') {
		*pp = p;
		return false;
	}
	t->start = p;
	while (*p != '\0' && *p != ' ' && *p != '=')
		p++;
	t->klen = (size_t)(p - t->start);
	t->val = NULL;
	t->vlen = 0;
	if (*p == '=') {
		t->val = ++p;
		while (*p != '\0' && *p != ' ')
			p++;
		t->vlen = (size_t)(p - t->val);
	}
	*pp = p;
	return true;
}

/* span_ieq - the n bytes at s equal word, ASCII case-insensitively. */
static bool
span_ieq(const char *s, size_t n, const char *word)
{
	size_t	 i;

	for (i = 0; i < n; i++) {
		unsigned char	a = (unsigned char)s[i];
		unsigned char	b = (unsigned char)word[i];

		if (b == '\0')
			return false;
		if (a >= 'A' && a <= 'Z')
			a = (unsigned char)(a - 'A' + 'a');
		if (b >= 'A' && b <= 'Z')
			b = (unsigned char)(b - 'A' + 'a');
		if (a != b)
			return false;
	}
	return word[i] == '\0';
}

/* parse_u64 - exactly n decimal digits, 1 <= n <= 20, fitting uint64_t. */
static bool
parse_u64(const char *s, size_t n, uint64_t *out)
{
	uint64_t	 v = 0;

	if (n == 0 || n > SIZE_DIGITS_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		if (ckd_mul(&v, v, 10) ||
		    ckd_add(&v, v, (uint64_t)(s[i] - '0')))
			return false;
	}
	*out = v;
	return true;
}

/* hexval - value of an upper-case hex digit (RFC 3461 4), or -1. */
static int
hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * smtp_parse_xtext_decode - decode RFC 3461 4 xtext (see smtp_parse.h).
 * A decoded byte below 0x20 or equal to 0x7f is refused, so the value can never
 * carry a line break or a NUL.  On -1, out (if outsz > 0) is "".
 */
long
smtp_parse_xtext_decode(const char *in, size_t inlen, char *out, size_t outsz)
{
	size_t		 i = 0, o = 0;
	unsigned char	 c;
	int		 hi, lo;

	if (outsz == 0 || outsz > LONG_MAX)
		return -1;
	while (i < inlen) {
		c = (unsigned char)in[i];
		if (c == '+') {
			if (inlen - i < 3)
				goto bad;
			hi = hexval((unsigned char)in[i + 1]);
			lo = hexval((unsigned char)in[i + 2]);
			if (hi < 0 || lo < 0)
				goto bad;
			c = (unsigned char)(hi << 4 | lo);
			if (c < 0x20 || c == 0x7f)
				goto bad;
			i += 3;
		} else if (c >= '!' && c <= '~' && c != '=')
			i++;
		else
			goto bad;
		if (o + 1 >= outsz)
			goto bad;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return (long)o;
bad:
	out[0] = '\0';
	return -1;
}

/*
 * smtp_parse_xtext_encode - encode inlen bytes as xtext into out
 * (NUL-terminated if outsz > 0).  Returns the full encoded length;
 * >= outsz means cut.
 */
size_t
smtp_parse_xtext_encode(const char *in, size_t inlen, char *out, size_t outsz)
{
	static const char	 hex[] = "0123456789ABCDEF";
	size_t			 o = 0;
	char			 enc[3];

	for (size_t i = 0; i < inlen; i++) {
		unsigned char	c = (unsigned char)in[i];
		size_t		n = 1;

		enc[0] = (char)c;
		if (c < '!' || c > '~' || c == '+' || c == '=') {
			enc[0] = '+';
			enc[1] = hex[c >> 4];
			enc[2] = hex[c & 0x0f];
			n = 3;
		}
		for (size_t k = 0; k < n; k++, o++)
			if (o + 1 < outsz)
				out[o] = enc[k];
	}
	if (outsz > 0)
		out[o < outsz ? o : outsz - 1] = '\0';
	return o;
}

/* mail_size - RFC 1870: SIZE=1*20DIGIT. */
static bool
mail_size(struct smtp_mail_args *a, const struct param_tok *t)
{
	if (t->val == NULL || !parse_u64(t->val, t->vlen, &a->size))
		return false;
	a->has_size = true;
	return true;
}

/* mail_body - RFC 6152: BODY=7BIT / 8BITMIME (BINARYMIME is not offered). */
static bool
mail_body(struct smtp_mail_args *a, const struct param_tok *t)
{
	if (t->val == NULL)
		return false;
	if (span_ieq(t->val, t->vlen, "7BIT"))
		a->body = SMTP_BODY_7BIT;
	else if (span_ieq(t->val, t->vlen, "8BITMIME"))
		a->body = SMTP_BODY_8BITMIME;
	else
		return false;
	return true;
}

/* mail_utf8 - RFC 6531 3.4: SMTPUTF8 takes no value. */
static bool
mail_utf8(struct smtp_mail_args *a, const struct param_tok *t)
{
	return t->val == NULL && (a->smtputf8 = true);
}

/* mail_requiretls - RFC 8689 3: REQUIRETLS takes no value. */
static bool
mail_requiretls(struct smtp_mail_args *a, const struct param_tok *t)
{
	return t->val == NULL && (a->requiretls = true);
}

/* mail_ret - RFC 3461 4.3: RET=FULL / HDRS. */
static bool
mail_ret(struct smtp_mail_args *a, const struct param_tok *t)
{
	if (t->val == NULL)
		return false;
	if (span_ieq(t->val, t->vlen, "FULL"))
		a->ret = SMTP_RET_FULL;
	else if (span_ieq(t->val, t->vlen, "HDRS"))
		a->ret = SMTP_RET_HDRS;
	else
		return false;
	return true;
}

/* mail_envid - RFC 3461 4.4: ENVID=xtext, at most 100 decoded octets. */
static bool
mail_envid(struct smtp_mail_args *a, const struct param_tok *t)
{
	if (t->val == NULL)
		return false;
	return smtp_parse_xtext_decode(t->val, t->vlen, a->envid,
	    sizeof(a->envid)) > 0;
}

/* mail_auth - RFC 4954 5: AUTH=xtext, where "<>" means "unknown". */
static bool
mail_auth(struct smtp_mail_args *a, const struct param_tok *t)
{
	if (t->val == NULL)
		return false;
	if (smtp_parse_xtext_decode(t->val, t->vlen, a->auth, sizeof(a->auth)) <= 0)
		return false;
	a->has_auth = true;
	return true;
}

/*
 * rcpt_notify - RFC 3461 4.1: NOTIFY=NEVER, or a comma list of SUCCESS,
 * FAILURE and DELAY, each at most once.
 */
static bool
rcpt_notify(struct smtp_rcpt_args *a, const struct param_tok *t)
{
	static const char *const names[] = { "NEVER", "SUCCESS", "FAILURE",
	    "DELAY" };
	static const unsigned	 bits[] = { SMTP_NOTIFY_NEVER,
	    SMTP_NOTIFY_SUCCESS, SMTP_NOTIFY_FAILURE, SMTP_NOTIFY_DELAY };
	const char		*p, *e, *end;
	unsigned		 got = 0;
	size_t			 i;

	if (t->val == NULL)
		return false;
	end = t->val + t->vlen;
	for (p = t->val; p <= end; p = e + 1) {
		for (e = p; e < end && *e != ','; e++)
			;
		for (i = 0; i < NELEM(names); i++)
			if (span_ieq(p, (size_t)(e - p), names[i]))
				break;
		if (i == NELEM(names) || (got & bits[i]))
			return false;
		got |= bits[i];
	}
	if ((got & SMTP_NOTIFY_NEVER) && got != SMTP_NOTIFY_NEVER)
		return false;
	a->notify = got;
	return true;
}

/*
 * rcpt_orcpt - RFC 3461 4.2: ORCPT=addr-type ";" xtext, at most 500
 * octets as sent; addr-type is an atom.  Stored as "type;decoded".
 */
static bool
rcpt_orcpt(struct smtp_rcpt_args *a, const struct param_tok *t)
{
	const char	*semi;
	size_t		 tlen;

	if (t->val == NULL || t->vlen > SMTP_ORCPT_MAX)
		return false;
	semi = memchr(t->val, ';', t->vlen);
	if (semi == NULL || semi == t->val)
		return false;
	tlen = (size_t)(semi - t->val);
	for (size_t i = 0; i < tlen; i++) {
		unsigned char	c = (unsigned char)t->val[i];

		if (c <= ' ' || c >= 0x7f ||
		    strchr("()<>[]:;@\\,.\"", c) != NULL)
			return false;	/* not atext (RFC 5322 3.2.3) */
	}
	memcpy(a->orcpt, t->val, tlen + 1);
	if (smtp_parse_xtext_decode(semi + 1, t->vlen - tlen - 1, a->orcpt + tlen + 1,
	    sizeof(a->orcpt) - tlen - 1) <= 0) {
		a->orcpt[0] = '\0';
		return false;
	}
	return true;
}

/*
 * path_arg - spaces, then the path at p, then a space or the end.
 * The path is parsed strictly ASCII first; if that is all that is wrong,
 * it is parsed again with UTF-8 and *need_utf8 tells the caller, which
 * decides once it knows about SMTPUTF8.  *rest is just past the path.
 * A path without angle brackets is taken as a bare mailbox (bare_path).
 */
static enum smtp_parse_result
path_arg(const char *p, unsigned flags, struct mailaddr *addr,
    const char **rest, bool *need_utf8)
{
	enum addr_result	 r;

	while (*p == ' ')
		p++;
	if (*p != '<')
		return bare_path(p, flags & ~ADDR_F_NULL, addr, rest,
		    need_utf8);
	r = addr_parse_path(p, flags, addr, rest);
	*need_utf8 = r == ADDR_NEED_UTF8;
	if (*need_utf8)
		r = addr_parse_path(p, flags | ADDR_F_UTF8, addr, rest);
	if (r != ADDR_OK)
		return r == ADDR_TOO_LONG ? SP_ADDR_TOO_LONG : SP_BAD_ADDR;
	if (**rest != ' ' && **rest != '\0')
		return SP_SYNTAX;
	return SP_OK;
}

/*
 * bare_path - "FROM:user@domain" and "TO:user@domain", without the angle
 * brackets RFC 5321 4.1.2 requires.  Postfix (strict_rfc821_envelopes =
 * no) and chasquid take them, and some clients still send them, so they
 * are taken here too, narrowly: the word up to the next space must be a
 * whole mailbox for addr_parse(), the same strict parser as inside the
 * brackets (or "postmaster" where flags allow it).  No source route, no
 * quoted local part with spaces, and no null path: "<>" has brackets.  A
 * word holding '<' or '>' is a mangled path, SP_SYNTAX.
 */
static enum smtp_parse_result
bare_path(const char *p, unsigned flags, struct mailaddr *addr,
    const char **rest, bool *need_utf8)
{
	char			 word[ADDR_PATH_MAX - 1];
	size_t			 n = strcspn(p, " ");
	enum addr_result	 r;

	*need_utf8 = false;
	if (n == 0 || memchr(p, '<', n) != NULL || memchr(p, '>', n) != NULL)
		return SP_SYNTAX;
	if (n >= sizeof(word))
		return SP_ADDR_TOO_LONG;
	memcpy(word, p, n);
	word[n] = '\0';
	r = addr_parse(word, flags, addr);
	*need_utf8 = r == ADDR_NEED_UTF8;
	if (*need_utf8)
		r = addr_parse(word, flags | ADDR_F_UTF8, addr);
	if (r != ADDR_OK)
		return r == ADDR_TOO_LONG ? SP_ADDR_TOO_LONG : SP_BAD_ADDR;
	*rest = p + n;
	return SP_OK;
}

/* mail_params - each parameter once; unknown keyword or bad value stops. */
static enum smtp_parse_result
mail_params(const char *p, struct smtp_mail_args *out)
{
	struct param_tok	 t;
	unsigned		 seen = 0;
	size_t			 i;

	while (next_param(&p, &t)) {
		out->bad_param = t.start;
		for (i = 0; i < NELEM(mail_tab); i++)
			if (span_ieq(t.start, t.klen, mail_tab[i].name))
				break;
		if (i == NELEM(mail_tab))
			return SP_UNKNOWN_PARAM;
		if ((seen & (1u << i)) || !mail_tab[i].set(out, &t))
			return SP_BAD_PARAM;
		seen |= 1u << i;
	}
	out->bad_param = NULL;
	return SP_OK;
}

/* rcpt_params - as mail_params, for RCPT. */
static enum smtp_parse_result
rcpt_params(const char *p, struct smtp_rcpt_args *out)
{
	struct param_tok	 t;
	unsigned		 seen = 0;
	size_t			 i;

	while (next_param(&p, &t)) {
		out->bad_param = t.start;
		for (i = 0; i < NELEM(rcpt_tab); i++)
			if (span_ieq(t.start, t.klen, rcpt_tab[i].name))
				break;
		if (i == NELEM(rcpt_tab))
			return SP_UNKNOWN_PARAM;
		if ((seen & (1u << i)) || !rcpt_tab[i].set(out, &t))
			return SP_BAD_PARAM;
		seen |= 1u << i;
	}
	out->bad_param = NULL;
	return SP_OK;
}

/*
 * smtp_parse_mail - "FROM:<path> [params]" (see smtp_parse.h).  *out is
 * zeroed first; on SP_*_PARAM, out->bad_param points into arg.  A path
 * without angle brackets is a bare mailbox (bare_path).  SMTPUTF8 is always
 * recognized here; refusing it when it was not offered is the session's
 * job.
 */
enum smtp_parse_result
smtp_parse_mail(const char *arg, struct smtp_mail_args *out)
{
	enum smtp_parse_result	 r;
	const char		*rest;
	bool			 need_utf8;

	memset(out, 0, sizeof(*out));
	if (!str_iprefix(arg, "FROM:"))
		return SP_SYNTAX;
	r = path_arg(arg + 5, ADDR_F_NULL, &out->addr, &rest, &need_utf8);
	if (r != SP_OK)
		return r;
	if ((r = mail_params(rest, out)) != SP_OK)
		return r;
	if (need_utf8 && !out->smtputf8)
		return SP_NEED_UTF8;
	return SP_OK;
}

/*
 * smtp_parse_rcpt - "TO:<path> [params]" (see smtp_parse.h).  *out is
 * zeroed first.  "<Postmaster>" gives local "Postmaster", domain "".
 */
enum smtp_parse_result
smtp_parse_rcpt(const char *arg, bool smtputf8, struct smtp_rcpt_args *out)
{
	enum smtp_parse_result	 r;
	const char		*rest;
	bool			 need_utf8;

	memset(out, 0, sizeof(*out));
	if (!str_iprefix(arg, "TO:"))
		return SP_SYNTAX;
	r = path_arg(arg + 3, ADDR_F_POSTMASTER, &out->addr, &rest,
	    &need_utf8);
	if (r != SP_OK)
		return r;
	if (need_utf8 && !smtputf8)
		return SP_NEED_UTF8;
	return rcpt_params(rest, out);
}

/*
 * smtp_parse_bdat - "<size> [LAST]" (RFC 3030 2).  Spaces may separate
 * and trail, none may lead.  *size = 0 and *last = false on error.
 */
int
smtp_parse_bdat(const char *arg, uint64_t *size, bool *last)
{
	const char	*p = arg;
	size_t		 n = 0;

	*size = 0;
	*last = false;
	while (p[n] >= '0' && p[n] <= '9')
		n++;
	if (!parse_u64(p, n, size))
		return -1;
	p += n;
	while (*p == ' ')
		p++;
	if (p > arg + n && str_iprefix(p, "LAST")) {
		*last = true;
		p += 4;
		while (*p == ' ')
			p++;
	}
	if (*p != '\0') {
		*size = 0;
		*last = false;
		return -1;
	}
	return 0;
}

/* smtp_parse_result_str - a short name for logs. */
const char *
smtp_parse_result_str(enum smtp_parse_result r)
{
	switch (r) {
	case SP_OK:
		return "ok";
	case SP_SYNTAX:
		return "syntax";
	case SP_BAD_ADDR:
		return "bad_addr";
	case SP_ADDR_TOO_LONG:
		return "addr_too_long";
	case SP_NEED_UTF8:
		return "need_utf8";
	case SP_UNKNOWN_PARAM:
		return "unknown_param";
	case SP_BAD_PARAM:
		return "bad_param";
	}
	return "unknown";
}
