/*
 * cmd_mtasts.h - the MTA-STS half (RFC 8461) of "postbote dns" and
 * "postbote check --dns": the _mta-sts TXT record and the policy file a
 * domain should publish, and whether the published ones parse and name
 * the domain's MX hosts.
 */
#ifndef POSTBOTE_CMD_MTASTS_H
#define POSTBOTE_CMD_MTASTS_H

#include <stdbool.h>
#include <stddef.h>

struct conf;
struct dns_ctx;
struct event_base;

/* cmd_mtasts_print - the TXT record and, as comments, the policy file
 * (mode testing, mx = the hostname) for dom, to stdout. */
void	 cmd_mtasts_print(const struct conf *c, const char *dom);

/*
 * cmd_mtasts_check - finding lines for dom: txt[0..n) are the strings of
 * _mta-sts.DOM (st its dns status), mx[0..nmx) the domain's MX hosts.
 * No record is fine (MTA-STS is optional); a record, then a policy that
 * cannot be fetched (mta_sts_ca, mta_sts_port, mta_sts_timeout) or
 * parsed, or whose mx patterns miss an MX host, is WRONG.  Runs base
 * until the fetch ends.  Returns false for WRONG.
 */
bool	 cmd_mtasts_check(const struct conf *c, struct event_base *base,
	    struct dns_ctx *dns, const char *dom, int st,
	    const char *const *txt, const size_t *len, size_t n,
	    const char *const *mx, size_t nmx);

#endif
