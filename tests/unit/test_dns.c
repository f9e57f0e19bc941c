/*
 * test_dns.c - dns.c against a tiny UDP DNS responder that runs in a
 * thread of this test on 127.0.0.1 and ::1 (ephemeral ports).  Nothing
 * here ever asks the system resolver: every context names its servers.
 * Names under sec.test play a validating resolver: their answers carry
 * the AD bit when the query did (RFC 6840 5.7), but for half.sec.test's
 * AAAA.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "lib/dns.h"

#define T_A	1
#define T_PTR	12
#define T_MX	15
#define T_TXT	16
#define T_AAAA	28

#define RC_SERVFAIL	2
#define RC_NXDOMAIN	3
#define RC_REFUSED	5

#define V6_LOOPBACK_PTR	"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0." \
			"0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa"

enum action { ANSWER, RCODE, DROP };

/* What the responder knows; type 0 in a RCODE/DROP rule means any type. */
struct rule {
	const char	*name;
	int		 type;
	enum action	 act;
	int		 rcode;
	const char	*data;		/* name, address, "pref name" (MX),
					 * "chunk|chunk" (TXT) */
};

static const struct rule rules[] = {
	{ "1.0.0.127.in-addr.arpa", T_PTR, ANSWER, 0, "mail.test." },
	{ "mail.test", T_A, ANSWER, 0, "127.0.0.9" },
	{ "mail.test", T_A, ANSWER, 0, "127.0.0.1" },
	{ "2.0.0.127.in-addr.arpa", T_PTR, ANSWER, 0, "Liar.Test." },
	{ "liar.test", T_A, ANSWER, 0, "127.0.0.99" },
	{ "4.0.0.127.in-addr.arpa", 0, RCODE, RC_SERVFAIL, NULL },
	{ "5.0.0.127.in-addr.arpa", 0, DROP, 0, NULL },
	{ "6.0.0.127.in-addr.arpa", T_PTR, ANSWER, 0, "gone.test." },
	{ "7.0.0.127.in-addr.arpa", T_PTR, ANSWER, 0, "flaky.test." },
	{ "flaky.test", T_A, RCODE, RC_SERVFAIL, NULL },
	{ "8.0.0.127.in-addr.arpa", T_PTR, ANSWER, 0, "192.0.2.1." },
	{ "9.0.0.127.in-addr.arpa", T_A, ANSWER, 0, "127.0.0.9" },
	{ "10.0.0.127.in-addr.arpa", 0, RCODE, RC_REFUSED, NULL },
	{ "11.0.0.127.in-addr.arpa", T_PTR, ANSWER, 0, "v4only.test." },
	{ "v4only.test", T_AAAA, ANSWER, 0, "::1" },
	{ "12.0.0.127.in-addr.arpa", T_PTR, ANSWER, 0, "first.test." },
	{ "12.0.0.127.in-addr.arpa", T_PTR, ANSWER, 0, "second.test." },
	{ "first.test", T_A, ANSWER, 0, "127.0.0.12" },
	{ V6_LOOPBACK_PTR, T_PTR, ANSWER, 0, "six.test." },
	{ "example.test", T_MX, ANSWER, 0, "20 mx2.example.test." },
	{ "example.test", T_MX, ANSWER, 0, "10 MX1.Example.Test." },
	{ "example.test", T_MX, ANSWER, 0, "30 192.0.2.1." },
	{ "example.test", T_MX, ANSWER, 0, "20 mxb.example.test." },
	{ "nullmx.test", T_MX, ANSWER, 0, "0 ." },
	{ "numericmx.test", T_MX, ANSWER, 0, "10 192.0.2.1." },
	{ "dual.test", T_A, ANSWER, 0, "127.0.0.1" },
	{ "dual.test", T_AAAA, ANSWER, 0, "::1" },
	{ "dual.test", T_A, ANSWER, 0, "127.0.0.2" },
	{ "halfbad.test", T_A, RCODE, RC_SERVFAIL, NULL },
	{ "halfbad.test", T_AAAA, ANSWER, 0, "::1" },
	{ "txt.test", T_TXT, ANSWER, 0, "v=spf1 -all" },
	{ "txt.test", T_TXT, ANSWER, 0, "abc|def" },
	{ "txt.test", T_TXT, ANSWER, 0, "" },
	{ "drop.test", 0, DROP, 0, NULL },
	{ "six.test", T_AAAA, ANSWER, 0, "::1" },
	/* RFC 7208 suite, mx-colon-domain: SPF asks about such names */
	{ "colon.test", T_MX, ANSWER, 0, "0 foo:bar/baz.colon.test." },
	{ "colon.test", T_MX, ANSWER, 0, "5 mx.colon.test." },
	{ "colon.test", T_MX, ANSWER, 0, "9 a\\.b.colon.test." },
	{ "foo:bar/baz.colon.test", T_A, ANSWER, 0, "192.0.2.5" },
	{ "sp ace%20.test", T_TXT, ANSWER, 0, "found" },
	{ "sec.test", T_MX, ANSWER, 0, "10 mx.sec.test." },
	{ "mx.sec.test", T_A, ANSWER, 0, "127.0.0.1" },
	{ "half.sec.test", T_A, ANSWER, 0, "127.0.0.1" },
	{ "half.sec.test", T_AAAA, ANSWER, 0, "::1" },
	{ "txt.sec.test", T_TXT, ANSWER, 0, "hello" },
};

