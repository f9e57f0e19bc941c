/*
 * fuzz_dmarc.c - libFuzzer target for the DMARC parsers.  The first
 * byte picks the mode (its low two bits, so '0'..'3' in a readable
 * seed); the rest is copied into a heap block of exactly its size, so
 * ASan catches any read past the end (the parsers take lengths).
 *   0  record: dmarc_record_parse; an OK record has sane fields and a
 *      NOT_DMARC one fails dmarc_record_is_dmarc
 *   1  From: dmarc_from_extract; author domains are valid names, kept
 *      once, counted right; an OK domain is lower case, valid, and
 *      its own organizational domain's suffix
 *   2  evaluation: the input as the From domain's only record
 *   3  organizational domain of the input (NUL-cut) with a small list
 * Any violation aborts.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/dmarc.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define FUZZ_MAX	65536

static void	 violation(const char *);
static void	 fuzz_record(const char *, size_t);
static void	 fuzz_from(const char *, size_t);
static void	 fuzz_eval(const char *, size_t);
static void	 fuzz_org(const char *, size_t);

static const char	 psl_text[] = "com\nco.uk\nuk\n*.ck\n!www.ck\n";

static void
violation(const char *what)
{
	fprintf(stderr, "fuzz_dmarc: %s\n", what);
	abort();
}

static void
fuzz_record(const char *p, size_t n)
{
	struct dmarc_record	 r;

	switch (dmarc_record_parse(p, n, &r)) {
	case DMARC_REC_OK:
		if (r.pct > 100 || r.p > DMARC_DISP_REJECT ||
		    r.sp > DMARC_DISP_REJECT || strlen(r.rua) > DMARC_URIS_MAX ||
		    (r.nrua == 0) != (r.rua[0] == '\0'))
			violation("record fields");
		if (r.p_fallback && (r.nrua == 0 || r.p != DMARC_DISP_NONE))
			violation("fallback without rua");
		/* FALLTHROUGH */
	case DMARC_REC_NO_POLICY:
	case DMARC_REC_BAD:
		if (!dmarc_record_is_dmarc(p, n))
			violation("parsed a non-DMARC record");
		break;
	case DMARC_REC_NOT_DMARC:
		if (dmarc_record_is_dmarc(p, n))
			violation("DMARC record called NOT_DMARC");
		break;
	}
}

static void
fuzz_from(const char *p, size_t n)
{
	struct dmarc_from	 f;
	char			 org[DMARC_DOMAIN_MAX + 1];
	enum dmarc_from_res	 r;
	size_t			 dl, ol;

	r = dmarc_from_extract(p, n, &f);
	dmarc_from_res_str(r);
	if (r == DMARC_FROM_MULTI_ADDR && f.naddr < 2)
		violation("multi with fewer than two");
	if (f.ndomain > DMARC_FROM_MAX || f.ndomain > f.naddr ||
	    (f.more && f.ndomain != DMARC_FROM_MAX) ||
	    (f.naddr > 0 && f.ndomain == 0))
		violation("author domain counts");
	for (size_t i = 0; i < f.ndomain; i++) {
		if (dmarc_psl_org_domain(NULL, f.domains[i], org,
		    sizeof(org)) == -1)
			violation("author domain not a name");
		for (size_t k = 0; k < i; k++)
			if (strcmp(f.domains[i], f.domains[k]) == 0)
				violation("author domain kept twice");
	}
	if (r != DMARC_FROM_OK)
		return;
	if (f.ndomain != 1 || strcmp(f.domain, f.domains[0]) != 0)
		violation("ok without its one author domain");
	if (f.naddr != 1 || f.domain[0] == '\0')
		violation("ok without one domain");
	for (const char *c = f.domain; *c != '\0'; c++)
		if (*c >= 'A' && *c <= 'Z')
			violation("upper case domain");
	if (dmarc_psl_org_domain(NULL, f.domain, org, sizeof(org)) == -1)
		violation("From domain not a name");
	dl = strlen(f.domain);
	ol = strlen(org);
	if (ol > dl || strcmp(f.domain + dl - ol, org) != 0)
		violation("org domain not a suffix");
}

static void
fuzz_eval(const char *p, size_t n)
{
	const char		*txt[1] = { p };
	size_t			 len[1] = { n };
	struct dmarc_dkim	 k = { "example.com", DKIM_FAIL };
	struct dmarc_input	 in;
	struct dmarc_output	 out;

	memset(&in, 0, sizeof(in));
	in.from_domain = "mail.example.com";
	in.spf = DMARC_SPF_FAIL;
	in.spf_domain = "example.com";
	in.dkim = &k;
	in.ndkim = 1;
	in.from_rr = (struct dmarc_rrset){ DMARC_DNS_OK, txt, len, 1 };
	in.org_rr.status = DMARC_DNS_NONE;
	in.pct_rand = n % 100;
	dmarc_evaluate(&in, &out);
	if (out.result != DMARC_RES_FAIL && out.disposition != DMARC_DISP_NONE)
		violation("disposition without fail");
	if (out.disposition > out.policy)
		violation("disposition stricter than policy");
	dmarc_result_str(out.result);
	dmarc_disp_str(out.disposition);
}

static void
fuzz_org(const char *p, size_t n)
{
	static struct dmarc_psl	*psl;
	char			 d[DMARC_DOMAIN_MAX + 2], org[DMARC_DOMAIN_MAX + 1];
	size_t			 m = n < sizeof(d) - 1 ? n : sizeof(d) - 1;

	if (psl == NULL)
		psl = dmarc_psl_parse(psl_text, sizeof(psl_text) - 1);
	memcpy(d, p, m);
	d[m] = '\0';
	if (dmarc_psl_org_domain(psl, d, org, sizeof(org)) == 0 &&
	    (org[0] == '\0' || org[0] == '.'))
		violation("empty org domain");
	(void)dmarc_aligned(psl, DMARC_ALIGN_RELAXED, d, "example.com");
	(void)dmarc_aligned(psl, DMARC_ALIGN_STRICT, d, "example.com");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*p;
	size_t	 n;

	if (size == 0 || size > FUZZ_MAX)
		return 0;
	n = size - 1;
	p = malloc(n > 0 ? n : 1);
	if (p == NULL)
		return 0;
	memcpy(p, data + 1, n);
	switch (data[0] & 3) {
	case 0: fuzz_record(p, n); break;
	case 1: fuzz_from(p, n); break;
	case 2: fuzz_eval(p, n); break;
	case 3: fuzz_org(p, n); break;
	}
	free(p);
	return 0;
}
