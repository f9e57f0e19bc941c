/*
 * queue_spool.c - the spool on disk, written only by the queue process.
 *
 * state_dir/spool/data/ID   message content, written by smtpd through the
 *                           descriptor queue hands it
 * state_dir/spool/tmp/ID    an envelope being committed
 * state_dir/spool/queue/ID  committed envelopes: the commit point is the
 *                           rename from tmp/ into queue/
 * state_dir/spool/hold/ID   envelopes put on hold by the admin
 * state_dir/spool/corrupt/  unreadable files, moved aside, never deleted
 *
 * Commits are batched on one worker thread: write every envelope of the
 * batch to tmp/, syncfs() once (data and envelopes of the whole batch reach
 * the disk), rename each into queue/, fsync(queue/) once; only then are the
 * 250 replies sent.  docs/queue-format.md explains the crash guarantees.
 * Trust: ids are generated here and checked before use in any path.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "queue.h"
#include "util.h"
#include "worker.h"

enum { D_DATA, D_TMP, D_QUEUE, D_HOLD, D_CORRUPT, D_MAX };
static const char *dirnames[D_MAX] = { "data", "tmp", "queue", "hold",
	"corrupt" };

static int		 dfd[D_MAX];
static spool_done_cb	 done_cb;
static uint64_t		 last_id;

static struct worker	*commits;

static bool
id_ok(const char *id)
{
	if (strlen(id) != QUEUE_ID_LEN)
		return false;
	for (const char *p = id; *p != '\0'; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'A' && *p <= 'F')))
			return false;
	return true;
}

static int
write_env(struct spool_commit *c)
{
	int	 fd = openat(dfd[D_TMP], c->id, O_WRONLY | O_CREAT | O_EXCL |
	    O_NOFOLLOW | O_CLOEXEC, 0600);
	size_t	 off = 0;

	if (fd == -1)
		return errno;
	while (off < c->env.len) {
		ssize_t w = write(fd, c->env.data + off, c->env.len - off);

		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0) {
			int e = w == 0 ? EIO : errno;

			close(fd);
			unlinkat(dfd[D_TMP], c->id, 0);
			return e;
		}
		off += (size_t)w;
	}
	return close(fd) == -1 ? errno : 0;
}

/* run_batch - the durable part of a commit, for a whole batch. */
static void
run_batch(struct worker_item *wi)
{
	struct spool_commit	*b = (struct spool_commit *)wi;
	int			 err = 0;

	for (struct spool_commit *c = b; c != NULL;
	    c = (struct spool_commit *)c->item.next)
		c->error = write_env(c);
	if (syncfs(dfd[D_QUEUE]) == -1)
		err = errno;
	for (struct spool_commit *c = b; c != NULL;
	    c = (struct spool_commit *)c->item.next) {
		if (c->error == 0 && err != 0)
			c->error = err;
		if (c->error == 0 && renameat(dfd[D_TMP], c->id, dfd[D_QUEUE],
		    c->id) == -1)
			c->error = errno;
		if (c->error != 0)
			unlinkat(dfd[D_TMP], c->id, 0);
	}
	if (fsync(dfd[D_QUEUE]) == -1) {
		err = errno;
		/* The renames may not be durable: report failure.  The files
		 * stay; a restart would deliver them (a duplicate, not a
		 * loss). */
		for (struct spool_commit *c = b; c != NULL;
	    c = (struct spool_commit *)c->item.next)
			if (c->error == 0)
				c->error = err;
	}
}

static void
commit_done(struct worker_item *wi)
{
	done_cb((struct spool_commit *)wi);
}

/* spool_init - open the directories and start the commit worker. */
void
spool_init(struct event_base *base, const char *state_dir, spool_done_cb cb)
{
	char		*path;

	done_cb = cb;
	for (int i = 0; i < D_MAX; i++) {
		xasprintf(&path, "%s/spool/%s", state_dir, dirnames[i]);
		dfd[i] = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC);
		if (dfd[i] == -1)
			fatal("cannot open spool directory %s", path);
		free(path);
	}
	commits = worker_new(base, run_batch, commit_done);
}

/* spool_create - a new id and its data file, exclusive and private. */
int
spool_create(char id[QUEUE_ID_LEN + 1])
{
	for (int tries = 0; tries < 100; tries++) {
		uint64_t	v = now_usec() << 8;
		int		fd;

		if (v <= last_id)
			v = last_id + 1;
		last_id = v;
		snprintf(id, QUEUE_ID_LEN + 1, "%016llX", (unsigned long long)v);
		fd = openat(dfd[D_DATA], id, O_WRONLY | O_CREAT | O_EXCL |
		    O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd != -1 || errno != EEXIST)
			return fd;
	}
	errno = EEXIST;
	return -1;
}