static struct {
	pthread_t	 thread;
	int		 fd4, fd6, stop[2];
	int		 port4, port6;
	pthread_mutex_t	 lock;
	unsigned	 nqueries;
	char		 last[300];
	bool		 last_ad;	/* the last query had the AD bit */
} srv = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* Question name as dotted lower case; returns bytes used or -1. */
static int
get_qname(const unsigned char *p, size_t len, char *out, size_t outlen)
{
	size_t	 i = 0, o = 0;

	while (i < len && p[i] != 0) {
		size_t	 l = p[i++];

		if (l > 63 || i + l > len || o + l + 2 > outlen)
			return -1;
		if (o > 0)
			out[o++] = '.';
		for (size_t k = 0; k < l; k++) {
			unsigned char c = p[i + k];

			out[o++] = (c >= 'A' && c <= 'Z') ? c + 32 : c;
		}
		i += l;
	}
	if (i >= len)
		return -1;
	out[o] = '\0';
	return (int)i + 1;
}

/* Wire form of a dotted name (a trailing dot is optional). */
static size_t
put_name(unsigned char *p, const char *name)
{
	size_t	 o = 0;

	while (*name != '\0') {
		const char	*dot = strchr(name, '.');
		size_t		 l = dot ? (size_t)(dot - name) : strlen(name);

		p[o++] = (unsigned char)l;
		memcpy(p + o, name, l);
		o += l;
		name += l + (dot != NULL);
	}
	p[o++] = 0;
	return o;
}

/* "10 mx.test." -> preference and name. */
static size_t
put_mx(unsigned char *p, const char *data)
{
	char	*end;
	long	 pref = strtol(data, &end, 10);

	p[0] = (unsigned char)(pref >> 8);
	p[1] = (unsigned char)pref;
	if (strcmp(end + 1, ".") == 0) {
		p[2] = 0;			/* the root: null MX */
		return 3;
	}
	return 2 + put_name(p + 2, end + 1);
}

/* "abc|def" -> two character-strings. */
static size_t
put_txt(unsigned char *p, const char *data)
{
	size_t	 o = 0;

	for (;;) {
		const char	*bar = strchr(data, '|');
		size_t		 l = bar ? (size_t)(bar - data) : strlen(data);

		p[o++] = (unsigned char)l;
		memcpy(p + o, data, l);
		o += l;
		if (bar == NULL)
			return o;
		data = bar + 1;
	}
}

static size_t
put_answer(unsigned char *p, const struct rule *r)
{
	size_t	 o = 0, rdlen;

	p[o++] = 0xc0;			/* pointer to the question name */
	p[o++] = 12;
	p[o++] = 0;
	p[o++] = (unsigned char)r->type;
	p[o++] = 0;
	p[o++] = 1;			/* IN */
	memcpy(p + o, "\0\0\0\x3c", 4);	/* TTL 60 */
	o += 4;
	if (r->type == T_PTR)
		rdlen = put_name(p + o + 2, r->data);
	else if (r->type == T_MX)
		rdlen = put_mx(p + o + 2, r->data);
	else if (r->type == T_TXT)
		rdlen = put_txt(p + o + 2, r->data);
	else if (r->type == T_A)
		rdlen = inet_pton(AF_INET, r->data, p + o + 2) == 1 ? 4 : 0;
	else
		rdlen = inet_pton(AF_INET6, r->data, p + o + 2) == 1 ? 16 : 0;
	p[o++] = (unsigned char)(rdlen >> 8);
	p[o++] = (unsigned char)rdlen;
	return o + rdlen;
}

/* is_secure - would a validating resolver vouch for this answer? */
static bool
is_secure(const char *name, int type)
{
	size_t	 n = strlen(name);

	if (strcmp(name, "half.sec.test") == 0 && type == T_AAAA)
		return false;
	return strcmp(name, "sec.test") == 0 ||
	    (n > 9 && strcmp(name + n - 9, ".sec.test") == 0);
}

/* Build the reply to q; returns its length, or 0 to stay silent. */
static size_t
answer(const unsigned char *q, size_t qlen, unsigned char *out)
{
	char		 name[256];
	int		 n, type, rcode = RC_NXDOMAIN, count = 0;
	size_t		 o;

	if (qlen < 12 || (n = get_qname(q + 12, qlen - 12, name,
	    sizeof(name))) < 0 || qlen < 12 + (size_t)n + 4)
		return 0;
	type = q[12 + n] << 8 | q[12 + n + 1];
	pthread_mutex_lock(&srv.lock);
	srv.nqueries++;
	snprintf(srv.last, sizeof(srv.last), "%s/%d", name, type);
	srv.last_ad = (q[3] & 0x20) != 0;
	pthread_mutex_unlock(&srv.lock);
	o = 12 + (size_t)n + 4;
	memcpy(out, q, o);
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		const struct rule *r = &rules[i];

		if (strcmp(r->name, name) != 0)
			continue;
		if (rcode == RC_NXDOMAIN)
			rcode = 0;		/* the name exists */
		if (r->act != ANSWER && (r->type == 0 || r->type == type)) {
			if (r->act == DROP)
				return 0;
			rcode = r->rcode;
			count = 0;
			o = 12 + (size_t)n + 4;
			break;
		}
		if (r->act == ANSWER && r->type == type) {
			o += put_answer(out + o, r);
			count++;
		}
	}
	out[2] = 0x80 | (q[2] & 0x01);		/* QR, RD copied */
	out[3] = 0x80 | (unsigned char)rcode;	/* RA */
	if ((q[3] & 0x20) && is_secure(name, type))
		out[3] |= 0x20;			/* AD */
	memcpy(out + 4, "\0\1\0\0\0\0\0\0", 8);
	out[7] = (unsigned char)count;
	return o;
}

