/*
 * queue_ctl.c - the queue's control socket, state_dir/control, which
 * "postbote queue" (cmd_queue.c) talks to: list, show, flush, delete,
 * hold and release, as ipc.c frames with the IPC_CTL_* types.
 *
 * The parent binds the socket at start (the queue process runs as `user`
 * and may not write in state_dir), mode 0600 and owned by `user`; the
 * queue process inherits it and serves it on its loop, acting on the
 * queue through the scheduler's API (queue_sched.h).  Trust: only root
 * and `user` can connect (the file mode, checked again with SO_PEERCRED),
 * but a request is still a peer's frame: it is bounds-checked and an id
 * is only ever looked up, never used in a path here.  Every request is
 * logged once, with the caller's uid.
 *
 * The submission socket, state_dir/submit (mode 0666), takes local mail
 * from any user ("postbote send", sendmail): only IPC_CTL_SUBMIT, whose
 * envelope is checked here as strictly as smtpd checks SMTP (addresses
 * parsed, CRLF-only text, size limit) and whose client is recorded as
 * "local uid=N" from SO_PEERCRED, never from what the caller says;
 * queue_submit.c answers through the completion given with the request.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <stdio.h>
#include <sysexits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "mail/addr.h"
#include "common/conf.h"
#include "common/control.h"
#include "lib/ipc_proto.h"
#include "lib/log.h"
#include "common/proc.h"
#include "mail/requiretls.h"
#include "mail/smtp_parse.h"
#include "queue/queue_ctl.h"
#include "queue/queue_sched.h"
#include "queue/queue_submit.h"
#include "queue/queue_tlsrpt.h"
#include "queue/spool.h"
#include "lib/util.h"

#define CTL_CONNS_MAX	16		/* admin connections at a time */
#define SUBMIT_CONNS_MAX 64		/* submissions at a time, and */
#define SUBMIT_PER_UID	8		/* ... of one user: a local user
					 * cannot crowd out the others */
#define CTL_CHUNK	(1024 * 1024)	/* LIST_REPLY frames close at this */
#define CTL_ENTRY_MAX	(4 * 1024 * 1024) /* recipients listed per entry */

struct ctl_conn {
	struct ctl_conn	*next;
	struct ipc_chan	*chan;
	unsigned	 uid;
	uint64_t	 serial;	/* names it for a later reply */
	bool		 submit_only;	/* from state_dir/submit */
};

struct ctl_req {
	uint16_t	 type;
	const char	*name;
	void		(*run)(struct ctl_conn *, const struct ctl_req *,
			    struct ipc_msg *);
	int		(*act)(const char *, const char **);
};

struct collect {
	struct queue_sched_entry *v;
	size_t			 n, cap;
};

struct waiting {			/* a submission, until it is durable */
	uint64_t	 serial;	/* of its connection */
	uint64_t	 reqid;
};

static void	 run_list(struct ctl_conn *, const struct ctl_req *,
		    struct ipc_msg *);
static void	 run_body(struct ctl_conn *, const struct ctl_req *,
		    struct ipc_msg *);
static void	 run_show(struct ctl_conn *, const struct ctl_req *,
		    struct ipc_msg *);
static void	 run_flush(struct ctl_conn *, const struct ctl_req *,
		    struct ipc_msg *);
static void	 run_action(struct ctl_conn *, const struct ctl_req *,
		    struct ipc_msg *);
static void	 run_submit(struct ctl_conn *, const struct ctl_req *,
		    struct ipc_msg *);
static bool	 is_crowded(bool, unsigned);
static void	 submitted(void *, bool, const char *, int);
static int	 hand_over(struct ctl_conn *, uint64_t, struct envelope *,
		    const struct buf *, const char **);

static void	 run_tlsrpt(struct ctl_conn *, const struct ctl_req *,
		    struct ipc_msg *);

