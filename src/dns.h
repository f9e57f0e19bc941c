/*
 * dns.h - asynchronous DNS through c-ares on a libevent loop.  Every query
 * goes to the configured resolvers (conf "resolver"); only when none are
 * configured does c-ares read /etc/resolv.conf.  Callbacks carry a caller
 * id and argument instead of a pointer the caller might free: the caller
 * looks the id up and ignores answers for requests that are gone.
 */
#ifndef POSTBOTE_DNS_H
#define POSTBOTE_DNS_H

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
 * (n may be 0: system resolver).  timeout_ms per try, tries per server.
 * Returns NULL with a message in err on failure.
 */
struct dns_ctx *dns_new(struct event_base *, const char *const *servers,
	    size_t n, int timeout_ms, int tries, char *err, size_t errlen);
/* dns_free - cancels outstanding queries; their callbacks run with
 * DNS_TEMPFAIL before it returns (callers must tolerate that). */
void	 dns_free(struct dns_ctx *);

/*
 * dns_client_name - the client's verified name: PTR of the address, then
 * A/AAAA of the first PTR name (forward-confirmed, FCrDNS); name is NULL
 * unless the forward lookup contains the address.  name is only valid
 * during the callback.
 */
typedef void (*dns_name_cb)(uint64_t id, void *arg, enum dns_status,
	    const char *name);
void	 dns_client_name(struct dns_ctx *, const struct sockaddr *,
	    dns_name_cb, uint64_t id, void *arg);

/* dns_status_str - "ok", "nxdomain", ... */
const char *dns_status_str(enum dns_status);

#endif
