/*
 * cmd_dns.c - "postbote dns [-c FILE] [DOMAIN]" prints, in zone-file
 * syntax, the records a domain needs for mail from and to this host: MX,
 * SPF, each configured DKIM selector's key, a DMARC policy to start
 * with and a TLS-RPT record (RFC 8460 3), and this host's TLSA record for
 * DANE (cmd_tlsa.c).  "postbote
 * check --dns" (cmd_dns_check) looks the same records up through the
 * configured resolvers and says, per domain, what is missing or does not
 * match, and whether the published TLSA records match the certificate.
 * The domains are the local ones plus every [dkim DOMAIN], or the one
 * named.
 *
 * Runs as a short-lived CLI process under the admin's uid.
 *
 * Trust: the config and key files are the admin's.  DNS answers are
 * untrusted: they are parsed by spf.c, dmarc.c and tlsrpt.c, compared,
 * and printed
 * only with control bytes replaced.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "lib/buf.h"
#include "cli/cmd_dkim.h"
#include "cli/cmd_dns.h"
#include "cli/cmd_mtasts.h"
#include "cli/cmd_say.h"
#include "cli/cmd_tlsa.h"
#include "common/conf.h"
#include "auth/dkim.h"
#include "auth/dmarc.h"
#include "lib/dns.h"
#include "common/proc.h"
#include "auth/spf.h"
#include "lib/util.h"
#include "mail/tlsa.h"
#include "mail/tlsrpt.h"

#define KEY_FILE_MAX	(64 * 1024)
#define NAME_LEN	300

enum qkind { Q_MX, Q_TXT, Q_TLSA };

/* One DNS question and its answer (TXT strings joined, or MX hosts). */
struct query {
	enum qkind	 kind;
	char		 name[NAME_LEN];
	enum dns_status	 st;
	char		**rr;
	size_t		*len;
	size_t		 n;
	unsigned char	*raw;			/* Q_TLSA: the answer */
	size_t		 rawlen;
	bool		 secure;
};

struct domains {
	char		**v;
	size_t		 n;
};

static struct event_base	*qbase;
static struct query		*qs;
static size_t			 nq, nanswered;

static int	 usage(void);
static void	 add_domain(struct domains *, const char *);
static void	 collect(const struct conf *, const char *, struct domains *);
static int	 key_record(const char *, struct buf *, char *, size_t);
static void	 print_domain(const struct conf *, const char *);
static size_t	 ask(enum qkind, const char *, const char *);
static void	 answered(void);
static void	 txt_cb(uint64_t, void *, enum dns_status, const char *const *,
		    const size_t *, size_t);
static void	 mx_cb(uint64_t, void *, enum dns_status, const struct dns_mx *,
		    size_t);
static void	 raw_cb(uint64_t, void *, enum dns_status, bool,
		    const unsigned char *, size_t);
static bool	 check_domain(const struct conf *, struct dns_ctx *,
		    const char *, size_t);
static size_t	 ask_all(const struct conf *, const struct domains *,
		    size_t *);
static void	 free_queries(void);

static int
usage(void)
{
	fprintf(stderr, "usage: postbote dns [-c FILE] [DOMAIN]\n");
	return 2;
}

static void
add_domain(struct domains *d, const char *name)
{
	for (size_t i = 0; i < d->n; i++)
		if (str_ieq(d->v[i], name))
			return;
	d->v = xreallocarray(d->v, d->n + 1, sizeof(*d->v));
	d->v[d->n++] = xstrdup(name);
}

/* collect - only, or the local domains and the [dkim] domains. */
static void
collect(const struct conf *c, const char *only, struct domains *d)
{
	memset(d, 0, sizeof(*d));
	if (only != NULL) {
		add_domain(d, only);
		return;
	}
	for (size_t i = 0; i < c->ndomains; i++)
		add_domain(d, c->domains[i]);
	for (size_t i = 0; i < c->ndkims; i++)
		add_domain(d, c->dkims[i].domain);
}

static void
free_domains(struct domains *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->v[i]);
	free(d->v);
}

/* key_record - the public-key TXT text ("v=DKIM1; k=...; p=...") of the
 * private key in path. */
