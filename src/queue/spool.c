/*
 * spool.c - the spool on disk, written only by the queue process.
 *
 * state_dir/spool/journal   the write-ahead journal (journal.c)
 * state_dir/spool/data/ID   message content, written by smtpd through the
 *                           descriptor queue hands it
 * state_dir/spool/queue/ID  envelopes of messages waiting for delivery
 * state_dir/spool/hold/ID   envelopes put on hold by the admin
 * state_dir/spool/corrupt/  unreadable files, moved aside, never deleted
 * state_dir/spool/free/     spare files: a removed message's files are
 *                           renamed here and reused, because creating and
 *                           deleting inodes is what file systems do slowest
 *
 * Commits and removals run in batches on one worker thread.  A commit is
 * durable once its journal record (envelope, and the data when small) is:
 * one fdatasync() of the journal covers the whole batch, and only then are
 * the 250 replies sent.  The envelope file is written only when it is
 * needed: for a status record, a hold, or at the next checkpoint, which
 * writes every envelope still unwritten, makes the spool files durable
 * (syncfs) and only then lets the journal start over.  A message delivered
 * before that never has one.
 * Each commit carries its requester's completion (spool.h), called once
 * its batch is done, before the message is handed to the scheduler.
 * The content of a small message read back for the journal stays in
 * memory for a while (spool_cached), so that its first delivery needs no
 * file.  Recovery replays the journal, then reads the spool directories, and
 * remembers which ids were committed: the answers to the last commits may
 * have died with the process that made them.
 * docs/queue-format.md explains the crash guarantees.  Trust: ids are
 * generated here and checked before use in any path; the journal and the
 * envelopes are decoded as strictly as network input.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "lib/ipc_proto.h"
#include "lib/log.h"
#include "queue/journal.h"
#include "queue/spool.h"
#include "lib/util.h"
#include "lib/worker.h"

enum { D_DATA, D_QUEUE, D_HOLD, D_CORRUPT, D_FREE, D_MAX };
static const char *dirnames[D_MAX] = { "data", "queue", "hold", "corrupt",
	"free" };

#define FREE_MAX	4096	/* spare files kept for reuse */

#define POOL_MAX	64	/* data files made ahead by the worker */

/* Contents kept for spool_cached: each at most what an IPC_DELIVER may
 * carry, all together at most CACHE_BYTES, oldest out first. */
#define CACHE_SLOTS	256
#define CACHE_BYTES	(8u * 1024 * 1024)

/* An envelope journaled but not written to queue/ yet. */
struct unwritten {
	struct unwritten	*next;
	char			 id[QUEUE_ID_LEN + 1];
	struct buf		 env;
};
#define UNWRITTEN_BUCKETS	1024

struct cached {
	char	 id[QUEUE_ID_LEN + 1];
	char	*p;			/* NULL: a free slot */
	size_t	 len;
};

struct pooled {
	char	id[QUEUE_ID_LEN + 1];
	int	fd;
};

static int		 dfd[D_MAX];
static spool_accept_cb	 accept_cb;
static uint64_t		 last_id;
static pthread_mutex_t	 pool_mtx = PTHREAD_MUTEX_INITIALIZER;
static struct pooled	 pool[POOL_MAX];
static size_t		 npool;

static struct worker	*commits;
static struct journal	*journal;		/* worker thread only */
static uint64_t		*spare;			/* worker: names in free/ */
static size_t		 nspare;
static uint64_t		 spare_seq;
static int		 root_fd;		/* state_dir/spool */
static uint64_t		*committed;		/* recovery: sorted ids */
static size_t		 ncommitted, capcommitted;
/* Unwritten envelopes: added and dropped by the worker, written by the
 * worker (checkpoint) or the loop (spool_append, spool_hold), all under
 * the mutex, which a checkpoint holds until the journal is reset. */
static pthread_mutex_t	 unwritten_mtx = PTHREAD_MUTEX_INITIALIZER;
static struct unwritten	*unwritten[UNWRITTEN_BUCKETS];
static struct cached	 cache[CACHE_SLOTS];	/* loop only */
static size_t		 cache_next, cache_bytes;

