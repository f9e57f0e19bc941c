/*
 * tlsrpt.c - SMTP TLS Reporting (RFC 8460), the pure part (tlsrpt.h):
 * the TXT record's parser, the lines of the queue's day file, the UTC
 * day of a report, the aggregate, the JSON report and the report message.
 *
 * Trust: the TXT record comes from the DNS of any domain we send mail
 * to, so it is parsed strictly to RFC 8460 3's grammar, with each report
 * address checked before it may become an envelope recipient.  Event
 * fields come from our own deliver process but hold peer-chosen names
 * (MX host names from DNS); they are checked (tlsrpt_event_ok) before
 * they are counted, escaped in the day file, and escaped again in JSON.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <zlib.h>

#include "lib/base64.h"
#include "lib/buf.h"
#include "lib/util.h"
#include "mail/tlsrpt.h"

#define LINE_FIELDS	11
#define ADDR_MAX	254

static const char *const policy_types[] = {
	"tlsa", "sts", "no-policy-found", NULL
};
/* RFC 8460 4.3 (and its registry, 6.6) */
static const char *const result_types[] = {
	"starttls-not-supported", "certificate-host-mismatch",
	"certificate-expired", "certificate-not-trusted", "validation-failure",
	"tlsa-invalid", "dnssec-invalid", "dane-required",
	"sts-policy-fetch-error", "sts-policy-invalid", "sts-webpki-invalid",
	NULL
};

static bool
listed(const char *const *list, const char *s)
{
	for (; *list != NULL; list++)
		if (strcmp(*list, s) == 0)
			return true;
	return false;
}

/* ---- the TXT record ---- */

static bool
is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* ext_name_ok - (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".") */
static bool
ext_name_ok(const char *p, size_t n)
{
	if (n == 0 || n > 32 || !isalnum((unsigned char)p[0]))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!isalnum((unsigned char)p[i]) && p[i] != '_' &&
		    p[i] != '-' && p[i] != '.')
			return false;
	return true;
}

/* ext_value_ok - 1*(%x21-3A / %x3C / %x3E-7E) */
static bool
ext_value_ok(const char *p, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char	c = (unsigned char)p[i];

		if (c < 0x21 || c > 0x7e || c == ';' || c == '=')
			return false;
	}
	return true;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* mailto_addr - the address of "mailto:" p[0..n) (RFC 6068: up to '?',
 * percent-decoded), or NULL when it is not one plain address we would
 * put in an envelope: printable ASCII, no space, brackets or quotes,
 * one '@' with something on each side, at most ADDR_MAX bytes. */
static char *
mailto_addr(const char *p, size_t n)
{
	char	 out[ADDR_MAX + 1];
	size_t	 o = 0, at = 0, nat = 0;
	const char *q = memchr(p, '?', n);

	if (q != NULL)
		n = (size_t)(q - p);
	for (size_t i = 0; i < n; i++) {
		int	c = (unsigned char)p[i];

		if (c == '%') {
			int	h, l;

			if (i + 2 >= n || (h = hexval(p[i + 1])) < 0 ||
			    (l = hexval(p[i + 2])) < 0)
				return NULL;
			c = h * 16 + l;
			i += 2;
		}
		if (c <= 0x20 || c >= 0x7f || strchr("<>\"(),;:\\[]", c) !=
		    NULL || o >= ADDR_MAX)
			return NULL;
		if (c == '@') {
			at = o;
			nat++;
		}
		out[o++] = (char)c;
	}
	if (nat != 1 || at == 0 || at + 1 >= o)
		return NULL;
	out[o] = '\0';
	return xstrdup(out);
}