static int
key_record(const char *path, struct buf *rec, char *err, size_t errlen)
{
	struct buf	 pem;
	struct dkim_key	*key = NULL;
	int		 rc = -1;

	buf_init(&pem, KEY_FILE_MAX);
	if (buf_read_file(&pem, path, KEY_FILE_MAX) == -1)
		snprintf(err, errlen, "cannot read %s", path);
	else if (dkim_key_load_pem(pem.data, pem.len, &key, err, errlen) == 0)
		rc = dkim_key_record(key, rec);
	dkim_key_free(key);
	if (pem.data != NULL)
		explicit_bzero(pem.data, pem.cap);
	buf_free(&pem);
	return rc;
}

static void
print_domain(const struct conf *c, const char *dom)
{
	struct buf	 rec;
	char		 err[256];
	bool		 any = false;

	printf("; %s: the records postbote needs (zone-file syntax)\n", dom);
	printf("%s.\tIN MX\t10 %s.\n", dom, c->hostname);
	printf("%s.\tIN TXT\t\"v=spf1 mx -all\"\n", dom);
	for (size_t i = 0; i < c->ndkims; i++) {
		if (!str_ieq(c->dkims[i].domain, dom))
			continue;
		any = true;
		buf_init(&rec, 0);
		if (key_record(c->dkims[i].key, &rec, err, sizeof(err)) == -1)
			printf("; [dkim %s] selector %s: %s\n", dom,
			    c->dkims[i].selector, err);
		else
			cmd_dkim_print_record(dom, c->dkims[i].selector,
			    buf_cstr(&rec));
		buf_free(&rec);
	}
	if (!any)
		printf("; no [dkim %s] section: \"postbote dkim keygen %s\" "
		    "makes a key to configure\n", dom, dom);
	printf("_dmarc.%s.\tIN TXT\t\"v=DMARC1; p=none; "
	    "rua=mailto:postmaster@%s\"\n", dom, dom);
	printf("; p=none only asks for reports.  Once they show your mail "
	    "passing SPF or DKIM,\n; tighten it to p=quarantine, then "
	    "p=reject.\n");
	cmd_mtasts_print(c, dom);
	printf("_smtp._tls.%s.\tIN TXT\t\"v=TLSRPTv1; "
	    "rua=mailto:postmaster@%s\"\n", dom, dom);
	printf("; TLS reports (RFC 8460): senders' daily counts of their TLS "
	    "sessions to %s.\n", dom);
}

/* cmd_dns - see cmd_dns.h. */
int
cmd_dns(int argc, char **argv)
{
	const char	*confpath = NULL, *only = NULL;
	struct domains	 d;
	struct conf	 c;
	char		 err[512];
	int		 ch;

	optind = 0;
	while ((ch = getopt(argc, argv, "c:")) != -1) {
		if (ch != 'c')
			return usage();
		confpath = optarg;
	}
	if (argc - optind > 1)
		return usage();
	if (argc - optind == 1) {
		only = argv[optind];
		if (!dkim_name_is_valid(only, strlen(only))) {
			fprintf(stderr, "postbote: %s: not a domain name\n",
			    only);
			return 2;
		}
	}
	if (conf_load(confpath, &c, err, sizeof(err)) == -1) {
		fprintf(stderr, "postbote: %s\n", err);
		return 2;
	}
	collect(&c, only, &d);
	for (size_t i = 0; i < d.n; i++) {
		if (i > 0)
			printf("\n");
		print_domain(&c, d.v[i]);
	}
	printf("\n");
	cmd_tlsa_print(&c);
	free_domains(&d);
	conf_free(&c);
	return 0;
}

/* cmd_dns_check_keys - see cmd_dns.h. */
int
cmd_dns_check_keys(const struct conf *c)
{
	struct buf	 rec;
	char		 err[256];
	int		 rc = 0;

	for (size_t i = 0; i < c->ndkims; i++) {
		buf_init(&rec, 0);
		if (key_record(c->dkims[i].key, &rec, err, sizeof(err)) == -1) {
			fprintf(stderr, "postbote: [dkim %s] selector %s: "
			    "key: %s\n", c->dkims[i].domain,
			    c->dkims[i].selector, err);
			rc = -1;
		}
		buf_free(&rec);
	}
	return rc;
}

/* ---- check --dns ---- */

/* ask - queue a question; its index.  They are sent together later. */
static size_t
ask(enum qkind kind, const char *prefix, const char *dom)
{
	struct query	*q;

	qs = xreallocarray(qs, nq + 1, sizeof(*qs));
	q = &qs[nq];
	memset(q, 0, sizeof(*q));
	q->kind = kind;
	snprintf(q->name, sizeof(q->name), "%s%s", prefix, dom);
	return nq++;
}

