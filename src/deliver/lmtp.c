/*
 * lmtp.c - the LMTP client of the deliver process (RFC 2033, with RFC
 * 2920 PIPELINING, 6152 8BITMIME, 6531 SMTPUTF8, 2034 enhanced codes and
 * 3461 DSN where the server offers them), a courier on top of
 * deliver_job.c for the local recipients whose domain is delivered by
 * an LMTP server (deliver = lmtp:..., conf.c).  One job is one
 * transaction with one server; after the final dot the server answers
 * once per accepted recipient (RFC 2033 4.2), and each recipient keeps
 * its own reply: 2xx delivered, 4xx retried, 5xx bounced.
 *
 * Each server has at most lmtp_concurrency connections; a job that finds
 * none free waits in the server's queue.  A connection is kept for
 * smtp_idle_time after a transaction and reused.  A server that cannot
 * be reached, closes the connection or stays silent past the timeout
 * defers every recipient without a final reply (4.4.2): nothing is lost;
 * queue retries them.
 *
 * Trust: the server is the admin's, but its replies are still parsed by
 * the bounded parser (smtp_reply.c) and reach logs and reports only
 * through log_safe() and length-capped texts.
 */
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "common/conf.h"
#include "deliver/deliver_job.h"
#include "deliver/lmtp.h"
#include "lib/log.h"
#include "lib/util.h"
#include "mail/smtp_parse.h"
#include "mail/smtp_reply.h"

#define LINE_MAX_LEN	2048
#define CHUNK		(64 * 1024)
#define OUT_HIGH	(256 * 1024)	/* body bytes queued ahead */

/* Timeouts, seconds: RFC 5321 4.5.3.2's, which RFC 2033 keeps; capped
 * by smtp_client_timeout. */
#define T_CONNECT	30
#define T_GREETING	300
#define T_CMD		300
#define T_BLOCK		180
#define T_DOT		600
#define T_QUIT		10

enum lstate { L_CONNECT, L_GREETING, L_LHLO, L_TXN, L_BODY, L_DOT, L_RSET,
	L_IDLE, L_QUIT };

/* Where a recipient stands in the transaction. */
enum lrstate { LR_NONE = 0, LR_ACCEPTED, LR_FINAL };

struct ljob;

/* One LMTP server, by its target ("lmtp:unix:/run/dovecot/lmtp"). */
struct lserver {
	struct lserver	*next;
	char		*target;
	enum conf_deliver_kind kind;
	char		*host;		/* socket path or IP address */
	uint16_t	 port;
	unsigned	 nconns;	/* open, busy or idle */
	struct ljob	*waiting, **wtail;	/* jobs without a connection */
};

struct lconn {
	struct lconn		*next;		/* all connections */
	struct lserver		*s;
	struct bufferevent	*bev;
	enum lstate		 state;
	unsigned		 caps;
	bool			 reused, got_reply;
	int			 err;		/* connect's errno */
	struct ljob		*job;		/* NULL while idle */
	struct event		*idle;
	char			 name[DELIVER_JOB_MTA_MAX];	/* from the
						 * greeting, for Remote-MTA */
	struct smtp_reply	 rp;
};

struct ljob {
	struct ljob		*next;		/* in its server's queue */
	struct deliver_job	*j;
	struct lserver		*s;
	struct lconn		*c;
	unsigned char		*rs;		/* enum lrstate, j->n */
	size_t			 sent, answered, accepted, finals;
	bool			 mail_failed, retried;
	off_t			 off;
	bool			 bol, eof;
	char			 last;
	char			 why[DELIVER_JOB_TEXT_MAX];	/* for the
						 * recipients left */
};

static struct event_base	*base;
static struct lserver		*servers;
static struct lconn		*conns;