/* add_uri - one URI of rua; kinds we do not know are skipped. */
static void
add_uri(struct tlsrpt_txt *t, const char *p, size_t n)
{
	char	*v = NULL;
	enum tlsrpt_uri_kind kind;

	if (t->nrua >= TLSRPT_RUA_MAX)
		return;
	if (n > 7 && strncasecmp(p, "mailto:", 7) == 0) {
		kind = TLSRPT_MAILTO;
		v = mailto_addr(p + 7, n - 7);
	} else if (n > 8 && strncasecmp(p, "https://", 8) == 0) {
		kind = TLSRPT_HTTPS;
		v = xstrndup(p, n);
	} else
		return;
	if (v == NULL)
		return;
	t->rua[t->nrua].kind = kind;
	t->rua[t->nrua++].v = v;
}

/* parse_rua - "uri *(*WSP "," *WSP uri)" from *pp up to end; URIs end at
 * ',', ';', white space or the end (RFC 8460 3: those are %-encoded in
 * a URI). */
static int
parse_rua(struct tlsrpt_txt *t, const char **pp, const char *end)
{
	const char	*p = *pp;

	for (;;) {
		const char	*s = p;

		while (p < end && *p != ',' && *p != ';' && !is_wsp(*p))
			p++;
		if (p == s)
			return -1;
		for (const char *c = s; c < p; c++)
			if ((unsigned char)*c <= 0x20 ||
			    (unsigned char)*c >= 0x7f)
				return -1;
		add_uri(t, s, (size_t)(p - s));
		const char *q = p;
		while (q < end && is_wsp(*q))
			q++;
		if (q < end && *q == ',') {
			q++;
			while (q < end && is_wsp(*q))
				q++;
			p = q;
			continue;
		}
		*pp = p;
		return 0;
	}
}

/* tlsrpt_txt_parse - see tlsrpt.h.  RFC 8460 3:
 *   tlsrpt-record = tlsrpt-version 1*(field-delim tlsrpt-field)
 *                   [field-delim]
 *   field-delim   = *WSP ";" *WSP */
int
tlsrpt_txt_parse(const char *txt, size_t len, struct tlsrpt_txt *out,
    const char **why)
{
	const char	*p = txt, *end = txt + len;
	size_t		 nfields = 0;
	bool		 rua = false;
	const char	*dummy;

	if (why == NULL)
		why = &dummy;
	memset(out, 0, sizeof(*out));
	if (len < 10 || memcmp(txt, "v=TLSRPTv1", 10) != 0 ||
	    (len > 10 && !is_wsp(txt[10]) && txt[10] != ';')) {
		*why = "not a TLS-RPT record";
		return -1;
	}
	if (memchr(txt, '\0', len) != NULL) {
		*why = "NUL byte";
		goto bad;
	}
	p += 10;
	for (;;) {
		const char	*name, *eq;

		while (p < end && is_wsp(*p))
			p++;
		if (p == end)
			break;
		if (*p != ';') {
			*why = "';' expected";
			goto bad;
		}
		p++;
		while (p < end && is_wsp(*p))
			p++;
		if (p == end)
			break;		/* the optional last delimiter */
		name = p;
		while (p < end && *p != '=' && *p != ';' && !is_wsp(*p))
			p++;
		if (p == end || *p != '=') {
			*why = "'=' expected";
			goto bad;
		}
		eq = p++;
		nfields++;
		if ((size_t)(eq - name) == 3 && memcmp(name, "rua", 3) == 0) {
			if (rua) {
				*why = "rua twice";
				goto bad;
			}
			rua = true;
			if (parse_rua(out, &p, end) == -1) {
				*why = "bad rua";
				goto bad;
			}
			continue;
		}
		if (!ext_name_ok(name, (size_t)(eq - name))) {
			*why = "bad field name";
			goto bad;
		}
		const char *v = p;
		while (p < end && *p != ';' && !is_wsp(*p))
			p++;
		if (!ext_value_ok(v, (size_t)(p - v))) {
			*why = "bad field value";
			goto bad;
		}
	}
	if (nfields == 0 || !rua) {
		*why = "no rua";
		goto bad;
	}
	if (out->nrua == 0) {
		*why = "no mailto: or https: report URI";
		goto bad;
	}
	*why = NULL;
	return 0;
bad:
	tlsrpt_txt_free(out);
	return -2;
}

