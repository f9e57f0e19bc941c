/*
 * lookup.c - the lookup process: answers recipient resolution (users,
 * aliases, catch-alls, the recipient delimiter), password checks for AUTH
 * and sender ownership for smtpd from the tables the parent loaded.  Runs
 * unprivileged; its input is smtpd's requests, whose addresses are parsed
 * again here rather than trusted.  crypt(3) is slow on purpose (yescrypt):
 * it runs on worker threads (one per CPU, at most AUTH_THREADS_MAX), never
 * on this loop, and an unknown user is hashed against a dummy so that the
 * answer takes about as long.
 * Passwords are wiped once checked and are never logged.
 */
#include <crypt.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "mail/addr.h"
#include "common/conf.h"
#include "lib/ipc_proto.h"
#include "lib/log.h"
#include "common/lookup_tab.h"
#include "common/proc.h"
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

static void	 auth_run(struct worker_item *);
static void	 auth_done(struct worker_item *);

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
	struct ipc_auth_reply	 r = { j->ok, j->ok ? j->login : "" };

	PROC_SEND(PROC_SMTPD, IPC_AUTH_REPLY, j->id, &r, -1);
	free(j);
}

/* auth - IPC_AUTH: queue the password check for the worker. */
static void
auth(struct ipc_msg *m)
{
	struct ipc_auth	 in;
	const char	*hash, *login;
	struct auth_job	*j;

	j = xcalloc(1, sizeof(*j));
	j->id = m->id;
	if (IPC_DECODE(m, &in, NULL) == -1 ||
	    strlen(in.password) > SASL_PASS_MAX) {
		log_warn("event=ipc-error reason=\"bad auth request\"");
		auth_done(&j->w);	/* answered "no", never left waiting */
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
	size_t		 n = 0;

	if (own == NULL)
		return false;
	if (as != NULL)
		return strcmp(own, as) == 0;
	if (addr_parse(sender, ADDR_F_UTF8, &addr) != ADDR_OK ||
	    !conf_is_local_domain(config, addr.domain) ||
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
		lookup_tab_free(t);
		return -1;
	}
	lookup_tab_free(tables);
	tables = t;
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
	proc_exit();
}

/*
 * The sandbox: lookup gets its tables over IPC and checks passwords on
 * worker threads; besides the calls of every child it only starts them.
 */
static const char *const lookup_calls[] = {
	"clone", "clone3", "sched_getaffinity", NULL
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
