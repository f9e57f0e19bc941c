/*
 * smtp_session.c - SMTP server sessions (RFC 5321 with PIPELINING, SIZE,
 * 8BITMIME, ENHANCEDSTATUSCODES, SMTPUTF8, CHUNKING and DSN), in the smtpd
 * process.  Everything here is peer input: lines are bounded and must end
 * in CRLF, sequencing is a table (which verbs each state allows), every
 * argument goes through the strict parsers, and DATA runs through the
 * end-of-data recognizer (only CRLF.CRLF ends it; what else it notes,
 * bare LF, bare CR, NUL, is judged at the end).  Sessions never block:
 * RCPT resolution, spool files and commits are requests to lookup and queue,
 * matched back by session id.
 */
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "mail/addr.h"
#include "common/conf.h"
#include "common/stats.h"
#include "lib/dns.h"
#include "smtpd/io.h"
#include "lib/ipc_proto.h"
#include "lib/log.h"
#include "common/lookup_tab.h"
#include "common/proc.h"
#include "mail/greylist.h"
#include "mail/sasl.h"
#include "smtpd/limits.h"
#include "smtpd/screen.h"
#include "smtpd/smtp_check.h"
#include "smtpd/smtp_session.h"
#include "smtpd/smtp_log.h"
#include "smtpd/smtpd_milter.h"
#include "common/tls.h"
#include "lib/util.h"

#define LINE_MAX_BASE	512		/* RFC 5321 4.5.3.1.4 */
#define LINE_MAX_MAIL	(512 + 26 + 10 + 14 + 110 + 500 + 11)	/* SIZE,
					 * SMTPUTF8, BODY, RET+ENVID (RFC
					 * 3461), AUTH, REQUIRETLS */
#define LINE_MAX_RCPT	(512 + 500 + 30)	/* ORCPT, NOTIFY */
#define LINE_MAX_AUTH	(12 + SASL_B64_MAX + 2)	/* "AUTH PLAIN " + response */
#define AUTH_DELAY_STEPS 10		/* the 535 delay grows up to this */
#define LIMITS_SWEEP	60		/* seconds between sweeps */
#define CLOCK_TICK	1		/* seconds between clock ticks */
#define LINGER_SECS	10		/* input dropped after our close */
#define LINE_BUF	2048
#define SPOOL_FLUSH	(64 * 1024)
#define TABLE_SIZE	4096
#define INPUT_MAX	(1024 * 1024)	/* buffered input while waiting */
#define OUTPUT_MAX	(64 * 1024)	/* unread replies before we stop */

#define S_BIT(s)	(1u << (s))
#define S_ANY		(S_BIT(SMTP_S_HELO) | S_BIT(SMTP_S_READY) | \
			 S_BIT(SMTP_S_MAIL) | S_BIT(SMTP_S_RCPT))
#define S_TX		(S_BIT(SMTP_S_READY) | S_BIT(SMTP_S_MAIL) | \
			 S_BIT(SMTP_S_RCPT))

struct smtp_verb {
	const char	*name;
	unsigned	 states;	/* S_BIT(SMTP_S_*) where legal */
	size_t		 maxlen;	/* line limit incl. CRLF */
	void		(*run)(struct smtp_session *, const char *);
};

static void	 cmd_helo(struct smtp_session *, const char *);
static void	 cmd_ehlo(struct smtp_session *, const char *);
static void	 cmd_mail(struct smtp_session *, const char *);
static void	 cmd_rcpt(struct smtp_session *, const char *);
static void	 cmd_data(struct smtp_session *, const char *);
static void	 cmd_bdat(struct smtp_session *, const char *);
static void	 cmd_rset(struct smtp_session *, const char *);
static void	 cmd_noop(struct smtp_session *, const char *);
static void	 cmd_quit(struct smtp_session *, const char *);
static void	 cmd_vrfy(struct smtp_session *, const char *);
static void	 cmd_expn(struct smtp_session *, const char *);
static void	 cmd_help(struct smtp_session *, const char *);
static void	 cmd_starttls(struct smtp_session *, const char *);
static void	 cmd_notimpl(struct smtp_session *, const char *);
static void	 cmd_auth(struct smtp_session *, const char *);

static const struct smtp_verb verbs[] = {
	{ "EHLO", S_ANY, LINE_MAX_BASE, cmd_ehlo },
	{ "HELO", S_ANY, LINE_MAX_BASE, cmd_helo },
	{ "MAIL", S_BIT(SMTP_S_READY), LINE_MAX_MAIL, cmd_mail },
	{ "RCPT", S_BIT(SMTP_S_MAIL) | S_BIT(SMTP_S_RCPT), LINE_MAX_RCPT,
	    cmd_rcpt },
	{ "DATA", S_BIT(SMTP_S_RCPT), LINE_MAX_BASE, cmd_data },
	{ "BDAT", S_ANY, LINE_MAX_BASE, cmd_bdat },
	{ "RSET", S_ANY, LINE_MAX_BASE, cmd_rset },
	{ "NOOP", S_ANY, LINE_MAX_BASE, cmd_noop },
	{ "QUIT", S_ANY, LINE_MAX_BASE, cmd_quit },
	{ "VRFY", S_ANY, LINE_MAX_BASE, cmd_vrfy },
	{ "EXPN", S_ANY, LINE_MAX_BASE, cmd_expn },
	{ "HELP", S_ANY, LINE_MAX_BASE, cmd_help },
	{ "STARTTLS", S_TX, LINE_MAX_BASE, cmd_starttls },
	{ "AUTH", S_TX, LINE_MAX_AUTH, cmd_auth },
	{ "ETRN", S_ANY, LINE_MAX_BASE, cmd_notimpl },
	{ "TURN", S_ANY, LINE_MAX_BASE, cmd_notimpl },
	{ NULL, 0, 0, NULL }
};

/* Verbs of other protocols: the client is not speaking SMTP (ALPACA). */
static const char *const foreign[] = { "GET", "POST", "HEAD", "PUT",
	"CONNECT", "OPTIONS", "DELETE", "TRACE", "PATCH", "USER", "PASS",
	NULL };

static struct smtp_session	*table[TABLE_SIZE];
static unsigned			 nsessions;
static uint64_t			 next_id;
static struct event_base	*base;
static struct dns_ctx		*dns;
static bool			 shutting_down;
static struct limits		*limits;
static uint64_t			 last_sweep;
static struct event		*clock_ev;	/* session_clock */
static bool			 stress_on;	/* as last logged */

static void	 session_io(struct io *, enum io_event, void *);
static void	 session_free(struct smtp_session *);
static void	 flush(struct smtp_session *);
static void	 process(struct smtp_session *);
static void	 tx_reset(struct smtp_session *);
static void	 reply(struct smtp_session *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static void	 close_after(struct smtp_session *);
static void	 set_timeout(struct smtp_session *);
static void	 begin_body(struct smtp_session *);
static void	 finish_message(struct smtp_session *);
static bool	 body_refused(struct smtp_session *);
static enum data_fault data_fault(const struct smtp_session *);
static void	 spool_keep(struct smtp_session *);
static void	 spool_flush(struct smtp_session *);
static void	 spool_write(struct smtp_session *);
static void	 commit_message(struct smtp_session *);
static void	 spool_abort(struct smtp_session *);
static void	 start_tls(struct smtp_session *);
static void	 tls_ready(struct smtp_session *);
static void	 greet_start(struct smtp_session *);
static void	 screened(uint64_t);
static void	 rcpt_targets_drop(struct smtp_session *, size_t);
static bool	 rcpt_screened(struct smtp_session *, const char *);
static bool	 greylist_ask(struct smtp_session *, const char *);
static void	 spf_answered(uint64_t);
static bool	 starttls_offered(const struct smtp_session *);
static void	 resume(struct smtp_session *);
static bool	 conn_admit(struct smtp_session *);
static void	 auth_line(struct smtp_session *, char *, size_t);
static void	 banned(struct smtp_session *);
static void	 auth_check_done(struct smtp_session *);
static void	 relay_cancel(struct smtp_session *);
static void	 long_line(struct smtp_session *, struct evbuffer *, size_t,
		    bool);
static bool	 is_auth_offered(const struct smtp_session *);
static bool	 rate_take(struct smtp_session *, enum limits_rate, unsigned);
static void	 mail_accept(struct smtp_session *);
static bool	 mail_policy(struct smtp_session *);
static void	 sender_check(struct smtp_session *);
static bool	 rcpt_rate_ok(struct smtp_session *);
static void	 data_timer_start(struct smtp_session *);
static void	 data_timer_stop(struct smtp_session *);
static void	 check_start(struct smtp_session *);
static void	 checked(uint64_t);
static void	 check_done(struct smtp_session *);
static bool	 verdict_apply(struct smtp_session *);
static void	 spool_failed(struct smtp_session *);
static void	 commit_answer(struct smtp_session *, bool, const char *);
static void	 session_clock(evutil_socket_t, short, void *);
static bool	 idle_timeout(struct smtp_session *);
static uint64_t	 cmd_timeout(void);
static bool	 is_stressed(void);
static void	 progress(struct smtp_session *);
static bool	 line_counted(struct smtp_session *, const char *);
static bool	 junk_counted(struct smtp_session *, const struct smtp_verb *);
static bool	 over_stress_share(struct smtp_session *);
static void	 milter_done(uint64_t);
static void	 milter_info(struct smtp_session *, struct smtpd_milter_info *);
static void	 milter_answer(struct smtp_session *);
static void	 rcpt_done(struct smtp_session *);
static void	 eod_checks(struct smtp_session *);

enum { MPH_MAIL = 1, MPH_RCPT, MPH_EOM };

/*
 * smtp_session_prepare - see smtp_session.h.  The resolver is made here:
 * c-ares reads /etc/resolv.conf (without `resolver`) and seeds its query
 * ids from /dev/urandom when the channel is made, and neither is in the
 * empty root.
 */
void
smtp_session_prepare(struct event_base *b)
{
	char	err[256];

	smtp_check_prepare();
	dns = dns_new(b, (const char *const *)config->resolvers,
	    config->nresolvers, 2000, 2, err, sizeof(err));
	if (dns == NULL)
		log_warn("event=dns-init result=failed reason=\"%s\"",
		    log_safe(err));
}

void
smtp_session_init(struct event_base *b)
{
	base = b;
	next_id = ((uint64_t)getpid() << 40) ^ (now_usec() & 0xffffffffffULL);
	limits = limits_new();
	smtp_check_init(b, dns);
	screen_init(b, dns);
	smtpd_milter_init(b, milter_done);
	clock_ev = event_new(b, -1, EV_PERSIST, session_clock, NULL);
	if (clock_ev == NULL)
		fatalx("event_new failed");
}

unsigned
smtp_session_count(void)
{
	return nsessions;
}

struct smtp_session *
smtp_session_find(uint64_t id)
{
	struct smtp_session	*s = table[id % TABLE_SIZE];

	while (s != NULL && s->id != id)
		s = s->hnext;
	return s;
}

static void
table_del(struct smtp_session *s)
{
	struct smtp_session	**pp = &table[s->id % TABLE_SIZE];

	while (*pp != NULL && *pp != s)
		pp = &(*pp)->hnext;
	if (*pp != NULL)
		*pp = s->hnext;
	nsessions--;
}

static const char *
hostname(void)
{
	return config->hostname;
}

/* ---- replies ---- */

/* reply_safe - a parsed address for a reply: as it is when printable
 * ASCII, else escaped like a log string. */
static const char *
reply_safe(const char *a)
{
	for (const unsigned char *p = (const void *)a; *p != '\0'; p++)
		if (*p < 0x20 || *p >= 0x7f)
			return log_safe(a);
	return a;
}

static void	 vreply(struct smtp_session *, const char *, va_list)
		    __attribute__((format(printf, 2, 0)));

/* vreply - one reply line, CRLF added; sent at the next flush. */
static void
vreply(struct smtp_session *s, const char *fmt, va_list ap)
{
	struct evbuffer	*out = io_output(s->io);

	if (s->debug) {
		char	 line[1024];
		va_list	 aq;

		va_copy(aq, ap);
		vsnprintf(line, sizeof(line), fmt, aq);
		va_end(aq);
		smtp_log_transcript(s->id, ">", line, strlen(line), false);
	}
	evbuffer_add_vprintf(out, fmt, ap);
	evbuffer_add(out, "\r\n", 2);
}

static void
reply(struct smtp_session *s, const char *fmt, ...)
{
	va_list		 ap;

	va_start(ap, fmt);
	vreply(s, fmt, ap);
	va_end(ap);
}

/* error - a 5xx/4xx for a client mistake; too many end the session. */
static void
error(struct smtp_session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void
error(struct smtp_session *s, const char *fmt, ...)
{
	va_list		 ap;

	va_start(ap, fmt);
	vreply(s, fmt, ap);
	va_end(ap);
	if (++s->errors >= config->max_errors) {
		log_info("session=%016llx event=too-many-errors client=%s "
		    "errors=%u", (unsigned long long)s->id, s->peer_str,
		    s->errors);
		reply(s, "421 4.7.0 %s Error: too many errors", hostname());
		close_after(s);
	}
}

/* log_peer - the session as smtp_log's lines name it; from is a buffer
 * of ADDR_TEXT_MAX for the sender. */
static const struct smtp_log_peer *
log_peer(const struct smtp_session *s, struct smtp_log_peer *p, char *from)
{
	bool	 has_from = s->state >= SMTP_S_MAIL && s->state <= SMTP_S_BDAT;

	if (has_from && from[0] == '\0')
		addr_format(&s->mail.addr, from, ADDR_TEXT_MAX);
	*p = (struct smtp_log_peer){
		.id = s->id, .qid = s->qid, .ip = s->peer_ip,
		.name = strcmp(s->client_name, "unknown") == 0 ? "" :
		    s->client_name,
		.helo = s->helo,
		.from = has_from || from[0] != '\0' ? from : NULL,
		.auth = s->auth, .mech = s->auth_mech != NULL ?
		    s->auth_mech : "PLAIN",
		.esmtp = s->esmtp,
	};
	return p;
}

/* note_reject - count a refusal, and keep "CLIENT: REPLY" for the status
 * page's recent refusals. */
static void
note_reject(const struct smtp_session *s, enum stats_reject r,
    const char *text)
{
	char	 line[240];

	snprintf(line, sizeof(line), "%s: %s", s->peer_ip, log_safe(text));
	stats_reject(r, line);
}

/*
 * reject_rcpt - refuse RCPT for address a (parsed, formatted) with the
 * reply "CODE <a>: TEXT", logged as the log_format wants: why is the
 * key=value line's reason.
 */
static void
reject_rcpt(struct smtp_session *s, const char *a, const char *why,
    const char *code, const char *what)
{
	char			 text[ADDR_TEXT_MAX + 128];
	char			 from[ADDR_TEXT_MAX] = "";
	struct smtp_log_peer	 lp;

	snprintf(text, sizeof(text), "%s <%s>: %s", code, reply_safe(a),
	    what);
	note_reject(s, strcmp(why, "relay denied") == 0 ?
	    STATS_REJ_RELAY_DENIED : STATS_REJ_UNKNOWN_USER, text);
	if (smtp_log_postfix())
		smtp_log_reject(log_peer(s, &lp, from), "RCPT", a, text);
	else
		log_info("session=%016llx event=reject client=%s to=<%s> "
		    "dsn=%.5s reason=\"%s\"", (unsigned long long)s->id,
		    s->peer_str, log_safe(a), text + 4, why);
	error(s, "%s", text);
}

/* close_after - hang up once the output is sent (see flush).  Never
 * frees the session: callers may still be on the stack with it. */
static void
close_after(struct smtp_session *s)
{
	s->state = SMTP_S_QUIT;
	io_reading(s->io, false);
}

/* flush - send the replies; the end of every entry point into a session.
 * A session in SMTP_S_QUIT whose output is out is freed here. */
void
smtp_session_flush(struct smtp_session *s)
{
	flush(s);
}

static void
flush(struct smtp_session *s)
{
	int	r = io_flush(s->io);

	if (r == 0 && s->state == SMTP_S_QUIT) {
		/* Keep the last reply (io.c), unless the client said QUIT
		 * and sent nothing after it: it reads the 221 and closes,
		 * with no input of its own left for a reset to drop. */
		s->linger = !s->peer_eof && !(s->quit &&
		    evbuffer_get_length(io_input(s->io)) == 0);
		session_free(s);
	} else if (r == -1)
		session_free(s);
	else if (r == 0 && s->wait == WAIT_TLS && !io_is_tls(s->io))
		start_tls(s);		/* "220 Ready to start TLS" is out */
	else if (r == 0 && s->out_full) {
		/* process() stopped at OUTPUT_MAX and all of it is written
		 * already: no write event will come, so carry on with the
		 * pipelined input at the next turn of the loop. */
		s->out_full = false;
		io_drained_later(s->io);
	}
}

/* ---- session life ---- */

static void
fmt_peer(struct smtp_session *s)
{
	const struct sockaddr	*sa = (struct sockaddr *)&s->peer;
	unsigned		 port = 0;

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;

		inet_ntop(AF_INET, &in->sin_addr, s->peer_ip,
		    sizeof(s->peer_ip));
		port = ntohs(in->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, s->peer_ip,
		    sizeof(s->peer_ip));
		port = ntohs(in6->sin6_port);
	} else
		str_copy(s->peer_ip, "local", sizeof(s->peer_ip));
	snprintf(s->peer_str, sizeof(s->peer_str), "[%s]:%u", s->peer_ip,
	    port);
}

static bool
is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;

		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;

		if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
			return true;
		return IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) &&
		    in6->sin6_addr.s6_addr[12] == 127;
	}
	return false;
}