/* tlsrpt_txt_free - see tlsrpt.h. */
void
tlsrpt_txt_free(struct tlsrpt_txt *t)
{
	for (size_t i = 0; i < t->nrua; i++)
		free(t->rua[i].v);
	memset(t, 0, sizeof(*t));
}

/* ---- events ---- */

/* tlsrpt_policy_type_ok - see tlsrpt.h. */
bool
tlsrpt_policy_type_ok(const char *s)
{
	return s != NULL && listed(policy_types, s);
}

/* tlsrpt_result_ok - see tlsrpt.h. */
bool
tlsrpt_result_ok(const char *s)
{
	return s != NULL && (s[0] == '\0' || listed(result_types, s));
}

/* domain_ok - a host name: letters, digits, '-', '_' and dots, 1-253
 * bytes, no empty label. */
static bool
domain_ok(const char *s)
{
	size_t	n = strlen(s);

	if (n == 0 || n > 253 || s[0] == '.' || strstr(s, "..") != NULL)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' &&
		    s[i] != '.' && s[i] != '_')
			return false;
	return true;
}

/* field_ok - bounded, no control byte (but '\n' when lines may). */
static bool
field_ok(const char *s, bool lines)
{
	size_t	n;

	if (s == NULL || (n = strlen(s)) > TLSRPT_FIELD_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char	c = (unsigned char)s[i];

		if ((c < 0x20 || c == 0x7f) && !(lines && c == '\n'))
			return false;
	}
	return true;
}

/* tlsrpt_event_ok - see tlsrpt.h. */
bool
tlsrpt_event_ok(const struct tlsrpt_event *e)
{
	return tlsrpt_policy_type_ok(e->policy_type) &&
	    e->policy_domain != NULL && domain_ok(e->policy_domain) &&
	    field_ok(e->policy_strings, true) && field_ok(e->mx_host, true) &&
	    tlsrpt_result_ok(e->result) && field_ok(e->sending_ip, false) &&
	    field_ok(e->receiving_mx, false) &&
	    field_ok(e->receiving_ip, false) && field_ok(e->reason, false);
}

static void
put_escaped(struct buf *b, const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char	c = (unsigned char)*s;

		if (c == '%' || c < 0x20 || c == 0x7f)
			buf_printf(b, "%%%02X", c);
		else
			buf_putc(b, (char)c);
	}
}

/* tlsrpt_line_put - see tlsrpt.h. */
void
tlsrpt_line_put(const struct tlsrpt_event *e, struct buf *b)
{
	const char	*f[] = { e->policy_type, e->policy_domain,
	    e->policy_strings, e->mx_host, e->result, e->sending_ip,
	    e->receiving_mx, e->receiving_ip, e->reason };

	buf_printf(b, "1\t%llu", (unsigned long long)e->when);
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		buf_putc(b, '\t');
		put_escaped(b, f[i]);
	}
	buf_putc(b, '\n');
}

/* unescape - %XX in place; -1 on a bad escape or a NUL. */
static int
unescape(char *s)
{
	char	*o = s;

	for (; *s != '\0'; s++) {
		int	h, l;

		if (*s != '%') {
			*o++ = *s;
			continue;
		}
		if ((h = hexval(s[1])) < 0 || (l = hexval(s[2])) < 0 ||
		    h * 16 + l == 0)
			return -1;
		*o++ = (char)(h * 16 + l);
		s += 2;
	}
	*o = '\0';
	return 0;
}

