/*
 * queue_dsn.c - the delivery status reports of the queue process:
 * bounces, delay warnings and requested success reports (RFC 3464).  The
 * scheduler notes what became of each recipient in a batch of results;
 * here the recipients' NOTIFY (RFC 3461) says whom a report covers, and
 * the report is built with bounce.c and committed as a new message from
 * the null sender through spool_inject, with nobody waiting for it.
 *
 * Trust: the envelope strings are peer data (addresses, remote replies);
 * bounce.c escapes them before they reach the report.  The original
 * message is read back from our own spool.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/conf.h"
#include "lib/log.h"
#include "lib/util.h"
#include "mail/smtp_parse.h"
#include "queue/queue_dsn.h"
#include "queue/spool.h"

static void	 read_original(const char *, const struct envelope *,
		    struct buf *, enum bounce_ret *);
static void	 report_envelope(const struct envelope *, uint64_t,
		    struct envelope *);
static void	 inject_report(const char *, const struct envelope *,
		    const struct buf *, enum bounce_action, uint64_t);
static enum bounce_action worst(const struct bounce_rcpt *, size_t);

/* queue_dsn_wants - see queue_dsn.h. */
bool
queue_dsn_wants(const struct env_rcpt *r, enum bounce_action action)
{
	unsigned	what = action == BOUNCE_FAILED ? SMTP_NOTIFY_FAILURE :
	    action == BOUNCE_DELAYED ? SMTP_NOTIFY_DELAY : SMTP_NOTIFY_SUCCESS;

	if (r->notify & SMTP_NOTIFY_NEVER)
		return false;
	if (r->notify == 0)
		return what == SMTP_NOTIFY_FAILURE || what == SMTP_NOTIFY_DELAY;
	return (r->notify & what) != 0;
}

/* queue_dsn_covered - see queue_dsn.h. */
size_t
queue_dsn_covered(const struct envelope *env, const unsigned char *note,
    uint64_t now, struct bounce_rcpt *br)
{
	size_t	n = 0;

	for (size_t i = 0; i < env->nrcpt; i++) {
		const struct env_rcpt	*r = &env->rcpts[i];
		enum bounce_action	 action;

		if (note[i] == 0)
			continue;
		action = (enum bounce_action)(note[i] - 1);
		if (!queue_dsn_wants(r, action))
			continue;
		memset(&br[n], 0, sizeof(br[n]));
		br[n].addr = r->addr;
		br[n].orcpt = r->orcpt;
		br[n].action = action;
		br[n].status = r->status;
		br[n].remote_mta = r->remote_mta;
		br[n].last_attempt = action == BOUNCE_DELIVERED ||
		    action == BOUNCE_RELAYED ? 0 : now;
		n++;
	}
	return n;
}

/* read_original - the start of the message for the report: the whole of
 * it up to BOUNCE_FULL_MAX, else enough for its headers (and *ret becomes
 * headers only).  A small read on the loop, from the page cache. */
static void
read_original(const char *id, const struct envelope *env, struct buf *b,
    enum bounce_ret *ret)
{
	size_t	want = env->size <= BOUNCE_FULL_MAX ? (size_t)env->size :
	    64 * 1024;
	int	fd = spool_open_data(id);
	ssize_t	r = 0;

	if (env->size > BOUNCE_FULL_MAX)
		*ret = BOUNCE_RET_HDRS;
	if (fd == -1 || buf_reserve(b, want) == -1) {
		if (fd != -1)
			close(fd);
		return;
	}
	while (b->len < want && (r = pread(fd, b->data + b->len,
	    want - b->len, (off_t)b->len)) > 0)
		b->len += (size_t)r;
	close(fd);
}

/* report_envelope - the envelope of a report: from <>, to the original
 * sender, local when the sender's domain is one of ours (a recipient
 * delimiter tag is cut off there, as smtpd's lookup would do). */
