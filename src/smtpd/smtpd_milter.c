/*
 * smtpd_milter.c - the milter client of one SMTP session (see
 * smtpd_milter.h): a connection per [milter] that applies to the
 * session's listener, opened at connect and kept for the session (one
 * SMFIC_OPTNEG each), and a queue of phases run through the milters in
 * the config's order.
 *
 * A TCP milter is connected here; a UNIX-socket milter is connected by
 * the lookup process (IPC_MILTER_CONNECT), which passes the descriptor:
 * smtpd has no file system view.
 *
 * At the end of the message each milter gets the message as the milters
 * before it left it, and its changes are kept aside until its final
 * reply: a milter that fails, times out, sends garbage or an oversized
 * packet, or closes in mid-message leaves no change behind, and its
 * default_action decides (tempfail: 451 4.7.1; accept: it is skipped for
 * the rest of the session).
 *
 * Trust: none in the milters' bytes (framed and parsed by mail/milter.c,
 * bounded by MILTER_PACKET_MAX).
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "common/conf.h"
#include "common/proc.h"
#include "lib/ipc_proto.h"
#include "lib/log.h"
#include "lib/util.h"
#include "smtpd/smtpd_milter.h"

#define REPLY_REJECT	"550 5.7.1 Command rejected"
#define REPLY_TEMPFAIL	"451 4.7.1 Service unavailable - try again later"

enum phase { PH_CONNECT, PH_HELO, PH_MAIL, PH_RCPT, PH_EOM, PH_ABORT };
static const char *const phase_names[] = { "connect", "helo", "mail",
	"rcpt", "eom", "abort" };

enum cstate {
	C_IDLE = 0,	/* not connected yet */
	C_CONNECTING,	/* TCP connect, or lookup connecting a UNIX socket */
	C_OPTNEG,	/* SMFIC_OPTNEG sent */
	C_READY,
	C_FAILED,	/* gone: its default_action applies */
	C_ACCEPTED,	/* said accept at connect or HELO: done for the session */
};

struct step {
	size_t		 off, len;	/* in mconn.out */
	bool		 reply;		/* wait for the milter's answer */
	bool		 content;	/* content_timeout, not command_ */
	bool		 body;		/* SMFIC_BODY: SMFIR_SKIP may end it */
	bool		 eob;		/* the last: modifications come */
};

struct mod {
	char		 cmd;
	uint32_t	 index;
	char		*name, *value, *addr;
};

struct mconn {
	struct smtpd_milter *ch;
	unsigned	 index;		/* in config->milters */
	char		 name[65];
	bool		 is_unix;
	struct sockaddr_storage ss;
	socklen_t	 sslen;
	uint64_t	 t_connect, t_command, t_content;
	bool		 def_accept;
	enum cstate	 state;
	bool		 msg_accepted;	/* said accept in this transaction */
	bool		 in_tx;		/* got MAIL, no end of message yet */
	struct bufferevent *bev;
	uint32_t	 actions, protocol;
	struct buf	 out;		/* the steps of the current phase */
	struct step	*st;
	size_t		 nst, cur;
	bool		 waiting;
	struct mod	*mods;
	size_t		 nmods;
	struct buf	 body;		/* SMFIR_REPLBODY chunks */
	bool		 body_replaced;
};

struct job {
	enum phase	 phase;
	bool		 waits;		/* the session waits for it */
	char		 cmd;		/* SMFIC_* of the phase */
	struct buf	 pkt;		/* macros and the command */
	char		*what;		/* for the log: the address */
};

struct smtpd_milter {
	uint64_t	 id;
	struct mconn	*c;
	size_t		 n;
	struct job	*jobs;
	size_t		 njobs;
	bool		 running;
	size_t		 cur;		/* milter of the running job */
	struct smtpd_milter_result res;
	enum smtpd_milter_action sticky;	/* connect or HELO said */
	char		 sticky_reply[MILTER_REPLY_MAX + 64];
	struct milter_msg msg;		/* end of message: the message */
	char		 qid[32];
	char		*macro_i;
};

static struct event_base	*base;
static smtpd_milter_done_fn	 done_fn;

static void	 run(struct smtpd_milter *);
static void	 next_milter(struct smtpd_milter *);
static void	 send_steps(struct mconn *);
static void	 conn_send(struct mconn *, const char *, size_t);
static void	 fail(struct mconn *, const char *);
static void	 conn_read(struct bufferevent *, void *);
static void	 conn_event(struct bufferevent *, short, void *);

void
smtpd_milter_init(struct event_base *b, smtpd_milter_done_fn fn)
{
	base = b;
	done_fn = fn;
}

/* tag - the log prefix: the queue id once there is one. */
static const char *
tag(const struct smtpd_milter *ch, char *b, size_t n)
{
	if (ch->qid[0] != '\0')
		snprintf(b, n, "%s: session=%016llx", ch->qid,
		    (unsigned long long)ch->id);
	else
		snprintf(b, n, "session=%016llx", (unsigned long long)ch->id);
	return b;
}

