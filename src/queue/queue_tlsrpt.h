/*
 * queue_tlsrpt.h - SMTP TLS Reporting (RFC 8460) in the queue process
 * (queue_tlsrpt.c): the outcomes deliver sends (IPC_TLSRPT) counted per
 * policy and UTC day, kept in STATE_DIR/tlsrpt/ across restarts, and each
 * day reported once it has ended (after each UTC midnight) to each
 * policy domain's rua mailto: addresses, as messages through postbote's
 * own queue.  Queue process only, on its loop.
 */
#ifndef POSTBOTE_QUEUE_TLSRPT_H
#define POSTBOTE_QUEUE_TLSRPT_H

#include "lib/ipc.h"

struct event_base;
struct buf;

/* queue_tlsrpt_init - load what earlier runs counted, arm the daily
 * timer (which first sends the days that ended unsent). */
void	 queue_tlsrpt_init(struct event_base *);
/* queue_tlsrpt_reload - a new config: a new resolver. */
void	 queue_tlsrpt_reload(void);
/* queue_tlsrpt_event - an IPC_TLSRPT from deliver. */
void	 queue_tlsrpt_event(struct ipc_msg *);
/* queue_tlsrpt_show - the counts so far as JSON (a list of the days not
 * yet reported, the current one last, each as an RFC 8460 report of all
 * its policy domains) into out. */
void	 queue_tlsrpt_show(struct buf *out);
/* queue_tlsrpt_send - send now the reports of the days that have ended
 * and are not sent or being sent; the current day's wait for its end.
 * The number of reports (policy domains) started, and in *ndays of
 * days. */
unsigned queue_tlsrpt_send(unsigned *ndays);

#endif
