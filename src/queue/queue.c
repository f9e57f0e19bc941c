/*
 * queue.c - the queue process, the only writer of the spool: its glue.
 * The module's hooks and IPC dispatch; the spool files handed to smtpd
 * and their commits; and the deliveries, IPC_DELIVER encoded and
 * IPC_DELIVER_REPLY decoded here.  What goes when is the scheduler's
 * (queue_sched.c), which asks for I/O through the ops below; one libevent
 * timer stands at the earliest time it gives.  Reports are queue_dsn.c's,
 * the spool spool.c's, local submissions queue_submit.c's and the control
 * socket queue_ctl.c's.  Runs unprivileged; it re-checks every envelope
 * smtpd sends with the strict spool decoder.
 *
 * A queue that died took the answers to the commits in flight with it,
 * though some were journaled and are recovered here.  What recovery found
 * committed is kept for a while (spool_was_committed), so that smtpd can
 * ask which of its sessions' messages made it (IPC_SPOOL_STATUS) and
 * answer 250 rather than a 451 that would make the client send the
 * message twice.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/conf.h"
#include "common/dkim_keys.h"
#include "common/proc.h"
#include "lib/ipc_proto.h"
#include "lib/log.h"
#include "lib/util.h"
#include "queue/queue.h"
#include "queue/queue_ctl.h"
#include "queue/queue_dsn.h"
#include "queue/queue_http.h"
#include "queue/queue_sched.h"
#include "queue/queue_submit.h"
#include "queue/queue_tlsrpt.h"
#include "queue/spool.h"

#define HASH_SIZE	8192
#define RECOVERED_KEEP	600	/* seconds the ids recovered at start are
				 * kept for smtpd's questions */

struct incoming {			/* spool files handed to smtpd */
	struct incoming	*next;
	char		 id[QUEUE_ID_LEN + 1];
	uint64_t	 reqid;		/* smtpd's session */
};

static unsigned	 hash_id(const char *);
static struct incoming *incoming_take(const char *);
static void	 incoming_free(struct incoming *);
static void	 open_request(uint64_t);
static void	 commit_reply(uint64_t, bool, const char *);
static void	 commit_request(struct ipc_msg *);
static void	 smtpd_committed(const struct spool_commit *, void *);
static void	 drop_incomings(void);
static void	 abort_request(struct ipc_msg *);
static void	 accepted(const char *, struct envelope *);
static void	 delivery_msg(const struct queue_sched_delivery *,
		    struct ipc_deliver *);
static enum queue_sched_send send_delivery(void *,
		    const struct queue_sched_delivery *);
static void	 delivered(struct ipc_msg *);
static void	 append_records(void *, const char *, bool, const struct buf *);
static bool	 make_report(void *, const struct queue_sched_report *);
static void	 remove_files(void *, const char *, bool);
static void	 corrupt_files(void *, const char *, bool);
static int	 hold_files(void *, const char *);
static int	 release_files(void *, const char *);
static void	 arm(void *, uint64_t);
static void	 on_due(evutil_socket_t, short, void *);
static int	 load(const char *, bool, const char *, size_t);
static void	 recovered_forget(evutil_socket_t, short, void *);
static void	 status_request(struct ipc_msg *);

static const struct queue_sched_ops sched_ops = {
	.deliver = send_delivery,
	.append = append_records,
	.report = make_report,
	.remove = remove_files,
	.corrupt = corrupt_files,
	.hold = hold_files,
	.release = release_files,
	.timer = arm,
};

static struct incoming	*incomings[HASH_SIZE];
static struct event	*due_ev;	/* the scheduler's one timer */
static bool		 stopping;
static int		 control_fd = -1, submit_fd = -1, metrics_fd = -1;
static struct event	*recovered_ev;	/* forgets what recovery saw */

