/*
 * lookup.c - the lookup process: answers recipient resolution (users,
 * aliases, catch-alls, the recipient delimiter), password checks for AUTH
 * and sender ownership for smtpd from the tables the parent loaded.  Runs
 * unprivileged; its input is smtpd's requests, whose addresses are parsed
 * again here rather than trusted.  crypt(3) is slow on purpose (yescrypt):
 * it runs on worker threads (one per CPU, at most AUTH_THREADS_MAX), never
 * on this loop, and an unknown user is hashed against a dummy so that the
 * answer takes about as long.
 * With auth_backend = dovecot:..., Dovecot's auth service checks the
 * passwords instead, and with recipient_check = dovecot:... its userdb
 * says which mailboxes of the domains delivered over LMTP exist
 * (dovecot_client.c); its answers are kept recipient_check_cache.
 * Passwords are wiped once checked and are never logged.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <crypt.h>
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/crypto.h>

#include "mail/addr.h"
#include "common/conf.h"
#include "lib/ipc_proto.h"
#include "lib/log.h"
#include "common/lookup_tab.h"
#include "common/proc.h"
#include "lookup/greylist_db.h"
#include "lookup/dovecot_client.h"
#include "lookup/lookup.h"
#include "mail/sasl.h"
#include "lib/util.h"
#include "lib/worker.h"

#define AUTH_THREADS_MAX	4

struct auth_job {
	struct worker_item	 w;		/* first: the worker's link */
	uint64_t		 id;		/* request id (the session) */
	bool			 known;		/* a user with that address */
	bool			 ok;
	char			 login[ADDR_TEXT_MAX];
	char			 hash[CRYPT_OUTPUT_SIZE];
	char			 pass[SASL_PASS_MAX + 1];
};

static struct lookup_tab	*tables;	/* users and aliases */
static struct lookup_target	*targets;
static struct worker		*auth_workers[AUTH_THREADS_MAX];
static size_t			 nauth_workers, next_worker;
static _Thread_local struct crypt_data *auth_cd;	/* each thread's */
static char			 dummy_hash[CRYPT_OUTPUT_SIZE];
static struct event		*sweep_ev;	/* greylist expiry */

#define SWEEP_SECS	3600

/* A recipient's Dovecot answer, kept recipient_check_cache seconds, in a
 * table of RCHECK_SLOTS indexed by the address's hash (a newer answer
 * takes the slot). */
#define RCHECK_SLOTS	1024
struct rcheck_slot {
	char		 addr[ADDR_TEXT_MAX];
	uint64_t	 expires;	/* monotonic µs; 0 = empty */
	bool		 known;
};
static struct rcheck_slot	*rcache;

/* A resolve or AUTH waiting for Dovecot: whom to answer. */
struct dv_wait {
	int		 proc;
	uint64_t	 id;
	char		 addr[ADDR_TEXT_MAX];
};

static void	 auth_run(struct worker_item *);
static void	 auth_done(struct worker_item *);
static int	 greylist_open(void);
static void	 greylist_sweep(evutil_socket_t, short, void *);

static void
lookup_init(struct event_base *base)
{
	char	 salt[CRYPT_GENSALT_OUTPUT_SIZE];
	cpu_set_t cpus;
	long	 ncpu = 1;

	/* The CPUs this process may run on: sysconf() would read /sys,
	 * which the seccomp filter does not let lookup open. */
	if (sched_getaffinity(0, sizeof(cpus), &cpus) == 0)
		ncpu = CPU_COUNT(&cpus);

	targets = xcalloc(LOOKUP_MAX_TARGETS, sizeof(*targets));
	rcache = xcalloc(RCHECK_SLOTS, sizeof(*rcache));
	dovecot_client_init(base);
	if (tables == NULL)
		tables = lookup_tab_new();
	auth_cd = xcalloc(1, sizeof(*auth_cd));
	/* The dummy for unknown users costs what a default hash costs. */
	if (crypt_gensalt_rn("$y$", 0, NULL, 0, salt, sizeof(salt)) == NULL ||
	    crypt_rn("not a password", salt, auth_cd, sizeof(*auth_cd)) ==
	    NULL)
		fatal("crypt_gensalt_rn");
	str_copy(dummy_hash, auth_cd->output, sizeof(dummy_hash));
	nauth_workers = ncpu < 1 ? 1 : ncpu > AUTH_THREADS_MAX ?
	    AUTH_THREADS_MAX : (size_t)ncpu;
	for (size_t i = 0; i < nauth_workers; i++)
		auth_workers[i] = worker_new(base, auth_run, auth_done);
	sweep_ev = event_new(base, -1, EV_PERSIST, greylist_sweep, NULL);
	if (config->greylist)
		greylist_open();
}

