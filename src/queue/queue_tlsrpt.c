/*
 * queue_tlsrpt.c - SMTP TLS Reporting (RFC 8460) in the queue process
 * (queue_tlsrpt.h).  Outcomes from deliver are counted in the current
 * period and appended, one line each, to its file STATE_DIR/tlsrpt/START
 * (START: the period's first second, since the epoch), without a sync of
 * its own: a crash of the machine may lose the last seconds, a restart
 * of postbote loses nothing.  A period ends at the UTC midnight after it
 * began (RFC 8460 4.1: 24-hour reports, UTC), or when the admin asks
 * (postbote queue tlsrpt-send).  Then, for each of its policy domains,
 * the "_smtp._tls.DOMAIN" TXT record is looked up, and each mailto: rua
 * gets the report as a message (RFC 8460 5.3) submitted to our own queue
 * like a local submission, so that it is DKIM-signed under tlsrpt_from's
 * [dkim] domain; its file is removed.  A lookup that fails for now is
 * tried TXT_TRIES times, TXT_RETRY apart; the reports wait in memory
 * meanwhile (a restart then loses them).  https: rua are not used.
 *
 * Trust: the IPC_TLSRPT fields come from our deliver process but carry
 * DNS-chosen names; they are checked with tlsrpt_event_ok.  The day files
 * are ours; a line that does not parse is skipped and logged.  The TXT
 * record is any domain's and goes through tlsrpt_txt_parse.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/conf.h"
#include "lib/buf.h"
#include "lib/dns.h"
#include "lib/ipc_proto.h"
#include "lib/log.h"
#include "lib/util.h"
#include "mail/envelope.h"
#include "mail/smtp_parse.h"
#include "mail/tlsrpt.h"
#include "queue/queue_submit.h"
#include "queue/queue_tlsrpt.h"

#define DIR_NAME	"tlsrpt"
#define DAY		86400ULL
#define FIRST_DELAY	10	/* seconds after start before past periods
				 * are sent: lookup is then up */
#define FILE_MAX	(64u * 1024 * 1024)
#define TXT_TRIES	3	/* lookups of a TXT record that fail for now */
#define TXT_RETRY	20	/* seconds between them */

struct period {
	struct period	*next;
	uint64_t	 start;
	struct tlsrpt_agg agg;
};

/* One policy domain's report, waiting for its TXT lookup. */
struct pending {
	struct pending	*next;
	uint64_t	 id;
	char		*domain;
	char		*json;
	char		*report_id;
	uint64_t	 start, end;
	unsigned	 tries;
};

static struct event_base *base;
static struct dns_ctx	*dns;
static struct event	*day_ev;
static struct period	*cur;		/* the current period, or NULL */
static struct period	*past;		/* loaded at start, not yet sent */
static int		 cur_fd = -1;
static struct pending	*pendings;
static uint64_t		 next_id = 1;

static void	 make_dns(void);
static void	 arm(bool);
static void	 on_day(evutil_socket_t, short, void *);
static void	 send_period(struct period *, uint64_t);
static void	 txt_done(uint64_t, void *, enum dns_status, const char *const *,
		    const size_t *, size_t);
static void	 submit_report(const struct pending *, const char *);
static void	 ask_txt(struct pending *);
static void	 retry_txt(evutil_socket_t, short, void *);
static void	 submitted(void *, bool, const char *, int);

static uint64_t
now_sec(void)
{
	return now_usec() / 1000000;
}

static uint64_t
midnight_after(uint64_t t)
{
	return (t / DAY + 1) * DAY;
}

static void
path_of(uint64_t start, char *p, size_t size)
{
	snprintf(p, size, DIR_NAME "/%llu", (unsigned long long)start);
}

static void
make_dns(void)
{
	dns_replace(&dns, base, (const char *const *)config->resolvers,
	    config->nresolvers);
}

/* load - one period's file into p; lines that do not parse are skipped. */
static void
load(struct period *p, const char *path)
{
	struct buf	 b;
	char		*line, *nl;
	unsigned	 bad = 0;

	buf_init(&b, 0);
	if (buf_read_file(&b, path, FILE_MAX) == -1) {
		log_warn("event=tlsrpt-load file=%s error=\"%s\"", path,
		    strerror(errno));
		buf_free(&b);
		return;
	}
	for (line = b.data; line != NULL && *line != '\0'; line = nl) {
		struct tlsrpt_event	e;

		if ((nl = strchr(line, '\n')) == NULL) {
			bad++;		/* a line cut short by a crash */
			break;
		}
		*nl++ = '\0';
		if (tlsrpt_line_parse(line, &e) == 0)
			tlsrpt_agg_add(&p->agg, &e, 1);
		else
			bad++;
	}
	if (bad > 0)
		log_warn("event=tlsrpt-load file=%s skipped=%u", path, bad);
	buf_free(&b);
}