static void	 committed_add(const char *);
static int	 cmp_u64(const void *, const void *);

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

/* take_file - dir/name as a new, empty file, made from a spare one when
 * there is one (worker only; *reused tells which): O_TRUNC empties it in
 * the open itself, so that an old tail can never follow new bytes.
 * Returns a read-write fd, or -1 with errno. */
static int
take_file(int dir, const char *name, bool *reused)
{
	char	from[24];

	*reused = nspare > 0;
	while (nspare > 0) {
		snprintf(from, sizeof(from), "F%016llX",
		    (unsigned long long)spare[--nspare]);
		if (renameat2(dfd[D_FREE], from, dir, name, RENAME_NOREPLACE)
		    == 0)
			return openat(dir, name, O_RDWR | O_TRUNC |
			    O_NOFOLLOW | O_CLOEXEC);
		if (errno == EEXIST)
			return -1;
	}
	return openat(dir, name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
}

/* release_file - keep dir/name as a spare, or delete it (worker only). */
static void
release_file(int dir, const char *name)
{
	char	to[24];

	if (nspare < FREE_MAX) {
		snprintf(to, sizeof(to), "F%016llX",
		    (unsigned long long)++spare_seq);
		if (renameat(dir, name, dfd[D_FREE], to) == 0) {
			spare[nspare++] = spare_seq;
			return;
		}
	}
	unlinkat(dir, name, 0);
}

/* write_all_fd - write len bytes into an empty file.  0 or errno. */
static int
write_all_fd(int fd, const void *p, size_t len)
{
	size_t	off = 0;

	while (off < len) {
		ssize_t w = pwrite(fd, (const char *)p + off, len - off,
		    (off_t)off);

		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0)
			return w == 0 ? EIO : errno;
		off += (size_t)w;
	}
	return 0;
}

/* write_env - an envelope file, in a reused file (emptied by take_file;
 * worker only). */
static int
write_env(const char *id, const struct buf *env)
{
	bool	reused;
	int	fd = take_file(dfd[D_QUEUE], id, &reused), e;

	if (fd == -1)
		return errno;
	e = write_all_fd(fd, env->data, env->len);
	if (close(fd) == -1 && e == 0)
		e = errno;
	if (e != 0)
		unlinkat(dfd[D_QUEUE], id, 0);
	return e;
}

/* write_file - a whole file at dir/name (no sync); 0 or errno. */
static int
write_file(int dir, const char *name, const void *p, size_t len, int flags)
{
	int	 fd = openat(dir, name, O_WRONLY | O_CREAT | O_NOFOLLOW |
	    O_CLOEXEC | flags, 0600), e;

	if (fd == -1)
		return errno;
	e = write_all_fd(fd, p, len);
	if (close(fd) == -1 && e == 0)
		e = errno;
	if (e != 0)
		unlinkat(dir, name, 0);
	return e;
}

static int	 make_data_file(char [QUEUE_ID_LEN + 1], bool);

/* refill_pool - on the worker: create data files ahead of need, so that
 * handing one to smtpd costs the queue loop no file creation. */
static void
refill_pool(void)
{
	for (;;) {
		struct pooled	p;

		pthread_mutex_lock(&pool_mtx);
		if (npool >= POOL_MAX) {
			pthread_mutex_unlock(&pool_mtx);
			return;
		}
		pthread_mutex_unlock(&pool_mtx);
		if ((p.fd = make_data_file(p.id, true)) == -1)
			return;
		pthread_mutex_lock(&pool_mtx);
		pool[npool++] = p;
		pthread_mutex_unlock(&pool_mtx);
	}
}

static unsigned
unwritten_hash(const char *id)
{
	unsigned	h = 2166136261u;

	for (; *id != '\0'; id++)
		h = (h ^ (unsigned char)*id) * 16777619u;
	return h % UNWRITTEN_BUCKETS;
}

