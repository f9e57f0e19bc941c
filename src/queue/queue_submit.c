/*
 * queue_submit.c - local submissions in the queue process: the envelope
 * queue_ctl.c checked, whose recipients the lookup process resolves
 * (users, aliases, recipient delimiter) exactly as it does smtpd's RCPT
 * TO, then committed through spool_inject like any other message.  The
 * client's answer waits for that commit: the submission carries its
 * caller's completion (queue_submit.h), and the commit carries the job.
 *
 * Trust: the envelope came from a local user through state_dir/submit
 * and was validated by queue_ctl.c; the lookup replies are from our own
 * process and read with the bounds-checked getters.  Replies are matched
 * by request id; a job whose lookup went away is refused, never left.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "auth/dkim_sign.h"
#include "common/conf.h"
#include "common/stats.h"
#include "common/dkim_keys.h"
#include "lib/ipc_proto.h"
#include "lib/log.h"
#include "common/lookup_tab.h"
#include "common/proc.h"
#include "queue/queue_submit.h"
#include "queue/spool.h"
#include "lib/util.h"

struct job {
	struct job	*next;
	struct envelope	 env;		/* recipients as given */
	struct env_rcpt	*out;		/* as resolved */
	size_t		 nout, capout;
	struct buf	 data;
	queue_submit_cb	 done;		/* the caller's completion */
	void		*arg;
	uint64_t	 base;		/* IPC_RESOLVE ids base .. base+nrcpt-1 */
	size_t		 left;		/* answers still to come */
	char		*error;		/* the first refusal, or NULL */
	int		 code;		/* its sysexits.h code */
};

static struct job	*jobs;
static uint64_t		 next_rid = 1;

static void	 job_free(struct job *);
static void	 job_unlink(struct job *);
static void	 add_target(struct job *, unsigned, const char *,
		    const char *);
static void	 refuse(struct job *, int, const char *, const char *);
static void	 sign(const struct job *, struct envelope *);
static void	 finish(struct job *);
static void	 committed(const struct spool_commit *, void *);

static void
job_free(struct job *j)
{
	for (size_t i = 0; i < j->nout; i++) {
		free(j->out[i].addr);
		free(j->out[i].orig);
	}
	free(j->out);
	envelope_free(&j->env);
	buf_free(&j->data);
	free(j->error);
	free(j);
}

static void
job_unlink(struct job *j)
{
	struct job	**pp;

	for (pp = &jobs; *pp != NULL && *pp != j; pp = &(*pp)->next)
		;
	if (*pp != NULL)
		*pp = j->next;
}

/* add_target - one resolved recipient; a duplicate is kept once. */
static void
add_target(struct job *j, unsigned kind, const char *addr, const char *given)
{
	struct env_rcpt	*r;

	for (size_t i = 0; i < j->nout; i++)
		if (strcmp(j->out[i].addr, addr) == 0)
			return;
	if (j->nout == j->capout) {
		j->capout = j->capout ? j->capout * 2 : 8;
		j->out = xreallocarray(j->out, j->capout, sizeof(*j->out));
	}
	r = &j->out[j->nout++];
	memset(r, 0, sizeof(*r));
	r->addr = xstrdup(addr);
	r->orig = xstrdup(given);
	r->kind = kind == RCPT_LOCAL ? RCPT_LOCAL : RCPT_REMOTE;
}

/* refuse - the job fails with "what <addr>" (or what alone). */
static void
refuse(struct job *j, int code, const char *what, const char *addr)
{
	if (j->error != NULL)
		return;
	if (addr != NULL)
		xasprintf(&j->error, "%s <%s>", what, addr);
	else
		j->error = xstrdup(what);
	j->code = code;
}

/* queue_submit - see queue_submit.h. */
int
queue_submit(struct envelope *env, const void *data, size_t len,
    queue_submit_cb done, void *arg, const char **why, int *code)
{
	struct job	*j;

	if (proc_peer(PROC_LOOKUP) == NULL) {
		*why = "the server is starting or busy, try again";
		*code = EX_TEMPFAIL;
		return -1;
	}
	j = xcalloc(1, sizeof(*j));
	j->env = *env;
	memset(env, 0, sizeof(*env));
	buf_init(&j->data, 0);
	buf_append(&j->data, data, len);
	j->done = done;
	j->arg = arg;
	j->base = next_rid;
	next_rid += j->env.nrcpt;
	j->left = j->env.nrcpt;
	for (size_t i = 0; i < j->env.nrcpt; i++) {
		struct ipc_resolve	q = { j->env.rcpts[i].addr };

		if (PROC_SEND(PROC_LOOKUP, IPC_RESOLVE, j->base + i, &q,
		    -1) == -1) {
			job_free(j);
			*why = "the server is busy, try again";
			*code = EX_TEMPFAIL;
			return -1;
		}
	}
	j->next = jobs;
	jobs = j;
	return 0;
}

