/*
 * queue_tlsrpt.h - SMTP TLS Reporting (RFC 8460) in the queue process
 * (queue_tlsrpt.c): the outcomes deliver sends (IPC_TLSRPT) counted per
 * policy, kept in STATE_DIR/tlsrpt/ across restarts, and reported once a
 * day (after each UTC midnight) to each policy domain's rua mailto:
 * addresses, as messages through postbote's own queue.  Queue process
 * only, on its loop.
 */
#ifndef POSTBOTE_QUEUE_TLSRPT_H
#define POSTBOTE_QUEUE_TLSRPT_H

#include "lib/ipc.h"

struct event_base;
struct buf;

/* queue_tlsrpt_init - load what earlier runs counted, arm the daily
 * timer (which first sends what a past day left unsent). */
void	 queue_tlsrpt_init(struct event_base *);
/* queue_tlsrpt_reload - a new config: a new resolver. */
void	 queue_tlsrpt_reload(void);
/* queue_tlsrpt_event - an IPC_TLSRPT from deliver. */
void	 queue_tlsrpt_event(struct ipc_msg *);
/* queue_tlsrpt_show - the counts so far as JSON (a list of the periods,
 * each as an RFC 8460 report of all its policy domains) into out. */
void	 queue_tlsrpt_show(struct buf *out);
/* queue_tlsrpt_send - end the current period now and send the reports
 * of everything counted; the number of policy domains whose report is
 * being sent. */
unsigned queue_tlsrpt_send(void);

#endif
