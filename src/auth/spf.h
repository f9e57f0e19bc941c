/*
 * spf.h - Sender Policy Framework (RFC 7208): record parser, macro
 * expander and the check_host() evaluator.  The evaluator does no I/O
 * itself: it asks for DNS data through a lookup callback and is fed the
 * answers with spf_check_answer(), so it runs on an event loop (smtpd,
 * the CLI) or synchronously from canned data (unit tests).
 */
#ifndef POSTBOTE_SPF_H
#define POSTBOTE_SPF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/dns.h"

struct buf;

enum spf_result {
	SPF_NONE = 0,
	SPF_NEUTRAL,
	SPF_PASS,
	SPF_FAIL,
	SPF_SOFTFAIL,
	SPF_TEMPERROR,
	SPF_PERMERROR,
};

/* RFC 7208 4.6.4 limits */
#define SPF_MAX_DNS_TERMS	10
#define SPF_MAX_VOID		2
#define SPF_MAX_MX_NAMES	10
#define SPF_MAX_PTR_NAMES	10
#define SPF_MAX_TERMS		256	/* per record; more is permerror */
#define SPF_DOMAIN_MAX		253

enum spf_mech {
	SPF_M_ALL = 0,
	SPF_M_INCLUDE,
	SPF_M_A,
	SPF_M_MX,
	SPF_M_PTR,
	SPF_M_IP4,
	SPF_M_IP6,
	SPF_M_EXISTS,
};

/* The client address; an IPv4-mapped IPv6 address is kept as IPv4. */
struct spf_ip {
	int		 family;	/* AF_INET or AF_INET6 */
	uint8_t		 a[16];
};

/* One directive.  Pointers point into the record text (not owned). */
struct spf_term {
	enum spf_mech	 mech;
	enum spf_result	 qual;		/* PASS, FAIL, SOFTFAIL, NEUTRAL */
	const char	*spec;		/* domain-spec or NULL */
	size_t		 speclen;
	struct spf_ip	 net;		/* ip4/ip6 network */
	int		 cidr4, cidr6;	/* -1 when absent */
};

struct spf_record {
	struct spf_term	 term[SPF_MAX_TERMS];
	size_t		 nterm;
	const char	*redirect, *exp;	/* domain-specs or NULL */
	size_t		 redirectlen, explen;
};

/* Everything a macro can refer to (RFC 7208 7.3). */
struct spf_macro_env {
	const char		*local;		/* l: local-part of sender */
	const char		*sdomain;	/* o: domain of sender */
	const char		*domain;	/* d: current <domain> */
	const char		*helo;		/* h */
	const char		*ptr;		/* p: validated name, or NULL */
	const char		*receiver;	/* r: NULL means "unknown" */
	const struct spf_ip	*ip;		/* i, c, v */
	int64_t			 now;		/* t */
};

/* spf_ip_parse - text address into *ip; -1 if not an IP address. */
int	 spf_ip_parse(const char *, struct spf_ip *);

/*
 * spf_is_record - true if txt (len bytes) is an SPF version 1 record:
 * "v=spf1" in any case, then a space or the end (RFC 7208 4.5).
 */
bool	 spf_is_record(const char *txt, size_t len);

/*
 * spf_parse - parse a whole record ("v=spf1 ...") of len bytes into *r.
 * r keeps pointers into txt, which must outlive it.  Returns 0, or -1 on
 * any syntax error (the caller's permerror), with a reason in err.
 */
int	 spf_parse(const char *txt, size_t len, struct spf_record *r,
	    char *err, size_t errlen);

/*
 * spf_expand - expand macro-string s (len bytes) into out (appended).
 * is_exp allows the c, r and t letters and spaces (explain-string,
 * RFC 7208 6.2 and 7.1).  Returns 0, or -1 on a syntax error.
 */
int	 spf_expand(const char *s, size_t len, const struct spf_macro_env *,
	    bool is_exp, struct buf *out);

/*
 * spf_domain_fix - after expansion (RFC 7208 4.8, 7.3): drop a trailing
 * dot and cut whole labels from the left while over 253 bytes.  Returns
 * 0, or -1 when the name is not a usable DNS name (empty or over-long
 * label, a control or non-ASCII byte, empty name).  Any other byte, ':'
 * '%' and space included, may be in a label.  name is changed in place.
 */
int	 spf_domain_fix(char *name);

/* spf_result_str - "pass", "fail", ... */
const char *spf_result_str(enum spf_result);

/* ---- evaluator ---- */

enum spf_qtype {
	SPF_Q_TXT = 0,
	SPF_Q_A,
	SPF_Q_AAAA,
	SPF_Q_MX,	/* answers are host names */
	SPF_Q_PTR,	/* name is the client address in text form */
};

struct spf_check;

/*
 * The lookup vector.  lookup must eventually call spf_check_answer()
 * exactly once for the query, before or after it returns; at most one
 * query is outstanding at a time.  done runs exactly once, as the last
 * thing the evaluator does, with the explanation (NULL if none, valid
 * during the call); the check may be freed from inside done.
 */
struct spf_lookup_ops {
	void	(*lookup)(void *arg, struct spf_check *, enum spf_qtype,
		    const char *name);
	void	(*done)(void *arg, struct spf_check *, enum spf_result,
		    const char *explanation);
};

/*
 * spf_check_new - a check of ip for mail_from ("" for the null sender,
 * then the HELO identity is checked) with helo (may be NULL).  receiver
 * is the %{r} name (may be NULL).  ops and arg are kept; strings are
 * copied.  Never fails (allocation failure exits).
 */
struct spf_check *spf_check_new(const struct spf_ip *ip,
	    const char *mail_from, const char *helo, const char *receiver,
	    const struct spf_lookup_ops *ops, void *arg);
/* spf_check_start - begin; done may already have run when it returns. */
void	 spf_check_start(struct spf_check *);
/*
 * spf_check_answer - the answer to the outstanding lookup.  rr[i] has
 * len[i] bytes (len may be NULL for NUL-terminated strings): TXT strings,
 * addresses in text form for A/AAAA, host names for MX and PTR.
 */
void	 spf_check_answer(struct spf_check *, enum dns_status,
	    const char *const *rr, const size_t *len, size_t n);
/* spf_check_free - NULL is ignored; an outstanding lookup is forgotten. */
void	 spf_check_free(struct spf_check *);
/* spf_check_set_time - the %{t} value (default: time(NULL) at new). */
void	 spf_check_set_time(struct spf_check *, int64_t);

#endif