static void
answered(void)
{
	if (++nanswered == nq)
		event_base_loopexit(qbase, NULL);
}

static void
keep(struct query *q, enum dns_status st, const char *const *rr,
    const size_t *len, size_t n)
{
	q->st = st;
	q->rr = xcalloc(n + 1, sizeof(*q->rr));
	q->len = xcalloc(n + 1, sizeof(*q->len));
	for (size_t i = 0; i < n; i++) {
		q->len[i] = len != NULL ? len[i] : strlen(rr[i]);
		q->rr[i] = xmalloc(q->len[i] + 1);
		memcpy(q->rr[i], rr[i], q->len[i]);
		q->rr[i][q->len[i]] = '\0';
	}
	q->n = n;
}

static void
txt_cb(uint64_t id, void *arg, enum dns_status st, const char *const *txt,
    const size_t *len, size_t n)
{
	keep(&qs[id], st, txt, len, n);
	answered();
}

static void
mx_cb(uint64_t id, void *arg, enum dns_status st, const struct dns_mx *mx,
    size_t n)
{
	const char	**h = xcalloc(n + 1, sizeof(*h));

	for (size_t i = 0; i < n; i++)
		h[i] = mx[i].host;
	keep(&qs[id], st, h, NULL, n);
	free(h);
	answered();
}

static void
raw_cb(uint64_t id, void *arg, enum dns_status st, bool secure,
    const unsigned char *msg, size_t len)
{
	qs[id].st = st;
	qs[id].secure = secure;
	if (msg != NULL && len > 0) {
		qs[id].raw = xmalloc(len);
		memcpy(qs[id].raw, msg, len);
		qs[id].rawlen = len;
	}
	answered();
}

static bool
dns_trouble(const char *dom, const char *what, const struct query *q)
{
	if (q->st == DNS_TEMPFAIL || q->st == DNS_PERMFAIL)
		return !cmd_say(dom, what, false,
		    "the lookup of %s failed (%s)",
		    q->name, dns_status_str(q->st));
	return false;
}

static bool
check_mx(const struct conf *c, const char *dom, const struct query *q)
{
	if (dns_trouble(dom, "MX", q))
		return false;
	if (q->st != DNS_OK || q->n == 0)
		return cmd_say(dom, "MX", false, "no MX record; publish "
		    "\"%s. IN MX 10 %s.\"", dom, c->hostname);
	if (q->n == 1 && strcmp(q->rr[0], ".") == 0)
		return cmd_say(dom, "MX", false,
		    "a null MX (RFC 7505) says the "
		    "domain takes no mail");
	for (size_t i = 0; i < q->n; i++)
		if (str_ieq(q->rr[i], c->hostname))
			return cmd_say(dom, "MX", true,
			    "%s is among the %zu MX "
			    "host(s)", c->hostname, q->n);
	return cmd_say(dom, "MX", false, "the MX host(s) (%s%s) are not this "
	    "host, %s", q->rr[0], q->n > 1 ? ", ..." : "", c->hostname);
}

/* count_records - answers of q that is() accepts; *at, the last one. */
static size_t
count_records(const struct query *q, bool (*is)(const char *, size_t),
    size_t *at)
{
	size_t	 n = 0;

	for (size_t i = 0; q->st == DNS_OK && i < q->n; i++)
		if (is(q->rr[i], q->len[i]))
			*at = i, n++;
	return n;
}

static bool
check_spf(const char *dom, const struct query *q)
{
	struct spf_record	*r;
	char			 err[256];
	size_t			 n = 0, at = 0;
	bool			 ok;

	if (dns_trouble(dom, "SPF", q))
		return false;
	n = count_records(q, spf_is_record, &at);
	if (n == 0)
		return cmd_say(dom, "SPF", false, "no SPF record; publish "
		    "\"%s. IN TXT \\\"v=spf1 mx -all\\\"\"", dom);
	if (n > 1)
		return cmd_say(dom, "SPF", false, "%zu SPF records: receivers "
		    "treat that as a permanent error; keep one", n);
	r = xcalloc(1, sizeof(*r));
	ok = spf_parse(q->rr[at], q->len[at], r, err, sizeof(err)) == 0;
	free(r);
	if (!ok)
		return cmd_say(dom, "SPF", false, "the record \"%s\" does not "
		    "parse: %s", q->rr[at], err);
	return cmd_say(dom, "SPF", true, "%s", q->rr[at]);
}