static void	 lmtp_init(struct event_base *);
static void	 lmtp_reload(void);
static void	 lmtp_shutdown(void);
static void	 lmtp_deliver(struct deliver_job *);
static struct lserver *server_of(const struct conf_deliver *);
static void	 job_start(struct ljob *);
static void	 job_finish(struct ljob *);
static void	 conn_open(struct lserver *, struct ljob *);
static void	 conn_free(struct lconn *);
static void	 conn_failed(struct lconn *, const char *);
static void	 conn_read(struct bufferevent *, void *);
static void	 conn_write(struct bufferevent *, void *);
static void	 conn_event(struct bufferevent *, short, void *);
static void	 conn_next(struct lconn *);
static void	 idle_timeout(evutil_socket_t, short, void *);
static void	 connect_failed(evutil_socket_t, short, void *);
static void	 begin_txn(struct lconn *);
static void	 send_next(struct lconn *);
static void	 send_body(struct lconn *);
static void	 rcpt_from_reply(struct ljob *, size_t, const struct lconn *);
static void	 on_greeting(struct lconn *);
static void	 on_lhlo(struct lconn *);
static void	 on_txn(struct lconn *);
static void	 on_data_reply(struct lconn *);
static void	 on_dot(struct lconn *);
static void	 stuff(struct ljob *, struct evbuffer *, const char *, size_t);
static void	 on_rset(struct lconn *);
static void	 on_idle(struct lconn *);

const struct deliver_courier lmtp_courier = {
	.name = "lmtp",
	.init = lmtp_init,
	.reload = lmtp_reload,
	.shutdown = lmtp_shutdown,
	.deliver = lmtp_deliver,
};

typedef void (*reply_fn)(struct lconn *);

static const reply_fn handlers[] = {
	[L_GREETING] = on_greeting,	[L_LHLO] = on_lhlo,
	[L_TXN] = on_txn,		[L_BODY] = on_idle,
	[L_DOT] = on_dot,		[L_RSET] = on_rset,
	[L_IDLE] = on_idle,		[L_QUIT] = on_idle,
};

/* ---- small helpers ---- */

static void
set_timeout(struct lconn *c, int secs)
{
	struct timeval	tv = { secs, 0 };

	if (config->smtp_client_timeout > 0 &&
	    config->smtp_client_timeout < (uint64_t)secs)
		tv.tv_sec = (time_t)config->smtp_client_timeout;
	bufferevent_set_timeouts(c->bev, &tv, &tv);
}

