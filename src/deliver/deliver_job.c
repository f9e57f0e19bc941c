/*
 * deliver_job.c - the job of the deliver process and its reply: decoding
 * an IPC_DELIVER into a struct deliver_job, the recipients' results, the
 * mail-loop check every delivery starts with, the log line of each result
 * and the IPC_DELIVER_REPLY that reports them to queue.  Local and remote
 * delivery (local.c, remote.c) build on it and never on each other.
 *
 * Runs in the deliver process, on its loop.  Trust: the request comes
 * from queue, one of ours, but its frame is still read with the bounds-
 * checked getters and its recipient count capped before any allocation.
 * The message it points to and the reply texts (from remote servers) are
 * peer data: they reach the log only through log_safe(), and the reply
 * only cut to DELIVER_JOB_TEXT_MAX.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/conf.h"
#include "common/stats.h"
#include "common/proc.h"
#include "deliver/deliver_job.h"
#include "lib/ipc_proto.h"
#include "lib/log.h"
#include "lib/util.h"

#define HEADER_SCAN_MAX	(64 * 1024)	/* bytes of header read to count
					   Received: lines */

static void	 load_data(struct deliver_job *, uint64_t);
static unsigned	 count_received(const char *, size_t);
static const char *status_word(int);
static void	 log_result(const struct deliver_job *,
		    const struct deliver_rcpt *, double);
static void	 reply(struct deliver_job *);
static void	 part_done(struct deliver_job *);

/* ---- the wire: IPC_DELIVER in, IPC_DELIVER_REPLY out (ipc_proto.h) ---- */

/* deliver_job_decode - see deliver_job.h. */
struct deliver_job *
deliver_job_decode(struct ipc_msg *m)
{
	struct ipc_deliver	 in;
	struct deliver_job	*j;

	if (IPC_DECODE(m, &in, NULL) == -1 || in.nrcpts == 0 ||
	    in.nrcpts > DELIVER_JOB_RCPT_MAX || (in.data.len > 0 &&
	    in.data.len != in.size)) {
		ipc_proto_free(IPC_DELIVER, &in);
		if (m->fd != -1)
			close(m->fd);
		m->fd = -1;
		return NULL;
	}
	j = xcalloc(1, sizeof(*j));
	j->reqid = m->id;
	j->fd = m->fd;
	str_copy(j->id, in.id, sizeof(j->id));
	j->sender = xstrdup(in.sender);
	j->arrival = in.arrival;
	j->recovered = in.recovered != 0;
	j->n = in.nrcpts;
	j->r = xcalloc(j->n, sizeof(*j->r));
	for (size_t i = 0; i < j->n; i++) {
		const struct ipc_deliver_rcpt	*r = &in.rcpts[i];

		j->r[i].index = r->index;
		j->r[i].kind = (int)r->kind;
		j->r[i].addr = xstrdup(r->addr);
		j->r[i].orig = xstrdup(r->orig);
		j->r[i].notify = r->notify;
		j->r[i].orcpt = xstrdup(r->orcpt);
	}
	j->body = (int)in.body;
	j->smtputf8 = in.smtputf8 != 0;
	j->tls_req = in.tls_req <= ENV_TLS_MAX ? (int)in.tls_req :
	    ENV_TLS_REQUIRE;
	j->ret = (int)in.ret;
	j->envid = xstrdup(in.envid);
	j->prepend = xstrdup(in.prepend);
	j->size = in.size + strlen(j->prepend);	/* SIZE= counts what goes
						 * out */
	if (in.data.len > 0) {
		char	*p = xmalloc(in.data.len);

		memcpy(p, in.data.p, in.data.len);
		j->data = p;
		j->datalen = in.data.len;
	} else
		load_data(j, in.size);
	ipc_proto_free(IPC_DELIVER, &in);
	return j;
}

/* load_data - a small message into j->data with one pread of one byte
 * more than its size: only a file of exactly that size is taken (else
 * the couriers read the descriptor, as for a big one). */
static void
load_data(struct deliver_job *j, uint64_t size)
{
	char	*p;
	ssize_t	 got;

	if (j->fd == -1 || size > DELIVER_JOB_LOAD_MAX)
		return;
	p = xmalloc((size_t)size + 1);
	got = pread(j->fd, p, (size_t)size + 1, 0);
	if (got < 0 || (uint64_t)got != size) {
		free(p);
		return;
	}
	j->data = p;
	j->datalen = (size_t)size;
}

