/*
 * deliver_tlsrpt.c - the outcome of an outbound TLS negotiation, sent to
 * the queue process as IPC_TLSRPT (deliver_tlsrpt.h).  remote.c calls it
 * where a STARTTLS handshake succeeds or fails, where a server offers or
 * takes no STARTTLS, and where a DANE host's TLSA lookup fails.
 *
 * Trust: the host names are from DNS (an MX answer) and the reason text
 * from OpenSSL; the queue checks every field again (tlsrpt_event_ok)
 * before it counts or stores one.
 */
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdbool.h>
#include <string.h>

#include "common/conf.h"
#include "common/proc.h"
#include "deliver/deliver_tlsrpt.h"
#include "lib/ipc_proto.h"

/* ip_of - the address in a as text, "" when it is neither IPv4 nor 6. */
static void
ip_of(const struct sockaddr_storage *a, char *ip, size_t len)
{
	const void	*p;

	ip[0] = '\0';
	if (a->ss_family == AF_INET)
		p = &((const struct sockaddr_in *)(const void *)a)->sin_addr;
	else if (a->ss_family == AF_INET6)
		p = &((const struct sockaddr_in6 *)(const void *)a)->sin6_addr;
	else
		return;
	if (inet_ntop(a->ss_family, p, ip, (socklen_t)len) == NULL)
		ip[0] = '\0';
}

static const char *
or_empty(const char *s)
{
	return s != NULL ? s : "";
}

/* deliver_tlsrpt_record - see deliver_tlsrpt.h.  The failure details
 * (addresses, MX name) go with failures only (RFC 8460 4.4). */
void
deliver_tlsrpt_record(const struct tlsrpt_event *e, int fd,
    const struct sockaddr_storage *peer)
{
	struct sockaddr_storage	 self;
	socklen_t		 slen = sizeof(self);
	char			 sip[INET6_ADDRSTRLEN] = "";
	char			 rip[INET6_ADDRSTRLEN] = "";
	bool			 failed = e->result[0] != '\0';
	struct ipc_tlsrpt	 m;

	if (!config->tlsrpt)
		return;
	if (failed && fd != -1 && getsockname(fd, (struct sockaddr *)&self,
	    &slen) == 0)
		ip_of(&self, sip, sizeof(sip));
	if (failed && peer != NULL)
		ip_of(peer, rip, sizeof(rip));
	m.policy_type = e->policy_type;
	m.policy_domain = e->policy_domain;
	m.policy_strings = or_empty(e->policy_strings);
	m.mx_host = or_empty(e->mx_host);
	m.result = e->result;
	m.sending_ip = sip;
	m.receiving_mx = failed ? or_empty(e->receiving_mx) : "";
	m.receiving_ip = rip;
	m.reason = or_empty(e->reason);
	(void)PROC_SEND(PROC_QUEUE, IPC_TLSRPT, 0, &m, -1);
}
