/*
 * dmarc.c - DMARC (RFC 7489) policy records (6.3, 6.4), identifier
 * alignment (3.1) and evaluation: policy discovery (6.6.3), the result
 * (6.6.2) and the disposition with sp= and pct= (6.6.4).  The PSL is in
 * dmarc_psl.c, the From field in dmarc_from.c.
 *
 * Runs in smtpd at end of data (later) and in the CLI.  Pure: no I/O,
 * no logging, no allocation; the caller supplies the DNS answers and the
 * random number that pct= samples with.
 *
 * Trust: none.  Records come from DNS and are read with explicit
 * lengths; the tag-list is split by dkim_tags_parse (the same syntax,
 * RFC 7489 6.3), and every known value is checked against the ABNF of
 * 6.4 before it is used.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "auth/dkim.h"
#include "auth/dmarc.h"
#include "lib/util.h"

#define DMARC_RI_DEFAULT	86400

/* What parsing one known tag can say. */
enum tagv {
	TAGV_OK = 0,
	TAGV_BAD,		/* the record is bad */
	TAGV_BAD_POLICY,	/* p= or sp= invalid: 6.6.3 step 6 */
};

struct tagdef {
	const char	*name;
	enum tagv	(*parse)(const char *, size_t, struct dmarc_record *);
};

static bool	 ieq_n(const char *, size_t, const char *);
static bool	 is_wsp(int);
static bool	 is_alnum(int);
static enum tagv parse_p(const char *, size_t, struct dmarc_record *);
static enum tagv parse_sp(const char *, size_t, struct dmarc_record *);
static enum tagv parse_adkim(const char *, size_t, struct dmarc_record *);
static enum tagv parse_aspf(const char *, size_t, struct dmarc_record *);
static enum tagv parse_pct(const char *, size_t, struct dmarc_record *);
static enum tagv parse_fo(const char *, size_t, struct dmarc_record *);
static enum tagv parse_rf(const char *, size_t, struct dmarc_record *);
static enum tagv parse_ri(const char *, size_t, struct dmarc_record *);
static enum tagv parse_rua(const char *, size_t, struct dmarc_record *);
static enum tagv parse_ruf(const char *, size_t, struct dmarc_record *);
static int	 disp_word(const char *, size_t, enum dmarc_disp *);
static enum tagv align_word(const char *, size_t, enum dmarc_align *);
static bool	 uri_is_valid(const char *, size_t);
static size_t	 uri_list(const char *, size_t, char *, size_t);
static bool	 has_dup(const struct dkim_tags *);
static enum dmarc_rec_res apply_tags(const struct dkim_tags *,
		    struct dmarc_record *);
static size_t	 rr_pick(const struct dmarc_rrset *, size_t *);
static enum dmarc_result discover(const struct dmarc_input *,
		    struct dmarc_output *);
static enum dmarc_result authenticate(const struct dmarc_input *,
		    struct dmarc_output *);
static enum dmarc_disp less_strict(enum dmarc_disp);
static unsigned	 rank(const struct dmarc_output *);

static const struct tagdef tagdefs[] = {
	{ "p",		parse_p },
	{ "sp",		parse_sp },
	{ "adkim",	parse_adkim },
	{ "aspf",	parse_aspf },
	{ "pct",	parse_pct },
	{ "fo",		parse_fo },
	{ "rf",		parse_rf },
	{ "ri",		parse_ri },
	{ "rua",	parse_rua },
	{ "ruf",	parse_ruf },
};

/* ieq_n - s (n bytes) equals the C string w, ignoring ASCII case. */
static bool
ieq_n(const char *s, size_t n, const char *w)
{
	size_t	 i;

	for (i = 0; i < n && w[i] != '\0'; i++) {
		int	 a = s[i], b = w[i];

		if (a >= 'A' && a <= 'Z')
			a += 'a' - 'A';
		if (b >= 'A' && b <= 'Z')
			b += 'a' - 'A';
		if (a != b)
			return false;
	}
	return i == n && w[i] == '\0';
}

static bool
is_wsp(int c)
{
	return c == ' ' || c == '\t';
}

