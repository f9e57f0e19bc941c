/*
 * deliver.c - the deliver process's glue: its module for the child
 * runtime (proc.c) and the dispatch of queue's requests.  Each
 * IPC_DELIVER becomes a job (deliver_job.c); a message with too many
 * Received: fields (max_received) is a mail loop and fails with 5.4.6
 * before any delivery, else the job goes to a courier: the remote one
 * when every recipient is remote (one domain per request, remote.c),
 * the local one (Maildir, local.c) otherwise, except for recipients of
 * domains delivered over LMTP (deliver = lmtp:..., lmtp.c): a request
 * whose recipients go to different places is cut into parts, one per
 * courier and LMTP server, answered together.  The glue knows couriers
 * only through struct deliver_courier, and starts, reloads and stops
 * them all alike.
 *
 * Runs unprivileged as the one mail user who owns all mailboxes.  Trust:
 * only queue may ask for deliveries; anything else is logged and dropped.
 */
#include <sys/stat.h>

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/conf.h"
#include "common/proc.h"
#include "deliver/deliver.h"
#include "deliver/deliver_job.h"
#include "deliver/lmtp.h"
#include "deliver/local.h"
#include "deliver/remote.h"
#include "lib/ipc.h"
#include "lib/log.h"
#include "lib/util.h"
#include "mail/envelope.h"

static void	 deliver_request(struct ipc_msg *);
static void	 deliver_local(struct deliver_job *);
static const char *rcpt_target(const struct deliver_rcpt *);
static void	 deliver_init(struct event_base *);
static void	 deliver_msg(int, struct ipc_msg *);
static void	 deliver_nop(int);
static void	 deliver_reload(void);
static void	 deliver_shutdown(void);

static const struct deliver_courier *const couriers[] = {
	&local_courier,
	&remote_courier,
	&lmtp_courier,
};

/*
 * The sandbox: deliver writes Maildirs (open, mkdir, sync, link, rename,
 * unlink) on its worker thread and talks SMTP and LMTP over sockets (TCP,
 * or LMTP's UNIX socket) and DNS.
 */
static const char *const deliver_calls[] = {
	"open", "openat", "mkdir", "mkdirat", "rename", "renameat",
	"renameat2", "link", "linkat", "unlink", "unlinkat", "getdents64",
	"fsync", "fdatasync", "syncfs", "umask", "ftruncate", "pread64",
	"pwrite64",
	"stat", "lstat", "statx", "fchmod", "socket", "connect", "bind",
	"getsockname", "getpeername", "clone", "clone3", "uname", NULL
};
static const struct sandbox deliver_sandbox = {
	.allow = deliver_calls,
};

const struct proc_module deliver_module = {
	.name = "deliver",
	.sandbox = &deliver_sandbox,
	.init = deliver_init,
	.peer_up = deliver_nop,
	.peer_down = deliver_nop,
	.msg = deliver_msg,
	.reload = deliver_reload,
	.shutdown = deliver_shutdown,
};

/* deliver_request - one IPC_DELIVER: decode, check for a loop, hand the
 * job to its courier, which reports when done. */
static void
deliver_request(struct ipc_msg *m)
{
	struct deliver_job		*j = deliver_job_decode(m);
	const struct deliver_courier	*c;

	if (j == NULL) {
		log_warn("event=ipc-error reason=\"bad delivery request\"");
		return;
	}
	if (deliver_job_loops(j, config->max_received)) {
		deliver_job_done(j);
		return;
	}
	if (deliver_job_is_remote(j)) {
		c = &remote_courier;
		c->deliver(j);
		return;
	}
	deliver_local(j);
}

/* rcpt_target - the LMTP server of a local recipient's domain, or NULL
 * for Maildir (a remote recipient mixed in goes with Maildir, which
 * defers it). */
static const char *
rcpt_target(const struct deliver_rcpt *r)
{
	const char	*at = strrchr(r->addr, '@');

	if (r->kind != RCPT_LOCAL || at == NULL)
		return NULL;
	return conf_deliver_of(config, at + 1)->target;
}

static bool
same_target(const char *a, const char *b)
{
	return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/*
 * deliver_local - a request of local recipients: to Maildir or to the
 * LMTP server of their domain, cut into parts when they differ.  Every
 * part is made before any goes to its courier, so the request cannot
 * answer before its last part is counted.
 */
static void
deliver_local(struct deliver_job *j)
{
	struct deliver_job	**parts;
	size_t			 *idx, nparts = 0, n, k;
	bool			 *taken;
	const char		 *t = rcpt_target(&j->r[0]);

	for (k = 1; k < j->n && same_target(rcpt_target(&j->r[k]), t); k++)
		;
	if (k == j->n) {		/* one way for all: no parts */
		(t == NULL ? &local_courier : &lmtp_courier)->deliver(j);
		return;
	}
	parts = xcalloc(j->n, sizeof(*parts));
	idx = xcalloc(j->n, sizeof(*idx));
	taken = xcalloc(j->n, sizeof(*taken));
	for (size_t i = 0; i < j->n; i++) {
		if (taken[i])
			continue;
		t = rcpt_target(&j->r[i]);
		for (k = i, n = 0; k < j->n; k++) {
			if (taken[k] || !same_target(rcpt_target(&j->r[k]), t))
				continue;
			taken[k] = true;
			idx[n++] = k;
		}
		parts[nparts++] = deliver_job_part(j, idx, n);
	}
	for (size_t i = 0; i < nparts; i++)
		(rcpt_target(&parts[i]->r[0]) == NULL ? &local_courier :
		    &lmtp_courier)->deliver(parts[i]);
	free(taken);
	free(idx);
	free(parts);
}

static void
deliver_init(struct event_base *base)
{
	umask(077);
	for (size_t i = 0; i < NELEM(couriers); i++)
		if (couriers[i]->init != NULL)
			couriers[i]->init(base);
}

static void
deliver_msg(int proc, struct ipc_msg *m)
{
	if (proc == PROC_QUEUE && m->type == IPC_DELIVER) {
		deliver_request(m);
		return;
	}
	if (m->fd != -1)
		close(m->fd);
	log_warn("event=ipc-error reason=\"unexpected %s from %s\"",
	    ipc_type_str(m->type), proc_name(proc));
}

static void
deliver_nop(int proc)
{
}

static void
deliver_reload(void)
{
	for (size_t i = 0; i < NELEM(couriers); i++)
		if (couriers[i]->reload != NULL)
			couriers[i]->reload();
	log_info("event=reloaded");
}

static void
deliver_shutdown(void)
{
	for (size_t i = 0; i < NELEM(couriers); i++)
		if (couriers[i]->shutdown != NULL)
			couriers[i]->shutdown();
	proc_exit();
}