static void
client_named(uint64_t id, void *arg, enum dns_status st, const char *name)
{
	struct smtp_session	*s = smtp_session_find(id);

	if (s == NULL || st != DNS_OK || name == NULL)
		return;
	str_copy(s->client_name, name, sizeof(s->client_name));
}

static void
greet(struct smtp_session *s, bool waited)
{
	char	peek[1];

	/* A client that talks before the greeting is not an SMTP client.
	 * Only a wait (greet_delay) gives it the time to: greeted at once,
	 * the socket is not asked (a system call per session saved). */
	if (evbuffer_get_length(io_input(s->io)) > 0 || (waited && !s->tls &&
	    recv(io_fd(s->io), peek, 1, MSG_PEEK | MSG_DONTWAIT) > 0)) {
		log_info("session=%016llx event=pregreet client=%s",
		    (unsigned long long)s->id, s->peer_str);
		reply(s, "554 5.5.1 %s Error: talked before the greeting",
		    hostname());
		close_after(s);
		return;
	}
	reply(s, "220 %s ESMTP postbote", hostname());
	s->state = SMTP_S_HELO;
	progress(s);
	set_timeout(s);
	io_reading(s->io, true);
}

static void
greet_timer(evutil_socket_t fd, short ev, void *arg)
{
	greet(arg, true);
	flush(arg);
}

/* smtp_session_start - set up a session and greet (or wait greet_delay). */
void
smtp_session_start(int fd, const struct sockaddr *sa, socklen_t salen,
    int idx)
{
	struct smtp_session	*s = xcalloc(1, sizeof(*s));

	s->id = ++next_id;
	memcpy(&s->peer, sa, MIN((size_t)salen, sizeof(s->peer)));
	s->listen_idx = idx;
	str_copy(s->listener, config->listens[idx].name, sizeof(s->listener));
	s->spool_fd = -1;
	s->started = s->idle_mark = now_mono_usec();
	buf_init(&s->dbuf, 0);
	fmt_peer(s);
	str_copy(s->client_name, "unknown", sizeof(s->client_name));
	s->relay_ok = conf_relay_allowed(config, sa);
	s->debug = smtp_log_is_debug_peer(sa);
	s->io = io_new(base, fd, session_io, s);
	s->hnext = table[s->id % TABLE_SIZE];
	table[s->id % TABLE_SIZE] = s;
	nsessions++;
	stats_add(STATS_CONNECTIONS);
	if (!event_pending(clock_ev, EV_TIMEOUT, NULL)) {
		struct timeval	tv = { CLOCK_TICK, 0 };

		event_add(clock_ev, &tv);
	}
	log_debug("session=%016llx event=connect client=%s listener=%s",
	    (unsigned long long)s->id, s->peer_str,
	    config->listens[idx].name);
	if (!conn_admit(s))
		return;
	if (is_loopback(sa))
		str_copy(s->client_name, "localhost", sizeof(s->client_name));
	else if (dns != NULL)
		dns_client_name(dns, sa, client_named, s->id, NULL);
	if ((s->milter = smtpd_milter_new(s->id, idx)) != NULL) {
		struct smtpd_milter_info	 mi;

		milter_info(s, &mi);
		smtpd_milter_connect(s->milter, &mi);
	}
	if (config->listens[idx].mode == LISTEN_SUBMISSIONS) {
		/* RFC 8314 3.3: TLS from the first byte, then the greeting. */
		s->wait = WAIT_TLS;
		flush(s);
		return;
	}
	/* DNS lists: the greeting waits for their answers (screen.c). */
	if (config->listens[idx].mode == LISTEN_MX && !s->relay_ok &&
	    (s->screen = screen_start(s->id, s->peer_ip, screened)) != NULL)
		return;
	greet_start(s);
	flush(s);
}

/* screened - the DNS lists answered: refuse now (dnsbl_reject =
 * connect) or greet; a listed client is refused at RCPT otherwise. */
static void
screened(uint64_t id)
{
	struct smtp_session	*s = smtp_session_find(id);
	const char		*list;

	if (s == NULL || s->state != SMTP_S_GREET)
		return;
	list = screen_listed(s->screen);
	if (list != NULL && config->dnsbl_reject == DNSBL_REJECT_CONNECT) {
		log_info("session=%016llx event=reject client=%s dsn=5.7.1 "
		    "reason=dnsbl list=%s", (unsigned long long)s->id,
		    s->peer_str, list);
		reply(s, "554 5.7.1 Service unavailable; client [%s] blocked "
		    "using %s", s->peer_ip, list);
		close_after(s);
	} else
		greet_start(s);
	flush(s);
}

/* greet_start - greet now, or after greet_delay; the caller flushes. */
static void
greet_start(struct smtp_session *s)
{
	if (config->greet_delay > 0) {
		struct timeval tv = { (time_t)config->greet_delay, 0 };

		s->greet_timer = evtimer_new(base, greet_timer, s);
		evtimer_add(s->greet_timer, &tv);
	} else
		greet(s, false);
}

static void
session_free(struct smtp_session *s)
{
	log_info("session=%016llx event=disconnect client=%s name=%s "
	    "listener=%s helo=\"%s\" messages=%u errors=%u",
	    (unsigned long long)s->id, s->peer_str, log_safe(s->client_name),
	    s->listener, log_safe(s->helo), s->nmsgs, s->errors);
	/* Its client has had its last reply: the lines so far need not go
	 * before the next session's reply, but at the end of the turn. */
	log_hold();
	/* A commit in flight is queue's now: it will be delivered. */
	if (s->wait != WAIT_COMMIT && (s->spool_fd != -1 || s->qid[0] != '\0'))
		spool_abort(s);
	tx_reset(s);
	smtpd_milter_free(s->milter);
	s->milter = NULL;
	table_del(s);
	if (s->greet_timer != NULL)
		event_free(s->greet_timer);
	if (s->auth_timer != NULL)
		event_free(s->auth_timer);
	data_timer_stop(s);
	auth_check_done(s);
	screen_free(s->screen);
	relay_cancel(s);
	if (s->conn_counted)
		limits_conn_close(limits, s->limit_key);
	explicit_bzero(s->auth_user, sizeof(s->auth_user));
	if (s->linger)
		io_linger(s->io, LINGER_SECS);
	else
		io_free(s->io);
	buf_free(&s->dbuf);
	free(s);
}

static void
set_timeout(struct smtp_session *s)
{
	uint64_t	 secs = (s->state == SMTP_S_DATA ||
	    s->state == SMTP_S_BDAT) ? config->data_timeout : cmd_timeout();

	io_timeout(s->io, (unsigned)secs);
}

static void
session_io(struct io *io, enum io_event ev, void *arg)
{
	struct smtp_session	*s = arg;

	switch (ev) {
	case IO_DATAIN:
		process(s);
		break;
	case IO_DRAINED:
		/* Replies went out: carry on with what the client sent. */
		if (s->paused && s->wait == WAIT_NONE && !s->peer_eof &&
		    s->state != SMTP_S_QUIT) {
			s->paused = false;
			io_reading(s->io, true);
		}
		if (s->state != SMTP_S_QUIT)
			process(s);
		break;
	case IO_TIMEOUT:
		if (!idle_timeout(s))
			return;
		break;
	case IO_EOF:
		/* Half-closed: answer what was sent, then hang up. */
		s->peer_eof = true;
		if (s->state != SMTP_S_QUIT)
			process(s);
		break;
	case IO_ERROR:
		/* The client is gone.  A commit in flight finishes in queue;
		 * its reply then finds no session. */
		if (*io_tls_error(s->io) != '\0')
			log_info("session=%016llx event=tls-error client=%s "
			    "reason=\"%s\"", (unsigned long long)s->id,
			    s->peer_str, log_safe(io_tls_error(s->io)));
		session_free(s);
		return;
	case IO_TLS_READY:
		tls_ready(s);
		break;
	}
	flush(s);
}

/*
 * idle_timeout - the client took too long (no byte for the idle timeout,
 * or no command that does something for the session clock): 421, but
 * none inside a TLS handshake.  false when s is freed.
 */
static bool
idle_timeout(struct smtp_session *s)
{
	log_info("session=%016llx event=timeout client=%s state=%d%s",
	    (unsigned long long)s->id, s->peer_str, (int)s->state,
	    s->wait == WAIT_TLS ? " tls=handshake" : "");
	if (s->wait == WAIT_COMMIT)
		return true;
	if (s->wait == WAIT_TLS) {
		session_free(s);
		return false;
	}
	reply(s, "421 4.4.2 %s Error: timeout exceeded", hostname());
	close_after(s);
	return true;
}

/* ---- command lines ---- */

static const struct smtp_verb *
find_verb(const char *line, const char **args)
{
	size_t	n = strcspn(line, " ");

	*args = line[n] == ' ' ? line + n + 1 : line + n;
	for (const struct smtp_verb *v = verbs; v->name != NULL; v++)
		if (strlen(v->name) == n && strncasecmp(line, v->name, n) == 0)
			return v;
	return NULL;
}

/* foreign_verb - the verb of another protocol that opens these len
 * bytes (up to a space or the line end), or NULL. */
static const char *
foreign_verb(const char *p, size_t len)
{
	size_t	n = 0;

	while (n < len && p[n] != ' ' && p[n] != '\r' && p[n] != '\n')
		n++;
	for (size_t i = 0; foreign[i] != NULL; i++)
		if (strlen(foreign[i]) == n &&
		    strncasecmp(p, foreign[i], n) == 0)
			return foreign[i];
	return NULL;
}

/*
 * foreign_close - the client speaks HTTP, POP3 or the like (ALPACA, a
 * proxy probe, a mistyped port).  RFC 5321 3.8 would rather have us reply
 * than drop the line: one 5xx, then close, so that none of the lines that
 * follow (HTTP headers, a request body) is run as a command.  Logged once;
 * show = false logs the verb only (a POP3 PASS line, an AUTH exchange:
 * the rest may be a password).
 */
static void
foreign_close(struct smtp_session *s, const char *verb, const char *line,
    bool show)
{
	char	text[128];
	size_t	n = strcspn(line, "\r\n");

	if (strcmp(verb, "PASS") == 0)
		show = false;
	snprintf(text, sizeof(text), "%.*s", (int)MIN(n, sizeof(text) - 1),
	    show ? line : verb);
	log_info("session=%016llx event=foreign-protocol client=%s "
	    "line=\"%s\"", (unsigned long long)s->id, s->peer_str,
	    log_safe(text));
	s->auth_step = AUTH_STEP_NONE;
	explicit_bzero(s->auth_user, sizeof(s->auth_user));
	reply(s, "500 5.5.1 %s Error: %s is not SMTP; closing connection",
	    hostname(), verb);
	close_after(s);
}

static const char *
sequence_error(const struct smtp_session *s, const struct smtp_verb *v)
{
	if (s->state == SMTP_S_HELO)
		return "503 5.5.1 Error: send HELO/EHLO first";
	if (v->run == cmd_mail)
		return "503 5.5.1 Error: nested MAIL command";
	if (v->run == cmd_rcpt)
		return "503 5.5.1 Error: need MAIL command";
	if (v->run == cmd_data && s->state == SMTP_S_MAIL)
		return "554 5.5.1 Error: no valid recipients";
	if (v->run == cmd_data)
		return "503 5.5.1 Error: need RCPT command";
	return "503 5.5.1 Error: bad sequence of commands";
}

/* run_line - one command line of n bytes including its CRLF. */
static void
run_line(struct smtp_session *s, char *line, size_t n)
{
	const struct smtp_verb	*v;
	const char		*args, *fv;

	if (s->debug)
		smtp_log_transcript(s->id, "<", line, n,
		    s->auth_step != AUTH_STEP_NONE);
	/* Before the CRLF check: "GET / HTTP/1.0\n" from netcat.  In an
	 * AUTH exchange only with a space, which base64 never has. */
	if ((fv = foreign_verb(line, n)) != NULL &&
	    (s->auth_step == AUTH_STEP_NONE || memchr(line, ' ', n) != NULL)) {
		foreign_close(s, fv, line, s->auth_step == AUTH_STEP_NONE);
		explicit_bzero(line, n);
		return;
	}
	if (!line_counted(s, line))
		return;
	if (s->auth_step != AUTH_STEP_NONE) {
		auth_line(s, line, n);	/* credentials: never logged */
		return;
	}
	if (n < 2 || line[n - 2] != '\r') {
		error(s, "500 5.5.2 Error: command line must end with CRLF");
		return;
	}
	line[n - 2] = '\0';
	if (memchr(line, '\r', n - 2) != NULL ||
	    memchr(line, '\0', n - 2) != NULL) {
		error(s, "500 5.5.2 Error: bad character in command line");
		return;
	}
	if ((v = find_verb(line, &args)) == NULL) {
		error(s, "500 5.5.2 Error: command not recognized");
		return;
	}
	if (n > v->maxlen) {
		error(s, "500 5.5.2 Error: line too long");
		return;
	}
	if (!(v->states & S_BIT(s->state))) {
		error(s, "%s", sequence_error(s, v));
		return;
	}
	if (v->run != cmd_quit && (over_stress_share(s) ||
	    !junk_counted(s, v)))
		return;
	if (v->run == cmd_data || v->run == cmd_bdat)
		progress(s);		/* what follows is data_timeout's */
	v->run(s, args);
}

