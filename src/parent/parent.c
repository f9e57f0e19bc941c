/*
 * parent.c - "postbote serve": the parent process (parent.h).  Root if
 * started so, it reads the config, its tables and the private keys
 * (parent_setup.c, common/tls.c), binds the listeners and the control
 * sockets, then starts smtpd, queue, lookup and deliver, wires their
 * socketpairs, restarts a child that dies, reloads on SIGHUP and stops
 * cleanly on SIGTERM/SIGINT.  It holds no mail and reads no network byte.
 * Each child re-executes the binary (common/proc.c), so it inherits only
 * the descriptors its module says it needs (PROC_NEEDS_*), and gets in its
 * start (IPC_START) only the tables or keys it needs: the TLS keys go to
 * smtpd alone, the [dkim] keys to smtpd and queue.
 */
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/conf.h"
#include "common/control.h"
#include "common/lookup_tab.h"
#include "common/proc.h"
#include "common/tls.h"
#include "lib/ipc_proto.h"
#include "lib/log.h"
#include "lib/util.h"
#include "parent/parent.h"
#include "parent/parent_setup.h"

#define RESTART_WINDOW	60		/* seconds */
#define RESTART_MAX	10		/* restarts per window before giving up */
#define STOP_GRACE	15		/* seconds before SIGKILL */

struct child {
	pid_t		 pid;
	struct ipc_chan	*ctl;
	time_t		 window_start;
	int		 restarts;
};

/* Which processes talk to each other directly. */
static const int links[][2] = {
	{ PROC_SMTPD, PROC_QUEUE }, { PROC_SMTPD, PROC_LOOKUP },
	{ PROC_QUEUE, PROC_DELIVER }, { PROC_QUEUE, PROC_LOOKUP },
};

static const struct proc_module *const *modules;
static struct child	 children[PROC_MAX];
static struct event_base *pbase;
static int		*listen_fds;
static size_t		 nlisten_fds;
static int		 control_fd = -1;	/* queue's control socket */
static int		 submit_fd = -1;	/* queue's submission socket */
static char		*control_file, *submit_file;
static struct proc_user	 run_as;
static bool		 stopping;
static struct event	*stop_timer;
static struct parent_texts texts;
static bool		 verbose;

static void	 connect_peers(int id);
static void	 send_start(int id);

/*
 * child_exec - in the new child: re-execute the binary as that process,
 * with the descriptors its module needs; its config, tables and keys come
 * in the start (send_start), so nothing of this process's memory goes
 * along.
 */
static void __attribute__((noreturn))
child_exec(int id, int ctlfd)
{
	const struct proc_module *m = modules[id];
	struct proc_inherit	 inh = { .control_fd = -1, .submit_fd = -1 };

	if (m->needs & PROC_NEEDS_LISTENERS) {
		inh.listen_fds = listen_fds;
		inh.nlisten = nlisten_fds;
	}
	if (m->needs & PROC_NEEDS_CONTROL) {
		inh.control_fd = control_fd;
		inh.submit_fd = submit_fd;
	}
	proc_exec(m, ctlfd, &inh, verbose);
}

static void
ctl_msg(struct ipc_chan *c, struct ipc_msg *m, void *arg)
{
	if (m->fd != -1)
		close(m->fd);
}

static void
ctl_closed(struct ipc_chan *c, void *arg)
{
	/* The child's exit is handled on SIGCHLD. */
}

static void
spawn(int id)
{
	int	 sv[2];
	pid_t	 pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		fatal("socketpair");
	if ((pid = fork()) == -1)
		fatal("fork");
	if (pid == 0) {
		close(sv[0]);
		child_exec(id, sv[1]);
	}
	close(sv[1]);
	children[id].pid = pid;
	children[id].ctl = ipc_chan_new(pbase, sv[0], id, ctl_msg, ctl_closed,
	    NULL);
	send_start(id);		/* its first frame, before any IPC_PEER */
	log_info("event=spawn process=%s pid=%ld", proc_name(id), (long)pid);
	connect_peers(id);
}

