/*
 * dns.c - asynchronous DNS lookups (client name, MX, addresses, TXT): one
 * c-ares channel driven by a libevent loop.  Owns the channel, one event
 * per c-ares socket, the retry timer and the state of every lookup in
 * flight.  Runs in any process with a loop (smtpd for client names and
 * SPF/DKIM/DMARC, deliver for MX and addresses, the CLI checks).
 *
 * Trust: answers come from the network and are untrusted.  c-ares parses
 * the wire format; a name taken from an answer is checked again here
 * (length, label syntax, not an address literal) before a caller sees it,
 * and addresses are compared as bytes.  When servers are configured,
 * /etc/resolv.conf is neither read nor used: every query goes to them.
 *
 * Lifetime: callers get (id, arg) back, never a pointer of ours.  A result
 * is never delivered before the call that asked for it returns; dns_free()
 * delivers DNS_TEMPFAIL for whatever is still open.
 *
 * DNSSEC (dns_set_dnssec): postbote validates nothing itself.  It sets
 * the AD bit in its queries, which asks a validating resolver to say
 * whether it validated the answer (RFC 6840 5.7), and reads the AD bit of
 * each answer's header: a result is "secure" only when every answer it
 * was made from carried it.  This is only as good as the resolver and
 * the path to it, so the admin must name a validating resolver on a path
 * they trust (dnssec_resolver = yes); without that no result is secure.
 */
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ares.h>
#include <event2/event.h>

#include "lib/buf.h"
#include "lib/dns.h"
#include "lib/log.h"
#include "lib/util.h"

#define DNS_NAME_MAX		253	/* RFC 1035 2.3.4, no root dot */
#define DNS_LABEL_MAX		63
#define DNS_REVNAME_MAX		80	/* 32 nibbles * 2 + "ip6.arpa" + NUL */
#define DNS_DEFAULT_TIMEOUT	5000
#define DNS_DEFAULT_TRIES	2
#define DNS_DEFAULT_PORT	53

/* One libevent event per socket c-ares has open. */
struct sock_ev {
	ares_socket_t	 fd;
	struct event	*ev;
	struct sock_ev	*next;
};

enum req_kind { REQ_NAME, REQ_MX, REQ_ADDR, REQ_TXT, REQ_RAW };

#define DNS_HDR_LEN		12	/* RFC 1035 4.1.1 */
#define DNS_AD_BYTE		3	/* the AD bit: RFC 4035 3.2.3 */
#define DNS_AD_BIT		0x20
#define DNS_RCODE_MASK		0x0f
#define DNS_RAW_MAX		65535	/* one DNS message */

/* dns_client_name(): PTR, then A or AAAA of the first name. */
struct name_res {
	int		 family;		/* AF_INET or AF_INET6 */
	unsigned char	 addr[16];		/* 4 or 16 bytes used */
	char		 name[DNS_NAME_MAX + 1]; /* PTR name once known */
	bool		 verified;		/* forward lookup has addr */
};

struct mx_res {
	struct dns_mx	*v;			/* hosts owned */
	size_t		 n;
	bool		 any_name;		/* dns_mx_names: is_qname */
};

struct addr_res {
	int			 family;	/* as asked */
	enum dns_status		 st[2];		/* A, AAAA */
	struct sockaddr_storage	*v[2];		/* A, AAAA answers */
	size_t			 n[2];
};

struct txt_res {
	char		**v;
	size_t		 *len;
	size_t		  n;
};

struct raw_res {
	unsigned char	*msg;			/* the answer, owned */
	size_t		 len;
};

/* A query sent with ares_send (the AD bit set): the callback it stands
 * in for, since ares_send leaves the RCODE to its caller. */
struct send_wrap {
	ares_callback	 cb;
	void		*arg;
};

/* One lookup; it may take several c-ares queries. */
struct dns_req {
	struct dns_ctx	*ctx;
	enum req_kind	 kind;
	uint64_t	 id;
	void		*arg;
	union {
		dns_name_cb	 name;
		dns_mx_cb	 mx;
		dns_mx_sec_cb	 mx_sec;
		dns_addr_cb	 addr;
		dns_addr_sec_cb	 addr_sec;
		dns_txt_cb	 txt;
		dns_raw_cb	 raw;
	} cb;
	bool		 sec_cb;		/* cb.mx_sec, cb.addr_sec */
	enum dns_status	 status;		/* result, once done */
	int		 open;			/* c-ares queries unanswered */
	bool		 submitting;		/* inside the dns_* call */
	bool		 done;
	unsigned	 answers;	/* answers with data or denial */
	bool		 insecure;		/* one of them without AD */
	struct dns_req	*next;			/* on ctx->deferred */
	union {
		struct name_res	 name;
		struct mx_res	 mx;
		struct addr_res	 addr;
		struct txt_res	 txt;
		struct raw_res	 raw;
	} u;
};

struct dns_ctx {
	struct event_base	*base;
	ares_channel		 channel;
	struct event		*timer;		/* ares_timeout() */
	struct event		*defer;		/* delivers ctx->deferred */
	struct sock_ev		*socks;
	struct dns_req		*deferred, **deferred_tail;
	int			 depth;		/* inside our callbacks */
	bool			 dying;		/* dns_free() has begun */
	bool			 dnssec;	/* AD bit asked for, trusted */
};

static int	 server_csv(struct buf *, const char *const *, size_t,
		    char *, size_t);
