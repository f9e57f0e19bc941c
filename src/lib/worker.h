/*
 * worker.h - one background thread that runs blocking work (writes and
 * syncs) in batches for an event loop.  Items pushed while a batch runs
 * form the next batch, so one sync covers everything that arrived
 * meanwhile (group commit).  Results come back on the loop, in order.
 */
#ifndef POSTBOTE_WORKER_H
#define POSTBOTE_WORKER_H

struct event_base;

struct worker_item {
	struct worker_item	*next;		/* embed first; worker's */
};

/* run: on the thread, for a whole batch (linked by next).
 * done: on the loop, once per item of the finished batch, in order. */
typedef void (*worker_run_fn)(struct worker_item *batch);
typedef void (*worker_done_fn)(struct worker_item *item);

struct worker;

struct worker *worker_new(struct event_base *, worker_run_fn,
	    worker_done_fn);
/* worker_push - add an item; it runs in the current or next batch. */
void	 worker_push(struct worker *, struct worker_item *);
/*
 * worker_free - stop the thread and free the worker (NULL is fine).  Items
 * pushed before are still run on the thread, and their done callbacks run
 * here, on the caller's thread, in order, before it returns: no item is
 * lost.  Call it on the loop's thread, not from a done callback; a done
 * callback run here must not push to this worker.
 */
void	 worker_free(struct worker *);

#endif
