/*
 * dkim_verify.c - DKIM verification (RFC 6376 6, RFC 8301, RFC 8463):
 * parse every DKIM-Signature field, hand out the key names to look up,
 * then check each signature against its key record.  The two steps let
 * smtpd run the TXT lookups asynchronously; dkim_verify() runs them
 * through a synchronous callback for the CLI and the tests.
 *
 * Runs in the CLI now and later in smtpd.  Pure: no I/O, no logging;
 * each signature's outcome is a result and a short reason.
 *
 * Trust: none.  Signature fields and key records are attacker text:
 * tag lists are parsed strictly, names validated before use in a DNS
 * name, base64 decoded with bounds, counts capped (DKIM_SIGS_MAX,
 * DKIM_HNAMES_MAX), and rsa-sha1 and RSA keys under 1024 bits refused
 * before any crypto (RFC 8301).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/base64.h"
#include "lib/buf.h"
#include "auth/dkim.h"
#include "lib/util.h"

#define SIG_NAME	"DKIM-Signature"
#define KEY_REC_MAX	65536

struct keyrec {
	enum dkim_keytype	 type;
	bool			 strict;	/* t=s */
	struct dkim_key		*key;
};

static void	 finish(struct dkim_sig *, enum dkim_result, const char *);
static bool	 val_is(const struct dkim_tag *, const char *);
static bool	 list_has(const struct dkim_tag *, const char *);
static bool	 get_number(const struct dkim_tag *, uint64_t *);
static bool	 copy_name(const struct dkim_tag *, char *, size_t);
static int	 parse_alg(struct dkim_sig *, const struct dkim_tags *);
static int	 parse_canon(struct dkim_sig *, const struct dkim_tag *);
static int	 parse_hnames(struct dkim_sig *, const struct dkim_tag *);
static int	 parse_auid(struct dkim_sig *, const struct dkim_tag *);
static int	 parse_hashes(struct dkim_sig *, const struct dkim_tags *);
static int	 parse_times(struct dkim_sig *, const struct dkim_tags *);
static int	 parse_sig(struct dkim_sig *, const struct dkim_hdr *);
static void	 check_policy(struct dkim_sig *, int64_t);
static const char *auid_domain(const struct dkim_sig *);
static const char *key_tags(struct dkim_sig *, const struct dkim_tags *,
		    struct keyrec *);
static int	 parse_keyrec(struct dkim_sig *, const char *, size_t,
		    struct keyrec *);
static int	 body_hash_cached(struct dkim_verify *, const struct dkim_sig *,
		    const struct dkim_bh **);
static void	 check(struct dkim_verify *, struct dkim_sig *,
		    const struct keyrec *);

/* finish - the final result of a signature, once. */
static void
finish(struct dkim_sig *s, enum dkim_result r, const char *reason)
{
	s->result = r;
	str_copy(s->reason, reason, sizeof(s->reason));
}

/* val_is - is the tag's value exactly v (case-insensitive)? */
static bool
val_is(const struct dkim_tag *t, const char *v)
{
	return t->valuelen == strlen(v) &&
	    strncasecmp(t->value, v, t->valuelen) == 0;
}

/* list_has - does the colon-separated list (FWS allowed) contain v? */
static bool
list_has(const struct dkim_tag *t, const char *v)
{
	size_t	 vl = strlen(v), i = 0, n = t->valuelen, a, e;

	while (i <= n) {
		while (i < n && strchr(" \t\r\n", t->value[i]) != NULL)
			i++;
		a = i;
		while (i < n && t->value[i] != ':')
			i++;
		e = i;
		while (e > a && strchr(" \t\r\n", t->value[e - 1]) != NULL)
			e--;
		if (e - a == vl && strncasecmp(t->value + a, v, vl) == 0)
			return true;
		i++;
	}
	return false;
}

