/*
 * queue_ctl.h - the queue process's side of the control and submission
 * sockets (common/control.h): it serves "postbote queue" and local
 * submissions on its loop.  The protocol is ipc.c framing with the
 * IPC_CTL_* types (ipc.h).
 */
#ifndef POSTBOTE_QUEUE_CTL_H
#define POSTBOTE_QUEUE_CTL_H

struct event_base;

/* queue_ctl_init - accept on fd (the control socket; -1 for none) and
 * submit_fd (the submission socket; -1 for none) on the loop and serve
 * the requests. */
void	 queue_ctl_init(struct event_base *, int fd, int submit_fd);

#endif
