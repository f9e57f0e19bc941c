/*
 * test_queue_sched.c - the queue's scheduler driven by a fake clock and
 * fake ops, no processes: retry delays, expiry with 4.4.7, the delay
 * warning, the concurrency limits, held messages, the admin's actions,
 * deliver going away.  The reports' recipients are chosen by the real
 * NOTIFY rules (queue_dsn_covered).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/conf.h"
#include "lib/util.h"
#include "mail/bounce.h"
#include "mail/smtp_parse.h"
#include "queue/queue_dsn.h"
#include "queue/queue_sched.h"

#define T0	1700000000000000ull	/* µs */
#define SEC	1000000ull
#define MINUTE	(60 * SEC)
#define HOUR	(60 * MINUTE)

#define ID_A	"00000000000000A1"
#define ID_B	"00000000000000B2"
#define ID_C	"00000000000000C3"
#define ID_D	"00000000000000D4"

#define MAX_SENT	256
#define MAX_RCPT	80

struct sent {
	char		 id[QUEUE_ID_LEN + 1];
	char		 domain[64];		/* "" for the local ones */
	uint64_t	 reqid;
	bool		 recovered;
	uint32_t	 rcpt[MAX_RCPT];
	uint32_t	 nrcpt;
};

struct covered {
	char			 addr[64];
	enum bounce_action	 action;
	char			 status[160];
};

struct reported {
	char		 id[QUEUE_ID_LEN + 1];
	size_t		 n;
	struct covered	 r[8];
};

/* What the fake ops saw, and how they answer. */
static struct {
	enum queue_sched_send	 answer;
	unsigned		 asked;		/* deliver calls, sent or not */
	struct sent		 sent[MAX_SENT];
	size_t			 nsent;
	struct reported		 reports[16];
	size_t			 nreports;
	unsigned		 appends;
	unsigned		 removed, corrupt, held, released;
	char			 last_removed[QUEUE_ID_LEN + 1];
	uint64_t		 due;		/* the timer: 0 = none */
} fk;

static struct conf	 conf;

struct rc {
	const char	*addr;
	enum rcpt_kind	 kind;
	unsigned	 notify;
};

/* ---- fake ops ---- */

static enum queue_sched_send
fake_deliver(void *arg, const struct queue_sched_delivery *d)
{
	struct sent	*s;

	fk.asked++;
	if (fk.answer != QUEUE_SCHED_SENT)
		return fk.answer;
	assert_true(fk.nsent < MAX_SENT);
	s = &fk.sent[fk.nsent++];
	str_copy(s->id, d->id, sizeof(s->id));
	str_copy(s->domain, d->domain != NULL ? d->domain : "",
	    sizeof(s->domain));
	s->reqid = d->reqid;
	s->recovered = d->recovered;
	assert_true(d->nrcpt <= MAX_RCPT);
	memcpy(s->rcpt, d->rcpt, d->nrcpt * sizeof(*d->rcpt));
	s->nrcpt = d->nrcpt;
	return QUEUE_SCHED_SENT;
}

static void
fake_append(void *arg, const char *id, bool held, const struct buf *b)
{
	assert_true(b->len > 0);
	fk.appends++;
}

/* fake_report - keeps what a report would cover, chosen by the DSN
 * module's NOTIFY rules. */
static bool
fake_report(void *arg, const struct queue_sched_report *r)
{
	struct bounce_rcpt	 br[MAX_RCPT];
	struct reported		*rep;
	size_t			 n;

	assert_true(r->env->nrcpt <= MAX_RCPT);
	n = queue_dsn_covered(r->env, r->note, r->now, br);
	if (n == 0)
		return false;
	assert_true(fk.nreports < 16);
	rep = &fk.reports[fk.nreports++];
	str_copy(rep->id, r->id, sizeof(rep->id));
	rep->n = n;
	for (size_t i = 0; i < n && i < 8; i++) {
		str_copy(rep->r[i].addr, br[i].addr, sizeof(rep->r[i].addr));
		rep->r[i].action = br[i].action;
		str_copy(rep->r[i].status, br[i].status != NULL ?
		    br[i].status : "", sizeof(rep->r[i].status));
	}
	return true;
}

static void
fake_remove(void *arg, const char *id, bool held)
{
	fk.removed++;
	str_copy(fk.last_removed, id, sizeof(fk.last_removed));
}

