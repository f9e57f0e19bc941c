/*
 * proc.c - "postbote serve": the parent process and the common life of its
 * children.  The parent (root if started as root) reads the config, makes
 * the state directories, binds the listeners, then forks smtpd, queue,
 * lookup and deliver, wires their socketpairs, restarts a child that dies,
 * reloads on SIGHUP and stops cleanly on SIGTERM/SIGINT.  It holds no mail
 * and reads no network byte.  Children drop privileges to `user` before
 * their event loop starts.
 */
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netdb.h>
#include <pwd.h>
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
#include "lib/log.h"
#include "common/lookup_tab.h"
#include "common/proc.h"
#include "smtpd/smtp_check.h"
#include "queue/queue_ctl.h"
#include "common/tls.h"
#include "lib/util.h"

#define RESTART_WINDOW	60		/* seconds */
#define RESTART_MAX	10		/* restarts per window before giving up */
#define STOP_GRACE	15		/* seconds before SIGKILL */

struct conf		*config;
struct lookup_tab	*lookup_tables;

struct child {
	pid_t		 pid;
	struct ipc_chan	*ctl;
	time_t		 window_start;
	int		 restarts;
};

static const struct proc_module *modules[PROC_MAX] = {
	[PROC_SMTPD] = &smtpd_module, [PROC_QUEUE] = &queue_module,
	[PROC_LOOKUP] = &lookup_module, [PROC_DELIVER] = &deliver_module,
};

/* Which processes talk to each other directly. */
static const int links[][2] = {
	{ PROC_SMTPD, PROC_QUEUE }, { PROC_SMTPD, PROC_LOOKUP },
	{ PROC_QUEUE, PROC_DELIVER }, { PROC_QUEUE, PROC_LOOKUP },
};

/* parent state */
static struct child	 children[PROC_MAX];
static struct event_base *pbase;
static int		*listen_fds;
static size_t		 nlisten_fds;
static int		 control_fd = -1;	/* queue's control socket */
static int		 submit_fd = -1;	/* queue's submission socket */
static uid_t		 run_uid;
static gid_t		 run_gid;
static bool		 drop_privs;
static bool		 stopping;
static struct event	*stop_timer;
static struct buf	 users_text, aliases_text, conf_text;

/* child state */
static const struct proc_module *module;
static struct event_base *cbase;
static struct ipc_chan	*parent_chan;
static struct ipc_chan	*peers[PROC_MAX];
static int		 my_id;

static void	 spawn(int id);
static void	 child_exit(void) __attribute__((noreturn));
static void	 connect_peers(int id);

const char *
proc_name(int id)
{
	static const char *names[PROC_MAX] = { "parent", "smtpd", "queue",
	    "lookup", "deliver" };

	return id >= 0 && id < PROC_MAX ? names[id] : "?";
}

/* read_file - whole file into b, refusing more than max bytes. */
int
read_file(const char *path, struct buf *b, size_t max)
{
	char	tmp[65536];
	int	fd;
	ssize_t	r;

	buf_reset(b);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	while ((r = read(fd, tmp, sizeof(tmp))) != 0) {
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1 || b->len + (size_t)r > max) {
			if (r != -1)
				errno = EFBIG;
			close(fd);
			return -1;
		}
		buf_append(b, tmp, (size_t)r);
	}
	close(fd);
	return 0;
}

/* ---- child side ---- */

struct event_base *
proc_base(void)
{
	return cbase;
}

/* proc_control_fd - queue only: the listening control socket. */
int
proc_control_fd(void)
{
	return control_fd;
}

/* proc_submit_fd - queue only: the listening submission socket. */
int
proc_submit_fd(void)
{
	return submit_fd;
}

struct ipc_chan *
proc_peer(int id)
{
	return id >= 0 && id < PROC_MAX ? peers[id] : NULL;
}

int
proc_send(int id, uint16_t type, uint64_t rid, const struct buf *b, int fd)
{
	if (peers[id] == NULL) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return ipc_send(peers[id], type, rid, b, fd);
}

void
proc_exit(void)
{
	event_base_loopexit(cbase, NULL);
}

