/*
 * queue_tlsrpt.c - SMTP TLS Reporting (RFC 8460) in the queue process
 * (queue_tlsrpt.h).  Outcomes from deliver are counted per UTC day (RFC
 * 8460 4: a report covers 00:00-24:00 UTC) and appended, one line each,
 * to the day's file STATE_DIR/tlsrpt/DAY (DAY: the day's 00:00:00Z in
 * seconds since the epoch; the lines are tlsrpt.c's, docs/smtp.md).  A
 * line reaches the kernel before the next event is handled, so a crash
 * or restart of postbote loses none; the file is synced SYNC_EVERY after
 * a write and when its day ends, so a crash of the machine loses at most
 * that much.
 *
 * A day is reported once it has ended, at the first chance: one second
 * after each UTC midnight, FIRST_DELAY after the start for days that
 * ended while postbote was down, or on "postbote queue tlsrpt-send"; the
 * current day never.  For each policy domain of the day the
 * "_smtp._tls.DOMAIN" TXT record is looked up, and each mailto: rua gets
 * the report (RFC 8460 5.3), submitted to our own queue like a local
 * submission so that it is DKIM-signed under tlsrpt_from's [dkim] domain.
 * When a domain's report is committed to the queue, or the domain takes
 * none, a "D" line for it is appended to the day's file (and synced); a
 * day whose domains all have one is removed.  A restart thus sends again
 * only what was in flight, and what was committed just before a crash
 * goes again under the same report-id and Message-ID (tlsrpt_report_id),
 * which tell the receiver it is the same report.  A TXT lookup that fails
 * for now is tried TXT_TRIES times, TXT_RETRY apart; a lookup or a
 * submission that still fails for now leaves the domain to the next
 * chance, for DAYS_KEPT days.  https: rua are not used.
 *
 * Trust: the IPC_TLSRPT fields come from our deliver process but carry
 * DNS-chosen names; they are checked with tlsrpt_event_ok.  The day files
 * are ours; a line that does not parse, or whose time is outside its
 * file's day, is skipped and logged.  The TXT record is any domain's and
 * goes through tlsrpt_txt_parse.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
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
#define FIRST_DELAY	10	/* seconds after start before ended days
				 * are sent: lookup is then up */
#define FILE_MAX	(64u * 1024 * 1024)
#define TXT_TRIES	3	/* lookups of a TXT record that fail for now */
#define TXT_RETRY	20	/* seconds between them */
#define SYNC_EVERY	60	/* seconds from a write to the sync */
#define DAYS_KEPT	7	/* days after its end a day's reports that
				 * failed for now are tried again */

/* One UTC day's counts, from its file. */
struct day {
	struct day	*next;		/* the list is oldest first */
	uint64_t	 start;		/* 00:00:00Z */
	struct tlsrpt_agg agg;
	char		**done;		/* domains whose report is handled */
	size_t		 ndone;
	unsigned	 busy;		/* its reports in flight, and holds */
};

/* One policy domain's report of a day, in flight: its TXT lookup, then
 * its submissions. */
struct pending {
	struct pending	*next;
	uint64_t	 id;
	uint64_t	 day;		/* its day's start */
	char		*domain;
	char		*json;
	char		*report_id;
	unsigned	 tries;		/* TXT lookups asked */
	unsigned	 submitting;	/* unanswered submissions, and a hold */
	unsigned	 submitted;	/* committed to the queue */
	bool		 later;		/* failed for now: to the next chance */
};

static struct event_base *base;
static struct dns_ctx	*dns;
static struct event	*day_ev, *sync_ev;
static struct day	*days;
static uint64_t		 newest;	/* the newest day counted into */
static int		 cur_fd = -1;	/* the file of cur_day */
static uint64_t		 cur_day;
static struct pending	*pendings;
static uint64_t		 next_id = 1;
static int64_t		 clock_shift;	/* the test build's, seconds */

static void	 make_dns(void);
static void	 scan(void);
static void	 arm(bool);
static void	 on_day(evutil_socket_t, short, void *);
static void	 on_sync(evutil_socket_t, short, void *);
static unsigned	 run(uint64_t, unsigned *);
static unsigned	 send_day(struct day *);
static void	 day_release(struct day *);
static void	 pending_end(struct pending *);
static void	 txt_done(uint64_t, void *, enum dns_status, const char *const *,
		    const size_t *, size_t);
static void	 submit_report(struct pending *, const char *);
static void	 ask_txt(struct pending *);
static void	 retry_txt(evutil_socket_t, short, void *);
static void	 submitted(void *, bool, const char *, int);

