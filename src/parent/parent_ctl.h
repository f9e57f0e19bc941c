/*
 * parent_ctl.h - the parent's own control socket, state_dir/master, for
 * "postbote reload", "postbote stop" and "postbote status" (and
 * newaliases), and the pid file state_dir/postbote.pid beside it.
 */
#ifndef POSTBOTE_PARENT_CTL_H
#define POSTBOTE_PARENT_CTL_H

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct ipc_ctl_status_reply;
struct proc_user;

/* What the parent does for a request (parent.c). */
struct parent_ctl_ops {
	/* reload - start a reload: 0 when it is under way (its end comes
	 * through parent_ctl_reload_done), -1 with err set when it cannot
	 * begin. */
	int	(*reload)(char *err, size_t errlen);
	/* stop - begin the clean stop. */
	void	(*stop)(void);
	/* status - fill r; its strings stay valid until the next call. */
	void	(*status)(struct ipc_ctl_status_reply *r);
};

/*
 * parent_ctl_start - bind state_dir/master (mode 0600, owned by the user
 * who started the server), write the pid file, and serve the socket on
 * b with ops.  Fatal when another server answers in state_dir.
 */
void	 parent_ctl_start(struct event_base *b, const char *state_dir,
	    const struct parent_ctl_ops *ops);
/* parent_ctl_reload_done - a reload ended: answer every connection that
 * asked for it (ok, or the reason). */
void	 parent_ctl_reload_done(bool ok, const char *reason);
/* parent_ctl_close - at the clean stop: close the connections, remove the
 * socket and the pid file. */
void	 parent_ctl_close(void);

#endif