static unsigned
hash_id(const char *id)
{
	return str_hash(id) % HASH_SIZE;
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

/* incoming_free - a spool file smtpd will not commit: its data goes. */
static void
incoming_free(struct incoming *in)
{
	spool_discard(in->id);
	free(in);
}

/* open_request - IPC_SPOOL_OPEN: a fresh data file for smtpd's session
 * reqid (IPC_SPOOL_OPEN_REPLY: u32 ok, str id; fd: read-write).  The
 * queue keeps no descriptor: a small message comes back with its commit,
 * a big one is opened by name then. */
static void
open_request(uint64_t reqid)
{
	struct incoming		*in = xcalloc(1, sizeof(*in));
	struct ipc_spool_open_reply r = { 0, "" };
	int			 fd = spool_create(in->id);
	unsigned		 h;

	if (fd == -1) {
		log_warn("event=spool-create-error error=\"%s\"",
		    strerror(errno));
		free(in);
	} else {
		in->reqid = reqid;
		h = hash_id(in->id);
		in->next = incomings[h];
		incomings[h] = in;
		r.ok = 1;
		r.id = in->id;
	}
	PROC_SEND(PROC_SMTPD, IPC_SPOOL_OPEN_REPLY, reqid, &r, fd);
}

static void
commit_reply(uint64_t reqid, bool ok, const char *text)
{
	struct ipc_reply	r = { ok, text };

	PROC_SEND(PROC_SMTPD, IPC_SPOOL_COMMIT_REPLY, reqid, &r, -1);
}

/* commit_request - IPC_SPOOL_COMMIT.  The envelope is decoded again,
 * strictly; the commit carries its incoming record, whose session hears
 * of the end (smtpd_committed). */
static void
commit_request(struct ipc_msg *im)
{
	struct ipc_spool_commit	 q;
	const char		*id = "";
	const void		*env = NULL;
	size_t			 len = 0;
	struct incoming		*in = NULL;
	struct spool_commit	*c;
	char			 err[128];

	if (IPC_DECODE(im, &q, NULL) == 0) {
		id = q.id;
		env = q.envelope.p;
		len = q.envelope.len;
	}
	if (env == NULL || (in = incoming_take(id)) == NULL ||
	    in->reqid != im->id) {
		log_warn("event=commit-refused id=\"%s\" reason=\"unknown "
		    "spool file\"", log_safe(id));
		commit_reply(im->id, false, "queue file lost, try again");
		if (in != NULL)
			incoming_free(in);
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->op = SPOOL_OP_COMMIT;
	c->data_fd = -1;
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
		envelope_free(&c->parsed);
		buf_free(&c->env);
		free(c);
		free(in);
		return;
	}
	/* the message itself, when smtpd sent it along: only of the size
	 * the envelope says (else the file is read) */
	if (q.data.len > 0 && q.data.len == c->parsed.size &&
	    q.data.len <= IPC_SPOOL_DATA_MAX) {
		c->content = xmalloc(q.data.len);
		memcpy(c->content, q.data.p, q.data.len);
		c->content_len = q.data.len;
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
			incoming_free(in);
		}
		incomings[i] = NULL;
	}
}

static void
recovered_forget(evutil_socket_t fd, short ev, void *arg)
{
	spool_forget_recovery();
}

/*
 * status_request - IPC_SPOOL_STATUS: a session of smtpd waited on the
 * commit of id when the queue before us died.  Recovery replayed the
 * journal and read the spool before anything else ran here, so the
 * message was committed exactly when recovery saw it (spool.h); it may
 * have been delivered since, by us or even by the queue that died.
 */
static void
status_request(struct ipc_msg *im)
{
	struct ipc_spool_status		 q;
	struct ipc_spool_status_reply	 r = { 0 };

	if (IPC_DECODE(im, &q, NULL) == -1) {
		log_warn("event=ipc-error reason=\"bad spool status request\"");
		q.id = "";
	} else
		r.journaled = spool_was_committed(q.id);
	log_info("%s: event=commit-status journaled=%s", log_safe(q.id),
	    r.journaled ? "yes" : "no");
	PROC_SEND(PROC_SMTPD, IPC_SPOOL_STATUS_REPLY, im->id, &r, -1);
}