static void
fake_corrupt(void *arg, const char *id, bool held)
{
	fk.corrupt++;
}

static int
fake_hold(void *arg, const char *id)
{
	fk.held++;
	return 0;
}

static int
fake_release(void *arg, const char *id)
{
	fk.released++;
	return 0;
}

static void
fake_timer(void *arg, uint64_t due)
{
	fk.due = due;
}

static const struct queue_sched_ops fake_ops = {
	.deliver = fake_deliver,
	.append = fake_append,
	.report = fake_report,
	.remove = fake_remove,
	.corrupt = fake_corrupt,
	.hold = fake_hold,
	.release = fake_release,
	.timer = fake_timer,
};

/* ---- helpers ---- */

static void
use_config(const char *extra)
{
	char	text[1024], err[256];

	snprintf(text, sizeof(text), "hostname = mx.example.org\n"
	    "domains = example.org\n%s", extra);
	conf_free(&conf);
	memset(&conf, 0, sizeof(conf));
	if (conf_parse(text, strlen(text), "test.conf", &conf, err,
	    sizeof(err)) != 0)
		fail_msg("config: %s", err);
	config = &conf;
}

static void
make_env(struct envelope *e, const char *id, uint64_t arrival,
    const struct rc *rc, size_t n)
{
	memset(e, 0, sizeof(*e));
	str_copy(e->id, id, sizeof(e->id));
	e->arrival = arrival;
	e->sender = xstrdup("alice@example.org");
	e->size = 100;
	e->nrcpt = n;
	e->rcpts = xcalloc(n, sizeof(*e->rcpts));
	for (size_t i = 0; i < n; i++) {
		e->rcpts[i].addr = xstrdup(rc[i].addr);
		e->rcpts[i].orig = xstrdup(rc[i].addr);
		e->rcpts[i].kind = rc[i].kind;
		e->rcpts[i].notify = rc[i].notify;
	}
}

static void
add(const char *id, const struct rc *rc, size_t n)
{
	struct envelope	e;

	make_env(&e, id, T0, rc, n);
	queue_sched_add(id, &e);
}

/* reply - every recipient of delivery s has the same outcome. */
static int
reply(const struct sent *s, enum queue_sched_outcome o, uint64_t now)
{
	struct queue_sched_result	res[MAX_RCPT];

	for (uint32_t i = 0; i < s->nrcpt; i++) {
		res[i].index = s->rcpt[i];
		res[i].outcome = o;
		res[i].dsn = o == QUEUE_SCHED_DELIVERED ? "2.0.0" :
		    o == QUEUE_SCHED_FAILED ? "5.1.1" : "4.4.1";
		res[i].text = o == QUEUE_SCHED_DEFERRED ? "connection refused" :
		    "done";
		res[i].remote_mta = NULL;	/* no server named */
	}
	return queue_sched_delivered(s->id, s->reqid, res, s->nrcpt, now);
}

static const struct envelope *
env_of(const char *id)
{
	struct queue_sched_entry	e;

	assert_int_equal(queue_sched_lookup(id, &e), 0);
	return e.env;
}

static bool
is_inflight(const char *id)
{
	struct queue_sched_entry	e;

	assert_int_equal(queue_sched_lookup(id, &e), 0);
	return e.inflight;
}

static int
setup(void **state)
{
	memset(&fk, 0, sizeof(fk));
	fk.answer = QUEUE_SCHED_SENT;
	use_config("retry = 1m 5m 10m\n");
	queue_sched_init(&fake_ops, NULL);
	return 0;
}

static int
teardown(void **state)
{
	queue_sched_clear();
	conf_free(&conf);
	memset(&conf, 0, sizeof(conf));
	config = NULL;
	return 0;
}

/* ---- retries and expiry ---- */