static void
send_line(struct lconn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
send_line(struct lconn *c, const char *fmt, ...)
{
	struct evbuffer	*out = bufferevent_get_output(c->bev);
	va_list		 ap;

	va_start(ap, fmt);
	evbuffer_add_vprintf(out, fmt, ap);
	va_end(ap);
	evbuffer_add(out, "\r\n", 2);
}

/*
 * reply_result - 2xx done, 5xx failed for good, anything else deferred
 * (a 3xx where a final reply belongs is a protocol error, 4.5.0).  The
 * status is the reply's enhanced code when its class agrees (RFC 3463),
 * else the class's x.0.0, so a report never pairs "failed" with 4.x.x.
 */
static int
reply_result(const struct smtp_reply *rp, char dsn[8])
{
	int	 result = rp->code / 100 == 2 ? DELIVER_OK :
	    rp->code / 100 == 5 ? DELIVER_PERM : DELIVER_TEMP;
	char	 cls = result == DELIVER_OK ? '2' : result == DELIVER_PERM ?
	    '5' : '4';

	smtp_reply_dsn(rp, dsn);
	if (rp->code / 100 == 3)
		memcpy(dsn, "4.5.0", 6);
	else if (dsn[0] != cls) {
		dsn[0] = cls;
		memcpy(dsn + 1, ".0.0", 5);
	}
	return result;
}

/* rcpt_from_reply - recipient i's final result is the reply in c, given
 * by the server named in the greeting (Remote-MTA, RFC 3464 2.3.5). */
static void
rcpt_from_reply(struct ljob *l, size_t i, const struct lconn *c)
{
	char	dsn[8];
	int	result = reply_result(&c->rp, dsn);

	deliver_job_set_result(&l->j->r[i], result, dsn, c->rp.text);
	deliver_job_set_mta(&l->j->r[i], c->name);
	if (l->rs[i] != LR_FINAL)
		l->finals++;
	l->rs[i] = LR_FINAL;
}

/* greeting_name - the server's name, the greeting's first word (RFC 5321
 * 4.3.1), if it looks like a host name; else the target. */
static void
greeting_name(struct lconn *c)
{
	const char	*p = c->rp.text + 4;
	size_t		 n = strspn(p, "abcdefghijklmnopqrstuvwxyz"
			    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_");

	if (strlen(c->rp.text) > 4 && n > 0 && n < sizeof(c->name) &&
	    (p[n] == ' ' || p[n] == '\0'))
		snprintf(c->name, sizeof(c->name), "%.*s", (int)n, p);
	else
		str_copy(c->name, c->s->target, sizeof(c->name));
}

/* ---- servers and jobs ---- */

static void
lmtp_init(struct event_base *b)
{
	base = b;
}

/* lmtp_reload - the targets may have changed: let idle connections go;
 * busy ones finish their transaction with the server they started on. */
static void
lmtp_reload(void)
{
	lmtp_shutdown();
}

/* lmtp_shutdown - close idle connections. */
static void
lmtp_shutdown(void)
{
	struct lconn	*c, *next;

	for (c = conns; c != NULL; c = next) {
		next = c->next;
		if (c->job == NULL)
			conn_free(c);
	}
}

/* server_of - the server for d, made on first use; kept for the life of
 * the process (a handful, one per configured target). */
static struct lserver *
server_of(const struct conf_deliver *d)
{
	struct lserver	*s;

	for (s = servers; s != NULL; s = s->next)
		if (strcmp(s->target, d->target) == 0)
			return s;
	s = xcalloc(1, sizeof(*s));
	s->target = xstrdup(d->target);
	s->kind = d->kind;
	s->host = xstrdup(d->host);
	s->port = d->port;
	s->wtail = &s->waiting;
	s->next = servers;
	servers = s;
	return s;
}

/* lmtp_deliver - j's recipients are all of domains delivered by the same
 * LMTP server (deliver.c groups them). */
static void
lmtp_deliver(struct deliver_job *j)
{
	const char	*at = strrchr(j->r[0].addr, '@');
	struct ljob	*l = xcalloc(1, sizeof(*l));

	l->j = j;
	l->rs = xcalloc(j->n, 1);
	l->s = server_of(conf_deliver_of(config, at != NULL ? at + 1 : NULL));
	ASSERT(l->s->kind != CONF_DELIVER_MAILDIR);
	str_copy(j->relay, l->s->target, sizeof(j->relay));
	job_start(l);
}

/* job_start - an idle connection, a new one, or the queue. */
static void
job_start(struct ljob *l)
{
	struct lserver	*s = l->s;

	for (struct lconn *c = conns; c != NULL; c = c->next)
		if (c->s == s && c->job == NULL && c->state == L_IDLE) {
			evtimer_del(c->idle);
			c->job = l;
			l->c = c;
			c->reused = true;
			begin_txn(c);
			return;
		}
	if (s->nconns < config->lmtp_concurrency) {
		conn_open(s, l);
		return;
	}
	l->next = NULL;
	*s->wtail = l;
	s->wtail = &l->next;
}

/* job_finish - every recipient without a final reply gets the job's
 * error, a temporary one (the server may have it, or not: queue tries
 * again); then the results go back. */
static void
job_finish(struct ljob *l)
{
	struct deliver_job	*j = l->j;

	for (size_t i = 0; i < j->n; i++)
		if (l->rs[i] != LR_FINAL)
			deliver_job_set_result(&j->r[i], DELIVER_TEMP,
			    "4.4.2", l->why[0] != '\0' ? l->why :
			    "no reply from the LMTP server");
	if (l->c != NULL)
		l->c->job = NULL;
	free(l->rs);
	free(l);
	deliver_job_done(j);
}

/* ---- connections ---- */

/* conn_open - connect to s for l. */
static void
conn_open(struct lserver *s, struct ljob *l)
{
	struct lconn		*c = xcalloc(1, sizeof(*c));
	struct sockaddr_storage	 ss;
	struct conf_deliver	 d = { s->kind, NULL, s->host, s->port };
	socklen_t		 len = conf_deliver_sockaddr(&d, &ss);

	c->s = s;
	s->nconns++;
	c->job = l;
	l->c = c;
	c->next = conns;
	conns = c;
	c->state = L_CONNECT;
	c->idle = evtimer_new(base, idle_timeout, c);
	c->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(c->bev, conn_read, conn_write, conn_event, c);
	set_timeout(c, T_CONNECT);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&ss,
	    (int)len) == -1) {
		/* A missing socket fails at once: report it from the loop,
		 * so that no courier call finishes a job before it returns
		 * and failures of waiting jobs do not nest. */
		c->err = errno != 0 ? errno : EIO;
		event_assign(c->idle, base, -1, 0, connect_failed, c);
		event_active(c->idle, EV_TIMEOUT, 0);
	}
}

