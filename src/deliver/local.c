/*
 * local.c - local delivery into Maildir, a courier of the deliver process.
 * Each job's recipients get their mailbox path on the loop; the worker
 * thread then writes each copy to tmp/, syncs once for the whole batch
 * (every job that arrived meanwhile), renames into new/, syncs the new/
 * directories, and only then are the results reported (deliver_job_done).
 * A job loaded after a crash first looks for a copy it already made.
 * What a crash left in tmp/ is removed after 36 hours, as Maildir
 * readers expect, by a second worker thread (at start, then every few
 * hours), so that the scan never holds up a delivery.
 *
 * Runs in the deliver process, unprivileged, as the one mail user who
 * owns all mailboxes.  Trust: the request is queue's; each mailbox path is
 * built from the checked address and the admin's template, and refused if
 * a part could leave the mail root (maildir_path).
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/conf.h"
#include "deliver/deliver_job.h"
#include "deliver/local.h"
#include "deliver/maildir.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lib/worker.h"
#include "mail/addr.h"
#include "mail/envelope.h"
#include "mail/spam_header.h"

#define MAX_SYNC_DIRS	64
#define MDIR_CACHE	64	/* mailboxes whose tmp/ and new/ stay open */
#define MDIR_PROBE	8	/* slots looked at per lookup */
#define MDIR_TTL	30	/* seconds an open directory is used before
				 * its path is opened again (a mailbox moved
				 * away is then followed) */
#define SWEEP_AGE	(36 * 3600)	/* maildir(5): tmp/ files unused this
					 * long are left over: delete them */
#define SWEEP_EVERY	(6 * 3600)	/* seconds between sweeps */

/* Where one recipient's copy goes; only the worker touches it while the
 * job is in a batch. */
struct lrcpt {
	char	 dir[PATH_MAX];		/* "" = no copy to write */
	char	 name[MAILDIR_NAME_MAX];
	off_t	 size;
	bool	 written;		/* in tmp/ or new/, not given up */
};

struct ljob {
	struct worker_item	 item;	/* first: the worker links batches */
	struct deliver_job	*j;
	struct lrcpt		*lr;	/* j->n of them */
	/* the config's junk_header and junk_folder when the job came (a
	 * reload may replace the config while the worker runs); "" = off */
	char			 junk_name[80];
	char			 junk_value[80];
	char			 junk_folder[104];
	bool			 junk;		/* it goes to the folder */
};

/* A mailbox seen lately: its tmp/ and new/ directories stay open, so
 * that a copy costs no path lookups (openat, renameat and fsync work on
 * these descriptors).  Worker thread only. */
struct mdir {
	char	*dir;			/* NULL: a free slot */
	int	 tmp, new;
	dev_t	 dev;			/* for one syncfs per file system */
	time_t	 opened;
};

/* One sweep of the tmp/ folders; its template is a copy, as a reload may
 * replace the config while the sweeper runs. */
struct lsweep {
	struct worker_item	 item;
	char			*tmpl;
	time_t			 cutoff;
	unsigned		 removed;
};

static void	 local_init(struct event_base *);
static void	 local_deliver(struct deliver_job *);
static struct ljob *next_job(const struct ljob *);
static struct mdir *mdir_get(const char *);
static struct mdir *mdir_find(const char *);
static void	 mdir_forget(const char *);
static void	 mdir_drop(struct mdir *);
static int	 mdir_open(struct mdir *, const char *);
static void	 set_errno_result(struct deliver_rcpt *, const char *, int);
static void	 write_copy(struct ljob *, size_t);
static int	 sync_filesystems(struct ljob *);
static bool	 is_synced_before(struct ljob *, const struct ljob *, size_t);
static void	 sync_new_dirs(struct ljob *);
static void	 commit_batch(struct ljob *);
static void	 run_batch(struct worker_item *);
static void	 batch_done(struct worker_item *);
static void	 prepare_rcpt(struct deliver_rcpt *, struct lrcpt *);
static void	 sweep_start(evutil_socket_t, short, void *);
static void	 sweep_run(struct worker_item *);
static void	 sweep_done(struct worker_item *);

const struct deliver_courier local_courier = {
	.name = "local",
	.init = local_init,
	.deliver = local_deliver,
};