/* smtpd_milter_new - see smtpd_milter.h. */
struct smtpd_milter *
smtpd_milter_new(uint64_t id, int listen_idx)
{
	struct smtpd_milter	*ch;

	for (size_t i = 0, n = 0; i <= config->nmilters; i++) {
		if (i == config->nmilters) {
			if (n == 0)
				return NULL;
			break;
		}
		if (conf_milter_applies(config, &config->milters[i],
		    listen_idx))
			n++;
	}
	ch = xcalloc(1, sizeof(*ch));
	ch->id = id;
	buf_init(&ch->res.msg, 0);
	for (size_t i = 0; i < config->nmilters; i++) {
		const struct conf_milter	*m = &config->milters[i];
		struct mconn			*c;

		if (!conf_milter_applies(config, m, listen_idx))
			continue;
		ch->c = xreallocarray(ch->c, ch->n + 1, sizeof(*ch->c));
		c = &ch->c[ch->n++];
		memset(c, 0, sizeof(*c));
		c->index = (unsigned)i;
		str_copy(c->name, m->name, sizeof(c->name));
		c->is_unix = m->is_unix;
		if (!m->is_unix) {
			struct sockaddr_in	*s4 = (void *)&c->ss;
			struct sockaddr_in6	*s6 = (void *)&c->ss;

			if (inet_pton(AF_INET, m->host, &s4->sin_addr) == 1) {
				s4->sin_family = AF_INET;
				s4->sin_port = htons(m->port);
				c->sslen = sizeof(*s4);
			} else if (inet_pton(AF_INET6, m->host,
			    &s6->sin6_addr) == 1) {
				s6->sin6_family = AF_INET6;
				s6->sin6_port = htons(m->port);
				c->sslen = sizeof(*s6);
			}
		}
		c->t_connect = m->connect_timeout;
		c->t_command = m->command_timeout;
		c->t_content = m->content_timeout;
		c->def_accept = m->default_action == MILTER_DEFAULT_ACCEPT;
		buf_init(&c->out, 0);
		buf_init(&c->body, 0);
	}
	for (size_t i = 0; i < ch->n; i++)
		ch->c[i].ch = ch;
	return ch;
}

static void
mods_free(struct mconn *c)
{
	for (size_t i = 0; i < c->nmods; i++) {
		free(c->mods[i].name);
		free(c->mods[i].value);
		free(c->mods[i].addr);
	}
	free(c->mods);
	c->mods = NULL;
	c->nmods = 0;
	buf_reset(&c->body);
	c->body_replaced = false;
}

