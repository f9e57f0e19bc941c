/*
 * queue.c - the queue process: the only writer of the spool.  It hands
 * smtpd new spool files, commits their envelopes durably in batches
 * (spool.c), schedules deliveries to the deliver process with
 * retries and expiry, and records the results.  From the results it
 * makes the delivery status notifications (bounce.c): bounces, delay
 * warnings and requested success reports, committed as new messages from
 * the null sender.  It also takes local submissions (sendmail) from the
 * control connections.  Runs unprivileged; it re-checks every envelope
 * smtpd sends with the strict spool decoder.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "mail/bounce.h"
#include "common/conf.h"
#include "lib/log.h"
#include "common/proc.h"
#include "queue/queue.h"
#include "queue/queue_ctl.h"
#include "queue/queue_submit.h"
#include "queue/spool.h"
#include "smtpd/smtp_check.h"
#include "mail/smtp_parse.h"
#include "lib/util.h"

#define HASH_SIZE	8192
#define DEST_HASH	256
#define DOMAINS_MAX	64	/* remote domains dispatched per message turn */

struct qdest {				/* remote deliveries in flight, by domain */
	struct qdest	*next;
	char		*domain;	/* lower case */
	unsigned	 n;
};

struct qpart {				/* one remote IPC_DELIVER in flight */
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
	bool		 deleted;	/* deleted while in flight */
	bool		 recovered;	/* loaded at start: maybe delivered */
	struct event	*timer;
	unsigned	 parts;		/* deliveries in flight (local + remote) */
	struct qpart	*rparts;	/* the remote ones */
};

struct incoming {			/* spool files handed to smtpd */
	struct incoming	*next;
	char		 id[QUEUE_ID_LEN + 1];
	uint64_t	 reqid;
	int		 fd;		/* our own read-only descriptor */
};

static struct qmsg	*msgs[HASH_SIZE];
static struct incoming	*incomings[HASH_SIZE];
static struct qmsg	*ready_head, **ready_tail = &ready_head;
static unsigned		 inflight, nmsgs;
static unsigned		 remote_inflight;
static struct qdest	*dests[DEST_HASH];
static uint64_t		 next_reqid;
static struct event_base *base;
static bool		 stopping;
static int		 control_fd = -1, submit_fd = -1;

static void	 dispatch(void);
static void	 make_report(struct qmsg *, const unsigned char *);
static bool	 wants(const struct env_rcpt *, unsigned);
static void	 make_ready(struct qmsg *);
static void	 smtpd_committed(const struct spool_commit *, void *);

/* A recipient's mark in a batch's note array: 0 = no DSN, else this. */
#define NOTE(action)	((unsigned char)((action) + 1))

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
		*pp = m->rnext;
	if (ready_head == NULL)
		ready_tail = &ready_head;
	else if (*pp == NULL)
		ready_tail = pp;
	m->ready = false;
	m->rnext = NULL;
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
	if (m->timer != NULL)
		event_free(m->timer);
	envelope_free(&m->env);
	free(m);
	nmsgs--;
}

static void
on_timer(evutil_socket_t fd, short ev, void *arg)
{
	make_ready(arg);
	dispatch();
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
	m->timer = evtimer_new(base, on_timer, m);
	m->hnext = msgs[h];
	msgs[h] = m;
	nmsgs++;
	return m;
}

static void
make_ready(struct qmsg *m)
{
	if (m->ready || m->inflight || m->held)
		return;
	evtimer_del(m->timer);
	m->ready = true;
	m->rnext = NULL;
	*ready_tail = m;
	ready_tail = &m->rnext;
}

static void
schedule(struct qmsg *m)
{
	uint64_t	now = now_usec();

	if (m->env.next_attempt <= now)
		make_ready(m);
	else {
		uint64_t	d = m->env.next_attempt - now;
		struct timeval	tv = { (time_t)(d / 1000000),
		    (suseconds_t)(d % 1000000) };

		evtimer_add(m->timer, &tv);
	}
}

/* ---- spool files and commits for smtpd ---- */

