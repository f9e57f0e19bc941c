/*
 * dmarc.h - DMARC (RFC 7489): policy records, the organizational domain
 * from the Public Suffix List, identifier alignment, evaluation and the
 * RFC 5322.From domain.
 *
 * Everything here is pure except dmarc_psl_load (reads one file).  The
 * caller does the DNS:
 *
 *	dmarc_from_extract(msg, len, &from);	(6.6.1; see enum dmarc_from_res)
 *	for each author domain d in from.domains[0 .. from.ndomain):
 *		TXT _dmarc.<d>			-> in.from_rr
 *		if no answer is a DMARC record (dmarc_record_is_dmarc) and
 *		dmarc_psl_org_domain() differs from d:
 *			TXT _dmarc.<org domain>	-> in.org_rr
 *		dmarc_evaluate(&in, &out[i]);
 *	the out[i] no other is dmarc_stricter than decides.
 */
#ifndef POSTBOTE_DMARC_H
#define POSTBOTE_DMARC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/dkim.h"

#define DMARC_DOMAIN_MAX	253	/* without a trailing dot */
#define DMARC_URIS_MAX		1024	/* kept bytes of rua= / ruf= */
#define DMARC_FROM_MAX		8	/* From addresses whose domain is kept */
#define DMARC_PSL_PATH		"/usr/share/publicsuffix/public_suffix_list.dat"
#define DMARC_PSL_FILE_MAX	(16 * 1024 * 1024)

/* ---- records (RFC 7489 6.3, 6.4) ---- */

enum dmarc_rec_res {
	DMARC_REC_OK = 0,	/* usable policy (maybe by the 6.6.3 fallback) */
	DMARC_REC_NOT_DMARC,	/* does not start with v=DMARC1: discard it */
	DMARC_REC_NO_POLICY,	/* p= missing or invalid (or sp= invalid) and
				 * no valid rua= URI: no DMARC processing */
	DMARC_REC_BAD,		/* v=DMARC1 but not a valid record */
};

enum dmarc_disp {
	DMARC_DISP_NONE = 0,
	DMARC_DISP_QUARANTINE,
	DMARC_DISP_REJECT,
};

enum dmarc_align {
	DMARC_ALIGN_RELAXED = 0,	/* the default for adkim= and aspf= */
	DMARC_ALIGN_STRICT,
};

#define DMARC_FO_0	0x01	/* fo= flags; default "0" */
#define DMARC_FO_1	0x02
#define DMARC_FO_D	0x04
#define DMARC_FO_S	0x08

struct dmarc_record {
	enum dmarc_disp	 p;
	enum dmarc_disp	 sp;		/* p when sp= is absent */
	bool		 has_sp;
	bool		 p_fallback;	/* 6.6.3 step 6.1: acting as p=none */
	enum dmarc_align adkim, aspf;
	unsigned	 pct;		/* 0-100, default 100 */
	unsigned	 fo;		/* DMARC_FO_* */
	bool		 rf_afrf;	/* rf= lists afrf (the default) */
	uint32_t	 ri;		/* seconds, default 86400; capped */
	char		 rua[DMARC_URIS_MAX + 1];	/* valid URIs, ","-joined */
	char		 ruf[DMARC_URIS_MAX + 1];
	size_t		 nrua, nruf;	/* valid URIs kept */
};

/*
 * dmarc_record_parse - parse one TXT record (its strings joined; len
 * bytes, no NUL needed) into *r.  The tag-list syntax is DKIM's (RFC 7489
 * 6.3), read by dkim_tags_parse; tag names are case-insensitive (ABNF
 * literals), "DMARC1" is not.  Unknown tags are ignored.  Invalid values
 * of p= or sp= lead to the 6.6.3 rua= fallback (p_fallback, p=sp=none)
 * or DMARC_REC_NO_POLICY; invalid values of any other known tag, a
 * duplicate tag, CR/LF or a bad tag-list give DMARC_REC_BAD.  rua= and
 * ruf= keep only the syntactically valid URIs.  *r is filled only on OK.
 */
enum dmarc_rec_res dmarc_record_parse(const char *txt, size_t len,
	    struct dmarc_record *r);
