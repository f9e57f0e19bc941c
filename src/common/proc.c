/*
 * proc.c - the child runtime (proc.h): what smtpd, queue, lookup and
 * deliver share from their fork to their exit.  In the parent's new child
 * it re-executes the binary with only the descriptors the process gets
 * (proc_exec), so no page of the parent's memory survives: the keys, the
 * tables and the freed buffers of the parent stay behind.  After the exec
 * it reads the start (IPC_START: the config, and the tables or keys the
 * process needs), lets the process take its descriptors (postfork, as
 * root), enters state_dir, drops privileges to `user`, gives the process
 * the start's material as a reload does (configure), and runs the event
 * loop with the channels to the parent and the peers: IPC_PEER wires a
 * peer, IPC_RELOAD swaps the config, IPC_SHUTDOWN and SIGTERM stop.
 * Runs in every child; the parent's frames are trusted to come from the
 * parent but are still checked.
 */
#include <sys/prctl.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

#include "common/conf.h"
#include "common/proc.h"
#include "common/stats.h"
#include "lib/ipc_proto.h"
#include "lib/log.h"
#include "lib/util.h"

/* The hidden argument of "postbote serve" that starts a child. */
#define CHILD_ARG		"--child"
/* Where the inherited descriptors go: the channel to the parent first. */
#define CHILD_FD0		3
/* How long a new child waits for its start (an ASan build is slow). */
#define START_TIMEOUT_MS	60000

static const struct proc_module *module;
static struct event_base *cbase;
static struct ipc_chan	*parent_chan;
static struct ipc_chan	*peers[PROC_MAX];
static char		 refusal[512];	/* why configure refused a reload */
static bool		 chrooted;	/* in the empty root */

static void	 child_exit(void) __attribute__((noreturn));
static void	 take_reload(const struct ipc_reload *, struct proc_reload *);
static struct conf *parse_config(const struct ipc_reload *, char *, size_t);
static void	 place_fds(const int *, size_t);
static int	 arg_fd(const char *, const char *);
static void	 child_start(int, struct proc_inherit *);

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

/* take_reload - the parts of a start or a reload this process gets. */
static void
take_reload(const struct ipc_reload *in, struct proc_reload *r)
{
	r->users = in->users;
	r->aliases = in->aliases;
	r->tls = in->tls.p;
	r->tlslen = in->tls.len;
	r->dkim = in->dkim.p;
	r->dkimlen = in->dkim.len;
}

/* parse_config - the config text of a start or a reload; NULL with err
 * set when it does not parse.  The caller frees it (conf_free, free). */
static struct conf *
parse_config(const struct ipc_reload *in, char *err, size_t errlen)
{
	struct conf	*nc = xcalloc(1, sizeof(*nc));

	if (*in->path == '\0')
		conf_defaults(nc);
	else if (conf_parse(in->conf, strlen(in->conf), in->path, nc, err,
	    errlen) == -1) {
		free(nc);
		return NULL;
	}
	return nc;
}

/* proc_reload_refused - see proc.h. */
void
proc_reload_refused(const char *reason)
{
	str_copy(refusal, reason, sizeof(refusal));
}

/* reload_done - tell the parent whether reload id took effect here; it
 * answers the admin's "postbote reload" only when every process did. */
static void
reload_done(uint64_t id, bool ok, const char *why)
{
	struct ipc_reply	r = { ok, ok ? "" : why };

	if (ipc_proto_send(parent_chan, IPC_RELOAD_DONE, id, &r, sizeof(r),
	    -1) == -1)
		log_warn("event=reload reason=\"cannot answer the parent\"");
}

