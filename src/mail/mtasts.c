/*
 * mtasts.c - the formats of MTA-STS (RFC 8461): the TXT record of
 * _mta-sts.DOMAIN (3.1), the policy file of
 * https://mta-sts.DOMAIN/.well-known/mta-sts.txt (3.2), and the match of
 * an MX host name against the policy's mx patterns (4.1).
 *
 * Runs in the deliver process (the policy of a recipient domain) and the
 * CLI (check --dns).  Trust: the TXT strings come from the resolver and
 * the policy body from a web server chosen by whoever controls the
 * domain's DNS, so both are hostile until parsed: every byte is checked
 * against the RFC's grammar, lengths are bounded, nothing is copied
 * unchecked, and a value that does not fit its buffer refuses the whole
 * record.  Pure: no I/O, no allocation.
 */
#include <stdio.h>
#include <string.h>

#include "mail/mtasts.h"
#include "lib/util.h"

#define VERSION		"v=STSv1"
#define EXT_NAME_MAX	32		/* 1 + *31 */
#define MAX_AGE_DIGITS	10

static const char *const mode_names[] = {
	[MTASTS_MODE_NONE] = "none",
	[MTASTS_MODE_TESTING] = "testing",
	[MTASTS_MODE_ENFORCE] = "enforce",
};

/* mtasts_mode_str - see mtasts.h. */
const char *
mtasts_mode_str(enum mtasts_mode m)
{
	return (size_t)m < NELEM(mode_names) ? mode_names[m] : "?";
}

static bool
is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

static bool
is_wsp(unsigned char c)
{
	return c == ' ' || c == '\t';
}

/* ext_name - RFC 8461 sts-ext-name and sts-policy-ext-name:
 * (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / "."). */
static bool
ext_name(const char *s, size_t n)
{
	if (n == 0 || n > EXT_NAME_MAX || !is_alnum((unsigned char)s[0]))
		return false;
	for (size_t i = 1; i < n; i++) {
		unsigned char	c = (unsigned char)s[i];

		if (!is_alnum(c) && c != '_' && c != '-' && c != '.')
			return false;
	}
	return true;
}

/* txt_field - one name=value of the TXT record; *id gets an id, *nid
 * counts them. */
static int
txt_field(const char *s, size_t n, char id[MTASTS_ID_MAX + 1], int *nid)
{
	const char	*eq = memchr(s, '=', n);
	size_t		 nl, vl;

	if (eq == NULL)
		return -1;
	nl = (size_t)(eq - s);
	vl = n - nl - 1;
	if (!ext_name(s, nl) || vl == 0)
		return -1;
	if (nl == 2 && memcmp(s, "id", 2) == 0) {
		if (vl > MTASTS_ID_MAX || ++*nid > 1)
			return -1;
		for (size_t i = 0; i < vl; i++)
			if (!is_alnum((unsigned char)eq[1 + i]))
				return -1;
		memcpy(id, eq + 1, vl);
		id[vl] = '\0';
		return 0;
	}
	/* sts-ext-value: %x21-3A / %x3C / %x3E-7E */
	for (size_t i = 0; i < vl; i++) {
		unsigned char	c = (unsigned char)eq[1 + i];

		if (c < 0x21 || c > 0x7e || c == ';' || c == '=')
			return -1;
	}
	return 0;
}

/* mtasts_txt_one - see mtasts.h. */
int
mtasts_txt_one(const char *txt, size_t len, char id[MTASTS_ID_MAX + 1])
{
	size_t	 vl = sizeof(VERSION) - 1, i, start;
	int	 nid = 0, nfields = 0;

	id[0] = '\0';
	if (len < vl || memcmp(txt, VERSION, vl) != 0 ||
	    (len > vl && txt[vl] != ';' && !is_wsp((unsigned char)txt[vl])))
		return 1;
	i = vl;
	for (;;) {
		while (i < len && is_wsp((unsigned char)txt[i]))
			i++;
		if (i == len)
			break;
		if (txt[i] != ';')
			goto bad;
		i++;
		while (i < len && is_wsp((unsigned char)txt[i]))
			i++;
		if (i == len)
			break;		/* [sts-sep] at the end */
		start = i;
		while (i < len && txt[i] != ';' && !is_wsp((unsigned char)txt[i]))
			i++;
		if (txt_field(txt + start, i - start, id, &nid) == -1)
			goto bad;
		nfields++;
	}
	if (nfields > 0 && nid == 1)
		return 0;
bad:
	id[0] = '\0';
	return -1;
}