/* unwritten_put - c's envelope waits in memory (worker; takes c->env). */
static void
unwritten_put(struct spool_commit *c)
{
	struct unwritten	*u = xcalloc(1, sizeof(*u));
	unsigned		 h = unwritten_hash(c->id);

	str_copy(u->id, c->id, sizeof(u->id));
	u->env = c->env;
	buf_init(&c->env, 0);
	pthread_mutex_lock(&unwritten_mtx);
	u->next = unwritten[h];
	unwritten[h] = u;
	pthread_mutex_unlock(&unwritten_mtx);
}

/* unwritten_take - the unwritten envelope of id out of the table, or
 * NULL when its file is written (mutex held). */
static struct unwritten *
unwritten_take(const char *id)
{
	struct unwritten	**up = &unwritten[unwritten_hash(id)], *u;

	for (; (u = *up) != NULL; up = &u->next)
		if (strcmp(u->id, id) == 0) {
			*up = u->next;
			return u;
		}
	return NULL;
}

static void
unwritten_free(struct unwritten *u)
{
	buf_free(&u->env);
	free(u);
}

/* unwritten_back - put u back after its write failed (mutex held): the
 * journal still holds it, and the next checkpoint tries again. */
static void
unwritten_back(struct unwritten *u)
{
	unsigned	h = unwritten_hash(u->id);

	u->next = unwritten[h];
	unwritten[h] = u;
}

/* write_unwritten - every envelope still in memory to its file (worker,
 * mutex held); 0, or -1 with errno when one could not be written. */
static int
write_unwritten(void)
{
	for (size_t h = 0; h < UNWRITTEN_BUCKETS; h++)
		while (unwritten[h] != NULL) {
			struct unwritten	*u = unwritten[h];
			int			 e = write_env(u->id, &u->env);

			if (e != 0) {
				errno = e;
				return -1;
			}
			unwritten[h] = u->next;
			unwritten_free(u);
		}
	return 0;
}

/* materialize - write id's envelope file into dir (queue/ or hold/) if
 * it is still in memory (the loop, before it appends to the file or moves
 * it): 1 when written now, 0 when it was already, -1 with errno. */
static int
materialize(const char *id, int dir)
{
	struct unwritten	*u;
	int			 e = 0, done = 0;

	pthread_mutex_lock(&unwritten_mtx);
	if ((u = unwritten_take(id)) != NULL) {
		e = write_file(dfd[dir], id, u->env.data, u->env.len, O_TRUNC);
		if (e != 0)
			unwritten_back(u);
		else {
			unwritten_free(u);
			done = 1;
		}
	}
	pthread_mutex_unlock(&unwritten_mtx);
	if (e != 0) {
		log_warn("%s: event=envelope-write-error error=\"%s\"", id,
		    strerror(e));
		errno = e;
		return -1;
	}
	return done;
}

/* checkpoint - write the envelopes still in memory, make every spool
 * file durable, then empty the journal; the loop writes no envelope
 * meanwhile. */
static int
checkpoint(void)
{
	int	rc = 0;

	pthread_mutex_lock(&unwritten_mtx);
	if (write_unwritten() == -1 || syncfs(dfd[D_QUEUE]) == -1 ||
	    journal_reset(journal) == -1) {
		log_warn("event=checkpoint-failed error=\"%s\"",
		    strerror(errno));
		rc = -1;
	}
	pthread_mutex_unlock(&unwritten_mtx);
	return rc;
}

/* load_data - small data goes into the journal record; big data is made
 * durable in its own file now.  0 or errno. */