/*
 * child_reload - IPC_RELOAD: the new config text, parsed here, and what
 * this process needs besides; the module may refuse it (configure), and
 * the old config then stays.  Either way the parent hears of it.
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
		reload_done(m->id, false, "bad reload message");
		return;
	}
	take_reload(&in, &r);
	if ((nc = parse_config(&in, err, sizeof(err))) == NULL) {
		log_warn("event=reload result=failed reason=\"%s\"",
		    log_safe(err));
		reload_done(m->id, false, err);
		return;
	}
	str_copy(refusal, "the new config was refused", sizeof(refusal));
	if (module->configure != NULL && module->configure(nc, &r) == -1) {
		conf_free(nc);
		free(nc);
		reload_done(m->id, false, refusal);
		return;
	}
	conf_free(config);
	free(config);
	config = nc;
	module->reload();
	reload_done(m->id, true, "");
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
	log_flush();
	_exit(0);
}

/* child_exit - a child's clean end.  Under AddressSanitizer the leak check
 * runs here, since _exit() skips it (and exit() would run the parent's
 * handlers inherited through fork).  It lists the threads in /proc, which
 * a process in the empty root does not see: there it cannot run. */
static void
child_exit(void)
{
	log_flush();
#if defined(__SANITIZE_ADDRESS__)
	if (!chrooted)
		__lsan_do_leak_check();
#endif
	_exit(0);
}

static void
child_sigterm(evutil_socket_t sig, short ev, void *arg)
{
	module->shutdown();
}