/* mtasts_txt_pick - see mtasts.h. */
int
mtasts_txt_pick(const char *const *txt, const size_t *len, size_t n,
    char id[MTASTS_ID_MAX + 1], const char **why)
{
	char	 one[MTASTS_ID_MAX + 1];
	size_t	 found = 0;
	int	 rc = -1;

	id[0] = '\0';
	*why = "no v=STSv1 record";
	for (size_t i = 0; i < n; i++) {
		int	r = mtasts_txt_one(txt[i], len[i], one);

		if (r == 1)
			continue;
		if (++found > 1) {
			*why = "more than one v=STSv1 record";
			id[0] = '\0';
			return -1;
		}
		rc = r;
		if (r == 0)
			memcpy(id, one, sizeof(one));
		else
			*why = "malformed v=STSv1 record";
	}
	return rc;
}

/* domain_ok - RFC 5321 Domain: LDH labels of 1-63 bytes, no hyphen at
 * either end, at most 253 bytes, no root dot. */
static bool
domain_ok(const char *s, size_t n)
{
	size_t	 lab = 0;

	if (n == 0 || n > MTASTS_NAME_MAX)
		return false;
	for (size_t i = 0; i <= n; i++) {
		unsigned char	c = i < n ? (unsigned char)s[i] : '.';

		if (c == '.') {
			if (lab == 0 || lab > 63 || s[i - 1] == '-')
				return false;
			lab = 0;
			continue;
		}
		if (!is_alnum(c) && c != '-')
			return false;
		if (lab == 0 && c == '-')
			return false;
		lab++;
	}
	return true;
}

struct pstate {
	struct mtasts_policy	*p;
	bool			 version, mode, max_age;
	char			*err;
	size_t			 errlen;
};

static int
perr(struct pstate *ps, const char *msg)
{
	snprintf(ps->err, ps->errlen, "%s", msg);
	return -1;
}

static int
set_mode(struct pstate *ps, const char *v, size_t n)
{
	for (size_t m = 0; m < NELEM(mode_names); m++)
		if (strlen(mode_names[m]) == n &&
		    memcmp(mode_names[m], v, n) == 0) {
			ps->p->mode = (enum mtasts_mode)m;
			return 0;
		}
	return perr(ps, "mode is not enforce, testing or none");
}

static int
set_max_age(struct pstate *ps, const char *v, size_t n)
{
	uint64_t	 a = 0;

	if (n == 0 || n > MAX_AGE_DIGITS)
		return perr(ps, "max_age is not 1 to 10 digits");
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return perr(ps, "max_age is not a number");
		a = a * 10 + (uint64_t)(v[i] - '0');
	}
	if (a > MTASTS_MAX_AGE_MAX)
		return perr(ps, "max_age over 31557600");
	ps->p->max_age = (uint32_t)a;
	return 0;
}

