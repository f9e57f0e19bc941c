/*
 * deliver.c - the deliver process: local delivery into Maildir.  Queue
 * sends a message (as a read-only descriptor) with its pending recipients;
 * a worker thread writes each copy to tmp/, syncs once for the batch,
 * renames into new/, syncs the new/ directories, and only then reports
 * success.  Runs unprivileged as the one mail user who owns all
 * mailboxes.  Remote recipients (all of one domain per request) go to
 * the SMTP client in deliver_remote.c.  Every delivery, local or remote,
 * first counts the message's Received: headers (max_received): more means
 * a mail loop, failed with 5.4.6.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "mail/addr.h"
#include "common/conf.h"
#include "deliver/deliver.h"
#include "lib/log.h"
#include "deliver/maildir.h"
#include "common/proc.h"
#include "mail/envelope.h"
#include "lib/util.h"
#include "lib/worker.h"

#define MAX_SYNC_DIRS	64
#define HEADER_SCAN_MAX	(64 * 1024)	/* bytes of header read to count
					   Received: lines */
#define PREPARED_MAX	1024	/* maildirs known to exist (worker only) */

static struct worker	*writer;
static char		*prepared[PREPARED_MAX];	/* worker thread only */

/* prepared_slot - the table slot for dir (open addressing); a full table
 * is simply emptied. */
static char **
prepared_slot(const char *dir)
{
	uint32_t	h = str_hash(dir);
	size_t		i;

	for (size_t n = 0; n < PREPARED_MAX; n++) {
		i = (h + n) % PREPARED_MAX;
		if (prepared[i] == NULL || strcmp(prepared[i], dir) == 0)
			return &prepared[i];
	}
	for (i = 0; i < PREPARED_MAX; i++) {
		free(prepared[i]);
		prepared[i] = NULL;
	}
	return &prepared[h % PREPARED_MAX];
}

/* ensure_maildir - mkdir only the first time a maildir is seen. */
static int
ensure_maildir(const char *dir, bool again)
{
	char	**slot = prepared_slot(dir);

	if (*slot != NULL && !again)
		return 0;
	if (maildir_prepare(dir) == -1)
		return -1;
	if (*slot == NULL)
		*slot = xstrdup(dir);
	return 0;
}

/* deliver_set_result - see deliver.h. */
void
deliver_set_result(struct drcpt *r, int result, const char *dsn,
    const char *text)
{
	r->result = result;
	str_copy(r->dsn, dsn, sizeof(r->dsn));
	str_copy(r->text, text, sizeof(r->text));
}

static void
set_errno_result(struct drcpt *r, const char *what, int e)
{
	char	text[200];

	snprintf(text, sizeof(text), "%s: %s", what, strerror(e));
	if (e == EDQUOT)
		deliver_set_result(r, DELIVER_TEMP, "4.2.2", text);
	else if (e == ENOSPC)
		deliver_set_result(r, DELIVER_TEMP, "4.3.1", text);
	else if (e == ENOTDIR)	/* a file where the Maildir must be: no
				 * retry mends that, the sender is told */
		deliver_set_result(r, DELIVER_PERM, "5.2.0", text);
	else
		deliver_set_result(r, DELIVER_TEMP, "4.2.0", text);
}