/* tlsrpt_line_parse - see tlsrpt.h. */
int
tlsrpt_line_parse(char *line, struct tlsrpt_event *e)
{
	char		*f[LINE_FIELDS], *p = line, *endp;
	size_t		 n = 0;
	unsigned long long when;

	memset(e, 0, sizeof(*e));
	for (;;) {
		if (n == LINE_FIELDS)
			return -1;
		f[n++] = p;
		if ((p = strchr(p, '\t')) == NULL)
			break;
		*p++ = '\0';
	}
	if (n != LINE_FIELDS || strcmp(f[0], "1") != 0 ||
	    !isdigit((unsigned char)f[1][0]))
		return -1;
	when = strtoull(f[1], &endp, 10);
	if (*endp != '\0' || strlen(f[1]) > 19)
		return -1;
	for (size_t i = 2; i < n; i++)
		if (unescape(f[i]) == -1)
			return -1;
	e->when = when;
	e->policy_type = f[2];
	e->policy_domain = f[3];
	e->policy_strings = f[4];
	e->mx_host = f[5];
	e->result = f[6];
	e->sending_ip = f[7];
	e->receiving_mx = f[8];
	e->receiving_ip = f[9];
	e->reason = f[10];
	return tlsrpt_event_ok(e) ? 0 : -1;
}

/* tlsrpt_done_put - see tlsrpt.h.  domain is a tlsrpt_event_ok policy
 * domain: no byte of it needs escaping. */
void
tlsrpt_done_put(const char *domain, struct buf *b)
{
	buf_printf(b, "D\t%s\n", domain);
}

/* tlsrpt_done_parse - see tlsrpt.h. */
const char *
tlsrpt_done_parse(const char *line)
{
	if (line[0] != 'D' || line[1] != '\t' || !domain_ok(line + 2))
		return NULL;
	return line + 2;
}

/* ---- the day ---- */

/* tlsrpt_day - see tlsrpt.h. */
uint64_t
tlsrpt_day(uint64_t t)
{
	return t - t % TLSRPT_DAY;
}

/* tlsrpt_report_id - see tlsrpt.h.  The date alone names the day: the
 * report always covers all of it. */
char *
tlsrpt_report_id(uint64_t day, const char *domain, const char *host)
{
	char	date[32], *id;

	tlsrpt_rfc3339(day, date, sizeof(date));
	date[10] = '\0';			/* "2026-12-04" */
	xasprintf(&id, "%s_%s@%s", date, domain, host);
	return id;
}

/* ---- the aggregate ---- */

static struct tlsrpt_policy *
find_policy(struct tlsrpt_agg *a, const struct tlsrpt_event *e)
{
	struct tlsrpt_policy	*p;

	for (size_t i = 0; i < a->npol; i++) {
		p = &a->pol[i];
		if (strcmp(p->type, e->policy_type) == 0 &&
		    str_ieq(p->domain, e->policy_domain) &&
		    strcmp(p->strings, e->policy_strings) == 0 &&
		    strcmp(p->mx_host, e->mx_host) == 0)
			return p;
	}
	if (a->npol >= TLSRPT_POLICIES_MAX)
		return NULL;
	a->pol = xreallocarray(a->pol, a->npol + 1, sizeof(*a->pol));
	p = &a->pol[a->npol++];
	memset(p, 0, sizeof(*p));
	p->type = xstrdup(e->policy_type);
	p->domain = str_lower(xstrdup(e->policy_domain));
	p->strings = xstrdup(e->policy_strings);
	p->mx_host = xstrdup(e->mx_host);
	return p;
}

static void
add_detail(struct tlsrpt_agg *a, struct tlsrpt_policy *p,
    const struct tlsrpt_event *e, uint64_t n)
{
	struct tlsrpt_detail	*d;

	for (size_t i = 0; i < p->ndetails; i++) {
		d = &p->details[i];
		if (strcmp(d->result, e->result) == 0 &&
		    strcmp(d->sending_ip, e->sending_ip) == 0 &&
		    strcmp(d->receiving_mx, e->receiving_mx) == 0 &&
		    strcmp(d->receiving_ip, e->receiving_ip) == 0 &&
		    strcmp(d->reason, e->reason) == 0) {
			d->count += n;
			return;
		}
	}
	if (p->ndetails >= TLSRPT_DETAILS_MAX ||
	    a->ndetails >= TLSRPT_ALL_DETAILS_MAX) {
		p->dropped += n;
		return;
	}
	p->details = xreallocarray(p->details, p->ndetails + 1,
	    sizeof(*p->details));
	d = &p->details[p->ndetails++];
	a->ndetails++;
	d->result = xstrdup(e->result);
	d->sending_ip = xstrdup(e->sending_ip);
	d->receiving_mx = xstrdup(e->receiving_mx);
	d->receiving_ip = xstrdup(e->receiving_ip);
	d->reason = xstrdup(e->reason);
	d->count = n;
}

