/*
 * queue_dsn.h - delivery status reports (queue_dsn.c): which recipients a
 * report covers (NOTIFY, RFC 3461), the report built with bounce.c and
 * committed as a new message from <> to the original sender.  Queue
 * process only, on its loop.
 */
#ifndef POSTBOTE_QUEUE_DSN_H
#define POSTBOTE_QUEUE_DSN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mail/bounce.h"
#include "mail/envelope.h"
#include "queue/queue_sched.h"

/*
 * queue_dsn_wants - does r ask for a report of this action (RFC 3461
 * 4.1)?  Without NOTIFY: failures and delays; NOTIFY=NEVER: nothing.
 */
bool	 queue_dsn_wants(const struct env_rcpt *r, enum bounce_action action);
/*
 * queue_dsn_covered - the recipients of env a report covers: those noted
 * (note[i] = QUEUE_SCHED_NOTE(action)) whose NOTIFY wants that action.
 * br (env->nrcpt entries, the caller's) gets them, pointing into env;
 * returns how many.  Pure.
 */
size_t	 queue_dsn_covered(const struct envelope *env,
	    const unsigned char *note, uint64_t now, struct bounce_rcpt *br);
/*
 * queue_dsn_report - the report on r's covered recipients, to the
 * envelope sender, committed through the spool (spool_inject); never to
 * the null sender, which is what stops report loops.  True when a report
 * was built (its commit failing is logged here).
 */
bool	 queue_dsn_report(const struct queue_sched_report *r);

#endif
