/*
 * queue_submit.h - local submissions (sendmail, "postbote send") in the
 * queue process (queue_submit.c): recipients resolved by the lookup
 * process, then the message committed.  Queue process only, on its loop.
 */
#ifndef POSTBOTE_QUEUE_SUBMIT_H
#define POSTBOTE_QUEUE_SUBMIT_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/ipc.h"
#include "mail/envelope.h"

/*
 * queue_submit_cb - the end of a submission: ok with text = the queue id
 * (the message is durable), or refused with text = the reason and code =
 * the sysexits.h code for the client.  text is valid during the call.
 */
typedef void (*queue_submit_cb)(void *arg, bool ok, const char *text,
	    int code);

/*
 * queue_submit - a local submission: env (taken over; recipients as
 * given) and the message.  Each recipient is resolved by the lookup
 * process (aliases, users) as smtpd's are, then the message is committed.
 * 0: done(arg, ...) is called once, later; -1 with *why and *code
 * (sysexits.h): refused now, and done is never called.
 */
int	 queue_submit(struct envelope *env, const void *data, size_t len,
	    queue_submit_cb done, void *arg, const char **why, int *code);
/* queue_submit_resolved - an IPC_RESOLVE_REPLY from lookup. */
void	 queue_submit_resolved(struct ipc_msg *);
/* queue_submit_abort - lookup went away: refuse what waits for it. */
void	 queue_submit_abort(void);

#endif