static void
test_retry_follows_schedule_last_repeats(void **state)
{
	static const struct rc	 rc[] = { { "bob@x.test", RCPT_REMOTE, 0 } };
	static const uint64_t	 delays[] = { 1, 5, 10, 10, 10 };
	uint64_t		 now = T0 + SEC;

	add(ID_A, rc, 1);
	assert_int_equal(fk.nsent, 1);
	assert_string_equal(fk.sent[0].domain, "x.test");
	assert_true(fk.sent[0].reqid != 0);
	assert_int_equal(fk.due, 0);
	for (size_t i = 0; i < NELEM(delays); i++) {
		uint64_t	due;

		assert_int_equal(reply(&fk.sent[fk.nsent - 1],
		    QUEUE_SCHED_DEFERRED, now), 0);
		due = now + delays[i] * MINUTE;
		assert_int_equal(env_of(ID_A)->attempts, i + 1);
		assert_int_equal(env_of(ID_A)->next_attempt, due);
		assert_int_equal(fk.due, due);
		queue_sched_run(due - 1);		/* not yet */
		assert_int_equal(fk.nsent, i + 1);
		assert_false(is_inflight(ID_A));
		queue_sched_run(due);
		assert_int_equal(fk.nsent, i + 2);
		assert_true(is_inflight(ID_A));
		assert_int_equal(fk.due, 0);		/* nothing waits */
		now = due;
	}
	assert_int_equal(fk.nreports, 0);
	assert_int_equal(fk.removed, 0);
}

static void
test_timer_follows_earliest_message(void **state)
{
	static const struct rc	 a[] = { { "bob@x.test", RCPT_REMOTE, 0 } };
	static const struct rc	 b[] = { { "eve@y.test", RCPT_REMOTE, 0 } };

	use_config("retry = 10m\n");
	add(ID_A, a, 1);
	add(ID_B, b, 1);
	assert_int_equal(fk.nsent, 2);
	reply(&fk.sent[0], QUEUE_SCHED_DEFERRED, T0 + 5 * MINUTE);
	assert_int_equal(fk.due, T0 + 15 * MINUTE);
	reply(&fk.sent[1], QUEUE_SCHED_DEFERRED, T0);
	assert_int_equal(fk.due, T0 + 10 * MINUTE);	/* B is earlier */
	queue_sched_run(T0 + 10 * MINUTE);
	assert_int_equal(fk.nsent, 3);
	assert_string_equal(fk.sent[2].id, ID_B);
	assert_int_equal(fk.due, T0 + 15 * MINUTE);	/* A is next */
}

static void
test_expiry_fails_pending_with_447(void **state)
{
	static const struct rc	rc[] = {
		{ "dflt@x.test", RCPT_REMOTE, 0 },
		{ "succ@x.test", RCPT_REMOTE, SMTP_NOTIFY_SUCCESS },
		{ "never@x.test", RCPT_REMOTE, SMTP_NOTIFY_NEVER },
		{ "fail@x.test", RCPT_REMOTE,
		    SMTP_NOTIFY_FAILURE | SMTP_NOTIFY_DELAY },
	};
	const struct reported	*rep;

	use_config("retry = 10m\nqueue_lifetime = 1h\ndelay_warning = 0s\n");
	add(ID_A, rc, NELEM(rc));
	assert_int_equal(fk.nsent, 1);
	assert_int_equal(fk.sent[0].nrcpt, 4);
	reply(&fk.sent[0], QUEUE_SCHED_DEFERRED, T0 + 30 * MINUTE);
	assert_int_equal(fk.nreports, 0);
	queue_sched_run(T0 + 40 * MINUTE);
	assert_int_equal(fk.nsent, 2);
	assert_int_equal(queue_sched_count(), 1);
	/* Deferred again past queue_lifetime: no retry, every pending
	 * recipient fails with 4.4.7 and the message goes. */
	reply(&fk.sent[1], QUEUE_SCHED_DEFERRED, T0 + HOUR + SEC);
	assert_int_equal(queue_sched_count(), 0);
	assert_int_equal(fk.removed, 1);
	assert_string_equal(fk.last_removed, ID_A);
	assert_int_equal(fk.due, 0);
	queue_sched_run(T0 + 10 * HOUR);
	assert_int_equal(fk.nsent, 2);
	/* Reported to those whose NOTIFY wants failures: the default and
	 * FAILURE, not SUCCESS-only nor NEVER. */
	assert_int_equal(fk.nreports, 1);
	rep = &fk.reports[0];
	assert_string_equal(rep->id, ID_A);
	assert_int_equal(rep->n, 2);
	assert_string_equal(rep->r[0].addr, "dflt@x.test");
	assert_string_equal(rep->r[1].addr, "fail@x.test");
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(rep->r[i].action, BOUNCE_FAILED);
		assert_string_equal(rep->r[i].status, "4.4.7 queue lifetime "
		    "exceeded; last error: 4.4.1 connection refused");
	}
}

