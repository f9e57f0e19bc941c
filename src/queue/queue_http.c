/*
 * queue_http.c - the metrics listener (metrics_listen), served by the
 * queue process with libevent's evhttp: /metrics in the Prometheus text
 * format (or OpenMetrics when the scraper asks for it), and / (also
 * /status), a small HTML status page with an inline SVG chart and no
 * script.  The numbers come from the shared counters (common/stats.h)
 * and, for the queue, from the scheduler.
 * Trust: HTTP clients are whoever reaches the listener (the parent binds
 * it, loopback by default in the docs): only GET and HEAD of three paths
 * are answered, headers and bodies are bounded by evhttp's limits, and
 * every string shown (domains, reasons, refusals, all escaped for logs
 * already) is escaped again for HTML.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "common/conf.h"
#include "common/proc.h"
#include "common/stats.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "lib/util.h"
#include "mail/envelope.h"
#include "queue/queue_http.h"
#include "queue/queue_sched.h"

#define HTTP_TIMEOUT	10		/* seconds per request */
#define HTTP_MAX_HEAD	8192
#define MAX_DOMAINS	256		/* rows of the queue table */
#define TOP_REASONS	10

struct dom {
	char		 name[256];
	unsigned	 msgs, rcpts;
};

struct qview {
	unsigned	 msgs, rcpts, held;
	uint64_t	 oldest;		/* arrival µs, 0 = none */
	struct dom	 doms[MAX_DOMAINS];
	size_t		 ndoms;
	unsigned	 other;			/* recipients past MAX_DOMAINS */
};

static struct evhttp	*http;

static const char *const reject_names[STATS_NREJECTS] = {
	"unknown_user", "relay_denied", "sender_not_owned", "content",
	"policy"
};

/* ---- the queue, from the scheduler ---- */

static struct dom *
dom_of(struct qview *v, const char *name)
{
	for (size_t i = 0; i < v->ndoms; i++)
		if (strcmp(v->doms[i].name, name) == 0)
			return &v->doms[i];
	if (v->ndoms == MAX_DOMAINS)
		return NULL;
	str_copy(v->doms[v->ndoms].name, name, sizeof(v->doms[0].name));
	return &v->doms[v->ndoms++];
}

/* count_msg - one message into the view: its pending recipients by
 * domain (a domain counts the message once). */
static void
count_msg(const struct queue_sched_entry *e, void *arg)
{
	struct qview		*v = arg;
	const struct envelope	*env = e->env;
	struct dom		*seen[64];	/* domains counted */
	size_t			 nseen = 0;

	v->msgs++;
	if (e->held)
		v->held++;
	if (v->oldest == 0 || env->arrival < v->oldest)
		v->oldest = env->arrival;
	for (size_t i = 0; i < env->nrcpt; i++) {
		const char	*at;
		struct dom	*d;
		bool		 dup = false;

		if (env->rcpts[i].state != RCPT_PENDING)
			continue;
		v->rcpts++;
		at = strrchr(env->rcpts[i].addr, '@');
		if ((d = dom_of(v, at != NULL ? at + 1 : "")) == NULL) {
			v->other++;
			continue;
		}
		d->rcpts++;
		for (size_t j = 0; j < nseen; j++)
			dup |= seen[j] == d;
		if (!dup) {
			d->msgs++;
			if (nseen < NELEM(seen))
				seen[nseen++] = d;
		}
	}
}

static int
dom_cmp(const void *a, const void *b)
{
	const struct dom	*x = a, *y = b;

	if (x->rcpts != y->rcpts)
		return x->rcpts < y->rcpts ? 1 : -1;
	return strcmp(x->name, y->name);
}

static void
queue_view(struct qview *v)
{
	memset(v, 0, sizeof(*v));
	queue_sched_foreach(count_msg, v);
	qsort(v->doms, v->ndoms, sizeof(v->doms[0]), dom_cmp);
}

/* ---- /metrics ---- */

/*
 * family - a metric's HELP and TYPE lines.  A counter's samples end in
 * _total; OpenMetrics names the family without it, the text format of
 * Prometheus with it.
 */
static void
family(struct buf *b, bool om, const char *name, const char *type,
    const char *help)
{
	bool	 counter = strcmp(type, "counter") == 0;

	buf_printf(b, "# HELP %s%s %s\n# TYPE %s%s %s\n", name,
	    counter && !om ? "_total" : "", help, name,
	    counter && !om ? "_total" : "", type);
}

