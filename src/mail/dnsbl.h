/*
 * dnsbl.h - DNS blocklists and allowlists (RFC 5782) as postbote scores
 * them: a list's config form ("zone=127.0.0.[2..11]*3", the syntax of
 * Postfix's postscreen_dnsbl_sites), the name to ask for a client
 * address, which returned codes count, and the A records and TTL of a
 * whole DNS answer.  Pure: no I/O, no allocation; the unit tests and the
 * fuzzer call it directly, smtpd (screen.c) asks the DNS.
 */
#ifndef POSTBOTE_DNSBL_H
#define POSTBOTE_DNSBL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DNSBL_ZONE_MAX		200	/* leaves room for a reversed IPv6 */
#define DNSBL_NAME_MAX		253
#define DNSBL_WEIGHT_MAX	1000	/* |weight| */
#define DNSBL_ADDRS_MAX		16	/* A records kept per answer */

/* One list: zone, weight, and which 127.x codes count (a bitmap per
 * octet; filtered = false: any code counts). */
struct dnsbl_site {
	char		 zone[DNSBL_ZONE_MAX + 1];
	int		 weight;
	bool		 filtered;
	uint8_t		 oct[4][32];
};

/*
 * dnsbl_site_parse - "ZONE[=PATTERN][*WEIGHT]": PATTERN is four octets,
 * each a number, "[N..M]" or "[A;B;C]"; WEIGHT is a signed integer
 * (default 1).  Returns 0, or -1 with why (a sentence) set.
 */
int	 dnsbl_site_parse(const char *, struct dnsbl_site *, char *why,
	    size_t whylen);
/* dnsbl_site_str - the site in its config form (for logs and check). */
void	 dnsbl_site_str(const struct dnsbl_site *, char *out, size_t outlen);
/* dnsbl_site_match - does the returned address a[4] count for the site? */
bool	 dnsbl_site_match(const struct dnsbl_site *, const uint8_t a[4]);
/*
 * dnsbl_query_name - the name to look up for the client address ip
 * (text: IPv4, IPv6, or IPv4-mapped IPv6) in zone: reversed octets
 * (RFC 5782 2.1) or nibbles (2.4).  Returns 0, -1 if ip is not an
 * address or the name would not fit.
 */
int	 dnsbl_query_name(const char *ip, const char *zone, char *out,
	    size_t outlen);

/* An answer read by dnsbl_answer_parse. */
struct dnsbl_answer {
	uint8_t		 addrs[DNSBL_ADDRS_MAX][4];	/* A records, IN */
	size_t		 n;
	uint32_t	 ttl;	/* the smallest TTL of those, or for a
				 * denial the SOA's negative TTL (RFC 2308
				 * 5: min of its TTL and MINIMUM); 0 = none */
};

/*
 * dnsbl_answer_parse - the A records (class IN) of the answer section of
 * the DNS message msg[0..len), and their TTL; with none, the negative
 * TTL from an SOA in the authority section.  Owners are not compared
 * (the resolver matched the question; a CNAME chain counts its final
 * records).  Every count, length and compression pointer is checked.
 * Returns 0, or -1 for a malformed message (*a then holds nothing).
 */
int	 dnsbl_answer_parse(const unsigned char *msg, size_t len,
	    struct dnsbl_answer *a);

#endif
