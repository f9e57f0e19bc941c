/*
 * cmd_send.c - "postbote send [-c FILE] [-f SENDER] [-F NAME] [-t] [-i]
 * [-v] [RCPT...]", also run as "sendmail": reads a message on stdin,
 * makes it an Internet message (CRLF line ends, Date, Message-ID and From
 * added when missing, Bcc removed), and hands it to the running server's
 * queue over the submission socket state_dir/submit as one
 * IPC_CTL_SUBMIT request (queue_ctl.c).  No SMTP, no network.
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

#include "buf.h"
#include "cmd_queue.h"
#include "cmd_send.h"
#include "conf.h"
#include "ipc.h"
#include "queue_ctl.h"
#include "util.h"

#define TIMEOUT_MS	60000		/* the answer waits for an fsync */
#define REQ_ID		1
#define RCPTS_MAX	100000

struct opts {
	const char	*conf;
	const char	*sender;	/* -f; NULL = the invoking user */
	const char	*fullname;	/* -F */
	bool		 from_headers;	/* -t */
	bool		 ignore_dots;	/* -i, -oi */
	bool		 verbose;	/* -v */
	bool		 list_queue;	/* -bp */
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
};

static int	 usage(bool);
static int	 parse_opts(int, char **, struct opts *, bool);
static int	 read_message(struct buf *, bool, size_t);
static size_t	 header_end(const char *, size_t, bool *);
static size_t	 line_end(const char *, size_t, size_t);
static bool	 is_field(const char *, size_t, size_t, const char *);
static bool	 has_field(const char *, size_t, const char *);
static void	 add_rcpt(struct rcpts *, const char *, const char *);
static void	 scan_addrs(const char *, size_t, struct rcpts *,
		    const char *);
static void	 take_headers(struct buf *, struct rcpts *, const char *,
		    bool);
static void	 add_missing(struct send_ctx *);
static char	*qualify(const char *, const char *);
static bool	 is_header_line(const char *, size_t, size_t, bool);
static int	 connect_submit(const char *);
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

	while ((ch = getopt(argc, argv, "B:b:C:c:F:f:iN:o:R:r:tV:v")) != -1)
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
			else if (strcmp(optarg, "m") != 0) {
				fprintf(stderr, "%s: -b%s is not supported "
				    "(only -bm and -bp)\n", "postbote",
				    optarg);
				return -1;
			}
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
 * read_message - stdin into b as CRLF text: LF becomes CRLF; a CR not
 * before LF and a NUL are refused (EX_DATAERR), as smtpd refuses them.
 * Without ignore_dots a line holding only "." ends the input (sendmail).
 * A last line without a line end gets one.  Returns 0 or an exit code.
 */
static int
read_message(struct buf *b, bool ignore_dots, size_t max)
{
	char	in[65536];
	size_t	n, line_start = 0;
	bool	cr = false;

	while ((n = fread(in, 1, sizeof(in), stdin)) > 0) {
		for (size_t i = 0; i < n; i++) {
			char	c = in[i];

			if (c == '\0' || (cr && c != '\n')) {
				fprintf(stderr, "postbote: the message has a %s"
				    "; not sent\n", c == '\0' ? "NUL byte" :
				    "bare CR (a CR not followed by LF)");
				return EX_DATAERR;
			}
			if ((cr = c == '\r'))
				continue;
			if (c == '\n') {
				if (!ignore_dots && b->len == line_start + 1 &&
				    b->data[line_start] == '.') {
					b->len = line_start;
					return 0;
				}
				buf_append(b, "\r\n", 2);
				line_start = b->len;
			} else
				buf_putc(b, c);
			if (b->len > max) {
				fprintf(stderr, "postbote: the message is "
				    "larger than %zu bytes; not sent\n", max);
				return EX_DATAERR;
			}
		}
	}
	if (ferror(stdin)) {
		fprintf(stderr, "postbote: reading stdin: %s\n",
		    strerror(errno));
		return EX_IOERR;
	}
	if (cr) {
		fprintf(stderr, "postbote: the message has a bare CR; not "
		    "sent\n");
		return EX_DATAERR;
	}
	if (!ignore_dots && b->len == line_start + 1 &&
	    b->data[line_start] == '.')
		b->len = line_start;
	else if (b->len > line_start)
		buf_append(b, "\r\n", 2);
	return 0;
}