static int
load_data(struct spool_commit *c, struct buf *data, uint64_t *len,
    bool *inline_data)
{
	uint64_t	size = c->parsed.size;
	struct stat	st;
	ssize_t		got;

	buf_reset(data);
	*len = size;
	*inline_data = size <= JOURNAL_INLINE_MAX;
	if (*inline_data) {
		/* One read, one byte past the size: the file was handed out
		 * empty, so it is longer only when smtpd cut forged fields
		 * out (cut_ranges), and then it is cut to the size. */
		if (buf_reserve(data, (size_t)size + 1) == -1)
			return ENOMEM;
		if ((got = pread(c->data_fd, data->data, (size_t)size + 1, 0))
		    == -1)
			return errno;
		if ((uint64_t)got > size &&
		    ftruncate(c->data_fd, (off_t)size) == -1)
			return errno;
		*len = MIN((uint64_t)got, size);
		data->len = (size_t)*len;
		return 0;
	}
	if (fstat(c->data_fd, &st) == -1)
		return errno;
	if ((uint64_t)st.st_size > size &&
	    ftruncate(c->data_fd, (off_t)size) == -1)
		return errno;
	*len = MIN((uint64_t)st.st_size, size);
	return fsync(c->data_fd) == -1 || fsync(dfd[D_DATA]) == -1 ? errno : 0;
}

/* encode_op - the journal record of one batch item into rec. */
static void
encode_op(struct spool_commit *c, struct buf *rec, struct buf *data)
{
	uint64_t	len = 0;
	bool		inline_data = false;

	buf_reset(rec);
	if (c->op == SPOOL_OP_REMOVE) {
		journal_rec_remove(rec, journal_epoch(journal), c->id);
		return;
	}
	if (c->content != NULL) {	/* came with the commit: no file read */
		if (c->data_fd != -1)
			close(c->data_fd);
		c->data_fd = -1;
		journal_rec_commit(rec, journal_epoch(journal), c->id,
		    c->env.data, c->env.len, c->content, c->content_len, true);
		return;
	}
	if (c->data_fd == -1 && (c->data_fd = openat(dfd[D_DATA], c->id,
	    O_RDWR | O_NOFOLLOW | O_CLOEXEC)) == -1) {
		c->error = errno;
		return;
	}
	c->error = load_data(c, data, &len, &inline_data);
	close(c->data_fd);
	c->data_fd = -1;
	if (c->error != 0)
		return;
	journal_rec_commit(rec, journal_epoch(journal), c->id,
	    c->env.data, c->env.len, data->data, len, inline_data);
	if (inline_data && len == c->parsed.size && len > 0 &&
	    len <= IPC_DELIVER_DATA_MAX) {
		c->content = xmalloc((size_t)len);
		memcpy(c->content, data->data, (size_t)len);
		c->content_len = (size_t)len;
	}
}

/* cache_free - empty one slot of the content cache. */
static void
cache_free(struct cached *e)
{
	if (e->p == NULL)
		return;
	cache_bytes -= e->len;
	free(e->p);
	e->p = NULL;
}

/* cache_put - keep p (taken over) as the content of id, making room
 * from the oldest entry on. */
static void
cache_put(const char *id, char *p, size_t len)
{
	/* The slot to fill, then the oldest ones after it while the
	 * bytes are over. */
	for (size_t i = 0; i < CACHE_SLOTS; i++) {
		if (i > 0 && cache_bytes + len <= CACHE_BYTES)
			break;
		cache_free(&cache[(cache_next + i) % CACHE_SLOTS]);
	}
	str_copy(cache[cache_next].id, id, sizeof(cache[cache_next].id));
	cache[cache_next].p = p;
	cache[cache_next].len = len;
	cache_bytes += len;
	cache_next = (cache_next + 1) % CACHE_SLOTS;
}

/* cache_find - newest first: a message is looked up for its first
 * delivery and dropped at its removal, both soon after its commit. */
static struct cached *
cache_find(const char *id)
{
	for (size_t i = 1; i <= CACHE_SLOTS; i++) {
		struct cached	*e = &cache[(cache_next + CACHE_SLOTS - i) %
				    CACHE_SLOTS];

		if (e->p != NULL && strcmp(e->id, id) == 0)
			return e;
	}
	return NULL;
}

bool
spool_cached(const char *id, const void **p, size_t *len)
{
	struct cached	*e = cache_find(id);

	if (e == NULL)
		return false;
	*p = e->p;
	*len = e->len;
	return true;
}

