/*
 * queue_sched.c - the queue's scheduler: the messages (envelopes and
 * recipient states), the ready list, when each waiting message is due
 * (retry, queue_lifetime, delay_warning), the concurrency limits, and the
 * admin's actions.  Queue process, on its loop.
 *
 * It does no I/O and owns no timer: the process glue (queue.c) passes the
 * time in and does what the ops ask (send a delivery, append status
 * records, make a report, remove or move files).  Waiting messages sit in
 * one heap by due time and the glue keeps a single timer at its top, so
 * tests/unit/test_queue_sched.c drives all of it with a fake clock.
 * Trust: envelopes were decoded strictly before they come here; results
 * come from our deliver process, and their recipient indexes are checked.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/conf.h"
#include "common/stats.h"
#include "lib/log.h"
#include "lib/util.h"
#include "mail/bounce.h"
#include "queue/queue_sched.h"

#define HASH_SIZE	8192
#define DEST_HASH	256
#define NO_SLOT		SIZE_MAX	/* not in the due heap */

struct qdest {				/* deliveries in flight to a domain */
	struct qdest	*next;
	char		*domain;	/* lower case */
	unsigned	 n;
};

struct qpart {				/* one remote delivery in flight */
	struct qpart	*next;
	uint64_t	 reqid;
	struct qdest	*dest;
};

struct qmsg {
	struct qmsg	*hnext;
	struct qmsg	*rnext;		/* ready list */
	char		 id[QUEUE_ID_LEN + 1];
	struct envelope	 env;
	bool		 held;
	bool		 inflight;
	bool		 ready;
	bool		 recovered;	/* loaded at start: maybe delivered */
	size_t		 slot;		/* index in the due heap, or NO_SLOT */
	uint64_t	 seq;		/* order among equal due times */
	unsigned	 parts;		/* deliveries out (local + remote) */
	struct qpart	*rparts;	/* the remote ones */
};

/* What start_delivery made of a message. */
enum start { START_OK, START_GONE, START_STOP };

static unsigned	 hash_id(const char *);
static struct qmsg *msg_find(const char *);
static struct qmsg *msg_add(const char *, struct envelope *, bool);
static void	 msg_unlink(struct qmsg *);
static void	 msg_done(struct qmsg *);
static bool	 is_due_before(const struct qmsg *, const struct qmsg *);
static void	 due_set(size_t, struct qmsg *);
static void	 due_up(size_t);
static void	 due_down(size_t);
static void	 due_push(struct qmsg *);
static void	 due_drop(struct qmsg *);
static void	 rearm(bool);
static void	 ready_push(struct qmsg *);
static void	 ready_drop(struct qmsg *);
static struct qmsg *ready_take(struct qmsg **);
static void	 ready_put(struct qmsg **, struct qmsg *);
static void	 schedule(struct qmsg *, uint64_t);
static bool	 has_pending(const struct qmsg *);
static bool	 has_local_pending(const struct qmsg *);
static const char *rcpt_domain(const struct env_rcpt *);
static bool	 is_sendable(const struct env_rcpt *, const char *);
static unsigned	 dest_hash(const char *);
static struct qdest *dest_find(const char *);
static struct qdest *dest_get(const char *);
static void	 dest_release(struct qdest *);
static void	 part_out(struct qmsg *, const char *, uint64_t);
static int	 part_done(struct qmsg *, uint64_t);
static enum queue_sched_send send_part(struct qmsg *, const char *);
static size_t	 remote_domains(const struct qmsg *, const char **, size_t);
static bool	 can_start(const char **, size_t, bool);
static enum start start_delivery(struct qmsg *, const char **, size_t, bool);
static void	 dispatch(void);
static void	 expire(struct qmsg *, struct buf *, unsigned char *, uint64_t);
static void	 maybe_warn(struct qmsg *, struct buf *, unsigned char *,
		    uint64_t);
static void	 retry_later(struct qmsg *, struct buf *, unsigned char *,
		    uint64_t);