static void
connect_peers(int id)
{
	for (size_t i = 0; i < NELEM(links); i++) {
		int		 a = links[i][0], b = links[i][1], sv[2];
		struct ipc_peer	 pa = { (uint32_t)b }, pb = { (uint32_t)a };

		if ((a != id && b != id) || children[a].pid == 0 ||
		    children[b].pid == 0)
			continue;
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
			fatal("socketpair");
		ipc_proto_send(children[a].ctl, IPC_PEER, 0, &pa, sizeof(pa),
		    sv[0]);
		ipc_proto_send(children[b].ctl, IPC_PEER, 0, &pb, sizeof(pb),
		    sv[1]);
	}
}

static bool
all_exited(void)
{
	for (int i = 1; i < PROC_MAX; i++)
		if (children[i].pid != 0)
			return false;
	return true;
}

static void
stop_next(void)
{
	/* smtpd first, so that sessions finish their commits; then the rest. */
	if (children[PROC_SMTPD].pid != 0) {
		kill(children[PROC_SMTPD].pid, SIGTERM);
		return;
	}
	for (int i = 1; i < PROC_MAX; i++)
		if (children[i].pid != 0)
			kill(children[i].pid, SIGTERM);
}

/* restart - a child died while we were not stopping: again, unless it
 * keeps dying. */
static void
restart(int id)
{
	if (time(NULL) - children[id].window_start > RESTART_WINDOW) {
		children[id].window_start = time(NULL);
		children[id].restarts = 0;
	}
	if (++children[id].restarts > RESTART_MAX)
		fatalx("process %s died %d times in %d seconds; giving up",
		    proc_name(id), RESTART_MAX, RESTART_WINDOW);
	spawn(id);
}

/*
 * log_death - child id was killed by sig.  SIGSYS is its seccomp filter
 * refusing a system call (sandbox.h): said plainly, since it is either
 * an attack or a call the filter misses; the kernel log has the call.
 */
static void
log_death(int id, pid_t pid, int sig)
{
	const char	*name = sigabbrev_np(sig);

	log_info("event=exit process=%s pid=%ld signal=%d", proc_name(id),
	    (long)pid, sig);
	log_warn("event=child-died process=%s pid=%ld signal=SIG%s reason=%s%s",
	    proc_name(id), (long)pid, name != NULL ? name : "?",
	    sig == SIGSYS ? "seccomp" : "signal",
	    sig == SIGSYS ? " hint=\"a system call outside its filter: see "
	    "the kernel log (type=1326), POSTBOTE_SECCOMP=log\"" : "");
}

static void
reap(evutil_socket_t sig, short ev, void *arg)
{
	pid_t	pid;
	int	status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		int	id = 0;

		for (int i = 1; i < PROC_MAX; i++)
			if (children[i].pid == pid)
				id = i;
		if (id == 0)
			continue;
		children[id].pid = 0;
		ipc_chan_free(children[id].ctl);
		children[id].ctl = NULL;
		if (WIFSIGNALED(status))
			log_death(id, pid, WTERMSIG(status));
		else
			log_info("event=exit process=%s pid=%ld status=%d",
			    proc_name(id), (long)pid, WEXITSTATUS(status));
		if (stopping)
			stop_next();
		else
			restart(id);
	}
	if (stopping && all_exited()) {
		log_info("event=stopped");
		event_base_loopexit(pbase, NULL);
	}
}

static void
stop_timeout(evutil_socket_t fd, short ev, void *arg)
{
	for (int i = 1; i < PROC_MAX; i++)
		if (children[i].pid != 0) {
			log_warn("event=kill process=%s reason=\"did not stop "
			    "in %d seconds\"", proc_name(i), STOP_GRACE);
			kill(children[i].pid, SIGKILL);
		}
}

