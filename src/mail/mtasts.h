/*
 * mtasts.h - MTA-STS (RFC 8461): the _mta-sts TXT record (3.1), the
 * policy file (3.2) and whether an MX host matches a policy's mx patterns
 * (4.1).  Pure: no I/O and no allocation, so the fuzzer and the unit
 * tests call it directly; the fetch and the cache are deliver/sts.c's.
 */
#ifndef POSTBOTE_MTASTS_H
#define POSTBOTE_MTASTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MTASTS_ID_MAX		32		/* RFC 8461 3.1: 1*32 */
#define MTASTS_NAME_MAX		253
#define MTASTS_MX_MAX		64		/* patterns kept per policy */
#define MTASTS_POLICY_MAX	(64 * 1024)	/* body bytes taken */
#define MTASTS_MAX_AGE_MAX	31557600u	/* RFC 8461 3.2: a year */

enum mtasts_mode {
	MTASTS_MODE_NONE = 0,
	MTASTS_MODE_TESTING,
	MTASTS_MODE_ENFORCE,
};

struct mtasts_policy {
	enum mtasts_mode mode;
	uint32_t	 max_age;		/* seconds */
	size_t		 nmx;
	/* lower case, "*.example.com" for a wildcard */
	char		 mx[MTASTS_MX_MAX][MTASTS_NAME_MAX + 1];
};

/*
 * mtasts_txt_one - is the TXT string txt[0..len) an STSv1 record
 * ("v=STSv1" first, then ";"-separated fields, RFC 8461 3.1)?  0 with
 * its id in id (NUL-terminated) when it is one and well formed: exactly
 * one id of 1 to 32 letters and digits, extensions name=value as the
 * grammar has them (ignored).  1: a string that does not start with
 * "v=STSv1" (not an STS record at all).  -1: an STS record that is
 * malformed.
 */
int	 mtasts_txt_one(const char *txt, size_t len,
	    char id[MTASTS_ID_MAX + 1]);

/*
 * mtasts_txt_pick - RFC 8461 3.1 over all TXT strings of _mta-sts.DOMAIN:
 * the strings that do not start with "v=STSv1" are dropped; exactly one
 * must be left and be well formed.  0 with its id, else -1 (the domain
 * has no usable policy record) with the reason in why (a static string).
 */
int	 mtasts_txt_pick(const char *const *txt, const size_t *len, size_t n,
	    char id[MTASTS_ID_MAX + 1], const char **why);

/*
 * mtasts_policy_parse - the policy file body[0..len) (RFC 8461 3.2):
 * "key: value" lines ending in LF or CRLF (the last one may lack it),
 * version STSv1, mode enforce, testing or none, max_age 0 to 31557600,
 * mx patterns (a host name, or "*." and one, at most MTASTS_MX_MAX);
 * unknown keys with a well-formed name and value are ignored.  Empty
 * lines are skipped.  Refused: a body over MTASTS_POLICY_MAX, a missing
 * or repeated version, mode or max_age, an enforce or testing policy
 * without mx, a CR not before LF, NUL or other control bytes, a bad
 * value.  0 or -1 with a short reason in err (errlen bytes).
 */
int	 mtasts_policy_parse(const char *body, size_t len,
	    struct mtasts_policy *p, char *err, size_t errlen);

/*
 * mtasts_mx_match - does host (an MX host name, any case, maybe with the
 * root dot) match pattern (lower case, as a policy holds it)?  Exact, or
 * "*.rest" and host is one label and then rest (RFC 8461 4.1: the
 * wildcard stands for exactly one left-most label).
 */
bool	 mtasts_mx_match(const char *pattern, const char *host);

/* mtasts_policy_match - host matches one of p's mx patterns. */
bool	 mtasts_policy_match(const struct mtasts_policy *p, const char *host);

/* mtasts_mode_str - "none", "testing", "enforce". */
const char *mtasts_mode_str(enum mtasts_mode);

#endif