static void	 apply_result(struct qmsg *, const struct queue_sched_result *,
		    struct buf *, unsigned char *);
static void	 report(struct qmsg *, const unsigned char *, uint64_t);
static void	 results(struct qmsg *, const struct queue_sched_result *,
		    size_t, uint64_t);
static void	 entry_of(const struct qmsg *, struct queue_sched_entry *);
static struct qmsg *find_idle(const char *, const char **);
static int	 hold_msg(struct qmsg *, const char **);

static const struct queue_sched_ops *ops;
static void		*ops_arg;
static struct qmsg	*msgs[HASH_SIZE];
static struct qmsg	*ready_head, **ready_tail = &ready_head;
static struct qmsg	**due;		/* min-heap by (next_attempt, seq) */
static size_t		 ndue, capdue;
static uint64_t		 due_seq;
static uint64_t		 armed;		/* last due time given to the timer */
static unsigned		 inflight, remote_inflight, nmsgs;
static struct qdest	*dests[DEST_HASH];
static uint64_t		 next_reqid;

/* ---- the message table ---- */

static unsigned
hash_id(const char *id)
{
	return str_hash(id) % HASH_SIZE;
}

static struct qmsg *
msg_find(const char *id)
{
	struct qmsg	*m = msgs[hash_id(id)];

	while (m != NULL && strcmp(m->id, id) != 0)
		m = m->hnext;
	return m;
}

static struct qmsg *
msg_add(const char *id, struct envelope *env, bool held)
{
	struct qmsg	*m = xcalloc(1, sizeof(*m));
	unsigned	 h = hash_id(id);

	str_copy(m->id, id, sizeof(m->id));
	m->env = *env;
	memset(env, 0, sizeof(*env));
	m->held = held;
	m->slot = NO_SLOT;
	m->hnext = msgs[h];
	msgs[h] = m;
	nmsgs++;
	return m;
}

static void
msg_unlink(struct qmsg *m)
{
	struct qmsg	**pp = &msgs[hash_id(m->id)];

	while (*pp != NULL && *pp != m)
		pp = &(*pp)->hnext;
	if (*pp != NULL)
		*pp = m->hnext;
	ready_drop(m);
	due_drop(m);
	while (m->rparts != NULL) {
		struct qpart	*p = m->rparts;

		m->rparts = p->next;
		free(p);
	}
	envelope_free(&m->env);
	free(m);
	nmsgs--;
}

/* msg_done - nothing is left to do for m: its files go, then m. */
static void
msg_done(struct qmsg *m)
{
	ops->remove(ops_arg, m->id, m->held);
	log_info("%s: removed", m->id);
	msg_unlink(m);
}

/* ---- the due heap: messages waiting for their next attempt ---- */

static bool
is_due_before(const struct qmsg *a, const struct qmsg *b)
{
	if (a->env.next_attempt != b->env.next_attempt)
		return a->env.next_attempt < b->env.next_attempt;
	return a->seq < b->seq;
}

static void
due_set(size_t i, struct qmsg *m)
{
	due[i] = m;
	m->slot = i;
}

