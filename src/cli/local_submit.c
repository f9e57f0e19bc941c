/*
 * local_submit.c - the header fields a local submission gets, and its
 * hand-over to the queue over the submission socket state_dir/submit
 * (one IPC_CTL_SUBMIT request, answered once the queue committed the
 * message or refused it: queue_ctl.c).  Used by "postbote send" and by
 * "sendmail -bs".  Trusts the queue's answer only as far as it decodes;
 * the queue re-checks everything sent and records the caller's uid from
 * the socket itself.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "cli/local_submit.h"
#include "common/control.h"
#include "lib/ipc_proto.h"
#include "lib/util.h"
#include "mail/submit_msg.h"

#define TIMEOUT_MS	60000		/* the answer waits for an fsync */
#define REQ_ID		1

static void	 put_from(struct buf *, const char *, const char *);
static int	 connect_submit(const char *, char *, size_t);

/* put_from - "From: "NAME" <sender>" or "From: <sender>". */
static void
put_from(struct buf *h, const char *sender, const char *fullname)
{
	if (fullname == NULL) {
		buf_printf(h, "From: <%s>\r\n", sender);
		return;
	}
	buf_puts(h, "From: \"");
	for (const char *p = fullname; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			buf_putc(h, '\\');
		if (*p != '\r' && *p != '\n')
			buf_putc(h, *p);
	}
	buf_printf(h, "\" <%s>\r\n", sender);
}

/* local_submit_complete - see local_submit.h (RFC 5322 3.6: From and
 * Date are required). */
void
local_submit_complete(const struct conf *c, struct buf *msg,
    const char *sender, const char *fullname)
{
	struct buf	 h;
	bool		 blank;
	size_t		 hend = submit_msg_header_end(msg->data, msg->len,
	    &blank);
	time_t		 t = time(NULL);
	struct tm	 tm;
	char		 date[64];

	buf_init(&h, 0);
	if (!submit_msg_has_field(msg->data, hend, "From"))
		put_from(&h, sender, fullname);
	if (!submit_msg_has_field(msg->data, hend, "Date")) {
		localtime_r(&t, &tm);
		strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
		buf_printf(&h, "Date: %s\r\n", date);
	}
	if (!submit_msg_has_field(msg->data, hend, "Message-ID"))
		buf_printf(&h, "Message-ID: <%llX.%ld.%lX@%s>\r\n",
		    (unsigned long long)now_usec(), (long)getpid(),
		    (unsigned long)random(), c->hostname);
	if (hend == 0 && !blank)
		buf_puts(&h, "\r\n");
	else if (!blank && hend < msg->len) {
		/* Header fields, then a line that is not one: the body. */
		buf_append(&h, msg->data, hend);
		buf_puts(&h, "\r\n");
		buf_append(&h, msg->data + hend, msg->len - hend);
		buf_free(msg);
		*msg = h;
		return;
	}
	buf_append(&h, msg->data, msg->len);
	buf_free(msg);
	*msg = h;
}

/* connect_submit - the submission socket; -1 and a plain message. */
static int
connect_submit(const char *path, char *text, size_t textsz)
{
	int	fd = control_connect(path, TIMEOUT_MS), e = errno;

	if (fd != -1)
		return fd;
	if (e == ENOENT || e == ECONNREFUSED)
		snprintf(text, textsz, "the server is not running (%s %s); "
		    "the message was not sent, try again later",
		    e == ENOENT ? "no submission socket at" :
		    "nothing answers on", path);
	else
		snprintf(text, textsz, "cannot connect to %s: %s; the "
		    "message was not sent", path, strerror(e));
	fprintf(stderr, "postbote: %s\n", text);
	return -1;
}

/* local_submit_send - see local_submit.h. */
int
local_submit_send(const char *state_dir, const char *sender,
    char *const *rcpts, size_t nrcpts, const struct buf *msg, char *text,
    size_t textsz)
{
	char			*path = control_submit_path(state_dir);
	struct ipc_ctl_submit	 q = { 0 };
	struct ipc_ctl_submit_reply r;
	struct buf		 b, store;
	struct ipc_msg		 im;
	int			 fd, rc = EX_TEMPFAIL;

	text[0] = '\0';
	if ((fd = connect_submit(path, text, textsz)) == -1) {
		free(path);
		return rc;
	}
	buf_init(&b, 0);
	buf_init(&store, 0);
	q.sender = sender;
	q.rcpts = xcalloc(nrcpts ? nrcpts : 1, sizeof(*q.rcpts));
	q.nrcpts = nrcpts;
	for (size_t i = 0; i < nrcpts; i++)
		q.rcpts[i].addr = rcpts[i];
	q.message.p = msg->data;
	q.message.len = msg->len;
	IPC_ENCODE(&b, IPC_CTL_SUBMIT, &q);
	free(q.rcpts);
	if (ipc_sync_send(fd, IPC_CTL_SUBMIT, REQ_ID, &b) == -1 ||
	    ipc_sync_recv(fd, &im, &store, TIMEOUT_MS) == -1 ||
	    im.type != IPC_CTL_SUBMIT_REPLY) {
		snprintf(text, textsz, "no answer from the server on %s; "
		    "the message may not have been sent", path);
		fprintf(stderr, "postbote: %s\n", text);
	} else if (IPC_DECODE(&im, &r, NULL) == -1) {
		snprintf(text, textsz, "a malformed answer from the server");
		fprintf(stderr, "postbote: %s\n", text);
		rc = EX_SOFTWARE;
	} else {
		snprintf(text, textsz, "%s", r.text != NULL ? r.text : "");
		rc = r.ok ? EX_OK : r.code != EX_OK && r.code < 128 ?
		    (int)r.code : EX_SOFTWARE;
		if (!r.ok)
			fprintf(stderr, "postbote: refused: %s\n", text);
	}
	close(fd);
	buf_free(&b);
	buf_free(&store);
	free(path);
	return rc;
}
