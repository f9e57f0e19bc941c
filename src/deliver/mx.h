/*
 * mx.h - where mail for a domain goes: its MX hosts in order (RFC 5321
 * 5.1), for the SMTP client (remote.c) in the deliver process.
 */
#ifndef POSTBOTE_MX_H
#define POSTBOTE_MX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dns_ctx;

/*
 * mx_cb - result DELIVER_OK with hosts[0..n) to try in order (valid
 * during the call), or DELIVER_TEMP/DELIVER_PERM with an enhanced status
 * and a reason: NXDOMAIN 5.1.2, null MX (RFC 7505) 5.1.10, the best MX
 * being this host 5.4.6, a DNS failure 4.4.3.  secure: the MX answer (or
 * its authenticated denial, for the implicit MX) was DNSSEC-validated by
 * a trusted resolver, so the host names may be used for DANE (RFC 7672
 * 2.2.1).
 */
typedef void (*mx_cb)(uint64_t id, int result, const char *dsn,
	    const char *text, bool secure, const char *const *hosts,
	    size_t n);

/*
 * mx_resolve - look up domain's MX records: sorted by preference, equal
 * preferences shuffled; no MX record means the domain itself (implicit
 * MX).  Hosts named self (our hostname) and every host at or after its
 * preference are dropped.  cb runs once, from the loop, with id.
 */
void	 mx_resolve(struct dns_ctx *, const char *domain, const char *self,
	    mx_cb cb, uint64_t id);

#endif