static int	 server_one(struct buf *, const char *, char *, size_t);
static int	 channel_init(struct dns_ctx *, size_t, int, int);
static void	 sock_state_cb(void *, ares_socket_t, int, int);
static void	 sock_cb(evutil_socket_t, short, void *);
static void	 timer_cb(evutil_socket_t, short, void *);
static void	 timer_arm(struct dns_ctx *);
static void	 defer_cb(evutil_socket_t, short, void *);
static enum dns_status map_status(int);
static bool	 is_hostname(const char *);
static bool	 is_qname(const char *);
static int	 reverse_name(char *, size_t, int, const unsigned char *);
static int	 client_addr(struct name_res *, const struct sockaddr *);
static void	 ptr_cb(void *, int, int, unsigned char *, int);
static void	 fwd_cb(void *, int, int, unsigned char *, int);
static void	 mx_start(struct dns_req *, const char *, bool);
static void	 addr_start(struct dns_req *, const char *, int);
static void	 mx_cb(void *, int, int, unsigned char *, int);
static void	 mx_collect(struct mx_res *, const struct ares_mx_reply *);
static void	 addr4_cb(void *, int, int, unsigned char *, int);
static void	 addr6_cb(void *, int, int, unsigned char *, int);
static void	 addr_answer(struct dns_req *, int, int, unsigned char *, int);
static enum dns_status addr_status(const struct addr_res *);
static void	 txt_cb(void *, int, int, unsigned char *, int);
static void	 txt_collect(struct txt_res *, const struct ares_txt_ext *);
static void	 raw_cb(void *, int, int, unsigned char *, int);
static void	 query(struct dns_req *, const char *, int, ares_callback);
static void	 send_cb(void *, int, int, unsigned char *, int);
static void	 note_ad(struct dns_req *, int, const unsigned char *, int);
static bool	 req_secure(const struct dns_req *);
static struct dns_req *req_new(struct dns_ctx *, enum req_kind, uint64_t,
		    void *);
static bool	 req_begin(struct dns_req *, const char *, char *);
static void	 req_submitted(struct dns_req *);
static void	 req_finish(struct dns_req *, enum dns_status);
static void	 req_defer(struct dns_req *);
static void	 req_deliver(struct dns_req *);
static void	 deliver_name(struct dns_req *);
static void	 deliver_mx(struct dns_req *);
static void	 deliver_addr(struct dns_req *);
static void	 deliver_txt(struct dns_req *);
static void	 deliver_raw(struct dns_req *);

/* How each kind of lookup hands its result over and frees it. */
static void (*const deliverers[])(struct dns_req *) = {
	[REQ_NAME] = deliver_name,
	[REQ_MX] = deliver_mx,
	[REQ_ADDR] = deliver_addr,
	[REQ_TXT] = deliver_txt,
	[REQ_RAW] = deliver_raw,
};

static const char *const status_names[] = {
	[DNS_OK] = "ok",
	[DNS_NXDOMAIN] = "nxdomain",
	[DNS_NODATA] = "nodata",
	[DNS_TEMPFAIL] = "tempfail",
	[DNS_PERMFAIL] = "permfail",
};

/*
 * dns_new - create a resolver on base.  servers (n of them) are "ip",
 * "ip:port" or "[v6]:port"; n == 0 means the system's /etc/resolv.conf.
 * timeout_ms and tries <= 0 pick the defaults (5000 ms, 2 tries).
 * Returns a context the caller frees with dns_free(), or NULL with the
 * reason in err.
 */
struct dns_ctx *
dns_new(struct event_base *base, const char *const *servers, size_t n,
    int timeout_ms, int tries, char *err, size_t errlen)
{
	struct dns_ctx	*ctx;
	struct buf	 csv;
	int		 r;

	buf_init(&csv, 0);
	if (server_csv(&csv, servers, n, err, errlen) == -1) {
		buf_free(&csv);
		return NULL;
	}
	if ((r = ares_library_init(ARES_LIB_INIT_ALL)) != ARES_SUCCESS) {
		snprintf(err, errlen, "c-ares init: %s", ares_strerror(r));
		buf_free(&csv);
		return NULL;
	}
	ctx = xcalloc(1, sizeof(*ctx));
	ctx->base = base;
	ctx->deferred_tail = &ctx->deferred;
	r = channel_init(ctx, n, timeout_ms, tries);
	if (r == ARES_SUCCESS && n > 0) {
		/* Before any query: the channel starts with no server. */
		if ((r = ares_set_servers_ports_csv(ctx->channel,
		    buf_cstr(&csv))) != ARES_SUCCESS)
			ares_destroy(ctx->channel);
	}
	buf_free(&csv);
	if (r != ARES_SUCCESS) {
		snprintf(err, errlen, "c-ares channel: %s", ares_strerror(r));
		free(ctx);
		ares_library_cleanup();
		return NULL;
	}
	ctx->timer = evtimer_new(base, timer_cb, ctx);
	ctx->defer = event_new(base, -1, 0, defer_cb, ctx);
	if (ctx->timer == NULL || ctx->defer == NULL) {
		snprintf(err, errlen, "libevent: cannot create events");
		dns_free(ctx);
		return NULL;
	}
	return ctx;
}

/*
 * channel_init - when servers are configured, every setting that c-ares
 * would otherwise take from /etc/resolv.conf (servers, search domains,
 * lookups, sortlist, ndots) is given here, so the file is never read and
 * its servers are never queried; the servers are set right after.
 */
static int
channel_init(struct dns_ctx *ctx, size_t n, int timeout_ms, int tries)
{
	struct ares_options	 o;
	int			 mask;

	memset(&o, 0, sizeof(o));
	o.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES;
	o.timeout = timeout_ms > 0 ? timeout_ms : DNS_DEFAULT_TIMEOUT;
	o.tries = tries > 0 ? tries : DNS_DEFAULT_TRIES;
	o.sock_state_cb = sock_state_cb;
	o.sock_state_cb_data = ctx;
	o.lookups = (char *)"b";	/* DNS only, never /etc/hosts */
	o.ndomains = 0;
	mask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES |
	    ARES_OPT_SOCK_STATE_CB | ARES_OPT_LOOKUPS | ARES_OPT_DOMAINS;
	if (n > 0) {
		o.nservers = 0;
		o.nsort = 0;
		o.ndots = 1;
		mask |= ARES_OPT_SERVERS | ARES_OPT_SORTLIST | ARES_OPT_NDOTS |
		    ARES_OPT_NOROTATE;
	}
	return ares_init_options(&ctx->channel, &o, mask);
}