/* now_sec - the clock of the days; the test build can set it off
 * (POSTBOTE_TEST_TLSRPT_SHIFT, seconds) to count on another day. */
static uint64_t
now_sec(void)
{
	return (uint64_t)((int64_t)(now_usec() / 1000000) + clock_shift);
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

/* ---- the days ---- */

static struct day *
day_find(uint64_t start)
{
	for (struct day *d = days; d != NULL; d = d->next)
		if (d->start == start)
			return d;
	return NULL;
}

/* day_get - the day starting at start, made (empty) if there is none. */
static struct day *
day_get(uint64_t start)
{
	struct day	*d, **pp;

	if ((d = day_find(start)) != NULL)
		return d;
	for (pp = &days; *pp != NULL && (*pp)->start < start; pp = &(*pp)->next)
		;
	d = xcalloc(1, sizeof(*d));
	d->start = start;
	d->next = *pp;
	*pp = d;
	return d;
}

static bool
is_done(const struct day *d, const char *domain)
{
	for (size_t i = 0; i < d->ndone; i++)
		if (str_ieq(d->done[i], domain))
			return true;
	return false;
}

static void
set_done(struct day *d, const char *domain)
{
	if (is_done(d, domain))
		return;
	d->done = xreallocarray(d->done, d->ndone + 1, sizeof(*d->done));
	d->done[d->ndone++] = xstrdup(domain);
}

/* day_remove - d out of the list and freed; its file is left alone. */
static void
day_remove(struct day *d)
{
	struct day	**pp;

	for (pp = &days; *pp != d; pp = &(*pp)->next)
		;
	*pp = d->next;
	for (size_t i = 0; i < d->ndone; i++)
		free(d->done[i]);
	free(d->done);
	tlsrpt_agg_free(&d->agg);
	free(d);
}

static void
unlink_day(uint64_t start)
{
	char	path[64];

	path_of(start, path, sizeof(path));
	if (unlink(path) == -1 && errno != ENOENT)
		log_warn("event=tlsrpt-remove file=%s error=\"%s\"", path,
		    strerror(errno));
}

/* load - a day's file into d: outcomes of its day and "D" lines; other
 * lines are skipped. */
static void
load(struct day *d)
{
	struct buf	 b;
	char		 path[64], *line, *nl;
	const char	*dom;
	unsigned	 bad = 0;

	path_of(d->start, path, sizeof(path));
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
		if ((dom = tlsrpt_done_parse(line)) != NULL)
			set_done(d, dom);
		else if (tlsrpt_line_parse(line, &e) == 0 &&
		    tlsrpt_day(e.when) == d->start)
			tlsrpt_agg_add(&d->agg, &e, 1);
		else
			bad++;
	}
	if (bad > 0)
		log_warn("event=tlsrpt-load file=%s skipped=%u", path, bad);
	buf_free(&b);
}

/* adopt - an older postbote named a file by the first second of its
 * period, which ended at the next UTC midnight: the file becomes its
 * day's, or is added to it. */
static void
adopt(uint64_t t)
{
	char		 from[64], to[64];
	struct buf	 b;
	int		 fd;
	bool		 ok = false;

	path_of(t, from, sizeof(from));
	path_of(tlsrpt_day(t), to, sizeof(to));
	if ((fd = open(to, O_WRONLY | O_APPEND | O_CLOEXEC)) == -1) {
		if (errno != ENOENT || rename(from, to) == -1)
			log_warn("event=tlsrpt-load file=%s error=\"%s\"",
			    from, strerror(errno));
		return;
	}
	buf_init(&b, 0);
	if (buf_read_file(&b, from, FILE_MAX) == 0) {
		if (b.len > 0 && b.data[b.len - 1] != '\n')
			buf_putc(&b, '\n');	/* a cut line stays one */
		ok = util_write_all(fd, b.data, b.len) == 0 &&
		    fdatasync(fd) == 0 && unlink(from) == 0;
	}
	if (!ok)
		log_warn("event=tlsrpt-load file=%s error=\"%s\"", from,
		    strerror(errno));
	close(fd);
	buf_free(&b);
}