/* queue_tlsrpt_init - see queue_tlsrpt.h.  The runtime put us in
 * state_dir. */
void
queue_tlsrpt_init(struct event_base *b)
{
	DIR		*d;
	struct dirent	*de;
	uint64_t	 today = now_sec() / DAY * DAY;

	base = b;
	if ((day_ev = evtimer_new(b, on_day, NULL)) == NULL)
		fatalx("queue: evtimer_new failed");
	make_dns();
	/* the parent made DIR_NAME ours (parent_setup_dirs) */
	if ((d = opendir(DIR_NAME)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			char		 path[64], *end;
			unsigned long long start;
			struct period	*p;

			if (de->d_name[0] < '0' || de->d_name[0] > '9')
				continue;
			start = strtoull(de->d_name, &end, 10);
			if (*end != '\0')
				continue;
			p = xcalloc(1, sizeof(*p));
			p->start = start;
			path_of(start, path, sizeof(path));
			load(p, path);
			/* the newest period of today goes on */
			if (start >= today && (cur == NULL ||
			    start > cur->start)) {
				if (cur != NULL) {
					cur->next = past;
					past = cur;
				}
				cur = p;
			} else {
				p->next = past;
				past = p;
			}
		}
		closedir(d);
	}
	arm(true);
}

/* queue_tlsrpt_reload - see queue_tlsrpt.h. */
void
queue_tlsrpt_reload(void)
{
	make_dns();
}

/* arm - the next midnight, or FIRST_DELAY from now at the start. */
static void
arm(bool first)
{
	uint64_t	now = now_sec();
	struct timeval	tv = { first ? FIRST_DELAY :
	    (time_t)(midnight_after(now) - now + 1), 0 };

	evtimer_add(day_ev, &tv);
}

static void
end_current(uint64_t now)
{
	struct period	*p = cur;
	char		 path[64];

	if (cur_fd != -1) {
		close(cur_fd);
		cur_fd = -1;
	}
	cur = NULL;
	if (p == NULL)
		return;
	send_period(p, now);
	path_of(p->start, path, sizeof(path));
	if (unlink(path) == -1 && errno != ENOENT)
		log_warn("event=tlsrpt-remove file=%s error=\"%s\"", path,
		    strerror(errno));
	tlsrpt_agg_free(&p->agg);
	free(p);
}

/* on_day - past periods are sent, and the current one when it began
 * before the last midnight. */
static void
on_day(evutil_socket_t fd, short ev, void *arg)
{
	uint64_t	now = now_sec();

	while (past != NULL) {
		struct period	*p = past;
		char		 path[64];

		past = p->next;
		send_period(p, MIN(midnight_after(p->start), now));
		path_of(p->start, path, sizeof(path));
		unlink(path);
		tlsrpt_agg_free(&p->agg);
		free(p);
	}
	if (cur != NULL && midnight_after(cur->start) <= now)
		end_current(midnight_after(cur->start));
	arm(false);
}

/* queue_tlsrpt_event - see queue_tlsrpt.h. */
void
queue_tlsrpt_event(struct ipc_msg *m)
{
	struct ipc_tlsrpt	 q;
	struct tlsrpt_event	 e;
	struct buf		 line;
	uint64_t		 now = now_sec();
	char			 path[64];

	if (IPC_DECODE(m, &q, NULL) == -1 || !config->tlsrpt)
		return;
	e.when = now;
	e.policy_type = q.policy_type;
	e.policy_domain = q.policy_domain;
	e.policy_strings = q.policy_strings;
	e.mx_host = q.mx_host;
	e.result = q.result;
	e.sending_ip = q.sending_ip;
	e.receiving_mx = q.receiving_mx;
	e.receiving_ip = q.receiving_ip;
	e.reason = q.reason;
	if (!tlsrpt_event_ok(&e)) {
		log_warn("event=tlsrpt-refused domain=\"%s\" result=\"%s\"",
		    log_safe(q.policy_domain), log_safe(q.result));
		return;
	}
	if (cur != NULL && midnight_after(cur->start) <= now)
		end_current(midnight_after(cur->start));
	if (cur == NULL) {
		cur = xcalloc(1, sizeof(*cur));
		cur->start = now;
	}
	if (cur_fd == -1) {
		path_of(cur->start, path, sizeof(path));
		cur_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
		    0600);
		if (cur_fd == -1)
			log_warn("event=tlsrpt-write file=%s error=\"%s\"",
			    path, strerror(errno));
	}
	buf_init(&line, 0);
	tlsrpt_line_put(&e, &line);
	if (cur_fd != -1 && util_write_all(cur_fd, line.data, line.len) == -1)
		log_warn("event=tlsrpt-write error=\"%s\"", strerror(errno));
	buf_free(&line);
	tlsrpt_agg_add(&cur->agg, &e, 1);
	log_debug("event=tlsrpt policy=%s domain=%s result=%s",
	    e.policy_type, log_safe(e.policy_domain),
	    e.result[0] != '\0' ? log_safe(e.result) : "success");
}

