/*
 * https.c - a single HTTPS GET (https.h) with libevent's HTTP client
 * (evhttp) on an OpenSSL bufferevent.  Used by the deliver process for
 * MTA-STS policies and by the CLI's check --dns.
 *
 * Trust: the server is whoever answers at the address the caller found
 * in DNS.  Its certificate must verify under the caller's context for
 * the host name asked for (SSL_set1_host: the WebPKI check of RFC 8461
 * 3.3); evhttp bounds the headers and the body, a redirect is only a
 * status that is not 200, and one timer bounds the whole exchange, so a
 * slow server costs the caller at most timeout_ms and no other work
 * waits for it.  A connection is never reused.
 */
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/x509v3.h>

#include "lib/https.h"
#include "lib/log.h"
#include "lib/util.h"

#define HEADERS_MAX	(16 * 1024)

struct https_get {
	struct event_base	*base;
	struct evhttp_connection *evcon;
	SSL			*ssl;		/* owned by the bufferevent */
	struct event		*timer;
	https_cb		 cb;
	void			*arg;
	uint64_t		 id;
	char			*host, *media;
	size_t			 max_body;
	int			 error;		/* evhttp's, -1 = none */
	bool			 done;
	const char		*early;		/* a failure before any
						 * I/O, reported from the
						 * timer */
};

static const char *const status_names[] = {
	[HTTPS_OK] = "ok",
	[HTTPS_CONNECT] = "connect",
	[HTTPS_TLS_VERIFY] = "tls-verify",
	[HTTPS_HTTP_STATUS] = "http-status",
	[HTTPS_CONTENT_TYPE] = "content-type",
	[HTTPS_TOO_BIG] = "too-big",
	[HTTPS_TIMEOUT] = "timeout",
};

/* https_status_str - see https.h. */
const char *
https_status_str(enum https_status s)
{
	return (size_t)s < NELEM(status_names) ? status_names[s] : "?";
}