/* abort_request - IPC_SPOOL_ABORT: smtpd gives the file back. */
static void
abort_request(struct ipc_msg *im)
{
	struct ipc_id	 q;
	struct incoming	*in;

	if (IPC_DECODE(im, &q, NULL) == -1 || (in = incoming_take(q.id)) ==
	    NULL)
		return;
	incoming_free(in);
}

/* accepted - a commit is durable (spool.h): the scheduler takes it. */
static void
accepted(const char *id, struct envelope *env)
{
	/* Postfix's qmgr shape, with its commas, under log_format = postfix */
	if (config->log_format == LOG_FORMAT_POSTFIX)
		log_info("%s: from=<%s>, size=%llu, nrcpt=%zu (queue active)",
		    id, log_safe(env->sender), (unsigned long long)env->size,
		    env->nrcpt);
	else
		log_info("%s: from=<%s> size=%llu nrcpt=%zu%s%s", id,
		    log_safe(env->sender), (unsigned long long)env->size,
		    env->nrcpt, env->tls_req != ENV_TLS_DEFAULT ? " tls=" : "",
		    env->tls_req != ENV_TLS_DEFAULT ?
		    envelope_tls_name(env->tls_req) : "");
	queue_sched_add(id, env);
}

/* ---- deliveries: IPC_DELIVER out, IPC_DELIVER_REPLY in ---- */

/* delivery_msg - IPC_DELIVER (lib/ipc_proto.h) of d: the recipients
 * with their DSN parameters, what the SMTP client passes on (RFC 3461,
 * 6152, 6531), and the fields written before the message.  The
 * recipients' array is the caller's to free. */
static void
delivery_msg(const struct queue_sched_delivery *d, struct ipc_deliver *m)
{
	const struct envelope	*env = d->env;

	m->id = d->id;
	m->sender = env->sender;
	m->arrival = env->arrival;
	m->recovered = d->recovered;
	m->rcpts = xcalloc(d->nrcpt ? d->nrcpt : 1, sizeof(*m->rcpts));
	m->nrcpts = d->nrcpt;
	for (uint32_t i = 0; i < d->nrcpt; i++) {
		const struct env_rcpt	*r = &env->rcpts[d->rcpt[i]];
		struct ipc_deliver_rcpt	*o = &m->rcpts[i];

		o->index = d->rcpt[i];
		o->kind = (uint32_t)r->kind;
		o->addr = r->addr;
		o->orig = r->orig;
		o->notify = r->notify;
		o->orcpt = r->orcpt != NULL ? r->orcpt : "";
	}
	m->body = (uint32_t)env->body;
	m->smtputf8 = env->smtputf8;
	m->tls_req = (uint32_t)env->tls_req;
	m->ret = (uint32_t)env->ret;
	m->envid = env->envid != NULL ? env->envid : "";
	m->size = env->size;
	m->prepend = env->prepend != NULL ? env->prepend : "";
}

/* send_delivery - the scheduler's deliver op: one IPC_DELIVER with the
 * message, in the frame when it is small and still in memory, else as a
 * read-only descriptor; request id d->reqid. */
static enum queue_sched_send
send_delivery(void *arg, const struct queue_sched_delivery *d)
{
	struct ipc_deliver	m;
	const void		*data = NULL;
	size_t			 len = 0;
	int			 fd = -1, rc;

	if (stopping || proc_peer(PROC_DELIVER) == NULL)
		return QUEUE_SCHED_NOT_SENT;
	if (!spool_cached(d->id, &data, &len) &&
	    (fd = spool_open_data(d->id)) == -1) {
		log_warn("%s: event=data-missing error=\"%s\"", d->id,
		    strerror(errno));
		return QUEUE_SCHED_NO_DATA;
	}
	delivery_msg(d, &m);
	m.data.p = data;
	m.data.len = len;
	rc = PROC_SEND(PROC_DELIVER, IPC_DELIVER, d->reqid, &m, fd);
	free(m.rcpts);
	return rc == 0 ? QUEUE_SCHED_SENT : QUEUE_SCHED_NOT_SENT;
}

