/*
 * cmd_send.c - "postbote send [-c FILE] [-f SENDER] [-F NAME] [-t] [-i]
 * [-v] [RCPT...]", also run as "sendmail": reads a message on stdin,
 * makes it an Internet message (CRLF line ends, Date, Message-ID and From
 * added when missing, Bcc removed), and hands it to the running server's
 * queue over the submission socket state_dir/submit as one
 * IPC_CTL_SUBMIT request (local_submit.c, queue_ctl.c).  No SMTP, no
 * network.  -bs (cmd_bs.c) and -bv (cmd_bv.c) start here too.
 *
 * Runs as any local user (cron jobs, scripts), with that user's rights
 * only: it holds no privilege and the queue re-checks everything it
 * sends; the queue records the caller's uid from the socket itself.
 * Exit status: sysexits.h codes (docs/sendmail.md).
 */
#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "lib/buf.h"
#include "cli/cmd_queue.h"
#include "cli/cmd_ctl.h"
#include "cli/cmd_bs.h"
#include "cli/cmd_bv.h"
#include "cli/cmd_send.h"
#include "cli/local_submit.h"
#include "common/conf.h"
#include "lib/ipc_proto.h"
#include "common/control.h"
#include "mail/submit_msg.h"
#include "lib/util.h"

#define RCPTS_MAX	100000

struct opts {
	const char	*conf;
	const char	*sender;	/* -f; NULL = the invoking user */
	const char	*fullname;	/* -F */
	bool		 from_headers;	/* -t */
	bool		 ignore_dots;	/* -i, -oi */
	bool		 verbose;	/* -v */
	bool		 list_queue;	/* -bp */
	bool		 flush;		/* -q */
	bool		 newaliases;	/* -bi */
	bool		 smtp;		/* -bs */
	bool		 verify;	/* -bv */
};

struct rcpts {
	char		**v;
	size_t		 n, cap;
};

struct send_ctx {
	struct conf	 conf;
	struct opts	 o;
	struct rcpts	 rcpts;
	char		*sender;
	struct buf	 msg;		/* CRLF text */
	const char	*domain;	/* qualifies bare recipients */
};

static int	 usage(bool);
static int	 parse_opts(int, char **, struct opts *, bool);
static int	 read_message(struct buf *, bool, size_t);
static void	 add_rcpt(struct rcpts *, const char *, const char *);
static void	 collect(const char *, void *);
static char	*qualify(const char *, const char *);
static int	 submit(struct send_ctx *);
static char	*invoker(void);
static void	 ctx_free(struct send_ctx *);
static int	 prepare(struct send_ctx *, int, char **);

static int
usage(bool as_sendmail)
{
	fprintf(stderr, "usage: %s [-c FILE] [-f SENDER] [-F NAME] [-t] [-i] "
	    "[-v] [RCPT...] < MESSAGE\n", as_sendmail ? "sendmail" :
	    "postbote send");
	return EX_USAGE;
}

/* parse_opts - postbote's and sendmail's flags; harmless sendmail
 * options are accepted and ignored (docs/sendmail.md lists them). */