/* cache_drop - forget the content of a message going away. */
static void
cache_drop(const char *id)
{
	struct cached	*e = cache_find(id);

	if (e != NULL)
		cache_free(e);
}

/* finish_chunk - write the records of [first, stop), one sync when there
 * are commits, then the spool files they describe. */
static void
finish_chunk(struct spool_commit *first, struct spool_commit *stop,
    struct buf *recs)
{
	struct spool_commit	*c;
	bool			 sync = false, refused;
	int			 err = 0;

	for (c = first; c != stop; c = (struct spool_commit *)c->item.next)
		if (c->op == SPOOL_OP_COMMIT && c->error == 0)
			sync = true;
	if (recs->len > 0 && journal_append(journal, recs, sync) == -1)
		err = errno;
	buf_reset(recs);
	for (c = first; c != stop; c = (struct spool_commit *)c->item.next) {
		if (c->op == SPOOL_OP_REMOVE) {
			struct unwritten	*u;

			pthread_mutex_lock(&unwritten_mtx);
			u = unwritten_take(c->id);
			pthread_mutex_unlock(&unwritten_mtx);
			if (u != NULL)		/* never written: no file */
				unwritten_free(u);
			else
				release_file(dfd[c->held ? D_HOLD : D_QUEUE],
				    c->id);
			release_file(dfd[D_DATA], c->id);
			continue;
		}
		if (c->error == 0)
			c->error = err;
		if (c->error == 0)
			unwritten_put(c);
		else if (err == 0)	/* journaled: take it back */
			journal_rec_remove(recs, journal_epoch(journal), c->id);
	}
	refused = recs->len > 0;
	if (refused && journal_append(journal, recs, true) == -1)
		err = errno;
	buf_reset(recs);
	if (err != 0)
		log_warn("event=journal-error error=\"%s\"", strerror(err));
	/* Records of refused commits may be on disk: a new epoch makes sure
	 * a replay never brings them back, nor shows them as commits whose
	 * answer was lost (spool_was_committed). */
	if (err != 0 || refused)
		checkpoint();
}

/* run_batch - on the worker: journal a batch of commits and removals with
 * one fdatasync, checkpointing first when the journal is full. */
static void
run_batch(struct worker_item *wi)
{
	struct spool_commit	*b = (struct spool_commit *)wi, *first = b;
	struct buf		 recs, rec, data;

	buf_init(&recs, 0);
	buf_init(&rec, 0);
	buf_init(&data, 0);
	for (struct spool_commit *c = b; c != NULL;
	    c = (struct spool_commit *)c->item.next) {
		encode_op(c, &rec, &data);
		if (c->error != 0)
			continue;
		if (recs.len + rec.len > journal_room(journal)) {
			finish_chunk(first, c, &recs);
			first = c;
			if (checkpoint() == -1 || rec.len >
			    journal_room(journal)) {
				c->error = ENOSPC;
				continue;
			}
			/* encoded in the epoch before: a replay of the new
			 * one would stop at it */
			journal_rec_set_epoch(&rec, journal_epoch(journal));
		}
		buf_append(&recs, rec.data, rec.len);
	}
	finish_chunk(first, NULL, &recs);
	buf_free(&recs);
	buf_free(&rec);
	buf_free(&data);
	refill_pool();
}

/* commit_done - on the loop, in order: a removal is over; a commit is
 * answered (its own completion), then accepted or discarded. */
static void
commit_done(struct worker_item *wi)
{
	struct spool_commit	*c = (struct spool_commit *)wi;

	if (c->op == SPOOL_OP_COMMIT) {
		if (c->error != 0)
			log_warn("%s: event=commit-failed error=\"%s\"", c->id,
			    strerror(c->error));
		if (c->done != NULL)
			c->done(c, c->done_arg);
		if (c->error != 0)
			spool_discard(c->id);
		else {
			/* an empty content would read as none in an
			 * IPC_DELIVER: the file goes then */
			if (c->content != NULL && c->content_len > 0 &&
			    c->content_len <= IPC_DELIVER_DATA_MAX) {
				cache_put(c->id, c->content, c->content_len);
				c->content = NULL;
			}
			accept_cb(c->id, &c->parsed);
		}
		envelope_free(&c->parsed);
	}
	free(c->content);
	buf_free(&c->env);
	free(c);
}

