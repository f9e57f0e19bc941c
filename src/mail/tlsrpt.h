/*
 * tlsrpt.h - SMTP TLS Reporting (RFC 8460), the pure part: the
 * "_smtp._tls.DOMAIN" TXT record (RFC 8460 3), one recorded TLS
 * negotiation outcome and the lines of the queue's day file, the UTC
 * day a report covers, the aggregate of many outcomes per policy, the
 * JSON report (RFC 8460 4) and the report message (RFC 8460 5.3).  No
 * I/O: the deliver process records, the queue process aggregates,
 * stores and sends (queue/queue_tlsrpt.c).
 */
#ifndef POSTBOTE_TLSRPT_H
#define POSTBOTE_TLSRPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;

#define TLSRPT_RUA_MAX		8	/* report URIs kept of a record */
#define TLSRPT_FIELD_MAX	4096	/* bytes of any one event field */
#define TLSRPT_POLICIES_MAX	10000	/* aggregated policies */
#define TLSRPT_DETAILS_MAX	200	/* failure details per policy */
#define TLSRPT_ALL_DETAILS_MAX	20000	/* and in all */
#define TLSRPT_DAY		86400	/* seconds of a UTC day (POSIX time
					 * has no leap seconds) */

/* ---- the TXT record (RFC 8460 3) ---- */

enum tlsrpt_uri_kind { TLSRPT_MAILTO, TLSRPT_HTTPS };
struct tlsrpt_uri {
	enum tlsrpt_uri_kind	 kind;
	char			*v;	/* mailto: the address, decoded;
					 * https: the whole URI */
};
struct tlsrpt_txt {
	struct tlsrpt_uri	 rua[TLSRPT_RUA_MAX];
	size_t			 nrua;
};

/*
 * tlsrpt_txt_parse - one TXT record's text (len bytes, maybe with NUL
 * bytes): 0 and out filled (tlsrpt_txt_free) when it is a well-formed
 * TLS-RPT record with at least one rua URI postbote knows (mailto: or
 * https:; others are skipped); -1 when it does not start with
 * "v=TLSRPTv1" (not a TLS-RPT record: ignored); -2 when it does but is
 * malformed, with *why.  Nothing is left allocated on -1 or -2.
 */
int	 tlsrpt_txt_parse(const char *txt, size_t len, struct tlsrpt_txt *out,
	    const char **why);
void	 tlsrpt_txt_free(struct tlsrpt_txt *);

/* ---- outcomes ---- */

/*
 * One TLS negotiation outcome.  policy_strings and mx_host hold one
 * entry a line ('\n' between them, "" = none); result is "" for a
 * successful session, else an RFC 8460 4.3 result type.  The failure
 * details (sending_ip, receiving_mx, receiving_ip, reason) may be "".
 */
struct tlsrpt_event {
	uint64_t	 when;		/* seconds since the epoch */
	const char	*policy_type;	/* "tlsa", "sts", "no-policy-found" */
	const char	*policy_domain;
	const char	*policy_strings;
	const char	*mx_host;
	const char	*result;
	const char	*sending_ip;
	const char	*receiving_mx;
	const char	*receiving_ip;
	const char	*reason;	/* failure-reason-code */
};

/* tlsrpt_policy_type_ok, tlsrpt_result_ok - a known policy type, a
 * known result type (RFC 8460 4.3, 4.4; "" is success). */
bool	 tlsrpt_policy_type_ok(const char *);
bool	 tlsrpt_result_ok(const char *);
/* tlsrpt_event_ok - every field there, known types, a domain name, no
 * field over TLSRPT_FIELD_MAX or with a control byte other than the
 * '\n' between list entries. */
bool	 tlsrpt_event_ok(const struct tlsrpt_event *);

/*
 * tlsrpt_line_put - the event as one line of the day file (fields
 * tab-separated, '%', tabs and control bytes %XX-escaped, "\n" ended).
 * tlsrpt_line_parse - the reverse: the line (without its "\n") is
 * unescaped in place and ev points into it; 0, or -1 when it is not
 * such a line or the event is not tlsrpt_event_ok.
 */
void	 tlsrpt_line_put(const struct tlsrpt_event *, struct buf *);
int	 tlsrpt_line_parse(char *line, struct tlsrpt_event *ev);
/*
 * tlsrpt_done_put - the day file's line saying that domain's report of
 * that day is handled (sent, or not wanted): "D", a tab, the domain,
 * "\n".  tlsrpt_done_parse - the domain of such a line (without its
 * "\n"; a pointer into line, which is not changed), or NULL when line is
 * not one.
 */