/* The counters of stats.h by family and label; a family's first line
 * carries its help. */
static const struct counter_sample {
	const char		*family;
	const char		*help;
	const char		*label;		/* "direction=\"in\"" */
	enum stats_counter	 c;
} counter_samples[] = {
	{ "postbote_connections", "SMTP connections, accepted (in) and made "
	    "(out).", "direction=\"in\"", STATS_CONNECTIONS },
	{ "postbote_connections", NULL, "direction=\"out\"",
	    STATS_OUT_CONNECTIONS },
	{ "postbote_tls_connections", "SMTP connections with TLS, in and "
	    "out.", "direction=\"in\"", STATS_CONNECTIONS_TLS },
	{ "postbote_tls_connections", NULL, "direction=\"out\"",
	    STATS_OUT_TLS },
	{ "postbote_messages_received", "Messages accepted into the queue, "
	    "by source.", "source=\"smtp\"", STATS_RECEIVED },
	{ "postbote_messages_received", NULL, "source=\"local\"",
	    STATS_SUBMITTED },
	{ "postbote_deliveries", "Delivery results per recipient (deferred: "
	    "each attempt).", "status=\"sent\"", STATS_DELIVERED },
	{ "postbote_deliveries", NULL, "status=\"deferred\"", STATS_DEFERRED },
	{ "postbote_deliveries", NULL, "status=\"bounced\"", STATS_BOUNCED },
	{ "postbote_deliveries", NULL, "status=\"expired\"", STATS_EXPIRED },
};

static void
metrics_counters(struct buf *b, const struct stats *st, bool om)
{
	for (size_t i = 0; i < NELEM(counter_samples); i++) {
		const struct counter_sample	*cs = &counter_samples[i];

		if (cs->help != NULL)
			family(b, om, cs->family, "counter", cs->help);
		buf_printf(b, "%s_total{%s} %llu\n", cs->family, cs->label,
		    (unsigned long long)st->counters[cs->c]);
	}
	family(b, om, "postbote_messages_rejected", "counter",
	    "SMTP commands and messages refused, by reason.");
	for (size_t i = 0; i < STATS_NREJECTS; i++)
		buf_printf(b, "postbote_messages_rejected_total{reason=\"%s\"} "
		    "%llu\n", reject_names[i],
		    (unsigned long long)st->rejects[i]);
	family(b, om, "postbote_auth_results", "counter",
	    "SPF, DKIM and DMARC results of received messages.");
	for (size_t m = 0; m < STATS_NAUTH; m++)
		for (size_t r = 0; r < STATS_NRESULTS; r++)
			buf_printf(b, "postbote_auth_results_total{method=\"%s\","
			    "result=\"%s\"} %llu\n",
			    m == STATS_SPF ? "spf" : m == STATS_DKIM ? "dkim" :
			    "dmarc", stats_result_words[r],
			    (unsigned long long)st->auth[m][r]);
}

static void
metrics_gauges(struct buf *b, const struct stats *st, bool om)
{
	struct qview	*v = xcalloc(1, sizeof(*v));
	uint64_t	 now = now_usec(), cum = 0;

	queue_view(v);
	family(b, om, "postbote_queue_messages", "gauge",
	    "Messages in the queue (held ones too).");
	buf_printf(b, "postbote_queue_messages %u\n", v->msgs);
	family(b, om, "postbote_queue_held_messages", "gauge",
	    "Messages on hold.");
	buf_printf(b, "postbote_queue_held_messages %u\n", v->held);
	family(b, om, "postbote_queue_recipients", "gauge",
	    "Recipients still to deliver.");
	buf_printf(b, "postbote_queue_recipients %u\n", v->rcpts);
	family(b, om, "postbote_queue_oldest_message_age_seconds", "gauge",
	    "Age of the oldest message in the queue (0: empty).");
	buf_printf(b, "postbote_queue_oldest_message_age_seconds %.3f\n",
	    v->oldest != 0 && now > v->oldest ?
	    (double)(now - v->oldest) / 1e6 : 0.0);
	free(v);
	family(b, om, "postbote_delivery_delay_seconds", "histogram",
	    "Time from arrival to delivery of each recipient sent.");
	for (size_t i = 0; i < STATS_LATENCY_BUCKETS; i++) {
		cum += st->latency[i];
		if (i == STATS_LATENCY_BUCKETS - 1)
			buf_printf(b, "postbote_delivery_delay_seconds_bucket"
			    "{le=\"+Inf\"} %llu\n", (unsigned long long)cum);
		else
			buf_printf(b, "postbote_delivery_delay_seconds_bucket"
			    "{le=\"%g\"} %llu\n", stats_latency_bounds[i],
			    (unsigned long long)cum);
	}
	buf_printf(b, "postbote_delivery_delay_seconds_sum %.6f\n"
	    "postbote_delivery_delay_seconds_count %llu\n",
	    (double)st->latency_usec / 1e6, (unsigned long long)cum);
	family(b, om, "postbote_process_resident_memory_bytes", "gauge",
	    "Resident memory of each process.");
	for (int id = 0; id < STATS_NPROC; id++)
		buf_printf(b, "postbote_process_resident_memory_bytes"
		    "{process=\"%s\"} %llu\n", proc_name(id),
		    (unsigned long long)st->rss[id]);
	family(b, om, "postbote_start_time_seconds", "gauge",
	    "When the server started, in seconds since the epoch.");
	buf_printf(b, "postbote_start_time_seconds %llu\n",
	    (unsigned long long)st->started);
}