static void
connect_failed(evutil_socket_t fd, short ev, void *arg)
{
	struct lconn	*c = arg;

	event_assign(c->idle, base, -1, 0, idle_timeout, c);
	conn_failed(c, strerror(c->err));
}

/* conn_free - close c; a job waiting for a connection to s may now
 * open one. */
static void
conn_free(struct lconn *c)
{
	struct lconn	**pp = &conns;
	struct lserver	*s = c->s;
	struct ljob	*l;

	while (*pp != NULL && *pp != c)
		pp = &(*pp)->next;
	if (*pp != NULL)
		*pp = c->next;
	event_free(c->idle);
	bufferevent_free(c->bev);
	free(c);
	s->nconns--;
	if ((l = s->waiting) != NULL) {
		if ((s->waiting = l->next) == NULL)
			s->wtail = &s->waiting;
		conn_open(s, l);
	}
}

/* conn_failed - c is unusable.  A reused connection the server had
 * closed while idle is replaced once (not one that timed out: that
 * server is hung, and a second wait would only double the delay); else
 * its job's recipients without a final reply are deferred. */
static void
conn_failed(struct lconn *c, const char *why)
{
	struct ljob	*l = c->job;
	bool		 early = c->state < L_TXN;

	if (l == NULL) {
		conn_free(c);
		return;
	}
	l->c = NULL;
	c->job = NULL;
	if (c->reused && !c->got_reply && !l->retried &&
	    strcmp(why, "timeout") != 0) {	/* closed, not hung */
		l->retried = true;
		memset(l->rs, 0, l->j->n);
		l->finals = 0;
		conn_free(c);
		job_start(l);
		return;
	}
	snprintf(l->why, sizeof(l->why), "%s %s: %s", early ? "connect to" :
	    "lost connection with", c->s->target, why);
	log_info("event=lmtp-failed relay=%s reason=\"%s\"",
	    log_safe(c->s->target), log_safe(why));
	conn_free(c);
	job_finish(l);
}

static void
conn_event(struct bufferevent *bev, short what, void *arg)
{
	struct lconn	*c = arg;
	char		 why[160];

	if (what & BEV_EVENT_CONNECTED) {
		c->state = L_GREETING;
		set_timeout(c, T_GREETING);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT)
		str_copy(why, "timeout", sizeof(why));
	else if (what & BEV_EVENT_EOF)
		str_copy(why, "connection closed", sizeof(why));
	else
		str_copy(why, strerror(EVUTIL_SOCKET_ERROR() != 0 ?
		    EVUTIL_SOCKET_ERROR() : EIO), sizeof(why));
	if (c->state == L_QUIT || (c->state == L_IDLE && c->job == NULL)) {
		conn_free(c);
		return;
	}
	conn_failed(c, why);
}

/* conn_alive - c is still a connection, and still reads from bev (a
 * new connection may have taken a freed one's address). */
static bool
conn_alive(const struct lconn *c, const struct bufferevent *bev)
{
	for (struct lconn *x = conns; x != NULL; x = x->next)
		if (x == c)
			return c->bev == bev;
	return false;
}

static void
conn_read(struct bufferevent *bev, void *arg)
{
	struct lconn	*c = arg;
	struct evbuffer	*in = bufferevent_get_input(bev);
	char		*line;
	size_t		 len;
	enum smtp_reply_rc rc;

	while (c->bev == bev && (line = evbuffer_readln(in, &len,
	    EVBUFFER_EOL_CRLF)) != NULL) {
		rc = len > LINE_MAX_LEN ? SMTP_REPLY_BAD :
		    smtp_reply_line(&c->rp, line, len, c->state == L_LHLO);
		free(line);
		if (rc == SMTP_REPLY_BAD) {
			conn_failed(c, "bad reply line");
			return;
		}
		if (rc == SMTP_REPLY_MORE)
			continue;
		c->got_reply = true;
		if (c->state >= NELEM(handlers) || handlers[c->state] == NULL) {
			conn_failed(c, "unexpected reply");
			return;
		}
		handlers[c->state](c);
		if (!conn_alive(c, bev))
			return;		/* the handler freed c */
	}
	if (evbuffer_get_length(in) > LINE_MAX_LEN)
		conn_failed(c, "reply line too long");
}