static int
add_mx(struct pstate *ps, const char *v, size_t n)
{
	struct mtasts_policy	*p = ps->p;
	size_t			 skip = n > 2 && v[0] == '*' && v[1] == '.' ?
	    2 : 0;

	if (!domain_ok(v + skip, n - skip))
		return perr(ps, "mx is not a host name or *. and one");
	if (p->nmx >= MTASTS_MX_MAX)
		return perr(ps, "too many mx patterns");
	for (size_t i = 0; i < n; i++) {
		char	c = v[i];

		p->mx[p->nmx][i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
	}
	p->mx[p->nmx][n] = '\0';
	p->nmx++;
	return 0;
}

/* field - one "key: value" line (no terminator). */
static int
field(struct pstate *ps, const char *l, size_t n)
{
	const char	*colon = memchr(l, ':', n);
	const char	*v;
	size_t		 kl, vl;

	if (colon == NULL)
		return perr(ps, "a line without a colon");
	kl = (size_t)(colon - l);
	if (!ext_name(l, kl))
		return perr(ps, "a malformed key");
	v = colon + 1;
	vl = n - kl - 1;
	while (vl > 0 && is_wsp((unsigned char)*v)) {
		v++;
		vl--;
	}
	while (vl > 0 && is_wsp((unsigned char)v[vl - 1]))
		vl--;
	if (vl == 0)
		return perr(ps, "a key without a value");
	for (size_t i = 0; i < vl; i++) {
		unsigned char	c = (unsigned char)v[i];

		/* VCHAR, WSP inside; UTF-8 in extension values */
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return perr(ps, "a control byte in a value");
	}
#define KEY(s)	(kl == sizeof(s) - 1 && memcmp(l, s, kl) == 0)
	if (KEY("version")) {
		if (ps->version)
			return perr(ps, "version given twice");
		ps->version = true;
		if (vl != 5 || memcmp(v, "STSv1", 5) != 0)
			return perr(ps, "version is not STSv1");
		return 0;
	}
	if (KEY("mode")) {
		if (ps->mode)
			return perr(ps, "mode given twice");
		ps->mode = true;
		return set_mode(ps, v, vl);
	}
	if (KEY("max_age")) {
		if (ps->max_age)
			return perr(ps, "max_age given twice");
		ps->max_age = true;
		return set_max_age(ps, v, vl);
	}
	if (KEY("mx"))
		return add_mx(ps, v, vl);
#undef KEY
	return 0;			/* an extension: ignored */
}

/* mtasts_policy_parse - see mtasts.h. */
int
mtasts_policy_parse(const char *body, size_t len, struct mtasts_policy *p,
    char *err, size_t errlen)
{
	struct pstate	 ps = { .p = p, .err = err, .errlen = errlen };
	size_t		 i = 0;

	memset(p, 0, sizeof(*p));
	if (errlen > 0)
		err[0] = '\0';
	if (len > MTASTS_POLICY_MAX)
		return perr(&ps, "policy larger than 64 KiB");
	while (i < len) {
		const char	*nl = memchr(body + i, '\n', len - i);
		size_t		 end = nl != NULL ? (size_t)(nl - body) : len;
		size_t		 n = end - i;

		if (n > 0 && body[i + n - 1] == '\r' && nl != NULL)
			n--;		/* CRLF */
		if (memchr(body + i, '\r', n) != NULL ||
		    memchr(body + i, '\0', n) != NULL) {
			perr(&ps, "a CR or NUL inside a line");
			goto bad;
		}
		if (n > 0 && field(&ps, body + i, n) == -1)
			goto bad;
		i = end + 1;
	}
	if (!ps.version || !ps.mode || !ps.max_age) {
		perr(&ps, "version, mode or max_age missing");
		goto bad;
	}
	if (p->mode != MTASTS_MODE_NONE && p->nmx == 0) {
		perr(&ps, "no mx in an enforce or testing policy");
		goto bad;
	}
	return 0;
bad:
	/* nothing of a refused policy is to be used */
	memset(p, 0, sizeof(*p));
	return -1;
}

/* mtasts_mx_match - see mtasts.h. */
bool
mtasts_mx_match(const char *pattern, const char *host)
{
	size_t		 hl = strlen(host), pl = strlen(pattern);
	const char	*dot;

	if (hl > 0 && host[hl - 1] == '.')
		hl--;			/* the root dot */
	if (pl > 2 && pattern[0] == '*' && pattern[1] == '.') {
		/* exactly one left-most label, then the rest */
		if ((dot = memchr(host, '.', hl)) == NULL || dot == host)
			return false;
		hl -= (size_t)(dot + 1 - host);
		host = dot + 1;
		pattern += 2;
		pl -= 2;
	}
	if (hl != pl)
		return false;
	for (size_t i = 0; i < pl; i++) {
		char	c = host[i];

		if ((char)(c >= 'A' && c <= 'Z' ? c + 32 : c) != pattern[i])
			return false;
	}
	return true;
}

/* mtasts_policy_match - see mtasts.h. */
bool
mtasts_policy_match(const struct mtasts_policy *p, const char *host)
{
	for (size_t i = 0; i < p->nmx; i++)
		if (mtasts_mx_match(p->mx[i], host))
			return true;
	return false;
}
