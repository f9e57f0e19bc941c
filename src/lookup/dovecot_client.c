/*
 * dovecot_client.c - lookup's client of Dovecot's auth service, with the
 * authentication protocol 1.x (mail/dovecot_auth.c): a password check on
 * the auth-client socket (handshake, AUTH PLAIN with the response, or
 * AUTH LOGIN answering two CONTs; OK or FAIL) and a mailbox lookup on the
 * auth-userdb socket (USER; USER, NOTFOUND or FAIL).  Other mechanisms
 * (auth_mechanisms) are relayed step by step for a session: its
 * responses go out as CONT, Dovecot's CONTs come back as challenges.
 * One connection per check, so a restarted Dovecot or a changed password applies at the
 * next one.  Dovecot is a local peer we trust to decide, not to be
 * well-formed: lines are bounded (DOVECOT_LINE_MAX), parsed strictly, and
 * whatever is not a clear answer within DOVECOT_TIMEOUT (connect refused,
 * a closed socket, a bad line, FAIL with temp) is DOVECOT_TEMP, never a
 * yes.  Passwords are wiped when sent and never logged.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "lib/base64.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lookup/dovecot_client.h"
#include "mail/dovecot_auth.h"
#include "mail/sasl.h"

#define DOVECOT_TIMEOUT		10	/* seconds for a whole check */
#define DOVECOT_ID		1	/* one request per connection */
#define DOVECOT_CLIENT_WAIT	330	/* seconds for a relayed client's
					 * response (smtpd's own timeout
					 * ends the session before) */

enum dv_kind { DV_K_AUTH, DV_K_USER, DV_K_RELAY };
enum dv_state { DV_S_HANDSHAKE, DV_S_ANSWER };

struct dv_conn {
	enum dv_kind		 kind;
	enum dv_state		 state;
	struct bufferevent	*bev;
	struct event		*timer;
	char			*target;	/* for logs */
	char			 mech[DOVECOT_MECH_MAX + 1];
	bool			 has_plain, has_login, version_ok;
	unsigned		 conts;		/* LOGIN's steps so far */
	char			 user[SASL_USER_MAX + 1];
	char			 pass[SASL_PASS_MAX + 1];
	char			 rip[64];
	bool			 secured;
	int			 err;		/* connect's errno */
	dovecot_client_cb	 cb;
	void			*arg;		/* NULL: no step pending */
	uint64_t		 relay_id;	/* DV_K_RELAY: the session */
	bool			 mech_offered;
	char			*resp;		/* the first response */
	struct dv_conn		*next;		/* relays */
};

static struct event_base	*base;
static struct dv_conn		*relays;

static void	 conn_read(struct bufferevent *, void *);
static void	 conn_event(struct bufferevent *, short, void *);
static void	 conn_timeout(evutil_socket_t, short, void *);
static void	 connect_failed(evutil_socket_t, short, void *);

void
dovecot_client_init(struct event_base *b)
{
	base = b;
}

/* finish - the one answer; then the connection goes. */
static void
finish(struct dv_conn *c, enum dovecot_verdict v, const char *login,
    const char *why)
{
	struct dv_conn	**pp;

	if (v == DOVECOT_TEMP && why != NULL)
		log_warn("event=dovecot-error socket=%s reason=\"%s\"",
		    log_safe(c->target), log_safe(why));
	if (c->arg != NULL)
		c->cb(c->arg, v, login);
	for (pp = &relays; *pp != NULL; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	if (c->resp != NULL) {
		explicit_bzero(c->resp, strlen(c->resp));
		free(c->resp);
	}
	if (c->bev != NULL)
		bufferevent_free(c->bev);
	event_free(c->timer);
	free(c->target);
	explicit_bzero(c, sizeof(*c));
	free(c);
}

static struct dv_conn *
conn_open(const struct conf_deliver *sock, enum dv_kind kind,
    dovecot_client_cb cb, void *arg)
{
	struct dv_conn		*c = xcalloc(1, sizeof(*c));
	struct sockaddr_storage	 ss;
	socklen_t		 len = conf_deliver_sockaddr(sock, &ss);
	struct timeval		 tv = { DOVECOT_TIMEOUT, 0 };

	c->kind = kind;
	c->cb = cb;
	c->arg = arg;
	c->target = xstrdup(sock->target);
	c->timer = evtimer_new(base, conn_timeout, c);
	evtimer_add(c->timer, &tv);
	c->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(c->bev, conn_read, NULL, conn_event, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&ss,
	    (int)len) == -1) {
		/* A missing socket fails at once: answer from the loop. */
		c->err = errno != 0 ? errno : EIO;
		event_assign(c->timer, base, -1, 0, connect_failed, c);
		event_active(c->timer, EV_TIMEOUT, 0);
	}
	return c;
}

