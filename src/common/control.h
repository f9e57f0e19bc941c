/*
 * control.h - the UNIX sockets of state_dir through which the command line
 * reaches the queue process: state_dir/control (the admin's "postbote
 * queue", mode 0600) and state_dir/submit (sendmail and "postbote send",
 * mode 0666).  The parent binds them, the queue process serves them
 * (queue/queue_ctl.c), the commands connect.  A third socket,
 * state_dir/master, is the parent's own (parent/parent_ctl.c).  The frames are ipc.c's.
 */
#ifndef POSTBOTE_CONTROL_H
#define POSTBOTE_CONTROL_H

#include <stdbool.h>
#include <sys/types.h>

#define CONTROL_HEADERS_MAX	(64 * 1024)	/* header bytes SHOW sends */
#define CONTROL_STATUS_MAX	2048		/* status bytes per recipient */
/* Flags of a message entry (LIST_REPLY and SHOW). */
#define CONTROL_HELD		0x1
#define CONTROL_INFLIGHT	0x2

/* control_path / control_submit_path - "state_dir/control" and
 * "state_dir/submit", allocated. */
char	*control_path(const char *state_dir);
char	*control_submit_path(const char *state_dir);
/* Two more files of state_dir: the parent's own socket (reload, stop,
 * status; mode 0600, the starting user's) and its pid while it runs. */
#define CONTROL_MASTER		"master"
#define CONTROL_PID		"postbote.pid"
/* control_state_file - "state_dir/name", allocated. */
char	*control_state_file(const char *state_dir, const char *name);
/*
 * control_bind - parent, at start: remove a stale socket at path (refusing
 * to start when a server still answers on it), bind and listen with the
 * given mode, owned by uid:gid when own.  The listening fd; fatal on
 * failure.
 */
int	 control_bind(const char *path, mode_t mode, bool own, uid_t uid,
	    gid_t gid);
/* control_connect - a client's blocking connection to the socket at path,
 * with a send timeout; the fd, or -1 with errno (ENAMETOOLONG when path
 * does not fit). */
int	 control_connect(const char *path, int timeout_ms);

#endif
