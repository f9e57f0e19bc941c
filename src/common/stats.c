/*
 * stats.c - the shared counters of stats.h (every process of "postbote
 * serve").  The region is a memfd of fixed size made by the parent and
 * mapped by every child after its exec; writers use relaxed atomic adds,
 * and the one reader (the queue's HTTP listener) takes whatever values are
 * there: counters only grow, so a scrape never sees one go back.  The
 * region holds no peer data except the escaped refusal lines.
 * Trust: the region is ours; a child that misbehaves could only make the
 * numbers wrong, and the reader bounds every index it takes from it.
 */
#include <sys/mman.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "common/stats.h"

const double stats_latency_bounds[STATS_LATENCY_BUCKETS] = {
	0.1, 0.5, 1, 5, 30, 60, 300, 3600, 86400, -1 /* +Inf */
};
const char *const stats_result_words[STATS_NRESULTS] = {
	"none", "pass", "fail", "softfail", "neutral", "temperror",
	"permerror", "policy", "other"
};

static struct stats	*region;

#define ADD(p, n)	__atomic_fetch_add((p), (n), __ATOMIC_RELAXED)

/* stats_create - see stats.h. */
int
stats_create(void)
{
	int	 fd, saved;

	if ((fd = memfd_create("postbote-stats", MFD_CLOEXEC)) == -1)
		return -1;
	if (ftruncate(fd, sizeof(struct stats)) == -1 ||
	    stats_attach(fd) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	region->started = (uint64_t)time(NULL);
	return fd;
}

/* stats_attach - see stats.h. */
int
stats_attach(int fd)
{
	void	*p;

	p = mmap(NULL, sizeof(struct stats), PROT_READ | PROT_WRITE,
	    MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return -1;
	region = p;
	return 0;
}

/* stats_get - see stats.h. */
const struct stats *
stats_get(void)
{
	return region;
}

/* hour_slot - this hour's throughput slot, taken over from 24 hours ago
 * by whichever process gets there first. */
static struct stats_hour *
hour_slot(void)
{
	uint64_t		 now = (uint64_t)time(NULL) / 3600, old;
	struct stats_hour	*h = &region->hours[now % STATS_HOURS];

	old = __atomic_load_n(&h->hour, __ATOMIC_ACQUIRE);
	if (old != now && __atomic_compare_exchange_n(&h->hour, &old, now,
	    false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		__atomic_store_n(&h->received, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&h->delivered, 0, __ATOMIC_RELAXED);
	}
	return h;
}

/* stats_add - see stats.h. */
void
stats_add(enum stats_counter c)
{
	if (region == NULL || (unsigned)c >= STATS_NCOUNTERS)
		return;
	ADD(&region->counters[c], 1);
	if (c == STATS_RECEIVED || c == STATS_SUBMITTED)
		ADD(&hour_slot()->received, 1);
	else if (c == STATS_DELIVERED)
		ADD(&hour_slot()->delivered, 1);
}

/* put_event - the next line of a ring of n.  The entry's seq is cleared
 * while it is written and set last, so the reader skips one being
 * written. */
static void
put_event(struct stats_event *ring, size_t n, uint64_t *seqp, int kind,
    const char *text)
{
	struct stats_event	*e;
	uint64_t		 seq;

	seq = ADD(seqp, 1) + 1;
	e = &ring[seq % n];
	__atomic_store_n(&e->seq, 0, __ATOMIC_RELEASE);
	e->when = (int64_t)time(NULL);
	e->kind = kind;
	snprintf(e->text, sizeof(e->text), "%s", text);
	__atomic_store_n(&e->seq, seq, __ATOMIC_RELEASE);
}

/* stats_reject - see stats.h. */
void
stats_reject(enum stats_reject r, const char *text)
{
	if (region == NULL || (unsigned)r >= STATS_NREJECTS)
		return;
	ADD(&region->rejects[r], 1);
	put_event(region->reject_log, STATS_NREJECT_LOG, &region->reject_seq,
	    (int)r, text);
}

/* stats_failure - see stats.h. */
void
stats_failure(bool bounced, const char *why)
{
	if (region == NULL)
		return;
	put_event(region->fail_log, STATS_NFAIL_LOG, &region->fail_seq,
	    bounced ? 1 : 0, why);
}

/* stats_auth_result - see stats.h. */
void
stats_auth_result(enum stats_auth a, const char *result)
{
	if (region == NULL || (unsigned)a >= STATS_NAUTH || result == NULL)
		return;
	for (size_t i = 0; i < STATS_NRESULTS; i++)
		if (strcasecmp(result, stats_result_words[i]) == 0) {
			ADD(&region->auth[a][i], 1);
			return;
		}
	ADD(&region->auth[a][STATS_NRESULTS - 1], 1);
}

/* stats_delivery - see stats.h. */
void
stats_delivery(double seconds)
{
	size_t	 i;

	if (region == NULL)
		return;
	if (seconds < 0)
		seconds = 0;
	for (i = 0; i < STATS_LATENCY_BUCKETS - 1; i++)
		if (seconds <= stats_latency_bounds[i])
			break;
	ADD(&region->latency[i], 1);
	ADD(&region->latency_usec, (uint64_t)(seconds * 1e6));
}

/* stats_set_process - see stats.h. */
void
stats_set_process(int id, pid_t pid, uint64_t rss)
{
	if (region == NULL || id < 0 || id >= STATS_NPROC)
		return;
	__atomic_store_n(&region->pid[id], (int64_t)pid, __ATOMIC_RELAXED);
	__atomic_store_n(&region->rss[id], rss, __ATOMIC_RELAXED);
}