static void
on_stop(evutil_socket_t sig, short ev, void *arg)
{
	struct timeval	tv = { STOP_GRACE, 0 };

	if (stopping)
		return;
	stopping = true;
	log_info("event=stopping signal=%d", (int)sig);
	stop_timer = evtimer_new(pbase, stop_timeout, NULL);
	evtimer_add(stop_timer, &tv);
	stop_next();
}

/* fill_reload - what child i gets of the config, tables and keys. */
static void
fill_reload(int i, struct ipc_reload *r)
{
	unsigned	need = modules[i]->needs;

	memset(r, 0, sizeof(*r));
	r->conf = buf_cstr(&texts.conf);
	r->path = config->path != NULL ? config->path : "";
	r->users = need & PROC_NEEDS_TABLES ? buf_cstr(&texts.users) : "";
	r->aliases = need & PROC_NEEDS_TABLES ? buf_cstr(&texts.aliases) : "";
	if (need & PROC_NEEDS_TLS) {
		r->tls.p = tls_material.data;
		r->tls.len = tls_material.len;
	}
	if (need & PROC_NEEDS_DKIM) {
		r->dkim.p = texts.dkim.data;
		r->dkim.len = texts.dkim.len;
	}
}

/* send_frame - encode m (type, msize bytes) in a buffer reserved once,
 * so that the keys are not copied by a growing buffer, send it to child
 * i and wipe it. */
static void
send_frame(int i, uint16_t type, const void *m, size_t msize,
    const struct ipc_reload *r)
{
	struct buf	b;

	buf_init(&b, 0);
	buf_reserve(&b, strlen(r->conf) + strlen(r->users) +
	    strlen(r->aliases) + strlen(r->path) + r->tls.len + r->dkim.len +
	    strlen(conf_base_dir()) + 128);
	ipc_proto_encode(&b, type, m, msize);
	ipc_send(children[i].ctl, type, 0, &b, -1);
	if (b.data != NULL)
		explicit_bzero(b.data, b.cap);
	buf_free(&b);
}

/* send_start - IPC_START to the new child i: who it runs as, the base of
 * the config's relative paths, and what a reload would bring it. */
static void
send_start(int i)
{
	struct ipc_start	s;

	memset(&s, 0, sizeof(s));
	s.base_dir = conf_base_dir();
	s.drop = run_as.drop;
	s.uid = (uint32_t)run_as.uid;
	s.gid = (uint32_t)run_as.gid;
	if (modules[i]->sandbox->flags & SANDBOX_OWN_USER) {
		s.uid = (uint32_t)run_as.own_uid;
		s.gid = (uint32_t)run_as.own_gid;
	}
	fill_reload(i, &s.reload);
	send_frame(i, IPC_START, &s, sizeof(s), &s.reload);
}

/* send_reload - IPC_RELOAD to child i, with what its module needs. */
static void
send_reload(int i)
{
	struct ipc_reload	r;

	fill_reload(i, &r);
	send_frame(i, IPC_RELOAD, &r, sizeof(r), &r);
}

static void
on_reload(evutil_socket_t sig, short ev, void *arg)
{
	char	*path = config->path != NULL ? xstrdup(config->path) : NULL;
	char	 err[512];

	log_info("event=reload");
	if (parent_setup_load(path, &texts) == 0) {
		if (tls_material_load(config, err, sizeof(err)) == -1)
			log_warn("event=reload tls=kept reason=\"%s\"",
			    log_safe(err));
		for (int i = 1; i < PROC_MAX; i++)
			if (children[i].ctl != NULL)
				send_reload(i);
		log_info("event=reload result=ok");
	}
	free(path);
}

/* postmaster_warnings - RFC 5321 4.5.1: postmaster is always accepted;
 * say when nobody would read it (a warning, not an error).  The tables
 * were checked by the load: they load again. */