static const struct ctl_req reqs[] = {
	{ IPC_CTL_LIST, "list", run_list, NULL },
	{ IPC_CTL_SHOW, "show", run_show, NULL },
	{ IPC_CTL_BODY, "body", run_body, NULL },
	{ IPC_CTL_FLUSH, "flush", run_flush, NULL },
	{ IPC_CTL_DELETE, "delete", run_action, queue_sched_delete },
	{ IPC_CTL_HOLD, "hold", run_action, queue_sched_hold },
	{ IPC_CTL_RELEASE, "release", run_action, queue_sched_release },
	{ IPC_CTL_SUBMIT, "submit", run_submit, NULL },
	{ IPC_CTL_TLSRPT_SHOW, "tlsrpt-show", run_tlsrpt, NULL },
	{ IPC_CTL_TLSRPT_SEND, "tlsrpt-send", run_tlsrpt, NULL },
};

static struct event_base *base;
static struct event	*accept_ev, *resume_ev, *submit_ev;
static struct ctl_conn	*conns;
static unsigned		 nconns[2];	/* [submit_only] */
static uint64_t		 last_serial;

/* ---- queue process: replies and logging ---- */

static bool
is_queue_id(const char *id)
{
	if (strlen(id) != QUEUE_ID_LEN)
		return false;
	for (; *id != '\0'; id++)
		if (!((*id >= '0' && *id <= '9') || (*id >= 'A' && *id <= 'F')))
			return false;
	return true;
}

/* log_req - the one log line of a request; detail is key=value text. */
static void
log_req(const struct ctl_conn *c, const char *req, const char *id,
    bool ok, const char *detail)
{
	const char	*res = ok ? "ok" : "error";

	if (id != NULL && is_queue_id(id))
		log_info("%s: event=control request=%s uid=%u result=%s%s", id,
		    req, c->uid, res, detail);
	else if (id != NULL)
		log_info("event=control request=%s id=\"%s\" uid=%u "
		    "result=%s%s", req, log_safe(id), c->uid, res, detail);
	else
		log_info("event=control request=%s uid=%u result=%s%s", req,
		    c->uid, res, detail);
}

static void
reply(struct ctl_conn *c, uint64_t reqid, bool ok, const char *text)
{
	struct ipc_reply	r = { ok, text };

	ipc_proto_send(c->chan, IPC_CTL_REPLY, reqid, &r, sizeof(r), -1);
}

/* capped - the bytes a string takes in a frame: the codec cuts it at
 * IPC_CTL_STR_MAX. */
static size_t
capped(const char *s)
{
	return 5 + (s != NULL ? MIN(strlen(s), (size_t)IPC_CTL_STR_MAX) : 0);
}

/*
 * entry_of - one message as LIST_REPLY and SHOW carry it; the strings
 * point into the queue's envelope (valid until the queue changes), the
 * recipients' array is the caller's to free.  Past CTL_ENTRY_MAX bytes
 * the remaining recipients are only counted.  Returns the bytes it takes
 * in a frame, about.
 */
static size_t
entry_of(const struct queue_sched_entry *e, struct ipc_ctl_entry *o)
{
	const struct envelope	*env = e->env;
	size_t			 size = 64 + capped(env->sender);

	o->id = e->id;
	o->sender = env->sender;
	o->arrival = env->arrival;
	o->size = env->size;
	o->flags = (e->held ? CONTROL_HELD : 0) |
	    (e->inflight ? CONTROL_INFLIGHT : 0);
	o->nrcpt = (uint32_t)env->nrcpt;
	o->rcpts = xcalloc(env->nrcpt ? env->nrcpt : 1, sizeof(*o->rcpts));
	for (o->nrcpts = 0; o->nrcpts < env->nrcpt && size < CTL_ENTRY_MAX;
	    o->nrcpts++) {
		const struct env_rcpt	*r = &env->rcpts[o->nrcpts];
		struct ipc_ctl_rcpt	*c = &o->rcpts[o->nrcpts];

		c->addr = r->addr;
		c->orig = r->orig;
		c->state = (uint32_t)r->state;
		c->status = r->status;
		size += capped(r->addr) + capped(r->orig) + 4 +
		    capped(r->status);
	}
	return size;
}

/* ---- queue process: the requests ---- */