static void
serve_one(int fd)
{
	unsigned char		 q[512], a[1024];
	struct sockaddr_storage	 from;
	socklen_t		 fl = sizeof(from);
	ssize_t			 n;
	size_t			 alen;

	n = recvfrom(fd, q, sizeof(q), 0, (struct sockaddr *)&from, &fl);
	if (n <= 0)
		return;
	if ((alen = answer(q, (size_t)n, a)) > 0)
		(void)sendto(fd, a, alen, 0, (struct sockaddr *)&from, fl);
}

static void *
serve(void *arg)
{
	struct pollfd	 p[3];

	(void)arg;
	p[0].fd = srv.fd4;
	p[1].fd = srv.fd6;
	p[2].fd = srv.stop[0];
	for (;;) {
		for (int i = 0; i < 3; i++)
			p[i].events = POLLIN;
		if (poll(p, 3, -1) == -1 && errno != EINTR)
			break;
		if (p[2].revents)
			break;
		for (int i = 0; i < 2; i++)
			if (p[i].revents & POLLIN)
				serve_one(p[i].fd);
	}
	return NULL;
}

static int
bind_udp(int family, int *port)
{
	struct sockaddr_storage	 ss;
	struct sockaddr_in	*sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&ss;
	socklen_t		 sl = sizeof(ss);
	int			 fd;

	memset(&ss, 0, sizeof(ss));
	ss.ss_family = (sa_family_t)family;
	if (family == AF_INET)
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	else
		sin6->sin6_addr = in6addr_loopback;
	if ((fd = socket(family, SOCK_DGRAM, 0)) == -1 ||
	    bind(fd, (struct sockaddr *)&ss, sizeof(ss)) == -1 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) == -1)
		return -1;
	*port = ntohs(family == AF_INET ? sin->sin_port : sin6->sin6_port);
	return fd;
}

static int
group_setup(void **state)
{
	if ((srv.fd4 = bind_udp(AF_INET, &srv.port4)) == -1 ||
	    (srv.fd6 = bind_udp(AF_INET6, &srv.port6)) == -1 ||
	    pipe(srv.stop) == -1 ||
	    pthread_create(&srv.thread, NULL, serve, NULL) != 0)
		return -1;
	return 0;
}

static int
group_teardown(void **state)
{
	(void)write(srv.stop[1], "x", 1);
	pthread_join(srv.thread, NULL);
	close(srv.fd4);
	close(srv.fd6);
	close(srv.stop[0]);
	close(srv.stop[1]);
	return 0;
}

/* ---- client side ---- */

struct result {
	int		 calls;
	uint64_t	 id;
	enum dns_status	 st;
	bool		 has_name;
	char		 name[256];
};

struct env {
	struct event_base	*base;
	struct dns_ctx		*dns;
	int			 pending;
	bool			 expired;
	char			 server[64];
};

static struct env *cur;

static void
record(struct result *r, uint64_t id, enum dns_status st, const char *name)
{
	r->calls++;
	r->id = id;
	r->st = st;
	r->has_name = name != NULL;
	snprintf(r->name, sizeof(r->name), "%s", name ? name : "");
}

static void
name_cb(uint64_t id, void *arg, enum dns_status st, const char *name)
{
	record(arg, id, st, name);
	if (--cur->pending == 0)
		event_base_loopbreak(cur->base);
}

static void
guard_cb(evutil_socket_t fd, short what, void *arg)
{
	cur->expired = true;
	event_base_loopbreak(cur->base);
}

/* Run the loop until every pending callback ran (or 5 s passed). */
static void
run(void)
{
	struct timeval	 tv = { 5, 0 };
	struct event	*guard = evtimer_new(cur->base, guard_cb, NULL);

	evtimer_add(guard, &tv);
	if (cur->pending > 0)
		event_base_dispatch(cur->base);
	event_free(guard);
	assert_false(cur->expired);
	assert_int_equal(cur->pending, 0);
}

static struct env *
env_new(const char *server, int timeout_ms)
{
	struct env		*e = calloc(1, sizeof(*e));
	const char		*servers[1] = { e->server };
	char			 err[256] = "";

	assert_non_null(e);
	snprintf(e->server, sizeof(e->server), "%s", server);
	e->base = event_base_new();
	assert_non_null(e->base);
	e->dns = dns_new(e->base, servers, 1, timeout_ms, 1, err,
	    sizeof(err));
	if (e->dns == NULL)
		fail_msg("dns_new: %s", err);
	cur = e;
	return e;
}

static void
env_free(struct env *e)
{
	dns_free(e->dns);
	event_base_free(e->base);
	free(e);
	cur = NULL;
}

static int
setup4(void **state)
{
	char	 s[64];

	snprintf(s, sizeof(s), "127.0.0.1:%d", srv.port4);
	*state = env_new(s, 2000);
	return 0;
}

static int
setup_short(void **state)
{
	char	 s[64];

	snprintf(s, sizeof(s), "127.0.0.1:%d", srv.port4);
	*state = env_new(s, 200);
	return 0;
}

static int
setup6(void **state)
{
	char	 s[64];

	snprintf(s, sizeof(s), "[::1]:%d", srv.port6);
	*state = env_new(s, 2000);
	return 0;
}

static int
teardown(void **state)
{
	env_free(*state);
	return 0;
}

static void
start(const char *ip, struct result *r, uint64_t id)
{
	struct sockaddr_storage	 ss;
	struct sockaddr_in	*sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, ip, &sin->sin_addr) == 1)
		sin->sin_family = AF_INET;
	else {
		assert_int_equal(inet_pton(AF_INET6, ip, &sin6->sin6_addr), 1);
		sin6->sin6_family = AF_INET6;
	}
	cur->pending++;
	dns_client_name(cur->dns, (struct sockaddr *)&ss, name_cb, id, r);
	assert_int_equal(r->calls, 0);	/* never before the call returns */
}