static bool
is_alnum(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

/* disp_word - "none" / "quarantine" / "reject", any case (ABNF). */
static int
disp_word(const char *v, size_t n, enum dmarc_disp *d)
{
	if (ieq_n(v, n, "none"))
		*d = DMARC_DISP_NONE;
	else if (ieq_n(v, n, "quarantine"))
		*d = DMARC_DISP_QUARANTINE;
	else if (ieq_n(v, n, "reject"))
		*d = DMARC_DISP_REJECT;
	else
		return -1;
	return 0;
}

static enum tagv
parse_p(const char *v, size_t n, struct dmarc_record *r)
{
	return disp_word(v, n, &r->p) == 0 ? TAGV_OK : TAGV_BAD_POLICY;
}

static enum tagv
parse_sp(const char *v, size_t n, struct dmarc_record *r)
{
	r->has_sp = true;
	return disp_word(v, n, &r->sp) == 0 ? TAGV_OK : TAGV_BAD_POLICY;
}

static enum tagv
align_word(const char *v, size_t n, enum dmarc_align *a)
{
	if (ieq_n(v, n, "r"))
		*a = DMARC_ALIGN_RELAXED;
	else if (ieq_n(v, n, "s"))
		*a = DMARC_ALIGN_STRICT;
	else
		return TAGV_BAD;
	return TAGV_OK;
}

static enum tagv
parse_adkim(const char *v, size_t n, struct dmarc_record *r)
{
	return align_word(v, n, &r->adkim);
}

static enum tagv
parse_aspf(const char *v, size_t n, struct dmarc_record *r)
{
	return align_word(v, n, &r->aspf);
}

/* parse_pct - 1*3DIGIT, 0-100. */
static enum tagv
parse_pct(const char *v, size_t n, struct dmarc_record *r)
{
	unsigned	 x = 0;

	if (n == 0 || n > 3)
		return TAGV_BAD;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return TAGV_BAD;
		x = x * 10 + (unsigned)(v[i] - '0');
	}
	if (x > 100)
		return TAGV_BAD;
	r->pct = x;
	return TAGV_OK;
}

/* parse_fo - ("0" / "1" / "d" / "s") *(*WSP ":" *WSP same). */
static enum tagv
parse_fo(const char *v, size_t n, struct dmarc_record *r)
{
	unsigned	 fo = 0;
	size_t		 i = 0;

	for (;;) {
		if (i == n)
			return TAGV_BAD;
		switch (v[i]) {
		case '0': fo |= DMARC_FO_0; break;
		case '1': fo |= DMARC_FO_1; break;
		case 'd': case 'D': fo |= DMARC_FO_D; break;
		case 's': case 'S': fo |= DMARC_FO_S; break;
		default: return TAGV_BAD;
		}
		for (i++; i < n && is_wsp(v[i]); i++)
			;
		if (i == n)
			break;
		if (v[i] != ':')
			return TAGV_BAD;
		for (i++; i < n && is_wsp(v[i]); i++)
			;
	}
	r->fo = fo;
	return TAGV_OK;
}

/* parse_rf - Keyword *(*WSP ":" *WSP Keyword); Keyword is an Ldh-str
 * (RFC 5321).  Only "afrf" is registered; others are kept out. */
static enum tagv
parse_rf(const char *v, size_t n, struct dmarc_record *r)
{
	size_t	 i = 0;
	bool	 afrf = false;

	for (;;) {
		size_t	 s = i;

		while (i < n && (is_alnum(v[i]) || v[i] == '-'))
			i++;
		if (i == s || v[i - 1] == '-' || v[s] == '-')
			return TAGV_BAD;
		if (ieq_n(v + s, i - s, "afrf"))
			afrf = true;
		while (i < n && is_wsp(v[i]))
			i++;
		if (i == n)
			break;
		if (v[i] != ':')
			return TAGV_BAD;
		for (i++; i < n && is_wsp(v[i]); i++)
			;
	}
	r->rf_afrf = afrf;
	return TAGV_OK;
}

/* parse_ri - 1*32DIGIT seconds; capped at UINT32_MAX. */
static enum tagv
parse_ri(const char *v, size_t n, struct dmarc_record *r)
{
	uint32_t	 x = 0;

	if (n == 0 || n > 32)
		return TAGV_BAD;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return TAGV_BAD;
		if (ckd_mul(&x, x, 10u) || ckd_add(&x, x, (uint32_t)(v[i] - '0')))
			x = UINT32_MAX;
	}
	r->ri = x;
	return TAGV_OK;
}

/*
 * uri_is_valid - dmarc-uri (6.4): an absolute URI (scheme ":" then at
 * least one URI character; RFC 3986 characters and %HH escapes only) with
 * an optional "!" 1*DIGIT [k/m/g/t] size limit.  Commas must be escaped.
 */