/* dns_replace - see dns.h. */
void
dns_replace(struct dns_ctx **ctx, struct event_base *base,
    const char *const *servers, size_t n)
{
	struct dns_ctx	*old = *ctx;
	char		 err[256];

	*ctx = NULL;
	dns_free(old);
	*ctx = dns_new(base, servers, n, 5000, 2, err, sizeof(err));
	if (*ctx == NULL)
		log_warn("event=dns-init result=failed reason=\"%s\"",
		    log_safe(err));
}

/*
 * dns_free - destroy the channel.  Lookups still open end with
 * DNS_TEMPFAIL through their callbacks before this returns.  Must not be
 * called from inside a dns callback.  NULL is ignored.
 */
void
dns_free(struct dns_ctx *ctx)
{
	struct dns_req	*r;
	struct sock_ev	*s;

	if (ctx == NULL)
		return;
	ASSERT(ctx->depth == 0);
	ctx->dying = true;
	ctx->depth++;
	ares_destroy(ctx->channel);	/* ARES_EDESTRUCTION to each query */
	while ((r = ctx->deferred) != NULL) {
		if ((ctx->deferred = r->next) == NULL)
			ctx->deferred_tail = &ctx->deferred;
		req_deliver(r);
	}
	ctx->depth--;
	while ((s = ctx->socks) != NULL) {	/* c-ares closed them all */
		ctx->socks = s->next;
		event_free(s->ev);
		free(s);
	}
	if (ctx->timer != NULL)
		event_free(ctx->timer);
	if (ctx->defer != NULL)
		event_free(ctx->defer);
	free(ctx);
	ares_library_cleanup();
}

/* dns_status_str - a short lower-case word for logs; never NULL. */
const char *
dns_status_str(enum dns_status st)
{
	if ((size_t)st >= NELEM(status_names) || status_names[st] == NULL)
		return "unknown";
	return status_names[st];
}

/* server_csv - our server strings as ares_set_servers_ports_csv() input. */
static int
server_csv(struct buf *out, const char *const *servers, size_t n, char *err,
    size_t errlen)
{
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && buf_putc(out, ',') == -1)
			goto nomem;
		if (server_one(out, servers[i], err, errlen) == -1)
			return -1;
	}
	return 0;
nomem:
	snprintf(err, errlen, "out of memory");
	return -1;
}

/* server_one - "ip", "ip:port", "v6", "[v6]" or "[v6]:port", checked. */
static int
server_one(struct buf *out, const char *arg, char *err, size_t errlen)
{
	const char	*s = arg;
	char		 host[INET6_ADDRSTRLEN];
	unsigned char	 bin[16];
	const char	*port = NULL, *end;
	long		 p = DNS_DEFAULT_PORT;
	char		*ep;
	bool		 v6;

	if (s[0] == '[') {
		if ((end = strchr(s, ']')) == NULL ||
		    (end[1] != '\0' && end[1] != ':'))
			goto bad;
		port = end[1] == ':' ? end + 2 : NULL;
		s++;
		v6 = true;
	} else if ((end = strchr(s, ':')) != NULL && strchr(end + 1, ':')) {
		end = s + strlen(s);		/* bare IPv6, no port */
		v6 = true;
	} else {
		if (end != NULL)
			port = end + 1;
		else
			end = s + strlen(s);
		v6 = false;
	}
	if ((size_t)(end - s) >= sizeof(host))
		goto bad;
	memcpy(host, s, (size_t)(end - s));
	host[end - s] = '\0';
	if (inet_pton(v6 ? AF_INET6 : AF_INET, host, bin) != 1)
		goto bad;
	if (port != NULL) {
		p = strtol(port, &ep, 10);
		if (*port < '0' || *port > '9' || *ep != '\0' || p < 1 ||
		    p > 65535)
			goto bad;
	}
	if (buf_printf(out, v6 ? "[%s]:%ld" : "%s:%ld", host, p) == -1) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
bad:
	snprintf(err, errlen, "bad resolver address \"%s\"", arg);
	return -1;
}

/*
 * sock_state_cb - c-ares opened, changed or closed a socket: keep exactly
 * one persistent event for it with the wanted directions.
 */
static void
sock_state_cb(void *data, ares_socket_t fd, int readable, int writable)
{
	struct dns_ctx	 *ctx = data;
	struct sock_ev	**sp, *s;
	short		  what = EV_PERSIST;

	for (sp = &ctx->socks; (s = *sp) != NULL; sp = &s->next)
		if (s->fd == fd)
			break;
	if (s != NULL) {		/* may be the event now running */
		event_free(s->ev);
		s->ev = NULL;
	}
	if (!readable && !writable) {
		if (s != NULL) {
			*sp = s->next;
			free(s);
		}
		return;
	}
	if (s == NULL) {
		s = xcalloc(1, sizeof(*s));
		s->fd = fd;
		s->next = ctx->socks;
		ctx->socks = s;
	}
	what |= (readable ? EV_READ : 0) | (writable ? EV_WRITE : 0);
	if ((s->ev = event_new(ctx->base, fd, what, sock_cb, ctx)) == NULL ||
	    event_add(s->ev, NULL) == -1)
		fatalx("dns: cannot watch c-ares socket %d", (int)fd);
}

/* sock_cb - a c-ares socket is ready; the event may be gone on return. */
static void
sock_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dns_ctx	*ctx = arg;

	ctx->depth++;
	ares_process_fd(ctx->channel,
	    (what & EV_READ) ? (ares_socket_t)fd : ARES_SOCKET_BAD,
	    (what & EV_WRITE) ? (ares_socket_t)fd : ARES_SOCKET_BAD);
	ctx->depth--;
	timer_arm(ctx);
}