static void
greylist_times(struct greylist_times *t)
{
	t->delay = config->greylist_delay;
	t->window = config->greylist_retry_window;
	t->expire = config->greylist_expire;
}

/* greylist_open - the store, at the start or at the first request after
 * a reload turned greylisting on; expired records go now and hourly. */
static int
greylist_open(void)
{
	struct timeval		 tv = { SWEEP_SECS, 0 };
	struct greylist_times	 t;
	char			 err[512];
	long			 n;

	if (event_pending(sweep_ev, EV_TIMEOUT, NULL))
		return 0;
	if (greylist_db_open(GREYLIST_DB_FILE, err, sizeof(err)) == -1) {
		log_warn("event=greylist-error reason=\"%s\"", log_safe(err));
		return -1;
	}
	greylist_times(&t);
	n = greylist_db_sweep(now_usec() / 1000000, &t);
	log_info("event=greylist-open file=%s expired=%ld", GREYLIST_DB_FILE,
	    n);
	event_add(sweep_ev, &tv);
	return 0;
}

static void
greylist_sweep(evutil_socket_t fd, short ev, void *arg)
{
	struct greylist_times	 t;
	long			 n;

	greylist_times(&t);
	if ((n = greylist_db_sweep(now_usec() / 1000000, &t)) > 0)
		log_info("event=greylist-sweep expired=%ld", n);
}

/* greylist - IPC_GREYLIST: decide an attempt; the store failing says
 * IPC_GREYLIST_ERROR (smtpd lets the mail pass then). */
static void
greylist(struct ipc_msg *m)
{
	struct ipc_greylist		 in;
	struct ipc_greylist_reply	 r = { IPC_GREYLIST_ERROR, 0 };
	struct greylist_times		 t;
	enum greylist_verdict		 v;

	greylist_times(&t);
	if (IPC_DECODE(m, &in, NULL) == -1)
		log_warn("event=ipc-error reason=\"bad greylist request\"");
	else if (greylist_open() == 0 && greylist_db_check(in.key,
	    now_usec() / 1000000, &t, &v, &r.wait) == 0)
		r.verdict = (uint32_t)v;
	PROC_SEND(PROC_SMTPD, IPC_GREYLIST_REPLY, m->id, &r, -1);
}

/* auth_run - on the worker thread: crypt each password of the batch. */
static void
auth_run(struct worker_item *batch)
{
	for (struct worker_item *it = batch; it != NULL; it = it->next) {
		struct auth_job	*j = (struct auth_job *)it;
		const char	*h;
		size_t		 n = strlen(j->hash);

		if (auth_cd == NULL)
			auth_cd = xcalloc(1, sizeof(*auth_cd));
		h = crypt_rn(j->pass, j->hash, auth_cd, sizeof(*auth_cd));
		j->ok = j->known && h != NULL && h[0] != '*' &&
		    strlen(h) == n && CRYPTO_memcmp(h, j->hash, n) == 0;
		explicit_bzero(j->pass, sizeof(j->pass));
		explicit_bzero(auth_cd, sizeof(*auth_cd));
	}
}

/* auth_done - on the loop: answer smtpd. */
static void
auth_done(struct worker_item *it)
{
	struct auth_job		*j = (struct auth_job *)it;
	struct ipc_auth_reply	 r = { j->ok, j->ok ? j->login : "", 0, 0,
	    "" };

	PROC_SEND(PROC_SMTPD, IPC_AUTH_REPLY, j->id, &r, -1);
	free(j);
}

