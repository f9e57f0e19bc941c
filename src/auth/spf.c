/*
 * spf.c - the pure half of SPF (RFC 7208): record selection and syntax
 * (section 4.5, 4.6, 12), domain-spec checks, and macro expansion
 * (section 7).  No I/O and no DNS; spf_check.c evaluates records.
 *
 * Runs wherever SPF is checked: in the smtpd session process and in the
 * "postbote spf" CLI.
 *
 * Trust: none.  Records come from DNS and are attacker-controlled, as are
 * the sender and HELO names fed to the macros.  Every read is bounded by
 * the given length; a record is never trusted to be NUL-terminated.
 * Output goes to a struct buf whose ceiling the caller sets.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "lib/buf.h"
#include "auth/spf.h"
#include "lib/util.h"

#define LABEL_MAX	63

struct mech_name {
	const char	*name;
	enum spf_mech	 mech;
};

static const struct mech_name mechs[] = {
	{ "all",	SPF_M_ALL },
	{ "include",	SPF_M_INCLUDE },
	{ "a",		SPF_M_A },
	{ "mx",		SPF_M_MX },
	{ "ptr",	SPF_M_PTR },
	{ "ip4",	SPF_M_IP4 },
	{ "ip6",	SPF_M_IP6 },
	{ "exists",	SPF_M_EXISTS },
};

static bool	 is_alpha(int);
static bool	 is_alnum(int);
static bool	 is_delim(int);
static int	 macro_scan(const char *, size_t, size_t *, bool *);
static bool	 is_toplabel(const char *, size_t);
static bool	 spec_valid(const char *, size_t);
static int	 parse_cidr(const char *, size_t, int);
static size_t	 strip_dual_cidr(const char *, size_t, int *, int *);
static int	 parse_modifier(const char *, size_t, size_t,
		    struct spf_record *, char *, size_t);
static int	 parse_mech_rest(struct spf_term *, const char *, size_t);
static int	 parse_ipnet(struct spf_term *, const char *, size_t, int);
static int	 parse_term(const char *, size_t, struct spf_record *, char *,
		    size_t);
static void	 letter_value(int, const struct spf_macro_env *,
		    struct buf *);
static void	 transform(const char *, size_t, unsigned, bool, const char *,
		    size_t, bool, struct buf *);
static int	 expand_macro(const char *, size_t, const struct spf_macro_env *,
		    bool, struct buf *);

static bool
is_alpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool
is_alnum(int c)
{
	return is_alpha(c) || (c >= '0' && c <= '9');
}

static bool
is_delim(int c)
{
	return c != '\0' && strchr(".-+,/_=", c) != NULL;
}

/* spf_result_str - "pass", "fail", ... */
const char *
spf_result_str(enum spf_result r)
{
	static const char *const names[] = { "none", "neutral", "pass",
	    "fail", "softfail", "temperror", "permerror" };

	return (size_t)r < NELEM(names) ? names[r] : "permerror";
}

/* spf_ip_parse - text address into *ip; v4-mapped v6 becomes v4. */
int
spf_ip_parse(const char *s, struct spf_ip *ip)
{
	static const uint8_t	 mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	    0xff, 0xff };

	memset(ip, 0, sizeof(*ip));
	if (inet_pton(AF_INET, s, ip->a) == 1) {
		ip->family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, ip->a) != 1)
		return -1;
	ip->family = AF_INET6;
	if (memcmp(ip->a, mapped, sizeof(mapped)) == 0) {
		memmove(ip->a, ip->a + 12, 4);
		memset(ip->a + 4, 0, 12);
		ip->family = AF_INET;
	}
	return 0;
}

/* spf_is_record - "v=spf1" then SP or end (RFC 7208 4.5). */
bool
spf_is_record(const char *txt, size_t len)
{
	static const char	 v[] = "v=spf1";

	if (len < sizeof(v) - 1)
		return false;
	for (size_t i = 0; i < sizeof(v) - 1; i++)
		if (tolower((unsigned char)txt[i]) != v[i])
			return false;
	return len == sizeof(v) - 1 || txt[sizeof(v) - 1] == ' ';
}

/*
 * macro_scan - check the macro-expand at s[*i] ('%' seen) and move *i
 * past it.  *braced tells whether it was a %{...} form.  -1 on error.
 */