static void
due_up(size_t i)
{
	struct qmsg	*m = due[i];

	while (i > 0 && is_due_before(m, due[(i - 1) / 2])) {
		due_set(i, due[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	due_set(i, m);
}

static void
due_down(size_t i)
{
	struct qmsg	*m = due[i];
	size_t		 c;

	while ((c = 2 * i + 1) < ndue) {
		if (c + 1 < ndue && is_due_before(due[c + 1], due[c]))
			c++;
		if (!is_due_before(due[c], m))
			break;
		due_set(i, due[c]);
		i = c;
	}
	due_set(i, m);
}

/* due_push - m waits for env.next_attempt; equal times keep their order. */
static void
due_push(struct qmsg *m)
{
	if (ndue == capdue) {
		capdue = capdue ? capdue * 2 : 64;
		due = xreallocarray(due, capdue, sizeof(*due));
	}
	m->seq = ++due_seq;
	due_set(ndue, m);
	due_up(ndue++);
}

static void
due_drop(struct qmsg *m)
{
	size_t		 i = m->slot;
	struct qmsg	*last;

	if (i == NO_SLOT)
		return;
	m->slot = NO_SLOT;
	last = due[--ndue];
	if (i == ndue)
		return;
	due_set(i, last);
	due_up(i);
	due_down(last->slot);
}

/* rearm - tell the glue when the earliest waiting message is due, when
 * that changed (or always, with force). */
static void
rearm(bool force)
{
	uint64_t	at = ndue > 0 ? due[0]->env.next_attempt : 0;

	if (at == armed && !force)
		return;
	armed = at;
	ops->timer(ops_arg, at);
}

/* ---- the ready list ---- */

/* ready_push - m is to be sent now (unless it is out or held). */
static void
ready_push(struct qmsg *m)
{
	if (m->ready || m->inflight || m->held)
		return;
	due_drop(m);
	m->ready = true;
	m->rnext = NULL;
	*ready_tail = m;
	ready_tail = &m->rnext;
}

/* ready_drop - take m off the ready list. */
static void
ready_drop(struct qmsg *m)
{
	struct qmsg	**pp;

	if (!m->ready)
		return;
	for (pp = &ready_head; *pp != NULL && *pp != m; pp = &(*pp)->rnext)
		;
	if (*pp != NULL)
		ready_take(pp);
}

/* ready_take - unlink the message at *pp, which is on the list. */
static struct qmsg *
ready_take(struct qmsg **pp)
{
	struct qmsg	*m = *pp;

	*pp = m->rnext;
	if (*pp == NULL)
		ready_tail = pp;
	m->ready = false;
	m->rnext = NULL;
	return m;
}

/* ready_put - put m back at *pp, where ready_take found it. */
static void
ready_put(struct qmsg **pp, struct qmsg *m)
{
	m->rnext = *pp;
	*pp = m;
	if (m->rnext == NULL)
		ready_tail = &m->rnext;
	m->ready = true;
}

/* schedule - ready now, or waiting for env.next_attempt. */
static void
schedule(struct qmsg *m, uint64_t now)
{
	if (m->env.next_attempt <= now)
		ready_push(m);
	else {
		due_drop(m);
		due_push(m);
	}
}

/* ---- recipients and destinations ---- */

static bool
has_pending(const struct qmsg *m)
{
	for (size_t i = 0; i < m->env.nrcpt; i++)
		if (m->env.rcpts[i].state == RCPT_PENDING)
			return true;
	return false;
}

/* has_local_pending - local recipients still to deliver. */
static bool
has_local_pending(const struct qmsg *m)
{
	for (size_t i = 0; i < m->env.nrcpt; i++)
		if (m->env.rcpts[i].state == RCPT_PENDING &&
		    m->env.rcpts[i].kind == RCPT_LOCAL)
			return true;
	return false;
}

/* rcpt_domain - the domain part of a recipient address ("" if none). */
static const char *
rcpt_domain(const struct env_rcpt *r)
{
	const char	*at = strrchr(r->addr, '@');

	return at != NULL ? at + 1 : "";
}

/* is_sendable - pending, and of this delivery: local ones (domain NULL),
 * or the remote ones of domain. */
static bool
is_sendable(const struct env_rcpt *r, const char *domain)
{
	if (r->state != RCPT_PENDING)
		return false;
	if (domain == NULL)
		return r->kind == RCPT_LOCAL;
	return r->kind == RCPT_REMOTE && str_ieq(rcpt_domain(r), domain);
}

static unsigned
dest_hash(const char *domain)
{
	return str_ihash(domain) % DEST_HASH;
}

/* dest_find - the in-flight counter of a destination domain, or NULL
 * when nothing is in flight to it. */
static struct qdest *
dest_find(const char *domain)
{
	struct qdest	*d;

	for (d = dests[dest_hash(domain)]; d != NULL; d = d->next)
		if (str_ieq(d->domain, domain))
			return d;
	return NULL;
}

/* dest_get - dest_find, making the counter when there is none. */
static struct qdest *
dest_get(const char *domain)
{
	unsigned	 h = dest_hash(domain);
	struct qdest	*d = dest_find(domain);

	if (d != NULL)
		return d;
	d = xcalloc(1, sizeof(*d));
	d->domain = str_lower(xstrdup(domain));
	d->next = dests[h];
	dests[h] = d;
	return d;
}

/* dest_release - one delivery to d is back; an idle counter is freed
 * (so that the table holds only busy destinations). */
static void
dest_release(struct qdest *d)
{
	struct qdest	**pp = &dests[dest_hash(d->domain)];

	if (--d->n > 0)
		return;
	while (*pp != NULL && *pp != d)
		pp = &(*pp)->next;
	if (*pp != NULL)
		*pp = d->next;
	free(d->domain);
	free(d);
}

/* ---- dispatch ---- */

/* part_out - a delivery of m went out: count it against the limits. */
static void
part_out(struct qmsg *m, const char *domain, uint64_t reqid)
{
	struct qpart	*p;

	m->inflight = true;
	m->parts++;
	if (domain == NULL) {
		inflight++;
		return;
	}
	p = xcalloc(1, sizeof(*p));
	p->reqid = reqid;
	p->dest = dest_get(domain);
	p->dest->n++;
	p->next = m->rparts;
	m->rparts = p;
	remote_inflight++;
}

/* part_done - the delivery with request id reqid of m is back: release
 * its slots.  0, or -1 if m has no such delivery out. */
static int
part_done(struct qmsg *m, uint64_t reqid)
{
	struct qpart	**pp = &m->rparts, *p;

	if (reqid == 0) {
		if (inflight == 0)
			return -1;
		inflight--;
	} else {
		while (*pp != NULL && (*pp)->reqid != reqid)
			pp = &(*pp)->next;
		if ((p = *pp) == NULL)
			return -1;
		*pp = p->next;
		dest_release(p->dest);
		remote_inflight--;
		free(p);
	}
	m->parts--;
	m->inflight = m->parts > 0;
	return 0;
}

/* send_part - one delivery: the local recipients (domain NULL, request
 * id 0) or the remote ones of one domain (a fresh request id). */
static enum queue_sched_send
send_part(struct qmsg *m, const char *domain)
{
	struct queue_sched_delivery	 d = { 0 };
	uint32_t			*idx;
	enum queue_sched_send		 rc;

	idx = xcalloc(MAX(m->env.nrcpt, 1), sizeof(*idx));
	for (size_t i = 0; i < m->env.nrcpt; i++)
		if (is_sendable(&m->env.rcpts[i], domain))
			idx[d.nrcpt++] = (uint32_t)i;
	d.id = m->id;
	d.env = &m->env;
	d.domain = domain;
	d.reqid = domain != NULL ? ++next_reqid : 0;
	d.recovered = m->recovered;
	d.rcpt = idx;
	rc = ops->deliver(ops_arg, &d);
	free(idx);
	if (rc == QUEUE_SCHED_SENT)
		part_out(m, domain, d.reqid);
	return rc;
}

/* remote_domains - the distinct domains of m's pending remote recipients
 * (pointers into the envelope), at most max. */
static size_t
remote_domains(const struct qmsg *m, const char **v, size_t max)
{
	size_t	n = 0, k;

	for (size_t i = 0; i < m->env.nrcpt && n < max; i++) {
		const struct env_rcpt *r = &m->env.rcpts[i];

		if (r->state != RCPT_PENDING || r->kind != RCPT_REMOTE)
			continue;
		for (k = 0; k < n && !str_ieq(v[k], rcpt_domain(r)); k++)
			;
		if (k == n)
			v[n++] = rcpt_domain(r);
	}
	return n;
}

/* can_start - are there slots for every part of a message now?  A message
 * waits whole rather than go out in pieces; with nothing remote in flight
 * it may exceed remote_concurrency, so that a message with more domains
 * than that still goes. */
static bool
can_start(const char **v, size_t nd, bool local)
{
	if (local && inflight >= config->local_concurrency)
		return false;
	if (nd > 0 && remote_inflight > 0 &&
	    remote_inflight + nd > config->remote_concurrency)
		return false;
	for (size_t k = 0; k < nd; k++) {
		const struct qdest *d = dest_find(v[k]);

		if (d != NULL && d->n >= config->destination_concurrency)
			return false;
	}
	return true;
}

/*
 * start_delivery - send every part of m (local first).  A part whose data
 * is missing while others are out waits for them (their results schedule
 * m again); with none out, m is moved aside and gone.  START_STOP: deliver
 * took nothing, so this round is over.
 */
static enum start
start_delivery(struct qmsg *m, const char **v, size_t nd, bool local)
{
	for (size_t k = local ? 0 : 1; k <= nd; k++) {
		switch (send_part(m, k == 0 ? NULL : v[k - 1])) {
		case QUEUE_SCHED_SENT:
			break;
		case QUEUE_SCHED_NOT_SENT:
			return START_STOP;
		case QUEUE_SCHED_NO_DATA:
			if (m->parts > 0)
				break;
			ops->corrupt(ops_arg, m->id, m->held);
			msg_unlink(m);
			return START_GONE;
		}
	}
	return START_OK;
}

/* dispatch - hand ready messages to deliver, up to the concurrency
 * limits: local_concurrency, remote_concurrency, destination_concurrency.
 * A message whose destinations are busy stays on the ready list, in its
 * place; one deliver could not take is put back and the round ends. */
static void
dispatch(void)
{
	struct qmsg	**pp = &ready_head, *m;
	const char	 *v[QUEUE_SCHED_DOMAINS_MAX];

	while ((m = *pp) != NULL) {
		bool	local = has_local_pending(m);
		size_t	nd = remote_domains(m, v, NELEM(v));

		if ((local || nd > 0) && !can_start(v, nd, local)) {
			pp = &m->rnext;
			continue;
		}
		ready_take(pp);
		if (!local && nd == 0) {
			if (!has_pending(m))
				msg_done(m);
		} else if (start_delivery(m, v, nd, local) == START_STOP) {
			if (m->parts == 0)
				ready_put(pp, m);
			break;
		}
	}
}

/* ---- results, retries, expiry ---- */

/* expire - the queue lifetime is over: every pending recipient fails
 * with 4.4.7 (RFC 3463), noted for the report. */
/* between the fields of a message line: Postfix's shape has commas */
#define SEP	(config->log_format == LOG_FORMAT_POSTFIX ? ", " : " ")

static void
expire(struct qmsg *m, struct buf *st, unsigned char *note, uint64_t now)
{
	for (size_t i = 0; i < m->env.nrcpt; i++) {
		struct env_rcpt *r = &m->env.rcpts[i];
		char		*status;

		if (r->state != RCPT_PENDING)
			continue;
		r->state = RCPT_FAILED;
		stats_add(STATS_EXPIRED);
		log_info("%s: to=<%s>%sdelay=%.0f%sdsn=4.4.7%sstatus=expired "
		    "(%s)", m->id, log_safe(r->addr), SEP,
		    (double)(now - m->env.arrival) / 1e6, SEP, SEP,
		    r->status != NULL ? log_safe(r->status) :
		    "queue lifetime exceeded");
		if (r->status != NULL)
			xasprintf(&status, "4.4.7 queue lifetime exceeded; "
			    "last error: %s", r->status);
		else
			status = xstrdup("4.4.7 queue lifetime exceeded");
		free(r->status);
		r->status = status;
		envelope_put_failed(st, i, status);
		note[i] = QUEUE_SCHED_NOTE(BOUNCE_FAILED);
	}
}

/* maybe_warn - the message is still not delivered after delay_warning:
 * its pending recipients are noted "delayed", once; 'W' records that it
 * was done, so that a restart does not warn again. */
static void
maybe_warn(struct qmsg *m, struct buf *st, unsigned char *note, uint64_t now)
{
	if (config->delay_warning == 0 || m->env.warned ||
	    now < m->env.arrival + config->delay_warning * 1000000)
		return;
	m->env.warned = true;
	envelope_put_warned(st);
	for (size_t i = 0; i < m->env.nrcpt; i++)
		if (m->env.rcpts[i].state == RCPT_PENDING)
			note[i] = QUEUE_SCHED_NOTE(BOUNCE_DELAYED);
}

/* retry_later - some recipients were deferred: the next attempt after the
 * retry delay of this attempt (the last delay repeats), or expiry.  A
 * clock set back before the arrival does not expire anything. */
static void
retry_later(struct qmsg *m, struct buf *st, unsigned char *note, uint64_t now)
{
	size_t	k;

	if (now >= m->env.arrival &&
	    now - m->env.arrival >= config->queue_lifetime * 1000000) {
		expire(m, st, note, now);
		return;
	}
	maybe_warn(m, st, note, now);
	m->env.attempts++;
	k = MIN((size_t)m->env.attempts, config->nretry) - 1;
	m->env.next_attempt = now + config->retry[k] * 1000000;
	envelope_put_schedule(st, m->env.attempts, m->env.next_attempt);
}

/* apply_result - one recipient's result, recorded and noted. */
static void
apply_result(struct qmsg *m, const struct queue_sched_result *res,
    struct buf *st, unsigned char *note)
{
	struct env_rcpt	*r;
	char		*status;

	if (res->index >= m->env.nrcpt)
		return;
	r = &m->env.rcpts[res->index];
	xasprintf(&status, "%s %s", res->dsn, res->text);
	free(r->status);
	r->status = status;
	free(r->remote_mta);
	r->remote_mta = res->remote_mta != NULL && res->remote_mta[0] !=
	    '\0' ? xstrdup(res->remote_mta) : NULL;
	if (res->outcome == QUEUE_SCHED_DELIVERED) {
		r->state = RCPT_DONE;
		envelope_put_done(st, res->index, status);
		note[res->index] = QUEUE_SCHED_NOTE(r->kind == RCPT_LOCAL ?
		    BOUNCE_DELIVERED : BOUNCE_RELAYED);
	} else if (res->outcome == QUEUE_SCHED_FAILED) {
		r->state = RCPT_FAILED;
		envelope_put_failed(st, res->index, status);
		note[res->index] = QUEUE_SCHED_NOTE(BOUNCE_FAILED);
	} else
		envelope_put_deferred(st, res->index, status);
}

/* report - a report on the noted recipients, when there are some; the
 * first one made is recorded ('Q'). */
static void
report(struct qmsg *m, const unsigned char *note, uint64_t now)
{
	struct queue_sched_report	 r = { m->id, &m->env, note, now };
	struct buf			 q;
	size_t				 i;

	for (i = 0; i < m->env.nrcpt && note[i] == 0; i++)
		;
	if (i == m->env.nrcpt || !ops->report(ops_arg, &r) || m->env.bounced)
		return;
	m->env.bounced = true;
	buf_init(&q, 0);
	envelope_put_bounced(&q);
	ops->append(ops_arg, m->id, m->held, &q);
	buf_free(&q);
}

/*
 * results - one delivery of m is back with its results.  While other
 * parts are out, they are only recorded and reported; once none is, m is
 * done, or waits for its next attempt, or expires.
 */
static void
results(struct qmsg *m, const struct queue_sched_result *res, size_t n,
    uint64_t now)
{
	unsigned char	*note = xcalloc(MAX(m->env.nrcpt, 1), 1);
	struct buf	 st;

	buf_init(&st, 0);
	for (size_t i = 0; i < n; i++)
		apply_result(m, &res[i], &st, note);
	if (m->parts == 0 && has_pending(m))
		retry_later(m, &st, note, now);
	else if (m->parts == 0)
		buf_reset(&st);		/* done: its envelope goes anyway */
	if (st.len > 0)
		ops->append(ops_arg, m->id, m->held, &st);
	report(m, note, now);
	if (m->parts == 0 && !has_pending(m))
		msg_done(m);
	else if (m->parts == 0)
		schedule(m, now);
	buf_free(&st);
	free(note);
}

/* queue_sched_delivered - see queue_sched.h. */
int
queue_sched_delivered(const char *id, uint64_t reqid,
    const struct queue_sched_result *res, size_t n, uint64_t now)
{
	struct qmsg	*m = msg_find(id);
	int		 rc = -1;

	if (m != NULL && m->inflight && part_done(m, reqid) == 0) {
		results(m, res, n, now);
		rc = 0;
	}
	dispatch();
	rearm(false);
	return rc;
}

/* ---- messages in and out, the clock ---- */

/* queue_sched_init - see queue_sched.h. */
void
queue_sched_init(const struct queue_sched_ops *o, void *arg)
{
	ops = o;
	ops_arg = arg;
}

/* queue_sched_clear - see queue_sched.h. */
void
queue_sched_clear(void)
{
	for (size_t i = 0; i < HASH_SIZE; i++)
		while (msgs[i] != NULL)
			msg_unlink(msgs[i]);
	for (size_t i = 0; i < DEST_HASH; i++)
		while (dests[i] != NULL) {
			struct qdest	*d = dests[i];

			dests[i] = d->next;
			free(d->domain);
			free(d);
		}
	free(due);
	due = NULL;
	ndue = capdue = 0;
	armed = 0;
	inflight = remote_inflight = 0;
}

/* queue_sched_count - see queue_sched.h. */
unsigned
queue_sched_count(void)
{
	return nmsgs;
}

/* queue_sched_add - see queue_sched.h.  A DMARC p=quarantine failure,
 * or a message from a listener with hold = yes (envelope 'G'), goes on
 * hold at once; "postbote queue release" lets it go. */
void
queue_sched_add(const char *id, struct envelope *env)
{
	struct qmsg	*m = msg_add(id, env, false);
	const char	*why;

	ready_push(m);
	if (m->env.quarantine) {
		if (hold_msg(m, &why) == 0)
			log_info("%s: event=quarantined reason=%s", m->id,
			    envelope_hold_name(m->env.quarantine));
		else
			log_warn("%s: event=quarantine-failed error=\"%s\"",
			    m->id, why);
	}
	dispatch();
	rearm(false);
}

/* queue_sched_load - see queue_sched.h. */
void
queue_sched_load(const char *id, struct envelope *env, bool held,
    uint64_t now)
{
	struct qmsg	*m = msg_add(id, env, held);

	m->recovered = true;
	if (!has_pending(m))
		msg_done(m);
	else if (!held)
		schedule(m, now);
	rearm(false);
}

/* queue_sched_run - see queue_sched.h.  The glue's timer may have fired
 * (or been early), so it is told again in any case. */
void
queue_sched_run(uint64_t now)
{
	while (ndue > 0 && due[0]->env.next_attempt <= now)
		ready_push(due[0]);
	dispatch();
	rearm(true);
}

/* queue_sched_lost - see queue_sched.h.  Ready again as recovered, so
 * that deliver first looks for a copy it already made. */
void
queue_sched_lost(void)
{
	for (size_t i = 0; i < HASH_SIZE; i++)
		for (struct qmsg *m = msgs[i]; m != NULL; m = m->hnext) {
			if (!m->inflight)
				continue;
			while (m->rparts != NULL) {
				struct qpart *p = m->rparts;

				m->rparts = p->next;
				dest_release(p->dest);
				free(p);
			}
			m->parts = 0;
			m->inflight = false;
			m->recovered = true;
			ready_push(m);
		}
	inflight = 0;
	remote_inflight = 0;
	rearm(false);
}

/* ---- the admin's view and actions (see queue_sched.h) ---- */

static void
entry_of(const struct qmsg *m, struct queue_sched_entry *e)
{
	e->id = m->id;
	e->env = &m->env;
	e->held = m->held;
	e->inflight = m->inflight;
}

/* queue_sched_foreach - every message, in hash order. */
void
queue_sched_foreach(queue_sched_entry_cb cb, void *arg)
{
	struct queue_sched_entry	e;

	for (size_t i = 0; i < HASH_SIZE; i++)
		for (struct qmsg *m = msgs[i]; m != NULL; m = m->hnext) {
			entry_of(m, &e);
			cb(&e, arg);
		}
}

/* queue_sched_lookup - one message by id. */
int
queue_sched_lookup(const char *id, struct queue_sched_entry *e)
{
	struct qmsg	*m = msg_find(id);

	if (m == NULL)
		return -1;
	entry_of(m, e);
	return 0;
}

/* find_idle - the message, if it exists and is not being delivered: its
 * delivery reply would otherwise find it gone or moved.  The admin is
 * told to try again, which is simpler than a deferred action. */
static struct qmsg *
find_idle(const char *id, const char **why)
{
	struct qmsg	*m = msg_find(id);

	if (m == NULL)
		*why = "no such message";
	else if (m->inflight) {
		*why = "busy: being delivered now, try again";
		m = NULL;
	}
	return m;
}

/* queue_sched_flush - deferred messages (one, or all) become ready now. */
int
queue_sched_flush(const char *id, unsigned *n, const char **why)
{
	struct qmsg	*m;

	*n = 0;
	*why = "ok";
	if (id != NULL) {
		if ((m = msg_find(id)) == NULL || m->held) {
			*why = m == NULL ? "no such message" :
			    "on hold: release it instead";
			return -1;
		}
		if (!m->inflight) {
			ready_push(m);
			(*n)++;
		}
	} else
		for (size_t i = 0; i < HASH_SIZE; i++)
			for (m = msgs[i]; m != NULL; m = m->hnext)
				if (!m->held && !m->inflight) {
					ready_push(m);
					(*n)++;
				}
	dispatch();
	rearm(false);
	return 0;
}

/* queue_sched_delete - remove a message with its files, as if delivered. */
int
queue_sched_delete(const char *id, const char **why)
{
	struct qmsg	*m = find_idle(id, why);

	if (m == NULL)
		return -1;
	ops->remove(ops_arg, m->id, m->held);
	log_info("%s: removed (deleted by admin)", m->id);
	msg_unlink(m);
	*why = "deleted";
	rearm(false);
	return 0;
}

/* hold_msg - queue/ID to hold/ID; no more attempts until released. */
static int
hold_msg(struct qmsg *m, const char **why)
{
	*why = m->held ? "already on hold" : "on hold";
	if (m->held)
		return 0;
	if (ops->hold(ops_arg, m->id) == -1) {
		*why = strerror(errno);
		return -1;
	}
	ready_drop(m);
	due_drop(m);
	m->held = true;
	return 0;
}

/* queue_sched_hold - see queue_sched.h. */
int
queue_sched_hold(const char *id, const char **why)
{
	struct qmsg	*m = find_idle(id, why);
	int		 rc;

	if (m == NULL)
		return -1;
	rc = hold_msg(m, why);
	rearm(false);
	return rc;
}

/* queue_sched_release - hold/ID back to queue/ID, ready now. */
int
queue_sched_release(const char *id, const char **why)
{
	struct qmsg	*m = find_idle(id, why);

	if (m == NULL)
		return -1;
	*why = m->held ? "released" : "not on hold";
	if (!m->held)
		return 0;
	if (ops->release(ops_arg, m->id) == -1) {
		*why = strerror(errno);
		return -1;
	}
	m->held = false;
	ready_push(m);
	dispatch();
	rearm(false);
	return 0;
}