/* write_copy - one recipient's copy into DIR/tmp (no sync yet). */
static void
write_copy(struct djob *j, struct drcpt *r)
{
	char	*prefix, tag[QUEUE_ID_LEN + 16];
	int	 fd;
	ssize_t	 n;

	if (ensure_maildir(r->dir, false) == -1) {
		set_errno_result(r, "cannot create maildir", errno);
		return;
	}
	snprintf(tag, sizeof(tag), "%s_%u", j->id, r->index);
	if (j->recovered && maildir_has_tag(r->dir, tag)) {
		/* Delivered before the crash; the queue did not hear it. */
		deliver_set_result(r, DELIVER_OK, "2.0.0", "delivered to maildir "
		    "before a restart");
		return;
	}
	fd = maildir_create_tagged(r->dir, tag, r->name, sizeof(r->name));
	if (fd == -1 && errno == ENOENT && ensure_maildir(r->dir, true) == 0)
		fd = maildir_create_tagged(r->dir, tag, r->name,
		    sizeof(r->name));
	if (fd == -1) {
		set_errno_result(r, "cannot create file", errno);
		return;
	}
	xasprintf(&prefix, "Return-Path: <%s>\r\nDelivered-To: %s\r\n%s",
	    j->sender, r->addr, j->prepend);
	n = maildir_copy(fd, j->fd, prefix);
	free(prefix);
	if (n == -1) {
		int e = errno;

		close(fd);
		maildir_abort(r->dir, r->name);
		set_errno_result(r, "write error", e);
		return;
	}
	if (close(fd) == -1) {
		set_errno_result(r, "write error", errno);
		maildir_abort(r->dir, r->name);
		return;
	}
	r->size = n;
	r->written = true;
}

/* sync_filesystems - one syncfs per file system that got new files. */
static int
sync_filesystems(struct djob *b)
{
	dev_t	 devs[MAX_SYNC_DIRS];
	size_t	 ndevs = 0;
	int	 rc = 0;

	for (struct djob *j = b; j != NULL; j = (struct djob *)j->item.next)
		for (size_t i = 0; i < j->n; i++) {
			struct stat	st;
			size_t		k;
			int		fd;

			if (!j->r[i].written || stat(j->r[i].dir, &st) == -1)
				continue;
			for (k = 0; k < ndevs && devs[k] != st.st_dev; k++)
				;
			if (k < ndevs || ndevs == MAX_SYNC_DIRS)
				continue;
			devs[ndevs++] = st.st_dev;
			fd = open(j->r[i].dir, O_RDONLY | O_DIRECTORY |
			    O_CLOEXEC);
			if (fd == -1 || syncfs(fd) == -1)
				rc = -1;
			if (fd != -1)
				close(fd);
		}
	return rc;
}

/* sync_new_dirs - fsync each distinct DIR/new once. */
static void
sync_new_dirs(struct djob *b)
{
	for (struct djob *j = b; j != NULL; j = (struct djob *)j->item.next)
		for (size_t i = 0; i < j->n; i++) {
			struct drcpt	*r = &j->r[i];
			char		 path[PATH_MAX + 8];
			bool		 seen = false;
			int		 fd;

			if (!r->written)
				continue;
			/* Same directory earlier in the batch: synced. */
			for (struct djob *k = b; k != NULL && !seen;
			    k = (struct djob *)k->item.next)
				for (size_t x = 0; x < k->n; x++) {
					if (k == j && x == i)
						break;
					if (k->r[x].written &&
					    strcmp(k->r[x].dir, r->dir) == 0)
						seen = true;
				}
			if (seen)
				continue;
			snprintf(path, sizeof(path), "%s/new", r->dir);
			if ((fd = open(path, O_RDONLY | O_DIRECTORY |
			    O_CLOEXEC)) != -1) {
				if (fsync(fd) == -1)
					set_errno_result(r, "fsync", errno);
				close(fd);
			}
		}
}

/* run_batch - on the worker thread: write, sync, rename, sync. */
static void
run_batch(struct worker_item *wi)
{
	struct djob	*b = (struct djob *)wi;

	for (struct djob *j = b; j != NULL; j = (struct djob *)j->item.next)
		for (size_t i = 0; i < j->n; i++)
			if (j->r[i].result == DELIVER_OK && j->r[i].dir[0])
				write_copy(j, &j->r[i]);
	if (sync_filesystems(b) == -1)
		for (struct djob *j = b; j != NULL;
		    j = (struct djob *)j->item.next)
			for (size_t i = 0; i < j->n; i++)
				if (j->r[i].written) {
					set_errno_result(&j->r[i], "syncfs",
					    errno);
					maildir_abort(j->r[i].dir, j->r[i].name);
					j->r[i].written = false;
				}
	for (struct djob *j = b; j != NULL; j = (struct djob *)j->item.next)
		for (size_t i = 0; i < j->n; i++) {
			struct drcpt *r = &j->r[i];

			if (r->written && maildir_commit(r->dir, r->name,
			    r->size) == -1) {
				set_errno_result(r, "rename", errno);
				maildir_abort(r->dir, r->name);
				r->written = false;
			}
		}
	sync_new_dirs(b);
}