/* load_spares - list free/ before the worker starts (which owns it). */
static void
load_spares(void)
{
	DIR		*d = fdopendir(dup(dfd[D_FREE]));
	struct dirent	*de;

	if (d == NULL)
		fatal("cannot read spool/free");
	spare = xcalloc(FREE_MAX, sizeof(*spare));
	while ((de = readdir(d)) != NULL) {
		unsigned long long	 v;
		char			*end;

		if (de->d_name[0] != 'F')
			continue;
		v = strtoull(de->d_name + 1, &end, 16);
		if (*end != '\0' || nspare == FREE_MAX) {
			unlinkat(dfd[D_FREE], de->d_name, 0);
			continue;
		}
		spare[nspare++] = v;
		spare_seq = MAX(spare_seq, (uint64_t)v);
	}
	closedir(d);
}

/* spool_init - open the directories and start the commit worker. */
void
spool_init(struct event_base *base, const char *state_dir,
    spool_accept_cb accept)
{
	char		*path;

	accept_cb = accept;
	for (int i = 0; i < D_MAX; i++) {
		xasprintf(&path, "%s/spool/%s", state_dir, dirnames[i]);
		dfd[i] = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC);
		if (dfd[i] == -1)
			fatal("cannot open spool directory %s", path);
		free(path);
	}
	load_spares();
	xasprintf(&path, "%s/spool", state_dir);
	root_fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (root_fd == -1 || (journal = journal_open(root_fd, "journal")) ==
	    NULL)
		fatal("cannot open the spool journal in %s", path);
	free(path);
	commits = worker_new(base, run_batch, commit_done);
}

/* make_data_file - a new id and its data file, exclusive and private;
 * reused from the spares on the worker (reuse). */
static int
make_data_file(char id[QUEUE_ID_LEN + 1], bool reuse)
{
	for (int tries = 0; tries < 100; tries++) {
		uint64_t	v = now_usec() << 8;
		int		fd;
		bool		reused;

		pthread_mutex_lock(&pool_mtx);
		if (v <= last_id)
			v = last_id + 1;
		last_id = v;
		pthread_mutex_unlock(&pool_mtx);
		snprintf(id, QUEUE_ID_LEN + 1, "%016llX", (unsigned long long)v);
		fd = reuse ? take_file(dfd[D_DATA], id, &reused) : openat(dfd[D_DATA],
		    id, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		    0600);
		if (fd != -1 || errno != EEXIST)
			return fd;
	}
	errno = EEXIST;
	return -1;
}

/* spool_create - a data file from the pool, or a new one. */
int
spool_create(char id[QUEUE_ID_LEN + 1])
{
	int	fd = -1;

	pthread_mutex_lock(&pool_mtx);
	if (npool > 0) {
		npool--;
		memcpy(id, pool[npool].id, QUEUE_ID_LEN + 1);
		fd = pool[npool].fd;
	}
	pthread_mutex_unlock(&pool_mtx);
	return fd != -1 ? fd : make_data_file(id, false);
}

void
spool_commit(struct spool_commit *c)
{
	worker_push(commits, &c->item);
}

/* spool_inject - see spool.h.  The data is written on the loop: a bounce
 * or a submission is small and goes to the page cache; the worker's commit
 * makes it durable (journal or fsync) like any other message. */