/* timer_cb - let c-ares retry or time out what is due. */
static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dns_ctx	*ctx = arg;

	ctx->depth++;
	ares_process_fd(ctx->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	ctx->depth--;
	timer_arm(ctx);
}

/* timer_arm - after any c-ares call: wake up when c-ares next needs to. */
static void
timer_arm(struct dns_ctx *ctx)
{
	struct timeval	 tv, *tvp;

	if (ctx->dying)
		return;
	if ((tvp = ares_timeout(ctx->channel, NULL, &tv)) == NULL)
		evtimer_del(ctx->timer);
	else
		evtimer_add(ctx->timer, tvp);
}

/* defer_cb - deliver results that were ready before their call returned. */
static void
defer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dns_ctx	*ctx = arg;
	struct dns_req	*r;

	ctx->depth++;
	while ((r = ctx->deferred) != NULL) {
		if ((ctx->deferred = r->next) == NULL)
			ctx->deferred_tail = &ctx->deferred;
		req_deliver(r);
	}
	ctx->depth--;
}

/*
 * map_status - c-ares status to ours.  Only a definite answer is
 * permanent; anything that may succeed on retry is DNS_TEMPFAIL.
 */
static enum dns_status
map_status(int st)
{
	switch (st) {
	case ARES_SUCCESS:
		return DNS_OK;
	case ARES_ENOTFOUND:
	case ARES_ENONAME:
		return DNS_NXDOMAIN;
	case ARES_ENODATA:
		return DNS_NODATA;
	case ARES_EBADNAME:
	case ARES_EBADRESP:
	case ARES_EBADQUERY:
	case ARES_EBADFAMILY:
	case ARES_EBADSTR:
		return DNS_PERMFAIL;
	default:	/* SERVFAIL, REFUSED, timeout, network, destruction */
		return DNS_TEMPFAIL;
	}
}

/*
 * is_hostname - letters, digits, '-' and '_' in dot-separated labels of
 * 1..63 bytes, no '-' at either end of a label, at most 253 bytes, and a
 * last label that is not all digits: a PTR answer of "192.0.2.1" must not
 * pass for a name (it would fool checks that match names against IPs).
 */
static bool
is_hostname(const char *s)
{
	size_t	 len = 0, label = 0;
	bool	 digits = true;

	for (const char *p = s;; p++) {
		if (*p == '.' || *p == '\0') {
			if (label == 0 || label > DNS_LABEL_MAX ||
			    p[-1] == '-')
				return false;
			if (*p == '\0')
				return len <= DNS_NAME_MAX && !digits;
			label = 0;
			digits = true;
		} else if ((*p >= 'a' && *p <= 'z') ||
		    (*p >= 'A' && *p <= 'Z') || *p == '_' ||
		    (*p == '-' && label > 0)) {
			label++;
			digits = false;
		} else if (*p >= '0' && *p <= '9') {
			label++;
		} else
			return false;
		len++;
	}
}

/* reverse_name - "d.c.b.a.in-addr.arpa" or the 32-nibble ip6.arpa name. */
static int
reverse_name(char *out, size_t size, int family, const unsigned char *a)
{
	static const char	 hex[] = "0123456789abcdef";
	char			*p = out;

	if (family == AF_INET)
		return snprintf(out, size, "%u.%u.%u.%u.in-addr.arpa", a[3],
		    a[2], a[1], a[0]) < (int)size ? 0 : -1;
	if (size < DNS_REVNAME_MAX)
		return -1;
	for (int i = 15; i >= 0; i--) {		/* RFC 3596 section 2.5 */
		*p++ = hex[a[i] & 0xf];
		*p++ = '.';
		*p++ = hex[a[i] >> 4];
		*p++ = '.';
	}
	str_copy(p, "ip6.arpa", size - (size_t)(p - out));
	return 0;
}


/*
 * is_qname - a name we may ask about.  Looser than is_hostname(): SPF
 * macros put local parts, '%' and spaces into names and a domain-spec
 * may hold any visible character but '%' (RFC 7208 7.1, 7.3), so any
 * printable ASCII byte, space included, but '\\' (an escape to c-ares)
 * may appear in 1..63-byte labels.  Control bytes never reach the wire.
 */
static bool
is_qname(const char *s)
{
	size_t	 len = 0, label = 0;

	for (const char *p = s;; p++, len++) {
		if (*p == '.' || *p == '\0') {
			if (label == 0 || label > DNS_LABEL_MAX)
				return false;
			if (*p == '\0')
				return len <= DNS_NAME_MAX;
			label = 0;
		} else if (*p >= ' ' && *p < 0x7f && *p != '\\')
			label++;
		else
			return false;
	}
}

/* client_addr - the address to look up; IPv4-mapped IPv6 counts as IPv4. */
static int
client_addr(struct name_res *nr, const struct sockaddr *sa)
{
	const struct sockaddr_in	*sin;
	const struct sockaddr_in6	*sin6;

	if (sa == NULL)
		return -1;
	if (sa->sa_family == AF_INET) {
		sin = (const struct sockaddr_in *)(const void *)sa;
		nr->family = AF_INET;
		memcpy(nr->addr, &sin->sin_addr, 4);
		return 0;
	}
	if (sa->sa_family != AF_INET6)
		return -1;
	sin6 = (const struct sockaddr_in6 *)(const void *)sa;
	if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
		nr->family = AF_INET;
		memcpy(nr->addr, sin6->sin6_addr.s6_addr + 12, 4);
	} else {
		nr->family = AF_INET6;
		memcpy(nr->addr, sin6->sin6_addr.s6_addr, 16);
	}
	return 0;
}

