/*
 * screen.c - DNS blocklists and allowlists at connect (screen.h), the
 * idea of Postfix's postscreen_dnsbl_sites.  Runs in smtpd.
 *
 * Each list is one A query through dns_raw() (lib/dns.c, c-ares) for the
 * reversed address under its zone; mail/dnsbl.c reads the answer and its
 * TTL.  Answers (listed or not) are kept in a direct-mapped cache for
 * their TTL (a denial for its SOA's negative TTL, at most CACHE_TTL_MAX),
 * so a client that connects again asks nothing.  A temporary failure is
 * neither cached nor counted.  Queries carry a screen id, never a
 * pointer: an answer for a screen that was freed is dropped.
 * Trust: answers are the resolver's and are parsed strictly; only A
 * records in 127.0.0.0/8 count (RFC 5782 2.1), so a wildcard or a list
 * that answers with its own address (a sign it was shut down) cannot
 * list every client.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "common/conf.h"
#include "lib/dns.h"
#include "lib/log.h"
#include "lib/util.h"
#include "mail/dnsbl.h"
#include "smtpd/screen.h"

#define CACHE_SLOTS	4096
#define CACHE_TTL_MAX	86400	/* seconds */
#define CACHE_NEG_TTL	300	/* a denial without an SOA */
#define T_A		1
#define TABLE_SIZE	256

struct cache_ent {
	char		 name[DNSBL_NAME_MAX + 1];	/* "" = empty slot */
	uint64_t	 expires;	/* monotonic µs */
	size_t		 n;
	uint8_t		 addrs[4][4];
};

enum site_state { SITE_WAIT = 0, SITE_HIT, SITE_MISS, SITE_FAIL };

struct screen_site {
	struct dnsbl_site	 site;
	bool			 allow;		/* a dnswl entry */
	enum site_state		 state;
	char			 name[DNSBL_NAME_MAX + 1];
	uint8_t			 code[4];	/* the code that matched */
};

struct screen {
	uint64_t		 id;
	struct screen		*hnext;
	char			 ip[64];
	screen_done_fn		 done;
	struct event		*timer;
	struct screen_site	*sites;
	size_t			 nsites, waiting;
	unsigned		 threshold;
	bool			 finished;
};

static struct event_base	*base;
static struct dns_ctx		*dns;
static struct cache_ent		*cache;
static struct screen		*table[TABLE_SIZE];

void
screen_init(struct event_base *b, struct dns_ctx *d)
{
	base = b;
	dns = d;
	if (cache == NULL)
		cache = xcalloc(CACHE_SLOTS, sizeof(*cache));
}

static struct screen *
find(uint64_t id)
{
	struct screen	*sc;

	for (sc = table[id % TABLE_SIZE]; sc != NULL; sc = sc->hnext)
		if (sc->id == id)
			return sc;
	return NULL;
}

static struct cache_ent *
cache_slot(const char *name)
{
	return &cache[str_hash(name) % CACHE_SLOTS];
}

static const struct cache_ent *
cache_get(const char *name)
{
	struct cache_ent	*e = cache_slot(name);

	if (strcmp(e->name, name) != 0)
		return NULL;
	if (e->expires <= now_mono_usec()) {
		e->name[0] = '\0';
		return NULL;
	}
	return e;
}

static void
cache_put(const char *name, const struct dnsbl_answer *a, uint32_t ttl)
{
	struct cache_ent	*e = cache_slot(name);

	if (ttl == 0)
		return;
	if (ttl > CACHE_TTL_MAX)
		ttl = CACHE_TTL_MAX;
	str_copy(e->name, name, sizeof(e->name));
	e->expires = now_mono_usec() + (uint64_t)ttl * 1000000;
	e->n = 0;
	for (size_t i = 0; i < a->n && e->n < 4; i++)
		memcpy(e->addrs[e->n++], a->addrs[i], 4);
}

/* site_result - the codes a list gave (n = 0: not listed). */
static void
site_result(struct screen *sc, struct screen_site *ss, const uint8_t (*a)[4],
    size_t n)
{
	ss->state = SITE_MISS;
	for (size_t i = 0; i < n; i++)
		if (a[i][0] == 127 && dnsbl_site_match(&ss->site, a[i])) {
			ss->state = SITE_HIT;
			memcpy(ss->code, a[i], 4);
			break;
		}
}

static void
finish(struct screen *sc, bool timed_out)
{
	char	 hits[512] = "";
	size_t	 len = 0;
	int	 score = screen_score(sc);

	sc->finished = true;
	for (size_t i = 0; i < sc->nsites; i++) {
		struct screen_site	*ss = &sc->sites[i];

		if (ss->state != SITE_HIT || len >= sizeof(hits) - 1)
			continue;
		len += (size_t)snprintf(hits + len, sizeof(hits) - len,
		    "%s%s=%u.%u.%u.%u*%d", len ? "," : "", ss->site.zone,
		    ss->code[0], ss->code[1], ss->code[2], ss->code[3],
		    ss->site.weight);
		if (len >= sizeof(hits))
			len = sizeof(hits) - 1;
	}
	if (hits[0] != '\0' || timed_out)
		log_info("session=%016llx event=dnsbl client=[%s] score=%d "
		    "threshold=%u result=%s lists=\"%s\"%s",
		    (unsigned long long)sc->id, sc->ip, score, sc->threshold,
		    screen_listed(sc) != NULL ? "listed" : "pass", hits,
		    timed_out ? " timeout=yes" : "");
	sc->done(sc->id);
}

