/*
 * mx.c - MX resolution for remote delivery (remote.c, deliver process).
 * Asks c-ares through dns.c; every answer is untrusted: dns.c has checked
 * the names, and here only their order and count are decided.  RFC 5321
 * 5.1 (MX order, implicit MX), RFC 7505 (null MX).  Its failures are
 * recipient results, in the job's terms (deliver_job.h).  Whether the
 * answer was DNSSEC-validated is passed on for DANE (RFC 7672 2.2.1).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deliver/deliver_job.h"
#include "deliver/mx.h"
#include "lib/dns.h"
#include "lib/ipc.h"
#include "lib/util.h"

#define MX_MAX	32		/* hosts tried per domain */

struct mx_req {
	mx_cb		 cb;
	uint64_t	 id;
	char		*domain;
	char		*self;
};

static void	 mx_answer(uint64_t, void *, enum dns_status, bool,
		    const struct dns_mx *, size_t);

/* shuffle_equal - random order among equal preferences (RFC 5321 5.1). */
static void
shuffle_equal(struct dns_mx *mx, size_t n)
{
	for (size_t a = 0, b; a < n; a = b) {
		for (b = a + 1; b < n && mx[b].pref == mx[a].pref; b++)
			;
		for (size_t i = b - 1; i > a; i--) {
			size_t		k = a + (size_t)random() % (i - a + 1);
			struct dns_mx	t = mx[i];

			mx[i] = mx[k];
			mx[k] = t;
		}
	}
}

/* mx_resolve - see mx.h. */
void
mx_resolve(struct dns_ctx *dns, const char *domain, const char *self,
    mx_cb cb, uint64_t id)
{
	struct mx_req	*q = xcalloc(1, sizeof(*q));

	q->cb = cb;
	q->id = id;
	q->domain = xstrdup(domain);
	q->self = xstrdup(self);
	dns_mx_sec(dns, domain, mx_answer, 0, q);
}

static void
fail(struct mx_req *q, int result, const char *dsn, const char *why)
{
	char	text[DELIVER_JOB_TEXT_MAX];

	snprintf(text, sizeof(text), "%s: %s", q->domain, why);
	q->cb(q->id, result, dsn, text, false, NULL, 0);
}

static void
mx_answer(uint64_t unused, void *arg, enum dns_status st, bool secure,
    const struct dns_mx *mx, size_t n)
{
	struct mx_req	*q = arg;
	struct dns_mx	 v[MX_MAX];
	const char	*hosts[MX_MAX];
	size_t		 k = 0;

	if (st == DNS_NXDOMAIN)
		fail(q, DELIVER_PERM, "5.1.2", "domain not found (NXDOMAIN)");
	else if (st == DNS_NODATA) {		/* implicit MX */
		hosts[0] = q->domain;
		if (str_ieq(q->domain, q->self))
			fail(q, DELIVER_PERM, "5.4.6",
			    "mail loops back to myself");
		else
			q->cb(q->id, DELIVER_OK, "", "", secure, hosts, 1);
	} else if (st != DNS_OK || n == 0)
		fail(q, DELIVER_TEMP, "4.4.3", st == DNS_PERMFAIL ?
		    "malformed MX answer" : "MX lookup failed, try again");
	else {
		for (size_t i = 0; i < n; i++)
			if (strcmp(mx[i].host, ".") == 0) {
				fail(q, DELIVER_PERM, "5.1.10", "null MX: the "
				    "domain accepts no mail (RFC 7505)");
				goto out;
			}
		for (size_t i = 0; i < n && k < MX_MAX; i++)
			v[k++] = mx[i];
		shuffle_equal(v, k);
		/* RFC 5321 5.1: we are an MX: only better ones are tried. */
		for (size_t i = 0; i < k; i++)
			if (str_ieq(v[i].host, q->self)) {
				while (i > 0 && v[i - 1].pref == v[i].pref)
					i--;
				k = i;
				break;
			}
		for (size_t i = 0; i < k; i++)
			hosts[i] = v[i].host;
		if (k == 0)
			fail(q, DELIVER_PERM, "5.4.6",
			    "mail loops back to myself");
		else
			q->cb(q->id, DELIVER_OK, "", "", secure, hosts, k);
	}
out:
	free(q->domain);
	free(q->self);
	free(q);
}