static void
report_envelope(const struct envelope *env, uint64_t now, struct envelope *e)
{
	struct env_rcpt	*r;
	const char	*at = strrchr(env->sender, '@');
	char		*tag;

	e->arrival = now;
	/* RFC 8689 5: the report on a REQUIRETLS message is itself sent
	 * with REQUIRETLS. */
	e->tls_req = env->tls_req == ENV_TLS_REQUIRE ? ENV_TLS_REQUIRE :
	    ENV_TLS_DEFAULT;
	e->sender = xstrdup("");
	e->client = xstrdup("local");
	e->nrcpt = 1;
	e->rcpts = r = xcalloc(1, sizeof(*r));
	r->orig = xstrdup(env->sender);
	r->addr = xstrdup(env->sender);
	/* No NOTIFY=NEVER: its failure must reach queue_dsn_report, which
	 * logs the drop (the sender <> is what stops the loop). */
	r->kind = at != NULL && conf_is_local_domain(config, at + 1) ?
	    RCPT_LOCAL : RCPT_REMOTE;
	if (r->kind == RCPT_LOCAL && config->recipient_delimiter != '\0' &&
	    (tag = memchr(r->addr, config->recipient_delimiter,
	    (size_t)(at - env->sender))) != NULL && tag != r->addr)
		memmove(tag, r->addr + (at - env->sender), strlen(at) + 1);
}

/* inject_report - commit the built report as a new message; its commit
 * answers nobody. */
static void
inject_report(const char *id, const struct envelope *env,
    const struct buf *text, enum bounce_action kind, uint64_t now)
{
	struct spool_commit	*c = xcalloc(1, sizeof(*c));

	report_envelope(env, now, &c->parsed);
	if (spool_inject(c, text->data, text->len) == -1) {
		log_warn("%s: event=bounce-error error=\"%s\"", id,
		    strerror(errno));
		envelope_free(&c->parsed);
		free(c);
		return;
	}
	log_info("%s: sender %s notification: %s", id,
	    kind == BOUNCE_FAILED ? "non-delivery" : kind == BOUNCE_DELAYED ?
	    "delay" : "delivery status", c->id);
}

/* worst - the kind of a report: failed if any recipient failed, else
 * delayed if any is, else a success report. */
static enum bounce_action
worst(const struct bounce_rcpt *br, size_t n)
{
	enum bounce_action	kind = BOUNCE_DELIVERED;

	for (size_t i = 0; i < n && kind != BOUNCE_FAILED; i++)
		if (br[i].action == BOUNCE_FAILED ||
		    br[i].action == BOUNCE_DELAYED)
			kind = br[i].action;
	return kind;
}

/* queue_dsn_report - see queue_dsn.h.  One report covers a whole batch of
 * results, each recipient with its own action and status. */
bool
queue_dsn_report(const struct queue_sched_report *r)
{
	const struct envelope	*env = r->env;
	struct bounce_rcpt	*br = xcalloc(MAX(env->nrcpt, 1), sizeof(*br));
	struct bounce_msg	 bm = { 0 };
	struct buf		 orig, text;
	char			*rid;
	size_t			 n;
	enum bounce_action	 kind;
	bool			 made = false;

	n = queue_dsn_covered(env, r->note, r->now, br);
	kind = worst(br, n);

	if (n == 0 || env->sender[0] == '\0') {
		if (n > 0 && kind == BOUNCE_FAILED)
			log_info("%s: event=bounce-dropped reason=\"the sender "
			    "is <>: no notification about a notification\"",
			    r->id);
		free(br);
		return false;
	}
	buf_init(&orig, 0);
	buf_init(&text, 0);
	xasprintf(&rid, "%s.%llX", r->id, (unsigned long long)r->now);
	bm.hostname = config->hostname;
	bm.sender = env->sender;
	bm.envid = env->envid;
	bm.bounce_id = rid;
	bm.arrival = env->arrival;
	bm.now = r->now;
	bm.retry_until = env->arrival + config->queue_lifetime * 1000000;
	bm.ret = env->ret == SMTP_RET_HDRS ? BOUNCE_RET_HDRS :
	    env->ret == SMTP_RET_FULL ? BOUNCE_RET_FULL : BOUNCE_RET_DEFAULT;
	/* RFC 8689 5: the content of a REQUIRETLS message does not travel
	 * back in a report, whatever RET says: its header fields only. */
	if (env->tls_req == ENV_TLS_REQUIRE)
		bm.ret = BOUNCE_RET_HDRS;
	read_original(r->id, env, &orig, &bm.ret);
	bm.orig = orig.data != NULL ? orig.data : "";
	bm.orig_len = orig.len;
	bm.rcpts = br;
	bm.nrcpt = n;
	if (bounce_build(&bm, &text) == 0) {
		inject_report(r->id, env, &text, kind, r->now);
		made = true;
	}
	free(rid);
	buf_free(&orig);
	buf_free(&text);
	free(br);
	return made;
}