static void
lookup(const char *ip, enum dns_status want, const char *want_name)
{
	struct result	 r = { 0 };

	start(ip, &r, 42);
	run();
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.id, 42);
	assert_string_equal(dns_status_str(r.st), dns_status_str(want));
	if (want_name == NULL)
		assert_false(r.has_name);
	else {
		assert_true(r.has_name);
		assert_string_equal(r.name, want_name);
	}
}

static void
test_verified(void **state)
{
	lookup("127.0.0.1", DNS_OK, "mail.test");
}

/* Several PTR records: the first one in the answer is the one checked. */
static void
test_first_ptr(void **state)
{
	lookup("127.0.0.12", DNS_OK, "first.test");
}

static void
test_forward_mismatch(void **state)
{
	lookup("127.0.0.2", DNS_OK, NULL);
}

static void
test_nxdomain(void **state)
{
	lookup("127.0.0.3", DNS_NXDOMAIN, NULL);
}

static void
test_servfail(void **state)
{
	lookup("127.0.0.4", DNS_TEMPFAIL, NULL);
}

static void
test_refused(void **state)
{
	lookup("127.0.0.10", DNS_TEMPFAIL, NULL);
}

static void
test_forward_nxdomain(void **state)
{
	lookup("127.0.0.6", DNS_NXDOMAIN, NULL);
}

static void
test_forward_servfail(void **state)
{
	lookup("127.0.0.7", DNS_TEMPFAIL, NULL);
}

static void
test_forward_nodata(void **state)
{
	lookup("127.0.0.11", DNS_NODATA, NULL);
}

static void
test_ptr_nodata(void **state)
{
	lookup("127.0.0.9", DNS_NODATA, NULL);
}

static void
test_numeric_ptr_refused(void **state)
{
	lookup("127.0.0.8", DNS_PERMFAIL, NULL);
}

static void
test_timeout(void **state)
{
	uint64_t	 t0 = (uint64_t)time(NULL);

	lookup("127.0.0.5", DNS_TEMPFAIL, NULL);
	assert_true((uint64_t)time(NULL) - t0 <= 2);
}

static void
test_ipv6(void **state)
{
	lookup("::1", DNS_OK, "six.test");
}

static void
test_v4_mapped(void **state)
{
	lookup("::ffff:127.0.0.1", DNS_OK, "mail.test");
	pthread_mutex_lock(&srv.lock);
	assert_string_equal(srv.last, "mail.test/1");	/* A, not AAAA */
	pthread_mutex_unlock(&srv.lock);
}

static void
test_bad_family(void **state)
{
	struct sockaddr	 sa = { .sa_family = AF_UNIX };
	struct result	 r = { 0 };

	cur->pending++;
	dns_client_name(cur->dns, &sa, name_cb, 7, &r);
	assert_int_equal(r.calls, 0);
	run();
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.st, DNS_PERMFAIL);
	assert_false(r.has_name);
}

/* Many lookups at once: each answer reaches the right id. */
static void
test_concurrent(void **state)
{
	static const char *const ips[] = { "127.0.0.1", "127.0.0.2",
	    "127.0.0.3", "127.0.0.4", "::1", "127.0.0.1" };
	static const enum dns_status want[] = { DNS_OK, DNS_OK,
	    DNS_NXDOMAIN, DNS_TEMPFAIL, DNS_OK, DNS_OK };
	struct result	 r[6];

	memset(r, 0, sizeof(r));
	for (size_t i = 0; i < 6; i++)
		start(ips[i], &r[i], 100 + i);
	run();
	for (size_t i = 0; i < 6; i++) {
		assert_int_equal(r[i].calls, 1);
		assert_int_equal(r[i].id, 100 + i);
		assert_int_equal(r[i].st, want[i]);
	}
	assert_string_equal(r[0].name, "mail.test");
	assert_false(r[1].has_name);
	assert_string_equal(r[4].name, "six.test");
}

static void
break_cb(evutil_socket_t fd, short what, void *arg)
{
	event_base_loopbreak(arg);
}

static struct result	 late;

static void
restart_cb(uint64_t id, void *arg, enum dns_status st, const char *name)
{
	struct sockaddr_in	 sin = { .sin_family = AF_INET };

	record(arg, id, st, name);
	sin.sin_addr.s_addr = htonl(0x7f000001);
	/* A new lookup on a context being freed fails, still in time. */
	dns_client_name(cur->dns, (struct sockaddr *)&sin, name_cb, 2, &late);
}

/* dns_free with a query on the wire: TEMPFAIL before it returns. */
static void
test_free_outstanding(void **state)
{
	struct env		*e = *state;
	struct result		 r = { 0 };
	struct sockaddr_in	 sin = { .sin_family = AF_INET };
	struct timeval		 tv = { 0, 100000 };
	unsigned		 before;

	pthread_mutex_lock(&srv.lock);
	before = srv.nqueries;
	pthread_mutex_unlock(&srv.lock);
	sin.sin_addr.s_addr = htonl(0x7f000005);	/* dropped */
	memset(&late, 0, sizeof(late));
	dns_client_name(e->dns, (struct sockaddr *)&sin, restart_cb, 1, &r);
	event_base_once(e->base, -1, EV_TIMEOUT, break_cb, e->base, &tv);
	event_base_dispatch(e->base);
	pthread_mutex_lock(&srv.lock);
	assert_true(srv.nqueries > before);		/* it was asked */
	pthread_mutex_unlock(&srv.lock);
	assert_int_equal(r.calls, 0);
	dns_free(e->dns);
	e->dns = NULL;
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.id, 1);
	assert_int_equal(r.st, DNS_TEMPFAIL);
	assert_int_equal(late.calls, 1);
	assert_int_equal(late.st, DNS_TEMPFAIL);
}

