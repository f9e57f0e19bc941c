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
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <limits.h>
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
#include "common/stats.h"
#include "common/tls.h"
#include "lib/ipc_proto.h"
#include "lib/log.h"
#include "lib/util.h"
#include "parent/parent.h"
#include "lib/sdnotify.h"
#include "parent/parent_ctl.h"
#include "parent/parent_setup.h"

#define RESTART_WINDOW	60		/* seconds */
#define RESTART_MAX	10		/* restarts per window before giving up */
#define STOP_GRACE	15		/* seconds before SIGKILL */
#define RELOAD_TIMEOUT	30		/* seconds for the children's answers */

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
#define RSS_PERIOD	5	/* seconds between memory figures */
static int		 metrics_fd = -1;	/* queue's HTTP listener */
static int		 stats_fd = -1;		/* the shared counters */
static struct event	*rss_timer;		/* their memory figures */
static char		*control_file, *submit_file;
static struct proc_user	 run_as;
static bool		 stopping;
static struct event	*stop_timer;
static struct parent_texts texts;
static bool		 verbose;
static time_t		 started;

/* The reload under way (see reload_begin). */
static struct {
	unsigned		 pending;	/* bit per child yet to answer */
	uint64_t		 gen;		/* the id of the last IPC_RELOAD */
	bool			 rollback;	/* gen puts the old config back */
	struct parent_prev	 prev;
	time_t			 last;		/* when the last one ended */
	char			 result[1100];	/* "ok", "failed: why" */
} rl;
static struct event	*reload_timer;

static void	 connect_peers(int id);
static void	 send_start(int id);
static void	 reload_answer(int id, uint64_t gen, bool ok, const char *why);

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
	struct proc_inherit	 inh = { .control_fd = -1, .submit_fd = -1,
	    .metrics_fd = -1, .stats_fd = stats_fd };

	if (m->needs & PROC_NEEDS_LISTENERS) {
		inh.listen_fds = listen_fds;
		inh.nlisten = nlisten_fds;
	}
	if (m->needs & PROC_NEEDS_CONTROL) {
		inh.control_fd = control_fd;
		inh.submit_fd = submit_fd;
		inh.metrics_fd = metrics_fd;
	}
	proc_exec(m, ctlfd, &inh, verbose);
}