static void
test_expiry_counts_from_arrival(void **state)
{
	static const struct rc	rc[] = { { "bob@x.test", RCPT_REMOTE, 0 } };

	use_config("retry = 10m\nqueue_lifetime = 1h\n");
	add(ID_A, rc, 1);
	/* Just inside the lifetime: a retry, not an expiry. */
	reply(&fk.sent[0], QUEUE_SCHED_DEFERRED, T0 + HOUR - 1);
	assert_int_equal(queue_sched_count(), 1);
	assert_int_equal(env_of(ID_A)->rcpts[0].state, RCPT_PENDING);
	queue_sched_run(T0 + 2 * HOUR);
	reply(&fk.sent[1], QUEUE_SCHED_DEFERRED, T0 + 2 * HOUR);
	assert_int_equal(queue_sched_count(), 0);
	assert_int_equal(fk.nreports, 1);
}

/* ---- the delay warning ---- */

static void
test_delay_warning_once(void **state)
{
	static const struct rc	 rc[] = {
		{ "dflt@x.test", RCPT_REMOTE, 0 },
		{ "fail@x.test", RCPT_REMOTE, SMTP_NOTIFY_FAILURE },
	};
	uint64_t		 t;

	use_config("retry = 10m\ndelay_warning = 30m\n");
	add(ID_A, rc, NELEM(rc));
	reply(&fk.sent[0], QUEUE_SCHED_DEFERRED, T0 + 10 * MINUTE);
	assert_int_equal(fk.nreports, 0);		/* not due yet */
	assert_false(env_of(ID_A)->warned);
	for (t = T0 + 20 * MINUTE; t <= T0 + 3 * HOUR; t += 10 * MINUTE) {
		queue_sched_run(t);
		assert_true(is_inflight(ID_A));
		reply(&fk.sent[fk.nsent - 1], QUEUE_SCHED_DEFERRED, t);
		assert_int_equal(fk.nreports, t < T0 + 30 * MINUTE ? 0 : 1);
	}
	assert_true(env_of(ID_A)->warned);
	assert_true(env_of(ID_A)->bounced);
	/* Only the recipient that wants delay reports. */
	assert_int_equal(fk.reports[0].n, 1);
	assert_string_equal(fk.reports[0].r[0].addr, "dflt@x.test");
	assert_int_equal(fk.reports[0].r[0].action, BOUNCE_DELAYED);
}

static void
test_no_delay_warning_after_warned(void **state)
{
	static const struct rc	rc[] = { { "dflt@x.test", RCPT_REMOTE, 0 } };
	struct envelope		e;

	use_config("retry = 10m\ndelay_warning = 30m\n");
	/* Found at start, warned before the restart ('W'). */
	make_env(&e, ID_A, T0 - 2 * HOUR, rc, 1);
	e.warned = true;
	e.attempts = 3;
	e.next_attempt = T0 - MINUTE;
	queue_sched_load(ID_A, &e, false, T0);
	queue_sched_run(T0);
	assert_int_equal(fk.nsent, 1);
	assert_true(fk.sent[0].recovered);
	reply(&fk.sent[0], QUEUE_SCHED_DEFERRED, T0);
	assert_int_equal(fk.nreports, 0);
	assert_int_equal(env_of(ID_A)->attempts, 4);
}

static void
test_delay_warning_off(void **state)
{
	static const struct rc	rc[] = { { "dflt@x.test", RCPT_REMOTE, 0 } };

	use_config("retry = 10m\ndelay_warning = 0s\n");
	add(ID_A, rc, 1);
	reply(&fk.sent[0], QUEUE_SCHED_DEFERRED, T0 + 10 * HOUR);
	assert_int_equal(fk.nreports, 0);
	assert_false(env_of(ID_A)->warned);
}

/* ---- concurrency ---- */