/* line_end - the offset just past the CRLF of the line at off. */
static size_t
line_end(const char *p, size_t len, size_t off)
{
	const char	*e = memmem(p + off, len - off, "\r\n", 2);

	return e != NULL ? (size_t)(e - p) + 2 : len;
}

/* is_header_line - "name:" with a printable name (RFC 5322 2.2), or a
 * continuation line after one. */
static bool
is_header_line(const char *p, size_t off, size_t end, bool first)
{
	size_t	i = off;

	if (!first && (p[off] == ' ' || p[off] == '\t'))
		return true;
	while (i < end && p[i] > ' ' && p[i] < 0x7f && p[i] != ':')
		i++;
	return i > off && i < end && p[i] == ':';
}

/* header_end - where the header block ends: at the empty line (*blank)
 * or at the first line that is not a header field. */
static size_t
header_end(const char *p, size_t len, bool *blank)
{
	size_t	off = 0;

	*blank = false;
	while (off < len) {
		size_t	end = line_end(p, len, off);

		if (end - off == 2 && p[off] == '\r') {
			*blank = true;
			return off;
		}
		if (!is_header_line(p, off, end, off == 0))
			return off;
		off = end;
	}
	return off;
}

/* is_field - the line at off starts field name (case-insensitive). */
static bool
is_field(const char *p, size_t len, size_t off, const char *name)
{
	size_t	n = strlen(name);

	return len - off > n && strncasecmp(p + off, name, n) == 0 &&
	    p[off + n] == ':';
}

