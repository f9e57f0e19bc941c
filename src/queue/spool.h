/*
 * spool.h - the queue's spool on disk (spool.c): data files handed out,
 * envelopes committed durably in batches on a worker thread, status
 * records appended, messages held, released, removed, and the recovery
 * at start.  Queue process only.
 */
#ifndef POSTBOTE_SPOOL_H
#define POSTBOTE_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "lib/worker.h"
#include "mail/envelope.h"

struct event_base;
struct spool_commit;

enum spool_op { SPOOL_OP_COMMIT = 0, SPOOL_OP_REMOVE };

/*
 * spool_done_cb - the end of one commit, on the loop, for whoever asked
 * for it: c->error is 0 when the message is durable, else an errno (and
 * the message is gone).  c and its envelope are valid during the call
 * only; arg is the commit's done_arg, the callee's to free.
 */
typedef void (*spool_done_cb)(const struct spool_commit *c, void *arg);

/*
 * spool_accept_cb - a committed message, durable now, for the queue to
 * schedule: env is taken over (the callee zeroes or keeps its fields).
 */
typedef void (*spool_accept_cb)(const char *id, struct envelope *env);

/* One message being made durable (or removed), through the worker. */
struct spool_commit {
	struct worker_item	 item;		/* first: the worker's link */
	enum spool_op		 op;
	char			 id[QUEUE_ID_LEN + 1];
	struct buf		 env;		/* the encoded envelope */
	struct envelope		 parsed;
	int			 data_fd;	/* the data file, closed by spool;
						 * -1: opened by name */
	bool			 held;		/* remove: it is in hold/ */
	int			 error;		/* errno, 0 = durable */
	char			*content;	/* the message when small (given,
						 * or read back by the worker):
						 * journaled, then spool_cached;
						 * NULL: read from the file */
	size_t			 content_len;
	/* The requester's completion (NULL: nobody waits), called once
	 * for every commit spool_commit or spool_inject took. */
	spool_done_cb		 done;
	void			*done_arg;
};

/*
 * spool_init - open the spool directories under state_dir/spool, start
 * the commit worker.  For each commit, in order, once its batch is durable
 * (or failed), on the loop: the commit's own done, then accept when it is
 * durable (a failed one's data file is removed); then the commit is freed.
 */
void	 spool_init(struct event_base *, const char *state_dir,
	    spool_accept_cb accept);
/* spool_create - a fresh queue id and its data file, opened read-write
 * (O_EXCL, 0600).  Returns the fd, or -1 with errno. */
int	 spool_create(char id[QUEUE_ID_LEN + 1]);
/* spool_commit - queue a commit for the next batch; takes ownership of c
 * (allocated with xcalloc), of c->data_fd (a descriptor of the data file,
 * or -1: the worker opens it by name), of c->content (xmalloc'ed, exactly
 * the message when not NULL: then no file is read) and of c->done_arg. */
void	 spool_commit(struct spool_commit *);
/* spool_remove - forget a committed message: a journal record, then its
 * files are removed (on the worker, in order with commits). */
void	 spool_remove(const char *id, bool held);
/*
 * spool_inject - a message the queue writes itself (a report, a local
 * submission): a new id and data file holding data[0..len), then
 * c->parsed (id filled in here) encoded and committed like smtpd's
 * messages, through the journal.  Takes ownership of c on success
 * (its done is called later); on failure returns -1 with errno and c
 * is still the caller's.
 */
int	 spool_inject(struct spool_commit *c, const void *data, size_t len);
/* spool_discard - remove the data file of a message never committed. */
void	 spool_discard(const char *id);
/*
 * spool_cached - the content of a small message committed lately, still
 * in memory (valid until the next call into spool): true with *p and
 * *len, else false and the caller opens the file.  Entries go when the
 * message is removed, or the oldest when room is needed.
 */
bool	 spool_cached(const char *id, const void **p, size_t *len);
/* spool_open_data - the message content, read-only; -1 with errno. */
int	 spool_open_data(const char *id);
/* spool_append - append status records to the envelope (page cache; a
 * crash may lose them, which only repeats a delivery). */
int	 spool_append(const char *id, bool held, const struct buf *);
/* spool_hold / spool_release - move the envelope to hold/ and back; 0, or
 * -1 with errno. */
int	 spool_hold(const char *id);
int	 spool_release(const char *id);
/* spool_corrupt - move an unreadable envelope and its data aside. */
void	 spool_corrupt(const char *dir, const char *id);

/*
 * spool_scan - recovery at start: call load(id, held, data, len) for each
 * envelope in queue/ and hold/; load returns 0, -2 for an unfinished
 * commit (removed with its data: it was never acknowledged) or -1 for an
 * unreadable one (moved to corrupt/).  Then data files without an
 * envelope are removed.
 */
void	 spool_scan(int (*load)(const char *id, bool held, const char *,
	    size_t));
/*
 * spool_was_committed - was id a committed message when spool_scan ran:
 * a commit record in the journal it replayed (even one removed since, by
 * a delivery), or an envelope it loaded?  For smtpd's sessions whose
 * commit the previous queue process took with it, journaled or not.
 * false for every id once spool_forget_recovery has run.
 */
bool	 spool_was_committed(const char *id);
/* spool_forget_recovery - free what spool_was_committed reads. */
void	 spool_forget_recovery(void);

#endif