/* dovecot_authed - Dovecot's answer to a password check: a login
 * that is not one smtpd can use counts as a wrong password. */
static void
dovecot_authed(void *arg, enum dovecot_verdict v, const char *login)
{
	struct dv_wait		*w = arg;
	struct ipc_auth_reply	 r = { 0, "", v == DOVECOT_TEMP, 0, "" };

	if (v == DOVECOT_CONT) {
		r.cont = 1;
		r.challenge = login;
	} else if (v == DOVECOT_YES && login != NULL &&
	    strlen(login) < ADDR_TEXT_MAX) {
		r.ok = 1;
		r.login = login;
	}
	PROC_SEND(PROC_SMTPD, IPC_AUTH_REPLY, w->id, &r, -1);
	free(w);
}

/* auth - IPC_AUTH: queue the password check for the worker, or ask
 * Dovecot. */
static void
auth(struct ipc_msg *m)
{
	struct ipc_auth	 in;
	const char	*hash, *login;
	struct auth_job	*j;
	struct dv_wait	*w;

	j = xcalloc(1, sizeof(*j));
	j->id = m->id;
	if (IPC_DECODE(m, &in, NULL) == -1 ||
	    strlen(in.password) > SASL_PASS_MAX) {
		log_warn("event=ipc-error reason=\"bad auth request\"");
		auth_done(&j->w);	/* answered "no", never left waiting */
		return;
	}
	if (in.step == IPC_AUTH_RELAY_CANCEL) {
		free(j);
		dovecot_client_relay_cancel(m->id);
		return;
	}
	if (in.step != IPC_AUTH_CRED && config->auth_backend.target == NULL) {
		/* smtpd offers no such mechanism then: a stale request */
		auth_done(&j->w);
		return;
	}
	if (in.step != IPC_AUTH_CRED) {
		free(j);
		w = xcalloc(1, sizeof(*w));
		w->id = m->id;
		if (in.step == IPC_AUTH_RELAY_START)
			dovecot_client_relay_start(&config->auth_backend,
			    m->id, in.mech, *in.password == '\0' ? NULL :
			    strcmp(in.password, "=") == 0 ? "" : in.password,
			    in.client, in.secured, dovecot_authed, w);
		else
			dovecot_client_relay_next(m->id, in.password,
			    dovecot_authed, w);
		explicit_bzero((char *)in.password, strlen(in.password));
		return;
	}
	if (config->auth_backend.target != NULL) {
		free(j);
		w = xcalloc(1, sizeof(*w));
		w->id = m->id;
		dovecot_client_auth(&config->auth_backend, in.mech, in.user,
		    in.password, in.client, in.secured, dovecot_authed, w);
		explicit_bzero((char *)in.password, strlen(in.password));
		return;
	}
	hash = lookup_tab_user_hash(tables, in.user);
	login = lookup_tab_user_addr(tables, in.user);
	j->known = hash != NULL && login != NULL &&
	    str_copy(j->hash, hash, sizeof(j->hash)) < sizeof(j->hash);
	if (j->known)
		str_copy(j->login, login, sizeof(j->login));
	else
		str_copy(j->hash, dummy_hash, sizeof(j->hash));
	str_copy(j->pass, in.password, sizeof(j->pass));
	explicit_bzero((char *)in.password, strlen(in.password));
	/* Round robin: each thread hashes one password at a time. */
	worker_push(auth_workers[next_worker++ % nauth_workers], &j->w);
}

/* base_addr - a's address in lower case without its +tag. */
static int
base_addr(const struct mailaddr *a, char *out, size_t size)
{
	struct mailaddr	 b = *a;
	char		*d;

	str_lower(b.local);
	str_lower(b.domain);
	if (config->recipient_delimiter != '\0' && b.local[0] != '\0' &&
	    (d = strchr(b.local + 1, config->recipient_delimiter)) != NULL)
		*d = '\0';
	return addr_format(&b, out, size) < size ? 0 : -1;
}