/* delivered - IPC_DELIVER_REPLY, with the request's id: each
 * recipient's result, to the scheduler. */
static void
delivered(struct ipc_msg *im)
{
	struct ipc_deliver_reply	 m;
	struct queue_sched_result	*res;
	int				 rc = -1;

	if (IPC_DECODE(im, &m, NULL) == -1) {
		log_warn("event=ipc-error reason=\"bad delivery reply\"");
		return;
	}
	res = xcalloc(m.nresults ? m.nresults : 1, sizeof(*res));
	for (size_t i = 0; i < m.nresults; i++) {
		const struct ipc_deliver_result *r = &m.results[i];

		res[i].index = r->index;
		res[i].outcome = r->result == DELIVER_OK ?
		    QUEUE_SCHED_DELIVERED : r->result == DELIVER_PERM ?
		    QUEUE_SCHED_FAILED : QUEUE_SCHED_DEFERRED;
		res[i].dsn = r->dsn;
		res[i].text = r->text;
		res[i].remote_mta = r->remote_mta;
	}
	rc = queue_sched_delivered(m.id, im->id, res, m.nresults,
	    now_usec());
	if (rc == -1)
		log_warn("event=ipc-error reason=\"delivery reply for unknown "
		    "message %s\"", log_safe(m.id));
	free(res);
	ipc_proto_free(IPC_DELIVER_REPLY, &m);
}

/* ---- the scheduler's other ops: the spool, reports, the timer ---- */

static void
append_records(void *arg, const char *id, bool held, const struct buf *b)
{
	spool_append(id, held, b);
}

static bool
make_report(void *arg, const struct queue_sched_report *r)
{
	return queue_dsn_report(r);
}

static void
remove_files(void *arg, const char *id, bool held)
{
	spool_remove(id, held);
}

static void
corrupt_files(void *arg, const char *id, bool held)
{
	spool_corrupt(held ? "hold" : "queue", id);
}

static int
hold_files(void *arg, const char *id)
{
	return spool_hold(id);
}

static int
release_files(void *arg, const char *id)
{
	return spool_release(id);
}

/*
 * arm - the timer op: one timer for the whole queue, at the earliest due
 * time (the scheduler keeps waiting messages in a heap), rather than an
 * event per message: a large deferred queue costs no timer events, and
 * the scheduler stays free of libevent.
 */
static void
arm(void *arg, uint64_t due)
{
	uint64_t	now = now_usec(), d = due > now ? due - now : 0;
	struct timeval	tv = { (time_t)(d / 1000000),
	    (suseconds_t)(d % 1000000) };

	if (due == 0)
		evtimer_del(due_ev);
	else
		evtimer_add(due_ev, &tv);
}

static void
on_due(evutil_socket_t fd, short ev, void *arg)
{
	queue_sched_run(now_usec());
}

/* ---- start-up and module hooks ---- */

/* load - one envelope found at start (spool_scan). */
static int
load(const char *id, bool held, const char *data, size_t len)
{
	struct envelope	 env = { 0 };
	char		 err[128];
	int		 r = envelope_decode(data, len, &env, err, sizeof(err));

	if (r == -2)
		return -2;
	if (r == -1 || strcmp(env.id, id) != 0) {
		log_warn("%s: event=unreadable reason=\"%s\"", id,
		    log_safe(r == -1 ? err : "id mismatch"));
		envelope_free(&env);
		return -1;
	}
	queue_sched_load(id, &env, held, now_usec());
	return 0;
}

/* queue_postfork - as root: the control sockets are ours. */
static void
queue_postfork(struct proc_inherit *inh)
{
	control_fd = inh->control_fd;
	submit_fd = inh->submit_fd;
	metrics_fd = inh->metrics_fd;
	inh->control_fd = inh->submit_fd = inh->metrics_fd = -1;
}

/* queue_configure - the start and each reload bring the [dkim] keys the
 * parent read (local submissions are signed here); keys that do not load
 * refuse it, and the old ones keep signing. */
