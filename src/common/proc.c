/*
 * proc.c - the child runtime (proc.h): what smtpd, queue, lookup and
 * deliver share from their fork to their exit.  It closes the descriptors
 * a child must not keep, lets the process take what it needs from the
 * parent (postfork, as root), wipes and frees the rest, drops privileges
 * to `user`, and runs the event loop with the channels to the parent and
 * the peers: IPC_PEER wires a peer, IPC_RELOAD swaps the config,
 * IPC_SHUTDOWN and SIGTERM stop.  Runs in every child; the parent's
 * frames are trusted to come from the parent but are still checked.
 */
#include <sys/prctl.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

#include "common/conf.h"
#include "common/lookup_tab.h"
#include "common/proc.h"
#include "lib/ipc_proto.h"
#include "lib/log.h"
#include "lib/util.h"

static const struct proc_module *module;
static struct event_base *cbase;
static struct ipc_chan	*parent_chan;
static struct ipc_chan	*peers[PROC_MAX];

static void	 child_exit(void) __attribute__((noreturn));

const char *
proc_name(int id)
{
	static const char *names[PROC_MAX] = { "parent", "smtpd", "queue",
	    "lookup", "deliver" };

	return id >= 0 && id < PROC_MAX ? names[id] : "?";
}

struct event_base *
proc_base(void)
{
	return cbase;
}

struct ipc_chan *
proc_peer(int id)
{
	return id >= 0 && id < PROC_MAX ? peers[id] : NULL;
}

int
proc_send(int id, uint16_t type, uint64_t rid, const struct buf *b, int fd)
{
	if (id < 0 || id >= PROC_MAX || peers[id] == NULL) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return ipc_send(peers[id], type, rid, b, fd);
}

int
proc_send_msg(int id, uint16_t type, uint64_t rid, const void *msg,
    size_t msize, int fd)
{
	if (id < 0 || id >= PROC_MAX || peers[id] == NULL) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return ipc_proto_send(peers[id], type, rid, msg, msize, fd);
}

void
proc_exit(void)
{
	event_base_loopexit(cbase, NULL);
}

static void
peer_msg(struct ipc_chan *c, struct ipc_msg *m, void *arg)
{
	module->msg(ipc_chan_peer(c), m);
}

static void
peer_closed(struct ipc_chan *c, void *arg)
{
	int	id = ipc_chan_peer(c);

	if (peers[id] == c) {
		peers[id] = NULL;
		module->peer_down(id);
	}
	ipc_chan_free(c);
}

/*
 * child_reload - IPC_RELOAD: the new config text, parsed here, and what
 * this process needs besides; the module may refuse it (configure), and
 * the old config then stays.
 */
static void
child_reload(struct ipc_msg *m)
{
	struct ipc_reload	 in;
	struct proc_reload	 r;
	struct conf		*nc;
	char			 err[512];

	if (IPC_DECODE(m, &in, NULL) == -1) {
		log_warn("event=reload result=failed reason=\"bad message\"");
		return;
	}
	r.users = in.users;
	r.aliases = in.aliases;
	r.tls = in.tls.p;
	r.tlslen = in.tls.len;
	nc = xcalloc(1, sizeof(*nc));
	if (*in.path == '\0')
		conf_defaults(nc);
	else if (conf_parse(in.conf, strlen(in.conf), in.path, nc, err,
	    sizeof(err)) == -1) {
		log_warn("event=reload result=failed reason=\"%s\"",
		    log_safe(err));
		free(nc);
		return;
	}
	if (module->configure != NULL && module->configure(nc, &r) == -1) {
		conf_free(nc);
		free(nc);
		return;
	}
	conf_free(config);
	free(config);
	config = nc;
	module->reload();
}

/* wire - fd is our channel to process id now; the old one goes. */
static void
wire(int id, int fd)
{
	if (peers[id] != NULL) {
		ipc_chan_free(peers[id]);
		peers[id] = NULL;
		module->peer_down(id);
	}
	peers[id] = ipc_chan_new(cbase, fd, id, peer_msg, peer_closed, NULL);
	module->peer_up(id);
}

static void
peer_wire(struct ipc_msg *m)
{
	struct ipc_peer	 in;
	int		 id;

	if (IPC_DECODE(m, &in, NULL) == -1)
		in.proc = PROC_PARENT;
	id = (int)in.proc;
	if (id <= PROC_PARENT || id >= PROC_MAX || m->fd == -1) {
		if (m->fd != -1)
			close(m->fd);
		log_warn("event=ipc-error reason=\"bad peer message\"");
		return;
	}
	wire(id, m->fd);
}

/* proc_attach - see proc.h. */
void
proc_attach(const struct proc_module *m, struct event_base *b)
{
	module = m;
	cbase = b;
}