void
spool_commit(struct spool_commit *c)
{
	worker_push(commits, &c->item);
}

void
spool_discard(const char *id, bool held)
{
	if (!id_ok(id))
		return;
	unlinkat(dfd[held ? D_HOLD : D_QUEUE], id, 0);
	unlinkat(dfd[D_DATA], id, 0);
}

int
spool_open_data(const char *id)
{
	if (!id_ok(id)) {
		errno = EINVAL;
		return -1;
	}
	return openat(dfd[D_DATA], id, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
}

int
spool_append(const char *id, bool held, const struct buf *b)
{
	int	 fd, rc = 0;

	if (!id_ok(id))
		return -1;
	fd = openat(dfd[held ? D_HOLD : D_QUEUE], id, O_WRONLY | O_APPEND |
	    O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1)
		return -1;
	if (write(fd, b->data, b->len) != (ssize_t)b->len)
		rc = -1;
	close(fd);
	return rc;
}

int
spool_hold(const char *id)
{
	if (!id_ok(id))
		return -1;
	return renameat(dfd[D_QUEUE], id, dfd[D_HOLD], id);
}

int
spool_release(const char *id)
{
	if (!id_ok(id))
		return -1;
	return renameat(dfd[D_HOLD], id, dfd[D_QUEUE], id);
}

void
spool_corrupt(const char *dir, const char *id)
{
	int	from = strcmp(dir, "hold") == 0 ? D_HOLD : D_QUEUE;
	char	name[QUEUE_ID_LEN + 8];

	if (!id_ok(id))
		return;
	renameat(dfd[from], id, dfd[D_CORRUPT], id);
	snprintf(name, sizeof(name), "%s.data", id);
	renameat(dfd[D_DATA], id, dfd[D_CORRUPT], name);
	log_warn("%s: event=corrupt dir=%s action=\"moved to corrupt/\"", id,
	    dir);
}

static int
read_at(int d, const char *name, struct buf *b)
{
	int	 fd = openat(d, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	char	 tmp[65536];
	ssize_t	 r;

	buf_reset(b);
	if (fd == -1)
		return -1;
	while ((r = read(fd, tmp, sizeof(tmp))) > 0)
		if (buf_append(b, tmp, (size_t)r) == -1)
			break;
	close(fd);
	return r == 0 ? 0 : -1;
}

static void
scan_dir(int which, int (*load)(const char *, bool, const char *, size_t))
{
	DIR		*d = fdopendir(dup(dfd[which]));
	struct dirent	*de;
	struct buf	 b;
	struct stat	 st;

	if (d == NULL)
		fatal("cannot read spool/%s", dirnames[which]);
	buf_init(&b, 0);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (!id_ok(de->d_name)) {
			log_warn("event=spool-junk file=spool/%s/%s",
			    dirnames[which], log_safe(de->d_name));
			continue;
		}
		if (fstatat(dfd[D_DATA], de->d_name, &st, AT_SYMLINK_NOFOLLOW)
		    == -1 || read_at(dfd[which], de->d_name, &b) == -1 ||
		    load(de->d_name, which == D_HOLD, buf_cstr(&b), b.len) == -1)
			spool_corrupt(dirnames[which], de->d_name);
	}
	buf_free(&b);
	closedir(d);
}

static void
sweep(int which, bool only_orphans)
{
	DIR		*d = fdopendir(dup(dfd[which]));
	struct dirent	*de;
	struct stat	 st;

	if (d == NULL)
		fatal("cannot read spool/%s", dirnames[which]);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || !id_ok(de->d_name))
			continue;
		if (only_orphans && (fstatat(dfd[D_QUEUE], de->d_name, &st,
		    AT_SYMLINK_NOFOLLOW) == 0 || fstatat(dfd[D_HOLD],
		    de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0))
			continue;
		unlinkat(dfd[which], de->d_name, 0);
		log_info("%s: event=stale-removed file=spool/%s", de->d_name,
		    dirnames[which]);
	}
	closedir(d);
}

/* spool_scan - crash recovery at start; see queue.h. */
void
spool_scan(int (*load)(const char *, bool, const char *, size_t))
{
	sweep(D_TMP, false);
	scan_dir(D_QUEUE, load);
	scan_dir(D_HOLD, load);
	sweep(D_DATA, true);
}