/* deliver_job_read - see deliver_job.h. */
ssize_t
deliver_job_read(const struct deliver_job *j, void *p, size_t n, off_t off)
{
	if (j->data == NULL)
		return pread(j->fd, p, n, off);
	if (off < 0 || (uint64_t)off >= j->datalen)
		return 0;
	n = MIN(n, j->datalen - (size_t)off);
	memcpy(p, j->data + off, n);
	return (ssize_t)n;
}

/* deliver_job_encode_reply - see deliver_job.h. */
void
deliver_job_encode_reply(const struct deliver_job *j, struct buf *b)
{
	struct ipc_deliver_reply	 out;

	out.id = j->id;
	out.nresults = j->n;
	out.results = xcalloc(j->n ? j->n : 1, sizeof(*out.results));
	for (size_t i = 0; i < j->n; i++) {
		out.results[i].index = j->r[i].index;
		out.results[i].result = (uint32_t)j->r[i].result;
		out.results[i].dsn = j->r[i].dsn;
		out.results[i].text = j->r[i].text;
		out.results[i].remote_mta = j->r[i].remote_mta;
	}
	IPC_ENCODE(b, IPC_DELIVER_REPLY, &out);
	free(out.results);
}

/* ---- results ---- */

/* deliver_job_set_result - see deliver_job.h. */
void
deliver_job_set_result(struct deliver_rcpt *r, int result, const char *dsn,
    const char *text)
{
	r->result = result;
	str_copy(r->dsn, dsn, sizeof(r->dsn));
	str_copy(r->text, text, sizeof(r->text));
	r->remote_mta[0] = '\0';
}

/* deliver_job_set_mta - see deliver_job.h. */
void
deliver_job_set_mta(struct deliver_rcpt *r, const char *name)
{
	str_copy(r->remote_mta, name, sizeof(r->remote_mta));
}

/* deliver_job_part - see deliver_job.h. */
struct deliver_job *
deliver_job_part(struct deliver_job *j, const size_t *idx, size_t n)
{
	struct deliver_job	*p = xcalloc(1, sizeof(*p));

	ASSERT(j->whole == NULL && n > 0);
	memcpy(p->id, j->id, sizeof(p->id));
	p->reqid = j->reqid;
	p->recovered = j->recovered;
	p->sender = xstrdup(j->sender);
	p->prepend = xstrdup(j->prepend);
	p->arrival = j->arrival;
	p->fd = j->fd;
	p->fd_borrowed = true;
	p->data = j->data;
	p->datalen = j->datalen;
	p->n = n;
	p->r = xcalloc(n, sizeof(*p->r));
	for (size_t i = 0; i < n; i++) {
		const struct deliver_rcpt *from = &j->r[idx[i]];

		ASSERT(idx[i] < j->n);
		p->r[i] = *from;
		p->r[i].addr = xstrdup(from->addr);
		p->r[i].orig = xstrdup(from->orig);
		p->r[i].orcpt = xstrdup(from->orcpt);
		p->r[i].slot = idx[i];
	}
	p->body = j->body;
	p->smtputf8 = j->smtputf8;
	p->tls_req = j->tls_req;
	p->ret = j->ret;
	p->envid = xstrdup(j->envid);
	p->size = j->size;
	p->whole = j;
	j->nparts++;
	return p;
}

/* deliver_job_is_remote - see deliver_job.h. */
bool
deliver_job_is_remote(const struct deliver_job *j)
{
	for (size_t i = 0; i < j->n; i++)
		if (j->r[i].kind != RCPT_REMOTE)
			return false;
	return true;
}

/* deliver_job_loops - see deliver_job.h. */
bool
deliver_job_loops(struct deliver_job *j, unsigned max)
{
	char		*h = NULL;
	ssize_t		 got;
	size_t		 len = 0;
	unsigned	 n;

	if (j->data != NULL)
		n = count_received(j->data, MIN(j->datalen, HEADER_SCAN_MAX));
	else {
		h = xmalloc(HEADER_SCAN_MAX);
		while (len < HEADER_SCAN_MAX && (got = pread(j->fd, h + len,
		    HEADER_SCAN_MAX - len, (off_t)len)) > 0)
			len += (size_t)got;
		n = count_received(h, len);
		free(h);
	}
	if (n <= max)
		return false;
	for (size_t i = 0; i < j->n; i++)
		deliver_job_set_result(&j->r[i], DELIVER_PERM, "5.4.6",
		    "mail loop: too many Received: header fields");
	return true;
}