/*
 * long_line - drop n bytes of a line longer than LINE_BUF (ends: they
 * include its LF).  One error for the whole line, at its start; a request
 * of another protocol with a long URL is still recognized there.
 */
static void
long_line(struct smtp_session *s, struct evbuffer *in, size_t n, bool ends)
{
	char		 head[64];
	ev_ssize_t	 h;
	const char	*fv;

	if (!s->discard_line) {
		h = evbuffer_copyout(in, head, sizeof(head) - 1);
		head[h > 0 ? h : 0] = '\0';
		fv = foreign_verb(head, h > 0 ? (size_t)h : 0);
		if (fv != NULL && s->auth_step == AUTH_STEP_NONE) {
			foreign_close(s, fv, head, true);
			return;
		}
		s->auth_step = AUTH_STEP_NONE;
		if (line_counted(s, head))
			error(s, "500 5.5.2 Error: line too long");
	}
	s->auth_step = AUTH_STEP_NONE;
	s->discard_line = !ends;
	evbuffer_drain(in, n);
}

/* next_line - take one line off the input; false if none is complete. */
static bool
next_line(struct smtp_session *s, struct evbuffer *in)
{
	char			 line[LINE_BUF + 1];
	struct evbuffer_ptr	 p;
	size_t			 len = evbuffer_get_length(in), n;

	p = evbuffer_search(in, "\n", 1, NULL);
	if (p.pos < 0) {
		if (len > LINE_BUF)
			long_line(s, in, len, false);
		return false;
	}
	n = (size_t)p.pos + 1;
	if (n > LINE_BUF || s->discard_line) {
		long_line(s, in, n, true);
		return true;
	}
	evbuffer_remove(in, line, n);
	line[n] = '\0';
	run_line(s, line, n);
	return true;
}

static bool	 data_step(struct smtp_session *, struct evbuffer *);
static bool	 bdat_step(struct smtp_session *, struct evbuffer *);

/* process - run buffered input until it runs out or a request waits. */
static void
process(struct smtp_session *s)
{
	struct evbuffer	*in = io_input(s->io);
	bool		 more = true;

	/* Replies pile up no further than OUTPUT_MAX: the rest of the input
	 * waits (and reading stops, see below) until they are out; flush()
	 * then brings us back here (out_full). */
	s->out_full = false;
	while (more && s->wait == WAIT_NONE && s->state != SMTP_S_QUIT &&
	    s->state != SMTP_S_GREET) {
		if (io_pending(s->io) >= OUTPUT_MAX) {
			s->out_full = true;
			break;
		}
		if (s->state == SMTP_S_BDAT)
			more = bdat_step(s, in);	/* "BDAT 0" needs no input */
		else if (evbuffer_get_length(in) == 0)
			break;
		else if (s->state == SMTP_S_DATA)
			more = data_step(s, in);
		else
			more = next_line(s, in);
	}
	if (s->state == SMTP_S_QUIT)
		return;
	if (s->peer_eof && s->wait == WAIT_NONE && !s->out_full)
		close_after(s);		/* all input answered */
	else if ((s->wait != WAIT_NONE || s->out_full) &&
	    !s->paused && evbuffer_get_length(in) > INPUT_MAX) {
		s->paused = true;	/* a flood while we wait: stop reading */
		io_reading(s->io, false);
	} else
		set_timeout(s);
}

/* resume - a request finished: carry on with pipelined input. */
static void
resume(struct smtp_session *s)
{
	s->wait = WAIT_NONE;
	s->idle_mark = now_mono_usec();	/* our time is not the client's */
	if (s->paused && s->state != SMTP_S_QUIT && !s->peer_eof) {
		s->paused = false;
		io_reading(s->io, true);
	}
	process(s);
}

/* ---- transaction ---- */

static void
tx_reset(struct smtp_session *s)
{
	if (s->milter != NULL)
		smtpd_milter_abort(s->milter);
	s->milter_discard = false;
	s->milter_quarantine = false;
	smtp_check_free(s->chk);
	s->chk = NULL;
	envelope_free(&s->env);
	memset(&s->mail, 0, sizeof(s->mail));
	s->nrcpt = 0;
	s->bdat_used = false;
	if (s->spool_fd != -1) {
		close(s->spool_fd);
		s->spool_fd = -1;
	}
	s->qid[0] = '\0';
	s->spool_err = false;
	buf_reset(&s->dbuf);
	s->held = false;
	data_timer_stop(s);
	if (s->state != SMTP_S_QUIT && s->state != SMTP_S_GREET)
		s->state = s->helo[0] != '\0' ? SMTP_S_READY : SMTP_S_HELO;
}

static void
spool_abort(struct smtp_session *s)
{
	struct ipc_id	a = { s->qid };

	if (s->qid[0] != '\0')
		PROC_SEND(PROC_QUEUE, IPC_SPOOL_ABORT, s->id, &a, -1);
	if (s->spool_fd != -1) {
		close(s->spool_fd);
		s->spool_fd = -1;
	}
	s->qid[0] = '\0';
}

/* helo_ok - a printable, space-free name; validated before we echo it. */
static bool
helo_ok(const char *a)
{
	size_t	n = strlen(a);

	if (n == 0 || n > 255)
		return false;
	if (addr_helo_check(a))
		return true;
	for (const unsigned char *p = (const void *)a; *p != '\0'; p++)
		if (*p <= ' ' || *p == 0x7f || strchr("()<>\"\\;,", *p) != NULL)
			return false;
	return true;
}

static void
set_helo(struct smtp_session *s, const char *arg, bool esmtp)
{
	if (s->helo[0] == '\0')
		progress(s);		/* again: junk (is_junk) */
	if (s->state != SMTP_S_HELO)
		spool_abort(s);
	str_copy(s->helo, arg, sizeof(s->helo));
	s->esmtp = esmtp;
	s->state = SMTP_S_READY;
	tx_reset(s);
	if (s->milter != NULL) {
		struct smtpd_milter_info	 mi;

		milter_info(s, &mi);
		smtpd_milter_helo(s->milter, &mi);
	}
}

static void
cmd_ehlo(struct smtp_session *s, const char *arg)
{
	struct buf	b;

	if (!helo_ok(arg)) {
		error(s, "501 5.5.4 Syntax: EHLO hostname");
		return;
	}
	set_helo(s, arg, true);
	buf_init(&b, 0);
	buf_printf(&b, "250-%s Hello %s [%s]\r\n", hostname(), s->helo,
	    s->peer_ip);
	if (starttls_offered(s))
		buf_puts(&b, "250-STARTTLS\r\n");
	buf_printf(&b, "250-PIPELINING\r\n250-SIZE %llu\r\n250-8BITMIME\r\n"
	    "250-ENHANCEDSTATUSCODES\r\n250-SMTPUTF8\r\n250-CHUNKING\r\n",
	    (unsigned long long)config->max_message_size);
	if (is_auth_offered(s))
		buf_printf(&b, "250-AUTH PLAIN LOGIN%s%s\r\n",
		    config->auth_mechanisms != NULL ? " " : "",
		    config->auth_mechanisms != NULL ?
		    config->auth_mechanisms : "");
	/* RFC 8689 2: REQUIRETLS only where TLS protects the session. */
	if (s->tls)
		buf_puts(&b, "250-REQUIRETLS\r\n");
	buf_printf(&b, "250 DSN\r\n");
	/* One write: a multi-line reply is never split by us. */
	evbuffer_add(io_output(s->io), b.data, b.len);
	buf_free(&b);
}

static void
cmd_helo(struct smtp_session *s, const char *arg)
{
	if (!helo_ok(arg)) {
		error(s, "501 5.5.4 Syntax: HELO hostname");
		return;
	}
	set_helo(s, arg, false);
	reply(s, "250 %s", hostname());
}

static void
mail_error(struct smtp_session *s, enum smtp_parse_result r, bool rcpt)
{
	switch (r) {
	case SP_BAD_ADDR:
	case SP_ADDR_TOO_LONG:
		error(s, "501 %s Error: bad %s address syntax",
		    rcpt ? "5.1.3" : "5.1.7", rcpt ? "recipient" : "sender");
		break;
	case SP_NEED_UTF8:
		error(s, "553 5.6.7 Error: non-ASCII address needs SMTPUTF8");
		break;
	case SP_UNKNOWN_PARAM:
		error(s, "555 5.5.4 Error: unsupported parameter");
		break;
	case SP_BAD_PARAM:
		error(s, "501 5.5.4 Error: bad parameter value");
		break;
	default:
		error(s, "501 5.5.2 Syntax: %s", rcpt ? "RCPT TO:<address>" :
		    "MAIL FROM:<address>");
	}
}

static void
cmd_mail(struct smtp_session *s, const char *arg)
{
	enum smtp_parse_result	 r = smtp_parse_mail(arg, &s->mail);

	if (r != SP_OK) {
		mail_error(s, r, false);
		memset(&s->mail, 0, sizeof(s->mail));
		return;
	}
	if (!s->esmtp && (s->mail.has_size || s->mail.body ||
	    s->mail.smtputf8 || s->mail.ret || s->mail.envid[0] ||
	    s->mail.has_auth || s->mail.requiretls)) {
		error(s, "555 5.5.4 Error: parameters need EHLO");
		memset(&s->mail, 0, sizeof(s->mail));
		return;
	}
	/* RFC 8689 3: REQUIRETLS only in a session TLS protects (it is not
	 * offered outside one). */
	if (s->mail.requiretls && !s->tls) {
		error(s, "530 5.7.10 Error: REQUIRETLS needs a TLS session: "
		    "issue STARTTLS first");
		memset(&s->mail, 0, sizeof(s->mail));
		return;
	}
	if (s->mail.has_size && s->mail.size > config->max_message_size) {
		reply(s, "552 5.3.4 Error: message size exceeds limit");
		memset(&s->mail, 0, sizeof(s->mail));
		return;
	}
	if (!mail_policy(s)) {
		memset(&s->mail, 0, sizeof(s->mail));
		return;
	}
	if (s->auth[0] != '\0' && config->sender_login_match &&
	    !addr_is_null(&s->mail.addr)) {
		sender_check(s);
		return;
	}
	mail_accept(s);
}

/* check_start - SPF and the end-of-data checks of this transaction. */
static void
check_start(struct smtp_session *s)
{
	struct smtp_check_mail	 m;

	m.id = s->id;
	m.ip = s->peer_ip;
	m.mail_from = s->env.sender;
	m.helo = s->helo;
	m.trusted = s->auth[0] != '\0' || s->relay_ok;
	smtp_check_free(s->chk);
	s->chk = smtp_check_mail(&m);
}

/* mail_accept - the MAIL checks passed: start the transaction. */
static void
mail_accept(struct smtp_session *s)
{
	char	 a[ADDR_TEXT_MAX];

	if (!rate_take(s, LIMITS_MESSAGES, 1)) {
		reply(s, "450 4.7.1 Error: message rate limit exceeded, try "
		    "again later");
		memset(&s->mail, 0, sizeof(s->mail));
		return;
	}
	addr_format(&s->mail.addr, a, sizeof(a));
	envelope_free(&s->env);		/* nothing may be left from before */
	s->env.sender = xstrdup(a);
	s->env.body = s->mail.body;
	s->env.smtputf8 = s->mail.smtputf8;
	s->env.tls_req = s->mail.requiretls ? ENV_TLS_REQUIRE :
	    ENV_TLS_DEFAULT;
	s->env.ret = s->mail.ret;
	s->env.envid = s->mail.envid[0] ? xstrdup(s->mail.envid) : NULL;
	/* RFC 4954 5: the AUTH= of a client we did not authenticate is
	 * "<>"; we record the login we checked ourselves. */
	s->env.auth = s->auth[0] != '\0' ? xstrdup(s->auth) : NULL;
	s->state = SMTP_S_MAIL;
	check_start(s);
	progress(s);
	if (s->milter != NULL) {
		struct smtpd_milter_info	 mi;
		char				 size[40];
		const char			*args[2];
		size_t				 n = 0;

		if (s->mail.has_size) {
			snprintf(size, sizeof(size), "SIZE=%llu",
			    (unsigned long long)s->mail.size);
			args[n++] = size;
		}
		if (s->mail.body == SMTP_BODY_8BITMIME)
			args[n++] = "BODY=8BITMIME";
		milter_info(s, &mi);
		s->milter_phase = MPH_MAIL;
		if (smtpd_milter_mail(s->milter, &mi, s->env.sender, args, n))
			s->wait = WAIT_MILTER;
		else
			milter_answer(s);
		return;
	}
	reply(s, "250 2.1.0 Ok");
}

/* rcpt_add - a recipient of the envelope, once per address. */
static void
rcpt_add(struct smtp_session *s, enum rcpt_kind kind, const char *addr,
    const char *orig, const char *orcpt, unsigned notify)
{
	struct env_rcpt	*r;

	for (size_t i = 0; i < s->env.nrcpt; i++)
		if (strcmp(s->env.rcpts[i].addr, addr) == 0)
			return;		/* delivered once per message */
	s->env.rcpts = xreallocarray(s->env.rcpts, s->env.nrcpt + 1,
	    sizeof(*s->env.rcpts));
	r = &s->env.rcpts[s->env.nrcpt++];
	memset(r, 0, sizeof(*r));
	r->addr = xstrdup(addr);
	r->orig = xstrdup(orig);
	r->orcpt = orcpt != NULL ? xstrdup(orcpt) : NULL;
	r->notify = notify;
	r->kind = kind;
	r->state = RCPT_PENDING;
}

/* rcpt_drop - forget recipient i of the envelope. */
static void
rcpt_drop(struct smtp_session *s, size_t i)
{
	struct env_rcpt	*r = &s->env.rcpts[i];

	free(r->addr);
	free(r->orig);
	free(r->orcpt);
	free(r->status);
	free(r->remote_mta);
	memmove(r, r + 1, (s->env.nrcpt - i - 1) * sizeof(*r));
	s->env.nrcpt--;
}

static void
add_target(struct smtp_session *s, enum rcpt_kind kind, const char *addr)
{
	char		 orig[ADDR_TEXT_MAX];

	addr_format(&s->rcpt.addr, orig, sizeof(orig));
	rcpt_add(s, kind, addr, orig, s->rcpt.orcpt[0] ? s->rcpt.orcpt : NULL,
	    s->rcpt.notify);
}

static void
rcpt_accepted(struct smtp_session *s)
{
	s->nrcpt++;
	s->nrcpt_session++;
	s->state = SMTP_S_RCPT;
	progress(s);
	reply(s, "250 2.1.5 Ok");
}