static const char *
organization(void)
{
	return config->tlsrpt_organization != NULL ?
	    config->tlsrpt_organization : config->hostname;
}

static void
contact(char *out, size_t size)
{
	if (config->tlsrpt_contact != NULL)
		str_copy(out, config->tlsrpt_contact, size);
	else
		snprintf(out, size, "postmaster@%s", config->hostname);
}

static void
show_period(const struct period *p, uint64_t end, struct buf *out)
{
	char				 who[320];
	struct tlsrpt_report_info	 ri = { organization(), who, "",
	    p->start, end };

	contact(who, sizeof(who));
	tlsrpt_json(&p->agg, NULL, &ri, out);
	while (out->len > 0 && out->data[out->len - 1] == '\n')
		out->data[--out->len] = '\0';
}

/* queue_tlsrpt_show - see queue_tlsrpt.h. */
void
queue_tlsrpt_show(struct buf *out)
{
	bool	first = true;

	buf_puts(out, "{\"enabled\":");
	buf_puts(out, config->tlsrpt ? "true" : "false");
	buf_puts(out, ",\"periods\":[");
	for (const struct period *p = past; p != NULL; p = p->next) {
		buf_puts(out, first ? "" : ",");
		first = false;
		show_period(p, MIN(midnight_after(p->start), now_sec()), out);
	}
	if (cur != NULL) {
		buf_puts(out, first ? "" : ",");
		show_period(cur, now_sec(), out);
	}
	buf_puts(out, "]}\n");
}

/* queue_tlsrpt_send - see queue_tlsrpt.h. */
unsigned
queue_tlsrpt_send(void)
{
	unsigned	 n = 0;
	uint64_t	 now = now_sec();
	const char	**doms;

	for (const struct period *p = past; p != NULL; p = p->next) {
		n += (unsigned)tlsrpt_agg_domains(&p->agg, &doms);
		free(doms);
	}
	if (cur != NULL) {
		n += (unsigned)tlsrpt_agg_domains(&cur->agg, &doms);
		free(doms);
	}
	evtimer_del(day_ev);
	on_day(-1, 0, NULL);		/* the past ones, and re-arms */
	end_current(now);
	return n;
}

/* send_period - look up each policy domain's TXT record; the report is
 * built now, and submitted when the answer comes. */
static void
send_period(struct period *p, uint64_t end)
{
	const char	**doms;
	size_t		  n = tlsrpt_agg_domains(&p->agg, &doms);
	char		  who[320], start[32];

	contact(who, sizeof(who));
	tlsrpt_rfc3339(p->start, start, sizeof(start));
	for (size_t i = 0; i < n; i++) {
		struct pending	*q = xcalloc(1, sizeof(*q));
		struct buf	 json;

		q->id = next_id++;
		q->domain = xstrdup(doms[i]);
		q->start = p->start;
		q->end = end;
		xasprintf(&q->report_id, "%s_%s@%s", start, doms[i],
		    config->hostname);
		struct tlsrpt_report_info ri = { organization(), who,
		    q->report_id, p->start, end };
		buf_init(&json, 0);
		tlsrpt_json(&p->agg, doms[i], &ri, &json);
		q->json = buf_steal(&json, NULL);
		q->next = pendings;
		pendings = q;
		log_info("event=tlsrpt-report domain=%s start=%llu end=%llu",
		    log_safe(doms[i]), (unsigned long long)p->start,
		    (unsigned long long)end);
		ask_txt(q);
	}
	free(doms);
}

/* ask_txt - the TXT lookup of a waiting report (q stays in pendings). */
static void
ask_txt(struct pending *q)
{
	char	*qname;

	q->tries++;
	xasprintf(&qname, "_smtp._tls.%s", q->domain);
	if (dns != NULL)
		dns_txt(dns, qname, txt_done, q->id, NULL);
	else
		txt_done(q->id, NULL, DNS_TEMPFAIL, NULL, NULL, 0);
	free(qname);
}

/* retry_txt - TXT_RETRY after a lookup that failed for now. */
static void
retry_txt(evutil_socket_t fd, short ev, void *arg)
{
	uint64_t	id = (uint64_t)(uintptr_t)arg;

	for (struct pending *q = pendings; q != NULL; q = q->next)
		if (q->id == id) {
			ask_txt(q);
			return;
		}
}

static struct pending *
pending_take(uint64_t id)
{
	struct pending	**pp, *q;

	for (pp = &pendings; *pp != NULL && (*pp)->id != id; pp = &(*pp)->next)
		;
	if ((q = *pp) != NULL)
		*pp = q->next;
	return q;
}