/* get_number - 1*DIGIT; saturates at UINT64_MAX. */
static bool
get_number(const struct dkim_tag *t, uint64_t *v)
{
	*v = 0;
	if (t->valuelen == 0)
		return false;
	for (size_t i = 0; i < t->valuelen; i++) {
		if (t->value[i] < '0' || t->value[i] > '9')
			return false;
		if (ckd_mul(v, *v, 10) ||
		    ckd_add(v, *v, (uint64_t)(t->value[i] - '0')))
			*v = UINT64_MAX;
	}
	return true;
}

/* copy_name - a valid domain or selector, lower-cased, into dst. */
static bool
copy_name(const struct dkim_tag *t, char *dst, size_t size)
{
	if (t == NULL || !dkim_name_is_valid(t->value, t->valuelen) ||
	    t->valuelen >= size)
		return false;
	memcpy(dst, t->value, t->valuelen);
	dst[t->valuelen] = '\0';
	str_lower(dst);
	return true;
}

static int
parse_alg(struct dkim_sig *s, const struct dkim_tags *tags)
{
	const struct dkim_tag	*a = dkim_tags_find(tags, "a");

	if (a == NULL)
		return -1;
	if (val_is(a, "rsa-sha256"))
		s->alg = DKIM_ALG_RSA_SHA256;
	else if (val_is(a, "ed25519-sha256"))
		s->alg = DKIM_ALG_ED25519_SHA256;
	else if (val_is(a, "rsa-sha1"))
		s->alg = DKIM_ALG_RSA_SHA1;
	else
		return -1;
	return 0;
}

/* parse_canon - c= "header[/body]", default simple/simple. */
static int
parse_canon(struct dkim_sig *s, const struct dkim_tag *c)
{
	const char	*slash;
	size_t		 hl;

	s->hcanon = s->bcanon = DKIM_CANON_SIMPLE;
	if (c == NULL)
		return 0;
	slash = memchr(c->value, '/', c->valuelen);
	hl = slash != NULL ? (size_t)(slash - c->value) : c->valuelen;
	if (hl == 7 && strncmp(c->value, "relaxed", 7) == 0)
		s->hcanon = DKIM_CANON_RELAXED;
	else if (hl != 6 || strncmp(c->value, "simple", 6) != 0)
		return -1;
	if (slash == NULL)
		return 0;
	hl = c->valuelen - hl - 1;
	if (hl == 7 && strncmp(slash + 1, "relaxed", 7) == 0)
		s->bcanon = DKIM_CANON_RELAXED;
	else if (hl != 6 || strncmp(slash + 1, "simple", 6) != 0)
		return -1;
	return 0;
}

/* parse_hnames - h=: field names split at ':', FWS around them cut;
 * From must be among them (RFC 6376 5.4). */
static int
parse_hnames(struct dkim_sig *s, const struct dkim_tag *h)
{
	size_t	 i = 0, n, a, e;

	if (h == NULL || !list_has(h, "from"))
		return -1;
	n = h->valuelen;
	while (i <= n) {
		while (i < n && strchr(" \t\r\n", h->value[i]) != NULL)
			i++;
		a = i;
		while (i < n && h->value[i] != ':')
			i++;
		e = i;
		while (e > a && strchr(" \t\r\n", h->value[e - 1]) != NULL)
			e--;
		if (e == a || s->nhnames == DKIM_HNAMES_MAX)
			return -1;
		for (size_t k = a; k < e; k++)
			if (h->value[k] < 33 || h->value[k] > 126)
				return -1;
		if (s->nhnames % 16 == 0)
			s->hnames = xreallocarray(s->hnames, s->nhnames + 16,
			    sizeof(*s->hnames));
		s->hnames[s->nhnames++] = xstrndup(h->value + a, e - a);
		i++;
	}
	return 0;
}