/* dmarc_record_is_dmarc - does txt start with "v=DMARC1" (6.6.3 step 2)? */
bool	 dmarc_record_is_dmarc(const char *txt, size_t len);

/* ---- Public Suffix List and organizational domain (RFC 7489 3.2) ---- */

struct dmarc_psl;		/* opaque; immutable once built */

/*
 * dmarc_psl_parse - build a lookup table from the text of a PSL file
 * (normal, "*." wildcard and "!" exception rules, ICANN and private
 * sections alike; comments and blank lines skipped).  Rules are kept
 * lower-cased.  Returns the table (free with dmarc_psl_free).
 */
struct dmarc_psl *dmarc_psl_parse(const char *text, size_t len);
/* dmarc_psl_load - dmarc_psl_parse of the file at path, or NULL if it
 * cannot be read (or is over DMARC_PSL_FILE_MAX). */
struct dmarc_psl *dmarc_psl_load(const char *path);
/* dmarc_psl_default - DMARC_PSL_PATH, loaded once (thread-safe) and kept
 * for the life of the process; NULL when the file is missing. */
const struct dmarc_psl *dmarc_psl_default(void);
void	 dmarc_psl_free(struct dmarc_psl *);
/* dmarc_psl_count - number of rules loaded. */
size_t	 dmarc_psl_count(const struct dmarc_psl *);

/*
 * dmarc_psl_org_domain - the organizational domain of domain (any case, one
 * trailing dot allowed) into out, lower-cased: its public suffix plus
 * one label, or the domain itself when it is a public suffix.  With psl
 * NULL (no list), the last two labels.  Labels are compared as bytes, so
 * A-labels (xn--...) pass through unchanged.  Returns 0, or -1 when
 * domain is empty, has an empty label or is over DMARC_DOMAIN_MAX.
 */
int	 dmarc_psl_org_domain(const struct dmarc_psl *, const char *domain,
	    char *out, size_t size);

/* ---- alignment (RFC 7489 3.1) ---- */

/* dmarc_aligned - is identifier (a DKIM d= or SPF domain) aligned with
 * the From domain: strict = equal ignoring case; relaxed = the same
 * organizational domain.  false for invalid names. */
bool	 dmarc_aligned(const struct dmarc_psl *, enum dmarc_align,
	    const char *from_domain, const char *identifier);

/* ---- evaluation (RFC 7489 6.6) ---- */

enum dmarc_result {		/* RFC 8601 2.7.x spellings */
	DMARC_RES_NONE = 0,	/* no (single) policy record */
	DMARC_RES_PASS,
	DMARC_RES_FAIL,
	DMARC_RES_TEMPERROR,
	DMARC_RES_PERMERROR,	/* bad record, or bad From domain */
};

enum dmarc_spf {		/* the SPF result, mapped by the caller */
	DMARC_SPF_NONE = 0,
	DMARC_SPF_NEUTRAL,
	DMARC_SPF_PASS,
	DMARC_SPF_FAIL,
	DMARC_SPF_SOFTFAIL,
	DMARC_SPF_TEMPERROR,
	DMARC_SPF_PERMERROR,
};

enum dmarc_dns {
	DMARC_DNS_OK = 0,	/* txt[] holds the answers (maybe none) */
	DMARC_DNS_NONE,		/* NXDOMAIN or no TXT: same as zero answers */
	DMARC_DNS_TEMP,		/* timeout, SERVFAIL */
};

struct dmarc_rrset {
	enum dmarc_dns		 status;
	const char *const	*txt;		/* each record's strings joined */
	const size_t		*txtlen;	/* NULL: txt[i] are C strings */
	size_t			 ntxt;
};

struct dmarc_dkim {
	const char		*domain;	/* d= */
	enum dkim_result	 result;
};

struct dmarc_input {
	const char		*from_domain;	/* from dmarc_from_extract */
	enum dmarc_spf		 spf;
	const char		*spf_domain;	/* MAIL FROM domain, or HELO */
	const struct dmarc_dkim	*dkim;
	size_t			 ndkim;
	struct dmarc_rrset	 from_rr;	/* _dmarc.<From domain> */
	struct dmarc_rrset	 org_rr;	/* _dmarc.<org domain>; read only
						 * when from_rr has no record */
	unsigned		 pct_rand;	/* uniform in 0..99 */
	const struct dmarc_psl	*psl;		/* NULL: last-two-labels */
};