/* p_value - the p= of a key record, without spaces, into out. */
static void
p_value(const char *rec, size_t len, struct buf *out)
{
	struct dkim_tags	 t;
	const struct dkim_tag	*p;

	if (dkim_tags_parse(rec, len, &t) != DKIM_TAGS_OK ||
	    (p = dkim_tags_find(&t, "p")) == NULL)
		return;
	for (size_t i = 0; i < p->valuelen; i++)
		if (strchr(" \t\r\n", p->value[i]) == NULL)
			buf_append(out, &p->value[i], 1);
}

static bool
check_dkim(const struct conf_dkim *k, const struct query *q)
{
	struct buf	 ours, rec, theirs;
	char		 err[256], what[NAME_LEN];
	bool		 ok;

	snprintf(what, sizeof(what), "DKIM %s", k->selector);
	if (dns_trouble(k->domain, what, q))
		return false;
	buf_init(&ours, 0);
	buf_init(&rec, 0);
	buf_init(&theirs, 0);
	if (key_record(k->key, &rec, err, sizeof(err)) == -1)
		ok = cmd_say(k->domain, what, false,
		    "the configured key: %s", err);
	else if (q->st != DNS_OK || q->n == 0)
		ok = cmd_say(k->domain, what, false, "no key record at %s; "
		    "publish what \"postbote dns %s\" prints", q->name,
		    k->domain);
	else {
		p_value(rec.data, rec.len, &ours);
		p_value(q->rr[0], q->len[0], &theirs);
		ok = ours.len == theirs.len && ours.len > 0 &&
		    memcmp(ours.data, theirs.data, ours.len) == 0;
		ok = cmd_say(k->domain, what, ok, ok ? "%s matches %s" :
		    "the key at %s is not the one in %s", q->name, k->key);
	}
	buf_free(&ours);
	buf_free(&rec);
	buf_free(&theirs);
	return ok;
}

static bool
check_dmarc(const char *dom, const struct query *q)
{
	struct dmarc_record	 r;
	size_t			 n = 0, at = 0;

	if (dns_trouble(dom, "DMARC", q))
		return false;
	n = count_records(q, dmarc_record_is_dmarc, &at);
	if (n == 0)
		return cmd_say(dom, "DMARC", false, "no DMARC record at %s; "
		    "publish \"%s. IN TXT \\\"v=DMARC1; p=none\\\"\" to start",
		    q->name, q->name);
	if (n > 1)
		return cmd_say(dom, "DMARC", false, "%zu DMARC records at %s: "
		    "receivers ignore them all; keep one", n, q->name);
	if (dmarc_record_parse(q->rr[at], q->len[at], &r) != DMARC_REC_OK)
		return cmd_say(dom, "DMARC", false, "the record \"%s\" is not "
		    "valid", q->rr[at]);
	if (r.p == DMARC_DISP_NONE)
		return cmd_say(dom, "DMARC", true,
		    "p=none: reports only; tighten "
		    "to p=quarantine, then p=reject, once they are clean");
	return cmd_say(dom, "DMARC", true, "p=%s", dmarc_disp_str(r.p));
}

/* check_tlsrpt - the TLS-RPT record (RFC 8460 3): none is allowed (it
 * only asks for reports), more than one or one that does not parse is
 * not. */
static bool
check_tlsrpt(const char *dom, const struct query *q)
{
	struct tlsrpt_txt	 t;
	const char		*why = NULL;
	size_t			 n = 0, at = 0;

	if (dns_trouble(dom, "TLS-RPT", q))
		return false;
	for (size_t i = 0; q->st == DNS_OK && i < q->n; i++)
		if (q->len[i] >= 10 && memcmp(q->rr[i], "v=TLSRPTv1", 10) == 0)
			at = i, n++;
	if (n == 0)
		return cmd_say(dom, "TLS-RPT", true, "none at %s (optional); "
		    "publish \"%s. IN TXT \\\"v=TLSRPTv1; rua=mailto:...\\\"\" "
		    "to get senders' TLS reports", q->name, q->name);
	if (n > 1)
		return cmd_say(dom, "TLS-RPT", false,
		    "%zu TLS-RPT records at %s: "
		    "senders ignore them all; keep one", n, q->name);
	if (tlsrpt_txt_parse(q->rr[at], q->len[at], &t, &why) != 0)
		return cmd_say(dom, "TLS-RPT", false,
		    "the record \"%s\" does not "
		    "parse: %s", q->rr[at], why);
	cmd_say(dom, "TLS-RPT", true, "%zu report address%s: %s%s", t.nrua,
	    t.nrua == 1 ? "" : "es", t.rua[0].kind == TLSRPT_MAILTO ?
	    "mailto:" : "", t.rua[0].v);
	tlsrpt_txt_free(&t);
	return true;
}