/* wants_openmetrics - does the scraper's Accept ask for OpenMetrics? */
static bool
wants_openmetrics(struct evhttp_request *req)
{
	const char	*acc = evhttp_find_header(
	    evhttp_request_get_input_headers(req), "Accept");

	return acc != NULL && strstr(acc, "application/openmetrics-text") !=
	    NULL;
}

static void
serve_metrics(struct evhttp_request *req, struct buf *b)
{
	const struct stats	*st = stats_get();
	bool			 om = wants_openmetrics(req);

	if (st == NULL)
		return;
	metrics_counters(b, st, om);
	metrics_gauges(b, st, om);
	if (om)
		buf_printf(b, "# EOF\n");
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", om ? "application/openmetrics-text; "
	    "version=1.0.0; charset=utf-8" :
	    "text/plain; version=0.0.4; charset=utf-8");
}

/* ---- the status page ---- */

/* html - s escaped for HTML text and attribute values. */
static void
html(struct buf *b, const char *s)
{
	for (; *s != '\0'; s++) {
		const char	*e = *s == '<' ? "&lt;" : *s == '>' ? "&gt;" :
		    *s == '&' ? "&amp;" : *s == '"' ? "&quot;" : NULL;

		if (e != NULL)
			buf_append(b, e, strlen(e));
		else
			buf_append(b, s, 1);
	}
}

static void
page_queue(struct buf *b, const struct qview *v, uint64_t now)
{
	buf_printf(b, "<h2>Queue</h2>\n<p id=\"queue-summary\"><span "
	    "id=\"queue-messages\">%u</span> messages, <span "
	    "id=\"queue-recipients\">%u</span> recipients to deliver, "
	    "%u held; oldest %.0f s.</p>\n", v->msgs, v->rcpts, v->held,
	    v->oldest != 0 && now > v->oldest ?
	    (double)(now - v->oldest) / 1e6 : 0.0);
	buf_printf(b, "<table id=\"queue-domains\"><tr><th>destination "
	    "domain</th><th>messages</th><th>recipients</th></tr>\n");
	for (size_t i = 0; i < v->ndoms; i++) {
		buf_printf(b, "<tr><td class=\"domain\">");
		html(b, v->doms[i].name);
		buf_printf(b, "</td><td class=\"messages\">%u</td>"
		    "<td class=\"recipients\">%u</td></tr>\n",
		    v->doms[i].msgs, v->doms[i].rcpts);
	}
	if (v->other > 0)
		buf_printf(b, "<tr><td>(more domains)</td><td></td><td>%u"
		    "</td></tr>\n", v->other);
	buf_printf(b, "</table>\n");
}

struct reason {
	const char	*text;
	unsigned	 n;
};

static int
reason_cmp(const void *a, const void *b)
{
	const struct reason	*x = a, *y = b;

	return x->n != y->n ? (x->n < y->n ? 1 : -1) : strcmp(x->text,
	    y->text);
}

/* page_reasons - the top reasons of kind (0 deferred, 1 bounced) among
 * the failures since `since`. */
