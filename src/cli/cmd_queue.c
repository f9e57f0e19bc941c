/*
 * cmd_queue.c - "postbote queue [-c FILE] list [--json] | show ID |
 * flush [ID] | delete ID | hold ID | release ID", and "mailq" (queue
 * list).  Loads the config to find state_dir, sends one request on the
 * control socket state_dir/control (queue_ctl.c) with the blocking ipc
 * helpers, and prints the answer.
 *
 * Runs as a short-lived command of the admin (root or the server's user).
 * Trust: the replies come from our queue process, but they carry peer
 * strings (addresses, statuses, headers), so every string is escaped
 * before it reaches the terminal or the JSON output, and frames are read
 * with the bounds-checked getters.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "lib/buf.h"
#include "cli/cmd_queue.h"
#include "common/conf.h"
#include "lib/ipc_proto.h"
#include "common/control.h"
#include "mail/envelope.h"
#include "lib/util.h"

#define TIMEOUT_MS	10000		/* for each frame of the answer */
#define REQ_ID		1

struct client {
	int		 fd;
	const char	*path;
	struct buf	 store;		/* the frame last received */
	struct ipc_msg	 im;
};

struct verb {
	const char	*name;
	int		 minargs, maxargs;
	const char	*flag;		/* the only argument allowed, or NULL */
	int		(*run)(struct client *, int, char **);
};

static int	 usage(void);
static int	 run_list(struct client *, int, char **);
static int	 run_show(struct client *, int, char **);
static int	 run_flush(struct client *, int, char **);
static int	 run_delete(struct client *, int, char **);
static int	 run_hold(struct client *, int, char **);
static int	 run_release(struct client *, int, char **);
static int	 run_tlsrpt_show(struct client *, int, char **);
static int	 run_tlsrpt_send(struct client *, int, char **);

#define ARGS_MAX	1000		/* IDs or filter words on a line */

static const struct verb verbs[] = {
	{ "list",	0, 1,	"--json",	run_list },
	{ "show",	1, 2,	NULL,		run_show },
	{ "flush",	0, ARGS_MAX, NULL,	run_flush },
	{ "delete",	1, ARGS_MAX, NULL,	run_delete },
	{ "hold",	1, ARGS_MAX, NULL,	run_hold },
	{ "release",	1, ARGS_MAX, NULL,	run_release },
	{ "tlsrpt-show", 0, 0,	NULL,		run_tlsrpt_show },
	{ "tlsrpt-send", 0, 0,	NULL,		run_tlsrpt_send },
};

/* A selection of messages: by sender, recipient, recipient domain
 * (each one given must match), or all. */
struct filter {
	const char	*sender, *rcpt, *domain;
	bool		 all;
};

static int
usage(void)
{
	fprintf(stderr, "usage: postbote queue [-c FILE] list [--json] | "
	    "show ID [--body] |\n"
	    "                      flush|delete|hold|release ID... | ALL |\n"
	    "                      [-s SENDER] [-r RECIPIENT] [-d DOMAIN] |\n"
	    "                      tlsrpt-show | tlsrpt-send\n"
	    "       mailq [-c FILE] [--json]\n");
	return 2;
}

/* ---- output: escaping and times ---- */

/* utf8_next - the code point at p in *cp and its length, or 0 when the
 * bytes there are not well-formed UTF-8 (overlong, surrogate, too big). */
static size_t
utf8_next(const unsigned char *p, size_t n, uint32_t *cp)
{
	size_t		len;
	uint32_t	v, min;

	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	}
	if ((p[0] & 0xe0) == 0xc0)
		len = 2;
	else if ((p[0] & 0xf0) == 0xe0)
		len = 3;
	else if ((p[0] & 0xf8) == 0xf0)
		len = 4;
	else
		return 0;
	v = p[0] & (0x7f >> len);		/* the lead byte's payload */
	min = len == 2 ? 0x80 : len == 3 ? 0x800 : 0x10000;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		v = (v << 6) | (p[i] & 0x3f);
	}
	if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return 0;
	*cp = v;
	return len;
}

