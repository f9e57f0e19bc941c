/*
 * dnsbl.c - DNS blocklist and allowlist helpers (dnsbl.h): the config
 * form of a list, the name asked for a client, the codes that count, and
 * the A records and TTLs of a DNS answer message (RFC 1035 4.1).
 *
 * Runs in smtpd (the answers) and wherever the config is parsed (the
 * sites).  Trust: the site text is the administrator's but is parsed
 * strictly; the answer came from the resolver, which may relay anything,
 * so every count, length and compression pointer is checked before it
 * is followed, and a pointer may only point backwards.  Pure: no I/O,
 * no allocation.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mail/addr.h"
#include "mail/dnsbl.h"
#include "mail/tlsa.h"
#include "lib/util.h"

#define HDR_LEN		12
#define RR_FIXED	10	/* type, class, TTL, RDLENGTH */
#define T_A		1
#define T_SOA		6
#define C_IN		1
#define SOA_FIXED	20	/* serial, refresh, retry, expire, minimum */

static int
why_set(char *why, size_t whylen, const char *msg)
{
	snprintf(why, whylen, "%s", msg);
	return -1;
}

/* octet_bits - one octet of a pattern: "N", "[N..M]" or "[A;B;C]". */
static int
octet_bits(const char *s, size_t len, uint8_t bits[32])
{
	char		 buf[64];
	char		*p, *end;
	unsigned long	 a, b;

	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	memset(bits, 0, 32);
	if (buf[0] != '[') {
		if (buf[0] < '0' || buf[0] > '9')
			return -1;
		errno = 0;
		a = strtoul(buf, &end, 10);
		if (errno || *end != '\0' || a > 255)
			return -1;
		bits[a / 8] |= (uint8_t)(1u << (a % 8));
		return 0;
	}
	if (buf[len - 1] != ']')
		return -1;
	buf[len - 1] = '\0';
	p = buf + 1;
	if (strstr(p, "..") != NULL) {
		if (*p < '0' || *p > '9')
			return -1;
		a = strtoul(p, &end, 10);
		if (end[0] != '.' || end[1] != '.' || end[2] < '0' ||
		    end[2] > '9')
			return -1;
		b = strtoul(end + 2, &end, 10);
		if (*end != '\0' || a > 255 || b > 255 || a > b)
			return -1;
		for (unsigned long i = a; i <= b; i++)
			bits[i / 8] |= (uint8_t)(1u << (i % 8));
		return 0;
	}
	for (;;) {
		if (*p < '0' || *p > '9')
			return -1;
		a = strtoul(p, &end, 10);
		if (a > 255 || end - p > 3)
			return -1;
		bits[a / 8] |= (uint8_t)(1u << (a % 8));
		if (*end == '\0')
			return 0;
		if (*end != ';')
			return -1;
		p = end + 1;
	}
}

int
dnsbl_site_parse(const char *s, struct dnsbl_site *site, char *why,
    size_t whylen)
{
	const char	*eq, *star, *zend, *p;
	size_t		 zlen;

	memset(site, 0, sizeof(*site));
	site->weight = 1;
	star = strrchr(s, '*');
	eq = strchr(s, '=');
	if (eq != NULL && star != NULL && star < eq)
		return why_set(why, whylen, "the weight (*N) comes last");
	zend = eq != NULL ? eq : star != NULL ? star : s + strlen(s);
	zlen = (size_t)(zend - s);
	if (zlen == 0 || zlen > DNSBL_ZONE_MAX)
		return why_set(why, whylen, "needs a zone of at most 200 "
		    "bytes");
	memcpy(site->zone, s, zlen);
	site->zone[zlen] = '\0';
	str_lower(site->zone);
	if (!addr_hostname_check(site->zone))
		return why_set(why, whylen, "the zone is not a domain name");
	if (star != NULL) {
		char	*end;
		long	 w;

		errno = 0;
		w = strtol(star + 1, &end, 10);
		if (star[1] == '\0' || *end != '\0' || errno ||
		    w < -DNSBL_WEIGHT_MAX || w > DNSBL_WEIGHT_MAX || w == 0 ||
		    (star[1] != '-' && (star[1] < '0' || star[1] > '9')))
			return why_set(why, whylen, "the weight (*N) must be "
			    "a non-zero integer from -1000 to 1000");
		site->weight = (int)w;
	}
	if (eq == NULL)
		return 0;
	site->filtered = true;
	p = eq + 1;
	for (int i = 0; i < 4; i++) {
		const char	*q = p;
		bool		 in = false;

		/* the octet ends at a '.' outside brackets */
		for (; *q != '\0' && q != star && (in || *q != '.'); q++)
			if (*q == '[')
				in = true;
			else if (*q == ']')
				in = false;
		if (octet_bits(p, (size_t)(q - p), site->oct[i]) == -1 ||
		    (i < 3 && *q != '.') || (i == 3 && *q != '\0' &&
		    q != star))
			return why_set(why, whylen, "the code filter (=...) "
			    "must be four octets, each N, [N..M] or [A;B]");
		p = q + 1;
	}
	return 0;
}