/* https_ctx_new - see https.h. */
SSL_CTX *
https_ctx_new(const char *ca, char *err, size_t errlen)
{
	SSL_CTX	*ctx = SSL_CTX_new(TLS_client_method());

	if (ctx == NULL) {
		snprintf(err, errlen, "cannot make a TLS context");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (ca == NULL)
		SSL_CTX_set_default_verify_paths(ctx);
	else if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
		snprintf(err, errlen, "cannot read the CA file %s", ca);
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

/* get_free - after the last callback of evhttp has returned. */
static void
get_free(struct https_get *g)
{
	if (g->evcon != NULL)
		evhttp_connection_free(g->evcon);
	if (g->timer != NULL)
		event_free(g->timer);
	free(g->host);
	free(g->media);
	free(g);
}

static void
get_free_cb(evutil_socket_t fd, short ev, void *arg)
{
	get_free(arg);
}

/* finish - report r once; the connection is freed from the loop, not
 * from inside an evhttp callback (unless from_timer). */
static void
finish(struct https_get *g, struct https_result *r, bool from_timer)
{
	struct timeval	 now = { 0, 0 };

	if (g->done)
		return;
	g->done = true;
	evtimer_del(g->timer);
	g->cb(g->id, g->arg, r);
	if (from_timer)
		get_free(g);
	else if (event_base_once(g->base, -1, EV_TIMEOUT, get_free_cb, g,
	    &now) == -1)
		fatalx("https: event_base_once failed");
}

static void
fail(struct https_get *g, enum https_status st, int code, const char *why,
    bool from_timer)
{
	struct https_result	r = { .status = st, .code = code,
	    .verify = g->ssl != NULL ? SSL_get_verify_result(g->ssl) : 0 };

	str_copy(r.why, why, sizeof(r.why));
	finish(g, &r, from_timer);
}

static void
on_timeout(evutil_socket_t fd, short ev, void *arg)
{
	struct https_get	*g = arg;

	if (g->early != NULL)
		fail(g, HTTPS_CONNECT, 0, g->early, true);
	else
		fail(g, HTTPS_TIMEOUT, 0, "timeout", true);
}

/* fail_early - a failure before any I/O: reported from the loop, as the
 * callback may not run before https_get returns. */
static void
fail_early(struct https_get *g, const char *why)
{
	struct timeval	now = { 0, 0 };

	g->early = why;
	evtimer_add(g->timer, &now);
}

static void
on_error(enum evhttp_request_error e, void *arg)
{
	struct https_get	*g = arg;

	g->error = (int)e;
}

/* media_ok - the Content-Type value v names media (RFC 9110 8.3: the
 * type is case-insensitive, parameters may follow). */
static bool
media_ok(const char *v, const char *media)
{
	size_t	n = strlen(media);

	if (v == NULL)
		return false;
	while (*v == ' ' || *v == '\t')
		v++;
	return strncasecmp(v, media, n) == 0 && (v[n] == '\0' ||
	    v[n] == ';' || v[n] == ' ' || v[n] == '\t');
}

static void
on_done(struct evhttp_request *req, void *arg)
{
	struct https_get	*g = arg;
	struct https_result	 r = { .status = HTTPS_OK };
	struct evbuffer		*in;
	char			 why[160];
	char			*body;
	int			 code = req != NULL ?
	    evhttp_request_get_response_code(req) : 0;

	if (g->done)
		return;
	if (g->ssl != NULL && SSL_get_verify_result(g->ssl) != X509_V_OK) {
		snprintf(why, sizeof(why), "certificate not valid for %s: %s",
		    g->host, X509_verify_cert_error_string(
		    SSL_get_verify_result(g->ssl)));
		fail(g, HTTPS_TLS_VERIFY, 0, why, false);
		return;
	}
	if (g->error == EVREQ_HTTP_TIMEOUT) {
		fail(g, HTTPS_TIMEOUT, 0, "timeout", false);
		return;
	}
	if (g->error == EVREQ_HTTP_DATA_TOO_LONG) {
		fail(g, HTTPS_TOO_BIG, code, "answer too large", false);
		return;
	}
	if (req == NULL || code == 0 || g->error != -1) {
		fail(g, HTTPS_CONNECT, 0, "connection failed or closed",
		    false);
		return;
	}
	if (code != 200) {
		snprintf(why, sizeof(why), "HTTP status %d", code);
		fail(g, HTTPS_HTTP_STATUS, code, why, false);
		return;
	}
	if (!media_ok(evhttp_find_header(evhttp_request_get_input_headers(req),
	    "Content-Type"), g->media)) {
		snprintf(why, sizeof(why), "Content-Type is not %s", g->media);
		fail(g, HTTPS_CONTENT_TYPE, code, why, false);
		return;
	}
	in = evhttp_request_get_input_buffer(req);
	r.len = evbuffer_get_length(in);
	if (r.len > g->max_body) {
		fail(g, HTTPS_TOO_BIG, code, "answer too large", false);
		return;
	}
	body = xmalloc(r.len + 1);
	evbuffer_copyout(in, body, r.len);
	body[r.len] = '\0';
	r.body = body;
	r.code = code;
	r.verify = X509_V_OK;
	finish(g, &r, false);
	free(body);
}

/* https_get - see https.h. */
void
https_get(struct event_base *base, SSL_CTX *ctx,
    const struct sockaddr_storage *addr, const char *host, uint16_t port,
    const char *path, const char *media, size_t max_body,
    unsigned timeout_ms, https_cb cb, uint64_t id, void *arg)
{
	struct https_get	*g = xcalloc(1, sizeof(*g));
	struct bufferevent	*bev;
	struct evhttp_request	*req;
	struct evkeyvalq	*h;
	struct timeval		 tv = { timeout_ms / 1000,
	    (suseconds_t)(timeout_ms % 1000) * 1000 };
	char			 ip[INET6_ADDRSTRLEN];
	const void		*a = addr->ss_family == AF_INET ?
	    (const void *)&((const struct sockaddr_in *)addr)->sin_addr :
	    (const void *)&((const struct sockaddr_in6 *)addr)->sin6_addr;

	g->base = base;
	g->cb = cb;
	g->arg = arg;
	g->id = id;
	g->host = xstrdup(host);
	g->media = xstrdup(media);
	g->max_body = max_body;
	g->error = -1;
	if ((g->timer = evtimer_new(base, on_timeout, g)) == NULL)
		fatalx("https: evtimer_new failed");
	evtimer_add(g->timer, &tv);
	if (inet_ntop(addr->ss_family, a, ip, sizeof(ip)) == NULL) {
		fail_early(g, "bad address");
		return;
	}
	if ((g->ssl = SSL_new(ctx)) == NULL) {
		fail_early(g, "cannot make a TLS object");
		return;
	}
	SSL_set_tlsext_host_name(g->ssl, host);
	SSL_set1_host(g->ssl, host);
	bev = bufferevent_openssl_socket_new(base, -1, g->ssl,
	    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE |
	    BEV_OPT_DEFER_CALLBACKS);
	if (bev == NULL) {
		SSL_free(g->ssl);
		g->ssl = NULL;
		fail_early(g, "cannot make a TLS stream");
		return;
	}
	/* many servers close without close_notify after the answer */
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	g->evcon = evhttp_connection_base_bufferevent_new(base, NULL, bev, ip,
	    port);
	if (g->evcon == NULL)
		fatalx("https: evhttp_connection_base_bufferevent_new failed");
	evhttp_connection_set_max_body_size(g->evcon, (ev_ssize_t)max_body);
	evhttp_connection_set_max_headers_size(g->evcon, HEADERS_MAX);
	/* evhttp's own timeout is per read or write: ours ends it first */
	evhttp_connection_set_timeout_tv(g->evcon, &(struct timeval){
	    tv.tv_sec + 1, tv.tv_usec });
	evhttp_connection_set_retries(g->evcon, 0);
	if ((req = evhttp_request_new(on_done, g)) == NULL)
		fatalx("https: evhttp_request_new failed");
	evhttp_request_set_error_cb(req, on_error);
	h = evhttp_request_get_output_headers(req);
	evhttp_add_header(h, "Host", host);
	evhttp_add_header(h, "Connection", "close");
	evhttp_add_header(h, "User-Agent", "postbote");
	/* on failure evhttp has freed req */
	if (evhttp_make_request(g->evcon, req, EVHTTP_REQ_GET, path) == -1)
		fail_early(g, "cannot send the request");
}