static void
collect_one(const struct queue_sched_entry *e, void *arg)
{
	struct collect	*col = arg;

	if (col->n == col->cap) {
		col->cap = col->cap ? col->cap * 2 : 64;
		col->v = xreallocarray(col->v, col->cap, sizeof(*col->v));
	}
	col->v[col->n++] = *e;
}

static int
by_id(const void *a, const void *b)
{
	return strcmp(((const struct queue_sched_entry *)a)->id,
	    ((const struct queue_sched_entry *)b)->id);
}

/* send_list - one IPC_CTL_LIST_REPLY frame; its entries are freed. */
static void
send_list(struct ctl_conn *c, uint64_t reqid, bool more,
    struct ipc_ctl_entry *v, size_t n)
{
	struct ipc_ctl_list_reply	r = { more, v, n };

	ipc_proto_send(c->chan, IPC_CTL_LIST_REPLY, reqid, &r, sizeof(r), -1);
	for (size_t i = 0; i < n; i++)
		free(v[i].rcpts);
}

/* run_list - every message, sorted by id (that is, by arrival), in
 * frames of about CTL_CHUNK bytes; the last has more = 0. */
static void
run_list(struct ctl_conn *c, const struct ctl_req *rq, struct ipc_msg *im)
{
	struct collect		 col = { 0 };
	struct ipc_ctl_entry	*v;
	size_t			 n = 0, size = 0;
	char			 detail[32];

	queue_sched_foreach(collect_one, &col);
	if (col.n > 0)
		qsort(col.v, col.n, sizeof(*col.v), by_id);
	v = xcalloc(col.n ? col.n : 1, sizeof(*v));
	for (size_t i = 0; i < col.n; i++) {
		size += entry_of(&col.v[i], &v[n++]);
		if (size >= CTL_CHUNK) {
			send_list(c, im->id, true, v, n);
			n = size = 0;
		}
	}
	send_list(c, im->id, false, v, n);
	free(v);
	snprintf(detail, sizeof(detail), " messages=%zu", col.n);
	log_req(c, rq->name, NULL, true, detail);
	free(col.v);
}

/* read_headers - the header block from the data file, at most
 * CONTROL_HEADERS_MAX bytes, into b, after the fields delivery writes
 * first; true when it was cut.  A small read on the loop: the file was
 * written moments or more ago and is in the page cache. */
static bool
read_headers(struct buf *b, const char *id, const char *prepend)
{
	struct buf	 h;
	int		 fd = spool_open_data(id);
	size_t		 cap = CONTROL_HEADERS_MAX + 1;
	ssize_t		 r;
	const char	*end;
	bool		 cut = false;

	buf_init(&h, 0);
	/* One byte more than is sent, to know whether it was cut. */
	if (fd != -1 && buf_reserve(&h, cap) == 0)
		while (h.len < cap) {
			r = pread(fd, h.data + h.len, cap - h.len,
			    (off_t)h.len);
			if (r == -1 && errno == EINTR)
				continue;
			if (r <= 0)
				break;
			h.len += (size_t)r;
		}
	if (fd != -1)
		close(fd);
	if (h.len > 0 && (end = memmem(h.data, MIN(h.len,
	    CONTROL_HEADERS_MAX), "\r\n\r\n", 4)) != NULL)
		h.len = (size_t)(end - h.data) + 2;
	else if (h.len > CONTROL_HEADERS_MAX) {
		h.len = CONTROL_HEADERS_MAX;
		cut = true;
	}
	/* Delivery writes the prepend first (envelope 'X'): show it so. */
	if (prepend != NULL)
		buf_append(b, prepend, strlen(prepend));
	buf_append(b, h.data != NULL ? h.data : "", h.len);
	buf_free(&h);
	return cut;
}

/* run_show - one message: its entry, the rest of its envelope, and its
 * header block (IPC_CTL_SHOW_REPLY). */