/* put_text - bytes for a terminal: printable ASCII, tab and UTF-8 from
 * U+00A0 as they are, anything else as \xNN.  With lines, CRLF is a line
 * end; without, it becomes one space. */
static void
put_text(FILE *f, const char *s, size_t n, bool lines)
{
	const unsigned char	*p = (const unsigned char *)s;
	uint32_t		 cp;
	size_t			 k;

	for (size_t i = 0; i < n; i += k) {
		k = 1;
		if (p[i] == '\r' && i + 1 < n && p[i + 1] == '\n') {
			putc(lines ? '\n' : ' ', f);
			k = 2;
		} else if ((p[i] >= 0x20 && p[i] < 0x7f) || p[i] == '\t')
			putc(p[i], f);
		else if (p[i] >= 0x80 && (k = utf8_next(p + i, n - i, &cp)) > 0
		    && cp >= 0xa0)
			fwrite(p + i, 1, k, f);
		else {
			fprintf(f, "\\x%02X", p[i]);
			k = 1;
		}
	}
}

static void
put_str(const char *s)
{
	put_text(stdout, s, strlen(s), false);
}

/* put_json - a JSON string: '"', '\\', control characters and everything
 * beyond ASCII as \u escapes (RFC 8259 section 7; surrogate pairs above
 * U+FFFF); a byte that is not UTF-8 becomes U+FFFD. */
static void
put_json(const char *s)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 n = strlen(s), k;
	uint32_t		 cp;

	putchar('"');
	for (size_t i = 0; i < n; i += k) {
		if ((k = utf8_next(p + i, n - i, &cp)) == 0) {
			cp = 0xfffd;
			k = 1;
		}
		if (cp == '"' || cp == '\\')
			printf("\\%c", (char)cp);
		else if (cp >= 0x20 && cp < 0x7f)
			putchar((int)cp);
		else if (cp < 0x10000)
			printf("\\u%04x", (unsigned)cp);
		else
			printf("\\u%04x\\u%04x",
			    (unsigned)(0xd800 + ((cp - 0x10000) >> 10)),
			    (unsigned)(0xdc00 + ((cp - 0x10000) & 0x3ff)));
	}
	putchar('"');
}

/* fmt_time - µs since the epoch as local "2026-03-01 10:00:05", or in
 * UTC as RFC 3339 "2026-03-01T10:00:05Z". */
static const char *
fmt_time(uint64_t usec, bool rfc3339, char *out, size_t len)
{
	time_t		t = (time_t)(usec / 1000000);
	struct tm	tm;

	if (rfc3339)
		gmtime_r(&t, &tm);
	else
		localtime_r(&t, &tm);
	if (strftime(out, len, rfc3339 ? "%Y-%m-%dT%H:%M:%SZ" :
	    "%Y-%m-%d %H:%M:%S", &tm) == 0)
		str_copy(out, "?", len);
	return out;
}

/* state_name - done, failed, pending, or deferred: pending after a
 * failed attempt (a status is known). */
static const char *
state_name(const struct ipc_ctl_rcpt *r)
{
	if (r->state == RCPT_DONE)
		return "done";
	if (r->state == RCPT_FAILED)
		return "failed";
	return r->status[0] != '\0' ? "deferred" : "pending";
}

/* ---- the connection ---- */

/* Said after "not running" when no config file was read: where the
 * command looked for one (a default install has one there). */
static const char *conf_hint = "";

/* ctl_connect - connect to the control socket; on failure say why in
 * the admin's terms and return -1. */