/* check_domain - the findings for dom, whose questions start at q0. */
static bool
check_domain(const struct conf *c, struct dns_ctx *dns, const char *dom,
    size_t q0)
{
	bool	 ok = true;

	ok &= check_mx(c, dom, &qs[q0]);
	ok &= check_spf(dom, &qs[q0 + 1]);
	ok &= check_dmarc(dom, &qs[q0 + 2]);
	ok &= cmd_mtasts_check(c, qbase, dns, dom, qs[q0 + 3].st,
	    (const char *const *)qs[q0 + 3].rr, qs[q0 + 3].len,
	    qs[q0 + 3].n, (const char *const *)qs[q0].rr,
	    qs[q0].st == DNS_OK ? qs[q0].n : 0);
	ok &= check_tlsrpt(dom, &qs[q0 + 4]);
	q0 += 5;
	for (size_t i = 0; i < c->ndkims; i++)
		if (str_ieq(c->dkims[i].domain, dom))
			ok &= check_dkim(&c->dkims[i], &qs[q0++]);
	return ok;
}

/* ask_all - every question of check --dns; first[i]: where domain i's
 * begin.  Returns the index of the TLSA question. */
static size_t
ask_all(const struct conf *c, const struct domains *d, size_t *first)
{
	char	prefix[NAME_LEN];

	for (size_t i = 0; i < d->n; i++) {
		first[i] = ask(Q_MX, "", d->v[i]);
		ask(Q_TXT, "", d->v[i]);
		ask(Q_TXT, "_dmarc.", d->v[i]);
		ask(Q_TXT, "_mta-sts.", d->v[i]);
		ask(Q_TXT, "_smtp._tls.", d->v[i]);
		for (size_t k = 0; k < c->ndkims; k++) {
			if (!str_ieq(c->dkims[k].domain, d->v[i]))
				continue;
			snprintf(prefix, sizeof(prefix), "%s._domainkey.",
			    c->dkims[k].selector);
			ask(Q_TXT, prefix, d->v[i]);
		}
	}
	return ask(Q_TLSA, "_25._tcp.", c->hostname);
}

static void
free_queries(void)
{
	for (size_t i = 0; i < nq; i++) {
		free(qs[i].raw);
		for (size_t k = 0; k < qs[i].n; k++)
			free(qs[i].rr[k]);
		free(qs[i].rr);
		free(qs[i].len);
	}
	free(qs);
}

/* cmd_dns_check - see cmd_dns.h. */
int
cmd_dns_check(const struct conf *c)
{
	struct dns_ctx	*dns;
	struct domains	 d;
	char		 err[256];
	size_t		*first, tlsa;
	bool		 ok = true;

	if ((qbase = event_base_new()) == NULL)
		return 1;
	if ((dns = dns_new(qbase, (const char *const *)c->resolvers,
	    c->nresolvers, 2000, 2, err, sizeof(err))) == NULL) {
		fprintf(stderr, "postbote: dns: %s\n", err);
		event_base_free(qbase);
		return 1;
	}
	/* the AD bit of the TLSA answer, when the resolver is trusted */
	dns_set_dnssec(dns, c->dnssec_resolver);
	collect(c, NULL, &d);
	first = xcalloc(d.n + 1, sizeof(*first));
	tlsa = ask_all(c, &d, first);
	for (size_t i = 0; i < nq; i++) {
		if (qs[i].kind == Q_MX)
			dns_mx(dns, qs[i].name, mx_cb, i, NULL);
		else if (qs[i].kind == Q_TLSA)
			dns_raw(dns, qs[i].name, TLSA_RR_TYPE, raw_cb, i, NULL);
		else
			dns_txt(dns, qs[i].name, txt_cb, i, NULL);
	}
	event_base_dispatch(qbase);
	for (size_t i = 0; i < d.n; i++)
		ok &= check_domain(c, dns, d.v[i], first[i]);
	ok &= cmd_tlsa_check(c, qs[tlsa].st, qs[tlsa].secure, qs[tlsa].raw,
	    qs[tlsa].rawlen);
	free_queries();
	free(first);
	free_domains(&d);
	dns_free(dns);
	event_base_free(qbase);
	return ok ? 0 : 1;
}