static void
cmd_rcpt(struct smtp_session *s, const char *arg)
{
	enum smtp_parse_result	 r;
	char			 a[ADDR_TEXT_MAX];

	if (s->nrcpt >= config->max_recipients) {
		reply(s, "452 4.5.3 Error: too many recipients");
		return;
	}
	if (config->max_recipients_per_session > 0 &&
	    s->nrcpt_session >= config->max_recipients_per_session) {
		reply(s, "452 4.5.3 Error: too many recipients in this "
		    "session");
		return;
	}
	s->rcpt_mark = s->env.nrcpt;
	r = smtp_parse_rcpt(arg, s->mail.smtputf8, &s->rcpt);
	if (r != SP_OK) {
		mail_error(s, r, true);
		return;
	}
	if (s->rcpt.addr.domain[0] == '\0')	/* <Postmaster> */
		str_copy(s->rcpt.addr.domain, config->domains[0],
		    sizeof(s->rcpt.addr.domain));
	addr_format(&s->rcpt.addr, a, sizeof(a));
	if (!rcpt_screened(s, a))
		return;
	if (!conf_is_local_domain(config, s->rcpt.addr.domain)) {
		if (!s->relay_ok && s->auth[0] == '\0') {
			reject_rcpt(s, a, "relay denied", "554 5.7.1",
			    "Relay access denied");
			return;
		}
		if (!rcpt_rate_ok(s))
			return;
		add_target(s, RCPT_REMOTE, a);
		rcpt_done(s);
		return;
	}
	if (!rcpt_rate_ok(s))
		return;
	if (PROC_SEND(PROC_LOOKUP, IPC_RESOLVE, s->id,
	    &(struct ipc_resolve){ a }, -1) == -1) {
		reply(s, "451 4.3.0 Error: recipient lookup unavailable");
		return;
	}
	s->wait = WAIT_RESOLVE;
}

/* rcpt_screened - the DNS lists' verdict at RCPT: false when the RCPT
 * was refused (554 naming the list).  Postmaster is always let through
 * (RFC 5321 4.5.1), and authenticated clients are never refused. */
static bool
rcpt_screened(struct smtp_session *s, const char *a)
{
	const char	*list = screen_listed(s->screen);

	if (list == NULL || s->auth[0] != '\0' ||
	    (str_ieq(s->rcpt.addr.local, "postmaster") &&
	    conf_is_local_domain(config, s->rcpt.addr.domain)))
		return true;
	log_info("session=%016llx event=reject client=%s to=<%s> dsn=5.7.1 "
	    "reason=dnsbl list=%s score=%d", (unsigned long long)s->id,
	    s->peer_str, log_safe(a), list, screen_score(s->screen));
	reply(s, "554 5.7.1 Service unavailable; client [%s] blocked using "
	    "%s", s->peer_ip, list);
	return false;
}

/* greylist_ask - ask lookup about this RCPT's triplet (RFC 6647) unless
 * the client skips greylisting; true when the answer is awaited. */
static bool
greylist_ask(struct smtp_session *s, const char *rcpt)
{
	char	 key[GREYLIST_KEY_MAX];

	if (!config->greylist ||
	    config->listens[s->listen_idx].mode != LISTEN_MX ||
	    s->auth[0] != '\0' || s->relay_ok || screen_allowed(s->screen) ||
	    conf_nets_match(config->greylist_networks,
	    config->ngreylist_networks, (const struct sockaddr *)&s->peer))
		return false;
	/* A pipelining client's RCPT comes before SPF can answer the MAIL
	 * it follows: the exemption waits for that answer. */
	if (config->greylist_spf_pass) {
		if (smtp_check_spf_wait(s->chk, spf_answered, s->id)) {
			s->wait = WAIT_SPF;
			return true;
		}
		if (smtp_check_spf_pass(s->chk))
			return false;
	}
	if (greylist_key(s->peer_ip, s->env.sender, rcpt, key,
	    sizeof(key)) == -1)
		return false;
	if (PROC_SEND(PROC_LOOKUP, IPC_GREYLIST, s->id,
	    &(struct ipc_greylist){ key }, -1) == -1)
		return false;		/* lookup is away: let it pass */
	s->wait = WAIT_GREYLIST;
	return true;
}

/* spf_answered - SPF is in for the session waiting on it at RCPT: ask
 * about greylisting now, or take the recipient. */
static void
spf_answered(uint64_t id)
{
	struct smtp_session	*s = smtp_session_find(id);
	char			 a[ADDR_TEXT_MAX];

	if (s == NULL || s->wait != WAIT_SPF)
		return;
	s->wait = WAIT_NONE;
	if (s->state == SMTP_S_QUIT)
		return;
	addr_format(&s->rcpt.addr, a, sizeof(a));
	if (greylist_ask(s, a))
		return;
	rcpt_done(s);
	if (s->wait == WAIT_NONE)	/* not waiting on a milter now */
		resume(s);
	flush(s);
}

/* rcpt_targets_drop - forget the targets added since mark. */
static void
rcpt_targets_drop(struct smtp_session *s, size_t mark)
{
	while (s->env.nrcpt > mark) {
		struct env_rcpt	*r = &s->env.rcpts[--s->env.nrcpt];

		free(r->addr);
		free(r->orig);
		free(r->orcpt);
		free(r->status);
		free(r->remote_mta);
		memset(r, 0, sizeof(*r));
	}
}

/* smtp_session_greylisted - lookup's greylisting verdict for the RCPT. */
void
smtp_session_greylisted(struct smtp_session *s, struct ipc_msg *m)
{
	struct ipc_greylist_reply r;
	char			 a[ADDR_TEXT_MAX];

	if (s->wait != WAIT_GREYLIST)
		return;
	if (s->state == SMTP_S_QUIT) {
		s->wait = WAIT_NONE;
		return;
	}
	addr_format(&s->rcpt.addr, a, sizeof(a));
	if (IPC_DECODE(m, &r, NULL) == -1)
		r.verdict = IPC_GREYLIST_ERROR;
	if (r.verdict == GREYLIST_NEW || r.verdict == GREYLIST_EARLY) {
		rcpt_targets_drop(s, s->grey_mark);
		log_info("session=%016llx event=greylist client=%s from=<%s> "
		    "to=<%s> result=defer retry_in=%us",
		    (unsigned long long)s->id, s->peer_str,
		    log_safe(s->env.sender), log_safe(a), r.wait);
		reply(s, "451 4.7.1 <%s>: Recipient address rejected: "
		    "greylisted, try again later", reply_safe(a));
	} else {
		if (r.verdict != GREYLIST_PASS)
			log_warn("session=%016llx event=greylist result=error "
			    "action=accept", (unsigned long long)s->id);
		else
			log_debug("session=%016llx event=greylist client=%s "
			    "to=<%s> result=pass", (unsigned long long)s->id,
			    s->peer_str, log_safe(a));
		rcpt_done(s);
	}
	if (s->wait == WAIT_GREYLIST)	/* not waiting on a milter now */
		resume(s);
}

/* smtp_session_resolved - lookup's answer for the pending RCPT. */
void
smtp_session_resolved(struct smtp_session *s, struct ipc_msg *m)
{
	struct ipc_resolve_reply r;
	uint32_t		 res;
	size_t			 n;
	char			 a[ADDR_TEXT_MAX];

	if (s->wait != WAIT_RESOLVE)
		return;
	if (s->state == SMTP_S_QUIT) {	/* 421 already said: just go */
		s->wait = WAIT_NONE;
		return;
	}
	addr_format(&s->rcpt.addr, a, sizeof(a));
	if (IPC_DECODE(m, &r, NULL) == -1) {
		reply(s, "451 4.3.0 Error: recipient lookup failed");
		resume(s);
		return;
	}
	res = r.result;
	n = r.ntargets;
	if (res == LK_OK && n > 0) {
		s->grey_mark = s->env.nrcpt;
		for (size_t i = 0; i < n; i++)
			add_target(s, r.targets[i].kind == RCPT_LOCAL ?
			    RCPT_LOCAL : RCPT_REMOTE, r.targets[i].addr);
		if (greylist_ask(s, a)) {
			ipc_proto_free(IPC_RESOLVE_REPLY, &r);
			return;		/* WAIT_GREYLIST */
		}
		rcpt_done(s);
	} else if (res == LK_UNKNOWN || (res == LK_OK && n == 0)) {
		reject_rcpt(s, a, "unknown user", "550 5.1.1",
		    "Recipient address rejected: User unknown in local "
		    "recipient table");
	} else if (res == LK_LOOP)
		reply(s, "550 5.4.6 <%s>: alias loop", reply_safe(a));
	else if (res == LK_TEMPFAIL) {
		log_info("session=%016llx event=defer client=%s to=<%s> "
		    "dsn=4.3.0 reason=\"recipient check failed\"",
		    (unsigned long long)s->id, s->peer_str, log_safe(a));
		reply(s, "451 4.3.0 <%s>: Recipient address lookup failed, "
		    "try again later", reply_safe(a));
	}
	else
		reply(s, "452 4.5.3 <%s>: too many recipients after alias "
		    "expansion", reply_safe(a));
	ipc_proto_free(IPC_RESOLVE_REPLY, &r);
	if (s->wait == WAIT_RESOLVE)	/* not waiting on a milter now */
		resume(s);
}

static void
cmd_rset(struct smtp_session *s, const char *arg)
{
	spool_abort(s);
	tx_reset(s);
	reply(s, "250 2.0.0 Ok");
}

static void
cmd_noop(struct smtp_session *s, const char *arg)
{
	reply(s, "250 2.0.0 Ok");
}

static void
cmd_quit(struct smtp_session *s, const char *arg)
{
	reply(s, "221 2.0.0 Bye");
	s->quit = true;
	close_after(s);
}

static void
cmd_vrfy(struct smtp_session *s, const char *arg)
{
	if (*arg == '\0') {
		error(s, "501 5.5.4 Syntax: VRFY address");
		return;
	}
	reply(s, "252 2.5.2 Cannot VRFY user, but will accept message and "
	    "attempt delivery");
}

static void
cmd_expn(struct smtp_session *s, const char *arg)
{
	error(s, "502 5.5.1 Error: EXPN not available");
}

static void
cmd_help(struct smtp_session *s, const char *arg)
{
	reply(s, "214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA BDAT RSET "
	    "NOOP QUIT VRFY HELP%s", starttls_offered(s) ? " STARTTLS" : "");
}

/* ---- TLS ---- */

static bool
starttls_offered(const struct smtp_session *s)
{
	return !s->tls && tls_server_ctx() != NULL &&
	    config->listens[s->listen_idx].mode != LISTEN_SUBMISSIONS;
}

/*
 * cmd_starttls - RFC 3207.  Bytes pipelined behind STARTTLS arrived in
 * plaintext: running them inside TLS is CVE-2011-0411, so the session
 * ends instead.  The handshake starts once the 220 is written (flush).
 */
static void
cmd_starttls(struct smtp_session *s, const char *arg)
{
	if (*arg != '\0') {
		error(s, "501 5.5.4 Syntax: STARTTLS");
		return;
	}
	if (s->tls) {
		error(s, "503 5.5.1 Error: TLS already active");
		return;
	}
	if (s->state != SMTP_S_READY) {
		error(s, "503 5.5.1 Error: MAIL transaction in progress");
		return;
	}
	if (!starttls_offered(s)) {
		reply(s, "454 4.7.0 TLS not available");
		return;
	}
	if (evbuffer_get_length(io_input(s->io)) > 0) {
		log_info("session=%016llx event=reject client=%s "
		    "reason=\"input pipelined after STARTTLS\"",
		    (unsigned long long)s->id, s->peer_str);
		reply(s, "554 5.5.0 Error: commands sent after STARTTLS; "
		    "closing");
		close_after(s);
		return;
	}
	reply(s, "220 2.0.0 Ready to start TLS");
	s->wait = WAIT_TLS;
	progress(s);
}

static void
start_tls(struct smtp_session *s)
{
	SSL_CTX		*ctx = tls_server_ctx();
	const char	*why = NULL;

	if (evbuffer_get_length(io_input(s->io)) > 0) {
		/* Sent while the 220 waited for a full socket. */
		log_info("session=%016llx event=reject client=%s "
		    "reason=\"input pipelined after STARTTLS\"",
		    (unsigned long long)s->id, s->peer_str);
		why = "";
	} else if (ctx == NULL)
		why = "no certificate loaded";
	else {
		io_timeout(s->io, (unsigned)cmd_timeout());
		if (io_starttls(s->io, ctx) == -1)
			why = io_tls_error(s->io);
	}
	if (why != NULL) {
		if (*why != '\0')
			log_warn("session=%016llx event=tls-error client=%s "
			    "reason=\"%s\"", (unsigned long long)s->id,
			    s->peer_str, log_safe(why));
		close_after(s);
		s->wait = WAIT_NONE;
		flush(s);
	}
}

/* tls_ready - the handshake is done: RFC 3207 4.2, start over. */
static void
tls_ready(struct smtp_session *s)
{
	const char		*sni = io_tls_servername(s->io);
	struct smtp_log_peer	 lp;
	char			 from[ADDR_TEXT_MAX] = "";

	s->tls = true;
	s->wait = WAIT_NONE;
	progress(s);
	str_copy(s->tls_version, io_tls_version(s->io),
	    sizeof(s->tls_version));
	str_copy(s->tls_cipher, io_tls_cipher(s->io), sizeof(s->tls_cipher));
	stats_add(STATS_CONNECTIONS_TLS);
	log_info("session=%016llx event=tls client=%s tls=%s cipher=%s%s%s",
	    (unsigned long long)s->id, s->peer_str, s->tls_version,
	    s->tls_cipher, *sni ? " sni=" : "", *sni ? log_safe(sni) : "");
	if (smtp_log_postfix())
		smtp_log_tls(log_peer(s, &lp, from), s->tls_version,
		    s->tls_cipher);
	if (s->state == SMTP_S_GREET) {		/* implicit TLS */
		greet_start(s);
		return;
	}
	s->helo[0] = '\0';
	s->esmtp = false;
	s->auth[0] = '\0';
	tx_reset(s);			/* state HELO: EHLO again */
	set_timeout(s);
	process(s);
}

static void
cmd_notimpl(struct smtp_session *s, const char *arg)
{
	error(s, "502 5.5.1 Error: command not implemented");
}

/* ---- DATA and BDAT ---- */

enum body_kind { BODY_DATA, BODY_BDAT };

static void
request_spool(struct smtp_session *s)
{
	if (PROC_SEND(PROC_QUEUE, IPC_SPOOL_OPEN, s->id, &(struct ipc_empty){ 0 },
	    -1) == -1) {
		reply(s, "451 4.3.0 Error: queue unavailable");
		if (s->state == SMTP_S_BDAT) {
			/* The chunk still has to be read to stay in sync. */
			s->bdat_discard = true;
		}
		return;
	}
	s->wait = WAIT_SPOOL;
}

static void
cmd_data(struct smtp_session *s, const char *arg)
{
	if (*arg != '\0') {
		error(s, "501 5.5.4 Syntax: DATA");
		return;
	}
	if (s->bdat_used) {
		error(s, "503 5.5.1 Error: DATA after BDAT");
		return;
	}
	request_spool(s);
}

static void
cmd_bdat(struct smtp_session *s, const char *arg)
{
	uint64_t	 size;
	bool		 last;

	if (smtp_parse_bdat(arg, &size, &last) == -1) {
		/* Without a size the stream cannot be followed: hang up. */
		reply(s, "501 5.5.4 Syntax: BDAT size [LAST]");
		close_after(s);
		return;
	}
	s->bdat_size = s->bdat_left = size;
	s->bdat_last = last;
	s->bdat_discard = false;
	if (s->state != SMTP_S_RCPT) {
		s->bdat_discard = true;		/* read it, then 503 */
		s->state = SMTP_S_BDAT;
		return;
	}
	s->state = SMTP_S_BDAT;
	if (!s->bdat_used) {
		s->bdat_used = true;
		s->bdat_bad = false;
		request_spool(s);
	}
}