static int
ctl_connect(const char *path)
{
	int	fd = control_connect(path, TIMEOUT_MS), e = errno;

	if (fd != -1)
		return fd;
	if (e == ENAMETOOLONG) {
		fprintf(stderr, "postbote: %s: path too long\n", path);
		return -1;
	}
	if (e == ENOENT)
		fprintf(stderr, "postbote: the server is not running (no "
		    "control socket at %s)%s\n", path, conf_hint);
	else if (e == ECONNREFUSED)
		fprintf(stderr, "postbote: the server is not running "
		    "(nothing answers on %s)\n", path);
	else if (e == EACCES || e == EPERM)
		fprintf(stderr, "postbote: cannot connect to %s: %s (only "
		    "root and the server's user may)\n", path, strerror(e));
	else
		fprintf(stderr, "postbote: cannot connect to %s: %s\n", path,
		    strerror(e));
	return -1;
}

/* request - send type with an id (IPC_CTL_SHOW, _FLUSH, ...) or, when
 * arg is NULL, with no field (IPC_CTL_LIST). */
static int
request(struct client *c, uint16_t type, const char *arg)
{
	struct buf	b;
	int		rc;

	buf_init(&b, 0);
	if (arg != NULL)
		IPC_ENCODE(&b, type, &(struct ipc_id){ arg });
	else
		IPC_ENCODE(&b, type, &(struct ipc_empty){ 0 });
	rc = ipc_sync_send(c->fd, type, REQ_ID, &b);
	buf_free(&b);
	if (rc == -1)
		fprintf(stderr, "postbote: cannot send to %s: %s\n", c->path,
		    strerror(errno));
	return rc;
}

/* answer - the next frame, which must be of type want. */
static int
answer(struct client *c, uint16_t want)
{
	if (ipc_sync_recv(c->fd, &c->im, &c->store, TIMEOUT_MS) == -1) {
		fprintf(stderr, "postbote: no answer from the server on %s\n",
		    c->path);
		return -1;
	}
	if (c->im.type != want || c->im.id != REQ_ID) {
		fprintf(stderr, "postbote: unexpected answer (%s) on %s\n",
		    ipc_type_str(c->im.type), c->path);
		return -1;
	}
	return 0;
}

/* bad_answer - a frame that did not decode. */
static int
bad_answer(const struct client *c)
{
	fprintf(stderr, "postbote: malformed answer from the server on %s\n",
	    c->path);
	return 1;
}

/* ---- list ---- */

static void
text_rcpt(const struct ipc_ctl_rcpt *r)
{
	printf("    %-9s<", state_name(r));
	put_str(r->addr);
	putchar('>');
	if (r->orig[0] != '\0' && strcmp(r->orig, r->addr) != 0) {
		printf(" (to <");
		put_str(r->orig);
		printf(">)");
	}
	if (r->status[0] != '\0') {
		printf(" ");
		put_str(r->status);
	}
	putchar('\n');
}

/* text_entry - "ID  SIZE  ARRIVAL  <sender>  [held] [active]", then one
 * indented line per recipient: state, <address>, last status. */
static void
text_entry(const struct ipc_ctl_entry *e)
{
	char		t[32];

	printf("%-16s %9llu  %s  <", e->id, (unsigned long long)e->size,
	    fmt_time(e->arrival, false, t, sizeof(t)));
	put_str(e->sender);
	printf(">%s%s\n", e->flags & CONTROL_HELD ? "  held" : "",
	    e->flags & CONTROL_INFLIGHT ? "  active" : "");
	for (size_t i = 0; i < e->nrcpts; i++)
		text_rcpt(&e->rcpts[i]);
	if (e->nrcpts < e->nrcpt)
		printf("    ... and %zu more recipients\n",
		    e->nrcpt - e->nrcpts);
}

