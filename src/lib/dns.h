/*
 * dns.h - asynchronous DNS through c-ares on a libevent loop.  Every query
 * goes to the configured resolvers (conf "resolver"); only when none are
 * configured does c-ares read /etc/resolv.conf.  Callbacks carry a caller
 * id and argument instead of a pointer the caller might free: the caller
 * looks the id up and ignores answers for requests that are gone.
 */
#ifndef POSTBOTE_DNS_H
#define POSTBOTE_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct event_base;
struct dns_ctx;

enum dns_status {
	DNS_OK = 0,
	DNS_NXDOMAIN,		/* the name does not exist */
	DNS_NODATA,		/* the name exists, no record of that type */
	DNS_TEMPFAIL,		/* SERVFAIL, timeout, refused, network */
	DNS_PERMFAIL,		/* malformed name or answer */
};

/*
 * dns_new - servers is a list of "ip", "ip:port" or "[v6]:port" strings
 * (n may be 0: system resolver).  timeout_ms per try, tries per server;
 * <= 0 picks 5000 ms and 2 tries.  With servers, /etc/resolv.conf is not
 * read at all.  Returns NULL with a message in err on failure.
 */
struct dns_ctx *dns_new(struct event_base *, const char *const *servers,
	    size_t n, int timeout_ms, int tries, char *err, size_t errlen);
/* dns_free - cancels outstanding queries; their callbacks run with
 * DNS_TEMPFAIL before it returns (callers must tolerate that).  Must not
 * be called from inside a dns callback.  NULL is ignored. */
void	 dns_free(struct dns_ctx *);
/*
 * dns_replace - a process's resolver anew (at start and each reload):
 * *ctx is freed (with *ctx NULL meanwhile, so that the callbacks of the
 * cancelled lookups see it gone) and replaced by a new one for servers,
 * 5 s a try, 2 tries.  A failure is logged (event=dns-init) and leaves
 * *ctx NULL.
 */
void	 dns_replace(struct dns_ctx **ctx, struct event_base *,
	    const char *const *servers, size_t n);

/*
 * dns_set_dnssec - on: every query from now on carries the AD bit (RFC
 * 6840 5.7) and the *_sec and raw lookups report an answer as secure when
 * the resolver set AD in it.  Only for a validating resolver the admin
 * names and trusts (dnssec_resolver = yes): the AD bit says what the
 * resolver thinks, and nothing is validated here.  Off (the default):
 * nothing is ever secure.
 */
void	 dns_set_dnssec(struct dns_ctx *, bool on);

/*
 * Every lookup below calls its callback exactly once, from the event loop
 * and never before the lookup function returns.  Names and arrays handed
 * to a callback are only valid during the call.  Names are returned in
 * lower case without the root dot.  A name to look up that is not a valid
 * domain name (a label empty or over 63 bytes, over 253 bytes, a control
 * or non-ASCII byte, or '\\') ends with DNS_PERMFAIL.
 */

/*
 * dns_client_name - the client's verified name: PTR of the address, then
 * A/AAAA of the first PTR name (forward-confirmed, FCrDNS); name is NULL
 * unless the forward lookup contains the address.  The status is that of
 * the last lookup made: DNS_OK with name NULL means the forward answer
 * lacks the address.  IPv4-mapped IPv6 addresses are looked up as IPv4.
 */
typedef void (*dns_name_cb)(uint64_t id, void *arg, enum dns_status,
	    const char *name);
void	 dns_client_name(struct dns_ctx *, const struct sockaddr *,
	    dns_name_cb, uint64_t id, void *arg);

/*
 * dns_mx - MX records of domain, sorted by preference, equal preferences
 * in answer order (RFC 5321 5.1: shuffling them is the caller's choice).
 * Hosts that are not valid names are dropped; none left is DNS_PERMFAIL.
 * A null MX (RFC 7505) comes back as a host of ".".
 */
struct dns_mx {
	unsigned	 pref;
	const char	*host;
};
typedef void (*dns_mx_cb)(uint64_t id, void *arg, enum dns_status,
	    const struct dns_mx *mx, size_t n);
void	 dns_mx(struct dns_ctx *, const char *domain, dns_mx_cb, uint64_t id,
	    void *arg);
/*
 * dns_mx_sec - dns_mx, and whether the answer was secure (DNSSEC,
 * dns_set_dnssec): for NODATA and NXDOMAIN, an authenticated denial.
 */
typedef void (*dns_mx_sec_cb)(uint64_t id, void *arg, enum dns_status,
	    bool secure, const struct dns_mx *mx, size_t n);
void	 dns_mx_sec(struct dns_ctx *, const char *domain, dns_mx_sec_cb,
	    uint64_t id, void *arg);
/*
 * dns_mx_names - dns_mx for SPF (RFC 7208 5.4): a host is kept when it is
 * any name one may ask about (printable ASCII labels, "a:b/c.example"
 * too), not only when it is a host name to deliver to.
 */
void	 dns_mx_names(struct dns_ctx *, const char *domain, dns_mx_cb,
	    uint64_t id, void *arg);

/*
 * dns_addr - addresses of name: family AF_INET (A), AF_INET6 (AAAA) or
 * AF_UNSPEC (both, asked in parallel; IPv4 first in the result).  Ports
 * are 0.  DNS_OK when any address came back, even if the other family
 * failed; else the worst status: TEMPFAIL, PERMFAIL, NXDOMAIN, NODATA.
 */
typedef void (*dns_addr_cb)(uint64_t id, void *arg, enum dns_status,
	    const struct sockaddr_storage *addrs, size_t n);
void	 dns_addr(struct dns_ctx *, const char *name, int family, dns_addr_cb,
	    uint64_t id, void *arg);
/*
 * dns_addr_sec - dns_addr, and whether every answer that came back (with
 * addresses or an authenticated denial) was secure; a family whose
 * lookup failed does not count.
 */
typedef void (*dns_addr_sec_cb)(uint64_t id, void *arg, enum dns_status,
	    bool secure, const struct sockaddr_storage *addrs, size_t n);
void	 dns_addr_sec(struct dns_ctx *, const char *name, int family,
	    dns_addr_sec_cb, uint64_t id, void *arg);

/*
 * dns_txt - TXT records of name, the strings of each record joined with
 * nothing between them (RFC 7208 3.3, RFC 6376 3.6.2.2).  txt[i] has
 * len[i] bytes plus a NUL; it may contain NUL bytes itself.
 */
typedef void (*dns_txt_cb)(uint64_t id, void *arg, enum dns_status,
	    const char *const *txt, const size_t *len, size_t n);
void	 dns_txt(struct dns_ctx *, const char *name, dns_txt_cb, uint64_t id,
	    void *arg);

/*
 * dns_raw - a lookup of any RR type (1-65535): the callback gets the
 * whole answer message (msg, len bytes; NULL when no answer came) to
 * parse itself, for DNS_OK, DNS_NODATA and DNS_NXDOMAIN alike, and
 * whether it was secure.  For the types c-ares cannot parse (TLSA).
 */
typedef void (*dns_raw_cb)(uint64_t id, void *arg, enum dns_status,
	    bool secure, const unsigned char *msg, size_t len);
void	 dns_raw(struct dns_ctx *, const char *name, int type, dns_raw_cb,
	    uint64_t id, void *arg);

/* dns_status_str - "ok", "nxdomain", ... */
const char *dns_status_str(enum dns_status);

#endif
