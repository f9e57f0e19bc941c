/*
 * cmd_mtasts.c - MTA-STS (RFC 8461) in "postbote dns" and "postbote check
 * --dns" (cmd_mtasts.h): what to publish, and a check of what is
 * published: the _mta-sts TXT record (mail/mtasts.c), the policy file
 * fetched from https://mta-sts.DOMAIN/.well-known/mta-sts.txt the way
 * the deliver process fetches it (lib/https.c), and its mx patterns
 * against the domain's MX hosts.
 *
 * Runs as a short-lived CLI process under the admin's uid.  Trust: the
 * DNS answers and the policy are untrusted, parsed strictly and printed
 * only through cmd_say(), which replaces control bytes.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "cli/cmd_mtasts.h"
#include "cli/cmd_say.h"
#include "common/conf.h"
#include "lib/dns.h"
#include "lib/https.h"
#include "lib/util.h"
#include "mail/mtasts.h"

#define FIRST_MAX_AGE	86400	/* a day while in testing mode */

struct fetch {
	struct event_base	*base;
	SSL_CTX			*ctx;
	const struct conf	*c;
	char			 host[MTASTS_NAME_MAX + 16];
	bool			 done;
	enum https_status	 status;
	char			 why[512];
	char			*body;
	size_t			 len;
};

/* cmd_mtasts_print - see cmd_mtasts.h. */
void
cmd_mtasts_print(const struct conf *c, const char *dom)
{
	char		 id[32];
	time_t		 now = time(NULL);
	struct tm	 tm;

	gmtime_r(&now, &tm);
	strftime(id, sizeof(id), "%Y%m%d%H%M%S", &tm);
	printf("_mta-sts.%s.\tIN TXT\t\"v=STSv1; id=%s\"\n", dom, id);
	printf("; MTA-STS (RFC 8461): serve this file as text/plain at\n"
	    "; https://mta-sts.%s/.well-known/mta-sts.txt with a "
	    "certificate valid for mta-sts.%s:\n", dom, dom);
	printf(";   version: STSv1\n;   mode: testing\n;   mx: %s\n"
	    ";   max_age: %d\n", c->hostname, FIRST_MAX_AGE);
	printf("; Once TLS reports show no failures, change mode to enforce "
	    "and max_age\n; to 604800 or more, and give the TXT record a "
	    "new id each time the file changes.\n");
}

static void
got(uint64_t id, void *arg, const struct https_result *r)
{
	struct fetch	*f = arg;

	f->done = true;
	f->status = r->status;
	str_copy(f->why, r->why, sizeof(f->why));
	if (r->status == HTTPS_OK) {
		f->body = xmalloc(r->len + 1);
		memcpy(f->body, r->body, r->len);
		f->body[r->len] = '\0';
		f->len = r->len;
	}
	event_base_loopexit(f->base, NULL);
}

static void
addr_cb(uint64_t id, void *arg, enum dns_status st,
    const struct sockaddr_storage *addrs, size_t n)
{
	struct fetch	*f = arg;

	if (st != DNS_OK || n == 0) {
		f->done = true;
		f->status = HTTPS_CONNECT;
		snprintf(f->why, sizeof(f->why), "no address for %s (%s)",
		    f->host, dns_status_str(st));
		event_base_loopexit(f->base, NULL);
		return;
	}
	https_get(f->base, f->ctx, &addrs[0], f->host, f->c->mta_sts_port,
	    "/.well-known/mta-sts.txt", "text/plain", MTASTS_POLICY_MAX,
	    (unsigned)(f->c->mta_sts_timeout * 1000), got, 0, f);
}

/* check_policy - the fetched policy against the MX hosts. */
static bool
check_policy(const char *dom, const char *id, const struct fetch *f,
    const char *const *mx, size_t nmx)
{
	struct mtasts_policy	*p = xmalloc(sizeof(*p));
	char			 err[128];
	size_t			 miss = 0, at = 0;
	bool			 ok;

	if (mtasts_policy_parse(f->body, f->len, p, err, sizeof(err)) == -1) {
		ok = cmd_say(dom, "MTA-STS", false,
		    "the policy at https://%s/.well-known/"
		    "mta-sts.txt does not parse: %s", f->host, err);
		goto out;
	}
	for (size_t i = 0; i < nmx; i++)
		if (!mtasts_policy_match(p, mx[i]))
			miss++, at = i;
	if (p->mode != MTASTS_MODE_NONE && miss > 0)
		ok = cmd_say(dom, "MTA-STS", false,
		    "id %s, mode %s: the MX host %s%s is not "
		    "covered by the policy's mx patterns", id,
		    mtasts_mode_str(p->mode), mx[at], miss > 1 ? " (and "
		    "others)" : "");
	else
		ok = cmd_say(dom, "MTA-STS", true,
		    "id %s, mode %s, max_age %u, %zu mx "
		    "pattern(s) covering the %zu MX host(s)", id,
		    mtasts_mode_str(p->mode), (unsigned)p->max_age, p->nmx,
		    nmx);
out:
	free(p);
	return ok;
}

/* cmd_mtasts_check - see cmd_mtasts.h. */
bool
cmd_mtasts_check(const struct conf *c, struct event_base *base,
    struct dns_ctx *dns, const char *dom, int st, const char *const *txt,
    const size_t *len, size_t n, const char *const *mx, size_t nmx)
{
	struct fetch	 f = { .base = base, .c = c };
	char		 id[MTASTS_ID_MAX + 1], err[256];
	const char	*why;
	bool		 ok;

	if (st == DNS_TEMPFAIL || st == DNS_PERMFAIL)
		return cmd_say(dom, "MTA-STS", false,
		    "the lookup of _mta-sts.%s failed (%s)",
		    dom, dns_status_str(st));
	if (st != DNS_OK || mtasts_txt_pick(txt, len, n, id, &why) == -1) {
		if (st == DNS_OK && strcmp(why, "no v=STSv1 record") != 0)
			return cmd_say(dom, "MTA-STS", false,
			    "_mta-sts.%s: %s", dom, why);
		return cmd_say(dom, "MTA-STS", true,
		    "none published (optional; \"postbote "
		    "dns %s\" shows what to publish)", dom);
	}
	if ((f.ctx = https_ctx_new(c->mta_sts_ca, err, sizeof(err))) == NULL)
		return cmd_say(dom, "MTA-STS", false, "%s", err);
	snprintf(f.host, sizeof(f.host), "mta-sts.%s", dom);
	dns_addr(dns, f.host, AF_UNSPEC, addr_cb, 0, &f);
	while (!f.done)
		event_base_dispatch(base);
	if (f.status != HTTPS_OK)
		ok = cmd_say(dom, "MTA-STS", false,
		    "record id %s, but the policy cannot be "
		    "fetched from https://%s/.well-known/mta-sts.txt: %s", id,
		    f.host, f.why);
	else
		ok = check_policy(dom, id, &f, mx, nmx);
	free(f.body);
	SSL_CTX_free(f.ctx);
	return ok;
}