static void
json_entry(const struct ipc_ctl_entry *e)
{
	char		t[32];

	printf("{\"id\": ");
	put_json(e->id);
	printf(", \"sender\": ");
	put_json(e->sender);
	printf(", \"arrival\": \"%s\", \"size\": %llu, \"held\": %s, "
	    "\"active\": %s, \"recipients\": [",
	    fmt_time(e->arrival, true, t, sizeof(t)),
	    (unsigned long long)e->size,
	    e->flags & CONTROL_HELD ? "true" : "false",
	    e->flags & CONTROL_INFLIGHT ? "true" : "false");
	for (size_t i = 0; i < e->nrcpts; i++) {
		const struct ipc_ctl_rcpt *r = &e->rcpts[i];

		printf("%s{\"address\": ", i > 0 ? ", " : "");
		put_json(r->addr);
		printf(", \"state\": \"%s\", \"status\": ", state_name(r));
		if (r->status[0] != '\0')
			put_json(r->status);
		else
			printf("null");
		putchar('}');
	}
	printf("], \"recipients_not_listed\": %zu}",
	    e->nrcpt > e->nrcpts ? e->nrcpt - e->nrcpts : 0);
}

/* list_frames - print each LIST_REPLY frame's entries; counts them. */
static int
list_frames(struct client *c, bool json, unsigned *nmsg, unsigned *nheld,
    uint64_t *bytes)
{
	struct ipc_ctl_list_reply	r;
	bool				more;

	do {
		if (answer(c, IPC_CTL_LIST_REPLY) == -1)
			return 1;
		if (IPC_DECODE(&c->im, &r, NULL) == -1)
			return bad_answer(c);
		for (size_t i = 0; i < r.nentries; i++) {
			const struct ipc_ctl_entry *e = &r.entries[i];

			if (json)
				printf("%s\n  ", *nmsg > 0 ? "," : "");
			(json ? json_entry : text_entry)(e);
			*nmsg += 1;
			*nheld += (e->flags & CONTROL_HELD) != 0;
			*bytes += e->size;
		}
		more = r.more != 0;
		ipc_proto_free(IPC_CTL_LIST_REPLY, &r);
	} while (more);
	return 0;
}

static int
run_list(struct client *c, int argc, char **argv)
{
	bool		json = argc > 0;	/* checked: "--json" */
	unsigned	nmsg = 0, nheld = 0;
	uint64_t	bytes = 0;
	int		rc;

	if (request(c, IPC_CTL_LIST, NULL) == -1)
		return 1;
	if (json)
		printf("[");
	else
		printf("%-16s %9s  %-19s  %s\n", "ID", "SIZE", "ARRIVAL",
		    "SENDER / RECIPIENTS");
	rc = list_frames(c, json, &nmsg, &nheld, &bytes);
	if (json)
		printf("%s]\n", nmsg > 0 ? "\n" : "");
	else if (nmsg == 0)
		printf("-- the queue is empty\n");
	else
		printf("-- %u message%s, %llu bytes, %u held\n", nmsg,
		    nmsg == 1 ? "" : "s", (unsigned long long)bytes, nheld);
	return rc;
}

/* ---- show ---- */

static void
show_field(const char *name, const char *value)
{
	if (value[0] == '\0')
		return;
	printf("%-13s", name);
	put_str(value);
	putchar('\n');
}

/* show_envelope - the entry and the envelope fields after it. */
static void
show_envelope(const struct ipc_ctl_show_reply *m)
{
	const struct ipc_ctl_entry *e = &m->entry;
	char			 t[32];

	printf("%-13s%s\n", "id:", e->id);
	printf("%-13s%s\n", "state:", e->flags & CONTROL_HELD ? "held" :
	    e->flags & CONTROL_INFLIGHT ? "being delivered" : "queued");
	printf("%-13s%s\n", "arrival:", fmt_time(e->arrival, false, t,
	    sizeof(t)));
	printf("%-13s%llu\n", "size:", (unsigned long long)e->size);
	printf("%-13s<", "sender:");
	put_str(e->sender);
	printf(">\nrecipients: %u\n", e->nrcpt);
	for (size_t i = 0; i < e->nrcpts; i++)
		text_rcpt(&e->rcpts[i]);
	show_field("helo:", m->helo);
	show_field("client:", m->client);
	show_field("client name:", m->client_name);
	show_field("auth:", m->auth);
	show_field("envid:", m->envid);
	/* RFC 8689: what the sender asked of TLS */
	show_field("tls:", m->tls_req == ENV_TLS_REQUIRE ? "REQUIRETLS" :
	    m->tls_req == ENV_TLS_OPTIONAL ? "TLS-Required: No" : "");
	printf("%-13s%u", "attempts:", m->attempts);
	if (m->next_attempt != 0 && !(e->flags & CONTROL_HELD))
		printf(" (next %s)", fmt_time(m->next_attempt, false, t,
		    sizeof(t)));
	putchar('\n');
}

