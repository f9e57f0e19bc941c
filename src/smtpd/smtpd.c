/*
 * smtpd.c - the smtpd process: accepts connections on the listeners the
 * parent bound, runs the SMTP sessions (smtp_session.c), and routes the
 * replies of lookup and queue to them by session id.  Runs unprivileged;
 * it is the only process that reads bytes from the network.
 */
#include <sys/resource.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include <openssl/ssl.h>

#include "common/conf.h"
#include "common/dkim_keys.h"
#include "lib/ipc_proto.h"
#include "lib/log.h"
#include "common/proc.h"
#include "smtpd/smtp_session.h"
#include "smtpd/smtpd.h"
#include "common/tls.h"
#include "lib/util.h"

#define SHUTDOWN_GRACE	10	/* seconds for commits in flight */

static struct evconnlistener	**listeners;
static size_t			  nlisteners;
static int			 *listen_fds;	/* from the parent */
static struct buf		  material;	/* TLS keys (tls.h) */
static bool			  stopping;
static struct event		 *stop_timer;

static void
on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	smtp_session_start(fd, sa, (socklen_t)salen, (int)(intptr_t)arg);
}

static void
resume_accept(evutil_socket_t fd, short ev, void *arg)
{
	if (!stopping)
		evconnlistener_enable(arg);
}

static void
on_accept_error(struct evconnlistener *l, void *arg)
{
	int	e = EVUTIL_SOCKET_ERROR();

	log_warn("event=accept-error error=\"%s\"", strerror(e));
	if (e == EMFILE || e == ENFILE) {
		/* Out of descriptors: pause a moment instead of spinning. */
		struct timeval	tv = { 0, 100000 };

		evconnlistener_disable(l);
		event_base_once(evconnlistener_get_base(l), -1, EV_TIMEOUT,
		    resume_accept, l, &tv);
	}
}

/* load_tls - contexts from the material the parent read; new sessions
 * use them, live ones keep theirs.  Without them STARTTLS is not offered. */
static void
load_tls(void)
{
	char	err[512];

	if (tls_server_load(config, &material, err, sizeof(err)) == -1)
		log_warn("event=tls-load result=failed reason=\"%s\"",
		    log_safe(err));
	else
		log_debug("event=tls-load result=ok");
}

/* wipe_material - the TLS keys leave our memory. */
static void
wipe_material(void)
{
	if (material.data != NULL)
		explicit_bzero(material.data, material.cap);
	buf_free(&material);
}

/* smtpd_postfork - as root: the listeners are ours. */
static void
smtpd_postfork(struct proc_inherit *inh)
{
	listen_fds = xcalloc(inh->nlisten ? inh->nlisten : 1, sizeof(int));
	nlisteners = inh->nlisten;
	for (size_t i = 0; i < inh->nlisten; i++) {
		listen_fds[i] = inh->listen_fds[i];
		inh->listen_fds[i] = -1;
	}
	/* What the chroot will hide: OpenSSL's config, and what the
	 * sessions read (smtp_session_prepare). */
	OPENSSL_init_ssl(OPENSSL_INIT_LOAD_CONFIG, NULL);
	smtp_session_prepare(proc_base());
}

static void
smtpd_init(struct event_base *base)
{
	size_t		 n = nlisteners;
	const int	*fds = listen_fds;
	struct rlimit	 rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	smtp_session_init(base);
	load_tls();
	listeners = xcalloc(n ? n : 1, sizeof(*listeners));
	nlisteners = n;
	for (size_t i = 0; i < n; i++) {
		listeners[i] = evconnlistener_new(base, on_accept,
		    (void *)(intptr_t)i, LEV_OPT_CLOSE_ON_FREE |
		    LEV_OPT_CLOSE_ON_EXEC, -1, fds[i]);
		if (listeners[i] == NULL)
			fatalx("evconnlistener_new failed");
		evconnlistener_set_error_cb(listeners[i], on_accept_error);
		/* Accept only once queue and lookup are connected. */
		evconnlistener_disable(listeners[i]);
	}
}

static void
update_listeners(void)
{
	bool	up = !stopping && proc_peer(PROC_QUEUE) != NULL &&
	    proc_peer(PROC_LOOKUP) != NULL;

	for (size_t i = 0; i < nlisteners; i++) {
		if (up)
			evconnlistener_enable(listeners[i]);
		else
			evconnlistener_disable(listeners[i]);
	}
}

static void
smtpd_peer_up(int proc)
{
	smtp_session_peer_up(proc);
	update_listeners();
}

static void
smtpd_peer_down(int proc)
{
	smtp_session_peer_down(proc);
	update_listeners();
}