static void
pending_free(struct pending *q)
{
	free(q->domain);
	free(q->json);
	free(q->report_id);
	free(q);
}

/* txt_done - RFC 8460 3: exactly one record starting "v=TLSRPTv1", or
 * the domain does not take reports. */
static void
txt_done(uint64_t id, void *arg, enum dns_status st, const char *const *txt,
    const size_t *len, size_t n)
{
	struct pending		*q = pending_take(id);
	struct tlsrpt_txt	 t = { 0 }, one;
	size_t			 found = 0;
	const char		*why = "no TLS-RPT record";

	if (q == NULL)
		return;
	if (st == DNS_TEMPFAIL && q->tries < TXT_TRIES) {
		struct timeval	tv = { TXT_RETRY, 0 };

		log_info("event=tlsrpt-report domain=%s result=retry "
		    "reason=\"lookup failed (%s)\" try=%u", log_safe(q->domain),
		    dns_status_str(st), q->tries);
		q->next = pendings;
		pendings = q;
		if (event_base_once(base, -1, EV_TIMEOUT, retry_txt,
		    (void *)(uintptr_t)q->id, &tv) == 0)
			return;
		pendings = q->next;
	}
	for (size_t i = 0; st == DNS_OK && i < n; i++) {
		int	rc = tlsrpt_txt_parse(txt[i], len[i], &one, &why);

		if (rc == -1)
			continue;
		found++;
		if (rc == 0) {
			tlsrpt_txt_free(&t);
			t = one;
		}
	}
	if (st != DNS_OK && st != DNS_NXDOMAIN && st != DNS_NODATA)
		why = dns_status_str(st);
	else if (found > 1)
		why = "more than one TLS-RPT record";
	if (found != 1 || t.nrua == 0) {
		log_info("event=tlsrpt-report domain=%s result=skipped "
		    "reason=\"%s\"", log_safe(q->domain), log_safe(why));
		tlsrpt_txt_free(&t);
		pending_free(q);
		return;
	}
	for (size_t i = 0; i < t.nrua; i++) {
		if (t.rua[i].kind == TLSRPT_MAILTO)
			submit_report(q, t.rua[i].v);
		else
			log_info("event=tlsrpt-report domain=%s rua=\"%s\" "
			    "result=skipped reason=\"https: reports are not "
			    "sent\"", log_safe(q->domain),
			    log_safe(t.rua[i].v));
	}
	tlsrpt_txt_free(&t);
	pending_free(q);
}

/* submit_report - the message to one rua address, as a local submission
 * from tlsrpt_from (its domain's [dkim] key signs it). */
static void
submit_report(const struct pending *q, const char *to)
{
	struct envelope	 env = { 0 };
	struct buf	 msg;
	char		 from[320], *arg;
	const char	*why;
	int		 code;
	struct tlsrpt_mail m = { from, to, q->domain, config->hostname,
	    q->report_id, q->start, q->end, now_sec(), q->json,
	    strlen(q->json) };

	if (config->tlsrpt_from != NULL)
		str_copy(from, config->tlsrpt_from, sizeof(from));
	else
		snprintf(from, sizeof(from), "postmaster@%s", config->hostname);
	buf_init(&msg, 0);
	if (tlsrpt_mail_build(&m, &msg) == -1) {
		log_warn("event=tlsrpt-report domain=%s result=failed "
		    "reason=\"gzip\"", log_safe(q->domain));
		buf_free(&msg);
		return;
	}
	env.sender = xstrdup(from);
	env.client = xstrdup("local tlsrpt");
	env.body = SMTP_BODY_7BIT;
	env.nrcpt = 1;
	env.rcpts = xcalloc(1, sizeof(*env.rcpts));
	env.rcpts[0].addr = xstrdup(to);
	env.rcpts[0].orig = xstrdup(to);
	arg = xstrdup(q->domain);
	if (queue_submit(&env, msg.data, msg.len, submitted, arg, &why,
	    &code) == -1) {
		log_warn("event=tlsrpt-report domain=%s rua=<%s> result=failed "
		    "reason=\"%s\"", log_safe(q->domain), log_safe(to), why);
		envelope_free(&env);
		free(arg);
	} else
		log_info("event=tlsrpt-report domain=%s rua=<%s> "
		    "report-id=\"%s\" result=submitted", log_safe(q->domain),
		    log_safe(to), log_safe(q->report_id));
	buf_free(&msg);
}

static void
submitted(void *arg, bool ok, const char *text, int code)
{
	char	*domain = arg;

	if (ok)
		log_info("%s: event=tlsrpt-report domain=%s result=queued",
		    log_safe(text), log_safe(domain));
	else
		log_warn("event=tlsrpt-report domain=%s result=failed "
		    "reason=\"%s\"", log_safe(domain), log_safe(text));
	free(domain);
}