/* proc_attach_peer - see proc.h. */
void
proc_attach_peer(int id, int fd)
{
	ASSERT(module != NULL && id > PROC_PARENT && id < PROC_MAX);
	wire(id, fd);
}

static void
parent_msg(struct ipc_chan *c, struct ipc_msg *m, void *arg)
{
	switch (m->type) {
	case IPC_PEER:
		peer_wire(m);
		break;
	case IPC_RELOAD:
		child_reload(m);
		break;
	case IPC_SHUTDOWN:
		module->shutdown();
		break;
	default:
		if (m->fd != -1)
			close(m->fd);
		log_warn("event=ipc-error reason=\"unexpected %s from parent\"",
		    ipc_type_str(m->type));
	}
}

static void
parent_closed(struct ipc_chan *c, void *arg)
{
	/* The parent is gone: nobody supervises us any more. */
	_exit(0);
}

/* child_exit - a child's clean end.  Under AddressSanitizer the leak check
 * runs here, since _exit() skips it (and exit() would run the parent's
 * handlers inherited through fork). */
static void
child_exit(void)
{
#if defined(__SANITIZE_ADDRESS__)
	__lsan_do_leak_check();
#endif
	_exit(0);
}

static void
child_sigterm(evutil_socket_t sig, short ev, void *arg)
{
	module->shutdown();
}

static bool
is_inherited(const struct proc_inherit *inh, int fd)
{
	if (fd == inh->control_fd || fd == inh->submit_fd)
		return true;
	for (size_t i = 0; i < inh->nlisten; i++)
		if (inh->listen_fds != NULL && fd == inh->listen_fds[i])
			return true;
	return false;
}

/* close_other_fds - all but stdio, the log, our channel and what the
 * parent handed down (the other children's channels above all). */
static void
close_other_fds(int keep_ctl, const struct proc_inherit *inh)
{
	DIR		*d = opendir("/proc/self/fd");
	struct dirent	*de;
	int		 dfd = d != NULL ? dirfd(d) : -1;

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		int	fd = atoi(de->d_name);

		if (de->d_name[0] == '.' || fd <= 2 || fd == dfd ||
		    fd == keep_ctl || fd == log_fd() || is_inherited(inh, fd))
			continue;
		close(fd);
	}
	closedir(d);
}

/* release - what postfork did not take goes before the privilege drop. */
static void
release(struct proc_inherit *inh)
{
	for (size_t i = 0; i < inh->nlisten; i++)
		if (inh->listen_fds != NULL && inh->listen_fds[i] != -1)
			close(inh->listen_fds[i]);
	inh->nlisten = 0;
	if (inh->control_fd != -1)
		close(inh->control_fd);
	if (inh->submit_fd != -1)
		close(inh->submit_fd);
	inh->control_fd = inh->submit_fd = -1;
	if (inh->tls != NULL && inh->tls->data != NULL)
		explicit_bzero(inh->tls->data, inh->tls->cap);
	if (inh->tls != NULL)
		buf_free(inh->tls);
	lookup_tab_free(inh->tables);
	inh->tables = NULL;
}

static void
drop_privileges(const struct proc_user *u)
{
	if (!u->drop)
		return;
	if (setgroups(1, &u->gid) == -1 ||
	    setresgid(u->gid, u->gid, u->gid) == -1 ||
	    setresuid(u->uid, u->uid, u->uid) == -1)
		fatal("cannot drop privileges to user %s", config->user);
	if (setuid(0) != -1)
		fatalx("privileges could be regained after the drop");
}

static void
default_signals(void)
{
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGCHLD, SIG_DFL);
}

/* proc_child - see proc.h. */
void
proc_child(const struct proc_module *m, int ctlfd,
    struct proc_inherit *inh, const struct proc_user *u)
{
	struct event	*sigterm;

	module = m;
	log_setproc(module->name);
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	default_signals();
	close_other_fds(ctlfd, inh);
	if (inh->forget != NULL)
		inh->forget();
	default_signals();	/* the parent's loop put its own back */
	if (module->postfork != NULL)
		module->postfork(inh);
	release(inh);
	/* The children work in state_dir: what they open there is found
	 * from it, whatever the folders above it let `user` do. */
	if (chdir(config->state_dir) == -1)
		fatal("cannot enter state_dir %s", config->state_dir);
	drop_privileges(u);
	if ((cbase = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	sigterm = evsignal_new(cbase, SIGTERM, child_sigterm, NULL);
	event_add(sigterm, NULL);
	parent_chan = ipc_chan_new(cbase, ctlfd, PROC_PARENT, parent_msg,
	    parent_closed, NULL);
	module->init(cbase);
	log_debug("event=started");
	event_base_dispatch(cbase);
	child_exit();
}