int
spool_inject(struct spool_commit *c, const void *data, size_t len)
{
	int	fd = spool_create(c->id), e;

	if (fd == -1)
		return -1;
	str_copy(c->parsed.id, c->id, sizeof(c->parsed.id));
	c->parsed.size = len;
	buf_init(&c->env, 0);
	if ((e = write_all_fd(fd, data, len)) == 0 &&
	    envelope_encode(&c->parsed, &c->env) == -1)
		e = errno;
	if (e != 0) {
		close(fd);
		spool_discard(c->id);
		buf_free(&c->env);
		errno = e;
		return -1;
	}
	c->op = SPOOL_OP_COMMIT;
	c->data_fd = fd;
	if (len <= IPC_DELIVER_DATA_MAX) {	/* the worker reads no file */
		c->content = xmalloc(len > 0 ? len : 1);
		memcpy(c->content, data, len);
		c->content_len = len;
	}
	worker_push(commits, &c->item);
	return 0;
}

/* spool_discard - the data file of a message that was never committed. */
void
spool_discard(const char *id)
{
	if (id_ok(id))
		unlinkat(dfd[D_DATA], id, 0);
}

void
spool_remove(const char *id, bool held)
{
	struct spool_commit	*c = xcalloc(1, sizeof(*c));

	cache_drop(id);
	c->op = SPOOL_OP_REMOVE;
	str_copy(c->id, id, sizeof(c->id));
	c->held = held;
	c->data_fd = -1;
	buf_init(&c->env, 0);
	worker_push(commits, &c->item);
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

	if (!id_ok(id) || (!held && materialize(id, D_QUEUE) == -1))
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
	int	r;

	if (!id_ok(id) || (r = materialize(id, D_HOLD)) == -1)
		return -1;
	return r == 1 ? 0 : renameat(dfd[D_QUEUE], id, dfd[D_HOLD], id);
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
	cache_drop(id);
	if (from == D_QUEUE)
		(void)materialize(id, D_QUEUE);
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
drop_uncommitted(int which, const char *id)
{
	unlinkat(dfd[which], id, 0);
	unlinkat(dfd[D_DATA], id, 0);
	log_info("%s: event=uncommitted-removed file=spool/%s", id,
	    dirnames[which]);
}

/* scan_one - recover one envelope: load it, drop an unfinished commit,
 * or move an unreadable one aside. */
static void
scan_one(int which, const char *id, struct buf *b,
    int (*load)(const char *, bool, const char *, size_t))
{
	struct stat	 st;
	struct envelope	 env;
	int		 r;

	if (read_at(dfd[which], id, b) == -1) {
		spool_corrupt(dirnames[which], id);
		return;
	}
	if (fstatat(dfd[D_DATA], id, &st, AT_SYMLINK_NOFOLLOW) == -1) {
		r = envelope_decode(buf_cstr(b), b->len, &env, NULL, 0);
		envelope_free(&env);
		if (r == -2)
			drop_uncommitted(which, id);
		else
			spool_corrupt(dirnames[which], id);
		return;
	}
	r = load(id, which == D_HOLD, buf_cstr(b), b->len);
	if (r == 0)
		committed_add(id);
	else if (r == -2)
		drop_uncommitted(which, id);
	else if (r == -1)
		spool_corrupt(dirnames[which], id);
}

static void
scan_dir(int which, int (*load)(const char *, bool, const char *, size_t))
{
	DIR		*d = fdopendir(dup(dfd[which]));
	struct dirent	*de;
	struct buf	 b;

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
		scan_one(which, de->d_name, &b, load);
	}
	buf_free(&b);
	closedir(d);
}

/*
 * sweep - remove the files of a directory (with only_orphans, those
 * without an envelope).  After a crash these are mostly the data files
 * made ahead for smtpd (POOL_MAX of them) and those of sessions that
 * never committed: nothing to say about each, so one line says how many.
 */
static void
sweep(int which, bool only_orphans)
{
	DIR		*d = fdopendir(dup(dfd[which]));
	struct dirent	*de;
	struct stat	 st;
	unsigned	 n = 0;

	if (d == NULL)
		fatal("cannot read spool/%s", dirnames[which]);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || !id_ok(de->d_name))
			continue;
		if (only_orphans && (fstatat(dfd[D_QUEUE], de->d_name, &st,
		    AT_SYMLINK_NOFOLLOW) == 0 || fstatat(dfd[D_HOLD],
		    de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0))
			continue;
		if (unlinkat(dfd[which], de->d_name, 0) == 0)
			n++;
	}
	closedir(d);
	if (n > 0)
		log_info("event=stale-removed files=%u dir=spool/%s", n,
		    dirnames[which]);
}

