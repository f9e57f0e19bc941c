/*
 * cmd_queue.h - "postbote queue" and "mailq": the admin's client of the
 * queue's control socket (queue_ctl.c).
 */
#ifndef POSTBOTE_CMD_QUEUE_H
#define POSTBOTE_CMD_QUEUE_H

/* cmd_queue - argv[0] is "queue"; returns the exit status (0 ok, 1
 * failure, 2 usage or config error). */
int	 cmd_queue(int argc, char **argv);
/* cmd_queue_mailq - called as mailq: "queue list" with argv's options. */
int	 cmd_queue_mailq(int argc, char **argv);

/* cmd_queue_count - the number of queued messages and of held ones, asked
 * of the queue's socket in state_dir; 0, or -1 when it does not answer
 * (nothing printed). */
int	 cmd_queue_count(const char *state_dir, unsigned *n, unsigned *held);

#endif