static void
strv_drop(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void
res_reset(struct smtpd_milter_result *r)
{
	r->action = SMTPD_MILTER_CONTINUE;
	r->reply[0] = '\0';
	r->edited = false;
	buf_reset(&r->msg);
	free(r->sender);
	r->sender = NULL;
	strv_drop(r->add, r->nadd);
	strv_drop(r->del, r->ndel);
	r->add = r->del = NULL;
	r->nadd = r->ndel = 0;
	r->quarantine = false;
	r->quarantine_why[0] = '\0';
}

static void
conn_close(struct mconn *c)
{
	if (c->bev != NULL)
		bufferevent_free(c->bev);
	c->bev = NULL;
	c->waiting = false;
}

static void
job_free(struct job *j)
{
	buf_free(&j->pkt);
	free(j->what);
}

/* send_now - all of p[0..n) to fd without waiting; false when the
 * socket does not take it all at once. */
static bool
send_now(evutil_socket_t fd, const void *p, size_t n)
{
	const char	*q = p;

	while (n > 0) {
		ssize_t	 w = send(fd, q, n, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		q += w;
		n -= (size_t)w;
	}
	return true;
}

/* smtpd_milter_free - see smtpd_milter.h. */
void
smtpd_milter_free(struct smtpd_milter *ch)
{
	static const char	 quit[] = { 0, 0, 0, 1, SMFIC_QUIT };

	if (ch == NULL)
		return;
	for (size_t i = 0; i < ch->n; i++) {
		struct mconn	*c = &ch->c[i];

		if (c->bev != NULL && (c->state == C_READY ||
		    c->state == C_ACCEPTED)) {
			/*
			 * What is still queued goes first, then QUIT, written
			 * straight to the socket: a socket bufferevent's
			 * output has its start frozen (evbuffer_write() on it
			 * fails), and bufferevent_flush() does nothing for
			 * sockets.  Best effort: QUIT only after all of what
			 * was queued, so that no packet is cut.
			 */
			evutil_socket_t	 fd = bufferevent_getfd(c->bev);
			struct evbuffer	*o = bufferevent_get_output(c->bev);
			size_t		 n = evbuffer_get_length(o);

			if (fd != -1 && (n == 0 || send_now(fd,
			    evbuffer_pullup(o, -1), n)))
				(void)send_now(fd, quit, sizeof(quit));
		}
		conn_close(c);
		buf_free(&c->out);
		free(c->st);
		mods_free(c);
		buf_free(&c->body);
	}
	free(ch->c);
	for (size_t i = 0; i < ch->njobs; i++)
		job_free(&ch->jobs[i]);
	free(ch->jobs);
	res_reset(&ch->res);
	buf_free(&ch->res.msg);
	milter_msg_free(&ch->msg);
	free(ch->macro_i);
	free(ch);
}

/* ---- jobs ---- */

static struct job *
job_add(struct smtpd_milter *ch, enum phase ph, char cmd, bool waits)
{
	struct job	*j;

	ch->jobs = xreallocarray(ch->jobs, ch->njobs + 1, sizeof(*ch->jobs));
	j = &ch->jobs[ch->njobs++];
	memset(j, 0, sizeof(*j));
	j->phase = ph;
	j->cmd = cmd;
	j->waits = waits;
	buf_init(&j->pkt, 0);
	return j;
}

static void
macros(struct buf *b, char cmd, const char *const *names,
    const char *const *values, size_t n)
{
	bool	 any = false;

	for (size_t i = 0; i < n; i++)
		any = any || values[i] != NULL;
	if (any)
		milter_put_macros(b, cmd, names, values, n);
}

/* smtpd_milter_connect - see smtpd_milter.h. */
void
smtpd_milter_connect(struct smtpd_milter *ch,
    const struct smtpd_milter_info *in)
{
	static const char *const names[] = { "j", "{daemon_name}", "_",
		"{client_addr}", "{client_name}", "{client_port}" };
	char		 under[600], port[8];
	const char	*values[6];
	struct job	*j = job_add(ch, PH_CONNECT, SMFIC_CONNECT, false);

	snprintf(under, sizeof(under), "%s [%s]", in->client_name,
	    in->client_addr);
	snprintf(port, sizeof(port), "%u", (unsigned)in->client_port);
	values[0] = in->hostname;
	values[1] = in->listener;
	values[2] = under;
	values[3] = in->client_addr;
	values[4] = in->client_name;
	values[5] = port;
	macros(&j->pkt, SMFIC_CONNECT, names, values, 6);
	milter_put_connect(&j->pkt, in->client_name, in->client_addr,
	    in->client_port);
	run(ch);
}

static void
tls_macros(struct buf *b, char cmd, const struct smtpd_milter_info *in)
{
	static const char *const names[] = { "{tls_version}", "{cipher}",
		"{auth_authen}" };
	const char	*values[3] = { in->tls_version, in->cipher, in->auth };

	macros(b, cmd, names, values, 3);
}

/* smtpd_milter_helo - see smtpd_milter.h. */
void
smtpd_milter_helo(struct smtpd_milter *ch,
    const struct smtpd_milter_info *in)
{
	const char	*v[1] = { in->helo };
	struct job	*j = job_add(ch, PH_HELO, SMFIC_HELO, false);

	tls_macros(&j->pkt, SMFIC_HELO, in);
	milter_put_strings(&j->pkt, SMFIC_HELO, v, 1);
	run(ch);
}

/* start - queue a phase the session waits for; false when it is
 * answered already (a connect or HELO decision stands). */
static bool
start(struct smtpd_milter *ch)
{
	res_reset(&ch->res);
	if (ch->njobs == 1 && !ch->running && ch->sticky !=
	    SMTPD_MILTER_CONTINUE) {
		ch->res.action = ch->sticky;
		str_copy(ch->res.reply, ch->sticky_reply,
		    sizeof(ch->res.reply));
		job_free(&ch->jobs[0]);
		ch->njobs = 0;
		return false;
	}
	run(ch);
	return true;
}

/* smtpd_milter_mail - see smtpd_milter.h. */
bool
smtpd_milter_mail(struct smtpd_milter *ch, const struct smtpd_milter_info *in,
    const char *addr, const char *const *args, size_t nargs)
{
	/* one SMFIC_MACRO per command: a second would replace the first */
	static const char *const names[] = { "{mail_addr}", "{tls_version}",
		"{cipher}", "{auth_authen}" };
	const char	*values[4] = { addr, in->tls_version, in->cipher,
			    in->auth };
	const char	*v[1 + 16];
	char		 path[600];
	struct job	*j = job_add(ch, PH_MAIL, SMFIC_MAIL, true);

	snprintf(path, sizeof(path), "<%s>", addr);
	v[0] = path;
	nargs = MIN(nargs, 16);
	for (size_t i = 0; i < nargs; i++)
		v[i + 1] = args[i];
	macros(&j->pkt, SMFIC_MAIL, names, values, 4);
	milter_put_strings(&j->pkt, SMFIC_MAIL, v, nargs + 1);
	j->what = xstrdup(addr);
	for (size_t i = 0; i < ch->n; i++) {
		ch->c[i].msg_accepted = false;
		ch->c[i].in_tx = false;
	}
	return start(ch);
}

/* smtpd_milter_rcpt - see smtpd_milter.h. */
bool
smtpd_milter_rcpt(struct smtpd_milter *ch, const struct smtpd_milter_info *in,
    const char *addr)
{
	static const char *const names[] = { "{rcpt_addr}" };
	const char	*values[1] = { addr };
	char		 path[600];
	const char	*v[1] = { path };
	struct job	*j = job_add(ch, PH_RCPT, SMFIC_RCPT, true);

	snprintf(path, sizeof(path), "<%s>", addr);
	macros(&j->pkt, SMFIC_RCPT, names, values, 1);
	milter_put_strings(&j->pkt, SMFIC_RCPT, v, 1);
	j->what = xstrdup(addr);
	return start(ch);
}

/* smtpd_milter_eom - see smtpd_milter.h. */
bool
smtpd_milter_eom(struct smtpd_milter *ch, const struct smtpd_milter_info *in,
    const char *msg, size_t len)
{
	job_add(ch, PH_EOM, SMFIC_BODYEOB, true);
	str_copy(ch->qid, in->qid != NULL ? in->qid : "", sizeof(ch->qid));
	free(ch->macro_i);
	ch->macro_i = xstrdup(ch->qid);
	milter_msg_free(&ch->msg);
	milter_msg_parse(&ch->msg, msg, len);
	return start(ch);
}

/* smtpd_milter_abort - see smtpd_milter.h. */
void
smtpd_milter_abort(struct smtpd_milter *ch)
{
	bool	 any = false;

	for (size_t i = 0; i < ch->n; i++)
		any = any || ch->c[i].in_tx;
	if (!any)
		return;
	job_add(ch, PH_ABORT, SMFIC_ABORT, false);
	milter_put(&ch->jobs[ch->njobs - 1].pkt, SMFIC_ABORT, NULL, 0);
	run(ch);
}

struct smtpd_milter_result *
smtpd_milter_result(struct smtpd_milter *ch)
{
	return &ch->res;
}

/* ---- running a phase ---- */

static void
deferred_done(evutil_socket_t fd, short ev, void *arg)
{
	uint64_t	*id = arg;

	done_fn(*id);
	free(id);
}

/* finish - the running job is over: a session that waits hears of it
 * from the loop; the next queued job starts. */
static void
finish(struct smtpd_milter *ch)
{
	struct job	 j = ch->jobs[0];

	memmove(&ch->jobs[0], &ch->jobs[1], (ch->njobs - 1) *
	    sizeof(*ch->jobs));
	ch->njobs--;
	ch->running = false;
	if ((j.phase == PH_CONNECT || j.phase == PH_HELO) &&
	    ch->res.action != SMTPD_MILTER_CONTINUE &&
	    ch->sticky == SMTPD_MILTER_CONTINUE) {
		ch->sticky = ch->res.action;
		str_copy(ch->sticky_reply, ch->res.reply,
		    sizeof(ch->sticky_reply));
	}
	if (j.phase == PH_EOM) {
		for (size_t i = 0; i < ch->n; i++)
			ch->c[i].in_tx = false;
		if (ch->res.action == SMTPD_MILTER_CONTINUE && ch->res.edited)
			milter_msg_build(&ch->msg, &ch->res.msg);
		milter_msg_free(&ch->msg);
	}
	if (j.waits) {
		uint64_t	*id = xmalloc(sizeof(*id));

		*id = ch->id;
		event_base_once(base, -1, EV_TIMEOUT, deferred_done, id, NULL);
	}
	job_free(&j);
	if (!j.waits)
		run(ch);
}

static void
run(struct smtpd_milter *ch)
{
	if (ch->running || ch->njobs == 0)
		return;
	res_reset(&ch->res);	/* each job answers for itself */
	/* A phase the session waits for is answered by a connect or HELO
	 * decision without asking the milters again. */
	if (ch->jobs[0].waits && ch->sticky != SMTPD_MILTER_CONTINUE) {
		ch->res.action = ch->sticky;
		str_copy(ch->res.reply, ch->sticky_reply,
		    sizeof(ch->res.reply));
		ch->running = true;
		finish(ch);
		return;
	}
	ch->running = true;
	ch->cur = 0;
	next_milter(ch);
}

/* skips - the protocol bits that spare the milter this phase. */
static bool
skipped(const struct mconn *c, enum phase ph, bool *noreply)
{
	static const uint32_t	 no[] = { SMFIP_NOCONNECT, SMFIP_NOHELO,
				    SMFIP_NOMAIL, SMFIP_NORCPT, 0, 0 };
	static const uint32_t	 nr[] = { SMFIP_NR_CONN, SMFIP_NR_HELO,
				    SMFIP_NR_MAIL, SMFIP_NR_RCPT, 0, 0 };

	*noreply = (c->protocol & nr[ph]) != 0;
	return (c->protocol & no[ph]) != 0;
}

static void
step_add(struct mconn *c, size_t off, bool reply, bool content, bool body,
    bool eob)
{
	c->st = xreallocarray(c->st, c->nst + 1, sizeof(*c->st));
	c->st[c->nst++] = (struct step){ off, c->out.len - off, reply, content,
	    body, eob };
}

/* eom_steps - the message as this milter gets it, from the message as
 * the milters before it left it. */
static void
eom_steps(struct mconn *c)
{
	struct smtpd_milter	*ch = c->ch;
	static const char *const name_i[] = { "i" };
	const char		*val_i[1] = { ch->macro_i };
	uint32_t		 p = c->protocol;
	size_t			 off;

	if (!(p & SMFIP_NODATA)) {
		off = c->out.len;
		milter_put_macros(&c->out, SMFIC_DATA, name_i, val_i, 1);
		milter_put(&c->out, SMFIC_DATA, NULL, 0);
		step_add(c, off, !(p & SMFIP_NR_DATA), false, false, false);
	}
	for (size_t i = 0; !(p & SMFIP_NOHDRS) && i < ch->msg.nh; i++) {
		char	*v = milter_hdr_value(ch->msg.h[i].value);

		off = c->out.len;
		milter_put_header(&c->out, ch->msg.h[i].name, v);
		free(v);
		step_add(c, off, !(p & SMFIP_NR_HDR), true, false, false);
	}
	if (!(p & SMFIP_NOEOH)) {
		off = c->out.len;
		milter_put(&c->out, SMFIC_EOH, NULL, 0);
		step_add(c, off, !(p & SMFIP_NR_EOH), true, false, false);
	}
	for (size_t o = 0; !(p & SMFIP_NOBODY) && o < ch->msg.body.len;
	    o += MILTER_CHUNK) {
		off = c->out.len;
		milter_put(&c->out, SMFIC_BODY, ch->msg.body.data + o,
		    MIN((size_t)MILTER_CHUNK, ch->msg.body.len - o));
		step_add(c, off, !(p & SMFIP_NR_BODY), true, true, false);
	}
	off = c->out.len;
	milter_put_macros(&c->out, SMFIC_BODYEOB, name_i, val_i, 1);
	milter_put(&c->out, SMFIC_BODYEOB, NULL, 0);
	step_add(c, off, true, true, false, true);
}

/* build - the steps of the running job for milter c; false: none. */
static bool
build(struct mconn *c)
{
	struct job	*j = &c->ch->jobs[0];
	bool		 noreply;

	buf_reset(&c->out);
	c->nst = c->cur = 0;
	mods_free(c);
	if (j->phase == PH_EOM) {
		eom_steps(c);
		return true;
	}
	if (j->phase == PH_ABORT) {
		if (!c->in_tx)
			return false;
		buf_append(&c->out, j->pkt.data, j->pkt.len);
		step_add(c, 0, false, false, false, false);
		c->in_tx = false;
		return true;
	}
	if (skipped(c, j->phase, &noreply))
		return false;
	buf_append(&c->out, j->pkt.data, j->pkt.len);
	step_add(c, 0, !noreply, false, false, false);
	if (j->phase == PH_MAIL)
		c->in_tx = true;
	return true;
}

static void
set_timeout(struct mconn *c, uint64_t secs)
{
	struct timeval	 tv = { (time_t)secs, 0 };

	bufferevent_set_timeouts(c->bev, &tv, &tv);
}

static void
start_optneg(struct mconn *c)
{
	struct buf	 b;

	buf_init(&b, 0);
	milter_put_optneg(&b, MILTER_VERSION, MILTER_ACTIONS, MILTER_PROTOCOL);
	bufferevent_write(c->bev, b.data, b.len);
	buf_free(&b);
	c->state = C_OPTNEG;
	c->waiting = true;
	set_timeout(c, c->t_connect);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

static void
start_connect(struct mconn *c)
{
	c->state = C_CONNECTING;
	if (c->is_unix) {
		struct ipc_milter_connect	 m = { c->index };

		if (PROC_SEND(PROC_LOOKUP, IPC_MILTER_CONNECT, c->ch->id, &m,
		    -1) == -1)
			fail(c, "lookup unavailable");
		return;
	}
	if (c->sslen == 0) {
		fail(c, "no address");
		return;
	}
	c->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(c->bev, conn_read, NULL, conn_event, c);
	set_timeout(c, c->t_connect);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&c->ss,
	    (int)c->sslen) == -1)
		fail(c, strerror(errno));
}

/* smtpd_milter_unix_fd - see smtpd_milter.h. */
void
smtpd_milter_unix_fd(struct smtpd_milter *ch, unsigned index, int fd,
    const char *why)
{
	for (size_t i = 0; i < ch->n; i++) {
		struct mconn	*c = &ch->c[i];

		if (c->index != index || c->state != C_CONNECTING ||
		    c->bev != NULL)
			continue;
		if (fd == -1) {
			fail(c, why);
			return;
		}
		evutil_make_socket_nonblocking(fd);
		c->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
		bufferevent_setcb(c->bev, conn_read, NULL, conn_event, c);
		start_optneg(c);
		return;
	}
	if (fd != -1)
		close(fd);
}

/* smtpd_milter_lookup_down - see smtpd_milter.h. */
void
smtpd_milter_lookup_down(struct smtpd_milter *ch)
{
	for (size_t i = 0; i < ch->n; i++)
		if (ch->c[i].is_unix && ch->c[i].state == C_CONNECTING &&
		    ch->c[i].bev == NULL)
			fail(&ch->c[i], "lookup restarted");
}

/* next_milter - carry the running job on with milter ch->cur. */
static void
next_milter(struct smtpd_milter *ch)
{
	enum phase	 ph = ch->jobs[0].phase;

	while (ch->cur < ch->n) {
		struct mconn	*c = &ch->c[ch->cur];

		switch (c->state) {
		case C_IDLE:
			start_connect(c);
			return;		/* fail() or the OPTNEG answer go on */
		case C_CONNECTING:
		case C_OPTNEG:
			return;
		case C_FAILED:
			if (c->def_accept || ph == PH_ABORT) {
				ch->cur++;
				continue;
			}
			ch->res.action = SMTPD_MILTER_REFUSE;
			str_copy(ch->res.reply, REPLY_TEMPFAIL,
			    sizeof(ch->res.reply));
			finish(ch);
			return;
		case C_ACCEPTED:
			ch->cur++;
			continue;
		case C_READY:
			break;
		}
		if ((c->msg_accepted && ph != PH_ABORT) || !build(c)) {
			ch->cur++;
			continue;
		}
		send_steps(c);
		return;
	}
	finish(ch);
}

/* send_steps - write steps up to one that wants a reply; the last one
 * done moves the job to the next milter. */
static void
send_steps(struct mconn *c)
{
	struct smtpd_milter	*ch = c->ch;

	size_t	 from = c->cur < c->nst ? c->st[c->cur].off : 0, to = from;

	while (c->cur < c->nst) {
		struct step	*s = &c->st[c->cur];

		to = s->off + s->len;
		if (s->reply) {
			conn_send(c, c->out.data + from, to - from);
			c->waiting = true;
			set_timeout(c, s->content ? c->t_content :
			    c->t_command);
			return;
		}
		c->cur++;
	}
	conn_send(c, c->out.data + from, to - from);
	ch->cur++;
	next_milter(ch);
}

/*
 * conn_send - the steps that go out together, in one write when the
 * socket takes them (it nearly always does: a step is small and the
 * milter has read the ones before).  Only what the socket refuses goes
 * through the bufferevent, which then waits for the socket to be
 * writable; going through it every time would add and remove the write
 * event, two epoll_ctl calls per step.  Order is kept: the direct write
 * is tried only while nothing is waiting in the bufferevent.
 */
static void
conn_send(struct mconn *c, const char *p, size_t n)
{
	struct evbuffer	*o = bufferevent_get_output(c->bev);
	evutil_socket_t	 fd = bufferevent_getfd(c->bev);

	if (n > 0 && fd != -1 && evbuffer_get_length(o) == 0) {
		ssize_t	 w = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w > 0) {
			p += w;
			n -= (size_t)w;
		}
		/* an error shows again at the bufferevent's own write or read */
	}
	if (n > 0)
		bufferevent_write(c->bev, p, n);
}