/*
 * dns_client_name - start the forward-confirmed reverse lookup of sa
 * (AF_INET or AF_INET6; the sockaddr is copied).  cb(id, arg, status,
 * name) runs once, from the loop; name is valid only during the call.
 */
void
dns_client_name(struct dns_ctx *ctx, const struct sockaddr *sa,
    dns_name_cb cb, uint64_t id, void *arg)
{
	struct dns_req	*r = req_new(ctx, REQ_NAME, id, arg);
	struct name_res	*nr = &r->u.name;
	char		 rev[DNS_REVNAME_MAX];

	r->cb.name = cb;
	if (client_addr(nr, sa) == -1 ||
	    reverse_name(rev, sizeof(rev), nr->family, nr->addr) == -1)
		req_finish(r, DNS_PERMFAIL);
	else if (req_begin(r, rev, rev)) {
		r->open = 1;
		query(r, rev, ns_t_ptr, ptr_cb);
	}
	req_submitted(r);
}

/* ptr_cb - the PTR answer: take the first name, ask for its addresses. */
static void
ptr_cb(void *arg, int st, int timeouts, unsigned char *abuf, int alen)
{
	struct dns_req	*r = arg;
	struct name_res	*nr = &r->u.name;
	struct hostent	*h = NULL;
	const char	*first;
	size_t		 len;

	r->open--;
	if (st == ARES_SUCCESS)
		st = ares_parse_ptr_reply(abuf, alen, nr->addr,
		    nr->family == AF_INET ? 4 : 16, nr->family, &h);
	if (st != ARES_SUCCESS) {
		req_finish(r, map_status(st));
		return;
	}
	/* c-ares 1.18 leaves the last PTR in h_name; aliases keep order. */
	if (h->h_aliases != NULL && h->h_aliases[0] != NULL)
		first = h->h_aliases[0];
	else
		first = h->h_name != NULL ? h->h_name : "";
	len = str_copy(nr->name, first, sizeof(nr->name));
	ares_free_hostent(h);
	if (len > 0 && len < sizeof(nr->name) && nr->name[len - 1] == '.')
		nr->name[--len] = '\0';
	if (len >= sizeof(nr->name) || !is_hostname(nr->name)) {
		req_finish(r, DNS_PERMFAIL);
		return;
	}
	str_lower(nr->name);
	if (req_begin(r, nr->name, nr->name)) {
		r->open = 1;
		query(r, nr->name, nr->family == AF_INET ? ns_t_a : ns_t_aaaa,
		    fwd_cb);
	}
	req_submitted(r);
}

/* fwd_cb - the A/AAAA answer: confirmed if it holds the client address. */
static void
fwd_cb(void *arg, int st, int timeouts, unsigned char *abuf, int alen)
{
	struct dns_req	*r = arg;
	struct name_res	*nr = &r->u.name;
	struct hostent	*h = NULL;
	size_t		 want = nr->family == AF_INET ? 4 : 16;

	r->open--;
	if (st == ARES_SUCCESS) {
		if (nr->family == AF_INET)
			st = ares_parse_a_reply(abuf, alen, &h, NULL, NULL);
		else
			st = ares_parse_aaaa_reply(abuf, alen, &h, NULL, NULL);
	}
	if (st != ARES_SUCCESS) {
		req_finish(r, map_status(st));
		return;
	}
	if ((size_t)h->h_length == want)
		for (char **ap = h->h_addr_list; *ap != NULL; ap++)
			if (memcmp(*ap, nr->addr, want) == 0)
				nr->verified = true;
	ares_free_hostent(h);
	req_finish(r, DNS_OK);
}

/*
 * dns_mx - start the MX lookup of domain.  cb(id, arg, status, mx, n)
 * runs once, from the loop; mx and its hosts are valid during the call.
 */
void
dns_mx(struct dns_ctx *ctx, const char *domain, dns_mx_cb cb, uint64_t id,
    void *arg)
{
	struct dns_req	*r = req_new(ctx, REQ_MX, id, arg);

	r->cb.mx = cb;
	mx_start(r, domain, false);
}

/*
 * dns_mx_sec - dns_mx, with the answer's DNSSEC status (secure: see
 * dns_set_dnssec).
 */
void
dns_mx_sec(struct dns_ctx *ctx, const char *domain, dns_mx_sec_cb cb,
    uint64_t id, void *arg)
{
	struct dns_req	*r = req_new(ctx, REQ_MX, id, arg);

	r->cb.mx_sec = cb;
	r->sec_cb = true;
	mx_start(r, domain, false);
}

/*
 * dns_mx_names - dns_mx, keeping every host that is a name one may query
 * (is_qname): SPF's mx looks up whatever the MX records name (RFC 7208
 * 5.4), "foo:bar/baz.example.com" too.
 */
void
dns_mx_names(struct dns_ctx *ctx, const char *domain, dns_mx_cb cb,
    uint64_t id, void *arg)
{
	struct dns_req	*r = req_new(ctx, REQ_MX, id, arg);

	r->cb.mx = cb;
	mx_start(r, domain, true);
}

/* mx_start - the MX query of dns_mx, dns_mx_sec and dns_mx_names. */
static void
mx_start(struct dns_req *r, const char *domain, bool any_name)
{
	char		 q[DNS_NAME_MAX + 2];

	r->u.mx.any_name = any_name;
	if (req_begin(r, domain, q)) {
		r->open = 1;
		query(r, q, ns_t_mx, mx_cb);
	}
	req_submitted(r);
}

static void
mx_cb(void *arg, int st, int timeouts, unsigned char *abuf, int alen)
{
	struct dns_req		*r = arg;
	struct ares_mx_reply	*head = NULL;

	r->open--;
	note_ad(r, st, abuf, alen);
	if (st == ARES_SUCCESS)
		st = ares_parse_mx_reply(abuf, alen, &head);
	if (st != ARES_SUCCESS) {
		req_finish(r, map_status(st));
		return;
	}
	mx_collect(&r->u.mx, head);
	ares_free_data(head);
	req_finish(r, r->u.mx.n > 0 ? DNS_OK : DNS_PERMFAIL);
}