/* tlsrpt_agg_add - see tlsrpt.h. */
void
tlsrpt_agg_add(struct tlsrpt_agg *a, const struct tlsrpt_event *e,
    uint64_t n)
{
	struct tlsrpt_policy	*p = find_policy(a, e);

	if (p == NULL) {
		a->dropped += n;
		return;
	}
	if (a->first == 0 || e->when < a->first)
		a->first = e->when;
	if (e->when > a->last)
		a->last = e->when;
	if (e->result[0] == '\0') {
		p->ok += n;
		return;
	}
	p->failed += n;
	add_detail(a, p, e, n);
}

/* tlsrpt_agg_free - see tlsrpt.h. */
void
tlsrpt_agg_free(struct tlsrpt_agg *a)
{
	for (size_t i = 0; i < a->npol; i++) {
		struct tlsrpt_policy *p = &a->pol[i];

		for (size_t j = 0; j < p->ndetails; j++) {
			free(p->details[j].result);
			free(p->details[j].sending_ip);
			free(p->details[j].receiving_mx);
			free(p->details[j].receiving_ip);
			free(p->details[j].reason);
		}
		free(p->details);
		free(p->type);
		free(p->domain);
		free(p->strings);
		free(p->mx_host);
	}
	free(a->pol);
	memset(a, 0, sizeof(*a));
}

/* tlsrpt_agg_domains - see tlsrpt.h. */
size_t
tlsrpt_agg_domains(const struct tlsrpt_agg *a, const char ***out)
{
	const char	**d = xcalloc(a->npol + 1, sizeof(*d));
	size_t		  n = 0;

	for (size_t i = 0; i < a->npol; i++) {
		size_t	j;

		for (j = 0; j < n && strcmp(d[j], a->pol[i].domain) != 0; j++)
			;
		if (j == n)
			d[n++] = a->pol[i].domain;
	}
	*out = d;
	return n;
}

/* ---- JSON ---- */

/* utf8_len - the length of the valid UTF-8 sequence at s, 0 if none. */
static size_t
utf8_len(const unsigned char *s)
{
	size_t		n;
	uint32_t	cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		cp = s[0] & 0x07;
	} else
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return n;
}

/* tlsrpt_json_str - see tlsrpt.h. */
void
tlsrpt_json_str(struct buf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	buf_putc(b, '"');
	while (*p != '\0') {
		size_t	n;

		if (*p == '"' || *p == '\\') {
			buf_putc(b, '\\');
			buf_putc(b, (char)*p++);
		} else if (*p < 0x20 || *p == 0x7f) {
			buf_printf(b, "\\u%04x", *p++);
		} else if ((n = utf8_len(p)) == 0) {
			buf_puts(b, "\\ufffd");
			p++;
		} else {
			buf_append(b, p, n);
			p += n;
		}
	}
	buf_putc(b, '"');
}

/* tlsrpt_rfc3339 - see tlsrpt.h. */
void
tlsrpt_rfc3339(uint64_t t, char *out, size_t size)
{
	time_t		tt = (time_t)t;
	struct tm	tm;

	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		str_copy(out, "1970-01-01T00:00:00Z", size);
}

/* json_lines - a list of strings from '\n'-separated entries. */
static void
json_lines(struct buf *b, const char *s)
{
	bool	first = true;

	buf_putc(b, '[');
	while (*s != '\0') {
		const char	*nl = strchr(s, '\n');
		size_t		 n = nl != NULL ? (size_t)(nl - s) : strlen(s);
		char		*one = xstrndup(s, n);

		if (!first)
			buf_putc(b, ',');
		first = false;
		tlsrpt_json_str(b, one);
		free(one);
		s += n;
		if (*s == '\n')
			s++;
	}
	buf_putc(b, ']');
}