/* ---- dns_mx, dns_addr, dns_txt ---- */

struct many {
	int		 calls;
	uint64_t	 id;
	enum dns_status	 st;
	size_t		 n;
	char		 item[8][300];	/* "pref host", address or text */
	size_t		 len[8];
};

static void
many_done(struct many *m, uint64_t id, enum dns_status st, size_t n)
{
	m->calls++;
	m->id = id;
	m->st = st;
	m->n = n;
	if (--cur->pending == 0)
		event_base_loopbreak(cur->base);
}

static void
mx_cb(uint64_t id, void *arg, enum dns_status st, const struct dns_mx *mx,
    size_t n)
{
	struct many	*m = arg;

	for (size_t i = 0; i < n && i < 8; i++)
		snprintf(m->item[i], sizeof(m->item[i]), "%u %s", mx[i].pref,
		    mx[i].host);
	assert_true(n > 0 || mx == NULL);
	many_done(m, id, st, n);
}

static void
addr_cb(uint64_t id, void *arg, enum dns_status st,
    const struct sockaddr_storage *a, size_t n)
{
	struct many	*m = arg;

	for (size_t i = 0; i < n && i < 8; i++) {
		const struct sockaddr_in  *sin = (const void *)&a[i];
		const struct sockaddr_in6 *sin6 = (const void *)&a[i];

		if (a[i].ss_family == AF_INET) {
			assert_int_equal(sin->sin_port, 0);
			inet_ntop(AF_INET, &sin->sin_addr, m->item[i], 300);
		} else {
			assert_int_equal(a[i].ss_family, AF_INET6);
			inet_ntop(AF_INET6, &sin6->sin6_addr, m->item[i], 300);
		}
	}
	many_done(m, id, st, n);
}

static void
txt_cb(uint64_t id, void *arg, enum dns_status st, const char *const *txt,
    const size_t *len, size_t n)
{
	struct many	*m = arg;

	for (size_t i = 0; i < n && i < 8; i++) {
		assert_int_equal(txt[i][len[i]], '\0');
		snprintf(m->item[i], sizeof(m->item[i]), "%s", txt[i]);
		m->len[i] = len[i];
	}
	many_done(m, id, st, n);
}

static struct many *
do_mx(const char *domain)
{
	static struct many	 m;

	memset(&m, 0, sizeof(m));
	cur->pending++;
	dns_mx(cur->dns, domain, mx_cb, 5, &m);
	assert_int_equal(m.calls, 0);
	run();
	assert_int_equal(m.calls, 1);
	assert_int_equal(m.id, 5);
	return &m;
}

static struct many *
do_mx_names(const char *domain)
{
	static struct many	 m;

	memset(&m, 0, sizeof(m));
	cur->pending++;
	dns_mx_names(cur->dns, domain, mx_cb, 5, &m);
	assert_int_equal(m.calls, 0);
	run();
	assert_int_equal(m.calls, 1);
	return &m;
}

static struct many *
do_addr(const char *name, int family)
{
	static struct many	 m;

	memset(&m, 0, sizeof(m));
	cur->pending++;
	dns_addr(cur->dns, name, family, addr_cb, 6, &m);
	assert_int_equal(m.calls, 0);
	run();
	assert_int_equal(m.calls, 1);
	assert_int_equal(m.id, 6);
	return &m;
}

static struct many *
do_txt(const char *name)
{
	static struct many	 m;

	memset(&m, 0, sizeof(m));
	cur->pending++;
	dns_txt(cur->dns, name, txt_cb, 7, &m);
	assert_int_equal(m.calls, 0);
	run();
	assert_int_equal(m.calls, 1);
	assert_int_equal(m.id, 7);
	return &m;
}

/* ---- DNSSEC: the AD bit asked for and reported ---- */

struct sec_result {
	int		 calls;
	enum dns_status	 st;
	bool		 secure;
	size_t		 n, len;
	unsigned char	 msg[512];
};

static void
sec_done(struct sec_result *r, enum dns_status st, bool secure, size_t n)
{
	r->calls++;
	r->st = st;
	r->secure = secure;
	r->n = n;
	if (--cur->pending == 0)
		event_base_loopbreak(cur->base);
}

static void
mx_sec_cb(uint64_t id, void *arg, enum dns_status st, bool secure,
    const struct dns_mx *mx, size_t n)
{
	sec_done(arg, st, secure, n);
}

static void
addr_sec_cb(uint64_t id, void *arg, enum dns_status st, bool secure,
    const struct sockaddr_storage *a, size_t n)
{
	sec_done(arg, st, secure, n);
}

static void
raw_cb(uint64_t id, void *arg, enum dns_status st, bool secure,
    const unsigned char *msg, size_t len)
{
	struct sec_result	*r = arg;

	r->len = len;
	if (msg != NULL && len <= sizeof(r->msg))
		memcpy(r->msg, msg, len);
	sec_done(r, st, secure, msg != NULL);
}

/* sec - one lookup of kind 'm' (MX), 'a' (addresses) or 'r' (raw). */
static struct sec_result *
sec(int kind, const char *name, int type)
{
	static struct sec_result	 r;

	memset(&r, 0, sizeof(r));
	cur->pending++;
	if (kind == 'm')
		dns_mx_sec(cur->dns, name, mx_sec_cb, 1, &r);
	else if (kind == 'a')
		dns_addr_sec(cur->dns, name, AF_UNSPEC, addr_sec_cb, 1, &r);
	else
		dns_raw(cur->dns, name, type, raw_cb, 1, &r);
	assert_int_equal(r.calls, 0);
	run();
	assert_int_equal(r.calls, 1);
	return &r;
}