/* scan - the day files of earlier runs, each loaded into its day. */
static void
scan(void)
{
	DIR		*dir;
	struct dirent	*de;
	uint64_t	*found = NULL;
	size_t		 n = 0;

	/* the parent made DIR_NAME ours (parent_setup_dirs) */
	if ((dir = opendir(DIR_NAME)) == NULL)
		return;
	while ((de = readdir(dir)) != NULL) {
		char			*end;
		unsigned long long	 t;

		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		t = strtoull(de->d_name, &end, 10);
		if (*end != '\0')
			continue;
		found = xreallocarray(found, n + 1, sizeof(*found));
		found[n++] = t;
	}
	closedir(dir);
	for (size_t i = 0; i < n; i++)
		if (tlsrpt_day(found[i]) != found[i])
			adopt(found[i]);
	for (size_t i = 0; i < n; i++)
		if (day_find(tlsrpt_day(found[i])) == NULL)
			load(day_get(tlsrpt_day(found[i])));
	free(found);
}

/* sync_current - the current file to disk; closed too when its day is
 * over (close). */
static void
sync_current(bool close_it)
{
	if (cur_fd == -1)
		return;
	if (fdatasync(cur_fd) == -1)
		log_warn("event=tlsrpt-write error=\"%s\"", strerror(errno));
	if (close_it) {
		close(cur_fd);
		cur_fd = -1;
	}
}

static void
on_sync(evutil_socket_t fd, short ev, void *arg)
{
	sync_current(false);
}

/* append - a line to the current day's file, opened when it is another
 * day's; a sync follows within SYNC_EVERY. */
static void
append(uint64_t day, const struct buf *line)
{
	struct timeval	tv = { SYNC_EVERY, 0 };
	char		path[64];

	if (cur_fd != -1 && cur_day != day)
		sync_current(true);
	if (cur_fd == -1) {
		path_of(day, path, sizeof(path));
		cur_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
		    0600);
		cur_day = day;
		if (cur_fd == -1) {
			log_warn("event=tlsrpt-write file=%s error=\"%s\"",
			    path, strerror(errno));
			return;
		}
	}
	if (util_write_all(cur_fd, line->data, line->len) == -1)
		log_warn("event=tlsrpt-write error=\"%s\"", strerror(errno));
	if (!evtimer_pending(sync_ev, NULL))
		evtimer_add(sync_ev, &tv);
}

/* mark_done - domain's report of d is handled, for good: said in d's
 * file (synced when a report went out, so that a crash does not send it
 * twice; a domain that takes none is only asked again). */
static void
mark_done(struct day *d, const char *domain, bool sync)
{
	struct buf	 line;
	char		 path[64];
	int		 fd;

	set_done(d, domain);
	path_of(d->start, path, sizeof(path));
	buf_init(&line, 0);
	tlsrpt_done_put(domain, &line);
	if ((fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
	    0600)) == -1 || util_write_all(fd, line.data, line.len) == -1 ||
	    (sync && fdatasync(fd) == -1))
		log_warn("event=tlsrpt-write file=%s error=\"%s\"", path,
		    strerror(errno));
	if (fd != -1)
		close(fd);
	buf_free(&line);
}

/* ---- the process's hooks ---- */

/* queue_tlsrpt_init - see queue_tlsrpt.h.  The runtime put us in
 * state_dir. */
void
queue_tlsrpt_init(struct event_base *b)
{
#ifdef POSTBOTE_TEST_HOOKS
	const char	*shift = getenv("POSTBOTE_TEST_TLSRPT_SHIFT");

	if (shift != NULL)
		clock_shift = strtoll(shift, NULL, 10);
#endif
	base = b;
	if ((day_ev = evtimer_new(b, on_day, NULL)) == NULL ||
	    (sync_ev = evtimer_new(b, on_sync, NULL)) == NULL)
		fatalx("queue: evtimer_new failed");
	make_dns();
	scan();
	arm(true);
}

/* queue_tlsrpt_reload - see queue_tlsrpt.h. */
void
queue_tlsrpt_reload(void)
{
	make_dns();
}

/* arm - one second after the next UTC midnight, or FIRST_DELAY from now
 * at the start. */
static void
arm(bool first)
{
	uint64_t	now = now_sec();
	struct timeval	tv = { first ? FIRST_DELAY :
	    (time_t)(tlsrpt_day(now) + TLSRPT_DAY - now + 1), 0 };

	evtimer_add(day_ev, &tv);
}

static void
on_day(evutil_socket_t fd, short ev, void *arg)
{
	unsigned	ndays;

	(void)run(now_sec(), &ndays);
	arm(false);
}