static int
parse_opts(int argc, char **argv, struct opts *o, bool as_sendmail)
{
	int	ch;

	while ((ch = getopt(argc, argv, "B:b:C:c:F:f:iN:o:q::R:r:tV:v")) != -1)
		switch (ch) {
		case 'c':
			o->conf = optarg;
			break;
		case 'f':
		case 'r':			/* old sendmail name of -f */
			o->sender = optarg;
			break;
		case 'F':
			o->fullname = optarg;
			break;
		case 't':
			o->from_headers = true;
			break;
		case 'i':
			o->ignore_dots = true;
			break;
		case 'v':
			o->verbose = true;
			break;
		case 'o':			/* -oi; -odi, -oem, ... ignored */
			if (strcmp(optarg, "i") == 0)
				o->ignore_dots = true;
			break;
		case 'b':
			if (strcmp(optarg, "p") == 0)
				o->list_queue = true;
			else if (strcmp(optarg, "i") == 0)
				o->newaliases = true;
			else if (strcmp(optarg, "s") == 0)
				o->smtp = true;
			else if (strcmp(optarg, "v") == 0)
				o->verify = true;
			else if (strcmp(optarg, "m") != 0) {
				fprintf(stderr, "%s: -b%s is not supported "
				    "(only -bm, -bp, -bi, -bs and -bv)\n",
				    "postbote", optarg);
				return -1;
			}
			break;
		case 'q':			/* -q, -q30m: flush the queue */
			o->flush = true;
			break;
		case 'B':			/* body type: the queue sees it */
		case 'C':			/* sendmail.cf: not ours */
		case 'N':			/* DSN: not passed on */
		case 'R':
		case 'V':
			break;
		default:
			return -1;
		}
	return 0;
}

/*
 * read_message - stdin as CRLF text into b (submit_msg_crlf): a CR not
 * before LF and a NUL are refused, as smtpd refuses them.  Returns 0 or
 * an exit code, with the reason said.
 */
static int
read_message(struct buf *b, bool ignore_dots, size_t max)
{
	struct buf	raw;
	char		in[65536];
	size_t		n;
	int		rc = 0;

	buf_init(&raw, 0);
	while (raw.len <= max && (n = fread(in, 1, sizeof(in), stdin)) > 0)
		buf_append(&raw, in, n);
	if (ferror(stdin)) {
		fprintf(stderr, "postbote: reading stdin: %s\n",
		    strerror(errno));
		rc = EX_IOERR;
	} else {
		switch (submit_msg_crlf(raw.data != NULL ? raw.data : "",
		    raw.len, ignore_dots, b)) {
		case SUBMIT_MSG_NUL:
			fprintf(stderr, "postbote: the message has a NUL "
			    "byte; not sent\n");
			rc = EX_DATAERR;
			break;
		case SUBMIT_MSG_BARE_CR:
			fprintf(stderr, "postbote: the message has a bare CR "
			    "(a CR not followed by LF); not sent\n");
			rc = EX_DATAERR;
			break;
		case SUBMIT_MSG_OK:
			break;
		}
	}
	if (rc == 0 && b->len > max) {
		fprintf(stderr, "postbote: the message is larger than %zu "
		    "bytes (max_message_size); not sent\n", max);
		rc = EX_DATAERR;
	}
	buf_free(&raw);
	return rc;
}

static void
add_rcpt(struct rcpts *r, const char *a, const char *domain)
{
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 16;
		r->v = xreallocarray(r->v, r->cap, sizeof(*r->v));
	}
	r->v[r->n++] = qualify(a, domain);
}

/* collect - a -t recipient. */
static void
collect(const char *addr, void *arg)
{
	struct send_ctx	*s = arg;

	add_rcpt(&s->rcpts, addr, s->domain);
}

/* qualify - a, or a@domain when a has no '@' ("root" -> root@domain). */
static char *
qualify(const char *a, const char *domain)
{
	char	*q;

	if (*a == '\0' || strchr(a, '@') != NULL || domain == NULL)
		return xstrdup(a);
	xasprintf(&q, "%s@%s", a, domain);
	return q;
}

/* submit - the message to the queue; returns the exit code. */
static int
submit(struct send_ctx *s)
{
	char	text[1024];
	int	rc = local_submit_send(s->conf.state_dir, s->sender,
	    s->rcpts.v, s->rcpts.n, &s->msg, text, sizeof(text));

	if (rc == EX_OK && s->o.verbose)
		fprintf(stderr, "postbote: queued as %s\n", text);
	return rc;
}

/* invoker - the invoking user's name, allocated. */
static char *
invoker(void)
{
	struct passwd	*pw = getpwuid(getuid());
	char		*name;

	if (pw != NULL)
		return xstrdup(pw->pw_name);
	xasprintf(&name, "uid%u", (unsigned)getuid());
	return name;
}