/* parse_auid - i=: "[local]@domain", the domain d= or below it. */
static int
parse_auid(struct dkim_sig *s, const struct dkim_tag *i)
{
	const char	*at, *dom;
	size_t		 dl, l = strlen(s->domain);

	if (i == NULL)
		return 0;
	if (i->valuelen > 512 ||
	    (at = memrchr(i->value, '@', i->valuelen)) == NULL)
		return -1;
	dom = at + 1;
	dl = i->valuelen - (size_t)(dom - i->value);
	if (!dkim_name_is_valid(dom, dl))
		return -1;
	if (!(dl == l && strncasecmp(dom, s->domain, l) == 0) &&
	    !(dl > l + 1 && dom[dl - l - 1] == '.' &&
	    strncasecmp(dom + dl - l, s->domain, l) == 0))
		return -1;
	s->auid = xstrndup(i->value, i->valuelen);
	return 0;
}

/* parse_hashes - bh= and b=, base64; bh= has the hash's size. */
static int
parse_hashes(struct dkim_sig *s, const struct dkim_tags *tags)
{
	const struct dkim_tag	*bh = dkim_tags_find(tags, "bh");
	const struct dkim_tag	*b = dkim_tags_find(tags, "b");

	if (bh == NULL || b == NULL ||
	    base64_decode_alloc(bh->value, bh->valuelen, BASE64_FWS, &s->bh,
	    &s->bhlen) ||
	    base64_decode_alloc(b->value, b->valuelen, BASE64_FWS, &s->b,
	    &s->blen))
		return -1;
	/* rsa-sha1 is refused by policy later, whatever its bh= says */
	if (s->blen == 0 || (s->alg != DKIM_ALG_RSA_SHA1 && s->bhlen != 32))
		return -1;
	return 0;
}

/* parse_times - t=, x= and l=. */
static int
parse_times(struct dkim_sig *s, const struct dkim_tags *tags)
{
	const struct dkim_tag	*t = dkim_tags_find(tags, "t");
	const struct dkim_tag	*x = dkim_tags_find(tags, "x");
	const struct dkim_tag	*l = dkim_tags_find(tags, "l");
	uint64_t		 v;

	s->t = s->x = -1;
	if (t != NULL) {
		if (!get_number(t, &v))
			return -1;
		s->t = v > INT64_MAX ? INT64_MAX : (int64_t)v;
	}
	if (x != NULL) {
		if (!get_number(x, &v))
			return -1;
		s->x = v > INT64_MAX ? INT64_MAX : (int64_t)v;
	}
	if (s->t >= 0 && s->x >= 0 && s->x < s->t)
		return -1;		/* RFC 6376 3.5: x= after t= */
	if (l != NULL) {
		if (!get_number(l, &s->l))
			return -1;
		s->has_l = true;
	}
	return 0;
}

/* parse_sig - the tags of one DKIM-Signature field; -1 = malformed,
 * with the reason already set. */
static int
parse_sig(struct dkim_sig *s, const struct dkim_hdr *h)
{
	const char		*colon = memchr(h->raw, ':', h->rawlen);
	size_t			 off = (size_t)(colon - h->raw) + 1;
	struct dkim_tags	 tags;
	const struct dkim_tag	*v, *q;
	const char		*why = NULL;

	if (dkim_tags_parse(h->raw + off, h->rawlen - off, &tags) !=
	    DKIM_TAGS_OK)
		why = "malformed tag list";
	else if ((v = dkim_tags_find(&tags, "v")) == NULL || !val_is(v, "1"))
		why = "missing or unknown v=";
	else if (parse_alg(s, &tags) == -1)
		why = "missing or unknown a=";
	else if (parse_canon(s, dkim_tags_find(&tags, "c")) == -1)
		why = "unknown c=";
	else if (!copy_name(dkim_tags_find(&tags, "d"), s->domain,
	    sizeof(s->domain)))
		why = "missing or bad d=";
	else if (!copy_name(dkim_tags_find(&tags, "s"), s->selector,
	    sizeof(s->selector)) || strlen(s->selector) +
	    strlen(s->domain) + sizeof("._domainkey.") > DKIM_NAME_MAX + 1)
		why = "missing or bad s=";
	else if (parse_hnames(s, dkim_tags_find(&tags, "h")) == -1)
		why = "bad h= or From not signed";
	else if (parse_auid(s, dkim_tags_find(&tags, "i")) == -1)
		why = "i= not within d=";
	else if (parse_hashes(s, &tags) == -1)
		why = "bad b= or bh=";
	else if (parse_times(s, &tags) == -1)
		why = "bad t=, x= or l=";
	else if ((q = dkim_tags_find(&tags, "q")) != NULL &&
	    !list_has(q, "dns/txt"))
		why = "unknown q=";
	if (why == NULL)
		return 0;
	finish(s, DKIM_NEUTRAL, why);
	return -1;
}

