/*
 * queue.h - the queue process's parts: the durable spool (queue_spool.c,
 * batched commits on a worker thread) and the scheduler (queue.c).
 */
#ifndef POSTBOTE_QUEUE_H
#define POSTBOTE_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "lib/ipc.h"
#include "mail/envelope.h"
#include "lib/worker.h"

struct event_base;
struct proc_module;

/* The queue process (queue.c). */
extern const struct proc_module queue_module;

enum spool_op { SPOOL_OP_COMMIT = 0, SPOOL_OP_REMOVE };
/* Who asked for a commit, and so who hears of its end. */
enum spool_origin {
	SPOOL_FROM_SMTPD = 0,	/* IPC_SPOOL_COMMIT: reply to smtpd reqid */
	SPOOL_FROM_QUEUE,	/* a bounce or DSN the queue made */
	SPOOL_FROM_SUBMIT,	/* IPC_CTL_SUBMIT: reply to the ctl conn */
};

/* One message being made durable (or removed), through the worker. */
struct spool_commit {
	struct worker_item	 item;		/* first: the worker's link */
	enum spool_op		 op;
	char			 id[QUEUE_ID_LEN + 1];
	uint64_t		 reqid;		/* smtpd session */
	struct buf		 env;		/* the encoded envelope */
	struct envelope		 parsed;
	int			 data_fd;	/* read-only, closed by spool */
	bool			 held;		/* remove: it is in hold/ */
	int			 error;		/* errno, 0 = durable */
	enum spool_origin	 origin;
	uint64_t		 conn;		/* SUBMIT: control connection */
};

typedef void (*spool_done_cb)(struct spool_commit *);

/*
 * spool_init - open the spool directories under state_dir/spool, start
 * the commit worker.  done is called on the loop for each commit, in
 * order, once its batch is durable (or failed).
 */
void	 spool_init(struct event_base *, const char *state_dir,
	    spool_done_cb done);
/* spool_create - a fresh queue id and its data file, opened read-write
 * (O_EXCL, 0600).  Returns the fd, or -1 with errno. */
int	 spool_create(char id[QUEUE_ID_LEN + 1]);
/* spool_commit - queue a commit for the next batch; takes ownership of c
 * (and of c->data_fd, a read-only descriptor of the data file). */
void	 spool_commit(struct spool_commit *);
/* spool_remove - forget a committed message: a journal record, then its
 * files are removed (on the worker, in order with commits). */
void	 spool_remove(const char *id, bool held);
/*
 * spool_inject - a message the queue writes itself (a bounce, a local
 * submission): a new id and data file holding data[0..len), then
 * c->parsed (id filled in here) encoded and committed like smtpd's
 * messages, through the journal.  Takes ownership of c on success
 * (done is called for it); on failure returns -1 with errno and c is
 * still the caller's.
 */
int	 spool_inject(struct spool_commit *c, const void *data, size_t len);
/* spool_discard - remove the data file of a message never committed. */
void	 spool_discard(const char *id);
/* spool_open_data - the message content, read-only; -1 with errno. */
int	 spool_open_data(const char *id);
/* spool_append - append status records to the envelope (page cache; a
 * crash may lose them, which only repeats a delivery). */
int	 spool_append(const char *id, bool held, const struct buf *);
/* spool_hold / spool_release - move the envelope to hold/ and back. */
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
 * The admin's view of the queue and the actions on it (queue.c), for the
 * control socket (queue_ctl.c).  Queue process only, on its loop.
 */
struct queue_entry {
	const char		*id;
	const struct envelope	*env;		/* the queue's own: read only */
	bool			 held;
	bool			 inflight;	/* being delivered now */
};
typedef void (*queue_entry_cb)(const struct queue_entry *, void *);

/* queue_foreach - call cb for every message, in no order.  The entry is
 * valid during the call only; cb must not change the queue. */
void	 queue_foreach(queue_entry_cb cb, void *arg);
/* queue_lookup - fill *e for message id (valid until the loop turns);
 * 0, or -1 when there is no such message. */
int	 queue_lookup(const char *id, struct queue_entry *e);
/*
 * queue_flush / queue_delete / queue_hold / queue_release - the admin's
 * actions.  Flush makes one message (id) or all (id NULL) that are neither
 * held nor in flight ready now, counting them in *n.  Delete removes a
 * message; hold moves it to hold/ and stops its schedule; release moves it
 * back and makes it ready now.  A message in flight cannot be deleted or
 * held: that answers -1, "busy".  Each returns 0 or -1, and sets *why to a
 * short static text (the reason, or a note such as "already on hold").
 */
int	 queue_flush(const char *id, unsigned *n, const char **why);
int	 queue_delete(const char *id, const char **why);
int	 queue_hold(const char *id, const char **why);
int	 queue_release(const char *id, const char **why);
/*
 * queue_submit - a local submission (sendmail, "postbote send") from
 * control connection conn, request reqid (queue_submit.c): env (taken
 * over; recipients as given) and the message.  Each recipient is resolved
 * by the lookup process (aliases, users) as smtpd's are, then the message
 * is committed.  0: queue_ctl_submitted() answers later; -1 with *why
 * and *code (sysexits.h): refused now.
 */
int	 queue_submit(struct envelope *env, const void *data, size_t len,
	    uint64_t conn, uint64_t reqid, const char **why, int *code);
/* queue_submit_resolved - an IPC_RESOLVE_REPLY from lookup. */
void	 queue_submit_resolved(struct ipc_msg *);
/* queue_submit_abort - lookup went away: refuse what waits for it. */
void	 queue_submit_abort(void);

#endif