static void
ctx_free(struct send_ctx *s)
{
	for (size_t i = 0; i < s->rcpts.n; i++)
		free(s->rcpts.v[i]);
	free(s->rcpts.v);
	free(s->sender);
	buf_free(&s->msg);
	conf_free(&s->conf);
}

/* prepare - sender, recipients and the message; 0 or an exit code. */
static int
prepare(struct send_ctx *s, int argc, char **argv)
{
	char		*user;
	int		 rc;

	s->domain = s->conf.ndomains > 0 ? s->conf.domains[0] :
	    s->conf.hostname;
	if (s->o.sender == NULL) {
		user = invoker();
		xasprintf(&s->sender, "%s@%s", user, s->conf.hostname);
		free(user);
	} else if (strcmp(s->o.sender, "<>") == 0)
		s->sender = xstrdup("");
	else
		s->sender = qualify(s->o.sender, s->conf.hostname);
	for (int i = 0; i < argc; i++)
		add_rcpt(&s->rcpts, argv[i], s->domain);
	if ((rc = read_message(&s->msg, s->o.ignore_dots,
	    (size_t)s->conf.max_message_size)) != 0)
		return rc;
	submit_msg_headers(&s->msg, s->o.from_headers, collect, s);
	if (s->rcpts.n == 0) {
		fprintf(stderr, "postbote: no recipients%s; not sent\n",
		    s->o.from_headers ? " in To, Cc, Bcc or arguments" : "");
		return EX_USAGE;
	}
	if (s->rcpts.n > RCPTS_MAX) {
		fprintf(stderr, "postbote: too many recipients\n");
		return EX_USAGE;
	}
	local_submit_complete(&s->conf, &s->msg, s->sender, s->o.fullname);
	if (s->msg.len + 64 * 1024 > IPC_MAX_PAYLOAD) {
		fprintf(stderr, "postbote: the message is too large for local "
		    "submission (%u bytes at most); not sent\n",
		    IPC_MAX_PAYLOAD - 64 * 1024);
		return EX_DATAERR;
	}
	return 0;
}

/* cmd_send - see cmd_send.h. */
int
cmd_send(int argc, char **argv, bool as_sendmail)
{
	struct send_ctx	 s = { 0 };
	char		 err[512];
	int		 rc;

	buf_init(&s.msg, 0);
	if (parse_opts(argc, argv, &s.o, as_sendmail) == -1)
		return usage(as_sendmail);
	if (s.o.list_queue) {
		char	*av[] = { "mailq", "-c", (char *)s.o.conf, NULL };

		return cmd_queue_mailq(s.o.conf != NULL ? 3 : 1, av);
	}
	if (s.o.flush) {
		char	*av[] = { "queue", "flush", "-c", (char *)s.o.conf,
		    NULL };

		if (s.o.conf != NULL) {
			av[1] = "-c";
			av[2] = (char *)s.o.conf;
			av[3] = "flush";
		}
		return cmd_queue(s.o.conf != NULL ? 4 : 2, av);
	}
	if (s.o.newaliases) {
		char	*av[] = { "newaliases", "-c", (char *)s.o.conf, NULL };

		return cmd_ctl_newaliases(s.o.conf != NULL ? 3 : 1, av);
	}
	if (conf_load(s.o.conf, &s.conf, err, sizeof(err)) == -1) {
		fprintf(stderr, "postbote: %s\n", err);
		return EX_CONFIG;
	}
	srandom((unsigned)(now_usec() ^ (uint64_t)getpid()));
	if (s.o.smtp)
		rc = cmd_bs(&s.conf);
	else if (s.o.verify)
		rc = cmd_bv(&s.conf, argc - optind, argv + optind);
	else if ((rc = prepare(&s, argc - optind, argv + optind)) == 0)
		rc = submit(&s);
	ctx_free(&s);
	return rc;
}