const int *
proc_listen_fds(size_t *n)
{
	*n = nlisten_fds;
	return listen_fds;
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

static void
child_reload(struct ipc_msg *m)
{
	const char	*text = ipc_get_str(m), *path = ipc_get_str(m);
	const char	*users = ipc_get_str(m), *aliases = ipc_get_str(m);
	size_t		 tlslen;
	const void	*tlsm = ipc_get_bytes(m, &tlslen);
	struct conf	*nc = xcalloc(1, sizeof(*nc));
	char		 err[512];

	if (!ipc_msg_ok(m)) {
		free(nc);
		log_warn("event=reload result=failed reason=\"bad message\"");
		return;
	}
	if (*path == '\0')
		conf_defaults(nc);
	else if (conf_parse(text, strlen(text), path, nc, err,
	    sizeof(err)) == -1) {
		log_warn("event=reload result=failed reason=\"%s\"",
		    log_safe(err));
		free(nc);
		return;
	}
	if (my_id == PROC_LOOKUP) {
		struct lookup_tab *t = lookup_tab_new();

		if ((nc->users != NULL && lookup_users_load(t, nc, users,
		    strlen(users), nc->users, err, sizeof(err)) == -1) ||
		    (nc->aliases != NULL && lookup_aliases_load(t, nc, aliases,
		    strlen(aliases), nc->aliases, err, sizeof(err)) == -1)) {
			log_warn("event=reload result=failed reason=\"%s\"",
			    log_safe(err));
			lookup_tab_free(t);
			conf_free(nc);
			free(nc);
			return;
		}
		lookup_tab_free(lookup_tables);
		lookup_tables = t;
	}
	if (my_id == PROC_SMTPD && tlslen > 0) {
		tls_material_wipe();
		buf_append(&tls_material, tlsm, tlslen);
	}
	conf_free(config);
	free(config);
	config = nc;
	module->reload();
}

static void
parent_msg(struct ipc_chan *c, struct ipc_msg *m, void *arg)
{
	int	id;

	switch (m->type) {
	case IPC_PEER:
		id = (int)ipc_get_u32(m);
		if (!ipc_msg_ok(m) || id <= PROC_PARENT || id >= PROC_MAX ||
		    m->fd == -1) {
			if (m->fd != -1)
				close(m->fd);
			log_warn("event=ipc-error reason=\"bad peer message\"");
			return;
		}
		if (peers[id] != NULL) {
			ipc_chan_free(peers[id]);
			peers[id] = NULL;
			module->peer_down(id);
		}
		peers[id] = ipc_chan_new(cbase, m->fd, id, peer_msg,
		    peer_closed, NULL);
		module->peer_up(id);
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

static void
close_other_fds(int keep_ctl, bool keep_listeners)
{
	DIR		*d = opendir("/proc/self/fd");
	struct dirent	*de;
	int		 dfd = d != NULL ? dirfd(d) : -1;

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		int	fd = atoi(de->d_name);
		bool	keep = fd <= 2 || fd == dfd || fd == keep_ctl ||
		    fd == log_fd() ||
		    (my_id == PROC_QUEUE && (fd == control_fd ||
		    fd == submit_fd));

		for (size_t i = 0; keep_listeners && i < nlisten_fds; i++)
			if (fd == listen_fds[i])
				keep = true;
		if (!keep && de->d_name[0] != '.')
			close(fd);
	}
	closedir(d);
}

static void
drop_privileges(void)
{
	if (!drop_privs)
		return;
	if (setgroups(1, &run_gid) == -1 ||
	    setresgid(run_gid, run_gid, run_gid) == -1 ||
	    setresuid(run_uid, run_uid, run_uid) == -1)
		fatal("cannot drop privileges to user %s", config->user);
	if (setuid(0) != -1)
		fatalx("privileges could be regained after the drop");
}

static void __attribute__((noreturn))
child_main(int id, int ctlfd)
{
	struct event	*sigterm;

	my_id = id;
	module = modules[id];
	log_setproc(module->name);
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGCHLD, SIG_DFL);
	close_other_fds(ctlfd, id == PROC_SMTPD);
	/* The parent's loop is not ours: drop it (its descriptors are
	 * closed already) so that its signal handlers go too.  That puts
	 * back the dispositions libevent saved, so set ours after it. */
	event_base_free(pbase);
	pbase = NULL;
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGCHLD, SIG_DFL);
	if (id != PROC_SMTPD)
		nlisten_fds = 0;
	if (id != PROC_LOOKUP) {
		lookup_tab_free(lookup_tables);
		lookup_tables = NULL;
	}
	if (id != PROC_SMTPD)
		tls_material_wipe();	/* only smtpd needs the keys */
	if (id == PROC_SMTPD || id == PROC_QUEUE)
		smtp_check_load_keys();	/* DKIM keys may be root's only; queue
					 * signs local submissions */
	drop_privileges();
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

/* ---- parent side ---- */

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
		child_main(id, sv[1]);
	}
	close(sv[1]);
	children[id].pid = pid;
	children[id].ctl = ipc_chan_new(pbase, sv[0], id, ctl_msg, ctl_closed,
	    NULL);
	log_info("event=spawn process=%s pid=%ld", proc_name(id), (long)pid);
	connect_peers(id);
}