static void
smtpd_msg(int proc, struct ipc_msg *m)
{
	struct smtp_session	*s = smtp_session_find(m->id);

	if (s == NULL) {
		/* The session is gone: give back what was made for it. */
		struct ipc_spool_open_reply r;

		if (m->type == IPC_SPOOL_OPEN_REPLY &&
		    IPC_DECODE(m, &r, NULL) == 0 && r.ok)
			PROC_SEND(PROC_QUEUE, IPC_SPOOL_ABORT, m->id,
			    &(struct ipc_id){ r.id }, -1);
		if (m->fd != -1)
			close(m->fd);
		return;
	}
	switch (m->type) {
	case IPC_RESOLVE_REPLY:
		smtp_session_resolved(s, m);
		break;
	case IPC_SPOOL_OPEN_REPLY:
		smtp_session_spooled(s, m);
		m->fd = -1;		/* it took the fd */
		break;
	case IPC_SPOOL_COMMIT_REPLY:
		smtp_session_committed(s, m);
		break;
	case IPC_SPOOL_STATUS_REPLY:
		smtp_session_commit_status(s, m);
		break;
	case IPC_AUTH_REPLY:
		smtp_session_authed(s, m);
		break;
	case IPC_SENDER_OWNED_REPLY:
		smtp_session_owned(s, m);
		break;
	case IPC_GREYLIST_REPLY:
		smtp_session_greylisted(s, m);
		break;
	case IPC_MILTER_CONNECT_REPLY:
		smtp_session_milter_fd(s, m);	/* takes the fd */
		break;
	default:
		log_warn("event=ipc-error reason=\"unexpected %s from %s\"",
		    ipc_type_str(m->type), proc_name(proc));
	}
	if (m->fd != -1)
		close(m->fd);
	smtp_session_flush(s);
}

/*
 * smtpd_configure - the start and each reload bring the TLS material and
 * the [dkim] keys the parent read.  Keys that do not load refuse it (the
 * old ones keep signing); the TLS contexts are built after the swap
 * (load_tls), where a failure keeps the old ones.
 */
static int
smtpd_configure(const struct conf *nc, const struct proc_reload *r)
{
	char	err[512];

	if (dkim_keys_load(r->dkim, r->dkimlen, err, sizeof(err)) == -1) {
		log_warn("event=reload result=failed reason=\"%s\"",
		    log_safe(err));
		proc_reload_refused(err);
		return -1;
	}
	if (r->tlslen > 0) {
		wipe_material();
		buf_reserve(&material, r->tlslen);
		buf_append(&material, r->tls, r->tlslen);
	}
	return 0;
}

static void
smtpd_reload(void)
{
	load_tls();
	log_info("event=reloaded");
}

static void
stop_check(evutil_socket_t fd, short ev, void *arg)
{
	static int	ticks;

	if (smtp_session_count() == 0 || ++ticks > SHUTDOWN_GRACE * 10) {
		tls_server_free();
		wipe_material();
		free(listen_fds);
		free(listeners);
		proc_exit();
	}
}

static void
smtpd_shutdown(void)
{
	struct timeval	tv = { 0, 100000 };

	if (stopping)
		return;
	stopping = true;
	for (size_t i = 0; i < nlisteners; i++)
		evconnlistener_free(listeners[i]);
	nlisteners = 0;
	smtp_session_shutdown_all();
	stop_timer = event_new(proc_base(), -1, EV_PERSIST, stop_check, NULL);
	event_add(stop_timer, &tv);
}

/*
 * The sandbox: smtpd reads the network, so it gets the least.  Its own
 * uid (smtpd_user), which owns nothing of the spool or the mailboxes; an
 * empty root; and besides the calls of every child, only sockets (the
 * listeners, DNS over UDP and TCP) and the spool file queue hands it
 * (mapped, its ranges rewritten in place).  Opening a path fails.
 */
static const char *const smtpd_calls[] = {
	"listen", "accept", "accept4", "socket", "connect", "bind",
	"getsockname", "getpeername", "pread64", "pwrite64", "ftruncate",
	"getrlimit", "setrlimit", "prlimit64", NULL
};
static const char *const smtpd_refused[] = {
	"open", "openat", "openat2", "creat", NULL
};
static const struct sandbox smtpd_sandbox = {
	.flags = SANDBOX_OWN_USER | SANDBOX_EMPTY_ROOT,
	.allow = smtpd_calls,
	.refuse = smtpd_refused,
};

const struct proc_module smtpd_module = {
	.name = "smtpd",
	.needs = PROC_NEEDS_LISTENERS | PROC_NEEDS_TLS | PROC_NEEDS_DKIM,
	.sandbox = &smtpd_sandbox,
	.postfork = smtpd_postfork,
	.init = smtpd_init,
	.peer_up = smtpd_peer_up,
	.peer_down = smtpd_peer_down,
	.msg = smtpd_msg,
	.configure = smtpd_configure,
	.reload = smtpd_reload,
	.shutdown = smtpd_shutdown,
};