/* check_policy - refusals that need no key: RFC 8301, t=, x=. */
static void
check_policy(struct dkim_sig *s, int64_t now)
{
	if (s->alg == DKIM_ALG_RSA_SHA1)
		finish(s, DKIM_POLICY, "rsa-sha1 refused, RFC 8301");
	else if (s->x >= 0 && s->x < now)
		finish(s, DKIM_POLICY, "signature expired");
	else if (s->t >= 0 && s->t > now && s->t - now > DKIM_FUTURE_SLOP)
		finish(s, DKIM_POLICY, "signature dated in the future");
}

/* dkim_verify_begin - see dkim.h. */
int
dkim_verify_begin(struct dkim_verify *v, const char *msg, size_t len,
    int64_t now, char *err, size_t errlen)
{
	size_t	 n = 0;

	memset(v, 0, sizeof(*v));
	v->now = now;
	if (dkim_msg_parse(msg, len, &v->msg) == -1) {
		snprintf(err, errlen, "malformed header");
		return -1;
	}
	for (size_t i = 0; i < v->msg.nhdr; i++)
		if (v->msg.hdr[i].namelen == sizeof(SIG_NAME) - 1 &&
		    strncasecmp(v->msg.hdr[i].name, SIG_NAME,
		    sizeof(SIG_NAME) - 1) == 0 && n < DKIM_SIGS_MAX)
			n++;
	v->sig = xcalloc(n + 1, sizeof(*v->sig));
	for (size_t i = 0; i < v->msg.nhdr && v->nsig < n; i++) {
		struct dkim_sig	*s = &v->sig[v->nsig];

		if (v->msg.hdr[i].namelen != sizeof(SIG_NAME) - 1 ||
		    strncasecmp(v->msg.hdr[i].name, SIG_NAME,
		    sizeof(SIG_NAME) - 1) != 0)
			continue;
		s->hdr = i;
		v->nsig++;
		if (parse_sig(s, &v->msg.hdr[i]) == 0)
			check_policy(s, now);
	}
	return 0;
}

bool
dkim_verify_pending(const struct dkim_verify *v, size_t i)
{
	return i < v->nsig && v->sig[i].result == DKIM_PENDING;
}

/* dkim_verify_keyname - where signature i's key record lives. */
void
dkim_verify_keyname(const struct dkim_verify *v, size_t i, char *name,
    size_t size)
{
	snprintf(name, size, "%s._domainkey.%s", v->sig[i].selector,
	    v->sig[i].domain);
}

/* auid_domain - the domain of i=, or d= without one. */
static const char *
auid_domain(const struct dkim_sig *s)
{
	const char	*at;

	if (s->auid == NULL || (at = strrchr(s->auid, '@')) == NULL)
		return s->domain;
	return at + 1;
}

/* key_tags - what the record's v=, k=, h=, s= and t= allow (RFC 6376
 * 3.6.1); NULL if this signature may use the key, else why not. */