/* received_header - RFC 5321 4.4 trace field, RFC 3848/6531 "with". */
static void
received_header(struct smtp_session *s)
{
	char		 date[64];
	time_t		 t = time(NULL);
	struct tm	 tm;
	const char	*with;

	localtime_r(&t, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
	with = s->env.smtputf8 ? "UTF8SMTP" : s->esmtp ? "ESMTP" : "SMTP";
	/* RFC 3848 / RFC 6531: S for TLS, A for AUTH (ESMTP only). */
	buf_printf(&s->dbuf, "Received: from %s (%s [%s%s])\r\n\tby %s "
	    "(postbote) with %s%s%s id %s", s->helo, s->client_name,
	    strchr(s->peer_ip, ':') != NULL ? "IPv6:" : "", s->peer_ip,
	    hostname(), with, s->tls && (s->esmtp || s->env.smtputf8) ? "S" :
	    "", s->auth[0] != '\0' && (s->esmtp || s->env.smtputf8) ? "A" : "",
	    s->qid);
	if (s->tls)
		buf_printf(&s->dbuf, "\r\n\t(version=%s cipher=%s)",
		    s->tls_version, s->tls_cipher);
	if (s->nrcpt == 1 && s->env.nrcpt > 0)
		buf_printf(&s->dbuf, "\r\n\tfor <%s>", s->env.rcpts[0].orig);
	buf_printf(&s->dbuf, "; %s\r\n", date);
	s->hdr_len = s->dbuf.len;
}

/* smtp_session_spooled - queue handed us a spool file (or refused). */
void
smtp_session_spooled(struct smtp_session *s, struct ipc_msg *m)
{
	struct ipc_spool_open_reply r;
	struct smtp_log_peer	 lp;
	char			 from[ADDR_TEXT_MAX] = "";

	if (s->wait != WAIT_SPOOL || IPC_DECODE(m, &r, NULL) == -1 || !r.ok ||
	    strlen(r.id) != QUEUE_ID_LEN) {
		if (m->fd != -1)
			close(m->fd);
		if (s->wait != WAIT_SPOOL)
			return;
		reply(s, "451 4.3.0 Error: cannot create queue file");
		if (s->state == SMTP_S_BDAT)
			s->bdat_discard = true;
		resume(s);
		return;
	}
	str_copy(s->qid, r.id, sizeof(s->qid));
	s->spool_fd = m->fd;
	smtp_log_client(log_peer(s, &lp, from));
	if (s->state == SMTP_S_QUIT) {	/* 421 already said: give it back */
		s->wait = WAIT_NONE;
		spool_abort(s);
		return;
	}
	begin_body(s);
	resume(s);
}

static void
begin_body(struct smtp_session *s)
{
	buf_reset(&s->dbuf);
	s->held = false;
	received_header(s);
	smtp_data_init(&s->rx, config->max_message_size, &s->dbuf);
	data_timer_start(s);
	if (s->state == SMTP_S_BDAT)
		return;
	s->state = SMTP_S_DATA;
	reply(s, "354 End data with <CR><LF>.<CR><LF>");
}

/* spool_flush - write pending bytes to the spool file (page cache; the
 * durable sync is queue's, batched), and let go of them. */
static void
spool_flush(struct smtp_session *s)
{
	spool_write(s);
	buf_reset(&s->dbuf);
}

/* spool_write - the same, keeping the bytes in s->dbuf. */
static void
spool_write(struct smtp_session *s)
{
	size_t	off = 0;

	while (!s->spool_err && off < s->dbuf.len) {
		ssize_t	w = write(s->spool_fd, s->dbuf.data + off,
		    s->dbuf.len - off);

		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0) {
			log_warn("session=%016llx %s: event=spool-write-error "
			    "error=\"%s\"", (unsigned long long)s->id, s->qid,
			    strerror(errno));
			s->spool_err = true;
			break;
		}
		off += (size_t)w;
	}
}

/*
 * body_refused - the verdict on the content once it is read: a fault
 * (smtp_data_fault: bare CR, bare LF under bare_lf = reject, NUL) gets
 * 554, a message over max_message_size 552.  Given at the end of the
 * data, never in the middle: the client and we agree on where the message
 * ended, so the session goes on.  true: refused, reply queued.
 */
static bool
body_refused(struct smtp_session *s)
{
	const char		*why;
	char			 text[128];
	char			 from[ADDR_TEXT_MAX] = "";
	struct smtp_log_peer	 lp;

	switch (data_fault(s)) {
	case DATA_FAULT_NONE:
		if (!s->rx.overflow)
			return false;
		note_reject(s, STATS_REJ_CONTENT,
		    "552 5.3.4 Error: message size exceeds limit");
		if (smtp_log_postfix())
			smtp_log_reject(log_peer(s, &lp, from),
			    "END-OF-MESSAGE", NULL,
			    "552 5.3.4 Error: message size exceeds limit");
		spool_abort(s);
		tx_reset(s);
		reply(s, "552 5.3.4 Error: message size exceeds limit");
		return true;
	case DATA_FAULT_NUL:
		why = "NUL byte in message";
		break;
	default:
		why = "bare CR or LF in message";
		break;
	}
	snprintf(text, sizeof(text), "554 5.6.0 Error: %s", why);
	note_reject(s, STATS_REJ_CONTENT, text);
	if (smtp_log_postfix())
		smtp_log_reject(log_peer(s, &lp, from),
			    "END-OF-MESSAGE", NULL, text);
	else
		log_info("session=%016llx event=reject client=%s "
		    "reason=\"%s\"", (unsigned long long)s->id, s->peer_str,
		    why);
	spool_abort(s);
	tx_reset(s);
	error(s, "%s", text);
	return true;
}

/* data_fault - what keeps the content read so far from being taken. */
static enum data_fault
data_fault(const struct smtp_session *s)
{
	return smtp_data_fault(&s->rx, config->bare_lf == BARE_LF_NORMALIZE);
}

/* spool_keep - write out what has come, or drop it when the message is
 * already known to be refused. */
static void
spool_keep(struct smtp_session *s)
{
	if (data_fault(s) != DATA_FAULT_NONE)
		buf_reset(&s->dbuf);
	else if (s->dbuf.len >= SPOOL_FLUSH)
		spool_flush(s);
}

static bool
data_step(struct smtp_session *s, struct evbuffer *in)
{
	struct evbuffer_iovec	 v[8];
	int			 nv = evbuffer_peek(in, -1, NULL, v, 8);
	size_t			 total = 0, used = 0;
	enum data_result	 r = DATA_MORE;

	for (int i = 0; i < nv && i < 8 && r == DATA_MORE; i++) {
		r = smtp_data_feed(&s->rx, v[i].iov_base, v[i].iov_len, &used);
		total += used;
	}
	evbuffer_drain(in, total);
	s->data_bytes += total;
	spool_keep(s);
	if (r == DATA_END)
		finish_message(s);
	return true;
}

static void
bdat_done(struct smtp_session *s)
{
	if (s->bdat_discard) {
		bool	answered = s->bdat_used && s->qid[0] == '\0' &&
		    s->spool_fd == -1;	/* the spool request failed: 451 */

		s->state = s->helo[0] ? SMTP_S_READY : SMTP_S_HELO;
		spool_abort(s);
		tx_reset(s);
		if (!answered)
			error(s, "503 5.5.1 Error: BDAT without a transaction");
		return;
	}
	if (s->bdat_last) {
		smtp_data_bdat_last(&s->rx);
		finish_message(s);
		return;
	}
	/* RFC 3030 4.2: a refused chunk ends the transaction. */
	if (body_refused(s))
		return;
	spool_keep(s);
	s->state = SMTP_S_RCPT;
	reply(s, "250 2.0.0 %llu octets received",
	    (unsigned long long)s->bdat_size);
}

static bool
bdat_step(struct smtp_session *s, struct evbuffer *in)
{
	while (s->bdat_left > 0 && evbuffer_get_length(in) > 0) {
		struct evbuffer_iovec	v;
		size_t			n;

		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			break;
		n = MIN(v.iov_len, s->bdat_left);
		if (!s->bdat_discard && !s->bdat_bad) {
			smtp_data_bdat_feed(&s->rx, v.iov_base, n);
			s->bdat_bad = data_fault(s) != DATA_FAULT_NONE;
		}
		evbuffer_drain(in, n);
		s->data_bytes += n;
		s->bdat_left -= n;
		spool_keep(s);
	}
	if (s->bdat_left > 0)
		return false;
	bdat_done(s);
	return true;
}

/* finish_message - end of data: the content's verdict, then the durable
 * commit. */
static void
finish_message(struct smtp_session *s)
{
	if (body_refused(s))
		return;
	/* A message that never reached SPOOL_FLUSH is whole in dbuf: the
	 * checks and milters read it there (until the next transaction's
	 * begin_body), not through a mapping of the file. */
	s->held = s->dbuf.len == (size_t)(s->hdr_len + s->rx.size);
	if (s->held)
		spool_write(s);
	else
		spool_flush(s);
	if (!s->spool_err && s->milter_discard) {
		log_info("%s: session=%016llx event=discard reason=milter",
		    s->qid, (unsigned long long)s->id);
		spool_abort(s);
		tx_reset(s);
		reply(s, "250 2.0.0 Ok: discarded");
		return;
	}
	if (!s->spool_err && s->milter != NULL) {
		size_t				 len = (size_t)(s->hdr_len +
						    s->rx.size);
		void				*p = s->held ? s->dbuf.data :
						    mmap(NULL, len, PROT_READ,
						    MAP_PRIVATE, s->spool_fd, 0);
		struct smtpd_milter_info	 mi;
		bool				 wait;

		if (p == MAP_FAILED) {
			log_warn("%s: session=%016llx event=spool-map-error "
			    "error=\"%s\"", s->qid, (unsigned long long)s->id,
			    strerror(errno));
			s->spool_err = true;
			commit_message(s);
			return;
		}
		milter_info(s, &mi);
		s->milter_phase = MPH_EOM;
		wait = smtpd_milter_eom(s->milter, &mi, p, len);
		if (!s->held)
			munmap(p, len);
		s->state = SMTP_S_RCPT;	/* until the milters answer */
		if (wait)
			s->wait = WAIT_MILTER;
		else
			milter_answer(s);
		return;
	}
	eod_checks(s);
}

/* eod_checks - DKIM, DMARC, signing on the message as it will be queued,
 * then the commit. */
static void
eod_checks(struct smtp_session *s)
{
	if (!s->spool_err) {
		struct smtp_check_eod	 e;

		ASSERT(s->chk != NULL);		/* made at MAIL */
		e.fd = s->spool_fd;
		e.len = (size_t)(s->hdr_len + s->rx.size);
		e.qid = s->qid;
		e.data = s->held ? s->dbuf.data : NULL;
		if (smtp_check_eod(s->chk, &e, checked)) {
			s->state = SMTP_S_RCPT;	/* until the checks answer */
			s->wait = WAIT_CHECK;
			return;
		}
	}
	commit_message(s);
}

/* checked - smtp_check's answers are in; the session may be gone (it
 * cancels its check when it ends, and is looked up by id anyway). */
static void
checked(uint64_t id)
{
	struct smtp_session	*s = smtp_session_find(id);

	if (s == NULL)
		return;
	check_done(s);
	flush(s);
}

/* answered - the answer s waited for (w) is in; false when s did not
 * wait for it, or has said 421 meanwhile (the message is dropped). */
static bool
answered(struct smtp_session *s, enum smtp_wait w)
{
	if (s->wait != w)
		return false;
	s->wait = WAIT_NONE;
	if (s->state == SMTP_S_QUIT) {	/* 421 already said */
		spool_abort(s);
		tx_reset(s);
		return false;
	}
	return true;
}

/* check_done - the SPF/DKIM/DMARC answers are in: verdict, commit. */
static void
check_done(struct smtp_session *s)
{
	if (!answered(s, WAIT_CHECK))
		return;
	commit_message(s);
	if (s->wait == WAIT_NONE)
		resume(s);
}

/* commit_message - the verdict, then the durable commit. */
static void
commit_message(struct smtp_session *s)
{
	struct ipc_spool_commit	 c;
	struct buf		 env;
	char			 client[128];
	int			 rc;

	close(s->spool_fd);
	s->spool_fd = -1;
	if (s->spool_err) {
		spool_failed(s);
		return;
	}
	memcpy(s->env.id, s->qid, sizeof(s->env.id));
	s->env.arrival = now_usec();
	s->env.size = s->rx.size + s->hdr_len;
	if (!verdict_apply(s))
		return;
	s->env.helo = xstrdup(s->helo);
	snprintf(client, sizeof(client), "%s", s->peer_str);
	s->env.client = xstrdup(client);
	s->env.client_name = xstrdup(s->client_name);
	buf_init(&env, 0);
	if (envelope_encode(&s->env, &env) == -1)
		fatalx("envelope_encode failed");
	c.id = s->qid;
	c.envelope.p = env.data;
	c.envelope.len = env.len;
	/* A small message whose file is s->dbuf (nothing cut out, no
	 * milter's edit) goes along: the queue need not read it back. */
	c.data.p = NULL;
	c.data.len = 0;
	if (s->held && s->env.size == s->dbuf.len &&
	    s->env.size <= IPC_SPOOL_DATA_MAX) {
		c.data.p = s->dbuf.data;
		c.data.len = s->dbuf.len;
	}
	rc = PROC_SEND(PROC_QUEUE, IPC_SPOOL_COMMIT, s->id, &c, -1);
	buf_free(&env);
	if (rc == -1) {
		tx_reset(s);
		reply(s, "451 4.3.0 Error: queue unavailable");
		return;
	}
	s->state = SMTP_S_RCPT;		/* until the commit answers */
	s->wait = WAIT_COMMIT;
}

/* spool_failed - the spool file could not be written: drop it, 451. */
static void
spool_failed(struct smtp_session *s)
{
	spool_abort(s);
	tx_reset(s);
	reply(s, "451 4.3.0 Error: queue file write error");
}

/*
 * verdict_apply - smtp_check's verdict into the envelope: the size less
 * the bytes cut, the quarantine flag, the fields to prepend.  false: the
 * message is refused, its reply queued and the transaction over.
 */
static bool
verdict_apply(struct smtp_session *s)
{
	struct smtp_check_verdict	 v;
	struct smtp_log_peer		 lp;
	char				 from[ADDR_TEXT_MAX] = "";

	smtp_check_verdict(s->chk, &v);
	switch (v.action) {
	case SMTP_CHECK_ACCEPT:
		s->env.size -= v.cut;
		s->env.quarantine = s->milter_quarantine ? ENV_HOLD_MILTER :
		    v.quarantine ? ENV_HOLD_DMARC :
		    config->listens[s->listen_idx].hold ? ENV_HOLD_LISTENER :
		    ENV_HOLD_NONE;
		/* RFC 8689 4.1: with REQUIRETLS the header is ignored. */
		if (s->env.tls_req == ENV_TLS_DEFAULT && v.tls_optional)
			s->env.tls_req = ENV_TLS_OPTIONAL;
		free(s->env.prepend);
		s->env.prepend = v.prepend;	/* moved */
		v.prepend = NULL;
		return true;
	case SMTP_CHECK_REFUSE:
		note_reject(s, STATS_REJ_POLICY, v.reply);
		if (smtp_log_postfix())
			smtp_log_reject(log_peer(s, &lp, from),
			    "END-OF-MESSAGE", NULL, v.reply);
		spool_abort(s);
		tx_reset(s);
		reply(s, "%s", v.reply);
		break;
	case SMTP_CHECK_SPOOL_ERROR:
		spool_failed(s);
		break;
	}
	smtp_check_verdict_free(&v);
	return false;
}