static void
test_dnssec_off(void **state)
{
	struct sec_result	*r = sec('m', "sec.test", 0);

	/* off: the AD bit is neither asked for nor believed */
	assert_int_equal(r->st, DNS_OK);
	assert_false(r->secure);
	assert_false(srv.last_ad);
	r = sec('r', "txt.sec.test", T_TXT);
	assert_int_equal(r->st, DNS_OK);
	assert_false(r->secure);
}

static void
test_dnssec_on(void **state)
{
	struct sec_result	*r;

	dns_set_dnssec(cur->dns, true);
	r = sec('m', "sec.test", 0);
	assert_int_equal(r->st, DNS_OK);
	assert_int_equal(r->n, 1);
	assert_true(r->secure);
	assert_true(srv.last_ad);
	r = sec('m', "example.test", 0);	/* no AD in the answer */
	assert_int_equal(r->st, DNS_OK);
	assert_false(r->secure);
	/* A with AD and AAAA NODATA with AD: secure; one without: not */
	r = sec('a', "mx.sec.test", 0);
	assert_int_equal(r->st, DNS_OK);
	assert_true(r->secure);
	r = sec('a', "half.sec.test", 0);
	assert_int_equal(r->st, DNS_OK);
	assert_int_equal(r->n, 2);
	assert_false(r->secure);
	r = sec('m', "nx.sec.test", 0);		/* an authenticated denial */
	assert_int_equal(r->st, DNS_NXDOMAIN);
	assert_true(r->secure);
}

static void
test_raw(void **state)
{
	struct sec_result	*r;

	dns_set_dnssec(cur->dns, true);
	r = sec('r', "txt.sec.test", T_TXT);
	assert_int_equal(r->st, DNS_OK);
	assert_true(r->secure);
	assert_true(r->len > 12);
	assert_int_equal(r->msg[7], 1);		/* ANCOUNT */
	assert_int_equal(r->msg[3] & 0x20, 0x20);
	/* a denial comes with its message too */
	r = sec('r', "nx.sec.test", T_TXT);
	assert_int_equal(r->st, DNS_NXDOMAIN);
	assert_true(r->secure);
	assert_int_equal(r->n, 1);
	r = sec('r', "mx.sec.test", T_TXT);
	assert_int_equal(r->st, DNS_NODATA);
	assert_int_equal(r->n, 1);
	/* SERVFAIL (a bogus answer, from a validating resolver) */
	r = sec('r', "flaky.test", T_A);
	assert_int_equal(r->st, DNS_TEMPFAIL);
	assert_false(r->secure);
	assert_int_equal(r->n, 0);
	r = sec('r', "txt.sec.test", 0);
	assert_int_equal(r->st, DNS_PERMFAIL);
	r = sec('r', "bad..name", T_TXT);
	assert_int_equal(r->st, DNS_PERMFAIL);
}

/* Sorted by preference, ties in answer order, numeric host dropped. */
static void
test_mx_sorted(void **state)
{
	struct many	*m = do_mx("Example.Test.");

	assert_int_equal(m->st, DNS_OK);
	assert_int_equal(m->n, 3);
	assert_string_equal(m->item[0], "10 mx1.example.test");
	assert_string_equal(m->item[1], "20 mx2.example.test");
	assert_string_equal(m->item[2], "20 mxb.example.test");
}

static void
test_mx_null(void **state)
{
	struct many	*m = do_mx("nullmx.test");

	assert_int_equal(m->st, DNS_OK);
	assert_int_equal(m->n, 1);
	assert_string_equal(m->item[0], "0 .");
}

static void
test_mx_failures(void **state)
{
	assert_int_equal(do_mx("nomx.test")->st, DNS_NXDOMAIN);
	assert_int_equal(do_mx("mail.test")->st, DNS_NODATA);
	assert_int_equal(do_mx("numericmx.test")->st, DNS_PERMFAIL);
	assert_int_equal(do_mx("flaky.test")->st, DNS_NODATA);
	assert_int_equal(do_mx("4.0.0.127.in-addr.arpa")->st, DNS_TEMPFAIL);
}

/*
 * dns_mx keeps host names one may deliver to; dns_mx_names (SPF) keeps
 * any name one may ask about, and such a name can then be asked.
 */
static void
test_mx_names(void **state)
{
	struct many	*m = do_mx("colon.test");

	assert_int_equal(m->st, DNS_OK);
	assert_int_equal(m->n, 1);
	assert_string_equal(m->item[0], "5 mx.colon.test");
	m = do_mx_names("colon.test");
	assert_int_equal(m->st, DNS_OK);
	assert_int_equal(m->n, 2);	/* "a\\.b" is no name to ask about */
	assert_string_equal(m->item[0], "0 foo:bar/baz.colon.test");
	assert_string_equal(m->item[1], "5 mx.colon.test");
	m = do_addr("foo:bar/baz.colon.test", AF_INET);
	assert_int_equal(m->st, DNS_OK);
	assert_string_equal(m->item[0], "192.0.2.5");
	assert_int_equal(do_mx_names("numericmx.test")->st, DNS_OK);
	assert_int_equal(do_mx_names("nomx.test")->st, DNS_NXDOMAIN);
}