static struct incoming *
incoming_take(const char *id)
{
	struct incoming	**pp = &incomings[hash_id(id)], *in;

	while (*pp != NULL && strcmp((*pp)->id, id) != 0)
		pp = &(*pp)->next;
	if ((in = *pp) != NULL)
		*pp = in->next;
	return in;
}

static void
spool_open(uint64_t reqid)
{
	struct incoming	*in = xcalloc(1, sizeof(*in));
	struct buf	 b;
	int		 fd = spool_create(in->id);
	unsigned	 h;

	buf_init(&b, 0);
	/* Our own descriptor, to read the data back at commit. */
	if (fd != -1 && (in->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) == -1) {
		close(fd);
		spool_discard(in->id);
		fd = -1;
	}
	if (fd == -1) {
		log_warn("event=spool-create-error error=\"%s\"",
		    strerror(errno));
		free(in);
		ipc_put_u32(&b, 0);
		ipc_put_str(&b, "");
	} else {
		in->reqid = reqid;
		h = hash_id(in->id);
		in->next = incomings[h];
		incomings[h] = in;
		ipc_put_u32(&b, 1);
		ipc_put_str(&b, in->id);
	}
	proc_send(PROC_SMTPD, IPC_SPOOL_OPEN_REPLY, reqid, &b, fd);
	buf_free(&b);
}

static void
commit_reply(uint64_t reqid, bool ok, const char *text)
{
	struct buf	b;

	buf_init(&b, 0);
	ipc_put_u32(&b, ok);
	ipc_put_str(&b, text);
	proc_send(PROC_SMTPD, IPC_SPOOL_COMMIT_REPLY, reqid, &b, -1);
	buf_free(&b);
}

