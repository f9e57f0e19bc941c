/*
 * remote.h - remote delivery over SMTP (the deliver process), for the jobs
 * whose recipients are all of one remote domain.
 */
#ifndef POSTBOTE_REMOTE_H
#define POSTBOTE_REMOTE_H

#include "deliver/deliver_job.h"

struct event_base;

/* remote_init / remote_reload - the SMTP client's state: TLS contexts,
 * DNS, route passwords (read here, never logged).  Jobs in progress keep
 * their copies across a reload. */
void	 remote_init(struct event_base *);
void	 remote_reload(void);
/* remote_deliver - deliver j's recipients (all remote, one domain) in one
 * SMTP transaction, on an idle connection to the same destination if
 * there is one; calls deliver_job_done(j) when finished.  Takes j. */
void	 remote_deliver(struct deliver_job *j);
/* remote_shutdown - close idle connections. */
void	 remote_shutdown(void);

#endif
