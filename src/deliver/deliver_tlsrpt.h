/*
 * deliver_tlsrpt.h - SMTP TLS Reporting (RFC 8460) in the deliver
 * process: each outbound TLS negotiation's outcome goes to the queue
 * process (IPC_TLSRPT), which counts it per policy and sends the daily
 * reports (queue/queue_tlsrpt.c).  Only with tlsrpt = yes.
 */
#ifndef POSTBOTE_DELIVER_TLSRPT_H
#define POSTBOTE_DELIVER_TLSRPT_H

#include <sys/socket.h>

#include "mail/tlsrpt.h"

/*
 * deliver_tlsrpt_record - send one outcome to queue (nothing when
 * tlsrpt = no, or when queue is down: the count is then lost).  In e:
 * policy_type "tlsa" (DANE), "sts" (MTA-STS) or "no-policy-found"
 * (opportunistic TLS); policy_domain, the recipient domain (RFC 8460 3;
 * for DANE too, where its owner publishes _smtp._tls); policy_strings and
 * mx_host one entry a line, NULL or "" for none (for "sts": the policy's
 * lines and its mx patterns); result "" for a successful session, else an
 * RFC 8460 4.3 result type; receiving_mx and reason (a
 * failure-reason-code) may be NULL.  when, sending_ip and receiving_ip
 * are not read: the sending address comes from fd (the connected socket,
 * -1 when there was none), the receiving one from peer (or NULL), and the
 * queue stamps the time.
 */
void	 deliver_tlsrpt_record(const struct tlsrpt_event *e, int fd,
	    const struct sockaddr_storage *peer);

#endif
