/*
 * cmd_bs.c - "sendmail -bs": an SMTP session (RFC 5321) on standard input
 * and output, as Postfix's and sendmail's -bs give, for programs that
 * speak SMTP to a pipe.  No socket: each message taken is handed to the
 * running server's queue exactly as "postbote send" hands it
 * (local_submit.c: the queue records the caller's uid, adds Received,
 * DKIM-signs), and the reply after DATA is the queue's answer.
 *
 * Trusts nothing of its input: command lines are bounded
 * (BS_LINE_MAX), parsed by mail/smtp_parse.c; the data goes through
 * mail/smtp_data.c (only CRLF.CRLF ends it, dot-unstuffed).  End of input
 * ends the session; a message whose data was not ended is dropped.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <unistd.h>

#include "cli/cmd_bs.h"
#include "cli/local_submit.h"
#include "lib/buf.h"
#include "lib/ipc.h"
#include "lib/util.h"
#include "mail/addr.h"
#include "mail/smtp_data.h"
#include "mail/smtp_parse.h"

#define BS_LINE_MAX	2048		/* a command line, CRLF included */
#define BS_ERRORS_MAX	20		/* bad commands before 421 */
#define BS_IPC_ROOM	(64u * 1024)	/* envelope and added fields */

enum bs_state {
	BS_IDLE = 0x01,			/* no transaction */
	BS_MAIL = 0x02,			/* MAIL taken */
	BS_RCPT = 0x04,			/* one RCPT or more taken */
};

struct bs {
	const struct conf *c;
	enum bs_state	 state;
	char		 in[65536];	/* read ahead of stdin */
	size_t		 off, len;
	bool		 eof;
	bool		 quit;
	bool		 smtputf8;	/* MAIL had SMTPUTF8 */
	char		*sender;
	char		**rcpts;
	size_t		 nrcpts, cap;
	unsigned	 errors;
	int		 rc;		/* exit status so far */
};

struct bs_verb {
	const char	*name;
	void		(*run)(struct bs *, const char *);
};