static const char *
key_tags(struct dkim_sig *s, const struct dkim_tags *tags, struct keyrec *k)
{
	const struct dkim_tag	*t;

	if ((t = dkim_tags_find(tags, "v")) != NULL &&
	    (t != &tags->tag[0] || !val_is(t, "DKIM1")))
		return "bad v= in key record";
	k->type = DKIM_KEY_RSA;
	if ((t = dkim_tags_find(tags, "k")) != NULL) {
		if (val_is(t, "ed25519"))
			k->type = DKIM_KEY_ED25519;
		else if (!val_is(t, "rsa"))
			return "unknown key type k=";
	}
	if ((k->type == DKIM_KEY_ED25519) !=
	    (s->alg == DKIM_ALG_ED25519_SHA256))
		return "key type does not match a=";
	if ((t = dkim_tags_find(tags, "h")) != NULL &&
	    !list_has(t, s->alg == DKIM_ALG_RSA_SHA1 ? "sha1" : "sha256"))
		return "hash algorithm not allowed by key";
	if ((t = dkim_tags_find(tags, "s")) != NULL && !list_has(t, "*") &&
	    !list_has(t, "email"))
		return "key not for email (s=)";
	if ((t = dkim_tags_find(tags, "t")) != NULL) {
		s->testing = list_has(t, "y");
		k->strict = list_has(t, "s");
	}
	if ((t = dkim_tags_find(tags, "p")) == NULL)
		return "key record without p=";
	if (t->valuelen == 0)
		return "key revoked";
	return NULL;
}

/* parse_keyrec - the key record; -1 with the result set on refusal. */
static int
parse_keyrec(struct dkim_sig *s, const char *rec, size_t len,
    struct keyrec *k)
{
	struct dkim_tags	 tags;
	const struct dkim_tag	*p;
	const char		*why;
	unsigned char		*raw = NULL;
	size_t			 rawlen = 0;

	memset(k, 0, sizeof(*k));
	if (len > KEY_REC_MAX || dkim_tags_parse(rec, len, &tags) !=
	    DKIM_TAGS_OK)
		why = "malformed key record";
	else if ((why = key_tags(s, &tags, k)) == NULL) {
		p = dkim_tags_find(&tags, "p");
		if (base64_decode_alloc(p->value, p->valuelen, BASE64_FWS, &raw, &rawlen) ==
		    -1 || dkim_key_from_record(k->type, raw, rawlen,
		    &k->key) == -1)
			why = "unusable public key";
		free(raw);
	}
	if (why == NULL)
		return 0;
	finish(s, DKIM_PERMERROR, why);
	return -1;
}

/*
 * body_hash_cached - the body hash s needs, computed once per (canon, l)
 * for the whole message: dkim_body_hash's 0 or -1, or -2 when it would
 * be a new one past DKIM_BODY_HASHES_MAX (many signatures, each with its
 * own l=, must not make us hash a large body over and over).
 */
static int
body_hash_cached(struct dkim_verify *v, const struct dkim_sig *s,
    const struct dkim_bh **out)
{
	struct dkim_bh	*e;

	for (size_t i = 0; i < v->nbh; i++) {
		e = &v->bh[i];
		if (e->canon == s->bcanon && e->has_l == s->has_l &&
		    (!s->has_l || e->l == s->l)) {
			*out = e;
			return e->rc;
		}
	}
	if (v->nbh == DKIM_BODY_HASHES_MAX)
		return -2;
	e = &v->bh[v->nbh++];
	e->canon = s->bcanon;
	e->has_l = s->has_l;
	e->l = s->l;
	e->rc = dkim_body_hash(&v->msg, s->bcanon, s->has_l, s->l, e->bh);
	*out = e;
	return e->rc;
}