void	 tlsrpt_done_put(const char *domain, struct buf *);
const char *tlsrpt_done_parse(const char *line);

/* ---- the day (RFC 8460 4: a report covers 00:00-24:00 UTC) ---- */

/* tlsrpt_day - the start (00:00:00Z) of the UTC day of t, in seconds
 * since the epoch; the day ends at tlsrpt_day(t) + TLSRPT_DAY. */
uint64_t tlsrpt_day(uint64_t t);
/*
 * tlsrpt_report_id - the report-id of domain's report of day (a day's
 * start) made by host: "2026-12-04_example.org@mx.example.net", the
 * same each time that report is made, one of a kind per day, domain
 * and host, and a valid Message-ID (RFC 5322 3.6.4: a dot-atom on each
 * side).  The caller frees it.
 */
char	*tlsrpt_report_id(uint64_t day, const char *domain, const char *host);

/* ---- the aggregate ---- */

struct tlsrpt_detail {
	char		*result, *sending_ip, *receiving_mx, *receiving_ip;
	char		*reason;
	uint64_t	 count;
};
struct tlsrpt_policy {
	char		*type, *domain, *strings, *mx_host;
	uint64_t	 ok, failed;
	struct tlsrpt_detail *details;
	size_t		 ndetails;
	uint64_t	 dropped;	/* failures past TLSRPT_DETAILS_MAX */
};
struct tlsrpt_agg {
	struct tlsrpt_policy *pol;
	size_t		 npol;
	uint64_t	 first, last;	/* seconds of the events, 0 = none */
	uint64_t	 dropped;	/* events past TLSRPT_POLICIES_MAX */
	size_t		 ndetails;	/* of all policies */
};

/* tlsrpt_agg_add - count n sessions of ev (tlsrpt_event_ok). */
void	 tlsrpt_agg_add(struct tlsrpt_agg *, const struct tlsrpt_event *,
	    uint64_t n);
void	 tlsrpt_agg_free(struct tlsrpt_agg *);
/* tlsrpt_agg_domains - the distinct policy domains, in order of first
 * appearance, into *out (free the array, not the strings). */
size_t	 tlsrpt_agg_domains(const struct tlsrpt_agg *, const char ***out);

/* ---- the report (RFC 8460 4) ---- */

struct tlsrpt_report_info {
	const char	*organization;
	const char	*contact;
	const char	*report_id;
	uint64_t	 day;		/* the day's start (tlsrpt_day) */
};
/*
 * tlsrpt_json - the JSON report of the policies of domain in agg
 * (domain NULL: every policy, for the command line), appended to out.
 * Its date-range is the whole day: from the day's 00:00:00Z to the next
 * day's 00:00:00Z.
 */
void	 tlsrpt_json(const struct tlsrpt_agg *, const char *domain,
	    const struct tlsrpt_report_info *, struct buf *out);
/* tlsrpt_json_str - s as a JSON string, quotes included: '"', '\\' and
 * control bytes escaped, bytes that are not UTF-8 become U+FFFD. */
void	 tlsrpt_json_str(struct buf *, const char *s);
/* tlsrpt_rfc3339 - "2026-12-05T00:00:00Z" of t into out (21+ bytes). */
void	 tlsrpt_rfc3339(uint64_t t, char *out, size_t size);

/* ---- the message (RFC 8460 5.3) ---- */

struct tlsrpt_mail {
	const char	*from;		/* the From address */
	const char	*to;		/* the rua address */
	const char	*domain;	/* the policy domain */
	const char	*submitter;	/* our host name */
	const char	*report_id;
	uint64_t	 day;		/* the day's start (tlsrpt_day) */
	uint64_t	 now;		/* the Date, seconds since the epoch */
	const char	*json;
	size_t		 jsonlen;
};
/*
 * tlsrpt_mail_build - the report message (CRLF lines): multipart/report
 * with report-type="tlsrpt", a text part, and the JSON gzip-compressed
 * as application/tlsrpt+gzip named per RFC 8460 5.1 (the begin and end
 * timestamps: the day's start and the next day's).  0, or -1 when the
 * compression fails.
 */
int	 tlsrpt_mail_build(const struct tlsrpt_mail *, struct buf *out);

#endif