static bool
uri_is_valid(const char *u, size_t n)
{
	static const char	 extra[] = "-._~:/?#[]@!$&'()*+;=";
	size_t			 i = 0, colon;

	if (n == 0 || !((u[0] | 0x20) >= 'a' && (u[0] | 0x20) <= 'z'))
		return false;
	while (i < n && (is_alnum(u[i]) || u[i] == '+' || u[i] == '-' ||
	    u[i] == '.'))
		i++;
	if (i == n || u[i] != ':' || i + 1 == n)
		return false;
	colon = i;
	for (i = colon + 1; i < n; i++) {
		if (u[i] == '%') {
			if (i + 2 >= n || !is_alnum(u[i + 1]) ||
			    !is_alnum(u[i + 2]))
				return false;
			i += 2;
		} else if (!is_alnum(u[i]) || u[i] == '\0') {
			if (u[i] == '\0' || strchr(extra, u[i]) == NULL)
				return false;
		}
	}
	return true;
}

/*
 * uri_list - dmarc-uri *(*WSP "," *WSP dmarc-uri): copy each valid URI
 * into out (size bytes), ","-joined; invalid ones are left out (6.6.3
 * asks only for "at least one syntactically valid" URI).  Returns the
 * number kept.
 */
static size_t
uri_list(const char *v, size_t n, char *out, size_t size)
{
	size_t	 i = 0, kept = 0, olen = 0;

	out[0] = '\0';
	while (i < n) {
		size_t	 s, e;

		while (i < n && is_wsp(v[i]))
			i++;
		s = i;
		while (i < n && v[i] != ',')
			i++;
		for (e = i; e > s && is_wsp(v[e - 1]); e--)
			;
		if (i < n)
			i++;		/* the ',' */
		if (!uri_is_valid(v + s, e - s) ||
		    olen + (kept > 0) + (e - s) + 1 > size)
			continue;
		if (kept++ > 0)
			out[olen++] = ',';
		memcpy(out + olen, v + s, e - s);
		olen += e - s;
		out[olen] = '\0';
	}
	return kept;
}

static enum tagv
parse_rua(const char *v, size_t n, struct dmarc_record *r)
{
	r->nrua = uri_list(v, n, r->rua, sizeof(r->rua));
	return TAGV_OK;
}

static enum tagv
parse_ruf(const char *v, size_t n, struct dmarc_record *r)
{
	r->nruf = uri_list(v, n, r->ruf, sizeof(r->ruf));
	return TAGV_OK;
}

/* dmarc_record_is_dmarc - "v" *WSP "=" *WSP "DMARC1" then ";", WSP or end. */
bool
dmarc_record_is_dmarc(const char *txt, size_t len)
{
	size_t	 i = 0;

	if (len == 0 || (txt[0] != 'v' && txt[0] != 'V'))
		return false;
	for (i = 1; i < len && is_wsp(txt[i]); i++)
		;
	if (i == len || txt[i] != '=')
		return false;
	for (i++; i < len && is_wsp(txt[i]); i++)
		;
	if (len - i < 6 || memcmp(txt + i, "DMARC1", 6) != 0)
		return false;
	i += 6;
	return i == len || txt[i] == ';' || is_wsp(txt[i]);
}

/* has_dup - a tag name twice, ignoring case (dkim_tags_parse checks
 * only exact duplicates). */
static bool
has_dup(const struct dkim_tags *t)
{
	for (size_t i = 0; i < t->n; i++)
		for (size_t j = i + 1; j < t->n; j++)
			if (t->tag[i].namelen == t->tag[j].namelen &&
			    strncasecmp(t->tag[i].name, t->tag[j].name,
			    t->tag[i].namelen) == 0)
				return true;
	return false;
}

/* apply_tags - every known tag after v=, then 6.6.3 step 6. */
static enum dmarc_rec_res
apply_tags(const struct dkim_tags *t, struct dmarc_record *r)
{
	bool	 has_p = false, bad_policy = false;

	for (size_t i = 1; i < t->n; i++) {
		const struct dkim_tag	*tag = &t->tag[i];

		for (size_t k = 0; k < NELEM(tagdefs); k++) {
			enum tagv	 v;

			if (!ieq_n(tag->name, tag->namelen, tagdefs[k].name))
				continue;
			v = tagdefs[k].parse(tag->value, tag->valuelen, r);
			if (v == TAGV_BAD)
				return DMARC_REC_BAD;
			if (v == TAGV_BAD_POLICY)
				bad_policy = true;
			if (k == 0)
				has_p = true;
		}
	}
	if (has_p && !bad_policy) {
		if (!r->has_sp)
			r->sp = r->p;
		return DMARC_REC_OK;
	}
	if (r->nrua == 0)
		return DMARC_REC_NO_POLICY;
	/* 6.6.3 6.1: act as if "v=DMARC1; p=none" had been retrieved. */
	r->p = r->sp = DMARC_DISP_NONE;
	r->has_sp = false;
	r->p_fallback = true;
	return DMARC_REC_OK;
}