/* smtp_session_committed - queue says the message is durable (or not). */
void
smtp_session_committed(struct smtp_session *s, struct ipc_msg *m)
{
	struct ipc_reply r = { 0, NULL };
	bool		 ok = IPC_DECODE(m, &r, NULL) == 0 && r.ok;

	if (s->wait != WAIT_COMMIT || s->commit_lost)
		return;
	commit_answer(s, ok, r.text != NULL && *r.text != '\0' ? r.text :
	    "queue commit failed");
}

/*
 * smtp_session_commit_status - a restarted queue says whether the commit
 * its predecessor took with it was journaled: then the message was
 * recovered and will be delivered, and the client gets its 250, not a
 * 451 after which it would send the message again.
 */
void
smtp_session_commit_status(struct smtp_session *s, struct ipc_msg *m)
{
	struct ipc_spool_status_reply r = { 0 };
	bool		 ok = IPC_DECODE(m, &r, NULL) == 0 && r.journaled;

	if (s->wait != WAIT_COMMIT || s->commit_lost)
		return;
	log_info("%s: session=%016llx event=commit-status journaled=%s",
	    s->qid, (unsigned long long)s->id, ok ? "yes" : "no");
	commit_answer(s, ok, "internal service restarting, try again");
}

/* commit_answer - the reply to the end of data: 250 when ok, else 451
 * with why; then the session goes on with what the client sent. */
static void
commit_answer(struct smtp_session *s, bool ok, const char *why)
{
	if (s->state == SMTP_S_QUIT) {	/* 421 could not be sent yet */
		s->wait = WAIT_NONE;
		s->qid[0] = '\0';
		tx_reset(s);
		return;
	}
	if (ok) {
		log_info("%s: session=%016llx client=%s helo=\"%s\" size=%llu "
		    "nrcpt=%zu%s%s%s%s", s->qid, (unsigned long long)s->id,
		    s->peer_str, log_safe(s->helo),
		    (unsigned long long)s->env.size, s->env.nrcpt,
		    s->tls ? " tls=" : "", s->tls ? s->tls_version : "",
		    s->auth[0] != '\0' ? " auth=" : "",
		    s->auth[0] != '\0' ? log_safe(s->auth) : "");
		reply(s, "250 2.0.0 Ok: queued as %s", s->qid);
		stats_add(STATS_RECEIVED);
		s->nmsgs++;
	} else
		reply(s, "451 4.3.0 Error: %s", why);
	s->qid[0] = '\0';
	s->state = SMTP_S_READY;
	tx_reset(s);
	if (shutting_down) {
		reply(s, "421 4.3.2 %s Service shutting down", hostname());
		close_after(s);
	}
	resume(s);
}

/* smtp_session_peer_down - lookup or queue died: fail waiting requests. */
void
smtp_session_peer_down(int proc)
{
	for (size_t i = 0; i < TABLE_SIZE; i++) {
		struct smtp_session *s = table[i], *next;

		for (; s != NULL; s = next) {
			next = s->hnext;
			if (proc == PROC_LOOKUP && s->milter != NULL)
				smtpd_milter_lookup_down(s->milter);
			if (proc == PROC_LOOKUP && (s->wait == WAIT_AUTH ||
			    s->wait == WAIT_OWNER)) {
				auth_check_done(s);
				reply(s, s->wait == WAIT_AUTH ? "454 4.7.0 "
				    "Temporary authentication failure" :
				    "451 4.3.0 Error: sender check restarting, "
				    "try again");
				if (s->wait == WAIT_OWNER)
					memset(&s->mail, 0, sizeof(s->mail));
				resume(s);
				flush(s);
			} else if (proc == PROC_LOOKUP &&
			    s->wait == WAIT_GREYLIST) {
				rcpt_targets_drop(s, s->grey_mark);
				reply(s, "451 4.3.0 Error: recipient lookup "
				    "restarting, try again");
				resume(s);
				flush(s);
			} else if (proc == PROC_LOOKUP &&
			    s->wait == WAIT_RESOLVE) {
				/* Only that RCPT fails; the transaction stays. */
				reply(s, "451 4.3.0 Error: recipient lookup "
				    "restarting, try again");
				resume(s);
				flush(s);
			} else if (proc == PROC_QUEUE &&
			    s->wait == WAIT_COMMIT) {
				/* The queue may have journaled it: its
				 * successor will say (peer_up). */
				if (!s->commit_lost)
					log_info("%s: session=%016llx "
					    "event=commit-interrupted",
					    s->qid, (unsigned long long)s->id);
				s->commit_lost = true;
			} else if (proc == PROC_QUEUE &&
			    s->wait == WAIT_SPOOL) {
				reply(s, "451 4.3.0 Error: internal service "
				    "restarting, try again");
				s->qid[0] = '\0';
				if (s->state == SMTP_S_BDAT)
					s->bdat_discard = true;
				else
					tx_reset(s);
				resume(s);
				flush(s);
			} else if (proc == PROC_QUEUE && s->spool_fd != -1) {
				/* Its spool file belongs to the old queue. */
				s->spool_err = true;
			}
		}
	}
}

/* smtp_session_peer_up - see smtp_session.h.  A question that cannot be
 * sent (the queue went again) waits for the next peer_up. */
void
smtp_session_peer_up(int proc)
{
	if (proc != PROC_QUEUE)
		return;
	for (size_t i = 0; i < TABLE_SIZE; i++)
		for (struct smtp_session *s = table[i]; s != NULL;
		    s = s->hnext) {
			if (s->wait != WAIT_COMMIT || !s->commit_lost)
				continue;
			if (PROC_SEND(PROC_QUEUE, IPC_SPOOL_STATUS, s->id,
			    &(struct ipc_spool_status){ s->qid }, -1) == 0)
				s->commit_lost = false;
		}
}

/* smtp_session_shutdown_all - 421 to all but sessions mid-commit. */
void
smtp_session_shutdown_all(void)
{
	shutting_down = true;
	for (size_t i = 0; i < TABLE_SIZE; i++) {
		struct smtp_session *s = table[i], *next;

		for (; s != NULL; s = next) {
			next = s->hnext;
			if (s->wait == WAIT_COMMIT && s->commit_lost &&
			    s->state != SMTP_S_QUIT) {
				/* The queue is down and no successor comes
				 * while we stop: nobody can say. */
				s->commit_lost = false;
				commit_answer(s, false, "internal service "
				    "restarting, try again");
				flush(s);
				continue;
			}
			if (s->wait == WAIT_COMMIT || s->state == SMTP_S_QUIT)
				continue;
			if (s->wait == WAIT_TLS) {	/* mid-handshake */
				s->wait = WAIT_NONE;
				close_after(s);
				flush(s);
				continue;
			}
			reply(s, "421 4.3.2 %s Service shutting down",
			    hostname());
			close_after(s);
			flush(s);
		}
	}
}

/* ---- connection limits, rates, the minimum data rate ---- */

static uint64_t
now_sec(void)
{
	return now_mono_usec() / 1000000;
}

/*
 * set_limit_key - whom the per-client limits count: the IPv4 address, or
 * the /64 of an IPv6 one (a single host is commonly given a whole /64,
 * so per-address counting would let it spread out).
 */
static void
set_limit_key(struct smtp_session *s)
{
	const struct sockaddr_in6 *in6 = (const void *)&s->peer;
	struct in6_addr		 net;
	char			 a[INET6_ADDRSTRLEN];

	if (s->peer.ss_family != AF_INET6 ||
	    IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
		str_copy(s->limit_key, s->peer_ip, sizeof(s->limit_key));
		return;
	}
	net = in6->sin6_addr;
	memset(net.s6_addr + 8, 0, 8);
	inet_ntop(AF_INET6, &net, a, sizeof(a));
	snprintf(s->limit_key, sizeof(s->limit_key), "%s/64", a);
}

/*
 * per_ip_limit - the connections one client IP may hold: no limit for
 * relay_networks (the site's own hosts), else max_connections_per_ip, or
 * under stress stress_connections_per_ip when that is lower (*lowered).
 */
static unsigned
per_ip_limit(const struct smtp_session *s, bool *lowered)
{
	unsigned	 n = config->max_connections_per_ip;
	unsigned	 st = config->stress_connections_per_ip;

	*lowered = false;
	if (s->relay_ok)
		return 0;
	if (st > 0 && (n == 0 || st < n) && is_stressed()) {
		*lowered = true;
		return st;
	}
	return n;
}

/*
 * conn_admit - max_connections, the per-IP limit (lower under stress) and
 * the failed-AUTH ban, at connect: past them the client gets 421 and is
 * dropped before the greeting.  Returns false when the session is closing.
 */
static bool
conn_admit(struct smtp_session *s)
{
	uint64_t		 now = now_sec();
	enum limits_conn	 r;
	unsigned		 per_ip;
	bool			 lowered;

	set_limit_key(s);
	if (now >= last_sweep + LIMITS_SWEEP) {
		limits_sweep(limits, now, MAX(3600,
		    config->auth_failure_window));
		last_sweep = now;
	}
	per_ip = per_ip_limit(s, &lowered);
	r = limits_conn_open(limits, s->limit_key, now, config->max_connections,
	    per_ip);
	if (r == LIMITS_CONN_OK) {
		s->conn_counted = true;
		return true;
	}
	log_info("session=%016llx event=reject client=%s reason=\"%s\"",
	    (unsigned long long)s->id, s->peer_str,
	    r == LIMITS_CONN_BANNED ? "too many failed logins" :
	    r == LIMITS_CONN_TOTAL ? "max_connections" : lowered ?
	    "stress_connections_per_ip" : "max_connections_per_ip");
	/* On an implicit-TLS listener the client waits for a handshake: a
	 * plaintext 421 would only be a TLS error to it; just close. */
	if (config->listens[s->listen_idx].mode == LISTEN_SUBMISSIONS)
		;
	else if (r == LIMITS_CONN_BANNED)
		reply(s, "421 4.7.0 %s Error: too many failed logins from "
		    "your address, try again later", hostname());
	else
		reply(s, "421 4.7.0 %s Error: too many connections%s, try "
		    "again later", hostname(), r == LIMITS_CONN_TOTAL ? "" :
		    " from your address");
	close_after(s);
	flush(s);
	return false;
}

/*
 * rate_take - count n messages or recipients against the client IP
 * (clients outside relay_networks) and the login (authenticated
 * clients); false if a per-minute or per-hour rate would be exceeded.
 */
static bool
rate_take(struct smtp_session *s, enum limits_rate r, unsigned n)
{
	unsigned	 pm = r == LIMITS_MESSAGES ?
	    config->rate_messages_per_minute :
	    config->rate_recipients_per_minute;
	unsigned	 ph = r == LIMITS_MESSAGES ?
	    config->rate_messages_per_hour : config->rate_recipients_per_hour;
	char		 key[LIMITS_KEY_MAX + 1];
	uint64_t	 now = now_sec();
	bool		 ok = true;

	if (!s->relay_ok) {
		snprintf(key, sizeof(key), "ip:%s", s->limit_key);
		ok = limits_rate_take(limits, key, r, now, n, pm, ph);
	}
	if (ok && s->auth[0] != '\0') {
		snprintf(key, sizeof(key), "user:%s", s->auth);
		ok = limits_rate_take(limits, key, r, now, n, pm, ph);
	}
	if (!ok)
		log_info("session=%016llx event=reject client=%s auth=%s "
		    "reason=\"%s rate limit\"", (unsigned long long)s->id,
		    s->peer_str, s->auth[0] ? log_safe(s->auth) : "-",
		    r == LIMITS_MESSAGES ? "message" : "recipient");
	return ok;
}

static bool
rcpt_rate_ok(struct smtp_session *s)
{
	if (rate_take(s, LIMITS_RECIPIENTS, 1))
		return true;
	reply(s, "450 4.7.1 Error: recipient rate limit exceeded, try again "
	    "later");
	return false;
}

/* ---- the session clock: junk, commands, idle and session time ---- */

/* is_stressed - near max_connections (stress_threshold of it). */
static bool
is_stressed(void)
{
	return limits_stressed(limits, config->max_connections,
	    config->stress_threshold);
}

/* cmd_timeout - seconds the client has for a command that does
 * something: shorter under stress, as Postfix's stress mode has it. */
static uint64_t
cmd_timeout(void)
{
	if (is_stressed())
		return MIN(config->command_timeout,
		    config->stress_command_timeout);
	return config->command_timeout;
}

/* progress - the client did something: its idle time starts again. */
static void
progress(struct smtp_session *s)
{
	s->idle_usec = 0;
	s->idle_mark = now_mono_usec();
}

/*
 * is_junk - a command that does nothing for mail: NOOP, HELP, VRFY (it
 * never says more than 252), RSET with no transaction to reset, and
 * EHLO/HELO once the session has a name (RFC 3207 4.2 wants one after
 * STARTTLS: the name is forgotten there, so that one is not junk).
 */
static bool
is_junk(const struct smtp_session *s, const struct smtp_verb *v)
{
	if (v->run == cmd_noop || v->run == cmd_help || v->run == cmd_vrfy)
		return true;
	if (v->run == cmd_rset)
		return s->state == SMTP_S_HELO || s->state == SMTP_S_READY;
	return (v->run == cmd_ehlo || v->run == cmd_helo) &&
	    s->helo[0] != '\0';
}

/* too_many - past max_commands_per_message or max_junk_commands. */
static void
too_many(struct smtp_session *s, const char *what, unsigned n)
{
	log_info("session=%016llx event=too-many-%s client=%s count=%u",
	    (unsigned long long)s->id, what, s->peer_str, n);
	reply(s, "421 4.7.0 %s Error: too many %s without mail", hostname(),
	    strcmp(what, "junk") == 0 ? "junk commands" : "commands");
	close_after(s);
}

/*
 * line_counted - one more command line since the last message; past
 * max_commands_per_message: 421 4.7.0, the session ends (false).  Bounds
 * what neither errors nor junk count (RCPT after RCPT answered 452, MAIL
 * and RSET in turn).  BDAT chunks are not counted: max_message_size
 * bounds them.
 */
static bool
line_counted(struct smtp_session *s, const char *line)
{
	if (s->nmsgs != s->nmsgs_counted) {	/* a message was accepted */
		s->nmsgs_counted = s->nmsgs;
		s->junk = s->ncmds = 0;
	}
	if (config->max_commands_per_message == 0 ||
	    strncasecmp(line, "BDAT ", 5) == 0 ||
	    ++s->ncmds <= config->max_commands_per_message)
		return true;
	too_many(s, "commands", s->ncmds);
	return false;
}

/*
 * junk_counted - v about to run: if it is junk, count it since the last
 * message; past max_junk_commands: 421 4.7.0, the session ends (false).
 * Junk is no activity either (see session_clock): a client that sends a
 * NOOP every few seconds no longer keeps a slot (as Postfix's
 * smtpd_junk_command_limit, which counts into its error limit instead).
 */
static bool
junk_counted(struct smtp_session *s, const struct smtp_verb *v)
{
	if (!is_junk(s, v) || config->max_junk_commands == 0 ||
	    ++s->junk <= config->max_junk_commands)
		return true;
	too_many(s, "junk", s->junk);
	return false;
}