/* json_key - ",\"key\":" (the comma unless first). */
static void
json_key(struct buf *b, const char *key, bool first)
{
	buf_printf(b, "%s\"%s\":", first ? "" : ",", key);
}

static void
json_opt(struct buf *b, const char *key, const char *v)
{
	if (v[0] == '\0')
		return;
	json_key(b, key, false);
	tlsrpt_json_str(b, v);
}

static void
json_policy(struct buf *b, const struct tlsrpt_policy *p)
{
	buf_puts(b, "{\"policy\":{");
	json_key(b, "policy-type", true);
	tlsrpt_json_str(b, p->type);
	if (p->strings[0] != '\0') {
		json_key(b, "policy-string", false);
		json_lines(b, p->strings);
	}
	json_key(b, "policy-domain", false);
	tlsrpt_json_str(b, p->domain);
	if (p->mx_host[0] != '\0') {
		json_key(b, "mx-host", false);
		json_lines(b, p->mx_host);
	}
	buf_printf(b, "},\"summary\":{\"total-successful-session-count\":"
	    "%llu,\"total-failure-session-count\":%llu}",
	    (unsigned long long)p->ok, (unsigned long long)p->failed);
	if (p->ndetails > 0) {
		buf_puts(b, ",\"failure-details\":[");
		for (size_t i = 0; i < p->ndetails; i++) {
			const struct tlsrpt_detail *d = &p->details[i];

			buf_puts(b, i > 0 ? ",{" : "{");
			json_key(b, "result-type", true);
			tlsrpt_json_str(b, d->result);
			json_opt(b, "sending-mta-ip", d->sending_ip);
			json_opt(b, "receiving-mx-hostname", d->receiving_mx);
			json_opt(b, "receiving-ip", d->receiving_ip);
			buf_printf(b, ",\"failed-session-count\":%llu",
			    (unsigned long long)d->count);
			json_opt(b, "failure-reason-code", d->reason);
			buf_putc(b, '}');
		}
		buf_putc(b, ']');
	}
	buf_putc(b, '}');
}

/* tlsrpt_json - see tlsrpt.h. */
void
tlsrpt_json(const struct tlsrpt_agg *a, const char *domain,
    const struct tlsrpt_report_info *ri, struct buf *b)
{
	char	start[32], end[32];
	bool	first = true;

	ASSERT(ri->day % TLSRPT_DAY == 0);
	tlsrpt_rfc3339(ri->day, start, sizeof(start));
	tlsrpt_rfc3339(ri->day + TLSRPT_DAY, end, sizeof(end));
	buf_puts(b, "{");
	json_key(b, "organization-name", true);
	tlsrpt_json_str(b, ri->organization);
	buf_printf(b, ",\"date-range\":{\"start-datetime\":\"%s\","
	    "\"end-datetime\":\"%s\"}", start, end);
	json_key(b, "contact-info", false);
	tlsrpt_json_str(b, ri->contact);
	json_key(b, "report-id", false);
	tlsrpt_json_str(b, ri->report_id);
	buf_puts(b, ",\"policies\":[");
	for (size_t i = 0; i < a->npol; i++) {
		if (domain != NULL && !str_ieq(a->pol[i].domain, domain))
			continue;
		if (!first)
			buf_putc(b, ',');
		first = false;
		json_policy(b, &a->pol[i]);
	}
	buf_puts(b, "]}\n");
}

/* ---- the message ---- */

static int
gzip(const char *in, size_t len, struct buf *out)
{
	z_stream	zs;
	int		rc;

	memset(&zs, 0, sizeof(zs));
	if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
	    Z_DEFAULT_STRATEGY) != Z_OK)
		return -1;
	uLong bound = deflateBound(&zs, (uLong)len) + 32;
	if (buf_reserve(out, bound) == -1) {
		deflateEnd(&zs);
		return -1;
	}
	zs.next_in = (Bytef *)(uintptr_t)in;
	zs.avail_in = (uInt)len;
	zs.next_out = (Bytef *)out->data + out->len;
	zs.avail_out = (uInt)bound;
	rc = deflate(&zs, Z_FINISH);
	out->len += bound - zs.avail_out;
	out->data[out->len] = '\0';
	deflateEnd(&zs);
	return rc == Z_STREAM_END ? 0 : -1;
}