static int
queue_configure(const struct conf *nc, const struct proc_reload *r)
{
	char	err[512];

	if (dkim_keys_load(r->dkim, r->dkimlen, err, sizeof(err)) == -1) {
		log_warn("event=reload result=failed reason=\"%s\"",
		    log_safe(err));
		proc_reload_refused(err);
		return -1;
	}
	return 0;
}

static void
queue_init(struct event_base *b)
{
	struct timeval	keep = { RECOVERED_KEEP, 0 };

	if ((due_ev = evtimer_new(b, on_due, NULL)) == NULL)
		fatalx("queue: evtimer_new failed");
	queue_sched_init(&sched_ops, NULL);
	/* The runtime put us in state_dir (common/proc.c). */
	spool_init(b, ".", accepted);
	spool_scan(load);
	if ((recovered_ev = evtimer_new(b, recovered_forget, NULL)) == NULL ||
	    evtimer_add(recovered_ev, &keep) == -1)
		fatalx("queue: cannot arm a timer");
	log_info("event=queue-loaded messages=%u", queue_sched_count());
	queue_ctl_init(b, control_fd, submit_fd);
	queue_http_init(b, metrics_fd);
	queue_tlsrpt_init(b);
}

static void
queue_peer_up(int proc)
{
	queue_sched_run(now_usec());
}

static void
queue_peer_down(int proc)
{
	if (proc == PROC_SMTPD)
		drop_incomings();
	else if (proc == PROC_LOOKUP)
		queue_submit_abort();
	else if (proc == PROC_DELIVER)
		queue_sched_lost();
}

static void
queue_msg(int proc, struct ipc_msg *m)
{
	if (m->fd != -1)
		close(m->fd);
	switch (m->type) {
	case IPC_SPOOL_OPEN:
		open_request(m->id);
		break;
	case IPC_SPOOL_COMMIT:
		commit_request(m);
		break;
	case IPC_SPOOL_ABORT:
		abort_request(m);
		break;
	case IPC_SPOOL_STATUS:
		status_request(m);
		break;
	case IPC_DELIVER_REPLY:
		delivered(m);
		break;
	case IPC_RESOLVE_REPLY:
		queue_submit_resolved(m);
		break;
	case IPC_TLSRPT:
		queue_tlsrpt_event(m);
		break;
	default:
		log_warn("event=ipc-error reason=\"unexpected %s from %s\"",
		    ipc_type_str(m->type), proc_name(proc));
	}
}

static void
queue_reload(void)
{
	log_info("event=reloaded");
	queue_tlsrpt_reload();
	queue_sched_run(now_usec());
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

/*
 * The sandbox: queue owns the spool, so it works with files (open,
 * rename, link, unlink, sync, list), serves the control and submission
 * sockets (accept, SO_PEERCRED) and runs its worker thread; it asks DNS
 * for the TLS-RPT records of the domains it reports to (queue_tlsrpt.c:
 * UDP and TCP sockets).
 */
static const char *const queue_calls[] = {
	"open", "openat", "mkdir", "mkdirat", "rename", "renameat",
	"renameat2", "link", "linkat", "unlink", "unlinkat", "getdents64",
	"fsync", "fdatasync", "syncfs", "ftruncate", "fallocate", "pread64",
	"pwrite64", "statfs", "fstatfs", "statx", "stat", "lstat", "fchmod",
	"accept", "accept4", "getsockname", "getpeername", "socket", "bind",
	"clone", "clone3", "sched_getaffinity", NULL
};
static const struct sandbox queue_sandbox = {
	.allow = queue_calls,
};

const struct proc_module queue_module = {
	.name = "queue",
	.needs = PROC_NEEDS_CONTROL | PROC_NEEDS_DKIM,
	.sandbox = &queue_sandbox,
	.postfork = queue_postfork,
	.init = queue_init,
	.peer_up = queue_peer_up,
	.peer_down = queue_peer_down,
	.msg = queue_msg,
	.configure = queue_configure,
	.reload = queue_reload,
	.shutdown = queue_shutdown,
};