static void
test_destination_concurrency(void **state)
{
	static const struct rc	a[] = { { "bob@x.test", RCPT_REMOTE, 0 } };
	static const struct rc	b[] = { { "eve@X.Test", RCPT_REMOTE, 0 } };
	static const struct rc	c[] = { { "amy@y.test", RCPT_REMOTE, 0 } };

	use_config("destination_concurrency = 1\n");
	add(ID_A, a, 1);
	add(ID_B, b, 1);			/* the same domain: waits */
	add(ID_C, c, 1);			/* another: goes past B */
	assert_int_equal(fk.nsent, 2);
	assert_string_equal(fk.sent[0].id, ID_A);
	assert_string_equal(fk.sent[1].id, ID_C);
	assert_false(is_inflight(ID_B));
	queue_sched_run(T0 + HOUR);		/* time does not help */
	assert_int_equal(fk.nsent, 2);
	reply(&fk.sent[1], QUEUE_SCHED_DELIVERED, T0 + SEC);
	assert_int_equal(fk.nsent, 2);		/* y.test was not the one */
	reply(&fk.sent[0], QUEUE_SCHED_DELIVERED, T0 + SEC);
	assert_int_equal(fk.nsent, 3);
	assert_string_equal(fk.sent[2].id, ID_B);
	assert_string_equal(fk.sent[2].domain, "X.Test");
}

static void
test_remote_concurrency(void **state)
{
	static const struct rc	a[] = { { "bob@a.test", RCPT_REMOTE, 0 } };
	static const struct rc	b[] = { { "bob@b.test", RCPT_REMOTE, 0 } };
	static const struct rc	c[] = { { "bob@c.test", RCPT_REMOTE, 0 } };
	static const struct rc	d[] = {
		{ "bob@d1.test", RCPT_REMOTE, 0 },
		{ "bob@d2.test", RCPT_REMOTE, 0 },
		{ "bob@d3.test", RCPT_REMOTE, 0 },
	};

	use_config("remote_concurrency = 2\n");
	add(ID_A, a, 1);
	add(ID_B, b, 1);
	add(ID_C, c, 1);
	assert_int_equal(fk.nsent, 2);
	assert_false(is_inflight(ID_C));
	reply(&fk.sent[0], QUEUE_SCHED_DELIVERED, T0 + SEC);
	assert_int_equal(fk.nsent, 3);
	assert_string_equal(fk.sent[2].id, ID_C);
	/* A message waits whole: three domains do not fit beside one. */
	add(ID_D, d, NELEM(d));
	assert_int_equal(fk.nsent, 3);
	reply(&fk.sent[1], QUEUE_SCHED_DELIVERED, T0 + SEC);
	assert_int_equal(fk.nsent, 3);
	/* With nothing remote out it goes, past the limit. */
	reply(&fk.sent[2], QUEUE_SCHED_DELIVERED, T0 + SEC);
	assert_int_equal(fk.nsent, 6);
	for (size_t i = 3; i < 6; i++)
		assert_string_equal(fk.sent[i].id, ID_D);
}

static void
test_local_concurrency(void **state)
{
	static const struct rc	a[] = {
		{ "u1@example.org", RCPT_LOCAL, 0 },
		{ "u2@example.org", RCPT_LOCAL, 0 },
	};
	static const struct rc	b[] = { { "u3@example.org", RCPT_LOCAL, 0 } };
	static const struct rc	c[] = { { "bob@x.test", RCPT_REMOTE, 0 } };

	use_config("local_concurrency = 1\n");
	add(ID_A, a, NELEM(a));
	add(ID_B, b, 1);
	assert_int_equal(fk.nsent, 1);
	assert_string_equal(fk.sent[0].domain, "");
	assert_int_equal(fk.sent[0].reqid, 0);
	assert_int_equal(fk.sent[0].nrcpt, 2);	/* one delivery, both */
	add(ID_C, c, 1);			/* remote: not held back */
	assert_int_equal(fk.nsent, 2);
	assert_string_equal(fk.sent[1].id, ID_C);
	reply(&fk.sent[0], QUEUE_SCHED_DELIVERED, T0 + SEC);
	assert_int_equal(fk.nsent, 3);
	assert_string_equal(fk.sent[2].id, ID_B);
	assert_int_equal(fk.removed, 1);	/* A is done */
	assert_string_equal(fk.last_removed, ID_A);
}