/* fail - the milter is gone for the session; its changes with it. */
static void
fail(struct mconn *c, const char *why)
{
	struct smtpd_milter	*ch = c->ch;
	char			 t[96];
	bool			 current = ch->running && ch->cur < ch->n &&
				    &ch->c[ch->cur] == c;

	log_info("%s milter=%s event=milter-error reason=\"%s\" action=%s",
	    tag(ch, t, sizeof(t)), c->name, log_safe(why),
	    c->def_accept ? "accept" : "tempfail");
	conn_close(c);
	mods_free(c);
	c->state = C_FAILED;
	c->in_tx = false;
	if (current)
		next_milter(ch);
}

static void
conn_event(struct bufferevent *bev, short what, void *arg)
{
	struct mconn	*c = arg;

	if (what & BEV_EVENT_CONNECTED) {
		if (c->state == C_CONNECTING)
			start_optneg(c);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT)
		fail(c, "timeout");
	else if (what & BEV_EVENT_EOF)
		fail(c, "connection closed");
	else
		fail(c, evutil_socket_error_to_string(
		    EVUTIL_SOCKET_ERROR()));
}

/* decided - a reply that ends the job for every milter. */
static void
decided(struct mconn *c, enum smtpd_milter_action a, const char *reply,
    const char *word)
{
	struct smtpd_milter	*ch = c->ch;
	struct job		*j = &ch->jobs[0];
	char			 t[96];

	log_info("%s milter=%s event=milter phase=%s%s%s%s action=%s%s%s%s",
	    tag(ch, t, sizeof(t)), c->name, phase_names[j->phase],
	    j->what != NULL ? " addr=<" : "",
	    j->what != NULL ? log_safe(j->what) : "",
	    j->what != NULL ? ">" : "", word,
	    reply != NULL ? " reply=\"" : "",
	    reply != NULL ? log_safe(reply) : "", reply != NULL ? "\"" : "");
	c->waiting = false;
	mods_free(c);
	ch->res.action = a;
	if (reply != NULL)
		str_copy(ch->res.reply, reply, sizeof(ch->res.reply));
	if (j->phase == PH_EOM || j->phase == PH_MAIL)
		for (size_t i = 0; i < ch->n; i++)
			ch->c[i].in_tx = j->phase == PH_MAIL &&
			    a == SMTPD_MILTER_DISCARD && ch->c[i].in_tx;
	finish(ch);
}