static void	 out(struct bs *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
static bool	 fill(struct bs *);
static int	 getline_bs(struct bs *, char *, size_t);
static void	 tx_reset(struct bs *);
static void	 bad(struct bs *, const char *);
static bool	 in_state(struct bs *, unsigned, const char *);
static bool	 greet(struct bs *, const char *, const char *);
static void	 do_helo(struct bs *, const char *);
static void	 do_ehlo(struct bs *, const char *);
static void	 do_mail(struct bs *, const char *);
static void	 do_rcpt(struct bs *, const char *);
static void	 do_data(struct bs *, const char *);
static void	 do_rset(struct bs *, const char *);
static void	 do_noop(struct bs *, const char *);
static void	 do_quit(struct bs *, const char *);
static void	 do_help(struct bs *, const char *);
static void	 do_vrfy(struct bs *, const char *);
static bool	 read_data(struct bs *, struct buf *, uint64_t);
static void	 take(struct bs *, struct buf *);
static void	 command(struct bs *, char *);

/* Each handler checks the state it needs (in_state). */
static const struct bs_verb verbs[] = {
	{ "HELO", do_helo }, { "EHLO", do_ehlo }, { "MAIL", do_mail },
	{ "RCPT", do_rcpt }, { "DATA", do_data }, { "RSET", do_rset },
	{ "NOOP", do_noop }, { "QUIT", do_quit }, { "HELP", do_help },
	{ "VRFY", do_vrfy },
};

/* out - one reply line, CRLF added; written when input runs dry. */
static void
out(struct bs *s, const char *fmt, ...)
{
	va_list	ap;

	(void)s;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputs("\r\n", stdout);
}

/* fill - more input, after the replies so far are out (PIPELINING: they
 * go out only when the client waits for them).  false at end of input. */
static bool
fill(struct bs *s)
{
	ssize_t	n;

	if (fflush(stdout) == EOF)
		s->eof = true;		/* nobody reads the replies */
	if (s->off == s->len)
		s->off = s->len = 0;
	while (!s->eof && s->len < sizeof(s->in)) {
		n = read(STDIN_FILENO, s->in + s->len, sizeof(s->in) - s->len);
		if (n > 0) {
			s->len += (size_t)n;
			return true;
		}
		if (n == -1 && errno == EINTR)
			continue;
		s->eof = true;
	}
	return false;
}

/*
 * getline_bs - one command line into line, without its CRLF (or LF).
 * 1: a line; 0: end of input; -1: the line was longer than size (it is
 * skipped up to its LF); -2: it had a NUL byte.
 */
static int
getline_bs(struct bs *s, char *line, size_t size)
{
	size_t	n = 0;
	bool	 toolong = false, nul = false;
	char	 ch;

	for (;;) {
		if (s->off == s->len && !fill(s))
			return 0;
		ch = s->in[s->off++];
		if (ch == '\n')
			break;
		nul |= ch == '\0';
		if (n + 1 < size)
			line[n++] = ch;
		else
			toolong = true;
	}
	if (n > 0 && line[n - 1] == '\r')
		n--;
	line[n] = '\0';
	return toolong ? -1 : nul ? -2 : 1;
}

static void
tx_reset(struct bs *s)
{
	for (size_t i = 0; i < s->nrcpts; i++)
		free(s->rcpts[i]);
	s->nrcpts = 0;
	free(s->sender);
	s->sender = NULL;
	s->smtputf8 = false;
	s->state = BS_IDLE;
}

/* in_state - is the session in one of states?  If not, the 503 reply. */
static bool
in_state(struct bs *s, unsigned states, const char *reply)
{
	if ((s->state & states) != 0)
		return true;
	bad(s, reply);
	return false;
}

/* bad - a refused command; too many end the session. */
static void
bad(struct bs *s, const char *reply)
{
	out(s, "%s", reply);
	if (++s->errors >= BS_ERRORS_MAX) {
		out(s, "421 4.7.0 %s Error: too many errors", s->c->hostname);
		s->quit = true;
		s->rc = EX_PROTOCOL;
	}
}

/* greet - HELO and EHLO: a name is needed; the transaction is reset. */
static bool
greet(struct bs *s, const char *arg, const char *verb)
{
	char	text[64];

	if (*arg == '\0') {
		snprintf(text, sizeof(text), "501 5.5.4 Syntax: %s hostname",
		    verb);
		bad(s, text);
		return false;
	}
	tx_reset(s);
	return true;
}

static void
do_helo(struct bs *s, const char *arg)
{
	if (greet(s, arg, "HELO"))
		out(s, "250 %s", s->c->hostname);
}

static void
do_ehlo(struct bs *s, const char *arg)
{
	if (!greet(s, arg, "EHLO"))
		return;
	out(s, "250-%s", s->c->hostname);
	out(s, "250-PIPELINING");
	out(s, "250-SIZE %llu", (unsigned long long)s->c->max_message_size);
	out(s, "250-ENHANCEDSTATUSCODES");
	out(s, "250-8BITMIME");
	out(s, "250 SMTPUTF8");
}

/* mail_refusal - the reply to a MAIL or RCPT that does not parse. */
static const char *
mail_refusal(enum smtp_parse_result r, bool rcpt)
{
	switch (r) {
	case SP_SYNTAX:
		return rcpt ? "501 5.5.2 Syntax: RCPT TO:<address>" :
		    "501 5.5.2 Syntax: MAIL FROM:<address>";
	case SP_BAD_ADDR:
	case SP_ADDR_TOO_LONG:
		return rcpt ? "501 5.1.3 Bad recipient address syntax" :
		    "501 5.1.7 Bad sender address syntax";
	case SP_NEED_UTF8:
		return "553 5.6.7 Error: non-ASCII address without SMTPUTF8";
	case SP_UNKNOWN_PARAM:
		return "555 5.5.4 Error: unsupported parameter";
	default:
		return "501 5.5.4 Error: bad parameter";
	}
}

static void
do_mail(struct bs *s, const char *arg)
{
	struct smtp_mail_args	 a;
	enum smtp_parse_result	 r = smtp_parse_mail(arg, &a);
	char			 text[ADDR_TEXT_MAX];

	if (!in_state(s, BS_IDLE, "503 5.5.1 Error: nested MAIL command"))
		return;
	if (r == SP_OK && a.requiretls)
		r = SP_UNKNOWN_PARAM;	/* not offered on a pipe */
	if (r != SP_OK) {
		bad(s, mail_refusal(r, false));
		return;
	}
	if (a.has_size && a.size > s->c->max_message_size) {
		out(s, "552 5.3.4 Error: message size exceeds limit");
		return;
	}
	addr_format(&a.addr, text, sizeof(text));
	s->sender = xstrdup(text);
	s->smtputf8 = a.smtputf8;
	s->state = BS_MAIL;
	out(s, "250 2.1.0 Ok");
}

static void
do_rcpt(struct bs *s, const char *arg)
{
	struct smtp_rcpt_args	 a;
	enum smtp_parse_result	 r = smtp_parse_rcpt(arg, s->smtputf8, &a);
	const char		*dom = s->c->ndomains > 0 ? s->c->domains[0] :
	    s->c->hostname;
	char			 text[ADDR_TEXT_MAX];

	if (!in_state(s, BS_MAIL | BS_RCPT, "503 5.5.1 Error: need MAIL "
	    "command"))
		return;
	if (r != SP_OK) {
		bad(s, mail_refusal(r, true));
		return;
	}
	if (s->nrcpts >= s->c->max_recipients) {
		out(s, "452 4.5.3 Error: too many recipients");
		return;
	}
	if (a.addr.domain[0] == '\0')	/* <Postmaster> */
		snprintf(a.addr.domain, sizeof(a.addr.domain), "%s", dom);
	addr_format(&a.addr, text, sizeof(text));
	if (s->nrcpts == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 16;
		s->rcpts = xreallocarray(s->rcpts, s->cap, sizeof(*s->rcpts));
	}
	s->rcpts[s->nrcpts++] = xstrdup(text);
	s->state = BS_RCPT;
	out(s, "250 2.1.5 Ok");
}

/*
 * read_data - the data up to CRLF.CRLF, unstuffed, into msg; false when
 * input ended first.  Bytes read past the end stay for the next command.
 */
static bool
read_data(struct bs *s, struct buf *msg, uint64_t max)
{
	struct data_rx	 rx;
	size_t		 used;

	smtp_data_init(&rx, max, msg);
	for (;;) {
		if (s->off == s->len && !fill(s))
			return false;
		if (smtp_data_feed(&rx, s->in + s->off, s->len - s->off,
		    &used) == DATA_END) {
			s->off += used;
			break;
		}
		s->off += used;
	}
	if (rx.overflow)
		out(s, "552 5.3.4 Error: message size exceeds limit");
	else if (smtp_data_fault(&rx, s->c->bare_lf != BARE_LF_REJECT) !=
	    DATA_FAULT_NONE)
		out(s, "554 5.6.0 Error: %s", rx.nul ? "NUL byte in message" :
		    "bare CR or LF in message");
	else
		return true;
	msg->len = 0;			/* answered: nothing to take */
	return true;
}

/* submit_reply - the reply to the queue's answer (local_submit_send). */
static void
submit_reply(struct bs *s, int rc, const char *text)
{
	switch (rc) {
	case EX_OK:
		out(s, "250 2.0.0 Ok: queued as %s", text);
		break;
	case EX_TEMPFAIL:
		out(s, "451 4.3.0 Error: %s", text);
		s->rc = EX_TEMPFAIL;
		break;
	case EX_NOUSER:
		out(s, "550 5.1.1 Error: %s", text);
		break;
	case EX_DATAERR:
		out(s, "554 5.6.0 Error: %s", text);
		break;
	default:
		out(s, "554 5.3.0 Error: %s", text);
		break;
	}
}

/* take - hand the message to the queue and say what it answered. */
static void
take(struct bs *s, struct buf *msg)
{
	char	text[1024];
	int	rc;

	local_submit_complete(s->c, msg, s->sender, NULL);
	if (msg->len + BS_IPC_ROOM > IPC_MAX_PAYLOAD) {
		out(s, "552 5.3.4 Error: message size exceeds limit");
		return;
	}
	rc = local_submit_send(s->c->state_dir, s->sender, s->rcpts,
	    s->nrcpts, msg, text, sizeof(text));
	submit_reply(s, rc, text);
}

static void
do_data(struct bs *s, const char *arg)
{
	struct buf	msg;
	uint64_t	max = s->c->max_message_size;

	if (!in_state(s, BS_RCPT, "503 5.5.1 Error: need RCPT command"))
		return;
	if (*arg != '\0') {
		bad(s, "501 5.5.4 Syntax: DATA");
		return;
	}
	if (max > IPC_MAX_PAYLOAD - BS_IPC_ROOM)
		max = IPC_MAX_PAYLOAD - BS_IPC_ROOM;
	out(s, "354 End data with <CR><LF>.<CR><LF>");
	buf_init(&msg, 0);
	if (!read_data(s, &msg, max)) {
		s->rc = EX_PROTOCOL;	/* dropped: its end never came */
		s->quit = true;
	} else if (msg.len > 0)
		take(s, &msg);
	buf_free(&msg);
	tx_reset(s);
}

static void
do_rset(struct bs *s, const char *arg)
{
	(void)arg;
	tx_reset(s);
	out(s, "250 2.0.0 Ok");
}

static void
do_noop(struct bs *s, const char *arg)
{
	(void)arg;
	out(s, "250 2.0.0 Ok");
}

static void
do_quit(struct bs *s, const char *arg)
{
	(void)arg;
	out(s, "221 2.0.0 Bye");
	s->quit = true;
}

static void
do_help(struct bs *s, const char *arg)
{
	(void)arg;
	out(s, "214-2.0.0 Commands: HELO EHLO MAIL RCPT DATA RSET NOOP QUIT");
	out(s, "214 2.0.0 HELP VRFY; see sendmail(1)");
}

static void
do_vrfy(struct bs *s, const char *arg)
{
	if (*arg == '\0') {
		bad(s, "501 5.5.4 Syntax: VRFY address");
		return;
	}
	out(s, "252 2.0.0 Cannot VRFY user; try RCPT to find out");
}

/* command - one command line, to its verb's handler. */
static void
command(struct bs *s, char *line)
{
	size_t		 vlen = strcspn(line, " ");
	const char	*arg = line + vlen;

	while (*arg == ' ')
		arg++;
	for (size_t i = 0; i < NELEM(verbs); i++) {
		if (strlen(verbs[i].name) == vlen &&
		    strncasecmp(line, verbs[i].name, vlen) == 0) {
			verbs[i].run(s, arg);
			return;
		}
	}
	bad(s, "500 5.5.2 Error: command not recognized");
}

/* cmd_bs - see cmd_bs.h. */
int
cmd_bs(const struct conf *c)
{
	struct bs	*s = xcalloc(1, sizeof(*s));
	char		 line[BS_LINE_MAX];
	int		 r, rc;

	signal(SIGPIPE, SIG_IGN);	/* a gone reader ends the session */
	s->c = c;
	s->state = BS_IDLE;
	out(s, "220 %s ESMTP postbote", c->hostname);
	while (!s->quit && (r = getline_bs(s, line, sizeof(line))) != 0) {
		if (r == -1)
			bad(s, "500 5.5.2 Error: line too long");
		else if (r == -2)
			bad(s, "500 5.5.2 Error: NUL in command");
		else
			command(s, line);
	}
	fflush(stdout);
	tx_reset(s);
	free(s->rcpts);
	rc = s->rc;
	free(s);
	return rc;
}