void
dnsbl_site_str(const struct dnsbl_site *site, char *out, size_t outlen)
{
	if (site->weight == 1)
		snprintf(out, outlen, "%s%s", site->zone,
		    site->filtered ? "=..." : "");
	else
		snprintf(out, outlen, "%s%s*%d", site->zone,
		    site->filtered ? "=..." : "", site->weight);
}

bool
dnsbl_site_match(const struct dnsbl_site *site, const uint8_t a[4])
{
	if (!site->filtered)
		return true;
	for (int i = 0; i < 4; i++)
		if (!(site->oct[i][a[i] / 8] & (1u << (a[i] % 8))))
			return false;
	return true;
}

int
dnsbl_query_name(const char *ip, const char *zone, char *out, size_t outlen)
{
	unsigned char	 a[16];
	int		 n;
	static const char hex[] = "0123456789abcdef";

	if (inet_pton(AF_INET, ip, a) == 1)
		n = snprintf(out, outlen, "%u.%u.%u.%u.%s", a[3], a[2], a[1],
		    a[0], zone);
	else if (inet_pton(AF_INET6, ip, a) == 1) {
		static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0,
			0, 0, 0, 0, 0xff, 0xff };
		char	 rev[64 + 1];

		if (memcmp(a, mapped, sizeof(mapped)) == 0)
			n = snprintf(out, outlen, "%u.%u.%u.%u.%s", a[15],
			    a[14], a[13], a[12], zone);
		else {
			for (int i = 15, j = 0; i >= 0; i--) {
				rev[j++] = hex[a[i] & 0xf];
				rev[j++] = '.';
				rev[j++] = hex[a[i] >> 4];
				rev[j++] = '.';
				rev[j] = '\0';
			}
			n = snprintf(out, outlen, "%s%s", rev, zone);
		}
	} else
		return -1;
	if (n < 0 || (size_t)n >= outlen || (size_t)n > DNSBL_NAME_MAX)
		return -1;
	return 0;
}

static unsigned
get16(const unsigned char *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

static uint32_t
get32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

int
dnsbl_answer_parse(const unsigned char *m, size_t len, struct dnsbl_answer *a)
{
	size_t		 off = HDR_LEN;
	unsigned	 qd, an, ns;
	uint32_t	 neg = 0;
	bool		 have_neg = false;

	memset(a, 0, sizeof(*a));
	if (len < HDR_LEN)
		return -1;
	qd = get16(m + 4);
	an = get16(m + 6);
	ns = get16(m + 8);
	for (unsigned i = 0; i < qd; i++) {
		if (tlsa_name_skip(m, len, &off) == -1 || off + 4 > len)
			return -1;
		off += 4;
	}
	for (unsigned i = 0; i < an + ns; i++) {
		unsigned	 type, class;
		uint32_t	 ttl;
		size_t		 rdlen, rd;

		if (tlsa_name_skip(m, len, &off) == -1 || off + RR_FIXED > len)
			goto bad;
		type = get16(m + off);
		class = get16(m + off + 2);
		ttl = get32(m + off + 4);
		if (ttl > 0x7fffffffu)		/* RFC 2181 8 */
			ttl = 0;
		rdlen = get16(m + off + 8);
		rd = off + RR_FIXED;
		if (rd + rdlen > len)
			goto bad;
		if (i < an && type == T_A && class == C_IN) {
			if (rdlen != 4)
				goto bad;
			if (a->n < DNSBL_ADDRS_MAX) {
				memcpy(a->addrs[a->n], m + rd, 4);
				if (a->n == 0 || ttl < a->ttl)
					a->ttl = ttl;
				a->n++;
			}
		} else if (i >= an && type == T_SOA && class == C_IN) {
			size_t	 s = rd;
			uint32_t min;

			if (tlsa_name_skip(m, rd + rdlen, &s) == -1 ||
			    tlsa_name_skip(m, rd + rdlen, &s) == -1 ||
			    s + SOA_FIXED != rd + rdlen)
				goto bad;
			min = get32(m + s + 16);
			neg = min < ttl ? min : ttl;
			have_neg = true;
		}
		off = rd + rdlen;
	}
	if (a->n == 0 && have_neg)
		a->ttl = neg;
	return 0;
bad:
	memset(a, 0, sizeof(*a));
	return -1;
}