/* copy_body - the data file fd to stdout, escaped as text, after the
 * fields delivery writes first. */
static int
copy_body(int fd, const char *prepend)
{
	char	buf[65536];
	ssize_t	n;
	bool	cr = false;

	put_text(stdout, prepend, strlen(prepend), true);
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		size_t	off = 0;

		/* A CRLF split between two reads is still one line end. */
		if (cr && buf[0] == '\n') {
			putchar('\n');
			off = 1;
		} else if (cr)
			put_text(stdout, "\r", 1, true);
		cr = buf[n - 1] == '\r';
		put_text(stdout, buf + off, (size_t)n - off - cr, true);
	}
	if (cr)
		put_text(stdout, "\r", 1, true);
	return n == -1 ? -1 : 0;
}

/* run_body - "show ID --body": the whole message. */
static int
run_body(struct client *c, const char *id)
{
	struct ipc_ctl_body_reply	m;
	int				rc = 0;

	if (request(c, IPC_CTL_BODY, id) == -1 ||
	    answer(c, IPC_CTL_BODY_REPLY) == -1)
		return 1;
	if (IPC_DECODE(&c->im, &m, NULL) == -1) {
		if (c->im.fd != -1)
			close(c->im.fd);
		return bad_answer(c);
	}
	if (!m.ok) {
		fprintf(stderr, "postbote: %s: %s\n", id, m.text);
		return 1;
	}
	if (copy_body(c->im.fd, m.prepend) == -1) {
		fprintf(stderr, "postbote: %s: cannot read it: %s\n", id,
		    strerror(errno));
		rc = 1;
	}
	close(c->im.fd);
	return rc;
}

static int
run_show(struct client *c, int argc, char **argv)
{
	struct ipc_ctl_show_reply	m;

	if (argc == 2 && strcmp(argv[1], "--body") == 0)
		return run_body(c, argv[0]);
	if (argc == 2) {
		fprintf(stderr, "postbote: show ID [--body]\n");
		return 2;
	}
	if (request(c, IPC_CTL_SHOW, argv[0]) == -1 ||
	    answer(c, IPC_CTL_SHOW_REPLY) == -1)
		return 1;
	if (IPC_DECODE(&c->im, &m, NULL) == -1)
		return bad_answer(c);
	if (!m.ok) {
		fprintf(stderr, "postbote: %s: %s\n", argv[0], m.text);
		ipc_proto_free(IPC_CTL_SHOW_REPLY, &m);
		return 1;
	}
	show_envelope(&m);
	printf("\n");
	put_text(stdout, m.headers.p, m.headers.len, true);
	if (m.cut)
		printf("\n[header block cut at %d bytes]\n",
		    CONTROL_HEADERS_MAX);
	ipc_proto_free(IPC_CTL_SHOW_REPLY, &m);
	return 0;
}

/* ---- flush, delete, hold, release ---- */

/* action - one request with an id (or "" for flush all); prints the
 * server's text, on stdout when it worked, else on stderr (exit 1). */