static void
run_show(struct ctl_conn *c, const struct ctl_req *rq, struct ipc_msg *im)
{
	struct ipc_id			 q;
	struct queue_sched_entry	 e;
	struct ipc_ctl_show_reply	 r = { 0 };
	struct buf			 h;

	r.text = r.helo = r.client = r.client_name = r.auth = r.envid = "";
	r.entry.id = r.entry.sender = "";
	if (IPC_DECODE(im, &q, NULL) == -1 ||
	    queue_sched_lookup(q.id, &e) == -1) {
		r.text = "no such message";
		ipc_proto_send(c->chan, IPC_CTL_SHOW_REPLY, im->id, &r,
		    sizeof(r), -1);
		log_req(c, rq->name, q.id, false,
		    " reason=\"no such message\"");
		return;
	}
	buf_init(&h, 0);
	r.ok = 1;
	entry_of(&e, &r.entry);
	r.helo = e.env->helo;
	r.client = e.env->client;
	r.client_name = e.env->client_name;
	r.auth = e.env->auth;
	r.envid = e.env->envid;
	r.tls_req = (uint32_t)e.env->tls_req;
	r.attempts = e.env->attempts;
	r.next_attempt = e.env->next_attempt;
	r.cut = read_headers(&h, e.id, e.env->prepend);
	r.headers.p = h.data;
	r.headers.len = h.len;
	ipc_proto_send(c->chan, IPC_CTL_SHOW_REPLY, im->id, &r, sizeof(r),
	    -1);
	free(r.entry.rcpts);
	buf_free(&h);
	log_req(c, rq->name, q.id, true, "");
}

/* run_body - one message's data file, read-only, as the reply's fd: the
 * command prints it ("queue show ID --body"); nothing large crosses the
 * loop. */
static void
run_body(struct ctl_conn *c, const struct ctl_req *rq, struct ipc_msg *im)
{
	struct ipc_id			 q = { "" };
	struct queue_sched_entry	 e;
	struct ipc_ctl_body_reply	 r = { 0, "no such message", "" };
	int				 fd = -1;

	if (IPC_DECODE(im, &q, NULL) == 0 &&
	    queue_sched_lookup(q.id, &e) == 0) {
		if ((fd = spool_open_data(e.id)) == -1)
			r.text = "cannot open its data file";
		else {
			r.ok = 1;
			r.text = "";
			r.prepend = e.env->prepend != NULL ? e.env->prepend :
			    "";
		}
	}
	ipc_proto_send(c->chan, IPC_CTL_BODY_REPLY, im->id, &r, sizeof(r),
	    fd);
	log_req(c, rq->name, q.id, r.ok != 0, r.ok ? "" :
	    " reason=\"no such message\"");
}

static void
run_flush(struct ctl_conn *c, const struct ctl_req *rq, struct ipc_msg *im)
{
	struct ipc_id	 q;
	const char	*id, *why = "bad request";
	unsigned	 n = 0;
	char		 text[64], detail[64];
	int		 rc = -1;

	if (IPC_DECODE(im, &q, NULL) == 0)
		rc = queue_sched_flush(*q.id != '\0' ? q.id : NULL, &n, &why);
	id = q.id != NULL ? q.id : "";
	if (rc == -1) {
		reply(c, im->id, false, why);
		snprintf(detail, sizeof(detail), " reason=\"%s\"", why);
	} else {
		snprintf(text, sizeof(text), "%u message%s scheduled now", n,
		    n == 1 ? "" : "s");
		reply(c, im->id, true, text);
		snprintf(detail, sizeof(detail), " messages=%u", n);
	}
	log_req(c, rq->name, *id != '\0' ? id : NULL, rc == 0, detail);
}

/* run_tlsrpt - the TLS-RPT counts as JSON, or the reports of the days
 * that have ended sent now (queue_tlsrpt.c). */
