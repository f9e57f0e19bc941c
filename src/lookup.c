/*
 * lookup.c - the lookup process: answers recipient resolution (users,
 * aliases, catch-alls, the recipient delimiter) for smtpd from the tables
 * the parent loaded.  Runs unprivileged; its input is smtpd's requests,
 * whose addresses are parsed again here rather than trusted.
 */
#include <stdlib.h>
#include <unistd.h>

#include "addr.h"
#include "conf.h"
#include "log.h"
#include "lookup_tab.h"
#include "proc.h"
#include "util.h"

static struct lookup_target	*targets;

static void
lookup_init(struct event_base *base)
{
	targets = xcalloc(LOOKUP_MAX_TARGETS, sizeof(*targets));
	if (lookup_tables == NULL)
		lookup_tables = lookup_tab_new();
}

static void
resolve(int proc, struct ipc_msg *m)
{
	const char		*a = ipc_get_str(m);
	struct mailaddr		 addr;
	enum lookup_result	 r = LK_UNKNOWN;
	size_t			 n = 0;
	struct buf		 b;

	if (!ipc_msg_ok(m)) {
		log_warn("event=ipc-error reason=\"bad resolve request\"");
		return;
	}
	if (addr_parse(a, ADDR_F_UTF8, &addr) == ADDR_OK)
		r = lookup_resolve(lookup_tables, config, &addr, targets,
		    LOOKUP_MAX_TARGETS, &n);
	if (r != LK_OK)
		n = 0;
	buf_init(&b, 0);
	ipc_put_u32(&b, (uint32_t)r);
	ipc_put_u32(&b, (uint32_t)n);
	for (size_t i = 0; i < n; i++) {
		ipc_put_u32(&b, (uint32_t)targets[i].kind);
		ipc_put_str(&b, targets[i].addr);
	}
	proc_send(proc, IPC_RESOLVE_REPLY, m->id, &b, -1);
	buf_free(&b);
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
	else
		log_warn("event=ipc-error reason=\"unexpected %s from %s\"",
		    ipc_type_str(m->type), proc_name(proc));
}

static void
lookup_nop(int proc)
{
}

static void
lookup_reload(void)
{
	log_info("event=reloaded users=%zu",
	    lookup_user_count(lookup_tables));
}

static void
lookup_shutdown(void)
{
	proc_exit();
}

const struct proc_module lookup_module = {
	.name = "lookup",
	.init = lookup_init,
	.peer_up = lookup_nop,
	.peer_down = lookup_nop,
	.msg = lookup_msg,
	.reload = lookup_reload,
	.shutdown = lookup_shutdown,
};