/*
 * mx_collect - keep the valid hosts, sorted by preference with an
 * insertion sort: stable, so equal preferences stay in answer order.
 */
static void
mx_collect(struct mx_res *m, const struct ares_mx_reply *head)
{
	const struct ares_mx_reply	*p;
	char				 host[DNS_NAME_MAX + 2];
	size_t				 n = 0, len, i;

	for (p = head; p != NULL; p = p->next)
		n++;
	m->v = xreallocarray(NULL, n, sizeof(*m->v));
	for (p = head; p != NULL; p = p->next) {
		len = str_copy(host, p->host != NULL ? p->host : "",
		    sizeof(host));
		if (len > 0 && len < sizeof(host) && host[len - 1] == '.')
			host[--len] = '\0';
		if (len == 0)
			str_copy(host, ".", sizeof(host));	/* RFC 7505 */
		else if (len >= sizeof(host) || !(m->any_name ?
		    is_qname(host) : is_hostname(host)))
			continue;
		for (i = m->n; i > 0 && m->v[i - 1].pref > p->priority; i--)
			m->v[i] = m->v[i - 1];
		m->v[i].pref = p->priority;
		m->v[i].host = str_lower(xstrdup(host));
		m->n++;
	}
}

/*
 * dns_addr - start the A and/or AAAA lookup of name (family AF_INET,
 * AF_INET6 or AF_UNSPEC).  cb(id, arg, status, addrs, n) runs once, from
 * the loop; addrs is valid during the call.
 */
void
dns_addr(struct dns_ctx *ctx, const char *name, int family, dns_addr_cb cb,
    uint64_t id, void *arg)
{
	struct dns_req	*r = req_new(ctx, REQ_ADDR, id, arg);

	r->cb.addr = cb;
	addr_start(r, name, family);
}

/*
 * dns_addr_sec - dns_addr, with the DNSSEC status of the answers that
 * came back (a family whose lookup failed is not counted).
 */
void
dns_addr_sec(struct dns_ctx *ctx, const char *name, int family,
    dns_addr_sec_cb cb, uint64_t id, void *arg)
{
	struct dns_req	*r = req_new(ctx, REQ_ADDR, id, arg);

	r->cb.addr_sec = cb;
	r->sec_cb = true;
	addr_start(r, name, family);
}

/* addr_start - the A and/or AAAA queries of dns_addr and dns_addr_sec. */
static void
addr_start(struct dns_req *r, const char *name, int family)
{
	struct addr_res	*a = &r->u.addr;
	char		 q[DNS_NAME_MAX + 2];

	a->family = family;
	a->st[0] = a->st[1] = DNS_NODATA;	/* for a family not asked */
	if (family != AF_INET && family != AF_INET6 && family != AF_UNSPEC)
		req_finish(r, DNS_PERMFAIL);
	else if (req_begin(r, name, q)) {
		/* Both counted first: one failing at once must not finish. */
		r->open = family == AF_UNSPEC ? 2 : 1;
		if (family != AF_INET6)
			query(r, q, ns_t_a, addr4_cb);
		if (family != AF_INET)
			query(r, q, ns_t_aaaa, addr6_cb);
	}
	req_submitted(r);
}

static void
addr4_cb(void *arg, int st, int timeouts, unsigned char *abuf, int alen)
{
	addr_answer(arg, AF_INET, st, abuf, alen);
}

static void
addr6_cb(void *arg, int st, int timeouts, unsigned char *abuf, int alen)
{
	addr_answer(arg, AF_INET6, st, abuf, alen);
}

/* addr_answer - keep one family's addresses; finish after the last. */
static void
addr_answer(struct dns_req *r, int family, int st, unsigned char *abuf,
    int alen)
{
	struct addr_res		*a = &r->u.addr;
	struct hostent		*h = NULL;
	struct sockaddr_in	*sin;
	struct sockaddr_in6	*sin6;
	int			 i = family == AF_INET ? 0 : 1;
	size_t			 n = 0;

	note_ad(r, st, abuf, alen);
	if (st == ARES_SUCCESS)
		st = family == AF_INET ?
		    ares_parse_a_reply(abuf, alen, &h, NULL, NULL) :
		    ares_parse_aaaa_reply(abuf, alen, &h, NULL, NULL);
	a->st[i] = map_status(st);
	if (st == ARES_SUCCESS) {
		while (h->h_addr_list[n] != NULL)
			n++;
		a->v[i] = xcalloc(n, sizeof(*a->v[i]));
		for (a->n[i] = 0; a->n[i] < n; a->n[i]++) {
			sin = (struct sockaddr_in *)(void *)&a->v[i][a->n[i]];
			sin6 = (struct sockaddr_in6 *)(void *)sin;
			if (family == AF_INET)
				memcpy(&sin->sin_addr, h->h_addr_list[a->n[i]],
				    4);
			else
				memcpy(&sin6->sin6_addr,
				    h->h_addr_list[a->n[i]], 16);
			sin->sin_family = (sa_family_t)family;
		}
		ares_free_hostent(h);
	}
	if (--r->open == 0)
		req_finish(r, addr_status(a));
}

/* addr_status - any address is success; else the worst failure. */
static enum dns_status
addr_status(const struct addr_res *a)
{
	static const enum dns_status	 order[] = { DNS_TEMPFAIL,
	    DNS_PERMFAIL, DNS_NXDOMAIN };

	if (a->n[0] + a->n[1] > 0)
		return DNS_OK;
	for (size_t i = 0; i < NELEM(order); i++)
		if (a->st[0] == order[i] || a->st[1] == order[i])
			return order[i];
	return DNS_NODATA;
}