/* dmarc_record_parse - one DMARC TXT record; see dmarc.h. */
enum dmarc_rec_res
dmarc_record_parse(const char *txt, size_t len, struct dmarc_record *out)
{
	struct dkim_tags	 t;
	struct dmarc_record	 r;
	enum dmarc_rec_res	 res;

	if (!dmarc_record_is_dmarc(txt, len))
		return DMARC_REC_NOT_DMARC;
	/* DKIM's FWS allows CRLF; a DMARC record's dmarc-sep does not. */
	if (memchr(txt, '\r', len) != NULL || memchr(txt, '\n', len) != NULL)
		return DMARC_REC_BAD;
	if (dkim_tags_parse(txt, len, &t) != DKIM_TAGS_OK || has_dup(&t))
		return DMARC_REC_BAD;
	memset(&r, 0, sizeof(r));
	r.pct = 100;
	r.fo = DMARC_FO_0;
	r.rf_afrf = true;
	r.ri = DMARC_RI_DEFAULT;
	if ((res = apply_tags(&t, &r)) == DMARC_REC_OK)
		*out = r;
	return res;
}

/* norm - a valid name, lower-cased, without its final dot; 0 or -1. */
static int
norm(const char *d, char *out)
{
	char	 tmp[DMARC_DOMAIN_MAX + 1];
	size_t	 n;

	if (d == NULL || dmarc_psl_org_domain(NULL, d, tmp, sizeof(tmp)) == -1)
		return -1;
	n = strlen(d);
	if (d[n - 1] == '.')
		n--;
	memcpy(out, d, n);
	out[n] = '\0';
	str_lower(out);
	return 0;
}

/* dmarc_aligned - identifier alignment (3.1.1, 3.1.2). */
bool
dmarc_aligned(const struct dmarc_psl *psl, enum dmarc_align mode,
    const char *from_domain, const char *identifier)
{
	char	 a[DMARC_DOMAIN_MAX + 1], b[DMARC_DOMAIN_MAX + 1];

	if (mode == DMARC_ALIGN_STRICT) {
		if (norm(from_domain, a) == -1 || norm(identifier, b) == -1)
			return false;
		return strcmp(a, b) == 0;
	}
	if (from_domain == NULL || identifier == NULL ||
	    dmarc_psl_org_domain(psl, from_domain, a, sizeof(a)) == -1 ||
	    dmarc_psl_org_domain(psl, identifier, b, sizeof(b)) == -1)
		return false;
	return strcmp(a, b) == 0;
}

/*
 * rr_pick - among the answers, count those that are DMARC records
 * (6.6.3 steps 2 and 4) and set *which to the last one.
 */
static size_t
rr_pick(const struct dmarc_rrset *rr, size_t *which)
{
	size_t	 n = 0;

	if (rr->status != DMARC_DNS_OK)
		return 0;
	for (size_t i = 0; i < rr->ntxt; i++) {
		size_t	 len = rr->txtlen != NULL ? rr->txtlen[i] :
		    strlen(rr->txt[i]);

		if (dmarc_record_is_dmarc(rr->txt[i], len)) {
			*which = i;
			n++;
		}
	}
	return n;
}

/*
 * discover - 6.6.3: the From domain's record, else (if different) the
 * organizational domain's.  Sets out->rec on success and returns
 * DMARC_RES_PASS as "go on"; else the final result.
 */
static enum dmarc_result
discover(const struct dmarc_input *in, struct dmarc_output *out)
{
	const struct dmarc_rrset	*rr = &in->from_rr;
	size_t				 n, i = 0, len;

	if (rr->status == DMARC_DNS_TEMP)
		return DMARC_RES_TEMPERROR;
	if ((n = rr_pick(rr, &i)) == 0) {
		char	 d[DMARC_DOMAIN_MAX + 1];

		if (norm(in->from_domain, d) == -1)
			return DMARC_RES_PERMERROR;
		if (strcmp(d, out->org_domain) == 0)
			return DMARC_RES_NONE;
		rr = &in->org_rr;
		if (rr->status == DMARC_DNS_TEMP)
			return DMARC_RES_TEMPERROR;
		n = rr_pick(rr, &i);
		out->from_org = true;
	}
	if (n != 1)			/* step 5: none, or several */
		return DMARC_RES_NONE;
	len = rr->txtlen != NULL ? rr->txtlen[i] : strlen(rr->txt[i]);
	switch (dmarc_record_parse(rr->txt[i], len, &out->rec)) {
	case DMARC_REC_OK:
		out->has_rec = true;
		return DMARC_RES_PASS;
	case DMARC_REC_NOT_DMARC:
		return DMARC_RES_NONE;	/* not reached: rr_pick checked */
	case DMARC_REC_NO_POLICY:
	case DMARC_REC_BAD:
		break;
	}
	return DMARC_RES_PERMERROR;
}