static void
postmaster_warnings(void)
{
	struct lookup_tab	*t = lookup_tab_new();
	char			 err[512];

	if ((config->users == NULL || lookup_tab_users_load(t, config,
	    buf_cstr(&texts.users), texts.users.len, config->users, err,
	    sizeof(err)) == 0) && (config->aliases == NULL ||
	    lookup_tab_aliases_load(t, config, buf_cstr(&texts.aliases),
	    texts.aliases.len, config->aliases, err, sizeof(err)) == 0))
		for (size_t i = 0; i < config->ndomains; i++)
			if (lookup_tab_postmaster_check(t, config,
			    config->domains[i], err, sizeof(err)) == -1)
				fprintf(stderr, "postbote: warning: %s\n",
				    err);
	lookup_tab_free(t);
}

/* parent_check - see parent.h.  The certificate files are read when
 * tls_cert names them (the self-signed pair is serve's to make). */
int
parent_check(const char *path)
{
	char	err[512];

	if (parent_setup_load(path, &texts) == -1)
		return -1;
	postmaster_warnings();
	if (config->tls_cert != NULL &&
	    tls_material_load(config, err, sizeof(err)) == -1) {
		fprintf(stderr, "postbote: %s\n", err);
		return -1;
	}
	return 0;
}

/* bind_control - the control and submission sockets, owned by the user
 * the queue process runs as. */
static void
bind_control(void)
{
	control_file = control_path(config->state_dir);
	submit_file = control_submit_path(config->state_dir);
	control_fd = control_bind(control_file, 0600, run_as.drop,
	    run_as.uid, run_as.gid);
	submit_fd = control_bind(submit_file, 0666, run_as.drop, run_as.uid,
	    run_as.gid);
}

static void
log_start(void)
{
	log_info("event=start version=%s config=%s state_dir=%s",
	    POSTBOTE_VERSION, config->path ? config->path : "(embedded)",
	    config->state_dir);
	for (size_t i = 0; i < config->nlistens; i++)
		log_info("event=listen name=%s address=%s:%u mode=%s",
		    config->listens[i].name, config->listens[i].host,
		    config->listens[i].port,
		    conf_listen_mode_str(config->listens[i].mode));
}

/* parent_serve - see parent.h. */
int
parent_serve(const char *path, bool verb,
    const struct proc_module *const mods[PROC_MAX])
{
	struct event	*ev[4];
	int		 sigs[4] = { SIGCHLD, SIGTERM, SIGINT, SIGHUP };
	void		(*cb[4])(evutil_socket_t, short, void *) = { reap,
	    on_stop, on_stop, on_reload };
	char		 err[512];

	modules = mods;
	verbose = verb;
	log_init("parent", "stderr", verbose);
	/* The children take the config's relative paths from here too. */
	(void)conf_base_dir();
	if (parent_setup_load(path, &texts) == -1)
		return 2;
	if (log_init("parent", config->log, verbose) == -1) {
		fprintf(stderr, "postbote: cannot open log %s: %s\n",
		    config->log, strerror(errno));
		return 1;
	}
	parent_setup_user(&run_as);
	parent_setup_dirs(&run_as);
	/* Certificates and keys are read here, as root if started so; the
	 * self-signed pair is made on the first start (tls.c). */
	if (tls_material_load(config, err, sizeof(err)) == -1) {
		log_warn("event=tls-load result=failed reason=\"%s\"",
		    log_safe(err));
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	listen_fds = parent_setup_listen(&nlisten_fds);
	bind_control();
	if ((pbase = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	for (size_t i = 0; i < NELEM(sigs); i++) {
		ev[i] = evsignal_new(pbase, sigs[i], cb[i], NULL);
		event_add(ev[i], NULL);
	}
	log_start();
	for (int id = PROC_QUEUE; id < PROC_MAX; id++)
		spawn(id);
	spawn(PROC_SMTPD);
	event_base_dispatch(pbase);
	for (size_t i = 0; i < NELEM(sigs); i++)
		event_free(ev[i]);
	if (stop_timer != NULL)
		event_free(stop_timer);
	event_base_free(pbase);
	close(control_fd);
	close(submit_fd);
	unlink(control_file);
	unlink(submit_file);
	free(control_file);
	free(submit_file);
	tls_material_wipe();
	parent_setup_free_texts(&texts);
	return 0;
}