static struct worker	*writer;
static struct worker	*sweeper;	/* tmp/ sweeps, off the writer */
static struct event	*sweep_ev;
static bool		 sweeping;	/* a sweep is on the thread */
static struct mdir	 mdirs[MDIR_CACHE];	/* worker thread only */

static struct ljob *
next_job(const struct ljob *l)
{
	return (struct ljob *)l->item.next;
}

/* mdir_drop - close a slot's directories and free it. */
static void
mdir_drop(struct mdir *m)
{
	if (m->dir == NULL)
		return;
	close(m->tmp);
	close(m->new);
	free(m->dir);
	m->dir = NULL;
}

/* mdir_open - open dir's tmp/ and new/ into m, making the Maildir (and
 * its parents) when it is missing.  0, or -1 with errno. */
static int
mdir_open(struct mdir *m, const char *dir)
{
	char		 path[PATH_MAX + 8];
	struct stat	 st;
	const int	 fl = O_RDONLY | O_DIRECTORY | O_CLOEXEC;

	snprintf(path, sizeof(path), "%s/tmp", dir);
	if ((m->tmp = open(path, fl)) == -1 && errno == ENOENT &&
	    maildir_prepare(dir) == 0)
		m->tmp = open(path, fl);
	if (m->tmp == -1)
		return -1;
	snprintf(path, sizeof(path), "%s/new", dir);
	if ((m->new = open(path, fl)) == -1 && errno == ENOENT &&
	    maildir_prepare(dir) == 0)
		m->new = open(path, fl);
	if (m->new == -1 || fstat(m->tmp, &st) == -1) {
		int	e = errno;

		close(m->tmp);
		if (m->new != -1)
			close(m->new);
		errno = e;
		return -1;
	}
	m->dev = st.st_dev;
	m->opened = time(NULL);
	m->dir = xstrdup(dir);
	return 0;
}

/* mdir_get - the open directories of Maildir dir, from the cache (open
 * addressing over a few slots; a miss takes a free slot or the home one)
 * or opened now.  The pointer is good until the next mdir_get.  NULL with
 * errno when the Maildir can neither be opened nor made. */
static struct mdir *
mdir_get(const char *dir)
{
	uint32_t	 h = str_hash(dir);
	struct mdir	*m, *victim = NULL;

	for (size_t n = 0; n < MDIR_PROBE; n++) {
		m = &mdirs[(h + n) % MDIR_CACHE];
		if (m->dir != NULL && strcmp(m->dir, dir) == 0) {
			if (time(NULL) - m->opened <= MDIR_TTL)
				return m;
			victim = m;
			break;
		}
		if (m->dir == NULL && victim == NULL)
			victim = m;
	}
	if (victim == NULL)
		victim = &mdirs[h % MDIR_CACHE];
	mdir_drop(victim);
	return mdir_open(victim, dir) == 0 ? victim : NULL;
}

/* mdir_find - dir's slot when its directories are open, else NULL. */
static struct mdir *
mdir_find(const char *dir)
{
	uint32_t	h = str_hash(dir);

	for (size_t n = 0; n < MDIR_PROBE; n++) {
		struct mdir	*m = &mdirs[(h + n) % MDIR_CACHE];

		if (m->dir != NULL && strcmp(m->dir, dir) == 0)
			return m;
	}
	return NULL;
}

/* mdir_forget - dir's directories are stale (the Maildir was removed):
 * the next mdir_get opens, or makes, them again. */
static void
mdir_forget(const char *dir)
{
	struct mdir	*m = mdir_find(dir);

	if (m != NULL)
		mdir_drop(m);
}

static void
set_errno_result(struct deliver_rcpt *r, const char *what, int e)
{
	char	text[200];

	snprintf(text, sizeof(text), "%s: %s", what, strerror(e));
	if (e == EDQUOT)
		deliver_job_set_result(r, DELIVER_TEMP, "4.2.2", text);
	else if (e == ENOSPC)
		deliver_job_set_result(r, DELIVER_TEMP, "4.3.1", text);
	else if (e == ENOTDIR)	/* a file where the Maildir must be: no
				 * retry mends that, the sender is told */
		deliver_job_set_result(r, DELIVER_PERM, "5.2.0", text);
	else
		deliver_job_set_result(r, DELIVER_TEMP, "4.2.0", text);
}