/* count_received - Received: header fields in the message's header h
 * (the part before the first empty line, within len bytes). */
static unsigned
count_received(const char *h, size_t len)
{
	unsigned	 n = 0;

	for (size_t off = 0; off < len; ) {
		const char	*eol = memchr(h + off, '\n', len - off);

		if (h[off] == '\r' || h[off] == '\n')
			break;		/* end of the header */
		if (len - off >= 9 && strncasecmp(h + off, "Received:", 9) == 0)
			n++;
		if (eol == NULL)
			break;
		off = (size_t)(eol - h) + 1;
	}
	return n;
}

/* ---- the end of a job ---- */

static const char *
status_word(int result)
{
	return result == DELIVER_OK ? "sent" : result == DELIVER_PERM ?
	    "bounced" : "deferred";
}

/* log_result - the line mail admins grep (DESIGN.md 5), one per
 * recipient; orig_to only when an alias or delimiter changed it. */
static void
log_result(const struct deliver_job *j, const struct deliver_rcpt *r,
    double delay)
{
	bool		 changed = strcmp(r->addr, r->orig) != 0;
	/* log_format = postfix: Postfix's commas, which log readers need */
	const char	*sep = config->log_format == LOG_FORMAT_POSTFIX ?
			    ", " : " ";

	if (r->result == DELIVER_OK) {
		stats_add(STATS_DELIVERED);
		stats_delivery(delay);
	} else {
		stats_add(r->result == DELIVER_PERM ? STATS_BOUNCED :
		    STATS_DEFERRED);
		stats_failure(r->result == DELIVER_PERM, log_safe(r->text));
	}

	log_info("%s: to=<%s>%s%s%s%s%srelay=%s%s%s%sdelay=%.2f%sdsn=%s%s"
	    "status=%s (%s)", j->id, log_safe(r->addr),
	    changed ? sep : "", changed ? "orig_to=<" : "",
	    changed ? log_safe(r->orig) : "",
	    changed ? ">" : "", sep,
	    j->relay[0] != '\0' ? log_safe(j->relay) : "local",
	    j->tls_policy[0] != '\0' ? " tls_policy=" : "", j->tls_policy,
	    sep, delay,
	    sep, r->dsn, sep,
	    status_word(r->result), log_safe(r->text));
}

/* reply - j's IPC_DELIVER_REPLY to queue; frees j. */
static void
reply(struct deliver_job *j)
{
	struct buf	 b;

	buf_init(&b, 0);
	deliver_job_encode_reply(j, &b);
	proc_send(PROC_QUEUE, IPC_DELIVER_REPLY, j->reqid, &b, -1);
	buf_free(&b);
	deliver_job_free(j);
}

/* part_done - a part's results into its whole request, which answers
 * when this was its last part.  Frees p. */
static void
part_done(struct deliver_job *p)
{
	struct deliver_job	*j = p->whole;

	for (size_t i = 0; i < p->n; i++) {
		struct deliver_rcpt	*to = &j->r[p->r[i].slot];

		to->result = p->r[i].result;
		memcpy(to->dsn, p->r[i].dsn, sizeof(to->dsn));
		memcpy(to->text, p->r[i].text, sizeof(to->text));
		memcpy(to->remote_mta, p->r[i].remote_mta,
		    sizeof(to->remote_mta));
	}
	deliver_job_free(p);
	ASSERT(j->nparts > 0);
	if (--j->nparts == 0)
		reply(j);
}

/* deliver_job_done - see deliver_job.h. */
void
deliver_job_done(struct deliver_job *j)
{
	double		 delay = (double)(now_usec() - j->arrival) / 1e6;

	for (size_t i = 0; i < j->n; i++)
		log_result(j, &j->r[i], delay);
	if (j->whole != NULL)
		part_done(j);
	else
		reply(j);
}

/* deliver_job_free - see deliver_job.h. */
void
deliver_job_free(struct deliver_job *j)
{
	for (size_t i = 0; j->r != NULL && i < j->n; i++) {
		free(j->r[i].addr);
		free(j->r[i].orig);
		free(j->r[i].orcpt);
	}
	if (j->fd != -1 && !j->fd_borrowed)
		close(j->fd);
	if (!j->fd_borrowed)
		free((char *)j->data);
	free(j->r);
	free(j->sender);
	free(j->envid);
	free(j->prepend);
	free(j);
}