static void
strv_push(char ***v, size_t *n, const char *s)
{
	*v = xreallocarray(*v, *n + 1, sizeof(**v));
	(*v)[(*n)++] = xstrdup(s);
}

/* apply - the final reply came: this milter's changes count now. */
static void
apply(struct mconn *c)
{
	struct smtpd_milter		*ch = c->ch;
	struct smtpd_milter_result	*r = &ch->res;
	char				 t[96];

	tag(ch, t, sizeof(t));
	for (size_t i = 0; i < c->nmods; i++) {
		struct mod	*m = &c->mods[i];

		switch (m->cmd) {
		case SMFIR_ADDHEADER:
			milter_msg_add(&ch->msg, m->name, m->value);
			r->edited = true;
			log_info("%s milter=%s event=milter-header action=add "
			    "name=%s", t, c->name, log_safe(m->name));
			break;
		case SMFIR_INSHEADER:
			milter_msg_insert(&ch->msg, m->index, m->name,
			    m->value);
			r->edited = true;
			log_info("%s milter=%s event=milter-header "
			    "action=insert index=%u name=%s", t, c->name,
			    m->index, log_safe(m->name));
			break;
		case SMFIR_CHGHEADER:
			milter_msg_change(&ch->msg, m->index, m->name,
			    m->value);
			r->edited = true;
			log_info("%s milter=%s event=milter-header action=%s "
			    "index=%u name=%s", t, c->name,
			    *m->value == '\0' ? "delete" : "change", m->index,
			    log_safe(m->name));
			break;
		case SMFIR_CHGFROM:
			free(r->sender);
			r->sender = xstrdup(m->addr);
			break;
		case SMFIR_ADDRCPT:
		case SMFIR_ADDRCPT_PAR:
			strv_push(&r->add, &r->nadd, m->addr);
			break;
		case SMFIR_DELRCPT:
			strv_push(&r->del, &r->ndel, m->addr);
			break;
		case SMFIR_QUARANTINE:
			r->quarantine = true;
			str_copy(r->quarantine_why, m->value,
			    sizeof(r->quarantine_why));
			log_info("%s milter=%s event=milter-quarantine "
			    "reason=\"%s\"", t, c->name, log_safe(m->value));
			break;
		}
	}
	if (c->body_replaced) {
		buf_reset(&ch->msg.body);
		buf_append(&ch->msg.body, c->body.data, c->body.len);
		ch->msg.sep = true;
		r->edited = true;
		log_info("%s milter=%s event=milter-body action=replace "
		    "size=%zu", t, c->name, c->body.len);
	}
	mods_free(c);
}