/* prepare_rcpt - on the loop: where a local copy goes, or why not. */
static void
prepare_rcpt(struct drcpt *r)
{
	struct mailaddr	a;

	deliver_set_result(r, DELIVER_OK, "2.0.0", "delivered to maildir");
	if (r->kind != RCPT_LOCAL) {	/* mixed into a local request */
		deliver_set_result(r, DELIVER_TEMP, "4.3.5",
		    "remote recipient in a local delivery request");
		return;
	}
	if (addr_parse(r->addr, ADDR_F_UTF8, &a) != ADDR_OK ||
	    maildir_path(config->mailbox, str_lower(a.local), a.domain,
	    r->dir, sizeof(r->dir)) == -1) {
		r->dir[0] = '\0';
		deliver_set_result(r, DELIVER_PERM, "5.1.3",
		    "address has no valid mailbox path");
	}
}

/* count_received - Received: header fields in the message's header (the
 * part before the first empty line, read up to HEADER_SCAN_MAX). */
static unsigned
count_received(int fd)
{
	char		*h = xmalloc(HEADER_SCAN_MAX + 1);
	ssize_t		 got;
	size_t		 len = 0;
	unsigned	 n = 0;

	while (len < HEADER_SCAN_MAX && (got = pread(fd, h + len,
	    HEADER_SCAN_MAX - len, (off_t)len)) > 0)
		len += (size_t)got;
	h[len] = '\0';
	for (size_t off = 0; off < len; ) {
		char	*eol = memchr(h + off, '\n', len - off);

		if (h[off] == '\r' || h[off] == '\n')
			break;		/* end of the header */
		if (len - off >= 9 && strncasecmp(h + off, "Received:", 9) == 0)
			n++;
		if (eol == NULL)
			break;
		off = (size_t)(eol - h) + 1;
	}
	free(h);
	return n;
}

/* get_dsn_fields - IPC_DELIVER's appended part (queue.c put_dsn_fields). */
static void
get_dsn_fields(struct ipc_msg *m, struct djob *j)
{
	j->body = (int)ipc_get_u32(m);
	j->smtputf8 = ipc_get_u32(m) != 0;
	j->ret = (int)ipc_get_u32(m);
	j->envid = xstrdup(ipc_get_str(m));
	j->size = ipc_get_u64(m);
	for (size_t i = 0; j->r != NULL && i < j->n && !m->bad; i++) {
		j->r[i].notify = ipc_get_u32(m);
		j->r[i].orcpt = xstrdup(ipc_get_str(m));
	}
}

static void
job_free(struct djob *j)
{
	for (size_t i = 0; j->r != NULL && i < j->n; i++) {
		free(j->r[i].addr);
		free(j->r[i].orig);
		free(j->r[i].orcpt);
	}
	if (j->fd != -1)
		close(j->fd);
	free(j->r);
	free(j->sender);
	free(j->envid);
	free(j->prepend);
	free(j);
}

/* is_remote_job - every recipient remote: the SMTP client's. */
static bool
is_remote_job(const struct djob *j)
{
	for (size_t i = 0; i < j->n; i++)
		if (j->r[i].kind != RCPT_REMOTE)
			return false;
	return true;
}