/* queue_tlsrpt_event - see queue_tlsrpt.h. */
void
queue_tlsrpt_event(struct ipc_msg *m)
{
	struct ipc_tlsrpt	 q;
	struct tlsrpt_event	 e;
	struct buf		 line;
	uint64_t		 now = now_sec(), day = tlsrpt_day(now);

	if (IPC_DECODE(m, &q, NULL) == -1 || !config->tlsrpt)
		return;
	/* a clock set back does not reopen a day that may be reported */
	if (day < newest) {
		day = newest;
		now = newest;
	}
	newest = day;
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
	buf_init(&line, 0);
	tlsrpt_line_put(&e, &line);
	append(day, &line);
	buf_free(&line);
	tlsrpt_agg_add(&day_get(day)->agg, &e, 1);
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

/* queue_tlsrpt_show - see queue_tlsrpt.h. */
void
queue_tlsrpt_show(struct buf *out)
{
	char	who[320];
	bool	first = true;

	contact(who, sizeof(who));
	buf_puts(out, "{\"enabled\":");
	buf_puts(out, config->tlsrpt ? "true" : "false");
	buf_puts(out, ",\"periods\":[");
	for (const struct day *d = days; d != NULL; d = d->next) {
		struct tlsrpt_report_info ri = { organization(), who, "",
		    d->start };

		buf_puts(out, first ? "" : ",");
		first = false;
		tlsrpt_json(&d->agg, NULL, &ri, out);
		while (out->len > 0 && out->data[out->len - 1] == '\n')
			out->data[--out->len] = '\0';
	}
	buf_puts(out, "]}\n");
}

/* queue_tlsrpt_send - see queue_tlsrpt.h. */
unsigned
queue_tlsrpt_send(unsigned *ndays)
{
	return run(now_sec(), ndays);
}

/* ---- sending ---- */

/* run - every day that has ended and waits for nothing is sent (its
 * domains without a "D" line), or dropped DAYS_KEPT after its end; the
 * number of reports started, and in *ndays of days. */
static unsigned
run(uint64_t now, unsigned *ndays)
{
	struct day	*d, *next;
	unsigned	 n = 0, started;

	*ndays = 0;
	for (d = days; d != NULL; d = next) {
		next = d->next;
		if (d->start + TLSRPT_DAY > now || d->busy > 0)
			continue;
		if (d->start + (DAYS_KEPT + 1) * (uint64_t)TLSRPT_DAY <= now) {
			log_warn("event=tlsrpt-report day=%llu result=dropped "
			    "reason=\"not sent in %d days\"",
			    (unsigned long long)d->start, DAYS_KEPT);
			unlink_day(d->start);
			day_remove(d);
			continue;
		}
		if ((started = send_day(d)) > 0)
			(*ndays)++;
		n += started;
	}
	return n;
}

/* send_day - a report of d for each policy domain without a "D" line,
 * built now; each waits for its TXT lookup.  d may be gone after. */
static unsigned
send_day(struct day *d)
{
	const char	**doms;
	size_t		  n = tlsrpt_agg_domains(&d->agg, &doms);
	unsigned	  started = 0;
	char		  who[320];

	if (cur_fd != -1 && cur_day == d->start)
		sync_current(true);	/* what is reported is on disk */
	contact(who, sizeof(who));
	d->busy++;			/* a lookup may end at once */
	for (size_t i = 0; i < n; i++) {
		struct pending	*q;
		struct buf	 json;

		if (is_done(d, doms[i]))
			continue;
		q = xcalloc(1, sizeof(*q));
		q->id = next_id++;
		q->day = d->start;
		q->domain = xstrdup(doms[i]);
		q->report_id = tlsrpt_report_id(d->start, doms[i],
		    config->hostname);
		struct tlsrpt_report_info ri = { organization(), who,
		    q->report_id, d->start };
		buf_init(&json, 0);
		tlsrpt_json(&d->agg, doms[i], &ri, &json);
		q->json = buf_steal(&json, NULL);
		q->next = pendings;
		pendings = q;
		d->busy++;
		started++;
		log_info("event=tlsrpt-report domain=%s day=%llu "
		    "report-id=\"%s\"", log_safe(doms[i]),
		    (unsigned long long)d->start, log_safe(q->report_id));
		ask_txt(q);
	}
	free(doms);
	day_release(d);
	return started;
}

/* day_release - one thing in flight less; with none left, a day whose
 * domains are all handled is removed, else it waits for the next
 * chance. */
static void
day_release(struct day *d)
{
	const char	**doms;
	size_t		  n, left = 0;

	ASSERT(d->busy > 0);
	if (--d->busy > 0)
		return;
	n = tlsrpt_agg_domains(&d->agg, &doms);
	for (size_t i = 0; i < n; i++)
		if (!is_done(d, doms[i]))
			left++;
	free(doms);
	if (left > 0) {
		log_info("event=tlsrpt-report day=%llu result=deferred "
		    "domains=%zu reason=\"failed for now, tried again at the "
		    "next chance\"", (unsigned long long)d->start, left);
		return;
	}
	unlink_day(d->start);
	day_remove(d);
}

static struct pending *
pending_find(uint64_t id)
{
	struct pending	*q;

	for (q = pendings; q != NULL && q->id != id; q = q->next)
		;
	return q;
}

/* pending_end - q's report is handled (or, q->later, left for the next
 * chance); q is freed. */
static void
pending_end(struct pending *q)
{
	struct pending	**pp;
	struct day	 *d = day_find(q->day);

	ASSERT(d != NULL);		/* held by q (busy) */
	for (pp = &pendings; *pp != q; pp = &(*pp)->next)
		;
	*pp = q->next;
	if (!q->later)
		mark_done(d, q->domain, q->submitted > 0);
	free(q->domain);
	free(q->json);
	free(q->report_id);
	free(q);
	day_release(d);
}

/* ask_txt - the TXT lookup of a report in flight. */
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
	struct pending	*q = pending_find((uint64_t)(uintptr_t)arg);

	if (q != NULL)
		ask_txt(q);
}