/*
 * over_stress_share - under stress, a client IP holding more than
 * stress_connections_per_ip sessions loses this one at its next command
 * outside a transaction (421 4.7.0): the lower share applies to the
 * sessions it opened before the stress too, not only to new ones.
 */
static bool
over_stress_share(struct smtp_session *s)
{
	bool	 lowered;

	if (!s->conn_counted || (s->state != SMTP_S_HELO &&
	    s->state != SMTP_S_READY) || per_ip_limit(s, &lowered) == 0 ||
	    !lowered || limits_conn_count(limits, s->limit_key) <=
	    config->stress_connections_per_ip)
		return false;
	log_info("session=%016llx event=reject client=%s "
	    "reason=\"stress_connections_per_ip\"", (unsigned long long)s->id,
	    s->peer_str);
	reply(s, "421 4.7.0 %s Error: too many connections from your "
	    "address, try again later", hostname());
	close_after(s);
	return true;
}

/* is_client_turn - the session waits for the client, not for us. */
static bool
is_client_turn(const struct smtp_session *s)
{
	if (s->wait == WAIT_TLS)
		return true;		/* the handshake is the client's */
	return s->wait == WAIT_NONE && !s->out_full &&
	    (S_ANY & S_BIT(s->state));
}

/* session_time_up - max_session_time is over: 421, and a message in
 * DATA or BDAT is dropped.  Waits for our own requests to end first, and
 * for the greeting (greet_delay is at most a minute). */
static void
session_time_up(struct smtp_session *s)
{
	if ((s->wait != WAIT_NONE && s->wait != WAIT_TLS) ||
	    (s->state == SMTP_S_GREET && s->wait != WAIT_TLS))
		return;			/* at the next tick */
	log_info("session=%016llx event=session-time client=%s seconds=%llu",
	    (unsigned long long)s->id, s->peer_str,
	    (unsigned long long)config->max_session_time);
	if (s->wait == WAIT_TLS) {	/* no 421 inside a handshake */
		session_free(s);
		return;
	}
	if (s->state == SMTP_S_DATA || s->state == SMTP_S_BDAT) {
		spool_abort(s);
		tx_reset(s);
	}
	reply(s, "421 4.4.2 %s Error: session time limit exceeded",
	    hostname());
	close_after(s);
	flush(s);
}

/*
 * clock_session - one session at a tick.  The idle time counts while it
 * is the client's turn, and only commands that do something (progress)
 * start it again: junk, errors and bytes of an unfinished line do not.
 * A NOOP every few seconds, or an endless line a byte at a time, used to
 * restart the idle timer for ever.
 */
static void
clock_session(struct smtp_session *s, uint64_t now, uint64_t limit)
{
	if (s->state == SMTP_S_QUIT)
		return;
	if (config->max_session_time > 0 &&
	    now - s->started >= config->max_session_time * 1000000) {
		session_time_up(s);
		return;
	}
	if (is_client_turn(s))
		s->idle_usec += now - s->idle_mark;
	s->idle_mark = now;
	if (s->idle_usec >= limit && is_client_turn(s) && idle_timeout(s))
		flush(s);
}

/*
 * session_clock - every CLOCK_TICK while there are sessions: the idle
 * and session time of each (the limit is cmd_timeout(), shorter under
 * stress, for every session at once), and the stress state for the log.
 */
static void
session_clock(evutil_socket_t fd, short ev, void *arg)
{
	uint64_t	 now = now_mono_usec();
	uint64_t	 limit = cmd_timeout() * 1000000;
	bool		 st = is_stressed();

	if (st != stress_on)
		log_info("event=stress state=%s connections=%u "
		    "max_connections=%u", st ? "on" : "off",
		    limits_conn_total(limits), config->max_connections);
	stress_on = st;
	for (size_t i = 0; i < TABLE_SIZE; i++) {
		struct smtp_session *s = table[i], *next;

		for (; s != NULL; s = next) {
			next = s->hnext;	/* s may be freed */
			clock_session(s, now, limit);
		}
	}
	if (nsessions == 0)
		event_del(clock_ev);
}

/* data_tick - every data_rate_window in DATA/BDAT: too slow, 421. */
static void
data_tick(evutil_socket_t fd, short ev, void *arg)
{
	struct smtp_session	*s = arg;
	uint64_t		 bytes = s->data_bytes;

	s->data_bytes = 0;
	if ((s->state != SMTP_S_DATA && s->state != SMTP_S_BDAT) ||
	    s->wait != WAIT_NONE)
		return;			/* our turn, not the client's */
	if (limits_data_rate_ok(bytes, config->data_rate_window,
	    config->min_data_rate))
		return;
	log_info("session=%016llx event=slow-data client=%s bytes=%llu "
	    "seconds=%llu", (unsigned long long)s->id, s->peer_str,
	    (unsigned long long)bytes,
	    (unsigned long long)config->data_rate_window);
	spool_abort(s);
	tx_reset(s);
	reply(s, "421 4.4.2 %s Error: data rate too low, closing",
	    hostname());
	close_after(s);
	flush(s);
}

static void
data_timer_start(struct smtp_session *s)
{
	struct timeval	tv = { (time_t)config->data_rate_window, 0 };

	s->data_bytes = 0;
	if (config->min_data_rate == 0 || s->data_timer != NULL)
		return;
	s->data_timer = event_new(base, -1, EV_PERSIST, data_tick, s);
	event_add(s->data_timer, &tv);
}

static void
data_timer_stop(struct smtp_session *s)
{
	if (s->data_timer != NULL) {
		event_free(s->data_timer);
		s->data_timer = NULL;
	}
}

/* ---- AUTH (RFC 4954) and the listener policy at MAIL ---- */

/* is_auth_offered - AUTH needs TLS unless allow_plaintext_auth. */
static bool
is_auth_offered(const struct smtp_session *s)
{
	return s->tls || config->allow_plaintext_auth;
}

/*
 * mail_policy - the listener mode and session caps at MAIL: submission
 * and submissions take mail only after AUTH (DESIGN 4); a session gets
 * max_messages_per_session.  false when a reply was given.
 */
static bool
mail_policy(struct smtp_session *s)
{
	enum listen_mode	 mode = config->listens[s->listen_idx].mode;

	if (mode != LISTEN_MX && s->auth[0] == '\0') {
		error(s, "530 5.7.0 Authentication required");
		return false;
	}
	if (config->max_messages_per_session > 0 &&
	    s->nmsgs >= config->max_messages_per_session) {
		log_info("session=%016llx event=reject client=%s "
		    "reason=\"max_messages_per_session\"",
		    (unsigned long long)s->id, s->peer_str);
		reply(s, "421 4.7.0 %s Error: too many messages in this "
		    "session", hostname());
		close_after(s);
		return false;
	}
	return true;
}

/* sender_check - ask lookup whether the login owns MAIL FROM. */
static void
sender_check(struct smtp_session *s)
{
	char			 a[ADDR_TEXT_MAX];
	struct ipc_sender_owned	 q = { s->auth, a };

	addr_format(&s->mail.addr, a, sizeof(a));
	if (PROC_SEND(PROC_LOOKUP, IPC_SENDER_OWNED, s->id, &q, -1) == -1) {
		reply(s, "451 4.3.0 Error: sender check unavailable");
		memset(&s->mail, 0, sizeof(s->mail));
	} else
		s->wait = WAIT_OWNER;
}

/* smtp_session_owned - lookup's answer to sender_check. */
void
smtp_session_owned(struct smtp_session *s, struct ipc_msg *m)
{
	struct ipc_sender_owned_reply	 r;
	char				 a[ADDR_TEXT_MAX];
	char				 text[2 * ADDR_TEXT_MAX + 64];
	struct smtp_log_peer		 lp;

	if (s->wait != WAIT_OWNER)
		return;
	s->wait = WAIT_NONE;
	if (s->state == SMTP_S_QUIT)
		return;
	if (IPC_DECODE(m, &r, NULL) == 0 && r.ok)
		mail_accept(s);
	else {
		addr_format(&s->mail.addr, a, sizeof(a));
		snprintf(text, sizeof(text), "553 5.7.1 <%s>: Sender address "
		    "rejected: not owned by user %s", reply_safe(a),
		    reply_safe(s->auth));
		note_reject(s, STATS_REJ_SENDER_NOT_OWNED, text);
		if (smtp_log_postfix())
			smtp_log_reject(log_peer(s, &lp, a), "MAIL", NULL,
			    text);
		else
			log_info("session=%016llx event=reject client=%s "
			    "auth=%s from=<%s> dsn=5.7.1 reason=\"sender not "
			    "owned\"", (unsigned long long)s->id, s->peer_str,
			    log_safe(s->auth), log_safe(a));
		error(s, "%s", text);
		memset(&s->mail, 0, sizeof(s->mail));
	}
	if (s->wait == WAIT_NONE)	/* not waiting on a milter now */
		resume(s);
}

/* banned - the client IP is banned for failed logins: 421, close. */
static void
banned(struct smtp_session *s)
{
	reply(s, "421 4.7.0 %s Error: too many failed logins from your "
	    "address, try again later", hostname());
	close_after(s);
}

/*
 * auth_budget - may this session's password be checked?  The ban and the
 * failure budget are per client IP, shared by all its sessions, and the
 * checks in flight count against the budget: 48 sessions sending a
 * password at once get no more guesses than one session after another.
 * Refused: the password is never looked at, and the reply says nothing
 * about it.  The ban ends the session; a full budget gets 454.
 */
static bool
auth_budget(struct smtp_session *s)
{
	enum limits_auth	 r = limits_auth_begin(limits, s->limit_key,
	    now_sec(), config->auth_failure_window, config->auth_max_failures);

	if (r == LIMITS_AUTH_OK) {
		s->auth_checking = true;
		return true;
	}
	log_info("session=%016llx event=auth-refused client=%s mechanism=%s "
	    "reason=\"%s\"", (unsigned long long)s->id, s->peer_str,
	    s->auth_mech, r == LIMITS_AUTH_BANNED ? "too many failed logins" :
	    "failure budget in use");
	if (r == LIMITS_AUTH_BANNED)
		banned(s);
	else
		error(s, "454 4.7.0 Temporary authentication failure, try "
		    "again later");
	return false;
}

/* auth_check_done - the check auth_budget allowed is over. */
static void
auth_check_done(struct smtp_session *s)
{
	if (s->auth_checking)
		limits_auth_done(limits, s->limit_key);
	s->auth_checking = false;
}

/* auth_submit - send the credentials to lookup; they are wiped here. */
static void
auth_submit(struct smtp_session *s, struct sasl_cred *c)
{
	struct ipc_auth	 q = { c->user, c->pass, s->auth_mech, s->peer_ip,
	    s->tls, IPC_AUTH_CRED };
	struct buf	 b;

	s->auth_step = AUTH_STEP_NONE;
	explicit_bzero(s->auth_user, sizeof(s->auth_user));
	if (!auth_budget(s)) {
		explicit_bzero(c, sizeof(*c));
		return;
	}
	buf_init(&b, 0);
	/* Encoded here, not by PROC_SEND, so that the copy is wiped. */
	IPC_ENCODE(&b, IPC_AUTH, &q);
	explicit_bzero(c, sizeof(*c));
	if (proc_send(PROC_LOOKUP, IPC_AUTH, s->id, &b, -1) == -1) {
		auth_check_done(s);
		reply(s, "454 4.7.0 Temporary authentication failure");
	} else
		s->wait = WAIT_AUTH;
	explicit_bzero(b.data, b.len);
	buf_free(&b);
}

/* auth_reject - a bad exchange (not a wrong password): 501/500. */
static void
auth_reject(struct smtp_session *s, enum sasl_result r)
{
	s->auth_step = AUTH_STEP_NONE;
	explicit_bzero(s->auth_user, sizeof(s->auth_user));
	if (r == SASL_CANCEL)
		error(s, "501 5.7.0 Authentication aborted");
	else if (r == SASL_TOO_LONG)
		error(s, "500 5.5.6 Authentication exchange line is too long");
	else
		error(s, "501 5.5.2 Error: cannot decode the authentication "
		    "response");
}

static void	 auth_failed(struct smtp_session *);

/* relay_send - a step of a relayed exchange to lookup (and on to
 * Dovecot); text is the client's base64 ("" none, "=" empty). */
static int
relay_send(struct smtp_session *s, enum ipc_auth_step step,
    const char *text)
{
	struct ipc_auth	 q = { "", text, s->auth_mech, s->peer_ip, s->tls,
	    step };

	return PROC_SEND(PROC_LOOKUP, IPC_AUTH, s->id, &q, -1);
}

/* relay_cancel - the exchange lookup holds for this session goes. */
static void
relay_cancel(struct smtp_session *s)
{
	if (s->auth_relay)
		relay_send(s, IPC_AUTH_RELAY_CANCEL, "");
	s->auth_relay = false;
}

/* relay_response - the client's response in a relayed exchange: checked
 * as base64 here, decoded by Dovecot. */
static void
relay_response(struct smtp_session *s, const char *text, bool initial)
{
	unsigned char	 dec[SASL_DECODED_MAX + 1];
	size_t		 n;
	enum sasl_result r = text == NULL ? SASL_OK :
	    sasl_response(text, initial, dec, sizeof(dec), &n);

	explicit_bzero(dec, sizeof(dec));
	s->auth_step = AUTH_STEP_NONE;
	if (r != SASL_OK) {
		relay_cancel(s);
		auth_check_done(s);
		auth_reject(s, r);
		return;
	}
	if (initial && !auth_budget(s))
		return;
	if (relay_send(s, initial ? IPC_AUTH_RELAY_START :
	    IPC_AUTH_RELAY_NEXT, text == NULL ? "" : text) == -1) {
		s->auth_relay = false;
		auth_check_done(s);
		reply(s, "454 4.7.0 Temporary authentication failure");
		return;
	}
	s->auth_relay = true;
	s->wait = WAIT_AUTH;
}

/* auth_response - one client response (initial or after a 334). */
static void
auth_response(struct smtp_session *s, const char *text, bool initial)
{
	struct sasl_cred	 c;
	enum sasl_result	 r;

	if (s->auth_step == AUTH_STEP_RELAY) {
		relay_response(s, text, initial);
		return;
	}
	if (s->auth_step == AUTH_STEP_LOGIN_USER) {
		r = sasl_login_field(text, initial, true, s->auth_user,
		    sizeof(s->auth_user));
		if (r == SASL_OK) {
			s->auth_step = AUTH_STEP_LOGIN_PASS;
			reply(s, "334 UGFzc3dvcmQ6");	/* "Password:" */
			return;
		}
	} else if (s->auth_step == AUTH_STEP_LOGIN_PASS) {
		memset(&c, 0, sizeof(c));
		r = sasl_login_field(text, initial, false, c.pass,
		    sizeof(c.pass));
		str_copy(c.user, s->auth_user, sizeof(c.user));
	} else
		r = sasl_plain(text, initial, &c);
	if (r == SASL_OK)
		auth_submit(s, &c);
	else if (r == SASL_BAD_AUTHZ) {
		s->auth_step = AUTH_STEP_NONE;
		auth_failed(s);
	} else
		auth_reject(s, r);
	explicit_bzero(&c, sizeof(c));
}

/* auth_line - a line inside an AUTH exchange (n bytes with CRLF). */
static void
auth_line(struct smtp_session *s, char *line, size_t n)
{
	if (n < 2 || line[n - 2] != '\r' ||
	    memchr(line, '\0', n - 2) != NULL) {
		auth_reject(s, SASL_BAD_B64);
	} else if (n - 2 > SASL_B64_MAX) {
		auth_reject(s, SASL_TOO_LONG);
	} else {
		line[n - 2] = '\0';
		auth_response(s, line, false);
	}
	explicit_bzero(line, n);
}