/*
 * is_owned - may login use sender as MAIL FROM?  Its own address, or a
 * local address (an alias, a +tag) whose expansion reaches login's mailbox.
 */
static bool
is_owned(const char *login, const char *sender)
{
	const char	*own = lookup_tab_user_addr(tables, login);
	const char	*as = lookup_tab_user_addr(tables, sender);
	struct mailaddr	 addr;
	char		 base[ADDR_TEXT_MAX];
	size_t		 n = 0;

	bool		 dovecot = false;

	/* A login Dovecot checked need not be in users: it owns its own
	 * address, with or without a +tag, and what aliases lead to it. */
	if (own == NULL && config->auth_backend.target != NULL) {
		own = login;
		dovecot = true;
	}
	if (own == NULL)
		return false;
	if (as != NULL)
		return strcmp(own, as) == 0;
	if (addr_parse(sender, ADDR_F_UTF8, &addr) != ADDR_OK)
		return false;
	if (dovecot && base_addr(&addr, base, sizeof(base)) == 0 &&
	    str_ieq(own, base))
		return true;
	if (!conf_is_local_domain(config, addr.domain) ||
	    lookup_tab_resolve(tables, config, &addr, targets,
	    LOOKUP_MAX_TARGETS, &n) != LK_OK)
		return false;
	for (size_t i = 0; i < n; i++)
		if (targets[i].kind == RCPT_LOCAL &&
		    strcasecmp(targets[i].addr, own) == 0)
			return true;
	return false;
}

/* sender_owned - IPC_SENDER_OWNED. */
static void
sender_owned(struct ipc_msg *m)
{
	struct ipc_sender_owned		in;
	struct ipc_sender_owned_reply	r = { 0 };

	if (IPC_DECODE(m, &in, NULL) == -1)
		log_warn("event=ipc-error reason=\"bad sender request\"");
	else
		r.ok = is_owned(in.login, in.sender);
	PROC_SEND(PROC_SMTPD, IPC_SENDER_OWNED_REPLY, m->id, &r, -1);
}

/* rcheck_slot - the cache slot of addr (lower-case). */
static struct rcheck_slot *
rcheck_slot(const char *addr)
{
	return &rcache[str_ihash(addr) % RCHECK_SLOTS];
}

/* rcheck_answer - the resolve of one checked local mailbox. */
static void
rcheck_answer(int proc, uint64_t id, const char *addr,
    enum lookup_result r)
{
	struct ipc_target	 t = { RCPT_LOCAL, addr };
	struct ipc_resolve_reply out = { (uint32_t)r, NULL, 0 };

	if (r == LK_OK) {
		out.targets = &t;
		out.ntargets = 1;
	}
	PROC_SEND(proc, IPC_RESOLVE_REPLY, id, &out, -1);
}

/* rcheck_done - Dovecot's userdb answer: kept unless it is no answer. */
static void
rcheck_done(void *arg, enum dovecot_verdict v, const char *login)
{
	struct dv_wait		*w = arg;
	struct rcheck_slot	*sl = rcheck_slot(w->addr);

	if (v != DOVECOT_TEMP && config->recipient_check_cache > 0) {
		str_copy(sl->addr, w->addr, sizeof(sl->addr));
		sl->known = v == DOVECOT_YES;
		sl->expires = now_mono_usec() +
		    config->recipient_check_cache * 1000000;
	}
	if (v == DOVECOT_NO)
		log_info("session=%016llx event=recipient-check to=<%s> "
		    "result=unknown", (unsigned long long)w->id,
		    log_safe(w->addr));
	rcheck_answer(w->proc, w->id, w->addr, v == DOVECOT_YES ? LK_OK :
	    v == DOVECOT_NO ? LK_UNKNOWN : LK_TEMPFAIL);
	free(w);
}

/*
 * is_direct - is the resolution of rcpt its own mailbox, in a domain
 * whose mailboxes Dovecot knows (not an alias's target, not postmaster,
 * which RFC 5321 4.5.1 says is always taken)?  As Postfix does, an
 * address the aliases list is taken without asking.
 */