/*
 * dns_txt - start the TXT lookup of name.  cb(id, arg, status, txt, len,
 * n) runs once, from the loop; the strings are valid during the call.
 */
void
dns_txt(struct dns_ctx *ctx, const char *name, dns_txt_cb cb, uint64_t id,
    void *arg)
{
	struct dns_req	*r = req_new(ctx, REQ_TXT, id, arg);
	char		 q[DNS_NAME_MAX + 2];

	r->cb.txt = cb;
	if (req_begin(r, name, q)) {
		r->open = 1;
		query(r, q, ns_t_txt, txt_cb);
	}
	req_submitted(r);
}

static void
txt_cb(void *arg, int st, int timeouts, unsigned char *abuf, int alen)
{
	struct dns_req		*r = arg;
	struct ares_txt_ext	*head = NULL;

	r->open--;
	note_ad(r, st, abuf, alen);
	if (st == ARES_SUCCESS)
		st = ares_parse_txt_reply_ext(abuf, alen, &head);
	if (st != ARES_SUCCESS) {
		req_finish(r, map_status(st));
		return;
	}
	txt_collect(&r->u.txt, head);
	ares_free_data(head);
	req_finish(r, DNS_OK);
}

/*
 * txt_collect - one string per record, its chunks joined.  A DNS message
 * is at most 64 KiB, so the total cannot grow past that.
 */
static void
txt_collect(struct txt_res *t, const struct ares_txt_ext *head)
{
	const struct ares_txt_ext	*p;
	struct buf			 b;
	size_t				 n = 0, i = 0;

	for (p = head; p != NULL; p = p->next)
		if (p->record_start || p == head)
			n++;
	t->v = xcalloc(n, sizeof(*t->v));
	t->len = xcalloc(n, sizeof(*t->len));
	buf_init(&b, 0);
	for (p = head; p != NULL; p = p->next) {
		if (buf_append(&b, p->txt, p->length) == -1)
			fatalx("dns: out of memory");
		if (p->next == NULL || p->next->record_start) {
			t->v[i] = buf_steal(&b, &t->len[i]);
			i++;
		}
	}
	buf_free(&b);
	t->n = i;
}

/*
 * dns_raw - start a lookup of any type; the callback gets the whole
 * answer (for NXDOMAIN and NODATA too) for the caller to parse.
 */
void
dns_raw(struct dns_ctx *ctx, const char *name, int type, dns_raw_cb cb,
    uint64_t id, void *arg)
{
	struct dns_req	*r = req_new(ctx, REQ_RAW, id, arg);
	char		 q[DNS_NAME_MAX + 2];

	r->cb.raw = cb;
	if (type <= 0 || type > 65535)
		req_finish(r, DNS_PERMFAIL);
	else if (req_begin(r, name, q)) {
		r->open = 1;
		query(r, q, type, raw_cb);
	}
	req_submitted(r);
}

/* raw_cb - keep a copy of the answer, whatever its RCODE said. */
static void
raw_cb(void *arg, int st, int timeouts, unsigned char *abuf, int alen)
{
	struct dns_req	*r = arg;
	struct raw_res	*w = &r->u.raw;

	r->open--;
	note_ad(r, st, abuf, alen);
	if ((st == ARES_SUCCESS || st == ARES_ENODATA ||
	    st == ARES_ENOTFOUND) && abuf != NULL && alen > 0 &&
	    alen <= DNS_RAW_MAX) {
		w->msg = xmalloc((size_t)alen);
		memcpy(w->msg, abuf, (size_t)alen);
		w->len = (size_t)alen;
	}
	req_finish(r, map_status(st));
}

/*
 * dns_set_dnssec - see dns.h.  Only queries sent from now on carry the
 * AD bit; a context is set up before its first lookup.
 */
void
dns_set_dnssec(struct dns_ctx *ctx, bool on)
{
	ctx->dnssec = on;
}

/*
 * query - send one question for r.  With DNSSEC on, the query is built
 * here with the AD bit set (RFC 6840 5.7: a validating resolver then
 * sets AD in its answer when it validated it, without the DO bit's
 * signatures in the answer) and sent with ares_send, whose answers
 * send_cb maps to the statuses ares_query gives.
 */
static void
query(struct dns_req *r, const char *name, int type, ares_callback cb)
{
	struct dns_ctx		*ctx = r->ctx;
	struct send_wrap	*w;
	unsigned char		*q = NULL;
	int			 qlen = 0;

	if (!ctx->dnssec) {
		ares_query(ctx->channel, name, ns_c_in, type, cb, r);
		return;
	}
	if (ares_create_query(name, ns_c_in, type, 0, 1, &q, &qlen, 0) !=
	    ARES_SUCCESS || qlen < DNS_HDR_LEN) {
		if (q != NULL)
			ares_free_string(q);
		cb(r, ARES_EBADNAME, 0, NULL, 0);
		return;
	}
	q[DNS_AD_BYTE] |= DNS_AD_BIT;
	w = xcalloc(1, sizeof(*w));
	w->cb = cb;
	w->arg = r;
	ares_send(ctx->channel, q, qlen, send_cb, w);
	ares_free_string(q);
}

/*
 * send_cb - an answer to a query of query(): its RCODE and answer count
 * become the status ares_query would have given (c-ares itself has
 * already moved on to the next server after SERVFAIL, NOTIMP, REFUSED).
 */
