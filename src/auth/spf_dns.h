/*
 * spf_dns.h - the SPF evaluator's lookup vector over dns.h: one function
 * that starts the DNS query an spf_check asks for and hands the answer
 * back with spf_check_answer().  Used by smtpd (authres.c) and the CLI.
 */
#ifndef POSTBOTE_SPF_DNS_H
#define POSTBOTE_SPF_DNS_H

#include <stdint.h>

#include "lib/dns.h"
#include "auth/spf.h"

/*
 * spf_dns_find - the check waiting for the answer of the query started
 * with (id, arg), or NULL when it is gone (the answer is then dropped).
 */
typedef struct spf_check *(*spf_dns_find)(uint64_t id, void *arg);

/*
 * spf_dns_lookup - start the query for an spf_lookup_ops.lookup call: TXT,
 * A, AAAA and MX as asked; PTR through dns_client_name of ip (the first
 * forward-confirmed name, which the evaluator validates again).  The
 * answer goes to spf_check_answer(find(id, arg), ...).
 */
void	 spf_dns_lookup(struct dns_ctx *, const struct spf_ip *ip,
	    enum spf_qtype, const char *name, spf_dns_find find, uint64_t id,
	    void *arg);

#endif
