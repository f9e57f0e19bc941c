/*
 * queue_ctl.h - the queue's control socket, state_dir/control: the
 * parent binds it, the queue process serves it, "postbote queue" talks to
 * it.  The protocol is ipc.c framing with the IPC_CTL_* types (ipc.h).
 */
#ifndef POSTBOTE_QUEUE_CTL_H
#define POSTBOTE_QUEUE_CTL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct event_base;

#define QUEUE_CTL_HEADERS_MAX	(64 * 1024)	/* header bytes SHOW sends */
#define QUEUE_CTL_STATUS_MAX	2048		/* status bytes per recipient */
/* Flags of a message entry (LIST_REPLY and SHOW). */
#define QUEUE_CTL_HELD		0x1
#define QUEUE_CTL_INFLIGHT	0x2

/* queue_ctl_path - "state_dir/control", allocated. */
char	*queue_ctl_path(const char *state_dir);

/*
 * queue_ctl_bind - parent, at start: unlink a stale socket (refusing to
 * when a server answers on it), bind and listen, mode 0600, owned by
 * uid:gid when own.  Returns the listening fd; fatal on failure.
 */
int	 queue_ctl_bind(const char *state_dir, bool own, uid_t uid, gid_t gid);
/* queue_ctl_submit_path - "state_dir/submit", allocated. */
char	*queue_ctl_submit_path(const char *state_dir);
/* queue_ctl_bind_submit - parent, at start: the submission socket, as
 * queue_ctl_bind but mode 0666: any local user may submit mail. */
int	 queue_ctl_bind_submit(const char *state_dir, bool own, uid_t uid,
	    gid_t gid);
/* queue_ctl_connect - a client's blocking connection to the socket at
 * path, with a send timeout; the fd, or -1 with errno (ENAMETOOLONG when
 * path does not fit). */
int	 queue_ctl_connect(const char *path, int timeout_ms);
/* queue_ctl_unlink - parent, at a clean stop: remove the socket files. */
void	 queue_ctl_unlink(void);

/* queue_ctl_init - queue process: accept on fd (from queue_ctl_bind; -1
 * for none) and submit_fd (queue_ctl_bind_submit; -1 for none) on the
 * loop and serve the requests. */
void	 queue_ctl_init(struct event_base *, int fd, int submit_fd);
/*
 * queue_ctl_submitted - queue process: the submission of control
 * connection serial, request reqid, is durable (ok, text = queue id) or
 * failed (text = reason, code = the sysexits.h code for the client).
 * Nothing happens if the connection is gone.
 */
void	 queue_ctl_submitted(uint64_t serial, uint64_t reqid, bool ok,
	    const char *text, int code);

#endif