struct dmarc_output {
	enum dmarc_result	 result;
	enum dmarc_disp		 disposition;	/* what to do now (pct applied) */
	enum dmarc_disp		 policy;	/* requested: p or sp */
	bool			 dkim_aligned;	/* an aligned DKIM pass */
	bool			 spf_aligned;	/* an aligned SPF pass */
	bool			 from_org;	/* record found at the org domain */
	bool			 sampled_out;	/* pct downgraded the policy */
	char			 org_domain[DMARC_DOMAIN_MAX + 1];
	struct dmarc_record	 rec;		/* valid when has_rec */
	bool			 has_rec;
};

/*
 * dmarc_evaluate - policy discovery (6.6.3) over the answers in *in,
 * alignment and the result (6.6.2), then the disposition: p, or sp
 * (default p) when the record came from the organizational domain of a
 * subdomain; a failure not picked by pct (pct_rand >= pct) gets the next
 * less strict policy (6.6.4).  Several DMARC records at one name, or none
 * at either, give none.  A DNS failure gives temperror; so does a
 * failure where an aligned SPF or DKIM identifier had a temporary error.
 * Only fail has a disposition other than none.  *out is always set.
 */
void	 dmarc_evaluate(const struct dmarc_input *, struct dmarc_output *);
/*
 * dmarc_stricter - of two evaluations of one message's author domains,
 * does a decide rather than b (6.6.1: "apply the most strict policy
 * selected among the checks that fail")?  A failure with a stricter
 * disposition comes first, then any failure, temperror, permerror, none
 * and pass last.  false for equals, so the first of equals decides.
 */
bool	 dmarc_stricter(const struct dmarc_output *a,
	    const struct dmarc_output *b);

/* ---- the RFC 5322.From domain (RFC 7489 6.6.1) ---- */

enum dmarc_from_res {
	DMARC_FROM_OK = 0,	/* one field, one mailbox: domain is set */
	DMARC_FROM_MISSING,	/* no From field */
	DMARC_FROM_MULTI_FIELD,	/* more than one From field (RFC 5322 3.6
				 * forbids it); every field is read */
	DMARC_FROM_MULTI_ADDR,	/* one field, several mailboxes; 6.6.1:
				 * evaluate each domain, apply the strictest
				 * failing policy (or reject) */
	DMARC_FROM_NO_DOMAIN,	/* a mailbox without a usable domain (none,
				 * a literal, not a valid DNS name) */
	DMARC_FROM_SYNTAX,	/* header block or From value unparseable,
				 * or no mailbox at all */
};

/*
 * The author domains.  Whatever the result, domains[] holds the distinct
 * usable domains of every mailbox read in every From field, in order:
 * a second author, a second field or a broken mailbox next to a good
 * one must not hide a domain from DMARC.
 */
struct dmarc_from {
	char	 domain[DMARC_DOMAIN_MAX + 1];	/* lower case, on OK */
	size_t	 naddr;		/* mailboxes with a usable domain */
	size_t	 ndomain;	/* distinct ones kept in domains[] */
	bool	 more;		/* more than DMARC_FROM_MAX distinct */
	char	 domains[DMARC_FROM_MAX][DMARC_DOMAIN_MAX + 1];
};

/*
 * dmarc_from_extract - find the From field(s) in msg (a CRLF message or
 * its header block; len bytes) and the domains of their mailboxes.
 * Comments, display names, quoted local parts, a source route and group
 * syntax (RFC 6854) are understood.  *f is zeroed first.  The result is
 * the first trouble met (several fields before any other).
 */
enum dmarc_from_res dmarc_from_extract(const char *msg, size_t len,
	    struct dmarc_from *f);

/* dmarc_result_str / dmarc_disp_str / dmarc_from_res_str - names. */
const char *dmarc_result_str(enum dmarc_result);
const char *dmarc_disp_str(enum dmarc_disp);
const char *dmarc_from_res_str(enum dmarc_from_res);

#endif