static void
test_addr_families(void **state)
{
	struct many	*m = do_addr("dual.test", AF_UNSPEC);

	assert_int_equal(m->st, DNS_OK);
	assert_int_equal(m->n, 3);
	assert_string_equal(m->item[0], "127.0.0.1");	/* IPv4 first */
	assert_string_equal(m->item[1], "127.0.0.2");
	assert_string_equal(m->item[2], "::1");
	m = do_addr("dual.test", AF_INET);
	assert_int_equal(m->n, 2);
	m = do_addr("dual.test.", AF_INET6);
	assert_int_equal(m->st, DNS_OK);
	assert_int_equal(m->n, 1);
	assert_string_equal(m->item[0], "::1");
}

static void
test_addr_failures(void **state)
{
	struct many	*m;

	assert_int_equal(do_addr("mail.test", AF_INET6)->st, DNS_NODATA);
	assert_int_equal(do_addr("nowhere.test", AF_UNSPEC)->st,
	    DNS_NXDOMAIN);
	assert_int_equal(do_addr("flaky.test", AF_UNSPEC)->st, DNS_TEMPFAIL);
	assert_int_equal(do_addr("dual.test", AF_UNIX)->st, DNS_PERMFAIL);
	m = do_addr("halfbad.test", AF_UNSPEC);	/* A fails, AAAA answers */
	assert_int_equal(m->st, DNS_OK);
	assert_int_equal(m->n, 1);
	assert_string_equal(m->item[0], "::1");
}

static void
test_txt(void **state)
{
	struct many	*m = do_txt("txt.test");

	assert_int_equal(m->st, DNS_OK);
	assert_int_equal(m->n, 3);
	assert_string_equal(m->item[0], "v=spf1 -all");
	assert_int_equal(m->len[0], 11);
	assert_string_equal(m->item[1], "abcdef");	/* chunks joined */
	assert_int_equal(m->len[1], 6);
	assert_string_equal(m->item[2], "");
	assert_int_equal(m->len[2], 0);
	assert_int_equal(do_txt("nowhere.test")->st, DNS_NXDOMAIN);
	assert_int_equal(do_txt("mail.test")->st, DNS_NODATA);
}

/* Names that must never reach the wire fail at once, asynchronously. */
static void
test_bad_query_names(void **state)
{
	char	 longname[300], longlabel[80];

	memset(longlabel, 'a', 64);
	longlabel[64] = '\0';
	memset(longname, 0, sizeof(longname));
	for (int i = 0; i < 64; i++)
		memcpy(longname + i * 4, "abc.", 4);	/* 256 bytes */
	assert_int_equal(do_txt("")->st, DNS_PERMFAIL);
	assert_int_equal(do_txt(".")->st, DNS_PERMFAIL);
	assert_int_equal(do_txt("a..b")->st, DNS_PERMFAIL);
	assert_int_equal(do_txt("a\\.b.test")->st, DNS_PERMFAIL);
	assert_int_equal(do_txt("a\nb.test")->st, DNS_PERMFAIL);
	assert_int_equal(do_txt("a\tb.test")->st, DNS_PERMFAIL);
	assert_int_equal(do_txt("a\x7f.test")->st, DNS_PERMFAIL);
	assert_int_equal(do_txt("\xc3\xa4.test")->st, DNS_PERMFAIL);
	assert_int_equal(do_mx(longlabel)->st, DNS_PERMFAIL);
	assert_int_equal(do_addr(longname, AF_UNSPEC)->st, DNS_PERMFAIL);
	/* A local part in an SPF exists: name is fine to ask about. */
	assert_int_equal(do_txt("user+tag=x.txt.test")->st, DNS_NXDOMAIN);
	/* So are a space and '%' (SPF "%_", "%%": RFC 7208 7.3); the
	 * responder sees the name byte for byte. */
	assert_int_equal(do_txt("a b.test")->st, DNS_NXDOMAIN);
	assert_string_equal(do_txt("sp ace%20.test")->item[0], "found");
}

static void
any_cb(uint64_t id, void *arg, enum dns_status st, const char *name)
{
	record(arg, id, st, name);
}

static void
any_mx_cb(uint64_t id, void *arg, enum dns_status st,
    const struct dns_mx *mx, size_t n)
{
	record(arg, id, st, NULL);
}

static void
any_addr_cb(uint64_t id, void *arg, enum dns_status st,
    const struct sockaddr_storage *a, size_t n)
{
	record(arg, id, st, NULL);
}

static void
any_txt_cb(uint64_t id, void *arg, enum dns_status st,
    const char *const *txt, const size_t *len, size_t n)
{
	record(arg, id, st, NULL);
}

/* dns_free with every kind of lookup open: each ends once, TEMPFAIL. */
static void
test_free_every_kind(void **state)
{
	struct env		*e = *state;
	struct result		 r[4];
	struct timeval		 tv = { 0, 100000 };
	struct sockaddr_in	 sin = { .sin_family = AF_INET };

	memset(r, 0, sizeof(r));
	sin.sin_addr.s_addr = htonl(0x7f000005);
	dns_client_name(e->dns, (struct sockaddr *)&sin, any_cb, 0, &r[0]);
	dns_mx(e->dns, "drop.test", any_mx_cb, 1, &r[1]);
	dns_addr(e->dns, "drop.test", AF_UNSPEC, any_addr_cb, 2, &r[2]);
	dns_txt(e->dns, "drop.test", any_txt_cb, 3, &r[3]);
	event_base_once(e->base, -1, EV_TIMEOUT, break_cb, e->base, &tv);
	event_base_dispatch(e->base);
	dns_free(e->dns);
	e->dns = NULL;
	for (int i = 0; i < 4; i++) {
		assert_int_equal(r[i].calls, 1);
		assert_int_equal(r[i].id, (uint64_t)i);
		assert_int_equal(r[i].st, DNS_TEMPFAIL);
	}
}

