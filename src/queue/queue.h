/*
 * queue.h - the queue process (queue.c): its module, the admin's view and
 * actions, and local submissions.  The spool has its own (spool.h).
 */
#ifndef POSTBOTE_QUEUE_H
#define POSTBOTE_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/ipc.h"
#include "mail/envelope.h"

struct proc_module;

/* The queue process (queue.c). */
extern const struct proc_module queue_module;

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