static void
connect_peers(int id)
{
	for (size_t i = 0; i < NELEM(links); i++) {
		int		 a = links[i][0], b = links[i][1], sv[2];
		struct buf	 pa, pb;

		if ((a != id && b != id) || children[a].pid == 0 ||
		    children[b].pid == 0)
			continue;
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
			fatal("socketpair");
		buf_init(&pa, 0);
		buf_init(&pb, 0);
		ipc_put_u32(&pa, (uint32_t)b);
		ipc_put_u32(&pb, (uint32_t)a);
		ipc_send(children[a].ctl, IPC_PEER, 0, &pa, sv[0]);
		ipc_send(children[b].ctl, IPC_PEER, 0, &pb, sv[1]);
		buf_free(&pa);
		buf_free(&pb);
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
			log_info("event=exit process=%s pid=%ld signal=%d",
			    proc_name(id), (long)pid, WTERMSIG(status));
		else
			log_info("event=exit process=%s pid=%ld status=%d",
			    proc_name(id), (long)pid, WEXITSTATUS(status));
		if (stopping) {
			stop_next();
			continue;
		}
		if (time(NULL) - children[id].window_start > RESTART_WINDOW) {
			children[id].window_start = time(NULL);
			children[id].restarts = 0;
		}
		if (++children[id].restarts > RESTART_MAX)
			fatalx("process %s died %d times in %d seconds; "
			    "giving up", proc_name(id), RESTART_MAX,
			    RESTART_WINDOW);
		spawn(id);
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

/*
 * needs_restart - what a reload cannot change: the bound listeners (smtpd
 * has the sockets), state_dir and user.  true, with the reason in err.
 */
static bool
needs_restart(const struct conf *o, const struct conf *n, char *err,
    size_t errlen)
{
	bool	same = o->nlistens == n->nlistens &&
	    strcmp(o->state_dir, n->state_dir) == 0 &&
	    strcmp(o->user, n->user) == 0;

	for (size_t i = 0; same && i < o->nlistens; i++)
		same = strcmp(o->listens[i].name, n->listens[i].name) == 0 &&
		    strcmp(o->listens[i].host, n->listens[i].host) == 0 &&
		    o->listens[i].port == n->listens[i].port &&
		    o->listens[i].mode == n->listens[i].mode;
	if (!same)
		snprintf(err, errlen, "listeners, state_dir or user changed: "
		    "these need a restart");
	return !same;
}

/*
 * load_all - read and check the config file and the tables it names.
 * On success the new config, tables and raw texts replace the current ones.
 */
static int
load_all(const char *path)
{
	struct conf		*nc = xcalloc(1, sizeof(*nc));
	struct lookup_tab	*t = NULL;
	struct buf		 ct, ut, at;
	char			 err[1024];
	bool			 loaded = false;

	buf_init(&ct, 0);
	buf_init(&ut, 0);
	buf_init(&at, 0);
	if (conf_load(path, nc, err, sizeof(err)) == -1)
		goto fail;
	loaded = true;
	if (tls_check_conf(nc, err, sizeof(err)) == -1)
		goto fail;
	if (nc->path != NULL && read_file(nc->path, &ct, 1 << 20) == -1) {
		snprintf(err, sizeof(err), "%s: %s", nc->path, strerror(errno));
		goto fail;
	}
	t = lookup_tab_new();
	if (nc->users != NULL && (read_file(nc->users, &ut, 64 << 20) == -1 ||
	    lookup_users_load(t, nc, buf_cstr(&ut), ut.len, nc->users, err,
	    sizeof(err)) == -1)) {
		if (errno != 0 && ut.len == 0)
			snprintf(err, sizeof(err), "%s: %s", nc->users,
			    strerror(errno));
		goto fail;
	}
	if (nc->aliases != NULL && (read_file(nc->aliases, &at, 64 << 20) ==
	    -1 || lookup_aliases_load(t, nc, buf_cstr(&at), at.len,
	    nc->aliases, err, sizeof(err)) == -1)) {
		if (errno != 0 && at.len == 0)
			snprintf(err, sizeof(err), "%s: %s", nc->aliases,
			    strerror(errno));
		goto fail;
	}
	if (config != NULL && needs_restart(config, nc, err, sizeof(err)))
		goto fail;
	if (config != NULL) {
		conf_free(config);
		free(config);
	}
	config = nc;
	lookup_tab_free(lookup_tables);
	lookup_tables = t;
	buf_free(&conf_text);
	buf_free(&users_text);
	buf_free(&aliases_text);
	conf_text = ct;
	users_text = ut;
	aliases_text = at;
	return 0;
fail:
	if (config == NULL)
		fprintf(stderr, "postbote: %s\n", err);
	else
		log_warn("event=reload result=refused reason=\"%s\"",
		    log_safe(err));
	lookup_tab_free(t);
	if (loaded)
		conf_free(nc);
	free(nc);
	buf_free(&ct);
	buf_free(&ut);
	buf_free(&at);
	return -1;
}

/* proc_check_config - "postbote check": the config plus users and aliases,
 * and the certificate files when tls_cert names them (the self-signed
 * pair is serve's to make, not check's). */
int
proc_check_config(const char *path)
{
	char	err[512];

	if (load_all(path) == -1)
		return -1;
	if (config->tls_cert != NULL &&
	    tls_material_load(config, err, sizeof(err)) == -1) {
		fprintf(stderr, "postbote: %s\n", err);
		return -1;
	}
	return 0;
}

static void
on_reload(evutil_socket_t sig, short ev, void *arg)
{
	char	*path = config->path != NULL ? xstrdup(config->path) : NULL;
	char	 err[512];

	log_info("event=reload");
	if (load_all(path) == 0) {
		if (tls_material_load(config, err, sizeof(err)) == -1)
			log_warn("event=reload tls=kept reason=\"%s\"",
			    log_safe(err));
		for (int i = 1; i < PROC_MAX; i++) {
			struct buf	b;

			if (children[i].ctl == NULL)
				continue;
			buf_init(&b, 0);
			ipc_put_str(&b, buf_cstr(&conf_text));
			ipc_put_str(&b, config->path != NULL ? config->path : "");
			ipc_put_str(&b, i == PROC_LOOKUP ?
			    buf_cstr(&users_text) : "");
			ipc_put_str(&b, i == PROC_LOOKUP ?
			    buf_cstr(&aliases_text) : "");
			ipc_put_bytes(&b, tls_material.data, i == PROC_SMTPD ?
			    tls_material.len : 0);
			ipc_send(children[i].ctl, IPC_RELOAD, 0, &b, -1);
			buf_free(&b);
		}
		log_info("event=reload result=ok");
	}
	free(path);
}

static void
make_dir(const char *path, mode_t mode, bool own)
{
	struct stat	st;

	int		fd;

	if (mkdir(path, mode) == -1 && errno != EEXIST)
		fatal("cannot create directory %s", path);
	/* fchown on what we opened: a symlink put in its place is refused. */
	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1 || fstat(fd, &st) == -1 || !S_ISDIR(st.st_mode))
		fatalx("%s is not a directory", path);
	if (own && drop_privs && fchown(fd, run_uid, run_gid) == -1)
		fatal("cannot chown %s", path);
	close(fd);
}

static void
make_state_dirs(void)
{
	static const char *spool[] = { "spool", "spool/data", "spool/queue",
	    "spool/hold", "spool/corrupt", "spool/free" };
	char		*p;
	size_t		 sl = strlen(config->state_dir);

	make_dir(config->state_dir, 0755, false);
	for (size_t i = 0; i < NELEM(spool); i++) {
		xasprintf(&p, "%s/%s", config->state_dir, spool[i]);
		make_dir(p, 0700, true);
		free(p);
	}
	/* The default mailbox root lives in state_dir and belongs to user. */
	if (strncmp(config->mailbox, config->state_dir, sl) == 0 &&
	    strncmp(config->mailbox + sl, "/mail/", 6) == 0) {
		xasprintf(&p, "%s/mail", config->state_dir);
		make_dir(p, 0755, true);
		free(p);
	}
}

static int
bind_one(const struct conf_listen *l)
{
	struct addrinfo	 hints = { 0 }, *res;
	char		 port[8];
	int		 fd, on = 1, rc;

	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(port, sizeof(port), "%u", l->port);
	if ((rc = getaddrinfo(l->host, port, &hints, &res)) != 0)
		fatalx("listen %s: bad address %s: %s", l->name, l->host,
		    gai_strerror(rc));
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd == -1)
		fatal("socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (res->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
	if (bind(fd, res->ai_addr, res->ai_addrlen) == -1)
		fatal("cannot listen on %s:%u (listen %s)", l->host, l->port,
		    l->name);
	if (listen(fd, 1024) == -1)
		fatal("listen");
	freeaddrinfo(res);
	/* The listeners are inherited by smtpd; no close-on-exec needed. */
	return fd;
}

static void
resolve_user(void)
{
	struct passwd	*pw;

	if (geteuid() != 0)
		return;
	if ((pw = getpwnam(config->user)) == NULL)
		fatalx("user %s does not exist: create it (useradd --system "
		    "%s) or set \"user\" in the config", config->user,
		    config->user);
	if (pw->pw_uid == 0)
		fatalx("user %s is root: postbote will not run its processes "
		    "as root", config->user);
	run_uid = pw->pw_uid;
	run_gid = pw->pw_gid;
	drop_privs = true;
}

/* serve_main - run the server in the foreground until SIGTERM/SIGINT. */
int
serve_main(const char *path, bool verbose)
{
	struct event	*ev[5];
	int		 sigs[5] = { SIGCHLD, SIGTERM, SIGINT, SIGHUP, 0 };
	char		 err[512];

	log_init("parent", "stderr", verbose);
	if (load_all(path) == -1)
		return 2;
	if (log_init("parent", config->log, verbose) == -1) {
		fprintf(stderr, "postbote: cannot open log %s: %s\n",
		    config->log, strerror(errno));
		return 1;
	}
	resolve_user();
	make_state_dirs();
	/* Certificates and keys are read here, as root if started so; the
	 * self-signed pair is made on the first start (tls.c). */
	if (tls_material_load(config, err, sizeof(err)) == -1) {
		log_warn("event=tls-load result=failed reason=\"%s\"",
		    log_safe(err));
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	nlisten_fds = config->nlistens;
	listen_fds = xcalloc(nlisten_fds ? nlisten_fds : 1, sizeof(int));
	for (size_t i = 0; i < config->nlistens; i++)
		listen_fds[i] = bind_one(&config->listens[i]);
	control_fd = queue_ctl_bind(config->state_dir, drop_privs, run_uid,
	    run_gid);
	submit_fd = queue_ctl_bind_submit(config->state_dir, drop_privs,
	    run_uid, run_gid);
	if ((pbase = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	ev[0] = evsignal_new(pbase, SIGCHLD, reap, NULL);
	ev[1] = evsignal_new(pbase, SIGTERM, on_stop, NULL);
	ev[2] = evsignal_new(pbase, SIGINT, on_stop, NULL);
	ev[3] = evsignal_new(pbase, SIGHUP, on_reload, NULL);
	for (int i = 0; sigs[i] != 0; i++)
		event_add(ev[i], NULL);
	log_info("event=start version=%s config=%s state_dir=%s",
	    POSTBOTE_VERSION, config->path ? config->path : "(embedded)",
	    config->state_dir);
	for (size_t i = 0; i < config->nlistens; i++)
		log_info("event=listen name=%s address=%s:%u mode=%s",
		    config->listens[i].name, config->listens[i].host,
		    config->listens[i].port,
		    conf_listen_mode_str(config->listens[i].mode));
	for (int id = PROC_QUEUE; id < PROC_MAX; id++)
		spawn(id);
	spawn(PROC_SMTPD);
	event_base_dispatch(pbase);
	for (int i = 0; sigs[i] != 0; i++)
		event_free(ev[i]);
	if (stop_timer != NULL)
		event_free(stop_timer);
	event_base_free(pbase);
	close(control_fd);
	close(submit_fd);
	queue_ctl_unlink();
	return 0;
}