static void
test_local_and_remote_parts(void **state)
{
	static const struct rc	a[] = {
		{ "u1@example.org", RCPT_LOCAL, 0 },
		{ "bob@x.test", RCPT_REMOTE, 0 },
		{ "eve@y.test", RCPT_REMOTE, 0 },
	};

	use_config("retry = 10m\n");
	add(ID_A, a, NELEM(a));
	assert_int_equal(fk.nsent, 3);
	assert_int_equal(fk.sent[0].reqid, 0);	/* local first */
	assert_true(fk.sent[1].reqid != 0 && fk.sent[2].reqid != 0 &&
	    fk.sent[1].reqid != fk.sent[2].reqid);
	reply(&fk.sent[1], QUEUE_SCHED_DEFERRED, T0 + SEC);
	assert_true(is_inflight(ID_A));		/* two parts still out */
	assert_int_equal(env_of(ID_A)->attempts, 0);
	/* A reply twice, or for a part not out, is refused. */
	assert_int_equal(reply(&fk.sent[1], QUEUE_SCHED_DELIVERED,
	    T0 + SEC), -1);
	reply(&fk.sent[0], QUEUE_SCHED_DELIVERED, T0 + SEC);
	reply(&fk.sent[2], QUEUE_SCHED_FAILED, T0 + 2 * SEC);
	/* All back: one retry for the deferred one, from the last reply. */
	assert_false(is_inflight(ID_A));
	assert_int_equal(env_of(ID_A)->attempts, 1);
	assert_int_equal(env_of(ID_A)->next_attempt,
	    T0 + 2 * SEC + 10 * MINUTE);
	assert_int_equal(fk.nreports, 1);	/* the failure */
	queue_sched_run(T0 + 2 * SEC + 10 * MINUTE);
	assert_int_equal(fk.nsent, 4);
	assert_string_equal(fk.sent[3].domain, "x.test");
	assert_int_equal(fk.sent[3].nrcpt, 1);
	assert_int_equal(fk.sent[3].rcpt[0], 1);
}

static void
test_domains_per_round(void **state)
{
	struct rc	rc[70];
	char		addr[70][32];
	size_t		i;

	use_config("retry = 10m\nremote_concurrency = 20\n");
	for (i = 0; i < NELEM(rc); i++) {
		snprintf(addr[i], sizeof(addr[i]), "bob@d%zu.test", i);
		rc[i].addr = addr[i];
		rc[i].kind = RCPT_REMOTE;
		rc[i].notify = 0;
	}
	add(ID_A, rc, NELEM(rc));
	assert_int_equal(fk.nsent, QUEUE_SCHED_DOMAINS_MAX);
	for (i = 0; i < QUEUE_SCHED_DOMAINS_MAX; i++)
		reply(&fk.sent[i], QUEUE_SCHED_DELIVERED, T0 + SEC);
	/* The other six wait for the next attempt. */
	assert_int_equal(fk.nsent, QUEUE_SCHED_DOMAINS_MAX);
	assert_int_equal(fk.due, T0 + SEC + 10 * MINUTE);
	queue_sched_run(T0 + SEC + 10 * MINUTE);
	assert_int_equal(fk.nsent, NELEM(rc));
	for (i = QUEUE_SCHED_DOMAINS_MAX; i < NELEM(rc); i++)
		reply(&fk.sent[i], QUEUE_SCHED_DELIVERED, T0 + HOUR);
	assert_int_equal(queue_sched_count(), 0);
}

/* ---- held messages and the admin's actions ---- */

static void
test_held_message_never_dispatched(void **state)
{
	static const struct rc	rc[] = { { "bob@x.test", RCPT_REMOTE, 0 } };
	struct envelope		e;
	const char		*why;
	unsigned		 n;

	make_env(&e, ID_A, T0, rc, 1);
	e.quarantine = ENV_HOLD_DMARC;		/* DMARC p=quarantine */
	queue_sched_add(ID_A, &e);
	make_env(&e, ID_B, T0, rc, 1);		/* held before a restart */
	queue_sched_load(ID_B, &e, true, T0);
	assert_int_equal(fk.held, 1);
	assert_int_equal(fk.nsent, 0);
	assert_int_equal(fk.due, 0);
	queue_sched_run(T0 + 30 * 24 * HOUR);
	assert_int_equal(queue_sched_flush(NULL, &n, &why), 0);
	assert_int_equal(n, 0);
	assert_int_equal(queue_sched_flush(ID_A, &n, &why), -1);
	assert_string_equal(why, "on hold: release it instead");
	assert_int_equal(queue_sched_hold(ID_A, &why), 0);
	assert_string_equal(why, "already on hold");
	assert_int_equal(fk.nsent, 0);
	assert_int_equal(fk.asked, 0);
	assert_int_equal(queue_sched_release(ID_A, &why), 0);
	assert_string_equal(why, "released");
	assert_int_equal(fk.released, 1);
	assert_int_equal(fk.nsent, 1);
	assert_string_equal(fk.sent[0].id, ID_A);
	assert_int_equal(queue_sched_release(ID_A, &why), -1);
	assert_string_equal(why, "busy: being delivered now, try again");
}