static int
action(struct client *c, uint16_t type, const char *id)
{
	struct ipc_reply r;
	const char	*text;

	if (request(c, type, id) == -1 || answer(c, IPC_CTL_REPLY) == -1)
		return 1;
	if (IPC_DECODE(&c->im, &r, NULL) == -1)
		return bad_answer(c);
	text = r.text;
	if (!r.ok) {
		fprintf(stderr, "postbote: %s%s", id,
		    id[0] != '\0' ? ": " : "");
		put_text(stderr, text, strlen(text), false);
		fprintf(stderr, "\n");
		return 1;
	}
	printf("%s%s", id, id[0] != '\0' ? ": " : "");
	put_str(text);
	putchar('\n');
	return 0;
}

/* ---- TLS reporting (RFC 8460) ---- */

/* tlsrpt - tlsrpt-show prints the counts so far (JSON, made and escaped
 * by the queue: printed as it came unless it holds a control byte);
 * tlsrpt-send has the reports of the UTC days that have ended sent now
 * (not the current day's). */
static int
tlsrpt(struct client *c, bool show)
{
	struct ipc_reply r;

	if (request(c, show ? IPC_CTL_TLSRPT_SHOW : IPC_CTL_TLSRPT_SEND,
	    NULL) == -1 || answer(c, IPC_CTL_REPLY) == -1)
		return 1;
	if (IPC_DECODE(&c->im, &r, NULL) == -1)
		return bad_answer(c);
	if (!r.ok || !show) {
		put_text(r.ok ? stdout : stderr, r.text, strlen(r.text), false);
		fputc('\n', r.ok ? stdout : stderr);
		return r.ok ? 0 : 1;
	}
	for (const char *p = r.text; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 && *p != '\n')
			return bad_answer(c);
	fputs(r.text, stdout);
	return 0;
}

static int
run_tlsrpt_show(struct client *c, int argc, char **argv)
{
	return tlsrpt(c, true);
}

static int
run_tlsrpt_send(struct client *c, int argc, char **argv)
{
	return tlsrpt(c, false);
}

/* ---- selections: IDs, ALL, or filters ---- */

/* parse_filter - "ALL" or -s/-r/-d words into f; 1 when argv holds
 * neither (IDs then), 0, or -1 for a usage error. */
static int
parse_filter(int argc, char **argv, struct filter *f)
{
	memset(f, 0, sizeof(*f));
	if (argc == 1 && strcmp(argv[0], "ALL") == 0) {
		f->all = true;
		return 0;
	}
	if (argv[0][0] != '-')
		return 1;
	for (int i = 0; i < argc; i += 2) {
		const char	*o = argv[i], *v = i + 1 < argc ? argv[i + 1] :
		    NULL;

		if (v == NULL || *v == '\0')
			return -1;
		if (strcmp(o, "-s") == 0 || strcmp(o, "--sender") == 0)
			f->sender = v;
		else if (strcmp(o, "-r") == 0 || strcmp(o, "--recipient") == 0)
			f->rcpt = v;
		else if (strcmp(o, "-d") == 0 || strcmp(o, "--domain") == 0)
			f->domain = v[0] == '@' ? v + 1 : v;
		else
			return -1;
	}
	return 0;
}

/* is_domain_of - is addr at domain d (case-insensitive)? */
static bool
is_domain_of(const char *addr, const char *d)
{
	const char	*at = strrchr(addr, '@');

	return at != NULL && strcasecmp(at + 1, d) == 0;
}

static bool
is_match(const struct filter *f, const struct ipc_ctl_entry *e)
{
	bool	rcpt = f->rcpt == NULL, dom = f->domain == NULL;

	if (f->all)
		return true;
	if (f->sender != NULL && strcasecmp(e->sender, f->sender) != 0)
		return false;
	for (size_t i = 0; i < e->nrcpts; i++) {
		const struct ipc_ctl_rcpt *r = &e->rcpts[i];

		rcpt |= strcasecmp(r->addr, f->rcpt ? f->rcpt : "") == 0 ||
		    strcasecmp(r->orig, f->rcpt ? f->rcpt : "") == 0;
		dom |= is_domain_of(r->addr, f->domain ? f->domain : "");
	}
	return rcpt && dom;
}