static void
page_reasons(struct buf *b, const struct stats *st, int kind,
    int64_t since, const char *id)
{
	struct reason	 r[STATS_NFAIL_LOG];
	size_t		 n = 0;

	for (size_t i = 0; i < STATS_NFAIL_LOG; i++) {
		const struct stats_event *e = &st->fail_log[i];
		size_t		 j;

		if (__atomic_load_n(&e->seq, __ATOMIC_ACQUIRE) == 0 ||
		    e->kind != kind || e->when < since)
			continue;
		for (j = 0; j < n && strcmp(r[j].text, e->text) != 0; j++)
			;
		if (j == n)
			r[n++] = (struct reason){ e->text, 0 };
		r[j].n++;
	}
	qsort(r, n, sizeof(r[0]), reason_cmp);
	buf_printf(b, "<ol id=\"%s\">\n", id);
	for (size_t i = 0; i < n && i < TOP_REASONS; i++) {
		buf_printf(b, "<li><span class=\"count\">%u</span> ", r[i].n);
		html(b, r[i].text);
		buf_printf(b, "</li>\n");
	}
	buf_printf(b, "</ol>\n");
}

static void
page_failures(struct buf *b, const struct stats *st, int64_t now)
{
	static const char *const kinds[] = { "deferral", "bounce" };

	for (int k = 0; k < 2; k++) {
		char	 id[32];

		buf_printf(b, "<h2>Top %s reasons</h2>\n<h3>Last hour</h3>\n",
		    kinds[k]);
		snprintf(id, sizeof(id), "%s-hour", kinds[k]);
		page_reasons(b, st, k, now - 3600, id);
		buf_printf(b, "<h3>Last day</h3>\n");
		snprintf(id, sizeof(id), "%s-day", kinds[k]);
		page_reasons(b, st, k, now - 86400, id);
	}
}

static void
page_rejects(struct buf *b, const struct stats *st)
{
	uint64_t	 last = st->reject_seq;

	buf_printf(b, "<h2>Recent refusals</h2>\n<ul id=\"rejects\">\n");
	for (uint64_t k = 0; k < STATS_NREJECT_LOG && k < last; k++) {
		const struct stats_event *e =
		    &st->reject_log[(last - k) % STATS_NREJECT_LOG];
		char	 when[32];
		struct tm tm;
		time_t	 t;

		if (__atomic_load_n(&e->seq, __ATOMIC_ACQUIRE) == 0 ||
		    (unsigned)e->kind >= STATS_NREJECTS)
			continue;
		t = (time_t)e->when;
		gmtime_r(&t, &tm);
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%SZ", &tm);
		buf_printf(b, "<li>%s <b>%s</b> ", when,
		    reject_names[e->kind]);
		html(b, e->text);
		buf_printf(b, "</li>\n");
	}
	buf_printf(b, "</ul>\n");
}

/* page_chart - received and delivered per hour over the last 24 hours,
 * as bars in an inline SVG (no script, no external file). */
static void
page_chart(struct buf *b, const struct stats *st, int64_t now)
{
	uint64_t	 rcv[STATS_HOURS], dlv[STATS_HOURS], max = 1;
	uint64_t	 hour = (uint64_t)now / 3600;

	for (size_t i = 0; i < STATS_HOURS; i++) {
		uint64_t		 h = hour - (STATS_HOURS - 1) + i;
		const struct stats_hour	*s = &st->hours[h % STATS_HOURS];
		bool			 cur = s->hour == h;

		rcv[i] = cur ? s->received : 0;
		dlv[i] = cur ? s->delivered : 0;
		max = MAX(max, MAX(rcv[i], dlv[i]));
	}
	buf_printf(b, "<h2>Throughput, last 24 hours</h2>\n<svg id=\"chart\" "
	    "xmlns=\"http://www.w3.org/2000/svg\" width=\"600\" "
	    "height=\"140\" viewBox=\"0 0 600 140\" role=\"img\">\n"
	    "<title>messages received (blue) and delivered (green) per "
	    "hour</title>\n<line x1=\"0\" y1=\"120\" x2=\"600\" y2=\"120\" "
	    "stroke=\"#888\"/>\n");
	for (size_t i = 0; i < STATS_HOURS; i++) {
		unsigned	 hr = (unsigned)((hour - (STATS_HOURS - 1) + i) %
		    24);
		double		 hr_rcv = 110.0 * (double)rcv[i] / (double)max;
		double		 hr_dlv = 110.0 * (double)dlv[i] / (double)max;

		buf_printf(b, "<g class=\"hour\" data-hour=\"%02u\" "
		    "data-received=\"%llu\" data-delivered=\"%llu\">"
		    "<rect x=\"%zu\" y=\"%.1f\" width=\"11\" height=\"%.1f\" "
		    "fill=\"#36c\"/><rect x=\"%zu\" y=\"%.1f\" width=\"11\" "
		    "height=\"%.1f\" fill=\"#3a3\"/>", hr,
		    (unsigned long long)rcv[i], (unsigned long long)dlv[i],
		    i * 25, 120 - hr_rcv, hr_rcv, i * 25 + 11, 120 - hr_dlv,
		    hr_dlv);
		if (i % 3 == 0)
			buf_printf(b, "<text x=\"%zu\" y=\"135\" "
			    "font-size=\"10\">%02u</text>", i * 25, hr);
		buf_printf(b, "</g>\n");
	}
	buf_printf(b, "</svg>\n");
}