/* write_copy - recipient i's copy into DIR/tmp (no sync yet). */
static void
write_copy(struct ljob *l, size_t i)
{
	struct deliver_job	*j = l->j;
	struct deliver_rcpt	*r = &j->r[i];
	struct lrcpt		*lr = &l->lr[i];
	struct mdir		*md;
	char			*prefix, tag[QUEUE_ID_LEN + 16];
	int			 fd;
	ssize_t			 n;

	if ((md = mdir_get(lr->dir)) == NULL) {
		set_errno_result(r, "cannot create maildir", errno);
		return;
	}
	snprintf(tag, sizeof(tag), "%s_%u", j->id, r->index);
	if (j->recovered && maildir_has_tag(lr->dir, tag)) {
		/* Delivered before the crash; the queue did not hear it. */
		deliver_job_set_result(r, DELIVER_OK, "2.0.0", "delivered to "
		    "maildir before a restart");
		return;
	}
	fd = maildir_create_at(md->tmp, tag, lr->name, sizeof(lr->name));
	if (fd == -1 && errno == ENOENT) {	/* removed since it was open */
		mdir_forget(lr->dir);
		if ((md = mdir_get(lr->dir)) != NULL)
			fd = maildir_create_at(md->tmp, tag, lr->name,
			    sizeof(lr->name));
	}
	if (fd == -1) {
		set_errno_result(r, "cannot create file", errno);
		return;
	}
	xasprintf(&prefix, "Return-Path: <%s>\r\nDelivered-To: %s\r\n%s",
	    j->sender, r->addr, j->prepend);
	if (j->data != NULL)
		n = maildir_write(fd, prefix, j->data, j->datalen);
	else
		n = maildir_copy(fd, j->fd, prefix);
	free(prefix);
	if (n == -1) {
		int e = errno;

		close(fd);
		maildir_abort_at(md->tmp, lr->name);
		set_errno_result(r, "write error", e);
		return;
	}
	if (close(fd) == -1) {
		set_errno_result(r, "write error", errno);
		maildir_abort_at(md->tmp, lr->name);
		return;
	}
	lr->size = n;
	lr->written = true;
}

/* sync_filesystems - one syncfs per file system that got new files. */
static int
sync_filesystems(struct ljob *b)
{
	dev_t	 devs[MAX_SYNC_DIRS];
	size_t	 ndevs = 0;
	int	 rc = 0;

	for (struct ljob *l = b; l != NULL; l = next_job(l))
		for (size_t i = 0; i < l->j->n; i++) {
			struct mdir	*md;
			size_t		 k;

			if (!l->lr[i].written ||
			    (md = mdir_get(l->lr[i].dir)) == NULL)
				continue;
			for (k = 0; k < ndevs && devs[k] != md->dev; k++)
				;
			if (k < ndevs || ndevs == MAX_SYNC_DIRS)
				continue;
			devs[ndevs++] = md->dev;
			if (syncfs(md->tmp) == -1)
				rc = -1;
		}
	return rc;
}

/* is_synced_before - a copy into the same directory as l's recipient i
 * comes earlier in the batch b: its new/ is synced already.  Only what
 * comes earlier counts: were a later copy counted too, two jobs of one
 * batch for the same mailbox would each leave the sync to the other. */
static bool
is_synced_before(struct ljob *b, const struct ljob *l, size_t i)
{
	for (struct ljob *k = b; k != NULL; k = next_job(k))
		for (size_t x = 0; x < k->j->n; x++) {
			if (k == l && x == i)
				return false;
			if (k->lr[x].written &&
			    strcmp(k->lr[x].dir, l->lr[i].dir) == 0)
				return true;
		}
	return false;
}

/* sync_new_dirs - fsync each distinct DIR/new once. */
static void
sync_new_dirs(struct ljob *b)
{
	for (struct ljob *l = b; l != NULL; l = next_job(l))
		for (size_t i = 0; i < l->j->n; i++) {
			struct mdir	*md;

			if (!l->lr[i].written || is_synced_before(b, l, i))
				continue;
			if ((md = mdir_get(l->lr[i].dir)) == NULL ||
			    fsync(md->new) == -1)
				set_errno_result(&l->j->r[i], "fsync", errno);
		}
}

