/*
 * smtp_limits.c - the smtpd process's abuse counters: connections per
 * client IP and in total, failed AUTH attempts and the password checks in
 * flight per IP, and bans, message and recipient rates per key in fixed
 * minute and hour windows.  One chained hash table of keys; idle keys
 * are swept.  Pure: the caller passes the time, so the unit tests drive
 * it without sleeping.  Keys are peer-derived strings (an IP address, a
 * login) and are only compared.
 * The table is bounded (LIMITS_MAX_ENTRIES): past it, new keys are not
 * tracked rather than memory growing without end.
 */
#include <stdlib.h>
#include <string.h>

#include "smtpd/limits.h"
#include "lib/util.h"

#define NBUCKETS	4096
#define MINUTE		60
#define HOUR		3600

struct window {
	uint64_t	 start;
	unsigned	 n;
};

struct entry {
	struct entry	*next;
	char		 key[LIMITS_KEY_MAX + 1];
	uint64_t	 last;		/* last use, for the sweep */
	unsigned	 conns;
	struct window	 fails;
	unsigned	 checking;	/* password checks in flight */
	uint64_t	 ban_until;
	struct window	 minute[LIMITS_NRATES], hour[LIMITS_NRATES];
};

struct limits {
	struct entry	*b[NBUCKETS];
	unsigned	 nentries;
	unsigned	 total;		/* open connections */
};

static unsigned		 hash(const char *);
static struct entry	*find(struct limits *, const char *, bool, uint64_t);
static bool		 window_fits(struct window *, uint64_t, uint64_t,
			    unsigned, unsigned);

struct limits *
limits_new(void)
{
	return xcalloc(1, sizeof(struct limits));
}

void
limits_free(struct limits *l)
{
	if (l == NULL)
		return;
	for (size_t i = 0; i < NBUCKETS; i++) {
		struct entry	*e, *next;

		for (e = l->b[i]; e != NULL; e = next) {
			next = e->next;
			free(e);
		}
	}
	free(l);
}

/* hash - keys come from peers, but a crowded bucket only costs time. */
static unsigned
hash(const char *s)
{
	return str_hash(s) % NBUCKETS;
}

/* find - the entry for key; with create, a new one (NULL when full). */
static struct entry *
find(struct limits *l, const char *key, bool create, uint64_t now)
{
	unsigned	 h = hash(key);
	struct entry	*e;

	for (e = l->b[h]; e != NULL; e = e->next)
		if (strcmp(e->key, key) == 0)
			break;
	if (e == NULL && create && l->nentries < LIMITS_MAX_ENTRIES &&
	    strlen(key) <= LIMITS_KEY_MAX) {
		e = xcalloc(1, sizeof(*e));
		str_copy(e->key, key, sizeof(e->key));
		e->next = l->b[h];
		l->b[h] = e;
		l->nentries++;
	}
	if (e != NULL)
		e->last = now > e->last ? now : e->last;
	return e;
}

enum limits_conn
limits_conn_open(struct limits *l, const char *ip, uint64_t now,
    unsigned max_total, unsigned max_per_ip)
{
	struct entry	*e = find(l, ip, true, now);

	if (e != NULL && e->ban_until > now)
		return LIMITS_CONN_BANNED;
	if (max_total > 0 && l->total >= max_total)
		return LIMITS_CONN_TOTAL;
	if (e != NULL && max_per_ip > 0 && e->conns >= max_per_ip)
		return LIMITS_CONN_PER_IP;
	l->total++;
	if (e != NULL)
		e->conns++;
	return LIMITS_CONN_OK;
}

void
limits_conn_close(struct limits *l, const char *ip)
{
	struct entry	*e = find(l, ip, false, 0);

	if (l->total > 0)
		l->total--;
	if (e != NULL && e->conns > 0)
		e->conns--;
}

unsigned
limits_conn_total(const struct limits *l)
{
	return l->total;
}