static void
page_counters(struct buf *b, const struct stats *st)
{
	const uint64_t	*c = st->counters;
	uint64_t	 rej = 0;

	for (size_t i = 0; i < STATS_NREJECTS; i++)
		rej += st->rejects[i];
	buf_printf(b, "<h2>Since the start</h2>\n<table id=\"totals\">"
	    "<tr><td>received</td><td id=\"received\">%llu</td></tr>"
	    "<tr><td>delivered</td><td id=\"delivered\">%llu</td></tr>"
	    "<tr><td>deferred</td><td id=\"deferred\">%llu</td></tr>"
	    "<tr><td>bounced</td><td id=\"bounced\">%llu</td></tr>"
	    "<tr><td>rejected</td><td id=\"rejected\">%llu</td></tr>"
	    "</table>\n",
	    (unsigned long long)(c[STATS_RECEIVED] + c[STATS_SUBMITTED]),
	    (unsigned long long)c[STATS_DELIVERED],
	    (unsigned long long)c[STATS_DEFERRED],
	    (unsigned long long)c[STATS_BOUNCED], (unsigned long long)rej);
}

static void
serve_status(struct evhttp_request *req, struct buf *b)
{
	const struct stats	*st = stats_get();
	struct qview		*v;
	int64_t			 now = (int64_t)time(NULL);

	if (st == NULL)
		return;
	v = xcalloc(1, sizeof(*v));
	queue_view(v);
	buf_printf(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta "
	    "charset=\"utf-8\"><title>postbote status: ");
	html(b, config->hostname);
	buf_printf(b, "</title><style>body{font-family:sans-serif;margin:2em}"
	    "table{border-collapse:collapse}td,th{border:1px solid #ccc;"
	    "padding:2px 8px}</style></head><body>\n<h1>postbote on ");
	html(b, config->hostname);
	buf_printf(b, "</h1>\n");
	page_queue(b, v, now_usec());
	free(v);
	page_counters(b, st);
	page_chart(b, st, now);
	page_failures(b, st, now);
	page_rejects(b, st);
	buf_printf(b, "<p><a href=\"/metrics\">metrics</a></p>\n"
	    "</body></html>\n");
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "text/html; charset=utf-8");
}

/* ---- requests ---- */

static void
on_request(struct evhttp_request *req, void *arg)
{
	const char	*path = evhttp_uri_get_path(
	    evhttp_request_get_evhttp_uri(req));
	struct evbuffer	*out;
	struct buf	 b;

	buf_init(&b, 0);
	if (path == NULL)
		path = "";
	if (strcmp(path, "/metrics") == 0)
		serve_metrics(req, &b);
	else if (strcmp(path, "/") == 0 || strcmp(path, "/status") == 0)
		serve_status(req, &b);
	else {
		evhttp_send_error(req, HTTP_NOTFOUND, NULL);
		buf_free(&b);
		return;
	}
	if ((out = evbuffer_new()) == NULL) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		buf_free(&b);
		return;
	}
	evbuffer_add(out, b.data != NULL ? b.data : "", b.len);
	evhttp_send_reply(req, HTTP_OK, "OK", out);
	evbuffer_free(out);
	buf_free(&b);
}

/* queue_http_init - see queue_http.h. */
void
queue_http_init(struct event_base *base, int fd)
{
	if (fd == -1)
		return;
	if ((http = evhttp_new(base)) == NULL)
		fatalx("queue: evhttp_new failed");
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_timeout(http, HTTP_TIMEOUT);
	evhttp_set_max_headers_size(http, HTTP_MAX_HEAD);
	evhttp_set_max_body_size(http, 0);
	evhttp_set_gencb(http, on_request, NULL);
	if (evhttp_accept_socket(http, fd) == -1)
		fatalx("queue: cannot serve the metrics listener");
	log_info("event=metrics-listening");
}