static void
run_tlsrpt(struct ctl_conn *c, const struct ctl_req *rq, struct ipc_msg *im)
{
	struct ipc_empty q;
	struct buf	 out;
	char		 detail[64] = "";

	if (IPC_DECODE(im, &q, NULL) == -1) {
		reply(c, im->id, false, "bad request");
		log_req(c, rq->name, NULL, false, " reason=\"bad request\"");
		return;
	}
	buf_init(&out, 0);
	if (rq->type == IPC_CTL_TLSRPT_SHOW)
		queue_tlsrpt_show(&out);
	else {
		unsigned ndays, n = queue_tlsrpt_send(&ndays);

		buf_printf(&out, "reports of %u policy domain%s of %u ended "
		    "day%s are being sent; the current day's go after its end "
		    "(00:00 UTC)", n, n == 1 ? "" : "s", ndays,
		    ndays == 1 ? "" : "s");
		snprintf(detail, sizeof(detail), " domains=%u days=%u", n,
		    ndays);
	}
	if (out.len > IPC_MAX_PAYLOAD / 2) {
		buf_reset(&out);
		buf_printf(&out, "the counts are too large to show here; see "
		    "the reports");
		reply(c, im->id, false, buf_cstr(&out));
	} else
		reply(c, im->id, true, buf_cstr(&out));
	buf_free(&out);
	log_req(c, rq->name, NULL, true, detail);
}

/* run_action - delete, hold or release one message. */
static void
run_action(struct ctl_conn *c, const struct ctl_req *rq, struct ipc_msg *im)
{
	struct ipc_id	 q;
	const char	*why = "bad request";
	char		 detail[96];
	int		 rc = -1;

	if (IPC_DECODE(im, &q, NULL) == 0)
		rc = rq->act(q.id, &why);
	reply(c, im->id, rc == 0, why);
	snprintf(detail, sizeof(detail), " %s=\"%s\"",
	    rc == 0 ? "note" : "reason", why);
	log_req(c, rq->name, q.id != NULL ? q.id : "", rc == 0, detail);
}

/* ---- queue process: local submission ---- */

/* submit_reply - IPC_CTL_SUBMIT_REPLY: the queue id or the reason, and
 * the sysexits.h code the client exits with. */
static void
submit_reply(struct ctl_conn *c, uint64_t reqid, bool ok, const char *text,
    int code)
{
	struct ipc_ctl_submit_reply	r = { ok, text, (uint32_t)code };

	ipc_proto_send(c->chan, IPC_CTL_SUBMIT_REPLY, reqid, &r, sizeof(r),
	    -1);
}

/* submitted - a submission's end (queue_submit.h): the answer goes to
 * its connection, found again by serial, if it is still there. */
static void
submitted(void *arg, bool ok, const char *text, int code)
{
	struct waiting	*w = arg;
	struct ctl_conn	*c;

	for (c = conns; c != NULL && c->serial != w->serial; c = c->next)
		;
	if (c != NULL)		/* else the caller went away: no one to tell */
		submit_reply(c, w->reqid, ok, text, code);
	free(w);
}

/* is_crlf_text - only CRLF line ends, no NUL, ends with CRLF (the
 * client converts LF; what reaches the spool is what SMTP would). */
static bool
is_crlf_text(const char *p, size_t len)
{
	if (len < 2 || p[len - 2] != '\r' || p[len - 1] != '\n')
		return false;
	for (size_t i = 0; i < len; i++) {
		if (p[i] == '\0')
			return false;
		if (p[i] == '\r' && (i + 1 == len || p[i + 1] != '\n'))
			return false;
		if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r'))
			return false;
	}
	return true;
}

static bool
is_8bit(const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)p[i] >= 0x80)
			return true;
	return false;
}

/* submit_addr - parse one address (sender may be ""); the canonical
 * form, allocated, or NULL. */
static char *
submit_addr(const char *s, bool null_ok, bool *utf8)
{
	struct mailaddr	a;
	char		out[ADDR_LOCAL_MAX + ADDR_DOMAIN_MAX + 8];

	if (*s == '\0')
		return null_ok ? xstrdup("") : NULL;
	if (addr_parse(s, ADDR_F_UTF8, &a) != ADDR_OK || a.domain[0] == '\0' ||
	    addr_format(&a, out, sizeof(out)) >= sizeof(out))
		return NULL;
	if (!addr_is_ascii(&a))
		*utf8 = true;
	return xstrdup(out);
}

/* submit_envelope - the envelope of a request; 0, or -1 with *why and
 * *code set.  env is the caller's to free either way. */
static int
submit_envelope(struct ctl_conn *c, const struct ipc_ctl_submit *q,
    struct envelope *env, const char **why, int *code)
{
	size_t	n = q->nrcpts;