/* select_ids - the ids of the listed messages f matches, into *ids
 * (allocated strings); 0 or -1 (said). */
static int
select_ids(struct client *c, const struct filter *f, char ***ids, size_t *n)
{
	struct ipc_ctl_list_reply	r;
	bool				more;

	*ids = NULL;
	*n = 0;
	if (request(c, IPC_CTL_LIST, NULL) == -1)
		return -1;
	do {
		if (answer(c, IPC_CTL_LIST_REPLY) == -1)
			return -1;
		if (IPC_DECODE(&c->im, &r, NULL) == -1)
			return bad_answer(c), -1;
		for (size_t i = 0; i < r.nentries; i++)
			if (is_match(f, &r.entries[i])) {
				*ids = xreallocarray(*ids, *n + 1,
				    sizeof(**ids));
				(*ids)[(*n)++] = xstrdup(r.entries[i].id);
			}
		more = r.more != 0;
		ipc_proto_free(IPC_CTL_LIST_REPLY, &r);
	} while (more);
	return 0;
}

/* act_on - type for each message argv names (IDs, ALL or a filter);
 * 0 when every one worked. */
static int
act_on(struct client *c, uint16_t type, int argc, char **argv)
{
	struct filter	 f;
	char		**ids;
	size_t		 n;
	int		 rc = 0, k = parse_filter(argc, argv, &f);

	if (k == -1)
		return usage();
	if (k == 1) {
		for (int i = 0; i < argc; i++)
			rc |= action(c, type, argv[i]);
		return rc;
	}
	if (select_ids(c, &f, &ids, &n) == -1)
		return 1;
	for (size_t i = 0; i < n; i++) {
		rc |= action(c, type, ids[i]);
		free(ids[i]);
	}
	free(ids);
	if (n == 0)
		printf("-- no message matches\n");
	return rc;
}

static int
run_flush(struct client *c, int argc, char **argv)
{
	if (argc == 0 || (argc == 1 && strcmp(argv[0], "ALL") == 0))
		return action(c, IPC_CTL_FLUSH, "");
	return act_on(c, IPC_CTL_FLUSH, argc, argv);
}

static int
run_delete(struct client *c, int argc, char **argv)
{
	return act_on(c, IPC_CTL_DELETE, argc, argv);
}

static int
run_hold(struct client *c, int argc, char **argv)
{
	return act_on(c, IPC_CTL_HOLD, argc, argv);
}

static int
run_release(struct client *c, int argc, char **argv)
{
	return act_on(c, IPC_CTL_RELEASE, argc, argv);
}

/* cmd_queue_count - see cmd_queue.h. */
int
cmd_queue_count(const char *state_dir, unsigned *n, unsigned *held)
{
	struct client			 c = { .fd = -1 };
	struct ipc_ctl_list_reply	 r;
	bool				 more = false;
	int				 rc = -1;

	c.path = control_path(state_dir);
	buf_init(&c.store, 0);
	*n = *held = 0;
	if ((c.fd = control_connect(c.path, TIMEOUT_MS)) == -1 ||
	    request(&c, IPC_CTL_LIST, NULL) == -1)
		goto done;
	do {
		if (answer(&c, IPC_CTL_LIST_REPLY) == -1 ||
		    IPC_DECODE(&c.im, &r, NULL) == -1)
			goto done;
		for (size_t i = 0; i < r.nentries; i++)
			*held += (r.entries[i].flags & CONTROL_HELD) != 0;
		*n += (unsigned)r.nentries;
		more = r.more != 0;
		ipc_proto_free(IPC_CTL_LIST_REPLY, &r);
	} while (more);
	rc = 0;
done:
	if (c.fd != -1)
		close(c.fd);
	buf_free(&c.store);
	free((char *)c.path);
	return rc;
}

/* ---- entry points ---- */

/* id_upper - queue ids are upper-case hex: accept one typed in lower
 * case.  Anything else is left alone (and will not be found). */