bool
limits_stressed(const struct limits *l, unsigned max_total, unsigned percent)
{
	return max_total > 0 &&
	    (uint64_t)l->total * 100 >= (uint64_t)max_total * percent;
}

unsigned
limits_conn_count(struct limits *l, const char *ip)
{
	struct entry	*e = find(l, ip, false, 0);

	return e != NULL ? e->conns : 0;
}

unsigned
limits_auth_failed(struct limits *l, const char *ip, uint64_t now,
    uint64_t window, unsigned max, uint64_t ban_time)
{
	struct entry	*e = find(l, ip, true, now);

	if (e == NULL)
		return 1;
	if (e->fails.n == 0 || now >= e->fails.start + window) {
		e->fails.start = now;
		e->fails.n = 0;
	}
	e->fails.n++;
	if (max > 0 && e->fails.n > max) {
		e->ban_until = now + ban_time;
		e->fails.n = 0;		/* a new count after the ban */
	}
	return e->fails.n == 0 ? max + 1 : e->fails.n;
}

bool
limits_is_banned(struct limits *l, const char *ip, uint64_t now)
{
	struct entry	*e = find(l, ip, false, 0);

	return e != NULL && e->ban_until > now;
}

enum limits_auth
limits_auth_begin(struct limits *l, const char *ip, uint64_t now,
    uint64_t window, unsigned max)
{
	struct entry	*e = find(l, ip, true, now);
	uint64_t	 fails;

	if (e == NULL)
		return LIMITS_AUTH_OK;	/* untracked: the table is full */
	if (e->ban_until > now)
		return LIMITS_AUTH_BANNED;
	fails = e->fails.n > 0 && now < e->fails.start + window ?
	    e->fails.n : 0;
	if (max > 0 && fails + e->checking > max)
		return LIMITS_AUTH_BUSY;
	e->checking++;
	return LIMITS_AUTH_OK;
}

void
limits_auth_done(struct limits *l, const char *ip)
{
	struct entry	*e = find(l, ip, false, 0);

	if (e != NULL && e->checking > 0)
		e->checking--;
}

/* window_fits - would n more stay within max in w (restarted if over)? */
static bool
window_fits(struct window *w, uint64_t now, uint64_t len, unsigned n,
    unsigned max)
{
	if (now >= w->start + len) {
		w->start = now;
		w->n = 0;
	}
	return max == 0 || (uint64_t)w->n + n <= max;
}

bool
limits_rate_take(struct limits *l, const char *key, enum limits_rate r,
    uint64_t now, unsigned n, unsigned per_minute, unsigned per_hour)
{
	struct entry	*e;

	if (per_minute == 0 && per_hour == 0)
		return true;
	if ((e = find(l, key, true, now)) == NULL)
		return true;
	if (!window_fits(&e->minute[r], now, MINUTE, n, per_minute) ||
	    !window_fits(&e->hour[r], now, HOUR, n, per_hour))
		return false;
	e->minute[r].n += n;
	e->hour[r].n += n;
	return true;
}

void
limits_sweep(struct limits *l, uint64_t now, uint64_t keep)
{
	for (size_t i = 0; i < NBUCKETS; i++) {
		struct entry	**pp = &l->b[i], *e;

		while ((e = *pp) != NULL) {
			if (e->conns == 0 && e->checking == 0 &&
			    e->ban_until <= now && now >= e->last + keep) {
				*pp = e->next;
				free(e);
				l->nentries--;
			} else
				pp = &e->next;
		}
	}
}

unsigned
limits_entries(const struct limits *l)
{
	return l->nentries;
}

bool
limits_data_rate_ok(uint64_t bytes, uint64_t elapsed, uint64_t min_rate)
{
	if (min_rate == 0 || elapsed == 0)
		return true;
	if (elapsed > UINT64_MAX / min_rate)
		return false;
	return bytes >= min_rate * elapsed;
}