static bool
is_direct(const struct mailaddr *rcpt, const struct lookup_target *t,
    size_t n)
{
	char		 base[ADDR_TEXT_MAX];

	if (n != 1 || t[0].kind != RCPT_LOCAL ||
	    !conf_recipient_checked(config, rcpt->domain) ||
	    base_addr(rcpt, base, sizeof(base)) == -1 ||
	    strncmp(base, "postmaster@", 11) == 0)
		return false;
	return str_ieq(base, t[0].addr);
}

/* recipient_check - ask Dovecot (or the cache) whether the mailbox of
 * targets[0] exists; the answer goes to proc. */
static void
recipient_check(int proc, uint64_t id)
{
	struct rcheck_slot	*sl = rcheck_slot(targets[0].addr);
	struct dv_wait		*w;

	if (sl->expires > now_mono_usec() &&
	    str_ieq(sl->addr, targets[0].addr)) {
		rcheck_answer(proc, id, targets[0].addr, sl->known ? LK_OK :
		    LK_UNKNOWN);
		return;
	}
	w = xcalloc(1, sizeof(*w));
	w->proc = proc;
	w->id = id;
	str_copy(w->addr, targets[0].addr, sizeof(w->addr));
	dovecot_client_user(&config->recipient_check, w->addr, rcheck_done,
	    w);
}

static void
resolve(int proc, struct ipc_msg *m)
{
	struct ipc_resolve	 in;
	struct ipc_resolve_reply out = { LK_UNKNOWN, NULL, 0 };
	struct mailaddr		 addr;
	enum lookup_result	 r = LK_UNKNOWN;
	size_t			 n = 0;

	if (IPC_DECODE(m, &in, NULL) == -1) {
		log_warn("event=ipc-error reason=\"bad resolve request\"");
		return;
	}
	if (addr_parse(in.addr, ADDR_F_UTF8, &addr) == ADDR_OK)
		r = lookup_tab_resolve(tables, config, &addr, targets,
		    LOOKUP_MAX_TARGETS, &n);
	/* The admin needs to know of a loop in the aliases; the request id
	 * of smtpd is its session's id. */
	if (r == LK_LOOP)
		log_warn("%s%016llx event=alias-loop to=<%s>",
		    proc == PROC_SMTPD ? "session=" : "request=",
		    (unsigned long long)m->id, log_safe(in.addr));
	/* smtpd's RCPT: Dovecot says whether the mailbox exists. */
	if (r == LK_OK && proc == PROC_SMTPD && is_direct(&addr, targets,
	    n)) {
		recipient_check(proc, m->id);
		return;
	}
	out.result = (uint32_t)r;
	if (r == LK_OK && n > 0) {
		out.targets = xcalloc(n, sizeof(*out.targets));
		out.ntargets = n;
	}
	for (size_t i = 0; i < out.ntargets; i++) {
		out.targets[i].kind = (uint32_t)targets[i].kind;
		out.targets[i].addr = targets[i].addr;
	}
	PROC_SEND(proc, IPC_RESOLVE_REPLY, m->id, &out, -1);
	free(out.targets);
}

/*
 * milter_connect - IPC_MILTER_CONNECT: smtpd has no file system view, so
 * the UNIX socket of a [milter] is connected here and handed over.  Only
 * a path of the config: smtpd names the section by its index.  A UNIX
 * connect does not wait on the network: it succeeds or fails at once.
 */