/* commit_batch - rename each synced copy into new/. */
static void
commit_batch(struct ljob *b)
{
	for (struct ljob *l = b; l != NULL; l = next_job(l))
		for (size_t i = 0; i < l->j->n; i++) {
			struct lrcpt	*lr = &l->lr[i];
			struct mdir	*md;

			if (!lr->written)
				continue;
			if ((md = mdir_get(lr->dir)) == NULL) {
				set_errno_result(&l->j->r[i], "rename", errno);
				maildir_abort(lr->dir, lr->name);
				lr->written = false;
			} else if (maildir_commit_at(md->tmp, md->new,
			    lr->name, lr->size) == -1) {
				set_errno_result(&l->j->r[i], "rename", errno);
				maildir_abort_at(md->tmp, lr->name);
				lr->written = false;
			}
		}
}

/* is_junk - a filter marked the message spam (junk_header), in the
 * fields smtpd put first or in the message's own header. */
static bool
is_junk(const struct ljob *l)
{
	char	*head;
	ssize_t	 n;
	bool	 yes;

	if (l->junk_name[0] == '\0' || l->junk_folder[0] == '\0')
		return false;
	if (l->j->prepend != NULL && spam_header_match(l->j->prepend,
	    strlen(l->j->prepend), l->junk_name, l->junk_value))
		return true;
	if (l->j->data != NULL)
		return spam_header_match(l->j->data, MIN(l->j->datalen,
		    (size_t)SPAM_HEADER_SCAN), l->junk_name, l->junk_value);
	head = xmalloc(SPAM_HEADER_SCAN);
	n = pread(l->j->fd, head, SPAM_HEADER_SCAN, 0);
	yes = n > 0 && spam_header_match(head, (size_t)n, l->junk_name,
	    l->junk_value);
	free(head);
	return yes;
}

/*
 * junk_dir - recipient i's copy goes to the Maildir++ folder
 * DIR/.FOLDER (what Dovecot's Maildir layout calls "FOLDER"), made with
 * its tmp, new, cur and the maildirfolder file the first time.  The
 * mailbox itself is made first, so that it gets its own tmp, new, cur.
 */
static void
junk_dir(struct ljob *l, size_t i)
{
	struct lrcpt	*lr = &l->lr[i];
	char		 path[PATH_MAX];
	int		 fd;

	if (mdir_get(lr->dir) == NULL ||
	    (size_t)snprintf(path, sizeof(path), "%s/.%s", lr->dir,
	    l->junk_folder) >= sizeof(lr->dir) - 16)
		return;			/* write_copy says why */
	if (mdir_find(path) == NULL) {
		char	mf[PATH_MAX + 16];

		if (mdir_get(path) == NULL)
			return;
		snprintf(mf, sizeof(mf), "%s/maildirfolder", path);
		if ((fd = open(mf, O_WRONLY | O_CREAT | O_NOFOLLOW |
		    O_CLOEXEC, 0600)) != -1)
			close(fd);
	}
	str_copy(lr->dir, path, sizeof(lr->dir));
}

/* run_batch - on the worker thread: write, sync, rename, sync. */
static void
run_batch(struct worker_item *wi)
{
	struct ljob	*b = (struct ljob *)wi;

	for (struct ljob *l = b; l != NULL; l = next_job(l))
		if ((l->junk = is_junk(l)))
			for (size_t i = 0; i < l->j->n; i++)
				if (l->j->r[i].result == DELIVER_OK &&
				    l->lr[i].dir[0])
					junk_dir(l, i);
	for (struct ljob *l = b; l != NULL; l = next_job(l))
		for (size_t i = 0; i < l->j->n; i++)
			if (l->j->r[i].result == DELIVER_OK && l->lr[i].dir[0])
				write_copy(l, i);
	if (sync_filesystems(b) == -1)
		for (struct ljob *l = b; l != NULL; l = next_job(l))
			for (size_t i = 0; i < l->j->n; i++)
				if (l->lr[i].written) {
					set_errno_result(&l->j->r[i], "syncfs",
					    errno);
					maildir_abort(l->lr[i].dir,
					    l->lr[i].name);
					l->lr[i].written = false;
				}
	commit_batch(b);
	sync_new_dirs(b);
}