/* modification - keep one change aside; false: not allowed. */
static bool
modification(struct mconn *c, const struct milter_reply *r)
{
	static const struct { char cmd; uint32_t flag; } need[] = {
		{ SMFIR_ADDHEADER, SMFIF_ADDHDRS },
		{ SMFIR_INSHEADER, SMFIF_ADDHDRS },
		{ SMFIR_CHGHEADER, SMFIF_CHGHDRS },
		{ SMFIR_CHGFROM, SMFIF_CHGFROM },
		{ SMFIR_ADDRCPT, SMFIF_ADDRCPT },
		{ SMFIR_ADDRCPT_PAR, SMFIF_ADDRCPT_PAR },
		{ SMFIR_DELRCPT, SMFIF_DELRCPT },
		{ SMFIR_REPLBODY, SMFIF_CHGBODY },
		{ SMFIR_QUARANTINE, SMFIF_QUARANTINE },
	};
	struct mod	*m;

	for (size_t i = 0; i < NELEM(need); i++)
		if (need[i].cmd == r->cmd && !(c->actions & need[i].flag))
			return false;
	if (r->cmd == SMFIR_REPLBODY) {
		if (c->body.len + r->bodylen > config->max_message_size * 2)
			return false;
		buf_append(&c->body, r->body, r->bodylen);
		c->body_replaced = true;
		return true;
	}
	if (c->nmods >= 10000)
		return false;
	c->mods = xreallocarray(c->mods, c->nmods + 1, sizeof(*c->mods));
	m = &c->mods[c->nmods++];
	memset(m, 0, sizeof(*m));
	m->cmd = r->cmd;
	m->index = r->index;
	m->name = r->name != NULL ? xstrdup(r->name) : NULL;
	m->value = xstrdup(r->cmd == SMFIR_QUARANTINE ? r->text :
	    r->value != NULL ? r->value : "");
	m->addr = r->addr != NULL ? xstrdup(r->addr) : NULL;
	return true;
}