static void
timer_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct screen	*sc = arg;

	if (!sc->finished)
		finish(sc, sc->waiting > 0);
}

static void
answered(uint64_t id, void *arg, enum dns_status st, bool secure,
    const unsigned char *msg, size_t len)
{
	struct screen		*sc = find(id);
	size_t			 i = (size_t)(uintptr_t)arg;
	struct screen_site	*ss;
	struct dnsbl_answer	 a;

	if (sc == NULL || i >= sc->nsites || sc->finished)
		return;
	ss = &sc->sites[i];
	if (ss->state != SITE_WAIT)
		return;
	sc->waiting--;
	if ((st == DNS_OK || st == DNS_NXDOMAIN || st == DNS_NODATA) &&
	    msg != NULL && dnsbl_answer_parse(msg, len, &a) == 0) {
		if (st != DNS_OK)
			a.n = 0;
		site_result(sc, ss, (const uint8_t (*)[4])a.addrs, a.n);
		cache_put(ss->name, &a, a.n == 0 && a.ttl == 0 ?
		    CACHE_NEG_TTL : a.ttl);
	} else {
		ss->state = SITE_FAIL;
		log_info("session=%016llx event=dnsbl-error list=%s "
		    "status=%s", (unsigned long long)sc->id, ss->site.zone,
		    dns_status_str(st));
	}
	if (sc->waiting == 0) {
		struct timeval	 tv = { 0, 0 };

		evtimer_add(sc->timer, &tv);	/* finish from the loop */
	}
}

static void
add_sites(struct screen *sc, const struct dnsbl_site *v, size_t n,
    bool allow)
{
	for (size_t i = 0; i < n; i++) {
		struct screen_site	*ss = &sc->sites[sc->nsites];

		if (dnsbl_query_name(sc->ip, v[i].zone, ss->name,
		    sizeof(ss->name)) == -1)
			continue;
		ss->site = v[i];
		ss->allow = allow;
		sc->nsites++;
	}
}

struct screen *
screen_start(uint64_t id, const char *ip, screen_done_fn done)
{
	struct screen	*sc;
	struct timeval	 tv = { 0, 0 };

	if (dns == NULL || config->ndnsbl + config->ndnswl == 0)
		return NULL;
	sc = xcalloc(1, sizeof(*sc));
	sc->id = id;
	sc->done = done;
	sc->threshold = config->dnsbl_threshold;
	str_copy(sc->ip, ip, sizeof(sc->ip));
	sc->sites = xcalloc(config->ndnsbl + config->ndnswl,
	    sizeof(*sc->sites));
	add_sites(sc, config->dnsbl, config->ndnsbl, false);
	add_sites(sc, config->dnswl, config->ndnswl, true);
	sc->timer = evtimer_new(base, timer_cb, sc);
	sc->hnext = table[id % TABLE_SIZE];
	table[id % TABLE_SIZE] = sc;
	for (size_t i = 0; i < sc->nsites; i++) {
		const struct cache_ent	*e = cache_get(sc->sites[i].name);

		if (e != NULL)
			site_result(sc, &sc->sites[i],
			    (const uint8_t (*)[4])e->addrs, e->n);
		else
			sc->waiting++;
	}
	if (sc->waiting > 0)
		tv.tv_sec = (time_t)config->dnsbl_timeout;
	evtimer_add(sc->timer, &tv);
	/* Ask after the table holds sc: an answer finds it by id. */
	for (size_t i = 0; i < sc->nsites; i++)
		if (sc->sites[i].state == SITE_WAIT)
			dns_raw(dns, sc->sites[i].name, T_A, answered, id,
			    (void *)(uintptr_t)i);
	return sc;
}

bool
screen_done(const struct screen *sc)
{
	return sc == NULL || sc->finished;
}

int
screen_score(const struct screen *sc)
{
	int	 score = 0;

	for (size_t i = 0; sc != NULL && i < sc->nsites; i++)
		if (sc->sites[i].state == SITE_HIT)
			score += sc->sites[i].site.weight;
	return score;
}

const char *
screen_listed(const struct screen *sc)
{
	const struct screen_site *best = NULL;

	if (sc == NULL || screen_score(sc) < (int)sc->threshold)
		return NULL;
	for (size_t i = 0; i < sc->nsites; i++) {
		const struct screen_site *ss = &sc->sites[i];

		if (ss->state == SITE_HIT && ss->site.weight > 0 &&
		    (best == NULL || ss->site.weight > best->site.weight))
			best = ss;
	}
	return best != NULL ? best->site.zone : NULL;
}

bool
screen_allowed(const struct screen *sc)
{
	for (size_t i = 0; sc != NULL && i < sc->nsites; i++)
		if (sc->sites[i].allow && sc->sites[i].state == SITE_HIT)
			return true;
	return false;
}

void
screen_free(struct screen *sc)
{
	struct screen	**pp;

	if (sc == NULL)
		return;
	for (pp = &table[sc->id % TABLE_SIZE]; *pp != NULL;
	    pp = &(*pp)->hnext)
		if (*pp == sc) {
			*pp = sc->hnext;
			break;
		}
	event_free(sc->timer);
	free(sc->sites);
	free(sc);
}
