/*
 * queue_sched.h - the queue's scheduler (queue_sched.c): which message
 * goes to deliver when.  It keeps every message's envelope and recipient
 * states, the ready list, the due times (retry, expiry, delay warning),
 * the concurrency limits and the admin's actions.  It does no I/O: time
 * comes in as `now` (µs since the epoch) and what it decides goes out
 * through the ops below, so that it runs without processes, in tests too.
 * Queue process only, on its loop.
 */
#ifndef POSTBOTE_QUEUE_SCHED_H
#define POSTBOTE_QUEUE_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "mail/envelope.h"

/* At most this many remote domains of one message go out per round. */
#define QUEUE_SCHED_DOMAINS_MAX	64

/* A recipient's mark in a report's note array: 0 = nothing to report,
 * else QUEUE_SCHED_NOTE(action) with an enum bounce_action. */
#define QUEUE_SCHED_NOTE(action)	((unsigned char)((action) + 1))

/* What the deliver op did with one delivery. */
enum queue_sched_send {
	QUEUE_SCHED_SENT = 0,		/* on its way: a result will come */
	QUEUE_SCHED_NOT_SENT,		/* deliver cannot take it now */
	QUEUE_SCHED_NO_DATA,		/* the message's data file is gone */
};

/* One delivery: the local recipients of a message, or the remote ones of
 * one of its domains (one SMTP transaction). */
struct queue_sched_delivery {
	const char		*id;
	const struct envelope	*env;
	const char		*domain;	/* NULL: the local recipients */
	uint64_t		 reqid;		/* 0 for local; else echoed by
						 * the result */
	bool			 recovered;	/* may be delivered already
						 * (a crash, a restart) */
	const uint32_t		*rcpt;		/* indexes into env->rcpts */
	uint32_t		 nrcpt;
};

/* One recipient's result, from deliver. */
enum queue_sched_outcome {
	QUEUE_SCHED_DELIVERED = 0,
	QUEUE_SCHED_DEFERRED,		/* try again later */
	QUEUE_SCHED_FAILED,		/* permanently */
};

struct queue_sched_result {
	uint32_t		 index;		/* into env->rcpts */
	enum queue_sched_outcome outcome;
	const char		*dsn;		/* "4.4.1" */
	const char		*text;		/* the reply or the reason */
	const char		*remote_mta;	/* whose reply; NULL or "" */
};

/* A report is due on what became of some recipients in one batch. */
struct queue_sched_report {
	const char		*id;
	const struct envelope	*env;		/* states already updated */
	const unsigned char	*note;		/* env->nrcpt marks */
	uint64_t		 now;
};

/*
 * What the scheduler asks of the process.  Every pointer it passes is
 * valid during the call only.  arg is the one given to queue_sched_init.
 */
struct queue_sched_ops {
	/* deliver - hand d to the deliver process. */
	enum queue_sched_send (*deliver)(void *arg,
			    const struct queue_sched_delivery *d);
	/* append - status records for the message's envelope file. */
	void		(*append)(void *arg, const char *id, bool held,
			    const struct buf *records);
	/* report - a delivery status report on r (the DSN module decides
	 * whom it covers); true when one was made. */
	bool		(*report)(void *arg,
			    const struct queue_sched_report *r);
	/* remove - the message is finished: its files go. */
	void		(*remove)(void *arg, const char *id, bool held);
	/* corrupt - its data is missing: move its files aside. */
	void		(*corrupt)(void *arg, const char *id, bool held);
	/* hold / release - move its envelope file to hold/ and back; 0, or
	 * -1 with errno. */
	int		(*hold)(void *arg, const char *id);
	int		(*release)(void *arg, const char *id);
	/* timer - call queue_sched_run at due (µs), the earliest time a
	 * waiting message is due; 0: nothing waits. */
	void		(*timer)(void *arg, uint64_t due);
};

/* queue_sched_init - the ops (kept by pointer) and their argument. */
void	 queue_sched_init(const struct queue_sched_ops *, void *arg);
/* queue_sched_clear - forget every message, without calling an op. */
void	 queue_sched_clear(void);
/* queue_sched_count - how many messages there are. */
unsigned queue_sched_count(void);

/*
 * queue_sched_add - a message just committed (env taken over): ready
 * now, or held at once when its envelope asks for quarantine.  Then the
 * ready messages are dispatched.
 */
void	 queue_sched_add(const char *id, struct envelope *env);
/*
 * queue_sched_load - a message found at start (env taken over), which may
 * have been delivered in part already: removed when nothing is pending,
 * else scheduled at its next attempt unless held.  Nothing is dispatched.
 */
void	 queue_sched_load(const char *id, struct envelope *env, bool held,
	    uint64_t now);
/*
 * queue_sched_delivered - the results of delivery reqid of message id:
 * recorded, reported, and when the message has nothing else out, done
 * or scheduled again (retry, expiry, delay warning).  Then the ready
 * messages are dispatched.  0, or -1 when no such delivery is out.
 */
int	 queue_sched_delivered(const char *id, uint64_t reqid,
	    const struct queue_sched_result *, size_t n, uint64_t now);
/* queue_sched_run - the messages due by now become ready; the ready ones
 * are dispatched, up to the concurrency limits. */
void	 queue_sched_run(uint64_t now);
/* queue_sched_lost - deliver went away: what it had is unknown, so those
 * messages are ready again, as recovered ones.  Nothing is dispatched. */
void	 queue_sched_lost(void);

/*
 * The admin's view and actions, for the control socket (queue_ctl.c).
 */
struct queue_sched_entry {
	const char		*id;
	const struct envelope	*env;		/* the scheduler's: read only */
	bool			 held;
	bool			 inflight;	/* being delivered now */
};
typedef void (*queue_sched_entry_cb)(const struct queue_sched_entry *,
	    void *);

/* queue_sched_foreach - call cb for every message, in no order.  The
 * entry is valid during the call only; cb must not change the queue. */
void	 queue_sched_foreach(queue_sched_entry_cb cb, void *arg);
/* queue_sched_lookup - fill *e for message id (valid until the queue
 * changes); 0, or -1 when there is no such message. */
int	 queue_sched_lookup(const char *id, struct queue_sched_entry *e);
/*
 * queue_sched_flush / _delete / _hold / _release - the admin's actions.
 * Flush makes one message (id) or all (id NULL) that are neither held nor
 * in flight ready now, counting them in *n, and dispatches.  Delete
 * removes a message; hold moves it to hold/ and stops its schedule;
 * release moves it back, makes it ready and dispatches.  A message in
 * flight cannot be deleted or held: that answers -1, "busy".  Each
 * returns 0 or -1, and sets *why to a short text (the reason, or a note
 * such as "already on hold"), static or strerror's.
 */
int	 queue_sched_flush(const char *id, unsigned *n, const char **why);
int	 queue_sched_delete(const char *id, const char **why);
int	 queue_sched_hold(const char *id, const char **why);
int	 queue_sched_release(const char *id, const char **why);

#endif