/* envelope_is - dir/id holds a whole envelope of that id. */
static bool
envelope_is(int dir, const char *id)
{
	struct buf	b;
	struct envelope	env;
	bool		ok;

	buf_init(&b, 0);
	ok = read_at(dir, id, &b) == 0 && envelope_decode(buf_cstr(&b), b.len,
	    &env, NULL, 0) == 0;
	if (ok) {
		ok = strcmp(env.id, id) == 0;
		envelope_free(&env);
	}
	buf_free(&b);
	return ok;
}

/* restore - redo a journaled commit: its spool files may be cut short,
 * lost, or (being reused files) hold older bytes.  The journal is the
 * durable copy: the data is written again whole, and so is the envelope
 * unless the file holds a complete envelope of this id (whose status
 * records must survive a restart). */
static void
restore(const struct jrec *r)
{
	struct stat	st;
	int		e = 0;

	/* A complete envelope of this id keeps its status records. */
	if (fstatat(dfd[D_HOLD], r->id, &st, AT_SYMLINK_NOFOLLOW) == -1 &&
	    !envelope_is(dfd[D_QUEUE], r->id))
		e = write_file(dfd[D_QUEUE], r->id, r->env, r->envlen, O_TRUNC);
	if (e == 0 && r->has_data)
		e = write_file(dfd[D_DATA], r->id, r->data, (size_t)r->datalen,
		    O_TRUNC);
	if (e != 0)
		log_warn("%s: event=restore-failed error=\"%s\"", r->id,
		    strerror(e));
	else
		log_debug("%s: event=restored", r->id);
}

static void
replay_one(const struct jrec *r, void *arg)
{
	unsigned	*n = arg;

	(*n)++;
	if (r->type == JREC_COMMIT) {
		committed_add(r->id);
		restore(r);
	} else {
		unlinkat(dfd[D_QUEUE], r->id, 0);
		unlinkat(dfd[D_HOLD], r->id, 0);
		unlinkat(dfd[D_DATA], r->id, 0);
	}
}

/* replay - apply the journal's current epoch, then checkpoint. */
static void
replay(void)
{
	unsigned	n = 0;

	if (journal_replay(journal, replay_one, &n) == -1)
		fatal("cannot read the spool journal");
	if (checkpoint() == -1)
		fatalx("cannot checkpoint the spool");
	log_info("event=journal-replayed records=%u epoch=%llu", n,
	    (unsigned long long)journal_epoch(journal));
}

/* spool_scan - crash recovery at start; see spool.h. */
void
spool_scan(int (*load)(const char *, bool, const char *, size_t))
{
	replay();
	scan_dir(D_QUEUE, load);
	scan_dir(D_HOLD, load);
	sweep(D_DATA, true);
	if (ncommitted > 1)
		qsort(committed, ncommitted, sizeof(*committed), cmp_u64);
}

/* committed_add - id was committed (recovery); kept as its number. */
static void
committed_add(const char *id)
{
	if (!id_ok(id))
		return;
	if (ncommitted == capcommitted) {
		capcommitted = capcommitted == 0 ? 256 : capcommitted * 2;
		committed = xreallocarray(committed, capcommitted,
		    sizeof(*committed));
	}
	committed[ncommitted++] = strtoull(id, NULL, 16);
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t	x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* spool_was_committed - see spool.h. */
bool
spool_was_committed(const char *id)
{
	uint64_t	v;

	if (!id_ok(id) || ncommitted == 0)
		return false;
	v = strtoull(id, NULL, 16);
	return bsearch(&v, committed, ncommitted, sizeof(*committed),
	    cmp_u64) != NULL;
}

/* spool_forget_recovery - see spool.h. */
void
spool_forget_recovery(void)
{
	free(committed);
	committed = NULL;
	ncommitted = capcommitted = 0;
}
