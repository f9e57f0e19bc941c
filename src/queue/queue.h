/*
 * queue.h - the queue process (queue.c): its module for the child
 * runtime.  Its parts have their own headers: the scheduler
 * (queue_sched.h), reports (queue_dsn.h), the spool (spool.h, journal.h),
 * local submissions (queue_submit.h) and the control socket
 * (queue_ctl.h).
 */
#ifndef POSTBOTE_QUEUE_H
#define POSTBOTE_QUEUE_H

struct proc_module;

/* The queue process (queue.c). */
extern const struct proc_module queue_module;

#endif