static void
conn_write(struct bufferevent *bev, void *arg)
{
	struct lconn	*c = arg;

	if (c->state == L_BODY)
		send_body(c);
}

static void
idle_timeout(evutil_socket_t fd, short ev, void *arg)
{
	struct lconn	*c = arg;

	c->state = L_QUIT;
	set_timeout(c, T_QUIT);
	send_line(c, "QUIT");
}

/* conn_next - c is free: the next waiting job, else idle for a while
 * (RFC 2033 has no limit on transactions per connection). */
static void
conn_next(struct lconn *c)
{
	struct lserver	*s = c->s;
	struct ljob	*l = s->waiting;
	struct timeval	 tv = { (time_t)config->smtp_idle_time, 0 };

	c->job = NULL;
	if (l != NULL) {
		if ((s->waiting = l->next) == NULL)
			s->wtail = &s->waiting;
		c->job = l;
		l->c = c;
		c->reused = false;	/* it answered just now */
		begin_txn(c);
		return;
	}
	c->state = L_IDLE;
	bufferevent_set_timeouts(c->bev, NULL, NULL);
	evtimer_add(c->idle, &tv);
}

/* ---- the session ---- */

static void
on_greeting(struct lconn *c)
{
	if (c->rp.code / 100 != 2) {
		conn_failed(c, c->rp.text);
		return;
	}
	greeting_name(c);
	c->state = L_LHLO;
	set_timeout(c, T_CMD);
	send_line(c, "LHLO %s", config->hostname);
}

/* on_lhlo - RFC 2033 4.1: LHLO, never EHLO or HELO. */
static void
on_lhlo(struct lconn *c)
{
	if (c->rp.code / 100 != 2) {
		conn_failed(c, c->rp.text);
		return;
	}
	c->caps = c->rp.caps;
	begin_txn(c);
}

/* is_ascii - s has no byte above 0x7f. */
static bool
is_ascii(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s > 0x7f)
			return false;
	return true;
}

/* needs_utf8 - an address of the envelope is not ASCII: only a server
 * with SMTPUTF8 can take it (RFC 6531 3.4).  A message sent with SMTPUTF8
 * but with ASCII addresses goes without it (header fields in UTF-8 are
 * the mailbox's to store, as Postfix does). */
static bool
needs_utf8(const struct deliver_job *j)
{
	if (!j->smtputf8)
		return false;
	if (!is_ascii(j->sender))
		return true;
	for (size_t i = 0; i < j->n; i++)
		if (!is_ascii(j->r[i].addr))
			return true;
	return false;
}

/* precheck - a message whose envelope needs SMTPUTF8 goes only to a
 * server that offers it. */
static bool
precheck(struct lconn *c)
{
	struct ljob	*l = c->job;

	if (needs_utf8(l->j) && !(c->caps & SMTP_CAP_SMTPUTF8)) {
		for (size_t i = 0; i < l->j->n; i++) {
			deliver_job_set_result(&l->j->r[i], DELIVER_PERM,
			    "5.6.7", "the LMTP server does not support "
			    "SMTPUTF8, which the message needs (RFC 6531)");
			l->rs[i] = LR_FINAL;
		}
		return false;
	}
	return true;
}

static void
begin_txn(struct lconn *c)
{
	struct ljob	*l = c->job;

	l->sent = l->answered = l->accepted = l->finals = 0;
	l->mail_failed = false;
	c->got_reply = false;
	if (!precheck(c)) {
		job_finish(l);
		conn_next(c);
		return;
	}
	c->state = L_TXN;
	set_timeout(c, T_CMD);
	send_next(c);
}

