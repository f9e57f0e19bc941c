/*
 * https.h - one HTTPS GET over libevent's HTTP client on an OpenSSL
 * bufferevent, for small documents fetched by a mail server (the MTA-STS
 * policy, RFC 8461 3.3): one connection to a given address, the server's
 * certificate checked for a host name, no redirect followed, a bound on
 * the body and on the whole exchange.
 */
#ifndef POSTBOTE_HTTPS_H
#define POSTBOTE_HTTPS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <openssl/ssl.h>

struct event_base;

enum https_status {
	HTTPS_OK = 0,		/* 200 and the content type asked for */
	HTTPS_CONNECT,		/* no connection, or it broke */
	HTTPS_TLS_VERIFY,	/* the certificate is not valid for host */
	HTTPS_HTTP_STATUS,	/* not 200 (a redirect too: never followed) */
	HTTPS_CONTENT_TYPE,	/* another media type than the one asked */
	HTTPS_TOO_BIG,		/* the body or the headers over the limit */
	HTTPS_TIMEOUT,		/* the whole exchange took too long */
};

struct https_result {
	enum https_status status;
	int		 code;		/* the HTTP status, 0 = none */
	long		 verify;	/* X509_V_OK or the verify error */
	const char	*body;		/* HTTPS_OK: len bytes and a NUL */
	size_t		 len;
	char		 why[160];	/* for logs, "" for HTTPS_OK */
};

/*
 * https_cb - the outcome of https_get for id, once, from the loop, never
 * before https_get returns; r and what it points to live for the call.
 */
typedef void (*https_cb)(uint64_t id, void *arg, const struct https_result *r);

/*
 * https_get - GET https://host:port/path from addr (its port is
 * ignored): SNI and the certificate check for host (ctx verifies peers
 * with its CA store; hostname and the chain are checked), "Host: host",
 * a 200 answer whose Content-Type is media (parameters allowed, case
 * ignored), a body of at most max_body bytes, everything within
 * timeout_ms.  Exits on an allocation failure only.
 */
void	 https_get(struct event_base *base, SSL_CTX *ctx,
	    const struct sockaddr_storage *addr, const char *host,
	    uint16_t port, const char *path, const char *media,
	    size_t max_body, unsigned timeout_ms, https_cb cb, uint64_t id,
	    void *arg);

/*
 * https_ctx_new - a client context that verifies servers (TLS 1.2 and
 * later) under the CAs of the PEM file ca, or the system's store when ca
 * is NULL.  NULL when ca cannot be read (err says why).
 */
SSL_CTX	*https_ctx_new(const char *ca, char *err, size_t errlen);

/* https_status_str - "ok", "connect", "tls-verify", ... */
const char *https_status_str(enum https_status);

#endif
