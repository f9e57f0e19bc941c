/*
 * greylist.c - the greylisting triplet, its record and the decision
 * (greylist.h).  Runs in smtpd (the key) and lookup (records, decisions).
 * Trust: the addresses were parsed by smtpd's strict parser; records
 * come from lookup's own store in state_dir and are still decoded
 * strictly, because a damaged file must not make a decision.  Pure.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "mail/greylist.h"
#include "lib/util.h"

#define REC_VERSION	1

int
greylist_key(const char *ip, const char *sender, const char *rcpt,
    char *out, size_t outlen)
{
	unsigned char	 a[16];
	char		 net[INET6_ADDRSTRLEN + 4];
	int		 n;

	if (inet_pton(AF_INET, ip, a) == 1)
		snprintf(net, sizeof(net), "%u.%u.%u.0/24", a[0], a[1], a[2]);
	else if (inet_pton(AF_INET6, ip, a) == 1) {
		static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0,
			0, 0, 0, 0, 0xff, 0xff };

		if (memcmp(a, mapped, sizeof(mapped)) == 0)
			snprintf(net, sizeof(net), "%u.%u.%u.0/24", a[12],
			    a[13], a[14]);
		else {
			char	 t[INET6_ADDRSTRLEN];

			memset(a + 8, 0, 8);
			inet_ntop(AF_INET6, a, t, sizeof(t));
			snprintf(net, sizeof(net), "%s/64", t);
		}
	} else
		return -1;
	n = snprintf(out, outlen, "%s|%s|%s", net, sender, rcpt);
	if (n < 0 || (size_t)n >= outlen)
		return -1;
	str_lower(out);
	return 0;
}

static void
put64(unsigned char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)v;
}

static uint64_t
get64(const unsigned char *p)
{
	uint64_t	v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

void
greylist_rec_encode(const struct greylist_rec *r,
    unsigned char out[GREYLIST_REC_LEN])
{
	out[0] = REC_VERSION;
	put64(out + 1, r->first);
	put64(out + 9, r->last);
	put64(out + 17, r->passed);
	out[25] = (unsigned char)(r->count >> 24);
	out[26] = (unsigned char)(r->count >> 16);
	out[27] = (unsigned char)(r->count >> 8);
	out[28] = (unsigned char)r->count;
}

int
greylist_rec_decode(const void *v, size_t len, struct greylist_rec *r)
{
	const unsigned char	*p = v;

	memset(r, 0, sizeof(*r));
	if (len != GREYLIST_REC_LEN || p[0] != REC_VERSION)
		return -1;
	r->first = get64(p + 1);
	r->last = get64(p + 9);
	r->passed = get64(p + 17);
	r->count = (uint32_t)p[25] << 24 | (uint32_t)p[26] << 16 |
	    (uint32_t)p[27] << 8 | p[28];
	if (r->first > r->last || (r->passed != 0 && (r->passed < r->first ||
	    r->passed > r->last))) {
		memset(r, 0, sizeof(*r));
		return -1;
	}
	return 0;
}

bool
greylist_expired(const struct greylist_rec *r, uint64_t now,
    const struct greylist_times *t)
{
	if (r->passed != 0)
		return now > r->last && now - r->last > t->expire;
	return now > r->first && now - r->first > t->window;
}

enum greylist_verdict
greylist_decide(struct greylist_rec *r, bool found, uint64_t now,
    const struct greylist_times *t)
{
	if (found && now < r->last)	/* the clock went back */
		now = r->last;
	if (!found || greylist_expired(r, now, t)) {
		r->first = r->last = now;
		r->passed = 0;
		r->count = 1;
		return GREYLIST_NEW;
	}
	r->last = now;
	if (r->count < UINT32_MAX)
		r->count++;
	if (r->passed != 0)
		return GREYLIST_PASS;
	if (now - r->first < t->delay)
		return GREYLIST_EARLY;
	r->passed = now;
	return GREYLIST_PASS;
}