static void
send_mail(struct lconn *c)
{
	struct deliver_job	*j = c->job->j;
	struct evbuffer		*out = bufferevent_get_output(c->bev);
	char			 x[512];

	evbuffer_add_printf(out, "MAIL FROM:<%s>", j->sender);
	if ((c->caps & SMTP_CAP_8BITMIME) && j->body == SMTP_BODY_8BITMIME)
		evbuffer_add_printf(out, " BODY=8BITMIME");
	if (j->smtputf8 && (c->caps & SMTP_CAP_SMTPUTF8))
		evbuffer_add_printf(out, " SMTPUTF8");
	if (c->caps & SMTP_CAP_DSN) {
		if (j->ret != SMTP_RET_NONE)
			evbuffer_add_printf(out, " RET=%s",
			    j->ret == SMTP_RET_FULL ? "FULL" : "HDRS");
		if (j->envid[0] != '\0' && smtp_parse_xtext_encode(j->envid,
		    strlen(j->envid), x, sizeof(x)) < sizeof(x))
			evbuffer_add_printf(out, " ENVID=%s", x);
	}
	evbuffer_add(out, "\r\n", 2);
}

/* send_rcpt - RCPT TO, with the DSN parameters (RFC 3461 4) if offered. */
static void
send_rcpt(struct lconn *c, const struct deliver_rcpt *d)
{
	struct evbuffer	*out = bufferevent_get_output(c->bev);
	const char	*semi = strchr(d->orcpt, ';');
	char		 x[1024];

	evbuffer_add_printf(out, "RCPT TO:<%s>", d->addr);
	if ((c->caps & SMTP_CAP_DSN) && d->notify != 0) {
		if (d->notify & SMTP_NOTIFY_NEVER)
			evbuffer_add_printf(out, " NOTIFY=NEVER");
		else
			evbuffer_add_printf(out, " NOTIFY=%s%s%s%s%s",
			    d->notify & SMTP_NOTIFY_SUCCESS ? "SUCCESS" : "",
			    (d->notify & SMTP_NOTIFY_SUCCESS) &&
			    (d->notify & (SMTP_NOTIFY_FAILURE |
			    SMTP_NOTIFY_DELAY)) ? "," : "",
			    d->notify & SMTP_NOTIFY_FAILURE ? "FAILURE" : "",
			    (d->notify & SMTP_NOTIFY_FAILURE) &&
			    (d->notify & SMTP_NOTIFY_DELAY) ? "," : "",
			    d->notify & SMTP_NOTIFY_DELAY ? "DELAY" : "");
	}
	if ((c->caps & SMTP_CAP_DSN) && semi != NULL &&
	    smtp_parse_xtext_encode(semi + 1, strlen(semi + 1), x,
	    sizeof(x)) < sizeof(x))
		evbuffer_add_printf(out, " ORCPT=%.*s;%s",
		    (int)(semi - d->orcpt), d->orcpt, x);
	evbuffer_add(out, "\r\n", 2);
}

/* send_next - MAIL, the RCPTs and DATA: all at once with PIPELINING (RFC
 * 2920 3.1, DATA last), else one per reply. */
static void
send_next(struct lconn *c)
{
	struct ljob	*l = c->job;
	size_t		 last = l->j->n + 1;	/* DATA's index */

	do {
		if (l->sent == 0)
			send_mail(c);
		else if (l->sent <= l->j->n)
			send_rcpt(c, &l->j->r[l->sent - 1]);
		else
			send_line(c, "DATA");
		l->sent++;
	} while ((c->caps & SMTP_CAP_PIPELINING) && l->sent <= last);
}

/* end_txn - an unfinished transaction (MAIL or every RCPT refused, DATA
 * refused): the job is done, RSET before the next one. */
static void
end_txn(struct lconn *c)
{
	c->state = L_RSET;
	set_timeout(c, T_CMD);
	send_line(c, "RSET");
	job_finish(c->job);
}

/* on_txn - the replies to MAIL, each RCPT and DATA, in order. */
static void
on_txn(struct lconn *c)
{
	struct ljob	*l = c->job;
	size_t		 k = l->answered++, n = l->j->n;

	if (k == 0 && c->rp.code / 100 != 2) {
		l->mail_failed = true;	/* its reply is everyone's */
		for (size_t i = 0; i < n; i++)
			rcpt_from_reply(l, i, c);
	} else if (k >= 1 && k <= n && !l->mail_failed) {
		if (c->rp.code / 100 == 2) {
			l->rs[k - 1] = LR_ACCEPTED;
			l->accepted++;
		} else
			rcpt_from_reply(l, k - 1, c);
	} else if (k == n + 1) {
		on_data_reply(c);
		return;
	}
	if (l->answered < l->sent)
		return;			/* more pipelined replies to come */
	if (l->mail_failed || (k == n && l->accepted == 0)) {
		end_txn(c);
		return;
	}
	send_next(c);
}