/* check - the body hash, then the signature (RFC 6376 6.1.3). */
static void
check(struct dkim_verify *v, struct dkim_sig *s, const struct keyrec *k)
{
	const struct dkim_hdr	*h = &v->msg.hdr[s->hdr];
	const struct dkim_bh	*bh;
	struct buf		 data;
	int			 rc;

	if (k->strict && strcasecmp(auid_domain(s), s->domain) != 0) {
		finish(s, DKIM_PERMERROR, "i= is a subdomain but key has t=s");
		return;
	}
	if (k->type == DKIM_KEY_RSA &&
	    dkim_key_bits(k->key) < DKIM_RSA_MIN_BITS) {
		finish(s, DKIM_POLICY, "RSA key shorter than 1024 bits");
		return;
	}
	if ((rc = body_hash_cached(v, s, &bh)) == -2) {
		finish(s, DKIM_POLICY, "too many distinct body hashes");
		return;
	}
	if (rc == -1) {
		finish(s, DKIM_FAIL, "l= longer than the body");
		return;
	}
	if (s->bhlen != sizeof(bh->bh) ||
	    memcmp(bh->bh, s->bh, sizeof(bh->bh)) != 0) {
		finish(s, DKIM_FAIL, "body hash mismatch");
		return;
	}
	buf_init(&data, 0);
	if (dkim_hash_input(&v->msg, s->hcanon,
	    (const char *const *)s->hnames, s->nhnames, h->raw, h->rawlen,
	    &data) == -1)
		finish(s, DKIM_PERMERROR, "cannot canonicalize");
	else if (dkim_key_verify(k->key, s->alg, data.data, data.len, s->b,
	    s->blen) == 1)
		finish(s, DKIM_PASS, "");
	else
		finish(s, DKIM_FAIL, "signature mismatch");
	buf_free(&data);
}

/* dkim_verify_key - finish signature i with its lookup result. */
void
dkim_verify_key(struct dkim_verify *v, size_t i, enum dkim_lookup st,
    const char *rec, size_t reclen)
{
	struct dkim_sig	*s;
	struct keyrec	 k;

	if (!dkim_verify_pending(v, i))
		return;
	s = &v->sig[i];
	switch (st) {
	case DKIM_LOOKUP_OK:
		break;
	case DKIM_LOOKUP_NONE:
		finish(s, DKIM_PERMERROR, "no key record");
		return;
	case DKIM_LOOKUP_TEMP:
		finish(s, DKIM_TEMPERROR, "key lookup failed");
		return;
	default:
		finish(s, DKIM_PERMERROR, "key lookup failed");
		return;
	}
	if (parse_keyrec(s, rec, reclen, &k) == -1)
		return;
	check(v, s, &k);
	dkim_key_free(k.key);
}

void
dkim_verify_free(struct dkim_verify *v)
{
	for (size_t i = 0; i < v->nsig; i++) {
		struct dkim_sig	*s = &v->sig[i];

		for (size_t j = 0; j < s->nhnames; j++)
			free(s->hnames[j]);
		free(s->hnames);
		free(s->auid);
		free(s->bh);
		free(s->b);
	}
	free(v->sig);
	dkim_msg_free(&v->msg);
	memset(v, 0, sizeof(*v));
}

/* dkim_verify - synchronous: begin, one lookup per signature, finish. */
int
dkim_verify(struct dkim_verify *v, const char *msg, size_t len, int64_t now,
    dkim_lookup_fn fn, void *arg, char *err, size_t errlen)
{
	struct buf	 rec;

	if (dkim_verify_begin(v, msg, len, now, err, errlen) == -1)
		return -1;
	buf_init(&rec, KEY_REC_MAX);
	for (size_t i = 0; i < v->nsig; i++) {
		enum dkim_lookup	 st;

		if (!dkim_verify_pending(v, i))
			continue;
		buf_reset(&rec);
		st = fn(arg, v->sig[i].selector, v->sig[i].domain, &rec);
		dkim_verify_key(v, i, st, rec.data != NULL ? rec.data : "",
		    rec.len);
	}
	buf_free(&rec);
	return 0;
}

const char *
dkim_verify_result_str(enum dkim_result r)
{
	static const char *const names[] = {
		[DKIM_PENDING] = "none",
		[DKIM_PASS] = "pass",
		[DKIM_FAIL] = "fail",
		[DKIM_NEUTRAL] = "neutral",
		[DKIM_POLICY] = "policy",
		[DKIM_TEMPERROR] = "temperror",
		[DKIM_PERMERROR] = "permerror",
	};

	if ((size_t)r < NELEM(names) && names[r] != NULL)
		return names[r];
	return "none";
}