static void
send_cb(void *arg, int st, int timeouts, unsigned char *abuf, int alen)
{
	struct send_wrap	*w = arg;
	ares_callback		 cb = w->cb;
	void			*r = w->arg;

	free(w);
	if (st == ARES_SUCCESS && (abuf == NULL || alen < DNS_HDR_LEN))
		st = ARES_EBADRESP;
	else if (st == ARES_SUCCESS) {
		switch (abuf[3] & DNS_RCODE_MASK) {
		case ns_r_noerror:
			st = (abuf[6] | abuf[7]) != 0 ? ARES_SUCCESS :
			    ARES_ENODATA;
			break;
		case ns_r_nxdomain:
			st = ARES_ENOTFOUND;
			break;
		case ns_r_formerr:
			st = ARES_EFORMERR;
			break;
		default:
			st = ARES_ESERVFAIL;
			break;
		}
	}
	cb(r, st, timeouts, abuf, alen);
}

/*
 * note_ad - an answer arrived for r: count it, and remember when it came
 * without the AD bit.  A failed query (no answer) counts neither way.
 */
static void
note_ad(struct dns_req *r, int st, const unsigned char *abuf, int alen)
{
	if (st != ARES_SUCCESS && st != ARES_ENODATA && st != ARES_ENOTFOUND)
		return;
	r->answers++;
	if (abuf == NULL || alen < DNS_HDR_LEN ||
	    !(abuf[DNS_AD_BYTE] & DNS_AD_BIT))
		r->insecure = true;
}

/* req_secure - every answer of r was validated by a trusted resolver. */
static bool
req_secure(const struct dns_req *r)
{
	return r->ctx->dnssec && r->answers > 0 && !r->insecure;
}

/* req_new - a lookup not yet started. */
static struct dns_req *
req_new(struct dns_ctx *ctx, enum req_kind kind, uint64_t id, void *arg)
{
	struct dns_req	*r = xcalloc(1, sizeof(*r));

	r->ctx = ctx;
	r->kind = kind;
	r->id = id;
	r->arg = arg;
	r->submitting = true;		/* results wait for req_submitted() */
	return r;
}

/*
 * req_begin - check name and copy it without its root dot to q (room for
 * DNS_NAME_MAX + 2 bytes; may be name itself).  A bad name or a dying
 * context finishes r; returns whether queries may be sent.
 */
static bool
req_begin(struct dns_req *r, const char *name, char *q)
{
	size_t	 len;

	r->submitting = true;
	if (name == NULL || (len = strlen(name)) > DNS_NAME_MAX + 1) {
		req_finish(r, DNS_PERMFAIL);
		return false;
	}
	memmove(q, name, len + 1);
	if (len > 0 && q[len - 1] == '.')
		q[len - 1] = '\0';
	if (!is_qname(q))
		req_finish(r, DNS_PERMFAIL);
	else if (r->ctx->dying)
		req_finish(r, DNS_TEMPFAIL);
	return !r->done;
}

/* req_submitted - the dns_* call returns: queue a result it produced. */
static void
req_submitted(struct dns_req *r)
{
	struct dns_ctx	*ctx = r->ctx;

	r->submitting = false;
	if (r->done)
		req_defer(r);
	timer_arm(ctx);
}

/* req_finish - record the result; deliver now unless still submitting. */
static void
req_finish(struct dns_req *r, enum dns_status st)
{
	ASSERT(!r->done && r->open == 0);
	r->status = st;
	r->done = true;
	if (!r->submitting)
		req_deliver(r);
}

/* req_defer - queue r for delivery from the loop (or from dns_free()). */
static void
req_defer(struct dns_req *r)
{
	struct dns_ctx	*ctx = r->ctx;

	r->next = NULL;
	*ctx->deferred_tail = r;
	ctx->deferred_tail = &r->next;
	if (!ctx->dying)
		event_active(ctx->defer, EV_TIMEOUT, 1);
}

/* req_deliver - run the caller's callback once, then free r. */
static void
req_deliver(struct dns_req *r)
{
	deliverers[r->kind](r);
	free(r);
}

static void
deliver_name(struct dns_req *r)
{
	struct name_res	*nr = &r->u.name;

	r->cb.name(r->id, r->arg, r->status,
	    r->status == DNS_OK && nr->verified ? nr->name : NULL);
}

static void
deliver_mx(struct dns_req *r)
{
	struct mx_res	*m = &r->u.mx;

	if (r->sec_cb)
		r->cb.mx_sec(r->id, r->arg, r->status, req_secure(r),
		    m->n > 0 ? m->v : NULL, m->n);
	else
		r->cb.mx(r->id, r->arg, r->status, m->n > 0 ? m->v : NULL,
		    m->n);
	for (size_t i = 0; i < m->n; i++)
		free((char *)m->v[i].host);
	free(m->v);
}

static void
deliver_addr(struct dns_req *r)
{
	struct addr_res		*a = &r->u.addr;
	struct sockaddr_storage	*all = NULL;
	size_t			 n = a->n[0] + a->n[1];

	if (n > 0) {
		all = xreallocarray(NULL, n, sizeof(*all));
		if (a->n[0] > 0)
			memcpy(all, a->v[0], a->n[0] * sizeof(*all));
		if (a->n[1] > 0)
			memcpy(all + a->n[0], a->v[1], a->n[1] * sizeof(*all));
	}
	if (r->sec_cb)
		r->cb.addr_sec(r->id, r->arg, r->status, req_secure(r), all,
		    n);
	else
		r->cb.addr(r->id, r->arg, r->status, all, n);
	free(all);
	free(a->v[0]);
	free(a->v[1]);
}

static void
deliver_txt(struct dns_req *r)
{
	struct txt_res	*t = &r->u.txt;

	r->cb.txt(r->id, r->arg, r->status, (const char *const *)t->v,
	    t->len, t->n);
	for (size_t i = 0; i < t->n; i++)
		free(t->v[i]);
	free(t->v);
	free(t->len);
}

static void
deliver_raw(struct dns_req *r)
{
	struct raw_res	*w = &r->u.raw;

	r->cb.raw(r->id, r->arg, r->status, req_secure(r), w->msg, w->len);
	free(w->msg);
}