/* queue_submit_resolved - see queue_submit.h. */
void
queue_submit_resolved(struct ipc_msg *m)
{
	struct job			*j;
	struct ipc_resolve_reply	 r;
	bool				 ok = IPC_DECODE(m, &r, NULL) == 0;
	const char			*given;

	for (j = jobs; j != NULL; j = j->next)
		if (m->id >= j->base && m->id - j->base < j->env.nrcpt)
			break;
	if (j == NULL) {
		ipc_proto_free(IPC_RESOLVE_REPLY, &r);
		return;			/* its job was refused meanwhile */
	}
	given = j->env.rcpts[m->id - j->base].addr;
	if (!ok)
		refuse(j, EX_TEMPFAIL, "recipient lookup failed for", given);
	else if (r.result == LK_OK && r.ntargets > 0)
		for (size_t i = 0; i < r.ntargets; i++)
			add_target(j, r.targets[i].kind, r.targets[i].addr,
			    given);
	else if (r.result == LK_LOOP)
		refuse(j, EX_NOUSER, "alias loop at", given);
	else if (r.result == LK_TOO_MANY)
		refuse(j, EX_UNAVAILABLE, "too many recipients after alias "
		    "expansion of", given);
	else
		refuse(j, EX_NOUSER, "unknown user", given);
	ipc_proto_free(IPC_RESOLVE_REPLY, &r);
	if (--j->left == 0)
		finish(j);
}

/* sign - local mail from a [dkim] domain is signed as smtpd signs
 * relayed and authenticated mail; the fields go first at delivery. */
static void
sign(const struct job *j, struct envelope *env)
{
	struct buf	 fields;
	char		 what[96];

	buf_init(&fields, 0);
	snprintf(what, sizeof(what), "submit client=\"%s\"",
	    log_safe(env->client != NULL ? env->client : "local"));
	dkim_sign_message(dkim_keys_signer(), j->data.data, j->data.len,
	    &fields, what);
	if (fields.len > 0) {
		free(env->prepend);
		env->prepend = xstrdup(buf_cstr(&fields));
	}
	buf_free(&fields);
}

/* finish - every recipient is resolved: commit, or refuse.  The job
 * waits for its commit (committed), with its message data freed. */
static void
finish(struct job *j)
{
	struct spool_commit	*c;

	job_unlink(j);
	if (j->error == NULL && j->nout > config->max_recipients)
		refuse(j, EX_UNAVAILABLE, "too many recipients after alias "
		    "expansion", NULL);
	if (j->error != NULL) {
		j->done(j->arg, false, j->error, j->code);
		job_free(j);
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->done = committed;
	c->done_arg = j;
	c->parsed = j->env;
	memset(&j->env, 0, sizeof(j->env));
	for (size_t i = 0; i < c->parsed.nrcpt; i++) {
		free(c->parsed.rcpts[i].addr);
		free(c->parsed.rcpts[i].orig);
	}
	free(c->parsed.rcpts);
	c->parsed.rcpts = j->out;
	c->parsed.nrcpt = j->nout;
	j->out = NULL;
	j->nout = 0;
	c->parsed.arrival = now_usec();
	sign(j, &c->parsed);
	if (spool_inject(c, j->data.data, j->data.len) == -1) {
		log_warn("event=submit-error error=\"%s\"", strerror(errno));
		j->done(j->arg, false, "queue file write error", EX_TEMPFAIL);
		envelope_free(&c->parsed);
		free(c);
		job_free(j);
		return;
	}
	stats_add(STATS_SUBMITTED);
	/* Postfix's pickup names a local submission so */
	if (config->log_format == LOG_FORMAT_POSTFIX)
		log_info_as("pickup", "%s: uid=%s from=<%s>", c->id,
		    c->parsed.client != NULL &&
		    strncmp(c->parsed.client, "local uid=", 10) == 0 ?
		    log_safe(c->parsed.client + 10) : "0",
		    log_safe(c->parsed.sender));
	else
		log_info("%s: client=%s", c->id, log_safe(c->parsed.client));
	buf_free(&j->data);
}

/* committed - the submission is durable (or failed): answer the caller. */
static void
committed(const struct spool_commit *c, void *arg)
{
	struct job	*j = arg;
	bool		 ok = c->error == 0;

	j->done(j->arg, ok, ok ? c->id : "queue file write error",
	    ok ? EX_OK : EX_TEMPFAIL);
	job_free(j);
}

/* queue_submit_abort - see queue_submit.h. */
void
queue_submit_abort(void)
{
	while (jobs != NULL) {
		struct job	*j = jobs;

		jobs = j->next;
		j->done(j->arg, false, "the server's lookup process "
		    "restarted, try again", EX_TEMPFAIL);
		job_free(j);
	}
}