static void
commit_request(struct ipc_msg *im)
{
	const char		*id = ipc_get_str(im);
	size_t			 len;
	const void		*env = ipc_get_bytes(im, &len);
	struct incoming		*in = NULL;
	struct spool_commit	*c;
	char			 err[128];

	if (!ipc_msg_ok(im) || (in = incoming_take(id)) == NULL ||
	    in->reqid != im->id) {
		log_warn("event=commit-refused id=\"%s\" reason=\"unknown "
		    "spool file\"", log_safe(id));
		commit_reply(im->id, false, "queue file lost, try again");
		if (in != NULL) {
			close(in->fd);
			free(in);
			spool_discard(id);
		}
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->op = SPOOL_OP_COMMIT;
	c->data_fd = in->fd;
	in->fd = -1;
	c->done = smtpd_committed;
	c->done_arg = in;
	str_copy(c->id, id, sizeof(c->id));
	buf_init(&c->env, 0);
	buf_append(&c->env, env, len);
	if (envelope_decode(env, len, &c->parsed, err, sizeof(err)) < 0 ||
	    strcmp(c->parsed.id, id) != 0) {
		log_warn("%s: event=commit-refused reason=\"bad envelope: %s\"",
		    id, log_safe(err));
		commit_reply(im->id, false, "bad envelope");
		spool_discard(id);
		close(c->data_fd);
		envelope_free(&c->parsed);
		buf_free(&c->env);
		free(c);
		free(in);
		return;
	}
	spool_commit(c);
}

/* smtpd_committed - the end of an smtpd commit: answer its session. */
static void
smtpd_committed(const struct spool_commit *c, void *arg)
{
	struct incoming	*in = arg;
	bool		 ok = c->error == 0;

	commit_reply(in->reqid, ok, ok ? "" : "queue file write error");
	free(in);
}

/* drop_incomings - smtpd went away: the spool files it had are void. */
static void
drop_incomings(void)
{
	for (size_t i = 0; i < HASH_SIZE; i++) {
		struct incoming	*in, *next;

		for (in = incomings[i]; in != NULL; in = next) {
			next = in->next;
			close(in->fd);
			spool_discard(in->id);
			free(in);
		}
		incomings[i] = NULL;
	}
}

static void
spool_abort_request(struct ipc_msg *im)
{
	const char	*id = ipc_get_str(im);
	struct incoming	*in;

	if (!ipc_msg_ok(im) || (in = incoming_take(id)) == NULL)
		return;
	close(in->fd);
	free(in);
	spool_discard(id);
}

/* quarantine - a DMARC p=quarantine failure (envelope 'G') goes on hold
 * at once; "postbote queue release ID" lets it go. */
static void
quarantine(struct qmsg *m)
{
	const char	*why;

	if (queue_hold(m->id, &why) == 0)
		log_info("%s: event=quarantined reason=dmarc", m->id);
	else
		log_warn("%s: event=quarantine-failed error=\"%s\"", m->id,
		    why);
}

/* accepted - a commit is durable (its requester has been answered, see
 * spool.h): schedule its delivery. */
static void
accepted(const char *id, struct envelope *env)
{
	struct qmsg *m;

	log_info("%s: from=<%s> size=%llu nrcpt=%zu", id,
	    log_safe(env->sender), (unsigned long long)env->size,
	    env->nrcpt);
	m = msg_add(id, env, false);
	make_ready(m);
	if (m->env.quarantine)
		quarantine(m);
	dispatch();
}

/* ---- delivery ---- */

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

static void
msg_done(struct qmsg *m)
{
	spool_remove(m->id, m->held);
	log_info("%s: removed", m->id);
	msg_unlink(m);
}

/* put_dsn_fields - IPC_DELIVER's appended part: what the SMTP client
 * passes on (RFC 3461, 6152, 6531). */
static void
put_dsn_fields(struct buf *b, const struct qmsg *m, const char *domain)
{
	ipc_put_u32(b, (uint32_t)m->env.body);
	ipc_put_u32(b, m->env.smtputf8);
	ipc_put_u32(b, (uint32_t)m->env.ret);
	ipc_put_str(b, m->env.envid);
	ipc_put_u64(b, m->env.size);
	for (size_t i = 0; i < m->env.nrcpt; i++) {
		const struct env_rcpt *r = &m->env.rcpts[i];

		if (!is_sendable(r, domain))
			continue;
		ipc_put_u32(b, r->notify);
		ipc_put_str(b, r->orcpt);
	}
}

/* send_delivery - one IPC_DELIVER: the local recipients (domain NULL,
 * request id 0) or the remote ones of one domain (a fresh request id,
 * remembered with the domain's counter).  0, or -1 if not sent; -2
 * when the data file is missing and m is gone. */
static int
send_delivery(struct qmsg *m, const char *domain)
{
	struct buf	 b;
	int		 fd = spool_open_data(m->id);
	uint32_t	 n = 0;
	uint64_t	 reqid = domain != NULL ? ++next_reqid : 0;

	if (fd == -1) {
		log_warn("%s: event=data-missing error=\"%s\"", m->id,
		    strerror(errno));
		if (m->parts > 0)	/* other parts still out: later */
			return -1;
		spool_corrupt(m->held ? "hold" : "queue", m->id);
		msg_unlink(m);
		return -2;
	}
	for (size_t i = 0; i < m->env.nrcpt; i++)
		if (is_sendable(&m->env.rcpts[i], domain))
			n++;
	buf_init(&b, 0);
	ipc_put_str(&b, m->id);
	ipc_put_str(&b, m->env.sender);
	ipc_put_u64(&b, m->env.arrival);
	ipc_put_u32(&b, m->recovered);
	ipc_put_u32(&b, n);
	for (size_t i = 0; i < m->env.nrcpt; i++) {
		const struct env_rcpt *r = &m->env.rcpts[i];

		if (!is_sendable(r, domain))
			continue;
		ipc_put_u32(&b, (uint32_t)i);
		ipc_put_u32(&b, (uint32_t)r->kind);
		ipc_put_str(&b, r->addr);
		ipc_put_str(&b, r->orig);
	}
	put_dsn_fields(&b, m, domain);
	ipc_put_str(&b, m->env.prepend != NULL ? m->env.prepend : "");
	if (proc_send(PROC_DELIVER, IPC_DELIVER, reqid, &b, fd) != 0) {
		buf_free(&b);
		return -1;
	}
	buf_free(&b);
	m->inflight = true;
	m->parts++;
	if (domain == NULL)
		inflight++;
	else {
		struct qpart	*p = xcalloc(1, sizeof(*p));

		p->reqid = reqid;
		p->dest = dest_get(domain);
		p->dest->n++;
		p->next = m->rparts;
		m->rparts = p;
		remote_inflight++;
	}
	return 0;
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

/* can_start - are there slots for every part of m now?  A message waits
 * whole rather than go out in pieces; with nothing remote in flight it
 * may exceed remote_concurrency, so that a message with more domains
 * than that still goes. */
static bool
can_start(const struct qmsg *m, const char **v, size_t nd, bool local)
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

/* start_delivery - send every part of m; what could not be sent makes
 * the message ready again once the others are back. */
static void
start_delivery(struct qmsg *m, const char **v, size_t nd, bool local)
{
	int	rc = 0;

	if (local)
		rc = send_delivery(m, NULL);
	for (size_t k = 0; k < nd && rc != -2; k++) {
		int r = send_delivery(m, v[k]);

		if (r != 0)
			rc = r;
	}
	if (rc == -1 && m->parts == 0)
		make_ready(m);
}

/* dispatch - hand ready messages to deliver, up to the concurrency
 * limits: local_concurrency, remote_concurrency, destination_concurrency.
 * A message whose destinations are busy stays on the ready list. */
static void
dispatch(void)
{
	struct qmsg	**pp = &ready_head, *m;
	const char	 *v[DOMAINS_MAX];

	while (!stopping && (m = *pp) != NULL && proc_peer(PROC_DELIVER)) {
		bool	local = has_local_pending(m);
		size_t	nd = remote_domains(m, v, NELEM(v));

		if ((local || nd > 0) && !can_start(m, v, nd, local)) {
			pp = &m->rnext;
			continue;
		}
		*pp = m->rnext;
		if (*pp == NULL)
			ready_tail = pp;
		m->ready = false;
		m->rnext = NULL;
		if (local || nd > 0)
			start_delivery(m, v, nd, local);
		else if (!has_pending(m))
			msg_done(m);
	}
}

/* expire - the queue lifetime is over: every pending recipient fails
 * with 4.4.7 (RFC 3463), noted for the bounce when it wants failures. */
static void
expire(struct qmsg *m, struct buf *st, unsigned char *note)
{
	for (size_t i = 0; i < m->env.nrcpt; i++) {
		struct env_rcpt *r = &m->env.rcpts[i];
		char		*status;

		if (r->state != RCPT_PENDING)
			continue;
		r->state = RCPT_FAILED;
		log_info("%s: to=<%s> delay=%.0f dsn=4.4.7 status=expired "
		    "(%s)", m->id, log_safe(r->addr),
		    (double)(now_usec() - m->env.arrival) / 1e6,
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
		if (wants(r, SMTP_NOTIFY_FAILURE))
			note[i] = NOTE(BOUNCE_FAILED);
	}
}

/* delay_due - when the delay warning of m is due (µs), 0 if never. */
static uint64_t
delay_due(const struct qmsg *m)
{
	if (config->delay_warning == 0 || m->env.warned)
		return 0;
	return m->env.arrival + config->delay_warning * 1000000;
}

/* maybe_warn - the message is still not delivered after delay_warning:
 * one "delayed" DSN, recorded ('W') so that it is sent once. */
static void
maybe_warn(struct qmsg *m, struct buf *st, unsigned char *note)
{
	uint64_t	due = delay_due(m);

	if (due == 0 || now_usec() < due)
		return;
	m->env.warned = true;
	envelope_put_warned(st);
	for (size_t i = 0; i < m->env.nrcpt; i++)
		if (m->env.rcpts[i].state == RCPT_PENDING &&
		    wants(&m->env.rcpts[i], SMTP_NOTIFY_DELAY))
			note[i] = NOTE(BOUNCE_DELAYED);
}

/* retry_later - some recipients were deferred: next attempt or expiry. */
static void
retry_later(struct qmsg *m, struct buf *st, unsigned char *note)
{
	uint64_t	now = now_usec(), delay;
	size_t		k;

	if (now - m->env.arrival >= config->queue_lifetime * 1000000) {
		expire(m, st, note);
		return;
	}
	maybe_warn(m, st, note);
	m->env.attempts++;
	k = MIN((size_t)m->env.attempts, config->nretry) - 1;
	delay = config->retry[k] * 1000000;
	m->env.next_attempt = now + delay;
	envelope_put_schedule(st, m->env.attempts, m->env.next_attempt);
}

/* apply_result - one recipient's result; noted for a DSN when its
 * NOTIFY asks for one. */
static void
apply_result(struct qmsg *m, struct ipc_msg *im, struct buf *st,
    unsigned char *note)
{
	uint32_t	idx = ipc_get_u32(im), res = ipc_get_u32(im);
	const char	*dsn = ipc_get_str(im), *text = ipc_get_str(im);
	char		*status;
	struct env_rcpt	*r;

	if (im->bad || idx >= m->env.nrcpt)
		return;
	r = &m->env.rcpts[idx];
	xasprintf(&status, "%s %s", dsn, text);
	free(r->status);
	r->status = status;
	if (res == DELIVER_OK) {
		r->state = RCPT_DONE;
		envelope_put_done(st, idx, status);
		if (wants(r, SMTP_NOTIFY_SUCCESS))
			note[idx] = NOTE(r->kind == RCPT_LOCAL ?
			    BOUNCE_DELIVERED : BOUNCE_RELAYED);
	} else if (res == DELIVER_PERM) {
		r->state = RCPT_FAILED;
		envelope_put_failed(st, idx, status);
		if (wants(r, SMTP_NOTIFY_FAILURE))
			note[idx] = NOTE(BOUNCE_FAILED);
	} else
		envelope_put_deferred(st, idx, status);
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

static void
delivered(struct ipc_msg *im)
{
	const char	*id = ipc_get_str(im);
	uint32_t	 n = ipc_get_u32(im);
	struct qmsg	*m = msg_find(id);
	unsigned char	*note;
	struct buf	 st;

	if (im->bad || m == NULL || !m->inflight || part_done(m, im->id)) {
		log_warn("event=ipc-error reason=\"delivery reply for unknown "
		    "message %s\"", log_safe(id));
		return;
	}
	buf_init(&st, 0);
	note = xcalloc(m->env.nrcpt, 1);
	for (uint32_t i = 0; i < n && !im->bad; i++)
		apply_result(m, im, &st, note);
	if (m->parts > 0) {		/* other destinations still out */
		spool_append(m->id, m->held, &st);
		buf_free(&st);
		make_report(m, note);
		free(note);
		return;
	}
	if (m->deleted || !has_pending(m)) {
		if (!m->deleted)
			make_report(m, note);
		free(note);
		buf_free(&st);
		msg_done(m);
		return;
	}
	retry_later(m, &st, note);
	spool_append(m->id, m->held, &st);
	buf_free(&st);
	make_report(m, note);
	free(note);
	if (!has_pending(m))
		msg_done(m);
	else
		schedule(m);
}

/* ---- notifications: bounces, delay warnings, success reports ---- */

/*
 * wants - does r ask for this kind of DSN (RFC 3461 4.1)?  Without a
 * NOTIFY: failures, and delay warnings (when delay_warning is set).
 */
static bool
wants(const struct env_rcpt *r, unsigned what)
{
	if (r->notify & SMTP_NOTIFY_NEVER)
		return false;
	if (r->notify == 0)
		return what == SMTP_NOTIFY_FAILURE || what == SMTP_NOTIFY_DELAY;
	return (r->notify & what) != 0;
}

/* read_original - the start of m's message for the report: the whole of
 * it up to BOUNCE_FULL_MAX, else enough for its headers (and *ret becomes
 * headers only).  A small read on the loop, from the page cache. */
static void
read_original(const struct qmsg *m, struct buf *b, enum bounce_ret *ret)
{
	size_t	want = m->env.size <= BOUNCE_FULL_MAX ? (size_t)m->env.size :
	    64 * 1024;
	int	fd = spool_open_data(m->id);
	ssize_t	r = 0;

	if (m->env.size > BOUNCE_FULL_MAX)
		*ret = BOUNCE_RET_HDRS;
	if (fd == -1 || buf_reserve(b, want) == -1) {
		if (fd != -1)
			close(fd);
		return;
	}
	while (b->len < want && (r = pread(fd, b->data + b->len,
	    want - b->len, (off_t)b->len)) > 0)
		b->len += (size_t)r;
	close(fd);
}

/* report_envelope - the envelope of a DSN: from <>, to the original
 * sender, local when the sender's domain is one of ours (a recipient
 * delimiter tag is cut off there, as smtpd's lookup would do). */
static void
report_envelope(const struct qmsg *m, struct envelope *e)
{
	struct env_rcpt	*r;
	const char	*at = strrchr(m->env.sender, '@');
	char		*tag;

	e->arrival = now_usec();
	e->sender = xstrdup("");
	e->client = xstrdup("local");
	e->nrcpt = 1;
	e->rcpts = r = xcalloc(1, sizeof(*r));
	r->orig = xstrdup(m->env.sender);
	r->addr = xstrdup(m->env.sender);
	/* No NOTIFY=NEVER: its failure must reach make_report, which
	 * logs the drop (the sender <> is what stops the loop). */
	r->kind = at != NULL && conf_is_local_domain(config, at + 1) ?
	    RCPT_LOCAL : RCPT_REMOTE;
	if (r->kind == RCPT_LOCAL && config->recipient_delimiter != '\0' &&
	    (tag = memchr(r->addr, config->recipient_delimiter,
	    (size_t)(at - m->env.sender))) != NULL && tag != r->addr)
		memmove(tag, r->addr + (at - m->env.sender),
		    strlen(at) + 1);
}

/* fill_report - the report's recipients, from note; returns how many. */
static size_t
fill_report(const struct qmsg *m, const unsigned char *note,
    struct bounce_rcpt *br)
{
	size_t	n = 0;

	for (size_t i = 0; i < m->env.nrcpt; i++) {
		const struct env_rcpt *r = &m->env.rcpts[i];

		if (note[i] == 0)
			continue;
		br[n].addr = r->addr;
		br[n].orcpt = r->orcpt;
		br[n].action = (enum bounce_action)(note[i] - 1);
		br[n].status = r->status;
		br[n].last_attempt = br[n].action == BOUNCE_DELIVERED ||
		    br[n].action == BOUNCE_RELAYED ? 0 : now_usec();
		n++;
	}
	return n;
}

/* inject_report - commit the built report as a new message. */
static void
inject_report(struct qmsg *m, const struct buf *text, enum bounce_action kind)
{
	struct spool_commit	*c = xcalloc(1, sizeof(*c));

	report_envelope(m, &c->parsed);
	if (spool_inject(c, text->data, text->len) == -1) {
		log_warn("%s: event=bounce-error error=\"%s\"", m->id,
		    strerror(errno));
		envelope_free(&c->parsed);
		free(c);
		return;
	}
	log_info("%s: sender %s notification: %s", m->id,
	    kind == BOUNCE_FAILED ? "non-delivery" : kind == BOUNCE_DELAYED ?
	    "delay" : "delivery status", c->id);
}

/*
 * make_report - one DSN for the recipients noted in this batch of
 * results (note[i] = NOTE(action)), to the envelope sender.  Never to
 * the null sender: a report that cannot be delivered is dropped here,
 * which is what stops bounce loops.
 */
static void
make_report(struct qmsg *m, const unsigned char *note)
{
	struct bounce_rcpt	*br = xcalloc(m->env.nrcpt, sizeof(*br));
	struct bounce_msg	 bm = { 0 };
	struct buf		 orig, text;
	char			*rid;
	size_t			 n = fill_report(m, note, br), i;
	enum bounce_action	 kind = BOUNCE_DELIVERED;

	for (i = 0; i < n && kind != BOUNCE_FAILED; i++)
		if (br[i].action == BOUNCE_FAILED ||
		    br[i].action == BOUNCE_DELAYED)
			kind = br[i].action;
	if (n == 0 || m->env.sender[0] == '\0') {
		if (n > 0 && kind == BOUNCE_FAILED)
			log_info("%s: event=bounce-dropped reason=\"the sender "
			    "is <>: no notification about a notification\"",
			    m->id);
		free(br);
		return;
	}
	buf_init(&orig, 0);
	buf_init(&text, 0);
	xasprintf(&rid, "%s.%llX", m->id, (unsigned long long)now_usec());
	bm.hostname = config->hostname;
	bm.sender = m->env.sender;
	bm.envid = m->env.envid;
	bm.bounce_id = rid;
	bm.arrival = m->env.arrival;
	bm.now = now_usec();
	bm.retry_until = m->env.arrival + config->queue_lifetime * 1000000;
	bm.ret = m->env.ret == SMTP_RET_HDRS ? BOUNCE_RET_HDRS :
	    m->env.ret == SMTP_RET_FULL ? BOUNCE_RET_FULL : BOUNCE_RET_DEFAULT;
	read_original(m, &orig, &bm.ret);
	bm.orig = orig.data != NULL ? orig.data : "";
	bm.orig_len = orig.len;
	bm.rcpts = br;
	bm.nrcpt = n;
	if (bounce_build(&bm, &text) == 0) {
		inject_report(m, &text, kind);
		if (!m->env.bounced) {
			struct buf	q;

			m->env.bounced = true;
			buf_init(&q, 0);
			envelope_put_bounced(&q);
			spool_append(m->id, m->held, &q);
			buf_free(&q);
		}
	}
	free(rid);
	buf_free(&orig);
	buf_free(&text);
	free(br);
}

/* ---- the admin's view and actions, for queue_ctl.c (see queue.h) ---- */

static void
entry_of(const struct qmsg *m, struct queue_entry *e)
{
	e->id = m->id;
	e->env = &m->env;
	e->held = m->held;
	e->inflight = m->inflight;
}

/* queue_foreach - every message, in hash order. */
void
queue_foreach(queue_entry_cb cb, void *arg)
{
	struct queue_entry	e;

	for (size_t i = 0; i < HASH_SIZE; i++)
		for (struct qmsg *m = msgs[i]; m != NULL; m = m->hnext) {
			entry_of(m, &e);
			cb(&e, arg);
		}
}

/* queue_lookup - one message by id. */
int
queue_lookup(const char *id, struct queue_entry *e)
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

/* queue_flush - deferred messages (one, or all) become ready now. */
int
queue_flush(const char *id, unsigned *n, const char **why)
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
			make_ready(m);
			(*n)++;
		}
	} else
		for (size_t i = 0; i < HASH_SIZE; i++)
			for (m = msgs[i]; m != NULL; m = m->hnext)
				if (!m->held && !m->inflight) {
					make_ready(m);
					(*n)++;
				}
	dispatch();
	return 0;
}

/* queue_delete - remove a message with its files, as if delivered. */
int
queue_delete(const char *id, const char **why)
{
	struct qmsg	*m = find_idle(id, why);

	if (m == NULL)
		return -1;
	spool_remove(m->id, m->held);
	log_info("%s: removed (deleted by admin)", m->id);
	msg_unlink(m);
	*why = "deleted";
	return 0;
}

/* queue_hold - queue/ID to hold/ID; no more attempts until released. */
int
queue_hold(const char *id, const char **why)
{
	struct qmsg	*m = find_idle(id, why);

	if (m == NULL)
		return -1;
	*why = m->held ? "already on hold" : "on hold";
	if (m->held)
		return 0;
	if (spool_hold(m->id) == -1) {
		*why = strerror(errno);
		return -1;
	}
	ready_drop(m);
	evtimer_del(m->timer);
	m->held = true;
	return 0;
}

/* queue_release - hold/ID back to queue/ID, ready now. */
int
queue_release(const char *id, const char **why)
{
	struct qmsg	*m = find_idle(id, why);

	if (m == NULL)
		return -1;
	*why = m->held ? "released" : "not on hold";
	if (!m->held)
		return 0;
	if (spool_release(m->id) == -1) {
		*why = strerror(errno);
		return -1;
	}
	m->held = false;
	make_ready(m);
	dispatch();
	return 0;
}

/* ---- start-up and module glue ---- */

static int
load(const char *id, bool held, const char *data, size_t len)
{
	struct envelope	 env = { 0 };
	char		 err[128];
	struct qmsg	*m;

	int		 r = envelope_decode(data, len, &env, err, sizeof(err));

	if (r == -2)
		return -2;
	if (r == -1 || strcmp(env.id, id) != 0) {
		log_warn("%s: event=unreadable reason=\"%s\"", id,
		    log_safe(r == -1 ? err : "id mismatch"));
		envelope_free(&env);
		return -1;
	}
	m = msg_add(id, &env, held);
	m->recovered = true;
	if (!has_pending(m)) {
		msg_done(m);
		return 0;
	}
	if (!held)
		schedule(m);
	return 0;
}

/* queue_postfork - as root: the control sockets are ours, and the DKIM
 * keys (local submissions are signed here) may be root's only. */
static void
queue_postfork(struct proc_inherit *inh)
{
	control_fd = inh->control_fd;
	submit_fd = inh->submit_fd;
	inh->control_fd = inh->submit_fd = -1;
	smtp_check_load_keys();
}

static void
queue_init(struct event_base *b)
{
	base = b;
	spool_init(b, config->state_dir, accepted);
	spool_scan(load);
	log_info("event=queue-loaded messages=%u", nmsgs);
	queue_ctl_init(b, control_fd, submit_fd);
}

static void
queue_peer_up(int proc)
{
	dispatch();
}

static void
queue_peer_down(int proc)
{
	if (proc == PROC_SMTPD) {
		drop_incomings();
		return;
	}
	if (proc == PROC_LOOKUP) {
		queue_submit_abort();
		return;
	}
	if (proc != PROC_DELIVER)
		return;
	/* Deliveries in flight are unknown: try them again, as recovered
	 * messages, so that deliver first looks for a copy it already made. */
	for (size_t i = 0; i < HASH_SIZE; i++)
		for (struct qmsg *m = msgs[i]; m != NULL; m = m->hnext)
			if (m->inflight) {
				while (m->rparts != NULL) {
					struct qpart *p = m->rparts;

					m->rparts = p->next;
					dest_release(p->dest);
					free(p);
				}
				m->parts = 0;
				m->inflight = false;
				m->recovered = true;
				make_ready(m);
			}
	inflight = 0;
	remote_inflight = 0;
}

static void
queue_msg(int proc, struct ipc_msg *m)
{
	if (m->fd != -1)
		close(m->fd);
	switch (m->type) {
	case IPC_SPOOL_OPEN:
		spool_open(m->id);
		break;
	case IPC_SPOOL_COMMIT:
		commit_request(m);
		break;
	case IPC_SPOOL_ABORT:
		spool_abort_request(m);
		break;
	case IPC_DELIVER_REPLY:
		delivered(m);
		dispatch();
		break;
	case IPC_RESOLVE_REPLY:
		queue_submit_resolved(m);
		break;
	default:
		log_warn("event=ipc-error reason=\"unexpected %s from %s\"",
		    ipc_type_str(m->type), proc_name(proc));
	}
}

static void
queue_reload(void)
{
	smtp_check_load_keys();
	log_info("event=reloaded");
	dispatch();
}

static void
queue_shutdown(void)
{
	/* Commits in the worker finish before the loop ends: the loop is
	 * left on the next turn, and a commit that did not reply was not
	 * acknowledged, so nothing acknowledged is lost. */
	stopping = true;
	proc_exit();
}

const struct proc_module queue_module = {
	.name = "queue",
	.needs = PROC_NEEDS_CONTROL,
	.postfork = queue_postfork,
	.init = queue_init,
	.peer_up = queue_peer_up,
	.peer_down = queue_peer_down,
	.msg = queue_msg,
	.reload = queue_reload,
	.shutdown = queue_shutdown,
};