static void
put_date(struct buf *b, uint64_t t)
{
	time_t		tt = (time_t)t;
	struct tm	tm;
	char		s[64];
	static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu",
	    "Fri", "Sat" };
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr",
	    "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

	gmtime_r(&tt, &tm);
	snprintf(s, sizeof(s), "%s, %d %s %d %02d:%02d:%02d +0000",
	    days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12],
	    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
	buf_puts(b, s);
}

/* tlsrpt_mail_build - see tlsrpt.h. */
int
tlsrpt_mail_build(const struct tlsrpt_mail *m, struct buf *out)
{
	struct buf	 gz, b64;
	char		 bnd[96], file[600], start[32], end[32];

	ASSERT(m->day % TLSRPT_DAY == 0);
	buf_init(&gz, 0);
	buf_init(&b64, 0);
	if (gzip(m->json, m->jsonlen, &gz) == -1 ||
	    base64_encode(gz.data, gz.len, &b64) == -1) {
		buf_free(&gz);
		buf_free(&b64);
		return -1;
	}
	/* RFC 8460 5.1: sender "!" policy-domain "!" begin "!" end */
	snprintf(file, sizeof(file), "%s!%s!%llu!%llu.json.gz", m->submitter,
	    m->domain, (unsigned long long)m->day,
	    (unsigned long long)(m->day + TLSRPT_DAY));
	snprintf(bnd, sizeof(bnd), "=_postbote_tlsrpt_%llu",
	    (unsigned long long)m->now);
	tlsrpt_rfc3339(m->day, start, sizeof(start));
	tlsrpt_rfc3339(m->day + TLSRPT_DAY, end, sizeof(end));
	buf_printf(out, "From: <%s>\r\nTo: <%s>\r\nDate: ", m->from, m->to);
	put_date(out, m->now);
	buf_printf(out, "\r\nSubject: Report Domain: %s\r\n Submitter: %s\r\n"
	    " Report-ID: <%s>\r\n", m->domain, m->submitter, m->report_id);
	buf_printf(out, "Message-ID: <%s>\r\nTLS-Report-Domain: %s\r\n"
	    "TLS-Report-Submitter: %s\r\nAuto-Submitted: auto-generated\r\n"
	    "MIME-Version: 1.0\r\nContent-Type: multipart/report; "
	    "report-type=\"tlsrpt\";\r\n\tboundary=\"%s\"\r\n\r\n"
	    "This is a MIME-encapsulated TLS report.\r\n\r\n",
	    m->report_id, m->domain, m->submitter, bnd);
	buf_printf(out, "--%s\r\nContent-Type: text/plain; charset=us-ascii"
	    "\r\n\r\nThis is an aggregate TLS report (RFC 8460) from %s\r\n"
	    "for the policy domain %s, from %s to %s.\r\n"
	    "The report is attached, gzip-compressed JSON.\r\n\r\n",
	    bnd, m->submitter, m->domain, start, end);
	buf_printf(out, "--%s\r\nContent-Type: application/tlsrpt+gzip;\r\n"
	    "\tname=\"%s\"\r\nContent-Transfer-Encoding: base64\r\n"
	    "Content-Disposition: attachment;\r\n\tfilename=\"%s\"\r\n\r\n",
	    bnd, file, file);
	for (size_t i = 0; i < b64.len; i += 76) {
		buf_append(out, b64.data + i, MIN((size_t)76, b64.len - i));
		buf_puts(out, "\r\n");
	}
	buf_printf(out, "\r\n--%s--\r\n", bnd);
	buf_free(&gz);
	buf_free(&b64);
	return 0;
}