	*code = EX_DATAERR;
	if (n == 0 || n > config->max_recipients) {
		*why = n == 0 ? "no recipients" : "too many recipients";
		*code = n == 0 ? EX_USAGE : EX_DATAERR;
		return -1;
	}
	if ((env->sender = submit_addr(q->sender, true, &env->smtputf8)) ==
	    NULL) {
		*why = "bad sender address";
		return -1;
	}
	env->rcpts = xcalloc(n, sizeof(*env->rcpts));
	for (size_t i = 0; i < n; i++) {
		struct env_rcpt	*r = &env->rcpts[i];

		r->addr = submit_addr(q->rcpts[i].addr, false,
		    &env->smtputf8);
		if (r->addr == NULL) {
			*why = "bad recipient address";
			*code = EX_NOUSER;
			return -1;
		}
		env->nrcpt++;
	}
	xasprintf(&env->client, "local uid=%u", c->uid);
	return 0;
}

/* received - the trace header of a local submission (RFC 5321 4.4). */
static void
received(struct buf *b, unsigned uid)
{
	time_t		t = time(NULL);
	struct tm	tm;
	char		date[64];

	gmtime_r(&t, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	buf_printf(b, "Received: by %s (postbote, from userid %u);\r\n"
	    "\t%s\r\n", config->hostname, uid, date);
}

/* hand_over - the checked submission to queue_submit.c, which answers
 * through submitted; EX_OK, or the code of a refusal now (*why set). */
static int
hand_over(struct ctl_conn *c, uint64_t reqid, struct envelope *env,
    const struct buf *msg, const char **why)
{
	struct waiting	*w = xcalloc(1, sizeof(*w));
	int		 code;

	w->serial = c->serial;
	w->reqid = reqid;
	if (queue_submit(env, msg->data, msg->len, submitted, w, why,
	    &code) == 0)
		return EX_OK;
	free(w);
	return code;
}

/* run_submit - IPC_CTL_SUBMIT: sender, recipients, message (CRLF
 * text).  Answered by submit_reply, now when refused, else once the
 * message is durable (submitted). */
static void
run_submit(struct ctl_conn *c, const struct ctl_req *rq, struct ipc_msg *im)
{
	struct ipc_ctl_submit	 q;
	struct envelope		 env = { 0 };
	const char		*why = "malformed request", *data;
	size_t			 len = 0;
	struct buf		 msg;
	char			 detail[96];
	int			 code = EX_DATAERR;

	buf_init(&msg, 0);
	if (IPC_DECODE(im, &q, NULL) == 0 &&
	    submit_envelope(c, &q, &env, &why, &code) == 0) {
		data = q.message.p;
		len = q.message.len;
		code = EX_DATAERR;
		if (len > config->max_message_size)
			why = "message too big (max_message_size)";
		else if (!is_crlf_text(data, len))
			why = "message is not CRLF text (bare CR, LF or NUL)";
		else {
			received(&msg, c->uid);
			buf_append(&msg, data, len);
			env.body = is_8bit(data, len) ? SMTP_BODY_8BITMIME :
			    SMTP_BODY_7BIT;
			/* RFC 8689 5, as smtpd does at end of data */
			if (requiretls_header_no(data, len))
				env.tls_req = ENV_TLS_OPTIONAL;
			code = hand_over(c, im->id, &env, &msg, &why);
		}
	}
	envelope_free(&env);
	ipc_proto_free(IPC_CTL_SUBMIT, &q);
	buf_free(&msg);
	if (code != EX_OK) {
		submit_reply(c, im->id, false, why, code);
		snprintf(detail, sizeof(detail), " reason=\"%s\"", why);
	} else
		snprintf(detail, sizeof(detail), " size=%zu", len);
	log_req(c, rq->name, NULL, code == EX_OK, detail);
}

/* ---- queue process: connections ---- */

static void
conn_msg(struct ipc_chan *chan, struct ipc_msg *im, void *arg)
{
	struct ctl_conn	*c = arg;

	if (im->fd != -1)
		close(im->fd);
	for (size_t i = 0; i < NELEM(reqs); i++)
		if (reqs[i].type == im->type && (!c->submit_only ||
		    im->type == IPC_CTL_SUBMIT)) {
			reqs[i].run(c, &reqs[i], im);
			return;
		}
	log_warn("event=control-error uid=%u reason=\"unexpected %s\"",
	    c->uid, ipc_type_str(im->type));
	reply(c, im->id, false, "unknown request");
}

static void
conn_closed(struct ipc_chan *chan, void *arg)
{
	struct ctl_conn	*c = arg, **pp;

	for (pp = &conns; *pp != NULL && *pp != c; pp = &(*pp)->next)
		;
	if (*pp != NULL)
		*pp = c->next;
	nconns[c->submit_only]--;
	ipc_chan_free(chan);
	free(c);
}

/* peer_uid - who connected; -1 if it may not (only root and us, unless
 * anyone may). */
static long
peer_uid(int fd, bool anyone)
{
	struct ucred	cred;
	socklen_t	len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1)
		return -1;
	if (!anyone && cred.uid != 0 && cred.uid != geteuid()) {
		log_warn("event=control-refused uid=%u", (unsigned)cred.uid);
		return -1;
	}
	return (long)cred.uid;
}