/* txt_tempfail - a lookup that failed for now: asked again TXT_RETRY
 * later, or, after TXT_TRIES, left for the next chance. */
static void
txt_tempfail(struct pending *q, enum dns_status st)
{
	struct timeval	tv = { TXT_RETRY, 0 };

	log_info("event=tlsrpt-report domain=%s result=%s reason=\"lookup "
	    "failed (%s)\" try=%u", log_safe(q->domain),
	    q->tries < TXT_TRIES ? "retry" : "deferred", dns_status_str(st),
	    q->tries);
	if (q->tries < TXT_TRIES && event_base_once(base, -1, EV_TIMEOUT,
	    retry_txt, (void *)(uintptr_t)q->id, &tv) == 0)
		return;
	q->later = true;
	pending_end(q);
}

/* txt_done - RFC 8460 3: exactly one record starting "v=TLSRPTv1", or
 * the domain does not take reports. */
static void
txt_done(uint64_t id, void *arg, enum dns_status st, const char *const *txt,
    const size_t *len, size_t n)
{
	struct pending		*q = pending_find(id);
	struct tlsrpt_txt	 t = { 0 }, one;
	size_t			 found = 0;
	const char		*why = "no TLS-RPT record";

	if (q == NULL)
		return;
	if (st == DNS_TEMPFAIL) {
		txt_tempfail(q, st);
		return;
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
		pending_end(q);
		return;
	}
	q->submitting++;		/* held while they are handed over */
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
	if (--q->submitting == 0)
		pending_end(q);
}

/* submit_report - the message to one rua address, as a local submission
 * from tlsrpt_from (its domain's [dkim] key signs it). */
static void
submit_report(struct pending *q, const char *to)
{
	struct envelope	 env = { 0 };
	struct buf	 msg;
	char		 from[320];
	const char	*why;
	int		 code;
	struct tlsrpt_mail m = { from, to, q->domain, config->hostname,
	    q->report_id, q->day, now_usec() / 1000000, q->json,
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
	if (queue_submit(&env, msg.data, msg.len, submitted,
	    (void *)(uintptr_t)q->id, &why, &code) == -1) {
		log_warn("event=tlsrpt-report domain=%s rua=<%s> result=failed "
		    "reason=\"%s\"", log_safe(q->domain), log_safe(to), why);
		envelope_free(&env);
		if (code == EX_TEMPFAIL)
			q->later = true;
	} else {
		q->submitting++;
		log_info("event=tlsrpt-report domain=%s rua=<%s> "
		    "report-id=\"%s\" result=submitted", log_safe(q->domain),
		    log_safe(to), log_safe(q->report_id));
	}
	buf_free(&msg);
}

static void
submitted(void *arg, bool ok, const char *text, int code)
{
	struct pending	*q = pending_find((uint64_t)(uintptr_t)arg);

	if (q == NULL)
		return;
	if (ok) {
		q->submitted++;
		log_info("%s: event=tlsrpt-report domain=%s result=queued",
		    log_safe(text), log_safe(q->domain));
	} else {
		log_warn("event=tlsrpt-report domain=%s result=failed "
		    "reason=\"%s\"", log_safe(q->domain), log_safe(text));
		if (code == EX_TEMPFAIL)
			q->later = true;
	}
	if (--q->submitting == 0)
		pending_end(q);
}