/* on_data_reply - 354: the message; else every accepted recipient gets
 * this reply. */
static void
on_data_reply(struct lconn *c)
{
	struct ljob	*l = c->job;

	if (c->rp.code == 354 && l->accepted > 0) {
		l->off = 0;
		l->bol = true;
		l->eof = false;
		l->last = '\n';
		c->state = L_BODY;
		/* our trace and DKIM fields kept with the envelope go first */
		stuff(l, bufferevent_get_output(c->bev), l->j->prepend,
		    strlen(l->j->prepend));
		set_timeout(c, T_BLOCK);
		bufferevent_setwatermark(c->bev, EV_WRITE, CHUNK, 0);
		send_body(c);
		return;
	}
	if (c->rp.code == 354) {	/* RFC 2033 4.2 forbids it */
		conn_failed(c, "354 to DATA without a recipient");
		return;
	}
	for (size_t i = 0; i < l->j->n; i++)
		if (l->rs[i] == LR_ACCEPTED) {
			rcpt_from_reply(l, i, c);
			if (c->rp.code / 100 == 2)	/* nothing was sent */
				deliver_job_set_result(&l->j->r[i],
				    DELIVER_TEMP, "4.5.0", c->rp.text);
		}
	end_txn(c);
}

/* stuff - append p[0..len) dot-stuffed (RFC 5321 4.5.2). */
static void
stuff(struct ljob *l, struct evbuffer *out, const char *p, size_t len)
{
	size_t	from = 0;

	for (size_t i = 0; i < len; i++) {
		if (l->bol && p[i] == '.') {
			evbuffer_add(out, p + from, i - from);
			evbuffer_add(out, ".", 1);
			from = i;
		}
		l->bol = p[i] == '\n';
	}
	evbuffer_add(out, p + from, len - from);
	if (len > 0)
		l->last = p[len - 1];
}

/* send_body - the prepended fields, then the queue file, as the output
 * drains; the final dot after the last byte. */
static void
send_body(struct lconn *c)
{
	struct ljob	*l = c->job;
	struct evbuffer	*out = bufferevent_get_output(c->bev);
	char		 chunk[CHUNK];
	ssize_t		 got;

	while (!l->eof && evbuffer_get_length(out) < OUT_HIGH) {
		got = deliver_job_read(l->j, chunk, sizeof(chunk),
		    l->off);
		if (got == -1 && errno == EINTR)
			continue;
		if (got == -1) {
			snprintf(l->why, sizeof(l->why), "cannot read the "
			    "queue file: %s", strerror(errno));
			conn_failed(c, "local read error");
			return;
		}
		if (got == 0)
			l->eof = true;
		else {
			stuff(l, out, chunk, (size_t)got);
			l->off += got;
		}
	}
	if (!l->eof)
		return;
	if (l->last != '\n')
		evbuffer_add(out, "\r\n", 2);
	evbuffer_add(out, ".\r\n", 3);
	c->state = L_DOT;
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
	set_timeout(c, T_DOT);
}

/* on_dot - RFC 2033 4.2: one reply per accepted recipient, in the order
 * of their RCPTs; the last one ends the transaction. */
static void
on_dot(struct lconn *c)
{
	struct ljob	*l = c->job;
	size_t		 i;

	for (i = 0; i < l->j->n && l->rs[i] != LR_ACCEPTED; i++)
		;
	if (i == l->j->n) {
		conn_failed(c, "more replies than recipients");
		return;
	}
	rcpt_from_reply(l, i, c);
	if (--l->accepted > 0)
		return;
	job_finish(l);
	conn_next(c);
}

static void
on_rset(struct lconn *c)
{
	if (c->rp.code / 100 != 2) {
		c->state = L_QUIT;
		set_timeout(c, T_QUIT);
		send_line(c, "QUIT");
		return;
	}
	conn_next(c);
}

/* on_idle - a reply nobody asked for, or QUIT's: close. */
static void
on_idle(struct lconn *c)
{
	if (c->job != NULL) {
		conn_failed(c, "unexpected reply");
		return;
	}
	conn_free(c);
}