/* release - what postfork did not take goes before the privilege drop. */
static void
release(struct proc_inherit *inh)
{
	for (size_t i = 0; i < inh->nlisten; i++)
		if (inh->listen_fds[i] != -1)
			close(inh->listen_fds[i]);
	inh->nlisten = 0;
	if (inh->control_fd != -1)
		close(inh->control_fd);
	if (inh->submit_fd != -1)
		close(inh->submit_fd);
	inh->control_fd = inh->submit_fd = -1;
	if (inh->metrics_fd != -1)
		close(inh->metrics_fd);
	if (inh->stats_fd != -1)
		close(inh->stats_fd);
	inh->metrics_fd = inh->stats_fd = -1;
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

/* ---- the exec: in the parent's new child ---- */

/* close_from - every descriptor from first on (the parent's others: its
 * loop, the other children's channels, the listeners smtpd alone gets). */
static void
close_from(int first)
{
	DIR		*d = opendir("/proc/self/fd");
	struct dirent	*de;
	int		 dfd = d != NULL ? dirfd(d) : -1;

	if (d == NULL)
		_exit(127);
	while ((de = readdir(d)) != NULL) {
		int	fd = atoi(de->d_name);

		if (de->d_name[0] != '.' && fd >= first && fd != dfd)
			close(fd);
	}
	closedir(d);
}

/*
 * place_fds - fds[0..n) become 3..3+n, open across the exec; all else from
 * 3 on is closed.  Each is first copied above the range, so that moving
 * one never closes another that is still to be moved.
 */
static void
place_fds(const int *fds, size_t n)
{
	int	*tmp = xcalloc(n + 1, sizeof(*tmp));

	for (size_t i = 0; i < n; i++)
		if ((tmp[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, CHILD_FD0 +
		    (int)n)) == -1)
			_exit(127);
	for (size_t i = 0; i < n; i++)
		if (dup2(tmp[i], CHILD_FD0 + (int)i) == -1)
			_exit(127);
	close_from(CHILD_FD0 + (int)n);
	free(tmp);
}

/* proc_exec - see proc.h.  The argv it writes is read by child_args. */
void
proc_exec(const struct proc_module *m, int ctlfd,
    const struct proc_inherit *inh, bool verbose)
{
	size_t		 n = 0, max = 5 + inh->nlisten;
	int		*fds = xcalloc(max, sizeof(*fds));
	char		**argv = xcalloc(max + 6, sizeof(*argv));
	const char	**kinds = xcalloc(max, sizeof(*kinds));
	size_t		 ac = 0;
	sigset_t	 none;
	const struct {
		int		 fd;
		const char	*kind;
	} opt[] = {			/* the descriptors a process may have */
		{ inh->control_fd, "control" }, { inh->submit_fd, "submit" },
		{ inh->metrics_fd, "metrics" }, { inh->stats_fd, "stats" },
	};

	/* The parent's handlers write to its loop's signal pipe, which this
	 * process still shares until the exec: not theirs to use. */
	default_signals();
	signal(SIGTERM, SIG_DFL);
	fds[n] = ctlfd;
	kinds[n++] = "ctl";
	for (size_t i = 0; i < inh->nlisten; i++) {
		fds[n] = inh->listen_fds[i];
		kinds[n++] = "listen";
	}
	for (size_t i = 0; i < NELEM(opt); i++)
		if (opt[i].fd != -1) {
			fds[n] = opt[i].fd;
			kinds[n++] = opt[i].kind;
		}
	/* A log file is the child's stderr: it writes there as the parent
	 * does to the file, and needs not open it again. */
	if (log_fd() > 2 && dup2(log_fd(), 2) == -1)
		_exit(127);
	place_fds(fds, n);
	argv[ac++] = xstrdup("postbote");
	argv[ac++] = xstrdup("serve");
	argv[ac++] = xstrdup(CHILD_ARG);
	argv[ac++] = xstrdup(m->name);
	for (size_t i = 0; i < n; i++)
		xasprintf(&argv[ac++], "%s=%d", kinds[i], CHILD_FD0 + (int)i);
	if (verbose)
		argv[ac++] = xstrdup("-v");
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	execv("/proc/self/exe", argv);
	log_warn("event=exec-failed process=%s error=\"%s\"", m->name,
	    strerror(errno));
	_exit(127);
}

/* ---- the child, after the exec ---- */

/* proc_is_child - see proc.h. */
bool
proc_is_child(int argc, char **argv)
{
	return argc > 1 && strcmp(argv[1], CHILD_ARG) == 0;
}

/* arg_fd - "KIND=N" with N a descriptor this process has. */
static int
arg_fd(const char *arg, const char *kind)
{
	size_t	 n = strlen(kind);
	char	*end;
	long	 fd;

	if (strncmp(arg, kind, n) != 0 || arg[n] != '=')
		return -1;
	errno = 0;
	fd = strtol(arg + n + 1, &end, 10);
	if (errno != 0 || *end != '\0' || fd < CHILD_FD0 || fd > INT_MAX ||
	    fcntl((int)fd, F_GETFD) == -1)
		return -1;
	return (int)fd;
}

/* child_args - argv as proc_exec wrote it: the module, the channel to the
 * parent, the inherited descriptors and -v.  -1 when it is not that. */
static int
child_args(int argc, char **argv, const struct proc_module *const mods[],
    struct proc_inherit *inh, int *ctlfd, bool *verbose)
{
	int	 fd;

	if (argc < 4)
		return -1;
	for (int i = PROC_PARENT + 1; i < PROC_MAX; i++)
		if (mods[i] != NULL && strcmp(mods[i]->name, argv[2]) == 0)
			module = mods[i];
	if (module == NULL || (*ctlfd = arg_fd(argv[3], "ctl")) == -1)
		return -1;
	inh->listen_fds = xcalloc((size_t)argc, sizeof(int));
	for (int i = 4; i < argc; i++) {
		if (strcmp(argv[i], "-v") == 0)
			*verbose = true;
		else if ((fd = arg_fd(argv[i], "listen")) != -1)
			inh->listen_fds[inh->nlisten++] = fd;
		else if ((fd = arg_fd(argv[i], "control")) != -1)
			inh->control_fd = fd;
		else if ((fd = arg_fd(argv[i], "submit")) != -1)
			inh->submit_fd = fd;
		else if ((fd = arg_fd(argv[i], "metrics")) != -1)
			inh->metrics_fd = fd;
		else if ((fd = arg_fd(argv[i], "stats")) != -1)
			inh->stats_fd = fd;
		else
			return -1;
	}
	return 0;
}

/* read_start - the parent's first frame: IPC_START, into *st, whose
 * strings point into *store. */
static void
read_start(int ctlfd, struct buf *store, struct ipc_start *st)
{
	struct ipc_msg	 m;
	const char	*why = "no frame";

	if (ipc_sync_recv(ctlfd, &m, store, START_TIMEOUT_MS) == -1 ||
	    m.type != IPC_START || IPC_DECODE(&m, st, &why) == -1)
		fatalx("no start from the parent (%s)", why);
}

/*
 * child_start - from the exec to the event loop: the config of the
 * start, the descriptors (postfork, as root), state_dir, the privilege
 * drop, then the start's tables and keys (configure), as at a reload.
 */
static void
child_start(int ctlfd, struct proc_inherit *inh)
{
	struct buf		 store;
	struct ipc_start	 st;
	struct proc_reload	 r;
	struct proc_user	 u;
	char			 err[512];

	buf_init(&store, 0);
	read_start(ctlfd, &store, &st);
	conf_set_base_dir(st.base_dir);
	if ((config = parse_config(&st.reload, err, sizeof(err))) == NULL)
		fatalx("the start's config: %s", err);
	if (strcmp(config->log, "syslog") == 0)
		log_init(module->name, "syslog", log_verbose());
	if (inh->stats_fd != -1 && stats_attach(inh->stats_fd) == -1)
		fatal("cannot map the counters");
	if (module->postfork != NULL)
		module->postfork(inh);
	release(inh);
	/* The children work in state_dir: what they open there is found
	 * from it, whatever the folders above it let `user` do. */
	if (chdir(config->state_dir) == -1)
		fatal("cannot enter state_dir %s", config->state_dir);
	u.drop = st.drop != 0;
	u.uid = (uid_t)st.uid;
	u.gid = (gid_t)st.gid;
	/* A process that opens no path sees an empty root (needs root). */
	if (u.drop && (module->sandbox->flags & SANDBOX_EMPTY_ROOT)) {
		tzset();	/* the local time zone (Received:) stays */
		sandbox_chroot(SANDBOX_EMPTY_DIR);
		chrooted = true;
	}
	if (u.drop)
		sandbox_cap_drop();
	drop_privileges(&u);
	/* A change of uid clears the parent-death signal: set it again. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	/* No new privileges, its seccomp filter: after the drop, before the
	 * start's material is parsed and before any peer byte is read. */
	sandbox_enter(module->name, module->sandbox);
	take_reload(&st.reload, &r);
	if (module->configure != NULL && module->configure(config, &r) == -1)
		fatalx("the start was refused");
	if (store.data != NULL)
		explicit_bzero(store.data, store.cap);
	buf_free(&store);
}

/* proc_child_main - see proc.h. */
void
proc_child_main(int argc, char **argv,
    const struct proc_module *const mods[PROC_MAX])
{
	struct proc_inherit	 inh = { .control_fd = -1, .submit_fd = -1,
	    .metrics_fd = -1, .stats_fd = -1 };
	struct event		*sigterm;
	int			 ctlfd = -1;
	bool			 verbose = false;

	if (child_args(argc, argv, mods, &inh, &ctlfd, &verbose) == -1) {
		fprintf(stderr, "postbote: serve %s is the server's own\n",
		    CHILD_ARG);
		exit(2);
	}
	log_init(module->name, "stderr", verbose);
	/* Its name in ps and in the kernel's seccomp lines. */
	prctl(PR_SET_NAME, module->name, 0, 0, 0);
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	default_signals();
	/* The loop exists before postfork: what a process prepares before
	 * its chroot (smtpd's resolver) may already need it. */
	if ((cbase = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	child_start(ctlfd, &inh);
	free(inh.listen_fds);
	sigterm = evsignal_new(cbase, SIGTERM, child_sigterm, NULL);
	event_add(sigterm, NULL);
	parent_chan = ipc_chan_new(cbase, ctlfd, PROC_PARENT, parent_msg,
	    parent_closed, NULL);
	module->init(cbase);
	log_debug("event=started");
	/* From here the lines of a loop turn leave together at its end. */
	log_set_base(cbase);
	event_base_dispatch(cbase);
	child_exit();
}