static void
deliver_request(struct ipc_msg *m)
{
	struct djob	*j = xcalloc(1, sizeof(*j));
	const char	*id = ipc_get_str(m);

	j->reqid = m->id;
	str_copy(j->id, id, sizeof(j->id));
	j->sender = xstrdup(ipc_get_str(m));
	j->arrival = ipc_get_u64(m);
	j->recovered = ipc_get_u32(m) != 0;
	j->n = ipc_get_u32(m);
	j->fd = m->fd;
	if (!m->bad && j->n > 0 && j->n <= 100000)
		j->r = xcalloc(j->n, sizeof(*j->r));
	for (size_t i = 0; j->r != NULL && i < j->n && !m->bad; i++) {
		j->r[i].index = ipc_get_u32(m);
		j->r[i].kind = (int)ipc_get_u32(m);
		j->r[i].addr = xstrdup(ipc_get_str(m));
		j->r[i].orig = xstrdup(ipc_get_str(m));
	}
	get_dsn_fields(m, j);
	j->prepend = xstrdup(ipc_get_str(m));
	j->size += strlen(j->prepend);	/* SIZE= counts what goes out */
	if (!ipc_msg_ok(m) || j->r == NULL || j->fd == -1) {
		log_warn("event=ipc-error reason=\"bad delivery request\"");
		job_free(j);
		return;
	}
	if (count_received(j->fd) > config->max_received) {
		for (size_t i = 0; i < j->n; i++)
			deliver_set_result(&j->r[i], DELIVER_PERM, "5.4.6",
			    "mail loop: too many Received: header fields");
		deliver_job_done(j);
		return;
	}
	if (is_remote_job(j)) {
		remote_deliver(j);
		return;
	}
	for (size_t i = 0; i < j->n; i++)
		prepare_rcpt(&j->r[i]);
	worker_push(writer, &j->item);
}

static const char *
status_word(int result)
{
	return result == DELIVER_OK ? "sent" : result == DELIVER_PERM ?
	    "bounced" : "deferred";
}

static void
job_done(struct worker_item *wi)
{
	deliver_job_done((struct djob *)wi);
}

/* deliver_job_done - on the loop: log each result and report to queue. */
void
deliver_job_done(struct djob *j)
{
	struct buf	 b;
	double		 delay = (double)(now_usec() - j->arrival) / 1e6;

	buf_init(&b, 0);
	ipc_put_str(&b, j->id);
	ipc_put_u32(&b, (uint32_t)j->n);
	for (size_t i = 0; i < j->n; i++) {
		struct drcpt	*r = &j->r[i];

		log_info("%s: to=<%s>%s%s%s relay=%s delay=%.2f dsn=%s "
		    "status=%s (%s)", j->id, log_safe(r->addr),
		    strcmp(r->addr, r->orig) ? " orig_to=<" : "",
		    strcmp(r->addr, r->orig) ? log_safe(r->orig) : "",
		    strcmp(r->addr, r->orig) ? ">" : "",
		    j->relay[0] != '\0' ? log_safe(j->relay) : "local", delay,
		    r->dsn,
		    status_word(r->result), log_safe(r->text));
		ipc_put_u32(&b, r->index);
		ipc_put_u32(&b, (uint32_t)r->result);
		ipc_put_str(&b, r->dsn);
		ipc_put_str(&b, r->text);
	}
	proc_send(PROC_QUEUE, IPC_DELIVER_REPLY, j->reqid, &b, -1);
	buf_free(&b);
	job_free(j);
}

static void
deliver_init(struct event_base *base)
{
	umask(077);
	writer = worker_new(base, run_batch, job_done);
	remote_init(base);
}

static void
deliver_msg(int proc, struct ipc_msg *m)
{
	if (proc == PROC_QUEUE && m->type == IPC_DELIVER) {
		deliver_request(m);
		return;
	}
	if (m->fd != -1)
		close(m->fd);
	log_warn("event=ipc-error reason=\"unexpected %s from %s\"",
	    ipc_type_str(m->type), proc_name(proc));
}

static void
deliver_nop(int proc)
{
}

static void
deliver_reload(void)
{
	remote_reload();
	log_info("event=reloaded");
}

static void
deliver_shutdown(void)
{
	remote_shutdown();
	proc_exit();
}

const struct proc_module deliver_module = {
	.name = "deliver",
	.init = deliver_init,
	.peer_up = deliver_nop,
	.peer_down = deliver_nop,
	.msg = deliver_msg,
	.reload = deliver_reload,
	.shutdown = deliver_shutdown,
};