/* is_crowded - no room for another connection of this kind (or, on the
 * submission socket, of this non-root user). */
static bool
is_crowded(bool submit, unsigned uid)
{
	unsigned	n = 0;

	if (!submit)
		return nconns[0] >= CTL_CONNS_MAX;
	if (nconns[1] >= SUBMIT_CONNS_MAX)
		return true;
	for (const struct ctl_conn *c = conns; c != NULL; c = c->next)
		if (c->submit_only && c->uid == uid)
			n++;
	return uid != 0 && n >= SUBMIT_PER_UID;
}

static void
resume_accept(evutil_socket_t fd, short ev, void *arg)
{
	event_add(accept_ev, NULL);
	if (submit_ev != NULL)
		event_add(submit_ev, NULL);
}

static void
on_accept(evutil_socket_t lfd, short ev, void *arg)
{
	for (;;) {
		int		 fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK |
		    SOCK_CLOEXEC);
		long		 uid;
		struct ctl_conn	*c;

		if (fd == -1) {
			if (errno == EMFILE || errno == ENFILE) {
				/* Out of descriptors: pause, or spin. */
				struct timeval tv = { 1, 0 };

				log_warn("event=control-error error=\"%s\"",
				    strerror(errno));
				event_del(accept_ev);
				if (submit_ev != NULL)
					event_del(submit_ev);
				evtimer_add(resume_ev, &tv);
			}
			return;
		}
		if ((uid = peer_uid(fd, arg != NULL)) == -1 ||
		    is_crowded(arg != NULL, (unsigned)uid)) {
			if (uid != -1)
				log_warn("event=control-refused reason=\"too "
				    "many connections\"");
			close(fd);
			continue;
		}
		c = xcalloc(1, sizeof(*c));
		c->uid = (unsigned)uid;
		c->serial = ++last_serial;
		c->submit_only = arg != NULL;
		c->chan = ipc_chan_new(base, fd, -1, conn_msg, conn_closed, c);
		c->next = conns;
		conns = c;
		nconns[c->submit_only]++;
	}
}

/* queue_ctl_init - serve the inherited listening sockets. */
void
queue_ctl_init(struct event_base *b, int fd, int submit_fd)
{
	static int	submit_tag;

	if (fd == -1)
		return;
	base = b;
	accept_ev = event_new(b, fd, EV_READ | EV_PERSIST, on_accept, NULL);
	resume_ev = evtimer_new(b, resume_accept, NULL);
	if (accept_ev == NULL || resume_ev == NULL)
		fatalx("queue_ctl: event_new failed");
	event_add(accept_ev, NULL);
	if (submit_fd == -1)
		return;
	/* arg != NULL marks the submission socket's connections. */
	submit_ev = event_new(b, submit_fd, EV_READ | EV_PERSIST, on_accept,
	    &submit_tag);
	if (submit_ev == NULL)
		fatalx("queue_ctl: event_new failed");
	event_add(submit_ev, NULL);
}