/* The first server refuses (closed port): the second one answers. */
static void
test_second_server(void **state)
{
	struct event_base	*base = event_base_new();
	char			 dead[64], live[64], err[128];
	const char		*servers[2] = { dead, live };
	struct env		 e = { .base = base };
	struct result		 r = { 0 };
	int			 fd, port;

	assert_int_not_equal(fd = bind_udp(AF_INET, &port), -1);
	close(fd);
	snprintf(dead, sizeof(dead), "127.0.0.1:%d", port);
	snprintf(live, sizeof(live), "127.0.0.1:%d", srv.port4);
	e.dns = dns_new(base, servers, 2, 300, 1, err, sizeof(err));
	assert_non_null(e.dns);
	cur = &e;
	start("127.0.0.1", &r, 9);
	run();
	assert_int_equal(r.st, DNS_OK);
	assert_string_equal(r.name, "mail.test");
	dns_free(e.dns);
	event_base_free(base);
	cur = NULL;
}

static void
test_servers_parse(void **state)
{
	static const char *const good[] = { "127.0.0.1", "127.0.0.1:5353",
	    "::1", "[::1]", "[::1]:5353", "[2001:db8::1]:53" };
	static const char *const bad[] = { "", "localhost", "127.0.0.1:",
	    "127.0.0.1:0", "127.0.0.1:65536", "[::1", "[::1]x", "[::1]:",
	    "1.2.3.4:53x", "::1:53:x", "[127.0.0.1]:53", "1.2.3:53" };
	struct event_base	*base = event_base_new();
	struct dns_ctx		*d;
	char			 err[128];

	d = dns_new(base, good, 6, 100, 1, err, sizeof(err));
	assert_non_null(d);
	dns_free(d);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *one[1] = { bad[i] };

		err[0] = '\0';
		d = dns_new(base, one, 1, 100, 1, err, sizeof(err));
		if (d != NULL)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_true(strlen(err) > 0);
		assert_non_null(strstr(err, bad[i]));	/* names the culprit */
	}
	event_base_free(base);
}

static void
test_status_str(void **state)
{
	assert_string_equal(dns_status_str(DNS_OK), "ok");
	assert_string_equal(dns_status_str(DNS_NXDOMAIN), "nxdomain");
	assert_string_equal(dns_status_str(DNS_NODATA), "nodata");
	assert_string_equal(dns_status_str(DNS_TEMPFAIL), "tempfail");
	assert_string_equal(dns_status_str(DNS_PERMFAIL), "permfail");
	assert_string_equal(dns_status_str((enum dns_status)99), "unknown");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_verified, setup4,
		    teardown),
		cmocka_unit_test_setup_teardown(test_first_ptr, setup4,
		    teardown),
		cmocka_unit_test_setup_teardown(test_forward_mismatch, setup4,
		    teardown),
		cmocka_unit_test_setup_teardown(test_nxdomain, setup4,
		    teardown),
		cmocka_unit_test_setup_teardown(test_servfail, setup4,
		    teardown),
		cmocka_unit_test_setup_teardown(test_refused, setup4,
		    teardown),
		cmocka_unit_test_setup_teardown(test_forward_nxdomain, setup4,
		    teardown),
		cmocka_unit_test_setup_teardown(test_forward_servfail, setup4,
		    teardown),
		cmocka_unit_test_setup_teardown(test_forward_nodata, setup4,
		    teardown),
		cmocka_unit_test_setup_teardown(test_ptr_nodata, setup4,
		    teardown),
		cmocka_unit_test_setup_teardown(test_numeric_ptr_refused,
		    setup4, teardown),
		cmocka_unit_test_setup_teardown(test_timeout, setup_short,
		    teardown),
		cmocka_unit_test_setup_teardown(test_ipv6, setup4, teardown),
		cmocka_unit_test_setup_teardown(test_ipv6, setup6, teardown),
		cmocka_unit_test_setup_teardown(test_v4_mapped, setup4,
		    teardown),
		cmocka_unit_test_setup_teardown(test_bad_family, setup4,
		    teardown),
		cmocka_unit_test_setup_teardown(test_concurrent, setup4,
		    teardown),
		cmocka_unit_test_setup_teardown(test_free_outstanding, setup4,
		    teardown),
		cmocka_unit_test_setup_teardown(test_mx_sorted, setup4,
		    teardown),
		cmocka_unit_test_setup_teardown(test_mx_null, setup4, teardown),
		cmocka_unit_test_setup_teardown(test_mx_names, setup4,
		    teardown),
		cmocka_unit_test_setup_teardown(test_mx_failures, setup4,
		    teardown),
		cmocka_unit_test_setup_teardown(test_addr_families, setup4,
		    teardown),
		cmocka_unit_test_setup_teardown(test_addr_failures, setup4,
		    teardown),
		cmocka_unit_test_setup_teardown(test_txt, setup4, teardown),
		cmocka_unit_test_setup_teardown(test_dnssec_off, setup4,
		    teardown),
		cmocka_unit_test_setup_teardown(test_dnssec_on, setup4,
		    teardown),
		cmocka_unit_test_setup_teardown(test_raw, setup4, teardown),
		cmocka_unit_test_setup_teardown(test_bad_query_names, setup4,
		    teardown),
		cmocka_unit_test_setup_teardown(test_free_every_kind, setup4,
		    teardown),
		cmocka_unit_test(test_second_server),
		cmocka_unit_test(test_servers_parse),
		cmocka_unit_test(test_status_str),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
