/*
 * queue.h - the queue process (queue.c): its module, and the admin's view
 * and actions.  The spool (spool.h) and local submissions
 * (queue_submit.h) have their own.
 */
#ifndef POSTBOTE_QUEUE_H
#define POSTBOTE_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

#endif