static void
milter_connect(struct ipc_msg *m)
{
	struct ipc_milter_connect	 in;
	struct ipc_milter_connect_reply	 out = { 0, 0, "" };
	const struct conf_milter	*mc;
	struct sockaddr_un		 sun;
	int				 fd = -1;

	if (IPC_DECODE(m, &in, NULL) == -1) {
		log_warn("event=ipc-error reason=\"bad milter request\"");
		return;
	}
	out.index = in.index;
	if (in.index >= config->nmilters ||
	    !(mc = &config->milters[in.index])->is_unix) {
		out.why = "no such milter";
		goto reply;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	str_copy(sun.sun_path, mc->path, sizeof(sun.sun_path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		out.why = strerror(errno);
		if (fd != -1)
			close(fd);
		fd = -1;
	} else
		out.ok = 1;
reply:
	/* the frame takes the descriptor (closed once it is sent) */
	PROC_SEND(PROC_SMTPD, IPC_MILTER_CONNECT_REPLY, m->id, &out, fd);
}

static void
lookup_msg(int proc, struct ipc_msg *m)
{
	if (m->fd != -1)
		close(m->fd);
	/* queue asks for local submissions (queue_submit.c). */
	if ((proc == PROC_SMTPD || proc == PROC_QUEUE) &&
	    m->type == IPC_RESOLVE)
		resolve(proc, m);
	else if (proc == PROC_SMTPD && m->type == IPC_AUTH)
		auth(m);
	else if (proc == PROC_SMTPD && m->type == IPC_SENDER_OWNED)
		sender_owned(m);
	else if (proc == PROC_SMTPD && m->type == IPC_GREYLIST)
		greylist(m);
	else if (proc == PROC_SMTPD && m->type == IPC_MILTER_CONNECT)
		milter_connect(m);
	else
		log_warn("event=ipc-error reason=\"unexpected %s from %s\"",
		    ipc_type_str(m->type), proc_name(proc));
}

static void
lookup_nop(int proc)
{
}

/* lookup_configure - the users and aliases texts of the start or the
 * reload, parsed with its config; a table that does not load refuses it. */
static int
lookup_configure(const struct conf *nc, const struct proc_reload *r)
{
	struct lookup_tab	*t = lookup_tab_new();
	char			 err[512];

	if ((nc->users != NULL && lookup_tab_users_load(t, nc, r->users,
	    strlen(r->users), nc->users, err, sizeof(err)) == -1) ||
	    (nc->aliases != NULL && lookup_tab_aliases_load(t, nc, r->aliases,
	    strlen(r->aliases), nc->aliases, err, sizeof(err)) == -1)) {
		log_warn("event=reload result=failed reason=\"%s\"",
		    log_safe(err));
		proc_reload_refused(err);
		lookup_tab_free(t);
		return -1;
	}
	lookup_tab_free(tables);
	tables = t;
	/* the socket or its users may have changed */
	if (rcache != NULL)
		memset(rcache, 0, RCHECK_SLOTS * sizeof(*rcache));
	return 0;
}

static void
lookup_reload(void)
{
	log_info("event=reloaded users=%zu",
	    lookup_tab_user_count(tables));
}

static void
lookup_shutdown(void)
{
	if (sweep_ev != NULL)
		event_free(sweep_ev);
	sweep_ev = NULL;
	greylist_db_close();
	proc_exit();
}

/*
 * The sandbox: lookup gets its tables over IPC and checks passwords on
 * worker threads; besides the calls of every child it only starts them.
 */
static const char *const lookup_calls[] = {
	"clone", "clone3", "sched_getaffinity",
	/* Dovecot's auth sockets, UNIX-socket milters passed on to smtpd */
	"socket", "getsockname", "getpeername",
	/* the greylisting store: an LMDB file and its lock file (on Linux
	 * mdb_env_open() asks uname() for the kernel's version) */
	"open", "openat", "ftruncate", "fstatfs", "statfs", "stat", "lstat",
	"statx", "pread64", "pwrite64", "fsync", "fdatasync", "msync",
	"flock", "uname", NULL
};
static const struct sandbox lookup_sandbox = {
	.allow = lookup_calls,
};

const struct proc_module lookup_module = {
	.name = "lookup",
	.needs = PROC_NEEDS_TABLES,
	.sandbox = &lookup_sandbox,
	.init = lookup_init,
	.peer_up = lookup_nop,
	.peer_down = lookup_nop,
	.msg = lookup_msg,
	.configure = lookup_configure,
	.reload = lookup_reload,
	.shutdown = lookup_shutdown,
};
