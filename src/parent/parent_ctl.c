/*
 * parent_ctl.c - the parent's control socket state_dir/master and its pid
 * file (parent_ctl.h).  The queue's socket (state_dir/control) acts on
 * mail; this one acts on the server: reload, stop, status.  A reload is
 * answered only when every child said it applied the new config (or why
 * one did not), so "postbote reload" can fail loudly.
 *
 * Runs in the parent.  Trust: only root and the user who started the
 * server may connect (mode 0600, checked again with SO_PEERCRED); the
 * requests carry no fields, and anything else is answered "unknown
 * request".
 */
#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/control.h"
#include "lib/ipc_proto.h"
#include "lib/log.h"
#include "lib/util.h"
#include "parent/parent_ctl.h"

#define CONNS_MAX	16

struct conn {
	struct ipc_chan	*chan;
	unsigned	 uid;
	uint64_t	 reload_id;	/* != 0: waits for a reload's end */
	struct conn	*next;
};

static const struct parent_ctl_ops *ops;
static struct event_base *base;
static struct event	*accept_ev;
static struct conn	*conns;
static unsigned		 nconns;
static int		 listen_fd = -1;
static char		*sock_path, *pid_path;

static void
reply(struct conn *c, uint64_t id, bool ok, const char *text)
{
	struct ipc_reply	r = { ok, text };

	ipc_proto_send(c->chan, IPC_CTL_REPLY, id, &r, sizeof(r), -1);
}

static void
run_reload(struct conn *c, uint64_t id)
{
	char	err[1024];

	log_info("event=control request=reload uid=%u", c->uid);
	c->reload_id = id;		/* before: the end may come at once */
	if (ops->reload(err, sizeof(err)) == -1) {
		c->reload_id = 0;
		reply(c, id, false, err);
	}
}

static void
run_stop(struct conn *c, uint64_t id)
{
	log_info("event=control request=stop uid=%u", c->uid);
	reply(c, id, true, "stopping");
	ops->stop();
}

static void
run_status(struct conn *c, uint64_t id)
{
	struct ipc_ctl_status_reply	r;

	ops->status(&r);
	ipc_proto_send(c->chan, IPC_CTL_STATUS_REPLY, id, &r, sizeof(r), -1);
}

static void
conn_msg(struct ipc_chan *chan, struct ipc_msg *im, void *arg)
{
	struct conn	*c = arg;

	if (im->fd != -1)
		close(im->fd);
	if (im->type == IPC_CTL_RELOAD && c->reload_id != 0)
		reply(c, im->id, false, "a reload is in progress");
	else if (im->type == IPC_CTL_RELOAD)
		run_reload(c, im->id != 0 ? im->id : 1);
	else if (im->type == IPC_CTL_STOP)
		run_stop(c, im->id);
	else if (im->type == IPC_CTL_STATUS)
		run_status(c, im->id);
	else {
		log_warn("event=control-error uid=%u reason=\"unexpected %s\"",
		    c->uid, ipc_type_str(im->type));
		reply(c, im->id, false, "unknown request");
	}
}

static void
conn_free(struct conn *c)
{
	struct conn	**pp;

	for (pp = &conns; *pp != NULL && *pp != c; pp = &(*pp)->next)
		;
	if (*pp != NULL)
		*pp = c->next;
	nconns--;
	ipc_chan_free(c->chan);
	free(c);
}

static void
conn_closed(struct ipc_chan *chan, void *arg)
{
	conn_free(arg);
}

/* parent_ctl_reload_done - see parent_ctl.h. */
void
parent_ctl_reload_done(bool ok, const char *reason)
{
	for (struct conn *c = conns; c != NULL; c = c->next)
		if (c->reload_id != 0) {
			reply(c, c->reload_id, ok, ok ? "reloaded" : reason);
			c->reload_id = 0;
		}
}

/* peer_uid - the caller's uid, or -1 when it may not use the socket. */
static long
peer_uid(int fd)
{
	struct ucred	cred;
	socklen_t	len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1)
		return -1;
	if (cred.uid != 0 && cred.uid != geteuid()) {
		log_warn("event=control-refused uid=%u", (unsigned)cred.uid);
		return -1;
	}
	return (long)cred.uid;
}

static void
on_accept(evutil_socket_t lfd, short ev, void *arg)
{
	int		 fd;
	long		 uid;
	struct conn	*c;

	while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK |
	    SOCK_CLOEXEC)) != -1) {
		if ((uid = peer_uid(fd)) == -1 || nconns >= CONNS_MAX) {
			close(fd);
			continue;
		}
		c = xcalloc(1, sizeof(*c));
		c->uid = (unsigned)uid;
		c->chan = ipc_chan_new(base, fd, -1, conn_msg, conn_closed, c);
		c->next = conns;
		conns = c;
		nconns++;
	}
}

/* write_pid - the pid file, replaced whole (a stale one is only ever
 * overwritten: the socket bind refused to start beside a live server). */
static void
write_pid(void)
{
	char	*tmp, line[32];
	int	 fd, n = snprintf(line, sizeof(line), "%ld\n", (long)getpid());

	xasprintf(&tmp, "%s.tmp", pid_path);
	(void)unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0644);
	if (fd == -1 || write(fd, line, (size_t)n) != n || close(fd) == -1 ||
	    rename(tmp, pid_path) == -1)
		fatal("cannot write the pid file %s", pid_path);
	free(tmp);
}

/* parent_ctl_start - see parent_ctl.h. */
void
parent_ctl_start(struct event_base *b, const char *state_dir,
    const struct parent_ctl_ops *o)
{
	base = b;
	ops = o;
	sock_path = control_state_file(state_dir, CONTROL_MASTER);
	pid_path = control_state_file(state_dir, CONTROL_PID);
	listen_fd = control_bind(sock_path, 0600, false, 0, 0);
	write_pid();
	accept_ev = event_new(b, listen_fd, EV_READ | EV_PERSIST, on_accept,
	    NULL);
	if (accept_ev == NULL || event_add(accept_ev, NULL) == -1)
		fatalx("parent_ctl: event_new failed");
}

/* parent_ctl_close - see parent_ctl.h. */
void
parent_ctl_close(void)
{
	if (sock_path == NULL)
		return;
	/* The socket and the pid file go first: "postbote stop" returns
	 * when its connection closes, and a "status" or "serve" right after
	 * must find no server here. */
	event_free(accept_ev);
	close(listen_fd);
	unlink(sock_path);
	unlink(pid_path);
	while (conns != NULL)
		conn_free(conns);
	free(sock_path);
	free(pid_path);
	sock_path = pid_path = NULL;
}