/* ctl_msg - a child's frame on its channel to us: a reload's answer. */
static void
ctl_msg(struct ipc_chan *c, struct ipc_msg *m, void *arg)
{
	struct ipc_reply	r;

	if (m->fd != -1)
		close(m->fd);
	if (m->type != IPC_RELOAD_DONE || IPC_DECODE(m, &r, NULL) == -1) {
		log_warn("event=ipc-error process=%s reason=\"unexpected %s\"",
		    proc_name(ipc_chan_peer(c)), ipc_type_str(m->type));
		return;
	}
	reload_answer(ipc_chan_peer(c), m->id, r.ok != 0, r.text);
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
		else {
			if (rl.pending & (1u << id))
				reload_answer(id, rl.gen, false, "exited "
				    "during the reload");
			restart(id);
		}
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

/* begin_stop - the clean stop, asked for by a signal or the control
 * socket (how says which). */
static void
begin_stop(const char *how)
{
	struct timeval	tv = { STOP_GRACE, 0 };

	if (stopping)
		return;
	stopping = true;
	log_info("event=stopping %s", how);
	sdnotify("STOPPING=1\nSTATUS=stopping");
	stop_timer = evtimer_new(pbase, stop_timeout, NULL);
	evtimer_add(stop_timer, &tv);
	stop_next();
}

static void
on_stop(evutil_socket_t sig, short ev, void *arg)
{
	char	how[32];

	snprintf(how, sizeof(how), "signal=%d", (int)sig);
	begin_stop(how);
}

static void
ctl_stop(void)
{
	begin_stop("request=control");
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
send_frame(int i, uint16_t type, uint64_t id, const void *m, size_t msize,
    const struct ipc_reload *r)
{
	struct buf	b;

	buf_init(&b, 0);
	buf_reserve(&b, strlen(r->conf) + strlen(r->users) +
	    strlen(r->aliases) + strlen(r->path) + r->tls.len + r->dkim.len +
	    strlen(conf_base_dir()) + 128);
	ipc_proto_encode(&b, type, m, msize);
	ipc_send(children[i].ctl, type, id, &b, -1);
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
	send_frame(i, IPC_START, 0, &s, sizeof(s), &s.reload);
}

/* send_reload - IPC_RELOAD number gen to child i, with what its module
 * needs. */
static void
send_reload(int i, uint64_t gen)
{
	struct ipc_reload	r;

	fill_reload(i, &r);
	send_frame(i, IPC_RELOAD, gen, &r, sizeof(r), &r);
}

/*
 * A reload runs in two steps: the parent loads and checks the new config
 * (parent_setup_reload, keeping the old one), sends it to each child, and
 * counts their IPC_RELOAD_DONE.  Only when all applied it is the reload
 * done (event=reload result=ok); when one refused, or died, or did not
 * answer in RELOAD_TIMEOUT, the old config is restored and sent to all
 * again (a "rollback" reload, whose answers are only logged), and the
 * reload failed with that child's reason.
 */
static void
reload_finish(bool ok, const char *reason)
{
	char	msg[1024];

	evtimer_del(reload_timer);
	rl.pending = 0;
	rl.last = time(NULL);
	if (ok) {
		parent_setup_forget(&rl.prev);
		str_copy(rl.result, "ok", sizeof(rl.result));
		log_info("event=reload result=ok");
	} else {
		str_copy(msg, reason, sizeof(msg));
		snprintf(rl.result, sizeof(rl.result), "failed: %s", msg);
		log_warn("event=reload result=failed reason=\"%s\" "
		    "config=kept", log_safe(msg));
		if (rl.prev.config != NULL) {
			parent_setup_restore(&texts, &rl.prev);
			rl.rollback = true;
			rl.gen++;
			for (int i = 1; i < PROC_MAX; i++)
				if (children[i].ctl != NULL)
					send_reload(i, rl.gen);
		}
	}
	sdnotify("READY=1\nSTATUS=%s", ok ? "reloaded" : "reload failed, "
	    "old config kept");
	parent_ctl_reload_done(ok, ok ? "" : msg);
}

/* reload_answer - child id's IPC_RELOAD_DONE (or its death, or the
 * timeout, with ok false). */
static void
reload_answer(int id, uint64_t gen, bool ok, const char *why)
{
	char	reason[1024];

	if (gen != rl.gen || !(rl.pending & (1u << id))) {
		if (!ok && gen == rl.gen && rl.rollback)
			log_warn("event=reload process=%s result=failed "
			    "reason=\"%s\" rollback=yes", proc_name(id),
			    log_safe(why));
		return;
	}
	rl.pending &= ~(1u << id);
	if (!ok) {
		snprintf(reason, sizeof(reason), "%s: %s", proc_name(id), why);
		rl.pending = 0;
		reload_finish(false, reason);
		return;
	}
	if (rl.pending == 0)
		reload_finish(true, "");
}

static void
reload_timeout(evutil_socket_t fd, short ev, void *arg)
{
	for (int i = 1; i < PROC_MAX; i++)
		if (rl.pending & (1u << i)) {
			reload_answer(i, rl.gen, false, "did not answer");
			return;
		}
}

/* reload_begin - see struct parent_ctl_ops; SIGHUP too. */
static int
reload_begin(char *err, size_t errlen)
{
	char		*path;
	struct timeval	 tv = { RELOAD_TIMEOUT, 0 };
	int		 rc;

	if (rl.pending != 0) {
		snprintf(err, errlen, "a reload is in progress");
		return -1;
	}
	if (stopping) {
		snprintf(err, errlen, "the server is stopping");
		return -1;
	}
	log_info("event=reload");
	sdnotify("RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading",
	    sdnotify_monotonic_usec());
	/* a server on the embedded defaults stays on them */
	path = xstrdup(config->path != NULL ? config->path : "");
	rc = parent_setup_reload(path, &texts, &rl.prev, err, errlen);
	free(path);
	if (rc == -1) {
		rl.last = time(NULL);
		snprintf(rl.result, sizeof(rl.result), "failed: %s", err);
		sdnotify("READY=1\nSTATUS=reload refused, old config kept");
		return -1;
	}
	/* Certificates that do not load fail the reload as a bad key does:
	 * the old material and config stay. */
	if (tls_material_load(config, err, errlen) == -1) {
		parent_setup_restore(&texts, &rl.prev);
		rl.last = time(NULL);
		snprintf(rl.result, sizeof(rl.result), "failed: %s", err);
		log_warn("event=reload result=failed reason=\"%s\" "
		    "config=kept", log_safe(err));
		sdnotify("READY=1\nSTATUS=reload refused, old config kept");
		return -1;
	}
	/* A domain added by this reload gets its mailbox folder now. */
	parent_setup_mailboxes(&run_as);
	rl.gen++;
	rl.rollback = false;
	for (int i = 1; i < PROC_MAX; i++)
		if (children[i].ctl != NULL) {
			rl.pending |= 1u << i;
			send_reload(i, rl.gen);
		}
	if (rl.pending == 0)
		reload_finish(true, "");
	else
		evtimer_add(reload_timer, &tv);
	return 0;
}

static void
on_reload(evutil_socket_t sig, short ev, void *arg)
{
	char	err[1024];

	if (reload_begin(err, sizeof(err)) == -1 && rl.pending != 0)
		log_warn("event=reload result=busy");
}

/* ctl_status - see struct parent_ctl_ops. */
static void
ctl_status(struct ipc_ctl_status_reply *r)
{
	static struct buf	ls, ps;

	buf_free(&ls);
	buf_free(&ps);
	buf_init(&ls, 0);
	buf_init(&ps, 0);
	for (size_t i = 0; i < config->nlistens; i++) {
		const struct conf_listen *l = &config->listens[i];

		buf_printf(&ls, "%s %s%s%s:%u %s\n", l->name,
		    strchr(l->host, ':') ? "[" : "", l->host,
		    strchr(l->host, ':') ? "]" : "", l->port,
		    conf_listen_mode_str(l->mode));
	}
	for (int i = 1; i < PROC_MAX; i++)
		buf_printf(&ps, "%s %ld\n", proc_name(i),
		    (long)children[i].pid);
	memset(r, 0, sizeof(*r));
	r->pid = (uint64_t)getpid();
	r->started = (uint64_t)started * 1000000;
	r->version = POSTBOTE_VERSION;
	r->config = config->path != NULL ? config->path : "";
	r->state_dir = config->state_dir;
	r->listeners = buf_cstr(&ls);
	r->processes = buf_cstr(&ps);
	r->reloaded = (uint64_t)rl.last * 1000000;
	r->reload_result = rl.result;
}

static const struct parent_ctl_ops ctl_ops = {
	.reload = reload_begin,
	.stop = ctl_stop,
	.status = ctl_status,
};

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

/* dovecot_warnings - a Dovecot socket that is not there (yet), and a
 * recipient_check that no domain uses (warnings, not errors). */
static void
dovecot_warnings(void)
{
	const struct conf_deliver *socks[] = { &config->auth_backend,
	    &config->recipient_check };
	const char *const	 keys[] = { "auth_backend", "recipient_check" };
	struct stat		 st;
	bool			 used = false;

	for (size_t i = 0; i < 2; i++)
		if (socks[i]->kind == CONF_DELIVER_LMTP_UNIX &&
		    stat(socks[i]->host, &st) == -1)
			fprintf(stderr, "postbote: warning: %s: %s: %s\n",
			    keys[i], socks[i]->host, strerror(errno));
	for (size_t i = 0; i < config->ndomains; i++)
		used |= conf_recipient_checked(config, config->domains[i]);
	if (config->recipient_check.target != NULL && !used)
		fprintf(stderr, "postbote: warning: recipient_check: no local "
		    "domain is delivered over LMTP, so no recipient is "
		    "checked\n");
}

/* check - parent_check and parent_check_config.  The certificate files
 * are read when tls_cert names them (the self-signed pair is serve's to
 * make); with probe, each listener's address is tried. */
static int
check(const char *path, bool probe)
{
	char	err[512], where[PATH_MAX + 128];

	if (parent_setup_load(path, &texts) == -1)
		return -1;
	postmaster_warnings();
	if (probe)
		parent_setup_probe();
	dovecot_warnings();
	if (config->tls_cert != NULL &&
	    tls_material_load(config, err, sizeof(err)) == -1) {
		parent_setup_locate(&texts, err, where, sizeof(where));
		fprintf(stderr, "postbote: %s%s\n", where, err);
		return -1;
	}
	return 0;
}

/* parent_check - see parent.h. */
int
parent_check(const char *path)
{
	return check(path, true);
}

/* parent_check_config - see parent.h. */
int
parent_check_config(const char *path)
{
	return check(path, false);
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
	metrics_fd = parent_setup_metrics();
}

/* rss_of - the resident memory of process pid, from /proc. */
static uint64_t
rss_of(pid_t pid)
{
	char			 path[64];
	unsigned long long	 size, rss;
	FILE			*f;
	int			 n;

	snprintf(path, sizeof(path), "/proc/%ld/statm", (long)pid);
	if ((f = fopen(path, "re")) == NULL)
		return 0;
	n = fscanf(f, "%llu %llu", &size, &rss);
	fclose(f);
	return n == 2 ? rss * (uint64_t)sysconf(_SC_PAGESIZE) : 0;
}

/* on_rss - every few seconds: each process's memory into the counters,
 * where the queue's /metrics reads it (the parent reads /proc, which the
 * sandboxed children may not). */
static void
on_rss(evutil_socket_t fd, short ev, void *arg)
{
	struct timeval	 tv = { RSS_PERIOD, 0 };

	stats_set_process(PROC_PARENT, getpid(), rss_of(getpid()));
	for (int id = PROC_PARENT + 1; id < PROC_MAX; id++)
		if (children[id].pid > 0)
			stats_set_process(id, children[id].pid,
			    rss_of(children[id].pid));
	evtimer_add(rss_timer, &tv);
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
	if (sdnotify_init() == -1)
		log_warn("event=notify reason=\"NOTIFY_SOCKET is not a socket "
		    "address\"");
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
		char	where[PATH_MAX + 128];

		parent_setup_locate(&texts, err, where, sizeof(where));
		log_warn("event=tls-load result=failed reason=\"%s%s\"",
		    log_safe(where), log_safe(err));
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	listen_fds = parent_setup_listen(&nlisten_fds);
	bind_control();
	if ((stats_fd = stats_create()) == -1)
		fatal("cannot make the counters");
	if ((pbase = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	for (size_t i = 0; i < NELEM(sigs); i++) {
		ev[i] = evsignal_new(pbase, sigs[i], cb[i], NULL);
		event_add(ev[i], NULL);
	}
	if ((reload_timer = evtimer_new(pbase, reload_timeout, NULL)) == NULL)
		fatalx("evtimer_new failed");
	parent_ctl_start(pbase, config->state_dir, &ctl_ops);
	started = time(NULL);
	log_start();
	for (int id = PROC_QUEUE; id < PROC_MAX; id++)
		spawn(id);
	spawn(PROC_SMTPD);
	sdnotify("READY=1\nMAINPID=%ld\nSTATUS=running, %zu listener%s",
	    (long)getpid(), config->nlistens, config->nlistens == 1 ? "" :
	    "s");
	if ((rss_timer = evtimer_new(pbase, on_rss, NULL)) == NULL)
		fatalx("evtimer_new failed");
	on_rss(-1, 0, NULL);
	/* From here the lines of a loop turn leave together at its end. */
	log_set_base(pbase);
	event_base_dispatch(pbase);
	log_set_base(NULL);
	/* The listeners too, before "postbote stop" is told (below), so
	 * that a server started right after can bind them. */
	for (size_t i = 0; i < nlisten_fds; i++)
		close(listen_fds[i]);
	free(listen_fds);
	listen_fds = NULL;
	nlisten_fds = 0;
	close(control_fd);
	close(submit_fd);
	if (metrics_fd != -1)
		close(metrics_fd);
	close(stats_fd);
	unlink(control_file);
	unlink(submit_file);
	free(control_file);
	free(submit_file);
	/* Last: "postbote stop" waits for this socket to close. */
	parent_ctl_close();
	event_free(reload_timer);
	parent_setup_forget(&rl.prev);
	for (size_t i = 0; i < NELEM(sigs); i++)
		event_free(ev[i]);
	if (stop_timer != NULL)
		event_free(stop_timer);
	event_free(rss_timer);
	event_base_free(pbase);
	tls_material_wipe();
	parent_setup_free_texts(&texts);
	return 0;
}