/*
 * authenticate - 6.6.2 steps 3-5: pass if an aligned identifier passed.
 * A failure is a temperror when an aligned identifier could not be
 * checked for now: a later try might pass.
 */
static enum dmarc_result
authenticate(const struct dmarc_input *in, struct dmarc_output *out)
{
	bool	 temp = false;

	for (size_t i = 0; i < in->ndkim; i++) {
		const struct dmarc_dkim	*k = &in->dkim[i];

		if (!dmarc_aligned(in->psl, out->rec.adkim, in->from_domain,
		    k->domain))
			continue;
		if (k->result == DKIM_PASS)
			out->dkim_aligned = true;
		else if (k->result == DKIM_TEMPERROR)
			temp = true;
	}
	if (dmarc_aligned(in->psl, out->rec.aspf, in->from_domain,
	    in->spf_domain)) {
		if (in->spf == DMARC_SPF_PASS)
			out->spf_aligned = true;
		else if (in->spf == DMARC_SPF_TEMPERROR)
			temp = true;
	}
	if (out->dkim_aligned || out->spf_aligned)
		return DMARC_RES_PASS;
	return temp ? DMARC_RES_TEMPERROR : DMARC_RES_FAIL;
}

/* less_strict - 6.6.4: the policy for failures that pct= left out. */
static enum dmarc_disp
less_strict(enum dmarc_disp d)
{
	return d == DMARC_DISP_REJECT ? DMARC_DISP_QUARANTINE :
	    DMARC_DISP_NONE;
}

/* dmarc_evaluate - discovery, alignment, result, disposition. */
void
dmarc_evaluate(const struct dmarc_input *in, struct dmarc_output *out)
{
	enum dmarc_result	 res;

	memset(out, 0, sizeof(*out));
	if (in->from_domain == NULL || dmarc_psl_org_domain(in->psl,
	    in->from_domain, out->org_domain, sizeof(out->org_domain)) == -1) {
		out->result = DMARC_RES_PERMERROR;
		return;
	}
	if ((res = discover(in, out)) != DMARC_RES_PASS) {
		out->result = res;
		return;
	}
	/* sp= is for mail from a subdomain, found at the org domain. */
	out->policy = out->from_org ? out->rec.sp : out->rec.p;
	out->result = authenticate(in, out);
	if (out->result != DMARC_RES_FAIL)
		return;
	out->disposition = out->policy;
	if (in->pct_rand % 100 >= out->rec.pct &&
	    out->policy != DMARC_DISP_NONE) {
		out->disposition = less_strict(out->policy);
		out->sampled_out = true;
	}
}

/* rank - how strongly an evaluation speaks against the message. */
static unsigned
rank(const struct dmarc_output *o)
{
	switch (o->result) {
	case DMARC_RES_FAIL:
		return 4 + (unsigned)o->disposition;
	case DMARC_RES_TEMPERROR:
		return 3;
	case DMARC_RES_PERMERROR:
		return 2;
	case DMARC_RES_NONE:
		return 1;
	case DMARC_RES_PASS:
		break;
	}
	return 0;
}

/* dmarc_stricter - see dmarc.h. */
bool
dmarc_stricter(const struct dmarc_output *a, const struct dmarc_output *b)
{
	return rank(a) > rank(b);
}

/* dmarc_result_str - RFC 8601 result names. */
const char *
dmarc_result_str(enum dmarc_result r)
{
	switch (r) {
	case DMARC_RES_NONE:		return "none";
	case DMARC_RES_PASS:		return "pass";
	case DMARC_RES_FAIL:		return "fail";
	case DMARC_RES_TEMPERROR:	return "temperror";
	case DMARC_RES_PERMERROR:	return "permerror";
	}
	return "permerror";
}

/* dmarc_disp_str - policy names as in p=. */
const char *
dmarc_disp_str(enum dmarc_disp d)
{
	switch (d) {
	case DMARC_DISP_NONE:		return "none";
	case DMARC_DISP_QUARANTINE:	return "quarantine";
	case DMARC_DISP_REJECT:		return "reject";
	}
	return "none";
}