static void
test_hold_stops_schedule(void **state)
{
	static const struct rc	rc[] = { { "bob@x.test", RCPT_REMOTE, 0 } };
	const char		*why;

	use_config("retry = 10m\n");
	add(ID_A, rc, 1);
	reply(&fk.sent[0], QUEUE_SCHED_DEFERRED, T0);
	assert_int_equal(fk.due, T0 + 10 * MINUTE);
	assert_int_equal(queue_sched_hold(ID_A, &why), 0);
	assert_string_equal(why, "on hold");
	assert_int_equal(fk.due, 0);		/* its timer is gone */
	queue_sched_run(T0 + HOUR);
	assert_int_equal(fk.nsent, 1);
}

static void
test_flush_makes_deferred_ready(void **state)
{
	static const struct rc	a[] = { { "bob@x.test", RCPT_REMOTE, 0 } };
	static const struct rc	b[] = { { "eve@y.test", RCPT_REMOTE, 0 } };
	const char		*why;
	unsigned		 n;

	use_config("retry = 1h\n");
	add(ID_A, a, 1);
	add(ID_B, b, 1);
	reply(&fk.sent[0], QUEUE_SCHED_DEFERRED, T0);
	reply(&fk.sent[1], QUEUE_SCHED_DEFERRED, T0);
	assert_int_equal(fk.due, T0 + HOUR);
	assert_int_equal(queue_sched_flush(ID_A, &n, &why), 0);
	assert_int_equal(n, 1);
	assert_int_equal(fk.nsent, 3);
	assert_string_equal(fk.sent[2].id, ID_A);
	/* A is out now: a flush of all counts B only. */
	assert_int_equal(queue_sched_flush(NULL, &n, &why), 0);
	assert_int_equal(n, 1);
	assert_int_equal(fk.nsent, 4);
	assert_string_equal(fk.sent[3].id, ID_B);
	assert_int_equal(fk.due, 0);
	assert_int_equal(queue_sched_flush(ID_C, &n, &why), -1);
	assert_string_equal(why, "no such message");
}

static void
test_busy_while_in_flight(void **state)
{
	static const struct rc	rc[] = { { "bob@x.test", RCPT_REMOTE, 0 } };
	const char		*why;

	add(ID_A, rc, 1);
	assert_true(is_inflight(ID_A));
	assert_int_equal(queue_sched_delete(ID_A, &why), -1);
	assert_string_equal(why, "busy: being delivered now, try again");
	assert_int_equal(queue_sched_hold(ID_A, &why), -1);
	assert_string_equal(why, "busy: being delivered now, try again");
	assert_int_equal(fk.removed, 0);
	assert_int_equal(fk.held, 0);
	reply(&fk.sent[0], QUEUE_SCHED_DEFERRED, T0);
	assert_int_equal(queue_sched_delete(ID_A, &why), 0);
	assert_string_equal(why, "deleted");
	assert_int_equal(fk.removed, 1);
	assert_int_equal(queue_sched_count(), 0);
	assert_int_equal(fk.due, 0);
	assert_int_equal(queue_sched_delete(ID_A, &why), -1);
	assert_string_equal(why, "no such message");
}

/* ---- deliver away, data missing, reports ---- */

static void
test_deliver_down_keeps_order(void **state)
{
	static const struct rc	a[] = { { "bob@x.test", RCPT_REMOTE, 0 } };
	static const struct rc	b[] = { { "eve@y.test", RCPT_REMOTE, 0 } };

	fk.answer = QUEUE_SCHED_NOT_SENT;
	add(ID_A, a, 1);
	add(ID_B, b, 1);
	/* The round ends at the first refusal: one ask per round. */
	assert_int_equal(fk.asked, 2);
	assert_int_equal(fk.nsent, 0);
	fk.answer = QUEUE_SCHED_SENT;
	queue_sched_run(T0);
	assert_int_equal(fk.nsent, 2);
	assert_string_equal(fk.sent[0].id, ID_A);
	assert_string_equal(fk.sent[1].id, ID_B);
	assert_false(fk.sent[0].recovered);
}