/* has_field - the header block (len bytes) has field name. */
static bool
has_field(const char *p, size_t len, const char *name)
{
	for (size_t off = 0; off < len; off = line_end(p, len, off))
		if (is_field(p, len, off, name))
			return true;
	return false;
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

/*
 * scan_addrs - the addresses of an RFC 5322 address-list (To, Cc, Bcc):
 * "a@b", "Name <a@b>", "a@b (comment)", "group: a@b, c@d;".  Display
 * names, comments and group names are dropped; quoted local parts kept.
 */
static void
scan_addrs(const char *v, size_t len, struct rcpts *r, const char *domain)
{
	struct buf	cur, angle;
	int		depth = 0;
	bool		quoted = false, in_angle = false;

	buf_init(&cur, 0);
	buf_init(&angle, 0);
	for (size_t i = 0; i <= len; i++) {
		char		 c = i < len ? v[i] : ',';
		struct buf	*t = in_angle ? &angle : &cur;

		if (quoted) {
			buf_putc(t, c);
			if (c == '\\' && i + 1 < len)
				buf_putc(t, v[++i]);
			else if (c == '"')
				quoted = false;
		} else if (depth > 0 || c == '(') {
			depth += c == '(' ? 1 : c == ')' ? -1 : 0;
			if (c == '\\' && i + 1 < len)
				i++;
		} else if (c == '"') {
			quoted = true;
			buf_putc(t, c);
		} else if (c == '<') {
			in_angle = true;
			buf_reset(&angle);
		} else if (c == '>')
			in_angle = false;
		else if (c == ':' && !in_angle)
			buf_reset(&cur);	/* a group's name */
		else if ((c == ',' || c == ';') && !in_angle) {
			struct buf *a = angle.len > 0 ? &angle : &cur;

			if (a->len > 0)
				add_rcpt(r, buf_cstr(a), domain);
			buf_reset(&cur);
			buf_reset(&angle);
		} else if (c != ' ' && c != '\t' && c != '\r' && c != '\n')
			buf_putc(t, c);
	}
	buf_free(&cur);
	buf_free(&angle);
}

/*
 * take_headers - with -t (collect), the recipients of To, Cc and Bcc
 * (unfolded); every Bcc field is removed from the message either way,
 * as sendmail does.
 */
static void
take_headers(struct buf *m, struct rcpts *r, const char *domain,
    bool collect)
{
	static const char *const names[] = { "To", "Cc", "Bcc" };
	bool	 blank;
	size_t	 hend = header_end(m->data, m->len, &blank), off = 0;

	while (off < hend) {
		size_t	end = line_end(m->data, hend, off), fend = end;
		bool	bcc = is_field(m->data, hend, off, "Bcc");

		while (fend < hend && (m->data[fend] == ' ' ||
		    m->data[fend] == '\t'))
			fend = line_end(m->data, hend, fend);
		for (size_t k = 0; collect && k < NELEM(names); k++)
			if (is_field(m->data, hend, off, names[k])) {
				size_t	n = strlen(names[k]) + 1;

				scan_addrs(m->data + off + n, fend - off - n,
				    r, domain);
			}
		if (bcc) {
			memmove(m->data + off, m->data + fend, m->len - fend);
			m->len -= fend - off;
			m->data[m->len] = '\0';
			hend -= fend - off;
		} else
			off = fend;
	}
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

/* add_missing - From, Date and Message-ID when the message has none
 * (RFC 5322 3.6: From and Date are required), before its headers; an
 * empty line is put in when the text had no header block. */
static void
add_missing(struct send_ctx *s)
{
	struct buf	 h;
	bool		 blank;
	size_t		 hend = header_end(s->msg.data, s->msg.len, &blank);
	time_t		 t = time(NULL);
	struct tm	 tm;
	char		 date[64];

	buf_init(&h, 0);
	if (!has_field(s->msg.data, hend, "From")) {
		if (s->o.fullname != NULL) {
			buf_puts(&h, "From: \"");
			for (const char *p = s->o.fullname; *p != '\0'; p++) {
				if (*p == '"' || *p == '\\')
					buf_putc(&h, '\\');
				if (*p != '\r' && *p != '\n')
					buf_putc(&h, *p);
			}
			buf_printf(&h, "\" <%s>\r\n", s->sender);
		} else
			buf_printf(&h, "From: <%s>\r\n", s->sender);
	}
	if (!has_field(s->msg.data, hend, "Date")) {
		localtime_r(&t, &tm);
		strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
		buf_printf(&h, "Date: %s\r\n", date);
	}
	if (!has_field(s->msg.data, hend, "Message-ID"))
		buf_printf(&h, "Message-ID: <%llX.%ld.%lX@%s>\r\n",
		    (unsigned long long)now_usec(), (long)getpid(),
		    (unsigned long)random(), s->conf.hostname);
	if (hend == 0 && !blank)
		buf_puts(&h, "\r\n");
	else if (!blank && hend < s->msg.len) {
		/* Header fields, then a line that is not one: the body. */
		buf_append(&h, s->msg.data, hend);
		buf_puts(&h, "\r\n");
		buf_append(&h, s->msg.data + hend, s->msg.len - hend);
		buf_free(&s->msg);
		s->msg = h;
		return;
	}
	buf_append(&h, s->msg.data, s->msg.len);
	buf_free(&s->msg);
	s->msg = h;
}

/* connect_submit - the submission socket; -1 and a plain message. */
static int
connect_submit(const char *path)
{
	int	fd = queue_ctl_connect(path, TIMEOUT_MS), e = errno;

	if (fd != -1)
		return fd;
	if (e == ENOENT || e == ECONNREFUSED)
		fprintf(stderr, "postbote: the server is not running (%s %s); "
		    "the message was not sent, try again later\n",
		    e == ENOENT ? "no submission socket at" :
		    "nothing answers on", path);
	else
		fprintf(stderr, "postbote: cannot connect to %s: %s; the "
		    "message was not sent\n", path, strerror(e));
	return -1;
}

/* submit - one IPC_CTL_SUBMIT and its answer; returns the exit code. */
static int
submit(struct send_ctx *s)
{
	char		*path = queue_ctl_submit_path(s->conf.state_dir);
	struct buf	 b, store;
	struct ipc_msg	 im;
	int		 fd = connect_submit(path), rc = EX_TEMPFAIL;
	const char	*text;
	uint32_t	 ok, code;

	buf_init(&b, 0);
	buf_init(&store, 0);
	ipc_put_str(&b, s->sender);
	ipc_put_u32(&b, (uint32_t)s->rcpts.n);
	for (size_t i = 0; i < s->rcpts.n; i++)
		ipc_put_str(&b, s->rcpts.v[i]);
	ipc_put_bytes(&b, s->msg.data, s->msg.len);
	if (fd != -1 && (ipc_sync_send(fd, IPC_CTL_SUBMIT, REQ_ID, &b) ==
	    -1 || ipc_sync_recv(fd, &im, &store, TIMEOUT_MS) == -1 ||
	    im.type != IPC_CTL_REPLY))
		fprintf(stderr, "postbote: no answer from the server on %s; "
		    "the message may not have been sent\n", path);
	else if (fd != -1) {
		ok = ipc_get_u32(&im);
		text = ipc_get_str(&im);
		code = ipc_get_u32(&im);
		if (!ipc_msg_ok(&im))
			rc = EX_SOFTWARE;
		else if (ok) {
			rc = EX_OK;
			if (s->o.verbose)
				fprintf(stderr, "postbote: queued as %s\n",
				    text);
		} else {
			rc = code != EX_OK && code < 128 ? (int)code :
			    EX_SOFTWARE;
			fprintf(stderr, "postbote: refused: %s\n", text);
		}
	}
	if (fd != -1)
		close(fd);
	buf_free(&b);
	buf_free(&store);
	free(path);
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
	const char	*dom = s->conf.ndomains > 0 ? s->conf.domains[0] :
	    s->conf.hostname;
	char		*user;
	int		 rc;

	if (s->o.sender == NULL) {
		user = invoker();
		xasprintf(&s->sender, "%s@%s", user, s->conf.hostname);
		free(user);
	} else if (strcmp(s->o.sender, "<>") == 0)
		s->sender = xstrdup("");
	else
		s->sender = qualify(s->o.sender, s->conf.hostname);
	for (int i = 0; i < argc; i++)
		add_rcpt(&s->rcpts, argv[i], dom);
	if ((rc = read_message(&s->msg, s->o.ignore_dots,
	    (size_t)s->conf.max_message_size)) != 0)
		return rc;
	take_headers(&s->msg, &s->rcpts, dom, s->o.from_headers);
	if (s->rcpts.n == 0) {
		fprintf(stderr, "postbote: no recipients%s; not sent\n",
		    s->o.from_headers ? " in To, Cc, Bcc or arguments" : "");
		return EX_USAGE;
	}
	if (s->rcpts.n > RCPTS_MAX) {
		fprintf(stderr, "postbote: too many recipients\n");
		return EX_USAGE;
	}
	add_missing(s);
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

		return cmd_mailq(s.o.conf != NULL ? 3 : 1, av);
	}
	if (conf_load(s.o.conf, &s.conf, err, sizeof(err)) == -1) {
		fprintf(stderr, "postbote: %s\n", err);
		return EX_CONFIG;
	}
	srandom((unsigned)(now_usec() ^ (uint64_t)getpid()));
	if ((rc = prepare(&s, argc - optind, argv + optind)) == 0)
		rc = submit(&s);
	ctx_free(&s);
	return rc;
}