static void
id_upper(char *s)
{
	if (strlen(s) != QUEUE_ID_LEN ||
	    strspn(s, "0123456789ABCDEFabcdef") != QUEUE_ID_LEN)
		return;
	for (; *s != '\0'; s++)
		if (*s >= 'a' && *s <= 'f')
			*s = (char)(*s - 'a' + 'A');
}

/* parse_conf_opt - leading "-c FILE" / "-cFILE" options; the index of
 * the first other argument, or -1 for a usage error. */
static int
parse_conf_opt(int argc, char **argv, const char **conf)
{
	int	i = 1;

	while (i < argc && argv[i][0] == '-' && strcmp(argv[i], "--json")) {
		if (strcmp(argv[i], "--") == 0)
			return i + 1;
		if (strncmp(argv[i], "-c", 2) != 0)
			return -1;
		if (argv[i][2] != '\0')
			*conf = argv[i++] + 2;
		else if (i + 1 < argc) {
			*conf = argv[i + 1];
			i += 2;
		} else
			return -1;
	}
	return i;
}

/* is_bad_selection - arguments no server needs to see to refuse: show's
 * second word, a filter without its value or an unknown one. */
static bool
is_bad_selection(const struct verb *v, int argc, char **argv)
{
	struct filter	f;

	if (v->run == run_show)
		return argc == 2 && strcmp(argv[1], "--body") != 0;
	if (v->run == run_list || argc == 0)
		return false;
	return parse_filter(argc, argv, &f) == -1;
}

/* run_verb - load the config, connect, run v. */
static int
run_verb(const struct verb *v, const char *confpath, int argc, char **argv)
{
	struct conf	 conf;
	struct client	 c = { .fd = -1 };
	char		 err[512], *path;
	int		 rc = 1;

	if (conf_load(confpath, &conf, err, sizeof(err)) == -1) {
		fprintf(stderr, "postbote: %s\n", err);
		return 2;
	}
	path = control_path(conf.state_dir);
	if (conf.path == NULL)
		conf_hint = "; no config was named (-c FILE, $POSTBOTE_CONF) "
		    "and " CONF_DEFAULT_PATH " does not exist, so the embedded "
		    "defaults were used";
	conf_free(&conf);
	c.path = path;
	buf_init(&c.store, 0);
	if ((c.fd = ctl_connect(path)) != -1) {
		rc = v->run(&c, argc, argv);
		close(c.fd);
	}
	fflush(stdout);
	buf_free(&c.store);
	free(path);
	return rc;
}

static int
queue_main(int argc, char **argv, const char *verb)
{
	const char	*confpath = NULL;
	int		 i = parse_conf_opt(argc, argv, &confpath);

	if (i == -1)
		return usage();
	argc -= i;
	argv += i;
	if (verb == NULL) {
		if (argc < 1)
			return usage();
		verb = argv[0];
		argc--;
		argv++;
	}
	for (int k = 0; k < argc; k++)
		id_upper(argv[k]);
	for (size_t k = 0; k < NELEM(verbs); k++) {
		if (strcmp(verbs[k].name, verb) != 0)
			continue;
		if (argc < verbs[k].minargs || argc > verbs[k].maxargs ||
		    (verbs[k].flag != NULL && argc > 0 &&
		    strcmp(argv[0], verbs[k].flag) != 0) ||
		    is_bad_selection(&verbs[k], argc, argv))
			return usage();
		return run_verb(&verbs[k], confpath, argc, argv);
	}
	return usage();
}

/* cmd_queue - "postbote queue ..."; see cmd_queue.h. */
int
cmd_queue(int argc, char **argv)
{
	return queue_main(argc, argv, NULL);
}

/* cmd_queue_mailq - "mailq [-c FILE] [--json]". */
int
cmd_queue_mailq(int argc, char **argv)
{
	return queue_main(argc, argv, "list");
}