static int
macro_scan(const char *s, size_t len, size_t *i, bool *braced)
{
	size_t	 p = *i + 1;

	*braced = false;
	if (p >= len)
		return -1;
	if (s[p] == '%' || s[p] == '_' || s[p] == '-') {
		*i = p + 1;
		return 0;
	}
	if (s[p] != '{' || ++p >= len || s[p] == '\0' ||
	    strchr("slodiphcrtvSLODIPHCRTV", s[p]) == NULL)
		return -1;
	p++;
	if (p < len && s[p] == '0')
		return -1;			/* DIGIT must be nonzero */
	while (p < len && s[p] >= '0' && s[p] <= '9')
		p++;
	if (p < len && (s[p] == 'r' || s[p] == 'R'))
		p++;
	while (p < len && is_delim(s[p]))
		p++;
	if (p >= len || s[p] != '}')
		return -1;
	*i = p + 1;
	*braced = true;
	return 0;
}

/* is_toplabel - RFC 7208 toplabel: alnum and '-', no '-' at either end,
 * not all digits. */
static bool
is_toplabel(const char *s, size_t n)
{
	bool	 alpha = false;

	if (n == 0 || n > LABEL_MAX || !is_alnum(s[0]) || !is_alnum(s[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!is_alnum(s[i]) && s[i] != '-')
			return false;
		if (is_alpha(s[i]) || s[i] == '-')
			alpha = true;
	}
	return alpha;
}

/*
 * spec_valid - domain-spec syntax (RFC 7208 12) plus the checks that can
 * be made before expansion: no empty label and no literal label over 63
 * bytes (4.3, 4.8).  Macro-literals are printable ASCII only.
 */
static bool
spec_valid(const char *s, size_t len)
{
	size_t	 i = 0, label = 0, last = 0, start;
	bool	 braced = false, macro_end = false, prev_dot = true;

	if (len == 0)
		return false;
	while (i < len) {
		if (s[i] == '%') {
			start = i;
			if (macro_scan(s, len, &i, &braced) == -1 ||
			    (braced && strchr("crtCRT", s[start + 2]) != NULL))
				return false;	/* c, r, t: exp text only */
			macro_end = true;
			prev_dot = false;
			label = LABEL_MAX + 1;	/* length unknown */
			continue;
		}
		if (s[i] < 0x21 || s[i] > 0x7e)
			return false;
		macro_end = false;
		if (s[i] == '.') {
			if (prev_dot && i + 1 != len)
				return false;	/* empty label */
			prev_dot = true;
			label = 0;
			last = i + 1;
		} else {
			prev_dot = false;
			if (label <= LABEL_MAX && ++label > LABEL_MAX)
				return false;
		}
		i++;
	}
	if (macro_end)
		return true;
	if (s[len - 1] == '.') {		/* optional trailing dot */
		len--;
		if (len == 0)
			return false;
		for (last = len; last > 0 && s[last - 1] != '.'; last--)
			;
	}
	return last > 0 && is_toplabel(s + last, len - last);
}

/* parse_cidr - "/N" digits s[0..n) with no leading zero, 0..max. */
static int
parse_cidr(const char *s, size_t n, int max)
{
	int	 v = 0;

	if (n == 0 || n > 3 || (s[0] == '0' && n > 1))
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v <= max ? v : -1;
}

/*
 * strip_dual_cidr - find "[/N4][//N6]" at the end of s; returns the
 * length before it.  c4/c6 get the values, -1 when absent, -2 when
 * present but invalid.
 */
static size_t
strip_dual_cidr(const char *s, size_t n, int *c4, int *c6)
{
	size_t	 e = n, d;

	*c4 = *c6 = -1;
	for (d = e; d > 0 && s[d - 1] >= '0' && s[d - 1] <= '9'; d--)
		;
	if (d == e || d == 0 || s[d - 1] != '/')
		return n;
	if (d >= 2 && s[d - 2] == '/') {
		if ((*c6 = parse_cidr(s + d, e - d, 128)) < 0)
			*c6 = -2;
		e = d - 2;
		for (d = e; d > 0 && s[d - 1] >= '0' && s[d - 1] <= '9'; d--)
			;
		if (d == e || d == 0 || s[d - 1] != '/')
			return e;
	}
	if ((*c4 = parse_cidr(s + d, e - d, 32)) < 0)
		*c4 = -2;
	return d - 1;
}

/* parse_modifier - name=value; nl is the length of name. */
static int
parse_modifier(const char *t, size_t n, size_t nl, struct spf_record *r,
    char *err, size_t errlen)
{
	const char	*v = t + nl + 1;
	size_t		 vl = n - nl - 1, i = 0;
	bool		 braced;
	bool		 is_redir = nl == 8 && strncasecmp(t, "redirect", 8) == 0;
	bool		 is_exp = nl == 3 && strncasecmp(t, "exp", 3) == 0;

	if (is_redir || is_exp) {
		if ((is_redir ? r->redirect : r->exp) != NULL) {
			snprintf(err, errlen, "duplicate %.*s", (int)nl, t);
			return -1;
		}
		if (!spec_valid(v, vl)) {
			snprintf(err, errlen, "bad domain-spec in %.*s",
			    (int)nl, t);
			return -1;
		}
		if (is_redir) {
			r->redirect = v;
			r->redirectlen = vl;
		} else {
			r->exp = v;
			r->explen = vl;
		}
		return 0;
	}
	while (i < vl) {			/* unknown: macro-string */
		if (v[i] == '%') {
			if (macro_scan(v, vl, &i, &braced) == -1)
				break;
		} else if (v[i] < 0x21 || v[i] > 0x7e)
			break;
		else
			i++;
	}
	if (i < vl) {
		snprintf(err, errlen, "bad macro-string in modifier");
		return -1;
	}
	return 0;
}

/* parse_ipnet - "ip4:" / "ip6:" network with optional cidr. */
static int
parse_ipnet(struct spf_term *m, const char *s, size_t n, int family)
{
	char		 addr[INET6_ADDRSTRLEN];
	const char	*slash = memchr(s, '/', n);
	size_t		 al = slash != NULL ? (size_t)(slash - s) : n;
	int		 c;

	if (al == 0 || al >= sizeof(addr))
		return -1;
	memcpy(addr, s, al);
	addr[al] = '\0';
	m->net.family = family;
	if (inet_pton(family, addr, m->net.a) != 1)
		return -1;
	if (slash == NULL)
		return 0;
	c = parse_cidr(slash + 1, n - al - 1, family == AF_INET ? 32 : 128);
	if (c < 0)
		return -1;
	if (family == AF_INET)
		m->cidr4 = c;
	else
		m->cidr6 = c;
	return 0;
}

/* parse_mech_rest - what follows the mechanism name. */
static int
parse_mech_rest(struct spf_term *m, const char *s, size_t n)
{
	size_t	 dl;

	switch (m->mech) {
	case SPF_M_ALL:
		return n == 0 ? 0 : -1;
	case SPF_M_IP4:
	case SPF_M_IP6:
		if (n < 1 || s[0] != ':')
			return -1;
		return parse_ipnet(m, s + 1, n - 1,
		    m->mech == SPF_M_IP4 ? AF_INET : AF_INET6);
	case SPF_M_A:
	case SPF_M_MX:
		dl = strip_dual_cidr(s, n, &m->cidr4, &m->cidr6);
		if (m->cidr4 == -2 || m->cidr6 == -2)
			return -1;
		n = dl;
		break;
	default:
		break;
	}
	if (n == 0)
		return m->mech == SPF_M_INCLUDE || m->mech == SPF_M_EXISTS ?
		    -1 : 0;
	if (s[0] != ':' || !spec_valid(s + 1, n - 1))
		return -1;
	m->spec = s + 1;
	m->speclen = n - 1;
	return 0;
}

static int
parse_term(const char *t, size_t n, struct spf_record *r, char *err,
    size_t errlen)
{
	struct spf_term	*m;
	size_t		 nl = 0, i;

	if (n > 0 && is_alpha(t[0]))
		for (nl = 1; nl < n && (is_alnum(t[nl]) || t[nl] == '-' ||
		    t[nl] == '_' || t[nl] == '.'); nl++)
			;
	if (nl > 0 && nl < n && t[nl] == '=')
		return parse_modifier(t, n, nl, r, err, errlen);
	if (r->nterm >= SPF_MAX_TERMS) {
		snprintf(err, errlen, "too many terms");
		return -1;
	}
	m = &r->term[r->nterm];
	memset(m, 0, sizeof(*m));
	m->qual = SPF_PASS;
	m->cidr4 = m->cidr6 = -1;
	if (n > 0 && strchr("+-~?", t[0]) != NULL) {
		m->qual = t[0] == '+' ? SPF_PASS : t[0] == '-' ? SPF_FAIL :
		    t[0] == '~' ? SPF_SOFTFAIL : SPF_NEUTRAL;
		t++;
		n--;
	}
	for (nl = 0; nl < n && t[nl] != ':' && t[nl] != '/'; nl++)
		;
	for (i = 0; i < NELEM(mechs); i++)
		if (strlen(mechs[i].name) == nl &&
		    strncasecmp(t, mechs[i].name, nl) == 0)
			break;
	if (i == NELEM(mechs)) {
		snprintf(err, errlen, "unknown mechanism \"%.*s\"",
		    (int)MIN(nl, (size_t)40), t);
		return -1;
	}
	m->mech = mechs[i].mech;
	if (parse_mech_rest(m, t + nl, n - nl) == -1) {
		snprintf(err, errlen, "syntax error in %s", mechs[i].name);
		return -1;
	}
	r->nterm++;
	return 0;
}

/* spf_parse - a whole "v=spf1 ..." record into *r. */
int
spf_parse(const char *txt, size_t len, struct spf_record *r, char *err,
    size_t errlen)
{
	size_t	 i, start;

	memset(r, 0, sizeof(*r));
	if (!spf_is_record(txt, len)) {
		snprintf(err, errlen, "not an SPF record");
		return -1;
	}
	for (i = 6; i < len;) {
		if (txt[i] != ' ') {
			snprintf(err, errlen, "terms must be separated by "
			    "spaces");
			return -1;
		}
		while (i < len && txt[i] == ' ')
			i++;
		if (i == len)
			break;
		for (start = i; i < len && txt[i] != ' '; i++)
			;
		if (parse_term(txt + start, i - start, r, err, errlen) == -1)
			return -1;
	}
	return 0;
}

/* letter_value - the raw value of a macro letter (RFC 7208 7.3). */
static void
letter_value(int l, const struct spf_macro_env *e, struct buf *v)
{
	char	 a[INET6_ADDRSTRLEN];

	switch (tolower(l)) {
	case 's':
		buf_printf(v, "%s@%s", e->local, e->sdomain);
		break;
	case 'l':
		buf_puts(v, e->local);
		break;
	case 'o':
		buf_puts(v, e->sdomain);
		break;
	case 'd':
		buf_puts(v, e->domain);
		break;
	case 'h':
		buf_puts(v, e->helo != NULL ? e->helo : "unknown");
		break;
	case 'p':
		buf_puts(v, e->ptr != NULL ? e->ptr : "unknown");
		break;
	case 'r':
		buf_puts(v, e->receiver != NULL ? e->receiver : "unknown");
		break;
	case 't':
		buf_printf(v, "%" PRId64, e->now);
		break;
	case 'v':
		buf_puts(v, e->ip->family == AF_INET ? "in-addr" : "ip6");
		break;
	case 'c':
		inet_ntop(e->ip->family, e->ip->a, a, sizeof(a));
		buf_puts(v, a);
		break;
	case 'i':
		if (e->ip->family == AF_INET) {
			inet_ntop(AF_INET, e->ip->a, a, sizeof(a));
			buf_puts(v, a);
			break;
		}
		/* dot-format nibbles, upper case as RFC 7208 7.4's own
		 * example writes them (DNS compares names ignoring case) */
		for (int k = 0; k < 32; k++)
			buf_printf(v, "%s%X", k > 0 ? "." : "",
			    (e->ip->a[k / 2] >> (k % 2 ? 0 : 4)) & 0xf);
		break;
	}
}

/*
 * transform - split value on delims (default "."), reverse if asked,
 * keep the rightmost keep parts (0: all), join with "."; URL-escape when
 * the letter was upper case (RFC 7208 7.3).
 */
static void
transform(const char *val, size_t vl, unsigned keep, bool rev,
    const char *dl, size_t dn, bool esc, struct buf *out)
{
	size_t	 part[2][256], np = 0, i, s = 0, first;
	struct buf t;

	for (i = 0; i <= vl; i++) {
		bool	 cut = i == vl || (dn == 0 ? val[i] == '.' :
		    memchr(dl, val[i], dn) != NULL);

		if (!cut)
			continue;
		if (np < NELEM(part[0])) {
			part[0][np] = s;
			part[1][np++] = i - s;
		}
		s = i + 1;
	}
	if (rev)
		for (i = 0; i < np / 2; i++) {
			size_t	 a = part[0][i], b = part[1][i];

			part[0][i] = part[0][np - 1 - i];
			part[1][i] = part[1][np - 1 - i];
			part[0][np - 1 - i] = a;
			part[1][np - 1 - i] = b;
		}
	first = keep != 0 && keep < np ? np - keep : 0;
	buf_init(&t, 0);
	for (i = first; i < np; i++) {
		if (i > first)
			buf_putc(&t, '.');
		buf_append(&t, val + part[0][i], part[1][i]);
	}
	for (i = 0; i < t.len; i++) {
		unsigned char	 c = (unsigned char)t.data[i];

		if (!esc || is_alnum(c) || strchr("-._~", c) != NULL)
			buf_putc(out, (char)c);
		else
			buf_printf(out, "%%%02X", c);
	}
	buf_free(&t);
}

/* expand_macro - one "%{...}" at s (len bytes, '}' included). */
static int
expand_macro(const char *s, size_t len, const struct spf_macro_env *e,
    bool is_exp, struct buf *out)
{
	size_t		 p = 3;
	unsigned	 keep = 0;
	bool		 rev = false;
	int		 l = s[2];
	struct buf	 v;

	if (!is_exp && strchr("crtCRT", l) != NULL)
		return -1;		/* exp-only letters (7.3) */
	while (p < len && s[p] >= '0' && s[p] <= '9') {
		keep = keep * 10 + (unsigned)(s[p++] - '0');
		if (keep > 1000)
			keep = 1000;
	}
	if (p < len && (s[p] == 'r' || s[p] == 'R')) {
		rev = true;
		p++;
	}
	buf_init(&v, 0);
	letter_value(l, e, &v);
	transform(v.data != NULL ? v.data : "", v.len, keep, rev, s + p,
	    len - 1 - p, isupper(l) != 0, out);
	buf_free(&v);
	return 0;
}

/* spf_expand - macro-string (or explain-string) into out. */
int
spf_expand(const char *s, size_t len, const struct spf_macro_env *e,
    bool is_exp, struct buf *out)
{
	size_t	 i = 0, start;
	bool	 braced;

	while (i < len) {
		if (s[i] != '%') {
			if ((s[i] < 0x21 || s[i] > 0x7e) &&
			    !(is_exp && s[i] == ' '))
				return -1;
			buf_putc(out, s[i++]);
			continue;
		}
		start = i;
		if (macro_scan(s, len, &i, &braced) == -1)
			return -1;
		if (!braced)
			buf_puts(out, s[start + 1] == '%' ? "%" :
			    s[start + 1] == '_' ? " " : "%20");
		else if (expand_macro(s + start, i - start, e, is_exp,
		    out) == -1)
			return -1;
	}
	return out->max != 0 && out->len >= out->max ? -1 : 0;
}

/*
 * spf_domain_fix - trailing dot off, cut to 253 from the left, check.
 * A label may hold any printable ASCII byte, the space too: "%_" expands
 * to one (7.3) and the name is queried as it is (4.6.4 counts it).
 */
int
spf_domain_fix(char *name)
{
	size_t	 n = strlen(name), label = 0;
	char	*p = name;

	if (n > 0 && name[n - 1] == '.')
		name[--n] = '\0';
	while (n > SPF_DOMAIN_MAX) {
		char	*dot = memchr(p, '.', n);

		if (dot == NULL)
			return -1;
		n -= (size_t)(dot + 1 - p);
		p = dot + 1;
	}
	memmove(name, p, n + 1);
	if (n == 0)
		return -1;
	for (size_t i = 0; i <= n; i++) {
		if (i == n || name[i] == '.') {
			if (label == 0 || label > LABEL_MAX)
				return -1;
			label = 0;
		} else if ((unsigned char)name[i] < 0x20 ||
		    (unsigned char)name[i] > 0x7e)
			return -1;
		else
			label++;
	}
	return 0;
}