/* is_relayed - is mech one of auth_mechanisms (relayed to Dovecot)? */
static bool
is_relayed(const char *mech)
{
	const char	*p = config->auth_mechanisms;
	size_t		 n = strlen(mech);

	while (p != NULL && *p != '\0') {
		size_t	 w = strcspn(p, " ");

		if (w == n && strncasecmp(p, mech, n) == 0)
			return true;
		p += w;
		p += *p == ' ';
	}
	return false;
}

static void
cmd_auth(struct smtp_session *s, const char *arg)
{
	char		 mech[32];
	const char	*ir;
	size_t		 n = strcspn(arg, " ");

	if (s->auth[0] != '\0') {
		error(s, "503 5.5.1 Error: already authenticated");
		return;
	}
	if (limits_is_banned(limits, s->limit_key, now_sec())) {
		banned(s);		/* banned since this session began */
		return;
	}
	if (s->state != SMTP_S_READY || !s->esmtp) {
		error(s, "503 5.5.1 Error: %s", !s->esmtp ? "send EHLO first" :
		    "AUTH not permitted during a mail transaction");
		return;
	}
	if (!is_auth_offered(s)) {
		if (config->listens[s->listen_idx].mode == LISTEN_SUBMISSION)
			error(s, "530 5.7.0 Must issue a STARTTLS command "
			    "first");
		else
			error(s, "538 5.7.11 Encryption required for "
			    "requested authentication mechanism");
		return;
	}
	ir = arg[n] == ' ' ? arg + n + 1 : NULL;
	if (n == 0 || n >= sizeof(mech) || (ir != NULL &&
	    (*ir == '\0' || strchr(ir, ' ') != NULL))) {
		error(s, "501 5.5.4 Syntax: AUTH mechanism [initial-response]");
		return;
	}
	memcpy(mech, arg, n);
	mech[n] = '\0';
	switch (sasl_mech_parse(mech)) {
	case SASL_MECH_PLAIN:
		s->auth_mech = "PLAIN";
		s->auth_step = AUTH_STEP_PLAIN;
		break;
	case SASL_MECH_LOGIN:
		s->auth_mech = "LOGIN";
		s->auth_step = AUTH_STEP_LOGIN_USER;
		break;
	default:
		if (!is_relayed(mech)) {
			error(s, "504 5.5.4 Error: unrecognized authentication "
			    "type");
			return;
		}
		for (size_t i = 0; i <= n; i++)
			s->auth_mech_name[i] = (char)toupper(
			    (unsigned char)mech[i]);
		s->auth_mech = s->auth_mech_name;
		s->auth_step = AUTH_STEP_RELAY;
		progress(s);
		relay_response(s, ir, true);
		return;
	}
	progress(s);
	if (ir != NULL)
		auth_response(s, ir, true);
	else
		reply(s, s->auth_step == AUTH_STEP_PLAIN ? "334 " :
		    "334 VXNlcm5hbWU6");	/* "Username:" */
}

/* auth_delay_done - the pause is over: 535, and 421 once banned. */
static void
auth_delay_done(evutil_socket_t fd, short ev, void *arg)
{
	struct smtp_session	*s = arg;

	if (s->wait != WAIT_AUTH_DELAY)
		return;
	s->wait = WAIT_NONE;
	error(s, "535 5.7.8 Error: authentication failed");
	if (s->state != SMTP_S_QUIT &&
	    limits_is_banned(limits, s->limit_key, now_sec()))
		banned(s);
	if (s->state != SMTP_S_QUIT)
		resume(s);
	flush(s);
}

/*
 * auth_failed - wrong credentials: count them against the client IP
 * (past auth_max_failures in auth_failure_window it is banned for
 * auth_ban_time) and answer 535 after a delay that grows with the
 * failures, so that guessing is slow.  The password is never logged.
 */
static void
auth_failed(struct smtp_session *s)
{
	unsigned	 n = limits_auth_failed(limits, s->limit_key, now_sec(),
	    config->auth_failure_window, config->auth_max_failures,
	    config->auth_ban_time);
	struct timeval	 tv;
	uint64_t	 delay;

	log_info("session=%016llx event=auth-failed client=%s mechanism=%s "
	    "failures=%u", (unsigned long long)s->id, s->peer_str,
	    s->auth_mech, n);
	delay = config->auth_failure_delay * MIN(n, AUTH_DELAY_STEPS);
	if (s->auth_timer == NULL)
		s->auth_timer = evtimer_new(base, auth_delay_done, s);
	tv.tv_sec = (time_t)delay;
	tv.tv_usec = 0;
	s->wait = WAIT_AUTH_DELAY;
	evtimer_add(s->auth_timer, &tv);
}

/* smtp_session_authed - lookup's answer to the password check. */
void
smtp_session_authed(struct smtp_session *s, struct ipc_msg *m)
{
	struct ipc_auth_reply	 r;

	if (s->wait != WAIT_AUTH)
		return;
	s->wait = WAIT_NONE;
	if (s->state == SMTP_S_QUIT) {
		auth_check_done(s);
		relay_cancel(s);
		return;
	}
	if (IPC_DECODE(m, &r, NULL) == -1) {
		auth_check_done(s);
		relay_cancel(s);
		auth_failed(s);
		return;
	}
	/* a relayed mechanism's challenge: the check goes on */
	if (r.cont && s->auth_relay && strlen(r.challenge) <= SASL_B64_MAX) {
		s->auth_step = AUTH_STEP_RELAY;
		reply(s, "334 %s", r.challenge);
		ipc_proto_free(IPC_AUTH_REPLY, &r);
		resume(s);
		return;
	}
	auth_check_done(s);
	if (r.cont)		/* a challenge too long to relay */
		relay_cancel(s);
	s->auth_relay = false;	/* else lookup has closed it */
	if (r.cont)
		r.temp = 1;
	if (r.temp) {		/* never success: the check was not made */
		log_info("session=%016llx event=auth-tempfail client=%s "
		    "mechanism=%s", (unsigned long long)s->id, s->peer_str,
		    s->auth_mech);
		reply(s, "454 4.7.0 Temporary authentication failure");
		resume(s);
		return;
	}
	if (!r.ok || *r.login == '\0') {
		auth_failed(s);
		return;
	}
	str_copy(s->auth, r.login, sizeof(s->auth));
	progress(s);
	log_info("session=%016llx event=auth client=%s mechanism=%s auth=%s",
	    (unsigned long long)s->id, s->peer_str, s->auth_mech,
	    log_safe(s->auth));
	reply(s, "235 2.7.0 Authentication successful");
	resume(s);
}

/* ---- milters (smtpd_milter.c) ---- */

/* milter_info - the session's facts for the macros. */
static void
milter_info(struct smtp_session *s, struct smtpd_milter_info *mi)
{
	const struct sockaddr	*sa = (const struct sockaddr *)&s->peer;

	memset(mi, 0, sizeof(*mi));
	mi->hostname = hostname();
	mi->listener = s->listener;
	mi->client_addr = s->peer_ip;
	if (sa->sa_family == AF_INET)
		mi->client_port = ntohs(((const struct sockaddr_in *)
		    (const void *)sa)->sin_port);
	else if (sa->sa_family == AF_INET6)
		mi->client_port = ntohs(((const struct sockaddr_in6 *)
		    (const void *)sa)->sin6_port);
	mi->client_name = s->client_name;
	mi->helo = s->helo;
	mi->tls_version = s->tls ? s->tls_version : NULL;
	mi->cipher = s->tls ? s->tls_cipher : NULL;
	mi->auth = s->auth[0] != '\0' ? s->auth : NULL;
	mi->qid = s->qid[0] != '\0' ? s->qid : NULL;
}

/* milter_done - the milters answered the phase the session waits for. */
static void
milter_done(uint64_t id)
{
	struct smtp_session	*s = smtp_session_find(id);

	if (s == NULL || !answered(s, WAIT_MILTER))
		return;
	milter_answer(s);
	if (s->wait == WAIT_NONE)
		resume(s);
	flush(s);
}

/* rcpt_done - the recipient passed our checks: now the milters'. */
static void
rcpt_done(struct smtp_session *s)
{
	struct smtpd_milter_info	 mi;
	char				 a[ADDR_TEXT_MAX];

	if (s->milter == NULL) {
		rcpt_accepted(s);
		return;
	}
	addr_format(&s->rcpt.addr, a, sizeof(a));
	milter_info(s, &mi);
	s->milter_phase = MPH_RCPT;
	if (smtpd_milter_rcpt(s->milter, &mi, a))
		s->wait = WAIT_MILTER;
	else
		milter_answer(s);
}

/* milter_addr - "<a@b>" or "a@b" from a milter, checked and formatted;
 * false when it is no address. */
static bool
milter_addr(const char *in, bool null_ok, char *out, size_t n)
{
	struct mailaddr	 a;
	enum addr_result r;

	if (in[0] == '<')
		r = addr_parse_path(in, ADDR_F_UTF8 | (null_ok ? ADDR_F_NULL :
		    0), &a, NULL);
	else
		r = addr_parse(in, ADDR_F_UTF8, &a);
	if (r != ADDR_OK || (!null_ok && addr_is_null(&a)))
		return false;
	return addr_format(&a, out, n) < n;
}

/*
 * milter_envelope - the milters' envelope changes, all checked before
 * any is made: a bad address is logged and left out, as Postfix does.
 */
static void
milter_envelope(struct smtp_session *s, struct smtpd_milter_result *r)
{
	char	 a[ADDR_TEXT_MAX];

	if (r->sender != NULL) {
		if (milter_addr(r->sender, true, a, sizeof(a))) {
			log_info("%s: session=%016llx event=milter-envelope "
			    "action=chgfrom from=<%s> to=<%s>", s->qid,
			    (unsigned long long)s->id, log_safe(s->env.sender),
			    log_safe(a));
			free(s->env.sender);
			s->env.sender = xstrdup(a);
		} else
			log_info("%s: session=%016llx event=milter-envelope "
			    "action=chgfrom result=refused addr=\"%s\"",
			    s->qid, (unsigned long long)s->id,
			    log_safe(r->sender));
	}
	for (size_t i = 0; i < r->ndel; i++) {
		bool	 ok = milter_addr(r->del[i], false, a, sizeof(a));

		for (size_t j = 0; ok && j < s->env.nrcpt; )
			if (str_ieq(s->env.rcpts[j].addr, a) ||
			    str_ieq(s->env.rcpts[j].orig, a))
				rcpt_drop(s, j);
			else
				j++;
		log_info("%s: session=%016llx event=milter-envelope "
		    "action=delrcpt to=<%s>%s", s->qid,
		    (unsigned long long)s->id, log_safe(r->del[i]),
		    ok ? "" : " result=refused");
	}
	for (size_t i = 0; i < r->nadd; i++) {
		struct mailaddr	 m;
		bool		 ok = milter_addr(r->add[i], false, a,
				    sizeof(a)) && addr_parse(a, ADDR_F_UTF8,
				    &m) == ADDR_OK;

		if (ok && s->env.nrcpt < config->max_recipients)
			rcpt_add(s, conf_is_local_domain(config, m.domain) ?
			    RCPT_LOCAL : RCPT_REMOTE, a, a, NULL, 0);
		log_info("%s: session=%016llx event=milter-envelope "
		    "action=addrcpt to=<%s>%s", s->qid,
		    (unsigned long long)s->id, log_safe(r->add[i]),
		    ok ? "" : " result=refused");
	}
}

/* milter_spool - the edited message replaces the spool file's content
 * (the same file, through its descriptor: smtpd opens no path). */
static void
milter_spool(struct smtp_session *s, const struct buf *m)
{
	size_t	 off = 0;

	if (ftruncate(s->spool_fd, 0) == -1)
		s->spool_err = true;
	while (!s->spool_err && off < m->len) {
		ssize_t	 w = pwrite(s->spool_fd, m->data + off, m->len - off,
		    (off_t)off);

		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0) {
			s->spool_err = true;
			break;
		}
		off += (size_t)w;
	}
	if (s->spool_err) {
		log_warn("%s: session=%016llx event=spool-write-error "
		    "error=\"%s\"", s->qid, (unsigned long long)s->id,
		    strerror(errno));
		return;
	}
	/* the data is the whole message now, our Received: included; the
	 * file holds it, s->dbuf holds what came before */
	s->hdr_len = 0;
	s->rx.size = m->len;
	s->held = false;
}

/* milter_refused - the milters' refusal: 4xx or 5xx. */
static void
milter_refused(struct smtp_session *s, const char *what,
    const struct smtpd_milter_result *r)
{
	log_info("%s%ssession=%016llx event=reject client=%s phase=%s "
	    "reason=milter reply=\"%s\"", s->qid, s->qid[0] ? ": " : "",
	    (unsigned long long)s->id, s->peer_str, what, log_safe(r->reply));
	reply(s, "%s", r->reply);
}

/* milter_answer - what the milters said to MAIL, RCPT or the message. */
static void
milter_answer(struct smtp_session *s)
{
	struct smtpd_milter_result	*r = smtpd_milter_result(s->milter);

	switch (s->milter_phase) {
	case MPH_MAIL:
		if (r->action == SMTPD_MILTER_REFUSE) {
			milter_refused(s, "mail", r);
			tx_reset(s);
			return;
		}
		s->milter_discard = r->action == SMTPD_MILTER_DISCARD;
		reply(s, "250 2.1.0 Ok");
		return;
	case MPH_RCPT:
		if (r->action == SMTPD_MILTER_REFUSE) {
			while (s->env.nrcpt > s->rcpt_mark)
				rcpt_drop(s, s->env.nrcpt - 1);
			milter_refused(s, "rcpt", r);
			return;
		}
		if (r->action == SMTPD_MILTER_DISCARD)
			s->milter_discard = true;
		rcpt_accepted(s);
		return;
	case MPH_EOM:
		break;
	default:
		return;
	}
	if (r->action == SMTPD_MILTER_REFUSE) {
		milter_refused(s, "data", r);
		spool_abort(s);
		tx_reset(s);
		return;
	}
	if (r->action == SMTPD_MILTER_CONTINUE)
		milter_envelope(s, r);
	if (r->action == SMTPD_MILTER_DISCARD || s->env.nrcpt == 0) {
		log_info("%s: session=%016llx event=discard reason=milter%s",
		    s->qid, (unsigned long long)s->id, s->env.nrcpt == 0 ?
		    " recipients=none" : "");
		spool_abort(s);
		tx_reset(s);
		reply(s, "250 2.0.0 Ok: discarded");
		return;
	}
	s->milter_quarantine = r->quarantine;
	if (r->edited)
		milter_spool(s, &r->msg);
	eod_checks(s);
}

/* smtp_session_milter_fd - lookup connected a milter's UNIX socket. */
void
smtp_session_milter_fd(struct smtp_session *s, struct ipc_msg *m)
{
	struct ipc_milter_connect_reply	 r;

	if (IPC_DECODE(m, &r, NULL) == -1 || s->milter == NULL) {
		if (m->fd != -1)
			close(m->fd);
		m->fd = -1;
		return;
	}
	smtpd_milter_unix_fd(s->milter, r.index, r.ok ? m->fd : -1,
	    r.ok ? "" : r.why);
	m->fd = -1;
}