static void
test_lost_deliveries_are_recovered(void **state)
{
	static const struct rc	a[] = { { "bob@x.test", RCPT_REMOTE, 0 } };

	use_config("destination_concurrency = 1\n");
	add(ID_A, a, 1);
	queue_sched_lost();
	assert_false(is_inflight(ID_A));
	assert_int_equal(fk.nsent, 1);
	queue_sched_run(T0 + SEC);
	/* The slot of x.test was given back, and deliver is told. */
	assert_int_equal(fk.nsent, 2);
	assert_true(fk.sent[1].recovered);
	assert_int_equal(reply(&fk.sent[0], QUEUE_SCHED_DELIVERED, T0), -1);
	assert_int_equal(reply(&fk.sent[1], QUEUE_SCHED_DELIVERED, T0), 0);
	assert_int_equal(queue_sched_count(), 0);
}

static void
test_missing_data_moves_aside(void **state)
{
	static const struct rc	a[] = { { "bob@x.test", RCPT_REMOTE, 0 } };

	fk.answer = QUEUE_SCHED_NO_DATA;
	add(ID_A, a, 1);
	assert_int_equal(fk.corrupt, 1);
	assert_int_equal(fk.removed, 0);
	assert_int_equal(queue_sched_count(), 0);
}

static void
test_load_with_nothing_pending(void **state)
{
	static const struct rc	a[] = { { "bob@x.test", RCPT_REMOTE, 0 } };
	struct envelope		e;

	make_env(&e, ID_A, T0, a, 1);
	e.rcpts[0].state = RCPT_DONE;
	queue_sched_load(ID_A, &e, false, T0);
	assert_int_equal(fk.removed, 1);
	assert_int_equal(queue_sched_count(), 0);
	/* A pending one waits for its next attempt. */
	make_env(&e, ID_B, T0, a, 1);
	e.next_attempt = T0 + HOUR;
	queue_sched_load(ID_B, &e, false, T0);
	assert_int_equal(fk.due, T0 + HOUR);
	queue_sched_run(T0 + HOUR);
	assert_int_equal(fk.nsent, 1);
}

static void
test_success_reports_on_request(void **state)
{
	static const struct rc	rc[] = {
		{ "u1@example.org", RCPT_LOCAL, SMTP_NOTIFY_SUCCESS },
		{ "u2@example.org", RCPT_LOCAL, 0 },
		{ "bob@x.test", RCPT_REMOTE,
		    SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_FAILURE },
	};

	add(ID_A, rc, NELEM(rc));
	assert_int_equal(fk.nsent, 2);
	reply(&fk.sent[0], QUEUE_SCHED_DELIVERED, T0 + SEC);
	assert_int_equal(fk.nreports, 1);
	assert_int_equal(fk.reports[0].n, 1);	/* not u2: no NOTIFY */
	assert_string_equal(fk.reports[0].r[0].addr, "u1@example.org");
	assert_int_equal(fk.reports[0].r[0].action, BOUNCE_DELIVERED);
	reply(&fk.sent[1], QUEUE_SCHED_DELIVERED, T0 + SEC);
	assert_int_equal(fk.nreports, 2);
	assert_int_equal(fk.reports[1].r[0].action, BOUNCE_RELAYED);
	assert_int_equal(queue_sched_count(), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f)	cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_retry_follows_schedule_last_repeats),
		T(test_timer_follows_earliest_message),
		T(test_expiry_fails_pending_with_447),
		T(test_expiry_counts_from_arrival),
		T(test_delay_warning_once),
		T(test_no_delay_warning_after_warned),
		T(test_delay_warning_off),
		T(test_destination_concurrency),
		T(test_remote_concurrency),
		T(test_local_concurrency),
		T(test_local_and_remote_parts),
		T(test_domains_per_round),
		T(test_held_message_never_dispatched),
		T(test_hold_stops_schedule),
		T(test_flush_makes_deferred_ready),
		T(test_busy_while_in_flight),
		T(test_deliver_down_keeps_order),
		T(test_lost_deliveries_are_recovered),
		T(test_missing_data_moves_aside),
		T(test_load_with_nothing_pending),
		T(test_success_reports_on_request),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