/* packet - one packet from the milter. */
static void
packet(struct mconn *c, const struct milter_pkt *p)
{
	struct smtpd_milter	*ch = c->ch;
	struct milter_reply	 r;
	struct step		*s;
	const char		*why;
	char			 t[96];

	if (c->state == C_OPTNEG) {
		uint32_t	 v;

		if (milter_optneg(p, &v, &c->actions, &c->protocol) == -1) {
			fail(c, "bad option negotiation");
			return;
		}
		log_debug("%s milter=%s event=milter-optneg version=%u "
		    "actions=0x%x protocol=0x%x", tag(ch, t, sizeof(t)),
		    c->name, v, c->actions, c->protocol);
		c->state = C_READY;
		c->waiting = false;
		bufferevent_set_timeouts(c->bev, NULL, NULL);
		if (ch->running && &ch->c[ch->cur] == c)
			next_milter(ch);
		return;
	}
	if (!c->waiting || !ch->running || &ch->c[ch->cur] != c) {
		fail(c, "packet out of turn");
		return;
	}
	if (milter_reply_parse(p, &r, &why) == -1) {
		fail(c, why);
		return;
	}
	s = &c->st[c->cur];
	switch (r.cmd) {
	case SMFIR_PROGRESS:
		set_timeout(c, s->content ? c->t_content : c->t_command);
		return;
	case SMFIR_CONTINUE:
		break;
	case SMFIR_SKIP:
		if (!s->body) {
			fail(c, "skip outside the body");
			return;
		}
		while (c->cur + 1 < c->nst && c->st[c->cur + 1].body)
			c->cur++;
		break;
	case SMFIR_ACCEPT:
		if (ch->jobs[0].phase <= PH_HELO)
			c->state = C_ACCEPTED;
		else
			c->msg_accepted = true;
		log_info("%s milter=%s event=milter phase=%s action=accept",
		    tag(ch, t, sizeof(t)), c->name,
		    phase_names[ch->jobs[0].phase]);
		if (s->eob)
			apply(c);
		c->waiting = false;
		c->in_tx = c->in_tx && ch->jobs[0].phase != PH_EOM;
		ch->cur++;
		next_milter(ch);
		return;
	case SMFIR_REJECT:
		decided(c, SMTPD_MILTER_REFUSE, REPLY_REJECT, "reject");
		return;
	case SMFIR_TEMPFAIL:
		decided(c, SMTPD_MILTER_REFUSE, REPLY_TEMPFAIL, "tempfail");
		return;
	case SMFIR_REPLYCODE:
		decided(c, SMTPD_MILTER_REFUSE, r.text, "reply");
		return;
	case SMFIR_DISCARD:
		if (ch->jobs[0].phase == PH_RCPT || ch->jobs[0].phase ==
		    PH_MAIL || ch->jobs[0].phase == PH_EOM)
			decided(c, SMTPD_MILTER_DISCARD, NULL, "discard");
		else
			decided(c, SMTPD_MILTER_REFUSE, REPLY_REJECT,
			    "discard");
		return;
	default:
		if (!s->eob) {
			fail(c, "modification before the end of message");
			return;
		}
		if (!modification(c, &r))
			fail(c, "modification not negotiated or too large");
		return;
	}
	c->waiting = false;
	if (s->eob)
		apply(c);
	c->cur++;
	bufferevent_set_timeouts(c->bev, NULL, NULL);
	send_steps(c);
}

static void
conn_read(struct bufferevent *bev, void *arg)
{
	struct mconn	*c = arg;
	struct evbuffer	*in = bufferevent_get_input(bev);

	while (c->bev == bev && c->state != C_FAILED) {
		unsigned char		 h[4];
		struct milter_pkt	 p;
		size_t			 have = evbuffer_get_length(in), n;
		long			 r;

		if (have < 4)
			return;
		evbuffer_copyout(in, h, 4);
		r = milter_frame(h, 4, MILTER_PACKET_MAX, &p);
		if (r == -1) {
			fail(c, "oversized or empty packet");
			return;
		}
		n = ((size_t)h[0] << 24 | (size_t)h[1] << 16 |
		    (size_t)h[2] << 8 | h[3]) + 4;
		if (have < n)
			return;
		r = milter_frame(evbuffer_pullup(in, (ssize_t)n), n,
		    MILTER_PACKET_MAX, &p);
		if (r != (long)n) {
			fail(c, "bad packet");
			return;
		}
		packet(c, &p);
		if (c->bev == bev)
			evbuffer_drain(in, n);
	}
}