static void
connect_failed(evutil_socket_t fd, short ev, void *arg)
{
	struct dv_conn	*c = arg;
	char		 why[128];

	snprintf(why, sizeof(why), "connect: %s", strerror(c->err));
	finish(c, DOVECOT_TEMP, NULL, why);
}

static void
conn_timeout(evutil_socket_t fd, short ev, void *arg)
{
	finish(arg, DOVECOT_TEMP, NULL, "timeout");
}

static void
conn_event(struct bufferevent *bev, short what, void *arg)
{
	struct dv_conn	*c = arg;
	char		 why[128];

	if (what & BEV_EVENT_CONNECTED)
		return;
	if (what & BEV_EVENT_EOF)
		finish(c, DOVECOT_TEMP, NULL, "connection closed");
	else {
		snprintf(why, sizeof(why), "%s",
		    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		finish(c, DOVECOT_TEMP, NULL, why);
	}
}

/* send_buf - queue b's bytes and wipe them (they may hold a password). */
static void
send_buf(struct dv_conn *c, struct buf *b)
{
	bufferevent_write(c->bev, b->data, b->len);
	explicit_bzero(b->data, b->len);
	buf_free(b);
}

/* send_b64_cont - CONT with the base64 of s (LOGIN's user, then password). */
static void
send_b64_cont(struct dv_conn *c, const char *s)
{
	struct buf	 enc, b;

	buf_init(&enc, 0);
	buf_init(&b, 0);
	base64_encode(s, strlen(s), &enc);
	dovecot_auth_cont(&b, DOVECOT_ID, buf_cstr(&enc));
	send_buf(c, &b);
	explicit_bzero(enc.data, enc.len);
	buf_free(&enc);
}

/* send_auth - after DONE: AUTH with the mechanism both sides have. */
static int
send_auth(struct dv_conn *c)
{
	struct dovecot_auth_info info = { "smtp", c->rip, c->secured };
	struct buf		 b, raw, enc;
	size_t			 ul = strlen(c->user), pl = strlen(c->pass);
	bool			 login;

	if (c->kind == DV_K_RELAY) {
		if (!c->mech_offered)
			return -1;
		buf_init(&b, 0);
		dovecot_auth_request(&b, DOVECOT_ID, c->mech, &info,
		    c->resp);
		send_buf(c, &b);
		c->state = DV_S_ANSWER;
		return 0;
	}
	login = c->has_login && (strcmp(c->mech, "LOGIN") == 0 ||
	    !c->has_plain);
	if (!login && !c->has_plain)
		return -1;
	buf_init(&b, 0);
	if (login) {
		str_copy(c->mech, "LOGIN", sizeof(c->mech));
		dovecot_auth_request(&b, DOVECOT_ID, "LOGIN", &info, NULL);
	} else {
		/* RFC 4616: empty authzid, NUL, authcid, NUL, password. */
		str_copy(c->mech, "PLAIN", sizeof(c->mech));
		buf_init(&raw, 0);
		buf_init(&enc, 0);
		buf_putc(&raw, '\0');
		buf_append(&raw, c->user, ul);
		buf_putc(&raw, '\0');
		buf_append(&raw, c->pass, pl);
		base64_encode(raw.data, raw.len, &enc);
		dovecot_auth_request(&b, DOVECOT_ID, "PLAIN", &info,
		    buf_cstr(&enc));
		explicit_bzero(raw.data, raw.len);
		explicit_bzero(enc.data, enc.len);
		buf_free(&raw);
		buf_free(&enc);
		explicit_bzero(c->pass, sizeof(c->pass));
	}
	send_buf(c, &b);
	c->state = DV_S_ANSWER;
	return 0;
}

/* relay_cont - Dovecot's challenge goes to the client; the connection
 * waits for its response. */
static void
relay_cont(struct dv_conn *c, const char *b64, size_t n)
{
	struct timeval	 tv = { DOVECOT_CLIENT_WAIT, 0 };
	char		*text = xcalloc(1, n + 1);
	void		*arg = c->arg;

	memcpy(text, b64, n);
	c->arg = NULL;
	evtimer_add(c->timer, &tv);
	c->cb(arg, DOVECOT_CONT, text);
	free(text);
}

/* on_line - one server line; false once c is finished (freed). */
static bool
on_line(struct dv_conn *c, const char *line, size_t n)
{
	struct dovecot_line	 l;

	if (dovecot_auth_parse(line, n, &l) == -1) {
		finish(c, DOVECOT_TEMP, NULL, "malformed line");
		return false;
	}
	switch (l.type) {
	case DV_VERSION:
		if (l.major != 1) {
			finish(c, DOVECOT_TEMP, NULL, "protocol version is "
			    "not 1.x");
			return false;
		}
		c->version_ok = true;
		return true;
	case DV_MECH:
		c->has_plain |= strcmp(l.mech, "PLAIN") == 0;
		c->has_login |= strcmp(l.mech, "LOGIN") == 0;
		c->mech_offered |= strcmp(l.mech, c->mech) == 0;
		return true;
	case DV_DONE:
		if (c->kind == DV_K_USER || c->state != DV_S_HANDSHAKE ||
		    !c->version_ok) {
			finish(c, DOVECOT_TEMP, NULL, "unexpected DONE");
			return false;
		}
		if (send_auth(c) == -1) {
			finish(c, DOVECOT_TEMP, NULL, c->kind == DV_K_RELAY ?
			    "does not offer the mechanism" : "offers neither "
			    "PLAIN nor LOGIN");
			return false;
		}
		return true;
	default:
		break;
	}
	if (l.type == DV_SPID || l.type == DV_CUID || l.type == DV_COOKIE ||
	    l.type == DV_OTHER)
		return true;
	if (l.id != DOVECOT_ID || (c->kind != DV_K_USER &&
	    c->state != DV_S_ANSWER) || (c->kind == DV_K_USER &&
	    !c->version_ok) || c->arg == NULL) {
		finish(c, DOVECOT_TEMP, NULL, "unexpected answer");
		return false;
	}
	if (c->kind == DV_K_AUTH && l.type == DV_CONT &&
	    strcmp(c->mech, "LOGIN") == 0 && c->conts < 2) {
		send_b64_cont(c, c->conts++ == 0 ? c->user : c->pass);
		if (c->conts == 2)
			explicit_bzero(c->pass, sizeof(c->pass));
		return true;
	}
	if (c->kind == DV_K_RELAY && l.type == DV_CONT) {
		relay_cont(c, l.cont, l.contlen);
		return true;
	}
	if (c->kind == DV_K_RELAY && l.type == DV_OK && !l.has_user)
		finish(c, DOVECOT_TEMP, NULL, "OK without user=");
	else if (c->kind != DV_K_USER && l.type == DV_OK)
		finish(c, DOVECOT_YES, l.has_user ? l.user : c->user, NULL);
	else if (c->kind != DV_K_USER && l.type == DV_FAIL)
		finish(c, l.temp ? DOVECOT_TEMP : DOVECOT_NO, NULL,
		    l.reason[0] != '\0' ? l.reason : "temporary failure");
	else if (c->kind == DV_K_USER && l.type == DV_USER)
		finish(c, DOVECOT_YES, l.user, NULL);
	else if (c->kind == DV_K_USER && l.type == DV_NOTFOUND)
		finish(c, DOVECOT_NO, NULL, NULL);
	else if (c->kind == DV_K_USER && l.type == DV_FAIL)
		finish(c, DOVECOT_TEMP, NULL, l.reason[0] != '\0' ? l.reason :
		    "userdb lookup failed");
	else
		finish(c, DOVECOT_TEMP, NULL, "unexpected answer");
	return false;
}

static void
conn_read(struct bufferevent *bev, void *arg)
{
	struct dv_conn	*c = arg;
	struct evbuffer	*in = bufferevent_get_input(bev);
	char		*line;
	size_t		 n;

	for (;;) {
		line = evbuffer_readln(in, &n, EVBUFFER_EOL_LF);
		if (line == NULL) {
			if (evbuffer_get_length(in) > DOVECOT_LINE_MAX)
				finish(c, DOVECOT_TEMP, NULL, "line too long");
			return;
		}
		if (!on_line(c, line, n)) {
			free(line);
			return;
		}
		free(line);
	}
}

/* auth_open - a connection to the auth-client socket, our handshake
 * queued (the server's comes first on the wire: AUTH waits for DONE). */
static struct dv_conn *
auth_open(const struct conf_deliver *sock, enum dv_kind kind,
    const char *mech, const char *rip, bool secured, dovecot_client_cb cb,
    void *arg)
{
	struct dv_conn	*c = conn_open(sock, kind, cb, arg);
	struct buf	 b;

	str_copy(c->mech, mech, sizeof(c->mech));
	str_copy(c->rip, rip != NULL ? rip : "", sizeof(c->rip));
	c->secured = secured;
	if (c->err == 0) {
		buf_init(&b, 0);
		dovecot_auth_hello(&b, (unsigned long)getpid());
		send_buf(c, &b);
	}
	return c;
}

/* dovecot_client_auth - see dovecot_client.h. */
void
dovecot_client_auth(const struct conf_deliver *sock, const char *mech,
    const char *user, const char *pass, const char *rip, bool secured,
    dovecot_client_cb cb, void *arg)
{
	struct dv_conn	*c = auth_open(sock, DV_K_AUTH, mech, rip, secured,
	    cb, arg);

	str_copy(c->user, user, sizeof(c->user));
	str_copy(c->pass, pass, sizeof(c->pass));
}

static struct dv_conn *
relay_find(uint64_t id)
{
	struct dv_conn	*c;

	for (c = relays; c != NULL && c->relay_id != id; c = c->next)
		;
	return c;
}

/* dovecot_client_relay_start - see dovecot_client.h. */
void
dovecot_client_relay_start(const struct conf_deliver *sock, uint64_t id,
    const char *mech, const char *resp, const char *rip, bool secured,
    dovecot_client_cb cb, void *arg)
{
	struct dv_conn	*c;

	dovecot_client_relay_cancel(id);	/* one exchange a session */
	c = auth_open(sock, DV_K_RELAY, mech, rip, secured, cb, arg);
	c->relay_id = id;
	c->next = relays;
	relays = c;
	c->resp = resp != NULL ? xstrdup(resp) : NULL;
}

/* dovecot_client_relay_next - see dovecot_client.h. */
void
dovecot_client_relay_next(uint64_t id, const char *resp,
    dovecot_client_cb cb, void *arg)
{
	struct dv_conn	*c = relay_find(id);
	struct timeval	 tv = { DOVECOT_TIMEOUT, 0 };
	struct buf	 b;

	if (c == NULL || c->arg != NULL) {
		/* no exchange waits for this response: answered from the
		 * loop like any other step */
		c = xcalloc(1, sizeof(*c));
		c->kind = DV_K_RELAY;
		c->cb = cb;
		c->arg = arg;
		c->target = xstrdup("-");
		c->timer = evtimer_new(base, connect_failed, c);
		c->err = EPROTO;
		event_active(c->timer, EV_TIMEOUT, 0);
		return;
	}
	c->cb = cb;
	c->arg = arg;
	evtimer_add(c->timer, &tv);
	buf_init(&b, 0);
	dovecot_auth_cont(&b, DOVECOT_ID, resp);
	send_buf(c, &b);
}

/* dovecot_client_relay_cancel - see dovecot_client.h. */
void
dovecot_client_relay_cancel(uint64_t id)
{
	struct dv_conn	*c = relay_find(id);

	if (c != NULL)
		finish(c, DOVECOT_TEMP, NULL, NULL);
}

/* dovecot_client_user - see dovecot_client.h. */
void
dovecot_client_user(const struct conf_deliver *sock, const char *user,
    dovecot_client_cb cb, void *arg)
{
	struct dv_conn	*c = conn_open(sock, DV_K_USER, cb, arg);
	struct buf	 b;

	c->state = DV_S_ANSWER;
	if (c->err != 0)
		return;
	buf_init(&b, 0);
	dovecot_auth_user(&b, DOVECOT_ID, user, "smtp");
	send_buf(c, &b);
}