/* batch_done - on the loop, once per job of a finished batch. */
static void
batch_done(struct worker_item *wi)
{
	struct ljob		*l = (struct ljob *)wi;
	struct deliver_job	*j = l->j;

	if (l->junk) {
		char	 text[160];

		snprintf(text, sizeof(text), "delivered to maildir folder %s",
		    l->junk_folder);
		for (size_t i = 0; i < j->n; i++)
			if (j->r[i].result == DELIVER_OK &&
			    l->lr[i].dir[0] != '\0')
				deliver_job_set_result(&j->r[i], DELIVER_OK,
				    "2.0.0", text);
	}
	free(l->lr);
	free(l);
	deliver_job_done(j);
}

/* prepare_rcpt - on the loop: where a local copy goes, or why not. */
static void
prepare_rcpt(struct deliver_rcpt *r, struct lrcpt *lr)
{
	struct mailaddr	a;

	deliver_job_set_result(r, DELIVER_OK, "2.0.0", "delivered to maildir");
	if (r->kind != RCPT_LOCAL) {	/* mixed into a local request */
		deliver_job_set_result(r, DELIVER_TEMP, "4.3.5",
		    "remote recipient in a local delivery request");
		return;
	}
	if (addr_parse(r->addr, ADDR_F_UTF8, &a) != ADDR_OK ||
	    maildir_path(conf_state_relative(config, config->mailbox),
	    str_lower(a.local), a.domain, lr->dir, sizeof(lr->dir)) == -1) {
		lr->dir[0] = '\0';
		deliver_job_set_result(r, DELIVER_PERM, "5.1.3",
		    "address has no valid mailbox path");
	}
}

static void
local_init(struct event_base *base)
{
	struct timeval	tv = { SWEEP_EVERY, 0 };

	writer = worker_new(base, run_batch, batch_done);
	sweeper = worker_new(base, sweep_run, sweep_done);
	if ((sweep_ev = event_new(base, -1, EV_PERSIST, sweep_start,
	    NULL)) == NULL || event_add(sweep_ev, &tv) == -1)
		fatalx("deliver: cannot set the sweep timer");
	sweep_start(-1, 0, NULL);
}

/* sweep_start - on the loop: a sweep of the tmp/ folders on the sweeper
 * thread, unless the last one is still running. */
static void
sweep_start(evutil_socket_t fd, short ev, void *arg)
{
	struct lsweep	*w;

	if (sweeping)
		return;
	w = xcalloc(1, sizeof(*w));
	w->tmpl = xstrdup(conf_state_relative(config, config->mailbox));
	w->cutoff = time(NULL) - SWEEP_AGE;
	sweeping = true;
	worker_push(sweeper, &w->item);
}

/* sweep_run - on the sweeper thread. */
static void
sweep_run(struct worker_item *wi)
{
	for (; wi != NULL; wi = wi->next) {
		struct lsweep	*w = (struct lsweep *)wi;

		w->removed = maildir_sweep(w->tmpl, w->cutoff);
	}
}

/* sweep_done - on the loop: say what went, if anything. */
static void
sweep_done(struct worker_item *wi)
{
	struct lsweep	*w = (struct lsweep *)wi;

	if (w->removed > 0)
		log_info("event=maildir-tmp-removed files=%u age=36h",
		    w->removed);
	sweeping = false;
	free(w->tmpl);
	free(w);
}

/* local_deliver - the courier's deliver: paths now, copies on the worker
 * thread.  Takes j. */
static void
local_deliver(struct deliver_job *j)
{
	struct ljob	*l = xcalloc(1, sizeof(*l));

	l->j = j;
	l->lr = xcalloc(j->n, sizeof(*l->lr));
	if (config->junk_header != NULL && config->junk_folder != NULL) {
		str_copy(l->junk_name, config->junk_header,
		    sizeof(l->junk_name));
		str_copy(l->junk_value, config->junk_value,
		    sizeof(l->junk_value));
		str_copy(l->junk_folder, config->junk_folder,
		    sizeof(l->junk_folder));
	}
	for (size_t i = 0; i < j->n; i++)
		prepare_rcpt(&j->r[i], &l->lr[i]);
	worker_push(writer, &l->item);
}
